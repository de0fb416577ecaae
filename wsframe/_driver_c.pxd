# Types for compiling wsframe/_driver.py into wsframe._driver_c (the augmenting
# .pxd, as _session_c.pxd does for the session): the driver is an extension type
# whose attributes are C fields, so that the compiled selectors transport
# (wsframe.server._transport_c), which extends it, reads and writes them as C
# fields on its per-message path. The logic is only in _driver.py.

cdef class Driver:
    cdef public object conn, limits, coalesce_bytes
    cdef public double created_at, last_recv, ping_sent_at, closing_since, drain_since, msg_since
    cdef public double stalled_since, failure_since
    cdef public Py_ssize_t drained
    cdef public bint active, got_message, reading_paused
