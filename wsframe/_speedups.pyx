# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, embedsignature=True, binding=False, always_allow_keywords=False
"""C implementation of the codec (bindings to csrc/). The pure-Python twin is
wsframe/_codec_py.py; both give the same results and errors byte for byte."""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_CheckExact, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.unicode cimport PyUnicode_DecodeUTF8

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)
    bint PyUnicode_IS_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    bint PyUnicode_Check(object o)
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

import os

from . import _framing_rules as _rules

cdef extern from "wsframe_core.h" nogil:
    int wsf_init()
    const char *wsf_simd_name()
    int wsf_set_simd_level(int level)
    void wsf_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key, size_t offset)
    ctypedef struct wsf_utf8_state:
        uint8_t need
        uint8_t lo
        uint8_t hi
    void wsf_utf8_reset(wsf_utf8_state *st)
    size_t wsf_utf8_feed(wsf_utf8_state *st, const uint8_t *data, size_t n)
    int wsf_utf8_valid(const uint8_t *data, size_t n)
    int wsf_ascii(const uint8_t *data, size_t n)
    size_t WSF_UTF8_OK
    ctypedef struct wsf_parser_cfg:
        int server
        uint8_t allowed_rsv
        int has_limit
        uint64_t max_frame_size
    ctypedef struct wsf_frame_info:
        uint8_t b0
        uint8_t masked
        uint8_t key[4]
        size_t payload_off
        size_t len
        uint64_t full_len
    ctypedef struct wsf_frame_err:
        int code
        uint8_t b0
        uint64_t length
        size_t offset
    size_t wsf_parse_frames(const uint8_t *buf, size_t n, const wsf_parser_cfg *cfg,
                            wsf_frame_info *out, size_t max_out, size_t *consumed,
                            size_t *need, wsf_frame_err *err)
    int wsf_parse_header(const uint8_t *h, size_t avail, const wsf_parser_cfg *cfg, wsf_frame_info *info,
                         size_t *need, wsf_frame_err *err)
    size_t wsf_write_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *key)
    size_t wsf_header_len(uint64_t len, int masked)

wsf_init()

# Above this size the GIL is released around masking and validation.
DEF GIL_RELEASE_MIN = 65536
# Frames parsed per C call.
DEF BATCH = 128

_LEVELS = {"scalar": 0, "sse2": 1, "avx2": 2, "avx512": 3, "neon": 4}


def simd_level():
    """Name of the SIMD level in use: "scalar", "sse2", "avx2", "avx512" or "neon"."""
    return wsf_simd_name().decode()


def set_simd_level(name):
    """Use at most the given SIMD level (for tests); returns the level set."""
    wsf_set_simd_level(_LEVELS[name] if name is not None else -1)
    return simd_level()


cdef inline bint _acquire(object obj, Py_buffer *view) except -1:
    """Point view.buf/view.len at obj's bytes. Returns True when the view
    must be released (bytes objects are read directly, without the buffer
    protocol: a fast path for the common case)."""
    if PyBytes_CheckExact(obj):
        view.buf = <void *>PyBytes_AS_STRING(obj)
        view.len = PyBytes_GET_SIZE(obj)
        return False
    PyObject_GetBuffer(obj, view, PyBUF_SIMPLE)
    return True


cdef inline object _text_payload(object payload):
    """A str payload as bytes-like: ASCII str as it is (its data is its own
    UTF-8), other str encoded to a temporary bytes. Other objects unchanged."""
    if PyUnicode_Check(payload) and not PyUnicode_IS_ASCII(payload):
        return (<str>payload).encode("utf-8")
    return payload


cdef inline bint _acquire_payload(object obj, Py_buffer *view) except -1:
    """_acquire for frame payloads, which may also be ASCII str (read in place)."""
    if PyUnicode_Check(obj):
        view.buf = PyUnicode_DATA(obj)
        view.len = PyUnicode_GET_LENGTH(obj)
        return False
    return _acquire(obj, view)


cdef int _get_key(object mask, uint8_t *key) except -1:
    cdef Py_buffer mv
    if PyBytes_CheckExact(mask) and PyBytes_GET_SIZE(mask) == 4:  # the common case, without the buffer protocol
        memcpy(key, PyBytes_AS_STRING(mask), 4)
        return 0
    PyObject_GetBuffer(mask, &mv, PyBUF_SIMPLE)
    try:
        if mv.len != 4:
            raise ValueError(f"mask must be 4 bytes, got {mv.len}")
        memcpy(key, mv.buf, 4)
    finally:
        PyBuffer_Release(&mv)
    return 0


cdef inline void _mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key, size_t offset) noexcept:
    if n >= GIL_RELEASE_MIN:
        with nogil:
            wsf_mask(dst, src, n, key, offset)
    else:
        wsf_mask(dst, src, n, key, offset)


def apply_mask(data, mask):
    """Return ``data`` XORed with the repeating 4-byte ``mask``."""
    cdef uint8_t key[4]
    cdef Py_buffer dv
    _get_key(mask, key)
    cdef bint release = _acquire(data, &dv)
    try:
        out = PyBytes_FromStringAndSize(NULL, dv.len)
        _mask_copy(<uint8_t *>PyBytes_AS_STRING(out), <const uint8_t *>dv.buf, <size_t>dv.len, key, 0)
    finally:
        if release:
            PyBuffer_Release(&dv)
    return out


def mask_inplace(buffer, mask, offset=0):
    """XOR the writable ``buffer`` in place with ``mask``, starting at position
    ``offset`` of the 4-byte mask cycle."""
    cdef uint8_t key[4]
    cdef Py_buffer bv
    _get_key(mask, key)
    if offset < 0:
        raise ValueError("offset must not be negative")
    cdef size_t phase = offset & 3
    cdef Py_ssize_t size
    if PyByteArray_CheckExact(buffer):
        size = PyByteArray_GET_SIZE(buffer)
        if size < GIL_RELEASE_MIN:
            # Small bytearray: write in place directly. The GIL stays held, so
            # nothing can resize it meanwhile.
            wsf_mask(<uint8_t *>PyByteArray_AS_STRING(buffer), <const uint8_t *>PyByteArray_AS_STRING(buffer),
                     <size_t>size, key, phase)
            return
    try:
        PyObject_GetBuffer(buffer, &bv, PyBUF_WRITABLE)
    except BufferError:
        if memoryview(buffer).readonly:
            raise TypeError("mask_inplace needs a writable buffer") from None
        raise BufferError("memoryview: underlying buffer is not C-contiguous") from None
    try:
        _mask_copy(<uint8_t *>bv.buf, <const uint8_t *>bv.buf, <size_t>bv.len, key, phase)
    finally:
        PyBuffer_Release(&bv)


def validate_utf8(data):
    """True when ``data`` is complete, valid UTF-8."""
    cdef Py_buffer dv
    cdef int ok
    cdef bint release = _acquire(data, &dv)
    try:
        if dv.len >= GIL_RELEASE_MIN:
            with nogil:
                ok = wsf_utf8_valid(<const uint8_t *>dv.buf, <size_t>dv.len)
        else:
            ok = wsf_utf8_valid(<const uint8_t *>dv.buf, <size_t>dv.len)
    finally:
        if release:
            PyBuffer_Release(&dv)
    return ok != 0


@cython.final
cdef class Utf8Validator:
    """Incremental UTF-8 validator (see wsframe._codec_py.Utf8Validator)."""

    cdef wsf_utf8_state st
    cdef Py_ssize_t count
    cdef Py_ssize_t error

    def __init__(self):
        self.reset()

    def reset(self):
        wsf_utf8_reset(&self.st)
        self.count = 0
        self.error = -1

    @property
    def valid(self):
        return self.error < 0

    @property
    def error_offset(self):
        return self.error if self.error >= 0 else None

    @property
    def at_boundary(self):
        return self.st.need == 0

    @property
    def bytes_seen(self):
        return self.count

    def feed(self, data):
        """Validate the next chunk; False when the text is (now) invalid."""
        cdef Py_buffer dv
        cdef size_t r
        if self.error >= 0:
            return False
        cdef bint release = _acquire(data, &dv)
        try:
            if dv.len >= GIL_RELEASE_MIN:
                with nogil:
                    r = wsf_utf8_feed(&self.st, <const uint8_t *>dv.buf, <size_t>dv.len)
            else:
                r = wsf_utf8_feed(&self.st, <const uint8_t *>dv.buf, <size_t>dv.len)
            if r != WSF_UTF8_OK:
                self.error = self.count + <Py_ssize_t>r
                return False
            self.count += dv.len
            return True
        finally:
            if release:
                PyBuffer_Release(&dv)

    def finish(self):
        """True when all text fed was valid and ended on a code-point boundary."""
        return self.error < 0 and self.st.need == 0


def _short(value):
    if isinstance(value, (bytes, bytearray, str)) and len(value) > 64:
        return f"{value[:64]!r}...(len={len(value)})"
    return repr(value)


cdef class Event:
    """Base class of every event. ``_fields`` names the fields that ``__eq__``
    compares and ``__repr__`` shows."""

    _fields = ()

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None

    def __repr__(self):
        fields = ", ".join(f"{f}={_short(getattr(self, f))}" for f in self._fields)
        return f"{type(self).__name__}({fields})"


# Message events hold only a str or bytes, so they cannot be part of a
# reference cycle: no_gc keeps them out of the garbage collector's lists
# (a receiver holding many messages pays no collection cost for them).
@cython.no_gc
cdef class TextMessage(Event):
    """A complete text message (``data``: str)."""

    cdef readonly str data
    _fields = ("data",)

    def __init__(self, data):
        if not isinstance(data, str):
            raise TypeError(f"data must be str, not {type(data).__name__}")
        self.data = data


@cython.no_gc
cdef class BinaryMessage(Event):
    """A complete binary message (``data``: bytes)."""

    cdef readonly bytes data
    _fields = ("data",)

    def __init__(self, data):
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        self.data = data


cdef object _decode_text(const uint8_t *src, size_t n, bint masked, const uint8_t *key):
    """The payload as str, or None when it is not valid UTF-8. Masked ASCII
    text is unmasked straight into the new str: one copy, no bytes object."""
    cdef object s
    cdef uint8_t *data
    cdef bytes tmp
    if not masked:
        try:
            return PyUnicode_DecodeUTF8(<const char *>src, <Py_ssize_t>n, "strict")
        except UnicodeDecodeError:
            return None
    if n == 0:
        return ""
    s = PyUnicode_New(<Py_ssize_t>n, 127)
    data = <uint8_t *>PyUnicode_DATA(s)
    _mask_copy(data, src, n, key, 0)
    if wsf_ascii(data, n):
        return s
    try:
        return PyUnicode_DecodeUTF8(<const char *>data, <Py_ssize_t>n, "strict")
    except UnicodeDecodeError:
        return None


@cython.final
@cython.freelist(256)
cdef class Frame:
    """One complete frame: header flags, opcode and unmasked payload."""

    cdef public int opcode
    cdef public bytes payload
    cdef public bint fin, rsv1, rsv2, rsv3

    def __init__(self, int opcode, bytes payload, bint fin=True, bint rsv1=False, bint rsv2=False, bint rsv3=False):
        self.opcode = opcode
        self.payload = payload
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3

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
        return f"Frame(opcode={self.opcode}, flags={flags or '-'}, payload={self.payload[:32]!r}{'...' if len(self.payload) > 32 else ''} len={len(self.payload)})"


cdef inline bytes _payload(const uint8_t *base, wsf_frame_info *fi):
    """The frame's payload, unmasked, as bytes."""
    cdef bytes payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>fi.len)
    cdef uint8_t *dst = <uint8_t *>PyBytes_AS_STRING(payload)
    if fi.masked:
        _mask_copy(dst, base + fi.payload_off, fi.len, fi.key, 0)
    else:
        memcpy(dst, base + fi.payload_off, fi.len)
    return payload


cdef inline Frame _make_frame(const uint8_t *base, wsf_frame_info *fi):
    cdef bytes payload = _payload(base, fi)
    cdef Frame f = Frame.__new__(Frame)
    f.payload = payload
    f.opcode = fi.b0 & 0x0F
    f.fin = (fi.b0 & 0x80) != 0
    f.rsv1 = (fi.b0 & 0x40) != 0
    f.rsv2 = (fi.b0 & 0x20) != 0
    f.rsv3 = (fi.b0 & 0x10) != 0
    return f


@cython.final
cdef class FrameParser:
    """Incremental RFC 6455 frame parser (see wsframe._codec_py.FrameParser)."""

    cdef wsf_parser_cfg cfg
    cdef uint8_t *buf
    cdef size_t buf_len
    cdef size_t buf_cap
    cdef object _error
    cdef object _limit
    cdef bint busy
    cdef readonly bint stream
    cdef public bint messages
    cdef bint in_message     # a fragmented message is in progress
    # Stream mode: the data frame being delivered in pieces.
    cdef uint64_t rem        # payload bytes still to come
    cdef uint8_t key[4]
    cdef bint masked
    cdef size_t phase        # position in the mask cycle
    cdef uint8_t piece_b0    # opcode and RSV bits of the next piece
    cdef bint frame_fin      # FIN bit of the frame being streamed

    def __cinit__(self):
        self.buf = NULL
        self.buf_len = 0
        self.buf_cap = 0

    def __dealloc__(self):
        PyMem_Free(self.buf)

    def __init__(self, server, max_frame_size=_rules.DEFAULT_MAX_FRAME_SIZE, int allowed_rsv=0, stream=False,
                 messages=False):
        if max_frame_size is not None and max_frame_size < 0:
            raise ValueError("max_frame_size must be >= 0 or None")
        self.cfg.server = 1 if server else 0
        self.stream = bool(stream)
        self.messages = bool(messages)
        self.in_message = False
        self.rem = 0
        self.allowed_rsv = allowed_rsv
        self.max_frame_size = max_frame_size
        self._error = None

    @property
    def server(self):
        return self.cfg.server != 0

    @property
    def allowed_rsv(self):
        return self.cfg.allowed_rsv

    @allowed_rsv.setter
    def allowed_rsv(self, int value):
        if value & ~0x70:
            raise ValueError("allowed_rsv may only hold RSV1, RSV2 and RSV3 (0x70)")
        self.cfg.allowed_rsv = <uint8_t>value

    @property
    def max_frame_size(self):
        return self._limit

    @max_frame_size.setter
    def max_frame_size(self, value):
        if value is None:
            self.cfg.has_limit = 0
            self.cfg.max_frame_size = 0
        else:
            if value < 0:
                raise ValueError("max_frame_size must be >= 0 or None")
            self.cfg.has_limit = 1
            self.cfg.max_frame_size = min(value, 0xFFFFFFFFFFFFFFFF)
        self._limit = value

    @property
    def buffered(self):
        return self.buf_len

    cdef int _reserve(self, size_t size) except -1:
        cdef size_t cap
        cdef uint8_t *p
        if size <= self.buf_cap:
            return 0
        cap = self.buf_cap * 2 if self.buf_cap else 256
        if cap < size:
            cap = size
        p = <uint8_t *>PyMem_Realloc(self.buf, cap)
        if p == NULL:
            raise MemoryError()
        self.buf = p
        self.buf_cap = cap
        return 0

    cdef Frame _piece(self, const uint8_t *src, size_t n):
        """Stream mode: the next piece of the current frame, from src[0..n)."""
        cdef bytes payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>n)
        cdef uint8_t *dst = <uint8_t *>PyBytes_AS_STRING(payload)
        if self.masked:
            _mask_copy(dst, src, n, self.key, self.phase & 3)
        else:
            memcpy(dst, src, n)
        self.phase += n
        self.rem -= n
        cdef Frame f = Frame.__new__(Frame)
        f.payload = payload
        f.opcode = self.piece_b0 & 0x0F
        f.fin = self.frame_fin and self.rem == 0
        f.rsv1 = (self.piece_b0 & 0x40) != 0
        f.rsv2 = (self.piece_b0 & 0x20) != 0
        f.rsv3 = (self.piece_b0 & 0x10) != 0
        self.piece_b0 = 0  # later pieces: continuation, no RSV bits
        self._track(f.opcode, f.fin)
        return f

    cdef inline void _track(self, int opcode, bint fin) noexcept:
        """Follow fragmented messages through the data frames delivered."""
        if opcode == 0:
            if fin:
                self.in_message = False
        elif opcode < 8:
            self.in_message = not fin

    cdef object _item(self, const uint8_t *base, wsf_frame_info *fi):
        """A complete frame as a Frame, or in messages mode as a message event."""
        cdef uint8_t b0 = fi.b0
        cdef int op = b0 & 0x0F
        cdef TextMessage tm
        cdef BinaryMessage bm
        if self.messages and (b0 & 0xF0) == 0x80 and (op == 1 or op == 2) and not self.in_message:
            if op == 2:
                bm = BinaryMessage.__new__(BinaryMessage)
                bm.data = _payload(base, fi)
                return bm
            text = _decode_text(base + fi.payload_off, fi.len, fi.masked, fi.key)
            if text is not None:
                tm = TextMessage.__new__(TextMessage)
                tm.data = text
                return tm
        self._track(op, (b0 & 0x80) != 0)
        return _make_frame(base, fi)

    cdef bint _start_stream(self, const uint8_t *h, size_t avail, list frames) except -1:
        """At an incomplete frame h[0..avail): in stream mode, when its header is
        complete and it is a data frame, deliver what has arrived and stream
        the rest. True when it did (nothing needs buffering)."""
        cdef wsf_frame_info info
        cdef wsf_frame_err err
        cdef size_t need
        if not self.stream or avail < 2 or (h[0] & 0x0F) >= 8:
            return False
        if wsf_parse_header(h, avail, &self.cfg, &info, &need, &err) != 1:
            return False
        self.rem = info.full_len
        self.masked = info.masked
        memcpy(self.key, info.key, 4)
        self.phase = 0
        self.piece_b0 = info.b0 & 0x7F
        self.frame_fin = (info.b0 & 0x80) != 0
        if avail > info.payload_off:
            frames.append(self._piece(h + info.payload_off, avail - info.payload_off))
        return True

    cdef _fail(self, wsf_frame_err *err, list frames):
        exc = _rules.frame_error(err.code, err.b0, err.length, self._limit if self._limit is not None else -1)
        self._error = exc
        self.buf_len = 0
        exc.frames = frames
        raise exc

    def feed(self, data):
        """Parse ``data``; return the list of frames it completes."""
        cdef Py_buffer dv
        cdef const uint8_t *p
        cdef size_t n, pos = 0, consumed = 0, need = 0, take, count, i
        cdef wsf_frame_info infos[BATCH]
        cdef wsf_frame_err err
        cdef list frames = []
        if self._error is not None:
            old = self._error
            exc = type(old)(old.reason, old.code)
            exc.frames = []
            raise exc
        if self.busy:
            raise RuntimeError("FrameParser.feed is not reentrant")
        cdef bint release = _acquire(data, &dv)
        self.busy = True
        try:
            p = <const uint8_t *>dv.buf
            n = <size_t>dv.len
            if n == 0:
                return frames
            if self.rem:
                # Stream mode: the next piece of the frame in progress.
                take = n if self.rem > n else <size_t>self.rem
                frames.append(self._piece(p, take))
                pos = take
                if self.rem:
                    return frames
            # First complete the frame held back from earlier calls, copying
            # no more of ``data`` than that frame needs.
            while self.buf_len:
                count = wsf_parse_frames(self.buf, self.buf_len, &self.cfg, infos, 1, &consumed, &need, &err)
                if err.code:
                    self._fail(&err, frames)
                if count:
                    frames.append(self._item(self.buf, &infos[0]))
                    self.buf_len = 0
                    if self.buf_cap > 65536:  # don't keep a big frame's buffer
                        PyMem_Free(self.buf)
                        self.buf = NULL
                        self.buf_cap = 0
                    break
                # Stream the frame only when this data cannot complete it (as
                # the pure-Python twin, which sees buffer and data as one).
                if need - self.buf_len > n - pos and self._start_stream(self.buf, self.buf_len, frames):
                    self.buf_len = 0
                    take = n - pos
                    if take > self.rem:
                        take = <size_t>self.rem
                    if take:
                        frames.append(self._piece(p + pos, take))
                        pos += take
                    if self.rem:
                        return frames
                    break
                if pos == n:
                    return frames
                take = n - pos
                if need - self.buf_len < take:
                    take = need - self.buf_len
                self._reserve(self.buf_len + take)
                memcpy(self.buf + self.buf_len, p + pos, take)
                self.buf_len += take
                pos += take
            # Then parse straight from ``data``, many frames per C call.
            while True:
                count = wsf_parse_frames(p + pos, n - pos, &self.cfg, infos, BATCH, &consumed, &need, &err)
                for i in range(count):
                    frames.append(self._item(p + pos, &infos[i]))
                pos += consumed
                if err.code:
                    self._fail(&err, frames)
                if count < BATCH:
                    break
            if pos < n and self._start_stream(p + pos, n - pos, frames):
                pos = n
            if pos < n:
                self._reserve(n - pos)
                memcpy(self.buf, p + pos, n - pos)
                self.buf_len = n - pos
        finally:
            self.busy = False
            if release:
                PyBuffer_Release(&dv)
        return frames


# Random masking keys, drawn from os.urandom in batches: one system call per
# 1024 client frames instead of one per frame.
cdef uint8_t _pool[4096]
cdef size_t _pool_left = 0


cdef inline int _random_key(uint8_t *key) except -1:
    global _pool_left
    if _pool_left < 4:
        _refill_pool()
    _pool_left -= 4
    memcpy(key, _pool + _pool_left, 4)
    return 0


cdef int _refill_pool() except -1:
    global _pool_left
    fresh = os.urandom(sizeof(_pool))
    memcpy(_pool, PyBytes_AS_STRING(fresh), sizeof(_pool))
    _pool_left = sizeof(_pool)
    return 0


cdef inline int _frame_b0(object opcode, bint fin, bint rsv1, bint rsv2, bint rsv3, size_t n) except -1:
    cdef long op
    if not isinstance(opcode, int):
        raise TypeError(f"opcode must be an int, not {type(opcode).__name__}")
    try:
        op = opcode
    except OverflowError:
        op = -1
    if op < 0 or op > 0xA or 3 <= op <= 7:
        raise ValueError(f"invalid opcode {opcode!r}")
    if op >= 8:
        if n > 125:
            raise ValueError(f"control frame payload of {n} bytes exceeds 125")
        if not fin:
            raise ValueError("control frames cannot be fragmented")
    return <int>op | (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)


cdef inline int _frame_key(bint client, object mask, uint8_t *key) except -1:
    """1 when the frame is masked (key filled), else 0."""
    if mask is not None:
        _get_key(mask, key)
        return 1
    if client:
        _random_key(key)
        return 1
    return 0


cdef inline void _write(uint8_t *dst, int b0, const uint8_t *src, size_t n, int masked, const uint8_t *key) noexcept:
    cdef size_t h = wsf_write_header(dst, <uint8_t>b0, n, key if masked else NULL)
    if masked:
        _mask_copy(dst + h, src, n, key, 0)
    else:
        memcpy(dst + h, src, n)


def build_frame(opcode, payload=b"", *, bint fin=True, bint rsv1=False, bint rsv2=False, bint rsv3=False,
                bint client=False, mask=None):
    """Build one frame: unmasked for a server, masked (given or random key) for
    a client. Header and payload go into one allocation. A str payload is
    sent as its UTF-8 encoding."""
    cdef Py_buffer dv
    cdef uint8_t key[4]
    cdef int b0, masked
    cdef size_t n
    payload = _text_payload(payload)
    cdef bint release = _acquire_payload(payload, &dv)
    try:
        n = <size_t>dv.len
        b0 = _frame_b0(opcode, fin, rsv1, rsv2, rsv3, n)
        masked = _frame_key(client, mask, key)
        out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>(wsf_header_len(n, masked) + n))
        _write(<uint8_t *>PyBytes_AS_STRING(out), b0, <const uint8_t *>dv.buf, n, masked, key)
    finally:
        if release:
            PyBuffer_Release(&dv)
    return out


def write_frame(out, opcode, payload=b"", *, bint fin=True, bint rsv1=False, bint rsv2=False, bint rsv3=False,
                bint client=False, mask=None):
    """Append one frame to the bytearray ``out`` (same arguments as build_frame)."""
    cdef Py_buffer dv
    cdef uint8_t key[4]
    cdef int b0, masked
    cdef size_t n
    cdef Py_ssize_t start
    cdef Py_buffer ov
    if not isinstance(out, bytearray):
        raise TypeError("write_frame needs a bytearray")
    payload = _text_payload(payload)
    cdef bint release = _acquire_payload(payload, &dv)
    try:
        n = <size_t>dv.len
        b0 = _frame_b0(opcode, fin, rsv1, rsv2, rsv3, n)
        masked = _frame_key(client, mask, key)
        start = PyByteArray_GET_SIZE(out)
        if out is payload:
            raise ValueError("write_frame cannot append a buffer to itself")
        PyByteArray_Resize(out, start + <Py_ssize_t>(wsf_header_len(n, masked) + n))
        if masked and n >= GIL_RELEASE_MIN:
            # Masking releases the GIL: pin ``out`` with a buffer export so no
            # other thread can resize (and free) it meanwhile.
            PyObject_GetBuffer(out, &ov, PyBUF_WRITABLE)
            try:
                _write(<uint8_t *>ov.buf + start, b0, <const uint8_t *>dv.buf, n, masked, key)
            finally:
                PyBuffer_Release(&ov)
        else:
            _write(<uint8_t *>PyByteArray_AS_STRING(out) + start, b0, <const uint8_t *>dv.buf, n, masked, key)
    finally:
        if release:
            PyBuffer_Release(&dv)
