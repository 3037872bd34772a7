"""TLS: verify=True|False|path|SSLContext, and cert= client certificates (mutual TLS)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

import mylib
from tests._server import TestServer
from tests.client._support import AppServer, ClientFactory, make_client

__all__ = ["make_client"]


def test_verify_with_the_ca_bundle_path(make_client: ClientFactory, tls_server: TestServer) -> None:
    assert make_client(verify=tls_server.ca_path).get(tls_server.url + "/get").status_code == 200


def test_verify_with_an_ssl_context(make_client: ClientFactory, tls_server: TestServer) -> None:
    c = make_client(verify=tls_server.client_ssl_context())
    assert c.get(tls_server.url + "/get").status_code == 200


def test_untrusted_certificate_raises_tls_error(
    make_client: ClientFactory, tls_server: TestServer
) -> None:
    with pytest.raises(mylib.TLSError):
        make_client().get(tls_server.url + "/get")


def test_verify_false_skips_the_check(make_client: ClientFactory, tls_server: TestServer) -> None:
    assert make_client(verify=False).get(tls_server.url + "/get").status_code == 200


def test_missing_ca_bundle_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="CA bundle"):
        mylib.Client(verify="/nonexistent/ca.pem")


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppServer, Path, Path]]:
    """A TLS server that demands a client certificate signed by its CA."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED

    async def who(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        return web.json_response({"client": bool(peer)})

    app = web.Application()
    app.router.add_get("/who", who)
    srv = AppServer(app, ssl_context=server_ctx)
    tmp = tmp_path_factory.mktemp("mtls")
    ca_path = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    client_pem = tmp / "client.pem"
    ca.issue_cert("client@example.com").private_key_and_cert_chain_pem.write_to_path(
        str(client_pem)
    )
    yield srv, ca_path, client_pem
    srv.stop()


def test_client_certificate_is_presented_for_mutual_tls(
    make_client: ClientFactory, mtls: tuple[AppServer, Path, Path]
) -> None:
    srv, ca_path, client_pem = mtls
    r = make_client(verify=str(ca_path), cert=str(client_pem)).get(srv.url + "/who")
    assert r.json()["client"] is True


def test_without_a_client_certificate_mutual_tls_fails(
    make_client: ClientFactory, mtls: tuple[AppServer, Path, Path]
) -> None:
    srv, ca_path, _ = mtls
    with pytest.raises(mylib.TransportError):
        make_client(verify=str(ca_path)).get(srv.url + "/who")


def test_ssl_context_is_built_once_per_configuration(tls_server: TestServer) -> None:
    first = mylib.Client(verify=tls_server.ca_path)._engine._config.ssl
    second = mylib.AsyncClient(verify=tls_server.ca_path)._config.ssl
    assert first is second
