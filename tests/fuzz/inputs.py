"""How a fuzz input is read: one options byte, one chunking byte, then the bytes fed.

``split(data)`` -> (options, seed, body). ``chunks(body, seed)`` cuts the body
into the pieces a transport would deliver: seed 0 delivers it whole, other
seeds pick sizes (1 byte up to 4 KiB) from a small generator, so the fuzzer
controls the cuts and every cut is reproducible from the input alone.
``pack(options, seed, body)`` builds an input (the seed corpus generator).
"""

from __future__ import annotations

from typing import Iterator, Tuple

_SIZES = (1, 2, 3, 5, 8, 31, 126, 4096)


def split(data: bytes) -> Tuple[int, int, bytes]:
    if len(data) < 2:
        data = data + b"\x00" * (2 - len(data))
    return data[0], data[1], data[2:]


def pack(options: int, seed: int, body: bytes) -> bytes:
    return bytes((options & 0xFF, seed & 0xFF)) + body


def chunks(body: bytes, seed: int) -> Iterator[bytes]:
    n = len(body)
    if seed == 0 or n == 0:
        yield body
        return
    state = seed
    pos = 0
    while pos < n:
        state = (state * 73 + 41) & 0xFF  # full period over 0..255
        size = _SIZES[state & 7]
        yield body[pos : pos + size]
        pos += size
