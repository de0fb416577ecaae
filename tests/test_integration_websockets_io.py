"""wsframe.integrations.websockets end to end: websockets' asyncio, sync and
Trio (17.x) servers and clients on localhost, with and without deflate,
see the same messages and close codes with the accelerator as without it,
and the accelerated path runs (call counters)."""

from __future__ import annotations

import asyncio
import importlib.util
import threading

import pytest

pytest.importorskip("websockets")

import websockets  # noqa: E402

from wsframe.integrations import websockets as accel  # noqa: E402

pytestmark = pytest.mark.skipif(websockets.__version__ not in accel.TESTED_VERSIONS,
                                reason=f"websockets {websockets.__version__} is not a tested version")

MESSAGES = ["héllo", b"\x00\x01" * 50_000, "x" * 126, b"", ["frag", "mented ", "text"], [b"bin", b"ary"]]
LIMIT = 120_000  # the server's max_size; the last message exceeds it


def _expected(msg):
    if isinstance(msg, list):
        return "".join(msg) if isinstance(msg[0], str) else b"".join(msg)
    return msg


@pytest.fixture(autouse=True)
def _uninstalled():
    accel.uninstall()
    yield
    accel.uninstall()


def _check(run, compression):
    """Without, then with the accelerator: the same record; counters moved."""
    plain = run(compression)
    accel.install()
    fast = run(compression)
    counts = accel.stats()
    assert fast == plain
    assert [m for m in fast[0]] == [_expected(m) for m in MESSAGES]
    assert fast[1] == 1009  # the oversize message: websockets' own limit, its close code
    assert counts["parse"] > 0 and counts["frames"] > 0 and counts["build"] > 0


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_asyncio(compression):
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def echo(ws):
        try:
            async for msg in ws:
                await ws.send(msg)
        except ConnectionClosed:
            pass

    async def main(compression):
        async with serve(echo, "127.0.0.1", 0, compression=compression, max_size=(LIMIT, None)
                         if not websockets.__version__.startswith("15.") else LIMIT) as server:
            port = server.sockets[0].getsockname()[1]
            got = []
            async with connect(f"ws://127.0.0.1:{port}", compression=compression, max_size=None) as ws:
                for msg in MESSAGES:
                    await ws.send(msg)
                    got.append(await ws.recv())
                await ws.ping(b"ping")
                await ws.send(b"z" * (LIMIT + 1))
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
            return got, info.value.rcvd.code

    _check(lambda c: asyncio.run(asyncio.wait_for(main(c), 60)), compression)


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_sync(compression):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    from websockets.sync.server import serve

    def echo(ws):
        try:
            for msg in ws:
                ws.send(msg)
        except ConnectionClosed:
            pass

    def run(compression):
        with serve(echo, "127.0.0.1", 0, compression=compression, max_size=LIMIT) as server:
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                got = []
                with connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}", compression=compression,
                             max_size=None, open_timeout=10) as ws:
                    for msg in MESSAGES:
                        ws.send(msg)
                        got.append(ws.recv(timeout=30))
                    ws.ping(b"ping")
                    ws.send(b"z" * (LIMIT + 1))
                    with pytest.raises(ConnectionClosed) as info:
                        ws.recv(timeout=30)
                return got, info.value.rcvd.code
            finally:
                server.shutdown()
                thread.join(10)

    _check(run, compression)


@pytest.mark.skipif(importlib.util.find_spec("trio") is None or importlib.util.find_spec("websockets.trio") is None,
                    reason="websockets' Trio implementation (17.x) and trio are needed")
@pytest.mark.parametrize("compression", [None, "deflate"])
def test_trio(compression):
    import trio

    from websockets.exceptions import ConnectionClosed
    from websockets.trio.client import connect
    from websockets.trio.server import serve

    async def echo(ws):
        try:
            async for msg in ws:
                await ws.send(msg)
        except ConnectionClosed:
            pass

    async def main(compression):
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                server = await nursery.start(lambda task_status: serve(
                    echo, 0, host="127.0.0.1", compression=compression, max_size=LIMIT, task_status=task_status))
                port = server.listeners[0].socket.getsockname()[1]
                got = []
                async with connect(f"ws://127.0.0.1:{port}", compression=compression, max_size=None) as ws:
                    for msg in MESSAGES:
                        await ws.send(msg)
                        got.append(await ws.recv())
                    await ws.ping(b"ping")
                    await ws.send(b"z" * (LIMIT + 1))
                    with pytest.raises(ConnectionClosed) as info:
                        await ws.recv()
                nursery.cancel_scope.cancel()
            return got, info.value.rcvd.code

    _check(lambda c: trio.run(main, c), compression)
