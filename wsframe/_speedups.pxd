# The C kernels the frame parser (wsframe/_parser.py, compiled with
# _parser_c.pxd) calls; their pure-Python twins are in wsframe/_kernels_py.py.
# unmask_slice and decode_text are inline: compiled into the parser's own
# code, they call across modules only the two exported kernels below, so a
# small message costs one indirect call, as when the parser lived in this
# module.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeUTF8

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)


# dst[i] = src[i] ^ key[(i + phase) % 4] (csrc's wsf_mask; without the GIL
# for large sizes).
cdef void mask_copy(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char *key,
                    size_t phase) noexcept

# mask_copy with phase 0, then: 1 when every byte written is ASCII.
cdef bint mask_ascii(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char *key) noexcept


cdef inline bytes unmask_slice(const unsigned char *src, Py_ssize_t start, Py_ssize_t n, const unsigned char *key,
                               Py_ssize_t kpos, Py_ssize_t phase):
    """src[start:start + n] XORed with the 4-byte key at key[kpos:], starting
    at position ``phase`` (0-3) of the mask cycle."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
    mask_copy(<unsigned char *>PyBytes_AS_STRING(out), src + start, <size_t>n, key + kpos, <size_t>phase)
    return out


cdef inline object decode_text(const unsigned char *src, Py_ssize_t start, Py_ssize_t n, bint masked):
    """src[start:start + n], unmasked with the key in the 4 bytes before it
    when ``masked``, decoded as str; None when it is not valid UTF-8. Masked
    ASCII text is unmasked straight into the new str: one copy, no bytes."""
    cdef object s
    cdef unsigned char *data
    cdef const unsigned char *p = src + start
    if masked:
        if n == 0:
            return ""
        s = PyUnicode_New(n, 127)
        data = <unsigned char *>PyUnicode_DATA(s)
        if mask_ascii(data, p, <size_t>n, p - 4):
            return s
        p = data
    try:
        return PyUnicode_DecodeUTF8(<const char *>p, n, "strict")
    except UnicodeDecodeError:
        return None


# write_frame(out, opcode, payload, client=client) for one whole frame (FIN,
# no RSV bit), and the same frame as new bytes: the connection's send path
# (wsframe/_session.py, compiled with _session_c.pxd) calls them directly.
cpdef write_data(out, opcode, payload, bint client)
cpdef bytes frame_data(opcode, payload, bint client)

# A new empty output buffer, without calling the bytearray type (the
# session's data_to_send); its pure-Python twin is bytearray itself.
cpdef bytearray new_buffer()

# The bytes of any C-contiguous bytes-like object: the parser's input
# (a memoryview of a server's read buffer becomes one bytes copy, in C).
cpdef bytes as_bytes(data)
