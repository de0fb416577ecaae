"""wsframe.pubsub alone, with recording Subscribers: frames built once and
shared, text/binary opcodes, deflate shared per setting or per connection,
budgets and both overflow policies, topic limits, exclude, broadcast,
backplane notifications, discard; the Redis-free import."""

from __future__ import annotations

import zlib

import pytest

from wsframe.codec import FrameParser
from wsframe.permessage_deflate import PerMessageDeflate
from wsframe.pubsub import CLOSED, OVER_BUDGET, PubSub, TopicLimitError, broadcast


class Rec:
    """A Subscriber that records what it is given."""

    def __init__(self, exts=(), queued=0, is_open=True):
        self.frames = []
        self.sent = []
        self.exts = list(exts)
        self.queued = queued
        self.open = is_open
        self.closed = None

    def pubsub_write(self, frame, budget):
        if not self.open:
            return CLOSED
        if self.queued + len(frame) > budget:
            return OVER_BUDGET
        self.queued += len(frame)
        self.frames.append(frame)
        return 0

    def pubsub_send(self, message, budget):
        if self.queued >= budget:
            return OVER_BUDGET
        self.sent.append(message)
        return 0

    def pubsub_extensions(self):
        return self.exts

    def pubsub_close(self, code, reason):
        self.closed = (code, reason)
        self.open = False


def _parse(frame):
    return list(FrameParser(server=False, max_frame_size=None, allowed_rsv=0x40).feed(frame))


def test_same_bytes_object_for_every_plain_subscriber_and_opcodes():
    ps = PubSub()
    subs = [Rec() for _ in range(50)]
    for s in subs:
        ps.subscribe(s, "t")
    assert ps.publish("t", "héllo") == 50
    assert ps.publish("t", bytearray(b"\x00\x01")) == 50
    first = subs[0].frames
    for s in subs:
        assert s.frames[0] is first[0] and s.frames[1] is first[1]
    (f,) = _parse(first[0])
    assert f.opcode == 1 and f.payload == "héllo".encode() and f.fin
    (f,) = _parse(first[1])
    assert f.opcode == 2 and f.payload == b"\x00\x01"


def test_deflate_shared_per_setting_and_per_connection_with_context_takeover():
    ps = PubSub()
    nct9 = [Rec([PerMessageDeflate(local_no_context_takeover=True, local_max_window_bits=9)]) for _ in range(3)]
    nct15 = [Rec([PerMessageDeflate(local_no_context_takeover=True)]) for _ in range(2)]
    ct = Rec([PerMessageDeflate()])
    for s in nct9 + nct15 + [ct]:
        ps.subscribe(s, "t")
    msg = "tick " * 300
    assert ps.publish("t", msg) == 6
    assert all(s.frames[0] is nct9[0].frames[0] for s in nct9)
    assert all(s.frames[0] is nct15[0].frames[0] for s in nct15)
    assert nct9[0].frames[0] is not nct15[0].frames[0]
    assert ct.sent == [msg] and ct.frames == []
    for frame, bits in ((nct9[0].frames[0], 9), (nct15[0].frames[0], 15)):
        (f,) = _parse(frame)
        assert f.rsv1 and f.opcode == 1
        assert zlib.decompressobj(-bits).decompress(f.payload + b"\x00\x00\xff\xff").decode() == msg
    ps.publish("t", "tiny")  # under the threshold: the plain frame, shared with plain subscribers
    (f,) = _parse(nct9[0].frames[1])
    assert not f.rsv1 and f.payload == b"tiny"


def test_budget_drop_policy_counts_and_calls_back():
    drops = []
    ps = PubSub(max_buffered=100, on_overflow="drop", on_drop=lambda s, t, m: drops.append((s, t, m)))
    slow, ok = Rec(queued=90), Rec()
    ps.subscribe(slow, "t")
    ps.subscribe(ok, "t")
    assert ps.publish("t", b"x" * 20) == 1
    assert ps.dropped == 1 and ps.dropped_for(slow) == 1 and drops == [(slow, "t", b"x" * 20)]
    assert len(ok.frames) == 1 and slow.frames == [] and slow.closed is None


def test_budget_close_policy():
    ps = PubSub(max_buffered=100, close_code=1008)
    slow = Rec(queued=95)
    ps.subscribe(slow, "t")
    assert ps.publish("t", b"x" * 10) == 0
    assert slow.closed == (1008, "subscriber too slow") and ps.closed_over_budget == 1
    assert ps.publish("t", b"x") == 0 and ps.closed_over_budget == 1  # closing: nothing more, no new count


def test_limits_and_arguments():
    ps = PubSub(max_topics=2, max_topic_length=4)
    s = Rec()
    assert ps.subscribe(s, "a") and not ps.subscribe(s, "a")
    ps.subscribe(s, "b")
    with pytest.raises(TopicLimitError):
        ps.subscribe(s, "c")
    with pytest.raises(TopicLimitError):
        PubSub(max_topic_length=4).subscribe(s, "toolong")
    with pytest.raises(TopicLimitError):
        ps.subscribe(Rec(), "")
    with pytest.raises(ValueError):
        PubSub(on_overflow="block")
    with pytest.raises(ValueError):
        PubSub(close_code=1000)
    assert ps.topics_of(s) == ["a", "b"] and ps.unsubscribe(s, "a") and not ps.unsubscribe(s, "a")


def test_exclude_broadcast_closed_and_discard():
    ps = PubSub()
    a, b, gone = Rec(), Rec(), Rec(is_open=False)
    for s in (a, b, gone):
        ps.subscribe(s, "t")
    assert ps.publish("t", "m", exclude=a) == 1 and a.frames == [] and len(b.frames) == 1
    assert broadcast([a, b, Rec()], "x") == 3
    ps.discard(gone)
    ps.discard(gone)
    assert ps.subscriber_count("t") == 2
    assert ps.publish("nobody", "m") == 0


def test_backplane_hears_first_and_last_subscriber_only():
    calls = []

    class BP:
        def topic_added(self, t):
            calls.append(("+", t))

        def topic_removed(self, t):
            calls.append(("-", t))

        def publish(self, t, m):
            calls.append(("pub", t, m))

    ps = PubSub()
    ps.backplane = BP()
    a, b = Rec(), Rec()
    ps.subscribe(a, "t")
    ps.subscribe(b, "t")
    ps.publish("t", "m")
    ps.deliver("t", "remote")  # from the backplane: not sent back to it
    ps.unsubscribe(a, "t")
    ps.discard(b)
    assert calls == [("+", "t"), ("pub", "t", "m"), ("-", "t")]
    assert len(b.frames) == 2


def test_runs_join_a_burst_until_flush_runs():
    """With a layer's batch hook set, consecutive publishes to one topic after the first are
    joined and handed over by flush_runs; another topic or broadcast writes them first."""
    def _msgs(frame):
        return [(f.opcode, f.payload) for f in _parse(frame)]

    ps = PubSub()
    scheduled = []
    ps.batch = lambda: scheduled.append(1)
    a, b = Rec(), Rec()
    ps.subscribe(a, "t")
    ps.subscribe(b, "t")
    ps.subscribe(a, "u")
    assert [ps.publish("t", m) for m in ("1", "2", "3")] == [2, 2, 2]
    assert scheduled and [_msgs(f) for f in a.frames] == [[(1, b"1")]]  # the first at once
    ps.publish("u", "4")  # another topic: the pending run goes first
    assert [_msgs(f) for f in a.frames] == [[(1, b"1")], [(1, b"2"), (1, b"3")], [(1, b"4")]]
    assert [_msgs(f) for f in b.frames] == [[(1, b"1")], [(1, b"2"), (1, b"3")]]
    ps.publish("u", "5")
    ps.flush_runs()
    ps.broadcast([b], "6")
    assert [_msgs(f) for f in a.frames][-1] == [(1, b"5")]
    assert [_msgs(f) for f in b.frames][-1] == [(1, b"6")]
    ps.flush_runs()  # nothing pending: no-op
    assert len(a.frames) == 4 and len(b.frames) == 3


def test_deferred_runs_write_each_subscriber_once_per_pass_in_publish_order():
    """defer (asyncio layers): even the first publish waits for flush_runs; publishes to other
    topics start new runs instead of flushing, so the order across topics is kept."""
    def _msgs(frame):
        return [(f.opcode, f.payload) for f in _parse(frame)]

    ps = PubSub()
    scheduled = []
    ps.batch = lambda: scheduled.append(1)
    ps.defer = True
    a, b = Rec(), Rec()
    ps.subscribe(a, "t")
    ps.subscribe(b, "t")
    ps.subscribe(a, "u")
    for m in ("1", "2"):
        ps.publish("t", m)
    ps.publish("u", "3")
    ps.publish("t", "4")
    assert a.frames == [] and b.frames == [] and scheduled == [1]  # nothing written, one flush asked
    ps.flush_runs()
    assert [_msgs(f) for f in a.frames] == [[(1, b"1"), (1, b"2")], [(1, b"3")], [(1, b"4")]]
    assert [_msgs(f) for f in b.frames] == [[(1, b"1"), (1, b"2")], [(1, b"4")]]
    ps.publish("t", "5")
    assert scheduled == [1, 1]  # a new pass asks again
    ps.flush_runs()
    assert [_msgs(f) for f in b.frames][-1] == [(1, b"5")]
