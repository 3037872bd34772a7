"""The same REST API wrapper from blocking code: ``SyncTodoClient = mylib.make_sync(TodoClient)``.

Every method of the async ``TodoClient`` is a plain blocking method here, with the same
signature and docstring; the async generator is a generator and the async context manager a
context manager. Nothing is closed: the client is closed on mylib's I/O loop at exit.

    python examples/wrapper_sync.py
"""

from __future__ import annotations

from demo_api import serve
from todo_client import SyncTodoClient, TodoError

with serve() as base_url:
    todos = SyncTodoClient(base_url, timeout=5)

    milk = todos.create_todo("buy milk")
    todos.create_todo("read the README")
    print("completed:", todos.complete(milk["id"]))

    with todos.scratch_todo("temporary") as scratch:
        print("scratch item:", scratch)
    print("after the block:", [todo["title"] for todo in todos.list_todos()])

    for todo in todos.iter_todos(done=False):
        print("first open item:", todo["title"])
        break  # the async generator is closed on the I/O loop right here

    try:
        todos.get_todo(9999)
    except TodoError as exc:
        print("get_todo(9999) ->", exc)

# No close() and no `with`: mylib closes the client on its I/O loop when the program ends.
