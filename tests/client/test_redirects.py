"""Redirects: followed like requests, methods rewritten, credentials kept to their origin."""

from __future__ import annotations

from urllib.parse import quote

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


def test_redirects_are_followed_with_history(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    r = make_client(verify=verify_for(any_server)).get(any_server.url + "/redirect/3")
    assert r.status_code == 200 and r.url == any_server.url + "/get"
    assert [h.status_code for h in r.history] == [302, 302, 302]
    assert [h.url for h in r.history] == [
        any_server.url + p for p in ("/redirect/3", "/redirect/2", "/redirect/1")
    ]


def test_too_many_redirects_raises_with_the_last_response(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client(max_redirects=2)
    with pytest.raises(mylib.TooManyRedirects) as info:
        c.get(server.url + "/redirect/5")
    assert info.value.response is not None and info.value.response.status_code == 302


def test_follow_redirects_false_returns_the_3xx(
    make_client: ClientFactory, server: TestServer
) -> None:
    r = make_client().get(server.url + "/redirect/1", follow_redirects=False)
    assert r.status_code == 302 and r.history == []


@pytest.mark.parametrize(
    ("status", "method"), [(301, "GET"), (302, "GET"), (303, "GET"), (307, "POST"), (308, "POST")]
)
def test_post_redirect_method_rewriting(
    make_client: ClientFactory, server: TestServer, status: int, method: str
) -> None:
    url = f"{server.url}/redirect-to?url=/anything&status_code={status}"
    echo = make_client().post(url, content=b"payload").json()
    assert echo["method"] == method
    assert echo["body"] == ("payload" if method == "POST" else "")


def test_authorization_and_cookies_are_not_sent_to_another_origin(
    make_client: ClientFactory, server: TestServer, tls_server: TestServer
) -> None:
    # 127.0.0.1 and localhost are different origins on the same server.
    other = server.url.replace("127.0.0.1", "localhost") + "/anything"
    c = make_client(auth=("u", "secret"), headers={"Proxy-Authorization": "Basic eA=="})
    echo = c.get(
        f"{server.url}/redirect-to?url={quote(other)}", cookies={"session": "abc"}
    ).json()
    assert echo["url"].startswith("http://localhost")
    lowered = {k.lower() for k in echo["headers"]}
    assert not lowered & {"authorization", "cookie", "proxy-authorization"}


def test_client_cookies_are_not_sent_to_another_origin(
    make_client: ClientFactory, server: TestServer
) -> None:
    # Regression: client-level cookies were seeded into aiohttp's jar as "shared" cookies,
    # which aiohttp sends to every host, a cross-origin redirect target included.
    other = server.url.replace("127.0.0.1", "localhost") + "/anything"
    c = make_client(cookies={"sid": "SECRET"})
    assert c.get(server.url + "/anything").json()["headers"]["Cookie"] == "sid=SECRET"
    echo = c.get(f"{server.url}/redirect-to?url={quote(other)}").json()
    assert echo["url"].startswith("http://localhost")
    assert "cookie" not in {k.lower() for k in echo["headers"]}


def test_credentials_kept_on_a_same_origin_redirect(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(auth=("u", "secret"), verify=verify_for(any_server))
    echo = c.get(any_server.url + "/redirect-to?url=/anything", cookies={"s": "1"}).json()
    assert echo["headers"]["Authorization"].startswith("Basic ")
    assert echo["headers"]["Cookie"] == "s=1"


def test_https_to_http_downgrade_drops_authorization(
    make_client: ClientFactory, server: TestServer, tls_server: TestServer
) -> None:
    target = quote(server.url + "/anything")
    c = make_client(auth=mylib.BearerAuth("tok"), verify=tls_server.ca_path)
    echo = c.get(f"{tls_server.url}/redirect-to?url={target}").json()
    assert "Authorization" not in echo["headers"]


def test_head_is_not_redirected_by_default(make_client: ClientFactory, server: TestServer) -> None:
    assert make_client().head(server.url + "/redirect/1").status_code == 302
