"""Opening handshake: parsing, validation, rejections, client checks, extension negotiation."""

from __future__ import annotations

import base64

import pytest

from wsframe.connection import ClientConnection, ServerConnection, State
from wsframe.codec import build_frame
from wsframe.events import BinaryMessage, Closed, Connected, Rejected, Request, TextMessage
from wsframe.exceptions import ConnectionStateError, InvalidHandshake, InvalidStatus
from wsframe.extensions import ClientExtensionFactory, Extension, NegotiationError, ServerExtensionFactory
from wsframe.handshake import (
    HeadReader,
    accept_key,
    build_extension_header,
    build_request,
    parse_extension_header,
    parse_request,
    parse_response,
    validate_request,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def request_bytes(*, method="GET", target="/chat", version="HTTP/1.1", headers=None, drop=(), extra=()):
    fields = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    if headers:
        fields.update(headers)
    lines = [f"{method} {target} {version}"]
    lines += [f"{k}: {v}" for k, v in fields.items() if k not in drop]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def rejected(data: bytes, **kwargs):
    """Feed a request to a server; return (status, response bytes, events)."""
    server = ServerConnection(**kwargs)
    server.receive_data(data)
    out = server.data_to_send()
    events = server.events()
    assert server.state is State.CLOSED
    assert server.should_close_transport
    assert isinstance(events[-1], Closed) and events[-1].code == 1006
    assert isinstance(events[-2], Rejected)
    assert events[-2].status == status_of(out)
    return status_of(out), out, events


def test_accept_key_rfc_example():
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_server_accepts_valid_request():
    server = ServerConnection()
    server.receive_data(request_bytes())
    out = server.data_to_send()
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in out
    assert b"\r\nUpgrade: websocket\r\n" in out and b"\r\nConnection: Upgrade\r\n" in out
    assert out.endswith(b"\r\n\r\n")
    events = server.events()
    assert [type(e) for e in events] == [Request, Connected]
    assert events[0].request.path == "/chat"
    assert events[0].request.host == "server.example.com"
    assert server.request is events[0].request
    assert server.state is State.OPEN


@pytest.mark.parametrize("client_first", [False, True])
def test_handshake_one_byte_at_a_time(client_first):
    client = ClientConnection("example.com:8080", "/a?b=c", origin="http://example.com", subprotocols=["x", "y"])
    server = ServerConnection(subprotocols=["y"])
    req = client.data_to_send()
    for i in range(len(req)):
        assert server.state is State.CONNECTING
        assert server.data_to_send() == b""
        server.receive_data(req[i : i + 1])
    assert server.state is State.OPEN
    assert server.request.origin == "http://example.com"
    assert server.request.path == "/a?b=c"
    resp = server.data_to_send()
    for i in range(len(resp)):
        assert client.state is State.CONNECTING
        client.receive_data(resp[i : i + 1])
    assert client.state is State.OPEN
    assert client.events() == [Connected("y", [])]
    assert client.subprotocol == server.subprotocol == "y"
    assert client.response.status == 101


def test_bytes_after_request_are_frames():
    frame = build_frame(1, b"early", client=True)
    server = ServerConnection()
    server.receive_data(request_bytes() + frame + frame[:3])
    server.receive_data(frame[3:])
    events = server.events()
    assert events[1:] == [Connected(None, []), TextMessage("early"), TextMessage("early")]


def test_bytes_after_response_are_frames():
    client = ClientConnection("h")
    server = ServerConnection()
    server.receive_data(client.data_to_send())
    server.send_text("hi")
    client.receive_data(server.data_to_send())
    assert client.events() == [Connected(None, []), TextMessage("hi")]


def test_absolute_form_target():
    req = parse_request(request_bytes(target="ws://server.example.com/chat?x=1"))
    assert req.path == "/chat?x=1"


@pytest.mark.parametrize(
    "data, reason_part",
    [
        (request_bytes(method="POST"), b"GET"),
        (request_bytes(version="HTTP/1.0"), b"HTTP/1.1"),
        (request_bytes(version="HTTP/2.0"), b"HTTP/1.1"),
        (request_bytes(drop=["Host"]), b"Host"),
        (request_bytes(extra=[("Host", "other")]), b"Host"),
        (request_bytes(drop=["Upgrade"]), b"Upgrade"),
        (request_bytes(headers={"Upgrade": "h2c"}), b"Upgrade"),
        (request_bytes(drop=["Connection"]), b"Connection"),
        (request_bytes(headers={"Connection": "keep-alive"}), b"Connection"),
        (request_bytes(drop=["Sec-WebSocket-Key"]), b"Sec-WebSocket-Key"),
        (request_bytes(headers={"Sec-WebSocket-Key": "abc"}), b"Sec-WebSocket-Key"),
        (request_bytes(headers={"Sec-WebSocket-Key": base64.b64encode(b"x" * 15).decode()}), b"16 bytes"),
        (request_bytes(headers={"Sec-WebSocket-Key": "!" * 24}), b"16 bytes"),
        (request_bytes(extra=[("Sec-WebSocket-Key", KEY)]), b"Sec-WebSocket-Key"),
        (request_bytes(extra=[("Content-Length", "5")]), b"body"),
        (request_bytes(extra=[("Transfer-Encoding", "chunked")]), b"body"),
        (request_bytes(extra=[("Sec-WebSocket-Extensions", "a; b=\"c d\"")]), b"Extensions"),
        (request_bytes(extra=[("Sec-WebSocket-Extensions", "a;;")]), b"Extensions"),
        (request_bytes(extra=[("Sec-WebSocket-Protocol", "a b")]), b"Protocol"),
        (b"GET /chat HTTP/1.1\r\nHost : x\r\n\r\n", b"header name"),
        (b"GET /chat HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", b"folding"),
        (b"GET /chat HTTP/1.1\r\nHost x\r\n\r\n", b"colon"),
        (b"GET /chat HTTP/1.1\r\nHost: a\x00b\r\n\r\n", b"invalid character"),
        (b"GET /chat HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", b"bare"),
        (b"GET /chat HTTP/1.1\nHost: a\n\n", b"bare LF"),
        (b"GET  /chat HTTP/1.1\r\nHost: a\r\n\r\n", b"request line"),
        (b"GET chat HTTP/1.1\r\nHost: a\r\n\r\n", b"target"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"request line"),
    ],
)
def test_rejected_400_with_reason_in_body(data, reason_part):
    status, out, events = rejected(data)
    assert status == 400
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(body) in head
    assert reason_part.lower() in body.lower()
    assert isinstance(events[-1].error, InvalidHandshake) and events[-1].error.status == 400


@pytest.mark.parametrize("version", ["8", "14", "13, 8", None])
def test_rejected_426_wrong_version(version):
    if version is None:
        data = request_bytes(drop=["Sec-WebSocket-Version"])
    else:
        data = request_bytes(headers={"Sec-WebSocket-Version": version})
    status, out, _ = rejected(data)
    assert status == 426
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in out


@pytest.mark.parametrize(
    "origin, allowed",
    [("http://evil.example", ["http://good.example"]), (None, ["http://good.example"])],
)
def test_rejected_403_origin(origin, allowed):
    extra = [("Origin", origin)] if origin else []
    status, _, _ = rejected(request_bytes(extra=extra), allowed_origins=allowed)
    assert status == 403


def test_origin_allow_list_accepts():
    server = ServerConnection(allowed_origins=["http://good.example"])
    server.receive_data(request_bytes(extra=[("Origin", "http://good.example")]))
    assert server.state is State.OPEN
    server = ServerConnection(allowed_origins=["http://good.example", None])
    server.receive_data(request_bytes())
    assert server.state is State.OPEN


def test_rejected_431_header_block_too_large():
    data = request_bytes(extra=[("X-Big", "a" * 17000)])
    status, _, _ = rejected(data)
    assert status == 431


def test_rejected_431_detected_before_end_of_head():
    server = ServerConnection(max_header_size=1000)
    server.receive_data(b"GET / HTTP/1.1\r\nX: " + b"a" * 1001)
    assert status_of(server.data_to_send()) == 431
    assert server.state is State.CLOSED


def test_rejected_431_too_many_headers():
    data = request_bytes(extra=[(f"X-H{i}", "v") for i in range(124)])  # 5 + 124 = 129
    status, _, _ = rejected(data)
    assert status == 431
    ok = ServerConnection()
    ok.receive_data(request_bytes(extra=[(f"X-H{i}", "v") for i in range(123)]))  # exactly 128
    assert ok.state is State.OPEN


def test_header_limits_configurable():
    status, _, _ = rejected(request_bytes(), max_headers=4)
    assert status == 431
    status, _, _ = rejected(request_bytes(), max_header_size=50)
    assert status == 431


def test_connection_and_upgrade_token_lists_case_insensitive():
    server = ServerConnection()
    server.receive_data(request_bytes(headers={"Connection": "keep-alive, UPGRADE", "Upgrade": "WebSocket"}))
    assert server.state is State.OPEN


def test_data_after_rejection_ignored():
    server = ServerConnection()
    server.receive_data(request_bytes(method="PUT"))
    server.data_to_send()
    server.events()
    server.receive_data(b"more")
    assert server.data_to_send() == b"" and server.events() == []


def test_manual_accept_and_subprotocol_preference():
    client = ClientConnection("h", subprotocols=["chat", "superchat"])
    server = ServerConnection(subprotocols=["superchat", "chat"], auto_accept=False)
    server.receive_data(client.data_to_send() + build_frame(2, b"x", client=True))
    events = server.events()
    assert [type(e) for e in events] == [Request]
    assert events[0].request.subprotocols == ["chat", "superchat"]
    assert server.data_to_send() == b""
    server.accept(extra_headers=[("X-Hello", "1")])
    out = server.data_to_send()
    assert b"Sec-WebSocket-Protocol: superchat\r\n" in out and b"X-Hello: 1\r\n" in out
    assert server.events() == [Connected("superchat", []), BinaryMessage(b"x")]
    client.receive_data(out)
    assert client.subprotocol == "superchat"
    with pytest.raises(ConnectionStateError):
        server.accept()


def test_accept_explicit_subprotocol_and_errors():
    client = ClientConnection("h", subprotocols=["a", "b"])
    server = ServerConnection(auto_accept=False)
    server.receive_data(client.data_to_send())
    with pytest.raises(ValueError):
        server.accept("c")
    with pytest.raises(ValueError):
        server.accept("b", extra_headers=[("X-Bad", "a\r\nInjected: 1")])
    assert server.state is State.CONNECTING
    server.accept("b")
    client.receive_data(server.data_to_send())
    assert client.subprotocol == "b"


def test_no_common_subprotocol_means_none():
    client = ClientConnection("h", subprotocols=["a"])
    server = ServerConnection(subprotocols=["b"])
    server.receive_data(client.data_to_send())
    out = server.data_to_send()
    assert b"Sec-WebSocket-Protocol" not in out
    client.receive_data(out)
    assert client.state is State.OPEN and client.subprotocol is None


def test_manual_reject():
    from wsframe.exceptions import ConnectionStateError

    server = ServerConnection(auto_accept=False)
    with pytest.raises(ConnectionStateError):
        server.reject(403)
    server.receive_data(request_bytes())
    server.events()
    server.reject(404, "no such room", extra_headers=[("X-Why", "gone")])
    out = server.data_to_send()
    assert out.startswith(b"HTTP/1.1 404 Not Found\r\n") and out.endswith(b"\r\n\r\nno such room")
    assert b"X-Why: gone" in out
    assert server.events() == [Rejected(404, "no such room"), Closed(1006, "no such room", None)]
    assert server.should_close_transport
    with pytest.raises(ConnectionStateError):
        server.accept()


# -- client side -----------------------------------------------------------------


def server_response(client, mutate=None, status_line="HTTP/1.1 101 Switching Protocols"):
    key = parse_request(client.data_to_send()).key
    fields = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": accept_key(key),
    }
    if mutate:
        mutate(fields)
    lines = [status_line] + [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def run_client(mutate=None, status_line="HTTP/1.1 101 Switching Protocols", body=b"", **kwargs):
    client = ClientConnection("h", **kwargs)
    resp = server_response(client, mutate, status_line)
    client.receive_data(resp + body)
    return client, client.events()


def test_client_request_format():
    client = ClientConnection("example.com", "/p", origin="https://o", subprotocols=["a", "b"], extra_headers=[("Authorization", "x")])
    req = parse_request(client.data_to_send())
    assert validate_request(req) == req.key
    assert req.headers["Origin"] == "https://o"
    assert req.subprotocols == ["a", "b"]
    assert req.headers["Authorization"] == "x"
    other = parse_request(ClientConnection("example.com").data_to_send())
    assert other.key != req.key


@pytest.mark.parametrize("bad", [("X", "a\r\nB: c"), ("Bad Name", "v"), ("X", "\x00")])
def test_client_rejects_header_injection(bad):
    with pytest.raises(ValueError):
        ClientConnection("h", extra_headers=[bad])
    with pytest.raises(ValueError):
        build_request("h", "/a b", KEY)


def test_client_non_101_is_rejected():
    client, events = run_client(status_line="HTTP/1.1 403 Forbidden", mutate=lambda f: f.update({"Content-Length": "4"}), body=b"nope!!")
    assert events[0] == Rejected(403, "Forbidden")
    assert isinstance(events[1], Closed) and isinstance(events[1].error, InvalidStatus)
    assert events[1].error.status == 403
    assert client.response.body == b"nope"
    assert client.state is State.CLOSED and client.should_close_transport


@pytest.mark.parametrize(
    "mutate, status_line",
    [
        (lambda f: f.update({"Sec-WebSocket-Accept": accept_key(KEY)}), None),
        (lambda f: f.pop("Sec-WebSocket-Accept"), None),
        (lambda f: f.pop("Upgrade"), None),
        (lambda f: f.update({"Connection": "close"}), None),
        (lambda f: f.update({"Sec-WebSocket-Protocol": "zzz"}), None),
        (lambda f: f.update({"Sec-WebSocket-Extensions": "permessage-deflate"}), None),
        (None, "HTTP/1.0 101 Switching Protocols"),
        (None, "HTTP/1.1 1O1 Switching"),
    ],
)
def test_client_invalid_101(mutate, status_line):
    client, events = run_client(mutate, status_line or "HTTP/1.1 101 Switching Protocols")
    assert len(events) == 1 and isinstance(events[0], Closed)
    assert type(events[0].error) is InvalidHandshake
    assert client.state is State.CLOSED and client.should_close_transport
    assert client.data_to_send() == b""  # no frame is sent before the handshake completed


def test_client_two_subprotocols_rejected():
    client, events = run_client(lambda f: f.update({"Sec-WebSocket-Protocol": "a, b"}), subprotocols=["a", "b"])
    assert isinstance(events[0].error, InvalidHandshake)


def test_client_response_head_too_big():
    client = ClientConnection("h", max_header_size=100)
    client.receive_data(b"HTTP/1.1 101 OK\r\nX: " + b"a" * 200)
    (event,) = client.events()
    assert isinstance(event.error, InvalidHandshake)


def test_client_eof_during_handshake():
    client = ClientConnection("h")
    client.receive_eof()
    (event,) = client.events()
    assert event.code == 1006 and isinstance(event.error, InvalidHandshake)
    server = ServerConnection()
    server.receive_data(b"GET / HT")
    server.receive_eof()
    assert server.events() == [Closed(1006, "connection closed during the opening handshake", None)]


def test_head_reader_pieces_and_rest():
    reader = HeadReader(100)
    assert reader.feed(b"HTTP/1.1 101 X\r\n\r") is None
    assert reader.feed(b"\nrest") == (b"HTTP/1.1 101 X\r\n\r\n", b"rest")
    resp = parse_response(b"HTTP/1.1 101 X\r\n\r\n")
    assert resp.status == 101 and resp.reason == "X"


def test_extension_header_round_trip():
    value = 'permessage-deflate; client_max_window_bits; server_max_window_bits="10", x-foo'
    items = parse_extension_header([value])
    assert items == [
        ("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")]),
        ("x-foo", []),
    ]
    assert parse_extension_header([build_extension_header(items)]) == items


# -- extension negotiation -----------------------------------------------------------


class Toy(Extension):
    __slots__ = ("params",)
    name = "x-toy"
    rsv_bits = 0x40

    def __init__(self, params):
        self.params = params


class ToyServer(ServerExtensionFactory):
    name = "x-toy"

    def accept_offer(self, params, accepted):
        if ("bad", None) in params:
            return None
        return params, Toy(params)


class ToyClient(ClientExtensionFactory):
    name = "x-toy"

    def __init__(self, offers):
        self._offers = offers

    def offers(self):
        return self._offers

    def accept_response(self, params, accepted):
        if ("refuse", None) in params:
            raise NegotiationError("unacceptable")
        return Toy(params)


def test_extension_negotiation_moves_to_next_offer():
    client = ClientConnection("h", extensions=[ToyClient([[("bad", None)], [("good", "1")]])])
    req = client.data_to_send()
    assert b"Sec-WebSocket-Extensions: x-toy; bad, x-toy; good=1\r\n" in req
    server = ServerConnection(extensions=[ToyServer()])
    server.receive_data(req)
    resp = server.data_to_send()
    assert b"Sec-WebSocket-Extensions: x-toy; good=1\r\n" in resp
    assert [e.params for e in server.extensions] == [[("good", "1")]]
    client.receive_data(resp)
    assert client.state is State.OPEN
    assert [e.params for e in client.extensions] == [[("good", "1")]]


def test_extension_all_offers_declined():
    client = ClientConnection("h", extensions=[ToyClient([[("bad", None)]])])
    server = ServerConnection(extensions=[ToyServer()])
    server.receive_data(client.data_to_send())
    resp = server.data_to_send()
    assert b"Sec-WebSocket-Extensions" not in resp
    client.receive_data(resp)
    assert client.state is State.OPEN and client.extensions == []


def test_extension_unknown_offer_ignored_by_server():
    server = ServerConnection(extensions=[ToyServer()])
    server.receive_data(request_bytes(extra=[("Sec-WebSocket-Extensions", "x-other; a=1")]))
    assert server.state is State.OPEN and server.extensions == []


def test_client_fails_on_refused_extension_answer():
    client, events = run_client(
        lambda f: f.update({"Sec-WebSocket-Extensions": "x-toy; refuse"}), extensions=[ToyClient([[]])]
    )
    assert isinstance(events[0].error, InvalidHandshake) and "unacceptable" in events[0].reason
    client, events = run_client(
        lambda f: f.update({"Sec-WebSocket-Extensions": "x-toy, x-toy"}), extensions=[ToyClient([[]])]
    )
    assert isinstance(events[0].error, InvalidHandshake)


def test_server_factory_bug_answers_500():
    class Buggy(ServerExtensionFactory):
        name = "x-toy"

        def accept_offer(self, params, accepted):
            raise RuntimeError("bug")

    server = ServerConnection(extensions=[Buggy()])
    server.receive_data(request_bytes(extra=[("Sec-WebSocket-Extensions", "x-toy")]))
    assert status_of(server.data_to_send()) == 500
    (event,) = server.events()[-1:]
    assert isinstance(event, Closed) and isinstance(event.error, RuntimeError)
    assert server.should_close_transport
