"""The blocking client's background reader: the one thread that reads the socket.

It feeds what arrives to the sans-I/O protocol, queues messages for
``recv()``, sets ping waiters when pongs arrive and writes the protocol's own
answers (pongs, close frames) without ever waiting on a writer. It stops
reading while the message queue is full (backpressure: the peer's output then
backs up in TCP) and while a peer error waits behind undelivered messages
(``failure_pending``: ``recv()`` applies it once the application has taken
those messages, or this thread does after the driver's grace period). After the
closing handshake it keeps reading until the server drops TCP, for at most
``close_timeout``, then releases the socket.

It works on the internals of :class:`wsframe.client.ClientWebSocket`; every
shared attribute is read and written with ``ws._lock`` held.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Optional

from .connection import State

if TYPE_CHECKING:  # pragma: no cover
    from .client import ClientWebSocket

__all__ = ["run_reader"]

READ_SIZE = 256 * 1024


def run_reader(ws: "ClientWebSocket") -> None:
    """The reader thread's body: returns when the connection is over and the socket released."""
    error: Optional[BaseException] = None
    try:
        _loop(ws)
    except OSError as exc:  # the transport failed
        error = exc
    except BaseException as exc:  # a bug: fail the connection rather than hang recv()
        error = exc
    finally:
        ws._reader_exit(error)


def _loop(ws: "ClientWebSocket") -> None:
    buf = bytearray(READ_SIZE)
    view = memoryview(buf)
    io = ws._io
    out = ws._out
    conn = ws.conn
    lock = ws._lock
    cond = ws._reader_cond
    while True:
        with lock:
            while True:  # wait until reading makes sense
                if ws._aborted:
                    return
                if conn.failure_pending:
                    left = ws._failure_deadline - time.monotonic()
                    if left <= 0:  # the application never took the messages before the error
                        ws._drv.answered()
                        ws._after_protocol()
                        continue
                    cond.wait(left)
                    continue
                if ws._paused and conn.state is State.OPEN:
                    cond.wait()
                    continue
                break
            linger: Optional[float] = None
            if ws._closed is not None and ws.close_timeout is not None:
                linger = ws._closed_at + ws.close_timeout - time.monotonic()
                if linger <= 0:
                    return  # the server did not drop TCP in time
            shut_write = conn.state is State.CLOSED and conn.should_close_transport and not out.pending
        if shut_write and not ws._write_shut:
            ws._write_shut = True
            io.shutdown(socket.SHUT_WR)  # our close frame is out: tell the server we are done
        out.try_flush()
        with lock:
            want_write = out.pending and not out.writing
        if not io.pending() and not io.wait(True, want_write, linger):
            continue
        n = io.recv_into(buf)
        if n is None:
            continue
        with lock:
            if n:
                conn.receive_data(view[:n])
            else:
                conn.receive_eof()
            ws._after_protocol()
        if not n:
            out.try_flush()
            return
