"""hypercorn with wsframe's wsproto accelerator, end to end: a real server
process (hypercorn on asyncio, an ASGI echo app, ``install()`` before
serving) and the websockets client, with and without permessage-deflate
(the path browsers take), text and binary messages of many sizes,
fragmented messages and pings. The app answers the text ``"stats?"`` with
the accelerator's call counters, which must show that wsframe did the work
in the server."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest

REQUIRED = os.environ.get("WSFRAME_REQUIRE_PEERS") == "1"
if not REQUIRED:
    pytest.importorskip("hypercorn")
    pytest.importorskip("websockets")

from websockets.sync.client import connect  # noqa: E402

SERVER = r"""
import asyncio, json, sys
from hypercorn.asyncio import serve
from hypercorn.config import Config
from wsframe.integrations import wsproto as accelerator

accelerator.install()

async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        if message.get("text") == "stats?":
            await send({"type": "websocket.send", "text": json.dumps(accelerator.stats())})
        elif message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})

config = Config()
config.bind = ["127.0.0.1:" + sys.argv[1]]
config.websocket_max_message_size = 1 << 22
config.accesslog = None
asyncio.run(serve(app, config))
"""


@pytest.fixture(scope="module")
def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(free)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"hypercorn exited: {proc.stdout.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", free), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("hypercorn did not listen within 30 s")
                time.sleep(0.05)
        yield free
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.mark.parametrize("compression", ["deflate", None], ids=["permessage-deflate", "plain"])
def test_echo_through_accelerated_hypercorn(port, compression):
    rng = random.Random(f"hypercorn-{compression}")
    with connect(f"ws://127.0.0.1:{port}/", compression=compression, max_size=None, open_timeout=10) as ws:
        offered = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert ("permessage-deflate" in offered) == (compression == "deflate")
        ws.send("stats?")
        before = json.loads(ws.recv(timeout=30))
        for i in range(200):
            n = rng.choice((0, 1, 16, 125, 126, 1000, 65535, 65536, 200_000))
            if rng.random() < 0.5:
                message = "".join(rng.choice("aé😀 z") for _ in range(n))[:n]
            else:
                message = rng.randbytes(n)
            if rng.random() < 0.1 and len(message) > 1:
                ws.send([message[:len(message) // 2], message[len(message) // 2:]])  # two fragments
            else:
                ws.send(message)
            assert ws.recv(timeout=30) == message, i
            if i % 50 == 0:
                assert ws.ping(b"p").wait(10)
        ws.send("stats?")
        after = json.loads(ws.recv(timeout=30))
    # frames parsed in C in batches, messages built in C, events built by the accelerator
    assert after["parse"] > before["parse"]
    assert after["build"] > before["build"]
    assert after["events"] > before["events"]
