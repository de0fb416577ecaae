"""Soak test: 100 connections x 10,000 messages against `wsframe echo`.

Mixed sizes (0 B to 192 KiB), fragmented messages, pings, and
permessage-deflate on half of the connections; the client is wsframe's
sans-I/O ClientConnection over non-blocking sockets (tests/_soak_client.py),
all connections in one thread. Checked: every message echoed intact and in
order, every ping answered, every connection closed with 1000; the server's
RSS after the run within 5 % of its RSS after the warm-up (the first 1,000
messages of every connection, which include every size); no file
descriptor left open in the server once the clients are gone.

WSFRAME_SOAK_MESSAGES / WSFRAME_SOAK_CONNECTIONS shrink it for a quick local
try; CI runs the full size (.ci/suite-soak.sh).
"""

from __future__ import annotations

import os
import random
import time
from typing import Iterator, List

import pytest

from _echo_process import EchoServer
from _soak_client import Peer, Step, drive

pytestmark = pytest.mark.soak

CONNECTIONS = int(os.environ.get("WSFRAME_SOAK_CONNECTIONS", "100"))
MESSAGES = int(os.environ.get("WSFRAME_SOAK_MESSAGES", "10000"))
WARMUP = min(1000, MESSAGES // 2)
PING_EVERY = 97
TIME_LIMIT = 330.0  # seconds for the whole run (the suite's budget is 6 minutes)

_WORDS = "lorem ipsum dolor sit amet wsframe soak échantillon 測試 ✓ 🚀".split()


def _pools(rng: random.Random):
    """Payloads by size class, made once: the plans reuse them (no per-message allocation)."""
    def text(n: int) -> str:
        out = []
        size = 0
        while size < n:
            word = rng.choice(_WORDS)
            out.append(word)
            size += len(word.encode()) + 1
        return " ".join(out)

    def binary(n: int, compressible: bool) -> bytes:
        return bytes(rng.randrange(16) for _ in range(n)) if compressible else rng.randbytes(n)

    classes = {"small": (0, 125), "medium": (126, 2000), "large": (2001, 16384), "huge": (65536, 196608)}
    pools = {}
    for name, (lo, hi) in classes.items():
        count = 4 if name == "huge" else 32
        pools[name] = [text(rng.randint(lo, hi)) if i % 2 else binary(rng.randint(lo, hi), i % 4 == 0)
                       for i in range(count)]
    return pools


POOLS = _pools(random.Random(6455))


def plan(seed: int, start: int, stop: int) -> Iterator[Step]:
    """Messages ``start`` to ``stop`` of one connection's plan (deterministic per seed)."""
    rng = random.Random(seed * 1_000_003 + start)
    for i in range(start, stop):
        if i % 1000 == 500:
            size = "huge"  # one per thousand, so the warm-up has seen the largest too
        else:
            r = rng.random()
            size = "small" if r < 0.75 else "medium" if r < 0.95 else "large"
        payload = rng.choice(POOLS[size])
        pieces = None
        if len(payload) > 8 and rng.random() < 0.1:
            cuts = sorted(rng.sample(range(1, len(payload)), rng.randint(1, min(3, len(payload) - 1))))
            pieces = tuple(b - a for a, b in zip([0] + cuts[:-1], cuts))
        yield ("text" if isinstance(payload, str) else "binary", payload, pieces)
        if i % PING_EVERY == 0:
            yield ("ping", f"p{seed}:{i}".encode(), None)


def _all_idle(peers: List[Peer]) -> bool:
    return all(p.idle for p in peers)


def test_soak_echo() -> None:
    started = time.monotonic()
    deadline = started + TIME_LIMIT
    with EchoServer("--max-message-size", "1M") as server:
        fds_before = server.fd_count()
        peers = [Peer(server.address, plan(i, 0, WARMUP), deflate=i % 2 == 1, hold=True)
                 for i in range(CONNECTIONS)]
        drive(peers, deadline, until=_all_idle)
        warm = time.monotonic()
        rss_warm = server.rss_kib()
        fds_open = server.fd_count()
        assert fds_open >= fds_before + CONNECTIONS

        for i, peer in enumerate(peers):
            peer.resume(plan(i, WARMUP, MESSAGES), hold=True)
        drive(peers, deadline, until=_all_idle)
        run = time.monotonic()
        rss_after = server.rss_kib()

        for peer in peers:
            peer.release()
        drive(peers, deadline)
        fds_after = server.wait_fds(fds_before, 10.0)

        messages = sum(p.echoed for p in peers)
        volume = sum(p.bytes_echoed for p in peers)
        pongs = sum(p.pongs for p in peers)
        print(f"\nsoak: {CONNECTIONS} connections, {messages} messages ({volume / 1e6:.0f} MB) echoed, "
              f"{pongs} pongs; warm-up {warm - started:.1f}s, run {run - warm:.1f}s "
              f"({(messages - CONNECTIONS * WARMUP) / (run - warm):.0f} msg/s); server RSS {rss_warm} KiB after "
              f"warm-up, {rss_after} KiB after the run ({(rss_after / rss_warm - 1) * 100:+.1f} %); "
              f"fds {fds_before} -> {fds_open} -> {fds_after}")

        assert messages == CONNECTIONS * MESSAGES
        assert all(p.echoed == p.sent == MESSAGES for p in peers)
        assert pongs == CONNECTIONS * len(range(0, MESSAGES, PING_EVERY))
        assert all(p.closed_code == 1000 and p.finished for p in peers)
        assert sum(p.conn.extensions != [] for p in peers) == CONNECTIONS // 2
        assert abs(rss_after - rss_warm) <= 0.05 * rss_warm, (rss_warm, rss_after)
        assert fds_after == fds_before, f"server file descriptors: {fds_before} before, {fds_after} after"
        assert server.proc.poll() is None, "the server exited"
    assert time.monotonic() - started < TIME_LIMIT + 30
