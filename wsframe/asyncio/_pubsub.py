"""Pub/sub on the asyncio server: the methods :class:`~wsframe.asyncio.Server` and its
:class:`~wsframe.asyncio.ServerWebSocket` take from here (one line each in those classes).

A published frame goes to a :class:`~wsframe.pubsub.TransportCork` put in front of the
subscriber's transport until the loop's next pass: one write per connection for everything
published to it meanwhile, after what the application already queued (order kept).
"""

from __future__ import annotations

from typing import Any, Iterable

from ..connection import State
from ..pubsub import TransportCork

_OPEN = State.OPEN


def _get_pubsub(server: Any) -> Any:
    if server._pubsub is None:
        from ..pubsub import PubSub

        server._pubsub = PubSub()
    return server._pubsub


def _set_pubsub(server: Any, value: Any) -> None:
    server._pubsub = value


pubsub = property(_get_pubsub, _set_pubsub, doc="""This server's :class:`wsframe.pubsub.PubSub` (made
with the defaults on first use; assign your own before the first subscribe to configure).""")

# -- Server ---------------------------------------------------------------------------------


def publish(server: Any, topic: str, message: Any) -> int:
    """Send ``message`` (str: text, bytes-like: binary) to every subscriber
    of ``topic``, framed once; never waits (slow subscribers: see
    :class:`wsframe.pubsub.PubSub`). Returns how many local subscribers got it queued."""
    return server.pubsub.publish(topic, message)


def broadcast(server: Any, connections: Iterable[Any], message: Any) -> int:
    """Send ``message`` to each of ``connections``, framed once (same budget as publish)."""
    return server.pubsub.broadcast(connections, message)


def discard(server: Any, ws: Any) -> None:
    """``ws`` is gone: it leaves every topic."""
    if server._pubsub is not None:
        server._pubsub.discard(ws)


def _queued(server: Any, cork: TransportCork) -> None:
    pending = server._ps_pending
    if not pending:
        pending = server._ps_pending = []
        server._loop.call_soon(_flush, server)
    pending.append(cork)


def _flush(server: Any) -> None:
    pending, server._ps_pending = server._ps_pending, None
    for cork in pending or ():
        cork.uncork()  # one write per connection for everything since the last pass


# -- ServerWebSocket (the Subscriber interface of wsframe.pubsub) ------------------------------


def subscribe(ws: Any, topic: str) -> bool:
    """Receive what is published to ``topic`` (see :mod:`wsframe.pubsub`)."""
    return ws.server.pubsub.subscribe(ws, topic)


def unsubscribe(ws: Any, topic: str) -> bool:
    """Stop receiving ``topic``; False when not subscribed."""
    return ws.server.pubsub.unsubscribe(ws, topic)


def publish_others(ws: Any, topic: str, message: Any) -> int:
    """``Server.publish`` to every subscriber of ``topic`` except this connection."""
    return ws.server.pubsub.publish(topic, message, exclude=ws)


def pubsub_write(ws: Any, frame: bytes, budget: int) -> int:
    """Write an already built frame (``wsframe.pubsub.Subscriber``)."""
    if ws.conn.state is not _OPEN or ws._lost:
        return -1
    t = ws.transport
    if t.get_write_buffer_size() + len(frame) > budget:
        return -2
    if t.__class__ is not TransportCork:
        ws._flush_now()  # replies this connection already queued go first
        t = TransportCork(ws)  # until the loop's next pass: one write for all of it
        _queued(ws.server, t)
    t.write(frame)
    return 0


def pubsub_send(ws: Any, message: Any, budget: int) -> int:
    """Send with the connection's own compressor (``wsframe.pubsub.Subscriber``)."""
    if ws.conn.state is not _OPEN or ws._lost:
        return -1
    if ws.transport.get_write_buffer_size() >= budget:
        return -2
    ws.conn.send_message(message)  # its own compressor (context takeover)
    ws._flush_now()
    return 0


def pubsub_extensions(ws: Any) -> Any:
    """The negotiated extensions (``wsframe.pubsub.Subscriber``)."""
    return ws.conn.extensions


def pubsub_close(ws: Any, code: int, reason: str) -> None:
    """Close a subscriber over its budget (``wsframe.pubsub.Subscriber``)."""
    ws._start_close(code, reason)
