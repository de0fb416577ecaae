"""wsframe.integrations (issue 10): wsproto's receive and send paths and
websocket-client's 1 MiB text messages, each without and with the
accelerator installed.

The wsproto cases are those of the connection benchmarks (masked text
messages of 16 B, 1 KiB and 64 KiB fed in 64 KiB chunks to a server
``Connection``, pieces joined into messages, through the same adapter as
``bench_connection.py``; 16 B text and 4 KiB binary sends in both roles),
plus 1 MiB binary messages and 16 B text messages with permessage-deflate. websocket-client: building (masking) a 1 MiB
text frame, and receiving one (frame parsing, UTF-8 validation, decoding).

Run with pytest-benchmark (``python -m pytest benchmarks/bench_integrations.py
--benchmark-only``; ``--bench-config smoke`` for tiny inputs), or as a script
for a table of with/without ratios: ``python -m benchmarks.bench_integrations``
(medians of interleaved repeats, CPU time: this machine is shared, and CPU
time is what a busy neighbour disturbs least; the wall-clock ratio is shown
beside it).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
import statistics
import sys
import time
from typing import Callable, Dict, Iterator, List, Tuple

import pytest

MIB = 1 << 20

# (name, work) -> sizes in the full and the smoke configuration.
RECEIVE = {"full": [(100_000, 16), (20_000, 1024), (200, 64 * 1024)], "smoke": [(300, 16), (20, 1024), (2, 64 * 1024)]}
RECEIVE_DEFLATE = {"full": 20_000, "smoke": 100}
RECEIVE_BIN = {"full": (20, MIB), "smoke": (2, MIB)}
SEND = {"full": [("text", 10_000, 16), ("binary", 1_000, 4096), ("binary", 20, MIB)],
        "smoke": [("text", 50, 16), ("binary", 5, 4096), ("binary", 1, MIB)]}
WSCLIENT = {"full": 10, "smoke": 1}


def _accel(integration: str):
    return importlib.import_module(f"wsframe.integrations.{integration.split('@')[0]}")


def _pure_python_websocket_client():
    """websocket-client's own pure-Python ``_mask`` and ``_validate_utf8``
    (the ones it defines when wsaccel cannot be imported): fresh copies of
    its two modules executed with wsaccel blocked; sys.modules untouched."""
    blocked = ("wsaccel", "wsaccel.xormask", "wsaccel.utf8validator")
    saved = {name: sys.modules.pop(name, None) for name in blocked}
    sys.modules.update(dict.fromkeys(blocked))  # None: importing them raises ImportError
    try:
        loaded = []
        for name in ("websocket._abnf", "websocket._utils"):
            spec = importlib.util.find_spec(name)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded.append(module)
    finally:
        for name, old in saved.items():
            if old is None:
                del sys.modules[name]
            else:
                sys.modules[name] = old
    return loaded[0]._mask, loaded[1]._validate_utf8


@contextlib.contextmanager
def baseline(integration: str) -> Iterator[None]:
    """What the run without wsframe uses. ``websocket_client``: its pure-Python
    functions even when wsaccel is installed; ``websocket_client@wsaccel``:
    wsaccel's (the case is skipped without wsaccel); wsproto: itself."""
    if integration == "websocket_client@wsaccel" and importlib.util.find_spec("wsaccel") is None:
        raise Unavailable("wsaccel is not installed")
    if integration != "websocket_client":
        yield
        return
    from websocket import _abnf, _utils

    saved = _abnf._mask, _utils._validate_utf8
    _abnf._mask, _utils._validate_utf8 = _pure_python_websocket_client()
    try:
        yield
    finally:
        _abnf._mask, _utils._validate_utf8 = saved


class Unavailable(Exception):
    """A case that cannot run here."""


# ---------------------------------------------------------------------------
# Cases: each returns (setup, run, check); run(state) is what is timed.
# ---------------------------------------------------------------------------


def wsproto_receive(count: int, size: int, binary: bool = False):
    from wsframe import build_frame

    from .peers_conn import wsproto_ops

    receiver = wsproto_ops()["receiver"]()
    payload = (b"\x5a" * size) if binary else ("é" * (size // 2)).encode()[:size]
    frame = build_frame(2 if binary else 1, payload, client=True, mask=b"\x37\xfa\x21\x3d")
    stream = frame * count
    chunks = [stream[i:i + 64 * 1024] for i in range(0, len(stream), 64 * 1024)]
    expected = payload if binary else payload.decode()

    def run(state):
        return receiver.receive(state, chunks)

    def check():
        msgs = receiver.collect(receiver.new(), chunks)
        assert len(msgs) == count and msgs[0] == expected and msgs[-1] == expected

    return receiver.new, run, check


def wsproto_receive_deflate(count: int):
    """16 B text messages compressed by a wsproto client (permessage-deflate,
    context takeover), received by a server ``Connection`` in 64 KiB chunks."""
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import TextMessage
    from wsproto.extensions import PerMessageDeflate

    def connection(kind):
        ext = PerMessageDeflate()
        ext.finalize("permessage-deflate")
        return Connection(kind, extensions=[ext])

    client = connection(ConnectionType.CLIENT)
    texts = [f"message {i:08d}" for i in range(count)]  # 16 B each
    stream = b"".join(client.send(TextMessage(data=t)) for t in texts)
    chunks = [stream[i:i + 64 * 1024] for i in range(0, len(stream), 64 * 1024)]

    def run(conn):
        received = []
        for chunk in chunks:
            conn.receive_data(chunk)
            received.extend(conn.events())
        return received

    def check():
        events = run(connection(ConnectionType.SERVER))
        pieces, messages = [], []
        for e in events:
            pieces.append(e.data)
            if e.message_finished:
                messages.append("".join(pieces))
                pieces = []
        assert messages == texts

    return (lambda: connection(ConnectionType.SERVER)), run, check


def wsproto_send(kind: str, count: int, size: int, client: bool):
    from .peers_conn import wsproto_ops

    sender = wsproto_ops()["sender"](client)
    messages = ["x" * size] * count if kind == "text" else [b"\x01" * size] * count

    def run(state):
        return sender.send_text(state, messages)

    def check():
        out = sender.send_text(sender.new(), messages[:2])
        assert len(out) == min(2, count) and all(len(f) >= size + 2 for f in out)

    return sender.new, run, check


def wsclient_send(count: int):
    from websocket._abnf import ABNF

    text = "é" * (MIB // 2)

    def run(_state):
        for _ in range(count):
            ABNF.create_frame(text, ABNF.OPCODE_TEXT).format()

    def check():
        wire = ABNF.create_frame(text, ABNF.OPCODE_TEXT).format()
        assert ABNF.mask(wire[10:14], wire[14:]) == text.encode()

    return (lambda: None), run, check


def wsclient_receive(count: int):
    from websocket._abnf import ABNF, continuous_frame, frame_buffer

    from wsframe import build_frame

    text = "é" * (MIB // 2)
    wire = build_frame(1, text.encode())  # a server's frame: unmasked

    def receive_one():
        pos = 0

        def recv(n):
            nonlocal pos
            data = wire[pos:pos + n]
            pos += len(data)
            return data

        frame = frame_buffer(recv, skip_utf8_validation=False).recv_frame()
        cont = continuous_frame(fire_cont_frame=False, skip_utf8_validation=False)
        cont.validate(frame)
        cont.add(frame)
        opcode, frame = cont.extract(frame)
        assert opcode == ABNF.OPCODE_TEXT
        return frame.data.decode("utf-8")  # what WebSocket.recv() returns

    def run(_state):
        for _ in range(count):
            receive_one()

    def check():
        assert receive_one() == text

    return (lambda: None), run, check


def wsclient_roundtrip(count: int):
    """Send one 1 MiB text message (frame built and masked) and receive one."""
    _, send, send_check = wsclient_send(1)
    _, receive, receive_check = wsclient_receive(1)

    def run(_state):
        for _ in range(count):
            send(None)
            receive(None)

    def check():
        send_check()
        receive_check()

    return (lambda: None), run, check


def all_cases(config: str) -> List[Tuple[str, str, Callable]]:
    """(label, integration, factory) for every case of ``config``."""
    cases = []
    for count, size in RECEIVE[config]:
        cases.append((f"wsproto receive {count} x {size} B text", "wsproto",
                      lambda c=count, s=size: wsproto_receive(c, s)))
    n = RECEIVE_DEFLATE[config]
    cases.append((f"wsproto receive {n} x 16 B text, permessage-deflate", "wsproto",
                  lambda n=n: wsproto_receive_deflate(n)))
    count, size = RECEIVE_BIN[config]
    cases.append((f"wsproto receive {count} x 1 MiB binary", "wsproto",
                  lambda c=count, s=size: wsproto_receive(c, s, binary=True)))
    for kind, count, size in SEND[config]:
        for client in (False, True):
            role = "client" if client else "server"
            size_label = "1 MiB" if size == MIB else f"{size} B"
            cases.append((f"wsproto send {count} x {size_label} {kind} ({role})", "wsproto",
                          lambda k=kind, c=count, s=size, cl=client: wsproto_send(k, c, s, cl)))
    n = WSCLIENT[config]
    cases.append((f"websocket-client send {n} x 1 MiB text", "websocket_client", lambda n=n: wsclient_send(n)))
    cases.append((f"websocket-client receive {n} x 1 MiB text", "websocket_client", lambda n=n: wsclient_receive(n)))
    cases.append((f"websocket-client send+receive {n} x 1 MiB text", "websocket_client",
                  lambda n=n: wsclient_roundtrip(n)))
    cases.append((f"websocket-client send+receive {n} x 1 MiB text, vs wsaccel", "websocket_client@wsaccel",
                  lambda n=n: wsclient_roundtrip(n)))
    return cases


# ---------------------------------------------------------------------------
# pytest-benchmark
# ---------------------------------------------------------------------------

_LABELS = [label for label, _, _ in all_cases("full")]


@pytest.mark.parametrize("accelerated", [False, True], ids=["plain", "wsframe"])
@pytest.mark.parametrize("index", range(len(_LABELS)), ids=_LABELS)
def bench_integration(benchmark, request, index, accelerated):
    config = request.config.getoption("--bench-config", "full")
    config = config if config in RECEIVE else "full"
    label, integration, factory = all_cases(config)[index]
    pytest.importorskip({"wsproto": "wsproto", "websocket_client": "websocket"}[integration.split("@")[0]])
    if integration.endswith("@wsaccel"):
        pytest.importorskip("wsaccel")
    accel = _accel(integration)
    if accelerated:
        accel.install()
    try:
        with contextlib.nullcontext() if accelerated else baseline(integration):
            setup, run, check = factory()
            check()
            benchmark.group = label
            benchmark.extra_info.update(impl="wsframe" if accelerated else "plain")
            benchmark.pedantic(run, setup=lambda: ((setup(),), {}), rounds=5, warmup_rounds=1)
        if accelerated:
            assert any(accel.stats().values()), "the accelerated path was not taken"
    finally:
        accel.uninstall()


# ---------------------------------------------------------------------------
# Script: a ratio table
# ---------------------------------------------------------------------------


def _sample(run, setup) -> Tuple[float, float]:
    """(CPU seconds, wall seconds) of one run on a fresh state."""
    state = setup()
    c0, w0 = time.process_time(), time.perf_counter()
    run(state)
    return time.process_time() - c0, time.perf_counter() - w0


def measure(factory: Callable, integration: str, repeats: int) -> Dict[str, List[float]]:
    """Interleaved repeats: each repeat times the case without and with the
    accelerator (the order alternating), so a busy spell of the machine hits
    both alike. Returns the samples: cpu/wall x plain/wsframe."""
    accel = _accel(integration)
    cases = {}
    for accelerated in (False, True):
        if accelerated:
            accel.install()
        try:
            with contextlib.nullcontext() if accelerated else baseline(integration):
                setup, run, check = factory()
                check()  # the same messages with and without
            if accelerated:
                assert any(accel.stats().values()), "the accelerated path was not taken"
        finally:
            accel.uninstall()
        cases[accelerated] = (setup, run)
    out: Dict[str, List[float]] = {k: [] for k in ("cpu plain", "cpu wsframe", "wall plain", "wall wsframe")}
    for rep in range(repeats + 1):  # repeat 0 warms up both
        for accelerated in ((False, True) if rep % 2 else (True, False)):
            setup, run = cases[accelerated]
            if accelerated:
                accel.install()
            try:
                if accelerated:
                    cpu, wall = _sample(run, setup)
                else:
                    with baseline(integration):
                        cpu, wall = _sample(run, setup)
            finally:
                accel.uninstall()
            if rep:
                name = "wsframe" if accelerated else "plain"
                out[f"cpu {name}"].append(cpu)
                out[f"wall {name}"].append(wall)
    return out


def main(argv: List[str]) -> int:
    """``--smoke``: tiny inputs, one repeat. ``--repeats N`` (default 11).
    ``--only REGEX``: the cases whose label matches."""
    config = "smoke" if "--smoke" in argv else "full"
    repeats = 1 if config == "smoke" else 11
    if "--repeats" in argv:
        repeats = int(argv[argv.index("--repeats") + 1])
    print(f"Medians of {repeats} interleaved repeats; CPU time of the process (time.process_time), "
          "and the wall-clock ratio beside it.")
    print()
    print("| case | without (CPU) | with wsframe (CPU) | speed-up (CPU) | speed-up (wall) |")
    print("| --- | --- | --- | --- | --- |")
    only = argv[argv.index("--only") + 1] if "--only" in argv else ""
    for label, integration, factory in all_cases(config):
        if only and not re.search(only, label):
            continue
        try:
            samples = measure(factory, integration, repeats)
        except Unavailable as exc:
            print(f"| {label} | skipped: {exc} | | | |", flush=True)
            continue
        m = {k: statistics.median(v) for k, v in samples.items()}
        print(f"| {label} | {m['cpu plain'] * 1e3:.1f} ms | {m['cpu wsframe'] * 1e3:.1f} ms "
              f"| {m['cpu plain'] / m['cpu wsframe']:.1f}x | {m['wall plain'] / m['wall wsframe']:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
