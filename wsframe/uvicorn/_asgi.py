"""The HTTP side of the uvicorn protocol: the ASGI scope and the denial/error responses.

Pure functions, no I/O: :func:`build_scope` turns the handshake request that
wsframe parsed into an ASGI ``websocket`` scope (ASGI spec 2.4, the same keys
and encodings as uvicorn's own implementations); :func:`response_head` and
:func:`internal_error` build the raw HTTP/1.1 responses for
``websocket.http.response.*`` and for an application that fails before the
handshake completes.
"""

from __future__ import annotations

from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.parse import unquote

__all__ = ["build_scope", "internal_error", "response_head"]

_PHRASES = {s.value: s.phrase for s in HTTPStatus}
_EXTENSIONS_KEY = "websocket.http.response"


def build_scope(
    request: Any,
    *,
    scheme: str,
    server: Optional[Tuple[str, Optional[int]]],
    client: Optional[Tuple[str, int]],
    root_path: str,
    asgi_version: str,
    state: Dict[str, Any],
) -> Dict[str, Any]:
    """The ASGI ``websocket`` scope for a :class:`wsframe.handshake.Request`.

    Header names are lowercased bytes, values the raw bytes (wsframe decodes
    them as latin-1, so encoding back is lossless); ``path`` is percent-decoded,
    ``raw_path`` and ``query_string`` are the bytes as sent.
    """
    raw_path, _, query = request.path.partition("?")
    headers: List[Tuple[bytes, bytes]] = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in request.headers
    ]
    return {
        "type": "websocket",
        "asgi": {"version": asgi_version, "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "server": server,
        "client": client,
        "root_path": root_path,
        "path": root_path + unquote(raw_path),
        "raw_path": root_path.encode("ascii") + raw_path.encode("ascii"),
        "query_string": query.encode("ascii"),
        "headers": headers,
        "subprotocols": request.subprotocols,
        "state": state,
        "extensions": {_EXTENSIONS_KEY: {}},
    }


def _line(name: bytes, value: bytes) -> bytes:
    if b"\r" in name or b"\n" in name or b":" in name or b"\r" in value or b"\n" in value:
        raise RuntimeError(f"invalid HTTP header {name[:40]!r}")
    return name + b": " + value + b"\r\n"


def response_head(
    status: int,
    headers: Iterable[Tuple[bytes, bytes]],
    default_headers: Iterable[Tuple[bytes, bytes]],
    body_length: Optional[int],
) -> bytes:
    """The head of a denial response (``websocket.http.response.start``).

    ``headers`` are the application's; ``default_headers`` (uvicorn's Server
    and Date) are added when the application did not set them, and so are
    ``Connection: close``, ``Content-Type: text/plain; charset=utf-8`` and, when
    ``body_length`` is given, ``Content-Length``. The connection is closed
    after the body, which delimits it when there is no Content-Length.
    """
    out = [f"HTTP/1.1 {status} {_PHRASES.get(status, '')}\r\n".encode("latin-1")]
    seen = set()
    for name, value in headers:
        seen.add(name.lower())
        out.append(_line(name, value))
    for name, value in default_headers:
        if name.lower() not in seen:
            out.append(_line(name, value))
            seen.add(name.lower())
    if b"date" not in seen:
        out.append(b"date: " + formatdate(usegmt=True).encode("ascii") + b"\r\n")
    if b"connection" not in seen:
        out.append(b"connection: close\r\n")
    if b"content-type" not in seen:
        out.append(b"content-type: text/plain; charset=utf-8\r\n")
    if body_length is not None and b"content-length" not in seen:
        out.append(b"content-length: %d\r\n" % body_length)
    out.append(b"\r\n")
    return b"".join(out)


def internal_error(default_headers: Iterable[Tuple[bytes, bytes]]) -> bytes:
    """A complete ``500 Internal Server Error`` response (the handshake failed in the application)."""
    return response_head(500, (), default_headers, 21) + b"Internal Server Error"
