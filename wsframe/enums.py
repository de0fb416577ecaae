"""Opcodes, RSV bits and close codes of RFC 6455, and the connection states."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Opcode", "CloseCode", "State", "RSV1", "RSV2", "RSV3", "is_valid_close_code"]


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        return self >= 0x8


#: The reserved bits of a frame's first header byte, which extensions may
#: claim (``Extension.rsv_bits``; the parser's ``allowed_rsv``). The one
#: definition: wsframe.extensions re-exports them.
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10


class CloseCode(IntEnum):
    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


class State(IntEnum):
    """Connection states (RFC 6455 readyState); ``wsframe.connection.State``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


def is_valid_close_code(code: int) -> bool:
    """True for codes a peer may send in a close frame (RFC 6455 7.4, IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
