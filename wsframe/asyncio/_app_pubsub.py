"""Pub/sub for the callback API on asyncio (``serve(app=...)``): its connection handle's Subscriber methods."""

from __future__ import annotations

from typing import Any

from ..connection import State
from ..enums import CloseCode
from ..server.app import ServerWebSocket

__all__ = ["AppWebSocket"]

_OPEN = State.OPEN


class AppWebSocket(ServerWebSocket):
    """:class:`wsframe.server.ServerWebSocket` whose transport is an asyncio ``AppProtocol``:
    published frames go to that protocol's asyncio transport (one ``transport.write`` per
    subscriber per loop pass, see :mod:`wsframe.asyncio._pubsub`); everything else is the
    selectors handle's (``send`` already writes the waiting runs first)."""

    __slots__ = ()

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (no-op when it already started), after the published
        frames still waiting for this loop pass."""
        p = self.transport
        if p.server._ps_runs:
            p.server._pubsub.flush_runs()
        p.close(code, reason)

    def pubsub_write(self, frame: bytes, budget: int) -> int:
        """Write an already built frame (``wsframe.pubsub.Subscriber``)."""
        p = self.transport
        if self.conn.state is not _OPEN or p._lost:
            return -1
        t = p.transport
        if t.get_write_buffer_size() + len(frame) > budget:
            return -2
        if p.dirty:  # in a callback, or a flush is queued: what this connection sent goes first
            out = self.conn.data_to_send()
            if out:
                t.write(out)
        t.write(frame)
        return 0

    def pubsub_send(self, message: Any, budget: int) -> int:
        """Send with the connection's own compressor (``wsframe.pubsub.Subscriber``)."""
        p = self.transport
        if self.conn.state is not _OPEN or p._lost:
            return -1
        if p.transport.get_write_buffer_size() >= budget:
            return -2
        self.conn.send_message(message)
        p.mark_dirty()  # written at the end of the callback, or on the next pass
        return 0
