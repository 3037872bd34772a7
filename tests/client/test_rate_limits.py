"""Rate limits: one budget per origin shared by threads, maps and clients, paused by the
server's ``Retry-After`` and quota headers, bounded by the total timeout.

Spacing is measured on the server's side (arrival times) with loose bounds: a limit of 10/s
with ``burst=1`` must never let 11 requests arrive within 0.8 s, and 40 of them must take
well over 3 s; nothing asserts how fast they were, only that they were not too fast.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import uuid

import pytest

import mylib
from mylib._pipeline import ORDER, steps_for
from mylib._ratelimit import to_rate_limits
from mylib._ratelimit.server import server_wait
from tests.client._support import ClientFactory, make_client
from tests.client._traffic import TrafficServer, traffic

__all__ = ["make_client", "traffic"]


def _never_faster_than(times: list[float], rate: float, slack: float = 0.8) -> None:
    """No ``rate + 1`` arrivals within ``slack`` of a second (one interval of jitter)."""
    n = int(rate)
    for i in range(len(times) - n):
        assert times[i + n] - times[i] >= slack * n / rate, (i, times[i : i + n + 1])


def test_forty_requests_from_four_threads_share_one_budget(traffic: TrafficServer) -> None:
    client = mylib.Client(traffic.url, rate_limit=mylib.RateLimit(10, per=1.0, burst=1))

    def ten() -> list[int]:
        return [client.get("/hit", params={"tag": "threads"}).status_code for _ in range(10)]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = [s for batch in pool.map(lambda _: ten(), range(4)) for s in batch]
    assert statuses == [200] * 40
    times = traffic.times("threads")
    assert len(times) == 40
    assert times[-1] - times[0] >= 3.0  # 39 intervals of 0.1 s: about 3.9 s
    _never_faster_than(times, 10)


def test_map_under_the_limit_never_exceeds_it(
    make_client: ClientFactory, traffic: TrafficServer
) -> None:
    client = make_client(traffic.url, rate_limit=mylib.RateLimit(10, burst=1))
    tag = f"map-{uuid.uuid4().hex}"
    results = client.map("GET", [f"/hit?tag={tag}"] * 20, concurrency=20)
    assert [r.status_code for r in results] == [200] * 20
    times = traffic.times(tag)
    assert times[-1] - times[0] >= 1.4  # 19 intervals: about 1.9 s
    _never_faster_than(times, 10)


def test_two_clients_given_one_rate_limit_share_its_budget(traffic: TrafficServer) -> None:
    shared = mylib.RateLimit(10, burst=1)
    first = mylib.Client(traffic.url, rate_limit=shared)
    second = mylib.Client(traffic.url, rate_limit=shared)
    for _ in range(6):
        first.get("/hit", params={"tag": "shared"})
        second.get("/hit", params={"tag": "shared"})
    times = traffic.times("shared")
    assert times[-1] - times[0] >= 0.8  # 11 intervals: about 1.1 s
    _never_faster_than(times, 10)


def test_a_burst_goes_at_once_then_the_rest_are_spaced(traffic: TrafficServer) -> None:
    client = mylib.Client(traffic.url, rate_limit=mylib.RateLimit(5, burst=5))
    client.map("GET", ["/hit?tag=burst"] * 8, concurrency=8)
    times = traffic.times("burst")
    # The first five need no wait; the three after them come 0.2 s apart.
    assert times[-1] - times[0] >= 0.45
    assert times[-1] - times[4] >= 0.45


def test_a_429_with_retry_after_pauses_every_waiter_of_the_origin(
    make_client: ClientFactory, traffic: TrafficServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(
        traffic.url,
        rate_limit=mylib.RateLimit(4, burst=1),
        retries=mylib.Retry(2, backoff_factor=0),
    )
    tag = f"429-{uuid.uuid4().hex}"
    with caplog.at_level(logging.DEBUG, logger="mylib"):
        results = client.map("GET", [f"/429?tag={tag}"] * 6, concurrency=6)
    assert [r.status_code for r in results] == [200] * 6
    first, *rest = traffic.times(tag)
    # The 429 went out at ``first``; nobody went again before its Retry-After of 1 s.
    assert len(rest) == 6  # five others and the retry of the one that got the 429
    assert min(rest) - first >= 0.95
    assert sorted(r.attempts for r in results) == [1, 1, 1, 1, 1, 2]
    assert any("Pausing requests to" in m and "429 with Retry-After" in m
               for m in caplog.messages)


@pytest.mark.parametrize("field", ["draft", "x", "plain"])
def test_zero_remaining_waits_for_the_reset_before_the_next_request(
    traffic: TrafficServer, field: str
) -> None:
    client = mylib.Client(traffic.url, rate_limit=mylib.RateLimit(100))
    tag = f"quota-{field}"
    for _ in range(3):
        assert client.get("/quota", params={"tag": tag, "field": field}).status_code == 200
    first, second, third = traffic.times(tag)
    assert second - first >= 0.95  # the first said: 0 left, reset in 1 s
    assert third - second < 0.9  # plenty left after it: no pause


def test_a_slot_after_the_total_timeout_fails_at_once_saying_why(
    traffic: TrafficServer,
) -> None:
    client = mylib.Client(traffic.url, rate_limit=mylib.RateLimit(1, per=30, burst=1), timeout=2)
    client.get("/hit", params={"tag": "late"})
    with pytest.raises(mylib.TimeoutError, match=r"rate limit.*after this request's total"):
        client.get("/hit", params={"tag": "late"})
    assert len(traffic.times("late")) == 1


def test_a_cancelled_waiter_gives_its_slot_back(traffic: TrafficServer) -> None:
    limit = mylib.RateLimit(1, per=30, burst=1)
    client = mylib.AsyncClient(traffic.url, rate_limit=limit)

    async def main() -> None:
        await client.get("/hit", params={"tag": "cancel"})
        waiter = asyncio.ensure_future(client.get("/hit", params={"tag": "cancel"}))
        done, _ = await asyncio.wait([waiter], timeout=0.2)
        assert not done  # it waits for a slot 30 s away
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    asyncio.run(main())
    # The slot it had reserved is free again: the next request's wait is one interval, not two.
    import time

    at, _, _ = limit._reserve(("http", "127.0.0.1", int(traffic.url.rsplit(":", 1)[1])),
                              30.0, None)
    assert 25 < at - time.monotonic() <= 30
    assert len(traffic.times("cancel")) == 1


def test_a_client_without_a_rate_limit_has_no_rate_limit_step() -> None:
    plain = mylib.AsyncClient()
    limited = mylib.AsyncClient(rate_limit=5)
    assert steps_for(plain._config) is ORDER  # type: ignore[attr-defined]
    assert len(steps_for(limited._config)) == len(ORDER) + 1  # type: ignore[attr-defined]


def test_hosts_map_to_their_own_limit_then_patterns_then_the_default() -> None:
    github, api, rest = mylib.RateLimit(1), mylib.RateLimit(2), mylib.RateLimit(3)
    limits = to_rate_limits({"api.github.com": github, "*.example.com": api, "*": rest})
    assert limits is not None
    assert limits.for_host("api.github.com") is github
    assert limits.for_host("a.example.com") is api
    assert limits.for_host("example.com") is rest
    assert limits.for_host("other.org") is rest
    only = to_rate_limits({"api.github.com": 5})
    assert only is not None and only.for_host("other.org") is None
    assert only.for_host("api.github.com").rate == 5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("fast", TypeError, "rate_limit must be a number"),
        (True, TypeError, "rate_limit must be a number"),
        ({"h": "x"}, TypeError, r"rate_limit\['h'\] must be"),
        ({"h:80": 1}, ValueError, "not a host name"),
        ({"api x.com": 1}, ValueError, "not a host name"),
        ({"*.*": 1}, ValueError, "not a host name"),
        ({"API.X.COM": 1, "api.x.com": 2}, ValueError, "twice"),
        (0, ValueError, "RateLimit rate must be a positive number"),
        (float("nan"), ValueError, "RateLimit rate must be a positive number"),
    ],
)
def test_bad_rate_limits_are_named(value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        mylib.Client(rate_limit=value)  # type: ignore[arg-type]


def test_bad_rate_limit_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="burst must be 1 or more"):
        mylib.RateLimit(5, burst=0)
    with pytest.raises(ValueError, match="per must be a positive"):
        mylib.RateLimit(5, per=-1)
    with pytest.raises(ValueError, match="redis://"):
        mylib.RateLimit(5, store="http://localhost:6379")
    with pytest.raises(ValueError, match="not a usable Redis URL") as info:
        mylib.RateLimit(5, store="redis://:pw@127.0.0.1:notaport/0")
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "2"}, 2.0),
        (503, {"Retry-After": "3"}, 3.0),
        (200, {"Retry-After": "3"}, None),  # only a 429/503 means "pause"
        (200, {"RateLimit": '"default";r=0;t=7'}, 7.0),
        (200, {"RateLimit": '"burst";r=4;t=1, "day";r=0;t=90'}, 90.0),  # the tightest
        (200, {"RateLimit": '"default";r=3;t=7'}, None),
        (200, {"RateLimit": "limit=100, remaining=0, reset=30"}, 30.0),
        (200, {"RateLimit": '"default";r=0', "RateLimit-Policy": '"default";q=10;w=60'}, 60.0),
        (200, {"RateLimit-Remaining": "0", "RateLimit-Reset": "5"}, 5.0),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4"}, 4.0),
        (200, {"X-RateLimit-Remaining": "0"}, None),  # no reset: nothing to wait for
        (200, {"X-RateLimit-Remaining": "junk", "X-RateLimit-Reset": "4"}, None),
        (429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "10"}, 10.0),
        (200, {"RateLimit": '"daily";r=0;t=3600, "burst";r=0;t=1'}, 3600.0),  # the latest
        (200, {"RateLimit": '"burst";r=0;t=1, "daily";r=0;t=3600'}, 3600.0),  # either order
        (200, {"RateLimit": '"burst";r=0, "daily";r=0;t=3600'}, 3600.0),
        (429, {"Retry-After": "\u00b2"}, None),  # a digit to str.isdigit(), no number
        (429, {"Retry-After": "-5"}, None),
        (429, {"Retry-After": "99999999999999999999"}, None),  # a mistake, not a plan
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1e400"}, None),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999999999"}, None),
    ],
)
def test_what_the_server_says_about_its_limit(
    status: int, headers: dict[str, str], wait: float | None
) -> None:
    said = server_wait(status, headers)
    assert (said[0] if said else None) == wait
    if wait is None and said is not None:
        assert "Retry-After" in said[1] or " 0 with a reset" in said[1]  # said, but ignored


def test_an_epoch_reset_is_read_as_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    now = 1_800_000_000.0
    monkeypatch.setattr(time, "time", lambda: now)
    said = server_wait(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(now + 42)})
    assert said is not None and said[0] == pytest.approx(42)
    said = server_wait(
        200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str((now + 42) * 1000)}
    )
    assert said is not None and said[0] == pytest.approx(42)


def test_a_pause_keeps_the_waiters_in_order_and_starts_the_bucket_empty() -> None:
    import time

    limit = mylib.RateLimit(1, burst=1)
    origin = ("http", "h", 80)
    slots = [limit._reserve(origin, 1.0, None) for _ in range(4)]  # now, +1, +2, +3 s
    asyncio.run(limit._pause(origin, 2.5))
    shift = limit._states[origin].shift
    moved = [at + shift - then for at, _, then in slots]
    paused_until = limit._states[origin].paused_until
    assert moved == sorted(moved)  # first come, first served, still
    assert moved[0] >= paused_until - 0.01  # nobody before the pause ends
    assert all(b - a == pytest.approx(1.0, abs=0.02) for a, b in itertools.pairwise(moved))
    after, _, _ = limit._reserve(origin, 1.0, None)
    assert after >= moved[-1] + 1.0 - 1e-6  # a new request comes after them
    assert after > time.monotonic()


def test_a_retry_after_longer_than_the_total_timeout_gives_the_429_back(
    traffic: TrafficServer,
) -> None:
    client = mylib.Client(
        traffic.url,
        rate_limit=mylib.RateLimit(100),
        retries=mylib.Retry(2, max_backoff=0.1),
        timeout=0.8,
    )
    r = client.get("/429", params={"tag": "retry-vs-pause"})
    # Retry-After: 1 is past the total timeout: the answer is the 429, as without a limit.
    assert r.status_code == 429 and r.attempts == 1


def test_hosts_match_with_a_trailing_dot_and_ipv6_literals() -> None:
    a, b = mylib.RateLimit(1), mylib.RateLimit(2)
    limits = to_rate_limits({"example.com": a, "[::1]": b})
    assert limits is not None
    assert limits.for_host("example.com.") is a
    assert limits.for_host("::1") is b
    idn = to_rate_limits({"bücher.de": a})
    assert idn is not None and idn.for_host("bücher.de") is a


def test_a_rate_limit_repr_shows_no_store_password() -> None:
    limit = mylib.RateLimit(5, per=2, burst=1, store="redis://:hunter2@localhost:6379/0")
    assert "hunter2" not in repr(limit)
    assert repr(limit).startswith("mylib.RateLimit(5, per=2, burst=1")


def test_ctrl_c_while_waiting_for_a_slot_stops_the_wait_and_the_client_stays_usable(
    traffic: TrafficServer,
) -> None:
    import signal
    import subprocess
    import sys
    import textwrap

    port = traffic.url.rsplit(":", 1)[1]
    code = textwrap.dedent(
        f"""
        import logging, sys, time
        import mylib
        logging.basicConfig(stream=sys.stdout, format="%(message)s")
        logging.getLogger("mylib").setLevel(logging.DEBUG)
        limit = mylib.RateLimit(1, per=60, burst=1)
        c = mylib.Client(rate_limit=limit)
        c.get("http://127.0.0.1:{port}/hit?tag=ctrl-c")
        started = time.monotonic()
        try:
            c.get("http://127.0.0.1:{port}/hit?tag=ctrl-c")  # its slot is 60 s away
        except KeyboardInterrupt:
            waited = time.monotonic() - started
            print("KeyboardInterrupt", "early" if waited < 30 else "late", flush=True)
        # Another origin (localhost is not 127.0.0.1) has a budget of its own.
        print("status", c.get("http://localhost:{port}/hit?tag=ctrl-c-after").status_code,
              flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-X", "dev", "-c", code],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, ""):
            if "for its turn under mylib.RateLimit(1, per=60" in line:
                break  # the second request is waiting now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and err == "", err
    assert "KeyboardInterrupt early" in out  # not after the 60 s the slot was away
    assert "status 200" in out
    assert len(traffic.times("ctrl-c")) == 1


def test_a_forked_child_is_not_stuck_on_a_rate_limit_lock_held_at_the_fork() -> None:
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import os, signal
        import mylib

        limit = mylib.RateLimit(5)
        with limit._lock:  # held, as another thread might hold it, when the process forks
            pid = os.fork()
            if pid == 0:
                signal.alarm(10)  # a child stuck on the parent's lock dies of SIGALRM
                limit._reserve(("http", "h", 80), 0.2, None)
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "child 0", proc.stderr


def test_a_rate_limit_applies_to_a_mock_transport_too(caplog: pytest.LogCaptureFixture) -> None:
    transport = mylib.MockTransport(lambda request: mylib.Response(200))
    client = mylib.Client(transport=transport, rate_limit=mylib.RateLimit(20, burst=1))
    with caplog.at_level(logging.DEBUG, logger="mylib"):
        for _ in range(3):
            client.get("https://api.example.test/x")
    waits = [m for m in caplog.messages if "for its turn under mylib.RateLimit(20" in m]
    assert len(waits) == 2  # the first goes at once, the next two wait their turn


def test_the_default_burst_never_lets_more_than_rate_through_in_any_window(
    traffic: TrafficServer,
) -> None:
    client = mylib.Client(traffic.url, rate_limit=10)  # burst 10: ten at once, then paced
    client.map("GET", ["/hit?tag=default-burst"] * 25, concurrency=25)
    times = traffic.times("default-burst")
    assert times[9] - times[0] < 0.5  # the burst went at once
    _never_faster_than(times, 10)  # but no 11 within a second


def test_cancelling_every_waiter_frees_their_slots(traffic: TrafficServer) -> None:
    import time

    limit = mylib.RateLimit(2, burst=1)

    async def main() -> None:
        first = asyncio.Event()

        async def answered(response: mylib.Response) -> None:
            first.set()

        client = mylib.AsyncClient(
            traffic.url, rate_limit=limit, event_hooks={"response": [answered]}
        )
        many = asyncio.ensure_future(
            client.map("GET", ["/hit?tag=cancel-all"] * 10, concurrency=10)
        )
        await first.wait()  # one went; nine wait for their turns
        many.cancel()  # as Ctrl-C on a map does
        with pytest.raises(asyncio.CancelledError):
            await many

    asyncio.run(main())
    sent = len(traffic.times("cancel-all"))
    # The next request waits one interval after the last that went, not for nine slots.
    origin = ("http", "127.0.0.1", int(traffic.url.rsplit(":", 1)[1]))
    at, _, _ = limit._reserve(origin, 0.5, None)
    assert at - time.monotonic() <= 0.5 * sent + 0.05


def test_a_wait_past_the_deadline_names_the_request_and_the_server_pause(
    traffic: TrafficServer,
) -> None:
    client = mylib.Client(traffic.url, rate_limit=mylib.RateLimit(100), timeout=0.5)
    assert client.get("/429", params={"tag": "blame"}).status_code == 429
    with pytest.raises(mylib.TimeoutError, match="the server asked for a pause") as info:
        client.get("/hit", params={"tag": "blame"})
    assert info.value.request is not None
    assert "/hit?tag=blame" in str(info.value) and "nothing was sent" in str(info.value)


def test_a_rate_limit_option_on_a_request_says_it_is_the_clients() -> None:
    with pytest.raises(TypeError, match="rate_limit= is a client option"):
        mylib.Client().build_request("GET", "http://h/", rate_limit=5)  # type: ignore[call-arg]


def test_a_copy_of_a_rate_limit_is_the_same_budget() -> None:
    import copy

    limit = mylib.RateLimit(5)
    assert copy.copy(limit) is limit
    assert copy.deepcopy({"limit": limit})["limit"] is limit
