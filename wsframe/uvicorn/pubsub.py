"""Pub/sub for ASGI apps under ``--ws wsframe.uvicorn:WSFrameProtocol``: the ``wsframe.pubsub`` ASGI extension.

Each WebSocket scope carries ``scope["extensions"]["wsframe.pubsub"]``, the
connection's :class:`UvicornSubscriber`; :data:`hub` is the process's
:class:`wsframe.pubsub.PubSub` (one per worker process)::

    async def app(scope, receive, send):
        ps = scope["extensions"]["wsframe.pubsub"]
        await receive()                      # websocket.connect
        await send({"type": "websocket.accept"})
        ps.subscribe("room")
        while (event := await receive())["type"] == "websocket.receive":
            ps.publish("room", event.get("text") or event.get("bytes"))  # to the others
        # on disconnect the subscriptions are dropped by the protocol

Frames are built once per publish and written at the loop's next pass with
one ``transport.write`` per connection (see :class:`wsframe.pubsub.TransportCork`).
Call everything from the event loop's thread; join processes with
``RedisBackplane().attach(hub, loop.call_soon_threadsafe)``.
"""

from __future__ import annotations

from typing import Any, List, Optional

from ..connection import State
from ..pubsub import PubSub, TransportCork

__all__ = ["UvicornSubscriber", "hub", "EXTENSION"]

EXTENSION = "wsframe.pubsub"
hub = PubSub()  # this process's topics
_OPEN = State.OPEN
_pending: Optional[List[TransportCork]] = None


def _flush() -> None:
    global _pending
    pending, _pending = _pending, None
    for cork in pending or ():
        cork.uncork()


class UvicornSubscriber:
    """One uvicorn WebSocket connection as a :class:`wsframe.pubsub.Subscriber` (and the app's handle)."""

    __slots__ = ("protocol", "__weakref__")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    def subscribe(self, topic: str) -> bool:
        """Receive what is published to ``topic``."""
        return hub.subscribe(self, topic)

    def unsubscribe(self, topic: str) -> bool:
        """Stop receiving ``topic``."""
        return hub.unsubscribe(self, topic)

    def publish(self, topic: str, message: Any) -> int:
        """Publish to every subscriber of ``topic`` but this connection."""
        return hub.publish(topic, message, exclude=self)

    def pubsub_write(self, frame: bytes, budget: int) -> int:
        global _pending
        p = self.protocol
        t = p.transport
        if p._conn.state is not _OPEN or t is None or t.is_closing():
            return -1
        if t.get_write_buffer_size() + len(frame) > budget:
            return -2
        if t.__class__ is not TransportCork:
            p._flush()  # replies the app already sent go first
            t = TransportCork(p)
            if _pending is None:
                _pending = []
                p.loop.call_soon(_flush)
            _pending.append(t)
        t.write(frame)
        return 0

    def pubsub_send(self, message: Any, budget: int) -> int:
        p = self.protocol
        if p._conn.state is not _OPEN or p.transport is None:
            return -1
        if p.transport.get_write_buffer_size() >= budget:
            return -2
        p._conn.send_message(message)
        p._flush()
        return 0

    def pubsub_extensions(self) -> Any:
        return self.protocol._conn.extensions

    def pubsub_close(self, code: int, reason: str) -> None:
        p = self.protocol
        if p._conn.state is _OPEN:
            p._conn.close(code, reason)
            p._process()
