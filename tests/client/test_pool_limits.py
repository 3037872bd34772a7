"""Limits: the pool's size is what the server sees, and a full pool says so when it times out."""

from __future__ import annotations

import logging
import uuid

import pytest

import mylib
from tests.client._support import ClientFactory, make_client
from tests.client._traffic import TrafficServer, traffic

__all__ = ["make_client", "traffic"]


def test_two_connections_per_host_is_all_the_server_sees_under_map(
    make_client: ClientFactory, traffic: TrafficServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(traffic.url, limits=mylib.Limits(max_connections_per_host=2))
    tag = f"per-host-{uuid.uuid4().hex}"
    with caplog.at_level(logging.DEBUG, logger="mylib"):
        results = client.map("GET", [f"/slow?tag={tag}"] * 20, concurrency=20)
    assert [r.status_code for r in results] == [200] * 20
    assert traffic.most_in_flight[tag] == 2
    assert len(traffic.ports[tag]) == 2  # two connections, each reused
    assert any("Waiting for a free connection" in m and "max_connections_per_host=2" in m
               for m in caplog.messages)


def test_the_default_pool_lets_map_run_side_by_side(traffic: TrafficServer) -> None:
    client = mylib.Client(traffic.url)
    client.map("GET", ["/slow?tag=default-pool"] * 10, concurrency=10)
    assert traffic.most_in_flight["default-pool"] > 2  # the guard above is the limit's doing


def test_a_full_pool_raises_pool_timeout_naming_the_limit(traffic: TrafficServer) -> None:
    client = mylib.Client(traffic.url, limits=mylib.Limits(max_connections=1))
    with client.stream("GET", "/hold") as held:  # holds the only connection
        assert held.status_code == 200
        with pytest.raises(mylib.PoolTimeout, match=r"Timeout\.pool.*max_connections=1"):
            client.get("/hit", params={"tag": "pool"}, timeout=mylib.Timeout(pool=0.3))
    assert client.get("/hit").status_code == 200  # free again once the stream closed
    assert traffic.times("pool") == []


def test_a_full_pool_names_the_wait_when_the_total_timeout_ends_it() -> None:
    import asyncio

    srv = TrafficServer()
    try:
        client = mylib.AsyncClient(srv.url, limits=mylib.Limits(max_connections=1))

        async def main() -> str:
            async with client.stream("GET", "/hold"):
                with pytest.raises(mylib.TimeoutError) as caught:
                    await client.get("/hit", timeout=0.3)
            assert (await client.get("/hit")).status_code == 200
            return str(caught.value)

        message = asyncio.run(main())
    finally:
        srv.stop()
    assert "timed out after 0.3 s" in message
    assert "while waiting for a free connection to 127.0.0.1" in message
    assert "max_connections=1" in message


def test_keepalive_expiry_zero_opens_a_connection_per_request(traffic: TrafficServer) -> None:
    client = mylib.Client(traffic.url, limits=mylib.Limits(keepalive_expiry=0))
    for _ in range(3):
        client.get("/slow", params={"tag": "no-keepalive"})
    assert len(traffic.ports["no-keepalive"]) == 3
    kept = mylib.Client(traffic.url)
    for _ in range(3):
        kept.get("/slow", params={"tag": "keepalive"})
    assert len(traffic.ports["keepalive"]) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_connections": 0}, ValueError, "max_connections must be 1 or more"),
        ({"max_connections": 2.5}, TypeError, "max_connections must be an int"),
        ({"max_connections_per_host": -1}, ValueError, "max_connections_per_host must be 1"),
        ({"keepalive_expiry": -1}, ValueError, "keepalive_expiry must be 0 or more"),
        ({"keepalive_expiry": "15"}, TypeError, "keepalive_expiry must be a number"),
        ({"keepalive_expiry": float("inf")}, ValueError, "keepalive_expiry must be 0 or more"),
    ],
)
def test_bad_limits_are_named(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        mylib.Limits(**kwargs)  # type: ignore[arg-type]


def test_limits_must_be_a_limits() -> None:
    with pytest.raises(TypeError, match=r"limits must be a mylib\.Limits"):
        mylib.Client(limits={"max_connections": 5})  # type: ignore[arg-type]


def test_a_pool_timeout_is_a_timeout_error() -> None:
    assert issubclass(mylib.PoolTimeout, mylib.TimeoutError)
    assert mylib.Timeout(pool=2).pool == 2.0
    with pytest.raises(ValueError, match="timeout pool must be a positive"):
        mylib.Timeout(pool=0)


def test_a_pool_held_by_a_stream_left_open_fails_after_read_seconds_of_standstill(
    traffic: TrafficServer,
) -> None:
    client = mylib.Client(traffic.url, limits=mylib.Limits(max_connections=1))
    with (
        client.stream("GET", "/hold"),  # open, unread, silent: its connection is stuck
        pytest.raises(mylib.PoolTimeout, match=r"none was released.*stream left open"),
    ):
        client.get("/hit", params={"tag": "standstill"}, timeout=mylib.Timeout(read=0.5))
    assert traffic.times("standstill") == []


def test_a_pool_busy_with_a_transfer_that_keeps_arriving_keeps_the_waiter_waiting(
    traffic: TrafficServer,
) -> None:
    # 30 answers of 50 ms each through one connection: the last waiters wait about 1.5 s,
    # three times their read limit, but the pool keeps moving, so none gets a PoolTimeout.
    client = mylib.Client(traffic.url, limits=mylib.Limits(max_connections=1))
    results = client.map("GET", ["/slow?tag=moving"] * 30, concurrency=30,
                         timeout=mylib.Timeout(read=0.5))
    assert [r.status_code for r in results] == [200] * 30
    assert len(traffic.ports["moving"]) == 1
