"""Streams (issue 5): headers at once, bodies in flat memory, connections always released."""

from __future__ import annotations

import asyncio

import pytest

import mylib
from mylib._stream import _OPEN, StreamState, _LineSplitter, _Rechunker
from tests._server import TestServer, pattern_bytes
from tests._subproc import assert_silent, run_python


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
    splitter = _LineSplitter()
    out = splitter.feed("a\r") + splitter.feed("\nb\nc") + splitter.feed("d\r\n") + splitter.flush()
    assert out == ["a", "b", "cd"]


def test_rechunker_rejects_bad_chunk_size_before_reading() -> None:
    with pytest.raises(ValueError):
        _Rechunker(0)
    with pytest.raises(TypeError):
        _Rechunker(1.5)  # type: ignore[arg-type]


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
