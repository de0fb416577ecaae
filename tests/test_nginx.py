"""The nginx deployment recipe, tests/peers/nginx-wsframe.conf, run for real.

Debian's nginx runs in the foreground (``daemon off``) with its own prefix and a
small main config in a temporary directory that ``include``s the recipe file as
it is in the repository, with only its listen port (a free loopback port), its
backend ports and its certificate paths (a trustme CA's) substituted; nothing
else is changed, so the README's config is the tested one. wss:// clients
(``wsframe.client.connect`` trusting the CA) connect through nginx, which ends
TLS and proxies the upgrade to two backends:

* two ``wsframe.server.Server`` backends whose application answers ``whoami``
  with its id and the forwarded headers it received: both backends must serve
  (round robin), and see X-Forwarded-Proto https, X-Forwarded-For and Host;
* two ``wsframe echo`` processes: permessage-deflate negotiated end to end, a
  1 MiB text and binary echoed intact, the close code echoed;
* ``proxy_read_timeout`` (set to 1 s here): nginx drops a silent connection,
  while a backend with a ping interval under it keeps its connection open.

Skipped when nginx is missing unless WSFRAME_REQUIRE_PEERS=1. ``-m peers``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

from wsframe.client import connect  # noqa: E402
from wsframe.exceptions import ConnectionClosed  # noqa: E402
from wsframe.permessage_deflate import ClientPerMessageDeflate  # noqa: E402
from wsframe.server import EchoApplication  # noqa: E402

pytestmark = pytest.mark.peers

RECIPE = S.HERE / "nginx-wsframe.conf"
NGINX = os.environ.get("WSFRAME_NGINX") or shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
START_TIMEOUT = 15.0

MAIN_CONF = """\
# Test harness only: the recipe file is included unchanged but for ports and paths.
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/wsframe.conf;
}}
"""


def render(port: int, backends: tuple[int, int], cert: Path, key: Path,
           read_timeout: Optional[str] = None) -> str:
    """The recipe with its ports, certificate paths (and maybe proxy_read_timeout) replaced."""
    text = RECIPE.read_text()
    swaps = [("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
             ("server 127.0.0.1:9001;", f"server 127.0.0.1:{backends[0]};"),
             ("server 127.0.0.1:9002;", f"server 127.0.0.1:{backends[1]};"),
             ("/etc/ssl/wsframe/cert.pem", str(cert)),
             ("/etc/ssl/wsframe/key.pem", str(key))]
    if read_timeout is not None:
        swaps.append(("proxy_read_timeout 300s;", f"proxy_read_timeout {read_timeout};"))
    for old, new in swaps:
        assert text.count(old) == 1, f"the recipe no longer has exactly one {old!r}"
        text = text.replace(old, new)
    return text


class Nginx:
    """nginx in the foreground on a free loopback port, stopped (by its pid) on exit."""

    def __init__(self, tmp: Path, backends: tuple[int, int], cert: Path, key: Path,
                 read_timeout: Optional[str] = None) -> None:
        assert NGINX is not None
        self.tmp = tmp
        (tmp / "main.conf").write_text(MAIN_CONF.format(tmp=tmp))
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = S.free_port()
            (tmp / "wsframe.conf").write_text(render(self.port, backends, cert, key, read_timeout))
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(tmp), "-c", str(tmp / "main.conf"), "-e", str(tmp / "error.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_listening():
                return
            self.stop()
            if "Address already in use" not in self.log():
                break
        raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def log(self) -> str:
        path = self.tmp / "error.log"
        stderr = ""
        if self.proc.poll() is not None and self.proc.stderr is not None:
            stderr = self.proc.stderr.read().decode(errors="replace")
        return stderr + (path.read_text(errors="replace")[-3000:] if path.exists() else "")

    @property
    def url(self) -> str:
        return f"wss://localhost:{self.port}/"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown of the master and its workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def __enter__(self) -> "Nginx":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class WhoAmI(EchoApplication):
    """Echo, but answer "whoami" with this backend's id and the forwarded headers."""

    def __init__(self, ident: str) -> None:
        super().__init__()
        self.ident = ident

    def on_open(self, ws) -> None:
        headers = ws.request.headers
        ws.context = {name: headers.get(name) for name in
                      ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP")}

    def on_message(self, ws, data) -> None:
        if data == "whoami":
            ws.send(json.dumps({"id": self.ident, **ws.context}))
        else:
            super().on_message(ws, data)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if NGINX is None:
        S.missing("nginx (Debian package nginx)")
    return S.make_certs(tmp_path_factory.mktemp("certs"))


def whoami(url: str, cafile: Path) -> dict:
    with connect(url, cafile=str(cafile), open_timeout=10) as ws:
        ws.send("whoami")
        return json.loads(ws.recv(timeout=10))


def test_both_backends_serve_wss_clients(certs, tmp_path):
    _, ca, cert, key = certs
    with S.running_server(WhoAmI("a")) as a, S.running_server(WhoAmI("b")) as b, \
            Nginx(tmp_path, (a.port, b.port), cert, key) as nginx:
        answers = [whoami(nginx.url, ca) for _ in range(6)]
    ids = [x["id"] for x in answers]
    assert ids.count("a") == ids.count("b") == 3, ids  # round robin over the upstream
    for x in answers:
        assert x["X-Forwarded-Proto"] == "https", x
        assert x["X-Forwarded-For"] == "127.0.0.1" and x["X-Real-IP"] == "127.0.0.1", x
        assert x["Host"] == "localhost", x  # $host: the name, without the port


def test_wsframe_echo_backends_through_nginx(certs, tmp_path):
    _, ca, cert, key = certs
    big = ("wsframe behind nginx ✓ " * 50_000)[: 1 << 20]
    blob = bytes(range(256)) * 64
    with S.EchoProcess() as e1, S.EchoProcess() as e2, \
            Nginx(tmp_path, (e1.port, e2.port), cert, key) as nginx:
        for _ in range(2):  # one connection per backend
            with connect(nginx.url, cafile=str(ca), max_message_size=2 << 20,
                         extensions=[ClientPerMessageDeflate()]) as ws:
                assert [type(x).__name__ for x in ws.extensions] == ["PerMessageDeflate"]
                ws.send(big)
                assert ws.recv(timeout=20) == big
                ws.send(blob)
                assert ws.recv(timeout=10) == blob
                ws.close(4010, "done")
            assert ws.close_code == 4010


def test_proxy_read_timeout_and_keepalive_pings(certs, tmp_path):
    """With proxy_read_timeout 1s: a silent connection is cut, a pinged one lives on."""
    _, ca, cert, key = certs
    with S.running_server(WhoAmI("silent")) as silent, \
            S.running_server(WhoAmI("pinged"), ping_interval=0.25, ping_timeout=5) as pinged, \
            Nginx(tmp_path, (silent.port, pinged.port), cert, key, read_timeout="1s") as nginx:
        conns = {}
        for _ in range(2):
            ws = connect(nginx.url, cafile=str(ca))
            ws.send("whoami")
            conns[json.loads(ws.recv(timeout=10))["id"]] = ws
        assert sorted(conns) == ["pinged", "silent"]
        try:
            start = time.monotonic()
            with pytest.raises(ConnectionClosed):  # nginx cuts it after ~1 s of silence
                conns["silent"].recv(timeout=10)
            assert 0.8 < time.monotonic() - start < 8
            # The pinged one has been idle (no message) for longer than the timeout by now.
            with pytest.raises(TimeoutError):
                conns["pinged"].recv(timeout=max(0.1, start + 2.5 - time.monotonic()))
            conns["pinged"].send("still there?")
            assert conns["pinged"].recv(timeout=10) == "still there?"
        finally:
            for ws in conns.values():
                ws.close()
