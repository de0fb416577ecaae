"""wsframe on asyncio (and uvloop): ``serve(handler, host, port)`` and ``connect(url)``.

The API has the shape asyncio users know from the websockets library::

    async def handler(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(handler, "127.0.0.1", 8765) as server:
        await server.serve_forever()

    async with connect("ws://127.0.0.1:8765/") as ws:
        await ws.send("hello")
        print(await ws.recv())

Layers: :mod:`.protocol` drives the sans-I/O connection over a transport,
:mod:`.connection` is the WebSocket object, :mod:`.server` / :mod:`.client`
add each role's handshake, :mod:`.echo` is the ``wsframe echo --loop
asyncio|uvloop`` server. Closed connections raise
:class:`~wsframe.exceptions.ConnectionClosedOK` / ``ConnectionClosedError``.
"""

from __future__ import annotations

from ..exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from .app_protocol import AppProtocol, AppServer
from .client import ClientWebSocket, connect
from .connection import WebSocket
from .protocol import ConnectionProtocol, Options
from .server import Server, ServerWebSocket, serve

__all__ = [
    "AppProtocol",
    "AppServer",
    "ClientWebSocket",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "ConnectionProtocol",
    "Options",
    "Server",
    "ServerWebSocket",
    "WebSocket",
    "connect",
    "serve",
]
