"""A loopback, httpbin-like test server (plain HTTP or TLS) running on its own thread and loop.

The server deliberately does not share mylib's I/O loop: a bug that stalls or kills that loop must
show up as a failing client call, not as a server that stops answering.

    server = TestServer()            # or TestServer(tls=True); server.ca_path is then a PEM file
    requests.get(server.url + "/get?a=1")
    server.wait_for("cancelled", tag="t1")
    server.stop()

Endpoints (JSON unless noted):
    /anything[/...] /get        echo of method, path, url, args, headers, body, json, form, files
    /status/{code}              empty body; ?retry_after=N adds Retry-After; 3xx adds Location /get
    /delay/{seconds}?tag=X      records ("started", X), then ("finished", X) or ("cancelled", X)
    /json /text?charset= /html  fixed documents (text: Latin-1-safe non-ASCII; charset= omits it)
    /bytes/{n} /stream-bytes/{n}?chunk_size=   deterministic bytes, see ``pattern_bytes``
    /redirect/{n} /absolute-redirect/{n} /redirect-to?url=&status_code=
    /set-cookie?v=...&v=...     200, one Set-Cookie header per v, exactly as given
    /cookies /cookies/set?name=value /headers /basic-auth/{user}/{passwd} /bearer /echo-id/{id}
    /peer                       {"peer": [host, port]} of the client's end of this connection
    /gone-midway                headers and part of the body, then the connection is aborted
    /big/{n}                    n pattern bytes (up to 4 GiB) with Content-Length, generated fast
    /upload-size (POST)         {"size": bytes received}, counted without keeping the body
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import trustme
from aiohttp import web
from multidict import MultiDict, MultiMapping

__all__ = ["TestServer", "pattern_bytes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EventRecord = tuple[str, str | None]

_PATTERN = bytes(range(256))
_TEXT = "Héllo, wörld! Café crème, naïve façade."
_HTML = "<!DOCTYPE html>\n<html><head><title>mylib</title></head><body><h1>Hi</h1></body></html>\n"
_JSON_DOC: dict[str, Any] = {
    "slideshow": {"author": "Yours Truly", "title": "Sample", "slides": [{"title": "Overview"}]}
}
_GONE_MIDWAY_SENT = 100
_BIG_BLOCK = bytes(range(256)) * 4096  # 1 MiB; equals pattern_bytes(2**20)
_GONE_MIDWAY_PROMISED = 1000


def pattern_bytes(n: int, offset: int = 0) -> bytes:
    """The ``n`` bytes served by /bytes/{n}: byte i is ``(offset + i) % 256``."""
    start = offset % 256
    reps = (start + n) // 256 + 1
    return (_PATTERN * reps)[start : start + n]


def _multi(pairs: MultiMapping[Any]) -> dict[str, Any]:
    """httpbin's shape for a multi-dict: a single value, or a list when a key repeats."""
    out: dict[str, Any] = {}
    for key in pairs:
        if key in out:
            continue
        values = pairs.getall(key)
        out[key] = values[0] if len(values) == 1 else list(values)
    return out


async def _echo(request: web.Request) -> dict[str, Any]:
    form: dict[str, Any] = {}
    files: dict[str, str] = {}
    body = b""
    # Multipart is parsed from the stream, so it cannot also be read raw (httpbin shows no body).
    if request.content_type == "multipart/form-data":
        post = await request.post()
        fields: MultiDict[Any] = MultiDict()
        for key, value in post.items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read().decode("utf-8", "replace")
            else:
                fields.add(key, value)
        form = _multi(fields)
    else:
        body = await request.read()
        if request.content_type == "application/x-www-form-urlencoded":
            form = _multi(await request.post())
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return {
        "method": request.method,
        "path": request.path,
        "url": str(request.url),
        "args": _multi(request.query),
        "headers": _headers_of(request),
        "body": text,
        "json": parsed,
        "form": form,
        "files": files,
    }


def _headers_of(request: web.Request) -> dict[str, str]:
    return {k: ", ".join(request.headers.getall(k)) for k in request.headers}


def _int_param(request: web.Request, name: str, default: int, limit: int) -> int:
    try:
        raw = request.match_info.get(name) or request.query.get(name)
        value = default if raw is None else int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None
    return max(0, min(value, limit))


class TestServer:
    """An httpbin-like aiohttp server on 127.0.0.1, on a daemon thread with its own event loop.

    ``events`` is a list of ``(name, tag)`` records, ``hits`` counts requests per path, and
    ``wait_for`` blocks on a condition until an event arrives (tests never sleep to synchronise).
    """

    __test__ = False  # a helper, not a test class for pytest to collect

    def __init__(self, *, tls: bool = False, shutdown_timeout: float = 0.1) -> None:
        self.hits: Counter[str] = Counter()
        self.ca: trustme.CA | None = None
        self.ca_path: str | None = None
        self.url = ""
        self._events: list[EventRecord] = []
        self._cond = threading.Condition()
        self._ssl: ssl.SSLContext | None = None
        if tls:
            self.ca = trustme.CA()
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._ssl)
            fd, self.ca_path = tempfile.mkstemp(prefix="mylib-test-ca-", suffix=".pem")
            os.close(fd)
            self.ca.cert_pem.write_to_path(self.ca_path)
        self._shutdown_timeout = shutdown_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise RuntimeError("test server failed to start") from self._startup_error

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"<TestServer {self.url or '?'} {state}>"

    @property
    def events(self) -> list[EventRecord]:
        """A snapshot of the ``(name, tag)`` records so far, in order."""
        with self._cond:
            return list(self._events)

    def record(self, name: str, tag: str | None = None) -> None:
        """Append an event and wake every ``wait_for``."""
        with self._cond:
            self._events.append((name, tag))
            self._cond.notify_all()

    def wait_for(self, name: str, tag: str | None = None, timeout: float = 10.0) -> bool:
        """Block until an event ``name`` (with ``tag``, if given) was recorded; False on timeout."""

        def seen() -> bool:
            return any(n == name and (tag is None or t == tag) for n, t in self._events)

        with self._cond:
            return self._cond.wait_for(seen, timeout)

    def reset(self) -> None:
        """Forget events and hits (the server is session-wide; tests may prefer unique tags)."""
        with self._cond:
            self._events.clear()
            self.hits.clear()

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's CA (TLS servers only)."""
        if self.ca_path is None:
            raise RuntimeError("client_ssl_context() needs TestServer(tls=True)")
        return ssl.create_default_context(cafile=self.ca_path)

    def stop(self) -> None:
        """Stop serving, cancel in-flight handlers, join the thread and delete the CA file."""
        if self._loop is not None and self._stop_event is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(timeout=self._shutdown_timeout + 10)
        if self.ca_path is not None and os.path.exists(self.ca_path):
            os.unlink(self.ca_path)

    def _run(self) -> None:
        # asyncio.Runner cancels leftovers and shuts down async generators and the executor.
        with asyncio.Runner() as runner:
            runner.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        runner = web.AppRunner(
            self._make_app(),
            handler_cancellation=True,  # else a client disconnect never cancels /delay
            shutdown_timeout=self._shutdown_timeout,
            access_log=None,
        )
        try:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._ssl)
            await site.start()
            port = runner.addresses[0][1]
            self.url = f"{'https' if self._ssl else 'http'}://127.0.0.1:{port}"
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            handlers = runner.server.connections if runner.server else []
            transports = [h.transport for h in handlers if h.transport is not None]
            await runner.cleanup()
            # A TLS close waits for the peer's close_notify; a test client that never answers
            # would keep the transport open past the loop ("unclosed transport" under -X dev).
            for transport in transports:
                transport.abort()
            await asyncio.sleep(0)  # lets the aborts' connection_lost callbacks run

    def _make_app(self) -> web.Application:
        @web.middleware
        async def count_hits(request: web.Request, handler: Handler) -> web.StreamResponse:
            with self._cond:
                self.hits[request.path] += 1
            return await handler(request)

        app = web.Application(middlewares=[count_hits])
        r = app.router
        r.add_route("*", "/anything", self._anything)
        r.add_route("*", "/anything/{tail:.*}", self._anything)
        r.add_get("/get", self._anything)
        r.add_route("*", "/status/{code}", self._status)
        r.add_route("*", "/delay/{seconds}", self._delay)
        r.add_get("/json", self._json)
        r.add_get("/text", self._text)
        r.add_get("/html", self._html)
        r.add_get("/bytes/{n}", self._bytes)
        r.add_get("/stream-bytes/{n}", self._stream_bytes)
        r.add_route("*", "/redirect/{n}", self._redirect)
        r.add_route("*", "/absolute-redirect/{n}", self._redirect)
        r.add_route("*", "/redirect-to", self._redirect_to)
        r.add_get("/cookies", self._cookies)
        r.add_get("/cookies/set", self._cookies_set)
        r.add_get("/set-cookie", self._set_cookie)
        r.add_get("/headers", self._headers)
        r.add_get("/basic-auth/{user}/{passwd}", self._basic_auth)
        r.add_get("/bearer", self._bearer)
        r.add_get("/echo-id/{id}", self._echo_id)
        r.add_get("/peer", self._peer)
        r.add_get("/gone-midway", self._gone_midway)
        r.add_get("/big/{n}", self._big)
        r.add_post("/upload-size", self._upload_size)
        return app

    async def _anything(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await _echo(request))

    async def _status(self, request: web.Request) -> web.StreamResponse:
        code = _int_param(request, "code", 200, 599)
        if code < 200:
            raise web.HTTPBadRequest(text="status must be 200..599")
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        if code in (301, 302, 303, 307, 308):
            headers["Location"] = "/get"
        return web.Response(status=code, headers=headers)

    async def _delay(self, request: web.Request) -> web.StreamResponse:
        tag = request.query.get("tag")
        try:
            seconds = min(float(request.match_info["seconds"]), 60.0)
        except ValueError:
            raise web.HTTPBadRequest(text="seconds must be a number") from None
        self.record("started", tag)
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.record("cancelled", tag)
            raise
        self.record("finished", tag)
        return web.json_response(await _echo(request))

    async def _json(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(_JSON_DOC)

    async def _text(self, request: web.Request) -> web.StreamResponse:
        charset = request.query.get("charset", "utf-8")
        try:
            body = _TEXT.encode(charset or "utf-8")
        except LookupError:
            raise web.HTTPBadRequest(text=f"unknown charset {charset!r}") from None
        ctype = f"text/plain; charset={charset}" if charset else "text/plain"
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def _html(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=_HTML, content_type="text/html")

    async def _bytes(self, request: web.Request) -> web.StreamResponse:
        n = _int_param(request, "n", 0, 100 * 2**20)
        return web.Response(body=pattern_bytes(n), content_type="application/octet-stream")

    async def _stream_bytes(self, request: web.Request) -> web.StreamResponse:
        n = _int_param(request, "n", 0, 100 * 2**20)
        chunk_size = max(1, _int_param(request, "chunk_size", 10240, 2**20))
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for offset in range(0, n, chunk_size):
            await resp.write(pattern_bytes(min(chunk_size, n - offset), offset))
        await resp.write_eof()
        return resp

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        n = _int_param(request, "n", 1, 100)
        absolute = request.path.startswith("/absolute-redirect/")
        target = f"/{'absolute-redirect' if absolute else 'redirect'}/{n - 1}" if n > 1 else "/get"
        if absolute:
            target = str(request.url.origin().with_path(target))
        raise web.HTTPFound(target)

    async def _redirect_to(self, request: web.Request) -> web.StreamResponse:
        if "url" not in request.query:
            raise web.HTTPBadRequest(text="url is required")
        status = _int_param(request, "status_code", 302, 399)
        if not 300 <= status <= 399:
            raise web.HTTPBadRequest(text="status_code must be 3xx")
        return web.Response(status=status, headers={"Location": request.query["url"]})

    async def _cookies(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"cookies": dict(request.cookies)})

    async def _cookies_set(self, request: web.Request) -> web.StreamResponse:
        resp = web.HTTPFound("/cookies")
        for name, value in request.query.items():
            resp.set_cookie(name, value, path="/")
        raise resp

    async def _set_cookie(self, request: web.Request) -> web.StreamResponse:
        headers: MultiDict[str] = MultiDict()
        for value in request.query.getall("v", ()):
            headers.add("Set-Cookie", value)
        return web.json_response({"set": len(headers)}, headers=headers)

    async def _headers(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"headers": _headers_of(request)})

    async def _basic_auth(self, request: web.Request) -> web.StreamResponse:
        user, passwd = request.match_info["user"], request.match_info["passwd"]
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        try:
            given = base64.b64decode(value, validate=True).decode("utf-8")
        except ValueError:
            given = None
        if scheme.lower() != "basic" or given != f"{user}:{passwd}":
            challenge = {"WWW-Authenticate": 'Basic realm="Fake Realm"'}
            return web.json_response({"authenticated": False}, status=401, headers=challenge)
        return web.json_response({"authenticated": True, "user": user})

    async def _bearer(self, request: web.Request) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return web.json_response(
                {"authenticated": False}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return web.json_response({"authenticated": True, "token": token.strip()})

    async def _echo_id(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": request.match_info["id"]})

    async def _peer(self, request: web.Request) -> web.StreamResponse:
        # Which connection a request came on: a pooled connection keeps its client port.
        peer = request.transport.get_extra_info("peername") if request.transport else None
        return web.json_response({"peer": list(peer[:2]) if peer else None})

    async def _big(self, request: web.Request) -> web.StreamResponse:
        # Up to 4 GiB of pattern bytes with a Content-Length, written fast from one block.
        n = _int_param(request, "n", 0, 4 * 2**30)
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = n
        await resp.prepare(request)
        block = _BIG_BLOCK
        for offset in range(0, n, len(block)):
            await resp.write(block if n - offset >= len(block) else block[: n - offset])
        await resp.write_eof()
        return resp

    async def _upload_size(self, request: web.Request) -> web.StreamResponse:
        # Counts a (possibly huge) request body without keeping it.
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response({"size": size})

    async def _gone_midway(self, request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "application/octet-stream"}
        resp = web.StreamResponse(headers=headers | {"Content-Length": str(_GONE_MIDWAY_PROMISED)})
        await resp.prepare(request)
        await resp.write(pattern_bytes(_GONE_MIDWAY_SENT))
        assert request.transport is not None
        request.transport.abort()
        self.record("aborted", request.query.get("tag"))
        # connection_lost cancels this handler (handler_cancellation=True); waiting for that
        # keeps aiohttp from trying to finish a response on a dead transport.
        await asyncio.Event().wait()
        return resp
