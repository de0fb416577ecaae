"""wsframe.integrations.wsproto: install/uninstall, the version check, and
differential tests: random and mutated byte streams (both roles, with and
without permessage-deflate, cut into random chunks) give the same events, the
same errors and the same states through wsproto with and without the
accelerator; the send path gives the same frames."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import zlib

import pytest

wsproto = pytest.importorskip("wsproto")

from wsproto.connection import Connection, ConnectionType  # noqa: E402
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage  # noqa: E402
from wsproto.extensions import PerMessageDeflate  # noqa: E402
from wsproto import frame_protocol as fp  # noqa: E402

from wsframe.integrations import UnsupportedVersion  # noqa: E402
from wsframe.integrations import wsproto as accel  # noqa: E402
from wsframe.integrations._patch import ANY_VERSION_ENV, check_version, version_matches  # noqa: E402

pytestmark = pytest.mark.skipif(not any(version_matches(wsproto.__version__, v) for v in accel.TESTED_VERSIONS),
                                reason=f"wsproto {wsproto.__version__} is not a tested version")


@pytest.fixture(autouse=True)
def _uninstalled():
    accel.uninstall()
    yield
    accel.uninstall()


# ---------------------------------------------------------------------------
# install / uninstall / version
# ---------------------------------------------------------------------------


def _patched_attrs():
    return (fp.XorMaskerSimple.process, fp.FrameProtocol._serialize_frame,
            fp.FrameProtocol.received_frames, Connection.events, Connection.send)


def test_install_patches_and_uninstall_restores():
    originals = _patched_attrs()
    accel.install()
    assert accel.installed()
    patched = _patched_attrs()
    assert all(a is not b for a, b in zip(originals, patched))
    accel.install()  # twice: harmless, nothing patched twice
    assert _patched_attrs() == patched
    accel.uninstall()
    assert not accel.installed()
    assert _patched_attrs() == originals
    accel.uninstall()  # harmless when not installed
    assert _patched_attrs() == originals


def test_unknown_version_is_refused_and_nothing_patched(monkeypatch):
    originals = _patched_attrs()
    monkeypatch.setattr(wsproto, "__version__", "0.0.1")
    with pytest.raises(UnsupportedVersion, match=r"installed wsproto is 0\.0\.1: nothing was patched"):
        accel.install()
    assert not accel.installed()
    assert _patched_attrs() == originals


@pytest.mark.parametrize("version", ["1.2.0", "1.2.1", "1.3.0", "1.3.2", "1.3.3rc1"])
def test_the_last_two_minor_releases_are_accepted(monkeypatch, version):
    monkeypatch.delenv(ANY_VERSION_ENV, raising=False)
    monkeypatch.setattr(wsproto, "__version__", version)
    accel.install()
    assert accel.installed()


@pytest.mark.parametrize("version", ["1.1.0", "1.4.0", "1.20.0", "1.30", "2.0.0", "0.1.2"])
def test_versions_outside_the_range_are_refused(monkeypatch, version):
    monkeypatch.delenv(ANY_VERSION_ENV, raising=False)
    monkeypatch.setattr(wsproto, "__version__", version)
    with pytest.raises(UnsupportedVersion, match=f"set {ANY_VERSION_ENV}=1 to patch it anyway"):
        accel.install()
    assert not accel.installed()


def test_the_environment_override_warns_and_patches(monkeypatch):
    originals = _patched_attrs()
    monkeypatch.setenv(ANY_VERSION_ENV, "1")
    monkeypatch.setattr(wsproto, "__version__", "9.9.9")
    with pytest.warns(RuntimeWarning, match=r"installed wsproto is 9\.9\.9: patching it anyway"):
        accel.install()
    assert accel.installed()
    assert all(a is not b for a, b in zip(originals, _patched_attrs()))


@pytest.mark.parametrize("value", ["0", "", "no"])
def test_the_override_needs_a_true_value(monkeypatch, value):
    monkeypatch.setenv(ANY_VERSION_ENV, value)
    with pytest.raises(UnsupportedVersion):
        check_version("wsproto", "9.9.9", accel.TESTED_VERSIONS)


def test_version_patterns():
    assert version_matches("1.2.0", "1.2.*") and version_matches("1.2", "1.2.*")
    assert not version_matches("1.20.0", "1.2.*") and not version_matches("1.2.0", "1.2.1")
    assert version_matches("1.3.2", "1.3.2") and not version_matches("1.3.20", "1.3.2")


def test_without_wsproto_install_raises_a_one_line_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "wsproto", None)  # the import fails as if wsproto were not installed
    with pytest.raises(accel.LibraryNotInstalled) as info:
        accel.install()
    assert isinstance(info.value, ImportError) and info.value.__cause__ is None
    assert str(info.value) == ("wsframe.integrations.wsproto.install(): wsproto is not installed"
                               " (pip install wsproto)")
    assert not accel.installed()


def test_import_patches_nothing_and_imports_no_wsproto():
    code = ("import sys, wsframe.integrations.wsproto, wsframe.integrations.websocket_client\n"
            "assert 'wsproto' not in sys.modules and 'websocket' not in sys.modules, sorted(sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_counters_show_the_accelerated_path():
    accel.install()
    server = Connection(ConnectionType.SERVER)
    client = Connection(ConnectionType.CLIENT)
    server.receive_data(client.send(TextMessage(data="hello")) + client.send(BytesMessage(data=b"x" * 70000)))
    events = list(server.events())
    assert [type(e) for e in events] == [TextMessage, BytesMessage]
    assert events[0] == TextMessage(data="hello") and events[1].data == b"x" * 70000
    counts = accel.stats()
    assert counts["parse"] >= 1 and counts["build"] == 2


# ---------------------------------------------------------------------------
# Differential: random and mutated streams
# ---------------------------------------------------------------------------


def _header(b0, n, masked, rng, nonminimal=False):
    mbit = 0x80 if masked else 0
    if n < 126 and not nonminimal:
        h = bytes((b0, mbit | n))
    elif n < 65536 and not (nonminimal and rng.random() < 0.5):
        h = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        h = struct.pack("!BBQ", b0, mbit | 127, n)
    return h


def _frame(rng, opcode, payload, *, fin=True, rsv=0, masked, nonminimal=False):
    b0 = (0x80 if fin else 0) | rsv | opcode
    h = _header(b0, len(payload), masked, rng, nonminimal)
    if masked:
        key = bytes(rng.getrandbits(8) for _ in range(4))
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return h + key + payload
    return h + payload


_TEXTS = ["", "hello", "héllo wörld", "日本語テキスト", "emoji 😀🎉", "x" * 300]


def _text(rng):
    s = rng.choice(_TEXTS)
    raw = s.encode()
    r = rng.random()
    if r < 0.08:
        raw = raw + rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"])
    return raw


def _deflate(raw):
    c = zlib.compressobj(wbits=-15)
    data = c.compress(raw) + c.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


def _stream(rng, *, server, deflate):
    """A list of frames as wsproto's peer would send them, with mistakes."""
    masked = server
    out = []
    in_msg = False
    for _ in range(rng.randint(1, 25)):
        r = rng.random()
        fin = rng.random() < 0.75
        if r < 0.45:
            op = 0 if in_msg else rng.choice((1, 2))
            raw = _text(rng) if op != 2 else bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 5, 130, 70000 if rng.random() < 0.05 else 20))))
            rsv = 0
            if deflate and op != 0 and rng.random() < 0.6:
                raw, rsv = _deflate(raw), 0x40
            out.append(_frame(rng, op, raw, fin=fin, rsv=rsv, masked=masked,
                              nonminimal=rng.random() < 0.03))
            in_msg = not fin
        elif r < 0.6:
            out.append(_frame(rng, rng.choice((9, 10)), bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 12))),
                              masked=masked))
        elif r < 0.65:
            code = rng.choice((1000, 1001, 1005, 1006, 999, 2999, 3000, 4999, 5000, 1004))
            reason = rng.choice((b"", b"bye", b"\xff", "ünï".encode()))
            payload = b"" if code == 1005 and rng.random() < 0.7 else struct.pack("!H", code) + reason
            if rng.random() < 0.05:
                payload = b"\x03"
            out.append(_frame(rng, 8, payload, masked=masked))
        elif r < 0.7:  # protocol errors
            kind = rng.randrange(8)
            if kind == 0:
                out.append(_frame(rng, rng.choice((3, 7, 0xB, 0xF)), b"abc", masked=masked))
            elif kind == 1:
                out.append(_frame(rng, 9, b"p", fin=False, masked=masked))
            elif kind == 2:
                out.append(_frame(rng, 1, b"rsv", rsv=rng.choice((0x20, 0x10, 0x40)), masked=masked))
            elif kind == 3:
                out.append(_frame(rng, 2, b"mask", masked=not masked))
            elif kind == 4:
                out.append(_frame(rng, 9, b"x" * 126, masked=masked))
            elif kind == 5:
                out.append(bytes((0x82, (0x80 if masked else 0) | 127)) + b"\x80" + b"\x00" * 7)
            elif kind == 6:  # RSV1 on a control frame (deflate refuses it too)
                out.append(_frame(rng, rng.choice((8, 9, 10)), b"", rsv=0x40, masked=masked))
            else:  # RSV1 on a continuation frame
                out.append(_frame(rng, 1, _deflate(b"first") if deflate else b"first", fin=False,
                                  rsv=0x40 if deflate else 0, masked=masked))
                out.append(_frame(rng, 0, b"second", rsv=0x40, masked=masked))
        elif r < 0.78 and not in_msg:
            out.extend(_split_message(rng, masked=masked, deflate=deflate))
        else:
            out.append(_frame(rng, 0 if in_msg else 1, "ok".encode(), fin=True, masked=masked))
            in_msg = False
    return b"".join(out)


def _split_message(rng, *, masked, deflate):
    """One whole text message cut into 2-5 frames at random byte offsets
    (code points split across frames), compressed first when ``deflate``;
    sometimes with a ping between the fragments."""
    raw = "".join(rng.choice(_TEXTS) for _ in range(rng.randint(1, 4))).encode()
    if rng.random() < 0.15:
        raw += rng.choice([b"\xf0\x9f", b"\xed\xa0\x80"])  # truncated / surrogate at the very end
    rsv = 0
    if deflate and rng.random() < 0.7:
        raw, rsv = _deflate(raw), 0x40
    cuts = sorted(rng.randint(0, len(raw)) for _ in range(rng.randint(1, 4)))
    pieces = [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]
    frames = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        frames.append(_frame(rng, 0 if i else 1, piece, fin=last, rsv=0 if i else rsv, masked=masked))
        if not last and rng.random() < 0.2:
            frames.append(_frame(rng, 9, b"mid", masked=masked))
    return frames


def _mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        i = rng.randrange(len(data))
        op = rng.randrange(3)
        if op == 0:
            data[i] = rng.getrandbits(8)
        elif op == 1:
            del data[i:i + rng.randint(1, 5)]
        else:
            data[i:i] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 5)))
    return bytes(data)


def _chunks(rng, data):
    out, i = [], 0
    while i < len(data):
        n = rng.choice((1, 2, 3, 7, 64, 1000, 70000))
        out.append(data[i:i + n])
        i += n
    return out


def _describe(event):
    return (type(event).__name__, tuple(sorted(vars(event).items())))


def _run(chunks, *, server, deflate, eof):
    """Feed the chunks; after each, take every event. Return what happened."""
    extensions = []
    if deflate:
        ext = PerMessageDeflate()
        ext.finalize("permessage-deflate")
        extensions = [ext]
    conn = Connection(ConnectionType.SERVER if server else ConnectionType.CLIENT, extensions=extensions)
    log = []
    for chunk in chunks + ([None] if eof else []):
        try:
            conn.receive_data(chunk)
        except Exception as exc:  # wsproto raises LocalProtocolError once CLOSED
            log.append(("raise", type(exc).__name__, str(exc)))
        log.append([_describe(e) for e in conn.events()])
        log.append(conn.state)
    return log


@pytest.mark.parametrize("server", [True, False], ids=["server", "client"])
@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("mutate", [False, True], ids=["valid", "mutated"])
def test_differential_streams(server, deflate, mutate):
    rng = random.Random(f"{server}-{deflate}-{mutate}")
    taken = dict.fromkeys(accel.stats(), 0)
    for case in range(150):
        data = _stream(rng, server=server, deflate=deflate)
        if mutate:
            data = _mutate(rng, data)
        chunks = _chunks(rng, data) if rng.random() < 0.8 else [data]
        eof = rng.random() < 0.3
        accel.uninstall()
        expected = _run(chunks, server=server, deflate=deflate, eof=eof)
        accel.install()
        got = _run(chunks, server=server, deflate=deflate, eof=eof)
        assert got == expected, f"case {case}: {data[:80]!r}"
        for key, value in accel.stats().items():
            taken[key] += value
    # The accelerated code really ran: C frame parsing (with deflate too:
    # wsproto's extension hooks called on the frames parsed in C), C
    # unmasking of a client's frames, and the accelerated events().
    assert taken["events"] > 0
    assert taken["parse"] > 0
    if server:
        assert taken["mask"] > 0


def test_abandoned_events_generator_loses_nothing():
    """A consumer that stops iterating events() half way gets the rest later."""
    accel.install()
    client = Connection(ConnectionType.CLIENT)
    data = b"".join(client.send(TextMessage(data=str(i))) for i in range(10))
    server = Connection(ConnectionType.SERVER)
    server.receive_data(data)
    gen = server.events()
    first = [next(gen), next(gen)]
    del gen
    rest = list(server.events())
    assert [e.data for e in first + rest] == [str(i) for i in range(10)]


# ---------------------------------------------------------------------------
# Differential: the send path
# ---------------------------------------------------------------------------


def _unmask(frame):
    """Return (header without mask bit, unmasked payload) of one client frame."""
    b1 = frame[1] & 0x7F
    hl = 2 + (2 if b1 == 126 else 8 if b1 == 127 else 0)
    key = frame[hl:hl + 4]
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(frame[hl + 4:]))
    return bytes((frame[0], frame[1])) + frame[2:hl], payload


@pytest.mark.parametrize("client", [False, True], ids=["server", "client"])
@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_differential_send(client, deflate):
    rng = random.Random(f"send-{client}-{deflate}")
    ops = []
    for _ in range(300):
        r = rng.random()
        if r < 0.6:
            kind = rng.choice(("text", "bytes", "bytearray", "memoryview"))
            n = rng.choice((0, 1, 16, 125, 126, 65535, 65536, 200))
            fin = rng.random() < 0.7
            if kind == "text":
                ops.append(("data", ("é" * n)[:n], fin))
            else:
                raw = bytes(rng.getrandbits(8) for _ in range(n))
                ops.append(("data", {"bytes": raw, "bytearray": bytearray(raw), "memoryview": memoryview(raw)}[kind], fin))
        elif r < 0.75:
            ops.append(("ping", bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 5, 125, 126)))), None))
        elif r < 0.85:
            ops.append(("pong", b"pong", None))
        else:
            ops.append(("close", rng.choice((None, 1000, 1005, 1006, 3000, 4999)), rng.choice((None, "", "bye", "é" * 80))))

    def run():
        extensions = []
        if deflate:
            ext = PerMessageDeflate()
            ext.finalize("permessage-deflate")
            extensions = [ext]
        proto = fp.FrameProtocol(client=client, extensions=extensions)
        out = []
        for name, arg, extra in ops:
            try:
                if name == "data":
                    frame = proto.send_data(arg, extra)
                elif name == "close":
                    frame = proto.close(arg, extra)
                else:
                    frame = getattr(proto, name)(arg)
            except Exception as exc:
                out.append(("raise", type(exc).__name__, str(exc)))
                continue
            assert type(frame) is bytearray
            out.append(_unmask(bytes(frame)) if client else bytes(frame))
        return out

    expected = run()
    accel.install()
    assert run() == expected
    assert accel.stats()["build"] > 0


def _unmask_all(wire):
    """Every frame of ``wire`` (client frames: masking removed)."""
    out, i = [], 0
    while i < len(wire):
        b1 = wire[i + 1] & 0x7F
        hl = 2 + (2 if b1 == 126 else 8 if b1 == 127 else 0)
        n = b1 if b1 < 126 else int.from_bytes(wire[i + 2:i + hl], "big")
        masked = wire[i + 1] & 0x80
        end = i + hl + (4 if masked else 0) + n
        frame = bytes(wire[i:end])
        out.append(_unmask(frame) if masked else frame)
        i = end
    return out


@pytest.mark.parametrize("client", [False, True], ids=["server", "client"])
@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_differential_connection_send(client, deflate):
    """Connection.send with random events (whole and partial messages, str,
    bytes, bytearray, memoryview and wrong data types, control frames,
    closing) gives the same frames, errors and states."""
    rng = random.Random(f"conn-send-{client}-{deflate}")
    cases = []
    for _ in range(60):
        events = []
        for _ in range(rng.randint(1, 30)):
            r = rng.random()
            if r < 0.7:
                n = rng.choice((0, 1, 16, 125, 126, 1000, 65536))
                kind = rng.choice(("str", "str", "bytes", "bytes", "bytearray", "memoryview", "int", "surrogate"))
                raw = bytes(rng.getrandbits(8) for _ in range(n))
                data = {"str": ("ü" * n)[:n], "bytes": raw, "bytearray": bytearray(raw), "memoryview": memoryview(raw),
                        "int": 7, "surrogate": "a\ud800b"}[kind]
                cls = rng.choice((TextMessage, BytesMessage, Message))
                events.append(cls(data=data, message_finished=rng.random() < 0.7))
            elif r < 0.8:
                events.append(Ping(payload=bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 4, 125, 126))))))
            elif r < 0.9:
                events.append(Pong(payload=b"pong"))
            else:
                events.append(CloseConnection(code=rng.choice((1000, 1001, 3000)), reason=rng.choice(("", "bye"))))
        cases.append(events)

    def run(events):
        extensions = []
        if deflate:
            ext = PerMessageDeflate()
            ext.finalize("permessage-deflate")
            extensions = [ext]
        conn = Connection(ConnectionType.CLIENT if client else ConnectionType.SERVER, extensions=extensions)
        log = []
        for event in events:
            try:
                wire = conn.send(event)
            except Exception as exc:
                log.append(("raise", type(exc).__name__, str(exc)))
            else:
                assert type(wire) is bytes
                log.append(_unmask_all(wire))
            log.append(conn.state)
        return log

    expected = [run(events) for events in cases]
    accel.install()
    assert [run(events) for events in cases] == expected
    assert accel.stats()["build"] > 0


def test_masker_matches_wsproto():
    rng = random.Random(7)
    chunks = [bytes(rng.getrandbits(8) for _ in range(n)) for n in (0, 1, 3, 4, 5, 17, 1000, 4099)]
    key = b"\x01\x80\xfe\x33"
    original = fp.XorMaskerSimple(key)
    expected = [bytes(original.process(c)) for c in chunks]
    accel.install()
    fast = fp.XorMaskerSimple(key)
    assert [bytes(fast.process(c)) for c in chunks] == expected
    assert accel.stats()["mask"] > 0
