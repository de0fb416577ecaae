# cython: freethreading_compatible=True, binding=False, embedsignature=True, embedsignature.format=clinic
"""The frame session, written once: received bytes -> events, send calls ->
bytes, the closing handshake and failures (the part of a connection after
its opening handshake).

:class:`Session` is public (through :mod:`wsframe.connection`) for a
connection whose handshake was done elsewhere: WebSockets over HTTP/2 (RFC
8441) or a test harness. The HTTP/1.1 upgrade handshakes (``_upgrade.py``)
subclass it. This file is the pure-Python session and, compiled by Cython
with ``_session_c.pxd`` (extension types with C attributes), the C one,
``wsframe._session_c``; ``wsframe.connection`` chooses, following
``wsframe.codec``.
"""

from __future__ import annotations

import codecs
from typing import Any, List, Optional, Sequence, Tuple, Union

from .codec import (
    Frame,
    FrameParser,
    build_close_payload,
    frame_data,  # compiled: the C functions themselves (cimported by _session_c.pxd)
    parse_close_payload,
    write_data,
    write_frame,
)
from ._kernels_py import new_buffer  # compiled: the C one (cimported by _session_c.pxd)
from ._text_py import KEEPS_TEXT as _KEEPS_TEXT  # the validator for text that arrives in pieces
from ._text_py import TextValidator as _TextValidator
from .enums import RSV1, RSV2, RSV3, CloseCode, Opcode, State
from .events import BinaryMessage, CloseReceived, Closed, Connected, Event, Fragment, Ping, Pong, TextMessage
from .exceptions import ConnectionStateError, InvalidHandshake, InvalidUtf8, PayloadTooBig, ProtocolError
from .extensions import Extension

__all__ = ["DEFAULT_MAX_FRAGMENTS", "Session"]

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
_RSV1 = int(RSV1)
_RSV2 = int(RSV2)
_RSV3 = int(RSV3)

_CONNECTING = State.CONNECTING
_OPEN = State.OPEN
_CLOSING = State.CLOSING
_CLOSED = State.CLOSED

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


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


class Session:
    """The frame session of one WebSocket connection whose opening handshake is done.

    ``client``: True for the client role (frames sent masked, frames received
    must not be). ``subprotocol``: the one agreed on, for the record.
    ``extensions``: the negotiated :class:`~wsframe.extensions.Extension`
    objects, in the order of the handshake's answer (their RSV bits must not
    overlap: ValueError). The limits are those of the connection classes. The
    session starts OPEN, with a ``Connected`` event, and has the whole API of
    a connection after its handshake: ``receive_data``, ``events``,
    ``data_to_send``, ``send_*``, ``close``...
    """

    __slots__ = (
        "state", "should_close_transport", "close_code", "close_reason", "subprotocol", "extensions",
        "hold_failures", "_client", "_events", "_out", "_first", "_parser", "_max_message_size", "_max_fragments",
        "_auto_pong", "_stream", "_ext", "_ext_rev", "_pending_error", "_plain", "_mark", "_msg_op", "_msg_buf",
        "_msg_len", "_utf8", "_decoder", "_send_op", "_close_sent",
    )

    def __init__(self, client: bool = False, *, subprotocol: Optional[str] = None, extensions: Sequence[Extension] = (),
                 max_message_size: Optional[int] = 1 << 20, auto_pong: bool = True, stream_fragments: bool = False,
                 max_fragments: Optional[int] = DEFAULT_MAX_FRAGMENTS) -> None:
        self._setup(bool(client), max_message_size, auto_pong, stream_fragments, max_fragments)
        used = 0
        for ext in extensions:
            if ext.rsv_bits & used:
                raise ValueError(f"extension {ext.name!r} reuses an RSV bit")
            used |= ext.rsv_bits
        self.subprotocol: Optional[str] = subprotocol
        self._open(list(extensions), used)

    def _setup(self, client: bool, max_message_size: Optional[int], auto_pong: bool, stream_fragments: bool,
               max_fragments: Optional[int]) -> None:
        """Check the limits and set every field (state CONNECTING); the constructors call it first."""
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
        self.subprotocol = None
        self.extensions: List[Extension] = []
        self._client = client
        self._events: List[Event] = []
        self._out = bytearray()
        self._first: Optional[bytes] = None  # see _queue
        self._parser: Any = None  # a FrameParser once OPEN
        self._max_message_size = max_message_size
        self._max_fragments = max_fragments
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
        self._utf8 = _TextValidator()
        self._decoder: Any = None
        self._send_op = 0
        # True while a message can go out as one plain frame: OPEN, no
        # extension, no fragmented message being sent (the send fast path).
        self._plain = False
        self._close_sent = False

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

        Returns bytes or a bytearray that the caller owns: no copy, and no
        other effect: the state and the events are not touched.
        """
        first = self._first
        out = self._out
        if first is not None:
            self._first = None
            if not out:
                return first  # one message queued: its frame, as built
            out[0:0] = first
        elif not out:
            return b""
        self._out = new_buffer()
        return out

    def send_and_take(self, data) -> Union[bytes, bytearray]:
        """``send_message(data)`` then ``data_to_send()``, in one call: for I/O
        layers that write each message at once. A ``str`` goes as text, any
        other bytes-like object as binary.

        With nothing queued before it, the frame is built straight into the
        bytes object returned: no other allocation."""
        if self._plain and self._first is None and not self._out:
            return frame_data(_OP_TEXT if isinstance(data, str) else _OP_BINARY, data, self._client)
        self.send_message(data)
        return self.data_to_send()

    @property
    def failure_pending(self) -> bool:
        """True while a peer error waits behind messages already delivered.

        When one read holds valid messages then a protocol error, the messages
        are delivered and the error kept pending, so that the application's
        answers go out before the close frame (RFC 6455 lets an endpoint finish
        what it received). The connection stays OPEN meanwhile. The I/O layer
        applies the failure with :meth:`apply_pending_failure` once the
        application has handled the messages; ``receive_data()`` and
        ``receive_eof()`` apply it first as well. A queueing I/O layer sets
        ``hold_failures`` while its application has a message it has not
        answered: then any peer error is held, also one in a later read.
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
                rsv1=bool(rsv & _RSV1), rsv2=bool(rsv & _RSV2), rsv3=bool(rsv & _RSV3), client=self._client,
            )
        else:
            write_frame(self._out, frame_op, payload, fin=fin, client=self._client)

    def send_text(self, data: str, *, fin: bool = True, compress: bool = True) -> None:
        """Queue a text message (or, with ``fin=False``, the first/next fragment of one).

        ``compress`` is passed to the negotiated extensions (False: send this
        message uncompressed). Raises ConnectionStateError unless OPEN.
        """
        if fin and self._plain and isinstance(data, str):
            # An ASCII str is copied once, from the str itself, into the frame.
            self._queue(_OP_TEXT, data)
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
            self._queue(_OP_BINARY, data)
            return
        if self.state is not _OPEN:
            self._check_open()
        self._send_data(_OP_BINARY, data, fin, compress)

    def send_message(self, data) -> None:
        """Queue one whole message: a ``str`` as text, any other bytes-like
        object as binary (one call for I/O layers whose ``send`` takes both)."""
        if self._plain:
            self._queue(_OP_TEXT if isinstance(data, str) else _OP_BINARY, data)
        elif isinstance(data, str):
            self.send_text(data)
        else:
            self.send_binary(data)

    def _queue(self, op: int, data) -> None:
        """The send fast path: one whole frame. The first frame queued while
        nothing else is becomes its own bytes object (``_first``), which
        data_to_send() hands over as it is; later frames append to ``_out``,
        behind it."""
        if self._first is None and not self._out:
            self._first = frame_data(op, data, self._client)
        else:
            write_data(self._out, op, data, self._client)

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
            rsv = (_RSV1 if frame.rsv1 else 0) | (_RSV2 if frame.rsv2 else 0) | (_RSV3 if frame.rsv3 else 0)
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
                    if not _KEEPS_TEXT:
                        self._decoder = _Utf8Decoder()
                if not utf8.feed(payload) or (fin and not utf8.finish()):
                    self._fail(InvalidUtf8("invalid UTF-8 in text message"))
                    return True
                data = utf8.take() if _KEEPS_TEXT else self._decoder.decode(payload, fin)
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
        if not (text and _KEEPS_TEXT):  # the twin's validator keeps the text itself
            buf += payload
        self._msg_len = size
        if fin:
            if text:
                if not self._utf8.finish():
                    self._fail(InvalidUtf8("text message ends inside a UTF-8 sequence"))
                    return True
                event: Event = TextMessage(self._utf8.take() if _KEEPS_TEXT else buf.decode("utf-8"))
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


    # -- the opening handshake's hooks (the upgrade classes override them) -------

    def _receive_handshake(self, data) -> None:  # pragma: no cover - a Session is never CONNECTING
        raise ConnectionStateError("no opening handshake on this connection")

    def _abort_handshake(self, exc: BaseException) -> None:
        self._finish(_ABNORMAL, "internal error", exc, True)
