"""pytest plugin for .ci/suite-uvicorn.sh: counts the connections WSFrameProtocol served and fails
a run in which it served none, or in which a test of the fixture $WSFRAME_FIXTURE ran another class."""

import os

import pytest

from wsframe.uvicorn import protocol as _protocol

_served = 0
_original = _protocol.WSFrameProtocol.connection_made


def _counting(self, transport):
    global _served
    _served += 1
    return _original(self, transport)


_protocol.WSFrameProtocol.connection_made = _counting


def pytest_collection_modifyitems(session, config, items):
    fixture = os.environ["WSFRAME_FIXTURE"]
    for item in items:
        if fixture in getattr(item, "fixturenames", ()) and "wsframe" not in item.nodeid:
            raise pytest.UsageError(f"{item.nodeid} does not run wsframe's protocol")


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"wsframe.uvicorn: {_served} connections served by WSFrameProtocol")


def pytest_sessionfinish(session, exitstatus):
    if session.testscollected and _served == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
