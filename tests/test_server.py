"""Tests of wsframe.server: echo, coalescing, backpressure, limits, timeouts,
bad input, TLS, graceful stop, workers, and 1,000 concurrent connections."""

from __future__ import annotations

import os
import resource
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

from wsframe.codec import FrameParser, build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402
from wsframe.server import Application, EchoApplication  # noqa: E402

client = pytest.importorskip("wsframe.client")


class Parser:
    """Reads server frames from a raw socket (test helper)."""

    def __init__(self, sock: socket.socket, initial: bytes = b"") -> None:
        self.sock = sock
        self.parser = FrameParser(server=False, max_frame_size=None)
        self.frames = list(self.parser.feed(initial)) if initial else []

    def next(self, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while not self.frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.frames.extend(self.parser.feed(data))
        return self.frames.pop(0)

    def close_frame(self, timeout: float = 5.0):
        """Skip to the close frame; return its (code, reason)."""
        while True:
            f = self.next(timeout)
            if f.opcode == Opcode.CLOSE:
                code = struct.unpack("!H", f.payload[:2])[0] if len(f.payload) >= 2 else 1005
                return code, f.payload[2:].decode()


def wait_eof(sock: socket.socket, timeout: float = 5.0) -> bool:
    return S.recv_all(sock, timeout)[1]


@pytest.fixture
def echo():
    with S.running_server() as server:
        yield server


# -- basics ----------------------------------------------------------------


def test_echo_text_binary_and_close(echo):
    with client.connect(echo.url) as ws:
        ws.send("hello")
        assert ws.recv(5) == "hello"
        ws.send("héllo ✓ 🎉")
        assert ws.recv(5) == "héllo ✓ 🎉"
        ws.send(b"\x00\x01\xff")
        assert ws.recv(5) == b"\x00\x01\xff"
        ws.send("")
        assert ws.recv(5) == ""
    assert ws.close_code == 1000


def test_pipelined_replies_are_coalesced(monkeypatch):
    """100 frames in one TCP segment: all echoed, in order, in one send."""
    import wsframe.server.accept as server_mod

    sizes = []

    class CountingConnection(server_mod.ServerConnection):
        def data_to_send(self):
            data = super().data_to_send()
            if data:
                sizes.append(len(data))
            return data

    monkeypatch.setattr(server_mod, "ServerConnection", CountingConnection)
    with S.running_server() as server:
        s, rest = S.raw_ws(server.port)
        with s:
            burst = b"".join(build_frame(Opcode.TEXT, b"m%03d" % i, client=True) for i in range(100))
            s.sendall(burst)
            p = Parser(s, rest)
            got = [p.next().payload for _ in range(100)]
            assert got == [b"m%03d" % i for i in range(100)]
            replies = sizes[1:]  # after the 101 response
    # one output chunk per read (the burst may be split into a few reads), not per message
    assert replies and len(replies) <= 3 and sum(replies) == 100 * 6, sizes


def test_connection_keeps_nothing_of_a_reused_read_buffer():
    """The server feeds each read as a memoryview of one shared, reused buffer:
    the connection (C or pure-Python codec) must copy whatever it keeps. Frames
    and the handshake are split at every boundary, and the buffer is overwritten
    after each feed."""
    from wsframe import events
    from wsframe.connection import ServerConnection

    head = S.upgrade_request("127.0.0.1:9001")
    frames = [
        build_frame(Opcode.TEXT, "héllo wörld ✓".encode(), client=True),
        build_frame(Opcode.BINARY, bytes(range(256)) * 3, client=True),  # 16-bit length
        build_frame(Opcode.TEXT, b"frag-", fin=False, client=True),
        build_frame(Opcode.PING, b"ping!", client=True),
        build_frame(Opcode.CONTINUATION, b"mented", client=True),
        build_frame(Opcode.BINARY, b"\xaa" * 70000, client=True),  # 64-bit length, streamed in pieces
    ]
    stream = head + b"".join(frames)
    buf = bytearray(4096)
    view = memoryview(buf)
    for step in (1, 2, 3, 7, 13, 100, 1000, 4096):
        conn = ServerConnection()
        got = []
        for i in range(0, len(stream), step):
            chunk = stream[i:i + step]
            buf[:len(chunk)] = chunk
            conn.receive_data(view[:len(chunk)])
            buf[:] = b"\x55" * len(buf)  # the next read overwrites the buffer
            got.extend(conn.events())
        msgs = [e.data for e in got if type(e) in (events.TextMessage, events.BinaryMessage)]
        assert msgs == ["héllo wörld ✓", bytes(range(256)) * 3, "frag-mented", b"\xaa" * 70000], step
        assert [e.payload for e in got if type(e) is events.Ping] == [b"ping!"], step
        assert conn.state.name == "OPEN", step


def test_interleaved_partial_frames_share_the_receive_buffer(echo):
    """Two connections with frames split across reads: each read reuses the
    server's one receive buffer; every echo must be intact."""
    a, rest_a = S.raw_ws(echo.port)
    b, rest_b = S.raw_ws(echo.port)
    with a, b:
        pa, pb = Parser(a, rest_a), Parser(b, rest_b)
        fa = build_frame(Opcode.BINARY, b"A" * 300 + b"end-a", client=True)
        fb = build_frame(Opcode.BINARY, b"B" * 200 + b"end-b", client=True)
        for i in range(0, max(len(fa), len(fb)), 37):
            a.sendall(fa[i:i + 37])
            time.sleep(0.002)
            b.sendall(fb[i:i + 37])
            time.sleep(0.002)
        assert pa.next().payload == b"A" * 300 + b"end-a"
        assert pb.next().payload == b"B" * 200 + b"end-b"


def test_application_callbacks_and_server_initiated_close():
    log = []
    done = threading.Event()

    class App(Application):
        def on_open(self, ws):
            log.append(("open", ws.request.path))
            ws.send("welcome")

        def on_message(self, ws, data):
            log.append(("msg", data))
            if data == "bye":
                ws.close(4000, "asked to")
            else:
                ws.send(data)

        def on_close(self, ws, code, reason):
            log.append(("close", code, reason))
            done.set()

    with S.running_server(App()) as server:
        with client.connect(server.url + "chat?x=1") as ws:
            assert ws.recv(5) == "welcome"
            ws.send("one")
            assert ws.recv(5) == "one"
            ws.send("bye")
            with pytest.raises(client.ConnectionClosedError) as exc:
                ws.recv(5)
            assert exc.value.code == 4000
        assert done.wait(5)
    assert log[0] == ("open", "/chat?x=1")
    assert ("msg", "one") in log and log[-1][:2] == ("close", 4000)


def test_application_error_closes_1011():
    class Broken(Application):
        def on_message(self, ws, data):
            raise RuntimeError("boom")

    with S.running_server(Broken()) as server:
        ws = client.connect(server.url)
        ws.send("x")
        with pytest.raises(client.ConnectionClosedError) as exc:
            ws.recv(5)
        assert exc.value.code == 1011
        ws.close()


def test_call_soon_threadsafe_and_connections(echo):
    with client.connect(echo.url) as ws:
        ws.send("a")
        assert ws.recv(5) == "a"
        assert len(echo.connections) == 1
        conn = echo.connections[0]
        echo.call_soon_threadsafe(lambda: conn.send("pushed"))
        assert ws.recv(5) == "pushed"


# -- half-close, closing handshake -------------------------------------------


def test_close_answered_after_peer_half_closed(echo):
    s, rest = S.raw_ws(echo.port)
    with s:
        s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye", client=True))
        s.shutdown(socket.SHUT_WR)
        p = Parser(s, rest)
        assert p.close_frame()[0] == 1000
        assert wait_eof(s)


def test_close_answered_when_close_and_fin_arrive_together(echo):
    s, rest = S.raw_ws(echo.port)
    with s:
        # The close is answered while its segment is processed, so the echo of
        # "last" (dispatched after) may not be sent: only the close is checked.
        s.sendall(build_frame(Opcode.TEXT, b"last", client=True)
                  + build_frame(Opcode.CLOSE, struct.pack("!H", 1001), client=True))
        s.shutdown(socket.SHUT_WR)
        p = Parser(s, rest)
        assert p.close_frame()[0] == 1001
        assert wait_eof(s)


def test_server_drops_tcp_first_after_closing_handshake(echo):
    s, rest = S.raw_ws(echo.port)
    with s:
        s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1000), client=True))
        p = Parser(s, rest)
        assert p.close_frame()[0] == 1000
        assert wait_eof(s, 3), "the server should close TCP after the closing handshake"


def test_close_timeout_when_peer_never_answers():
    class Closer(Application):
        def on_open(self, ws):
            ws.close(1000)

    with S.running_server(Closer(), close_timeout=0.3) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            t0 = time.monotonic()
            assert Parser(s, rest).close_frame()[0] == 1000
            assert wait_eof(s, 5)  # we never answer: dropped after close_timeout
            assert time.monotonic() - t0 < 3


# -- bad input ----------------------------------------------------------------


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
    with client.connect(echo.url) as ws:
        ws.send("still serving")
        assert ws.recv(5) == "still serving"
    assert S.wait_fds(before) <= before


def test_handshake_that_never_finishes_times_out():
    with S.running_server(handshake_timeout=0.3) as server:
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")  # no end
            assert wait_eof(s, 5)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s2:
            assert wait_eof(s2, 5)  # silent client
        assert time.monotonic() - t0 < 4
        with client.connect(server.url) as ws:
            ws.send("ok")
            assert ws.recv(5) == "ok"


def test_huge_headers_rejected():
    with S.running_server(max_header_size=4096) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            big = "X-Big: " + "a" * 8000 + "\r\n"
            try:
                s.sendall(S.upgrade_request(extra=big))
            except (BrokenPipeError, ConnectionResetError):
                pass
            data, _ = S.recv_all(s)
            assert data.startswith(b"HTTP/1.1 431") or data.startswith(b"HTTP/1.1 400"), data[:80]
        with client.connect(server.url) as ws:
            ws.send("fine")
            assert ws.recv(5) == "fine"


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


def test_message_over_max_size_is_1009():
    with S.running_server(max_message_size=1000) as server:
        with client.connect(server.url, max_message_size=None) as ws:
            ws.send("a" * 1000)
            assert ws.recv(5) == "a" * 1000
            ws.send("a" * 1001)
            with pytest.raises(client.ConnectionClosedError) as exc:
                ws.recv(5)
            assert exc.value.code == 1009


def test_disconnect_mid_frame_is_1006_and_no_leak():
    closed = []
    done = threading.Event()

    class App(EchoApplication):
        def on_close(self, ws, code, reason):
            closed.append(code)
            done.set()

    with S.running_server(App()) as server:
        before = S.open_fds()
        s, _ = S.raw_ws(server.port)
        frame = build_frame(Opcode.BINARY, b"x" * 1000, client=True)
        s.sendall(frame[:500])
        time.sleep(0.05)
        s.close()
        assert done.wait(5)
        assert closed == [1006]
        assert S.wait_fds(before) <= before
        with client.connect(server.url) as ws:
            ws.send("alive")
            assert ws.recv(5) == "alive"


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
            time.sleep(1.0)
            conns = server.connections
            assert len(conns) == 1
            c = conns[0]
            assert c.paused, "the server should have stopped reading a peer that does not read"
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
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.connections, "the stalled peer should have been dropped"
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
            time.sleep(0.2)
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
            with pytest.raises(client.ConnectionClosed) as exc:
                ws.recv(5)
            assert exc.value.code == 1001


# -- TLS --------------------------------------------------------------------------


def test_wss_echo_with_trustme(tmp_path):
    from wsframe.server import make_ssl_context

    _, ca_path, cert_path, key_path = S.make_certs(tmp_path)
    ctx = make_ssl_context(str(cert_path), str(key_path))
    with S.running_server(ssl_context=ctx) as server:
        assert server.url.startswith("wss://")
        url = f"wss://localhost:{server.port}/"
        with client.connect(url, cafile=str(ca_path)) as ws:
            ws.send("secure ✓")
            assert ws.recv(5) == "secure ✓"
            big = os.urandom(300_000)
            ws.send(big)
            assert ws.recv(5) == big
        # untrusted: the TLS handshake fails, the server survives
        with pytest.raises(ssl.SSLError):
            client.connect(url)
        # a plain-TCP client that stalls in the TLS handshake is timed out
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            assert wait_eof(s, 12)
        with client.connect(url, cafile=str(ca_path)) as ws:
            ws.send("again")
            assert ws.recv(5) == "again"


# -- fd accounting over a mixed session -----------------------------------------------


def test_no_fd_leak_over_mixed_traffic(echo):
    before = S.open_fds()
    for _ in range(20):
        with client.connect(echo.url) as ws:
            ws.send("x")
            ws.recv(5)
    for _ in range(5):
        s, _ = S.raw_ws(echo.port)
        s.close()
        with socket.create_connection(("127.0.0.1", echo.port)) as s:
            s.sendall(b"junk\r\n\r\n")
            S.recv_all(s, 2)
    deadline = time.monotonic() + 5
    while echo.connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not echo.connections
    assert S.wait_fds(before) <= before


# -- processes: graceful stop, workers, CLI ---------------------------------------------


def test_graceful_stop_on_sigterm_sends_1001_and_exits_0():
    with S.EchoProcess() as proc:
        ws = client.connect(proc.url)
        ws.send("before stop")
        assert ws.recv(5) == "before stop"
        t0 = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        with pytest.raises(client.ConnectionClosed) as exc:
            ws.recv(5)
        assert exc.value.code == 1001
        ws.close()
        assert proc.proc.wait(10) == 0
        assert time.monotonic() - t0 < 5
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", proc.port), timeout=1).close()


def test_graceful_stop_on_sigint():
    with S.EchoProcess("-v") as proc:
        ws = client.connect(proc.url)
        ws.send("x")
        assert ws.recv(5) == "x"
        proc.proc.send_signal(signal.SIGINT)
        with pytest.raises(client.ConnectionClosed):
            ws.recv(5)
        ws.close()
        assert proc.proc.wait(10) == 0
        log = "".join(proc.lines)
        assert "open 127.0.0.1:" in log and "code=1001" in log, log


def test_workers_share_the_port():
    with S.EchoProcess("--workers", "2") as proc:
        for i in range(8):
            with client.connect(proc.url) as ws:
                ws.send(f"w{i}")
                assert ws.recv(5) == f"w{i}"
        assert proc.stop() == 0


def test_cli_client_interactive():
    import subprocess

    with S.running_server() as server:
        env = dict(os.environ, PYTHONPATH=str(S.REPO))
        out = subprocess.run([sys.executable, "-m", "wsframe", "client", server.url],
                             input="hello\nwörld\n", capture_output=True, text=True, timeout=20, env=env)
        assert out.returncode == 0, out.stderr
        assert "< hello" in out.stdout and "< wörld" in out.stdout


# -- scale --------------------------------------------------------------------------


def test_1000_concurrent_connections():
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * n + 200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        with S.EchoProcess() as proc:  # the child inherits the raised limit
            socks = []
            try:
                for _ in range(n):
                    s, rest = S.raw_ws(proc.port)
                    assert rest == b""
                    socks.append(s)
                for i, s in enumerate(socks):
                    s.sendall(build_frame(Opcode.TEXT, b"c%d" % i, client=True))
                for i, s in enumerate(socks):
                    assert Parser(s).next(10).payload == b"c%d" % i
                for s in socks:
                    s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1000), client=True))
                for s in socks:
                    assert Parser(s).close_frame(10)[0] == 1000
            finally:
                for s in socks:
                    s.close()
            assert proc.stop() == 0
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_cli_compression_switch():
    pmd = pytest.importorskip("wsframe.permessage_deflate")
    for args, negotiated in (((), True), (("--no-compression",), False)):
        with S.EchoProcess(*args) as proc:
            with client.connect(proc.url, extensions=[pmd.ClientPerMessageDeflate()]) as ws:
                assert bool(ws.conn.extensions) is negotiated
                ws.send("compress me " * 100)
                assert ws.recv(5) == "compress me " * 100
            assert proc.stop() == 0
