"""Plain data: Timeout, Retry, Request and the responses. No engine is imported here.

A :class:`Response` is materialized on the I/O loop (status, headers, the whole body) and handed
to the caller as data; decoding (``text``, ``json()``) happens lazily, in the caller's thread,
so big JSON documents never stall the shared loop.

The response surface is written once, in :class:`ResponseBase`: :class:`Response` and both
stream faces (``mylib/_stream.py``) inherit status, headers, ``ok``, ``encoding``, ``links``,
``cookies`` and ``raise_for_status``, and decode through ``mylib/_decode.py``.

Who owns an unread body. A transport asked for a stream returns a :class:`Response` whose
body is still on the wire, behind a :class:`ResponseBody` (read, release, abort). Whoever
holds such a response and does not hand it on must finish it: ``await response.aread()``
reads the rest and returns the connection to the pool; ``response.close()`` drops the
connection at once (the way out on error paths, where awaiting is not an option). A stream
takes the body over with :meth:`Response.detach_body`.
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import http
import json as jsonlib
import math
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._cookies import Cookies
from ._decode import charset_of, decode_json, decode_text
from ._errors import DecodingError, HTTPStatusError, InvalidHeader, body_too_large, redact_url
from ._urls import RequestURL, check_proxy, to_url, validate_url

if TYPE_CHECKING:
    from ._auth import Auth

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "WAITING_FOR",
    "Request",
    "Response",
    "ResponseBase",
    "ResponseBody",
    "Retry",
    "Timeout",
    "announced_size",
    "check_body_limit",
    "check_bool",
    "check_method",
    "has_line_break",
    "is_token",
    "read_within",
    "stream_limit",
    "to_headers",
]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def _check_seconds(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if math.isnan(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Timeout:
    """How long a request may take, in seconds; ``None`` means no limit for that part.

    Examples::

        Timeout(10)                     # the whole request, redirects included: 10 s
        Timeout(total=60, connect=5)    # connect within 5 s, everything within 60 s
        Timeout(read=30)                # the server may go silent for at most 30 s
        Timeout(read=30, headers=300)   # ... and must have answered 300 s after the request
        Timeout(10, pool=2)             # ... and wait at most 2 s for a free connection
        Timeout(None)                   # no limit at all (you asked for it)

    ``total`` covers the whole call (connecting, redirects, retries and reading the body),
    ``connect`` the TCP and TLS set-up of one connection, ``read`` the longest gap between
    two pieces of the response, and ``headers`` the wait for a response's headers once its
    request has been sent (each hop's, so a server that drips its headers a byte at a time
    cannot hold a call forever; the time to upload a body does not count), and ``pool`` the
    wait for a free connection when the connection pool is full (see :class:`Limits`;
    :class:`PoolTimeout` says so; with no ``pool``, ``total`` bounds it, and a pool at a
    standstill for ``read`` seconds ends it). A Timeout has only the limits given to it:
    ``Timeout(connect=10, read=60, headers=120, pool=2)`` keeps the default's. A bare number
    given as ``timeout=`` means ``total``. The default is ``Timeout(connect=10, read=60,
    headers=120)``: a body that keeps arriving is never cut off.

    Raises:
        TypeError: a value is not a number.
        ValueError: a value is zero, negative or NaN.
    """

    total: float | None = None
    connect: float | None = None
    read: float | None = None
    headers: float | None = None
    pool: float | None = None

    def __post_init__(self) -> None:
        for name in ("total", "connect", "read", "headers", "pool"):
            object.__setattr__(self, name, _check_seconds(f"timeout {name}", getattr(self, name)))

    @classmethod
    def coerce(cls, value: object, name: str = "timeout") -> Timeout:
        """A Timeout from a Timeout, a number of seconds (the total), None (no limit), or
        requests' ``(connect, read)`` pair."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return _NO_TIMEOUT
        if isinstance(value, tuple) and len(value) == 2:
            return cls(
                connect=_check_seconds(f"{name} connect", value[0]),
                read=_check_seconds(f"{name} read", value[1]),
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{name} must be a number of seconds, a (connect, read) pair, a mylib.Timeout "
                "or None, "
                f"not {type(value).__name__}"
            )
        return cls(total=_check_seconds(name, value))


_NO_TIMEOUT = Timeout()

#: What the current call is waiting for right now (a free connection of a full pool, a rate
#: limit's next slot), set by whoever makes it wait, so that the error of a total timeout
#: that ends the wait says what it was (a call with a total timeout sets a fresh list).
WAITING_FOR: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "mylib_waiting_for", default=None
)

#: The default: connecting may take 10 s, the server may be silent for 60 s at a stretch and
#: must have sent a response's headers 120 s after its request, but a body that keeps
#: arriving is never cut off (a large download is fine).
DEFAULT_TIMEOUT = Timeout(connect=10.0, read=60.0, headers=120.0)


class _DefaultBodyLimit(int):
    """The default ``max_body_size``: an int like any limit, but binding only on a body
    read whole. A stream or a download is limited only by a ``max_body_size`` given."""

    __slots__ = ()


#: A response read whole may have at most this many bytes of body (after decompression)
#: unless ``max_body_size`` says otherwise: enough for any API answer, far below what a
#: decompression bomb or an endless body would take.
DEFAULT_MAX_BODY_SIZE: int = _DefaultBodyLimit(256 * 1024 * 1024)


def check_body_limit(value: object) -> int | None:
    """``max_body_size`` checked: a number of bytes (0 or more) or None (no limit)."""
    if value is None or type(value) is _DefaultBodyLimit:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"max_body_size must be a number of bytes or None, not {type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"max_body_size must be 0 or more bytes, not {value}")
    return int(value)


def announced_size(headers: Mapping[str, str], status: int, method: str) -> int | None:
    """The body size the headers announce (after decompression: so only for a body without
    Content-Encoding), or None. A HEAD, a 1xx, a 204 or a 304 has no body, whatever it
    announces."""
    length = headers.get("Content-Length")
    if (
        length is None
        or "Content-Encoding" in headers
        or method == "HEAD"
        or status in (204, 304)
        or status < 200
    ):
        return None
    return int(length) if length.isdigit() else None


def stream_limit(limit: int | None) -> int | None:
    """The limit a stream or download honours: the one given, never the default."""
    return None if type(limit) is _DefaultBodyLimit else limit


@dataclass(frozen=True, slots=True)
class Retry:
    """When and how often to retry a request.

    Examples::

        Retry(3)                                   # up to 3 retries, default policy
        Retry(total=5, backoff_factor=0.2, statuses={503})
        Retry(2, methods={"GET", "POST"})         # also retry POST (not idempotent!)

    Only ``methods`` are retried (idempotent ones by default), on connection errors and on
    the ``statuses``; the wait before retry *n* is ``backoff_factor * 2**(n-1)`` seconds with
    jitter, at most ``max_backoff``, or what the server's ``Retry-After`` says when
    ``respect_retry_after`` is true. Retries never outlast the request's total timeout.

    Raises:
        TypeError: a value has the wrong type.
        ValueError: ``total`` or a wait is negative.
    """

    total: int = 3
    backoff_factor: float = 0.5
    statuses: AbstractSet[int] = field(default=frozenset({429, 502, 503, 504}))
    methods: AbstractSet[str] = field(default=_IDEMPOTENT)
    respect_retry_after: bool = True
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.total, bool) or not isinstance(self.total, int):
            raise TypeError(f"retries must be an int or a mylib.Retry, not {self.total!r}")
        if self.total < 0:
            raise ValueError(f"retries must be 0 or more, not {self.total}")
        for name in ("backoff_factor", "max_backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"Retry.{name} must be a number >= 0, not {value!r}")
        object.__setattr__(self, "statuses", frozenset(int(s) for s in self.statuses))
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    @classmethod
    def coerce(cls, value: object) -> Retry:
        """A Retry from a Retry or an int (the number of retries)."""
        if isinstance(value, Retry):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"retries must be an int or a mylib.Retry, not {type(value).__name__}"
            )
        return cls(total=value)


def to_headers(value: object, name: str = "headers") -> CIMultiDict[str]:
    """Headers from a mapping or a sequence of pairs, checked to be str -> str."""
    headers: CIMultiDict[str] = CIMultiDict()
    if value is None:
        return headers
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise TypeError(f"{name} must be a dict of str -> str, not {type(value).__name__}")
    for key, item in items:
        # bytes as requests takes them (b"Basic ..."), sent as they are: the engine writes
        # header text as UTF-8, so bytes that are not UTF-8 cannot be.
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidHeader(
                    f"{name}[{key!r}] is bytes that are not UTF-8, which mylib cannot send "
                    "as they are; encode the value (e.g. base64)"
                ) from None
        if not isinstance(key, str) or not isinstance(item, (str, type(None))):
            raise TypeError(f"{name} must map str -> str; {key!r}: {item!r} is not")
        if not is_token(key):
            raise InvalidHeader(
                f"{name} has the name {key!r}, which cannot be sent: a header name is a "
                "token (letters, digits and !#$%&'*+-.^_`|~), with no space or colon"
            )
        if item is not None:
            if has_line_break(item):
                raise InvalidHeader(
                    f"{name}[{key!r}] holds a CR, LF or NUL, which would end the header "
                    "early (header injection); send it encoded instead"
                )
            headers.add(key, item)
    return headers


#: RFC 9110's token: what a header name (and a Digest algorithm) may be.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LINE_BREAK = re.compile(r"[\r\n\x00]")


def is_token(value: str) -> bool:
    """True if ``value`` is an RFC 9110 token (a valid header name)."""
    return _TOKEN.fullmatch(value) is not None


def has_line_break(value: str) -> bool:
    """True if ``value`` holds a CR, LF or NUL, which would end a header early."""
    return _LINE_BREAK.search(value) is not None


def check_bool(name: str, value: object) -> bool:
    """``value``, checked to be True or False (the message names the option)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def check_method(value: object) -> str:
    """``value``, checked to be a non-empty str (or ASCII bytes), upper case."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise TypeError(f"method must be an ASCII name, not {value!r}") from None
    if not isinstance(value, str) or not value:
        raise TypeError(f"method must be a non-empty str, not {value!r}")
    return value.upper()


class Request:
    """A request as it is sent: method, URL, headers and body, after all merging.

    Built by ``Client.build_request``/``AsyncClient.build_request``, and found on every
    response as ``response.request`` and on errors as ``error.request``. Derive a changed
    copy with :meth:`replace` (redirects, retries and resumed downloads do), so that no field
    is lost on the way.
    """

    __slots__ = (
        "_engine_headers",
        "_tls_spec",
        "_url",
        "auth",
        "cache",
        "content",
        "follow_redirects",
        "headers",
        "max_body_size",
        "method",
        "proxy",
        "timeout",
        "tls",
    )

    def __init__(
        self,
        method: str,
        url: URL | str,
        *,
        headers: Any = None,
        content: Any = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        follow_redirects: bool = True,
        auth: Auth | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        tls: ssl.SSLContext | bool | None = None,
        proxy: URL | None = None,
        cache: bool = True,
    ) -> None:
        if not isinstance(url, RequestURL):
            url = _to_request_url(url)
        if not isinstance(headers, CIMultiDict):
            headers = to_headers(headers)
        #: The HTTP method, upper case.
        self.method = method
        self._url = url
        #: The headers sent, case-insensitive (a ``multidict.CIMultiDict``).
        self.headers: CIMultiDict[str] = headers
        #: The body: bytes, None, or a streaming body object.
        self.content = content
        #: The :class:`Timeout` in force for this request.
        self.timeout = timeout
        #: Whether redirects are followed for this request.
        self.follow_redirects = follow_redirects
        #: The auth scheme applied when sent (adds headers then); None for none.
        self.auth = auth
        #: The most bytes of response body (counted after decompression) accepted before
        #: :class:`ResponseTooLarge`; None for no limit. The default, 256 MiB, binds only a
        #: response read whole: streams and downloads honour a limit that was given.
        self.max_body_size = max_body_size
        #: This request's own TLS setting (from ``verify=``/``cert=``: True, False or an
        #: ``ssl.SSLContext``), or None for the client's.
        self.tls = tls if tls is None else _check_tls(tls)
        #: This request's own proxy (``proxy=``), or None for the client's.
        self.proxy = None if proxy is None else check_proxy(proxy)
        #: False: the client's cache is neither read nor written for this request.
        self.cache = cache
        #: The headers the engine added when it sent this request (response.request shows
        #: them); dropped again if this request is sent once more, so that it goes out as
        #: it was made (the engine adds its own anew: Host, Content-Length, a boundary).
        self._engine_headers: tuple[str, ...] = ()
        #: ``(verify, cert)`` that ``tls`` was made from, when it is a context mylib made
        #: from files: a pickled request rebuilds it from them.
        self._tls_spec: tuple[Any, Any] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # What a user reads, and what sending it again needs; a TLS context mylib made is
        # rebuilt from its files on the other side, and a streamed body (consumed once, in
        # this process) does not travel: the copy has none.
        tls: Any = self.tls
        if isinstance(tls, ssl.SSLContext):
            if self._tls_spec is None:
                raise TypeError(
                    "a Request whose verify= is an ssl.SSLContext cannot be pickled (a "
                    "context holds OpenSSL state); give verify= a CA bundle path instead"
                )
            tls = ("spec", *self._tls_spec)
        content = self.content if isinstance(self.content, (bytes, bytearray)) else None
        return (
            _rebuild_request,
            (self.method, str(self._url), list(self.headers.items()), content, self.timeout,
             self.follow_redirects, self.auth, self.max_body_size, tls, self.proxy,
             self.cache, self._engine_headers),
        )  # fmt: skip

    @property
    def url(self) -> RequestURL:
        """The full URL, query included, credentials removed: a ``str`` (as
        ``response.url``) with its parts as attributes (``.host``, ``.path``, ``.query``,
        ...) and ``.parsed``, the ``yarl.URL``. Assigning a str or ``yarl.URL`` (in a hook
        or an auth flow) checks it as ``build_request`` does."""
        return self._url

    @url.setter
    def url(self, value: URL | str) -> None:
        self._url = value if isinstance(value, RequestURL) else _to_request_url(value)

    def _clone(self) -> Request:
        # A field-for-field copy; copy.copy() of a slotted object costs three times more.
        new = object.__new__(Request)
        new._url = self._url
        new.method = self.method
        new.headers = self.headers
        new.content = self.content
        new.timeout = self.timeout
        new.follow_redirects = self.follow_redirects
        new.auth = self.auth
        new.max_body_size = self.max_body_size
        new.tls = self.tls
        new.proxy = self.proxy
        new.cache = self.cache
        new._engine_headers = self._engine_headers
        new._tls_spec = self._tls_spec
        return new

    def replace(self, **changes: Any) -> Request:
        """A copy with the given fields changed, e.g. ``request.replace(method="GET")``.

        Every other field is carried over, the headers as a copy of their own. Values are
        checked and converted as ``build_request`` does: a str URL, a dict of headers, a
        number of seconds for ``timeout``, a ``(user, password)`` pair for ``auth``.

        Raises:
            TypeError: a name that is not a field of Request, or a value of the wrong type.
            InvalidURL: ``url`` is not an http(s) URL with a host.
        """
        unknown = changes.keys() - _FIELD_CHECKS.keys()
        if unknown:
            raise TypeError(f"Request has no field(s) {', '.join(sorted(unknown))}")
        copy = self._clone()
        copy.headers = CIMultiDict(self.headers)
        for name, value in changes.items():
            setattr(copy, name, _FIELD_CHECKS[name](value))
        return copy

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON (for tests that inspect what was sent)."""
        if not isinstance(self.content, (bytes, bytearray)):
            raise DecodingError("this request's body is not a bytes body", request=self)
        return jsonlib.loads(self.content, **kwargs)

    def __repr__(self) -> str:
        return f"<Request {self.method} {redact_url(self.url)}>"


def _rebuild_request(
    method: str, url: str, headers: list[tuple[str, str]], content: bytes | None,
    timeout: Timeout, follow_redirects: bool, auth: Any, max_body_size: int | None,
    tls: Any, proxy: URL | None, cache: bool, engine_headers: tuple[str, ...],
) -> Request:
    spec = None
    if isinstance(tls, tuple):
        from ._config import make_ssl  # (the config module builds on this one)

        spec = tls[1:]
        tls = make_ssl(*spec)
    request = Request(
        method, url, headers=CIMultiDict(headers), content=content, timeout=timeout,
        follow_redirects=follow_redirects, auth=auth, max_body_size=max_body_size, tls=tls,
        proxy=proxy, cache=cache,
    )  # fmt: skip
    request._engine_headers, request._tls_spec = engine_headers, spec
    return request


def _to_request_url(value: object) -> RequestURL:
    if isinstance(value, RequestURL):
        return value
    return RequestURL(validate_url(to_url(value)))


def _check_tls(value: object) -> ssl.SSLContext | bool | None:
    if value is None or isinstance(value, (bool, ssl.SSLContext)):
        return value
    raise TypeError(
        f"tls must be True, False, an ssl.SSLContext or None, not {type(value).__name__}"
    )


def _check_auth(value: object) -> Any:
    from ._auth import to_auth  # the auth schemes build on this module

    return to_auth(value)


#: How :meth:`Request.replace` checks and converts each field.
_FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "method": check_method,
    "url": lambda value: _to_request_url(value),
    "headers": lambda value: CIMultiDict(to_headers(value)),
    "content": lambda value: value,
    "timeout": Timeout.coerce,
    "follow_redirects": functools.partial(check_bool, "follow_redirects"),
    "auth": _check_auth,
    "max_body_size": check_body_limit,
    "tls": _check_tls,
    "proxy": lambda value: None if value is None else check_proxy(value),
    "cache": functools.partial(check_bool, "cache"),
}


class ResponseBody(Protocol):
    """The unread body of a streamed response, as a transport hands it over.

    Errors are raised as mylib errors (the transport translates its own). A body is finished
    exactly once, by :meth:`release` after reading it to the end or by :meth:`abort` (its
    owner's), unless the transport drops it first (:meth:`on_drop`).
    """

    async def read(self) -> bytes:
        """The rest of the body."""
        ...

    async def read_some(self) -> bytes:
        """The next piece of the body as it arrived (any size); ``b""`` at its end."""
        ...

    def release(self) -> None:
        """The body was read to its end: the connection may serve another request."""
        ...

    def abort(self) -> None:
        """Drop the connection; what is left of the body is never read."""
        ...

    def on_drop(self, callback: Callable[[], None]) -> None:
        """Have ``callback()`` called, on the body's loop, when the transport drops the body
        itself (its connection pool is closing); the body is aborted right after. A stream
        uses it to mark itself closed and stop reading."""
        ...


_LINK_RE = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _reason_for(status_code: int) -> str:
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return ""


class ResponseBase:
    """What every response face shares, known as soon as the headers arrive: status,
    headers, URL, the request, redirects, and what derives from them.

    :class:`Response`, :class:`~mylib.StreamResponse` and :class:`~mylib.AsyncStreamResponse`
    are all ResponseBase instances.
    """

    __slots__ = (
        "_encoding",
        "attempts",
        "from_cache",
        "headers",
        "history",
        "reason",
        "request",
        "revalidated",
        "status_code",
        "url",
    )

    status_code: int
    reason: str
    headers: CIMultiDictProxy[str]
    url: str
    request: Request
    history: list[Response]
    attempts: int
    from_cache: bool
    revalidated: bool
    _encoding: str | None

    def _copy_base(self, source: ResponseBase) -> None:
        """Take the shared fields from ``source`` (a stream face from the engine's response)."""
        #: The status code, e.g. 200.
        self.status_code = source.status_code
        #: The reason phrase the server sent, e.g. "Not Found".
        self.reason = source.reason
        #: The headers, case-insensitive; repeated headers keep every value (``getall``).
        self.headers = source.headers
        #: The final URL, after redirects, as a string.
        self.url = source.url
        #: The request that produced this response.
        self.request = source.request
        #: The redirect responses that led here, oldest first (their bodies were read).
        self.history = source.history
        #: How many times the request was sent to get this response (see ``Response``).
        self.attempts = source.attempts
        #: True for a response the client's cache answered with (see ``Response``).
        self.from_cache = source.from_cache
        #: True when the cache checked its stored response with the server (a 304).
        self.revalidated = source.revalidated
        self._encoding = source._encoding

    @property
    def ok(self) -> bool:
        """True unless the status is 4xx or 5xx.

        It says nothing about whether the body is what you wanted: a 3xx redirect that was
        not followed, or a 204 with no body, is "ok".
        """
        return self.status_code < 400

    def __bool__(self) -> bool:
        """:attr:`ok`, as in requests: ``if not response:`` catches a 4xx or 5xx."""
        return self.status_code < 400

    @property
    def is_redirect(self) -> bool:
        """True for a redirect status with a Location header."""
        return self.status_code in _REDIRECTS and "Location" in self.headers

    @property
    def encoding(self) -> str | None:
        """The charset used to decode text: the one set here, else the Content-Type's, else
        None (then text is decoded as UTF-8, and a UTF-8 byte-order mark is dropped)."""
        if self._encoding is not None:
            return self._encoding
        return charset_of(self.headers)

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    @property
    def cookies(self) -> Cookies:
        """The cookies this response set (``Set-Cookie``) that a client would keep, as a
        :class:`Cookies` (use it as a dict of name -> value)."""
        cookies = Cookies()
        if "Set-Cookie" in self.headers:
            # A hand-made response may have no URL: read as if from a host of its own.
            cookies.extract(self.headers, URL(self.url or "http://response.invalid/"))
        return cookies

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header parsed, keyed by ``rel`` (or by URL when there is no rel)."""
        result: dict[str, dict[str, str]] = {}
        for header in self.headers.getall("Link", ()):
            for match in _LINK_RE.finditer(header):
                link = {"url": match.group(1).strip()}
                for param in match.group(2).split(";"):
                    key, _, value = param.partition("=")
                    if key.strip():
                        link[key.strip().lower()] = value.strip().strip("'\"")
                result[link.get("rel", link["url"])] = link
        return result

    def raise_for_status(self) -> Any:
        """Raise :class:`HTTPStatusError` for a 4xx or 5xx status; otherwise return self.

        Example: ``data = client.get(url).raise_for_status().json()``

        Raises:
            HTTPStatusError: the status is 4xx (client error) or 5xx (server error); its
                ``response`` is this response (for a stream, with its body unread).
        """
        if self.status_code < 400:
            return self
        kind = "client error" if self.status_code < 500 else "server error"
        method = "" if self.request is None else f"{self.request.method} "
        target = f"{method}{redact_url(self.url)}" if self.url else method.strip()
        raise HTTPStatusError(
            f"{self.status_code} {self.reason} ({kind})" + (f" for {target}" if target else ""),
            response=self,  # type: ignore[arg-type]
        )


class Headers(CIMultiDictProxy[str]):
    """A response's headers: aiohttp's read-only, case-insensitive multidict (``getall``
    gives every value of a repeated header), shown as the plain mapping it is, e.g.
    ``{'Content-Type': 'application/json', 'Set-Cookie': ['a=1', 'b=2']}``."""

    def __repr__(self) -> str:
        merged: dict[str, str | list[str]] = {}
        for name, value in self.items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = value
            elif isinstance(seen, list):
                seen.append(value)
            else:
                merged[name] = [seen, value]
        return repr(merged)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _to_headers(headers: Any) -> CIMultiDictProxy[str]:
    if isinstance(headers, CIMultiDictProxy):
        return headers if type(headers) is Headers else Headers(headers)
    if headers is None:
        return Headers(CIMultiDict())
    if isinstance(headers, CIMultiDict):
        return Headers(headers.copy())  # later changes to the caller's stay theirs
    items = headers.items() if isinstance(headers, Mapping) else headers
    try:
        return Headers(CIMultiDict((str(k), str(v)) for k, v in items))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"headers must be a dict or a list of (name, value) pairs, not {headers!r}"
        ) from exc


class _NoJSON:
    """The default of ``json=``, so that ``json=None`` can mean a JSON ``null`` body."""

    def __repr__(self) -> str:
        return "<no json>"


_NO_JSON: Any = _NoJSON()


def _body_of(
    content: bytes | None, text: str | None, json: Any, headers: CIMultiDictProxy[str]
) -> tuple[bytes, CIMultiDictProxy[str]]:
    given = [n for n, v in (("content", content), ("text", text)) if v is not None]
    if json is not _NO_JSON:
        given.append("json")
    if len(given) > 1:
        raise TypeError(f"give only one of content=, text=, json= (got {', '.join(given)})")
    if content is not None:
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"content= must be bytes (text= for str, json= for data), "
                f"not {type(content).__name__}"
            )
        return bytes(content), headers
    if text is None and json is _NO_JSON:
        return b"", headers
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"text= must be a str, not {type(text).__name__}")
        body, content_type = text.encode("utf-8"), "text/plain; charset=utf-8"
    else:
        body = jsonlib.dumps(json, ensure_ascii=False).encode("utf-8")
        content_type = "application/json"
    if "Content-Type" not in headers:
        writable = CIMultiDict(headers)
        writable["Content-Type"] = content_type
        headers = Headers(writable)
    return body, headers


class Response(ResponseBase):
    """An HTTP response whose body has been read.

    Example::

        r = client.get("https://api.example.com/items")
        r.raise_for_status()
        for item in r.json():
            ...

    Making one (for a :class:`~mylib.MockTransport` handler, or a test)::

        mylib.Response(200, json={"id": 1})
        mylib.Response(404, text="no such item", headers={"X-Trace": "abc"})

    Args:
        status_code: The status, e.g. 200.
        headers: A dict or a list of (name, value) pairs.
        content: The body as bytes; or give ``text`` (sent as UTF-8, ``text/plain``) or
            ``json`` (``application/json``), which also set a Content-Type unless
            ``headers`` has one.
        request: The request it answers (a transport fills it in when it is left out).
        reason: The reason phrase; by default the standard one for the status.
        url: The final URL; by default the request's.
        elapsed: Time from sending the request until the body was read.
        history: The redirect responses that led here.
        json_loads: What :meth:`json` decodes with.
        attempts: How many times the request was sent to get this response.

    Besides those, ``from_cache`` is True when the client's cache answered (a stored
    response: fresh, revalidated with the server, or served stale), and ``revalidated``
    when the cache checked it with the server first (a 304 refreshed it).

    Raises:
        TypeError: two kinds of body, or a value of the wrong type.
    """

    __slots__ = (
        "__weakref__",
        "_body",
        "_json_loads",
        "_text",
        "content",
        "elapsed",
    )

    def __init__(
        self,
        status_code: int,
        *,
        headers: Any = None,
        content: bytes | None = None,
        text: str | None = None,
        json: Any = _NO_JSON,
        request: Request | None = None,
        reason: str | None = None,
        url: str | None = None,
        elapsed: datetime.timedelta | None = None,
        history: list[Response] | None = None,
        json_loads: Callable[..., Any] = jsonlib.loads,
        attempts: int = 1,
    ) -> None:
        # Exact-type checks first: a transport makes one Response per request, with an int,
        # aiohttp's header proxy and bytes, and the general path costs measurably more.
        if type(status_code) is not int and (
            isinstance(status_code, bool) or not isinstance(status_code, int)
        ):
            raise TypeError(f"status_code must be an int, not {status_code!r}")
        proxy = Headers(headers) if type(headers) is CIMultiDictProxy else _to_headers(headers)
        if type(content) is not bytes or text is not None or json is not _NO_JSON:
            content, proxy = _body_of(content, text, json, proxy)
        #: The status code, e.g. 200.
        self.status_code = status_code
        #: The reason phrase the server sent, e.g. "Not Found".
        self.reason = _reason_for(status_code) if reason is None else reason
        #: The headers, case-insensitive; repeated headers keep every value (``getall``).
        self.headers = proxy
        #: The final URL, after redirects, as a string.
        self.url = url if url is not None else ("" if request is None else str(request.url))
        #: The body, as bytes (decompressed).
        self.content = content
        #: The request that produced this response.
        self.request = request  # type: ignore[assignment]  # a transport fills in a None
        #: Time from sending the request until the whole body was read (for a stream,
        #: until its headers arrived).
        self.elapsed = elapsed if elapsed is not None else datetime.timedelta(0)
        #: The redirect responses that led here, oldest first.
        self.history = history if history is not None else []
        #: How many times this request was sent to get this response (1 + retries; 0
        #: for a fresh answer from the cache).
        self.attempts = attempts
        #: True when the client's cache answered: a stored response, fresh, revalidated
        #: with the server (then ``revalidated`` is True too) or served stale.
        self.from_cache = False
        #: True when the stored response was checked with the server first (a 304).
        self.revalidated = False
        self._json_loads = json_loads
        self._encoding = None
        self._text: tuple[str | None, str] | None = None
        # The body still on the wire, for a response a transport sent as a stream; its
        # holder must aread() or close() it (see the module's docstring).
        self._body: ResponseBody | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Across a process boundary: what a user reads (status, reason, headers, body, URL,
        # request, history, elapsed, attempts, cache marks, a set encoding). A json_loads of
        # the client's own is left behind (the other side decodes with json.loads).
        if self._body is not None:
            raise TypeError("a Response whose body is still on the wire cannot be pickled")
        return (
            _rebuild_response,
            (self.status_code, list(self.headers.items()), self.content, self.request,
             self.reason, self.url, self.elapsed, self.history, self.attempts,
             self.from_cache, self.revalidated, self._encoding),
        )  # fmt: skip

    def __repr__(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"<Response [{self.status_code} {self.reason}] {redact_url(self.url)}{tries}>"

    @property
    def text(self) -> str:
        """The body decoded as text (see ``encoding``); undecodable bytes become U+FFFD."""
        encoding = self.encoding
        cached = self._text
        if cached is None or cached[0] != encoding:
            cached = self._text = (encoding, decode_text(self.content, encoding))
        return cached[1]

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON, whatever the Content-Type says.

        Raises:
            DecodingError: the body is not valid JSON; the message quotes its start.
        """
        return decode_json(
            self.content, self._json_loads, url=self.url, request=self.request, kwargs=kwargs
        )

    def raise_for_status(self) -> Response:
        """Raise :class:`HTTPStatusError` for a 4xx or 5xx status; otherwise return self.

        Example: ``data = client.get(url).raise_for_status().json()``

        Raises:
            HTTPStatusError: the status is 4xx (client error) or 5xx (server error).
        """
        return super().raise_for_status()  # type: ignore[no-any-return]

    # -- an unread body (responses a transport sent as a stream) -------------------------------

    async def aread(self) -> bytes:
        """Read what is left of the body into ``content`` and return it.

        For a response whose body was read already (every response a client returns), this
        is just ``content``. On an error the connection is dropped.

        Raises:
            ResponseTooLarge: the body passed the request's ``max_body_size``.
        """
        body, self._body = self._body, None
        if body is None:
            return self.content
        try:
            limit = None if self.request is None else self.request.max_body_size
            self.content = await read_within(body.read, body.read_some, limit, self.request)
        except BaseException:
            body.abort()
            raise
        body.release()
        self._text = None
        return self.content

    def close(self) -> None:
        """Drop the connection of a body still on the wire; nothing for a read response."""
        body, self._body = self._body, None
        if body is not None:
            body.abort()

    def detach_body(self) -> ResponseBody | None:
        """Take over the body still on the wire (None if there is none): the caller now
        owns it and must release or abort it."""
        body, self._body = self._body, None
        return body


def _rebuild_response(
    status_code: int,
    headers: list[tuple[str, str]],
    content: bytes,
    request: Request | None,
    reason: str,
    url: str,
    elapsed: datetime.timedelta,
    history: list[Response],
    attempts: int,
    from_cache: bool,
    revalidated: bool,
    encoding: str | None,
) -> Response:
    response = Response(
        status_code, headers=CIMultiDictProxy(CIMultiDict(headers)), content=content,
        request=request, reason=reason, url=url, elapsed=elapsed, history=history,
        attempts=attempts,
    )  # fmt: skip
    response.from_cache, response.revalidated, response._encoding = (
        from_cache, revalidated, encoding
    )
    return response


async def read_within(
    read: Callable[[], Awaitable[bytes]],
    read_some: Callable[[], Awaitable[bytes]],
    limit: int | None,
    request: Request | None,
) -> bytes:
    """The rest of a body, with ``read()`` (all of it) when there is no limit, else piece by
    piece with ``read_some()`` (``b""`` at the end); :class:`ResponseTooLarge` as soon as it
    passes ``limit`` bytes (the caller closes the connection then)."""
    if limit is None:
        return await read()
    pieces = []
    size = 0
    while piece := await read_some():
        size += len(piece)
        if size > limit:
            raise body_too_large(limit, request)
        pieces.append(piece)
    return b"".join(pieces)


def merge_mappings(
    base: Mapping[str, Any] | None, override: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The request's value wins; a value of None in the request removes the key."""
    merged = dict(base or {})
    for key, value in (override or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
