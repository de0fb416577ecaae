"""The sans-I/O connection, written once (the implementation behind
:mod:`wsframe.connection`, which documents it).

This file is the pure-Python connection and, compiled by Cython with
``_connection_c.pxd`` (which makes the connection classes extension types
with C attributes), the C one: ``wsframe._connection_c``, as
``_parser.py`` is compiled into ``_parser_c``. ``wsframe.connection``
chooses which of the two is used, following ``wsframe.codec``.
"""

from __future__ import annotations

import codecs
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

from .codec import (
    Frame,
    FrameParser,
    Utf8Validator,
    build_close_payload,
    parse_close_payload,
    write_data,  # compiled: the C function itself (cimported by _connection_c.pxd)
    write_frame,
)
from .enums import CloseCode, Opcode, State
from .events import (
    BinaryMessage,
    CloseReceived,
    Closed,
    Connected,
    Event,
    Fragment,
    Ping,
    Pong,
    Rejected,
    Request,
    TextMessage,
)
from .exceptions import (
    ConnectionStateError,
    HandshakeError,
    InvalidHandshake,
    InvalidStatus,
    InvalidUtf8,
    PayloadTooBig,
    ProtocolError,
)
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

__all__ = ["DEFAULT_MAX_FRAGMENTS", "ClientConnection", "ServerConnection", "State"]

#: Default ``max_fragments``: most frames (first + continuations) of one message.
DEFAULT_MAX_FRAGMENTS = 4096


# Plain ints for the hot path (IntEnum comparisons cost an attribute lookup).
_OP_CONT = int(Opcode.CONTINUATION)
_OP_TEXT = int(Opcode.TEXT)
_OP_BINARY = int(Opcode.BINARY)
_OP_CLOSE = int(Opcode.CLOSE)
_OP_PING = int(Opcode.PING)
_OP_PONG = int(Opcode.PONG)
_ABNORMAL = int(CloseCode.ABNORMAL_CLOSURE)
_NO_STATUS = int(CloseCode.NO_STATUS_RCVD)
_INTERNAL_ERROR = int(CloseCode.INTERNAL_ERROR)

_CONNECTING = State.CONNECTING
_OPEN = State.OPEN
_CLOSING = State.CLOSING
_CLOSED = State.CLOSED

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

# Bytes a server keeps from a client that sends frames before accept() is called.
_MAX_EARLY_DATA = (1 << 20) + 16384


def _truncate_reason(reason: str) -> str:
    raw = reason.encode("utf-8")
    if len(raw) <= 123:
        return reason
    return raw[:123].decode("utf-8", "ignore")


def _internal_error(exc: BaseException) -> ProtocolError:
    """The error that fails a connection after an exception of the library or
    an extension: a fixed reason for the wire (close 1011), and the exception
    itself as ``__cause__`` for the application and the logs (never its text
    on the wire)."""
    error = ProtocolError("internal error", _INTERNAL_ERROR)
    error.__cause__ = exc
    return error


class _Connection:
    """Shared machinery of both roles (not public)."""

    __slots__ = (
        "state",
        "should_close_transport",
        "close_code",
        "close_reason",
        "subprotocol",
        "extensions",
        "request",
        "response",
        "_client",
        "_events",
        "_out",
        "_parser",
        "_max_message_size",
        "_max_fragments",
        "_max_header_size",
        "_max_headers",
        "_auto_pong",
        "_stream",
        "_ext",
        "_ext_rev",
        "_pending_error",
        "hold_failures",
        "_plain",
        "_mark",
        "_msg_op",
        "_msg_buf",
        "_msg_len",
        "_utf8",
        "_decoder",
        "_send_op",
        "_close_sent",
        "_head",
        "_subprotocols",
        "_ext_factories",
    )

    def __init__(
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
        if max_message_size is not None and max_message_size < 0:
            raise ValueError("max_message_size must be >= 0 or None")
        if max_fragments is not None:
            if not isinstance(max_fragments, int):
                raise TypeError(f"max_fragments must be an int or None, not {type(max_fragments).__name__}")
            if max_fragments < 1:
                raise ValueError("max_fragments must be >= 1 or None")
        self.state = _CONNECTING
        self.should_close_transport = False
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self.subprotocol: Optional[str] = None
        self.extensions: List[Extension] = []
        self.request: Any = None
        self.response: Any = None
        self._client = client
        self._events: List[Event] = []
        self._out = bytearray()
        self._parser: Any = None  # a FrameParser once OPEN
        self._max_message_size = max_message_size
        self._max_fragments = max_fragments
        self._max_header_size = max_header_size
        self._max_headers = max_headers
        self._auto_pong = auto_pong
        self._stream = stream_fragments
        self._ext: Tuple[Extension, ...] = ()
        self._ext_rev: Tuple[Extension, ...] = ()
        self._pending_error: Optional[ProtocolError] = None
        # Set by a queueing I/O layer while its application has messages it has
        # not answered yet: a peer error found by receive_data() then stays
        # pending (failure_pending) even when no message came in the same call.
        self.hold_failures = False
        self._mark = -1
        self._msg_op = 0
        self._msg_buf = bytearray()
        self._msg_len = 0
        self._utf8 = Utf8Validator()
        self._decoder: Any = None
        self._send_op = 0
        # True while a message can go out as one plain frame: OPEN, no
        # extension, no fragmented message being sent (the send fast path).
        self._plain = False
        self._close_sent = False
        self._head = HeadReader(max_header_size)
        self._subprotocols = list(subprotocols)
        self._ext_factories = list(extensions)

    # -- public I/O -----------------------------------------------------------

    def receive_data(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Feed bytes read from the transport. Never raises for anything the peer sent.

        ``data`` may be any bytes-like object (a memoryview of a reused read
        buffer is fine: nothing is kept that is not copied).
        """
        if self._pending_error is not None:
            self.apply_pending_failure()
            return
        state = self.state
        try:
            if state is _OPEN or state is _CLOSING:
                self._receive_frames(data)
            elif state is _CONNECTING:
                self._receive_handshake(data)
            # CLOSED: ignore.
        except Exception as exc:  # a bug must not escape as if the peer caused it
            if self.state is _CONNECTING:
                self._abort_handshake(exc)
            elif self.state is not _CLOSED:
                self._fail(_internal_error(exc))

    def receive_eof(self) -> None:
        """The peer closed its side of the transport."""
        if self._pending_error is not None:
            self.apply_pending_failure()
        state = self.state
        if state is _CLOSED:
            self.should_close_transport = True
            return
        if state is _CONNECTING:
            reason = "connection closed during the opening handshake"
            error = InvalidHandshake(reason, 0) if self._client else None
            self._finish(_ABNORMAL, reason, error, True)
            return
        self._finish(_ABNORMAL, "connection closed without a closing handshake", None, True)

    def events(self) -> List[Event]:
        """Every event since the last call, in order."""
        events = self._events
        self._events = []
        return events

    def data_to_send(self) -> Union[bytes, bytearray]:
        """Every byte queued for the transport since the last call (drains only).

        Returns a bytearray (bytes-like) that the caller owns: no copy, and no
        other effect: the state and the events are not touched.
        """
        out = self._out
        if not out:
            return b""
        self._out = bytearray()
        return out

    @property
    def failure_pending(self) -> bool:
        """True while a peer error waits behind messages already delivered.

        When one read holds valid messages followed by a protocol error, the
        messages are delivered and the error is kept pending, so that the
        application's answers to those messages go out before the close frame
        (RFC 6455 lets an endpoint finish what it received; Autobahn calls
        the other order non-strict). The connection stays OPEN and sendable
        meanwhile. The I/O layer applies the failure with
        :meth:`apply_pending_failure` once the application has handled the
        messages (the selectors server: after dispatching the read's events;
        a queueing I/O layer: when its queue is drained, or after a timeout).
        ``receive_data()`` and ``receive_eof()`` apply it first as well.

        A queueing I/O layer sets ``hold_failures`` while its application has
        a message it has not answered: then any peer error is held this way,
        also one that arrives in a later read than the messages.
        """
        return self._pending_error is not None

    def apply_pending_failure(self) -> bool:
        """Fail the connection with the pending peer error, if any.

        Queues the close frame (after anything already queued) and emits the
        ``Closed`` event; returns True when there was a pending failure.
        """
        error = self._pending_error
        if error is None:
            return False
        self._pending_error = None
        self._fail(error)
        return True

    @property
    def message_in_progress(self) -> bool:
        """True while a message has started arriving but is not complete: a
        frame partly received or a fragmented message without its last
        fragment. An I/O layer's per-message time limit watches this."""
        if self._msg_op:
            return True
        parser = self._parser
        return parser is not None and self.state is _OPEN and parser.buffered > 0

    # -- sending ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self.state is not _OPEN:
            if self.state is _CONNECTING:
                raise ConnectionStateError("cannot send before the handshake has completed")
            raise ConnectionStateError(f"cannot send: connection is {self.state.name}")

    def _send_data(self, op: int, payload, fin: bool, compress: bool) -> None:
        send_op = self._send_op
        if send_op:
            if send_op != op:
                raise ConnectionStateError("a fragmented message of the other type is being sent")
            frame_op = _OP_CONT
        else:
            frame_op = op
        self._send_op = 0 if fin else op
        self._plain = fin and not self._ext and self.state is _OPEN
        if self._ext:
            rsv = 0
            for ext in self._ext:
                payload, bits = ext.encode(frame_op, payload, fin, compress)
                rsv |= bits
            write_frame(
                self._out, frame_op, payload, fin=fin,
                rsv1=bool(rsv & 0x40), rsv2=bool(rsv & 0x20), rsv3=bool(rsv & 0x10), client=self._client,
            )
        else:
            write_frame(self._out, frame_op, payload, fin=fin, client=self._client)

    def send_text(self, data: str, *, fin: bool = True, compress: bool = True) -> None:
        """Queue a text message (or, with ``fin=False``, the first/next fragment of one).

        ``compress`` is passed to the negotiated extensions (False: send this
        message uncompressed). Raises ConnectionStateError unless OPEN.
        """
        if fin and self._plain and isinstance(data, str):
            # The frame is built straight into the output buffer; an ASCII str
            # is copied once, from the str itself.
            write_data(self._out, _OP_TEXT, data, self._client)
            return
        if not isinstance(data, str):
            raise TypeError(f"send_text needs a str, not {type(data).__name__}")
        if self.state is not _OPEN:
            self._check_open()
        self._send_data(_OP_TEXT, data.encode("utf-8"), fin, compress)

    def send_binary(self, data, *, fin: bool = True, compress: bool = True) -> None:
        """Queue a binary message (bytes-like), or a fragment of one with ``fin=False``."""
        if isinstance(data, str):
            raise TypeError("send_binary needs a bytes-like object, not str (use send_text)")
        if fin and self._plain:
            write_data(self._out, _OP_BINARY, data, self._client)
            return
        if self.state is not _OPEN:
            self._check_open()
        self._send_data(_OP_BINARY, data, fin, compress)

    def send_message(self, data) -> None:
        """Queue one whole message: a ``str`` as text, any other bytes-like
        object as binary (one call for I/O layers whose ``send`` takes both)."""
        if self._plain:
            write_data(self._out, _OP_TEXT if isinstance(data, str) else _OP_BINARY, data, self._client)
        elif isinstance(data, str):
            self.send_text(data)
        else:
            self.send_binary(data)

    def send_ping(self, payload=b"") -> None:
        """Queue a ping (payload up to 125 bytes; ValueError otherwise)."""
        self._check_open()
        write_data(self._out, _OP_PING, payload, self._client)

    def send_pong(self, payload=b"") -> None:
        """Queue an unsolicited pong (payload up to 125 bytes)."""
        self._check_open()
        write_data(self._out, _OP_PONG, payload, self._client)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake: queue a close frame with ``code`` and ``reason``.

        Code 1005 sends a close frame without a payload. ValueError for a code
        that may not be sent or a reason over 123 UTF-8 bytes. Does nothing
        once a close frame was sent or the connection is closed; raises
        ConnectionStateError during the opening handshake (server: use
        ``reject()``; client: drop the transport).
        """
        state = self.state
        if state is _CONNECTING:
            raise ConnectionStateError("cannot close during the opening handshake")
        if state is not _OPEN:
            return
        payload = build_close_payload(code, reason)
        write_data(self._out, _OP_CLOSE, payload, self._client)
        self._close_sent = True
        self.state = _CLOSING
        self._plain = False
        self._reset_message()

    # -- internals ---------------------------------------------------------------

    def _open(self, extensions: List[Extension], allowed_rsv: int) -> None:
        limit = self._max_message_size
        if limit is not None and extensions:
            # Compressed frames may be slightly larger than their output; the
            # message limit itself is enforced on decoded bytes.
            limit = limit + (limit >> 4) + 1024
        # Stream mode: a data frame still arriving is delivered in pieces, so
        # limits and UTF-8 are checked as bytes arrive and no frame is buffered.
        # Messages mode: whole unfragmented messages come out of the parser as
        # TextMessage/BinaryMessage events (built in C), the receive fast path.
        self._parser = FrameParser(
            not self._client, limit, allowed_rsv, stream=True, messages=not extensions and not self._stream,
            max_fragments=self._max_fragments, sequence=True,
        )
        self.extensions = extensions
        self._ext = tuple(extensions)
        self._ext_rev = tuple(reversed(extensions))
        self.state = _OPEN
        self._plain = not extensions
        self._events.append(Connected(self.subprotocol, extensions))

    def _reset_message(self) -> None:
        self._msg_op = 0
        self._msg_len = 0
        if self._msg_buf:
            self._msg_buf = bytearray()
        self._decoder = None

    def _finish(self, code: int, reason: str, error: Optional[BaseException], close_transport: bool) -> None:
        """Enter CLOSED and emit the final Closed event."""
        self.state = _CLOSED
        self._plain = False
        self._msg_buf = bytearray()
        self.close_code = code
        self.close_reason = reason
        if close_transport:
            self.should_close_transport = True
        for ext in self._ext:
            try:
                ext.close()
            except Exception:
                pass
        self._events.append(Closed(code, reason, error))

    def _fail(self, exc: ProtocolError) -> None:
        """Fail the connection because of ``exc`` (the one place mapping errors to close frames).

        While a ``receive_data`` call is processing, an error that comes after
        messages delivered in that same call, or any peer error while
        ``hold_failures`` is set, is kept pending (``failure_pending``), so the
        application can still answer the messages before the close frame.
        """
        if self.state is _CLOSED:
            return
        mark = self._mark
        if mark >= 0 and (self.hold_failures or len(self._events) > mark):
            self._pending_error = exc
            return
        code = exc.code
        reason = exc.reason
        if not self._close_sent:
            self._close_sent = True
            write_data(self._out, _OP_CLOSE, build_close_payload(code, _truncate_reason(reason)), self._client)
        self._finish(code, reason, exc, True)

    def _receive_frames(self, data) -> None:
        try:
            items = self._parser.feed(data)
            error = None
        except ProtocolError as exc:
            items = getattr(exc, "frames", None) or ()
            error = exc
        events = self._events
        # Peer errors from here on may stay pending behind the messages (_fail).
        self._mark = len(events)
        try:
            if self.state is _OPEN:
                append = events.append
                for item in items:
                    if item.__class__ is not Frame:  # a message event from the parser
                        append(item)
                    elif self._frame(item):
                        return
            else:  # CLOSING: data after our close frame is dropped
                for item in items:
                    if item.__class__ is Frame and self._frame(item):
                        return
            if error is not None:
                self._fail(error)
        finally:
            self._mark = -1

    def _frame(self, frame) -> bool:
        """Handle any frame off the fast path; True when the connection ended."""
        op = frame.opcode
        if op >= _OP_CLOSE:
            if self._ext and (frame.rsv1 or frame.rsv2 or frame.rsv3):
                self._fail(ProtocolError("reserved bits set on a control frame"))
                return True
            payload = frame.payload
            if op == _OP_PING:
                self._events.append(Ping(payload))
                if self._auto_pong and self.state is _OPEN:
                    write_data(self._out, _OP_PONG, payload, self._client)
                return False
            if op == _OP_PONG:
                self._events.append(Pong(payload))
                return False
            return self._close_frame(payload)
        if self.state is not _OPEN:
            return False  # CLOSING: data after our close frame is dropped
        fin = frame.fin
        # The parser enforces the order of fragments (sequence=True): here a
        # data frame with an opcode starts a message, a continuation goes on.
        msg_op = op or self._msg_op
        payload = frame.payload
        limit = self._max_message_size
        if self._ext:
            rsv = (0x40 if frame.rsv1 else 0) | (0x20 if frame.rsv2 else 0) | (0x10 if frame.rsv3 else 0)
            budget = None if limit is None else limit - self._msg_len
            try:
                for ext in self._ext_rev:
                    payload = ext.decode(op, payload, rsv, fin, budget)
            except ProtocolError as exc:
                self._fail(exc)
                return True
            except Exception as exc:
                self._fail(_internal_error(exc))
                return True
        size = self._msg_len + len(payload)
        if limit is not None and size > limit:
            self._fail(PayloadTooBig(f"message of more than {limit} bytes"))
            return True
        text = msg_op == _OP_TEXT
        if self._stream:
            if text:
                utf8 = self._utf8
                if op:
                    utf8.reset()
                    self._decoder = _Utf8Decoder()
                if not utf8.feed(payload) or (fin and not utf8.finish()):
                    self._fail(InvalidUtf8("invalid UTF-8 in text message"))
                    return True
                data = self._decoder.decode(payload, fin)
            else:
                data = bytes(payload)
            self._events.append(Fragment(data, text, fin))
            if fin:
                self._reset_message()
            else:
                self._msg_op = msg_op
                self._msg_len = size
            return False
        if op and fin:  # a whole message in one frame (extension path)
            if text:
                try:
                    self._events.append(TextMessage(payload.decode("utf-8")))
                except UnicodeDecodeError:
                    self._fail(InvalidUtf8("invalid UTF-8 in text message"))
                    return True
            else:
                self._events.append(BinaryMessage(bytes(payload)))
            return False
        if op:
            self._msg_op = msg_op
            self._msg_buf = buf = bytearray()
            if text:
                self._utf8.reset()
        else:
            buf = self._msg_buf
        if text and not self._utf8.feed(payload):
            self._fail(InvalidUtf8("invalid UTF-8 in text message"))
            return True
        buf += payload
        self._msg_len = size
        if fin:
            if text:
                if not self._utf8.finish():
                    self._fail(InvalidUtf8("text message ends inside a UTF-8 sequence"))
                    return True
                event: Event = TextMessage(buf.decode("utf-8"))
            else:
                event = BinaryMessage(bytes(buf))
            self._msg_buf = bytearray()
            self._msg_op = 0
            self._msg_len = 0
            self._events.append(event)
        return False

    def _close_frame(self, payload) -> bool:
        try:
            code, reason = parse_close_payload(payload)
        except ProtocolError as exc:
            self._fail(exc)
            return True
        self._events.append(CloseReceived(code, reason))
        if not self._close_sent:
            self._close_sent = True
            echo = b"" if code == _NO_STATUS else bytes(payload[:2])
            write_data(self._out, _OP_CLOSE, echo, self._client)
        self._finish(code, reason, None, not self._client)
        return True

    def _receive_handshake(self, data) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _abort_handshake(self, exc: BaseException) -> None:
        self._finish(_ABNORMAL, "internal error", exc, True)


class ServerConnection(_Connection):
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
        super().__init__(
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


class ClientConnection(_Connection):
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
        super().__init__(
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
