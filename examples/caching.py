"""Caching in one minute: a notebook re-run that costs nothing, a revalidation that is free.

Starts the tiny todo API on 127.0.0.1 (its GETs carry an ETag), then reads it through a client
with an HTTP cache in a SQLite file. Needs hishel: ``pip install 'hishel>=2,<3'`` (from a
checkout: ``pip install -e '.[cache]'``).

    python examples/caching.py
"""

from __future__ import annotations

import os
import tempfile

from demo_api import serve

import mylib

with tempfile.TemporaryDirectory() as folder, serve() as base_url:
    # cache=True would keep the file in your user cache folder; here it is a throwaway one.
    cache = mylib.Cache(os.path.join(folder, "http-cache.sqlite"))
    api = mylib.Client(base_url, cache=cache)
    api.post("/todos", json={"title": "cache me"})

    first = api.get("/todos")
    print("first GET:  from_cache =", first.from_cache)

    # The stored copy is checked with the server (If-None-Match); it answers 304 with no
    # body, and the body comes from the cache.
    again = api.get("/todos")
    print("second GET: from_cache =", again.from_cache, "revalidated =", again.revalidated)

    # A POST to the same URL invalidates what was stored for it.
    api.post("/todos", json={"title": "and me"})
    fresh = api.get("/todos")
    print("after POST:", [todo["title"] for todo in fresh.json()], "from_cache =", fresh.from_cache)

    # only-if-cached never touches the network: 504 when nothing usable is stored.
    offline = api.get("/todos/1", headers={"Cache-Control": "only-if-cached"})
    print("only-if-cached, never fetched:", offline.status_code)

    print("cache:", api.cache)
