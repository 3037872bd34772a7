"""Turn the JSON-lines records of one run into medians, paired ratios and a markdown report.

Ratios are *paired by round*: in round r, variant V's value is divided by the baseline's value
from the same round, and the report shows the median of those per-round ratios.  Variants in one
round run back to back, so machine drift (other tenants, thermal, noisy neighbours) that slows a
whole round cancels out of the ratio even when it moves the absolute numbers.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from benchmarks.cells import BASELINES, Cell

Record = dict[str, Any]
_EXTRAS = {
    "stream": ("peak_growth_mib", "peak RSS growth MiB"),
    "import": ("wall_ms", "process wall ms"),
    "first": ("import_ms", "import ms"),
    "clients": ("threads", "threads (Python)"),
}


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarize(records: list[Record], cells: list[Cell]) -> list[Record]:
    """One row per (cell, variant): median value, paired ratios, spread and CPU use."""
    by: dict[tuple[str, str], dict[int, Record]] = defaultdict(dict)
    for r in records:
        by[(r["cell"], r["variant"])][r["round"]] = r
    rows: list[Record] = []
    for cell in cells:
        base_aio, base_req = BASELINES[cell.kind]
        for variant in cell.variants:
            runs = by.get((cell.name, variant), {})
            if not runs:
                continue
            ok = {rnd: r for rnd, r in runs.items() if r["status"] == "ok"}
            row: Record = {"cell": cell.name, "kind": cell.kind, "variant": variant,
                           "unit": cell.unit, "rounds": len(ok)}
            if not ok:
                bad = next(iter(runs.values()))
                row["status"] = f"{bad['status']} ({bad.get('error', '?')})"
                rows.append(row)
                continue
            values = [r["value"] for r in ok.values()]
            med = statistics.median(values)
            row.update(status="ok", median=med,
                       spread_pct=100 * (max(values) - min(values)) / med if med else 0.0)
            for key in ("server_cpu_pct", "client_cpu_pct", "os_threads", "get_ms",
                        *(k for k, _ in _EXTRAS.values())):
                row[key] = _median([r[key] for r in ok.values() if key in r])
            for label, base in (("vs_aiohttp", base_aio), ("vs_requests", base_req)):
                ref = {rnd: r for rnd, r in by.get((cell.name, base), {}).items()
                       if r["status"] == "ok"}
                ratios = [ok[rnd]["value"] / ref[rnd]["value"] for rnd in ok
                          if rnd in ref and ref[rnd]["value"]]
                row[label] = _median(ratios)
                row[label + "_range"] = (min(ratios), max(ratios)) if ratios else None
            rows.append(row)
    return rows


def _fmt(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def _value_cell(row: Record) -> str:
    if row["status"] != "ok":
        return str(row["status"])
    med = row["median"]
    if row["unit"] == "req/s":
        return f"{med:,.0f} ({1e6 / med:,.0f} µs)"
    digits = 0 if med >= 100 else 1
    return _fmt(med, digits)


def _table(rows: list[Record], extra: tuple[str, str] | None) -> list[str]:
    head = ["cell", "variant", f"median {rows[0]['unit']}", "× aiohttp", "× requests",
            "spread %", "server CPU %", "client CPU %"]
    if extra:
        head.append(extra[1])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cols = [r["cell"], r["variant"], _value_cell(r), _fmt(r.get("vs_aiohttp"), 2),
                _fmt(r.get("vs_requests"), 2), _fmt(r.get("spread_pct")),
                _fmt(r.get("server_cpu_pct")), _fmt(r.get("client_cpu_pct"))]
        if extra:
            cols.append(_fmt(r.get(extra[0]), 1))
        out.append("| " + " | ".join(cols) + " |")
    return out


_SECTIONS = (
    ("seq", "Sequential GETs (one keep-alive connection)"),
    ("conc", "Concurrent GETs (N in flight)"),
    ("stream", "Streaming 256 MiB over HTTP in 64 KiB chunks"),
    ("import", "Import time (fresh interpreter, in-process ms around `import X`)"),
    ("first", "Time to first response (fresh process: start, import, one GET, exit)"),
    ("clients", "100 idle clients (one GET each): RSS per client and thread count"),
)


def _targets(rows: list[Record]) -> list[str]:
    """Issue 6's targets for mylib, each with the measured worst cell (None when not measured)."""
    def worst(kind: str, variant: str, key: str, cells: str = "") -> float | None:
        vals = [r[key] for r in rows if r["kind"] == kind and r["variant"] == variant
                and r["status"] == "ok" and r.get(key) is not None and cells in r["cell"]]
        return min(vals) if vals else None

    def most(kind: str, variant: str, key: str) -> float | None:
        vals = [r[key] for r in rows if r["kind"] == kind and r["variant"] == variant
                and r["status"] == "ok" and r.get(key) is not None]
        return max(vals) if vals else None

    checks = [
        ("sequential ≥ 0.85× aiohttp", worst("seq", "mylib", "vs_aiohttp"), 0.85, True),
        ("sequential ≥ 2.5× requests", worst("seq", "mylib", "vs_requests"), 2.5, True),
        ("map c≥10 ≥ 0.95× aiohttp gather",
         min((v for c in ("c10-", "c50-", "c100-")
              if (v := worst("conc", "mylib-map", "vs_aiohttp", c)) is not None), default=None),
         0.95, True),
        ("map c≥10 ≥ 5× requests threads",
         min((v for c in ("c10-", "c50-", "c100-")
              if (v := worst("conc", "mylib-map", "vs_requests", c)) is not None), default=None),
         5.0, True),
        ("stream ≥ 1.0× requests MiB/s", worst("stream", "mylib", "vs_requests"), 1.0, True),
        ("stream peak RSS growth < 10 MiB", most("stream", "mylib", "peak_growth_mib"), 10, False),
        ("import ≤ 1.1× aiohttp", most("import", "mylib", "vs_aiohttp"), 1.1, False),
        ("threads with 100 clients: 1 I/O thread (≤ 2 incl. main)",
         most("clients", "mylib", "threads"), 2, False),
    ]
    out = ["| target (issue 6) | measured (worst cell) | met |", "|---|---|---|"]
    for name, got, bound, higher in checks:
        met = "—" if got is None else ("yes" if (got >= bound if higher else got <= bound)
                                       else "**no**")
        out.append(f"| {name} | {_fmt(got, 3)} | {met} |")
    return out


def markdown(meta: Record, rows: list[Record]) -> str:
    """The whole report: machine, how to read it, mylib's targets, then one table per section."""
    lines = [f"# Benchmark results — {meta['date']} ({meta['mode']})", "", "## Machine", ""]
    for key in ("cpu", "cores", "kernel", "python", "libraries", "server", "pinning", "rounds",
                "duration_s", "wall_s", "loadavg_start", "loadavg_end"):
        if key in meta:
            lines.append(f"- {key}: {meta[key]}")
    lines += [f"- note: {n}" for n in meta.get("notes", [])]
    lines += [
        "",
        "Medians over rounds; each variant runs in a fresh process, variants interleaved round by "
        "round. `× aiohttp` / `× requests` are medians of per-round paired ratios "
        "(value ÷ baseline in the same round) against native aiohttp (`aiohttp`, or "
        "`aiohttp-gather` in concurrent cells) and requests (`requests`, or `requests-threads`). "
        "For ms, KiB and thread counts lower is better, so a ratio below 1 is good there. "
        "Spread is (max − min) / median across rounds; server CPU % near 100 means the server, "
        "not the client, was the limit.",
        "",
        "## mylib against issue 6's targets",
        "",
        *_targets(rows),
    ]
    for kind, title in _SECTIONS:
        section = [r for r in rows if r["kind"] == kind]
        if section:
            lines += ["", f"## {title}", "", *_table(section, _EXTRAS.get(kind))]
    return "\n".join(lines) + "\n"
