"""SOCKS proxies through a real SOCKS server (pproxy) on loopback: with and without
credentials, HTTP and HTTPS targets, names resolved by the proxy for socks5h, refusals as
ProxyError, and never a credential in an error, a repr or the log."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client

__all__ = ["make_client"]


class SocksServer:
    """``pproxy`` serving SOCKS (``scheme``) on a free loopback port; ``lines`` is what it
    logged, one ``socks5 client -> target:port`` line per connection it made."""

    __test__ = False

    def __init__(self, scheme: str = "socks5", auth: str | None = None) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        listen = f"{scheme}://127.0.0.1:{self.port}" + (f"#{auth}" if auth else "")
        self._proc = subprocess.Popen(
            # --auth 0: pproxy would otherwise let an address that logged in once come
            # back without credentials (or with wrong ones) for 30 days.
            [sys.executable, "-m", "pproxy", "-l", listen, "-v", "--auth", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        assert self._proc.stdout is not None
        for line in iter(self._proc.stdout.readline, ""):
            if line.startswith("Serving on"):
                break
        else:
            raise RuntimeError("pproxy did not start")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in iter(self._proc.stdout.readline, ""):
            self.lines.append(line.strip())

    def targets(self) -> list[str]:
        """The ``host:port`` of each connection it made for a client."""
        return [line.rsplit("-> ", 1)[1] for line in list(self.lines) if "-> " in line]

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._reader.join(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@pytest.fixture
def socks() -> Iterator[SocksServer]:
    srv = SocksServer()
    yield srv
    srv.stop()


@pytest.fixture
def socks_auth() -> Iterator[SocksServer]:
    srv = SocksServer(auth="alice:s3cret")
    yield srv
    srv.stop()


def _port(server: TestServer) -> str:
    return server.url.rsplit(":", 1)[1]


def test_socks5_without_credentials_carries_http(
    make_client: ClientFactory, server: TestServer, socks: SocksServer
) -> None:
    client = make_client(proxy=f"socks5://127.0.0.1:{socks.port}")
    r = client.get(server.url + "/get")
    assert r.status_code == 200
    r = client.get(server.url + "/get")  # the connection through the proxy is reused
    assert socks.targets() == [f"127.0.0.1:{_port(server)}"]


def test_socks5_with_credentials_carries_http_and_https(
    make_client: ClientFactory,
    server: TestServer,
    tls_server: TestServer,
    socks_auth: SocksServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = f"socks5://alice:s3cret@127.0.0.1:{socks_auth.port}"
    client = make_client(proxy=proxy, verify=tls_server.ca_path)
    with caplog.at_level(logging.DEBUG, logger="mylib"):
        assert client.get(server.url + "/get").status_code == 200
        r = client.get(tls_server.url + "/get")
    assert r.status_code == 200 and r.url.startswith("https://")
    assert socks_auth.targets() == [
        f"127.0.0.1:{_port(server)}", f"127.0.0.1:{_port(tls_server)}"
    ]
    assert "s3cret" not in caplog.text and "s3cret" not in repr(client)
    # The same address with wrong credentials now, after a good login, is still refused.
    wrong = make_client(proxy=f"socks5://alice:wrong@127.0.0.1:{socks_auth.port}")
    with pytest.raises(mylib.ProxyError):
        wrong.get(server.url + "/get")


def test_socks5h_lets_the_proxy_resolve_the_name_and_socks5_resolves_it_here(
    server: TestServer, socks: SocksServer
) -> None:
    target = f"http://localhost:{_port(server)}/get"
    assert mylib.Client(proxy=f"socks5h://127.0.0.1:{socks.port}").get(target).ok
    assert mylib.Client(proxy=f"socks5://127.0.0.1:{socks.port}").get(target).ok
    assert socks.targets() == [f"localhost:{_port(server)}", f"127.0.0.1:{_port(server)}"]


def test_socks4_carries_http(server: TestServer) -> None:
    srv = SocksServer("socks4")
    try:
        assert mylib.Client(proxy=f"socks4://127.0.0.1:{srv.port}").get(server.url + "/get").ok
        assert srv.targets() == [f"127.0.0.1:{_port(server)}"]
    finally:
        srv.stop()


def test_wrong_credentials_are_a_proxy_error_that_shows_none(
    make_client: ClientFactory, server: TestServer, socks_auth: SocksServer
) -> None:
    client = make_client(proxy=f"socks5://alice:wrong-pass@127.0.0.1:{socks_auth.port}")
    with pytest.raises(mylib.ProxyError, match="SOCKS") as info:
        client.get(server.url + "/get")
    shown = str(info.value) + repr(info.value.__cause__) + str(info.value.__context__)
    assert "wrong-pass" not in shown and "alice" not in shown
    assert socks_auth.targets() == []


def test_a_proxy_that_is_not_there_is_a_proxy_error(server: TestServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(mylib.ProxyError, match=f"127.0.0.1:{port}"):
        mylib.Client(proxy=f"socks5://u:pw@127.0.0.1:{port}").get(server.url + "/get")


def test_all_proxy_and_https_proxy_may_be_socks(
    server: TestServer,
    tls_server: TestServer,
    socks: SocksServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALL_PROXY", f"socks5://127.0.0.1:{socks.port}")
    assert mylib.Client().get(server.url + "/get").ok
    monkeypatch.delenv("ALL_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", f"socks5h://127.0.0.1:{socks.port}")
    assert mylib.Client(verify=tls_server.ca_path).get(tls_server.url + "/get").ok
    assert mylib.Client(trust_env=False).get(server.url + "/get").ok  # not through it
    assert socks.targets() == [f"127.0.0.1:{_port(server)}", f"127.0.0.1:{_port(tls_server)}"]


def test_a_request_may_name_its_own_socks_proxy(
    make_client: ClientFactory, server: TestServer, socks: SocksServer
) -> None:
    client = make_client()
    assert client.get(server.url + "/get", proxy=f"socks5://127.0.0.1:{socks.port}").ok
    assert client.get(server.url + "/get").ok  # direct
    assert socks.targets() == [f"127.0.0.1:{_port(server)}"]


def test_a_missing_aiohttp_socks_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp_socks", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install aiohttp-socks"):
        mylib.Client(proxy="socks5://127.0.0.1:1080")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(ImportError, match="aiohttp-socks"):
        mylib.Client().get("http://example.test/")


def test_a_certificate_that_fails_through_the_proxy_is_a_tls_error(
    tls_server: TestServer, socks: SocksServer
) -> None:
    with pytest.raises(mylib.TLSError, match=r"through socks5://127\.0\.0\.1"):
        mylib.Client(proxy=f"socks5://127.0.0.1:{socks.port}").get(tls_server.url + "/get")


def test_credentials_socks_cannot_send_are_refused_without_echoing_them() -> None:
    for proxy in ("socks5://bob:p%C3%A4ssw%C3%B6rd@127.0.0.1:1080",
                  f"socks5://{'u' * 300}:pw@127.0.0.1:1080"):
        with pytest.raises(mylib.InvalidURL, match="ASCII, at most 255") as info:
            mylib.Client(proxy=proxy)
        assert "rd@" not in str(info.value) and "uuu" not in str(info.value)
        assert "bob" not in str(info.value)


def test_names_socks_cannot_carry_or_that_do_not_resolve_are_mylib_errors(
    socks: SocksServer,
) -> None:
    long = "a" * 70  # an IDNA label may have 63 characters
    for scheme in ("socks5", "socks5h"):
        client = mylib.Client(proxy=f"socks5h://127.0.0.1:{socks.port}".replace(
            "socks5h", scheme))
        with pytest.raises(mylib.ProxyError, match="could not be encoded") as info:
            client.get(f"http://{long}.example/")
        assert info.value.__context__ is None and info.value.__cause__ is None
    # socks5:// resolves the name here: a name that does not resolve is not the proxy's fault.
    with pytest.raises(mylib.ConnectError, match="name not resolved") as caught:
        mylib.Client(proxy=f"socks5://127.0.0.1:{socks.port}").get("http://no-such-host.invalid/")
    assert not isinstance(caught.value, mylib.ProxyError)


def test_a_socks4_password_is_refused_since_socks4_cannot_send_it() -> None:
    with pytest.raises(mylib.InvalidURL, match="SOCKS4 cannot send") as info:
        mylib.Client(proxy="socks4://bob:hunter2@127.0.0.1:1080")
    assert "hunter2" not in str(info.value)
    mylib.Client(proxy="socks4://bob@127.0.0.1:1080")  # a user id alone is fine
