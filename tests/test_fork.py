"""A Client used before ``os.fork()`` works on both sides, and neither disturbs the other (#2).

The child must start a fresh loop and fresh sessions and never touch the parent's sockets
(a TLS close_notify sent from the child would end the parent's pooled connection); the parent
must go on using the very same pooled connection. Each case runs in a ``python -X dev`` child
process with an empty stderr asserted.
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from tests._server import TestServer
from tests._subproc import assert_silent
from tests.test_exit import run_child

pytestmark = pytest.mark.skipif(
    not hasattr(__import__("os"), "fork"), reason="os.fork() exists on POSIX only"
)

#: 3.12+ warns that fork() in a multi-threaded process may deadlock; mylib's I/O thread is
#: exactly such a thread, and surviving the fork is what these tests prove.
QUIET_FORK_WARNING = """
import warnings
warnings.filterwarnings("ignore", message=r"This process .* is multi-threaded")
"""


def run_forking(server: TestServer, code: str) -> subprocess.CompletedProcess[str]:
    """``run_child`` with the fork warning of Python 3.12+ silenced."""
    return run_child(server, QUIET_FORK_WARNING + textwrap.dedent(code))


def test_client_used_before_fork_works_in_child_and_parent_keeps_its_connection(
    any_server: TestServer,
) -> None:
    proc = run_forking(
        any_server,
        """
        client = mylib.Client(verify=VERIFY)
        before = client.get(URL + "/peer").json()["peer"]
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            first = client.get(URL + "/peer").json()["peer"]
            again = client.get(URL + "/peer").json()["peer"]
            print("child: new connection", first != before, "pooled", again == first, flush=True)
            sys.exit(0)  # a normal exit: the child's own atexit sequence runs
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        after = client.get(URL + "/peer").json()["peer"]
        print("parent: child rc", status, "same connection", after == before)
        """,
    )
    assert_silent(proc)
    assert proc.stdout == (
        "child: new connection True pooled True\nparent: child rc 0 same connection True\n"
    )


def test_module_level_client_works_in_a_fork_context_pool(any_server: TestServer) -> None:
    proc = run_forking(
        any_server,
        """
        import multiprocessing

        client = mylib.Client(verify=VERIFY)

        def fetch(i):
            return client.get(URL + f"/echo-id/{i}").json()["id"]

        if __name__ == "__main__":
            client.get(URL + "/get")  # the parent's loop and connection exist before the fork
            with multiprocessing.get_context("fork").Pool(2) as pool:
                print(pool.map(fetch, range(6)))
            print(client.get(URL + "/echo-id/parent").json()["id"])
        """,
    )
    assert_silent(proc)
    assert proc.stdout == "['0', '1', '2', '3', '4', '5']\nparent\n"


def test_fork_before_any_use_gives_the_child_its_own_loop(any_server: TestServer) -> None:
    proc = run_forking(
        any_server,
        """
        client = mylib.Client(verify=VERIFY)
        sys.stdout.flush()
        pid = os.fork()
        status = client.get(URL + "/get").status_code
        if pid == 0:
            print("child", status, flush=True)
            sys.exit(0)
        rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        print("parent", status, "child rc", rc)  # after the child, so lines never interleave
        """,
    )
    assert_silent(proc)
    assert proc.stdout == "child 200\nparent 200 child rc 0\n"
