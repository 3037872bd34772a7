"""Decorators that run a test inside a context manager made afresh for each call.

Shared by ``mylib.testing.Mocker`` and ``mylib.testing.cassette``: plain and ``async def``
functions alike, the function's name, docstring and signature kept.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["run_inside"]

#: ``bind(value, args, kwargs)`` -> the call's ``(args, kwargs)`` with ``value`` put in.
Bind = Callable[[Any, tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]


def _unchanged(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args, kwargs


def run_inside(
    func: Callable[..., Any],
    enter: Callable[[], AbstractContextManager[Any]],
    bind: Bind = _unchanged,
) -> Callable[..., Any]:
    """``func`` wrapped so that each call runs inside ``with enter() as value``, with
    ``bind`` deciding how ``value`` reaches it (by default it does not)."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with enter() as value:
                args, kwargs = bind(value, args, kwargs)
                return await func(*args, **kwargs)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with enter() as value:
            args, kwargs = bind(value, args, kwargs)
            return func(*args, **kwargs)

    return wrapper
