# Types for compiling wsframe/asyncio/connection.py into
# wsframe.asyncio._connection_c: the WebSocket's core extends the compiled
# transport driver's (cimported, so its C fields are shared), and the
# per-message state (queue, waiter, batch) is C fields too. The logic is only
# in connection.py; the public WebSocket is the Python class over this core.

from wsframe.asyncio._protocol_c cimport _ProtocolCore


cdef class _WebSocketCore(_ProtocolCore):
    cdef public object _messages, _waiter, _flush_handle, _closed_exc, _pings, _sent_close, _keepalive
    cdef public bint _iter_waiter
    cdef public Py_ssize_t _qbytes, _unsent, _high, _low
