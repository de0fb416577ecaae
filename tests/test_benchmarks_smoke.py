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
    expected = {(case, p.label) for case in cases.CASES for p, _ in cases.matrix(case, cases.SMOKE)}
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
    assert (tmp_path / "results.json").exists()
