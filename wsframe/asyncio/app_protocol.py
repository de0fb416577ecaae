"""The callback API on asyncio/uvloop: a :class:`wsframe.server.Application` driven by an asyncio protocol.

``serve(app=MyApplication(), ...)`` (see :mod:`.server`) makes one
:class:`AppProtocol` per connection. Each read goes to ``conn.receive_data``,
its events go straight to the application's callbacks (``on_message(ws,
data)`` is called directly: no future, no task), what the callbacks send is
written into the connection, and everything queued goes out in one
``transport.write`` per read. ``ws`` is the same
:class:`wsframe.server.ServerWebSocket` the selectors server hands out: this
protocol answers the few transport attributes it uses (``dirty``,
``mark_dirty``, ``close``, ``opened_at``, ``close_code``/``close_reason``,
``buffered``), so one Application class runs on either loop. The transport
rules (deadlines, held failures, drain) are :class:`.protocol.ConnectionProtocol`'s,
that is :mod:`wsframe._driver`'s. The logic is in ``_AppCore`` (compiled as
``wsframe.asyncio._app_protocol_c`` when the speedups are built, see
:mod:`.protocol`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterable, Optional, Set, cast

from .. import _driver
from .. import events as _ev
from ..codec import speedups_enabled
from ..connection import ServerConnection, State
from ..exceptions import ConnectionStateError
from ._app_pubsub import AppWebSocket  # the selectors handle, with pub/sub writing to asyncio (fanout)
from ..server.app import format_address
from .protocol import ConnectionProtocol, logger
from .server import Server

try:
    import cython
except ImportError:  # pure Python without Cython installed: never compiled

    class cython:  # type: ignore[no-redef]  # noqa: N801 - stands in for Cython's shadow module
        compiled = False


# Compiled, the core's base is the compiled transport driver (its C type comes
# from _app_protocol_c.pxd's cimport); uncompiled, whichever protocol.py chose.
if not cython.compiled:
    from .protocol import _ProtocolCore
else:
    from ._protocol_c import _ProtocolCore  # type: ignore[no-redef]

__all__ = ["AppProtocol", "AppServer"]

_OPEN = State.OPEN
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
_OVERFLOW_503 = "server is at its connection limit"


class _AppCore(_ProtocolCore):
    """The logic of :class:`AppProtocol` (compiled: an extension type, see _app_protocol_c.pxd)."""

    def __init__(self, server: Any, overflow: bool) -> None:
        conn = ServerConnection(auto_accept=not overflow, **server._conn_kwargs)
        super().__init__(conn, server.options, server._loop)
        self.server = server
        self.app = server.app
        self._on_message = server.app.on_message  # looked up once, as the selectors server does
        self._overflow = overflow
        self.ws = AppWebSocket(self, conn, None)
        self.dirty = False  # inside dispatch, or a flush is scheduled
        self.opened_at = 0.0
        self.close_code = 1006
        self.close_reason = ""
        self._notified = False

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        self.ws.remote_address = transport.get_extra_info("peername")
        self.server._add(self)
        super().connection_made(transport)

    def data_received(self, data: Any) -> None:
        # The hot path: feed, dispatch to the callbacks, one write.
        if self._discard:
            if self._draining:
                self._discarded(len(data))
            return
        conn = self.conn
        conn.receive_data(data)
        self._drv.active = True
        events = conn.events()
        if events:
            # _events_received inlined (one Python frame less per read); an
            # exception goes there with the events not yet dispatched.
            was_dirty = self.dirty
            self.dirty = True  # what the callbacks send is written below
            on_message = self._on_message
            ws = self.ws
            got = False
            it: Any = iter(events)  # Any: the class identity test below narrows, which mypy cannot follow
            try:
                for e in it:
                    c = type(e)  # Py_TYPE once compiled (e.__class__ is a generic attribute lookup)
                    if c is _TextMessage or c is _BinaryMessage:
                        on_message(ws, e.data)
                        got = True
                    else:
                        self._other(e, c)
            except Exception as exc:
                self.dirty = was_dirty
                self._callback_failed(exc)
                self._events_received(it)
            else:
                self.dirty = was_dirty
            if got:
                self._drv.got_message = True
        if conn.failure_pending and self._drv.answered():
            self._events_received(conn.events())  # the callbacks answered: the close goes out after
        out = conn.data_to_send()
        if out and not self._lost:
            self.transport.write(out)
        if conn.state is not _OPEN:
            self._after_state_change()

    def pause_writing(self) -> None:
        # The application sent past high_water: stop reading until the peer takes it.
        super().pause_writing()
        self._pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if not self._draining:
            self._resume_reading()

    # -- what ServerWebSocket asks of its transport ------------------------------------------

    def mark_dirty(self) -> None:
        """Output was queued outside a callback of ours: write it on the next loop iteration."""
        if not self.dirty:
            self.dirty = True
            self._loop.call_soon(self._write_dirty)

    def _write_dirty(self) -> None:
        self.dirty = False
        if not self._lost:
            self._process()

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (no-op when it already started)."""
        if self.conn.state is _OPEN:
            self.conn.close(code, reason)
            self._drv.closing(self._loop.time())
            self.mark_dirty()

    def buffered(self) -> int:
        """Bytes written and not yet taken by the kernel."""
        t = self.transport
        return t.get_write_buffer_size() if t is not None and not self._lost else 0

    # -- dispatch -----------------------------------------------------------------------------

    def _events_received(self, evs: Iterable[Any]) -> None:
        """Call the application for each event. An error in a callback is logged and closes
        with 1011 "internal error"; the remaining events are still dispatched."""
        was_dirty = self.dirty
        self.dirty = True  # what the callbacks send is written by our caller
        on_message = self._on_message
        ws = self.ws
        got = False
        it = iter(evs)
        while True:
            try:
                for e in it:
                    t = type(e)
                    if t is _TextMessage or t is _BinaryMessage:
                        on_message(ws, e.data)
                        got = True
                    else:
                        self._other(e, t)
                break
            except Exception as exc:
                self._callback_failed(exc)
        self.dirty = was_dirty
        if got:
            self._drv.got_message = True

    def _callback_failed(self, exc: Exception) -> None:
        """A callback raised: sending on a closed connection is only logged at debug, anything
        else is logged with its traceback and closes with 1011 "internal error"."""
        ws = self.ws
        if isinstance(exc, ConnectionStateError):
            logger.debug("application sent on a closed connection %s: %s", format_address(ws.remote_address), exc)
        else:
            logger.error("application error on %s", format_address(ws.remote_address), exc_info=exc)
            self.close(_driver.CODE_INTERNAL, _driver.REASON_INTERNAL)

    def _other(self, e: Any, t: type) -> None:
        app = self.app
        ws = self.ws
        if t is _Connected:
            self.opened_at = time.monotonic()
            try:
                app.on_open(ws)
            finally:
                if not self.server.keep_request:
                    self.conn.request = None
        elif t is _Ping:
            app.on_ping(ws, e.payload)
        elif t is _Pong:
            app.on_pong(ws, e.payload)
        elif t is _CloseReceived:
            self._drv.closing(self._loop.time())
        elif t is _Closed:
            self.close_code = e.code
            self.close_reason = e.reason
            if e.error is not None:
                logger.debug("connection %s failed: %r", format_address(ws.remote_address), e.error)
        elif t is _Request:
            if self._overflow:
                cast(ServerConnection, self.conn).reject(503, _OVERFLOW_503)
        elif t is _Rejected:
            logger.debug("handshake from %s rejected: %s %s", format_address(ws.remote_address),
                         e.status, e.reason)
        elif t is _Fragment:
            if e.final:
                self._drv.got_message = True
            handler = getattr(app, "on_fragment", None)
            if handler is not None:
                handler(ws, e.data, e.text, e.final)

    def _on_lost(self, exc: Optional[BaseException]) -> None:
        self.server._remove(self)
        if self._notified or not self.opened_at:
            return
        self._notified = True
        try:
            self.app.on_close(self.ws, self.close_code, self.close_reason)
        except Exception:
            logger.exception("application error in on_close")


if not TYPE_CHECKING and not cython.compiled and speedups_enabled:
    try:  # the same class compiled from this file (wsframe.asyncio._app_protocol_c), when built
        from ._app_protocol_c import _AppCore
    except ImportError:  # pragma: no cover - built without it: the class above
        pass


class AppProtocol(_AppCore, ConnectionProtocol):
    """One connection of an Application served on asyncio (see the module docstring)."""

    conn: ServerConnection
    _start_close = _AppCore.close  # what the asyncio Server calls on shutdown


class AppServer(Server):
    """The asyncio :class:`.server.Server` of an Application (made by ``serve(app=...)``):
    ``app`` is the application, ``connections`` its :class:`wsframe.server.ServerWebSocket` handles."""

    def __init__(self, app: Any, options: Any, conn_kwargs: dict, max_connections: int,
                 loop: Any, keep_request: bool = False) -> None:
        super().__init__(None, options, conn_kwargs, None, max_connections, loop)  # type: ignore[arg-type]
        self.app = app
        self.keep_request = keep_request

    @property
    def connections(self) -> Set[AppWebSocket]:  # type: ignore[override]
        """A snapshot of the current connections' handles."""
        return {p.ws for p in self._conns}  # type: ignore[attr-defined]

    def _factory(self) -> AppProtocol:  # type: ignore[override]
        overflow = len(self._conns) - self._n_overflow >= self.max_connections
        return AppProtocol(self, overflow)
