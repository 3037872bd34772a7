"""Careless input and odd servers end in mylib's own errors (issue 11, defects 5 and 7).

Header names that are not tokens and values with CR/LF are refused before anything is sent;
a bad cookie name, a server charset that is no text encoding, and JSON nested too deep all
end inside ``mylib.Error``. Checked against a real loopback server where a server is needed.
"""

from __future__ import annotations

import json

import pytest
from aiohttp import web

import mylib
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
