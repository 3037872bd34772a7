"""mylib: requests' ease for blocking code, aiohttp's engine, and nothing to close."""

from ._api import delete, get, head, options, patch, post, put, request
from ._async_client import AsyncClient
from ._auth import Auth, BasicAuth, BearerAuth, DigestAuth
from ._cache import Cache
from ._client import Client
from ._cookies import Cookies
from ._errors import (
    ClientClosedError,
    ConnectError,
    ConnectTimeout,
    CookieConflict,
    DecodingError,
    Error,
    HTTPStatusError,
    InvalidHeader,
    InvalidURL,
    LoopThreadError,
    MapInterrupted,
    PoolTimeout,
    ProxyError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    ResponseTooLarge,
    TimeoutError,
    TLSError,
    TooManyRedirects,
    TransportError,
    WriteError,
)
from ._io import run
from ._limits import Limits
from ._models import Request, Response, Retry, Timeout
from ._ratelimit import RateLimit
from ._stream import AsyncStreamResponse, StreamResponse
from ._transports import AsyncTransport, MockTransport
from ._wrap import make_sync

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncStreamResponse",
    "AsyncTransport",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "Cache",
    "Client",
    "ClientClosedError",
    "ConnectError",
    "ConnectTimeout",
    "CookieConflict",
    "Cookies",
    "DecodingError",
    "DigestAuth",
    "Error",
    "HTTPStatusError",
    "InvalidHeader",
    "InvalidURL",
    "Limits",
    "LoopThreadError",
    "MapInterrupted",
    "MockTransport",
    "PoolTimeout",
    "ProxyError",
    "RateLimit",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Request",
    "Response",
    "ResponseTooLarge",
    "Retry",
    "StreamResponse",
    "TLSError",
    "Timeout",
    "TimeoutError",
    "TooManyRedirects",
    "TransportError",
    "WriteError",
    "delete",
    "get",
    "head",
    "make_sync",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "run",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        # Tracebacks and reprs say mylib.TimeoutError, not mylib._errors.TimeoutError.
        _obj.__module__ = "mylib"
del _name, _obj
