"""Non-blocking socket reads and writes for the selectors transport, pure Python: the socket's own methods.

The compiled transport (wsframe.server._transport_c) cimports the C twins of
the socket functions from wsframe.server._sockio (``recv``/``send`` on the
descriptor, without the socket method's argument parsing and GIL round trip;
the socket methods on Windows), and :func:`poll_ready` (``epoll_wait`` on
Linux). They raise what the socket and poller methods raise.
"""

from __future__ import annotations

import select
from typing import Any, List, Tuple, Union

__all__ = ["sock_recv", "sock_send", "poll_ready", "epoll_fd"]


def sock_recv(sock: Any, fd: int, buf: bytearray, view: memoryview) -> Union[bytes, memoryview]:
    """Read what is there into ``buf`` (``view`` is a memoryview of it); the bytes read, as a
    view of ``buf`` (the C twin copies a short read into a bytes object: cheaper than a
    view); empty at end of stream. Valid until the next read into ``buf``."""
    n = sock.recv_into(view)
    return view[:n]


def sock_send(sock: Any, fd: int, data: Union[bytes, bytearray]) -> int:
    """Write what the kernel takes of ``data``; the number of bytes."""
    return sock.send(data)


def poll_ready(poller: Any, epfd: int, timeout: float) -> List[Tuple[int, int]]:
    """The ready ``(fd, event bits)`` pairs: ``poller.poll(timeout)`` (``epfd``: the poller's
    epoll descriptor for the C twin, or -1)."""
    return poller.poll(timeout)


def epoll_fd(poller: Any) -> int:
    """The descriptor of ``poller`` when it is a ``select.epoll`` (the C :func:`poll_ready`
    then calls ``epoll_wait`` on it), else -1 (the selectors fallback: its ``poll``)."""
    epoll = getattr(select, "epoll", None)
    return poller.fileno() if epoll is not None and type(poller) is epoll else -1
