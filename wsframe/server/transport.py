"""Moving bytes between sockets and connections: read, dispatch to the
application, write, backpressure, and closing sockets.

:class:`ConnectionIO` is the part of :class:`wsframe.server.Server` that works
on one open connection at a time; accepting is in :mod:`wsframe.server.accept`,
the event loop, configuration and the public API in :mod:`wsframe.server.loop`.

What keeps it fast: one ``recv`` per readiness report and connection (fair: a
busy peer cannot starve the others) into one receive buffer shared by the whole
server (fed to the connection as a memoryview, no copy); every event of the read
dispatched; every frame the application sent meanwhile already written into the
connection's output buffer by ``ws.send``; then that buffer is taken and sent
with one ``send`` call. No ``epoll_ctl`` unless the interest really changes.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Set

from .. import events as _ev
from ..connection import State
from ..enums import CloseCode
from ..exceptions import ConnectionStateError
from .app import PHASE_DEAD, PHASE_DRAIN, PHASE_OPEN, PHASE_OPENING, PHASE_TLS, ServerWebSocket, format_address
from .poller import EV_BOTH, EV_READ, EV_WRITE
from .tls import WANT_IO

__all__ = ["ConnectionIO", "RECV_SIZE"]

logger = logging.getLogger("wsframe.server")

RECV_SIZE = 256 * 1024  # the one receive buffer
SSL_READS_PER_EVENT = 16  # TLS records are 16 KiB: read a few per wake-up
OVERFLOW_BODY = "server is at its connection limit"
_SEND_AGAIN = (BlockingIOError, InterruptedError) + WANT_IO

# Hot-path aliases (module globals are cheaper than attribute lookups).
_STATE_OPEN = State.OPEN
_STATE_CLOSED = State.CLOSED
_INTERNAL_ERROR = int(CloseCode.INTERNAL_ERROR)
_TextMessage = _ev.TextMessage
_BinaryMessage = _ev.BinaryMessage
_Connected = _ev.Connected
_Ping = _ev.Ping
_Pong = _ev.Pong
_CloseReceived = _ev.CloseReceived
_Closed = _ev.Closed
_Request = _ev.Request
_Rejected = _ev.Rejected
_Fragment = _ev.Fragment

if TYPE_CHECKING:  # pragma: no cover
    from .app import Application


class ConnectionIO:
    """Per-connection I/O of the server (see the module docstring)."""

    # Set by Server.__init__.
    app: "Application"
    ssl_context: Optional[ssl.SSLContext]
    high_water: int
    low_water: int
    keep_request: bool
    _poller: Any
    _conns: Dict[int, ServerWebSocket]
    _dirty: List[ServerWebSocket]
    _ready: Set[ServerWebSocket]
    _view: memoryview
    _now: float
    _n_overflow: int
    _accept_paused: bool
    _accept_resume_at: float
    _on_message: Callable[[ServerWebSocket, Any], None]
    _pubsub: Any
    # From Acceptor.
    _tls_handshake: Callable[[ServerWebSocket], None]

    # -- reading -----------------------------------------------------------------

    def _on_readable(self, c: ServerWebSocket) -> None:
        phase = c.phase
        if (phase != PHASE_OPEN and phase != PHASE_OPENING) or c.paused or self.ssl_context is not None:
            self._on_readable_slow(c)
            return
        # The hot path: one recv, fed as a view of the shared buffer, then
        # dispatch and one send (_after_io).
        try:
            n = c.sock.recv_into(self._view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            logger.debug("recv from %s failed: %s", format_address(c.remote_address), exc)
            self._kill(c)
            return
        if n:
            c.conn.receive_data(self._view[:n])
            c.last_recv = self._now
            c.ping_sent_at = 0.0
        else:
            c.eof = True
            c.conn.receive_eof()
        self._after_io(c)

    def _on_readable_slow(self, c: ServerWebSocket) -> None:
        """TLS, handshakes in progress, paused and draining connections."""
        phase = c.phase
        if phase == PHASE_DEAD:
            return
        if phase == PHASE_TLS:
            self._tls_handshake(c)
            return
        if c.paused:
            return
        if phase == PHASE_DRAIN:
            self._drain_input(c)
            return
        sock = c.sock
        view = self._view
        conn = c.conn
        reads = SSL_READS_PER_EVENT if self.ssl_context is not None else 1
        got = False
        for _ in range(reads):
            try:
                n = sock.recv_into(view)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                break
            except ssl.SSLWantWriteError:
                self._set_interest(c, EV_BOTH)
                break
            except (OSError, ssl.SSLError) as exc:
                logger.debug("recv from %s failed: %s", format_address(c.remote_address), exc)
                self._kill(c)
                return
            if n == 0:
                c.eof = True
                conn.receive_eof()
                break
            conn.receive_data(view[:n])
            got = True
            if n < RECV_SIZE and (reads == 1 or not sock.pending()):  # type: ignore[attr-defined]
                break
        else:
            if reads > 1 and sock.pending():  # type: ignore[attr-defined]
                self._ready.add(c)
        if got:
            c.last_recv = self._now
            c.ping_sent_at = 0.0
        self._after_io(c)

    def _drain_input(self, c: ServerWebSocket) -> None:
        # Our close is out and our sending side is shut down: discard what the
        # peer still sends until it closes too (closing at once with unread
        # input would reset the connection and could destroy our close frame).
        try:
            while True:
                n = c.sock.recv_into(self._view)
                if n == 0:
                    self._kill(c)
                    return
                if n < RECV_SIZE:
                    return
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (OSError, ssl.SSLError):
            self._kill(c)

    # -- dispatching ----------------------------------------------------------------

    def _after_io(self, c: ServerWebSocket) -> None:
        """Dispatch the connection's events, send what it queued, update interest."""
        conn = c.conn
        evs = conn.events()
        if evs:
            c.dirty = True  # what the application sends is taken below: no need to queue c
            self._dispatch(c, evs)
            c.dirty = False
            if c.phase == PHASE_DEAD:
                return
        if conn.failure_pending:
            # A peer error behind the messages just dispatched: the answers to
            # them are queued, so the close frame now goes out after them.
            conn.apply_pending_failure()
            self._dispatch(c, conn.events())
            if c.phase == PHASE_DEAD:
                return
        data = conn.data_to_send()
        if conn.state is not _STATE_OPEN:
            if c.closing_since == 0.0 and c.phase == PHASE_OPEN:
                c.closing_since = self._now  # closing or failed: bounded by close_timeout
        if data:
            if c.out is None:
                # Send everything right now; keep what the kernel did not take.
                try:
                    n = c.sock.send(data)
                except _SEND_AGAIN:
                    n = 0
                except (OSError, ssl.SSLError) as exc:
                    logger.debug("send to %s failed: %s", format_address(c.remote_address), exc)
                    self._kill(c)
                    return
                if n < len(data):
                    if data.__class__ is bytearray:  # ours: data_to_send hands it over
                        if n:
                            del data[:n]
                        c.out = data  # type: ignore[assignment]
                    else:
                        c.out = bytearray(memoryview(data)[n:])
                    c.last_send_progress = self._now
            else:
                c.out += data
        if c.out is None and c.interest == EV_READ and not (c.paused or c.eof or conn.should_close_transport):
            return  # nothing changed: no epoll_ctl
        self._update_interest(c)

    def _dispatch(self, c: ServerWebSocket, evs: Iterable[Any]) -> None:
        """Call the application for each event. An error in a callback is
        logged and closes the connection with 1011; the remaining events are
        still dispatched (sends on a closed connection are logged at debug)."""
        on_message = self._on_message
        got_message = False
        it = iter(evs)
        while True:
            try:
                for e in it:
                    t = type(e)
                    if t is _TextMessage or t is _BinaryMessage:
                        on_message(c, e.data)
                        got_message = True
                    else:
                        self._dispatch_other(c, e, t)
                break
            except ConnectionStateError as exc:
                logger.debug("application sent on a closed connection %s: %s",
                             format_address(c.remote_address), exc)
            except Exception:
                logger.exception("application error on %s", format_address(c.remote_address))
                self._fail_1011(c)
        if got_message:
            c.last_message = self._now

    def _dispatch_other(self, c: ServerWebSocket, e: Any, t: type) -> None:
        app = self.app
        if t is _Connected:
            self._on_connected(c)
        elif t is _Ping:
            app.on_ping(c, e.payload)
        elif t is _Pong:
            app.on_pong(c, e.payload)
        elif t is _CloseReceived:
            if not c.closing_since:
                c.closing_since = time.monotonic()
        elif t is _Closed:
            c.close_code = e.code
            c.close_reason = e.reason
            if e.error is not None:
                logger.debug("connection %s failed: %r", format_address(c.remote_address), e.error)
        elif t is _Request:
            if c.overflow:
                c.conn.reject(503, OVERFLOW_BODY)
        elif t is _Rejected:
            logger.debug("handshake from %s rejected: %s %s", format_address(c.remote_address),
                         e.status, e.reason)
        elif t is _Fragment:
            if e.final:
                c.last_message = self._now
            handler = getattr(app, "on_fragment", None)
            if handler is not None:
                handler(c, e.data, e.text, e.final)

    def _fail_1011(self, c: ServerWebSocket) -> None:
        conn = c.conn
        if conn.state is _STATE_OPEN:
            try:
                conn.close(_INTERNAL_ERROR, "internal error")
                c.closing_since = time.monotonic()
            except Exception:  # pragma: no cover - defensive
                pass

    def _on_connected(self, c: ServerWebSocket) -> None:
        c.phase = PHASE_OPEN
        c.opened_at = time.monotonic()
        if logger.isEnabledFor(logging.DEBUG):
            req = c.conn.request
            path = getattr(req, "path", getattr(req, "target", "?"))
            logger.debug("open %s %s", format_address(c.remote_address), path)
        try:
            self.app.on_open(c)
        finally:
            if not self.keep_request:
                c.conn.request = None

    # -- writing, interest, closing ------------------------------------------------------

    def _flush(self, c: ServerWebSocket) -> None:
        out = c.out
        if out is None:
            return
        try:
            n = c.sock.send(out)
        except _SEND_AGAIN:
            return
        except (OSError, ssl.SSLError) as exc:
            logger.debug("send to %s failed: %s", format_address(c.remote_address), exc)
            self._kill(c)
            return
        if n:
            c.last_send_progress = self._now
            if n == len(out):
                c.out = None
            else:
                del out[:n]
        self._update_interest(c)

    def _update_interest(self, c: ServerWebSocket) -> None:
        """Decide what to wait for after output changed (backpressure); close when done."""
        if c.phase == PHASE_DEAD:
            return
        out = c.out
        pending = len(out) if out is not None else 0
        conn = c.conn
        if not pending and (conn.should_close_transport or c.eof):
            if c.phase == PHASE_DRAIN:
                return
            self._collect_close(c)
            if c.eof:
                self._kill(c)
            else:
                self._start_drain(c)
            return
        if c.paused:
            if pending <= self.low_water:
                c.paused = False
                if c.phase != PHASE_DRAIN and self.ssl_context is not None and c.sock.pending():  # type: ignore
                    self._ready.add(c)  # decrypted input waiting: the poller won't report it
        elif pending > self.high_water:
            c.paused = True
        if pending:
            interest = EV_WRITE if (c.paused or c.eof) else EV_BOTH
        else:
            interest = EV_READ
        self._set_interest(c, interest)

    def _set_interest(self, c: ServerWebSocket, interest: int) -> None:
        if c.interest != interest:
            c.interest = interest
            self._poller.modify(c.fd, interest)

    def _collect_close(self, c: ServerWebSocket) -> None:
        for e in c.conn.events():
            if e.__class__ is _Closed:
                c.close_code = e.code
                c.close_reason = e.reason

    def _start_drain(self, c: ServerWebSocket) -> None:
        c.phase = PHASE_DRAIN
        c.closing_since = time.monotonic()
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._kill(c)
            return
        self._notify_close(c)
        self._set_interest(c, EV_READ)

    def _notify_close(self, c: ServerWebSocket) -> None:
        if c.notified:
            return
        c.notified = True
        if self._pubsub is not None:
            self._pubsub.discard(c)
        if c.opened_at:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("close %s code=%s reason=%r duration=%.3fs", format_address(c.remote_address),
                             c.close_code, c.close_reason, time.monotonic() - c.opened_at)
            try:
                self.app.on_close(c, c.close_code, c.close_reason)
            except Exception:
                logger.exception("application error in on_close")

    def _kill(self, c: ServerWebSocket) -> None:
        """Close the socket now and forget the connection."""
        if c.phase == PHASE_DEAD:
            return
        if c.conn.state is not _STATE_CLOSED:
            try:
                c.conn.receive_eof()
            except Exception:  # pragma: no cover - defensive
                pass
            self._collect_close(c)
        c.phase = PHASE_DEAD
        c.out = None
        self._conns.pop(c.fd, None)
        self._ready.discard(c)
        if c.overflow:
            self._n_overflow -= 1
        try:
            self._poller.unregister(c.fd)
        except (KeyError, ValueError, OSError):
            pass
        try:
            c.sock.close()
        except OSError:  # pragma: no cover
            pass
        if self._accept_paused:
            self._accept_resume_at = 0.0  # a descriptor is free: try accepting again now
        self._notify_close(c)
