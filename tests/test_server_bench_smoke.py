"""Smoke run of the server benchmarks: tiny counts, a few seconds, no timing asserted.

Builds the C load generator, starts every echo server whose package is here
(wsframe, picows, websockets, aiohttp, wsproto, npm ws, and the two reference
servers), and asserts that each one that could start echoed every message of
every row correctly (byte for byte, checked by the generator), answered the
handshake and closing-handshake rows, and held idle connections. A server whose
package is missing is skipped and named; with WSFRAME_REQUIRE_PEERS=1 a missing
one fails the test instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if not (ROOT / "benchmarks" / "server_bench.py").exists():  # pragma: no cover - e.g. tests run from an sdist
    pytest.skip("benchmarks/ is not beside tests/", allow_module_level=True)
if not sys.platform.startswith("linux"):  # pragma: no cover
    pytest.skip("the load generator uses epoll (Linux)", allow_module_level=True)
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from benchmarks import server_bench  # noqa: E402

REQUIRE = os.environ.get("WSFRAME_REQUIRE_PEERS") == "1"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if not (shutil.which("cc") or shutil.which("gcc") or os.environ.get("CC")):
        if REQUIRE:
            pytest.fail("no C compiler for the load generator (WSFRAME_REQUIRE_PEERS=1)")
        pytest.skip("no C compiler for the load generator")
    out = tmp_path_factory.mktemp("server_bench")
    require = [s.name for s in server_bench.server_specs()] if REQUIRE else [server_bench.WSFRAME]
    lines = []
    results = server_bench.run(quick=False, smoke=True, out_dir=out, require=require, install=REQUIRE,
                               log=lines.append)
    return results, out, lines


def _failed(r) -> bool:
    if not r["status"].startswith("FAILED"):
        return False
    # A peer that is installed but cannot start here is reported, not failed (unless required).
    return REQUIRE or r["server"] == server_bench.WSFRAME or "could not start" not in r["status"]


def test_every_started_server_echoed_correctly(smoke):
    results, out, lines = smoke
    bad = [f"{r['server']} / {r['label']}: {r['status']}" for r in results if _failed(r)]
    assert not bad, "\n".join(bad) + f"\n(log: {out / 'servers.log'})"


def test_wsframe_ran_every_row(smoke):
    results, _, _ = smoke
    rows = {r["row"]: r for r in results if r["server"] == server_bench.WSFRAME}
    assert set(rows) == {row.key for row in server_bench.ALL_ROWS}
    for row in server_bench.ECHO_ROWS + [server_bench.HANDSHAKE_ROW]:
        r = rows[row.key]
        assert r["status"] == "ok", r["status"]
        assert all(s["ok"] and s["errors"] == 0 and s["count"] > 0 for s in r["samples"])
    mem = rows[server_bench.MEMORY_ROW.key]
    assert mem["status"] == "ok" and all(s["clean_closes"] == server_bench.MODES["smoke"].idle_conns
                                         for s in mem["samples"])


def test_references_ran(smoke):
    results, _, _ = smoke
    floor = [r for r in results if r["server"] == server_bench.FLOOR]
    assert floor and all(r["status"] == "ok" for r in floor)


def test_skipped_servers_are_named(smoke):
    results, _, _ = smoke
    skipped = sorted({f"{r['server']}: {r['status']}" for r in results
                      if r["status"].startswith("skipped") or "could not start" in r["status"]})
    if REQUIRE:
        assert not skipped, skipped
    elif skipped:  # informational: shown with -rs
        pytest.skip("peers not installed here: " + "; ".join(skipped))


def test_report_written(smoke):
    _, out, _ = smoke
    text = (out / "servers.md").read_text()
    assert "Echo throughput" in text and "wsframe" in text
