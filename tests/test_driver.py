"""wsframe._driver: the transport rules, driven with a fake clock over real sans-I/O connections."""

from __future__ import annotations

import pytest

from wsframe import _driver as d
from wsframe.codec import build_frame
from wsframe.connection import ClientConnection, ServerConnection, State
from wsframe.events import BinaryMessage, Closed
from wsframe.limits import Limits


def open_pair(**limits):
    lim = Limits(**limits)
    client = ClientConnection("example.com", "/")
    server = ServerConnection(**lim.connection_kwargs())
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert server.state is State.OPEN
    server.events()
    client.events()
    return server, client, d.Driver(server, lim, 100.0)


def masked(opcode, payload=b"", fin=True):
    return build_frame(opcode, payload, fin=fin, client=True)


def test_opening_deadline_aborts():
    conn = ServerConnection()
    drv = d.Driver(conn, Limits(open_timeout=5.0), 100.0)
    assert drv.check(104.0) == d.KEEP
    assert drv.check(105.5) == d.ABORT


def test_idle_closes_1001_and_input_resets_it():
    server, client, drv = open_pair(idle_timeout=10.0)
    assert drv.check(109.0) == d.KEEP
    drv.active = True  # input at 109
    assert drv.check(109.0) == d.KEEP
    assert drv.check(118.0) == d.KEEP
    assert drv.check(119.5) == d.FLUSH
    assert server.state is State.CLOSING
    client.receive_data(server.data_to_send())
    closed = [e for e in client.events() if isinstance(e, Closed)]
    assert closed and closed[0].code == 1001 and closed[0].reason == d.REASON_IDLE


def test_keepalive_ping_then_fail():
    server, client, drv = open_pair(ping_interval=5.0, ping_timeout=2.0)
    assert drv.check(104.0) == d.KEEP
    assert drv.check(105.5) == d.PING  # the layer sends it
    assert drv.check(106.0) == d.KEEP  # once
    assert drv.check(107.0) == d.KEEP
    assert drv.check(107.6) == d.FAIL
    client.receive_data(server.data_to_send())
    closed = [e for e in client.events() if isinstance(e, Closed)]
    assert closed[0].code == 1011 and closed[0].reason == d.REASON_KEEPALIVE


def test_keepalive_answered_sends_no_close():
    server, _, drv = open_pair(ping_interval=5.0, ping_timeout=2.0)
    assert drv.check(105.5) == d.PING
    drv.active = True  # the pong (or anything) arrived
    assert drv.check(107.6) == d.KEEP
    assert server.state is State.OPEN


def test_message_timeout_1008_and_paused_reading_excuses_it():
    server, _, drv = open_pair(message_timeout=10.0)
    server.receive_data(masked(2, b"part", fin=False))
    assert server.message_in_progress
    drv.reading_paused = True
    assert drv.check(101.0) == d.KEEP
    assert drv.check(200.0) == d.KEEP  # we stopped reading: not the peer's fault
    drv.reading_paused = False
    assert drv.check(201.0) == d.KEEP  # watching from here
    assert drv.check(210.0) == d.KEEP
    assert drv.check(211.5) == d.FLUSH
    assert server.state is State.CLOSING
    assert d.REASON_MESSAGE.encode() in server.data_to_send()


def test_completed_message_restarts_the_watch():
    server, _, drv = open_pair(message_timeout=10.0)
    server.receive_data(masked(2, b"a", fin=False))
    assert drv.check(101.0) == d.KEEP
    drv.got_message = True  # another message completed meanwhile
    assert drv.check(112.0) == d.KEEP
    assert server.state is State.OPEN


def test_write_stall_aborts():
    _, _, drv = open_pair(write_timeout=3.0)
    drv.stalled_since = 100.0
    assert drv.check(102.0) == d.KEEP
    assert drv.check(103.5) == d.ABORT
    drv.stalled_since = 0.0
    assert drv.check(200.0) == d.KEEP


def test_closing_handshake_deadline():
    server, _, drv = open_pair(close_timeout=4.0)
    server.close(1000)
    drv.closing(100.0)
    assert drv.check(103.0) == d.KEEP
    assert drv.check(104.5) == d.ABORT


def test_drain_deadline_is_the_shorter_of_drain_and_close_timeout():
    _, _, drv = open_pair(close_timeout=1.0, drain_time=2.0)
    drv.draining(100.0)
    assert drv.check(100.9) == d.KEEP
    assert drv.check(101.1) == d.ABORT
    _, _, drv = open_pair(close_timeout=None, drain_time=2.0)
    drv.draining(100.0)
    assert drv.check(101.9) == d.KEEP
    assert drv.check(102.1) == d.ABORT


def test_drain_byte_budget():
    _, _, drv = open_pair(drain_bytes=100)
    drv.draining(100.0)
    assert not drv.discard(60)
    assert not drv.discard(40)
    assert drv.discard(1)


def test_held_failure_waits_for_the_answer():
    server, client, drv = open_pair()
    drv.delivered()  # a message is queued for the application
    server.receive_data(masked(1, b"\xff"))  # invalid UTF-8, arriving in a later read
    assert server.failure_pending and server.state is State.OPEN
    server.send_binary(b"answer")
    assert drv.answered()
    assert not server.hold_failures
    out = server.data_to_send()
    assert out.index(b"answer") < out.index(b"\x88")  # the answer before the close frame
    client.receive_data(out)
    closed = [e for e in client.events() if isinstance(e, Closed)]
    assert closed[0].code == 1007


def test_held_failure_applied_after_grace():
    server, _, drv = open_pair(failure_grace=5.0, close_timeout=10.0)
    drv.delivered()
    server.receive_data(masked(1, b"\xff"))
    assert drv.check(101.0) == d.KEEP  # grace starts
    assert drv.check(105.9) == d.KEEP
    assert drv.check(106.1) == d.FLUSH
    assert not server.failure_pending and server.state is State.CLOSED


def test_answered_without_failure_is_false():
    server, _, drv = open_pair()
    server.receive_data(masked(2, b"x"))
    assert [type(e) for e in server.events()] == [BinaryMessage]
    assert not drv.answered()


def test_grace_is_capped_by_close_timeout():
    assert d.failure_grace(Limits(failure_grace=5.0, close_timeout=1.0)) == 1.0
    assert d.failure_grace(Limits(failure_grace=5.0, close_timeout=None)) == 5.0


def test_coalescing_cap():
    _, _, drv = open_pair(coalesce_bytes=100)
    assert drv.may_coalesce(99)
    assert not drv.may_coalesce(100)


@pytest.mark.parametrize("kwargs,expected", [({}, 1.0), (dict(ping_interval=0.2), 0.05),
                                             (dict(open_timeout=0.001), 0.01)])
def test_tick_interval(kwargs, expected):
    assert d.tick_interval(Limits(**kwargs)) == pytest.approx(expected)


def test_fragment_flood_is_stopped_at_the_derived_cap():
    server, client, _ = open_pair(max_message_size=1000)  # cap: MIN_FRAGMENTS
    frames = [masked(2, b"", fin=False)] + [masked(0, b"", fin=False)] * 5000
    server.receive_data(b"".join(frames))
    client.receive_data(server.data_to_send())
    closed = [e for e in client.events() if isinstance(e, Closed)]
    assert closed and closed[0].code == 1009


def test_tick_asks_the_layer_for_what_check_returned():
    calls = []

    class Layer:
        def deadline_flush(self):
            calls.append("flush")

        def deadline_ping(self):
            calls.append("ping")

        def deadline_abort(self):
            calls.append("abort")

        def deadline_fail(self):
            calls.append("fail")

    server, _, drv = open_pair(ping_interval=5.0, ping_timeout=2.0, idle_timeout=100.0, write_timeout=50.0)
    layer = Layer()
    drv.tick(101.0, layer)
    assert calls == []
    drv.tick(105.5, layer)
    drv.tick(107.6, layer)
    assert calls == ["ping", "fail"]
    server2, _, drv2 = open_pair(idle_timeout=1.0)
    drv2.tick(101.5, layer)
    assert calls[-1] == "flush" and server2.state is State.CLOSING
    drv2.stalled_since = 0.0
    _, _, drv3 = open_pair(write_timeout=1.0)
    drv3.stalled_since = 100.0
    drv3.tick(101.5, layer)
    assert calls[-1] == "abort"
