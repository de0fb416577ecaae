"""Fuzz targets above the codec: the handshake parsers, the permessage-deflate
decoder and ServerConnection.receive_data as a whole.

The same input runs through the wsframe with the C codec (``main``) and the
pure-Python one (``twin``): events, bytes to send, state and close code must
be identical. A connection that closes with "internal error" (an exception
that receive_data caught) is a Finding, as is a decoder output that differs
from plain zlib's.
"""

from __future__ import annotations

import sys
import zlib
from types import SimpleNamespace
from typing import Any, List

from inputs import chunks, split
from twin import Difference, Finding, norm, outcome, same

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
REQUEST = (
    "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
)
DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
_SIZES = (1 << 20, 0, 125, None)


def request(deflate: bool) -> bytes:
    return (REQUEST + (DEFLATE_OFFER if deflate else "") + "\r\n").encode()


def _check_internal(events: List[Any]) -> None:
    for event in events:
        if type(event).__name__ == "Closed" and str(event.reason).startswith("internal error"):
            raise Finding(f"the connection caught an internal error: {event.reason} ({event.error!r})")


def _step(conn: Any, chunk: bytes, echo: bool) -> tuple:
    """Feed a chunk as an I/O layer would (echoing messages like `wsframe echo`)."""
    conn.receive_data(chunk)
    events = conn.events()
    if echo:
        for event in events:
            kind = type(event).__name__
            if conn.state.name == "OPEN" and kind in ("TextMessage", "BinaryMessage"):
                (conn.send_text if kind == "TextMessage" else conn.send_binary)(event.data)
    if conn.failure_pending:
        conn.apply_pending_failure()
        events += conn.events()
    _check_internal(events)
    return norm(events), _sent(conn), conn.state.name, conn.close_code, conn.should_close_transport


def _eof(conn: Any) -> tuple:
    conn.receive_eof()
    events = conn.events()
    _check_internal(events)
    return norm(events), _sent(conn), conn.state.name, conn.close_code


def _sent(conn: Any) -> Any:
    """What the connection sends; a client's frames are masked with random
    keys, so they are compared unmasked (parsed as a server would)."""
    out = bytes(conn.data_to_send())
    if type(conn).__name__ != "ClientConnection" or conn.state.name == "CONNECTING" or not out:
        return out
    codec = sys.modules[type(conn).__module__.rsplit(".", 1)[0] + ".codec"]
    parser = codec.FrameParser(True, None, 0x70, stream=False, messages=False)
    return norm(parser.feed(out))


def _drive(a: Any, b: Any, body: bytes, seed: int, echo: bool, reuse: bool = False) -> None:
    """Feed both connections the same chunks. ``reuse``: ``a`` gets each
    chunk as a memoryview of one read buffer that is overwritten after every
    call (as an I/O layer reusing its buffer does), ``b`` gets bytes; a
    connection that keeps a reference instead of a copy then differs."""
    buf = bytearray(len(body) or 1)
    for i, chunk in enumerate(chunks(body, seed)):
        if reuse:
            n = len(chunk)
            buf[:n] = chunk
            view = memoryview(buf)[:n]
            got = _step(a, view, echo)
            view.release()  # BufferError if the connection kept a view of it
            buf[:n] = b"\xa5" * n
        else:
            got = _step(a, chunk, echo)
        same(got, _step(b, chunk, echo), f"receive_data #{i} ({len(chunk)} bytes)")
    same(_eof(a), _eof(b), "receive_eof")


def connection(main: SimpleNamespace, twin: SimpleNamespace, data: bytes) -> None:
    """ServerConnection.receive_data: a valid request, then the fuzzed bytes as frames.

    options: bit 0 permessage-deflate, bit 1 stream_fragments, bit 2
    auto_pong off, bits 3-4 max_message_size, bit 5 the C side reads from a
    reused buffer (memoryviews, overwritten after each call).
    """
    opts, seed, body = split(data)
    deflate = bool(opts & 1)
    kwargs = dict(stream_fragments=bool(opts & 2), auto_pong=not opts & 4, max_message_size=_SIZES[(opts >> 3) & 3])
    conns = [
        pkg.connection.ServerConnection(
            extensions=[pkg.permessage_deflate.ServerPerMessageDeflate()] if deflate else [], **kwargs
        )
        for pkg in (main, twin)
    ]
    _drive(conns[0], conns[1], request(deflate) + body, seed, True, reuse=bool(opts & 32))


def _fixed_key() -> str:
    return KEY


def _client(pkg: SimpleNamespace, limits: dict) -> Any:
    """A ClientConnection whose key is the RFC's sample key, so that valid
    responses can be seeded (generate_key is swapped for the construction only)."""
    impl = pkg.connection._impl  # the module whose code runs (compiled or not) looks the name up
    real = impl.generate_key
    impl.generate_key = _fixed_key
    try:
        return pkg.connection.ClientConnection(
            "localhost", "/chat", subprotocols=["chat", "superchat"],
            extensions=[pkg.permessage_deflate.ClientPerMessageDeflate()], **limits,
        )
    finally:
        impl.generate_key = real


def handshake(main: SimpleNamespace, twin: SimpleNamespace, data: bytes) -> None:
    """The handshake parsers: bit 0 of options set: the server parsing a
    request (bit 1: a restricted Origin list); clear: the client parsing a
    response to the request with the RFC's sample key. Bit 2: small head
    limits (300 bytes, 8 headers)."""
    opts, seed, body = split(data)
    limits = dict(max_header_size=300, max_headers=8) if opts & 4 else {}
    if opts & 1:
        origins = ("https://example.com", None) if opts & 2 else None
        a, b = (
            pkg.connection.ServerConnection(
                subprotocols=["chat"], extensions=[pkg.permessage_deflate.ServerPerMessageDeflate()],
                allowed_origins=origins, **limits,
            )
            for pkg in (main, twin)
        )
    else:
        a, b = (_client(pkg, limits) for pkg in (main, twin))
        same(bytes(a.data_to_send()), bytes(b.data_to_send()), "the client's request")
    _drive(a, b, body, seed, False)


_BITS = tuple(range(8, 16))
_MAX = (None, 0, 125, 65536)
_TAIL = b"\x00\x00\xff\xff"


def deflate(main: SimpleNamespace, twin: SimpleNamespace, data: bytes) -> None:
    """PerMessageDeflate.decode frame by frame, against plain zlib.

    options: bits 0-2 window bits (8..15), bits 3-4 max_size per call. Body:
    records of [flags][length: 2 bytes][payload]; flags bit 7 FIN, bit 6 RSV1,
    bits 0-1 opcode (0 continuation, 1 text, 2 binary, 3 continuation).
    """
    opts, _, body = split(data)
    bits = _BITS[opts & 7]
    max_size = _MAX[(opts >> 3) & 3]
    exts = [pkg.permessage_deflate.PerMessageDeflate(remote_max_window_bits=bits) for pkg in (main, twin)]
    ref = None  # plain zlib, fed what the decoder inflates
    inflating = False  # a compressed message is in progress
    in_message = False  # a message is in progress
    pos = 0
    while pos + 3 <= len(body):
        flags, length = body[pos], (body[pos + 1] << 8) | body[pos + 2]
        payload = body[pos + 3 : pos + 3 + length]
        pos += 3 + length
        fin, rsv, opcode = bool(flags & 0x80), flags & 0x40, (flags & 3) % 3
        if bool(opcode) == in_message:
            return  # a new message inside one, or a continuation outside: the connection fails first
        in_message = not fin
        got = [outcome(ext.decode, opcode, payload, rsv, fin, max_size) for ext in exts]
        same(got[0], got[1], f"decode(opcode={opcode}, rsv={rsv:#x}, fin={fin}, {len(payload)} bytes)")
        compressed = bool(rsv) if opcode else inflating
        if got[0][0] == "error":
            kind = got[0][1][1]
            if kind == "PayloadTooBig" and compressed and ref is not None:
                expected = _ref_inflate(ref, payload, fin)
                if expected is not None and len(expected) <= max_size:
                    raise Finding(f"PayloadTooBig for {len(expected)} bytes <= max_size {max_size}")
            return
        if opcode:
            inflating = compressed and not fin
        elif fin:
            inflating = False
        if not compressed:
            if got[0][1] != payload:
                raise Finding("an uncompressed frame's payload was changed")
            continue
        if ref is None:
            ref = zlib.decompressobj(-max(bits, 9))
        expected = _ref_inflate(ref, payload, fin)
        if expected is None:
            raise Difference(f"zlib rejects compressed data that decode accepted: {payload.hex()}")
        if got[0][1] != expected:
            raise Finding(f"decode gave {len(got[0][1])} bytes, zlib {len(expected)}")
        if max_size is not None and len(expected) > max_size:
            raise Finding(f"decode returned {len(expected)} bytes past max_size {max_size}")
        if fin and ref.eof:
            ref = None


def _ref_inflate(ref: Any, payload: bytes, fin: bool):
    try:
        return ref.decompress(payload + _TAIL if fin else payload)
    except zlib.error:
        return None
