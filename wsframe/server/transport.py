"""One server connection's transport: read, dispatch to the application, write, backpressure, deadlines, close.

A :class:`Transport` holds its own state (phase, output buffer, poller
interest, paused, dirty) and is its connection's
:class:`~wsframe._driver.Driver` (the transport rules, which it only follows). The server owns the table of transports and calls their
public methods; the application gets the thin
:class:`~wsframe.server.app.ServerWebSocket`.

What keeps it fast: one ``recv`` per readiness report (fair: a busy peer
cannot starve the others) into the one receive buffer of the server (fed to
the connection as a memoryview, no copy); every event of the read
dispatched; every frame the application sent meanwhile already written into
the connection's output buffer; then that buffer is sent with one ``send``.
No ``epoll_ctl`` unless the interest really changes. The read -> dispatch ->
send path uses plain attributes only, so that a ``.pxd`` can compile it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from typing import Any, Iterable, Optional

from .. import _driver
from .. import events as _ev
from ..connection import ServerConnection, State
from ..exceptions import ConnectionStateError
from . import _pubsub as _ps
from ._sockio_py import sock_recv, sock_send  # compiled: the C ones (cimported by _transport_c.pxd)

try:
    import cython
except ImportError:  # pure Python without Cython installed: never compiled

    class cython:  # type: ignore[no-redef]  # noqa: N801 - stands in for Cython's shadow module
        compiled = False


# Compiled, the base class is the compiled driver (its C type comes from
# _transport_c.pxd's cimport); uncompiled, the pure-Python one.
if cython.compiled:
    from .._driver_c import Driver
else:
    from .._driver import Driver
from .app import SelectorsWebSocket, format_address
from .poller import EV_BOTH, EV_READ, EV_WRITE
from .tls import TLS_DONE, TLS_FAILED, WANT_IO, tls_handshake_step

__all__ = ["Transport", "RECV_SIZE", "PHASE_TLS", "PHASE_OPENING", "PHASE_OPEN", "PHASE_DRAIN", "PHASE_DEAD"]

logger = logging.getLogger("wsframe.server")

RECV_SIZE = 256 * 1024  # the one receive buffer
SSL_READS_PER_EVENT = 16  # TLS records are 16 KiB: read a few per wake-up
OVERFLOW_BODY = "server is at its connection limit"
_SEND_AGAIN = (BlockingIOError, InterruptedError) + WANT_IO

# Phases of a transport (the protocol state is in .conn).
PHASE_TLS = 0  # TLS handshake in progress
PHASE_OPENING = 1  # waiting for / parsing the HTTP upgrade
PHASE_OPEN = 2  # WebSocket open (or closing handshake under way)
PHASE_DRAIN = 3  # our side of TCP is shut down: discarding input until EOF
PHASE_DEAD = 4  # socket closed

# Hot-path aliases (module globals are cheaper than attribute lookups).
_STATE_OPEN = State.OPEN
_STATE_CLOSED = State.CLOSED
_ABNORMAL = 1006
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


class Transport(Driver):
    """One accepted socket and its connection (see the module docstring). ``server`` is the
    owning :class:`~wsframe.server.Server`: its shared receive buffer, clock, poller and application.

    It is the connection's :class:`~wsframe._driver.Driver` too (one object per connection
    instead of two: about 50 bytes less per idle connection); the rules stay in the driver,
    the transport only answers its requests (``deadline_*``) and reports I/O to it.
    """

    __slots__ = ("server", "sock", "fd", "plain", "ws", "phase", "out", "interest", "paused", "eof",
                 "overflow", "notified", "dirty", "opened_at", "close_code", "close_reason")

    def __init__(self, server: Any, sock: socket.socket, addr: Any, conn: ServerConnection, now: float,
                 phase: int, overflow: bool) -> None:
        Driver.__init__(self, conn, server.limits, now)
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.plain = server.ssl_context is None  # no TLS: the descriptor is read and written directly
        self.ws = SelectorsWebSocket(self, conn, addr)
        self.phase = phase
        self.out: Optional[bytearray] = None  # unsent output, only while there is some
        self.interest = EV_READ  # the poller's interest bits for this socket
        self.paused = False  # not reading: unsent output over the high-water mark
        self.eof = False  # the peer shut down its sending side
        self.overflow = overflow  # over max_connections: gets HTTP 503
        self.notified = False  # on_close was called
        self.dirty = False  # queued for the server's output pass (or inside dispatch)
        self.opened_at = 0.0
        self.close_code = _ABNORMAL
        self.close_reason = ""

    # -- reading -----------------------------------------------------------------------

    def on_readable(self) -> None:
        """The poller reported input (or a TLS connection may have some)."""
        phase = self.phase
        server = self.server
        if (phase != PHASE_OPEN and phase != PHASE_OPENING) or self.paused or not self.plain:
            self._read_slow()
            return
        # The hot path: one recv into the shared buffer, fed as a view of it
        # (a short read as a bytes copy, cheaper), then dispatch and one send (after_io).
        try:
            data = sock_recv(self.sock, self.fd, server._buf, server.view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            logger.debug("recv from %s failed: %s", format_address(self.ws.remote_address), exc)
            self.kill()
            return
        if data:
            self.conn.receive_data(data)
            self.active = True
        else:
            self.eof = True
            self.conn.receive_eof()
        self.after_io()

    def _read_slow(self) -> None:
        """TLS, handshakes in progress, paused and draining connections."""
        phase = self.phase
        if phase == PHASE_DEAD:
            return
        if phase == PHASE_TLS:
            self.tls_handshake()
            return
        if self.paused:
            return
        if phase == PHASE_DRAIN:
            self._drain_input()
            return
        sock = self.sock
        server = self.server
        view = server.view
        conn = self.conn
        reads = SSL_READS_PER_EVENT if server.ssl_context is not None else 1
        got = False
        for _ in range(reads):
            try:
                n = sock.recv_into(view)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                break
            except ssl.SSLWantWriteError:
                self._set_interest(EV_BOTH)
                break
            except (OSError, ssl.SSLError) as exc:
                logger.debug("recv from %s failed: %s", format_address(self.ws.remote_address), exc)
                self.kill()
                return
            if n == 0:
                self.eof = True
                conn.receive_eof()
                break
            conn.receive_data(view[:n])
            got = True
            if n < RECV_SIZE and (reads == 1 or not sock.pending()):  # type: ignore[attr-defined]
                break
        else:
            if reads > 1 and sock.pending():  # type: ignore[attr-defined]
                server.ready.add(self)
        if got:
            self.active = True
        self.after_io()

    def _drain_input(self) -> None:
        # Our close is out and our sending side is shut down: discard what the
        # peer still sends until it closes too (closing at once with unread
        # input would reset the connection and could destroy our close frame).
        view = self.server.view
        try:
            while True:
                n = self.sock.recv_into(view)
                if n == 0 or self.discard(n):
                    self.kill()
                    return
                if n < RECV_SIZE:
                    return
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (OSError, ssl.SSLError):
            self.kill()

    def tls_handshake(self) -> None:
        """One step of the TLS handshake; the WebSocket handshake follows."""
        result, exc = tls_handshake_step(self.sock)  # type: ignore[arg-type]
        if result == TLS_FAILED:
            logger.debug("TLS handshake with %s failed: %s", format_address(self.ws.remote_address), exc)
            self.kill()
        elif result == TLS_DONE:
            self.phase = PHASE_OPENING
            self._set_interest(EV_READ)
            if self.sock.pending():  # type: ignore[attr-defined]
                self.server.ready.add(self)
        else:
            self._set_interest(result)

    # -- dispatching -------------------------------------------------------------------

    def after_io(self) -> None:
        """Dispatch the connection's events, send what it queued, update interest."""
        conn = self.conn
        evs = conn.events()
        if evs:
            self.dirty = True  # what the application sends is taken below: no need to queue us
            self._dispatch(evs)
            self.dirty = False
            if self.phase == PHASE_DEAD:
                return
        if conn.failure_pending and self.answered():
            # A peer error behind the messages just dispatched: the answers to
            # them are queued, so the close frame now goes out after them.
            self._dispatch(conn.events())
            if self.phase == PHASE_DEAD:
                return
        data = conn.data_to_send()
        if conn.state is not _STATE_OPEN and self.phase == PHASE_OPEN:
            self.closing(self.server.now)  # closing or failed: bounded by close_timeout
        if data:
            out = self.out
            if out is None:
                # Send everything right now; keep what the kernel did not take.
                try:
                    n = sock_send(self.sock, self.fd, data) if self.plain else self.sock.send(data)
                except _SEND_AGAIN:
                    n = 0
                except (OSError, ssl.SSLError) as exc:
                    logger.debug("send to %s failed: %s", format_address(self.ws.remote_address), exc)
                    self.kill()
                    return
                if n < len(data):
                    if data.__class__ is bytearray:  # ours: data_to_send hands it over
                        if n:
                            del data[:n]
                        self.out = data  # type: ignore[assignment]
                    else:
                        self.out = bytearray(memoryview(data)[n:])
                    self.stalled_since = self.server.now
            else:
                out += data
        if self.out is None and self.interest == EV_READ and not (self.paused or self.eof
                                                                 or conn.should_close_transport):
            return  # nothing changed: no epoll_ctl
        self._update_interest()

    def _dispatch(self, evs: Iterable[Any]) -> None:
        """Call the application for each event. An error in a callback is
        logged and closes the connection with 1011; the remaining events are
        still dispatched (sends on a closed connection are logged at debug)."""
        server = self.server
        on_message = server.on_message
        ws = self.ws
        got_message = False
        it = iter(evs)
        while True:
            try:
                for e in it:
                    t = type(e)
                    if t is _TextMessage or t is _BinaryMessage:
                        on_message(ws, e.data)
                        got_message = True
                    else:
                        self._dispatch_other(e, t)
                break
            except ConnectionStateError as exc:
                logger.debug("application sent on a closed connection %s: %s",
                             format_address(ws.remote_address), exc)
            except Exception:
                logger.exception("application error on %s", format_address(ws.remote_address))
                self.close(_driver.CODE_INTERNAL, _driver.REASON_INTERNAL)
        if got_message:
            self.got_message = True

    def _dispatch_other(self, e: Any, t: type) -> None:
        app = self.server.app
        ws = self.ws
        if t is _Connected:
            self._on_connected()
        elif t is _Ping:
            app.on_ping(ws, e.payload)
        elif t is _Pong:
            app.on_pong(ws, e.payload)
        elif t is _CloseReceived:
            self.closing(time.monotonic())
        elif t is _Closed:
            self.close_code = e.code
            self.close_reason = e.reason
            if e.error is not None:
                logger.debug("connection %s failed: %r", format_address(ws.remote_address), e.error)
        elif t is _Request:
            if self.overflow:
                self.conn.reject(503, OVERFLOW_BODY)
        elif t is _Rejected:
            logger.debug("handshake from %s rejected: %s %s", format_address(ws.remote_address),
                         e.status, e.reason)
        elif t is _Fragment:
            if e.final:
                self.got_message = True
            handler = getattr(app, "on_fragment", None)
            if handler is not None:
                handler(ws, e.data, e.text, e.final)

    def _on_connected(self) -> None:
        self.phase = PHASE_OPEN
        self.opened_at = time.monotonic()
        if logger.isEnabledFor(logging.DEBUG):
            req = self.conn.request
            path = getattr(req, "path", getattr(req, "target", "?"))
            logger.debug("open %s %s", format_address(self.ws.remote_address), path)
        try:
            self.server.app.on_open(self.ws)
        finally:
            if not self.server.keep_request:
                self.conn.request = None

    # -- the application's and the server's requests --------------------------------------

    def mark_dirty(self) -> None:
        """Output was queued outside a dispatch: have the server's output pass send it."""
        if not self.dirty:
            self.dirty = True
            self.server.dirty.append(self)

    def buffered(self) -> int:
        """Bytes queued for the peer and not yet taken by the kernel (``ws.buffered_amount``)."""
        out = self.out
        return len(out) if out is not None else 0

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (no-op when it already started)."""
        if self.server._ps_runs:  # published frames not yet written go first
            _ps.write_runs(self.server)
        conn = self.conn
        if conn.state is _STATE_OPEN:
            conn.close(code, reason)
            self.closing(time.monotonic())
            self.mark_dirty()

    def sweep(self, now: float) -> None:
        """Apply the deadlines at ``now`` (called by the server's sweep)."""
        if self.phase == PHASE_DEAD:
            return
        if self.out is None:
            self.stalled_since = 0.0
        self.tick(now, self)

    # The driver's requests (Driver.tick).

    def deadline_flush(self) -> None:
        self.after_io()

    def deadline_ping(self) -> None:
        self.conn.send_ping(_driver.KEEPALIVE_PAYLOAD)
        self.after_io()

    def deadline_abort(self) -> None:
        logger.debug("deadline passed: dropping %s", format_address(self.ws.remote_address))
        self.kill()

    def deadline_fail(self) -> None:
        self.close_code = self.conn.close_code or _driver.CODE_KEEPALIVE
        self.after_io()
        self.deadline_abort()

    # -- writing, interest, closing ------------------------------------------------------

    def flush(self) -> None:
        """The socket is writable: send what is queued."""
        out = self.out
        if out is None:
            return
        try:
            n = sock_send(self.sock, self.fd, out) if self.plain else self.sock.send(out)
        except _SEND_AGAIN:
            return
        except (OSError, ssl.SSLError) as exc:
            logger.debug("send to %s failed: %s", format_address(self.ws.remote_address), exc)
            self.kill()
            return
        if n:
            self.stalled_since = self.server.now
            if n == len(out):
                self.out = None
            else:
                del out[:n]
        self._update_interest()

    def _update_interest(self) -> None:
        """Decide what to wait for after output changed (backpressure); close when done."""
        if self.phase == PHASE_DEAD:
            return
        out = self.out
        pending = len(out) if out is not None else 0
        conn = self.conn
        server = self.server
        if not pending and (conn.should_close_transport or self.eof):
            if self.phase == PHASE_DRAIN:
                return
            self._collect_close()
            if self.eof:
                self.kill()
            else:
                self._start_drain()
            return
        if self.paused:
            if pending <= server.limits.low_water:
                self.paused = self.reading_paused = False
                if self.phase != PHASE_DRAIN and server.ssl_context is not None \
                        and self.sock.pending():  # type: ignore[attr-defined]
                    server.ready.add(self)  # decrypted input waiting: the poller won't report it
        elif pending > server.limits.high_water:
            self.paused = self.reading_paused = True
        if pending:
            interest = EV_WRITE if (self.paused or self.eof) else EV_BOTH
        else:
            interest = EV_READ
        self._set_interest(interest)

    def _set_interest(self, interest: int) -> None:
        if self.interest != interest:
            self.interest = interest
            self.server.poller.modify(self.fd, interest)

    def _collect_close(self) -> None:
        for e in self.conn.events():
            if e.__class__ is _Closed:
                self.close_code = e.code
                self.close_reason = e.reason

    def _start_drain(self) -> None:
        self.phase = PHASE_DRAIN
        self.draining(time.monotonic())
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.kill()
            return
        self._notify_close()
        self._set_interest(EV_READ)

    def _notify_close(self) -> None:
        if self.notified:
            return
        self.notified = True
        _ps.discard(self.server, self.ws)
        if self.opened_at:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("close %s code=%s reason=%r duration=%.3fs", format_address(self.ws.remote_address),
                             self.close_code, self.close_reason, time.monotonic() - self.opened_at)
            try:
                self.server.app.on_close(self.ws, self.close_code, self.close_reason)
            except Exception:
                logger.exception("application error in on_close")

    def kill(self) -> None:
        """Close the socket now and have the server forget the connection."""
        if self.phase == PHASE_DEAD:
            return
        conn = self.conn
        if conn.state is not _STATE_CLOSED:
            try:
                conn.receive_eof()
            except Exception:  # pragma: no cover - defensive
                pass
            self._collect_close()
        self.phase = PHASE_DEAD
        self.out = None
        self.server.forget(self)
        try:
            self.sock.close()
        except OSError:  # pragma: no cover
            pass
        self._notify_close()
