"""Clients cost no threads and leak no file descriptors; misuse fails fast and quietly (#2).

Each case runs in a ``python -X dev`` child (a fresh process, so descriptor and thread counts
are its own), over plain HTTP and TLS, with an empty stderr asserted.
"""

from __future__ import annotations

import pytest

from tests._server import TestServer
from tests._subproc import assert_silent, run_python
from tests.test_exit import PRELUDE, child_env, run_child

#: Waits, deterministically, until every task on mylib's loop (e.g. the session closes that
#: dropped clients scheduled there) has finished.
SETTLE = """
import asyncio, gc

async def _tasks():
    return asyncio.all_tasks() - {asyncio.current_task()}

async def _new_tasks_done(old):
    new = await _tasks() - old
    if new:
        await asyncio.wait(new)

def settle():
    gc.collect()
    # Queued after the closes that the collection scheduled, so it sees their tasks.
    mylib.run(_new_tasks_done(BASELINE))
"""


def test_import_starts_no_thread() -> None:
    proc = run_python(
        """
        import threading
        import mylib
        print(threading.active_count(), mylib._io.BRIDGE.state.value)
        """
    )
    assert_silent(proc)
    assert proc.stdout == "1 idle\n"


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/fd"), reason="needs /proc")
def test_two_hundred_dropped_clients_leave_no_descriptors_and_one_io_thread(
    any_server: TestServer,
) -> None:
    proc = run_child(
        any_server,
        SETTLE
        + """
import threading
def fds():
    return len(os.listdir("/proc/self/fd"))
def io_threads():
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("mylib"))

warm = mylib.Client(verify=VERIFY)
warm.get(URL + "/get")  # the loop, its self-pipe and one pooled connection now exist
BASELINE = mylib.run(_tasks())  # the bridge's own main task
settle()
before = fds()
for i in range(200):
    client = mylib.Client(verify=VERIFY)
    assert client.get(URL + f"/echo-id/{i}").json() == {"id": str(i)}
    del client
settle()
print("extra fds", fds() - before)
print("threads", threading.active_count(), io_threads())
""",
    )
    assert_silent(proc)
    assert proc.stdout == "extra fds 0\nthreads 2 ['mylib-io']\n"


def test_blocking_call_on_the_io_loop_raises_at_once_without_never_awaited_warning(
    any_server: TestServer,
) -> None:
    proc = run_child(
        any_server,
        """
        import asyncio
        client = mylib.Client(verify=VERIFY)

        async def misuse():
            seen = []
            for attempt in (
                lambda: client.get(URL + "/get"),
                lambda: mylib.get(URL + "/get"),
                lambda: mylib.run(asyncio.sleep(0)),
            ):
                try:
                    attempt()
                except mylib.LoopThreadError as exc:
                    seen.append(isinstance(exc, RuntimeError))
            return seen

        print(mylib.run(misuse(), timeout=30))
        print(client.get(URL + "/get").status_code)  # the loop survived
        """,
    )
    assert_silent(proc)
    assert proc.stdout == "[True, True, True]\n200\n"


def test_call_after_interpreter_shutdown_began_raises_client_closed_error_promptly(
    any_server: TestServer,
) -> None:
    # An atexit handler registered before mylib's runs after mylib's exit sequence.
    code = (
        """
import atexit, asyncio, time

def late():
    started = time.monotonic()
    for attempt in (
        lambda: CLIENT.get(URL + "/get"),
        lambda: mylib.get(URL + "/get"),
        lambda: mylib.Client(verify=VERIFY).get(URL + "/get"),
        lambda: mylib.run(asyncio.sleep(0)),
    ):
        try:
            attempt()
        except mylib.ClientClosedError as exc:
            print(type(exc).__name__, isinstance(exc, mylib.Error))
    print("prompt", time.monotonic() - started < 2)

atexit.register(late)
"""
        + PRELUDE
        + """
CLIENT = mylib.Client(verify=VERIFY)
print(CLIENT.get(URL + "/get").status_code)  # starts the loop: mylib's handler comes later
"""
    )
    proc = run_python(code, env_extra=child_env(any_server))
    assert_silent(proc)
    assert proc.stdout == "200\n" + "ClientClosedError True\n" * 4 + "prompt True\n"
