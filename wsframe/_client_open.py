"""Opening a blocking client connection: the URL, the opening handshake, then the reader thread.

Works on the internals of :class:`wsframe.client.ClientWebSocket` (``ws._lock`` held
for every shared attribute), like :mod:`wsframe._client_reader`.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Optional

from ._client_reader import run_reader
from ._client_url import parse_url
from .exceptions import HandshakeError
from .handshake import parse_request

if TYPE_CHECKING:  # pragma: no cover
    from .client import ClientWebSocket

__all__ = ["parse_url", "open_handshake"]  # parse_url: from ._client_url


def open_handshake(ws: "ClientWebSocket", deadline: Optional[float]) -> None:
    """Send the request and read until the response is handled, then start the reader."""
    with ws._lock:
        request = ws.conn.data_to_send()
        target = ws._out.push(request)
    head = bytes(request).split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    ws._request = parse_request(head)
    try:
        ws._addresses = (ws.sock.getsockname(), ws.sock.getpeername())
    except OSError:  # pragma: no cover
        pass
    if not ws._out.flush(target, None, deadline):
        raise ws._out.error or HandshakeError("could not send the handshake request")
    buf = bytearray(16384)
    while not ws._opened:
        if ws._rejected is not None or ws._closed is not None:
            raise ws._rejected or HandshakeError("connection closed during the opening handshake")
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("opening handshake timed out")
        if not ws._io.pending() and not ws._io.wait(True, False, left):
            continue
        n = ws._io.recv_into(buf)
        if n is None:
            continue
        with ws._lock:
            if n:
                ws.conn.receive_data(memoryview(buf)[:n])
            else:
                ws.conn.receive_eof()
            ws._after_protocol()
    threading.Thread(target=run_reader, args=(ws,), name="wsframe-client-reader", daemon=True).start()
