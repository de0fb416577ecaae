"""The Redis backplane against a real redis-server started here (127.0.0.1, a
free port, a temporary directory): delivery across servers exactly once and
in order, channels subscribed only while a topic has local subscribers,
Redis unreachable or silent at start-up, bad data on a channel, publications
during a Redis restart (outbox, then delivery), a full outbox (an error), and
three server processes sharing topics across a Redis restart.

Skipped when redis-server or redis-py is missing, unless WSFRAME_REQUIRE_PEERS=1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from _pubsub_helpers import Commands
from test_server_helpers import child_env, wait_for

REQUIRE = os.environ.get("WSFRAME_REQUIRE_PEERS") == "1"
REDIS_BIN = shutil.which("redis-server")
try:
    import redis as redis_py
except ImportError:  # pragma: no cover - depends on the environment
    redis_py = None

if REDIS_BIN is None or redis_py is None:
    if REQUIRE:
        raise RuntimeError("WSFRAME_REQUIRE_PEERS=1 but redis-server or redis-py is missing")
    pytest.skip("redis-server (Debian package redis-server) or redis-py (pip install redis) is missing",
                allow_module_level=True)

from wsframe import client  # noqa: E402
from wsframe.backplane import BackplaneError  # noqa: E402
from wsframe.backplane.redis import RedisBackplane  # noqa: E402
from wsframe.server import Server  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProc:
    """A redis-server child on 127.0.0.1:port that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="wsframe-redis-")
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli = redis_py.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                if cli.ping():
                    break
            except redis_py.RedisError as exc:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from exc
                time.sleep(0.02)
        cli.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def cli(self):
        return redis_py.Redis(port=self.port, socket_connect_timeout=2)


@pytest.fixture
def rds():
    r = RedisProc()
    r.start()
    try:
        yield r
    finally:
        r.stop()
        shutil.rmtree(r.dir, ignore_errors=True)


@pytest.fixture
def nodes(rds):
    """Two selectors servers in threads, each with its own backplane on the same Redis."""
    made = []
    for _ in range(2):
        srv = Server(Commands(), "127.0.0.1", 0).start()
        bp = RedisBackplane(rds.url, max_reconnect_delay=0.2, flush_delay=0.5)
        bp.attach_server(srv)
        made.append((srv, bp))
    yield made
    for srv, bp in made:
        bp.close()
        srv.shutdown(2)


def _cmd(ws, text):
    ws.send(text)
    assert ws.recv(timeout=5) == "ok " + text


def _numsub(rds, topic):
    with rds.cli() as c:
        return dict(c.pubsub_numsub("wsframe:" + topic))[("wsframe:" + topic).encode()]


def test_import_without_redis_py():
    code = ("import sys; sys.modules['redis'] = None\n"
            "import wsframe, wsframe.pubsub, wsframe.backplane\n"
            "try:\n    import wsframe.backplane.redis\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "wsframe.backplane.redis needs redis-py: pip install 'wsframe[redis]'"


def test_across_servers_once_in_order_and_channels_follow_local_subscribers(rds, nodes):
    (s1, b1), (s2, b2) = nodes
    a = client.connect(s1.url, max_queue=None)
    b = client.connect(s2.url, max_queue=None)
    assert _numsub(rds, "t") == 0
    _cmd(a, "sub t")
    _cmd(b, "sub t")
    wait_for(lambda: _numsub(rds, "t") == 2, what="both nodes subscribed on Redis")
    for i in range(100):
        (a if i % 2 else b).send(f"pub t m{i}")
    got_a = [m for m in (a.recv(timeout=5) for _ in range(150)) if not m.startswith("ok")]
    got_b = [m for m in (b.recv(timeout=5) for _ in range(150)) if not m.startswith("ok")]
    for got in (got_a, got_b):
        assert sorted(got, key=lambda m: int(m[1:])) == [f"m{i}" for i in range(100)]  # each once
        mine = [m for m in got if int(m[1:]) % 2]
        assert mine == [f"m{i}" for i in range(1, 100, 2)]  # per publisher: in order
    _cmd(b, "unsub t")
    wait_for(lambda: _numsub(rds, "t") == 1, what="node 2 left the channel")
    a.send("pub t solo")
    assert a.recv(timeout=5) == "solo"
    _cmd(b, "sub u")  # b got nothing published to t after it left: its next message is this answer
    b.close()
    wait_for(lambda: _numsub(rds, "u") == 0, what="a closed subscriber leaves the channel")
    a.close()


def test_unreachable_at_startup_one_line():
    port = _free_port()  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(BackplaneError) as info:
        RedisBackplane(f"redis://127.0.0.1:{port}/0", connect_timeout=1).attach(object.__new__(type("P", (), {
            "topics": [], "backplane": None})), lambda fn: fn())
    msg = str(info.value)
    assert msg.startswith(f"cannot reach Redis at redis://127.0.0.1:{port}/0: ") and "\n" not in msg
    assert time.monotonic() - t0 < 5


def test_silent_redis_at_startup_times_out():
    with socket.socket() as silent:  # accepts TCP, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(BackplaneError) as info:
            srv = Server(Commands(), "127.0.0.1", 0)
            try:
                RedisBackplane(f"redis://127.0.0.1:{port}/0", connect_timeout=0.5).attach_server(srv)
            finally:
                srv.close()
        assert "cannot reach Redis" in str(info.value) and "\n" not in str(info.value)
        assert 0.4 < time.monotonic() - t0 < 5


def test_bad_data_is_rejected_and_the_node_keeps_working(rds, nodes):
    (s1, b1), _ = nodes
    a = client.connect(s1.url)
    _cmd(a, "sub t")
    wait_for(lambda: _numsub(rds, "t") == 1)
    with rds.cli() as c:
        c.publish("wsframe:t", b"junk")
        c.publish("wsframe:t", b"wsf1" + b"\0" * 8 + b"t" + b"\xff\xfe")  # bad UTF-8
        c.publish("wsframe:t", b"wsf1" + b"\0" * 8 + b"x" + b"kind")  # unknown kind
        c.publish("wsframe:t", b"wsf1" + b"\0" * 8 + b"b" + b"0" * ((1 << 20) + 1))  # oversize
        c.publish("wsframe:t", b"wsf1" + b"\0" * 8 + b"t" + b"fine")
    assert a.recv(timeout=5) == "fine"
    assert b1.rejected == 4
    a.close()


def test_publish_during_restart_buffered_then_delivered_and_full_outbox_errors(rds, nodes):
    (s1, b1), (s2, b2) = nodes
    a = client.connect(s1.url)
    b = client.connect(s2.url)
    _cmd(a, "sub t")
    _cmd(b, "sub t")
    wait_for(lambda: _numsub(rds, "t") == 2)
    rds.stop()
    wait_for(lambda: not b1.connected.is_set() and not b2.connected.is_set(), what="both nodes saw Redis go")
    for i in range(20):
        a.send(f"pub t down{i}")
    got_a = [a.recv(timeout=5) for _ in range(40)]
    assert [m for m in got_a if not m.startswith("ok")] == [f"down{i}" for i in range(20)]  # local: at once
    wait_for(lambda: b1.pending == 20, what="the outbox holds them")
    rds.start()
    wait_for(lambda: b1.connected.is_set() and b2.connected.is_set(), timeout=10, what="reconnected")
    assert [b.recv(timeout=10) for _ in range(20)] == [f"down{i}" for i in range(20)]
    assert b1.reconnects >= 1 and b2.reconnects >= 1
    wait_for(lambda: b1.pending == 0, what="the outbox emptied")  # (after the pipeline's reply)
    # A full outbox is an error the publisher sees, and nobody gets that message.
    rds.stop()
    wait_for(lambda: not b1.connected.is_set())
    b1.max_pending = 3
    done = threading.Event()
    results = []

    def publish_some():
        for i in range(5):
            try:
                results.append(s1.publish("t", f"full{i}"))
            except BackplaneError as exc:
                results.append(str(exc))
        done.set()

    s1.call_soon_threadsafe(publish_some)
    assert done.wait(5)
    assert results[:3] == [1, 1, 1] and all("outbox full" in r for r in results[3:])
    assert [a.recv(timeout=5) for _ in range(3)] == ["full0", "full1", "full2"]
    a.close()
    b.close()


NODE = r"""
import sys
sys.path.insert(0, %(tests)r)
from _pubsub_helpers import Commands
from wsframe.backplane.redis import RedisBackplane
from wsframe.server import Server
class Node(Commands):
    def on_message(self, ws, data):
        if data == "bp":  # the backplane's state, for the test to wait on
            ws.send("bp %%d %%d %%d" %% (bp.connected.is_set(), bp.pending, bp.reconnects))
        else:
            super().on_message(ws, data)
srv = Server(Node(), "127.0.0.1", 0)
bp = RedisBackplane(%(url)r, max_reconnect_delay=0.3, flush_delay=1.0)
bp.attach_server(srv)
print(srv.port, flush=True)
srv.serve_forever()
"""


def test_three_processes_share_topics_across_a_redis_restart(rds):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    procs = [subprocess.Popen([sys.executable, "-c", NODE % dict(tests=tests_dir, url=rds.url)],
                              stdout=subprocess.PIPE, env=child_env()) for _ in range(3)]
    try:
        ports = [int(p.stdout.readline()) for p in procs]
        subs = {}  # (node, topic) -> client
        for n, port in enumerate(ports):
            for topic in ("a", "b"):
                ws = client.connect(f"ws://127.0.0.1:{port}/", max_queue=None)
                _cmd(ws, "sub " + topic)
                subs[n, topic] = ws
        pubs = [client.connect(f"ws://127.0.0.1:{port}/") for port in ports]
        ctl = [client.connect(f"ws://127.0.0.1:{port}/") for port in ports]

        def bp_state(n):
            ctl[n].send("bp")
            _, connected, pending, reconnects = ctl[n].recv(timeout=5).split()
            return connected == "1", int(pending), int(reconnects)
        wait_for(lambda: _numsub(rds, "a") == 3 and _numsub(rds, "b") == 3, what="3 nodes on Redis")

        def round_(tag, count):
            for i in range(count):
                for n, p in enumerate(pubs):
                    p.send(f"pub {'ab'[i % 2]} {tag}:{n}:{i}")
            want = {t: [f"{tag}:{n}:{i}" for i in range(count) for n in range(3) if "ab"[i % 2] == t] for t in "ab"}
            for (_n, topic), ws in subs.items():
                got = [ws.recv(timeout=15) for _ in range(len(want[topic]))]
                assert sorted(got) == sorted(want[topic])  # every publication exactly once
                for src in range(3):  # in order per publisher
                    mine = [g for g in got if g.split(":")[1] == str(src)]
                    assert mine == [w for w in want[topic] if w.split(":")[1] == str(src)]
            for p in pubs:  # the publishers' own answers
                for _ in range(count):
                    assert p.recv(timeout=5).startswith("ok pub")

        round_("before", 40)
        rds.stop()
        wait_for(lambda: not any(bp_state(n)[0] for n in range(3)), what="every node saw Redis go")
        for i in range(10):
            for n, p in enumerate(pubs):
                p.send(f"pub {'ab'[i % 2]} during:{n}:{i}")
        # Local subscribers got them at once; the rest waits in each publisher's outbox.
        wait_for(lambda: all(bp_state(n)[1] == 10 for n in range(3)), what="10 in each outbox")
        rds.start()
        want = {t: [f"during:{n}:{i}" for i in range(10) for n in range(3) if "ab"[i % 2] == t] for t in "ab"}
        for (_n, topic), ws in subs.items():
            got = [ws.recv(timeout=15) for _ in range(len(want[topic]))]
            assert sorted(got) == sorted(want[topic])
        for p in pubs:
            for _ in range(10):
                assert p.recv(timeout=5).startswith("ok pub")
        assert all(bp_state(n)[2] >= 1 and bp_state(n)[1] == 0 for n in range(3))
        round_("after", 40)
        for ws in list(subs.values()) + pubs + ctl:
            ws.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def test_asyncio_server_and_selectors_server_share_a_topic(rds, nodes):
    import asyncio

    from test_pubsub_asyncio import commands

    from wsframe.asyncio import connect, serve

    (s1, _), _ = nodes
    a = client.connect(s1.url)
    _cmd(a, "sub t")

    async def main():
        async with serve(commands, "127.0.0.1", 0, compression=None) as server:
            bp = RedisBackplane(rds.url)
            await asyncio.get_running_loop().run_in_executor(None, bp.attach_server, server)
            try:
                ws = await connect(server.url, compression=None)
                await ws.send("sub t")
                assert await ws.recv(timeout=5) == "ok sub t"
                while _numsub(rds, "t") < 2:
                    await asyncio.sleep(0.01)
                a.send("pub t from-selectors")
                assert await ws.recv(timeout=5) == "from-selectors"
                await ws.send("pub t from-asyncio")
                assert await ws.recv(timeout=5) == "from-asyncio"  # its own, locally
                assert await ws.recv(timeout=5) == "ok pub t from-asyncio"
                await ws.close()
            finally:
                bp.close()

    asyncio.run(asyncio.wait_for(main(), 30))
    assert a.recv(timeout=5) == "from-selectors"  # its own publication first (it is subscribed)
    assert a.recv(timeout=5) == "ok pub t from-selectors"
    assert a.recv(timeout=5) == "from-asyncio"
    a.close()
