"""The pure-Python twin's receive kernels (issue 19): masking on both sides
of the big-integer/translate switch, the XOR tables, the UTF-8 validator's
ASCII shortcut, and whole messages of 16 B to 1 MiB through a server
connection in one read, 64 KiB reads and 7-byte reads (either build)."""

from __future__ import annotations

import random

import pytest

from wsframe import _codec_py as twin
from wsframe import _kernels_py as kernels
from wsframe.codec import build_frame
from wsframe.connection import ServerConnection, State
from wsframe.events import BinaryMessage, Closed, TextMessage


def ref_mask(data: bytes, mask: bytes, phase: int = 0) -> bytes:
    """Byte-by-byte reference: data[i] ^ mask[(phase + i) % 4]."""
    return bytes(b ^ mask[(phase + i) % 4] for i, b in enumerate(data))


_RNG = random.Random(19)
_SRC = _RNG.randbytes(70_000)
_EDGE = twin._TRANSLATE_MIN
# Every length class: empty, tiny, both sides of the switch, odd tails, a 64 KiB read.
LENGTHS = [0, 1, 3, 4, 5, 16, 125, _EDGE - 5, _EDGE - 1, _EDGE, _EDGE + 1, _EDGE + 2, _EDGE + 3, _EDGE + 4,
           4097, 65535, 65536, 65537]


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("start", [0, 1, 2, 3, 14])
def test_xor_at_matches_reference_from_bytes_and_bytearray(n, start):
    mask = _RNG.randbytes(4)
    want = ref_mask(_SRC[start : start + n], mask)
    got = twin._xor_at(_SRC, start, n, mask)
    assert type(got) is bytes and got == want
    assert twin._xor_at(bytearray(_SRC), start, n, mask) == want
    assert _SRC[start : start + n] == twin._xor_at(got, 0, n, mask)  # masking twice gives the data back


def test_xor_at_leaves_its_source_alone():
    src = bytearray(_SRC[:5000])
    before = bytes(src)
    twin._xor_at(src, 7, 4000, b"\xff\x00\xaa\x55")
    assert src == before
    src.append(1)  # no export of the bytearray is left behind


@pytest.mark.parametrize("n", [10, _EDGE + 7, 65536 + 3])
@pytest.mark.parametrize("phase", [0, 1, 2, 3])
def test_unmask_slice_continues_the_mask_cycle(n, phase):
    wire = b"\x00" * 9 + b"\x37\xfa\x21\x3d" + _SRC[:n]
    got = kernels.unmask_slice(wire, 13, n, wire, 9, phase)
    assert got == ref_mask(_SRC[:n], b"\x37\xfa\x21\x3d", phase)


def test_xor_tables_are_the_xor_of_every_byte():
    assert len(twin._XOR_TABLES) == 256
    for k in range(256):
        assert twin._XOR_TABLES[k] == bytes(b ^ k for b in range(256)), k


@pytest.mark.parametrize("n", [_EDGE - 1, _EDGE, 1 << 20])
def test_apply_mask_and_mask_inplace_either_side_of_the_switch(n):
    data = _RNG.randbytes(n)
    mask = _RNG.randbytes(4)
    want = ref_mask(data[:3000], mask) if n > 3000 else ref_mask(data, mask)
    out = twin.apply_mask(data, mask)
    assert out[: len(want)] == want and twin.apply_mask(out, mask) == data
    buf = bytearray(data)
    twin.mask_inplace(buf, mask, 3)
    assert bytes(buf[:2000]) == ref_mask(data[:2000], mask, 3)


# ---------------------------------------------------------------------------
# Utf8Validator: ASCII bytes after a code-point boundary skip the decoder
# ---------------------------------------------------------------------------


def test_ascii_chunk_does_not_close_an_open_code_point():
    v = twin.Utf8Validator()
    assert v.feed(b"ok \xe2\x82")  # the euro sign, cut after two bytes
    assert not v.at_boundary
    assert not v.feed(b"abc")  # ASCII cannot continue it
    assert v.error_offset == 5 and not v.valid and not v.finish()
    assert not v.feed(b"abc")  # sticky


def test_ascii_chunks_count_towards_error_offsets():
    v = twin.Utf8Validator()
    for chunk in (b"a" * 1000, bytearray(b"b" * 10), memoryview(b"c" * 5), b"\xc3\xa9", b"d" * 7):
        assert v.feed(chunk)
    assert v.bytes_seen == 1024 and v.at_boundary
    assert not v.feed(b"xy\xc0\xafz")  # an overlong form
    assert v.error_offset == 1026


def test_ascii_after_a_completed_code_point_and_empty_chunks():
    v = twin.Utf8Validator()
    for chunk in (b"\xf0\x9f", b"", b"\x98\x80", b"", b"plain", b"\xed\x9f\xbf"):
        assert v.feed(chunk), chunk
    assert v.finish() and v.bytes_seen == 12


# ---------------------------------------------------------------------------
# Whole messages through a server connection (the twin under WSFRAME_NO_SPEEDUPS=1)
# ---------------------------------------------------------------------------

_REQUEST = (
    b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _server() -> ServerConnection:
    conn = ServerConnection()
    conn.receive_data(_REQUEST)
    conn.data_to_send()
    conn.events()
    assert conn.state is State.OPEN
    return conn


def _messages(size: int, count: int, kind: str):
    rng = random.Random(size + count)
    out = []
    for _ in range(count):
        if kind == "binary":
            out.append(rng.randbytes(size))
        elif kind == "ascii":
            out.append(bytes(0x20 + b % 0x5F for b in rng.randbytes(size)).decode())
        else:  # text of 1-4 byte code points
            chars = [chr(c) for c in (0x41, 0xE9, 0x20AC, 0x1F600, 0x4E2D)]
            text = "".join(rng.choice(chars) for _ in range(size // 3))
            out.append(text)
    return out


def _wire(messages) -> bytes:
    rng = random.Random(len(messages))
    return b"".join(
        build_frame(1 if isinstance(m, str) else 2, m, client=True, mask=rng.randbytes(4)) for m in messages
    )


def _receive(wire: bytes, step: int):
    conn = _server()
    events = []
    for i in range(0, len(wire), step):
        conn.receive_data(wire[i : i + step])
        events += conn.events()
    return events


# (size, count, read size): None is the whole wire in one read; 7-byte reads
# stop at 64 KiB (a 1 MiB message would take 150,000 reads).
SHAPES = [(size, count, step) for size, count in ((16, 40), (1024, 12), (65536, 3), ((1 << 20) - 20, 1))
          for step in (None, 65536, 7) if not (step == 7 and size > 65536)]


@pytest.mark.parametrize("kind", ["binary", "ascii", "utf8"])
@pytest.mark.parametrize("size,count,step", SHAPES)
def test_server_delivers_every_message_whole(kind, size, count, step):
    msgs = _messages(size, count, kind)
    wire = _wire(msgs)
    events = _receive(wire, step or len(wire))
    want_type = BinaryMessage if kind == "binary" else TextMessage
    assert [type(e) for e in events] == [want_type] * count
    assert [e.data for e in events] == msgs
    assert all(type(e.data) is (bytes if kind == "binary" else str) for e in events)


@pytest.mark.parametrize("step", [65536, 4096])
def test_invalid_utf8_after_ascii_reads_fails_with_1007(step):
    text = b"a" * 200_000 + b"\xed\xa0\x80" + b"b" * 100_000  # a surrogate deep inside a large message
    wire = build_frame(1, text, client=True, mask=b"\x01\x02\x03\x04")
    events = _receive(wire, step)
    assert events and not any(isinstance(e, TextMessage) for e in events)
    assert isinstance(events[-1], Closed) and events[-1].code == 1007


def test_mask_strategy_benchmark_checks_every_strategy():
    """benchmarks/twin_mask.py times only strategies that mask correctly."""
    twin_mask = pytest.importorskip("benchmarks.twin_mask")
    assert {"twin", "bigint", "translate-from-bytes"} <= set(twin_mask.strategies())
    rates = twin_mask.measure(1500, repeats=1, budget=0.0)
    assert set(rates) == set(twin_mask.strategies()) and all(r > 0 for r in rates.values())
