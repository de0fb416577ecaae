"""Connection-level adapters: the full receive path, the send path and the
opening handshake of every implementation behind the same operations.

peers.py merges these into each implementation's adapter (``load(name)``):

- ``receiver()`` -> object with ``new()`` (a server-side connection past the
  opening handshake, made untimed), ``receive(state, chunks) -> int`` (timed:
  every chunk fed; after each chunk the messages it delivered are taken, as
  an application does after each read, counted and dropped) and
  ``collect(state, chunks) -> list[str | bytes]`` (checking: every delivered
  message kept, text as ``str``)

Why the timed receive drops each chunk's messages: keeping 100,000 delivered
objects alive makes the cyclic GC run full collections over the whole heap
during the run, so the cost of an implementation whose messages are GC-tracked
objects (wsframe's events, aiohttp's WSMessage, websockets' Frame) would depend
on how many objects *other* imported libraries left on the heap; a server drops
each read's messages once handled, and then they die young.
- ``sender(client: bool)`` -> object with ``new()``, ``send_text(state,
  list[str])`` / ``send_binary(state, list[bytes])`` (timed: one message per
  item, the output collected) and ``wire(result) -> bytes``
- ``server_handshake(requests: list[bytes]) -> list[bytes]``: one fresh
  server per request, request bytes in, response bytes out (timed)
- ``client_handshake(count, key, response) -> list``: ``count`` fresh
  clients build their request and validate ``response`` (timed); the
  library's key generator is patched to return ``key`` for the duration of
  the call, so that one precomputed response fits every request

Nothing touches a socket. Text is always delivered decoded: where the
library's sans-I/O layer hands back bytes (websockets' ``Frame.data``), the
adapter decodes them, as that library's I/O layer does.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from contextlib import contextmanager
from types import ModuleType
from typing import List

UPGRADE_HEAD = (
    "GET /chat HTTP/1.1\r\nHost: bench.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://bench.example\r\n"
    "User-Agent: wsframe-bench/1.0\r\n\r\n"
)


@contextmanager
def _patched(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


# ---------------------------------------------------------------------------
# wsframe: the same adapter over a connection module bound to C or Python
# ---------------------------------------------------------------------------

_CODEC_NAMES = ("Frame", "FrameParser", "frame_data", "write_data", "write_frame")


def _text_names(codec_mod) -> dict:
    """The session's validator for text that arrives in pieces, as
    ``wsframe._text_py`` picks it for ``codec_mod``: the twin's keeps the
    text it decodes; the C one only validates."""
    from wsframe import _text_py

    if codec_mod.__name__.endswith("_codec_py"):
        return {"_TextValidator": _text_py.KeepingUtf8Validator, "_KEEPS_TEXT": True}
    return {"_TextValidator": codec_mod.Utf8Validator, "_KEEPS_TEXT": False}


def _source_copy(source: str, name: str) -> ModuleType:
    """A fresh module ``name`` run from the uncompiled source of ``source``."""
    spec = importlib.util.spec_from_file_location(name, importlib.import_module(source).__file__)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "wsframe"
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def wsframe_connection_module(codec_mod) -> ModuleType:
    """The module holding the connection classes that run on ``codec_mod``
    (the C extension or the pure-Python twin): the one ``wsframe.connection``
    chose (compiled with the C codec), else private copies of the uncompiled
    sources ``wsframe/_session.py`` (whose codec names are bound to
    ``codec_mod``) and ``wsframe/_upgrade.py`` (extending that copy). The
    copies let one process time both."""
    real = importlib.import_module("wsframe.connection")
    text = _text_names(codec_mod)
    if all(getattr(real._session, n) is getattr(codec_mod, n) for n in _CODEC_NAMES) and all(
        getattr(real._session, n) is v for n, v in text.items()
    ):
        return real._impl
    suffix = codec_mod.__name__.rsplit(".", 1)[-1]
    name = f"wsframe._bench_upgrade_{suffix}"
    if name in sys.modules:
        return sys.modules[name]
    session = _source_copy("wsframe._session", f"wsframe._bench_session_{suffix}")
    for n in _CODEC_NAMES:
        setattr(session, n, getattr(codec_mod, n))
    for n, v in text.items():
        setattr(session, n, v)
    saved = sys.modules["wsframe._session"]
    sys.modules["wsframe._session"] = session  # the upgrade copy's `from ._session import` finds the copy
    try:
        mod = _source_copy("wsframe._upgrade", name)
    finally:
        sys.modules["wsframe._session"] = saved
    for n in _CODEC_NAMES:  # the names the session copy runs on, readable here too
        setattr(mod, n, getattr(codec_mod, n))
    sys.modules[name] = mod
    return mod


def wsframe_ops(codec_mod) -> dict:
    conn_mod = wsframe_connection_module(codec_mod)
    Server, Client = conn_mod.ServerConnection, conn_mod.ClientConnection
    request = UPGRADE_HEAD.format(key="dGhlIHNhbXBsZSBub25jZQ==").encode()

    class Receiver:
        def new(self):
            conn = Server()
            conn.receive_data(request)
            conn.data_to_send()
            conn.events()
            assert conn.state == conn_mod.State.OPEN, "wsframe server did not open"
            return conn

        def receive(self, conn, chunks):
            n = 0
            receive = conn.receive_data
            events = conn.events
            for chunk in chunks:
                receive(chunk)
                n += len(events())
            return n

        def collect(self, conn, chunks):
            out: list = []
            for chunk in chunks:
                conn.receive_data(chunk)
                out.extend(e.data for e in conn.events())
            return out

    class Sender:
        def __init__(self, client: bool) -> None:
            self._client = client

        def new(self):
            if self._client:
                conn = Client("bench.example", "/chat")
                req = conn.data_to_send()
                conn.receive_data(response_for(req))
            else:
                conn = Server()
                conn.receive_data(request)
            conn.data_to_send()
            conn.events()
            assert conn.state == conn_mod.State.OPEN
            return conn

        # One data_to_send() per message, as an I/O layer that writes each
        # message does (picows writes each frame in transport.send).
        def send_text(self, conn, messages):
            send, drain = conn.send_text, conn.data_to_send
            out: list = []
            append = out.append
            for m in messages:
                send(m)
                append(drain())
            return out

        def send_binary(self, conn, messages):
            send, drain = conn.send_binary, conn.data_to_send
            out: list = []
            append = out.append
            for m in messages:
                send(m)
                append(drain())
            return out

        @staticmethod
        def wire(result) -> bytes:
            return b"".join(result)

    def server_handshake(requests):
        out = []
        append = out.append
        for req in requests:
            conn = Server()
            conn.receive_data(req)
            append(conn.data_to_send())
        return out

    def client_handshake(count, key, response):
        out = []
        append = out.append
        with _patched(conn_mod, "generate_key", lambda: key):
            for _ in range(count):
                conn = Client("bench.example", "/chat")
                req = conn.data_to_send()
                conn.receive_data(response)
                append((req, conn.events()))
        return out

    return dict(
        receiver=Receiver,
        sender=Sender,
        server_handshake=server_handshake,
        client_handshake=client_handshake,
        client_opened=lambda item: [type(e).__name__ for e in item[1]] == ["Connected"],
    )


def response_for(request: bytes) -> bytes:
    """The 101 a server gives ``request`` (reference, independent of wsframe)."""
    import base64
    import hashlib
    import re

    key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)\s*$", request).group(1)
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


# ---------------------------------------------------------------------------
# websockets: the sans-I/O ServerProtocol / ClientProtocol
# ---------------------------------------------------------------------------


def websockets_ops() -> dict:
    server_mod = importlib.import_module("websockets.server")
    client_mod = importlib.import_module("websockets.client")
    protocol_mod = importlib.import_module("websockets.protocol")
    frames_mod = importlib.import_module("websockets.frames")
    uri_mod = importlib.import_module("websockets.uri")
    ServerProtocol, ClientProtocol = server_mod.ServerProtocol, client_mod.ClientProtocol
    OPEN = protocol_mod.State.OPEN
    TEXT, BINARY = frames_mod.Opcode.TEXT, frames_mod.Opcode.BINARY
    uri = uri_mod.parse_uri("ws://bench.example/chat")
    request = UPGRADE_HEAD.format(key="dGhlIHNhbXBsZSBub25jZQ==").encode()

    def open_server():
        p = ServerProtocol()
        p.receive_data(request)
        (req,) = p.events_received()
        p.send_response(p.accept(req))
        p.data_to_send()
        assert p.state is OPEN, "websockets server did not open"
        return p

    class Receiver:
        """receive_data + events_received; text frames decoded as websockets'
        I/O layer does (its sans-I/O layer delivers frames, data as bytes)."""

        def new(self):
            return open_server()

        def _chunk(self, p, chunk):
            p.receive_data(chunk)
            out = []
            append = out.append
            for frame in p.events_received():
                if frame.opcode is TEXT:
                    append(frame.data.decode())
                elif frame.opcode is BINARY:
                    append(frame.data)
            return out

        def receive(self, p, chunks):
            n = 0
            one = self._chunk
            for chunk in chunks:
                n += len(one(p, chunk))
            return n

        def collect(self, p, chunks):
            return [m for chunk in chunks for m in self._chunk(p, chunk)]

    class Sender:
        """Protocol.send_text(str.encode()) / send_binary, then data_to_send(), per message."""

        def __init__(self, client: bool) -> None:
            self._client = client

        def new(self):
            if self._client:
                p = ClientProtocol(uri)
                p.send_request(p.connect())
                p.receive_data(response_for(b"".join(p.data_to_send())))
                p.events_received()
                assert p.state is OPEN
                return p
            return open_server()

        def send_text(self, p, messages):
            send, drain = p.send_text, p.data_to_send
            out: list = []
            extend = out.extend
            for m in messages:
                send(m.encode())
                extend(drain())
            return out

        def send_binary(self, p, messages):
            send, drain = p.send_binary, p.data_to_send
            out: list = []
            extend = out.extend
            for m in messages:
                send(m)
                extend(drain())
            return out

        @staticmethod
        def wire(result) -> bytes:
            return b"".join(result)

    def server_handshake(requests):
        out = []
        append = out.append
        for req in requests:
            p = ServerProtocol()
            p.receive_data(req)
            (r,) = p.events_received()
            p.send_response(p.accept(r))
            append(b"".join(p.data_to_send()))
        return out

    def client_handshake(count, key, response):
        out = []
        append = out.append
        with _patched(client_mod, "generate_key", lambda: key):
            for _ in range(count):
                p = ClientProtocol(uri)
                p.send_request(p.connect())
                req = b"".join(p.data_to_send())
                p.receive_data(response)
                append((req, p.events_received(), p.state))
        return out

    return dict(
        receiver=Receiver,
        sender=Sender,
        server_handshake=server_handshake,
        client_handshake=client_handshake,
        client_opened=lambda item: item[2] is OPEN and [type(e).__name__ for e in item[1]] == ["Response"],
    )


# ---------------------------------------------------------------------------
# wsproto: WSConnection (h11) for handshakes, the h11-free Connection after it
# ---------------------------------------------------------------------------


def wsproto_ops() -> dict:
    wsproto = importlib.import_module("wsproto")
    conn_mod = importlib.import_module("wsproto.connection")
    ev = importlib.import_module("wsproto.events")
    hs_mod = importlib.import_module("wsproto.handshake")
    WSConnection, Connection, ConnectionType = wsproto.WSConnection, conn_mod.Connection, conn_mod.ConnectionType
    TextMessage, Message = ev.TextMessage, ev.Message
    Request, AcceptConnection = ev.Request, ev.AcceptConnection

    class Receiver:
        """wsproto.connection.Connection(SERVER) (no h11: the state after the
        handshake); events() yields message pieces (message_finished=False
        when a frame was cut by a chunk boundary): joined into messages."""

        def new(self):
            return Connection(ConnectionType.SERVER), []  # (connection, pieces of the current message)

        @staticmethod
        def _chunk(state, chunk):
            conn, parts = state
            conn.receive_data(chunk)
            out = []
            append = out.append
            for e in conn.events():
                if e.message_finished:
                    if parts:
                        parts.append(e.data)
                        append(("" if isinstance(e, TextMessage) else b"").join(parts))
                        parts.clear()
                    else:
                        append(e.data)
                else:
                    parts.append(e.data)
            return out

        def receive(self, state, chunks):
            n = 0
            one = self._chunk
            for chunk in chunks:
                n += len(one(state, chunk))
            return n

        def collect(self, state, chunks):
            return [m for chunk in chunks for m in self._chunk(state, chunk)]

    class Sender:
        """Connection.send(Message(data=...)) -> bytes per message."""

        def __init__(self, client: bool) -> None:
            self._type = ConnectionType.CLIENT if client else ConnectionType.SERVER

        def new(self):
            return Connection(self._type)

        def send_text(self, conn, messages):
            send = conn.send
            return [send(Message(data=m)) for m in messages]

        send_binary = send_text

        @staticmethod
        def wire(result) -> bytes:
            return b"".join(result)

    def server_handshake(requests):
        out = []
        append = out.append
        for req in requests:
            ws = WSConnection(ConnectionType.SERVER)
            ws.receive_data(req)
            for e in ws.events():
                if isinstance(e, Request):
                    append(ws.send(AcceptConnection()))
        return out

    def client_handshake(count, key, response):
        out = []
        append = out.append
        bkey = key.encode()  # wsproto's nonce is bytes
        with _patched(hs_mod, "generate_nonce", lambda: bkey):
            for _ in range(count):
                ws = WSConnection(ConnectionType.CLIENT)
                req = ws.send(Request(host="bench.example", target="/chat"))
                ws.receive_data(response)
                append((req, list(ws.events())))
        return out

    def _opened(item):
        return [type(e).__name__ for e in item[1]] == ["AcceptConnection"]

    return dict(
        receiver=Receiver,
        sender=Sender,
        server_handshake=server_handshake,
        client_handshake=client_handshake,
        client_opened=_opened,
    )


# ---------------------------------------------------------------------------
# aiohttp: WebSocketReader (messages in its queue) and WebSocketWriter
# ---------------------------------------------------------------------------


def aiohttp_ops(reader_factory, writer_factory, fake_transport_cls) -> dict:
    """``reader_factory()`` -> (reader, queue); ``writer_factory(client, tr)`` -> writer."""
    TEXT, BINARY = 1, 2

    class Receiver:
        """WebSocketReader.feed_data: text messages decoded by aiohttp, queued
        as WSMessage in its WebSocketDataQueue."""

        def new(self):
            return reader_factory()

        def receive(self, state, chunks):
            # After each chunk the queued messages are taken at once (the
            # cheapest consumer: no per-message read() call), counted, dropped.
            # (The queue's byte count is left growing: its limit is 1 GiB.)
            reader, queue = state
            feed = reader.feed_data
            buf = queue._buffer
            n = 0
            for chunk in chunks:
                feed(chunk)
                n += len(buf)
                buf.clear()
            return n

        def collect(self, state, chunks):
            reader, queue = state
            for chunk in chunks:
                reader.feed_data(chunk)
            if queue.exception() is not None:
                raise AssertionError(f"aiohttp reader failed: {queue.exception()!r}")
            return [msg.data for msg, _size in queue._buffer]

    def _drive(coro):
        # send_frame is a coroutine that completes without suspending when the
        # transport is not paused (no compression): run it without a loop.
        try:
            coro.send(None)
        except StopIteration:
            return
        coro.close()
        raise AssertionError("aiohttp send_frame suspended")

    class Sender:
        """WebSocketWriter.send_frame (what send_str/send_bytes await), driven
        without an event loop; text encoded first, as send_str does."""

        def __init__(self, client: bool) -> None:
            self._client = client

        def new(self):
            tr = fake_transport_cls()
            return writer_factory(self._client, tr), tr

        def send_text(self, state, messages):
            writer, tr = state
            tr.out.clear()
            send = writer.send_frame
            for m in messages:
                _drive(send(m.encode("utf-8"), TEXT))
            return tr.out

        def send_binary(self, state, messages):
            writer, tr = state
            tr.out.clear()
            send = writer.send_frame
            for m in messages:
                _drive(send(m, BINARY))
            return tr.out

        @staticmethod
        def wire(result) -> bytes:
            return b"".join(result)

    return dict(receiver=Receiver, sender=Sender)


# ---------------------------------------------------------------------------
# picows: WSProtocol/WSTransport over a fake transport (see peers.py)
# ---------------------------------------------------------------------------


def picows_ops(open_server, feed, new_transport, msg_types) -> dict:
    """``open_server(listener_cls)`` -> protocol past the upgrade;
    ``feed(proto, chunks)``; ``new_transport(client)`` -> (WSTransport, fake)."""
    import picows.picows as core

    TEXT, BINARY = msg_types.TEXT, msg_types.BINARY

    class Receiver:
        """on_ws_frame delivering text as str (get_payload_as_utf8_text) and
        binary as bytes; the input has no fragments (fin on every frame)."""

        def new(self):
            out: list = []
            append = out.append

            class Listener(core.WSListener):
                def on_ws_frame(self, transport, frame):
                    if frame.msg_type == TEXT:
                        append(frame.get_payload_as_utf8_text())
                    else:
                        append(frame.get_payload_as_bytes())

            return open_server(Listener), out

        def receive(self, state, chunks):
            proto, out = state
            n = 0
            for chunk in chunks:
                feed(proto, (chunk,))
                n += len(out)
                out.clear()
            return n

        def collect(self, state, chunks):
            proto, out = state
            feed(proto, chunks)
            return list(out)

    class Sender:
        """WSTransport.send(TEXT, str.encode()) / send(BINARY, bytes)."""

        def __init__(self, client: bool) -> None:
            self._client = client

        def new(self):
            return new_transport(self._client)

        def send_text(self, state, messages):
            transport, tr = state
            tr.out.clear()
            send = transport.send
            for m in messages:
                send(TEXT, m.encode())
            return tr.out

        def send_binary(self, state, messages):
            transport, tr = state
            tr.out.clear()
            send = transport.send
            for m in messages:
                send(BINARY, m)
            return tr.out

        @staticmethod
        def wire(result) -> bytes:
            return b"".join(result)

    return dict(receiver=Receiver, sender=Sender)


def expected_accept(request: bytes) -> bytes:
    """The Sec-WebSocket-Accept value a correct 101 carries for ``request``."""
    resp = response_for(request)
    return resp.split(b"Sec-WebSocket-Accept: ", 1)[1].split(b"\r\n", 1)[0]


def header_values(response: bytes, name: bytes) -> List[bytes]:
    out = []
    for line in response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower():
            out.append(v.strip())
    return out
