"""The same Application test cases on the selectors server and on asyncio (default loop and uvloop),
served through ``wsframe.asyncio.serve(app=...)``: echo, open/close callbacks, errors (1011), backpressure."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any, Iterator, List

import pytest

from test_server_helpers import wait_for

from wsframe import client
from wsframe.exceptions import ConnectionClosed, ConnectionClosedError
from wsframe.server import Application, Server

BACKENDS = ["selectors", "asyncio", "uvloop"]


@contextlib.contextmanager
def running(backend: str, app: Application, **kw: Any) -> Iterator[str]:
    """Serve ``app`` on ``backend`` in a thread; yields the ws:// URL."""
    if backend == "selectors":
        server = Server(app, "127.0.0.1", 0, **kw)
        server.start()
        try:
            yield f"ws://127.0.0.1:{server.port}/"
        finally:
            server.stop()
        return
    if backend == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    from wsframe.asyncio import serve

    started = threading.Event()
    box: List[Any] = []

    async def main() -> None:
        async with serve(app=app, host="127.0.0.1", port=0, **kw) as server:
            box.append(server)
            started.set()
            await server.serve_forever()

    th = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    th.start()
    assert started.wait(10), "server did not start"
    try:
        yield f"ws://127.0.0.1:{box[0].port}/"
    finally:
        loop.call_soon_threadsafe(box[0].close)
        th.join(15)
        assert not th.is_alive()
        loop.close()


class Recorder(Application):
    """Echo, and a log of the callbacks."""

    def __init__(self) -> None:
        self.log: List[Any] = []
        self.handles: List[Any] = []

    def on_open(self, ws):
        self.handles.append(ws)
        self.log.append(("open", ws.subprotocol))

    def on_message(self, ws, data):
        if data == "boom":
            raise RuntimeError("secret detail /etc/passwd")
        if data == "close":
            ws.close(4001, "asked")
            return
        ws.send(data)

    def on_close(self, ws, code, reason):
        self.log.append(("close", code, reason))


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def test_echo_open_close(backend):
    app = Recorder()
    with running(backend, app) as url:
        with client.connect(url) as ws:
            for i in range(50):
                ws.send(f"t{i}")
                assert ws.recv(timeout=5) == f"t{i}"
                ws.send(bytes([i]) * 16)
                assert ws.recv(timeout=5) == bytes([i]) * 16
        wait_for(lambda: ("close", 1000, "") in app.log, what="on_close(1000)")
    assert app.log[0] == ("open", None)
    assert app.log.count(("close", 1000, "")) == 1


def test_application_closes(backend):
    app = Recorder()
    with running(backend, app) as url:
        ws = client.connect(url)
        ws.send("close")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert (ws.close_code, ws.close_reason) == (4001, "asked")
        ws.close()
        wait_for(lambda: any(e[0] == "close" for e in app.log), what="on_close")
        assert app.log[-1][:2] == ("close", 4001), app.log  # the reason is the peer's echo


def test_error_in_on_message_is_1011_internal_error(backend, caplog):
    app = Recorder()
    with running(backend, app) as url:
        ws = client.connect(url)
        ws.send("first")
        assert ws.recv(timeout=5) == "first"
        ws.send("boom")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=5)
        assert (ws.close_code, ws.close_reason) == (1011, "internal error")
        ws.close()
        wait_for(lambda: any(e[0] == "close" for e in app.log), what="on_close")
    assert ("close", 1011) in [e[:2] for e in app.log]  # the reason in on_close is the peer's echo
    assert "secret detail" in caplog.text  # logged on the server, never sent


class Flood(Application):
    """``flood`` answers with 64 messages of 256 KiB: far past high_water."""

    def __init__(self) -> None:
        self.ws: Any = None

    def on_open(self, ws):
        self.ws = ws

    def on_message(self, ws, data):
        if data == "flood":
            chunk = b"x" * (256 << 10)
            for _ in range(64):
                ws.send(chunk)
        else:
            ws.send(data)


def _reading_paused(ws: Any) -> bool:
    t = ws.transport
    return getattr(t, "_drv", t).reading_paused


def _raw_client(url: str) -> Any:
    """A socket with a small receive buffer and a sans-I/O client connection, handshake done."""
    from wsframe.connection import ClientConnection
    from wsframe.events import Connected

    port = int(url.rsplit(":", 1)[1].strip("/"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)  # before connect: a small window
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    conn = ClientConnection("127.0.0.1", "/", max_message_size=1 << 20)
    sock.sendall(conn.data_to_send())
    while not any(isinstance(e, Connected) for e in conn.events()):
        conn.receive_data(sock.recv(65536))
    return sock, conn


def _messages(sock: Any, conn: Any, n: int) -> List[Any]:
    from wsframe.events import BinaryMessage, TextMessage

    got: List[Any] = []
    while len(got) < n:
        data = sock.recv(1 << 20)
        assert data, "connection closed early"
        conn.receive_data(data)
        got += [e.data for e in conn.events() if isinstance(e, (TextMessage, BinaryMessage))]
    return got


def test_backpressure_pauses_reading(backend):
    """Sends past high_water stop reading from that peer until it has taken the output."""
    app = Flood()
    with running(backend, app, high_water=64 << 10, low_water=16 << 10) as url:
        sock, conn = _raw_client(url)
        with sock:
            conn.send_message("flood")
            sock.sendall(conn.data_to_send())
            wait_for(lambda: app.ws is not None and _reading_paused(app.ws), what="reading paused")
            assert app.ws.buffered_amount > 64 << 10
            got = _messages(sock, conn, 64)
            assert [len(m) for m in got] == [256 << 10] * 64
            wait_for(lambda: not _reading_paused(app.ws), what="reading resumed")
            conn.send_message("after")
            sock.sendall(conn.data_to_send())
            assert _messages(sock, conn, 1) == ["after"]


def test_send_from_outside_a_callback(backend):
    """ws.send outside dispatch (a timer of the server's loop) goes out without further input."""
    app = Recorder()
    with running(backend, app) as url:
        with client.connect(url) as ws:
            wait_for(lambda: app.handles, what="on_open")
            h = app.handles[0]
            ws.send("x")
            assert ws.recv(timeout=5) == "x"
            _call_on_loop(backend, h, lambda: h.send("pushed"))
            assert ws.recv(timeout=5) == "pushed"


def _call_on_loop(backend: str, h: Any, fn: Any) -> None:
    if backend == "selectors":
        h.transport.server.call_soon_threadsafe(fn)
    else:
        h.transport._loop.call_soon_threadsafe(fn)


def test_shutdown_closes_with_1001(backend):
    app = Recorder()
    with running(backend, app) as url:
        ws = client.connect(url)
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
    # leaving running() stopped the server: the open connection got 1001
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    assert ws.close_code == 1001
    ws.close()
    wait_for(lambda: any(e[0] == "close" for e in app.log), what="on_close")
    assert [e[1] for e in app.log if e[0] == "close"] == [1001]


def test_over_max_connections_is_503(backend):
    app = Recorder()
    with running(backend, app, max_connections=1) as url:
        with client.connect(url) as first:
            first.send("x")
            assert first.recv(timeout=5) == "x"
            with pytest.raises(Exception) as info:
                client.connect(url)
            assert "503" in str(info.value)
    assert len(app.handles) == 1


def test_serve_takes_a_handler_or_an_app():
    from wsframe.asyncio import serve

    async def handler(ws):
        pass

    with pytest.raises(TypeError):
        serve()
    with pytest.raises(TypeError):
        serve(handler, app=Recorder())
    with pytest.raises(TypeError):
        serve(app=Recorder(), process_request=lambda ws, r: None)


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_replies_to_one_read_go_out_in_one_write(loop_name, monkeypatch):
    """20 frames in one segment: on_message is called 20 times, the replies leave in one transport.write."""
    from wsframe.asyncio import app_protocol

    writes: List[int] = []
    made = app_protocol.AppProtocol.connection_made

    def counting(self, transport):
        class Counting:
            def __getattr__(self, name):
                return getattr(transport, name)

            def write(self, data):
                writes.append(len(data))
                transport.write(data)

        made(self, Counting())

    monkeypatch.setattr(app_protocol.AppProtocol, "connection_made", counting)
    app = Recorder()
    with running(loop_name, app) as url:
        sock, conn = _raw_client(url)
        with sock:
            writes.clear()  # the 101
            for i in range(20):
                conn.send_message(f"m{i}")
            sock.sendall(conn.data_to_send())
            assert _messages(sock, conn, 20) == [f"m{i}" for i in range(20)]
    assert writes[0] == sum(2 + len(f"m{i}") for i in range(20)), writes  # all 20 unmasked frames at once
