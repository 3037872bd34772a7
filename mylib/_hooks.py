"""Event hooks: ``event_hooks={"request": [...], "response": [...]}``, the httpx shape.

A hook is called with the :class:`~mylib.Request` about to be sent (``"request"``) or the
:class:`~mylib.Response` just received (``"response"``), for every hop (redirects and
retries included). Its return value is ignored; an exception it raises reaches the caller
(e.g. ``lambda r: r.raise_for_status()`` as a response hook).

Which thread: an ``async def`` hook is awaited on the loop that sends the request (mylib's
I/O thread for :class:`~mylib.Client`). A plain function runs in a worker thread
(``loop.run_in_executor``), so it may block, and may call mylib's blocking API (even the same
client) without deadlocking the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._bridge import DaemonExecutor

__all__ = ["EVENTS", "check_event_hooks", "run_hooks"]

EVENTS = ("request", "response")

Hooks = Mapping[str, tuple[Callable[[Any], Any], ...]]


def check_event_hooks(value: object) -> dict[str, tuple[Callable[[Any], Any], ...]]:
    """``{"request": (...), "response": (...)}`` from what ``event_hooks=`` accepts.

    Raises:
        TypeError: not a dict of lists of callables.
        ValueError: an event other than "request" or "response".
    """
    hooks: dict[str, tuple[Callable[[Any], Any], ...]] = {event: () for event in EVENTS}
    if value is None:
        return hooks
    if not isinstance(value, Mapping):
        raise TypeError(
            "event_hooks must be a dict like {'request': [fn], 'response': [fn]}, "
            f"not {type(value).__name__}"
        )
    for event, fns in value.items():
        if event not in EVENTS:
            raise ValueError(
                f"event_hooks has an unknown event {event!r}: use 'request' or 'response'"
            )
        if callable(fns) or not isinstance(fns, Sequence):
            raise TypeError(f"event_hooks[{event!r}] must be a list of callables")
        for fn in fns:
            if not callable(fn):
                raise TypeError(f"event_hooks[{event!r}] holds {fn!r}, which is not callable")
        hooks[event] = tuple(fns)
    return hooks


_executor: DaemonExecutor | None = None
_executor_lock = threading.Lock()


def _callback_executor() -> DaemonExecutor:
    # Its own threads, not the loop's default executor: that one also resolves host names,
    # and four blocking hooks each waiting on a request to a named host held all its workers,
    # so the lookups those requests needed never ran (a deadlock, found in review).
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = DaemonExecutor(max_workers=32, name="mylib-callback")
        return _executor


def _forget_executor_after_fork() -> None:
    global _executor, _executor_lock
    _executor, _executor_lock = None, threading.Lock()  # its threads did not survive the fork


os.register_at_fork(after_in_child=_forget_executor_after_fork)


async def run_blocking(fn: Callable[[Any], Any], arg: object) -> Any:
    """``fn(arg)`` in a worker thread of mylib's callback pool, awaited from the loop.

    The pool's daemon threads keep working after ``threading._shutdown`` (a non-daemon
    thread's requests at exit) and are never shared with DNS lookups.
    """
    return await asyncio.get_running_loop().run_in_executor(_callback_executor(), fn, arg)


async def run_hooks(hooks: Sequence[Callable[[Any], Any]], arg: object) -> None:
    """Call each hook with ``arg``: coroutine functions on the loop, others in a thread."""
    for hook in hooks:
        if inspect.iscoroutinefunction(hook):
            await hook(arg)
            continue
        result = await run_blocking(hook, arg)
        if inspect.isawaitable(result):
            # A callable object whose __call__ is async, detected only by its result.
            await result
