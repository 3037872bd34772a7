"""A loopback app that records when each request arrived and how many were in flight, for the
rate-limit and pool tests (times are the server's ``time.monotonic()``, the same clock the
client's rate limiter uses, so a pause can be checked against the moment it was asked for)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.client._support import AppServer

__all__ = ["TrafficServer", "traffic"]


class TrafficServer:
    """Routes (each takes ``?tag=`` to keep tests apart):

    * ``/hit``: 200.
    * ``/slow``: 200 after 50 ms of work, counting requests in flight and client ports.
    * ``/429``: the tag's first request gets ``429`` with ``Retry-After: 1``, later ones 200.
    * ``/hold``: the head and a first piece of a body that then never ends (a stream on it
      holds its connection until the client closes it).
    * ``/quota?field=...``: the first gets 200 with the quota header family ``field`` at zero
      remaining and a reset of 1 s, later ones 200 with plenty remaining.
    """

    __test__ = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.in_flight: dict[str, int] = defaultdict(int)
        self.most_in_flight: dict[str, int] = defaultdict(int)
        self.ports: dict[str, set[int]] = defaultdict(set)
        app = web.Application()
        app.router.add_get("/hit", self._hit)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/429", self._too_many)
        app.router.add_get("/quota", self._quota)
        app.router.add_get("/hold", self._hold)
        self._app = AppServer(app)
        self.url = self._app.url

    def stop(self) -> None:
        self._app.stop()

    def times(self, tag: str) -> list[float]:
        """Arrival times of the tag's requests, in order."""
        with self._lock:
            return sorted(self.arrivals[tag])

    def _arrive(self, request: web.Request) -> tuple[str, int]:
        tag = request.query.get("tag", "")
        with self._lock:
            self.arrivals[tag].append(time.monotonic())
            return tag, len(self.arrivals[tag])

    async def _hit(self, request: web.Request) -> web.Response:
        self._arrive(request)
        return web.Response(text="ok")

    async def _slow(self, request: web.Request) -> web.Response:
        tag, _ = self._arrive(request)
        peer: Any = request.transport.get_extra_info("peername") if request.transport else None
        with self._lock:
            self.in_flight[tag] += 1
            self.most_in_flight[tag] = max(self.most_in_flight[tag], self.in_flight[tag])
            if peer:
                self.ports[tag].add(peer[1])
        try:
            await asyncio.sleep(0.05)  # work the server does: keeps requests overlapping
        finally:
            with self._lock:
                self.in_flight[tag] -= 1
        return web.Response(text="ok")

    async def _hold(self, request: web.Request) -> web.StreamResponse:
        self._arrive(request)
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first piece")
        await asyncio.Event().wait()  # until the client goes (or the server stops)
        return response

    async def _too_many(self, request: web.Request) -> web.Response:
        _, n = self._arrive(request)
        if n == 1:
            return web.Response(status=429, headers={"Retry-After": "1"}, text="slow down")
        return web.Response(text="ok")

    async def _quota(self, request: web.Request) -> web.Response:
        _, n = self._arrive(request)
        remaining = "0" if n == 1 else "50"
        field = request.query.get("field", "draft")
        if field == "draft":
            headers = {"RateLimit": f'"default";r={remaining};t=1', "RateLimit-Policy":
                       '"default";q=100;w=60'}
        elif field == "x":
            headers = {"X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": "1"}
        else:
            headers = {"RateLimit-Remaining": remaining, "RateLimit-Reset": "1"}
        return web.Response(text="ok", headers=headers)


@pytest.fixture(scope="module")
def traffic() -> Iterator[TrafficServer]:
    """A :class:`TrafficServer` for the test module (import the fixture to use it)."""
    srv = TrafficServer()
    yield srv
    srv.stop()
