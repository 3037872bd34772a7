"""MockTransport: answer requests from a function instead of the network.

``handler(request)`` returns a :class:`~mylib.Response` (``mylib.Response(200, json=...)``)
and may be a plain function or an ``async def``; an exception it raises reaches the caller
as it is (raise ``mylib.ConnectError(...)`` to fake a network failure). Everything above the
transport still runs: base_url, headers, cookies, auth, redirects, retries, hooks, timeouts.

Where it plugs in:

* ``Client(transport=mylib.MockTransport(handler))`` for one client, as in httpx;
* :func:`install` for every client in the process at once, from any thread (what
  :class:`mylib.testing.Mocker` and cassettes do: the code under test makes its own
  clients). Installed mocks stack: the innermost answers first, and what it lets by goes to
  the next one down, and at the bottom to the client's own transport
  (:meth:`MockTransport.intercept`).

A plain handler runs on the loop that sends the request (mylib's I/O loop for a blocking
``Client``), so it must not block; do slow work in an ``async def`` handler.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Awaitable, Callable

from .._errors import ConnectError
from .._models import Request, Response
from .base import AsyncTransport, BytesBody

__all__ = [
    "INSTALLED",
    "Below",
    "MockTransport",
    "NoMockAddress",
    "answer_for",
    "install",
    "send_through",
    "uninstall",
]

Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport(AsyncTransport):
    """A transport whose answers come from ``handler(request) -> Response``.

    Example::

        def handler(request: mylib.Request) -> mylib.Response:
            if request.url.path == "/users/1":
                return mylib.Response(200, json={"id": 1})
            return mylib.Response(404)

        client = mylib.Client("https://api.example.com", transport=mylib.MockTransport(handler))
        assert client.get("/users/1").json() == {"id": 1}

    Raises:
        TypeError: ``handler`` is not callable (at once), or it returned something other than
            a Response (from the request).
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"MockTransport needs a callable handler, not {handler!r}")
        self.handler = handler

    def __repr__(self) -> str:
        return f"<mylib.MockTransport handler={self.handler!r}>"

    async def send(self, request: Request, *, stream: bool = False) -> Response:
        """The handler's answer; with ``stream``, its content served as the unread body."""
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, Response):
            raise TypeError(
                f"the MockTransport handler returned {type(answer).__name__}, not a "
                "mylib.Response (e.g. mylib.Response(200, json={...}))"
            )
        return answer_for(answer, request, stream=stream)

    def in_use(self) -> bool:
        """Never: there is nothing to close."""
        return False

    async def intercept(
        self, request: Request, *, stream: bool, fallback: AsyncTransport
    ) -> Response:
        """Answer for a client whose own transport is ``fallback``, when installed for every
        client (:func:`install`). This one answers everything; a subclass may hand some
        requests to ``fallback`` (the Mocker's ``real_http=True``)."""
        return await self.send(request, stream=stream)


def answer_for(answer: Response, request: Request, *, stream: bool) -> Response:
    """What a transport returns for ``answer``, a Response made in advance: a copy (the same
    answer may serve many requests, and what the pipeline sets on a response is per request)
    with ``request`` filled in, and with ``stream`` its content as the unread body."""
    response = Response(
        answer.status_code,
        headers=answer.headers,
        content=b"" if stream else answer.content,
        request=answer.request or request,
        reason=answer.reason,
        url=answer.url or str(request.url),
        elapsed=answer.elapsed,
        json_loads=answer._json_loads,
    )
    response.encoding = answer._encoding
    if stream:
        response._body = BytesBody(answer.content)
    return response


class NoMockAddress(ConnectError):
    """A request no mock answers, or one that would reach the network while the network is
    blocked for mylib (the ``mylib_no_network`` marker). Public as
    ``mylib.testing.NoMockAddress``."""


class INSTALLED:
    """What stands in front of every client's own transport (read on every request)."""

    #: The installed mocks, innermost last: it answers first, and hands on what it lets by.
    stack: tuple[MockTransport, ...] = ()
    #: While true, mylib's own engine refuses to send (raises NoMockAddress).
    block_network: bool = False
    lock = threading.Lock()


def install(transport: MockTransport) -> None:
    """Put ``transport`` in front of every client (on top of any installed before it) until
    :func:`uninstall`.

    Raises:
        RuntimeError: it is installed already.
    """
    with INSTALLED.lock:
        if transport in INSTALLED.stack:
            raise RuntimeError("this mock is already installed")
        INSTALLED.stack = (*INSTALLED.stack, transport)


def uninstall(transport: MockTransport) -> None:
    """Undo :func:`install` of ``transport`` (nothing if it is not installed)."""
    with INSTALLED.lock:
        INSTALLED.stack = tuple(t for t in INSTALLED.stack if t is not transport)


class Below(AsyncTransport):
    """What a mock's ``fallback`` is: the next mock down the stack, else the client's own
    transport."""

    __slots__ = ("_stack", "_transport")

    def __init__(self, stack: tuple[MockTransport, ...], transport: AsyncTransport) -> None:
        self._stack = stack
        self._transport = transport

    @property
    def is_mock(self) -> bool:
        """True when what lies below answers without the network (another mock, or a
        client whose own transport is a MockTransport)."""
        return bool(self._stack) or isinstance(self._transport, MockTransport)

    async def send(self, request: Request, *, stream: bool = False) -> Response:
        """Send through the next mock down, or the client's own transport."""
        stack = self._stack
        if not stack:
            return await self._transport.send(request, stream=stream)
        return await stack[-1].intercept(
            request, stream=stream, fallback=Below(stack[:-1], self._transport)
        )


async def send_through(
    stack: tuple[MockTransport, ...], request: Request, stream: bool, transport: AsyncTransport
) -> Response:
    """Send ``request`` through the installed mocks, innermost first, for a client whose own
    transport is ``transport``."""
    return await Below(stack, transport).send(request, stream=stream)
