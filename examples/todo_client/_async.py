"""The async client of the todo API: the only place its HTTP calls are written."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypedDict

import mylib

__all__ = ["Todo", "TodoClient", "TodoError"]


class Todo(TypedDict):
    """One item, as the API returns it."""

    id: int
    title: str
    done: bool


class TodoError(Exception):
    """The API refused a request; ``status`` is the HTTP status, the message the API's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def _checked(response: mylib.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = str(response.json().get("error", response.text))
        except ValueError:
            message = response.text
        raise TodoError(response.status_code, message)
    return response.json() if response.content else None


class TodoClient(mylib.AsyncClient):
    """The todo API for async code. Make it anywhere (even at import time); never close it.

    Example::

        client = TodoClient("http://127.0.0.1:8000")

        async def main() -> None:
            todo = await client.create_todo("buy milk")
            await client.complete(todo["id"])

        asyncio.run(main())

    Raises:
        TodoError: the API answered with an error (e.g. 404 for an unknown id).
        mylib.TransportError: the API could not be reached.
    """

    async def list_todos(self, *, done: bool | None = None) -> list[Todo]:
        """All items, oldest first; ``done=True``/``False`` filters."""
        params = {} if done is None else {"done": "true" if done else "false"}
        items: list[Todo] = _checked(await self.get("/todos", params=params))
        return items

    async def get_todo(self, todo_id: int) -> Todo:
        """One item by id."""
        item: Todo = _checked(await self.get(f"/todos/{todo_id}"))
        return item

    async def create_todo(self, title: str) -> Todo:
        """Add an item; it starts not done."""
        item: Todo = _checked(await self.post("/todos", json={"title": title}))
        return item

    async def complete(self, todo_id: int, done: bool = True) -> Todo:
        """Mark an item done (or not done again)."""
        item: Todo = _checked(await self.patch(f"/todos/{todo_id}", json={"done": done}))
        return item

    async def delete_todo(self, todo_id: int) -> None:
        """Remove an item."""
        _checked(await self.delete(f"/todos/{todo_id}"))

    async def iter_todos(self, *, done: bool | None = None) -> AsyncIterator[Todo]:
        """Items one by one (a real API would page through them here)."""
        for item in await self.list_todos(done=done):
            yield item

    @contextlib.asynccontextmanager
    async def scratch_todo(self, title: str) -> AsyncIterator[Todo]:
        """An item that exists for the ``async with`` block only."""
        item = await self.create_todo(title)
        try:
            yield item
        finally:
            await self.delete_todo(item["id"])
