"""Retries: idempotent methods on connection errors and 429/502/503/504, Retry-After,
bounded by the total timeout, and the number of attempts reported."""

from __future__ import annotations

import socket
import time

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]

_FAST = mylib.Retry(total=2, backoff_factor=0)


def test_503_is_retried_and_the_response_says_how_many_attempts(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    before = any_server.hits["/status/503"]
    r = make_client(retries=_FAST, verify=verify_for(any_server)).get(
        any_server.url + "/status/503"
    )
    assert r.status_code == 503 and r.attempts == 3
    assert any_server.hits["/status/503"] - before == 3
    assert "after 3 attempts" in repr(r)


def test_post_is_not_retried_unless_asked(make_client: ClientFactory, server: TestServer) -> None:
    assert make_client(retries=_FAST).post(server.url + "/status/502").attempts == 1
    asked = mylib.Retry(total=1, backoff_factor=0, methods={"POST"})
    assert make_client(retries=asked).post(server.url + "/status/502").attempts == 2


def test_success_is_not_retried(make_client: ClientFactory, server: TestServer) -> None:
    assert make_client(retries=_FAST).get(server.url + "/get").attempts == 1


def test_connection_refused_is_retried_and_the_error_says_how_many_attempts(
    make_client: ClientFactory,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    with pytest.raises(mylib.ConnectError) as info:
        make_client(retries=_FAST).get(f"http://127.0.0.1:{port}/")
    assert info.value.attempts == 3


def test_retry_after_seconds_is_honoured_but_capped_by_max_backoff(
    make_client: ClientFactory, server: TestServer
) -> None:
    retry = mylib.Retry(total=1, max_backoff=0.05)
    started = time.monotonic()
    r = make_client(retries=retry).get(server.url + "/status/429?retry_after=120")
    assert r.attempts == 2
    assert time.monotonic() - started < 5  # 120 s asked, 0.05 s allowed


def test_retry_after_http_date_is_understood() -> None:
    from email.utils import formatdate

    from mylib._ratelimit.server import parse_retry_after

    assert parse_retry_after("7") == 7.0
    delay = parse_retry_after(formatdate(time.time() + 30, usegmt=True))
    assert delay is not None and 25 < delay <= 30
    assert parse_retry_after("garbage") is None


def test_retries_stop_when_the_wait_would_outlast_the_total_timeout(
    make_client: ClientFactory, server: TestServer
) -> None:
    # Retry-After 30 s but only 2 s in total: give the 503 back now, not a TimeoutError later.
    c = make_client(retries=mylib.Retry(total=3, max_backoff=60), timeout=2)
    started = time.monotonic()
    r = c.get(server.url + "/status/503?retry_after=30")
    assert r.status_code == 503 and r.attempts == 1
    assert time.monotonic() - started < 2


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    from mylib._pipeline.retry import retry_delay

    retry = mylib.Retry(total=10, backoff_factor=1, max_backoff=4)
    for attempt, ceiling in ((1, 1), (2, 2), (3, 4), (6, 4)):
        delays = [retry_delay(retry, attempt, None) for _ in range(50)]
        assert all(0 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_streamed_body_is_not_retried(make_client: ClientFactory, server: TestServer) -> None:
    r = make_client(retries=_FAST).put(server.url + "/status/503", content=iter([b"x"]))
    assert r.attempts == 1


def test_certificate_that_does_not_verify_is_not_retried(
    make_client: ClientFactory, tls_server: TestServer
) -> None:
    # Found in review: TLSError is a ConnectError, so a bad certificate was retried with
    # backoff, only to fail the same way each time.
    c = make_client(retries=mylib.Retry(3, backoff_factor=0))
    with pytest.raises(mylib.TLSError) as info:
        c.get(tls_server.url + "/get")
    assert info.value.attempts == 1
