"""validate_utf8 and the incremental Utf8Validator, against every implementation.

Two oracles live here, independent of the code under test:
- ``dfa``: a byte-by-byte automaton written from Unicode Table 3-7
  (well-formed UTF-8 byte sequences);
- ``longest_valid_prefix``: built on CPython's strict decoder only, it finds
  the longest prefix that some completion turns into valid UTF-8.
The two are checked against each other, then used for ``error_offset``.
"""

from __future__ import annotations

import itertools
import random
from typing import Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# ---------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------


def _lead(b: int):
    """(continuation bytes needed, first continuation range) for a lead byte, or None."""
    if 0xC2 <= b <= 0xDF:
        return 1, (0x80, 0xBF)
    if b == 0xE0:
        return 2, (0xA0, 0xBF)  # no overlong 3-byte forms
    if 0xE1 <= b <= 0xEC or 0xEE <= b <= 0xEF:
        return 2, (0x80, 0xBF)
    if b == 0xED:
        return 2, (0x80, 0x9F)  # no surrogates
    if b == 0xF0:
        return 3, (0x90, 0xBF)  # no overlong 4-byte forms
    if 0xF1 <= b <= 0xF3:
        return 3, (0x80, 0xBF)
    if b == 0xF4:
        return 3, (0x80, 0x8F)  # nothing above U+10FFFF
    return None  # 0x80-0xC1 (stray continuation, overlong 2-byte), 0xF5-0xFF


def dfa(data: bytes) -> Tuple[Optional[int], bool]:
    """(offset of the first byte that cannot belong to valid UTF-8 or None, at_boundary)."""
    need, lo, hi = 0, 0x80, 0xBF
    for i, b in enumerate(data):
        if need:
            if not lo <= b <= hi:
                return i, False
            need -= 1
            lo, hi = 0x80, 0xBF
        elif b >= 0x80:
            lead = _lead(b)
            if lead is None:
                return i, need == 0
            need, (lo, hi) = lead
    return None, need == 0


# Continuation candidates covering every narrowed first-continuation range.
_CONT = (0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF)
_COMPLETIONS = [b""] + [bytes(t) for k in (1, 2, 3) for t in itertools.product(_CONT, repeat=k)]


def _is_prefix_of_valid(p: bytes) -> bool:
    for c in _COMPLETIONS:
        try:
            (p + c).decode("utf-8")
            return True
        except UnicodeDecodeError:
            pass
    return False


def longest_valid_prefix(data: bytes) -> int:
    """Length of the longest prefix of ``data`` that is a prefix of some valid UTF-8 string."""
    n = 0
    # A prefix of a valid-prefix is a valid-prefix, so scan up from the decoder's answer.
    try:
        data.decode("utf-8")
        return len(data)
    except UnicodeDecodeError as exc:
        n = exc.start
    while n < len(data) and _is_prefix_of_valid(data[: n + 1]):
        n += 1
    return n


def test_oracles_agree_on_handpicked():
    for data, off in CASES:
        got, _ = dfa(data)
        assert got == off, data
        assert longest_valid_prefix(data) == (len(data) if off is None else off), data


@given(st.binary(max_size=24))
@settings(max_examples=200)
def test_oracles_agree_random(data):
    off, _ = dfa(data)
    assert longest_valid_prefix(data) == (len(data) if off is None else off)


# ---------------------------------------------------------------------------
# Hand-picked cases: (bytes, error offset or None). Truncated ones are valid-so-far.
# ---------------------------------------------------------------------------

VALID = [
    b"",
    b"a",
    b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
    "κόσμε".encode(),
    b"\x00",
    b"\x7f",
    b"\xc2\x80",  # U+0080
    b"\xdf\xbf",  # U+07FF
    b"\xe0\xa0\x80",  # U+0800
    b"\xed\x9f\xbf",  # U+D7FF
    b"\xee\x80\x80",  # U+E000
    b"\xef\xbf\xbd",  # U+FFFD
    b"\xef\xbf\xbf",  # U+FFFF
    b"\xf0\x90\x80\x80",  # U+10000
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF
    "\U0001d11e€ä a".encode() * 3,
]

INVALID = [
    # stray continuation bytes
    (b"\x80", 0),
    (b"\xbf", 0),
    (b"a\x80b", 1),
    # overlong 2-byte
    (b"\xc0\x80", 0),
    (b"\xc1\xbf", 0),
    (b"\xc0\xaf", 0),
    # overlong 3- and 4-byte: caught at the first continuation byte
    (b"\xe0\x80\x80", 1),
    (b"\xe0\x9f\xbf", 1),
    (b"\xf0\x80\x80\x80", 1),
    (b"\xf0\x8f\xbf\xbf", 1),
    (b"\xf0\x80\x80\xaf", 1),
    # surrogates
    (b"\xed\xa0\x80", 1),
    (b"\xed\xbf\xbf", 1),
    (b"\xed\xa0\x80\xed\xb0\x80", 1),
    (b"ab\xed\xa0", 3),
    # above U+10FFFF
    (b"\xf4\x90\x80\x80", 1),
    (b"\xf4\xbf\xbf\xbf", 1),
    (b"\xf5\x80\x80\x80", 0),
    (b"\xf7\xbf\xbf\xbf", 0),
    (b"\xf8\x88\x80\x80\x80", 0),
    (b"\xfc\x84\x80\x80\x80\x80", 0),
    (b"\xfe", 0),
    (b"\xff", 0),
    # missing continuation
    (b"\xc2A", 1),
    (b"\xe1\x80A", 2),
    (b"\xf0\x90\x80A", 3),
    (b"\xe1\x80\xe1\x80\x80", 2),
    (b"\xf1\x80\x80\x80\x80", 4),
    # Autobahn 6.x style: valid text then a bad byte
    ("κόσμε".encode() + b"\xed\xa0\x80edited", len("κόσμε".encode()) + 1),
    (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64", 12),
]

TRUNCATED = [
    b"\xc2",
    b"\xe0",
    b"\xe0\xa0",
    b"\xed\x9f",
    b"\xf0",
    b"\xf0\x90",
    b"\xf0\x90\x80",
    b"\xf4\x8f\xbf",
    b"abc\xe2\x82",
    "κόσμε".encode()[:-1],
]

CASES = [(v, None) for v in VALID] + INVALID + [(t, None) for t in TRUNCATED]


# ---------------------------------------------------------------------------
# validate_utf8
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", VALID)
def test_validate_valid(impl, data):
    assert impl.validate_utf8(data) is True
    assert impl.validate_utf8(bytearray(data)) is True
    assert impl.validate_utf8(memoryview(data)) is True


@pytest.mark.parametrize("data,off", INVALID)
def test_validate_invalid(impl, data, off):
    assert impl.validate_utf8(data) is False
    assert impl.validate_utf8(memoryview(b"xx" + data)[2:]) is False


@pytest.mark.parametrize("data", TRUNCATED)
def test_validate_truncated_is_invalid(impl, data):
    assert impl.validate_utf8(data) is False


def test_validate_every_code_point_class(impl):
    # Every scalar value from a sample including all range edges encodes to valid UTF-8.
    points = set(range(0, 0x900)) | {0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF}
    points |= set(range(0x10000, 0x110000, 997))
    text = "".join(chr(c) for c in sorted(points)).encode()
    assert impl.validate_utf8(text) is True
    # Every surrogate, encoded the way CESU/WTF-8 would, is rejected.
    for c in range(0xD800, 0xE000, 37):
        enc = bytes((0xE0 | c >> 12, 0x80 | (c >> 6) & 0x3F, 0x80 | c & 0x3F))
        assert impl.validate_utf8(b"ok" + enc) is False, hex(c)
    # Every overlong encoding of an ASCII byte, in 2, 3 and 4 bytes.
    for c in range(0, 0x80, 7):
        for enc in (
            bytes((0xC0 | c >> 6, 0x80 | c & 0x3F)),
            bytes((0xE0, 0x80 | c >> 6, 0x80 | c & 0x3F)),
            bytes((0xF0, 0x80, 0x80 | c >> 6, 0x80 | c & 0x3F)),
        ):
            assert impl.validate_utf8(enc) is False, enc


@pytest.mark.parametrize("char", ["a", "ß", "€", "\U0001f600"])
def test_validate_long_text_bad_byte_anywhere(impl, char):
    """Long inputs go through SIMD blocks: a bad byte at any position is found."""
    unit = char.encode()
    text = unit * (300 // len(unit) + 1)
    text = text[: len(text) - len(text) % len(unit)]
    assert impl.validate_utf8(text) is True
    rng = random.Random(len(unit))
    for bad in (b"\x80", b"\xff", b"\xc0", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"):
        for pos in sorted(set(range(0, 80, len(unit))) | {rng.randrange(0, len(text), len(unit)) for _ in range(8)}):
            data = text[:pos] + bad + text[pos:]
            assert impl.validate_utf8(data) is False, (pos, bad)
            v = impl.Utf8Validator()
            assert v.feed(data) is False
            assert v.error_offset == dfa(data)[0], (pos, bad)
        # truncated code point at the very end of a long valid text
        if len(unit) > 1:
            assert impl.validate_utf8(text + unit[:-1]) is False


SWEEP_BASES = ["a", "é", "€", "\U0001f600", "aé€\U0001f600"]
SWEEP_BAD = [
    b"\x80", b"\xff", b"\xc0", b"\xc3", b"\xe2", b"\xe2\x82", b"\xf0\x9f", b"\xf0\x9f\x98", b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80", b"\xe0\x80\x80", b"\xc2\x41", b"\xe2\x82\xac",
]


@pytest.mark.parametrize("base", SWEEP_BASES)
def test_validate_sweep_every_length(impl, base):
    """Every input length 0..259 (all SIMD block/tail splits) with a bad or
    truncated sequence at the end, in the middle and at the start."""
    text = (base * 300).encode()
    for n in range(260):
        t = text[:n]
        for bad in SWEEP_BAD:
            for data in (t + bad, t + bad + text[:70], bad + t):
                assert impl.validate_utf8(data) is _cpython_accepts(data), data
                v = impl.Utf8Validator()
                v.feed(data)
                off, boundary = dfa(data)
                assert v.error_offset == off, data
                if off is None:
                    assert v.at_boundary is boundary, data


@pytest.mark.parametrize(
    "raw",
    [b"AAAA\xff\xff\xff\xff", b"\xed\xa0", b"ok\xe2\x82\xac!", b"\xe2\x82\xac\xe2", b"\xc3\xa9\xc3\x28"],
    ids=["ascii-then-ff", "surrogate", "valid", "truncated", "bad-2nd"],
)
@pytest.mark.parametrize("fmt", ["H", "I"])
def test_wide_item_buffers_are_bytes(impl, raw, fmt):
    """A bytes-like object with items wider than a byte (array('H'), a
    memoryview cast to 'I') is validated as its raw bytes."""
    import array

    size = array.array(fmt).itemsize
    padded = raw + b" " * (-len(raw) % size)
    arr = array.array(fmt)
    arr.frombytes(padded)
    assert impl.validate_utf8(arr) is _cpython_accepts(padded)
    off, boundary = dfa(padded)
    for obj in (arr, memoryview(padded).cast(fmt)):
        v = impl.Utf8Validator()
        assert v.feed(obj) is (off is None), (padded, fmt)
        assert v.valid is (off is None)
        assert v.error_offset == off, (padded, fmt)
        assert v.finish() is (off is None and boundary)


def test_validate_big_multibyte(impl):
    for char in ("é", "€", "\U0001f600", "a€é\U0001f600"):
        data = (char * (65536 // len(char.encode()))).encode()
        assert impl.validate_utf8(data) is True
        assert impl.validate_utf8(data[:-1] + b"\xff") is False
        assert impl.validate_utf8(b"\xff" + data[1:]) is False


# Strategy: valid pieces mixed with tricky and random bytes.
_TRICKY = [b for b, _ in INVALID] + TRUNCATED + [b"\xc0", b"\xc1", b"\xf5", b"\xed", b"\xf4", b"\xe0", b"\xf0"]
utf8ish = st.lists(
    st.one_of(
        st.text(max_size=8).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.sampled_from(VALID + _TRICKY),
        st.binary(max_size=3),
        st.tuples(st.characters(min_codepoint=0x80), st.integers(1, 3)).map(lambda t: t[0].encode("utf-8", "surrogatepass")[: t[1]]),
    ),
    max_size=10,
).map(b"".join)


def _cpython_accepts(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@given(st.binary(max_size=200))
@settings(max_examples=200)
def test_validate_agrees_with_cpython_random_bytes(impl, data):
    assert impl.validate_utf8(data) == _cpython_accepts(data)


@given(utf8ish)
@settings(max_examples=200)
def test_validate_agrees_with_cpython_utf8ish(impl, data):
    assert impl.validate_utf8(data) == _cpython_accepts(data)
    # long variant: same text behind a long ASCII run and a long multibyte run
    padded = b"x" * 61 + "é".encode() * 40 + data
    assert impl.validate_utf8(padded) == _cpython_accepts(padded)


# ---------------------------------------------------------------------------
# Utf8Validator
# ---------------------------------------------------------------------------


def test_validator_fresh_state(impl):
    v = impl.Utf8Validator()
    assert v.valid is True
    assert v.error_offset is None
    assert v.at_boundary is True
    assert v.finish() is True
    assert v.feed(b"") is True
    assert v.finish() is True


def check_validator(impl, chunks):
    """Feed chunks and compare everything observable with the DFA oracle."""
    data = b"".join(chunks)
    off, boundary = dfa(data)
    v = impl.Utf8Validator()
    fed = 0
    for chunk in chunks:
        before_ok = off is None or off >= fed + len(chunk)
        result = v.feed(chunk)
        fed += len(chunk)
        # True until the chunk that contains the first bad byte, False from then on
        assert result is before_ok, (chunks, fed)
        assert v.valid is before_ok
        if before_ok:
            assert v.error_offset is None
            assert v.at_boundary == dfa(data[:fed])[1], (chunks, fed)
        else:
            assert v.error_offset == off, (chunks, fed)
    if off is None:
        assert v.finish() is boundary
        assert v.at_boundary is boundary
    else:
        assert v.finish() is False
        assert v.valid is False
        assert v.error_offset == off
    return v


@pytest.mark.parametrize("data,off", CASES)
def test_validator_handpicked_every_split(impl, data, off):
    assert dfa(data)[0] == off
    check_validator(impl, [data])
    for i in range(len(data) + 1):
        check_validator(impl, [data[:i], data[i:]])
        for j in range(i, len(data) + 1):
            check_validator(impl, [data[:i], data[i:j], data[j:]])
    check_validator(impl, [data[k : k + 1] for k in range(len(data))])


@pytest.mark.parametrize("data", TRUNCATED)
def test_validator_truncated_at_end(impl, data):
    v = impl.Utf8Validator()
    assert v.feed(data) is True
    assert v.valid is True
    assert v.error_offset is None
    assert v.at_boundary is False
    assert v.finish() is False
    # completing the code point makes it whole again
    full = data + bytes(_completion(data))
    assert v.feed(full[len(data) :]) is True
    assert v.at_boundary is True
    assert v.finish() is True


def _completion(data: bytes) -> bytes:
    for c in _COMPLETIONS[1:]:
        if _cpython_accepts(data + c):
            return c
    raise AssertionError(data)


def test_validator_fail_fast_and_sticky(impl):
    v = impl.Utf8Validator()
    assert v.feed(b"abc") is True
    assert v.feed(b"\xed") is True
    assert v.feed(b"\xa0") is False  # a surrogate is known at its second byte
    assert v.error_offset == 4
    assert v.valid is False
    assert v.finish() is False
    # further input, even valid, cannot repair it
    assert v.feed(b"\x80") is False
    assert v.feed(b"plain ascii") is False
    assert v.feed(b"") is False
    assert v.error_offset == 4
    assert v.finish() is False


def test_validator_reset(impl):
    v = impl.Utf8Validator()
    assert v.feed(b"ab\xff") is False
    assert v.error_offset == 2
    v.reset()
    assert v.valid is True and v.error_offset is None and v.at_boundary is True
    assert v.feed(b"\xe2\x82") is True
    assert v.at_boundary is False
    v.reset()
    assert v.at_boundary is True and v.finish() is True
    # offsets count from the reset
    assert v.feed(b"xyz") is True
    assert v.feed(b"\xc0") is False
    assert v.error_offset == 3


def test_validator_offsets_are_absolute_over_many_chunks(impl):
    v = impl.Utf8Validator()
    total = 0
    chunk = "aé€\U0001f600".encode()  # 10 bytes
    for _ in range(1000):
        assert v.feed(chunk) is True
        total += len(chunk)
    assert v.feed(b"\xf0\x9f") is True
    assert v.feed(b"\x98A") is False
    assert v.error_offset == total + 3


def test_validator_accepts_bytes_like(impl):
    v = impl.Utf8Validator()
    data = "€uro ü".encode()
    assert v.feed(bytearray(data[:2])) is True
    assert v.feed(memoryview(data)[2:5]) is True
    assert v.feed(memoryview(b"xx" + data[5:])[2:]) is True
    assert v.finish() is True
    assert v.feed(memoryview(b"\xc3(")) is False
    assert v.error_offset == len(data) + 1


def test_validator_long_chunks_split_inside_code_points(impl):
    text = ("ascii " * 20 + "é€\U0001f600" * 30).encode()
    for size in (1, 2, 3, 5, 7, 16, 31, 32, 33, 64, 100):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        check_validator(impl, chunks)
        bad = text[:150] + b"\xf4\x90" + text[150:]
        check_validator(impl, [bad[i : i + size] for i in range(0, len(bad), size)])


def _chunk(data: bytes, cuts):
    points = sorted({c for c in cuts if c <= len(data)} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])] or [b""]


@given(st.binary(max_size=64), st.lists(st.integers(0, 64), max_size=8))
@settings(max_examples=200)
def test_validator_random_bytes_vs_oracle(impl, data, cuts):
    v = check_validator(impl, _chunk(data, cuts))
    assert (v.error_offset if v.error_offset is not None else len(data)) == longest_valid_prefix(data)


@given(utf8ish, st.lists(st.integers(0, 120), max_size=8))
@settings(max_examples=200)
def test_validator_utf8ish_vs_oracle(impl, data, cuts):
    v = check_validator(impl, _chunk(data, cuts))
    # one-shot and incremental agree with CPython on complete input
    assert v.finish() == _cpython_accepts(data) == impl.validate_utf8(data)
