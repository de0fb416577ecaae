"""The per-connection permessage-deflate codec (RFC 7692): compress what is
sent, inflate what is received, in bounded steps.

Negotiation (the factories) lives in :mod:`wsframe.permessage_deflate`, which
documents the choices made here (window bits, the 8-bit window, thresholds,
bounded inflation) and re-exports :class:`PerMessageDeflate`.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Callable, Optional, Tuple

from .exceptions import PayloadTooBig, ProtocolError
from .extensions import RSV1, Extension

if TYPE_CHECKING:  # pragma: no cover
    from .codec import BytesLike

NAME = "permessage-deflate"
DEFAULT_MAX_WINDOW_BITS = 12
DEFAULT_MEM_LEVEL = 5
DEFAULT_COMPRESS_LEVEL = 6
DEFAULT_THRESHOLD = 32

_TAIL = b"\x00\x00\xff\xff"
_SYNC = zlib.Z_SYNC_FLUSH
_FULL = zlib.Z_FULL_FLUSH
#: Largest output of one decompress step once a message is bigger than that.
_STEP = 256 * 1024
#: Largest input slice fed to one decompress call (bounds the unconsumed_tail copies).
_IN_STEP = 64 * 1024
#: Below this size, appending the tail to the payload (one copy) beats a second decompress call.
_SMALL = 4096


def _check_bits(name: str, value, allow_true: bool = False):
    if value is None or (allow_true and value is True):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(f"{name} must be an int in 8..15{', True' if allow_true else ''} or None, not {value!r}")
    return value


def _check_common(compress_level: int, mem_level: int, threshold: int) -> None:
    if not -1 <= compress_level <= 9:
        raise ValueError("compress_level must be in -1..9")
    if not 1 <= mem_level <= 9:
        raise ValueError("mem_level must be in 1..9")
    if threshold < 0:
        raise ValueError("threshold must be >= 0")



class PerMessageDeflate(Extension):
    """The negotiated permessage-deflate runtime of one connection.

    ``local_*`` describe the compressor (what this endpoint sends),
    ``remote_*`` the decompressor (what the peer sends). Window bits are the
    negotiated values (8..15). Created by the factories; direct construction
    is for tests and custom negotiation.
    """

    __slots__ = (
        "local_no_context_takeover",
        "remote_no_context_takeover",
        "local_max_window_bits",
        "remote_max_window_bits",
        "compress_level",
        "mem_level",
        "threshold",
        "_encoder",
        "_decoder",
        "_compress",
        "_flush",
        "_end_flush",
        "_deflating",
        "_inflating",
    )

    name = NAME
    rsv_bits = RSV1

    _encoder: Optional[zlib._Compress]
    _decoder: Optional[zlib._Decompress]
    _compress: Optional[Callable[[BytesLike], bytes]]  # the encoder's bound methods, set with it
    _flush: Optional[Callable[[int], bytes]]

    def __init__(
        self,
        *,
        local_no_context_takeover: bool = False,
        remote_no_context_takeover: bool = False,
        local_max_window_bits: int = 15,
        remote_max_window_bits: int = 15,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        _check_bits("local_max_window_bits", local_max_window_bits)
        _check_bits("remote_max_window_bits", remote_max_window_bits)
        _check_common(compress_level, mem_level, threshold)
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_max_window_bits = local_max_window_bits
        self.remote_max_window_bits = remote_max_window_bits
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.threshold = threshold
        self._encoder = None  # created on first compressed message
        self._decoder = None
        self._compress = None  # bound methods of the encoder, cached
        self._flush = None
        self._end_flush = _FULL if local_no_context_takeover else _SYNC
        self._deflating = False  # a compressed fragmented message is being sent
        self._inflating = False  # a compressed fragmented message is being received

    def _new_encoder(self):
        # zlib refuses raw wbits 8; 9 never emits distances above 250 (module docstring).
        bits = self.local_max_window_bits
        enc = self._encoder = zlib.compressobj(
            self.compress_level, zlib.DEFLATED, -9 if bits < 9 else -bits, self.mem_level
        )
        self._compress = enc.compress
        self._flush = enc.flush
        return enc

    def _new_decoder(self):
        # A 9-bit window decodes every 8-bit stream; zlib's raw-deflate 8 is shaky across versions.
        bits = self.remote_max_window_bits
        dec = self._decoder = zlib.decompressobj(-9 if bits < 9 else -bits)
        return dec

    # -- sending -----------------------------------------------------------------

    def encode(self, opcode: int, payload: BytesLike, fin: bool, compress: bool = True) -> Tuple[BytesLike, int]:
        if fin and opcode:
            # A whole message in one frame (the common case): no fragment state to keep.
            # (A new message never starts while a fragmented one is being sent: the
            # connection refuses that, so _deflating is False here.)
            if not compress or len(payload) < self.threshold:
                return payload, 0
            compress_ = self._compress
            if compress_ is None:
                self._new_encoder()
                compress_ = self._compress
                assert compress_ is not None  # set by _new_encoder
            data = compress_(payload)
            assert self._flush is not None  # set with _compress
            if data:
                data += self._flush(self._end_flush)
            else:
                data = self._flush(self._end_flush)
            # The flush ends with the empty stored block 00 00 ff ff: strip it (RFC 7692 7.2.1).
            return (data[:-4] if len(data) < _SMALL else memoryview(data)[:-4]), RSV1
        return self._encode_fragment(opcode, payload, fin, compress)

    def _encode_fragment(self, opcode: int, payload: BytesLike, fin: bool, compress: bool) -> Tuple[BytesLike, int]:
        if opcode:  # first frame of a fragmented message
            if not compress:
                self._deflating = False
                return payload, 0
            self._deflating = True
            rsv = RSV1
        else:
            if not self._deflating:
                return payload, 0
            rsv = 0
            if fin:
                self._deflating = False
        if self._compress is None:
            self._new_encoder()
        assert self._compress is not None and self._flush is not None  # set by _new_encoder
        data = self._compress(payload)
        if fin:
            if data:
                data += self._flush(self._end_flush)
            else:
                data = self._flush(self._end_flush)
            return (data[:-4] if len(data) < _SMALL else memoryview(data)[:-4]), rsv
        if data:
            return data + self._flush(_SYNC), rsv
        return self._flush(_SYNC), rsv

    # -- receiving ---------------------------------------------------------------

    def decode(self, opcode: int, payload, rsv: int, fin: bool, max_size: Optional[int]) -> bytes:
        if fin and opcode and len(payload) < _SMALL:
            # A whole message in one small frame (the common case). (A new message
            # never starts while a fragmented one is being received: the connection
            # fails the connection first, so _inflating is False here.)
            if not rsv & RSV1:
                return payload
            dec = self._decoder
            if dec is None:
                dec = self._new_decoder()
            limit = _STEP if max_size is None or max_size >= _STEP else max_size + 1
            try:
                out = dec.decompress(payload + _TAIL, limit)
                if len(out) >= limit:  # the step is full: too big, or more output follows
                    out = self._inflate_more(dec, out, max_size)
            except zlib.error as exc:  # zlib's own text stays off the wire (kept as the cause)
                raise ProtocolError("invalid compressed data") from exc
            if dec.eof:
                # The peer ended the message with a final block: the next message starts afresh.
                if dec.unused_data not in (b"", _TAIL):
                    raise ProtocolError("data after the end of the compressed stream")
                self._decoder = None
            return out
        return self._decode_general(opcode, payload, rsv, fin, max_size)

    def _decode_general(self, opcode: int, payload, rsv: int, fin: bool, max_size: Optional[int]) -> bytes:
        if opcode:
            if not rsv & RSV1:
                self._inflating = False
                return payload
            self._inflating = not fin
        else:
            if rsv & RSV1:
                raise ProtocolError("RSV1 set on a continuation frame")
            if not self._inflating:
                return payload
            if fin:
                self._inflating = False
        dec = self._decoder
        if dec is None:
            dec = self._new_decoder()
        try:
            if fin:
                if len(payload) < _SMALL:  # appending the tail (one small copy) saves a call
                    out = self._inflate(dec, payload + _TAIL, max_size)
                else:
                    out = self._inflate(dec, payload, max_size)
                    rest = self._inflate(dec, _TAIL, None if max_size is None else max_size - len(out))
                    if rest:
                        out += rest
                if dec.eof:
                    # The peer ended the message with a final block: the next message starts afresh.
                    if dec.unused_data not in (b"", _TAIL):
                        raise ProtocolError("data after the end of the compressed stream")
                    self._decoder = None
                return out
            if dec.eof:
                raise ProtocolError("data after the end of the compressed stream")
            return self._inflate(dec, payload, max_size)
        except zlib.error as exc:  # zlib's own text stays off the wire (kept as the cause)
            raise ProtocolError("invalid compressed data") from exc

    @staticmethod
    def _inflate_more(dec, out, max_size: Optional[int]) -> bytes:
        """Continue a decompression whose first step (``out``) filled its output limit."""
        if max_size is not None and len(out) > max_size:
            raise PayloadTooBig(f"decompressed message exceeds {max_size} more bytes")
        return PerMessageDeflate._inflate_loop(dec, [dec.unconsumed_tail], [out], len(out), max_size)

    @staticmethod
    def _inflate(dec, data, max_size: Optional[int]) -> bytes:
        if max_size is None:
            return dec.decompress(data)
        if max_size < _STEP:
            # One step with room for one byte too many: exact, since zlib only stops
            # short of the output limit once the input is exhausted.
            out = dec.decompress(data, max_size + 1)
            if len(out) > max_size:
                raise PayloadTooBig(f"decompressed message exceeds {max_size} more bytes")
            return out
        if len(data) <= _IN_STEP:
            out = dec.decompress(data, _STEP)
            if len(out) < _STEP and not dec.unconsumed_tail:
                return out  # the common case: one call, no copy
            return PerMessageDeflate._inflate_loop(dec, [dec.unconsumed_tail], [out], len(out), max_size)
        # Feed big inputs in slices: zlib copies the unconsumed input into
        # unconsumed_tail after every bounded step, so passing a whole
        # frame would duplicate it while a bomb is being expanded.
        view = memoryview(data)
        pieces = [view[i : i + _IN_STEP] for i in range(0, len(view), _IN_STEP)]
        return PerMessageDeflate._inflate_loop(dec, pieces, [], 0, max_size)

    @staticmethod
    def _inflate_loop(dec, pieces, chunks, total: int, max_size: Optional[int]) -> bytes:
        """Decompress ``pieces`` in output steps of at most _STEP, stopping past ``max_size``."""
        limit = (1 << 62) if max_size is None else max_size
        for tail in pieces:
            while True:
                if total > limit:
                    raise PayloadTooBig(f"decompressed message exceeds {max_size} more bytes")
                step = limit + 1 - total
                if step > _STEP:
                    step = _STEP
                out = dec.decompress(tail, step)  # an empty tail still flushes pending output
                if out:
                    total += len(out)
                    chunks.append(out)
                tail = dec.unconsumed_tail
                if not tail and len(out) < step:
                    break
        if total > limit:
            raise PayloadTooBig(f"decompressed message exceeds {max_size} more bytes")
        return b"".join(chunks)

    def close(self) -> None:
        self._encoder = None
        self._decoder = None
        self._compress = None
        self._flush = None

    def __repr__(self) -> str:
        return (
            f"<PerMessageDeflate local(no_context_takeover={self.local_no_context_takeover}, "
            f"max_window_bits={self.local_max_window_bits}) remote(no_context_takeover="
            f"{self.remote_no_context_takeover}, max_window_bits={self.remote_max_window_bits})>"
        )
