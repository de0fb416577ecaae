"""Error numbers of the frame parser (wsframe/_parser.py, run as Python or
compiled to wsframe._parser_c) and their messages: one place, so both raise
identical exceptions."""

from __future__ import annotations

from .exceptions import PayloadTooBig, ProtocolError

E_RSV = 1
E_OPCODE = 2
E_CONTROL_FRAGMENTED = 3
E_CONTROL_TOO_LONG = 4
E_MASK_REQUIRED = 5
E_MASK_FORBIDDEN = 6
E_LENGTH_MSB = 7
E_TOO_BIG = 8
E_FRAGMENTS = 9
E_CONTINUATION = 10
E_NEW_DATA = 11

DEFAULT_MAX_FRAME_SIZE = 1 << 20


def frame_error(err: int, b0: int, length: int, limit: int) -> ProtocolError:
    """Build the exception for parser error ``err``.

    ``b0`` is the first header byte, ``length`` the declared payload length
    (when known), ``limit`` the configured maximum frame size (for
    E_FRAGMENTS: the maximum number of frames of a message).
    """
    if err == E_RSV:
        return ProtocolError(f"reserved bits 0x{b0 & 0x70:02x} set without a negotiated extension")
    if err == E_OPCODE:
        return ProtocolError(f"reserved opcode 0x{b0 & 0x0F:x}")
    if err == E_CONTROL_FRAGMENTED:
        return ProtocolError(f"fragmented control frame (opcode 0x{b0 & 0x0F:x})")
    if err == E_CONTROL_TOO_LONG:
        return ProtocolError(f"control frame payload of {length} bytes exceeds 125")
    if err == E_MASK_REQUIRED:
        return ProtocolError("unmasked frame from a client")
    if err == E_MASK_FORBIDDEN:
        return ProtocolError("masked frame from a server")
    if err == E_LENGTH_MSB:
        return ProtocolError("64-bit payload length has its most significant bit set")
    if err == E_TOO_BIG:
        return PayloadTooBig(f"frame payload of {length} bytes exceeds the limit of {limit} bytes")
    if err == E_FRAGMENTS:
        return PayloadTooBig(f"message of more than {limit} fragments")
    if err == E_CONTINUATION:
        return ProtocolError("continuation frame without a message in progress")
    if err == E_NEW_DATA:
        return ProtocolError("new data frame while a fragmented message is in progress")
    raise AssertionError(f"unknown frame parser error {err}")  # pragma: no cover
