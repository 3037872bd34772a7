"""The loopback server: nginx when installed, else an aiohttp fallback that says so.

nginx is the default because it is not the bottleneck: a C client (wrk) gets ~85k req/s out of one
nginx worker here, ten times what any Python client reaches, so client differences are not hidden
by a saturated server.  The aiohttp fallback is slower and shares the interpreter's costs, so its
results are labelled ``server: aiohttp-fallback`` in every output.

The server runs as one process (nginx ``master_process off``) so that its CPU use is one pid's
``/proc/<pid>/stat`` utime+stime, which the worker samples around its timed window.

Run as ``python -m benchmarks.server --fallback DIR HTTP_PORT HTTPS_PORT`` to start the fallback.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.cells import BIG_SIZE, ONE_KIB, SMALL_JSON

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    open_file_cache max=16 inactive=600s;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    types {{ application/json json; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{http_port};
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        ssl_session_cache shared:SSL:1m;
        root {d}/www;
        location = /1k {{ default_type application/octet-stream; }}
        location = /cached.json {{ add_header Cache-Control "max-age=3600"; }}
        location = /big {{ default_type application/octet-stream; }}
    }}
}}
"""


@dataclass
class Server:
    """A running loopback server and what clients need to reach and trust it."""

    kind: str  # "nginx" or "aiohttp-fallback"
    version: str
    http_base: str
    https_base: str
    ca_path: str
    proc: subprocess.Popen[bytes]
    tmpdir: str
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The pid whose CPU time is the server's CPU time."""
        return self.proc.pid

    def stop(self) -> None:
        """Stop the server process and remove its temp dir (always call this, even on errors)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def cpu_ticks(pid: int) -> int:
    """utime+stime of ``pid`` in clock ticks, or -1 if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name (field 2) may contain spaces: split after its closing paren.
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return -1


def plan_cpus() -> tuple[int | None, int | None]:
    """(server CPU, client CPU) when there are two or more CPUs to pin to, else (None, None).

    With one core, pinning both to it would only add contention, so we do not pin at all.
    """
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


def pin_preexec(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cpu`` (None when not pinning).

    Used instead of ``taskset`` so pinning needs no extra binary; the orchestrator has no other
    threads, so ``preexec_fn``'s fork-safety caveat does not apply.
    """
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_content(d: Path) -> None:
    """The served files: the small JSON, 1 KiB, and a sparse 256 MiB file."""
    www = d / "www"
    www.mkdir()
    (www / "small.json").write_bytes(SMALL_JSON)
    (www / "cached.json").write_bytes(SMALL_JSON)
    (www / "1k").write_bytes(ONE_KIB)
    with open(www / "big", "wb") as f:
        f.truncate(BIG_SIZE)


def warm_page_cache(srv: Server) -> None:
    """Read the big file once, outside any timed window, so every variant finds it cached.

    The file is sparse, and this VM reclaims cold page cache (kdamond) within minutes: the
    first variant to stream it in each round made the server fault in 256 MiB of zero pages,
    pinning the server's CPU at ~95% and cutting that variant to ~25% of the others' speed,
    whichever client went first (measured: requests too, when it went first).
    """
    with open(Path(srv.tmpdir) / "www" / "big", "rb") as f:
        while f.read(1 << 24):
            pass


def _write_certs(d: Path) -> str:
    """A trustme CA and a server cert for 127.0.0.1; returns the CA bundle path for clients."""
    import trustme  # only the orchestrator needs it, and only at server start

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(d / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    for pem in cert.cert_chain_pems[1:]:
        with open(d / "server.pem", "ab") as f:
            f.write(pem.bytes())
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    return str(d / "ca.pem")


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on port {port} within 10 s")


def start(cpu: int | None, force_fallback: bool = False) -> Server:
    """Start nginx (or the fallback) pinned to ``cpu`` and wait until both ports listen."""
    d = Path(tempfile.mkdtemp(prefix="mylib-bench-"))
    try:
        _write_content(d)
        ca_path = _write_certs(d)
        http_port, https_port = _free_port(), _free_port()
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                          else None)
        notes: list[str] = []
        if nginx and not force_fallback:
            kind = "nginx"
            conf = d / "nginx.conf"
            conf.write_text(NGINX_CONF.format(d=d, http_port=http_port, https_port=https_port))
            ver = subprocess.run([nginx, "-v"], capture_output=True, text=True)
            version = (ver.stderr or ver.stdout).strip().replace("nginx version: ", "")
            cmd = [nginx, "-c", str(conf), "-p", str(d), "-e", str(d / "error.log")]
        else:
            kind = "aiohttp-fallback"
            import aiohttp

            version = f"aiohttp {aiohttp.__version__}"
            why = "forced by --fallback-server" if nginx else "nginx not found"
            notes.append(f"{why}: results use the slower aiohttp fallback server")
            cmd = [sys.executable, "-m", "benchmarks.server", "--fallback", str(d),
                   str(http_port), str(https_port)]
        with open(d / "stderr.log", "wb") as log:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(cmd, preexec_fn=pin_preexec(cpu),
                                    stdout=subprocess.DEVNULL, stderr=log)
        server = Server(kind, version, f"http://127.0.0.1:{http_port}",
                        f"https://127.0.0.1:{https_port}", ca_path, proc, str(d), notes)
        try:
            _wait_listening(http_port, proc, kind)
            _wait_listening(https_port, proc, kind)
        except Exception:
            server.stop()
            raise
        return server
    except Exception:
        shutil.rmtree(d, ignore_errors=True)
        raise


def _run_fallback(d: str, http_port: int, https_port: int) -> None:
    """The aiohttp fallback server: same paths and bodies as the nginx config."""
    import asyncio
    import ssl

    from aiohttp import web

    async def small(_: web.Request) -> web.Response:
        return web.Response(body=SMALL_JSON, content_type="application/json")

    async def cached(_: web.Request) -> web.Response:
        return web.Response(body=SMALL_JSON, content_type="application/json",
                            headers={"Cache-Control": "max-age=3600"})

    async def one_k(_: web.Request) -> web.Response:
        return web.Response(body=ONE_KIB, content_type="application/octet-stream")

    async def big(request: web.Request) -> web.FileResponse:
        return web.FileResponse(os.path.join(d, "www", "big"))

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/small.json", small)
        app.router.add_get("/cached.json", cached)
        app.router.add_get("/1k", one_k)
        app.router.add_get("/big", big)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
        await web.TCPSite(runner, "127.0.0.1", http_port).start()
        await web.TCPSite(runner, "127.0.0.1", https_port, ssl_context=ctx).start()
        await asyncio.Event().wait()  # serve until terminated

    asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--fallback":
        _run_fallback(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("usage: python -m benchmarks.server --fallback DIR HTTP_PORT HTTPS_PORT")
