"""Careless input and odd servers end in mylib's own errors (issue 11, defects 2, 5 and 7).

Header names that are not tokens and values with CR/LF are refused before anything is sent;
a bad cookie name, a server charset that is no text encoding, and JSON nested too deep all
end inside ``mylib.Error``; framing headers (Content-Length, Transfer-Encoding) that do not fit
the body never reach the wire. Checked against a real loopback server where a server is
needed, a raw one where the test reads the bytes sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

import mylib
from tests._raw import RawServer, WireRequest, recording_server
from tests._server import TestServer
from tests.client._support import AppServer, ClientFactory, make_client

__all__ = ["make_client"]


@pytest.mark.parametrize("name", ["X-A:", "", " X-Debug", "X A", "X\tA", "Ünï"])
def test_a_header_name_that_is_not_a_token_is_refused_before_sending(
    make_client: ClientFactory, server: TestServer, name: str
) -> None:
    client = make_client(server.url)
    before = server.hits.get("/get", 0)
    with pytest.raises(mylib.InvalidHeader, match="cannot be sent") as info:
        client.get("/get", headers={name: "1"})
    assert isinstance(info.value, ValueError) and repr(name) in str(info.value)
    with pytest.raises(mylib.InvalidHeader):
        make_client(server.url, headers={name: "1"})
    assert server.hits.get("/get", 0) == before  # nothing was sent


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\x00b"])
def test_a_header_value_with_cr_lf_or_nul_is_refused(
    make_client: ClientFactory, server: TestServer, value: str
) -> None:
    before = server.hits.get("/anything", 0)
    with pytest.raises(mylib.InvalidHeader, match="header injection"):
        make_client(server.url).get("/anything", headers={"X-A": value})
    assert server.hits.get("/anything", 0) == before


def test_valid_names_still_go_out(make_client: ClientFactory, server: TestServer) -> None:
    echoed = make_client(server.url).get(
        "/anything", headers={"X-Odd!#$%&'*+-.^_`|~1": "v", "X-Empty": ""}
    ).json()["headers"]
    assert echoed["X-Odd!#$%&'*+-.^_`|~1"] == "v"


def test_a_bad_cookie_name_is_a_mylib_error(make_client: ClientFactory) -> None:
    with pytest.raises(mylib.InvalidHeader, match="cookies has the name 'a b'"):
        make_client("http://127.0.0.1:9").get("/", cookies={"a b": "1"})


@pytest.fixture(scope="module")
def odd_server() -> object:
    async def charset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.Response(body=b"plain text",
                            headers={"Content-Type": f"text/plain; charset={name}"})

    async def deep(request: web.Request) -> web.Response:
        return web.Response(body=b"[" * 100_000 + b"]" * 100_000,
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/charset/{name}", charset)
    app.router.add_get("/deep", deep)
    srv = AppServer(app)
    yield srv
    srv.stop()


@pytest.mark.parametrize("charset", ["rot13", "base64", "zlib", "uu"])
def test_a_charset_that_is_no_text_encoding_falls_back_like_an_unknown_one(
    odd_server: AppServer, charset: str
) -> None:
    client = mylib.Client(odd_server.url)
    r = client.get(f"/charset/{charset}")
    assert r.encoding is None and r.text == "plain text"
    with client.stream("GET", f"/charset/{charset}") as s:
        assert "".join(s.iter_text()) == "plain text"


def test_a_charset_that_fails_to_decode_is_a_decoding_error(odd_server: AppServer) -> None:
    r = mylib.get(odd_server.url + "/charset/utf-8")
    r.encoding = "no-such-codec"
    with pytest.raises(mylib.DecodingError, match="no-such-codec"):
        _ = r.text


def test_json_nested_too_deep_is_a_decoding_error(odd_server: AppServer) -> None:
    r = mylib.get(odd_server.url + "/deep")
    with pytest.raises(mylib.DecodingError, match="not JSON"):
        r.json()
    with pytest.raises(RecursionError):
        json.loads(r.content)  # what the stdlib alone raises


def test_digest_parameters_are_quoted_so_a_quote_cannot_inject_a_field() -> None:
    import urllib.request

    sent: list[str] = []

    def server(request: mylib.Request) -> mylib.Response:
        if "Authorization" not in request.headers:
            return mylib.Response(401, headers={
                "WWW-Authenticate": 'Digest realm="r", nonce="n1", qop="auth", opaque="o\\"p"'
            })
        sent.append(request.headers["Authorization"])
        return mylib.Response(200)

    client = mylib.Client(transport=mylib.MockTransport(server))
    user = 'u", realm="evil'
    assert client.get("http://h.test/x", auth=mylib.DigestAuth(user, "pw")).status_code == 200
    scheme, _, params = sent[0].partition(" ")
    assert scheme == "Digest"
    fields = urllib.request.parse_http_list(params)
    assert sum(f.strip().startswith("realm=") for f in fields) == 1
    parsed = urllib.request.parse_keqv_list([f.strip() for f in fields])
    assert parsed["realm"] == "r"
    assert parsed["username"].replace('\\"', '"') == user  # one field, escaped
    with pytest.raises(mylib.InvalidHeader, match="CR, LF or NUL"):
        mylib.DigestAuth("u\r\nX-Injected: 1", "pw")


# -- framing headers (defect 2) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def wire() -> Iterator[RawServer]:
    """Answers 200 to every request and keeps each as it arrived on the wire."""
    with recording_server() as server:
        yield server


def _last(server: RawServer) -> WireRequest:
    return server.requests[-1]


@pytest.mark.parametrize(
    "body", [lambda: b"hello", lambda: iter([b"hel", b"lo"])], ids=["bytes", "iterator"]
)
def test_transfer_encoding_chunked_is_framed_by_mylib_never_with_a_content_length(
    make_client: ClientFactory, wire: RawServer, body: Any
) -> None:
    client = make_client(wire.url, timeout=10)
    assert client.post("/", headers={"Transfer-Encoding": "chunked"}, content=body()).ok
    sent = _last(wire)
    assert sent.chunked and sent.body == b"hello"
    assert sent.headers_named("Transfer-Encoding") == ["chunked"]
    assert sent.headers_named("Content-Length") == []


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"Transfer-Encoding": "gzip"}, "only 'chunked'"),
        ({"Transfer-Encoding": "chunked, gzip"}, "only 'chunked'"),
        ({"Transfer-Encoding": "chunked", "Content-Length": "5"}, "cannot both be sent"),
        ({"Content-Length": "1"}, "does not match the body, which is 5 bytes"),
        ({"Content-Length": "9"}, "does not match the body, which is 5 bytes"),
        ({"Content-Length": "-5"}, "one number of bytes"),
        ([("Content-Length", "5"), ("Content-Length", "6")], "one number of bytes"),
    ],
)
def test_framing_headers_that_do_not_fit_the_body_are_refused_before_sending(
    make_client: ClientFactory, wire: RawServer, headers: Any, match: str
) -> None:
    before = len(wire.requests)
    with pytest.raises(mylib.InvalidHeader, match=match) as info:
        make_client(wire.url, timeout=10).post("/", headers=headers, content=b"hello")
    assert isinstance(info.value, ValueError)
    assert len(wire.requests) == before  # nothing reached the server


def test_a_matching_content_length_is_sent_once(
    make_client: ClientFactory, wire: RawServer, tmp_path: Any
) -> None:
    client = make_client(wire.url, timeout=10)
    assert client.post("/", headers={"Content-Length": "5"}, content=b"hello").ok
    assert _last(wire).headers_named("Content-Length") == ["5"]
    path = tmp_path / "body.bin"
    path.write_bytes(b"file body")
    with path.open("rb") as file:
        assert client.put("/", headers={"Content-Length": "9"}, content=file).ok
    assert _last(wire).body == b"file body"
    with path.open("rb") as file, pytest.raises(mylib.InvalidHeader, match="9 bytes"):
        client.put("/", headers={"Content-Length": "4"}, content=file)


@pytest.mark.parametrize(
    ("length", "match"), [(4, "longer than its Content-Length 4"), (6, "short of its")]
)
def test_a_streamed_body_that_breaks_its_content_length_stops_the_request(
    make_client: ClientFactory, wire: RawServer, length: int, match: str
) -> None:
    client = make_client(wire.url, timeout=10)
    before = len(wire.requests)
    with pytest.raises(mylib.InvalidHeader, match=match):
        client.post("/", headers={"Content-Length": str(length)}, content=iter([b"hel", b"lo"]))
    # The server never got a whole request: not a truncated one to answer 200, nor the rest
    # of a longer body to read as a request of its own.
    assert len(wire.requests) == before
    assert client.get("/").ok  # and the client goes on


def test_a_request_hook_that_sets_a_wrong_content_length_is_caught_too(
    make_client: ClientFactory, wire: RawServer
) -> None:
    def bad(request: mylib.Request) -> None:
        request.headers["Content-Length"] = "1"

    client = make_client(wire.url, timeout=10, event_hooks={"request": [bad]})
    with pytest.raises(mylib.InvalidHeader, match="does not match"):
        client.post("/", content=b"hello")


def test_transfer_encoding_chunked_with_files_is_chunked_only(
    make_client: ClientFactory, wire: RawServer
) -> None:
    client = make_client(wire.url, timeout=10)
    assert client.post(
        "/", headers={"Transfer-Encoding": "chunked"}, files={"f": ("a.txt", b"data")}
    ).ok
    sent = _last(wire)
    assert sent.chunked and b"data" in sent.body
    assert sent.headers_named("Content-Length") == []


def test_transfer_encoding_chunked_without_a_body_writes_no_stray_bytes(
    make_client: ClientFactory, wire: RawServer
) -> None:
    client = make_client(wire.url, timeout=10)
    before = len(wire.requests)
    assert client.get("/a", headers={"Transfer-Encoding": "chunked"}).ok
    assert client.get("/b").ok
    # Two requests, not a third made of a lone end-of-chunks marker.
    assert [r.request_line for r in wire.requests[before:]] == [
        "GET /a HTTP/1.1", "GET /b HTTP/1.1"
    ]
