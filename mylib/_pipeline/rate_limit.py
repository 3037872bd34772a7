"""The rate-limit step: every attempt waits for its origin's turn, and the answer may pause
the origin (``mylib/_ratelimit`` keeps the budgets and explains them).

It sits inside the retry step, so a retried request takes a slot for each try, and a
``Retry-After`` that the retry step waits out is also the origin's pause for every other
request. The retry step is told how long the origin is paused (``call.paused_until``): it
waits that long before retrying (past ``Retry.max_backoff``: the try would wait for the
pause anyway), or, when that would pass the total timeout, answers with the response as it
does without a rate limit. It is only in a client's chain when the client has a
``rate_limit``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .._logging import log_rate_ignored, log_rate_pause
from .._models import WAITING_FOR
from .._ratelimit.server import server_wait
from .._urls import origin

if TYPE_CHECKING:
    from .._models import Request, Response
    from . import Call, Handler

__all__ = ["step"]


async def step(send: Handler, request: Request, call: Call) -> Response:
    """Wait for the origin's turn, send, and pause the origin if the server says so."""
    limits = call.config.rate_limit
    url = request.url.parsed
    scheme, host, port = origin(url)
    where = (scheme, host.rstrip("."), port)  # example.com. is example.com
    limit = limits.for_host(where[1]) if limits is not None else None
    if limit is None:
        return await send(request, call)
    notes = WAITING_FOR.get()
    if notes is None:
        await limit._wait_turn(where, request, call.deadline)
    else:
        note = f"waiting for its turn under {limit!r}"
        notes.append(note)
        await limit._wait_turn(where, request, call.deadline)
        notes.remove(note)  # (left in place when cancelled: the timeout's error reads it)
    response = await send(request, call)
    said = server_wait(response.status_code, response.headers)
    if said is not None:
        seconds, why = said
        if seconds is None:
            log_rate_ignored(url, why)
            return response
        try:
            await limit._pause(where, seconds)
        except BaseException:
            response.close()  # a streamed body this step will not hand on (a Redis failure)
            raise
        log_rate_pause(url, why, seconds)
        # The retry step, if it retries this response, waits at least as long.
        call.paused_until = asyncio.get_running_loop().time() + seconds
    return response
