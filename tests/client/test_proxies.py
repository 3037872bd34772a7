"""Proxies: ``proxy=`` and, with trust_env, HTTP(S)_PROXY / NO_PROXY like requests, checked
against a tiny forwarding proxy on 127.0.0.1 that records what it carried."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


class ForwardingProxy:
    """CONNECT tunnels (for https) and absolute-form requests (for http), recorded."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def start() -> asyncio.Server:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            return server

        def run() -> None:
            self._server = self._loop.run_until_complete(start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.run_until_complete(self._cancel_handlers())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)

    @staticmethod
    async def _cancel_handlers() -> None:
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:
            # Swallowed on purpose: asyncio's stream callback would log a cancelled handler.
            writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        first = head.split(b"\r\n", 1)[0].decode()
        self.seen.append(first)
        method, target, _ = first.split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            hostport = target.split("/")[2]
            host, port = hostport.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            up_writer.write(head)  # aiohttp's server accepts the absolute form
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()

    def stop(self) -> None:
        def shutdown() -> None:
            self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(10)


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    srv = ForwardingProxy()
    yield srv
    srv.stop()


def test_explicit_proxy_is_used(
    make_client: ClientFactory, any_server: TestServer, proxy: ForwardingProxy
) -> None:
    c = make_client(proxy=proxy.url, verify=verify_for(any_server), trust_env=False)
    assert c.get(any_server.url + "/get?via=proxy").json()["args"] == {"via": "proxy"}
    port = any_server.url.rsplit(":", 1)[1]
    expected = "CONNECT" if any_server.url.startswith("https") else "GET http://"
    assert any(line.startswith(expected) and port in line for line in proxy.seen)


def test_environment_proxy_is_used_with_trust_env(
    make_client: ClientFactory,
    any_server: TestServer,
    proxy: ForwardingProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    c = make_client(verify=verify_for(any_server))
    assert c.get(any_server.url + "/get").status_code == 200
    assert len(proxy.seen) == 1


def test_no_proxy_and_trust_env_false_bypass_the_environment_proxy(
    make_client: ClientFactory,
    server: TestServer,
    proxy: ForwardingProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert make_client(trust_env=False).get(server.url + "/get").status_code == 200
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert make_client().get(server.url + "/get").status_code == 200
    assert proxy.seen == []


def test_bad_proxy_url_is_refused() -> None:
    with pytest.raises(mylib.InvalidURL, match="proxy"):
        mylib.Client(proxy="ftp://127.0.0.1:1080")
    with pytest.raises(TypeError, match="proxy"):
        mylib.Client(proxy=8080)  # type: ignore[arg-type]


def test_the_request_a_response_shows_has_no_proxy_credentials_it_was_not_given(
    make_client: ClientFactory, server: TestServer, proxy: ForwardingProxy
) -> None:
    with_creds = proxy.url.replace("http://", "http://puser:ppass@")
    r = make_client(proxy=with_creds, trust_env=False).get(server.url + "/get")
    assert r.status_code == 200
    assert "Proxy-Authorization" not in r.request.headers
    assert "Host" in r.request.headers  # the headers as sent, otherwise
