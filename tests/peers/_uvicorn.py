"""A Starlette app under ``uvicorn --ws wsframe.uvicorn:WSFrameProtocol`` in a subprocess (test helper).

Used by tests/test_uvicorn*.py. :func:`write_app` writes the app (``app.py``)
into a folder; :class:`Uvicorn` runs ``python -m uvicorn app:app`` from it on
127.0.0.1 with a free port (``--port 0``; the port is read from uvicorn's
start-up line) and collects its log lines.

Routes: ``/`` echo; ``/chat`` accept with a subprotocol and a header, then close
4005; ``/refuse`` close before accept (403); ``/deny`` a denial response (401);
``/crash`` an error before accept (500); ``/log`` echo, then the disconnect
code printed to stderr (``disconnect CODE``); ``/flood`` after the first
message, 64 KiB binary messages until the client is gone (``flood ended``);
``/closer`` accept, then close 1000 at once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import List

import _support as S  # this folder is on sys.path wherever _uvicorn is imported

APP = '''
import sys

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


async def chat(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="chat.v2", headers=[(b"x-chat", b"yes")])
    await websocket.send_text("protocol " + str(websocket.scope["subprotocols"]))
    await websocket.close(4005, "bye")


async def refuse(websocket: WebSocket) -> None:
    await websocket.close()


async def deny(websocket: WebSocket) -> None:
    await websocket.send_denial_response(JSONResponse({"detail": "no"}, status_code=401))


async def crash(websocket: WebSocket) -> None:
    raise RuntimeError("the application fails before accepting")


async def log(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            print("disconnect", message["code"], file=sys.stderr, flush=True)
            return
        await websocket.send_bytes(message.get("bytes") or message["text"].encode())


async def flood(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive()
    chunk = bytes(65536)
    try:
        while True:
            await websocket.send_bytes(chunk)
    except (WebSocketDisconnect, OSError, RuntimeError):
        pass
    print("flood ended", file=sys.stderr, flush=True)


async def closer(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(1000)


app = Starlette(routes=[WebSocketRoute("/", echo), WebSocketRoute("/chat", chat),
                        WebSocketRoute("/refuse", refuse), WebSocketRoute("/deny", deny),
                        WebSocketRoute("/crash", crash), WebSocketRoute("/log", log),
                        WebSocketRoute("/flood", flood), WebSocketRoute("/closer", closer)])
'''

_RUNNING = re.compile(r"Uvicorn running on https?://[^:]+:(\d+)")


def write_app(folder: Path) -> Path:
    """Write ``app.py`` (the Starlette app above) into ``folder``; return the folder."""
    (folder / "app.py").write_text(APP)
    return folder


class Uvicorn:
    """``python -m uvicorn app:app --ws wsframe.uvicorn:WSFrameProtocol`` on 127.0.0.1:0, from ``app_dir``
    (``app`` names another application).

    ``ws`` is the ``--ws`` value (an import string; ``app_dir`` is on the path, so
    a module written there can subclass the protocol). Extra ``options`` are
    uvicorn command-line options. Stopped with SIGTERM (:meth:`stop`).
    """

    def __init__(self, app_dir: Path, *options: str, ws: str = "wsframe.uvicorn:WSFrameProtocol",
                 app: str = "app:app") -> None:
        argv = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir), "--host", "127.0.0.1",
                "--port", "0", "--ws", ws, "--lifespan", "off", *options]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(app_dir), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: List[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._drain, daemon=True).start()
        try:
            line = self.wait_lines(_RUNNING.pattern, timeout=30)[0]
        except AssertionError as exc:
            self.stop()
            raise RuntimeError(f"uvicorn did not start: {exc}") from None
        self.port = int(_RUNNING.search(line).group(1))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append("")  # EOF
            self._cond.notify_all()

    def wait_lines(self, pattern: str, count: int = 1, timeout: float = 10.0) -> List[str]:
        """Wait until ``count`` log lines match ``pattern``; return them (AssertionError on timeout)."""
        return S.wait_matching(self._cond, self.lines, pattern, count, timeout,
                               lambda found: f"{count} lines matching {pattern!r} expected; log:\n"
                               + "".join(self.lines))

    def url(self, path: str = "/", scheme: str = "ws", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def fds(self) -> int:
        """Descriptors open in the uvicorn process."""
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss(self) -> int:
        """Resident memory of the uvicorn process, bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (uvicorn's graceful shutdown); SIGKILL if it does not exit. Returns the exit status."""
        return S.stop_process(self.proc, timeout)

    def stop_gracefully(self) -> None:
        """SIGTERM; uvicorn must finish its shutdown and exit (it re-raises the signal it caught, so
        the status is -SIGTERM) without a SIGKILL."""
        code = self.stop()
        self.wait_lines(r"Finished server process", timeout=1)
        assert code in (0, -signal.SIGTERM), (code, self.log())

    def __enter__(self) -> "Uvicorn":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
