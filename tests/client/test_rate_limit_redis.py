"""A RateLimit kept in a real Redis: processes share one budget and one pause, and a process
that used it exits without a word."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import mylib
from tests._subproc import assert_silent
from tests.client._traffic import TrafficServer, traffic

__all__ = ["traffic"]


_WORKER = textwrap.dedent(
    """
    import sys
    import mylib

    url, store, tag, n = sys.argv[1:]
    client = mylib.Client(url, rate_limit=mylib.RateLimit(5, per=1.0, burst=1, store=store))
    for _ in range(int(n)):
        assert client.get("/hit", params={"tag": tag}).status_code == 200
    """
)


def _workers(count: int, *args: str) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-X", "dev", "-c", _WORKER, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(count)
    ]


def test_two_processes_sharing_a_redis_limit_send_at_most_its_rate(
    traffic: TrafficServer, redis_url: str
) -> None:
    procs = _workers(2, traffic.url, redis_url, "two-procs", "6")
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert_silent(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    times = traffic.times("two-procs")
    assert len(times) == 12
    # 5 per second between them (not 5 each): 11 intervals of 0.2 s, about 2.2 s.
    assert times[-1] - times[0] >= 1.7
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 0.8, times


def test_a_pause_one_process_got_holds_back_another(
    traffic: TrafficServer, redis_url: str
) -> None:
    store_limit = mylib.RateLimit(100, store=redis_url)
    first = mylib.Client(traffic.url, rate_limit=store_limit)
    assert first.get("/429", params={"tag": "redis-pause"}).status_code == 429
    # Another process (a fresh client here, and a fresh RateLimit: only Redis is shared).
    procs = _workers(1, traffic.url, redis_url, "redis-pause", "1")
    out, err = procs[0].communicate(timeout=60)
    assert_silent(subprocess.CompletedProcess(procs[0].args, procs[0].returncode, out, err))
    asked, after = traffic.times("redis-pause")
    assert after - asked >= 0.95  # the 429's Retry-After: 1 held the other process back


def test_the_async_client_shares_the_budget_too(traffic: TrafficServer, redis_url: str) -> None:
    import asyncio

    limit = mylib.RateLimit(10, burst=1, store=redis_url)

    async def main() -> list[int]:
        client = mylib.AsyncClient(traffic.url, rate_limit=limit)
        results = await client.map("GET", ["/hit?tag=redis-async"] * 8, concurrency=8)
        return [r.status_code for r in results]

    assert asyncio.run(main()) == [200] * 8
    blocking = mylib.Client(traffic.url, rate_limit=limit)
    blocking.get("/hit", params={"tag": "redis-async"})
    times = traffic.times("redis-async")
    assert times[-1] - times[0] >= 0.6  # 8 intervals of 0.1 s
    for i in range(len(times) - 10):
        assert times[i + 10] - times[i] >= 0.8


def test_an_unreachable_store_fails_the_request_with_a_clear_error(
    traffic: TrafficServer,
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = mylib.Client(
        traffic.url, rate_limit=mylib.RateLimit(5, store=f"redis://127.0.0.1:{port}/0")
    )
    with pytest.raises(mylib.Error, match="rate limit store"):
        client.get("/hit", params={"tag": "no-store"})
    assert traffic.times("no-store") == []


def test_async_and_blocking_clients_with_a_redis_store_exit_silently(
    traffic: TrafficServer, redis_url: str
) -> None:
    code = textwrap.dedent(
        f"""
        import asyncio
        import mylib

        limit = mylib.RateLimit(50, store={redis_url!r})
        client = mylib.AsyncClient({traffic.url!r}, rate_limit=limit)

        async def main():
            await client.get("/hit?tag=silent")

        asyncio.run(main())  # its loop's Redis connection closes with the loop
        loop = asyncio.new_event_loop()  # a loop closed without shutting down its generators
        loop.run_until_complete(main())
        loop.close()
        mylib.Client({traffic.url!r}, rate_limit=limit).get("/hit?tag=silent")  # never closed
        """
    )
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert_silent(proc)
    assert len(traffic.times("silent")) == 3


def test_different_limits_on_one_redis_keep_budgets_apart_but_share_pauses(
    traffic: TrafficServer, redis_url: str
) -> None:
    slow = mylib.Client(
        traffic.url, rate_limit=mylib.RateLimit(1, per=30, burst=1, store=redis_url)
    )
    fast = mylib.Client(traffic.url, rate_limit=mylib.RateLimit(100, store=redis_url),
                        timeout=3)
    slow.get("/hit", params={"tag": "apart"})
    fast.get("/hit", params={"tag": "apart"})  # not held back by the slow limit's budget
    assert len(traffic.times("apart")) == 2
    # The server's pause is the origin's: the fast limit obeys the one the slow one got.
    slow_pausing = mylib.Client(traffic.url, rate_limit=mylib.RateLimit(50, store=redis_url))
    assert slow_pausing.get("/429", params={"tag": "apart-pause"}).status_code == 429
    fast.get("/hit", params={"tag": "apart-pause"})
    asked, after = traffic.times("apart-pause")
    assert after - asked >= 0.95


def test_after_a_shared_pause_the_waiters_are_paced_not_burst(
    traffic: TrafficServer, redis_url: str
) -> None:
    client = mylib.Client(traffic.url, rate_limit=mylib.RateLimit(5, store=redis_url))
    assert client.get("/quota", params={"tag": "redis-no-burst"}).status_code == 200
    client.map("GET", ["/hit?tag=redis-no-burst-after"] * 6, concurrency=6)
    (paused_at,) = traffic.times("redis-no-burst")
    after = traffic.times("redis-no-burst-after")
    assert after[0] - paused_at >= 0.95  # the quota at zero: nothing before its reset
    assert after[-1] - after[0] >= 0.8  # then 0.2 s apart (5 per second), not all at once
