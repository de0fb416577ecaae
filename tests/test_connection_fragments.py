"""Connections' ``max_fragments`` (default 4096, None = unlimited): a message
of more frames (first + continuations) fails the connection with 1009, from
the header of the frame one too many, also behind permessage-deflate."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from wsframe.codec import FrameParser, build_frame
from wsframe.connection import DEFAULT_MAX_FRAGMENTS, ClientConnection, ServerConnection, State
from wsframe.events import BinaryMessage, Closed, Fragment, TextMessage
from wsframe.exceptions import PayloadTooBig
from wsframe.permessage_deflate import ClientPerMessageDeflate, ServerPerMessageDeflate

from test_connection import open_pair


def assert_failed(server, code):
    """The server failed with ``code``: close frame sent, Closed last, transport to close."""
    events = server.events()
    server.apply_pending_failure()
    out = server.data_to_send()
    events += server.events()
    assert isinstance(events[-1], Closed), events
    assert events[-1].code == code and events[-1].error.code == code
    frames = FrameParser(False, None).feed(out)
    assert frames[-1].opcode == 8 and int.from_bytes(frames[-1].payload[:2], "big") == code
    assert server.state is State.CLOSED and server.should_close_transport
    return events


def cframe(opcode, payload=b"", fin=True, **kw):
    return build_frame(opcode, payload, fin=fin, client=True, **kw)


def fragmented(count, opcode=2, piece=b"", frame=cframe):
    """One message of ``count`` frames (count >= 2), each with ``piece``."""
    middle = frame(0, piece, fin=False)
    return frame(opcode, piece, fin=False) + middle * (count - 2) + frame(0, piece, fin=True)


def test_default_is_4096():
    assert DEFAULT_MAX_FRAGMENTS == 4096
    server, _ = open_pair()
    server.receive_data(fragmented(4096, piece=b"x"))
    assert server.events() == [BinaryMessage(b"x" * 4096)]
    server.receive_data(fragmented(4097, piece=b"x"))
    events = assert_failed(server, 1009)
    assert events[-1].reason == "message of more than 4096 fragments"
    assert isinstance(events[-1].error, PayloadTooBig)


@pytest.mark.parametrize("stream_fragments", [False, True])
def test_exactly_n_passes_n_plus_one_fails(stream_fragments):
    server, _ = open_pair({"max_fragments": 3, "stream_fragments": stream_fragments})
    server.receive_data(fragmented(3, 1, b"ab"))
    events = server.events()
    if stream_fragments:
        assert events == [Fragment("ab", True, False), Fragment("ab", True, False), Fragment("ab", True, True)]
    else:
        assert events == [TextMessage("ababab")]
    server.receive_data(fragmented(4, 1, b"ab"))
    events = assert_failed(server, 1009)
    assert events[-1].reason == "message of more than 3 fragments"


def test_client_side_too():
    server, client = open_pair(client_kwargs={"max_fragments": 2})
    frame = lambda op, payload=b"", fin=True: build_frame(op, payload, fin=fin)  # noqa: E731 - server frames
    client.receive_data(fragmented(2, piece=b"s", frame=frame))
    assert client.events() == [BinaryMessage(b"ss")]
    client.receive_data(fragmented(3, piece=b"s", frame=frame))
    events = client.events()
    client.apply_pending_failure()
    events += client.events()
    assert isinstance(events[-1], Closed) and events[-1].code == 1009
    assert events[-1].reason == "message of more than 2 fragments"


def test_a_million_empty_continuations_fail_fast_in_bounded_memory():
    """The attack the limit exists for: endless empty continuations. The
    connection fails within the first read of them; later reads are ignored."""
    server, _ = open_pair()
    empty = cframe(0, b"", fin=False)
    chunk = empty * (65536 // len(empty))  # one read's worth: 10922 frames
    server.receive_data(cframe(2, b"", fin=False))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        for _ in range(1_000_000 // (65536 // len(empty)) + 1):  # about a million frames
            server.receive_data(chunk)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    events = assert_failed(server, 1009)
    assert events[-1].reason == "message of more than 4096 fragments"
    assert peak < 8 << 20, peak  # a few thousand frames at most were ever held
    assert elapsed < 5, elapsed  # ~92 reads, all but the first ignored


def test_none_means_unlimited():
    server, _ = open_pair({"max_fragments": None})
    server.receive_data(fragmented(10000, piece=b"z"))
    assert server.events() == [BinaryMessage(b"z" * 10000)]


def test_deflate_path():
    """With permessage-deflate negotiated (the parser is not in messages
    mode), the limit counts compressed frames the same way."""
    client = ClientConnection("example.com", extensions=[ClientPerMessageDeflate()])
    server = ServerConnection(extensions=[ServerPerMessageDeflate()], max_fragments=5)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert server.extensions and server.state is State.OPEN
    server.events()
    client.events()
    for _ in range(4):
        client.send_binary(b"abc" * 50, fin=False)
    client.send_binary(b"end", fin=True)
    server.receive_data(client.data_to_send())
    assert server.events() == [BinaryMessage(b"abc" * 200 + b"end")]
    for _ in range(5):
        client.send_text("xyz", fin=False)
    client.send_text("!", fin=True)
    server.receive_data(client.data_to_send())
    events = assert_failed(server, 1009)
    assert events[-1].reason == "message of more than 5 fragments"


@pytest.mark.parametrize(
    "value, exc",
    [(0, ValueError), (-5, ValueError), (2.5, TypeError), ("9", TypeError)],
)
def test_bad_values(value, exc):
    with pytest.raises(exc, match="max_fragments"):
        ServerConnection(max_fragments=value)
    with pytest.raises(exc, match="max_fragments"):
        ClientConnection("example.com", max_fragments=value)
