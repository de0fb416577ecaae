"""Server benchmarks: echo servers under a C load generator, same run, same inputs.

``python -m benchmarks.server_bench [--quick|--smoke|--full] [--repeats N] [--no-pin] [--only REGEX]
[--skip REGEX] [--rows REGEX] [--out DIR]``

What runs
  - The load generator ``benchmarks/loadgen/loadgen.c`` (epoll, C) and the C
    reference server ``refecho.c`` are built here with ``cc`` when missing or
    older than their sources.
  - Servers (:mod:`benchmarks.server_specs`; scripts in ``benchmarks/servers/``):
    wsframe as a user writes it (``wsframe_app.py``: an ``Application`` whose
    ``on_message`` calls ``ws.send(data)``) and the built-in ``wsframe echo``;
    wsframe.asyncio on uvloop as a user writes it, with the callback API
    (``wsframe_asyncio_app.py``: ``serve(app=Echo())``) and with the coroutine
    API (``wsframe_asyncio_coro.py``: ``async for m in ws: await ws.send(m)``),
    and ``wsframe echo --loop asyncio``; uvicorn on uvloop serving one plain ASGI
    echo app with ``--ws wsframe.uvicorn:WSFrameProtocol``, ``websockets-sansio``
    and ``wsproto``; hypercorn serving the same app with and without wsframe's
    wsproto accelerator; picows on uvloop, websockets (asyncio), aiohttp,
    wsproto on selectors, the npm ``ws`` server; and two references: the C
    epoll echo (the ceiling) and a bare Python selectors echo with the cheapest
    framing (the floor of interpreter overhead). Compression is off everywhere.
    A server whose package is missing is skipped and the report says why.
  - Rows: 1 and 64 connections x ping-pong and pipelined (window 16) x 16 B and
    4 KiB binary messages; handshakes/s (8 concurrent: connect, upgrade, closing
    handshake); memory per idle connection (2,000 connections, one echo each,
    server RSS delta / 2,000, on a fresh server).
  - Every echo is checked byte for byte by the generator; a server with a wrong
    echo gets no number, only the error.

Method
  Repeats are interleaved: each repeat starts every server in turn (the order
  rotated by one each repeat), runs all rows against it and stops it, so a busy
  spell of this noisy machine hits every server alike. Each row has a warm-up
  phase before the measured one. Results are medians over repeats with the
  spread ((max - min) / median); ratios are taken within the run. The server
  and the generator are pinned to separate cores when there are at least two
  (``--no-pin`` to disable). The generator reports its own CPU time and the
  server's (all threads, /proc), so the report gives server CPU microseconds
  per message, and flags rows where the generator itself was saturated (>= 90 %
  of a core): there, the number is the generator's limit, not the server's.
  The targets of issues 9, 10, 12 and 19 are judged in :mod:`benchmarks.server_targets`.

``run(quick, smoke, out_dir)`` is the importable entry point; it returns one
dict per (server, row) and writes ``servers.md``, ``servers.json`` and, when
matplotlib is installed, PNG charts into ``out_dir`` (default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import server_report
from .server_procs import RunningServer, cpus, echo_args, handshake_args, loadgen, measure_idle
from .server_report import cpu_ratios, ratios, targets  # noqa: F401  (re-exported)
from .server_specs import (ALL_ROWS, ASYNCIO, ASYNCIO_APP_UVLOOP, ASYNCIO_UVLOOP, CEILING, ECHO_ROWS,  # noqa: F401
                           FLOOR, HANDSHAKE_ROW, HYPERCORN, HYPERCORN_ACCEL, MEMORY_ROW, MODES, PICOWS, UVICORN_SANSIO,
                           UVICORN_WSFRAME, UVICORN_WSPROTO, WSFRAME, WSFRAME_BUILTIN, Mode, Row, ServerSpec,
                           Unavailable, build, server_specs)

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
SATURATED_PCT = 90.0


def select(specs: Sequence[ServerSpec], only: Optional[str] = None, skip: Optional[str] = None) -> List[ServerSpec]:
    """The servers whose names match ``only`` (the user-written wsframe Application always runs) and not ``skip``."""
    out = [s for s in specs if not only or re.search(only, s.name) or s.name == WSFRAME]
    return [s for s in out if not skip or not re.search(skip, s.name) or s.name == WSFRAME]


def select_rows(rows: Optional[str] = None) -> List[Row]:
    """The rows whose key or label matches ``rows`` (e.g. 'c64|memory', 'ping-pong')."""
    return [r for r in ALL_ROWS if not rows or re.search(rows, r.key) or re.search(rows, r.label)]


def run(quick: bool = True, smoke: bool = False, out_dir=None, *, pin: Optional[bool] = None,
        only: Optional[str] = None, skip: Optional[str] = None, rows: Optional[str] = None,
        install: bool = False, require: Sequence[str] = (), extra_checks: Sequence[dict] = (),
        repeats: Optional[int] = None, log: Callable[[str], None] = print) -> List[dict]:
    """Runs the server benchmarks; returns one dict per (server, row).

    Each dict: server, row (key), label, kind, status ("ok" / "skipped: ..." / "FAILED: ..."), version,
    median rate (messages/s, handshakes/s or bytes per idle connection), spread, p50_us, p99_us,
    server_us_per_op, gen_cpu_pct, saturated, samples (every repeat's raw generator output).
    ``only``/``skip``: regexes on server names; ``rows``: regex on row keys or labels.
    ``require``: server names that must be available (raise instead of skipping).
    ``extra_checks``: more targets for the report's table (the micro benchmarks', see server_targets).
    ``repeats``: interleaved repeats instead of the mode's (more of them steady the medians on a busy machine).
    """
    mode = MODES["smoke" if smoke else "quick" if quick else "full"]
    if repeats is not None:
        if repeats < 1:
            raise ValueError("repeats must be >= 1")
        mode = dataclasses.replace(mode, repeats=repeats)
    out = Path(out_dir) if out_dir else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "servers.log"
    log_path.write_text("")
    t_start = time.monotonic()
    build("loadgen")
    server_cpu, gen_cpu = cpus(pin)
    chosen_rows = select_rows(rows)
    echo_rows = [r for r in chosen_rows if r.kind == "echo"]

    specs = select(server_specs(install=install), only, skip)
    available: List[ServerSpec] = []
    versions: Dict[str, str] = {}
    skipped: Dict[str, str] = {}
    for spec in specs:
        try:
            versions[spec.name] = spec.check()
            available.append(spec)
        except Unavailable as exc:
            if spec.name in require:
                raise
            skipped[spec.name] = str(exc)
            log(f"skipped {spec.name}: {exc}")

    samples: Dict[Tuple[str, str], List[dict]] = {(s.name, r.key): [] for s in available for r in ALL_ROWS}
    failed: Dict[str, str] = {}
    timed_rows = echo_rows + [HANDSHAKE_ROW] if HANDSHAKE_ROW in chosen_rows else echo_rows
    for rep in range(mode.repeats if timed_rows else 0):
        k = rep % len(available) if available else 0
        order = available[k:] + available[:k]
        for spec in order:
            if spec.name in failed:
                continue
            try:
                server = RunningServer(spec, server_cpu, log_path)
            except RuntimeError as exc:
                failed[spec.name] = f"could not start: {exc}"
                log(f"FAILED {spec.name}: could not start: {exc}")
                continue
            try:
                for row in timed_rows:
                    if row.kind == "echo":
                        r = loadgen(server.port, echo_args(row, mode), server.pid, gen_cpu,
                                    mode.echo_seconds + mode.warmup_seconds + 4 * mode.timeout + 10)
                    else:
                        r = loadgen(server.port, handshake_args(mode), server.pid, gen_cpu,
                                    mode.handshake_seconds + mode.warmup_seconds + 2 * mode.timeout + 10)
                    samples[(spec.name, row.key)].append(r)
                    _log_sample(log, rep, spec.name, row, r)
                    if server.proc.poll() is not None:
                        raise RuntimeError(f"{spec.name} died (exit {server.proc.returncode})")
            except RuntimeError as exc:
                failed[spec.name] = str(exc)
                log(f"FAILED {spec.name}: {exc}")
            finally:
                server.stop()

    # Memory: a fresh server each time, so that buffers grown by the echo rows do not hide the cost.
    for rep in range(mode.idle_repeats if MEMORY_ROW in chosen_rows else 0):
        for spec in available:
            if spec.name in failed:
                continue
            try:
                server = RunningServer(spec, server_cpu, log_path)
            except RuntimeError as exc:
                failed[spec.name] = f"could not start: {exc}"
                continue
            try:
                r = measure_idle(server, mode.idle_conns, gen_cpu, mode.timeout)
            finally:
                server.stop()
            samples[(spec.name, MEMORY_ROW.key)].append(r)
            _log_sample(log, rep, spec.name, MEMORY_ROW, r)

    results = []
    for spec in specs:
        for row in chosen_rows:
            base = {"server": spec.name, "row": row.key, "label": row.label, "kind": row.kind, "conns": row.conns,
                    "window": row.window, "size": row.size, "version": versions.get(spec.name, ""),
                    "reference": spec.reference}
            if spec.name in skipped:
                results.append({**base, "status": f"skipped: {skipped[spec.name]}", "samples": []})
                continue
            results.append({**base, **_aggregate(samples[(spec.name, row.key)], failed.get(spec.name))})
    meta = _machine(mode, server_cpu, gen_cpu, versions, skipped, failed, time.monotonic() - t_start)
    meta["notes"] = {s.name: s.note for s in specs}
    meta["rows"] = [r.key for r in chosen_rows]
    write(results, meta, out, extra_checks, charts=not smoke)
    log(f"server benchmarks ({mode.name}) done in {meta['elapsed_s']:.0f} s: {out / 'servers.md'}")
    return results


def write(results: List[dict], meta: dict, out: Path, extra_checks: Sequence[dict] = (),
          charts: bool = True) -> None:
    """servers.json, servers.md and (``charts``) the PNG charts into ``out``."""
    rows = [r for r in ALL_ROWS if r.key in meta.get("rows", [x.key for x in ALL_ROWS])]
    meta["charts"] = server_report.charts(results, out, rows) if charts else []
    (out / "servers.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "servers.md").write_text(server_report.report(results, meta, rows, extra_checks))


def _log_sample(log, rep: int, server: str, row: Row, r: dict) -> None:
    if not r.get("ok"):
        log(f"  [{rep}] {server:24} {row.label:34} ERROR {r.get('first_error')}")
        return
    if row.kind == "memory":
        log(f"  [{rep}] {server:24} {row.label:34} {r['bytes_per_conn']:9.0f} B/conn")
        return
    log(f"  [{rep}] {server:24} {row.label:34} {r['rate']:11.0f}/s  p50 {r['p50_us']:8.1f} us  "
        f"p99 {r['p99_us']:8.1f} us  server {r['server_us_per_op']:7.2f} us/op  gen {r['gen_cpu_pct']:4.0f}%")


def _aggregate(rs: List[dict], failure: Optional[str]) -> dict:
    bad = [r for r in rs if not r.get("ok")]
    if bad:
        return {"status": f"FAILED: {bad[0].get('first_error') or 'error'}", "samples": rs}
    if not rs:
        return {"status": f"FAILED: {failure or 'no samples'}", "samples": rs}
    if failure and failure.startswith("could not start"):  # started in an earlier repeat, not in a later one
        return {"status": f"FAILED: {failure}", "samples": rs}
    rates = [r["rate"] for r in rs]
    med = statistics.median(rates)
    for r in rs:
        if r.get("machine_busy_s", -1) >= 0 and r.get("wall_s") and r.get("server_cpu_s", -1) >= 0:
            other = r["machine_busy_s"] - r["gen_cpu_s"] - r["server_cpu_s"]
            r["background_pct"] = max(0.0, 100.0 * other / r["wall_s"])

    def med_of(key: str) -> Optional[float]:
        vals = [r[key] for r in rs if r.get(key) is not None and r[key] >= 0]
        return statistics.median(vals) if vals else None

    return {
        "status": "ok",
        "rate": med,
        "spread": (max(rates) - min(rates)) / med if med else 0.0,
        "p50_us": med_of("p50_us"),
        "p99_us": med_of("p99_us"),
        "server_us_per_op": med_of("server_us_per_op"),
        "gen_cpu_pct": med_of("gen_cpu_pct"),
        "server_cpu_pct": med_of("server_cpu_pct"),
        "background_pct": med_of("background_pct"),
        "saturated": any(r.get("gen_cpu_pct", 0) >= SATURATED_PCT for r in rs),
        "samples": rs,
    }


def _machine(mode: Mode, server_cpu, gen_cpu, versions, skipped, failed, elapsed) -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "mode": mode.name, "repeats": mode.repeats, "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "pinning": None if server_cpu is None else {"server": server_cpu, "generator": gen_cpu},
        "versions": versions, "skipped": skipped, "failed": failed, "elapsed_s": elapsed,
        "echo_seconds": mode.echo_seconds, "warmup_seconds": mode.warmup_seconds, "idle_conns": mode.idle_conns,
        "commit": _commit(),
    }


def _commit() -> str:
    """The measured tree's commit ('abc1234', '+ changes' when the work tree differs), or '?'."""
    import subprocess

    root = HERE.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{head} + changes" if head and dirty else head or "?"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.server_bench", description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="the default: 6 short interleaved repeats")
    g.add_argument("--smoke", action="store_true", help="tiny counts, correctness only")
    g.add_argument("--full", action="store_true", help="7 repeats of 1.5 s per row")
    ap.add_argument("--repeats", type=int, metavar="N", help="interleaved repeats instead of the mode's")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and generator to separate cores")
    ap.add_argument("--only", metavar="REGEX", help="servers to run besides the wsframe Application (regex on names)")
    ap.add_argument("--skip", metavar="REGEX", help="servers not to run (regex on names)")
    ap.add_argument("--rows", metavar="REGEX", help="rows to run (regex on keys such as 'echo c64 w16 16B', "
                                                   "'handshake', 'memory', or on labels)")
    ap.add_argument("--list", action="store_true", help="list the servers and rows, run nothing")
    ap.add_argument("--out", metavar="DIR", help=f"output folder (default: {RESULTS_DIR})")
    ap.add_argument("--no-install", action="store_true", help="do not npm install ws when it is missing")
    a = ap.parse_args(argv)
    if a.list:
        for s in select(server_specs(), a.only, a.skip):
            print(f"server  {s.name:34} {s.note}")
        for r in select_rows(a.rows):
            print(f"row     {r.key:34} {r.label}")
        return 0
    results = run(quick=not a.full, smoke=a.smoke, out_dir=a.out, pin=False if a.no_pin else None, only=a.only,
                  skip=a.skip, rows=a.rows, install=not a.no_install, repeats=a.repeats)
    out = Path(a.out) if a.out else RESULTS_DIR
    print()
    print((out / "servers.md").read_text())
    return 1 if any(r["status"].startswith("FAILED") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
