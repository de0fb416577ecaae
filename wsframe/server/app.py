"""What the application sees: the :class:`Application` callbacks and :class:`ServerWebSocket`, its thin handle on one connection."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Optional, Union

from ..connection import ServerConnection, State
from ..enums import CloseCode
from ..codec import speedups_enabled
from . import _pubsub as _ps
from . import _wssend


def _compiled(source: ModuleType, name: str) -> ModuleType:
    """``source`` compiled (the module ``name`` of this package) with the codec's speedups
    (as wsframe.connection chooses), else ``source`` itself (an older build without it too)."""
    if not speedups_enabled:
        return source
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ImportError:
        return source


# The selectors server's ws.send and ws.ping, and pub/sub's per-subscriber write and
# end-of-pass send, compiled. Other layers keep the uncompiled ones, cheaper for them:
# the interpreter caches their transports' attributes, which compiled code looks up.
_wssend_fast = _compiled(_wssend, "_wssend_c")
_ps_fast = _compiled(_ps, "_pubsub_c")

__all__ = ["Application", "EchoApplication", "ServerWebSocket", "SelectorsWebSocket", "format_address"]

_OPEN = State.OPEN


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
    ``buffered_amount``, ``close_code``/``close_reason`` (once closed); and
    ``context``, a free slot for the application's own per-connection data.
    ``conn`` is the sans-I/O connection. The transport (socket, buffers,
    deadlines) belongs to the server.
    """

    __slots__ = ("conn", "transport", "remote_address", "context", "__weakref__")

    def __init__(self, transport: Any, conn: ServerConnection, addr: Any) -> None:
        self.conn = conn
        self.transport = transport
        self.remote_address = addr
        self.context: Any = None

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
    def opened_at(self) -> float:
        """``time.monotonic()`` when the opening handshake completed (0.0 before)."""
        return self.transport.opened_at

    @property
    def close_code(self) -> int:
        """The close code once the connection is over (1006 without a closing handshake)."""
        return self.transport.close_code

    @property
    def close_reason(self) -> str:
        """The close reason once the connection is over."""
        return self.transport.close_reason

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for this peer and not yet accepted by the kernel."""
        return self.transport.buffered()

    send = _wssend.send
    ping = _wssend.ping

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (no-op when it already started)."""
        self.transport.close(code, reason)

    # The server, and pub/sub (wsframe.server._pubsub); the last four are wsframe.pubsub's Subscriber interface.
    server = _ps.server
    subscribe = _ps.subscribe
    unsubscribe = _ps.unsubscribe
    publish = _ps.publish_others
    pubsub_write = _ps.pubsub_write
    pubsub_send = _ps.pubsub_send
    pubsub_extensions = _ps.pubsub_extensions
    pubsub_close = _ps.pubsub_close

    def __repr__(self) -> str:
        return f"<ServerWebSocket {format_address(self.remote_address)} {self.conn.state.name}>"


class SelectorsWebSocket(ServerWebSocket):
    """The :class:`ServerWebSocket` of the selectors server's connections: the same, with
    ``send`` and ``ping`` compiled (wsframe.server._wssend_c: no Python frame per message
    sent; its transport's fields are C fields, cheap to read from compiled code)."""

    __slots__ = ()

    send = _wssend_fast.send
    ping = _wssend_fast.ping
    pubsub_write = _ps_fast.pubsub_write
