"""The compiled frame parser (wsframe._parser_c) against the same source run
as Python (wsframe._parser, with the pure-Python kernels), in the mode the
connection uses (``stream=True, messages=True``), both roles, fed valid frame
streams after random byte flips, insertions, deletions and truncation, split
into random chunks: the same events, and the same errors (type, close code,
message, frames delivered before the error), call by call."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

OPCODES = [0, 1, 2, 8, 9, 10]
TEXTS = ["", "a", "héllo", "€" * 5, "😀x", "plain ascii text " * 8]


def item_key(item):
    """What a delivered item is, comparable across implementations."""
    if hasattr(item, "astuple"):
        return ("frame",) + tuple(item.astuple())
    return (type(item).__name__, item.data)


def run(parser_cls, server, options, chunks):
    """Feed every chunk; per call, the items or the error (with the items
    delivered before it)."""
    parser = parser_cls(server, stream=True, messages=True, **options)
    log = []
    for chunk in chunks:
        try:
            log.append(("ok", [item_key(i) for i in parser.feed(chunk)], parser.buffered))
        except Exception as exc:
            frames = [item_key(i) for i in getattr(exc, "frames", [])]
            log.append(("error", type(exc).__name__, getattr(exc, "code", None), str(exc), frames))
    return log


@st.composite
def frame_streams(draw, server):
    """(bytes, description): valid frames as the peer of ``server`` sends them."""
    frames = []
    for _ in range(draw(st.integers(1, 8))):
        opcode = draw(st.sampled_from(OPCODES))
        if opcode == 1 or (opcode == 0 and draw(st.booleans())):
            payload = draw(st.sampled_from(TEXTS)).encode()
            if draw(st.integers(0, 5)) == 0:  # invalid UTF-8 in a text frame
                payload = payload[:1] + b"\xff" + payload[1:]
        else:
            size = draw(st.sampled_from([0, 1, 3, 4, 5, 125, 126, 200, 70000]))
            if opcode >= 8:
                size = min(size, 125)
            payload = draw(st.binary(min_size=min(size, 8), max_size=min(size, 8))) * (size // 8 + 1)
            payload = payload[:size]
        fin = True if opcode >= 8 else draw(st.integers(0, 3)) > 0
        rsv1 = draw(st.integers(0, 30)) == 0
        key = draw(st.binary(min_size=4, max_size=4)) if server else None
        frames.append((opcode, payload, fin, rsv1, key))
    return frames


@st.composite
def mutated(draw, data):
    data = bytearray(data)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 4]))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=3))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 4))]
        else:
            del data[i:]
    return bytes(data)


@st.composite
def chunked(draw, data):
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    parts, start = [], 0
    for cut in cuts + [len(data)]:
        parts.append(data[start:cut])
        start = cut
    return parts


@pytest.mark.parametrize("server", [True, False], ids=["server", "client"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_compiled_and_python_parsers_agree_on_mutated_streams(impls, server, data):
    py, c = impls
    assert py.FrameParser.__module__ == "wsframe._parser" and c.FrameParser.__module__ == "wsframe._parser_c"
    frames = data.draw(frame_streams(server))
    stream = b"".join(
        py.build_frame(op, payload, fin=fin, rsv1=rsv1, mask=key) for op, payload, fin, rsv1, key in frames
    )
    stream = data.draw(mutated(stream))
    chunks = data.draw(chunked(stream))
    options = {
        "max_frame_size": data.draw(st.sampled_from([None, 1 << 20, 1 << 20, 1000, 125, 10, 0])),
        "allowed_rsv": data.draw(st.sampled_from([0, 0x40])),
        "max_fragments": data.draw(st.sampled_from([None, 1, 2, 4])),
        "sequence": data.draw(st.booleans()),
    }
    expected = run(py.FrameParser, server, options, chunks)
    assert run(c.FrameParser, server, options, chunks) == expected
