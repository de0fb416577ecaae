"""Helpers shared by the server, client, Autobahn and peer tests.

Imported by the test modules after they put this folder on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# The folder holding the wsframe these tests import (the repository after an
# editable install, site-packages after `pip install .`): subprocesses import it too.
WSFRAME_ROOT = Path(importlib.util.find_spec("wsframe").origin).resolve().parent.parent
NODE_MODULES = HERE / "node_modules"


def peers_required() -> bool:
    """CI sets WSFRAME_REQUIRE_PEERS=1: then a missing peer fails instead of skipping."""
    return os.environ.get("WSFRAME_REQUIRE_PEERS", "").strip().lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip (or fail, when peers are required) because ``what`` is not installed."""
    msg = f"{what} is not installed (run .ci/install-peers.sh)"
    if peers_required():
        pytest.fail(f"WSFRAME_REQUIRE_PEERS=1 but {msg}", pytrace=False)
    pytest.skip(msg)


def require_module(name: str, what: Optional[str] = None):
    """Import a Python module or skip/fail via :func:`missing`."""
    try:
        return __import__(name)
    except ImportError:
        missing(what or f"Python package {name}")


def require_executable(name: str, what: Optional[str] = None) -> str:
    path = shutil.which(name)
    if path is None:
        missing(what or f"{name} executable")
    return path


def require_node_module(name: str) -> str:
    node = require_executable("node", "node (nodejs)")
    if not (NODE_MODULES / name / "package.json").exists():
        missing(f"npm package {name} in {NODE_MODULES}")
    return node


def open_fds() -> int:
    """Number of file descriptors open in this process."""
    return len(os.listdir("/proc/self/fd"))


def wait_fds(expected: int, timeout: float = 5.0) -> int:
    """Wait until at most ``expected`` descriptors are open; return the count."""
    deadline = time.monotonic() + timeout
    n = open_fds()
    while n > expected and time.monotonic() < deadline:
        time.sleep(0.02)
        n = open_fds()
    return n


@contextlib.contextmanager
def running_server(app=None, **options) -> Iterator["object"]:
    """A :class:`wsframe.server.Server` on a free port in a thread, stopped after."""
    from wsframe.server import EchoApplication, Server

    server = Server(app if app is not None else EchoApplication(), "127.0.0.1", 0, **options)
    server.start()
    try:
        yield server
    finally:
        server.shutdown(timeout=2.0)


_URL_RE = re.compile(r"listening on (wss?://\S+)")


def stop_process(proc: subprocess.Popen, timeout: float, sig: int = signal.SIGTERM) -> int:
    """Send ``sig``, wait ``timeout``; SIGKILL if it does not exit. Returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def wait_matching(cond: threading.Condition, lines: List[str], pattern: str, count: int, timeout: float,
                  failure: Callable[[List[str]], str]) -> List[str]:
    """Wait on ``cond`` until ``count`` of ``lines`` (a reader thread appends to them and
    notifies; "" marks EOF) match ``pattern``; return them. AssertionError with
    ``failure(found)`` on timeout or EOF."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            found = [line for line in lines if rx.search(line)]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (lines and lines[-1] == ""):
                raise AssertionError(failure(found))
            cond.wait(remaining)


class EchoProcess:
    """``python -m wsframe echo`` in a subprocess on a free port."""

    def __init__(self, *args: str, env: Optional[dict] = None) -> None:
        self.args = ["--port", "0", *args] if "--port" not in args else list(args)
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WSFRAME_ROOT), full_env.get("PYTHONPATH")]))
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(  # -m puts the cwd first on sys.path: run where wsframe is
            [sys.executable, "-m", "wsframe", "echo", *self.args], cwd=WSFRAME_ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env, text=True,
        )
        self.lines: list[str] = []
        self.url = self._read_url()
        self._pump = threading.Thread(target=self._drain, daemon=True)
        self._pump.start()

    def _read_url(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            m = _URL_RE.search(line)
            if m:
                return m.group(1)
        self.stop()
        raise RuntimeError("wsframe echo did not start:\n" + "".join(self.lines))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def stop(self, timeout: float = 15.0) -> int:  # above the server's 10 s stop timeout
        """SIGTERM, wait; SIGKILL if it does not exit. Returns the exit status."""
        return stop_process(self.proc, timeout)

    def __enter__(self) -> "EchoProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upgrade_request(host: str = "127.0.0.1", path: str = "/", extra: str = "") -> bytes:
    """A valid client handshake request, built by hand (test code only)."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


def recv_until(sock: socket.socket, marker: bytes, timeout: float = 5.0, limit: int = 1 << 20) -> bytes:
    """Read until ``marker`` is in the data, EOF, or timeout."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and len(data) < limit and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Read until EOF (True) or timeout (False)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def raw_ws(port: int, timeout: float = 5.0) -> tuple[socket.socket, bytes]:
    """Open a TCP connection, do the upgrade by hand; return (socket, bytes after the head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(upgrade_request(f"127.0.0.1:{port}"))
    data = recv_until(s, b"\r\n\r\n", timeout)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest


def make_certs(tmp_path: Path):
    """A trustme CA and a localhost certificate: (ca, ca_pem_path, cert_pem_path, key_pem_path)."""
    trustme = require_module("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_path = tmp_path / "ca.pem"
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    for extra in cert.cert_chain_pems[1:]:
        with open(cert_path, "ab") as f:
            f.write(extra.bytes())
    cert.private_key_pem.write_to_path(str(key_path))
    return ca, ca_path, cert_path, key_path


class FrameTap:
    """A TCP relay in front of a ws:// server that parses the frames each client sends.

    ``FrameTap(port)`` listens on :attr:`port`; every connection is relayed to
    127.0.0.1:``port``. Client-to-server bytes after the upgrade request are
    parsed with wsframe's own frame parser (RSV1 allowed, no size limit) and
    recorded in :attr:`frames` as ``(connection index, opcode, rsv1, fin,
    payload length)``: what the peer actually put on the wire (compressed?
    fragmented?). Test code only; ws:// only.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.frames: list[tuple[int, int, bool, bool, int]] = []
        self.errors: list[str] = []
        self._lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self._lsock.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = False
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        n = 0
        while not self._stop:
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError as exc:
                self.errors.append(f"upstream connect: {exc}")
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._socks += [client, upstream]
            for args in ((client, upstream, n), (upstream, client, None)):
                t = threading.Thread(target=self._relay, args=args, daemon=True)
                t.start()
                self._threads.append(t)
            n += 1

    def _relay(self, src: socket.socket, dst: socket.socket, index: Optional[int]) -> None:
        from wsframe.codec import FrameParser

        parser = None
        head = b""
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
                if index is None:
                    continue
                if parser is None:
                    head += data
                    end = head.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    parser = FrameParser(server=True, max_frame_size=None, allowed_rsv=0x40)
                    data, head = head[end + 4:], b""
                for f in parser.feed(data):
                    self.frames.append((index, f.opcode, bool(f.rsv1), bool(f.fin), len(f.payload)))
        except Exception as exc:  # reported to the test
            if not self._stop:
                self.errors.append(f"relay: {exc!r}")
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self._lsock.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(5)

    def __enter__(self) -> "FrameTap":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
