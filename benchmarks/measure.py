"""Timing loops and process probes shared by every variant.

A variant hands the ``Meter`` a callable that does some requests and returns how many it did;
the meter warms up (connections opened, lazy imports done), then repeats the callable until the
timed window is at least ``duration`` seconds, sampling wall time, this process's CPU time and
the server's CPU time around exactly that window.  Checking the clock once per call costs ~50 ns,
far below one request (~100 µs at best), so no batching of the clock is needed.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.server import cpu_ticks

_TICK = os.sysconf("SC_CLK_TCK")


class CheckError(AssertionError):
    """A response was not 200 or not the full body: the run is wrong, not slow."""


def check(status: int, nbytes: int, expected: int) -> None:
    """Fail loudly unless the response is 200 with exactly ``expected`` body bytes."""
    if status != 200 or nbytes != expected:
        raise CheckError(f"bad response: status {status}, {nbytes} bytes (want 200, {expected})")


def proc_status(key: str) -> int:
    """A numeric field of /proc/self/status (e.g. VmRSS, VmHWM in kB; Threads)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Window:
    """Wall, client CPU and server CPU over one timed span."""

    server_pid: int | None

    def start(self) -> None:
        """Take the opening samples."""
        self.t0 = time.perf_counter()
        self.c0 = _own_cpu()
        self.s0 = cpu_ticks(self.server_pid) if self.server_pid else -1

    def stop(self) -> dict[str, Any]:
        """Take the closing samples; returns seconds and CPU percentages of the span."""
        seconds = time.perf_counter() - self.t0
        out: dict[str, Any] = {
            "seconds": seconds,
            "client_cpu_pct": 100 * (_own_cpu() - self.c0) / seconds,
        }
        if self.server_pid and self.s0 >= 0:
            s1 = cpu_ticks(self.server_pid)
            if s1 >= 0:
                out["server_cpu_pct"] = 100 * (s1 - self.s0) / _TICK / seconds
        return out


@dataclass
class Meter:
    """Warm-up then timed repetition of a request-making callable."""

    duration: float
    warmup: float
    server_pid: int | None

    def _result(self, n: int, w: Window) -> dict[str, Any]:
        out = w.stop()
        out["requests"] = n
        out["value"] = n / out["seconds"]
        return out

    def sync(self, fn: Callable[[], int]) -> dict[str, Any]:
        """Measure a blocking callable returning the number of requests it made."""
        end = time.perf_counter() + self.warmup
        fn()  # at least once, so connections exist before the window opens
        while time.perf_counter() < end:
            fn()
        w = Window(self.server_pid)
        w.start()
        n, stop_at = 0, time.perf_counter() + self.duration
        while time.perf_counter() < stop_at:
            n += fn()
        return self._result(n, w)

    async def run_async(self, fn: Callable[[], Awaitable[int]]) -> dict[str, Any]:
        """Measure a coroutine function returning the number of requests it made."""
        end = time.perf_counter() + self.warmup
        await fn()
        while time.perf_counter() < end:
            await fn()
        w = Window(self.server_pid)
        w.start()
        n, stop_at = 0, time.perf_counter() + self.duration
        while time.perf_counter() < stop_at:
            n += await fn()
        return self._result(n, w)
