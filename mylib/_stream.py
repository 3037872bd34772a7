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

Both read the body through the transport's body interface (``read_some``, ``release``,
``abort``), so they work the same over any transport, and share the response surface
(``ResponseBase``) and the text/JSON rules (``mylib/_decode.py``) with :class:`~mylib.Response`.

Closing always happens on the loop that owns the connection: leaving the ``with``, breaking
out of an ``iter_*`` loop, an exception in its body, or the stream being garbage-collected.
A stream still open when its session closes is aborted first by the transport (pitfalls.md
#6).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from ._async_client import AsyncClient, open_response
from ._decode import LineSplitter, Rechunker, decode_json, decode_text, text_decoder
from ._errors import ClientClosedError, body_too_large, redact_url
from ._models import Request, Response, ResponseBase, announced_size, stream_limit
from ._transports.base import BytesBody

if TYPE_CHECKING:
    from ._runtime import Bridge

__all__ = ["AsyncStreamResponse", "StreamResponse", "StreamState", "open_stream"]

#: The prefetch buffer stops reading once it holds this much (plus at most one piece).
PREFETCH_LIMIT: Final = 1 << 20


class StreamState(enum.Enum):
    """A stream's life: open with body unread, fully read, or closed early."""

    OPEN = "open"
    #: The whole body was read; the connection went back to the pool.
    CONSUMED = "consumed"
    #: Closed before the end of the body; the connection was dropped.
    CLOSED = "closed"


# -- opening (on the loop) ----------------------------------------------------------------------


async def open_stream(client: AsyncClient, request: Request) -> AsyncStreamResponse:
    """Send ``request`` through the engine's pipeline and return once the final response's
    headers are in.

    Auth, hooks, cookies, retries and redirects run exactly as for ``send()``: the engine
    reads and releases the bodies of the responses it does not return. The request's
    ``total`` timeout covers getting the final headers; the body is then bounded by the
    ``read`` timeout (the longest silence), so a long download is never cut off.
    """
    return AsyncStreamResponse(await open_response(client, request))


# -- the shared face --------------------------------------------------------------------------


class _StreamFace(ResponseBase):
    """What both stream faces add to the response surface: the body, once read, as bytes,
    text and JSON (decoded as :class:`~mylib.Response` does)."""

    _content: bytes | None
    _json_loads: Callable[..., Any]
    _UNREAD = "the body has not been read: call aread() first"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError(
            f"a {type(self).__name__} cannot be pickled: its body is on a connection of this "
            "process; read it first (read() / aread()) and send its content, or make the "
            "request without stream()"
        )

    @property
    def content(self) -> bytes:
        """The body, once it has been read in full.

        Raises:
            RuntimeError: the body has not been read yet.
        """
        if self._content is None:
            raise RuntimeError(self._UNREAD)
        return self._content

    @property
    def text(self) -> str:
        """The body, once read, decoded (see ``encoding``; a UTF-8 BOM is dropped)."""
        return decode_text(self.content, self.encoding)

    def json(self, **kwargs: Any) -> Any:
        """The body, once read, decoded as JSON.

        Raises:
            DecodingError: the body is not valid JSON; the message quotes its start.
            RuntimeError: the body has not been read yet.
        """
        return decode_json(
            self.content, self._json_loads, url=self.url, request=self.request, kwargs=kwargs
        )


# -- async face -------------------------------------------------------------------------------


class AsyncStreamResponse(_StreamFace):
    """A response whose body is read as it arrives, for async code.

    Example::

        async with client.stream("GET", url) as r:
            r.raise_for_status()
            async for chunk in r.aiter_bytes(1 << 20):
                sink.write(chunk)

    Raises (from its reading methods):
        ReadError, ReadTimeout, RemoteProtocolError: the connection broke or went silent.
        ResponseTooLarge: the body passed the ``max_body_size`` given (streams have no
            limit unless one is given); the stream is closed.
        ClientClosedError: the stream (or its client) was closed.
    """

    def __init__(self, response: Response) -> None:
        self._copy_base(response)
        # This stream owns the body now. A response that came back already read (a
        # transport that does not stream) serves its content as the one piece of the body.
        self._body = response.detach_body() or BytesBody(response.content)
        self._json_loads = response._json_loads
        self._state = StreamState.OPEN
        self._content: bytes | None = None
        self._started = False
        self._prefetch: _Prefetch | None = None
        self._body.on_drop(self._dropped)

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
        """The body in the pieces the socket delivered (up to 256 KiB each), within the
        ``max_body_size`` given for the request, if one was."""
        limit = stream_limit(self.request.max_body_size)
        size = 0
        try:
            if limit is not None:
                announced = announced_size(self.headers, self.status_code, self.request.method)
                if announced is not None and announced > limit:
                    raise body_too_large(limit, self.request, announced=announced)
            while data := await self._next_piece():
                if limit is not None:
                    size += len(data)
                    if size > limit:
                        raise body_too_large(limit, self.request)
                yield data
            self._finish()
        finally:
            if self._state is StreamState.OPEN:
                self._abort()

    async def _next_piece(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        return await self._body.read_some()

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body in chunks of ``chunk_size`` bytes (the last may be shorter), or as it
        arrives when ``chunk_size`` is None. Breaking out closes the stream.

        Raises:
            ReadError, ReadTimeout: the connection broke or the server went silent.
            RuntimeError: the body was already read or iterated.
        """
        rechunker = Rechunker(chunk_size)
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
        decoder = text_decoder(self.encoding)
        async for chunk in self.aiter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines, decoded, without their line endings."""
        splitter = LineSplitter()
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

    def _finish(self) -> None:
        # The whole body arrived: the connection goes back to the pool.
        self._state = StreamState.CONSUMED
        self._body.release()

    def _dropped(self) -> None:
        # The transport is dropping the body (its client or loop is closing): this stream is
        # closed, and a prefetch waiting for room in its buffer must not outlive it.
        if self._state is StreamState.OPEN:
            self._state = StreamState.CLOSED
        if self._prefetch is not None:
            self._prefetch.cancel()

    def _abort(self) -> None:
        # Unread body left on the wire: the connection cannot be reused, drop it.
        self._state = StreamState.CLOSED
        self._body.abort()

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
        if self._stream.state is StreamState.CLOSED:
            raise ClientClosedError("this stream was closed while it was being read")
        return []

    def cancel(self) -> None:
        """Stop reading, without waiting (from a callback on the loop)."""
        self._task.cancel()

    async def stop(self) -> None:
        task = self._task
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- blocking face ----------------------------------------------------------------------------


class StreamResponse(_StreamFace):
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
        ResponseTooLarge: the body passed the ``max_body_size`` given (streams have no
            limit unless one is given); the stream is closed.
        ClientClosedError: the stream (or its client) was closed.
        KeyboardInterrupt: Ctrl-C; the stream is closed on the loop.
    """

    def __init__(self, inner: AsyncStreamResponse, bridge: Bridge) -> None:
        self._copy_base(inner)
        self._json_loads = inner._json_loads
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
    def content(self) -> bytes:
        """The body: the rest of it is read on first access (as requests does with
        ``stream=True``), so ``.text`` and ``.json()`` work too.

        Raises:
            RuntimeError: the body was consumed by iterating it.
            ClientClosedError: the stream was closed before its body was read.
        """
        if self._content is None:
            if self._started:
                raise RuntimeError(
                    "the body was consumed by iterating it (iter_bytes/iter_text/iter_lines), "
                    "so it is not kept; keep the chunks, or use .content instead of iterating"
                )
            return self.read()
        return self._content

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
        rechunker = Rechunker(chunk_size)
        for batch in self._batches():
            for piece in batch:
                yield from rechunker.feed(piece)
        yield from rechunker.flush()

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        """The body decoded (see ``encoding``) in pieces as it arrives."""
        decoder = text_decoder(self.encoding)
        for chunk in self.iter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def iter_lines(self) -> Iterator[str]:
        """The body's lines, decoded, without their line endings."""
        splitter = LineSplitter()
        for text in self.iter_text():
            yield from splitter.feed(text)
        yield from splitter.flush()

    def read(self) -> bytes:
        """Read the rest of the body and return it (also kept as ``content``)."""
        if self._content is None:
            self._content = b"".join(_flatten(self._batches()))
        return self._content

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
