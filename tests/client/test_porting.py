"""A requests script ported by changing the import (issue 10): what it relies on works.

Each test names the requests behaviour a ported script meets, against a real local server
and through both clients where it applies.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import ssl
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import trustme
from yarl import URL

import mylib
from tests._raw import Conn, RawServer, recording_server
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client

__all__ = ["make_client"]


def test_bool_of_a_response_is_ok_so_if_not_r_catches_errors(
    make_client: ClientFactory, server: TestServer
) -> None:
    client = make_client(server.url)
    assert client.get("/status/200") and client.get("/status/302", follow_redirects=False)
    assert not client.get("/status/404") and not client.get("/status/503")
    with mylib.Client(server.url).stream("GET", "/status/500") as r:
        assert not r


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_json_with_nan_or_infinity_is_refused_before_sending(
    make_client: ClientFactory, server: TestServer, bad: float
) -> None:
    before = server.hits.get("/anything", 0)
    with pytest.raises(ValueError, match="NaN or Infinity"):
        make_client(server.url).post("/anything", json={"price": bad})
    assert server.hits.get("/anything", 0) == before
    # Valid JSON still goes out as before.
    assert make_client(server.url).post("/anything", json={"p": 1.5}).json()["json"] == {"p": 1.5}


@pytest.mark.parametrize(
    ("option", "way"),
    [
        ({"allow_redirects": False}, "follow_redirects="),
        ({"stream": True}, r"client.stream\(method, url, ...\)"),
        ({"proxies": {"http": "http://p:1"}}, "proxy= .one proxy URL"),
    ],
)
def test_requests_keywords_name_the_mylib_way(
    make_client: ClientFactory, option: dict[str, object], way: str
) -> None:
    with pytest.raises(TypeError, match=way) as info:
        make_client("http://127.0.0.1:9").get("/", **option)
    assert "build_request()" not in str(info.value)  # no private or internal name
    with pytest.raises(TypeError, match=r"unknown option.*spam="):
        mylib.Client().build_request("GET", "http://h/", spam=1)  # type: ignore[call-arg]


def test_a_requests_timeout_pair_is_connect_and_read(
    make_client: ClientFactory, server: TestServer
) -> None:
    client = make_client(server.url)
    assert client.build_request("GET", "/get", timeout=(3, 27)).timeout == mylib.Timeout(
        connect=3, read=27
    )
    assert client.get("/get", timeout=(5, 30)).ok
    with pytest.raises(ValueError, match="timeout read"):
        mylib.Client(timeout=(5, -1))


def test_a_stream_body_is_read_on_first_access_of_content_text_or_json(
    server: TestServer,
) -> None:
    client = mylib.Client(server.url)
    with client.stream("GET", "/json") as r:
        assert r.json() == client.get("/json").json()  # read in full on first access
        assert r.closed and r.content == r.text.encode()
    with client.stream("GET", "/bytes/1000") as r:
        assert len(r.content) == 1000


def test_content_after_iterating_a_stream_says_the_body_was_consumed(
    server: TestServer,
) -> None:
    with mylib.Client(server.url).stream("GET", "/bytes/1000") as r:
        assert sum(len(c) for c in r.iter_bytes(100)) == 1000
        with pytest.raises(RuntimeError, match="consumed by iterating"):
            r.content  # noqa: B018
    with mylib.Client(server.url).stream("GET", "/bytes/1000") as unread:
        pass
    with pytest.raises(mylib.ClientClosedError, match="closed"):
        unread.text  # noqa: B018  (the with block closed it unread)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_ca_bundle_from_the_environment_is_trusted(
    make_client: ClientFactory, tls_server: TestServer, monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    url = tls_server.url + "/get"
    with pytest.raises(mylib.TLSError):
        make_client().get(url)  # the test CA is not a system CA
    monkeypatch.setenv(variable, str(tls_server.ca_path))
    assert make_client().get(url).ok
    with pytest.raises(mylib.TLSError):
        make_client(trust_env=False).get(url)  # trust_env=False ignores the environment


def test_an_explicit_verify_wins_over_the_environment(
    tls_server: TestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    url = tls_server.url + "/get"
    with pytest.raises(mylib.TLSError):
        mylib.Client().get(url)  # the environment's bundle is used...
    assert mylib.Client(verify=str(tls_server.ca_path)).get(url).ok  # ...unless verify= says
    assert mylib.Client(verify=False).get(url).ok


def test_a_ca_bundle_variable_naming_no_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURL_CA_BUNDLE", "/no/such/bundle.pem")
    with pytest.raises(ValueError, match="CURL_CA_BUNDLE names a CA bundle that does not exist"):
        mylib.Client()


def test_an_environment_proxy_without_a_scheme_is_http(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def proxy(conn: Conn) -> None:
        while server.record(await conn.read_request()) is not None:
            await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied")

    with RawServer(proxy) as server:
        monkeypatch.setenv("HTTP_PROXY", server.url.removeprefix("http://"))
        assert make_client().get("http://example.test/x").text == "proxied"
        assert server.requests[-1].request_line == "GET http://example.test/x HTTP/1.1"


def test_an_unusable_environment_proxy_names_the_variable_not_the_target(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", "ftp://puser:psecret@h:1080")
    with pytest.raises(mylib.InvalidURL, match="ALL_PROXY='ftp://h:1080'") as info:
        make_client().get("http://example.test/target")
    assert "psecret" not in str(info.value) and "/target" not in str(info.value)


@pytest.mark.parametrize("url", ["http://*example.com/", "http://.example.com/", "http://a..b/"])
def test_a_host_that_is_no_host_name_fails_before_any_lookup(url: str) -> None:
    with pytest.raises(mylib.InvalidURL, match="is not a host name"):
        mylib.Client().build_request("GET", url)


@pytest.mark.parametrize(
    "url", ["http://[::1]:9/", "http://my_host.local/", "http://münchen.de/", "http://h./"]
)
def test_real_host_names_still_pass(url: str) -> None:
    assert mylib.Client().build_request("GET", url).url.host


def test_a_cert_file_that_does_not_exist_is_named_when_the_client_is_made(
    tmp_path: Any,
) -> None:
    missing = str(tmp_path / "client.pem")
    with pytest.raises(ValueError, match="cert= names a file that does not exist"):
        mylib.Client(cert=missing)
    present = tmp_path / "present.pem"
    present.write_text("not checked before the key")
    with pytest.raises(ValueError, match=r"client\.key"):
        mylib.Client(cert=(str(present), str(tmp_path / "client.key")))


@pytest.fixture
def wire() -> Iterator[RawServer]:
    """Answers 200 to every request and keeps each as it arrived on the wire."""
    with recording_server() as server:
        yield server


def test_bytes_where_requests_takes_bytes(make_client: ClientFactory, wire: RawServer) -> None:
    client = make_client(wire.url, timeout=10)
    value = "Basic é".encode()
    assert client.request(b"GET", "/", headers={b"X-Name": value}).ok  # type: ignore[arg-type, dict-item]
    sent = wire.requests[-1]
    assert sent.method == "GET"
    assert sent.headers_named("X-Name") == [value.decode("latin-1")]  # the bytes, as given
    with pytest.raises(mylib.InvalidHeader, match="not UTF-8"):
        client.get("/", headers={"X-Raw": b"\xff"})  # type: ignore[dict-item]
    assert client.post(
        "/", data={"a": b"v\xff", "b": "text"}, files={"f": ("x.txt", b"data"), "none": None}
    ).ok
    body = wire.requests[-1].body
    assert b'name="a"\r\n\r\nv\xff\r\n' in body  # the bytes themselves, not "b'v\\xff'"
    assert b'name="none"' not in body  # a None file is skipped, as requests does


class _Reader:
    """A file-like object that is no io.IOBase: only read()."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


class _AsyncReader(_Reader):
    async def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        return self._data.read(size)


@pytest.mark.parametrize("kind", ["reader", "async-reader", "tempfile"])
def test_uploads_from_any_file_like_object(
    make_client: ClientFactory, wire: RawServer, kind: str
) -> None:
    def body() -> Any:
        if kind == "reader":
            return _Reader(b"the body")
        if kind == "async-reader":
            return _AsyncReader(b"the body")
        file = tempfile.NamedTemporaryFile()  # noqa: SIM115 (closed by the upload)
        file.write(b"the body")
        file.flush()
        file.seek(0)
        return file

    client = make_client(wire.url, timeout=10)
    assert client.post("/", content=body()).ok
    assert wire.requests[-1].body == b"the body"
    assert client.post("/", data={"k": "v"}, files={"f": ("name.txt", body())}).ok
    assert b'filename="name.txt"\r\n' in wire.requests[-1].body
    assert b"\r\n\r\nthe body\r\n" in wire.requests[-1].body


def test_a_file_closed_before_sending_is_named(make_client: ClientFactory) -> None:
    closed = io.BytesIO(b"x")
    closed.close()
    with pytest.raises(ValueError, match="content= is a closed file"):
        make_client("http://127.0.0.1:9").post("/", content=closed)
    with pytest.raises(ValueError, match=r"files\['upload'\] is a closed file"):
        make_client("http://127.0.0.1:9").post("/", files={"upload": closed})


def test_each_response_in_history_has_the_hops_before_it(
    make_client: ClientFactory, server: TestServer
) -> None:
    r = make_client(server.url).get("/redirect/3")
    assert [len(hop.history) for hop in r.history] == [0, 1, 2]
    assert r.history[2].history[1] is r.history[1]
    assert len(r.history) == 3


def test_request_url_is_a_str_equal_to_what_requests_shows(
    make_client: ClientFactory, server: TestServer
) -> None:
    r = make_client().get(server.url + "/get", params={"q": "a b"})
    theirs = requests.get(server.url + "/get", params={"q": "a b"}, timeout=30)
    assert isinstance(r.request.url, str)
    assert r.request.url == r.url == theirs.request.url == server.url + "/get?q=a+b"
    assert json.loads(json.dumps({"url": r.request.url})) == {"url": r.url}
    # ...and still has its parts, as transport and hook authors use them.
    assert (r.request.url.path, r.request.url.query["q"]) == ("/get", "a b")
    port = int(server.url.rsplit(":", 1)[1])
    assert (r.request.url.host, r.request.url.port) == ("127.0.0.1", port)
    assert str(r.request.url.parsed.with_path("/other")) == server.url + "/other"
    assert pickle.loads(pickle.dumps(r.request.url)) == r.request.url


def test_an_empty_path_is_written_as_requests_writes_it(
    make_client: ClientFactory, server: TestServer
) -> None:
    r = make_client().get(server.url)
    assert r.url == r.request.url == requests.get(server.url, timeout=30).url
    assert r.url.endswith("/")


def test_the_request_of_an_error_has_a_str_url(
    make_client: ClientFactory, server: TestServer
) -> None:
    with pytest.raises(mylib.HTTPStatusError) as caught:
        make_client().get(server.url + "/status/404").raise_for_status()
    assert caught.value.request is not None
    assert caught.value.request.url == server.url + "/status/404"
    with pytest.raises(mylib.ConnectError) as refused:
        make_client().get("http://127.0.0.1:9/x")
    assert refused.value.request is not None and refused.value.request.url == "http://127.0.0.1:9/x"


# -- nothing is sent twice behind the user's back (item 4) ----------------------------------

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _dropping_server() -> RawServer:
    """Reads each request and closes the connection without a word."""

    async def handler(conn: Conn) -> None:
        server.record(await conn.read_request())

    server = RawServer(handler)
    return server


def _stale_keep_alive_server() -> RawServer:
    """Answers the first request of each connection and keeps it open; a second request on
    it is read and the connection closed unanswered, as when a server's idle timeout fires
    just as the client reuses the connection."""

    async def handler(conn: Conn) -> None:
        if server.record(await conn.read_request()) is None:
            return
        await conn.send(_OK)
        server.record(await conn.read_request())

    server = RawServer(handler)
    return server


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
def test_a_fresh_connection_that_drops_is_not_sent_again(
    make_client: ClientFactory, method: str
) -> None:
    with _dropping_server() as raw:
        with pytest.raises(mylib.TransportError) as caught:
            make_client().request(method, raw.url + "/x")
        assert [r.method for r in raw.requests] == [method]
        assert caught.value.attempts == 1


def test_a_pooled_connection_the_server_closed_is_sent_again_and_counted(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with _stale_keep_alive_server() as raw:
        c = make_client()
        assert c.get(raw.url + "/first").attempts == 1
        with caplog.at_level("DEBUG", logger="mylib"):
            r = c.get(raw.url + "/second")
        assert (r.status_code, r.text, r.attempts) == (200, "ok", 2)
        assert [w.request_line for w in raw.requests] == [
            "GET /first HTTP/1.1", "GET /second HTTP/1.1", "GET /second HTTP/1.1",
        ]  # fmt: skip
        assert raw.connections == 2
        assert any("kept-alive connection" in m for m in caplog.messages)


def test_a_post_on_a_pooled_connection_the_server_closed_is_not_sent_again(
    make_client: ClientFactory,
) -> None:
    with _stale_keep_alive_server() as raw:
        c = make_client()
        c.get(raw.url + "/first")
        with pytest.raises(mylib.TransportError, match="not sent again") as caught:
            c.post(raw.url + "/order", content=b"one pizza")
        assert [w.method for w in raw.requests] == ["GET", "POST"]
        assert caught.value.attempts == 1


# -- a 307/308 sends a file body again, rewound (item 5) -------------------------------------


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_that_keeps_the_method_sends_a_file_again_from_its_start(
    make_client: ClientFactory, server: TestServer, tmp_path: Any, status: int
) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(b"header-to-skip|the payload")
    with open(path, "rb") as f:
        f.seek(len(b"header-to-skip|"))  # a body starts where the file is, as in requests
        r = make_client().post(
            f"{server.url}/redirect-to?url=/anything&status_code={status}", content=f
        )
    assert [h.status_code for h in r.history] == [status]
    assert (r.json()["method"], r.json()["body"]) == ("POST", "the payload")


def test_a_redirect_that_keeps_the_method_sends_uploaded_files_again(
    make_client: ClientFactory, server: TestServer
) -> None:
    r = make_client().post(
        f"{server.url}/redirect-to?url=/anything&status_code=307",
        data={"note": "hi"},
        files={"doc": ("a.txt", io.BytesIO(b"file body"))},
    )
    assert r.json()["files"] == {"doc": "file body"} and r.json()["form"] == {"note": "hi"}


def test_a_body_that_cannot_be_sent_again_is_named_on_a_307(
    make_client: ClientFactory, server: TestServer
) -> None:
    with pytest.raises(mylib.TransportError, match="cannot be replayed"):
        make_client().post(
            f"{server.url}/redirect-to?url=/anything&status_code=307",
            content=iter([b"once", b" only"]),
        )


def test_a_file_sent_is_left_open_for_its_owner_as_requests_leaves_it(
    make_client: ClientFactory, server: TestServer, tmp_path: Any
) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"contents")
    c = make_client()
    with open(path, "rb") as f, open(path) as text:
        assert c.post(server.url + "/anything", content=f).json()["body"] == "contents"
        assert c.post(server.url + "/anything", files={"f": text}).json()["files"] == {
            "f": "contents"
        }
        assert not f.closed and not text.closed
        f.seek(0)
        assert c.put(server.url + "/anything", content=f).json()["body"] == "contents"


def test_request_headers_show_what_the_engine_added_as_requests_shows_them(
    make_client: ClientFactory, server: TestServer
) -> None:
    r = make_client().post(server.url + "/anything", content=b"12345")
    sent = r.request.headers
    assert sent["Host"] == server.url.removeprefix("http://")
    assert sent["Content-Length"] == "5" and "gzip" in sent["Accept-Encoding"]
    echoed = {k.lower(): v for k, v in r.json()["headers"].items()}
    assert {k.lower(): v for k, v in sent.items()} == echoed


def test_a_multipart_request_shows_its_boundary_and_a_placeholder_body(
    make_client: ClientFactory, server: TestServer
) -> None:
    r = make_client().post(
        server.url + "/anything", data={"note": "secret-note"}, files={"doc": ("a.txt", b"x")}
    )
    assert r.request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    shown = repr(r.request.content)
    assert shown == "<multipart/form-data body: fields note; files doc (a.txt)>"
    assert "secret-note" not in shown


# -- per-request verify=, cert=, proxy= (item 14) --------------------------------------------


def test_verify_for_one_request_trusts_or_skips_as_asked(
    make_client: ClientFactory, tls_server: TestServer
) -> None:
    strict = make_client()
    with pytest.raises(mylib.TLSError):
        strict.get(tls_server.url + "/get")
    assert strict.get(tls_server.url + "/get", verify=tls_server.ca_path).ok
    assert strict.get(tls_server.url + "/get", verify=False).ok
    lax = make_client(verify=False)
    assert lax.get(tls_server.url + "/get").ok
    with pytest.raises(mylib.TLSError):  # verify=True on a client that does not verify
        lax.get(tls_server.url + "/get", verify=True)


def test_a_cert_for_one_request_that_does_not_exist_is_named(make_client: ClientFactory) -> None:
    with pytest.raises(ValueError, match=r"no-such-cert\.pem"):
        make_client().get("https://127.0.0.1:9/", cert="/tmp/no-such-cert.pem")


def test_a_proxy_for_one_request_carries_it_alone(
    make_client: ClientFactory, server: TestServer
) -> None:
    from tests.client.test_proxies import ForwardingProxy

    proxy = ForwardingProxy()
    try:
        c = make_client(trust_env=False)
        assert c.get(server.url + "/get", proxy=proxy.url).ok
        assert c.get(server.url + "/anything").ok
        assert [line.split(" ")[1] for line in proxy.seen] == [server.url + "/get"]
    finally:
        proxy.stop()
    with pytest.raises(mylib.InvalidURL, match="proxy must be an http"):
        make_client().get(server.url, proxy="ftp://127.0.0.1:1080")


# -- review round: what the items above must not break --------------------------------------


def test_a_responses_request_can_be_sent_again_or_changed(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    form = c.post(server.url + "/anything", files={"f": ("a.txt", b"hello")}, data={"k": "v"})
    again = c.send(form.request)
    assert again.json()["files"] == {"f": "hello"} and again.json()["form"] == {"k": "v"}
    posted = c.post(server.url + "/anything", content=b"abc")
    longer = c.send(posted.request.replace(content=b"abcdef"))
    assert longer.json()["body"] == "abcdef"
    localhost = server.url.replace("127.0.0.1", "localhost")
    moved = c.send(c.get(server.url + "/get").request.replace(url=localhost + "/anything"))
    assert moved.json()["headers"]["Host"] == localhost.removeprefix("http://")


def test_an_auth_flow_or_hook_may_assign_request_url(
    make_client: ClientFactory, server: TestServer
) -> None:
    class Signing(mylib.Auth):
        def auth_flow(self, request: mylib.Request) -> Iterator[mylib.Request]:
            request.url = str(request.url) + "?signed=1"  # type: ignore[assignment]
            yield request

    r = make_client(auth=Signing()).get(server.url + "/anything")
    assert r.json()["args"] == {"signed": "1"}

    def move(request: mylib.Request) -> None:
        request.url = request.url.parsed.with_path("/anything/moved")  # type: ignore[assignment]

    c = make_client(event_hooks={"request": [move]})
    assert c.get(server.url + "/get").json()["url"].endswith("/anything/moved")
    with pytest.raises(mylib.InvalidURL, match="ftp"):
        mylib.Request("GET", "http://h/").url = "ftp://h/"  # type: ignore[assignment]


def test_request_url_still_compares_and_works_as_the_yarl_url_it_was(
    make_client: ClientFactory, server: TestServer
) -> None:
    url = make_client().get(server.url + "/get?a=1").request.url
    assert url == URL(server.url + "/get?a=1")
    assert (url != URL(server.url + "/get?a=1")) is False
    assert str(url.with_path("/x")) == server.url + "/x"
    assert str(url.origin()) == server.url


def test_a_request_made_by_hand_checks_its_tls_and_proxy() -> None:
    with pytest.raises(TypeError, match="tls must be"):
        mylib.Request("GET", "http://h/", tls="yes")  # type: ignore[arg-type]
    with pytest.raises(mylib.InvalidURL, match="proxy must be an http"):
        mylib.Request("GET", "http://h/", proxy="ftp://127.0.0.1:1")  # type: ignore[arg-type]


def test_a_tls_clash_says_which_side_gave_the_certificate(tmp_path: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("client.test")
    pem = tmp_path / "client.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    client = mylib.Client(cert=str(pem))
    with pytest.raises(ValueError, match="the client's cert= cannot be combined with this req"):
        client.build_request("GET", "https://h/", verify=ssl.create_default_context())


def test_a_stale_connection_resends_a_seekable_body_and_names_why_a_post_is_not(
    make_client: ClientFactory,
) -> None:
    with _stale_keep_alive_server() as raw:
        c = make_client()
        c.get(raw.url + "/first")
        r = c.put(raw.url + "/up", content=io.BytesIO(b"data"))
        assert (r.status_code, r.attempts) == (200, 2)
        assert [w.body for w in raw.requests[1:]] == [b"data", b"data"]
        with pytest.raises(mylib.TransportError, match="POST is not idempotent") as caught:
            c.post(raw.url + "/order", content=b"pizza")
        assert "without retries" not in str(caught.value)


def test_a_resend_that_cannot_connect_still_counts_both_sends(
    make_client: ClientFactory,
) -> None:
    async def handler(conn: Conn) -> None:
        if server.record(await conn.read_request()) is None:
            return
        await conn.send(_OK)
        server.record(await conn.read_request())
        server._server.close()  # nobody listens any more: the resend is refused

    server = RawServer(handler)
    with server:
        c = make_client()
        c.get(server.url + "/first")
        with pytest.raises(mylib.ConnectError) as caught:
            c.get(server.url + "/second")
        assert caught.value.attempts == 2


def test_resends_use_none_of_the_retries(make_client: ClientFactory) -> None:
    async def handler(conn: Conn) -> None:
        server.record(request := await conn.read_request())
        if request is None:
            return
        if server.connections == 2:
            return  # a fresh connection that drops: a failure the retry policy handles
        await conn.send(_OK)
        if server.connections == 1:
            server.record(await conn.read_request())  # then closed unanswered: stale

    server = RawServer(handler)
    with server:
        c = make_client(retries=mylib.Retry(1, backoff_factor=0))
        c.get(server.url + "/first")
        r = c.get(server.url + "/second")
        assert (r.status_code, r.attempts, server.connections) == (200, 3, 3)


def test_a_stream_says_how_many_sends_it_took() -> None:
    with _stale_keep_alive_server() as raw:
        c = mylib.Client()
        c.get(raw.url + "/first")
        with c.stream("GET", raw.url + "/second") as r:
            assert r.attempts == 2
