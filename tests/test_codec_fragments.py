"""FrameParser ``max_fragments``: the frames of one message are counted from
their headers (first frame + continuations); one more fails with 1009 before
its payload is read. Run on both implementations (``impl`` fixture)."""

from __future__ import annotations

import pytest

from wsframe.exceptions import PayloadTooBig, ProtocolError

KEY = b"\x01\x02\x03\x04"


def frame(impl, opcode, payload=b"", fin=True, client=True):
    return impl.build_frame(opcode, payload, fin=fin, client=client, mask=KEY if client else None)


def message(impl, count, payload=b"ab", client=True):
    """One binary message of ``count`` frames."""
    if count == 1:
        return frame(impl, 2, payload, client=client)
    parts = [frame(impl, 2, payload, fin=False, client=client)]
    parts += [frame(impl, 0, payload, fin=False, client=client) for _ in range(count - 2)]
    parts.append(frame(impl, 0, payload, fin=True, client=client))
    return b"".join(parts)


@pytest.mark.parametrize("server", [True, False])
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_exactly_the_limit_passes_one_more_fails(impl, server, limit):
    ok = impl.FrameParser(server, max_fragments=limit).feed(message(impl, limit, client=server))
    assert len(ok) == limit and ok[-1].fin
    parser = impl.FrameParser(server, max_fragments=limit)
    data = message(impl, limit + 1, client=server)
    with pytest.raises(PayloadTooBig) as info:
        parser.feed(data)
    assert info.value.code == 1009
    assert info.value.reason == f"message of more than {limit} fragments"
    assert len(info.value.frames) == limit  # every frame before the one too many
    with pytest.raises(PayloadTooBig):  # stays failed
        parser.feed(b"")


def test_decided_from_the_header_alone(impl):
    """The continuation over the limit fails from its first 2 bytes, before
    its length, key and (huge, never sent) payload."""
    parser = impl.FrameParser(True, None, max_fragments=2, stream=True)
    assert len(parser.feed(frame(impl, 2, b"a", fin=False) + frame(impl, 0, b"b", fin=False))) == 2
    with pytest.raises(PayloadTooBig, match="more than 2 fragments"):
        parser.feed(bytes((0x00, 0x80 | 127)))


def test_count_restarts_with_each_message_and_ignores_control_frames(impl):
    parser = impl.FrameParser(True, max_fragments=3)
    ping = frame(impl, 9, b"p")
    first = frame(impl, 1, b"a", fin=False)
    cont = frame(impl, 0, b"b", fin=False)
    last = frame(impl, 0, b"c", fin=True)
    # Three frames per message, control frames between them: never over the limit.
    data = (first + ping + cont + ping + last + ping) * 5
    got = parser.feed(data)
    assert [f.opcode for f in got].count(0) == 10 and [f.opcode for f in got].count(9) == 15


def test_stream_pieces_count_once(impl):
    """A frame delivered in many pieces (stream mode) is one fragment."""
    parser = impl.FrameParser(True, None, stream=True, max_fragments=2)
    data = frame(impl, 2, b"x" * 1000, fin=False) + frame(impl, 0, b"y" * 1000, fin=True)
    pieces = []
    for i in range(0, len(data), 7):
        pieces += parser.feed(data[i : i + 7])
    assert len(pieces) > 100
    assert b"".join(p.payload for p in pieces) == b"x" * 1000 + b"y" * 1000
    assert pieces[-1].fin
    # The next message may again have 2 frames; a third fails.
    with pytest.raises(PayloadTooBig):
        parser.feed(message(impl, 3))


def test_messages_mode_whole_messages_are_not_counted(impl):
    parser = impl.FrameParser(True, max_fragments=1, messages=True)
    got = parser.feed(frame(impl, 2, b"one") * 100)
    assert [type(e).__name__ for e in got] == ["BinaryMessage"] * 100


def test_none_is_unlimited_and_the_default(impl):
    parser = impl.FrameParser(True)
    assert parser.max_fragments is None
    assert len(parser.feed(message(impl, 10000, b""))) == 10000


@pytest.mark.parametrize(
    "value, exc, text",
    [
        (0, ValueError, "max_fragments must be >= 1 or None"),
        (-1, ValueError, "max_fragments must be >= 1 or None"),
        (1.0, TypeError, "max_fragments must be an int or None, not float"),
        ("3", TypeError, "max_fragments must be an int or None, not str"),
    ],
)
def test_bad_values(impl, value, exc, text):
    with pytest.raises(exc) as info:
        impl.FrameParser(True, max_fragments=value)
    assert str(info.value) == text
    parser = impl.FrameParser(True)
    with pytest.raises(exc):
        parser.max_fragments = value
    assert parser.max_fragments is None


def test_huge_limit_is_accepted(impl):
    parser = impl.FrameParser(True, max_fragments=2**70)
    assert parser.max_fragments == 2**70
    assert len(parser.feed(message(impl, 50))) == 50


@pytest.mark.parametrize("server", [True, False])
def test_sequence_rules_from_the_header(impl, server):
    """sequence=True (what connections use): a continuation without a message
    and a new data frame inside one fail with 1002 from their first 2 bytes."""
    first = frame(impl, 1, b"a", fin=False, client=server)
    cont = frame(impl, 0, b"b", fin=True, client=server)
    ping = frame(impl, 9, b"p", client=server)
    parser = impl.FrameParser(server, sequence=True)
    assert parser.sequence
    assert len(parser.feed(first + ping + cont + first + cont)) == 5
    cases = [
        (b"", bytes((0x80, 0x80 if server else 0)), "continuation frame without a message in progress"),
        (first, bytes((0x82, 0xFF if server else 0x7F)), "new data frame while a fragmented message is in progress"),
    ]
    for before, head, reason in cases:
        parser = impl.FrameParser(server, sequence=True)
        with pytest.raises(ProtocolError) as info:
            parser.feed(before + head)
        assert type(info.value) is ProtocolError and info.value.code == 1002 and info.value.reason == reason
        # Without sequence=True the parser leaves these rules to its caller.
        assert impl.FrameParser(server).feed(before + head[:1] + bytes((head[1] & 0x80,))) is not None
