"""benchmarks/callgrind_echo.py without valgrind: its client against a real server, and its table."""

from __future__ import annotations

import sys
from pathlib import Path

from wsframe.server import Application, Server

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from benchmarks import callgrind_echo as cg  # noqa: E402


class Echo(Application):
    def __init__(self) -> None:
        self.n = 0

    def on_message(self, ws, data):
        self.n += 1
        ws.send(data)


def test_client_runs_n_ping_pongs_and_closes():
    app = Echo()
    server = Server(app, "127.0.0.1", 0, compression=False)
    server.start()
    try:
        cg._client(server.port, 25)  # raises on a wrong reply or an early close
    finally:
        server.stop()
    assert app.n == 25


def test_table_has_ratios_against_picows():
    results = {"picows": {"short": 100, "long": 400, "per_message": 10.0},
               "callback-uvloop": {"short": 100, "long": 250, "per_message": 5.0}}
    text = cg.table(results, 1000, 4000)
    assert "| 10 | 1.00x |" in text and "| 5 | 0.50x |" in text
    assert text.count("\n") == 3


def test_every_server_source_compiles():
    for name, (_, source) in cg.SERVERS.items():
        compile(source, name, "exec")
