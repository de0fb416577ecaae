"""The server layers of the contract suite: one entry in SERVERS per I/O layer, each starting a
layer-neutral handler (a :class:`Handler` description) on 127.0.0.1 with the limits a test names."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "peers"))
import _support as S  # noqa: E402

# The limits a test may set, by their wsframe.server / wsframe.asyncio names. A layer that has no
# way to set one raises Unsupported (the test is then an expected failure for that layer).
LIMITS = ("max_message_size", "max_fragments", "max_header_size", "handshake_timeout", "close_timeout",
          "message_timeout", "ping_interval", "ping_timeout", "idle_timeout", "write_timeout",
          "high_water", "low_water", "compression", "extensions")


class Unsupported(Exception):
    """The layer has no way to set this limit today."""


@dataclass(frozen=True)
class Handler:
    """What the application does, whatever the layer.

    ``echo``: send every message back. ``close``: close with ``code``/``reason`` once open.
    ``raise``: raise RuntimeError(``message``) on the first message; ``raise-at-once``: as soon as
    the handler runs (uvicorn: before accepting). ``flood``: on each message,
    send ``count`` binary messages of ``size`` bytes. ``hold``: echo, but only once the test
    released it (:meth:`Running.release`) after each message.
    """

    kind: str = "echo"
    code: int = 1000
    reason: str = ""
    message: str = ""
    count: int = 64
    size: int = 65536


ECHO = Handler()


class Running:
    """A started server: its ``port`` and ``url``, what its handler saw, and a few probes."""

    def __init__(self) -> None:
        self.port = 0
        self.codes: List[int] = []  # close codes the handler saw at the end of its connections
        self.received = threading.Event()  # a message reached the handler
        self._release = threading.Event()
        self._cond = threading.Condition()
        self.connections: Callable[[], int] = lambda: 0  # open WebSocket connections
        self.failures_held: Callable[[], int] = lambda: 0  # connections holding a peer error

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def record(self, code: Optional[int]) -> None:
        with self._cond:
            self.codes.append(1006 if code is None else code)
            self._cond.notify_all()

    def wait_codes(self, n: int = 1, timeout: float = 5.0) -> List[int]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.codes) >= n, timeout), f"handler saw {self.codes}"
            return list(self.codes)

    def release(self) -> None:
        self._release.set()

    def wait_release(self, timeout: float = 5.0) -> bool:
        return self._release.wait(timeout)


def _check(options: Dict[str, Any], supported: tuple, layer: str) -> None:
    for name in options:
        assert name in LIMITS, f"unknown limit {name}"
        if name not in supported:
            raise Unsupported(f"{layer} has no {name} option")


# -- the selectors server (wsframe.server) --------------------------------------------------------


@contextlib.contextmanager
def selectors_server(handler: Handler = ECHO, **options: Any) -> Iterator[Running]:
    from wsframe.server import Application

    run = Running()
    h = handler

    class App(Application):
        def on_open(self, ws):
            if h.kind == "raise-at-once":
                raise RuntimeError(h.message)
            if h.kind == "close":
                ws.close(h.code, h.reason)

        def on_message(self, ws, data):
            run.received.set()
            if h.kind == "raise":
                raise RuntimeError(h.message)
            if h.kind == "flood":
                for _ in range(h.count):
                    ws.send(bytes(h.size))
                return
            ws.send(data)

        def on_close(self, ws, code, reason):
            run.record(code)

    options.setdefault("message_timeout", 10.0)
    extensions = tuple(options.pop("extensions", ()))
    if options.pop("compression", False):
        from wsframe.permessage_deflate import ServerPerMessageDeflate

        extensions += (ServerPerMessageDeflate(),)
    _check(options, LIMITS, "selectors")
    with S.running_server(App(), extensions=extensions, **options) as server:
        run.port = server.port
        run.connections = lambda: len(server.connections)
        run.failures_held = lambda: sum(1 for c in server.connections if c.conn.failure_pending)
        yield run


# -- wsframe.asyncio.serve, on the default loop and on uvloop -------------------------------------


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        return S.require_module("uvloop", "uvloop (pip install uvloop)").new_event_loop()
    return asyncio.new_event_loop()


class LoopThread:
    """An event loop running in a daemon thread; ``call`` runs a coroutine there and waits."""

    def __init__(self, kind: str) -> None:
        self.loop = new_loop(kind)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, awaitable: Any, timeout: float = 10.0) -> Any:
        async def wait():
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _asyncio_handler(h: Handler, run: Running) -> Callable:
    from wsframe.exceptions import ConnectionClosed

    async def handler(ws):
        try:
            if h.kind == "raise-at-once":
                raise RuntimeError(h.message)
            if h.kind == "close":
                await ws.close(h.code, h.reason)
            else:
                async for msg in ws:
                    run.received.set()
                    if h.kind == "raise":
                        raise RuntimeError(h.message)
                    if h.kind == "flood":
                        for _ in range(h.count):
                            await ws.send(bytes(h.size))
                        continue
                    if h.kind == "hold":
                        await asyncio.get_running_loop().run_in_executor(None, run.wait_release)
                    await ws.send(msg)
        except ConnectionClosed as exc:
            run.record(exc.code)
            return
        run.record(ws.close_code)

    return handler


@contextlib.contextmanager
def asyncio_server(kind: str, handler: Handler = ECHO, **options: Any) -> Iterator[Running]:
    from wsframe.asyncio import serve

    run = Running()
    options.setdefault("compression", False)
    _check(options, LIMITS, f"asyncio-{kind}")
    lt = LoopThread(kind)
    try:
        server = lt.call(serve(_asyncio_handler(handler, run), "127.0.0.1", 0, **options))

        async def conns():
            return list(server.connections)

        run.port = server.port
        run.connections = lambda: len(lt.call(conns()))
        run.failures_held = lambda: sum(1 for ws in lt.call(conns()) if ws.conn.failure_pending)
        try:
            yield run
        finally:
            async def close():
                server.close()
                await asyncio.wait_for(server.wait_closed(), 10)

            lt.call(close(), 15)
    finally:
        lt.stop()


# -- uvicorn --ws wsframe.uvicorn:WSFrameProtocol, in this process --------------------------------


def _asgi_app(h: Handler, run: Running) -> Callable:
    async def app(scope, receive, send):
        if scope["type"] != "websocket":  # plain HTTP: no such resource
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await receive()  # websocket.connect
        if h.kind == "raise-at-once":
            raise RuntimeError(h.message)
        await send({"type": "websocket.accept"})
        if h.kind == "close":
            await send({"type": "websocket.close", "code": h.code, "reason": h.reason})
        while True:
            m = await receive()
            if m["type"] == "websocket.disconnect":
                run.record(m.get("code", 1000))
                return
            run.received.set()
            if h.kind == "raise":
                raise RuntimeError(h.message)
            if h.kind == "flood":
                for _ in range(h.count):
                    await send({"type": "websocket.send", "bytes": bytes(h.size)})
                continue
            if h.kind == "hold":
                await asyncio.get_running_loop().run_in_executor(None, run.wait_release)
            await send({"type": "websocket.send", **({"text": m["text"]} if m.get("text") is not None
                                                     else {"bytes": m["bytes"]})})

    return app


@contextlib.contextmanager
def uvicorn_server(kind: str, handler: Handler = ECHO, **options: Any) -> Iterator[Running]:
    uvicorn = S.require_module("uvicorn")
    from wsframe.limits import Limits
    from wsframe.uvicorn import WSFrameProtocol

    # Reads pause as soon as one message waits unread, whatever the marks: they need no setting.
    options.pop("high_water", None)
    options.pop("low_water", None)
    # uvicorn's HTTP layer reads the request head (no handshake timeout or head limit of ours), and
    # the protocol negotiates permessage-deflate only: no other extensions.
    _check(options, tuple(n for n in LIMITS if n not in ("handshake_timeout", "max_header_size", "extensions")),
           f"uvicorn-{kind}")
    compression = options.pop("compression", False)
    # uvicorn's ws_* settings override the matching Limits fields: they are passed as the Config.
    uvicorn_config = {"ws_max_size": options.pop("max_message_size", 1 << 20),
                      "ws_ping_interval": options.pop("ping_interval", None),
                      "ws_ping_timeout": options.pop("ping_timeout", 20.0),
                      "ws_per_message_deflate": compression}
    Protocol = WSFrameProtocol.with_limits(Limits(**options))

    run = Running()
    config = uvicorn.Config(_asgi_app(handler, run), ws=Protocol, lifespan="off", log_level="warning",
                            **uvicorn_config)
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    run.port = sock.getsockname()[1]
    lt = LoopThread(kind)
    done = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), lt.loop)
    try:
        deadline = time.monotonic() + 10
        while not server.started:  # uvicorn sets a flag, no event
            assert not done.done() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.005)

        def protocols():
            async def get():
                return [p for p in server.server_state.connections if isinstance(p, WSFrameProtocol)]

            return lt.call(get())

        run.connections = lambda: len(protocols())
        run.failures_held = lambda: sum(1 for p in protocols() if p._conn.failure_pending)
        yield run
    finally:
        server.should_exit = True
        done.result(15)
        sock.close()
        lt.stop()


# The table: a new server layer gets the whole suite by adding its entry here.
SERVERS: Dict[str, Callable[..., Any]] = {
    "selectors": selectors_server,
    "asyncio": lambda *a, **k: asyncio_server("asyncio", *a, **k),
    "asyncio-uvloop": lambda *a, **k: asyncio_server("uvloop", *a, **k),
    "uvicorn": lambda *a, **k: uvicorn_server("asyncio", *a, **k),
    "uvicorn-uvloop": lambda *a, **k: uvicorn_server("uvloop", *a, **k),
}

# Layers whose handler runs in the event loop's thread (it cannot wait for the test while a
# message is held): the selectors server's callbacks are synchronous.
SYNC_HANDLERS = {"selectors"}
