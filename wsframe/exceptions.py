"""Exception types of wsframe. Stable: applications may catch these by type."""

from __future__ import annotations

__all__ = [
    "WebSocketError",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidUtf8",
    "HandshakeError",
    "InvalidHandshake",
    "InvalidStatus",
    "ConnectionStateError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
]


class WebSocketError(Exception):
    """Base class of every exception raised by wsframe."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455. ``code`` is the close code to answer with."""

    def __init__(self, reason: str, code: int = 1002) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __reduce__(self):  # keep code across pickling (multiprocessing workers)
        return (type(self), (self.reason, self.code))

    def __eq__(self, other: object) -> bool:
        # Two errors are equal when type, code and reason match: the C codec and
        # the pure-Python twin are tested to raise equal errors.
        if not isinstance(other, ProtocolError):
            return NotImplemented
        return type(self) is type(other) and self.code == other.code and self.reason == other.reason

    def __hash__(self) -> int:
        return hash((type(self), self.code, self.reason))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, code={self.code})"


class PayloadTooBig(ProtocolError):
    """A frame or message exceeds a configured size limit (close code 1009)."""

    def __init__(self, reason: str, code: int = 1009) -> None:
        super().__init__(reason, code)


class InvalidUtf8(ProtocolError):
    """Text that is not valid UTF-8 (close code 1007)."""

    def __init__(self, reason: str, code: int = 1007) -> None:
        super().__init__(reason, code)


class HandshakeError(WebSocketError):
    """The opening handshake failed.

    ``status`` is the HTTP status involved (the one we answer with on the
    server side, the one we received on the client side), ``reason`` a
    human-readable explanation.
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status

    def __reduce__(self):
        return (type(self), (self.reason, self.status))


class InvalidHandshake(HandshakeError):
    """The peer's handshake message is malformed or violates RFC 6455 section 4."""


class InvalidStatus(HandshakeError):
    """The server answered with a status other than 101 Switching Protocols."""


class ConnectionStateError(WebSocketError):
    """The local application used a connection in a state that forbids it
    (sending before the handshake or after close)."""


class ConnectionClosed(WebSocketError):
    """The connection is closed: raised by the I/O layers' ``recv()`` and
    ``send()`` (blocking client, asyncio) once nothing more can be received
    or sent.

    ``code`` and ``reason`` are those of the close frame received (1006 when
    the connection ended without a closing handshake); ``error`` is the
    exception that failed the connection, if any.
    """

    def __init__(self, code: int, reason: str = "", error: "BaseException | None" = None) -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason
        self.error = error
        if error is not None:  # tracebacks and logs show what failed the connection
            self.__cause__ = error

    def __reduce__(self):
        return (type(self), (self.code, self.reason))


class ConnectionClosedOK(ConnectionClosed):
    """Closed normally (1000 or 1001, or no status code): iteration just ends."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with an error code, or without a closing handshake."""


def closed_exception(code: int, reason: str, error: "BaseException | None" = None) -> ConnectionClosed:
    """The exception for a connection closed with ``code``: OK for 1000, 1001 and 1005 without an error."""
    cls = ConnectionClosedOK if code in (1000, 1001, 1005) and error is None else ConnectionClosedError
    return cls(code, reason, error)
