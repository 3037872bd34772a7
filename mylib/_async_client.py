"""AsyncClient: the aiohttp engine. All HTTP logic lives here, once, for both clients.

The blocking :class:`~mylib.Client` is a facade that runs this engine on mylib's I/O loop.
Request building (URL joining, header merging, body encoding) is plain code with no I/O and
runs in the caller's thread; sending runs on the loop that awaits it.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime
import enum
import functools
import json as jsonlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Unpack

import aiohttp
from yarl import URL

from ._auth import Auth, BasicAuth, advance_flow, close_flow, to_auth
from ._config import ClientConfig, make_config, proxy_for, to_headers
from ._content import encode_body
from ._cookies import cookie_header, parse_cookie_header
from ._errors import (
    ClientClosedError,
    Error,
    TimeoutError,
    TooManyRedirects,
    redact_url,
    translating,
)
from ._hooks import run_hooks
from ._logging import log_request, log_response, log_retry
from ._models import DEFAULT_TIMEOUT, Request, Response, Retry, Timeout, merge_mappings
from ._redirects import next_request
from ._retry import retry_delay, should_retry_error
from ._sessions import LoopSessions
from ._types import (
    AuthTypes,
    CertTypes,
    CookieTypes,
    HeaderTypes,
    QueryParamTypes,
    RequestOptions,
    RetryTypes,
    TimeoutTypes,
    URLTypes,
    VerifyTypes,
)
from ._urls import add_params, join_url, to_url, validate_url

if TYPE_CHECKING:  # the stream/map/download methods (issue 5) import these lazily
    import os
    import pathlib
    from collections.abc import AsyncIterable, AsyncIterator, Iterable

    from ._stream import AsyncStreamContext

__all__ = ["AsyncClient", "ClientState"]


class ClientState(enum.Enum):
    """A client's life: open until closed; a closed client refuses requests."""

    OPEN = "open"
    CLOSED = "closed"


class _Unset(enum.Enum):
    """Marks an option that was not given, since ``None`` is a meaningful value (``timeout=
    None`` means no limit, ``auth=None`` means send no credentials)."""

    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET


@dataclass(slots=True)
class _Call:
    """One ``send()``: when its total timeout ends, how many tries the current hop took, and
    whether the final response comes back with its body unread (a stream)."""

    deadline: float | None
    stream: bool = False
    attempts: int = 0


_CLOSED_MESSAGE = (
    "this client has been closed; make a new one (there is no need to close mylib clients: "
    "they close themselves when their event loop or the program ends)"
)


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # ``total`` is enforced by the engine around the whole call (redirects and retries
    # included), so aiohttp only gets the per-connection limits.
    return aiohttp.ClientTimeout(
        total=None, connect=None, sock_connect=timeout.connect, sock_read=timeout.read
    )


#: aiohttp pauses reading a connection once this much (x2) is buffered. Its 64 KiB default
#: makes a fast stream stop and start the socket constantly (the benchmarks showed the server
#: burning CPU on tiny writes); 256 KiB keeps memory per connection small and the flow steady.
_READ_BUFSIZE: Final = 1 << 18


def _new_session(config: ClientConfig) -> aiohttp.ClientSession:
    """A session for the running loop. Module-level, so it holds no reference to a client."""
    # unsafe=True: aiohttp's default jar silently drops cookies from IP hosts (127.0.0.1).
    # The client's own cookies= are not put in the jar: aiohttp would keep them as "shared"
    # cookies and send them to every host, a redirect to another origin included. They go
    # out as the request's Cookie header instead, which redirects strip across origins.
    jar = aiohttp.CookieJar(unsafe=True)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=config.ssl, limit=100),
        cookie_jar=jar,
        # trust_env would look up .netrc on every request via the loop's executor; the
        # environment's proxies are resolved (once per host) by the engine instead.
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
        read_bufsize=_READ_BUFSIZE,
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
        cookies: Cookies sent with every request (a request's own win), but never to another
            origin on a redirect; the client's jar also keeps the cookies servers set (also
            for IP hosts such as 127.0.0.1).
        auth: ``(user, password)`` for HTTP Basic auth, :class:`BearerAuth`,
            :class:`DigestAuth`, your own :class:`Auth`, or a callable ``fn(request)``; used
            for every request (a bare str is refused: say BearerAuth or a tuple).
        timeout: Seconds for the whole request, or a :class:`Timeout`; the default allows
            10 s to connect and 60 s of server silence. ``None`` disables it.
        retries: How many times to retry idempotent requests that failed to connect or got
            429/502/503/504, or a :class:`Retry` for finer control. Default 0.
        follow_redirects: Follow 3xx redirects (default True, like requests).
        max_redirects: How many redirects to follow before :class:`TooManyRedirects`.
        verify: True (verify TLS with the system's CAs), False (do not verify: anyone on the
            network path can read and change the traffic), a CA bundle path, or an
            ``ssl.SSLContext``.
        cert: A client certificate: a PEM path, or ``(certfile, keyfile)``.
        proxy: An http(s) proxy URL for every request.
        trust_env: Use HTTP_PROXY/HTTPS_PROXY/NO_PROXY from the environment (read once,
            when the client is made).
        event_hooks: ``{"request": [fn, ...], "response": [fn, ...]}``, called for every
            request sent and response received. ``async def`` hooks run on the loop; plain
            functions run in a worker thread, so they may block or use mylib's blocking API.
        json_dumps: Encodes ``json=`` bodies (returns str or bytes); default ``json.dumps``.
        json_loads: Decodes ``Response.json()``; default ``json.loads``.

    Raises:
        TypeError: an option has the wrong type (the message names it).
        ValueError: an option has an impossible value (e.g. a negative timeout).
        InvalidURL: ``base_url`` or ``proxy`` is not an http(s) URL.
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
    ) -> None:
        self._config = make_config(
            base_url=base_url,
            headers=headers,
            params=params,
            cookies=cookies,
            auth=auth,
            timeout=timeout,
            retries=retries,
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
            verify=verify,
            cert=cert,
            proxy=proxy,
            trust_env=trust_env,
            json_dumps=json_dumps,
            json_loads=json_loads,
            event_hooks=event_hooks,
        )
        self._state = ClientState.OPEN
        self._sessions = LoopSessions(self, functools.partial(_new_session, self._config))
        self._active: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        base = f" base_url={redact_url(self._config.base_url)!r}" if self._config.base_url else ""
        return f"<{type(self).__name__}{base} state={self._state.value}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._state is ClientState.CLOSED

    @property
    def base_url(self) -> str | None:
        """The base URL relative URLs are joined to, or None."""
        return str(self._config.base_url) if self._config.base_url else None

    def _check_open(self) -> None:
        if self._state is not ClientState.OPEN:
            raise ClientClosedError(_CLOSED_MESSAGE)

    # -- building (no I/O; runs in the caller's thread) -------------------------------------

    def build_request(
        self, method: str, url: URLTypes, **options: Unpack[RequestOptions]
    ) -> Request:
        """The :class:`Request` that ``request(method, url, **options)`` would send.

        Raises:
            TypeError: an option has the wrong type, is unknown, or conflicts with another.
            ValueError: an option has an impossible value.
            InvalidURL: the URL is not http(s) with a host.
        """
        return self._build(method, url, **options)

    def _build(
        self,
        method: str,
        url: URLTypes,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: CookieTypes | None = None,
        json: Any = None,
        data: Any = None,
        content: Any = None,
        files: Any = None,
        auth: AuthTypes | _Unset = UNSET,
        timeout: TimeoutTypes | _Unset = UNSET,
        follow_redirects: bool | _Unset = UNSET,
    ) -> Request:
        config = self._config
        if not isinstance(method, str) or not method:
            raise TypeError(f"method must be a non-empty str, not {method!r}")
        target = validate_url(join_url(config.base_url, to_url(url)))
        auth_scheme: Auth | None = config.auth
        if target.user is not None:
            # Credentials in the URL become Basic auth; the URL itself never carries them on.
            auth_scheme = BasicAuth(target.user, target.password or "")
            target = target.with_user(None)
        if auth is not UNSET:
            auth_scheme = to_auth(auth)
        if follow_redirects is not UNSET and not isinstance(follow_redirects, bool):
            raise TypeError(f"follow_redirects must be True or False, not {follow_redirects!r}")
        target = self._with_params(target, params)
        merged = config.headers.copy()
        if headers is not None:
            given = to_headers(headers)
            items = headers.items() if isinstance(headers, Mapping) else headers
            for key, value in items:
                if value is None:
                    merged.popall(key, None)  # documented: None removes a client header
            for key in given:
                merged.popall(key, None)
            merged.extend(given)
        body, content_type = encode_body(
            json=json,
            data=data,
            content=content,
            files=files,
            **({"json_dumps": config.json_dumps} if config.json_dumps else {}),
        )
        if content_type is not None and "Content-Type" not in merged:
            merged["Content-Type"] = content_type
        if cookies is not None and not isinstance(cookies, Mapping):
            raise TypeError(f"cookies must be a dict of str -> str, not {type(cookies).__name__}")
        if cookies or config.cookies:
            merged["Cookie"] = cookie_header(merge_mappings(config.cookies, cookies))
        return Request(
            method.upper(),
            target,
            headers=merged,
            content=body,
            timeout=config.timeout if timeout is UNSET else Timeout.coerce(timeout),
            follow_redirects=(
                config.follow_redirects if follow_redirects is UNSET else follow_redirects
            ),
            auth=auth_scheme,
        )

    def _with_params(self, url: URL, params: Any) -> URL:
        if params is not None and not isinstance(params, (Mapping, list, tuple, str)):
            raise TypeError(
                f"params must be a dict or a list of pairs, not {type(params).__name__}"
            )
        defaults = self._config.params
        if defaults and params and isinstance(defaults, dict) and isinstance(params, dict):
            return add_params(url, merge_mappings(defaults, params))
        return add_params(add_params(url, defaults), params)

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
        back with its body unread (``_raw`` open, owned by the caller), and the total timeout
        has covered only getting it, as httpx's ``send(request, stream=True)``."""
        self._check_open()
        task = asyncio.current_task()
        active = self._active
        if task is not None:
            active.add(task)
        total = request.timeout.total
        deadline = None if total is None else asyncio.get_running_loop().time() + total
        call = _Call(deadline, stream)
        try:
            if total is None:
                return await self._send_handling_auth(request, call)
            scope = asyncio.timeout(total)
            try:
                async with scope:
                    return await self._send_handling_auth(request, call)
            except builtins.TimeoutError as exc:
                if not scope.expired():
                    raise
                error = TimeoutError(
                    f"timed out after {total} s ({request.method} {redact_url(request.url)})",
                    request=request,
                )
                error.attempts = max(call.attempts, 1)
                raise error from exc
        finally:
            if task is not None:
                active.discard(task)

    async def _send_handling_auth(self, request: Request, call: _Call) -> Response:
        # The auth flow wraps redirects and retries, as in httpx: a 401 it answers is the
        # final response of the redirect chain.
        if request.auth is None:
            return await self._follow_redirects(request, call)
        flow = request.auth.auth_flow(request)
        try:
            current = await advance_flow(flow, None)
            if current is None:
                raise TypeError(f"{request.auth!r}.auth_flow() yielded no request")
            while True:
                response = await self._follow_redirects(current, call)
                try:
                    following = await advance_flow(flow, response)
                except BaseException:
                    _close(response)
                    raise
                if following is None:
                    return response
                await _discard(response)
                current = following
        finally:
            await close_flow(flow)

    async def _follow_redirects(self, request: Request, call: _Call) -> Response:
        history: list[Response] = []
        while True:
            response = await self._send_with_retries(request, call)
            if not (request.follow_redirects and response.is_redirect):
                response.history = history
                return response
            await _discard(response)
            if len(history) >= self._config.max_redirects:
                response.history = history
                raise TooManyRedirects(
                    f"exceeded {self._config.max_redirects} redirects "
                    f"({request.method} {redact_url(request.url)})",
                    request=request,
                    response=response,
                )
            history.append(response)
            request = next_request(request, response)

    async def _send_with_retries(self, request: Request, call: _Call) -> Response:
        retry: Retry = self._config.retry
        # A streamed body is consumed by the first try; it cannot be sent again.
        replayable = request.content is None or isinstance(request.content, bytes)
        limit = retry.total if request.method in retry.methods and replayable else 0
        call.attempts = 0
        while True:
            call.attempts += 1
            try:
                response = await self._send_hop(request, call)
            except Exception as exc:
                delay = self._retry_delay(call, limit, None) if should_retry_error(exc) else None
                if delay is None:
                    if isinstance(exc, Error):
                        exc.attempts = call.attempts
                    raise
                await self._back_off(request, delay, type(exc).__name__)
                continue
            retried = response.status_code in retry.statuses
            delay = self._retry_delay(call, limit, response) if retried else None
            if delay is None:
                response.attempts = call.attempts
                return response
            await _discard(response)
            await self._back_off(request, delay, str(response.status_code))

    def _retry_delay(self, call: _Call, limit: int, response: Response | None) -> float | None:
        """The wait before the next try; None when there is none: out of tries, or the wait
        would outlast the total timeout."""
        if call.attempts > limit:
            return None
        delay = retry_delay(self._config.retry, call.attempts, response)
        loop = asyncio.get_running_loop()
        if call.deadline is not None and loop.time() + delay >= call.deadline:
            return None
        return delay

    async def _back_off(self, request: Request, delay: float, why: str) -> None:
        log_retry(request.method, request.url, why, delay)
        await asyncio.sleep(delay)

    async def _send_hop(self, request: Request, call: _Call) -> Response:
        """One try of one hop: request hooks, the send, logging, response hooks."""
        hooks = self._config.event_hooks
        if hooks["request"]:
            await run_hooks(hooks["request"], request)
        log_request(request.method, request.url, call.attempts)
        response = await self._send_once(request, stream=call.stream)
        log_response(
            request.method,
            request.url,
            response.status_code,
            response.reason,
            response.elapsed.total_seconds(),
        )
        if hooks["response"]:
            try:
                await run_hooks(hooks["response"], response)
            except BaseException:
                _close(response)
                raise
        return response

    async def _send_once(self, request: Request, stream: bool = False) -> Response:
        """One aiohttp request: the response with its body read and the connection released,
        or, when ``stream`` is true, with the body unread and ``_raw`` open.

        The single seam :class:`mylib.testing.Mocker` replaces: everything above it runs.
        """
        session = self._sessions.get()
        config = self._config
        url = request.url
        headers = request.headers
        cookies = None
        if "Cookie" in headers:
            # Passed as cookies=, so a per-request cookie wins over the jar's of the same name
            # (aiohttp lets the jar win over a Cookie header).
            headers = headers.copy()
            cookies = parse_cookie_header(headers.popall("Cookie"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        with translating(request):
            sending = session.request(
                request.method,
                url,
                headers=headers,
                cookies=cookies,
                data=request.content,
                allow_redirects=False,
                timeout=_aiohttp_timeout(request.timeout),
                proxy=proxy_for(config, url),
            )
            if stream:
                raw = await sending
                body = b""
            else:
                async with sending as raw:
                    body = await raw.read()
        response = Response(
            status_code=raw.status,
            reason=raw.reason or "",
            headers=raw.headers,
            url=str(raw.url),
            content=body,
            request=request,
            elapsed=datetime.timedelta(seconds=loop.time() - started),
            json_loads=config.json_loads or jsonlib.loads,
        )
        if stream:
            response._raw = raw
        return response

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

        Raises:
            InvalidURL: the URL is not http(s) with a host (also a ValueError).
            TypeError: an option has the wrong type, or two kinds of body were given.
            TimeoutError: the request took too long; it was cancelled.
            TransportError: the connection failed or broke (ConnectError, ReadError, ...).
            TooManyRedirects: more than ``max_redirects`` redirects.
            ClientClosedError: the client was closed.
        """
        return await self.send(self._build(method, url, **options))

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
        await self._sessions.aclose()

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

        return AsyncStreamContext(self, self._build(method, url, **options))

    async def map(
        self,
        method: str,
        urls: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 10,
        return_exceptions: bool = False,
        progress: bool = False,
        **options: Unpack[RequestOptions],
    ) -> list[Any]:
        """Send many requests at once, at most ``concurrency`` at a time; responses in order.

        ``urls`` is any iterable (or async iterable) of URLs, :class:`Request` objects from
        :meth:`build_request` (sent as they are), or dicts of per-item options with a
        ``"url"`` key (and optionally ``"method"``) that win over ``options``. It is consumed
        lazily, so a generator of millions of URLs runs in bounded memory.

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
            progress=progress, options=options,
        )

    def as_completed(
        self,
        method: str,
        urls: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 10,
        return_exceptions: bool = False,
        **options: Unpack[RequestOptions],
    ) -> AsyncIterator[tuple[int, Any]]:
        """Like :meth:`map`, but yield ``(index, response)`` pairs as they complete.

        Example::

            async with contextlib.aclosing(client.as_completed("GET", urls)) as results:
                async for i, r in results:
                    ...

        Closing the iterator early cancels the requests still in flight.

        Raises:
            The same errors as :meth:`map`.
        """
        from ._map import check_concurrency, check_items, map_async_iter

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


async def _discard(response: Response) -> None:
    """Finish a streamed response the pipeline replaces (a redirect hop, a retried status, a
    401 the auth flow answered): read its body, small as a rule, so the connection goes back
    to the pool, and keep it as ``content`` (history and errors show it, as when not
    streaming). Closes the connection instead if reading fails or is cancelled."""
    raw, response._raw = response._raw, None
    if raw is None:
        return
    try:
        with translating(response.request):
            response.content = await raw.read()
    except BaseException:
        raw.close()
        raise
    raw.release()


def _close(response: Response) -> None:
    """Drop a streamed response's connection on an error path, where awaiting a read is
    not an option (the task may be cancelled)."""
    raw, response._raw = response._raw, None
    if raw is not None:
        raw.close()
