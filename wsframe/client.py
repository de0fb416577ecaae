"""A blocking WebSocket client for ws:// and wss:// URLs.

::

    from wsframe.client import connect

    with connect("ws://127.0.0.1:9001/") as ws:
        ws.send("hello")
        print(ws.recv(timeout=5))

The protocol is done by the sans-I/O :class:`wsframe.connection.ClientConnection`;
this module only moves bytes and waits. A connection may be used from two
threads at once (one receiving, others sending): every use of the socket and
of the protocol object is serialised by a lock, and waiting for input happens
outside it. Pings from the server are answered while :meth:`recv` (or
iteration) reads, so an application that stops reading stops answering pings.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any, Iterable, Iterator, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from . import events as _ev
from .connection import ClientConnection, State
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    InvalidStatus,
    WebSocketError,
    closed_exception,
)

__all__ = [
    "ClientWebSocket",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "connect",
]

_WANT = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_BUF_SIZE = 64 * 1024


def _closed_exc(code: int, reason: str, error: Optional[BaseException]) -> ConnectionClosed:
    return closed_exception(code, reason, error)


class ClientWebSocket:
    """An open client connection. Made by :func:`connect`; not instantiated directly."""

    def __init__(self, sock: socket.socket, conn: ClientConnection, close_timeout: Optional[float]) -> None:
        self.sock = sock
        self.conn = conn
        self.close_timeout = close_timeout
        self._io_lock = threading.Lock()  # socket + protocol object
        self._recv_lock = threading.Lock()  # one reader at a time
        self._messages: deque = deque()
        self._buf = bytearray(_BUF_SIZE)
        self._closed: Optional[ConnectionClosed] = None  # set once the protocol said Closed
        self._closed_event = threading.Event()
        self._eof = False
        self._sock_closed = False
        self._pings: dict[bytes, threading.Event] = {}
        self._opened = False
        self._rejected: Optional[BaseException] = None

    # -- properties ------------------------------------------------------------

    @property
    def subprotocol(self) -> Optional[str]:
        """The subprotocol the server chose, or None."""
        return self.conn.subprotocol

    @property
    def extensions(self) -> list:
        """The negotiated extensions (e.g. a
        :class:`~wsframe.permessage_deflate.PerMessageDeflate`), in the server's order."""
        return list(self.conn.extensions)

    @property
    def response(self) -> Any:
        """The server's handshake response (see :mod:`wsframe.handshake`)."""
        return self.conn.response

    @property
    def state(self) -> State:
        """The protocol state."""
        return self.conn.state

    @property
    def close_code(self) -> Optional[int]:
        """The close code once closed, else None."""
        return self._closed.code if self._closed is not None else None

    @property
    def close_reason(self) -> Optional[str]:
        """The close reason once closed, else None."""
        return self._closed.reason if self._closed is not None else None

    @property
    def closed(self) -> bool:
        """True once the connection is over."""
        return self._closed is not None

    # -- sending ---------------------------------------------------------------

    def send(self, data: Union[str, bytes, bytearray, memoryview]) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        Raises :class:`ConnectionClosed` when the connection is closing or closed.
        """
        with self._io_lock:
            if self.conn.state is not State.OPEN:
                raise self._closed or ConnectionClosedError(1006, "connection is not open")
            if isinstance(data, str):
                self.conn.send_text(data)
            else:
                self.conn.send_binary(data)
            self._flush_locked()

    def ping(self, payload: Optional[bytes] = None) -> threading.Event:
        """Send a ping; returns an event set when its pong arrives.

        ``payload`` defaults to 4 random bytes. Pongs are only seen while
        something reads (:meth:`recv` or iteration).
        """
        if payload is None:
            payload = os.urandom(4)
        waiter = threading.Event()
        with self._io_lock:
            if self.conn.state is not State.OPEN:
                raise self._closed or ConnectionClosedError(1006, "connection is not open")
            self._pings[bytes(payload)] = waiter
            self.conn.send_ping(payload)
            self._flush_locked()
        return waiter

    def _flush_locked(self) -> None:
        data = self.conn.data_to_send()
        if data and not self._sock_closed:
            try:
                _sendall(self.sock, data)
            except (OSError, ssl.SSLError) as exc:
                self._on_transport_error(exc)

    # -- receiving -------------------------------------------------------------

    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Waits at most ``timeout`` seconds (forever when None) and raises
        :class:`TimeoutError` then. Raises :class:`ConnectionClosedOK` or
        :class:`ConnectionClosedError` once the connection is closed and every
        message received before was returned.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._recv_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            raise TimeoutError("another thread is receiving")
        try:
            while not self._messages:
                if self._closed is not None:
                    raise self._closed
                if self.conn.failure_pending:
                    # Every message that came before the peer's error has been
                    # returned (and maybe answered): now fail the connection.
                    with self._io_lock:
                        self._process_locked()  # fails the connection: close frame out, Closed read
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no message within the timeout")
                self._pump(remaining)
            return self._messages.popleft()
        finally:
            self._recv_lock.release()

    def __iter__(self) -> Iterator[Union[str, bytes]]:
        """Yield messages until the connection closes; a normal close ends the
        iteration, an abnormal one raises :class:`ConnectionClosedError`."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    def _pump(self, timeout: Optional[float]) -> bool:
        """Wait up to ``timeout`` for input, feed it to the protocol, handle the
        events. Returns False when nothing arrived in time."""
        sock = self.sock
        if self._sock_closed:
            self._finish(None)
            return True
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
        if not pending:
            try:
                r, _, _ = select.select([sock], [], [], timeout)
            except (OSError, ValueError):
                r = [sock]
            if not r:
                return False
        with self._io_lock:
            if self._sock_closed:
                self._finish(None)
                return True
            try:
                n = sock.recv_into(self._buf)
            except _WANT:
                return True
            except (OSError, ssl.SSLError) as exc:
                self._on_transport_error(exc)
                return True
            if n == 0:
                self._eof = True
                self.conn.receive_eof()
            else:
                self.conn.receive_data(bytes(memoryview(self._buf)[:n]))
            self._process_locked()
        return True

    def _process_locked(self) -> None:
        self._handle_events(self.conn.events())
        if self.conn.failure_pending and not self._messages:
            # A peer error behind messages already returned (and answered): fail now.
            self.conn.apply_pending_failure()
            self._handle_events(self.conn.events())
        self._flush_locked()
        if self._closed is not None:
            if self.conn.should_close_transport or self._eof or not self._opened:
                self._close_socket()
            self._closed_event.set()

    def _handle_events(self, events) -> None:
        for e in events:
            t = type(e)
            if t is _ev.TextMessage or t is _ev.BinaryMessage:
                self._messages.append(e.data)
            elif t is _ev.Pong:
                payload = bytes(e.payload)
                if payload in self._pings:
                    # a pong also acknowledges every earlier ping
                    for key in list(self._pings):
                        self._pings.pop(key).set()
                        if key == payload:
                            break
            elif t is _ev.Connected:
                self._opened = True
            elif t is _ev.Rejected:
                self._rejected = InvalidStatus(f"server rejected the handshake: {e.status} {e.reason}",
                                               e.status)
            elif t is _ev.Closed:
                self._closed = _closed_exc(e.code, e.reason, e.error)
                if not self._opened and self._rejected is None:
                    err = e.error
                    self._rejected = err if isinstance(err, HandshakeError) else HandshakeError(
                        f"opening handshake failed: {err or e.reason or e.code}")

    def _on_transport_error(self, exc: BaseException) -> None:
        if not self._eof:
            self._eof = True
            try:
                self.conn.receive_eof()
            except Exception:  # pragma: no cover - defensive
                pass
            for e in self.conn.events():
                if type(e) is _ev.Closed and self._closed is None:
                    self._closed = _closed_exc(e.code, e.reason, e.error or exc)
        if self._closed is None:
            self._closed = ConnectionClosedError(1006, str(exc), exc)
        self._close_socket()
        self._closed_event.set()

    def _finish(self, exc: Optional[BaseException]) -> None:
        if self._closed is None:
            self._closed = ConnectionClosedError(1006, "connection lost", exc)
        self._closed_event.set()

    def _close_socket(self) -> None:
        if not self._sock_closed:
            self._sock_closed = True
            try:
                self.sock.close()
            except OSError:  # pragma: no cover
                pass

    # -- closing ---------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close: send a close frame, wait (up to ``close_timeout``) for the
        server's close and for it to drop TCP, then close the socket.
        Idempotent."""
        with self._io_lock:
            if self.conn.state is State.OPEN:
                try:
                    self.conn.close(code, reason)
                except WebSocketError:
                    pass
                self._flush_locked()
        deadline = None if self.close_timeout is None else time.monotonic() + self.close_timeout
        while not self._sock_closed:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            if self._recv_lock.acquire(timeout=0.05):
                try:
                    self._pump(remaining if remaining is None else min(remaining, 0.5))
                finally:
                    self._recv_lock.release()
            else:  # another thread is reading: it will see the close
                self._closed_event.wait(0.05)
            if self._closed is not None and self.conn.should_close_transport:
                break
        with self._io_lock:
            if self._closed is None:
                self._closed = ConnectionClosedError(1006, "closing handshake timed out")
            self._close_socket()
            self._closed_event.set()

    def __enter__(self) -> "ClientWebSocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ClientWebSocket {self.conn.state.name}>"


def _sendall(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = sock.send(view)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
            select.select([], [sock], [])
            continue
        except ssl.SSLWantReadError:
            select.select([sock], [], [])
            continue
        view = view[n:]


def connect(
    url: str,
    *,
    ssl_context: Optional[ssl.SSLContext] = None,
    cafile: Optional[str] = None,
    subprotocols: Sequence[str] = (),
    extra_headers: Iterable[Tuple[str, str]] = (),
    origin: Optional[str] = None,
    open_timeout: Optional[float] = 10.0,
    close_timeout: Optional[float] = 10.0,
    max_message_size: Optional[int] = 1 << 20,
    **connection_options: Any,
) -> ClientWebSocket:
    """Open a WebSocket connection to ``url`` (ws:// or wss://) and return it.

    ``ssl_context`` (or a default context trusting ``cafile`` or the system
    CAs) is used for wss://. ``subprotocols`` are offered in order,
    ``extra_headers`` added to the request. The TCP connect, TLS and HTTP
    handshakes must complete within ``open_timeout`` seconds;
    ``close_timeout`` bounds :meth:`ClientWebSocket.close`. Messages larger
    than ``max_message_size`` bytes fail the connection with 1009 (decompressed
    size, when compressed). Other keyword arguments go to
    :class:`~wsframe.connection.ClientConnection`, e.g.
    ``extensions=[ClientPerMessageDeflate()]`` (from
    :mod:`wsframe.permessage_deflate`) to offer compression.

    Raises :class:`wsframe.HandshakeError` (:class:`wsframe.InvalidStatus` when
    the server answered with another status than 101), :class:`TimeoutError`,
    or :class:`OSError`.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    secure = scheme == "wss"
    port = parts.port or (443 if secure else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host_header = f"[{host}]" if ":" in host else host
    if port != (443 if secure else 80):
        host_header += f":{port}"
    deadline = None if open_timeout is None else time.monotonic() + open_timeout

    sock = socket.create_connection((host, port), timeout=open_timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if secure:
            if ssl_context is None:
                ssl_context = ssl.create_default_context(cafile=cafile)
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        conn = ClientConnection(host_header, path, origin=origin, subprotocols=tuple(subprotocols),
                                extra_headers=tuple(extra_headers), max_message_size=max_message_size,
                                **connection_options)
        sock.setblocking(False)
        ws = ClientWebSocket(sock, conn, close_timeout)
        with ws._io_lock:
            ws._flush_locked()
        while not ws._opened:
            if ws._rejected is not None or ws._closed is not None:
                raise ws._rejected or HandshakeError("connection closed during the opening handshake")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("opening handshake timed out")
            ws._pump(remaining)
        return ws
    except BaseException:
        sock.close()
        raise
