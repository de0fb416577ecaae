"""Differential tests: the C extension and the pure-Python twin must agree.

Every test takes ``impls`` = (python, c); without wsframe._speedups they are
skipped (or fail with WSFRAME_REQUIRE_SPEEDUPS=1). Results and errors are
compared in full: frames, exception type, code, reason, exc.frames,
error_offset, buffered byte counts.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def call(fn, *args, **kwargs):
    """("ok", result) or ("raise", type name, str) — comparable across implementations."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return ("raise", type(exc).__name__, getattr(exc, "code", None), getattr(exc, "reason", None))


def parse_trace(impl, chunks, server, max_frame_size, allowed_rsv, extra_feeds=1):
    """Everything observable while feeding ``chunks`` (then ``extra_feeds`` empty feeds)."""
    p = impl.FrameParser(server, max_frame_size, allowed_rsv)
    trace = []
    for chunk in list(chunks) + [b""] * extra_feeds:
        try:
            frames = p.feed(chunk)
            trace.append(("ok", [f.astuple() for f in frames], p.buffered))
        except Exception as exc:  # noqa: BLE001
            trace.append(
                (
                    "raise",
                    type(exc).__name__,
                    getattr(exc, "code", None),
                    getattr(exc, "reason", None),
                    [f.astuple() for f in getattr(exc, "frames", [])],
                )
            )
    return trace


def chunked(data: bytes, cuts):
    points = sorted({c for c in cuts if c <= len(data)} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])] or [b""]


def assert_same(py, c, what):
    assert py == c, f"C/Python mismatch for {what!r}:\n  python: {py!r}\n  c:      {c!r}"


# ---------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------


@given(
    data=st.binary(max_size=2000),
    mask=st.binary(min_size=0, max_size=6),
    offset=st.integers(0, 9),
    start=st.integers(0, 40),
)
@settings(max_examples=200)
def test_diff_masking(impls, data, mask, offset, start):
    py, c = impls
    view = memoryview(data)[min(start, len(data)) :]
    assert_same(call(py.apply_mask, view, mask), call(c.apply_mask, view, mask), (data, mask))
    results = []
    for impl in impls:
        buf = bytearray(data)
        r = call(impl.mask_inplace, memoryview(buf)[min(start, len(buf)) :], mask, offset)
        results.append((r, bytes(buf)))
    assert_same(results[0], results[1], (data, mask, offset, start))


def test_diff_mask_errors(impls):
    py, c = impls
    for args in [
        (b"abc", b"xyz"),
        (b"abc", b""),
        (b"", b"12345"),
    ]:
        assert_same(call(py.apply_mask, *args)[:2], call(c.apply_mask, *args)[:2], args)
    for buf_factory, mask, offset in [
        (lambda: b"readonly", b"abcd", 0),
        (lambda: memoryview(b"readonly"), b"abcd", 0),
        (lambda: bytearray(b"writable"), b"abc", 0),
        (lambda: bytearray(b"writable"), b"abcd", -1),
    ]:
        assert_same(
            call(py.mask_inplace, buf_factory(), mask, offset)[:2],
            call(c.mask_inplace, buf_factory(), mask, offset)[:2],
            (buf_factory(), mask, offset),
        )


# ---------------------------------------------------------------------------
# UTF-8
# ---------------------------------------------------------------------------

_TRICKY = [
    b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf",  # overlong
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\x80\xed\xb0\x80",  # surrogates
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff",  # too large
    b"\xc2", b"\xe0\xa0", b"\xf0\x90\x80", b"\xf4\x8f\xbf", b"\xe1", b"\xed", b"\xf4",  # truncated
    b"\x80", b"\xbf",  # stray continuation
    b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"\xf0\x90\x80\x80",  # edges, valid
]

def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")  # lone surrogates become invalid ED A0..BF sequences


utf8_piece = st.one_of(
    st.text(max_size=12).map(_enc),
    st.text(alphabet=st.characters(min_codepoint=0x80), max_size=6).map(_enc),
    st.sampled_from(_TRICKY),
    st.binary(max_size=4),
    st.tuples(st.characters(min_codepoint=0x80), st.integers(1, 3)).map(lambda t: _enc(t[0])[: t[1]]),
)
utf8ish = st.lists(utf8_piece, max_size=12).map(b"".join)
# Long inputs reach the SIMD blocks: valid runs of 32-200 bytes with tricky bytes in between.
long_utf8ish = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["a", "é", "€", "\U0001f600", "aé€\U0001f600"]), st.integers(8, 60)).map(lambda t: (t[0] * t[1]).encode()),
        utf8_piece,
    ),
    max_size=8,
).map(b"".join)


def validator_trace(impl, chunks):
    v = impl.Utf8Validator()
    trace = []
    for chunk in chunks:
        r = v.feed(chunk)
        trace.append((r, v.valid, v.error_offset, v.at_boundary if r else None))
    trace.append(("finish", v.finish(), v.valid, v.error_offset))
    v.reset()
    trace.append(("reset", v.valid, v.error_offset, v.at_boundary, v.finish()))
    return trace


@given(data=st.one_of(st.binary(max_size=300), utf8ish, long_utf8ish))
@settings(max_examples=200)
def test_diff_validate_utf8(impls, data):
    py, c = impls
    try:
        data.decode("utf-8")
        want = True
    except UnicodeDecodeError:
        want = False
    assert_same(py.validate_utf8(data), c.validate_utf8(data), data)
    assert c.validate_utf8(data) is want, data
    assert c.validate_utf8(bytearray(data)) is want
    assert c.validate_utf8(memoryview(b"\x00" + data)[1:]) is want


@given(data=st.one_of(utf8ish, long_utf8ish, st.binary(max_size=100)), cuts=st.lists(st.integers(0, 600), max_size=10))
@settings(max_examples=200)
def test_diff_utf8_validator(impls, data, cuts):
    py, c = impls
    chunks = chunked(data, cuts)
    assert_same(validator_trace(py, chunks), validator_trace(c, chunks), chunks)


@given(data=long_utf8ish, pos=st.integers(0, 2000), bad=st.sampled_from(_TRICKY[:23]))
@settings(max_examples=200)
def test_diff_utf8_corruption_in_long_text(impls, data, pos, bad):
    py, c = impls
    pos = min(pos, len(data))
    corrupted = data[:pos] + bad + data[pos:]
    assert_same(py.validate_utf8(corrupted), c.validate_utf8(corrupted), corrupted)
    assert_same(validator_trace(py, [corrupted]), validator_trace(c, [corrupted]), corrupted)


def test_diff_utf8_all_short_sequences(impls):
    """Every 1- and 2-byte input and every 3-byte input with a non-ASCII lead."""
    py, c = impls
    for n in (1, 2):
        for t in itertools.product(range(256), repeat=n):
            b = bytes(t)
            assert py.validate_utf8(b) == c.validate_utf8(b), b
            assert validator_trace(py, [b]) == validator_trace(c, [b]), b
    conts = (0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF)
    for lead in range(0xC0, 0x100):
        for b2, b3, b4 in itertools.product(conts, repeat=3):
            b = bytes((lead, b2, b3, b4))
            for chunks in ([b], [b[:1], b[1:]], [b[:2], b[2:]], [b[:3], b[3:]]):
                assert_same(validator_trace(py, chunks), validator_trace(c, chunks), chunks)


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------


def hand_frame(b0: int, mask_bit: bool, length_form: int, payload: bytes, key: bytes, declared=None) -> bytes:
    """A frame with any header bits. length_form: 0 = 7-bit, 1 = 16-bit, 2 = 64-bit."""
    n = len(payload) if declared is None else declared
    m = 0x80 if mask_bit else 0
    if length_form == 0 and n < 126:
        h = bytes((b0, m | n))
    elif length_form <= 1 and n < 1 << 16:
        h = bytes((b0, m | 126)) + n.to_bytes(2, "big")
    else:
        h = bytes((b0, m | 127)) + (n & ((1 << 64) - 1)).to_bytes(8, "big")
    if mask_bit:
        h += key
        payload = bytes(x ^ key[i % 4] for i, x in enumerate(payload))
    return h + payload


any_frame = st.builds(
    hand_frame,
    b0=st.one_of(st.sampled_from([0x81, 0x82, 0x80, 0x01, 0x02, 0x00, 0x88, 0x89, 0x8A, 0xC1, 0xC0]), st.integers(0, 255)),
    mask_bit=st.booleans(),
    length_form=st.integers(0, 2),
    payload=st.one_of(st.binary(max_size=20), st.binary(min_size=120, max_size=300)),
    key=st.binary(min_size=4, max_size=4),
    declared=st.one_of(
        st.none(),
        st.none(),
        st.sampled_from([0, 125, 126, 127, 65535, 65536, (1 << 32) + 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]),
    ),
)
limits = st.sampled_from([None, 0, 10, 125, 126, 300, 65535, 1 << 20])
rsvs = st.sampled_from([0, 0x40, 0x20, 0x10, 0x70])


@given(
    frames=st.lists(any_frame, max_size=6),
    server=st.booleans(),
    limit=limits,
    allowed_rsv=rsvs,
    cuts=st.lists(st.integers(0, 1500), max_size=8),
)
@settings(max_examples=200)
def test_diff_parser_random_frames(impls, frames, server, limit, allowed_rsv, cuts):
    py, c = impls
    chunks = chunked(b"".join(frames), cuts)
    assert_same(
        parse_trace(py, chunks, server, limit, allowed_rsv, extra_feeds=2),
        parse_trace(c, chunks, server, limit, allowed_rsv, extra_feeds=2),
        (chunks, server, limit, allowed_rsv),
    )


valid_frame = st.builds(
    lambda op, payload, fin, rsv, key, server: hand_frame(
        (0x80 if fin or op >= 8 else 0) | rsv | op, server, 0, payload[:125] if op >= 8 else payload, key
    ),
    op=st.sampled_from([0, 1, 2, 8, 9, 10]),
    payload=st.one_of(st.binary(max_size=30), st.binary(min_size=126, max_size=400)),
    fin=st.booleans(),
    rsv=rsvs,
    key=st.binary(min_size=4, max_size=4),
    server=st.just(True),
)


@given(
    frames=st.lists(valid_frame, min_size=1, max_size=8),
    flip=st.one_of(st.none(), st.tuples(st.integers(0, 5000), st.integers(1, 255))),
    limit=limits,
    allowed_rsv=rsvs,
    cuts=st.lists(st.integers(0, 3000), max_size=8),
)
@settings(max_examples=200)
def test_diff_parser_mutated_stream(impls, frames, flip, limit, allowed_rsv, cuts):
    """Valid client streams with one byte flipped (often a header byte)."""
    py, c = impls
    data = bytearray(b"".join(frames))
    if flip is not None:
        pos, xor = flip
        data[pos % len(data)] ^= xor
    chunks = chunked(bytes(data), cuts)
    for server in (True, False):
        assert_same(
            parse_trace(py, chunks, server, limit, allowed_rsv),
            parse_trace(c, chunks, server, limit, allowed_rsv),
            (chunks, server, limit, allowed_rsv),
        )


def test_diff_parser_every_two_byte_header(impls):
    """All 65536 first-two-byte combinations, byte by byte and at once, both roles."""
    py, c = impls
    tail = b"\x00\x01\x02\x03" + b"\x00" * 8 + b"\x01\x02\x03\x04"
    for server, allowed_rsv in ((True, 0), (False, 0), (True, 0x40)):
        for b0, b1 in itertools.product(range(256), repeat=2):
            data = bytes((b0, b1)) + tail
            for chunks in ([data], [data[:1], data[1:2], data[2:4], data[4:]]):
                t_py = parse_trace(py, chunks, server, 1 << 20, allowed_rsv)
                t_c = parse_trace(c, chunks, server, 1 << 20, allowed_rsv)
                if t_py != t_c:
                    assert_same(t_py, t_c, (chunks, server, allowed_rsv))


def test_diff_parser_constructor_and_attributes(impls):
    py, c = impls
    for args in [(True,), (False, None), (True, 0), (True, -1), (False, 10, 0x40), (False, 10, 0x80), (False, 10, 1)]:
        r_py, r_c = call(py.FrameParser, *args), call(c.FrameParser, *args)
        assert_same(r_py[0] if r_py[0] == "ok" else r_py, r_c[0] if r_c[0] == "ok" else r_c, args)
    for impl in impls:
        p = impl.FrameParser(False)
        assert (p.max_frame_size, p.allowed_rsv, p.buffered) == (1 << 20, 0, 0)


@given(
    op=st.integers(-2, 17),
    payload=st.one_of(st.binary(max_size=130), st.integers(65530, 65540).map(lambda n: b"\x5a\xa5\x00" * (n // 3) + b"!" * (n % 3))),
    fin=st.booleans(),
    rsv=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    mask=st.one_of(st.none(), st.binary(min_size=4, max_size=4), st.binary(max_size=6)),
)
@settings(max_examples=200)
def test_diff_build_frame(impls, op, payload, fin, rsv, mask):
    py, c = impls
    kw = dict(fin=fin, rsv1=rsv[0], rsv2=rsv[1], rsv3=rsv[2], mask=mask)
    r_py = call(py.build_frame, op, payload, **kw)
    r_c = call(c.build_frame, op, payload, **kw)
    assert_same(r_py[:2], r_c[:2], (op, len(payload), kw))
    if r_py[0] == "ok":
        # both parse back to the same frame
        server = mask is not None
        t = [parse_trace(i, [r_py[1]], server, None, 0x70) for i in impls]
        assert_same(t[0], t[1], r_py[1])


def test_diff_build_client_random_key_shape(impls):
    for impl in impls:
        a = impl.build_frame(1, b"abc", client=True)
        b = impl.build_frame(1, b"abc", client=True)
        assert len(a) == len(b) == 9 and a[1] == b[1] == 0x83
        assert a[2:6] != b[2:6]


# ---------------------------------------------------------------------------
# Every SIMD level of the C code (when the extension exposes set_simd_level)
# ---------------------------------------------------------------------------


def test_diff_every_simd_level(impls):
    py, c = impls
    if not hasattr(c, "set_simd_level"):
        pytest.skip("wsframe._speedups has no set_simd_level()")
    original = c.simd_level()
    data = bytes((i * 131 + 7) & 0xFF for i in range(700))
    mask = b"\x9a\x0f\xf0\x33"
    texts = [(ch * 200).encode() for ch in ("a", "é", "€", "\U0001f600", "aé€\U0001f600")]
    bads = [b"\x80", b"\xe2", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\x80", b"\xc2A"]
    seen = set()
    try:
        for name in ("scalar", "sse2", "avx2", "neon"):
            level = c.set_simd_level(name)
            if level in seen:
                continue
            seen.add(level)
            for n in list(range(0, 140)) + [255, 256, 257, 511, 512, 513]:
                for a in (0, 1, 3, 17):
                    src = data[a : a + n]
                    assert c.apply_mask(src, mask) == py.apply_mask(src, mask), (level, n, a)
                    for off in (0, 1, 2, 3):
                        b1, b2 = bytearray(data), bytearray(data)
                        c.mask_inplace(memoryview(b1)[a : a + n], mask, off)
                        py.mask_inplace(memoryview(b2)[a : a + n], mask, off)
                        assert b1 == b2, (level, n, a, off)
            for text in texts:
                for n in range(0, 140):
                    for bad in bads:
                        for d in (text[:n] + bad, text[:n] + bad + text[:40]):
                            assert c.validate_utf8(d) == py.validate_utf8(d), (level, d)
                            assert validator_trace(c, [d]) == validator_trace(py, [d]), (level, d)
                            cut = [d[: n // 2], d[n // 2 :]]
                            assert validator_trace(c, cut) == validator_trace(py, cut), (level, cut)
    finally:
        c.set_simd_level(original)
    assert c.simd_level() == original


# ---------------------------------------------------------------------------
# Argument edges: the same result, or the same exception type
# ---------------------------------------------------------------------------


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001
        return ("raise", type(exc).__name__)


def _noncontig(b: bytes) -> memoryview:
    return memoryview(b"".join(bytes((x, 0x5F)) for x in b))[::2]


def _set(obj, name, value):
    setattr(obj, name, value)
    return getattr(obj, name)


EDGE_CASES = {
    # bytes-like inputs
    "apply_mask(non-contiguous memoryview)": lambda m: m.apply_mask(_noncontig(b"hello"), b"abcd"),
    "mask_inplace(non-contiguous memoryview)": lambda m: m.mask_inplace(memoryview(bytearray(10))[::2], b"abcd"),
    "validate_utf8(non-contiguous memoryview)": lambda m: m.validate_utf8(_noncontig(b"hello")),
    "Utf8Validator.feed(non-contiguous memoryview)": lambda m: m.Utf8Validator().feed(_noncontig(b"hello")),
    "FrameParser.feed(non-contiguous memoryview)": lambda m: [f.astuple() for f in m.FrameParser(False).feed(_noncontig(b"\x81\x01a"))],
    "build_frame(1, non-contiguous memoryview)": lambda m: m.build_frame(1, _noncontig(b"abc")),
    "apply_mask(str)": lambda m: m.apply_mask("abc", b"abcd"),
    "validate_utf8(str)": lambda m: m.validate_utf8("abc"),
    "FrameParser.feed(str)": lambda m: m.FrameParser(False).feed("ab"),
    "build_frame(1, str)": lambda m: m.build_frame(1, "abc"),
    "build_frame(1, mask=str)": lambda m: m.build_frame(1, b"a", mask="abcd"),
    # numbers
    "mask_inplace(offset=2**62)": lambda m: (lambda b: (m.mask_inplace(b, b"abcd", 1 << 62), bytes(b)))(bytearray(b"xyz")),
    "mask_inplace(offset=2**70)": lambda m: (lambda b: (m.mask_inplace(b, b"abcd", 1 << 70), bytes(b)))(bytearray(b"xyz")),
    "mask_inplace(offset=1.0)": lambda m: m.mask_inplace(bytearray(b"xyz"), b"abcd", 1.0),
    "build_frame(opcode=1.0)": lambda m: m.build_frame(1.0, b""),
    "build_frame(opcode=2**70)": lambda m: m.build_frame(1 << 70, b""),
    "build_frame(opcode=Opcode.PING)": lambda m: m.build_frame(__import__("wsframe").Opcode.PING, b"p"),
    "FrameParser(max_frame_size=2**70)": lambda m: m.FrameParser(False, 1 << 70).max_frame_size,
    # attribute setters
    "FrameParser.max_frame_size = -1": lambda m: _set(m.FrameParser(False), "max_frame_size", -1),
    "FrameParser.max_frame_size = None": lambda m: _set(m.FrameParser(False), "max_frame_size", None),
    "FrameParser.allowed_rsv = 0x40": lambda m: _set(m.FrameParser(False), "allowed_rsv", 0x40),
    "Frame.opcode = 2 (mutability)": lambda m: _set(m.FrameParser(False).feed(b"\x81\x01a")[0], "opcode", 2),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_diff_argument_edges(impls, name):
    py, c = impls
    fn = EDGE_CASES[name]
    assert_same(outcome(lambda: fn(py)), outcome(lambda: fn(c)), name)
