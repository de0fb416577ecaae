"""The asyncio WebSocket server: :func:`serve` and :class:`Server`.

::

    import asyncio
    from wsframe.asyncio import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with serve(echo, "127.0.0.1", 8765) as server:
            await server.serve_forever()

    asyncio.run(main())

Each connection runs ``handler(ws)`` in one task once the handshake is done;
when it returns the connection is closed (1000; 1011 if it raised). The
limits and timeouts are a :class:`wsframe.limits.Limits` (the defaults of every
wsframe layer), checked by one periodic sweep over all connections (not a timer
per connection) through the transport rules of :mod:`wsframe._driver`.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl as _ssl
from typing import Any, Awaitable, Callable, Dict, Generator, Iterable, Optional, Sequence, Set, Tuple, Union

from .. import _driver
from ..connection import ServerConnection, State
from ..limits import UNSET, Limits, from_arguments
from ..exceptions import ConnectionClosed, ConnectionStateError
from ..handshake import Headers, Response
from . import _pubsub as _ps
from .connection import WebSocket
from .protocol import logger

__all__ = ["Server", "serve", "ServerWebSocket"]

Handler = Callable[["ServerWebSocket"], Awaitable[Any]]
ProcessRequest = Callable[["ServerWebSocket", Any], Any]

_OPEN = State.OPEN
_CONNECTING = State.CONNECTING
_OVERFLOW_503 = "server is at its connection limit"


def _response_parts(resp: Any) -> Tuple[int, str, Iterable[Tuple[str, str]]]:
    """(status, body, headers) from what process_request returned."""
    if isinstance(resp, Response):
        body = resp.body.decode("utf-8", "replace") if isinstance(resp.body, (bytes, bytearray)) else str(resp.body)
        return resp.status, body, resp.headers.items()
    if isinstance(resp, int):
        return resp, "", ()
    if isinstance(resp, tuple) and 1 <= len(resp) <= 3:
        status = int(resp[0])
        body = resp[1] if len(resp) > 1 else ""
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", "replace")
        headers = resp[2] if len(resp) > 2 else ()
        if isinstance(headers, dict):
            headers = headers.items()
        return status, str(body), list(headers)
    raise TypeError(f"process_request must return None, a Response, a status or (status, body[, headers]),"
                    f" not {type(resp).__name__}")


class ServerWebSocket(WebSocket):
    """The server side of one connection: answers the handshake, runs the handler task."""

    conn: ServerConnection

    def __init__(self, server: "Server", overflow: bool) -> None:
        auto = not overflow and server.process_request is None
        conn = ServerConnection(auto_accept=auto, **server._conn_kwargs)
        super().__init__(conn, server.options, server._loop)
        self.server = server
        self._overflow = overflow
        self._task: Optional[asyncio.Task] = None

    def respond(self, status: int, body: str = "", headers: Iterable[Tuple[str, str]] = ()) -> Response:
        """A response for ``process_request`` to return instead of upgrading (e.g. 401)."""
        return Response(status, "", Headers(headers), body.encode())

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        self.server._add(self)
        super().connection_made(transport)

    def _on_lost(self, exc: Optional[BaseException]) -> None:
        super()._on_lost(exc)
        self.server._remove(self)

    def _on_request(self) -> None:
        if self._overflow:
            self.conn.reject(503, _OVERFLOW_503)  # the read path writes it
        elif self.server.process_request is not None and self._task is None:
            self._task = self._loop.create_task(self._run(True))

    def _on_open(self) -> None:
        if self._task is None:
            self._task = self._loop.create_task(self._run(False))

    # Pub/sub (wsframe.asyncio._pubsub); the last four are wsframe.pubsub's Subscriber interface.
    def subscribe(self, topic: str) -> bool:
        """Receive what is published to ``topic`` (see :mod:`wsframe.pubsub`)."""
        if self.__class__ is ServerWebSocket:
            # Only a subscriber can have published frames waiting for the end of the loop pass:
            # from now on its send/close write them first (connections that never subscribe
            # keep the plain, unchecked send).
            self.__class__ = _Subscribed
        return _ps.subscribe(self, topic)

    unsubscribe = _ps.unsubscribe
    publish = _ps.publish_others
    pubsub_write = _ps.pubsub_write
    pubsub_send = _ps.pubsub_send
    pubsub_extensions = _ps.pubsub_extensions
    pubsub_close = _ps.pubsub_close

    async def _run(self, check_request: bool) -> None:
        conn = self.conn
        try:
            if check_request:
                assert self.server.process_request is not None
                resp = self.server.process_request(self, conn.request)
                if inspect.isawaitable(resp):
                    resp = await resp
                if conn.state is not _CONNECTING:
                    return  # gone meanwhile
                if resp is not None:
                    status, body, headers = _response_parts(resp)
                    conn.reject(status, body, headers)
                    self._process()
                    return
                conn.accept()
                self._process()
                if conn.state is not _OPEN:
                    return
            await self.server.handler(self)
        except ConnectionClosed:
            pass
        except ConnectionStateError:
            pass
        except Exception:
            logger.exception("error in the connection handler (%s)", self.remote_address)
            if conn.state is _CONNECTING and not self._lost:
                try:
                    conn.reject(500, "internal server error")
                except ConnectionStateError:
                    pass
                self._process()
            self._start_close(1011, "internal error")
        await self.close()


class _Subscribed(ServerWebSocket):
    """A :class:`ServerWebSocket` that subscribed: ``send`` and ``close`` write the published
    frames still waiting for this loop pass first (order)."""

    send = _ps.send  # type: ignore[assignment]
    close = _ps.close  # type: ignore[assignment]


class Server:
    """A running WebSocket server (made by :func:`serve`).

    ``sockets``: the listening sockets; ``port``: the first one's port;
    ``connections``: the open connections. :meth:`close` stops accepting and
    closes every connection with 1001; :meth:`wait_closed` waits until all are
    gone (each bounded by ``close_timeout``).
    """

    def __init__(self, handler: Handler, options: Limits, conn_kwargs: dict,
                 process_request: Optional[ProcessRequest], max_connections: int,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.handler = handler
        self.options = options
        self.process_request = process_request
        self.max_connections = max_connections
        self._conn_kwargs = conn_kwargs
        self._loop = loop
        self._server: Any = None
        self._conns: Set[ServerWebSocket] = set()
        self._n_overflow = 0
        self._closing = False
        self._closed = loop.create_future()
        self._empty: Optional[asyncio.Future] = None
        self._sweeper: Optional[asyncio.TimerHandle] = None
        self._interval = _driver.tick_interval(options)
        self.ssl = False

    # -- public -----------------------------------------------------------------------------

    @property
    def sockets(self) -> Tuple[Any, ...]:
        """The listening sockets."""
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def port(self) -> int:
        """The port of the first listening socket."""
        return self.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """ws:// or wss:// URL of the first listening socket."""
        host = self.sockets[0].getsockname()[0]
        host = f"[{host}]" if ":" in host else host
        return f"{'wss' if self.ssl else 'ws'}://{host}:{self.port}/"

    @property
    def connections(self) -> Set[ServerWebSocket]:
        """A snapshot of the current connections."""
        return set(self._conns)

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting; close open connections with 1001 (when ``close_connections``)."""
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        if close_connections:
            for ws in list(self._conns):
                state = ws.conn.state
                if state is _OPEN:
                    ws._start_close(1001, "server shutting down")
                elif state is _CONNECTING:
                    ws._abort()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection is gone."""
        await asyncio.shield(self._closed)
        if self._server is not None:
            await self._server.wait_closed()
        while self._conns:
            self._empty = self._loop.create_future()
            await asyncio.shield(self._empty)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` (or cancellation, which closes the server)."""
        try:
            await asyncio.shield(self._closed)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise
        await self.wait_closed()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()

    # -- internals --------------------------------------------------------------------------

    def _factory(self) -> ServerWebSocket:
        overflow = len(self._conns) - self._n_overflow >= self.max_connections
        return ServerWebSocket(self, overflow)

    def _add(self, ws: ServerWebSocket) -> None:
        if self._closing:  # accepted while closing: dropped
            ws._overflow = False
            self._loop.call_soon(ws._abort)
        elif ws._overflow:
            if self._n_overflow >= 16 + self.max_connections // 16:
                ws._overflow = False  # not counted: closed at once
                self._loop.call_soon(ws._abort)
                self._conns.add(ws)
                return
            self._n_overflow += 1
        self._conns.add(ws)

    # Pub/sub (wsframe.asyncio._pubsub): topics, publish and broadcast on this server.
    _pubsub: Any = None
    _ps_runs: Any = ()  # the PubSub's pending runs: not empty while a burst waits (send/close check)
    _ps_scheduled = False  # a flush of the runs is queued with call_soon
    pubsub = _ps.pubsub
    publish = _ps.publish
    broadcast = _ps.broadcast

    def _remove(self, ws: ServerWebSocket) -> None:
        _ps.discard(self, ws)
        if ws in self._conns:
            self._conns.discard(ws)
            if ws._overflow:
                self._n_overflow -= 1
        if not self._conns and self._empty is not None and not self._empty.done():
            self._empty.set_result(None)

    def _sweep(self) -> None:
        now = self._loop.time()
        for ws in list(self._conns):
            try:
                ws._tick(now)
            except Exception:  # pragma: no cover - defensive: one connection must not stop the sweep
                logger.exception("timeout check failed")
                ws._abort()
        self._sweeper = self._loop.call_later(self._interval, self._sweep)


class serve:
    """Start a WebSocket server: ``server = await serve(handler, host, port, ...)`` or
    ``async with serve(...) as server``.

    ``handler``: ``async def handler(ws)`` run for each connection once open.
    Or ``app``: a :class:`wsframe.server.Application` instead of a handler, the
    callback API of the selectors server on this loop (``on_message(ws, data)``
    called directly on each read, ``ws.send`` synchronous, replies written once
    per read; ``keep_request`` as in :class:`wsframe.server.Server`; see
    docs/callback-api.md).
    Options: ``ssl`` (an ``ssl.SSLContext``: wss://), ``sock`` (a bound
    socket instead of host/port), ``reuse_port``, ``backlog``,
    ``limits`` (a :class:`wsframe.limits.Limits`: sizes, timeouts, backpressure),
    ``subprotocols`` (ours, preferred first), ``compression`` (permessage-deflate,
    on by default; False/None: off; ``extensions`` overrides it with factories),
    ``allowed_origins`` (None: any), ``process_request(ws, request)`` (sync or
    async; return None to upgrade, or ``ws.respond(status, body)``, a status or
    ``(status, body[, headers])`` to answer with that instead),
    ``max_connections`` (past it: HTTP 503), and ``connection_options`` (more
    ``ServerConnection`` keyword arguments). ``max_message_size``,
    ``max_fragments``, ``max_header_size``, ``handshake_timeout``,
    ``close_timeout``, ``ping_interval``/``ping_timeout``, ``idle_timeout``,
    ``write_timeout``, ``message_timeout``, ``high_water``/``low_water``
    override that field of ``limits`` (see :class:`wsframe.limits.Limits`).
    """

    def __init__(
        self,
        handler: Optional[Handler] = None,
        host: Optional[Union[str, Sequence[str]]] = None,
        port: Optional[int] = None,
        *,
        sock: Any = None,
        ssl: Optional[_ssl.SSLContext] = None,
        reuse_port: bool = False,
        backlog: int = 1024,
        limits: Optional[Limits] = None,
        subprotocols: Sequence[str] = (),
        compression: Union[bool, str, None] = UNSET,
        extensions: Optional[Sequence[Any]] = None,
        allowed_origins: Optional[Iterable[Optional[str]]] = None,
        process_request: Optional[ProcessRequest] = None,
        max_connections: int = 10000,
        max_message_size: Optional[int] = UNSET,
        max_fragments: Optional[int] = UNSET,
        max_header_size: int = UNSET,
        handshake_timeout: Optional[float] = UNSET,
        close_timeout: Optional[float] = UNSET,
        ping_interval: Optional[float] = UNSET,
        ping_timeout: Optional[float] = UNSET,
        idle_timeout: Optional[float] = UNSET,
        write_timeout: Optional[float] = UNSET,
        message_timeout: Optional[float] = UNSET,
        high_water: int = UNSET,
        low_water: int = UNSET,
        connection_options: Optional[dict] = None,
        app: Any = None,
        keep_request: bool = False,
    ) -> None:
        if (handler is None) == (app is None):
            raise TypeError("serve() takes a handler or app=, exactly one of them")
        if app is not None and process_request is not None:
            raise TypeError("process_request is for handlers; an Application decides in on_open")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self._handler = handler
        self._app = app
        self._keep_request = keep_request
        self._where = (host, port, sock)
        self._create_options: Dict[str, Any] = dict(ssl=ssl, reuse_port=reuse_port or None, backlog=backlog)
        self._process_request = process_request
        self._max_connections = max_connections
        lim = from_arguments(limits, locals())
        self._options = lim
        if compression is UNSET:
            compression = lim.compression
        if extensions is None:
            extensions = []
            if compression:
                if compression not in (True, "deflate"):
                    raise ValueError(f"unsupported compression {compression!r} (use True/'deflate' or None)")
                from ..permessage_deflate import ServerPerMessageDeflate

                extensions.append(ServerPerMessageDeflate())
        self._conn_kwargs = dict(lim.connection_kwargs(), subprotocols=tuple(subprotocols),
                                 extensions=tuple(extensions), allowed_origins=allowed_origins)
        if connection_options:
            self._conn_kwargs.update(connection_options)
        self.server: Optional[Server] = None

    async def _create(self) -> Server:
        loop = asyncio.get_running_loop()
        server: Server
        if self._app is not None:
            from .app_protocol import AppServer

            server = AppServer(self._app, self._options, self._conn_kwargs, self._max_connections, loop,
                               self._keep_request)
        else:
            assert self._handler is not None
            server = Server(self._handler, self._options, self._conn_kwargs, self._process_request,
                            self._max_connections, loop)
        host, port, sock = self._where
        kwargs = {k: v for k, v in self._create_options.items() if v is not None}
        if sock is not None:
            server._server = await loop.create_server(server._factory, sock=sock, **kwargs)
        else:
            server._server = await loop.create_server(server._factory, host, port, **kwargs)
        server.ssl = self._create_options["ssl"] is not None
        server._sweeper = loop.call_later(server._interval, server._sweep)
        self.server = server
        logger.debug("asyncio server listening on %s", server.url)
        return server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._create().__await__()

    async def __aenter__(self) -> Server:
        return await self._create()

    async def __aexit__(self, *exc: Any) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
