"""However a program ends, and whatever state its clients are in, it exits silently (issue 2).

Each case runs a script in a child ``python -X dev`` against the loopback server, over plain
HTTP and over TLS, and asserts its exit code and an EMPTY stderr: that is where "Unclosed client
session", "Event loop is closed", "Exception ignored" and ResourceWarnings surface at exit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests._server import TestServer
from tests._subproc import REPO_ROOT, assert_silent, run_python

#: Put before every child script: where the server is and how to trust it.
PRELUDE = """\
import os, sys
import mylib
URL = os.environ["MYLIB_TEST_URL"]
VERIFY = os.environ["MYLIB_TEST_VERIFY"] or True
"""


def child_env(server: TestServer) -> dict[str, str | None]:
    """The child's view of ``server``; SSL_CERT_FILE lets the default client trust its CA."""
    return {
        "MYLIB_TEST_URL": server.url,
        "MYLIB_TEST_VERIFY": server.ca_path or "",
        "SSL_CERT_FILE": server.ca_path,
    }


def run_child(
    server: TestServer, code: str, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``PRELUDE + code`` under ``python -X dev`` against ``server``."""
    return run_python(PRELUDE + textwrap.dedent(code), env_extra=child_env(server), timeout=timeout)


def start_child(server: TestServer, code: str, tmp_path: Path) -> subprocess.Popen[str]:
    """Start ``PRELUDE + code`` under ``python -X dev`` with pipes for a step-by-step dialogue."""
    script = tmp_path / "snippet.py"
    script.write_text(PRELUDE + textwrap.dedent(code), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    for key, value in child_env(server).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.Popen(
        [sys.executable, "-X", "dev", str(script)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def only_traceback(stderr: str, last_line: str) -> bool:
    """True if ``stderr`` is exactly one traceback through the script, ending in ``last_line``."""
    lines = stderr.splitlines()
    return (
        len(lines) >= 4
        and lines[0] == "Traceback (most recent call last):"
        and lines[-1] == last_line
        and stderr.count("Traceback") == 1
        and all(
            re.match(r'  File ".*snippet\.py", line \d+, in <module>$', line)
            or line.startswith("    ")
            for line in lines[1:-1]
        )
    )


# -- how the script ends ----------------------------------------------------------------------


def test_script_falling_off_the_end_with_an_unclosed_client_is_silent(
    any_server: TestServer,
) -> None:
    proc = run_child(
        any_server,
        """
        client = mylib.Client(verify=VERIFY)
        print(client.get(URL + "/get").status_code)
        """,
    )
    assert_silent(proc)
    assert proc.stdout == "200\n"


def test_sys_exit_with_an_unclosed_client_keeps_its_code_and_is_silent(
    any_server: TestServer,
) -> None:
    proc = run_child(
        any_server,
        """
        client = mylib.Client(verify=VERIFY)
        client.get(URL + "/get")
        sys.exit(3)
        """,
    )
    assert_silent(proc, returncode=3)


def test_uncaught_exception_prints_only_the_users_traceback(any_server: TestServer) -> None:
    proc = run_child(
        any_server,
        """
        client = mylib.Client(verify=VERIFY)
        client.get(URL + "/get")
        raise ValueError("boom")
        """,
    )
    assert proc.returncode == 1
    assert only_traceback(proc.stderr, "ValueError: boom"), proc.stderr


def test_top_level_keyboard_interrupt_prints_only_its_traceback(any_server: TestServer) -> None:
    bare = run_python("raise KeyboardInterrupt\n")
    proc = run_child(
        any_server,
        """
        client = mylib.Client(verify=VERIFY)
        client.get(URL + "/get")
        raise KeyboardInterrupt
        """,
    )
    assert proc.returncode == bare.returncode  # what Python itself does (killed by SIGINT)
    assert proc.returncode in (-2, 1, 130)
    assert only_traceback(proc.stderr, "KeyboardInterrupt"), proc.stderr


# -- what state the clients are in ------------------------------------------------------------

CLIENT_STATES = {
    "closed_twice": """
        client = mylib.Client(verify=VERIFY)
        client.get(URL + "/get")
        client.close()
        client.close()
        print(client.closed)
        """,
    "with_block": """
        with mylib.Client(verify=VERIFY) as client:
            client.get(URL + "/get")
        print(client.closed)
        """,
    "made_and_used_in_another_thread": """
        import threading
        out = []
        def work():
            out.append(mylib.Client(verify=VERIFY).get(URL + "/get").status_code)
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        print(out == [200])
        """,
    "dropped_and_collected": """
        import gc
        client = mylib.Client(verify=VERIFY)
        client.get(URL + "/get")
        del client
        gc.collect()
        print(True)
        """,
    "twenty_at_once": """
        clients = [mylib.Client(verify=VERIFY) for _ in range(20)]
        print(all(c.get(URL + f"/echo-id/{i}").json() == {"id": str(i)}
                  for i, c in enumerate(clients)))
        """,
    "module_helpers_only": """
        print(mylib.get(URL + "/get").ok and mylib.post(URL + "/anything", json=[1]).ok)
        """,
}


@pytest.mark.parametrize("state", sorted(CLIENT_STATES))
def test_client_left_in_any_state_exits_silently(any_server: TestServer, state: str) -> None:
    proc = run_child(any_server, CLIENT_STATES[state])
    assert_silent(proc)
    assert proc.stdout == "True\n"


def test_client_made_but_never_used_starts_no_thread(any_server: TestServer) -> None:
    proc = run_child(
        any_server,
        """
        import threading
        client = mylib.Client(URL, verify=VERIFY)
        print(threading.active_count(), mylib._io.BRIDGE.state.value)
        """,
    )
    assert_silent(proc)
    assert proc.stdout == "1 idle\n"


# -- work still in flight at exit -------------------------------------------------------------


def test_exit_does_not_wait_for_a_daemon_thread_stuck_in_a_slow_request(
    any_server: TestServer, tmp_path: Path
) -> None:
    tag = f"daemon-{any_server.url}"
    child = start_child(
        any_server,
        f"""
        import threading
        client = mylib.Client(verify=VERIFY)
        def stuck():
            try:
                client.get(URL + "/delay/30", params={{"tag": {tag!r}}})
            except Exception as exc:  # never a CancelledError, which is no Exception
                # One write: the thread may be frozen at any point once the main one exits.
                os.write(1, (type(exc).__name__ + "\\n").encode())
        threading.Thread(target=stuck, daemon=True).start()
        sys.stdin.readline()  # the test says "go" once the server saw the request
        """,
        tmp_path,
    )
    try:
        assert any_server.wait_for("started", tag, timeout=30)
        started = time.monotonic()
        stdout, stderr = child.communicate("go\n", timeout=60)
        took = time.monotonic() - started
    finally:
        child.kill()
    assert (child.returncode, stderr) == (0, ""), stderr
    assert stdout in ("", "ClientClosedError\n")
    assert took < 10, f"exit took {took:.1f} s with a request in flight"
    assert any_server.wait_for("cancelled", tag)


@pytest.mark.parametrize("run", range(4))
def test_a_daemon_thread_that_does_not_catch_prints_nothing_at_exit(
    server: TestServer, tmp_path: Path, run: int
) -> None:
    # Two daemon threads that catch nothing: one waiting on a slow request (cancelled by the
    # exit sequence), one sending request after request (some land after the loop closed).
    # Neither may print "Exception in thread ..." at exit, as requests' would not.
    slow, busy = f"slow-{run}-{tmp_path.name}", f"busy-{run}-{tmp_path.name}"
    child = start_child(
        server,
        f"""
        import threading
        client = mylib.Client()
        def waiting():
            client.get(URL + "/delay/30", params={{"tag": {slow!r}}})
        def busy():
            while True:
                client.get(URL + "/delay/0", params={{"tag": {busy!r}}})
        threading.Thread(target=waiting, daemon=True).start()
        threading.Thread(target=busy, daemon=True).start()
        sys.stdin.readline()
        """,
        tmp_path,
    )
    try:
        assert server.wait_for("started", slow, timeout=30)
        assert server.wait_for("finished", busy, timeout=30)
        stdout, stderr = child.communicate("go\n", timeout=60)
    finally:
        child.kill()
    assert (child.returncode, stderr, stdout) == (0, "", "")
    assert server.wait_for("cancelled", slow)  # the slow request was still cancelled


def test_non_daemon_thread_requests_after_main_thread_ended_succeed(
    any_server: TestServer,
) -> None:
    proc = run_child(
        any_server,
        """
        import threading
        client = mylib.Client(verify=VERIFY)
        client.get(URL + "/get")
        def late():
            threading.main_thread().join()  # the main thread has ended: interpreter shutdown
            for i in range(3):
                print(client.get(URL + f"/echo-id/{i}").json()["id"], flush=True)
            print(mylib.get(URL + "/get").status_code, flush=True)
        threading.Thread(target=late).start()
        """,
    )
    assert_silent(proc)
    assert proc.stdout == "0\n1\n2\n200\n"


def test_resolving_a_host_name_after_main_thread_ended_works(tls_server: TestServer) -> None:
    # getaddrinfo runs on the loop's executor, which must still take work after
    # threading._shutdown, even when its first worker thread is needed only then.
    proc = run_child(
        tls_server,
        """
        import threading
        client = mylib.Client(verify=VERIFY)
        client.get(URL + "/get")  # the loop runs; 127.0.0.1 needed no lookup, so no worker
        url = URL.replace("127.0.0.1", "localhost")
        def late():
            threading.main_thread().join()
            for i in range(2):
                print(client.get(url + f"/echo-id/{i}").json()["id"], flush=True)
        threading.Thread(target=late).start()
        """,
    )
    assert_silent(proc)
    assert proc.stdout == "0\n1\n"


def test_first_use_after_main_thread_ended_works_or_fails_cleanly(
    any_server: TestServer,
) -> None:
    # Python 3.12.0/3.12.1 refuse to start any thread once the main thread has ended, so
    # the I/O loop cannot start then: the caller must get a clear mylib error, nothing else.
    proc = run_child(
        any_server,
        """
        import threading
        client = mylib.Client(verify=VERIFY)
        def late():
            threading.main_thread().join()
            try:
                threading.Thread(target=lambda: None, daemon=True).start()
            except RuntimeError:
                print("threads refused", flush=True)
            try:
                print(client.get(URL + "/get").status_code, flush=True)
            except mylib.ClientClosedError as exc:
                print("ClientClosedError", "main thread has ended" in str(exc), flush=True)
        threading.Thread(target=late).start()
        """,
    )
    assert_silent(proc)
    assert proc.stdout in ("200\n", "threads refused\nClientClosedError True\n")


# -- exit is prompt ---------------------------------------------------------------------------


def _exit_duration(server: TestServer, code: str, tmp_path: Path) -> float:
    """Seconds from the script's last line ("done") to the end of its process."""
    child = start_child(server, code + "\nprint('done', flush=True)\n", tmp_path)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        seen = time.monotonic()
        stdout, stderr = child.communicate(timeout=60)
        took = time.monotonic() - seen
    finally:
        child.kill()
    assert (line, stdout, stderr, child.returncode) == ("done\n", "", "", 0), stderr
    return took


def test_exit_after_using_a_client_is_about_as_fast_as_a_bare_interpreter(
    any_server: TestServer, tmp_path: Path
) -> None:
    bare = _exit_duration(any_server, "", tmp_path)
    used = _exit_duration(
        any_server,
        "c = mylib.Client(verify=VERIFY)\nc.get(URL + '/get')\nmylib.get(URL + '/get')",
        tmp_path,
    )
    print(f"exit: bare interpreter {bare * 1000:.0f} ms, used client {used * 1000:.0f} ms")
    assert used - bare < 3


# -- AsyncClients on loops that ended without shutdown_asyncgens ------------------------------

USER_LOOP = """
    import asyncio
    client = mylib.AsyncClient(verify=VERIFY)
    loop = asyncio.new_event_loop()
    print(loop.run_until_complete(client.get(URL + "/get")).status_code)
    """


def test_async_client_on_a_loop_closed_without_shutdown_asyncgens_exits_silently(
    any_server: TestServer,
) -> None:
    proc = run_child(any_server, USER_LOOP + "loop.close()\n")
    assert_silent(proc)
    assert proc.stdout == "200\n"


def test_async_client_collected_after_its_loop_closed_stays_silent(
    any_server: TestServer,
) -> None:
    proc = run_child(
        any_server,
        USER_LOOP
        + """
    import gc
    loop.close()
    del client
    gc.collect()
    print("collected")
    """,
    )
    assert_silent(proc)
    assert proc.stdout == "200\ncollected\n"


def test_async_client_on_a_loop_never_closed_is_closed_on_that_loop_at_exit(
    any_server: TestServer,
) -> None:
    # The user's own unclosed loop earns its own ResourceWarning (exactly as without mylib);
    # the client's session must add nothing to it.
    # Registered before mylib is imported, so it runs after mylib's exit sweep.
    code = (
        "import atexit\n"
        "atexit.register(lambda: print('session closed:', SESSION.closed))\n"
        + PRELUDE
        + textwrap.dedent(USER_LOOP)
        + "SESSION = next(iter(client._transport._sessions._sessions.values()))\n"
    )
    proc = run_python(code, env_extra=child_env(any_server))
    assert proc.returncode == 0
    assert proc.stdout == "200\nsession closed: True\n"
    noise = [line for line in proc.stderr.splitlines() if "unclosed event loop" not in line]
    assert noise == [], proc.stderr


def test_stream_left_open_at_exit_is_closed_silently(any_server: TestServer) -> None:
    proc = run_child(
        any_server,
        """
        client = mylib.Client(verify=VERIFY)
        unread = client.stream("GET", URL + "/stream-bytes/200000").__enter__()
        started = client.stream("GET", URL + "/stream-bytes/200000?chunk_size=1000").__enter__()
        print(unread.status_code, len(next(started.iter_bytes(1000))))
        """,
    )
    assert_silent(proc)
    assert proc.stdout == "200 1000\n"
