"""The asyncio WebSocket client: :func:`connect` (ws:// and wss://).

::

    import asyncio
    from wsframe.asyncio import connect

    async def main():
        async with connect("ws://127.0.0.1:8765/") as ws:
            await ws.send("hello")
            print(await ws.recv())

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from typing import Any, Dict, Generator, Iterable, Optional, Sequence, Tuple, Union
from .._client_url import parse_url
from ..connection import ClientConnection
from ..events import Closed as _Closed
from ..exceptions import HandshakeError, InvalidStatus
from ..limits import UNSET, Limits, from_arguments
from .connection import WebSocket

__all__ = ["ClientWebSocket", "connect"]


class ClientWebSocket(WebSocket):
    """The client side of one connection: resolves the opening handshake."""

    def __init__(self, conn: ClientConnection, options: Limits, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(conn, options, loop)
        self._opened: asyncio.Future = loop.create_future()
        self._rejection: Optional[BaseException] = None

    def _on_open(self) -> None:
        if not self._opened.done():
            self._opened.set_result(None)

    def _on_rejected(self, e: Any) -> None:
        self._rejection = InvalidStatus(f"server rejected the handshake: {e.status} {e.reason}", e.status)

    def _event(self, e: Any) -> None:
        super()._event(e)
        if e.__class__ is _Closed and not self._opened.done():
            err = self._rejection or e.error
            if not isinstance(err, HandshakeError):
                err = HandshakeError(f"opening handshake failed: {e.reason or 'connection closed'}")
            self._opened.set_exception(err)
            self._opened.exception()

    def _on_lost(self, exc: Optional[BaseException]) -> None:
        super()._on_lost(exc)
        if not self._opened.done():
            self._opened.set_exception(HandshakeError(f"connection lost during the opening handshake: {exc}"))
            self._opened.exception()


class connect:
    """Open a client connection: ``ws = await connect(url)`` or ``async with connect(url) as ws``.

    Options: ``ssl`` (an ``ssl.SSLContext``; for wss:// the default context
    is used when None), ``server_hostname``, ``subprotocols`` (offered in
    order), ``extra_headers``, ``origin``, ``compression`` (permessage-deflate
    offered by default; False/None: not; ``extensions`` overrides it),
    ``limits`` (a :class:`wsframe.limits.Limits`: sizes, timeouts, backpressure; its
    ``open_timeout`` bounds TCP + TLS + HTTP), ``connection_options`` (more
    ``ClientConnection`` keyword arguments). ``open_timeout``,
    ``close_timeout``, ``max_message_size``, ``max_fragments``,
    ``max_header_size``, ``ping_interval``/``ping_timeout``, ``idle_timeout``,
    ``write_timeout``, ``message_timeout``, ``high_water``/``low_water``
    override that field of ``limits``.

    Raises :class:`wsframe.InvalidStatus` when the server answered other than
    101 (e.g. 401 from a ``process_request`` hook), :class:`wsframe.HandshakeError`,
    :class:`TimeoutError` or :class:`OSError`.
    """

    def __init__(
        self,
        url: str,
        *,
        ssl: Union[_ssl.SSLContext, bool, None] = None,
        server_hostname: Optional[str] = None,
        subprotocols: Sequence[str] = (),
        extra_headers: Iterable[Tuple[str, str]] = (),
        origin: Optional[str] = None,
        limits: Optional[Limits] = None,
        compression: Union[bool, str, None] = UNSET,
        extensions: Optional[Sequence[Any]] = None,
        open_timeout: Optional[float] = UNSET,
        close_timeout: Optional[float] = UNSET,
        max_message_size: Optional[int] = UNSET,
        max_fragments: Optional[int] = UNSET,
        max_header_size: int = UNSET,
        ping_interval: Optional[float] = UNSET,
        ping_timeout: Optional[float] = UNSET,
        idle_timeout: Optional[float] = UNSET,
        write_timeout: Optional[float] = UNSET,
        message_timeout: Optional[float] = UNSET,
        high_water: int = UNSET,
        low_water: int = UNSET,
        connection_options: Optional[dict] = None,
    ) -> None:
        self.secure, self.host, self.port, self.path, host_header = parse_url(url)
        if ssl is not None and ssl is not False and not self.secure:
            raise ValueError("ssl is for wss:// URLs")
        self._ssl = ssl
        self._server_hostname = server_hostname
        lim = from_arguments(limits, locals())
        self._open_timeout = lim.open_timeout
        self._options = lim
        if compression is UNSET:
            compression = lim.compression
        if extensions is None:
            extensions = []
            if compression:
                if compression not in (True, "deflate"):
                    raise ValueError(f"unsupported compression {compression!r} (use True/'deflate' or None)")
                from ..permessage_deflate import ClientPerMessageDeflate

                extensions.append(ClientPerMessageDeflate())
        self._conn_kwargs: Dict[str, Any] = dict(
            lim.connection_kwargs(), origin=origin, subprotocols=tuple(subprotocols),
            extensions=tuple(extensions), extra_headers=tuple(extra_headers))
        if connection_options:
            self._conn_kwargs.update(connection_options)
        self._host_header = host_header
        self.ws: Optional[ClientWebSocket] = None

    async def _connect(self) -> ClientWebSocket:
        loop = asyncio.get_running_loop()
        conn = ClientConnection(self._host_header, self.path, **self._conn_kwargs)
        ws = ClientWebSocket(conn, self._options, loop)
        ctx: Any = None
        if self.secure:
            ctx = self._ssl if isinstance(self._ssl, _ssl.SSLContext) else _ssl.create_default_context()
        kwargs: dict = {}
        if ctx is not None:
            kwargs = dict(ssl=ctx, server_hostname=self._server_hostname or self.host)

        async def open_() -> None:
            await loop.create_connection(lambda: ws, self.host, self.port, **kwargs)
            await ws._opened

        try:
            await asyncio.wait_for(open_(), self._open_timeout)
        except asyncio.TimeoutError:
            ws._abort()
            raise TimeoutError("opening handshake timed out") from None
        except BaseException:
            ws._abort()
            raise
        ws._start_ticker()
        self.ws = ws
        return ws

    def __await__(self) -> Generator[Any, None, ClientWebSocket]:
        return self._connect().__await__()

    async def __aenter__(self) -> ClientWebSocket:
        return await self._connect()

    async def __aexit__(self, *exc: Any) -> None:
        if self.ws is not None:
            await self.ws.close()
