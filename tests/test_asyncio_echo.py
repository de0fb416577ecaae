"""The asyncio echo server (``wsframe echo --loop asyncio|uvloop``, wsframe.asyncio.echo.run_echo)
and the one-write-per-batch behaviour of the asyncio server."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402
from test_asyncio import LOOPS, Parser, ServerThread  # noqa: E402

from wsframe.client import ConnectionClosed, connect  # noqa: E402
from wsframe.codec import build_frame  # noqa: E402
from wsframe.enums import Opcode  # noqa: E402


@pytest.mark.parametrize("loop", LOOPS)
def test_cli_echo_on_asyncio_loops_stops_with_1001(loop):
    if loop == "uvloop":
        S.require_module("uvloop")
    pmd = pytest.importorskip("wsframe.permessage_deflate")
    with S.EchoProcess("--loop", loop) as proc:
        with connect(proc.url, extensions=[pmd.ClientPerMessageDeflate()]) as ws:
            assert ws.conn.extensions, "permessage-deflate is on by default"
            ws.send("compress me " * 100)
            assert ws.recv(5) == "compress me " * 100
        ws = connect(proc.url)
        ws.send(b"\x00\x01")
        assert ws.recv(5) == b"\x00\x01"
        t0 = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as exc:
            ws.recv(5)
        assert exc.value.code == 1001
        ws.close()
        assert proc.proc.wait(10) == 0
        assert time.monotonic() - t0 < 5
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", proc.port), timeout=1).close()


@pytest.mark.parametrize("loop", LOOPS)
def test_pipelined_replies_go_out_in_one_write_per_batch(loop):
    """100 frames in one segment: all echoed in order, in a few transport writes, not 100."""
    writes = []

    async def counting_echo(ws):
        transport = ws.transport
        real_write = transport.write

        class Counting:
            def __getattr__(self, name):
                return getattr(transport, name)

            def write(self, data):
                writes.append(len(data))
                real_write(data)

        ws.transport = Counting()
        async for message in ws:
            await ws.send(message)

    with ServerThread(loop, counting_echo, compression=False) as server:
        s, rest = S.raw_ws(server.port)
        with s:
            burst = b"".join(build_frame(Opcode.TEXT, b"m%03d" % i, client=True) for i in range(100))
            s.sendall(burst)
            p = Parser(s, rest)
            assert [bytes(p.next().payload) for _ in range(100)] == [b"m%03d" % i for i in range(100)]
    assert sum(writes[:3]) == 100 * 6 and len(writes) <= 4, writes  # (+ the close at the end)
