"""The cookie step: each hop gets the client's cookies for its URL.

What responses set is kept by the hop, from every response received (a retried one too).

It sits inside the redirect step, so every hop of a redirect chain is matched on its own
(a cookie set by a redirect goes with the next hop, as in browsers and requests), and
outside the cache and retry steps, so a cache that varies on ``Cookie`` sees the header.
The request handed on is a copy with the jar's cookies added; the redirect step builds the
next hop from its own request, without them, so a value a server just changed is never sent
stale. A cookie already in the request's ``Cookie`` header (``cookies=`` of the request, or
the header itself) wins over the jar's of the same name. A retry of a hop goes with the
cookies chosen for its first try. ``mylib/_cookies.py`` says which cookies go where.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._urls import should_strip_auth

if TYPE_CHECKING:
    from .._models import Request, Response
    from . import Call, Handler

__all__ = ["step"]


async def step(send: Handler, request: Request, call: Call) -> Response:
    """Send ``request`` with the jar's cookies for its URL."""
    jar = call.config.cookies
    url = request.url.parsed
    origin = call.origin
    if origin is None:
        call.origin = origin = url
    items = jar.header_for(url, with_domainless=not should_strip_auth(origin, url))
    return await send(_with_cookies(request, items) if items else request, call)


def _with_cookies(request: Request, items: list[str]) -> Request:
    given = request.headers.getall("Cookie", ())
    if given:
        taken = {part.split("=", 1)[0].strip() for value in given for part in value.split(";")}
        items = [item for item in items if item.split("=", 1)[0] not in taken]
        if not items:
            return request
        items = [*given, *items]
    copy = request.replace()
    copy.headers["Cookie"] = "; ".join(items)
    return copy
