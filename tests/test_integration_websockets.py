"""wsframe.integrations.websockets: install/uninstall, and differential
tests: websockets' Protocol shows the same events, exceptions, close codes,
log lines and bytes to send with the accelerator as without it."""

from __future__ import annotations

import struct
import sys
from unittest import mock

import pytest

pytest.importorskip("websockets")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import websockets  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.protocol import CLIENT, SERVER  # noqa: E402

from wsframe.integrations import UnsupportedVersion  # noqa: E402
from wsframe.integrations import websockets as accel  # noqa: E402

from _websockets_diff import V15, deflate, every_split, peer_stream, raw_frame, record, splits  # noqa: E402

pytestmark = pytest.mark.skipif(websockets.__version__ not in accel.TESTED_VERSIONS,
                                reason=f"websockets {websockets.__version__} is not a tested version")


@pytest.fixture(autouse=True)
def _uninstalled():
    accel.uninstall()
    yield
    accel.uninstall()


def same(side, chunks, **kw):
    """Run both ways; assert they match; return the accelerated counters."""
    expected = record(side, chunks, accelerated=False, **kw)
    got = record(side, chunks, accelerated=True, **kw)
    counts = accel.stats()
    assert got == expected
    return counts


# -- install / uninstall ----------------------------------------------------------------------------


def test_nothing_patched_at_import_and_install_is_idempotent():
    from websockets.protocol import Protocol

    parse, serialize = Protocol.parse, Frame.serialize
    assert not accel.installed()
    accel.install()
    accel.install()
    assert accel.installed()
    assert Protocol.parse is not parse and Frame.serialize is not serialize
    accel.uninstall()
    assert Protocol.parse is parse and Frame.serialize is serialize
    accel.uninstall()
    assert not accel.installed()


def test_untested_version_is_refused_and_nothing_patched(monkeypatch):
    from websockets.protocol import Protocol

    monkeypatch.delenv("WSFRAME_INTEGRATIONS_ANY_VERSION", raising=False)
    parse = Protocol.parse
    with mock.patch.object(websockets, "__version__", "9.9"):
        with pytest.raises(UnsupportedVersion, match=r"9\.9"):
            accel.install()
    assert not accel.installed() and Protocol.parse is parse


def test_missing_websockets_is_a_clear_import_error():
    with mock.patch.dict(sys.modules, {"websockets": None}):
        with pytest.raises(ImportError, match="pip install websockets"):
            accel.install()
    assert not accel.installed()


def test_stats_count_the_accelerated_path():
    data = peer_stream(SERVER, [("text", b"hello", True)] * 3, False)
    counts = same(SERVER, [data])
    assert counts["parse"] == 1 and counts["frames"] == 3 and counts["slow"] == 0


# -- receive: differential -------------------------------------------------------------------------

ROLES = [SERVER, CLIENT]

payloads = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=60).map(lambda s: s.encode("utf-8")),
    st.sampled_from([b"\xff", b"caf\xc3", b"\xed\xa0\x80", b"\xc3\xa9t\xc3\xa9", b"", b"x" * 300]),
)
ops = st.tuples(st.sampled_from(["text", "binary", "cont", "ping", "pong", "close"]), payloads, st.booleans())


@st.composite
def raw_frames(draw, side):
    """A hand-made frame, often breaking a rule: any opcode, RSV bits, the
    wrong masking, non-minimal or huge lengths, long or fragmented control frames."""
    opcode = draw(st.sampled_from([0, 1, 2, 8, 9, 10, 3, 11, 15]))
    b0 = draw(st.sampled_from([0x80, 0x80, 0x00, 0xC0, 0xA0, 0x90])) | opcode
    masked = (side is SERVER) != draw(st.integers(0, 9).map(lambda n: n == 0))
    payload = draw(st.one_of(payloads, st.sampled_from([b"\x03\xe8ok", b"\x03\xe8\xff", b"\x03", b"\x00\x10"])))
    form = draw(st.sampled_from([0, 0, 0, 1, 2]))
    frame = raw_frame(b0, payload, masked, form)
    if draw(st.integers(0, 19)) == 0:  # a 64-bit length with its top bit set, or just huge
        frame = bytes([b0, (0x80 if masked else 0) | 127]) + draw(st.sampled_from(
            [b"\x80" + b"\x00" * 7, b"\x00\x00\x00\x01\x00\x00\x00\x00"]))
    return frame


@st.composite
def streams(draw, side):
    """A peer's stream: websockets' own sender, with hand-made frames mixed in, then mutated."""
    items = draw(st.lists(st.one_of(ops, raw_frames(side).map(lambda f: ("raw", f, True))), max_size=12))
    with_deflate = draw(st.booleans())
    data = bytearray(peer_stream(side, items, with_deflate))
    for pos, xor in draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=2)):
        if data:
            data[pos % len(data)] ^= xor
    if data and draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    cuts = draw(st.lists(st.integers(0, 10**6), max_size=6))
    return with_deflate, splits(bytes(data), cuts)


max_sizes = st.sampled_from([2**20, None, 1, 60, 250] + ([] if V15 else [(250, 40), (None, 60), (100, None)]))


@settings(max_examples=250)
@given(st.data())
@pytest.mark.parametrize("side", ROLES, ids=["server", "client"])
def test_random_streams_give_identical_results(side, data):
    with_deflate, chunks = data.draw(streams(side))
    same(side, chunks, max_size=data.draw(max_sizes), with_deflate=with_deflate,
         debug=data.draw(st.booleans()))


RICH = [("text", "héllo".encode(), True), ("binary", b"\x00" * 200, False), ("ping", b"p", True),
        ("cont", b"abc", False), ("cont", b"x" * 130, True), ("text", b"caf\xc3", False),
        ("cont", b"\xa9", True), ("pong", b"", True), ("binary", b"b" * 70000, True),
        ("text", b"", True), ("close", b"bye", True)]


@pytest.mark.parametrize("with_deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("side", ROLES, ids=["server", "client"])
def test_every_split_of_a_rich_stream(side, with_deflate):
    ops = [op for op in RICH if op[0] != "binary" or len(op[1]) < 1000]  # the 70000-byte frame: below
    data = peer_stream(side, ops, with_deflate)
    frames = [same(side, chunks, with_deflate=with_deflate)["frames"] for chunks in every_split(data)]
    assert frames[0] > 0 and frames[-1] == 0  # whole: parsed in C; byte by byte: websockets' own code


@pytest.mark.parametrize("with_deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("side", ROLES, ids=["server", "client"])
@pytest.mark.parametrize("max_size", [2**20, 69999, 300, None])
def test_large_frames_in_reads_of_many_sizes(side, with_deflate, max_size):
    data = peer_stream(side, RICH, with_deflate)
    for size in (13, 1000, 65536, len(data)):
        same(side, [data[i:i + size] for i in range(0, len(data), size)], max_size=max_size,
             with_deflate=with_deflate)


@pytest.mark.parametrize("side", ROLES, ids=["server", "client"])
@pytest.mark.parametrize("frame", [
    bytes([0x81, 0x7E, 0, 5]) + b"hello",  # non-minimal 16-bit length: websockets accepts it
    bytes([0x81, 0x7F]) + struct.pack("!Q", 5) + b"hello",
    bytes([0xC1, 5]) + b"hello",  # RSV1 without deflate
    bytes([0x83, 0]),  # reserved opcode
    bytes([0x09, 0]),  # fragmented ping
    bytes([0x89, 126, 0, 126]) + b"p" * 126,  # long ping
    bytes([0x88, 1, 3]),  # 1-byte close payload
    bytes([0x88, 2, 3, 0xED]),  # invalid close code
    bytes([0x88, 4, 3, 0xE8, 0xC3, 0x28]),  # invalid UTF-8 in the close reason
    bytes([0x81, 3]) + b"\xff\xfe\xfd",  # invalid UTF-8 text: websockets' Protocol passes it on
    bytes([0x80, 1]) + b"x",  # continuation without a message
    bytes([0x01, 1]) + b"x" + bytes([0x81, 1]) + b"y",  # new message inside a fragmented one
    bytes([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),  # 64-bit length, top bit set
], ids=lambda f: f[:4].hex())
@pytest.mark.parametrize("max_size", [2**20, 3, None])
def test_rule_breaking_frames(side, frame, max_size):
    masked = side is SERVER
    if masked:  # the same header fields, masked as a client must
        b0, b1 = frame[0], frame[1]
        ext = {126: 2, 127: 8}.get(b1 & 0x7F, 0)
        head, payload = frame[:2 + ext], frame[2 + ext:]
        if b1 & 0x7F == 127 and frame[2] & 0x80:
            frame = bytes([b0, b1 | 0x80]) + frame[2:]
        else:
            key = b"\x11\x22\x33\x44"
            frame = bytes([b0, b1 | 0x80]) + head[2:] + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    good = peer_stream(side, [("text", b"before", True)], False)
    stream = good + frame + good
    for chunks in every_split(stream):
        same(side, chunks, max_size=max_size)
    same(side, [good + frame[:2] + frame[2:]], max_size=max_size, debug=True)


@pytest.mark.parametrize("side", ROLES, ids=["server", "client"])
def test_wrong_masking_and_bad_deflate_data(side):
    wrong = raw_frame(0x81, b"hi", side is not SERVER, 0)
    same(side, [wrong])
    bad = raw_frame(0xC1, b"\xff\xff\xff\xff", side is SERVER, 0)  # RSV1 set, not a deflate stream
    same(side, [bad], with_deflate=True)
    cont = peer_stream(side, [("text", b"a" * 50, False)], True) + raw_frame(0xC0, b"zz", side is SERVER, 0)
    same(side, [cont], with_deflate=True)  # RSV1 on a continuation frame


def test_deflate_bomb_is_refused_with_the_same_limit():
    data = peer_stream(SERVER, [("binary", b"\x00" * 200000, True)], True)
    same(SERVER, [data], max_size=1000, with_deflate=True)
    same(SERVER, [data[:100], data[100:]], max_size=1000, with_deflate=True)


# -- send: the same bytes ------------------------------------------------------------------------

frames = st.builds(
    Frame, st.sampled_from(list(Opcode)), st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"x" * 70000])),
    st.booleans(), st.booleans(), st.booleans(), st.booleans())


def serialized(frame, mask, with_deflate, accelerated):
    (accel.install if accelerated else accel.uninstall)()
    n = [0]

    def token(k):
        n[0] += 1
        return bytes([n[0]] * k)

    with mock.patch("secrets.token_bytes", token):
        try:
            return frame.serialize(mask=mask, extensions=[deflate()] if with_deflate else None)
        except Exception as exc:
            return (type(exc).__name__, str(exc))


@settings(max_examples=300)
@given(frames, st.booleans(), st.booleans(), st.sampled_from([bytes, bytearray, memoryview]))
def test_serialize_builds_the_same_bytes(frame, mask, with_deflate, kind):
    frame.data = kind(frame.data)
    expected = serialized(frame, mask, with_deflate, False)
    assert serialized(frame, mask, with_deflate, True) == expected


def test_serialize_of_unusual_data_is_websockets_own():
    for data in ("text", memoryview(b"abcd").cast("I"), memoryview(b"abcdef")[::2]):
        frame = Frame(Opcode.BINARY, data)
        assert serialized(frame, True, False, True) == serialized(frame, True, False, False)


SHAPES = [(9,), (10,), (11,), (5, 5), (5, 6), (10, 0), (0, 10, 1), (6, 4, 1), (3, 3, 3, 2), (9, 10), (9, 11),
          (10, 10), (15, 5), (15, 6)]


@pytest.mark.parametrize("with_deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("side", ROLES, ids=["server", "client"])
@pytest.mark.parametrize("max_size", [10, 11] + ([] if V15 else [(None, 10), (20, 10), (10, None), (10, 11)]))
def test_size_limits_at_the_boundary(side, with_deflate, max_size):
    for shape in SHAPES:
        ops = [("binary" if i == 0 else "cont", b"m" * n, i == len(shape) - 1) for i, n in enumerate(shape)]
        data = peer_stream(side, ops + [("ping", b"after", True)], with_deflate)
        assert same(side, [data], max_size=max_size, with_deflate=with_deflate)["frames"] > 0
