"""The exception tree of DESIGN.md, and the one place engine errors become mylib errors."""

from __future__ import annotations

import asyncio
import builtins
import inspect
import socket
import ssl
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import client_exceptions
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import mylib
from mylib._models import Request
from mylib._transports import aiohttp as _errors
from tests._server import TestServer

_CONN_KEY = aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 8443, True, True, None, None, None)
_REQUEST_INFO = aiohttp.RequestInfo(
    URL("http://127.0.0.1/x"), "GET", CIMultiDictProxy(CIMultiDict()), URL("http://127.0.0.1/x")
)

#: How to build an instance of each engine exception whose constructor needs arguments.
_SAMPLES: dict[type[BaseException], Callable[[], BaseException]] = {
    aiohttp.ClientConnectorError: lambda: aiohttp.ClientConnectorError(
        _CONN_KEY, ConnectionRefusedError(111, "Connection refused")
    ),
    aiohttp.ClientConnectorDNSError: lambda: aiohttp.ClientConnectorDNSError(
        _CONN_KEY, socket.gaierror(-2, "Name or service not known")
    ),
    aiohttp.ClientProxyConnectionError: lambda: aiohttp.ClientProxyConnectionError(
        _CONN_KEY, ConnectionRefusedError(111, "Connection refused")
    ),
    aiohttp.ClientSSLError: lambda: aiohttp.ClientSSLError(_CONN_KEY, ssl.SSLError(1, "bad")),
    aiohttp.ClientConnectorSSLError: lambda: aiohttp.ClientConnectorSSLError(
        _CONN_KEY, ssl.SSLError(1, "bad")
    ),
    aiohttp.ClientConnectorCertificateError: lambda: aiohttp.ClientConnectorCertificateError(
        _CONN_KEY, ssl.SSLCertVerificationError(1, "certificate verify failed")
    ),
    client_exceptions.UnixClientConnectorError: lambda: client_exceptions.UnixClientConnectorError(
        "/tmp/none.sock", _CONN_KEY, FileNotFoundError(2, "No such file")
    ),
    aiohttp.ServerFingerprintMismatch: lambda: aiohttp.ServerFingerprintMismatch(
        b"a" * 32, b"b" * 32, "127.0.0.1", 443
    ),
    aiohttp.InvalidURL: lambda: aiohttp.InvalidURL("http://[bad"),
    aiohttp.InvalidUrlClientError: lambda: aiohttp.InvalidUrlClientError("http://[bad"),
    aiohttp.InvalidUrlRedirectClientError: lambda: aiohttp.InvalidUrlRedirectClientError(
        "http://[bad"
    ),
}


def _engine_exception_classes() -> list[type[BaseException]]:
    return sorted(
        (
            value
            for value in vars(client_exceptions).values()
            if inspect.isclass(value)
            and issubclass(value, BaseException)
            and value.__module__ == client_exceptions.__name__
        ),
        key=lambda cls: cls.__name__,
    )


def _sample(cls: type[BaseException]) -> BaseException:
    if cls in _SAMPLES:
        return _SAMPLES[cls]()
    if issubclass(cls, aiohttp.ClientResponseError):
        return cls(_REQUEST_INFO, (), status=502, message="Bad Gateway")
    if issubclass(cls, OSError):
        return cls(104, "Connection reset by peer")
    return cls("boom")


def _request(url: str = "http://user:secret@127.0.0.1:9/path?q=1") -> Request:
    return Request("GET", URL(url).with_user(None))


ENGINE_EXCEPTIONS = _engine_exception_classes()


@pytest.mark.parametrize("cls", ENGINE_EXCEPTIONS, ids=lambda c: c.__name__)
def test_every_aiohttp_client_exception_is_translated_or_excluded(
    cls: type[BaseException],
) -> None:
    # Fails when aiohttp adds an exception that neither the table nor UNTRANSLATED knows.
    if cls in _errors.UNTRANSLATED:
        return
    translated = _errors.translate(_sample(cls), _request())
    assert isinstance(translated, mylib.Error), f"{cls.__name__} is not translated"


def test_untranslated_list_names_only_real_aiohttp_exceptions() -> None:
    stale = [cls for cls in _errors.UNTRANSLATED if cls not in ENGINE_EXCEPTIONS]
    assert stale == []


@pytest.mark.parametrize(
    ("engine_error", "expected"),
    [
        (_SAMPLES[aiohttp.ClientConnectorError], mylib.ConnectError),
        (_SAMPLES[aiohttp.ClientConnectorDNSError], mylib.ConnectError),
        (_SAMPLES[aiohttp.ClientConnectorCertificateError], mylib.TLSError),
        (_SAMPLES[aiohttp.ClientConnectorSSLError], mylib.TLSError),
        (_SAMPLES[aiohttp.ServerFingerprintMismatch], mylib.TLSError),
        (_SAMPLES[aiohttp.ClientProxyConnectionError], mylib.ProxyError),
        (lambda: aiohttp.ConnectionTimeoutError("slow"), mylib.ConnectTimeout),
        (lambda: aiohttp.SocketTimeoutError("slow"), mylib.ReadTimeout),
        (lambda: aiohttp.ServerDisconnectedError(), mylib.TransportError),
        (lambda: aiohttp.ClientPayloadError("short body"), mylib.ReadError),
        (_SAMPLES[aiohttp.InvalidURL], mylib.InvalidURL),
        (lambda: TimeoutError(), mylib.TimeoutError),
        (lambda: ssl.SSLError(1, "bad record"), mylib.TLSError),
        (lambda: ConnectionRefusedError(111, "refused"), mylib.ConnectError),
        (lambda: ConnectionResetError(104, "reset"), mylib.TransportError),
    ],
    ids=lambda v: getattr(v, "__name__", "engine"),
)
def test_engine_errors_become_the_most_specific_mylib_error(
    engine_error: Callable[[], BaseException], expected: type[mylib.Error]
) -> None:
    translated = _errors.translate(engine_error(), _request())
    assert isinstance(translated, expected), repr(translated)


def test_non_io_errors_and_mylib_errors_are_not_translated() -> None:
    assert _errors.translate(KeyError("k"), None) is None
    assert _errors.translate(mylib.ConnectError("already ours"), None) is None


def test_tree_matches_design() -> None:
    expectations: list[tuple[type[BaseException], tuple[type[BaseException], ...]]] = [
        (mylib.Error, (Exception,)),
        (mylib.HTTPStatusError, (mylib.Error,)),
        (mylib.TransportError, (mylib.Error,)),
        (mylib.ConnectError, (mylib.TransportError,)),
        (mylib.TLSError, (mylib.ConnectError,)),
        (mylib.ProxyError, (mylib.ConnectError,)),
        (mylib.ReadError, (mylib.TransportError,)),
        (mylib.WriteError, (mylib.TransportError,)),
        (mylib.RemoteProtocolError, (mylib.TransportError,)),
        (mylib.TooManyRedirects, (mylib.TransportError,)),
        (mylib.TimeoutError, (mylib.Error, builtins.TimeoutError)),
        (mylib.ConnectTimeout, (mylib.TimeoutError, mylib.ConnectError)),
        (mylib.ReadTimeout, (mylib.TimeoutError, mylib.ReadError)),
        (mylib.DecodingError, (mylib.Error, ValueError)),
        (mylib.InvalidURL, (mylib.Error, ValueError)),
        (mylib.ClientClosedError, (mylib.Error, RuntimeError)),
        (mylib.LoopThreadError, (mylib.Error, RuntimeError)),
    ]
    wrong = [
        (cls.__name__, base.__name__)
        for cls, bases in expectations
        for base in bases
        if not issubclass(cls, base)
    ]
    assert wrong == []


def test_every_mylib_exception_is_under_error() -> None:
    classes = [getattr(mylib, n) for n in mylib.__all__ if inspect.isclass(getattr(mylib, n))]
    exceptions = [c for c in classes if issubclass(c, BaseException)]
    # Ctrl-C is not an error: MapInterrupted is a KeyboardInterrupt, so that
    # `except mylib.Error` never swallows it.
    interrupts = [c for c in exceptions if issubclass(c, KeyboardInterrupt)]
    assert interrupts == [mylib.MapInterrupted] and not issubclass(interrupts[0], mylib.Error)
    others = [c for c in exceptions if c not in interrupts]
    assert others and all(issubclass(c, mylib.Error) for c in others)


def test_mylib_timeout_is_caught_by_builtin_timeout_error_clause() -> None:
    with pytest.raises(builtins.TimeoutError):
        raise mylib.ReadTimeout("slow")


def test_translated_message_names_url_without_credentials() -> None:
    translated = _errors.translate(_SAMPLES[aiohttp.ClientConnectorError](), _request())
    assert translated is not None
    assert "127.0.0.1:9/path" in str(translated)
    assert "secret" not in str(translated) and "user" not in str(translated)


@pytest.mark.parametrize(
    "engine_error",
    [
        lambda: aiohttp.InvalidURL("http://user:secret@[bad"),
        # What aiohttp raises when a proxy given as http://user:secret@proxy refuses CONNECT.
        lambda: aiohttp.ClientHttpProxyError(
            aiohttp.RequestInfo(
                URL("https://127.0.0.1/x"),
                "CONNECT",
                CIMultiDictProxy(CIMultiDict()),
                URL("http://user:secret@127.0.0.1:3128"),
            ),
            (),
            status=407,
            message="Proxy Authentication Required",
        ),
    ],
    ids=["InvalidURL", "ClientHttpProxyError"],
)
def test_translated_message_drops_credentials_the_engine_put_in_its_own_text(
    engine_error: Callable[[], BaseException],
) -> None:
    translated = _errors.translate(engine_error(), None)
    assert translated is not None
    assert "secret" not in str(translated)


def test_proxy_refusing_connect_does_not_leak_proxy_password(
    server: TestServer, tls_server: TestServer
) -> None:
    # The plain test server answers CONNECT with 404, so aiohttp raises ClientHttpProxyError
    # quoting the proxy URL, credentials and all.
    proxy = server.url.replace("http://", "http://user:secret@")
    client = mylib.Client(proxy=proxy, verify=tls_server.ca_path or True)
    with pytest.raises(mylib.ProxyError) as info:
        client.get(tls_server.url + "/get")
    assert "secret" not in str(info.value)
    assert "secret" not in repr(client)


def test_redact_url_removes_user_and_password() -> None:
    assert _errors.redact_url("https://user:secret@example.com/a?b=1") == (
        "https://example.com/a?b=1"
    )
    assert "secret" not in _errors.redact_url(URL("http://:secret@example.com/"))


def test_translating_raises_from_the_original() -> None:
    original = _SAMPLES[aiohttp.ClientConnectorError]()
    with pytest.raises(mylib.ConnectError) as info, _errors.translating(_request()):
        raise original
    assert info.value.__cause__ is original
    assert info.value.request is not None


def test_translating_lets_cancellation_and_other_errors_through() -> None:
    with pytest.raises(asyncio.CancelledError), _errors.translating(None):
        raise asyncio.CancelledError
    with pytest.raises(KeyError), _errors.translating(None):
        raise KeyError("not I/O")


def test_http_status_error_carries_the_response(server: TestServer) -> None:
    response = mylib.Client().get(server.url + "/status/503")
    with pytest.raises(mylib.HTTPStatusError) as info:
        response.raise_for_status()
    assert info.value.response is response
    assert info.value.request is response.request
    assert "503" in str(info.value)
