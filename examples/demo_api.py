"""A tiny in-memory todo REST API on 127.0.0.1, so the quickstart and examples need no internet.

    from demo_api import serve

    with serve() as base_url:            # e.g. "http://127.0.0.1:54321"
        ...                               # talk to f"{base_url}/todos"

Routes (JSON in and out; errors are ``{"error": "..."}``):
    GET    /todos            all items, oldest first; ``?done=true|false`` filters
    POST   /todos            body ``{"title": str}`` -> 201 and the new item
    GET    /todos/{id}       the item, or 404
    PATCH  /todos/{id}       body with ``title`` and/or ``done`` -> the updated item
    DELETE /todos/{id}       204, or 404

An item is ``{"id": int, "title": str, "done": bool}``. The GETs carry an ``ETag`` and
``Cache-Control: no-cache`` (a cache keeps them and checks back each time), and answer a
matching ``If-None-Match`` with ``304 Not Modified``. ``python examples/demo_api.py [--port N]``
serves it in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from aiohttp import web

__all__ = ["make_app", "serve"]

Todo = dict[str, Any]


class TodoStore:
    """The items of one app, keyed by id; ids are never reused."""

    def __init__(self) -> None:
        self.items: dict[int, Todo] = {}
        self._next_id = 1

    def add(self, title: str) -> Todo:
        item: Todo = {"id": self._next_id, "title": title, "done": False}
        self.items[self._next_id] = item
        self._next_id += 1
        return item


STORE = web.AppKey("store", TodoStore)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": "body must be JSON"}', content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error": "body must be a JSON object"}', content_type="application/json"
        )
    return body


def _lookup(request: web.Request) -> Todo | None:
    return request.app[STORE].items.get(int(request.match_info["id"]))


def _validated(request: web.Request, data: Any) -> web.Response:
    """``data`` as JSON with its ETag, or 304 when the client already has this version."""
    body = json.dumps(data).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def list_todos(request: web.Request) -> web.Response:
    items = list(request.app[STORE].items.values())
    done = request.query.get("done")
    if done is not None:
        items = [item for item in items if item["done"] == (done.lower() == "true")]
    return _validated(request, items)


async def create_todo(request: web.Request) -> web.Response:
    body = await _json_object(request)
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        return _error(400, "title must be a non-empty string")
    return web.json_response(request.app[STORE].add(title), status=201)


async def get_todo(request: web.Request) -> web.Response:
    item = _lookup(request)
    if item is None:
        return _error(404, f"todo {request.match_info['id']} not found")
    return _validated(request, item)


async def update_todo(request: web.Request) -> web.Response:
    item = _lookup(request)
    if item is None:
        return _error(404, f"todo {request.match_info['id']} not found")
    body = await _json_object(request)
    if "title" in body and not (isinstance(body["title"], str) and body["title"].strip()):
        return _error(400, "title must be a non-empty string")
    if "done" in body and not isinstance(body["done"], bool):
        return _error(400, "done must be true or false")
    item.update({k: body[k] for k in ("title", "done") if k in body})
    return web.json_response(item)


async def delete_todo(request: web.Request) -> web.Response:
    if request.app[STORE].items.pop(int(request.match_info["id"]), None) is None:
        return _error(404, f"todo {request.match_info['id']} not found")
    return web.Response(status=204)


def make_app() -> web.Application:
    """A fresh application with an empty todo list."""
    app = web.Application()
    app[STORE] = TodoStore()
    app.router.add_get("/todos", list_todos)
    app.router.add_post("/todos", create_todo)
    # \d+ so that /todos/abc is a plain 404 rather than a crash in int().
    app.router.add_get(r"/todos/{id:\d+}", get_todo)
    app.router.add_patch(r"/todos/{id:\d+}", update_todo)
    app.router.add_delete(r"/todos/{id:\d+}", delete_todo)
    return app


@contextmanager
def serve(port: int = 0) -> Iterator[str]:
    """Serve a fresh todo API on 127.0.0.1 from a daemon thread; yield its base URL.

    ``port=0`` picks a free port. The server has its own event loop, so it never competes with
    the client under demonstration, and on exit it stops cleanly, printing nothing.

    Raises:
        OSError: the port could not be bound.
    """
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        state["stop"] = lambda: loop.call_soon_threadsafe(stop.set)
        runner = web.AppRunner(make_app(), access_log=None, shutdown_timeout=1.0)
        try:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        except BaseException as exc:
            state["error"] = exc
            await runner.cleanup()
            return
        finally:
            ready.set()
        try:
            await stop.wait()
        finally:
            transports = [h.transport for h in runner.server.connections] if runner.server else []
            await runner.cleanup()
            # A client that stopped reading keeps a closing transport open past the loop's end,
            # which -X dev reports as "unclosed transport"; abort what cleanup left.
            for transport in transports:
                if transport is not None:
                    transport.abort()
            await asyncio.sleep(0)  # lets the aborts' connection_lost callbacks run

    def run() -> None:
        # asyncio.Runner makes its own loop (no global policy change) and, on the way out,
        # cancels leftovers and shuts down async generators and the default executor.
        with asyncio.Runner() as runner:
            runner.run(main())

    thread = threading.Thread(target=run, name="demo-api", daemon=True)
    thread.start()
    ready.wait()
    if "error" in state:
        thread.join()
        raise state["error"]
    try:
        yield state["url"]
    finally:
        state["stop"]()
        thread.join(timeout=10)


def main() -> None:
    """Serve in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Serve the demo todo API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    port = parser.parse_args().port
    with serve(port) as url:
        print(f"demo todo API on {url}/todos (Ctrl-C to stop)", flush=True)
        # Ctrl-C is the way out, so it ends the program quietly rather than with a traceback.
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
