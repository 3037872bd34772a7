"""Streamed responses: status and headers at once, the body piece by piece, in flat memory.

Two faces over one aiohttp response that stays open on its loop:

* :class:`AsyncStreamResponse` (``async with ac.stream(...) as r``) reads straight from
  aiohttp, in large pieces.
* :class:`StreamResponse` (``with client.stream(...) as r``) is the blocking face. Every hop
  from the caller's thread onto mylib's I/O loop costs tens of microseconds, so it must not be
  paid per small chunk: a *prefetch* task on the loop reads from aiohttp in large pieces into
  a small bounded buffer (it stops reading when the buffer is full, so memory stays flat and
  TCP back-pressure slows the server down), and each hop takes everything buffered at once.
  The caller's thread then cuts that batch into the chunk size it asked for.

Rejected: aiohttp's own ``iter_chunked(64 KiB)`` loop (about 3x slower than requests'
``iter_content`` on loopback), and one hop per chunk (the hop dominates below ~256 KiB).

Closing always happens on the loop that owns the connection: leaving the ``with``, breaking
out of an ``iter_*`` loop, an exception in its body, or the stream being garbage-collected.
Streams still open when their session closes are closed first (pitfalls.md #6), through a
hook registered with :func:`mylib._sessions.add_before_close_hook`.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import enum
import json as jsonlib
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from multidict import CIMultiDictProxy

from ._errors import (
    ClientClosedError,
    redact_url,
    translating,
)
from ._models import Request, Response, charset_of, status_error
from ._sessions import add_before_close_hook

if TYPE_CHECKING:
    from ._async_client import AsyncClient
    from ._runtime import Bridge

__all__ = ["AsyncStreamResponse", "StreamResponse", "StreamState", "open_stream"]

#: The prefetch buffer stops reading once it holds this much (plus at most one piece).
PREFETCH_LIMIT: Final = 1 << 20

#: Streams open per session, so they can be closed before their session is.
_OPEN: weakref.WeakKeyDictionary[aiohttp.ClientSession, set[AsyncStreamResponse]] = (
    weakref.WeakKeyDictionary()
)


async def _close_streams_of(session: aiohttp.ClientSession) -> None:
    for stream in list(_OPEN.pop(session, ())):
        await stream.aclose()


add_before_close_hook(_close_streams_of)


class StreamState(enum.Enum):
    """A stream's life: open with body unread, fully read, or closed early."""

    OPEN = "open"
    #: The whole body was read; the connection went back to the pool.
    CONSUMED = "consumed"
    #: Closed before the end of the body; the connection was dropped.
    CLOSED = "closed"


# -- the pure parts: cutting bytes into chunks, text and lines (caller's thread) ---------------


class _Rechunker:
    """Cuts a sequence of byte pieces into chunks of exactly ``size`` (the last may be short)."""

    __slots__ = ("_buffer", "_size")

    def __init__(self, size: int | None) -> None:
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise TypeError(f"chunk_size must be an int or None, not {type(size).__name__}")
        if size is not None and size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {size}")
        self._size = size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        size = self._size
        if size is None:
            return [data] if data else []
        out: list[bytes] = []
        start = 0
        buffer = self._buffer
        if buffer:
            start = size - len(buffer)
            buffer += data[:start]
            if len(buffer) < size:
                return out
            out.append(bytes(buffer))
            buffer.clear()
        # Slices straight from the piece: one copy per chunk, as requests' iter_content.
        end = len(data) - (len(data) - start) % size
        out.extend([data[i : i + size] for i in range(start, end, size)])
        if end < len(data):
            buffer += data[end:]
        return out

    def flush(self) -> list[bytes]:
        out = [bytes(self._buffer)] if self._buffer else []
        self._buffer = bytearray()
        return out


class _LineSplitter:
    """Splits text arriving in pieces into lines (without their endings), like requests."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        if not text:
            return []
        lines = (self._pending + text).splitlines(keepends=True)
        # The last line may be incomplete, or end in "\r" with its "\n" still to come.
        self._pending = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        return [line.rstrip("\r\n") if line.endswith("\n") else line[:-1] for line in lines]

    def flush(self) -> list[str]:
        pending, self._pending = self._pending, ""
        if not pending:
            return []
        return pending.splitlines()


# -- opening (on the loop) ----------------------------------------------------------------------


async def open_stream(client: AsyncClient, request: Request) -> AsyncStreamResponse:
    """Send ``request`` through the engine's pipeline and return once the final response's
    headers are in.

    Auth, hooks, cookies, retries and redirects run exactly as for ``send()``: the engine
    reads and releases the bodies of the responses it does not return. The request's
    ``total`` timeout covers getting the final headers; the body is then bounded by the
    ``read`` timeout (the longest silence), so a long download is never cut off.
    """
    response = await client._send(request, stream=True)
    return AsyncStreamResponse(response, client)


# -- the shared face --------------------------------------------------------------------------


class _StreamInfo:
    """What is known as soon as the headers arrive (shared by both faces)."""

    status_code: int
    reason: str
    headers: CIMultiDictProxy[str]
    url: str
    request: Request
    history: list[Response]
    _encoding: str | None

    def _set_info(self, source: Response | _StreamInfo) -> None:
        #: The status code, e.g. 200.
        self.status_code = source.status_code
        #: The reason phrase, e.g. "OK".
        self.reason = source.reason
        #: The headers, case-insensitive.
        self.headers = source.headers
        #: The final URL, after redirects.
        self.url = source.url
        #: The request that produced this response.
        self.request = source.request
        #: The redirect responses that led here, oldest first (their bodies were read).
        self.history = source.history
        self._encoding = None

    @property
    def ok(self) -> bool:
        """True unless the status is 4xx or 5xx."""
        return self.status_code < 400

    @property
    def encoding(self) -> str | None:
        """The charset ``iter_text`` uses: the one set here, else the Content-Type's, else
        None (UTF-8)."""
        return self._encoding or charset_of(self.headers)

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    def _decoder(self) -> codecs.IncrementalDecoder:
        return codecs.getincrementaldecoder(self.encoding or "utf-8-sig")(errors="replace")

    def raise_for_status(self) -> Any:
        """Raise :class:`HTTPStatusError` for a 4xx or 5xx status; otherwise return self.

        The error's ``response`` is this stream (its body is not read).

        Raises:
            HTTPStatusError: the status is 4xx or 5xx.
        """
        if self.status_code < 400:
            return self
        raise status_error(self)


# -- async face -------------------------------------------------------------------------------


class AsyncStreamResponse(_StreamInfo):
    """A response whose body is read as it arrives, for async code.

    Example::

        async with client.stream("GET", url) as r:
            r.raise_for_status()
            async for chunk in r.aiter_bytes(1 << 20):
                sink.write(chunk)

    Raises (from its reading methods):
        ReadError, ReadTimeout, RemoteProtocolError: the connection broke or went silent.
        ClientClosedError: the stream (or its client) was closed.
    """

    def __init__(self, response: Response, client: AsyncClient) -> None:
        self._set_info(response)
        # The open aiohttp response; None when the engine answered with a response already
        # read (the Mocker's), whose content is then served as the body.
        self._raw = response._raw
        response._raw = None  # this stream owns the connection now
        self._read_body = response.content
        self._session: aiohttp.ClientSession | None = None
        self._json_loads: Callable[..., Any] = client._config.json_loads or jsonlib.loads
        self._state = StreamState.OPEN
        self._content: bytes | None = None
        self._started = False
        self._prefetch: _Prefetch | None = None
        if self._raw is not None:
            # The session the engine just sent on: this loop's, so still the current one.
            self._session = client._sessions.get()
            _OPEN.setdefault(self._session, set()).add(self)

    def __repr__(self) -> str:
        return (f"<AsyncStreamResponse [{self.status_code} {self.reason}] "
                f"{redact_url(self.url)} state={self._state.value}>")

    @property
    def state(self) -> StreamState:
        """The stream's :class:`StreamState`."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once the body was read to the end or the stream was closed."""
        return self._state is not StreamState.OPEN

    def _begin(self) -> None:
        if self._content is not None:
            raise RuntimeError("the body was already read: use .content")
        if self._state is StreamState.CLOSED:
            raise ClientClosedError("this stream is closed; its body can no longer be read")
        if self._started:
            raise RuntimeError("the body is already being (or was) iterated; iterate it once")
        self._started = True

    async def _pieces(self) -> AsyncGenerator[bytes, None]:
        """The body in the pieces the socket delivered (up to 256 KiB each)."""
        try:
            while data := await self._next_piece():
                yield data
            self._finish()
        finally:
            if self._state is StreamState.OPEN:
                self._abort()

    async def _next_piece(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        if self._raw is None:
            # A response the engine already read (the Mocker's): its body is one piece.
            data, self._read_body = self._read_body, b""
            return data
        with translating(self.request):
            # readany() hands over what the socket delivered without joining it into a
            # new buffer: one copy fewer than read(n), measurably faster.
            return await self._raw.content.readany()

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body in chunks of ``chunk_size`` bytes (the last may be shorter), or as it
        arrives when ``chunk_size`` is None. Breaking out closes the stream.

        Raises:
            ReadError, ReadTimeout: the connection broke or the server went silent.
            RuntimeError: the body was already read or iterated.
        """
        rechunker = _Rechunker(chunk_size)
        self._begin()
        pieces = self._pieces()
        try:
            async for piece in pieces:
                for chunk in rechunker.feed(piece):
                    yield chunk
            for chunk in rechunker.flush():
                yield chunk
        finally:
            await pieces.aclose()

    async def aiter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        """The body decoded (see ``encoding``) in pieces as it arrives."""
        decoder = self._decoder()
        async for chunk in self.aiter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines, decoded, without their line endings."""
        splitter = _LineSplitter()
        async for text in self.aiter_text():
            for line in splitter.feed(text):
                yield line
        for line in splitter.flush():
            yield line

    async def aread(self) -> bytes:
        """Read the rest of the body and return it (also kept as ``content``)."""
        if self._content is not None:
            return self._content
        self._content = b"".join([chunk async for chunk in self.aiter_bytes()])
        return self._content

    @property
    def content(self) -> bytes:
        """The body, once :meth:`aread` has read it.

        Raises:
            RuntimeError: the body has not been read yet.
        """
        if self._content is None:
            raise RuntimeError("the body has not been read: call aread() (read() when blocking)")
        return self._content

    def json(self, **kwargs: Any) -> Any:
        """The body, read by :meth:`aread` first, decoded as JSON."""
        return self._json_loads(self.content, **kwargs)

    def _finish(self) -> None:
        # The whole body arrived: the connection goes back to the pool.
        self._state = StreamState.CONSUMED
        if self._raw is not None:
            self._raw.release()
        self._forget()

    def _abort(self) -> None:
        # Unread body left on the wire: the connection cannot be reused, drop it.
        self._state = StreamState.CLOSED
        if self._raw is not None:
            self._raw.close()
        self._forget()

    def _forget(self) -> None:
        streams = None if self._session is None else _OPEN.get(self._session)
        if streams is not None:
            streams.discard(self)

    async def aclose(self) -> None:
        """Close the stream (on its loop), releasing or dropping the connection. Idempotent."""
        prefetch = self._prefetch
        if prefetch is not None:
            await prefetch.stop()
        if self._state is StreamState.OPEN:
            self._abort()

    async def __aenter__(self) -> AsyncStreamResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- used by the blocking face, through the bridge ---------------------------------------

    async def _take_batch(self) -> list[bytes]:
        """Everything the prefetch task has buffered (waiting for some); [] at the end."""
        prefetch = self._prefetch
        if prefetch is None:
            self._begin()
            prefetch = self._prefetch = _Prefetch(self)
        return await prefetch.take()


class _Prefetch:
    """Reads a stream's body on the loop into a bounded buffer the blocking face drains."""

    def __init__(self, stream: AsyncStreamResponse) -> None:
        self._stream = stream
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self._data = asyncio.Event()
        self._space = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        pieces = self._stream._pieces()
        try:
            async for piece in pieces:
                self._chunks.append(piece)
                self._size += len(piece)
                self._data.set()
                while self._size >= PREFETCH_LIMIT:
                    self._space.clear()
                    await self._space.wait()
        except Exception as exc:
            self._error = exc
        finally:
            await pieces.aclose()
            self._done = True
            self._data.set()

    async def take(self) -> list[bytes]:
        while not self._chunks and not self._done:
            self._data.clear()
            await self._data.wait()
        if self._chunks:
            batch = list(self._chunks)
            self._chunks.clear()
            self._size = 0
            self._space.set()
            return batch
        if self._error is not None:
            raise self._error
        if self._stream._state is StreamState.CLOSED:
            raise ClientClosedError("this stream was closed while it was being read")
        return []

    async def stop(self) -> None:
        task = self._task
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- blocking face ----------------------------------------------------------------------------


class StreamResponse(_StreamInfo):
    """A response whose body is read as it arrives, for blocking code.

    Example::

        with client.stream("GET", url) as r:
            r.raise_for_status()
            for chunk in r.iter_bytes(1 << 20):
                out.write(chunk)

    Status and headers are there at once; the body is prefetched on mylib's I/O loop in
    large pieces into a small buffer, so memory stays flat however big the body is.
    Leaving the ``with``, breaking out of a loop over ``iter_*``, or an exception in its body
    closes the stream and frees its connection.

    Raises (from its reading methods):
        ReadError, ReadTimeout, RemoteProtocolError: the connection broke or went silent.
        ClientClosedError: the stream (or its client) was closed.
        KeyboardInterrupt: Ctrl-C; the stream is closed on the loop.
    """

    def __init__(self, inner: AsyncStreamResponse, bridge: Bridge) -> None:
        self._set_info(inner)
        self._inner = inner
        self._bridge = bridge
        self._content: bytes | None = None
        self._started = False
        # A stream dropped without being closed is closed on the loop (never from here).
        self._finalizer = weakref.finalize(
            self, bridge.submit_from_finalizer, inner.aclose
        )

    def __repr__(self) -> str:
        return (f"<StreamResponse [{self.status_code} {self.reason}] "
                f"{redact_url(self.url)} state={self._inner.state.value}>")

    @property
    def state(self) -> StreamState:
        """The stream's :class:`StreamState`."""
        return self._inner.state

    @property
    def closed(self) -> bool:
        """True once the body was read to the end or the stream was closed."""
        return self._inner.closed

    def _batches(self) -> Iterator[list[bytes]]:
        if self._content is not None:
            raise RuntimeError("the body was already read: use .content")
        if self._started:
            raise RuntimeError("the body is already being (or was) iterated; iterate it once")
        self._started = True
        call = self._bridge.call
        take = self._inner._take_batch
        try:
            while True:
                batch = call(take)
                if not batch:
                    return
                yield batch
        finally:
            if not self._inner.closed:
                self.close()

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body in chunks of ``chunk_size`` bytes (the last may be shorter), or in the
        large pieces it arrives in when ``chunk_size`` is None (fastest).

        Raises:
            ReadError, ReadTimeout: the connection broke or the server went silent.
            RuntimeError: the body was already read or iterated.
        """
        rechunker = _Rechunker(chunk_size)
        for batch in self._batches():
            for piece in batch:
                yield from rechunker.feed(piece)
        yield from rechunker.flush()

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        """The body decoded (see ``encoding``) in pieces as it arrives."""
        decoder = self._decoder()
        for chunk in self.iter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def iter_lines(self) -> Iterator[str]:
        """The body's lines, decoded, without their line endings."""
        splitter = _LineSplitter()
        for text in self.iter_text():
            yield from splitter.feed(text)
        yield from splitter.flush()

    def read(self) -> bytes:
        """Read the rest of the body and return it (also kept as ``content``)."""
        if self._content is None:
            self._content = b"".join(_flatten(self._batches()))
        return self._content

    @property
    def content(self) -> bytes:
        """The body, once :meth:`read` has read it.

        Raises:
            RuntimeError: the body has not been read yet.
        """
        if self._content is None:
            raise RuntimeError("the body has not been read: call read() first")
        return self._content

    @property
    def text(self) -> str:
        """The body, once :meth:`read` has read it, decoded (see ``encoding``)."""
        return self.content.decode(self.encoding or "utf-8-sig", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The body, once :meth:`read` has read it, decoded as JSON."""
        return self._inner._json_loads(self.content, **kwargs)

    def close(self) -> None:
        """Close the stream on the I/O loop, freeing its connection. Idempotent."""
        if self._finalizer.alive:
            self._finalizer.detach()
            self._bridge.call(self._inner.aclose)

    def __enter__(self) -> StreamResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _flatten(batches: Iterable[list[bytes]]) -> Iterator[bytes]:
    for batch in batches:
        yield from batch


class StreamContext:
    """What ``client.stream(...)`` returns: ``with`` it to send the request and get a
    :class:`StreamResponse`; leaving the ``with`` closes it."""

    def __init__(self, opener: Callable[[], StreamResponse]) -> None:
        self._opener = opener
        self._response: StreamResponse | None = None

    def __enter__(self) -> StreamResponse:
        self._response = self._opener()
        return self._response

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            self._response.close()


class AsyncStreamContext:
    """What ``ac.stream(...)`` returns: ``async with`` it to send the request and get an
    :class:`AsyncStreamResponse`; leaving the ``async with`` closes it."""

    def __init__(self, client: AsyncClient, request: Request) -> None:
        self._client = client
        self._request = request
        self._response: AsyncStreamResponse | None = None

    async def __aenter__(self) -> AsyncStreamResponse:
        self._response = await open_stream(self._client, self._request)
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            await self._response.aclose()
