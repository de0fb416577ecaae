"""The HTTP responses of the uvicorn protocol: ``websocket.http.response.*`` denials, 403 and 500.

A mixin of :class:`wsframe.uvicorn.protocol.WSFrameProtocol` (it holds no
state of its own): a denial whose headers carry a Content-Length is streamed
(head first, then each body chunk), one without is collected and sent with
the length computed; the connection closes after the body. An application
that fails before the handshake completes gets ``500 Internal Server Error``.
Also the access-log helpers (uvicorn's ``"WebSocket /path" STATUS`` lines).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, List, Optional
from urllib.parse import quote

from ._asgi import internal_error, response_head

__all__ = ["Responses", "client_address", "log_prefix", "request_path"]

_logger = logging.getLogger("uvicorn.error")

# What the application may send next (uvicorn's handshake_complete/close_sent/initial_response).
HANDSHAKE = 0  # websocket.accept, websocket.close or websocket.http.response.start
OPEN = 1  # websocket.send, websocket.close
RESPONSE = 2  # websocket.http.response.body
DONE = 3  # nothing: close sent or response complete


class Responses:
    """Denial and error responses (see the module docstring). The host provides ``transport``,
    ``scope``, ``_server_state``, ``_state``, ``_response`` and ``_deliver``."""

    if not TYPE_CHECKING:
        # Empty: the host's __slots__ hold the attributes below. Hidden from
        # type checkers, which would reject assigning _state and _response
        # (names not in this class's own __slots__).
        __slots__ = ()

    transport: Any
    scope: Dict[str, Any]
    _server_state: Any
    _state: int
    _response: Optional[List[Any]]

    def _deliver(self, message: Dict[str, Any]) -> None:  # pragma: no cover - the host's
        raise NotImplementedError

    def _start_response(self, message: Dict[str, Any]) -> None:
        status = message["status"]
        if not 100 <= status < 600:
            raise RuntimeError("Invalid HTTP status code '%d' in response." % status)
        self._log_status(status)
        headers = list(message.get("headers", ()))
        self._state = RESPONSE
        if any(name.lower() == b"content-length" for name, _ in headers):
            # The length is known: send the head now, stream the body.
            self.transport.write(response_head(status, headers, self._server_state.default_headers, None))
        else:
            self._response = [status, headers, []]

    def _response_body(self, message: Dict[str, Any]) -> None:
        body = message.get("body", b"")
        response = self._response
        more = message.get("more_body", False)
        if response is not None:
            response[2].append(body)
            if more:
                return
            self._response = None
            body = b"".join(response[2])
            head = response_head(response[0], response[1], self._server_state.default_headers, len(body))
            body = head + body
        if not more:
            self._state = DONE
            self._deliver({"type": "websocket.disconnect", "code": 1006})
            self._write_and_close(body)
        elif body:
            self.transport.write(body)

    def _send_500(self) -> None:
        if self._state == HANDSHAKE or (self._state == RESPONSE and self._response is not None):
            self._state = DONE
            self._response = None
            self._write_and_close(internal_error(self._server_state.default_headers))

    def _write_and_close(self, data: bytes) -> None:
        transport = self.transport
        if not transport.is_closing():
            transport.write(data)
            transport.close()

    def _log_status(self, status: int) -> None:
        _logger.info('%s - "WebSocket %s" %d', client_address(self.scope), request_path(self.scope), status)


def log_prefix(client: Any) -> str:
    """``host:port - `` for a log line, or nothing."""
    return "%s:%d - " % tuple(client) if client else ""


def client_address(scope: Dict[str, Any]) -> str:
    """``host:port`` of the scope's client, or nothing."""
    client = scope.get("client")
    return "%s:%d" % tuple(client) if client else ""


def request_path(scope: Dict[str, Any]) -> str:
    """The quoted path and query string, as uvicorn logs them."""
    path = quote(scope.get("path", ""))
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('ascii')}" if query else path
