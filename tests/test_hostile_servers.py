"""Hostile servers (issue 11): bombs and endless bodies stay within ``max_body_size``.

Each server here is a raw socket server on 127.0.0.1 (``tests/_raw.py``) that writes exactly
the bytes a misbehaving server would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import mylib
from tests._raw import Conn, RawServer, WireRequest
from tests._subproc import run_python
from tests.client._support import ClientFactory, make_client

__all__ = ["make_client"]

MiB = 1 << 20
_ZEROS = bytes(MiB)


# -- endless bodies, compressed or not ---------------------------------------------------------


def _endless(encoding: str) -> Callable[[], Iterator[bytes]]:
    """Pieces of a body that never ends: ``encoding`` of an endless run of zeros."""

    def gzip_or_deflate() -> Iterator[bytes]:
        wbits = 31 if encoding == "gzip" else 15
        compressor = zlib.compressobj(1, zlib.DEFLATED, wbits)
        yield compressor.compress(_ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
        # After a full flush the compressor starts afresh: the next megabyte's bytes are the
        # same every time, so the server sends 1 KiB per MiB at no cost.
        block = compressor.compress(_ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
        yield from itertools.repeat(block)

    def brotli() -> Iterator[bytes]:
        import brotli as br

        compressor = br.Compressor(quality=1)
        while True:
            yield compressor.process(_ZEROS) + compressor.flush()

    def zstd() -> Iterator[bytes]:
        from backports import zstd as zs

        compressor = zs.ZstdCompressor(level=1)
        while True:
            yield compressor.compress(_ZEROS, zs.ZstdCompressor.FLUSH_BLOCK)

    def identity() -> Iterator[bytes]:
        return itertools.repeat(_ZEROS)

    return {"gzip": gzip_or_deflate, "deflate": gzip_or_deflate, "br": brotli,
            "zstd": zstd, "identity": identity}[encoding]


def _endless_server(encoding: str) -> RawServer:
    pieces = _endless(encoding)

    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            coding = "" if encoding == "identity" else f"Content-Encoding: {encoding}\r\n"
            await conn.send(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + coding.encode() + b"\r\n"
            )
            for piece in pieces():
                await conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))

    return RawServer(handler)


ENCODINGS = ["gzip", "deflate", "br", "zstd", "identity"]


@pytest.fixture(scope="module", params=ENCODINGS)
def endless(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    with _endless_server(request.param) as server:
        yield server


def test_an_endless_body_stops_at_max_body_size(
    make_client: ClientFactory, endless: RawServer
) -> None:
    client = make_client(endless.url, max_body_size=4 * MiB)
    with pytest.raises(mylib.ResponseTooLarge) as info:
        client.get("/")
    error = info.value
    assert isinstance(error, mylib.Error) and error.limit == 4 * MiB
    assert error.request is not None and "stream() or download()" in str(error)
    assert "max_body_size=4194304 (4 MiB)" in str(error)
    # The connection was dropped, not returned to the pool with a body still on it: the
    # next request opens a new one and is refused the same way.
    connections = endless.connections
    with pytest.raises(mylib.ResponseTooLarge):
        client.get("/", max_body_size=1 * MiB)
    assert endless.connections == connections + 1


def test_a_request_may_lift_or_lower_the_limit(make_client: ClientFactory) -> None:
    body = bytes(3 * MiB)

    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            compressed = zlib.compress(body)
            await conn.send(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(compressed), compressed)
            )

    with RawServer(handler) as server:
        client = make_client(server.url, max_body_size=MiB)
        with pytest.raises(mylib.ResponseTooLarge):
            client.get("/")
        assert client.get("/", max_body_size=None).content == body
        assert client.get("/", max_body_size=3 * MiB).content == body  # the limit is inclusive
        assert mylib.Client(server.url).get("/").content == body  # 256 MiB by default


def test_a_content_length_over_the_limit_is_refused_before_reading(
    make_client: ClientFactory,
) -> None:
    async def handler(conn: Conn) -> None:
        await conn.read_request()
        # Announces 1 GiB and sends only the first byte: waiting for the rest would hang.
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\nx")
        await conn.reader.read()  # until the client hangs up
        server.disconnected.set()

    with RawServer(handler) as server:
        with pytest.raises(mylib.ResponseTooLarge, match="is 1073741824 bytes"):
            make_client(server.url, timeout=30).get("/")
        assert server.disconnected.wait(10)  # the connection was closed, not kept


def test_a_head_or_304_announcing_a_large_body_is_fine(make_client: ClientFactory) -> None:
    async def handler(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            status = b"200 OK" if request.method == "HEAD" else b"304 Not Modified"
            await conn.send(b"HTTP/1.1 " + status + b"\r\nContent-Length: 1073741824\r\n\r\n")

    with RawServer(handler) as server:
        client = make_client(server.url, max_body_size=MiB)
        assert client.head("/").headers["Content-Length"] == "1073741824"
        assert client.get("/").status_code == 304


def test_streams_are_unlimited_unless_a_limit_is_given(endless: RawServer) -> None:
    client = mylib.Client(endless.url)
    with client.stream("GET", "/") as r:
        got = 0
        for chunk in r.iter_bytes():
            got += len(chunk)
            if got > 300 * MiB:  # past the default for a body read whole
                break
    with client.stream("GET", "/", max_body_size=2 * MiB) as r:
        got = 0
        with pytest.raises(mylib.ResponseTooLarge):
            for chunk in r.iter_bytes():
                got += len(chunk)
        assert got <= 2 * MiB and r.closed


def test_async_streams_honour_a_given_limit(endless: RawServer) -> None:
    async def main() -> None:
        client = mylib.AsyncClient(endless.url, max_body_size=MiB)
        async with client.stream("GET", "/") as r:
            with pytest.raises(mylib.ResponseTooLarge):
                await r.aread()
            assert r.closed

    asyncio.run(main())


def test_download_honours_a_given_limit(tmp_path: Any) -> None:
    with _endless_server("gzip") as server:
        target = tmp_path / "bomb.bin"
        with pytest.raises(mylib.ResponseTooLarge):
            mylib.Client(server.url).download("/", target, max_body_size=2 * MiB)
        assert list(tmp_path.iterdir()) == []  # all or nothing


def test_a_redirect_with_an_endless_body_is_bounded_too() -> None:
    pieces = _endless("gzip")

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(
            b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Encoding: gzip\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for piece in pieces():
            await conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))

    with RawServer(handler) as server:
        with pytest.raises(mylib.ResponseTooLarge):
            mylib.Client(server.url, max_body_size=MiB).get("/")
        # Inside a stream the redirect's body is read whole, so the default binds it.
        with pytest.raises(mylib.ResponseTooLarge), mylib.Client(server.url).stream(
            "GET", "/", max_body_size=MiB
        ):
            pass


def test_a_mock_transport_body_over_the_limit_is_refused_the_same_way() -> None:
    client = mylib.Client(
        transport=mylib.MockTransport(lambda request: mylib.Response(200, content=b"x" * 11)),
        max_body_size=10,
    )
    with pytest.raises(mylib.ResponseTooLarge):
        client.get("http://example.test/")
    assert client.get("http://example.test/", max_body_size=11).content == b"x" * 11


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_a_bad_max_body_size_is_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="max_body_size"):
        mylib.Client(max_body_size=bad)  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError), match="max_body_size"):
        mylib.Client().build_request("GET", "http://h/", max_body_size=bad)  # type: ignore[typeddict-item]


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd", "identity"])
def test_peak_memory_of_a_bomb_stays_near_the_limit(encoding: str) -> None:
    # In a fresh process, so its peak RSS is this request's alone.
    with _endless_server(encoding) as server:
        proc = run_python(
            f"""
            import json, resource, mylib
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            try:
                mylib.get({server.url!r}, max_body_size=64 << 20)
            except mylib.ResponseTooLarge as exc:
                outcome = type(exc).__name__
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(json.dumps([outcome, before // 1024, peak // 1024]))
            """,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    outcome, before_mib, peak_mib = json.loads(proc.stdout)
    assert outcome == "ResponseTooLarge"
    # 64 MiB of body, plus the read buffers; nowhere near the gigabytes the bomb would be.
    assert peak_mib - before_mib < 64 + 64, (before_mib, peak_mib)


# -- Expect: 100-continue (defect 3) -----------------------------------------------------------

EXPECT = {"Expect": "100-continue"}


def _expect_server(answer: str) -> RawServer:
    """Reads a request's head, then: ``continue`` (100, read the body, 200), ``final`` (417
    without reading the body, then wait for the client to hang up), ``nothing`` (no 100:
    wait for the body, then 200) or ``silent`` (no answer at all)."""

    async def handler(conn: Conn) -> None:
        head = await conn.read_head()
        if answer == "continue":
            await conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if answer in ("continue", "nothing"):
            server.record(await conn.read_body(head))
            await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        elif answer == "final":
            await conn.send(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
        # What else arrives on this connection, until the client closes it.
        leftover = await conn.reader.read()
        server.requests.append(WireRequest(b"leftover", leftover))
        server.disconnected.set()

    server = RawServer(handler)
    return server


def test_expect_100_continue_sends_the_body_after_the_100(make_client: ClientFactory) -> None:
    with _expect_server("continue") as server:
        r = make_client(server.url, timeout=30).post("/", headers=EXPECT, content=b"hello")
        assert (r.status_code, r.content) == (200, b"ok")
        assert server.requests[0].body == b"hello"


def test_a_final_status_instead_of_100_is_the_answer_and_the_body_is_not_sent(
    make_client: ClientFactory,
) -> None:
    with _expect_server("final") as server:
        r = make_client(server.url, timeout=30).post("/", headers=EXPECT, content=b"hello")
        assert r.status_code == 417
        # The connection is not reused (what the server read of it is unknown): closed, with
        # no body written after the final answer.
        assert server.disconnected.wait(10)
        assert server.requests[-1].body == b""


def test_a_server_that_never_sends_100_gets_the_body_after_a_short_wait(
    make_client: ClientFactory,
) -> None:
    with _expect_server("nothing") as server:
        r = make_client(server.url, timeout=mylib.Timeout(read=30)).post(
            "/", headers=EXPECT, content=b"hello"
        )
        assert r.status_code == 200 and server.requests[0].body == b"hello"


def test_a_silent_server_after_expect_is_bounded_by_the_read_timeout(
    make_client: ClientFactory,
) -> None:
    # Before: the read timeout never started while the body waited for the 100, so this
    # call hung until the test's own timeout.
    with _expect_server("silent") as server, pytest.raises(mylib.ReadTimeout):
        make_client(server.url, timeout=mylib.Timeout(read=1)).post(
            "/", headers=EXPECT, content=b"hello"
        )


# -- a HEAD answered with a body (defect 8) ----------------------------------------------------

_HEAD_ANSWERS = {
    "content-length": [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: a\r\n\r\nhello"],
    "chunked": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: a\r\n\r\n"
                b"5\r\nhello\r\n0\r\n\r\n"],
    "head-then-body": [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: a\r\n\r\n", b"hello"],
    "informational-first": [b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: a\r\n\r\nhello"],
    "no-body": [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: a\r\n\r\n"],
}


@pytest.fixture(params=sorted(_HEAD_ANSWERS))
def head_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, RawServer]]:
    writes = _HEAD_ANSWERS[request.param]

    async def handler(conn: Conn) -> None:
        while (wire := await conn.read_request()) is not None:
            if wire.method == "HEAD":
                for data in writes:
                    await conn.send(data)
            else:
                await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with RawServer(handler) as server:
        yield request.param, server


def test_a_head_answered_with_a_body_returns_the_head_and_drops_the_connection(
    make_client: ClientFactory, head_server: tuple[str, RawServer]
) -> None:
    kind, server = head_server
    client = make_client(server.url, timeout=10)
    for _ in range(2):
        r = client.head("/")
        assert (r.status_code, r.headers["X-Kind"], r.content) == (200, "a", b"")
        assert client.get("/").content == b"ok"  # nothing stray is read as its answer
    if kind == "no-body":
        assert server.connections == 1  # a well-behaved HEAD keeps its connection
    else:
        # Closed once the stray body was seen: at once when it came with the head (or while
        # the connection was idle), after the next response when that request had already
        # gone out on it; never kept for the second round.
        assert server.connections >= 2


# -- a server that drips its headers (defect 11) -----------------------------------------------


def _dripping_server() -> RawServer:
    """Answers /drip with a head that never ends, one byte at a time, each well within any
    read timeout; /slow-body with a head at once and a body that trickles in; anything else
    (after reading its body) with 200 at once."""

    async def handler(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            if " /drip " in request.request_line:
                await conn.send(b"HTTP/1.1 200 OK\r\nX-Never-Ends: ")
                while True:
                    await conn.send(b"a")
                    await asyncio.sleep(0.05)  # the drip itself, the server's pace
            elif " /slow-body " in request.request_line:
                await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n")
                for _ in range(20):
                    await conn.send(b"b")
                    await asyncio.sleep(0.2)
            else:
                await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (
                    len(request.body), request.body))

    return RawServer(handler)


@pytest.fixture(scope="module")
def dripping() -> Iterator[RawServer]:
    with _dripping_server() as server:
        yield server


def test_the_default_timeout_bounds_the_wait_for_headers() -> None:
    assert mylib.Client().build_request("GET", "http://h/").timeout == mylib.Timeout(
        connect=10, read=60, headers=120
    )


def test_a_server_dripping_its_headers_cannot_hold_a_call_forever(
    make_client: ClientFactory, dripping: RawServer
) -> None:
    # Before: each byte restarted the read timeout, and the call lasted as long as the drip.
    client = make_client(dripping.url, timeout=mylib.Timeout(connect=5, read=5, headers=1))
    with pytest.raises(mylib.ReadTimeout, match="no response headers within 1 s"):
        client.get("/drip")
    assert client.get("/echo").ok  # the client goes on


def test_a_stream_is_bounded_the_same_way(dripping: RawServer) -> None:
    client = mylib.Client(dripping.url, timeout=mylib.Timeout(read=5, headers=1))
    with pytest.raises(mylib.ReadTimeout), client.stream("GET", "/drip"):
        pass


def test_a_body_that_keeps_arriving_is_not_cut_off(
    make_client: ClientFactory, dripping: RawServer
) -> None:
    # 4 s of trickling body against a 2 s bound on the headers: the bound is only theirs.
    client = make_client(dripping.url, timeout=mylib.Timeout(read=5, headers=2))
    assert client.get("/slow-body").content == b"b" * 20


def test_a_slow_upload_does_not_count_against_the_headers_wait(
    make_client: ClientFactory, dripping: RawServer
) -> None:
    async def slow_upload() -> AsyncIterator[bytes]:
        for _ in range(4):
            await asyncio.sleep(0.75)  # a slow producer: 3 s of upload against 2 s
            yield b"up"

    client = make_client(dripping.url, timeout=mylib.Timeout(read=5, headers=2))
    assert client.post("/echo", content=slow_upload()).content == b"up" * 4


# -- review regressions: early final answers, split heads, bodiless statuses --------------------

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("status", [b"200 OK", b"413 Content Too Large"])
def test_a_final_answer_before_the_100_means_the_body_is_never_sent(
    make_client: ClientFactory, status: bytes
) -> None:
    # The answer's own body takes longer than the 1 s wait: the body held back must still
    # not go out after it (the server would read it as a request of its own).
    async def handler(conn: Conn) -> None:
        if not await conn.read_head():
            return
        await conn.send(b"HTTP/1.1 " + status + b"\r\nContent-Length: 4\r\n\r\nno")
        await asyncio.sleep(1.5)  # the server's pace: the rest of its answer comes late
        await conn.send(b"pe")
        rest = await conn.reader.read()  # until the client hangs up
        server.requests.append(WireRequest(b"after", rest))
        server.disconnected.set()

    server = RawServer(handler)
    with server:
        r = make_client(server.url, timeout=30).post("/", headers=EXPECT, content=SMUGGLED)
        assert r.content == b"nope"
        # The connection that got the early answer is closed, not kept for another request,
        # and the held-back body never went out on it.
        assert server.disconnected.wait(10)
    assert [w.body for w in server.requests] == [b""]


_BODILESS_ANSWERS = {
    "split-1xx-head": [b"HTTP/1.1 103 Ear", b"ly Hints\r\nLink: </a>\r\n\r\n",
                       b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: a\r\n\r\nhello"],
    "split-final-head": [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-K", b"ind1: a\r\nX-Kind: a"
                         b"\r\n\r\nhello"],
}


@pytest.mark.parametrize("kind", sorted(_BODILESS_ANSWERS))
def test_a_head_answer_split_across_reads_is_read_whole(
    make_client: ClientFactory, kind: str
) -> None:
    async def handler(conn: Conn) -> None:
        while (wire := await conn.read_request()) is not None:
            if wire.method == "HEAD":
                for data in _BODILESS_ANSWERS[kind]:
                    await conn.send(data)
                    await asyncio.sleep(0.05)  # the server's pace: separate reads
            else:
                await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with RawServer(handler) as server:
        client = make_client(server.url, timeout=10)
        r = client.head("/")
        assert (r.status_code, r.headers["X-Kind"]) == (200, "a")
        assert client.get("/").content == b"ok"


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_a_204_or_304_with_a_body_is_still_the_answer(
    make_client: ClientFactory, status: bytes
) -> None:
    async def handler(conn: Conn) -> None:
        while (wire := await conn.read_request()) is not None:
            if " /odd " in wire.request_line:
                await conn.send(b"HTTP/1.1 " + status + b"\r\nContent-Length: 5\r\n\r\nhello")
            else:
                await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with RawServer(handler) as server:
        client = make_client(server.url, timeout=10)
        for _ in range(2):
            assert client.get("/odd").status_code == int(status[:3])
            assert client.get("/").content == b"ok"


def test_a_204_announcing_a_large_body_is_not_too_large(make_client: ClientFactory) -> None:
    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(b"HTTP/1.1 204 No Content\r\nContent-Length: 1073741824\r\n\r\n")

    with RawServer(handler) as server:
        assert make_client(server.url, max_body_size=MiB).get("/").status_code == 204


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", b"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok",
     b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
    ids=["bare-lf", "mixed-endings", "blank-line-first"],
)
def test_heads_aiohttp_accepts_are_not_held_back(
    make_client: ClientFactory, answer: bytes
) -> None:
    # The head is held until whole only to find where it ends: what aiohttp's parser takes
    # (bare LF endings, a blank line before the status line) must still reach it at once.
    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(answer)

    with RawServer(handler) as server:
        client = make_client(server.url, timeout=mylib.Timeout(read=30, headers=30))
        for _ in range(2):
            assert client.get("/").content == b"ok"
        assert server.connections == 1


def test_a_status_line_split_after_a_head_keeps_the_connection(
    make_client: ClientFactory,
) -> None:
    async def handler(conn: Conn) -> None:
        while (wire := await conn.read_request()) is not None:
            if wire.method == "HEAD":
                await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
            else:
                await conn.send(b"HTTP/1.")
                await asyncio.sleep(0.05)  # the server's pace: the status line in two reads
                await conn.send(b"1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with RawServer(handler) as server:
        client = make_client(server.url, timeout=10)
        for _ in range(2):
            assert client.head("/").status_code == 200
            assert client.get("/").content == b"ok"
        assert server.connections == 1  # no stray bytes came: nothing to close for
