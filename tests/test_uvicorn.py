"""A Starlette app under ``uvicorn --ws wsframe.uvicorn:WSFrameProtocol`` (a subprocess on a free port).

Python clients over ws:// and wss://: wsframe's blocking client and asyncio
client, websockets with and without permessage-deflate; uvicorn's default loop
(uvloop here) and ``--loop asyncio --http h11``. ASGI features: accept with a
subprotocol and headers, close before accept (403), the
``websocket.http.response`` denial (401 with a JSON body), an application
error before accept (500), ``--ws-max-size`` exact, ``--ws-per-message-deflate
false``; a FastAPI endpoint (path and query parameters, JSON, subprotocol).
The peers (Chromium, npm, aiohttp/websocket-client) are in
tests/test_uvicorn_peers.py, hostile input in tests/test_uvicorn_hostile.py.
Needs uvicorn, starlette and fastapi (skipped without them unless
WSFRAME_REQUIRE_PEERS=1).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
from _uvicorn import Uvicorn, write_app  # noqa: E402

from wsframe import client  # noqa: E402
from wsframe.exceptions import ConnectionClosedError  # noqa: E402
from wsframe.permessage_deflate import ClientPerMessageDeflate, PerMessageDeflate  # noqa: E402

FASTAPI_APP = '''
import sys

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/rooms/{room}")
async def room(websocket: WebSocket, room: str, name: str = "anon"):
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol=offered[0] if offered else None)
    await websocket.send_json({"room": room, "name": name})
    try:
        while True:
            await websocket.send_json({"echo": await websocket.receive_json()})
    except WebSocketDisconnect as exc:
        print("fastapi disconnect", exc.code, file=sys.stderr, flush=True)
'''
MESSAGES = ["hello", "héllo wörld ✓ 🎉", "", b"\x00\x01\xff", "x" * (1 << 20), os.urandom(300_000)]


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    S.require_module("uvicorn")
    S.require_module("starlette")
    return write_app(tmp_path_factory.mktemp("uvicorn-app"))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return S.make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def server(app_dir):
    srv = Uvicorn(app_dir, "--ws-max-size", str(4 << 20))
    yield srv
    srv.stop_gracefully()
    log = srv.log()  # the only tracebacks: the /crash route's, logged by uvicorn
    assert log.count("Traceback") == log.count("RuntimeError: the application fails before accepting"), log


@pytest.fixture(scope="module")
def tls_server(app_dir, certs):
    _, _, cert, key = certs
    srv = Uvicorn(app_dir, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--ws-max-size", str(4 << 20))
    yield srv
    srv.stop_gracefully()


def _target(scheme: str, server, tls_server, certs):
    if scheme == "ws":
        return server.url(), None
    return tls_server.url(scheme="wss", host="localhost"), ssl.create_default_context(cafile=str(certs[1]))


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_wsframe_client(server, tls_server, certs, scheme):
    url, ctx = _target(scheme, server, tls_server, certs)
    with client.connect(url, ssl_context=ctx, max_message_size=None,
                        extensions=[ClientPerMessageDeflate()]) as ws:
        assert [type(e) for e in ws.extensions] == [PerMessageDeflate]
        for m in MESSAGES:
            ws.send(m)
            assert ws.recv(timeout=10) == m
        assert ws.ping(b"py").wait(5)
        ws.close(4003, "wsframe done")
    assert ws.close_code == 4003


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_wsframe_asyncio_client(server, tls_server, certs, scheme):
    from wsframe.asyncio import connect

    url, ctx = _target(scheme, server, tls_server, certs)

    async def main():
        async with connect(url, ssl=ctx, max_message_size=None) as ws:
            for m in MESSAGES:
                await ws.send(m)
                assert await ws.recv(timeout=10) == m
            await ws.send(["a", "b", "ü"])
            assert await ws.recv(timeout=10) == "abü"
            await asyncio.wait_for(await ws.ping(b"aio"), 5)
            await ws.close(4004, "asyncio done")
        assert ws.close_code == 4004

    asyncio.run(asyncio.wait_for(main(), 60))


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_websockets_client(server, tls_server, certs, scheme, compression):
    S.require_module("websockets")
    from websockets.asyncio.client import connect

    url, ctx = _target(scheme, server, tls_server, certs)

    async def main():
        async with connect(url, ssl=ctx, max_size=None, compression=compression) as ws:
            names = [e.name for e in ws.protocol.extensions]
            assert names == ([] if compression is None else ["permessage-deflate"])
            for m in MESSAGES:
                await ws.send(m)
                assert await asyncio.wait_for(ws.recv(), 10) == m
            await ws.send(["frag-1 ", "frag-2 ", "✓"])
            assert await asyncio.wait_for(ws.recv(), 10) == "frag-1 frag-2 ✓"
            await asyncio.wait_for(await ws.ping(b"py"), 5)
            await ws.close(4003, "websockets done")
        assert ws.close_code == 4003

    asyncio.run(asyncio.wait_for(main(), 60))


def test_plain_asyncio_loop_and_h11(app_dir):
    """``--loop asyncio --http h11``: the protocol on the default event loop."""
    with Uvicorn(app_dir, "--loop", "asyncio", "--http", "h11") as srv:
        with client.connect(srv.url(), max_message_size=None) as ws:
            for m in MESSAGES:
                ws.send(m)
                assert ws.recv(timeout=10) == m
        assert ws.close_code == 1000
        srv.stop_gracefully()


def test_no_compression_option(app_dir):
    with Uvicorn(app_dir, "--ws-per-message-deflate", "false") as srv:
        with client.connect(srv.url(), extensions=[ClientPerMessageDeflate()]) as ws:
            assert ws.extensions == []
            ws.send("plain")
            assert ws.recv(timeout=5) == "plain"


def test_asgi_accept_refuse_deny_crash(server):
    S.require_module("websockets")
    from websockets.exceptions import ConnectionClosedError as WebsocketsClosedError
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with connect(server.url("/chat"), subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.response.headers["x-chat"] == "yes"
        assert ws.response.headers["server"] == "uvicorn"
        assert ws.recv(timeout=5) == "protocol ['chat.v1', 'chat.v2']"
        with pytest.raises(WebsocketsClosedError):  # 4005 is not a normal closure
            ws.recv(timeout=5)
    assert (ws.close_code, ws.close_reason) == (4005, "bye")
    for path, status, body in (("/refuse", 403, b""), ("/deny", 401, b'{"detail":"no"}'),
                               ("/crash", 500, b"Internal Server Error")):
        with pytest.raises(InvalidStatus) as exc:
            connect(server.url(path), open_timeout=5)
        response = exc.value.response
        assert (response.status_code, response.body) == (status, body), path
    with pytest.raises(InvalidStatus) as exc:
        connect(server.url("/deny"), open_timeout=5)
    assert exc.value.response.headers["content-type"] == "application/json"


def test_fastapi_app(app_dir):
    """A FastAPI endpoint (path and query parameters, JSON) under wsframe's protocol."""
    S.require_module("fastapi")
    from wsframe.asyncio import connect

    (app_dir / "fastapi_app.py").write_text(FASTAPI_APP)
    with Uvicorn(app_dir, app="fastapi_app:app") as srv:
        async def main():
            async with connect(srv.url("/rooms/blue?name=ann"), subprotocols=["json.v1"]) as ws:
                assert ws.subprotocol == "json.v1"
                assert json.loads(await ws.recv(timeout=5)) == {"room": "blue", "name": "ann"}
                for value in ({"a": [1, 2.5, None]}, "ü ✓", list(range(1000))):
                    await ws.send(json.dumps(value))
                    assert json.loads(await ws.recv(timeout=5)) == {"echo": value}
                await ws.close(4321)

        asyncio.run(asyncio.wait_for(main(), 30))
        assert srv.wait_lines(r"^fastapi disconnect ")[0].split() == ["fastapi", "disconnect", "4321"]
        srv.stop_gracefully()


def test_ws_max_size_is_exact(app_dir):
    with Uvicorn(app_dir, "--ws-max-size", "1000") as srv:
        with client.connect(srv.url(), max_message_size=None) as ws:
            ws.send("a" * 1000)
            assert ws.recv(timeout=5) == "a" * 1000
            with pytest.raises(ConnectionClosedError) as exc:  # in send() if the close frame is first
                ws.send("a" * 1001)
                ws.recv(timeout=5)
            assert exc.value.code == 1009
