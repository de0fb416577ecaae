# Types for compiling wsframe/asyncio/protocol.py into wsframe.asyncio._protocol_c
# (an augmenting .pxd, as wsframe/_session_c.pxd is for the session): the
# transport driver's core is an extension type whose attributes are C fields,
# so the per-read path costs C field reads instead of dictionary lookups. The
# logic is only in protocol.py; the public ConnectionProtocol (an
# asyncio.Protocol) is the Python class over this core.

# No __dict__ here: the Python subclasses get CPython's managed dict (and a
# __weakref__), whose attribute reads the interpreter specializes.
cdef class _ProtocolCore:
    cdef public object conn, options, transport, _loop, _drv, _drain_waiters, _lost_waiter, _ticker
    cdef public bint _server_side, _write_paused, _reading_paused, _lost, _closing_transport
    cdef public bint _draining, _discard, _eof
