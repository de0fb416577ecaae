"""wsframe.client used from several threads at once (issue 11): reading and writing never wait on
each other, recv(timeout) honours its timeout while another thread sends, concurrent senders never
interleave frames, pings are answered and acknowledged without anyone calling recv()."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

from test_server_helpers import Child  # noqa: E402

from wsframe.client import ConnectionClosedOK, connect  # noqa: E402
from wsframe.permessage_deflate import ClientPerMessageDeflate  # noqa: E402
from wsframe.server import Application  # noqa: E402


def run_threads(targets, deadline: float) -> list:
    """Run each callable in a daemon thread; fail unless all finish within ``deadline`` seconds.
    Returns the exceptions they raised."""
    errors: list = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # reported to the test
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    end = time.monotonic() + deadline
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(end - time.monotonic(), 0))
    stuck = [t for t in threads if t.is_alive()]
    assert not stuck, f"{len(stuck)} of {len(threads)} threads still blocked after {deadline} s (deadlock)"
    return errors


@pytest.fixture
def big_echo():
    with S.running_server(max_message_size=None) as server:
        yield server


def test_large_sends_and_recv_with_timeout_do_not_deadlock(big_echo):
    """One thread sends 3 MB messages in a loop while another calls recv(timeout=5): both complete."""
    n = 8
    payloads = [bytes([i]) * (3 << 20) for i in range(n)]
    got: list = []
    with connect(big_echo.url, max_message_size=None) as ws:
        def sender():
            for p in payloads:
                ws.send(p)

        def receiver():
            for _ in range(n):
                got.append(ws.recv(timeout=5))

        errors = run_threads([sender, receiver], deadline=60)
        assert errors == []
    assert got == payloads


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
def test_sender_and_recv_timeout_thread_against_the_cli_echo(compression):
    """Issue 11 as reported: `wsframe echo` in its own process, one thread sending messages of
    64 KiB to 3 MB, another calling recv(timeout=5): every echo arrives, in order, on time."""
    sizes = [64 << 10, 3 << 20, 256 << 10, (3 << 20) - 1, 1 << 20, 65 << 10, 2 << 20, 64 << 10] * 2
    payloads = [bytes([i]) * (n - 16) + bytes(range(i, i + 16)) for i, n in enumerate(sizes)]
    options = dict(extensions=[ClientPerMessageDeflate()]) if compression else dict(compression=False)
    with Child.cli("echo", "--port", "0", "--max-message-size", "4M") as child:
        url = child.wait_line(r"listening on (ws://\S+)").group(1)
        got: list = []
        with connect(url, max_message_size=4 << 20, **options) as ws:
            assert bool(ws.extensions) is compression

            def sender():
                for p in payloads:
                    ws.send(p)

            def receiver():
                for _ in payloads:
                    got.append(ws.recv(timeout=5))

            assert run_threads([sender, receiver], deadline=60) == []
        assert child.stop() == 0
    assert [len(g) for g in got] == sizes and got == payloads


def test_two_threads_sending_64k_messages_with_a_reader(big_echo):
    """Two senders of 64 KiB messages and a reader: no deadlock, no interleaved frames."""
    n = 150
    got: list = []
    with connect(big_echo.url) as ws:
        def sender(tag: int):
            return lambda: [ws.send(bytes([tag, i % 256]) * (32 << 10)) for i in range(n)]

        def receiver():
            for _ in range(2 * n):
                got.append(ws.recv(timeout=10))

        assert run_threads([sender(1), sender(2), receiver], deadline=60) == []
    assert len(got) == 2 * n
    for tag in (1, 2):
        mine = [m for m in got if m[0] == tag]
        assert mine == [bytes([tag, i % 256]) * (32 << 10) for i in range(n)]  # whole and in order


def test_four_senders_with_compression_share_the_context_in_order():
    """permessage-deflate keeps one compression context per direction: four threads sending
    (mixed sizes, half random) must still produce a stream the server inflates, each thread's
    messages whole and in its order."""
    import os

    from wsframe.permessage_deflate import ServerPerMessageDeflate

    n, sizes = 24, [10, 70_000, 200_000, 2]
    got: list = []
    with S.running_server(max_message_size=None, extensions=[ServerPerMessageDeflate()]) as server:
        with connect(server.url, extensions=[ClientPerMessageDeflate()], max_message_size=None) as ws:
            assert ws.extensions

            def sender(tag: int):
                def run():
                    for i in range(n):
                        size = sizes[i % 4]
                        ws.send(bytes([tag, i]) + os.urandom(size // 2) + bytes(size - size // 2))
                return run

            def receiver():
                for _ in range(4 * n):
                    got.append(ws.recv(timeout=10))

            assert run_threads([sender(t) for t in range(4)] + [receiver], deadline=60) == []
    for tag in range(4):
        mine = [m for m in got if m[0] == tag]
        assert [m[1] for m in mine] == list(range(n))
        assert [len(m) for m in mine] == [2 + sizes[i % 4] for i in range(n)]


def test_two_threads_sending_without_any_reader_thread_of_the_application(big_echo):
    """Two threads send 64 KiB messages and nobody calls recv() until they are done: the client
    keeps reading into its queue up to max_queue, the server keeps reading; with a queue big
    enough for every echo, both senders finish."""
    n = 40
    with connect(big_echo.url, max_queue=2 * n + 1, max_queue_bytes=None) as ws:
        def sender(tag: int):
            return lambda: [ws.send(bytes([tag]) * (64 << 10)) for _ in range(n)]

        assert run_threads([sender(1), sender(2)], deadline=60) == []
        got = [ws.recv(timeout=10) for _ in range(2 * n)]
    assert sorted(m[0] for m in got) == [1] * n + [2] * n
    assert all(len(m) == 64 << 10 and m == m[:1] * len(m) for m in got)


def test_ping_event_is_set_without_recv(big_echo):
    with connect(big_echo.url) as ws:
        assert ws.latency == 0.0
        waiter = ws.ping(b"hi")
        assert waiter.wait(5), "the pong was not seen although nobody calls recv()"
        assert ws.latency > 0
        second, third = ws.ping(), ws.ping()
        assert third.wait(5) and second.is_set()


def test_server_pings_are_answered_while_the_application_does_not_recv():
    """The server pings at open and when asked; the client never calls recv() and still answers."""
    pongs: list = []
    both = threading.Event()

    class Pinger(Application):
        def on_open(self, ws):
            ws.ping(b"at open")

        def on_message(self, ws, data):
            ws.ping(b"asked")

        def on_pong(self, ws, payload):
            pongs.append(bytes(payload))
            if len(pongs) == 2:
                both.set()

    with S.running_server(Pinger()) as server:
        with connect(server.url) as ws:
            ws.send("ping me")
            assert both.wait(5), f"pongs seen by the server: {pongs}"
            assert ws.state.name == "OPEN"
    assert pongs == [b"at open", b"asked"]


def test_close_from_another_thread_ends_a_blocked_recv(big_echo):
    ws = connect(big_echo.url)
    waiting = threading.Event()
    outcome: list = []

    def receiver():
        waiting.set()
        try:
            ws.recv()
        except ConnectionClosedOK as exc:
            outcome.append(exc.code)

    t = threading.Thread(target=receiver, daemon=True)
    t.start()
    assert waiting.wait(5)
    t0 = time.monotonic()
    ws.close()
    t.join(5)
    assert not t.is_alive() and outcome == [1000]
    assert time.monotonic() - t0 < 3


def test_wss_concurrent_big_sends_and_receives(tmp_path):
    """The same over TLS: the reader's and the senders' TLS calls never run at the same instant."""
    from wsframe.server import make_ssl_context

    _, ca_path, cert_path, key_path = S.make_certs(tmp_path)
    n = 6
    payloads = [bytes([i]) * (1 << 20) for i in range(n)]
    got: list = []
    with S.running_server(ssl_context=make_ssl_context(str(cert_path), str(key_path)),
                          max_message_size=None) as server:
        with connect(f"wss://localhost:{server.port}/", cafile=str(ca_path), max_message_size=None) as ws:
            def sender(half):
                return lambda: [ws.send(p) for p in payloads[half::2]]

            def receiver():
                for _ in range(n):
                    got.append(ws.recv(timeout=10))

            assert run_threads([sender(0), sender(1), receiver], deadline=60) == []
            assert ws.ping().wait(5)
    assert sorted(got) == sorted(payloads)
