"""A blocking WebSocket client for ws:// and wss:// URLs, safe to use from many threads.

::

    from wsframe.client import connect

    with connect("ws://127.0.0.1:9001/") as ws:
        ws.send("hello")
        print(ws.recv(timeout=5))

The protocol is done by the sans-I/O :class:`wsframe.connection.ClientConnection`;
this module moves bytes and waits (:mod:`wsframe._client_open` opens the
connection). A background thread (:mod:`wsframe._client_reader`)
reads the socket all the time: it queues messages for :meth:`ClientWebSocket.recv`
(at most ``max_queue``; a full queue stops reading, so the server feels the
backpressure), answers pings and sets ping waiters, whether or not the
application is receiving. Sending happens in the caller's thread through an
ordered output queue (:mod:`wsframe._client_output`), so reading never waits
on writing and writing never waits on reading.

Thread safety: every method may be called from any thread at the same time.
Each message is sent whole (the frames of two messages never interleave) and
each received message goes to exactly one ``recv()`` caller.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Any, Deque, Iterable, Iterator, Optional, Sequence, Tuple, Union

from . import _driver
from . import events as _ev
from ._client_open import open_handshake
from ._client_output import OutputQueue
from ._client_socket import SocketIO, open_socket
from ._client_url import parse_url
from .connection import ClientConnection, State
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    InvalidStatus,
    closed_exception,
)
from .limits import UNSET, Limits, from_arguments

__all__ = ["ClientWebSocket", "ConnectionClosed", "ConnectionClosedError", "ConnectionClosedOK", "connect"]

Data = Union[str, bytes, bytearray, memoryview]


class ClientWebSocket:
    """An open client connection. Made by :func:`connect`; not instantiated directly.

    ``sock`` is the socket and ``conn`` the protocol object; use them only to
    inspect (every use goes through this object's lock).
    """

    def __init__(self, sock: Any, conn: ClientConnection, limits: Limits,
                 max_queue: Union[int, Tuple[int, int], None] = 16,
                 max_queue_bytes: Optional[int] = 16 << 20) -> None:
        self.sock = sock
        self.conn = conn
        self.limits = limits
        self.close_timeout = limits.close_timeout
        self.write_timeout = limits.write_timeout
        self._drv = _driver.Driver(conn, limits, time.monotonic())  # the held-failure rule and its grace
        high: Optional[int]
        low: Optional[int]
        if isinstance(max_queue, tuple):
            high, low = max_queue
        else:
            high, low = max_queue, None if max_queue is None else max_queue // 4
        if high is not None and (high < 1 or low is None or not 0 <= low < high):
            raise ValueError("max_queue must be None, a count >= 1 or a (high, low) pair with 0 <= low < high")
        if max_queue_bytes is not None and max_queue_bytes < 1:
            raise ValueError("max_queue_bytes must be None or >= 1")
        self._high, self._low, self._max_bytes = high, low, max_queue_bytes
        self._lock = threading.Lock()  # the protocol object and every attribute below
        self._recv_cond = threading.Condition(self._lock)
        self._reader_cond = threading.Condition(self._lock)
        self._io = SocketIO(sock)
        self._out = OutputQueue(self._io, self._lock, self._write_failed, self._release_socket)
        self._messages: Deque[Union[str, bytes]] = deque()
        self._queued_bytes = 0
        self._paused = False  # the queue is full: the reader waits
        self._pings: dict = {}  # payload -> (Event, monotonic time sent)
        self._latency = 0.0
        self._closed: Optional[ConnectionClosed] = None  # what recv()/send() raise once over
        self._closed_at = 0.0
        self._failure_deadline = 0.0
        self._aborted = False  # the socket was shut down without a closing handshake
        self._write_shut = False
        self._reader_done = False
        self._fd_closed = False
        self._done = threading.Event()  # the reader ended and the socket is released
        self._opened = False
        self._rejected: Optional[BaseException] = None
        self._request: Any = None
        self._addresses: Tuple[Any, Any] = (None, None)

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
    def request(self) -> Any:
        """The handshake request we sent (a :class:`wsframe.handshake.Request`)."""
        return self._request

    @property
    def response(self) -> Any:
        """The server's handshake response (a :class:`wsframe.handshake.Response`)."""
        return self.conn.response

    @property
    def state(self) -> State:
        """The protocol state."""
        return self.conn.state

    @property
    def close_code(self) -> Optional[int]:
        """The close code once closed (1006 without a closing handshake), else None."""
        return self._closed.code if self._closed is not None else None

    @property
    def close_reason(self) -> Optional[str]:
        """The close reason once closed, else None."""
        return self._closed.reason if self._closed is not None else None

    @property
    def closed(self) -> bool:
        """True once the connection is over (messages may still wait in the queue)."""
        return self._closed is not None

    @property
    def latency(self) -> float:
        """Seconds between the last acknowledged :meth:`ping` and its pong (0.0 before any)."""
        return self._latency

    @property
    def local_address(self) -> Any:
        """The socket's own address, as ``socket.getsockname()`` gave it when connected."""
        return self._addresses[0]

    @property
    def remote_address(self) -> Any:
        """The server's address, as ``socket.getpeername()`` gave it when connected."""
        return self._addresses[1]

    # -- sending ---------------------------------------------------------------

    def send(self, data: Data) -> None:
        """Send a message: ``str`` as text, bytes-like as binary; returns once it is written.

        Several threads may send at once; each message goes out whole. When
        the server takes no data for ``write_timeout`` seconds, the
        connection fails (1006) and this raises :class:`ConnectionClosedError`
        (its ``error`` is a :class:`TimeoutError`). Raises
        :class:`ConnectionClosed` when the connection is closing or closed.
        """
        with self._lock:
            if self.conn.state is not State.OPEN or self._aborted:
                raise self._not_open()
            if isinstance(data, str):
                self.conn.send_text(data)
            else:
                self.conn.send_binary(data)
            target = self._out.push(self.conn.data_to_send())
        if not self._out.flush(target, self.write_timeout):
            raise self._not_open()

    def ping(self, payload: Optional[bytes] = None) -> threading.Event:
        """Send a ping; returns an event set when its pong arrives (the reader thread sees it).

        ``payload`` (at most 125 bytes) defaults to 4 random bytes; a pong
        also acknowledges every earlier ping. :attr:`latency` is then the round
        trip. The event stays unset if the connection closes first. Raises
        ValueError when a ping with the same payload is still unanswered.
        """
        with self._lock:
            if self.conn.state is not State.OPEN or self._aborted:
                raise self._not_open()
            if payload is None:
                payload = os.urandom(4)
                while payload in self._pings:
                    payload = os.urandom(4)
            payload = bytes(payload)
            if payload in self._pings:
                raise ValueError("a ping with this payload is already waiting for its pong")
            self.conn.send_ping(payload)
            waiter = threading.Event()
            self._pings[payload] = (waiter, time.monotonic())
            target = self._out.push(self.conn.data_to_send())
        if not self._out.flush(target, self.write_timeout):
            raise self._not_open()
        return waiter

    def _not_open(self) -> ConnectionClosed:
        return self._closed or ConnectionClosedError(1006, "the connection is closing")

    # -- receiving -------------------------------------------------------------

    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Waits at most ``timeout`` seconds (forever when None; ``0`` only takes
        a message already received) and raises :class:`TimeoutError` then.
        Raises :class:`ConnectionClosedOK` or :class:`ConnectionClosedError`
        once the connection is closed and every message received before was
        returned. Several threads may receive at once: each message goes to one.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if self._messages:
                    return self._pop()
                if self._closed is not None:
                    raise self._closed
                if self._drv.answered():
                    # Every message before the peer's error was taken (and maybe
                    # answered): it was applied now; the reader writes the close frame.
                    self._after_protocol()
                    continue
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("no message within the timeout")
                self._recv_cond.wait(left)

    def __iter__(self) -> Iterator[Union[str, bytes]]:
        """Yield messages until the connection closes; a normal close ends the
        iteration, an abnormal one raises :class:`ConnectionClosedError`."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    def _pop(self) -> Union[str, bytes]:
        message = self._messages.popleft()
        self._queued_bytes -= len(message)
        if self._paused and (self._low is None or len(self._messages) <= self._low) and (
                self._max_bytes is None or self._queued_bytes <= self._max_bytes // 2):
            self._paused = False
            self._reader_cond.notify()
        return message

    # -- protocol events (lock held) -------------------------------------------

    def _after_protocol(self) -> int:
        """Handle the protocol's events and queue its output (lock held); returns the output target."""
        events = self.conn.events()
        if events:
            self._handle_events(events)
        if self.conn.failure_pending and not self._failure_deadline:
            self._failure_deadline = time.monotonic() + _driver.failure_grace(self.limits)
        self._reader_cond.notify()
        return self._out.push(self.conn.data_to_send())

    def _handle_events(self, events: list) -> None:
        got = False
        for e in events:
            t = type(e)
            if t is _ev.TextMessage or t is _ev.BinaryMessage:
                self._messages.append(e.data)
                self._queued_bytes += len(e.data)
                got = True
            elif t is _ev.Pong:
                self._pong(bytes(e.payload))
            elif t is _ev.Connected:
                self._opened = True
            elif t is _ev.Rejected:
                self._rejected = InvalidStatus(f"server rejected the handshake: {e.status} {e.reason}", e.status)
            elif t is _ev.Closed:
                self._set_closed(closed_exception(e.code, e.reason, e.error))
                if not self._opened and self._rejected is None:
                    err = e.error
                    self._rejected = err if isinstance(err, HandshakeError) else HandshakeError(
                        f"opening handshake failed: {err or e.reason or e.code}")
        if got:
            # Until recv() comes back for the next message, a peer error
            # is held (failure_pending) so that our answers go first.
            self._drv.delivered()
            if (self._high is not None and len(self._messages) >= self._high) or (
                    self._max_bytes is not None and self._queued_bytes >= self._max_bytes):
                self._paused = True
            self._recv_cond.notify_all()

    def _pong(self, payload: bytes) -> None:
        if payload not in self._pings:
            return
        now = time.monotonic()
        for key in list(self._pings):  # a pong also acknowledges every earlier ping
            waiter, sent = self._pings.pop(key)
            waiter.set()
            if key == payload:
                self._latency = now - sent
                return

    def _set_closed(self, exc: ConnectionClosed) -> None:
        if self._closed is None:
            self._closed = exc
            self._closed_at = time.monotonic()
            self._recv_cond.notify_all()
            self._reader_cond.notify()

    def _abort(self, exc: ConnectionClosed) -> None:
        """Fail the connection without a closing handshake (lock held): shut the socket down,
        which wakes every thread waiting on it."""
        self._set_closed(exc)
        if self.conn.state is not State.CLOSED:
            self.conn.receive_eof()  # the protocol ends too; its own Closed is superseded
            self.conn.events()
            self.conn.data_to_send()
        self._aborted = True
        self._out.fail(exc)
        self._io.shutdown()
        self._recv_cond.notify_all()
        self._reader_cond.notify()
        self._release_socket()

    def _write_failed(self, exc: BaseException) -> None:
        """The output queue gave up (lock held)."""
        what = "write timed out" if isinstance(exc, TimeoutError) else "connection lost while writing"
        closed = ConnectionClosedError(1006, f"{what}: {exc}", exc)
        closed.__cause__ = exc
        self._abort(closed)

    def _reader_exit(self, error: Optional[BaseException]) -> None:
        """The reader thread ends (its ``finally``)."""
        with self._lock:
            self._reader_done = True
            reason = f"connection lost: {error!r}" if error is not None else "connection lost"
            self._abort(ConnectionClosedError(1006, reason, error))

    def _release_socket(self) -> None:
        """Close the descriptor once neither the reader nor a writer uses it (lock held)."""
        if self._reader_done and not self._out.writing and not self._fd_closed:
            self._fd_closed = True
            self._io.close()
            self._done.set()

    # -- closing ---------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close: send a close frame, wait for the server's and for it to drop TCP.

        Returns within ``close_timeout`` seconds (plus a few milliseconds)
        from any thread, even while another thread's ``send()`` is blocked:
        past it the connection fails (1006) and the socket is shut down.
        Idempotent. ValueError for a code that may not be sent.
        """
        deadline = None if self.close_timeout is None else time.monotonic() + self.close_timeout
        target = None
        with self._lock:
            if self.conn.state is State.OPEN and not self._aborted:
                if self.conn.failure_pending:
                    self.conn.apply_pending_failure()  # the peer's error closes with its own code
                else:
                    self.conn.close(code, reason)
                target = self._after_protocol()
        if target is not None:
            self._out.flush(target, self.write_timeout, deadline)
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not self._done.wait(left):
            with self._lock:
                self._abort(ConnectionClosedError(1006, "closing handshake timed out"))
            self._done.wait(1.0)  # the woken threads release the socket at once

    def __enter__(self) -> "ClientWebSocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ClientWebSocket {self.conn.state.name}>"


def connect(
    url: str,
    *,
    ssl_context: Any = None,
    cafile: Optional[str] = None,
    subprotocols: Sequence[str] = (),
    extra_headers: Iterable[Tuple[str, str]] = (),
    origin: Optional[str] = None,
    limits: Optional[Limits] = None,
    compression: Any = UNSET,
    open_timeout: Optional[float] = UNSET,
    close_timeout: Optional[float] = UNSET,
    write_timeout: Optional[float] = UNSET,
    max_message_size: Optional[int] = UNSET,
    max_fragments: Optional[int] = UNSET,
    max_queue: Union[int, Tuple[int, int], None] = 16,
    max_queue_bytes: Optional[int] = 16 << 20,
    **connection_options: Any,
) -> ClientWebSocket:
    """Open a WebSocket connection to ``url`` (ws:// or wss://) and return it.

    ``ssl_context`` (or a default context trusting ``cafile`` or the system
    CAs) is used for wss://. ``subprotocols`` are offered in order,
    ``extra_headers`` added to the request. ``limits`` (a
    :class:`wsframe.limits.Limits`, the defaults of every wsframe layer) sets the
    limits and timeouts; ``open_timeout``, ``close_timeout``,
    ``write_timeout``, ``max_message_size`` and ``max_fragments`` override its
    fields. Timeouts (seconds; None: none): the TCP connect, TLS and HTTP
    handshakes must complete within ``open_timeout``; ``close_timeout`` bounds
    :meth:`ClientWebSocket.close` and the wait for the server to drop TCP after
    a close; a send that the server takes no byte of for ``write_timeout``
    fails the connection. Messages larger than ``max_message_size`` bytes fail
    the connection with 1009 (decompressed size, when compressed), and so do
    messages of more than ``max_fragments`` frames (None: no limit).
    ``compression``: permessage-deflate is offered by default
    (``limits.compression``); False/None: not offered. Received messages wait for
    ``recv()`` in a queue: once it holds ``max_queue`` messages (or
    ``max_queue_bytes`` bytes) the client stops reading until ``recv()``
    brings it down to a quarter (``max_queue=(high, low)`` sets both marks;
    None: no limit). Other keyword arguments go to
    :class:`~wsframe.connection.ClientConnection`, e.g.
    ``extensions=[ClientPerMessageDeflate(...)]`` (from
    :mod:`wsframe.permessage_deflate`) to offer compression with other
    parameters.

    Raises :class:`wsframe.HandshakeError` (:class:`wsframe.InvalidStatus` when
    the server answered with another status than 101), :class:`TimeoutError`,
    :class:`OSError` or :class:`ValueError` (a bad URL or option).
    """
    secure, host, port, path, host_header = parse_url(url)
    lim = from_arguments(limits, locals())
    if compression is not UNSET:
        lim = lim.replace(compression=bool(compression))
    options = dict(lim.connection_kwargs(), **connection_options)
    if "extensions" not in options and lim.compression:
        from .permessage_deflate import ClientPerMessageDeflate

        options["extensions"] = (ClientPerMessageDeflate(),)
    conn = ClientConnection(host_header, path, origin=origin, subprotocols=tuple(subprotocols),
                            extra_headers=tuple(extra_headers), **options)
    deadline = None if lim.open_timeout is None else time.monotonic() + lim.open_timeout
    sock = open_socket(host, port, secure=secure, ssl_context=ssl_context, cafile=cafile, deadline=deadline)
    try:
        ws = ClientWebSocket(sock, conn, lim, max_queue, max_queue_bytes)
        open_handshake(ws, deadline)
        return ws
    except BaseException:
        sock.close()
        raise
