"""permessage-deflate (RFC 7692): compression of WebSocket messages with zlib.

Usage::

    ServerConnection(extensions=[ServerPerMessageDeflate()])
    ClientConnection(host, extensions=[ClientPerMessageDeflate()])

Three public classes:

* :class:`ServerPerMessageDeflate` -- server-side factory: reads the
  client's offers in order, declines (returns None for) any offer with an
  unknown, duplicate or valueless/valued-when-it-must-not parameter or a
  window size outside 8..15 (no leading zeros), and answers the first one it
  can honour.
* :class:`ClientPerMessageDeflate` -- client-side factory: sends one offer
  and validates the server's answer; an unacceptable answer raises
  :class:`~wsframe.extensions.NegotiationError` (the connection fails).
* :class:`PerMessageDeflate` -- the per-connection :class:`Extension`
  (``local_*`` = what we send, ``remote_*`` = what the peer sends).

Options, identical on both factories, mirror the RFC parameters:
``server_no_context_takeover``, ``client_no_context_takeover``,
``server_max_window_bits``, ``client_max_window_bits``; plus the zlib
``compress_level`` and ``mem_level`` and the ``threshold`` in bytes below
which a single-frame message is sent uncompressed.

Defaults and why. Memory per connection, measured with tracemalloc (which
sees zlib's allocations) over 200 PerMessageDeflate objects, each having
compressed and decompressed one 64 KiB JSON message (zlib 1.2.13, KiB per
connection; compression level does not change memory)::

    window bits  mem_level   compressor  decompressor   total
         15          9          390.1        39.3       429.3
         15          8          262.1        39.3       301.3   (zlib defaults)
         15          5          150.1        39.3       189.3
         14          8          198.1        23.3       221.3
         13          8          166.1        15.3       181.3
         12          8          150.1        11.3       161.3
         12          5           38.1        11.3        49.3   <- default
         11          5           30.1         9.3        39.3
         10          5           26.1         8.3        34.3
         10          4           18.1         8.3        26.3
       8 or 9        1            9.1         7.8        16.8

Compressed size / original on JSON chat-like traffic (context takeover,
level 6): 15/8: 0.251 (180 B messages), 0.203 (1.5 KiB); 12/5: 0.270,
0.207; 10/5: 0.304, 0.223. Level 1 at 12/5: 0.325, 0.257 but ~2x faster
on 1.5 KiB messages. Compressor and decompressor are created lazily, on the
first compressed message each way, so a connection that never compresses
costs nothing.

The window (2**bits bytes, doubled by the compressor) and mem_level (the
compressor's hash table, 2**(mem_level+9) bytes, and pending buffer) dominate;
compression level does not change memory. The default, window bits 12 both
ways (when the client offers ``client_max_window_bits``, as browsers do) and
``mem_level=5``, costs ~49 KiB instead of ~301 KiB per connection for a few
per cent of compression ratio (the same choice as the websockets library). A client that does not offer ``client_max_window_bits``
forces a 32 KiB decompression window (decompressor 39 KiB).

``compress_level`` defaults to 6 (zlib's default, like websockets); 1 is
about 1.5-2x faster on JSON for a slightly worse ratio.

``threshold`` defaults to 32 bytes: without context, messages under ~24
bytes grow when deflated (16 B JSON: 1.13x, 32 B: 0.88x); with context
takeover they shrink, but the saving is at most a couple of dozen bytes --
less than TCP/IP/TLS per-packet overhead -- for a zlib call on both ends
(~3-5 us each), a poor trade for a server. It applies to single-frame messages
only (the size of a fragmented message is not known at its first frame).
Every send can opt out with ``compress=False``.

Window bits 8. zlib refuses ``wbits=-8`` for raw deflate compression (since
1.2.9; its old silent 8 -> 9 change wrote a zlib header claiming 9, which
strict peers rejected). For raw deflate, compressing with ``wbits=-9`` is a
correct implementation of an 8-bit window: zlib's deflate never emits a
match distance above ``MAX_DIST = 2**wbits - 262`` (MIN_LOOKAHEAD), i.e. 250
for 9 bits, which fits a 256-byte window (tested with a strict byte-by-byte
``wbits=-8`` inflater; 10 bits already emits distance 300 and fails it). So we
accept and advertise 8 for our compressor (``server_max_window_bits=8``
requested by a client, ``client_max_window_bits=8`` in a server's answer)
and compress with 9; we decompress with a window of at least 9 bits (any
8-bit stream fits). websockets and aiohttp refuse 8 for their compressor
instead.

Context takeover. Without it (``*_no_context_takeover`` negotiated), the
sender ends each message with ``Z_FULL_FLUSH`` instead of ``Z_SYNC_FLUSH``,
which resets the LZ77 history without reallocating the compressor; the
receiver keeps one decompressor (history that is never referenced is
harmless) and only recreates it after a peer's final (BFINAL) block. A client
offer of ``client_no_context_takeover`` is a promise (RFC 7692 7.1.1.2), so
the client honours it whatever the answer.

Limits and errors (raised from :meth:`PerMessageDeflate.decode`; the
connection turns them into close frames):

* ``max_size`` (the remaining message budget given by the connection) is
  enforced on decompressed bytes while decompressing, in steps of at most
  256 KiB (``decompressobj.decompress(data, max_length)`` plus
  ``unconsumed_tail`` loop): a deflate bomb stops after producing
  ``max_size + 1`` bytes -> :class:`~wsframe.exceptions.PayloadTooBig`, 1009.
* RSV1 on a continuation frame -> ProtocolError 1002 (RFC 7692 6.1: only the
  first frame of a message carries it). RSV1 on control frames and RSV bits
  without a negotiated extension are rejected by the connection and frame
  parser (1002) before reaching here.
* A corrupt deflate stream (zlib error, or data after a final block) ->
  ProtocolError **1002**. RFC 7692 does not name a code; 1007 is defined for
  message data "not consistent with the type of the message" (e.g. bad
  UTF-8), whereas an undecodable compressed payload breaks the
  extension's framing-level encoding, i.e. the protocol -- as websockets
  and Autobahn treat it. Invalid UTF-8 *after* decompression is still 1007
  (checked by the connection).
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple, Union

from ._deflate_codec import (
    DEFAULT_COMPRESS_LEVEL,
    DEFAULT_MAX_WINDOW_BITS,
    DEFAULT_MEM_LEVEL,
    DEFAULT_THRESHOLD,
    NAME,
    PerMessageDeflate,
    _check_bits,
    _check_common,
)
from .extensions import (
    ClientExtensionFactory,
    Extension,
    ExtensionParams,
    NegotiationError,
    ServerExtensionFactory,
)


__all__ = [
    "ClientPerMessageDeflate",
    "PerMessageDeflate",
    "ServerPerMessageDeflate",
    "DEFAULT_COMPRESS_LEVEL",
    "DEFAULT_MAX_WINDOW_BITS",
    "DEFAULT_MEM_LEVEL",
    "DEFAULT_THRESHOLD",
]


_BITS = re.compile(r"(?:[89]|1[0-5])\Z")  # 8..15, no leading zeros (RFC 7692 7.1.2)


class _Decline(Exception):
    pass


def _parse(params: ExtensionParams, response: bool):
    """Parse permessage-deflate parameters; raise _Decline on anything invalid.

    Returns (server_no_context_takeover, client_no_context_takeover,
    server_max_window_bits or None, client_max_window_bits: None, True (offer
    without value) or int).
    """
    snct = cnct = False
    smwb: Optional[int] = None
    cmwb: Union[None, bool, int] = None
    seen = set()
    for name, value in params:
        if name in seen:
            raise _Decline(f"duplicate parameter {name}")
        seen.add(name)
        if name == "server_no_context_takeover" or name == "client_no_context_takeover":
            if value is not None:
                raise _Decline(f"{name} takes no value")
            if name[0] == "s":
                snct = True
            else:
                cnct = True
        elif name == "server_max_window_bits":
            if value is None or not _BITS.match(value):
                raise _Decline(f"invalid server_max_window_bits {value!r}")
            smwb = int(value)
        elif name == "client_max_window_bits":
            if value is None:
                if response:
                    raise _Decline("client_max_window_bits without a value in a response")
                cmwb = True
            elif not _BITS.match(value):
                raise _Decline(f"invalid client_max_window_bits {value!r}")
            else:
                cmwb = int(value)
        else:
            raise _Decline(f"unknown parameter {name}")
    return snct, cnct, smwb, cmwb




class _Options:
    def __init__(
        self,
        server_no_context_takeover: bool,
        client_no_context_takeover: bool,
        server_max_window_bits: Optional[int],
        client_max_window_bits,
        compress_level: int,
        mem_level: int,
        threshold: int,
        allow_true: bool,
    ) -> None:
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = _check_bits("server_max_window_bits", server_max_window_bits)
        self.client_max_window_bits = _check_bits("client_max_window_bits", client_max_window_bits, allow_true)
        _check_common(compress_level, mem_level, threshold)
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.threshold = threshold

    def _make(self, local_nct, remote_nct, local_bits, remote_bits) -> PerMessageDeflate:
        return PerMessageDeflate(
            local_no_context_takeover=local_nct,
            remote_no_context_takeover=remote_nct,
            local_max_window_bits=local_bits,
            remote_max_window_bits=remote_bits,
            compress_level=self.compress_level,
            mem_level=self.mem_level,
            threshold=self.threshold,
        )


class ServerPerMessageDeflate(_Options, ServerExtensionFactory):
    """Server-side permessage-deflate negotiation.

    ``server_no_context_takeover``: always reset our compression context
    after each message (else only when the client asks).
    ``client_no_context_takeover``: require the client to reset its context
    (answered with ``client_no_context_takeover``; also answered when the
    client offers it as a hint).
    ``server_max_window_bits`` (8..15 or None = 15): largest window our
    compressor uses; we answer min(this, the client's request), and include it
    in the answer whenever it is below 15 or the client asked.
    ``client_max_window_bits`` (8..15 or None = no limit): the window we ask
    the client's compressor to stay within -- possible only when the client
    offers ``client_max_window_bits``; otherwise its window is 15.
    ``compress_level``, ``mem_level``: zlib settings; ``threshold``: see the
    module docstring.
    """

    name = NAME

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = DEFAULT_MAX_WINDOW_BITS,
        client_max_window_bits: Optional[int] = DEFAULT_MAX_WINDOW_BITS,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        _Options.__init__(
            self,
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
            compress_level,
            mem_level,
            threshold,
            False,
        )

    def accept_offer(
        self, params: ExtensionParams, accepted: Sequence[Extension]
    ) -> Optional[Tuple[ExtensionParams, Extension]]:
        if any(ext.name == NAME for ext in accepted):
            return None
        try:
            snct, cnct, smwb, cmwb = _parse(params, response=False)
        except _Decline:
            return None  # RFC 7692 5: decline this offer; the connection tries the next one
        answer: ExtensionParams = []
        snct = snct or self.server_no_context_takeover
        if snct:
            answer.append(("server_no_context_takeover", None))
        cnct = cnct or self.client_no_context_takeover
        if cnct:
            answer.append(("client_no_context_takeover", None))
        local_bits = self.server_max_window_bits or 15
        if smwb is not None and smwb < local_bits:
            local_bits = smwb
        if smwb is not None or local_bits < 15:
            answer.append(("server_max_window_bits", str(local_bits)))
        remote_bits = 15
        if cmwb is not None:
            if cmwb is not True:
                remote_bits = cmwb
            if self.client_max_window_bits is not None and self.client_max_window_bits < remote_bits:
                remote_bits = self.client_max_window_bits
            if cmwb is not True or remote_bits < 15:
                answer.append(("client_max_window_bits", str(remote_bits)))
        return answer, self._make(snct, cnct, local_bits, remote_bits)


class ClientPerMessageDeflate(_Options, ClientExtensionFactory):
    """Client-side permessage-deflate negotiation: one offer, strict answer check.

    ``server_no_context_takeover``: ask the server to reset its context
    after each message (the answer must then contain it).
    ``client_no_context_takeover`` (default True): offer the hint that we
    reset our own context after each message; we then do so whatever the
    answer. Default True because servers may insist on it (the Autobahn
    13.2/13.5/13.6 cases accept only such offers); it costs ratio only on
    client-to-server streams of similar messages.
    ``server_max_window_bits`` (8..15 or None): ask the server to use at most
    this window (the answer must include a value <= it).
    ``client_max_window_bits``: True (default) offers it without a value (the
    server may pick our window, e.g. browsers' behaviour); an int offers that
    limit; None does not offer it (the server may then not limit us).
    """

    name = NAME

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = True,
        server_max_window_bits: Optional[int] = None,
        client_max_window_bits: Union[None, bool, int] = True,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        _Options.__init__(
            self,
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
            compress_level,
            mem_level,
            threshold,
            True,
        )

    def offers(self) -> List[ExtensionParams]:
        offer: ExtensionParams = []
        if self.server_no_context_takeover:
            offer.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            offer.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            offer.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            offer.append(("client_max_window_bits", None))
        elif self.client_max_window_bits is not None:
            offer.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return [offer]

    def accept_response(self, params: ExtensionParams, accepted: Sequence[Extension]) -> Extension:
        if any(ext.name == NAME for ext in accepted):
            raise NegotiationError(f"{NAME} selected twice")
        try:
            snct, cnct, smwb, cmwb = _parse(params, response=True)
        except _Decline as exc:
            raise NegotiationError(f"invalid {NAME} response: {exc}") from None
        if self.server_no_context_takeover and not snct:
            raise NegotiationError(f"{NAME} response lacks the requested server_no_context_takeover")
        if self.server_max_window_bits is not None:
            if smwb is None:
                raise NegotiationError(f"{NAME} response lacks the requested server_max_window_bits")
            if smwb > self.server_max_window_bits:
                raise NegotiationError(f"{NAME} response has server_max_window_bits above the request")
        offered = self.client_max_window_bits
        if cmwb is not None:
            if offered is None:
                raise NegotiationError(f"{NAME} response has client_max_window_bits, which was not offered")
            if offered is not True and cmwb > offered:
                raise NegotiationError(f"{NAME} response has client_max_window_bits above the offer")
        elif offered is not None and offered is not True:
            cmwb = offered
        return self._make(
            cnct or self.client_no_context_takeover,
            snct,
            cmwb or 15,
            smwb or 15,
        )
