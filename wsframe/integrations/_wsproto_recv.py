"""wsproto's receive side on wsframe's C frame parser.

``FrameProtocol.received_frames`` is replaced by a generator that yields the
same wsproto ``Frame`` tuples, raises the same ``ParseFailed`` errors at the
same point and leaves wsproto's own state objects (the frame decoder's
buffer and header, the message decoder) as wsproto would, so that a
connection can move between the two paths at any frame boundary.

How: at a frame boundary, when the buffered input holds at least one whole
frame, it is handed to one ``wsframe.codec.FrameParser.feed`` call, which
returns every complete frame unmasked. The batch is used only when it is
provably what wsproto would parse: no parser error, and the bytes consumed
equal the sum of the *minimal* frame sizes (wsproto rejects non-minimal
length encodings, wsframe does not). With extensions (permessage-deflate),
their ``frame_inbound_header`` / ``frame_inbound_payload_data`` /
``frame_inbound_complete`` hooks are then called for each frame as
wsproto's ``FrameDecoder`` calls them, and they judge the RSV bits. A frame
cut by the end of the data has its header parsed by wsproto's own
``parse_header`` and its payload delivered piece by piece, unmasked in C
(through wsproto's ``process_buffer`` when there are extensions). After a
parser error, or an unusual encoding, the rest goes through wsproto's own
``FrameDecoder.process_buffer`` one frame at a time, with masking on the C
codec. Errors therefore always come from wsproto's code, with its messages.
"""

from __future__ import annotations

from collections import deque
from types import ModuleType
from typing import Any, Callable, Deque, Iterator, List, cast

from .. import codec
from ..exceptions import ProtocolError
from ._patch import Counters

PENDING = "_wsframe_pending"  # instance attribute: deque of frames parsed, not yet yielded
DONE = "_wsframe_done"  # instance attribute: a CLOSE or an error ended parsing


class _Raise:
    """A ParseFailed waiting in the pending queue behind the frames before it."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def make_received_frames(fp: ModuleType, original: Callable[[Any], Iterator[Any]],
                         counters: Counters) -> Callable[[Any], Iterator[Any]]:
    Frame = fp.Frame
    Opcode = fp.Opcode
    ParseFailed = fp.ParseFailed
    TEXT, BINARY, PING, PONG, CLOSE = Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG, Opcode.CLOSE
    FrameParser = codec.FrameParser
    new = tuple.__new__
    values = counters.values

    def wsproto_step(self: Any, pending: Deque[Any]) -> bool:
        """One frame through wsproto's own decoder and the body of its
        ``_parse_more_gen`` loop. False when no frame is complete."""
        frame = self._frame_decoder.process_buffer()
        if frame is None:
            return False
        if not frame.opcode.iscontrol():
            frame = self._message_decoder.process_frame(frame)
        elif frame.opcode == CLOSE:
            frame = self._process_close(frame)
            setattr(self, DONE, True)
        pending.append(frame)
        return True

    XorMaskerSimple = fp.XorMaskerSimple
    CONTINUATION = Opcode.CONTINUATION
    apply_mask = codec.apply_mask

    def piece_step(self: Any, pending: Deque[Any]) -> bool:
        """The next piece of a data frame whose header wsproto has parsed:
        ``FrameDecoder.process_buffer`` without its extra copies (the piece
        is unmasked in C straight into the bytes wsproto delivers)."""
        fd = self._frame_decoder
        header = fd.header
        buffer = fd.buffer
        buf = buffer.buffer
        n = header.payload_len - fd.payload_consumed
        if n > len(buf):
            n = len(buf)
        if not n and header.payload_len > 0:
            return False
        masker = fd.masker
        view = memoryview(buf)[:n] if n < len(buf) else buf
        if type(masker) is XorMaskerSimple:
            key = masker._masking_key
            payload = apply_mask(view, key)
            rotation = n & 3
            if rotation:
                masker._masking_key = key[rotation:] + key[:rotation]
            values["mask"] += 1
        else:
            payload = bytes(view)
        if view is buf:
            buffer.buffer = bytearray()
        else:
            view.release()
            del buf[:n]
        fd.payload_consumed += n
        finished = fd.payload_consumed == header.payload_len
        opcode = fd.effective_opcode
        if finished:
            fd.header = None
            fd.effective_opcode = None
            fd.masker = None
        else:
            fd.effective_opcode = CONTINUATION
        md = self._message_decoder
        if (opcode is CONTINUATION and md.opcode is BINARY) or (opcode is BINARY and md.opcode is None):
            # MessageDecoder.process_frame for a binary piece, inlined.
            done = finished and header.fin
            md.opcode = None if done else BINARY
            pending.append(new(Frame, (BINARY, payload, finished, done)))
        else:
            pending.append(md.process_frame(new(Frame, (opcode, payload, finished, header.fin))))
        return True

    def batch(self: Any, data: bytearray, pending: Deque[Any]) -> int:
        """Parse the complete frames at the start of ``data`` in C.

        Returns the number of frames used; 0 when the first frame is not
        complete, -1 when the batch is not provably what wsproto would parse
        (in both cases nothing was consumed or changed)."""
        server = not self.client
        extensions = self._frame_decoder.extensions
        # With extensions, any RSV bit passes the C parser: the extensions'
        # own frame_inbound_header hooks judge them below, as in wsproto.
        parser = FrameParser(server, None, 0x70) if extensions else FrameParser(server, None)
        try:
            frames = cast("List[codec.Frame]", parser.feed(data))  # not messages=True: Frame objects only
        except ProtocolError:
            return -1
        if not frames:
            return 0
        # Proof that wsproto would have split the bytes the same way: each
        # frame's minimal encoded size, summed, is what the parser consumed.
        head = 6 if server else 2
        total = 0
        for f in frames:
            n = len(f.payload)
            total += n + head if n < 126 else n + head + (2 if n < 65536 else 8)
        if total != len(data) - parser.buffered:
            return -1
        values["parse"] += 1
        if extensions:
            return with_extensions(self, frames, data, total, head, pending)
        md = self._message_decoder
        append = pending.append
        used = 0
        for f in frames:
            op = f.opcode
            if op == 1 and f.fin and md.opcode is None:
                try:
                    append(new(Frame, (TEXT, f.payload.decode("utf-8"), True, True)))
                    used += 1
                    continue
                except UnicodeDecodeError:
                    pass  # wsproto's message decoder raises its own error below
            elif op == 2 and f.fin and md.opcode is None:
                append(new(Frame, (BINARY, f.payload, True, True)))
                used += 1
                continue
            elif op == 9:
                append(new(Frame, (PING, f.payload, True, True)))
                used += 1
                continue
            elif op == 10:
                append(new(Frame, (PONG, f.payload, True, True)))
                used += 1
                continue
            frame = new(Frame, (Opcode(op), f.payload, True, f.fin))
            used += 1
            if op < 8:
                try:
                    append(md.process_frame(frame))
                except ParseFailed:
                    del data[:_size(frames, used, head)]
                    raise
            else:  # CLOSE: nothing after it is parsed
                del data[:_size(frames, used, head)]
                append(self._process_close(frame))
                setattr(self, DONE, True)
                return used
        del data[:total]
        return used

    RsvBits = fp.RsvBits
    CloseReason = fp.CloseReason

    def with_extensions(self: Any, frames: Any, data: bytearray, total: int, head: int,
                        pending: Deque[Any]) -> int:
        """The rest of ``batch`` when extensions are negotiated: for each
        complete frame, the extension hooks that wsproto's
        ``FrameDecoder.parse_header`` and ``process_buffer`` call, in their
        order and with their arguments (header, payload data, completion),
        then the message decoder or the close handling. The C parser has
        already made every check of ``parse_header`` other than the
        extensions' (opcode, control frames, length encoding, mask bit)."""
        fd = self._frame_decoder
        extensions = fd.extensions
        md = self._message_decoder
        used = 0
        try:
            for f in frames:
                used += 1
                op = Opcode(f.opcode)
                payload: Any = f.payload
                fd.extension_processing(op, RsvBits(f.rsv1, f.rsv2, f.rsv3), len(payload))
                for extension in extensions:
                    result = extension.frame_inbound_payload_data(fd, payload)
                    if isinstance(result, CloseReason):
                        raise ParseFailed("error in extension", result)
                    payload = bytes(result)
                final = b""
                for extension in extensions:
                    result = extension.frame_inbound_complete(fd, f.fin)
                    if isinstance(result, CloseReason):
                        raise ParseFailed("error in extension", result)
                    if result is not None:
                        final += result
                frame = new(Frame, (op, payload + final if final else payload, True, f.fin))
                if f.opcode < 8:
                    pending.append(md.process_frame(frame))
                elif f.opcode == 8:  # CLOSE: nothing after it is parsed
                    del data[:_size(frames, used, head)]
                    pending.append(self._process_close(frame))
                    setattr(self, DONE, True)
                    return used
                else:
                    pending.append(frame)
        except ParseFailed:
            del data[:_size(frames, used, head)]  # as wsproto: the failing frame was consumed
            raise
        del data[:total]
        return used

    def fill(self: Any, pending: Deque[Any]) -> None:
        """Parse everything buffered into ``pending``."""
        fd = self._frame_decoder
        use_batch = True
        try:
            while not getattr(self, DONE):
                header = fd.header
                if header is None:
                    data = fd.buffer.buffer
                    if use_batch and _first_frame_complete(data):
                        used = batch(self, data, pending)
                        if used > 0:
                            if not data or getattr(self, DONE):
                                return
                            continue  # what is left starts with a frame cut by the end of the data
                        use_batch = False  # an error or an unusual encoding
                    # wsproto's own header parsing (its errors, its state);
                    # the payload then goes through piece_step or wsproto_step.
                    if not fd.parse_header():
                        return
                    continue
                elif header.opcode < 8 and not fd.buffer.bytes_used and not fd.extensions:  # a data frame's payload
                    if not fd.buffer.buffer and header.payload_len:
                        return  # nothing to deliver until more data comes
                    if not piece_step(self, pending):
                        return
                    continue
                if not wsproto_step(self, pending):
                    return
        except ParseFailed as exc:
            setattr(self, DONE, True)
            pending.append(_Raise(exc))
        finally:
            if getattr(self, DONE):
                self._parse_more = iter(())  # as wsproto's own parser: finished

    def received_frames(self: Any) -> Iterator[Any]:
        if type(self._frame_decoder) is not fp.FrameDecoder:
            yield from original(self)
            return
        pending = self.__dict__.get(PENDING)
        if pending is None:
            pending = deque()
            setattr(self, PENDING, pending)
            setattr(self, DONE, False)
        while True:
            if not pending:
                fill(self, pending)
                if not pending:
                    return
            while pending:
                item = pending.popleft()
                if type(item) is _Raise:
                    raise item.exc
                yield item

    return received_frames


def _first_frame_complete(data: bytearray) -> bool:
    """Whether ``data`` holds the whole first frame (by its header's length
    fields; a frame too short to tell is not complete)."""
    size = len(data)
    if size < 2:
        return False
    b1 = data[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if size < 4:
            return False
        n = (data[2] << 8) | data[3]
        pos = 4
    elif n == 127:
        if size < 10:
            return False
        n = int.from_bytes(data[2:10], "big")
        pos = 10
    if b1 & 0x80:
        pos += 4
    return size >= pos + n


def _size(frames: Any, count: int, head: int) -> int:
    """Encoded size of the first ``count`` frames (all minimally encoded)."""
    total = 0
    for f in frames[:count]:
        n = len(f.payload)
        total += n + head if n < 126 else n + head + (2 if n < 65536 else 8)
    return total
