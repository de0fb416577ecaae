"""Edge cases of permessage-deflate that the protocol tests do not reach: a compressed message in
several frames, a final block before the last frame, big incompressible input, limits on
decompressed size, double negotiation, option checks and repr."""

from __future__ import annotations

import os
import zlib

import pytest

from wsframe.exceptions import PayloadTooBig, ProtocolError
from wsframe.extensions import NegotiationError
from wsframe.permessage_deflate import ClientPerMessageDeflate, PerMessageDeflate, ServerPerMessageDeflate

TEXT, CONT, RSV1 = 1, 0, 0x40


def deflate(data: bytes) -> bytes:
    """A message compressed as a peer sends it (sync flush, tail removed)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_a_compressed_message_in_several_frames():
    ext = PerMessageDeflate()
    body = deflate(b"hello fragmented world " * 50)
    a, b, c = body[:10], body[10:20], body[20:]
    out = ext.decode(TEXT, a, RSV1, False, None) + ext.decode(CONT, b, 0, False, None)
    assert out + ext.decode(CONT, c, 0, True, None) == b"hello fragmented world " * 50


def test_data_after_a_final_block_in_an_unfinished_message_is_refused():
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    final = c.compress(b"complete") + c.flush(zlib.Z_FINISH)  # BFINAL set: the stream has ended
    ext = PerMessageDeflate()
    assert ext.decode(TEXT, final, RSV1, False, None) == b"complete"
    with pytest.raises(ProtocolError, match="after the end"):
        ext.decode(CONT, deflate(b"more"), 0, True, None)


def test_big_incompressible_input_is_inflated_in_slices():
    data = os.urandom(300 * 1024)  # more than one input slice and one output step
    assert PerMessageDeflate().decode(TEXT, deflate(data), RSV1, True, 1 << 20) == data
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate().decode(TEXT, deflate(data), RSV1, True, 280 * 1024)


def test_negotiating_deflate_twice_is_declined_or_refused():
    ext = PerMessageDeflate()
    assert ServerPerMessageDeflate().accept_offer([], [ext]) is None
    with pytest.raises(NegotiationError, match="twice"):
        ClientPerMessageDeflate().accept_response([], [ext])


@pytest.mark.parametrize("option", [{"compress_level": 10}, {"mem_level": 0}, {"threshold": -1},
                                    {"local_max_window_bits": 16}])
def test_options_out_of_range_are_refused(option):
    with pytest.raises(ValueError):
        PerMessageDeflate(**option)


def test_repr_names_both_directions():
    ext = PerMessageDeflate(local_no_context_takeover=True, remote_max_window_bits=10)
    assert repr(ext) == ("<PerMessageDeflate local(no_context_takeover=True, max_window_bits=15) "
                         "remote(no_context_takeover=False, max_window_bits=10)>")


def test_a_message_ending_in_a_final_block_resets_the_decoder():
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    ext = PerMessageDeflate()
    assert ext.decode(TEXT, c.compress(b"one") + c.flush(zlib.Z_FINISH), RSV1, True, None) == b"one"
    assert ext.decode(TEXT, deflate(b"two"), RSV1, True, None) == b"two"  # a fresh stream


def test_a_fragment_after_the_final_block_is_refused():
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    ext = PerMessageDeflate()
    ext.decode(TEXT, c.compress(b"one") + c.flush(zlib.Z_FINISH), RSV1, False, None)
    with pytest.raises(ProtocolError, match="after the end"):
        ext.decode(CONT, b"\x00", 0, False, None)


def test_invalid_compressed_data_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="invalid compressed data"):
        PerMessageDeflate().decode(TEXT, b"\xff\xff\xff\xff\xff", RSV1, True, None)
