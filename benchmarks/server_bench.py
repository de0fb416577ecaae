"""Server benchmarks: echo servers under a C load generator, same run, same inputs.

``python -m benchmarks.server_bench [--quick|--smoke|--full] [--no-pin] [--only REGEX] [--out DIR]``

What runs
  - The load generator ``benchmarks/loadgen/loadgen.c`` (epoll, C) and the C
    reference server ``refecho.c`` are built here with ``cc`` when missing or
    older than their sources.
  - Servers (scripts in ``benchmarks/servers/``): wsframe as a user writes it
    (``wsframe_app.py``: an ``Application`` whose ``on_message`` calls
    ``ws.send(data)``) and the built-in ``python -m wsframe echo``,
    websockets (asyncio), aiohttp, picows on uvloop, wsproto on selectors, the
    npm ``ws`` server, and two references: the C epoll echo (the ceiling) and a
    bare Python selectors echo with the cheapest framing (the floor of
    interpreter overhead). Compression is off everywhere. A server whose
    package is missing is skipped and the report says why.
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
  spread ((max - min) / median); ratios are wsframe / peer within the run. The
  server and the generator are pinned to separate cores when there are at least
  two (``--no-pin`` to disable). The generator reports its own CPU time and the
  server's (all threads), so the report gives server CPU microseconds per
  message, and flags rows where the generator itself was saturated (>= 90 % of a
  core): there, the number is the generator's limit, not the server's.

``run(quick, smoke, out_dir)`` is the importable entry point; it returns one
dict per (server, row) and writes ``servers.md``, ``servers.json`` and, when
matplotlib is installed, PNG charts into ``out_dir`` (default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOADGEN_DIR = HERE / "loadgen"
SERVERS_DIR = HERE / "servers"
RESULTS_DIR = HERE / "results"
NODE_PEER_DIRS = (SERVERS_DIR / "node_modules", ROOT / "tests" / "peers" / "node_modules")

WSFRAME = "wsframe"  # a user-written Application (benchmarks/servers/wsframe_app.py): what users get
WSFRAME_BUILTIN = "wsframe echo (built-in)"  # the CLI's `wsframe echo`
PICOWS = "picows"
FLOOR = "bare selectors (floor)"
CEILING = "C epoll (ceiling)"

# Targets from the server issue, for wsframe, within one run.
TARGET_VS_PICOWS = 1.0
TARGET_VS_PICOWS_PIPELINED = 3.0
TARGET_VS_FLOOR = 0.5
TARGET_IDLE_BYTES = 2048
SATURATED_PCT = 90.0


class Unavailable(Exception):
    """This server cannot run here (package missing, no compiler, no node...)."""


# --------------------------------------------------------------------------- modes


@dataclass(frozen=True)
class Mode:
    name: str
    repeats: int
    echo_seconds: float  # measured phase of one echo row
    echo_messages: int  # and its message bound
    warmup_seconds: float
    handshake_seconds: float
    handshake_count: int
    idle_conns: int
    idle_repeats: int
    timeout: float  # generator's connect / drain / close timeout


MODES = {
    "smoke": Mode("smoke", 1, 0.15, 300, 0.0, 0.15, 40, 40, 1, 5.0),
    "quick": Mode("quick", 3, 0.3, 400_000, 0.1, 0.3, 20_000, 2000, 1, 10.0),
    "full": Mode("full", 5, 2.0, 5_000_000, 0.3, 1.5, 200_000, 2000, 3, 10.0),
}


@dataclass(frozen=True)
class Row:
    kind: str  # "echo", "handshake", "memory"
    conns: int = 0
    window: int = 0
    size: int = 0

    @property
    def key(self) -> str:
        if self.kind == "echo":
            return f"echo c{self.conns} w{self.window} {self.size}B"
        return self.kind

    @property
    def label(self) -> str:
        if self.kind == "echo":
            style = "ping-pong" if self.window == 1 else f"pipelined w{self.window}"
            size = f"{self.size} B" if self.size < 1024 else f"{self.size // 1024} KiB"
            conns = f"{self.conns} conn" if self.conns == 1 else f"{self.conns} conns"
            return f"{conns}, {style}, {size}"
        if self.kind == "handshake":
            return "handshakes/s (8 concurrent)"
        return "bytes per idle connection"

    @property
    def pipelined(self) -> bool:
        return self.kind == "echo" and self.window > 1


ECHO_ROWS = [Row("echo", c, w, s) for c in (1, 64) for w in (1, 16) for s in (16, 4096)]
HANDSHAKE_ROW = Row("handshake", 8)
MEMORY_ROW = Row("memory")
ALL_ROWS = ECHO_ROWS + [HANDSHAKE_ROW, MEMORY_ROW]


# --------------------------------------------------------------------------- servers


@dataclass
class ServerSpec:
    name: str
    check: Callable[[], str]  # returns a version string or raises Unavailable
    argv: Callable[[int], List[str]]  # port -> command line
    cwd: Path = SERVERS_DIR
    reference: bool = False


def _py_version(module: str, dist: Optional[str] = None) -> str:
    if importlib.util.find_spec(module) is None:
        raise Unavailable(f"{dist or module} is not installed (pip install '.[bench]')")
    try:
        return importlib.metadata.version(dist or module)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _check_wsframe() -> str:
    """Version and codec of the wsframe that ``python -m wsframe`` runs from the repository root."""
    code = ("import wsframe, wsframe.codec as c; "
            "print(wsframe.__version__, 'C' if c.speedups_enabled else 'pure-Python')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise Unavailable(f"wsframe is not importable: {proc.stderr.strip()[-300:]}")
    version, codec = proc.stdout.split()
    return f"{version} ({codec} codec)"


def _check_picows() -> str:
    v = _py_version("picows")
    u = _py_version("uvloop")
    return f"{v}, uvloop {u}"


def _node_ws_dir(install: bool) -> Path:
    if shutil.which("node") is None:
        raise Unavailable("node is not installed")
    for d in NODE_PEER_DIRS:
        if (d / "ws" / "package.json").is_file():
            return d
    if install and shutil.which("npm"):
        try:
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--loglevel=error"],
                           cwd=SERVERS_DIR, check=True, timeout=180, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        except (subprocess.SubprocessError, OSError) as exc:
            raise Unavailable(f"npm install ws failed: {exc}") from None
        if (SERVERS_DIR / "node_modules" / "ws" / "package.json").is_file():
            return SERVERS_DIR / "node_modules"
    raise Unavailable("npm ws is not installed (cd benchmarks/servers && npm install)")


def _build(name: str) -> Path:
    """Builds benchmarks/loadgen/NAME from NAME.c with cc when missing or stale."""
    src = LOADGEN_DIR / f"{name}.c"
    out = LOADGEN_DIR / name
    deps = [src, LOADGEN_DIR / "wsutil.h"]
    if out.exists() and all(out.stat().st_mtime >= d.stat().st_mtime for d in deps):
        return out
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise Unavailable("no C compiler (cc) to build the load generator")
    tmp = out.with_name(f".{name}.{os.getpid()}.tmp")
    proc = subprocess.run([cc, "-O2", "-std=gnu11", "-Wall", "-o", str(tmp), str(src)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise Unavailable(f"building {name} failed:\n{proc.stderr[-2000:]}")
    os.replace(tmp, out)
    return out


def server_specs(install: bool = False) -> List[ServerSpec]:
    py = sys.executable
    node_dir: Dict[str, Path] = {}

    def check_node() -> str:
        d = _node_ws_dir(install)
        node_dir["d"] = d
        version = json.loads((d / "ws" / "package.json").read_text()).get("version", "?")
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        return f"{version}, node {node}"

    def check_refecho() -> str:
        _build("refecho")
        return "benchmarks/loadgen/refecho.c"

    def script(name: str) -> Callable[[int], List[str]]:
        return lambda port: [py, str(SERVERS_DIR / name), str(port), "127.0.0.1"]

    return [
        ServerSpec(WSFRAME, _check_wsframe, script("wsframe_app.py")),
        ServerSpec(WSFRAME_BUILTIN, _check_wsframe,
                   lambda port: [py, "-m", "wsframe", "echo", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT),
        ServerSpec(PICOWS, _check_picows, script("picows_echo.py")),
        ServerSpec("websockets", lambda: _py_version("websockets"), script("websockets_echo.py")),
        ServerSpec("aiohttp", lambda: _py_version("aiohttp"), script("aiohttp_echo.py")),
        ServerSpec("wsproto", lambda: _py_version("wsproto"), script("wsproto_echo.py")),
        ServerSpec("ws (node)", check_node,
                   lambda port: ["node", str(SERVERS_DIR / "ws_echo.js"), str(port), "127.0.0.1"]),
        ServerSpec(FLOOR, lambda: "benchmarks/servers/bare_echo.py", script("bare_echo.py"), reference=True),
        ServerSpec(CEILING, check_refecho, lambda port: [str(LOADGEN_DIR / "refecho"), str(port), "127.0.0.1"],
                   reference=True),
    ]


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_inodes(port: int) -> set:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    return inodes


def _owns_listener(pid: int, port: int) -> bool:
    """True when a socket listening on PORT belongs to PID (not to someone else's server)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    except OSError:
        return False
    return False


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _preexec(cpu: Optional[int]) -> Callable[[], None]:
    def fn() -> None:
        os.setpgrp()  # own process group: stopped as a group, by our own PID
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return fn


class RunningServer:
    def __init__(self, spec: ServerSpec, cpu: Optional[int], log_path: Path, start_timeout: float = 20.0):
        self.spec = spec
        self.port = _free_port()
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
        if spec.name == "ws (node)":
            env["NODE_PATH"] = os.pathsep.join(str(d) for d in NODE_PEER_DIRS if d.is_dir())
        self.log = open(log_path, "ab")
        self.log.write(f"\n=== {spec.name}: {' '.join(spec.argv(self.port))}\n".encode())
        self.log.flush()
        self.proc = subprocess.Popen(spec.argv(self.port), cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_preexec(cpu))
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError(f"{spec.name} exited with {self.proc.returncode} at start-up; see {log_path}")
            if _owns_listener(self.proc.pid, self.port):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{spec.name} did not listen on port {self.port} within {start_timeout} s")
            time.sleep(0.03)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own group (setpgrp in the child)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if not self.log.closed:
            self.log.close()


def _loadgen(port: int, args: Sequence[str], server_pid: int, cpu: Optional[int], timeout: float) -> dict:
    cmd = [str(LOADGEN_DIR / "loadgen"), "--port", str(port), "--server-pid", str(server_pid), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=_preexec(cpu))
    except subprocess.TimeoutExpired:
        return {"ok": False, "first_error": f"load generator timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"ok": False, "first_error": f"load generator failed (rc {proc.returncode}): {proc.stderr[-500:]}"}
    result = json.loads(lines[-1])
    if proc.returncode != 0 and result.get("ok"):
        result["ok"] = False
        result["first_error"] = f"load generator exit {proc.returncode}"
    return result


def _echo_args(row: Row, mode: Mode) -> List[str]:
    return ["--mode", "echo", "--conns", str(row.conns), "--window", str(row.window), "--size", str(row.size),
            "--messages", str(mode.echo_messages), "--seconds", str(mode.echo_seconds),
            "--warmup-seconds", str(mode.warmup_seconds), "--timeout", str(mode.timeout)]


def _handshake_args(mode: Mode) -> List[str]:
    return ["--mode", "handshake", "--conns", str(HANDSHAKE_ROW.conns), "--messages", str(mode.handshake_count),
            "--seconds", str(mode.handshake_seconds), "--warmup-seconds", str(mode.warmup_seconds),
            "--timeout", str(mode.timeout)]


def _measure_idle(server: RunningServer, n: int, cpu: Optional[int], timeout: float) -> dict:
    """RSS delta per connection with N idle connections (each has echoed one message)."""
    # Warm the server's allocator and code paths with a few connections first.
    warm = _loadgen(server.port, ["--mode", "idle", "--conns", "20", "--hold-seconds", "0", "--timeout",
                                  str(timeout)], server.pid, cpu, timeout + 10)
    if not warm.get("ok"):
        return warm
    time.sleep(0.3)
    before = _rss_bytes(server.pid)
    cmd = [str(LOADGEN_DIR / "loadgen"), "--port", str(server.port), "--mode", "idle", "--conns", str(n),
           "--hold-seconds", "60", "--timeout", str(timeout)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_preexec(cpu))
    try:
        ready = proc.stdout.readline()  # the generator's "ready" line, or its final line on failure
        info = json.loads(ready) if ready.startswith("{") else {}
        if not info.get("ready"):
            out, err = proc.communicate(timeout=timeout + 10)  # closes stdin: the generator lets go
            final = json.loads(out.splitlines()[-1]) if out.strip() else info
            final.setdefault("first_error", err[-500:])
            final["ok"] = False
            return final
        time.sleep(0.5)
        after = _rss_bytes(server.pid)
        out, err = proc.communicate(timeout=timeout + 10)  # closes stdin: the generator closes them all
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"ok": False, "first_error": "idle connections: load generator timed out"}
    final = json.loads(out.splitlines()[-1]) if out.strip() else {"ok": False, "first_error": err[-500:]}
    final.update(rss_before=before, rss_after=after, bytes_per_conn=(after - before) / n, rate=(after - before) / n,
                 setup_s=info.get("setup_s"))
    return final


# --------------------------------------------------------------------------- running


def _cpus(pin: Optional[bool]) -> Tuple[Optional[int], Optional[int]]:
    """(server cpu, generator cpu) or (None, None)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return None, None
    if pin is False or len(allowed) < 2:
        return None, None
    return allowed[-1], allowed[0]


def run(quick: bool = True, smoke: bool = False, out_dir=None, *, pin: Optional[bool] = None,
        only: Optional[str] = None, install: bool = False, require: Sequence[str] = (),
        log: Callable[[str], None] = print) -> List[dict]:
    """Runs the server benchmarks; returns one dict per (server, row).

    Each dict: server, row (key), label, kind, status ("ok" / "skipped: ..." / "FAILED: ..."), version,
    median rate (messages/s, handshakes/s or bytes per idle connection), spread, p50_us, p99_us,
    server_us_per_op, gen_cpu_pct, saturated, samples (every repeat's raw generator output).
    ``require``: server names that must be available (raise instead of skipping).
    """
    mode = MODES["smoke" if smoke else "quick" if quick else "full"]
    out = Path(out_dir) if out_dir else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "servers.log"
    log_path.write_text("")
    t_start = time.monotonic()
    _build("loadgen")
    server_cpu, gen_cpu = _cpus(pin)

    specs = server_specs(install=install)
    if only:
        specs = [s for s in specs if re.search(only, s.name) or s.name == WSFRAME]
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
    for rep in range(mode.repeats):
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
                for row in ECHO_ROWS:
                    r = _loadgen(server.port, _echo_args(row, mode), server.pid, gen_cpu,
                                 mode.echo_seconds + mode.warmup_seconds + 4 * mode.timeout + 10)
                    samples[(spec.name, row.key)].append(r)
                    _log_sample(log, rep, spec.name, row, r)
                    if server.proc.poll() is not None:
                        raise RuntimeError(f"{spec.name} died (exit {server.proc.returncode})")
                r = _loadgen(server.port, _handshake_args(mode), server.pid, gen_cpu,
                             mode.handshake_seconds + mode.warmup_seconds + 2 * mode.timeout + 10)
                samples[(spec.name, HANDSHAKE_ROW.key)].append(r)
                _log_sample(log, rep, spec.name, HANDSHAKE_ROW, r)
            except RuntimeError as exc:
                failed[spec.name] = str(exc)
                log(f"FAILED {spec.name}: {exc}")
            finally:
                server.stop()

    # Memory: a fresh server each time, so that buffers grown by the echo rows do not hide the cost.
    for rep in range(mode.idle_repeats):
        for spec in available:
            if spec.name in failed:
                continue
            try:
                server = RunningServer(spec, server_cpu, log_path)
            except RuntimeError as exc:
                failed[spec.name] = f"could not start: {exc}"
                continue
            try:
                r = _measure_idle(server, mode.idle_conns, gen_cpu, mode.timeout)
            finally:
                server.stop()
            samples[(spec.name, MEMORY_ROW.key)].append(r)
            _log_sample(log, rep, spec.name, MEMORY_ROW, r)

    results = []
    for spec in specs:
        for row in ALL_ROWS:
            base = {"server": spec.name, "row": row.key, "label": row.label, "kind": row.kind, "conns": row.conns,
                    "window": row.window, "size": row.size, "version": versions.get(spec.name, ""),
                    "reference": spec.reference}
            if spec.name in skipped:
                results.append({**base, "status": f"skipped: {skipped[spec.name]}", "samples": []})
                continue
            results.append({**base, **_aggregate(samples[(spec.name, row.key)], failed.get(spec.name))})
    meta = _machine(mode, server_cpu, gen_cpu, versions, skipped, failed, time.monotonic() - t_start)
    (out / "servers.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "servers.md").write_text(report(results, meta))
    charts = _charts(results, out) if not smoke else []
    meta["charts"] = charts
    log(f"server benchmarks ({mode.name}) done in {meta['elapsed_s']:.0f} s: {out / 'servers.md'}")
    return results


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
    }


# --------------------------------------------------------------------------- report


def _fmt_rate(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def _fmt_bytes(v: float) -> str:
    return f"{v / 1024:.1f} KiB" if abs(v) >= 1024 else f"{v:.0f} B"


def _index(results: List[dict]) -> Dict[Tuple[str, str], dict]:
    return {(r["server"], r["row"]): r for r in results}


def _servers_in(results: List[dict]) -> List[str]:
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
    """[(target, met, detail)] for wsframe's targets from the server issue."""
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
                       _fmt_bytes(m["rate"])))
    return checks


def report(results: List[dict], meta: dict) -> str:
    idx = _index(results)
    servers = _servers_in(results)
    rat = ratios(results)
    L: List[str] = []
    L.append("# Server benchmarks: echo servers under a C load generator\n")
    pin = meta.get("pinning")
    L.append(f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['platform']}, Python {meta['python']}. "
             f"Mode `{meta['mode']}`: {meta['repeats']} interleaved repeats, {meta['echo_seconds']} s measured "
             f"per echo row after {meta['warmup_seconds']} s of warm-up; {meta['date']}; "
             f"{'server on CPU %s, generator on CPU %s' % (pin['server'], pin['generator']) if pin else 'no CPU pinning'}; "
             f"run took {meta['elapsed_s']:.0f} s.\n")
    L.append("Absolute numbers are relative to this (shared, noisy) machine; compare within one run. "
             "Medians over repeats; `±` is the spread (max - min) / median. † marks a row where the load "
             "generator used >= 90 % of its core (the number is then a lower bound of the server's capacity). "
             "Reproduce: `python -m benchmarks.server_bench --quick` (or `--full`).\n")
    L.append("Versions: " + "; ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".\n")
    for name, why in meta.get("skipped", {}).items():
        L.append(f"- skipped **{name}**: {why}")
    for name, why in meta.get("failed", {}).items():
        L.append(f"- failed **{name}**: {why}")
    if meta.get("skipped") or meta.get("failed"):
        L.append("")

    def cell(server: str, key: str, fn) -> str:
        r = idx.get((server, key))
        if not r:
            return "-"
        if r["status"] != "ok":
            return "FAILED" if r["status"].startswith("FAILED") else "skipped"
        return fn(r)

    def rate_cell(r: dict) -> str:
        return f"{_fmt_rate(r['rate'])} ±{r['spread'] * 100:.0f}%{' †' if r.get('saturated') else ''}"

    head = "| row | " + " | ".join(servers) + " |"
    sep = "|---|" + "---:|" * len(servers)
    L.append("## Echo throughput (messages/s) and handshakes/s\n")
    L.append(head)
    L.append(sep)
    for row in ECHO_ROWS + [HANDSHAKE_ROW]:
        L.append(f"| {row.label} | " + " | ".join(cell(s, row.key, rate_cell) for s in servers) + " |")
    L.append("")
    L.append("## Server CPU per message (µs; handshakes: per handshake)\n")
    L.append("On this small VM the single-connection rows are bound by wake-up latency, not by server cost; "
             "this table shows the cost.\n")
    L.append(head)
    L.append(sep)

    def cpu_cell(r: dict) -> str:
        v = r.get("server_us_per_op")
        return "?" if v is None else f"{v:.2f}" if v < 10 else f"{v:.1f}"

    for row in ECHO_ROWS + [HANDSHAKE_ROW]:
        L.append(f"| {row.label} | " + " | ".join(cell(s, row.key, cpu_cell) for s in servers) + " |")
    L.append("")
    L.append("## Round-trip latency p50 / p99 (µs)\n")
    L.append(head)
    L.append(sep)

    def lat_cell(r: dict) -> str:
        return f"{r['p50_us']:.0f} / {r['p99_us']:.0f}" if r.get("p50_us") is not None else "?"

    for row in ECHO_ROWS:
        L.append(f"| {row.label} | " + " | ".join(cell(s, row.key, lat_cell) for s in servers) + " |")
    L.append("")
    L.append("## Load on the machine besides the server and the generator (% of one core, median over rows)\n")
    L.append("Other processes compete for the same two cores; a high number here explains a noisy row.\n")
    L.append("| " + " | ".join(servers) + " |")
    L.append("|" + "---:|" * len(servers))
    bg = []
    for s in servers:
        vals = [idx[(s, row.key)].get("background_pct") for row in ECHO_ROWS
                if (s, row.key) in idx and idx[(s, row.key)]["status"] == "ok"]
        vals = [v for v in vals if v is not None]
        bg.append(f"{statistics.median(vals):.0f}%" if vals else "?")
    L.append("| " + " | ".join(bg) + " |")
    L.append("")
    L.append(f"## Memory per idle connection ({meta['idle_conns']} connections, one echo each; server RSS delta / n)\n")
    L.append("| server | bytes per connection |")
    L.append("|---|---:|")
    for s in servers:
        L.append(f"| {s} | {cell(s, MEMORY_ROW.key, lambda r: _fmt_bytes(r['rate']))} |")
    L.append("")
    peers = [s for s in servers if s != WSFRAME]
    if WSFRAME in servers and peers:
        L.append("## wsframe / peer (same run; > 1: wsframe is faster, or uses less memory)\n")
        L.append("| row | " + " | ".join(peers) + " |")
        L.append("|---|" + "---:|" * len(peers) + "")
        for row in ALL_ROWS:
            vals = [f"{rat[(p, row.key)]:.2f}x" if (p, row.key) in rat else "-" for p in peers]
            L.append(f"| {row.label} | " + " | ".join(vals) + " |")
        L.append("")
        crat = cpu_ratios(results)
        L.append("## Server CPU per message, peer / wsframe (same run; > 1: wsframe spends less CPU per message)\n")
        L.append("Less sensitive to other load on the machine than messages/s.\n")
        L.append("| row | " + " | ".join(peers) + " |")
        L.append("|---|" + "---:|" * len(peers) + "")
        for row in ECHO_ROWS + [HANDSHAKE_ROW]:
            vals = [f"{crat[(p, row.key)]:.2f}x" if (p, row.key) in crat else "-" for p in peers]
            L.append(f"| {row.label} | " + " | ".join(vals) + " |")
        L.append("")
        L.append("## wsframe's targets (from the server issue)\n")
        L.append("Judged on messages/s ratios as the issue states them; the server-CPU ratio is shown beside.\n")
        checks = targets(results)
        met = sum(1 for _, ok, _ in checks if ok)
        L.append(f"{met} of {len(checks)} met.\n")
        for name, ok, detail in checks:
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
        "close handshake, server EOF. Memory: a fresh server, warmed with 20 connections, then 2,000 connections "
        "that each echo one 16-byte message; the server's RSS delta divided by 2,000. Repeats are interleaved "
        "(each repeat runs every server in turn, the order rotated by one each time). Compression is off "
        "everywhere. The two references: `refecho.c` (C epoll echo, minimal framing: the ceiling) and "
        "`servers/bare_echo.py` (selectors, cheapest framing, one send per read: the floor of interpreter "
        "overhead).")
    L.append("")
    return "\n".join(L)


def _charts(results: List[dict], out: Path) -> List[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    idx = _index(results)
    servers = _servers_in(results)
    files = []

    def grouped(ax, rows: List[Row], value: Callable[[dict], Optional[float]], ylabel: str, log: bool = True):
        width = 0.8 / max(1, len(servers))
        for i, s in enumerate(servers):
            xs, ys = [], []
            for j, row in enumerate(rows):
                r = idx.get((s, row.key))
                v = value(r) if r and r["status"] == "ok" else None
                if v is not None and v > 0:
                    xs.append(j + (i - (len(servers) - 1) / 2) * width)
                    ys.append(v)
            ax.bar(xs, ys, width, label=s, edgecolor="black", linewidth=0.3,
                   hatch="//" if s in (FLOOR, CEILING) else None)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([row.label.replace(", ", "\n") for row in rows], fontsize=7)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3, which="both")

    fig, ax = plt.subplots(figsize=(13, 5.5))
    grouped(ax, ECHO_ROWS, lambda r: r["rate"], "echo messages/s (log)")
    ax.set_title("Echo messages per second (higher is better)")
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(out / "servers_throughput.png", dpi=110)
    plt.close(fig)
    files.append("servers_throughput.png")

    fig, ax = plt.subplots(figsize=(13, 5.5))
    grouped(ax, ECHO_ROWS, lambda r: r.get("server_us_per_op"), "server CPU µs per message (log)")
    ax.set_title("Server CPU per echoed message (lower is better)")
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(out / "servers_cpu.png", dpi=110)
    plt.close(fig)
    files.append("servers_cpu.png")

    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), sharey=True)
    grouped(axes[0], ECHO_ROWS, lambda r: r.get("p50_us"), "round-trip latency µs (log)")
    axes[0].set_title("p50 latency (lower is better)")
    grouped(axes[1], ECHO_ROWS, lambda r: r.get("p99_us"), "")
    axes[1].set_title("p99 latency (lower is better)")
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "servers_latency.png", dpi=110)
    plt.close(fig)
    files.append("servers_latency.png")
    return files


# --------------------------------------------------------------------------- CLI


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.server_bench", description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="the default: 3 short interleaved repeats (< 3 min)")
    g.add_argument("--smoke", action="store_true", help="tiny counts, correctness only (< 30 s)")
    g.add_argument("--full", action="store_true", help="5 repeats of 2 s per row")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and generator to separate cores")
    ap.add_argument("--only", metavar="REGEX", help="servers to run besides wsframe (regex on names)")
    ap.add_argument("--out", metavar="DIR", help=f"output folder (default: {RESULTS_DIR})")
    ap.add_argument("--no-install", action="store_true", help="do not npm install ws when it is missing")
    a = ap.parse_args(argv)
    results = run(quick=not a.full, smoke=a.smoke, out_dir=a.out, pin=False if a.no_pin else None, only=a.only,
                  install=not a.no_install)
    out = Path(a.out) if a.out else RESULTS_DIR
    print()
    print((out / "servers.md").read_text())
    return 1 if any(r["status"].startswith("FAILED") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
