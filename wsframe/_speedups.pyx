# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, embedsignature=True, binding=False, always_allow_keywords=False, freethreading_compatible=True
"""The C kernels of the codec (bindings to csrc/): masking, UTF-8, frame
building, and the kernels the frame parser calls (mask_copy and
mask_ascii, under the inline unmask_slice and decode_text of _speedups.pxd). The parser itself is
wsframe/_parser.py, compiled to wsframe._parser_c. The pure-Python twin of
these kernels is wsframe/_codec_py.py (+ _kernels_py.py); both give the same
results and errors byte for byte."""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport (PyByteArray_AS_STRING, PyByteArray_CheckExact, PyByteArray_FromStringAndSize,
                                PyByteArray_GET_SIZE, PyByteArray_Resize)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    bint PyUnicode_Check(object o)
    bint PyUnicode_CheckExact(object o)
    bint PyLong_CheckExact(object o)
    long PyLong_AsLongAndOverflow(object o, int *overflow) except? -1
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

import os

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
    size_t wsf_write_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *key)
    size_t wsf_header_len(uint64_t len, int masked)

wsf_init()

# Above this size the GIL is released around masking and validation.
DEF GIL_RELEASE_MIN = 65536

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


cpdef bytes as_bytes(data):
    """The bytes of any C-contiguous bytes-like object (TypeError otherwise):
    the frame parser's input. Compiled, the parser calls it in C."""
    cdef Py_buffer dv
    if PyBytes_CheckExact(data):
        return <bytes>data
    PyObject_GetBuffer(data, &dv, PyBUF_SIMPLE)
    try:
        return PyBytes_FromStringAndSize(<char *>dv.buf, dv.len)
    finally:
        PyBuffer_Release(&dv)


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
        """True when the text so far is valid and ends on a code-point
        boundary (False once it is invalid)."""
        return self.error < 0 and self.st.need == 0

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


cdef void mask_copy(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char *key,
                    size_t phase) noexcept:
    """Parser kernel (see _speedups.pxd, whose inline unmask_slice calls it)."""
    _mask_copy(dst, src, n, key, phase)


cdef bint mask_ascii(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char *key) noexcept:
    """Parser kernel (see decode_text in _speedups.pxd)."""
    _mask_copy(dst, src, n, key, 0)
    return wsf_ascii(dst, n) != 0


# Random masking keys, drawn from os.urandom in batches: one system call per
# 1024 client frames instead of one per frame. The pool is module state shared
# by every thread: under the GIL, taking a key (pure C, no Python call) is
# atomic; without it (free-threaded builds) a PyMutex guards the counter and
# the buffer, so two threads never take the same key and the counter never
# runs past the buffer. Fresh bytes are drawn outside the lock.
cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    static PyMutex wsf_pool_mutex;
    #define WSF_POOL_LOCK() PyMutex_Lock(&wsf_pool_mutex)
    #define WSF_POOL_UNLOCK() PyMutex_Unlock(&wsf_pool_mutex)
    #else
    #define WSF_POOL_LOCK() ((void)0)
    #define WSF_POOL_UNLOCK() ((void)0)
    #endif
    """
    void WSF_POOL_LOCK() nogil
    void WSF_POOL_UNLOCK() nogil

cdef uint8_t _pool[4096]
cdef size_t _pool_left = 0


cdef inline bint _take_key(uint8_t *key) noexcept:
    """Take 4 bytes from the pool; False when it holds fewer (refill, retry)."""
    global _pool_left
    cdef bint ok = False
    WSF_POOL_LOCK()
    if _pool_left >= 4:
        _pool_left -= 4
        memcpy(key, _pool + _pool_left, 4)
        ok = True
    WSF_POOL_UNLOCK()
    return ok


cdef inline int _random_key(uint8_t *key) except -1:
    while not _take_key(key):
        _refill_pool()
    return 0


cdef int _refill_pool() except -1:
    global _pool_left
    fresh = os.urandom(sizeof(_pool))
    WSF_POOL_LOCK()
    if _pool_left < 4:  # another thread may have refilled it meanwhile
        memcpy(_pool, PyBytes_AS_STRING(fresh), sizeof(_pool))
        _pool_left = sizeof(_pool)
    WSF_POOL_UNLOCK()
    return 0


def _pool_state():
    """(keys left in the pool, pool size in keys): for the thread tests."""
    return _pool_left // 4, sizeof(_pool) // 4


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
    cdef size_t h
    if n < 126 and not masked:  # the small server frame: a two-byte header, written here
        dst[0] = <uint8_t>b0
        dst[1] = <uint8_t>n
        memcpy(dst + 2, src, n)
        return
    h = wsf_write_header(dst, <uint8_t>b0, n, key if masked else NULL)
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
    _append_frame(out, opcode, payload, fin, rsv1, rsv2, rsv3, client, mask)


cpdef bytearray new_buffer():
    """A new empty bytearray (the C call behind the session's data_to_send)."""
    return PyByteArray_FromStringAndSize(NULL, 0)


cdef inline Py_ssize_t _plain_payload(object payload, const uint8_t **src) noexcept:
    """The length of a bytes or ASCII str payload, whose data is read in place
    (``src``); -1 for any other object (the general path handles it)."""
    if PyBytes_CheckExact(payload):
        src[0] = <const uint8_t *>PyBytes_AS_STRING(payload)
        return PyBytes_GET_SIZE(payload)
    if PyUnicode_CheckExact(payload) and PyUnicode_IS_ASCII(payload):
        src[0] = <const uint8_t *>PyUnicode_DATA(payload)
        return PyUnicode_GET_LENGTH(payload)
    return -1


cdef inline int _data_op(object opcode) noexcept:
    """TEXT or BINARY as a C int when ``opcode`` is exactly that int, else 0."""
    cdef long op
    cdef int overflow = 0
    if not PyLong_CheckExact(opcode):
        return 0
    # An exact int cannot fail to convert; one past a C long only overflows
    # (noexcept: a raised OverflowError would be printed and swallowed).
    op = PyLong_AsLongAndOverflow(opcode, &overflow)
    return <int>op if not overflow and (op == 1 or op == 2) else 0


cpdef write_data(out, opcode, payload, bint client):
    """write_frame(out, opcode, payload, client=client): one whole frame
    (FIN set, no RSV bit). The connection's send path calls it from C (it is
    cimported by _session_c.pxd): no argument parsing per message, and a
    small text or binary message costs one resize of ``out`` and one copy."""
    cdef const uint8_t *src = NULL
    cdef uint8_t key[4]
    cdef Py_ssize_t n, start
    cdef int op = _data_op(opcode)
    if op and PyByteArray_CheckExact(out):
        n = _plain_payload(payload, &src)
        if 0 <= n < GIL_RELEASE_MIN:
            if client:
                _random_key(key)
            start = PyByteArray_GET_SIZE(out)
            PyByteArray_Resize(out, start + <Py_ssize_t>(wsf_header_len(<size_t>n, client) + <size_t>n))
            _write(<uint8_t *>PyByteArray_AS_STRING(out) + start, op | 0x80, src, <size_t>n, client, key)
            return
    _append_frame(out, opcode, payload, True, False, False, False, client, None)


cpdef bytes frame_data(opcode, payload, bint client):
    """build_frame(opcode, payload, client=client) for one whole frame (FIN
    set, no RSV bit), as write_data builds it: the frame in one new bytes
    object, for I/O layers that write each message at once (the connection's
    ``send_and_take``)."""
    cdef const uint8_t *src = NULL
    cdef uint8_t key[4]
    cdef Py_ssize_t n
    cdef bytes frame
    cdef int op = _data_op(opcode)
    if op:
        n = _plain_payload(payload, &src)
        if 0 <= n < GIL_RELEASE_MIN:
            if client:
                _random_key(key)
            frame = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>(wsf_header_len(<size_t>n, client) + <size_t>n))
            _write(<uint8_t *>PyBytes_AS_STRING(frame), op | 0x80, src, <size_t>n, client, key)
            return frame
    return build_frame(opcode, payload, client=client)


cdef int _append_frame(out, opcode, payload, bint fin, bint rsv1, bint rsv2, bint rsv3, bint client,
                       mask) except -1:
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
    return 0
