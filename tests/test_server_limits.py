"""Tests of the server's limits: backpressure, stalled writes, max_connections,
keepalive, idle time, the per-message time limit, and accepting at the file
descriptor limit."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from test_server_helpers import Child, Parser, S, cpu_seconds, wait_eof, wait_for  # noqa: E402

from wsframe import client  # noqa: E402  (an import error fails these tests: nothing is skipped)
from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402
from wsframe.exceptions import ConnectionClosed  # noqa: E402
from wsframe.server import Application  # noqa: E402


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
            wait_for(lambda: c.paused, 10, "the server to stop reading a peer that does not read")
            assert c.buffered_amount <= 64 * 1024 + 2 * len(frame) + 256 * 1024
            assert not sender_done.is_set()
            # now read everything: the server resumes and echoes all
            p = Parser(s, rest)
            for _ in range(n):
                assert p.next(10).payload == payload
            t.join(5)
            assert sender_done.is_set()


def test_peer_that_never_reads_is_dropped_after_write_timeout():
    class Flood(Application):
        def on_message(self, ws, data):
            for _ in range(64):
                ws.send(b"f" * 65536)

    with S.running_server(Flood(), write_timeout=0.5, high_water=256 * 1024) as server:
        before = S.open_fds()
        s, _ = S.raw_ws(server.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(build_frame(Opcode.TEXT, b"go", client=True))
        # meanwhile another client is served normally
        with client.connect(server.url) as ws:
            ws.send("x")
            assert ws.recv(5) == b"f" * 65536  # Flood answers everyone with 64 x 64 KiB
        wait_for(lambda: not server.connections, 5, "the stalled peer to be dropped")
        s.close()
        assert S.wait_fds(before) <= before


# -- limits, keepalive, idle ---------------------------------------------------


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


def test_keepalive_ping_and_timeout():
    with S.running_server(ping_interval=0.2, ping_timeout=0.4) as server:
        # a peer that answers pings (wsframe.client does, while reading) stays
        with client.connect(server.url) as ws:
            with pytest.raises(TimeoutError):
                ws.recv(1.0)
            ws.send("still here")
            assert ws.recv(5) == "still here"
        # a raw peer that never answers is failed with 1011
        s, rest = S.raw_ws(server.port)
        with s:
            p = Parser(s, rest)
            f = p.next(3)
            assert f.opcode == Opcode.PING
            assert p.close_frame(3)[0] == 1011
            assert wait_eof(s, 3)


def test_idle_timeout_closes_1001():
    with S.running_server(idle_timeout=0.3) as server:
        with client.connect(server.url) as ws:
            with pytest.raises(ConnectionClosed) as exc:
                ws.recv(5)
            assert exc.value.code == 1001




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


def test_message_trickled_byte_by_byte_is_closed_1008():
    """Each byte resets the idle timer, so only the per-message limit ends it."""
    with S.running_server(message_timeout=0.6, idle_timeout=0.4) as server:
        s, rest = S.raw_ws(server.port)
        stop = threading.Event()
        with s:
            frame = build_frame(Opcode.TEXT, b"x" * 200, client=True)
            t0 = time.monotonic()
            t = threading.Thread(target=trickle, args=(s, frame, 0.05, stop), daemon=True)
            t.start()
            try:
                code, reason = Parser(s, rest).close_frame(10)
            finally:
                stop.set()
            elapsed = time.monotonic() - t0
            assert code == 1008, (code, reason)
            assert 0.6 <= elapsed < 3.0, elapsed
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
        assert server.message_timeout is None
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
    limit = 48
    with Child(FD_LIMIT_SERVER, str(limit)) as child:
        port = int(child.wait_line(r"port (\d+)").group(1))
        socks = []
        try:
            for _ in range(limit + 30):  # more clients than descriptors: the rest wait in the backlog
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            child.wait_line(r"WARNING cannot accept connections")
            # Idle while out of descriptors: no busy loop on the listening socket.
            cpu0, t0 = cpu_seconds(child.proc.pid), time.monotonic()
            time.sleep(2.0)  # the measured window
            used = cpu_seconds(child.proc.pid) - cpu0
            assert used < 0.2 * (time.monotonic() - t0), f"{used:.2f} s of CPU in a 2 s window"
            assert child.count(r"WARNING cannot accept") == 1
            # Clients close: descriptors free up, the backlog is accepted, and new clients are served.
            for s in socks[:40]:
                s.close()
            del socks[:40]
            child.wait_line(r"accepting connections again")
            ws, rest = S.raw_ws(port)
            with ws:
                ws.sendall(build_frame(Opcode.TEXT, b"served again", client=True))
                assert Parser(ws, rest).next(5).payload == b"served again"
            assert child.count(r"WARNING cannot accept") == 1
        finally:
            for s in socks:
                s.close()
        assert child.stop() == 0
