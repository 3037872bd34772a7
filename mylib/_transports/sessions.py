"""One aiohttp session per (process, event loop), closed by the loop that owns it.

Part of the aiohttp transport; the process-level hooks (:func:`sweep_at_exit`,
:func:`forget_all_after_fork`) are registered by ``mylib/_io.py``.

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

Loops that end badly: a user's ``loop = asyncio.new_event_loop(); loop.run_until_complete(..);
loop.close()`` never calls ``shutdown_asyncgens``, so no keeper runs. A dropped keeper of a
*closed* loop cannot be finalized either (its finalizer hook schedules on the closed loop and
prints "Exception ignored"), and its session then prints "Unclosed client session". So:

- when an owner dies, keepers of closed loops are parked instead of dropped;
- an exit sweep (:func:`sweep_at_exit`; ``mylib/_io.py`` runs it after the bridge's exit
  sequence) runs
  the keepers of loops that are neither closed nor running on their loop, bounded in time, and
  parks everything else.

Parked objects are never collected, so no ``__del__`` complains; their sockets are closed by
the OS when the process ends, as an abort. Rejected: closing such transports by hand. Every
transport close goes through ``loop.call_soon``, which a closed loop refuses, so it would need
asyncio's private attributes (``_sock``, ``_ssl_protocol``), which differ between versions.

Fork: the child forgets every session without closing it (its sockets are the parent's too)
and parks the old objects the same way, so no finalizer ever writes to a socket or self-pipe
the parent still uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any, Final, Generic, Protocol, TypeVar

import aiohttp

__all__ = ["LoopSessions", "forget_all_after_fork", "sweep_at_exit", "track_open", "untrack_open"]

_Loop = asyncio.AbstractEventLoop

#: token -> {loop: keeper}. The only strong reference to the keepers.
_KEEPERS: dict[int, dict[_Loop, AsyncGenerator[None, None]]] = {}
_TOKENS = itertools.count()
_ALL: weakref.WeakSet[LoopSessions[Any]] = weakref.WeakSet()
#: The bodies still on the wire, per session: a session's keeper aborts them before closing
#: it, or ``-X dev`` reports "Unclosed response" (a stream left open at exit).
_OPEN: weakref.WeakKeyDictionary[aiohttp.ClientSession, set[Any]] = weakref.WeakKeyDictionary()
#: How long the exit sweep lets one left-over keeper close its session on its own loop.
_SWEEP_TIMEOUT: Final = 2.0


class _Droppable(Protocol):
    def drop(self) -> None: ...


class Closable(Protocol):
    """What a keeper closes: an aiohttp session, or another loop-bound client (a rate
    limit's Redis connection) that must be closed on its loop the same way."""

    @property
    def closed(self) -> bool: ...

    async def close(self) -> None: ...


_C = TypeVar("_C", bound=Closable)


def track_open(session: aiohttp.ClientSession, body: _Droppable) -> None:
    """Remember ``body``, still on the wire, until :func:`untrack_open`."""
    _OPEN.setdefault(session, set()).add(body)


def untrack_open(session: aiohttp.ClientSession, body: _Droppable) -> None:
    """``body`` was released or aborted."""
    bodies = _OPEN.get(session)
    if bodies is not None:
        bodies.discard(body)


async def _keeper(
    token: int, loop: _Loop, session: Closable, sessions: dict[_Loop, Any]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        if sessions.get(loop) is session:
            del sessions[loop]
        entry = _KEEPERS.get(token)
        if entry is not None:
            entry.pop(loop, None)
        for body in list(_OPEN.pop(session, ())):  # type: ignore[call-overload]
            with contextlib.suppress(Exception):
                body.drop()
        with contextlib.suppress(Exception):
            await session.close()


class LoopSessions(Generic[_C]):
    """The sessions of one client: one per running loop, made by ``factory`` on demand."""

    __slots__ = ("__weakref__", "_factory", "_owner_ref", "_sessions", "_token")

    def __init__(self, owner: object, factory: Callable[[], _C]) -> None:
        self._factory = factory
        self._sessions: dict[_Loop, _C] = {}
        self._token = next(_TOKENS)
        token = self._token
        # When the owner dies, its keepers are released and finalized on their own loops.
        self._owner_ref = weakref.ref(owner, lambda _: _release(token))
        _ALL.add(self)

    def get(self) -> _C:
        """The running loop's session, made (and given its keeper) on first use."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = self._create(loop)
        return session

    def _create(self, loop: _Loop) -> _C:
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
        """True if any loop has a live session for this client (safe from any thread: the
        snapshot is taken in one step, so a loop adding a session meanwhile cannot break
        the iteration)."""
        return any(not s.closed for s in list(self._sessions.values()))

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


#: What must never be collected: a forked child's inheritance, keepers of closed loops.
_GRAVEYARD: list[Any] = []


def _park(*objects: Any) -> None:
    """Keep ``objects`` alive until the process ends, so their finalizers never run."""
    if not _GRAVEYARD:
        # An extra reference that is never released: even interpreter finalization, which
        # clears module globals, then leaves the list and everything in it alone. (ctypes is
        # imported here, on this rare path, to keep it out of ``import mylib``.)
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_GRAVEYARD))
    _GRAVEYARD.append(objects)


def _release(token: int) -> None:
    """An owner died: drop its keepers, so each is finalized (closing its session) on its loop.

    A keeper of a loop that was closed without ``shutdown_asyncgens`` cannot be finalized
    there; it is parked with its session instead of making noise.
    """
    keepers = _KEEPERS.pop(token, None) or {}
    for loop, keeper in keepers.items():
        if loop.is_closed():
            _park(keeper)


def sweep_at_exit() -> None:
    """At exit, close the sessions whose loops never finalized their keepers, quietly.

    Runs after the bridge's exit sequence, whose loop has closed its own sessions by then.
    A loop neither closed nor running gets its keepers run on it (so the session closes with
    proper I/O); sessions on a closed loop, or on a loop some thread still runs, are parked.
    """
    for sessions in list(_ALL):
        keepers = _KEEPERS.pop(sessions._token, None) or {}
        for loop, session in list(sessions._sessions.items()):
            keeper = keepers.pop(loop, None)
            if session.closed:
                continue
            if keeper is not None and not loop.is_closed() and not loop.is_running():
                with contextlib.suppress(Exception):
                    loop.run_until_complete(_close_within(keeper, _SWEEP_TIMEOUT))
                if session.closed:
                    continue
            _park(keeper, session)
        if keepers:
            _park(*keepers.values())


async def _close_within(keeper: AsyncGenerator[None, None], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        await keeper.aclose()




def forget_all_after_fork() -> None:
    """In a forked child: drop every session and keeper without closing anything."""
    # Collecting these objects would run finalizers that touch the parent's sockets (a
    # keeper's finalizer writes to its old loop's self-pipe) or print "Unclosed client
    # session". The child's OS exit closes the descriptors without a word on the wire.
    parked: list[Any] = [dict(_KEEPERS)]
    _KEEPERS.clear()
    for sessions in list(_ALL):
        parked.append(dict(sessions._sessions))
        sessions._sessions.clear()
    _park(parked)
