"""The selectors server's compiled path: the C socket I/O and epoll twins (wsframe.server._sockio
against _sockio_py), which build runs (compiled or not), and the selectors fallback under it."""

from __future__ import annotations

import errno
import importlib
import select
import socket
import sys

import pytest
from conftest import speedups_required
from test_server_helpers import Parser, S

from wsframe.codec import build_frame, speedups_enabled
from wsframe.enums import Opcode
from wsframe.server import Application, EchoApplication, loop
from wsframe.server.poller import EV_READ, EV_WRITE, SelectorPoller


def _twins():
    """The pure-Python socket I/O, and the C one when built (skipped otherwise, failed when required)."""
    mods = [pytest.param(importlib.import_module("wsframe.server._sockio_py"), id="python")]
    try:
        mods.append(pytest.param(importlib.import_module("wsframe.server._sockio"), id="c"))
    except ImportError as exc:
        reason = f"wsframe.server._sockio not built: {exc}"
        mods.append(pytest.param(None, id="c", marks=pytest.mark.skip(reason=reason)))
        if speedups_required():
            raise
    return mods


@pytest.fixture(params=_twins())
def io(request):
    return request.param


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_recv_reads_what_is_there_and_nothing_at_eof(io, pair):
    a, b = pair
    buf = bytearray(4096)
    view = memoryview(buf)
    with pytest.raises(BlockingIOError):  # EAGAIN, as the socket method raises it
        io.sock_recv(a, a.fileno(), buf, view)
    b.sendall(b"0123456789")
    assert bytes(io.sock_recv(a, a.fileno(), buf, view)) == b"0123456789"
    big = bytes(range(256)) * 12  # past the C twin's short-read copy: a view of buf
    b.sendall(big)
    got = io.sock_recv(a, a.fileno(), buf, view)
    assert bytes(got) == big
    b.shutdown(socket.SHUT_WR)
    assert len(io.sock_recv(a, a.fileno(), buf, view)) == 0


def test_recv_reads_at_most_the_buffer(io, pair):
    a, b = pair
    buf = bytearray(8)
    b.sendall(b"0123456789")
    assert bytes(io.sock_recv(a, a.fileno(), buf, memoryview(buf))) == b"01234567"
    assert bytes(io.sock_recv(a, a.fileno(), buf, memoryview(buf))) == b"89"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_send_writes_bytes_bytearray_and_other_buffers(io, pair, kind):
    a, b = pair
    assert io.sock_send(a, a.fileno(), kind(b"hello")) == 5
    assert b.recv(16) == b"hello"


def test_send_stops_where_the_kernel_buffer_is_full(io, pair):
    a, b = pair
    chunk = b"x" * 65536
    total = 0
    with pytest.raises(BlockingIOError):
        for _ in range(10000):  # bounded: a socketpair buffer is far below 650 MB
            total += io.sock_send(a, a.fileno(), chunk)
    assert total > 0


def test_errors_are_oserrors_from_errno(io):
    a, b = socket.socketpair()
    fd = a.fileno()
    b.close()
    with pytest.raises(OSError) as err:  # the peer is gone: EPIPE (no SIGPIPE) or ECONNRESET
        for _ in range(100):
            io.sock_send(a, fd, b"x" * 4096)
    assert err.value.errno in (errno.EPIPE, errno.ECONNRESET)
    a.close()


def test_poll_ready_reports_readable_and_writable_descriptors(io, pair):
    a, b = pair
    poller = select.epoll() if hasattr(select, "epoll") else SelectorPoller()
    try:
        epfd = io.epoll_fd(poller) if hasattr(io, "epoll_fd") else importlib.import_module(
            "wsframe.server._sockio_py").epoll_fd(poller)
        poller.register(a.fileno(), EV_READ)
        assert io.poll_ready(poller, epfd, 0.0) == []  # nothing to read: returns at once
        b.sendall(b"!")
        assert io.poll_ready(poller, epfd, 5.0) == [(a.fileno(), EV_READ)]  # ready: no waiting
        poller.modify(a.fileno(), EV_READ | EV_WRITE)
        assert io.poll_ready(poller, epfd, 5.0) == [(a.fileno(), EV_READ | EV_WRITE)]
    finally:
        poller.close()


def test_poll_ready_takes_the_selectors_fallback(io, pair):
    a, b = pair
    poller = SelectorPoller()
    try:
        poller.register(a.fileno(), EV_READ)
        assert io.poll_ready(poller, -1, 0.0) == []
        b.sendall(b"!")
        assert io.poll_ready(poller, -1, 5.0) == [(a.fileno(), EV_READ)]
    finally:
        poller.close()


def test_the_compiled_path_follows_the_codec():
    """The loop and the transport are compiled exactly when the codec is (CI requires both)."""
    if speedups_required():
        assert speedups_enabled and loop.compiled
    if not speedups_enabled:
        assert not loop.compiled
    assert loop.Transport.__module__.endswith("_transport_c" if loop.compiled else ".transport")


class UserEcho(Application):
    def on_message(self, ws, data):
        ws.send(data)


@pytest.mark.parametrize("no_epoll", [False, True], ids=["epoll", "selectors"])
@pytest.mark.parametrize("builtin", [True, False], ids=["EchoApplication", "user-app"])
def test_echo_through_the_loop(monkeypatch, no_epoll, builtin):
    """200 pipelined messages and a ping-pong tail echoed in order, on epoll and with
    WSFRAME_NO_EPOLL=1 (the selectors poller under the same loop), by either application."""
    if no_epoll:
        monkeypatch.setenv("WSFRAME_NO_EPOLL", "1")
    else:
        monkeypatch.delenv("WSFRAME_NO_EPOLL", raising=False)
    with S.running_server(EchoApplication() if builtin else UserEcho(), compression=False) as server:
        assert isinstance(server.poller, SelectorPoller) == (no_epoll or not hasattr(select, "epoll"))
        s, rest = S.raw_ws(server.port)
        with s:
            p = Parser(s, rest)
            s.sendall(b"".join(build_frame(Opcode.BINARY, b"%04d" % i, client=True) for i in range(200)))
            assert [p.next().payload for _ in range(200)] == [b"%04d" % i for i in range(200)]
            for i in range(20):
                s.sendall(build_frame(Opcode.TEXT, b"t%d" % i, client=True))
                frame = p.next()
                assert (frame.opcode, frame.payload) == (Opcode.TEXT, b"t%d" % i)
            (t,) = list(server._conns.values())
            assert type(t) is loop.Transport  # the same transport for any application




def _fresh_loop(name: str):
    """wsframe/server/loop.py run again as a new module (the process keeps its own choice)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"wsframe.server.{name}", loop.__file__)
    copy = importlib.util.module_from_spec(spec)
    copy.__package__ = "wsframe.server"
    spec.loader.exec_module(copy)
    return copy


def test_a_loop_that_cannot_be_imported_falls_back_to_the_source(monkeypatch):
    """An older build without the compiled loop (or transport): the same sources, uncompiled."""
    import wsframe.codec
    import wsframe.server as server_pkg

    monkeypatch.setattr(wsframe.codec, "speedups_enabled", True)
    monkeypatch.setitem(sys.modules, "wsframe.server._pump_c", None)
    monkeypatch.delattr(server_pkg, "_pump_c", raising=False)
    copy = _fresh_loop("_loop_choice_missing")
    assert not copy.compiled and copy.Transport.__module__ == "wsframe.server.transport"


def test_the_switch_chooses_the_source(monkeypatch):
    import wsframe.codec

    monkeypatch.setattr(wsframe.codec, "speedups_enabled", False)  # as with WSFRAME_NO_SPEEDUPS=1
    copy = _fresh_loop("_loop_choice_off")
    assert not copy.compiled and copy.Transport.__module__ == "wsframe.server.transport"


def test_pubsub_per_subscriber_path_follows_the_build():
    """The selectors server's per-subscriber pub/sub write and its end-of-pass send are the
    compiled ones (wsframe.server._pubsub_c) exactly when the loop is compiled."""
    from wsframe.server import app

    write = app.SelectorsWebSocket.pubsub_write
    flush = loop.Server._pubsub_flush
    assert write.__module__ == flush.__module__
    assert (write.__module__ == "wsframe.server._pubsub_c") == loop.compiled
    assert app.ServerWebSocket.pubsub_write.__module__ == "wsframe.server._pubsub"  # other layers: the source
