"""The retry step, and its policy: which failures are worth another attempt, and how long
to wait first.

Only the request's ``Retry.methods`` are retried (idempotent ones by default), and only when
the body can be sent again (bytes, none, or files that can seek, rewound for each try: a
streamed body is consumed by the first try).
Each wait is logged, and never outlasts the call's total timeout: when it would, the last
response (or error) is the answer. ``response.attempts`` and ``error.attempts`` say how many
tries the hop took. A response given up for a retry has its body read and released first.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from .._content import rewind, rewind_marks
from .._errors import ConnectError, Error, RemoteProtocolError, TLSError
from .._logging import log_failure, log_retry
from .._models import Request, Response, Retry
from .._ratelimit.server import parse_retry_after
from .._transports.mock import NoMockAddress

if TYPE_CHECKING:
    from . import Call, Handler

__all__ = ["parse_retry_after", "retry_delay", "should_retry_error", "step"]


def should_retry_error(exc: BaseException) -> bool:
    """Connection failures (nothing was sent, including a connect timeout, or the server
    dropped a kept-alive connection) are retried; read timeouts and errors mid-body are not,
    since the server may have acted. A failed TLS check is not retried either: a certificate
    that did not verify will not verify a moment later; nor is a request no test mock
    answers."""
    if isinstance(exc, (TLSError, NoMockAddress)):
        return False
    if isinstance(exc, ConnectError):
        return True
    return isinstance(exc, RemoteProtocolError) and not isinstance(exc, TimeoutError)


def retry_delay(retry: Retry, attempt: int, response: Response | None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    if response is not None and retry.respect_retry_after:
        after = parse_retry_after(response.headers.get("Retry-After"))
        if after is not None:
            return min(after, retry.max_backoff)
    backoff = retry.backoff_factor * (2 ** (attempt - 1))
    # Full jitter keeps many clients that failed together from retrying together.
    return min(retry.max_backoff, random.uniform(0, backoff))


async def step(send: Handler, request: Request, call: Call) -> Response:
    """Send ``request``, again after a retryable failure, as the client's Retry allows."""
    retry: Retry = call.config.retry
    marks = rewind_marks(request.content)  # where its files start; None: not replayable
    limit = retry.total if request.method in retry.methods and marks is not None else 0
    call.attempts = call.resends = 0
    while True:
        call.attempts += 1
        if call.attempts > 1 and marks and not rewind(marks):
            limit = 0  # a file that no longer seeks: this try is the last
        try:
            response = await send(request, call)
        except Exception as exc:
            delay = _delay(call, limit, None) if should_retry_error(exc) else None
            if delay is None:
                if isinstance(exc, Error):
                    exc.attempts = call.attempts
                log_failure(request.method, request.url.parsed, exc, call.attempts)
                raise
            await _back_off(request, delay, type(exc).__name__)
            continue
        delay = _delay(call, limit, response) if response.status_code in retry.statuses else None
        if delay is None:
            response.attempts = call.attempts
            return response
        await response.aread()
        await _back_off(request, delay, str(response.status_code))


def _delay(call: Call, limit: int, response: Response | None) -> float | None:
    """The wait before the next try; None when there is none: out of tries, or the wait
    would outlast the total timeout."""
    if call.attempts - call.resends > limit:  # the engine's own resends use no retries
        return None
    delay = retry_delay(call.config.retry, call.attempts, response)
    now = asyncio.get_running_loop().time()
    if call.paused_until:  # the rate limit paused the origin: the next try waits for it
        delay = max(delay, call.paused_until - now)
        call.paused_until = 0.0
    if call.deadline is not None and now + delay >= call.deadline:
        return None
    return delay


async def _back_off(request: Request, delay: float, why: str) -> None:
    log_retry(request.method, request.url.parsed, why, delay)
    await asyncio.sleep(delay)
