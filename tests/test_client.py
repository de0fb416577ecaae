"""Tests of wsframe.client: against wsframe's own server and against a
`websockets` server (a third-party implementation)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

from wsframe import HandshakeError, InvalidStatus  # noqa: E402
from wsframe.client import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, connect  # noqa: E402
from wsframe.server import Application  # noqa: E402


@pytest.fixture
def echo():
    with S.running_server(subprotocols=("chat", "superchat")) as server:
        yield server


def test_send_recv_types(echo):
    with connect(echo.url) as ws:
        for msg in ("text", "ünïcødé ✓ 🎉", "", b"", b"\x00" * 1000, os.urandom(200_000), "x" * 70_000):
            ws.send(msg)
            assert ws.recv(timeout=5) == msg
        ws.send(bytearray(b"ba"))
        assert ws.recv(timeout=5) == b"ba"
        ws.send(memoryview(b"mv"))
        assert ws.recv(timeout=5) == b"mv"


def test_recv_timeout(echo):
    with connect(echo.url) as ws:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)
        assert 0.15 < time.monotonic() - t0 < 2
        ws.send("after timeout")
        assert ws.recv(timeout=5) == "after timeout"


def test_ping_pong(echo):
    with connect(echo.url) as ws:
        waiter = ws.ping(b"abc")
        assert waiter.wait(5)  # set by the reader thread: no recv() needed
        assert ws.latency > 0
        ws.send("x")
        assert ws.recv(timeout=5) == "x"


def test_iteration_ends_on_normal_close():
    class Three(Application):
        def on_open(self, ws):
            for i in range(3):
                ws.send(f"m{i}")
            ws.close(1000, "done")

    with S.running_server(Three()) as server:
        with connect(server.url) as ws:
            assert list(ws) == ["m0", "m1", "m2"]
            assert ws.close_code == 1000
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=1)
            with pytest.raises(ConnectionClosed):
                ws.send("too late")


def test_iteration_raises_on_error_close():
    class Angry(Application):
        def on_open(self, ws):
            ws.send("one")
            ws.close(1008, "policy")

    with S.running_server(Angry()) as server:
        with connect(server.url) as ws:
            got = []
            with pytest.raises(ConnectionClosedError) as exc:
                for m in ws:
                    got.append(m)
            assert got == ["one"]
            assert exc.value.code == 1008


def test_close_with_code_and_reason_seen_by_server():
    seen = []
    done = threading.Event()

    class Rec(Application):
        def on_close(self, ws, code, reason):
            seen.append((code, reason))
            done.set()

    with S.running_server(Rec()) as server:
        ws = connect(server.url)
        ws.close(4321, "bye now")
        assert ws.closed
        ws.close()  # idempotent
        assert done.wait(5)
    assert seen == [(4321, "bye now")]


def test_subprotocols_and_extra_headers():
    seen = {}

    class Inspect(Application):
        def on_open(self, ws):
            seen["hdr"] = ws.request.headers.get("X-Test")
            seen["origin"] = ws.request.headers.get("Origin")
            ws.send(ws.subprotocol or "none")

    with S.running_server(Inspect(), subprotocols=("superchat", "chat")) as server:
        with connect(server.url, subprotocols=["chat", "superchat"], extra_headers=[("X-Test", "42")],
                     origin="http://example.test") as ws:
            assert ws.subprotocol == "superchat"
            assert ws.recv(timeout=5) == "superchat"
    assert seen == {"hdr": "42", "origin": "http://example.test"}


def test_handshake_rejected_and_connection_refused():
    with S.running_server(allowed_origins=["http://good.test"]) as server:
        with pytest.raises(InvalidStatus) as exc:
            connect(server.url, origin="http://evil.test")
        assert exc.value.status == 403
    with pytest.raises(OSError):
        connect(f"ws://127.0.0.1:{S.free_port()}/", open_timeout=2)
    with pytest.raises(ValueError):
        connect("http://127.0.0.1/")


def test_open_timeout_when_server_never_answers():
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        t0 = time.monotonic()
        with pytest.raises((TimeoutError, HandshakeError, OSError)):
            connect(f"ws://127.0.0.1:{lsock.getsockname()[1]}/", open_timeout=0.3)
        assert time.monotonic() - t0 < 3


def test_max_message_size_client_side(echo):
    with connect(echo.url, max_message_size=100) as ws:
        ws.send("a" * 100)
        assert ws.recv(timeout=5) == "a" * 100
        ws.send("a" * 101)
        with pytest.raises(ConnectionClosedError) as exc:
            ws.recv(timeout=5)
        assert exc.value.code == 1009


def test_concurrent_reader_and_writers(echo):
    with connect(echo.url) as ws:
        n = 200
        got = []

        def reader():
            for _ in range(2 * n):
                got.append(ws.recv(timeout=10))

        t = threading.Thread(target=reader)
        t.start()
        writers = [threading.Thread(target=lambda p=p: [ws.send(f"{p}{i}") for i in range(n)]) for p in "ab"]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        t.join(15)
        assert sorted(got) == sorted([f"{p}{i}" for p in "ab" for i in range(n)])
        assert [g for g in got if g[0] == "a"] == [f"a{i}" for i in range(n)]


def test_wss_with_cafile_and_context(tmp_path):
    import ssl

    from wsframe.server import make_ssl_context

    _, ca_path, cert_path, key_path = S.make_certs(tmp_path)
    with S.running_server(ssl_context=make_ssl_context(str(cert_path), str(key_path))) as server:
        url = f"wss://localhost:{server.port}/"
        with connect(url, cafile=str(ca_path)) as ws:
            ws.send("tls")
            assert ws.recv(timeout=5) == "tls"
        ctx = ssl.create_default_context(cafile=str(ca_path))
        with connect(url, ssl_context=ctx) as ws:
            ws.send(b"\x01" * 100_000)
            assert ws.recv(timeout=5) == b"\x01" * 100_000


# -- against a third-party server: websockets -------------------------------------


@contextlib.contextmanager
def websockets_server(ssl_context=None):
    websockets = S.require_module("websockets")
    from websockets.asyncio.server import serve

    loop = asyncio.new_event_loop()
    started = threading.Event()
    state = {}

    async def handler(conn):
        if conn.request.path == "/close4000":
            await conn.close(4000, "custom")
            return
        async for msg in conn:
            await conn.send(msg)

    async def main():
        state["stop"] = asyncio.Event()
        async with serve(handler, "127.0.0.1", 0, ssl=ssl_context, max_size=None) as server:
            state["port"] = server.sockets[0].getsockname()[1]
            started.set()
            await state["stop"].wait()

    t = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    t.start()
    assert started.wait(10)
    try:
        yield state["port"]
    finally:
        loop.call_soon_threadsafe(state["stop"].set)
        t.join(10)
        loop.close()
    del websockets


def test_against_websockets_server():
    with websockets_server() as port:
        with connect(f"ws://127.0.0.1:{port}/") as ws:
            for msg in ("hello", "ü ✓", b"\x00\xff", "y" * 100_000, os.urandom(1 << 20)):
                ws.send(msg)
                assert ws.recv(timeout=10) == msg
            assert ws.ping().wait(5)  # the reader thread sees the pong; nobody calls recv()
        assert ws.close_code == 1000
        with connect(f"ws://127.0.0.1:{port}/close4000") as ws:
            with pytest.raises(ConnectionClosedError) as exc:
                ws.recv(timeout=5)
            assert (exc.value.code, exc.value.reason) == (4000, "custom")


def test_against_websockets_server_wss(tmp_path):
    _, ca_path, cert_path, key_path = S.make_certs(tmp_path)
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_path), str(key_path))
    with websockets_server(ctx) as port:
        with connect(f"wss://localhost:{port}/", cafile=str(ca_path)) as ws:
            ws.send("over tls")
            assert ws.recv(timeout=5) == "over tls"


def _server_sending_a_message_then_a_bad_frame(lsock: socket.socket, seen: dict, later: "threading.Event | None"):
    """Accept one client; send "hello" and a frame with reserved opcode 3 (in
    one segment, or after ``later`` is set); record the frames the client sends."""
    from wsframe.codec import FrameParser, build_frame
    from wsframe.handshake import accept_key

    conn, _ = lsock.accept()
    with conn:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        key = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key")][0]
        bad = b"\x83\x00"  # reserved opcode 3
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n"
            + build_frame(1, b"hello") + (b"" if later else bad)
        )
        if later is not None:
            assert later.wait(5)
            conn.sendall(bad)
        parser = FrameParser(server=True)
        frames = []
        conn.settimeout(5)
        while not any(f.opcode == 8 for f in frames):
            data = conn.recv(4096)
            if not data:
                break
            frames += parser.feed(data)
        seen["frames"] = [(f.opcode, f.payload) for f in frames]


@pytest.mark.parametrize("split", [False, True], ids=["same-read", "later-read"])
def test_messages_before_a_peer_error_are_returned_and_answered_first(split):
    """A server sends a message and a protocol violation, in one segment or the
    violation after recv() returned the message: the answer goes out before our
    close frame (1002). In the later-read case the reader holds the failure
    (failure_pending) until the application comes back for the next message."""
    from test_server_helpers import wait_for

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    seen: dict = {}
    later = threading.Event() if split else None
    t = threading.Thread(target=_server_sending_a_message_then_a_bad_frame, args=(lsock, seen, later))
    t.start()
    try:
        ws = connect(f"ws://127.0.0.1:{lsock.getsockname()[1]}/", open_timeout=5, close_timeout=2)
        assert ws.recv(timeout=5) == "hello"
        if later is not None:
            later.set()
            wait_for(lambda: ws.conn.failure_pending, what="the reader to hold the peer's error")
        ws.send("answer")
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=5)
        assert info.value.code == 1002
    finally:
        t.join(10)
        lsock.close()
    assert seen["frames"] == [(1, b"answer"), (8, (1002).to_bytes(2, "big") + seen["frames"][1][1][2:])]
