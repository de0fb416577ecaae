"""A WebSocket server on epoll (Linux; :mod:`selectors` elsewhere): one thread,
non-blocking sockets, ws:// and wss://.

The protocol itself (HTTP upgrade, framing, closing handshake) is done by the
sans-I/O :class:`wsframe.connection.ServerConnection`; this module only moves
bytes between sockets and connections, keeps time, and calls the application.

Applications subclass :class:`Application` (or pass any object with the same
methods)::

    from wsframe.server import Application, Server

    class Shout(Application):
        def on_message(self, ws, data):
            ws.send(data.upper() if isinstance(data, str) else data)

    Server(Shout(), host="127.0.0.1", port=9001).serve_forever()

Design notes (these are what make it fast and bounded):

* ``select.epoll`` used directly (file descriptor -> connection dict; no
  selector keys), and no ``epoll_ctl`` unless the interest really changes;
* one receive buffer for the whole server: an idle connection holds no read
  buffer of its own; each read is fed to the connection as a memoryview of
  that buffer, without a copy (the connection copies what it keeps);
* one ``recv`` per readiness report and connection (fair: a busy peer cannot
  starve the others); the read is fed to the connection, its events
  dispatched, and then all the bytes the connection queued in reply are taken
  once and sent with one ``send`` call, right away (replies to a pipelined
  burst are coalesced); the echo application's messages are answered without
  a callback per message;
* unsent output is kept per connection; past ``high_water`` bytes the
  connection is not read any more until its output drains below
  ``low_water`` (backpressure: nothing is buffered without bound because of a
  peer that does not read);
* timeouts (opening handshake, closing handshake, keepalive ping, idle, stalled
  writes) are checked by a periodic sweep, not by per-connection timers.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import selectors
import signal
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from . import events as _ev
from .connection import ServerConnection, State
from .exceptions import ConnectionStateError

__all__ = [
    "Application",
    "EchoApplication",
    "Server",
    "ServerWebSocket",
    "make_ssl_context",
    "run_workers",
    "serve",
]

logger = logging.getLogger("wsframe.server")

_RECV_SIZE = 256 * 1024
_SSL_READS_PER_EVENT = 16  # TLS records are 16 KiB: read a few per wake-up
_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
# Interest and readiness bits: epoll's values (the selectors fallback maps them).
_EV_READ = 0x001  # EPOLLIN
_EV_WRITE = 0x004  # EPOLLOUT
_EV_BOTH = _EV_READ | _EV_WRITE
_EV_FAIL = 0x008 | 0x010  # EPOLLERR | EPOLLHUP: always reported; the next recv/send sees the error
_EV_READABLE = _EV_READ | _EV_FAIL
_EV_WRITABLE = _EV_WRITE | _EV_FAIL

# phases of a ServerWebSocket (transport side; the protocol state is in .conn)
_TLS = 0  # TLS handshake in progress
_OPENING = 1  # waiting for / parsing the HTTP upgrade
_OPEN = 2  # WebSocket open (or closing handshake under way)
_DRAIN = 3  # our side of TCP is shut down: discarding input until EOF
_DEAD = 4  # socket closed

_OVERFLOW_503 = "server is at its connection limit"


class Application:
    """Base class of server applications: override what you need.

    Every method runs in the server's thread, so it must not block; anything
    sent from it is queued and goes out, coalesced with other replies, after
    the current read has been processed. ``ws`` is the connection's
    :class:`ServerWebSocket`.
    """

    def on_open(self, ws: "ServerWebSocket") -> None:
        """The opening handshake completed: ``ws`` may send from now on."""

    def on_message(self, ws: "ServerWebSocket", data: Union[str, bytes]) -> None:
        """A complete message arrived: ``str`` for text, ``bytes`` for binary."""

    def on_ping(self, ws: "ServerWebSocket", payload: bytes) -> None:
        """A ping arrived (the pong is sent automatically)."""

    def on_pong(self, ws: "ServerWebSocket", payload: bytes) -> None:
        """A pong arrived."""

    def on_close(self, ws: "ServerWebSocket", code: int, reason: str) -> None:
        """The connection is over. ``code`` is 1006 when it ended without a
        closing handshake. Called once per connection that was opened."""


class EchoApplication(Application):
    """Sends every message back as it came, text as text and binary as binary."""

    def on_message(self, ws: "ServerWebSocket", data: Union[str, bytes]) -> None:
        # A message that arrived together with the peer's close frame is
        # dispatched after the close was answered: nothing may be sent then.
        conn = ws.conn
        if conn.state is _STATE_OPEN:
            if type(data) is str:
                conn.send_text(data)
            else:
                conn.send_binary(data)
            if not ws.dirty:  # called from outside the server's dispatch
                ws.server._mark_dirty(ws)


class ServerWebSocket:
    """One client connection, as the application sees it.

    Attributes the application may read: ``remote_address``, ``request`` (the
    parsed upgrade request), ``subprotocol``, ``state``, ``opened_at``; and
    ``context``, a free slot for the application's own per-connection data.
    """

    __slots__ = (
        "server",
        "sock",
        "fd",
        "conn",
        "remote_address",
        "context",
        "phase",
        "out",
        "mask",
        "accepted_at",
        "opened_at",
        "last_recv",
        "last_send_progress",
        "closing_since",
        "ping_sent_at",
        "paused",
        "eof",
        "overflow",
        "notified",
        "dirty",
        "close_code",
        "close_reason",
        "__weakref__",
    )

    def __init__(self, server: "Server", sock: socket.socket, addr: Any, conn: ServerConnection,
                 now: float, phase: int, overflow: bool) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.conn = conn
        self.remote_address = addr
        self.context: Any = None
        self.phase = phase
        self.out: Optional[bytearray] = None  # unsent output, only while there is some
        self.mask = 0
        self.accepted_at = now
        self.opened_at = 0.0
        self.last_recv = now
        self.last_send_progress = now
        self.closing_since = 0.0
        self.ping_sent_at = 0.0
        self.paused = False
        self.eof = False
        self.overflow = overflow
        self.notified = False
        self.dirty = False
        self.close_code = 1006
        self.close_reason = ""

    # -- application API ---------------------------------------------------

    @property
    def request(self) -> Any:
        """The handshake request (see :mod:`wsframe.handshake`): available in
        ``on_open``; afterwards only with ``Server(keep_request=True)``."""
        return self.conn.request

    @property
    def subprotocol(self) -> Optional[str]:
        """The negotiated subprotocol, or None."""
        return self.conn.subprotocol

    @property
    def state(self) -> State:
        """The protocol state (:class:`wsframe.connection.State`)."""
        return self.conn.state

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for this peer and not yet accepted by the kernel."""
        out = self.out
        return len(out) if out is not None else 0

    def send(self, data: Union[str, bytes, bytearray, memoryview]) -> None:
        """Queue a message: ``str`` as text, bytes-like as binary.

        Raises :class:`wsframe.ConnectionStateError` when the connection is not
        open. Must be called from the server's thread (use
        :meth:`Server.call_soon_threadsafe` from others).
        """
        if type(data) is str:
            self.conn.send_text(data)
        else:
            self.conn.send_binary(data)
        if not self.dirty:
            self.dirty = True
            self.server._dirty.append(self)

    def ping(self, payload: bytes = b"") -> None:
        """Queue a ping."""
        self.conn.send_ping(payload)
        self.server._mark_dirty(self)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (no-op when it already started)."""
        if self.conn.state is State.OPEN:
            self.conn.close(code, reason)
            if not self.closing_since:
                self.closing_since = time.monotonic()
            self.server._mark_dirty(self)

    def __repr__(self) -> str:
        return f"<ServerWebSocket {_fmt_addr(self.remote_address)} {self.conn.state.name}>"


class _SelectorPoller:
    """``select.epoll``'s interface (file descriptors, epoll event bits) on top
    of :mod:`selectors`, for platforms without epoll."""

    __slots__ = ("_sel",)

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    @staticmethod
    def _mask(events: int) -> int:
        return ((selectors.EVENT_READ if events & _EV_READ else 0)
                | (selectors.EVENT_WRITE if events & _EV_WRITE else 0))

    def register(self, fd: int, events: int) -> None:
        self._sel.register(fd, self._mask(events))

    def modify(self, fd: int, events: int) -> None:
        self._sel.modify(fd, self._mask(events))

    def unregister(self, fd: int) -> None:
        self._sel.unregister(fd)

    def poll(self, timeout: Optional[float] = None, maxevents: int = -1) -> list:
        if timeout is not None and timeout < 0:
            timeout = None
        return [(key.fd, (_EV_READ if m & selectors.EVENT_READ else 0)
                 | (_EV_WRITE if m & selectors.EVENT_WRITE else 0))
                for key, m in self._sel.select(timeout)]

    def close(self) -> None:
        self._sel.close()


def _make_poller() -> Any:
    """epoll on Linux (file descriptor in, (fd, events) out: no per-event
    objects, no key lookups); the selectors fallback elsewhere."""
    if hasattr(select, "epoll") and not os.environ.get("WSFRAME_NO_EPOLL"):
        return select.epoll()
    return _SelectorPoller()


def _fmt_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


def make_ssl_context(certfile: str, keyfile: Optional[str] = None) -> ssl.SSLContext:
    """A server-side TLS context with the certificate chain and key from files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class Server:
    """A WebSocket server running one application on one listening socket.

    Parameters (times are seconds, ``None`` disables):

    ``app``
        the :class:`Application` (any object with its methods).
    ``host``, ``port``
        where to listen; port 0 picks a free port (see :attr:`port`).
    ``sock``
        an already bound socket to listen on, instead of host/port.
    ``ssl_context``
        serve wss:// with this server-side context.
    ``reuse_port``
        set ``SO_REUSEPORT`` (several processes sharing one port).
    ``max_connections``
        open connections at most; past it new connections get an HTTP 503 and
        are closed (a few at a time), or are closed at once when too many wait.
    ``max_message_size``, ``max_header_size``, ``subprotocols``,
    ``extensions``, ``allowed_origins``
        passed to each :class:`~wsframe.connection.ServerConnection`
        (``extensions``: server extension factories, e.g.
        ``wsframe.permessage_deflate.ServerPerMessageDeflate()``).
    ``handshake_timeout``
        the TLS plus HTTP opening handshake must complete within it.
    ``close_timeout``
        after we send a close frame, wait this long for the peer's.
    ``ping_interval``, ``ping_timeout``
        keepalive: after ``ping_interval`` without input a ping is sent; no
        input within ``ping_timeout`` after it fails the connection (1011).
    ``idle_timeout``
        close (1001) connections that received nothing for this long.
    ``write_timeout``
        drop connections whose queued output made no progress for this long.
    ``high_water``, ``low_water``
        backpressure marks for unsent output, in bytes.
    ``backlog``
        ``listen()`` backlog.
    ``keep_request``
        keep each connection's parsed handshake request (``ws.request``) for
        its whole life; by default it is released after ``on_open`` returns,
        which saves about 2 KB per idle connection.
    ``connection_options``
        more keyword arguments for each ``ServerConnection``.
    """

    def __init__(
        self,
        app: Application,
        host: str = "127.0.0.1",
        port: int = 9001,
        *,
        sock: Optional[socket.socket] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        reuse_port: bool = False,
        max_connections: int = 10000,
        max_message_size: Optional[int] = 1 << 20,
        max_header_size: int = 16384,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[Any] = (),
        allowed_origins: Optional[Iterable[str]] = None,
        handshake_timeout: Optional[float] = 10.0,
        close_timeout: Optional[float] = 10.0,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = 20.0,
        idle_timeout: Optional[float] = None,
        write_timeout: Optional[float] = 60.0,
        high_water: int = 1 << 20,
        low_water: int = 1 << 18,
        backlog: int = 1024,
        keep_request: bool = False,
        connection_options: Optional[dict] = None,
    ) -> None:
        if low_water > high_water:
            raise ValueError("low_water must not exceed high_water")
        self.app = app
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.high_water = high_water
        self.low_water = low_water
        self.keep_request = keep_request
        self._conn_kwargs = dict(
            subprotocols=tuple(subprotocols),
            extensions=tuple(extensions),
            allowed_origins=allowed_origins,
            max_message_size=max_message_size,
            max_header_size=max_header_size,
        )
        if connection_options:
            self._conn_kwargs.update(connection_options)

        if sock is None:
            sock = _bind(host, port, reuse_port, backlog)
        else:
            sock.listen(backlog)
        sock.setblocking(False)
        self.socket = sock
        self.host, self.port = sock.getsockname()[:2]
        self._poller = _make_poller()
        self._poller.register(sock.fileno(), _EV_READ)
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._poller.register(self._rsock.fileno(), _EV_READ)
        self._echo = type(app) is EchoApplication  # the echo fast path (see _after_io)
        self._now = time.monotonic()  # time of the current loop iteration
        self._conns: dict[int, ServerWebSocket] = {}
        self._n_overflow = 0
        self._dirty: list[ServerWebSocket] = []
        self._ready: set[ServerWebSocket] = set()  # TLS connections with decrypted input pending
        self._calls: deque[Callable[[], Any]] = deque()
        self._buf = bytearray(_RECV_SIZE)
        self._view = memoryview(self._buf)
        self._stopping = False
        self._stop_deadline = 0.0
        self._stop_requested = False
        self._stop_timeout = 5.0
        self._closed = False
        self._listening = True
        self._thread: Optional[threading.Thread] = None
        self.started = threading.Event()
        timeouts = [t for t in (handshake_timeout, close_timeout, ping_interval, ping_timeout,
                                idle_timeout, write_timeout) if t]
        self._sweep_every = min([1.0] + [t / 4 for t in timeouts])
        self._sweep_every = max(self._sweep_every, 0.01)

    # -- public API ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The ws:// or wss:// URL the server listens on."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/"

    @property
    def connections(self) -> list[ServerWebSocket]:
        """A snapshot of the current connections."""
        return list(self._conns.values())

    def call_soon_threadsafe(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in the server's thread at its next loop iteration."""
        self._calls.append(fn)
        self._wakeup()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop gracefully, from any thread or a signal handler: stop accepting,
        send close 1001 to every open connection, and let :meth:`serve_forever`
        return once all are closed or ``timeout`` seconds have passed."""
        self._stop_timeout = timeout
        self._stop_requested = True
        self._wakeup()

    def start(self) -> "Server":
        """Run :meth:`serve_forever` in a daemon thread; returns self."""
        t = threading.Thread(target=self.serve_forever, name="wsframe-server", daemon=True)
        self._thread = t
        t.start()
        self.started.wait(5)
        return self

    def shutdown(self, timeout: float = 5.0) -> None:
        """:meth:`stop` and wait for the thread started by :meth:`start`."""
        self.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout + 5)
            self._thread = None
        else:
            self.close()

    def install_signal_handlers(self, signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM),
                                timeout: float = 5.0) -> None:
        """Make SIGINT/SIGTERM stop the server gracefully (main thread only)."""
        for sig in signals:
            signal.signal(sig, lambda signum, frame: self.stop(timeout))

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self.shutdown()
        else:
            self.close()

    def close(self) -> None:
        """Close every socket at once (no closing handshake)."""
        if self._closed:
            return
        self._closed = True
        for c in list(self._conns.values()):
            self._kill(c)
        self._stop_listening()
        try:
            self._poller.unregister(self._rsock.fileno())
        except (KeyError, ValueError, OSError):
            pass
        self._rsock.close()
        self._wsock.close()
        self._poller.close()

    def serve_forever(self) -> None:
        """Run the event loop until :meth:`stop` completes; then close everything."""
        logger.info("wsframe server listening on %s", self.url)
        self.started.set()
        poll = self._poller.poll
        monotonic = time.monotonic
        conns = self._conns
        listen_fd = self.socket.fileno()
        wakeup_fd = self._rsock.fileno()
        on_readable = self._on_readable
        next_sweep = monotonic() + self._sweep_every
        try:
            while True:
                if self._stop_requested and not self._stopping:
                    self._begin_stop()
                if self._stopping and (not self._conns or monotonic() >= self._stop_deadline):
                    break
                if self._ready or self._dirty or self._calls:
                    timeout = 0.0
                else:
                    timeout = max(0.0, next_sweep - monotonic())
                ready = poll(timeout)
                self._now = monotonic()
                for fd, ev in ready:
                    c = conns.get(fd)
                    if c is None:
                        if fd == listen_fd:
                            if self._listening:
                                self._accept()
                        elif fd == wakeup_fd:
                            self._drain_wakeup()
                        continue
                    if ev & _EV_WRITABLE and c.out is not None:
                        self._flush(c)
                    if ev & _EV_READABLE or c.phase == _TLS:
                        on_readable(c)
                if self._calls:
                    self._run_calls()
                if self._ready:
                    ready, self._ready = self._ready, set()
                    for c in ready:
                        if c.phase != _DEAD:
                            self._on_readable(c)
                if self._dirty:
                    dirty, self._dirty = self._dirty, []
                    for c in dirty:
                        c.dirty = False
                        if c.phase != _DEAD:
                            self._after_io(c)
                now = self._now
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + self._sweep_every
        finally:
            n = len(self._conns)
            if n:
                logger.info("stop: dropping %d connection(s) still open", n)
            self.close()
            logger.info("wsframe server stopped")

    # -- internals: loop plumbing ------------------------------------------

    def _wakeup(self) -> None:
        try:
            self._wsock.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    def _drain_wakeup(self) -> None:
        try:
            while self._rsock.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _run_calls(self) -> None:
        calls = self._calls
        while calls:
            fn = calls.popleft()
            try:
                fn()
            except Exception:
                logger.exception("error in a call_soon_threadsafe callback")

    def _mark_dirty(self, c: ServerWebSocket) -> None:
        """Make sure output queued outside event dispatch gets sent."""
        if not c.dirty:
            c.dirty = True
            self._dirty.append(c)

    def _stop_listening(self) -> None:
        if self._listening:
            self._listening = False
            try:
                self._poller.unregister(self.socket.fileno())
            except (KeyError, ValueError, OSError):
                pass
            self.socket.close()

    def _begin_stop(self) -> None:
        self._stopping = True
        self._stop_deadline = time.monotonic() + self._stop_timeout
        self._stop_listening()
        logger.info("stopping: closing %d connection(s) with 1001", len(self._conns))
        for c in list(self._conns.values()):
            if c.phase == _OPEN and c.conn.state is State.OPEN:
                try:
                    c.close(1001, "server shutting down")
                except Exception:  # pragma: no cover - defensive
                    self._kill(c)
            elif c.phase in (_TLS, _OPENING):
                self._kill(c)

    # -- internals: accept ---------------------------------------------------

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    logger.warning("accept failed: %s", exc)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            overflow = len(self._conns) - self._n_overflow >= self.max_connections
            if overflow and self._n_overflow >= 16 + self.max_connections // 16:
                sock.close()  # too many already waiting for their 503
                continue
            sock.setblocking(False)
            if sock.family != socket.AF_UNIX:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
            phase = _OPENING
            if self.ssl_context is not None:
                try:
                    sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                        do_handshake_on_connect=False)
                except (OSError, ValueError) as exc:
                    logger.debug("TLS wrap failed for %s: %s", _fmt_addr(addr), exc)
                    sock.close()
                    continue
                phase = _TLS
            kwargs = self._conn_kwargs
            if overflow:
                kwargs = dict(kwargs, auto_accept=False)
            conn = ServerConnection(**kwargs)
            c = ServerWebSocket(self, sock, addr, conn, time.monotonic(), phase, overflow)
            if overflow:
                self._n_overflow += 1
            self._conns[c.fd] = c
            c.mask = _EV_READ
            self._poller.register(c.fd, _EV_READ)
            if phase == _TLS:
                self._tls_handshake(c)

    def _tls_handshake(self, c: ServerWebSocket) -> None:
        try:
            c.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self._set_mask(c, _EV_READ)
            return
        except ssl.SSLWantWriteError:
            self._set_mask(c, _EV_WRITE)
            return
        except (ssl.SSLError, OSError) as exc:
            logger.debug("TLS handshake with %s failed: %s", _fmt_addr(c.remote_address), exc)
            self._kill(c)
            return
        c.phase = _OPENING
        self._set_mask(c, _EV_READ)
        if c.sock.pending():  # type: ignore[attr-defined]
            self._ready.add(c)

    # -- internals: reading --------------------------------------------------

    def _on_readable(self, c: ServerWebSocket) -> None:
        phase = c.phase
        if (phase != _OPEN and phase != _OPENING) or c.paused or self.ssl_context is not None:
            self._on_readable_slow(c)
            return
        # The hot path: one recv per readiness report (fair across
        # connections), fed to the connection as a view of the shared receive
        # buffer, no copy (the connection copies whatever it keeps), then the
        # replies are sent at once (_after_io).
        try:
            n = c.sock.recv_into(self._view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            logger.debug("recv from %s failed: %s", _fmt_addr(c.remote_address), exc)
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
        phase = c.phase
        if phase == _DEAD:
            return
        if phase == _TLS:
            self._tls_handshake(c)
            return
        if c.paused:
            return
        if phase == _DRAIN:
            self._drain_input(c)
            return
        sock = c.sock
        view = self._view
        conn = c.conn
        reads = _SSL_READS_PER_EVENT if self.ssl_context is not None else 1
        got = False
        for _ in range(reads):
            try:
                n = sock.recv_into(view)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                break
            except ssl.SSLWantWriteError:
                self._set_mask(c, _EV_BOTH)
                break
            except (OSError, ssl.SSLError) as exc:
                logger.debug("recv from %s failed: %s", _fmt_addr(c.remote_address), exc)
                self._kill(c)
                return
            if n == 0:
                c.eof = True
                conn.receive_eof()
                break
            conn.receive_data(view[:n])
            got = True
            if n < _RECV_SIZE and (reads == 1 or not sock.pending()):  # type: ignore[attr-defined]
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
                if n < _RECV_SIZE:
                    return
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (OSError, ssl.SSLError):
            self._kill(c)

    # -- internals: processing events and output ---------------------------

    def _after_io(self, c: ServerWebSocket) -> None:
        """Dispatch the connection's events, send what it queued, update interest."""
        conn = c.conn
        c.dirty = True  # sends made while dispatching are taken below: no need to queue c
        evs = conn.events()
        if evs:
            if self._echo and conn.state is _STATE_OPEN:
                # EchoApplication: answer messages right here, no callback per
                # message. (Messages that came with the peer's close frame find
                # the connection closed and are not answered: general path.)
                send_binary = conn.send_binary
                send_text = conn.send_text
                it = iter(evs)
                try:
                    for e in it:
                        t = type(e)
                        if t is _BinaryMessage:
                            send_binary(e.data)
                        elif t is _TextMessage:
                            send_text(e.data)
                        else:
                            self._dispatch(c, (e,))
                            if conn.state is not _STATE_OPEN:
                                self._dispatch(c, it)
                except Exception:  # pragma: no cover - the codec does not fail on its own messages
                    logger.exception("echo error on %s", _fmt_addr(c.remote_address))
                    self._fail_1011(c)
                    self._dispatch(c, it)
            else:
                self._dispatch(c, evs)
            if c.phase == _DEAD:
                c.dirty = False
                return
        c.dirty = False
        if conn.failure_pending:
            # A peer error behind the messages just dispatched: the answers to
            # them are queued, so the close frame now goes out after them.
            conn.apply_pending_failure()
            self._dispatch(c, conn.events())
            if c.phase == _DEAD:
                return
        data = conn.data_to_send()
        if conn.state is not _STATE_OPEN:
            if c.closing_since == 0.0 and c.phase == _OPEN:
                c.closing_since = self._now  # closing or failed: bounded by close_timeout
        if data:
            out = c.out
            if out is None:
                # Send everything right now; keep what the kernel did not take.
                try:
                    n = c.sock.send(data)
                except _SEND_AGAIN:
                    n = 0
                except (OSError, ssl.SSLError) as exc:
                    logger.debug("send to %s failed: %s", _fmt_addr(c.remote_address), exc)
                    self._kill(c)
                    return
                if n < len(data):
                    if type(data) is bytearray:  # ours (data_to_send hands it over)
                        if n:
                            del data[:n]
                        c.out = data
                    else:
                        c.out = bytearray(memoryview(data)[n:])
                    c.last_send_progress = self._now
            else:
                out += data
        if c.out is None and c.mask == _EV_READ and not (c.paused or c.eof or conn.should_close_transport):
            return  # nothing changed: no epoll_ctl
        self._update_interest(c)

    def _dispatch(self, c: ServerWebSocket, evs: Iterable[Any]) -> None:
        """Call the application for each event (errors are logged, and close the connection 1011)."""
        conn = c.conn
        app = self.app
        for e in evs:
            t = type(e)
            try:
                if t is _TextMessage or t is _BinaryMessage:
                    app.on_message(c, e.data)
                elif t is _Connected:
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
                        logger.debug("connection %s failed: %r", _fmt_addr(c.remote_address), e.error)
                elif t is _Request:
                    if c.overflow:
                        conn.reject(503, _OVERFLOW_503)
                elif t is _Rejected:
                    logger.debug("handshake from %s rejected: %s %s", _fmt_addr(c.remote_address),
                                 e.status, e.reason)
                elif t is _Fragment:
                    handler = getattr(app, "on_fragment", None)
                    if handler is not None:
                        handler(c, e.data, e.text, e.final)
            except ConnectionStateError as exc:
                logger.debug("application sent on a closed connection %s: %s",
                             _fmt_addr(c.remote_address), exc)
            except Exception:
                logger.exception("application error on %s", _fmt_addr(c.remote_address))
                self._fail_1011(c)

    def _fail_1011(self, c: ServerWebSocket) -> None:
        conn = c.conn
        if conn.state is State.OPEN:
            try:
                conn.close(1011, "internal error")
                c.closing_since = time.monotonic()
            except Exception:  # pragma: no cover
                pass

    def _on_connected(self, c: ServerWebSocket) -> None:
        c.phase = _OPEN
        c.opened_at = time.monotonic()
        if logger.isEnabledFor(logging.DEBUG):
            req = c.conn.request
            path = getattr(req, "path", getattr(req, "target", "?"))
            logger.debug("open %s %s", _fmt_addr(c.remote_address), path)
        try:
            self.app.on_open(c)
        finally:
            if not self.keep_request:
                c.conn.request = None

    def _flush(self, c: ServerWebSocket) -> None:
        out = c.out
        if out is None:
            return
        try:
            n = c.sock.send(out)
        except (BlockingIOError, InterruptedError) + _WANT:
            return
        except (OSError, ssl.SSLError) as exc:
            logger.debug("send to %s failed: %s", _fmt_addr(c.remote_address), exc)
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
        """Decide what to wait for after output changed; close when done."""
        if c.phase == _DEAD:
            return
        out = c.out
        pending = len(out) if out is not None else 0
        conn = c.conn
        if not pending and (conn.should_close_transport or c.eof):
            if c.phase == _DRAIN:
                return
            if c.eof:
                self._collect_close(c)
                self._kill(c)
                return
            self._collect_close(c)
            self._start_drain(c)
            return
        if c.paused:
            if pending <= self.low_water:
                c.paused = False
                if c.phase != _DRAIN and self.ssl_context is not None and c.sock.pending():
                    self._ready.add(c)  # decrypted input waiting: the selector won't report it
        elif pending > self.high_water:
            c.paused = True
        if pending:
            mask = _EV_WRITE if (c.paused or c.eof) else _EV_BOTH
        else:
            mask = _EV_READ
        self._set_mask(c, mask)

    def _collect_close(self, c: ServerWebSocket) -> None:
        for e in c.conn.events():
            if type(e) is _Closed:
                c.close_code = e.code
                c.close_reason = e.reason

    def _start_drain(self, c: ServerWebSocket) -> None:
        c.phase = _DRAIN
        c.closing_since = time.monotonic()
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._kill(c)
            return
        self._notify_close(c)
        self._set_mask(c, _EV_READ)

    def _set_mask(self, c: ServerWebSocket, mask: int) -> None:
        if c.mask != mask:
            c.mask = mask
            self._poller.modify(c.fd, mask)

    def _notify_close(self, c: ServerWebSocket) -> None:
        if c.notified:
            return
        c.notified = True
        if c.opened_at:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("close %s code=%s reason=%r duration=%.3fs", _fmt_addr(c.remote_address),
                             c.close_code, c.close_reason, time.monotonic() - c.opened_at)
            try:
                self.app.on_close(c, c.close_code, c.close_reason)
            except Exception:
                logger.exception("application error in on_close")

    def _kill(self, c: ServerWebSocket) -> None:
        """Close the socket now and forget the connection."""
        if c.phase == _DEAD:
            return
        if c.conn.state is not State.CLOSED:
            try:
                c.conn.receive_eof()
            except Exception:  # pragma: no cover - defensive
                pass
            self._collect_close(c)
        c.phase = _DEAD
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
        self._notify_close(c)

    # -- internals: timeouts -------------------------------------------------

    def _sweep(self, now: float) -> None:
        hs = self.handshake_timeout
        ct = self.close_timeout
        pi = self.ping_interval
        pt = self.ping_timeout
        it = self.idle_timeout
        wt = self.write_timeout
        for c in list(self._conns.values()):
            phase = c.phase
            if phase == _DEAD:
                continue
            if phase < _OPEN:
                if hs is not None and now - c.accepted_at > hs:
                    logger.debug("opening handshake timeout: %s", _fmt_addr(c.remote_address))
                    self._kill(c)
                continue
            if phase == _DRAIN:
                if now - c.closing_since > min(ct or 2.0, 2.0):
                    self._kill(c)
                continue
            if wt is not None and c.out is not None and now - c.last_send_progress > wt:
                logger.debug("write timeout: %s", _fmt_addr(c.remote_address))
                self._kill(c)
                continue
            state = c.conn.state
            if c.closing_since:
                if ct is not None and now - c.closing_since > ct:
                    logger.debug("closing handshake timeout: %s", _fmt_addr(c.remote_address))
                    self._kill(c)
                continue
            if state is not State.OPEN:
                continue
            if pi is not None:
                if c.ping_sent_at:
                    if pt is not None and now - c.ping_sent_at > pt:
                        logger.debug("keepalive timeout: %s", _fmt_addr(c.remote_address))
                        c.conn.close(1011, "keepalive ping timeout")
                        c.close_code = 1011
                        self._after_io(c)
                        self._kill(c)
                        continue
                elif now - c.last_recv > pi:
                    c.ping_sent_at = now
                    c.conn.send_ping(b"wsframe keepalive")
                    self._after_io(c)
                    continue
            if it is not None and now - c.last_recv > it:
                logger.debug("idle timeout: %s", _fmt_addr(c.remote_address))
                c.close(1001, "idle timeout")
                self._after_io(c)


_STATE_OPEN = State.OPEN
_SEND_AGAIN = (BlockingIOError, InterruptedError) + _WANT
_TextMessage = _ev.TextMessage
_BinaryMessage = _ev.BinaryMessage
_Connected = _ev.Connected
_Ping = _ev.Ping
_Pong = _ev.Pong
_CloseReceived = _ev.CloseReceived
_Closed = _ev.Closed
_Request = _ev.Request
_Rejected = _ev.Rejected
_Fragment = getattr(_ev, "Fragment", type("_NoFragment", (), {}))


def _bind(host: str, port: int, reuse_port: bool, backlog: int) -> socket.socket:
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


def serve(app: Application, host: str = "127.0.0.1", port: int = 9001, *,
          stop_timeout: float = 5.0, **options: Any) -> None:
    """Serve ``app`` in this thread until SIGINT or SIGTERM, then stop gracefully.

    ``options`` are :class:`Server`'s keyword arguments.
    """
    server = Server(app, host, port, **options)
    if threading.current_thread() is threading.main_thread():
        server.install_signal_handlers(timeout=stop_timeout)
    server.serve_forever()


def run_workers(make_app: Callable[[], Application], workers: int, host: str = "127.0.0.1",
                port: int = 9001, *, stop_timeout: float = 5.0, **options: Any) -> int:
    """Run ``workers`` server processes sharing one port with ``SO_REUSEPORT``.

    The calling process forks the workers and supervises them: SIGINT/SIGTERM
    are passed on to the workers, which stop gracefully. Returns 0 when every
    worker exited with 0. Port 0 picks one free port for all workers.
    """
    # Reserve the port: bound with SO_REUSEPORT but not listening, so the
    # kernel gives it no connections, while workers bind the same port.
    reserve = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind((host, port))
    port = reserve.getsockname()[1]
    pids: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass

    # SIGINT/SIGTERM are blocked while forking: a worker must not die of a
    # signal that arrives before it has its own handlers (it then stops as soon
    # as it can, still exiting 0), nor run the supervisor's handler.
    sigs = {signal.SIGINT, signal.SIGTERM}
    old: dict = {}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        for i in range(workers):
            pid = os.fork()
            if pid == 0:  # worker
                code = 0
                try:
                    reserve.close()
                    early: list[int] = []
                    for sig in sigs:
                        signal.signal(sig, lambda signum, frame, early=early: early.append(signum))
                    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
                    server = Server(make_app(), host, port, reuse_port=True, **options)
                    server.install_signal_handlers(timeout=stop_timeout)
                    if early:
                        server.stop(stop_timeout)
                    server.serve_forever()
                except BaseException:
                    logger.exception("worker %d failed", i)
                    code = 1
                finally:
                    logging.shutdown()
                    os._exit(code)
            pids.append(pid)
        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    logger.info("started %d workers on port %d: %s", workers, port, " ".join(map(str, pids)))
    status = 0
    try:
        remaining = set(pids)
        while remaining:
            try:
                pid, st = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            if pid in remaining:
                remaining.discard(pid)
                if os.waitstatus_to_exitcode(st) != 0:
                    status = 1
                    forward(signal.SIGTERM, None)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        reserve.close()
    return status
