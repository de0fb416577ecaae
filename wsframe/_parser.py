# cython: freethreading_compatible=True
"""The RFC 6455 frame parser, written once: header rules, buffering, stream
mode and message assembly, plus the Frame and message event types.

This file is the pure-Python parser and, compiled by Cython with
``_parser_c.pxd`` (which types the hot attributes and locals), the C one:
``wsframe._parser_c`` (aiohttp's reader_py.py -> reader_c scheme). Only the
kernels differ: uncompiled, ``unmask_slice``, ``decode_text`` and
``as_bytes`` come from ``_kernels_py`` (pure Python); compiled, the .pxd
cimports their C versions from ``_speedups`` (the imports below then only set
unused module names).
A buffer ``p`` is bytes here and a ``const unsigned char *`` when compiled:
the code only indexes and slices it, which means the same in both.
``wsframe.codec`` chooses which of the two is used.
"""

from ._framing_rules import (
    DEFAULT_MAX_FRAME_SIZE,
    E_CONTROL_FRAGMENTED,
    E_CONTINUATION,
    E_CONTROL_TOO_LONG,
    E_FRAGMENTS,
    E_LENGTH_MSB,
    E_MASK_FORBIDDEN,
    E_MASK_REQUIRED,
    E_NEW_DATA,
    E_OPCODE,
    E_RSV,
    E_TOO_BIG,
    frame_error,
)
from ._kernels_py import *  # noqa: F401,F403 - unmask_slice, decode_text (compiled: cimported C kernels)
from ._kernels_py import as_bytes

__all__ = ["BinaryMessage", "Event", "Frame", "FrameParser", "TextMessage"]

_LIMIT_CAP = (1 << 63) - 1  # larger limits accept every legal frame (lengths are < 2**63)


def _short(value):
    if isinstance(value, (bytes, bytearray, str)) and len(value) > 64:
        return f"{value[:64]!r}...(len={len(value)})"
    return repr(value)


class Event:
    """Base class of every event. ``_fields`` names the fields that ``__eq__``
    compares and ``__repr__`` shows."""

    __slots__ = ()
    _fields = ()

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None

    def __repr__(self):
        fields = ", ".join(f"{f}={_short(getattr(self, f))}" for f in self._fields)
        return f"{type(self).__name__}({fields})"


class TextMessage(Event):
    """A complete text message (``data``: str)."""

    __slots__ = ("data",)
    _fields = ("data",)

    def __init__(self, data):
        if data.__class__ is not str:
            if not isinstance(data, str):
                raise TypeError(f"data must be str, not {type(data).__name__}")
            data = data[:]  # a subclass: its plain str (the compiled class stores only str)
        self.data = data


class BinaryMessage(Event):
    """A complete binary message (``data``: bytes)."""

    __slots__ = ("data",)
    _fields = ("data",)

    def __init__(self, data):
        if data.__class__ is not bytes:
            if not isinstance(data, bytes):
                raise TypeError(f"data must be bytes, not {type(data).__name__}")
            data = data[:]  # a subclass: its plain bytes
        self.data = data


class Frame:
    """One complete frame: header flags, opcode and unmasked payload."""

    __slots__ = ("opcode", "payload", "fin", "rsv1", "rsv2", "rsv3")

    def __init__(self, opcode, payload, fin=True, rsv1=False, rsv2=False, rsv3=False):
        if not isinstance(opcode, int):
            raise TypeError(f"opcode must be an int, not {type(opcode).__name__}")
        if not 0 <= opcode <= 0xF:
            raise ValueError(f"opcode must be in 0..15, got {opcode!r}")
        if payload.__class__ is not bytes:
            if not isinstance(payload, bytes):
                raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
            payload = payload[:]  # a subclass: its plain bytes
        self.opcode = int(opcode)  # a plain int, as the compiled Frame stores it (True -> 1)
        self.payload = payload
        self.fin = bool(fin)
        self.rsv1 = bool(rsv1)
        self.rsv2 = bool(rsv2)
        self.rsv3 = bool(rsv3)

    def astuple(self):
        return (self.opcode, self.payload, self.fin, self.rsv1, self.rsv2, self.rsv3)

    def __eq__(self, other):
        if not hasattr(other, "astuple"):
            return NotImplemented
        return self.astuple() == other.astuple()

    __hash__ = None

    def __repr__(self):
        flags = "".join(
            name for name, on in (("F", self.fin), ("1", self.rsv1), ("2", self.rsv2), ("3", self.rsv3)) if on
        )
        more = "..." if len(self.payload) > 32 else ""
        return f"Frame(opcode={self.opcode}, flags={flags or '-'}, payload={self.payload[:32]!r}{more} len={len(self.payload)})"


def _new_frame(opcode, payload, b0, fin):
    """A Frame without the constructor's checks (the parser's values are valid)."""
    f = Frame.__new__(Frame)
    f.opcode = opcode
    f.payload = payload
    f.fin = fin
    f.rsv1 = (b0 & 0x40) != 0
    f.rsv2 = (b0 & 0x20) != 0
    f.rsv3 = (b0 & 0x10) != 0
    return f


class FrameParser:
    """Incremental RFC 6455 frame parser.

    ``server=True`` parses frames sent by a client (they must be masked);
    ``server=False`` parses frames sent by a server (they must not be).
    ``max_frame_size`` (an int >= 0, or None: no limit) is checked from the
    header of each data frame, before any payload is buffered. ``allowed_rsv``
    is the set of RSV bits (``RSV1`` = 0x40, ``RSV2`` = 0x20, ``RSV3`` = 0x10)
    that negotiated extensions allow. ``max_fragments`` (an int >= 1, or
    None: no limit) caps the frames of one message, the first and its
    continuations: the header of a continuation frame beyond it fails with
    PayloadTooBig (1009) before its payload is read; a frame delivered in
    pieces (stream mode) counts once. ``sequence=True`` also enforces the
    order of fragments (RFC 6455 5.4): a continuation frame without a
    message in progress, or a new TEXT/BINARY frame inside one, fails with
    ProtocolError (1002) from its header. A non-int limit or RSV set raises
    TypeError; a negative size limit, a fragment limit below 1 or other bits
    ValueError.

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

    __slots__ = ("_server", "_stream", "_messages", "_limit", "_cap", "_allowed_rsv", "_buf", "_error",
                 "_busy", "_frags", "_frag_limit", "_frag_cap", "_sequence", "_rem", "_key", "_phase", "_piece_b0",
                 "_fin")

    def __init__(self, server, max_frame_size=DEFAULT_MAX_FRAME_SIZE, allowed_rsv=0, stream=False, messages=False,
                 max_fragments=None, sequence=False):
        self._server = bool(server)
        self._stream = bool(stream)
        self._messages = bool(messages)
        self._sequence = bool(sequence)
        self.max_frame_size = max_frame_size
        self.allowed_rsv = allowed_rsv
        self.max_fragments = max_fragments
        self._buf = bytearray()  # the start of a frame that has not fully arrived
        self._error = None
        self._busy = False
        self._frags = 0  # frames of the fragmented message in progress (0: none)
        self._rem = 0  # stream mode: payload bytes of the current frame still to come
        self._key = None  # stream mode: the current frame's masking key
        self._phase = 0  # stream mode: position in the mask cycle
        self._piece_b0 = 0  # stream mode: opcode and RSV bits of the next piece
        self._fin = False  # stream mode: FIN bit of the frame being streamed

    @property
    def server(self):
        """True when parsing frames sent by a client."""
        return self._server

    @property
    def stream(self):
        """True when data frames are delivered in pieces as they arrive."""
        return self._stream

    @property
    def sequence(self):
        """True when the order of fragments is enforced (RFC 6455 5.4)."""
        return self._sequence

    @property
    def messages(self):
        """True when whole messages come out as TextMessage/BinaryMessage."""
        return self._messages

    @messages.setter
    def messages(self, value):
        self._messages = bool(value)

    @property
    def max_frame_size(self):
        """Largest data frame payload accepted, checked from the header (None: no limit)."""
        return self._limit

    @max_frame_size.setter
    def max_frame_size(self, value):
        if value is None:
            self._cap = -1
        else:
            if not isinstance(value, int):
                raise TypeError(f"max_frame_size must be an int or None, not {type(value).__name__}")
            if value < 0:
                raise ValueError("max_frame_size must be >= 0 or None")
            self._cap = value if value < _LIMIT_CAP else _LIMIT_CAP
        self._limit = value

    @property
    def max_fragments(self):
        """Most frames one message may have, checked from each header (None: no limit)."""
        return self._frag_limit

    @max_fragments.setter
    def max_fragments(self, value):
        if value is None:
            self._frag_cap = -1
        else:
            if not isinstance(value, int):
                raise TypeError(f"max_fragments must be an int or None, not {type(value).__name__}")
            if value < 1:
                raise ValueError("max_fragments must be >= 1 or None")
            self._frag_cap = value if value < _LIMIT_CAP else _LIMIT_CAP
        self._frag_limit = value

    @property
    def allowed_rsv(self):
        """RSV bits the negotiated extensions allow (0x40, 0x20, 0x10)."""
        return self._allowed_rsv

    @allowed_rsv.setter
    def allowed_rsv(self, value):
        if not isinstance(value, int):
            raise TypeError(f"allowed_rsv must be an int, not {type(value).__name__}")
        if value & ~0x70:
            raise ValueError("allowed_rsv may only hold RSV1, RSV2 and RSV3 (0x70)")
        self._allowed_rsv = value

    @property
    def buffered(self):
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data):
        """Parse ``data``; return the frames it completes (and, in messages
        mode, message events)."""
        if self._error is not None:
            old = self._error
            exc = type(old)(old.reason, old.code)
            exc.frames = []
            raise exc
        if self._busy:
            raise RuntimeError("FrameParser.feed is not reentrant")
        if type(data) is not bytes:
            data = as_bytes(data)
        self._busy = True
        try:
            return self._feed(data, len(data))
        finally:
            self._busy = False

    def _feed(self, data, n):
        frames = []
        pos = 0
        if n == 0:
            return frames
        if self._rem:
            # Stream mode: the next piece of the frame in progress.
            take = n if self._rem > n else self._rem
            frames.append(self._piece(data, 0, take))
            pos = take
            if self._rem:
                return frames
        if len(self._buf):
            # Complete the frame held back from earlier calls first, taking
            # no more of ``data`` than that frame needs.
            pos = self._pending(data, pos, n, frames)
            if pos == n:
                return frames
        pos = self._parse(data, pos, n, frames)
        if pos < n:
            self._buf = bytearray(data[pos:n])
        return frames

    def _header(self, p, pos, n):
        """The header at p[pos:n], checked against every framing rule.

        Returns (header length, payload length) when the header is complete;
        (0, bytes needed from pos) when it is not; (-error, length) when it
        breaks a rule (error: a _framing_rules.E_* number).
        """
        avail = n - pos
        if avail < 2:
            return 0, 2
        b0 = p[pos]
        b1 = p[pos + 1]
        op = b0 & 0x0F
        length = b1 & 0x7F
        if b0 & 0x70 & ~self._allowed_rsv:
            return -E_RSV, length
        if (3 <= op <= 7) or op > 0xA:
            return -E_OPCODE, length
        if op >= 8 and not b0 & 0x80:
            return -E_CONTROL_FRAGMENTED, length
        if self._server:
            if not b1 & 0x80:
                return -E_MASK_REQUIRED, length
        elif b1 & 0x80:
            return -E_MASK_FORBIDDEN, length
        if op == 0:
            if not self._frags:
                if self._sequence:
                    return -E_CONTINUATION, length
            elif 0 <= self._frag_cap <= self._frags:  # one continuation more than allowed
                return -E_FRAGMENTS, length
        elif op < 8 and self._frags and self._sequence:
            return -E_NEW_DATA, length
        hlen = 2
        if length == 126:
            if avail < 4:
                return 0, 4
            length = (p[pos + 2] << 8) | p[pos + 3]
            hlen = 4
        elif length == 127:
            if avail < 10:
                return 0, 10
            if p[pos + 2] & 0x80:
                return -E_LENGTH_MSB, 0
            length = 0
            for i in range(pos + 2, pos + 10):
                length = (length << 8) | p[i]
            hlen = 10
        if op >= 8:
            if length > 125:
                return -E_CONTROL_TOO_LONG, length
        elif 0 <= self._cap < length:  # the size limit is for data frames only
            return -E_TOO_BIG, length
        if self._server:
            hlen += 4
            if avail < hlen:
                return 0, hlen
        return hlen, length

    def _parse(self, p, pos, n, frames):
        """Parse the complete frames of p[pos:n] into ``frames``; in stream
        mode start streaming a data frame that has not fully arrived. Returns
        the position of the first byte not consumed."""
        while n - pos >= 2:
            hlen, length = self._header(p, pos, n)
            if hlen <= 0:
                if hlen < 0:
                    self._fail(-hlen, p[pos], length, frames)
                break
            b0 = p[pos]
            if length > n - pos - hlen:
                if self._stream and (b0 & 0x0F) < 8:
                    self._start_stream(p, pos + hlen, length, b0)
                    if n > pos + hlen:
                        frames.append(self._piece(p, pos + hlen, n - pos - hlen))
                    return n
                break
            pos += hlen
            frames.append(self._item(p, pos, length, b0))
            pos += length
        return pos

    def _pending(self, data, pos, n, frames):
        """Complete the held-back frame with bytes of data[pos:n]; returns the
        position after the bytes taken (n: all taken, stop)."""
        buf = self._buf
        while True:
            m = len(buf)
            hlen, length = self._header(buf, 0, m)
            if hlen < 0:
                self._fail(-hlen, buf[0], length, frames)
            if hlen > 0:
                want = hlen + length - m  # payload bytes still missing
                if want <= 0:
                    whole = bytes(buf)
                    self._buf = bytearray()
                    frames.append(self._item(whole, hlen, length, whole[0]))
                    return pos
                if want > n - pos and self._stream and (buf[0] & 0x0F) < 8:
                    # This data cannot complete it: stream it as it arrives.
                    whole = bytes(buf)
                    self._buf = bytearray()
                    chunk = whole[hlen:] + data[pos:n]
                    self._start_stream(whole, hlen, length, whole[0])
                    if len(chunk):
                        frames.append(self._piece(chunk, 0, len(chunk)))
                    return n
            else:
                want = length - m  # header bytes still missing
            if pos == n:
                return n
            take = want if want < n - pos else n - pos
            buf += data[pos : pos + take]
            pos += take

    def _start_stream(self, p, start, length, b0):
        """Stream mode: the data frame whose payload starts at p[start] is
        delivered in pieces from now on."""
        self._key = p[start - 4 : start] if self._server else None
        self._phase = 0
        self._rem = length
        self._piece_b0 = b0 & 0x7F
        self._fin = (b0 & 0x80) != 0
        self._track(b0 & 0x0F, self._fin)

    def _piece(self, p, start, n):
        """Stream mode: the next piece of the current frame, from p[start:start + n]."""
        if self._server:
            payload = unmask_slice(p, start, n, self._key, 0, self._phase)  # noqa: F405
        else:
            payload = p[start : start + n]
        self._phase = (self._phase + n) & 3
        self._rem -= n
        b0 = self._piece_b0
        fin = self._fin and self._rem == 0
        self._piece_b0 = 0  # later pieces: continuation, no RSV bits
        return _new_frame(b0 & 0x0F, payload, b0, fin)

    def _track(self, opcode, fin):
        """Follow fragmented messages, counting their frames: called once per
        data frame (whole, or when its streaming starts) that is not a whole
        message delivered as an event."""
        if opcode == 0:
            self._frags = 0 if fin else self._frags + 1
        elif opcode < 8:
            self._frags = 0 if fin else 1

    def _item(self, p, start, length, b0):
        """The complete frame with payload p[start:start + length] as a Frame,
        or in messages mode as a message event."""
        op = b0 & 0x0F
        if self._messages and (b0 & 0xF0) == 0x80 and (op == 1 or op == 2) and not self._frags:
            if op == 1:
                text = decode_text(p, start, length, self._server)  # noqa: F405
                if text is not None:
                    tm = TextMessage.__new__(TextMessage)
                    tm.data = text
                    return tm
            else:
                bm = BinaryMessage.__new__(BinaryMessage)
                bm.data = unmask_slice(p, start, length, p, start - 4, 0) if self._server else p[start : start + length]  # noqa: F405
                return bm
        fin = (b0 & 0x80) != 0
        self._track(op, fin)
        if self._server:
            payload = unmask_slice(p, start, length, p, start - 4, 0)  # noqa: F405
        else:
            payload = p[start : start + length]
        return _new_frame(op, payload, b0, fin)

    def _fail(self, err, b0, length, frames):
        if err == E_RSV:
            b0 &= ~self._allowed_rsv  # name only the bits that are not allowed
        if err == E_FRAGMENTS:
            limit = self._frag_limit
        else:
            limit = self._limit if self._limit is not None else -1
        exc = frame_error(err, b0, length, limit)
        self._error = exc
        self._buf = bytearray()
        exc.frames = frames
        raise exc
