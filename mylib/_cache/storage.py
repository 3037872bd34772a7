"""A cache's store (hishel's SQLite or Redis storage) and every call made on it.

Everything here is blocking and runs in the cache's worker threads (:func:`in_worker`), never
on an event loop: opening the file (creating its folder and tables, switching it to WAL),
reading entries and bodies, writing them. The workers are daemon threads of their own, not a
loop's default executor, which also resolves host names: a slow disk must not hold up DNS.

No call raises: a storage failure is a miss, or a response served but not stored, with a
DEBUG line on the ``"mylib"`` logger. A store that cannot be opened at all (not a database,
someone else's tables, locked for longer than SQLite's busy timeout) is marked broken for
this process, with one DEBUG line, and every request then goes to the network.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import hishel
from hishel._core._headers import parse_cache_control
from hishel._core._spec import get_age, get_freshness_lifetime

from .._errors import ReadError
from .._logging import log_cache_problem
from .._runtime import LazyPool

if TYPE_CHECKING:
    from . import Cache

__all__ = [
    "MAX_ENTRY",
    "clear",
    "forget_after_fork",
    "in_worker",
    "lookup",
    "read_entry",
    "remove",
    "store",
    "update",
]

T = TypeVar("T")

#: Responses larger than this are served but not stored (bytes).
MAX_ENTRY = 64 << 20
#: Every Redis key of mylib's caches starts with this.
REDIS_PREFIX = "mylib-cache"
#: How long a Redis call may take before it counts as failed (seconds): a dead Redis server
#: costs a request that long, then it is a miss.
REDIS_TIMEOUT = 5.0
#: How long a SQLite write waits for another process's write lock (milliseconds).
BUSY_TIMEOUT_MS = 1000

_WORKERS = LazyPool(max_workers=4, name="mylib-cache")
#: Stores a forked child inherited: never used there, and never closed either (closing a
#: SQLite connection in the child could disturb the parent's locks), so kept alive here.
_ABANDONED: list[Any] = []


async def in_worker(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a cache worker thread, awaited from the running loop."""
    return await asyncio.get_running_loop().run_in_executor(_WORKERS.get(), fn, *args)


def forget_after_fork() -> None:
    """In a forked child: the parent's worker threads did not survive the fork."""
    _WORKERS.forget_after_fork()


# -- hishel's error lines, demoted ------------------------------------------------------------


class _Demote(logging.Filter):
    """hishel's storages log a failure with ``logger.exception``: an ERROR with a traceback,
    which Python's last-resort handler prints to stderr when logging is not configured. For
    mylib a storage failure is a miss, so it becomes one DEBUG line, its cause appended."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            error = record.exc_info[1] if record.exc_info else None
            message = record.getMessage()
            if error is not None:
                message = f"{message}: {type(error).__name__}: {error}"
            record.msg, record.args = message, None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            # The logger let it through as an ERROR; as a DEBUG line it goes on only where
            # DEBUG is enabled (a handler of level NOTSET would print it anyway).
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


for _name in ("hishel._core._storages._sync_sqlite", "hishel._core._storages._sync_redis"):
    logging.getLogger(_name).addFilter(_Demote())
del _name


# -- opening ------------------------------------------------------------------------------------


def _store_of(cache: Cache) -> Any:
    """The cache's store in this process, opened now if it is not yet; None if it cannot be
    used (said once, at DEBUG)."""
    pid = os.getpid()
    with cache._lock:
        if cache._pid != pid:  # first use, or the first in a forked child
            if cache._store is not None:
                _ABANDONED.append(cache._store)
            cache._store, cache._broken, cache._pid = None, None, pid
        if cache._store is None and cache._broken is None:
            try:
                cache._store = _open(cache)
            except Exception as exc:  # any failure: the cache is off, said once
                cache._broken = f"{type(exc).__name__}: {exc}"
                log_cache_problem(
                    f"the cache at {cache!r} cannot be used ({cache._broken}); requests go "
                    "to the network"
                )
        return cache._store


def _open(cache: Cache) -> Any:
    if cache._kind == "redis":
        import redis

        client = redis.Redis.from_url(
            cache.location, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
        )
        return hishel.RedisStorage(
            client, default_ttl=cache.ttl, max_stream_size=MAX_ENTRY, key_prefix=REDIS_PREFIX
        )
    if cache._kind == "sqlite":
        Path(cache.location).parent.mkdir(parents=True, exist_ok=True)
    # Our own connection, so that hishel makes no folder and writes no .gitignore next to
    # the user's file; autocommit, as hishel opens its own.
    connection = sqlite3.connect(
        cache.location, check_same_thread=False, isolation_level=None, timeout=5.0
    )
    try:
        storage = hishel.SqliteStorage(
            connection=connection, default_ttl=cache.ttl, max_stream_size=MAX_ENTRY
        )
        # Creates the tables now, and raises for a file it cannot use (hishel's lookups
        # would otherwise report it on every request).
        storage._ensure_connection()
        # hishel waits up to 5 s for another writer's lock; a store that waits that long
        # holds its request up, and failing sooner only means not storing one response.
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except BaseException:
        connection.close()
        raise
    return storage


# -- the calls ------------------------------------------------------------------------------------


def lookup(
    cache: Cache, request: hishel.Request, key: str, whole: bool = True
) -> tuple[hishel.State, bytes | None, float]:
    """hishel's decision for ``request`` over the entries under ``key``, and for a hit the
    stored body (read here too, so a hit costs one worker call; with ``whole=False``, for a
    stream, not read: None) and how many seconds more it stays fresh."""
    idle = hishel.IdleClient(options=cache._options)
    storage = _store_of(cache)
    if storage is None:
        return idle.next(request, []), None, 0.0
    try:
        entries = storage.get_entries(key)
    except Exception as exc:  # hishel swallows most; a miss either way
        log_cache_problem(f"cache lookup failed, a miss: {type(exc).__name__}: {exc}")
        entries = []
    if not cache.shared and request.method in ("GET", "HEAD"):
        # A private cache answers each credential with its own entries (an implicit
        # Vary: Authorization); an unsafe method still invalidates them all.
        mine = request.headers.get("authorization")
        entries = [e for e in entries if e.request.headers.get("authorization") == mine]
    state = idle.next(request, entries)
    if isinstance(state, hishel.FromCache) and _too_old_for(request, state.entry.response, cache):
        # The request's max-age or min-fresh (hishel weighs only its no-cache): revalidate.
        asking = request.headers.get("cache-control", "")
        state = idle.next(
            replace(request, headers=hishel.Headers({
                **{n: request.headers.get_list(n) or [] for n in request.headers},
                "cache-control": [f"{asking}, no-cache" if asking else "no-cache"],
            })),
            entries,
        )  # fmt: skip
    if isinstance(state, hishel.FromCache):
        body = read_entry(state.entry) if whole else None
        if whole and body is None:
            return idle.next(request, []), None, 0.0
        kept = state.entry.response
        lifetime = get_freshness_lifetime(kept, cache.shared)
        return state, body, 0.0 if lifetime is None else float(lifetime - get_age(kept))
    return state, None, 0.0


def _too_old_for(request: hishel.Request, kept: hishel.Response, cache: Cache) -> bool:
    asking = request.headers.get("cache-control")
    if not asking or ("max-age" not in asking and "min-fresh" not in asking):
        return False
    said = parse_cache_control(asking)
    age = get_age(kept)
    if said.max_age is not None and age > said.max_age:
        return True
    lifetime = get_freshness_lifetime(kept, cache.shared) or 0
    return said.min_fresh is not None and lifetime - age < said.min_fresh


def next_piece(pieces: Iterator[bytes]) -> bytes:
    """The next stored piece of a body (``b""`` at its end); a stored body that cannot be
    read any more raises :class:`~mylib.ReadError`."""
    try:
        return bytes(next(pieces, b""))
    except Exception as exc:
        raise ReadError(f"the stored body could not be read: {type(exc).__name__}: {exc}") from exc


def read_entry(entry: hishel.Entry) -> bytes | None:
    """The stored body of ``entry``, or None if it cannot be read (removed meanwhile)."""
    stream = entry.response.stream
    try:
        return b"".join(stream) if isinstance(stream, Iterable) else b""
    except Exception as exc:
        log_cache_problem(f"a stored body could not be read: {type(exc).__name__}: {exc}")
        return None


def store(
    cache: Cache, request: hishel.Request, response: hishel.Response, key: str,
    pieces: list[bytes],
) -> bool:
    """Store ``response`` with the body ``pieces`` under ``key``; whether it was."""
    if sum(map(len, pieces)) > MAX_ENTRY:
        return False
    storage = _store_of(cache)
    if storage is None:
        return False
    try:
        entry = storage.create_entry(
            request, replace(response, stream=_slices(pieces)), key, ttl=cache.ttl
        )
        saving = entry.response.stream
        assert isinstance(saving, Iterator)
        for _ in saving:  # the storage writes the body as it is read
            pass
    except Exception as exc:
        log_cache_problem(f"a response could not be stored: {type(exc).__name__}: {exc}")
        return False
    return True


def _slices(pieces: list[bytes]) -> Iterator[bytes]:
    # In pieces of at most the storage's row size, as views: a large body is not copied
    # whole once more on its way into the store.
    for piece in pieces:
        view = memoryview(piece)
        for start in range(0, len(view), _SLICE):
            yield view[start : start + _SLICE]  # type: ignore[misc]


_SLICE = 1 << 17


def update(
    cache: Cache, entries: list[hishel.Entry], serve: hishel.Entry
) -> bytes | None:
    """Replace the stored headers of ``entries`` (a 304 refreshed them) and return the body
    of ``serve``, or None if it is gone."""
    storage = _store_of(cache)
    if storage is None:
        return None
    for entry in entries:
        storage.update_headers(entry.id, entry.response.headers)
    return read_entry(serve)


def remove(cache: Cache, ids: list[uuid.UUID]) -> None:
    """Invalidate the entries ``ids`` (an unsafe method succeeded on their URL)."""
    storage = _store_of(cache)
    if storage is not None:
        for entry_id in ids:
            storage.remove_entry(entry_id)


def clear(cache: Cache) -> None:
    """Remove every entry of the cache's store (in the calling thread)."""
    cache._generation += 1
    cache._hot.clear()
    cache._hot_bytes = 0
    storage = _store_of(cache)
    if storage is None:
        return
    if cache._kind == "redis":
        client = storage._client
        batch: list[Any] = []
        for name in client.scan_iter(match=f"{REDIS_PREFIX}:*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
        return
    with storage._lock:  # hishel's, held around every use of the connection
        storage.connection.execute("DELETE FROM streams")
        storage.connection.execute("DELETE FROM entries")
