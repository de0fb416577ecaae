"""The blocking client's socket: opening it, and non-blocking reads and writes that never wait.

Every call here returns at once (or waits in ``select`` for at most the time
given): the client's threads do their waiting outside every lock. The socket
is non-blocking once open. An SSL object must not be used by two threads at
the same instant, so each single TLS read or write is serialised by a lock
held only for that call (never while waiting); plain sockets need none.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from typing import ContextManager, Optional

__all__ = ["SocketIO", "open_socket"]

_HAS_POLL = hasattr(select, "poll")
_AGAIN = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def open_socket(
    host: str,
    port: int,
    *,
    secure: bool,
    ssl_context: Optional[ssl.SSLContext],
    cafile: Optional[str],
    deadline: Optional[float],
) -> socket.socket:
    """Connect TCP (and TLS for ``secure``) before ``deadline`` (monotonic; None: no limit).

    Returns a non-blocking socket with TCP_NODELAY. Raises OSError (including
    TimeoutError and ssl errors such as SSLCertVerificationError).
    """
    sock = socket.create_connection((host, port), timeout=_remaining(deadline))
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if secure:
            if ssl_context is None:
                ssl_context = ssl.create_default_context(cafile=cafile)
            sock.settimeout(_remaining(deadline))
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        sock.setblocking(False)
        return sock
    except BaseException:
        sock.close()
        raise


def _remaining(deadline: Optional[float]) -> Optional[float]:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("opening handshake timed out")
    return left


class SocketIO:
    """Non-blocking reads and writes on one socket, safe to call from a reader and a writer thread."""

    __slots__ = ("sock", "tls", "_guard", "_shut")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.tls = isinstance(sock, ssl.SSLSocket)
        self._guard: ContextManager = threading.Lock() if self.tls else contextlib.nullcontext()
        self._shut = False

    def recv_into(self, buf: bytearray) -> Optional[int]:
        """Read what is available: the byte count, 0 at end of stream, None when nothing is there yet.

        Raises OSError when the transport failed.
        """
        try:
            with self._guard:
                return self.sock.recv_into(buf)
        except _AGAIN:
            return None
        except ssl.SSLZeroReturnError:
            return 0

    def pending(self) -> bool:
        """True when TLS holds decrypted bytes that ``select`` cannot see."""
        if not self.tls:
            return False
        with self._guard:
            try:
                return self.sock.pending() > 0  # type: ignore[attr-defined]
            except (OSError, ValueError):
                return False

    def send(self, data: memoryview) -> int:
        """Write what the kernel takes now; 0 when it takes nothing. Raises OSError."""
        try:
            with self._guard:
                return self.sock.send(data)
        except _AGAIN:
            return 0

    def wait(self, read: bool, write: bool, timeout: Optional[float]) -> bool:
        """Wait up to ``timeout`` for readability and/or writability; True when ready.

        Uses ``poll`` where there is one (any descriptor number), else ``select``.
        """
        sock = self.sock
        try:
            if _HAS_POLL:
                poller = select.poll()
                poller.register(sock, (select.POLLIN if read else 0) | (select.POLLOUT if write else 0))
                return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000.0))
            r, w, _ = select.select([sock] if read else [], [sock] if write else [], [], timeout)
            return bool(r or w)
        except (OSError, ValueError):  # closed under us: let the next call report it
            return True

    def shutdown(self, how: int = socket.SHUT_RDWR) -> None:
        """Shut the TCP connection down (wakes any thread waiting on the socket).

        Goes around the TLS layer on purpose (``SSLSocket.shutdown`` would
        unwrap it while another thread may be mid-call).
        """
        if how == socket.SHUT_RDWR:
            if self._shut:
                return
            self._shut = True
        try:
            socket.socket.shutdown(self.sock, how)
        except OSError:
            pass

    def close(self) -> None:
        """Release the descriptor. Only once no thread uses the socket."""
        try:
            self.sock.close()
        except OSError:  # pragma: no cover
            pass
