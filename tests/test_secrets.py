"""No password or token in any message, chained cause, traceback or log line (issue 11,
defect 4).

Each scenario fails a request that carries a secret (proxy user info, URL user info, an auth
tuple, a bearer token, a secret-looking query value) against a real local server or port,
with mylib's DEBUG log on, and looks for the secret, plain or base64-encoded as a Basic
header carries it, in everything a user could print: the traceback with its whole chain,
``logging.exception`` output, and each chained exception's ``str``, ``repr`` and attributes.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import socket
import traceback
from collections.abc import Callable, Iterator

import pytest

import mylib
from tests._raw import Conn, RawServer

# Built, not written out: the traceback quotes the lines of this file that make the calls,
# and those must not be what the search finds.
P, U, A, B, Q = (kind + "secret" for kind in "puabq")
SECRETS = [P, U, A, B, Q]
SECRETS += [base64.b64encode(f"{user}:{pw}".encode()).decode().rstrip("=") for user, pw in
            [("puser", P), ("uuser", U), ("auser", A)]]


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def everything_printed(exc: BaseException, log: str) -> str:
    parts = ["".join(traceback.format_exception(exc)), log]
    for link in _chain(exc):
        parts += [str(link), repr(link), repr(link.args)]
        parts += [repr(getattr(link, "__dict__", {}))]
    return "\n".join(parts)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("mylib")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old)


@pytest.fixture(scope="module")
def refusing_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connecting is refused
    yield sock.getsockname()[1]
    sock.close()


def _proxy(answer: bytes) -> RawServer:
    async def handler(conn: Conn) -> None:
        if await conn.read_head():
            await conn.send(answer)
            if answer is not HANG_UP:  # else: close mid-body
                await conn.reader.read()

    return RawServer(handler)


PROXY_407 = (b"HTTP/1.1 407 Proxy Authentication Required\r\n"
             b"Proxy-Authenticate: Basic realm=x\r\nContent-Length: 0\r\n\r\n")
HANG_UP = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"
SILENT = b""

Scenario = Callable[[dict[str, object]], None]


def _with_server(answer: bytes, call: Callable[[str], None]) -> None:
    with _proxy(answer) as server:
        call(server.url)


def _userinfo(url: str, user: str, password: str) -> str:
    return url.replace("http://", f"http://{user}:{password}@")


SCENARIOS: dict[str, Callable[[int], None]] = {
    # proxy= with user info: a 407 to CONNECT, a refused proxy, a proxy that hangs up.
    "proxy-407": lambda port: _with_server(PROXY_407, lambda url: mylib.Client(
        proxy=_userinfo(url, "puser", P)).get("https://example.test/", timeout=10)),
    "proxy-refused": lambda port: mylib.Client(
        proxy=f"http://puser:{P}@127.0.0.1:{port}").get("https://example.test/"),
    "proxy-hangs-up": lambda port: _with_server(HANG_UP, lambda url: mylib.Client(
        proxy=_userinfo(url, "puser", P)).get("http://example.test/", timeout=10)),
    "proxy-bad-scheme": lambda port: mylib.Client(proxy=f"ftp://puser:{P}@host"),
    "proxy-bad-port": lambda port: mylib.Client(proxy=f"http://puser:{P}@host:99999"),
    # user info in the URL
    "url-refused": lambda port: mylib.get(f"http://uuser:{U}@127.0.0.1:{port}/"),
    "url-bad-port": lambda port: mylib.get(f"http://uuser:{U}@127.0.0.1:99999/"),
    "url-hangs-up": lambda port: _with_server(
        HANG_UP, lambda url: mylib.get(_userinfo(url, "uuser", U), timeout=10)),
    # auth tuples and bearer tokens
    "auth-tuple-timeout": lambda port: _with_server(SILENT, lambda url: mylib.get(
        url, auth=("auser", A), timeout=mylib.Timeout(read=0.5))),
    "auth-tuple-hangs-up": lambda port: _with_server(
        HANG_UP, lambda url: mylib.get(url, auth=("auser", A), timeout=10)),
    "bearer-401": lambda port: _with_server(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        lambda url: mylib.get(url, auth=mylib.BearerAuth(B)).raise_for_status()),
    "bearer-header-timeout": lambda port: _with_server(SILENT, lambda url: mylib.get(
        url, headers={"Authorization": "Bearer " + B}, timeout=0.5)),
    "digest-refused": lambda port: mylib.get(
        f"http://127.0.0.1:{port}/", auth=mylib.DigestAuth("auser", A)),
    # a body that breaks its Content-Length, sent through a proxy with user info (the
    # engine's wrapper stays reachable as the error's __context__)
    "proxy-bad-body": lambda port: _with_server(SILENT, lambda url: mylib.Client(
        proxy=_userinfo(url, "puser", P)).post(
            "http://example.test/", headers={"Content-Length": "4"},
            content=iter([b"hel", b"lo"]), timeout=10)),
    # a secret-looking query value, also where the engine's message quotes the URL
    "query-bad-status-line": lambda port: _with_server(
        b"NOT HTTP\r\n\r\n", lambda url: mylib.get(url + f"/x?api_key={Q}", timeout=10)),
    "query-connect-timeout": lambda port: _with_server(SILENT, lambda url: mylib.get(
        url.replace("http://", "https://") + f"/x?token={Q}",
        timeout=mylib.Timeout(connect=0.5))),
    "query-with-a-quote": lambda port: _with_server(SILENT, lambda url: mylib.get(
        url.replace("http://", "https://") + f"/x?token=ab'{Q}&x=1",
        timeout=mylib.Timeout(connect=0.5))),
    "query-refused": lambda port: mylib.get(f"http://127.0.0.1:{port}/?api_key={Q}"),
    "query-timeout": lambda port: _with_server(
        SILENT, lambda url: mylib.get(url + f"/?token={Q}", timeout=0.5)),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_no_secret_is_printed_when_a_request_fails(
    name: str, refusing_port: int, debug_log: io.StringIO
) -> None:
    with pytest.raises(mylib.Error) as info:
        SCENARIOS[name](refusing_port)
    logging.getLogger("mylib").exception("the request failed", exc_info=info.value)
    printed = everything_printed(info.value, debug_log.getvalue())
    leaked = [secret for secret in SECRETS if secret in printed]
    assert not leaked, f"{leaked} in:\n{printed}"


def test_the_async_client_scrubs_the_same_way(refusing_port: int) -> None:
    async def main() -> mylib.Error:
        client = mylib.AsyncClient(proxy=f"http://puser:{P}@127.0.0.1:{refusing_port}")
        try:
            await client.get("https://example.test/")
        except mylib.Error as exc:
            return exc
        raise AssertionError("the request should have failed")

    error = asyncio.run(main())
    assert isinstance(error, mylib.ProxyError)
    printed = everything_printed(error, "")
    assert not [secret for secret in SECRETS if secret in printed], printed


def test_the_engine_cause_is_still_chained(refusing_port: int) -> None:
    # Scrubbed, not dropped: the engine's exception stays there for debugging.
    with pytest.raises(mylib.ProxyError) as info:
        mylib.Client(proxy=f"http://puser:{P}@127.0.0.1:{refusing_port}").get(
            "https://example.test/"
        )
    cause = info.value.__cause__
    assert cause is not None and type(cause).__module__.startswith("aiohttp")
    assert f"127.0.0.1:{refusing_port}" in str(info.value)
