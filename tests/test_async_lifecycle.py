"""AsyncClient closes itself when its loop ends (issue 4): nothing to close, nothing printed.

Each case runs in a child under ``python -X dev``, where an unclosed session, connector or
transport would be reported on stderr at exit.
"""

from __future__ import annotations

import pytest

from tests._server import TestServer
from tests._subproc import assert_silent, run_python


def _run(code: str, server: TestServer) -> str:
    proc = run_python(code, env_extra={"TEST_URL": server.url}, timeout=60)
    assert_silent(proc)
    return proc.stdout


def test_client_made_at_import_time_survives_two_asyncio_runs_and_exits_silently(
    server: TestServer,
) -> None:
    # Issue 4 / seed 001: the client exists before any loop; nobody ever closes it.
    out = _run(
        """
        import asyncio, os
        import mylib

        client = mylib.AsyncClient(os.environ["TEST_URL"])
        sessions = []

        async def main():
            r1 = await client.get("/get")
            r2 = await client.patch("/anything", json={"a": 1})
            sessions.append(client._transport._sessions.get())
            print(r1.status_code, r2.status_code)

        asyncio.run(main())
        print("first closed after its loop:", sessions[0].closed)
        asyncio.run(main())
        print("fresh session:", sessions[1] is not sessions[0], "closed:", sessions[1].closed)
        """,
        server,
    )
    assert out.splitlines() == [
        "200 200",
        "first closed after its loop: True",
        "200 200",
        "fresh session: True closed: True",
    ]


def test_asyncio_runner_used_twice_closes_each_session_with_its_runner(
    server: TestServer,
) -> None:
    out = _run(
        """
        import asyncio, os
        import mylib

        client = mylib.AsyncClient(os.environ["TEST_URL"])

        async def main():
            r = await client.get("/get")
            return r.status_code, client._transport._sessions.get()

        seen = []
        for _ in range(2):
            with asyncio.Runner() as runner:
                seen.append(runner.run(main()))
                seen.append(runner.run(main()))  # same loop: same session
        (s1, a), (s2, b), (s3, c), (s4, d) = seen
        print(s1, s2, s3, s4, a is b, c is d, a is not c, a.closed and c.closed)
        """,
        server,
    )
    assert out.split() == ["200", "200", "200", "200", "True", "True", "True", "True"]


def test_same_client_used_from_two_loops_in_two_threads_at_once(server: TestServer) -> None:
    out = _run(
        """
        import asyncio, os, threading
        import mylib

        client = mylib.AsyncClient(os.environ["TEST_URL"])
        both_in_loop = threading.Barrier(2)
        sessions, statuses = {}, []

        async def main(name):
            await asyncio.to_thread(both_in_loop.wait, 30)  # both loops are alive now
            r = await client.get("/delay/0.1", params={"tag": name})
            sessions[name] = client._transport._sessions.get()
            statuses.append(r.status_code)

        threads = [threading.Thread(target=asyncio.run, args=(main(n),)) for n in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        closed = all(s.closed for s in sessions.values())
        print(statuses, sessions["a"] is not sessions["b"], closed)
        """,
        server,
    )
    assert out.split() == ["[200,", "200]", "True", "True"]


def test_client_garbage_collected_inside_a_running_loop_closes_its_session(
    server: TestServer,
) -> None:
    out = _run(
        """
        import asyncio, gc, os
        import mylib

        async def main():
            client = mylib.AsyncClient(os.environ["TEST_URL"])
            print((await client.get("/get")).status_code)
            session = client._transport._sessions.get()
            del client
            gc.collect()
            # The keeper is finalized on this loop by a task the asyncgen hook scheduled.
            for _ in range(1000):
                if session.closed:
                    break
                await asyncio.sleep(0)
            print("closed:", session.closed)
            later = mylib.AsyncClient(os.environ["TEST_URL"])
            print((await later.get("/get")).status_code)

        asyncio.run(main())
        """,
        server,
    )
    assert out.split() == ["200", "closed:", "True", "200"]


def test_aclose_waits_for_ten_requests_in_flight_then_refuses_new_ones() -> None:
    # Seed 000: "await any pending tasks before closing". The server is the child's own, so
    # the child can wait until all ten requests have reached it before closing.
    proc = run_python(
        """
        import asyncio
        import mylib
        from tests._server import TestServer

        server = TestServer()

        async def main():
            client = mylib.AsyncClient(server.url)
            tasks = [
                asyncio.create_task(client.get("/delay/0.3", params={"tag": f"t{i}"}))
                for i in range(10)
            ]
            for i in range(10):
                assert await asyncio.to_thread(server.wait_for, "started", f"t{i}", 30)
            await client.aclose()
            print("done before aclose returned:", all(t.done() for t in tasks))
            print([r.status_code for r in await asyncio.gather(*tasks)])
            print("finished on the server:", sum(n == "finished" for n, _ in server.events))
            try:
                await client.get("/get")
            except mylib.ClientClosedError as exc:
                print("after aclose:", type(exc).__name__)

        asyncio.run(main())
        server.stop()
        """,
        timeout=60,
    )
    assert_silent(proc)
    assert proc.stdout.splitlines() == [
        "done before aclose returned: True",
        str([200] * 10),
        "finished on the server: 10",
        "after aclose: ClientClosedError",
    ]


@pytest.mark.parametrize("how", ["async with", "aclose"])
def test_closed_async_client_raises_client_closed_error(server: TestServer, how: str) -> None:
    out = _run(
        f"""
        import asyncio, os
        import mylib

        async def main():
            client = mylib.AsyncClient(os.environ["TEST_URL"])
            if {how!r} == "async with":
                async with client:
                    await client.get("/get")
            else:
                await client.get("/get")
                await client.aclose()
            try:
                await client.get("/get")
            except mylib.ClientClosedError as exc:
                print("refused:", "closed" in str(exc))

        asyncio.run(main())
        """,
        server,
    )
    assert out.split() == ["refused:", "True"]
