"""The cache step's work on the loop: hishel's state machine driven with the pipeline's
``send``, and the store called in workers (``storage.py``).

One request, in order: look up (a worker call: entries read, hishel decides, a hit's body
read); a hit is answered at once. ``only-if-cached`` then answers 504 without a request.
A stale entry is revalidated (the validators hishel chose are added to the request); if
that fails (no connection, a 5xx) and stale answers are allowed, the stale entry is served.
Otherwise the request goes out and hishel's verdict on the response is carried out:
invalidate, refresh the stored headers after a 304 and serve the stored body, or store.
A streamed response is stored once it was read to its end (:class:`_SavingBody`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import hashlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import hishel
from hishel._core._headers import parse_cache_control
from hishel._core._spec import get_age, get_freshness_lifetime
from multidict import CIMultiDict, CIMultiDictProxy

from .._errors import TransportError
from .._logging import log_cache
from .._models import WAITING_FOR, Response
from .._transports.base import BytesBody
from .storage import MAX_ENTRY, in_worker, lookup, remove, store, update

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._models import Request, ResponseBody
    from .._pipeline import Call, Handler
    from . import Cache

__all__ = ["answer", "options_for"]

#: The methods whose responses are stored (and whose identical requests collapse).
_STORED_METHODS = ("GET", "HEAD")
#: The hot set (see the package's docstring): how long at most, how many, how large.
HOT_SECONDS = 1.0
HOT_ENTRIES = 256
HOT_BODY = 1 << 20


def options_for(shared: bool) -> hishel.CacheOptions:
    """hishel's options for a shared (or private) cache."""
    return hishel.CacheOptions(shared=shared, supported_methods=list(_STORED_METHODS))


class _Hot:
    """A fresh hit kept in memory: the ``Vary`` values it was found for, until when."""

    __slots__ = ("body", "response", "until", "vary")

    def __init__(
        self, vary: tuple[tuple[str, Any], ...], response: hishel.Response, body: bytes,
        until: float,
    ) -> None:
        self.vary, self.response, self.body, self.until = vary, response, body, until


def _hot_hit(cache: Cache, which: tuple[str, str], sent: hishel.Request) -> _Hot | None:
    hot: _Hot | None = cache._hot.get(which)
    if hot is None:
        return None
    if hot.until <= time.monotonic():
        cache._hot.pop(which, None)
        return None
    for name, value in hot.vary:
        if sent.headers.get_list(name) != value:
            return None
    return hot


def _keep_hot(
    cache: Cache, which: tuple[str, str], sent: hishel.Request, kept: hishel.Response,
    body: bytes, fresh_for: float,
) -> None:
    if fresh_for <= 0 or len(body) > HOT_BODY:
        return
    names = [n.strip().lower() for n in (kept.headers.get("vary") or "").split(",") if n.strip()]
    if "*" in names:
        return
    hot = cache._hot
    if len(hot) >= HOT_ENTRIES and which not in hot:
        with contextlib.suppress(StopIteration, RuntimeError, KeyError):
            del hot[next(iter(hot))]  # the oldest (another loop's thread may race: fine)
    vary = tuple((name, sent.headers.get_list(name)) for name in names)
    hot[which] = _Hot(vary, kept, body, time.monotonic() + min(fresh_for, HOT_SECONDS))


def _forget_hot(cache: Cache, key: str) -> None:
    for method in _STORED_METHODS:
        cache._hot.pop((method, key), None)


class _Flight:
    """A cacheable request in flight, which identical ones wait for."""

    __slots__ = ("done", "stored")

    def __init__(self) -> None:
        self.done = asyncio.Event()
        #: Whether its answer is in the store (the waiters then look it up).
        self.stored = False


async def answer(cache: Cache, send: Handler, request: Request, call: Call) -> Response:
    """Answer ``request`` from ``cache`` or through ``send`` (the rest of the pipeline)."""
    loop = asyncio.get_running_loop()
    key = _key(cache, request)
    if request.method not in _STORED_METHODS or "Range" in request.headers:
        return (await _run(cache, send, request, call, key, loop.time()))[0]
    flights = _flights(cache, loop)
    which = (request.method, key)
    flight = flights.get(which)
    if flight is not None:
        log_cache(request.method, request.url.parsed, "waits for the identical request in flight")
        await _wait_for(flight)
        # The leader's answer is stored (a hit now), or it was not and this goes out alone.
        return (await _run(cache, send, request, call, key, loop.time()))[0]
    flights[which] = flight = _Flight()
    try:
        response, flight.stored = await _run(cache, send, request, call, key, loop.time())
        return response
    finally:
        flight.done.set()
        if flights.get(which) is flight:
            del flights[which]


def _flights(cache: Cache, loop: asyncio.AbstractEventLoop) -> dict[Any, _Flight]:
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


def _key(cache: Cache, request: Request) -> str:
    # A digest: no URL, token or password ends up in a file, a Redis key or a log line.
    text = str(request.url)
    if not cache.shared:
        # A private cache keeps each user's answers apart, whoever the server forgot to Vary.
        credentials = request.headers.get("Authorization")
        if credentials:
            text = f"{text}\n{credentials}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


async def _run(
    cache: Cache, send: Handler, request: Request, call: Call, key: str, started: float
) -> tuple[Response, bool]:
    """The answer, and whether it is in the store."""
    url = request.url.parsed
    sent = _to_hishel(request, key)
    directives = _directives(request.headers.get("Cache-Control"))
    which = (request.method, key)
    if not directives and (hot := _hot_hit(cache, which, sent)) is not None:
        log_cache(request.method, url, "hit")
        return _stored(hot.response, hot.body, request, call, started), True
    state, body, fresh_for = await in_worker(lookup, cache, sent, key)
    if isinstance(state, hishel.FromCache):
        assert body is not None
        log_cache(request.method, url, "hit")
        if not directives:
            _keep_hot(cache, which, sent, state.entry.response, body, fresh_for)
        return _stored(state.entry.response, body, request, call, started), True
    verdict: Any  # what hishel decided about the origin's response
    if "only-if-cached" in directives:
        log_cache(request.method, url, "miss, only-if-cached: 504 without a request")
        return _not_cached(request), False
    if isinstance(state, hishel.NeedRevalidation):
        stale = state.revalidating_entries[0]
        log_cache(request.method, url, "stale, revalidating")
        try:
            response = await send(_with_validators(request, state.request.headers), call)
        except TransportError as exc:
            served = await _stale(cache, stale, request, call, started, type(exc).__name__)
            if served is None:
                raise
            return served, True
        if response.status_code >= 500 and _stale_allowed(cache, stale.response):
            await response.aread()
            served = await _stale(cache, stale, request, call, started, str(response.status_code))
            if served is not None:
                return served, True
        elif response.status_code == 304:
            await response.aread()  # (a stream's: nothing, but the connection goes back)
        verdict = state.next(_response_to_hishel(response))
    else:
        if request.method in _STORED_METHODS:
            log_cache(request.method, url, "miss")
        response = await send(request, call)
        verdict = state.next(_response_to_hishel(response))
    return await _carry_out(cache, verdict, send, request, call, key, response, started)


async def _carry_out(
    cache: Cache,
    state: Any,
    send: Handler,
    request: Request,
    call: Call,
    key: str,
    response: Response,
    started: float,
) -> tuple[Response, bool]:
    """Do what hishel decided about ``response``."""
    while True:
        if isinstance(state, hishel.InvalidateEntries):
            _forget_hot(cache, key)
            await in_worker(remove, cache, state.entry_ids)
            state = state.next()
        elif isinstance(state, hishel.NeedToBeUpdated):
            _forget_hot(cache, key)
            serve = state.next().entry
            body = await in_worker(update, cache, state.updating_entries, serve)
            if body is not None:
                log_cache(
                    request.method, request.url.parsed, "revalidated (304), stored body served"
                )
                stored = _stored(serve.response, body, request, call, started, revalidated=True)
                stored.attempts = response.attempts
                return stored, True
            response = await send(request, call)  # the entry went meanwhile: ask in full
            state = hishel.CacheMiss(request=_to_hishel(request, key), options=cache._options)
            state = state.next(_response_to_hishel(response))
        elif isinstance(state, hishel.CacheMiss):  # a 304 that matched no entry
            await response.aread()
            response = await send(request, call)
            state = state.next(_response_to_hishel(response))
        elif isinstance(state, hishel.StoreAndUse) and _may_store(cache, request, response):
            _forget_hot(cache, key)
            sent = _to_hishel(request, key)
            # The jar took the response's cookies when it arrived; a session cookie is not
            # to lie in a file or in Redis.
            kept = state.response
            if "set-cookie" in kept.headers:
                kept = replace(kept, headers=hishel.Headers(
                    {n: v for n, v in _lists(kept.headers).items() if n != "set-cookie"}
                ))  # fmt: skip
            if call.stream and response._body is not None:
                saving = functools.partial(in_worker, store, cache, sent, kept, key)
                response._body = _SavingBody(response._body, saving)
                return response, False
            return response, await in_worker(store, cache, sent, kept, key, response.content)
        else:
            return response, False


def _may_store(cache: Cache, request: Request, response: Response) -> bool:
    """mylib's rules on top of hishel's: a request's own ``no-store``, and credentials."""
    if "no-store" in _directives(request.headers.get("Cache-Control")):
        return False
    if "Authorization" in request.headers and not cache.shared:
        # RFC 9111 §3.5 binds shared caches; a private one on disk (or in Redis) deserves
        # it too: an answer to credentials is kept only when the server says so.
        said = parse_cache_control(response.headers.get("Cache-Control"))
        return bool(said.public or said.s_maxage is not None or said.must_revalidate
                    or said.private)  # fmt: skip
    return True


def _stale_allowed(cache: Cache, stored: hishel.Response) -> bool:
    """Whether a stale ``stored`` response may answer when the origin fails: the Cache's
    ``stale_if_error``, or the response's own ``stale-if-error=N`` for N seconds."""
    if cache.stale_if_error:
        return True
    said = parse_cache_control(stored.headers.get("cache-control"))
    if said.stale_if_error is None:
        return False
    lifetime = get_freshness_lifetime(stored, cache.shared) or 0
    return get_age(stored) - lifetime <= said.stale_if_error


async def _stale(
    cache: Cache, entry: hishel.Entry, request: Request, call: Call, started: float, why: str
) -> Response | None:
    if not _stale_allowed(cache, entry.response):
        return None
    from .storage import read_entry

    body = await in_worker(read_entry, entry)
    if body is None:
        return None
    log_cache(request.method, request.url.parsed, f"stale, served after {why}")
    return _stored(entry.response, body, request, call, started)


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


def _lists(headers: hishel.Headers) -> dict[str, list[str]]:
    return {name: headers.get_list(name) or [] for name in headers}


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
    """``request`` with the validators hishel added (``If-None-Match``,
    ``If-Modified-Since``), unless the caller set their own."""
    sent = request._clone()
    sent.headers = headers = request.headers.copy()
    for name in ("If-None-Match", "If-Modified-Since"):
        value = conditional.get(name)
        if value is not None and name not in headers:
            headers[name] = value
    return sent


def _stored(
    kept: hishel.Response,
    body: bytes,
    request: Request,
    call: Call,
    started: float,
    *,
    revalidated: bool = False,
) -> Response:
    """A stored response as the mylib Response the caller gets."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name in kept.headers:
        for value in kept.headers.get_list(name) or ():
            headers.add(name, value)
    response = Response(
        kept.status_code,
        headers=CIMultiDictProxy(headers),
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


class _SavingBody:
    """A streamed body that, read to its end, is stored (the ResponseBody interface).

    Pieces are kept as they pass (up to the largest entry stored); reaching the end stores
    them before the end is reported, so a request made after the stream was read finds the
    entry. A body closed early, or larger than that, is not stored.
    """

    __slots__ = ("_inner", "_pieces", "_save", "_size")

    def __init__(
        self, inner: ResponseBody, save: Callable[[bytes], Any]
    ) -> None:
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
            await self._save(b"".join(pieces))

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
