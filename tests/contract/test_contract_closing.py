"""Contract, every server layer: echo of every message type, the closing handshake in both
directions, half-closes, the close timeout, an application error (1011) and a graceful stop."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from _servers import Handler
from _wire import Parser, raw_ws, wait_eof

from wsframe import client
from wsframe.codec import build_frame
from wsframe.enums import Opcode
from wsframe.exceptions import ConnectionClosedError


def test_echo_text_binary_and_close(server):
    with client.connect(server.url) as ws:
        for message in ("hello", "héllo ✓ 🎉", b"\x00\x01\xff", "", b"", "y" * 70_000):
            ws.send(message)
            assert ws.recv(5) == message
    assert ws.close_code == 1000
    assert server.wait_codes() == [1000]


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
def test_pipelined_messages_are_echoed_in_order(start, compression):
    with start(compression=compression) as server:
        s, rest, head = raw_ws(server.port)
        with s:
            s.sendall(b"".join(build_frame(Opcode.TEXT, b"m%03d" % i, client=True) for i in range(100)))
            p = Parser(s, rest)
            assert [bytes(p.next().payload) for _ in range(100)] == [b"m%03d" % i for i in range(100)]


def test_application_close_code_and_reason_reach_the_peer(start):
    with start(Handler("close", code=4005, reason="bye now")) as server:
        with client.connect(server.url) as ws:
            with pytest.raises(ConnectionClosedError) as exc:
                ws.recv(5)
        assert (exc.value.code, exc.value.reason) == (4005, "bye now")


def test_application_error_closes_1011(start):
    with start(Handler("raise", message="boom")) as server:
        ws = client.connect(server.url)
        ws.send("x")
        with pytest.raises(ConnectionClosedError) as exc:
            ws.recv(5)
        assert exc.value.code == 1011
        ws.close()


def test_close_answered_after_peer_half_closed(server):
    s, rest, _ = raw_ws(server.port)
    with s:
        s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye", client=True))
        s.shutdown(socket.SHUT_WR)
        assert Parser(s, rest).close_frame()[0] == 1000
        assert wait_eof(s)


def test_close_answered_when_close_and_fin_arrive_together(server):
    s, rest, _ = raw_ws(server.port)
    with s:
        # The echo of "last" may or may not go out before the close: only the close is checked.
        s.sendall(build_frame(Opcode.TEXT, b"last", client=True)
                  + build_frame(Opcode.CLOSE, struct.pack("!H", 1001), client=True))
        s.shutdown(socket.SHUT_WR)
        assert Parser(s, rest).close_frame()[0] == 1001
        assert wait_eof(s)


def test_server_drops_tcp_first_after_closing_handshake(server):
    s, rest, _ = raw_ws(server.port)
    with s:
        s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 4001), client=True))
        assert Parser(s, rest).close_frame()[0] == 4001
        assert wait_eof(s, 3), "the server should close TCP after the closing handshake"


def test_close_timeout_when_peer_never_answers(start):
    with start(Handler("close"), close_timeout=0.3) as server:
        s, rest, _ = raw_ws(server.port)
        with s:
            t0 = time.monotonic()
            assert Parser(s, rest).close_frame()[0] == 1000
            assert wait_eof(s, 5)  # we never answer: dropped after close_timeout
            assert time.monotonic() - t0 < 3


def test_stopping_the_server_closes_open_connections(layer, start):
    """Every open connection gets a close frame (1001 going away, or uvicorn's 1012 restart)."""
    expected = 1012 if layer.startswith("uvicorn") else 1001
    socks = []
    cm = start()
    server = cm.__enter__()
    stopper = threading.Thread(target=cm.__exit__, args=(None, None, None), daemon=True)
    try:
        socks = [raw_ws(server.port)[:2] for _ in range(20)]
        stopper.start()
        for s, rest in socks:
            assert Parser(s, rest).close_frame(10)[0] == expected
            s.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", expected), client=True))
        stopper.join(15)
        assert not stopper.is_alive()
    finally:
        if not stopper.is_alive() and stopper.ident is None:  # never started: stop the server here
            cm.__exit__(None, None, None)
        for s, _ in socks:
            s.close()
