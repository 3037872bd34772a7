"""AsyncClient: the engine. All HTTP logic lives here and in the pipeline, once, for both clients.

The blocking :class:`~mylib.Client` is a facade that runs this engine on mylib's I/O loop.
Request building (``mylib/_build.py``: URL joining, header merging, body encoding) is plain
code with no I/O and runs in the caller's thread; sending runs on the loop that awaits it,
through the pipeline (``mylib/_pipeline/``) to the transport (``mylib/_transports/``).

The engine's internal interface, for the blocking facade and the features (streams, map,
downloads, make_sync), is the public methods plus the module functions at the end of this
file (:func:`open_response`, :func:`ensure_open`, :func:`needs_loop_to_close`,
:func:`mark_closed`); nothing
outside this module reads an AsyncClient's private attributes (a layering test checks it).
"""

from __future__ import annotations

import asyncio
import builtins
import copyreg
import dataclasses
import enum
import ssl
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Unpack

from ._build import build_request
from ._cache import Cache
from ._config import check_cookies, make_config, proxy_for
from ._cookies import Cookies
from ._errors import ClientClosedError, Error, TimeoutError, redact_url, shorten
from ._limits import Limits
from ._models import DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, WAITING_FOR, Request, Response
from ._pipeline import Call, chain, steps_for
from ._transports.aiohttp import AiohttpTransport
from ._transports.base import AsyncTransport
from ._types import (
    AuthTypes,
    CacheTypes,
    CertTypes,
    CookieTypes,
    HeaderTypes,
    QueryParamTypes,
    RateLimitTypes,
    RequestOptions,
    RetryTypes,
    TimeoutTypes,
    URLTypes,
    VerifyTypes,
)

if TYPE_CHECKING:  # the stream/map/download methods import these lazily
    import os
    import pathlib
    from collections.abc import AsyncIterable, AsyncIterator, Iterable

    from ._stream import AsyncStreamContext

__all__ = [
    "AsyncClient",
    "ClientState",
    "ensure_open",
    "mark_closed",
    "needs_loop_to_close",
    "open_response",
]


class ClientState(enum.Enum):
    """A client's life: open until closed; a closed client refuses requests."""

    OPEN = "open"
    CLOSED = "closed"


_CLOSED_MESSAGE = (
    "this client has been closed; make a new one (there is no need to close mylib clients: "
    "they close themselves when their event loop or the program ends)"
)


class AsyncClient:
    """An HTTP client for async code that closes itself when its event loop ends.

    Make it anywhere, even at import time, outside any loop; use it from any loop. Each loop
    gets its own connection pool, closed by that loop's shutdown (``asyncio.run`` does it),
    so nothing has to be closed by hand. ``async with`` and :meth:`aclose` work too.

    Example::

        client = mylib.AsyncClient("https://api.example.com", timeout=10)

        async def main():
            r = await client.get("/items", params={"page": 2})
            return r.raise_for_status().json()

        asyncio.run(main())

    Subclass it to write an API wrapper; :func:`mylib.make_sync` gives the blocking twin.

    Args:
        base_url: Prefix for relative URLs, joined like httpx: ``https://h/v1`` + ``/x`` ->
            ``https://h/v1/x``.
        headers: Sent with every request (a request's own headers win).
        params: Query parameters added to every request (a request's own win).
        cookies: The client's cookies (:attr:`cookies` is the live jar): a dict of name ->
            value, sent with every request (a request's own win) but never to another origin
            on a redirect; or a :class:`Cookies` or :class:`http.cookiejar.CookieJar` (a
            requests ``RequestsCookieJar``, a browser-cookie loader's jar), used as the
            client's jar itself. The jar keeps the cookies servers set and sends each where
            its domain and path say (IP hosts such as 127.0.0.1 included).
        auth: ``(user, password)`` for HTTP Basic auth, :class:`BearerAuth`,
            :class:`DigestAuth`, your own :class:`Auth`, or a callable ``fn(request)``; used
            for every request (a bare str is refused: say BearerAuth or a tuple).
        timeout: Seconds for the whole request, or a :class:`Timeout`; the default allows
            10 s to connect, 60 s of server silence and 120 s for a response's headers
            once its request is sent, and never cuts off a body that keeps arriving.
            ``None`` disables it.
        retries: How many times to retry idempotent requests that failed to connect or got
            429/502/503/504, or a :class:`Retry` for finer control. Default 0.
        follow_redirects: Follow 3xx redirects (default True, like requests).
        max_redirects: How many redirects to follow before :class:`TooManyRedirects`.
        verify: True (verify TLS with the system's CAs), False (do not verify: anyone on the
            network path can read and change the traffic), a CA bundle path, or an
            ``ssl.SSLContext``.
        cert: A client certificate: a PEM path, or ``(certfile, keyfile)``.
        proxy: A proxy URL for every request: ``http(s)://``, or SOCKS (``socks5://``,
            ``socks5h://`` where the proxy resolves names, ``socks4://``, ``socks4a://``;
            needs ``pip install aiohttp-socks``).
        trust_env: Use HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY from the environment
            (read once, when the client is made; SOCKS URLs too).
        event_hooks: ``{"request": [fn, ...], "response": [fn, ...]}``, called for every
            request sent and response received (an answer from the cache is neither).
            ``async def`` hooks run on the loop; plain functions run in a worker thread, so
            they may block or use mylib's blocking API.
        json_dumps: Encodes ``json=`` bodies (returns str or bytes); default ``json.dumps``.
        json_loads: Decodes ``Response.json()``; default ``json.loads``.
        transport: What sends the requests, instead of mylib's aiohttp engine: a
            :class:`MockTransport` in tests, or your own :class:`AsyncTransport` (which may
            wrap another). ``verify``, ``cert``, ``proxy`` and ``limits`` configure the
            default engine only; everything else (auth, redirects, retries, hooks, cookies,
            the rate limit) still applies.
            A transport you give stays yours: closing the client does not close it.
        rate_limit: At most so many requests per second to each origin: a number, a
            :class:`RateLimit` (share one object between clients to share its budget; it
            also obeys the server's ``Retry-After`` and rate-limit headers, which are not
            looked at without one), or a dict of host (``"api.example.com"``;
            ``"*.example.com"`` for its subdomains, not itself; ``"*"`` for the rest) to
            either. Default None: no limit.
        limits: The connection pool of the default engine, a :class:`Limits`: how many
            connections in all and per host, how long idle ones are kept. Default
            ``Limits()``: 100 in all, 15 s.
        max_body_size: The most bytes of body (counted after decompression) a response
            may have before :class:`ResponseTooLarge`, raised as soon as it is passed with
            the connection closed; ``None`` for no limit. By default a response read whole
            may have 256 MiB and a stream or download has no limit; a limit given here
            binds streams and downloads too.
        cache: An HTTP cache that follows the standard (RFC 9111): True for a SQLite file
            in your user cache folder, a file path, ``":memory:"``, a ``redis://`` URL, or a
            :class:`Cache` for its options (needs hishel: ``pip install 'hishel>=2,<3'``). Fresh
            responses are answered from it without a request, stale ones revalidated, and
            identical requests in flight sent once; ``response.from_cache`` tells. Default
            None: no cache.

    Raises:
        TypeError: an option has the wrong type (the message names it).
        ValueError: an option has an impossible value (e.g. a negative timeout).
        InvalidURL: ``base_url`` is not an http(s) URL, or ``proxy`` not a proxy URL.
        ImportError: a SOCKS ``proxy``, a Redis ``RateLimit`` store or a ``cache`` without
            its extra.
    """

    def __init__(
        self,
        base_url: URLTypes | None = None,
        *,
        headers: HeaderTypes | None = None,
        params: QueryParamTypes | None = None,
        cookies: CookieTypes | None = None,
        auth: AuthTypes = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        retries: RetryTypes = 0,
        follow_redirects: bool = True,
        max_redirects: int = 10,
        verify: VerifyTypes = True,
        cert: CertTypes = None,
        proxy: URLTypes | None = None,
        trust_env: bool = True,
        json_dumps: Callable[[Any], bytes | str] | None = None,
        json_loads: Callable[..., Any] | None = None,
        event_hooks: Mapping[str, Sequence[Callable[[Any], Any]]] | None = None,
        transport: AsyncTransport | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        rate_limit: RateLimitTypes = None,
        limits: Limits | None = None,
        cache: CacheTypes = None,
    ) -> None:
        # The signature is the one list of the options (the mirror test keeps Client's the
        # same); make_config takes them all by name and validates each. This is the first
        # statement, so nothing but the parameters is local yet.
        options = dict(locals())
        del options["self"], options["transport"]
        self._config = config = make_config(**options)
        #: The options as given: what a pickled client carries (``__reduce__``).
        self._given = options
        #: Closing closes the transport the client made, never one it was given.
        self._owns_transport = transport is None
        if transport is None:
            transport = AiohttpTransport(
                ssl=config.ssl, proxy=lambda url: proxy_for(config, url), limits=config.limits
            )
        elif not isinstance(transport, AsyncTransport):
            raise TypeError(
                f"transport must be a mylib.AsyncTransport (e.g. mylib.MockTransport), "
                f"not {type(transport).__name__}"
            )
        self._transport = transport
        self._handler = chain(steps_for(config))
        self._state = ClientState.OPEN
        self._active: set[asyncio.Task[Any]] = set()

    def __reduce__(self) -> tuple[Any, ...]:
        """A client pickles as its configuration (the options it was made with, its cookies
        as they are now, a transport it was given), never its connections: unpickled, it
        opens its own, on the loop of whatever process uses it, when it first sends. The
        attributes a subclass set travel too.

        Raises:
            TypeError: an option that cannot travel: an ``ssl.SSLContext`` (give a CA bundle
                path instead), a lambda or local function as a hook, auth or JSON function.
        """
        return (
            _rebuild,
            (type(self), picklable_options(self), _own_attributes(self), self.closed),
        )

    def __repr__(self) -> str:
        base = f" base_url={redact_url(self._config.base_url)!r}" if self._config.base_url else ""
        cls = type(self)
        name = "mylib.AsyncClient" if cls is AsyncClient else cls.__name__
        return f"<{name}{base} state={self._state.value}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._state is ClientState.CLOSED

    @property
    def base_url(self) -> str | None:
        """The base URL relative URLs are joined to, or None."""
        return str(self._config.base_url) if self._config.base_url else None

    @property
    def cache(self) -> Cache | None:
        """The client's HTTP :class:`Cache` (``client.cache.clear()`` empties it), or None."""
        return self._config.cache

    @property
    def transport(self) -> AsyncTransport:
        """What sends this client's requests: the ``transport=`` given, or mylib's aiohttp
        engine, which you may wrap in a transport of your own for another client.

        Clients that share mylib's engine share its connection pools (each keeps its own
        cookies); the engine closes with the client that made it (and at exit, as always)."""
        return self._transport

    @property
    def cookies(self) -> Cookies:
        """The client's cookie jar, live: what servers set, and what you set (see
        :class:`Cookies`). ``client.cookies.jar`` is the standard
        :class:`http.cookiejar.CookieJar` underneath, to save or load a login."""
        return self._config.cookies

    @cookies.setter
    def cookies(self, value: CookieTypes) -> None:
        """Replace the jar (a dict, a :class:`Cookies` or a CookieJar, as ``cookies=``);
        requests already under way keep the one they started with."""
        self._config = dataclasses.replace(self._config, cookies=Cookies(check_cookies(value)))

    def _check_open(self) -> None:
        if self._state is not ClientState.OPEN:
            raise ClientClosedError(_CLOSED_MESSAGE)

    # -- building (no I/O; runs in the caller's thread) -------------------------------------

    def build_request(
        self, method: str, url: URLTypes, **options: Unpack[RequestOptions]
    ) -> Request:
        """The :class:`Request` that ``request(method, url, **options)`` would send.

        Every request the client makes from options (``request`` and the verbs, ``stream``,
        ``map``, ``download``, and the blocking twins of each) is built here, so a subclass
        may override it, e.g. to sign requests.

        Raises:
            TypeError: an option has the wrong type, is unknown, or conflicts with another.
            ValueError: an option has an impossible value.
            InvalidURL: the URL is not http(s) with a host.
        """
        return build_request(self._config, method, url, **options)

    # -- sending (on the running loop) ------------------------------------------------------

    async def send(self, request: Request) -> Response:
        """Send a built :class:`Request`: auth, redirects and retries as configured.

        Raises:
            ClientClosedError: the client was closed.
            TimeoutError: the request's total timeout passed (the work is cancelled);
                ``error.attempts`` says how many tries the last hop took.
            TransportError: no whole response (see the exception tree in ``mylib``).
        """
        return await self._send(request, stream=False)

    async def _send(self, request: Request, *, stream: bool) -> Response:
        """:meth:`send`, shared with streams (``stream=True``): then the final response comes
        back with its body unread (owned by the caller), and the total timeout has covered
        only getting it, as httpx's ``send(request, stream=True)``."""
        self._check_open()
        task = asyncio.current_task()
        active = self._active
        if task is not None:
            active.add(task)
        total = request.timeout.total
        deadline = None if total is None else asyncio.get_running_loop().time() + total
        call = Call(self._config, self._transport, deadline, stream, origin=request.url.parsed)
        try:
            if total is None:
                try:
                    return await self._handler(request, call)
                except Error as exc:
                    raise shorten(exc)  # noqa: B904 (the same error, its engine frames dropped)
            scope = asyncio.timeout(total)
            waiting: list[str] = []  # what the call waits for when the timeout ends it
            token = WAITING_FOR.set(waiting)
            try:
                async with scope:
                    return await self._handler(request, call)
            except Error as exc:
                raise shorten(exc)  # noqa: B904
            except builtins.TimeoutError as exc:
                if not scope.expired():
                    raise
                what = f" while {waiting[-1]}" if waiting else ""
                error = TimeoutError(
                    f"timed out after {total} s ({request.method} {redact_url(request.url)})"
                    f"{what}",
                    request=request,
                )
                error.attempts = max(call.attempts, 1)
                raise error from exc
            finally:
                WAITING_FOR.reset(token)
        finally:
            if task is not None:
                active.discard(task)

    async def request(
        self, method: str, url: URLTypes, **options: Unpack[RequestOptions]
    ) -> Response:
        """Send an HTTP request and return its :class:`Response`, body read.

        Args:
            method: The HTTP method, e.g. ``"GET"``.
            url: An absolute URL, or one relative to the client's ``base_url``.
            params: Query parameters (a dict, values may be lists), merged with the client's.
            headers: Headers for this request; they win over the client's. ``None`` values
                remove a client header.
            cookies: Cookies for this request only (never sent to another origin).
            json: A value to send as JSON (``Content-Type: application/json``).
            data: Form fields (a dict, sent urlencoded or with ``files`` as multipart), or
                raw bytes/str.
            content: A raw body: bytes, str, a file object or an iterable of bytes
                (streamed).
            files: ``{field: file}`` or ``{field: (filename, file[, content_type])}``,
                sent as multipart/form-data.
            auth: ``(user, password)``, a :class:`BearerAuth`/:class:`DigestAuth`/:class:`Auth`
                or a callable for this request; None to send none.
            timeout: Seconds or a :class:`Timeout` for this request; None for no limit.
            follow_redirects: Whether to follow redirects for this request.
            max_body_size: The most bytes of body for this request's response (see the
                client option), or None for no limit.
            verify: TLS verification for this request (as the client option; ``cert``
                not given is the client's); it follows the request's redirects.
            cert: A client certificate for this request (as the client option).
            proxy: A proxy URL (http(s) or SOCKS) for this request, instead of the client's.
            cache: False to leave the client's cache out of this request (neither looked up
                nor stored). A request's ``Cache-Control`` header is honoured too:
                ``no-cache`` revalidates, ``only-if-cached`` never sends (504 on a miss).

        Raises:
            InvalidURL: the URL is not http(s) with a host (also a ValueError).
            TypeError: an option has the wrong type, or two kinds of body were given.
            TimeoutError: the request took too long; it was cancelled.
            TransportError: the connection failed or broke (ConnectError, ReadError, ...).
            TooManyRedirects: more than ``max_redirects`` redirects.
            ResponseTooLarge: the body passed ``max_body_size`` (256 MiB by default).
            ClientClosedError: the client was closed.
        """
        return await self.send(self.build_request(method, url, **options))

    async def get(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a GET request; options as for :meth:`request`."""
        return await self.request("GET", url, **options)

    async def options(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send an OPTIONS request; options as for :meth:`request`."""
        return await self.request("OPTIONS", url, **options)

    async def head(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a HEAD request (redirects not followed unless asked, like requests)."""
        options.setdefault("follow_redirects", False)
        return await self.request("HEAD", url, **options)

    async def post(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a POST request; options as for :meth:`request`."""
        return await self.request("POST", url, **options)

    async def put(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a PUT request; options as for :meth:`request`."""
        return await self.request("PUT", url, **options)

    async def patch(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a PATCH request; options as for :meth:`request`."""
        return await self.request("PATCH", url, **options)

    async def delete(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a DELETE request; options as for :meth:`request`."""
        return await self.request("DELETE", url, **options)

    # -- closing ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Wait for this loop's requests still in flight, then close the client.

        Sessions on other loops are closed on their own loops. Closing twice is harmless.
        There is no need to call it: the client closes itself when its loop ends.
        """
        if self._state is ClientState.CLOSED:
            return
        self._state = ClientState.CLOSED
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        in_flight = [t for t in self._active if t is not me and t.get_loop() is loop]
        if in_flight:
            await asyncio.wait(in_flight)
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- streams, map and downloads (issue 5) --
    # The logic lives in _stream, _map and _download; imported here, lazily, because those
    # modules build on this one.

    def stream(
        self, method: str, url: URLTypes, **options: Unpack[RequestOptions]
    ) -> AsyncStreamContext:
        """Send a request and read its body as it arrives: ``async with`` the result.

        Example::

            async with client.stream("GET", url) as r:
                async for chunk in r.aiter_bytes(1 << 20):
                    ...

        It goes through the same pipeline as :meth:`request`: auth flows, event hooks,
        cookies, retries and redirects (the bodies of responses not returned are read and
        their connections reused). Response hooks see the final response before its body
        is read (``content`` is empty). ``timeout``'s total covers getting the final
        headers, its ``read`` limit every wait for the body. Leaving the block closes the
        stream and frees the connection.

        Raises:
            The errors of :meth:`request`, when the block is entered.
        """
        from ._stream import AsyncStreamContext

        return AsyncStreamContext(self, self.build_request(method, url, **options))

    async def map(
        self,
        method: str,
        urls: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 10,
        return_exceptions: bool = False,
        progress: bool = False,
        executor: Any = None,
        batch_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> list[Any]:
        """Send many requests at once, at most ``concurrency`` at a time; responses in order.

        ``urls`` is any iterable (or async iterable) of URLs, :class:`Request` objects from
        :meth:`build_request` (sent as they are), or dicts of per-item options with a
        ``"url"`` key (and optionally ``"method"``) that win over ``options``. It is consumed
        lazily, so a generator of millions of URLs runs in bounded memory.

        ``executor`` (a ``concurrent.futures.Executor`` such as a ``ProcessPoolExecutor``
        with any start method, or a ``dask.distributed.Client``) spreads the work over its
        worker processes: the items are cut into batches of ``batch_size`` (default: ten per
        request in flight, at least 100), each batch runs ``map`` on this client as pickled
        to a worker (one I/O loop per worker process; its batches share connections), and
        the results come back in input order. ``concurrency`` is per worker. Items and
        ``options`` must pickle; the client travels as its configuration (its credentials
        too, as with requests).

        Example::

            rs = await client.map("GET", (f"/items/{i}" for i in range(1000)), concurrency=50)

        Raises:
            ValueError: ``concurrency`` < 1 (before anything is sent).
            TypeError: ``urls`` is not iterable, or an item is not a URL, Request or dict (the
                message names its index; list/tuple items are all checked before sending).
            ImportError: ``progress=True`` and tqdm is not installed.
            The first request's error, after cancelling the others, unless
            ``return_exceptions`` is true: then that position holds the mylib error.
        """
        from ._map import collect_async

        return await collect_async(
            self, method, urls, concurrency=concurrency, return_exceptions=return_exceptions,
            progress=progress, options=options, executor=executor, batch_size=batch_size,
        )

    def as_completed(
        self,
        method: str,
        urls: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 10,
        return_exceptions: bool = False,
        executor: Any = None,
        batch_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncIterator[tuple[int, Any]]:
        """Like :meth:`map`, but yield ``(index, response)`` pairs as they complete.

        Example::

            async with contextlib.aclosing(client.as_completed("GET", urls)) as results:
                async for i, r in results:
                    ...

        Closing the iterator early cancels the requests still in flight. ``executor`` and
        ``batch_size`` spread the work over worker processes as for :meth:`map` (the items
        must then be a plain iterable).

        Raises:
            The same errors as :meth:`map`.
        """
        from ._map import check_concurrency, check_items, map_async_iter

        if executor is not None:
            from collections.abc import Iterator

            from ._distributed import as_executor, check_batch_size, distributed_aiter

            items = check_items(urls)
            assert isinstance(items, Iterator)
            concurrency = check_concurrency(concurrency)
            check_batch_size(batch_size, concurrency)  # (at once, as without an executor)
            return distributed_aiter(
                self, method, items, executor=as_executor(executor), batch_size=batch_size,
                concurrency=concurrency, return_exceptions=return_exceptions, options=options,
            )
        return map_async_iter(
            self, method, check_items(urls, allow_async=True),
            concurrency=check_concurrency(concurrency), return_exceptions=return_exceptions,
            options=options,
        )

    async def download(
        self,
        url: URLTypes,
        path: str | os.PathLike[str],
        *,
        progress: bool = False,
        chunk_size: int | None = None,
        resume: bool = False,
        **options: Unpack[RequestOptions],
    ) -> pathlib.Path:
        """Download ``url`` to ``path`` and return the path; all or nothing.

        The body goes to a temporary file beside ``path``, renamed only when complete and as
        long as the server said (Content-Length, or Content-Range's full size); a failed
        download leaves no file behind. File writes go through the loop's executor.
        ``chunk_size`` sets the write size (default: as the body arrives, in large pieces).

        ``resume=True`` writes to ``.<name>.part`` beside ``path`` and keeps it when the
        download fails or is interrupted; the next ``resume=True`` call for the same path
        asks only for the rest (``Range``, with ``If-Range`` so a changed file is fetched
        whole again). A server without Range support sends everything again, which is
        written from the start. Run one download per path at a time.

        Example: ``await client.download(url, "data/big.iso", resume=True)``

        Raises:
            FileNotFoundError: the target's folder does not exist (before the request).
            ValueError: ``resume=True`` with a Range header of your own.
            HTTPStatusError: the server answered 4xx/5xx.
            ReadError: the body broke off or is shorter than the full size announced (with
                ``resume``, the partial file is kept and the error's note names it).
            The errors of :meth:`request`.
        """
        from ._download import download_async

        return await download_async(
            self, url, path, progress=progress, chunk_size=chunk_size, resume=resume,
            options=dict(options),
        )


# -- the engine's internal interface for the facade and the features ---------------------------


#: The attributes of AsyncClient itself: a pickled client carries the others (a subclass's).
_ENGINE_ATTRIBUTES = frozenset(
    {"_config", "_given", "_owns_transport", "_transport", "_handler", "_state", "_active"}
)


def picklable_options(client: AsyncClient) -> dict[str, Any]:
    """The options that rebuild ``client`` in another process.

    Raises:
        TypeError: one that cannot be pickled, named with what to give instead.
    """
    options = dict(client._given)
    options["cookies"] = client._config.cookies  # as they are now (it pickles its cookies)
    if isinstance(options.get("verify"), ssl.SSLContext):
        raise TypeError(
            "a client with verify= an ssl.SSLContext cannot be pickled (a context holds "
            "OpenSSL state); give verify= a CA bundle path and cert= the certificate files "
            "instead"
        )
    if not client._owns_transport:
        if isinstance(client._transport, AiohttpTransport):
            raise TypeError(
                "a client given another client's transport cannot be pickled (the engine "
                "holds connections); give it its own options instead"
            )
        options["transport"] = client._transport
    hooks = client._config.event_hooks
    named: list[tuple[str, object]] = [
        (f"event_hooks[{event!r}]", hook) for event, fns in hooks.items() for hook in fns
    ]
    named += [(name, options.get(name)) for name in ("auth", "json_dumps", "json_loads")]
    for name, value in named:
        if value is not None and _is_local(value):
            raise TypeError(
                f"the client cannot be pickled: its {name} is {value!r}, which pickle "
                "cannot send (a lambda or a function defined inside another); use a function "
                "defined at module level"
            )
    return options


def _is_local(value: object) -> bool:
    qualname = getattr(value, "__qualname__", "")
    return "<lambda>" in qualname or "<locals>" in qualname


def _own_attributes(client: AsyncClient) -> dict[str, Any]:
    """A subclass's attributes: its ``__dict__`` (but the engine's) and its slots."""
    own = {k: v for k, v in vars(client).items() if k not in _ENGINE_ATTRIBUTES}
    for name in copyreg._slotnames(type(client)):  # type: ignore[attr-defined]
        if name not in ("__dict__", "__weakref__") and hasattr(client, name):
            own[name] = getattr(client, name)
    return own


def _rebuild(
    cls: type[AsyncClient], options: dict[str, Any], attributes: dict[str, Any],
    closed: bool = False,
) -> AsyncClient:
    client = cls.__new__(cls)
    AsyncClient.__init__(client, **options)
    for name, value in attributes.items():
        object.__setattr__(client, name, value)
    if closed:  # a closed client stays closed wherever it goes
        client._state = ClientState.CLOSED
    return client


async def open_response(client: AsyncClient, request: Request) -> Response:
    """Send ``request`` through the whole pipeline and return the final response as soon as
    its headers are in, its body still on the wire: the caller owns it (``detach_body()``,
    then release or abort it). The total timeout covers getting the headers."""
    return await client._send(request, stream=True)


def ensure_open(client: AsyncClient) -> None:
    """Raise :class:`ClientClosedError` if ``client`` was closed (safe from any thread)."""
    client._check_open()


def needs_loop_to_close(client: AsyncClient) -> bool:
    """Whether closing ``client`` has anything to do on a loop (False: never used)."""
    if client._active:
        return True  # requests in flight, which closing waits for
    return client._owns_transport and client._transport.in_use()


def mark_closed(client: AsyncClient) -> None:
    """Mark ``client`` closed without closing anything (nothing open, or already swept)."""
    client._state = ClientState.CLOSED
