"""Edges of the pure-Python parser and of the server connection that the protocol tests do not
reach: the parser's reprs and equality, and a client that sends too much before the application
accepted its handshake."""

from __future__ import annotations

from wsframe import _parser
from wsframe.codec import build_frame
from wsframe.connection import ServerConnection
from wsframe.events import Closed, Request


def test_frame_and_message_reprs_and_equality():
    frame = _parser.Frame(2, b"x" * 40, True, True, False, False)
    assert repr(frame) == f"Frame(opcode=2, flags=F1, payload={b'x' * 32!r}... len=40)"
    assert repr(_parser.Frame(9, b"", False, False, False, False)) == "Frame(opcode=9, flags=-, payload=b'' len=0)"
    assert frame == _parser.Frame(2, b"x" * 40, True, True, False, False)
    assert frame != (2, b"x" * 40, True, True, False, False)  # not a frame: NotImplemented, then False
    text = repr(_parser.TextMessage("y" * 100))
    assert "...(len=100)" in text and "y" * 65 not in text


def test_too_much_data_before_the_handshake_is_accepted_is_refused():
    server = ServerConnection(auto_accept=False)
    server.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert [type(e) for e in server.events()] == [Request]
    frame = build_frame(2, bytes(60000), client=True)
    for _ in range(20):  # about 1.2 MB while the application has not answered
        server.receive_data(frame)
    assert server.data_to_send().startswith(b"HTTP/1.1 400")
    assert any(isinstance(e, Closed) for e in server.events())
