"""The asyncio transport driver of a sans-I/O connection (one job: move bytes and keep time).

:class:`ConnectionProtocol` is an :class:`asyncio.Protocol` around a
:class:`wsframe.connection.ServerConnection` or ``ClientConnection``:

* every read goes to ``conn.receive_data`` and the events it produced go to
  :meth:`ConnectionProtocol._events_received` (the subclass's hook: the
  WebSocket object queues messages, another integration may dispatch them);
  whatever the connection queued (pongs, the close echo, the 101) is written
  with one ``transport.write``;
* flow control both ways: ``pause_writing``/``resume_writing`` from the
  transport (write buffer limits ``high_water``/``low_water``) make
  :meth:`_drain` wait; the subclass calls :meth:`_pause_reading` /
  :meth:`_resume_reading` when its application does not keep up;
* the end of the connection: once ``conn.should_close_transport`` is set, the
  server half-closes (``write_eof``) and discards input until the peer's EOF
  (so unread input cannot turn the close into a reset; 1 MiB and 2 s at
  most), the client closes;
* timeouts and the other transport rules (:class:`wsframe.limits.Limits`,
  enforced by a :class:`wsframe._driver.Driver`): opening handshake, closing
  handshake, keepalive ping, idle, per-message time limit (1008), stalled
  writes, the drain budget, and the grace period of a peer failure held behind
  delivered messages. :meth:`_tick` asks the driver, periodically: the
  server's one sweep for all its connections, or :meth:`_start_ticker` for a
  lone connection. The read path only sets a flag, it never reads the clock.

Reusable by other asyncio integrations: subclass, implement
:meth:`_events_received` (and :meth:`_on_lost` if needed), call
:meth:`_flush` after queueing output on ``self.conn``.

The logic is in ``_ProtocolCore``; :class:`ConnectionProtocol` is that core
plus :class:`asyncio.Protocol`. With the speedups built, the core is this
file compiled (``wsframe.asyncio._protocol_c``, C fields from
``_protocol_c.pxd``); otherwise, or with ``WSFRAME_NO_SPEEDUPS=1``, the
class below. :mod:`.connection` and :mod:`.app_protocol` do the same.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, List, Optional, Union

from .. import _driver
from ..codec import speedups_enabled
from ..connection import ClientConnection, ServerConnection, State
from ..limits import Limits, resolve

if TYPE_CHECKING:  # pragma: no cover
    from ..codec import BytesLike

__all__ = ["ConnectionProtocol", "Options"]

logger = logging.getLogger("wsframe.asyncio")

_OPEN = State.OPEN
_CLOSED = State.CLOSED
_CONNECTING = State.CONNECTING


def Options(**kwargs: Any) -> Limits:
    """The :class:`wsframe.limits.Limits` with these fields changed (``handshake_timeout``:
    ``open_timeout``); kept for callers of the former ``Options`` class."""
    return resolve(None, **kwargs)


def current_loop() -> asyncio.AbstractEventLoop:
    """The running loop; outside one (a protocol built by hand, as uvicorn's tests do), the
    thread's current loop (asyncio.get_event_loop() alone is deprecated for that in 3.14)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop()


class _ProtocolCore:
    """The logic of :class:`ConnectionProtocol` (compiled: an extension type, see _protocol_c.pxd)."""

    def __init__(self, conn: Union[ServerConnection, ClientConnection], options: Limits,
                 loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self.conn = conn
        self.options = options  # the Limits
        self.transport: Any = None
        self._loop = loop if loop is not None else current_loop()
        self._server_side = isinstance(conn, ServerConnection)
        self._write_paused = False
        self._drain_waiters: Deque[asyncio.Future] = deque()
        self._reading_paused = False
        self._lost = False
        self._lost_waiter: Optional[asyncio.Future] = None
        self._closing_transport = False
        self._draining: bool = False  # our side is shut down: input is discarded until EOF
        self._discard: bool = False  # input is not fed any more: draining, or a peer failure is pending
        self._eof = False
        self._ticker: Optional[asyncio.TimerHandle] = None
        self._drv = _driver.Driver(conn, options, self._loop.time())  # the transport rules

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover
                pass
        transport.set_write_buffer_limits(self.options.high_water, self.options.low_water)
        self._flush()  # the client's request

    def data_received(self, data: BytesLike) -> None:
        if self._discard:  # closing, or a peer failure waits behind delivered messages
            if self._draining:
                self._discarded(len(data))
            return
        conn = self.conn
        conn.receive_data(data)
        self._drv.active = True
        events = conn.events()
        if events:
            self._events_received(events)
        if conn.failure_pending:
            self._discard = True  # what follows the error is not read
        data = conn.data_to_send()
        if data:
            if not self._lost:
                self.transport.write(data)
        if conn.state is not _OPEN:
            self._after_state_change()

    def _discarded(self, n: int) -> None:
        """``n`` bytes of input discarded after our half-close: past the drain budget, close."""
        if self._drv.discard(n):
            self.transport.close()

    def eof_received(self) -> Optional[bool]:
        self._eof = True
        if self._draining:
            return False  # the peer closed its side after our close: done
        if self.conn.state is not _CLOSED:
            self.conn.receive_eof()
        self._process()
        return False  # the transport closes once its buffer is written

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._lost = True
        conn = self.conn
        if conn.state is not _CLOSED:
            conn.receive_eof()
            events = conn.events()
            if events:
                self._events_received(events)
        conn.data_to_send()  # nowhere to go
        self._cancel_ticker()
        while self._drain_waiters:
            w = self._drain_waiters.popleft()
            if not w.done():
                w.set_result(None)
        if self._lost_waiter is not None and not self._lost_waiter.done():
            self._lost_waiter.set_result(None)
        self._on_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._drv.stalled_since = self._loop.time()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._drv.stalled_since = 0.0
        while self._drain_waiters:
            w = self._drain_waiters.popleft()
            if not w.done():
                w.set_result(None)

    # -- hooks for subclasses -----------------------------------------------------------------

    def _events_received(self, events: List[Any]) -> None:
        """Handle the connection's events (messages, control frames, Closed...)."""
        raise NotImplementedError

    def _on_lost(self, exc: Optional[BaseException]) -> None:
        """The transport is gone (called once, after the last events)."""

    def _send_keepalive(self) -> None:
        """Send the keepalive ping (a subclass may track it to measure latency)."""
        self.conn.send_ping(_driver.KEEPALIVE_PAYLOAD)

    # -- output, closing ----------------------------------------------------------------------

    def _process(self) -> None:
        """Take the connection's events and output after a local action (close, ping, accept...)."""
        events = self.conn.events()
        if events:
            self._events_received(events)
        self._flush()

    def _flush(self) -> None:
        """Write what the connection queued (one ``transport.write``); close the transport when due."""
        conn = self.conn
        data = conn.data_to_send()
        if data and not self._lost:
            self.transport.write(data)
        if conn.state is not _OPEN:
            self._after_state_change()

    def _after_state_change(self) -> None:
        conn = self.conn
        if conn.state is not _CONNECTING:
            self._drv.closing(self._loop.time())  # closing or closed: bounded by close_timeout
        if conn.should_close_transport and not self._closing_transport and not self._lost:
            self._closing_transport = True
            t = self.transport
            if self._server_side and not self._eof and t.can_write_eof():
                # RFC 6455: the server closes TCP first. Half-close, then read
                # (and discard) until the peer's EOF, so that unread input does
                # not make the kernel reset the connection over our close frame.
                t.write_eof()
                self._draining = self._discard = True
                self._drv.draining(self._loop.time())
                if self._reading_paused:
                    self._resume_reading()
            else:
                t.close()

    async def _drain(self) -> None:
        """Wait while the transport's write buffer is above ``high_water``."""
        if self._write_paused and not self._lost:
            w = self._loop.create_future()
            self._drain_waiters.append(w)
            await w

    def _pause_reading(self) -> None:
        if not self._reading_paused and not self._lost:
            self._reading_paused = self._drv.reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = self._drv.reading_paused = False
            if not self._lost:
                self.transport.resume_reading()

    def _abort(self) -> None:
        if not self._lost and self.transport is not None:
            self.transport.abort()

    async def _wait_lost(self, timeout: Optional[float]) -> None:
        """Wait until the transport is gone; abort it after ``timeout`` seconds."""
        if self._lost:
            return
        if self._lost_waiter is None:
            self._lost_waiter = self._loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost_waiter), timeout)
        except asyncio.TimeoutError:
            self._abort()

    # -- timeouts -----------------------------------------------------------------------------

    def _start_ticker(self) -> None:
        """Run :meth:`_tick` periodically for this connection alone (clients)."""
        interval = _driver.tick_interval(self.options)

        def tick() -> None:
            if self._lost:
                return
            self._tick(self._loop.time())
            self._ticker = self._loop.call_later(interval, tick)

        self._cancel_ticker()
        self._ticker = self._loop.call_later(interval, tick)

    def _cancel_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _tick(self, now: float) -> None:
        """Apply the deadlines (see :meth:`wsframe._driver.Driver.check`)."""
        if self._lost or self.transport is None:
            return
        self._drv.tick(now, self)

    # The driver's requests (Driver.tick).

    def deadline_flush(self) -> None:
        self._process()

    def deadline_ping(self) -> None:
        self._send_keepalive()
        self._flush()

    def deadline_abort(self) -> None:
        logger.debug("deadline passed: dropping the connection")
        self._abort()

    def deadline_fail(self) -> None:
        logger.debug("keepalive ping timeout")
        self._process()
        if not self._lost and self.transport is not None:
            self.transport.close()


if not TYPE_CHECKING and not __name__.endswith("_c") and speedups_enabled:
    try:  # the same class compiled from this file (wsframe.asyncio._protocol_c), when built
        from ._protocol_c import _ProtocolCore
    except ImportError:  # pragma: no cover - built without it: the class above
        pass


class ConnectionProtocol(_ProtocolCore, asyncio.Protocol):
    """Drives ``conn`` over an asyncio transport (see the module docstring)."""
