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
* timeouts (:class:`Options`): opening handshake, closing handshake, keepalive
  ping, idle, per-message time limit (1008), stalled writes, and the grace
  period of a peer failure pending behind delivered messages. They are checked
  by :meth:`_tick`, called periodically: by the server's one sweep for all its
  connections, or by :meth:`_start_ticker` for a lone connection. The read path
  only sets a flag, it never reads the clock.

Reusable by other asyncio integrations: subclass, implement
:meth:`_events_received` (and :meth:`_on_lost` if needed), call
:meth:`_flush` after queueing output on ``self.conn``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, List, Optional, Union

from ..connection import ClientConnection, ServerConnection, State

if TYPE_CHECKING:  # pragma: no cover
    from ..codec import BytesLike

__all__ = ["ConnectionProtocol", "Options"]

logger = logging.getLogger("wsframe.asyncio")

_OPEN = State.OPEN
_CLOSED = State.CLOSED
_CONNECTING = State.CONNECTING

# After our half-close, how long the peer gets to close its side (capped by close_timeout),
# and how many bytes of its input are discarded meanwhile (then: close, a reset if it still sends).
_DRAIN_LIMIT = 2.0
_DRAIN_BYTES = 1 << 20
# How long a peer failure may wait behind delivered messages for the application (capped by close_timeout).
_FAILURE_GRACE = 5.0


class Options:
    """Limits and timeouts of one connection (seconds; None disables a timeout).

    The defaults are those of :class:`wsframe.server.Server`;
    ``message_timeout`` bounds the time one incoming message may take to
    arrive completely (close 1008 past it).
    """

    __slots__ = ("handshake_timeout", "close_timeout", "ping_interval", "ping_timeout", "idle_timeout",
                 "write_timeout", "message_timeout", "high_water", "low_water")

    def __init__(
        self,
        *,
        handshake_timeout: Optional[float] = 10.0,
        close_timeout: Optional[float] = 10.0,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = 20.0,
        idle_timeout: Optional[float] = None,
        write_timeout: Optional[float] = 60.0,
        message_timeout: Optional[float] = 60.0,
        high_water: int = 1 << 20,
        low_water: int = 1 << 18,
    ) -> None:
        if low_water > high_water or low_water < 0:
            raise ValueError("need 0 <= low_water <= high_water")
        for name, value in (("handshake_timeout", handshake_timeout), ("close_timeout", close_timeout),
                            ("ping_interval", ping_interval), ("ping_timeout", ping_timeout),
                            ("idle_timeout", idle_timeout), ("write_timeout", write_timeout),
                            ("message_timeout", message_timeout)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None")
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.message_timeout = message_timeout
        self.high_water = high_water
        self.low_water = low_water

    @property
    def tick_interval(self) -> float:
        """How often :meth:`ConnectionProtocol._tick` should run: a quarter of the shortest timeout, at most 1 s."""
        times = [t for t in (self.handshake_timeout, self.close_timeout, self.ping_interval, self.ping_timeout,
                             self.idle_timeout, self.write_timeout, self.message_timeout) if t]
        return max(0.01, min([1.0] + [t / 4 for t in times]))


class ConnectionProtocol(asyncio.Protocol):
    """Drives ``conn`` over an asyncio transport (see the module docstring)."""

    def __init__(self, conn: Union[ServerConnection, ClientConnection], options: Options,
                 loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self.conn = conn
        self.options = options
        self.transport: Any = None
        self._loop = loop if loop is not None else asyncio.get_event_loop()
        self._server_side = isinstance(conn, ServerConnection)
        self._write_paused = False
        self._drain_waiters: Deque[asyncio.Future] = deque()
        self._reading_paused = False
        self._lost = False
        self._lost_waiter: Optional[asyncio.Future] = None
        self._closing_transport = False
        self._draining = False  # our side is shut down: input is discarded until EOF
        self._drained = 0  # bytes discarded while draining
        self._discard = False  # input is not fed any more: draining, or a peer failure is pending
        self._eof = False
        self._ticker: Optional[asyncio.TimerHandle] = None
        now = self._loop.time()
        # timer state, read by _tick only
        self._active = True  # something was received since the last tick
        self._got_message = False  # a message completed since the last tick
        self._created_at = now
        self._last_recv = now
        self._ping_sent_at = 0.0
        self._closing_since = 0.0
        self._drain_since = 0.0
        self._msg_since = 0.0
        self._write_paused_since = 0.0
        self._failure_since = 0.0

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
        self._active = True
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
        """``n`` bytes of input discarded after our half-close: past 1 MiB, close (a peer still
        streaming a huge message gets the reset rather than the server reading all of it)."""
        self._drained += n
        if self._drained > _DRAIN_BYTES:
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
        self._write_paused_since = self._loop.time()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._write_paused_since = 0.0
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
        self.conn.send_ping(b"wsframe keepalive")

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
        if conn.state is not _CONNECTING and not self._closing_since:
            self._closing_since = self._loop.time()  # closing or closed: bounded by close_timeout
        if conn.should_close_transport and not self._closing_transport and not self._lost:
            self._closing_transport = True
            t = self.transport
            if self._server_side and not self._eof and t.can_write_eof():
                # RFC 6455: the server closes TCP first. Half-close, then read
                # (and discard) until the peer's EOF, so that unread input does
                # not make the kernel reset the connection over our close frame.
                t.write_eof()
                self._draining = self._discard = True
                self._drain_since = self._loop.time()
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
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
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
        interval = self.options.tick_interval

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
        """Enforce the timeouts (see :class:`Options`)."""
        if self._lost or self.transport is None:
            return
        o = self.options
        conn = self.conn
        state = conn.state
        if self._active:
            self._active = False
            self._last_recv = now
            self._ping_sent_at = 0.0
        if state is _CONNECTING:
            if o.handshake_timeout is not None and now - self._created_at > o.handshake_timeout:
                logger.debug("opening handshake timeout")
                self._abort()
            return
        if self._draining:
            if now - self._drain_since > min(o.close_timeout or _DRAIN_LIMIT, _DRAIN_LIMIT):
                self._abort()
            return
        if (o.write_timeout is not None and self._write_paused
                and now - self._write_paused_since > o.write_timeout):
            logger.debug("write timeout")
            self._abort()
            return
        if conn.failure_pending:
            if not self._failure_since:
                self._failure_since = now
            elif now - self._failure_since >= min(o.close_timeout or _FAILURE_GRACE, _FAILURE_GRACE):
                conn.apply_pending_failure()  # the application did not come back for the messages
                self._process()
            return
        if state is not _OPEN:
            if o.close_timeout is not None and self._closing_since and now - self._closing_since > o.close_timeout:
                logger.debug("closing handshake timeout")
                self._abort()
            return
        if o.ping_interval is not None:
            if self._ping_sent_at:
                if o.ping_timeout is not None and now - self._ping_sent_at > o.ping_timeout:
                    logger.debug("keepalive ping timeout")
                    self._fail_now(1011, "keepalive ping timeout")
                    return
            elif now - self._last_recv > o.ping_interval:
                self._ping_sent_at = now
                self._send_keepalive()
                self._flush()
        if o.idle_timeout is not None and now - self._last_recv > o.idle_timeout:
            logger.debug("idle timeout")
            conn.close(1001, "idle timeout")
            self._process()
            return
        if o.message_timeout is not None:
            if self._got_message or not conn.message_in_progress:
                self._got_message = False
                self._msg_since = 0.0
            elif not self._msg_since:
                self._msg_since = now
            elif now - self._msg_since > o.message_timeout:
                logger.debug("message timeout")
                conn.close(1008, "message took too long to arrive")
                self._process()

    def _fail_now(self, code: int, reason: str) -> None:
        """Send a close frame and drop the connection without waiting for the peer."""
        if self.conn.state is _OPEN:
            self.conn.close(code, reason)
            self._process()
        if not self._lost and self.transport is not None:
            self.transport.close()
