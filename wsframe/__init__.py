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
    ConnectionStateError,
    HandshakeError,
    InvalidHandshake,
    InvalidStatus,
    InvalidUtf8,
    PayloadTooBig,
    ProtocolError,
    WebSocketError,
)

__version__ = "0.1.0"

__all__ = [
    "CloseCode",
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
