"""The comparison runner behind ``python -m benchmarks``.

For every case and parameter: build each available implementation's Bench,
check its output against the reference (a wrong one is reported and never
timed), then time all of them *interleaved*: repeat after repeat, each
implementation takes one sample in a rotating order, so a slow phase of a
noisy machine hits every implementation alike. Each sample runs the call
``number`` times (calibrated so that a sample lasts ``sample_s``); the result
is the median over the samples, with the spread (interquartile range over
median). Ratios are taken within the run: time(peer) / time(wsframe), so
> 1 means wsframe is faster.

Modes: ``--smoke`` (tiny sizes, correctness only, no timing), ``--quick``
(the default: the issue's sizes, 15 short interleaved samples each, under a
minute), ``--full`` (41 longer samples, a few minutes).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import cases, peers
from .cases import CASES, TARGETS, Bench, Config
from .peers import Unavailable

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Committed copy of the latest full report and charts, shown by the README: replaced only by a
# complete run given --publish (see publish_refusal).
LATEST_DIR = Path(__file__).resolve().parent / "latest"


@dataclass(frozen=True)
class Mode:
    name: str
    config: Config
    repeats: int
    sample_s: float
    timed: bool = True
    fresh_repeats: int = 0  # repeats for benches whose run consumes its state (parsers: long runs)


MODES = {
    "smoke": Mode("smoke", cases.SMOKE, 0, 0.0, timed=False),
    # Many short samples: on a shared machine a busy spell then spoils a few
    # samples of every implementation rather than all samples of one.
    "quick": Mode("quick", cases.FULL, 15, 0.004, fresh_repeats=7),
    "full": Mode("full", cases.FULL, 41, 0.02, fresh_repeats=21),
}


@dataclass
class Result:
    case: str
    param: str
    impl: str
    status: str  # "ok", "skipped: ...", "WRONG: ..."
    work: int = 0
    unit: str = ""
    samples: List[float] = field(default_factory=list)  # seconds per call

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def median(self) -> Optional[float]:
        return statistics.median(self.samples) if self.samples else None

    @property
    def spread(self) -> Optional[float]:
        """Interquartile range over median (0.05 = 5 %)."""
        if len(self.samples) < 2:
            return None
        q = statistics.quantiles(self.samples, n=4, method="inclusive")
        return (q[2] - q[0]) / statistics.median(self.samples)

    def throughput(self) -> Optional[str]:
        m = self.median
        if not m:
            return None
        rate = self.work / m
        if self.unit == "B":
            return f"{rate / 1e9:.2f} GB/s"
        if self.unit == "frames":
            return f"{rate / 1e6:.2f} M{self.unit}/s"
        if rate >= 1e6:
            return f"{rate / 1e6:.2f} M {self.unit}/s"
        return f"{rate / 1e3:.1f} k {self.unit}/s"

    def rate(self) -> Optional[float]:
        """Work units per second (median)."""
        m = self.median
        return self.work / m if m else None

    def as_dict(self) -> dict:
        return {
            "case": self.case, "param": self.param, "impl": self.impl, "status": self.status,
            "work": self.work, "unit": self.unit, "median_s": self.median, "spread": self.spread,
            "samples_s": self.samples,
        }


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def _time_call(bench: Bench, number: int) -> float:
    call = bench.call
    loop = range(number)
    t0 = time.perf_counter()
    for _ in loop:
        call()
    return (time.perf_counter() - t0) / number


def _time_fresh(bench: Bench) -> float:
    state = bench.setup()
    run = bench.run
    t0 = time.perf_counter()
    out = run(state)
    t = time.perf_counter() - t0
    del out, state
    return t


def tame_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds (64 MiB / 128 MiB).

    By default glibc moves its mmap threshold as blocks are freed, so the
    allocator state one implementation leaves (the pure-Python twin's huge
    temporary ints, say) decides whether the next one gets its 1 MiB output
    from a fresh mmap, page faults on every call, or from reused heap. That
    made one peer 4x slower only when it ran right after another. Fixed
    thresholds give every implementation the same, reused, memory.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 64 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 128 << 20))


def _calibrate(bench: Bench, sample_s: float) -> int:
    if bench.fresh:
        return 1
    with bench.active():
        return _calibrate_active(bench, sample_s)


def _calibrate_active(bench: Bench, sample_s: float) -> int:
    number = 1
    while True:
        t = _time_call(bench, number) * number
        if t >= sample_s / 10 or number >= 1 << 24:
            break
        number *= 10
    per_call = t / number
    return max(1, int(sample_s / per_call)) if per_call > 0 else number


def _sample(bench: Bench, number: int) -> float:
    gc.collect()
    with bench.active():
        return _time_fresh(bench) if bench.fresh else _time_call(bench, number)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def run(mode: Mode, only: Optional[str] = None, log=print) -> List[Result]:
    cfg = mode.config
    results: List[Result] = []
    pattern = re.compile(only) if only else None
    for case in CASES.values():
        for param in case.params(cfg):
            key = f"{case.name}[{param.label}]"
            if pattern and not pattern.search(key):
                continue
            benches: Dict[str, Bench] = {}
            row: Dict[str, Result] = {}
            for impl in case.impls:
                res = Result(case.name, param.label, impl, "ok")
                row[impl] = res
                results.append(res)
                try:
                    bench = cases.make(case.name, param, impl, cfg)
                except Unavailable as exc:
                    res.status = f"skipped: {exc}"
                    continue
                res.work, res.unit = bench.work, bench.unit
                try:
                    with bench.active():
                        bench.check()
                    bench.once()  # the timed path, once, untimed
                except AssertionError as exc:
                    res.status = f"WRONG: {exc}"
                    continue
                except Exception as exc:  # an adapter that crashes is wrong too
                    res.status = f"WRONG: {type(exc).__name__}: {exc}"
                    continue
                benches[impl] = bench
            if mode.timed and benches:
                numbers = {impl: _calibrate(b, mode.sample_s) for impl, b in benches.items()}
                order = list(benches)
                for r in range(mode.repeats):
                    k = r % len(order)
                    for impl in order[k:] + order[:k]:
                        b = benches[impl]
                        if b.fresh and mode.fresh_repeats and r >= mode.fresh_repeats:
                            continue
                        row[impl].samples.append(_sample(b, numbers[impl]))
                benches.clear()
                gc.collect()
            if log:
                parts = []
                for impl, res in row.items():
                    if res.ok:
                        parts.append(f"{impl}={res.throughput() or 'ok'}")
                    elif res.status.startswith("WRONG"):
                        parts.append(f"{impl}=WRONG")
                log(f"{key:32} " + "  ".join(parts))
    return results


# ---------------------------------------------------------------------------
# Ratios, targets, report
# ---------------------------------------------------------------------------


def _index(results: List[Result]) -> Dict[tuple, Result]:
    return {(r.case, r.param, r.impl): r for r in results}


def ratio(results_index, case, param, impl, vs, vs_case=None, best=False) -> Optional[float]:
    """time(vs) / time(impl) from the medians (or, with best=True, the fastest samples)."""
    a = results_index.get((case, param, impl))
    b = results_index.get((vs_case or case, param, vs))
    if not a or not b or not a.samples or not b.samples:
        return None
    if best:
        return min(b.samples) / min(a.samples)
    return b.median / a.median


def evaluate_targets(results: List[Result]) -> List[dict]:
    idx = _index(results)
    out = []
    for t in TARGETS:
        params = t.params
        if params is None:
            params = [r.param for r in results if r.case == t.case and r.impl == t.impl]
        for p in params:
            if (t.case, p, t.impl) not in idx:
                continue
            r = ratio(idx, t.case, p, t.impl, t.vs, t.vs_case)
            a, b = idx.get((t.case, p, t.impl)), idx.get((t.vs_case or t.case, p, t.vs))
            why = None
            if r is None:
                why = next((x.status for x in (a, b) if x is not None and not x.ok), "not timed")
            out.append({
                "target": t.describe(), "case": t.case, "param": p, "impl": t.impl,
                "vs": f"{t.vs_case}:{t.vs}" if t.vs_case else t.vs,
                "min_ratio": t.min_ratio, "ratio": r,
                "ratio_best": ratio(idx, t.case, p, t.impl, t.vs, t.vs_case, best=True),
                "met": None if r is None else r >= t.min_ratio, "note": why,
            })
    return out


def _machine() -> Dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        flags = " ".join(x for x in ("sse2", "avx2", "avx512f") if re.search(rf"\b{x}\b", text))
    except OSError:
        pass
    return {
        "cpu": cpu, "simd": flags, "cores": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }


def _fmt_ratio(r: Optional[float]) -> str:
    return "—" if r is None else f"{r:.2f}x"


def report_markdown(mode: Mode, results: List[Result], targets: List[dict], versions: Dict[str, str],
                    notes: Optional[List[str]] = None, charts: Sequence[str] = ()) -> str:
    idx = _index(results)
    m = _machine()
    lines = [
        "# wsframe micro benchmarks: codec and sans-I/O connection",
        "",
        f"Run {datetime.datetime.now().isoformat(timespec='seconds')}, mode `{mode.name}`"
        + (f" ({mode.repeats} interleaved repeats, ~{mode.sample_s * 1000:g} ms samples)" if mode.timed else ""),
        "",
        f"Machine: {m['cpu']} ({m['cores']} cores, {m['simd'] or 'no x86 SIMD flags'}), {m['python']}, {m['platform']}.",
        "",
        "Method: the same inputs for every implementation (fixed seeds); each output is checked against an"
        " independent reference before timing (a wrong one is never timed); warm-up by calibration and one"
        " untimed run; implementations interleaved repeat by repeat in a rotating order, gc.collect() before"
        " each sample; median of the samples, ± half the interquartile range. Benches that consume their"
        " state (parsers, connections receiving) get a fresh one per sample, made untimed; the receive path"
        " takes each chunk's messages after that chunk, as an application does, and drops them."
        " Optional CPU pinning: `--pin CPU`."
        " Ratios are within this run: time(other) / time(wsframe), > 1 = wsframe faster (SIMD rows:"
        " time(scalar) / time(level))."
        " Absolute numbers are machine-relative (small shared VM): compare ratios.",
        "",
    ]
    lines += [f"{n}\n" for n in notes or ()]
    lines += [
        "## Implementations",
        "",
        "| name | version |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in versions.items()]

    if mode.timed and targets:
        lines += [
            "", "## Targets (issues 2 and 3)", "",
            "Met is judged on the ratio of medians; the ratio of the fastest samples is shown beside it"
            " as a hint of how much noise moved the median.", "",
            "| target | param | ratio (medians) | ratio (fastest) | min | met |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for t in targets:
            met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
            note = f" ({t['note']})" if t["note"] else ""
            lines.append(
                f"| {t['target']} | {t['param']} | {_fmt_ratio(t['ratio'])}{note} | {_fmt_ratio(t['ratio_best'])}"
                f" | {t['min_ratio']:g}x | {met} |"
            )

    if charts:
        lines += ["", "## Charts", ""]
        lines += [f"![{Path(c).stem}]({c})" for c in charts]

    for case in CASES.values():
        rows = [r for r in results if r.case == case.name]
        if not rows:
            continue
        params = list(dict.fromkeys(r.param for r in rows))
        impls = list(dict.fromkeys(r.impl for r in rows))
        lines += ["", f"## {case.name}: {case.title}", ""]
        if mode.timed:
            if case.baseline:
                # time(baseline) / time(impl): the speed-up of each level over the baseline.
                pairs = [(i, case.baseline) for i in impls if i != case.baseline]
            else:
                ours = [i for i in peers.WSFRAME if any(idx.get((case.name, p, i)) and idx[(case.name, p, i)].median for p in params)]
                others = [i for i in impls if i not in peers.WSFRAME]
                # wsframe-c against the peers and its own variants; likewise wsframe-py.
                pairs = [(o, x) for o in ours for x in others if not x.startswith("wsframe") or x.split()[0] == o]
            head = ["param"] + impls + [f"{o} vs {x}" for o, x in pairs]
            lines += ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
            for p in params:
                cells = [p]
                for i in impls:
                    r = idx.get((case.name, p, i))
                    if r is None or not r.ok:
                        cells.append("skipped" if r is None or r.status.startswith("skipped") else "**WRONG**")
                    else:
                        sp = f" ±{r.spread * 50:.0f}%" if r.spread is not None else ""
                        cells.append(f"{r.throughput()}{sp}")
                for o, x in pairs:
                    cells.append(_fmt_ratio(ratio(idx, case.name, p, o, x)))
                lines.append("| " + " | ".join(cells) + " |")
        else:
            head = ["param"] + impls
            lines += ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
            for p in params:
                cells = [p]
                for i in impls:
                    r = idx.get((case.name, p, i))
                    cells.append("ok" if r and r.ok else ("skipped" if r is None or r.status.startswith("skipped") else "**WRONG**"))
                lines.append("| " + " | ".join(cells) + " |")

    problems = [r for r in results if not r.ok]
    if problems:
        lines += ["", "## Skipped or wrong", ""]
        seen = set()
        for r in problems:
            msg = f"{r.impl}: {r.status}" if r.status.startswith("skipped") else f"{r.case}[{r.param}] {r.impl}: {r.status}"
            if msg not in seen:
                seen.add(msg)
                lines.append(f"- {msg}")
    return "\n".join(lines) + "\n"


SERVER_FILES = ("servers.md", "servers_throughput.png", "servers_cpu.png", "servers_latency.png")


def copy_latest(report: Path, charts: Sequence[Path], dest: Path = LATEST_DIR) -> None:
    """Replace the micro benchmark files in benchmarks/latest/ (report.md and
    the charts of charts.CHART_NAMES; other files, e.g. the server benchmarks', are left)."""
    import shutil

    from .charts import CHART_NAMES

    dest.mkdir(parents=True, exist_ok=True)
    for name in CHART_NAMES + ("report.md",):
        if (dest / name).exists():
            (dest / name).unlink()
    shutil.copyfile(report, dest / "report.md")
    for c in charts:
        shutil.copyfile(c, dest / c.name)


def copy_latest_servers(out: Path, dest: Path = LATEST_DIR) -> None:
    """Replace the server benchmark files in benchmarks/latest/ with those of ``out``."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for name in SERVER_FILES:
        if (dest / name).exists():
            (dest / name).unlink()
        if (out / name).exists():
            shutil.copyfile(out / name, dest / name)


def run_servers(mode: Mode, out: Path, targets: Sequence[dict] = (), results: Sequence[Result] = (),
                **options) -> Optional[List[dict]]:
    """The server benchmarks (benchmarks/server_bench.py) in the same run; ``targets``: the micro
    benchmarks' evaluated targets, whose send/receive ones join the servers' targets table.
    ``options``: only, skip, rows (regexes) for server_bench.run. None when they cannot run."""
    try:
        from . import server_bench, server_targets
    except ImportError as exc:
        print(f"--servers: benchmarks/server_bench.py is not available ({exc})", file=sys.stderr)
        return None
    return server_bench.run(quick=mode.name != "full", smoke=mode.name == "smoke", out_dir=out,
                            extra_checks=server_targets.micro_checks(targets, results), **options)


def append_targets(report: Path, server_results: List[dict], targets: Sequence[dict],
                   results: Sequence[Result] = ()) -> None:
    """Append the targets table of issues 9, 10 and 12 (server and micro checks of this run) to ``report``."""
    from . import server_targets

    checks = server_targets.server_checks(server_results) + server_targets.micro_checks(targets, results)
    with open(report, "a") as f:
        f.write("\n" + server_targets.markdown(checks) + "\nServer rows: [servers.md](servers.md).\n")


def run_smoke(only: Optional[str] = None) -> List[Result]:
    """Tiny inputs, every available implementation checked; no timing."""
    return run(MODES["smoke"], only=only, log=None)


def pure_python_refusal() -> Optional[str]:
    """Why wsframe would be timed without its C extension here, or None when it
    is active (the server benchmarks run ``python -m wsframe echo`` from the
    repository root, which imports the same source tree as this process)."""
    if os.environ.get("WSFRAME_NO_EXTENSIONS", "").strip().lower() not in ("", "0", "false", "no"):
        return "WSFRAME_NO_EXTENSIONS is set, so wsframe would run its pure-Python codec"
    import wsframe.codec

    if wsframe.codec.speedups_enabled:
        return None
    where = Path(wsframe.codec.__file__).resolve().parent.parent
    return (f"the wsframe imported from {where} has no C extension built, so its pure-Python codec would be"
            f" timed as wsframe (build it: `pip install -e .` in {where})")


def publish_refusal(args: argparse.Namespace) -> Optional[str]:
    """Why this run may not replace benchmarks/latest/, or None. Only a complete
    timed run (every micro case, then every server and row) into files may, so
    the committed report and charts always come from one and the same run."""
    partial = [flag for flag, given in (
        ("--smoke", args.mode == "smoke"), ("--only", args.only), ("--no-servers", args.servers is False),
        ("--server-only", args.server_only), ("--server-skip", args.server_skip),
        ("--server-rows", args.server_rows), ("--no-write", args.no_write), ("--no-charts", args.no_charts),
        ("--allow-pure-python", args.allow_pure_python)) if given]
    if partial:
        return f"--publish needs a complete run; {', '.join(partial)} makes this one partial"
    return None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--smoke", action="store_const", dest="mode", const="smoke", help="tiny sizes, correctness only")
    g.add_argument("--quick", action="store_const", dest="mode", const="quick", help="the issue's sizes, few repeats (default)")
    g.add_argument("--full", action="store_const", dest="mode", const="full", help="more and longer samples")
    ap.add_argument("--only", metavar="REGEX", help="run the cases whose 'case[param]' matches, e.g. 'parse|build'")
    ap.add_argument("--repeats", type=int, help="interleaved repeats (overrides the mode's)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for report.md and results.json (default benchmarks/results)")
    ap.add_argument("--no-write", action="store_true", help="print only; write no files")
    ap.add_argument("--pin", type=int, metavar="CPU", help="pin this process to one CPU (Linux) to cut migration noise")
    ap.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc thresholds dynamic (see tame_malloc)")
    ap.add_argument("--no-charts", action="store_true", help="write no PNG charts (they need matplotlib)")
    ap.add_argument("--publish", "--latest", action="store_true", dest="publish",
                    help="replace the committed results in benchmarks/latest/ with this run's report and charts"
                         " (only for a complete run: refused with --smoke, --only, --no-servers, --server-* and"
                         " the like; without it benchmarks/latest/ is never written)")
    ap.add_argument("--servers", action=argparse.BooleanOptionalAction, default=None,
                    help="also run the server benchmarks (benchmarks/server_bench.py) after the micro benchmarks"
                         " (default: on, unless --only or --smoke is given)")
    ap.add_argument("--server-only", metavar="REGEX", help="server benchmarks: the servers to run (regex on names)")
    ap.add_argument("--server-skip", metavar="REGEX", help="server benchmarks: servers not to run (regex on names)")
    ap.add_argument("--server-rows", metavar="REGEX", help="server benchmarks: the rows to run (regex, e.g. 'c64')")
    ap.add_argument("--pubsub", action="store_true",
                    help="also the fan-out benchmark, benchmarks/bench_pubsub.py (--quick: 1,000 subscribers,"
                         " about 3 minutes; --full: 1,000 and 10,000, every server, about 25); writes pubsub.md/.json")
    ap.add_argument("--allow-pure-python", action="store_true",
                    help="time wsframe even when its C extension is not built (the numbers are then the"
                         " pure-Python codec's); refused by default")
    args = ap.parse_args(argv)
    if args.publish:
        refusal = publish_refusal(args)
        if refusal:
            print(f"python -m benchmarks: {refusal}", file=sys.stderr)
            return 2
    if args.mode != "smoke":
        refusal = pure_python_refusal()
        if refusal and not args.allow_pure_python:
            print(f"python -m benchmarks: {refusal}; or pass --allow-pure-python", file=sys.stderr)
            return 2
        if refusal:
            print(f"WARNING: {refusal} (--allow-pure-python)")
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    malloc_fixed = False if args.default_malloc else tame_malloc()

    mode = MODES[args.mode or "quick"]
    if args.repeats is not None:
        mode = Mode(mode.name, mode.config, args.repeats, mode.sample_s, mode.timed)
    versions = peers.describe()
    print(f"mode {mode.name}" + (f", pinned to CPU {args.pin}" if args.pin is not None else "") + "; implementations:")
    for k, v in versions.items():
        print(f"  {k:11} {v}")
    t0 = time.perf_counter()
    results = run(mode, only=args.only)
    targets = evaluate_targets(results) if mode.timed else []
    elapsed = time.perf_counter() - t0

    if targets:
        print("\ntargets:")
        for t in targets:
            met = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
            print(f"  {t['target']:55} {t['param']:10} {_fmt_ratio(t['ratio']):>8} (fastest {_fmt_ratio(t['ratio_best']):>7})  {met}")
    wrong = [r for r in results if r.status.startswith("WRONG")]
    n_ok = sum(r.ok for r in results)
    n_skip = sum(r.status.startswith("skipped") for r in results)

    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        notes = []
        if malloc_fixed:
            notes.append("glibc malloc: mmap threshold fixed at 64 MiB, trim threshold at 128 MiB (see tame_malloc).")
        if args.pin is not None:
            notes.append(f"Pinned to CPU {args.pin}.")
        charts: List[Path] = []
        if mode.timed and not args.no_charts:
            from . import charts as charts_mod

            m = _machine()
            charts = charts_mod.write_charts(results, args.out, subtitle=f"{m['cpu']}, {m['python']} (machine-relative)")
            if not charts_mod.available():
                notes.append("Charts: matplotlib is not installed (pip install matplotlib); none drawn.")
        md = report_markdown(mode, results, targets, versions, notes, [c.name for c in charts])
        (args.out / "report.md").write_text(md)
        (args.out / "results.json").write_text(json.dumps({
            "mode": mode.name, "machine": _machine(), "versions": versions,
            "results": [r.as_dict() for r in results], "targets": targets,
        }, indent=1))
        print(f"\nwrote {args.out / 'report.md'}, results.json" + "".join(f", {c.name}" for c in charts))
    servers = args.servers
    if servers is None:  # "everything" by default: micro and server benchmarks
        servers = not args.only and mode.name != "smoke"
    server_results = None
    if servers:
        t1 = time.perf_counter()
        server_results = run_servers(mode, args.out, targets, results, only=args.server_only,
                                     skip=args.server_skip, rows=args.server_rows)
        if server_results is None:
            return 2
        print(f"server benchmarks: {time.perf_counter() - t1:.0f} s")
        if not args.no_write:
            append_targets(args.out / "report.md", server_results, targets, results)
    if args.pubsub:
        from . import bench_pubsub

        if bench_pubsub.run_mode(mode.name, args.out):
            print("pub/sub benchmark: a server failed (see above)", file=sys.stderr)
    if args.publish and not wrong:
        copy_latest(args.out / "report.md", charts)
        copy_latest_servers(args.out)
        print(f"published: copied the reports and charts to {LATEST_DIR}")
    elif not args.no_write:
        print(f"{LATEST_DIR} left as it is (--publish on a complete run replaces it)")
    for r in wrong:
        print(f"WRONG {r.case}[{r.param}] {r.impl}: {r.status}", file=sys.stderr)
    # The plain closing line: every implementation checked counts as a test.
    print(f"{elapsed:.1f}s; implementation x input checked before timing:")
    print(f"benchmarks: {n_ok} passed, {len(wrong)} failed, {n_skip} skipped")
    return 1 if wrong else 0
