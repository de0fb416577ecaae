"""CPU cost of compressed input for the selectors server: CPU seconds of the server process per MiB
of permessage-deflate input received on the wire.

    python -m benchmarks.deflate_input_cost          # about 10 s; one JSON line per row

The server (``Server(app, extensions=[ServerPerMessageDeflate()])``, every other option at its
default, an application that discards messages) runs in a child process; its CPU time comes from
/proc (Linux). The client compresses each message on its own (no context takeover), sends the
frames on a raw socket, and waits for a pong so every byte was processed before the CPU is read.
Rows: uncompressed input (the baseline), JSON-like text, 1 MiB of zeros per message (deflate's
largest ratio, the worst case), and one 64 MiB message of zeros on each connection (a "zip bomb",
closed 1009 at max_message_size).
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Callable, Optional

from wsframe.codec import FrameParser, build_frame

SERVER = """
import sys
from wsframe.permessage_deflate import ServerPerMessageDeflate
from wsframe.server import Application, Server

class Discard(Application):
    def on_message(self, ws, data):
        pass

server = Server(Discard(), "127.0.0.1", 0, extensions=[ServerPerMessageDeflate()])
print(server.port, flush=True)
server.install_signal_handlers()
server.serve_forever()
"""
ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Reader:
    """Server frames from a raw socket."""

    def __init__(self, sock: socket.socket, initial: bytes) -> None:
        self.sock = sock
        self.parser = FrameParser(server=False, max_frame_size=None)
        self.pending = list(self.parser.feed(initial))

    def next(self):
        while not self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.pending.extend(self.parser.feed(chunk))
        return self.pending.pop(0)


def open_ws(port: int, deflate: bool) -> "tuple[socket.socket, Reader, int]":
    """A raw client connection; returns (socket, its frame reader, the client's window bits)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    key = base64.b64encode(os.urandom(16)).decode()
    ext = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else ""
    sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed during the handshake")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {head[:80]!r}")
    m = re.search(rb"client_max_window_bits=(\d+)", head)
    return sock, Reader(sock, rest), int(m.group(1)) if m else 15


def deflate(payload: bytes, bits: int) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -bits)
    return (c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]  # without the 00 00 ff ff tail


def run(label: str, payload: bytes, count: int, compressed: bool, bomb: bool = False) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        sock, reader, bits = open_ws(port, compressed)
        wire = deflate(payload, bits) if compressed else payload
        frame = build_frame(2, wire, rsv1=compressed, client=True)
        cpu0, t0, sent, codes = cpu_seconds(server.pid), time.monotonic(), 0, set()
        for i in range(count):
            sock.sendall(frame)
            sent += len(wire)
            if bomb:  # the server closes (1009); a new connection for the next one
                f = reader.next()
                while f.opcode != 8:
                    f = reader.next()
                codes.add(int.from_bytes(bytes(f.payload[:2]), "big"))
                sock.close()
                if i + 1 < count:
                    sock, reader, bits = open_ws(port, compressed)
        if not bomb:
            sock.sendall(build_frame(9, b"sync", client=True))
            while reader.next().opcode != 10:
                pass
            sock.close()
        cpu, wall = cpu_seconds(server.pid) - cpu0, time.monotonic() - t0
    finally:
        server.terminate()
        server.wait(15)
    mib = sent / (1 << 20)
    return {"input": label, "ratio": round(len(payload) / len(wire), 1), "wire_mib": round(mib, 3),
            "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "cpu_s_per_wire_mib": round(cpu / mib, 4),
            "close_codes": sorted(codes)}


def json_text(rnd: random.Random, size: int) -> bytes:
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(2000)]
    out = []
    n = 0
    while n < size:
        item = f'{{"id": {rnd.randint(0, 10**6)}, "name": "{rnd.choice(words)}", "tags": ["{rnd.choice(words)}"]}}, '
        out.append(item)
        n += len(item)
    return "".join(out).encode()[:size]


def main(argv: Optional[list] = None) -> int:
    rnd = random.Random(7)
    rows: "list[tuple[str, Callable[[], dict]]]" = [
        ("uncompressed", lambda: run("uncompressed 1 MiB messages", bytes((1 << 20) - 64), 400, False)),
        ("text", lambda: run("JSON-like text, 64 KiB messages", json_text(rnd, 64 << 10), 800, True)),
        ("zeros", lambda: run("1 MiB of zeros per message (worst case)", bytes((1 << 20) - 64), 400, True)),
        ("bomb", lambda: run("64 MiB of zeros in one message", bytes(64 << 20), 20, True, bomb=True)),
    ]
    for _, row in rows:
        print(json.dumps(row()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
