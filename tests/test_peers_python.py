"""Python peers against `wsframe echo`, ws:// and wss://: websockets, aiohttp
and websocket-client. Skipped when a package is missing unless
WSFRAME_REQUIRE_PEERS=1. Select with ``-m peers``."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

pytestmark = pytest.mark.peers

MESSAGES = ["hello", "héllo wörld ✓ 🎉", "", b"\x00\x01\xff", "x" * (1 << 20), os.urandom(300_000)]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return S.make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module", params=["ws", "wss"])
def target(request, certs):
    """(url, client ssl context or None) of a running `wsframe echo`."""
    if request.param == "ws":
        with S.EchoProcess() as proc:
            yield proc.url, None
    else:
        _, ca, cert, key = certs
        with S.EchoProcess("--certfile", str(cert), "--keyfile", str(key)) as proc:
            yield f"wss://localhost:{proc.port}/", ssl.create_default_context(cafile=str(ca))


def test_websockets_client(target):
    S.require_module("websockets")
    from websockets.asyncio.client import connect

    url, ctx = target

    async def main():
        async with connect(url, ssl=ctx, max_size=None, compression=None) as ws:
            for m in MESSAGES:
                await ws.send(m)
                assert await asyncio.wait_for(ws.recv(), 10) == m
            # fragmented send: an iterable of fragments
            await ws.send(["frag-1 ", "frag-2 ", "✓"])
            assert await asyncio.wait_for(ws.recv(), 10) == "frag-1 frag-2 ✓"
            pong = await ws.ping(b"py")
            await asyncio.wait_for(pong, 5)
            await ws.close(4003, "websockets done")
        assert ws.close_code == 4003

    asyncio.run(main())


def test_aiohttp_client(target):
    S.require_module("aiohttp")
    import aiohttp

    url, ctx = target

    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, ssl=ctx if ctx is not None else False, max_msg_size=0,
                                          autoping=True, compress=0) as ws:
                for m in MESSAGES:
                    if isinstance(m, str):
                        await ws.send_str(m)
                    else:
                        await ws.send_bytes(m)
                    msg = await asyncio.wait_for(ws.receive(), 10)
                    assert msg.data == m
                await ws.ping(b"aio")
                await ws.close(code=4004, message=b"aiohttp done")
            assert ws.close_code == 4004

    asyncio.run(main())


def test_websocket_client(target):
    S.require_module("websocket", "websocket-client")
    import websocket

    url, ctx = target
    sslopt = {"context": ctx} if ctx is not None else None
    ws = websocket.create_connection(url, timeout=10, sslopt=sslopt, enable_multithread=True)
    try:
        for m in MESSAGES:
            if isinstance(m, str):
                ws.send(m)
            else:
                ws.send_binary(m)
            assert ws.recv() == m
        # fragmented: first frame TEXT fin=0, then continuation frames
        ws.send_frame(websocket.ABNF.create_frame("part-a ", websocket.ABNF.OPCODE_TEXT, 0))
        ws.send_frame(websocket.ABNF.create_frame("part-b ", websocket.ABNF.OPCODE_CONT, 0))
        ws.send_frame(websocket.ABNF.create_frame("end", websocket.ABNF.OPCODE_CONT, 1))
        assert ws.recv() == "part-a part-b end"
        ws.ping("wc")
        opcode, data = ws.recv_data(control_frame=True)
        assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"wc")
        ws.send("after ping")
        assert ws.recv() == "after ping"
    finally:
        ws.close(status=4005, reason=b"websocket-client done")
