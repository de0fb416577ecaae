# cython: freethreading_compatible=True, binding=False, embedsignature=True, embedsignature.format=clinic
"""The two HTTP/1.1 opening handshakes (RFC 6455 section 4): the server's
and the client's, each leading into the frame session it subclasses
(``_session.py``).

This file is the pure-Python code and, compiled by Cython with
``_upgrade_c.pxd``, the C one, ``wsframe._upgrade_c`` (whose classes extend
the compiled ``wsframe._session_c.Session``); ``wsframe.connection``
chooses, following ``wsframe.codec``, and documents the classes.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Sequence, Tuple

from .enums import CloseCode, State
from .events import Rejected, Request
from .exceptions import ConnectionStateError, HandshakeError, InvalidHandshake, InvalidStatus
from .extensions import ClientExtensionFactory, Extension, ServerExtensionFactory
from .handshake import (
    HeadReader,
    build_accept_response,
    build_extension_header,
    build_reject_response,
    build_request,
    generate_key,
    parse_extension_header,
    parse_request,
    parse_response,
    validate_request,
    validate_response,
)

try:
    import cython
except ImportError:  # pure Python without Cython installed: never compiled

    class cython:  # type: ignore[no-redef]  # noqa: N801 - stands in for Cython's shadow module
        compiled = False


# Compiled, the base class is the compiled session (its C type comes from
# _upgrade_c.pxd's cimport); uncompiled, the pure-Python one.
if cython.compiled:
    from ._session_c import DEFAULT_MAX_FRAGMENTS, Session
else:
    from ._session import DEFAULT_MAX_FRAGMENTS, Session

__all__ = ["DEFAULT_MAX_FRAGMENTS", "ClientConnection", "ServerConnection", "State"]

_ABNORMAL = int(CloseCode.ABNORMAL_CLOSURE)
_CONNECTING = State.CONNECTING

# Bytes a server keeps from a client that sends frames before accept() is called.
_MAX_EARLY_DATA = (1 << 20) + 16384


class _Upgrade(Session):
    """What both handshakes keep: the limits of the HTTP head, the offers (not public)."""

    __slots__ = ("request", "response", "_head", "_max_header_size", "_max_headers", "_subprotocols", "_ext_factories")

    def _setup_upgrade(
        self,
        client: bool,
        subprotocols: Sequence[str],
        extensions: Sequence[Any],
        max_message_size: Optional[int],
        max_header_size: int,
        max_headers: int,
        auto_pong: bool,
        stream_fragments: bool,
        max_fragments: Optional[int],
    ) -> None:
        self._setup(client, max_message_size, auto_pong, stream_fragments, max_fragments)
        self.request: Any = None
        self.response: Any = None
        self._max_header_size = max_header_size
        self._max_headers = max_headers
        self._head = HeadReader(max_header_size)
        self._subprotocols = list(subprotocols)
        self._ext_factories = list(extensions)


class ServerConnection(_Upgrade):
    """The server role: parses the client's upgrade request, then frames.

    ``subprotocols``: the server's supported subprotocols, most preferred
    first (the first one the client offered is selected). ``extensions``:
    :class:`~wsframe.extensions.ServerExtensionFactory` objects.
    ``allowed_origins``: None accepts any Origin; otherwise a collection of
    allowed Origin values (include None to accept requests without Origin);
    others are answered 403. ``auto_accept=False``: the application receives
    the ``Request`` event and must call :meth:`accept` or :meth:`reject`.
    """

    __slots__ = ("_allowed_origins", "_auto_accept", "_key", "_early", "_answered")

    def __init__(
        self,
        *,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ServerExtensionFactory] = (),
        allowed_origins: Optional[Iterable[Optional[str]]] = None,
        auto_accept: bool = True,
        max_message_size: Optional[int] = 1 << 20,
        max_header_size: int = 16384,
        max_headers: int = 128,
        auto_pong: bool = True,
        stream_fragments: bool = False,
        max_fragments: Optional[int] = DEFAULT_MAX_FRAGMENTS,
    ) -> None:
        self._setup_upgrade(
            False, subprotocols, extensions, max_message_size, max_header_size, max_headers, auto_pong, stream_fragments,
            max_fragments,
        )
        self._allowed_origins = None if allowed_origins is None else frozenset(allowed_origins)
        self._auto_accept = auto_accept
        self._key: Optional[str] = None
        self._early = bytearray()
        self._answered = False

    def _receive_handshake(self, data) -> None:
        if self._key is not None:  # request received, waiting for accept()/reject()
            if len(self._early) + len(data) > _MAX_EARLY_DATA:
                self._reject(400, "too much data before the handshake was accepted", (), InvalidHandshake("too much early data", 400))
                return
            self._early += data
            return
        try:
            got = self._head.feed(data)
            if got is None:
                return
            head, rest = got
            request = parse_request(head, self._max_headers)
            self.request = request
            key = validate_request(request, self._allowed_origins)
        except HandshakeError as exc:
            self._reject(exc.status, exc.reason, (), exc)
            return
        self._key = key
        self._early += rest
        self._events.append(Request(request))
        if self._auto_accept:
            self.accept()

    def _reject(self, status: int, body: str, extra_headers, error: Optional[BaseException]) -> None:
        self._out += build_reject_response(status, body + "\n" if body and error is not None else body, extra_headers)
        self._answered = True
        self._early = bytearray()
        self._events.append(Rejected(status, body))
        self._finish(_ABNORMAL, body or f"handshake rejected with status {status}", error, True)

    def _abort_handshake(self, exc: BaseException) -> None:
        if not self._answered:
            self._answered = True
            self._out += build_reject_response(500, "internal server error")
        self._finish(_ABNORMAL, "internal error", exc, True)

    def _negotiate_extensions(self, request) -> Tuple[List[Extension], Optional[str], int]:
        if not self._ext_factories:
            return [], None, 0
        accepted: List[Extension] = []
        answer = []
        used_rsv = 0
        done = set()
        for name, params in request.extensions:
            for i, factory in enumerate(self._ext_factories):
                if i in done or factory.name != name:
                    continue
                result = factory.accept_offer(params, list(accepted))
                if result is None:
                    continue
                response_params, ext = result
                if ext.rsv_bits & used_rsv:
                    continue
                used_rsv |= ext.rsv_bits
                accepted.append(ext)
                answer.append((name, response_params))
                done.add(i)
                break
        return accepted, build_extension_header(answer) if answer else None, used_rsv

    def accept(self, subprotocol: Optional[str] = None, extra_headers: Iterable[Tuple[str, str]] = ()) -> None:
        """Answer the request with 101 Switching Protocols and enter OPEN.

        ``subprotocol`` None selects the server's preferred one among those
        offered (or none); otherwise it must be one the client offered
        (ValueError). ``extra_headers``: (name, value) pairs added to the
        response. Extensions are negotiated here. Raises ConnectionStateError
        without a pending request.
        """
        if self.state is not _CONNECTING or self._key is None or self._answered:
            raise ConnectionStateError("no handshake request waiting to be accepted")
        request = self.request
        offered = request.subprotocols
        if subprotocol is None:
            subprotocol = next((p for p in self._subprotocols if p in offered), None)
        elif subprotocol not in offered:
            raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
        try:
            extensions, ext_header, rsv = self._negotiate_extensions(request)
        except HandshakeError as exc:
            self._reject(exc.status, exc.reason, (), exc)
            return
        try:
            response = build_accept_response(self._key, subprotocol, ext_header, extra_headers)
        except ValueError:
            for ext in extensions:
                ext.close()
            raise
        self._out += response
        self._answered = True
        self.subprotocol = subprotocol
        self._open(extensions, rsv)
        early = self._early
        self._early = bytearray()
        if early:
            self._receive_frames(bytes(early))

    def reject(self, status: int = 403, body: str = "", extra_headers: Iterable[Tuple[str, str]] = ()) -> None:
        """Refuse the pending request with HTTP ``status`` (plain-text ``body``) and enter CLOSED."""
        if self.state is not _CONNECTING or self._key is None or self._answered:
            raise ConnectionStateError("no handshake request waiting to be rejected")
        build_reject_response(status, body, extra_headers)  # validate arguments first
        self._reject(status, body, extra_headers, None)


class ClientConnection(_Upgrade):
    """The client role: sends the upgrade request at once, validates the response.

    ``host`` is the ``Host`` header value (with the port when not the
    default), ``path`` the request target. ``extensions``:
    :class:`~wsframe.extensions.ClientExtensionFactory` objects, offered in
    order. ``extra_headers``: (name, value) pairs. Frames are masked with a
    fresh random key each.
    """

    __slots__ = ("_key",)

    def __init__(
        self,
        host: str,
        path: str = "/",
        *,
        origin: Optional[str] = None,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[ClientExtensionFactory] = (),
        extra_headers: Iterable[Tuple[str, str]] = (),
        max_message_size: Optional[int] = 1 << 20,
        max_header_size: int = 16384,
        max_headers: int = 128,
        auto_pong: bool = True,
        stream_fragments: bool = False,
        max_fragments: Optional[int] = DEFAULT_MAX_FRAGMENTS,
    ) -> None:
        self._setup_upgrade(
            True, subprotocols, extensions, max_message_size, max_header_size, max_headers, auto_pong, stream_fragments,
            max_fragments,
        )
        self._key = generate_key()
        offers = [(f.name, params) for f in self._ext_factories for params in f.offers()]
        self._out += build_request(
            host,
            path,
            self._key,
            origin=origin,
            subprotocols=self._subprotocols,
            extensions=build_extension_header(offers) if offers else None,
            extra_headers=extra_headers,
        )

    def _receive_handshake(self, data) -> None:
        response = None
        try:
            try:
                got = self._head.feed(data)
                if got is None:
                    return
                head, rest = got
                response = parse_response(head, self._max_headers)
            except HandshakeError as exc:
                raise InvalidHandshake(f"invalid handshake response: {exc.reason}", 0) from None
            self.response = response
            if response.status != 101:
                length = response.headers.get("Content-Length") or ""
                response.body = rest[: int(length)] if length.isdigit() else rest[: self._max_header_size]
            self.subprotocol = validate_response(response, self._key, self._subprotocols)
            extensions, rsv = self._accept_extensions(response)
        except InvalidStatus as exc:
            self._events.append(Rejected(exc.status, response.reason if response else exc.reason))
            self._finish(_ABNORMAL, exc.reason, exc, True)
            return
        except HandshakeError as exc:
            self._finish(_ABNORMAL, exc.reason, exc, True)
            return
        self._open(extensions, rsv)
        if rest:
            self._receive_frames(rest)

    def _accept_extensions(self, response) -> Tuple[List[Extension], int]:
        status = response.status
        items = parse_extension_header(response.headers.get_all("Sec-WebSocket-Extensions"), status)
        accepted: List[Extension] = []
        names = set()
        used_rsv = 0
        try:
            for name, params in items:
                factory = next((f for f in self._ext_factories if f.name == name), None)
                if factory is None:
                    raise InvalidHandshake(f"server selected extension {name!r}, which was not offered", status)
                if name in names:
                    raise InvalidHandshake(f"server selected extension {name!r} twice", status)
                names.add(name)
                try:
                    ext = factory.accept_response(params, list(accepted))
                except HandshakeError as exc:
                    raise InvalidHandshake(exc.reason, status) from None
                accepted.append(ext)
                if ext.rsv_bits & used_rsv:
                    raise InvalidHandshake(f"extension {name!r} reuses an RSV bit", status)
                used_rsv |= ext.rsv_bits
        except HandshakeError:
            for ext in accepted:
                ext.close()
            raise
        return accepted, used_rsv
