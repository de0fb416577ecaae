"""Adapters: every implementation behind the same small set of operations.

Each implementation (wsframe's C extension, wsframe's pure-Python twin, the
peer libraries and the references) is loaded lazily by :func:`load`. A peer
that is not installed raises :class:`Unavailable` with a readable reason; the
callers skip it and say so. Nothing here touches a socket: where a peer only
offers an I/O-bound API (picows, aiohttp's writer), a fake transport stands in
and captures the bytes.

Operations an adapter may provide (absent attribute = not offered):

- ``mask_inplace_call(buf: bytearray, mask: bytes)`` -> zero-argument
  callable that XORs ``buf`` in place (a ``functools.partial`` of the
  library's own function where possible: no Python layer in the timed call)
- ``apply_mask_call(data: bytes, mask: bytes)`` -> zero-argument callable
  returning the masked copy
- ``validate_utf8(data: bytes) -> bool``
- ``validate_utf8_fragments(fragments: list[bytes]) -> bool`` (incremental)
- ``frame_parser(server: bool)`` -> object with ``parse(chunks) -> result``
  (timed) and ``frames(result) -> list[(opcode, fin, payload)]`` (checking)
- ``frame_builder(client: bool)`` -> object with ``build(payloads) -> result``
  (timed, one binary frame per payload) and ``wire(result) -> bytes``

The reference functions at the bottom (``ref_*``) are independent of wsframe;
they are what every output is checked against.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import importlib.metadata
import logging
import os
import struct
from functools import partial
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Tuple

from . import peers_conn

__all__ = ["IMPLEMENTATIONS", "Unavailable", "load", "describe", "ref_mask", "ref_parse", "ref_utf8_valid"]

OP_BINARY = 0x2


class Unavailable(Exception):
    """The implementation cannot be used here (not installed, not built...)."""


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _wsframe_version() -> str:
    try:
        return importlib.import_module("wsframe").__version__
    except Exception:  # pragma: no cover - a broken package shows up elsewhere
        return _version("wsframe")


def _import(name: str, dist: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Unavailable(f"{dist} is not installed ({exc}); pip install '.[bench]'") from None


# A private event loop, never run for I/O: picows and aiohttp want one to
# create futures on. Closed at exit.
_loop: Optional[asyncio.AbstractEventLoop] = None


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        atexit.register(_loop.close)
    return _loop


# ---------------------------------------------------------------------------
# wsframe (C and pure Python): the same adapter over either module
# ---------------------------------------------------------------------------


class _WsframeParser:
    def __init__(self, mod, server: bool) -> None:
        self._mod = mod
        self._server = server

    def new(self):
        return self._mod.FrameParser(self._server)  # default 1 MiB frame limit, like picows' max_frame_size

    def parse(self, parser, chunks):
        out: list = []
        extend = out.extend
        feed = parser.feed
        for chunk in chunks:
            extend(feed(chunk))
        return out

    @staticmethod
    def frames(result):
        return [(f.opcode, f.fin, f.payload) for f in result]


class _WsframeBuilder:
    def __init__(self, mod, client: bool) -> None:
        self._build = mod.build_frame
        self._client = client

    def new(self):
        return None

    def build(self, _state, payloads):
        out: list = []
        append = out.append
        build = self._build
        client = self._client
        for p in payloads:
            append(build(OP_BINARY, p, client=client))
        return out

    @staticmethod
    def wire(result) -> bytes:
        return b"".join(result)


def _wsframe_adapter(mod, label: str) -> SimpleNamespace:
    validator_cls = mod.Utf8Validator

    def validate_utf8_fragments(fragments):
        v = validator_cls()
        feed = v.feed
        for f in fragments:
            if not feed(f):
                return False
        return v.finish()

    return SimpleNamespace(
        label=label,
        codec_module=mod,
        mask_inplace_call=lambda buf, mask, _f=mod.mask_inplace: partial(_f, buf, mask),
        apply_mask_call=lambda data, mask, _f=mod.apply_mask: partial(_f, data, mask),
        validate_utf8=mod.validate_utf8,
        validate_utf8_fragments=validate_utf8_fragments,
        frame_parser=lambda server: _WsframeParser(mod, server),
        frame_builder=lambda client: _WsframeBuilder(mod, client),
        # ServerConnection/ClientConnection running on this codec (peers_conn.py).
        **peers_conn.wsframe_ops(mod),
    )


def _load_wsframe_c():
    if os.environ.get("WSFRAME_NO_EXTENSIONS", "").strip().lower() not in ("", "0", "false", "no"):
        raise Unavailable("WSFRAME_NO_EXTENSIONS is set")
    try:
        from wsframe.codec import _load_implementation

        mod = _load_implementation(compiled=True)
    except ImportError as exc:
        raise Unavailable(f"wsframe C extension not built ({exc})") from None
    ns = _wsframe_adapter(mod, "wsframe C")
    simd = getattr(mod, "simd_level", None)
    ns.version = f"wsframe {_wsframe_version()} (C" + (f", SIMD {simd()})" if simd else ")")
    return ns


def _load_wsframe_py():
    from wsframe.codec import _load_implementation

    mod = _load_implementation(compiled=False)
    ns = _wsframe_adapter(mod, "wsframe Python")
    ns.version = f"wsframe {_wsframe_version()} (pure Python)"
    return ns


# ---------------------------------------------------------------------------
# websockets
# ---------------------------------------------------------------------------


def _load_websockets():
    _import("websockets", "websockets")
    try:
        speedups = importlib.import_module("websockets.speedups")
    except ImportError:
        raise Unavailable("websockets is installed without its C speedups") from None
    frames_mod = importlib.import_module("websockets.frames")
    protocol_mod = importlib.import_module("websockets.protocol")
    Frame, Opcode = frames_mod.Frame, frames_mod.Opcode

    class Parser:
        """The sans-I/O Protocol in OPEN state: receive_data + events_received."""

        def __init__(self, server: bool) -> None:
            self._side = protocol_mod.Side.SERVER if server else protocol_mod.Side.CLIENT

        def new(self):
            return protocol_mod.Protocol(self._side, state=protocol_mod.State.OPEN, max_size=None)

        def parse(self, proto, chunks):
            out: list = []
            extend = out.extend
            receive = proto.receive_data
            events = proto.events_received
            for chunk in chunks:
                receive(chunk)
                extend(events())
            return out

        @staticmethod
        def frames(result):
            return [(int(f.opcode), f.fin, bytes(f.data)) for f in result]

    class Builder:
        def __init__(self, client: bool) -> None:
            self._client = client

        def new(self):
            return None

        def build(self, _state, payloads):
            out: list = []
            append = out.append
            mask = self._client
            binary = Opcode.BINARY
            for p in payloads:
                append(Frame(binary, p).serialize(mask=mask))
            return out

        @staticmethod
        def wire(result) -> bytes:
            return b"".join(result)

    return SimpleNamespace(
        label="websockets",
        version=f"websockets {_version('websockets')}",
        apply_mask_call=lambda data, mask, _f=speedups.apply_mask: partial(_f, data, mask),
        frame_parser=Parser,
        frame_builder=Builder,
        **peers_conn.websockets_ops(),
    )


# ---------------------------------------------------------------------------
# wsproto (connection-level cases only: it has no separate codec API)
# ---------------------------------------------------------------------------


def _load_wsproto():
    _import("wsproto", "wsproto")
    return SimpleNamespace(
        label="wsproto",
        version=f"wsproto {_version('wsproto')} (h11 {_version('h11')})",
        **peers_conn.wsproto_ops(),
    )


# ---------------------------------------------------------------------------
# aiohttp
# ---------------------------------------------------------------------------


class _FakeAsyncioTransport:
    """Captures writes; never closing; no socket."""

    def __init__(self) -> None:
        self.out: list = []
        self.write = self.out.append

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def _load_aiohttp():
    _import("aiohttp", "aiohttp")
    try:
        mask_mod = importlib.import_module("aiohttp._websocket.mask")
    except ImportError:
        raise Unavailable("aiohttp is installed without its Cython mask (aiohttp._websocket.mask)") from None
    reader_mod = importlib.import_module("aiohttp._websocket.reader")
    writer_mod = importlib.import_module("aiohttp._websocket.writer")
    WebSocketReader = reader_mod.WebSocketReader
    WebSocketDataQueue = reader_mod.WebSocketDataQueue
    reader_kind = "Cython reader" if WebSocketReader.__module__.endswith("reader_c") else "Python reader"
    mask_c = mask_mod._websocket_mask_cython

    class _FakeProtocol:
        _reading_paused = False
        _paused = False

        def pause_reading(self) -> None:  # pragma: no cover - limit is never reached
            raise AssertionError("aiohttp queue limit reached during the benchmark")

        def resume_reading(self) -> None:  # pragma: no cover
            pass

    class Parser:
        """WebSocketReader.feed_data; messages land in the queue's deque."""

        def __init__(self, server: bool) -> None:
            # aiohttp's reader accepts masked and unmasked frames on both sides.
            self._server = server

        def new(self, decode_text: bool = False):
            # limit * 2 must fit the Cython reader's unsigned int; high enough
            # that the reader never stalls on 100,000 queued messages.
            # decode_text=False for frame parsing (payloads as bytes); the
            # receive path uses True, aiohttp's default for WebSocketResponse.
            queue = WebSocketDataQueue(_FakeProtocol(), 1 << 30, loop=_event_loop())
            reader = WebSocketReader(queue, 1 << 20, False, decode_text)
            return reader, queue

        def parse(self, state, chunks):
            reader, queue = state
            feed = reader.feed_data
            for chunk in chunks:
                feed(chunk)
            return queue

        @staticmethod
        def frames(queue):
            if queue.exception() is not None:
                raise AssertionError(f"aiohttp reader failed: {queue.exception()!r}")
            return [(int(msg.type), True, bytes(msg.data)) for msg, _size in queue._buffer]

    class Builder:
        """WebSocketWriter._write_websocket_frame: the frame path of send_frame."""

        def __init__(self, client: bool) -> None:
            self._client = client

        def new(self):
            tr = _FakeAsyncioTransport()
            writer = writer_mod.WebSocketWriter(_FakeProtocol(), tr, use_mask=self._client)
            return writer, tr

        def build(self, state, payloads):
            writer, tr = state
            tr.out.clear()
            write = writer._write_websocket_frame
            for p in payloads:
                write(p, OP_BINARY, 0)
            return tr.out

        @staticmethod
        def wire(result) -> bytes:
            return b"".join(result)

    def copy_and_mask(data, mask):
        # What aiohttp's writer does for a client frame: copy, then mask in place.
        def run():
            buf = bytearray(data)
            mask_c(mask, buf)
            return buf

        return run

    return SimpleNamespace(
        label="aiohttp",
        version=f"aiohttp {_version('aiohttp')} ({reader_kind})",
        mask_inplace_call=lambda buf, mask: partial(mask_c, mask, buf),
        apply_mask_call=copy_and_mask,
        frame_parser=Parser,
        frame_builder=Builder,
        **peers_conn.aiohttp_ops(
            partial(Parser(True).new, decode_text=True),
            lambda client, tr: writer_mod.WebSocketWriter(_FakeProtocol(), tr, use_mask=client),
            _FakeAsyncioTransport,
        ),
    )


# ---------------------------------------------------------------------------
# picows
# ---------------------------------------------------------------------------

_UPGRADE_REQUEST = (
    b"GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class _FakeSocket:
    """Enough of a socket for picows' connection_made; never used for I/O."""

    def setsockopt(self, *args) -> None:
        pass

    def getsockopt(self, *args) -> int:
        return 0

    def fileno(self) -> int:
        return -1


class _FakePicowsTransport(_FakeAsyncioTransport):
    """Says it is TLS so that picows hands every write to ``write`` instead of
    calling send(2) on the socket itself: its cheapest socket-free path (one
    bytes object per frame, like wsframe's build_frame)."""

    _extra = {"socket": _FakeSocket(), "ssl_object": object(), "peername": ("bench", 0), "sockname": ("bench", 0)}

    def get_extra_info(self, name, default=None):
        return self._extra.get(name, default)


def _load_picows():
    picows = _import("picows", "picows")
    core = importlib.import_module("picows.picows")
    WSMsgType = picows.WSMsgType
    logger = logging.getLogger("benchmarks.picows")
    logger.setLevel(logging.WARNING)

    def make_protocol(is_client: bool, listener_factory):
        async def create():
            return core.WSProtocol(
                None, None, is_client, listener_factory, logger,
                True,   # disconnect_on_exception
                None,   # websocket_handshake_timeout: no timer
                False, 10, 10, picows.WSAutoPingStrategy.PING_WHEN_IDLE,  # no auto ping
                True,   # enable_auto_pong
                1 << 20,  # max_frame_size
                None,   # extra_headers
                64 * 1024,  # read_buffer_init_size
            )

        return _event_loop().run_until_complete(create())

    class Parser:
        """WSProtocol (BufferedProtocol) fed through get_buffer/buffer_updated
        after an in-memory upgrade; on_ws_frame keeps each payload as bytes.

        picows has no socket-free parser API: this drives its protocol with a
        fake transport, which is the same code path a socket read takes.
        """

        def __init__(self, server: bool) -> None:
            if not server:
                raise Unavailable("picows client-side parsing needs a handshake response; only server side is set up")

        def new(self):
            out: list = []

            class Listener(core.WSListener):
                def on_ws_frame(self, transport, frame, _append=out.append):
                    _append(frame.get_payload_as_bytes())

            proto = make_protocol(False, lambda request: Listener())
            proto.connection_made(_FakePicowsTransport())
            _feed_picows(proto, [_UPGRADE_REQUEST])
            if proto.listener is None:
                raise AssertionError("picows did not accept the in-memory upgrade")
            return proto, out

        def parse(self, state, chunks):
            proto, out = state
            _feed_picows(proto, chunks)
            return out

        @staticmethod
        def frames(result):
            # The timed listener keeps payloads only; the check listener below
            # also records opcode and fin.
            return [(OP_BINARY, True, p) for p in result]

        def checked_frames(self, chunks):
            out: list = []

            class Listener(core.WSListener):
                def on_ws_frame(self, transport, frame):
                    out.append((frame.msg_type.value, frame.fin, frame.get_payload_as_bytes()))

            proto = make_protocol(False, lambda request: Listener())
            proto.connection_made(_FakePicowsTransport())
            _feed_picows(proto, [_UPGRADE_REQUEST])
            _feed_picows(proto, chunks)
            return out

    class Builder:
        """WSTransport.send over a fake transport (see _FakePicowsTransport)."""

        def __init__(self, client: bool) -> None:
            self._client = client

        def new(self):
            tr = _FakePicowsTransport()
            return core.WSTransport(self._client, tr, logger, _event_loop()), tr

        def build(self, state, payloads):
            transport, tr = state
            tr.out.clear()
            send = transport.send
            binary = WSMsgType.BINARY
            for p in payloads:
                send(binary, p)
            return tr.out

        @staticmethod
        def wire(result) -> bytes:
            return b"".join(result)

    def open_server(listener_cls):
        proto = make_protocol(False, lambda request: listener_cls())
        proto.connection_made(_FakePicowsTransport())
        _feed_picows(proto, [_UPGRADE_REQUEST])
        if proto.listener is None:
            raise AssertionError("picows did not accept the in-memory upgrade")
        return proto

    return SimpleNamespace(
        label="picows",
        version=f"picows {_version('picows')}",
        frame_parser=Parser,
        frame_builder=Builder,
        **peers_conn.picows_ops(open_server, _feed_picows, lambda client: Builder(client).new(), WSMsgType),
    )


def _feed_picows(proto, chunks) -> None:
    get_buffer = proto.get_buffer
    updated = proto.buffer_updated
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            buf = get_buffer(-1)
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            updated(n)
            view = view[n:]


# ---------------------------------------------------------------------------
# wsaccel
# ---------------------------------------------------------------------------


def _load_wsaccel():
    _import("wsaccel", "wsaccel")
    xormask = importlib.import_module("wsaccel.xormask")
    utf8 = importlib.import_module("wsaccel.utf8validator")
    Masker = xormask.XorMaskerSimple
    validator = utf8.Utf8Validator()

    def apply_mask_call(data, mask):
        # XorMaskerSimple keeps its position in the mask cycle: one per payload.
        return lambda: Masker(mask).process(data)

    def validate_utf8(data):
        validator.reset()
        ok, at_boundary, _i, _n = validator.validate(data)
        return ok and at_boundary

    def validate_utf8_fragments(fragments):
        validator.reset()
        validate = validator.validate
        r = (True, True, 0, 0)
        for f in fragments:
            r = validate(f)
            if not r[0]:
                return False
        return r[1]

    return SimpleNamespace(
        label="wsaccel",
        version=f"wsaccel {_version('wsaccel')}",
        apply_mask_call=apply_mask_call,
        validate_utf8=validate_utf8,
        validate_utf8_fragments=validate_utf8_fragments,
    )


# ---------------------------------------------------------------------------
# References: CPython's decoder and a plain copy
# ---------------------------------------------------------------------------


def _load_decode():
    import codecs

    new_decoder = codecs.getincrementaldecoder("utf-8")

    def validate_utf8(data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def validate_utf8_fragments(fragments):
        d = new_decoder()
        decode = d.decode
        try:
            for f in fragments:
                decode(f)
            decode(b"", True)
        except UnicodeDecodeError:
            return False
        return True

    return SimpleNamespace(
        label="bytes.decode",
        version="CPython bytes.decode('utf-8') / incremental decoder",
        validate_utf8=validate_utf8,
        validate_utf8_fragments=validate_utf8_fragments,
    )


def _load_copy():
    # The physical reference: reading and writing every byte once. It does
    # not mask; its "check" is that the copy equals the input.
    return SimpleNamespace(
        label="copy",
        version="bytearray(data)",
        copy_call=lambda data: partial(bytearray, data),
    )


_LOADERS: Dict[str, Callable[[], SimpleNamespace]] = {
    "wsframe-c": _load_wsframe_c,
    "wsframe-py": _load_wsframe_py,
    "websockets": _load_websockets,
    "aiohttp": _load_aiohttp,
    "picows": _load_picows,
    "wsproto": _load_wsproto,
    "wsaccel": _load_wsaccel,
    "decode": _load_decode,
    "copy": _load_copy,
}

IMPLEMENTATIONS: Tuple[str, ...] = tuple(_LOADERS)
WSFRAME = ("wsframe-c", "wsframe-py")

_cache: Dict[str, object] = {}


def load(name: str) -> SimpleNamespace:
    """The adapter for ``name``; raises Unavailable (cached) when it cannot be used."""
    if name not in _cache:
        try:
            _cache[name] = _LOADERS[name]()
        except Unavailable as exc:
            _cache[name] = exc
    got = _cache[name]
    if isinstance(got, Unavailable):
        raise got
    return got  # type: ignore[return-value]


def describe() -> Dict[str, str]:
    """name -> version string, or 'unavailable: reason'."""
    out = {}
    for name in IMPLEMENTATIONS:
        try:
            out[name] = load(name).version
        except Unavailable as exc:
            out[name] = f"unavailable: {exc}"
    return out


# ---------------------------------------------------------------------------
# Reference implementations (independent of wsframe and of the peers)
# ---------------------------------------------------------------------------


def ref_mask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def ref_utf8_valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def ref_parse(wire: bytes) -> List[Tuple[int, bool, bytes, bool]]:
    """(opcode, fin, unmasked payload, was_masked) for every frame of ``wire``;
    asserts that nothing is left over."""
    out = []
    pos, n = 0, len(wire)
    while pos < n:
        b0, b1 = wire[pos], wire[pos + 1]
        length = b1 & 0x7F
        pos += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", wire, pos)
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", wire, pos)
            pos += 8
        masked = bool(b1 & 0x80)
        if masked:
            key = wire[pos : pos + 4]
            pos += 4
        payload = wire[pos : pos + length]
        if len(payload) != length:
            raise AssertionError("truncated frame in built output")
        pos += length
        if masked:
            payload = ref_mask(payload, key)
        out.append((b0 & 0x0F, bool(b0 & 0x80), payload, masked))
    return out
