"""The clients under test, one function per (variant, kind of cell).

Every function does the same work as its peers: GET the cell's path, read the whole body, check
status 200 and the exact byte count (``measure.check``).  Libraries are imported inside the
functions, so a worker process only loads the library it measures.  mylib is used through its
public API only (DESIGN.md): ``Client(base_url=..., verify=...)``, ``get``, ``map``, ``stream``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks.cells import STREAM_CHUNK
from benchmarks.measure import Meter, check, proc_status

Result = dict[str, Any]


@dataclass
class Target:
    """Where to send requests and what must come back."""

    base: str  # scheme://host:port, no trailing slash
    path: str
    size: int
    ca: str  # CA bundle that signed the HTTPS server cert
    concurrency: int = 1
    batch: int = 1  # requests per timed call in concurrent cells

    @property
    def https(self) -> bool:
        return self.base.startswith("https:")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)


# --- mylib -------------------------------------------------------------------------------

def import_mylib() -> Any:
    # mylib is written alongside this harness: look it up at run time, so a missing name is a
    # per-cell "n/a (not implemented)" rather than a type-check failure of the whole suite.
    return importlib.import_module("mylib")


def _mylib_client(t: Target) -> Any:
    mylib = import_mylib()
    return mylib.Client(base_url=t.base, verify=t.ca) if t.https else mylib.Client(base_url=t.base)


def seq_mylib(t: Target, m: Meter) -> Result:
    c = _mylib_client(t)

    def one() -> int:
        r = c.get(t.path)
        check(r.status_code, len(r.content), t.size)
        return 1

    try:
        return m.sync(one)
    finally:
        c.close()


def _seq_mylib_cache(t: Target, m: Meter, location: str, urls: int = 1) -> Result:
    # With urls=1000 (more than the hot set holds) every hit is a store lookup in a cache
    # worker, as the first hit of each URL after a re-run is.
    mylib = import_mylib()
    c = mylib.Client(base_url=t.base, cache=mylib.Cache(location))
    c.cache.clear()
    paths = [t.path] if urls == 1 else [f"{t.path}?i={i}" for i in range(urls)]
    c.map("GET", paths, concurrency=10)  # stored; every timed call is a hit
    turn = iter(range(1 << 62))

    def one() -> int:
        r = c.get(paths[next(turn) % len(paths)])
        check(r.status_code, len(r.content), t.size)
        assert r.from_cache
        return 1

    try:
        return m.sync(one)
    finally:
        c.close()


def seq_mylib_cache(t: Target, m: Meter) -> Result:
    return _seq_mylib_cache(t, m, ":memory:")


def seq_mylib_cache_many(t: Target, m: Meter) -> Result:
    return _seq_mylib_cache(t, m, ":memory:", urls=1000)


def seq_mylib_cache_file(t: Target, m: Meter) -> Result:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mylib-bench-") as d:
        return _seq_mylib_cache(t, m, os.path.join(d, "cache.sqlite"))


def seq_httpx_hishel(t: Target, m: Meter) -> Result:
    import sqlite3

    import hishel
    import httpx
    from hishel.httpx import CacheTransport

    storage = hishel.SqliteStorage(connection=sqlite3.connect(":memory:", check_same_thread=False))
    transport = CacheTransport(httpx.HTTPTransport(), storage=storage, rfc=True)
    with httpx.Client(base_url=t.base, transport=transport) as c:
        c.get(t.path)

        def one() -> int:
            r = c.get(t.path)
            check(r.status_code, len(r.content), t.size)
            assert r.extensions["caching"]["from_cache"]
            return 1

        return m.sync(one)


def conc_mylib(t: Target, m: Meter) -> Result:
    c = _mylib_client(t)
    paths = [t.path] * t.batch

    def batch() -> int:
        for r in c.map("GET", paths, concurrency=t.concurrency):
            check(r.status_code, len(r.content), t.size)
        return len(paths)

    try:
        return m.sync(batch)
    finally:
        c.close()


def stream_mylib(t: Target) -> tuple[Callable[[], int], Callable[[], None]]:
    c = _mylib_client(t)

    def read() -> int:
        n = 0
        with c.stream("GET", t.path) as r:
            check(r.status_code, t.size, t.size)
            for chunk in r.iter_bytes(STREAM_CHUNK):
                n += len(chunk)
        return n

    return read, c.close


# --- requests ----------------------------------------------------------------------------

def _requests_session(t: Target) -> Any:
    import requests
    from requests.adapters import HTTPAdapter

    s = requests.Session()
    s.verify = t.ca if t.https else True
    # Default pool_maxsize is 10: with more threads requests would open and drop connections.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(10, t.concurrency))
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def seq_requests(t: Target, m: Meter) -> Result:
    s, url = _requests_session(t), t.base + t.path

    def one() -> int:
        r = s.get(url)
        check(r.status_code, len(r.content), t.size)
        return 1

    try:
        return m.sync(one)
    finally:
        s.close()


def conc_requests_threads(t: Target, m: Meter) -> Result:
    s, url = _requests_session(t), t.base + t.path
    pool = ThreadPoolExecutor(t.concurrency)

    def one(_: int) -> None:
        r = s.get(url)
        check(r.status_code, len(r.content), t.size)

    def batch() -> int:
        for _ in pool.map(one, range(t.batch)):
            pass
        return t.batch

    try:
        return m.sync(batch)
    finally:
        pool.shutdown()
        s.close()


def stream_requests(t: Target) -> tuple[Callable[[], int], Callable[[], None]]:
    s, url = _requests_session(t), t.base + t.path

    def read() -> int:
        n = 0
        with s.get(url, stream=True) as r:
            check(r.status_code, t.size, t.size)
            for chunk in r.iter_content(STREAM_CHUNK):
                n += len(chunk)
        return n

    return read, s.close


# --- httpx -------------------------------------------------------------------------------

def _httpx_kwargs(t: Target) -> dict[str, Any]:
    import httpx

    n = max(t.concurrency, 10)
    return {
        "base_url": t.base,
        "verify": t.ssl_context() if t.https else True,
        "limits": httpx.Limits(max_connections=n, max_keepalive_connections=n),
    }


def seq_httpx(t: Target, m: Meter) -> Result:
    import httpx

    with httpx.Client(**_httpx_kwargs(t)) as c:

        def one() -> int:
            r = c.get(t.path)
            check(r.status_code, len(r.content), t.size)
            return 1

        return m.sync(one)


def conc_httpx_async(t: Target, m: Meter) -> Result:
    import httpx

    async def main() -> Result:
        sem = asyncio.Semaphore(t.concurrency)
        async with httpx.AsyncClient(**_httpx_kwargs(t)) as c:

            async def one() -> None:
                async with sem:
                    r = await c.get(t.path)
                check(r.status_code, len(r.content), t.size)

            async def batch() -> int:
                await asyncio.gather(*(one() for _ in range(t.batch)))
                return t.batch

            return await m.run_async(batch)

    return asyncio.run(main())


def stream_httpx(t: Target) -> tuple[Callable[[], int], Callable[[], None]]:
    import httpx

    c = httpx.Client(**_httpx_kwargs(t))

    def read() -> int:
        n = 0
        with c.stream("GET", t.path) as r:
            check(r.status_code, t.size, t.size)
            for chunk in r.iter_bytes(STREAM_CHUNK):
                n += len(chunk)
        return n

    return read, c.close


# --- native aiohttp ----------------------------------------------------------------------

def _aiohttp_session(t: Target) -> Any:
    import aiohttp

    conn = aiohttp.TCPConnector(ssl=t.ssl_context() if t.https else True,
                                limit=max(100, t.concurrency))
    return aiohttp.ClientSession(t.base, connector=conn)


def seq_aiohttp(t: Target, m: Meter) -> Result:
    async def main() -> Result:
        async with _aiohttp_session(t) as s:

            async def one() -> int:
                async with s.get(t.path) as r:
                    check(r.status, len(await r.read()), t.size)
                return 1

            return await m.run_async(one)

    return asyncio.run(main())


def conc_aiohttp_gather(t: Target, m: Meter) -> Result:
    async def main() -> Result:
        sem = asyncio.Semaphore(t.concurrency)
        async with _aiohttp_session(t) as s:

            async def one() -> None:
                async with sem, s.get(t.path) as r:
                    check(r.status, len(await r.read()), t.size)

            async def batch() -> int:
                await asyncio.gather(*(one() for _ in range(t.batch)))
                return t.batch

            return await m.run_async(batch)

    return asyncio.run(main())


def stream_aiohttp(t: Target) -> tuple[Callable[[], int], Callable[[], None]]:
    # The read runs in its own asyncio.run per call; the session is made inside it (aiohttp
    # sessions belong to one loop), so the setup returns a no-op close.
    async def read_async() -> int:
        n = 0
        async with _aiohttp_session(t) as s, s.get(t.path) as r:
            check(r.status, t.size, t.size)
            async for chunk in r.content.iter_chunked(STREAM_CHUNK):
                n += len(chunk)
        return n

    return (lambda: asyncio.run(read_async())), (lambda: None)


# --- the hand-written bridge (benchmarks/bridge.py) ---------------------------------------

def _bridge_client(t: Target) -> Any:
    from benchmarks.bridge import BridgeClient

    return BridgeClient(t.base, t.ssl_context() if t.https else True, max(100, t.concurrency))


def seq_bridge(t: Target, m: Meter) -> Result:
    c = _bridge_client(t)

    def one() -> int:
        status, body = c.get(t.path)
        check(status, len(body), t.size)
        return 1

    try:
        return m.sync(one)
    finally:
        c.close()


def conc_bridge_gather(t: Target, m: Meter) -> Result:
    c = _bridge_client(t)
    paths = [t.path] * t.batch

    def batch() -> int:
        for status, body in c.map(paths, t.concurrency):
            check(status, len(body), t.size)
        return len(paths)

    try:
        return m.sync(batch)
    finally:
        c.close()


def stream_bridge(t: Target) -> tuple[Callable[[], int], Callable[[], None]]:
    from benchmarks.bridge import run

    c = _bridge_client(t)

    def read() -> int:
        # The naive design: one thread hop per 64 KiB chunk (mylib is meant to batch chunks).
        r = run(c.session.get(t.path))
        check(r.status, t.size, t.size)
        n = 0
        while chunk := run(r.content.read(STREAM_CHUNK)):
            n += len(chunk)
        r.release()
        return n

    return read, c.close


# --- raw socket: the floor of any Python client --------------------------------------------

def seq_raw_socket(t: Target, m: Meter) -> Result:
    host, port = t.base.split("://")[1].split(":")
    sock: Any = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if t.https:
        sock = t.ssl_context().wrap_socket(sock, server_hostname=host)
    request = f"GET {t.path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    buf = b""

    def one() -> int:
        nonlocal buf
        sock.sendall(request)
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += sock.recv(65536)
        head, buf = buf[:end], buf[end + 4:]
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(buf) < length:
            buf += sock.recv(65536)
        body, buf = buf[:length], buf[length:]
        check(int(head.split(b" ", 2)[1]), len(body), t.size)
        return 1

    try:
        return m.sync(one)
    finally:
        sock.close()


SEQ: dict[str, Callable[[Target, Meter], Result]] = {
    "mylib": seq_mylib, "requests": seq_requests, "httpx": seq_httpx,
    "aiohttp": seq_aiohttp, "bridge": seq_bridge, "raw-socket": seq_raw_socket,
    "mylib-cache": seq_mylib_cache, "mylib-cache-file": seq_mylib_cache_file,
    "mylib-cache-many": seq_mylib_cache_many,
    "httpx-hishel": seq_httpx_hishel,
}
CONC: dict[str, Callable[[Target, Meter], Result]] = {
    "mylib-map": conc_mylib, "requests-threads": conc_requests_threads,
    "httpx-async": conc_httpx_async, "aiohttp-gather": conc_aiohttp_gather,
    "bridge-gather": conc_bridge_gather,
}
STREAM: dict[str, Callable[[Target], tuple[Callable[[], int], Callable[[], None]]]] = {
    "mylib": stream_mylib, "requests": stream_requests, "httpx": stream_httpx,
    "aiohttp": stream_aiohttp, "bridge": stream_bridge,
}


def rss_kib() -> int:
    """Current RSS in KiB after a collection (so garbage does not count as client memory)."""
    gc.collect()
    return proc_status("VmRSS")


def threads_now() -> dict[str, int]:
    """Python-visible threads and OS threads of this process."""
    return {"threads": threading.active_count(), "os_threads": proc_status("Threads")}
