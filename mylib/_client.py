"""Client: the blocking facade. Each method is one call of the engine over the I/O loop.

The engine (:class:`~mylib.AsyncClient`) lives on mylib's I/O loop thread; requests are built
in the caller's thread (no I/O) and sent on the loop. Many threads may share one Client.
"""

from __future__ import annotations

import copyreg
import os
import pathlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Unpack

from ._async_client import AsyncClient, ensure_open, mark_closed, needs_loop_to_close
from ._cache import Cache
from ._cookies import Cookies
from ._errors import ClientClosedError
from ._io import BRIDGE
from ._limits import Limits
from ._map import (
    MapResult,
    check_concurrency,
    check_items,
    collect_sync,
    keep_count,
    map_sync_iter,
)
from ._models import DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, Request, Response
from ._runtime import BridgeState
from ._stream import StreamContext, StreamResponse, open_stream
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

__all__ = ["Client"]


class Client:
    """A blocking HTTP client, as easy as requests, with aiohttp underneath.

    There is nothing to close: its connections live on mylib's I/O thread and are closed
    quietly when the program ends, however it ends. ``with Client() as c:`` and
    :meth:`close` are there when you want them. One Client may be shared by many threads.

    Example::

        client = mylib.Client("https://api.example.com", timeout=10, retries=2)
        item = client.get("/items/1").raise_for_status().json()
        client.post("/items", json={"name": "new"})

    The options are those of :class:`AsyncClient`; per-request options are documented on
    :meth:`request`.

    Raises:
        TypeError: an option has the wrong type (the message names it).
        ValueError: an option has an impossible value.
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
        # The signature is the one list of the options (the mirror test keeps it equal to
        # AsyncClient's), passed on by name. This is the first statement, so nothing but the
        # parameters is local yet.
        options = dict(locals())
        del options["self"]
        #: The engine; it runs on mylib's I/O loop.
        self._engine = AsyncClient(**options)

    def __reduce__(self) -> tuple[Any, ...]:
        """A Client pickles as its engine's configuration (see :meth:`AsyncClient.__reduce__`):
        unpickled in another process it opens its connections on that process's own I/O
        loop, when it first sends.

        Raises:
            TypeError: an option that cannot travel (an ``ssl.SSLContext``, a lambda hook).
        """
        own = {k: v for k, v in vars(self).items() if k != "_engine"}
        for name in copyreg._slotnames(type(self)):  # type: ignore[attr-defined]
            if name not in ("__dict__", "__weakref__") and hasattr(self, name):
                own[name] = getattr(self, name)
        return (_rebuild_client, (type(self), self._engine, own))

    def __repr__(self) -> str:
        return repr(self._engine).replace("mylib.AsyncClient", "mylib.Client", 1)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._engine.closed

    @property
    def base_url(self) -> str | None:
        """The base URL relative URLs are joined to, or None."""
        return self._engine.base_url

    @property
    def cache(self) -> Cache | None:
        """The client's HTTP :class:`Cache` (``client.cache.clear()`` empties it), or None."""
        return self._engine.cache

    @property
    def transport(self) -> AsyncTransport:
        """What sends this client's requests (see :attr:`AsyncClient.transport`)."""
        return self._engine.transport

    @property
    def cookies(self) -> Cookies:
        """The client's cookie jar, live (see :attr:`AsyncClient.cookies`)."""
        return self._engine.cookies

    @cookies.setter
    def cookies(self, value: CookieTypes) -> None:
        self._engine.cookies = value

    def build_request(
        self, method: str, url: URLTypes, **options: Unpack[RequestOptions]
    ) -> Request:
        """The :class:`Request` that :meth:`request` would send (no I/O)."""
        return self._engine.build_request(method, url, **options)

    def send(self, request: Request) -> Response:
        """Send a :class:`Request` made by :meth:`build_request`."""
        ensure_open(self._engine)
        return BRIDGE.call(self._engine.send, request)

    def request(self, method: str, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send an HTTP request and return its :class:`Response`, body read.

        The options (params, headers, cookies, json, data, content, files, auth, timeout,
        follow_redirects, max_body_size) are documented on :meth:`AsyncClient.request`.

        Example: ``client.request("GET", "/items", params={"page": 2})``

        Raises:
            InvalidURL: the URL is not http(s) with a host (also a ValueError).
            TypeError: an option has the wrong type, or two kinds of body were given.
            TimeoutError: the request took too long; it was cancelled.
            TransportError: the connection failed or broke (ConnectError, ReadError, ...).
            ResponseTooLarge: the body passed ``max_body_size`` (256 MiB by default).
            ClientClosedError: the client was closed, or the interpreter is exiting.
            LoopThreadError: called from a coroutine running on mylib's I/O loop.
            KeyboardInterrupt: Ctrl-C; the request was cancelled and the client stays usable.
        """
        return self.send(self._engine.build_request(method, url, **options))

    def get(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a GET request; options as for :meth:`request`."""
        return self.request("GET", url, **options)

    def options(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send an OPTIONS request; options as for :meth:`request`."""
        return self.request("OPTIONS", url, **options)

    def head(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a HEAD request (redirects not followed unless asked, like requests)."""
        options.setdefault("follow_redirects", False)
        return self.request("HEAD", url, **options)

    def post(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a POST request; options as for :meth:`request`."""
        return self.request("POST", url, **options)

    def put(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a PUT request; options as for :meth:`request`."""
        return self.request("PUT", url, **options)

    def patch(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a PATCH request; options as for :meth:`request`."""
        return self.request("PATCH", url, **options)

    def delete(self, url: URLTypes, **options: Unpack[RequestOptions]) -> Response:
        """Send a DELETE request; options as for :meth:`request`."""
        return self.request("DELETE", url, **options)

    def close(self) -> None:
        """Wait for requests in flight, then close the connections. Idempotent, and never
        needed: mylib closes every client when the program ends."""
        engine = self._engine
        if engine.closed:
            return
        if not needs_loop_to_close(engine) or BRIDGE.state is not BridgeState.RUNNING:
            # Never used (no loop to bother), or the exit sequence already swept it.
            mark_closed(engine)
            return
        try:
            BRIDGE.call(engine.aclose)
        except ClientClosedError:
            mark_closed(engine)

    def __enter__(self) -> Client:
        ensure_open(self._engine)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- streams, map and downloads (issue 5) --

    def stream(
        self, method: str, url: URLTypes, **options: Unpack[RequestOptions]
    ) -> StreamContext:
        """Send a request and read its body as it arrives: ``with`` the result.

        Example::

            with client.stream("GET", url) as r:
                for chunk in r.iter_bytes(1 << 20):
                    ...

        The body is prefetched on the I/O loop in large pieces into a small buffer, so
        memory stays flat and chunks cost no thread hop each. Leaving the block, breaking
        out of the loop or an exception in it closes the stream and frees the connection.
        See :meth:`AsyncClient.stream` for redirects and timeouts.

        Raises:
            The errors of :meth:`request`, when the block is entered.
        """
        engine = self._engine
        request = engine.build_request(method, url, **options)
        return StreamContext(
            lambda: StreamResponse(BRIDGE.call(open_stream, engine, request), BRIDGE)
        )

    def map(
        self,
        method: str,
        urls: Iterable[Any],
        *,
        concurrency: int = 10,
        return_exceptions: bool = False,
        progress: bool = False,
        executor: Any = None,
        batch_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> list[Any]:
        """Send many requests at once, at most ``concurrency`` at a time; responses in order.

        Items are URLs, :class:`Request` objects or dicts of per-item options (see
        :meth:`AsyncClient.map`). They are pulled and built in this thread, in batches, so a
        slow generator never stalls the I/O loop. ``progress=True`` draws a tqdm bar
        (counting finished items across workers, with an ``executor``).

        ``executor`` (a ``concurrent.futures.Executor`` such as a ``ProcessPoolExecutor``
        with any start method, or a ``dask.distributed.Client``) spreads the work over its
        worker processes: the items are cut into batches of ``batch_size`` (default: ten per
        request in flight, at least 100), each batch runs ``map`` on this client as pickled
        to a worker (one I/O loop per worker process; its batches share connections), and
        the results come back in input order. ``concurrency`` is per worker. Items and
        ``options`` must pickle; the client travels as its configuration (its credentials
        too, as with requests).

        Example, over a process pool::

            with ProcessPoolExecutor(4) as pool:
                rs = client.map("GET", urls, executor=pool, concurrency=20)

        Example::

            rs = client.map("GET", [f"/items/{i}" for i in range(1000)], concurrency=50)

        Raises:
            ValueError, TypeError, ImportError: bad arguments (before anything is sent).
            The first request's error, after cancelling the others, unless
            ``return_exceptions`` is true.
            MapInterrupted: Ctrl-C (a ``KeyboardInterrupt``); every request in flight was
                cancelled, and its ``.results`` holds what had finished, in input order.
        """
        return collect_sync(
            BRIDGE, self._engine, method, urls, concurrency=concurrency,
            return_exceptions=return_exceptions, progress=progress, options=options,
            executor=executor, batch_size=batch_size, traveller=self,
        )

    def as_completed(
        self,
        method: str,
        urls: Iterable[Any],
        *,
        concurrency: int = 10,
        return_exceptions: bool = False,
        executor: Any = None,
        batch_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> Iterator[MapResult]:
        """Like :meth:`map`, but yield ``(index, response)`` pairs as they complete.

        Example::

            for i, r in client.as_completed("GET", urls, concurrency=20):
                save(i, r.content)

        Leaving the loop early cancels the requests still in flight. ``executor`` and
        ``batch_size`` spread the work over worker processes as for :meth:`map`.

        Raises:
            The same errors as :meth:`map` (bad arguments at once, not at the first step).
        """
        items = check_items(urls)
        assert isinstance(items, Iterator)
        if executor is not None:
            from ._distributed import as_executor, check_batch_size, distributed_iter

            concurrency = check_concurrency(concurrency)
            check_batch_size(batch_size, concurrency)
            return keep_count(distributed_iter(
                self, method, items, executor=as_executor(executor), batch_size=batch_size,
                concurrency=concurrency, return_exceptions=return_exceptions, options=options,
            ))  # fmt: skip
        return keep_count(map_sync_iter(
            BRIDGE, self._engine, method, items, concurrency=check_concurrency(concurrency),
            return_exceptions=return_exceptions, options=options,
        ))

    def download(
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

        Written in this thread to a file beside ``path``, renamed only when complete (see
        :meth:`AsyncClient.download`, also for ``resume``). ``progress=True`` draws a tqdm
        bar.

        Example: ``client.download(url, "data/big.iso", resume=True, progress=True)``

        Raises:
            FileNotFoundError: the target's folder does not exist (before the request).
            ValueError: ``resume=True`` with a Range header of your own.
            HTTPStatusError: the server answered 4xx/5xx.
            ReadError: the body broke off or is shorter than the full size announced.
            KeyboardInterrupt: Ctrl-C; the partial file was removed (kept with ``resume``).
        """
        from ._download import download_sync  # lazily: keeps tempfile out of the import

        return download_sync(
            BRIDGE, self._engine, url, path, progress=progress, chunk_size=chunk_size,
            resume=resume, options=dict(options),
        )


def _rebuild_client(cls: type[Client], engine: AsyncClient, attributes: dict[str, Any]) -> Client:
    client = cls.__new__(cls)
    client._engine = engine
    for name, value in attributes.items():
        object.__setattr__(client, name, value)
    return client
