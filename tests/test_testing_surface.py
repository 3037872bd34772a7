"""More of requests_mock's surface on mylib.testing.Mocker, and the pytest plugin.

Class decorators that keep a TestCase a TestCase, callbacks with a context, matchers on the
query, headers and anything else, ``real_http=True`` against a real loopback server, and the
``mylib_mock`` fixture and ``mylib_no_network`` marker run by a real pytest in a subprocess.
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import textwrap
import unittest
from pathlib import Path
from typing import Any

import pytest

import mylib
from mylib.testing import ANY, Mocker, MockRequest, NoMockAddress
from tests._server import TestServer
from tests._subproc import REPO_ROOT

API = "https://api.example.test"


def test_a_decorated_test_case_class_stays_a_class_and_runs_every_test() -> None:
    ran: list[str] = []

    @Mocker()
    class ApiTests(unittest.TestCase):
        def test_one(self, m: Mocker) -> None:
            m.get(f"{API}/one", json={"n": 1})
            assert mylib.get(f"{API}/one").json() == {"n": 1}
            ran.append("one")

        def test_two(self, m: Mocker) -> None:
            m.get(f"{API}/two", text="two")
            assert mylib.Client().get(f"{API}/two").text == "two"
            assert m.called_once
            ran.append("two")

        def helper(self) -> str:  # not a test: left alone
            return "plain"

    assert isinstance(ApiTests, type) and issubclass(ApiTests, unittest.TestCase)
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(ApiTests).run(result)
    assert (result.testsRun, result.errors, result.failures) == (2, [], [])
    assert sorted(ran) == ["one", "two"]
    assert ApiTests("test_one").helper() == "plain"


def test_the_decorator_passes_the_mocker_as_a_keyword_and_wraps_async_tests() -> None:
    @Mocker(kw="mock")
    def sync_test(*, mock: Mocker) -> int:
        mock.get(f"{API}/k", status_code=204)
        return mylib.get(f"{API}/k").status_code

    @Mocker()
    async def async_test(m: Mocker) -> int:
        m.get(f"{API}/a", status_code=202)
        return (await mylib.AsyncClient().get(f"{API}/a")).status_code

    assert sync_test() == 204
    assert asyncio.run(async_test()) == 202


def test_callbacks_make_the_body_and_set_status_headers_and_cookies() -> None:
    def create(request: MockRequest, context: Any) -> dict[str, Any]:
        context.status_code = 201
        context.headers["Location"] = f"{API}/items/7"
        context.cookies["session"] = "s1"
        return {"id": 7, "name": request.json()["name"]}

    with Mocker() as m:
        m.post(f"{API}/items", json=create)
        m.get(f"{API}/echo", text=lambda request, context: f"q={request.qs['q'][0]}")
        m.get(f"{API}/file", body=io.BytesIO(b"from a file"))
        r = mylib.post(f"{API}/items", json={"name": "pen"})
        echo = mylib.get(f"{API}/echo", params={"q": "x"})
        file = mylib.get(f"{API}/file")
    assert (r.status_code, r.reason, r.json()) == (201, "Created", {"id": 7, "name": "pen"})
    assert r.headers["Location"] == f"{API}/items/7" and r.cookies == {"session": "s1"}
    assert echo.text == "q=x" and file.content == b"from a file"


def test_matchers_on_the_whole_query_the_headers_and_anything_else() -> None:
    with Mocker() as m:
        m.get(f"{API}/s?q=a", text="subset")
        exact = m.get(f"{API}/s?q=a", complete_qs=True, text="exact")  # the latest wins
        m.get(f"{API}/h", request_headers={"X-Key": "k1"}, text="keyed")
        m.get(re.compile(r"/regex/\d+$"), text="regex")
        m.register_uri(ANY, f"{API}/m", additional_matcher=lambda r: r.method == "PUT",
                       text="put only")
        assert mylib.get(f"{API}/s", params={"q": "a"}).text == "exact"
        assert mylib.get(f"{API}/s", params={"q": "a", "page": "2"}).text == "subset"
        assert mylib.get(f"{API}/h", headers={"X-Key": "k1"}).text == "keyed"
        with pytest.raises(NoMockAddress):
            mylib.get(f"{API}/h", headers={"X-Key": "other"})
        assert mylib.get(f"{API}/regex/42").text == "regex"
        assert mylib.put(f"{API}/m").text == "put only"
        with pytest.raises(NoMockAddress, match=r"POST https://api\.example\.test/m"):
            mylib.post(f"{API}/m")
    assert exact.called_once
    seen = m.request_history[0]
    assert (seen.method, seen.path, seen.query, seen.qs) == ("GET", "/s", "q=a", {"q": ["a"]})
    assert (seen.scheme, seen.hostname, seen.port, seen.netloc) == (
        "https", "api.example.test", 443, "api.example.test"
    )
    assert seen.timeout == mylib.Client().build_request("GET", API).timeout


def test_real_http_lets_unmatched_requests_reach_the_real_server(server: TestServer) -> None:
    with Mocker(real_http=True) as m:
        m.get(f"{server.url}/mocked", text="from the mock")
        client = mylib.Client(server.url)
        assert client.get("/mocked").text == "from the mock"
        assert client.get("/echo-id/real").json() == {"id": "real"}
        with client.stream("GET", "/bytes/100") as r:
            assert len(r.read()) == 100
    assert m.call_count == 3 and [r.path for r in m.request_history] == [
        "/mocked", "/echo-id/real", "/bytes/100"
    ]


def test_bad_registrations_are_refused_at_once() -> None:
    m = Mocker()
    with pytest.raises(TypeError, match="unknown mock response option"):
        m.get(f"{API}/x", jsno={})
    with pytest.raises(TypeError, match="real_http must be True or False"):
        Mocker(real_http="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decorates a function or a class"):
        m(42)


_PLUGIN_TESTS = '''
import pytest
import mylib

def test_fixture_answers(mylib_mock):
    mylib_mock.get("https://api.example.test/x", json={"ok": True})
    assert mylib.get("https://api.example.test/x").json() == {"ok": True}
    assert mylib_mock.called_once

@pytest.mark.mylib_no_network
def test_marker_blocks_the_network():
    with pytest.raises(mylib.testing.NoMockAddress):
        mylib.get("{url}/get")

def test_without_the_marker_the_network_is_there():
    assert mylib.get("{url}/get").status_code == 200
'''


def _run_pytest(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user_suite.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
         *args, str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_the_pytest_plugin_gives_a_fixture_and_a_no_network_marker(
    server: TestServer, tmp_path: Path
) -> None:
    proc = _run_pytest(tmp_path, _PLUGIN_TESTS.replace("{url}", server.url))
    assert "3 passed" in proc.stdout, proc.stdout + proc.stderr


def test_the_no_network_option_blocks_every_test(server: TestServer, tmp_path: Path) -> None:
    proc = _run_pytest(tmp_path, _PLUGIN_TESTS.replace("{url}", server.url),
                       "--mylib-no-network")
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "test_without_the_marker_the_network_is_there" in proc.stdout
    assert "NoMockAddress" in proc.stdout


def test_aioresponses_assertions_match_a_call_made_through_mylib() -> None:
    # mylib always sends its own headers and follows redirects itself, so aioresponses'
    # exact-call comparison cannot match; args_to_match compares only what is named.
    from aioresponses import aioresponses

    with aioresponses() as m:
        m.get(f"{API}/legacy", payload={"from": "aioresponses"})
        m.post(f"{API}/legacy", status=201)
        assert mylib.get(f"{API}/legacy").json() == {"from": "aioresponses"}
        assert mylib.post(f"{API}/legacy", content=b"raw").status_code == 201
        m.assert_any_call(f"{API}/legacy", "GET", args_to_match=[])
        m.assert_any_call(f"{API}/legacy", "POST", args_to_match=["data"], data=b"raw")
        with pytest.raises(AssertionError):
            m.assert_any_call(f"{API}/legacy", "POST", args_to_match=["data"], data=b"other")


def test_a_make_sync_twin_is_answered_by_the_mocker() -> None:
    class Api(mylib.AsyncClient):
        async def user(self, n: int) -> Any:
            return (await self.get(f"/users/{n}")).raise_for_status().json()

    with Mocker() as m:
        m.get(f"{API}/users/3", json={"id": 3})
        assert mylib.make_sync(Api)(API).user(3) == {"id": 3}


def test_history_keeps_each_request_as_it_was_sent() -> None:
    tries = iter(range(10))

    def stamp(request: mylib.Request) -> None:
        request.headers["X-Try"] = str(next(tries))

    with Mocker() as m:
        m.get(f"{API}/flaky", [{"status_code": 503}, {"text": "ok"}])
        client = mylib.Client(retries=mylib.Retry(1, backoff_factor=0),
                              event_hooks={"request": [stamp]})
        assert client.get(f"{API}/flaky").text == "ok"
    assert [r.headers["X-Try"] for r in m.request_history] == ["0", "1"]


def test_an_unmatched_request_is_not_retried() -> None:
    with Mocker() as m:
        client = mylib.Client(retries=mylib.Retry(3, backoff_factor=10))
        with pytest.raises(NoMockAddress) as info:
            client.get(f"{API}/nowhere")
    assert info.value.attempts == 1 and m.call_count == 1


def test_inherited_test_methods_of_a_decorated_class_get_the_mocker_too() -> None:
    class Base(unittest.TestCase):
        def test_inherited(self, m: Mocker) -> None:
            m.get(f"{API}/base", text="base")
            assert mylib.get(f"{API}/base").text == "base"

    @Mocker()
    class Derived(Base):
        def test_own(self, m: Mocker) -> None:
            assert not m.called

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Derived).run(result)
    assert (result.testsRun, result.errors, result.failures) == (2, [], [])


def test_callback_cookies_take_the_requests_spelling_and_json_none_is_no_body() -> None:
    def login(request: MockRequest, context: Any) -> str:
        context.cookies.set("sid", "abc", path="/")
        return "in"

    with Mocker() as m:
        m.post(f"{API}/login", text=login)
        m.get(f"{API}/empty", json=None)
        assert mylib.post(f"{API}/login").cookies == {"sid": "abc"}
        assert mylib.get(f"{API}/empty").content == b""


_COEXISTING = '''
import pytest
import mylib
from mylib.testing import Mocker, cassette

pytestmark = pytest.mark.mylib_no_network

def test_a_mocker_inside_the_marker():
    with Mocker() as m:
        m.get("https://api.example.test/x", text="mocked")
        assert mylib.get("https://api.example.test/x").text == "mocked"

def test_a_mock_transport_client_inside_the_marker():
    client = mylib.Client(transport=mylib.MockTransport(lambda r: mylib.Response(200, text="t")))
    assert client.get("https://api.example.test/y").text == "t"

def test_a_mocker_inside_the_fixture(mylib_mock):
    mylib_mock.get("https://api.example.test/outer", text="outer")
    with Mocker() as m:
        m.get("https://api.example.test/inner", text="inner")
        assert mylib.get("https://api.example.test/inner").text == "inner"
        assert mylib.get("https://api.example.test/outer").text == "outer"

def test_a_cassette_cannot_record_inside_the_marker(tmp_path):
    with pytest.raises(mylib.testing.NoMockAddress, match="network is blocked"):
        with cassette(tmp_path / "c.yaml"):
            mylib.get("{url}/get")
    assert not (tmp_path / "c.yaml").exists()
'''


def test_the_marker_leaves_every_mock_working(server: TestServer, tmp_path: Path) -> None:
    proc = _run_pytest(tmp_path, _COEXISTING.replace("{url}", server.url))
    assert "4 passed" in proc.stdout, proc.stdout + proc.stderr
