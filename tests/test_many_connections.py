"""10,000 concurrent connections to `wsframe echo`, all held open at once,
each echoing a message (one in ten with permessage-deflate), then closed
cleanly; the server's file descriptors go back to where they started.

The file descriptor limit is raised for this process and for the server
(10,000 sockets each, plus a margin). When the hard limit cannot be raised
the test is skipped with the reason, or fails under WSFRAME_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import os
import time
from typing import List

import pytest

from _echo_process import EchoServer, raise_nofile
from _soak_client import Peer, drive

pytestmark = pytest.mark.soak

CONNECTIONS = int(os.environ.get("WSFRAME_MANY_CONNECTIONS", "10000"))
MARGIN = 512
TIME_LIMIT = 160.0  # seconds (the suite's budget for this test is 3 minutes)


def _required() -> bool:
    return os.environ.get("WSFRAME_REQUIRE_PEERS", "").strip().lower() in ("1", "true", "yes")


def _all_idle(peers: List[Peer]) -> bool:
    return all(p.idle for p in peers)


def test_ten_thousand_concurrent_connections() -> None:
    ok, why = raise_nofile(CONNECTIONS + MARGIN)
    if not ok:
        if _required():
            pytest.fail(f"cannot hold {CONNECTIONS} connections: {why}")
        pytest.skip(f"cannot hold {CONNECTIONS} connections: {why}")
    started = time.monotonic()
    deadline = started + TIME_LIMIT
    with EchoServer("--max-connections", str(CONNECTIONS), nofile=CONNECTIONS + MARGIN) as server:
        fds_before = server.fd_count()
        peers = [Peer(server.address, iter([("text", f"hello from connection {i:05d} " * 2, None)]),
                      deflate=i % 10 == 0, window=1, hold=True) for i in range(CONNECTIONS)]
        drive(peers, deadline, until=_all_idle)
        opened = time.monotonic()
        fds_open = server.fd_count()
        rss_open = server.rss_kib()
        assert all(p.open and not p.finished and p.echoed == 1 for p in peers)
        assert fds_open >= fds_before + CONNECTIONS, (fds_before, fds_open)

        for peer in peers:
            peer.release()
        drive(peers, deadline)
        fds_after = server.wait_fds(fds_before, 10.0)
        closed = time.monotonic()
        print(f"\nmany connections: {CONNECTIONS} open and echoed at once in {opened - started:.1f}s "
              f"(server: {fds_open} fds, RSS {rss_open // 1024} MiB), closed in {closed - opened:.1f}s; "
              f"server fds {fds_before} -> {fds_open} -> {fds_after}; {why}")
        assert all(p.closed_code == 1000 and p.finished for p in peers)
        assert sum(bool(p.conn.extensions) for p in peers) == len(range(0, CONNECTIONS, 10))
        assert fds_after == fds_before, f"server file descriptors: {fds_before} before, {fds_after} after"
        assert server.proc.poll() is None, "the server exited"
    assert time.monotonic() - started < TIME_LIMIT + 20
