"""The cache step's work on the loop: hishel's state machine driven with the pipeline's
``send``, and the store called in workers (``storage.py``).

One request, in order: a hit in the hot set is answered at once; else a lookup (a worker
call: entries read, hishel decides, a hit's body read) may answer. A stale entry may answer
when the request accepts it (``max-stale``); ``only-if-cached`` then answers 504 without a
request. A stale entry is revalidated (the validators hishel chose are added to the
request); if that fails (no connection, a 5xx) and stale answers are allowed, the stale
entry is served. Otherwise the request goes out and hishel's verdict on the response is
carried out: invalidate, refresh the stored headers after a 304 and serve the stored body,
or store. A streamed response is stored once it was read to its end (:class:`_SavingBody`).

Identities: the store's key is a digest of the URL (and of whether the cache is shared, so
that a private and a shared cache on one file never read each other's entries); in a
private cache a request's credentials select among the entries of a URL as if every
response said ``Vary: Authorization``. ``which`` = (method, key, credentials' digest)
names identical requests: the flights, the hot set and the "not storable" marks use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import hashlib
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import hishel
from hishel._core._headers import parse_cache_control
from hishel._core._spec import get_age, get_freshness_lifetime, vary_headers_match
from multidict import CIMultiDict, CIMultiDictProxy

from .._errors import TransportError, body_too_large
from .._logging import log_cache
from .._models import WAITING_FOR, Response
from .._transports.base import BytesBody
from .storage import MAX_ENTRY, in_worker, lookup, next_piece, read_entry, remove, store, update

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._models import Request, ResponseBody
    from .._pipeline import Call, Handler
    from . import Cache

__all__ = ["answer", "options_for"]

#: The methods whose responses are stored (and whose identical requests collapse).
_STORED_METHODS = ("GET", "HEAD")
#: The hot set (see the package's docstring): how long at most, how many, how large each,
#: how large all together.
HOT_SECONDS = 1.0
HOT_ENTRIES = 256
HOT_BODY = 1 << 20
HOT_BYTES = 16 << 20
#: How long a request whose last answer could not be stored is not collapsed (seconds), and
#: how many such requests are remembered.
PLAIN_SECONDS = 60.0
PLAIN_ENTRIES = 1024
#: A GET or HEAD that carries its own validators is the caller's conditional request: it
#: passes the cache by, so its 304 reaches the caller as without a cache.
_CONDITIONAL = ("If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since",
                "If-Range")  # fmt: skip

Which = tuple[str, str, str]


def options_for(shared: bool) -> hishel.CacheOptions:
    """hishel's options for a shared (or private) cache."""
    return hishel.CacheOptions(shared=shared, supported_methods=list(_STORED_METHODS))


# -- answering ------------------------------------------------------------------------------------


class _Flight:
    """A cacheable request in flight, which identical ones wait for, and how it ended:
    ``"stored"`` (the waiters look it up), ``"plain"`` (not storable: they go on their own)
    or ``"cancelled"`` (one of them leads instead)."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.outcome = "cancelled"


async def answer(cache: Cache, send: Handler, request: Request, call: Call) -> Response:
    """Answer ``request`` from ``cache`` or through ``send`` (the rest of the pipeline)."""
    headers = request.headers
    method = request.method
    if method in _STORED_METHODS and any(name in headers for name in _CONDITIONAL):
        return await send(request, call)
    loop = asyncio.get_running_loop()
    key, credential = _key(cache, request)
    which = (method, key, credential)
    if method not in _STORED_METHODS or "Range" in headers or _plain(cache, which):
        return (await _run(cache, send, request, call, which, loop.time()))[0]
    flights = _flights(cache, loop)
    while (flight := flights.get(which)) is not None:
        log_cache(method, request.url.parsed, "waits for the identical request in flight")
        await _wait_for(flight)
        if flight.outcome != "cancelled":
            # Its answer is stored (a hit now), or could not be (this one goes alone).
            return (await _run(cache, send, request, call, which, loop.time()))[0]
        # The leader was cancelled (its caller's timeout, Ctrl-C): one of us leads now.
    flights[which] = flight = _Flight()
    try:
        response, stored = await _run(cache, send, request, call, which, loop.time())
        flight.outcome = "stored" if stored else "plain"
        if not stored and not call.stream:
            _remember_plain(cache, which)  # the next ones need not wait for each other
        return response
    except Exception:
        flight.outcome = "plain"  # an error: the waiters try for themselves, at once
        raise
    finally:
        flight.done.set()
        if flights.get(which) is flight:
            del flights[which]


def _key(cache: Cache, request: Request) -> tuple[str, str]:
    """The store's key of ``request`` and the digest of its credentials (in a private cache;
    empty otherwise). Digests: no URL, token or password is in a file, a key or a log."""
    kind = "shared" if cache.shared else "private"
    key = hashlib.sha256(f"{kind}\n{request.url}".encode("utf-8", "surrogateescape"))
    credentials = "" if cache.shared else request.headers.get("Authorization", "")
    return key.hexdigest(), _digest(credentials) if credentials else ""


async def _run(
    cache: Cache, send: Handler, request: Request, call: Call, which: Which, started: float
) -> tuple[Response, bool]:
    """The answer, and whether it is in the store."""
    url = request.url.parsed
    key = which[1]
    sent = _to_hishel(request, key)
    directives = _directives(request.headers.get("Cache-Control"))
    ordinary = not directives and "Range" not in request.headers
    if ordinary and (hot := _hot_hit(cache, which, sent)) is not None:
        log_cache(request.method, url, "hit")
        return _stored(hot.status, hot.headers, hot.body, request, call, started), True
    generation = cache._generation
    state, body, fresh_for = await in_worker(lookup, cache, sent, key, not call.stream)
    if isinstance(state, hishel.FromCache):
        kept = state.entry.response
        log_cache(request.method, url, "hit")
        if body is None:  # a stream: its pieces come from the store as it is read
            hit = _stored(kept.status_code, _headers_of(kept), b"", request, call, started)
            assert isinstance(kept.stream, Iterator)
            hit._body = _StoredBody(kept.stream)
            return hit, True
        if ordinary and cache._generation == generation:  # nothing was invalidated meanwhile
            _keep_hot(cache, which, sent, kept, body, fresh_for)
        return _stored(kept.status_code, _headers_of(kept), body, request, call, started), True
    stale = None
    if isinstance(state, hishel.NeedRevalidation):
        stale = _usable_stale(cache, state, sent)
        if stale is not None and "no-cache" not in directives:
            accepted = _accepted_staleness(request)
            if accepted is not None and _staleness(cache, stale.response) <= accepted:
                served = await _stale(stale, request, call, started, "the request's max-stale")
                if served is not None:
                    return served, True
    if "only-if-cached" in directives:
        log_cache(request.method, url, "miss, only-if-cached: 504 without a request")
        return _not_cached(request), False
    verdict: Any  # what hishel decided about the origin's response
    superseded: list[Any] = []
    if isinstance(state, hishel.NeedRevalidation):
        conditional = _with_validators(request, state.request.headers)
        asked = "revalidating" if conditional is not request else "no validator, asking again"
        log_cache(request.method, url, f"stale, {asked}")
        may_serve_stale = stale is not None and _stale_allowed(cache, stale.response)
        try:
            response = await send(conditional, call)
        except TransportError as exc:
            served = None
            if may_serve_stale:
                assert stale is not None
                served = await _stale(stale, request, call, started, type(exc).__name__)
            if served is None:
                raise
            return served, True
        if response.status_code >= 500 and may_serve_stale:
            assert stale is not None
            await response.aread()
            served = await _stale(stale, request, call, started, str(response.status_code))
            if served is not None:
                served.attempts = response.attempts
                return served, True
        elif response.status_code == 304:
            await response.aread()  # (a stream's: nothing, but the connection goes back)
        elif 200 <= response.status_code < 300:
            # A full answer replaces every entry it was asked to check (hishel keeps one).
            superseded = [e.id for e in state.revalidating_entries if vary_headers_match(sent, e)]
        verdict = state.next(_response_to_hishel(response))
    else:
        if request.method in _STORED_METHODS:
            log_cache(request.method, url, "miss")
        response = await send(request, call)
        verdict = state.next(_response_to_hishel(response))
    return await _carry_out(cache, verdict, send, request, call, which, response, started,
                            superseded)  # fmt: skip


async def _carry_out(
    cache: Cache,
    state: Any,
    send: Handler,
    request: Request,
    call: Call,
    which: Which,
    response: Response,
    started: float,
    superseded: list[Any],
) -> tuple[Response, bool]:
    """Do what hishel decided about ``response``."""
    key = which[1]
    try:
        if superseded:
            _forget_hot(cache, key)
            await in_worker(remove, cache, superseded)
        while True:
            if isinstance(state, hishel.InvalidateEntries):
                _forget_hot(cache, key)
                await in_worker(remove, cache, state.entry_ids)
                state = state.next()
            elif isinstance(state, hishel.NeedToBeUpdated):
                _forget_hot(cache, key)
                updating = [
                    replace(e, response=_without_cookies(e.response))
                    for e in state.updating_entries
                ]
                serve = updating[-1]
                body = await in_worker(update, cache, updating, serve)
                if body is not None:
                    log_cache(
                        request.method, request.url.parsed, "revalidated (304), stored body served"
                    )
                    kept = serve.response
                    fresh = _stored(kept.status_code, _headers_of(kept), body, request, call,
                                    started, revalidated=True)  # fmt: skip
                    fresh.attempts = response.attempts
                    return fresh, True
                response = await send(request, call)  # the entry went meanwhile: ask in full
                state = hishel.CacheMiss(request=_to_hishel(request, key), options=cache._options)
                state = state.next(_response_to_hishel(response))
            elif isinstance(state, hishel.CacheMiss):  # a 304 that matched no entry
                await response.aread()
                response = await send(request, call)
                state = state.next(_response_to_hishel(response))
            elif isinstance(state, hishel.StoreAndUse) and _may_store(
                cache, request, state.response
            ):
                _forget_hot(cache, key)
                cache._plain.pop(which, None)
                sent = _to_hishel(request, key)
                # The jar took the response's cookies when it arrived; a session cookie is not
                # to lie in a file or in Redis.
                kept = _without_cookies(state.response)
                if call.stream and response._body is not None:
                    saving = functools.partial(in_worker, store, cache, sent, kept, key)
                    response._body = _SavingBody(response._body, saving)
                    return response, False
                stored = await in_worker(store, cache, sent, kept, key, [response.content])
                return response, stored
            else:
                return response, False
    except BaseException:
        response.close()  # a streamed body this step will not hand on
        raise


# -- what may be stored, and served stale --------------------------------------------------------


def _may_store(cache: Cache, request: Request, kept: hishel.Response) -> bool:
    """mylib's rules on top of hishel's: a request's own ``no-store``, credentials, and
    entries that could never answer."""
    if "no-store" in _directives(request.headers.get("Cache-Control")):
        return False
    said = parse_cache_control(kept.headers.get("cache-control"))
    allowed = said.public or said.s_maxage is not None or said.must_revalidate or said.private
    if "Authorization" in request.headers and not cache.shared and not allowed:
        # RFC 9111 §3.5 binds shared caches; a private one on disk (or in Redis) deserves
        # it too: an answer to credentials is kept only when the server says so.
        log_cache(request.method, request.url.parsed, "not stored: the request has "
                  "Authorization and the response says neither public, private, s-maxage "
                  "nor must-revalidate")  # fmt: skip
        return False
    # Never fresh, nothing to revalidate with, no stale answer allowed: a row per request
    # that nothing would ever read.
    return bool(
        get_freshness_lifetime(kept, cache.shared)
        or "etag" in kept.headers
        or "last-modified" in kept.headers
        or cache.stale_if_error
        or said.stale_if_error is not None
    )


def _staleness(cache: Cache, stored: hishel.Response) -> float:
    """Seconds since ``stored`` stopped being fresh."""
    return get_age(stored) - (get_freshness_lifetime(stored, cache.shared) or 0)


def _usable_stale(
    cache: Cache, state: hishel.NeedRevalidation, sent: hishel.Request
) -> hishel.Entry | None:
    """The newest stored entry that could answer ``sent`` stale, if any: one its ``Vary``
    matches, whose server did not forbid stale answers (RFC 9111 §4.2.4: ``no-cache``,
    ``must-revalidate``; in a shared cache ``proxy-revalidate`` and ``s-maxage``)."""
    for entry in state.revalidating_entries:
        if not vary_headers_match(sent, entry):
            continue
        said = parse_cache_control(entry.response.headers.get("cache-control"))
        if said.no_cache or said.must_revalidate:
            return None
        if cache.shared and (said.proxy_revalidate or said.s_maxage is not None):
            return None
        return entry
    return None


def _accepted_staleness(request: Request) -> float | None:
    """How stale an answer the request accepts (``max-stale``, unbounded without a value),
    or None."""
    value = request.headers.get("Cache-Control")
    if not value or "max-stale" not in value.lower():
        return None
    return parse_cache_control(value).max_stale


def _stale_allowed(cache: Cache, stored: hishel.Response) -> bool:
    """Whether a usable stale ``stored`` response may answer when the origin fails: the
    Cache's ``stale_if_error``, or the response's own ``stale-if-error=N`` for N seconds."""
    if cache.stale_if_error:
        return True
    said = parse_cache_control(stored.headers.get("cache-control"))
    return said.stale_if_error is not None and _staleness(cache, stored) <= said.stale_if_error


async def _stale(
    entry: hishel.Entry, request: Request, call: Call, started: float, why: str
) -> Response | None:
    body = await in_worker(read_entry, entry)
    if body is None:
        return None
    log_cache(request.method, request.url.parsed, f"stale, served for {why}")
    kept = entry.response
    headers = CIMultiDict(_headers_of(kept))
    headers["Age"] = str(get_age(kept))
    served = _stored(kept.status_code, CIMultiDictProxy(headers), body, request, call, started)
    served.attempts = call.attempts
    return served


# -- the hot set, flights, marks ------------------------------------------------------------------


class _Hot:
    """A fresh hit kept in memory (its headers as the caller gets them), the ``Vary``
    values it was found for, and until when."""

    __slots__ = ("body", "headers", "status", "until", "vary")

    def __init__(
        self, vary: tuple[tuple[str, Any], ...], kept: hishel.Response, body: bytes,
        until: float,
    ) -> None:
        self.vary, self.body, self.until = vary, body, until
        self.status, self.headers = kept.status_code, _headers_of(kept)


def _hot_hit(cache: Cache, which: Which, sent: hishel.Request) -> _Hot | None:
    hot: _Hot | None = cache._hot.get(which)
    if hot is None:
        return None
    if hot.until <= time.monotonic():
        _drop_hot(cache, which)
        return None
    for name, value in hot.vary:
        if sent.headers.get_list(name) != value:
            return None
    return hot


def _keep_hot(
    cache: Cache, which: Which, sent: hishel.Request, kept: hishel.Response, body: bytes,
    fresh_for: float,
) -> None:
    if fresh_for <= 0 or len(body) > HOT_BODY:
        return
    names = [n.strip().lower() for n in (kept.headers.get("vary") or "").split(",") if n.strip()]
    if "*" in names:
        return
    hot = cache._hot
    _drop_hot(cache, which)
    if len(hot) >= HOT_ENTRIES or cache._hot_bytes + len(body) > HOT_BYTES:
        now = time.monotonic()
        for old in [w for w, entry in list(hot.items()) if entry.until <= now]:
            _drop_hot(cache, old)
        while hot and (len(hot) >= HOT_ENTRIES or cache._hot_bytes + len(body) > HOT_BYTES):
            with contextlib.suppress(StopIteration, RuntimeError):
                _drop_hot(cache, next(iter(hot)))  # the oldest
    vary = tuple((name, sent.headers.get_list(name)) for name in names)
    hot[which] = _Hot(vary, kept, body, time.monotonic() + min(fresh_for, HOT_SECONDS))
    cache._hot_bytes += len(body)


def _drop_hot(cache: Cache, which: Which) -> None:
    gone = cache._hot.pop(which, None)
    if gone is not None:
        cache._hot_bytes -= len(gone.body)


def _forget_hot(cache: Cache, key: str) -> None:
    """The store changed for ``key``: no hot entry of it may answer, nor one a lookup made
    before now may add."""
    cache._generation += 1
    for which in [w for w in list(cache._hot) if w[1] == key]:
        _drop_hot(cache, which)


def _plain(cache: Cache, which: Which) -> bool:
    """Whether the last answer for ``which`` could not be stored (lately)."""
    until = cache._plain.get(which)
    if until is None:
        return False
    if until > time.monotonic():
        return True
    cache._plain.pop(which, None)
    return False


def _remember_plain(cache: Cache, which: Which) -> None:
    plain = cache._plain
    if len(plain) >= PLAIN_ENTRIES and which not in plain:
        with contextlib.suppress(StopIteration, RuntimeError, KeyError):
            del plain[next(iter(plain))]
    plain[which] = time.monotonic() + PLAIN_SECONDS


def _flights(cache: Cache, loop: asyncio.AbstractEventLoop) -> dict[Which, _Flight]:
    flights = cache._flights.get(loop)
    if flights is None:
        with cache._lock:  # (other loops' threads add theirs)
            flights = cache._flights.setdefault(loop, {})
    return flights


async def _wait_for(flight: _Flight) -> None:
    notes = WAITING_FOR.get()
    if notes is None:
        await flight.done.wait()
        return
    note = "waiting for the identical request in flight (the cache collapses them)"
    notes.append(note)
    await flight.done.wait()
    notes.remove(note)


# -- conversions ----------------------------------------------------------------------------------


#: Request headers stored as a digest only: ``Vary`` on them still matches, and no secret
#: lies in the store.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def _digest(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def _header_lists(headers: Any) -> hishel.Headers:
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():
        grouped.setdefault(name.lower(), []).append(value)
    return hishel.Headers(grouped)


def _without_cookies(kept: hishel.Response) -> hishel.Response:
    if "set-cookie" not in kept.headers:
        return kept
    lists = {name: kept.headers.get_list(name) or [] for name in kept.headers}
    del lists["set-cookie"]
    return replace(kept, headers=hishel.Headers(lists))


def _to_hishel(request: Request, key: str) -> hishel.Request:
    """The request as hishel sees it and the store keeps it: its URL is the key (a digest,
    and entries under one key are for one URL), secret headers are digests."""
    grouped: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        grouped.setdefault(lower, []).append(
            _digest(value) if lower in _SECRET_HEADERS else value
        )
    return hishel.Request(method=request.method, url=key, headers=hishel.Headers(grouped))


def _response_to_hishel(response: Response) -> hishel.Response:
    return hishel.Response(
        status_code=response.status_code, headers=_header_lists(response.headers)
    )


def _with_validators(request: Request, conditional: hishel.Headers) -> Request:
    """``request`` with the validators hishel chose (``If-None-Match``,
    ``If-Modified-Since``); ``request`` itself when there are none."""
    added = {
        name: value
        for name in ("If-None-Match", "If-Modified-Since")
        if (value := conditional.get(name)) is not None
    }
    if not added:
        return request
    sent = request._clone()
    sent.headers = headers = request.headers.copy()
    headers.update(added)
    return sent


def _headers_of(kept: hishel.Response) -> CIMultiDictProxy[str]:
    """A stored response's headers as a live one's: the names capitalized, as most servers
    send them (hishel keeps them in lower case)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name in kept.headers:
        spelled = "-".join(part.capitalize() for part in name.split("-"))
        for value in kept.headers.get_list(name) or ():
            headers.add(spelled, value)
    return CIMultiDictProxy(headers)


def _stored(
    status: int,
    headers: CIMultiDictProxy[str],
    body: bytes,
    request: Request,
    call: Call,
    started: float,
    *,
    revalidated: bool = False,
) -> Response:
    """A stored response as the mylib Response the caller gets.

    Raises:
        ResponseTooLarge: the body is larger than the request's ``max_body_size`` (a stream
            checks its limit as it is read).
    """
    limit = request.max_body_size
    if not call.stream and limit is not None and len(body) > limit:
        raise body_too_large(limit, request)
    response = Response(
        status,
        headers=headers,
        content=b"" if call.stream else body,
        request=request,
        url=str(request.url),
        elapsed=datetime.timedelta(seconds=asyncio.get_running_loop().time() - started),
        attempts=0,
    )
    response.from_cache = True
    response.revalidated = revalidated
    if call.stream:
        response._body = BytesBody(body)
    if call.config.json_loads is not None:
        response._json_loads = call.config.json_loads
    return response


def _not_cached(request: Request) -> Response:
    """RFC 9111 §5.2.1.7: ``only-if-cached`` with nothing to serve is a 504."""
    return Response(
        504,
        text="not in the cache, and the request said only-if-cached",
        request=request,
        attempts=0,
    )


def _directives(value: str | None) -> frozenset[str]:
    """The directive names of a request's ``Cache-Control``, lower case."""
    if not value:
        return frozenset()
    return frozenset(part.split("=", 1)[0].strip().lower() for part in value.split(","))


class _StoredBody:
    """A stored body, read piece by piece from the store (one worker call per stored row of
    128 KiB), so a large stored response streams in flat memory (the ResponseBody
    interface)."""

    __slots__ = ("_pieces",)

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces: Iterator[bytes] | None = pieces

    async def read(self) -> bytes:
        """The rest of the body."""
        parts = []
        while piece := await self.read_some():
            parts.append(piece)
        return b"".join(parts)

    async def read_some(self) -> bytes:
        """The next stored piece; ``b""`` at the end."""
        if self._pieces is None:
            return b""
        piece = await in_worker(next_piece, self._pieces)
        if not piece:
            self._pieces = None
        return piece

    def release(self) -> None:
        """Read to the end: nothing to give back."""
        self._pieces = None

    def abort(self) -> None:
        """Closed early: the rest is not read."""
        self._pieces = None

    def on_drop(self, callback: Callable[[], None]) -> None:
        """Never called: no connection holds a stored body."""


class _SavingBody:
    """A streamed body that, read to its end, is stored (the ResponseBody interface).

    Pieces are kept as they pass (up to the largest entry stored); reaching the end stores
    them before the end is reported, so a request made after the stream was read finds the
    entry. A body closed early, or larger than that, is not stored.
    """

    __slots__ = ("_inner", "_pieces", "_save", "_size")

    def __init__(self, inner: ResponseBody, save: Callable[[list[bytes]], Any]) -> None:
        self._inner = inner
        self._save = save
        self._pieces: list[bytes] | None = []
        self._size = 0

    def _keep(self, piece: bytes) -> None:
        if self._pieces is not None:
            self._size += len(piece)
            if self._size > MAX_ENTRY:
                self._pieces = None
            else:
                self._pieces.append(piece)

    async def _finished(self) -> None:
        pieces, self._pieces = self._pieces, None
        if pieces is not None:
            await self._save(pieces)

    async def read(self) -> bytes:
        """The rest of the body (then stored)."""
        data = await self._inner.read()
        self._keep(data)
        await self._finished()
        return data

    async def read_some(self) -> bytes:
        """The next piece; at the end (``b""``) the body is stored first."""
        piece = await self._inner.read_some()
        if piece:
            self._keep(piece)
        else:
            await self._finished()
        return piece

    def release(self) -> None:
        """The body was read to its end."""
        self._inner.release()

    def abort(self) -> None:
        """Closed early: nothing is stored."""
        self._pieces = None
        self._inner.abort()

    def on_drop(self, callback: Callable[[], None]) -> None:
        """As the inner body's."""
        self._inner.on_drop(callback)
