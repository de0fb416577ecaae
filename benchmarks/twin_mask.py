"""``python -m benchmarks.twin_mask``: pure-Python masking strategies by size,
the evidence for the twin's choice (wsframe/_codec_py.py ``_xor_at``).

Strategies, each checked against a byte-by-byte reference before timing:
``twin`` (wsframe's pure-Python kernel: a big-integer XOR below
``_TRANSLATE_MIN``, else four strided ``bytearray.translate`` passes),
``bigint`` (int.from_bytes ^ key -> to_bytes, the key made from the mask
repeated), ``translate-from-bytes`` (the twin's old passes: strided slices of
the source bytes into a new bytearray) and ``wsproto`` (wsproto's
XorMaskerSimple, when installed). Input: a slice of a larger bytes object
(as a payload inside a read). Medians of interleaved repeats; MiB/s and the
ratio of each to ``twin``. glibc's malloc thresholds are fixed first, as
``python -m benchmarks`` does (runner.tame_malloc).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Dict

from wsframe import _codec_py as twin

MASK = b"\x37\xfa\x21\x3d"
SIZES = (16, 125, 512, 1024, 4096, 16384, 65536, 1 << 20)


def _bigint(src: bytes, start: int, n: int, mask: bytes) -> bytes:
    key = int.from_bytes(mask * (n // 4) + mask[: n % 4], "little")
    return (int.from_bytes(src[start : start + n], "little") ^ key).to_bytes(n, "little")


def _translate_from_bytes(src: bytes, start: int, n: int, mask: bytes) -> bytes:
    out = bytearray(n)
    end = start + n
    for j in range(4):
        out[j::4] = src[start + j : end : 4].translate(twin._XOR_TABLES[mask[j]])
    return bytes(out)


def strategies() -> Dict[str, Callable[[bytes, int, int, bytes], bytes]]:
    out = {"twin": twin._xor_at, "bigint": _bigint, "translate-from-bytes": _translate_from_bytes}
    try:
        from wsproto.frame_protocol import XorMaskerSimple
    except ImportError:
        return out
    out["wsproto"] = lambda src, start, n, mask: XorMaskerSimple(mask).process(src[start : start + n])
    return out


def measure(n: int, repeats: int, budget: float) -> Dict[str, float]:
    """MiB/s per strategy: the median of ``repeats`` interleaved samples."""
    src = bytes(range(256)) * (n // 256 + 2)
    start = 14  # a payload after a 14-byte header
    want = bytes(b ^ MASK[i % 4] for i, b in enumerate(src[start : start + n]))
    funcs = strategies()
    for name, f in funcs.items():
        assert bytes(f(src, start, n, MASK)) == want, f"{name} masks {n} bytes wrongly"
    loops = max(1, int(budget * 400e6 / 8 / max(n, 64)))  # about ``budget`` s per sample at ~400 MiB/s
    samples: Dict[str, list] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, f in funcs.items():
            t = time.perf_counter()
            for _ in range(loops):
                f(src, start, n, MASK)
            samples[name].append((time.perf_counter() - t) / loops)
    return {name: n / statistics.median(s) / (1 << 20) for name, s in samples.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.twin_mask", description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--budget", type=float, default=0.02, help="seconds per sample (roughly)")
    args = ap.parse_args(argv)
    from .runner import tame_malloc

    tame_malloc()
    names = list(strategies())
    print("| size | " + " | ".join(f"{n} MiB/s" for n in names) + " | " + " | ".join(f"twin vs {n}" for n in names[1:]) + " |")
    print("|" + " --- |" * (1 + 2 * len(names) - 1))
    for n in SIZES:
        r = measure(n, args.repeats, args.budget)
        cells = [f"{r[k]:.0f}" for k in names] + [f"{r['twin'] / r[k]:.2f}x" for k in names[1:]]
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
