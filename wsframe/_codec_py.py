"""Pure-Python twin of the C kernels (``wsframe._speedups``): masking,
UTF-8 validation, frame building.

It is the reference the C code is tested against and the fallback where no
compiler exists. Every function here must give the same results and raise
the same errors as its C counterpart, byte for byte. The frame parser is
not twinned: wsframe/_parser.py is one source, run as it is or compiled.
"""

from __future__ import annotations

import os
import struct
import threading
from codecs import utf_8_decode
from typing import Optional, Tuple, Union


__all__ = [
    "Utf8Validator",
    "as_bytes",
    "apply_mask",
    "build_frame",
    "frame_data",
    "mask_inplace",
    "validate_utf8",
    "write_data",
    "write_frame",
]

BytesLike = Union[bytes, bytearray, memoryview]


_NOT_CONTIGUOUS = "memoryview: underlying buffer is not C-contiguous"


def _view(obj) -> memoryview:
    """memoryview(obj), with the C code's TypeError for objects that are not bytes-like."""
    try:
        return memoryview(obj)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(obj).__name__}'") from None


def _byte_view(obj: BytesLike) -> memoryview:
    """A flat view of obj's bytes, as the C code sees them through the buffer
    protocol: len() counts bytes even for arrays of wider items."""
    view = _view(obj)
    if not view.c_contiguous:
        raise BufferError(_NOT_CONTIGUOUS)
    if view.ndim != 1 or view.itemsize != 1 or view.format != "B":
        view = view.cast("B")
    return view


def as_bytes(data: BytesLike) -> bytes:
    """The bytes of any C-contiguous bytes-like object (TypeError otherwise):
    the frame parser's input."""
    if data.__class__ is bytes:
        return data  # type: ignore[return-value]
    return _byte_view(data).tobytes()


def _check_mask(mask: BytesLike) -> bytes:
    if mask.__class__ is bytes and len(mask) == 4:  # the common case
        return mask  # type: ignore[return-value]
    view = _byte_view(mask)  # TypeError/BufferError as the C code's
    if len(view) != 4:
        raise ValueError(f"mask must be 4 bytes, got {len(view)}")
    return view.tobytes()


# From this size on, masking is four strided bytearray.translate passes (a
# 256-byte table per key byte) over a bytearray copy, as wsproto does; below
# it one big-integer XOR (int.from_bytes ^ key -> to_bytes) is as fast.
# `python -m benchmarks.twin_mask` compares them: from 4 KiB to 1 MiB the
# passes ran at 750-900 MiB/s, the big-integer XOR at 400-700 (from_bytes and
# to_bytes each cost over half of the four passes) and the old passes, from
# strided slices of bytes into a new buffer, at about 600 (bytes slicing and
# bytes.translate run at half the speed of bytearray's).
_TRANSLATE_MIN = 1024
# _XOR_TABLES[k]: the 256-byte bytes.translate table of x -> x ^ k, all 256
# made at import by one big-integer XOR each (well under 1 ms; 74 KB).
_IDENTITY = int.from_bytes(bytes(range(256)), "little")
_EVERY_BYTE = int.from_bytes(b"\x01" * 256, "little")
_XOR_TABLES = [(_IDENTITY ^ k * _EVERY_BYTE).to_bytes(256, "little") for k in range(256)]
del _IDENTITY, _EVERY_BYTE


def _xor_at(src, start: int, n: int, mask: bytes) -> bytes:
    """``src[start:start + n]`` XORed with the repeating 4-byte ``mask``
    (``src`` bytes or bytearray, unchecked)."""
    if n < _TRANSLATE_MIN:
        if n <= 0:
            return b""
        # Little-endian integers on any machine: byte i of the data is byte i of the integer.
        key = int.from_bytes(mask * (n >> 2) + mask[: n & 3], "little")
        return (int.from_bytes(src[start : start + n], "little") ^ key).to_bytes(n, "little")
    a = bytearray(memoryview(src)[start : start + n])  # one copy, not a slice and a copy
    t = _XOR_TABLES
    a[0::4] = a[0::4].translate(t[mask[0]])
    a[1::4] = a[1::4].translate(t[mask[1]])
    a[2::4] = a[2::4].translate(t[mask[2]])
    a[3::4] = a[3::4].translate(t[mask[3]])
    return bytes(a)


def _xor(data: bytes, mask: bytes) -> bytes:
    """``data`` XORed with the repeating 4-byte ``mask`` (both bytes, unchecked)."""
    return _xor_at(data, 0, len(data), mask)


def apply_mask(data: BytesLike, mask: BytesLike) -> bytes:
    """Return ``data`` XORed with the repeating 4-byte ``mask``."""
    return _xor(_byte_view(data).tobytes(), _check_mask(mask))


def mask_inplace(buffer: Union[bytearray, memoryview], mask: BytesLike, offset: int = 0) -> None:
    """XOR the writable ``buffer`` in place with ``mask``.

    ``offset`` is the position in the 4-byte mask cycle of ``buffer[0]``, so a
    payload split across reads continues the cycle where the last piece ended.
    """
    mask = _check_mask(mask)
    if offset < 0:
        raise ValueError("offset must not be negative")
    view = _view(buffer)
    if view.readonly:
        raise TypeError("mask_inplace needs a writable buffer")
    view = _byte_view(view)
    o = offset & 3
    rotated = mask[o:] + mask[:o]
    view[:] = apply_mask(view, rotated)


# ---------------------------------------------------------------------------
# UTF-8
# ---------------------------------------------------------------------------

# Lead byte -> (continuation bytes needed, lowest and highest allowed value of
# the first continuation byte). The narrowed ranges reject overlong forms,
# surrogates and code points above U+10FFFF at the first byte that shows them.
_LEAD = {}
for _b in range(0xC2, 0xE0):
    _LEAD[_b] = (1, 0x80, 0xBF)
_LEAD[0xE0] = (2, 0xA0, 0xBF)
for _b in range(0xE1, 0xED):
    _LEAD[_b] = (2, 0x80, 0xBF)
_LEAD[0xED] = (2, 0x80, 0x9F)
_LEAD[0xEE] = _LEAD[0xEF] = (2, 0x80, 0xBF)
_LEAD[0xF0] = (3, 0x90, 0xBF)
for _b in range(0xF1, 0xF4):
    _LEAD[_b] = (3, 0x80, 0xBF)
_LEAD[0xF4] = (3, 0x80, 0x8F)
del _b


def _scan(data: BytesLike, start: int, need: int, lo: int, hi: int):
    """Run the byte-exact UTF-8 automaton over data[start:].

    Returns (need, lo, hi, bad) where ``bad`` is the index of the first byte
    that cannot continue valid UTF-8, or -1.
    """
    for i in range(start, len(data)):
        b = data[i]
        if need:
            if lo <= b <= hi:
                need -= 1
                lo, hi = 0x80, 0xBF
            else:
                return need, lo, hi, i
        elif b >= 0x80:
            lead = _LEAD.get(b)
            if lead is None:
                return need, lo, hi, i
            need, lo, hi = lead
    return need, lo, hi, -1


class Utf8Validator:
    """Incremental UTF-8 validator.

    Feed chunks split anywhere, even inside a code point. ``feed`` returns
    False as soon as a byte arrives that cannot belong to valid UTF-8 (fail
    fast); ``error_offset`` is then that byte's offset counted from the first
    byte fed since creation or ``reset()``. ``at_boundary`` tells whether the
    input so far is valid and ends on a code-point boundary (False once it is
    invalid); ``finish()`` is True when the whole text was valid and complete.
    """

    __slots__ = ("_need", "_lo", "_hi", "_count", "_error")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._need = 0
        self._lo = 0x80
        self._hi = 0xBF
        self._count = 0
        self._error = -1

    @property
    def valid(self) -> bool:
        """False once invalid input was seen."""
        return self._error < 0

    @property
    def error_offset(self) -> Optional[int]:
        """Offset of the first byte that cannot belong to valid UTF-8, or None."""
        return self._error if self._error >= 0 else None

    @property
    def at_boundary(self) -> bool:
        """True when the text so far is valid and ends on a code-point
        boundary (False once it is invalid)."""
        return self._error < 0 and self._need == 0

    @property
    def bytes_seen(self) -> int:
        return self._count

    def feed(self, data: BytesLike) -> bool:
        """Validate the next chunk; False when the text is (now) invalid."""
        if self._error >= 0:
            return False
        if not self._need and data.__class__ is bytes and data.isascii():
            # ASCII after a code-point boundary is valid: a C scan, no str built.
            self._count += len(data)
            return True
        data = _byte_view(data)
        n = len(data)
        need, lo, hi = self._need, self._lo, self._hi
        i = 0
        if need:
            # Finish the code point left open by the previous chunk.
            while need and i < n:
                b = data[i]
                if not lo <= b <= hi:
                    self._error = self._count + i
                    return False
                need -= 1
                lo, hi = 0x80, 0xBF
                i += 1
        if i < n:
            view = data[i:] if i else data
            try:
                _, consumed = utf_8_decode(view, "strict", False)
            except UnicodeDecodeError as exc:
                # exc.start is where the bad sequence starts; find its bad byte.
                bad = _scan(data, i + exc.start, 0, 0x80, 0xBF)[3]
                self._error = self._count + bad
                return False
            # The decoder leaves an incomplete tail unconsumed without judging
            # it (it accepts b"\xed\xa0" for now): judge it here.
            need, lo, hi, bad = _scan(data, i + consumed, 0, 0x80, 0xBF)
            if bad >= 0:
                self._error = self._count + bad
                return False
        self._need, self._lo, self._hi = need, lo, hi
        self._count += n
        return True

    def finish(self) -> bool:
        """True when all text fed was valid and ended on a code-point boundary."""
        return self._error < 0 and self._need == 0


def validate_utf8(data: BytesLike) -> bool:
    """True when ``data`` is complete, valid UTF-8."""
    try:
        utf_8_decode(data, "strict", True)
    except UnicodeDecodeError:
        return False
    return True


# Batch os.urandom: one system call per 256 masks. The pool is shared by every
# thread: the lock makes taking a key one step, so that on a free-threaded
# build two threads never take the same key.
_random_pool = bytearray()
_pool_lock = threading.Lock()


def _random_mask() -> bytes:
    global _random_pool
    with _pool_lock:
        if not _random_pool:
            _random_pool = bytearray(os.urandom(1024))
        key = bytes(_random_pool[-4:])
        del _random_pool[-4:]
    return key


def _pool_state() -> Tuple[int, int]:
    """(keys left in the pool, pool size in keys): for the thread tests."""
    return len(_random_pool) // 4, 256


def build_frame(
    opcode: int,
    payload: Union[BytesLike, str] = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    client: bool = False,
    mask: Optional[BytesLike] = None,
) -> bytes:
    """Build one frame. A str payload is sent as its UTF-8 encoding.

    A server frame (``client=False``, no ``mask``) is unmasked. A client frame
    (``client=True``) is masked with ``mask`` or, when it is None, with a fresh
    random key. Giving ``mask`` always masks.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    payload = _byte_view(payload)
    if not isinstance(opcode, int):
        raise TypeError(f"opcode must be an int, not {type(opcode).__name__}")
    if not (0 <= opcode <= 0xA) or 3 <= opcode <= 7:
        raise ValueError(f"invalid opcode {opcode!r}")
    n = len(payload)
    if opcode >= 8:
        if n > 125:
            raise ValueError(f"control frame payload of {n} bytes exceeds 125")
        if not fin:
            raise ValueError("control frames cannot be fragmented")
    b0 = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)
    if mask is None and client:
        mask = _random_mask()
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        header = bytes((b0, mbit | n))
    elif n < 65536:
        header = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is not None:
        mask = _check_mask(mask)
        return header + mask + apply_mask(payload, mask)
    return header + bytes(payload)


def write_frame(
    out: bytearray,
    opcode: int,
    payload: Union[BytesLike, str] = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    client: bool = False,
    mask: Optional[BytesLike] = None,
) -> None:
    """Append one frame to the bytearray ``out`` (same arguments as build_frame).

    A connection builds its frames straight into its output buffer this way.
    """
    if not isinstance(out, bytearray):
        raise TypeError("write_frame needs a bytearray")
    frame = build_frame(opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, client=client, mask=mask)
    if out is payload:
        raise ValueError("write_frame cannot append a buffer to itself")
    out += frame


def write_data(out: bytearray, opcode: int, payload: Union[BytesLike, str], client: bool) -> None:
    """``write_frame(out, opcode, payload, client=client)``: one whole frame
    (FIN set, no RSV bit), the connection's send path."""
    write_frame(out, opcode, payload, client=client)


def frame_data(opcode: int, payload: Union[BytesLike, str], client: bool) -> bytes:
    """``build_frame(opcode, payload, client=client)``: one whole frame as
    new bytes (the connection's ``send_and_take``)."""
    return build_frame(opcode, payload, client=client)
