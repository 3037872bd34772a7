"""One measurement in one fresh process: ``python -m benchmarks.worker VARIANT CELL [options]``.

Prints exactly one JSON line on stdout: ``{"variant", "cell", "status", "value", ...}`` where
status is ``ok``, ``n/a`` (a mylib feature that does not exist yet) or ``error``.  A fresh process
per measurement keeps variants from sharing warm caches, imported modules or leftover threads.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from typing import Any

from benchmarks import fresh, variants
from benchmarks.cells import PATHS, Cell, get_cell
from benchmarks.measure import Meter, Window, proc_status

#: Exceptions that mean "mylib does not have this yet" rather than "mylib is wrong".
_MISSING = (ImportError, AttributeError, NotImplementedError, TypeError)
_MISSING_NAMES = ("ModuleNotFoundError", "ImportError", "AttributeError", "NotImplementedError",
                  "TypeError")


def _batch_size(concurrency: int) -> int:
    # Enough requests per timed call that the ramp-up and tail of a gather (fewer than N in
    # flight) is a small part of it, while one call still takes well under the timed window.
    return max(200, 4 * concurrency)


def measure(variant: str, cell: Cell, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``variant`` in ``cell`` and return its result fields (without status)."""
    if variant not in cell.variants:
        raise KeyError(f"variant {variant!r} does not run in cell {cell.name!r}")
    base = args.https_base if cell.scheme == "https" else args.http_base
    target = variants.Target(base, cell.path, PATHS[cell.path], args.ca, cell.concurrency,
                             _batch_size(cell.concurrency))
    meter = Meter(args.duration, args.warmup, args.server_pid)
    if cell.kind == "seq":
        return variants.SEQ[variant](target, meter)
    if cell.kind == "conc":
        return variants.CONC[variant](target, meter)
    if cell.kind == "stream":
        return _stream(variant, target, args.server_pid)
    if cell.kind == "import":
        return fresh.import_time(variant)
    if cell.kind == "first":
        return fresh.first_response(variant, args.http_base)
    if cell.kind == "clients":
        return fresh.idle_clients(variant, target)
    raise KeyError(cell.kind)


def _stream(variant: str, target: variants.Target, server_pid: int | None) -> dict[str, Any]:
    """MiB/s of one 256 MiB streamed read, and how far the peak RSS rose during it."""
    # Import the library before the "before" sample, so import memory is not counted as growth.
    lib = {"mylib": "mylib", "bridge": "benchmarks.bridge"}.get(variant, variant)
    importlib.import_module(lib)
    read, close = variants.STREAM[variant](target)
    try:
        _reset_peak_rss()
        rss_before = proc_status("VmRSS")
        w = Window(server_pid)
        w.start()
        n = read()
        out = w.stop()
        hwm_after = proc_status("VmHWM")
    finally:
        close()
    if n != target.size:
        raise AssertionError(f"streamed {n} bytes, want {target.size}")
    out.update(
        value=n / 2**20 / out["seconds"],
        bytes=n,
        rss_before_mib=rss_before / 1024,
        peak_growth_mib=(hwm_after - rss_before) / 1024,
    )
    return out


def _reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the import-time peak is forgotten."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # older kernel or no permission: growth is then measured against an older peak


def _classify(variant: str, exc: BaseException) -> tuple[str, str]:
    """(status, error text) for a failed measurement."""
    text = f"{type(exc).__name__}: {exc}".strip()[:300]
    missing = isinstance(exc, _MISSING) or (
        isinstance(exc, fresh.ChildFailed) and str(exc).startswith(_MISSING_NAMES)
    )
    if variant.startswith("mylib") and missing:
        return "n/a", f"not implemented: {text}"
    return "error", text


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print one JSON line; exit code 0 unless the arguments are bad."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__)
    p.add_argument("variant")
    p.add_argument("cell")
    p.add_argument("--http-base", default="http://127.0.0.1:8080")
    p.add_argument("--https-base", default="https://127.0.0.1:8443")
    p.add_argument("--ca", default="", help="CA bundle for the HTTPS server")
    p.add_argument("--duration", type=float, default=1.0, help="timed window, seconds")
    p.add_argument("--warmup", type=float, default=0.05, help="untimed warm-up, seconds")
    p.add_argument("--server-pid", type=int, default=None, help="sample this pid's CPU time")
    args = p.parse_args(argv)
    record: dict[str, Any] = {"variant": args.variant, "cell": args.cell}
    t0 = time.perf_counter()
    try:
        record.update(measure(args.variant, get_cell(args.cell), args))
        record["status"] = "ok"
    except Exception as exc:
        record["status"], record["error"] = _classify(args.variant, exc)
        if record["status"] == "error":
            traceback.print_exc(file=sys.stderr)
    record["worker_s"] = time.perf_counter() - t0
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
