"""The pipeline's one order, and the two slots the next features fill.

A step put where the cache goes (between cookies and retries) must see each hop of a
redirect chain once, however often it is retried; a step put where the rate limit goes
(inside retries) must see every attempt. A step that gets a streamed response it does not
return must finish its body; ``Response.aread()`` is how.
"""

from __future__ import annotations

import asyncio

import mylib
from mylib._pipeline import ORDER, Call, Handler, Step, auth, chain, cookies, redirects, retry

API = "https://api.example.test"


def _flaky_redirecting_transport() -> mylib.MockTransport:
    attempts: dict[str, int] = {}

    def handler(request: mylib.Request) -> mylib.Response:
        path = request.url.path
        attempts[path] = attempts.get(path, 0) + 1
        if path == "/a":
            return mylib.Response(302, headers={"Location": "/b"})
        if attempts[path] == 1:
            return mylib.Response(503, text="busy")
        return mylib.Response(200, text="done")

    return mylib.MockTransport(handler)


def _recorder(seen: list[str]) -> Step:
    async def step(send: Handler, request: mylib.Request, call: Call) -> mylib.Response:
        seen.append(request.url.path)
        return await send(request, call)

    return step


def test_the_order_is_redirects_auth_cookies_retries() -> None:
    assert (redirects.step, auth.step, cookies.step, retry.step) == ORDER


def test_the_cache_slot_sees_each_hop_once_and_the_limit_slot_every_attempt() -> None:
    cache_slot: list[str] = []
    limit_slot: list[str] = []
    client = mylib.AsyncClient(
        API, transport=_flaky_redirecting_transport(), retries=mylib.Retry(2, backoff_factor=0)
    )
    # Where the caching and rate-limit issues put their steps (see mylib/_pipeline).
    client._handler = chain(  # type: ignore[attr-defined]
        (
            redirects.step,
            auth.step,
            cookies.step,
            _recorder(cache_slot),
            retry.step,
            _recorder(limit_slot),
        )
    )
    r = asyncio.run(client.get("/a"))
    assert (r.status_code, r.text, r.attempts) == (200, "done", 2)
    assert cache_slot == ["/a", "/b"]
    assert limit_slot == ["/a", "/b", "/b"]


def test_a_step_that_drops_a_streamed_response_finishes_its_body() -> None:
    finished: list[bytes] = []

    async def replace_404(send: Handler, request: mylib.Request, call: Call) -> mylib.Response:
        response = await send(request, call)
        if response.status_code != 404:
            return response
        finished.append(await response.aread())  # read and released, never leaked
        return await send(request.replace(url=API + "/found"), call)

    def handler(request: mylib.Request) -> mylib.Response:
        if request.url.path == "/missing":
            return mylib.Response(404, text="gone")
        return mylib.Response(200, text="here")

    client = mylib.AsyncClient(transport=mylib.MockTransport(handler))
    client._handler = chain((*ORDER, replace_404))  # type: ignore[attr-defined]

    async def main() -> bytes:
        async with client.stream("GET", API + "/missing") as r:
            return await r.aread()

    assert asyncio.run(main()) == b"here"
    assert finished == [b"gone"]
