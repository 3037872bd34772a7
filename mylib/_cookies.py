"""Cookies: the client's live jar (:class:`Cookies`), and which of its cookies a request gets.

Storage and the parsing of ``Set-Cookie`` are the standard library's
(:class:`http.cookiejar.CookieJar`, whose policy decides what a server may set), so a jar from
a browser-cookie loader or a requests session drops in, and ``client.cookies.jar`` can be
saved and restored. Which stored cookies go with a request is decided here, by RFC 6265's
domain, path, secure and expiry rules, because of one rule the standard jar cannot express:

* A cookie *without a domain* (one you set: ``Client(cookies={...})``,
  ``client.cookies["a"] = "b"``) goes with every request you make, but like ``Authorization``
  it does not follow a redirect to another origin (or from https down to http). requests and
  httpx send such cookies to every host a redirect reaches.
* A cookie *a server set* is bound to that server's host (or the ``Domain`` it named and the
  jar's policy accepted) and goes wherever that binding matches, redirects included.

Thread safety: the loop thread adds cookies while caller threads read the jar, so every walk
over the jar holds the jar's own lock (the standard jar takes it when it changes itself).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from http.cookiejar import Cookie, CookieJar
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any

from ._errors import CookieConflict, InvalidHeader

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy
    from yarl import URL

__all__ = ["Cookies", "cookie_header", "request_cookies"]


class Cookies(MutableMapping[str, str]):
    """A cookie jar you can use as a dict: ``client.cookies["session"]``.

    It reads what servers set, and you may set, delete and clear cookies; names map to
    values, and :meth:`get`, :meth:`set`, :meth:`delete` and :meth:`clear` take a ``domain``
    and ``path`` where names alone are ambiguous. The cookies live in :attr:`jar`, a standard
    :class:`http.cookiejar.CookieJar`.

    Args:
        cookies: A dict of name -> value (cookies without a domain), another
            :class:`Cookies` or a :class:`http.cookiejar.CookieJar` (such as a requests
            ``RequestsCookieJar`` or a ``MozillaCookieJar`` loaded from a file), which is
            used as this jar itself, not copied: the cookies servers set go into it.

    Raises:
        TypeError: ``cookies`` is none of these.
    """

    __slots__ = ("jar",)

    def __init__(self, cookies: Mapping[str, str] | CookieJar | None = None) -> None:
        if isinstance(cookies, Cookies):
            self.jar: CookieJar = cookies.jar
        elif isinstance(cookies, CookieJar):
            self.jar = cookies
        else:
            self.jar = CookieJar()
            if cookies is not None:
                if not isinstance(cookies, Mapping):
                    raise TypeError(
                        "cookies must be a dict of str -> str, a mylib.Cookies or an "
                        f"http.cookiejar.CookieJar, not {type(cookies).__name__}"
                    )
                for name, value in cookies.items():
                    self.set(name, value)

    # -- the dict view --------------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        value = self._find(name, None, None)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        if not self._matching(name, None, None):
            raise KeyError(name)
        self.delete(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(cookie.name for cookie in self._all()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._matching(name, None, None))

    def __len__(self) -> int:
        return len(dict.fromkeys(cookie.name for cookie in self._all()))

    def __bool__(self) -> bool:
        return bool(self._all())

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{c.name}={'...' if c.value else ''} for {c.domain or '*'}{c.path}"
            for c in self._all()
        )
        return f"<mylib.Cookies [{shown}]>"

    # -- with domain and path ---------------------------------------------------------------

    def get(  # type: ignore[override]
        self,
        name: str,
        default: str | None = None,
        domain: str | None = None,
        path: str | None = None,
    ) -> str | None:
        """The value of cookie ``name`` (for ``domain`` and ``path`` when given), or
        ``default``.

        Raises:
            CookieConflict: several cookies have that name; give ``domain`` or ``path``.
        """
        value = self._find(name, domain, path)
        return default if value is None else value

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        """Set cookie ``name``. Without ``domain`` it goes with every request the client
        makes (not across origins on a redirect); with one, only to that domain and its
        subdomains.

        Raises:
            TypeError: ``name``, ``value`` or ``domain`` is not a str.
            InvalidHeader: ``name`` or ``value`` cannot be sent in a Cookie header.
        """
        for label, item in (("name", name), ("value", value), ("domain", domain)):
            if not isinstance(item, str):
                raise TypeError(f"a cookie's {label} must be a str, not {type(item).__name__}")
        _check_sendable(name, value)
        cookie = Cookie(
            version=0, name=name, value=value, port=None, port_specified=False,
            domain=domain, domain_specified=bool(domain),
            domain_initial_dot=domain.startswith("."), path=path,
            path_specified=True, secure=False, expires=None, discard=True, comment=None,
            comment_url=None, rest={}, rfc2109=False,
        )  # fmt: skip
        self.jar.set_cookie(cookie)

    def delete(self, name: str, domain: str | None = None, path: str | None = None) -> None:
        """Remove every cookie ``name`` (for ``domain`` and ``path`` when given)."""
        for cookie in self._matching(name, domain, path):
            self.jar.clear(cookie.domain, cookie.path, cookie.name)

    def clear(self, domain: str | None = None, path: str | None = None) -> None:
        """Remove all cookies, or those of ``domain`` (and ``path``)."""
        if domain is None:
            self.jar.clear()
            return
        for cookie in self._all():
            if cookie.domain == domain and (path is None or cookie.path == path):
                self.jar.clear(cookie.domain, cookie.path, cookie.name)

    def update(self, other: Any = (), /, **values: str) -> None:
        """Add cookies from a dict, pairs, keywords, or another jar (keeping its domains)."""
        if isinstance(other, (Cookies, CookieJar)):
            source = other.jar if isinstance(other, Cookies) else other
            for cookie in _snapshot(source):
                self.jar.set_cookie(cookie)
        else:
            super().update(other, **values)

    # -- internals ------------------------------------------------------------------------

    def _all(self) -> list[Cookie]:
        return _snapshot(self.jar)

    def _matching(self, name: str, domain: str | None, path: str | None) -> list[Cookie]:
        return [
            cookie
            for cookie in self._all()
            if cookie.name == name
            and (domain is None or cookie.domain == domain)
            and (path is None or cookie.path == path)
        ]

    def _find(self, name: str, domain: str | None, path: str | None) -> str | None:
        found = self._matching(name, domain, path)
        if len(found) > 1:
            raise CookieConflict(
                f"there are {len(found)} cookies named {name!r} (for "
                f"{', '.join(repr(c.domain + c.path) for c in found)}); say which with "
                "cookies.get(name, domain=..., path=...)"
            )
        return (found[0].value or "") if found else None

    def extract(self, headers: CIMultiDictProxy[str], url: URL) -> None:
        """Keep the cookies of the ``Set-Cookie`` headers of a response from ``url``, as the
        jar's policy allows."""
        self.jar.extract_cookies(_JarResponse(headers), _JarRequest(url))  # type: ignore[arg-type]

    def header_for(self, url: URL, *, with_domainless: bool) -> list[str]:
        """The ``name=value`` items this jar sends to ``url``, most specific path first;
        cookies without a domain only ``with_domainless``."""
        cookies = self._all()
        if not cookies:
            return []
        host = _jar_host(url)
        path = url.raw_path or "/"
        secure = url.scheme == "https"
        port = str(url.port)
        now = int(time.time())
        chosen = [
            cookie
            for cookie in cookies
            if (cookie.domain or with_domainless)
            and _domain_matches(cookie, host)
            and _path_matches(cookie.path, path)
            and (secure or not cookie.secure)
            and not cookie.is_expired(now)
            and (not cookie.port_specified or port in (cookie.port or "").split(","))
        ]
        chosen.sort(key=lambda cookie: len(cookie.path), reverse=True)
        return [c.name if c.value is None else f"{c.name}={c.value}" for c in chosen]


def _snapshot(jar: CookieJar) -> list[Cookie]:
    # The standard jar changes itself under this lock and walks nested dicts in __iter__,
    # so a walk without it may meet a dict that changes size on the loop thread.
    lock: AbstractContextManager[Any] = getattr(jar, "_cookies_lock", None) or nullcontext()
    with lock:
        return list(jar)


def _jar_host(url: URL) -> str:
    # The host as the standard jar files cookies under (what it calls the effective request
    # host): lower case, port cut, ".local" added to a name without a dot.
    host = _PORT.sub("", urllib.parse.urlsplit(str(url)).netloc).lower()
    return host if "." in host else host + ".local"


_PORT = re.compile(r":\d+$", re.ASCII)


def _domain_matches(cookie: Cookie, host: str) -> bool:
    domain = cookie.domain.lower()
    if not domain:
        return True
    if not cookie.domain_specified and not domain.startswith("."):
        return host == domain  # host-only: set by a server without Domain=
    dotted = domain if domain.startswith(".") else "." + domain
    return ("." + host).endswith(dotted)


def _path_matches(cookie_path: str, request_path: str) -> bool:
    if request_path == cookie_path or not cookie_path:
        return True
    return request_path.startswith(cookie_path) and (
        cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    )


class _JarRequest:
    """What :class:`http.cookiejar.CookieJar` reads of a request (urllib's interface)."""

    __slots__ = ("_url",)
    unverifiable = False

    def __init__(self, url: URL) -> None:
        self._url = url

    def get_full_url(self) -> str:
        return str(self._url)

    @property
    def host(self) -> str:
        return self._url.raw_authority

    @property
    def origin_req_host(self) -> str:
        return self._url.raw_host or ""

    @property
    def type(self) -> str:
        return self._url.scheme

    def has_header(self, name: str) -> bool:
        return False

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return default

    def add_unredirected_header(self, name: str, value: str) -> None:
        raise AssertionError("cookies are sent by mylib, not by the standard jar")


class _JarResponse:
    """What :class:`http.cookiejar.CookieJar` reads of a response: its headers."""

    __slots__ = ("_headers",)

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self._headers = headers

    def info(self) -> _JarResponse:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        return self._headers.getall(name, default)


def _check_sendable(name: str, value: str) -> None:
    try:
        SimpleCookie()[name] = value
    except CookieError as exc:
        raise InvalidHeader(f"cookies has the name {name!r}, which cannot be sent: {exc}") from exc
    if any(ch in value for ch in "\r\n\x00;"):
        raise InvalidHeader(f"the cookie {name!r} has a value that cannot be sent: {value!r}")


def request_cookies(cookies: Mapping[str, str] | CookieJar, url: URL) -> str:
    """The Cookie header of a request's own ``cookies=``: a dict's items, or a jar's cookies
    for ``url``."""
    if isinstance(cookies, (Cookies, CookieJar)):
        return "; ".join(Cookies(cookies).header_for(url, with_domainless=True))
    return cookie_header(cookies)


def cookie_header(cookies: Mapping[str, str]) -> str:
    """``{"a": "1", "b": "2"}`` -> ``"a=1; b=2"`` (values quoted where they must be)."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in cookies.items():
        try:
            jar[name] = value
        except CookieError as exc:
            raise InvalidHeader(
                f"cookies has the name {name!r}, which cannot be sent: {exc}"
            ) from exc
    return "; ".join(morsel.OutputString() for morsel in jar.values())
