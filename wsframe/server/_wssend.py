"""``ServerWebSocket.send`` and ``ping``, apart from the class so that they compile (wsframe.server._wssend_c).

The application calls ``ws.send`` once per message: compiled, that call
costs no Python frame. :mod:`wsframe.server.app` gives the compiled functions
to the selectors server's ``SelectorsWebSocket`` when the codec's speedups are
on; ``ServerWebSocket`` (asyncio's callback API too) has these same functions
uncompiled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

from . import _pubsub as _ps

if TYPE_CHECKING:  # pragma: no cover
    from ..codec import BytesLike

__all__ = ["send", "ping"]


def send(self: Any, data: Union[str, bytes, bytearray, memoryview]) -> None:
    """Send a message: ``str`` as text, bytes-like as binary.

    The frame is written into the connection's output buffer at once; it
    goes out after the current callback returns, coalesced with the other
    replies to the same read. Raises :class:`wsframe.ConnectionStateError`
    when the connection is not open. Call it from the server's thread (use
    :meth:`Server.call_soon_threadsafe` from others).
    """
    t = self.transport
    if t.server._ps_runs:  # published frames not yet written go first
        _ps.write_runs(t.server)
    self.conn.send_message(data)
    if not t.dirty:  # outside the server's dispatch: have the output sent
        t.mark_dirty()


def ping(self: Any, payload: BytesLike = b"") -> None:
    """Send a ping (up to 125 bytes of payload)."""
    self.conn.send_ping(payload)
    t = self.transport
    if not t.dirty:
        t.mark_dirty()
