"""Transport errors in plain words: what happened, for which request, in mylib's wording
(not the engine's ``Cannot connect to host h:1 ssl:default [...]``), and a printed
traceback no longer than requests' for the same mistake."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

import mylib
from tests._server import TestServer
from tests._subproc import run_python


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def _error_of(url: str, **options: object) -> mylib.Error:
    with mylib.Client(retries=0) as client, pytest.raises(mylib.Error) as info:
        client.get(url, **options)  # type: ignore[arg-type]
    return info.value


def test_connection_refused_says_so_with_the_url_and_no_engine_wording(closed_port: int) -> None:
    error = _error_of(f"http://127.0.0.1:{closed_port}/x")
    assert isinstance(error, mylib.ConnectError)
    assert str(error) == (
        f"connection refused by 127.0.0.1:{closed_port} (GET http://127.0.0.1:{closed_port}/x)"
    )
    assert "ssl:" not in str(error) and "Cannot connect" not in str(error)
    assert error.__cause__ is not None  # the engine's exception is kept


def test_an_unresolvable_name_says_name_not_resolved() -> None:
    error = _error_of("http://no-such-host.invalid/")
    assert isinstance(error, mylib.ConnectError)
    assert str(error).startswith("name not resolved: no-such-host.invalid (")
    assert str(error).endswith("(GET http://no-such-host.invalid/)")


def test_an_untrusted_certificate_says_verify_failed_with_the_reason(
    tls_server: TestServer,
) -> None:
    error = _error_of(tls_server.url + "/json")
    assert isinstance(error, mylib.TLSError)
    assert str(error).startswith("TLS certificate verify failed for 127.0.0.1: ")
    assert "unable to get local issuer certificate" in str(error)


def test_tls_to_a_plain_http_port_says_the_handshake_failed(server: TestServer) -> None:
    error = _error_of(server.url.replace("http://", "https://") + "/json")
    assert isinstance(error, mylib.TLSError)
    assert str(error).startswith("TLS handshake failed with 127.0.0.1:")
    assert "wrong version number" in str(error)


def test_a_silent_server_says_how_long_it_waited_and_for_what(server: TestServer) -> None:
    error = _error_of(server.url + "/delay/30", timeout=mylib.Timeout(read=0.2))
    assert isinstance(error, mylib.ReadTimeout)
    assert str(error) == f"timed out after 0.2 s while reading (GET {server.url}/delay/30)"


def test_credentials_never_reach_the_message(closed_port: int) -> None:
    error = _error_of(f"http://user:SECRET@127.0.0.1:{closed_port}/x?api_key=SECRET")
    assert "SECRET" not in str(error)


def test_the_last_failure_is_logged_at_debug_like_the_retries_before_it(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mylib")
    client = mylib.Client(retries=mylib.Retry(2, backoff_factor=0))
    with client, pytest.raises(mylib.ConnectError):
        client.get(f"http://127.0.0.1:{closed_port}/x")
    lines = [r.getMessage() for r in caplog.records if r.name == "mylib"]
    assert sum(line.startswith("Retrying GET") for line in lines) == 2, lines
    assert lines[-1] == (
        f"GET http://127.0.0.1:{closed_port}/x failed after 3 attempts: ConnectError: "
        f"connection refused by 127.0.0.1:{closed_port} (GET http://127.0.0.1:{closed_port}/x)"
    )


_MISTAKES = {
    "refused": "http://127.0.0.1:{port}/x",
    "dns": "http://no-such-host.invalid/",
}


@pytest.mark.parametrize("mistake", sorted(_MISTAKES))
def test_the_printed_traceback_is_no_longer_than_requests(mistake: str, closed_port: int) -> None:
    url = _MISTAKES[mistake].format(port=closed_port)
    printed = {}
    for lib in ("requests", "mylib"):
        proc = run_python(f"import {lib}\n{lib}.get({url!r})\n")
        assert proc.returncode == 1, proc.stderr
        printed[lib] = proc.stderr.splitlines()
    last = printed["mylib"][-1]
    assert last.startswith("mylib.ConnectError: ") and "ssl:default" not in last
    assert len(printed["mylib"]) <= len(printed["requests"]), "\n".join(printed["mylib"])

