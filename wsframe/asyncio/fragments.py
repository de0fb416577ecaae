"""Sending one message as fragments, from a sync or async iterable (``WebSocket.send``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # pragma: no cover
    from .connection import _WebSocketCore

__all__ = ["send_fragments"]

_END = object()


async def send_fragments(ws: "_WebSocketCore", message: Any) -> None:
    """Send the str (text) or bytes-like (binary) pieces of ``message`` as one
    fragmented message, each piece as it comes; nothing for an empty iterable.

    Mixed types raise TypeError; when that happens after the first fragment
    went out, the message cannot be finished and the connection is closed 1011.
    """
    conn = ws.conn
    if hasattr(message, "__aiter__"):
        it: Any = message.__aiter__()
        is_async = True
    elif hasattr(message, "__iter__") and not isinstance(message, dict):
        it = iter(message)
        is_async = False
    else:
        raise TypeError(f"cannot send {type(message).__name__}: need str, bytes-like or an iterable of them")

    async def next_fragment() -> Any:
        try:
            return await it.__anext__() if is_async else next(it)
        except (StopIteration, StopAsyncIteration):
            return _END

    current = await next_fragment()
    if current is _END:
        return
    text = isinstance(current, str)
    started = False
    while True:
        following = await next_fragment()
        fin = following is _END
        if text != isinstance(current, str) or not isinstance(current, (str, bytes, bytearray, memoryview)):
            if started:
                ws._start_close(1011, "fragmented message interrupted")
            raise TypeError("fragments must be all str or all bytes-like")
        if text:
            conn.send_text(cast(str, current), fin=fin)  # text: isinstance(current, str), checked above
        else:
            conn.send_binary(current, fin=fin)
        started = True
        ws._flush()
        if ws._write_paused:
            await ws._drain()
        if fin:
            return
        current = following
