"""One fixture, ``make_client``, so each feature test runs through both clients.

``make_client(**options)`` returns a ``mylib.Client`` (the "sync" case) or, in the "async"
case, a thin driver around a ``mylib.AsyncClient`` whose verbs run on one ``asyncio.Runner``
kept for the test (one loop, so the client's session and cookie jar persist across calls).
Import the fixture into a test module with ``from tests.client._support import make_client``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import mylib

ClientFactory = Callable[..., Any]

_VERBS = ("request", "get", "head", "options", "post", "put", "patch", "delete", "send", "map")


class AsyncDriver:
    """A blocking face over an AsyncClient, run on a private loop (test helper only)."""

    def __init__(self, runner: asyncio.Runner, client: mylib.AsyncClient) -> None:
        self._runner = runner
        self.engine = client

    def __setattr__(self, name: str, value: Any) -> None:
        # ``client.cookies = ...`` and the like go to the client.
        if name in ("_runner", "engine"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.engine, name, value)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.engine, name)
        if name not in _VERBS:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(target(*args, **kwargs))

        return call


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest) -> Iterator[ClientFactory]:
    """A factory of clients of the parametrized kind, each used like a blocking Client."""
    runner: asyncio.Runner | None = None

    def factory(*args: Any, **kwargs: Any) -> Any:
        nonlocal runner
        if request.param == "sync":
            return mylib.Client(*args, **kwargs)
        if runner is None:
            runner = asyncio.Runner()
        return AsyncDriver(runner, mylib.AsyncClient(*args, **kwargs))

    yield factory
    if runner is not None:
        runner.close()


def verify_for(server: Any) -> Any:
    """``verify=`` that trusts the test server (its CA for TLS, True for plain HTTP)."""
    return server.ca_path or True


class AppServer:
    """An aiohttp app on 127.0.0.1 in its own thread, plain or TLS (``ssl_context``).

    For tests that need routes the shared ``TestServer`` does not have (digest auth, a
    server demanding client certificates).
    """

    __test__ = False

    def __init__(self, app: Any, ssl_context: Any = None) -> None:
        import threading

        from aiohttp import web

        self.url = ""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        errors: list[BaseException] = []

        async def main() -> None:
            self._stop = asyncio.Event()
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
            try:
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
                await site.start()
                port = runner.addresses[0][1]
                self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                raise
            ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

        def run() -> None:
            try:
                self._loop.run_until_complete(main())
            except BaseException:
                pass
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="app-server")
        self._thread.start()
        ready.wait(10)
        if errors:
            raise RuntimeError("app server failed to start") from errors[0]

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
