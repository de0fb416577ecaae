"""Issue 11: the C codec and its pure-Python twin answer every argument of
every codec function and constructor the same way: the same result, or the
same exception type with the same message. One parametrized test over each
argument of each entry point x a list of odd values (wrong types, huge and
negative ints, bools, floats, str, bytes-like objects of every shape,
subclasses of bytes/str/int)."""

from __future__ import annotations

import array
import copy
import inspect

import pytest


class BytesSub(bytes):
    pass


class StrSub(str):
    pass


class IntSub(int):
    pass


ODD = [
    None, True, False, 0, 1, -1, 3, 8, 15, 16, 126, 2**31, 2**63, 2**64, 2**70, -(2**70), 1.0, 0.5, 1j,
    "", "x", "é", b"", b"abc", b"\x01\x02\x03\x04", b"\x01\x02\x03\x04\x05",
    bytearray(b"abcd"), memoryview(b"abcd"), memoryview(b"abcdefgh")[::2], memoryview(b"abcd").cast("B", (2, 2)),
    array.array("i", [1]), array.array("b", [1, 2, 3, 4]), object(), [], [1, 2, 3, 4], (1,),
    BytesSub(b"abcd"), StrSub("ab"), IntSub(2),
]

KEY = b"\x01\x02\x03\x04"

# Entry point -> a call with every argument defaulted to a valid value; the
# test replaces one argument at a time.
ENTRY_POINTS = {
    "apply_mask": lambda m, data=b"abcdef", mask=KEY: m.apply_mask(data, mask),
    "mask_inplace": lambda m, buffer=None, mask=KEY, offset=0: m.mask_inplace(
        bytearray(b"abcdef") if buffer is None else buffer, mask, offset
    ),
    "validate_utf8": lambda m, data=b"abc": m.validate_utf8(data),
    "as_bytes": lambda m, data=b"abc": _typed(m.as_bytes(data)),
    "Utf8Validator.feed": lambda m, data=b"abc": m.Utf8Validator().feed(data),
    "build_frame": lambda m, opcode=2, payload=b"ab", fin=True, rsv1=False, rsv2=False, rsv3=False, client=False,
    mask=None: m.build_frame(opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, client=client, mask=mask),
    "write_frame": lambda m, out=None, opcode=2, payload=b"ab", fin=True, rsv1=False, rsv2=False, rsv3=False,
    client=False, mask=None: _written(m, out, opcode, payload, fin, rsv1, rsv2, rsv3, client, mask),
    "write_data": lambda m, out=None, opcode=2, payload=b"ab", client=False: _written_data(m, out, opcode, payload,
                                                                                          client),
    "frame_data": lambda m, opcode=2, payload=b"ab", client=False: m.frame_data(opcode, payload, client),
    "FrameParser": lambda m, server=True, max_frame_size=100, allowed_rsv=0, stream=False, messages=False,
    max_fragments=None: _parser_state(m.FrameParser(server, max_frame_size, allowed_rsv, stream, messages, max_fragments)),
    "FrameParser.feed": lambda m, data=b"\x82\x80abcd": m.FrameParser(True).feed(data),
    "FrameParser.max_frame_size=": lambda m, value=5: _set(m.FrameParser(True), "max_frame_size", value),
    "FrameParser.allowed_rsv=": lambda m, value=0: _set(m.FrameParser(True), "allowed_rsv", value),
    "FrameParser.max_fragments=": lambda m, value=None: _set(m.FrameParser(True), "max_fragments", value),
    "FrameParser.messages=": lambda m, value=False: _set(m.FrameParser(True), "messages", value),
    "Frame": lambda m, opcode=2, payload=b"", fin=True, rsv1=False, rsv2=False, rsv3=False: _frame_state(
        m.Frame(opcode, payload, fin, rsv1, rsv2, rsv3)
    ),
    "TextMessage": lambda m, data="x": _typed(m.TextMessage(data).data),
    "BinaryMessage": lambda m, data=b"x": _typed(m.BinaryMessage(data).data),
}


def _written(m, out, *args):
    buf = bytearray(b"pre") if out is None else out
    m.write_frame(buf, args[0], args[1], fin=args[2], rsv1=args[3], rsv2=args[4], rsv3=args[5], client=args[6],
                  mask=args[7])
    return bytes(buf)


def _written_data(m, out, opcode, payload, client):
    buf = bytearray(b"pre") if out is None else out
    m.write_data(buf, opcode, payload, client)
    return bytes(buf)


def _parser_state(p):
    return (p.server, p.stream, p.messages, p.max_frame_size, p.allowed_rsv, p.max_fragments)


def _set(p, name, value):
    setattr(p, name, value)
    return _parser_state(p)


def _frame_state(f):
    return tuple((type(v).__name__, v) for v in f.astuple())


def _typed(v):
    return type(v).__name__, v


def _cases():
    for name, fn in ENTRY_POINTS.items():
        for arg in list(inspect.signature(fn).parameters)[1:]:
            for i, value in enumerate(ODD):
                yield pytest.param(name, arg, value, id=f"{name}-{arg}-{i}")


def outcome(call, random_mask):
    try:
        result = call()
    except Exception as exc:
        return "raises", type(exc).__name__, str(exc)
    if random_mask and isinstance(result, bytes):
        # A client frame without a given key: masked with a fresh random key.
        # Compare what does not depend on it: length, header, the key's place.
        return "ok", len(result), result[:2]
    return "ok", result


@pytest.mark.parametrize("name, arg, value", list(_cases()))
def test_same_answer_for_every_argument(impls, name, arg, value):
    py, c = impls
    fn = ENTRY_POINTS[name]
    random_mask = arg == "client"
    got_c = outcome(lambda: fn(c, **{arg: fresh(value)}), random_mask)
    assert got_c == outcome(lambda: fn(py, **{arg: fresh(value)}), random_mask)


def fresh(value):
    """A copy of a mutable value, so that each implementation gets the same input."""
    if isinstance(value, (bytearray, array.array)):
        return copy.copy(value)
    return value


def test_at_boundary_is_false_once_invalid(impl):
    """Defined behaviour: ``at_boundary`` means "valid so far and at a code
    point boundary", so it is False from the first invalid byte on, even
    where the automaton's state would look like a boundary."""
    v = impl.Utf8Validator()
    assert v.feed(b"\xc3") and not v.at_boundary
    assert not v.feed(b"\xa9\xff")
    assert not v.at_boundary and not v.valid and not v.finish()
    assert v.error_offset == 2 and v.bytes_seen == 1
    assert not v.feed(b"a") and not v.at_boundary  # stays failed
    v.reset()
    assert v.at_boundary and v.feed(b"\xc3\xa9") and v.at_boundary
