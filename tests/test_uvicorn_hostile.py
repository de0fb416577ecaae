"""``uvicorn --ws wsframe.uvicorn:WSFrameProtocol`` in a subprocess, where only a real uvicorn
process shows it: a peer that never reads is dropped by the keepalive, a peer that sends without
reading leaves the process's memory bounded, and SIGTERM closes open connections with 1012 and
exits with the signal. Needs uvicorn and starlette (skipped without them unless
WSFRAME_REQUIRE_PEERS=1). The hostile-input tests every server layer shares (uvicorn's included,
run in this process) are in tests/contract/.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
from _uvicorn import Uvicorn, write_app  # noqa: E402
from test_server_helpers import Parser, wait_eof, wait_for  # noqa: E402

from wsframe import client  # noqa: E402
from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402

MAX_SIZE = 256 << 10  # under the 1 MiB that WSFrameProtocol discards after a failure
FAST_CLOSE = '''
from wsframe.uvicorn import WSFrameProtocol


class FastClose(WSFrameProtocol):
    """WSFrameProtocol with a 0.5 s close timeout (uvicorn has no option for it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.close_timeout = 0.5
'''


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    S.require_module("uvicorn")
    S.require_module("starlette")
    d = write_app(tmp_path_factory.mktemp("uvicorn-app"))
    (d / "fastclose.py").write_text(FAST_CLOSE)
    return d


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def server(request, app_dir):
    """The app on uvicorn's uvloop event loop, then on asyncio's default one."""
    srv = Uvicorn(app_dir, "--ws-max-size", str(MAX_SIZE), "--loop", request.param)
    yield srv
    srv.stop_gracefully()
    assert "Traceback" not in srv.log(), srv.log()


def raw_ws(port: int, path: str = "/", extra: str = "") -> tuple:
    """A raw socket after a hand-made upgrade: (socket, bytes after the response head, head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(S.upgrade_request(f"127.0.0.1:{port}", path, extra))
    head, _, rest = S.recv_until(s, b"\r\n\r\n").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest, head


def still_serving(server) -> None:
    with client.connect(server.url()) as ws:
        ws.send("still serving")
        assert ws.recv(timeout=5) == "still serving"


# -- closing ----------------------------------------------------------------------------------


def test_peer_that_never_reads_is_dropped(app_dir):
    """The app floods a peer that never reads: pings go unanswered (1011), and the transport,
    whose buffer never drains, is aborted after close_timeout instead of being held forever."""
    with Uvicorn(app_dir, "--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.4", ws="fastclose:FastClose") as srv:
        still_serving(srv)
        before = srv.fds()
        s, _, _ = raw_ws(srv.port, "/flood")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(build_frame(Opcode.TEXT, b"go", client=True))
        with s:
            srv.wait_lines(r"^flood ended", timeout=10)
            wait_for(lambda: srv.fds() <= before, timeout=10, what="the stalled connection's descriptor closed")
        still_serving(srv)


def test_backpressure_bounds_memory_and_loses_nothing(server):
    """A peer sends 64 MiB to the echo app without reading: the app blocks in send, reading
    pauses, the sender stalls; the server's memory grows by far less than what was sent; once
    the peer reads, every echo arrives in order."""
    s, rest, _ = raw_ws(server.port)
    with s:
        payload = b"z" * 16384
        frame = build_frame(Opcode.BINARY, payload, client=True)
        n = 4096
        sent = [0]
        done = threading.Event()
        rss_before = server.rss()

        def sender():
            try:
                for _ in range(n):
                    s.sendall(frame)
                    sent[0] += 1
            except OSError:
                pass
            done.set()

        threading.Thread(target=sender, daemon=True).start()
        last, deadline = -1, time.monotonic() + 15
        while sent[0] != last and not done.is_set() and time.monotonic() < deadline:
            last = sent[0]
            done.wait(0.5)  # the sender's progress is the only signal of the stall
        assert not done.is_set(), "the sender was never stalled: the server kept reading"
        grown = server.rss() - rss_before
        assert grown < (n * len(payload)) // 4, f"server memory grew by {grown} B"
        p = Parser(s, rest)
        for i in range(n):
            assert p.next(20).payload == payload, i
        assert done.wait(10)


def test_graceful_stop_closes_open_connections_with_1012(app_dir):
    srv = Uvicorn(app_dir)
    socks = []
    try:
        for _ in range(50):
            s, rest, _ = raw_ws(srv.port)
            socks.append((s, rest))
        codes = []
        stopper = threading.Thread(target=lambda: codes.append(srv.stop()), daemon=True)
        stopper.start()  # SIGTERM
        for s, rest in socks:
            assert Parser(s, rest).close_frame(10)[0] == 1012
            assert wait_eof(s, 10)
        stopper.join(15)
        assert codes == [-signal.SIGTERM], srv.log()  # uvicorn re-raises the signal it handled
        srv.wait_lines(r"Finished server process", timeout=1)
    finally:
        for s, _ in socks:
            s.close()
        srv.stop()


def test_no_descriptor_leak_over_mixed_traffic(server):
    still_serving(server)
    before = server.fds()
    for _ in range(10):
        with client.connect(server.url()) as ws:
            ws.send("x")
            assert ws.recv(timeout=5) == "x"
        s, _, _ = raw_ws(server.port)
        s.sendall(build_frame(Opcode.BINARY, b"z" * 1000, client=True)[:300])  # then vanish mid-frame
        s.close()
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"junk\r\n\r\n")
            S.recv_all(s, 2)
    wait_for(lambda: server.fds() <= before, timeout=10, what="every connection's descriptor closed")

