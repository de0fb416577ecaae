"""websockets with and without ``wsframe.integrations.websockets`` (issue 21).

``python -m benchmarks.bench_websockets [--quick] [--no-servers] [--callgrind] [--out DIR]``

1. Sans-I/O receive: masked text messages of 16 B, 1 KiB and 64 KiB fed in
   64 KiB reads to ``ServerProtocol.receive_data`` + ``events_received()``.
   Medians of interleaved repeats of CPU time (this machine is shared); the
   ratio with/without is per repeat pair. The floor: creating the same number
   of websockets ``Frame`` objects with the same fields (the cheaper of
   ``Frame(...)`` and ``object.__new__`` + six attributes), which any parser
   producing them pays; "with / floor" is the accelerated time over it.
2. Echo servers (``benchmarks.server_bench`` with the C load generator):
   uvicorn ``--ws websockets-sansio`` and websockets' asyncio server, each
   without and with ``install()`` (the same scripts, run through a wrapper
   that installs the accelerator first); every echo row, messages/s and
   server CPU µs per message, interleaved repeats, ratios within the run.
3. ``--callgrind``: instructions per message of 1-connection ping-pong (16 B)
   in the server process, from two runs of different length under
   ``valgrind --tool=callgrind`` (the difference over the extra messages).

Writes ``websockets.md`` and ``websockets.json`` into ``--out`` (default
``benchmarks/results/websockets``; never ``benchmarks/latest``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "results" / "websockets"
CHUNK = 64 * 1024

UVICORN_ACCEL = "uvicorn + websockets-sansio + wsframe accelerator"
WEBSOCKETS_ACCEL = "websockets + wsframe accelerator"
PAIRS = [("uvicorn + websockets-sansio", UVICORN_ACCEL), ("websockets", WEBSOCKETS_ACCEL)]


def _accel():
    import wsframe.integrations.websockets as accel

    return accel


# --------------------------------------------------------------------------- 1. sans-I/O receive


def _stream(size: int, count: int) -> List[bytes]:
    from websockets.frames import Frame, Opcode

    _accel().uninstall()
    frame = Frame(Opcode.TEXT, b"x" * size).serialize(mask=True)
    data = frame * count
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]


def _receive(chunks: List[bytes], accelerated: bool) -> float:
    from websockets.protocol import OPEN
    from websockets.server import ServerProtocol

    accel = _accel()
    accel.install() if accelerated else accel.uninstall()
    p = ServerProtocol(state=OPEN, max_size=None)
    t = time.process_time()
    n = 0
    for c in chunks:
        p.receive_data(c)
        n += len(p.events_received())
    return time.process_time() - t


def _floor(count: int, size: int) -> float:
    from websockets.frames import Frame, Opcode

    text, data, new = Opcode.TEXT, b"x" * size, object.__new__
    t = time.process_time()
    frames = [Frame(text, data, True, False, False, False) for _ in range(count)]
    by_init = time.process_time() - t
    del frames
    frames = []
    t = time.process_time()
    for _ in range(count):  # the cheapest way to the same objects (what the accelerator does)
        f = new(Frame)
        f.opcode = text
        f.data = data
        f.fin = True
        f.rsv1 = False
        f.rsv2 = False
        f.rsv3 = False
        frames.append(f)
    by_setattr = time.process_time() - t
    del frames
    return min(by_init, by_setattr)


def sansio(quick: bool) -> List[dict]:
    rows = []
    cases = [(16, 30_000 if quick else 100_000), (1024, 10_000 if quick else 30_000),
             (64 * 1024, 100 if quick else 300)]
    repeats = 5 if quick else 9
    for size, count in cases:
        chunks = _stream(size, count)
        without, with_, floor, ratios = [], [], [], []
        for _ in range(repeats):
            a = _receive(chunks, False)
            b = _receive(chunks, True)
            without.append(a)
            with_.append(b)
            ratios.append(a / b)
            floor.append(_floor(count, size))
        m_without, m_with, m_floor = (statistics.median(x) for x in (without, with_, floor))
        rows.append({"size": size, "messages": count, "without_per_s": count / m_without,
                     "with_per_s": count / m_with, "ratio": statistics.median(ratios),
                     "floor_per_s": count / m_floor, "x_floor": m_with / m_floor,
                     "spread": (max(ratios) - min(ratios)) / statistics.median(ratios)})
    _accel().uninstall()
    return rows


# --------------------------------------------------------------------------- 2. echo servers


def _wrapped(script: str, *extra: str):
    """The server script run by a wrapper that installs the accelerator first."""
    code = ("import runpy, sys; import wsframe.integrations.websockets as w; w.install(); "
            f"sys.argv = [{script!r}] + sys.argv[1:]; runpy.run_path({script!r}, run_name='__main__')")
    return lambda port: [sys.executable, "-c", code, str(port), "127.0.0.1", *extra]


@contextlib.contextmanager
def _with_accelerated_specs() -> Iterator[None]:
    from benchmarks import server_bench, server_specs

    original = server_bench.server_specs

    def specs(install: bool = False):
        base = original(install=install)
        by_name = {s.name: s for s in base}
        extra = []
        for name, script, args, accel_name in (
                ("uvicorn + websockets-sansio", "uvicorn_echo.py", ("--ws", "websockets-sansio"), UVICORN_ACCEL),
                ("websockets", "websockets_echo.py", (), WEBSOCKETS_ACCEL)):
            s = by_name[name]
            extra.append(server_specs.ServerSpec(accel_name, s.check, _wrapped(str(server_specs.SERVERS_DIR / script),
                                                                               *args),
                                                 note=s.note + ", with wsframe.integrations.websockets.install()"))
        return base + extra

    server_bench.server_specs = specs
    try:
        yield
    finally:
        server_bench.server_specs = original


def servers(quick: bool, out: Path) -> List[dict]:
    from benchmarks import server_bench

    names = [n for pair in PAIRS for n in pair]
    only = "^(" + "|".join(re.escape(n) for n in names) + ")$"
    with _with_accelerated_specs():
        results = server_bench.run(quick=quick, out_dir=out / "servers", only=only, rows="echo",
                                   require=names)
    by = {(r["server"], r["row"]): r for r in results}
    rows = []
    for base, accel in PAIRS:
        for r in results:
            if r["server"] != base or r.get("kind") != "echo":
                continue
            a = by.get((accel, r["row"]))
            if not a or r.get("status") != "ok" or a.get("status") != "ok":
                rows.append({"server": base, "row": r["label"], "status": f"{r.get('status')} / "
                             f"{a.get('status') if a else 'missing'}"})
                continue
            rows.append({"server": base, "row": r["label"], "pipelined": "pipelined" in r["label"],
                         "without_per_s": r["rate"], "with_per_s": a["rate"], "ratio": a["rate"] / r["rate"],
                         "cpu_us_without": r["server_us_per_op"], "cpu_us_with": a["server_us_per_op"],
                         "saturated": bool(r.get("saturated") or a.get("saturated")), "status": "ok"})
    return rows


# --------------------------------------------------------------------------- 3. callgrind


def _callgrind_run(argv: List[str], messages: int, tmp: Path, tag: str) -> int:
    from benchmarks.server_procs import _free_port, loadgen
    from benchmarks.server_specs import SERVERS_DIR, build

    build("loadgen")
    port = _free_port()
    outfile = tmp / f"cg.{tag}.{messages}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={outfile}", *argv(port)],
                            cwd=SERVERS_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:  # up under valgrind: accepts a connection
            try:
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{tag}: server did not start under valgrind")
                time.sleep(0.2)
        r = loadgen(port, ["--mode", "echo", "--conns", "1", "--window", "1", "--size", "16", "--messages",
                           str(messages), "--seconds", "600", "--warmup-seconds", "0", "--timeout", "120"],
                    proc.pid, None, 900)
        if not r.get("ok"):
            raise RuntimeError(f"{tag}: {r.get('first_error')}")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    total = 0
    for f in tmp.glob(f"cg.{tag}.{messages}*"):
        m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read_text(errors="replace"), re.M)
        if m:
            total = max(total, int(m.group(1)))
    if not total:
        raise RuntimeError(f"{tag}: no callgrind totals")
    return total


def callgrind(short: int = 300, long: int = 1300) -> List[dict]:
    from benchmarks.server_specs import SERVERS_DIR

    def plain(script: str, *extra: str):
        return lambda port: [sys.executable, str(SERVERS_DIR / script), str(port), "127.0.0.1", *extra]

    configs = [("uvicorn + websockets-sansio", "uvicorn_echo.py", ("--ws", "websockets-sansio")),
               ("websockets", "websockets_echo.py", ())]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, script, extra in configs:
            per = {}
            for accelerated in (False, True):
                argv = _wrapped(str(SERVERS_DIR / script), *extra) if accelerated else plain(script, *extra)
                tag = f"{script}.{accelerated}"
                a = _callgrind_run(argv, short, tmp, tag)
                b = _callgrind_run(argv, long, tmp, tag)
                per[accelerated] = (b - a) / (long - short)
            rows.append({"server": name, "instr_without": per[False], "instr_with": per[True],
                         "ratio": per[False] / per[True]})
    return rows


# --------------------------------------------------------------------------- report


def report(res: Dict[str, List[dict]]) -> str:
    lines = ["# websockets with and without wsframe.integrations.websockets", ""]
    if res.get("sansio"):
        lines += ["## Sans-I/O receive (ServerProtocol.receive_data + events_received, 64 KiB reads)", "",
                  "| message | without msg/s | with msg/s | ratio | Frame() floor msg/s | with / floor time |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in res["sansio"]:
            lines.append(f"| {r['size']} B | {r['without_per_s']:,.0f} | {r['with_per_s']:,.0f} | "
                         f"{r['ratio']:.2f}x | {r['floor_per_s']:,.0f} | {r['x_floor']:.2f} |")
        lines.append("")
    if res.get("servers"):
        lines += ["## Echo servers (C load generator; server CPU µs per message)", "",
                  "| server | row | without msg/s | with msg/s | ratio | CPU µs/msg without | with |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in res["servers"]:
            if r.get("status") != "ok":
                lines.append(f"| {r['server']} | {r['row']} | {r['status']} | | | | |")
                continue
            sat = " (generator saturated)" if r["saturated"] else ""
            lines.append(f"| {r['server']} | {r['row']}{sat} | {r['without_per_s']:,.0f} | {r['with_per_s']:,.0f} | "
                         f"{r['ratio']:.2f}x | {r['cpu_us_without']:.1f} | {r['cpu_us_with']:.1f} |")
        lines.append("")
    if res.get("callgrind"):
        lines += ["## callgrind: server instructions per message, 1 connection ping-pong, 16 B", "",
                  "| server | without | with | ratio |", "| --- | ---: | ---: | ---: |"]
        for r in res["callgrind"]:
            lines.append(f"| {r['server']} | {r['instr_without']:,.0f} | {r['instr_with']:,.0f} | {r['ratio']:.2f}x |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer messages and repeats")
    ap.add_argument("--no-sansio", action="store_true")
    ap.add_argument("--no-servers", action="store_true")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions per message (valgrind)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.out.resolve() == (HERE / "latest").resolve() or HERE / "latest" in args.out.resolve().parents:
        ap.error("--out may not be benchmarks/latest")
    args.out.mkdir(parents=True, exist_ok=True)
    res: Dict[str, List[dict]] = {}
    if not args.no_sansio:
        res["sansio"] = sansio(args.quick)
        print(report({"sansio": res["sansio"]}), flush=True)
    if not args.no_servers:
        res["servers"] = servers(args.quick, args.out)
        print(report({"servers": res["servers"]}), flush=True)
    if args.callgrind:
        res["callgrind"] = callgrind()
        print(report({"callgrind": res["callgrind"]}), flush=True)
    (args.out / "websockets.json").write_text(json.dumps(res, indent=1))
    (args.out / "websockets.md").write_text(report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
