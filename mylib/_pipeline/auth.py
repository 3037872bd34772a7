"""The auth step: runs the request's auth flow for one hop of a redirect chain.

The flow (``Auth.auth_flow``, see ``mylib/_auth.py``) yields the request to send, gets the
response, and may yield another (a Digest answer to a 401, a refreshed token). It sits
inside the redirect step, as requests applies Digest auth: each hop's challenge is answered
with that hop's URL and method, and a hop to another origin arrives with ``auth`` dropped by
the redirect step, so the flow never runs for it. Outside the retry step: a retried attempt
carries what the flow gave it. A response the flow answers with another request is read and
released before the next one goes out (a file body sent again is rewound first), and handed
back in the final response's ``history`` (the redirect step puts it in the chain's); the
flow is always closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._auth import advance_flow, close_flow
from .._content import rewind, rewind_marks
from .._errors import TransportError

if TYPE_CHECKING:
    from .._models import Request, Response
    from . import Call, Handler

__all__ = ["step"]


async def step(send: Handler, request: Request, call: Call) -> Response:
    """Send ``request`` through its auth flow (or as it is, with no auth)."""
    if request.auth is None:
        return await send(request, call)
    flow = request.auth.auth_flow(request)
    try:
        current = await advance_flow(flow, None)
        if current is None:
            raise TypeError(f"{request.auth!r}.auth_flow() yielded no request")
        answered: list[Response] = []
        while True:
            marks = rewind_marks(current.content)  # before sending moves a file to its end
            response = await send(current, call)
            try:
                following = await advance_flow(flow, response)
            except BaseException:
                response.close()
                raise
            if following is None:
                response.history = answered
                return response
            await response.aread()
            answered.append(response)
            if following.content is current.content and not (
                marks is not None and rewind(marks)
            ):
                raise TransportError(
                    f"{request.auth!r} answers a {response.status_code} by sending the request "
                    "again, but its body was streamed and cannot be sent again; send bytes "
                    "or a file that can seek",
                    request=current,
                )
            current = following
    finally:
        await close_flow(flow)
