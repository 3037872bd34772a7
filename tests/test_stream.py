"""Streams (issue 5): headers at once, bodies in flat memory, connections always released."""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncGenerator, Iterator
from typing import Any, cast

import pytest
from aiohttp import web

import mylib
from mylib._decode import LineSplitter, Rechunker
from mylib._stream import StreamState
from mylib._transports.sessions import _OPEN
from tests._server import TestServer, pattern_bytes
from tests._subproc import assert_silent, run_python
from tests.client._support import AppServer
from tests.client.test_auth import _digest_app


def _client(server: TestServer) -> mylib.Client:
    return mylib.Client(server.url, verify=server.ca_path or True)


def test_stream_iter_bytes_returns_exact_chunks_and_whole_body(any_server: TestServer) -> None:
    with _client(any_server).stream("GET", "/stream-bytes/300001?chunk_size=7000") as r:
        assert r.status_code == 200 and r.ok
        chunks = list(r.iter_bytes(65536))
    assert all(len(c) == 65536 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 65536
    assert b"".join(chunks) == pattern_bytes(300001)
    assert r.state is StreamState.CONSUMED


def test_stream_read_text_and_lines_decode_like_requests(server: TestServer) -> None:
    client = _client(server)
    with client.stream("GET", "/text") as r:
        assert r.read().decode("utf-8") == r.text
    with client.stream("GET", "/json") as r:
        lines = list(r.iter_lines())
    assert "".join(lines).startswith('{"slideshow"')
    with client.stream("GET", "/text?charset=latin-1") as r:
        assert "".join(r.iter_text()) == "Héllo, wörld! Café crème, naïve façade."


def test_line_splitter_keeps_crlf_split_across_pieces_as_one_line_end() -> None:
    splitter = LineSplitter()
    out = splitter.feed("a\r") + splitter.feed("\nb\nc") + splitter.feed("d\r\n") + splitter.flush()
    assert out == ["a", "b", "cd"]


def test_rechunker_rejects_bad_chunk_size_before_reading() -> None:
    with pytest.raises(ValueError):
        Rechunker(0)
    with pytest.raises(TypeError):
        Rechunker(1.5)  # type: ignore[arg-type]


def test_stream_follows_redirects_and_keeps_history(server: TestServer) -> None:
    with _client(server).stream("GET", "/redirect/2") as r:
        assert r.status_code == 200 and len(r.history) == 2
        assert r.url.endswith("/get") and b'"path": "/get"' in r.read()


def test_stream_status_error_raises_with_headers_only(server: TestServer) -> None:
    with _client(server).stream("GET", "/status/404") as r, pytest.raises(
        mylib.HTTPStatusError
    ) as info:
        r.raise_for_status()
    assert info.value.response is r


def test_closing_the_client_closes_its_open_streams_and_their_prefetch(
    server: TestServer,
) -> None:
    client = _client(server)
    with client.stream("GET", "/big/200000000") as r:
        pieces = r.iter_bytes()
        next(pieces)  # the prefetch now fills its buffer and waits for room
        client.close()
        assert r.state is StreamState.CLOSED and r.closed
        with pytest.raises(mylib.ClientClosedError, match="closed while it was being read"):
            for _ in pieces:
                pass
    assert not any(_OPEN.values())


def test_closing_an_async_client_closes_its_open_streams(server: TestServer) -> None:
    async def main() -> StreamState:
        client = mylib.AsyncClient(server.url)
        stream = await client.stream("GET", "/big/200000000").__aenter__()
        await client.aclose()
        with pytest.raises(mylib.ClientClosedError):
            async for _ in stream.aiter_bytes():
                pass
        return stream.state

    assert asyncio.run(main()) is StreamState.CLOSED


def test_early_break_releases_connection_for_immediate_reuse(server: TestServer) -> None:
    client = _client(server)
    with client.stream("GET", "/big/200000000") as r:
        for _ in r.iter_bytes(1024):
            break
        # The generator was dropped by the break: the stream is closed on the loop already.
        assert r.state is StreamState.CLOSED
    assert not any(_OPEN.values())
    assert client.get("/echo-id/after-break").json() == {"id": "after-break"}


def test_exception_in_loop_body_closes_stream(server: TestServer) -> None:
    client = _client(server)
    with pytest.raises(ZeroDivisionError), client.stream("GET", "/big/100000000") as r:
        for _ in r.iter_bytes():
            1 / 0  # noqa: B018
    assert r.state is StreamState.CLOSED and r.closed


def test_reading_a_closed_stream_raises_clearly(server: TestServer) -> None:
    with _client(server).stream("GET", "/bytes/10") as r:
        pass
    with pytest.raises(RuntimeError):
        r.read()


def test_stream_broken_midway_raises_read_error(server: TestServer) -> None:
    with _client(server).stream("GET", "/gone-midway") as r, pytest.raises(mylib.ReadError):
        r.read()


def test_async_stream_aiter_bytes_and_early_exit(any_server: TestServer) -> None:
    async def main() -> None:
        ac = mylib.AsyncClient(any_server.url, verify=any_server.ca_path or True)
        async with ac.stream("GET", "/stream-bytes/100000?chunk_size=999") as r:
            data = b"".join([c async for c in r.aiter_bytes(4096)])
        assert data == pattern_bytes(100000)
        async with ac.stream("GET", "/big/100000000") as r:
            async for _ in r.aiter_bytes():
                break
        assert r.closed
        async with ac.stream("GET", "/json") as r:
            assert (await r.aread()).startswith(b"{") and r.json()["slideshow"]
        assert (await ac.get("/echo-id/x")).status_code == 200

    asyncio.run(main())


def test_stream_left_open_is_closed_silently_at_exit(server: TestServer) -> None:
    proc = run_python(
        f"""
        import asyncio, mylib
        c = mylib.Client({server.url!r})
        s = c.stream("GET", "/big/50000000").__enter__()
        next(s.iter_bytes(10))
        async def main():
            ac = mylib.AsyncClient({server.url!r})
            r = await ac.stream("GET", "/big/50000000").__aenter__()
            await r.aiter_bytes().__anext__()
        asyncio.run(main())
        print("done")
        """
    )
    assert_silent(proc)
    assert proc.stdout.strip() == "done"


def test_streaming_300_mb_grows_peak_rss_less_than_40_mb(server: TestServer) -> None:
    proc = run_python(
        f"""
        import resource, mylib
        c = mylib.Client({server.url!r})
        c.get("/bytes/10")  # loop, session and imports are up before measuring
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        total = 0
        with c.stream("GET", "/big/{300 * 2**20}") as r:
            for chunk in r.iter_bytes(65536):
                total += len(chunk)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(total, (after - before) // 1024)
        """,
        timeout=120,
    )
    assert_silent(proc)
    total, grown_mb = map(int, proc.stdout.split())
    assert total == 300 * 2**20
    assert grown_mb < 40, f"peak RSS grew by {grown_mb} MB"


def test_upload_50_mb_from_generator_in_constant_memory(server: TestServer) -> None:
    proc = run_python(
        f"""
        import resource, mylib
        c = mylib.Client({server.url!r})
        c.get("/bytes/10")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        block = b"x" * 65536
        def body():
            for _ in range(800):
                yield block
        r = c.post("/upload-size", content=body())
        with open(__file__, "rb") as f:
            r2 = c.post("/upload-size", content=f)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(r.json()["size"], r2.json()["size"] > 0, (after - before) // 1024)
        """,
        timeout=120,
    )
    assert_silent(proc)
    size, file_ok, grown_mb = proc.stdout.split()
    assert int(size) == 800 * 65536 and file_ok == "True"
    assert int(grown_mb) < 20, f"peak RSS grew by {grown_mb} MB"


# -- streams go through the engine's whole pipeline (auth, hooks, retries, cookies) -----------


class _PipelineServer:
    """An app for the pipeline tests: ``/digest/...`` (from test_auth), ``/flaky/{key}``
    (503 on its first hit, then 200), ``/hop/{key}`` (302 to ``/peer``) and ``/peer``;
    ``?size=`` sets the 503's and 302's body size. ``seen`` records each request's path and
    query with its client port."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        app = _digest_app()

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            assert request.transport is not None
            self.seen.append((request.path_qs, request.transport.get_extra_info("peername")[1]))
            return cast(web.StreamResponse, await handler(request))

        app.middlewares.append(record)
        app.router.add_get("/flaky/{key}", self._flaky)
        app.router.add_get("/hop/{key}", self._hop)
        app.router.add_get("/peer", self._peer)
        self._app_server = AppServer(app)
        self.url = self._app_server.url

    def ports(self, path_qs: str) -> list[int]:
        return [port for seen, port in self.seen if seen == path_qs]

    async def _flaky(self, request: web.Request) -> web.StreamResponse:
        if len(self.ports(request.path_qs)) == 1:
            return web.Response(status=503, body=_body_of(request, b"busy "))
        return web.Response(body=pattern_bytes(50_000))

    async def _hop(self, request: web.Request) -> web.StreamResponse:
        target = f"/peer?key={request.match_info['key']}"
        body = _body_of(request, b"moved ")
        return web.Response(status=302, body=body, headers={"Location": target})

    async def _peer(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"key": request.query["key"]})

    def stop(self) -> None:
        self._app_server.stop()


def _body_of(request: web.Request, word: bytes) -> bytes:
    return word * (int(request.query.get("size", 1200)) // len(word))


@pytest.fixture(scope="module")
def pipeline_server() -> Iterator[_PipelineServer]:
    srv = _PipelineServer()
    yield srv
    srv.stop()


def test_stream_redirect_hop_body_is_read_and_its_connection_reused(
    pipeline_server: _PipelineServer,
) -> None:
    with mylib.Client(pipeline_server.url).stream("GET", "/hop/reuse") as r:
        assert r.read() == b'{"key": "reuse"}'
    assert [(h.status_code, h.content) for h in r.history] == [(302, b"moved " * 200)]
    hop, final = pipeline_server.ports("/hop/reuse") + pipeline_server.ports("/peer?key=reuse")
    assert hop == final


def test_stream_with_digest_auth_answers_the_401_challenge(
    pipeline_server: _PipelineServer,
) -> None:
    path = "/digest/MD5/carol/pa55"
    auth = mylib.DigestAuth("carol", "pa55")
    with mylib.Client(pipeline_server.url).stream("GET", path, auth=auth) as r:
        assert r.status_code == 200
        assert jsonlib.loads(r.read()) == {"authenticated": True, "user": "carol", "body": 0}
    challenged, answered = pipeline_server.ports(path)
    assert challenged == answered  # the 401's body was read, its connection reused


class _TokenAfter401(mylib.Auth):
    def __init__(self) -> None:
        self.statuses: list[int] = []

    async def auth_flow(self, request: mylib.Request) -> AsyncGenerator[mylib.Request, Any]:
        response = yield request
        self.statuses.append(response.status_code)
        if response.status_code == 401:
            request.headers["Authorization"] = "Bearer fresh"
            yield request


def test_async_stream_with_custom_auth_flow_retries_after_401(server: TestServer) -> None:
    auth = _TokenAfter401()

    async def main() -> tuple[int, bytes]:
        ac = mylib.AsyncClient(server.url)
        async with ac.stream("GET", "/bearer", auth=auth) as r:
            return r.status_code, await r.aread()

    status, body = asyncio.run(main())
    assert status == 200 and jsonlib.loads(body) == {"authenticated": True, "token": "fresh"}
    assert auth.statuses == [401]


def test_stream_fires_request_and_response_hooks_for_every_hop(server: TestServer) -> None:
    record: list[tuple[str, Any]] = []
    hooks = {
        "request": [lambda request: record.append(("request", request.url.path))],
        "response": [lambda response: record.append(("response", response.status_code))],
    }
    with mylib.Client(server.url, event_hooks=hooks).stream("GET", "/redirect/1") as r:
        assert b'"path": "/get"' in r.read()
    assert record == [
        ("request", "/redirect/1"), ("response", 302), ("request", "/get"), ("response", 200)
    ]


def test_stream_retries_a_503_and_streams_the_200(pipeline_server: _PipelineServer) -> None:
    client = mylib.Client(pipeline_server.url, retries=mylib.Retry(2, backoff_factor=0))
    with client.stream("GET", "/flaky/stream") as r:
        assert r.status_code == 200 and r.read() == pattern_bytes(50_000)
    first, second = pipeline_server.ports("/flaky/stream")
    assert first == second  # the 503's body was read, its connection reused


def test_stream_per_request_cookie_wins_over_the_jars(server: TestServer) -> None:
    client = mylib.Client(server.url, cookies={"flavour": "jar", "other": "kept"})
    with client.stream("GET", "/cookies", cookies={"flavour": "oat"}) as r:
        assert jsonlib.loads(r.read())["cookies"] == {"flavour": "oat", "other": "kept"}


def test_stream_total_timeout_covers_getting_the_headers(server: TestServer) -> None:
    with pytest.raises(mylib.TimeoutError), _client(server).stream(
        "GET", "/delay/5", timeout=0.2
    ):
        pass


def test_response_hook_error_closes_the_stream_it_was_given(server: TestServer) -> None:
    def boom(response: mylib.Response) -> None:
        raise RuntimeError("hook failed")

    client = mylib.Client(server.url, event_hooks={"response": [boom]})
    with pytest.raises(RuntimeError, match="hook failed"), client.stream("GET", "/big/10000000"):
        pass
    assert not any(_OPEN.values())


def test_streams_through_redirects_retries_and_401s_leak_nothing_under_dev_mode(
    server: TestServer, pipeline_server: _PipelineServer
) -> None:
    # Bodies of 8 MB: aiohttp releases a connection by itself once a small body has fully
    # arrived, so only a big one shows a response the engine forgot as "Unclosed response".
    proc = run_python(
        f"""
        import asyncio, gc, mylib
        c = mylib.Client({server.url!r})
        s = c.stream("GET", "/redirect-to?url=/big/50000000").__enter__()
        next(s.iter_bytes(10))  # left open at exit, after a redirect hop
        big = 8 * 2**20
        async def boom(response):
            raise RuntimeError
        async def main():
            retries = mylib.Retry(2, backoff_factor=0)
            ac = mylib.AsyncClient({pipeline_server.url!r}, retries=retries)
            for path in (f"/hop/dev?size={{big}}", f"/flaky/dev?size={{big}}"):
                async with ac.stream("GET", path) as r:
                    await r.aread()
            auth = mylib.DigestAuth("carol", "pa55")
            async with ac.stream("GET", "/digest/MD5/carol/pa55", auth=auth) as r:
                await r.aread()
            hooked = mylib.AsyncClient({server.url!r}, event_hooks={{"response": [boom]}})
            try:
                async with hooked.stream("GET", "/big/50000000"):
                    pass
            except RuntimeError:
                pass
            r = await ac.stream("GET", f"/hop/open?size={{big}}").__aenter__()
            gc.collect()
        asyncio.run(main())
        gc.collect()
        print("done")
        """
    )
    assert_silent(proc)
    assert proc.stdout.strip() == "done"
