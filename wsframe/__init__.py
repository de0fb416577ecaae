"""wsframe: a fast, correct WebSocket implementation (RFC 6455) for Python.

The hot path (masking, UTF-8 validation, frame parsing and building) is C
reached through Cython, with a pure-Python twin used where the extension is
not available or ``WSFRAME_NO_EXTENSIONS=1`` is set.
"""

from __future__ import annotations

from .codec import (
    Frame,
    FrameParser,
    Utf8Validator,
    apply_mask,
    build_close_payload,
    build_frame,
    mask_inplace,
    parse_close_payload,
    speedups_enabled,
    validate_utf8,
)
from .enums import CloseCode, Opcode
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ConnectionStateError,
    HandshakeError,
    InvalidHandshake,
    InvalidStatus,
    InvalidUtf8,
    PayloadTooBig,
    ProtocolError,
    WebSocketError,
)

from ._version import __version__  # noqa: E402

__all__ = [
    "CloseCode",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "ConnectionStateError",
    "Frame",
    "FrameParser",
    "HandshakeError",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidUtf8",
    "Opcode",
    "PayloadTooBig",
    "ProtocolError",
    "Utf8Validator",
    "WebSocketError",
    "apply_mask",
    "build_close_payload",
    "build_frame",
    "mask_inplace",
    "parse_close_payload",
    "speedups_enabled",
    "validate_utf8",
]

# -- sans-I/O connection layer (issue 3) ------------------------------------
from .connection import ClientConnection, ServerConnection, State  # noqa: E402
from .events import (  # noqa: E402
    BinaryMessage,
    CloseReceived,
    Closed,
    Connected,
    Event,
    Fragment,
    Ping,
    Pong,
    Rejected,
    Request,
    TextMessage,
)
from .extensions import ClientExtensionFactory, Extension, ServerExtensionFactory  # noqa: E402

__all__ += [
    "BinaryMessage",
    "ClientConnection",
    "ClientExtensionFactory",
    "CloseReceived",
    "Closed",
    "Connected",
    "Event",
    "Extension",
    "Fragment",
    "Ping",
    "Pong",
    "Rejected",
    "Request",
    "ServerConnection",
    "ServerExtensionFactory",
    "State",
    "TextMessage",
]
