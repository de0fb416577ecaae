"""One stalled subscriber (never reads) and 1,000 healthy ones on the selectors
server in a child process: the healthy ones get every message in order, each
burst arrives while the stalled one's queue sits at its budget, and the
server's RSS (from /proc) stays bounded while 22 MiB are published to the
stalled subscriber."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time

import pytest

from _pubsub_helpers import RawSub, raise_nofile
from test_server_helpers import child_env

N_HEALTHY = 1000
ROUNDS = 30
BURST = 20  # small messages per round, to everyone
BIG = 3  # 256 KiB messages per round, to the stalled subscriber and one healthy one
BIG_SIZE = 256 * 1024
BUDGET = 1 << 20  # the default; one round's burst fits in it

SERVER = r"""
import resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
from wsframe.pubsub import PubSub
from wsframe.server import Application, Server

class App(Application):
    def on_message(self, ws, data):
        cmd, _, rest = data.partition(" ")
        if cmd == "sub":
            ws.subscribe(rest)
        elif cmd == "round":
            r = int(rest)
            for i in range(%(burst)d):
                ws.server.publish("t", "%%d:%%d:" %% (r, i) + "s" * 200)
            for i in range(%(big)d):
                ws.server.publish("big", ("%%d:%%d:" %% (r, i)).encode() + b"B" * %(big_size)d)
        elif cmd == "stats":
            ps = ws.server.pubsub
            worst = max(c.buffered_amount for c in ws.server.connections)
            ws.send("stats %%d %%d" %% (ps.dropped, worst))
            return
        ws.send("ok " + data)

srv = Server(App(), "127.0.0.1", 0, max_connections=4000)
srv.pubsub = PubSub(max_buffered=%(budget)d, on_overflow="drop")
print(srv.port, flush=True)
srv.serve_forever()
""" % dict(burst=BURST, big=BIG, budget=BUDGET, big_size=BIG_SIZE)


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def child():
    if raise_nofile(N_HEALTHY + 200) < N_HEALTHY + 100:
        pytest.skip("RLIMIT_NOFILE too low for 1,000 connections")
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, env=child_env())
    try:
        port = int(proc.stdout.readline())
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _pump(sel, want, deadline):
    """Read every socket until each RawSub in ``want`` has its count of frames."""
    while any(len(r.frames) < n for r, n in want.items()):
        if time.monotonic() > deadline:
            short = sum(1 for r, n in want.items() if len(r.frames) < n)
            raise AssertionError(f"{short} subscribers still waiting")
        for key, _ in sel.select(1.0):
            r = key.data
            data = r.sock.recv(1 << 18)
            assert data, "a healthy subscriber was closed"
            r.feed(data)


def test_stalled_subscriber_with_1000_healthy(child):
    proc, port = child
    stalled = RawSub(port, rcvbuf=4096)
    stalled.read_until(0)
    stalled.send_text("sub t")
    stalled.send_text("sub big")
    assert [f.payload for f in stalled.read_until(2)] == [b"ok sub t", b"ok sub big"]
    # from here on the stalled subscriber never reads

    subs = []
    sel = selectors.DefaultSelector()
    for _ in range(N_HEALTHY):
        r = RawSub(port)
        subs.append(r)
        sel.register(r.sock, selectors.EVENT_READ, r)
    for r in subs:
        r.sock.setblocking(False)
    deadline = time.monotonic() + 60
    _pump(sel, {r: 0 for r in subs}, deadline)
    while not all(r.open for r in subs):
        _pump(sel, {r: 0 for r in subs if not r.open}, deadline)
        for key, _ in sel.select(0.5):
            key.data.feed(key.data.sock.recv(65536))
    for r in subs:
        r.sock.setblocking(True)
        r.send_text("sub t")
        r.sock.setblocking(False)
    _pump(sel, {r: 1 for r in subs}, deadline)
    for r in subs:
        assert r.frames.pop(0).payload == b"ok sub t"
    big_sub = subs[0]
    big_sub.sock.setblocking(True)
    big_sub.send_text("sub big")
    big_sub.sock.setblocking(False)
    _pump(sel, {big_sub: 1}, deadline)
    assert big_sub.frames.pop(0).payload == b"ok sub big"

    control = subs[-1]
    rss = []
    for rnd in range(ROUNDS):
        control.sock.setblocking(True)
        control.send_text(f"round {rnd}")
        control.sock.setblocking(False)
        want = {r: BURST for r in subs}
        want[big_sub] = BURST + BIG
        want[control] = BURST + 1
        _pump(sel, want, time.monotonic() + 30)  # "on time": a stalled peer does not hold the others up
        for r in subs:
            frames, r.frames = r.frames, []
            small = [f.payload for f in frames if f.payload.startswith(f"{rnd}:".encode()) and len(f.payload) < 300]
            assert small == [f"{rnd}:{i}:".encode() + b"s" * 200 for i in range(BURST)]
            if r is big_sub:
                big = [f.payload[:12] for f in frames if len(f.payload) > BIG_SIZE]
                assert [b.split(b":")[1] for b in big] == [str(i).encode() for i in range(BIG)]
        rss.append(_rss(proc.pid))
    control.sock.setblocking(True)
    control.send_text("stats")
    control.sock.setblocking(False)
    _pump(sel, {control: 1}, time.monotonic() + 10)
    _, dropped, worst = control.frames.pop(0).payload.split()
    published_to_stalled = ROUNDS * BIG * BIG_SIZE
    assert int(dropped) > 0
    assert int(worst) <= BUDGET  # no connection's queue ever exceeds the budget
    growth = rss[-1] - rss[1]
    assert growth < published_to_stalled // 2, (rss, published_to_stalled)
    assert growth < 8 << 20, rss
    for r in subs:
        r.sock.close()
    stalled.sock.close()
