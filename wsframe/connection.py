"""Sans-I/O WebSocket connections: :class:`ServerConnection` and :class:`ClientConnection`,
and :class:`Session` for a connection whose opening handshake was done elsewhere.

Bytes in, events out; calls in, bytes out. No sockets, threads or clocks:
the I/O layer feeds what it reads to ``receive_data()`` (``receive_eof()`` at
end of stream), takes events from ``events()``, writes ``data_to_send()`` and
closes the transport when ``should_close_transport`` is true.

State machine (``conn.state``, a :class:`State`)::

    CONNECTING --101 sent/received--> OPEN --close() sent--> CLOSING --peer's close--> CLOSED
        |                              |                        |
        | rejected / bad handshake /   +--peer's close (echoed)-+--> CLOSED
        | EOF                          +--peer error (close frame with its code sent)--> CLOSED
        v                              +--EOF (1006)--> CLOSED
      CLOSED

* CONNECTING: server: reading the request; with ``auto_accept`` (default) a
  valid request is answered with 101 at once, otherwise the application gets
  a ``Request`` event and calls ``accept()`` or ``reject()``. Invalid requests
  are answered 400/403/426/431 automatically. Client: the request is in
  ``data_to_send()`` right after construction; the response is validated as it
  arrives. Bytes that follow the head are kept and parsed as frames.
* OPEN: messages flow both ways.
* CLOSING: we sent a close frame; received data frames are dropped, control
  frames still reported; waiting for the peer's close.
* CLOSED: the ``Closed`` event (always the last one) tells why. The server
  sets ``should_close_transport`` once the closing handshake is done (RFC
  6455: the server closes TCP first); the client waits for the server to
  close (``receive_eof()`` sets it) -- a timeout for that wait is the I/O
  layer's job. After a failure or EOF it is set on both sides.

Peer errors never raise out of ``receive_data()``: every one goes through
``_fail`` (the one place mapping errors to close codes: the exception's
``code``, i.e. 1002 protocol, 1007 bad UTF-8, 1009 too big, 1011 internal),
which sends the close frame and emits ``Closed(code, reason, error)``.
Local misuse (sending before OPEN or after close, accept() twice...) raises
:class:`~wsframe.exceptions.ConnectionStateError`; bad arguments ValueError.

Messages: fragments are appended into one bytearray per message, with the
size limit (``max_message_size``, default 1 MiB, None = unlimited; close
1009) checked before each append, and text validated incrementally per
fragment (fail fast, 1007). Unfragmented messages take a fast path (one
``bytes.decode`` for text). ``stream_fragments=True`` delivers every data
frame as a ``Fragment`` event instead (text decoded incrementally; the size
limit still applies per message). ``max_fragments`` (default 4096, None =
unlimited) caps the frames of one message, the first and its continuations:
one more fails the connection with 1009 from that frame's header, so a peer
cannot make the receiver process endless empty continuations. See
:mod:`wsframe.events` for the events
and :mod:`wsframe.extensions` for the extension hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .codec import speedups_enabled
from .enums import State

__all__ = ["DEFAULT_MAX_FRAGMENTS", "ClientConnection", "ServerConnection", "Session", "State", "compiled"]

# The implementation follows the codec's choice (wsframe.codec: the compiled
# modules unless they were not built or WSFRAME_NO_SPEEDUPS is set): the frame
# session and the upgrade handshakes compiled from _session.py and _upgrade.py,
# or the same sources uncompiled. _impl is the module of the connection
# classes, _session the module of the frame session (tests patch names there).
if TYPE_CHECKING or not speedups_enabled:
    from . import _session, _upgrade as _impl
else:
    try:
        from . import _session_c as _session, _upgrade_c as _impl
    except ImportError:  # built without them (an older build): the same code, uncompiled
        from . import _session, _upgrade as _impl

#: True when the connection classes are the compiled ones (``wsframe._upgrade_c`` on ``wsframe._session_c``).
compiled: bool = _impl.__name__.endswith("_c")

#: Default ``max_fragments``: most frames (first + continuations) of one message.
DEFAULT_MAX_FRAGMENTS: int = _session.DEFAULT_MAX_FRAGMENTS
Session = _session.Session
ServerConnection = _impl.ServerConnection
ClientConnection = _impl.ClientConnection
