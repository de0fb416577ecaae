"""Fan-out benchmark: one message (or a burst of K) to N idle subscribers, wsframe's
``publish`` against peers and a C floor; server CPU per delivered message, delivered
messages/s, time until the last subscriber has the burst.

    python -m benchmarks.bench_pubsub [--subs 1000 10000] [--passes 2] [--rounds 3] [--out FILE]

Every server is a child process holding N subscribers opened by ``pubsink`` (C,
benchmarks/loadgen/pubsink.c: reads and counts frames). A control connection sends
``go K SIZE``; the server sends K binary messages of SIZE bytes to every connection.
Server CPU is the sum of /proc/PID/task/*/schedstat over the round (ns). Servers are
run one after the other within a pass, passes repeat the whole list (interleaved);
the reported value is the median over passes x rounds. Results go to ``--out`` (JSON)
and stdout (a table); benchmarks/latest/ is not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOADGEN = HERE / "loadgen"

WSFRAME_SELECTORS = r"""
import sys
from wsframe.server import Application, Server
from wsframe.permessage_deflate import ServerPerMessageDeflate
port, mode = int(sys.argv[1]), sys.argv[2]
class A(Application):
    def on_open(self, ws):
        ws.subscribe("all")
    def on_message(self, ws, data):
        _, k, size = data.split()
        msg = MSG[:int(size)]
        if mode == "loop":  # what a user writes without pub/sub
            conns = ws.server.connections
            for _ in range(int(k)):
                for c in conns:
                    c.send(msg)
        else:
            publish = ws.server.publish
            for _ in range(int(k)):
                publish("all", msg)
MSG = (b'{"sym": "ABC", "px": 101.25, "qty": 300} ' * 64)
exts = [ServerPerMessageDeflate()] if mode == "publish-deflate" else []
srv = Server(A(), "127.0.0.1", port, max_connections=30000, extensions=exts, backlog=4096)
import os
if os.environ.get("WSF_REDIS"):  # one of several workers joined by Redis (--cross)
    from wsframe.backplane.redis import RedisBackplane
    RedisBackplane(os.environ["WSF_REDIS"]).attach_server(srv)
srv.serve_forever()
"""

WSFRAME_ASYNCIO = r"""
import asyncio, sys
from wsframe.asyncio import serve
port = int(sys.argv[1])
MSG = (b'{"sym": "ABC", "px": 101.25, "qty": 300} ' * 64)
async def handler(ws):
    ws.subscribe("all")
    async for data in ws:
        _, k, size = data.split()
        msg = MSG[:int(size)]
        for _ in range(int(k)):
            ws.server.publish("all", msg)
async def main():
    async with serve(handler, "127.0.0.1", port, compression=None, max_connections=30000, backlog=4096) as s:
        await s.serve_forever()
asyncio.run(main())
"""

WSFRAME_ASYNCIO_APP = r"""
import asyncio, sys
from wsframe.asyncio import serve
from wsframe.server import Application
port = int(sys.argv[1])
MSG = (b'{"sym": "ABC", "px": 101.25, "qty": 300} ' * 64)
class A(Application):
    def on_open(self, ws):
        ws.subscribe("all")
    def on_message(self, ws, data):
        _, k, size = data.split()
        msg = MSG[:int(size)]
        publish = ws.server.publish
        for _ in range(int(k)):
            publish("all", msg)
async def main():
    async with serve(app=A(), host="127.0.0.1", port=port, compression=None, max_connections=30000,
                     backlog=4096) as s:
        await s.serve_forever()
asyncio.run(main())
"""

WEBSOCKETS = r"""
import asyncio, sys
from websockets.asyncio.server import broadcast, serve
port = int(sys.argv[1])
MSG = (b'{"sym": "ABC", "px": 101.25, "qty": 300} ' * 64)
conns = set()
async def handler(ws):
    conns.add(ws)
    try:
        async for data in ws:
            _, k, size = data.split()
            msg = MSG[:int(size)]
            for _ in range(int(k)):
                broadcast(conns, msg)
    finally:
        conns.discard(ws)
async def main():
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None, ping_interval=None, backlog=4096) as s:
        await s.serve_forever()
asyncio.run(main())
"""

PICOWS = r"""
import asyncio, sys
import uvloop
from picows import WSListener, WSMsgType, ws_create_server
port = int(sys.argv[1])
MSG = (b'{"sym": "ABC", "px": 101.25, "qty": 300} ' * 64)
conns = set()
class L(WSListener):
    def on_ws_connected(self, t):
        conns.add(t)
    def on_ws_disconnected(self, t):
        conns.discard(t)
    def on_ws_frame(self, t, frame):
        if frame.msg_type == WSMsgType.TEXT:
            _, k, size = frame.get_payload_as_ascii_text().split()
            msg = MSG[:int(size)]
            for _ in range(int(k)):
                for c in conns:
                    c.send(WSMsgType.BINARY, msg)
async def main():
    server = await ws_create_server(lambda r: L(), "127.0.0.1", port, backlog=4096)
    await server.serve_forever()
uvloop.run(main())
"""

NODE_WS = r"""
const { WebSocketServer } = require('ws');
const port = +process.argv[2];
const MSG = Buffer.from('{"sym": "ABC", "px": 101.25, "qty": 300} '.repeat(64));
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, backlog: 4096 });
wss.on('connection', (ws) => ws.on('message', (d) => {
  const [, k, size] = d.toString().split(' ');
  const msg = MSG.subarray(0, +size);
  for (let i = 0; i < +k; i++) wss.clients.forEach((c) => c.send(msg));
}));
"""

SERVERS = {
    "wsframe publish (selectors)": (WSFRAME_SELECTORS, "publish", "plain"),
    "wsframe ws.send loop (selectors)": (WSFRAME_SELECTORS, "loop", "plain"),
    "wsframe publish (asyncio)": (WSFRAME_ASYNCIO, "", "plain"),
    "wsframe publish (asyncio, serve(app=))": (WSFRAME_ASYNCIO_APP, "", "plain"),
    "websockets broadcast()": (WEBSOCKETS, "", "plain"),
    "picows transport.send loop": (PICOWS, "", "plain"),
    "npm ws clients.forEach(send)": (NODE_WS, "node", "plain"),
    "C floor (same prebuilt frames)": (None, "floor", "plain"),
    "wsframe publish, deflate shared (no context takeover)": (WSFRAME_SELECTORS, "publish-deflate", "nct"),
    "wsframe publish, deflate per connection (context takeover)": (WSFRAME_SELECTORS, "publish-deflate", "ct"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_ns(pid: int) -> int:
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def _build(tmp: Path) -> dict:
    out = {}
    for name in ("pubsink", "pubfloor"):
        exe = tmp / name
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-Wno-sign-compare",
                        "-std=gnu11", "-o", str(exe), str(LOADGEN / f"{name}.c")], check=True)
        out[name] = str(exe)
    return out


def _node_path() -> str:
    for base in (ROOT / "tests" / "peers" / "node_modules", Path("/work/main/tests/peers/node_modules")):
        if (base / "ws").exists():
            return str(base)
    return ""


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _start(name: str, port: int, exes: dict, tmp: Path, redis_url: str = "") -> subprocess.Popen:
    code, mode, _ = SERVERS[name]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if redis_url:
        env["WSF_REDIS"] = redis_url
    if mode == "floor":
        cmd = [exes["pubfloor"], str(port)]
    elif mode == "node":
        script = tmp / "ws_pub.js"
        script.write_text(code)
        env["NODE_PATH"] = _node_path()
        cmd = ["node", str(script), str(port)]
    else:
        cmd = [sys.executable, "-c", code, str(port), mode]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_raise_nofile)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError as exc:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"{name} did not start") from exc
            time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_server(name: str, n: int, cases: list, rounds: int, exes: dict, tmp: Path) -> dict:
    from wsframe import client

    port = _free_port()
    proc = _start(name, port, exes, tmp)
    sink = subprocess.Popen([exes["pubsink"], str(port), str(n), SERVERS[name][2]], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, preexec_fn=_raise_nofile)
    results = {}
    try:
        assert json.loads(sink.stdout.readline())["ready"] == n
        ctl = client.connect(f"ws://127.0.0.1:{port}/", max_queue=None, max_message_size=None)
        for k, size in cases:
            samples = []
            for r in range(rounds + 1):  # the first round warms up
                cpu0 = _cpu_ns(proc.pid)
                sink.stdin.write(f"go {k}\n")
                sink.stdin.flush()
                ctl.send(f"go {k} {size}")
                line = sink.stdout.readline()
                if not line:
                    raise RuntimeError(f"{name}: the sink failed at K={k} size={size} round {r}")
                last_ms = json.loads(line)["last_ms"]
                for _ in range(k):  # the control connection gets them too (not counted)
                    ctl.recv(timeout=60)
                cpu = _cpu_ns(proc.pid) - cpu0
                if r:
                    delivered = n * k
                    samples.append((cpu / delivered / 1000.0, delivered / (last_ms / 1000.0), last_ms))
            results[f"{k}x{size}"] = samples
        ctl.close()
    finally:
        sink.stdin.close()
        sink.wait(30)
        _stop(proc)
    return results


def _pct(values: list, q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def cross(n: int, workers: int, rounds: int, exes: dict, tmp: Path) -> dict:
    """One process vs ``workers`` processes joined by Redis: N subscribers spread
    evenly, one publisher (on the first process); K=1 latency to the last
    subscriber (p50/p99 over ``rounds``) and K=100 delivered messages/s."""
    from wsframe import client

    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise RuntimeError("redis-server is missing")
    rport = _free_port()
    rds = subprocess.Popen([redis_bin, "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{rport}/0"
    out = {}
    try:
        time.sleep(0.5)  # (a benchmark, not a test: redis-server's start-up)
        for label, nproc in (("1 process", 1), (f"{workers} processes + Redis", workers)):
            ports = [_free_port() for _ in range(nproc)]
            procs = [_start("wsframe publish (selectors)", p, exes, tmp, url if nproc > 1 else "") for p in ports]
            sinks = [subprocess.Popen([exes["pubsink"], str(p), str(n // nproc)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, preexec_fn=_raise_nofile) for p in ports]
            try:
                for sk in sinks:
                    json.loads(sk.stdout.readline())
                ctl = client.connect(f"ws://127.0.0.1:{ports[0]}/", max_queue=None)
                if nproc > 1:
                    import redis as redis_py
                    cli = redis_py.Redis(port=rport)
                    deadline = time.monotonic() + 30
                    while dict(cli.pubsub_numsub("wsframe:all"))[b"wsframe:all"] < nproc:
                        if time.monotonic() > deadline:
                            raise RuntimeError("workers did not subscribe")
                        time.sleep(0.05)
                    cli.close()

                def one(k: int) -> tuple:
                    cpu0 = sum(_cpu_ns(p.pid) for p in procs)
                    for sk in sinks:
                        sk.stdin.write(f"go {k}\n")
                        sk.stdin.flush()
                    ctl.send(f"go {k} 16")
                    last = max(json.loads(sk.stdout.readline())["last_ms"] for sk in sinks)
                    for _ in range(k):
                        ctl.recv(timeout=60)
                    return last, sum(_cpu_ns(p.pid) for p in procs) - cpu0

                one(1)
                lat = [one(1)[0] for _ in range(rounds)]
                bursts = [one(100) for _ in range(3)]
                out[label] = {"p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99),
                              "burst100_msgs_per_s": statistics.median(n * 100 / (b[0] / 1000) for b in bursts),
                              "burst100_cpu_us_per_msg": statistics.median(b[1] / (n * 100) / 1000 for b in bursts)}
                ctl.close()
            finally:
                for sk in sinks:
                    sk.stdin.close()
                    sk.wait(30)
                for p in procs:
                    _stop(p)
    finally:
        _stop(rds)
    return out


PUBLISHERS = ("wsframe publish (selectors)", "wsframe publish (asyncio)", "wsframe publish (asyncio, serve(app=))")
# (peer, how the ratio reads, target for single publishes, target for bursts): the targets.
PEERS = (
    ("websockets broadcast()", "x less CPU", 1.5, 8.0),
    ("npm ws clients.forEach(send)", "x less CPU", 2.0, 8.0),
    ("picows transport.send loop", "x less CPU", None, None),
    ("wsframe ws.send loop (selectors)", "x less CPU", 1.0, 1.0),
    ("C floor (same prebuilt frames)", "x the floor's CPU", 1.3, 1.3),
)


def ratios(out: dict) -> list:
    """Every publisher against every peer measured in the same run, with the issue's target."""
    rows = []
    for key, v in out.items():
        n, case, name = key.split("|")
        if name not in PUBLISHERS:
            continue
        k = int(case.split("x")[0])
        for peer, reads, single, burst in PEERS:
            p = out.get(f"{n}|{case}|{peer}")
            if p is None:
                continue
            floor = reads.endswith("floor's CPU")
            r = v["cpu_us_per_msg"] / p["cpu_us_per_msg"] if floor else p["cpu_us_per_msg"] / v["cpu_us_per_msg"]
            target = single if k == 1 else burst
            if peer.endswith("(selectors)") and not name.endswith("(selectors)"):
                target = None  # the user loop runs on the selectors server: no target for the others
            met = None if target is None else (r <= target if floor else r >= target)
            rows.append({"n": int(n), "case": case, "server": name, "vs": peer, "ratio": r, "reads": reads,
                         "target": target, "met": met})
    return rows


def ratio_table(rows: list) -> str:
    lines = ["| N | K x bytes | server | vs | ratio | target | |", "|---|---|---|---|---:|---:|---|"]
    for r in rows:
        t = "" if r["target"] is None else (("≤ " if "floor" in r["reads"] else "≥ ") + f"{r['target']}")
        met = "" if r["met"] is None else ("met" if r["met"] else "MISSED")
        lines.append(f"| {r['n']} | {r['case']} | {r['server']} | {r['vs']} | {r['ratio']:.2f}{r['reads']} | {t} | {met} |")
    return "\n".join(lines)


QUICK = ["--subs", "1000", "--passes", "2", "--rounds", "2", "--cases", "1x16", "10x16", "100x16",
         "--servers", *PUBLISHERS, "wsframe ws.send loop (selectors)", "websockets broadcast()",
         "npm ws clients.forEach(send)", "C floor (same prebuilt frames)"]


def run_mode(mode: str, out_dir: Path) -> int:
    """``python -m benchmarks --pubsub``: a bounded run (--quick: 1,000 subscribers, 16 B, about
    3 minutes; --full: every server at 1,000 and 10,000). Writes pubsub.md/.json in ``out_dir``."""
    argv = QUICK if mode != "full" else ["--passes", "2"]
    out_dir.mkdir(parents=True, exist_ok=True)
    return main([*argv, "--out", str(out_dir / "pubsub.json"), "--md", str(out_dir / "pubsub.md")])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subs", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--servers", nargs="*", default=list(SERVERS))
    ap.add_argument("--cases", nargs="*", default=None, metavar="KxBYTES",
                    help="e.g. 1x16 10x16 (default: 1x16 10x16 100x16 1x1024, and 10x1024 up to 1,000 subscribers)")
    ap.add_argument("--cross", type=int, default=0, metavar="WORKERS",
                    help="instead: 1 process vs WORKERS processes joined by Redis, at the first --subs")
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "bench_pubsub.json"))
    ap.add_argument("--md", default="", help="also write the tables (markdown) to this file")
    args = ap.parse_args(argv)
    _raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pubsub-"))
    exes = _build(tmp)
    if args.cross:
        try:
            res = cross(args.subs[0], args.cross, max(args.rounds, 20), exes, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
        print(json.dumps(res, indent=1))
        return 0
    table = {}
    failures = []
    try:
        for n in args.subs:
            # Bounded: at most ~20 MB through the kernel per round (2 shared cores).
            cases = [(1, 16), (10, 16), (100, 16), (1, 1024)]
            if n <= 1000:
                cases.append((10, 1024))
            if args.cases:
                cases = [(int(c.split("x")[0]), int(c.split("x")[1])) for c in args.cases]
            for p in range(args.passes):
                for name in args.servers:
                    if SERVERS[name][1] == "node" and not _node_path():
                        continue
                    print(f"[pass {p + 1}] N={n} {name}", file=sys.stderr, flush=True)
                    try:
                        res = run_server(name, n, cases, args.rounds, exes, tmp)
                    except Exception as exc:  # reported, and the other servers still run
                        print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
                        failures.append(f"N={n} {name}: {exc}")
                        continue
                    for case, samples in res.items():
                        table.setdefault((n, case, name), []).extend(samples)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {f"{n}|{case}|{name}": {"cpu_us_per_msg": statistics.median(s[0] for s in v),
                                   "msgs_per_s": statistics.median(s[1] for s in v),
                                   "last_ms": statistics.median(s[2] for s in v), "samples": len(v)}
           for (n, case, name), v in table.items()}
    rows = ratios(out)
    with open(args.out, "w") as f:
        json.dump({**out, "ratios": rows, "failures": failures}, f, indent=1)
    lines = ["| N | K x bytes | server | CPU µs/msg | msgs/s | last ms |", "|---|---|---|---:|---:|---:|"]
    for key, v in out.items():
        n, case, name = key.split("|")
        lines.append(f"| {n} | {case} | {name} | {v['cpu_us_per_msg']:.3f} | {v['msgs_per_s']:,.0f} | {v['last_ms']:.1f} |")
    md = "\n".join(lines) + "\n\n" + ratio_table(rows) + "\n" + "".join(f"\nFAILED: {f}" for f in failures)
    print(md)
    if args.md:
        Path(args.md).write_text(md + "\n")
    print(f"(results: {args.out})", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
