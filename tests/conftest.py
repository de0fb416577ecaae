"""Shared fixtures of the codec test suite.

``impl`` runs a test once per codec implementation: the pure-Python twin
(the kernels of ``wsframe._codec_py`` with the uncompiled parser
``wsframe._parser``, always) and the C one (``wsframe._speedups`` with
``wsframe._parser_c``) when it is importable; each is one namespace holding
the kernels and the parser that goes with them. A missing extension skips its parameter with a reason,
unless ``WSFRAME_REQUIRE_SPEEDUPS=1`` is set (CI): then it fails.

``impls`` gives both implementations, (python, c), for differential tests.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from wsframe.codec import _load_implementation

# Modest defaults: the suite runs on small shared machines. Tests that need
# fewer examples say so with their own @settings.
settings.register_profile(
    "wsframe",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "wsframe"))

IMPLEMENTATIONS = ("python", "c")
_MODULES = {"python": "wsframe._codec_py", "c": "wsframe._speedups"}
_NAMES = ("apply_mask", "mask_inplace", "validate_utf8", "Utf8Validator", "Frame", "FrameParser", "build_frame")


def speedups_required() -> bool:
    return os.environ.get("WSFRAME_REQUIRE_SPEEDUPS", "").strip().lower() in ("1", "true", "yes")


def _load(name: str) -> Any:
    """Import one implementation; skip (or fail, when required) a missing C extension."""
    modname = _MODULES[name]
    try:
        module = _load_implementation(name == "c")
    except ImportError as exc:
        if name == "python":
            raise
        msg = (
            f"{modname} is not importable ({exc}); build it with `pip install -e .` "
            "or `python setup.py build_ext --inplace`"
        )
        if speedups_required():
            pytest.fail(f"WSFRAME_REQUIRE_SPEEDUPS=1 but {msg}", pytrace=False)
        pytest.skip(f"C extension missing: {msg}")
    missing = [n for n in _NAMES if not hasattr(module, n)]
    if missing:
        pytest.fail(f"{modname} lacks {', '.join(missing)}", pytrace=False)
    return module


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def impl(request) -> Any:
    """The codec implementation under test (python twin or C extension)."""
    return _load(request.param)


@pytest.fixture(scope="session")
def py_impl() -> Any:
    return _load("python")


@pytest.fixture(scope="session")
def c_impl() -> Any:
    return _load("c")


@pytest.fixture(scope="session")
def impls(py_impl, c_impl):
    """Both implementations, (python, c), for differential tests."""
    return py_impl, c_impl
