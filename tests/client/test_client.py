"""The blocking Client against a real loopback server, over plain HTTP and TLS."""

from __future__ import annotations

import asyncio
import builtins
import datetime
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import mylib
from tests._server import TestServer
from tests._subproc import assert_silent, run_python


@pytest.fixture
def client(any_server: TestServer) -> Iterator[mylib.Client]:
    """A Client that trusts ``any_server`` (the TLS one through its CA file)."""
    with mylib.Client(verify=any_server.ca_path or True) as c:
        yield c


def _tag() -> str:
    return uuid.uuid4().hex


# -- methods -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_method_sends_json_body_and_server_echoes_it(
    client: mylib.Client, any_server: TestServer, method: str
) -> None:
    response = getattr(client, method)(any_server.url + "/anything", json={"n": [1, "two"]})
    echo = response.json()
    assert echo["method"] == method.upper()
    assert echo["json"] == {"n": [1, "two"]}
    assert echo["headers"]["Content-Type"] == "application/json"


def test_get_sends_query_and_headers(client: mylib.Client, any_server: TestServer) -> None:
    response = client.get(
        any_server.url + "/get", params={"a": "1", "b": ["x", "y"]}, headers={"X-One": "1"}
    )
    echo = response.json()
    assert echo["method"] == "GET"
    assert echo["args"] == {"a": "1", "b": ["x", "y"]}
    assert echo["headers"]["X-One"] == "1"


def test_head_returns_headers_and_no_body(client: mylib.Client, any_server: TestServer) -> None:
    response = client.head(any_server.url + "/get")
    assert response.status_code == 200
    assert response.content == b""
    assert "application/json" in response.headers["Content-Type"]


def test_head_does_not_follow_redirects_by_default(
    client: mylib.Client, any_server: TestServer
) -> None:
    response = client.head(any_server.url + "/redirect/1")
    assert response.status_code == 302
    assert response.history == []


def test_options_reaches_the_server(client: mylib.Client, any_server: TestServer) -> None:
    response = client.options(any_server.url + "/anything")
    assert response.status_code == 200
    assert response.json()["method"] == "OPTIONS"


def test_request_takes_any_method(client: mylib.Client, any_server: TestServer) -> None:
    echo = client.request("put", any_server.url + "/anything", content=b"raw").json()
    assert echo["method"] == "PUT"
    assert echo["body"] == "raw"


def test_form_data_is_sent_urlencoded(client: mylib.Client, any_server: TestServer) -> None:
    echo = client.post(any_server.url + "/anything", data={"a": "1", "b": "é"}).json()
    assert echo["form"] == {"a": "1", "b": "é"}


# -- merging and joining -------------------------------------------------------------------


def test_client_params_merge_with_request_params_request_wins(any_server: TestServer) -> None:
    c = mylib.Client(params={"a": "client", "keep": "1"}, verify=any_server.ca_path or True)
    echo = c.get(any_server.url + "/get", params={"a": "request", "b": "2"}).json()
    assert echo["args"] == {"a": "request", "keep": "1", "b": "2"}


def test_client_headers_merge_with_request_headers_request_wins(
    any_server: TestServer,
) -> None:
    c = mylib.Client(
        headers={"X-Client": "c", "X-Both": "client"}, verify=any_server.ca_path or True
    )
    echo = c.get(any_server.url + "/headers", headers={"x-both": "request"}).json()
    sent = {name.lower(): value for name, value in echo["headers"].items()}
    assert sent["x-client"] == "c"
    assert sent["x-both"] == "request"  # one value, not "client, request"


def test_request_header_none_removes_client_header(any_server: TestServer) -> None:
    # Documented on AsyncClient.request: "None values remove a client header" (requests does).
    c = mylib.Client(headers={"X-Drop": "client"}, verify=any_server.ca_path or True)
    dropped: dict[str, str | None] = {"X-Drop": None}
    echo = c.get(any_server.url + "/headers", headers=dropped).json()  # type: ignore[arg-type]
    assert "x-drop" not in {name.lower() for name in echo["headers"]}


@pytest.mark.parametrize(
    ("base_path", "url", "expected_path"),
    [
        ("/anything/v1", "items", "/anything/v1/items"),
        ("/anything/v1", "/items", "/anything/v1/items"),
        ("/anything/v1/", "items/2", "/anything/v1/items/2"),
    ],
)
def test_relative_url_joins_base_url(
    any_server: TestServer, base_path: str, url: str, expected_path: str
) -> None:
    c = mylib.Client(any_server.url + base_path, verify=any_server.ca_path or True)
    echo = c.get(url, params={"q": "1"}).json()
    assert echo["path"] == expected_path
    assert echo["args"] == {"q": "1"}


def test_absolute_url_ignores_base_url(any_server: TestServer) -> None:
    c = mylib.Client(any_server.url + "/anything/v1", verify=any_server.ca_path or True)
    assert c.get(any_server.url + "/get").json()["path"] == "/get"


# -- the response --------------------------------------------------------------------------


def test_response_attributes(client: mylib.Client, any_server: TestServer) -> None:
    url = any_server.url + "/redirect/2"
    response = client.get(url)
    assert response.status_code == 200
    assert response.reason == "OK"
    assert response.ok is True
    assert response.headers["content-type"] == response.headers["Content-Type"]
    assert isinstance(response.url, str) and response.url == any_server.url + "/get"
    assert isinstance(response.content, bytes)
    assert response.encoding == "utf-8"
    assert response.json() == __import__("json").loads(response.text)
    assert isinstance(response.elapsed, datetime.timedelta)
    assert response.elapsed > datetime.timedelta(0)
    assert [r.status_code for r in response.history] == [302, 302]
    assert response.history[0].url == url
    assert response.request.method == "GET"
    assert str(response.request.url) == any_server.url + "/get"


def test_text_decodes_declared_charset(client: mylib.Client, any_server: TestServer) -> None:
    response = client.get(any_server.url + "/text", params={"charset": "latin-1"})
    assert response.encoding == "iso8859-1"
    assert response.text == "Héllo, wörld! Café crème, naïve façade."


def test_error_status_is_not_ok(client: mylib.Client, any_server: TestServer) -> None:
    response = client.get(any_server.url + "/status/404")
    assert response.status_code == 404
    assert response.ok is False


def test_raise_for_status_returns_self_on_success(
    client: mylib.Client, any_server: TestServer
) -> None:
    response = client.get(any_server.url + "/json")
    assert response.raise_for_status() is response


@pytest.mark.parametrize("status", [404, 500])
def test_raise_for_status_raises_with_response(
    client: mylib.Client, any_server: TestServer, status: int
) -> None:
    response = client.get(f"{any_server.url}/status/{status}")
    with pytest.raises(mylib.HTTPStatusError) as info:
        response.raise_for_status()
    assert info.value.response is response
    assert str(status) in str(info.value)


# -- bad input and closed clients ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://user:secret@example.com/file",
        "file:///etc/passwd",
        "http://user:secret@/no-host",
        "no-scheme-at-all",
    ],
)
def test_invalid_url_raises_invalid_url_without_credentials(url: str) -> None:
    c = mylib.Client()
    with pytest.raises(mylib.InvalidURL) as info:
        c.get(url)
    assert isinstance(info.value, ValueError)
    assert "secret" not in str(info.value)
    if "example.com" in url:
        assert "ftp://example.com/file" in str(info.value)


def test_credentials_in_url_never_reach_repr_or_errors(server: TestServer) -> None:
    port = _refusing_port_socket()
    try:
        c = mylib.Client(f"http://user:secret@127.0.0.1:{port.getsockname()[1]}")
        assert "secret" not in repr(c)
        with pytest.raises(mylib.ConnectError) as info:
            c.get("/x")
        assert "secret" not in str(info.value)
    finally:
        port.close()


def test_closed_client_raises_client_closed_error(client: mylib.Client, server: TestServer) -> None:
    c = mylib.Client()
    c.get(server.url + "/get")
    c.close()
    assert c.closed
    with pytest.raises(mylib.ClientClosedError):
        c.get(server.url + "/get")
    c.close()  # closing twice is harmless


def test_client_closed_before_any_request_raises_client_closed_error(server: TestServer) -> None:
    c = mylib.Client()
    c.close()
    with pytest.raises(mylib.ClientClosedError) as info:
        c.get(server.url + "/get")
    assert isinstance(info.value, RuntimeError)


def test_with_block_closes_the_client(server: TestServer) -> None:
    with mylib.Client() as c:
        assert c.get(server.url + "/get").status_code == 200
        assert not c.closed
    assert c.closed
    with pytest.raises(mylib.ClientClosedError):
        c.get(server.url + "/get")


# -- threads and the loop thread --------------------------------------------------------------


def test_32_threads_sharing_one_client_each_get_their_own_responses(
    client: mylib.Client, any_server: TestServer
) -> None:
    results: dict[int, list[object]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(32)

    def worker(i: int) -> None:
        try:
            start.wait(30)
            results[i] = [client.get(f"{any_server.url}/echo-id/{i}-{n}").json() for n in range(3)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results == {i: [{"id": f"{i}-{n}"} for n in range(3)] for i in range(32)}


def test_blocking_call_inside_run_raises_loop_thread_error_at_once(server: TestServer) -> None:
    c = mylib.Client()

    async def misuse() -> None:
        c.get(server.url + "/get")

    with pytest.raises(mylib.LoopThreadError) as info:
        mylib.run(misuse(), timeout=10)
    assert isinstance(info.value, RuntimeError)
    assert "deadlock" in str(info.value)
    assert c.get(server.url + "/get").status_code == 200  # nothing was harmed


def test_blocking_call_inside_run_leaves_no_never_awaited_warning(server: TestServer) -> None:
    proc = run_python(
        f"""
        import mylib

        c = mylib.Client()

        async def misuse():
            c.get({server.url + "/get"!r})

        try:
            mylib.run(misuse(), timeout=10)
        except mylib.LoopThreadError:
            print("refused")
        print(c.get({server.url + "/get"!r}).status_code)
        """
    )
    assert_silent(proc)
    assert proc.stdout.split() == ["refused", "200"]


# -- mylib.run -----------------------------------------------------------------------------------


def test_run_returns_the_coroutine_result(any_server: TestServer) -> None:
    async def both() -> list[int]:
        async with mylib.AsyncClient(verify=any_server.ca_path or True) as ac:
            responses = await asyncio.gather(
                ac.get(any_server.url + "/echo-id/1"), ac.get(any_server.url + "/echo-id/2")
            )
        return [int(r.json()["id"]) for r in responses]

    assert mylib.run(both(), timeout=30) == [1, 2]


def test_run_timeout_raises_timeout_error_and_cancels_the_coroutine() -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(mylib.TimeoutError) as info:
        mylib.run(forever(), timeout=0.2)
    assert isinstance(info.value, builtins.TimeoutError)
    assert cancelled.wait(10)


def test_run_timeout_cancels_a_request_on_the_server(server: TestServer) -> None:
    tag = _tag()

    async def slow() -> None:
        await mylib.AsyncClient().get(f"{server.url}/delay/30?tag={tag}")

    with pytest.raises(builtins.TimeoutError):
        mylib.run(slow(), timeout=0.5)
    assert server.wait_for("cancelled", tag)


def test_run_passes_the_coroutine_exception_through() -> None:
    async def fail() -> None:
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        mylib.run(fail())


def test_run_rejects_a_non_coroutine() -> None:
    with pytest.raises(TypeError):
        mylib.run(lambda: None)  # type: ignore[arg-type]


# -- transport errors ----------------------------------------------------------------------------


def _refusing_port_socket() -> socket.socket:
    # Bound but not listening: connecting is refused, and no other test can take the port.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def test_connection_refused_raises_connect_error() -> None:
    sock = _refusing_port_socket()
    try:
        with pytest.raises(mylib.ConnectError) as info:
            mylib.Client().get(f"http://127.0.0.1:{sock.getsockname()[1]}/x")
    finally:
        sock.close()
    assert isinstance(info.value, mylib.TransportError)
    assert info.value.__cause__ is not None


def test_connection_dropped_mid_body_raises_read_error(
    client: mylib.Client, any_server: TestServer
) -> None:
    with pytest.raises(mylib.TransportError) as info:
        client.get(f"{any_server.url}/gone-midway?tag={_tag()}")
    assert isinstance(info.value, mylib.ReadError)
    # The client survives a broken connection.
    assert client.get(any_server.url + "/get").status_code == 200


def test_tls_server_with_unknown_ca_raises_tls_error(tls_server: TestServer) -> None:
    with pytest.raises(mylib.TLSError) as info:
        mylib.Client().get(tls_server.url + "/get")
    assert isinstance(info.value, mylib.ConnectError)


def test_tls_verify_false_accepts_unknown_ca(tls_server: TestServer) -> None:
    assert mylib.Client(verify=False).get(tls_server.url + "/get").status_code == 200


def test_timeout_raises_timeout_error_and_server_sees_cancellation(
    client: mylib.Client, any_server: TestServer
) -> None:
    tag = _tag()
    with pytest.raises(mylib.TimeoutError):
        client.get(f"{any_server.url}/delay/30?tag={tag}", timeout=0.3)
    assert any_server.wait_for("cancelled", tag)
    assert client.get(any_server.url + "/get").status_code == 200


def test_ctrl_c_landing_while_the_request_is_scheduled_still_cancels_it(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen in a Jupyter kernel under load: SIGINT was handled inside run_coroutine_threadsafe
    # after the task had been scheduled, the caller got KeyboardInterrupt, and the request ran
    # on, orphaned, for its full 30 s.
    real = asyncio.run_coroutine_threadsafe
    tag = _tag()

    def interrupted_after_scheduling(coro: Any, loop: asyncio.AbstractEventLoop) -> Any:
        monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", real)
        real(coro, loop)
        assert server.wait_for("started", tag, timeout=30)
        raise KeyboardInterrupt

    c = mylib.Client()
    monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", interrupted_after_scheduling)
    with pytest.raises(KeyboardInterrupt):
        c.get(f"{server.url}/delay/30?tag={tag}")
    assert server.wait_for("cancelled", tag), "the orphaned request was never cancelled"
    assert c.get(server.url + "/get").status_code == 200
