"""pytest plugin: run a foreign test suite with a wsframe accelerator installed.

Load it with ``-p wsframe_accel`` (this folder on PYTHONPATH) and name the
integrations in ``WSFRAME_ACCEL`` (comma separated: ``wsproto``,
``websocket_client``). ``install()`` runs when pytest starts, before any test
module is imported; when the session ends the plugin prints wsframe's call
counters and fails the run (exit status 3) if a counter the suite must have
driven is still 0, so a no-op ``install()`` cannot pass. ``WSFRAME_ACCEL_NEED``
names those counters (default: every counter of the integration; ``name:key``
items, comma separated; ``-``: none, for a rerun of single tests).
"""

from __future__ import annotations

import importlib
import os

import pytest

_modules = {}


def _names():
    return [n.strip() for n in os.environ.get("WSFRAME_ACCEL", "").split(",") if n.strip()]


def pytest_configure(config):
    for name in _names():
        mod = importlib.import_module(f"wsframe.integrations.{name}")
        mod.install()
        _modules[name] = mod


def pytest_report_header(config):
    return [f"wsframe accelerator installed: {name}" for name in _modules] or None


def _needed(name, counts):
    spec = os.environ.get("WSFRAME_ACCEL_NEED", "")
    if not spec.strip():
        return list(counts)
    return [item.split(":", 1)[1] for item in spec.split(",") if item.strip().startswith(name + ":")]


def pytest_sessionfinish(session, exitstatus):
    problems = []
    for name, mod in _modules.items():
        if not mod.installed():
            problems.append(f"{name}: the accelerator was uninstalled during the run")
        counts = mod.stats()
        line = ", ".join(f"{k}={v}" for k, v in counts.items())
        print(f"\nwsframe calls ({name}): {line}")
        for key in _needed(name, counts):
            if not counts.get(key):
                problems.append(f"{name}: no call counted for {key!r}: the accelerated path was not taken")
    if problems:
        for p in problems:
            print("wsframe accelerator check FAILED: " + p)
        session.exitstatus = 3
