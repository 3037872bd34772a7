"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only CELLS] [--variants V,...]``.

The orchestrator starts the server (pinned to one core), then runs rounds: in each round every
selected cell runs each of its variants once, each in a fresh ``benchmarks.worker`` process
pinned to the other core.  Records stream to ``results/<date>.jsonl`` as they arrive (a crash
keeps what was measured); the markdown report is written at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import report, server
from benchmarks.cells import Cell, all_cells, select_cells

HERE = Path(__file__).resolve().parent
#: Variables that would change what the clients do: a CA bundle that overrides requests'
#: ``verify`` (pitfall 11), proxies for loopback, and no bytecode cache (slows every import).
_SCRUB = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PYTHONDONTWRITEBYTECODE", "http_proxy",
          "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("mylib", "aiohttp", "requests", "urllib3", "httpx", "httpcore", "trustme"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _run_worker(variant: str, cell: Cell, srv: server.Server, args: argparse.Namespace,
                cpu: int | None, env: dict[str, str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.worker", variant, cell.name,
           "--http-base", srv.http_base, "--https-base", srv.https_base, "--ca", srv.ca_path,
           "--duration", str(args.duration), "--warmup", str(args.warmup),
           "--server-pid", str(srv.pid)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE.parent,
                           timeout=args.duration * 3 + 90,
                           preexec_fn=server.pin_preexec(cpu))
    except subprocess.TimeoutExpired:
        return {"variant": variant, "cell": cell.name, "status": "error", "error": "timeout"}
    lines = p.stdout.strip().splitlines()
    try:
        rec: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (p.stderr.strip().splitlines() or [f"exit code {p.returncode}"])[-1]
        rec = {"variant": variant, "cell": cell.name, "status": "error", "error": tail[:300]}
    return rec


def _progress(rec: dict[str, Any], unit: str) -> str:
    if rec["status"] != "ok":
        return f"{rec['status']}: {rec.get('error', '')[:100]}"
    srv = rec.get("server_cpu_pct")
    return f"{rec['value']:,.1f} {unit}" + (f"  (server {srv:.0f}% CPU)" if srv else "")


def main(argv: list[str] | None = None) -> int:
    """Parse options, run every round, write the JSON-lines file and the markdown report."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="headline cells, 3 short rounds (~1 min)")
    p.add_argument("--only", help="comma-separated cell names or globs, e.g. 'seq-*,c10-*'")
    p.add_argument("--variants", help="comma-separated variants to run (default: all)")
    p.add_argument("--rounds", type=int, help="rounds (default 5, or 3 with --quick)")
    p.add_argument("--duration", type=float, help="timed window per measurement, s")
    p.add_argument("--warmup", type=float, default=0.05, help="untimed warm-up, s")
    p.add_argument("--fallback-server", action="store_true", help="use aiohttp even with nginx")
    p.add_argument("--list", action="store_true", help="list cells and variants, then exit")
    args = p.parse_args(argv)
    if args.list:
        for c in all_cells():
            print(f"{c.name:18} {c.unit:11} {', '.join(c.variants)}\n{'':18} {c.description}")
        return 0
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.duration = args.duration or (0.25 if args.quick else 1.0)
    cells = select_cells(args.quick, args.only)
    wanted = set(args.variants.split(",")) if args.variants else None
    if not cells:
        p.error(f"no cell matches --only {args.only!r}; see --list")

    server_cpu, client_cpu = server.plan_cpus()
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})  # keep the orchestrator off the server's core
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    stamp = datetime.now()
    mode = "quick" if args.quick else ("full" if not args.only else "partial")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    suffix = "" if mode == "full" else f"-{mode}"
    jsonl = results / f"{stamp:%Y-%m-%d-%H%M%S}{suffix}.jsonl"
    srv = server.start(server_cpu, force_fallback=args.fallback_server)
    meta: dict[str, Any] = {
        "type": "meta", "date": f"{stamp:%Y-%m-%d %H:%M}", "mode": mode, "cpu": _cpu_model(),
        "cores": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(), "libraries": _versions(),
        "server": f"{srv.kind} ({srv.version}), one process",
        "pinning": (f"server on CPU {server_cpu}, clients on CPU {client_cpu}"
                    if client_cpu is not None else "none (fewer than 2 CPUs)"),
        "rounds": args.rounds, "duration_s": args.duration, "notes": srv.notes,
        # Other work on the machine (a test suite, another tenant) inflates the spread: show it.
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    print(f"server: {meta['server']}; pinning: {meta['pinning']}; {len(cells)} cells, "
          f"{args.rounds} rounds -> {jsonl}", file=sys.stderr)
    records: list[dict[str, Any]] = []
    skip: set[tuple[str, str]] = set()  # n/a once is n/a every round: don't pay for it again
    t0 = time.monotonic()
    try:
        with open(jsonl, "w") as out:
            out.write(json.dumps(meta) + "\n")
            for rnd in range(args.rounds):
                for cell in cells:
                    for variant in cell.variants:
                        if (wanted and variant not in wanted) or (cell.name, variant) in skip:
                            continue
                        if cell.kind == "stream":
                            server.warm_page_cache(srv)
                        rec = _run_worker(variant, cell, srv, args, client_cpu, env)
                        rec.update(type="result", round=rnd)
                        if rec["status"] == "n/a":
                            skip.add((cell.name, variant))
                        records.append(rec)
                        out.write(json.dumps(rec) + "\n")
                        out.flush()
                        print(f"[{rnd}] {cell.name:18} {variant:17} {_progress(rec, cell.unit)}",
                              file=sys.stderr)
    finally:
        srv.stop()
    meta["wall_s"] = round(time.monotonic() - t0)
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    md = report.markdown(meta, report.summarize(records, cells))
    md_path = results / ("latest.md" if mode == "full" else f"latest-{mode}.md")
    md_path.write_text(md)
    print(md)
    print(f"wrote {jsonl} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
