"""FrameParser(stream=True): data frames still arriving are delivered in
pieces shaped like fragments, and no payload is ever buffered. Run against
both implementations, plus a differential test of the two."""

from __future__ import annotations

import os
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

KEY = b"\x37\xfa\x21\x3d"


def frame_bytes(impl, opcode, payload, *, fin=True, rsv1=False, masked=True):
    return impl.build_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=KEY if masked else None)


def split(data: bytes, cuts):
    cuts = sorted(set(c for c in cuts if 0 < c < len(data)))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def feed_chunks(parser, chunks):
    out = []
    for chunk in chunks:
        out.extend(f.astuple() for f in parser.feed(chunk))
    return out




def test_whole_frames_are_not_split(impl):
    data = frame_bytes(impl, 1, b"hello") + frame_bytes(impl, 2, b"x" * 300)
    p = impl.FrameParser(server=True, stream=True)
    assert feed_chunks(p, [data]) == [(1, b"hello", True, False, False, False), (2, b"x" * 300, True, False, False, False)]


def test_pieces_carry_opcode_and_rsv_first_fin_last(impl):
    payload = bytes(range(256)) * 4
    data = frame_bytes(impl, 1, payload, rsv1=True)
    p = impl.FrameParser(server=True, allowed_rsv=0x40, stream=True)
    pieces = feed_chunks(p, [data[:100], data[100:500], data[500:]])
    assert [(op, fin, r1) for op, _, fin, r1, _, _ in pieces] == [(1, False, True), (0, False, False), (0, True, False)]
    assert b"".join(piece[1] for piece in pieces) == payload
    assert p.buffered == 0


def test_non_final_frame_pieces_never_carry_fin(impl):
    data = frame_bytes(impl, 2, b"a" * 50, fin=False) + frame_bytes(impl, 0, b"b" * 50, fin=True)
    p = impl.FrameParser(server=True, stream=True)
    pieces = feed_chunks(p, [data[:30], data[30:80], data[80:]])
    # frame 1 (no FIN) in two pieces, frame 2 (FIN) in two pieces: FIN only at the very end
    assert [fin for _, _, fin, *_ in pieces] == [False, False, False, True]
    assert [op for op, *_ in pieces] == [2, 0, 0, 0]
    assert b"".join(piece[1] for piece in pieces) == b"a" * 50 + b"b" * 50


def test_control_frames_stay_whole(impl):
    data = frame_bytes(impl, 9, b"p" * 125)
    p = impl.FrameParser(server=True, stream=True)
    assert feed_chunks(p, [data[:10]]) == []
    assert p.buffered == 10
    assert feed_chunks(p, [data[10:]]) == [(9, b"p" * 125, True, False, False, False)]


@pytest.mark.parametrize("masked", [True, False])
def test_every_split_point_gives_the_same_payloads(impl, masked):
    payload = os.urandom(40)
    data = frame_bytes(impl, 2, payload, masked=masked) + frame_bytes(impl, 9, b"ping", masked=masked)
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1, 7):
            p = impl.FrameParser(server=masked, stream=True)
            pieces = feed_chunks(p, [data[:i], data[i:j], data[j:]])
            data_pieces = [x for x in pieces if x[0] < 8]
            assert b"".join(x[1] for x in data_pieces) == payload, (i, j)
            assert data_pieces[0][0] == 2 and all(x[0] == 0 for x in data_pieces[1:])
            assert [x[2] for x in data_pieces] == [False] * (len(data_pieces) - 1) + [True]
            assert pieces[-1] == (9, b"ping", True, False, False, False)


def test_big_frame_is_never_buffered(impl):
    """A 4 MiB frame fed in 64 KiB reads: the parser holds only a header."""
    payload = os.urandom(4 << 20)
    data = frame_bytes(impl, 2, payload)
    p = impl.FrameParser(server=True, max_frame_size=None, stream=True)
    total = 0
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(0, len(data), 65536):
            for f in p.feed(data[i : i + 65536]):
                total += len(f.payload)
            assert p.buffered <= 14
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert total == len(payload)
    # A few read-sized temporaries (the pure-Python twin masks through big
    # integers: several copies of one read), never the 4 MiB frame.
    assert peak < 12 * 65536, peak


def test_limit_still_checked_from_the_header(impl):
    from wsframe.exceptions import PayloadTooBig

    p = impl.FrameParser(server=True, max_frame_size=100, stream=True)
    with pytest.raises(PayloadTooBig):
        p.feed(frame_bytes(impl, 2, b"z" * 101)[:20])


frame_spec = st.tuples(
    st.sampled_from([0, 1, 2, 9, 10]),
    st.one_of(st.binary(max_size=30), st.binary(min_size=120, max_size=400)),
    st.booleans(),
    st.booleans(),
)


@given(
    frames=st.lists(frame_spec, min_size=1, max_size=6),
    masked=st.booleans(),
    cuts=st.lists(st.integers(0, 3000), max_size=12),
)
def test_stream_differential_and_reassembly(impls, frames, masked, cuts):
    py, c = impls
    wire = b""
    payloads = []
    for op, payload, fin, rsv1 in frames:
        if op >= 8:
            payload, fin, rsv1 = payload[:125], True, False
        wire += py.build_frame(op, payload, fin=fin, rsv1=rsv1, mask=KEY if masked else None)
        payloads.append((op, payload))
    chunks = split(wire, cuts)
    outs = []
    for impl in (py, c):
        p = impl.FrameParser(server=masked, max_frame_size=None, allowed_rsv=0x40, stream=True)
        outs.append([[f.astuple() for f in p.feed(chunk)] for chunk in chunks])
    assert outs[0] == outs[1]
    pieces = [f for out in outs[0] for f in out]
    # Concatenated payloads per kind match what was sent, in order.
    assert b"".join(x[1] for x in pieces) == b"".join(p for _, p in payloads)
    assert [x for x in pieces if x[0] >= 8] == [
        (op, p, True, False, False, False) for op, p in payloads if op >= 8
    ]


def test_empty_feed_inside_a_streamed_frame_gives_nothing(impl):
    data = frame_bytes(impl, 1, b"hello world")
    p = impl.FrameParser(server=True, stream=True)
    first = [f.astuple() for f in p.feed(data[:8])]
    assert p.feed(b"") == [] and p.feed(bytearray()) == []
    rest = [f.astuple() for f in p.feed(data[8:])]
    assert b"".join(f[1] for f in first + rest) == b"hello world"


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_size_limit_is_for_data_frames_only(impl, opcode):
    """A limit below 125 bytes must not refuse a legal control frame."""
    payload = b"\x03\xe8" + b"r" * 100 if opcode == 8 else b"p" * 100
    p = impl.FrameParser(server=True, max_frame_size=10, stream=True)
    assert [f.astuple() for f in p.feed(frame_bytes(impl, opcode, payload))] == [
        (opcode, payload, True, False, False, False)
    ]


def test_write_frame_pins_its_buffer_while_masking_without_the_gil(c_impl):
    """Masking a big frame releases the GIL; another thread resizing the output
    bytearray meanwhile must get BufferError, not free the memory being
    written (this crashed before the buffer was pinned)."""
    import subprocess
    import sys

    script = """
import threading
import wsframe._speedups as S
ba = bytearray()
payload = b"x" * (4 << 20)
stop = False
errors = []
def grower():
    while not stop:
        try:
            ba.extend(b"y" * 65536)
            if len(ba) > (32 << 20):
                del ba[:]
        except BufferError:
            errors.append(1)
t = threading.Thread(target=grower)
t.start()
try:
    for _ in range(20):
        S.write_frame(ba, 2, payload, client=True)
finally:
    stop = True
    t.join()
print("ok")
"""
    import wsframe

    # Run beside the package under test (python -c puts the working directory
    # first on sys.path), so the same wsframe is imported.
    root = os.path.dirname(os.path.dirname(wsframe.__file__))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=root, env={**os.environ, "PYTHONPATH": root})
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.returncode, out.stderr[-2000:])
