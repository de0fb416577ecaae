"""The server's event loop: :class:`Server` (configuration, public API, the poll
loop, graceful stop) and :func:`serve`.

Accepting is inherited from :class:`wsframe.server.accept.Acceptor`, per-connection
I/O (read, dispatch, write, backpressure) from
:class:`wsframe.server.transport.ConnectionIO`; time limits are in
:mod:`wsframe.server.timers`.
"""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Set

from .accept import Acceptor, bind
from .app import PHASE_DEAD, PHASE_OPEN, PHASE_OPENING, PHASE_TLS, Application, ServerWebSocket
from .poller import EV_READ, EV_READABLE, EV_WRITABLE, make_poller
from .timers import sweep, sweep_interval
from .transport import RECV_SIZE, ConnectionIO
from ..connection import DEFAULT_MAX_FRAGMENTS, State
from ..enums import CloseCode

__all__ = ["Server", "serve", "codec_summary", "DEFAULT_STOP_TIMEOUT"]

logger = logging.getLogger("wsframe.server")

DEFAULT_STOP_TIMEOUT = 10.0  # seconds a graceful stop waits for closing handshakes (= close_timeout)
_OPEN = State.OPEN
_GOING_AWAY = int(CloseCode.GOING_AWAY)


def codec_summary() -> str:
    """Which codec is active, for the start-up log line: ``C extension, SIMD avx2`` or ``pure Python``."""
    from .. import codec

    if codec.speedups_enabled:
        level = getattr(codec.implementation, "simd_level", lambda: "unknown")()
        return f"C extension, SIMD {level}"
    return "pure Python"


class Server(Acceptor, ConnectionIO):
    """A WebSocket server running one application on one listening socket.

    Parameters (times are seconds, ``None`` disables):

    ``app``
        the :class:`Application` (any object with its methods; they are looked
        up once, here).
    ``host``, ``port``
        where to listen; port 0 picks a free port (see :attr:`port`).
    ``sock``
        an already bound socket to listen on, instead of host/port.
    ``ssl_context``
        serve wss:// with this server-side context (:func:`make_ssl_context`).
    ``reuse_port``
        set ``SO_REUSEPORT`` (several processes sharing one port).
    ``max_connections``
        open connections at most; past it new connections get an HTTP 503 and
        are closed (a few at a time), or are closed at once when too many wait.
    ``max_message_size``, ``max_fragments``, ``max_header_size``, ``subprotocols``,
    ``extensions``, ``allowed_origins``
        passed to each :class:`~wsframe.connection.ServerConnection`
        (``max_fragments``: most frames of one incoming message, 4096 by
        default; one more fails the connection with 1009)
        (``extensions``: server extension factories, e.g.
        ``wsframe.permessage_deflate.ServerPerMessageDeflate()``).
    ``handshake_timeout``
        the TLS plus HTTP opening handshake must complete within it.
    ``close_timeout``
        after a close frame was sent or received, wait this long for the
        closing handshake to finish.
    ``message_timeout``
        a message must arrive completely within this time from its first byte
        (checked by the sweep, so up to a second later); else close 1008.
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
        max_fragments: Optional[int] = DEFAULT_MAX_FRAGMENTS,
        max_header_size: int = 16384,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[Any] = (),
        allowed_origins: Optional[Iterable[str]] = None,
        handshake_timeout: Optional[float] = 10.0,
        close_timeout: Optional[float] = 10.0,
        message_timeout: Optional[float] = 60.0,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = 20.0,
        idle_timeout: Optional[float] = None,
        write_timeout: Optional[float] = 60.0,
        high_water: int = 1 << 20,
        low_water: int = 1 << 18,
        backlog: int = 1024,
        keep_request: bool = False,
        connection_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        if low_water > high_water:
            raise ValueError("low_water must not exceed high_water")
        self.app = app
        self._on_message = app.on_message
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self.message_timeout = message_timeout
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
            max_fragments=max_fragments,
            max_header_size=max_header_size,
        )
        if connection_options:
            self._conn_kwargs.update(connection_options)

        if sock is None:
            sock = bind(host, port, reuse_port, backlog)
        else:
            sock.listen(backlog)
        sock.setblocking(False)
        self.socket = sock
        self.host, self.port = sock.getsockname()[:2]
        self._poller = make_poller()
        self._poller.register(sock.fileno(), EV_READ)
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._poller.register(self._rsock.fileno(), EV_READ)
        self._now = time.monotonic()  # time of the current loop iteration
        self._conns: Dict[int, ServerWebSocket] = {}
        self._n_overflow = 0
        self._dirty: List[ServerWebSocket] = []  # output queued outside dispatch
        self._ready: Set[ServerWebSocket] = set()  # TLS connections with decrypted input pending
        self._calls: Deque[Callable[[], Any]] = deque()
        self._buf = bytearray(RECV_SIZE)
        self._view = memoryview(self._buf)
        self._listening = True
        self._accept_paused = False
        self._accept_resume_at = 0.0
        self._accept_backoff = 0.0  # > 0 during an out-of-descriptors episode
        self._stopping = False
        self._stop_deadline = 0.0
        self._stop_requested = False
        self._stop_timeout = DEFAULT_STOP_TIMEOUT
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        self.started = threading.Event()
        self._sweep_every = sweep_interval((handshake_timeout, close_timeout, message_timeout, ping_interval,
                                            ping_timeout, idle_timeout, write_timeout))

    # -- public API ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The ws:// or wss:// URL the server listens on."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/"

    @property
    def connections(self) -> List[ServerWebSocket]:
        """A snapshot of the current connections."""
        return list(self._conns.values())

    def call_soon_threadsafe(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in the server's thread at its next loop iteration."""
        self._calls.append(fn)
        self._wakeup()

    # -- pub/sub (wsframe.pubsub) -----------------------------------------------

    _pubsub: Any = None
    _ps_pending: Optional[List[ServerWebSocket]] = None

    @property
    def pubsub(self) -> Any:
        """This server's :class:`wsframe.pubsub.PubSub` (made with the defaults
        on first use; assign your own before the first subscribe to configure)."""
        if self._pubsub is None:
            from ..pubsub import PubSub

            self._pubsub = PubSub()
        return self._pubsub

    @pubsub.setter
    def pubsub(self, value: Any) -> None:
        self._pubsub = value

    def publish(self, topic: str, message: Any) -> int:
        """Send ``message`` (str: text, bytes-like: binary) to every subscriber
        of ``topic``, framed once. From the server's thread (else
        :meth:`publish_threadsafe`). Returns how many local subscribers got it queued."""
        return self.pubsub.publish(topic, message)

    def publish_threadsafe(self, topic: str, message: Any) -> None:
        """:meth:`publish` from any thread (runs at the loop's next iteration)."""
        self.call_soon_threadsafe(lambda: self.pubsub.publish(topic, message))

    def broadcast(self, connections: Iterable[Any], message: Any) -> int:
        """Send ``message`` to each of ``connections``, framed once (same budget as publish)."""
        return self.pubsub.broadcast(connections, message)

    def _pubsub_queued(self, c: ServerWebSocket) -> None:
        pending = self._ps_pending
        if pending is None:
            pending = self._ps_pending = []
        if not pending:
            self._calls.append(self._pubsub_flush)  # the loop's next pass, before its poll waits
        pending.append(c)

    def _pubsub_flush(self) -> None:
        pending, self._ps_pending = self._ps_pending, []
        now = self._now
        for c in pending or ():
            out = c.out
            if out is None or c.phase == PHASE_DEAD:
                continue
            if not out:
                c.out = None
            elif c.interest != EV_READ or self.ssl_context is not None:
                self._flush(c)
            else:  # one send for everything queued since the last pass (the common case, inline)
                try:
                    n = c.sock.send(out)
                except (BlockingIOError, InterruptedError):
                    n = 0
                except OSError:
                    self._flush(c)  # logs and drops the connection
                    continue
                if n:
                    c.last_send_progress = now
                if n == len(out):
                    c.out = None
                    if c.conn.should_close_transport or c.eof:
                        self._update_interest(c)
                else:
                    del out[:n]
                    self._update_interest(c)  # the rest when writable (backpressure)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Ask the server to stop gracefully; returns at once.

        Safe from any thread and from a signal handler. The loop then stops
        accepting (the listening socket is closed), sends close 1001 ("server
        shutting down") to every open connection, drops connections still in
        their opening handshake, and :meth:`serve_forever` returns once every
        connection is closed or ``timeout`` seconds have passed (the rest are
        dropped).
        """
        self._stop_timeout = timeout
        self._stop_requested = True
        self._wakeup()

    def start(self) -> "Server":
        """Run :meth:`serve_forever` in a daemon thread; returns self once it runs."""
        t = threading.Thread(target=self.serve_forever, name="wsframe-server", daemon=True)
        self._thread = t
        t.start()
        self.started.wait(5)
        return self

    def shutdown(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """:meth:`stop` gracefully and wait for the thread started by :meth:`start`
        (at most ``timeout`` + 5 seconds). Without that thread (the loop was never
        run, or runs elsewhere), close everything at once with :meth:`close`."""
        self.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout + 5)
            self._thread = None
        else:
            self.close()

    def install_signal_handlers(self, signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM),
                                timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Make each of ``signals`` (SIGINT and SIGTERM by default) call
        :meth:`stop` with ``timeout``. Call it from the main thread (Python's
        rule for signal handlers). Without it, :meth:`serve_forever` in the main
        thread still stops gracefully on SIGINT (Ctrl-C)."""
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
        """Run the event loop until :meth:`stop` completes; then close everything.

        In the main thread, SIGINT (Ctrl-C) stops the server gracefully unless
        the program installed its own SIGINT handler: clients get close 1001
        and this call returns normally; a second Ctrl-C drops the remaining
        connections at once.
        """
        logger.info("wsframe server listening on %s (codec: %s)", self.url, codec_summary())
        previous = self._take_sigint()
        self.started.set()
        try:
            while True:
                try:
                    self._run()
                    break
                except KeyboardInterrupt:  # raised by a SIGINT handler we did not install
                    if self._stopping:
                        break
                    self.stop(self._stop_timeout)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            n = len(self._conns)
            if n:
                logger.info("stop: dropping %d connection(s) still open", n)
            self.close()
            logger.info("wsframe server stopped")

    # -- internals: the loop -------------------------------------------------

    def _run(self) -> None:
        poll = self._poller.poll
        monotonic = time.monotonic
        conns = self._conns
        listen_fd = self.socket.fileno()
        wakeup_fd = self._rsock.fileno()
        on_readable = self._on_readable
        flush = self._flush
        next_sweep = monotonic() + self._sweep_every
        while True:
            if self._stop_requested and not self._stopping:
                self._begin_stop()
            if self._stopping and (not conns or monotonic() >= self._stop_deadline):
                return
            if self._ready or self._dirty or self._calls:
                timeout = 0.0
            else:
                wake = next_sweep
                if self._accept_paused and self._accept_resume_at < wake:
                    wake = self._accept_resume_at
                timeout = wake - monotonic()
                if timeout < 0.0:  # (not max(): a builtin call per wake-up)
                    timeout = 0.0
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
                if ev & EV_WRITABLE and c.out is not None:
                    flush(c)
                if ev & EV_READABLE or c.phase == PHASE_TLS:
                    on_readable(c)
            if self._calls:
                self._run_calls()
            if self._ready:
                again, self._ready = self._ready, set()
                for c in again:
                    if c.phase != PHASE_DEAD:
                        on_readable(c)
            if self._dirty:
                dirty, self._dirty = self._dirty, []
                for c in dirty:
                    c.dirty = False
                    if c.phase != PHASE_DEAD:
                        self._after_io(c)
            now = self._now
            if self._accept_paused and now >= self._accept_resume_at:
                self._resume_accepting()
            if now >= next_sweep:
                sweep(self, now)
                next_sweep = now + self._sweep_every

    def _take_sigint(self) -> Any:
        """In the main thread, replace Python's default SIGINT handler (which
        raises KeyboardInterrupt anywhere) by a graceful stop; returns the old
        handler to restore, or None when nothing was changed."""
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                return None
            return signal.signal(signal.SIGINT, self._on_sigint)
        except (ValueError, OSError):  # pragma: no cover - e.g. embedded interpreters
            return None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._stop_requested:
            self._stop_timeout = 0.0  # second Ctrl-C: drop what is left now
            self._stop_deadline = 0.0
            self._wakeup()
            return
        logger.info("interrupted: stopping")
        self.stop(self._stop_timeout)

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

    def _stop_listening(self) -> None:
        if self._listening:
            self._listening = False
            if not self._accept_paused:
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
            if c.phase == PHASE_OPEN and c.conn.state is _OPEN:
                try:
                    c.close(_GOING_AWAY, "server shutting down")
                except Exception:  # pragma: no cover - defensive
                    self._kill(c)
            elif c.phase in (PHASE_TLS, PHASE_OPENING):
                self._kill(c)


def serve(app: Application, host: str = "127.0.0.1", port: int = 9001, *,
          stop_timeout: float = DEFAULT_STOP_TIMEOUT, **options: Any) -> None:
    """Serve ``app`` in this thread until SIGINT or SIGTERM, then stop gracefully
    (close 1001, at most ``stop_timeout`` seconds). ``options`` are
    :class:`Server`'s keyword arguments."""
    server = Server(app, host, port, **options)
    if threading.current_thread() is threading.main_thread():
        server.install_signal_handlers(timeout=stop_timeout)
    server.serve_forever()
