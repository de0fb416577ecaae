"""Processes of the server benchmarks: a server started on a free port (in its own
process group, optionally pinned to a CPU), the load generator run against it,
and the idle-connection memory measurement.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from .server_specs import HANDSHAKE_ROW, LOADGEN_DIR, NODE_PEER_DIRS, NODE_WS, ROOT, Mode, Row, ServerSpec


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
        if spec.name == NODE_WS:
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


def loadgen(port: int, args: Sequence[str], server_pid: int, cpu: Optional[int], timeout: float) -> dict:
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


def echo_args(row: Row, mode: Mode) -> List[str]:
    return ["--mode", "echo", "--conns", str(row.conns), "--window", str(row.window), "--size", str(row.size),
            "--messages", str(mode.echo_messages), "--seconds", str(mode.echo_seconds),
            "--warmup-seconds", str(mode.warmup_seconds), "--timeout", str(mode.timeout)]


def handshake_args(mode: Mode) -> List[str]:
    return ["--mode", "handshake", "--conns", str(HANDSHAKE_ROW.conns), "--messages", str(mode.handshake_count),
            "--seconds", str(mode.handshake_seconds), "--warmup-seconds", str(mode.warmup_seconds),
            "--timeout", str(mode.timeout)]


def measure_idle(server: RunningServer, n: int, cpu: Optional[int], timeout: float) -> dict:
    """RSS delta per connection with N idle connections (each has echoed one message)."""
    # Warm the server's allocator and code paths with a few connections first.
    warm = loadgen(server.port, ["--mode", "idle", "--conns", "20", "--hold-seconds", "0", "--timeout",
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


def cpus(pin: Optional[bool]) -> Tuple[Optional[int], Optional[int]]:
    """(server cpu, generator cpu) or (None, None)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return None, None
    if pin is False or len(allowed) < 2:
        return None, None
    return allowed[-1], allowed[0]
