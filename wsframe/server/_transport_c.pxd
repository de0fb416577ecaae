# Types for compiling wsframe/server/transport.py into wsframe.server._transport_c:
# the transport is an extension type on the compiled driver (wsframe._driver_c),
# with C fields, and the methods the loop calls per event are cpdef (a C call from
# the compiled loop, wsframe.server._pump_c). The logic is only in transport.py.

from wsframe._driver_c cimport Driver


cdef class Transport(Driver):
    cdef public object server, sock, ws, out, close_code, close_reason
    cdef public Py_ssize_t fd  # (a SOCKET handle on Windows: wider than an int)
    cdef public int phase, interest
    cdef public bint plain, paused, eof, overflow, notified, dirty
    cdef public double opened_at

    cpdef on_readable(self)
    cpdef after_io(self)
    cpdef flush(self)
    cpdef _dispatch(self, object evs)
    cpdef _update_interest(self)


# recv/send on the descriptor: C calls, not the socket methods.
from wsframe.server._sockio cimport sock_recv, sock_send
