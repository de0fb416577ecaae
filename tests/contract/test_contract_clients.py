"""Contract, every client layer: echo against every server layer, and a hostile server (bad
frames, a close with a code, messages then an error, bad or missing handshake answers)."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from _clients import ScriptedServer

from wsframe.codec import build_frame
from wsframe.enums import Opcode
from wsframe.exceptions import ConnectionClosedError, HandshakeError, InvalidStatus


def test_echo_against_every_server_layer(client_layer, server):
    ws = client_layer(server.url)
    try:
        for message in ("hello", "ü ✓", b"\x00\xff", "", "y" * 70_000):
            ws.send(message)
            assert ws.recv(5) == message
    finally:
        ws.close()
    assert ws.close_code == 1000


@pytest.mark.parametrize(
    "frame, code",
    [
        (build_frame(Opcode.TEXT, b"masked", client=True), 1002),  # a server must not mask
        (bytes([0x83, 0x00]), 1002),  # reserved opcode 3
        (build_frame(Opcode.TEXT, b"x", rsv1=True), 1002),  # RSV1 without an extension
        (build_frame(Opcode.CONTINUATION, b"x"), 1002),  # nothing to continue
        (build_frame(Opcode.TEXT, b"bad \xff utf-8"), 1007),
        (build_frame(Opcode.BINARY, bytes(2000)), 1009),  # over the client's max_message_size
    ],
    ids=["masked", "opcode-3", "rsv1", "lone-continuation", "bad-utf8", "over-max-size"],
)
def test_bad_frames_from_the_server_close_with_the_rfc_code(client_layer, frame, code):
    server = ScriptedServer(lambda conn: conn.sendall(frame))
    ws = client_layer(server.url, max_message_size=1000, close_timeout=2)
    try:
        with pytest.raises(ConnectionClosedError) as exc:
            ws.recv(5)
        assert exc.value.code == code
    finally:
        ws.close()
    assert server.close_frame()[0] == code


def test_server_close_code_and_reason_reach_the_application(client_layer):
    server = ScriptedServer(lambda conn: conn.sendall(build_frame(Opcode.CLOSE, struct.pack("!H", 4000) + b"custom")))
    ws = client_layer(server.url, close_timeout=2)
    try:
        with pytest.raises(ConnectionClosedError) as exc:
            ws.recv(5)
        assert (exc.value.code, exc.value.reason) == (4000, "custom")
    finally:
        ws.close()
    assert server.close_frame()[0] == 4000  # the close was echoed


def test_messages_before_a_server_error_are_returned_and_answered_first(client_layer):
    server = ScriptedServer(lambda conn: conn.sendall(build_frame(Opcode.TEXT, b"hello") + bytes([0x83, 0x00])))
    ws = client_layer(server.url, close_timeout=2)
    try:
        assert ws.recv(5) == "hello"
        ws.send("answer")
        with pytest.raises(ConnectionClosedError) as exc:
            ws.recv(5)
        assert exc.value.code == 1002
    finally:
        ws.close()
    server.join()
    assert [op for op, _ in server.frames] == [1, 8] and server.frames[0][1] == b"answer"


@pytest.mark.parametrize(
    "response, error",
    [
        (lambda key: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n", HandshakeError),
        (lambda key: b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", InvalidStatus),
        (lambda key: b"not http at all\r\n\r\n", HandshakeError),
    ],
    ids=["wrong-accept-key", "403", "garbage"],
)
def test_bad_handshake_answers_are_refused(client_layer, response, error):
    server = ScriptedServer(lambda conn: None, response=response)
    with pytest.raises(error) as exc:
        client_layer(server.url, open_timeout=2)
    if error is InvalidStatus:
        assert exc.value.status == 403
    server.join()
    assert server.frames == []


def test_open_timeout_when_the_server_never_answers(client_layer):
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        t0 = time.monotonic()
        with pytest.raises((TimeoutError, HandshakeError)):
            client_layer(f"ws://127.0.0.1:{lsock.getsockname()[1]}/", open_timeout=0.3)
        assert time.monotonic() - t0 < 3
