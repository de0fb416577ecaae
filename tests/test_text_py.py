"""The twin's keeping validator (wsframe/_text_py.py): for any split of any
input it answers exactly as the plain twin validator does (same result, same
error offset, same boundary state), and the text it keeps is the decoded
input; and a session on the twin delivers text in pieces unchanged."""

from __future__ import annotations

import random

import pytest

from wsframe._codec_py import Utf8Validator
from wsframe._text_py import _JOIN_AT, KeepingUtf8Validator

TEXTS = ["héllo wörld ✓ 𝄞 日本語" * 40, "ascii only " * 30, "€" * 500]
BAD = [b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80\x80", b"\xff", b"\xf0\x9f\x98", b"\x80"]


def _cases(seed: int, count: int):
    rnd = random.Random(seed)
    for k in range(count):
        data = bytearray(rnd.choice(TEXTS).encode())
        if k % 2:
            pos = rnd.randrange(len(data))
            data[pos:pos] = rnd.choice(BAD)
        data = bytes(data)
        cuts = sorted(rnd.sample(range(1, len(data)), rnd.randrange(0, 16)))
        yield data, [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)], strict=True)]


@pytest.mark.parametrize("seed", range(6))
def test_same_answers_as_the_plain_validator_and_the_decoded_text(seed):
    valid = invalid = 0
    for data, pieces in _cases(seed, 200):
        plain, keeping, text = Utf8Validator(), KeepingUtf8Validator(), []
        for piece in pieces:
            ok = plain.feed(piece)
            assert keeping.feed(memoryview(piece) if len(piece) % 3 == 0 else piece) is ok
            assert (keeping.error_offset, keeping.at_boundary) == (plain.error_offset, plain.at_boundary)
            if not ok:
                break
            text.append(keeping.take())
        assert keeping.finish() is plain.finish()
        if plain.finish():
            assert "".join(text) == data.decode()
            valid += 1
        else:
            invalid += 1
    assert valid and invalid  # both kinds were exercised


def test_many_tiny_pieces_are_joined_and_reset_forgets():
    v = KeepingUtf8Validator()
    data = ("ü" * (3 * _JOIN_AT)).encode()
    for i in range(len(data)):
        assert v.feed(data[i : i + 1])
    assert len(v._parts) < _JOIN_AT  # joined along the way, not one str per byte
    assert v.take() == data.decode() and v.take() == ""
    v.feed(b"\xe2\x82")  # an open code point
    v.reset()
    assert v.feed(b"a") and v.take() == "a" and v.finish()


def test_twin_session_delivers_text_in_pieces(monkeypatch):
    from wsframe.codec import build_frame
    from wsframe.connection import Session
    from wsframe.enums import Opcode
    from wsframe.events import TextMessage

    text = "日本語ü✓" * 3000
    wire = build_frame(Opcode.TEXT, text.encode(), client=True)
    s = Session(client=False, max_message_size=None)
    got = []
    for i in range(0, len(wire), 4093):  # pieces that split code points
        s.receive_data(wire[i : i + 4093])
        got += [e.data for e in s.events() if isinstance(e, TextMessage)]
    assert got == [text]
