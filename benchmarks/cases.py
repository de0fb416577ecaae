"""The benchmark cases, shared by the pytest-benchmark files and the runner.

A *case* (``mask_inplace``, ``apply_mask``, ``validate_utf8``,
``utf8_fragments``, ``parse``, ``build``) has parameters (sizes, kinds of
text, sides) and a list of implementations. :func:`make` turns one
(case, param, impl) into a :class:`Bench`: the inputs are built once,
identical for every implementation, and ``bench.check()`` verifies the
implementation's output against an independent reference *before* anything
is timed. A wrong adapter fails there; it is never timed.

Adding a case for the later suite (connection receive/send paths, wsproto...)
means adding a ``Case`` to ``CASES`` and, where a target applies, a
``Target``; the runner and the pytest files pick it up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import peers
from .peers import OP_BINARY, Unavailable, ref_mask, ref_parse, ref_utf8_valid
from .peers_conn import UPGRADE_HEAD, expected_accept, header_values, response_for

OP_TEXT = 0x1

__all__ = ["Bench", "Case", "Config", "CASES", "CONFIGS", "TARGETS", "Target", "make", "matrix"]

MASK = b"\x37\xfa\x21\x3d"  # RFC 6455 section 5.7's example key


# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    name: str
    mask_sizes: Tuple[int, ...]
    utf8_size: int
    utf8_fragments: int
    parse_frames: int
    parse_payload: int
    parse_chunk: int
    build_frames: int
    build_payload: int
    # Connection level (issue 3): (messages, payload bytes) per receive variant.
    receive: Tuple[Tuple[int, int], ...] = ()
    receive_chunk: int = 64 * 1024
    # Send path: (text?, messages, payload bytes) per variant; each runs in the server and the client role.
    send: Tuple[Tuple[bool, int, int], ...] = ()
    handshakes: int = 0
    simd_mask_sizes: Tuple[int, ...] = ()
    simd_utf8_sizes: Tuple[int, ...] = ()


FULL = Config(
    "full",
    mask_sizes=(125, 1024, 16 * 1024, 1024 * 1024),
    utf8_size=64 * 1024,
    utf8_fragments=16,
    parse_frames=100_000,
    parse_payload=16,
    parse_chunk=64 * 1024,
    build_frames=10_000,
    build_payload=16,
    receive=((100_000, 16), (20_000, 1024), (200, 64 * 1024), (16, 1023 * 1024)),
    send=((True, 10_000, 16), (False, 10_000, 16), (True, 5_000, 1024), (False, 5_000, 1024),
          (False, 1_000, 4096)),
    handshakes=200,
    simd_mask_sizes=(16, 125, 1024, 16 * 1024, 1024 * 1024),
    simd_utf8_sizes=(16, 125, 1024, 16 * 1024, 64 * 1024),
)
# Tiny inputs that still cross every path: frames split across chunks, text
# fragments split inside code points. Correctness only.
SMOKE = Config(
    "smoke",
    mask_sizes=(125, 1024),
    utf8_size=2048,
    utf8_fragments=16,
    parse_frames=300,
    parse_payload=16,
    parse_chunk=1000,
    build_frames=50,
    build_payload=16,
    # The same message sizes (rows are labelled by size), tiny counts; 64 KiB
    # messages still cross many 1000-byte chunks.
    receive=((300, 16), (20, 1024), (2, 64 * 1024)),
    receive_chunk=1000,
    send=((True, 50, 16), (False, 50, 16), (True, 10, 1024), (False, 10, 1024), (False, 5, 4096)),
    handshakes=3,
    simd_mask_sizes=(16, 125, 1024),
    simd_utf8_sizes=(16, 1024),
)
CONFIGS = {"full": FULL, "smoke": SMOKE}


def size_label(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return f"{n}B"


# ---------------------------------------------------------------------------
# Bench and Case
# ---------------------------------------------------------------------------


@dataclass
class Bench:
    """One implementation on one input, ready to check and time.

    Either ``call`` (a zero-argument callable, timed repeatedly) or, for
    benches whose state one run consumes (a parser), ``setup`` (untimed,
    returns a fresh state) and ``run(state)`` (timed, once per state).
    """

    case: str
    param: str
    impl: str
    work: int  # bytes or frames handled by one call
    unit: str  # "B" or "frames"
    check: Callable[[], None]
    call: Optional[Callable[[], Any]] = None
    setup: Optional[Callable[[], Any]] = None
    run: Optional[Callable[[Any], Any]] = None
    # Called around every check and sample (global state such as the SIMD level).
    before: Optional[Callable[[], Any]] = None
    after: Optional[Callable[[], Any]] = None

    @property
    def fresh(self) -> bool:
        return self.call is None

    def once(self) -> Any:
        """Run the timed path once (untimed), as the smoke mode does."""
        with self.active():
            if self.call is not None:
                return self.call()
            return self.run(self.setup())  # type: ignore[misc]

    def active(self):
        """Context in which checks and samples run (``before``/``after``)."""
        return _Active(self.before, self.after)


class _Active:
    def __init__(self, before, after) -> None:
        self._before, self._after = before, after

    def __enter__(self):
        if self._before is not None:
            self._before()

    def __exit__(self, *exc):
        if self._after is not None:
            self._after()
        return False


@dataclass(frozen=True)
class Param:
    label: str
    value: Any


@dataclass
class Case:
    name: str
    title: str
    impls: Tuple[str, ...]
    params: Callable[[Config], List[Param]]
    factory: Callable[[str, Param, Config], Bench]
    unit: str
    # Reference implementations that are shown but whose ratios are not "peers".
    references: Tuple[str, ...] = ()
    # Ratios against this implementation instead of wsframe (the SIMD rows).
    baseline: Optional[str] = None


# ---------------------------------------------------------------------------
# Inputs (deterministic, built once per config and parameter)
# ---------------------------------------------------------------------------

_cache: Dict[Any, Any] = {}


def _memo(key, fn):
    if key not in _cache:
        _cache[key] = fn()
    return _cache[key]


def _random_bytes(n: int, seed: int = 6455) -> bytes:
    return random.Random(seed + n).randbytes(n)


# Code point ranges by UTF-8 length; text is cycled through a range so the
# input is not one repeated byte pattern.
_TEXT_RANGES = {
    "ascii": (0x20, 0x7F),
    "2-byte": (0x0400, 0x0800),  # Cyrillic, Armenian, Hebrew, Arabic...
    "3-byte": (0x4E00, 0x9FFF),  # CJK
    "4-byte": (0x1F300, 0x1F6FF),  # emoji and pictographs
}


def utf8_text(kind: str, size: int) -> bytes:
    """``size`` bytes of valid UTF-8 made of ``kind`` characters (padded with
    ASCII to the exact size when the width does not divide it)."""

    def build():
        lo, hi = _TEXT_RANGES[kind]
        width = len(chr(lo).encode())
        count = size // width
        text = "".join(chr(lo + (i * 7) % (hi - lo)) for i in range(count)).encode()
        text += b"x" * (size - len(text))
        assert len(text) == size and ref_utf8_valid(text)
        return text

    return _memo(("utf8", kind, size), build)


def invalid_variants(text: bytes) -> List[bytes]:
    """Invalid inputs an implementation must reject: bad byte, overlong form,
    surrogate, above U+10FFFF, truncated code point."""
    mid = len(text) // 2
    # Step back to a code point start so the insertion itself is the error.
    while mid and (text[mid] & 0xC0) == 0x80:
        mid -= 1
    out = [
        text[:mid] + b"\xff" + text[mid:],
        text[:mid] + b"\xc0\xaf" + text[mid:],
        text[:mid] + b"\xed\xa0\x80" + text[mid:],
        text[:mid] + b"\xf4\x90\x80\x80" + text[mid:],
        text + b"\xe2\x82",
    ]
    for bad in out:
        assert not ref_utf8_valid(bad)
    return out


def fragments(data: bytes, count: int) -> List[bytes]:
    step = -(-len(data) // count)
    return [data[i : i + step] for i in range(0, len(data), step)]


def parse_input(cfg: Config):
    """(chunks, expected frames): ``parse_frames`` masked binary frames of
    ``parse_payload`` bytes each, every payload and mask different, the wire
    cut into ``parse_chunk``-byte chunks regardless of frame boundaries."""

    def build():
        rng = random.Random(2)
        wire = bytearray()
        expected = []
        for _ in range(cfg.parse_frames):
            payload = rng.randbytes(cfg.parse_payload)
            key = rng.randbytes(4)
            assert cfg.parse_payload < 126
            wire += bytes((0x80 | OP_BINARY, 0x80 | cfg.parse_payload)) + key + ref_mask(payload, key)
            expected.append((OP_BINARY, True, payload))
        wire = bytes(wire)
        chunks = [wire[i : i + cfg.parse_chunk] for i in range(0, len(wire), cfg.parse_chunk)]
        return chunks, expected

    return _memo(("parse", cfg), build)


def build_input(cfg: Config) -> List[bytes]:
    def build():
        rng = random.Random(3)
        return [rng.randbytes(cfg.build_payload) for _ in range(cfg.build_frames)]

    return _memo(("build", cfg), build)


# ---------------------------------------------------------------------------
# Factories
# ---------------------------------------------------------------------------


def _adapter(impl: str, op: str):
    ad = peers.load(impl)
    if not hasattr(ad, op):
        raise Unavailable(f"{impl} offers no {op}")
    return ad


def _mask_inplace(impl: str, p: Param, cfg: Config) -> Bench:
    data = _random_bytes(p.value)
    expected = ref_mask(data, MASK)
    if impl == "copy":
        ad = _adapter(impl, "copy_call")
        call = ad.copy_call(data)

        def check():
            assert call() == data, "copy differs from input"

        return Bench("mask_inplace", p.label, impl, p.value, "B", check, call=call)

    ad = _adapter(impl, "mask_inplace_call")
    buf = bytearray(data)
    call = ad.mask_inplace_call(buf, MASK)

    def check():
        probe = bytearray(data)
        ad.mask_inplace_call(probe, MASK)()
        assert probe == expected, f"{impl}: in-place mask of {p.label} is wrong"
        # The bound call used for timing too, twice: masking is an involution.
        buf[:] = data
        call()
        assert buf == expected, f"{impl}: bound in-place mask of {p.label} is wrong"
        call()
        assert buf == data, f"{impl}: masking twice did not restore the input"

    return Bench("mask_inplace", p.label, impl, p.value, "B", check, call=call)


def _apply_mask(impl: str, p: Param, cfg: Config) -> Bench:
    data = _random_bytes(p.value)
    expected = ref_mask(data, MASK)
    if impl == "copy":
        ad = _adapter(impl, "copy_call")
        call = ad.copy_call(data)

        def check():
            assert call() == data, "copy differs from input"

    else:
        ad = _adapter(impl, "apply_mask_call")
        call = ad.apply_mask_call(data, MASK)

        def check():
            out = call()
            assert bytes(out) == expected, f"{impl}: apply_mask of {p.label} is wrong"
            assert bytes(call()) == expected, f"{impl}: second apply_mask of {p.label} differs"

    return Bench("apply_mask", p.label, impl, p.value, "B", check, call=call)


def _validate_utf8(impl: str, p: Param, cfg: Config) -> Bench:
    ad = _adapter(impl, "validate_utf8")
    text = utf8_text(p.value, cfg.utf8_size)
    validate = ad.validate_utf8

    def check():
        assert validate(text) is True, f"{impl}: valid {p.label} text rejected"
        for i, bad in enumerate(invalid_variants(text)):
            assert not validate(bad), f"{impl}: invalid variant {i} of {p.label} text accepted"
        assert validate(text) is True, f"{impl}: valid text rejected after invalid input"

    return Bench("validate_utf8", p.label, impl, len(text), "B", check, call=partial(validate, text))


ONE_SHOT = " one-shot"


def _utf8_fragments(impl: str, p: Param, cfg: Config) -> Bench:
    if impl.endswith(ONE_SHOT):
        # The one-shot call on the whole text, timed in the same interleaved
        # rounds as the incremental validators so that their ratio is fair.
        b = _validate_utf8(impl[: -len(ONE_SHOT)], p, cfg)
        b.case, b.impl = "utf8_fragments", impl
        return b
    ad = _adapter(impl, "validate_utf8_fragments")
    text = utf8_text(p.value, cfg.utf8_size)
    frags = fragments(text, cfg.utf8_fragments)
    assert len(frags) == cfg.utf8_fragments and b"".join(frags) == text
    validate = ad.validate_utf8_fragments

    def check():
        assert validate(frags) is True, f"{impl}: valid {p.label} text in fragments rejected"
        for i, bad in enumerate(invalid_variants(text)):
            assert not validate(fragments(bad, cfg.utf8_fragments)), (
                f"{impl}: invalid variant {i} of {p.label} text in fragments accepted"
            )

    return Bench("utf8_fragments", p.label, impl, len(text), "B", check, call=partial(validate, frags))


def _parse(impl: str, p: Param, cfg: Config) -> Bench:
    ad = _adapter(impl, "frame_parser")
    parser = ad.frame_parser(True)  # server side: masked client frames
    chunks, expected = parse_input(cfg)

    def check():
        got = parser.frames(parser.parse(parser.new(), chunks))
        _compare_frames(impl, got, expected)
        if hasattr(parser, "checked_frames"):  # opcode and fin too, where the timed path keeps payloads only
            _compare_frames(impl, parser.checked_frames(chunks), expected)
        # The same chunks split differently give the same frames.
        wire = b"".join(chunks)
        tiny = [wire[i : i + 7] for i in range(0, min(len(wire), 7 * 700), 7)]
        got = parser.frames(parser.parse(parser.new(), tiny))
        _compare_frames(impl, got, expected[: len(got)], partial_ok=True)

    return Bench(
        "parse", p.label, impl, cfg.parse_frames, "frames", check,
        setup=parser.new, run=partial(parser.parse, chunks=chunks),
    )


def _compare_frames(impl, got, expected, partial_ok=False):
    if not partial_ok:
        assert len(got) == len(expected), f"{impl}: parsed {len(got)} frames, expected {len(expected)}"
    else:
        assert got, f"{impl}: no frame parsed from 7-byte chunks"
    for i, (g, e) in enumerate(zip(got, expected)):
        g = (int(g[0]), bool(g[1]), bytes(g[2]))
        assert g == e, f"{impl}: frame {i} is {g!r}, expected {e!r}"


def _build(impl: str, p: Param, cfg: Config) -> Bench:
    ad = _adapter(impl, "frame_builder")
    client = p.value
    builder = ad.frame_builder(client)
    payloads = build_input(cfg)
    state = builder.new()
    call = partial(builder.build, state, payloads)

    def check():
        wire = builder.wire(call())
        frames = ref_parse(wire)
        assert len(frames) == len(payloads), f"{impl}: built {len(frames)} frames, expected {len(payloads)}"
        for i, ((op, fin, payload, masked), want) in enumerate(zip(frames, payloads)):
            assert (op, fin, payload) == (OP_BINARY, True, want), f"{impl}: frame {i} is wrong"
            assert masked == client, f"{impl}: frame {i} masked={masked}, expected {client}"
        if not client:
            exact = b"".join(bytes((0x80 | OP_BINARY, len(x))) + x for x in payloads)
            assert wire == exact, f"{impl}: server frames differ from the expected bytes"
        else:
            keys = {wire[i * (6 + cfg.build_payload) + 2 : i * (6 + cfg.build_payload) + 6] for i in range(len(payloads))}
            assert len(keys) > 1 or len(payloads) == 1, f"{impl}: every client frame has the same mask"

    return Bench("build", p.label, impl, cfg.build_frames, "frames", check, call=call)


# ---------------------------------------------------------------------------
# Connection level (issue 3): receive path, send path, handshakes
# ---------------------------------------------------------------------------

# Printable ASCII for generated text (JSON-like traffic is mostly ASCII).
_PRINTABLE = bytes(0x20 + (b % 0x5F) for b in range(256))


def _text(rng: random.Random, size: int, i: int) -> str:
    head = f"{i:x}:".encode()[:size]
    return (head + rng.randbytes(size - len(head)).translate(_PRINTABLE)).decode("ascii")


def _frame_header(op: int, n: int, masked: bool) -> bytes:
    m = 0x80 if masked else 0
    if n < 126:
        return bytes((0x80 | op, m | n))
    if n < 1 << 16:
        return bytes((0x80 | op, m | 126)) + n.to_bytes(2, "big")
    return bytes((0x80 | op, m | 127)) + n.to_bytes(8, "big")


def receive_input(cfg: Config, count: int, size: int, binary: bool = False):
    """(chunks, wire, expected messages): ``count`` masked TEXT frames (str
    messages) or BINARY frames (random bytes) of ``size`` bytes, every payload
    and mask key different, the wire cut into ``cfg.receive_chunk``-byte
    chunks regardless of frame boundaries."""

    def build():
        rng = random.Random(size * 7 + count + binary)
        wire = bytearray()
        expected = []
        for i in range(count):
            message = rng.randbytes(size) if binary else _text(rng, size, i)
            payload = message if binary else message.encode()
            key = rng.randbytes(4)
            wire += _frame_header(OP_BINARY if binary else OP_TEXT, len(payload), True) + key + ref_mask(payload, key)
            expected.append(message)
        wire = bytes(wire)
        step = cfg.receive_chunk
        return [wire[i : i + step] for i in range(0, len(wire), step)], wire, expected

    return _memo(("receive", cfg.receive_chunk, count, size, binary), build)


def _receive(impl: str, p: Param, cfg: Config, binary: bool = False) -> Bench:
    count, size = p.value
    ad = _adapter(impl, "receiver")
    rx = ad.receiver()
    chunks, wire, expected = receive_input(cfg, count, size, binary)
    # Binary: bytes, or wsproto's bytearray (its Message.data as delivered; copying it would bill wsproto a copy).
    kinds = (bytes, bytearray) if binary else (str,)

    def check():
        n = rx.receive(rx.new(), chunks)  # the timed path counts what it delivers
        assert n == len(expected), f"{impl}: the timed path delivered {n} messages, expected {len(expected)}"
        got = rx.collect(rx.new(), chunks)
        assert len(got) == len(expected), f"{impl}: delivered {len(got)} messages, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert type(g) in kinds, f"{impl}: message {i} delivered as {type(g).__name__}, not {kinds[0].__name__}"
            assert g == e, f"{impl}: message {i} is {g[:40]!r}..., expected {e[:40]!r}..."
        # Split in 7-byte pieces (frames and headers cut everywhere): the same messages.
        end = min(len(wire), max(7 * 3000, 2 * (size + 14)))
        tiny = [wire[i : i + 7] for i in range(0, end, 7)]
        got = rx.collect(rx.new(), tiny)
        assert got and got == expected[: len(got)], f"{impl}: wrong messages from 7-byte chunks"

    return Bench(
        "receive_binary" if binary else "receive", p.label, impl, count, "msgs", check,
        setup=rx.new, run=partial(rx.receive, chunks=chunks),
    )


def send_input(cfg: Config, text: bool, count: int, size: int):
    def build():
        rng = random.Random((11 if text else 12) + size)
        if text:
            return [_text(rng, size, i) for i in range(count)]
        return [rng.randbytes(size) for _ in range(count)]

    return _memo(("send", cfg, text, count, size), build)


def _send(impl: str, p: Param, cfg: Config) -> Bench:
    text, count, size, client = p.value
    ad = _adapter(impl, "sender")
    tx = ad.sender(client)
    msgs = send_input(cfg, text, count, size)
    state = tx.new()
    call = partial(tx.send_text if text else tx.send_binary, state, msgs)
    op = OP_TEXT if text else OP_BINARY
    want = [m.encode() for m in msgs] if text else msgs

    def check():
        for attempt in range(2):  # the bound call is reused: its second output is as good
            wire = tx.wire(call())
            frames = ref_parse(wire)
            assert len(frames) == len(msgs), f"{impl}: sent {len(frames)} frames, expected {len(msgs)}"
            for i, ((fop, fin, payload, masked), w) in enumerate(zip(frames, want)):
                assert (fop, fin, payload) == (op, True, w), f"{impl}: frame {i} is wrong (call {attempt + 1})"
                assert masked == client, f"{impl}: frame {i} masked={masked}, expected {client}"
            if not client:
                exact = b"".join(_frame_header(op, len(w), False) + w for w in want)
                assert wire == exact, f"{impl}: server frames differ from the expected bytes"
            elif len(msgs) > 1:
                keys, pos = set(), 0
                for w in want:
                    hl = len(_frame_header(op, len(w), True))
                    keys.add(wire[pos + hl : pos + hl + 4])
                    pos += hl + 4 + len(w)
                assert len(keys) > 1, f"{impl}: every client frame has the same mask"

    return Bench("send", p.label, impl, len(msgs), "msgs", check, call=call)


_CLIENT_KEY = "x3JJHMbDL1EzLkh9GBhXDw=="


def handshake_requests(n: int) -> List[bytes]:
    import base64

    def build():
        rng = random.Random(13)
        return [UPGRADE_HEAD.format(key=base64.b64encode(rng.randbytes(16)).decode()).encode() for _ in range(n)]

    return _memo(("handshake", n), build)


def _handshake(impl: str, p: Param, cfg: Config) -> Bench:
    n = cfg.handshakes
    if p.value == "server":
        ad = _adapter(impl, "server_handshake")
        requests = handshake_requests(n)
        call = partial(ad.server_handshake, requests)

        def check():
            out = call()
            assert len(out) == n, f"{impl}: {len(out)} responses for {n} requests"
            for i, (req, resp) in enumerate(zip(requests, out)):
                resp = bytes(resp)
                assert resp.startswith(b"HTTP/1.1 101 "), f"{impl}: response {i} is not a 101: {resp[:40]!r}"
                assert resp.endswith(b"\r\n\r\n"), f"{impl}: response {i} has a body or no end"
                assert header_values(resp, b"sec-websocket-accept") == [expected_accept(req)], (
                    f"{impl}: response {i} has a wrong Sec-WebSocket-Accept"
                )
                assert [v.lower() for v in header_values(resp, b"upgrade")] == [b"websocket"], f"{impl}: Upgrade"

    else:
        ad = _adapter(impl, "client_handshake")
        request = UPGRADE_HEAD.format(key=_CLIENT_KEY).encode()
        response = response_for(request)
        call = partial(ad.client_handshake, n, _CLIENT_KEY, response)
        opened = ad.client_opened

        def check():
            out = call()
            assert len(out) == n, f"{impl}: {len(out)} handshakes, expected {n}"
            for i, item in enumerate(out):
                req = bytes(item[0])
                assert req.startswith(b"GET /chat HTTP/1.1\r\n"), f"{impl}: request {i}: {req[:30]!r}"
                assert header_values(req, b"sec-websocket-key") == [_CLIENT_KEY.encode()], f"{impl}: request key"
                assert header_values(req, b"sec-websocket-version") == [b"13"], f"{impl}: request version"
                assert opened(item), f"{impl}: client {i} did not open on a valid 101"
            # ...and refuses a 101 with a wrong accept value (an event or an exception).
            bad = response.replace(b"Sec-WebSocket-Accept: ", b"Sec-WebSocket-Accept: A")
            try:
                refused = not opened(ad.client_handshake(1, _CLIENT_KEY, bad)[0])
            except Exception:
                refused = True
            assert refused, f"{impl}: client opened on a wrong Sec-WebSocket-Accept"

    return Bench("handshake", p.label, impl, n, "handshakes", check, call=call)


# ---------------------------------------------------------------------------
# SIMD levels of the C extension (wsframe._speedups.set_simd_level)
# ---------------------------------------------------------------------------

SIMD_LEVELS = ("scalar", "sse2", "avx2", "avx512")


def _simd_module(level: str):
    mod = peers.load("wsframe-c").codec_module
    setter = getattr(mod, "set_simd_level", None)
    if setter is None:
        raise Unavailable("wsframe C extension has no set_simd_level")
    try:
        got = setter(level)
    except (ValueError, RuntimeError) as exc:
        raise Unavailable(f"SIMD level {level}: {exc}") from None
    finally:
        setter(None)
    if got != level:
        raise Unavailable(f"SIMD level {level} not supported by this CPU (would run {got})")
    return mod


def _simd_mask(impl: str, p: Param, cfg: Config) -> Bench:
    mod = _simd_module(impl)
    data = _random_bytes(p.value)
    expected = ref_mask(data, MASK)
    call = partial(mod.apply_mask, data, MASK)

    def check():
        assert mod.simd_level() == impl, f"{impl}: running at {mod.simd_level()}"
        assert bytes(call()) == expected, f"{impl}: apply_mask of {p.label} is wrong"
        # Misaligned starts and odd lengths around the vector widths.
        for off in (1, 3, 17, 63):
            d = data[off:]
            assert bytes(mod.apply_mask(d, MASK)) == ref_mask(d, MASK), f"{impl}: apply_mask at offset {off}"

    return Bench(
        "simd_mask", p.label, impl, p.value, "B", check, call=call,
        before=partial(mod.set_simd_level, impl), after=partial(mod.set_simd_level, None),
    )


def _simd_utf8(impl: str, p: Param, cfg: Config) -> Bench:
    mod = _simd_module(impl)
    kind, size = p.value
    text = utf8_text(kind, size)
    call = partial(mod.validate_utf8, text)

    def check():
        assert mod.simd_level() == impl, f"{impl}: running at {mod.simd_level()}"
        assert call() is True, f"{impl}: valid {p.label} text rejected"
        for i, bad in enumerate(invalid_variants(text)):
            assert mod.validate_utf8(bad) is False, f"{impl}: invalid variant {i} of {p.label} accepted"

    return Bench(
        "simd_utf8", p.label, impl, size, "B", check, call=call,
        before=partial(mod.set_simd_level, impl), after=partial(mod.set_simd_level, None),
    )


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

CASES: Dict[str, Case] = {
    c.name: c
    for c in (
        Case(
            "mask_inplace", "In-place mask (mask_inplace) vs aiohttp's in-place Cython mask and a plain copy",
            ("wsframe-c", "wsframe-py", "aiohttp", "copy"),
            lambda cfg: [Param(size_label(n), n) for n in cfg.mask_sizes],
            _mask_inplace, "B", references=("copy",),
        ),
        Case(
            "apply_mask", "Masked copy (apply_mask) vs websockets.speedups.apply_mask, wsaccel, "
            "aiohttp (copy + in-place mask) and a plain copy",
            ("wsframe-c", "wsframe-py", "websockets", "wsaccel", "aiohttp", "copy"),
            lambda cfg: [Param(size_label(n), n) for n in cfg.mask_sizes],
            _apply_mask, "B", references=("copy",),
        ),
        Case(
            "validate_utf8", "UTF-8 validation, one call, vs bytes.decode('utf-8') and wsaccel",
            ("wsframe-c", "wsframe-py", "decode", "wsaccel"),
            lambda cfg: [Param(k, k) for k in _TEXT_RANGES],
            _validate_utf8, "B", references=("decode",),
        ),
        Case(
            "utf8_fragments", "Incremental UTF-8 validation over 16 fragments (split inside code points)",
            ("wsframe-c", "wsframe-py", "decode", "wsaccel", "wsframe-c one-shot", "wsframe-py one-shot"),
            lambda cfg: [Param(k, k) for k in _TEXT_RANGES],
            _utf8_fragments, "B", references=("decode",),
        ),
        Case(
            "parse", "Parsing masked 16-byte binary frames fed in 64 KiB chunks (server side)",
            ("wsframe-c", "wsframe-py", "picows", "aiohttp", "websockets"),
            lambda cfg: [Param(f"{cfg.parse_frames}x{cfg.parse_payload}B", None)],
            _parse, "frames",
        ),
        Case(
            "build", "Building 16-byte binary frames (server: unmasked; client: masked, random key)",
            ("wsframe-c", "wsframe-py", "picows", "websockets", "aiohttp"),
            lambda cfg: [Param("server", False), Param("client", True)],
            _build, "frames",
        ),
        Case(
            "receive", "Receive path: masked TEXT messages in 64 KiB chunks to delivered str messages "
            "(100,000 x 16 B, 20,000 x 1 KiB, 200 x 64 KiB, 16 x 1023 KiB: aiohttp's reader here stops at 1 MiB), server side",
            ("wsframe-c", "wsframe-py", "picows", "aiohttp", "websockets", "wsproto"),
            lambda cfg: [Param(size_label(size), (n, size)) for n, size in cfg.receive],
            _receive, "msgs",
        ),
        Case(
            "receive_binary", "Receive path: masked BINARY messages in 64 KiB chunks to delivered bytes messages "
            "(the receive sizes), server side: the pure-Python twin against wsproto (pure Python too)",
            ("wsframe-c", "wsframe-py", "wsproto"),
            lambda cfg: [Param(size_label(size), (n, size)) for n, size in cfg.receive],
            partial(_receive, binary=True), "msgs",
        ),
        Case(
            "send", "Send path: send_text/send_binary + data_to_send() per message (10,000 x 16 B and "
            "5,000 x 1 KiB text and binary, 1,000 x 4 KiB binary), server and client role, output collected",
            ("wsframe-c", "wsframe-py", "picows", "aiohttp", "websockets", "wsproto"),
            lambda cfg: [
                Param(f"{'text' if text else 'bin'}{size_label(size)}-{'client' if client else 'server'}",
                      (text, count, size, client))
                for text, count, size in cfg.send for client in (False, True)
            ],
            _send, "msgs",
        ),
        Case(
            "handshake", "Opening handshakes: server (request bytes in, 101 out), client (request out, 101 validated)",
            ("wsframe-c", "wsframe-py", "websockets", "wsproto"),
            lambda cfg: [Param("server", "server"), Param("client", "client")],
            _handshake, "handshakes",
        ),
        Case(
            "simd_mask", "wsframe C apply_mask per SIMD level (set_simd_level), by size",
            SIMD_LEVELS,
            lambda cfg: [Param(size_label(n), n) for n in cfg.simd_mask_sizes],
            _simd_mask, "B", baseline="scalar",
        ),
        Case(
            "simd_utf8", "wsframe C validate_utf8 per SIMD level (set_simd_level), ASCII and 3-byte text, by size",
            SIMD_LEVELS,
            lambda cfg: [Param(f"{k}-{size_label(n)}", (k, n)) for k in ("ascii", "3-byte") for n in cfg.simd_utf8_sizes],
            _simd_utf8, "B", baseline="scalar",
        ),
    )
}


def matrix(case: str, cfg: Config) -> List[Tuple[Param, str]]:
    """Every (param, impl) of a case, available or not."""
    c = CASES[case]
    return [(p, impl) for p in c.params(cfg) for impl in c.impls]


def make(case: str, param: Param, impl: str, cfg: Config) -> Bench:
    """The Bench; raises Unavailable when the implementation cannot run here."""
    return CASES[case].factory(impl, param, cfg)


# ---------------------------------------------------------------------------
# Targets from issue 2: speed of ``impl`` relative to ``vs`` (time_vs / time_impl)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    case: str
    vs: str
    min_ratio: float
    params: Optional[Sequence[str]] = None  # None: every param
    vs_case: Optional[str] = None  # compare with another case (same param); prefer one case, timed interleaved
    impl: str = "wsframe-c"

    def describe(self) -> str:
        other = f"{self.vs_case} ({self.vs})" if self.vs_case else self.vs
        return f"{self.impl} {self.case} vs {other} >= {self.min_ratio:g}x"


_KIB = ("1KiB", "16KiB", "1MiB")
TARGETS: Tuple[Target, ...] = (
    Target("mask_inplace", "aiohttp", 1.0, ("125B", "1KiB", "16KiB", "1MiB")),
    Target("apply_mask", "websockets", 1.2, _KIB),
    Target("apply_mask", "copy", 0.9, ("16KiB", "1MiB")),
    Target("validate_utf8", "decode", 10.0, ("2-byte", "3-byte", "4-byte")),
    Target("validate_utf8", "decode", 1.0, ("ascii",)),
    Target("utf8_fragments", "wsframe-c one-shot", 0.8),
    Target("parse", "picows", 2.0),
    Target("parse", "aiohttp", 2.0),
    Target("build", "picows", 1.0, ("server", "client")),
    # Issue 3: the full receive path.
    # Issue 12: receiving at least 3.5x picows; sending (16 B and 1 KiB, both roles) at least picows.
    Target("receive", "picows", 3.5, ("16B",)),
    Target("receive", "aiohttp", 2.0, ("16B",)),
    Target("receive", "websockets", 5.0, ("16B",)),
    # Issue 19: the pure-Python twin receives at least as fast as wsproto (pure Python) at every size.
    Target("receive", "wsproto", 1.0, impl="wsframe-py"),
    Target("receive_binary", "wsproto", 1.0, impl="wsframe-py"),
    Target("send", "picows", 1.0, tuple(f"{kind}{size}-{role}" for size in ("16B", "1KiB") for kind in ("text", "bin")
                                        for role in ("server", "client"))),
)
