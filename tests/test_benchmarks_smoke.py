"""The benchmark suite's smoke run: tiny inputs, no timing.

It keeps benchmarks/ from rotting: every implementation that is available on
this machine (wsframe's C extension and pure-Python twin, and whichever peers
are installed) must produce correct output on every case. Peers that are not
installed are skipped by the suite itself and only reported here. Speed is
never asserted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if not (ROOT / "benchmarks" / "runner.py").exists():  # pragma: no cover - e.g. tests run from an sdist
    pytest.skip("benchmarks/ is not beside tests/", allow_module_level=True)
# Appended, not prepended: wsframe keeps resolving as it does for the rest of
# the suite (installed or in-tree); only the benchmarks package is added.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from benchmarks import cases, peers, runner  # noqa: E402


@pytest.fixture(scope="module")
def smoke_results():
    return runner.run_smoke()


def test_every_available_implementation_is_correct(smoke_results):
    wrong = [f"{r.case}[{r.param}] {r.impl}: {r.status}" for r in smoke_results if r.status.startswith("WRONG")]
    assert not wrong, "\n".join(wrong)


def test_every_case_ran_for_wsframe(smoke_results):
    # Every case but the SIMD-level rows (C only), which carry a baseline level.
    expected = {
        (case, p.label) for case in cases.CASES if not cases.CASES[case].baseline for p, _ in cases.matrix(case, cases.SMOKE)
    }
    ran_py = {(r.case, r.param) for r in smoke_results if r.impl == "wsframe-py" and r.ok}
    assert ran_py == expected
    c = [r for r in smoke_results if r.impl == "wsframe-c"]
    if os.environ.get("WSFRAME_REQUIRE_SPEEDUPS") == "1":
        assert all(r.ok for r in c), [r.status for r in c if not r.ok]
    else:
        # Either the extension is there and passes everywhere, or it is absent.
        assert all(r.ok for r in c) or all(r.status.startswith("skipped") for r in c), [r.status for r in c]


def test_skipped_peers_say_why(smoke_results):
    for r in smoke_results:
        assert r.ok or r.status.startswith(("skipped: ", "WRONG: ")), r.status
        if r.status.startswith("skipped: "):
            assert len(r.status) > len("skipped: ")


def test_wrong_adapter_is_caught(monkeypatch):
    """A peer adapter that returns garbage fails its check; it is not timed."""
    ad = peers.load("wsframe-py")
    monkeypatch.setattr(ad, "apply_mask_call", lambda data, mask: (lambda: bytes(len(data))))
    results = runner.run(runner.MODES["smoke"], only=r"^apply_mask\[125B\]$", log=None)
    bad = [r for r in results if r.impl == "wsframe-py"]
    assert bad and bad[0].status.startswith("WRONG"), bad


def test_report_is_written(tmp_path, smoke_results):
    code = runner.main(["--smoke", "--out", str(tmp_path)])
    assert code == 0
    report = (tmp_path / "report.md").read_text()
    assert "wsframe-py" in report and "## parse" in report
    for case in ("receive", "send", "handshake"):
        assert f"## {case}" in report
    assert (tmp_path / "results.json").exists()
    assert not list(tmp_path.glob("*.png"))  # no charts for an untimed run


def _latest_snapshot():
    return {f.name: f.read_bytes() for f in runner.LATEST_DIR.iterdir() if f.is_file()}


def test_a_run_without_publish_leaves_latest_alone(tmp_path, monkeypatch):
    copies = []
    monkeypatch.setattr(runner, "copy_latest", lambda *a, **k: copies.append(a))
    monkeypatch.setattr(runner, "copy_latest_servers", lambda *a, **k: copies.append(a))
    before = _latest_snapshot()
    assert runner.main(["--smoke", "--no-servers", "--out", str(tmp_path)]) == 0
    assert copies == [] and _latest_snapshot() == before
    assert (tmp_path / "report.md").exists()


@pytest.mark.parametrize("extra", [["--smoke"], ["--no-servers"], ["--only", "parse"], ["--server-rows", "c64"],
                                   ["--server-only", "picows"], ["--no-write"], ["--allow-pure-python"]])
def test_publish_is_refused_for_a_partial_run(tmp_path, capsys, extra):
    before = _latest_snapshot()
    assert runner.main(["--publish", "--out", str(tmp_path), *extra]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("python -m benchmarks: --publish needs a complete run;") and extra[0] in line
    assert "\n" not in line
    assert _latest_snapshot() == before and not list(tmp_path.iterdir())  # refused before running anything


def test_publish_is_allowed_for_a_complete_run():
    args = runner.argparse.Namespace(mode=None, only=None, servers=None, server_only=None, server_skip=None,
                                     server_rows=None, no_write=False, no_charts=False, allow_pure_python=False)
    assert runner.publish_refusal(args) is None
    args.mode = "full"
    assert runner.publish_refusal(args) is None


def test_connection_cases_cover_wsframe_both_codecs(smoke_results):
    """The receive/send/handshake rows ran for both wsframe codecs, and the
    pure-Python row really runs the twin (a private connection module bound to it)."""
    for case in ("receive", "send", "handshake"):
        for impl in ("wsframe-c", "wsframe-py"):
            rows = [r for r in smoke_results if r.case == case and r.impl == impl]
            assert rows and all(r.ok or r.status.startswith("skipped") for r in rows), (case, impl)
    from benchmarks import peers_conn

    from wsframe.codec import _load_implementation

    py = _load_implementation(compiled=False)
    mod = peers_conn.wsframe_connection_module(py)
    conn = mod.ServerConnection()
    conn.receive_data(peers_conn.UPGRADE_HEAD.format(key="dGhlIHNhbXBsZSBub25jZQ==").encode())
    assert type(conn._parser) is py.FrameParser  # made at open, from the module's binding


def test_receive_check_catches_a_wrong_message(monkeypatch):
    """A receiver that delivers one message wrong fails its check."""
    ad = peers.load("wsframe-py")
    real = ad.receiver

    class Bad(real):
        def collect(self, conn, chunks):
            got = super().collect(conn, chunks)
            return got[:-1] + [got[-1][::-1] + "!"]

    monkeypatch.setattr(ad, "receiver", Bad)
    results = runner.run(runner.MODES["smoke"], only=r"^receive\[16B\]$", log=None)
    bad = [r for r in results if r.impl == "wsframe-py"]
    assert bad and bad[0].status.startswith("WRONG"), bad


def test_simd_rows_restore_the_level(smoke_results):
    try:
        mod = peers.load("wsframe-c").codec_module
    except peers.Unavailable:
        pytest.skip("no C extension")
    if not hasattr(mod, "set_simd_level"):
        pytest.skip("no set_simd_level")
    best = mod.set_simd_level(None)
    assert mod.simd_level() == best
    assert any(r.case == "simd_mask" and r.ok for r in smoke_results)


def test_charts_from_fake_timings(tmp_path):
    from benchmarks import charts

    if not charts.available():
        pytest.skip("matplotlib is not installed")
    results = []
    for case, params, impls in (
        ("apply_mask", ("125B", "1KiB"), ("wsframe-c", "websockets")),
        ("simd_utf8", ("ascii-16B", "3-byte-16B"), ("scalar", "avx2")),
        ("receive", ("16B",), ("wsframe-c", "picows")),
        ("send", ("text16B-server",), ("wsframe-c", "picows")),
    ):
        for p in params:
            for k, impl in enumerate(impls):
                results.append(runner.Result(case, p, impl, "ok", 1000, "B", [1e-6 * (k + 1)] * 3))
    written = charts.write_charts(results, tmp_path)
    assert {w.name for w in written} == set(charts.CHART_NAMES)
    assert all(w.stat().st_size > 1000 for w in written)
