"""Hypothesis state machine: a server and a client connection talking in memory.

Both sides send messages (whole or fragmented, with pings between the
fragments), pings, pongs and closes in any order; bytes are delivered in
random chunk sizes. After every delivery the receiver's events must be
exactly what the model predicts (what the peer sent, minus data dropped
after our close, plus automatic pongs and close echoes).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from wsframe.connection import ClientConnection, ServerConnection, State
from wsframe.events import BinaryMessage, CloseReceived, Closed, Ping, Pong, TextMessage
from wsframe.exceptions import ConnectionStateError

SIDES = st.sampled_from(["s", "c"])
CODES = st.sampled_from([1000, 1001, 1003, 1008, 1011, 3000, 4999, 1005])
OTHER = {"s": "c", "c": "s"}


def split(seq, cuts):
    cuts = sorted({c % (len(seq) + 1) for c in cuts})
    pieces, last = [], 0
    for c in cuts:
        pieces.append(seq[last:c])
        last = c
    pieces.append(seq[last:])
    return pieces


class Conversation(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        client = ClientConnection("example.com", "/", max_message_size=4096)
        server = ServerConnection(max_message_size=4096)
        server.receive_data(client.data_to_send())
        client.receive_data(server.data_to_send())
        server.events()
        client.events()
        self.conn = {"s": server, "c": client}
        self.expect = {"s": [], "c": []}
        self.closed = {"s": None, "c": None}

    # -- sending -----------------------------------------------------------

    @rule(
        side=SIDES,
        text=st.booleans(),
        data=st.text(max_size=30),
        cuts=st.lists(st.integers(0, 40), max_size=4),
        ping_between=st.booleans(),
    )
    def send_message(self, side, text, data, cuts, ping_between):
        conn = self.conn[side]
        payload = data if text else data.encode("utf-8")
        send = conn.send_text if text else conn.send_binary
        if conn.state is not State.OPEN:
            with pytest.raises(ConnectionStateError):
                send(payload)
            return
        pieces = split(payload, cuts)
        for i, piece in enumerate(pieces):
            final = i == len(pieces) - 1
            send(piece, fin=final)
            if ping_between and not final:
                conn.send_ping(b"between")
                self.expect[OTHER[side]].append(Ping(b"between"))
        self.expect[OTHER[side]].append(TextMessage(payload) if text else BinaryMessage(payload))

    @rule(side=SIDES, payload=st.binary(max_size=125), pong=st.booleans())
    def send_control(self, side, payload, pong):
        conn = self.conn[side]
        if conn.state is not State.OPEN:
            with pytest.raises(ConnectionStateError):
                conn.send_ping(payload)
            return
        if pong:
            conn.send_pong(payload)
            self.expect[OTHER[side]].append(Pong(payload))
        else:
            conn.send_ping(payload)
            self.expect[OTHER[side]].append(Ping(payload))

    @rule(side=SIDES, code=CODES, reason=st.text(max_size=10))
    def close(self, side, code, reason):
        conn = self.conn[side]
        if code == 1005:
            reason = ""
        was_open = conn.state is State.OPEN
        conn.close(code, reason)
        if was_open:
            assert conn.state is State.CLOSING
            self.expect[OTHER[side]] += [CloseReceived(code, reason), Closed(code, reason, None)]

    # -- delivery ------------------------------------------------------------

    @rule(side=SIDES, sizes=st.lists(st.integers(1, 64), min_size=1, max_size=6))
    def deliver(self, side, sizes):
        src, dst_name = self.conn[side], OTHER[side]
        dst = self.conn[dst_name]
        data = src.data_to_send()
        expected = self.expect[dst_name]
        self.expect[dst_name] = []
        state = dst.state
        if state is State.CLOSED:
            expected = []
        elif state is State.CLOSING:
            expected = [e for e in expected if not isinstance(e, (TextMessage, BinaryMessage))]
        pos, i = 0, 0
        while pos < len(data):
            n = sizes[i % len(sizes)]
            dst.receive_data(data[pos : pos + n])
            pos += n
            i += 1
        events = dst.events()
        assert events == expected
        if state is State.OPEN:
            for e in events:
                if isinstance(e, Ping):
                    self.expect[side].append(Pong(e.payload))
                elif isinstance(e, CloseReceived):
                    self.expect[side] += [CloseReceived(e.code, ""), Closed(e.code, "", None)]
        for e in events:
            if isinstance(e, Closed):
                assert self.closed[dst_name] is None
                self.closed[dst_name] = e

    # -- invariants ------------------------------------------------------------

    @invariant()
    def states_are_consistent(self):
        server, client = self.conn["s"], self.conn["c"]
        for name, conn in self.conn.items():
            assert conn.state is not State.CONNECTING
            assert (conn.state is State.CLOSED) == (self.closed[name] is not None)
        assert server.should_close_transport == (server.state is State.CLOSED)
        assert not client.should_close_transport  # the client waits for the server's EOF

    def teardown(self):
        server, client = self.conn["s"], self.conn["c"]
        if server.state is State.CLOSED:
            client.receive_eof()
            assert client.should_close_transport


Conversation.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestConversation = Conversation.TestCase
