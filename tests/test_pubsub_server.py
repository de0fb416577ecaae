"""Pub/sub on the selectors server: topics, ordering, self-delivery, closing
connections, limits, frames built once (identity at the Subscriber interface),
compression shared or per connection, and the overflow policies."""

from __future__ import annotations

import threading
import time

import pytest

from _pubsub_helpers import Commands, RawSub
from test_server_helpers import S, wait_for

from wsframe import client
from wsframe.exceptions import ConnectionClosed
from wsframe.permessage_deflate import ClientPerMessageDeflate, ServerPerMessageDeflate
from wsframe.pubsub import PubSub, TopicLimitError
from wsframe.server.app import SelectorsWebSocket as ServerWebSocket  # the class of the selectors server's connections


@pytest.fixture
def server():
    with S.running_server(Commands()) as srv:
        yield srv


def _cmd(ws, text):
    ws.send(text)
    assert ws.recv(timeout=5) == "ok " + text


def _on_loop(server, fn):
    """Run fn() in the server's thread and return its result."""
    done = threading.Event()
    box = []

    def run():
        try:
            box.append(fn())
        except Exception as exc:
            box.append(exc)
        done.set()

    server.call_soon_threadsafe(run)
    assert done.wait(5)
    if isinstance(box[0], Exception):
        raise box[0]
    return box[0]


def test_publish_reaches_subscribers_in_order_text_and_binary(server):
    a = client.connect(server.url)
    b = client.connect(server.url)
    c = client.connect(server.url)
    _cmd(a, "sub news")
    _cmd(b, "sub news")
    _cmd(b, "sub sport")
    # c holds no topic: it gets nothing.
    for i in range(100):
        topic = "news" if i % 3 else "sport"
        n = _on_loop(server, lambda i=i, topic=topic: server.publish(topic, f"{topic}{i}" if i % 2 else
                                                                        f"{topic}{i}".encode()))
        assert n == (2 if topic == "news" else 1)
    want_b = [f"{'news' if i % 3 else 'sport'}{i}" for i in range(100)]
    got_b = [b.recv(timeout=5) for _ in range(100)]
    assert [g.decode() if isinstance(g, bytes) else g for g in got_b] == want_b
    assert isinstance(got_b[1], str) and isinstance(got_b[2], bytes)  # text stays text, binary binary
    got_a = [a.recv(timeout=5) for _ in range(sum(1 for i in range(100) if i % 3))]
    assert [g.decode() if isinstance(g, bytes) else g for g in got_a] == [w for w in want_b if w.startswith("news")]
    _cmd(c, "ping")  # c's first message is its own command's answer: it got no publication
    _cmd(b, "unsub news")
    assert _on_loop(server, lambda: server.publish("news", "after")) == 1
    assert a.recv(timeout=5) == "after"
    _cmd(b, "ping")  # nothing arrived before the answer
    for ws in (a, b, c):
        ws.close()


def test_publisher_receives_own_message_unless_ws_publish(server):
    a = client.connect(server.url)
    b = client.connect(server.url)
    _cmd(a, "sub t")
    _cmd(b, "sub t")
    a.send("pub t one")  # server.publish: a subscribed, so a gets it too (before its "ok")
    assert a.recv(timeout=5) == "one"
    assert a.recv(timeout=5) == "ok pub t one"
    assert b.recv(timeout=5) == "one"
    a.send("wspub t two")  # ws.publish: everyone but a
    assert a.recv(timeout=5) == "ok wspub t two"
    assert b.recv(timeout=5) == "two"
    a.close()
    b.close()


def test_closing_connection_receives_nothing_and_is_forgotten(server):
    a = client.connect(server.url)
    _cmd(a, "sub t")
    wait_for(lambda: server.pubsub.subscriber_count("t") == 1)
    ws = next(iter(server.connections))
    assert _on_loop(server, lambda: (ws.close(1000, "bye"), server.publish("t", "late"))[1]) == 0
    with pytest.raises(ConnectionClosed):
        while True:  # only the close arrives, never "late"
            assert a.recv(timeout=5) != "late"
    wait_for(lambda: server.pubsub.subscriber_count("t") == 0, what="closed subscriber forgotten")
    assert server.pubsub.topics == []


def test_topic_limits(server):
    server.pubsub = PubSub(max_topics=3, max_topic_length=8)
    a = client.connect(server.url)
    _cmd(a, "sub x")
    wait_for(lambda: server.connections)
    ws = server.connections[0]
    assert _on_loop(server, lambda: ws.subscribe("x")) is False  # already
    _on_loop(server, lambda: (ws.subscribe("y"), ws.subscribe("z")))
    with pytest.raises(TopicLimitError):
        _on_loop(server, lambda: ws.subscribe("w"))
    with pytest.raises(TopicLimitError):
        PubSub(max_topic_length=8).subscribe(ws, "123456789")
    with pytest.raises(TypeError):
        PubSub().subscribe(ws, b"x")  # type: ignore[arg-type]
    assert server.pubsub.topics_of(ws) == ["x", "y", "z"]
    a.close()


def test_one_frame_object_for_every_plain_subscriber(server, monkeypatch):
    """The Subscriber interface is handed the same bytes object for every subscriber."""
    seen = []
    orig = ServerWebSocket.pubsub_write

    def spy(self, frame, budget):
        seen.append(frame)
        return orig(self, frame, budget)

    monkeypatch.setattr(ServerWebSocket, "pubsub_write", spy)
    clients = [client.connect(server.url, compression=False) for _ in range(5)]
    for ws in clients:
        _cmd(ws, "sub t")
    assert _on_loop(server, lambda: server.publish("t", "x" * 1000)) == 5
    assert len(seen) == 5 and all(f is seen[0] for f in seen) and type(seen[0]) is bytes
    for ws in clients:
        assert ws.recv(timeout=5) == "x" * 1000
        ws.close()


@pytest.fixture
def deflate_server():
    with S.running_server(Commands(), extensions=[ServerPerMessageDeflate()]) as srv:
        yield srv


def test_deflate_shared_without_context_takeover_and_per_connection_with_it(deflate_server, monkeypatch):
    server = deflate_server
    seen = []
    orig = ServerWebSocket.pubsub_write
    sent = []
    orig_send = ServerWebSocket.pubsub_send

    def spy(self, frame, budget):
        seen.append(frame)
        return orig(self, frame, budget)

    def spy_send(self, message, budget):
        sent.append(message)
        return orig_send(self, message, budget)

    monkeypatch.setattr(ServerWebSocket, "pubsub_write", spy)
    monkeypatch.setattr(ServerWebSocket, "pubsub_send", spy_send)
    nct = [client.connect(server.url, extensions=[ClientPerMessageDeflate(server_no_context_takeover=True)])
           for _ in range(3)]
    ct = [client.connect(server.url, extensions=[ClientPerMessageDeflate()]) for _ in range(2)]
    plain = client.connect(server.url, compression=False)
    for ws in nct + ct + [plain]:
        _cmd(ws, "sub t")
    msg = "compressible " * 200
    for _ in range(3):
        assert _on_loop(server, lambda: server.publish("t", msg)) == 6
    # 3 shared compressed + 1 plain per publish through pubsub_write; 2 per-connection sends.
    assert len(seen) == 12 and len(sent) == 6
    per_publish = [seen[i * 4:(i + 1) * 4] for i in range(3)]
    for group in per_publish:
        compressed = [f for f in group if f[0] & 0x40]
        assert len(compressed) == 3 and all(f is compressed[0] for f in compressed)
        assert len(compressed[0]) < len(msg) // 4  # really compressed
    for ws in nct + ct + [plain]:
        assert [ws.recv(timeout=5) for _ in range(3)] == [msg] * 3
        ws.close()


def _stalled_subscriber(server, topic):
    """A raw-socket subscriber that never reads after its subscription is confirmed."""
    r = RawSub(server.port, rcvbuf=4096)
    r.read_until(0)
    r.send_text("sub " + topic)
    assert r.read_until(1)[0].payload == b"ok sub " + topic.encode()
    return r


def test_overflow_drop_counts_and_calls_back(server):
    drops = []
    server.pubsub = PubSub(max_buffered=64 * 1024, on_overflow="drop",
                           on_drop=lambda sub, topic, msg: drops.append((topic, len(msg))))
    stalled = _stalled_subscriber(server, "t")
    healthy = client.connect(server.url, max_queue=None)
    _cmd(healthy, "sub t")
    payload = b"x" * 4096
    sent = 0
    deadline = time.monotonic() + 10
    while server.pubsub.dropped == 0 and time.monotonic() < deadline:
        _on_loop(server, lambda: server.publish("t", payload))
        sent += 1
        assert healthy.recv(timeout=5) == payload  # the healthy one keeps up and gets all
    assert server.pubsub.dropped >= 1 and drops and drops[0] == ("t", 4096)
    ws_stalled = [w for w in server.connections if server.pubsub.dropped_for(w)]
    assert len(ws_stalled) == 1 and ws_stalled[0].buffered_amount <= 64 * 1024
    assert sent < 10_000
    stalled.sock.close()
    healthy.close()


def test_overflow_close_1013(server):
    server.pubsub = PubSub(max_buffered=64 * 1024)  # default policy: close with 1013
    stalled = _stalled_subscriber(server, "t")
    deadline = time.monotonic() + 10
    while server.pubsub.closed_over_budget == 0 and time.monotonic() < deadline:
        _on_loop(server, lambda: server.publish("t", b"y" * 4096))
    assert server.pubsub.closed_over_budget == 1
    # Its close frame waits behind the backlog; reading now drains it: 1013 arrives.
    frames = []
    stalled.sock.settimeout(5)
    while True:
        data = stalled.sock.recv(1 << 20)
        if not data:
            break
        stalled.feed(data)
        frames.extend(stalled.frames)
        stalled.frames = []
        if frames and frames[-1].opcode == 8:
            break
    assert frames[-1].opcode == 8 and int.from_bytes(frames[-1].payload[:2], "big") == 1013
    assert all(f.payload == b"y" * 4096 for f in frames[:-1])
    stalled.sock.close()
