"""A small REST API wrapper over the demo todo API, written once, shipped in two flavours.

    from todo_client import TodoClient, SyncTodoClient

    todos = SyncTodoClient(base_url)            # scripts, notebooks, the REPL
    todos.create_todo("write the docs")

    client = TodoClient(base_url)               # async code; made anywhere, never closed
    async def main(): await client.create_todo("write the docs")

``TodoClient`` is an :class:`mylib.AsyncClient` subclass (``_async.py``); ``SyncTodoClient`` is
``mylib.make_sync(TodoClient)`` (``_sync.py``), typed by the generated ``_sync.pyi``.
"""

from ._async import Todo, TodoClient, TodoError
from ._sync import SyncTodoClient

__all__ = ["SyncTodoClient", "Todo", "TodoClient", "TodoError"]
