"""The server: :class:`Server` (configuration, public API, the connection table, the poll
loop, graceful stop) and :func:`serve`.

The server owns an :class:`~wsframe.server.accept.Acceptor` (the listening
socket) and a table of :class:`~wsframe.server.transport.Transport` objects,
one per connection, each with its own state and transport rules; the loop
calls their public methods.
"""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Set

from .. import _driver
from . import _pubsub as _ps
from ..connection import ServerConnection, State
from ..limits import UNSET, Limits, from_arguments
from .accept import Acceptor, bind
from .app import Application, ServerWebSocket, _ps_fast, format_address
from .poller import EV_READ, make_poller
from . import transport as _transport
from ..codec import speedups_enabled
from .transport import PHASE_OPEN, PHASE_OPENING, PHASE_TLS, RECV_SIZE

# The transport and the loop follow the codec's choice, as wsframe.connection
# does: compiled (transport.py and _pump.py with their _c.pxd), or the same
# sources uncompiled. ``compiled`` tells which.
if TYPE_CHECKING or not speedups_enabled:
    from . import _pump as _pump_impl, transport as _transport_impl
else:
    try:
        from . import _pump_c as _pump_impl, _transport_c as _transport_impl
    except ImportError:  # built without them (an older build): the same code, uncompiled
        from . import _pump as _pump_impl, transport as _transport_impl
Transport = _transport_impl.Transport
#: True when the loop and the transport are the compiled ones (wsframe.server._pump_c, _transport_c).
compiled: bool = _pump_impl.__name__.endswith("_c")

__all__ = ["Server", "serve", "codec_summary", "DEFAULT_STOP_TIMEOUT", "compiled"]

logger = logging.getLogger("wsframe.server")

DEFAULT_STOP_TIMEOUT = 10.0  # seconds a graceful stop waits for closing handshakes (= close_timeout)
_OPEN = State.OPEN
_GOING_AWAY = 1001


def codec_summary() -> str:
    """Which codec is active, for the start-up log line: ``C extension, SIMD avx2`` or ``pure Python``."""
    from .. import codec

    if codec.speedups_enabled:
        level = getattr(codec.implementation, "simd_level", lambda: "unknown")()
        return f"C extension, SIMD {level}"
    return "pure Python"


class Server:
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
    ``limits``
        a :class:`wsframe.limits.Limits` (sizes, timeouts, backpressure marks, the
        fragment cap); the defaults are those of every wsframe layer.
    ``max_message_size``, ``max_fragments``, ``max_header_size``,
    ``handshake_timeout``, ``close_timeout``, ``message_timeout``,
    ``ping_interval``, ``ping_timeout``, ``idle_timeout``, ``write_timeout``,
    ``high_water``, ``low_water``
        override that field of ``limits`` (``handshake_timeout`` is its
        ``open_timeout``); see :class:`wsframe.limits.Limits` for what each does.
    ``compression``
        accept permessage-deflate: on by default (``limits.compression``);
        False/None: off. ``extensions`` (server extension factories, e.g.
        ``ServerPerMessageDeflate(...)``) overrides it.
    ``subprotocols``, ``allowed_origins``
        passed to each :class:`~wsframe.connection.ServerConnection`.
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
        limits: Optional[Limits] = None,
        sock: Optional[socket.socket] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        reuse_port: bool = False,
        max_connections: int = 10000,
        max_message_size: Optional[int] = UNSET,
        max_fragments: Optional[int] = UNSET,
        max_header_size: int = UNSET,
        subprotocols: Sequence[str] = (),
        compression: Any = UNSET,
        extensions: Optional[Sequence[Any]] = None,
        allowed_origins: Optional[Iterable[str]] = None,
        handshake_timeout: Optional[float] = UNSET,
        close_timeout: Optional[float] = UNSET,
        message_timeout: Optional[float] = UNSET,
        ping_interval: Optional[float] = UNSET,
        ping_timeout: Optional[float] = UNSET,
        idle_timeout: Optional[float] = UNSET,
        write_timeout: Optional[float] = UNSET,
        high_water: int = UNSET,
        low_water: int = UNSET,
        backlog: int = 1024,
        keep_request: bool = False,
        connection_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        lim = from_arguments(limits, locals())
        if compression is not UNSET:
            lim = lim.replace(compression=bool(compression))
        self.limits = lim
        self.app = app
        self.on_message = app.on_message
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.keep_request = keep_request
        if extensions is None:
            extensions = ()
            if lim.compression:
                from ..permessage_deflate import ServerPerMessageDeflate

                extensions = (ServerPerMessageDeflate(),)
        self._conn_kwargs = dict(lim.connection_kwargs(), subprotocols=tuple(subprotocols),
                                 extensions=tuple(extensions), allowed_origins=allowed_origins)
        if connection_options:
            self._conn_kwargs.update(connection_options)

        if sock is None:
            sock = bind(host, port, reuse_port, backlog)
        else:
            sock.listen(backlog)
        sock.setblocking(False)
        self.socket = sock
        self.host, self.port = sock.getsockname()[:2]
        self.poller = make_poller()
        self._acceptor = Acceptor(sock, self.poller, self._add_connection, lambda: len(self._conns))
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self.poller.register(self._rsock.fileno(), EV_READ)
        self.now = time.monotonic()  # time of the current loop iteration: the server's one clock
        self._conns: Dict[int, _transport.Transport] = {}
        self._n_overflow = 0
        self.dirty: List[_transport.Transport] = []  # output queued outside dispatch
        self.ready: Set[_transport.Transport] = set()  # TLS connections with decrypted input pending
        self._calls: Deque[Callable[[], Any]] = deque()
        self._buf = bytearray(RECV_SIZE)
        self.view = memoryview(self._buf)  # the one receive buffer, shared by every connection
        self._stopping = False
        self._stop_deadline = 0.0
        self._stop_requested = False
        self._stop_timeout = DEFAULT_STOP_TIMEOUT
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        self.started = threading.Event()
        self._sweep_every = _driver.tick_interval(lim)

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
        return [t.ws for t in self._conns.values()]

    def call_soon_threadsafe(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in the server's thread at its next loop iteration."""
        self._calls.append(fn)
        self._wakeup()

    # Pub/sub (wsframe.server._pubsub): topics, publish and broadcast on this server.
    _pubsub: Any = None
    _ps_pending: Optional[List[_transport.Transport]] = None
    _ps_runs: Any = ()  # the PubSub's pending runs: not empty while a burst waits (ws.send checks)
    pubsub = _ps.pubsub
    publish = _ps.publish
    publish_threadsafe = _ps.publish_threadsafe
    broadcast = _ps.broadcast
    _pubsub_flush = _ps_fast.flush  # compiled with the speedups (wsframe.server.app chooses)

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
        for t in list(self._conns.values()):
            t.kill()
        self._acceptor.stop()
        try:
            self.poller.unregister(self._rsock.fileno())
        except (KeyError, ValueError, OSError):
            pass
        self._rsock.close()
        self._wsock.close()
        self.poller.close()

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
        _pump_impl.run(self)  # the loop (wsframe.server._pump)

    # -- the connection table --------------------------------------------------

    def _add_connection(self, sock: socket.socket, addr: Any) -> None:
        """A new socket from the acceptor: TLS-wrap it for wss://, give it a
        connection (an HTTP 503 past ``max_connections``) and a transport."""
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
        t = Transport(self, sock, addr, ServerConnection(**kwargs), self.now, phase, overflow)
        if overflow:
            self._n_overflow += 1
        self._conns[t.fd] = t
        self.poller.register(t.fd, EV_READ)
        if phase == PHASE_TLS:
            t.tls_handshake()

    def forget(self, t: _transport.Transport) -> None:
        """``t`` closed its socket: drop it from the table and the poller."""
        self._conns.pop(t.fd, None)
        self.ready.discard(t)
        if t.overflow:
            self._n_overflow -= 1
        try:
            self.poller.unregister(t.fd)
        except (KeyError, ValueError, OSError):
            pass
        self._acceptor.retry_soon()  # a descriptor is free

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

    def _begin_stop(self) -> None:
        self._stopping = True
        self._stop_deadline = time.monotonic() + self._stop_timeout
        self._acceptor.stop()
        logger.info("stopping: closing %d connection(s) with 1001", len(self._conns))
        for t in list(self._conns.values()):
            if t.phase == PHASE_OPEN and t.conn.state is _OPEN:
                try:
                    t.close(_GOING_AWAY, _driver.REASON_SHUTDOWN)
                except Exception:  # pragma: no cover - defensive
                    t.kill()
            elif t.phase in (PHASE_TLS, PHASE_OPENING):
                t.kill()


def serve(app: Application, host: str = "127.0.0.1", port: int = 9001, *,
          stop_timeout: float = DEFAULT_STOP_TIMEOUT, **options: Any) -> None:
    """Serve ``app`` in this thread until SIGINT or SIGTERM, then stop gracefully
    (close 1001, at most ``stop_timeout`` seconds). ``options`` are
    :class:`Server`'s keyword arguments."""
    server = Server(app, host, port, **options)
    if threading.current_thread() is threading.main_thread():
        server.install_signal_handlers(timeout=stop_timeout)
    server.serve_forever()
