"""URL policy: joining to ``base_url``, validation, and what may cross to another origin."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from yarl import URL

from ._errors import InvalidURL, redact_url

__all__ = [
    "PROXY_SCHEMES",
    "SOCKS_SCHEMES",
    "RequestURL",
    "add_params",
    "check_proxy",
    "check_socks",
    "join_url",
    "origin",
    "should_strip_auth",
    "url_text",
    "validate_url",
]

_SCHEMES = frozenset({"http", "https"})
#: SOCKS proxies (they need aiohttp-socks): ``socks5h`` and ``socks4a`` let the proxy resolve names.
SOCKS_SCHEMES = frozenset({"socks4", "socks4a", "socks5", "socks5h"})
#: Every proxy scheme mylib speaks (client, request and environment proxies).
PROXY_SCHEMES = _SCHEMES | SOCKS_SCHEMES
#: A host name as resolvers take it (after IDNA encoding, which yarl does): dot-separated
#: labels, none empty; underscores are let through, as real DNS names use them.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RequestURL(str):
    """A request's URL: a ``str``, as in requests (``r.request.url == "https://h/x"``), that
    also has its parts as attributes, named as ``yarl.URL`` names them, and the rest of
    ``yarl.URL``'s methods but where ``str`` has one of the same name (``join``: use
    ``url.parsed.join(...)``); :attr:`parsed` is the ``yarl.URL`` itself. It equals a
    ``yarl.URL`` of the same address too."""

    parsed: URL

    def __new__(cls, url: URL) -> RequestURL:
        self = super().__new__(cls, url_text(url))
        #: The same URL as a ``yarl.URL`` (for joining, ``with_path()``, and the rest).
        self.parsed = url
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_request_url, (str(self),))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, URL):  # code written when this was a yarl.URL compares to one
            return str.__eq__(self, url_text(other))
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__

    def __getattr__(self, name: str) -> Any:
        # The rest of yarl.URL's interface (with_path(), origin(), update_query(), ...), for
        # code written when this was a yarl.URL; str's own methods (join, ...) come first.
        if name == "parsed" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.parsed, name)

    @property
    def scheme(self) -> str:
        """``"http"`` or ``"https"``."""
        return self.parsed.scheme

    @property
    def host(self) -> str:
        """The host name or address (decoded; IPv6 without brackets)."""
        return self.parsed.host or ""

    @property
    def port(self) -> int | None:
        """The port, the scheme's default when the URL names none."""
        return self.parsed.port

    @property
    def path(self) -> str:
        """The path, decoded (``/a b``)."""
        return self.parsed.path

    @property
    def raw_path(self) -> str:
        """The path as sent (``/a%20b``)."""
        return self.parsed.raw_path

    @property
    def query(self) -> Any:
        """The query as a read-only multi-dict of decoded name -> value."""
        return self.parsed.query

    @property
    def query_string(self) -> str:
        """The query, decoded, without the ``?``."""
        return self.parsed.query_string

    @property
    def raw_query_string(self) -> str:
        """The query as sent, without the ``?``."""
        return self.parsed.raw_query_string

    @property
    def raw_path_qs(self) -> str:
        """The path and query as sent: what the request line carries."""
        return self.parsed.raw_path_qs

    @property
    def fragment(self) -> str:
        """The fragment (never sent), decoded."""
        return self.parsed.fragment

    @property
    def raw_authority(self) -> str:
        """``host[:port]`` as sent (the port only when the URL names one)."""
        return self.parsed.raw_authority


def url_text(url: URL) -> str:
    """``url`` as a str, an empty path written ``/`` as requests and browsers write it
    (``http://h/``, where yarl writes ``http://h``)."""
    text = str(url)
    if text.endswith("/") or url.raw_path != "/" or url.raw_query_string or url.raw_fragment:
        return text
    return text + "/"


def _request_url(text: str) -> RequestURL:
    return RequestURL(URL(text, encoded=True))


def to_url(value: object, name: str = "url") -> URL:
    """A ``yarl.URL`` from a str or URL.

    Raises:
        TypeError: ``value`` is neither.
        InvalidURL: it cannot be parsed.
    """
    if isinstance(value, URL):
        return value
    if isinstance(value, RequestURL):
        return value.parsed
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or yarl.URL, not {type(value).__name__}")
    try:
        return URL(value.strip())
    except (ValueError, TypeError) as exc:
        raise InvalidURL(f"invalid URL {redact_url(value)!r}: {exc}") from exc


def check_proxy(proxy: object) -> URL:
    """``proxy`` as a URL, checked to be an http(s) or SOCKS proxy URL with a host (client
    or request proxy=); a SOCKS one also needs aiohttp-socks.

    Raises:
        TypeError: not a str or URL.
        InvalidURL: not such a URL (named without its credentials).
        ImportError: a SOCKS proxy, and aiohttp-socks is not installed.
    """
    url = to_url(proxy, "proxy")
    if url.scheme not in PROXY_SCHEMES or not url.host:
        raise InvalidURL(
            "proxy must be an http(s) URL (http://proxy:3128) or a SOCKS one "
            f"(socks5://proxy:1080, socks5h://, socks4://) with a host, not "
            f"{redact_url(str(proxy))!r}"
        )
    if url.scheme in SOCKS_SCHEMES:
        check_socks(url, str(proxy))
    return url


def check_socks(url: URL, given: str) -> None:
    """A SOCKS proxy URL, checked to be usable: aiohttp-socks installed, and credentials
    SOCKS can carry (ASCII, at most 255 bytes each).

    Raises:
        ImportError: aiohttp-socks is not installed.
        InvalidURL: naming the proxy without its credentials (nor echoing them).
    """
    from ._transports.socks import require_socks  # (no import of aiohttp-socks here)

    require_socks()
    if url.scheme.startswith("socks4") and url.password:
        raise InvalidURL(
            f"the SOCKS4 proxy {redact_url(given)!r} has a password, which SOCKS4 cannot send "
            "(it has a user id only): use socks5:// for a proxy that takes passwords"
        )
    for part in (url.user, url.password):
        if part is not None and (not part.isascii() or len(part) > 255):
            raise InvalidURL(
                f"the SOCKS proxy {redact_url(given)!r} has a user name or password SOCKS "
                "cannot send: each must be ASCII, at most 255 characters"
            )


def join_url(base: URL | None, url: URL) -> URL:
    """Join like httpx: ``https://h/v1`` + ``/x`` -> ``https://h/v1/x``.

    An absolute ``url`` is used as it is. A relative one is appended to the base's path (which
    is treated as a directory), whether or not it starts with ``/``; its query is kept.
    """
    if url.is_absolute() or base is None:
        return url
    path = base.raw_path if base.raw_path.endswith("/") else base.raw_path + "/"
    joined = base.with_path(path + url.raw_path.lstrip("/"), encoded=True)
    if url.raw_query_string:
        joined = joined.with_query(url.raw_query_string)
    return joined.with_fragment(None)


def validate_url(url: URL) -> URL:
    """The URL, checked to be http(s) with a host.

    Raises:
        InvalidURL: anything else, named without its credentials.
    """
    if not url.is_absolute() or not url.scheme:
        raise InvalidURL(
            f"invalid URL {redact_url(url)!r}: it has no scheme and host (e.g. "
            "'https://example.com/path'); relative URLs need the client's base_url"
        )
    if url.scheme not in _SCHEMES:
        raise InvalidURL(
            f"invalid URL {redact_url(url)!r}: unsupported scheme {url.scheme!r} "
            "(only http and https are supported)"
        )
    host = url.host
    if not host:
        raise InvalidURL(f"invalid URL {redact_url(url)!r}: it has no host")
    raw = url.raw_host or host  # IDNA-encoded, as it is resolved
    if ":" not in raw and not _HOST.fullmatch(raw.rstrip(".")):  # (":": an IPv6 address)
        raise InvalidURL(
            f"invalid URL {redact_url(url)!r}: {host!r} is not a host name (labels of "
            "letters, digits and hyphens, separated by single dots)"
        )
    return url


def add_params(url: URL, params: Any) -> URL:
    """Append query parameters (a mapping, a sequence of pairs, or a str) to ``url``."""
    if not params:
        return url
    if isinstance(params, str):
        extra = params.lstrip("?")
        return url.with_query(f"{url.raw_query_string}&{extra}" if url.raw_query_string else extra)
    pairs: list[tuple[str, str]] = []
    items = params.items() if isinstance(params, Mapping) else params
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        pairs.extend((str(key), _query_value(v)) for v in values if v is not None)
    return url.extend_query(pairs) if pairs else url


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def origin(url: URL) -> tuple[str, str, int]:
    """(scheme, host, port), the port filled in from the scheme's default."""
    scheme = url.scheme
    port = url.port if url.port is not None else _DEFAULT_PORTS.get(scheme, 0)
    return scheme, (url.host or "").lower(), port


def should_strip_auth(old: URL, new: URL) -> bool:
    """True when credentials must not follow a redirect from ``old`` to ``new``.

    They stay only on the same origin, with one exception requests also makes: http -> https
    on the default ports of the same host is an upgrade, not a new origin.
    """
    old_origin, new_origin = origin(old), origin(new)
    if old_origin == new_origin:
        return False
    return not (
        old_origin[0] == "http"
        and new_origin[0] == "https"
        and old_origin[1] == new_origin[1]
        and old_origin[2] == 80
        and new_origin[2] == 443
    )
