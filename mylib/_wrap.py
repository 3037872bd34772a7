"""make_sync: write a REST API wrapper once, in async, and get its blocking twin for free.

A wrapper author writes ``class Api(mylib.AsyncClient)`` with ``async def get_foo(self)``
methods; blocking users (scripts, notebooks) want ``SyncApi().get_foo()``. The generic
machinery (the instance built and used on mylib's I/O loop, async generators and context
managers made blocking, closing at exit) lives in ``mylib/_runtime/syncify.py``; this module
adds what is particular to mylib's clients.

**An AsyncClient subclass becomes a real** :class:`~mylib.Client` **subclass.** Its twin is
built by plain inheritance, ``class SyncApi(SyncBase, Client)``: the public methods ``Api``
inherits unchanged from ``AsyncClient`` and that ``Client`` also has (``get``, ``stream``,
``map``, ``download``, ``build_request``, ...) are simply ``Client``'s, running against the
instance as the twin's engine, so ``stream`` yields a :class:`~mylib.StreamResponse` with
``iter_bytes`` and ``map`` builds requests in the caller's thread. The methods ``Api`` adds
or overrides get the generic blocking wrapping, and because this is ordinary inheritance,
``Client.get`` calling ``self.request`` reaches an overridden ``request``, as it does in
async. ``isinstance(SyncApi(), mylib.Client)`` holds.

Rejected: a second ``Client`` built beside the twin at runtime whose engine is set from
outside (0.1.0 did this): two objects for one client, and private fields written across
classes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ._async_client import AsyncClient
from ._client import Client
from ._errors import ClientClosedError
from ._io import BRIDGE
from ._runtime.syncify import Runtime, SyncBase, sync_class, wrapped_class

__all__ = ["client_methods", "make_sync", "wrapped_class"]

_RUNTIME = Runtime(BRIDGE, ClientClosedError)


class _SyncClient(SyncBase, Client):  # type: ignore[misc]  # SyncBase's __exit__ wins
    """The base of the blocking twin of an ``AsyncClient`` subclass: a ``Client`` whose
    engine is the instance the twin built on the loop."""

    def _mylib_adopt(self, instance: Any) -> None:
        object.__setattr__(self, "_engine", instance)


def client_methods(cls: type) -> dict[str, Callable[..., Any]]:
    """The methods of :class:`Client` that the blocking twin of ``cls`` inherits, by name.

    For a subclass of :class:`AsyncClient`: each public method of ``Client`` that ``cls``
    inherits unchanged from ``AsyncClient``. Empty for any other class.
    """
    if not (isinstance(cls, type) and issubclass(cls, AsyncClient)):
        return {}
    served: dict[str, Callable[..., Any]] = {}
    for name, member in vars(Client).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        if name in ("close", "aclose"):
            continue  # closing is the twin's own (it awaits aclose on the loop)
        if hasattr(AsyncClient, name) and getattr(cls, name) is getattr(AsyncClient, name):
            served[name] = member
    return served


def make_sync(cls: type) -> type:
    """The blocking twin of an async class: instances live on mylib's I/O loop.

    Coroutine methods become blocking methods (same signature and docstring), async
    generators become generators, async context managers become context managers (enter and
    exit in one task), properties and attributes pass through. ``with`` closes the instance,
    and so does the end of the program: its ``aclose()``/``close()`` is awaited on the loop.
    For a subclass of :class:`AsyncClient`, the twin is a subclass of :class:`Client`: the
    methods it inherits unchanged that ``Client`` also has (``get``, ``stream``, ``map``,
    ``download``, ...) are ``Client``'s own, so ``stream`` gives a :class:`StreamResponse`
    with ``iter_bytes``.

    Example::

        class TodoClient(mylib.AsyncClient):
            async def list_todos(self) -> list[dict[str, Any]]:
                return (await self.get("/todos")).raise_for_status().json()

        SyncTodoClient = mylib.make_sync(TodoClient)
        print(SyncTodoClient("http://127.0.0.1:8000").list_todos())

    For type checkers, generate the twin's stub: ``python -m mylib.stubgen yourpkg._sync``.

    Raises:
        TypeError: ``cls`` is not a class, or has no coroutine methods, async generators or
            async context managers to wrap.
    """
    served = client_methods(cls)
    if served:
        return sync_class(cls, _RUNTIME, base=_SyncClient, inherited=frozenset(served))
    return sync_class(cls, _RUNTIME)
