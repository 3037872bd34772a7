"""Downloads (issue 5): all or nothing under the final name, checked before sending."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import mylib
from tests._server import TestServer, pattern_bytes
from tests._subproc import REPO_ROOT, _child_env


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


def test_ctrl_c_during_download_leaves_no_file(server: TestServer, tmp_path: Path) -> None:
    code = f"""
import mylib
c = mylib.Client({server.url!r})
try:
    c.download("/big/{2**32}", {str(tmp_path / "huge.bin")!r})
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
    assert os.listdir(tmp_path) == []
