"""Shared by the websockets accelerator's tests: byte streams a websockets
peer would send (valid, and mutated), and a recorder of everything a
websockets ``Protocol`` shows while it receives them, with and without the
accelerator, for differential comparison."""

from __future__ import annotations

import logging
import struct
from typing import Any, Iterator, List, Optional, Sequence, Tuple
from unittest import mock

import websockets
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Opcode
from websockets.protocol import CLIENT, OPEN, SERVER, Protocol

from wsframe.integrations import websockets as accel

V15 = websockets.__version__.startswith("15.")

# Operations of a peer: (name, payload, fin). Run through websockets' own sender.
Op = Tuple[str, bytes, bool]


class _Masks:
    """Deterministic masking keys for secrets.token_bytes(4): the same
    sequence in every run, so the bytes sent can be compared."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, k: int) -> bytes:
        self.n += 1
        return struct.pack("!I", (self.n * 2654435761) & 0xFFFFFFFF)[:k]


def deflate() -> PerMessageDeflate:
    return PerMessageDeflate(False, False, 15, 15)


def protocol(side: Any, max_size: Any, with_deflate: bool, logger: Optional[logging.Logger] = None) -> Protocol:
    p = Protocol(side, state=OPEN, max_size=max_size, logger=logger)
    if with_deflate:
        p.extensions = [deflate()]
    return p


def peer_stream(side: Any, ops: Sequence[Op], with_deflate: bool) -> bytes:
    """The bytes a websockets peer of a ``side`` receiver sends for ``ops``
    (built with the accelerator uninstalled; ops websockets refuses are skipped)."""
    accel.uninstall()
    peer = protocol(CLIENT if side is SERVER else SERVER, None, with_deflate)
    with mock.patch("secrets.token_bytes", _Masks()):
        for name, payload, fin in ops:
            try:
                if name == "text":
                    peer.send_text(payload, fin)
                elif name == "binary":
                    peer.send_binary(payload, fin)
                elif name == "cont":
                    peer.send_continuation(payload, fin)
                elif name == "ping":
                    peer.send_ping(payload[:125])
                elif name == "pong":
                    peer.send_pong(payload[:125])
                elif name == "close":
                    peer.send_close(1000 + len(payload) % 20, payload[:100].decode("utf-8", "replace")[:30])
                elif name == "raw":
                    peer.writes.append(payload)  # a hand-made frame, possibly invalid
            except Exception:  # an op websockets' sender refuses: left out
                continue
    return b"".join(w for w in peer.data_to_send() if w)


def raw_frame(b0: int, payload: bytes, masked: bool, length_form: int, key: bytes = b"\x01\x02\x03\x04") -> bytes:
    """One frame from raw header fields: ``length_form`` 0 minimal, 1 16-bit, 2 64-bit."""
    n = len(payload)
    if length_form == 0 and n < 126:
        head = bytes([b0, (0x80 if masked else 0) | n])
    elif length_form in (0, 1) and n < 65536:
        head = bytes([b0, (0x80 if masked else 0) | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, (0x80 if masked else 0) | 127]) + struct.pack("!Q", n)
    if masked:
        return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + payload


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def _frame(f: Any) -> Tuple[Any, ...]:
    return (f.opcode, type(f.data).__name__, bytes(f.data), f.fin, f.rsv1, f.rsv2, f.rsv3,
            [type(v).__name__ for v in (f.fin, f.rsv1, f.rsv2, f.rsv3)])


def _event(e: Any) -> Any:
    return _frame(e) if hasattr(e, "opcode") else repr(e)


def _exc(e: Optional[BaseException]) -> Any:
    if e is None:
        return None
    return (type(e).__name__, str(e))


def _state(p: Protocol) -> Tuple[Any, ...]:
    size = p.cur_size if V15 else p.current_size
    return (p.state, p.close_rcvd, p.close_sent, p.close_rcvd_then_sent, p.eof_sent, size,
            _exc(p.parser_exc), bytes(p.reader.buffer), p.reader.eof, p.close_code, p.close_reason)


def record(side: Any, chunks: Sequence[bytes], *, accelerated: bool, max_size: Any = 2**20,
           with_deflate: bool = False, debug: bool = False) -> List[Any]:
    """Feed ``chunks`` then EOF to a fresh Protocol; everything it shows after each step."""
    if accelerated:
        accel.install()
    else:
        accel.uninstall()
    handler = _Records()
    logger = logging.getLogger(f"wsframe-test-{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.addHandler(handler)
    out: List[Any] = []
    try:
        with mock.patch("secrets.token_bytes", _Masks()):
            p = protocol(side, max_size, with_deflate, logger)
            for chunk in list(chunks) + [None]:
                try:
                    if chunk is None:
                        p.receive_eof()
                    else:
                        p.receive_data(chunk)
                    err = None
                except Exception as exc:  # e.g. EOFError after EOF: part of what users see
                    err = _exc(exc)
                events = [_event(e) for e in p.events_received()]
                out.append((err, events, p.data_to_send(), _state(p), list(handler.lines)))
                handler.lines.clear()
    finally:
        logger.removeHandler(handler)
    return out


def splits(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for c in points:
        pieces.append(data[last:c])
        last = c
    pieces.append(data[last:])
    return [p for p in pieces if p]


def every_split(data: bytes) -> Iterator[List[bytes]]:
    """The stream whole, cut in two at every position, and byte by byte."""
    yield [data]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    yield [data[i:i + 1] for i in range(len(data))]


TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
