"""Edge cases of wsframe.handshake that the protocol tests do not reach: the Headers and message
types' equality and repr, malformed heads and request lines, and unsafe input to the builders."""

from __future__ import annotations

import pytest

from wsframe.exceptions import InvalidHandshake
from wsframe.handshake import (
    Headers,
    HeadReader,
    Request,
    Response,
    accept_key,
    build_extension_header,
    build_reject_response,
    build_request,
    parse_extension_header,
    parse_request,
    parse_response,
    validate_response,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def test_headers_mapping_equality_and_repr():
    h = Headers([("A", "1"), ("b", "2"), ("a", "3")])
    assert len(h) == 3 and h.items() == [("A", "1"), ("b", "2"), ("a", "3")]
    assert h["a"] == "1" and h.get_all("A") == ["1", "3"]
    with pytest.raises(KeyError):
        h["missing"]
    assert h == Headers([("A", "1"), ("b", "2"), ("a", "3")])
    assert h != Headers([("A", "1")])
    assert h != [("A", "1"), ("b", "2"), ("a", "3")]  # not a Headers
    assert repr(h) == "Headers([('A', '1'), ('b', '2'), ('a', '3')])"


def test_request_and_response_equality_and_repr():
    r = Request("GET", "/x", Headers([("Host", "h")]))
    assert r == Request("GET", "/x", Headers([("Host", "h")]))
    assert r != Request("GET", "/y", Headers([("Host", "h")])) and r != "GET /x"
    assert repr(r) == "Request('GET', '/x', Headers([('Host', 'h')]))"
    resp = Response(404, "Not Found", Headers(), b"b" * 100)
    assert resp == Response(404, "Not Found", Headers(), b"b" * 100)
    assert resp != Response(404, "Not Found", Headers()) and resp != 404
    assert repr(resp) == "Response(404, 'Not Found', Headers([]), body=" + repr(b"b" * 64) + ")"


def test_head_reader_refuses_bytes_after_the_head():
    reader = HeadReader()
    assert reader.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nrest") == (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"rest")
    with pytest.raises(RuntimeError):
        reader.feed(b"more")


@pytest.mark.parametrize(
    "head, reason",
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\n", "incomplete HTTP request head"),
        (b"GET / HTTP/1.1\r\n\r\nHost: h\r\n\r\n", "empty header line"),
        (b"GET / \rHTTP/1.1\r\nHost: h\r\n\r\n", "bare CR or LF in HTTP head"),
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "malformed request method"),
        (b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", "malformed request target"),
    ],
    ids=["incomplete", "empty-line", "bare-cr-in-start-line", "bad-method", "bad-target"],
)
def test_malformed_request_heads(head, reason):
    with pytest.raises(InvalidHandshake) as exc:
        parse_request(head)
    assert exc.value.status == 400 and reason in str(exc.value), exc.value


def test_absolute_form_target_without_a_path_is_the_root():
    assert parse_request(b"GET ws://example.test HTTP/1.1\r\nHost: h\r\n\r\n").path == "/"
    assert parse_request(b"GET ws://example.test?q=1 HTTP/1.1\r\nHost: h\r\n\r\n").path == "/?q=1"


def test_builders_refuse_unsafe_input():
    with pytest.raises(ValueError, match="status"):
        build_reject_response(101)
    with pytest.raises(ValueError, match="subprotocol"):
        build_request("h", "/", KEY, subprotocols=["bad proto"])
    with pytest.raises(ValueError, match="latin-1"):
        build_request("h", "/", KEY, extra_headers=[("X-Name", "✓")])
    with pytest.raises(ValueError, match="extension name"):
        build_extension_header([("bad name", [])])
    with pytest.raises(ValueError, match="extension parameter"):
        build_extension_header([("x-ext", [("p", "bad value")])])


def test_extension_header_parsing_skips_empty_items_and_refuses_bad_names():
    assert parse_extension_header(["x-a, ,x-b;p=1", ""]) == [("x-a", []), ("x-b", [("p", "1")])]
    with pytest.raises(InvalidHandshake) as exc:
        parse_extension_header(["x-a, b@d"], status=123)
    assert exc.value.status == 123


def test_an_empty_subprotocol_header_in_a_response_is_refused():
    head = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(KEY).encode() + b"\r\nSec-WebSocket-Protocol: \r\n\r\n")
    with pytest.raises(InvalidHandshake, match="empty Sec-WebSocket-Protocol"):
        validate_response(parse_response(head), KEY, ["chat"])
