"""The import-time choice of build, run on a private copy of each module so that the process keeps
its own: wsframe.codec takes the C kernels unless WSFRAME_NO_EXTENSIONS is set or they are not
built, and wsframe.connection follows the codec (the compiled connection, else the source)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

import wsframe
import wsframe.codec
import wsframe.connection


def fresh_copy(module: ModuleType, name: str) -> ModuleType:
    """Run ``module``'s source file again as a new module ``name`` in the wsframe package."""
    spec = importlib.util.spec_from_file_location(name, module.__file__)
    copy = importlib.util.module_from_spec(spec)
    copy.__package__ = "wsframe"
    spec.loader.exec_module(copy)
    return copy


def block(monkeypatch, name: str) -> None:
    """Make ``from wsframe import name`` raise ImportError, as when it was not built."""
    monkeypatch.setitem(sys.modules, f"wsframe.{name}", None)
    monkeypatch.delattr(wsframe, name, raising=False)  # else the import takes the package's attribute


def c_built() -> bool:
    return all(importlib.util.find_spec(f"wsframe.{m}") is not None for m in ("_speedups", "_parser_c"))


# The switch and its newer name (either disables the compiled modules).
SWITCHES = ("WSFRAME_NO_EXTENSIONS", "WSFRAME_NO_SPEEDUPS")
# The compiled connection: one module, or the session and the upgrade once they are split.
COMPILED_CONNECTION = ("_connection_c", "_session_c", "_upgrade_c")


@pytest.mark.parametrize("switch", ["1", "yes"])
def test_the_switch_chooses_the_python_twin(monkeypatch, switch):
    monkeypatch.delenv("WSFRAME_NO_SPEEDUPS", raising=False)
    monkeypatch.setenv("WSFRAME_NO_EXTENSIONS", switch)
    copy = fresh_copy(wsframe.codec, "wsframe._codec_choice_off")
    assert copy.implementation.__name__ == "wsframe._codec_py" and not copy.speedups_enabled
    assert copy.parser_module.__name__ == "wsframe._parser"


def test_without_the_switch_the_c_kernels_are_chosen_when_built(monkeypatch):
    for switch in SWITCHES:
        monkeypatch.delenv(switch, raising=False)
    copy = fresh_copy(wsframe.codec, "wsframe._codec_choice_on")
    assert copy.speedups_enabled == c_built()
    assert copy.implementation.__name__ == ("wsframe._speedups" if c_built() else "wsframe._codec_py")


def test_an_extension_that_cannot_be_imported_falls_back_to_the_twin(monkeypatch):
    for switch in SWITCHES + ("WSFRAME_REQUIRE_SPEEDUPS",):  # (CI requires them; this test removes them)
        monkeypatch.delenv(switch, raising=False)
    block(monkeypatch, "_parser_c")
    block(monkeypatch, "_speedups")
    copy = fresh_copy(wsframe.codec, "wsframe._codec_choice_missing")
    assert copy.implementation.__name__ == "wsframe._codec_py" and not copy.speedups_enabled


def test_a_missing_extension_is_an_error_when_required(monkeypatch):
    for switch in SWITCHES:
        monkeypatch.delenv(switch, raising=False)
    monkeypatch.setenv("WSFRAME_REQUIRE_SPEEDUPS", "1")
    block(monkeypatch, "_parser_c")
    block(monkeypatch, "_speedups")
    with pytest.raises(ImportError, match="WSFRAME_REQUIRE_SPEEDUPS is set"):
        fresh_copy(wsframe.codec, "wsframe._codec_choice_required")


def test_the_connection_follows_the_codec_to_the_uncompiled_source(monkeypatch):
    monkeypatch.setattr(wsframe.codec, "speedups_enabled", True)  # as with the C codec
    for name in COMPILED_CONNECTION:
        block(monkeypatch, name)  # but the compiled connection was not built
    copy = fresh_copy(wsframe.connection, "wsframe._connection_choice")
    assert not copy.compiled and not copy.ServerConnection.__module__.endswith("_c")


def test_the_connection_follows_the_codec_to_the_compiled_connection(monkeypatch):
    monkeypatch.setattr(wsframe.codec, "speedups_enabled", True)  # as with the C codec
    copy = fresh_copy(wsframe.connection, "wsframe._connection_choice")
    if not copy.compiled:
        pytest.skip("the compiled connection is not built")
    assert copy.ServerConnection.__module__.endswith("_c")
    assert copy.ServerConnection.__module__.rpartition(".")[2] in COMPILED_CONNECTION
