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

import contextlib
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

__all__ = ["COOKIES_TYPE_ERROR", "Cookies", "check_sendable", "cookie_header", "request_cookies"]


#: What a jar's ``cookies=`` may be, said once for every place that checks it.
COOKIES_TYPE_ERROR = (
    "cookies must be a dict of str -> str, a mylib.Cookies or an http.cookiejar.CookieJar, "
    "not {}"
)


class Cookies(MutableMapping[str, str]):
    """A cookie jar you can use as a dict: ``client.cookies["session"]``.

    It reads what servers set, and you may set, delete and clear cookies; names map to
    values, and :meth:`get`, :meth:`set`, :meth:`delete` and :meth:`clear` take a ``domain``
    (``"example.com"`` and ``".example.com"`` are the same) and a ``path`` where names alone
    are ambiguous. :meth:`items` gives every cookie, a name set for two paths twice, as
    requests' jar does. Expired cookies are neither sent nor shown. The cookies live in
    :attr:`jar`, a standard :class:`http.cookiejar.CookieJar`.

    Args:
        cookies: A dict of name -> value (cookies without a domain), another
            :class:`Cookies` or a :class:`http.cookiejar.CookieJar` (such as a requests
            ``RequestsCookieJar`` or a ``MozillaCookieJar`` loaded from a file), which is
            used as this jar itself, not copied: the cookies servers set go into it.

    Raises:
        TypeError: ``cookies`` is none of these.
    """

    __slots__ = ("jar",)

    def __reduce__(self) -> tuple[Any, ...]:
        # The cookies, not the jar (it holds a lock): the other side gets a plain
        # CookieJar with the same cookies.
        return (_rebuild_cookies, (list(self.jar),))

    def __init__(self, cookies: Mapping[str, str] | CookieJar | None = None) -> None:
        if isinstance(cookies, Cookies):
            self.jar: CookieJar = cookies.jar
        elif isinstance(cookies, CookieJar):
            self.jar = cookies
        else:
            self.jar = CookieJar()
            if cookies is not None:
                if not isinstance(cookies, Mapping):
                    raise TypeError(COOKIES_TYPE_ERROR.format(type(cookies).__name__))
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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return sorted(self.items()) == sorted(other.items())

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dict

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        """``(name, value)`` of every cookie, a name that several domains or paths set once
        for each (as requests' jar gives them)."""
        return [(cookie.name, cookie.value or "") for cookie in self._all()]

    def values(self) -> list[str]:  # type: ignore[override]
        """The value of every cookie (see :meth:`items`)."""
        return [value for _, value in self.items()]

    def __repr__(self) -> str:
        shown = ", ".join(f"{c.name} for {c.domain or '*'}{c.path}" for c in self._all())
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
        """Set cookie ``name`` (a number as ``value`` is sent as its text). Without
        ``domain`` it goes with every request the client makes (not across origins on a
        redirect); with one, to that domain and its subdomains. It is a session cookie: a
        ``jar.save()`` keeps it with ``ignore_discard=True``.

        Raises:
            TypeError: ``name``, ``value``, ``domain`` or ``path`` has the wrong type.
            ValueError: ``path`` does not start with ``/``.
            InvalidHeader: ``name`` or ``value`` cannot be sent in a Cookie header.
        """
        text = _text(value)
        for label, item in (("name", name), ("value", text), ("domain", domain), ("path", path)):
            if not isinstance(item, str):
                raise TypeError(f"a cookie's {label} must be a str, not {type(item).__name__}")
        value = str(text)
        if not path.startswith("/"):
            raise ValueError(f"a cookie's path must start with '/', not {path!r}")
        check_sendable(name, value)
        domain = domain.lower()
        if domain and not domain.startswith("."):
            domain = "." + domain  # a domain cookie, stored as servers' are (and saved so)
        cookie = Cookie(
            version=0, name=name, value=value, port=None, port_specified=False,
            domain=domain, domain_specified=bool(domain), domain_initial_dot=bool(domain),
            path=path, path_specified=True, secure=False, expires=None, discard=True,
            comment=None, comment_url=None, rest={}, rfc2109=False,
        )  # fmt: skip
        self.jar.set_cookie(cookie)

    def delete(self, name: str, domain: str | None = None, path: str | None = None) -> None:
        """Remove every cookie ``name`` (for ``domain`` and ``path`` when given)."""
        self._remove(self._matching(name, domain, path))

    def clear(self, domain: str | None = None, path: str | None = None) -> None:
        """Remove all cookies, or those of ``domain`` and/or ``path``."""
        if domain is None and path is None:
            self.jar.clear()
            return
        self._remove(
            [
                cookie
                for cookie in self._all()
                if (domain is None or _same_domain(cookie.domain, domain))
                and (path is None or cookie.path == path)
            ]
        )

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
        now = int(time.time())
        return [cookie for cookie in _snapshot(self.jar) if not cookie.is_expired(now)]

    def _remove(self, cookies: list[Cookie]) -> None:
        for cookie in cookies:
            # KeyError: gone already (another thread, or a server's Max-Age=0, was first).
            with contextlib.suppress(KeyError):
                self.jar.clear(cookie.domain, cookie.path, cookie.name)

    def _matching(self, name: str, domain: str | None, path: str | None) -> list[Cookie]:
        return [
            cookie
            for cookie in self._all()
            if cookie.name == name
            and (domain is None or _same_domain(cookie.domain, domain))
            and (path is None or cookie.path == path)
        ]

    def _find(self, name: str, domain: str | None, path: str | None) -> str | None:
        found = self._matching(name, domain, path)
        if len(found) > 1:
            raise CookieConflict(
                f"there are {len(found)} cookies named {name!r} (for "
                f"{', '.join(repr((c.domain or '*') + c.path) for c in found)}); say which "
                "with cookies.get(name, domain=..., path=...)"
            )
        return (found[0].value or "") if found else None

    def extract(self, headers: CIMultiDictProxy[str], url: URL) -> None:
        """Keep the cookies of the ``Set-Cookie`` headers of a response from ``url``, as the
        jar's policy allows."""
        self.jar.extract_cookies(_JarResponse(headers), _JarRequest(url))  # type: ignore[arg-type]

    def header_for(self, url: URL, *, with_domainless: bool) -> list[str]:
        """The ``name=value`` items this jar sends to ``url``, most specific path first;
        cookies without a domain only ``with_domainless``."""
        cookies = _candidates(self.jar, url.host or "")
        if not cookies:
            return []
        hosts = _hosts(url)
        path = url.raw_path or "/"
        secure = url.scheme == "https"
        port = str(url.port)
        now = int(time.time())
        chosen = [
            cookie
            for cookie in cookies
            if (cookie.domain or with_domainless)
            and _domain_matches(cookie, hosts)
            and _path_matches(cookie.path, path)
            and (secure or not cookie.secure)
            and not cookie.is_expired(now)
            and (not cookie.port_specified or port in (cookie.port or "").split(","))
        ]
        chosen.sort(key=lambda cookie: len(cookie.path), reverse=True)
        return [c.name if c.value is None else f"{c.name}={c.value}" for c in chosen]


def _lock(jar: CookieJar) -> AbstractContextManager[Any]:
    # The standard jar changes itself under this lock and walks nested dicts in __iter__,
    # so a walk without it may meet a dict that changes size on the loop thread.
    return getattr(jar, "_cookies_lock", None) or nullcontext()


def _snapshot(jar: CookieJar) -> list[Cookie]:
    with _lock(jar):
        return list(jar)


def _candidates(jar: CookieJar, host: str) -> list[Cookie]:
    """The jar's cookies that may match ``host``: those filed under the host, a domain it is
    in, or no domain, looked up by name where the jar files them by domain as the standard
    one does; so the cost of a request does not grow with the cookies of other sites."""
    by_domain = getattr(jar, "_cookies", None)
    if not isinstance(by_domain, dict):
        return _snapshot(jar)
    found: list[Cookie] = []
    with _lock(jar):
        if not by_domain:
            return found
        for domain in _domain_keys(host):
            paths = by_domain.get(domain)
            if paths:
                for names in paths.values():
                    found.extend(names.values())
    return found


def _domain_keys(host: str) -> list[str]:
    # "a.example.com" -> "", "a.example.com", ".a.example.com", "example.com", ".example.com",
    # "com", ".com"; a dotless host also as the standard jar files it ("localhost.local").
    host = host.lower().rstrip(".")
    keys = [""]
    if "." not in host:
        keys += [host + ".local", "." + host + ".local"]
    labels = host.split(".")
    for start in range(len(labels)):
        suffix = ".".join(labels[start:])
        keys += [suffix, "." + suffix]
    return keys


def _hosts(url: URL) -> tuple[str, ...]:
    # The host, and the name the standard jar files a dotless host's cookies under (its
    # "effective request host": "localhost" becomes "localhost.local"); cookies of either
    # match.
    host = _PORT.sub("", urllib.parse.urlsplit(str(url)).netloc).lower()
    return (host,) if "." in host else (host, host + ".local")


_PORT = re.compile(r":\d+$", re.ASCII)


def _same_domain(stored: str, given: str) -> bool:
    """``given`` (as a user writes it: "example.com") names the domain ``stored`` (as the jar
    files it: ".example.com", or "localhost.local" for a dotless host)."""
    stored, given = stored.lower().lstrip("."), given.lower().lstrip(".")
    return stored == given or stored == given + ".local"


def _domain_matches(cookie: Cookie, hosts: tuple[str, ...]) -> bool:
    domain = cookie.domain.lower()
    if not domain:
        return True
    if not cookie.domain_specified and not domain.startswith("."):
        return domain in hosts  # host-only: set by a server without Domain=
    dotted = domain if domain.startswith(".") else "." + domain
    return any(("." + host).endswith(dotted) for host in hosts)


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


#: What a cookie's value may not hold: it would end the value (";"), the header (CR, LF)
#: or be refused by the engine (other control characters).
_UNSENDABLE = re.compile(r"[\x00-\x1f\x7f;]")


def check_sendable(name: str, value: str) -> None:
    """Raise InvalidHeader unless cookie ``name=value`` can be sent as it is (the value is
    not shown: it may be a secret)."""
    try:
        SimpleCookie()[name] = ""
    except CookieError as exc:
        raise InvalidHeader(f"cookies has the name {name!r}, which cannot be sent: {exc}") from exc
    if _UNSENDABLE.search(value):
        raise InvalidHeader(
            f"the cookie {name!r} has a value that cannot be sent (a control character or ';')"
        )


def _text(value: object) -> object:
    # requests sends a number as its text; anything else but a str is refused by the caller.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def request_cookies(cookies: Mapping[str, str] | CookieJar, url: URL) -> str:
    """The Cookie header of a request's own ``cookies=``: a dict's items, or a jar's cookies
    for ``url``."""
    if isinstance(cookies, (Cookies, CookieJar)):
        return "; ".join(Cookies(cookies).header_for(url, with_domainless=True))
    return cookie_header(cookies)


def cookie_header(cookies: Mapping[str, str]) -> str:
    """``{"a": "1", "b": "2"}`` -> ``"a=1; b=2"``, values as they are (as requests sends
    them; a number as its text).

    Raises:
        InvalidHeader: a name or value that cannot be sent.
    """
    items = []
    for name, value in cookies.items():
        text = _text(value)
        if not isinstance(text, str):
            raise TypeError(f"a cookie's value must be a str, not {type(value).__name__}")
        check_sendable(name, text)
        items.append(f"{name}={text}")
    return "; ".join(items)


def _rebuild_cookies(cookies: list[Cookie]) -> Cookies:
    jar = CookieJar()
    for cookie in cookies:
        jar.set_cookie(cookie)
    return Cookies(jar)
