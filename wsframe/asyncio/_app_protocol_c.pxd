# Types for compiling wsframe/asyncio/app_protocol.py into
# wsframe.asyncio._app_protocol_c: the callback API's connection core extends
# the compiled transport driver's (cimported, so its C fields are shared) and
# keeps its per-read state in C fields. ``server`` stays an ordinary attribute
# (the shared ws handle reads it on every send). The logic is only in
# app_protocol.py; the public AppProtocol is the Python class over this core.

from wsframe.asyncio._protocol_c cimport _ProtocolCore


cdef class _AppCore(_ProtocolCore):
    cdef public object app, _on_message, ws, opened_at, close_code, close_reason
    cdef public bint dirty, _overflow, _notified
