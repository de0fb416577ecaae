"""Run a browser with no WebDriver: serve the test page, collect the report it POSTs back.

:class:`PageHost` is a loopback HTTP server that

* serves ``browser.html`` (and nothing else from this folder); opened as
  ``browser.html?ws=URL&ws=URL`` the page runs the echo checks against each URL
  and POSTs a JSON report to ``/report``, which :meth:`PageHost.wait_report` returns;
* doubles as the browser's HTTP/HTTPS proxy: the browsers under test are told to
  send every non-loopback request here, so anything they try to fetch from
  outside (telemetry, updates, safe-browsing lists...) is refused with 403 and
  recorded in :attr:`PageHost.stray` for the test to assert on.

:class:`BrowserProcess` starts a browser in its own process group, bounded in
time, and stops it (the whole group: a browser forks helper processes).
Test code only.
"""

from __future__ import annotations

import http.server
import json
import os
import select
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Optional, Sequence

HERE = Path(__file__).resolve().parent
_PAGES = {"/browser.html": HERE / "browser.html"}
_MAX_REPORT = 1 << 20


class PageHost:
    """The test page, the report sink and the stray-request trap, on 127.0.0.1:0."""

    def __init__(self) -> None:
        self.reports: list[dict] = []
        self.stray: list[str] = []
        self._event = threading.Event()
        self._lock = threading.Lock()
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _stray(self) -> bool:
                # A proxy request: CONNECT host:port, or an absolute URL as the target.
                if self.command == "CONNECT" or not self.path.startswith("/"):
                    what = f"{self.command} {self.path}"
                    length = min(int(self.headers.get("Content-Length") or 0), 4096)
                    if length > 0:  # say what it wanted to send, for the failure message
                        what += f" {self.rfile.read(length)[:300]!r}"
                    with host._lock:
                        host.stray.append(what)
                    self.send_error(403, "no traffic off loopback in these tests")
                    return True
                return False

            def do_GET(self) -> None:
                if self._stray():
                    return
                page = _PAGES.get(urllib.parse.urlsplit(self.path).path)
                if page is None:
                    self.send_error(404)
                    return
                body = page.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if self._stray():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != "/report" or not 0 < length <= _MAX_REPORT:
                    self.send_error(400)
                    return
                try:
                    report = json.loads(self.rfile.read(length))
                except ValueError:
                    self.send_error(400)
                    return
                with host._lock:
                    host.reports.append(report)
                host._event.set()
                self.send_response(204)
                self.end_headers()

            do_CONNECT = do_HEAD = do_PUT = do_OPTIONS = do_GET

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def page_url(self, ws_urls: Sequence[str]) -> str:
        query = urllib.parse.urlencode([("ws", u) for u in ws_urls])
        return f"http://localhost:{self.port}/browser.html?{query}"

    def wait_report(self, timeout: float, proc: Optional["BrowserProcess"] = None) -> Optional[dict]:
        """The first report, or None after ``timeout`` s (or as soon as ``proc`` exits)."""
        deadline = time.monotonic() + timeout
        while not self._event.wait(0.25):
            if time.monotonic() > deadline or (proc is not None and proc.exited()):
                return None
        return self.reports[0]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> "PageHost":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BrowserProcess:
    """A browser command in a new session (process group); output goes to ``log``."""

    def __init__(self, argv: Sequence[str], env: dict, log: Path) -> None:
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(list(argv), env=env, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the group, then SIGKILL to what is left of it."""
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; give helpers a moment, then make sure of them.
            _wait_group_gone(pgid, 3.0)
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        self._out.close()

    def __enter__(self) -> "BrowserProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def start_xvfb(log: Path) -> tuple[BrowserProcess, str]:
    """An Xvfb server on a free display (``-displayfd``); returns (process, ":N")."""
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-nolisten", "tcp", "-screen", "0", "1280x800x24"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
            pass_fds=(w,), start_new_session=True,
        )
    finally:
        os.close(w)
    holder = BrowserProcess.__new__(BrowserProcess)
    holder.log, holder.proc, holder._out = log, proc, open(os.devnull, "wb")
    number = b""
    deadline = time.monotonic() + 20.0
    with os.fdopen(r, "rb", buffering=0) as f:  # Xvfb writes the display number once ready
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            if select.select([f], [], [], 0.5)[0]:
                chunk = f.read(16)
                if not chunk:
                    break
                number += chunk
    number = number.strip()
    if not number:
        holder.stop()
        raise RuntimeError("Xvfb did not start: " + log.read_text(errors="replace")[-2000:])
    return holder, f":{number.decode()}"
