"""Cassettes: recorded once against a real server, replayed with the server gone; vcrpy's
files replay through mylib and mylib's through vcrpy."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import vcr
import yaml
from aiohttp import web

import mylib
from mylib.testing import NoMockAddress, cassette
from tests.client._support import AppServer


class _Api:
    """A real loopback API that counts what reaches it, and can be stopped."""

    def __init__(self) -> None:
        self.hits = 0

        async def users(request: web.Request) -> web.Response:
            self.hits += 1
            return web.json_response(
                {"users": ["Ada", "Grace"], "page": request.query.get("page"),
                 "saw_auth": "Authorization" in request.headers},
                headers={"X-Served": "live"},
            )

        async def old(request: web.Request) -> web.Response:
            self.hits += 1
            raise web.HTTPFound("/users")

        async def logo(request: web.Request) -> web.Response:
            self.hits += 1
            return web.Response(body=bytes(range(256)), content_type="image/png")

        async def zipped(request: web.Request) -> web.Response:
            self.hits += 1
            return web.Response(body=gzip.compress(b"squeezed " * 50),
                                headers={"Content-Encoding": "gzip",
                                         "Content-Type": "text/plain"})

        async def login(request: web.Request) -> web.Response:
            self.hits += 1
            response = web.Response(text="welcome")
            response.set_cookie("sid", "s1d-value")
            return response

        app = web.Application()
        app.router.add_get("/login", login)
        app.router.add_get("/users", users)
        app.router.add_get("/old", old)
        app.router.add_get("/logo.png", logo)
        app.router.add_get("/zipped", zipped)
        self.server = AppServer(app)
        self.url = self.server.url
        self.stopped = False

    def stop(self) -> None:
        if not self.stopped:
            self.server.stop()
            self.stopped = True


@pytest.fixture
def api() -> Iterator[_Api]:
    server = _Api()
    yield server
    server.stop()


def _exercise(base: str) -> tuple[object, ...]:
    client = mylib.Client(base, auth=mylib.BearerAuth("s3cret"))
    users = client.get("/users", params={"page": "1", "api_key": "k-123"})
    redirected = client.get("/old", params={"api_key": "k-123"})
    with client.stream("GET", "/logo.png") as r:
        logo = r.read()
    return (users.json(), users.headers["X-Served"], [h.status_code for h in redirected.history],
            redirected.json()["users"], logo, client.get("/zipped").text)


def test_a_recorded_cassette_replays_with_the_server_stopped(api: _Api, tmp_path: Path) -> None:
    path = tmp_path / "cassettes" / "api.yaml"
    with cassette(path, filter_query_parameters=["api_key"]) as tape:
        live = _exercise(api.url)
    assert api.hits == 5 and len(tape.interactions) == 5
    text = path.read_text()
    assert "s3cret" not in text and "k-123" not in text  # secrets never reach the file
    api.stop()
    with pytest.raises(mylib.ConnectError):
        mylib.get(api.url + "/users")  # the server is gone for real
    with cassette(path, filter_query_parameters=["api_key"]) as tape:
        assert _exercise(api.url) == live
    assert tape.play_count == 5
    with cassette(path) as tape, pytest.raises(NoMockAddress, match=r"api\.yaml.*'once'"):
        mylib.get(api.url + "/never-recorded")


def test_modes_none_new_episodes_and_all(api: _Api, tmp_path: Path) -> None:
    path = tmp_path / "modes.yaml"
    with pytest.raises(NoMockAddress), cassette(path, "none"):
        mylib.get(api.url + "/users")
    assert not path.exists() and api.hits == 0
    with cassette(path, "new_episodes"):
        mylib.get(api.url + "/users", params={"page": "1"})
    with cassette(path, "new_episodes"):
        mylib.get(api.url + "/users", params={"page": "1"})  # replayed
        mylib.get(api.url + "/users", params={"page": "2"})  # recorded, appended
    assert api.hits == 2 and len(yaml.safe_load(path.read_text())["interactions"]) == 2
    with cassette(path, "all"):
        mylib.get(api.url + "/users", params={"page": "3"})
    assert api.hits == 3 and len(yaml.safe_load(path.read_text())["interactions"]) == 1


def test_a_vcrpy_cassette_replays_through_mylib(api: _Api, tmp_path: Path) -> None:
    path = tmp_path / "vcrpy.yaml"
    with vcr.use_cassette(str(path), record_mode="once"):
        expected = requests.get(api.url + "/users", params={"page": "1"}).json()
        zipped = requests.get(api.url + "/zipped").text
    api.stop()
    with cassette(path, "none"):
        assert mylib.get(api.url + "/users", params={"page": "1"}).json() == expected
        assert mylib.get(api.url + "/zipped").text == zipped == "squeezed " * 50


def test_a_mylib_cassette_replays_through_vcrpy(api: _Api, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    with cassette(path):
        expected = mylib.get(api.url + "/users", params={"page": "1"}).json()
        logo = mylib.get(api.url + "/logo.png").content
    api.stop()
    with vcr.use_cassette(str(path), record_mode="none"):
        assert requests.get(api.url + "/users", params={"page": "1"}).json() == expected
        assert requests.get(api.url + "/logo.png").content == logo


def test_the_decorator_and_an_async_client(api: _Api, tmp_path: Path) -> None:
    path = tmp_path / "deco.yaml"

    @cassette(path)
    async def fetch() -> object:
        return (await mylib.AsyncClient(api.url).get("/users")).json()

    first = asyncio.run(fetch())
    api.stop()
    assert asyncio.run(fetch()) == first


def test_bad_cassette_options_are_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        cassette("x.yaml", "sometimes")
    with pytest.raises(ValueError, match="cannot match on colour"):
        cassette("x.yaml", match_on=["method", "colour"])


def test_secrets_stay_out_whatever_filter_headers_adds_and_cookies_replay(
    api: _Api, tmp_path: Path
) -> None:
    path = tmp_path / "login.yaml"
    with cassette(path, filter_headers=["X-Api-Key"]) as tape:
        mylib.get(api.url + "/users", headers={"Authorization": "Bearer TOPSECRET",
                                               "X-Api-Key": "k-999"})
        assert mylib.get(api.url + "/login").cookies == {"sid": "s1d-value"}
    assert tape.play_count == 0  # recorded, not played
    text = path.read_text()
    assert "TOPSECRET" not in text and "k-999" not in text
    api.stop()
    with cassette(path) as tape:
        assert mylib.get(api.url + "/users").json()["users"] == ["Ada", "Grace"]
        assert mylib.get(api.url + "/login").cookies == {"sid": "s1d-value"}  # as recorded
    assert tape.play_count == 2


def test_a_failing_block_does_not_write_or_replace_the_cassette(
    api: _Api, tmp_path: Path
) -> None:
    path = tmp_path / "partial.yaml"
    with pytest.raises(AssertionError), cassette(path):
        mylib.get(api.url + "/users")
        raise AssertionError("the test failed")
    assert not path.exists()


def test_a_cassette_refuses_to_decorate_a_class() -> None:
    with pytest.raises(TypeError, match="its own cassette"):

        @cassette("x.yaml")
        class Tests:
            pass
