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
    │   ├── ReadTimeout                     (also ReadError)
    │   └── PoolTimeout                     no free connection within Timeout.pool (Limits)
    ├── ResponseTooLarge                    the body passed max_body_size; has .limit
    ├── DecodingError (also ValueError)     response.json()/text could not decode the body
    ├── InvalidURL (also ValueError)        not an http(s) URL with a host
    ├── InvalidHeader (also ValueError)     a header or cookie name or value that cannot be sent
    ├── CookieConflict (also LookupError)   cookies["name"] when several cookies have that name
    ├── ClientClosedError (also RuntimeError)   the client, or mylib's I/O loop, is closed
    └── LoopThreadError (also RuntimeError) a blocking call on mylib's own I/O loop thread

Errors from aiohttp, asyncio, ssl and the socket layer are translated in exactly one place, the
aiohttp transport's table (``mylib/_transports/aiohttp.py``); the original stays attached as
``__cause__``. Messages name the URL with any credentials removed. This module imports no
engine.
"""

from __future__ import annotations

import builtins
import re
from typing import TYPE_CHECKING, Any

from yarl import URL

if TYPE_CHECKING:
    from ._models import Request, Response

__all__ = [
    "ClientClosedError",
    "ConnectError",
    "ConnectTimeout",
    "CookieConflict",
    "DecodingError",
    "Error",
    "HTTPStatusError",
    "InvalidHeader",
    "InvalidURL",
    "LoopThreadError",
    "MapInterrupted",
    "PoolTimeout",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "ResponseTooLarge",
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
    #: Sends the transport made on its own before this error (mylib's engine sends again
    #: when the server closed a kept-alive connection the request went out on).
    _resends: int = 0
    #: True when translated from an engine exception (its traceback is shortened).
    _engine: bool = False

    def __init__(self, message: str, *, request: Request | None = None) -> None:
        super().__init__(message)
        self.request = request

    def __reduce__(self) -> tuple[Any, ...]:
        # Every attribute a user reads (.request, .response, .limit, .attempts) travels;
        # the subclasses' keyword-only __init__ is not called again on the other side.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(cls: type[Error], args: tuple[Any, ...], state: dict[str, Any]) -> Error:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


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


class PoolTimeout(TimeoutError):
    """No connection of the pool became free within ``Timeout.pool``: every connection
    :class:`Limits` allows (in all, or to this host) was busy with another request."""


class ResponseTooLarge(Error):
    """The response's body (counted after decompression) passed ``max_body_size``.

    Raised as soon as the limit is passed, never after buffering the whole body; the
    connection is closed. ``limit`` is the limit in bytes. A response read whole is limited
    to 256 MiB by default: read a larger one with ``stream()`` or ``download()``, or give a
    larger ``max_body_size`` (``None`` for no limit).
    """

    def __init__(self, message: str, *, limit: int, request: Request | None = None) -> None:
        super().__init__(message, request=request)
        #: The limit that was passed, in bytes.
        self.limit = limit


def body_too_large(
    limit: int, request: Request | None, *, announced: int | None = None
) -> ResponseTooLarge:
    """The error for a body that passed ``limit`` (or announced ``announced`` bytes)."""
    allowed = f"max_body_size={limit}" + (
        f" ({limit >> 20} MiB)" if limit and limit % (1 << 20) == 0 else ""
    )
    what = (
        f"is {announced} bytes (Content-Length), more than {allowed} allows"
        if announced is not None
        else f"passed {allowed}"
    )
    of = "" if request is None else f" of {request.method} {redact_url(request.url)}"
    return ResponseTooLarge(
        f"the response body{of} {what}; read it with stream() or download(), or give "
        "a larger max_body_size (None for no limit)",
        limit=limit,
        request=request,
    )


class DecodingError(Error, ValueError):
    """The body could not be decoded as asked (e.g. ``json()`` on a body that is not JSON)."""


class InvalidURL(Error, ValueError):
    """The URL is malformed, has an unsupported scheme, or has no host."""


class InvalidHeader(Error, ValueError):
    """A header or cookie cannot be sent as given: a name that is not an RFC 9110 token
    (empty, or with a space, a colon or another separator), or a value with CR, LF or NUL.
    Refused before anything is sent."""


class CookieConflict(Error, LookupError):
    """More than one cookie has the name asked for (set for different domains or paths):
    ``cookies.get(name, domain=..., path=...)`` says which."""


class ClientClosedError(Error, RuntimeError):
    """The client was closed, or the interpreter is exiting and mylib's I/O loop has stopped."""


class LoopThreadError(Error, RuntimeError):
    """A blocking call was made on mylib's I/O loop thread, where waiting would deadlock."""


#: Query parameters whose values are masked wherever mylib quotes a URL.
_SECRET_NAME = re.compile(
    r"token|key|secret|pass|pwd|auth|sig|session|credential|code", re.IGNORECASE
)
#: A secret-looking query parameter in a text: its name and ``=``, then its value, up to
#: the next parameter or a space (a quote may be part of it, so it does not end it).
_SECRET_PARAM = re.compile(
    r"([?&;][^=&;#\s'\"]*(?:token|key|secret|pass|pwd|auth|sig|session|credential|code)"
    r"[^=&;#\s'\"]*=)[^&;#\s]*",
    re.IGNORECASE,
)
#: The ``user:password@`` of any URL in a text (greedy up to the authority's last ``@``).
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s'\"]*@")


def redact_url(url: URL | str) -> str:
    """The URL as text, as mylib quotes it in messages, reprs and logs: without any user name
    and password, and with the values of query parameters whose names look like credentials
    (``token``, ``api_key``, ``password``, ``sig``, ...) replaced by ``***``. A URL that does
    not parse is quoted as given, its user info removed."""
    try:
        parsed = url if isinstance(url, URL) else URL(str(url))
        if parsed.user is not None or parsed.password is not None:
            parsed = parsed.with_user(None)
        if parsed.query_string and any(_SECRET_NAME.search(k) for k in parsed.query):
            parsed = parsed.with_query(
                [(k, "***" if _SECRET_NAME.search(k) else v) for k, v in parsed.query.items()]
            )
        return str(parsed)
    except (ValueError, TypeError):
        return redact_text(str(url))


def redact_text(text: str) -> str:
    """``text`` with the user info of every URL in it removed, and the values of query
    parameters whose names look like credentials masked (for engine messages, which quote
    URLs whole, and URLs that do not parse)."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1", text))


class MapInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``map`` or ``as_completed``: the work in flight was cancelled, and what
    had finished is kept.

    It is a ``KeyboardInterrupt``, so code that stops on Ctrl-C still stops; catch it to keep
    the finished part of a long crawl::

        try:
            pages = client.map("GET", urls)
        except mylib.MapInterrupted as stop:
            pages = stop.results          # None where a request had not finished

    ``results``: for ``map``, the results in input order, the Response (or, with
    ``return_exceptions``, the error) of each finished item and None for each unfinished
    one (unfinished items at the end are absent when the input has no ``len()``); for
    ``as_completed``, the ``(index, result)`` pairs that had finished but were not yielded
    yet (what was yielded stays yielded). ``completed``: how many items finished.
    """

    def __init__(self, message: str, *, results: list[Any], completed: int) -> None:
        super().__init__(message)
        #: The finished results in input order (None: not finished); for as_completed, the
        #: finished pairs not yet yielded.
        self.results = results
        #: How many items had finished.
        self.completed = completed

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_interrupted, (str(self), self.results, self.completed))


def _rebuild_interrupted(message: str, results: list[Any], completed: int) -> MapInterrupted:
    return MapInterrupted(message, results=results, completed=completed)


def shorten(error: Error) -> Error:
    """A translated engine error as it leaves the engine: its traceback and those of the
    engine exceptions it chains are dropped, so that what is printed is the caller's frames,
    one line per engine exception and mylib's message, shorter than requests' for the same
    mistake. The engine's frames are aiohttp's and asyncio's internals; the exceptions
    themselves, with their messages and attributes, stay reachable as ``__cause__``."""
    if getattr(error, "_engine", False):
        cause: BaseException | None = error.__cause__
        for _ in range(8):  # the chain, bounded (it may loop)
            if cause is None:
                break
            cause.__traceback__ = None
            cause = cause.__cause__ or cause.__context__
        error.__traceback__ = None
    return error
