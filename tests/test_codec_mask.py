"""apply_mask / mask_inplace, run against every codec implementation."""

from __future__ import annotations

import array
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

MASK = b"\x37\xfa\x21\x3d"


def ref_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """Byte-by-byte reference: data[i] ^ mask[(offset + i) % 4]."""
    return bytes(b ^ mask[(offset + i) % 4] for i, b in enumerate(data))


# Lengths around the 4/8/16/32/64-byte SIMD block edges, plus some larger ones.
LENGTHS = sorted(set(range(0, 70)) | {95, 96, 97, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 4103})
ALIGNS = (0, 1, 2, 3, 5, 7, 8, 15, 16, 31, 32, 33)

_RNG = random.Random(6455)
_DATA = bytes(_RNG.getrandbits(8) for _ in range(8192))
# _PHASED[p][j] = _DATA[j] ^ MASK[(j + p) % 4]; slicing gives the reference
# for any start position and mask offset without recomputing it.
_PHASED = [ref_mask(_DATA, MASK, p) for p in range(4)]


def expected(start: int, n: int, offset: int = 0) -> bytes:
    return _PHASED[(offset - start) % 4][start : start + n]


def test_reference_is_sane():
    assert ref_mask(b"Hello", MASK) == bytes.fromhex("7f9f4d5158")  # RFC 6455 5.7
    assert expected(3, 5, 1) == ref_mask(_DATA[3:8], MASK, 1)


# ---------------------------------------------------------------------------
# apply_mask
# ---------------------------------------------------------------------------


def test_apply_mask_rfc_example(impl):
    assert impl.apply_mask(b"Hello", MASK) == bytes.fromhex("7f9f4d5158")
    assert impl.apply_mask(bytes.fromhex("7f9f4d5158"), MASK) == b"Hello"


@pytest.mark.parametrize("n", LENGTHS)
def test_apply_mask_lengths_and_alignments(impl, n):
    for a in ALIGNS:
        src = _DATA[a : a + n]
        want = expected(a, n)
        assert impl.apply_mask(src, MASK) == want, (n, a)
        # unaligned memoryview into a bigger buffer
        assert impl.apply_mask(memoryview(_DATA)[a : a + n], MASK) == want, (n, a)


@pytest.mark.parametrize(
    "wrap",
    [
        bytes,
        bytearray,
        memoryview,
        lambda b: memoryview(bytearray(b)),
        lambda b: array.array("B", b),
        lambda b: array.array("I", b),
        lambda b: memoryview(b).cast("H"),
    ],
    ids=["bytes", "bytearray", "memoryview", "memoryview-rw", "array-B", "array-I", "memoryview-H"],
)
@pytest.mark.parametrize(
    "mwrap", [bytes, bytearray, memoryview], ids=["mask-bytes", "mask-bytearray", "mask-memoryview"]
)
def test_apply_mask_bytes_like(impl, wrap, mwrap):
    data = _DATA[:1000]
    original = bytes(data)
    obj = wrap(data)
    out = impl.apply_mask(obj, mwrap(MASK))
    assert type(out) is bytes
    assert out == expected(0, 1000)
    assert bytes(obj) == original  # input untouched


def test_apply_mask_returns_new_bytes(impl):
    assert impl.apply_mask(b"", MASK) == b""
    assert type(impl.apply_mask(b"", MASK)) is bytes
    assert impl.apply_mask(b"abcd", b"\x00\x00\x00\x00") == b"abcd"
    assert impl.apply_mask(b"\xff" * 9, b"\xff\xff\xff\xff") == b"\x00" * 9


def test_apply_mask_large(impl):
    data = os.urandom((1 << 20) + 3)
    mask = os.urandom(4)
    out = impl.apply_mask(data, mask)
    assert len(out) == len(data)
    # spot-check against the reference, then the involution on everything
    for i in (0, 1, 2, 3, 4095, 4096, 65537, len(data) - 1):
        assert out[i] == data[i] ^ mask[i % 4], i
    assert out[-1000:] == ref_mask(data[-1000:], mask, (len(data) - 1000) % 4)
    assert impl.apply_mask(out, mask) == data


@pytest.mark.parametrize("bad", [b"", b"\x01", b"abc", b"abcde", b"abcdabcd"])
def test_apply_mask_bad_mask_length(impl, bad):
    with pytest.raises(ValueError):
        impl.apply_mask(b"hello", bad)
    with pytest.raises(ValueError):
        impl.apply_mask(b"", bad)


@given(data=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4))
@settings(max_examples=150)
def test_apply_mask_matches_reference(impl, data, mask):
    assert impl.apply_mask(data, mask) == ref_mask(data, mask)


# ---------------------------------------------------------------------------
# mask_inplace
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", LENGTHS)
def test_mask_inplace_lengths_offsets_alignments(impl, n):
    for a in (0, 1, 3, 16, 33):
        for offset in range(8):
            buf = bytearray(_DATA[: a + n + 7])
            view = memoryview(buf)[a : a + n]
            assert impl.mask_inplace(view, MASK, offset) is None
            assert buf[a : a + n] == expected(a, n, offset), (n, a, offset)
            # bytes outside the view are untouched
            assert buf[:a] == _DATA[:a]
            assert buf[a + n :] == _DATA[a + n : a + n + 7]


def test_mask_inplace_default_offset_and_types(impl):
    buf = bytearray(b"Hello")
    impl.mask_inplace(buf, MASK)
    assert buf == bytes.fromhex("7f9f4d5158")
    impl.mask_inplace(memoryview(buf), bytearray(MASK), 0)
    assert buf == b"Hello"
    arr = array.array("B", b"Hello")
    impl.mask_inplace(arr, memoryview(MASK))
    assert arr.tobytes() == bytes.fromhex("7f9f4d5158")


@pytest.mark.parametrize("fmt", ["H", "I"])
def test_mask_inplace_wide_items(impl, fmt):
    arr = array.array(fmt)
    arr.frombytes(_DATA[:1000])
    impl.mask_inplace(arr, MASK, 1)
    assert arr.tobytes() == expected(0, 1000, 1)


def test_mask_inplace_offset_wraps(impl):
    for offset in (4, 5, 6, 7, 401, 1 << 20):
        a = bytearray(_DATA[:37])
        b = bytearray(_DATA[:37])
        impl.mask_inplace(a, MASK, offset)
        impl.mask_inplace(b, MASK, offset % 4)
        assert a == b == ref_mask(_DATA[:37], MASK, offset % 4), offset


def test_mask_inplace_continues_across_every_split(impl):
    payload = _DATA[:41]
    want = ref_mask(payload, MASK)
    for i in range(len(payload) + 1):
        for j in range(i, len(payload) + 1):
            buf = bytearray(payload)
            view = memoryview(buf)
            impl.mask_inplace(view[:i], MASK, 0)
            impl.mask_inplace(view[i:j], MASK, i)
            impl.mask_inplace(view[j:], MASK, j)
            assert buf == want, (i, j)


@given(
    payload=st.binary(max_size=600),
    mask=st.binary(min_size=4, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12),
)
@settings(max_examples=150)
def test_mask_inplace_random_chunkings(impl, payload, mask, cuts):
    points = sorted({c for c in cuts if c <= len(payload)} | {0, len(payload)})
    # Each piece is copied into its own buffer, as when reads arrive separately.
    out = bytearray()
    for lo, hi in zip(points, points[1:]):
        piece = bytearray(payload[lo:hi])
        impl.mask_inplace(piece, mask, lo)
        out += piece
    assert out == ref_mask(payload, mask)
    assert impl.apply_mask(bytes(out), mask) == payload


@pytest.mark.parametrize("bad", [b"", b"\x01", b"abc", b"abcde"])
def test_mask_inplace_bad_mask_length(impl, bad):
    buf = bytearray(b"hello")
    with pytest.raises(ValueError):
        impl.mask_inplace(buf, bad)
    assert buf == b"hello"


@pytest.mark.parametrize(
    "make",
    [lambda: b"hello world", lambda: memoryview(b"hello world"), lambda: memoryview(bytearray(b"hello world")).toreadonly()],
    ids=["bytes", "memoryview-bytes", "readonly-view"],
)
def test_mask_inplace_readonly_buffer(impl, make):
    buf = make()
    with pytest.raises(TypeError):
        impl.mask_inplace(buf, MASK)
    assert bytes(buf) == b"hello world"


def test_mask_inplace_negative_offset(impl):
    buf = bytearray(b"hello")
    with pytest.raises(ValueError):
        impl.mask_inplace(buf, MASK, -1)
    assert buf == b"hello"


def test_mask_inplace_large(impl):
    data = os.urandom((1 << 20) + 5)
    buf = bytearray(data)
    impl.mask_inplace(buf, MASK, 3)
    assert bytes(buf) == impl.apply_mask(data, MASK[3:] + MASK[:3])
    assert buf[:64] == ref_mask(data[:64], MASK, 3)
    assert buf[-64:] == ref_mask(data[-64:], MASK, (3 + len(data) - 64) % 4)
