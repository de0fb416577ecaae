"""wsproto's send side and masking on wsframe's C codec: replacements for
``XorMaskerSimple.process`` and ``FrameProtocol._serialize_frame`` that
return the same bytes as wsproto's (apart from the random masking keys)."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from .. import codec
from ._patch import Counters


def make_masker_process(counters: Counters) -> Callable[[Any, Any], bytearray]:
    """``XorMaskerSimple.process``: XOR with the key, rotating it as wsproto
    does so that the next call continues the cycle."""
    mask_inplace = codec.mask_inplace
    values = counters.values

    def process(self: Any, data: Any) -> bytearray:
        data = bytearray(data)
        if data:
            key = self._masking_key
            mask_inplace(data, key)
            values["mask"] += 1
            rotation = len(data) % 4
            self._masking_key = key[rotation:] + key[:rotation]
        return data

    return process


def make_serialize_frame(fp: ModuleType, counters: Counters) -> Callable[..., bytearray]:
    """``FrameProtocol._serialize_frame``: extensions' ``frame_outbound``
    hooks in wsproto's order, then one ``write_frame`` call (header, masking
    key and masked payload built in C)."""
    write_frame = codec.write_frame
    values = counters.values
    no_rsv = fp.RsvBits(False, False, False)

    def _serialize_frame(self: Any, opcode: Any, payload: Any = b"", fin: bool = True) -> bytearray:
        t = type(payload)
        if t is not bytes and t is not bytearray:
            payload = bytearray(payload)  # what wsproto does with anything else
        rsv1 = rsv2 = rsv3 = False
        if self.extensions:
            rsv = no_rsv
            for extension in reversed(self.extensions):
                rsv, payload = extension.frame_outbound(self, opcode, rsv, bytes(payload), fin)
            rsv1, rsv2, rsv3 = rsv
            t = type(payload)
            if t is not bytes and t is not bytearray:
                payload = bytearray(payload)
        if opcode >= 8 and len(payload) > 125:
            raise ValueError("payload too long for control frame")
        out = bytearray()
        write_frame(out, int(opcode), payload, fin=bool(fin), rsv1=bool(rsv1), rsv2=bool(rsv2), rsv3=bool(rsv3),
                    client=self.client)
        values["build"] += 1
        return out

    return _serialize_frame


def make_connection_send(conn_mod: ModuleType, events_mod: ModuleType, counters: Counters) -> Callable[[Any, Any], bytes]:
    """``Connection.send``: a whole message (``Message``, ``TextMessage`` or
    ``BytesMessage``, exactly those classes) on an OPEN
    connection without extensions, outside a fragmented message, becomes one
    ``build_frame`` call; every other event goes through wsproto's own
    ``send`` (whose frames are built by the ``_serialize_frame`` above)."""
    original = conn_mod.Connection.send
    Connection = conn_mod.Connection
    OPEN = conn_mod.ConnectionState.OPEN
    Message, TextMessage, BytesMessage = events_mod.Message, events_mod.TextMessage, events_mod.BytesMessage
    build_frame = codec.build_frame
    values = counters.values

    def send(self: Any, event: Any) -> bytes:
        t = type(event)
        if (t is TextMessage or t is BytesMessage or t is Message) and self._state is OPEN and type(self) is Connection:
            proto = self._proto
            if event.message_finished and proto._outbound_opcode is None and not proto.extensions:
                data = event.data
                dt = type(data)
                # wsproto chooses the opcode by the type of the data, not of the event.
                if dt is str:
                    values["build"] += 1
                    return build_frame(1, data.encode("utf-8"), client=proto.client)
                if dt is bytes or dt is bytearray:
                    values["build"] += 1
                    return build_frame(2, data, client=proto.client)
        return original(self, event)  # type: ignore[no-any-return]

    return send
