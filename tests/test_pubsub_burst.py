"""Bursts on the selectors server: consecutive publishes to one topic in a loop pass are joined and
written once per subscriber (PubSub.flush_runs), with publish order, ws.send order and the budget kept."""

from __future__ import annotations

import threading

import pytest

from _pubsub_helpers import Commands
from test_server_helpers import S, wait_for

from wsframe import client
from wsframe.exceptions import ConnectionClosed
from wsframe.pubsub import PubSub
from wsframe.server.app import SelectorsWebSocket as ServerWebSocket  # the class of the selectors server's connections


@pytest.fixture
def server():
    with S.running_server(Commands()) as srv:
        yield srv


def _cmd(ws, text):
    ws.send(text)
    assert ws.recv(timeout=5) == "ok " + text


def _on_loop(server, fn):
    """Run fn() in the server's thread (one loop pass) and return its result."""
    done = threading.Event()
    box = []
    server.call_soon_threadsafe(lambda: (box.append(fn()), done.set()))
    assert done.wait(5)
    return box[0]


def test_a_burst_is_one_write_per_subscriber(server, monkeypatch):
    writes = []
    orig = ServerWebSocket.pubsub_write

    def spy(self, frame, budget):
        writes.append(len(frame))
        return orig(self, frame, budget)

    monkeypatch.setattr(ServerWebSocket, "pubsub_write", spy)
    clients = [client.connect(server.url, compression=False) for _ in range(3)]
    for c in clients:
        _cmd(c, "sub t")
    msgs = [f"m{i:02d}" for i in range(10)]
    counts = _on_loop(server, lambda: [server.publish("t", m) for m in msgs])
    assert counts == [3] * 10
    # Every publish of the pass waits for its end (PubSub.defer), then the ten frames are
    # joined once: 3 writes, not 30.
    assert writes == [50] * 3
    for c in clients:
        assert [c.recv(timeout=5) for _ in msgs] == msgs
        c.close()


def test_order_across_topics_and_sends_in_one_pass(server):
    a = client.connect(server.url, compression=False)
    _cmd(a, "sub t1")
    _cmd(a, "sub t2")
    wait_for(lambda: server.pubsub.subscriber_count("t2") == 1)
    ws = server.connections[0]

    def burst():
        for topic, m in (("t1", "1"), ("t1", "2"), ("t2", "3"), ("t1", "4"), ("t1", "5")):
            server.publish(topic, m)
        ws.send("6")  # after the frames published before it
        server.publish("t1", "7")
        server.publish("t1", "8")
        server.broadcast([ws], "9")
        server.publish("t1", "10")
        server.publish("t1", "11")
        ws.publish("t2", "none: ws itself is excluded")
        server.publish("t2", "12")
        server.publish("t2", "13")
        ws.close(1000, "done")  # after them too

    _on_loop(server, burst)
    got = [a.recv(timeout=5) for _ in range(13)]
    assert got == [str(i) for i in range(1, 14)]


def test_budget_is_per_message_inside_a_burst(server):
    drops = []
    server.pubsub = PubSub(max_buffered=3100, on_overflow="drop",
                           on_drop=lambda sub, topic, msg: drops.append(msg[:3]))
    a = client.connect(server.url, compression=False)
    _cmd(a, "sub t")
    wait_for(lambda: server.pubsub.subscriber_count("t") == 1)
    msgs = [b"%03d" % i + b"x" * 997 for i in range(10)]  # 1,004-byte frames: 3 fit the budget
    _on_loop(server, lambda: [server.publish("t", m) for m in msgs])
    assert [a.recv(timeout=5) for _ in range(3)] == msgs[:3]
    assert drops == [b"%03d" % i for i in range(3, 10)]
    assert server.pubsub.dropped == 7
    _on_loop(server, lambda: server.publish("t", b"after"))  # the budget is free again next pass
    assert a.recv(timeout=5) == b"after"
    a.close()


def test_a_close_by_the_server_comes_after_the_burst(server):
    """What the server itself closes (graceful stop, an application error) goes through
    Transport.close: the frames published before it still go first."""
    a = client.connect(server.url, compression=False)
    _cmd(a, "sub t")
    wait_for(lambda: server.pubsub.subscriber_count("t") == 1)
    ws = server.connections[0]
    msgs = [f"m{i}" for i in range(5)]
    _on_loop(server, lambda: ([server.publish("t", m) for m in msgs], ws.transport.close(1001, "bye")))
    assert [a.recv(timeout=5) for _ in msgs] == msgs
    with pytest.raises(ConnectionClosed) as info:
        a.recv(timeout=5)
    assert info.value.code == 1001
