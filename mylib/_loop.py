"""The process's one I/O loop bridge, wired to mylib's exceptions and session lifecycle."""

from __future__ import annotations

import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

from ._bridge import Bridge
from ._errors import ClientClosedError, LoopThreadError, TimeoutError
from ._sessions import forget_all_after_fork

__all__ = ["BRIDGE", "run"]

T = TypeVar("T")

BRIDGE = Bridge(
    "mylib-io",
    closed_error=ClientClosedError,
    loop_thread_error=LoopThreadError,
    timeout_error=TimeoutError,
)
BRIDGE.add_fork_hook(forget_all_after_fork)


async def _await(coro: Coroutine[Any, Any, T]) -> T:
    return await coro


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on mylib's I/O loop from blocking code and return its result.

    Works in scripts, in a notebook whose kernel already runs a loop, and at the REPL, where
    Ctrl-C cancels the coroutine. Sessions of AsyncClients used inside live on that loop and
    are closed at exit.

    Example::

        async def both():
            async with mylib.AsyncClient() as ac:
                return await asyncio.gather(ac.get(url1), ac.get(url2))

        r1, r2 = mylib.run(both(), timeout=30)

    Raises:
        TimeoutError: ``timeout`` seconds passed; the coroutine was cancelled on the loop.
        LoopThreadError: called from a coroutine already running on mylib's I/O loop.
        ClientClosedError: the interpreter is exiting and the loop has shut down.
        Anything the coroutine raises.
    """
    if not isinstance(coro, Coroutine):
        raise TypeError(f"mylib.run() needs a coroutine, not {type(coro).__name__}")
    try:
        return cast(T, BRIDGE.call(_await, coro, timeout=timeout))
    except BaseException:
        if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            # Refused before it ran (closed, wrong thread, Ctrl-C before it started): close
            # it, so no "never awaited" noise. One that started belongs to the loop, which
            # cancels it; closing it from this thread would run its cleanup in the wrong one.
            coro.close()
        raise
