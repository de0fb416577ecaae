"""Reversible monkey-patching shared by the integrations: a record of the
original attributes, the version check, and call counters that prove the
accelerated code was really used."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple


class UnsupportedVersion(RuntimeError):
    """The installed library is a version the integration was not tested with."""


def check_version(name: str, installed: str, tested: Iterable[str]) -> None:
    """Raise UnsupportedVersion unless ``installed`` is one of ``tested``."""
    tested = tuple(tested)
    if installed not in tested:
        raise UnsupportedVersion(
            f"wsframe.integrations.{name.replace('-', '_')} was tested with {name} "
            f"{', '.join(tested)}; the installed {name} is {installed}: nothing was patched"
        )


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
