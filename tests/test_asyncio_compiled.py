"""The asyncio layer's build choice: the cores of ConnectionProtocol, WebSocket and AppProtocol are the
compiled ones (wsframe.asyncio._protocol_c, _connection_c, _app_protocol_c) when the speedups are on and
built, the same sources uncompiled otherwise (WSFRAME_NO_SPEEDUPS=1), and either way the public classes
are the same asyncio protocols with the same behaviour (attributes, weak references, exceptions)."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import weakref

import pytest

import wsframe.codec
from wsframe.asyncio import (AppProtocol, ClientWebSocket, ConnectionClosedOK, ConnectionProtocol, ServerWebSocket,
                             WebSocket, connect, serve)
from wsframe.asyncio import app_protocol, connection, protocol
from wsframe.connection import ServerConnection
from wsframe.limits import Limits

CORES = [(protocol, "_ProtocolCore", "_protocol_c"), (connection, "_WebSocketCore", "_connection_c"),
         (app_protocol, "_AppCore", "_app_protocol_c")]


def built(ext: str) -> bool:
    return importlib.util.find_spec(f"wsframe.asyncio.{ext}") is not None


@pytest.mark.parametrize("module,core,ext", CORES, ids=[c[2] for c in CORES])
def test_the_core_is_compiled_exactly_when_the_speedups_are_on_and_built(module, core, ext):
    expected = f"wsframe.asyncio.{ext}" if wsframe.codec.speedups_enabled and built(ext) else module.__name__
    assert getattr(module, core).__module__ == expected


@pytest.mark.parametrize("cls", [ConnectionProtocol, WebSocket, ServerWebSocket, ClientWebSocket, AppProtocol])
def test_the_public_classes_are_asyncio_protocols(cls):
    assert issubclass(cls, asyncio.Protocol)
    assert issubclass(cls, ConnectionProtocol)
    for name in ("connection_made", "data_received", "eof_received", "connection_lost", "pause_writing",
                 "resume_writing"):
        assert getattr(cls, name) is not getattr(asyncio.Protocol, name), name  # ours, not the no-op


def test_a_websocket_takes_attributes_and_weak_references():
    async def main() -> None:
        ws = WebSocket(ServerConnection(), Limits(), asyncio.get_running_loop())
        ws.user = "alice"  # applications hang their state on the connection
        ws._qbytes = 5  # the C fields stay writable from Python (tests and subclasses set them)
        assert (ws.user, ws._qbytes, ws._lost, ws.transport) == ("alice", 5, False, None)
        ref = weakref.ref(ws)
        del ws
        gc.collect()
        assert ref() is None

    asyncio.run(main())


def test_echo_and_close_through_the_chosen_build():
    got = []

    async def handler(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/", compression=None) as ws:
                for i in range(50):  # more than one batch: ping-pong, then pipelined
                    await ws.send(f"m{i}")
                    if i % 10 == 0:
                        got.append(await ws.recv())
                while len(got) < 50:
                    got.append(await ws.recv())
                await ws.close()
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert got == [f"m{i}" for i in range(50)]  # in order


def test_a_message_after_a_cancelled_wait_is_not_lost():
    """A task cancelled while ``async for`` waits leaves the waiter cancelled: the next message stays
    queued for the next read instead of going to the dead waiter."""
    got = []

    async def main() -> None:
        waiting = asyncio.Event()

        async def handler(ws) -> None:
            async def first():
                return await ws.__anext__()

            t = asyncio.ensure_future(first())
            await asyncio.sleep(0)  # one loop pass: the task is waiting for a message
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            waiting.set()
            for _ in range(100_000):  # bounded: until the read queued the message (the dead waiter is still set)
                if ws._messages:
                    break
                await asyncio.sleep(0)
            assert ws._messages, "the message was not queued"
            async for message in ws:
                await ws.send(message)

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/", compression=None) as ws:
                await waiting.wait()
                await ws.send("after the cancel")
                got.append(await ws.recv())

    asyncio.run(asyncio.wait_for(main(), 20))
    assert got == ["after the cancel"]
