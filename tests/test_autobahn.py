"""Autobahn TestSuite cases 1.x-10.x, run by kosoku, against `wsframe echo`
(server suite) and against wsframe.client (client suite).

The reports' index.json is parsed and every case must be OK, except those in
ALLOWED with the verdict and reason given there (also in the README's
Conformance section). Select with ``pytest -m autobahn``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

pytestmark = pytest.mark.autobahn

# 1.x-10.x (the suite has no 8.x); 12.x/13.x are permessage-deflate: not yet.
EXCLUDE = ["12.*", "13.*"]

_SAME_READ = (
    "a valid message and a protocol violation arrive in the same read: the message is delivered "
    "to the application, but the connection fails (1002) before its echo can be sent"
)
_PARTIAL_FRAME_UTF8 = (
    "invalid UTF-8 inside a single frame whose payload arrives in pieces is detected when the "
    "frame is complete, not at the first bad byte (fail-fast works per frame, not per TCP read)"
)
# case id -> (allowed verdict, reason). Applies to both suites.
ALLOWED: dict[str, tuple[str, str]] = {
    **{c: ("NON-STRICT", _SAME_READ) for c in ("3.2", "3.3", "3.4", "4.1.3", "4.1.4", "4.1.5",
                                               "4.2.3", "4.2.4", "4.2.5", "5.15")},
    "6.4.3": ("NON-STRICT", _PARTIAL_FRAME_UTF8),
    "6.4.4": ("NON-STRICT", _PARTIAL_FRAME_UTF8),
    # INFORMATIONAL by design of the suite: it only records what the peer did.
    "7.1.6": ("INFORMATIONAL", "the suite only records how a large message racing a close is handled"),
    "7.13.1": ("INFORMATIONAL", "close code 5000 (out of the registry): the suite records the reaction"),
    "7.13.2": ("INFORMATIONAL", "close code 65536-1: the suite records the reaction"),
}


def _kosoku() -> str:
    S.require_module("kosoku", "kosoku (pip install kosoku)")
    exe = Path(sys.executable).with_name("kosoku")
    return str(exe) if exe.exists() else S.require_executable("kosoku")


def check_index(outdir: Path) -> dict:
    """Parse index.json; assert every case meets the bar. Returns the verdict counts."""
    index = json.loads((outdir / "index.json").read_text())
    assert index, "empty kosoku report"
    counts: dict[str, int] = {}
    bad = []
    total = 0
    for agent, cases in index.items():
        for case_id, r in cases.items():
            total += 1
            behavior, close = r["behavior"], r["behaviorClose"]
            counts[behavior] = counts.get(behavior, 0) + 1
            allowed = ALLOWED.get(case_id)
            ok_behavior = behavior == "OK" or (allowed is not None and behavior == allowed[0])
            ok_close = close == "OK" or (close == "INFORMATIONAL" and allowed is not None
                                         and allowed[0] == "INFORMATIONAL")
            if not (ok_behavior and ok_close):
                bad.append(f"{case_id}: behavior={behavior} close={close} "
                           f"remoteCloseCode={r.get('remoteCloseCode')}")
    assert total >= 300, f"only {total} cases ran"
    assert not bad, f"{len(bad)} case(s) below the bar:\n" + "\n".join(sorted(bad))
    return counts


def _case_args() -> list[str]:
    args = []
    for c in EXCLUDE:
        args += ["-x", c]
    return args


def test_server_suite(tmp_path):
    kosoku = _kosoku()
    with S.EchoProcess() as echo:
        out = tmp_path / "servers"
        proc = subprocess.run(
            [kosoku, "-m", "fuzzingclient", f"127.0.0.1:{echo.port}", "-o", str(out), "-p", "2",
             *_case_args()],
            capture_output=True, text=True, timeout=600,
        )
        assert (out / "index.json").exists(), proc.stdout + proc.stderr
        counts = check_index(out)
        print("server suite:", counts)
        assert echo.stop() == 0


def _run_client_agent(base: str, agent: str) -> None:
    """The Autobahn client protocol: get the case count, echo every case, update reports."""
    from wsframe.client import ConnectionClosed, connect

    with connect(f"{base}/getCaseCount", open_timeout=10) as ws:
        count = int(ws.recv(timeout=30))
    for i in range(1, count + 1):
        try:
            ws = connect(f"{base}/runCase?case={i}&agent={agent}", max_message_size=None,
                         open_timeout=10, close_timeout=5)
        except Exception:  # a case may fail the handshake on purpose; kosoku judges
            continue
        try:
            while True:
                msg = ws.recv(timeout=60)
                ws.send(msg)
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            ws.close()
    with connect(f"{base}/updateReports?agent={agent}") as ws:
        try:
            ws.recv(timeout=5)
        except (ConnectionClosed, TimeoutError):
            pass


def test_client_suite(tmp_path):
    kosoku = _kosoku()
    out = tmp_path / "clients"
    proc = subprocess.Popen(
        [kosoku, "-m", "fuzzingserver", "127.0.0.1:0", "-o", str(out), *_case_args()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"listening on (ws://\S+)", line)
            if m:
                url = m.group(1).rstrip("/")
                break
        assert url, "kosoku fuzzingserver did not start:\n" + "".join(lines)
        errors: list[BaseException] = []

        def agent():
            try:
                _run_client_agent(url, "wsframe")
            except BaseException as exc:  # reported below
                errors.append(exc)

        t = threading.Thread(target=agent, daemon=True)
        t.start()
        t.join(540)
        assert not t.is_alive(), "the client agent did not finish"
        stdout, stderr = proc.communicate(timeout=60)
        assert not errors, errors
        assert (out / "index.json").exists(), stdout + stderr
        counts = check_index(out)
        print("client suite:", counts)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
