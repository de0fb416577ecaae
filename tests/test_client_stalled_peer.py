"""wsframe.client against a raw socket peer that we script (issue 11): a peer that stops reading
(write timeout, close() during a blocked send), a peer error waiting behind messages nobody takes,
the bounded message queue (backpressure), recv(timeout=0), pings nobody answers."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from wsframe.client import ConnectionClosed, ConnectionClosedError, connect
from wsframe.codec import FrameParser, build_frame
from wsframe.handshake import accept_key

BIG = 32 << 20  # far more than the kernel buffers between the two ends (peer's receive buffer: 64 KiB)


class RawPeer:
    """A server on a raw socket: answers the opening handshake, then does what the test says."""

    def __init__(self, rcvbuf: int = 64 << 10) -> None:
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # inherited by accepted sockets
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.url = f"ws://127.0.0.1:{self.lsock.getsockname()[1]}/"
        self.conn: socket.socket | None = None
        self.opened = threading.Event()
        self.parser = FrameParser(server=True)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        conn, _ = self.lsock.accept()
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key"))
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n")
        self.conn = conn
        self.opened.set()

    def frames_until(self, opcode: int, timeout: float = 5.0) -> list:
        """Read and parse frames until one with ``opcode`` arrives; returns (opcode, payload) pairs."""
        assert self.conn is not None
        self.conn.settimeout(timeout)
        frames: list = []
        while not any(op == opcode for op, _ in frames):
            data = self.conn.recv(65536)
            assert data, f"EOF before opcode {opcode}; got {frames}"
            frames += [(f.opcode, bytes(f.payload)) for f in self.parser.feed(data)]
        return frames

    def read_until_eof(self, timeout: float = 5.0) -> int:
        """Discard everything until EOF (or a reset); returns the byte count."""
        assert self.conn is not None
        self.conn.settimeout(timeout)
        total = 0
        try:
            while data := self.conn.recv(1 << 20):
                total += len(data)
        except ConnectionResetError:
            pass
        return total

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.lsock.close()


@pytest.fixture
def peer():
    p = RawPeer()
    yield p
    p.close()


def open_to(peer: RawPeer, **options):
    options.setdefault("close_timeout", 0.5)  # this peer never answers a close frame
    ws = connect(peer.url, open_timeout=5, **options)
    assert peer.opened.wait(5)
    return ws


def test_send_to_a_peer_that_does_not_read_times_out(peer):
    ws = open_to(peer, write_timeout=0.5, close_timeout=1)  # the peer never reads
    t0 = time.monotonic()
    with pytest.raises(ConnectionClosedError) as info:
        ws.send(b"x" * BIG)
    elapsed = time.monotonic() - t0
    assert 0.4 < elapsed < 5, elapsed
    assert info.value.code == 1006 and isinstance(info.value.error, TimeoutError)
    assert "write timed out" in str(info.value)
    assert ws.close_code == 1006
    with pytest.raises(ConnectionClosed):
        ws.send("after the failure")
    t0 = time.monotonic()
    ws.close()
    assert time.monotonic() - t0 < 1
    assert peer.read_until_eof() < BIG  # the client dropped the connection


def test_close_from_another_thread_during_a_blocked_send_returns_within_close_timeout(peer):
    ws = open_to(peer, write_timeout=60, close_timeout=1)
    outcome: list = []

    def sender():
        try:
            ws.send(b"y" * BIG)
            outcome.append("sent")
        except ConnectionClosed as exc:
            outcome.append(exc)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    peer.conn.recv(1)  # the send is under way; the peer reads nothing more
    t0 = time.monotonic()
    ws.close()
    elapsed = time.monotonic() - t0
    assert elapsed < 1 + 1.0, f"close() took {elapsed:.1f} s with close_timeout=1"
    t.join(5)
    assert not t.is_alive(), "send() still blocked after close()"
    assert isinstance(outcome[0], ConnectionClosedError) and outcome[0].code == 1006
    assert ws.close_code == 1006 and ws.closed
    assert peer.read_until_eof() < BIG


def test_recv_timeout_is_honoured_while_a_send_is_blocked(peer):
    """A send() is blocked on the peer that does not read, and input is there but no whole
    message yet: recv(timeout) still returns on time, again and again."""
    ws = open_to(peer, write_timeout=60)
    blocked = threading.Thread(target=lambda: pytest.raises(ConnectionClosed, ws.send, b"s" * BIG), daemon=True)
    blocked.start()
    peer.conn.recv(1)  # the send is under way; the peer reads nothing more
    peer.conn.sendall(build_frame(2, b"m" * 1000)[:100])  # readable input, no whole message
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)
        assert time.monotonic() - t0 < 1.0
    assert blocked.is_alive()
    ws.close()  # ends the blocked send (close_timeout 0.5)
    blocked.join(5)
    assert not blocked.is_alive()


def test_peer_error_behind_an_untaken_message_fails_the_connection_after_close_timeout(peer):
    """A message then a protocol error in one segment; the application never calls recv():
    the client fails the connection itself (1002) after close_timeout, and the message is
    still there for recv()."""
    ws = open_to(peer, close_timeout=0.5)
    t0 = time.monotonic()
    peer.conn.sendall(build_frame(1, b"hello") + b"\x83\x00")  # text message, then reserved opcode 3
    frames = peer.frames_until(8)
    elapsed = time.monotonic() - t0
    assert frames[-1][0] == 8 and int.from_bytes(frames[-1][1][:2], "big") == 1002
    assert 0.4 < elapsed < 3, elapsed
    assert ws.recv(timeout=0) == "hello"
    with pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=5)
    assert info.value.code == 1002
    ws.close()


def test_recv_timeout_zero_takes_only_what_arrived(peer):
    ws = open_to(peer)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0)
    assert time.monotonic() - t0 < 0.5
    waiter = ws.ping(b"p")
    ping = peer.frames_until(9)[-1]
    assert ping == (9, b"p")
    peer.conn.sendall(build_frame(1, b"first") + build_frame(10, b"p"))  # the message, then the pong
    assert waiter.wait(5)  # the pong came after the message: the message is queued
    assert ws.recv(timeout=0) == "first"
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0)
    ws.close()


def test_unanswered_ping_payload_cannot_be_reused(peer):
    ws = open_to(peer)
    waiter = ws.ping(b"same")
    with pytest.raises(ValueError):
        ws.ping(b"same")
    assert peer.frames_until(9) == [(9, b"same")]
    assert not waiter.is_set()
    peer.conn.sendall(build_frame(10, b"same"))
    assert waiter.wait(5)
    ws.ping(b"same").clear()  # answered: the payload may be used again
    ws.close()


def _flood(peer: RawPeer, count: int, size: int, progress: list, done: threading.Event) -> None:
    frame = build_frame(2, b"z" * size)
    try:
        for _ in range(count):
            peer.conn.sendall(frame)
            progress[0] += 1
    except OSError:
        pass
    finally:
        done.set()


@pytest.mark.parametrize("limits", [dict(max_queue=4), dict(max_queue=None, max_queue_bytes=1 << 20)])
def test_full_queue_stops_reading(peer, limits):
    """The server sends 64 MiB in 64 KiB messages; nobody calls recv(): the client reads only
    until its queue is full, the server's writes back up; recv() then gets every message."""
    ws = open_to(peer, **limits)
    count, size = 1024, 64 << 10
    progress, done = [0], threading.Event()
    peer.conn.settimeout(None)
    threading.Thread(target=_flood, args=(peer, count, size, progress, done), daemon=True).start()
    assert not done.wait(1.5), "the client read everything although nobody called recv()"
    stalled = progress[0]
    assert stalled < count // 2, stalled  # bounded: the queue plus the kernel buffers
    for _ in range(count):
        assert len(ws.recv(timeout=10)) == size
    assert done.wait(10) and progress[0] == count
    ws.close()


def test_without_a_limit_the_reader_reads_while_nobody_calls_recv(peer):
    ws = open_to(peer, max_queue=None, max_queue_bytes=None)
    count, size = 256, 64 << 10
    progress, done = [0], threading.Event()
    peer.conn.settimeout(None)
    threading.Thread(target=_flood, args=(peer, count, size, progress, done), daemon=True).start()
    assert done.wait(10), f"the reader stopped after {progress[0]} messages"
    assert [len(ws.recv(timeout=5)) for _ in range(count)] == [size] * count
    ws.close()


@pytest.mark.parametrize("limit", [3, None])
def test_max_fragments(peer, limit):
    """A message of more frames than max_fragments fails the connection with 1009 (None: no limit)."""
    ws = open_to(peer, max_fragments=limit)
    count = 3
    for extra in (0, 1):
        n = count + extra
        peer.conn.sendall(b"".join(build_frame(1 if i == 0 else 0, b"x", fin=i == n - 1) for i in range(n)))
    assert ws.recv(timeout=5) == "xxx"
    if limit is None:
        assert ws.recv(timeout=5) == "xxxx"
    else:
        assert peer.frames_until(8)[-1][1][:2] == (1009).to_bytes(2, "big")
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=5)
        assert info.value.code == 1009
    ws.close()
