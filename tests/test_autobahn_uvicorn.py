"""Autobahn TestSuite cases (kosoku) against ``uvicorn --ws wsframe.uvicorn:WSFrameProtocol`` (an ASGI
echo, ``--ws-max-size`` 64 MiB, permessage-deflate on: uvicorn's default).

Same suites and the same bar as tests/test_autobahn.py, whose helpers are reused: 1.x-10.x and
12.x/13.x, every case OK except the INFORMATIONAL ones listed there. 9.3.x/9.4.x (4 MiB messages in
fragments down to 64 bytes) pass because the fragment cap is derived from ``ws_max_size``
(:class:`wsframe.limits.Limits`). uvicorn's keepalive ping is off (``--ws-ping-interval 0``): in a
run of several cases at once, 12.2.15/12.2.16 last longer than its 20 s interval and kosoku fails a
case that receives a ping in the middle (uvicorn's own websockets-sansio fails them the same way).
Select with ``pytest -m autobahn``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
import test_autobahn as A  # noqa: E402
from _uvicorn import Uvicorn, write_app  # noqa: E402

pytestmark = pytest.mark.autobahn


class _UvicornEcho:
    """The echo of A._ServerSuite, served by uvicorn with the wsframe protocol."""

    def __init__(self, tmp_path: Path) -> None:
        S.require_module("uvicorn")
        S.require_module("starlette")
        folder = tmp_path / "app"
        folder.mkdir(exist_ok=True)
        self.server = Uvicorn(write_app(folder), "--ws-max-size", str(64 << 20), "--ws-ping-interval", "0")
        self.port = self.server.port

    def stop(self) -> int:
        code = self.server.stop()
        return 0 if code in (0, -signal.SIGTERM) else code


class _UvicornServerSuite(A._ServerSuite):
    """kosoku's fuzzingclient against uvicorn + WSFrameProtocol."""

    def __init__(self, tmp_path: Path, suite: dict, parallel: int = 2) -> None:  # noqa: D107 - another echo
        cmd = A._kosoku_cmd(suite)
        self.echo = _UvicornEcho(tmp_path)  # type: ignore[assignment]
        self.out = tmp_path / "servers"
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [*cmd, "-m", "fuzzingclient", f"127.0.0.1:{self.echo.port}", "-o", str(self.out), "-p", str(parallel),
             *A._case_args(suite)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )


def test_server_suite(tmp_path):
    _UvicornServerSuite(tmp_path, A.BASIC).finish(300, 600)


def test_deflate_suite(tmp_path):
    """12.x/13.x: four cases at once (36 of them take about 2 minutes on one core)."""
    _UvicornServerSuite(tmp_path, A.DEFLATE, parallel=4).finish(216, 1800)

