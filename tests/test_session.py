"""wsframe.connection.Session: the frame session for a connection whose opening
handshake was done elsewhere (HTTP/2, RFC 8441; test harnesses)."""

from __future__ import annotations

import pytest

from wsframe.codec import FrameParser, build_frame
from wsframe.connection import ClientConnection, ServerConnection, Session, State
from wsframe.events import BinaryMessage, Closed, CloseReceived, Connected, Ping, TextMessage
from wsframe.exceptions import ConnectionStateError
from wsframe.extensions import RSV1, Extension
from wsframe.permessage_deflate import PerMessageDeflate


def test_a_session_starts_open_and_talks_to_another():
    server, client = Session(), Session(client=True, subprotocol="chat")
    assert server.state is State.OPEN and client.state is State.OPEN
    assert server.events() == [Connected(None, [])]
    assert client.events() == [Connected("chat", [])] and client.subprotocol == "chat"
    assert server.data_to_send() == b"" and client.data_to_send() == b""
    client.send_text("héllo")
    client.send_binary(b"\x00\x01", fin=False)
    client.send_binary(b"\x02")
    wire = client.data_to_send()
    assert FrameParser(True, None).feed(wire)[0].payload == "héllo".encode()  # masked: a client
    server.receive_data(wire)
    assert server.events() == [TextMessage("héllo"), BinaryMessage(b"\x00\x01\x02")]
    server.send_message("back")
    client.receive_data(server.data_to_send())
    assert client.events() == [TextMessage("back")]


def test_a_server_session_rejects_unmasked_frames_and_answers_pings():
    server = Session()
    server.events()
    server.receive_data(build_frame(9, b"p", client=True))
    assert server.events() == [Ping(b"p")]
    assert server.data_to_send() == build_frame(10, b"p")
    server.receive_data(build_frame(1, b"x"))  # unmasked from a client
    closed = server.events()[-1]
    assert isinstance(closed, Closed) and closed.code == 1002
    assert server.state is State.CLOSED and server.should_close_transport


def test_a_session_closes_with_the_closing_handshake():
    server, client = Session(), Session(client=True)
    client.close(1001, "bye")
    server.receive_data(client.data_to_send())
    assert server.events()[-2:] == [CloseReceived(1001, "bye"), Closed(1001, "bye", None)]
    client.receive_data(server.data_to_send())
    assert client.state is State.CLOSED and client.close_code == 1001
    with pytest.raises(ConnectionStateError):
        client.send_text("late")


def test_session_limits_are_those_of_the_connections():
    server = Session(max_message_size=4)
    server.receive_data(build_frame(2, b"12345", client=True))
    assert server.events()[-1].code == 1009
    with pytest.raises(ValueError):
        Session(max_message_size=-1)
    with pytest.raises(ValueError):
        Session(max_fragments=0)


def test_a_session_runs_negotiated_extensions():
    server = Session(extensions=[PerMessageDeflate()])
    client = Session(client=True, extensions=[PerMessageDeflate()])
    client.send_text("a" * 1000)
    wire = client.data_to_send()
    assert len(wire) < 100  # compressed
    server.receive_data(wire)
    assert server.events()[-1] == TextMessage("a" * 1000)


def test_extensions_with_the_same_rsv_bit_are_refused():
    class X(Extension):
        name = "x"
        rsv_bits = RSV1

    with pytest.raises(ValueError, match="RSV"):
        Session(extensions=[X(), X()])


def test_the_connection_classes_are_sessions():
    assert issubclass(ServerConnection, Session) and issubclass(ClientConnection, Session)
    assert ServerConnection().state is State.CONNECTING
