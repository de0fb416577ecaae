"""The chat example (docs/examples/chat/server.py) run as written: one process
(the page over HTTP, a room), then two processes joined by a real Redis."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from test_server_helpers import child_env

from wsframe import client

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "chat" / "server.py"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Chat:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLE), *args], stdout=subprocess.PIPE, text=True,
                                     env=child_env())
        while True:
            line = self.proc.stdout.readline()
            assert line, "the example exited"
            if line.startswith("chat server on "):
                self.url = line.split()[-1]
                break

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def test_one_process_page_and_room():
    http_port = _free_port()
    chat = Chat("--port", str(_free_port()), "--http-port", str(http_port))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/index.html", timeout=5) as r:
            assert r.status == 200 and b"new WebSocket" in r.read()
        ada = client.connect(chat.url + "?room=r&name=ada")
        assert ada.recv(timeout=5) == "* ada joined"
        bob = client.connect(chat.url + "?room=r&name=bob")
        other = client.connect(chat.url + "?room=elsewhere&name=eve")
        assert ada.recv(timeout=5) == "* bob joined" and bob.recv(timeout=5) == "* bob joined"
        assert other.recv(timeout=5) == "* eve joined"
        ada.send("hi")
        assert ada.recv(timeout=5) == "ada: hi" and bob.recv(timeout=5) == "ada: hi"
        bob.close()
        assert ada.recv(timeout=5) == "* bob left"
        other.send("anyone?")
        assert other.recv(timeout=5) == "eve: anyone?"  # other rooms never see room r, and vice versa
        ada.send("bye")
        assert ada.recv(timeout=5) == "ada: bye"
        ada.close()
        other.close()
    finally:
        chat.stop()


def test_two_processes_behind_redis():
    try:
        import test_backplane_redis as T  # skips (or fails with WSFRAME_REQUIRE_PEERS=1) without Redis
    except pytest.skip.Exception as exc:
        pytest.skip(str(exc))
    rds = T.RedisProc()
    rds.start()
    chats = []
    try:
        chats = [Chat("--port", str(_free_port()), "--http-port", "0", "--redis", rds.url) for _ in range(2)]
        ada = client.connect(chats[0].url + "?room=r&name=ada")
        assert ada.recv(timeout=5) == "* ada joined"
        T.wait_for(lambda: T._numsub(rds, "room:r") == 1, what="node 1 on the channel")
        bob = client.connect(chats[1].url + "?room=r&name=bob")
        # Node 1 publishes "* ada joined" to Redis from its outbox: it may reach node 2 after bob
        # subscribed (once, at any place in bob's stream before the reply to ada's message).
        bob_got = []

        def bob_recv():
            got = bob.recv(timeout=5)
            if got == "* ada joined" and got not in bob_got:
                bob_got.append(got)
                got = bob.recv(timeout=5)
            return got

        assert bob_recv() == "* bob joined"
        T.wait_for(lambda: T._numsub(rds, "room:r") == 2, what="node 2 on the channel")
        bob.send("hello from node 2")
        assert bob_recv() == "bob: hello from node 2"
        got = ada.recv(timeout=5)
        if got == "* bob joined":  # published before node 1 could hear it? then it arrives first
            got = ada.recv(timeout=5)
        assert got == "bob: hello from node 2"
        ada.send("hi bob")
        assert bob_recv() == "ada: hi bob"
        ada.close()
        bob.close()
    finally:
        for c in chats:
            c.stop()
        rds.stop()
