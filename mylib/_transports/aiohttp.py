"""The aiohttp transport: mylib's engine, and (with ``socks.py``, its SOCKS proxies) the only
code in mylib that imports aiohttp.

What it owns:

* **Sessions**, one per (client, running loop), made lazily on their loop and closed by it
  (``sessions.py`` explains the keepers that make this quiet in every ending), and one more
  per SOCKS proxy a client uses (``socks.py``).
* **The pool** (:class:`_Connector`): its :class:`~mylib.Limits`, and a request that finds
  it full waits in words: logged, bounded by ``Timeout.pool`` or a standstill of
  ``Timeout.read``, named by the total timeout's error.
* **The send**: one aiohttp request with ``allow_redirects=False`` (redirects are the
  pipeline's), the per-connection timeouts (``Timeout.connect`` and ``Timeout.read``;
  ``total`` is the engine's) and the proxy for the URL.
* **Sending again, once**: a request is sent once, except when the connection it went out
  on came from the pool and the server closes it before a byte of the answer (its idle
  timeout fired as the request left): an idempotent request with a replayable body goes out
  again on another connection (at most :data:`_STALE_RESENDS` times), logged and counted in
  ``attempts``; anything else fails saying why it was not resent. aiohttp's own resend,
  which also resends after a *fresh* connection drops, is turned off.
* **Bodies**: a multipart body (``_content.Multipart``) becomes an ``aiohttp.FormData`` here;
  a streamed response's body is an :class:`AiohttpBody`, tracked per session so a stream left
  open is closed before its session (pitfalls.md #6).
* **The connection protocol** (:class:`_Handler`): a bodiless response (HEAD, 204, 304)
  that comes with a body is still the answer and its connection is closed; a final answer
  before the request's body was sent closes the connection too; ``Timeout.headers`` bounds
  the wait for each response's head.
* **Framing**: the body's framing is aiohttp's to write; a ``Transfer-Encoding: chunked``
  the user asked for becomes aiohttp's ``chunked=True``, and a streamed body with the user's
  ``Content-Length`` is held to it (the hop has checked what can be checked before sending).
  ``Expect: 100-continue`` holds the body back for at most :data:`CONTINUE_WAIT`
  after its head is written (:class:`_Request`; aiohttp alone waits forever with no read
  timeout running), and not at all once a final answer came instead of the ``100``.
* **The error table**: every aiohttp, asyncio, ssl and socket exception becomes a mylib
  error in :class:`translating`, and nowhere else. A test fails if an aiohttp client
  exception is neither in :data:`_TABLE` nor in :data:`UNTRANSLATED`.

Session settings, and why: ``trust_env=False`` (aiohttp would look up ``.netrc`` per request
through the loop's executor, which fails after interpreter shutdown began, pitfalls.md #1;
the environment's proxies are resolved by the client config, once per host); no cookie jar
(cookies are the client's, kept and sent by the pipeline's cookie step, so they are the same
whichever transport sends; a Cookie header goes out as given); a 256 KiB read buffer (see
:data:`_READ_BUFSIZE`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import datetime
import functools
import io
import re
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable
from types import TracebackType
from typing import Any, Final

import aiohttp
from aiohttp.client_proto import ResponseHandler
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._content import Multipart, rewind, rewind_marks
from .._errors import (
    ConnectError,
    ConnectTimeout,
    Error,
    InvalidHeader,
    InvalidURL,
    PoolTimeout,
    ProxyError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    ResponseTooLarge,
    TimeoutError,
    TLSError,
    TransportError,
    WriteError,
    body_too_large,
    redact_text,
    redact_url,
)
from .._limits import DEFAULT_LIMITS, Limits, describe_limit
from .._logging import log_pool_wait, log_resend
from .._models import WAITING_FOR, Request, Response, Timeout, announced_size, read_within
from .._urls import SOCKS_SCHEMES, url_text
from .base import AsyncTransport
from .mock import INSTALLED, NoMockAddress
from .sessions import LoopSessions, track_open, untrack_open

__all__ = ["UNTRANSLATED", "AiohttpBody", "AiohttpTransport", "translate", "translating"]

#: aiohttp pauses reading a connection once this much (x2) is buffered. Its 64 KiB default
#: makes a fast stream stop and start the socket constantly (the benchmarks showed the server
#: burning CPU on tiny writes); 256 KiB keeps memory per connection small and the flow steady.
_READ_BUFSIZE: Final = 1 << 18
#: How long a body held back by ``Expect: 100-continue`` waits for the server's ``100``
#: before it is sent anyway (curl waits 1 s too; RFC 9110 lets the client go ahead).
CONTINUE_WAIT: Final = 1.0


#: The request being sent, for its connection's :class:`_Handler` (its ``Timeout.headers``)
#: and the pool (:class:`_Connector`: its ``Timeout.pool``). aiohttp passes nothing of ours
#: from ``session.request`` to either; this task's context reaches them, since aiohttp
#: takes a connection and hands the protocol its settings in the same task.
SENDING: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "mylib_sending", default=None
)
#: The connections one send went out on (``_Request.send`` adds each), the same way.
SENT_ON: contextvars.ContextVar[list[_Handler] | None] = contextvars.ContextVar(
    "mylib_sent_on", default=None
)
#: Methods sent again, once the connection they went out on turns out to have been closed
#: by the server while idle in the pool (RFC 9112, section 9.3.1).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: How many such resends one send may make (each on another connection of the pool, or a
#: new one); a fresh connection that drops is never sent on again.
_STALE_RESENDS = 3


def _not_resent(request: Request, marks: list[Any] | None) -> str | None:
    """Why ``request`` may not go out again on another connection, or None if it may."""
    if request.method not in _IDEMPOTENT:
        return (
            f"{request.method} is not idempotent (mylib.Retry(methods=...) can allow retrying "
            "it)"
        )
    if marks is None or not rewind(marks):
        return "its body was streamed and cannot be sent again"
    return None


def _went_stale(sent_on: list[_Handler]) -> bool:
    """The last connection this send went out on had served a request before, and not a
    byte of an answer came on it: the server closed it while it sat idle in the pool."""
    return bool(sent_on) and sent_on[-1].requests_sent > 1 and not sent_on[-1].answer_bytes


class _Request(aiohttp.ClientRequest):
    """aiohttp's request, except that a body held back for ``100 Continue`` goes out after
    :data:`CONTINUE_WAIT` without an answer: aiohttp alone would wait for the ``100``
    forever, with no read timeout running (it starts once the body is sent). The wait starts
    when the head is written (not while connecting), and a final answer that comes first
    means the body is never sent (:class:`_Handler` records it)."""

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        protocol = conn.protocol
        protocol.requests_sent += 1
        protocol.answer_bytes = False
        protocol.active_at = self.loop.time()
        sent_on = SENT_ON.get()
        if sent_on is not None:
            sent_on.append(protocol)
        return await super().send(conn)

    async def write_bytes(self, writer: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
        waiter: asyncio.Future[bool] | None = getattr(self, "_continue", None)
        if waiter is not None and not waiter.done():
            go_ahead = self.loop.call_later(CONTINUE_WAIT, _go_ahead, waiter, conn.protocol)
            waiter.add_done_callback(lambda _: go_ahead.cancel())
        await super().write_bytes(writer, conn, *args, **kwargs)


def _go_ahead(waiter: asyncio.Future[bool], protocol: Any) -> None:
    if not waiter.done() and not getattr(protocol, "answered", False):
        waiter.set_result(True)


#: A status line, where stray bytes end and a response begins.
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] [0-9]{3}[ \r\n]")
#: What may be the start of one, cut short by the end of a read.
_STATUS_START = re.compile(
    rb"[\r\n]*(?:H(?:T(?:T(?:P(?:/(?:1(?:\.(?:[01](?: [0-9]{0,3})?)?)?)?)?)?)?)?)?"
)
#: A head's end; aiohttp also takes bare LF line endings.
_HEAD_END = re.compile(rb"\r?\n\r?\n")
#: Blank lines a server may send before a status line (aiohttp skips them).
_BLANK_LINES = re.compile(rb"[\r\n]*")
_STATUS_CODE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})")
#: Statuses whose responses never have a body (besides any answer to a HEAD).
_NO_BODY = frozenset({204, 304})


class _Handler(ResponseHandler):
    """aiohttp's connection protocol, with three differences.

    **A response that has no body but comes with one** (to a HEAD, a 204, a 304) is still
    the answer. aiohttp would parse what follows its head as the next response and fail with
    "Bad status line": this response when the stray body came in the same read, or the next
    request on the connection when it came later. Here each head is held until it is whole,
    and handed to aiohttp alone when it has no body; stray bytes after it close the
    connection if it is idle, or are dropped from the front of the next response (up to its
    status line) if that request was already sent, which then closes the connection. What
    the server meant by them is unknown, so the connection is never reused.

    **A final answer that comes before the request's body was sent** (while an
    ``Expect: 100-continue`` body waits, or mid-upload) is recorded (``answered``, so the
    held-back body is never sent) and the connection is not reused: what the server read of
    the body is unknown.

    **The wait for the headers is bounded** (``Timeout.headers``, below).
    """

    #: "head" while a response's head is arriving, "after" once a bodiless one's has.
    _head: str | None = None
    _pending: bytearray
    _method_bodiless = False
    #: The previous response had no body: drop anything before this one's status line.
    _skip_stray = False
    #: The request has been sent in full (aiohttp calls start_timeout() then).
    _sent = False
    #: A final head arrived for the current request.
    answered = False
    #: How many requests were sent on this connection (``_Request.send`` counts them).
    requests_sent = 0
    #: A byte of an answer to the current request came in.
    answer_bytes = False
    #: Loop time a request last went out or bytes last came in on this connection.
    active_at = 0.0
    #: This request's ``Timeout.headers``, armed once it has been sent (:meth:`start_timeout`).
    _headers_wait: float | None = None
    _headers_timer: asyncio.TimerHandle | None = None
    #: Through a SOCKS proxy: aiohttp-socks's protocol, which holds the stream writer that
    #: must live as long as the connection.
    socks_protocol: Any = None

    def set_response_params(self, **params: Any) -> None:
        super().set_response_params(**params)
        self._stop_headers_timer()
        sending = SENDING.get()
        self._headers_wait = sending.timeout.headers if sending is not None else None
        self._skip_stray = self._head == "after"
        self._method_bodiless = bool(params.get("skip_payload"))
        self._head = "head"
        self._pending = bytearray()
        self._sent = self.answered = False

    def data_received(self, data: bytes) -> None:
        if data:
            self.answer_bytes = True
            self.active_at = self._loop.time()  # (a full pool's wait reads it: _Connector)
        if self._head is None or not data:
            return super().data_received(data)
        if self._head == "after":
            return self._stray()
        buf = self._pending
        scan = max(0, len(buf) - 3)  # a head's end may straddle two reads; no rescanning
        buf += data
        if self._skip_stray:
            found = _STATUS_LINE.search(buf)
            if found is None:
                if not _STATUS_START.fullmatch(buf):
                    self.force_close()  # stray bytes came first: not reused after this
                    del buf[:-16]  # the end may be the start of a status line
                self._reschedule_timeout()
                return None
            if buf[: found.start()].strip(b"\r\n"):
                self.force_close()
            del buf[: found.start()]
            self._skip_stray = False
            scan = 0
        while True:
            lead = _BLANK_LINES.match(buf).end()  # type: ignore[union-attr]  # always matches
            end = _HEAD_END.search(buf, max(scan, lead))
            if end is None:
                if len(buf) > _READ_BUFSIZE:  # no head this long: let aiohttp refuse it
                    self._head = None
                    whole = bytes(buf)
                    buf.clear()
                    return super().data_received(whole)
                self._reschedule_timeout()  # bytes arrived: the read timeout restarts
                return None
            line = _STATUS_CODE.match(buf, lead)
            status = int(line.group(1)) if line is not None else 0
            if not (100 <= status < 200 and status != 101):
                break
            # An informational head (a 100 Continue, a 103) goes to aiohttp at once.
            head = bytes(buf[: end.end()])
            del buf[: end.end()]
            super().data_received(head)
            if not buf:
                return None
            scan = 0
        whole = bytes(buf)
        buf.clear()
        if not (self._method_bodiless or status in _NO_BODY):
            self._head = None
            return super().data_received(whole)
        self._head = "after"
        super().data_received(whole[: end.end()])
        if end.end() < len(whole):
            self._stray()
        return None

    def _stray(self) -> None:
        self.force_close()
        if self.transport is not None:
            self.transport.close()

    # The wait for the headers: aiohttp's read timeout restarts with every byte, so a server
    # that drips its headers never meets it; this one starts when aiohttp has sent the whole
    # request (it calls start_timeout() then) and ends when a final head is parsed.

    def start_timeout(self) -> None:
        super().start_timeout()
        self._sent = True
        wait = self._headers_wait
        if wait is not None and self._headers_timer is None:
            self._headers_timer = self._loop.call_later(wait, self._headers_late, wait)

    def feed_data(self, data: Any, size: int = 0) -> None:
        if data[0].code >= 200 or data[0].code == 101:  # a final head, not a 1xx
            self._stop_headers_timer()
            self._headers_wait = None
            self.answered = True
            if not self._sent:
                self.force_close()  # answered before the body was sent (see the class)
        super().feed_data(data, size)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_headers_timer()
        super().connection_lost(exc)

    def _stop_headers_timer(self) -> None:
        if self._headers_timer is not None:
            self._headers_timer.cancel()
            self._headers_timer = None

    def _headers_late(self, wait: float) -> None:
        self._headers_timer = None
        self.set_exception(
            aiohttp.ServerTimeoutError(
                f"no response headers within {wait:g} s of sending the request "
                "(Timeout.headers)"
            )
        )
        if self.transport is not None:
            self.transport.close()


class _Connector(aiohttp.TCPConnector):
    """aiohttp's pool, except that a request that finds it full says so: the wait is logged,
    named by the total timeout's error if that ends it (:data:`WAITING_FOR`), and bounded:

    * by the request's ``Timeout.pool`` when it has one (:class:`PoolTimeout`);
    * else, so that a full pool never stalls a request in silence, by ``Timeout.read`` of
      *standstill*: the wait ends with a PoolTimeout only once no connection was released
      and none of the busy ones received a byte for that long (a stream left open and
      unread holds its connection; a long download that keeps arriving does not count).
    """

    limits: Limits = DEFAULT_LIMITS
    #: Loop time of the last release while requests were waiting for one.
    _released_at = 0.0

    def _release_acquired(self, key: Any, proto: ResponseHandler) -> None:
        if self._waiters:
            self._released_at = self._loop.time()
        super()._release_acquired(key, proto)

    def _moving(self, within: float) -> bool:
        """A connection was released, or a busy one received bytes, in the last ``within``
        seconds (one being set up counts as moving: its connect timeout bounds it)."""
        now = self._loop.time()
        if now - self._released_at < within:
            return True
        return any(
            now - getattr(protocol, "active_at", now) < within for protocol in self._acquired
        )

    async def _wait_for_available_connection(self, key: Any, traces: list[Any]) -> None:
        request = SENDING.get()
        # The per-host limit is the one that binds unless the pool as a whole is full.
        per_host = bool(self._limit_per_host) and not (
            self._limit and len(self._acquired) >= self._limit
        )
        where = f"{key.host}:{key.port}"
        limit = describe_limit(self.limits, per_host)
        log_pool_wait(where, limit)
        waiting = f"waiting for a free connection to {where} (all {limit} were in use)"
        notes = WAITING_FOR.get()
        if notes is not None:
            notes.append(waiting)
        timeout = request.timeout if request is not None else None
        wait = timeout.pool if timeout is not None else None
        standstill = timeout.read if timeout is not None and wait is None else None
        while True:
            try:
                async with asyncio.timeout(wait if wait is not None else standstill):
                    await super()._wait_for_available_connection(key, traces)
                break
            except builtins.TimeoutError:
                if wait is not None:
                    raise PoolTimeout(
                        f"no free connection to {where} within {wait:g} s (Timeout.pool): "
                        f"all {limit} were in use by other requests",
                        request=request,
                    ) from None
                assert standstill is not None
                if not self._moving(standstill):
                    raise PoolTimeout(
                        f"no free connection to {where}: all {limit} were in use and none "
                        f"was released or received anything for {standstill:g} s "
                        "(Timeout.read); a stream left open and unread holds its connection "
                        "until it is closed (Timeout(pool=...) bounds this wait)",
                        request=request,
                    ) from None
        if notes is not None:  # (left in place when cancelled: the timeout's error reads it)
            notes.remove(waiting)


def _is_socks(proxy: URL | str) -> bool:
    scheme = proxy.scheme if isinstance(proxy, URL) else proxy.partition(":")[0].lower()
    return scheme in SOCKS_SCHEMES


def _new_session(
    ssl_setting: ssl.SSLContext | bool, limits: Limits, socks: str | None = None
) -> aiohttp.ClientSession:
    """A session for the running loop, direct or through the SOCKS proxy ``socks``.
    Module-level, so it holds no reference to a client."""
    expiry = limits.keepalive_expiry
    pool: dict[str, Any] = {
        "limit": limits.max_connections or 0,
        "limit_per_host": limits.max_connections_per_host or 0,
    }
    if expiry == 0:
        pool["force_close"] = True  # aiohttp refuses a keep-alive timeout with it
    else:
        pool["keepalive_timeout"] = expiry
    if socks is None:
        connector = _Connector(ssl=ssl_setting, **pool)
    else:
        from .socks import socks_connector  # aiohttp-socks, imported on first use

        connector = socks_connector(socks, ssl=ssl_setting, **pool)
    connector.limits = limits
    # The connector's protocol factory has no public setting; a test fails if this stops
    # taking effect (a HEAD answered with a body fails again).
    connector._factory = functools.partial(  # type: ignore[assignment]
        _Handler, loop=asyncio.get_running_loop()
    )
    session = aiohttp.ClientSession(
        connector=connector,
        request_class=_Request,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
        read_bufsize=_READ_BUFSIZE,
    )
    # aiohttp sends an idempotent request again when its connection drops before the answer,
    # a fresh connection too; the resend is decided in AiohttpTransport.send instead. There is
    # no public setting; a test fails if this stops taking effect (a dropped DELETE is seen
    # twice by the server).
    session._retry_connection = False
    return session


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # ``total`` is enforced by the engine around the whole call (redirects and retries
    # included), so aiohttp only gets the per-connection limits.
    return aiohttp.ClientTimeout(
        total=None, connect=None, sock_connect=timeout.connect, sock_read=timeout.read
    )


def _form_data(body: Multipart) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    for part in body.parts:
        if part.filename is None and part.content_type is None:
            value = part.value
            if isinstance(value, bytes):
                # A form field of bytes, sent as they are: aiohttp would make a bare bytes
                # value a file part (and warn that this changes).
                value = aiohttp.payload.BytesPayload(value, content_type="text/plain")
            form.add_field(part.name, value)
        else:
            value, filename = part.value, part.filename
            if isinstance(value, AsyncIterable):  # a reader that is no file object
                value = aiohttp.payload.AsyncIterablePayload(value)
            elif isinstance(value, io.IOBase):
                if filename is None:
                    filename = aiohttp.helpers.guess_filename(value, part.name)
                value = _file_payload(value)
            form.add_field(part.name, value, filename=filename, content_type=part.content_type)
    return form


def _ssl_for(tls: ssl.SSLContext | bool | None) -> ssl.SSLContext | bool:
    """aiohttp's per-request ``ssl=``: True means "the session's setting", so a request's own
    ``verify=True`` (on a client that does not verify) needs a verifying context of its own."""
    if tls is None:
        return True
    if tls is True:
        return _verifying_context()
    return tls


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    return ssl.create_default_context()  # ~20 ms to build: once per process


def _as_sent(request: Request, raw: aiohttp.ClientResponse) -> Request:
    """``request`` with the headers as aiohttp sent them (``Host``, ``Content-Length``,
    ``Accept-Encoding``, a multipart ``Content-Type`` with its boundary), as requests shows
    a prepared request's; a ``Proxy-Authorization`` aiohttp made from the proxy URL's
    credentials is left out, as a secret the caller did not put there."""
    sent = request._clone()
    given = request.headers
    headers = CIMultiDict(raw.request_info.headers)
    if "Proxy-Authorization" not in given:
        headers.popall("Proxy-Authorization", None)
    sent.headers = headers
    sent._engine_headers = tuple(name for name in headers if name not in given)
    return sent


def _caller_keeps(payload: type[aiohttp.payload.IOBasePayload]) -> type[Any]:
    """``payload``, except that it leaves the file open: aiohttp closes a file it has sent,
    but the file is the caller's (requests never closes it), who may send it again or read
    on, and a 307/308 sends it again rewound."""

    def _close(self: aiohttp.payload.IOBasePayload) -> None:
        self._consumed = True  # as aiohttp marks it; the file itself stays open

    return type(payload.__name__, (payload,), {"_close": _close, "__module__": __name__})


#: aiohttp's payload for each kind of file (its registry's choice), made to leave it open.
_FILE_PAYLOADS: tuple[tuple[type[io.IOBase], type[Any]], ...] = (
    (io.BytesIO, aiohttp.payload.BytesIOPayload),  # nothing to close: as aiohttp has it
    (io.StringIO, aiohttp.payload.StringIOPayload),  # read whole when made
    (io.TextIOBase, _caller_keeps(aiohttp.payload.TextIOPayload)),
    (io.BufferedReader, _caller_keeps(aiohttp.payload.BufferedReaderPayload)),
    (io.BufferedRandom, _caller_keeps(aiohttp.payload.BufferedReaderPayload)),
    (io.IOBase, _caller_keeps(aiohttp.payload.IOBasePayload)),
)


def _file_payload(file: io.IOBase) -> Any:
    for kind, payload in _FILE_PAYLOADS:
        if isinstance(file, kind):
            return payload(file)
    raise AssertionError("unreachable: every file is an io.IOBase")


async def _exactly(
    body: AsyncIterable[bytes], length: int, request: Request
) -> AsyncIterator[bytes]:
    """``body``, stopped with an error before it runs past ``length`` bytes or when it
    ends short of them (the user's Content-Length: a server would read a longer body's rest
    as the next request, and wait forever for a shorter one's)."""
    sent = 0
    async for chunk in body:
        sent += len(chunk)
        if sent > length:
            raise InvalidHeader(
                f"the body is longer than its Content-Length {length}; nothing past it was "
                "sent and the connection was dropped",
                request=request,
            )
        yield chunk
    if sent < length:
        raise InvalidHeader(
            f"the body ended after {sent} bytes, short of its Content-Length {length}; the "
            "connection was dropped",
            request=request,
        )


async def _read_whole(raw: aiohttp.ClientResponse, request: Request) -> bytes:
    """The whole body, within ``request.max_body_size``: refused at once when its
    Content-Length says it is too large, else counted as it is decompressed, so a bomb or an
    endless body costs at most the limit (aiohttp decompresses in bounded steps, paused while
    the reader's buffer is full)."""
    limit = request.max_body_size
    if limit is None:
        return await raw.read()
    length = announced_size(raw.headers, raw.status, request.method)
    if length is not None:
        if length > limit:
            raw.close()
            raise body_too_large(limit, request, announced=length)
        return await raw.read()  # aiohttp reads exactly Content-Length bytes
    try:
        return await read_within(raw.read, raw.content.readany, limit, request)
    except ResponseTooLarge:
        raw.close()
        raise


class AiohttpTransport(AsyncTransport):
    """Sends requests with aiohttp: one connection pool per event loop it is used on.

    Args:
        ssl: What aiohttp's ``ssl=`` gets: True (verify with the system's CAs), False, or an
            ``ssl.SSLContext``.
        proxy: ``proxy(url)`` is the proxy URL for a request to ``url``, or None.
        limits: The connection pool's limits (per loop; each SOCKS proxy has a pool of its
            own with the same limits).
    """

    def __init__(
        self,
        *,
        ssl: ssl.SSLContext | bool = True,
        proxy: Callable[[URL], URL | str | None] | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._proxy = proxy
        self._ssl = ssl
        self._limits = limits
        self._sessions = LoopSessions(self, functools.partial(_new_session, ssl, limits))
        #: A pool per SOCKS proxy (its connector goes through that proxy), by proxy URL.
        self._socks: dict[str, LoopSessions[aiohttp.ClientSession]] = {}

    def _socks_sessions(self, proxy: str) -> LoopSessions[aiohttp.ClientSession]:
        sessions = self._socks.get(proxy)
        if sessions is None:
            # setdefault: loops in two threads may get here at once; one entry wins.
            sessions = self._socks.setdefault(
                proxy,
                LoopSessions(self, functools.partial(_new_session, self._ssl, self._limits, proxy)),
            )
        return sessions

    async def send(self, request: Request, *, stream: bool = False) -> Response:
        """One aiohttp request: the response with its body read and the connection released,
        or, when ``stream`` is true, with the body unread behind an :class:`AiohttpBody`."""
        if INSTALLED.block_network:
            raise NoMockAddress(
                f"the network is blocked for mylib in this test (mylib_no_network), and no "
                f"mock answered {request.method} {redact_url(request.url)}",
                request=request,
            )
        url = request.url.parsed
        proxy = (
            request.proxy
            if request.proxy is not None or self._proxy is None
            else self._proxy(url)
        )
        if proxy is not None and _is_socks(proxy):
            session = self._socks_sessions(str(proxy)).get()
            proxy = None  # the session's connector goes through it
        else:
            session = self._sessions.get()
        resends = 0
        marks = rewind_marks(request.content)  # None: the body cannot be sent again
        while True:
            sent_on: list[_Handler] = []
            token = SENT_ON.set(sent_on)
            try:
                response = await self._send_once(session, request, stream, proxy)
            except Error as exc:
                exc._resends = resends  # counted as attempts by the hop
                if (
                    not isinstance(exc, (RemoteProtocolError, ReadError, WriteError))
                    or isinstance(exc, TimeoutError)
                    or not _went_stale(sent_on)
                ):
                    raise
                why = _not_resent(request, marks)
                if why is not None:
                    exc.args = (
                        f"{exc.args[0]}; the server closed a kept-alive connection as the "
                        f"request went out, and {why}, so it was not sent again (it may or "
                        "may not have been processed)",
                    )
                    raise
                if resends >= _STALE_RESENDS:
                    raise
                resends += 1
                log_resend(request.method, request.url.parsed)
                continue
            finally:
                SENT_ON.reset(token)
            response.attempts = resends + 1
            return response

    async def _send_once(
        self,
        session: aiohttp.ClientSession,
        request: Request,
        stream: bool,
        proxy: URL | str | None,
    ) -> Response:
        url = request.url.parsed
        headers = request.headers
        data = request.content
        if isinstance(data, Multipart):
            data = _form_data(data)
        elif isinstance(data, io.IOBase):
            data = _file_payload(data)
        chunked = None
        if "Transfer-Encoding" in headers:
            # "chunked", checked by the hop: aiohttp writes the framing itself (left in the
            # headers, it would add a Content-Length and send the body unchunked). With no
            # body there is nothing to frame (aiohttp would write a lone end-of-chunks).
            headers = headers.copy()
            del headers["Transfer-Encoding"]
            chunked = True if data is not None else None
        elif "Content-Length" in headers and isinstance(data, AsyncIterable):
            data = _exactly(data, int(headers["Content-Length"]), request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        sending_token = SENDING.set(request)
        try:
            with translating(request):
                sending = session.request(
                    request.method,
                    url,
                    headers=headers,
                    data=data,
                    chunked=chunked,
                    allow_redirects=False,
                    timeout=_aiohttp_timeout(request.timeout),
                    proxy=proxy,
                    ssl=_ssl_for(request.tls),
                )
                if stream:
                    raw = await sending
                    content = b""
                else:
                    async with sending as raw:
                        content = await _read_whole(raw, request)
        finally:
            SENDING.reset(sending_token)
        response = Response(
            raw.status,
            reason=raw.reason or "",
            headers=raw.headers,
            url=url_text(raw.url),
            content=content,
            request=_as_sent(request, raw),
            elapsed=datetime.timedelta(seconds=loop.time() - started),
        )
        if stream:
            response._body = AiohttpBody(raw, request, session)
        return response

    async def aclose(self) -> None:
        """Close the running loop's sessions now; the other loops' on their own loops."""
        await self._sessions.aclose()
        for sessions in list(self._socks.values()):
            await sessions.aclose()

    def in_use(self) -> bool:
        """True if any loop has a live session (safe from any thread)."""
        return self._sessions.has_session() or any(
            sessions.has_session() for sessions in list(self._socks.values())
        )


class AiohttpBody:
    """The unread body of an aiohttp response, with errors translated (a ResponseBody)."""

    __slots__ = ("_on_drop", "_raw", "_request", "_session")

    def __init__(
        self, raw: aiohttp.ClientResponse, request: Request, session: aiohttp.ClientSession
    ) -> None:
        self._raw = raw
        self._request = request
        self._session = session
        self._on_drop: Callable[[], None] | None = None
        track_open(session, self)

    async def read(self) -> bytes:
        """The rest of the body."""
        with translating(self._request):
            return await self._raw.read()

    async def read_some(self) -> bytes:
        """What the socket delivered (up to the read buffer), b"" at the end."""
        with translating(self._request):
            # readany() hands over what the socket delivered without joining it into a
            # new buffer: one copy fewer than read(n), measurably faster.
            return await self._raw.content.readany()

    def release(self) -> None:
        """The whole body was read: the connection goes back to the pool."""
        untrack_open(self._session, self)
        self._raw.release()

    def abort(self) -> None:
        """Unread body left on the wire: the connection cannot be reused, drop it."""
        untrack_open(self._session, self)
        self._raw.close()

    def on_drop(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` if the session closes while this body is still open."""
        self._on_drop = callback

    def drop(self) -> None:
        """The session is closing: tell the owner, then abort (the session keeper calls it)."""
        callback, self._on_drop = self._on_drop, None
        if callback is not None:
            callback()
        self.abort()


# -- the error table ----------------------------------------------------------------------------

#: Engine exceptions in lookup order: the first class that matches wins, so more specific
#: classes come before their bases. A test fails if an aiohttp client exception is missing.
_TABLE: tuple[tuple[type[BaseException], type[Error]], ...] = (
    (aiohttp.ConnectionTimeoutError, ConnectTimeout),
    (aiohttp.SocketTimeoutError, ReadTimeout),
    (aiohttp.ServerTimeoutError, ReadTimeout),
    (builtins.TimeoutError, TimeoutError),
    (aiohttp.InvalidURL, InvalidURL),
    (aiohttp.ClientConnectorCertificateError, TLSError),
    (aiohttp.ClientConnectorSSLError, TLSError),
    (aiohttp.ServerFingerprintMismatch, TLSError),
    (aiohttp.ClientSSLError, TLSError),
    (aiohttp.ClientHttpProxyError, ProxyError),
    (aiohttp.ClientProxyConnectionError, ProxyError),
    (aiohttp.ClientConnectorDNSError, ConnectError),
    (aiohttp.ClientConnectorError, ConnectError),
    (aiohttp.ServerDisconnectedError, RemoteProtocolError),
    (aiohttp.ClientPayloadError, ReadError),
    (aiohttp.ClientConnectionResetError, ReadError),
    (aiohttp.ClientOSError, ReadError),
    (aiohttp.ServerConnectionError, ConnectError),
    (aiohttp.ClientResponseError, RemoteProtocolError),
    (aiohttp.ClientConnectionError, TransportError),
    (aiohttp.ClientError, TransportError),
    (ssl.SSLError, TLSError),
    (ConnectionRefusedError, ConnectError),
    (ConnectionError, ReadError),
    (OSError, TransportError),
)

#: aiohttp exceptions the engine never lets aiohttp raise (it owns redirects, never asks aiohttp
#: to check statuses or content types, and sends no websockets), so they need no translation.
UNTRANSLATED: frozenset[type[BaseException]] = frozenset(
    {
        aiohttp.ContentTypeError,
        aiohttp.TooManyRedirects,
        aiohttp.RedirectClientError,
        aiohttp.InvalidUrlRedirectClientError,
        aiohttp.NonHttpUrlRedirectClientError,
        aiohttp.WSServerHandshakeError,
        aiohttp.WSMessageTypeError,
    }
)


#: Headers an engine exception may carry (its request's) that hold credentials.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def scrub(exc: BaseException | None) -> None:
    """Remove credentials from an engine exception and the ones it chains, in place, before
    it becomes a mylib error's ``__cause__``: it is printed in tracebacks and by
    ``logging.exception``. aiohttp puts the proxy URL with its password in messages, the
    request's headers (``Proxy-Authorization`` and all) on response errors, and the proxy's
    credentials in a connection key."""
    for _ in range(8):  # the chain, bounded (it may loop)
        if exc is None:
            return
        if isinstance(exc, aiohttp.ClientResponseError):
            info = exc.request_info
            exc.request_info = clean = aiohttp.RequestInfo(
                _without_user(info.url),
                info.method,
                CIMultiDictProxy(
                    CIMultiDict(
                        (k, v) for k, v in info.headers.items() if k.lower() not in _SECRET_HEADERS
                    )
                ),
                _without_user(info.real_url),
            )
            exc.args = tuple(clean if a is info else a for a in exc.args)
        key = getattr(exc, "_conn_key", None)
        if key is not None and getattr(key, "proxy_auth", None) is not None:
            exc._conn_key = clean_key = key._replace(  # type: ignore[attr-defined]
                proxy=_without_user(key.proxy) if key.proxy is not None else None,
                proxy_auth=None,
            )
            exc.args = tuple(clean_key if a is key else a for a in exc.args)
        exc.args = tuple(redact_text(a) if isinstance(a, str) else a for a in exc.args)
        exc = exc.__cause__ or exc.__context__


def _without_user(url: URL) -> URL:
    """``url`` as mylib quotes URLs: no user info, secret-looking query values masked."""
    try:
        return URL(redact_url(url))
    except ValueError:
        return url.with_user(None).with_query(None)


def translate(exc: BaseException, request: Request | None) -> Error | None:
    """The mylib exception for an engine exception, or None if it is not an I/O error.

    Its message says what happened in mylib's words (``connection refused by h:1``, ``name
    not resolved: h``, ``TLS certificate verify failed for h: <reason>``, ``timed out after
    5 s while reading``) and then the request; the engine's exception, scrubbed of
    credentials, stays its ``__cause__`` (see ``_errors.shorten``)."""
    if isinstance(exc, Error):
        return None
    if isinstance(exc.__cause__, Error):
        return exc.__cause__  # mylib's own, raised inside the engine (a body's check)
    for engine_type, our_type in _TABLE:
        if isinstance(exc, engine_type):
            where = f" ({request.method} {redact_url(request.url)})" if request is not None else ""
            scrub(exc)
            error = our_type(f"{describe(exc, our_type, request)}{where}", request=request)
            error._engine = True
            return error
    return None


def describe(exc: BaseException, kind: type[Error], request: Request | None) -> str:
    """What an engine exception means, in plain words, without the request."""
    timeout = request.timeout if request is not None else None
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        limit = timeout.connect if timeout is not None else None
        return f"timed out{_after(limit)} while connecting"
    if isinstance(exc, aiohttp.ServerTimeoutError) and "(Timeout." in str(exc):
        return f"timed out: {exc}"  # mylib's own words (the wait for the headers)
    if isinstance(exc, (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError)):
        limit = timeout.read if timeout is not None else None
        return f"timed out{_after(limit)} while reading"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        reason = getattr(cert, "verify_message", None) or getattr(cert, "reason", None) or cert
        return f"TLS certificate verify failed for {exc.host}: {reason}"
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return f"the TLS certificate of {exc.host}:{exc.port} does not match the fingerprint given"
    if isinstance(exc, (aiohttp.ClientConnectorSSLError, ssl.SSLError)):
        handshake: BaseException = exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            handshake = exc.os_error
        return f"TLS handshake failed{_with(exc)}: {_ssl_reason(handshake)}"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"the proxy answered {exc.status} {exc.message}".rstrip()
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"could not connect to the proxy {exc.host}:{exc.port}: {_os_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"name not resolved: {exc.host} ({_os_reason(exc.os_error)})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return f"connection refused by {exc.host}:{exc.port}"
        return f"could not connect to {exc.host}:{exc.port}: {_os_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        inner: BaseException | None = exc.__cause__ or exc.__context__
        if type(inner).__name__ == "ContentLengthError":
            return "the connection closed before the whole body arrived (its Content-Length)"
        if type(inner).__name__ == "TransferEncodingError":
            return "the connection closed before the end of the chunked body"
        return f"the body could not be read: {_engine_words(exc)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"the server's answer is not valid HTTP: {exc.message}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, aiohttp.ClientConnectionResetError)):
        return "the server reset the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{_VERBS.get(kind, 'the request failed')}: {exc.strerror}"
    if isinstance(exc, builtins.TimeoutError):
        return "timed out"
    return f"{_VERBS.get(kind, 'the request failed')}: {_engine_words(exc)}"


def _after(seconds: float | None) -> str:
    return f" after {seconds:g} s" if seconds is not None else ""


def _with(exc: BaseException) -> str:
    host, port = getattr(exc, "host", None), getattr(exc, "port", None)
    return f" with {host}:{port}" if host else ""


def _os_reason(error: BaseException | None) -> str:
    if isinstance(error, OSError) and error.strerror:
        # "Connect call failed ('h', 1)": the socket layer's wording, the errno's is plainer.
        if error.errno is not None and error.strerror.startswith("Connect call failed"):
            import os

            return os.strerror(error.errno)
        return error.strerror
    return _engine_words(error) if error is not None else "unknown error"


def _ssl_reason(error: BaseException | None) -> str:
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower()
    return _engine_words(error) if error is not None else "unknown error"


def _engine_words(exc: BaseException) -> str:
    """The engine's own message, without its ``ssl:default`` noise."""
    text = redact_text(str(exc)) or type(exc).__name__
    return re.sub(r" ssl:(?:default|None|True|False|<[^>]*>)", "", text)


_VERBS: dict[type[Error], str] = {
    ConnectTimeout: "timed out connecting",
    ReadTimeout: "timed out waiting for the server",
    TimeoutError: "timed out",
    InvalidURL: "invalid URL",
    TLSError: "TLS failed",
    ProxyError: "the proxy failed",
    ConnectError: "could not connect",
    RemoteProtocolError: "the server broke the connection or the protocol",
    ReadError: "the connection broke while reading",
    TransportError: "the request failed",
}


class translating:
    """Context manager: re-raise engine I/O errors as mylib errors, ``from`` the original.

    ``asyncio.CancelledError`` and anything already a mylib error pass through untouched.
    """

    __slots__ = ("request",)

    def __init__(self, request: Request | None) -> None:
        self.request = request

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, asyncio.CancelledError):
            return
        ours = translate(exc, self.request)
        if ours is None:
            return
        if ours is exc.__cause__:
            scrub(exc)  # still reachable as the new error's __context__
            raise ours from None  # the engine's wrapper adds nothing to mylib's own error
        raise ours from exc
