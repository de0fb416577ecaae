"""The listening socket: bind, accept new connections, back off when out of file descriptors."""

from __future__ import annotations

import errno
import logging
import socket
import time
from typing import Any, Callable, Optional

from .poller import EV_READ

__all__ = ["Acceptor", "bind"]

logger = logging.getLogger("wsframe.server")

ACCEPTS_PER_EVENT = 64
ACCEPT_BACKOFF_FIRST = 0.1  # seconds without accepting after EMFILE/ENFILE; doubles ...
ACCEPT_BACKOFF_MAX = 1.0  # ... up to this
_FD_EXHAUSTED = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def bind(host: str, port: int, reuse_port: bool, backlog: int) -> socket.socket:
    """A listening TCP socket on host:port (the first address that works)."""
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                               socket.AI_PASSIVE)
    err: Optional[OSError] = None
    for family, type_, proto, _, addr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(addr)
            sock.listen(backlog)
            return sock
        except OSError as exc:
            sock.close()
            err = exc
    raise err or OSError(f"cannot bind {host}:{port}")


class Acceptor:
    """The listening socket of a server: accepts, and backs off when out of descriptors.

    Each accepted socket goes to ``on_accept(sock, addr)`` (the server adds it
    to its table). ``poller`` is the server's poller.
    """

    __slots__ = ("socket", "poller", "on_accept", "listening", "paused", "resume_at", "backoff", "count")

    def __init__(self, sock: socket.socket, poller: Any, on_accept: Callable[[Any, Any], None],
                 count: Callable[[], int]) -> None:
        self.socket = sock
        self.poller = poller
        self.on_accept = on_accept
        self.count = count  # open connections, for the log line
        self.listening = True
        self.paused = False
        self.resume_at = 0.0
        self.backoff = 0.0  # > 0 during an out-of-descriptors episode
        poller.register(sock.fileno(), EV_READ)

    def accept(self) -> None:
        """Accept what is waiting (a bounded number per call)."""
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                if self.backoff:  # caught up with the backlog: the episode is over
                    self.backoff = 0.0
                    logger.info("accepting connections again")
                return
            except OSError as exc:
                if exc.errno in _FD_EXHAUSTED:
                    self._pause(exc)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            self.on_accept(sock, addr)

    def _pause(self, exc: OSError) -> None:
        """Out of file descriptors (or kernel memory): stop watching the
        listening socket for a while instead of spinning on it. One warning per
        episode; accepting resumes after the back-off or when a connection closes."""
        if not self.backoff:
            self.backoff = ACCEPT_BACKOFF_FIRST
            logger.warning("cannot accept connections: %s; pausing accept (%d connection(s) open), retrying"
                           " after a back-off of %.1f to %.1f s or when a connection closes",
                           exc.strerror or exc, self.count(), ACCEPT_BACKOFF_FIRST, ACCEPT_BACKOFF_MAX)
        else:
            self.backoff = min(self.backoff * 2, ACCEPT_BACKOFF_MAX)
        self.resume_at = time.monotonic() + self.backoff
        if not self.paused and self.listening:
            self.paused = True
            try:
                self.poller.unregister(self.socket.fileno())
            except (KeyError, ValueError, OSError):  # pragma: no cover
                pass

    def resume(self) -> None:
        """Watch the listening socket again (the back-off is over)."""
        if self.paused:
            self.paused = False
            if self.listening:
                self.poller.register(self.socket.fileno(), EV_READ)
                self.accept()

    def retry_soon(self) -> None:
        """A descriptor was freed: a paused acceptor tries again at the next loop iteration."""
        if self.paused:
            self.resume_at = 0.0

    def stop(self) -> None:
        """Stop listening and close the socket."""
        if self.listening:
            self.listening = False
            if not self.paused:
                try:
                    self.poller.unregister(self.socket.fileno())
                except (KeyError, ValueError, OSError):
                    pass
            self.socket.close()
