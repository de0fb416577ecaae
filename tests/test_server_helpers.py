"""Helpers shared by the server tests (this module holds no tests): a frame
reader for raw sockets, waiting for conditions, subprocess servers, and a
reader of a child process's CPU time."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

import wsframe  # noqa: E402
from wsframe.codec import FrameParser  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402

# The folder holding the wsframe package this test process imported (the repository
# root for an editable install, site-packages for `pip install .`). Children run
# there with it first on PYTHONPATH, so they import the very same package: a child
# started from the repository root would otherwise import the source folder, which
# has no built extension after a non-editable install.
WSFRAME_ROOT = Path(wsframe.__file__).resolve().parent.parent


class Parser:
    """Reads server frames from a raw socket."""

    def __init__(self, sock: socket.socket, initial: bytes = b"") -> None:
        self.sock = sock
        self.parser = FrameParser(server=False, max_frame_size=None)
        self.frames = list(self.parser.feed(initial)) if initial else []

    def next(self, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while not self.frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.frames.extend(self.parser.feed(data))
        return self.frames.pop(0)

    def close_frame(self, timeout: float = 5.0):
        """Skip to the close frame; return its (code, reason)."""
        while True:
            f = self.next(timeout)
            if f.opcode == Opcode.CLOSE:
                code = struct.unpack("!H", f.payload[:2])[0] if len(f.payload) >= 2 else 1005
                return code, f.payload[2:].decode()


def wait_eof(sock: socket.socket, timeout: float = 5.0) -> bool:
    return S.recv_all(sock, timeout)[1]


def wait_for(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> object:
    """Poll ``condition`` until it is true (returned) or ``timeout`` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def child_env() -> dict:
    """The environment for a child Python that must import this process's wsframe
    (run it with ``cwd=WSFRAME_ROOT``: ``-c`` and ``-m`` put the cwd first on sys.path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WSFRAME_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """A Python script in a subprocess; its stderr lines are collected by a thread."""

    def __init__(self, code: Optional[str], *args: str) -> None:
        """Run ``python -c code args...``, or ``python args...`` when ``code`` is None."""
        argv = [sys.executable, *(("-c", code) if code is not None else ()), *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=child_env(), cwd=WSFRAME_ROOT)
        self.lines: List[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append("")  # EOF marker
            self._cond.notify_all()

    def wait_line(self, pattern: str, timeout: float = 20.0) -> "re.Match[str]":
        """Wait for a stderr line matching ``pattern``; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.lines and self.lines[-1] == ""):
                    raise AssertionError(f"no line matching {pattern!r}; stderr:\n" + "".join(self.lines))
                self._cond.wait(remaining)

    @classmethod
    def cli(cls, *args: str) -> "Child":
        """``python -m wsframe args...``."""
        return cls(None, "-m", "wsframe", *args)

    def wait_count(self, pattern: str, n: int, timeout: float = 20.0) -> List[str]:
        """Wait until ``n`` stderr lines match ``pattern``; returns them."""
        return S.wait_matching(self._cond, self.lines, pattern, n, timeout,
                               lambda found: f"{len(found)} of {n} lines matching {pattern!r}; stderr:\n"
                               + "".join(self.lines))

    def wait_stderr_closed(self, timeout: float = 20.0) -> None:
        """Wait until every stderr line was collected (the child closed it, normally by exiting)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self.lines and self.lines[-1] == ""):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("stderr still open; so far:\n" + "".join(self.lines))
                self._cond.wait(remaining)

    def count(self, pattern: str) -> int:
        rx = re.compile(pattern)
        with self._cond:
            return sum(1 for line in self.lines if rx.search(line))

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
