"""Contract, every server layer: bad opening handshakes are refused with an HTTP error, slow ones
are timed out, and the server keeps serving."""

from __future__ import annotations

import socket
import time

import pytest
from _wire import S, still_serving, wait_eof


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"\x16\x03\x01garbage\r\nnot http at all\r\n\r\n", b"400"),
        (S.upgrade_request().replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"short"), b"400"),
        (S.upgrade_request().replace(b"Version: 13", b"Version: 8"), b"426"),
        (S.upgrade_request().replace(b"GET", b"POST"), b"4"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"4"),  # plain HTTP, not an upgrade
        (S.upgrade_request(extra="X-Big: " + "a" * 100_000 + "\r\n"), b"4"),  # 400 or 431, default limits
    ],
    ids=["garbage", "bad-key", "version-8", "post", "not-an-upgrade", "huge-headers"],
)
def test_bad_handshakes_are_refused_and_the_server_keeps_serving(server, request_bytes, status):
    before = S.open_fds()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        try:
            s.sendall(request_bytes)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end of the request
        data = S.recv_until(s, b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 " + status), data[:200]
    if status == b"426":
        assert b"sec-websocket-version: 13" in data.lower(), data
    still_serving(server)
    assert S.wait_fds(before) <= before


def test_huge_headers_rejected(start):
    with start(max_header_size=4096) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            try:
                s.sendall(S.upgrade_request(extra="X-Big: " + "a" * 8000 + "\r\n"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = S.recv_until(s, b"\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 431") or data.startswith(b"HTTP/1.1 400"), data[:80]
        still_serving(server)


def test_handshake_that_never_finishes_times_out(start):
    with start(handshake_timeout=0.3) as server:
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")  # no end
            assert wait_eof(s, 3)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s2:
            assert wait_eof(s2, 3)  # silent client
        assert time.monotonic() - t0 < 4
        still_serving(server)
