"""Every public value pickles, and round-trips across a real process boundary (a spawned
process), keeping what a user reads: a worker can return a Response, raise an
HTTPStatusError the parent catches, and receive a Client in a task's closure."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import multiprocessing
import pickle
import ssl
from pathlib import Path
from typing import Any

import pytest

import mylib
from tests.client._cache_origin import CacheOrigin, origin
from tests.pickling.wrappers import SyncApi, child

__all__ = ["origin"]


def _round_trip(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))


def test_values_round_trip_with_what_a_user_reads(tmp_path: Path) -> None:
    assert _round_trip(mylib.Timeout(5, connect=2)) == mylib.Timeout(5, connect=2)
    assert _round_trip(mylib.Retry(3, backoff_factor=0.1)) == mylib.Retry(3, backoff_factor=0.1)
    assert _round_trip(mylib.Limits(max_connections=7)) == mylib.Limits(max_connections=7)
    digest = mylib.DigestAuth("u", "p")
    assert pickle.dumps(_round_trip(digest)) == pickle.dumps(digest)
    limit = _round_trip(mylib.RateLimit(5, per=2, burst=3))
    assert (limit.rate, limit.per, limit.burst) == (5, 2, 3)
    cache = _round_trip(mylib.Cache(tmp_path / "c.sqlite", ttl=9))
    assert (cache.location, cache.ttl) == (str(tmp_path / "c.sqlite"), 9.0)
    jar = mylib.Cookies({"a": "1"})
    assert dict(_round_trip(jar)) == {"a": "1"}


def test_auth_sends_the_same_credentials_after_a_round_trip(origin: CacheOrigin) -> None:
    for n, auth in enumerate([mylib.BasicAuth("user", "pass"), mylib.BearerAuth("tok")]):
        mylib.Client(origin.url, auth=auth).get(f"/plain?tag=a{n}")
        mylib.Client(origin.url, auth=_round_trip(auth)).get(f"/plain?tag=a{n}")
        sent = [seen["Authorization"] for seen in origin.seen[("/plain", f"a{n}")]]
        assert len(sent) == 2 and sent[0] == sent[1]


def test_a_response_and_its_request_and_history_round_trip(origin: CacheOrigin) -> None:
    client = mylib.Client(origin.url, headers={"X-Mine": "1"})
    response = client.get("/fresh?tag=rt")
    response.encoding = "latin-1"
    response.history = [client.get("/fresh?tag=rt-first")]
    back = _round_trip(response)
    assert (back.status_code, back.reason, back.url, back.content, back.text) == (
        response.status_code, response.reason, response.url, response.content, response.text
    )
    assert back.json() == response.json() and back.headers == response.headers
    assert back.elapsed == response.elapsed and isinstance(back.elapsed, datetime.timedelta)
    assert (back.attempts, back.from_cache, back.encoding) == (1, False, "latin-1")
    assert back.request.url == response.request.url and back.request.method == "GET"
    assert back.request.headers["X-Mine"] == "1"
    assert [h.url for h in back.history] == [h.url for h in response.history]


def test_errors_keep_their_response_request_and_details() -> None:
    request = mylib.Request("GET", "http://127.0.0.1:9/x")
    response = mylib.Response(404, text="gone", request=request)
    status = _round_trip(mylib.HTTPStatusError("404 Not Found", response=response))
    assert isinstance(status, mylib.HTTPStatusError) and str(status) == "404 Not Found"
    assert status.response.status_code == 404 and status.response.text == "gone"
    assert status.request.url == "http://127.0.0.1:9/x"
    too_large = _round_trip(mylib.ResponseTooLarge("big", limit=10, request=request))
    assert too_large.limit == 10 and too_large.request.url == request.url
    redirects = _round_trip(mylib.TooManyRedirects("loop", request=request, response=response))
    assert redirects.response.status_code == 404
    timeout = mylib.ReadTimeout("slow", request=request)
    timeout.attempts = 3
    back = _round_trip(timeout)
    assert isinstance(back, TimeoutError) and back.attempts == 3


def test_a_client_pickles_small_and_works_in_a_spawned_process(origin: CacheOrigin) -> None:
    client = mylib.Client(
        origin.url, headers={"X-Mine": "yes"}, timeout=5, retries=2, cookies={"k": "v"},
        cache=mylib.Cache(":memory:"), rate_limit=50, limits=mylib.Limits(max_connections=4),
    )  # fmt: skip
    response = client.get("/fresh?tag=parent")
    objs = {
        "client": client,
        "async": mylib.AsyncClient(origin.url),
        "sync_api": SyncApi(origin.url, token="abc"),
        "response": response,
    }
    assert all(len(pickle.dumps(value)) < 2048 for value in objs.values())
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        out = pickle.loads(pool.submit(child, pickle.dumps(objs), origin.url).result(60))
    assert out["types"] == {"client": "Client", "async": "AsyncClient",
                            "sync_api": "SyncApi", "response": "Response"}  # fmt: skip
    assert out["client"] == {"n": 1} and out["cookie"] == "v" and out["headers"] == "yes"
    assert out["async"] == {"n": 1} and out["sync_api"] == ({"n": 1}, "abc")
    assert out["response"].json() == {"n": 1}
    error = out["status_error"]
    assert isinstance(error, mylib.HTTPStatusError) and error.response.status_code == 404
    assert isinstance(out["connect_error"], mylib.ConnectError)
    assert out["connect_error"].request.url.endswith(":1/")


def test_what_cannot_travel_says_so(origin: CacheOrigin) -> None:
    with (
        mylib.Client(origin.url).stream("GET", "/fresh?tag=st") as stream,
        pytest.raises(TypeError, match="read it first"),
    ):
        pickle.dumps(stream)
    with pytest.raises(TypeError, match="CA bundle path"):
        pickle.dumps(mylib.Client(verify=ssl.create_default_context()))
    with pytest.raises(TypeError, match="a lambda or a function defined inside another"):
        pickle.dumps(mylib.Client(event_hooks={"request": [lambda request: None]}))


def test_a_response_to_a_request_with_its_own_ca_bundle_pickles(
    tmp_path: Path,
) -> None:
    import trustme

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    request = mylib.Client().build_request("GET", "https://127.0.0.1:9/", verify=str(bundle))
    assert isinstance(request.tls, ssl.SSLContext)
    back = _round_trip(mylib.Response(200, request=request))
    assert isinstance(back.request.tls, ssl.SSLContext) and back.request.url == request.url
    with pytest.raises(TypeError, match="CA bundle path"):
        pickle.dumps(mylib.Client().build_request(
            "GET", "https://127.0.0.1:9/", verify=ssl.create_default_context()
        ))  # fmt: skip


class _Slotted(mylib.Client):
    __slots__ = ("extra",)


def test_a_slotted_subclass_and_a_closed_client_keep_their_state() -> None:
    slotted = _Slotted("http://127.0.0.1:9")
    slotted.extra = "kept"
    assert _round_trip(slotted).extra == "kept"
    closed = mylib.AsyncClient("http://127.0.0.1:9")
    asyncio.run(closed.aclose())
    assert _round_trip(closed).closed


def test_a_client_given_another_clients_transport_says_why_it_cannot_travel() -> None:
    shared = mylib.AsyncClient()
    with pytest.raises(TypeError, match="another client's transport"):
        pickle.dumps(mylib.AsyncClient(transport=shared.transport))
