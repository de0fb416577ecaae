"""Contract, every server and client layer: nothing internal reaches the wire. An exception raised
by the application, by an extension or inside permessage-deflate closes the connection with a
fixed reason; its text is in no close frame and no HTTP error body the peer receives."""

from __future__ import annotations

import time
import zlib

import pytest
from _clients import ScriptedServer
from _servers import Handler
from _wire import S

from wsframe.codec import FrameParser, build_frame
from wsframe.enums import Opcode
from wsframe.exceptions import ConnectionClosedError
from wsframe.extensions import ClientExtensionFactory, Extension, ServerExtensionFactory

SECRET = "s3cret-token /srv/app/config.py line 42"


class Leaky(Extension):
    """An extension whose decoder fails with a message that must stay private."""

    name = "x-leaky"
    rsv_bits = 0

    def decode(self, opcode, payload, rsv, fin, max_size):
        raise ValueError(SECRET)


class LeakyServer(ServerExtensionFactory):
    name = "x-leaky"

    def accept_offer(self, params, accepted):
        return [], Leaky()


class LeakyClient(ClientExtensionFactory):
    name = "x-leaky"

    def offers(self):
        return [[]]

    def accept_response(self, params, accepted):
        return Leaky()


def _everything_sent(port: int, frame: bytes, extra: str = "", upgraded: bool = True) -> bytes:
    """Open a connection, send ``frame``, answer the server's close frame, and return every byte
    the server sent until EOF (the response head included)."""
    s = S.socket.create_connection(("127.0.0.1", port), timeout=5)
    with s:
        s.sendall(S.upgrade_request(f"127.0.0.1:{port}", "/", extra))
        data = S.recv_until(s, b"\r\n\r\n")
        assert b"\r\n\r\n" in data, data
        if upgraded:
            assert data.startswith(b"HTTP/1.1 101"), data
        parser = FrameParser(server=False, max_frame_size=None)
        frames = list(parser.feed(data.partition(b"\r\n\r\n")[2])) if data.startswith(b"HTTP/1.1 101") else None
        try:
            s.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + 5
        answered = False
        while time.monotonic() < deadline:
            if frames is not None and not answered and any(f.opcode == Opcode.CLOSE for f in frames):
                s.sendall(build_frame(Opcode.CLOSE, b"", client=True))  # answer it: the server ends at once
                answered = True
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if frames is not None:
                frames += parser.feed(chunk)
        else:
            raise AssertionError(f"the server did not end the connection: {data!r}")
    return data


@pytest.mark.parametrize("kind", ["raise", "raise-at-once"])
def test_an_application_exception_is_not_on_the_wire(start, kind):
    with start(Handler(kind, message=SECRET)) as server:
        data = _everything_sent(server.port, build_frame(Opcode.TEXT, b"go", client=True), upgraded=False)
        assert data.startswith(b"HTTP/1.1 "), data[:100]
        assert SECRET.encode() not in data and b"RuntimeError" not in data, data


def test_an_extension_exception_is_not_on_the_wire(start):
    with start(extensions=[LeakyServer()]) as server:
        data = _everything_sent(server.port, build_frame(Opcode.TEXT, b"go", client=True),
                                "Sec-WebSocket-Extensions: x-leaky\r\n")
        assert b"x-leaky" in data.partition(b"\r\n\r\n")[0]  # negotiated
        assert SECRET.encode() not in data and b"ValueError" not in data, data


def test_a_deflate_error_carries_no_zlib_text(start):
    garbage = b"\xff\xff\xff\xff\xff"
    with pytest.raises(zlib.error) as local:
        zlib.decompressobj(-15).decompress(garbage + b"\x00\x00\xff\xff")
    zlib_text = str(local.value).encode()  # e.g. "Error -3 while decompressing data: invalid block type"
    with start(compression=True) as server:
        frame = bytearray(build_frame(Opcode.BINARY, garbage, client=True))
        frame[0] |= 0x40  # RSV1: compressed
        data = _everything_sent(server.port, bytes(frame), "Sec-WebSocket-Extensions: permessage-deflate\r\n")
        assert b"permessage-deflate" in data.partition(b"\r\n\r\n")[0]
        assert zlib_text not in data and b"Error -3" not in data, data


def test_a_client_extension_exception_is_not_on_the_wire(client_layer):
    def answer(key: str) -> bytes:
        from wsframe.handshake import accept_key

        return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Extensions: x-leaky\r\nSec-WebSocket-Accept: " + accept_key(key).encode()
                + b"\r\n\r\n")

    server = ScriptedServer(lambda conn: conn.sendall(build_frame(Opcode.TEXT, b"hi")), response=answer)
    ws = client_layer(server.url, extensions=[LeakyClient()], close_timeout=2)
    try:
        with pytest.raises(ConnectionClosedError) as exc:
            ws.recv(5)
        assert exc.value.code == 1011
    finally:
        ws.close()
    code, reason = server.close_frame()
    assert code == 1011
    assert SECRET not in reason and "ValueError" not in reason, reason
