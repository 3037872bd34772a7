"""Downloads (issue 5): all or nothing under the final name, checked before sending."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

import mylib
from mylib.testing import ANY, Mocker
from tests._server import TestServer, pattern_bytes
from tests._subproc import REPO_ROOT, _child_env
from tests.client._support import AppServer


def test_download_writes_whole_file_and_returns_path(any_server: TestServer,
                                                     tmp_path: Path) -> None:
    client = mylib.Client(any_server.url, verify=any_server.ca_path or True)
    path = client.download("/big/3000000", tmp_path / "big.bin")
    assert path == tmp_path / "big.bin"
    assert path.read_bytes() == pattern_bytes(3000000)
    assert os.listdir(tmp_path) == ["big.bin"]


def test_interrupted_download_leaves_no_file(server: TestServer, tmp_path: Path) -> None:
    target = tmp_path / "partial.bin"
    with pytest.raises(mylib.ReadError):
        mylib.Client(server.url).download("/gone-midway", target)
    assert os.listdir(tmp_path) == []


def test_failed_download_keeps_the_previous_file(server: TestServer, tmp_path: Path) -> None:
    target = tmp_path / "keep.bin"
    target.write_bytes(b"old")
    with pytest.raises(mylib.HTTPStatusError):
        mylib.Client(server.url).download("/status/404", target)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["keep.bin"]


def test_download_to_missing_folder_fails_before_the_request(server: TestServer,
                                                              tmp_path: Path) -> None:
    before = server.hits["/bytes/10"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mylib.Client(server.url).download("/bytes/10", tmp_path / "nope" / "x.bin")
    assert server.hits["/bytes/10"] == before


def test_async_download_with_chunk_size(server: TestServer, tmp_path: Path) -> None:
    async def main() -> Path:
        ac = mylib.AsyncClient(server.url)
        return await ac.download("/stream-bytes/100000", tmp_path / "a.bin", chunk_size=4096)

    assert asyncio.run(main()).read_bytes() == pattern_bytes(100000)
    assert os.listdir(tmp_path) == ["a.bin"]


@pytest.mark.parametrize("resume", [False, True])
def test_ctrl_c_during_download_leaves_no_file_unless_resuming(
    server: TestServer, tmp_path: Path, resume: bool
) -> None:
    code = f"""
import mylib
c = mylib.Client({server.url!r})
try:
    c.download("/big/{2**32}", {str(tmp_path / "huge.bin")!r}, resume={resume})
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
"""
    proc = subprocess.Popen(
        [sys.executable, "-X", "dev", "-c", code],
        cwd=REPO_ROOT, env=_child_env(None), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Wait until the temporary file exists and has data (a filesystem fact, not a sleep).
        for _ in range(600):
            parts = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
            if parts and parts[0].stat().st_size > 0:
                break
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                continue
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out.strip() == "KeyboardInterrupt" and err == "", err
    if not resume:
        assert os.listdir(tmp_path) == []
        return
    # /big sends no validator, so there is no .if-range sidecar: just the bytes so far.
    assert os.listdir(tmp_path) == [".huge.bin.part"]
    assert (tmp_path / ".huge.bin.part").stat().st_size > 0


# -- resume (issue 5: "optional resume with Range when the server supports it") -------------

_BODY = pattern_bytes(1 << 20)


class RangeFiles:
    """``GET /file``: ``_BODY`` with its own Range/If-Range handling (aiohttp's FileResponse
    ignores an ETag in If-Range), so each test sets exactly what the server does.

    ``seen`` records each request's (Range, If-Range, Accept-Encoding). With ``break_after``
    set, the next response sends that many bytes, waits for :meth:`release`, then aborts.
    """

    def __init__(self, *, etag: str = '"v1"', ranges: bool = True) -> None:
        self.etag = etag
        self.ranges = ranges
        self.break_after: int | None = None
        self.seen: list[tuple[str | None, str | None, str | None]] = []
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/file", self._file)
        return app

    def release(self) -> None:
        """Let the held response die (called from the test's thread)."""
        assert self._loop is not None and self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)

    def _first_byte(self, request: web.Request) -> int:
        given = request.headers.get("Range")
        if not self.ranges or given is None:
            return 0
        if request.headers.get("If-Range", self.etag) != self.etag:
            return 0  # the partial is of another version: send it all
        return int(given.removeprefix("bytes=").removesuffix("-"))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        h = request.headers
        self.seen.append((h.get("Range"), h.get("If-Range"), h.get("Accept-Encoding")))
        first, size = self._first_byte(request), len(_BODY)
        if first >= size:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        resp = web.StreamResponse(status=206 if first else 200, headers={"ETag": self.etag})
        if first:
            resp.headers["Content-Range"] = f"bytes {first}-{size - 1}/{size}"
        resp.content_length = size - first
        await resp.prepare(request)
        if self.break_after is not None:
            self._loop, self._release = asyncio.get_running_loop(), asyncio.Event()
            await resp.write(_BODY[first : self.break_after])
            self.break_after = None
            await self._release.wait()
            assert request.transport is not None
            request.transport.abort()
            return resp  # aiohttp's write_eof on the dead transport is a quiet ConnectionError
        await resp.write(_BODY[first:])
        return resp


@pytest.fixture
def files() -> Iterator[tuple[RangeFiles, str]]:
    files = RangeFiles()
    server = AppServer(files.app())
    yield files, server.url
    server.stop()


def _partial(tmp_path: Path, data: bytes, if_range: str | None = None) -> Path:
    """A partial left by an earlier resumable download of ``tmp_path / "f.bin"``."""
    part = tmp_path / ".f.bin.part"
    part.write_bytes(data)
    if if_range is not None:
        (tmp_path / ".f.bin.part.if-range").write_text(if_range)
    return part


def _wait_until_written(part: Path, download: concurrent.futures.Future[Path]) -> None:
    # Waits on the download itself, in short slices, until bytes are on disk (a file-system
    # fact, not a sleep); a download that ended early stops the wait.
    for _ in range(600):
        if part.exists() and part.stat().st_size > 0:
            return
        done, _ = concurrent.futures.wait([download], timeout=0.05)
        assert not done, f"the first download ended early: {download.exception()!r}"
    raise AssertionError("the first download wrote nothing")


def test_resume_continues_a_broken_download_with_range(files: tuple[RangeFiles, str],
                                                        tmp_path: Path) -> None:
    app, url = files
    app.break_after = len(_BODY) // 2
    client = mylib.Client(url)
    target, part = tmp_path / "f.bin", tmp_path / ".f.bin.part"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.download, "/file", target, resume=True)
        _wait_until_written(part, first)
        app.release()
        with pytest.raises(mylib.ReadError) as broken:
            first.result(timeout=30)
    kept = part.stat().st_size
    assert 0 < kept <= len(_BODY) // 2 and not target.exists()
    assert any(".f.bin.part" in note for note in broken.value.__notes__)
    assert (tmp_path / ".f.bin.part.if-range").read_text() == '"v1"'

    assert client.download("/file", target, resume=True) == target
    assert app.seen == [(None, None, "identity"), (f"bytes={kept}-", '"v1"', "identity")]
    assert target.read_bytes() == _BODY
    assert os.listdir(tmp_path) == ["f.bin"]


def test_resume_from_server_without_range_support_restarts_from_zero(
    files: tuple[RangeFiles, str], tmp_path: Path
) -> None:
    app, url = files
    app.ranges = False
    _partial(tmp_path, b"not the body" * 100, '"v1"')
    mylib.Client(url).download("/file", tmp_path / "f.bin", resume=True)
    assert app.seen == [("bytes=1200-", '"v1"', "identity")]  # asked, got a 200
    assert (tmp_path / "f.bin").read_bytes() == _BODY
    assert os.listdir(tmp_path) == ["f.bin"]


def test_resume_after_the_file_changed_fetches_it_whole(files: tuple[RangeFiles, str],
                                                         tmp_path: Path) -> None:
    app, url = files
    _partial(tmp_path, b"old version", '"v0"')
    mylib.Client(url).download("/file", tmp_path / "f.bin", resume=True)
    assert app.seen == [("bytes=11-", '"v0"', "identity")]  # If-Range did not match: a 200
    assert (tmp_path / "f.bin").read_bytes() == _BODY


def test_resume_of_a_complete_partial_takes_the_416_as_done(files: tuple[RangeFiles, str],
                                                             tmp_path: Path) -> None:
    app, url = files
    _partial(tmp_path, _BODY, '"v1"')
    mylib.Client(url).download("/file", tmp_path / "f.bin", resume=True)
    assert app.seen == [(f"bytes={len(_BODY)}-", '"v1"', "identity")]
    assert (tmp_path / "f.bin").read_bytes() == _BODY
    assert os.listdir(tmp_path) == ["f.bin"]


def test_resume_of_a_partial_longer_than_the_file_starts_over(files: tuple[RangeFiles, str],
                                                               tmp_path: Path) -> None:
    app, url = files
    _partial(tmp_path, _BODY + b"junk", '"v1"')
    mylib.Client(url).download("/file", tmp_path / "f.bin", resume=True)
    # The 416 names another length: the partial is dropped and the file asked for whole.
    assert app.seen == [(f"bytes={len(_BODY) + 4}-", '"v1"', "identity"),
                        (None, None, "identity")]
    assert (tmp_path / "f.bin").read_bytes() == _BODY
    assert os.listdir(tmp_path) == ["f.bin"]


def test_async_resume_appends_the_rest(files: tuple[RangeFiles, str], tmp_path: Path) -> None:
    app, url = files
    _partial(tmp_path, _BODY[:1000], '"v1"')

    async def main() -> Path:
        return await mylib.AsyncClient(url).download("/file", tmp_path / "f.bin", resume=True,
                                                     chunk_size=4096)

    assert asyncio.run(main()).read_bytes() == _BODY
    assert app.seen == [("bytes=1000-", '"v1"', "identity")]
    assert os.listdir(tmp_path) == ["f.bin"]


def test_resumed_download_shorter_than_content_range_keeps_the_partial(tmp_path: Path) -> None:
    part = _partial(tmp_path, b"abc")
    with Mocker() as m:
        m.get(ANY, status_code=206, headers={"Content-Range": "bytes 3-5/10"}, content=b"def")
        with pytest.raises(mylib.ReadError, match="got 6 of 10 bytes"):
            mylib.Client().download("http://files.test/f", tmp_path / "f.bin", resume=True)
    assert m.last_request is not None and m.last_request.headers["Range"] == "bytes=3-"
    assert part.read_bytes() == b"abcdef" and os.listdir(tmp_path) == [".f.bin.part"]


def test_bad_resume_arguments_fail_before_the_request(tmp_path: Path) -> None:
    client = mylib.Client()
    with Mocker() as m:
        m.get(ANY, content=b"x")
        with pytest.raises(TypeError, match="resume"):
            client.download("http://files.test/f", tmp_path / "f.bin", resume="yes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="Range"):
            client.download("http://files.test/f", tmp_path / "f.bin", resume=True,
                            headers={"Range": "bytes=5-"})
    assert not m.called and os.listdir(tmp_path) == []


def test_resuming_does_not_get_around_max_body_size(
    files: tuple[RangeFiles, str], tmp_path: Path
) -> None:
    # What is on disk counts against the limit: repeating the resumed download is refused,
    # not a way to fetch a file larger than the limit in pieces.
    _, url = files
    _partial(tmp_path, _BODY[: len(_BODY) // 2], '"v1"')
    limit = len(_BODY) // 2 + 10  # the whole file is larger; the rest alone is not
    with pytest.raises(mylib.ResponseTooLarge):
        mylib.Client(url).download("/file", tmp_path / "f.bin", resume=True, max_body_size=limit)
    assert not (tmp_path / "f.bin").exists()
    assert mylib.Client(url).download(
        "/file", tmp_path / "f.bin", resume=True, max_body_size=len(_BODY)
    ).read_bytes() == _BODY
