"""Smoke run of the server benchmarks: tiny counts, a few seconds, no timing asserted.

Builds the C load generator, starts every echo server whose package is here
(wsframe's selectors server with a user-written Application and its built-in
echo, wsframe.asyncio on asyncio and uvloop, uvicorn with wsframe /
websockets-sansio / wsproto, hypercorn with and without the wsproto
accelerator, picows, websockets, aiohttp, wsproto, npm ws, and the two
reference servers), and asserts that each one that could start echoed every message of
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


def test_report_has_the_targets_table(smoke):
    _, out, _ = smoke
    text = (out / "servers.md").read_text()
    assert "## Targets (issues 9, 10, 12, 19)" in text
    assert "user-written Application vs built-in echo" in text
    assert "## Issue 19 per row" in text


def _fake(server: str, row, rate: float, cpu: float) -> dict:
    return {"server": server, "row": row.key, "label": row.label, "status": "ok", "rate": rate,
            "server_us_per_op": cpu}


def test_targets_are_ratios_of_the_named_servers():
    """The targets table divides the right operands and says 'not measured' when a side is missing."""
    from benchmarks import server_targets as t

    row = next(r for r in server_bench.ECHO_ROWS if r.conns == 64 and r.window == 16 and r.size == 16)
    pp = next(r for r in server_bench.ECHO_ROWS if r.conns == 1 and r.window == 1 and r.size == 16)
    results = [
        _fake(server_bench.ASYNCIO_UVLOOP, row, 300.0, 2.0), _fake(server_bench.PICOWS, row, 200.0, 3.0),
        _fake(server_bench.UVICORN_WSFRAME, row, 500.0, 1.0), _fake(server_bench.UVICORN_SANSIO, row, 100.0, 9.0),
        _fake(server_bench.UVICORN_WSPROTO, row, 50.0, 20.0),
        _fake(server_bench.WSFRAME, row, 900.0, 1.1), _fake(server_bench.WSFRAME_BUILTIN, row, 1000.0, 1.0),
        _fake(server_bench.CEILING, row, 2000.0, 0.5),
        _fake(server_bench.WSFRAME, pp, 10.0, 40.0), _fake(server_bench.PICOWS, pp, 10.0, 50.0),
        _fake(server_bench.UVICORN_WSFRAME, server_bench.MEMORY_ROW, 4096.0, 0.0),
        _fake(server_bench.UVICORN_SANSIO, server_bench.MEMORY_ROW, 10240.0, 0.0),
        _fake(server_bench.UVICORN_WSPROTO, server_bench.MEMORY_ROW, 8192.0, 0.0),
    ]
    checks = {(c["target"], c["row"]): c for c in t.server_checks(results)}

    def get(prefix: str, label: str) -> dict:
        return next(c for (name, r), c in checks.items() if name.startswith(prefix) and r == label)

    assert get("asyncio server on uvloop vs picows, messages/s", row.label)["ratio"] == 1.5
    assert get("asyncio server on uvloop vs picows, server CPU", row.label)["ratio"] == 1.5
    uv = get("uvicorn + wsframe vs", row.label)
    assert uv["ratio"] == 5.0 and uv["need"] == 2.0 and uv["met"] is True  # vs the best built-in (sansio)
    mem = get("uvicorn + wsframe memory", server_bench.MEMORY_ROW.label)
    assert mem["ratio"] == 2.0 and mem["met"] is True  # the smaller built-in (wsproto, 8 KiB) over 4 KiB
    app = get("user-written Application vs built-in echo", row.label)
    assert abs(app["ratio"] - 1.1) < 1e-9 and app["op"] == "<=" and app["met"] is False
    assert get("user-written Application vs the C epoll", row.label)["ratio"] == 2.2
    assert get("user-written Application vs picows", pp.label)["ratio"] == 0.8
    missing = get("asyncio server on uvloop vs picows, messages/s", pp.label)
    assert missing["ratio"] is None and missing["met"] is None
    table = t.markdown(list(checks.values()))
    assert "| **MISSED** |" in table and "| met |" in table and "n/a" in table


def test_issue19_targets_compare_each_asyncio_api_with_picows():
    """Issue 19: the callback API is judged on msg/s and CPU/msg, the coroutine API on msg/s, both vs picows;
    the per-row table shows the same ratios and the raw medians."""
    from benchmarks import server_targets as t

    row = next(r for r in server_bench.ECHO_ROWS if r.conns == 1 and r.window == 1 and r.size == 16)
    results = [_fake(server_bench.ASYNCIO_APP_UVLOOP, row, 12000.0, 30.0),
               _fake(server_bench.ASYNCIO_UVLOOP, row, 9000.0, 60.0),
               _fake(server_bench.PICOWS, row, 10000.0, 40.0),
               _fake(server_bench.UVICORN_WSFRAME, row, 6000.0, 50.0),
               _fake(server_bench.UVICORN_SANSIO, row, 4000.0, 70.0),
               _fake(server_bench.UVICORN_WSPROTO, row, 5500.0, 70.0)]
    checks = [c for c in t.server_checks(results) if c["row"] == row.label]

    def get(prefix: str) -> dict:
        return next(c for c in checks if c["target"].startswith(prefix))

    assert get("callback API on uvloop vs picows, messages/s")["ratio"] == 1.2
    cb_cpu = get("callback API on uvloop vs picows, server CPU/msg")
    assert abs(cb_cpu["ratio"] - 40 / 30) < 1e-9 and cb_cpu["met"] is True
    co = get("asyncio server on uvloop vs picows, messages/s (coroutine API")
    assert co["ratio"] == 0.9 and co["met"] is False
    uv = get("uvicorn + wsframe vs uvicorn's best built-in")
    assert abs(uv["ratio"] - 6000 / 5500) < 1e-9 and uv["met"] is False  # wsproto is the faster built-in here
    table = t.issue19_table(results)
    line = next(ln for ln in table.splitlines() if ln.startswith(f"| {row.label} |"))
    assert "| 1.20x met | 1.33x met | 0.90x **MISSED** | 0.67x |" in line and "1.09x **MISSED** (wsproto)" in line
    assert "10.0k/s / 12.0k/s / 9.0k/s" in line


def test_micro_checks_pick_the_send_and_receive_targets():
    from benchmarks import runner, server_targets

    results = [runner.Result("send", "text16B-server", "wsframe-c", "ok", 10, "msgs", [1.0, 1.0, 1.0]),
               runner.Result("send", "text16B-server", "picows", "ok", 10, "msgs", [2.0, 2.0, 2.0]),
               runner.Result("receive", "16B", "wsframe-c", "ok", 10, "msgs", [1.0, 1.0, 1.0]),
               runner.Result("receive", "16B", "picows", "ok", 10, "msgs", [3.0, 3.0, 3.0])]
    checks = {(c["row"], c["need"]): c for c in server_targets.micro_checks(runner.evaluate_targets(results))}
    assert checks[("send[text16B-server]", 1.0)]["ratio"] == 2.0 and checks[("send[text16B-server]", 1.0)]["met"]
    assert checks[("receive[16B]", 3.5)]["ratio"] == 3.0 and checks[("receive[16B]", 3.5)]["met"] is False
    floor = checks[("receive[16B]", 5.2)]  # issue 19: no regression from 5.2x
    assert floor["ratio"] == 3.0 and floor["met"] is False and "no regression" in floor["target"]


def test_server_and_row_selection():
    names = [s.name for s in server_bench.select(server_bench.server_specs(), only="uvicorn", skip="wsproto")]
    assert names == [server_bench.WSFRAME, server_bench.UVICORN_WSFRAME, server_bench.UVICORN_SANSIO]
    assert [r.key for r in server_bench.select_rows("c64 w16")] == ["echo c64 w16 16B", "echo c64 w16 4096B"]
    assert server_bench.select_rows(None) == server_bench.ALL_ROWS


def test_readme_section_from_the_run(smoke):
    """The README's benchmark section is drawn from the run's files: tables, charts, targets."""
    import json

    from benchmarks import readme_section, runner

    _, out, _ = smoke
    micro = [runner.Result("receive", "16B", "wsframe-c", "ok", 100, "msgs", [1e-5] * 3),
             runner.Result("receive", "16B", "picows", "ok", 100, "msgs", [4e-5] * 3)]
    text = readme_section.section(micro, json.loads((out / "servers.json").read_text()))
    assert f"| {server_bench.WSFRAME} | " in text and "user-written application" in text
    assert "| receive[16B] | 10.00M |" in text  # 100 messages in 10 µs
    assert "| receive path vs picows (micro benchmark; time picows / time wsframe) | receive[16B] | 4.00x |" in text
    assert "servers_throughput.png" in text and "python -m benchmarks" in text
