"""The listening socket: bind, accept new connections (TLS-wrapped for wss://,
HTTP 503 past ``max_connections``), back off when out of file descriptors, and
drive TLS handshakes."""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any, Dict, Optional, Set

from ..connection import ServerConnection
from .app import PHASE_OPENING, PHASE_TLS, ServerWebSocket, format_address
from .poller import EV_READ
from .tls import TLS_DONE, TLS_FAILED, tls_handshake_step

if TYPE_CHECKING:  # pragma: no cover
    # In Acceptor's body the name socket is its attribute, not the module.
    from socket import socket as Socket

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
    """Accepting connections, as a part of :class:`wsframe.server.Server`."""

    # Set by Server.__init__.
    socket: socket.socket
    ssl_context: Optional[ssl.SSLContext]
    max_connections: int
    _poller: Any
    _conn_kwargs: Dict[str, Any]
    _conns: Dict[int, ServerWebSocket]
    _ready: Set[ServerWebSocket]
    _now: float
    _n_overflow: int
    _listening: bool
    _accept_paused: bool
    _accept_resume_at: float
    _accept_backoff: float
    # From ConnectionIO.
    _kill: Any
    _set_interest: Any

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                if self._accept_backoff:  # caught up with the backlog: the episode is over
                    self._accept_backoff = 0.0
                    logger.info("accepting connections again")
                return
            except OSError as exc:
                if exc.errno in _FD_EXHAUSTED:
                    self._pause_accepting(exc)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            self._add_connection(sock, addr)

    def _pause_accepting(self, exc: OSError) -> None:
        """Out of file descriptors (or kernel memory): stop watching the
        listening socket for a while instead of spinning on it. One warning per
        episode; accepting resumes after the back-off or when a connection closes."""
        if not self._accept_backoff:
            self._accept_backoff = ACCEPT_BACKOFF_FIRST
            logger.warning("cannot accept connections: %s; pausing accept (%d connection(s) open), retrying"
                           " after a back-off of %.1f to %.1f s or when a connection closes",
                           exc.strerror or exc, len(self._conns), ACCEPT_BACKOFF_FIRST, ACCEPT_BACKOFF_MAX)
        else:
            self._accept_backoff = min(self._accept_backoff * 2, ACCEPT_BACKOFF_MAX)
        self._accept_resume_at = time.monotonic() + self._accept_backoff
        if not self._accept_paused and self._listening:
            self._accept_paused = True
            try:
                self._poller.unregister(self.socket.fileno())
            except (KeyError, ValueError, OSError):  # pragma: no cover
                pass

    def _resume_accepting(self) -> None:
        if self._accept_paused:
            self._accept_paused = False
            if self._listening:
                self._poller.register(self.socket.fileno(), EV_READ)
                self._accept()

    def _add_connection(self, sock: Socket, addr: Any) -> None:
        overflow = len(self._conns) - self._n_overflow >= self.max_connections
        if overflow and self._n_overflow >= 16 + self.max_connections // 16:
            sock.close()  # too many already waiting for their 503
            return
        sock.setblocking(False)
        if sock.family != socket.AF_UNIX:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        phase = PHASE_OPENING
        if self.ssl_context is not None:
            try:
                sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError) as exc:
                logger.debug("TLS wrap failed for %s: %s", format_address(addr), exc)
                sock.close()
                return
            phase = PHASE_TLS
        kwargs = self._conn_kwargs
        if overflow:
            kwargs = dict(kwargs, auto_accept=False)
        conn = ServerConnection(**kwargs)
        c = ServerWebSocket(self, sock, addr, conn, self._now, phase, overflow)  # type: ignore[arg-type]
        if overflow:
            self._n_overflow += 1
        self._conns[c.fd] = c
        c.interest = EV_READ
        self._poller.register(c.fd, EV_READ)
        if phase == PHASE_TLS:
            self._tls_handshake(c)

    def _tls_handshake(self, c: ServerWebSocket) -> None:
        result, exc = tls_handshake_step(c.sock)  # type: ignore[arg-type]
        if result == TLS_FAILED:
            logger.debug("TLS handshake with %s failed: %s", format_address(c.remote_address), exc)
            self._kill(c)
        elif result == TLS_DONE:
            c.phase = PHASE_OPENING
            self._set_interest(c, EV_READ)
            if c.sock.pending():  # type: ignore[attr-defined]
                self._ready.add(c)
        else:
            self._set_interest(c, result)
