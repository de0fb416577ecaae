"""Tests of the selectors server's limits that only it has: backpressure bounds, max_connections,
the fragment cap's default, the per-message time limit's details, and accepting at the file
descriptor limit (the limits every layer shares are tested in tests/contract/)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from test_server_helpers import Child, Parser, S, cpu_seconds, wait_for  # noqa: E402

from wsframe import client  # noqa: E402  (an import error fails these tests: nothing is skipped)
from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402


# -- backpressure, stalled peers -----------------------------------------------


def test_backpressure_stops_reading_and_resumes():
    with S.running_server(high_water=64 * 1024, low_water=16 * 1024, write_timeout=None) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            payload = b"z" * 16384
            frame = build_frame(Opcode.BINARY, payload, client=True)
            n = 2000  # 32 MB: far more than kernel buffers plus the high-water mark
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
            conns = server.connections
            assert len(conns) == 1
            c = conns[0]
            wait_for(lambda: c.transport.paused, 10, "the server to stop reading a peer that does not read")
            assert c.buffered_amount <= 64 * 1024 + 2 * len(frame) + 256 * 1024
            assert not sender_done.is_set()
            # now read everything: the server resumes and echoes all
            p = Parser(s, rest)
            for _ in range(n):
                assert p.next(10).payload == payload
            t.join(5)
            assert sender_done.is_set()


# -- connection limit ---------------------------------------------------------


def test_max_connections_refused_cleanly():
    with S.running_server(max_connections=3) as server:
        clients = [client.connect(server.url) for _ in range(3)]
        try:
            with pytest.raises(Exception) as exc:
                client.connect(server.url)
            assert getattr(exc.value, "status", None) == 503, exc.value
            clients.pop().close()
            wait_for(lambda: len(server.connections) == 2, 5, "the closed client to be gone")
            with client.connect(server.url) as ws:  # a slot is free again
                ws.send("in")
                assert ws.recv(5) == "in"
        finally:
            for c in clients:
                c.close()


# -- frames per message ---------------------------------------------------------------


def send_fragments(sock: socket.socket, count: int) -> None:
    """One text message in ``count`` frames (one byte each)."""
    frames = [build_frame(Opcode.TEXT if i == 0 else Opcode.CONTINUATION, b"f", fin=i == count - 1, client=True)
              for i in range(count)]
    sock.sendall(b"".join(frames))


def test_max_fragments_default_and_none():
    from wsframe.connection import DEFAULT_MAX_FRAGMENTS
    from wsframe.limits import Limits

    cap = Limits().fragment_cap  # derived from max_message_size: 1 MiB / 64 B
    assert cap == 16384
    with S.running_server() as server:  # the default
        s, rest = S.raw_ws(server.port)
        with s:
            send_fragments(s, cap + 1)
            assert Parser(s, rest).close_frame()[0] == 1009
    with S.running_server(max_fragments=None) as server:  # no limit
        s, rest = S.raw_ws(server.port)
        with s:
            send_fragments(s, 3 * DEFAULT_MAX_FRAGMENTS)
            assert Parser(s, rest).next(10).payload == b"f" * (3 * DEFAULT_MAX_FRAGMENTS)


# -- per-message time limit ---------------------------------------------------------


def trickle(sock: socket.socket, data: bytes, interval: float, stop: threading.Event) -> None:
    """Send ``data`` one byte per ``interval`` seconds (pacing, not synchronisation)."""
    for i in range(len(data)):
        if stop.wait(interval):
            return
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return


@pytest.mark.parametrize("interval, limit, idle", [(0.05, 0.6, 0.4), (1.0, 2.5, 1.5)],
                         ids=["20-bytes-per-s", "1-byte-per-s"])
def test_message_trickled_byte_by_byte_is_closed_1008(interval, limit, idle):
    """Each byte resets the idle timer (idle_timeout is longer than the gap between bytes),
    so only the per-message limit ends it: close 1008 once ``limit`` has passed."""
    with S.running_server(message_timeout=limit, idle_timeout=idle) as server:
        s, rest = S.raw_ws(server.port)
        stop = threading.Event()
        with s:
            frame = build_frame(Opcode.TEXT, b"x" * 200, client=True)
            t0 = time.monotonic()
            t = threading.Thread(target=trickle, args=(s, frame, interval, stop), daemon=True)
            t.start()
            try:
                code, reason = Parser(s, rest).close_frame(10)
            finally:
                stop.set()
            elapsed = time.monotonic() - t0
            assert code == 1008, (code, reason)
            assert limit <= elapsed < limit + 2.5, elapsed  # the sweep runs at least once a second
            t.join(5)


def test_slow_messages_within_the_limit_are_served():
    """Messages that each complete within message_timeout are fine, however long the session."""
    with S.running_server(message_timeout=0.5) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            p = Parser(s, rest)
            t0 = time.monotonic()
            i = 0
            while time.monotonic() - t0 < 1.5:  # three times the limit, with a message always arriving
                frame = build_frame(Opcode.TEXT, b"m%d" % i, client=True)
                s.sendall(frame[:3])
                time.sleep(0.2)  # pacing: part of a message waits in the server
                s.sendall(frame[3:])
                assert p.next(5).payload == b"m%d" % i
                i += 1


def test_message_timeout_none_disables_it():
    with S.running_server(message_timeout=None, handshake_timeout=0.2) as server:
        assert server.limits.message_timeout is None
        s, rest = S.raw_ws(server.port)
        with s:
            s.sendall(build_frame(Opcode.TEXT, b"x" * 100, client=True)[:10])
            wait_for(lambda: any(c.conn.message_in_progress for c in server.connections), what="partial frame")
            p = Parser(s, rest)
            with pytest.raises(TimeoutError):
                p.next(1.0)  # the sweep (every 0.05 s here) closes nothing


# -- accepting at the file descriptor limit ------------------------------------------

FD_LIMIT_SERVER = """
import logging, resource, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
from wsframe.server import EchoApplication, Server
server = Server(EchoApplication(), "127.0.0.1", 0, handshake_timeout=60)
print("port", server.port, file=sys.stderr, flush=True)
server.install_signal_handlers()
server.serve_forever()
"""


def test_accept_at_the_fd_limit_backs_off_quietly_and_recovers():
    """Two out-of-descriptors episodes (RLIMIT_NOFILE 48 in the child, more clients than that):
    in each, one warning, and the server's CPU over the whole episode (from the warning until
    it accepts again) stays low: no busy loop on the listening socket."""
    limit = 48
    with Child(FD_LIMIT_SERVER, str(limit)) as child:
        port = int(child.wait_line(r"port (\d+)").group(1))
        socks: list = []
        try:
            for episode in (1, 2):
                for _ in range(limit + 30):  # more clients than descriptors: the rest wait in the backlog
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                child.wait_count(r"WARNING cannot accept connections", episode)
                cpu0, t0 = cpu_seconds(child.proc.pid), time.monotonic()
                time.sleep(2.0)  # part of the measured episode: out of descriptors, clients waiting
                # Clients close: descriptors free up, the backlog is accepted, new clients are served.
                for s in socks:
                    s.close()
                socks.clear()
                child.wait_count(r"accepting connections again", episode)
                used, elapsed = cpu_seconds(child.proc.pid) - cpu0, time.monotonic() - t0
                assert used < 0.05 * elapsed, f"episode {episode}: {used:.2f} s of CPU in {elapsed:.1f} s"
                ws, rest = S.raw_ws(port)
                with ws:
                    ws.sendall(build_frame(Opcode.TEXT, b"served again %d" % episode, client=True))
                    assert Parser(ws, rest).next(5).payload == b"served again %d" % episode
                assert child.count(r"WARNING cannot accept") == episode  # one warning per episode
        finally:
            for s in socks:
                s.close()
        assert child.stop() == 0
