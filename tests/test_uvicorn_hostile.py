"""Hostile input against ``uvicorn --ws wsframe.uvicorn:WSFrameProtocol`` (a Starlette app in a
subprocess), as tests/test_server.py and tests/test_asyncio_hostile.py do for wsframe's own servers:
bad handshakes (uvicorn's HTTP layer and wsframe's), bad frames with their RFC close codes, a
message over ``--ws-max-size`` sent whole (the close frame must arrive, not a reset), a deflate
bomb, a peer vanishing mid-frame, half-closes, a peer that never answers the close or the pings,
a peer that never reads, backpressure, a graceful stop with open connections (1012), and no
descriptor leak; the tests sharing one server run on uvloop and on asyncio's default loop. Needs
uvicorn and starlette (skipped without them unless WSFRAME_REQUIRE_PEERS=1).
"""

from __future__ import annotations

import signal
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
from _uvicorn import Uvicorn, write_app  # noqa: E402
from test_server_helpers import Parser, wait_eof, wait_for  # noqa: E402

from wsframe import client  # noqa: E402
from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402

MAX_SIZE = 256 << 10  # under the 1 MiB that WSFrameProtocol discards after a failure
FAST_CLOSE = '''
from wsframe.uvicorn import WSFrameProtocol


class FastClose(WSFrameProtocol):
    """WSFrameProtocol with a 0.5 s close timeout (uvicorn has no option for it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.close_timeout = 0.5
'''


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    S.require_module("uvicorn")
    S.require_module("starlette")
    d = write_app(tmp_path_factory.mktemp("uvicorn-app"))
    (d / "fastclose.py").write_text(FAST_CLOSE)
    return d


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def server(request, app_dir):
    """The app on uvicorn's uvloop event loop, then on asyncio's default one."""
    srv = Uvicorn(app_dir, "--ws-max-size", str(MAX_SIZE), "--loop", request.param)
    yield srv
    srv.stop_gracefully()
    assert "Traceback" not in srv.log(), srv.log()


def raw_ws(port: int, path: str = "/", extra: str = "") -> tuple:
    """A raw socket after a hand-made upgrade: (socket, bytes after the response head, head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(S.upgrade_request(f"127.0.0.1:{port}", path, extra))
    head, _, rest = S.recv_until(s, b"\r\n\r\n").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest, head


def still_serving(server) -> None:
    with client.connect(server.url()) as ws:
        ws.send("still serving")
        assert ws.recv(timeout=5) == "still serving"


# -- handshakes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"\x16\x03\x01garbage\r\nnot http at all\r\n\r\n", b"400"),
        (S.upgrade_request().replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"short"), b"400"),
        (S.upgrade_request().replace(b"Version: 13", b"Version: 8"), b"426"),
        (S.upgrade_request().replace(b"GET", b"POST"), b"400"),
        (S.upgrade_request(extra="X-Big: " + "a" * 100_000 + "\r\n"), b"4"),  # 400 or 431
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),  # plain HTTP to a WebSocket route
    ],
    ids=["garbage", "bad-key", "version-8", "post", "huge-headers", "not-an-upgrade"],
)
def test_bad_handshakes_are_refused_and_the_server_keeps_serving(server, request_bytes, status):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        try:
            s.sendall(request_bytes)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end of the request
        data = S.recv_until(s, b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 " + status), data[:200]
    if status == b"426":
        assert b"sec-websocket-version: 13" in data.lower(), data
    still_serving(server)


# -- frames -----------------------------------------------------------------------------------


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
        # The whole frame is sent, the server reads its header only.
        (build_frame(Opcode.BINARY, b"y" * (MAX_SIZE + 1), client=True), 1009),
    ],
    ids=["unmasked", "rsv2", "opcode-3", "long-ping", "lone-continuation", "bad-utf8", "2**63-1",
         "over-ws-max-size"],
)
def test_bad_frames_close_with_the_rfc_code(server, frame, code):
    s, rest, _ = raw_ws(server.port)
    with s:
        s.sendall(frame)
        assert Parser(s, rest).close_frame()[0] == code
        assert wait_eof(s)


def fin_not_reset(s: socket.socket, timeout: float = 5.0) -> bool:
    """Read to the end: True on a FIN (recv returns b""), False on a reset."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        return False
    return True


def test_failure_with_input_queued_behind_it_ends_in_fin_not_reset(server):
    """A bad frame followed by 512 KiB the server has not read when it fails the connection:
    closing a socket with unread input sends a reset instead of a FIN (browsers then report
    1006, not the close code). The server half-closes and discards input instead."""
    s, rest, _ = raw_ws(server.port)
    with s:
        more = build_frame(Opcode.BINARY, b"m" * 8192, client=True) * 64
        s.sendall(build_frame(Opcode.TEXT, b"unmasked") + more)
        assert Parser(s, rest).close_frame()[0] == 1002
        assert fin_not_reset(s), "the server reset the connection over its close frame"


def test_peer_streaming_a_huge_frame_is_reset_after_1_mib_discarded(server):
    """Discarding has a limit: past 1 MiB the server closes, and the peer, still sending 32 MiB
    of a frame over --ws-max-size, gets a reset."""
    s, _, _ = raw_ws(server.port)
    with s:
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            s.sendall(build_frame(Opcode.BINARY, bytes(32 << 20), client=True))
    still_serving(server)


def test_messages_before_a_bad_frame_are_answered_first(server):
    s, rest, _ = raw_ws(server.port)
    with s:
        s.sendall(build_frame(Opcode.TEXT, b"one", client=True) + build_frame(Opcode.BINARY, b"two", client=True)
                  + build_frame(Opcode.TEXT, b"three"))  # unmasked: a protocol error
        p = Parser(s, rest)
        got = [p.next() for _ in range(3)]
        assert [(f.opcode, bytes(f.payload)) for f in got[:2]] == [(Opcode.TEXT, b"one"), (Opcode.BINARY, b"two")]
        assert got[2].opcode == Opcode.CLOSE and struct.unpack("!H", got[2].payload[:2])[0] == 1002
        assert wait_eof(s)


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


def test_deflate_bomb_is_1009(server):
    """64 MiB of zeros in one compressed frame of about 64 KiB: 1009 at the 256 KiB limit."""
    s, rest, head = raw_ws(server.port, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
    with s:
        assert b"permessage-deflate" in head, head
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = bytes(1 << 20)
        body = b"".join(comp.compress(chunk) for _ in range(64)) + comp.flush(zlib.Z_SYNC_FLUSH)
        frame = bytearray(build_frame(Opcode.BINARY, body[:-4], client=True))  # RFC 7692: no 00 00 ff ff
        frame[0] |= 0x40  # RSV1: compressed
        s.sendall(bytes(frame))
        assert Parser(s, rest).close_frame()[0] == 1009
        assert wait_eof(s)
    still_serving(server)


def test_disconnect_mid_frame_is_1006_to_the_app_and_no_leak(server):
    still_serving(server)  # warm up
    before = server.fds()
    n = len(server.wait_lines(r"^disconnect ", 0))
    s, _, _ = raw_ws(server.port, "/log")
    s.sendall(build_frame(Opcode.BINARY, b"x" * 1000, client=True)[:500])
    s.close()  # FIN after half a frame
    assert server.wait_lines(r"^disconnect ", n + 1)[n].split() == ["disconnect", "1006"]
    wait_for(lambda: server.fds() <= before, what="the connection's descriptor closed")


# -- closing ----------------------------------------------------------------------------------


def test_close_answered_after_peer_half_closed(server):
    s, rest, _ = raw_ws(server.port)
    with s:
        s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye", client=True))
        s.shutdown(socket.SHUT_WR)
        assert Parser(s, rest).close_frame()[0] == 1000
        assert wait_eof(s)


def test_server_drops_tcp_first_after_closing_handshake(server):
    s, rest, _ = raw_ws(server.port)
    with s:
        s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 4001), client=True))
        assert Parser(s, rest).close_frame()[0] == 4001
        assert wait_eof(s, 3), "the server should close TCP after the closing handshake"


def test_close_timeout_when_peer_never_answers(app_dir):
    with Uvicorn(app_dir, ws="fastclose:FastClose") as srv:
        s, rest, _ = raw_ws(srv.port, "/closer")
        with s:
            t0 = time.monotonic()
            assert Parser(s, rest).close_frame()[0] == 1000
            assert wait_eof(s, 5)  # never answered: dropped after close_timeout (0.5 s)
            assert time.monotonic() - t0 < 3


def test_keepalive_ping_and_timeout(app_dir):
    with Uvicorn(app_dir, "--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.4") as srv:
        with client.connect(srv.url()) as ws:  # answers pings while reading
            with pytest.raises(TimeoutError):
                ws.recv(timeout=1.0)
            ws.send("still here")
            assert ws.recv(timeout=5) == "still here"
        s, rest, _ = raw_ws(srv.port)  # never answers
        with s:
            p = Parser(s, rest)
            assert p.next(3).opcode == Opcode.PING
            assert p.close_frame(3) == (1011, "keepalive ping timeout")
            assert wait_eof(s, 3)


def test_peer_that_never_reads_is_dropped(app_dir):
    """The app floods a peer that never reads: pings go unanswered (1011), and the transport,
    whose buffer never drains, is aborted after close_timeout instead of being held forever."""
    with Uvicorn(app_dir, "--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.4", ws="fastclose:FastClose") as srv:
        still_serving(srv)
        before = srv.fds()
        s, _, _ = raw_ws(srv.port, "/flood")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(build_frame(Opcode.TEXT, b"go", client=True))
        with s:
            srv.wait_lines(r"^flood ended", timeout=10)
            wait_for(lambda: srv.fds() <= before, timeout=10, what="the stalled connection's descriptor closed")
        still_serving(srv)


def test_backpressure_bounds_memory_and_loses_nothing(server):
    """A peer sends 64 MiB to the echo app without reading: the app blocks in send, reading
    pauses, the sender stalls; the server's memory grows by far less than what was sent; once
    the peer reads, every echo arrives in order."""
    s, rest, _ = raw_ws(server.port)
    with s:
        payload = b"z" * 16384
        frame = build_frame(Opcode.BINARY, payload, client=True)
        n = 4096
        sent = [0]
        done = threading.Event()
        rss_before = server.rss()

        def sender():
            try:
                for _ in range(n):
                    s.sendall(frame)
                    sent[0] += 1
            except OSError:
                pass
            done.set()

        threading.Thread(target=sender, daemon=True).start()
        last, deadline = -1, time.monotonic() + 15
        while sent[0] != last and not done.is_set() and time.monotonic() < deadline:
            last = sent[0]
            done.wait(0.5)  # the sender's progress is the only signal of the stall
        assert not done.is_set(), "the sender was never stalled: the server kept reading"
        grown = server.rss() - rss_before
        assert grown < (n * len(payload)) // 4, f"server memory grew by {grown} B"
        p = Parser(s, rest)
        for i in range(n):
            assert p.next(20).payload == payload, i
        assert done.wait(10)


def test_graceful_stop_closes_open_connections_with_1012(app_dir):
    srv = Uvicorn(app_dir)
    socks = []
    try:
        for _ in range(50):
            s, rest, _ = raw_ws(srv.port)
            socks.append((s, rest))
        codes = []
        stopper = threading.Thread(target=lambda: codes.append(srv.stop()), daemon=True)
        stopper.start()  # SIGTERM
        for s, rest in socks:
            assert Parser(s, rest).close_frame(10)[0] == 1012
            assert wait_eof(s, 10)
        stopper.join(15)
        assert codes == [-signal.SIGTERM], srv.log()  # uvicorn re-raises the signal it handled
        srv.wait_lines(r"Finished server process", timeout=1)
    finally:
        for s, _ in socks:
            s.close()
        srv.stop()


def test_no_descriptor_leak_over_mixed_traffic(server):
    still_serving(server)
    before = server.fds()
    for _ in range(10):
        with client.connect(server.url()) as ws:
            ws.send("x")
            assert ws.recv(timeout=5) == "x"
        s, _, _ = raw_ws(server.port)
        s.sendall(build_frame(Opcode.BINARY, b"z" * 1000, client=True)[:300])  # then vanish mid-frame
        s.close()
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"junk\r\n\r\n")
            S.recv_all(s, 2)
    wait_for(lambda: server.fds() <= before, timeout=10, what="every connection's descriptor closed")


def test_peer_error_in_a_later_read_waits_until_the_app_has_answered():
    """A message is delivered; the peer's bad frame arrives in a later read while the application
    has not answered yet: the answer still goes out before the close frame (1002), as on every
    other wsframe layer (the driver's held failure)."""
    import asyncio

    S.require_module("uvicorn")
    import uvicorn

    async def main() -> list:
        got, release = asyncio.Event(), asyncio.Event()

        async def app(scope, receive, send):
            assert scope["type"] == "websocket"
            await receive()
            await send({"type": "websocket.accept"})
            message = await receive()
            got.set()
            await release.wait()  # the application is still busy with the message
            await send({"type": "websocket.send", "text": message["text"]})
            await receive()  # asks for more: the held error is applied now

        config = uvicorn.Config(app, host="127.0.0.1", port=0, ws="wsframe.uvicorn:WSFrameProtocol",
                                log_level="warning", lifespan="off", ws_ping_interval=None)
        srv = uvicorn.Server(config)
        task = asyncio.ensure_future(srv.serve())
        while not srv.started:
            await asyncio.sleep(0.01)  # (uvicorn offers no event for it)
        port = srv.servers[0].sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(S.upgrade_request(f"127.0.0.1:{port}"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write(build_frame(Opcode.TEXT, b"one", client=True))
        await asyncio.wait_for(got.wait(), 5)
        writer.write(build_frame(Opcode.TEXT, b"unmasked"))  # a protocol error, in a later read
        await writer.drain()
        from wsframe.uvicorn import WSFrameProtocol

        def held() -> bool:
            return any(isinstance(c, WSFrameProtocol) and c._conn.failure_pending
                       for c in srv.server_state.connections)

        for _ in range(500):  # the server has read the bad frame (before the application answers)
            if held():
                break
            await asyncio.sleep(0.01)
        assert held()
        release.set()
        data = await asyncio.wait_for(reader.read(), 5)  # until the server's EOF
        writer.close()
        srv.should_exit = True
        await asyncio.wait_for(task, 10)
        return _frames(data)

    frames = asyncio.run(main())
    assert frames[0] == (Opcode.TEXT, b"one"), frames
    assert frames[1][0] == Opcode.CLOSE and struct.unpack("!H", frames[1][1][:2])[0] == 1002, frames


def _frames(data: bytes) -> list:
    """(opcode, payload) of each unmasked server frame in ``data`` (short frames only)."""
    out = []
    while data:
        op, n = data[0] & 0x0F, data[1] & 0x7F
        assert n < 126
        out.append((op, data[2:2 + n]))
        data = data[2 + n:]
    return out
