"""FrameParser(messages=True): whole unfragmented messages come out as
TextMessage/BinaryMessage events; everything else stays a Frame. And frame
payloads given as str. Both implementations, plus a differential test."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given
from hypothesis import strategies as st

KEY = b"\x37\xfa\x21\x3d"


def kinds(items):
    return [
        (type(x).__name__, x.data) if type(x).__name__ in ("TextMessage", "BinaryMessage") else ("Frame", x.astuple())
        for x in items
    ]


@pytest.mark.parametrize("masked", [True, False])
def test_whole_messages_become_events(impl, masked):
    key = KEY if masked else None
    wire = (
        impl.build_frame(1, "héllo wörld".encode(), mask=key)
        + impl.build_frame(2, b"\x00\xff", mask=key)
        + impl.build_frame(1, b"", mask=key)
        + impl.build_frame(1, b"a" * 70000, mask=key)
        + impl.build_frame(9, b"ping", mask=key)
    )
    p = impl.FrameParser(server=masked, max_frame_size=None, messages=True)
    assert kinds(p.feed(wire)) == [
        ("TextMessage", "héllo wörld"),
        ("BinaryMessage", b"\x00\xff"),
        ("TextMessage", ""),
        ("TextMessage", "a" * 70000),
        ("Frame", (9, b"ping", True, False, False, False)),
    ]


def test_fragments_and_their_neighbours_stay_frames(impl):
    wire = (
        impl.build_frame(1, b"a", fin=False, mask=KEY)
        + impl.build_frame(9, b"", mask=KEY)  # control frame between fragments
        + impl.build_frame(1, b"b", mask=KEY)  # a whole TEXT frame inside a fragmented message: the receiver's error
        + impl.build_frame(0, b"c", mask=KEY)
        + impl.build_frame(2, b"d", mask=KEY)  # after the message ended: a message again
    )
    p = impl.FrameParser(server=True, messages=True)
    assert kinds(p.feed(wire)) == [
        ("Frame", (1, b"a", False, False, False, False)),
        ("Frame", (9, b"", True, False, False, False)),
        ("Frame", (1, b"b", True, False, False, False)),
        ("Frame", (0, b"c", True, False, False, False)),
        ("BinaryMessage", b"d"),
    ]


def test_invalid_utf8_and_rsv_stay_frames(impl):
    wire = impl.build_frame(1, b"ok\xff", mask=KEY) + impl.build_frame(1, b"z", rsv1=True, mask=KEY)
    p = impl.FrameParser(server=True, allowed_rsv=0x40, messages=True)
    assert kinds(p.feed(wire)) == [
        ("Frame", (1, b"ok\xff", True, False, False, False)),
        ("Frame", (1, b"z", True, True, False, False)),
    ]


def test_message_events_compare_and_check_types(impl):
    assert impl.TextMessage("a") == impl.TextMessage("a")
    assert impl.TextMessage("a") != impl.TextMessage("b")
    assert impl.TextMessage("a") != impl.BinaryMessage(b"a")
    assert repr(impl.BinaryMessage(b"x")) == "BinaryMessage(data=b'x')"
    assert isinstance(impl.TextMessage("a"), impl.Event)
    with pytest.raises(TypeError):
        impl.TextMessage(b"bytes")
    with pytest.raises(TypeError):
        impl.BinaryMessage("str")


def test_c_message_events_are_not_tracked_by_gc(c_impl):
    assert not gc.is_tracked(c_impl.TextMessage("x"))
    assert not gc.is_tracked(c_impl.BinaryMessage(b"x"))


@pytest.mark.parametrize("text", ["", "ascii", "héllo", "日本語 😀", "x" * 70000 + "é"])
def test_str_payload_is_sent_as_utf8(impl, text):
    raw = text.encode()
    assert impl.build_frame(1, text) == impl.build_frame(1, raw)
    assert impl.build_frame(1, text, mask=KEY) == impl.build_frame(1, raw, mask=KEY)
    out = bytearray(b"prefix")
    impl.write_frame(out, 1, text, mask=KEY)
    assert bytes(out) == b"prefix" + impl.build_frame(1, raw, mask=KEY)


frame_spec = st.tuples(
    st.sampled_from([0, 1, 2, 9]),
    st.one_of(st.text(max_size=20).map(str.encode), st.binary(max_size=20)),
    st.booleans(),
    st.booleans(),
)


@given(frames=st.lists(frame_spec, max_size=8), masked=st.booleans(), cut=st.integers(0, 400))
def test_messages_mode_differential(impls, frames, masked, cut):
    py, c = impls
    wire = b""
    for op, payload, fin, rsv1 in frames:
        if op >= 8:
            fin, rsv1 = True, False
        wire += py.build_frame(op, payload, fin=fin, rsv1=rsv1, mask=KEY if masked else None)
    outs = []
    for impl in (py, c):
        p = impl.FrameParser(server=masked, allowed_rsv=0x40, stream=True, messages=True)
        outs.append([kinds(p.feed(wire[:cut])), kinds(p.feed(wire[cut:]))])
    assert outs[0] == outs[1]
