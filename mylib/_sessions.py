"""One aiohttp session per (process, event loop), closed by the loop that owns it.

An aiohttp ``ClientSession`` must be created inside a coroutine on its loop and closed on that
loop before the loop ends. A client may be made anywhere (even at import time) and used from
several loops, one after another (``asyncio.run`` twice) or at once (threads). So sessions are
made lazily, per running loop, and each one gets a *keeper*: an async generator started on the
session's loop that yields once and, in its ``finally``, closes the session.

Why an async generator: every asyncio loop already knows how to finalize them.
``asyncio.run``/``Runner`` (and mylib's own bridge) call ``loop.shutdown_asyncgens()`` before
the loop closes, and a generator dropped while its loop lives is finalized *on that loop* by
the loop's asyncgen hook, from whatever thread dropped it. Nobody has to remember to close.

Where the keepers live (the part that is easy to get wrong): if a keeper and the client's
session record referenced each other, a cycle-collected client would have ``ClientSession.
__del__`` run before the keeper and print "Unclosed client session". So keepers live in a
module registry keyed by a token, not in the client; a weakref callback on the owner drops the
registry entry when the owner dies, which finalizes the keepers on their loops. Keepers refer
to the client's session dict but never to the registry entry holding them.

Fork: the child forgets every session without closing it (its sockets are the parent's too)
and parks the old objects where they are never collected, so no finalizer ever writes to a
socket or self-pipe the parent still uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import aiohttp

__all__ = ["LoopSessions", "add_before_close_hook", "forget_all_after_fork"]

_Loop = asyncio.AbstractEventLoop

#: token -> {loop: keeper}. The only strong reference to the keepers.
_KEEPERS: dict[int, dict[_Loop, AsyncGenerator[None, None]]] = {}
_TOKENS = itertools.count()
_ALL: weakref.WeakSet[LoopSessions] = weakref.WeakSet()
#: Run on a session's loop just before it closes (e.g. to close streams still open on it,
#: which must go before their session or ``-X dev`` reports "Unclosed response").
_BEFORE_CLOSE: list[Callable[[aiohttp.ClientSession], Awaitable[None]]] = []


def add_before_close_hook(hook: Callable[[aiohttp.ClientSession], Awaitable[None]]) -> None:
    """Have ``await hook(session)`` run on the session's loop right before it is closed."""
    _BEFORE_CLOSE.append(hook)


async def _keeper(
    token: int, loop: _Loop, session: aiohttp.ClientSession, sessions: dict[_Loop, Any]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        if sessions.get(loop) is session:
            del sessions[loop]
        entry = _KEEPERS.get(token)
        if entry is not None:
            entry.pop(loop, None)
        for hook in _BEFORE_CLOSE:
            with contextlib.suppress(Exception):
                await hook(session)
        with contextlib.suppress(Exception):
            await session.close()


class LoopSessions:
    """The sessions of one client: one per running loop, made by ``factory`` on demand."""

    __slots__ = ("__weakref__", "_factory", "_owner_ref", "_sessions", "_token")

    def __init__(self, owner: object, factory: Callable[[], aiohttp.ClientSession]) -> None:
        self._factory = factory
        self._sessions: dict[_Loop, aiohttp.ClientSession] = {}
        self._token = next(_TOKENS)
        token = self._token
        # When the owner dies, its keepers are released and finalized on their own loops.
        self._owner_ref = weakref.ref(owner, lambda _: _KEEPERS.pop(token, None))
        _ALL.add(self)

    def get(self) -> aiohttp.ClientSession:
        """The running loop's session, made (and given its keeper) on first use."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = self._create(loop)
        return session

    def _create(self, loop: _Loop) -> aiohttp.ClientSession:
        session = self._factory()
        self._sessions[loop] = session
        keeper = _keeper(self._token, loop, session, self._sessions)
        # Run the keeper to its ``yield`` right here: calling __anext__ registers it with this
        # loop's asyncgen hooks, and the body up to the yield does not suspend.
        with contextlib.suppress(StopIteration):
            keeper.__anext__().send(None)
        _KEEPERS.setdefault(self._token, {})[loop] = keeper
        return session

    def has_session(self) -> bool:
        """True if any loop has a live session for this client."""
        return any(not s.closed for s in self._sessions.values())

    async def aclose(self) -> None:
        """Close the running loop's session now; schedule the other loops' on their loops."""
        running = asyncio.get_running_loop()
        keepers = _KEEPERS.pop(self._token, {})
        mine = keepers.pop(running, None)
        for loop, keeper in keepers.items():
            if not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(loop.create_task, keeper.aclose())
        if mine is not None:
            await mine.aclose()


#: What the forked child inherited and must neither use nor let be collected.
_GRAVEYARD: list[Any] = []


def forget_all_after_fork() -> None:
    """In a forked child: drop every session and keeper without closing anything."""
    parked: list[Any] = [dict(_KEEPERS)]
    _KEEPERS.clear()
    for sessions in list(_ALL):
        parked.append(dict(sessions._sessions))
        sessions._sessions.clear()
    if not _GRAVEYARD:
        # An extra reference that is never released: collecting these objects would run
        # finalizers that touch the parent's sockets (a keeper's finalizer writes to its old
        # loop's self-pipe) or print "Unclosed client session". The child's OS exit closes
        # the descriptors without a word on the wire.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_GRAVEYARD))
    _GRAVEYARD.append(parked)
