"""A REST API wrapper used from async code, the way its users write it: nothing is closed.

``todo_client.TodoClient`` is an ``mylib.AsyncClient`` subclass. The client is made at import
time, outside any event loop, used by two ``asyncio.run`` calls, and never closed: each loop's
connections close when that loop ends, and the program exits without a word on stderr.

    python examples/wrapper_async.py
"""

from __future__ import annotations

import asyncio

from demo_api import serve
from todo_client import TodoClient, TodoError

with serve() as base_url:
    client = TodoClient(base_url, timeout=5)  # at import time, outside any loop

    async def main() -> None:
        first, _ = await asyncio.gather(
            client.create_todo("write the wrapper once"), client.create_todo("ship it twice")
        )
        await client.complete(first["id"])
        print("open:", [todo["title"] for todo in await client.list_todos(done=False)])
        async with client.scratch_todo("temporary") as todo:
            print("scratch item:", todo)
        async for todo in client.iter_todos():
            print("  -", todo["id"], todo["title"], "(done)" if todo["done"] else "")
        try:
            await client.get_todo(9999)
        except TodoError as exc:
            print("get_todo(9999) ->", exc)

    async def count() -> None:
        print("count in a second event loop:", len(await client.list_todos()))

    asyncio.run(main())
    asyncio.run(count())  # a new loop gets a fresh session; the first one is already closed

# No `async with`, no aclose(): mylib closed each session when its loop ended.
