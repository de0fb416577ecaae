"""Pub/sub for ASGI apps under uvicorn with wsframe's protocol: the
``wsframe.pubsub`` scope extension (subscribe, publish to the others, server-wide
publish through the process hub, closed connections forgotten)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

from wsframe import client  # noqa: E402

APP = r'''
from wsframe.uvicorn.pubsub import hub

async def app(scope, receive, send):
    ps = scope["extensions"]["wsframe.pubsub"]
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] != "websocket.receive":
            return
        cmd, _, rest = event["text"].partition(" ")
        if cmd == "sub":
            ps.subscribe(rest)
        elif cmd == "pub":  # to the others
            topic, _, msg = rest.partition(" ")
            ps.publish(topic, msg)
        elif cmd == "all":  # everyone, through the process hub
            topic, _, msg = rest.partition(" ")
            hub.publish(topic, msg.encode())
        elif cmd == "count":
            await send({"type": "websocket.send", "text": str(hub.subscriber_count(rest))})
            continue
        await send({"type": "websocket.send", "text": "ok " + event["text"]})
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    S.require_module("uvicorn")
    from _uvicorn import Uvicorn

    folder = tmp_path_factory.mktemp("uvicorn-pubsub")
    (folder / "psapp.py").write_text(APP)
    srv = Uvicorn(folder, app="psapp:app")
    yield srv
    srv.stop_gracefully()


def _cmd(ws, text):
    ws.send(text)
    assert ws.recv(timeout=5) == "ok " + text


def test_asgi_extension_topics(server):
    a = client.connect(server.url())
    b = client.connect(server.url())
    _cmd(a, "sub t")
    _cmd(b, "sub t")
    a.send("pub t hello")  # to b only
    assert a.recv(timeout=5) == "ok pub t hello"
    assert b.recv(timeout=5) == "hello"
    for i in range(50):
        b.send(f"all t m{i}")
    got_a = [a.recv(timeout=5) for _ in range(50)]
    assert got_a == [f"m{i}".encode() for i in range(50)]  # in order, binary as binary
    got_b = [b.recv(timeout=5) for _ in range(100)]
    assert [g for g in got_b if isinstance(g, bytes)] == [f"m{i}".encode() for i in range(50)]
    b.close()
    a.send("count t")
    for _ in range(100):  # the closed connection is forgotten (connection_lost)
        if a.recv(timeout=5) == "1":
            break
        a.send("count t")
    else:
        raise AssertionError("b still subscribed")
    a.close()
