"""The extension interface (RFC 6455 section 9), built so that
permessage-deflate (RFC 7692) and any other extension slot in.

Negotiation happens during the handshake through *factories*; each
negotiated extension becomes a per-connection :class:`Extension` object that
the connection calls on every data frame.

Server side: for each offer in the client's ``Sec-WebSocket-Extensions``, in
the client's order, the connection asks the factories with that name (in
the server's order, each factory at most once) ``accept_offer(params,
accepted)``. A factory returns None to decline that offer (the connection
moves on to the next offer: RFC 7692's "decline and try the next"), or a
pair ``(response_params, extension)``. An offer whose extension claims an
RSV bit already used by an accepted extension is declined. Raising
:class:`~wsframe.exceptions.InvalidHandshake` fails the handshake with its
status.

Client side: the connection sends every factory's ``offers()`` (one
header element per offer, so one factory may offer several variants). For
each extension in the server's answer, the factory with that name is asked
``accept_response(params, accepted)``; it returns the Extension or raises
InvalidHandshake (e.g. :class:`NegotiationError`), which fails the
connection. An answer naming an extension that was not offered, naming one
twice, or claiming RSV bits twice fails too.

Data path: an Extension declares ``rsv_bits`` (RSV1 = 0x40, RSV2 = 0x20,
RSV3 = 0x10, the bits of the first header byte); the frame parser accepts
exactly the union of the negotiated extensions' bits (others close with
1002). RSV bits on control frames always close with 1002. On receive,
each data frame goes through ``decode`` of the extensions in reverse
negotiation order; on send through ``encode`` in negotiation order.

``decode(opcode, payload, rsv, fin, max_size)``: ``opcode`` is the frame's
(TEXT, BINARY or CONTINUATION), ``rsv`` its RSV bits, ``fin`` whether it ends
the message, ``max_size`` the number of bytes the message may still grow by
(None: no limit). An extension that expands data (a decompressor) must
produce its output in bounded steps and raise
:class:`~wsframe.exceptions.PayloadTooBig` as soon as the output would
exceed ``max_size`` -- never materialise a decompression bomb. Other peer
errors are raised as :class:`~wsframe.exceptions.ProtocolError` with the
close code to use; the connection maps them to a close frame.

``encode(opcode, payload, fin, compress)`` returns ``(payload, rsv)``;
``compress`` is the application's per-message hint (False: send this message
as is, e.g. already-compressed data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from .enums import RSV1, RSV2, RSV3  # the one definition; public here too
from .exceptions import InvalidHandshake

if TYPE_CHECKING:  # pragma: no cover
    from .codec import BytesLike

__all__ = [
    "ClientExtensionFactory",
    "Extension",
    "ExtensionParams",
    "NegotiationError",
    "RSV1",
    "RSV2",
    "RSV3",
    "ServerExtensionFactory",
]


#: Extension parameters as they appear in the header: [(name, value or None)].
ExtensionParams = List[Tuple[str, Optional[str]]]


class NegotiationError(InvalidHandshake):
    """An extension answer or offer cannot be accepted (status 400 by default)."""


class Extension:
    """A negotiated extension's per-connection runtime.

    Subclasses set ``name`` and ``rsv_bits`` and override :meth:`decode`,
    :meth:`encode` and, when they hold resources, :meth:`close`. The base
    class passes data through unchanged.
    """

    __slots__ = ()

    #: The extension token, e.g. "permessage-deflate".
    name: str = ""
    #: The RSV bits of header byte 0 this extension uses (RSV1 | RSV2 | RSV3 subset).
    rsv_bits: int = 0

    def decode(self, opcode: int, payload: bytes, rsv: int, fin: bool, max_size: Optional[int]) -> bytes:
        """Transform one received data frame's payload.

        Must not return more than ``max_size`` bytes (when not None): raise
        PayloadTooBig instead, having done bounded work. Raise ProtocolError
        (with its close code) for invalid input.
        """
        return payload

    def encode(self, opcode: int, payload: BytesLike, fin: bool, compress: bool = True) -> Tuple[BytesLike, int]:
        """Transform one outgoing data frame's payload; return (payload, rsv bits to set)."""
        return payload, 0

    def close(self) -> None:
        """Release resources; called once when the connection ends."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class ServerExtensionFactory:
    """Server-side negotiation of one extension (subclass it)."""

    #: The extension token this factory answers to.
    name: str = ""

    def accept_offer(
        self, params: ExtensionParams, accepted: Sequence[Extension]
    ) -> Optional[Tuple[ExtensionParams, Extension]]:
        """Consider one offer; return (response params, Extension) or None to decline.

        ``accepted`` holds the extensions accepted so far, in response order.
        """
        raise NotImplementedError


class ClientExtensionFactory:
    """Client-side negotiation of one extension (subclass it)."""

    #: The extension token this factory offers.
    name: str = ""

    def offers(self) -> List[ExtensionParams]:
        """The offers to send, most preferred first (each becomes one header element)."""
        raise NotImplementedError

    def accept_response(self, params: ExtensionParams, accepted: Sequence[Extension]) -> Extension:
        """Build the Extension from the server's answer, or raise NegotiationError."""
        raise NotImplementedError
