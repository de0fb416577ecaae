"""A WebSocket server on epoll (Linux; :mod:`selectors` elsewhere): one thread,
non-blocking sockets, ws:// and wss://, and pre-fork workers.

The protocol itself (HTTP upgrade, framing, closing handshake) is done by the
sans-I/O :class:`wsframe.connection.ServerConnection`; this package moves bytes
between sockets and connections, keeps time, and calls the application::

    from wsframe.server import Application, Server

    class Shout(Application):
        def on_message(self, ws, data):
            ws.send(data.upper() if isinstance(data, str) else data)

    Server(Shout(), host="127.0.0.1", port=9001).serve_forever()

Modules, one job each: :mod:`.app` (Application, ServerWebSocket: the
application's thin handle), :mod:`.loop` (Server: the connection table, the
event loop, graceful stop), :mod:`.accept` (the listening socket, back-off
when out of descriptors), :mod:`.transport` (one connection's transport: read,
dispatch, write, backpressure, deadlines through :mod:`wsframe._driver`),
:mod:`.tls`, :mod:`.poller`, :mod:`.workers` (pre-fork workers and their
supervisor). Limits and timeouts: :class:`wsframe.limits.Limits`.
"""

from __future__ import annotations

from .app import Application, EchoApplication, ServerWebSocket
from .loop import Server, serve
from .tls import make_ssl_context
from .workers import run_workers

__all__ = [
    "Application",
    "EchoApplication",
    "Server",
    "ServerWebSocket",
    "make_ssl_context",
    "run_workers",
    "serve",
]
