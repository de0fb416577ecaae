"""No exception text on the wire: an exception raised inside the library or an
extension closes the connection with a fixed reason, and the exception stays
with the application (the Closed event's error and its __cause__)."""

from __future__ import annotations

import importlib
import zlib

import pytest

from wsframe.codec import FrameParser, build_frame
from wsframe.enums import State
from wsframe.events import Closed
from wsframe.exceptions import ConnectionClosedError, ProtocolError, closed_exception
from wsframe.extensions import ClientExtensionFactory, Extension, ServerExtensionFactory
from wsframe.permessage_deflate import ClientPerMessageDeflate, ServerPerMessageDeflate

SECRET = "secret-7f3a internal detail /etc/passwd"


def _modules():
    """The connection implementations: the pure-Python source and, when built, the compiled one."""
    out = []
    for name, ident in (("wsframe._upgrade", "python"), ("wsframe._upgrade_c", "c")):
        try:
            out.append(pytest.param(importlib.import_module(name), id=ident))
        except ImportError:
            out.append(pytest.param(None, id=ident, marks=pytest.mark.skip(reason=f"{name} not built")))
    return out


@pytest.fixture(params=_modules())
def mod(request):
    return request.param


class Leaky(Extension):
    """An extension whose decode raises an exception carrying a secret."""

    name = "x-leaky"
    rsv_bits = 0x40

    def decode(self, opcode, payload, rsv, fin, max_size):
        raise RuntimeError(SECRET)


def _pair(mod, server_factories=(), client_factories=()):
    client = mod.ClientConnection("example.com", "/", extensions=list(client_factories))
    server = mod.ServerConnection(extensions=list(server_factories))
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.events()
    client.events()
    return server, client


def _factories(ext_cls):
    class S(ServerExtensionFactory):
        name = ext_cls.name

        def accept_offer(self, params, accepted):
            return [], ext_cls()

    class C(ClientExtensionFactory):
        name = ext_cls.name

        def offers(self):
            return [[]]

        def accept_response(self, params, accepted):
            return ext_cls()

    return S(), C()


def _close_frame(out, masked=False):
    frames = FrameParser(masked, None).feed(out)
    assert frames[-1].opcode == 8
    payload = bytes(frames[-1].payload)
    return int.from_bytes(payload[:2], "big"), payload[2:]


def _assert_no_secret(out: bytes):
    for part in ("secret", "7f3a", "passwd", "RuntimeError"):
        assert part.encode() not in bytes(out)


def test_extension_exception_text_stays_off_the_wire(mod):
    s, c = _factories(Leaky)
    server, _ = _pair(mod, [s], [c])
    assert server.state is State.OPEN
    server.receive_data(build_frame(1, b"hi", rsv1=True, client=True))
    out = server.data_to_send()
    code, reason = _close_frame(out)
    assert (code, reason) == (1011, b"internal error")
    _assert_no_secret(out)
    closed = server.events()[-1]
    assert isinstance(closed, Closed) and closed.code == 1011 and closed.reason == "internal error"
    # The application and the logs still see what happened.
    assert isinstance(closed.error, ProtocolError)
    assert isinstance(closed.error.__cause__, RuntimeError) and str(closed.error.__cause__) == SECRET
    exc = closed_exception(closed.code, closed.reason, closed.error)
    assert isinstance(exc, ConnectionClosedError)
    assert exc.__cause__ is closed.error and exc.__cause__.__cause__ is closed.error.__cause__


def test_client_side_extension_exception_text_stays_off_the_wire(mod):
    s, c = _factories(Leaky)
    server, client = _pair(mod, [s], [c])
    client.receive_data(build_frame(2, b"x", rsv1=True))
    out = client.data_to_send()
    assert _close_frame(out, masked=True) == (1011, b"internal error")
    _assert_no_secret(out)
    assert str(client.events()[-1].error.__cause__) == SECRET


def test_internal_exception_text_stays_off_the_wire():
    # A bug in the library itself (here: the parser raising something other
    # than a ProtocolError) is caught by receive_data; only the pure-Python
    # connection lets a test swap its parser.
    mod = importlib.import_module("wsframe._upgrade")
    server, _ = _pair(mod)

    class Broken:
        buffered = 0

        def feed(self, data):
            raise KeyError(SECRET)

    server._parser = Broken()
    server.receive_data(b"\x81\x80abcd")
    out = server.data_to_send()
    assert _close_frame(out) == (1011, b"internal error")
    _assert_no_secret(out)
    closed = server.events()[-1]
    assert isinstance(closed.error.__cause__, KeyError) and SECRET in str(closed.error.__cause__)


def test_handshake_exception_text_stays_off_the_wire(mod):
    class Exploding(ServerExtensionFactory):
        name = "x-leaky"

        def accept_offer(self, params, accepted):
            raise RuntimeError(SECRET)

    _, c = _factories(Leaky)
    client = mod.ClientConnection("example.com", "/", extensions=[c])
    server = mod.ServerConnection(extensions=[Exploding()])
    server.receive_data(client.data_to_send())
    out = server.data_to_send()
    assert out.startswith(b"HTTP/1.1 500 ")
    _assert_no_secret(out)
    closed = server.events()[-1]
    assert isinstance(closed, Closed) and closed.reason == "internal error"
    assert isinstance(closed.error, RuntimeError) and str(closed.error) == SECRET


def test_zlib_error_text_stays_off_the_wire(mod):
    server, client = _pair(mod, [ServerPerMessageDeflate()], [ClientPerMessageDeflate()])
    assert server.extensions and server.extensions[0].name == "permessage-deflate"
    bad = b"\xff\xff\xff\xff garbage that is no deflate stream"
    server.receive_data(build_frame(2, bad, rsv1=True, client=True))
    out = server.data_to_send()
    code, reason = _close_frame(out)
    assert (code, reason) == (1002, b"invalid compressed data")
    assert b"Error" not in out and b"while" not in out  # zlib's "Error -3 while decompressing data: ..."
    closed = server.events()[-1]
    assert isinstance(closed.error.__cause__, zlib.error)
