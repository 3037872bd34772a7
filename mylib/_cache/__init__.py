"""HTTP caching by the standard (RFC 9111): hishel decides, mylib carries it out.

hishel's state machine knows no HTTP library; it says, for a request and the entries stored
under its key, whether to answer from the store, revalidate or go to the origin, and for the
origin's answer whether to store it, refresh stored headers or invalidate entries. mylib
supplies the sending (the rest of the pipeline below the cache step, ``mylib/_pipeline/
cache.py``), the storage calls, and what RFC 9111 leaves to the cache: ``only-if-cached``,
``stale-if-error``, collapsing identical requests, and the safety rules below.

The invariants, and why they hold:

* **No storage I/O on an event loop.** Every SQLite or Redis call, opening the store
  included, runs in the cache's worker threads (``storage.py``); the loop awaits one
  worker call per lookup (the entries are read, hishel's lookup decides and a hit's body is
  read in the same call) and one per store. The body is stored as the client read it
  (decompressed), with the headers the server sent, and served as is: nothing is decoded
  twice, and a hit looks like the response it stores.
* **A broken store costs a request, never a crash.** A file that is not a database, a
  foreign schema or a locked file makes the cache unusable for this process: one DEBUG line
  says why and requests go to the network. A storage error on one call is a miss (a failed
  store serves the response anyway). hishel's own error lines are demoted to DEBUG, one line
  without a traceback, so nothing reaches stderr.
* **Credentials stay private.** The key is a SHA-256 of the URL (and of whether the cache
  is shared: a private and a shared cache on one file never read each other's entries); the
  stored request keeps its ``Authorization``, ``Cookie`` and ``Proxy-Authorization`` only as
  digests, and no ``Set-Cookie`` is stored, so no URL, token or password is in a file, a
  Redis key or a log line. A response to a request with ``Authorization`` is stored only
  when it says it may be (``public``, ``s-maxage``, ``must-revalidate``; ``private`` too in
  a private cache); in a private cache it answers only the same credentials (as if it said
  ``Vary: Authorization``), while an unsafe request invalidates the URL for everyone; and a
  shared cache (``shared=True``) never stores a ``private`` one.
* **Identical requests in flight collapse.** Per event loop (every blocking ``Client``
  call, from any thread, runs on mylib's one I/O loop), the first cacheable GET or HEAD for
  a key and credentials leads; the others wait for it and then look up the store, which
  holds its answer. A leader whose answer was not stored (or was a stream, which is stored
  once read to its end, or an error) lets the waiters go to the network on their own, and
  such a request is not collapsed again for a minute, so uncacheable requests are not
  serialized; a leader that was cancelled hands the lead to one of the waiters. A GET with
  its own validators (``If-None-Match``, ...) is the caller's conditional request and
  passes the cache by.
* **The last second's fresh hits skip the store.** A response found fresh is also kept in
  memory (at most 256 of them, of up to 1 MiB each) for the rest of its freshness, but at
  most one second: an identical request (same method, key and ``Vary`` values, no
  ``Cache-Control`` of its own) in that time is answered on the loop, without a worker
  call. Anything this process stores, invalidates or clears for a key drops it at once;
  what another process does to a shared store is seen within that second.
* **One store per process.** It is opened on first use, in the process that uses it; a
  forked child opens its own (the parent's SQLite connection is never used, nor closed, in
  the child). A pickled Cache is its settings.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import redact_url

if TYPE_CHECKING:
    import asyncio

    from .._models import Request, Response
    from .._pipeline import Call, Handler

__all__ = ["Cache", "default_location", "fresh_cache_state", "to_cache"]

# The packages themselves, not mylib's extras: a "mylib" on the public index is somebody
# else's (from a checkout, pip install -e '.[cache]' brings them).
_INSTALL_HINT = (
    "mylib.Cache needs the hishel package (RFC 9111 caching), which is not installed; "
    "install it with pip install 'hishel>=2,<3'"
)
_REDIS_HINT = (
    "a Cache at a redis:// URL needs the redis package, which is not installed; install it "
    "with pip install redis"
)

#: Every Cache made in this process, so that a forked child can give each fresh state.
_CACHES: weakref.WeakSet[Cache] = weakref.WeakSet()


def default_location() -> Path:
    """Where ``cache=True`` keeps its SQLite file: the user's cache folder by platform
    convention, ``$XDG_CACHE_HOME/mylib/http-cache.sqlite`` (default ``~/.cache``) on Linux
    and other Unixes, ``~/Library/Caches/mylib/`` on macOS, ``%LOCALAPPDATA%\\mylib\\Cache\\``
    on Windows."""
    name = "http-cache.sqlite"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "mylib" / "Cache" / name
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "mylib" / name
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative path is to be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "mylib" / name


def _check_seconds(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {value!r}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


class Cache:
    """An HTTP cache that follows the standard (RFC 9111), for ``Client(cache=...)`` and
    ``AsyncClient(cache=...)``.

    A response is stored when its headers allow it, and served from the store while it is
    fresh (``max-age``, ``Expires``, or the heuristics of RFC 9111 for a ``Last-Modified``
    one); a stale one is revalidated with ``If-None-Match``/``If-Modified-Since``, and a
    ``304`` refreshes it and serves the stored body. ``Vary``, ``no-store`` and ``no-cache``
    are honoured, as are a request's own ``Cache-Control: no-cache`` (revalidate),
    ``no-store`` (do not store) and ``only-if-cached`` (never touch the network: a ``504``
    when nothing fresh is stored). A successful POST, PUT, PATCH or DELETE invalidates what
    is stored for its URL. ``response.from_cache`` tells a stored answer.

    Identical GET and HEAD requests in flight at once (from threads, or one ``map``) send
    one request: the others are answered from its stored response.

    What is stored is the server's choice, as the standard says: a response without
    ``Cache-Control``, ``Expires`` or a validator (``ETag``, ``Last-Modified``) is not
    stored (``ttl`` bounds a lifetime, it does not grant one), and one with only
    ``Last-Modified`` stays fresh for a tenth of its age. A response to a request with
    ``Authorization`` is stored only when it says so (``public``, ``private``,
    ``s-maxage`` or ``must-revalidate``), and in a private cache it answers only requests
    with the same credentials. A GET with its own ``If-None-Match``/``If-Modified-Since``
    passes the cache by (its 304 is yours). A hit sends no request, so no event hook sees
    it. Cookies are not part of the key: a server whose pages differ by cookie says
    ``Vary: Cookie`` or ``private``.

    Example::

        client = mylib.Client(cache=True)        # a file in your user cache folder
        client = mylib.Client(cache=mylib.Cache("notebook-cache.sqlite", ttl=3600))

    Args:
        location: Where entries are kept: None (the default) for a SQLite file in the user's
            cache folder (:meth:`default_location`: ``$XDG_CACHE_HOME/mylib/
            http-cache.sqlite``, default ``~/.cache/mylib/`` on Linux,
            ``~/Library/Caches/mylib/`` on macOS, ``%LOCALAPPDATA%\\mylib\\Cache\\`` on
            Windows); a file path (SQLite, shared by every process that opens it);
            ``":memory:"`` (this process only); or a ``redis://`` / ``rediss://`` URL, one
            cache for many processes and machines (needs ``pip install redis``).
        ttl: At most so many seconds any entry is kept, however long the server allows;
            None (default) for no bound of mylib's.
        shared: Behave as a shared cache in RFC 9111's sense: ``private`` responses are
            never stored, and ``s-maxage`` applies. Default False: a private cache, for one
            user.
        stale_if_error: Serve a stale stored response (marked ``from_cache``) when the
            server cannot be reached or answers 5xx, rather than the error. A response's
            own ``stale-if-error=N`` directive allows it for N seconds past its freshness
            even without this.

    Responses over 64 MiB are not stored. In Redis, entries expire only by ``ttl`` (or the
    server's ``maxmemory`` policy): give a ``ttl`` there. A cache pickles as these settings;
    unpickled in another process it opens the same location there. ``cache=True`` and
    ``cache="path"`` give every client in the process the same Cache for a location.

    Raises:
        ImportError: hishel (``pip install 'hishel>=2,<3'``), or redis for a Redis URL, is
            not installed.
        TypeError: an option of the wrong type.
        ValueError: an impossible ``ttl``, an unknown URL scheme, or a path that cannot be
            a file (a folder, or under a file).
    """

    def __init__(
        self,
        location: str | os.PathLike[str] | None = None,
        *,
        ttl: float | None = None,
        shared: bool = False,
        stale_if_error: bool = False,
    ) -> None:
        for name, value in (("shared", shared), ("stale_if_error", stale_if_error)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, not {value!r}")
        self._given = location
        self.ttl: float | None = _check_seconds("ttl", ttl)
        self.shared: bool = shared
        self.stale_if_error: bool = stale_if_error
        if location is None:
            kind, where = "sqlite", str(default_location())
        elif isinstance(location, os.PathLike):
            kind, where = "sqlite", os.path.abspath(os.fspath(location))
        elif not isinstance(location, str):
            raise TypeError(
                "location must be a file path, ':memory:' or a redis:// URL, "
                f"not {type(location).__name__}"
            )
        elif location == ":memory:":
            kind, where = "memory", location
        elif location.lower().startswith(("redis://", "rediss://", "unix://")):
            kind, where = "redis", location
        elif "://" in location:
            raise ValueError(
                f"location {redact_url(location)!r} is not a cache location: give a file path, "
                "':memory:' or a redis:// URL"
            )
        elif not location.strip():
            raise ValueError("location must be a file path, ':memory:' or a redis:// URL, not ''")
        else:
            kind, where = "sqlite", os.path.abspath(os.path.expanduser(location))
        if kind == "sqlite":
            _check_file_location(where)
        try:
            from . import engine
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        if kind == "redis":
            try:
                import redis  # noqa: F401 (checked here, in the caller's thread)
            except ImportError as exc:
                raise ImportError(_REDIS_HINT) from exc
        self._kind = kind
        #: Where the entries are: a file path, ``":memory:"`` or the Redis URL.
        self.location: str = where
        self._options = engine.options_for(shared)
        #: The store of this process, opened on first use in a worker (``storage.py``).
        self._store: Any = None
        self._pid = 0
        #: Why the store cannot be used in this process (then every request goes out).
        self._broken: str | None = None
        self._lock = threading.Lock()
        #: Identical requests in flight, per event loop (see the module's docstring).
        self._flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]]
        self._flights = weakref.WeakKeyDictionary()
        #: Fresh hits of the last second, answered on the loop without the store
        #: (``engine.py``): (method, key) -> entry.
        self._hot: dict[tuple[str, str, str], Any] = {}
        self._hot_bytes = 0
        #: Bumped whenever this process changes the store for a key (or clears it), so a
        #: lookup made before cannot put what it read into the hot set.
        self._generation = 0
        #: Requests whose last answer could not be stored: not collapsed for a while.
        self._plain: dict[tuple[str, str, str], float] = {}
        self._answer: Callable[[Handler, Request, Call], Awaitable[Response]] = (
            functools.partial(engine.answer, self)
        )
        _CACHES.add(self)

    default_location = staticmethod(default_location)

    def __repr__(self) -> str:
        options = "".join(
            f", {name}={value!r}"
            for name, value, default in (
                ("ttl", self.ttl, None),
                ("shared", self.shared, False),
                ("stale_if_error", self.stale_if_error, False),
            )
            if value != default
        )
        return f"mylib.Cache({redact_url(self.location)!r}{options})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The settings only: the other process opens its own store (and a default location
        # is that machine's user cache folder).
        return (
            _rebuild,
            (self._given if self._kind != "sqlite" or self._given is None else self.location,
             self.ttl, self.shared, self.stale_if_error),
        )

    def __copy__(self) -> Cache:
        return self  # one store: a copied client config keeps the same cache

    def __deepcopy__(self, memo: dict[int, Any]) -> Cache:
        return self

    def clear(self) -> None:
        """Remove every entry from the store (blocking; from async code, run it in a
        thread: ``await asyncio.to_thread(cache.clear)``)."""
        from .storage import clear

        clear(self)


def _check_file_location(path: str) -> None:
    """A SQLite location must be able to be a file (its folder is made at first use)."""
    if os.path.isdir(path):
        raise ValueError(
            f"location {path!r} is a folder; give a file in it, e.g. "
            f"{os.path.join(path, 'http-cache.sqlite')!r}"
        )
    parent = os.path.dirname(path)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent) if os.path.dirname(parent) != parent else ""
    if parent and not os.path.isdir(parent):
        raise ValueError(f"location {path!r} cannot be made: {parent!r} is a file, not a folder")


def _rebuild(location: Any, ttl: float | None, shared: bool, stale_if_error: bool) -> Cache:
    return Cache(location, ttl=ttl, shared=shared, stale_if_error=stale_if_error)


#: The Cache of each location given as ``cache=True`` or ``cache="path"``, so that clients
#: given the same one share its flights and hot set as they share its store.
_BY_LOCATION: weakref.WeakValueDictionary[tuple[str, str], Cache] = weakref.WeakValueDictionary()
_BY_LOCATION_LOCK = threading.Lock()


def to_cache(value: object) -> Cache | None:
    """``cache=`` as a Cache, or None for no cache: True is the default location, a path or
    URL is that location (one Cache per file or Redis URL in the process, with default
    options; each ``":memory:"`` is a new one).

    Raises:
        TypeError: not a bool, a Cache, a path or a URL.
    """
    if value is None or value is False:
        return None
    if isinstance(value, Cache):
        return value
    if value is True or isinstance(value, (str, os.PathLike)):
        made = Cache(None if value is True else value)
        if made._kind == "memory":
            return made  # (":memory:" is a new, empty store each time, as in SQLite)
        with _BY_LOCATION_LOCK:
            return _BY_LOCATION.setdefault((made._kind, made.location), made)
    raise TypeError(
        f"cache must be True, a mylib.Cache, a file path or a redis:// URL, not "
        f"{type(value).__name__}"
    )


def fresh_cache_state() -> None:
    """In a forked child: every cache forgets its locks, flights and the parent's store."""
    if not _CACHES:
        return  # (no cache made: nothing of hishel's is imported)
    from .storage import forget_after_fork

    for cache in list(_CACHES):
        cache._lock = threading.Lock()
        cache._flights = weakref.WeakKeyDictionary()
        cache._hot, cache._hot_bytes, cache._plain = {}, 0, {}
    forget_after_fork()
