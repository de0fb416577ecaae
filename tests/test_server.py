"""Tests of wsframe.server in a thread that only this layer has: coalescing of pipelined replies,
the shared receive buffer, callbacks, call_soon_threadsafe, the built-in echo's closing handshake,
TLS. Limits are in test_server_limits.py, processes (signals, workers) in test_server_process.py;
the hostile-input and behaviour tests every layer shares are in tests/contract/."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import struct
import threading

import pytest

from test_server_helpers import Parser, S, wait_eof, wait_for  # noqa: E402

from wsframe import client  # noqa: E402  (an import error fails these tests: nothing is skipped)
from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402
from wsframe.exceptions import ConnectionClosedError  # noqa: E402
from wsframe.server import Application, EchoApplication  # noqa: E402


class UserEcho(Application):
    """An echo as a user writes it."""

    def on_message(self, ws, data):
        ws.send(data)


@pytest.fixture
def echo():
    with S.running_server() as server:
        yield server


# -- basics ----------------------------------------------------------------


def test_public_names():
    import wsframe.server as server

    for name in ("Server", "Application", "EchoApplication", "ServerWebSocket", "serve", "run_workers",
                 "make_ssl_context"):
        assert name in server.__all__ and hasattr(server, name), name
    # The application's handle is thin; the transport state is on the per-connection transport.
    from wsframe.server.transport import Transport

    assert "interest" in Transport.__slots__ and "mask" not in Transport.__slots__
    assert "interest" not in server.ServerWebSocket.__slots__


def test_no_special_case_for_the_echo_application():
    """The server never checks the application's type: EchoApplication is just
    an Application, and a user's echo is dispatched the same way."""
    import importlib
    import inspect

    import wsframe.server as server

    # The .py sources are also those of the compiled modules (_pump_c, _transport_c,
    # _wssend_c, _sockio): the check holds for both builds.
    for name in ("loop", "transport", "accept", "_pump", "_wssend", "_sockio_py"):
        source = inspect.getsource(importlib.import_module(f"wsframe.server.{name}"))
        assert "EchoApplication" not in source and "on_message is" not in source, name
    assert "_mark_dirty" not in inspect.getsource(server.EchoApplication)
    # What the transport calls per message is the application's own method.
    app = UserEcho()
    s = server.Server(app, "127.0.0.1", 0)
    try:
        assert s.on_message == app.on_message
    finally:
        s.close()


@pytest.mark.parametrize("builtin", [True, False], ids=["EchoApplication", "user-app"])
def test_pipelined_replies_are_coalesced(monkeypatch, builtin):
    """100 frames in one TCP segment: all echoed, in order, in one send per
    read, by the built-in echo and by an application written by a user alike."""
    import wsframe.server.loop as server_mod

    sizes = []

    class CountingConnection(server_mod.ServerConnection):
        def data_to_send(self):
            data = super().data_to_send()
            if data:
                sizes.append(len(data))
            return data

    monkeypatch.setattr(server_mod, "ServerConnection", CountingConnection)
    with S.running_server(EchoApplication() if builtin else UserEcho()) as server:
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


def in_progress(server, n: int) -> bool:
    """True when ``n`` of the server's connections hold a partly received message."""
    return sum(1 for c in server.connections if c.conn.message_in_progress) >= n


def test_interleaved_partial_frames_share_the_receive_buffer(echo):
    """Two connections, each with a frame received in part (both waiting in the
    server at once), then the rest: every read reuses the server's one receive
    buffer; both echoes must be intact."""
    a, rest_a = S.raw_ws(echo.port)
    b, rest_b = S.raw_ws(echo.port)
    with a, b:
        pa, pb = Parser(a, rest_a), Parser(b, rest_b)
        fa = build_frame(Opcode.BINARY, b"A" * 300 + b"end-a", client=True)
        fb = build_frame(Opcode.BINARY, b"B" * 200 + b"end-b", client=True)
        for start, stop in ((0, 37), (37, 150), (150, None)):
            a.sendall(fa[start:stop])
            b.sendall(fb[start:stop])
            if stop is not None:
                wait_for(lambda: in_progress(echo, 2), what="both partial frames received")
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
            with pytest.raises(ConnectionClosedError) as exc:
                ws.recv(5)
            assert exc.value.code == 4000
        assert done.wait(5)
    assert log[0] == ("open", "/chat?x=1")
    assert ("msg", "one") in log and log[-1][:2] == ("close", 4000)


def test_startup_log_names_the_codec(caplog):
    import wsframe
    from wsframe import codec

    caplog.set_level(logging.INFO, logger="wsframe.server")
    with S.running_server() as server:
        url = server.url
    line = next(r.getMessage() for r in caplog.records if "listening on" in r.getMessage())
    assert url in line
    if wsframe.speedups_enabled:
        assert f"C extension, SIMD {codec.implementation.simd_level()}" in line, line
    else:
        assert "pure Python" in line, line


def test_call_soon_threadsafe_and_connections(echo):
    with client.connect(echo.url) as ws:
        ws.send("a")
        assert ws.recv(5) == "a"
        assert len(echo.connections) == 1
        conn = echo.connections[0]
        echo.call_soon_threadsafe(lambda: conn.send("pushed"))
        assert ws.recv(5) == "pushed"


# -- half-close, closing handshake -------------------------------------------


def test_close_answered_when_close_and_fin_arrive_together_to_the_builtin_echo():
    with S.running_server(EchoApplication()) as echo:
        close_answered_with_fin(echo)


def close_answered_with_fin(echo):
    # A user's on_message that sends after the close was answered gets
    # ConnectionStateError, which the server logs (debug): no 1011.
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
