"""A raw TCP server on 127.0.0.1 for misbehaving-server tests: the handler writes any bytes.

``RawServer(handler)`` runs ``async def handler(conn)`` for each connection on its own loop
in a thread; :class:`Conn` reads requests as the server saw them on the wire (raw head and
body, framed by Content-Length or chunked) and writes whatever the test wants back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conn", "RawServer", "WireRequest", "recording_server"]


@dataclass
class WireRequest:
    """One request as it arrived: the head's lines and the body after framing."""

    head: bytes
    body: bytes = b""
    chunked: bool = False

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def method(self) -> str:
        return self.request_line.split(" ", 1)[0]

    def header_lines(self) -> list[tuple[str, str]]:
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        pairs = []
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                pairs.append((name, value.strip()))
        return pairs

    def headers_named(self, name: str) -> list[str]:
        return [v for n, v in self.header_lines() if n.lower() == name.lower()]


class Conn:
    """A connection as the handler sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read_head(self) -> bytes:
        """The request line and headers (b"" if the client closed first)."""
        try:
            return (await self.reader.readuntil(b"\r\n\r\n"))[:-4]
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""

    async def read_body(self, head: bytes) -> WireRequest:
        """The body the head announces (Content-Length, or chunked)."""
        request = WireRequest(head)
        te = [v.lower() for v in request.headers_named("Transfer-Encoding")]
        if te and te[-1] == "chunked":
            request.chunked = True
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            request.body = b"".join(parts)
        else:
            lengths = request.headers_named("Content-Length")
            if lengths:
                request.body = await self.reader.readexactly(int(lengths[0]))
        return request

    async def read_request(self) -> WireRequest | None:
        """The next whole request, or None if the client closed the connection."""
        head = await self.read_head()
        return await self.read_body(head) if head else None

    async def send(self, data: bytes) -> None:
        """Write ``data`` and wait until it is handed to the socket."""
        self.writer.write(data)
        await self.writer.drain()


Handler = Callable[[Conn], Awaitable[Any]]


@dataclass
class RawServer:
    """``handler(conn)`` for each connection, on 127.0.0.1, in a thread of its own."""

    handler: Handler
    url: str = ""
    #: Every request a handler read with :meth:`record`, in order.
    requests: list[WireRequest] = field(default_factory=list)
    #: How many connections were accepted.
    connections: int = 0
    #: Set when a handler saw its client disconnect (``read`` returned EOF or failed).
    disconnected: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if not self.url:
            raise RuntimeError("the raw server did not start")

    def record(self, request: WireRequest | None) -> WireRequest | None:
        """Keep ``request`` in :attr:`requests` (thread-safe enough: list.append)."""
        if request is not None:
            self.requests.append(request)
        return request

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(Conn(reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected.set()
        except asyncio.CancelledError:
            pass  # the server is stopping (ending quietly: asyncio would log a cancelled task)
        finally:
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()

    async def _stop(self) -> None:
        self._server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await self._server.wait_closed()

    def stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def recording_server() -> RawServer:
    """A server that answers ``200 ok`` to every request and keeps each in ``requests`` as
    it arrived on the wire."""

    async def handler(conn: Conn) -> None:
        while server.record(await conn.read_request()) is not None:
            await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = RawServer(handler)
    return server
