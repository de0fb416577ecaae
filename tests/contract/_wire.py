"""Raw-socket helpers of the contract suite: a hand-made upgrade, reading to EOF, a quick echo check."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "peers"))
import _support as S  # noqa: E402
from test_server_helpers import Parser, wait_eof, wait_for  # noqa: E402,F401  (re-exported)

from wsframe import client  # noqa: E402


def raw_ws(port: int, extra: str = "") -> Tuple[socket.socket, bytes, bytes]:
    """A raw socket after a hand-made upgrade: (socket, bytes after the response head, head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(S.upgrade_request(f"127.0.0.1:{port}", "/", extra))
    head, _, rest = S.recv_until(s, b"\r\n\r\n").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest, head


def fin_not_reset(s: socket.socket, timeout: float = 5.0) -> bool:
    """Read to the end: True on a FIN (recv returns b""), False on a reset."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        return False
    return True


def still_serving(run) -> None:
    with client.connect(run.url) as ws:
        ws.send("still serving")
        assert ws.recv(5) == "still serving"
