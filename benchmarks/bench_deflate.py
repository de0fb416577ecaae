"""permessage-deflate cost per message: wsframe vs websockets vs aiohttp.

Standalone script (not a pytest-benchmark case):

    python benchmarks/bench_deflate.py [--level 6] [--bits 15 12] [--mem-level 8]

For each message size (16 B, 1 KiB, 64 KiB of JSON-like text) it compresses
then decompresses a stream of *distinct* messages through one long-lived
extension per library (context takeover on, like a real connection), at the
same zlib level, window bits and memLevel, and prints microseconds per
message for encode, decode and both, and the speed ratio
``other / wsframe`` (> 1.0: wsframe is faster). wsframe runs with
``threshold=0`` so that 16-byte messages are compressed like the others do;
the line "wsframe default" shows the default threshold (32 B: 16-byte messages
are sent as is).

websockets: websockets.extensions.permessage_deflate.PerMessageDeflate
(encode/decode of Frame objects, decode with max_size). aiohttp: its
compression_utils.ZLibCompressor / ZLibDecompressor used exactly as
aiohttp._websocket.writer / reader_py do (compress_sync + flush(Z_SYNC_FLUSH)
+ removesuffix; decompress_sync(payload + tail, max_size + 1)); aiohttp's
decompressor always uses a 15-bit window.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wsframe.permessage_deflate import PerMessageDeflate  # noqa: E402

TAIL = b"\x00\x00\xff\xff"
MAX_SIZE = 1 << 20


def make_messages(size: int, count: int, seed: int = 1) -> list:
    rnd = random.Random(seed)
    words = ["alpha", "beta", "order", "price", "status", "update", "user", "value", "ok", "error", "id", "ts"]
    out = []
    for n in range(count):
        parts = []
        total = 0
        while total < size:
            item = json.dumps(
                {
                    "id": n * 1000 + len(parts),
                    "type": rnd.choice(words),
                    "user": f"user{rnd.randint(1, 5000)}",
                    "price": round(rnd.uniform(1, 1000), 2),
                    "text": " ".join(rnd.choice(words) for _ in range(rnd.randint(2, 12))),
                }
            )
            parts.append(item)
            total += len(item) + 1
        out.append(("[" + ",".join(parts) + "]")[:size].encode())
    return out


# -- the three implementations: (encode(msg) -> payload, decode(payload) -> msg) --------------


def wsframe_pair(level, bits, mem_level, threshold=0):
    tx = PerMessageDeflate(local_max_window_bits=bits, compress_level=level, mem_level=mem_level, threshold=threshold)
    rx = PerMessageDeflate(remote_max_window_bits=bits)
    enc, dec = tx.encode, rx.decode

    def encode(msg):
        return enc(1, msg, True, True)

    def decode(payload_rsv):
        payload, rsv = payload_rsv
        return dec(1, payload, rsv, True, MAX_SIZE)

    return encode, decode


def websockets_pair(level, bits, mem_level):
    from websockets.extensions.permessage_deflate import PerMessageDeflate as WPMD
    from websockets.frames import Frame, Opcode

    settings = {"level": level, "memLevel": mem_level}
    tx = WPMD(False, False, bits, bits, settings)
    rx = WPMD(False, False, bits, bits, settings)
    enc, dec, OP = tx.encode, rx.decode, Opcode.TEXT

    def encode(msg):
        return enc(Frame(OP, msg))

    def decode(frame):
        return dec(frame, max_size=MAX_SIZE).data

    return encode, decode


def aiohttp_pair(level, bits, mem_level):
    from aiohttp.compression_utils import ZLibCompressor, ZLibDecompressor

    tx = ZLibCompressor(level=level, wbits=-bits)
    tx._compressor = zlib.compressobj(level, zlib.DEFLATED, -bits, mem_level)  # same memLevel for all
    rx = ZLibDecompressor(suppress_deflate_header=True)
    compress, flush, decompress, SYNC = tx.compress_sync, tx.flush, rx.decompress_sync, zlib.Z_SYNC_FLUSH

    def encode(msg):
        return (compress(msg) + flush(SYNC)).removesuffix(TAIL)

    def decode(payload):
        out = decompress(payload + TAIL, MAX_SIZE + 1)
        if len(out) > MAX_SIZE:
            raise ValueError("too big")
        return out

    return encode, decode


def run_all(impls, msgs, rounds):
    """Best-of-``rounds`` (encode us, decode us) per message for each implementation.

    Rounds interleave the implementations (rotating their order) so that noise
    from a shared machine hits them alike.
    """
    names = list(impls)
    best = {name: (float("inf"), float("inf")) for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            e, d = run(impls[name], msgs, 1)
            best[name] = (min(best[name][0], e), min(best[name][1], d))
    return best


def run(factory, msgs, rounds):
    """Best-of-``rounds`` (encode us, decode us) per message, fresh pair each round."""
    best_e = best_d = float("inf")
    for _ in range(rounds):
        encode, decode = factory()
        for m in msgs[:20]:  # warm up: allocate zlib state
            decode(encode(m))
        encode, decode = factory()
        t0 = time.perf_counter()
        encoded = [encode(m) for m in msgs]
        t1 = time.perf_counter()
        decoded = [decode(p) for p in encoded]
        t2 = time.perf_counter()
        assert [bytes(d) for d in decoded] == msgs
        best_e = min(best_e, (t1 - t0) / len(msgs) * 1e6)
        best_d = min(best_d, (t2 - t1) / len(msgs) * 1e6)
    return best_e, best_d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--bits", type=int, nargs="+", default=[15, 12])
    ap.add_argument("--mem-level", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"zlib {zlib.ZLIB_RUNTIME_VERSION}, level {args.level}, memLevel {args.mem_level}; us per message, best of {args.rounds}")
    worst = float("inf")
    for bits in args.bits:
        for size, count in ((16, 20000), (1024, 5000), (65536, 100)):
            msgs = make_messages(size, count)
            impls = {
                "wsframe": lambda: wsframe_pair(args.level, bits, args.mem_level),
                "websockets": lambda: websockets_pair(args.level, bits, args.mem_level),
                "aiohttp": lambda: aiohttp_pair(args.level, bits, args.mem_level),
            }
            if size < 32:
                impls["wsframe default"] = lambda: wsframe_pair(args.level, bits, args.mem_level, threshold=32)
            results = run_all(impls, msgs, args.rounds)
            we, wd = results["wsframe"]
            print(f"\nwbits {bits}, {size} B messages:")
            for name, (e, d) in results.items():
                ratio = (e + d) and (e + d) / (we + wd)
                print(f"  {name:16} encode {e:9.2f}  decode {d:9.2f}  total {e + d:9.2f}  "
                      f"other/wsframe x{ratio:5.2f} (enc x{e / we:5.2f}, dec x{d / wd:5.2f})")
            faster = min(sum(results["websockets"]), sum(results["aiohttp"]))
            worst = min(worst, faster / (we + wd))
    print(f"\nworst ratio (faster of websockets/aiohttp) / wsframe: x{worst:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
