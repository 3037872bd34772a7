"""mylib in one minute: a blocking HTTP client with nothing to close.

Starts a tiny todo API on 127.0.0.1 (no internet needed), then talks to it the way a script,
a notebook cell or the REPL would. Note what is missing at the end: no close(), no ``with``.

    python examples/quickstart.py
"""

from __future__ import annotations

from demo_api import serve

import mylib

with serve() as base_url:
    # Module-level helpers, like requests: one pooled client behind them.
    print("GET /todos ->", mylib.get(f"{base_url}/todos").json())

    # A client with defaults for every call; relative URLs join its base_url.
    api = mylib.Client(base_url, headers={"X-Demo": "quickstart"}, timeout=5)

    created = api.post("/todos", json={"title": "try mylib"}).raise_for_status().json()
    print("POST /todos ->", created)

    done = api.patch(f"/todos/{created['id']}", json={"done": True}).json()
    print("PATCH ->", done)

    # An error status becomes an exception when you ask for it.
    try:
        api.get("/todos/9999").raise_for_status()
    except mylib.HTTPStatusError as exc:
        print("GET /todos/9999 ->", type(exc).__name__ + ":", exc)
        print("   the server said:", exc.response.json())

    print("all todos:", [todo["title"] for todo in api.get("/todos").json()])

# Nothing closed, and the program still ends silently: mylib closes its sessions at exit.
