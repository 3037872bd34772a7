"""Request building: a client's config and a call's options into the :class:`Request` sent.

Plain code with no I/O, run in the caller's thread (``build_request``, and each ``map`` item
in the blocking driver), never on the shared I/O loop: URL joining, query merging, header
merging, credentials in the URL, body encoding, cookies.
"""

from __future__ import annotations

import enum
import ssl
from collections.abc import Mapping
from typing import Any, Final

from yarl import URL

from ._auth import Auth, BasicAuth, to_auth
from ._config import ClientConfig, check_cookies, check_params, request_ssl, to_headers
from ._content import encode_body
from ._cookies import request_cookies
from ._models import Request, Timeout, check_body_limit, check_bool, check_method, merge_mappings
from ._types import AuthTypes, CookieTypes, HeaderTypes, QueryParamTypes, TimeoutTypes, URLTypes
from ._urls import add_params, check_proxy, join_url, to_url, validate_url

__all__ = ["UNSET", "build_request"]


class _Unset(enum.Enum):
    """Marks an option that was not given, since ``None`` is a meaningful value (``timeout=
    None`` means no limit, ``auth=None`` means send no credentials)."""

    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET


def build_request(
    config: ClientConfig,
    method: str,
    url: URLTypes,
    *,
    params: QueryParamTypes | None = None,
    headers: HeaderTypes | None = None,
    cookies: CookieTypes | None = None,
    json: Any = None,
    data: Any = None,
    content: Any = None,
    files: Any = None,
    auth: AuthTypes | _Unset = UNSET,
    timeout: TimeoutTypes | _Unset = UNSET,
    follow_redirects: bool | _Unset = UNSET,
    max_body_size: int | _Unset | None = UNSET,
    verify: Any = None,
    cert: Any = None,
    proxy: Any = None,
    cache: bool | None = True,
    **unknown: Any,
) -> Request:
    """The :class:`Request` for ``method url`` with a client's ``config`` and these options.

    Raises:
        TypeError: an option has the wrong type, is unknown, or conflicts with another.
        ValueError: an option has an impossible value.
        InvalidURL: the URL is not http(s) with a host.
    """
    if unknown:
        raise _unknown_options(unknown)
    method = check_method(method)
    target = validate_url(join_url(config.base_url, to_url(url)))
    auth_scheme: Auth | None = config.auth
    if target.user is not None:
        # Credentials in the URL become Basic auth; the URL itself never carries them on.
        auth_scheme = BasicAuth(target.user, target.password or "")
        target = target.with_user(None)
    if auth is not UNSET:
        auth_scheme = to_auth(auth)
    if follow_redirects is not UNSET:
        check_bool("follow_redirects", follow_redirects)
    target = _with_params(config, target, params)
    merged = config.headers.copy()
    if headers is not None:
        given = to_headers(headers)
        items = headers.items() if isinstance(headers, Mapping) else headers
        for key, value in items:
            if value is None:
                merged.popall(key, None)  # documented: None removes a client header
        for key in given:
            merged.popall(key, None)
        merged.extend(given)
    body, content_type = encode_body(
        json=json,
        data=data,
        content=content,
        files=files,
        **({"json_dumps": config.json_dumps} if config.json_dumps else {}),
    )
    if content_type is not None and "Content-Type" not in merged:
        merged["Content-Type"] = content_type
    if check_cookies(cookies):
        # The request's own cookies, in the header: they win over the client's jar (the
        # cookie step adds those) and are dropped, like credentials, across origins.
        header = request_cookies(cookies, target)  # type: ignore[arg-type]
        if header:
            merged["Cookie"] = header
    request = Request(
        method,
        target,
        headers=merged,
        content=body,
        timeout=config.timeout if timeout is UNSET else Timeout.coerce(timeout),
        follow_redirects=(
            config.follow_redirects if follow_redirects is UNSET else follow_redirects
        ),
        auth=auth_scheme,
        max_body_size=(
            config.max_body_size if max_body_size is UNSET else check_body_limit(max_body_size)
        ),
        tls=None if verify is None and cert is None else request_ssl(config, verify, cert),
        proxy=None if proxy is None else check_proxy(proxy),
        cache=True if cache is None or cache is True else check_bool("cache", cache),
    )
    if isinstance(request.tls, ssl.SSLContext):
        spec = (config.verify if verify is None else verify, config.cert if cert is None else cert)
        if not isinstance(spec[0], ssl.SSLContext):
            request._tls_spec = spec  # made from files: a pickled copy makes it again
    return request


#: requests' names for what mylib spells differently, and the mylib way.
_RENAMED = {
    "allow_redirects": "follow_redirects=",
    "stream": "client.stream(method, url, ...) in a with block",
    "proxies": "proxy= (one proxy URL, on the client or for one request)",
    "hooks": "event_hooks= on the client",
}
#: Client options a request cannot change, and why.
_CLIENT_ONLY = {
    "rate_limit": "a client option: the budget is the client's (give clients one RateLimit "
    "to share it)",
    "limits": "a client option: the connection pool is the client's",
}
_OPTIONS = (
    "params, headers, cookies, json, data, content, files, auth, timeout, follow_redirects, "
    "max_body_size, verify, cert, proxy, cache"
)


def _unknown_options(unknown: Mapping[str, Any]) -> TypeError:
    hints = [
        f"{name}= is requests' way; in mylib use {_RENAMED[name]}"
        for name in unknown
        if name in _RENAMED
    ]
    hints += [f"{name}= is {_CLIENT_ONLY[name]}" for name in unknown if name in _CLIENT_ONLY]
    others = [name for name in unknown if name not in _RENAMED and name not in _CLIENT_ONLY]
    if others:
        hints.append(
            f"unknown option(s) {', '.join(o + '=' for o in others)}; a request takes "
            f"{_OPTIONS}"
        )
    return TypeError("; ".join(hints))


def _with_params(config: ClientConfig, url: URL, params: Any) -> URL:
    check_params(params)
    defaults = config.params
    if defaults and params and isinstance(defaults, dict) and isinstance(params, dict):
        return add_params(url, merge_mappings(defaults, params))
    return add_params(add_params(url, defaults), params)
