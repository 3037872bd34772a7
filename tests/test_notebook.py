"""mylib in a real Jupyter kernel, whose main thread already runs an event loop.

One ipykernel (of this interpreter) serves the whole module; each test executes cells in it
through ``jupyter_client``, as a notebook front end would. The kernel's own stderr goes to a
file: that is where "Unclosed client session" or "Exception ignored" would land when the
kernel shuts down.

The kernel runs with ``-W default`` (ResourceWarnings shown) rather than ``-X dev``: asyncio's
debug mode makes ipykernel 7 itself fail its shutdown request (it stops the shell loop from
the control thread), and the kernel would then be killed before any atexit handler ran.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests._server import TestServer
from tests._subproc import REPO_ROOT

KERNEL_NAME = "mylib-test-python"
#: What must never appear on the kernel's stderr, during the session or at shutdown.
NOISE = (
    "Unclosed",
    "Exception ignored",
    "Task was destroyed",
    "never awaited",
    "Event loop is closed",
    "Fatal error on SSL transport",
)


@dataclass
class CellResult:
    """What a cell produced: reply status, stdout, stderr and the error name, if any."""

    status: str
    stdout: str = ""
    stderr: str = ""
    ename: str | None = None
    traceback: list[str] = field(default_factory=list)

    def check(self) -> CellResult:
        assert self.status == "ok" and not self.stderr, (
            f"cell failed: {self.ename}\n{self.stderr}\n" + "\n".join(self.traceback)
        )
        return self


class Kernel:
    """A running kernel, a client to it, and the file its stderr goes to."""

    def __init__(self, tmp: Path) -> None:
        kernel_dir = tmp / "kernels" / KERNEL_NAME
        kernel_dir.mkdir(parents=True)
        env = {
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
            )
        }
        # This interpreter, whatever "python3" resolves to elsewhere on the machine.
        spec = {
            "argv": [sys.executable, "-W", "default", "-m", "ipykernel_launcher", "-f",
                     "{connection_file}"],
            "display_name": "mylib tests",
            "language": "python",
            "env": env,
        }  # fmt: skip
        (kernel_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        self.stderr_path = tmp / "kernel-stderr.txt"
        #: Written by an atexit handler registered before mylib's, so it runs after it.
        self.exit_marker = tmp / "exited"
        self._stderr: TextIO = open(self.stderr_path, "w", encoding="utf-8")  # noqa: SIM115
        self.km = KernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp / "kernels")]),
        )
        self.km.start_kernel(cwd=str(REPO_ROOT), stderr=self._stderr, stdout=self._stderr)
        self.kc: BlockingKernelClient = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.returncode: int | None = None

    def execute(self, code: str, timeout: float = 60) -> CellResult:
        """Run a cell and wait for it to finish."""
        return self.collect(self.kc.execute(textwrap.dedent(code)), timeout)

    def collect(self, msg_id: str, timeout: float = 60) -> CellResult:
        """The result of the cell ``msg_id``, once its reply and outputs have arrived."""
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=timeout)
        result = CellResult(status=reply["content"]["status"])
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no idle status after cell; so far {result}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    result.stdout += content["text"]
                else:
                    result.stderr += content["text"]
            elif kind == "error":
                result.ename = content["ename"]
                result.traceback = content["traceback"]
            elif kind == "status" and content["execution_state"] == "idle":
                return result

    def shutdown(self) -> str:
        """Shut the kernel down politely (its atexit handlers run) and return its stderr."""
        if self.km.has_kernel:
            # Once the kernel stops, its sys.stderr (a stream to the front end) goes nowhere;
            # exit-time warnings must reach the file instead.
            self.execute("import sys; sys.stderr = sys.__stderr__").check()
            process = getattr(self.km.provisioner, "process", None)
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=False)
            self._stderr.close()
            self.returncode = None if process is None else process.poll()
        return self.stderr_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    with tempfile.TemporaryDirectory(prefix="mylib-kernel-") as tmp:
        k = Kernel(Path(tmp))
        try:
            # mylib's loop (and its atexit handler) starts lazily, so this one runs after it.
            k.execute(
                f"import atexit, asyncio, mylib\n"
                f"atexit.register(lambda: open({str(k.exit_marker)!r}, 'w').close())"
            ).check()
            yield k
        finally:
            k.shutdown()


def _verify(srv: TestServer) -> Any:
    return srv.ca_path or True


def test_kernel_runs_this_interpreter(kernel: Kernel) -> None:
    out = kernel.execute("import sys; print(sys.executable)").check().stdout
    assert out.strip() == sys.executable


def test_blocking_client_works_although_the_kernel_runs_a_loop(
    kernel: Kernel, any_server: TestServer
) -> None:
    result = kernel.execute(
        f"""
        assert asyncio.get_event_loop().is_running()  # the kernel's own loop, in this thread
        nb_client = mylib.Client(verify={_verify(any_server)!r})
        print(nb_client.get({any_server.url + "/echo-id/nb"!r}).json()["id"])
        print(nb_client.post({any_server.url + "/anything"!r}, json={{"a": 1}}).json()["json"])
        """
    ).check()
    assert result.stdout.split("\n")[:2] == ["nb", "{'a': 1}"]


def test_module_level_helper_works_in_a_cell(kernel: Kernel, server: TestServer) -> None:
    result = kernel.execute(
        f"print(mylib.get({server.url + '/get'!r}, params={{'q': 'cell'}}).json()['args'])"
    ).check()
    assert result.stdout.strip() == "{'q': 'cell'}"


def test_top_level_await_uses_async_client_on_the_kernel_loop(
    kernel: Kernel, any_server: TestServer
) -> None:
    result = kernel.execute(
        f"""
        async with mylib.AsyncClient(verify={_verify(any_server)!r}) as ac:
            rs = await asyncio.gather(
                ac.get({any_server.url + "/echo-id/a"!r}), ac.get({any_server.url + "/echo-id/b"!r})
            )
        print([r.json()["id"] for r in rs])
        """
    ).check()
    assert result.stdout.strip() == "['a', 'b']"


def test_async_client_left_open_in_the_kernel_loop_works_across_cells(
    kernel: Kernel, server: TestServer
) -> None:
    kernel.execute("kept = mylib.AsyncClient()").check()
    for n in range(2):
        out = kernel.execute(
            f"print((await kept.get({server.url + '/echo-id/' + str(n)!r})).json()['id'])"
        ).check()
        assert out.stdout.strip() == str(n)


def test_run_works_in_a_cell(kernel: Kernel, server: TestServer) -> None:
    result = kernel.execute(
        f"""
        async def fetch():
            return (await mylib.AsyncClient().get({server.url + "/echo-id/run"!r})).json()
        print(mylib.run(fetch(), timeout=30)["id"])
        """
    ).check()
    assert result.stdout.strip() == "run"


def test_interrupt_during_get_cancels_it_and_client_stays_usable(
    kernel: Kernel, any_server: TestServer
) -> None:
    kernel.execute(f"ic = mylib.Client(verify={_verify(any_server)!r})").check()
    tag = uuid.uuid4().hex
    msg_id = kernel.kc.execute(f"ic.get({any_server.url + '/delay/30?tag=' + tag!r})")
    assert any_server.wait_for("started", tag, timeout=30), "the request never started"

    kernel.km.interrupt_kernel()
    interrupted = kernel.collect(msg_id, timeout=30)

    assert interrupted.status == "error" and interrupted.ename == "KeyboardInterrupt"
    assert any_server.wait_for("cancelled", tag), "the server never saw the disconnect"
    after = kernel.execute(f"print(ic.get({any_server.url + '/get'!r}).status_code)").check()
    assert after.stdout.strip() == "200"


def test_kernel_shuts_down_without_noise(kernel: Kernel, server: TestServer) -> None:
    # Clients of every kind are still open here (nb_client, kept, ic, the default client).
    kernel.execute(f"mylib.get({server.url + '/get'!r})").check()
    stderr = kernel.shutdown()
    noise = [line for line in stderr.splitlines() if any(word in line for word in NOISE)]
    assert noise == [], stderr
    # It exited by itself, through the atexit sequence, rather than being killed.
    assert kernel.returncode == 0, stderr
    assert kernel.exit_marker.exists(), stderr
