"""Helpers shared by the server, client, Autobahn and peer tests.

Imported by the test modules after they put this folder on ``sys.path``.
"""

from __future__ import annotations

import contextlib
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
from typing import Iterator, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
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


class EchoProcess:
    """``python -m wsframe echo`` in a subprocess on a free port."""

    def __init__(self, *args: str, env: Optional[dict] = None) -> None:
        self.args = ["--port", "0", *args] if "--port" not in args else list(args)
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsframe", "echo", *self.args],
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

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait; SIGKILL if it does not exit. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

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
