"""The asyncio WebSocket object the application uses: send, recv, ping, close.

One class for both roles (:class:`WebSocket`); :mod:`wsframe.asyncio.server`
and :mod:`wsframe.asyncio.client` add the handshake side of each. It is the
transport's protocol too (a :class:`~wsframe.asyncio.protocol.ConnectionProtocol`),
so a message goes from the read to the application without an object in between:

* incoming messages are appended to a deque; a future is created only when
  ``recv()`` finds the deque empty and has to wait; past ``high_water`` bytes
  queued the transport stops reading until the application is back under
  ``low_water``;
* ``send()`` queues the frame in the connection; while the application is
  still working through messages that arrived together (the deque is not
  empty), the replies are collected and go out with one ``transport.write``
  (when the batch is answered or the task yields); otherwise it is written at
  once. ``send()`` waits while the transport's buffer is above ``high_water``;
* a peer error that came behind delivered messages is applied when the
  application asks for the next message after them (its answers go out before
  the close frame), or after a grace period.

The logic is in ``_WebSocketCore`` (compiled as ``wsframe.asyncio._connection_c``
when the speedups are built, see :mod:`.protocol`); :class:`WebSocket` is that
core plus :class:`~.protocol.ConnectionProtocol`.
"""

from __future__ import annotations

import os
import time
from asyncio import InvalidStateError
from typing import (TYPE_CHECKING, Any, AsyncIterable, AsyncIterator, Awaitable, Dict, Iterable, List, Optional, Tuple,
                    Union)

from .. import events as _ev
from ..codec import speedups_enabled
from ..connection import ClientConnection, ServerConnection, State
from ..exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, ConnectionStateError, closed_exception
from .fragments import send_fragments
from ..limits import Limits
from .protocol import ConnectionProtocol, logger

try:
    import cython
except ImportError:  # pure Python without Cython installed: never compiled

    class cython:  # type: ignore[no-redef]  # noqa: N801 - stands in for Cython's shadow module
        compiled = False


# Compiled, the core's base is the compiled transport driver (its C type comes
# from _connection_c.pxd's cimport); uncompiled, whichever protocol.py chose.
if not cython.compiled:
    from .protocol import _ProtocolCore
else:
    from ._protocol_c import _ProtocolCore  # type: ignore[no-redef]

if TYPE_CHECKING:  # pragma: no cover
    from ..codec import BytesLike

__all__ = ["WebSocket", "Data"]

Data = Union[str, bytes]

_Text = _ev.TextMessage
_Binary = _ev.BinaryMessage
_Pong = _ev.Pong
_Closed = _ev.Closed
_CloseReceived = _ev.CloseReceived
_Connected = _ev.Connected
_Request = _ev.Request
_Rejected = _ev.Rejected
_OPEN = State.OPEN


def _quiet_exception(fut: Any, exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()  # retrieved: no "never retrieved" warning for ignored pong waiters


class _WebSocketCore(_ProtocolCore):
    """The logic of :class:`WebSocket` (compiled: an extension type, see _connection_c.pxd)."""

    def __init__(self, conn: Union[ServerConnection, ClientConnection], options: Limits,
                 loop: Any = None) -> None:
        super().__init__(conn, options, loop)
        from collections import deque

        self._messages: Any = deque()
        self._qbytes = 0
        self._waiter: Any = None
        self._iter_waiter = False  # the waiter is __anext__'s: it takes the message itself
        self._flush_handle: Any = None
        self._unsent = 0  # bytes of replies collected during a batch, not yet written
        self._high = options.high_water
        self._low = options.low_water
        self._closed_exc: Optional[ConnectionClosed] = None
        self._pings: Dict[bytes, Tuple[Any, float]] = {}
        self._sent_close: Optional[Tuple[int, str]] = None
        self._keepalive = b""
        self.latency = 0.0

    # -- properties -----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The protocol state (``State.OPEN``...)."""
        return self.conn.state

    @property
    def subprotocol(self) -> Optional[str]:
        """The negotiated subprotocol, or None."""
        return self.conn.subprotocol

    @property
    def extensions(self) -> List[Any]:
        """The negotiated extensions (e.g. permessage-deflate)."""
        return list(self.conn.extensions)

    @property
    def request(self) -> Any:
        """Server side: the handshake request (:class:`wsframe.handshake.Request`)."""
        return self.conn.request

    @property
    def response(self) -> Any:
        """Client side: the handshake response (:class:`wsframe.handshake.Response`)."""
        return self.conn.response

    @property
    def remote_address(self) -> Any:
        """The peer's address (as the socket reports it), or None."""
        return self.transport.get_extra_info("peername") if self.transport is not None else None

    @property
    def local_address(self) -> Any:
        """Our end's address, or None."""
        return self.transport.get_extra_info("sockname") if self.transport is not None else None

    @property
    def close_code(self) -> Optional[int]:
        """The close code once the connection is closed (1006: without a closing handshake)."""
        return self._closed_exc.code if self._closed_exc is not None else None

    @property
    def close_reason(self) -> Optional[str]:
        """The close reason once the connection is closed."""
        return self._closed_exc.reason if self._closed_exc is not None else None

    # -- receiving ------------------------------------------------------------------------------

    def data_received(self, data: BytesLike) -> None:
        # The hot path (ConnectionProtocol.data_received with _events_received inlined).
        if self._discard:  # closing, or a peer failure waits behind queued messages
            if self._draining:
                self._discarded(len(data))
            return
        conn = self.conn
        conn.receive_data(data)
        drv = self._drv
        drv.active = True
        events: List[Any] = conn.events()  # Any: the class identity test below narrows, which mypy cannot follow
        if events:
            q = self._messages
            before = len(q)
            size = 0
            for e in events:
                c = type(e)  # Py_TYPE once compiled (e.__class__ is a generic attribute lookup)
                if c is _Text or c is _Binary:
                    d = e.data
                    q.append(d)
                    size += len(d)
                else:
                    self._event(e)
            if len(q) != before:
                drv.got_message = True
                conn.hold_failures = True  # Driver.delivered(), inlined on the per-message path
                self._qbytes += size
                w = self._waiter
                if w is not None:
                    self._waiter = None
                    # No done() call first: the waiter is done only when its task was cancelled.
                    if self._iter_waiter:  # __anext__ awaits this future: give it the message
                        d = q[0]
                        try:
                            w.set_result(d)
                        except InvalidStateError:
                            pass  # cancelled meanwhile: the message stays queued
                        else:
                            q.popleft()
                            self._qbytes -= len(d)
                    else:
                        try:
                            w.set_result(None)
                        except InvalidStateError:
                            pass
                if self._qbytes > self._high:
                    self._pause_reading()
        if conn.failure_pending:
            self._discard = True  # the rest is not read: the failure is applied once the messages are answered
        out = conn.data_to_send()
        if out:
            self.transport.write(out)
        if conn.state is not _OPEN:
            self._after_state_change()

    def _events_received(self, events: List[Any]) -> None:
        q = self._messages
        before = len(q)
        size = 0
        for e in events:
            c = type(e)
            if c is _Text or c is _Binary:
                d = e.data
                q.append(d)
                size += len(d)
            else:
                self._event(e)
        if len(q) != before:
            drv = self._drv
            drv.got_message = True
            self.conn.hold_failures = True  # Driver.delivered(), inlined on the per-message path
            self._qbytes += size
            self._wake()
            if self._qbytes > self._high:
                self._pause_reading()

    def _event(self, e: Any) -> None:
        c = type(e)
        if c is _Pong:
            self._pong(bytes(e.payload))
        elif c is _CloseReceived:
            self._drv.closing(self._loop.time())
        elif c is _Closed:
            self._closed_exc = closed_exception(e.code, e.reason, e.error)
            if e.error is not None:
                logger.debug("connection failed: %r", e.error)
            self._wake()
            for fut, _ in self._pings.values():
                _quiet_exception(fut, self._closed_exc)
            self._pings.clear()
        elif c is _Connected:
            self._on_open()
        elif c is _Request:
            self._on_request()
        elif c is _Rejected:
            self._on_rejected(e)

    def _on_open(self) -> None:
        """Connected: the handshake succeeded (role hook)."""

    def _on_request(self) -> None:
        """Server: a handshake request waits for accept/reject (role hook)."""

    def _on_rejected(self, e: Any) -> None:
        """The handshake was refused (role hook)."""

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                if not self._iter_waiter:
                    w.set_result(None)
                elif self._messages:
                    d = self._messages.popleft()
                    self._qbytes -= len(d)
                    w.set_result(d)
                else:  # the end of an ``async for``
                    exc = self._closed_exc or ConnectionClosedError(1006, "connection lost")
                    w.set_exception(StopAsyncIteration() if isinstance(exc, ConnectionClosedOK) else exc)

    def _on_lost(self, exc: Optional[BaseException]) -> None:
        if self._closed_exc is None:
            self._closed_exc = ConnectionClosedError(1006, "connection lost", exc)
        self._wake()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    async def recv(self, timeout: Optional[float] = None) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises :class:`TimeoutError` after ``timeout`` seconds without one
        (None: wait forever), :class:`~wsframe.exceptions.ConnectionClosedOK` /
        ``ConnectionClosedError`` once the connection is closed and every
        message received before was returned.
        """
        q = self._messages
        timer = None
        try:
            while not q:
                if self._waiter is not None:
                    if not self._waiter.done():
                        raise RuntimeError("another coroutine is already waiting for a message")
                    self._waiter = None
                if self._flush_handle is not None:
                    self._flush_now()  # replies collected during a batch go out before we wait
                if (self._discard or self._closed_exc is not None or self._lost) and not self._end_of_messages():
                    continue
                w = self._waiter = self._loop.create_future()
                self._iter_waiter = False
                self.conn.hold_failures = False  # Driver.answered(), inlined: nothing is pending here (not _discard)
                if timeout is not None and timer is None:
                    timer = self._loop.call_later(timeout, _timeout_waiter, w)
                try:
                    await w
                finally:
                    self._waiter = None
        finally:
            if timer is not None:
                timer.cancel()
        data = q.popleft()
        self._qbytes -= len(data)
        if self._reading_paused and self._qbytes <= self._low:
            self._resume_reading()
        return data

    def _end_of_messages(self) -> bool:
        """No message queued: apply a pending peer failure (False: look again), raise
        when the connection is over, or return True (wait for a message)."""
        if self._drv.answered():
            # Every message before the peer's error was taken (and answered): it was applied now.
            self._process()
            return False
        if self._closed_exc is not None:
            raise self._closed_exc
        if self._lost:
            raise ConnectionClosedError(1006, "connection lost")
        return True

    def __aiter__(self) -> AsyncIterator[Data]:
        return self

    def __anext__(self) -> Awaitable[Data]:
        """``async for message in ws``: ends on a normal close, raises ConnectionClosedError otherwise.

        When nothing is queued the awaitable is the waiter future itself: the
        next read hands its first message straight to it (no coroutine between)."""
        if self._messages or self._waiter is not None or self._flush_handle is not None \
                or self._discard or self._closed_exc is not None or self._lost:
            return self._anext()
        w = self._waiter = self._loop.create_future()
        self._iter_waiter = True
        self.conn.hold_failures = False  # Driver.answered(), inlined: nothing is pending here (not _discard)
        return w

    async def _anext(self) -> Data:
        q = self._messages
        while not q:
            w = self._waiter
            if w is not None:
                if not w.done():
                    raise RuntimeError("another coroutine is already waiting for a message")
                self._waiter = None
            if self._flush_handle is not None:
                self._flush_now()
            if self._discard or self._closed_exc is not None or self._lost:
                try:
                    if not self._end_of_messages():
                        continue
                except ConnectionClosedOK:
                    raise StopAsyncIteration from None
            w = self._waiter = self._loop.create_future()
            self._iter_waiter = False
            self.conn.hold_failures = False  # Driver.answered(), inlined: nothing is pending here (not _discard)
            try:
                await w
            finally:
                self._waiter = None
        data = q.popleft()
        self._qbytes -= len(data)
        if self._reading_paused and self._qbytes <= self._low:
            self._resume_reading()
        return data

    # -- sending --------------------------------------------------------------------------------

    async def send(self, message: Union[Data, bytearray, memoryview, Iterable[Data], AsyncIterable[Data]]) -> None:
        """Send a message: ``str`` as text, bytes-like as binary; an iterable or
        async iterable of them as one fragmented message (all str or all bytes).

        Waits while the transport's buffer is above ``high_water``. Raises
        ConnectionClosed once the connection is closing or closed.
        """
        conn = self.conn
        c = type(message)
        try:
            if c is bytes or c is str or isinstance(message, (str, bytes, bytearray, memoryview)):
                if not self._messages and self._flush_handle is None:
                    # Not part of a batch: frame and write it at once (one call into the session).
                    out = conn.send_and_take(message)
                    if out and not self._lost:
                        self.transport.write(out)
                    if self._write_paused:
                        await self._drain()
                        if self._lost:
                            raise self._closing_error()
                    return
                conn.send_message(message)
            else:
                await send_fragments(self, message)
                return
        except ConnectionStateError:
            raise self._closing_error() from None
        if self._messages:
            # Part of a batch: the replies go out together, when the batch is
            # answered or when the task yields (or past high_water bytes).
            unsent = self._unsent + len(message)  # type: ignore[arg-type]
            if unsent < self._drv.coalesce_bytes:  # Driver.may_coalesce, inlined (per reply)
                self._unsent = unsent
                if self._flush_handle is None:
                    self._flush_handle = self._loop.call_soon(self._scheduled_flush)
            else:
                self._flush_now()
        else:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
                self._unsent = 0
            out = conn.data_to_send()
            if out and not self._lost:
                self.transport.write(out)
        if self._write_paused:
            await self._drain()
            if self._lost:
                raise self._closing_error()

    def _scheduled_flush(self) -> None:
        self._flush_handle = None
        self._unsent = 0
        self._flush()

    def _flush_now(self) -> None:
        """Write the replies collected during a batch now (cancels the scheduled flush)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._unsent = 0
        self._flush()

    def _closing_error(self) -> ConnectionClosed:
        if self._closed_exc is not None:
            return self._closed_exc
        if self._sent_close is not None:
            return closed_exception(self._sent_close[0], self._sent_close[1])
        return ConnectionClosedError(1006, "connection is not open")

    async def ping(self, data: Union[str, BytesLike, None] = None) -> Awaitable[float]:
        """Send a ping; returns an awaitable that gives the round-trip time
        (seconds) when the matching pong arrives (a pong also answers every
        earlier ping). ``data`` defaults to 4 random bytes."""
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
        else:
            payload = data.encode() if isinstance(data, str) else bytes(data)
        if payload in self._pings:
            raise RuntimeError("already waiting for a pong with the same data")
        try:
            self.conn.send_ping(payload)
        except ConnectionStateError:
            raise self._closing_error() from None
        fut = self._loop.create_future()
        self._pings[payload] = (fut, time.monotonic())
        self._flush()
        return fut

    def _send_keepalive(self) -> None:
        old = self._pings.pop(self._keepalive, None)  # one keepalive ping tracked at a time
        if old is not None:
            old[0].cancel()
        payload = self._keepalive = os.urandom(4)
        self.conn.send_ping(payload)
        self._pings[payload] = (self._loop.create_future(), time.monotonic())

    def _pong(self, payload: bytes) -> None:
        pings = self._pings
        if payload not in pings:
            return
        now = time.monotonic()
        for key in list(pings):
            fut, sent = pings.pop(key)
            if not fut.done():
                fut.set_result(now - sent)
            if key == payload:
                self.latency = now - sent
                break

    # -- closing --------------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close: send a close frame (if still open), wait for the closing
        handshake and the end of the TCP connection (at most ``close_timeout``,
        then the connection is dropped). Idempotent."""
        self._start_close(code, reason)
        await self._wait_lost(self.options.close_timeout)

    def _start_close(self, code: int, reason: str) -> None:
        conn = self.conn
        if conn.state is _OPEN and not self._lost:
            if not self._drv.answered():  # else: a held peer error was applied instead
                conn.close(code, reason)
                self._sent_close = (code, reason)
            self._process()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (TCP included)."""
        await self._wait_lost(None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.conn.state.name} {self.remote_address}>"



def _timeout_waiter(w: Any) -> None:
    if not w.done():
        w.set_exception(TimeoutError("no message within the timeout"))


if not TYPE_CHECKING and not cython.compiled and speedups_enabled:
    try:  # the same class compiled from this file (wsframe.asyncio._connection_c), when built
        from ._connection_c import _WebSocketCore
    except ImportError:  # pragma: no cover - built without it: the class above
        pass


class WebSocket(_WebSocketCore, ConnectionProtocol):
    """An open WebSocket connection (server side: the handler's argument; client side: what
    :func:`~wsframe.asyncio.connect` returns).

    Attributes: ``request`` (server: the handshake request), ``response``
    (client: the handshake response), ``subprotocol``, ``remote_address``,
    ``local_address``, ``latency`` (seconds, of the last ping answered),
    ``close_code``/``close_reason`` (None until closed), ``state``.
    """
