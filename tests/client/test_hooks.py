"""Event hooks: called per request/response; sync hooks run in a worker thread, so one
that calls the blocking API does not deadlock."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import mylib
from tests._server import TestServer
from tests.client._support import ClientFactory, make_client, verify_for

__all__ = ["make_client"]


def test_request_and_response_hooks_see_every_hop(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    seen: list[str] = []

    def on_request(request: mylib.Request) -> None:
        request.headers["X-Hooked"] = "yes"
        seen.append(f"> {request.url.path}")

    async def on_response(response: mylib.Response) -> None:
        seen.append(f"< {response.status_code}")

    c = make_client(
        event_hooks={"request": [on_request], "response": [on_response]},
        verify=verify_for(any_server),
    )
    r = c.get(any_server.url + "/redirect/1")
    assert seen == ["> /redirect/1", "< 302", "> /get", "< 200"]
    assert r.json()["headers"]["X-Hooked"] == "yes"


def test_raise_for_status_in_a_response_hook_reaches_the_caller(
    make_client: ClientFactory, server: TestServer
) -> None:
    c = make_client(event_hooks={"response": [lambda r: r.raise_for_status()]})
    with pytest.raises(mylib.HTTPStatusError):
        c.get(server.url + "/status/404")


def test_sync_hook_calling_the_blocking_api_does_not_deadlock(
    make_client: ClientFactory, any_server: TestServer
) -> None:
    side = mylib.Client(verify=verify_for(any_server))
    threads: list[str] = []

    def audit(response: mylib.Response) -> None:
        threads.append(threading.current_thread().name)
        side.get(any_server.url + "/echo-id/audit").raise_for_status()

    c = make_client(event_hooks={"response": [audit]}, verify=verify_for(any_server), timeout=30)
    assert c.get(any_server.url + "/get").status_code == 200
    assert threads and threads[0] != "MainThread"


def test_async_hook_runs_on_the_loop_that_sends(
    make_client: ClientFactory, server: TestServer
) -> None:
    threads: list[str] = []

    async def hook(request: Any) -> None:
        threads.append(threading.current_thread().name)

    make_client(event_hooks={"request": [hook]}).get(server.url + "/get")
    assert len(threads) == 1


@pytest.mark.parametrize(
    ("hooks", "error"),
    [
        ([print], TypeError),
        ({"request": print}, TypeError),
        ({"request": [42]}, TypeError),
        ({"sent": [print]}, ValueError),
    ],
)
def test_bad_event_hooks_are_refused(hooks: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="event_hooks"):
        mylib.Client(event_hooks=hooks)
    with pytest.raises(error, match="event_hooks"):
        mylib.AsyncClient(event_hooks=hooks)


def test_many_blocking_hooks_calling_named_hosts_at_once_do_not_deadlock(
    server: TestServer,
) -> None:
    # Regression (found in review): plain hooks ran on the loop's default executor, which
    # also resolves host names; four hooks blocked in requests to "localhost" held all its
    # workers and the lookups those requests needed never ran. Subprocess: it used to hang.
    from tests._subproc import assert_silent, run_python

    named = server.url.replace("127.0.0.1", "localhost")
    proc = run_python(
        f"""
        import mylib
        other = mylib.Client()
        def hook(response):
            assert other.get({named!r} + "/get").status_code == 200
        c = mylib.Client(event_hooks={{"response": [hook]}})
        rs = c.map("GET", [{server.url!r} + "/get"] * 16, concurrency=8)
        print(sorted({{r.status_code for r in rs}}))
        """,
        timeout=60,
    )
    assert_silent(proc)
    assert proc.stdout.strip() == "[200]"
