"""Pub/sub on the asyncio server: topics, order, self-delivery, one frame
object for every plain subscriber, shared and per-connection compression, a
stalled subscriber under both overflow policies, forgetting closed connections."""

from __future__ import annotations

import asyncio
import pytest

from _pubsub_helpers import RawSub, until

from wsframe.asyncio import connect, serve
from wsframe.asyncio.server import ServerWebSocket
from wsframe.permessage_deflate import ClientPerMessageDeflate
from wsframe.pubsub import PubSub


async def commands(ws):
    """``sub T`` / ``unsub T`` / ``pub T M`` / ``wspub T M``; answers ``ok <cmd>``."""
    async for data in ws:
        cmd, _, rest = data.partition(" ")
        if cmd == "sub":
            ws.subscribe(rest)
        elif cmd == "unsub":
            ws.unsubscribe(rest)
        elif cmd == "pub":
            topic, _, msg = rest.partition(" ")
            ws.server.publish(topic, msg)
        elif cmd == "wspub":
            topic, _, msg = rest.partition(" ")
            ws.publish(topic, msg)
        await ws.send("ok " + data)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def _cmd(ws, text):
    await ws.send(text)
    assert await ws.recv(timeout=5) == "ok " + text


def test_topics_order_and_self_delivery():
    async def main():
        async with serve(commands, "127.0.0.1", 0, compression=None) as server:
            a = await connect(server.url, compression=None)
            b = await connect(server.url, compression=None)
            await _cmd(a, "sub t")
            await _cmd(b, "sub t")
            await _cmd(b, "sub u")
            for i in range(200):
                assert server.publish("t" if i % 2 else "u", f"m{i}" if i % 3 else f"m{i}".encode()) == \
                    (2 if i % 2 else 1)
            got = [await b.recv(timeout=5) for _ in range(200)]
            assert [g if isinstance(g, str) else g.decode() for g in got] == [f"m{i}" for i in range(200)]
            assert isinstance(got[1], str) and isinstance(got[3], bytes)
            got_a = [await a.recv(timeout=5) for _ in range(100)]
            assert [g if isinstance(g, str) else g.decode() for g in got_a] == [f"m{i}" for i in range(1, 200, 2)]
            await a.send("pub t own")  # server.publish: a gets its own message, then the answer
            assert await a.recv(timeout=5) == "own"
            assert await a.recv(timeout=5) == "ok pub t own"
            assert await b.recv(timeout=5) == "own"
            await a.send("wspub t notme")
            assert await a.recv(timeout=5) == "ok wspub t notme"
            assert await b.recv(timeout=5) == "notme"
            await _cmd(b, "unsub t")
            await b.close()
            await a.close()
            await until(lambda: not server.pubsub.topics, 1.0)
            assert server.pubsub.topics == []  # closed connections are forgotten
    run(main())


def test_one_frame_object_and_shared_compression(monkeypatch):
    seen = []
    orig = ServerWebSocket.pubsub_write

    def spy(self, frame, budget):
        seen.append(frame)
        return orig(self, frame, budget)

    monkeypatch.setattr(ServerWebSocket, "pubsub_write", spy)

    async def main():
        async with serve(commands, "127.0.0.1", 0) as server:
            plain = [await connect(server.url, compression=None) for _ in range(3)]
            nct = [await connect(server.url, extensions=[ClientPerMessageDeflate(server_no_context_takeover=True)])
                   for _ in range(2)]
            ct = await connect(server.url)  # deflate with context takeover: its own compressor
            for ws in plain + nct + [ct]:
                await _cmd(ws, "sub t")
            seen.clear()
            msg = "abc " * 500
            assert server.publish("t", msg) == 6
            for ws in plain + nct + [ct]:  # (the plain frame is written at the end of the loop pass)
                assert await ws.recv(timeout=5) == msg
            plain_frames = [f for f in seen if not f[0] & 0x40]
            comp = [f for f in seen if f[0] & 0x40]
            # ct's message goes through its own compressor (pubsub_send), not pubsub_write.
            assert len(plain_frames) == 3 and all(f is plain_frames[0] for f in plain_frames)
            assert len(comp) == 2 and comp[0] is comp[1] and len(comp[0]) < len(msg) // 4
            for ws in plain + nct + [ct]:
                await ws.close()
    run(main())


def _stalled(port):
    r = RawSub(port, rcvbuf=4096)
    r.read_until(0)
    r.send_text("sub t")
    assert r.read_until(1)[0].payload == b"ok sub t"
    return r


@pytest.mark.parametrize("policy", ["drop", "close"])
def test_stalled_subscriber_does_not_delay_or_grow(policy):
    async def main():
        async with serve(commands, "127.0.0.1", 0, compression=None) as server:
            server.pubsub = PubSub(max_buffered=256 * 1024, on_overflow=policy)
            loop = asyncio.get_running_loop()
            stalled = await loop.run_in_executor(None, _stalled, server.port)
            healthy = await connect(server.url, compression=None)
            await _cmd(healthy, "sub t")
            payload = b"z" * 16384
            deadline = loop.time() + 15
            while not (server.pubsub.dropped or server.pubsub.closed_over_budget) and loop.time() < deadline:
                for _ in range(8):  # the healthy subscriber gets every message, in time
                    server.publish("t", payload)
                for _ in range(8):
                    assert await healthy.recv(timeout=5) == payload
            if policy == "drop":
                assert server.pubsub.dropped >= 1 and server.pubsub.closed_over_budget == 0
            else:
                assert server.pubsub.closed_over_budget == 1 and server.pubsub.dropped == 0
            for ws in server.connections:
                assert ws.transport.get_write_buffer_size() <= 256 * 1024 + 200
            stalled.sock.close()
            await healthy.close()
    run(main())
