"""Parity with requests: the same scenarios through requests and mylib against the same
local server, comparing what a user observes. Differences that remain are deliberate and
listed in README ("Deliberate differences from requests"); each is asserted here as such."""

from __future__ import annotations

import codecs
from typing import Any

import pytest
import requests

import mylib
from tests._server import TestServer


def _both(server: TestServer, method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
    verify = server.ca_path or True
    theirs = requests.request(method, server.url + path, verify=verify, timeout=30, **kwargs)
    ours = mylib.Client(verify=verify).request(method, server.url + path, **kwargs)
    return theirs, ours


_SCENARIOS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/get?a=1&a=2&b=x", {}),
    ("GET", "/get", {"params": {"q": "café", "n": 3}}),
    ("POST", "/anything", {"json": {"name": "ünï", "n": [1, 2]}}),
    ("POST", "/anything", {"data": {"field": "value", "list": ["a", "b"]}}),
    ("PUT", "/anything", {"data": b"raw-bytes"}),
    ("POST", "/anything", {"files": {"up": ("a.txt", b"file body", "text/plain")}}),
    ("GET", "/json", {}),
    ("GET", "/text", {}),
    ("GET", "/text?charset=latin-1", {}),
    ("GET", "/html", {}),
    ("GET", "/bytes/1000", {}),
    ("GET", "/status/204", {}),
    ("GET", "/status/404", {}),
    ("GET", "/status/503", {}),
    ("DELETE", "/anything", {}),
    ("GET", "/basic-auth/u/p", {"auth": ("u", "p")}),
    ("GET", "/basic-auth/u/p", {"auth": ("u", "wrong")}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), _SCENARIOS)
def test_status_body_and_encoding_match_requests(
    any_server: TestServer, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    theirs, ours = _both(any_server, method, path, **kwargs)
    assert ours.status_code == theirs.status_code
    assert ours.reason == theirs.reason
    assert ours.ok == theirs.ok
    assert ours.url == theirs.url
    assert ours.headers.get("Content-Type") == theirs.headers.get("Content-Type")
    if ours.headers.get("Content-Type", "").startswith("application/json"):
        mine, other = ours.json(), theirs.json()
        for echo in (mine, other):
            if isinstance(echo, dict) and "headers" in echo:
                # User-Agent and Connection differ by design; a JSON body is sent compact
                # (no spaces, UTF-8 rather than \u escapes): compared as parsed JSON instead.
                echo.pop("headers")
                if echo.get("json") is not None:
                    echo.pop("body")
        assert mine == other
    else:
        assert ours.content == theirs.content
        if theirs.encoding is not None and "charset" in ours.headers.get("Content-Type", ""):
            assert codecs.lookup(ours.encoding).name == codecs.lookup(theirs.encoding).name
            assert ours.text == theirs.text


def test_text_without_charset_is_utf8_not_latin1(server: TestServer) -> None:
    # Deliberate difference: requests falls back to ISO-8859-1 (mojibake) for text/*.
    theirs, ours = _both(server, "GET", "/text?charset=")
    assert theirs.encoding == "ISO-8859-1" and "Ã©" in theirs.text
    assert ours.encoding is None and "Café" in ours.text


def test_redirect_history_matches_requests(any_server: TestServer) -> None:
    theirs, ours = _both(any_server, "GET", "/redirect/3")
    assert [h.status_code for h in ours.history] == [h.status_code for h in theirs.history]
    assert [h.url for h in ours.history] == [h.url for h in theirs.history]
    assert ours.url == theirs.url


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_post_redirect_method_matches_requests(server: TestServer, status: int) -> None:
    path = f"/redirect-to?url=/anything&status_code={status}"
    theirs, ours = _both(server, "POST", path, data=b"body")
    assert ours.json()["method"] == theirs.json()["method"]
    assert ours.json()["body"] == theirs.json()["body"]


def test_cookies_set_by_a_redirect_are_kept_like_requests(any_server: TestServer) -> None:
    verify = any_server.ca_path or True
    session = requests.Session()
    session.verify = verify
    theirs = session.get(any_server.url + "/cookies/set?flavour=oat", timeout=30)
    client = mylib.Client(verify=verify)
    ours = client.get(any_server.url + "/cookies/set?flavour=oat")
    assert ours.json() == theirs.json() == {"cookies": {"flavour": "oat"}}
    assert ours.history[0].cookies == dict(theirs.history[0].cookies)
    again = client.get(any_server.url + "/cookies").json()
    assert again == session.get(any_server.url + "/cookies", timeout=30).json()


def test_per_request_cookies_match_requests(server: TestServer) -> None:
    theirs, ours = _both(server, "GET", "/cookies", cookies={"a": "1", "b": "two"})
    assert ours.json() == theirs.json()


@pytest.mark.parametrize("status", [400, 404, 418, 500, 503])
def test_raise_for_status_matches_requests(server: TestServer, status: int) -> None:
    theirs, ours = _both(server, "GET", f"/status/{status}")
    with pytest.raises(requests.HTTPError) as their_error:
        theirs.raise_for_status()
    with pytest.raises(mylib.HTTPStatusError) as our_error:
        ours.raise_for_status()
    assert our_error.value.response.status_code == their_error.value.response.status_code
    assert str(status) in str(our_error.value)


@pytest.mark.parametrize("status", [200, 204, 302])
def test_no_raise_for_non_error_statuses_like_requests(server: TestServer, status: int) -> None:
    theirs = requests.get(f"{server.url}/status/{status}", allow_redirects=False, timeout=30)
    ours = mylib.get(f"{server.url}/status/{status}", follow_redirects=False)
    theirs.raise_for_status()
    assert ours.raise_for_status() is ours


def test_json_on_a_non_json_body_raises_a_value_error_like_requests(server: TestServer) -> None:
    theirs, ours = _both(server, "GET", "/html")
    with pytest.raises(ValueError):
        theirs.json()
    with pytest.raises(ValueError, match="DOCTYPE"):
        ours.json()


def test_links_match_requests(server: TestServer) -> None:
    link = '<https://h/p2>; rel="next", <https://h/p9>; rel="last"'
    theirs = requests.Response()
    theirs.headers["Link"] = link
    ours = mylib.get(server.url + "/get")
    from multidict import CIMultiDict, CIMultiDictProxy

    ours.headers = CIMultiDictProxy(CIMultiDict({"Link": link}))
    assert ours.links == theirs.links


@pytest.mark.parametrize(
    ("name", "ours", "theirs"),
    [
        ("max_redirects", 10, requests.Session().max_redirects),
        ("follow HEAD redirects", False, False),
    ],
)
def test_documented_defaults(name: str, ours: object, theirs: object) -> None:
    # max_redirects 10 (aiohttp's) vs requests' 30 is a listed deliberate difference.
    if name == "max_redirects":
        assert (ours, theirs) == (10, 30)
    else:
        assert ours == theirs


def test_connection_error_types_correspond(server: TestServer) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
    with pytest.raises(mylib.ConnectError):
        mylib.get(url)

