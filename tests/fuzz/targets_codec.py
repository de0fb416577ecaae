"""Fuzz targets of the codec: the frame parser and the UTF-8 validator.

Each target takes one fuzz input (see inputs.py), runs it through the C codec
(``MAIN``) and the pure-Python twin (``TWIN``) and raises Difference when they
disagree, or Finding when an oracle or invariant fails.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Optional, Tuple

from inputs import chunks, split
from twin import Finding, outcome, same

_LIMITS = (None, 0, 125, 70000)


def frames(main: SimpleNamespace, twin: SimpleNamespace, data: bytes) -> None:
    """FrameParser as a connection runs it (stream=True; messages=True without
    extensions), either role, random chunking, a few limits and RSV sets.

    options: bit 0 server role, bits 1-2 max_frame_size, bit 3 RSV1 allowed,
    bit 4 messages=False (a connection with extensions).
    """
    opts, seed, body = split(data)
    args = (bool(opts & 1), _LIMITS[(opts >> 1) & 3], 0x40 if opts & 8 else 0)
    messages = not opts & 16
    a = main.codec.FrameParser(*args, stream=True, messages=messages)
    b = twin.codec.FrameParser(*args, stream=True, messages=messages)
    items = []
    error = None
    for i, chunk in enumerate(chunks(body, seed)):
        ra = outcome(a.feed, chunk)
        rb = outcome(b.feed, chunk)
        same(ra, rb, f"feed #{i} ({len(chunk)} bytes)")
        same(a.buffered, b.buffered, f"buffered after feed #{i}")
        if ra[0] == "error":
            same(outcome(a.feed, b"\x81"), outcome(b.feed, b"\x81"), "feed after the error")
            if outcome(a.feed, b"")[0] != "error":
                raise Finding("a failed parser accepted more input")
            items += ra[1][5] or []
            error = ra[1][:5]
            break
        items += ra[1]
    _check_against_whole(twin, args, body, items, error)


def _flatten(items: list) -> Tuple[bytes, list]:
    """(the data frames' payload bytes in order, the control frames) of normalized parser output."""
    data = []
    control = []
    for item in items:
        if item[0] == "TextMessage":
            data.append(item[1].encode("utf-8", "surrogatepass"))
        elif item[0] == "BinaryMessage":
            data.append(item[1])
        elif item[1] >= 8:  # ("Frame", opcode, payload, fin, rsv1, rsv2, rsv3)
            control.append(item[1:])
        else:
            data.append(item[2])
    return b"".join(data), control


def _check_against_whole(twin: SimpleNamespace, args: tuple, body: bytes, items: list, error) -> None:
    """Metamorphic oracle for the logic both implementations share: the
    chunked, streamed run must carry the same payload bytes, control frames
    and error as one feed of the whole input without stream or messages mode."""
    whole = outcome(twin.codec.FrameParser(*args, stream=False, messages=False).feed, body)
    ref_items = whole[1] if whole[0] == "ok" else (whole[1][5] or [])
    ref_error = None if whole[0] == "ok" else whole[1][:5]
    if ref_error != error:
        raise Finding(f"chunked and streamed: error {error}; whole input: error {ref_error}; input {body.hex()}")
    data, control = _flatten(items)
    ref_data, ref_control = _flatten(ref_items)
    if control != ref_control or not data.startswith(ref_data) or len(data) - len(ref_data) > len(body):
        raise Finding(f"chunked and streamed output differs from one feed of the whole input {body.hex()}")


def _reference_utf8(data: bytes) -> Tuple[Optional[int], bool]:
    """(offset of the first byte no valid UTF-8 can contain here, or None;
    complete), after the Unicode standard's table 3-7 of well-formed sequences."""
    need, lo, hi = 0, 0x80, 0xBF
    for i, b in enumerate(data):
        if need:
            if not lo <= b <= hi:
                return i, False
            need -= 1
            lo, hi = 0x80, 0xBF
        elif b < 0x80:
            pass
        elif 0xC2 <= b <= 0xDF:
            need = 1
        elif 0xE0 <= b <= 0xEF:
            need = 2
            lo, hi = (0xA0, 0xBF) if b == 0xE0 else (0x80, 0x9F) if b == 0xED else (0x80, 0xBF)
        elif 0xF0 <= b <= 0xF4:
            need = 3
            lo, hi = (0x90, 0xBF) if b == 0xF0 else (0x80, 0x8F) if b == 0xF4 else (0x80, 0xBF)
        else:
            return i, False
    return None, need == 0


def _state(v) -> tuple:
    return (v.valid, v.error_offset, v.at_boundary, v.bytes_seen)


def utf8(main: SimpleNamespace, twin: SimpleNamespace, data: bytes) -> None:
    """Utf8Validator fed in chunks, both implementations, against a reference
    DFA and Python's decoder; validate_utf8 on the whole input.

    options: bit 0 feeds memoryview slices of the input (any alignment)
    instead of bytes copies (exactly sized heap blocks: ASan sees over-reads).
    """
    opts, seed, body = split(data)
    a = main.codec.Utf8Validator()
    b = twin.codec.Utf8Validator()
    pieces = list(chunks(body, seed))
    if opts & 1:
        view = memoryview(body)
        starts = [0]
        for piece in pieces:
            starts.append(starts[-1] + len(piece))
        pieces = [view[starts[k] : starts[k + 1]] for k in range(len(pieces))]
    for i, chunk in enumerate(pieces):
        same(outcome(a.feed, chunk), outcome(b.feed, chunk), f"feed #{i} ({len(chunk)} bytes)")
        same(_state(a), _state(b), f"state after feed #{i}")
    same(a.finish(), b.finish(), "finish()")
    whole = (main.codec.validate_utf8(body), twin.codec.validate_utf8(body))
    same(whole[0], whole[1], "validate_utf8")
    try:
        body.decode("utf-8")
        python_ok = True
    except UnicodeDecodeError:
        python_ok = False
    error, complete = _reference_utf8(body)
    expected = (error is None and complete, error)
    if (a.finish(), a.error_offset) != expected or whole[0] != python_ok or python_ok != expected[0]:
        raise Finding(
            f"UTF-8 of {body.hex()}: validator finish/error_offset {(a.finish(), a.error_offset)}, "
            f"validate_utf8 {whole[0]}, reference {expected}, bytes.decode ok {python_ok}"
        )
