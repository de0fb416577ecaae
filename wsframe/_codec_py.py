"""Pure-Python twin of the C codec (``wsframe._speedups``).

It is the reference the C code is tested against and the fallback where no
compiler exists. Every function here must give the same results and raise
the same errors as its C counterpart, byte for byte.
"""

from __future__ import annotations

import os
import struct
from codecs import utf_8_decode
from typing import List, Literal, Optional, Tuple, Union

from . import _framing_rules as R

__all__ = [
    "BinaryMessage",
    "Event",
    "TextMessage",
    "Frame",
    "FrameParser",
    "Utf8Validator",
    "apply_mask",
    "build_frame",
    "mask_inplace",
    "validate_utf8",
    "write_frame",
]

BytesLike = Union[bytes, bytearray, memoryview]

_native: "Literal['little', 'big']" = "little" if struct.pack("=H", 1) == b"\x01\x00" else "big"


_NOT_CONTIGUOUS = "memoryview: underlying buffer is not C-contiguous"


def _byte_view(obj: BytesLike) -> memoryview:
    """A flat view of obj's bytes, as the C code sees them through the buffer
    protocol: len() counts bytes even for arrays of wider items."""
    view = memoryview(obj)
    if not view.c_contiguous:
        raise BufferError(_NOT_CONTIGUOUS)
    if view.ndim != 1 or view.itemsize != 1 or view.format != "B":
        view = view.cast("B")
    return view


def _check_mask(mask: BytesLike) -> bytes:
    view = memoryview(mask)  # TypeError for objects that are not bytes-like
    if view.nbytes != 4:
        raise ValueError(f"mask must be 4 bytes, got {view.nbytes}")
    return view.tobytes()


def apply_mask(data: BytesLike, mask: BytesLike) -> bytes:
    """Return ``data`` XORed with the repeating 4-byte ``mask``."""
    mask = _check_mask(mask)
    data = _byte_view(data).tobytes()
    n = len(data)
    if n == 0:
        return b""
    # One big-integer XOR is the fastest pure-Python way (what websockets does).
    key = int.from_bytes(mask * (n // 4) + mask[: n % 4], _native)
    return (int.from_bytes(data, _native) ^ key).to_bytes(n, _native)


def mask_inplace(buffer: Union[bytearray, memoryview], mask: BytesLike, offset: int = 0) -> None:
    """XOR the writable ``buffer`` in place with ``mask``.

    ``offset`` is the position in the 4-byte mask cycle of ``buffer[0]``, so a
    payload split across reads continues the cycle where the last piece ended.
    """
    mask = _check_mask(mask)
    if offset < 0:
        raise ValueError("offset must not be negative")
    view = memoryview(buffer)
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
    input so far ends on a code-point boundary; ``finish()`` is True when the
    whole text was valid and complete.
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
        """True when the bytes fed so far end on a code-point boundary."""
        return self._need == 0

    @property
    def bytes_seen(self) -> int:
        return self._count

    def feed(self, data: BytesLike) -> bool:
        """Validate the next chunk; False when the text is (now) invalid."""
        if self._error >= 0:
            return False
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


# ---------------------------------------------------------------------------
# Events: the base class, and the two message events the parser can produce
# directly (FrameParser(messages=True)). The other events are in events.py.
# ---------------------------------------------------------------------------


def _short(value: object) -> str:
    if isinstance(value, (bytes, bytearray, str)) and len(value) > 64:
        return f"{value[:64]!r}...(len={len(value)})"
    return repr(value)


class Event:
    """Base class of every event. ``_fields`` names the fields that ``__eq__``
    compares and ``__repr__`` shows."""

    __slots__ = ()
    _fields: Tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={_short(getattr(self, f))}" for f in self._fields)
        return f"{type(self).__name__}({fields})"


class TextMessage(Event):
    """A complete text message (``data``: str)."""

    __slots__ = ("data",)
    _fields = ("data",)

    def __init__(self, data: str) -> None:
        if not isinstance(data, str):
            raise TypeError(f"data must be str, not {type(data).__name__}")
        self.data = data


class BinaryMessage(Event):
    """A complete binary message (``data``: bytes)."""

    __slots__ = ("data",)
    _fields = ("data",)

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        self.data = data


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------


class Frame:
    """One complete frame: header flags, opcode and unmasked payload."""

    __slots__ = ("fin", "rsv1", "rsv2", "rsv3", "opcode", "payload")

    def __init__(
        self,
        opcode: int,
        payload: bytes,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
    ) -> None:
        self.opcode = opcode
        self.payload = payload
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3

    def astuple(self):
        return (self.opcode, self.payload, self.fin, self.rsv1, self.rsv2, self.rsv3)

    def __eq__(self, other: object) -> bool:
        if not hasattr(other, "astuple"):
            return NotImplemented
        return self.astuple() == other.astuple()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        flags = "".join(
            name for name, on in (("F", self.fin), ("1", self.rsv1), ("2", self.rsv2), ("3", self.rsv3)) if on
        )
        return f"Frame(opcode={self.opcode}, flags={flags or '-'}, payload={self.payload[:32]!r}{'...' if len(self.payload) > 32 else ''} len={len(self.payload)})"


class FrameParser:
    """Incremental RFC 6455 frame parser.

    ``server=True`` parses frames sent by a client (they must be masked);
    ``server=False`` parses frames sent by a server (they must not be).
    ``max_frame_size`` (None: no limit) is checked from the header, before any
    payload is buffered. ``allowed_rsv`` is the set of RSV bits (``RSV1`` =
    0x40, ``RSV2`` = 0x20, ``RSV3`` = 0x10) that negotiated extensions allow.

    ``feed(data)`` returns the frames completed by ``data``. On a framing error
    it raises :class:`ProtocolError`; frames completed before the error in the
    same call are in the exception's ``frames`` attribute. The parser then
    stays failed: every later ``feed`` raises the same error again.

    ``stream=True``: a data frame whose payload has not fully arrived is not
    held back but delivered in pieces, as its bytes arrive, shaped like
    fragments: the first piece carries the frame's opcode and RSV bits, later
    pieces opcode 0 (continuation) and no RSV bits; only the last piece
    carries the frame's FIN bit. The parser then never buffers payload, so
    memory does not grow with the frame size, and a receiver can check text
    or enforce limits before a large frame has arrived. Control frames (at
    most 125 bytes) are always delivered whole.

    ``messages=True``: a data frame that is a whole message by itself (FIN
    set, no RSV bits, opcode TEXT or BINARY, no fragmented message in
    progress) is returned as a :class:`TextMessage` (payload decoded from
    UTF-8) or :class:`BinaryMessage` instead of a :class:`Frame`; text that is
    not valid UTF-8 stays a Frame so the receiver can fail the connection.
    This is the receive fast path of a connection without extensions.
    """

    __slots__ = ("server", "stream", "messages", "_max_frame_size", "_allowed_rsv", "_buf", "_error",
                 "_rem", "_key", "_phase", "_piece_b0", "_fin", "_in_message")

    def __init__(
        self,
        server: bool,
        max_frame_size: Optional[int] = R.DEFAULT_MAX_FRAME_SIZE,
        allowed_rsv: int = 0,
        stream: bool = False,
        messages: bool = False,
    ) -> None:
        self.server = bool(server)
        self.stream = bool(stream)
        self.messages = bool(messages)
        self._in_message = False  # a fragmented message is in progress
        self.max_frame_size = max_frame_size
        self.allowed_rsv = allowed_rsv
        self._buf = bytearray()
        self._error: Optional[Exception] = None
        self._rem = 0  # stream mode: payload bytes of the current frame still to come
        self._key: Optional[bytes] = None
        self._phase = 0
        self._piece_b0 = 0  # FIN/RSV/opcode of the next piece, FIN cleared
        self._fin = False  # FIN bit of the frame being streamed

    @property
    def max_frame_size(self) -> Optional[int]:
        """Largest payload accepted, checked from the header (None: no limit)."""
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: Optional[int]) -> None:
        if value is not None and value < 0:
            raise ValueError("max_frame_size must be >= 0 or None")
        self._max_frame_size = value

    @property
    def allowed_rsv(self) -> int:
        """RSV bits the negotiated extensions allow (0x40, 0x20, 0x10)."""
        return self._allowed_rsv

    @allowed_rsv.setter
    def allowed_rsv(self, value: int) -> None:
        if value & ~0x70:
            raise ValueError("allowed_rsv may only hold RSV1, RSV2 and RSV3 (0x70)")
        self._allowed_rsv = value

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def _piece(self, data: BytesLike) -> Frame:
        """Stream mode: the next piece of the current frame, from ``data``."""
        n = len(data)
        payload = bytes(data)
        if self._key is not None and n:
            o = self._phase & 3
            payload = apply_mask(payload, self._key[o:] + self._key[:o])
        self._phase += n
        self._rem -= n
        b0 = self._piece_b0
        fin = self._fin and self._rem == 0
        self._piece_b0 = 0  # later pieces: continuation, no RSV bits
        self._track(b0 & 0x0F, fin)
        return Frame(b0 & 0x0F, payload, fin, bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10))

    def _track(self, opcode: int, fin: bool) -> None:
        """Follow fragmented messages through the data frames delivered."""
        if opcode == 0:
            if fin:
                self._in_message = False
        elif opcode < 8:
            self._in_message = not fin

    def feed(self, data: BytesLike) -> List[Union[Frame, Event]]:
        """Parse ``data``; return the frames it completes (and, in messages
        mode, message events)."""
        if self._error is not None:
            raise self._reraise()
        view = _byte_view(data)
        frames: List[Union[Frame, Event]] = []
        if not len(view):
            return frames
        if self._rem:
            take = min(self._rem, len(view))
            frames.append(self._piece(view[:take]))
            view = view[take:]
            if self._rem:
                return frames
        buf = self._buf
        buf += view
        pos = 0
        n = len(buf)
        limit = self._max_frame_size
        allowed = self._allowed_rsv
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            opcode = b0 & 0x0F
            err = 0
            length = b1 & 0x7F
            if b0 & 0x70 & ~allowed:
                err = R.E_RSV
                b0 &= ~allowed  # name only the bits that are not allowed
            elif opcode in (3, 4, 5, 6, 7) or opcode > 0xA:
                err = R.E_OPCODE
            elif opcode >= 8 and not b0 & 0x80:
                err = R.E_CONTROL_FRAGMENTED
            elif self.server and not b1 & 0x80:
                err = R.E_MASK_REQUIRED
            elif not self.server and b1 & 0x80:
                err = R.E_MASK_FORBIDDEN
            if err:
                return self._fail(err, b0, length, frames)
            hlen = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                hlen = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hlen = 10
                if length >> 63:
                    return self._fail(R.E_LENGTH_MSB, b0, length, frames)
            if opcode >= 8 and length > 125:
                return self._fail(R.E_CONTROL_TOO_LONG, b0, length, frames)
            if limit is not None and length > limit and opcode < 8:  # data frames only
                return self._fail(R.E_TOO_BIG, b0, length, frames)
            masked = b1 & 0x80
            if masked:
                hlen += 4
                if n - pos < hlen:
                    break
            end = pos + hlen + length
            if end > n:
                if self.stream and opcode < 8:
                    # Stream the rest of this data frame as it arrives.
                    self._key = bytes(buf[pos + hlen - 4 : pos + hlen]) if masked else None
                    self._phase = 0
                    self._rem = length
                    self._piece_b0 = b0 & 0x7F
                    self._fin = bool(b0 & 0x80)
                    if n > pos + hlen:
                        frames.append(self._piece(buf[pos + hlen : n]))
                    pos = n
                break
            payload = bytes(buf[pos + hlen : end])
            if masked:
                payload = apply_mask(payload, buf[pos + hlen - 4 : pos + hlen])
            pos = end
            if self.messages and (b0 & 0xF0) == 0x80 and (opcode == 1 or opcode == 2) and not self._in_message:
                if opcode == 2:
                    frames.append(BinaryMessage(payload))
                    continue
                try:
                    frames.append(TextMessage(payload.decode("utf-8")))
                    continue
                except UnicodeDecodeError:
                    pass  # stays a Frame: the receiver fails the connection
            self._track(opcode, bool(b0 & 0x80))
            frames.append(Frame(opcode, payload, bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10)))
        del buf[:pos]
        return frames

    def _fail(self, err: int, b0: int, length: int, frames: List[Union[Frame, Event]]):
        exc = R.frame_error(err, b0, length, self._max_frame_size if self._max_frame_size is not None else -1)
        self._error = exc
        self._buf = bytearray()
        exc.frames = frames  # type: ignore[attr-defined]
        raise exc

    def _reraise(self) -> Exception:
        old = self._error
        assert old is not None
        exc = type(old)(old.reason, old.code)  # type: ignore[attr-defined]
        exc.frames = []  # type: ignore[attr-defined]
        return exc


_random_pool = bytearray()


def _random_mask() -> bytes:
    # Batch os.urandom: one system call per 256 masks.
    global _random_pool
    if not _random_pool:
        _random_pool = bytearray(os.urandom(1024))
    key = bytes(_random_pool[-4:])
    del _random_pool[-4:]
    return key


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
