"""Backpressure in the asyncio server, on the default event loop and on uvloop: a peer that sends
without reading stops the server's reads within bounds of its queue and transport buffers. The
hostile-input tests every server layer shares are in tests/contract/."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
from test_asyncio import LOOPS, Parser, ServerThread  # noqa: E402
from test_server_helpers import wait_for  # noqa: E402

from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402


@pytest.fixture(params=LOOPS)
def kind(request) -> str:
    return request.param


# -- slow and stalled peers, timeouts ----------------------------------------------------------


def test_backpressure_stops_reading_and_resumes(kind):
    """A peer that sends but does not read: the handler blocks in send(), the
    queue fills, reading stops; once the peer reads, everything is echoed."""
    hw = 64 * 1024
    with ServerThread(kind, high_water=hw, low_water=16 * 1024, write_timeout=None, compression=False) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            payload = b"z" * 16384
            frame = build_frame(Opcode.BINARY, payload, client=True)
            n = 2000  # 32 MB: far more than kernel buffers plus the high-water marks
            sender_done = threading.Event()

            def sender():
                try:
                    for _ in range(n):
                        s.sendall(frame)
                except OSError:
                    pass
                sender_done.set()

            t = threading.Thread(target=sender, daemon=True)
            t.start()
            def paused():
                conns = server.connections
                return conns and conns[0]._reading_paused and conns[0]._write_paused and conns[0]

            ws = wait_for(paused, what="the server to stop reading a peer that does not read")
            assert ws._qbytes <= hw + 256 * 1024 + len(payload)  # at most one read (256 KiB) past the mark
            assert ws.transport.get_write_buffer_size() <= 2 * hw + 2 * len(frame)  # one batch past the mark
            assert not sender_done.is_set()
            p = Parser(s, rest)
            for _ in range(n):
                assert p.next(10).payload == payload
            t.join(5)
            assert sender_done.is_set()

