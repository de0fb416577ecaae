"""Instructions per echoed message in the server process, by callgrind: ``python -m benchmarks.callgrind_echo``.

One connection, ping-pong, 16 B binary messages. Each server runs under
``valgrind --tool=callgrind`` twice, once for a run of 1,000 messages and once
for 4,000; the difference of the two instruction totals (user space, the whole
server process) divided by 3,000 is the cost per message, so start-up, imports
and the handshake drop out. Counts do not move with the machine's load, as
wall-clock times do. Options: ``--short N --long N`` (message counts),
``--only NAME`` (repeatable), ``--window N`` (frames in flight, repeatable:
``--window 1 --window 16`` measures ping-pong and pipelined), ``--json PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

# Each server: Python source taking the port as argv[1], printing READY once it listens.
SERVERS: Dict[str, Tuple[str, str]] = {
    "picows": ("picows 2.3.1 on uvloop (frame-level on_ws_frame)", r'''
import sys, uvloop
from picows import WSListener, WSMsgType, ws_create_server

class Echo(WSListener):
    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type != WSMsgType.PING and frame.msg_type != WSMsgType.PONG:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)

async def main():
    server = await ws_create_server(lambda _r: Echo(), "127.0.0.1", int(sys.argv[1]))
    print("READY", flush=True)
    await server.serve_forever()

uvloop.run(main())
'''),
    "callback-uvloop": ("wsframe.asyncio.serve(app=Application) on uvloop", r'''
import asyncio, sys, uvloop
from wsframe.asyncio import serve
from wsframe.server import Application

class Echo(Application):
    def on_message(self, ws, data):
        ws.send(data)

async def main():
    async with serve(app=Echo(), host="127.0.0.1", port=int(sys.argv[1]), compression=None) as server:
        print("READY", flush=True)
        await server.serve_forever()

uvloop.run(main())
'''),
    "coroutine-uvloop": ("wsframe.asyncio.serve(handler) on uvloop (async for / await ws.send)", r'''
import sys, uvloop
from wsframe.asyncio import serve

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), compression=None) as server:
        print("READY", flush=True)
        await server.serve_forever()

uvloop.run(main())
'''),
    "selectors-app": ("wsframe.server.Server with a user Application (selectors loop)", r'''
import sys
from wsframe.server import Application, Server

class Echo(Application):
    def on_message(self, ws, data):
        ws.send(data)

server = Server(Echo(), "127.0.0.1", int(sys.argv[1]), compression=False)
print("READY", flush=True)
server.serve_forever()
'''),
    "selectors-echo": ("wsframe.server.Server with the built-in EchoApplication (selectors loop)", r'''
import sys
from wsframe.server import EchoApplication, Server

server = Server(EchoApplication(), "127.0.0.1", int(sys.argv[1]), compression=False)
print("READY", flush=True)
server.serve_forever()
'''),
}

PAYLOAD = b"0123456789abcdef"  # 16 B binary
MASK = b"\x11\x22\x33\x44"


def _frame() -> bytes:
    """One masked 16 B binary frame, as a client sends it."""
    masked = bytes(b ^ MASK[i & 3] for i, b in enumerate(PAYLOAD))
    return bytes([0x82, 0x80 | len(PAYLOAD)]) + MASK + masked


def _client(port: int, n: int, window: int = 1) -> None:
    """Handshake, ``n`` echoes of one 16 B binary frame with ``window`` of them in flight
    (1: ping-pong; more: pipelined, a new frame sent for each reply, as the loadgen does),
    closing handshake, wait for EOF."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("handshake: connection closed")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {head[:40]!r}")
    frame = _frame()
    reply = bytes([0x82, len(PAYLOAD)]) + PAYLOAD
    size = len(reply)
    sent = min(window, n)
    sock.sendall(frame * sent)
    done = 0
    while done < n:
        while len(buf) < size:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed during the run")
            buf += chunk
        k = len(buf) // size
        if buf[:k * size] != reply * k:
            raise RuntimeError(f"unexpected reply {buf[:size]!r}")
        buf = buf[k * size:]
        done += k
        more = min(k, n - sent)
        if more > 0:
            sock.sendall(frame * more)
            sent += more
    close = bytes([0x88, 0x82]) + MASK + bytes(b ^ MASK[i] for i, b in enumerate(b"\x03\xe8"))
    sock.sendall(close)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                break
        except (ConnectionResetError, socket.timeout):
            break
    sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_once(name: str, n: int, workdir: str, window: int = 1) -> int:
    """Total instructions (Ir) of the server process serving one connection of ``n`` messages."""
    port = _free_port()
    out = os.path.join(workdir, f"{name}-{n}.out")
    env = dict(os.environ, PYTHONHASHSEED="0", MALLOC_ARENA_MAX="1",
               MALLOC_MMAP_THRESHOLD_=str(1 << 20), MALLOC_TRIM_THRESHOLD_=str(1 << 20))
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c",
           SERVERS[name][1], str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the server prints READY or exits
        if "READY" not in line:
            raise RuntimeError(f"{name} did not start: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        _client(port, n, window)
    finally:
        proc.terminate()  # callgrind writes its output at the fatal signal
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    m = re.search(r"Collected\s*:\s*(\d+)", err or "")
    if m:
        return int(m.group(1))
    with open(out) as f:  # the summary line of the output file
        for ln in f:
            if ln.startswith("summary:") or ln.startswith("totals:"):
                return int(ln.split()[1])
    raise RuntimeError(f"no instruction count for {name}: {err[-2000:]}")


def measure(names: List[str], short: int, long: int, windows: Sequence[int] = (1,)) -> Dict[str, Dict[str, float]]:
    """Per server (and per window other than 1: ``name w16``), both totals and the cost per message."""
    results: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="wsframe-callgrind-") as workdir:
        for window in windows:
            for name in names:
                a = measure_once(name, short, workdir, window)
                b = measure_once(name, long, workdir, window)
                key = name if window == 1 else f"{name} w{window}"
                results[key] = {"short": a, "long": b, "per_message": (b - a) / (long - short), "window": window}
                print(f"  {key}: {results[key]['per_message']:,.0f} instructions/message", file=sys.stderr)
    return results


def table(results: Dict[str, Dict[str, float]], short: int, long: int) -> str:
    """Markdown; each row's ratio is against picows at the same window."""
    rows = [f"| server | window | Ir, {short:,} msgs | Ir, {long:,} msgs | instructions/message | vs picows |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for key, r in results.items():
        window = int(r.get("window", 1))
        name = key.split(" ")[0]
        base: Optional[float] = results.get("picows" if window == 1 else f"picows w{window}", {}).get("per_message")
        ratio = f"{r['per_message'] / base:.2f}x" if base else "-"
        rows.append(f"| {SERVERS[name][0]} | {window} | {r['short']:,} | {r['long']:,} | {r['per_message']:,.0f}"
                    f" | {ratio} |")
    return "\n".join(rows)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.callgrind_echo", description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=1000)
    ap.add_argument("--long", type=int, default=4000)
    ap.add_argument("--only", action="append", choices=sorted(SERVERS))
    ap.add_argument("--window", type=int, action="append",
                    help="frames in flight (repeatable; default 1, ping-pong; e.g. --window 1 --window 16)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    if not 0 < args.short < args.long:
        ap.error("need 0 < --short < --long")
    windows = args.window or [1]
    if min(windows) < 1:
        ap.error("--window must be >= 1")
    names = args.only or list(SERVERS)
    if "picows" not in names:
        names.insert(0, "picows")  # the ratios are against it
    results = measure(names, args.short, args.long, windows)
    print(table(results, args.short, args.long))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
