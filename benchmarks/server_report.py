"""The server benchmarks' report (Markdown) and charts (PNG, with matplotlib).

Tables have one line per server and one column per row of the benchmark, so
that sixteen servers stay readable. :func:`report` also draws the targets
table of :mod:`benchmarks.server_targets`.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import server_targets
from .server_specs import CEILING, ECHO_ROWS, FLOOR, MEMORY_ROW, PICOWS, WSFRAME, Row

# Targets of the first server issue, for the user-written wsframe Application.
TARGET_VS_PICOWS = 1.0
TARGET_VS_PICOWS_PIPELINED = 3.0
TARGET_VS_FLOOR = 0.5
TARGET_IDLE_BYTES = 2048


def fmt_rate(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def fmt_bytes(v: float) -> str:
    return f"{v / 1024:.1f} KiB" if abs(v) >= 1024 else f"{v:.0f} B"


def _index(results: List[dict]) -> Dict[Tuple[str, str], dict]:
    return {(r["server"], r["row"]): r for r in results}


def servers_in(results: List[dict]) -> List[str]:
    seen: List[str] = []
    for r in results:
        if r["server"] not in seen and not r["status"].startswith("skipped"):
            seen.append(r["server"])
    return seen


def ratios(results: List[dict]) -> Dict[Tuple[str, str], float]:
    """(peer, row key) -> wsframe's rate / peer's rate (memory: peer's bytes / wsframe's bytes): > 1 is better."""
    idx = _index(results)
    out = {}
    for (server, key), r in idx.items():
        w = idx.get((WSFRAME, key))
        if server == WSFRAME or not w or w["status"] != "ok" or r["status"] != "ok":
            continue
        if key == MEMORY_ROW.key:
            if w["rate"] > 0 and r["rate"] > 0:
                out[(server, key)] = r["rate"] / w["rate"]
        elif r["rate"] > 0:
            out[(server, key)] = w["rate"] / r["rate"]
    return out


def cpu_ratios(results: List[dict]) -> Dict[Tuple[str, str], float]:
    """(peer, row key) -> peer's server CPU per message / wsframe's: > 1 means wsframe spends less CPU."""
    idx = _index(results)
    out = {}
    for (server, key), r in idx.items():
        w = idx.get((WSFRAME, key))
        if server == WSFRAME or key == MEMORY_ROW.key or not w or w["status"] != "ok" or r["status"] != "ok":
            continue
        a, b = r.get("server_us_per_op"), w.get("server_us_per_op")
        if a and b and a > 0 and b > 0:
            out[(server, key)] = a / b
    return out


def targets(results: List[dict]) -> List[Tuple[str, bool, str]]:
    """[(target, met, detail)]: the first server issue's targets for the user-written wsframe Application."""
    idx = _index(results)
    rat = ratios(results)
    crat = cpu_ratios(results)
    checks = []
    for row in ECHO_ROWS:
        w = idx.get((WSFRAME, row.key))
        if not w or w["status"] != "ok":
            checks.append((f"{row.label}: wsframe echoes", False, w["status"] if w else "not run"))
            continue
        for peer, need in ((PICOWS, TARGET_VS_PICOWS_PIPELINED if row.pipelined else TARGET_VS_PICOWS),
                           (FLOOR, TARGET_VS_FLOOR)):
            r = rat.get((peer, row.key))
            if r is None:
                continue
            c = crat.get((peer, row.key))
            detail = f"{r:.2f}x" + (f"; by server CPU per message {c:.2f}x" if c else "")
            checks.append((f"{row.label}: >= {need:.1f}x {peer}", r >= need, detail))
    m = idx.get((WSFRAME, MEMORY_ROW.key))
    if m and m["status"] == "ok":
        checks.append((f"memory per idle connection <= {TARGET_IDLE_BYTES} B", m["rate"] <= TARGET_IDLE_BYTES,
                       fmt_bytes(m["rate"])))
    return checks


def report(results: List[dict], meta: dict, rows: Sequence[Row], extra_checks: Sequence[dict] = ()) -> str:
    """The Markdown report; ``extra_checks`` (e.g. the micro benchmarks' send/receive targets) join the targets."""
    idx = _index(results)
    servers = servers_in(results)
    echo = [r for r in rows if r.kind == "echo"]
    timed = echo + [r for r in rows if r.kind == "handshake"]
    L: List[str] = ["# Server benchmarks: echo servers under a C load generator\n"]
    pin = meta.get("pinning")
    L.append(f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['platform']}, Python {meta['python']}. "
             f"Mode `{meta['mode']}`: {meta['repeats']} interleaved repeats, {meta['echo_seconds']} s measured "
             f"per echo row after {meta['warmup_seconds']} s of warm-up; {meta['date']}; "
             f"{'server on CPU %s, generator on CPU %s' % (pin['server'], pin['generator']) if pin else 'no CPU pinning'}; "
             f"run took {meta['elapsed_s']:.0f} s; commit {meta.get('commit', '?')}.\n")
    L.append("Absolute numbers are relative to this (shared, noisy) machine; compare within one run. "
             "Medians over repeats; `±` is the spread (max - min) / median. † marks a row where the load "
             "generator used >= 90 % of its core (the number is then a lower bound of the server's capacity). "
             "Reproduce: `python -m benchmarks.server_bench --quick` (or `--full`; `--only`/`--skip`/`--rows` "
             "pick servers and rows, `--repeats N` sets the repeats).\n")
    L.append("The **wsframe (user Application)** line is a user-written application "
             "(`benchmarks/servers/wsframe_app.py`: an `Application` whose `on_message` calls `ws.send(data)`), "
             "not the built-in echo, which has its own line.\n")
    L.append("| server | what runs | version |")
    L.append("|---|---|---|")
    notes = meta.get("notes", {})
    for s in servers:
        L.append(f"| {s} | {notes.get(s, '')} | {meta['versions'].get(s, '')} |")
    L.append("")
    for name, why in meta.get("skipped", {}).items():
        L.append(f"- skipped **{name}**: {why}")
    for name, why in meta.get("failed", {}).items():
        L.append(f"- failed **{name}**: {why}")
    if meta.get("skipped") or meta.get("failed"):
        L.append("")

    def cell(server: str, key: str, fn: Callable[[dict], str]) -> str:
        r = idx.get((server, key))
        if not r:
            return "-"
        if r["status"] != "ok":
            return "FAILED" if r["status"].startswith("FAILED") else "skipped"
        return fn(r)

    def table(cols: Sequence[Row], fn: Callable[[dict], str], names: Sequence[str] = servers) -> None:
        L.append("| server | " + " | ".join(c.short for c in cols) + " |")
        L.append("|---|" + "---:|" * len(cols))
        for s in names:
            L.append(f"| {s} | " + " | ".join(cell(s, c.key, fn) for c in cols) + " |")
        L.append("")

    L.append("Columns: `1c`/`64c` connections, `pp` ping-pong (one message in flight per connection), `w16` "
             "pipelined (16 in flight per connection), message size.\n")
    L.append("## Echo throughput (messages/s) and handshakes/s\n")
    table(timed, lambda r: f"{fmt_rate(r['rate'])} ±{r['spread'] * 100:.0f}%{' †' if r.get('saturated') else ''}")
    L.append("## Server CPU per message (µs; handshakes: per handshake)\n")
    L.append("From the server process's CPU time (all threads, /proc) over the measured phase, divided by the "
             "messages echoed. The single-connection rows are bound by wake-up latency; this is their cost.\n")

    def cpu_cell(r: dict) -> str:
        v = r.get("server_us_per_op")
        return "?" if v is None else f"{v:.2f}" if v < 10 else f"{v:.1f}"

    table(timed, cpu_cell)
    L.append("## Round-trip latency p50 / p99 (µs)\n")
    table(echo, lambda r: f"{r['p50_us']:.0f} / {r['p99_us']:.0f}" if r.get("p50_us") is not None else "?")
    if any(r.kind == "memory" for r in rows):
        L.append(f"## Memory per idle connection ({meta['idle_conns']} connections, one echo each; "
                 "server RSS delta / n)\n")
        table([MEMORY_ROW], lambda r: fmt_bytes(r["rate"]))
    L.append("## Load on the machine besides the server and the generator (% of one core, median over rows)\n")
    L.append("Other processes compete for the same two cores; a high number here explains a noisy row.\n")
    L.append("| server | background |")
    L.append("|---|---:|")
    for s in servers:
        vals = [idx[(s, row.key)].get("background_pct") for row in echo
                if (s, row.key) in idx and idx[(s, row.key)]["status"] == "ok"]
        vals = [v for v in vals if v is not None]
        L.append(f"| {s} | {f'{statistics.median(vals):.0f}%' if vals else '?'} |")
    L.append("")
    checks = server_targets.server_checks(results) + list(extra_checks)
    L.append(server_targets.markdown(checks))
    L.append(server_targets.issue19_table(results))
    peers = [s for s in servers if s != WSFRAME]
    if WSFRAME in servers and peers:
        rat, crat = ratios(results), cpu_ratios(results)
        L.append("## wsframe (user Application) / peer, messages/s (> 1: wsframe faster; memory: uses less)\n")
        table(rows, lambda r: (f"{rat[(r['server'], r['row'])]:.2f}x" if (r["server"], r["row"]) in rat else "-"),
              peers)
        L.append("## Server CPU per message, peer / wsframe (user Application) (> 1: wsframe spends less)\n")
        table(timed, lambda r: (f"{crat[(r['server'], r['row'])]:.2f}x" if (r["server"], r["row"]) in crat
                                else "-"), peers)
        L.append("## Targets of the first server issue (user-written Application; messages/s ratios)\n")
        first = targets(results)
        L.append(f"{sum(1 for _, ok, _ in first if ok)} of {len(first)} met.\n")
        for name, ok, detail in first:
            L.append(f"- {'met' if ok else '**missed**'}: {name} ({detail})")
        L.append("")
    errs = [r for r in results if r["status"].startswith("FAILED")]
    if errs:
        L.append("## Errors\n")
        for r in errs:
            L.append(f"- {r['server']}, {r['label']}: {r['status']}")
        L.append("")
    L.append("## Method\n")
    L.append(
        "The load generator (`benchmarks/loadgen/loadgen.c`, C, epoll) opens the connections, does the upgrade "
        "handshake (checks `101` and `Sec-WebSocket-Accept`), sends precomputed masked binary frames, keeps "
        "1 (ping-pong) or 16 (pipelined) messages outstanding per connection, and compares every echoed byte "
        "with what it sent. It warms up, then measures messages/s and the round-trip latency of every message "
        "(sent to echoed), its own CPU time (getrusage) and the server's (all threads, from /proc), and closes "
        "every connection with a closing handshake. Handshakes/s: 8 concurrent slots doing connect, upgrade, "
        "close handshake, server EOF. Memory: a fresh server, warmed with 20 connections, then "
        f"{meta['idle_conns']} connections that each echo one 16-byte message; the server's RSS delta divided by "
        "their number. Repeats are interleaved (each repeat runs every server in turn, the order rotated by one "
        "each time). Compression is off everywhere. The two references: `refecho.c` (one-thread C epoll echo, "
        "minimal framing: the ceiling) and `servers/bare_echo.py` (selectors, cheapest framing, one send per "
        "read: the floor of interpreter overhead).")
    L.append("")
    return "\n".join(L)


def charts(results: List[dict], out: Path, rows: Sequence[Row]) -> List[str]:
    """servers_throughput.png, servers_cpu.png, servers_latency.png; [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    idx = _index(results)
    servers = servers_in(results)
    echo = [r for r in rows if r.kind == "echo"]
    if not echo:
        return []
    cmap = plt.get_cmap("tab20")
    colors = {s: cmap(i % 20) for i, s in enumerate(servers)}
    files = []

    def grouped(ax, value: Callable[[dict], Optional[float]], ylabel: str) -> None:
        width = 0.85 / max(1, len(servers))
        for i, s in enumerate(servers):
            xs, ys = [], []
            for j, row in enumerate(echo):
                r = idx.get((s, row.key))
                v = value(r) if r and r["status"] == "ok" else None
                if v is not None and v > 0:
                    xs.append(j + (i - (len(servers) - 1) / 2) * width)
                    ys.append(v)
            ax.bar(xs, ys, width, label=s, color=colors[s], edgecolor="black", linewidth=0.3,
                   hatch="//" if s in (FLOOR, CEILING) else None)
        ax.set_xticks(range(len(echo)))
        ax.set_xticklabels([row.label.replace(", ", "\n") for row in echo], fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3, which="both")

    for name, value, ylabel, title in (
        ("servers_throughput.png", lambda r: r["rate"], "echo messages/s (log)",
         "Echo messages per second (higher is better)"),
        ("servers_cpu.png", lambda r: r.get("server_us_per_op"), "server CPU µs per message (log)",
         "Server CPU per echoed message (lower is better)"),
        ("servers_latency.png", lambda r: r.get("p50_us"), "p50 round-trip latency µs (log)",
         "Median round-trip latency (lower is better)"),
    ):
        fig, ax = plt.subplots(figsize=(15, 6))
        grouped(ax, value, ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7, ncol=4)
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        files.append(name)
    return files
