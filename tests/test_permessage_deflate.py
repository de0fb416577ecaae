"""permessage-deflate (RFC 7692): negotiation, data path, limits and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import pytest

from wsframe.codec import build_frame
from wsframe.connection import ClientConnection, ServerConnection, State
from wsframe.events import BinaryMessage, Closed, Fragment, TextMessage
from wsframe.exceptions import PayloadTooBig, ProtocolError
from wsframe.extensions import NegotiationError
from wsframe.handshake import parse_extension_header
from wsframe.permessage_deflate import (
    ClientPerMessageDeflate,
    PerMessageDeflate,
    ServerPerMessageDeflate,
)

TAIL = b"\x00\x00\xff\xff"
JSON = json.dumps(
    [{"id": i, "name": f"user{i}", "tags": ["a", "bb"], "ok": i % 2 == 0, "score": i / 7} for i in range(2000)]
)


def P(text):
    """'a; b=1' -> [('a', None), ('b', '1')] (the params of one header element)."""
    ((_, params),) = parse_extension_header([f"permessage-deflate{'; ' + text if text else ''}"])
    return params


# ---------------------------------------------------------------------------
# server negotiation matrix
# ---------------------------------------------------------------------------

SERVER_MATRIX = [
    # (factory kwargs, offer, expected answer or None for declined)
    ({}, "", "server_max_window_bits=12"),
    ({}, "client_max_window_bits", "server_max_window_bits=12; client_max_window_bits=12"),
    ({}, "client_max_window_bits=10", "server_max_window_bits=12; client_max_window_bits=10"),
    ({}, "client_max_window_bits=15", "server_max_window_bits=12; client_max_window_bits=12"),
    ({}, "server_max_window_bits=9", "server_max_window_bits=9"),
    ({}, "server_max_window_bits=8", "server_max_window_bits=8"),
    ({}, "server_max_window_bits=15", "server_max_window_bits=12"),
    ({}, "server_no_context_takeover", "server_no_context_takeover; server_max_window_bits=12"),
    ({}, "client_no_context_takeover", "client_no_context_takeover; server_max_window_bits=12"),
    (
        {},
        "client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9",
        "server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12",
    ),
    ({"server_max_window_bits": None, "client_max_window_bits": None}, "", ""),
    ({"server_max_window_bits": None, "client_max_window_bits": None}, "client_max_window_bits", ""),
    (
        {"server_max_window_bits": None, "client_max_window_bits": None},
        "client_max_window_bits=9",
        "client_max_window_bits=9",
    ),
    ({"server_max_window_bits": 15, "client_max_window_bits": 8}, "client_max_window_bits", "client_max_window_bits=8"),
    ({"server_no_context_takeover": True, "client_no_context_takeover": True, "server_max_window_bits": None}, "",
     "server_no_context_takeover; client_no_context_takeover"),
    # declined: malformed, duplicate, unknown, out of range
    ({}, "server_max_window_bits", None),
    ({}, "server_max_window_bits=7", None),
    ({}, "server_max_window_bits=16", None),
    ({}, "server_max_window_bits=09", None),
    ({}, "server_max_window_bits=abc", None),
    ({}, "client_max_window_bits=16", None),
    ({}, "client_max_window_bits=0", None),
    ({}, "server_no_context_takeover=1", None),
    ({}, "client_no_context_takeover=x", None),
    ({}, "server_no_context_takeover; server_no_context_takeover", None),
    ({}, "client_max_window_bits; client_max_window_bits=10", None),
    ({}, "unknown_param", None),
    ({}, "x-foo=1", None),
]


@pytest.mark.parametrize("kwargs, offer, answer", SERVER_MATRIX)
def test_server_negotiation_matrix(kwargs, offer, answer):
    result = ServerPerMessageDeflate(**kwargs).accept_offer(P(offer), [])
    if answer is None:
        assert result is None
    else:
        params, ext = result
        assert params == P(answer)
        assert isinstance(ext, PerMessageDeflate)


def test_server_runtime_parameters():
    _, ext = ServerPerMessageDeflate().accept_offer(
        P("client_no_context_takeover; client_max_window_bits=10; server_max_window_bits=8"), []
    )
    assert (ext.local_max_window_bits, ext.remote_max_window_bits) == (8, 10)
    assert (ext.local_no_context_takeover, ext.remote_no_context_takeover) == (False, True)
    _, ext = ServerPerMessageDeflate(server_max_window_bits=None).accept_offer(P(""), [])
    assert (ext.local_max_window_bits, ext.remote_max_window_bits) == (15, 15)


def test_server_quoted_values_accepted():
    params = parse_extension_header(['permessage-deflate; server_max_window_bits="10"'])[0][1]
    answer, ext = ServerPerMessageDeflate().accept_offer(params, [])
    assert ext.local_max_window_bits == 10


def _handshake(server_factories, offer_header):
    client = ClientConnection("example.com")
    req = client.data_to_send()
    req = req.replace(b"\r\n\r\n", f"\r\nSec-WebSocket-Extensions: {offer_header}\r\n\r\n".encode())
    server = ServerConnection(extensions=server_factories)
    server.receive_data(req)
    return server, server.data_to_send()


def test_server_moves_on_to_next_offer():
    server, resp = _handshake(
        [ServerPerMessageDeflate()],
        "permessage-deflate; server_max_window_bits=7, permessage-deflate; bogus, "
        "permessage-deflate; client_max_window_bits; server_no_context_takeover",
    )
    assert server.state is State.OPEN
    assert b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12\r\n" in resp
    (ext,) = server.extensions
    assert ext.local_no_context_takeover


def test_server_declines_all_offers_answers_without_extension():
    server, resp = _handshake([ServerPerMessageDeflate()], "permessage-deflate; foo, permessage-deflate; server_max_window_bits=99")
    assert server.state is State.OPEN
    assert b"Sec-WebSocket-Extensions" not in resp
    assert server.extensions == []


# ---------------------------------------------------------------------------
# client negotiation
# ---------------------------------------------------------------------------


def test_client_default_offer():
    assert ClientPerMessageDeflate().offers() == [P("client_no_context_takeover; client_max_window_bits")]
    assert ClientPerMessageDeflate(
        server_no_context_takeover=True, client_no_context_takeover=False, server_max_window_bits=10, client_max_window_bits=11
    ).offers() == [P("server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11")]
    assert ClientPerMessageDeflate(client_no_context_takeover=False, client_max_window_bits=None).offers() == [[]]


CLIENT_MATRIX = [
    # (factory kwargs, response, expected (local nct, remote nct, local bits, remote bits) or error)
    ({}, "", (True, False, 15, 15)),
    ({}, "server_no_context_takeover", (True, True, 15, 15)),
    ({}, "client_max_window_bits=9", (True, False, 9, 15)),
    ({}, "client_max_window_bits=8", (True, False, 8, 15)),
    ({}, "server_max_window_bits=8", (True, False, 15, 8)),
    ({}, "server_max_window_bits=12; client_max_window_bits=12", (True, False, 12, 12)),
    ({"client_no_context_takeover": False}, "", (False, False, 15, 15)),
    ({"client_no_context_takeover": False}, "client_no_context_takeover", (True, False, 15, 15)),
    ({"server_no_context_takeover": True}, "server_no_context_takeover", (True, True, 15, 15)),
    ({"server_no_context_takeover": True}, "", NegotiationError),
    ({"server_max_window_bits": 10}, "server_max_window_bits=10", (True, False, 15, 10)),
    ({"server_max_window_bits": 10}, "server_max_window_bits=9", (True, False, 15, 9)),
    ({"server_max_window_bits": 10}, "server_max_window_bits=11", NegotiationError),
    ({"server_max_window_bits": 10}, "", NegotiationError),
    ({"client_max_window_bits": 11}, "", (True, False, 11, 15)),
    ({"client_max_window_bits": 11}, "client_max_window_bits=10", (True, False, 10, 15)),
    ({"client_max_window_bits": 11}, "client_max_window_bits=12", NegotiationError),
    ({"client_max_window_bits": None}, "client_max_window_bits=12", NegotiationError),
    ({}, "client_max_window_bits", NegotiationError),  # a response needs the value
    ({}, "server_max_window_bits=16", NegotiationError),
    ({}, "server_max_window_bits=7", NegotiationError),
    ({}, "server_no_context_takeover; server_no_context_takeover", NegotiationError),
    ({}, "server_no_context_takeover=1", NegotiationError),
    ({}, "foo", NegotiationError),
]


@pytest.mark.parametrize("kwargs, response, expected", CLIENT_MATRIX)
def test_client_negotiation_matrix(kwargs, response, expected):
    factory = ClientPerMessageDeflate(**kwargs)
    if expected is NegotiationError:
        with pytest.raises(NegotiationError):
            factory.accept_response(P(response), [])
        return
    ext = factory.accept_response(P(response), [])
    assert (
        ext.local_no_context_takeover,
        ext.remote_no_context_takeover,
        ext.local_max_window_bits,
        ext.remote_max_window_bits,
    ) == expected


def test_client_fails_connection_on_bad_answer():
    client = ClientConnection("example.com", extensions=[ClientPerMessageDeflate(server_max_window_bits=10)])
    server = ServerConnection(extensions=[ServerPerMessageDeflate(server_max_window_bits=None)])
    server.receive_data(client.data_to_send())
    resp = server.data_to_send().replace(b"server_max_window_bits=10", b"server_max_window_bits=11")
    client.receive_data(resp)
    assert client.state is State.CLOSED
    (closed,) = [e for e in client.events() if isinstance(e, Closed)]
    assert closed.code == 1006 and "server_max_window_bits" in closed.reason


def test_option_validation():
    for bad in (7, 16, "12", 12.0):
        with pytest.raises(ValueError):
            ServerPerMessageDeflate(server_max_window_bits=bad)
    with pytest.raises(ValueError):
        ServerPerMessageDeflate(client_max_window_bits=True)  # only a client offers it without a value
    with pytest.raises(ValueError):
        ClientPerMessageDeflate(mem_level=0)
    with pytest.raises(ValueError):
        ClientPerMessageDeflate(threshold=-1)


# ---------------------------------------------------------------------------
# data path through connections
# ---------------------------------------------------------------------------


def open_pair(server_factory=None, client_factory=None, **kwargs):
    client = ClientConnection("example.com", extensions=[client_factory or ClientPerMessageDeflate()], **kwargs)
    server = ServerConnection(extensions=[server_factory or ServerPerMessageDeflate()], **kwargs)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert server.state is State.OPEN and client.state is State.OPEN
    server.events()
    client.events()
    assert len(server.extensions) == 1 and len(client.extensions) == 1
    return server, client


def pump(src, dst):
    data = src.data_to_send()
    dst.receive_data(data)
    return dst.events(), data


MESSAGES = ["", "x", "hello", JSON[:100], JSON[:5000], JSON, os.urandom(3000), b"\0" * 70000]


def send(conn, msg, **kw):
    (conn.send_text if isinstance(msg, str) else conn.send_binary)(msg, **kw)


def check(events, msgs):
    assert [type(e) for e in events] == [TextMessage if isinstance(m, str) else BinaryMessage for m in msgs]
    assert [e.data for e in events] == msgs


@pytest.mark.parametrize("bits", range(8, 16))
@pytest.mark.parametrize("nct", [False, True])
def test_round_trip_window_bits_and_takeover(bits, nct):
    server, client = open_pair(
        ServerPerMessageDeflate(server_max_window_bits=bits, client_max_window_bits=bits, server_no_context_takeover=nct),
        ClientPerMessageDeflate(client_no_context_takeover=nct),
    )
    s_ext, c_ext = server.extensions[0], client.extensions[0]
    assert s_ext.local_max_window_bits == c_ext.remote_max_window_bits == bits
    assert c_ext.local_max_window_bits == s_ext.remote_max_window_bits == bits
    for _ in range(2):
        for m in MESSAGES:
            send(client, m)
        check(pump(client, server)[0], MESSAGES)
        for m in MESSAGES:
            send(server, m)
        check(pump(server, client)[0], MESSAGES)


def test_compression_applies_rsv1_on_first_frame_only():
    server, client = open_pair(ServerPerMessageDeflate(), ClientPerMessageDeflate())
    server.send_text(JSON[:1000], fin=False)
    server.send_text(JSON[1000:2000], fin=False)
    server.send_text(JSON[2000:3000])
    raw = server.data_to_send()
    from wsframe.codec import FrameParser

    frames = FrameParser(server=False, allowed_rsv=0x40).feed(raw)
    assert [(f.opcode, f.rsv1, f.fin) for f in frames] == [(1, True, False), (0, False, False), (0, False, True)]
    assert not frames[-1].payload.endswith(TAIL) and frames[0].payload.endswith(TAIL)
    client.receive_data(raw)
    check(client.events(), [JSON[:3000]])


@pytest.mark.parametrize("direction", ["c2s", "s2c"])
def test_fragmented_compressed_messages(direction):
    server, client = open_pair()
    src, dst = (client, server) if direction == "c2s" else (server, client)
    for step in (1, 7, 1000, 40000):
        for i in range(0, len(JSON), step)[:300]:
            end = min(i + step, len(JSON))
            src.send_text(JSON[i:end], fin=end == len(JSON) or i + step >= 300 * step)
        events, _ = pump(src, dst)
        assert len(events) == 1 and JSON.startswith(events[0].data)


def test_fragmented_receive_streaming_mode():
    server, client = open_pair(stream_fragments=True)
    client.send_binary(JSON.encode()[:50000], fin=False)
    client.send_binary(JSON.encode()[50000:])
    events, _ = pump(client, server)
    assert all(isinstance(e, Fragment) for e in events)
    assert b"".join(e.data for e in events) == JSON.encode()


def test_context_takeover_shrinks_repeats_and_no_takeover_does_not():
    msg = JSON[:2000]
    sizes = {}
    for nct in (False, True):
        server, client = open_pair(ServerPerMessageDeflate(server_no_context_takeover=nct), ClientPerMessageDeflate())
        server.send_text(msg)
        first = len(server.data_to_send())
        server.send_text(msg)
        second = server.data_to_send()
        sizes[nct] = (first, len(second))
        client.receive_data(second)
    assert sizes[False][1] < sizes[False][0] // 5
    assert sizes[True][0] == sizes[True][1]


def test_no_context_takeover_messages_decode_with_fresh_inflater():
    ext = PerMessageDeflate(local_no_context_takeover=True, threshold=0)
    for _ in range(3):
        data, rsv = ext.encode(1, JSON.encode()[:3000], True)
        assert rsv == 0x40
        assert zlib.decompressobj(-15).decompress(bytes(data) + TAIL) == JSON.encode()[:3000]


def test_threshold_and_per_message_opt_out():
    server, client = open_pair(ServerPerMessageDeflate(threshold=100), ClientPerMessageDeflate(threshold=0))
    raw_sizes = []
    for msg, kw in (("a" * 99, {}), ("a" * 100, {}), ("a" * 5000, {"compress": False})):
        server.send_text(msg, **kw)
        raw = server.data_to_send()
        raw_sizes.append((raw[0] & 0x40, len(raw)))
        client.receive_data(raw)
        check(client.events(), [msg])
    assert raw_sizes[0] == (0, 101)
    assert raw_sizes[1][0] == 0x40 and raw_sizes[1][1] < 20
    assert raw_sizes[2] == (0, 5004)
    # threshold 0 compresses even empty messages; the peer decodes them
    client.send_text("")
    raw = client.data_to_send()
    assert raw[0] & 0x40
    server.receive_data(raw)
    check(server.events(), [""])
    # fragmented messages ignore the threshold but honour compress=False
    server.send_text("ab", fin=False, compress=False)
    server.send_text("cd")
    raw = server.data_to_send()
    assert not raw[0] & 0x40
    client.receive_data(raw)
    check(client.events(), ["abcd"])


def test_window_8_compression_fits_a_strict_256_byte_window():
    def strict_inflate_8(data):
        # One output byte per call: every back-reference is checked against the 256-byte window.
        d, out = zlib.decompressobj(-8), bytearray()
        while True:
            chunk = d.decompress(data, 1)
            out += chunk
            data = d.unconsumed_tail
            if not chunk and not data:
                return bytes(out)

    payload = os.urandom(240) * 20 + os.urandom(300) * 20
    ext = PerMessageDeflate(local_max_window_bits=8, threshold=0)
    data, _ = ext.encode(2, payload, True)
    assert len(data) < len(payload) * 3 // 4  # the 240-byte period compresses
    assert strict_inflate_8(bytes(data) + TAIL) == payload
    # the checker is strict: a 10-bit window's distance-300 matches fail it
    c = zlib.compressobj(6, zlib.DEFLATED, -10)
    with pytest.raises(zlib.error):
        strict_inflate_8(c.compress(os.urandom(300) * 20) + c.flush(zlib.Z_SYNC_FLUSH))


def test_peer_final_block_and_full_flush_accepted():
    ext = PerMessageDeflate()
    for msg in (b"first message" * 10, b"second" * 500, b"x" * 10000):
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = c.compress(msg) + c.flush(zlib.Z_FINISH)  # BFINAL block, no sync tail
        assert ext.decode(2, data, 0x40, True, None) == msg
    with pytest.raises(ProtocolError) as info:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        ext.decode(2, c.compress(b"abc") + c.flush(zlib.Z_FINISH) + b"junk", 0x40, True, None)
    assert info.value.code == 1002


# ---------------------------------------------------------------------------
# limits and bad input
# ---------------------------------------------------------------------------


def deflate(data, bits=15):
    c = zlib.compressobj(9, zlib.DEFLATED, -bits)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


@pytest.mark.parametrize("limit", [0, 1, 1000, 300_000, 1 << 20])
def test_max_size_exact_on_decompressed_bytes(limit):
    for size, ok in ((limit, True), (limit + 1, False)):
        data = deflate(b"a" * size)
        ext = PerMessageDeflate()
        if ok:
            assert len(ext.decode(2, data, 0x40, True, limit)) == size
        else:
            with pytest.raises(PayloadTooBig) as info:
                ext.decode(2, data, 0x40, True, limit)
            assert info.value.code == 1009
        # split in two frames: the budget applies to each frame's output
        ext = PerMessageDeflate()
        half = len(data) // 2
        out = ext.decode(2, data[:half], 0x40, False, limit)
        if ok:
            assert len(out) + len(ext.decode(0, data[half:], 0, True, limit - len(out))) == size
        else:
            with pytest.raises(PayloadTooBig):
                ext.decode(0, data[half:], 0, True, limit - len(out))


@pytest.mark.parametrize("max_size", [None, 16 << 20])
@pytest.mark.parametrize("size", [(256 << 10) - 1, 256 << 10, (256 << 10) + 1, 3 << 20])
def test_small_frame_expanding_past_one_step(size, max_size):
    # A compressed payload of a few KiB expanding beyond one 256 KiB output step
    # (the single-small-frame fast path must carry on, with or without a limit).
    data = deflate(b"z" * size)
    assert len(data) < 4096
    assert PerMessageDeflate().decode(1, data, 0x40, True, max_size) == b"z" * size


def test_max_message_size_through_connection():
    server, client = open_pair(max_message_size=10_000)
    client.send_binary(b"a" * 10_000)
    events, _ = pump(client, server)
    assert len(events[0].data) == 10_000
    client.send_binary(b"a" * 6000, fin=False)
    client.send_binary(b"a" * 4001)
    events, _ = pump(client, server)
    assert events[-1].code == 1009 and server.close_code == 1009


BOMB_SCRIPT = r"""
import sys, tracemalloc, zlib
sys.path.insert(0, {root!r})
from wsframe.codec import build_frame
from wsframe.connection import ClientConnection, ServerConnection
from wsframe.events import Closed
from wsframe.permessage_deflate import ClientPerMessageDeflate, ServerPerMessageDeflate

LIMIT = 1 << 20
# 1 GiB of zeros: every further MiB of zeros compresses to the same 1036 bytes.
c = zlib.compressobj(9, zlib.DEFLATED, -15)
zeros = b"\0" * (1 << 20)
first = c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
rest = c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
bomb = first + rest * 1023
assert len(bomb) < 1100000
frag = {frag}
if frag:
    chunks = [bomb[i:i + frag] for i in range(0, len(bomb), frag)]
    wire = b"".join(
        build_frame(0 if i else 2, chunk, fin=i == len(chunks) - 1, rsv1=i == 0, client=True)
        for i, chunk in enumerate(chunks)
    )
else:
    wire = build_frame(2, bomb, rsv1=True, client=True)
if frag >= 0:
    del bomb
del first, rest, zeros, c

if frag < 0:  # the extension alone, the compressed frame payload already in memory
    from wsframe.permessage_deflate import PerMessageDeflate
    ext = PerMessageDeflate()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    try:
        ext.decode(2, bomb, 0x40, True, LIMIT)
    except Exception as exc:
        code = exc.code
    print(code, tracemalloc.get_traced_memory()[1] - base, (tracemalloc.get_traced_memory()[1] - base) / LIMIT)
    sys.exit()
client = ClientConnection("x", extensions=[ClientPerMessageDeflate()])
server = ServerConnection(extensions=[ServerPerMessageDeflate()], max_message_size=LIMIT)
server.receive_data(client.data_to_send())
client.receive_data(server.data_to_send())
server.events()
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
for i in range(0, len(wire), 65536):
    server.receive_data(wire[i:i + 65536])
    if server.state.name == "CLOSED":
        break
peak = tracemalloc.get_traced_memory()[1] - base
closed = [e for e in server.events() if isinstance(e, Closed)]
print(closed[0].code, peak, peak / LIMIT)
"""


@pytest.mark.parametrize("frag, bound", [(-1, 2.0), (16384, 2.0), (0, 2.0)])
def test_deflate_bomb_ends_with_1009_in_bounded_memory(frag, bound):
    """1 GiB of zeros deflated to ~1 MiB, against max_message_size = 1 MiB.

    frag -1: PerMessageDeflate.decode on the whole payload; 16384: through a
    ServerConnection as 16 KiB frames fed in 64 KiB reads (how browsers send
    big messages); 0: one 1 MiB frame through a ServerConnection: the frame
    parser streams the frame's payload in pieces as it arrives, so the
    compressed frame is never held whole and decompression stops at the limit.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT.format(root=root, frag=frag)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    code, peak, ratio = out.stdout.split()
    assert int(code) == 1009
    assert float(ratio) < bound, out.stdout


def test_corrupt_stream_closes_1002_with_reason():
    server, client = open_pair()
    server_raw = build_frame(2, b"\xff\xff\xff\xff garbage", rsv1=True, client=True)
    server.receive_data(server_raw)
    (closed,) = [e for e in server.events() if isinstance(e, Closed)]
    assert closed.code == 1002 and "invalid compressed data" in closed.reason
    assert server.close_code == 1002


def test_rsv1_on_continuation_is_1002():
    ext = PerMessageDeflate()
    ext.decode(2, deflate(b"abc"), 0x40, False, None)
    with pytest.raises(ProtocolError) as info:
        ext.decode(0, deflate(b"def"), 0x40, True, None)
    assert info.value.code == 1002
    server, _ = open_pair()
    server.receive_data(build_frame(2, b"abc", fin=False, client=True) + build_frame(0, b"d", rsv1=True, client=True))
    assert server.close_code == 1002


def test_rsv1_on_control_frame_is_1002():
    server, _ = open_pair()
    server.receive_data(build_frame(9, b"x", rsv1=True, client=True))
    assert server.close_code == 1002


def test_rsv1_without_extension_is_1002():
    client = ClientConnection("example.com", extensions=[ClientPerMessageDeflate()])
    server = ServerConnection()  # no extensions: RSV1 is not allowed
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert client.extensions == []
    server.receive_data(build_frame(2, deflate(b"abc"), rsv1=True, client=True))
    assert server.close_code == 1002


def test_uncompressed_message_passes_through():
    ext = PerMessageDeflate()
    assert ext.decode(1, b"plain", 0, True, 10) == b"plain"
    ext.decode(2, b"pl", 0, False, 10)
    assert ext.decode(0, b"ain", 0, True, 10) == b"ain"


def test_invalid_utf8_after_decompression_is_1007():
    server, _ = open_pair()
    server.receive_data(build_frame(1, deflate(b"\xff\xfe"), rsv1=True, client=True))
    assert server.close_code == 1007
