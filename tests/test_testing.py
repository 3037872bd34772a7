"""mylib.testing.Mocker: the requests_mock surface, for mylib's clients on any thread or loop."""

from __future__ import annotations

import asyncio
import pathlib
import re
from typing import Any

import pytest

import mylib
from mylib._stream import StreamState
from mylib.testing import ANY, Mocker, NoMockAddress

API = "https://api.example.test"


def test_mocked_get_answers_blocking_client_without_network() -> None:
    with Mocker() as m:
        matcher = m.get(f"{API}/users/1", json={"id": 1, "name": "Ada"})
        r = mylib.Client(API).get("/users/1")
    assert r.status_code == 200 and r.reason == "OK"
    assert r.json() == {"id": 1, "name": "Ada"}
    assert r.headers["content-type"] == "application/json"
    assert matcher.called and matcher.call_count == 1
    assert m.last_request is not None and m.last_request.method == "GET"


def test_mocked_post_records_json_body_and_headers() -> None:
    with Mocker() as m:
        m.post(f"{API}/users", status_code=201, json={"id": 2})
        r = mylib.post(f"{API}/users", json={"name": "Grace"}, headers={"X-Trace": "t1"})
    assert r.status_code == 201
    last = m.last_request
    assert last is not None
    assert last.json() == {"name": "Grace"}
    assert last.headers["x-trace"] == "t1"


def test_mocked_async_client_on_callers_loop() -> None:
    client = mylib.AsyncClient(API)

    async def main() -> int:
        return (await client.get("/ping")).status_code

    with Mocker() as m:
        m.get(f"{API}/ping", status_code=204)
        assert asyncio.run(main()) == 204


def test_unmatched_request_raises_no_mock_address_not_network() -> None:
    with Mocker() as m:
        m.get(f"{API}/a", text="a")
        with pytest.raises(NoMockAddress) as info:
            mylib.get(f"{API}/b")
    assert isinstance(info.value, mylib.ConnectError)
    assert "/b" in str(info.value)


def test_successive_responses_then_last_repeats() -> None:
    with Mocker() as m:
        m.get(f"{API}/seq", [{"status_code": 503}, {"text": "ok"}])
        codes = [mylib.get(f"{API}/seq").status_code for _ in range(3)]
    assert codes == [503, 200, 200]


def test_retries_run_above_the_mock() -> None:
    with Mocker() as m:
        matcher = m.get(f"{API}/flaky", [{"status_code": 503}, {"status_code": 503}, {"json": 1}])
        client = mylib.Client(retries=mylib.Retry(3, backoff_factor=0))
        r = client.get(f"{API}/flaky")
    assert r.json() == 1 and matcher.call_count == 3


def test_redirects_run_above_the_mock() -> None:
    with Mocker() as m:
        m.get(f"{API}/old", status_code=301, headers={"Location": "/new"})
        m.get(f"{API}/new", text="moved")
        r = mylib.get(f"{API}/old")
    assert r.text == "moved"
    assert [h.status_code for h in r.history] == [301]


def test_exc_is_raised_as_mylib_error() -> None:
    with Mocker() as m:
        m.get(f"{API}/slow", exc=mylib.ConnectTimeout)
        with pytest.raises(mylib.TimeoutError):
            mylib.get(f"{API}/slow")
        m.get(f"{API}/refused", exc=ConnectionRefusedError("nope"))
        with pytest.raises(mylib.ConnectError):
            mylib.get(f"{API}/refused")


def test_query_subset_regex_any_and_latest_registration_wins() -> None:
    with Mocker() as m:
        m.get(f"{API}/search?q=x", text="x")
        m.get(re.compile(r"/items/\d+$"), text="item")
        m.register_uri(ANY, f"{API}/any", text="any")
        assert mylib.get(f"{API}/search", params={"q": "x", "page": 2}).text == "x"
        assert mylib.get(f"{API}/items/42").text == "item"
        assert mylib.delete(f"{API}/any").text == "any"
        m.get(f"{API}/search?q=x", text="newer")
        assert mylib.get(f"{API}/search?q=x").text == "newer"
        assert m.request_history[0].qs == {"q": ["x"], "page": ["2"]}


def test_decorator_passes_mocker_and_network_is_restored_after() -> None:
    @Mocker()
    def body(m: Mocker) -> str:
        m.get(f"{API}/x", text="decorated")
        return mylib.get(f"{API}/x").text

    assert body() == "decorated"
    from mylib._transports.mock import INSTALLED

    assert INSTALLED.stack == ()


def test_mockers_nest_the_inner_first_then_the_outer() -> None:
    with Mocker() as outer:
        outer.get(f"{API}/both", text="outer")
        outer.get(f"{API}/outer-only", text="outer")
        with Mocker() as inner:
            inner.get(f"{API}/both", text="inner")
            assert mylib.get(f"{API}/both").text == "inner"
            assert mylib.get(f"{API}/outer-only").text == "outer"
            with pytest.raises(NoMockAddress):
                mylib.get(f"{API}/nobody")
        assert mylib.get(f"{API}/both").text == "outer"
        with pytest.raises(RuntimeError, match="already active"):
            outer.start()


def test_aioresponses_intercepts_sessions_on_mylibs_io_thread() -> None:
    # Users with aioresponses-based suites keep them: it patches ClientSession at class level,
    # which also reaches the sessions living on mylib's I/O loop thread.
    from aioresponses import aioresponses

    with aioresponses() as m:
        m.get(f"{API}/legacy", payload={"from": "aioresponses"})
        r = mylib.Client().get(f"{API}/legacy")
    assert r.json() == {"from": "aioresponses"}


def test_mocked_body_is_served_to_streams_and_downloads(tmp_path: pathlib.Path) -> None:
    body = bytes(range(256)) * 40
    with Mocker() as m:
        m.get(f"{API}/old", status_code=302, headers={"Location": "/file"})
        m.get(f"{API}/file", content=body)
        client = mylib.Client(API)
        with client.stream("GET", "/old") as r:
            chunks = list(r.iter_bytes(4096))
        saved = client.download("/file", tmp_path / "file.bin")

        async def main() -> bytes:
            async with mylib.AsyncClient(API).stream("GET", "/file") as ar:
                return await ar.aread()

        assert asyncio.run(main()) == body
    assert b"".join(chunks) == body and [len(c) for c in chunks] == [4096, 4096, 2048]
    assert [h.status_code for h in r.history] == [302] and r.state is StreamState.CONSUMED
    assert saved.read_bytes() == body


def test_same_test_code_runs_under_requests_mock_and_mylib_mocker() -> None:
    # Parity of the surface: a requests user's test, with only the library and the mocker
    # swapped, observes the same things.
    import requests
    import requests_mock

    def scenario(m: Any, http: Any) -> list[object]:
        m.get(f"{API}/users/1", json={"id": 1})
        m.post(f"{API}/users", status_code=201, json={"id": 2})
        m.get(f"{API}/flaky", [{"status_code": 503}, {"text": "ok"}])
        seen: list[object] = []
        r = http.get(f"{API}/users/1", params={"expand": "all"})
        seen += [r.status_code, r.json(), m.last_request.qs]
        r = http.post(f"{API}/users", json={"name": "Ada"})
        seen += [r.status_code, r.json(), m.last_request.method, m.last_request.json()]
        seen += [http.get(f"{API}/flaky").status_code for _ in range(3)]
        seen += [m.called, m.call_count]
        return seen

    with requests_mock.Mocker() as rm:
        theirs = scenario(rm, requests.Session())
    with Mocker() as mm:
        ours = scenario(mm, mylib.Client())
    assert ours == theirs
