"""One response surface: Response and both stream faces decode and behave alike.

0.1.0 wrote the surface three times and the copies drifted: a stream's ``text`` kept the
UTF-8 byte-order mark that ``Response.text`` dropped, a stream's ``json()`` raised a bare
``JSONDecodeError`` that ``except mylib.Error`` missed, and ``AsyncStreamResponse`` had no
``text`` at all. Each test runs against a real server on loopback.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

import mylib
from mylib._models import ResponseBase
from tests.client._support import AppServer

_BOM_BODY = "\ufeff" + jsonlib.dumps({"name": "Zoë"})


@pytest.fixture(scope="module")
def bodies() -> Iterator[str]:
    async def bom(request: web.Request) -> web.Response:
        charset = request.query.get("charset")
        ctype = "application/json" + (f"; charset={charset}" if charset else "")
        return web.Response(body=_BOM_BODY.encode("utf-8"), headers={"Content-Type": ctype})

    async def not_json(request: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/bom", bom)
    app.router.add_get("/not-json", not_json)
    server = AppServer(app)
    yield server.url
    server.stop()


def _async(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize("path", ["/bom", "/bom?charset=utf-8"])
def test_stream_text_drops_the_utf8_bom_as_response_text_does(bodies: str, path: str) -> None:
    client = mylib.Client(bodies)
    expected = client.get(path).text
    assert not expected.startswith("\ufeff") and expected.endswith('"Zo\\u00eb"}')
    with client.stream("GET", path) as r:
        r.read()
        assert r.text == expected
    with client.stream("GET", path) as r:
        assert "".join(r.iter_text()) == expected

    async def main() -> tuple[str, str]:
        ac = mylib.AsyncClient(bodies)
        async with ac.stream("GET", path) as r:
            await r.aread()
            whole = r.text
        async with ac.stream("GET", path) as r:
            pieces = "".join([t async for t in r.aiter_text()])
        return whole, pieces

    assert _async(main()) == (expected, expected)


def test_stream_json_of_a_body_that_is_not_json_raises_decoding_error(bodies: str) -> None:
    with mylib.Client(bodies).stream("GET", "/not-json") as r:
        r.read()
        with pytest.raises(mylib.DecodingError, match=r"not JSON.*<html>oops"):
            r.json()
        with pytest.raises(mylib.Error):  # what a user's `except mylib.Error` catches
            r.json()

    async def main() -> None:
        async with mylib.AsyncClient(bodies).stream("GET", "/not-json") as r:
            await r.aread()
            with pytest.raises(mylib.DecodingError):
                r.json()

    _async(main())


def test_stream_json_of_a_bom_body_decodes(bodies: str) -> None:
    with mylib.Client(bodies).stream("GET", "/bom") as r:
        r.read()
        assert r.json() == {"name": "Zoë"}


def test_async_stream_response_has_text(bodies: str) -> None:
    async def main() -> str:
        async with mylib.AsyncClient(bodies).stream("GET", "/not-json") as r:
            with pytest.raises(RuntimeError, match="aread"):
                _ = r.text  # not read yet: says how to read it
            await r.aread()
            return r.text

    assert _async(main()) == "<html>oops</html>"


def test_every_face_shares_one_surface(bodies: str) -> None:
    client = mylib.Client(bodies)
    plain = client.get("/bom")
    with client.stream("GET", "/bom") as streamed:
        faces: list[Any] = [plain, streamed]

        async def main() -> None:
            async with mylib.AsyncClient(bodies).stream("GET", "/bom") as r:
                faces.append(r)
                for face in faces:
                    assert isinstance(face, ResponseBase)
                    assert (face.ok, face.status_code, face.encoding) == (True, 200, None)
                    assert face.raise_for_status() is face
                    face.encoding = "latin-1"
                    assert face.encoding == "latin-1"

        _async(main())
    # Setting the encoding changes what Response.text decodes (the cached text follows).
    assert plain.text.startswith("ï»¿")
    plain.encoding = None
    assert plain.text.startswith("{")
