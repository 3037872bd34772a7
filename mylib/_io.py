"""mylib's one I/O loop, :func:`run`, and every registration mylib makes with the process.

Nothing else in mylib calls ``atexit.register`` or ``os.register_at_fork`` (a layering test
checks it), so the whole exit order reads top to bottom here.

At exit (``atexit`` runs handlers last-registered-first):

1. :meth:`Bridge.shutdown`, registered when the I/O loop first starts, so that handlers a
   user registers after the first request run before it and can still make requests. On the
   loop, in order: the calls in flight are cancelled (their callers get
   ``ClientClosedError``); the shutdown hooks run (``make_sync`` twins' ``aclose()``, see
   :func:`~mylib._runtime.syncify.close_live_instances`); ``shutdown_asyncgens`` finalizes
   the session keepers, which close the streams still open and then their sessions; TLS
   transports get a bounded grace; the loop stops and its thread is joined (bounded).
2. The session sweep (:func:`~mylib._transports.sessions.sweep_at_exit`), registered at
   import, so it runs last: sessions of user loops that never finalized their keepers
   (a loop closed without ``shutdown_asyncgens``) are closed on their loop if it can still
   run, or parked so no finalizer prints.

In a forked child (:func:`_after_fork_in_child`): the bridge forgets the parent's thread and
loop, every session is forgotten unclosed (its sockets are the parent's too), and the
callback pool is forgotten (its threads did not survive the fork). Nothing is closed.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from ._cache import fresh_cache_state
from ._errors import ClientClosedError, LoopThreadError, TimeoutError
from ._ratelimit import fresh_rate_limit_locks
from ._runtime import Bridge, LazyPool
from ._runtime.syncify import close_live_instances
from ._transports.sessions import forget_all_after_fork, sweep_at_exit

__all__ = ["BRIDGE", "run", "run_blocking"]

T = TypeVar("T")


def _register_shutdown() -> None:
    atexit.register(BRIDGE.shutdown)


BRIDGE = Bridge(
    "mylib-io",
    closed_error=ClientClosedError,
    loop_thread_error=LoopThreadError,
    timeout_error=TimeoutError,
    on_start=_register_shutdown,
)
BRIDGE.add_shutdown_hook(close_live_instances)
atexit.register(sweep_at_exit)


# -- the callback pool: blocking hooks and auth callables -------------------------------------

# Its own threads, not the loop's default executor: that one also resolves host names, and
# four blocking hooks each waiting on a request to a named host held all its workers, so the
# lookups those requests needed never ran (a deadlock, found in review).
_CALLBACKS = LazyPool(max_workers=32, name="mylib-callback")


async def run_blocking(fn: Callable[[Any], Any], arg: object) -> Any:
    """``fn(arg)`` in a worker thread of mylib's callback pool, awaited from the loop.

    The pool's daemon threads keep working after ``threading._shutdown`` (a non-daemon
    thread's requests at exit) and are never shared with DNS lookups.
    """
    return await asyncio.get_running_loop().run_in_executor(_CALLBACKS.get(), fn, arg)


# -- fork ---------------------------------------------------------------------------------------


def _after_fork_in_child() -> None:
    BRIDGE.after_fork_in_child()
    forget_all_after_fork()
    fresh_rate_limit_locks()
    fresh_cache_state()
    _CALLBACKS.forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- run() --------------------------------------------------------------------------------------


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
