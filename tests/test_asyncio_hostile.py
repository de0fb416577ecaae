"""Hostile input against the asyncio server (as tests/test_server.py does for the
selectors server): bad handshakes, bad frames, bombs, slow and stalled peers,
timeouts; each on the default event loop and on uvloop."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
from test_asyncio import LOOPS, Parser, ServerThread, wait_eof  # noqa: E402
from test_server_helpers import wait_for  # noqa: E402

from wsframe.client import ConnectionClosed, ConnectionClosedError, connect  # noqa: E402
from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402


@pytest.fixture(params=LOOPS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def echo(kind):
    with ServerThread(kind) as server:
        yield server


def _still_serving(server) -> None:
    with connect(server.url) as ws:
        ws.send("still serving")
        assert ws.recv(5) == "still serving"


# -- handshakes ---------------------------------------------------------------------------------


def test_garbage_handshake_gets_400_and_server_keeps_serving(echo):
    before = S.open_fds()
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01garbage\r\nnot http at all\r\n\r\n")
        data, eof = S.recv_all(s)
        assert data.startswith(b"HTTP/1.1 400"), data[:100]
        assert eof
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP, not an upgrade
        data, eof = S.recv_all(s)
        assert data.startswith(b"HTTP/1.1 4"), data[:100]
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as s:
        s.sendall(S.upgrade_request().replace(b"Version: 13", b"Version: 8"))
        data, _ = S.recv_all(s)
        assert data.startswith(b"HTTP/1.1 426") and b"Sec-WebSocket-Version: 13" in data, data[:200]
    _still_serving(echo)
    assert S.wait_fds(before) <= before
    # The client's close returns once the closing handshake is done; the server
    # forgets the connection when its transport is lost, a moment later.
    wait_for(lambda: not echo.connections, what="the server to forget the closed connection")


def test_handshake_that_never_finishes_times_out(kind):
    with ServerThread(kind, handshake_timeout=0.3) as server:
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")  # no end
            assert wait_eof(s, 5)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s2:
            assert wait_eof(s2, 5)  # silent client
        assert time.monotonic() - t0 < 4
        _still_serving(server)


def test_huge_headers_rejected(kind):
    with ServerThread(kind, max_header_size=4096) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            big = "X-Big: " + "a" * 8000 + "\r\n"
            try:
                s.sendall(S.upgrade_request(extra=big))
            except (BrokenPipeError, ConnectionResetError):
                pass
            data, _ = S.recv_all(s)
            assert data.startswith(b"HTTP/1.1 431") or data.startswith(b"HTTP/1.1 400"), data[:80]
        _still_serving(server)


# -- frames -----------------------------------------------------------------------------------


def test_frame_declaring_2_63_minus_1_bytes(echo):
    s, rest = S.raw_ws(echo.port)
    with s:
        header = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 2**63 - 1) + b"\x01\x02\x03\x04"
        s.sendall(header + b"xxxx")
        assert Parser(s, rest).close_frame()[0] == 1009
        assert wait_eof(s)


def test_unmasked_client_frame_is_protocol_error(echo):
    s, rest = S.raw_ws(echo.port)
    with s:
        s.sendall(build_frame(Opcode.TEXT, b"not masked"))  # client=False: no mask
        assert Parser(s, rest).close_frame()[0] == 1002
        assert wait_eof(s)


def test_invalid_utf8_is_1007(echo):
    s, rest = S.raw_ws(echo.port)
    with s:
        s.sendall(build_frame(Opcode.TEXT, b"ok \xff\xfe", client=True))
        assert Parser(s, rest).close_frame()[0] == 1007
        assert wait_eof(s)


def test_messages_before_a_bad_frame_are_answered_before_the_close(echo):
    """One segment: two messages, then a protocol error. The handler's echoes go
    out before the close frame (Autobahn's strict behaviour)."""
    s, rest = S.raw_ws(echo.port)
    with s:
        s.sendall(build_frame(Opcode.TEXT, b"one", client=True) + build_frame(Opcode.BINARY, b"two", client=True)
                  + bytes([0x83, 0x80]) + b"\x00\x00\x00\x00")  # reserved opcode 3
        p = Parser(s, rest)
        first, second = p.next(), p.next()
        assert (first.opcode, bytes(first.payload)) == (Opcode.TEXT, b"one")
        assert (second.opcode, bytes(second.payload)) == (Opcode.BINARY, b"two")
        assert p.close_frame()[0] == 1002
        assert wait_eof(s)


def test_message_answered_before_a_bad_frame_from_a_later_read(kind):
    """The bad frame comes in a read after the message's: the failure is held
    until the handler has answered and comes back for the next message."""
    received = threading.Event()
    outcome: list = []

    async def handler(ws):
        msg = await ws.recv()
        received.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not ws.conn.failure_pending:  # the bad frame's read, held behind our answer
            if loop.time() > deadline:
                outcome.append("the failure was not held")
                break
            await asyncio.sleep(0.002)
        await ws.send(msg)
        try:
            await ws.recv()
        except ConnectionClosedError as exc:
            outcome.append(exc.code)

    with ServerThread(kind, handler) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            s.sendall(build_frame(Opcode.TEXT, b"one", client=True))
            assert received.wait(5)
            s.sendall(bytes([0x83, 0x80]) + b"\x00\x00\x00\x00")  # reserved opcode 3
            p = Parser(s, rest)
            echo = p.next()
            assert (echo.opcode, bytes(echo.payload)) == (Opcode.TEXT, b"one")
            assert p.close_frame()[0] == 1002
            assert wait_eof(s)
        wait_for(lambda: outcome, what="the handler to finish")
    assert outcome == [1002]


def test_message_over_max_size_is_1009(kind):
    with ServerThread(kind, max_message_size=1000, compression=False) as server:
        with connect(server.url, max_message_size=None) as ws:
            ws.send("a" * 1000)
            assert ws.recv(5) == "a" * 1000
            with pytest.raises(ConnectionClosedError) as exc:  # in send() if the close frame is first
                ws.send("a" * 1001)
                ws.recv(5)
            assert exc.value.code == 1009


def test_peer_streaming_a_huge_frame_is_reset_after_1_mib_discarded(kind):
    """After the 1009 the server half-closes and discards input, but not 32 MiB of it: past
    1 MiB it closes, and the peer, still sending, gets a reset."""
    with ServerThread(kind, max_message_size=1000, compression=False) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                s.sendall(build_frame(Opcode.BINARY, bytes(32 << 20), client=True))
        _still_serving(server)


def test_deflate_bomb_is_1009(kind):
    """64 MiB of zeros in one compressed frame of about 64 KiB: 1009 at the 1 MiB limit."""
    with ServerThread(kind, max_message_size=1 << 20) as server:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with s:
            s.sendall(S.upgrade_request(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"))
            head = S.recv_until(s, b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101") and b"permessage-deflate" in head, head
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            chunk = bytes(1 << 20)
            body = b"".join(comp.compress(chunk) for _ in range(64)) + comp.flush(zlib.Z_SYNC_FLUSH)
            payload = body[:-4]  # RFC 7692: drop the trailing 00 00 ff ff
            frame = bytearray(build_frame(Opcode.BINARY, payload, client=True))
            frame[0] |= 0x40  # RSV1: compressed
            try:
                s.sendall(bytes(frame))
            except (BrokenPipeError, ConnectionResetError):
                pass
            rest = head.partition(b"\r\n\r\n")[2]
            assert Parser(s, rest).close_frame()[0] == 1009
        _still_serving(server)


def test_disconnect_mid_frame_is_1006_and_no_leak(kind):
    codes = []
    done = threading.Event()

    async def handler(ws):
        try:
            async for _ in ws:
                pass
        except ConnectionClosed as exc:
            codes.append(exc.code)
        done.set()

    with ServerThread(kind, handler) as server:
        before = S.open_fds()
        s, _ = S.raw_ws(server.port)
        frame = build_frame(Opcode.BINARY, b"x" * 1000, client=True)
        s.sendall(frame[:500])
        s.close()  # nothing unread on our side: a FIN after the half frame, in order
        assert done.wait(5)
        assert codes == [1006]
        assert S.wait_fds(before) <= before


# -- closing --------------------------------------------------------------------------------------


def test_close_answered_after_peer_half_closed(echo):
    s, rest = S.raw_ws(echo.port)
    with s:
        s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye", client=True))
        s.shutdown(socket.SHUT_WR)
        assert Parser(s, rest).close_frame()[0] == 1000
        assert wait_eof(s)


def test_server_drops_tcp_first_after_closing_handshake(echo):
    s, rest = S.raw_ws(echo.port)
    with s:
        s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1000), client=True))
        assert Parser(s, rest).close_frame()[0] == 1000
        assert wait_eof(s, 3), "the server should close TCP after the closing handshake"


def test_close_timeout_when_peer_never_answers(kind):
    async def closer(ws):
        await ws.close(1000)

    with ServerThread(kind, closer, close_timeout=0.3) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            t0 = time.monotonic()
            assert Parser(s, rest).close_frame()[0] == 1000
            assert wait_eof(s, 5)  # we never answer: dropped after close_timeout
            assert time.monotonic() - t0 < 3


# -- slow and stalled peers, timeouts ----------------------------------------------------------


def test_slow_message_is_closed_1008_by_message_timeout(kind):
    with ServerThread(kind, message_timeout=0.3) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            frame = build_frame(Opcode.BINARY, b"y" * 1000, client=True)
            s.sendall(frame[:100])  # a frame that never completes, data trickling in
            t0 = time.monotonic()
            i = 100
            while not _readable(s, 0.05) and time.monotonic() - t0 < 3:
                s.sendall(frame[i:i + 1])
                i += 1
            p = Parser(s, rest)
            assert p.close_frame()[0] == 1008
            assert time.monotonic() - t0 < 4
        # a fragmented message whose last fragment never comes: the same
        s, rest = S.raw_ws(server.port)
        with s:
            s.sendall(build_frame(Opcode.TEXT, b"start", fin=False, client=True))
            assert Parser(s, rest).close_frame()[0] == 1008
        _still_serving(server)


def _readable(s: socket.socket, timeout: float) -> bool:
    import select

    return bool(select.select([s], [], [], timeout)[0])


def test_keepalive_ping_and_timeout(kind):
    with ServerThread(kind, ping_interval=0.2, ping_timeout=0.4) as server:
        with connect(server.url) as ws:  # answers pings while reading
            with pytest.raises(TimeoutError):
                ws.recv(1.0)
            ws.send("still here")
            assert ws.recv(5) == "still here"
        s, rest = S.raw_ws(server.port)  # never answers
        with s:
            p = Parser(s, rest)
            assert p.next(3).opcode == Opcode.PING
            assert p.close_frame(3)[0] == 1011
            assert wait_eof(s, 3)


def test_idle_timeout_closes_1001(kind):
    with ServerThread(kind, idle_timeout=0.3) as server:
        with connect(server.url) as ws:
            with pytest.raises(ConnectionClosed) as exc:
                ws.recv(5)
            assert exc.value.code == 1001


def test_backpressure_stops_reading_and_resumes(kind):
    """A peer that sends but does not read: the handler blocks in send(), the
    queue fills, reading stops; once the peer reads, everything is echoed."""
    hw = 64 * 1024
    with ServerThread(kind, high_water=hw, low_water=16 * 1024, write_timeout=None, compression=False) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            payload = b"z" * 16384
            frame = build_frame(Opcode.BINARY, payload, client=True)
            n = 2000  # 32 MB: far more than kernel buffers plus the high-water marks
            sender_done = threading.Event()

            def sender():
                try:
                    for _ in range(n):
                        s.sendall(frame)
                except OSError:
                    pass
                sender_done.set()

            t = threading.Thread(target=sender, daemon=True)
            t.start()
            def paused():
                conns = server.connections
                return conns and conns[0]._reading_paused and conns[0]._write_paused and conns[0]

            ws = wait_for(paused, what="the server to stop reading a peer that does not read")
            assert ws._qbytes <= hw + 256 * 1024 + len(payload)  # at most one read (256 KiB) past the mark
            assert ws.transport.get_write_buffer_size() <= 2 * hw + 2 * len(frame)  # one batch past the mark
            assert not sender_done.is_set()
            p = Parser(s, rest)
            for _ in range(n):
                assert p.next(10).payload == payload
            t.join(5)
            assert sender_done.is_set()


def test_peer_that_never_reads_is_dropped_after_write_timeout(kind):
    async def flood(ws):
        await ws.recv()
        while True:
            await ws.send(b"f" * 65536)

    with ServerThread(kind, flood, write_timeout=0.5, high_water=256 * 1024, compression=False) as server:
        before = S.open_fds()
        s, _ = S.raw_ws(server.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(build_frame(Opcode.TEXT, b"go", client=True))
        wait_for(lambda: not server.connections, what="the stalled peer dropped")
        s.close()
        assert S.wait_fds(before) <= before
        with connect(server.url) as ws:  # a reading peer is served
            ws.send("go")
            assert ws.recv(5) == b"f" * 65536


def test_many_idle_connections_then_graceful_stop(kind):
    """200 raw connections; the server stops: each gets a close 1001."""
    server = ServerThread(kind)
    socks = []
    try:
        for _ in range(200):
            socks.append(S.raw_ws(server.port))
        stopper = threading.Thread(target=server.stop, daemon=True)
        stopper.start()
        for s, rest in socks:
            p = Parser(s, rest)
            assert p.close_frame(10)[0] == 1001
            s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1001), client=True))
        stopper.join(15)
        assert not stopper.is_alive()
    finally:
        for s, _ in socks:
            s.close()
