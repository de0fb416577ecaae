"""Reversible monkey-patching shared by the integrations: a record of the
original attributes, the version check, the import of the patched library,
and call counters that prove the accelerated code was really used."""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Any, Dict, Iterable, List, Tuple

#: Set to 1 to patch a library version outside the tested range (a warning instead of UnsupportedVersion).
ANY_VERSION_ENV = "WSFRAME_INTEGRATIONS_ANY_VERSION"


class UnsupportedVersion(RuntimeError):
    """The installed library is a version the integration was not tested with."""


class LibraryNotInstalled(ImportError):
    """The library an integration patches is not installed."""


def version_matches(installed: str, pattern: str) -> bool:
    """``installed`` is ``pattern`` exactly, or ``pattern`` is ``"X.Y.*"`` and
    ``installed`` is X.Y or starts with ``X.Y.`` (so 1.2.* takes 1.2.0 and 1.2.3rc1, not 1.20.0)."""
    if pattern.endswith(".*"):
        stem = pattern[:-2]
        return installed == stem or installed.startswith(stem + ".")
    return installed == pattern


def _override() -> bool:
    return os.environ.get(ANY_VERSION_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def check_version(name: str, installed: str, tested: Iterable[str]) -> None:
    """Raise UnsupportedVersion unless ``installed`` matches one of ``tested``
    (exact versions or ``"X.Y.*"`` patterns). With WSFRAME_INTEGRATIONS_ANY_VERSION=1
    in the environment, warn (RuntimeWarning) instead of raising."""
    tested = tuple(tested)
    if any(version_matches(installed, pattern) for pattern in tested):
        return
    message = (f"wsframe.integrations.{name.replace('-', '_')} was tested with {name} "
               f"{', '.join(tested)}; the installed {name} is {installed}")
    if _override():
        warnings.warn(f"{message}: patching it anyway ({ANY_VERSION_ENV}=1)", RuntimeWarning, stacklevel=3)
        return
    raise UnsupportedVersion(f"{message}: nothing was patched (set {ANY_VERSION_ENV}=1 to patch it anyway)")


def import_library(distribution: str, module: str) -> ModuleType:
    """Import ``module``; LibraryNotInstalled (an ImportError, one line) when the
    distribution that provides it is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module.split(".")[0]:
            raise  # the library is there but one of its own imports is missing: its error says which
        raise LibraryNotInstalled(
            f"wsframe.integrations.{distribution.replace('-', '_')}.install(): {distribution} is not"
            f" installed (pip install {distribution})", name=module) from None


class Patcher:
    """Set attributes on objects, remembering the originals so that
    ``restore()`` puts every one of them back (in reverse order)."""

    def __init__(self) -> None:
        self._saved: List[Tuple[Any, str, bool, Any]] = []

    @property
    def active(self) -> bool:
        return bool(self._saved)

    def set(self, owner: Any, name: str, value: Any) -> None:
        had = name in vars(owner)
        self._saved.append((owner, name, had, vars(owner).get(name)))
        setattr(owner, name, value)

    def set_all(self, replacements: Iterable[Tuple[Any, str, Any]]) -> None:
        """``set`` each (owner, name, value), all or nothing: a failure restores what was set."""
        try:
            for owner, name, value in replacements:
                self.set(owner, name, value)
        except BaseException:  # pragma: no cover - setattr on a class does not fail
            self.restore()
            raise

    def restore(self) -> None:
        while self._saved:
            owner, name, had, old = self._saved.pop()
            if had:
                setattr(owner, name, old)
            else:
                delattr(owner, name)


class Counters:
    """Named call counters (incremented once per batch, not per byte)."""

    def __init__(self, *names: str) -> None:
        self._names = names
        self.values: Dict[str, int] = dict.fromkeys(names, 0)

    def reset(self) -> None:
        for name in self._names:
            self.values[name] = 0

    def snapshot(self) -> Dict[str, int]:
        return dict(self.values)
