"""MockTransport: answer requests from a function instead of the network.

``handler(request)`` returns a :class:`~mylib.Response` (``mylib.Response(200, json=...)``)
and may be a plain function or an ``async def``; an exception it raises reaches the caller
as it is (raise ``mylib.ConnectError(...)`` to fake a network failure). Everything above the
transport still runs: base_url, headers, cookies, auth, redirects, retries, hooks, timeouts.

Where it plugs in:

* ``Client(transport=mylib.MockTransport(handler))`` for one client, as in httpx;
* :func:`install` for every client in the process at once, from any thread (what
  :class:`mylib.testing.Mocker` does: the code under test makes its own clients). While one
  is installed it wins over each client's own transport.

A plain handler runs on the loop that sends the request (mylib's I/O loop for a blocking
``Client``), so it must not block; do slow work in an ``async def`` handler.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Awaitable, Callable

from .._models import Request, Response
from .base import AsyncTransport, BytesBody

__all__ = ["INSTALLED", "MockTransport", "answer_for", "install", "installed", "uninstall"]

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


class INSTALLED:
    """The transport :func:`install` put in place for every client, if any."""

    transport: MockTransport | None = None
    lock = threading.Lock()


def install(transport: MockTransport) -> None:
    """Have every client in the process send through ``transport`` until :func:`uninstall`.

    Raises:
        RuntimeError: another transport is installed.
    """
    with INSTALLED.lock:
        if INSTALLED.transport is not None:
            raise RuntimeError("another transport is already installed for every client")
        INSTALLED.transport = transport


def uninstall(transport: MockTransport) -> None:
    """Undo :func:`install` of ``transport`` (nothing if it is not the installed one)."""
    with INSTALLED.lock:
        if INSTALLED.transport is transport:
            INSTALLED.transport = None


def installed() -> MockTransport | None:
    """The transport installed for every client, or None (read on every request)."""
    return INSTALLED.transport

