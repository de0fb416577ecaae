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

    @property
    def fresh(self) -> bool:
        return self.call is None

    def once(self) -> Any:
        """Run the timed path once (untimed), as the smoke mode does."""
        if self.call is not None:
            return self.call()
        return self.run(self.setup())  # type: ignore[misc]


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
)
