"""npm WebSocket peers: the `ws` and `websocket` (WebSocket-Node) clients against
`wsframe echo` over ws:// and wss:// (npm `ws` must negotiate
permessage-deflate), and wsframe.client against an npm `ws` server. Needs node and tests/peers/node_modules (.ci/install-peers.sh);
skipped without them unless WSFRAME_REQUIRE_PEERS=1. Select with ``-m peers``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return S.make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def echo_ws():
    with S.EchoProcess() as proc:
        yield proc


@pytest.fixture(scope="module")
def echo_wss(certs):
    _, _, cert, key = certs
    with S.EchoProcess("--certfile", str(cert), "--keyfile", str(key)) as proc:
        yield proc


def run_node_client(lib: str, url: str, ca_path=None) -> dict:
    node = S.require_node_module(lib)
    env = dict(os.environ)
    if ca_path is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(ca_path)
    out = subprocess.run([node, str(S.HERE / "node_client.js"), lib, url], capture_output=True, text=True,
                         timeout=60, env=env, cwd=str(S.HERE))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_report(report: dict) -> None:
    assert report["errors"] == [], report
    if report["lib"] == "ws":  # npm ws offers permessage-deflate; `wsframe echo` accepts it
        assert report["extensions"].startswith("permessage-deflate"), report
    assert report["echoes"] == {"ascii": True, "nonascii": True, "big": True, "binary": True,
                                "fragmented": True}, report
    assert report["pong"] is True, report
    assert report["close"][0] == 4001, report


@pytest.mark.parametrize("lib", ["ws", "websocket"])
def test_node_client_ws(lib, echo_ws):
    check_report(run_node_client(lib, echo_ws.url))


@pytest.mark.parametrize("lib", ["ws", "websocket"])
def test_node_client_wss(lib, echo_wss, certs):
    url = f"wss://localhost:{echo_wss.port}/"
    check_report(run_node_client(lib, url, certs[1]))


def test_wsframe_client_deflate_against_node_ws_server():
    """wsframe.client offering permessage-deflate to an npm `ws` server that compresses everything."""
    from wsframe.client import connect
    from wsframe.permessage_deflate import ClientPerMessageDeflate, PerMessageDeflate

    node = S.require_node_module("ws")
    proc = subprocess.Popen([node, str(S.HERE / "node_ws_server.js"), "deflate"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=str(S.HERE))
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        port = int(line.split()[1])
        for ext in (ClientPerMessageDeflate(),
                    ClientPerMessageDeflate(client_no_context_takeover=False, server_max_window_bits=10),
                    ClientPerMessageDeflate(server_no_context_takeover=True, client_max_window_bits=9)):
            with connect(f"ws://127.0.0.1:{port}/extensions", max_message_size=None,
                         extensions=[ext]) as ws:
                assert [type(e) for e in ws.extensions] == [PerMessageDeflate]
                assert ws.recv(timeout=5).startswith("permessage-deflate")  # what ws agreed to
                text = "".join(f"{i} ü ✓ {i * 7919 % 1000} " for i in range(60_000))  # ~1 MiB
                for msg in ("hi", "hello " * 100, text, b"\x00" * 100_000, os.urandom(1 << 16), text):
                    ws.send(msg)
                    assert ws.recv(timeout=20) == msg
            assert ws.close_code == 1000
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_wsframe_client_against_node_ws_server():
    from wsframe.client import ConnectionClosedError, connect

    node = S.require_node_module("ws")
    proc = subprocess.Popen([node, str(S.HERE / "node_ws_server.js")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=str(S.HERE))
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        port = int(line.split()[1])
        with connect(f"ws://127.0.0.1:{port}/", max_message_size=None) as ws:
            for msg in ("hello ws", "ü ✓ 🎉", b"\x00\x01\xfe\xff", "z" * (1 << 20), os.urandom(3 << 20)):
                ws.send(msg)
                assert ws.recv(timeout=10) == msg
            assert ws.ping(b"p1").wait(5), "node ws did not answer the ping"  # ws answers pings itself
            ws.send("after ping")
            assert ws.recv(timeout=5) == "after ping"
        assert ws.close_code == 1000
        with connect(f"ws://127.0.0.1:{port}/close4002") as ws:
            with pytest.raises(ConnectionClosedError) as exc:
                ws.recv(timeout=5)
            assert (exc.value.code, exc.value.reason) == (4002, "from ws")
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
