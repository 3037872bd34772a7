"""Cookies: the client's live jar (domain, path, secure and expiry aware), per-request ones."""

from __future__ import annotations

import asyncio
import http.cookiejar
import pathlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


def test_jar_keeps_cookies_from_an_ip_host(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(verify=verify_for(any_server))
    r = c.get(any_server.url + "/cookies/set?flavour=oat")
    assert r.history[0].cookies == {"flavour": "oat"}
    assert c.get(any_server.url + "/cookies").json() == {"cookies": {"flavour": "oat"}}


def test_request_cookies_win_over_client_cookies_and_are_not_kept(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client(cookies={"a": "client", "b": "kept"})
    once = c.get(server.url + "/cookies", cookies={"a": "request"}).json()
    assert once == {"cookies": {"a": "request", "b": "kept"}}
    assert c.get(server.url + "/cookies").json() == {"cookies": {"a": "client", "b": "kept"}}


# -- the live jar (issue 10, item 1) --------------------------------------------------------


def _set(server: TestServer, *set_cookie: str) -> str:
    """The URL whose response carries these Set-Cookie headers, exactly as given."""
    return server.url + "/set-cookie?" + urlencode([("v", value) for value in set_cookie])


def _sent(client: Any, url: str) -> str | None:
    """The Cookie header the server received for ``url`` (None when there was none)."""
    headers = client.get(url).json()["headers"]
    return {k.lower(): v for k, v in headers.items()}.get("cookie")


def test_the_client_jar_shows_what_servers_set(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    assert not c.cookies and len(c.cookies) == 0
    c.get(_set(server, "session=abc; Path=/"))
    assert c.cookies["session"] == "abc"
    assert c.cookies.get("session", domain="127.0.0.1") == "abc"
    assert c.cookies.get("session", domain="example.com") is None
    assert c.cookies.get("absent", "default") == "default"
    assert list(c.cookies) == ["session"] and "session" in c.cookies and len(c.cookies) == 1
    assert dict(c.cookies) == {"session": "abc"}
    assert isinstance(c.cookies, mylib.Cookies)
    assert [(x.name, x.domain) for x in c.cookies.jar] == [("session", "127.0.0.1")]
    with pytest.raises(KeyError):
        c.cookies["absent"]


def test_cookies_set_deleted_and_cleared_on_the_client_are_what_is_sent(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    c.get(server.url + "/cookies/set?flavour=oat")
    c.cookies["mine"] = "1"
    c.cookies.set("scoped", "2", domain="127.0.0.1", path="/cookies")
    assert c.get(server.url + "/cookies").json()["cookies"] == {
        "flavour": "oat", "mine": "1", "scoped": "2",
    }  # fmt: skip
    del c.cookies["flavour"]
    c.cookies.delete("scoped", domain="127.0.0.1")
    assert c.get(server.url + "/cookies").json()["cookies"] == {"mine": "1"}
    c.cookies.clear()
    assert c.get(server.url + "/cookies").json()["cookies"] == {}
    with pytest.raises(KeyError):
        del c.cookies["mine"]


def test_a_cookie_goes_only_where_its_path_says(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    c.get(_set(server, "p=1; Path=/anything/private"))
    assert _sent(c, server.url + "/anything/private") == "p=1"
    assert _sent(c, server.url + "/anything/private/deeper") == "p=1"
    assert _sent(c, server.url + "/anything/privateer") is None
    assert _sent(c, server.url + "/anything/public") is None


def test_the_most_specific_path_is_sent_first(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    c.get(_set(server, "a=root; Path=/", "b=deep; Path=/anything/x"))
    assert _sent(c, server.url + "/anything/x") == "b=deep; a=root"


def test_a_server_cookie_goes_only_to_the_host_that_set_it(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    c.get(_set(server, "ip=1"))
    localhost = server.url.replace("127.0.0.1", "localhost")
    c.get(localhost + "/set-cookie?v=name%3D2")
    assert _sent(c, server.url + "/anything") == "ip=1"
    assert _sent(c, localhost + "/anything") == "name=2"


def test_a_secure_cookie_is_sent_over_https_only(
    make_client: ClientFactory, server: TestServer, tls_server: TestServer
) -> None:
    c = make_client(verify=verify_for(tls_server))
    c.get(_set(tls_server, "s=1; Secure", "plain=2"))
    assert _sent(c, tls_server.url + "/anything") == "s=1; plain=2"
    assert _sent(c, server.url + "/anything") == "plain=2"  # same host, plain http


def test_a_cookie_the_server_expires_is_dropped(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    c.get(_set(server, "gone=1", "kept=2"))
    c.get(_set(server, "gone=; Max-Age=0"))
    assert dict(c.cookies) == {"kept": "2"}
    assert _sent(c, server.url + "/anything") == "kept=2"


def test_a_cookie_a_redirect_changes_is_sent_with_its_new_value(
    make_client: ClientFactory, server: TestServer
) -> None:
    # Guards the hop after a redirect against carrying the Cookie header of the hop before.
    c = make_client()
    c.get(server.url + "/cookies/set?session=old")
    r = c.get(server.url + "/cookies/set?session=new")
    assert r.json() == {"cookies": {"session": "new"}}
    assert r.history[0].request.headers["Cookie"] == "session=old"


def test_a_login_saved_to_a_file_is_restored_by_another_client(
    make_client: ClientFactory, server: TestServer, tmp_path: pathlib.Path
) -> None:
    path = str(tmp_path / "cookies.txt")
    c = make_client(cookies=http.cookiejar.MozillaCookieJar(path))
    c.get(_set(server, "login=token; Max-Age=3600; Path=/"))
    c.cookies.jar.save()  # type: ignore[attr-defined]
    restored = http.cookiejar.MozillaCookieJar(path)
    restored.load()
    assert make_client(cookies=restored).get(server.url + "/cookies").json() == {
        "cookies": {"login": "token"}
    }


def test_a_requests_cookie_jar_is_taken_as_it_is(
    make_client: ClientFactory, server: TestServer
) -> None:
    jar = requests.cookies.RequestsCookieJar()
    jar.set("here", "1", domain="127.0.0.1", path="/")
    jar.set("elsewhere", "2", domain="example.com", path="/")
    c = make_client(cookies=jar)
    assert c.get(server.url + "/cookies").json() == {"cookies": {"here": "1"}}
    c.get(server.url + "/cookies/set?from_server=3")
    assert jar.get("from_server") == "3"  # live: the client's jar is the one given
    other = requests.cookies.RequestsCookieJar()
    other.set("per_request", "4", domain="127.0.0.1", path="/")
    echo = make_client().get(server.url + "/cookies", cookies=other).json()
    assert echo == {"cookies": {"per_request": "4"}}


def test_assigning_client_cookies_replaces_the_jar(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client(cookies={"old": "1"})
    c.cookies = {"new": "2"}
    assert c.get(server.url + "/cookies").json() == {"cookies": {"new": "2"}}
    jar = http.cookiejar.CookieJar()
    c.cookies = jar
    c.get(server.url + "/cookies/set?kept=3")
    assert [cookie.name for cookie in jar] == ["kept"]


def test_cookies_you_set_do_not_follow_a_redirect_to_another_origin(
    make_client: ClientFactory, server: TestServer
) -> None:
    other = server.url.replace("127.0.0.1", "localhost") + "/anything"
    c = make_client()
    c.cookies["sid"] = "SECRET"
    c.get(_set(server, "server_set=1"))
    assert _sent(c, server.url + "/anything") == "sid=SECRET; server_set=1"
    echo = c.get(f"{server.url}/redirect-to?url={quote(other)}").json()
    assert echo["url"].startswith("http://localhost")
    assert "cookie" not in {k.lower() for k in echo["headers"]}


def test_a_name_set_for_two_domains_is_a_conflict_that_says_how_to_choose(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    c.cookies["n"] = "mine"
    c.get(_set(server, "n=theirs"))
    with pytest.raises(mylib.CookieConflict, match=r"2 cookies named 'n'.*domain="):
        c.cookies["n"]
    assert c.cookies.get("n", domain="127.0.0.1") == "theirs"
    assert c.cookies.get("n", domain="") == "mine"
    assert isinstance(mylib.CookieConflict("x"), mylib.Error)


def test_cookies_that_cannot_be_sent_are_refused_when_set(make_client: ClientFactory) -> None:
    c = make_client()
    with pytest.raises(mylib.InvalidHeader, match="'a b'"):
        c.cookies["a b"] = "1"
    with pytest.raises(mylib.InvalidHeader, match="'a'"):
        c.cookies["a"] = "x;y"
    with pytest.raises(TypeError, match="value must be a str"):
        c.cookies["a"] = b"bytes"
    with pytest.raises(TypeError, match="path must be a str"):
        c.cookies.set("a", "1", path=None)
    with pytest.raises(ValueError, match="must start with '/'"):
        c.cookies.set("a", "1", path="api")
    with pytest.raises(mylib.InvalidHeader, match="control character") as caught:
        c.cookies["a"] = "secret\x01"
    assert "secret" not in str(caught.value)
    with pytest.raises(TypeError, match="cookies must be a dict"):
        c.cookies = "a=b"
    assert not c.cookies


def test_an_async_client_keeps_its_cookies_across_event_loops(server: TestServer) -> None:
    client = mylib.AsyncClient(server.url)
    asyncio.run(client.get("/cookies/set?flavour=oat"))
    assert asyncio.run(client.get("/cookies")).json() == {"cookies": {"flavour": "oat"}}
    assert client.cookies["flavour"] == "oat"


def test_the_jar_works_whatever_transport_sends(server: TestServer) -> None:
    def handler(request: mylib.Request) -> mylib.Response:
        if request.url.path == "/login":
            return mylib.Response(200, headers={"Set-Cookie": "session=s1; Path=/"})
        return mylib.Response(200, json={"cookie": request.headers.get("Cookie")})

    c = mylib.Client("https://api.example.test", transport=mylib.MockTransport(handler))
    c.post("/login")
    assert c.get("/me").json() == {"cookie": "session=s1"}
    assert c.cookies["session"] == "s1"


def test_response_cookies_read_like_a_dict(make_client: ClientFactory, server: TestServer) -> None:
    r = make_client().get(_set(server, "a=1", "b=2; Path=/x"))
    assert r.cookies == {"a": "1", "b": "2"} and r.cookies["b"] == "2"
    assert isinstance(r.cookies, mylib.Cookies)


def test_clearing_one_path_leaves_the_other_cookies() -> None:
    jar = mylib.Cookies()
    jar.set("a", "1", path="/app")
    jar.set("b", "2")
    jar.set("c", "3", domain="example.com")
    jar.clear(path="/app")
    assert sorted(jar) == ["b", "c"]
    jar.clear(domain="example.com")
    assert list(jar) == ["b"]


def test_a_domain_is_the_same_with_or_without_its_dot(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    c.get(_set(server, "session=theirs; Domain=localhost.test"))  # refused: not this host
    assert not c.cookies
    c.cookies.set("session", "mine", domain="example.com")
    c.cookies.set("session", "again", domain=".example.com")  # the same cookie: replaced
    assert c.cookies.get("session", domain="example.com") == "again"
    assert len(list(c.cookies.jar)) == 1
    c.cookies.clear(domain=".example.com")
    assert not c.cookies


def test_a_cookie_for_a_dotless_host_reaches_it(
    make_client: ClientFactory, server: TestServer
) -> None:
    localhost = server.url.replace("127.0.0.1", "localhost")
    c = make_client()
    c.cookies.set("dev", "1", domain="localhost")
    c.get(localhost + "/set-cookie?v=server%3D2")
    assert sorted((_sent(c, localhost + "/anything") or "").split("; ")) == ["dev=1", "server=2"]
    assert c.cookies.get("server", domain="localhost") == "2"
    assert _sent(c, server.url + "/anything") is None  # 127.0.0.1 is another host


def test_a_saved_login_keeps_its_session_cookies_and_domains(
    make_client: ClientFactory, server: TestServer, tmp_path: pathlib.Path
) -> None:
    path = str(tmp_path / "login.txt")
    jar = http.cookiejar.MozillaCookieJar(path)
    c = make_client(cookies=jar)
    c.get(_set(server, "session=abc"))  # a session cookie, as most logins are
    c.cookies.set("wide", "1", domain="example.com")
    jar.save(ignore_discard=True)
    restored = http.cookiejar.MozillaCookieJar(path)
    restored.load(ignore_discard=True)
    again = make_client(cookies=restored)
    assert _sent(again, server.url + "/anything") == "session=abc"
    assert again.cookies.get("wide", domain="example.com") == "1"
    assert again.cookies.jar is restored
    wide = next(cookie for cookie in restored if cookie.name == "wide")
    assert wide.domain_specified and wide.domain == ".example.com"  # still for subdomains


def test_items_list_every_cookie_when_a_name_is_set_for_two_paths(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client()
    c.get(_set(server, "lang=en; Path=/", "lang=fr; Path=/app"))
    assert sorted(c.cookies.items()) == [("lang", "en"), ("lang", "fr")]
    assert list(c.cookies) == ["lang"]
    assert c.cookies.get("lang", path="/app") == "fr"


def test_an_auth_flow_sending_elsewhere_first_does_not_take_your_cookies_there() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: mylib.Request) -> mylib.Response:
        seen.append((request.url.host, request.headers.get("Cookie")))
        return mylib.Response(200)

    class LoginFirst(mylib.Auth):
        def auth_flow(self, request: mylib.Request) -> Iterator[mylib.Request]:
            yield mylib.Request("POST", "https://login.example.org/token")
            yield request

    c = mylib.Client(transport=mylib.MockTransport(handler), cookies={"pref": "1"})
    c.get("https://api.example.com/data", auth=LoginFirst())
    assert seen == [("login.example.org", None), ("api.example.com", "pref=1")]


def test_a_cookie_set_by_a_retried_response_is_kept() -> None:
    answers = iter(
        [
            mylib.Response(503, headers={"Set-Cookie": "challenge=ok", "Retry-After": "0"}),
            mylib.Response(200, headers={"Set-Cookie": "final=1"}),
        ]
    )
    c = mylib.Client(
        transport=mylib.MockTransport(lambda request: next(answers)),
        retries=mylib.Retry(2, backoff_factor=0),
    )
    assert c.get("https://api.example.com/").attempts == 2
    assert dict(c.cookies) == {"challenge": "ok", "final": "1"}


def test_expired_cookies_are_neither_sent_nor_shown() -> None:
    jar = http.cookiejar.CookieJar()
    # fmt: off
    jar.set_cookie(http.cookiejar.Cookie(
        0, "old", "1", None, False, "example.com", False, False, "/", True, False,
        1, False, None, None, {},
    ))
    # fmt: on
    assert not mylib.Cookies(jar) and "old" not in mylib.Cookies(jar)


def test_numbers_are_sent_as_their_text_and_values_as_they_are(
    make_client: ClientFactory, server: TestServer
) -> None:
    theirs = requests.get(server.url + "/anything", cookies={"n": "1", "s": "a b"}, timeout=30)
    c = make_client(cookies={"n": 1})  # a number was accepted before the jar; still is
    ours = c.get(server.url + "/anything", cookies={"s": "a b"}).json()["headers"]["Cookie"]
    assert sorted(ours.split("; ")) == sorted(theirs.request.headers["Cookie"].split("; "))


def test_the_cookies_of_a_response_without_a_url_are_read() -> None:
    r = mylib.Response(200, headers={"Set-Cookie": "a=1"})
    assert r.cookies == {"a": "1"}
