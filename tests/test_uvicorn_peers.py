"""The peer checks of `wsframe echo` against a Starlette echo app under
``uvicorn --ws wsframe.uvicorn:WSFrameProtocol``, over ws:// and wss://.

The checks are the ones of tests/test_peers_browser.py (Chromium through
Playwright: echoes, the 1 MiB text sent compressed, close 4010; without
compression), tests/test_peers_node.py (npm ``ws`` and ``websocket``) and
tests/test_peers_python.py (websockets, aiohttp, websocket-client), imported
from those modules and run here against uvicorn. Missing peers skip, or fail
when WSFRAME_REQUIRE_PEERS=1. ``-m peers``.
"""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
from _uvicorn import Uvicorn  # noqa: E402
from test_peers_browser import big_message_frames, check, chromium, run_chromium  # noqa: E402,F401
from test_peers_node import check_report, run_node_client  # noqa: E402
from test_uvicorn import app_dir, certs  # noqa: E402,F401 - the same app and certificates
from test_peers_python import test_aiohttp_client, test_websocket_client, test_websockets_client  # noqa: E402,F401

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def server(app_dir):
    srv = Uvicorn(app_dir, "--ws-max-size", str(4 << 20))
    yield srv
    srv.stop_gracefully()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture(scope="module")
def tls_server(app_dir, certs):
    _, _, cert, key = certs
    srv = Uvicorn(app_dir, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--ws-max-size", str(4 << 20))
    yield srv
    srv.stop_gracefully()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture(scope="module", params=["ws", "wss"])
def target(request, server, tls_server, certs):
    """(url, client ssl context or None): what test_peers_python's checks connect to."""
    if request.param == "ws":
        return server.url(), None
    return tls_server.url(scheme="wss", host="localhost"), ssl.create_default_context(cafile=str(certs[1]))


# -- npm clients --------------------------------------------------------------------------------


@pytest.mark.parametrize("lib", ["ws", "websocket"])
def test_node_client_ws(lib, server):
    check_report(run_node_client(lib, server.url()))


@pytest.mark.parametrize("lib", ["ws", "websocket"])
def test_node_client_wss(lib, tls_server, certs):
    check_report(run_node_client(lib, tls_server.url(scheme="wss", host="localhost"), certs[1]))


# -- Chromium -----------------------------------------------------------------------------------


def test_chromium_ws(chromium, server):
    with S.FrameTap(server.port) as tap:
        check(run_chromium(chromium, f"ws://localhost:{tap.port}/"))
        assert tap.errors == []
        frames = tap.frames
    big = big_message_frames(frames)  # the 1 MiB text went out compressed
    print(f"Chromium sent the 1 MiB text as {len(big)} frames, {sum(f[3] for f in big)} B compressed")


def test_chromium_wss(chromium, tls_server):
    check(run_chromium(chromium, tls_server.url(scheme="wss", host="localhost")))


def test_chromium_no_compression(chromium, app_dir):
    with Uvicorn(app_dir, "--ws-per-message-deflate", "false") as srv:
        check(run_chromium(chromium, srv.url(host="localhost")), compression=False)
        srv.stop_gracefully()


def test_chromium_sees_server_close_code(chromium, app_dir):
    """``--ws-max-size 65536``: the 1 MiB message makes the server close with 1009."""
    with Uvicorn(app_dir, "--ws-max-size", "65536") as srv:
        report = run_chromium(chromium, srv.url(host="localhost"))
    assert report["opened"], report
    assert report["echoes"] == {"ascii": True, "nonascii": True}, report
    assert report["close"][0] == 1009, report
