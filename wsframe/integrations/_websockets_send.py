"""websockets' send side on wsframe's C codec: ``Frame.serialize`` building
the header and masking the payload in one C call (``codec.build_frame``).

websockets' own steps stay first and in its order: ``Frame.check`` (its
ProtocolError messages), then the extensions' ``encode`` (permessage-deflate
in websockets' objects), and the masking key still comes from
``secrets.token_bytes(4)``, looked up at each call as websockets does (so a
test that patches it sees the same bytes). The result is byte for byte what
websockets builds: the same minimal length encoding and header bits.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable, Optional, Sequence

from .. import codec
from ._patch import Counters


def make_serialize(original: Callable[..., bytes], counters: Counters) -> Callable[..., bytes]:
    build_frame = codec.build_frame
    values = counters.values

    def serialize(self: Any, *, mask: bool, extensions: Optional[Sequence[Any]] = None) -> bytes:
        """Serialize a WebSocket frame (websockets' Frame.serialize, built in C)."""
        data = self.data
        kind = type(data)
        if not (kind is bytes or kind is bytearray
                or (kind is memoryview and data.itemsize == 1 and data.contiguous)):
            # Anything else (str, a multi-byte memoryview): websockets' own code and its outcome.
            return original(self, mask=mask, extensions=extensions)
        self.check()
        if extensions:
            for extension in extensions:
                self = extension.encode(self)
            data = self.data
        values["build"] += 1
        if mask:
            return build_frame(self.opcode, data, fin=self.fin, rsv1=self.rsv1, rsv2=self.rsv2,
                               rsv3=self.rsv3, client=True, mask=secrets.token_bytes(4))
        return build_frame(self.opcode, data, fin=self.fin, rsv1=self.rsv1, rsv2=self.rsv2, rsv3=self.rsv3)

    serialize.__qualname__ = "Frame.serialize"
    return serialize
