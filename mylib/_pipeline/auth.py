"""The auth step: runs the request's auth flow around everything below it.

The flow (``Auth.auth_flow``, see ``mylib/_auth.py``) yields the request to send, gets the
response, and may yield another (a Digest answer to a 401, a refreshed token). It wraps
redirects and retries, as in httpx: a 401 it answers is the final response of the redirect
chain. A response the flow answers with another request is read and released before the
next one goes out; the flow is always closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._auth import advance_flow, close_flow

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
        while True:
            response = await send(current, call)
            try:
                following = await advance_flow(flow, response)
            except BaseException:
                response.close()
                raise
            if following is None:
                return response
            await response.aread()
            current = following
    finally:
        await close_flow(flow)
