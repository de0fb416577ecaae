"""Pub/sub on the selectors server: the methods :class:`~wsframe.server.Server` and its
:class:`~wsframe.server.app.ServerWebSocket` take from here (one line each in those classes).

Every publish of a loop pass is recorded once (``PubSub.defer``); at the end of the pass
(:func:`flush`, queued on the server's calls) the runs of frames are joined and appended to
each subscriber transport's output buffer (after what the application already sent on it),
and every transport written to is sent with one ``send``.
"""

from __future__ import annotations

from typing import Any, Iterable, Union

from ..codec import speedups_enabled
from ..connection import State
from .poller import EV_READ

# send on the descriptor: the C call when built (wsframe.server._sockio), as the transport does.
if speedups_enabled:
    try:
        from ._sockio import sock_send
    except ImportError:  # built without it: the socket method
        from ._sockio_py import sock_send
else:
    from ._sockio_py import sock_send

_OPEN = State.OPEN
PHASE_OPEN = 2  # = transport.PHASE_OPEN (not imported: transport imports app, app imports this)
PHASE_DEAD = 4  # = transport.PHASE_DEAD

# -- Server ---------------------------------------------------------------------------------


def _get_pubsub(server: Any) -> Any:
    if server._pubsub is None:
        from ..pubsub import PubSub

        _set_pubsub(server, PubSub())
    return server._pubsub


def _set_pubsub(server: Any, value: Any) -> None:
    server._pubsub = value
    if hasattr(value, "flush_runs"):  # bursts joined per loop pass (PubSub.flush_runs)
        value.batch = lambda: server._calls.append(server._pubsub_flush)
        value.defer = True  # even the first publish of a pass waits: one append per subscriber per burst
        server._ps_runs = value._runs


pubsub = property(_get_pubsub, _set_pubsub, doc="""This server's :class:`wsframe.pubsub.PubSub` (made
with the defaults on first use; assign your own before the first subscribe to configure).""")


def publish(server: Any, topic: str, message: Any) -> int:
    """Send ``message`` (str: text, bytes-like: binary) to every subscriber
    of ``topic``, framed once; never waits (slow subscribers: see
    :class:`wsframe.pubsub.PubSub`). From the server's thread (else
    ``publish_threadsafe``). Returns how many local subscribers got it queued."""
    return server.pubsub.publish(topic, message)


def publish_threadsafe(server: Any, topic: str, message: Any) -> None:
    """``publish`` from any thread (runs at the loop's next iteration)."""
    server.call_soon_threadsafe(lambda: server.pubsub.publish(topic, message))


def broadcast(server: Any, connections: Iterable[Any], message: Any) -> int:
    """Send ``message`` to each of ``connections``, framed once (same budget as publish)."""
    return server.pubsub.broadcast(connections, message)


def discard(server: Any, ws: Any) -> None:
    """``ws`` is closing: it leaves every topic."""
    if server._pubsub is not None:
        server._pubsub.discard(ws)


def queued(server: Any, t: Any) -> None:
    """Transport ``t`` got pub/sub output: send it at the end of this loop pass."""
    pending = server._ps_pending
    if pending is None:
        pending = server._ps_pending = []
    if not pending:
        server._calls.append(server._pubsub_flush)  # the loop's next pass, before its poll waits
    pending.append(t)


def flush(server: Any) -> None:
    """One send per transport for everything published to it since the last pass."""
    ps = server._pubsub
    if ps is not None and ps.batch is not None:
        ps.flush_runs()  # the bursts of this pass, joined, into the output buffers first
    pending, server._ps_pending = server._ps_pending, []
    now = server.now
    for t in pending or ():
        out = t.out
        if out is None or t.phase == PHASE_DEAD:
            continue
        if not out:
            t.out = None
        elif t.interest != EV_READ or not t.plain:
            t.flush()  # already waiting for writability (or TLS): the transport's own path
        else:  # the common case, inline
            try:
                n = sock_send(t.sock, t.fd, out)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                t.flush()  # logs and drops the connection
                continue
            if n == len(out):
                t.out = None
                if t.conn.should_close_transport or t.eof:
                    t._update_interest()
            else:
                if n:
                    del out[:n]
                t.stalled_since = now  # the write timeout runs from here
                t._update_interest()  # the rest when writable (backpressure)


# -- ServerWebSocket (the Subscriber interface of wsframe.pubsub) ------------------------------


def _server_of(ws: Any) -> Any:
    return ws.transport.server


server = property(_server_of, doc="The :class:`~wsframe.server.Server` this connection belongs to.")


def subscribe(ws: Any, topic: str) -> bool:
    """Receive what is published to ``topic`` (see :mod:`wsframe.pubsub`)."""
    return ws.transport.server.pubsub.subscribe(ws, topic)


def unsubscribe(ws: Any, topic: str) -> bool:
    """Stop receiving ``topic``; False when not subscribed."""
    return ws.transport.server.pubsub.unsubscribe(ws, topic)


def publish_others(ws: Any, topic: str, message: Union[str, bytes]) -> int:
    """``Server.publish`` to every subscriber of ``topic`` except this connection."""
    return ws.transport.server.pubsub.publish(topic, message, exclude=ws)


def pubsub_write(ws: Any, frame: bytes, budget: int) -> int:
    """Append an already built frame to the output (``wsframe.pubsub.Subscriber``)."""
    t = ws.transport
    conn = ws.conn
    if t.phase != PHASE_OPEN or conn.state is not _OPEN:
        return -1
    out = t.out
    if out is None:
        if not t.dirty:  # the common case (an idle subscriber): one copy, one send at the end of the pass
            if len(frame) > budget:
                return -2
            t.out = bytearray(frame)
            queued(t.server, t)
            return 0
        # Output of ws.send/close/ping not yet taken goes first.
        taken = conn.data_to_send()
        out = taken if taken.__class__ is bytearray else bytearray(taken)
        t.out = out
        queued(t.server, t)
    elif t.dirty:
        out += conn.data_to_send()
    if len(out) + len(frame) > budget:
        return -2
    out += frame
    return 0


def pubsub_send(ws: Any, message: Union[str, bytes], budget: int) -> int:
    """Send with the connection's own compressor (``wsframe.pubsub.Subscriber``)."""
    if ws.conn.state is not _OPEN or ws.transport.phase != PHASE_OPEN:
        return -1
    if ws.buffered_amount >= budget:
        return -2
    ws.conn.send_message(message)  # not ws.send: no runs to write first (never in one)
    t = ws.transport
    if not t.dirty:
        t.mark_dirty()
    return 0


def write_runs(server: Any) -> None:
    """Published frames not yet written go before what a connection sends now (order)."""
    server._pubsub.flush_runs()


def pubsub_extensions(ws: Any) -> Any:
    """The negotiated extensions (``wsframe.pubsub.Subscriber``)."""
    return ws.conn.extensions


def pubsub_close(ws: Any, code: int, reason: str) -> None:
    """Close a subscriber over its budget (``wsframe.pubsub.Subscriber``)."""
    ws.transport.close(code, reason)
