"""Client options, validated and normalized once when a client is made.

A wrong type raises TypeError naming the option; an impossible value raises ValueError. The
normalized :class:`ClientConfig` is immutable, so the blocking facade's caller threads and the
I/O loop can read it without locks.
"""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any

from multidict import CIMultiDict
from yarl import URL

from ._auth import Auth, to_auth
from ._cache import Cache, to_cache
from ._cookies import COOKIES_TYPE_ERROR, Cookies
from ._errors import InvalidURL, redact_url
from ._hooks import check_event_hooks
from ._limits import Limits
from ._models import DEFAULT_MAX_BODY_SIZE, Retry, Timeout, check_body_limit, check_bool, to_headers
from ._ratelimit import RateLimits, to_rate_limits
from ._urls import PROXY_SCHEMES, SOCKS_SCHEMES, check_proxy, check_socks, to_url, validate_url

__all__ = [
    "ClientConfig",
    "check_bool",
    "check_cookies",
    "check_params",
    "make_config",
    "proxy_for",
    "request_ssl",
    "to_headers",
]

USER_AGENT = "mylib/0.1.0"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A client's options after validation (see ``Client.__init__`` for their meaning)."""

    # repr=False on what may hold secrets: a config shows up in debuggers and logged locals.
    base_url: URL | None = field(repr=False)
    headers: CIMultiDict[str] = field(repr=False)
    params: Any = field(repr=False)
    #: The client's live jar, which changes as servers set cookies (it has its own lock).
    cookies: Cookies = field(repr=False)
    auth: Auth | None = field(repr=False)
    timeout: Timeout
    retry: Retry
    follow_redirects: bool
    max_redirects: int
    ssl: ssl.SSLContext | bool
    #: ``verify=`` and ``cert=`` as given, for a request that changes one of them.
    verify: Any = field(repr=False)
    cert: Any = field(repr=False)
    proxy: URL | None = field(repr=False)
    trust_env: bool
    #: The environment's proxies, read once when the client was made (``trust_env``).
    env_proxies: tuple[tuple[str, str], ...] = field(repr=False)
    event_hooks: Mapping[str, tuple[Callable[[Any], Any], ...]]
    json_dumps: Callable[[Any], bytes | str] | None
    json_loads: Callable[..., Any] | None
    #: The most bytes of body a response may have (``DEFAULT_MAX_BODY_SIZE`` binds only
    #: responses read whole), or None.
    max_body_size: int | None
    #: Which RateLimit governs each host, or None (no rate limit: no step in the chain).
    rate_limit: RateLimits | None = None
    #: The default engine's connection pool.
    limits: Limits = field(default_factory=Limits)
    #: The HTTP cache, or None (no cache: no step in the chain).
    cache: Cache | None = None


def check_cookies(value: object) -> Mapping[str, Any] | CookieJar | None:
    """``value``, checked to be None, a mapping or a cookie jar (client or request cookies)."""
    if value is not None and not isinstance(value, (Mapping, CookieJar)):
        raise TypeError(COOKIES_TYPE_ERROR.format(type(value).__name__))
    return value


def check_params(value: object) -> None:
    """Raise TypeError unless ``value`` is None, a mapping, a list of pairs or a string."""
    if value is not None and not isinstance(value, (Mapping, list, tuple, str)):
        raise TypeError(f"params must be a dict or a list of pairs, not {type(value).__name__}")


@functools.lru_cache(maxsize=32)
def _context_from_files(
    cafile: str | None, cert: tuple[str, str | None] | None, capath: str | None = None
) -> ssl.SSLContext:
    # Cached: building a context costs ~20 ms; one per configuration, shared by all clients.
    context = ssl.create_default_context(cafile=cafile, capath=capath)
    if cert is not None:
        context.load_cert_chain(cert[0], cert[1])
    return context


def _cert_pair(cert: object) -> tuple[str, str | None] | None:
    if cert is None:
        return None
    if isinstance(cert, (str, os.PathLike)):
        pair: tuple[str, str | None] = (os.fspath(cert), None)
    elif (
        isinstance(cert, tuple)
        and len(cert) == 2
        and all(isinstance(part, (str, os.PathLike)) for part in cert)
    ):
        pair = (os.fspath(cert[0]), os.fspath(cert[1]))
    else:
        raise TypeError("cert must be a path, or a (certfile, keyfile) tuple of paths")
    for path in pair:
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"cert= names a file that does not exist: {path!r}")
    return pair


def make_ssl(verify: object, cert: object) -> ssl.SSLContext | bool:
    """What aiohttp's ``ssl=`` gets: True (default verification), False, or a context.

    Raises:
        TypeError: ``verify`` or ``cert`` has the wrong type.
        ValueError: the CA bundle does not exist, or a client cert comes with a context.
    """
    cert_pair = _cert_pair(cert)
    if isinstance(verify, ssl.SSLContext):
        if cert_pair is not None:
            raise ValueError("cert= cannot be combined with an SSLContext in verify=; "
                             "load the certificate into the context instead")
        return verify
    if isinstance(verify, bool):
        if not verify:
            if cert_pair is not None:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                context.load_cert_chain(*cert_pair)
                return context
            return False
        return True if cert_pair is None else _context_from_files(None, cert_pair)
    if isinstance(verify, (str, os.PathLike)):
        path = os.fspath(verify)
        if not os.path.exists(path):
            raise ValueError(f"verify= names a CA bundle that does not exist: {path!r}")
        if os.path.isdir(path):
            return _context_from_files(None, cert_pair, path)
        return _context_from_files(path, cert_pair)
    raise TypeError(
        "verify must be True, False, a path to a CA bundle or an ssl.SSLContext, "
        f"not {type(verify).__name__}"
    )


#: CA bundles named by the environment, in the order requests reads them.
_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def environment_verify(cert: object) -> ssl.SSLContext | bool:
    """What ``verify=True`` means with ``trust_env``: the CA bundle of REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE (a file or a folder, as requests reads them), else the OpenSSL variables
    SSL_CERT_FILE / SSL_CERT_DIR, else the system's CAs; read when the client is made.

    Raises:
        ValueError: a variable names a path that does not exist (the message names it).
    """
    for name in _CA_BUNDLE_VARIABLES:
        path = os.environ.get(name)
        if path:
            if not os.path.exists(path):
                raise ValueError(f"{name} names a CA bundle that does not exist: {path!r}")
            return make_ssl(path, cert)
    cafile, capath = os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        return make_ssl(True, cert)
    for name, path in (("SSL_CERT_FILE", cafile), ("SSL_CERT_DIR", capath)):
        if path is not None and not os.path.exists(path):
            raise ValueError(f"{name} names a CA bundle that does not exist: {path!r}")
    return _context_from_files(cafile, _cert_pair(cert), capath)


def make_config(
    *,
    base_url: object,
    headers: object,
    params: object,
    cookies: object,
    auth: object,
    timeout: object,
    retries: object,
    follow_redirects: object,
    max_redirects: object,
    verify: object,
    cert: object,
    proxy: object,
    trust_env: object,
    json_dumps: object = None,
    json_loads: object = None,
    event_hooks: object = None,
    max_body_size: object = DEFAULT_MAX_BODY_SIZE,
    rate_limit: object = None,
    limits: object = None,
    cache: object = None,
) -> ClientConfig:
    """Validate and normalize the options of ``Client``/``AsyncClient``."""
    base = None
    if base_url is not None:
        base = validate_url(to_url(base_url, "base_url"))
    if isinstance(max_redirects, bool) or not isinstance(max_redirects, int):
        raise TypeError(f"max_redirects must be an int, not {type(max_redirects).__name__}")
    if max_redirects < 0:
        raise ValueError(f"max_redirects must be 0 or more, not {max_redirects}")
    cookie_map = check_cookies(cookies)
    check_params(params)
    proxy_url = None if proxy is None else check_proxy(proxy)
    for name, fn in (("json_dumps", json_dumps), ("json_loads", json_loads)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable")
    default_headers = CIMultiDict({"User-Agent": USER_AGENT, "Accept": "*/*"})
    default_headers.update(to_headers(headers))
    use_env = check_bool("trust_env", trust_env)
    env_proxies = tuple(sorted(urllib.request.getproxies_environment().items())) if use_env else ()
    if any(value.strip().lower().startswith("socks") for _, value in env_proxies):
        from ._transports.socks import require_socks

        with contextlib.suppress(ImportError):  # (named at the first request it would carry)
            require_socks()  # imported here, in the caller's thread, not on the I/O loop
    return ClientConfig(
        base_url=base,
        headers=default_headers,
        params=params,
        cookies=Cookies(cookie_map),
        auth=to_auth(auth),
        timeout=Timeout.coerce(timeout),
        retry=Retry.coerce(retries),
        follow_redirects=check_bool("follow_redirects", follow_redirects),
        max_redirects=max_redirects,
        ssl=environment_verify(cert) if verify is True and use_env else make_ssl(verify, cert),
        verify=verify,
        cert=cert,
        proxy=proxy_url,
        trust_env=use_env,
        env_proxies=env_proxies,
        event_hooks=check_event_hooks(event_hooks),
        json_dumps=json_dumps,  # type: ignore[arg-type]
        json_loads=json_loads,  # type: ignore[arg-type]
        max_body_size=check_body_limit(max_body_size),
        rate_limit=to_rate_limits(rate_limit),
        limits=Limits.coerce(limits),
        cache=to_cache(cache),
    )


def request_ssl(config: ClientConfig, verify: object, cert: object) -> ssl.SSLContext | bool:
    """The TLS setting of one request's ``verify=``/``cert=`` (``None`` for one not given:
    the client's), made as the client makes its own (the environment's CA bundles too, with
    ``trust_env``).

    Raises:
        TypeError, ValueError: as for the client's options of those names.
    """
    own_verify, own_cert = verify is not None, cert is not None
    verify = verify if own_verify else config.verify
    cert = cert if own_cert else config.cert
    if isinstance(verify, ssl.SSLContext) and cert is not None and own_verify != own_cert:
        raise ValueError(
            f"{'the client' if own_verify else 'this request'}'s cert= cannot be combined with "
            f"{'this request' if own_verify else 'the client'}'s verify= SSLContext: load the "
            "certificate into the context (context.load_cert_chain(...)) instead"
        )
    if verify is True and config.trust_env:
        return environment_verify(cert)
    return make_ssl(verify, cert)


def proxy_for(config: ClientConfig, url: URL) -> URL | str | None:
    """The proxy for ``url``: ``proxy=``, else (``trust_env``) HTTP(S)_PROXY unless NO_PROXY
    matches the host, like requests."""
    if config.proxy is not None:
        return config.proxy
    if not config.env_proxies:
        return None
    return _environment_proxy(config.env_proxies, url.scheme, url.host or "")


@functools.lru_cache(maxsize=256)
def _environment_proxy(env: tuple[tuple[str, str], ...], scheme: str, host: str) -> str | None:
    # Cached per (environment, host): proxy_bypass_environment parses NO_PROXY every call.
    proxies = dict(env)
    key = scheme if proxies.get(scheme) else "all"
    proxy = proxies.get(key)
    if proxy is None or urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
        host, proxies
    ):
        return None
    return _usable_proxy(f"{key.upper()}_PROXY", proxy)


def _usable_proxy(variable: str, value: str) -> str:
    """An environment proxy as people write them (``proxy:3128`` means
    ``http://proxy:3128``), checked to be an http(s) or SOCKS URL with a host.

    Raises:
        InvalidURL: naming the variable and its value (without credentials).
        ImportError: a SOCKS proxy, and aiohttp-socks is not installed.
    """
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        url = URL(text)
        usable = url.scheme in PROXY_SCHEMES and bool(url.host)
    except ValueError:
        usable = False
    if not usable:
        raise InvalidURL(
            f"{variable}={redact_url(value)!r} is not a usable proxy: mylib takes an http(s) "
            "proxy URL such as http://proxy:3128, or a SOCKS one such as socks5://proxy:1080 "
            "(unset the variable, or give trust_env=False)"
        )
    if url.scheme in SOCKS_SCHEMES:
        check_socks(url, value)
    return text

