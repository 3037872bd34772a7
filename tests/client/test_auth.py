"""Auth: Basic, Bearer, Digest, custom flows and callables, through both clients."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import AsyncGenerator, Generator, Iterator
from typing import Any

import pytest
import requests
from aiohttp import web

import mylib
from tests._server import TestServer
from tests.client._support import AppServer, ClientFactory, make_client, verify_for

__all__ = ["make_client"]

_NONCE = "dcd98b7102dd2f0e8b11d0f600bfb0c093"
_OPAQUE = "5ccc069c403ebaf9f0171e9517f40e41"


def _digest_app() -> web.Application:
    """/digest/{algorithm}/{user}/{passwd}: checks the answer with its own RFC 7616 sums."""

    async def handler(request: web.Request) -> web.Response:
        algorithm = request.match_info["algorithm"]
        user, passwd = request.match_info["user"], request.match_info["passwd"]
        header = request.headers.get("Authorization", "")
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
        hash_fn = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]

        def h(text: str) -> str:
            return hash_fn(text.encode()).hexdigest()

        if not header:
            await request.read()  # the unanswered first try's body, read before the 401
        if header.startswith("Digest ") and fields.get("username") == user:
            ha1 = h(f"{user}:test-realm:{passwd}")
            ha2 = h(f"{request.method}:{fields.get('uri')}")
            expected = h(f"{ha1}:{_NONCE}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
            if fields.get("response") == expected and fields.get("uri") == request.path_qs:
                body = await request.read()
                return web.json_response({"authenticated": True, "user": user, "body": len(body)})
        challenge = (
            f'Digest realm="test-realm", qop="auth,auth-int", nonce="{_NONCE}", '
            f'opaque="{_OPAQUE}", algorithm={algorithm}'
        )
        return web.json_response(
            {"authenticated": False}, status=401, headers={"WWW-Authenticate": challenge}
        )

    async def go(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_route("*", "/digest/{algorithm}/{user}/{passwd}", handler)
    app.router.add_get("/go", go)
    return app


@pytest.fixture(scope="module")
def digest_server() -> Iterator[AppServer]:
    srv = AppServer(_digest_app())
    yield srv
    srv.stop()


def test_basic_auth_tuple_is_accepted_by_the_server(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(verify=verify_for(any_server))
    r = c.get(any_server.url + "/basic-auth/alice/s3cret", auth=("alice", "s3cret"))
    assert r.status_code == 200 and r.json() == {"authenticated": True, "user": "alice"}


def test_client_basic_auth_is_sent_and_request_auth_none_removes_it(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(auth=("alice", "pw"), verify=verify_for(any_server))
    assert c.get(any_server.url + "/basic-auth/alice/pw").status_code == 200
    assert c.get(any_server.url + "/basic-auth/alice/pw", auth=None).status_code == 401


def test_credentials_in_the_url_become_basic_auth_and_leave_the_url(
    make_client: ClientFactory, server: TestServer
) -> None:
    url = server.url.replace("http://", "http://bob:p%40ss@") + "/basic-auth/bob/p@ss"
    r = make_client().get(url)
    assert r.status_code == 200
    assert "bob:" not in r.url and "bob:" not in repr(r.request)


def test_bearer_auth_sends_the_token(make_client: ClientFactory, any_server: TestServer) -> None:
    c = make_client(auth=mylib.BearerAuth("tok-123"), verify=verify_for(any_server))
    assert c.get(any_server.url + "/bearer").json() == {"authenticated": True, "token": "tok-123"}


def test_bare_string_auth_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match="BearerAuth"):
        mylib.Client(auth="tok-123")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="BearerAuth"):
        mylib.Client().build_request("GET", "http://h/", auth="user:pw")  # type: ignore[typeddict-item]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_digest_auth_answers_the_challenge(
    make_client: ClientFactory, digest_server: AppServer, algorithm: str
) -> None:
    url = f"{digest_server.url}/digest/{algorithm}/carol/pa55?x=1"
    c = make_client(auth=mylib.DigestAuth("carol", "pa55"))
    first = c.get(url)
    assert first.status_code == 200, first.text
    # The challenge is remembered: the next request answers at once (nonce count 2).
    second = c.get(url)
    assert second.status_code == 200


def test_digest_auth_wrong_password_gives_the_401(
    make_client: ClientFactory, digest_server: AppServer
) -> None:
    r = make_client().get(
        f"{digest_server.url}/digest/MD5/carol/pa55", auth=mylib.DigestAuth("carol", "nope")
    )
    assert r.status_code == 401


def test_the_answered_401_is_in_history_as_in_requests(
    make_client: ClientFactory, digest_server: AppServer
) -> None:
    url = f"{digest_server.url}/digest/MD5/carol/pa55"
    ours = make_client(auth=mylib.DigestAuth("carol", "pa55")).get(url)
    theirs = requests.get(url, auth=requests.auth.HTTPDigestAuth("carol", "pa55"), timeout=10)
    assert [h.status_code for h in ours.history] == [h.status_code for h in theirs.history]
    assert [h.status_code for h in ours.history] == [401] and ours.status_code == 200


def test_digest_auth_behind_a_redirect_answers_where_it_landed(
    make_client: ClientFactory, digest_server: AppServer
) -> None:
    landing = "/digest/MD5/carol/pa55?page=2"
    r = make_client(auth=mylib.DigestAuth("carol", "pa55")).get(
        f"{digest_server.url}/go", params={"to": landing}
    )
    assert r.status_code == 200 and r.json()["authenticated"] is True
    assert [h.status_code for h in r.history] == [302, 401]
    assert r.history[1].url == digest_server.url + landing
    assert [len(h.history) for h in r.history] == [0, 1]
    theirs = requests.get(
        f"{digest_server.url}/go", params={"to": landing},
        auth=requests.auth.HTTPDigestAuth("carol", "pa55"), timeout=10,
    )  # fmt: skip
    assert theirs.status_code == 200


def test_digest_auth_is_not_answered_after_a_redirect_to_another_origin(
    make_client: ClientFactory, digest_server: AppServer
) -> None:
    other = digest_server.url.replace("127.0.0.1", "localhost") + "/digest/MD5/carol/pa55"
    r = make_client(auth=mylib.DigestAuth("carol", "pa55")).get(
        f"{digest_server.url}/go", params={"to": other}
    )
    assert r.status_code == 401 and [h.status_code for h in r.history] == [302]
    assert "Authorization" not in r.request.headers


def test_digest_auth_sends_a_file_body_again_from_its_start(
    make_client: ClientFactory, digest_server: AppServer, tmp_path: Any
) -> None:
    path = tmp_path / "body.bin"
    path.write_bytes(b"FILEBODY")
    url = f"{digest_server.url}/digest/MD5/carol/pa55"
    c = make_client(auth=mylib.DigestAuth("carol", "pa55"))
    with open(path, "rb") as f:
        r = c.put(url, content=f)
    assert (r.status_code, r.json()["body"], [h.status_code for h in r.history]) == (
        200, 8, [401],
    )  # fmt: skip
    with open(path, "rb") as f:
        plain = c.post(url, files={"f": ("a.bin", f)})  # the challenge is known now: one try
        with open(path, "rb") as g:
            fresh = make_client(auth=mylib.DigestAuth("carol", "pa55")).post(
                url, files={"f": ("a.bin", g)}
            )
    assert plain.json()["body"] == fresh.json()["body"] > 8


def test_digest_auth_with_a_streamed_body_says_it_cannot_send_it_again(
    make_client: ClientFactory, digest_server: AppServer
) -> None:
    c = make_client(auth=mylib.DigestAuth("carol", "pa55"))
    with pytest.raises(mylib.TransportError, match="cannot be sent again"):
        c.put(f"{digest_server.url}/digest/MD5/carol/pa55", content=iter([b"once"]))


def test_digest_server_in_this_file_agrees_with_requests(digest_server: AppServer) -> None:
    # Guards the test server itself: requests' HTTPDigestAuth must pass it too.
    r = requests.get(
        f"{digest_server.url}/digest/MD5/carol/pa55",
        auth=requests.auth.HTTPDigestAuth("carol", "pa55"),
        timeout=10,
    )
    assert r.status_code == 200


class _RefreshingToken(mylib.Auth):
    """A token that expires server-side; refreshed (async) once on a 401."""

    def __init__(self) -> None:
        self.tokens = iter(["", "fresh-1", "fresh-2"])
        self.refreshes = 0
        self.threads: set[str] = set()

    async def auth_flow(self, request: mylib.Request) -> AsyncGenerator[mylib.Request, Any]:
        self.threads.add(threading.current_thread().name)
        request.headers["Authorization"] = f"Bearer {next(self.tokens)}"
        response = yield request
        if response.status_code == 401:
            self.refreshes += 1
            request.headers["Authorization"] = f"Bearer {next(self.tokens)}"
            yield request


def test_custom_async_auth_flow_refreshes_its_token_on_401(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    auth = _RefreshingToken()
    r = make_client(auth=auth, verify=verify_for(any_server)).get(any_server.url + "/bearer")
    assert r.json() == {"authenticated": True, "token": "fresh-1"}
    assert auth.refreshes == 1


class _SyncFlow(mylib.Auth):
    def auth_flow(self, request: mylib.Request) -> Generator[mylib.Request, Any, None]:
        request.headers["Authorization"] = "Bearer from-a-plain-generator"
        yield request


def test_custom_sync_generator_auth_flow_works(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    c = make_client(auth=_SyncFlow(), verify=verify_for(any_server))
    assert c.get(any_server.url + "/bearer").json()["token"] == "from-a-plain-generator"


def test_callable_auth_that_calls_the_blocking_api_does_not_deadlock(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    # The callable runs in a worker thread, so a blocking token fetch through mylib (on the
    # same I/O loop the request is waiting on) must work rather than hang.
    fetcher = mylib.Client(verify=verify_for(any_server))

    def fetch_token(request: mylib.Request) -> mylib.Request:
        token = fetcher.get(any_server.url + "/echo-id/tok-from-server").json()["id"]
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    c = make_client(auth=fetch_token, verify=verify_for(any_server), timeout=30)
    assert c.get(any_server.url + "/bearer").json()["token"] == "tok-from-server"


def test_auth_repr_never_shows_the_secret() -> None:
    for auth in (
        mylib.BasicAuth("u", "hunter2"),
        mylib.BearerAuth("hunter2"),
        mylib.DigestAuth("u", "hunter2"),
    ):
        assert "hunter2" not in repr(auth)
