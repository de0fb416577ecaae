"""The client layers of the contract suite (one entry in CLIENTS per client), each behind the same
blocking facade, and a scripted raw server for hostile-server tests."""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from _servers import LoopThread

from wsframe.codec import FrameParser
from wsframe.handshake import accept_key


class BlockingClient:
    """wsframe.client, as it is."""

    def __init__(self, url: str, **options: Any) -> None:
        from wsframe import client

        self.ws = client.connect(url, **options)

    def send(self, data: Any) -> None:
        self.ws.send(data)

    def recv(self, timeout: float = 5.0) -> Any:
        return self.ws.recv(timeout)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.ws.close(code, reason)

    @property
    def close_code(self) -> Optional[int]:
        return self.ws.close_code


class AsyncioClient:
    """wsframe.asyncio.connect on a loop of its own, driven from the test's thread."""

    def __init__(self, url: str, kind: str = "asyncio", **options: Any) -> None:
        from wsframe.asyncio import connect

        self.lt = LoopThread(kind)
        try:
            self.ws = self.lt.call(connect(url, **options))
        except BaseException:
            self.lt.stop()
            raise

    def send(self, data: Any) -> None:
        self.lt.call(self.ws.send(data))

    def recv(self, timeout: float = 5.0) -> Any:
        return self.lt.call(self.ws.recv(timeout), timeout + 5)

    def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            self.lt.call(self.ws.close(code, reason), 15)
        finally:
            self.lt.stop()

    @property
    def close_code(self) -> Optional[int]:
        return self.ws.close_code


# The table: a new client layer gets the whole suite by adding its entry here.
CLIENTS: Dict[str, Callable[..., Any]] = {
    "blocking": BlockingClient,
    "asyncio": AsyncioClient,
}


class ScriptedServer:
    """A one-connection server on 127.0.0.1 that answers the upgrade (or not) and then runs
    ``script(conn)``; it records every frame the client sends until the client's close frame or EOF."""

    def __init__(self, script: Callable[[socket.socket], None], upgrade: bool = True,
                 response: Optional[Callable[[str], bytes]] = None) -> None:
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.frames: List[Tuple[int, bytes]] = []
        self.error: Optional[BaseException] = None
        self._script, self._upgrade, self._response = script, upgrade, response
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.lsock.settimeout(10)
            conn, _ = self.lsock.accept()
            with conn:
                conn.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                key = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                           if line.lower().startswith(b"sec-websocket-key"))
                if self._response is not None:
                    conn.sendall(self._response(key))
                elif self._upgrade:
                    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                                 + accept_key(key).encode() + b"\r\n\r\n")
                self._script(conn)
                parser = FrameParser(server=True, max_frame_size=None)
                while not any(op == 8 for op, _ in self.frames):
                    try:
                        data = conn.recv(65536)
                    except (ConnectionResetError, socket.timeout):
                        break
                    if not data:
                        break
                    self.frames += [(f.opcode, bytes(f.payload)) for f in parser.feed(data)]
        except BaseException as exc:  # reported by close()
            self.error = exc

    def close_frame(self) -> Tuple[int, str]:
        """The client's close frame: (code, reason)."""
        self.join()
        payload = next(p for op, p in self.frames if op == 8)
        return int.from_bytes(payload[:2], "big"), payload[2:].decode()

    def join(self) -> None:
        self.thread.join(15)
        assert not self.thread.is_alive(), "the scripted server is stuck"
        self.lsock.close()
        if self.error is not None:
            raise self.error
