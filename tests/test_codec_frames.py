"""FrameParser and build_frame, run against every codec implementation.

Frames are encoded here by hand (``encode``), independently of build_frame.
"""

from __future__ import annotations

import itertools
import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsframe.enums import Opcode
from wsframe.exceptions import PayloadTooBig, ProtocolError

KEY = b"\x37\xfa\x21\x3d"
LIMIT = 1 << 20  # the default max_frame_size


def xor(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def header(b0: int, length: int, key: bytes | None = None) -> bytes:
    """A frame header by hand: 7-, 16- or 64-bit length, optional masking key."""
    m = 0x80 if key is not None else 0
    if length < 126:
        h = bytes((b0, m | length))
    elif length < 1 << 16:
        h = bytes((b0, m | 126)) + length.to_bytes(2, "big")
    else:
        h = bytes((b0, m | 127)) + length.to_bytes(8, "big")
    return h + (key or b"")


def encode(opcode, payload=b"", fin=True, rsv=0, key=None) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | opcode
    return header(b0, len(payload), key) + (xor(payload, key) if key is not None else payload)


def tup(opcode, payload=b"", fin=True, rsv1=False, rsv2=False, rsv3=False):
    return (opcode, payload, fin, rsv1, rsv2, rsv3)


def tuples(frames):
    return [f.astuple() for f in frames]


def feed_all(parser, chunks):
    out = []
    for c in chunks:
        out += parser.feed(c)
    return out


# ---------------------------------------------------------------------------
# RFC 6455 section 5.7 examples, byte for byte
# ---------------------------------------------------------------------------

HELLO_UNMASKED = bytes.fromhex("810548656c6c6f")
HELLO_MASKED = bytes.fromhex("818537fa213d7f9f4d5158")
FRAG_1 = bytes.fromhex("010348656c")
FRAG_2 = bytes.fromhex("80026c6f")
PING_UNMASKED = bytes.fromhex("890548656c6c6f")
PONG_MASKED = bytes.fromhex("8a8537fa213d7f9f4d5158")


def test_rfc_single_frame_unmasked(impl):
    p = impl.FrameParser(server=False)
    assert tuples(p.feed(HELLO_UNMASKED)) == [tup(1, b"Hello")]
    assert p.buffered == 0
    assert impl.build_frame(1, b"Hello") == HELLO_UNMASKED
    assert impl.build_frame(Opcode.TEXT, b"Hello") == HELLO_UNMASKED


def test_rfc_single_frame_masked(impl):
    p = impl.FrameParser(server=True)
    assert tuples(p.feed(HELLO_MASKED)) == [tup(1, b"Hello")]
    assert impl.build_frame(1, b"Hello", mask=KEY) == HELLO_MASKED
    assert impl.build_frame(1, b"Hello", client=True, mask=KEY) == HELLO_MASKED


def test_rfc_fragmented_unmasked(impl):
    p = impl.FrameParser(server=False)
    assert tuples(p.feed(FRAG_1 + FRAG_2)) == [tup(1, b"Hel", fin=False), tup(0, b"lo")]
    assert impl.build_frame(1, b"Hel", fin=False) == FRAG_1
    assert impl.build_frame(0, b"lo") == FRAG_2


def test_rfc_fragmented_masked(impl):
    k2 = b"\x01\x02\x03\x04"
    data = encode(1, b"Hel", fin=False, key=KEY) + encode(0, b"lo", key=k2)
    p = impl.FrameParser(server=True)
    assert tuples(p.feed(data)) == [tup(1, b"Hel", fin=False), tup(0, b"lo")]
    assert impl.build_frame(1, b"Hel", fin=False, mask=KEY) + impl.build_frame(0, b"lo", mask=k2) == data


def test_rfc_ping_pong(impl):
    p = impl.FrameParser(server=False)
    assert tuples(p.feed(PING_UNMASKED)) == [tup(9, b"Hello")]
    assert impl.build_frame(9, b"Hello") == PING_UNMASKED
    p = impl.FrameParser(server=True)
    assert tuples(p.feed(PONG_MASKED)) == [tup(10, b"Hello")]
    assert impl.build_frame(10, b"Hello", mask=KEY) == PONG_MASKED


def test_rfc_256_bytes_binary(impl):
    payload = bytes(range(256))
    data = bytes.fromhex("827e0100") + payload
    p = impl.FrameParser(server=False)
    assert tuples(p.feed(data)) == [tup(2, payload)]
    assert impl.build_frame(2, payload) == data
    masked = bytes.fromhex("82fe0100") + KEY + xor(payload, KEY)
    assert impl.build_frame(2, payload, mask=KEY) == masked
    assert tuples(impl.FrameParser(server=True).feed(masked)) == [tup(2, payload)]


def test_rfc_64kib_binary(impl):
    payload = bytes(random.Random(1).getrandbits(8) for _ in range(65536))
    data = bytes.fromhex("827f0000000000010000") + payload
    p = impl.FrameParser(server=False)
    assert tuples(p.feed(data)) == [tup(2, payload)]
    assert impl.build_frame(2, payload) == data
    masked = bytes.fromhex("82ff0000000000010000") + KEY + xor(payload, KEY)
    assert impl.build_frame(2, payload, mask=KEY) == masked
    assert tuples(impl.FrameParser(server=True).feed(masked)) == [tup(2, payload)]


# ---------------------------------------------------------------------------
# Lengths
# ---------------------------------------------------------------------------

HEADERS = {
    0: "8200",
    1: "8201",
    125: "827d",
    126: "827e007e",
    127: "827e007f",
    65535: "827effff",
    65536: "827f0000000000010000",
}


@pytest.mark.parametrize("n", sorted(HEADERS))
def test_lengths_build_and_parse(impl, n):
    payload = bytes(i * 7 & 0xFF for i in range(n))
    hdr = bytes.fromhex(HEADERS[n])
    assert header(0x82, n) == hdr  # the hand encoder agrees with the table
    assert impl.build_frame(2, payload) == hdr + payload
    mhdr = bytes((hdr[0], hdr[1] | 0x80)) + hdr[2:] + KEY
    assert impl.build_frame(2, payload, mask=KEY) == mhdr + xor(payload, KEY)

    for server, h, body in ((False, hdr, payload), (True, mhdr, xor(payload, KEY))):
        p = impl.FrameParser(server=server, max_frame_size=None)
        if n:
            assert p.feed(h) == []
            assert p.buffered == len(h)
            assert p.feed(body[:-1]) == []
            assert p.buffered == len(h) + n - 1
            assert tuples(p.feed(body[-1:])) == [tup(2, payload)]
        else:
            # a zero-length frame is complete with its header
            assert p.feed(h[:-1]) == []
            assert p.buffered == len(h) - 1
            assert tuples(p.feed(h[-1:])) == [tup(2, b"")]
        assert p.buffered == 0
        p2 = impl.FrameParser(server=server, max_frame_size=None)
        assert tuples(p2.feed(h + body)) == [tup(2, payload)]


def test_length_exactly_limit_and_one_over(impl):
    for n in (125, 126, 65535, 65536):
        p = impl.FrameParser(server=False, max_frame_size=n)
        assert tuples(p.feed(encode(2, b"x" * n))) == [tup(2, b"x" * n)]
        p = impl.FrameParser(server=False, max_frame_size=n - 1)
        with pytest.raises(PayloadTooBig) as ei:
            p.feed(header(0x82, n))  # header only: no payload needed to decide
        assert ei.value.code == 1009
        assert ei.value.reason == f"frame payload of {n} bytes exceeds the limit of {n - 1} bytes"


HUGE = (1 << 32) + 1


@pytest.mark.parametrize("server", [False, True])
def test_length_2_32_plus_1_no_limit_buffers_only_what_arrived(impl, server):
    key = KEY if server else None
    hdr = header(0x82, HUGE, key)
    assert hdr[:10] == bytes.fromhex("827f0000000100000001") if not server else bytes.fromhex("82ff0000000100000001")
    p = impl.FrameParser(server=server, max_frame_size=None)
    tracemalloc.start()
    try:
        assert p.feed(hdr) == []
        assert p.feed(b"\x00" * 1000) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert p.buffered == len(hdr) + 1000
    assert peak < 1 << 20, f"{peak} bytes allocated for a declared length of 2**32+1"


@pytest.mark.parametrize("server", [False, True])
def test_length_2_32_plus_1_too_big_from_header(impl, server):
    key = KEY if server else None
    hdr = header(0x82, HUGE, key)
    p = impl.FrameParser(server=server)  # default limit: 1 MiB
    raised_at = None
    for i in range(len(hdr)):
        try:
            assert p.feed(hdr[i : i + 1]) == []
        except PayloadTooBig as exc:
            raised_at = i + 1
            err = exc
            break
    # not before the length is known, not after the header
    assert raised_at is not None and 10 <= raised_at <= len(hdr)
    assert type(err) is PayloadTooBig
    assert err.code == 1009
    assert err.reason == f"frame payload of {HUGE} bytes exceeds the limit of {LIMIT} bytes"
    assert err.frames == []


def test_too_big_16bit_raised_from_header(impl):
    p = impl.FrameParser(server=True, max_frame_size=1000)
    good = encode(2, b"ok", key=KEY)
    with pytest.raises(PayloadTooBig) as ei:
        p.feed(good + header(0x82, 1001, KEY)[:4])  # 16-bit length known; no mask key, no payload yet
    assert ei.value.code == 1009
    assert ei.value.reason == "frame payload of 1001 bytes exceeds the limit of 1000 bytes"
    assert tuples(ei.value.frames) == [tup(2, b"ok")]


def test_max_frame_size_zero_and_settable(impl):
    p = impl.FrameParser(server=False, max_frame_size=0)
    assert tuples(p.feed(encode(1))) == [tup(1)]
    p.max_frame_size = 5
    assert p.max_frame_size == 5
    assert tuples(p.feed(encode(1, b"12345"))) == [tup(1, b"12345")]
    p.max_frame_size = None
    assert tuples(p.feed(encode(2, b"z" * 70000))) == [tup(2, b"z" * 70000)]
    p.max_frame_size = 3
    with pytest.raises(PayloadTooBig) as ei:
        p.feed(encode(1, b"1234"))
    assert ei.value.reason == "frame payload of 4 bytes exceeds the limit of 3 bytes"


def test_default_limit_is_1mib(impl):
    p = impl.FrameParser(server=False)
    assert p.max_frame_size == LIMIT
    assert p.feed(header(0x82, LIMIT)) == []
    with pytest.raises(PayloadTooBig):
        impl.FrameParser(server=False).feed(header(0x82, LIMIT + 1))


def test_64bit_length_msb_set(impl):
    for server in (False, True):
        for length in (1 << 63, (1 << 64) - 1, (1 << 63) + 5):
            b1 = 0xFF if server else 0x7F
            data = bytes((0x82, b1)) + length.to_bytes(8, "big") + (KEY if server else b"")
            for limit in (None, LIMIT):
                p = impl.FrameParser(server=server, max_frame_size=limit)
                with pytest.raises(ProtocolError) as ei:
                    p.feed(data)
                assert type(ei.value) is ProtocolError
                assert ei.value.code == 1002
                assert ei.value.reason == "64-bit payload length has its most significant bit set"


def test_largest_legal_64bit_length_no_limit(impl):
    p = impl.FrameParser(server=False, max_frame_size=None)
    assert p.feed(bytes.fromhex("827f7fffffffffffffff")) == []
    assert p.buffered == 10


# ---------------------------------------------------------------------------
# Framing errors: every bit combination of the first two header bytes
# ---------------------------------------------------------------------------


def expected_error(b0: int, masked: bool, server: bool, allowed_rsv: int):
    """The reason the parser must give for this header (or None), in check order."""
    op = b0 & 0x0F
    if b0 & 0x70 & ~allowed_rsv:
        # Only the bits that are not allowed are named.
        return f"reserved bits 0x{b0 & 0x70 & ~allowed_rsv:02x} set without a negotiated extension"
    if 3 <= op <= 7 or op >= 0xB:
        return f"reserved opcode 0x{op:x}"
    if op >= 8 and not b0 & 0x80:
        return f"fragmented control frame (opcode 0x{op:x})"
    if server and not masked:
        return "unmasked frame from a client"
    if not server and masked:
        return "masked frame from a server"
    return None


@pytest.mark.parametrize("allowed_rsv", [0, 0x40, 0x20 | 0x10, 0x70])
@pytest.mark.parametrize("server", [False, True])
def test_every_header_bit_combination(impl, server, allowed_rsv):
    prev = encode(2, b"before", key=KEY if server else None)
    invalid = 0
    for b0, masked in itertools.product(range(256), (False, True)):
        payload = b"abc"
        key = KEY if masked else None
        data = prev + encode(b0 & 0x0F, payload, fin=bool(b0 & 0x80), rsv=b0 & 0x70, key=key)
        reason = expected_error(b0, masked, server, allowed_rsv)
        p = impl.FrameParser(server=server, allowed_rsv=allowed_rsv)
        if reason is None:
            frames = p.feed(data)
            assert tuples(frames) == [
                tup(2, b"before"),
                tup(b0 & 0x0F, payload, bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10)),
            ], hex(b0)
            continue
        invalid += 1
        with pytest.raises(ProtocolError) as ei:
            p.feed(data)
        exc = ei.value
        assert (type(exc), exc.code, exc.reason) == (ProtocolError, 1002, reason), (hex(b0), masked)
        assert tuples(exc.frames) == [tup(2, b"before")]
        # the parser stays failed, even for valid input
        for again in (b"", prev):
            with pytest.raises(ProtocolError) as ei2:
                p.feed(again)
            assert (type(ei2.value), ei2.value.code, ei2.value.reason) == (ProtocolError, 1002, reason)
            assert list(getattr(ei2.value, "frames", [])) == []
    assert invalid > 0


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes(impl, opcode):
    for server in (False, True):
        p = impl.FrameParser(server=server)
        with pytest.raises(ProtocolError) as ei:
            p.feed(encode(opcode, b"", key=KEY if server else None))
        assert ei.value.code == 1002
        assert ei.value.reason == f"reserved opcode 0x{opcode:x}"


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_control_frame_too_long(impl, opcode):
    cases = [
        (bytes((0x80 | opcode, 126)) + (126).to_bytes(2, "big"), 126),
        (bytes((0x80 | opcode, 126)) + (65535).to_bytes(2, "big"), 65535),
        (bytes((0x80 | opcode, 127)) + (200).to_bytes(8, "big"), 200),
        (bytes((0x80 | opcode, 127)) + HUGE.to_bytes(8, "big"), HUGE),
        (bytes((0x80 | opcode, 127)) + ((1 << 63) - 1).to_bytes(8, "big"), (1 << 63) - 1),
    ]
    for hdr, length in cases:
        for limit in (None, LIMIT, 10):  # control-size error, whatever the limit
            p = impl.FrameParser(server=False, max_frame_size=limit)
            with pytest.raises(ProtocolError) as ei:
                p.feed(encode(1, b"x") + hdr)  # header only
            exc = ei.value
            assert (type(exc), exc.code) == (ProtocolError, 1002)
            assert exc.reason == f"control frame payload of {length} bytes exceeds 125"
            assert tuples(exc.frames) == [tup(1, b"x")]
    # 125 is fine
    p = impl.FrameParser(server=False)
    assert tuples(p.feed(encode(opcode, b"c" * 125))) == [tup(opcode, b"c" * 125)]


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_fragmented_control_frame(impl, opcode):
    p = impl.FrameParser(server=True)
    with pytest.raises(ProtocolError) as ei:
        p.feed(encode(opcode, b"", fin=False, key=KEY))
    assert ei.value.reason == f"fragmented control frame (opcode 0x{opcode:x})"
    assert ei.value.code == 1002


def test_mask_rules(impl):
    with pytest.raises(ProtocolError) as ei:
        impl.FrameParser(server=True).feed(HELLO_UNMASKED)
    assert (ei.value.code, ei.value.reason) == (1002, "unmasked frame from a client")
    with pytest.raises(ProtocolError) as ei:
        impl.FrameParser(server=False).feed(HELLO_MASKED)
    assert (ei.value.code, ei.value.reason) == (1002, "masked frame from a server")


def test_allowed_rsv_settable(impl):
    p = impl.FrameParser(server=False)
    assert p.allowed_rsv == 0
    p.allowed_rsv = 0x40
    assert p.allowed_rsv == 0x40
    frames = p.feed(encode(1, b"z", rsv=0x40) + encode(0, b"y", rsv=0x40))
    assert tuples(frames) == [tup(1, b"z", rsv1=True), tup(0, b"y", rsv1=True)]
    with pytest.raises(ProtocolError) as ei:
        p.feed(encode(1, b"z", rsv=0x40 | 0x10))
    # RSV1 is allowed: only RSV3 is named.
    assert ei.value.reason == "reserved bits 0x10 set without a negotiated extension"
    p = impl.FrameParser(server=False, allowed_rsv=0x70)
    assert tuples(p.feed(encode(2, b"", rsv=0x70))) == [tup(2, b"", True, True, True, True)]


def test_error_frames_only_from_the_failing_call(impl):
    p = impl.FrameParser(server=False)
    assert tuples(p.feed(encode(1, b"a") + encode(2, b"b")[:2])) == [tup(1, b"a")]
    with pytest.raises(ProtocolError) as ei:
        p.feed(encode(2, b"b")[2:] + encode(9, b"p") + bytes((0x83, 0)))
    assert tuples(ei.value.frames) == [tup(2, b"b"), tup(9, b"p")]
    assert ei.value.reason == "reserved opcode 0x3"


def test_error_after_partial_frame_in_earlier_call(impl):
    """The failing header arrives across calls: earlier bytes produced no frame."""
    p = impl.FrameParser(server=True)
    assert p.feed(bytes((0x81,))) == []
    with pytest.raises(ProtocolError) as ei:
        p.feed(bytes((0x05,)) + b"Hello")
    assert ei.value.reason == "unmasked frame from a client"
    assert ei.value.frames == []


def test_constructor_validation(impl):
    with pytest.raises(ValueError):
        impl.FrameParser(server=False, max_frame_size=-1)
    with pytest.raises(ValueError):
        impl.FrameParser(server=False, allowed_rsv=0x80)
    with pytest.raises(ValueError):
        impl.FrameParser(server=False, allowed_rsv=0x01)


# ---------------------------------------------------------------------------
# Truncated headers, chunking, many frames
# ---------------------------------------------------------------------------

TRUNC_FRAMES = [
    (False, encode(1, b"hi")),
    (False, encode(2, b"m" * 300)),
    (False, encode(2, b"b" * 70000)),
    (True, encode(1, b"hi", key=KEY)),
    (True, encode(2, b"m" * 300, key=KEY)),
    (True, encode(2, b"b" * 70000, key=KEY)),
    (True, encode(9, b"", key=KEY)),
]


@pytest.mark.parametrize("server,data", TRUNC_FRAMES)
def test_truncated_header_gives_nothing(impl, server, data):
    b1 = data[1] & 0x7F
    hlen = (2 if b1 < 126 else 4 if b1 == 126 else 10) + (4 if server else 0)
    for cut in range(0, hlen):  # every proper prefix of the header
        p = impl.FrameParser(server=server)
        assert p.feed(data[:cut]) == [], cut
        assert p.buffered == cut
        frames = p.feed(data[cut:])
        assert len(frames) == 1 and p.buffered == 0


def _stream(server: bool):
    key = (lambda i: bytes((i, 255 - i, 3 * i & 255, 77))) if server else (lambda i: None)
    parts = [
        (1, b"Hel", False, 0),
        (9, b"ping!", True, 0),
        (0, b"lo", True, 0),
        (2, bytes(range(130)), True, 0),
        (10, b"", True, 0),
        (1, "ünï".encode(), True, 0x40),
        (8, b"\x03\xe8bye", True, 0),
    ]
    data = b"".join(encode(op, pl, fin, rsv, key(i)) for i, (op, pl, fin, rsv) in enumerate(parts))
    want = [tup(op, pl, fin, bool(rsv & 0x40)) for op, pl, fin, rsv in parts]
    return data, want


@pytest.mark.parametrize("server", [False, True])
def test_every_split_point(impl, server):
    data, want = _stream(server)
    for i in range(len(data) + 1):
        p = impl.FrameParser(server=server, allowed_rsv=0x40)
        assert tuples(feed_all(p, [data[:i], data[i:]])) == want, i
        assert p.buffered == 0


@pytest.mark.parametrize("server", [False, True])
def test_every_pair_of_split_points_small(impl, server):
    data, want = _stream(server)
    data = data[:60]
    p0 = impl.FrameParser(server=server, allowed_rsv=0x40)
    want = tuples(p0.feed(data))
    rest = p0.buffered
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            p = impl.FrameParser(server=server, allowed_rsv=0x40)
            assert tuples(feed_all(p, [data[:i], data[i:j], data[j:]])) == want, (i, j)
            assert p.buffered == rest


@pytest.mark.parametrize("server", [False, True])
def test_byte_by_byte(impl, server):
    data, want = _stream(server)
    p = impl.FrameParser(server=server, allowed_rsv=0x40)
    got = []
    for k in range(len(data)):
        got += p.feed(data[k : k + 1])
    assert tuples(got) == want


frame_st = st.tuples(
    st.sampled_from([0, 1, 2, 8, 9, 10]),
    st.one_of(st.binary(max_size=40), st.binary(min_size=120, max_size=300)),
    st.booleans(),
    st.sampled_from([0, 0x40, 0x20, 0x10, 0x70]),
    st.binary(min_size=4, max_size=4),
)


def _norm(op, payload, fin, rsv, key):
    if op >= 8:
        payload, fin = payload[:125], True
    return op, payload, fin, rsv, key


@given(
    frames=st.lists(frame_st.map(lambda t: _norm(*t)), max_size=8),
    server=st.booleans(),
    cuts=st.lists(st.integers(0, 3000), max_size=10),
)
@settings(max_examples=200)
def test_random_frames_random_chunkings(impl, frames, server, cuts):
    data = b"".join(encode(op, pl, fin, rsv, key if server else None) for op, pl, fin, rsv, key in frames)
    want = [tup(op, pl, fin, bool(rsv & 0x40), bool(rsv & 0x20), bool(rsv & 0x10)) for op, pl, fin, rsv, _ in frames]
    points = sorted({c for c in cuts if c <= len(data)} | {0, len(data)})
    p = impl.FrameParser(server=server, allowed_rsv=0x70)
    got = feed_all(p, [data[a:b] for a, b in zip(points, points[1:])])
    assert tuples(got) == want
    assert p.buffered == 0


def test_many_frames_in_one_buffer(impl):
    rng = random.Random(42)
    for server in (False, True):
        parts, want = [], []
        for _ in range(2000):
            payload = bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 1, 16, 125, 126, 300))))
            op = rng.choice((1, 2, 0)) if len(payload) > 125 else rng.choice((0, 1, 2, 9, 10))
            key = rng.getrandbits(32).to_bytes(4, "big") if server else None
            parts.append(encode(op, payload, key=key))
            want.append(tup(op, payload))
        tail = encode(2, b"partial", key=KEY if server else None)[:5]
        p = impl.FrameParser(server=server)
        frames = p.feed(b"".join(parts) + tail)
        assert tuples(frames) == want
        assert p.buffered == 5


def test_feed_bytes_like_and_no_aliasing(impl):
    data = encode(1, b"hello world", key=KEY)
    p = impl.FrameParser(server=True)
    buf = bytearray(data[:9])
    assert p.feed(buf) == []
    buf[:] = b"\x00" * len(buf)  # the parser must have copied what it kept
    assert tuples(p.feed(memoryview(data)[9:])) == [tup(1, b"hello world")]
    assert p.feed(b"") == []
    assert tuples(p.feed(memoryview(b"xx" + data)[2:])) == [tup(1, b"hello world")]


def test_frame_attributes(impl):
    (f,) = impl.FrameParser(server=False, allowed_rsv=0x20).feed(encode(2, b"\x00\xff", fin=False, rsv=0x20))
    assert isinstance(f.opcode, int) and f.opcode == 2
    assert type(f.payload) is bytes and f.payload == b"\x00\xff"
    assert (f.fin, f.rsv1, f.rsv2, f.rsv3) == (False, False, True, False)
    assert all(type(x) is bool for x in (f.fin, f.rsv1, f.rsv2, f.rsv3))
    assert f.astuple() == (2, b"\x00\xff", False, False, True, False)


# ---------------------------------------------------------------------------
# build_frame
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70001])
def test_build_server_frame_unmasked(impl, n):
    payload = bytes(i & 0xFF for i in range(n))
    for fin, rsv1, rsv2, rsv3 in itertools.product((True, False), repeat=4):
        rsv = 0x40 * rsv1 | 0x20 * rsv2 | 0x10 * rsv3
        out = impl.build_frame(2, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3)
        assert type(out) is bytes
        assert out == encode(2, payload, fin=fin, rsv=rsv)
    assert impl.build_frame(2, bytearray(payload)) == encode(2, payload)
    assert impl.build_frame(2, memoryview(payload)) == encode(2, payload)


@pytest.mark.parametrize("n", [0, 1, 5, 125, 126, 65536])
def test_build_client_frame_given_key_roundtrip(impl, n):
    payload = bytes((i * 13) & 0xFF for i in range(n))
    for key in (KEY, b"\x00\x00\x00\x00", b"\xff\xfe\xfd\xfc"):
        out = impl.build_frame(1, payload, client=True, mask=key)
        assert out == encode(1, payload, key=key)
        assert impl.build_frame(1, payload, mask=bytearray(key)) == out
        p = impl.FrameParser(server=True)
        assert tuples(p.feed(out)) == [tup(1, payload)]


def test_build_client_random_key(impl):
    payload = b"same payload every time"
    keys = []
    for _ in range(300):  # crosses the batched-urandom refill
        out = impl.build_frame(2, payload, client=True)
        assert out[1] == 0x80 | len(payload)
        key = out[2:6]
        assert out[6:] == xor(payload, key)
        keys.append(key)
        assert tuples(impl.FrameParser(server=True).feed(out)) == [tup(2, payload)]
    assert len(set(keys)) == len(keys)
    # a client parser (server=False) must reject the masked frame
    with pytest.raises(ProtocolError):
        impl.FrameParser(server=False).feed(impl.build_frame(2, payload, client=True))


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_build_control_limits(impl, opcode):
    assert impl.build_frame(opcode, b"c" * 125) == encode(opcode, b"c" * 125)
    with pytest.raises(ValueError):
        impl.build_frame(opcode, b"c" * 126)
    with pytest.raises(ValueError):
        impl.build_frame(opcode, b"c" * 70000, client=True)
    with pytest.raises(ValueError):
        impl.build_frame(opcode, b"", fin=False)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF, -1, 16, 0x81, 256])
def test_build_invalid_opcode(impl, opcode):
    with pytest.raises(ValueError):
        impl.build_frame(opcode, b"x")
    with pytest.raises(ValueError):
        impl.build_frame(opcode, b"x", client=True)


@pytest.mark.parametrize("bad", [b"", b"abc", b"abcde"])
def test_build_bad_mask(impl, bad):
    with pytest.raises(ValueError):
        impl.build_frame(1, b"hello", mask=bad)


@pytest.mark.parametrize("fmt", ["H", "I", "Q"])
def test_build_and_feed_wide_item_buffers(impl, fmt):
    """Payloads are bytes-like: an array('I') of 3 items is 12 bytes of payload,
    and the header must say 12, not 3."""
    import array

    arr = array.array(fmt, [1, 2, 3])
    raw = arr.tobytes()
    assert impl.build_frame(2, arr) == encode(2, raw)
    assert impl.build_frame(2, memoryview(raw).cast(fmt)) == encode(2, raw)
    assert impl.build_frame(2, arr, mask=KEY) == encode(2, raw, key=KEY)
    wire = array.array(fmt)
    data = encode(2, raw)
    wire.frombytes(data + b"\x00" * (-len(data) % wire.itemsize))
    frames = impl.FrameParser(server=False).feed(wire)
    assert tuples(frames)[:1] == [tup(2, raw)]


@given(frame=frame_st.map(lambda t: _norm(*t)), client=st.booleans())
@settings(max_examples=150)
def test_build_matches_hand_encoder(impl, frame, client):
    op, payload, fin, rsv, key = frame
    out = impl.build_frame(op, payload, fin=fin, rsv1=bool(rsv & 0x40), rsv2=bool(rsv & 0x20), rsv3=bool(rsv & 0x10), mask=key if client else None)
    assert out == encode(op, payload, fin, rsv, key if client else None)
    p = impl.FrameParser(server=client, allowed_rsv=0x70)
    assert tuples(p.feed(out)) == [tup(op, payload, fin, bool(rsv & 0x40), bool(rsv & 0x20), bool(rsv & 0x10))]
