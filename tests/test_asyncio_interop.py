"""wsframe.asyncio with other implementations, on the default event loop and on uvloop: the
websockets client against the asyncio server, the asyncio client against a websockets server,
wsframe's blocking client against the asyncio server (and its 1001 when the server stops)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
from test_asyncio import ServerThread, echo, loop_kind, run  # noqa: E402,F401

from wsframe.asyncio import connect, serve  # noqa: E402


def test_websockets_client_against_our_server(loop_kind):
    websockets = S.require_module("websockets")
    from websockets.asyncio.client import connect as ws_connect

    async def main():
        async with serve(echo, "127.0.0.1", 0, subprotocols=["chat"]) as server:
            async with ws_connect(server.url, subprotocols=["chat"]) as c:
                assert c.subprotocol == "chat"
                assert "permessage-deflate" in c.response.headers.get("Sec-WebSocket-Extensions", "")
                for msg in ("hello", b"\x01" * 70_000, "é" * 10_000):
                    await c.send(msg)
                    assert await c.recv() == msg
                await c.send(["a", "b"])
                assert await c.recv() == "ab"
                await asyncio.wait_for(await c.ping(), 5)
            assert c.close_code == 1000
            assert websockets is not None

    run(loop_kind, main)


def test_our_client_against_websockets_server(loop_kind):
    S.require_module("websockets")
    from websockets.asyncio.server import serve as ws_serve

    async def wecho(ws):
        async for m in ws:
            await ws.send(m)

    async def main():
        async with ws_serve(wecho, "127.0.0.1", 0) as s:
            port = s.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                assert len(ws.extensions) == 1
                for msg in ("hello", b"\x02" * 100_000, ""):
                    await ws.send(msg)
                    assert await ws.recv(5) == msg
                await asyncio.wait_for(await ws.ping(), 5)
            assert ws.close_code == 1000

    run(loop_kind, main)


def test_blocking_client_against_our_server(loop_kind):
    from wsframe.client import ConnectionClosed, connect as blocking_connect

    with ServerThread(loop_kind) as server:
        with blocking_connect(server.url) as ws:
            ws.send("hello")
            assert ws.recv(5) == "hello"
            ws.send(b"\x00" * 300_000)
            assert ws.recv(5) == b"\x00" * 300_000
        assert ws.close_code == 1000
        ws = blocking_connect(server.url)
        ws.send("x")
        assert ws.recv(5) == "x"
    # the server stopped with the client still connected: 1001
    with pytest.raises(ConnectionClosed) as exc:
        ws.recv(5)
    assert exc.value.code == 1001
    ws.close()
