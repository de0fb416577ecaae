"""The runtime switches of the compiled speedups: WSFRAME_NO_SPEEDUPS (and its
deprecated alias WSFRAME_NO_EXTENSIONS), WSFRAME_REQUIRE_SPEEDUPS, and
codec.describe()."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import wsframe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(wsframe.__file__)))
PROBE = ("import wsframe.codec as c, wsframe.connection as k; "
         "print(c.speedups_enabled, k.compiled, c.implementation.__name__, '|', c.describe())")
SWITCHES = ("WSFRAME_NO_SPEEDUPS", "WSFRAME_NO_EXTENSIONS", "WSFRAME_REQUIRE_SPEEDUPS")


def _run(env_extra, path=ROOT):
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env.update(env_extra, PYTHONPATH=path)
    # -S: no site-packages, so that an installed wsframe cannot lend its compiled modules to the copy
    return subprocess.run([sys.executable, "-S", "-c", PROBE], env=env, capture_output=True, text=True, cwd=path,
                          timeout=60)


@pytest.mark.parametrize("name", ["WSFRAME_NO_SPEEDUPS", "WSFRAME_NO_EXTENSIONS"])
def test_switching_the_speedups_off(name):
    proc = _run({name: "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"False False wsframe._codec_py | pure Python ({name} is set)"


def test_an_explicit_switch_off_wins_over_require():
    proc = _run({"WSFRAME_NO_SPEEDUPS": "1", "WSFRAME_REQUIRE_SPEEDUPS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("False False")


def test_false_values_leave_the_speedups_on():
    if not wsframe.speedups_enabled:
        pytest.skip("the speedups are not built here")
    proc = _run({"WSFRAME_NO_SPEEDUPS": "0", "WSFRAME_NO_EXTENSIONS": "no"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True True wsframe._speedups | C speedups, SIMD ")


@pytest.fixture
def unbuilt(tmp_path):
    """A copy of the package without its compiled modules."""
    shutil.copytree(os.path.join(ROOT, "wsframe"), tmp_path / "wsframe",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    return str(tmp_path)


def test_missing_speedups_fall_back_and_say_why(unbuilt):
    proc = _run({}, unbuilt)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip()
    assert out.startswith("False False wsframe._codec_py | pure Python (the speedups are not built")
    assert unbuilt in out and "\n" not in out


def test_require_speedups_fails_in_one_line_when_they_are_missing(unbuilt):
    proc = _run({"WSFRAME_REQUIRE_SPEEDUPS": "1"}, unbuilt)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: WSFRAME_REQUIRE_SPEEDUPS is set but wsframe's speedups are not built")
