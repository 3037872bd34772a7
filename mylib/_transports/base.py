"""The transport interface: what the engine needs from whatever moves bytes.

A transport sends one request, exactly as given (no redirects, retries, auth, cookies of the
client or hooks: those are the pipeline's, ``mylib/_pipeline/``), and returns a
:class:`~mylib.Response`:

* with ``stream=False``, its body read into ``content`` and the connection released, reading
  no more than ``request.max_body_size`` bytes (:class:`~mylib.ResponseTooLarge` past it:
  the hop checks it again for transports that do not);
* with ``stream=True``, as soon as the headers are in, the body still on the wire behind a
  :class:`~mylib._models.ResponseBody` (read / read_some / release / abort). Whoever takes the
  response owns that body (see ``mylib/_models.py``).

Failures are raised as mylib errors (``ConnectError``, ``ReadTimeout``, ...): a transport
translates its engine's exceptions itself, in one place. ``Timeout.connect`` and
``Timeout.read`` are the transport's to enforce; ``Timeout.total`` is the engine's, around the
whole call. ``aclose()`` is awaited on each loop the client was used on when it is closed.

Why this shape: it is httpx's ``AsyncBaseTransport.handle_async_request``, the smallest seam
that lets a user wrap or replace the engine (``transport=``), and aiohttp's client
middlewares showed the pipeline above it needs nothing more. Rejected: handing transports a
per-client config object (a transport is made once, for one client, with what it needs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from .._models import Request, Response, ResponseBody

__all__ = ["AsyncTransport", "BytesBody", "ResponseBody"]


class AsyncTransport(ABC):
    """Base class of transports: send one request, return its :class:`~mylib.Response`.

    Subclass it to replace mylib's aiohttp engine, or to wrap it (keep the one you wrap and
    call its ``send``); pass the instance as ``transport=`` to a client.
    """

    @abstractmethod
    async def send(self, request: Request, *, stream: bool = False) -> Response:
        """Send ``request`` once and return the response (body unread when ``stream``).

        Raises:
            TransportError: no whole response (a mylib error, never the engine's own).
        """

    async def aclose(self) -> None:  # noqa: B027 (most transports hold nothing to close)
        """Close what this transport holds on the running loop."""

    def in_use(self) -> bool:
        """Whether closing needs the I/O loop (False for a transport never used; the
        blocking Client then closes without starting the loop)."""
        return True


class BytesBody:
    """A :class:`~mylib._models.ResponseBody` over bytes already in memory (one piece)."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self) -> bytes:
        """All of what is left."""
        data, self._data = self._data, b""
        return data

    async def read_some(self) -> bytes:
        """All of what is left, then ``b""``."""
        return await self.read()

    def release(self) -> None:
        """Nothing to release."""

    def abort(self) -> None:
        """Forget what is left."""
        self._data = b""

    def on_drop(self, callback: Callable[[], None]) -> None:
        """Never called: nothing but the owner ends a body in memory."""
