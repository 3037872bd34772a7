"""The transport seam: ``transport=`` replaces or wraps the engine, and the pipeline still runs.

Through both clients (``make_client``). A ``MockTransport`` answers from a function; a
transport of the user's own wraps mylib's aiohttp engine against the real loopback server.
"""

from __future__ import annotations

import asyncio
import datetime

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client

__all__ = ["make_client"]

API = "https://api.example.test"


def test_a_mock_transport_answers_and_sees_the_request_mylib_built(
    make_client: ClientFactory,
) -> None:
    seen: list[mylib.Request] = []

    def handler(request: mylib.Request) -> mylib.Response:
        seen.append(request)
        return mylib.Response(201, json={"path": request.url.path}, headers={"X-Id": "7"})

    client = make_client(
        API + "/v1", headers={"X-Client": "yes"}, auth=mylib.BearerAuth("t0ken"),
        params={"key": "k"}, transport=mylib.MockTransport(handler),
    )
    r = client.post("/items", json={"name": "new"}, params={"page": 2})
    assert (r.status_code, r.reason, r.json()) == (201, "Created", {"path": "/v1/items"})
    assert r.headers["X-Id"] == "7" and r.headers["Content-Type"] == "application/json"
    assert r.request is seen[0] and r.url == API + "/v1/items?key=k&page=2"
    sent = seen[0]
    assert sent.headers["X-Client"] == "yes" and sent.headers["Authorization"] == "Bearer t0ken"
    assert sent.json() == {"name": "new"}


def test_an_async_handler_is_awaited(make_client: ClientFactory) -> None:
    async def handler(request: mylib.Request) -> mylib.Response:
        await asyncio.sleep(0)
        return mylib.Response(200, text="from a coroutine")

    r = make_client(transport=mylib.MockTransport(handler)).get(API + "/x")
    assert r.text == "from a coroutine" and r.encoding == "utf-8"


def test_redirects_and_retries_still_run_above_a_mock_transport(
    make_client: ClientFactory,
) -> None:
    calls: list[str] = []

    def handler(request: mylib.Request) -> mylib.Response:
        calls.append(request.url.path)
        if request.url.path == "/old":
            return mylib.Response(301, headers={"Location": "/new"})
        if len(calls) == 2:
            raise mylib.ConnectError("refused (mocked)", request=request)
        return mylib.Response(200, content=b"here")

    client = make_client(
        transport=mylib.MockTransport(handler), retries=mylib.Retry(2, backoff_factor=0)
    )
    r = client.get(API + "/old")
    assert calls == ["/old", "/new", "/new"]
    assert (r.content, r.attempts, [h.status_code for h in r.history]) == (b"here", 2, [301])


def test_a_mock_transport_serves_streams() -> None:
    client = mylib.Client(transport=mylib.MockTransport(lambda r: mylib.Response(200, text="ab")))
    with client.stream("GET", API + "/s") as r:
        assert list(r.iter_bytes(1)) == [b"a", b"b"]


def test_a_handler_that_returns_no_response_is_a_clear_error(make_client: ClientFactory) -> None:
    client = make_client(transport=mylib.MockTransport(lambda r: {"status": 200}))
    with pytest.raises(TypeError, match=r"returned dict, not a mylib\.Response"):
        client.get(API + "/x")


def test_transport_must_be_a_transport(make_client: ClientFactory) -> None:
    with pytest.raises(TypeError, match=r"transport must be a mylib\.AsyncTransport"):
        make_client(transport=lambda request: None)
    with pytest.raises(TypeError, match="needs a callable handler"):
        mylib.MockTransport("not a function")  # type: ignore[arg-type]


class _Counting(mylib.AsyncTransport):
    """A user's transport that wraps another one."""

    def __init__(self, inner: mylib.AsyncTransport) -> None:
        self.inner = inner
        self.sent: list[str] = []

    async def send(self, request: mylib.Request, *, stream: bool = False) -> mylib.Response:
        self.sent.append(f"{request.method} {request.url.path} stream={stream}")
        return await self.inner.send(request, stream=stream)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_transport_of_your_own_can_wrap_the_engine(
    make_client: ClientFactory, server: TestServer
) -> None:
    wrapper = _Counting(mylib.AsyncClient().transport)
    client = make_client(server.url, transport=wrapper)
    assert client.transport is wrapper
    assert client.get("/redirect/2").json()["path"] == "/get"
    assert wrapper.sent == ["GET /redirect/2 stream=False", "GET /redirect/1 stream=False",
                            "GET /get stream=False"]


def test_a_wrapped_engine_streams_from_the_real_server(server: TestServer) -> None:
    wrapper = _Counting(mylib.AsyncClient().transport)
    with mylib.Client(server.url, transport=wrapper).stream("GET", "/bytes/5000") as r:
        assert len(r.read()) == 5000
    assert wrapper.sent == ["GET /bytes/5000 stream=True"]


def test_the_default_transport_is_mylibs_engine() -> None:
    assert isinstance(mylib.Client().transport, mylib.AsyncTransport)
    assert not isinstance(mylib.Client().transport, mylib.MockTransport)


# -- Response and Request as values --------------------------------------------------------------


def test_response_is_a_public_constructor() -> None:
    assert mylib.Response(404).reason == "Not Found"
    r = mylib.Response(200, text="hé", headers=[("X-A", "1"), ("X-A", "2")])
    assert r.content == "hé".encode() and r.text == "hé"
    assert r.headers.getall("X-A") == ["1", "2"]
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    own = mylib.Response(200, json=[1], headers={"Content-Type": "application/x+json"})
    assert own.headers["Content-Type"] == "application/x+json" and own.json() == [1]
    assert mylib.Response(204).content == b""
    with pytest.raises(TypeError, match="only one of content=, text=, json="):
        mylib.Response(200, text="a", content=b"b")
    with pytest.raises(TypeError, match="content= must be bytes"):
        mylib.Response(200, content="text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="status_code must be an int"):
        mylib.Response("200")  # type: ignore[arg-type]


def test_the_keyword_form_of_response_keeps_working() -> None:
    request = mylib.Request("GET", "http://h/x")
    r = mylib.Response(
        status_code=200, reason="Fine", headers=CIMultiDictProxy(CIMultiDict(A="1")),
        url="http://h/x", content=b"{}", request=request,
        elapsed=datetime.timedelta(seconds=1),
    )
    assert (r.reason, r.headers["A"], r.json(), r.request) == ("Fine", "1", {}, request)


def test_request_replace_carries_every_field_it_is_not_told_to_change() -> None:
    original = mylib.Request(
        "POST", "http://h/x", headers=CIMultiDict(A="1"), content=b"body",
        timeout=mylib.Timeout(5), follow_redirects=False, auth=mylib.BearerAuth("t"),
    )
    copy = original.replace(method="PUT")
    for name in mylib.Request.__slots__:
        if name not in ("method", "headers"):
            assert getattr(copy, name) is getattr(original, name), name
    assert copy.method == "PUT" and copy.headers == original.headers
    copy.headers["B"] = "2"
    assert "B" not in original.headers  # the copy's headers are its own
    with pytest.raises(TypeError, match="no field"):
        original.replace(verb="GET")


def test_a_same_origin_redirect_keeps_the_per_request_auth(
    make_client: ClientFactory, server: TestServer
) -> None:
    r = make_client(server.url).get("/redirect/1", auth=("user", "pw"))
    assert isinstance(r.request.auth, mylib.BasicAuth)
    assert r.json()["headers"]["Authorization"].startswith("Basic ")


def test_a_cross_origin_redirect_drops_the_auth_with_its_header(
    make_client: ClientFactory, server: TestServer
) -> None:
    other = server.url.replace("127.0.0.1", "localhost")
    r = make_client(server.url).get(
        "/redirect-to", params={"url": other + "/get"}, auth=mylib.BearerAuth("secret")
    )
    assert r.url == other + "/get" and r.request.auth is None
    assert "Authorization" not in r.json()["headers"]



def test_a_handler_may_hand_out_one_response_for_every_request() -> None:
    shared = mylib.Response(200, json={"ok": True})
    client = mylib.Client(API, transport=mylib.MockTransport(lambda request: shared))
    first, second = client.get("/one"), client.get("/two")
    assert (first.url, second.url) == (API + "/one", API + "/two")
    assert second.request.url.path == "/two" and shared.request is None
    with client.stream("GET", "/three") as r:
        assert r.read() == b'{"ok": true}'
    assert client.get("/four").json() == {"ok": True}  # the stream took nothing from it


class _HandMade(mylib.AsyncTransport):
    """A transport that answers with hand-made responses, leaving ``request`` out."""

    async def send(self, request: mylib.Request, *, stream: bool = False) -> mylib.Response:
        if request.url.path == "/a":
            return mylib.Response(302, headers={"Location": "/b"})
        return mylib.Response(404)


def test_the_pipeline_fills_in_the_request_a_transport_left_out(
    make_client: ClientFactory,
) -> None:
    client = make_client(API, transport=_HandMade())
    r = client.get("/a")
    assert r.status_code == 404 and r.url == API + "/b" and r.request.url.path == "/b"
    assert [h.url for h in r.history] == [API + "/a"]
    with pytest.raises(mylib.HTTPStatusError, match=r"404 Not Found \(client error\) for GET"):
        r.raise_for_status()


def test_closing_a_client_leaves_a_transport_it_was_given_open(server: TestServer) -> None:
    owner = mylib.Client(server.url)
    assert owner.get("/get").status_code == 200
    borrower = mylib.Client(server.url, transport=owner.transport)
    assert borrower.get("/get").status_code == 200
    borrower.close()
    assert borrower.closed and owner.get("/get").status_code == 200


def test_request_replace_checks_and_converts_what_it_is_given() -> None:
    request = mylib.Request("GET", "http://h/x")
    assert request.url.path == "/x"  # a str URL is checked and parsed, as build_request does it
    copy = request.replace(
        url="http://h/y", headers={"Cookie": "a=b"}, timeout=5, auth=("u", "p"), method="post"
    )
    assert (copy.url.path, copy.headers["Cookie"], copy.timeout, copy.method) == (
        "/y", "a=b", mylib.Timeout(5), "POST"
    )
    assert isinstance(copy.auth, mylib.BasicAuth)
    with pytest.raises(mylib.InvalidURL):
        request.replace(url="/relative")
    with pytest.raises(TypeError, match="follow_redirects"):
        request.replace(follow_redirects="yes")


def test_response_json_none_is_a_json_null_body() -> None:
    assert mylib.Response(200, json=None).content == b"null"
    headers = CIMultiDict({"A": "1"})
    r = mylib.Response(200, headers=headers)
    headers["A"] = "2"
    assert r.headers["A"] == "1"  # the response keeps its own copy
