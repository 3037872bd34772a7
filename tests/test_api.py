"""Module-level helpers: ``mylib.get(url)`` and friends over one shared default Client."""

from __future__ import annotations

import threading

import pytest

import mylib
from mylib import _api
from tests._server import TestServer
from tests._subproc import assert_silent, run_python


def _io_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mylib-io"]


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_helper_sends_its_method(server: TestServer, method: str) -> None:
    helper = getattr(mylib, method)
    response = helper(server.url + "/anything/helper", params={"m": method})
    assert response.status_code == 200
    echo = response.json()
    assert echo["method"] == method.upper()
    assert echo["args"] == {"m": method}


def test_head_helper_returns_headers_without_body(server: TestServer) -> None:
    response = mylib.head(server.url + "/get")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Type"].startswith("application/json")


def test_request_helper_sends_json_body(server: TestServer) -> None:
    response = mylib.request(
        "POST", server.url + "/anything", json={"k": [1, 2]}, headers={"X-Test": "yes"}
    )
    echo = response.json()
    assert echo["json"] == {"k": [1, 2]}
    assert echo["headers"]["X-Test"] == "yes"


def test_helper_verifies_tls_by_default(tls_server: TestServer) -> None:
    # The test CA is in no system store: the default client must refuse it.
    with pytest.raises(mylib.TLSError):
        mylib.get(tls_server.url + "/get")


def test_helpers_share_one_default_client_and_one_io_thread(server: TestServer) -> None:
    mylib.get(server.url + "/get")
    first = _api._default
    mylib.post(server.url + "/anything", json={})
    mylib.delete(server.url + "/anything")
    assert first is not None and _api._default is first
    assert len(_io_threads()) == 1


def test_helpers_from_many_threads_share_one_default_client(server: TestServer) -> None:
    seen: list[object] = []
    errors: list[BaseException] = []
    bodies: dict[int, object] = {}
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            body = mylib.get(f"{server.url}/echo-id/{i}").json()
            with lock:
                bodies[i] = body
                seen.append(_api._default)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert bodies == {i: {"id": str(i)} for i in range(8)}
    assert len({id(c) for c in seen}) == 1
    assert len(_io_threads()) == 1


def test_helper_errors_are_mylib_errors(server: TestServer) -> None:
    with pytest.raises(mylib.HTTPStatusError):
        mylib.get(server.url + "/status/418").raise_for_status()
    with pytest.raises(mylib.InvalidURL):
        mylib.get("ftp://example.com/file")


def test_script_using_only_helpers_starts_one_thread_and_exits_silently(
    server: TestServer,
) -> None:
    proc = run_python(
        f"""
        import threading
        import mylib

        assert threading.active_count() == 1, threading.enumerate()  # import starts nothing
        for method in ("get", "post", "put", "patch", "delete", "head", "options"):
            r = getattr(mylib, method)({server.url + "/anything"!r})
            assert r.status_code == 200, r
        names = sorted(t.name for t in threading.enumerate())
        assert names.count("mylib-io") == 1, names
        print("ok")
        """
    )
    assert_silent(proc)
    assert proc.stdout.strip() == "ok"


def test_both_clients_repr_alike_with_the_package_name() -> None:
    with mylib.Client(base_url="http://127.0.0.1:1/api") as client:
        assert repr(client) == "<mylib.Client base_url='http://127.0.0.1:1/api' state=open>"
    assert repr(mylib.AsyncClient()) == "<mylib.AsyncClient state=open>"


def test_response_headers_show_as_a_plain_mapping_not_a_multidict_proxy(
    server: TestServer,
) -> None:
    response = mylib.get(server.url + "/cookies/set?a=1&b=2", follow_redirects=False)
    shown = repr(response.headers)
    assert shown.startswith("{") and "CIMultiDict" not in shown
    assert "'Set-Cookie': [" in shown  # a repeated header lists its values
    assert response.headers.getall("set-cookie") == response.headers.getall("Set-Cookie")
