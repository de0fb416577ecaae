"""Contract, every server layer: time limits (message, keepalive, idle, write), frames per
message, and backpressure against a peer that does not read."""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest
from _servers import Handler
from _wire import Parser, S, raw_ws, still_serving, wait_eof, wait_for

from wsframe import client
from wsframe.codec import build_frame
from wsframe.enums import Opcode
from wsframe.exceptions import ConnectionClosed


def _readable(s: socket.socket, timeout: float) -> bool:
    return bool(select.select([s], [], [], timeout)[0])


def test_slow_message_is_closed_1008_by_message_timeout(start):
    with start(message_timeout=0.3) as server:
        s, rest, _ = raw_ws(server.port)
        with s:
            frame = build_frame(Opcode.BINARY, b"y" * 1000, client=True)
            s.sendall(frame[:100])  # a frame that never completes, data trickling in
            t0 = time.monotonic()
            i = 100
            while not _readable(s, 0.05) and time.monotonic() - t0 < 3:
                s.sendall(frame[i:i + 1])
                i += 1
            assert Parser(s, rest).close_frame()[0] == 1008
            assert time.monotonic() - t0 < 4
        s, rest, _ = raw_ws(server.port)  # a fragmented message whose last fragment never comes
        with s:
            s.sendall(build_frame(Opcode.TEXT, b"start", fin=False, client=True))
            assert Parser(s, rest).close_frame()[0] == 1008
        still_serving(server)


def test_keepalive_ping_and_timeout(start):
    with start(ping_interval=0.2, ping_timeout=0.4) as server:
        with client.connect(server.url) as ws:  # answers pings while reading
            with pytest.raises(TimeoutError):
                ws.recv(1.0)
            ws.send("still here")
            assert ws.recv(5) == "still here"
        s, rest, _ = raw_ws(server.port)  # never answers
        with s:
            p = Parser(s, rest)
            assert p.next(3).opcode == Opcode.PING
            assert p.close_frame(3)[0] == 1011
            assert wait_eof(s, 3)


def test_idle_timeout_closes_1001(start):
    with start(idle_timeout=0.3) as server:
        with client.connect(server.url) as ws:
            with pytest.raises(ConnectionClosed) as exc:
                ws.recv(5)
            assert exc.value.code == 1001


def test_max_fragments_bounds_the_frames_of_one_message(start):
    with start(max_fragments=8) as server:
        for count, code in ((8, None), (9, 1009)):
            s, rest, _ = raw_ws(server.port)
            with s:
                s.sendall(b"".join(build_frame(Opcode.TEXT if i == 0 else Opcode.CONTINUATION, b"f",
                                               fin=i == count - 1, client=True) for i in range(count)))
                p = Parser(s, rest)
                if code is None:
                    assert bytes(p.next().payload) == b"f" * count
                else:
                    assert p.close_frame()[0] == code


def test_backpressure_stops_reading_and_loses_nothing(start):
    """A peer sends 16 MiB without reading: the server stops reading (the sender stalls); once
    the peer reads, every echo arrives in order."""
    with start(high_water=64 << 10, low_water=16 << 10, write_timeout=None) as server:
        s, rest, _ = raw_ws(server.port)
        with s:
            payload = b"z" * 16384
            frame = build_frame(Opcode.BINARY, payload, client=True)
            n = 1024
            sent = [0]
            done = threading.Event()

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
                done.wait(0.3)  # the sender's progress is the only signal of the stall
            assert not done.is_set(), "the sender was never stalled: the server kept reading"
            p = Parser(s, rest)
            for i in range(n):
                assert p.next(20).payload == payload, i
            assert done.wait(10)


def test_peer_that_never_reads_is_dropped_after_write_timeout(start):
    with start(Handler("flood", count=64), write_timeout=0.5, high_water=256 << 10) as server:
        before = S.open_fds()
        s, _, _ = raw_ws(server.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(build_frame(Opcode.TEXT, b"go", client=True))
        with s:
            assert server.received.wait(5)
            wait_for(lambda: not server.connections(), 10, "the stalled peer dropped")
        assert S.wait_fds(before) <= before
