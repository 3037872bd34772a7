"""The test server itself, checked with plain ``requests`` before mylib's tests rely on it."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
import requests

from tests._server import TestServer, pattern_bytes
from tests._subproc import assert_silent, run_python


def _get(srv: TestServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        kwargs.pop("method", "GET"),
        srv.url + path,
        verify=srv.ca_path or True,
        timeout=10,
        **kwargs,
    )


def _tag() -> str:
    return uuid.uuid4().hex


def test_anything_echoes_method_args_headers_and_json(any_server: TestServer) -> None:
    r = _get(
        any_server,
        "/anything/x/y?a=1&a=2&b=3",
        method="PATCH",
        json={"k": [1, 2]},
        headers={"X-Test": "yes"},
    )
    assert r.status_code == 200
    data = r.json()
    assert data["method"] == "PATCH"
    assert data["path"] == "/anything/x/y"
    assert data["args"] == {"a": ["1", "2"], "b": "3"}
    assert data["headers"]["X-Test"] == "yes"
    assert data["json"] == {"k": [1, 2]}
    assert data["body"] == '{"k": [1, 2]}'


def test_anything_echoes_urlencoded_and_multipart_forms(server: TestServer) -> None:
    form = _get(server, "/anything", method="POST", data={"a": "1", "b": ["2", "3"]}).json()
    assert form["form"] == {"a": "1", "b": ["2", "3"]}
    assert form["json"] is None
    multi = _get(
        server, "/anything", method="POST", data={"a": "1"}, files={"f": ("f.txt", b"hello")}
    ).json()
    assert multi["form"] == {"a": "1"}
    assert multi["files"] == {"f": "hello"}


def test_tls_server_is_trusted_only_through_its_ca(tls_server: TestServer) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_server.url + "/get", timeout=10)
    assert requests.get(tls_server.url + "/get", verify=tls_server.ca_path, timeout=10).ok
    localhost = tls_server.url.replace("127.0.0.1", "localhost")
    assert requests.get(localhost + "/get", verify=tls_server.ca_path, timeout=10).ok


def test_status_and_retry_after(server: TestServer) -> None:
    r = _get(server, "/status/429?retry_after=1")
    assert (r.status_code, r.headers["Retry-After"], r.content) == (429, "1", b"")
    assert _get(server, "/status/503", method="POST").status_code == 503
    r = _get(server, "/status/302", allow_redirects=False)
    assert r.headers["Location"] == "/get"


def test_bytes_and_stream_bytes_are_deterministic(any_server: TestServer) -> None:
    assert _get(any_server, "/bytes/70000").content == pattern_bytes(70000)
    r = _get(any_server, "/stream-bytes/70000?chunk_size=999", stream=True)
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert b"".join(r.iter_content(4096)) == pattern_bytes(70000)


def test_documents_and_charsets(server: TestServer) -> None:
    assert "slideshow" in _get(server, "/json").json()
    latin = _get(server, "/text?charset=latin-1")
    assert latin.encoding == "latin-1"
    assert latin.text == "Héllo, wörld! Café crème, naïve façade."
    assert latin.content == latin.text.encode("latin-1")
    assert "charset" not in _get(server, "/text?charset=").headers["Content-Type"]
    assert _get(server, "/html").headers["Content-Type"].startswith("text/html")


def test_redirect_chains(any_server: TestServer) -> None:
    r = _get(any_server, "/redirect/3")
    assert [h.status_code for h in r.history] == [302, 302, 302]
    assert r.json()["path"] == "/get"
    r = _get(any_server, "/absolute-redirect/2")
    assert r.history[0].headers["Location"] == any_server.url + "/absolute-redirect/1"
    assert r.url == any_server.url + "/get"
    r = _get(any_server, "/redirect-to?url=/anything/there&status_code=307", method="POST")
    assert (r.history[0].status_code, r.json()["method"]) == (307, "POST")


def test_cookies_set_then_echoed(server: TestServer) -> None:
    with requests.Session() as s:
        r = s.get(server.url + "/cookies/set?a=1&b=2", timeout=10)
    assert r.json() == {"cookies": {"a": "1", "b": "2"}}


def test_basic_and_bearer_auth(server: TestServer) -> None:
    assert _get(server, "/basic-auth/u/p").status_code == 401
    assert _get(server, "/basic-auth/u/p", auth=("u", "wrong")).status_code == 401
    assert _get(server, "/basic-auth/u/p", auth=("u", "p")).json()["user"] == "u"
    assert _get(server, "/bearer").headers["WWW-Authenticate"] == "Bearer"
    ok = _get(server, "/bearer", headers={"Authorization": "Bearer t0k"})
    assert ok.json() == {"authenticated": True, "token": "t0k"}


def test_echo_id_and_hits(server: TestServer) -> None:
    tag = _tag()
    before = server.hits[f"/echo-id/{tag}"]
    assert _get(server, f"/echo-id/{tag}").json() == {"id": tag}
    assert server.hits[f"/echo-id/{tag}"] == before + 1
    assert _get(server, "/headers", headers={"X-A": "b"}).json()["headers"]["X-A"] == "b"


def test_gone_midway_breaks_the_body(any_server: TestServer) -> None:
    tag = _tag()
    with pytest.raises(requests.RequestException):
        _get(any_server, f"/gone-midway?tag={tag}")
    assert any_server.wait_for("aborted", tag)


def test_delay_handler_is_cancelled_when_client_disconnects(any_server: TestServer) -> None:
    tag = _tag()
    port = int(any_server.url.rsplit(":", 1)[1])
    sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
    if any_server.ca_path:
        sock = any_server.client_ssl_context().wrap_socket(sock, server_hostname="127.0.0.1")
    with sock:
        sock.sendall(f"GET /delay/30?tag={tag} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert any_server.wait_for("started", tag)
    assert any_server.wait_for("cancelled", tag)
    assert ("finished", tag) not in any_server.events


def test_delay_finishes(server: TestServer) -> None:
    tag = _tag()
    assert _get(server, f"/delay/0.01?tag={tag}").json()["args"] == {"tag": tag}
    assert server.events.index(("started", tag)) < server.events.index(("finished", tag))


def test_wait_for_times_out_with_false(server: TestServer) -> None:
    assert server.wait_for("never-recorded", timeout=0.01) is False


def test_stop_cancels_in_flight_handlers_silently() -> None:
    proc = run_python(
        """
        import os, socket, requests
        from tests._server import TestServer

        srv = TestServer(tls=True)
        assert requests.get(srv.url + "/get", verify=srv.ca_path, timeout=10).ok
        port = int(srv.url.rsplit(":", 1)[1])
        with srv.client_ssl_context().wrap_socket(
            socket.create_connection(("127.0.0.1", port)), server_hostname="localhost"
        ) as sock:
            sock.sendall(b"GET /delay/30?tag=t HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            assert srv.wait_for("started", "t")
            srv.stop()  # with a handler still in flight
        assert srv.events[-1] == ("cancelled", "t"), srv.events
        assert not os.path.exists(srv.ca_path)
        print("stopped", repr(srv))
        """
    )
    assert_silent(proc)
    assert "stopped" in proc.stdout


def test_client_ssl_context_needs_tls(server: TestServer) -> None:
    with pytest.raises(RuntimeError, match="tls=True"):
        server.client_ssl_context()
