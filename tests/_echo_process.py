"""`python -m wsframe echo` as a subprocess for the soak tests, with the
measurements they need: resident memory and open file descriptors from
/proc/<pid>, and the file descriptor limit raised for it and for us."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from typing import List, Optional, Tuple


def raise_nofile(needed: int) -> Tuple[bool, str]:
    """Raise this process's RLIMIT_NOFILE soft limit to at least ``needed``
    (and the hard limit when allowed). Returns (ok, explanation)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return True, f"soft limit {soft}"
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
        except (ValueError, OSError) as exc:
            return False, f"RLIMIT_NOFILE hard limit {hard} < {needed} and cannot be raised ({exc})"
        return True, f"raised soft and hard limits to {needed}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return True, f"raised soft limit to {needed} (hard {hard})"


class EchoServer:
    """The CLI echo server on a free port; stderr is read by a thread (kept in ``lines``)."""

    def __init__(self, *args: str, nofile: Optional[int] = None, timeout: float = 30.0) -> None:
        def limits() -> None:
            if nofile is not None:
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, nofile), max(hard, nofile)))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsframe", "echo", "--host", "127.0.0.1", "--port", "0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=limits,
        )
        self.lines: List[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        match = self.wait_for(r"listening on ws://([\d.]+):(\d+)", timeout)
        self.address = (match.group(1), int(match.group(2)))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> "re.Match[str]":
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"echo server: no line matching {pattern!r}; stderr: {self.lines[-20:]}")
                self._cond.wait(min(left, 0.5))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def wait_fds(self, target: int, timeout: float) -> int:
        """Poll /proc until the server holds ``target`` descriptors or fewer
        (closing happens in the server's own time); returns the last count."""
        deadline = time.monotonic() + timeout
        count = self.fd_count()
        while count > target and time.monotonic() < deadline:
            time.sleep(0.05)
            count = self.fd_count()
        return count

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(10)
        return self.proc.returncode

    def __enter__(self) -> "EchoServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
