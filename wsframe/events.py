"""Events produced by the sans-I/O connections (``connection.events()``).

Every event is a small slotted object with ``__repr__`` and ``__eq__``
(equal when the type and every field in ``_fields`` are equal).
``TextMessage`` and ``BinaryMessage`` come from the codec (C types when the
extension is built, kept out of the garbage collector's lists).

=============================================  ==============================================
Event                                          Meaning
=============================================  ==============================================
``Request(request)``                           Server: a handshake request arrived (a
                                               :class:`wsframe.handshake.Request`). With
                                               ``auto_accept=False`` call ``accept()`` or
                                               ``reject()``.
``Connected(subprotocol, extensions)``         The handshake succeeded; the connection is OPEN.
``Rejected(status, reason)``                   The handshake failed: server side after
                                               ``reject()`` or an invalid request (``status``
                                               is what we answered); client side when the
                                               server answered other than 101.
``TextMessage(data: str)``                     A complete text message.
``BinaryMessage(data: bytes)``                 A complete binary message.
``Fragment(data, text, final)``                Streaming mode: one piece of a message
                                               (``str`` when ``text``), ``final`` on the last.
``Ping(payload)`` / ``Pong(payload)``          Control frames (pings are answered
                                               automatically unless ``auto_pong=False``).
``CloseReceived(code, reason)``                The peer's close frame (1005 when it had no code).
``Closed(code, reason, error)``                Always the last event: why the connection ended.
                                               ``error`` is the exception for a failure (a
                                               ProtocolError with the close code we sent, or a
                                               HandshakeError), else None. 1006 when the
                                               transport ended without a closing handshake.
=============================================  ==============================================
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

# The base class and the two message events live in the codec (C or
# pure-Python twin), so the frame parser can build messages directly.
from .codec import BinaryMessage, Event, TextMessage

__all__ = [
    "BinaryMessage",
    "CloseReceived",
    "Closed",
    "Connected",
    "Event",
    "Fragment",
    "Ping",
    "Pong",
    "Rejected",
    "Request",
    "TextMessage",
]


class Request(Event):
    """Server side: the handshake request (``.request``: wsframe.handshake.Request)."""

    __slots__ = ("request",)
    _fields = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request


class Connected(Event):
    """The handshake succeeded: ``subprotocol`` (or None) and the negotiated ``extensions``."""

    __slots__ = ("subprotocol", "extensions")
    _fields = ("subprotocol", "extensions")

    def __init__(self, subprotocol: Optional[str] = None, extensions: Sequence[Any] = ()) -> None:
        self.subprotocol = subprotocol
        self.extensions = list(extensions)


class Rejected(Event):
    """The handshake was refused with HTTP ``status``; ``reason`` explains why."""

    __slots__ = ("status", "reason")
    _fields = ("status", "reason")

    def __init__(self, status: int, reason: str = "") -> None:
        self.status = status
        self.reason = reason




class Fragment(Event):
    """Streaming mode: a piece of a message. ``data`` is str when ``text``; ``final`` ends the message."""

    __slots__ = ("data", "text", "final")
    _fields = ("data", "text", "final")

    def __init__(self, data: Any, text: bool, final: bool) -> None:
        self.data = data
        self.text = text
        self.final = final


class Ping(Event):
    """A ping from the peer (``payload``: bytes)."""

    __slots__ = ("payload",)
    _fields = ("payload",)

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload


class Pong(Event):
    """A pong from the peer (``payload``: bytes)."""

    __slots__ = ("payload",)
    _fields = ("payload",)

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload


class CloseReceived(Event):
    """The peer's close frame: ``code`` (1005 if none) and ``reason``."""

    __slots__ = ("code", "reason")
    _fields = ("code", "reason")

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason


class Closed(Event):
    """The connection ended (always the last event).

    ``code``/``reason``: the peer's close frame after a closing handshake;
    the code we sent when we failed the connection (``error`` is then the
    exception); 1006 when the transport ended without a closing handshake or
    the handshake failed.
    """

    __slots__ = ("code", "reason", "error")
    _fields = ("code", "reason", "error")

    def __init__(self, code: int, reason: str = "", error: Optional[BaseException] = None) -> None:
        self.code = code
        self.reason = reason
        self.error = error
