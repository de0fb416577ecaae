"""Type stubs of wsframe.server._transport_c: wsframe/server/transport.py compiled by Cython,
with the same API (the annotated source is the reference)."""

from .transport import Transport as Transport

__all__ = ["Transport"]
