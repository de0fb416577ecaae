# Types for compiling wsframe/_parser.py into wsframe._parser_c (Cython's
# "augmenting .pxd"): the hot attributes and locals become C values, the
# parser's helper methods C functions, and the kernels the C ones of
# wsframe._speedups. The logic itself is only in _parser.py.

cimport cython
from wsframe._speedups cimport as_bytes, decode_text, unmask_slice


cdef class Event:
    pass


# Message events hold only a str or bytes, so they cannot be part of a
# reference cycle: no_gc keeps them out of the garbage collector's lists.
@cython.no_gc
cdef class TextMessage(Event):
    cdef readonly str data


@cython.no_gc
cdef class BinaryMessage(Event):
    cdef readonly bytes data


@cython.final
@cython.freelist(256)
cdef class Frame:
    cdef public int opcode
    cdef public bytes payload
    cdef public bint fin, rsv1, rsv2, rsv3


@cython.locals(f=Frame)
cdef Frame _new_frame(int opcode, bytes payload, int b0, bint fin)


@cython.final
cdef class FrameParser:
    cdef bint _server, _stream, _messages, _busy, _fin, _sequence
    cdef object _limit
    cdef long long _cap
    cdef int _allowed_rsv
    cdef object _frag_limit
    cdef long long _frag_cap
    cdef long long _frags
    cdef bytearray _buf
    cdef object _error
    cdef long long _rem
    cdef bytes _key
    cdef Py_ssize_t _phase
    cdef int _piece_b0

    @cython.locals(pos=Py_ssize_t, take=Py_ssize_t)
    cdef list _feed(self, bytes data, Py_ssize_t n)

    @cython.locals(avail=Py_ssize_t, b0=int, b1=int, op=int, length="long long", hlen=Py_ssize_t, i=Py_ssize_t)
    cdef inline (Py_ssize_t, long long) _header(self, const unsigned char *p, Py_ssize_t pos, Py_ssize_t n) noexcept

    @cython.locals(hlen=Py_ssize_t, length="long long", b0=int)
    cdef Py_ssize_t _parse(self, const unsigned char *p, Py_ssize_t pos, Py_ssize_t n, list frames) except -1

    @cython.locals(buf=bytearray, m=Py_ssize_t, hlen=Py_ssize_t, length="long long", want="long long",
                   take=Py_ssize_t, whole=bytes, chunk=bytes)
    cdef Py_ssize_t _pending(self, bytes data, Py_ssize_t pos, Py_ssize_t n, list frames) except -1

    cdef int _start_stream(self, const unsigned char *p, Py_ssize_t start, long long length, int b0) except -1

    @cython.locals(payload=bytes, b0=int, fin=bint)
    cdef Frame _piece(self, const unsigned char *p, Py_ssize_t start, Py_ssize_t n)

    cdef void _track(self, int opcode, bint fin) noexcept

    @cython.locals(op=int, fin=bint, tm=TextMessage, bm=BinaryMessage, payload=bytes)
    cdef object _item(self, const unsigned char *p, Py_ssize_t start, Py_ssize_t length, int b0)

    @cython.locals(limit=object)
    cdef int _fail(self, int err, int b0, long long length, list frames) except -1
