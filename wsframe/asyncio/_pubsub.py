"""Pub/sub on the asyncio server: the methods :class:`~wsframe.asyncio.Server`, its
:class:`~wsframe.asyncio.ServerWebSocket` and the callback API's connection handle take from here.

Bursts are joined: every publish of one loop pass is recorded once (a run of frames in
:class:`~wsframe.pubsub.PubSub`, nothing per subscriber), and one ``call_soon`` per pass
writes each subscriber everything published to it with one ``transport.write`` (a single
publish: the shared frame object itself). Order with the connection's own output: a
``send``/``close`` while a run waits writes the runs first; replies the connection queued
earlier (a batch not yet flushed) are written before the published frames.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..connection import State
from .connection import WebSocket as _WebSocket

_OPEN = State.OPEN


def _get_pubsub(server: Any) -> Any:
    if server._pubsub is None:
        from ..pubsub import PubSub

        _set_pubsub(server, PubSub())
    return server._pubsub


def _set_pubsub(server: Any, value: Any) -> None:
    server._pubsub = value
    if hasattr(value, "flush_runs"):  # bursts joined per loop pass (PubSub.defer)
        value.batch = lambda: _schedule(server)
        value.defer = True
        server._ps_runs = value._runs


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
        server._pubsub.discard(getattr(ws, "ws", ws))  # serve(app=): the protocol's handle


def _schedule(server: Any) -> None:
    if not server._ps_scheduled:
        server._ps_scheduled = True
        server._loop.call_soon(_flush, server)


def _flush(server: Any) -> None:
    server._ps_scheduled = False
    server._pubsub.flush_runs()  # one write per subscriber for everything of this pass


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


def send(ws: Any, message: Any) -> Any:
    """``WebSocket.send``, after the published frames still waiting for this pass (order)."""
    if ws.server._ps_runs:
        ws.server._pubsub.flush_runs()
    return _WebSocket.send(ws, message)


def close(ws: Any, code: int = 1000, reason: str = "") -> Any:
    """``WebSocket.close``, after the published frames still waiting for this pass."""
    if ws.server._ps_runs:
        ws.server._pubsub.flush_runs()
    return _WebSocket.close(ws, code, reason)


def pubsub_write(ws: Any, frame: bytes, budget: int) -> int:
    """Write an already built frame (``wsframe.pubsub.Subscriber``)."""
    if ws.conn.state is not _OPEN or ws._lost:
        return -1
    t = ws.transport
    if t.get_write_buffer_size() + len(frame) > budget:
        return -2
    if ws._flush_handle is not None:
        ws._flush_now()  # replies this connection queued earlier go first
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
