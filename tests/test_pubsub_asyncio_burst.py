"""Bursts on asyncio: every publish of a loop pass is written once per subscriber, at the end of the
pass (one transport.write), with publish order, ws.send/close order and the budget kept; on both the
coroutine API (serve(handler)) and the callback API (serve(app=...))."""

from __future__ import annotations

import asyncio
import socket

import pytest

from _pubsub_helpers import Commands, RawSub, until

from wsframe.asyncio import connect, serve
from wsframe.codec import build_frame
from wsframe.asyncio._app_pubsub import AppWebSocket
from wsframe.asyncio.server import ServerWebSocket
from wsframe.exceptions import ConnectionClosed
from wsframe.pubsub import PubSub, broadcast
from test_pubsub_asyncio import _cmd, commands, run


def _serve(api):
    if api == "handler":
        return serve(commands, "127.0.0.1", 0, compression=None)
    return serve(app=Commands(), host="127.0.0.1", port=0, compression=None)


def _ws_class(api):
    return ServerWebSocket if api == "handler" else AppWebSocket


def _server_ws(server):
    (ws,) = server.connections
    return ws


APIS = ["handler", "app"]


@pytest.mark.parametrize("api", APIS)
def test_a_burst_is_one_write_per_subscriber(api, monkeypatch):
    writes = []
    orig = _ws_class(api).pubsub_write

    def spy(self, frame, budget):
        writes.append(frame)
        return orig(self, frame, budget)

    monkeypatch.setattr(_ws_class(api), "pubsub_write", spy)

    async def main():
        async with _serve(api) as server:
            clients = [await connect(server.url, compression=None) for _ in range(3)]
            for c in clients:
                await _cmd(c, "sub t")
            msgs = [f"m{i:02d}" for i in range(10)]
            assert [server.publish("t", m) for m in msgs] == [3] * 10
            assert writes == []  # nothing per subscriber until the end of the pass
            for c in clients:
                assert [await c.recv(timeout=5) for _ in msgs] == msgs
            assert [len(f) for f in writes] == [50] * 3  # ten 5-byte frames, joined, once each
            writes.clear()
            assert server.publish("t", "one") == 3
            for c in clients:
                assert await c.recv(timeout=5) == "one"
            assert len(writes) == 3 and writes[0] is writes[1] is writes[2]  # the shared frame itself
            for c in clients:
                await c.close()
    run(main())


@pytest.mark.parametrize("api", APIS)
def test_order_across_topics_sends_and_close_in_one_pass(api):
    async def main():
        async with _serve(api) as server:
            a = await connect(server.url, compression=None)
            await _cmd(a, "sub t1")
            await _cmd(a, "sub t2")
            ws = _server_ws(server)
            for topic, m in (("t1", "1"), ("t1", "2"), ("t2", "3"), ("t1", "4"), ("t1", "5")):
                server.publish(topic, m)
            sent = ws.send("6")  # after the frames published before it
            if sent is not None:
                await sent
            server.publish("t1", "7")
            server.publish("t1", "8")
            server.broadcast([ws], "9")
            server.publish("t1", "10")
            ws.publish("t2", "none: ws itself is excluded")
            server.publish("t2", "11")
            server.publish("t2", "12")
            closing = ws.close(1000, "done")  # after them too
            if closing is not None:
                closing = asyncio.ensure_future(closing)
            got = []
            for _ in range(12):
                got.append(await a.recv(timeout=5))
            assert got == [str(i) for i in range(1, 13)], got
            with pytest.raises(ConnectionClosed) as info:
                await a.recv(timeout=5)
            assert info.value.code == 1000
            if closing is not None:
                await closing
    run(main())


def test_replies_queued_before_a_publish_go_first():
    """A reply the handler queued (a batch of input answered, not yet flushed) was sent before
    the publish: it is written before the published frame."""
    async def handler(ws):
        ws.subscribe("t")
        async for data in ws:
            await ws.send("reply " + data)  # part of a batch when several messages came in one read
            if data == "2":
                ws.server.publish("t", "published")

    async def main():
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            raw = RawSub(server.port)
            raw.sock.sendall(b"".join(build_frame(1, m, client=True) for m in ("1", "2", "3")))  # one read
            loop = asyncio.get_running_loop()
            frames = await loop.run_in_executor(None, raw.read_until, 4)
            assert [f.payload for f in frames] == [b"reply 1", b"reply 2", b"published", b"reply 3"]
            raw.sock.close()
    run(main())


@pytest.mark.parametrize("api", APIS)
def test_budget_is_per_message_inside_a_burst(api):
    """The joined burst is over budget: its frames are tried one by one; what the kernel and
    the budget take arrives in order, the rest is dropped and counted, nothing is reordered."""
    async def main():
        async with _serve(api) as server:
            drops = []
            server.pubsub = PubSub(max_buffered=3100, on_overflow="drop",
                                   on_drop=lambda sub, topic, msg: drops.append(msg))
            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(None, lambda: RawSub(server.port, rcvbuf=4096))
            raw.send_text("sub t")
            assert (await loop.run_in_executor(None, raw.read_until, 1))[0].payload == b"ok sub t"
            ws = _server_ws(server)
            t = ws.transport if api == "handler" else ws.transport.transport
            t.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # the budget decides
            msgs = [b"%03d" % i + b"x" * 997 for i in range(300)]  # 1,004-byte frames
            for m in msgs:
                server.publish("t", m)
            for _ in range(100):
                if drops:
                    break
                await asyncio.sleep(0)
            n = len(msgs) - len(drops)
            assert 3 <= n < len(msgs) and drops == msgs[n:]  # a prefix kept, the rest dropped
            assert server.pubsub.dropped == len(drops) and server.pubsub.dropped_for(ws) == len(drops)
            frames = await loop.run_in_executor(None, raw.read_until, n)
            assert [f.payload for f in frames] == msgs[:n]
            server.publish("t", b"after")  # the budget is free again
            assert (await loop.run_in_executor(None, raw.read_until, 1))[0].payload == b"after"
            raw.sock.close()
    run(main())


def test_app_api_topics_self_delivery_and_broadcast():
    async def main():
        async with _serve("app") as server:
            a = await connect(server.url, compression=None)
            b = await connect(server.url, compression=None)
            await _cmd(a, "sub t")
            await _cmd(b, "sub t")
            assert server.pubsub.subscriber_count("t") == 2
            await a.send("pub t own")  # server.publish from a callback: a gets its own message first
            assert await a.recv(timeout=5) == "own"
            assert await a.recv(timeout=5) == "ok pub t own"
            assert await b.recv(timeout=5) == "own"
            await a.send("wspub t notme")  # ws.publish: not to a itself
            assert await a.recv(timeout=5) == "ok wspub t notme"
            assert await b.recv(timeout=5) == "notme"
            assert broadcast(server.connections, b"all") == 2  # the module function on these handles
            assert await a.recv(timeout=5) == b"all" and await b.recv(timeout=5) == b"all"
            await _cmd(b, "unsub t")
            assert server.publish("t", "only a") == 1
            assert await a.recv(timeout=5) == "only a"
            await a.close()
            await b.close()
            await until(lambda: not server.pubsub.topics, 2.0)
            assert server.pubsub.topics == []  # closed connections are forgotten
    run(main())
