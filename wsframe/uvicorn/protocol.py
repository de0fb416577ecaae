"""uvicorn's WebSocket protocol contract, implemented on wsframe's sans-I/O ServerConnection.

``uvicorn --ws wsframe.uvicorn:WSFrameProtocol app:app``: uvicorn's HTTP protocol replays the
upgrade request through ``connection_made`` and ``data_received`` and hands the transport over; from
there this ``asyncio.Protocol`` feeds bytes to a :class:`wsframe.ServerConnection`
(``auto_accept=False``) and speaks ASGI (spec 2.4) with the application: ``websocket.accept``
(subprotocol, headers), ``websocket.close`` before accept (403),
``websocket.http.response.start/body`` (denial responses), messages, close, and
``websocket.disconnect``.

Per message it costs the two ASGI dicts and nothing else: received messages go straight to a waiting
``receive()`` (its future is the only one created, and only when the application waits) or into a
deque; replies are written at once, or, while the application still has queued messages to read,
coalesced into one ``transport.write`` (one ``call_soon`` per batch bounds the delay). Reads pause
while messages wait unread (uvicorn's behaviour) and resume when the application has taken them. The
transport rules are those of every wsframe layer (:mod:`wsframe._driver`): a peer error that arrives
while the application has a message it has not answered (in the same read or a later one) is applied
once the application asks for more (or after the grace period), so its answers go out before the
close frame; after failing the connection (a peer error, 1009) the server half-closes and discards
input until the peer's EOF (within the drain budget), so that unread input does not turn the close
frame into a reset; replies are coalesced up to the one cap.

Limits: a :class:`wsframe.limits.Limits` (``WSFrameProtocol(..., limits=)``, or
:meth:`WSFrameProtocol.with_limits` for ``--ws``); uvicorn's config overrides its fields. Config
used: ``ws_max_size`` (close 1009; the fragment cap is derived from it), ``ws_ping_interval``/
``ws_ping_timeout`` (keepalive, close 1011), ``ws_per_message_deflate``, ``root_path``,
``server_header``/``date_header`` (uvicorn's default headers on the handshake responses).
``ws_max_queue`` is not used: reads pause as soon as one message waits unread, so the queue holds at
most the messages of one read (uvicorn's websockets-sansio and wsproto implementations do the same).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Type

from uvicorn.config import Config
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.utils import ClientDisconnected, get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

from .. import _driver
from ..asyncio.protocol import current_loop
from ..connection import ServerConnection, State
from ..events import BinaryMessage, Closed, CloseReceived, Request, TextMessage
from ..exceptions import ConnectionStateError
from ..limits import Limits
from ..permessage_deflate import ServerPerMessageDeflate
from ._asgi import build_scope, response_head
from ._keepalive import Sweep, sweep_for
from ._responses import DONE as _DONE
from ._responses import HANDSHAKE as _HANDSHAKE
from ._responses import OPEN as _OPEN
from ._responses import RESPONSE as _RESPONSE
from ._responses import Responses, client_address, log_prefix, request_path
from .pubsub import EXTENSION as _PS_EXT
from .pubsub import UvicornSubscriber
from .pubsub import hub as _ps_hub

if TYPE_CHECKING:  # pragma: no cover
    from ..codec import BytesLike

__all__ = ["WSFrameProtocol"]

_logger = logging.getLogger("uvicorn.error")
_DEFLATE = (ServerPerMessageDeflate(),)  # a stateless factory; one compressor pair per negotiated connection
_STATE_OPEN = State.OPEN
# The Limits of each uvicorn Config (and base Limits): made once, not per connection.
_LIMITS: "weakref.WeakKeyDictionary[Config, Dict[Optional[Limits], Limits]]" = weakref.WeakKeyDictionary()


def _limits_for(config: Config, base: Optional[Limits]) -> Limits:
    """``base`` (or the defaults) with uvicorn's ``ws_*`` settings applied."""
    per_config = _LIMITS.setdefault(config, {})
    lim = per_config.get(base)
    if lim is None:
        lim = (base or Limits()).replace(max_message_size=config.ws_max_size,
                                         ping_interval=config.ws_ping_interval or None,
                                         ping_timeout=config.ws_ping_timeout or None,
                                         compression=bool(config.ws_per_message_deflate))
        per_config[base] = lim
    return lim


class WSFrameProtocol(Responses, asyncio.Protocol):
    """One WebSocket connection under uvicorn (see the module docstring).

    Public attributes follow uvicorn's implementations: ``transport``,
    ``scope``, ``close_timeout`` (seconds to wait for the peer's close frame,
    ``limits.close_timeout``), ``close_timer``, ``ping_sent_at``; and ``limits``.
    """

    __slots__ = (
        "config", "app", "loop", "transport", "scope", "close_timeout", "close_timer", "_server_state",
        "_app_state", "_conn", "_state", "_queue", "_waiter", "_read_paused", "_write_paused",
        "_drain_waiters", "_disconnected", "_peer_closed", "_pending", "_flush_handle", "_failure_timer",
        "_response", "_failed", "_draining", "_eof", "_abort_timer", "_drv", "limits", "_sweep",
    )

    #: The Limits of connections made without ``limits=`` (see :meth:`with_limits`); None: the defaults.
    default_limits: Optional[Limits] = None

    @classmethod
    def with_limits(cls, limits: Limits) -> "Type[WSFrameProtocol]":
        """A subclass whose connections use ``limits`` (uvicorn's ``ws_*`` config still overrides
        its fields): ``uvicorn.Config(app, ws=WSFrameProtocol.with_limits(Limits(...)))``."""
        return type(cls.__name__, (cls,), {"__slots__": (), "default_limits": limits})

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: Dict[str, Any],
        _loop: Optional[asyncio.AbstractEventLoop] = None,
        *,
        limits: Optional[Limits] = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.limits = lim = _limits_for(config, limits if limits is not None else self.default_limits)
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or current_loop()
        self.transport: Any = None
        self.scope: Dict[str, Any] = {}
        self.close_timeout: Optional[float] = lim.close_timeout
        self.close_timer: Optional[asyncio.TimerHandle] = None
        self._server_state = server_state
        self._app_state = app_state
        self._conn = conn = ServerConnection(
            auto_accept=False,
            extensions=_DEFLATE if lim.compression else (),
            **lim.connection_kwargs(),
        )
        self._drv = _driver.Driver(conn, lim)
        self._state = _HANDSHAKE
        self._queue: Deque[Dict[str, Any]] = deque()
        self._waiter: Optional[asyncio.Future] = None
        self._read_paused = False
        self._write_paused = False
        self._drain_waiters: Optional[List[asyncio.Future]] = None
        self._disconnected = False
        self._peer_closed = False
        self._pending = 0  # bytes of replies not yet written (coalescing)
        self._flush_handle: Optional[asyncio.Handle] = None
        self._failure_timer: Optional[asyncio.TimerHandle] = None
        self._response: Optional[List[Any]] = None  # [status, headers, body chunks] of a denial without length
        self._failed = False  # we failed the connection because of the peer's error
        self._draining = False  # half-closed after a failure: input is discarded until the peer's EOF
        self._eof = False
        self._abort_timer: Optional[asyncio.TimerHandle] = None
        self._sweep: Optional[Sweep] = None  # the deadlines are checked once the application accepted

    @property
    def ping_timer(self) -> Optional[asyncio.TimerHandle]:  # uvicorn's name: the keepalive timer, or None
        sweep = self._sweep
        return sweep.handle if sweep is not None and self.limits.ping_interval is not None else None

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._server_state.connections.add(self)
        self.transport = transport
        if _logger.level <= TRACE_LOG_LEVEL:
            _logger.log(TRACE_LOG_LEVEL, "%sWebSocket connection made", log_prefix(get_remote_addr(transport)))

    def data_received(self, data: BytesLike) -> None:
        if self._draining:
            if self._drv.discard(len(data)):
                self.transport.close()  # enough: a peer still streaming gets a reset
            return
        conn = self._conn
        # Driver.delivered()/answered(), as one flag per read: a peer error in this read waits
        # while the application is not waiting for a message (it has one it has not answered).
        conn.hold_failures = self._waiter is None
        conn.receive_data(data)
        self._drv.active = True
        self._process()
        if conn.failure_pending and self._failure_timer is None:
            # A peer error behind messages the application has not answered: wait for it.
            self._pause_reading()
            self._failure_timer = self.loop.call_later(_driver.failure_grace(self.limits), self._apply_failure)

    def eof_received(self) -> None:
        self._eof = True
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._stop_clock()
        self._deliver({"type": "websocket.disconnect", "code": 1006})
        self._server_state.connections.discard(self)
        sub = self.scope.get("extensions", {}).get(_PS_EXT)
        if sub is not None:
            _ps_hub.discard(sub)
        if _logger.level <= TRACE_LOG_LEVEL:
            _logger.log(TRACE_LOG_LEVEL, "%sWebSocket connection lost", log_prefix(self.scope.get("client")))
        self._disconnected = True
        if self._state == _HANDSHAKE:
            self._state = _DONE
        for handle in (self.close_timer, self._flush_handle, self._failure_timer, self._abort_timer):
            if handle is not None:
                handle.cancel()
        self.close_timer = self._flush_handle = self._failure_timer = self._abort_timer = None
        self._wake_writers()
        if exc is None:
            self.transport.close()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._drv.stalled_since = self.loop.time()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._drv.stalled_since = 0.0
        self._wake_writers()

    def shutdown(self) -> None:
        """Server shutdown: close 1012 (or 500 during the handshake) and close the transport."""
        self._stop_clock()
        state = self._state
        if state == _DONE:
            if self.close_timer is not None:
                self.close_timer.cancel()
                self.close_timer = None
        elif state == _OPEN:
            self._state = _DONE
            self._deliver({"type": "websocket.disconnect", "code": 1012})
            if self._conn.state is _STATE_OPEN:
                self._conn.close(1012)
            self._flush()
        else:
            self._send_500()
        self.transport.close()

    # -- connection events ------------------------------------------------------------

    def _process(self) -> None:
        """Handle the connection's events, write its output, close the transport when it says so."""
        conn = self._conn
        events: List[Any] = conn.events()
        if events:
            deliver = self._deliver
            reading = self._state != _DONE
            delivered = False
            for event in events:
                cls = event.__class__
                if cls is TextMessage:
                    if reading:
                        deliver({"type": "websocket.receive", "text": event.data})
                        delivered = True
                elif cls is BinaryMessage:
                    if reading:
                        deliver({"type": "websocket.receive", "bytes": event.data})
                        delivered = True
                elif cls is Request:
                    self._on_request(event.request)
                elif cls is CloseReceived:
                    self._peer_closed = True
                    if self._state == _OPEN:
                        self._state = _DONE
                        deliver({"type": "websocket.disconnect", "code": event.code, "reason": event.reason})
                elif cls is Closed:
                    self._on_closed(event)
            if delivered:
                self._drv.got_message = True
            queue = self._queue
            if queue and not self._read_paused and self._state == _OPEN:
                self._pause_reading()
        out = conn.data_to_send()
        if out:
            self._pending = 0
            transport = self.transport
            if not transport.is_closing():
                transport.write(out)
        if conn.should_close_transport:
            self._close_transport()

    def _on_request(self, request: Any) -> None:
        transport = self.transport
        self.scope = build_scope(
            request,
            scheme="wss" if is_ssl(transport) else "ws",
            server=get_local_addr(transport),
            client=get_remote_addr(transport),
            root_path=self.config.root_path,
            asgi_version=self.config.asgi_version,
            state=self._app_state.copy(),
        )
        self.scope["extensions"][_PS_EXT] = UvicornSubscriber(self)  # pub/sub (wsframe.uvicorn.pubsub)
        self._deliver({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        tasks = self._server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _on_closed(self, event: Closed) -> None:
        self._stop_clock()
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        if event.error is not None:
            self._failed = True
            if self._state == _HANDSHAKE:
                self._state = _DONE  # wsframe refused the handshake (400/426): no application
        if event.error is not None and self._state == _OPEN:
            # The peer broke the protocol: we sent the close frame with the RFC code.
            self._state = _DONE
            self._deliver({"type": "websocket.disconnect", "code": event.code, "reason": event.reason})

    def _apply_failure(self) -> None:
        self._failure_timer = None
        if self._drv.answered():
            self._process()

    def _close_transport(self) -> None:
        """Close TCP: the closing handshake is done, or we failed the connection.

        After a failure the peer may still be sending (the rest of a message
        over ``ws_max_size``, say), and closing a socket with unread input
        makes the kernel answer with a reset that can destroy our close frame
        in the peer's buffers. So then: half-close, discard input until the
        peer's EOF (close after 1 MiB of it: a peer that is still streaming
        a huge message gets the reset), abort if it has not come within
        ``close_timeout``.
        """
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        transport = self.transport
        if self._failed and not self._eof and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()
            self._draining = True
            self._drv.draining(self.loop.time())
            self._resume_reading()
            self._abort_later(_driver.drain_time(self.limits))
        else:
            transport.close()

    def _abort_later(self, delay: Optional[float] = None) -> None:
        """Abort the transport if it is still there after ``delay`` (``close_timeout`` by default: a
        peer that neither reads our output nor closes its side would otherwise hold it forever)."""
        # (uvicorn's own tests drive the protocol with a mock transport that has no abort())
        if delay is None:
            delay = self.close_timeout
        if self._abort_timer is None and not self._disconnected and hasattr(self.transport, "abort") \
                and delay is not None:
            self._abort_timer = self.loop.call_later(delay, self._abort)

    def _abort(self) -> None:
        self._abort_timer = None
        if not self._disconnected:
            self.transport.abort()

    # -- reading and writing -------------------------------------------------------------

    def _deliver(self, message: Dict[str, Any]) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(message)
                return
        self._queue.append(message)

    def _pause_reading(self) -> None:
        if not self._disconnected:
            self._read_paused = self._drv.reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        self._read_paused = self._drv.reading_paused = False
        if not self._disconnected and self._failure_timer is None:
            self.transport.resume_reading()

    def _flush(self) -> None:
        self._pending = 0
        handle = self._flush_handle
        if handle is not None:
            self._flush_handle = None
            handle.cancel()
        out = self._conn.data_to_send()
        if out and not self.transport.is_closing():
            self.transport.write(out)

    def _flush_soon(self) -> None:
        self._flush_handle = None
        self._flush()

    def _wake_writers(self) -> None:
        waiters = self._drain_waiters
        if waiters:
            self._drain_waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _wait_writable(self) -> None:
        waiter = self.loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        await waiter

    # -- the ASGI side ---------------------------------------------------------------------

    async def run_asgi(self) -> None:
        """Run the application; its failure answers 500 before the handshake, and drops TCP after it
        (the peer sees 1006), as uvicorn's own protocols do and uvicorn's test suite expects."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            _logger.exception("Exception in ASGI application\n")
            self._send_500()
        else:
            if self._state == _HANDSHAKE or self._state == _RESPONSE and self._response is not None:
                _logger.error("ASGI callable returned without completing handshake.")
                self._send_500()
            elif result is not None:
                _logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.close_timer is None and not self._draining:  # not waiting for the peer's close or EOF
            self._flush()
            self.transport.close()

    async def receive(self) -> Dict[str, Any]:
        """ASGI receive: the next event; waits only when nothing is queued."""
        queue = self._queue
        if queue:
            message = queue.popleft()
            if not queue and self._read_paused:
                self._resume_reading()
            return message
        conn = self._conn
        if conn.failure_pending and self._drv.answered():
            # Every message before the peer's error has been read: it was applied now.
            if self._failure_timer is not None:
                self._failure_timer.cancel()
                self._failure_timer = None
            self._process()
            if queue:
                return queue.popleft()
        if self._pending:
            self._flush()
        waiter = self._waiter = self.loop.create_future()
        return await waiter

    async def send(self, message: Dict[str, Any]) -> None:
        """ASGI send."""
        if self._write_paused:
            await self._wait_writable()
        if self._disconnected:
            raise ClientDisconnected()
        if self._state == _OPEN and message["type"] == "websocket.send":
            conn = self._conn
            data = message.get("bytes")
            try:
                if data is not None:
                    conn.send_binary(data)
                else:
                    data = message.get("text")
                    if data is None:
                        raise RuntimeError("websocket.send needs 'bytes' or 'text'")
                    conn.send_text(data)
            except ConnectionStateError:
                raise ClientDisconnected() from None
            if self._queue:
                # More messages are queued for the application: coalesce its replies.
                self._pending += len(data) + 14
                if self._pending < self._drv.coalesce_bytes:  # Driver.may_coalesce, inlined (per reply)
                    if self._flush_handle is None:
                        self._flush_handle = self.loop.call_soon(self._flush_soon)
                    return
            self._flush()
            return
        self._send_control(message)

    def _send_control(self, message: Dict[str, Any]) -> None:
        kind = message["type"]
        state = self._state
        if state == _HANDSHAKE:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._log_status(403)
                self._state = _DONE
                self._deliver({"type": "websocket.disconnect", "code": 1006})
                self._write_and_close(response_head(403, (), self._server_state.default_headers, 0))
            elif kind == "websocket.http.response.start":
                self._start_response(message)
            else:
                raise RuntimeError(
                    "Expected ASGI message 'websocket.accept', 'websocket.close' "
                    f"or 'websocket.http.response.start' but got '{kind}'."
                )
        elif state == _OPEN:
            if kind != "websocket.close":
                raise RuntimeError(f"Expected ASGI message 'websocket.send' or 'websocket.close', but got '{kind}'.")
            self._close(message)
        elif state == _RESPONSE:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"Expected ASGI message 'websocket.http.response.body' but got '{kind}'.")
            self._response_body(message)
        elif kind == "websocket.close" and self._peer_closed:
            return  # the peer closed first: nothing left to do
        elif kind == "websocket.send" and self._peer_closed:
            raise ClientDisconnected()
        else:
            raise RuntimeError(f"Unexpected ASGI message '{kind}', after sending 'websocket.close'.")

    def _accept(self, message: Dict[str, Any]) -> None:
        _logger.info('%s - "WebSocket %s" [accepted]', client_address(self.scope), request_path(self.scope))
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in (*self._server_state.default_headers, *message.get("headers", ()))
        ]
        if self.transport.is_closing():
            return
        self._conn.accept(message.get("subprotocol"), headers)
        self._conn.request = None  # the scope has what the app needs: ~2 KiB less per connection
        self._state = _OPEN
        _logger.info("connection open")  # as uvicorn's websockets implementations log it
        self._process()
        self._sweep = sweep_for(self.loop, _driver.tick_interval(self.limits))
        self._sweep.add(self)

    def _close(self, message: Dict[str, Any]) -> None:
        code = message.get("code") or 1000
        reason = message.get("reason") or ""
        if self._conn.state is _STATE_OPEN:
            self._conn.close(code, reason)
        self._state = _DONE
        self._deliver({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._flush()
        if self._peer_closed or self.transport.is_closing():
            return
        if self._read_paused:
            self._resume_reading()
        if self.close_timeout is not None:
            self.close_timer = self.loop.call_later(self.close_timeout, self._close_timeout)

    # -- the clock ------------------------------------------------------------------------

    @property
    def ping_sent_at(self) -> float:
        """When the unanswered keepalive ping went out (``loop.time()``; 0.0: none)."""
        return self._drv.ping_sent_at

    def tick(self, now: float) -> None:
        """Apply the deadlines (the loop's :class:`~wsframe.uvicorn._keepalive.Sweep` calls it)."""
        if self._disconnected:
            self._stop_clock()
            return
        self._drv.tick(now, self)

    # The driver's requests (Driver.tick).

    def deadline_flush(self) -> None:
        self._process()

    def deadline_ping(self) -> None:
        self._conn.send_ping(_driver.KEEPALIVE_PAYLOAD)
        self._flush()

    def deadline_abort(self) -> None:
        self._stop_clock()
        if hasattr(self.transport, "abort"):
            self.transport.abort()
        else:  # pragma: no cover - uvicorn's mock transports
            self.transport.close()

    def deadline_fail(self) -> None:
        self.keepalive_failed()

    def _stop_clock(self) -> None:
        if self._sweep is not None:
            self._sweep.discard(self)
            self._sweep = None

    def keepalive_failed(self) -> None:
        """No input within ``ping_timeout`` after our ping: close 1011 and drop the transport."""
        self._stop_clock()
        self._state = _DONE
        self._deliver({"type": "websocket.disconnect", "code": _driver.CODE_KEEPALIVE,
                       "reason": _driver.REASON_KEEPALIVE})
        self._flush()
        self.transport.close()  # waits for the write buffer to drain: bounded by the abort below
        self._abort_later()

    def _close_timeout(self) -> None:
        self.close_timer = None
        self.transport.close()
        self._abort_later()
