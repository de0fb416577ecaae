"""What the application sees: the :class:`Application` callbacks and :class:`ServerWebSocket`, one connection."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional, Union

from ..connection import ServerConnection, State
from ..enums import CloseCode

if TYPE_CHECKING:  # pragma: no cover
    import socket

    from ..codec import BytesLike
    from .loop import Server

__all__ = ["Application", "EchoApplication", "ServerWebSocket", "format_address",
           "PHASE_TLS", "PHASE_OPENING", "PHASE_OPEN", "PHASE_DRAIN", "PHASE_DEAD"]

# Phases of a ServerWebSocket (the transport side; the protocol state is in .conn).
PHASE_TLS = 0  # TLS handshake in progress
PHASE_OPENING = 1  # waiting for / parsing the HTTP upgrade
PHASE_OPEN = 2  # WebSocket open (or closing handshake under way)
PHASE_DRAIN = 3  # our side of TCP is shut down: discarding input until EOF
PHASE_DEAD = 4  # socket closed

_OPEN = State.OPEN
_ABNORMAL = int(CloseCode.ABNORMAL_CLOSURE)


def format_address(addr: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a socket address, for logs."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


class Application:
    """Base class of server applications: override what you need.

    Every method runs in the server's thread, so it must not block. What
    ``on_message`` (or any callback) sends is written straight into the
    connection's output buffer and goes out with the other replies to the same
    read, in one ``send``. ``ws`` is the connection's :class:`ServerWebSocket`.
    The server looks the methods up once, when it is created.
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
    """Sends every message back as it came, text as text and binary as binary.

    An ordinary application: the server has no special case for it, so an
    application written the same way costs the same.
    """

    def on_message(self, ws: "ServerWebSocket", data: Union[str, bytes]) -> None:
        # A message that arrived together with the peer's close frame is
        # dispatched after the close was answered: nothing may be sent then.
        if ws.conn.state is _OPEN:
            ws.send(data)


class ServerWebSocket:
    """One client connection, as the application sees it.

    Attributes the application may read: ``remote_address``, ``request`` (the
    parsed upgrade request), ``subprotocol``, ``state``, ``opened_at``,
    ``buffered_amount``; and ``context``, a free slot for the application's own
    per-connection data. The other attributes belong to the server.
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
        "interest",
        "accepted_at",
        "opened_at",
        "last_recv",
        "last_message",
        "message_watch",
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

    def __init__(self, server: "Server", sock: "socket.socket", addr: Any, conn: ServerConnection,
                 now: float, phase: int, overflow: bool) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.conn = conn
        self.remote_address = addr
        self.context: Any = None
        self.phase = phase
        self.out: Optional[bytearray] = None  # unsent output, only while there is some
        self.interest = 0  # the poller's interest bits for this socket (EV_READ / EV_WRITE)
        self.accepted_at = now
        self.opened_at = 0.0
        self.last_recv = now
        self.last_message = 0.0  # when the last complete message was dispatched
        self.message_watch = 0.0  # since when the sweep saw a message in progress (0: none)
        self.last_send_progress = now
        self.closing_since = 0.0
        self.ping_sent_at = 0.0
        self.paused = False  # not reading: unsent output over the high-water mark
        self.eof = False  # the peer shut down its sending side
        self.overflow = overflow  # over max_connections: gets HTTP 503
        self.notified = False  # on_close was called
        self.dirty = False  # queued for the server's output pass (or inside dispatch)
        self.close_code = _ABNORMAL
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
        """Send a message: ``str`` as text, bytes-like as binary.

        The frame is written into the connection's output buffer at once; it
        goes out after the current callback returns, coalesced with the other
        replies to the same read. Raises :class:`wsframe.ConnectionStateError`
        when the connection is not open. Call it from the server's thread (use
        :meth:`Server.call_soon_threadsafe` from others).
        """
        self.conn.send_message(data)
        if not self.dirty:  # outside the server's dispatch: have the output sent
            self.dirty = True
            self.server._dirty.append(self)

    def ping(self, payload: BytesLike = b"") -> None:
        """Send a ping (up to 125 bytes of payload)."""
        self.conn.send_ping(payload)
        self._mark_dirty()

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (no-op when it already started)."""
        if self.conn.state is _OPEN:
            self.conn.close(code, reason)
            if not self.closing_since:
                self.closing_since = time.monotonic()
            self._mark_dirty()

    # -- pub/sub (wsframe.pubsub; the Subscriber interface is below) ------

    def subscribe(self, topic: str) -> bool:
        """Receive what is published to ``topic`` (see :mod:`wsframe.pubsub`)."""
        return self.server.pubsub.subscribe(self, topic)

    def unsubscribe(self, topic: str) -> bool:
        """Stop receiving ``topic``; False when not subscribed."""
        return self.server.pubsub.unsubscribe(self, topic)

    def publish(self, topic: str, message: Union[str, bytes]) -> int:
        """:meth:`Server.publish` to every subscriber of ``topic`` except this connection."""
        return self.server.pubsub.publish(topic, message, exclude=self)

    def pubsub_write(self, frame: bytes, budget: int) -> int:
        if self.phase != PHASE_OPEN or self.conn.state is not _OPEN:
            return -1
        out = self.out
        # Output of ws.send/close/ping not yet taken (only while dirty) goes first.
        pending = self.conn.data_to_send() if self.dirty else b""
        if out is None:
            # Nothing waiting for the socket: one send at the loop's next pass.
            out = pending if pending.__class__ is bytearray else bytearray()
            self.out = out  # type: ignore[assignment]
            self.server._pubsub_queued(self)
        elif pending:
            out += pending
        if len(out) + len(frame) > budget:
            return -2
        out += frame
        return 0

    def pubsub_send(self, message: Union[str, bytes], budget: int) -> int:
        if self.conn.state is not _OPEN or self.phase != PHASE_OPEN:
            return -1
        if self.buffered_amount >= budget:
            return -2
        self.send(message)
        return 0

    def pubsub_extensions(self) -> Any:
        return self.conn.extensions

    def pubsub_close(self, code: int, reason: str) -> None:
        self.close(code, reason)

    def _mark_dirty(self) -> None:
        if not self.dirty:
            self.dirty = True
            self.server._dirty.append(self)

    def __repr__(self) -> str:
        return f"<ServerWebSocket {format_address(self.remote_address)} {self.conn.state.name}>"
