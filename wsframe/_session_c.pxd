# Types for compiling wsframe/_session.py into wsframe._session_c (Cython's
# "augmenting .pxd", as _parser_c.pxd does for the parser): the session is an
# extension type whose attributes are C fields, so the per-message methods
# (send_*, data_to_send, receive_data, events) cost a C call instead of a
# Python one. The logic is only in _session.py. wsframe._upgrade_c cimports
# Session to extend it with the opening handshakes.

cimport cython


cdef class Session:
    cdef public object state
    cdef public bint should_close_transport
    cdef public object close_code, close_reason, subprotocol, extensions
    cdef public bint hold_failures
    cdef readonly bint _client
    cdef bint _auto_pong, _stream, _plain, _close_sent
    cdef list _events
    cdef bytearray _out
    cdef bytes _first
    cdef object _parser
    cdef object _max_message_size, _max_fragments, _pending_error
    cdef Py_ssize_t _mark, _msg_len
    cdef int _msg_op, _send_op
    cdef tuple _ext, _ext_rev
    cdef bytearray _msg_buf
    cdef object _utf8, _decoder

    cdef int _queue(self, object op, object data) except -1


# The send path's frame writers and its new output buffer: C calls, not Python ones.
from wsframe._speedups cimport frame_data, new_buffer, write_data
