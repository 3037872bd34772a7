"""Every option's type, declared once and used by ``request()``, the verbs and both clients."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from os import PathLike
from typing import IO, TYPE_CHECKING, Any, TypeAlias, TypedDict

from yarl import URL

if TYPE_CHECKING:
    from http.cookiejar import CookieJar

    from ._auth import Auth
    from ._cache import Cache
    from ._models import Request, Retry, Timeout
    from ._ratelimit import RateLimit

__all__ = [
    "AuthTypes",
    "CacheTypes",
    "CertTypes",
    "CookieTypes",
    "HeaderTypes",
    "QueryParamTypes",
    "RateLimitTypes",
    "RequestContent",
    "RequestData",
    "RequestFiles",
    "RequestOptions",
    "RetryTypes",
    "TimeoutTypes",
    "URLTypes",
    "VerifyTypes",
]

URLTypes: TypeAlias = "str | URL"
PrimitiveData: TypeAlias = "str | int | float | None"
QueryParamTypes: TypeAlias = (
    "Mapping[str, PrimitiveData | Sequence[PrimitiveData]] | Sequence[tuple[str, PrimitiveData]]"
)
HeaderTypes: TypeAlias = "Mapping[str, str] | Sequence[tuple[str, str]]"
CookieTypes: TypeAlias = "Mapping[str, str] | CookieJar"
AuthTypes: TypeAlias = "tuple[str, str] | Auth | Callable[[Request], Any] | None"
TimeoutTypes: TypeAlias = "float | tuple[float | None, float | None] | Timeout | None"
RetryTypes: TypeAlias = "int | Retry"
RateLimitTypes: TypeAlias = "float | RateLimit | Mapping[str, RateLimit | float] | None"
CacheTypes: TypeAlias = "bool | str | PathLike[str] | Cache | None"
VerifyTypes: TypeAlias = "bool | str | PathLike[str] | ssl.SSLContext"
CertTypes: TypeAlias = "str | tuple[str, str] | None"
RequestContent: TypeAlias = "bytes | str | Iterable[bytes] | AsyncIterable[bytes] | IO[bytes]"
RequestData: TypeAlias = "Mapping[str, Any] | Sequence[tuple[str, Any]] | bytes | str"
FileContent: TypeAlias = "IO[bytes] | bytes | str"
FileSpec: TypeAlias = (
    "FileContent | tuple[str | None, FileContent] | tuple[str | None, FileContent, str]"
)
RequestFiles: TypeAlias = "Mapping[str, FileSpec]"


class RequestOptions(TypedDict, total=False):
    """The per-request options every verb takes; ``request()`` documents each one."""

    params: QueryParamTypes
    headers: HeaderTypes
    cookies: CookieTypes
    json: Any
    data: RequestData
    content: RequestContent
    files: RequestFiles
    auth: AuthTypes
    timeout: TimeoutTypes
    follow_redirects: bool
    max_body_size: int | None
    verify: VerifyTypes
    cert: CertTypes
    proxy: URLTypes
    cache: bool | None
