# Types for compiling wsframe/_upgrade.py into wsframe._upgrade_c: the two
# handshake classes extend the compiled session (cimported, so that they are
# extension types with its C fields). The logic is only in _upgrade.py.

from wsframe._session_c cimport Session


cdef class _Upgrade(Session):
    cdef public object request, response
    cdef object _head
    cdef Py_ssize_t _max_header_size, _max_headers
    cdef list _subprotocols, _ext_factories


cdef class ServerConnection(_Upgrade):
    cdef object _allowed_origins, _key
    cdef bytearray _early
    cdef bint _auto_accept, _answered


cdef class ClientConnection(_Upgrade):
    cdef object _key
