"""A loopback origin for the cache tests, counting what reached it (each route takes
``?tag=`` so tests keep their counts apart)."""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
from aiohttp import web

from tests.client._support import AppServer

__all__ = ["CacheOrigin", "origin"]

_LAST_MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"


class CacheOrigin:
    """Routes (all count per ``(path, tag)`` in :attr:`hits`; the request headers of each
    arrival are in :attr:`seen`):

    * ``/fresh``: GET/HEAD ``max-age=3600`` with the arrival number in JSON; POST and
      DELETE: 200 ``changed``.
    * ``/etag``: ``ETag: "v1"`` and ``no-cache`` (always revalidated); 304 to a matching
      ``If-None-Match``.
    * ``/lastmod``: ``Last-Modified`` with ``max-age=0``; 304 to that ``If-Modified-Since``.
    * ``/vary``: ``Vary: Accept``, ``max-age=3600``; the body is the request's Accept.
    * ``/nostore``: ``no-store``.  ``/private``: ``private, max-age=3600``.
      ``/public``: ``public, max-age=3600``.
    * ``/expired``: ``max-age=1`` with a ``Date`` 10 s ago (stale at once), ``ETag: "e1"``.
    * ``/flaky``: first 200 with ``max-age=0`` (and the ``cc=`` query's extra directives),
      then 503.
    * ``/cookie``: ``Set-Cookie: session=...`` from ``?session=``, ``max-age=3600``.
    * ``/big``: 4 MiB streamed in 256 KiB pieces (more than a blocking stream reads ahead),
      ``max-age=3600``.
    * ``/wait``: held until :meth:`release` (``max-age=3600``).
    * ``/holdplain``: held until :meth:`release`, ``no-store``.
    * ``/ver``: ``v<version>`` with ``ETag: "<version>"``, ``max-age=3600``; a matching
      ``If-None-Match`` gets 304 (set :attr:`version` to change it).
    * ``/etag-cookie``: ``ETag: "c1"``, ``no-cache``; its 304 sets ``session=`` from
      ``?session=``.
    * ``/mustreval``: first 200 ``max-age=0, must-revalidate``, then 503.
    * ``/plain``: 200 with no caching header at all.
    """

    __test__ = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits: dict[tuple[str, str], int] = defaultdict(int)
        self.seen: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
        self._released: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.version = 1
        app = web.Application()
        app.router.add_route("*", "/fresh", self._fresh)
        for path, handler in (
            ("/etag", self._etag), ("/lastmod", self._lastmod), ("/vary", self._vary),
            ("/nostore", self._nostore), ("/private", self._private),
            ("/public", self._public), ("/expired", self._expired), ("/flaky", self._flaky),
            ("/cookie", self._cookie), ("/big", self._big), ("/wait", self._wait),
            ("/holdplain", self._holdplain), ("/ver", self._ver),
            ("/etag-cookie", self._etag_cookie), ("/mustreval", self._mustreval),
            ("/plain", self._plain),
        ):  # fmt: skip
            app.router.add_get(path, handler)
        self._app = AppServer(app)
        self.url = self._app.url

    def stop(self) -> None:
        self._app.stop()

    def count(self, path: str, tag: str) -> int:
        """How many requests for ``path?tag=tag`` arrived."""
        with self._lock:
            return self.hits[(path, tag)]

    def release(self, tag: str) -> None:
        """Let the held ``/wait?tag=`` requests answer."""
        if self._loop is None:  # nothing arrived yet: nobody waits on it
            self._event(tag).set()
        else:
            self._loop.call_soon_threadsafe(self._event(tag).set)

    def hold_again(self, tag: str) -> None:
        """Make the next ``?tag=`` requests of the held routes wait for a new release."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._released.__setitem__, tag, asyncio.Event())

    def _event(self, tag: str) -> asyncio.Event:
        return self._released.setdefault(tag, asyncio.Event())

    def _arrive(self, request: web.Request) -> int:
        self._loop = asyncio.get_running_loop()
        which = (request.path, request.query.get("tag", ""))
        with self._lock:
            self.hits[which] += 1
            self.seen[which].append(dict(request.headers))
            return self.hits[which]

    async def _fresh(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        if request.method in ("POST", "DELETE", "PUT", "PATCH"):
            return web.Response(text="changed")
        return web.json_response({"n": n}, headers={"Cache-Control": "max-age=3600"})

    async def _etag(self, request: web.Request) -> web.Response:
        self._arrive(request)
        headers = {"ETag": '"v1"', "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers=headers)
        return web.Response(text="tagged body", headers=headers)

    async def _lastmod(self, request: web.Request) -> web.Response:
        self._arrive(request)
        headers = {"Last-Modified": _LAST_MODIFIED, "Cache-Control": "max-age=0"}
        if request.headers.get("If-Modified-Since") == _LAST_MODIFIED:
            return web.Response(status=304, headers=headers)
        return web.Response(text="dated body", headers=headers)

    async def _vary(self, request: web.Request) -> web.Response:
        self._arrive(request)
        return web.Response(
            text=request.headers.get("Accept", ""),
            headers={"Vary": "Accept", "Cache-Control": "max-age=3600"},
        )

    async def _nostore(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        return web.Response(text=str(n), headers={"Cache-Control": "no-store"})

    async def _private(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        return web.Response(text=str(n), headers={"Cache-Control": "private, max-age=3600"})

    async def _public(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        return web.Response(text=str(n), headers={"Cache-Control": "public, max-age=3600"})

    async def _expired(self, request: web.Request) -> web.Response:
        self._arrive(request)
        headers = {
            "Cache-Control": "max-age=1",
            "Date": email.utils.formatdate(time.time() - 10, usegmt=True),
            "ETag": '"e1"',
        }
        if request.headers.get("If-None-Match") == '"e1"':
            return web.Response(status=304, headers=headers)
        return web.Response(text="expired body", headers=headers)

    async def _flaky(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        if n > 1:
            return web.Response(status=503, text="down")
        extra = request.query.get("cc", "")
        control = "max-age=0" + (f", {extra}" if extra else "")
        return web.Response(text="good body", headers={"Cache-Control": control})

    async def _cookie(self, request: web.Request) -> web.Response:
        self._arrive(request)
        response = web.Response(text="with cookie", headers={"Cache-Control": "max-age=3600"})
        response.set_cookie("session", request.query.get("session", "x"))
        return response

    async def _big(self, request: web.Request) -> web.StreamResponse:
        self._arrive(request)
        response = web.StreamResponse(headers={"Cache-Control": "max-age=3600"})
        await response.prepare(request)
        for i in range(16):
            await response.write(bytes([65 + i]) * 262144)
        await response.write_eof()
        return response

    async def _holdplain(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        await self._event(request.query.get("tag", "")).wait()
        return web.Response(text=str(n), headers={"Cache-Control": "no-store"})

    async def _ver(self, request: web.Request) -> web.Response:
        self._arrive(request)
        etag = f'"{self.version}"'
        headers = {"ETag": etag, "Cache-Control": "max-age=3600"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(text=f"v{self.version}", headers=headers)

    async def _etag_cookie(self, request: web.Request) -> web.Response:
        self._arrive(request)
        headers = {"ETag": '"c1"', "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == '"c1"':
            response = web.Response(status=304, headers=headers)
            response.set_cookie("session", request.query.get("session", "x"))
            return response
        return web.Response(text="cookie body", headers=headers)

    async def _mustreval(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        if n > 1:
            return web.Response(status=503, text="down")
        return web.Response(text="strict", headers={"Cache-Control": "max-age=0, must-revalidate"})

    async def _plain(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        return web.Response(text=str(n))

    async def _wait(self, request: web.Request) -> web.Response:
        n = self._arrive(request)
        await self._event(request.query.get("tag", "")).wait()
        return web.json_response({"n": n}, headers={"Cache-Control": "max-age=3600"})


@pytest.fixture
def origin() -> Iterator[CacheOrigin]:
    """A :class:`CacheOrigin` of the test's own, so its counts are the test's (import the
    fixture to use it)."""
    srv = CacheOrigin()
    yield srv
    srv.stop()
