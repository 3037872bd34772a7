"""What is measured: the cells, the variants that run in each, and the served bodies.

A *cell* is one measurement situation (e.g. sequential GETs of the small JSON body over HTTPS);
a *variant* is one client doing that work.  Every variant in a cell does the same work: the same
requests, the full body read, status 200 and the exact byte count checked.

This module is imported by the orchestrator and by every worker process, so it imports nothing
heavy (no aiohttp, no requests): a worker's import time must not be polluted by the harness.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

#: The small JSON body, byte for byte.  Kept here so the worker can check the exact length.
SMALL_JSON = b'{"id": 1, "name": "mylib", "ok": true, "tags": ["a", "b", "c"]}\n'
ONE_KIB = b"x" * 1024
#: 256 MiB, served from a sparse file (zero pages cost no disk and almost no page cache work).
BIG_SIZE = 256 * 1024 * 1024
STREAM_CHUNK = 64 * 1024

#: Served path -> expected body length.
PATHS: dict[str, int] = {
    "/small.json": len(SMALL_JSON),
    # The same body with Cache-Control: max-age=3600, for the cache cell.
    "/cached.json": len(SMALL_JSON),
    "/1k": len(ONE_KIB),
    "/big": BIG_SIZE,
}
BODY_PATH = {"small": "/small.json", "1k": "/1k"}

# Variant families.  The plain name means "used the simple way" (sequential calls); the suffixed
# name is the same library's concurrent idiom.  The baseline of each kind is native aiohttp.
SEQ_VARIANTS = ("mylib", "requests", "httpx", "aiohttp", "bridge", "raw-socket")
CONC_VARIANTS = ("mylib-map", "requests-threads", "httpx-async", "aiohttp-gather", "bridge-gather")
STREAM_VARIANTS = ("mylib", "requests", "httpx", "aiohttp", "bridge")
IMPORT_VARIANTS = ("mylib", "aiohttp", "requests", "httpx")
FIRST_VARIANTS = ("mylib", "requests", "httpx", "aiohttp", "bridge", "raw-socket")
#: Cache hits (mylib's cache in memory and in a SQLite file; over 1,000 URLs, each hit a store
#: lookup; httpx with hishel's transport in memory) against the network round trip of the
#: plain clients on the same path.
CACHE_VARIANTS = ("mylib-cache", "mylib-cache-file", "mylib-cache-many", "httpx-hishel",
                  "mylib", "aiohttp", "requests")
CLIENTS_VARIANTS = ("mylib", "requests", "httpx", "httpx-async", "aiohttp", "bridge")

#: Which variant a cell's ratios are taken against: (native aiohttp, requests).
BASELINES = {
    "seq": ("aiohttp", "requests"),
    "conc": ("aiohttp-gather", "requests-threads"),
    "stream": ("aiohttp", "requests"),
    "import": ("aiohttp", "requests"),
    "first": ("aiohttp", "requests"),
    "clients": ("aiohttp", "requests"),
}

CONCURRENCIES = (1, 10, 50, 100)


@dataclass(frozen=True)
class Cell:
    """One measurement situation.

    ``kind`` picks the worker routine; ``unit`` and ``better`` tell the report how to read the
    number (``ms`` is better lower, ``req/s`` higher).
    """

    name: str
    kind: str  # seq | conc | stream | import | first | clients
    variants: tuple[str, ...]
    unit: str
    better: str  # "higher" | "lower"
    scheme: str = "http"
    path: str = "/small.json"
    concurrency: int = 1
    description: str = ""


def all_cells() -> list[Cell]:
    """Every cell of the full run, in report order."""
    cells: list[Cell] = []
    for scheme in ("http", "https"):
        for body, path in BODY_PATH.items():
            cells.append(
                Cell(f"seq-{scheme}-{body}", "seq", SEQ_VARIANTS, "req/s", "higher",
                     scheme, path, 1, f"sequential GET {path} over {scheme}, keep-alive")
            )
    for scheme in ("http", "https"):
        for body, path in BODY_PATH.items():
            for n in CONCURRENCIES:
                cells.append(
                    Cell(f"c{n}-{scheme}-{body}", "conc", CONC_VARIANTS, "req/s", "higher",
                         scheme, path, n, f"GET {path} over {scheme}, {n} in flight")
                )
    cells += [
        Cell("cache-hit-http-small", "seq", CACHE_VARIANTS, "req/s", "higher", "http",
             "/cached.json", 1, "sequential GET of a fresh stored response (max-age=3600): the "
             "cache variants answer from their store, the others go to the server"),
        Cell("stream-http-256m", "stream", STREAM_VARIANTS, "MiB/s", "higher", "http", "/big", 1,
             "stream 256 MiB in 64 KiB chunks to nowhere; extra: peak RSS growth"),
        Cell("import", "import", IMPORT_VARIANTS, "ms", "lower",
             description="time around `import X` in a fresh interpreter; extra: process wall"),
        Cell("first-response", "first", FIRST_VARIANTS, "ms", "lower",
             description="fresh process wall time: interpreter + import + one GET /small.json"),
        Cell("clients-100", "clients", CLIENTS_VARIANTS, "KiB/client", "lower",
             description="100 clients, one GET each, kept open: RSS delta / 100; extra: threads"),
    ]
    return cells


#: The subset run by ``--quick`` (about a minute): the headline cells only.
QUICK_CELLS = (
    "seq-http-small", "seq-https-small", "c10-http-small", "c100-http-small",
    "stream-http-256m", "import", "first-response", "clients-100",
)


def select_cells(quick: bool, only: str | None) -> list[Cell]:
    """Cells for this run: the quick subset or all, then filtered by ``--only`` glob patterns."""
    cells = all_cells()
    if quick and not only:
        cells = [c for c in cells if c.name in QUICK_CELLS]
    if only:
        patterns = [p.strip() for p in only.split(",") if p.strip()]
        cells = [c for c in cells if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]
    return cells


def get_cell(name: str) -> Cell:
    """The cell called ``name`` (used by the worker, which gets the name on its command line)."""
    for cell in all_cells():
        if cell.name == name:
            return cell
    raise KeyError(f"unknown cell {name!r}; see `python -m benchmarks --list`")
