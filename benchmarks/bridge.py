"""The floor of mylib's design: a hand-written ~30-line bridge around one aiohttp session.

One daemon thread runs one event loop; every blocking call hops onto it with
``asyncio.run_coroutine_threadsafe`` and waits on the returned future.  No error translation, no
lifecycle care, no options: whatever mylib costs on top of this is the price of its features.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the shared I/O loop (started on first use) and block for its result."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, daemon=True, name="bridge-io").start()
    return asyncio.run_coroutine_threadsafe(coro, _loop).result()


class BridgeClient:
    """One aiohttp session living on the shared loop, with blocking get/map/stream-read calls."""

    def __init__(self, base_url: str, ssl: Any = True, limit: int = 100) -> None:
        async def make() -> aiohttp.ClientSession:
            # Sessions must be made inside a coroutine on their own loop (aiohttp >= 3.10).
            conn = aiohttp.TCPConnector(ssl=ssl, limit=limit)
            return aiohttp.ClientSession(base_url, connector=conn)

        self.session = run(make())

    async def _get(self, path: str) -> tuple[int, bytes]:
        async with self.session.get(path) as r:
            return r.status, await r.read()

    def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path``: (status, body)."""
        return run(self._get(path))

    def map(self, paths: list[str], concurrency: int) -> list[tuple[int, bytes]]:
        """GET every path with at most ``concurrency`` in flight, in one hop."""
        sem = asyncio.Semaphore(concurrency)

        async def one(p: str) -> tuple[int, bytes]:
            async with sem:
                return await self._get(p)

        async def gather() -> list[tuple[int, bytes]]:
            return list(await asyncio.gather(*(one(p) for p in paths)))

        return run(gather())

    def close(self) -> None:
        """Close the session on its loop."""
        run(self.session.close())
