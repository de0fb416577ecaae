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


# ---------------------------------------------------------------------------
# the send path: send_* + data_to_send(), and send_and_take()
# ---------------------------------------------------------------------------


def _frames(wire, client):
    """The (opcode, payload) of every frame in ``wire``, sent by a client (masked) or a server."""
    return [(f.opcode, bytes(f.payload)) for f in FrameParser(client, None).feed(bytes(wire))]


@pytest.mark.parametrize("client", [False, True], ids=["server", "client"])
@pytest.mark.parametrize("data", [b"x" * 16, "x" * 16, "héllo ✓", b"", "", bytearray(b"ab"), memoryview(b"abcd")[1:],
                                  b"y" * 70000, "z" * 70000])
def test_send_and_take_is_send_message_then_data_to_send(client, data):
    a, b = Session(client=client), Session(client=client)
    a.send_message(data)
    expected = a.data_to_send()
    got = b.send_and_take(data)
    assert b.data_to_send() == b""
    op = 1 if isinstance(data, str) else 2
    raw = data.encode() if isinstance(data, str) else bytes(data)
    assert _frames(got, client) == _frames(expected, client) == [(op, raw)]
    if not client:
        assert bytes(got) == build_frame(op, raw)  # byte for byte (the client's differs by its random key)


def test_one_queued_message_is_handed_over_as_its_frame():
    server = Session()
    server.send_binary(b"abc")
    out = server.data_to_send()
    assert type(out) is bytes and out == build_frame(2, b"abc")  # the frame itself: no buffer around it
    assert server.data_to_send() == b""


def test_frames_queued_behind_the_first_keep_their_order():
    server, client = Session(), Session(client=True)
    client.send_binary(b"1")
    client.send_text("2")
    client.send_ping(b"p")
    client.send_message(b"3")
    client.close(1000, "bye")
    wire = client.data_to_send()
    assert _frames(wire, True) == [(2, b"1"), (1, b"2"), (9, b"p"), (2, b"3"), (8, b"\x03\xe8bye")]
    server.receive_data(wire)
    events = server.events()[1:]
    assert events[:4] == [BinaryMessage(b"1"), TextMessage("2"), Ping(b"p"), BinaryMessage(b"3")]


def test_send_and_take_hands_over_what_was_queued_before_it():
    server = Session()
    server.send_text("first")
    server.receive_data(build_frame(9, b"?", client=True))  # auto-pong queued behind
    out = server.send_and_take(b"last")
    assert _frames(out, False) == [(1, b"first"), (10, b"?"), (2, b"last")]
    assert server.data_to_send() == b""


def test_a_failure_after_a_queued_message_goes_out_behind_it():
    server = Session()
    server.events()
    server.send_binary(b"answer")
    server.receive_data(build_frame(1, b"\xff", client=True))  # invalid UTF-8: close 1007
    assert _frames(server.data_to_send(), False) == [(2, b"answer"), (8, b"\x03\xefinvalid UTF-8 in text message")]


def test_send_and_take_checks_like_send_message():
    server = Session()
    with pytest.raises(TypeError):
        server.send_and_take(12)
    server.close()
    server.data_to_send()
    with pytest.raises(ConnectionStateError):
        server.send_and_take(b"late")
    deflate = Session(extensions=[PerMessageDeflate()])
    out = deflate.send_and_take("a" * 1000)  # an extension: the general path
    peer = Session(client=True, extensions=[PerMessageDeflate()])
    peer.receive_data(out)
    assert peer.events()[-1] == TextMessage("a" * 1000)
