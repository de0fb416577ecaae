"""Helpers of the pub/sub tests (no tests here): a command application for the
selectors server, raw-socket subscribers, RSS of this process."""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import socket
import time
from typing import Callable, List, Optional, Tuple

from wsframe.codec import FrameParser, build_frame
from wsframe.server import Application

HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
)


class Commands(Application):
    """Text commands: ``sub T``, ``unsub T``, ``pub T M`` (server.publish),
    ``wspub T M`` (ws.publish, not to self), ``close``; answers ``ok <cmd>``."""

    def __init__(self) -> None:
        self.closed: List[Tuple[int, str]] = []

    def on_message(self, ws, data):
        if not isinstance(data, str):
            return
        cmd, _, rest = data.partition(" ")
        if cmd == "sub":
            ws.subscribe(rest)
        elif cmd == "unsub":
            ws.unsubscribe(rest)
        elif cmd == "pub":
            topic, _, msg = rest.partition(" ")
            ws.server.publish(topic, msg)
        elif cmd == "wspub":
            topic, _, msg = rest.partition(" ")
            ws.publish(topic, msg)
        elif cmd == "closeme":
            ws.close(1000, "bye")
            return
        ws.send("ok " + data)

    def on_close(self, ws, code, reason):
        self.closed.append((code, reason))


def raise_nofile(want: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit towards ``want``; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def rss_bytes() -> int:
    """Resident set size of this process, from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RawSub:
    """A raw-socket client: handshake, send masked text, parse server frames (non-blocking use)."""

    def __init__(self, port: int, rcvbuf: Optional[int] = None, extra: str = "") -> None:
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(HANDSHAKE.format(key=key, extra=extra).encode())
        self.sock = s
        self.buf = b""
        self.parser = FrameParser(server=False, max_frame_size=None)
        self.open = False
        self.frames: list = []

    def send_text(self, text: str) -> None:
        self.sock.sendall(build_frame(1, text, client=True))

    def feed(self, data: bytes) -> None:
        if not self.open:
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            assert self.buf.startswith(b"HTTP/1.1 101"), self.buf[:100]
            data = self.buf[end + 4:]
            self.open = True
            self.buf = b""
        if data:
            self.frames.extend(self.parser.feed(data))

    def read_until(self, n_frames: int, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.frames) < n_frames:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.frames)} of {n_frames} frames")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed")
            self.feed(data)
        out, self.frames = self.frames[:n_frames], self.frames[n_frames:]
        return out


async def until(predicate: Callable[[], bool], seconds: float) -> None:
    """Return once ``predicate()`` is true, polling every 10 ms for at most ``seconds`` (the
    caller asserts it: there is no event for what the server does after a peer has gone)."""
    for _ in range(int(seconds * 100)):
        if predicate():
            return
        await asyncio.sleep(0.01)
