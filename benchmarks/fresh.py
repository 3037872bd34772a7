"""Cells about a client's fixed costs: import time, a fresh process's first response, and what
100 idle clients cost in memory and threads.

Import and first-response run a *child* interpreter (``python -c SNIPPET``) so that nothing the
worker has already imported (json, argparse, the harness) is shared with the measured import.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.cells import SMALL_JSON
from benchmarks.measure import check
from benchmarks.variants import Result, Target, import_mylib, rss_kib, threads_now

N_CLIENTS = 100

IMPORT_SNIPPET = """\
import time
t0 = time.perf_counter()
import {module}
print((time.perf_counter() - t0) * 1000)
"""

# Each snippet: argv[1] is the HTTP base URL; prints {"import_ms", "get_ms"}.  Same work each:
# import, make a client, GET /small.json, read it all, check 200 and the length.
_FIRST_HEAD = "import json, sys, time\nt0 = time.perf_counter()\n"
_FIRST_TAIL = (
    "\nt2 = time.perf_counter()\nassert status == 200 and n == {size}, (status, n)\n"
    'print(json.dumps({{"import_ms": (t1 - t0) * 1000, "get_ms": (t2 - t1) * 1000}}))\n'
)
FIRST_BODIES = {
    "mylib": """import mylib
t1 = time.perf_counter()
r = mylib.Client(base_url=sys.argv[1]).get("/small.json")
status, n = r.status_code, len(r.content)""",
    "requests": """import requests
t1 = time.perf_counter()
r = requests.Session().get(sys.argv[1] + "/small.json")
status, n = r.status_code, len(r.content)""",
    "httpx": """import httpx
t1 = time.perf_counter()
with httpx.Client(base_url=sys.argv[1]) as c:
    r = c.get("/small.json")
status, n = r.status_code, len(r.content)""",
    "aiohttp": """import asyncio, aiohttp
t1 = time.perf_counter()
async def main():
    async with aiohttp.ClientSession(sys.argv[1]) as s, s.get("/small.json") as r:
        return r.status, len(await r.read())
status, n = asyncio.run(main())""",
    "bridge": """from benchmarks.bridge import BridgeClient
t1 = time.perf_counter()
status, body = BridgeClient(sys.argv[1]).get("/small.json")
n = len(body)""",
    "raw-socket": """import socket
t1 = time.perf_counter()
host, port = sys.argv[1].split("://")[1].split(":")
s = socket.create_connection((host, int(port)))
s.sendall(f"GET /small.json HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: close\\r\\n\\r\\n".encode())
data = b""
while chunk := s.recv(65536):
    data += chunk
head, body = data.split(b"\\r\\n\\r\\n", 1)
status, n = int(head.split()[1]), len(body)""",
}


class ChildFailed(RuntimeError):
    """The measured child process failed; the message is the tail of its stderr."""


def _run_child(code: str, *args: str) -> tuple[str, float]:
    """Run ``python -c code args`` and return (stdout, wall ms)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       timeout=60)
    wall = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        tail = p.stderr.strip().splitlines()[-1:] or [f"exit code {p.returncode}"]
        raise ChildFailed(tail[0])
    return p.stdout, wall


def import_time(variant: str) -> Result:
    """In-process ms around ``import <variant>`` (value) and the child's whole wall time."""
    out, wall = _run_child(IMPORT_SNIPPET.format(module=variant))
    return {"value": float(out.strip()), "wall_ms": wall}


def first_response(variant: str, http_base: str) -> Result:
    """Wall ms of a fresh process that imports, GETs once and exits (value), plus its parts."""
    code = _FIRST_HEAD + FIRST_BODIES[variant] + _FIRST_TAIL.format(size=len(SMALL_JSON))
    out, wall = _run_child(code, http_base)
    return {"value": wall, **json.loads(out)}


# --- 100 idle clients -----------------------------------------------------------------------

def _clients_sync(make: Callable[[], Any], get: Callable[[Any], None],
                  close: Callable[[Any], None]) -> Result:
    # One client first, so one-off costs (lazy imports, the I/O thread, SSL setup) are not
    # charged to the hundred.
    warm = make()
    get(warm)
    close(warm)
    before = rss_kib()
    clients = [make() for _ in range(N_CLIENTS)]
    for c in clients:
        get(c)
    after = rss_kib()
    threads = threads_now()
    for c in clients:
        close(c)
    return {"value": (after - before) / N_CLIENTS, **threads}


async def _clients_async(make: Callable[[], Any], get: Callable[[Any], Awaitable[None]],
                         close: Callable[[Any], Awaitable[None]]) -> Result:
    warm = make()
    await get(warm)
    await close(warm)
    before = rss_kib()
    clients = [make() for _ in range(N_CLIENTS)]
    for c in clients:
        await get(c)
    after = rss_kib()
    threads = threads_now()
    for c in clients:
        await close(c)
    return {"value": (after - before) / N_CLIENTS, **threads}


def idle_clients(variant: str, t: Target) -> Result:
    """KiB of RSS per idle client with one finished request each (value), and thread counts."""
    url = t.base + t.path
    if variant == "mylib":
        mylib = import_mylib()

        def mylib_get(c: Any) -> None:
            r = c.get(t.path)
            check(r.status_code, len(r.content), t.size)

        return _clients_sync(lambda: mylib.Client(base_url=t.base), mylib_get,
                             lambda c: c.close())
    if variant in ("requests", "httpx"):
        mod = __import__(variant)
        make = mod.Session if variant == "requests" else mod.Client

        def sync_get(c: Any) -> None:
            r = c.get(url)
            check(r.status_code, len(r.content), t.size)

        return _clients_sync(make, sync_get, lambda c: c.close())
    if variant == "bridge":
        from benchmarks.bridge import BridgeClient

        def bridge_get(c: BridgeClient) -> None:
            status, body = c.get(t.path)
            check(status, len(body), t.size)

        return _clients_sync(lambda: BridgeClient(t.base), bridge_get, lambda c: c.close())
    if variant == "aiohttp":
        import aiohttp

        async def aio_get(s: Any) -> None:
            async with s.get(url) as r:
                check(r.status, len(await r.read()), t.size)

        async def aio_close(s: Any) -> None:
            await s.close()

        return asyncio.run(_clients_async(aiohttp.ClientSession, aio_get, aio_close))
    if variant == "httpx-async":
        import httpx

        async def hx_get(c: Any) -> None:
            r = await c.get(url)
            check(r.status_code, len(r.content), t.size)

        async def hx_close(c: Any) -> None:
            await c.aclose()

        return asyncio.run(_clients_async(httpx.AsyncClient, hx_get, hx_close))
    raise KeyError(f"no clients-100 routine for {variant!r}")
