"""Plain data: Timeout, Retry, Request and Response. No I/O happens here.

A :class:`Response` is materialized on the I/O loop (status, headers, the whole body) and handed
to the caller as data; decoding (``text``, ``json()``) happens lazily, in the caller's thread,
so big JSON documents never stall the shared loop.
"""

from __future__ import annotations

import codecs
import datetime
import json as jsonlib
import math
import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict, CIMultiDictProxy

from ._errors import DecodingError, HTTPStatusError, redact_url

if TYPE_CHECKING:
    import aiohttp

    from ._auth import Auth

__all__ = ["Request", "Response", "Retry", "Timeout"]

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
        Timeout(None)                   # no limit at all (you asked for it)

    ``total`` covers the whole call (connecting, redirects, retries and reading the body),
    ``connect`` the TCP and TLS set-up of one connection, and ``read`` the longest gap
    between two pieces of the response. A bare number given as ``timeout=`` means ``total``.

    Raises:
        TypeError: a value is not a number.
        ValueError: a value is zero, negative or NaN.
    """

    total: float | None = None
    connect: float | None = None
    read: float | None = None

    def __post_init__(self) -> None:
        for name in ("total", "connect", "read"):
            object.__setattr__(self, name, _check_seconds(f"timeout {name}", getattr(self, name)))

    @classmethod
    def coerce(cls, value: object, name: str = "timeout") -> Timeout:
        """A Timeout from a Timeout, a number of seconds (the total) or None (no limit)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return _NO_TIMEOUT
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{name} must be a number of seconds, a mylib.Timeout or None, "
                f"not {type(value).__name__}"
            )
        return cls(total=_check_seconds(name, value))


_NO_TIMEOUT = Timeout()

#: The default: connecting may take 10 s and the server may be silent for 60 s at a stretch,
#: but a response that keeps arriving is never cut off (a large download is fine).
DEFAULT_TIMEOUT = Timeout(connect=10.0, read=60.0)


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


class Request:
    """A request as it is sent: method, URL, headers and body, after all merging.

    Built by ``Client.build_request``/``AsyncClient.build_request``, and found on every
    response as ``response.request`` and on errors as ``error.request``.
    """

    __slots__ = ("auth", "content", "follow_redirects", "headers", "method", "timeout", "url")

    def __init__(
        self,
        method: str,
        url: Any,
        *,
        headers: CIMultiDict[str] | None = None,
        content: Any = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        follow_redirects: bool = True,
        auth: Auth | None = None,
    ) -> None:
        #: The HTTP method, upper case.
        self.method = method
        #: The full URL (a ``yarl.URL``), query included, credentials removed.
        self.url = url
        #: The headers sent, case-insensitive (a ``multidict.CIMultiDict``).
        self.headers: CIMultiDict[str] = headers if headers is not None else CIMultiDict()
        #: The body: bytes, None, or a streaming body object.
        self.content = content
        #: The :class:`Timeout` in force for this request.
        self.timeout = timeout
        #: Whether redirects are followed for this request.
        self.follow_redirects = follow_redirects
        #: The auth scheme applied when sent (adds headers then); None for none.
        self.auth = auth

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON (for tests that inspect what was sent)."""
        if not isinstance(self.content, (bytes, bytearray)):
            raise DecodingError("this request's body is not a bytes body", request=self)
        return jsonlib.loads(self.content, **kwargs)

    def __repr__(self) -> str:
        return f"<Request {self.method} {redact_url(self.url)}>"


def charset_of(headers: Mapping[str, str]) -> str | None:
    """The Content-Type's charset, normalized (``"UTF8"`` -> ``"utf-8"``), or None when it is
    missing or unknown to Python."""
    content_type = headers.get("Content-Type")
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    if isinstance(charset, str):
        try:
            return codecs.lookup(charset.strip("'\"")).name
        except LookupError:
            return None
    return None


_LINK_RE = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


class Response:
    """An HTTP response whose body has been read.

    Example::

        r = client.get("https://api.example.com/items")
        r.raise_for_status()
        for item in r.json():
            ...
    """

    __slots__ = (
        "__weakref__",
        "_encoding",
        "_json_loads",
        "_raw",
        "_text",
        "attempts",
        "content",
        "elapsed",
        "headers",
        "history",
        "reason",
        "request",
        "status_code",
        "url",
    )

    def __init__(
        self,
        *,
        status_code: int,
        reason: str,
        headers: CIMultiDictProxy[str],
        url: str,
        content: bytes,
        request: Request,
        elapsed: datetime.timedelta,
        history: list[Response] | None = None,
        json_loads: Callable[..., Any] = jsonlib.loads,
        attempts: int = 1,
    ) -> None:
        #: The status code, e.g. 200.
        self.status_code = status_code
        #: The reason phrase the server sent, e.g. "Not Found".
        self.reason = reason
        #: The headers, case-insensitive; repeated headers keep every value (``getall``).
        self.headers = headers
        #: The final URL, after redirects, as a string.
        self.url = url
        #: The body, as bytes (decompressed).
        self.content = content
        #: The request that produced this response.
        self.request = request
        #: Time from sending the request until the whole body was read (for a stream,
        #: until its headers arrived).
        self.elapsed = elapsed
        #: The redirect responses that led here, oldest first.
        self.history: list[Response] = history if history is not None else []
        #: How many times this request was sent to get this response (1 + retries).
        self.attempts = attempts
        self._json_loads = json_loads
        self._encoding: str | None = None
        self._text: str | None = None
        # Set only inside the engine, for a streamed send: the open aiohttp response whose
        # body is still unread (``content`` stays b"" until then). Whoever takes the response
        # from the engine owns it and must read-and-release or close it.
        self._raw: aiohttp.ClientResponse | None = None

    def __repr__(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"<Response [{self.status_code} {self.reason}] {redact_url(self.url)}{tries}>"

    @property
    def ok(self) -> bool:
        """True unless the status is 4xx or 5xx.

        It says nothing about whether the body is what you wanted: a 3xx redirect that was
        not followed, or a 204 with no body, is "ok".
        """
        return self.status_code < 400

    @property
    def is_redirect(self) -> bool:
        """True for a redirect status with a Location header."""
        return self.status_code in (301, 302, 303, 307, 308) and "Location" in self.headers

    @property
    def encoding(self) -> str | None:
        """The charset used by ``text``: the one set here, else the Content-Type's, else None
        (then ``text`` decodes UTF-8, honouring a BOM)."""
        if self._encoding is not None:
            return self._encoding
        return charset_of(self.headers)

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value
        self._text = None

    @property
    def text(self) -> str:
        """The body decoded as text (see ``encoding``); undecodable bytes become U+FFFD."""
        if self._text is None:
            encoding = self.encoding or "utf-8-sig"
            if encoding == "utf-8" and self.content.startswith(codecs.BOM_UTF8):
                encoding = "utf-8-sig"
            self._text = self.content.decode(encoding, errors="replace")
        return self._text

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON, whatever the Content-Type says.

        Raises:
            DecodingError: the body is not valid JSON; the message quotes its start.
        """
        try:
            return self._json_loads(self.content, **kwargs)
        except ValueError as exc:
            start = self.content[:80].decode("utf-8", errors="replace")
            more = "..." if len(self.content) > 80 else ""
            raise DecodingError(
                f"response body from {redact_url(self.url)} is not JSON "
                f"({exc}); it starts with {start!r}{more}",
                request=self.request,
            ) from exc

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies this response set (``Set-Cookie``), as name -> value."""
        jar: SimpleCookie = SimpleCookie()
        for value in self.headers.getall("Set-Cookie", ()):
            try:
                jar.load(value)
            except Exception:
                continue
        return {name: morsel.value for name, morsel in jar.items()}

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

    def raise_for_status(self) -> Response:
        """Raise :class:`HTTPStatusError` for a 4xx or 5xx status; otherwise return self.

        Example: ``data = client.get(url).raise_for_status().json()``

        Raises:
            HTTPStatusError: the status is 4xx (client error) or 5xx (server error).
        """
        if self.status_code < 400:
            return self
        raise status_error(self)


def status_error(response: Any) -> HTTPStatusError:
    """The :class:`HTTPStatusError` for a 4xx/5xx ``response`` (a Response or a stream)."""
    kind = "client error" if response.status_code < 500 else "server error"
    return HTTPStatusError(
        f"{response.status_code} {response.reason} ({kind}) for {response.request.method} "
        f"{redact_url(response.url)}",
        response=response,
    )


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
