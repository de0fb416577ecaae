"""The benchmark section of docs/performance.md, drawn from one run's results.

``python -m benchmarks.readme_section [--results DIR] [--out FILE] [--link-base PREFIX]`` reads
``results.json`` (micro benchmarks) and ``servers.json`` (server benchmarks)
of one ``python -m benchmarks`` run (default ``benchmarks/results``) and
writes Markdown: the server tables (messages/s and server CPU per message on
the main rows, memory per idle connection), the receive and send paths against
the peers, the charts of ``benchmarks/latest/``, how to reproduce, and the
targets table of issues 9, 10 and 12 with every ratio, hit or miss. Links are
relative to the repository root with ``--link-base`` in front (default ``../``,
for a file in docs/; ``""`` for one at the root).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import server_targets
from .runner import RESULTS_DIR, Result, evaluate_targets
from .server_report import fmt_bytes, fmt_rate
from .server_specs import ECHO_ROWS, MEMORY_ROW, WSFRAME

MAIN_ROWS = [r for r in ECHO_ROWS if (r.conns, r.window) in ((1, 1), (64, 16))]
CONNECTION_ROWS = ("receive[16B]", "receive[1KiB]", "send[text16B-server]", "send[bin16B-client]",
                   "send[bin1KiB-server]", "send[text1KiB-client]")
CONNECTION_IMPLS = ("wsframe-c", "wsframe-py", "picows", "aiohttp", "websockets", "wsproto")


def _micro(path: Path) -> List[Result]:
    data = json.loads(path.read_text())
    return [Result(d["case"], d["param"], d["impl"], d["status"], d.get("work", 0), d.get("unit", ""),
                   list(d.get("samples_s") or [])) for d in data["results"]]


def section(micro: List[Result], servers: dict, title: str = "## Benchmarks", base: str = "../") -> str:
    meta, results = servers["meta"], servers["results"]
    idx = {(r["server"], r["row"]): r for r in results if r["status"] == "ok"}
    names = list(dict.fromkeys(r["server"] for r in results if r["status"] == "ok"))
    bg = [s.get("background_pct") for r in results if r["status"] == "ok" for s in [r] if s.get("background_pct")]
    L: List[str] = [title, ""]
    L.append(f"One run of `python -m benchmarks` ({meta['mode']} mode) on {meta['cpu']}, {meta['cores']} cores, "
             f"Python {meta['python']}, {meta['date'][:10]}, commit {meta.get('commit', '?')}: the micro benchmarks, then {len(names)} echo servers "
             f"under one C load generator (`benchmarks/loadgen`), {meta['repeats']} interleaved repeats, medians. "
             "The machine is a small shared VM: absolute numbers are relative to it, compare the ratios"
             + (f" (other processes used a median {statistics.median(bg):.0f}% of a core during the server rows)"
                if bg else "") + f". Full tables: [benchmarks/latest/servers.md]({base}benchmarks/latest/servers.md) and "
             f"[benchmarks/latest/report.md]({base}benchmarks/latest/report.md).")
    L.append("")
    L.append(f"The **{WSFRAME}** row is a user-written application (`benchmarks/servers/wsframe_app.py`: an "
             "`Application` whose `on_message` calls `ws.send(data)`), not the built-in echo, which has its own "
             "row. Compression is off everywhere; every echo is checked byte for byte by the generator.")
    L.append("")
    cols = [r.short for r in MAIN_ROWS]
    L.append("Echo messages/s (`1c pp`: one connection, ping-pong; `64c w16`: 64 connections, 16 messages in "
             "flight each; 16 B or 4 KiB messages) and server CPU per message (µs, from the server process's "
             "CPU time), memory per idle connection:")
    L.append("")
    L.append("| server | " + " | ".join(f"{c} msg/s" for c in cols) + " | " + " | ".join(f"{c} µs" for c in cols)
             + " | idle conn |")
    L.append("|---|" + "---:|" * (2 * len(cols) + 1))
    for s in names:
        rates = [fmt_rate(idx[(s, r.key)]["rate"]) if (s, r.key) in idx else "-" for r in MAIN_ROWS]
        cpus = []
        for r in MAIN_ROWS:
            v = idx.get((s, r.key), {}).get("server_us_per_op")
            cpus.append("-" if not v else f"{v:.2f}" if v < 10 else f"{v:.1f}")
        mem = idx.get((s, MEMORY_ROW.key))
        L.append(f"| {s} | " + " | ".join(rates) + " | " + " | ".join(cpus) + " | "
                 + (fmt_bytes(mem["rate"]) if mem else "-") + " |")
    L.append("")
    L.append(f"![echo messages/s]({base}benchmarks/latest/servers_throughput.png)")
    L.append(f"![server CPU per message]({base}benchmarks/latest/servers_cpu.png)")
    L.append("")
    rates: Dict[tuple, Optional[float]] = {(r.case, r.param, r.impl): r.rate() for r in micro if r.ok and r.samples}
    impls = [i for i in CONNECTION_IMPLS if any(k[2] == i for k in rates)]
    L.append("Sans-I/O receive and send paths (micro benchmarks, messages/s, same run; receive: masked text "
             "messages in 64 KiB chunks to `str`, server side; send: `send_text`/`send_binary` + "
             "`data_to_send()` per message, picows: `transport.send`):")
    L.append("")
    L.append("| case | " + " | ".join(impls) + " |")
    L.append("|---|" + "---:|" * len(impls))
    for key in CONNECTION_ROWS:
        case, param = key[:-1].split("[")
        vals = [rates.get((case, param, i)) for i in impls]
        if any(vals):
            L.append(f"| {key} | " + " | ".join(fmt_rate(v) if v else "-" for v in vals) + " |")
    L.append("")
    L.append(f"![receive and send paths]({base}benchmarks/latest/connection.png)")
    L.append("")
    L.append("Reproduce (about 15-20 minutes on 2 cores; `--server-only`/`--server-skip`/`--server-rows` pick "
             "servers and rows, `--no-servers` runs the micro benchmarks only):")
    L.append("")
    L.append("```sh")
    L.append("pip install -e '.[bench]' uvicorn httptools hypercorn matplotlib")
    L.append("bash .ci/install-peers.sh          # node and npm ws, for the ws (node) row")
    L.append("python -m benchmarks               # writes benchmarks/results/ (benchmarks/latest/ is left alone)")
    L.append("python -m benchmarks --publish     # the same, then replaces the committed benchmarks/latest/")
    L.append("python -m benchmarks.server_bench --quick --only 'uvicorn|picows' --rows 'c64'   # a subset")
    L.append("```")
    L.append("")
    checks = server_targets.server_checks(results) + server_targets.micro_checks(evaluate_targets(micro), micro)
    L.append(server_targets.markdown(checks, title="### Targets: measured ratio vs target (this run)").rstrip())
    L.append("")
    return "\n".join(L)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.readme_section", description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS_DIR, help="folder of results.json and servers.json")
    ap.add_argument("--out", type=Path, help="write here (default: stdout)")
    ap.add_argument("--link-base", default="../", help="put in front of repository paths in links (default: ../)")
    a = ap.parse_args(argv)
    text = section(_micro(a.results / "results.json"), json.loads((a.results / "servers.json").read_text()),
                   base=a.link_base)
    if a.out:
        a.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
