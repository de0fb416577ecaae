"""Tests of wsframe.asyncio: serve/connect API, options, flow control,
timeouts, closing, wss://, interop with websockets and wsframe.client; each
on the default event loop and on uvloop.

Also the helpers the other test_asyncio*.py modules import: :func:`run`,
:class:`ServerThread`, :class:`Parser`."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

from wsframe import InvalidStatus  # noqa: E402
from wsframe.asyncio import ConnectionClosedError, ConnectionClosedOK, connect, serve  # noqa: E402
from wsframe.codec import FrameParser  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402

LOOPS = ["asyncio", "uvloop"]


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        uvloop = S.require_module("uvloop", "uvloop (pip install uvloop)")
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(kind: str, fn: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run ``fn()`` (a coroutine function) on a fresh loop of ``kind``, bounded by ``timeout``."""
    loop = new_loop(kind)
    try:
        return loop.run_until_complete(asyncio.wait_for(fn(), timeout))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def echo(ws) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.fixture(params=LOOPS)
def loop_kind(request) -> str:
    return request.param


class ServerThread:
    """A wsframe.asyncio server on its own loop in a thread (for blocking peers)."""

    def __init__(self, kind: str, handler: Callable = echo, **options: Any) -> None:
        self.loop = new_loop(kind)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start():
            return await serve(handler, "127.0.0.1", 0, **options)

        self.server = self.call(start())
        self.port = self.server.port
        self.url = self.server.url

    def call(self, coro, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def connections(self) -> list:
        async def get():
            return list(self.server.connections)

        return self.call(get())

    def stop(self) -> None:
        async def close():
            self.server.close()
            await asyncio.wait_for(self.server.wait_closed(), 10)

        try:
            self.call(close(), 15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def __enter__(self) -> "ServerThread":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Parser:
    """Reads server frames from a raw blocking socket."""

    def __init__(self, sock: socket.socket, initial: bytes = b"") -> None:
        self.sock = sock
        self.parser = FrameParser(server=False, max_frame_size=None)
        self.frames = list(self.parser.feed(initial)) if initial else []

    def next(self, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while not self.frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.frames.extend(self.parser.feed(data))
        return self.frames.pop(0)

    def close_frame(self, timeout: float = 5.0):
        """Skip to the close frame; return its (code, reason)."""
        while True:
            f = self.next(timeout)
            if f.opcode == Opcode.CLOSE:
                code = struct.unpack("!H", f.payload[:2])[0] if len(f.payload) >= 2 else 1005
                return code, bytes(f.payload[2:]).decode()


def wait_eof(sock: socket.socket, timeout: float = 5.0) -> bool:
    return S.recv_all(sock, timeout)[1]


# -- basics ------------------------------------------------------------------------------------


def test_echo_types_fragments_and_close(loop_kind):
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            assert server.url == f"ws://127.0.0.1:{server.port}/" and server.sockets
            async with connect(server.url) as ws:
                for msg in ("text", "ünïcødé ✓ 🎉", "", b"", b"\x00" * 1000, os.urandom(200_000), "x" * 70_000):
                    await ws.send(msg)
                    assert await ws.recv(timeout=5) == msg
                await ws.send(bytearray(b"ba"))
                assert await ws.recv(5) == b"ba"
                await ws.send(memoryview(b"mv"))
                assert await ws.recv(5) == b"mv"
                await ws.send(["frag", "-", "mented"])
                assert await ws.recv(5) == "frag-mented"

                async def gen():
                    for part in (b"a", b"b", b"c"):
                        yield part

                await ws.send(gen())
                assert await ws.recv(5) == b"abc"
                with pytest.raises(TypeError):
                    await ws.send(12)  # type: ignore[arg-type]
                assert ws.remote_address[1] == server.port
            assert ws.close_code == 1000 and ws.close_reason == ""
            with pytest.raises(ConnectionClosedOK):
                await ws.send("after close")
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()

    run(loop_kind, main)


def test_awaitable_forms_and_async_iteration(loop_kind):
    async def handler(ws):
        await ws.send(ws.request.path)
        for i in range(3):
            await ws.send(f"m{i}")
        await ws.close(4001, "done")

    async def main():
        server = await serve(handler, "127.0.0.1", 0)
        try:
            ws = await connect(server.url + "p?q=1")
            got = []
            with pytest.raises(ConnectionClosedError) as exc:
                async for message in ws:
                    got.append(message)
            assert got == ["/p?q=1", "m0", "m1", "m2"]
            assert exc.value.code == 4001 and exc.value.reason == "done"
            assert ws.close_code == 4001
        finally:
            server.close()
            await server.wait_closed()
        assert not server.connections

    run(loop_kind, main)


def test_normal_close_ends_iteration(loop_kind):
    async def handler(ws):
        await ws.send("bye")  # then return: the server closes with 1000

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(server.url) as ws:
                assert [m async for m in ws] == ["bye"]
                assert ws.close_code == 1000

    run(loop_kind, main)


def test_handler_error_closes_1011(loop_kind):
    async def handler(ws):
        await ws.recv()
        raise RuntimeError("boom")

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(server.url) as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosedError) as exc:
                    await ws.recv(5)
                assert exc.value.code == 1011

    run(loop_kind, main)


def test_recv_timeout_and_concurrent_recv(loop_kind):
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(server.url) as ws:
                t0 = time.monotonic()
                with pytest.raises(TimeoutError):
                    await ws.recv(timeout=0.2)
                assert 0.15 < time.monotonic() - t0 < 2
                first = asyncio.ensure_future(ws.recv())
                await asyncio.sleep(0)
                with pytest.raises(RuntimeError):
                    await ws.recv()
                await ws.send("after")
                assert await asyncio.wait_for(first, 5) == "after"

    run(loop_kind, main)


def test_ping_returns_latency_waiter(loop_kind):
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(server.url) as ws:
                waiter = await ws.ping(b"abc")
                latency = await asyncio.wait_for(waiter, 5)
                assert 0 < latency < 5 and ws.latency == latency
                w1 = await ws.ping()
                w2 = await ws.ping()
                await asyncio.wait_for(asyncio.gather(w1, w2), 5)
                with pytest.raises(RuntimeError):
                    await ws.ping(b"abc"), await ws.ping(b"abc")

    run(loop_kind, main)


def test_many_messages_pipelined_in_order(loop_kind):
    async def main():
        async with serve(echo, "127.0.0.1", 0, compression=False) as server:
            async with connect(server.url, compression=False) as ws:
                n = 5000
                for i in range(n):
                    await ws.send(b"%d" % i)
                got = [await ws.recv(5) for _ in range(n)]
                assert got == [b"%d" % i for i in range(n)]

    run(loop_kind, main)


# -- handshake options -------------------------------------------------------------------------


def test_subprotocols_compression_and_headers(loop_kind):
    seen = {}

    async def handler(ws):
        seen["sub"] = ws.subprotocol
        seen["ext"] = [e.name for e in ws.extensions] if ws.extensions and hasattr(ws.extensions[0], "name") \
            else len(ws.extensions)
        seen["hdr"] = ws.request.headers.get("X-Test")
        await echo(ws)

    async def main():
        async with serve(handler, "127.0.0.1", 0, subprotocols=["chat", "other"]) as server:
            async with connect(server.url, subprotocols=["other", "chat"], extra_headers=[("X-Test", "1")]) as ws:
                assert ws.subprotocol == "chat"
                assert len(ws.extensions) == 1  # permessage-deflate, on by default on both sides
                await ws.send("compress me " * 100)
                assert await ws.recv(5) == "compress me " * 100
                assert ws.response.status == 101
            async with connect(server.url, compression=None) as ws:
                assert ws.extensions == [] and ws.subprotocol is None
                await ws.send("plain")
                assert await ws.recv(5) == "plain"
        assert seen["hdr"] is None and seen["sub"] is None

    run(loop_kind, main)


def test_process_request_can_refuse_and_origins(loop_kind):
    async def process_request(ws, request):
        if request.headers.get("Authorization") != "Bearer ok":
            return ws.respond(401, "who are you?", [("WWW-Authenticate", "Bearer")])
        await asyncio.sleep(0)  # may be async
        return None

    async def main():
        async with serve(echo, "127.0.0.1", 0, process_request=process_request,
                         allowed_origins=["https://good.example", None]) as server:
            with pytest.raises(InvalidStatus) as exc:
                await connect(server.url)
            assert exc.value.status == 401
            async with connect(server.url, extra_headers=[("Authorization", "Bearer ok")]) as ws:
                await ws.send("in")
                assert await ws.recv(5) == "in"
            with pytest.raises(InvalidStatus) as exc:
                await connect(server.url, origin="https://evil.example",
                              extra_headers=[("Authorization", "Bearer ok")])
            assert exc.value.status == 403
        assert not server.connections

    run(loop_kind, main)


def test_process_request_sync_tuple_and_error(loop_kind):
    def process_request(ws, request):
        if request.path == "/teapot":
            return (418, "short and stout")
        if request.path == "/boom":
            raise RuntimeError("bug in the hook")
        return None

    async def main():
        async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
            with pytest.raises(InvalidStatus) as exc:
                await connect(server.url + "teapot")
            assert exc.value.status == 418
            with pytest.raises(InvalidStatus) as exc:
                await connect(server.url + "boom")
            assert exc.value.status == 500
            async with connect(server.url) as ws:
                await ws.send("fine")
                assert await ws.recv(5) == "fine"

    run(loop_kind, main)


def test_max_connections_503(loop_kind):
    async def main():
        async with serve(echo, "127.0.0.1", 0, max_connections=2) as server:
            a = await connect(server.url)
            b = await connect(server.url)
            with pytest.raises(InvalidStatus) as exc:
                await connect(server.url)
            assert exc.value.status == 503
            await a.close()
            c = await connect(server.url)  # a slot is free again
            await c.send("in")
            assert await c.recv(5) == "in"
            await b.close()
            await c.close()

    run(loop_kind, main)


def test_wss_both_sides(loop_kind, tmp_path):
    import ssl

    _, ca_path, cert_path, key_path = S.make_certs(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(cert_path), str(key_path))
    client_ctx = ssl.create_default_context(cafile=str(ca_path))

    async def main():
        async with serve(echo, "127.0.0.1", 0, ssl=server_ctx) as server:
            assert server.url.startswith("wss://")
            url = f"wss://localhost:{server.port}/"
            async with connect(url, ssl=client_ctx) as ws:
                await ws.send("secure ✓")
                assert await ws.recv(5) == "secure ✓"
                big = os.urandom(300_000)
                await ws.send(big)
                assert await ws.recv(5) == big
            assert ws.close_code == 1000
            with pytest.raises(ssl.SSLError):
                await connect(url)  # the system CAs do not trust it
            async with connect(url, ssl=client_ctx) as ws:
                await ws.send("again")
                assert await ws.recv(5) == "again"

    run(loop_kind, main)


def test_mixed_fragments_raise_and_close_1011(loop_kind):
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(server.url) as ws:
                with pytest.raises(TypeError):
                    await ws.send([b"bytes", "then text"])
                with pytest.raises(ConnectionClosedError) as exc:
                    await ws.recv(5)
                assert exc.value.code == 1011
            async with connect(server.url) as ws:
                await ws.send([])  # nothing to send
                with pytest.raises(TypeError):
                    await ws.send({"a": 1})  # type: ignore[arg-type]
                await ws.send("still open")
                assert await ws.recv(5) == "still open"

    run(loop_kind, main)


def test_cancelled_iteration_loses_no_message(loop_kind):
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(server.url) as ws:
                it = ws.__aiter__()
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(it.__anext__(), 0.1)  # the waiter future is cancelled
                await ws.send("one")
                assert await ws.recv(5) == "one"
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.1)
                await ws.send("two")
                async for message in ws:
                    assert message == "two"
                    break

    run(loop_kind, main)


def test_client_keepalive_measures_latency(loop_kind):
    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(server.url, ping_interval=0.1, ping_timeout=2) as ws:
                assert ws.latency == 0.0
                with pytest.raises(TimeoutError):
                    await ws.recv(timeout=0.6)  # idle: keepalive pings go out and are answered
                assert 0 < ws.latency < 2
                assert len(ws._pings) <= 1

    run(loop_kind, main)


def test_max_fragments_both_sides(loop_kind):
    """serve(max_fragments=3): 3 frames pass, 4 close with 1009; connect(max_fragments=2) likewise."""

    async def handler(ws):
        async for message in ws:
            if message == "send three":
                await ws.send(["x", "y", "z"])
            else:
                await ws.send(message)

    async def main():
        async with serve(handler, "127.0.0.1", 0, max_fragments=3) as server:
            async with connect(server.url) as ws:
                await ws.send(["a", "b", "c"])
                assert await ws.recv(5) == "abc"
                await ws.send(["a", "b", "c", "d"])
                with pytest.raises(ConnectionClosedError) as exc:
                    await ws.recv(5)
                assert exc.value.code == 1009
            async with connect(server.url, max_fragments=2) as ws:
                await ws.send("send three")
                with pytest.raises(ConnectionClosedError) as exc:
                    await ws.recv(5)
                assert ws.close_code == 1009

    run(loop_kind, main)
