"""websockets' receive side on wsframe's C frame parser: a ``Protocol.parse``
that turns every complete frame of a read into websockets' own ``Frame``
objects with one C call, and yields only when it needs more data.

websockets parses one frame at a time with generators (``Frame.parse`` over
``StreamReader.read_exact``, one ``yield`` per read). The replacement
generator, at a frame boundary, hands the buffered input to one
``wsframe.codec.FrameParser.feed`` call (no size limit; RSV bits allowed only
when extensions are negotiated, which judge them as in websockets). The C
parser accepts a subset of what ``Frame.parse`` accepts, and splits it the
same way (neither insists on minimal length encodings), so each frame it
returns is the frame websockets would have read. Each one then goes through
websockets' own steps in websockets' order: the ``max_size`` check with the
limit of that moment (``PayloadTooBig`` with the same numbers), a ``Frame``
with the same field values and payload type, the extensions' ``decode``
(permessage-deflate in websockets' own objects), ``Frame.check``, the debug
log line and ``recv_frame`` (its TEXT/BINARY/CONT branches inlined when the
class does not override it; control frames call it). A frame that has not
fully arrived, or any frame the C parser refuses, is parsed by websockets'
own ``Frame.parse`` (after a refusal, every later frame of the connection
too), so each error is raised by websockets' code with its message, and the
same ``except`` clauses as websockets' ``parse`` turn it into the same close
code. Bytes of frames after a close frame or an error are discarded by
websockets' ``discard()``, as before.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Generator, List, Optional, Tuple

from .. import codec
from ..exceptions import WebSocketError
from ._patch import Counters

ParseGen = Generator[None, None, None]


def make_parse(ws: ModuleType, counters: Counters, v15: bool) -> Callable[[Any], ParseGen]:
    """The replacement ``Protocol.parse`` for the websockets package ``ws``
    (``v15``: 15.x names its limits ``max_size`` / ``cur_size``)."""
    frames_mod = ws.frames
    protocol_mod = ws.protocol
    Frame = frames_mod.Frame
    Opcode = frames_mod.Opcode
    CloseCode = frames_mod.CloseCode
    ProtocolError = ws.exceptions.ProtocolError
    PayloadTooBig = ws.exceptions.PayloadTooBig
    SERVER = protocol_mod.SERVER
    TEXT, BINARY, CONT, CLOSE = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.CLOSE
    ops: List[Any] = [None] * 16
    for op in Opcode:
        ops[int(op)] = op
    original_recv_frame = protocol_mod.Protocol.recv_frame
    FrameParser = codec.FrameParser
    values = counters.values
    new = object.__new__
    size_attr = "cur_size" if v15 else "current_size"

    if v15:
        def limits(self: Any) -> Tuple[Optional[int], Optional[int]]:
            return self.max_size, None
    else:
        def limits(self: Any) -> Tuple[Optional[int], Optional[int]]:
            return self.max_message_size, self.max_fragment_size

    def max_size_now(self: Any) -> Optional[int]:
        """The max_size websockets' parse() passes to Frame.parse right now."""
        mms, mfs = limits(self)
        cur = getattr(self, size_attr)
        limit = None if mms is None else (mms if cur is None else mms - cur)
        if mfs is not None and (limit is None or mfs < limit):
            limit = mfs
        return limit

    def batch(self: Any, buf: bytearray, keep: List[Any]) -> Optional[bool]:
        """Every complete frame at the start of ``buf``, through websockets'
        steps. False: the first frame is not complete (nothing consumed).
        None: the C parser refused a frame (nothing consumed). ``keep``: the
        connection's parser, reused while it holds no bytes ([parser, rsv])."""
        n = len(buf)
        if n > 4096:
            # Whole first frame buffered? (Else the C parser would copy a
            # large buffer for nothing.)
            need = buf[1] & 0x7F
            if need == 126:
                need = (buf[2] << 8 | buf[3]) + 4
            elif need == 127:
                need = int.from_bytes(buf[2:10], "big") + 10
            else:
                need += 2
            if buf[1] & 0x80:
                need += 4
            if need > n:
                return False
        exts = self.extensions
        rsv = 0x70 if exts else 0
        parser = keep[0]
        if parser is None or keep[1] != rsv:
            parser = keep[0] = FrameParser(self.side is SERVER, None, rsv)
            keep[1] = rsv
        try:
            cframes = parser.feed(buf)
        except WebSocketError:
            keep[0] = None
            return None
        left = parser.buffered
        if left:  # it holds the start of a frame: a fresh parser next time
            keep[0] = None
        if not cframes:
            return False
        # Consumed before their frames are handled, as read_exact does; after
        # an error or a close frame, discard() drops the rest of the buffer.
        del buf[: n - left]
        client = self.side is not SERVER
        values["parse"] += 1
        values["frames"] += len(cframes)
        mms, mfs = limits(self)
        cur = getattr(self, size_attr)
        debug = self.debug
        events = self.events
        inline = type(self).recv_frame is original_recv_frame
        for cf in cframes:
            if exts:
                op, data, fin, rsv1, rsv2, rsv3 = cf.astuple()
            else:  # the C parser refused any RSV bit
                op = cf.opcode
                data = cf.payload
                fin = cf.fin
                rsv1 = rsv2 = rsv3 = False
            if client:
                data = bytearray(data)  # read_exact's type: unmasked payloads stay bytearrays
            if mms is None:
                limit = mfs
            else:
                limit = mms if cur is None else mms - cur
                if mfs is not None and mfs < limit:
                    limit = mfs
            if limit is not None and len(data) > limit:
                raise PayloadTooBig(len(data), limit)
            frame = new(Frame)
            frame.opcode = ops[op]
            frame.data = data
            frame.fin = fin
            frame.rsv1 = rsv1
            frame.rsv2 = rsv2
            frame.rsv3 = rsv3
            if exts:
                for extension in reversed(exts):
                    frame = extension.decode(frame, max_size=limit)
                frame.check()
            if debug:
                self.logger.debug("< %s", frame)
            if inline:
                # Protocol.recv_frame's data-frame branches.
                opcode = frame.opcode
                if opcode is TEXT or opcode is BINARY:
                    if cur is not None:
                        raise ProtocolError("expected a continuation frame")
                    if not frame.fin:
                        cur = len(frame.data)
                        setattr(self, size_attr, cur)
                    events.append(frame)
                    continue
                if opcode is CONT:
                    if cur is None:
                        raise ProtocolError("unexpected continuation frame")
                    cur = None if frame.fin else cur + len(frame.data)
                    setattr(self, size_attr, cur)
                    events.append(frame)
                    continue
            self.recv_frame(frame)
            if frame.opcode is CLOSE:
                return True  # recv_frame replaced the parser with discard()
            cur = getattr(self, size_attr)
        return True

    def parse(self: Any) -> ParseGen:
        """Parse incoming data into frames (websockets' Protocol.parse, with
        complete frames parsed in C)."""
        reader = self.reader
        fast = True
        keep: List[Any] = [None, 0]
        try:
            while True:
                buf = reader.buffer
                if not buf:  # StreamReader.at_eof()
                    if reader.eof:
                        if self.debug:
                            self.logger.debug("< EOF")
                        raise EOFError("unexpected end of stream")
                    yield
                    continue
                if fast:
                    done = batch(self, buf, keep)
                    if done:
                        continue
                    if done is None:
                        fast = False
                # websockets' own code for a frame not complete yet, or refused in C.
                values["slow"] += 1
                frame = yield from Frame.parse(
                    reader.read_exact,
                    mask=self.side is SERVER,
                    max_size=max_size_now(self),
                    extensions=self.extensions,
                )
                if self.debug:
                    self.logger.debug("< %s", frame)
                self.recv_frame(frame)

        except ProtocolError as exc:
            self.fail(CloseCode.PROTOCOL_ERROR, str(exc))
            self.parser_exc = exc

        except EOFError as exc:
            self.fail(CloseCode.ABNORMAL_CLOSURE, str(exc))
            self.parser_exc = exc

        except UnicodeDecodeError as exc:
            self.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            self.parser_exc = exc

        except PayloadTooBig as exc:
            exc.set_current_size(getattr(self, size_attr))
            self.fail(CloseCode.MESSAGE_TOO_BIG, str(exc))
            self.parser_exc = exc

        except Exception as exc:
            self.logger.error("parser failed", exc_info=True)
            # Don't include exception details, which may be security-sensitive.
            self.fail(CloseCode.INTERNAL_ERROR)
            self.parser_exc = exc

        yield
        raise AssertionError("parse() shouldn't step after error")

    parse.__qualname__ = "Protocol.parse"
    return parse
