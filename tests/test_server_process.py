"""Tests of the server as a process: graceful stop on signals (the CLI and a
user's own script), the start-up log line, pre-fork workers and their
supervisor (replacing a killed worker, stopping on a crash loop), and 1,000
concurrent connections."""

from __future__ import annotations

import os
import resource
import signal
import socket
import struct
import sys
import time
from pathlib import Path

import pytest

from test_server_helpers import WSFRAME_ROOT, Child, Parser, S, child_env, wait_eof  # noqa: E402

from wsframe import client  # noqa: E402  (an import error fails these tests: nothing is skipped)
from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402
from wsframe.exceptions import ConnectionClosed  # noqa: E402


# -- processes: graceful stop, workers, CLI ---------------------------------------------


def test_graceful_stop_on_sigterm_sends_1001_and_exits_0():
    with S.EchoProcess() as proc:
        ws = client.connect(proc.url)
        ws.send("before stop")
        assert ws.recv(5) == "before stop"
        t0 = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as exc:
            ws.recv(5)
        assert exc.value.code == 1001
        ws.close()
        assert proc.proc.wait(10) == 0
        assert time.monotonic() - t0 < 5
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", proc.port), timeout=1).close()


def test_graceful_stop_on_sigint():
    with S.EchoProcess("-v") as proc:
        ws = client.connect(proc.url)
        ws.send("x")
        assert ws.recv(5) == "x"
        proc.proc.send_signal(signal.SIGINT)
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
        ws.close()
        assert proc.proc.wait(10) == 0
        log = "".join(proc.lines)
        assert "open 127.0.0.1:" in log and "code=1001" in log, log


def test_workers_share_the_port():
    with S.EchoProcess("--workers", "2") as proc:
        for i in range(8):
            with client.connect(proc.url) as ws:
                ws.send(f"w{i}")
                assert ws.recv(5) == f"w{i}"
        assert proc.stop() == 0


def test_cli_client_interactive():
    import subprocess

    with S.running_server() as server:
        out = subprocess.run([sys.executable, "-m", "wsframe", "client", server.url], input="hello\nwörld\n",
                             capture_output=True, text=True, timeout=20, env=child_env(), cwd=WSFRAME_ROOT)
        assert out.returncode == 0, out.stderr
        assert "< hello" in out.stdout and "< wörld" in out.stdout


# -- scale --------------------------------------------------------------------------


def test_1000_concurrent_connections():
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * n + 200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        with S.EchoProcess() as proc:  # the child inherits the raised limit
            socks = []
            try:
                for _ in range(n):
                    s, rest = S.raw_ws(proc.port)
                    assert rest == b""
                    socks.append(s)
                for i, s in enumerate(socks):
                    s.sendall(build_frame(Opcode.TEXT, b"c%d" % i, client=True))
                for i, s in enumerate(socks):
                    assert Parser(s).next(10).payload == b"c%d" % i
                for s in socks:
                    s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1000), client=True))
                for s in socks:
                    assert Parser(s).close_frame(10)[0] == 1000
            finally:
                for s in socks:
                    s.close()
            assert proc.stop() == 0
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_cli_compression_switch():
    import wsframe.permessage_deflate as pmd  # part of wsframe: a failed import fails the test
    for args, negotiated in (((), True), (("--no-compression",), False)):
        with S.EchoProcess(*args) as proc:
            with client.connect(proc.url, extensions=[pmd.ClientPerMessageDeflate()]) as ws:
                assert bool(ws.conn.extensions) is negotiated
                ws.send("compress me " * 100)
                assert ws.recv(5) == "compress me " * 100
            assert proc.stop() == 0


# -- Ctrl-C in a user's own program ------------------------------------------------

USER_SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
import wsframe
print("imported", wsframe.__file__, "speedups", wsframe.speedups_enabled, file=sys.stderr, flush=True)
from wsframe.server import Application, Server

class Echo(Application):
    def on_message(self, ws, data):
        ws.send(data)

Server(Echo(), "127.0.0.1", 0).serve_forever()
print("serve_forever returned", file=sys.stderr, flush=True)
"""


def test_ctrl_c_stops_a_user_program_gracefully():
    """No install_signal_handlers, no try/except in the script: SIGINT closes
    clients with 1001, serve_forever returns, the script exits 0."""
    import wsframe
    from wsframe import codec

    with Child(USER_SCRIPT) as child:
        # The child imports the package this process imports (not, say, a source folder
        # without the built extension next to an installed copy)...
        imported = child.wait_line(r"imported (.+) speedups (True|False)$")
        assert Path(imported.group(1)).resolve() == Path(wsframe.__file__).resolve()
        assert imported.group(2) == str(wsframe.speedups_enabled)
        # ...and its start-up line names that package's codec.
        line = child.wait_line(r"listening on ws://127\.0\.0\.1:(\d+)/ \(codec: ([^)]*)\)")
        port = int(line.group(1))
        if wsframe.speedups_enabled:
            assert line.group(2) == f"C extension, SIMD {codec.implementation.simd_level()}"
        else:
            assert line.group(2) == "pure Python"
        s, rest = S.raw_ws(port)
        with s:
            p = Parser(s, rest)
            s.sendall(build_frame(Opcode.TEXT, b"before", client=True))
            assert p.next().payload == b"before"
            child.proc.send_signal(signal.SIGINT)
            assert p.close_frame()[0] == 1001
            s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1001), client=True))
            assert wait_eof(s)
        assert child.proc.wait(10) == 0
        child.wait_stderr_closed()
        assert child.count("serve_forever returned") == 1
        assert child.count("Traceback") == 0, "".join(child.lines)


# -- workers and their supervisor ---------------------------------------------------


def connect_and_echo(port: int, n: int = 8) -> None:
    for i in range(n):
        s, rest = S.raw_ws(port)
        with s:
            s.sendall(build_frame(Opcode.TEXT, b"w%d" % i, client=True))
            assert Parser(s, rest).next(5).payload == b"w%d" % i


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_killed_worker_is_logged_and_replaced_and_sigterm_stops_every_worker():
    """kill -9 one of two workers: the other keeps answering, the supervisor logs the pid and
    the signal and starts a replacement that serves; SIGTERM then stops every worker."""
    with Child.cli("echo", "--port", "0", "--workers", "2", "-v") as child:
        started = child.wait_line(r"started 2 workers on port (\d+): (\d+) (\d+)$")
        port, pids = int(started.group(1)), [int(started.group(2)), int(started.group(3))]
        child.wait_count(r"wsframe server listening on", 2)
        connect_and_echo(port, 4)
        os.kill(pids[0], signal.SIGKILL)
        # (A connection the kernel queued on the dying worker's listening socket before the
        # process was gone is reset: SO_REUSEPORT has no hand-over. Once it is reaped, every
        # connection goes to a live worker.)
        died = child.wait_line(r"ERROR wsframe\.server: worker (\d) \(pid (\d+)\) died: (.+); starting a new one")
        assert int(died.group(2)) == pids[0] and died.group(3) == "killed by signal SIGKILL"
        connect_and_echo(port, 8)  # the service keeps answering
        replacement = int(child.wait_line(r"worker \d restarted: pid (\d+)").group(1))
        assert replacement not in pids
        child.wait_count(r"wsframe server listening on", 3)
        connect_and_echo(port, 32)
        # SO_REUSEPORT spreads 32 connections over both listeners: the replacement served some
        # (the chance that none reached it is 2**-32). Each log line carries its process id.
        child.wait_line(rf" {replacement} DEBUG wsframe\.server: open 127\.0\.0\.1:", timeout=10)
        assert child.count(r"died") == 1
        ws = client.connect(f"ws://127.0.0.1:{port}/")
        ws.send("x")
        assert ws.recv(5) == "x"
        child.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as exc:
            ws.recv(5)
        assert exc.value.code == 1001
        ws.close()
        assert child.proc.wait(10) == 0
        child.wait_stderr_closed()
        assert child.count(r"SIGTERM: stopping 2 worker\(s\)") == 1
        assert child.count(r"died") == 1  # stopped workers are not "died"
        assert gone(pids[1]) and gone(replacement) and gone(pids[0])
        assert child.count("Traceback") == 0, "".join(child.lines)


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to exit (a pidfd becomes readable)."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_workers_stop_when_the_supervisor_is_killed():
    """kill -9 the supervisor: the kernel sends each worker SIGTERM (PR_SET_PDEATHSIG), the
    workers close their clients with 1001 and exit; no orphan keeps the port."""
    with Child.cli("echo", "--port", "0", "--workers", "2") as child:
        started = child.wait_line(r"started 2 workers on port (\d+): (\d+) (\d+)$")
        port, pids = int(started.group(1)), [int(started.group(2)), int(started.group(3))]
        child.wait_count(r"wsframe server listening on", 2)
        ws = client.connect(f"ws://127.0.0.1:{port}/")
        ws.send("x")
        assert ws.recv(5) == "x"
        child.proc.kill()
        with pytest.raises(ConnectionClosed) as exc:
            ws.recv(10)
        assert exc.value.code == 1001
        ws.close()
        assert all(wait_exit(pid, 15) for pid in pids), "a worker outlived its supervisor"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


CRASHING_WORKERS = """
import logging, os, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from wsframe.server import run_workers

def make_app():
    os._exit(3)  # every worker dies at start-up

sys.exit(run_workers(make_app, 2, "127.0.0.1", 0, max_restarts=3))
"""


def test_crash_loop_stops_the_service_with_one_error():
    t0 = time.monotonic()
    with Child(CRASHING_WORKERS) as child:
        assert child.proc.wait(20) == 1
        child.wait_stderr_closed()
        assert child.count(r"ERROR workers are crash-looping \(4 restarts within 60 s, limit 3\): stopping") == 1
        assert child.count("crash-looping") == 1
        assert child.count(r"died: exit status 3") >= 4
    assert time.monotonic() - t0 < 20
