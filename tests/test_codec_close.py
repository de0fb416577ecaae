"""Close-frame payload helpers (wsframe.codec.parse_close_payload / build_close_payload).

They live in wsframe.codec and validate the reason with the active
implementation's validate_utf8; ``codec_with`` swaps in each implementation's
validator so both are exercised.
"""

from __future__ import annotations

import pytest

from wsframe import codec
from wsframe.enums import CloseCode
from wsframe.exceptions import InvalidUtf8, ProtocolError

# Codes a peer may send (RFC 6455 7.4.1 and the IANA registry), written out here.
SENDABLE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014} | set(range(3000, 5000))


@pytest.fixture
def codec_with(impl, monkeypatch):
    monkeypatch.setattr(codec, "validate_utf8", impl.validate_utf8)
    return codec


def test_parse_empty_is_1005(codec_with):
    assert codec_with.parse_close_payload(b"") == (1005, "")
    assert codec_with.parse_close_payload(bytearray()) == (CloseCode.NO_STATUS_RCVD, "")


def test_parse_one_byte(codec_with):
    for b in (b"\x03", b"\xe8", b"\x00"):
        with pytest.raises(ProtocolError) as ei:
            codec_with.parse_close_payload(b)
        assert type(ei.value) is ProtocolError
        assert ei.value.code == 1002
        assert ei.value.reason == "close frame payload of 1 byte"


def test_parse_every_code(codec_with):
    for code in range(0, 1 << 16):
        payload = code.to_bytes(2, "big")
        if code in SENDABLE:
            assert codec_with.parse_close_payload(payload) == (code, ""), code
        else:
            with pytest.raises(ProtocolError) as ei:
                codec_with.parse_close_payload(payload)
            assert (type(ei.value), ei.value.code, ei.value.reason) == (ProtocolError, 1002, f"invalid close code {code}")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_parse_invalid_code_classes(codec_with, code):
    with pytest.raises(ProtocolError) as ei:
        codec_with.parse_close_payload(code.to_bytes(2, "big") + b"reason")
    assert ei.value.code == 1002
    assert type(ei.value) is ProtocolError


def test_parse_reason(codec_with):
    assert codec_with.parse_close_payload(b"\x03\xe8bye") == (1000, "bye")
    text = "gehe weg ✓ \U0001f44b"
    assert codec_with.parse_close_payload(b"\x0f\xa0" + text.encode()) == (4000, text)
    assert codec_with.parse_close_payload(memoryview(b"\x03\xe9" + text.encode())) == (1001, text)
    long_reason = "€" * 41  # 123 bytes
    assert codec_with.parse_close_payload(b"\x03\xe8" + long_reason.encode()) == (1000, long_reason)


@pytest.mark.parametrize(
    "raw",
    [b"\xff", b"ok\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"trunc\xe2\x82", b"\xce\xba\xe1\xbd"],
)
def test_parse_invalid_utf8_reason(codec_with, raw):
    with pytest.raises(InvalidUtf8) as ei:
        codec_with.parse_close_payload(b"\x03\xe8" + raw)
    assert ei.value.code == 1007
    assert ei.value.reason == "close reason is not valid UTF-8"
    assert isinstance(ei.value, ProtocolError)


def test_parse_bad_code_checked_before_reason(codec_with):
    with pytest.raises(ProtocolError) as ei:
        codec_with.parse_close_payload(b"\x03\xed\xff")
    assert (type(ei.value), ei.value.code) == (ProtocolError, 1002)


def test_build_default():
    assert codec.build_close_payload() == b"\x03\xe8"
    assert codec.build_close_payload(CloseCode.GOING_AWAY, "bye") == b"\x03\xe9bye"


def test_build_every_code():
    for code in range(0, 1 << 16):
        if code == 1005:
            continue
        if code in SENDABLE:
            assert codec.build_close_payload(code) == code.to_bytes(2, "big"), code
        else:
            with pytest.raises(ValueError):
                codec.build_close_payload(code)
    for code in (-1, 1 << 16, 1 << 40):
        with pytest.raises(ValueError):
            codec.build_close_payload(code)


def test_build_1005_is_empty():
    assert codec.build_close_payload(1005) == b""
    assert codec.build_close_payload(CloseCode.NO_STATUS_RCVD, "") == b""
    with pytest.raises(ValueError):
        codec.build_close_payload(1005, "why")


def test_build_reason_length():
    assert codec.build_close_payload(1000, "a" * 123) == b"\x03\xe8" + b"a" * 123
    assert codec.build_close_payload(4999, "€" * 41) == b"\x13\x87" + ("€" * 41).encode()
    with pytest.raises(ValueError):
        codec.build_close_payload(1000, "a" * 124)
    with pytest.raises(ValueError):
        codec.build_close_payload(1000, "€" * 41 + "a")  # 124 bytes, 42 characters
    with pytest.raises(ValueError):
        codec.build_close_payload(1000, "\U0001f600" * 31)  # 124 bytes


def test_build_unencodable_reason():
    with pytest.raises(ValueError):
        codec.build_close_payload(1000, "lone \ud800 surrogate")


@pytest.mark.parametrize("code", sorted(SENDABLE)[:12] + [3000, 4999])
def test_roundtrip_through_a_close_frame(impl, codec_with, code):
    reason = "closing ✓"
    payload = codec_with.build_close_payload(code, reason)
    frame = impl.build_frame(8, payload, mask=b"\x01\x02\x03\x04")
    (f,) = impl.FrameParser(server=True).feed(frame)
    assert f.opcode == 8
    assert codec_with.parse_close_payload(f.payload) == (code, reason)
    # the longest close frame: 2 + 123 = 125 bytes, a legal control frame
    payload = codec_with.build_close_payload(code, "r" * 123)
    assert len(payload) == 125
    (f,) = impl.FrameParser(server=False).feed(impl.build_frame(8, payload))
    assert codec_with.parse_close_payload(f.payload) == (code, "r" * 123)
