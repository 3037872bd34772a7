"""The cache step: a stored response answers without an attempt (``mylib/_cache`` keeps the
store and follows RFC 9111).

It sits between cookies and retries: the request it looks up carries the client's cookies and
credentials (``Vary`` and the credential rules see what would be sent), a fresh hit costs no
attempt, no rate-limit slot and no hook call, and what it sends (a miss, a revalidation) is
retried as any request. Each hop of a redirect chain is looked up on its own. A request with
``cache=False`` passes by. It is only in a client's chain when the client has a ``cache``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._models import Request, Response
    from . import Call, Handler

__all__ = ["step"]


async def step(send: Handler, request: Request, call: Call) -> Response:
    """Answer from the client's cache, or send and store as RFC 9111 says."""
    cache = call.config.cache
    if cache is None or request.cache is False:
        return await send(request, call)
    return await cache._answer(send, request, call)
