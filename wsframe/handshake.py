"""The opening handshake of RFC 6455 (section 4): HTTP/1.1 upgrade messages.

Sans-I/O and dependency-free: a small, strict, bounded HTTP/1.1 head parser
written for exactly this job (h11 was not used: the handshake needs only the
request/response head, and a hand-written parser keeps zero dependencies
while being stricter than needed for general HTTP).

Server side::

    reader = HeadReader(max_header_size, max_headers)
    head, rest = reader.feed(data) or ...       # None until the blank line
    request = parse_request(head, max_headers)   # HandshakeError(status) if malformed
    key = validate_request(request, allowed_origins)
    wire = build_accept_response(key, subprotocol, extensions_header)

Client side::

    key = generate_key()
    wire = build_request(host, path, key, ...)
    response = parse_response(head, max_headers)
    validate_response(response, key)  # InvalidStatus / InvalidHandshake

Rejections carry the HTTP status to answer with: 400 (malformed; the reason
goes in the body), 403 (Origin not allowed), 426 (unsupported
``Sec-WebSocket-Version``; answered with ``Sec-WebSocket-Version: 13``), 431
(header block larger than ``max_header_size`` bytes or more than
``max_headers`` header fields).

Strictness: lines must end in CRLF; no obsolete line folding; no whitespace
before the colon; field names are tokens; field values hold no control
characters; the request line is exactly ``GET SP target SP HTTP/1.1``;
``Host``, ``Sec-WebSocket-Key``, ``Sec-WebSocket-Version`` and ``Origin`` may
appear only once; a request body (``Content-Length`` other than 0 or any
``Transfer-Encoding``) is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ._extension_header import TOKEN as _TOKEN_S
from ._extension_header import build_extension_header, parse_extension_header
from .exceptions import HandshakeError, InvalidHandshake, InvalidStatus
from .extensions import ExtensionParams

if TYPE_CHECKING:  # pragma: no cover
    from .codec import BytesLike

__all__ = [
    "GUID",
    "ExtensionParams",
    "HandshakeError",
    "HeadReader",
    "Headers",
    "Request",
    "Response",
    "accept_key",
    "build_accept_response",
    "build_extension_header",
    "build_reject_response",
    "build_request",
    "generate_key",
    "parse_extension_header",
    "parse_request",
    "parse_response",
    "validate_request",
    "validate_response",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

DEFAULT_MAX_HEADER_SIZE = 16384
DEFAULT_MAX_HEADERS = 128

#: One negotiated or offered extension's parameters: [(name, value or None)].

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# field-value: VCHAR / obs-text / SP / HTAB (no other control characters).
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TARGET = re.compile(rb"[\x21-\x7e]+\Z")
_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([0-9]{3}) ([\t \x21-\x7e\x80-\xff]*)\Z")

_REASONS = {
    101: "Switching Protocols",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value answering ``Sec-WebSocket-Key`` ``key``."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def generate_key() -> str:
    """A fresh random ``Sec-WebSocket-Key`` (base64 of 16 random bytes)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


# ---------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------


class Headers:
    """An ordered, case-insensitive multi-map of HTTP header fields.

    Field names keep their original spelling for iteration; lookups ignore
    case. ``get`` returns the first value, ``get_all`` every value in order.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[Tuple[str, str]] = ()) -> None:
        self._items: List[Tuple[str, str]] = []
        self._index: Dict[str, List[str]] = {}
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append one field."""
        self._items.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of field ``name``, or ``default``."""
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> List[str]:
        """Every value of field ``name``, in order (an empty list if absent)."""
        return list(self._index.get(name.lower(), ()))

    def count(self, name: str) -> int:
        """How many times field ``name`` appears."""
        return len(self._index.get(name.lower(), ()))

    def __getitem__(self, name: str) -> str:
        values = self._index.get(name.lower())
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> List[Tuple[str, str]]:
        """Every (name, value) pair in order."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(n.lower(), v) for n, v in self._items] == [(n.lower(), v) for n, v in other._items]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _comma_tokens(values: Iterable[str]) -> List[str]:
    """Split comma-separated list header values (``1#token``), dropping empty elements."""
    out = []
    for value in values:
        for part in value.split(","):
            part = part.strip(" \t")
            if part:
                out.append(part)
    return out


# ---------------------------------------------------------------------------
# Request / Response
# ---------------------------------------------------------------------------


class Request:
    """A parsed handshake request (server side) or the one we sent (client side).

    ``path`` is the request target as sent (origin form; for an absolute-form
    target, its path and query). ``headers`` is a :class:`Headers`.
    """

    __slots__ = ("method", "path", "headers")

    def __init__(self, method: str, path: str, headers: Headers) -> None:
        self.method = method
        self.path = path
        self.headers = headers

    @property
    def host(self) -> Optional[str]:
        """The ``Host`` header."""
        return self.headers.get("Host")

    @property
    def origin(self) -> Optional[str]:
        """The ``Origin`` header, or None."""
        return self.headers.get("Origin")

    @property
    def key(self) -> Optional[str]:
        """The ``Sec-WebSocket-Key`` header."""
        return self.headers.get("Sec-WebSocket-Key")

    @property
    def subprotocols(self) -> List[str]:
        """Subprotocols offered by the client, in its order of preference."""
        return _comma_tokens(self.headers.get_all("Sec-WebSocket-Protocol"))

    @property
    def extensions(self) -> List[Tuple[str, ExtensionParams]]:
        """Extension offers, in order. Raises InvalidHandshake (400) if malformed."""
        return parse_extension_header(self.headers.get_all("Sec-WebSocket-Extensions"))

    def __repr__(self) -> str:
        return f"Request({self.method!r}, {self.path!r}, {self.headers!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (self.method, self.path, self.headers) == (other.method, other.path, other.headers)

    __hash__ = None  # type: ignore[assignment]


class Response:
    """A parsed handshake response (client side) or the one we sent (server side).

    ``body`` holds the bytes of a non-101 response's body that arrived with
    the head (up to its ``Content-Length``), for error messages.
    """

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes = b"") -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.reason!r}, {self.headers!r}, body={self.body[:64]!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status, self.reason, self.headers, self.body) == (
            other.status,
            other.reason,
            other.headers,
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------------------
# Incremental head reading
# ---------------------------------------------------------------------------


class HeadReader:
    """Collect an HTTP head that arrives in pieces, within bounds.

    ``feed(data)`` returns None until the empty line that ends the head has
    arrived, then ``(head, rest)``: the head including its final CRLFCRLF and
    the bytes that followed it (the first WebSocket frames, kept for the
    frame parser). Raises HandshakeError 431 when the head exceeds
    ``max_header_size`` bytes and 400 on a bare-LF line ending.
    """

    __slots__ = ("max_header_size", "_buf", "_scanned", "done")

    def __init__(self, max_header_size: int = DEFAULT_MAX_HEADER_SIZE) -> None:
        self.max_header_size = max_header_size
        self._buf = bytearray()
        self._scanned = 0
        self.done = False

    def feed(self, data: BytesLike) -> Optional[Tuple[bytes, bytes]]:
        """Add bytes; the (head, rest) pair once the head is complete, else None."""
        if self.done:
            raise RuntimeError("head already complete")
        buf = self._buf
        buf += data
        start = self._scanned - 3 if self._scanned > 3 else 0
        end = buf.find(b"\r\n\r\n", start)
        limit = self.max_header_size
        if end < 0:
            if buf.find(b"\n\n", start) >= 0 or buf.find(b"\n\r\n", start) >= 0:
                raise InvalidHandshake("bare LF line ending in HTTP head", 400)
            if len(buf) > limit:
                raise HandshakeError(f"HTTP head exceeds {limit} bytes", 431)
            self._scanned = len(buf)
            return None
        end += 4
        if end > limit:
            raise HandshakeError(f"HTTP head exceeds {limit} bytes", 431)
        head = bytes(buf[:end])
        rest = bytes(buf[end:])
        self._buf = bytearray()
        self.done = True
        return head, rest


def _parse_head(head: bytes, max_headers: int, what: str) -> Tuple[bytes, Headers]:
    """Split a complete head into its start line and a Headers (strict)."""
    if not head.endswith(b"\r\n\r\n"):
        raise InvalidHandshake(f"incomplete HTTP {what} head", 400)
    lines = head[:-4].split(b"\r\n")
    start = lines[0]
    if len(lines) - 1 > max_headers:
        raise HandshakeError(f"more than {max_headers} header fields", 431)
    headers = Headers()
    for line in lines[1:]:
        if b"\n" in line or b"\r" in line:
            raise InvalidHandshake("bare CR or LF in HTTP head", 400)
        if not line:
            raise InvalidHandshake("empty header line", 400)
        if line[0] in b" \t":
            raise InvalidHandshake("obsolete line folding in header", 400)
        name, colon, value = line.partition(b":")
        if not colon:
            raise InvalidHandshake("header line without a colon", 400)
        if not _TOKEN.match(name):
            raise InvalidHandshake(f"invalid header name {name[:40]!r}", 400)
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise InvalidHandshake(f"invalid character in header {name.decode('ascii')}", 400)
        headers.add(name.decode("ascii"), value.decode("latin-1"))
    if b"\n" in start or b"\r" in start:
        raise InvalidHandshake("bare CR or LF in HTTP head", 400)
    return start, headers


def parse_request(head: bytes, max_headers: int = DEFAULT_MAX_HEADERS) -> Request:
    """Parse a complete request head (ending in CRLFCRLF) into a :class:`Request`.

    Checks HTTP syntax only; :func:`validate_request` checks the WebSocket
    rules. Raises HandshakeError with status 400 or 431.
    """
    start, headers = _parse_head(head, max_headers, "request")
    parts = start.split(b" ")
    if len(parts) != 3:
        raise InvalidHandshake("malformed request line", 400)
    method, target, version = parts
    if version != b"HTTP/1.1":
        raise InvalidHandshake(f"unsupported HTTP version {version[:16].decode('latin-1')!r}; need HTTP/1.1", 400)
    if not _TOKEN.match(method):
        raise InvalidHandshake("malformed request method", 400)
    if not _TARGET.match(target):
        raise InvalidHandshake("malformed request target", 400)
    path = target.decode("ascii")
    if not path.startswith("/"):
        # absolute-form (RFC 7230 5.3.2): keep the path and query.
        m = re.match(r"(?:wss?|https?)://[^/?#]+(.*)\Z", path, re.IGNORECASE)
        if m is None:
            raise InvalidHandshake("request target is neither origin-form nor absolute-form", 400)
        path = m.group(1) or "/"
        if not path.startswith("/"):
            path = "/" + path
    return Request(method.decode("ascii"), path, headers)


def _single(headers: Headers, name: str, status: int = 400) -> Optional[str]:
    n = headers.count(name)
    if n > 1:
        raise InvalidHandshake(f"more than one {name} header", status)
    return headers.get(name)


def _check_upgrade(headers: Headers) -> None:
    if not any(t.lower() == "websocket" for t in _comma_tokens(headers.get_all("Upgrade"))):
        raise InvalidHandshake("missing 'Upgrade: websocket' header", 400)
    if not any(t.lower() == "upgrade" for t in _comma_tokens(headers.get_all("Connection"))):
        raise InvalidHandshake("missing 'Connection: Upgrade' header", 400)


def validate_request(request: Request, allowed_origins: Optional[Iterable[Optional[str]]] = None) -> str:
    """Check a parsed request against RFC 6455 4.2.1; return its ``Sec-WebSocket-Key``.

    ``allowed_origins``: None accepts any Origin; otherwise the ``Origin``
    header must be one of them (put None in it to allow requests without an
    Origin header, e.g. from non-browser clients). Raises HandshakeError with
    status 400, 403 or 426.
    """
    if request.method != "GET":
        raise InvalidHandshake(f"method {request.method} not allowed; a WebSocket handshake uses GET", 400)
    headers = request.headers
    host = _single(headers, "Host")
    if host is None or not host:
        raise InvalidHandshake("missing Host header", 400)
    if "Transfer-Encoding" in headers:
        raise InvalidHandshake("a handshake request has no body (Transfer-Encoding)", 400)
    cl = headers.get_all("Content-Length")
    if cl and any(v != "0" for v in cl):
        raise InvalidHandshake("a handshake request has no body (Content-Length)", 400)
    _check_upgrade(headers)
    key = _single(headers, "Sec-WebSocket-Key")
    if key is None:
        raise InvalidHandshake("missing Sec-WebSocket-Key header", 400)
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != 16 or len(key) != 24:
        raise InvalidHandshake("Sec-WebSocket-Key is not base64 of 16 bytes", 400)
    versions = headers.get_all("Sec-WebSocket-Version")
    if versions != ["13"]:
        got = ", ".join(versions) if versions else "none"
        raise InvalidHandshake(f"unsupported Sec-WebSocket-Version ({got}); need 13", 426)
    origin = _single(headers, "Origin")
    if allowed_origins is not None and origin not in set(allowed_origins):
        raise InvalidHandshake(f"origin {origin!r} not allowed", 403)
    for proto in request.subprotocols:
        if not _TOKEN_S.match(proto):
            raise InvalidHandshake("malformed Sec-WebSocket-Protocol header", 400)
    request.extensions  # noqa: B018  (raises 400 if malformed)
    return key


def _check_header_text(name: str, value: str) -> None:
    if not _TOKEN_S.match(name):
        raise ValueError(f"invalid header name {name!r}")
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value) or value != value.strip(" \t"):
        raise ValueError(f"invalid value for header {name!r}")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"header {name!r} value is not latin-1") from None


def _format_headers(out: List[str], headers: Iterable[Tuple[str, str]]) -> None:
    for name, value in headers:
        _check_header_text(name, value)
        out.append(f"{name}: {value}\r\n")


def build_accept_response(
    key: str,
    subprotocol: Optional[str] = None,
    extensions: Optional[str] = None,
    extra_headers: Iterable[Tuple[str, str]] = (),
) -> bytes:
    """The 101 response accepting a request with ``Sec-WebSocket-Key`` ``key``.

    ``extensions`` is the ``Sec-WebSocket-Extensions`` value (see
    :func:`build_extension_header`), or None.
    """
    out = [
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
    ]
    if subprotocol is not None:
        out.append(f"Sec-WebSocket-Protocol: {subprotocol}\r\n")
    if extensions:
        out.append(f"Sec-WebSocket-Extensions: {extensions}\r\n")
    _format_headers(out, extra_headers)
    out.append("\r\n")
    return "".join(out).encode("latin-1")


def build_reject_response(status: int, body: str = "", extra_headers: Iterable[Tuple[str, str]] = ()) -> bytes:
    """A short plain-text error response that closes the connection.

    426 responses carry ``Upgrade: websocket`` and ``Sec-WebSocket-Version: 13``.
    """
    if not 200 <= status <= 599:
        raise ValueError(f"cannot reject a handshake with status {status}")
    reason = _REASONS.get(status, "Error")
    raw = body.encode("utf-8")
    out = [
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(raw)}\r\nConnection: close\r\n"
    ]
    if status == 426:
        out.append("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")
    _format_headers(out, extra_headers)
    out.append("\r\n")
    return "".join(out).encode("latin-1") + raw


def build_request(
    host: str,
    path: str,
    key: str,
    *,
    origin: Optional[str] = None,
    subprotocols: Sequence[str] = (),
    extensions: Optional[str] = None,
    extra_headers: Iterable[Tuple[str, str]] = (),
) -> bytes:
    """The client's upgrade request. Raises ValueError on unsafe input."""
    if not path.startswith("/") or not _TARGET.match(path.encode("utf-8")):
        raise ValueError(f"invalid request path {path!r}")
    for proto in subprotocols:
        if not _TOKEN_S.match(proto):
            raise ValueError(f"invalid subprotocol {proto!r}")
    out = [f"GET {path} HTTP/1.1\r\n"]
    fields = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    if origin is not None:
        fields.append(("Origin", origin))
    if subprotocols:
        fields.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if extensions:
        fields.append(("Sec-WebSocket-Extensions", extensions))
    fields.extend(extra_headers)
    _format_headers(out, fields)
    out.append("\r\n")
    return "".join(out).encode("latin-1")


def parse_response(head: bytes, max_headers: int = DEFAULT_MAX_HEADERS) -> Response:
    """Parse a complete response head into a :class:`Response` (InvalidHandshake if malformed)."""
    start, headers = _parse_head(head, max_headers, "response")
    m = _STATUS_LINE.match(start)
    if m is None:
        raise InvalidHandshake(f"malformed status line {start[:60]!r}", 0)
    return Response(int(m.group(1)), m.group(2).decode("latin-1"), headers)


def validate_response(response: Response, key: str, subprotocols: Sequence[str] = ()) -> Optional[str]:
    """Check a response to a request sent with ``key``; return the selected subprotocol.

    Raises InvalidStatus for a status other than 101 and InvalidHandshake
    (``status`` = the received status) when the 101 response is not a valid
    WebSocket acceptance. Extensions are checked by the connection.
    """
    status = response.status
    if status != 101:
        raise InvalidStatus(f"server answered {status} {response.reason}".rstrip(), status)
    headers = response.headers
    try:
        _check_upgrade(headers)
    except InvalidHandshake as exc:
        raise InvalidHandshake(exc.reason, status) from None
    accepts = headers.get_all("Sec-WebSocket-Accept")
    if len(accepts) != 1:
        raise InvalidHandshake("missing or repeated Sec-WebSocket-Accept header", status)
    if accepts[0] != accept_key(key):
        raise InvalidHandshake("wrong Sec-WebSocket-Accept value", status)
    protos = _comma_tokens(headers.get_all("Sec-WebSocket-Protocol"))
    if not protos:
        if headers.count("Sec-WebSocket-Protocol"):
            raise InvalidHandshake("empty Sec-WebSocket-Protocol header", status)
        return None
    if len(protos) > 1:
        raise InvalidHandshake("server selected more than one subprotocol", status)
    if protos[0] not in subprotocols:
        raise InvalidHandshake(f"server selected subprotocol {protos[0]!r}, which was not offered", status)
    return protos[0]
