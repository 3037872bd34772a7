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

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._io import run_blocking

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
