"""mylib's exceptions, and the one place where engine errors become them.

The tree::

    Error                                   every exception mylib raises on purpose
    ├── HTTPStatusError                     raise_for_status() on a 4xx/5xx; has .response
    ├── TransportError                      the request did not produce a whole response
    │   ├── ConnectError                    no connection (refused, DNS, unreachable)
    │   │   ├── TLSError                    the TLS handshake or certificate check failed
    │   │   └── ProxyError                  the proxy refused or failed
    │   ├── ReadError                       the connection broke while reading the response
    │   ├── WriteError                      the connection broke while sending the request
    │   ├── RemoteProtocolError             the server broke HTTP (bad status line, ...)
    │   └── TooManyRedirects                more redirects than max_redirects
    ├── TimeoutError (also builtins.TimeoutError)
    │   ├── ConnectTimeout                  (also ConnectError)
    │   └── ReadTimeout                     (also ReadError)
    ├── DecodingError (also ValueError)     response.json()/text could not decode the body
    ├── InvalidURL (also ValueError)        not an http(s) URL with a host
    ├── ClientClosedError (also RuntimeError)   the client, or mylib's I/O loop, is closed
    └── LoopThreadError (also RuntimeError) a blocking call on mylib's own I/O loop thread

Errors from aiohttp, asyncio, ssl and the socket layer are translated in exactly one place,
:func:`translating`, which the engine wraps around its I/O; the original stays attached as
``__cause__``. Messages name the URL with any credentials removed.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import ssl
from types import TracebackType
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

if TYPE_CHECKING:
    from ._models import Request, Response

__all__ = [
    "ClientClosedError",
    "ConnectError",
    "ConnectTimeout",
    "DecodingError",
    "Error",
    "HTTPStatusError",
    "InvalidURL",
    "LoopThreadError",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "TLSError",
    "TimeoutError",
    "TooManyRedirects",
    "TransportError",
    "WriteError",
]


class Error(Exception):
    """Base class of every exception mylib raises on purpose.

    ``request`` is the :class:`~mylib.Request` being sent when the error happened, if any;
    ``attempts`` says how many times it was sent (more than 1 when retries were made).
    """

    #: How many times the request was sent before this error (1 + retries).
    attempts: int = 1

    def __init__(self, message: str, *, request: Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class HTTPStatusError(Error):
    """Raised by :meth:`Response.raise_for_status` for a 4xx or 5xx response.

    ``response`` is the response, with its body already read.
    """

    def __init__(self, message: str, *, response: Response) -> None:
        super().__init__(message, request=response.request)
        self.response = response


class TransportError(Error):
    """The request was not answered with a whole response."""


class ConnectError(TransportError):
    """No connection could be made: refused, unreachable, or the name did not resolve."""


class TLSError(ConnectError):
    """The TLS handshake failed, e.g. the certificate did not verify."""


class ProxyError(ConnectError):
    """The proxy could not be reached or refused to connect us."""


class ReadError(TransportError):
    """The connection broke, or the body was malformed, while reading the response."""


class WriteError(TransportError):
    """The connection broke while sending the request."""


class RemoteProtocolError(TransportError):
    """The server's answer was not valid HTTP."""


class TooManyRedirects(TransportError):
    """More redirects than ``max_redirects``; ``response`` is the last one received."""

    def __init__(
        self, message: str, *, request: Request | None = None, response: Response | None = None
    ) -> None:
        super().__init__(message, request=request)
        self.response = response


class TimeoutError(Error, builtins.TimeoutError):
    """The request took longer than its timeout and was cancelled.

    It is also a builtin ``TimeoutError``, so existing ``except TimeoutError`` clauses work.
    """


class ConnectTimeout(TimeoutError, ConnectError):
    """Connecting took longer than ``Timeout.connect``."""


class ReadTimeout(TimeoutError, ReadError):
    """The server was silent for longer than ``Timeout.read``."""


class DecodingError(Error, ValueError):
    """The body could not be decoded as asked (e.g. ``json()`` on a body that is not JSON)."""


class InvalidURL(Error, ValueError):
    """The URL is malformed, has an unsupported scheme, or has no host."""


class ClientClosedError(Error, RuntimeError):
    """The client was closed, or the interpreter is exiting and mylib's I/O loop has stopped."""


class LoopThreadError(Error, RuntimeError):
    """A blocking call was made on mylib's I/O loop thread, where waiting would deadlock."""


def redact_url(url: URL | str) -> str:
    """The URL as text with any user name and password removed."""
    try:
        parsed = url if isinstance(url, URL) else URL(str(url))
        if parsed.user is not None or parsed.password is not None:
            parsed = parsed.with_user(None)
        return str(parsed)
    except (ValueError, TypeError):
        return "<unparsable URL>"


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


#: The ``user:password@`` part of any URL quoted in an engine message.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]*@")


def translate(exc: BaseException, request: Request | None) -> Error | None:
    """The mylib exception for an engine exception, or None if it is not an I/O error."""
    if isinstance(exc, Error):
        return None
    for engine_type, our_type in _TABLE:
        if isinstance(exc, engine_type):
            where = redact_url(request.url) if request is not None else "the server"
            # aiohttp quotes URLs in its messages (a proxy's, credentials and all).
            detail = _USERINFO.sub(r"\1", str(exc)) or type(exc).__name__
            return our_type(f"{_VERBS.get(our_type, 'request failed')} ({where}): {detail}",
                            request=request)
    return None


_VERBS: dict[type[Error], str] = {
    ConnectTimeout: "timed out connecting",
    ReadTimeout: "timed out waiting for the server",
    TimeoutError: "timed out",
    InvalidURL: "invalid URL",
    TLSError: "TLS failed",
    ProxyError: "proxy failed",
    ConnectError: "could not connect",
    RemoteProtocolError: "the server broke the connection or the protocol",
    ReadError: "the connection broke while reading",
    TransportError: "request failed",
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
        if ours is not None:
            raise ours from exc
