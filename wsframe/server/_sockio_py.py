"""Non-blocking socket reads and writes for the selectors transport, pure Python: the socket's own methods.

The compiled transport (wsframe.server._transport_c) cimports the C twins of
these two functions from wsframe.server._sockio (``recv``/``send`` on the
descriptor, without the socket method's argument parsing and GIL round trip;
the socket methods on Windows). Both raise what the socket methods raise.
"""

from __future__ import annotations

from typing import Any, Union

__all__ = ["sock_recv_into", "sock_send"]


def sock_recv_into(sock: Any, fd: int, buf: bytearray) -> int:
    """Read what is there into ``buf``; the number of bytes (0: end of stream)."""
    return sock.recv_into(buf)


def sock_send(sock: Any, fd: int, data: Union[bytes, bytearray]) -> int:
    """Write what the kernel takes of ``data``; the number of bytes."""
    return sock.send(data)
