"""Sans-I/O connections after the handshake: messages, fragments, limits, control frames, closing."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wsframe
from wsframe.codec import FrameParser, build_close_payload, build_frame
from wsframe.connection import ClientConnection, ServerConnection, State
from wsframe.events import (
    BinaryMessage,
    CloseReceived,
    Closed,
    Fragment,
    Ping,
    Pong,
    TextMessage,
)
from wsframe.exceptions import ConnectionStateError, InvalidUtf8, PayloadTooBig, ProtocolError
from wsframe.extensions import ClientExtensionFactory, Extension, ServerExtensionFactory

# ---------------------------------------------------------------------------
# helpers (shared with test_connection_stateful.py)
# ---------------------------------------------------------------------------


def open_pair(server_kwargs=None, client_kwargs=None):
    """A connected (server, client) pair with the handshake events consumed."""
    client = ClientConnection("example.com", "/", **(client_kwargs or {}))
    server = ServerConnection(**(server_kwargs or {}))
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert server.state is State.OPEN and client.state is State.OPEN
    server.events()
    client.events()
    return server, client


def pump(src, dst):
    """Move everything ``src`` has queued into ``dst``; return dst's new events."""
    data = src.data_to_send()
    if data:
        dst.receive_data(data)
    return dst.events()


def server_with(**kwargs):
    server, _ = open_pair(kwargs)
    return server


def cframe_server(opcode, payload=b"", fin=True, **kw):
    """A frame as a server sends it (unmasked)."""
    return build_frame(opcode, payload, fin=fin, **kw)


def cframe(opcode, payload=b"", fin=True, **kw):
    """A frame as a client sends it (masked)."""
    return build_frame(opcode, payload, fin=fin, client=True, **kw)


def assert_failed(server, code):
    """The server failed the connection with close ``code``: frame sent, Closed event, transport closed.

    An error behind messages delivered in the same read stays pending until
    apply_pending_failure(), so the events are read both before and after it.
    """
    events = server.events()
    server.apply_pending_failure()
    out = server.data_to_send()
    events += server.events()
    assert isinstance(events[-1], Closed), events
    assert events[-1].code == code
    assert isinstance(events[-1].error, ProtocolError) and events[-1].error.code == code
    frames = FrameParser(False, None).feed(out)
    assert frames[-1].opcode == 8
    assert int.from_bytes(frames[-1].payload[:2], "big") == code
    assert server.state is State.CLOSED and server.should_close_transport
    return events


# ---------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------


def test_messages_both_ways():
    server, client = open_pair()
    client.send_text("héllo")
    client.send_binary(b"\x00\xff")
    client.send_binary(bytearray(b"ba"))
    client.send_binary(memoryview(b"mv"))
    client.send_text("")
    assert pump(client, server) == [
        TextMessage("héllo"),
        BinaryMessage(b"\x00\xff"),
        BinaryMessage(b"ba"),
        BinaryMessage(b"mv"),
        TextMessage(""),
    ]
    server.send_text("x" * 70000)
    server.send_binary(b"y" * 300)
    events = pump(server, client)
    assert events == [TextMessage("x" * 70000), BinaryMessage(b"y" * 300)]
    assert type(events[1].data) is bytes


def test_all_replies_of_one_read_in_one_buffer():
    server, client = open_pair()
    client.send_ping(b"1")
    client.send_ping(b"2")
    pump(client, server)
    server.send_text("a")
    out = server.data_to_send()
    assert [f.payload for f in FrameParser(False).feed(out)] == [b"1", b"2", b"a"]
    assert server.data_to_send() == b""


def test_client_frames_masked_with_fresh_keys():
    _, client = open_pair()
    client.send_text("same")
    client.send_text("same")
    out = client.data_to_send()
    f1, f2 = out[:10], out[10:]
    assert f1[1] & 0x80 and f2[1] & 0x80
    assert f1[2:6] != f2[2:6]
    assert [f.payload for f in FrameParser(True).feed(out)] == [b"same", b"same"]


def test_server_frames_unmasked():
    server, _ = open_pair()
    server.send_binary(b"abc")
    assert server.data_to_send() == b"\x82\x03abc"


def test_fragmented_messages_sent_and_received():
    server, client = open_pair()
    client.send_text("ab", fin=False)
    client.send_ping(b"in between")
    client.send_text("cé", fin=False)
    client.send_text("d")
    client.send_binary(b"1", fin=False)
    client.send_binary(b"2")
    assert pump(client, server) == [Ping(b"in between"), TextMessage("abcéd"), BinaryMessage(b"12")]
    assert pump(server, client) == [Pong(b"in between")]


def test_send_fragment_type_mismatch_raises():
    _, client = open_pair()
    client.send_text("a", fin=False)
    with pytest.raises(ConnectionStateError):
        client.send_binary(b"b")


@pytest.mark.parametrize("split", range(1, 9))
def test_utf8_split_across_fragments(split):
    text = "a€😀b"  # 1 + 3 + 4 + 1 bytes
    raw = text.encode()
    server = server_with()
    server.receive_data(cframe(1, raw[:split], fin=False) + cframe(0, raw[split:]))
    assert server.events() == [TextMessage(text)]


@pytest.mark.parametrize("split", range(1, 9))
def test_utf8_split_across_fragments_streaming(split):
    text = "a€😀b"
    raw = text.encode()
    server = server_with(stream_fragments=True)
    server.receive_data(cframe(1, raw[:split], fin=False) + cframe(9, b"p") + cframe(0, raw[split:]))
    events = server.events()
    assert events[1] == Ping(b"p")
    frags = [events[0], events[2]]
    assert all(isinstance(f, Fragment) and f.text for f in frags)
    assert [f.final for f in frags] == [False, True]
    assert "".join(f.data for f in frags) == text


def test_streaming_binary_and_single_frames():
    server = server_with(stream_fragments=True)
    server.receive_data(cframe(2, b"ab", fin=False) + cframe(0, b"cd") + cframe(1, b"x"))
    assert server.events() == [Fragment(b"ab", False, False), Fragment(b"cd", False, True), Fragment("x", True, True)]


def test_invalid_utf8_single_frame():
    server = server_with()
    server.receive_data(cframe(1, b"ok\xff"))
    assert_failed(server, 1007)


def test_invalid_utf8_fails_fast_mid_message():
    server = server_with()
    server.receive_data(cframe(1, b"abc\xed\xa0", fin=False))  # surrogate prefix: invalid already
    events = assert_failed(server, 1007)
    assert isinstance(events[-1].error, InvalidUtf8)


def test_invalid_utf8_fails_fast_mid_message_streaming():
    server = server_with(stream_fragments=True)
    server.receive_data(cframe(1, b"\xc3\x28", fin=False))
    assert_failed(server, 1007)


def test_truncated_utf8_at_end_of_message():
    for stream in (False, True):
        server = server_with(stream_fragments=stream)
        server.receive_data(cframe(1, b"ab\xe2", fin=False) + cframe(0, b"\x82"))
        assert_failed(server, 1007)


def test_interleaved_control_frames():
    server = server_with()
    server.receive_data(
        cframe(2, b"a", fin=False) + cframe(9, b"p1") + cframe(0, b"b", fin=False) + cframe(10, b"q") + cframe(9) + cframe(0, b"c")
    )
    assert server.events() == [Ping(b"p1"), Pong(b"q"), Ping(b""), BinaryMessage(b"abc")]
    pongs = FrameParser(False).feed(server.data_to_send())
    assert [(f.opcode, f.payload) for f in pongs] == [(10, b"p1"), (10, b"")]


def test_auto_pong_off():
    server = server_with(auto_pong=False)
    server.receive_data(cframe(9, b"x"))
    assert server.events() == [Ping(b"x")]
    assert server.data_to_send() == b""
    server.send_pong(b"x")
    assert server.data_to_send() == b"\x8a\x01x"


# ---------------------------------------------------------------------------
# limits
# ---------------------------------------------------------------------------


def test_max_message_size_single_frame():
    server = server_with(max_message_size=10)
    server.receive_data(cframe(2, b"x" * 10))
    assert server.events() == [BinaryMessage(b"x" * 10)]
    server.receive_data(cframe(2, b"x" * 11))
    events = assert_failed(server, 1009)
    assert isinstance(events[-1].error, PayloadTooBig)


def test_max_message_size_enforced_as_fragments_arrive():
    server = server_with(max_message_size=10)
    server.receive_data(cframe(1, b"x" * 6, fin=False))
    assert server.events() == [] and server.state is State.OPEN
    server.receive_data(cframe(0, b"x" * 4, fin=False))
    assert server.events() == []
    server.receive_data(cframe(0, b"x", fin=False))  # 11 bytes, message not finished yet
    assert_failed(server, 1009)


def test_max_message_size_streaming():
    server = server_with(max_message_size=4, stream_fragments=True)
    server.receive_data(cframe(2, b"abc", fin=False))
    assert server.events() == [Fragment(b"abc", False, False)]
    server.receive_data(cframe(0, b"de"))
    assert_failed(server, 1009)


def test_max_message_size_none_is_unlimited():
    server = server_with(max_message_size=None)
    big = b"z" * (3 << 20)
    server.receive_data(cframe(2, big, fin=False) + cframe(0, big))
    assert server.events() == [BinaryMessage(big + big)]


def test_client_side_limit():
    server, client = open_pair(client_kwargs={"max_message_size": 5})
    server.send_text("123456")
    events = pump(server, client)
    assert events[-1].code == 1009 and client.should_close_transport
    frames = FrameParser(True).feed(client.data_to_send())
    assert frames[-1].payload[:2] == b"\x03\xf1"


def test_many_tiny_fragments_cost_only_their_payload():
    server = server_with(max_message_size=None, max_fragments=None)
    n = 200_000
    chunk = cframe(0, b"a", fin=False) * 2000
    server.receive_data(cframe(2, b"a", fin=False))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(n // 2000):
            server.receive_data(chunk)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert server.events() == []
    # 200 KB of payload: the message buffer may over-allocate a little, but a list of
    # 200k small bytes objects (~33 bytes each) would need well over 6 MB.
    assert current - base < 2 * n + 65536, current - base
    assert peak - base < 2 * n + 2_000_000, peak - base
    server.receive_data(cframe(0, b"!"))
    (event,) = server.events()
    assert event == BinaryMessage(b"a" * (n + 1) + b"!")


# ---------------------------------------------------------------------------
# protocol errors (each mapped to a close code; receive_data never raises)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, code",
    [
        (build_frame(1, b"unmasked"), 1002),
        (cframe(0, b"orphan continuation"), 1002),
        (cframe(1, b"a", fin=False) + cframe(1, b"b"), 1002),
        (cframe(2, b"a", fin=False) + cframe(2, b"b"), 1002),
        (cframe(1, b"x", rsv1=True), 1002),
        (cframe(9, b"x", rsv2=True), 1002),
        (b"\x83\x80abcd", 1002),  # reserved opcode
        (b"\x8b\x80abcd", 1002),
        (b"\x09\x80abcd", 1002),  # fragmented ping
        (b"\x89\xfe\x00\x7e" + b"abcd" + b"x" * 126, 1002),  # control frame too long
        (b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00", 1002),  # 64-bit length MSB
        (cframe(8, b"\x03"), 1002),  # 1-byte close payload
        (cframe(8, b"\x03\xe8\xff"), 1007),  # close reason not UTF-8
        (cframe(2, b"x" * ((1 << 20) + 1)), 1009),
    ],
    # Short ids: pytest would escape the 1 MiB frame into its id (quadratic under ASan's realloc).
    ids=["unmasked", "orphan-continuation", "text-inside-text", "binary-inside-binary", "rsv1", "rsv2",
         "reserved-opcode-3", "reserved-opcode-b", "fragmented-ping", "long-control", "length-msb",
         "close-1-byte", "close-reason-utf8", "too-big"],
)
def test_peer_errors_map_to_close_codes(data, code):
    server = server_with()
    server.receive_data(cframe(2, b"before") + data)
    events = assert_failed(server, code)
    assert events[0] == BinaryMessage(b"before")
    server.receive_data(cframe(2, b"after"))  # ignored
    assert server.events() == [] and server.data_to_send() == b""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_random_bytes_never_raise(chunks):
    server = server_with(max_message_size=1000)
    client = ClientConnection("h", max_message_size=1000)
    srv = ServerConnection()
    for c in chunks:
        server.receive_data(c)
        client.receive_data(c)
        srv.receive_data(c)
    server.receive_eof()
    client.receive_eof()
    for conn in (server, client):
        events = conn.events()
        assert isinstance(events[-1], Closed)
        assert sum(isinstance(e, Closed) for e in events) == 1
        assert conn.state is State.CLOSED and conn.should_close_transport
        for e in events:
            if isinstance(e, Closed) and e.error is not None:
                assert e.code != 1011, e  # never an internal error


# ---------------------------------------------------------------------------
# closing
# ---------------------------------------------------------------------------

VALID_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_close_codes_echoed(code):
    server = server_with()
    server.receive_data(cframe(8, build_close_payload(code, "why")))
    assert server.events() == [CloseReceived(code, "why"), Closed(code, "why", None)]
    frames = FrameParser(False).feed(server.data_to_send())
    assert len(frames) == 1 and frames[0].opcode == 8
    assert frames[0].payload == code.to_bytes(2, "big")  # code echoed, reason not
    assert server.state is State.CLOSED and server.should_close_transport
    assert (server.close_code, server.close_reason) == (code, "why")


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_close_codes_are_protocol_errors(code):
    server = server_with()
    server.receive_data(cframe(8, code.to_bytes(2, "big") + b"r"))
    assert_failed(server, 1002)


def test_close_without_code():
    server, client = open_pair()
    client.receive_data(build_frame(8, b""))
    assert client.events() == [CloseReceived(1005, ""), Closed(1005, "", None)]
    assert FrameParser(True).feed(client.data_to_send())[0].payload == b""
    assert client.state is State.CLOSED


def test_every_close_code_round_trip_between_peers():
    for code in VALID_CODES:
        server, client = open_pair()
        client.close(code, "bye")
        assert client.state is State.CLOSING
        assert pump(client, server) == [CloseReceived(code, "bye"), Closed(code, "bye", None)]
        assert server.should_close_transport
        assert pump(server, client) == [CloseReceived(code, ""), Closed(code, "", None)]
        assert client.state is State.CLOSED
        assert not client.should_close_transport  # client waits for the server to close TCP
        client.receive_eof()
        assert client.should_close_transport
        assert client.events() == []


def test_server_initiated_close():
    server, client = open_pair()
    server.close(1001, "going away")
    assert server.state is State.CLOSING and not server.should_close_transport
    assert pump(server, client) == [CloseReceived(1001, "going away"), Closed(1001, "going away", None)]
    assert pump(client, server) == [CloseReceived(1001, ""), Closed(1001, "", None)]
    assert server.should_close_transport and server.state is State.CLOSED


def test_data_dropped_after_our_close():
    server, client = open_pair()
    client.send_text("in flight", fin=False)
    server.close()
    client.send_text("more")
    client.send_binary(b"x")
    client.send_ping(b"p")
    client.close()
    events = pump(client, server)
    assert events == [Ping(b"p"), CloseReceived(1000, ""), Closed(1000, "", None)]
    frames = FrameParser(False).feed(server.data_to_send())
    assert [f.opcode for f in frames] == [8]  # no pong after our close


def test_eof_without_close_is_1006():
    server, client = open_pair()
    client.send_text("a", fin=False)
    pump(client, server)
    server.receive_eof()
    assert server.events() == [Closed(1006, "connection closed without a closing handshake", None)]
    assert server.state is State.CLOSED and server.should_close_transport
    assert server.close_code == 1006
    server.receive_eof()
    assert server.events() == []


def test_eof_while_closing_is_1006():
    server, _ = open_pair()
    server.close()
    server.receive_eof()
    (event,) = server.events()
    assert event.code == 1006


def test_local_misuse_raises():
    client = ClientConnection("h")
    for call in (lambda: client.send_text("x"), lambda: client.send_binary(b"x"), client.send_ping, client.send_pong, client.close):
        with pytest.raises(ConnectionStateError):
            call()
    server, client = open_pair()
    client.close()
    for call in (lambda: client.send_text("x"), lambda: client.send_binary(b"x"), client.send_ping, client.send_pong):
        with pytest.raises(ConnectionStateError):
            call()
    client.close()  # closing again is a no-op
    assert FrameParser(True).feed(client.data_to_send())[0].opcode == 8
    assert client.data_to_send() == b""
    with pytest.raises(ValueError):
        server.close(1006)
    with pytest.raises(ValueError):
        server.close(1000, "x" * 124)
    with pytest.raises(ValueError):
        server.send_ping(b"x" * 126)
    assert server.state is State.OPEN


def test_fail_reason_truncated_to_fit_close_frame():
    class Boom(ProtocolError):
        pass

    server = server_with()
    server._fail(Boom("é" * 100, 1008))
    frames = FrameParser(False).feed(server.data_to_send())
    assert len(frames[0].payload) <= 125
    frames[0].payload[2:].decode("utf-8")


# ---------------------------------------------------------------------------
# the extension hook
# ---------------------------------------------------------------------------


class Invert(Extension):
    """Toy extension on RSV1: inverts every byte of messages whose first frame has RSV1."""

    __slots__ = ("on", "closed")
    name = "x-invert"
    rsv_bits = 0x40

    def __init__(self):
        self.on = False
        self.closed = False

    def decode(self, opcode, payload, rsv, fin, max_size):
        if opcode:
            self.on = bool(rsv & 0x40)
        elif rsv & 0x40:
            raise ProtocolError("RSV1 on a continuation frame")
        return bytes(b ^ 0xFF for b in payload) if self.on else payload

    def encode(self, opcode, payload, fin, compress=True):
        if opcode:
            self.on = compress
        if not self.on:
            return payload, 0
        return bytes(b ^ 0xFF for b in payload), 0x40 if opcode else 0

    def close(self):
        self.closed = True


class Double(Extension):
    """Toy "decompressor": every byte becomes two; honours max_size like a real one must."""

    __slots__ = ()
    name = "x-double"
    rsv_bits = 0x20

    def decode(self, opcode, payload, rsv, fin, max_size):
        if max_size is not None and 2 * len(payload) > max_size:
            raise PayloadTooBig("x-double output over the limit")
        return bytes(b for b in payload for _ in (0, 1))


def factory_pair(cls):
    class S(ServerExtensionFactory):
        name = cls.name

        def accept_offer(self, params, accepted):
            return [], cls()

    class C(ClientExtensionFactory):
        name = cls.name

        def offers(self):
            return [[]]

        def accept_response(self, params, accepted):
            return cls()

    return S(), C()


def test_extension_transforms_both_ways():
    s, c = factory_pair(Invert)
    server, client = open_pair({"extensions": [s]}, {"extensions": [c]})
    client.send_text("hello", fin=False)
    client.send_text(" world")
    client.send_binary(b"raw", compress=False)
    out = client.data_to_send()
    frames = FrameParser(True, allowed_rsv=0x40).feed(out)
    assert [f.rsv1 for f in frames] == [True, False, False]
    assert frames[0].payload == bytes(b ^ 0xFF for b in b"hello")
    server.receive_data(out)
    assert server.events() == [TextMessage("hello world"), BinaryMessage(b"raw")]
    server.send_text("back")
    assert pump(server, client) == [TextMessage("back")]
    server.close()
    pump(server, client)
    pump(client, server)
    assert server.extensions[0].closed and client.extensions[0].closed


def test_extension_errors_and_rsv_rules():
    s, c = factory_pair(Invert)
    server, _ = open_pair({"extensions": [s]}, {"extensions": [c]})
    server.receive_data(cframe(1, b"\x9e", rsv1=True, fin=False) + cframe(0, b"\x9e", rsv1=True))
    assert_failed(server, 1002)  # raised by the extension
    server, _ = open_pair({"extensions": [s]}, {"extensions": [c]})
    server.receive_data(cframe(9, b"", rsv1=True))
    assert_failed(server, 1002)  # RSV on a control frame
    server, _ = open_pair({"extensions": [s]}, {"extensions": [c]})
    server.receive_data(cframe(1, b"", rsv2=True))
    assert_failed(server, 1002)  # bit not negotiated
    server = server_with()  # nothing negotiated
    server.receive_data(cframe(1, b"", rsv1=True))
    assert_failed(server, 1002)


def test_extension_output_bounded_by_max_message_size():
    s, c = factory_pair(Double)
    server, _ = open_pair({"extensions": [s], "max_message_size": 10}, {"extensions": [c]})
    server.receive_data(cframe(2, b"abcde", rsv2=True))
    assert server.events() == [BinaryMessage(b"aabbccddee")]
    server.receive_data(cframe(2, b"abc", fin=False) + cframe(0, b"ab", fin=False))
    assert server.events() == []
    server.receive_data(cframe(0, b"a"))  # would make 12 decoded bytes
    events = assert_failed(server, 1009)
    assert "x-double" in events[-1].reason


def test_extension_internal_error_is_1011():
    class Broken(Invert):
        __slots__ = ()

        def decode(self, *args):
            raise RuntimeError("bug")

    s, c = factory_pair(Broken)
    server, _ = open_pair({"extensions": [s]}, {"extensions": [c]})
    server.receive_data(cframe(1, b"x"))
    assert_failed(server, 1011)


# ---------------------------------------------------------------------------
# both codec implementations
# ---------------------------------------------------------------------------


@pytest.mark.skipif(
    not wsframe.speedups_enabled or os.environ.get("WSFRAME_NO_SPEEDUPS") or os.environ.get("WSFRAME_NO_EXTENSIONS"),
    reason="already running on the pure-Python codec",
)
def test_suite_passes_on_pure_python_codec():
    """Re-run these test files in a subprocess with WSFRAME_NO_SPEEDUPS=1."""
    here = os.path.dirname(os.path.abspath(__file__))
    files = [os.path.join(here, f) for f in ("test_handshake.py", "test_connection.py", "test_connection_stateful.py",
                                             "test_session.py", "test_connection_wire_secrets.py")]
    env = dict(os.environ, WSFRAME_NO_SPEEDUPS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *[f for f in files if os.path.exists(f)]],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.path.dirname(here),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


# ---------------------------------------------------------------------------
# an error behind valid messages in the same read (Autobahn 3.x/4.x/5.15)
# ---------------------------------------------------------------------------


# Opcode 3 is reserved: build_frame refuses it, so the frame is written by hand
# (FIN, opcode 3, masked, empty payload).
RESERVED_OPCODE_FRAME = b"\x83\x80" + b"\x00\x00\x00\x00"


def test_error_behind_messages_lets_the_application_answer_first():
    server = server_with()
    server.receive_data(cframe(1, b"first") + cframe(2, b"second") + RESERVED_OPCODE_FRAME)
    assert server.events() == [TextMessage("first"), BinaryMessage(b"second")]
    assert server.state is State.OPEN  # the failure is pending
    server.send_text("echo: first")
    assert server.failure_pending
    assert server.data_to_send() == cframe_server(1, b"echo: first")  # draining changes nothing
    assert server.failure_pending and server.state is State.OPEN and server.events() == []
    server.send_text("echo: first")
    assert server.apply_pending_failure() is True  # the close frame goes after the answer
    assert server.apply_pending_failure() is False
    out = server.data_to_send()
    frames = FrameParser(False, None).feed(out)
    assert [(f.opcode, f.payload[:2]) for f in frames] == [(1, b"ec"), (8, (1002).to_bytes(2, "big"))]
    (closed,) = server.events()
    assert isinstance(closed, Closed) and closed.code == 1002
    assert server.state is State.CLOSED and server.should_close_transport


def test_error_behind_a_fragmented_message_is_pending_too():
    server = server_with()
    server.receive_data(cframe(1, b"a", fin=False) + cframe(0, b"b") + cframe(0, b"orphan continuation"))
    assert server.events() == [TextMessage("ab")]
    assert server.state is State.OPEN
    events = assert_failed(server, 1002)
    assert events == [Closed(1002, events[-1].reason, events[-1].error)]


def test_pending_error_is_applied_by_the_next_read_or_eof():
    for finish in ("data", "eof"):
        server = server_with()
        server.receive_data(cframe(1, b"ok") + cframe(1, b"x", rsv1=True))
        assert server.events() == [TextMessage("ok")]
        if finish == "data":
            server.receive_data(cframe(1, b"ignored"))
        else:
            server.receive_eof()
        events = server.events()
        assert isinstance(events[-1], Closed) and events[-1].code == 1002, finish
        assert TextMessage("ignored") not in events


def test_hold_failures_keeps_an_error_from_a_later_read_pending():
    """A queueing I/O layer whose application has not answered a message sets
    hold_failures: the error of the next read waits behind the answer."""
    for hold in (True, False):
        server = server_with()
        server.receive_data(cframe(1, b"first"))
        assert server.events() == [TextMessage("first")]
        server.hold_failures = hold
        server.receive_data(RESERVED_OPCODE_FRAME)
        assert server.failure_pending is hold
        if not hold:
            (closed,) = server.events()
            assert isinstance(closed, Closed) and closed.code == 1002
            continue
        assert server.events() == [] and server.data_to_send() == b"" and server.state is State.OPEN
        server.send_text("first")
        assert server.apply_pending_failure() is True
        frames = FrameParser(False, None).feed(server.data_to_send())
        assert [f.opcode for f in frames] == [1, 8]
        assert bytes(frames[1].payload[:2]) == (1002).to_bytes(2, "big")


def test_error_alone_fails_at_once():
    server = server_with()
    server.receive_data(RESERVED_OPCODE_FRAME)
    (closed,) = server.events()
    assert isinstance(closed, Closed) and closed.code == 1002


def test_send_type_errors():
    server = server_with()
    with pytest.raises(TypeError):
        server.send_text(b"bytes")
    with pytest.raises(TypeError):
        server.send_binary("str")


def test_data_to_send_hands_over_its_buffer():
    server = server_with()
    server.send_text("one")
    first = server.data_to_send()
    server.send_text("two")
    second = server.data_to_send()
    assert bytes(first) == build_frame(1, b"one") and bytes(second) == build_frame(1, b"two")


def test_small_message_limit_still_accepts_control_frames():
    server = server_with(max_message_size=10)
    server.receive_data(cframe(9, b"p" * 100))
    assert server.events() == [Ping(b"p" * 100)]
    frames = FrameParser(False, None).feed(server.data_to_send())
    assert [(f.opcode, f.payload) for f in frames] == [(10, b"p" * 100)]
    server.receive_data(cframe(2, b"x" * 11))
    assert_failed(server, 1009)


def test_message_in_progress_tracks_partial_frames_and_fragments():
    server = server_with()
    assert not server.message_in_progress
    frame = cframe(2, b"abcdef")
    server.receive_data(frame[:3])  # a partial header
    assert server.message_in_progress
    server.receive_data(frame[3:])
    assert server.events() == [BinaryMessage(b"abcdef")]
    assert not server.message_in_progress
    server.receive_data(cframe(1, b"a", fin=False))
    assert server.message_in_progress
    server.receive_data(cframe(0, b"b"))
    assert server.events() == [TextMessage("ab")]
    assert not server.message_in_progress


def test_the_connection_is_compiled_when_the_c_codec_is_used():
    """wsframe.connection follows the codec's choice: the classes compiled from
    _session.py and _upgrade.py beside the C codec, the same sources uncompiled
    beside the twin."""
    import wsframe._session as session_source
    import wsframe._upgrade as source
    from conftest import speedups_required

    from wsframe import codec, connection

    if not codec.speedups_enabled:
        assert not connection.compiled and connection.ServerConnection is source.ServerConnection
        assert connection.Session is session_source.Session
        return
    if connection.compiled:
        assert connection.ServerConnection.__module__ == "wsframe._upgrade_c"
        assert connection.Session.__module__ == "wsframe._session_c"
        assert connection.ServerConnection is not source.ServerConnection
        assert issubclass(connection.ClientConnection, connection.Session)
    else:
        assert not speedups_required(), "WSFRAME_REQUIRE_SPEEDUPS=1 but wsframe._upgrade_c was not built"
