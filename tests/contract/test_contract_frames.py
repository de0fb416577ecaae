"""Contract, every server layer: bad frames close with their RFC code, messages before a bad
frame are answered first, size limits and deflate bombs give 1009, frames split anywhere are
reassembled, and a peer vanishing mid-frame is a 1006 without a leak."""

from __future__ import annotations

import socket
import struct
import zlib

import pytest
from _servers import SYNC_HANDLERS, Handler
from _wire import Parser, S, fin_not_reset, raw_ws, still_serving, wait_eof, wait_for

from wsframe import client
from wsframe.codec import build_frame
from wsframe.enums import Opcode
from wsframe.exceptions import ConnectionClosedError

MAX = 64 << 10  # the servers' max_message_size in these tests


@pytest.mark.parametrize(
    "frame, code",
    [
        (build_frame(Opcode.TEXT, b"not masked"), 1002),
        (build_frame(Opcode.TEXT, b"x", client=True, rsv2=True), 1002),
        (bytes([0x83, 0x80]) + b"\x00" * 4, 1002),  # reserved opcode 3
        (b"\x89\xfe\x00\x7e" + b"\x00" * 4 + b"p" * 126, 1002),  # a masked 126-byte ping
        (build_frame(Opcode.CONTINUATION, b"x", client=True), 1002),  # nothing to continue
        (build_frame(Opcode.TEXT, b"bad \xff utf-8", client=True), 1007),
        (bytes([0x82, 0xFF]) + struct.pack("!Q", 2**63 - 1) + b"\x01\x02\x03\x04xxxx", 1009),
        (build_frame(Opcode.BINARY, b"y" * (MAX + 1), client=True), 1009),  # the server reads the header only
    ],
    ids=["unmasked", "rsv2", "opcode-3", "long-ping", "lone-continuation", "bad-utf8", "2**63-1", "over-max-size"],
)
def test_bad_frames_close_with_the_rfc_code(start, frame, code):
    with start(max_message_size=MAX) as server:
        s, rest, _ = raw_ws(server.port)
        with s:
            s.sendall(frame)
            assert Parser(s, rest).close_frame()[0] == code
            assert wait_eof(s)


def test_messages_before_a_bad_frame_are_answered_before_the_close(server):
    """One segment: two messages, then a protocol error. The echoes go out before the close frame."""
    s, rest, _ = raw_ws(server.port)
    with s:
        s.sendall(build_frame(Opcode.TEXT, b"one", client=True) + build_frame(Opcode.BINARY, b"two", client=True)
                  + bytes([0x83, 0x80]) + b"\x00\x00\x00\x00")  # reserved opcode 3
        p = Parser(s, rest)
        got = [p.next() for _ in range(2)]
        assert [(f.opcode, bytes(f.payload)) for f in got] == [(Opcode.TEXT, b"one"), (Opcode.BINARY, b"two")]
        assert p.close_frame()[0] == 1002
        assert wait_eof(s)


def test_message_answered_before_a_bad_frame_from_a_later_read(start, layer):
    """The bad frame comes in a read after the message's, while the handler still holds the
    message: the failure is held until the handler has answered."""
    if layer in SYNC_HANDLERS:
        pytest.skip("the handler runs in the server's loop: nothing is read while it holds a message")
    with start(Handler("hold"), close_timeout=5) as server:
        s, rest, _ = raw_ws(server.port)
        with s:
            s.sendall(build_frame(Opcode.TEXT, b"one", client=True))
            assert server.received.wait(5)
            s.sendall(bytes([0x83, 0x80]) + b"\x00\x00\x00\x00")  # reserved opcode 3
            p = Parser(s, rest)
            try:  # the failure must wait for the answer: nothing is sent before it
                wait_for(server.failures_held, what="the server to read the bad frame and hold it")
            finally:
                server.release()
            echo = p.next()
            assert (echo.opcode, bytes(echo.payload)) == (Opcode.TEXT, b"one")
            assert p.close_frame()[0] == 1002
            assert wait_eof(s)
        assert server.wait_codes() == [1002]


def test_message_over_max_size_is_1009(start):
    with start(max_message_size=1000) as server:
        with client.connect(server.url, max_message_size=None) as ws:
            ws.send("a" * 1000)
            assert ws.recv(5) == "a" * 1000
            with pytest.raises(ConnectionClosedError) as exc:  # in send() if the close frame is first
                ws.send("a" * 1001)
                ws.recv(5)
            assert exc.value.code == 1009


def test_failure_with_input_queued_behind_it_ends_in_fin_not_reset(server):
    """A bad frame followed by 512 KiB the server has not read when it fails the connection: the
    server half-closes and discards input, so the close frame is not lost to a reset."""
    s, rest, _ = raw_ws(server.port)
    with s:
        more = build_frame(Opcode.BINARY, b"m" * 8192, client=True) * 64
        s.sendall(build_frame(Opcode.TEXT, b"unmasked") + more)
        assert Parser(s, rest).close_frame()[0] == 1002
        assert fin_not_reset(s), "the server reset the connection over its close frame"


def test_peer_streaming_a_huge_frame_is_reset_after_1_mib_discarded(start):
    """Discarding has a limit: past 1 MiB the server closes, and the peer, still sending 32 MiB of
    a frame over the size limit, gets a reset."""
    with start(max_message_size=1000) as server:
        s, _, _ = raw_ws(server.port)
        with s:
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                s.sendall(build_frame(Opcode.BINARY, bytes(32 << 20), client=True))
        still_serving(server)


def test_deflate_bomb_is_1009(start):
    """64 MiB of zeros in one compressed frame of about 64 KiB: 1009 at the 1 MiB limit."""
    with start(max_message_size=1 << 20, compression=True) as server:
        s, rest, head = raw_ws(server.port, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
        with s:
            assert b"permessage-deflate" in head, head
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            body = b"".join(comp.compress(bytes(1 << 20)) for _ in range(64)) + comp.flush(zlib.Z_SYNC_FLUSH)
            frame = bytearray(build_frame(Opcode.BINARY, body[:-4], client=True))  # RFC 7692: no 00 00 ff ff
            frame[0] |= 0x40  # RSV1: compressed
            try:
                s.sendall(bytes(frame))
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert Parser(s, rest).close_frame()[0] == 1009
        still_serving(server)


def test_frames_cut_at_every_byte_are_reassembled(server):
    """Two messages (one fragmented, with a ping between its fragments) sent one byte per
    segment: the echoes are whole and in order, the ping answered."""
    s, rest, _ = raw_ws(server.port)
    with s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = (build_frame(Opcode.TEXT, "héllo ".encode(), fin=False, client=True)
                + build_frame(Opcode.PING, b"p", client=True)
                + build_frame(Opcode.CONTINUATION, "wörld".encode(), client=True)
                + build_frame(Opcode.BINARY, bytes(range(200)), client=True))
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
        p = Parser(s, rest)
        got = [p.next() for _ in range(3)]
        assert [(f.opcode, bytes(f.payload)) for f in got] == [
            (Opcode.PONG, b"p"), (Opcode.TEXT, "héllo wörld".encode()), (Opcode.BINARY, bytes(range(200)))]


def test_disconnect_mid_frame_is_1006_to_the_handler_and_no_leak(server):
    still_serving(server)
    server.wait_codes(1)
    before = S.open_fds()
    s, _, _ = raw_ws(server.port)
    s.sendall(build_frame(Opcode.BINARY, b"x" * 1000, client=True)[:500])
    s.close()  # a FIN after half a frame
    assert server.wait_codes(2)[1] == 1006
    assert S.wait_fds(before) <= before
    still_serving(server)


def test_no_leak_over_mixed_traffic(server):
    still_serving(server)
    wait_for(lambda: not server.connections(), what="the first connection gone")
    before = S.open_fds()
    for _ in range(10):
        with client.connect(server.url) as ws:
            ws.send("x")
            assert ws.recv(5) == "x"
        s, _, _ = raw_ws(server.port)
        s.sendall(build_frame(Opcode.BINARY, b"z" * 1000, client=True)[:300])  # then vanish mid-frame
        s.close()
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"junk\r\n\r\n")
            S.recv_all(s, 2)
    wait_for(lambda: not server.connections(), what="every connection closed")
    assert S.wait_fds(before) <= before
