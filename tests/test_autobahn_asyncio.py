"""Autobahn TestSuite cases (kosoku) against the asyncio server on uvloop
(``wsframe echo --loop uvloop``) and with the asyncio client (on uvloop).

Same suites and the same bar as tests/test_autobahn.py, whose helpers are
reused: 1.x-10.x and 12.x/13.x (permessage-deflate), every case OK except
the INFORMATIONAL ones listed there. Select with ``pytest -m autobahn``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
import test_autobahn as A  # noqa: E402

pytestmark = pytest.mark.autobahn


class _AsyncioServerSuite(A._ServerSuite):
    """kosoku's fuzzingclient against ``wsframe echo --loop uvloop`` (compression on, its default)."""

    def __init__(self, tmp_path: Path, suite: dict) -> None:  # noqa: D107 - as the parent, another echo
        S.require_module("uvloop", "uvloop (pip install uvloop)")
        cmd = A._kosoku_cmd(suite)
        self.echo = S.EchoProcess("--loop", "uvloop")
        self.out = tmp_path / "servers"
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [*cmd, "-m", "fuzzingclient", f"127.0.0.1:{self.echo.port}", "-o", str(self.out), "-p", "2",
             *A._case_args(suite)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )


def _run_async_agent(base: str, agent: str, case_ids: Optional[list] = None) -> None:
    """The Autobahn client protocol with wsframe.asyncio.connect, on uvloop (see A._run_client_agent)."""
    uvloop = S.require_module("uvloop", "uvloop (pip install uvloop)")
    from wsframe.asyncio import ConnectionClosed, connect

    async def main() -> None:
        async with connect(f"{base}/getCaseCount", compression=None) as ws:
            count = int(await ws.recv(timeout=30))
        if case_ids is not None:
            assert count == len(case_ids), (count, len(case_ids))
        for i in range(1, count + 1):
            ext = A.deflate_for_case(case_ids[i - 1]) if case_ids is not None else None
            try:
                ws = await connect(f"{base}/runCase?case={i}&agent={agent}", max_message_size=None,
                                   connection_options={"max_fragments": None}, open_timeout=10, close_timeout=5, extensions=[ext] if ext else [])
            except Exception:  # a case may fail the handshake on purpose; kosoku judges
                continue
            try:
                while True:
                    await ws.send(await ws.recv(timeout=60))
            except (ConnectionClosed, TimeoutError):
                pass
            finally:
                await ws.close()
        async with connect(f"{base}/updateReports?agent={agent}", compression=None) as ws:
            try:
                await ws.recv(timeout=5)
            except (ConnectionClosed, TimeoutError):
                pass

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.fixture
def async_agent(monkeypatch):
    """Make test_autobahn's client suite drive the asyncio client instead of the blocking one."""
    monkeypatch.setattr(A, "_run_client_agent", _run_async_agent)


def test_server_suite(tmp_path):
    _AsyncioServerSuite(tmp_path, A.BASIC).finish(300, 600)


def test_client_suite(tmp_path, async_agent):
    A._client_suite(tmp_path, A.BASIC, 300, 540)


def test_deflate_suites(tmp_path, async_agent):
    """12.x/13.x in both roles, run at the same time (as in test_autobahn)."""
    server = _AsyncioServerSuite(tmp_path, A.DEFLATE)
    try:
        client_error = None
        try:
            A._client_suite(tmp_path, A.DEFLATE, 216, 1200)
        except BaseException as exc:  # noqa: BLE001 - report both roles
            client_error = exc
        server_error = None
        try:
            server.finish(216, 1200)
        except BaseException as exc:  # noqa: BLE001
            server_error = exc
    finally:
        server.kill()
    errors = [f"{role}: {exc}" for role, exc in (("client", client_error), ("server", server_error)) if exc]
    assert not errors, "\n\n".join(errors)

