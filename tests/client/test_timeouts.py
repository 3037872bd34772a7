"""Timeouts: finite by default, float = total, per-request override, enforced on the loop."""

from __future__ import annotations

import builtins
import time
import uuid

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


def test_default_timeout_is_finite() -> None:
    timeout = mylib.Client().build_request("GET", "http://h/").timeout
    assert timeout == mylib.Timeout(connect=10, read=60, headers=120)


def test_float_timeout_means_total() -> None:
    request = mylib.Client(timeout=2.5).build_request("GET", "http://h/")
    assert request.timeout == mylib.Timeout(total=2.5)


def test_total_timeout_raises_and_cancels_the_request_on_the_server(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    tag = uuid.uuid4().hex
    c = make_client(timeout=0.3, verify=verify_for(any_server))
    started = time.monotonic()
    with pytest.raises(mylib.TimeoutError) as info:
        c.get(f"{any_server.url}/delay/10?tag={tag}")
    assert time.monotonic() - started < 3
    assert isinstance(info.value, builtins.TimeoutError)
    assert any_server.wait_for("cancelled", tag)


def test_read_timeout_is_a_read_timeout(make_client: ClientFactory, server: TestServer) -> None:
    c = make_client(timeout=mylib.Timeout(read=0.3))
    with pytest.raises(mylib.ReadTimeout):
        c.get(f"{server.url}/delay/10?tag={uuid.uuid4().hex}")


def test_per_request_timeout_overrides_the_client_one(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client(timeout=0.2)
    assert c.get(f"{server.url}/delay/0.3", timeout=10).status_code == 200
    with pytest.raises(mylib.TimeoutError):
        make_client(timeout=10).get(f"{server.url}/delay/10", timeout=0.2)


def test_timeout_none_means_no_limit() -> None:
    assert mylib.Client(timeout=None).build_request("GET", "http://h/").timeout == mylib.Timeout()
