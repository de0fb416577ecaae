"""Headless Chromium (Debian's /usr/bin/chromium driven by Playwright, no
`playwright install`) against `wsframe echo`: a page served from localhost
opens ws:// and wss:// (a trustme CA trusted through an NSS database in a
temporary HOME, made with certutil), sends ASCII and non-ASCII text, a 1 MiB
text message, binary, and closes with code 4010. permessage-deflate (on in
`wsframe echo` by default) must be negotiated (``ws.extensions`` in the page);
over ws:// a relay parses the frames Chromium sends, to check that the 1 MiB
message went out compressed (RSV1) and fragmented, and still echoed intact.
Skipped when a tool is missing unless WSFRAME_REQUIRE_PEERS=1. ``-m peers``."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _support as S  # noqa: E402

pytestmark = pytest.mark.peers

CHROMIUM = os.environ.get("WSFRAME_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return S.make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def page_url():
    """tests/peers/ served over HTTP on localhost."""
    handler = functools.partial(_QuietHandler, directory=str(S.HERE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}/browser.html"
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory, certs):
    """Chromium with a temporary HOME whose NSS database trusts the test CA."""
    if not os.path.exists(CHROMIUM):
        S.missing(f"chromium ({CHROMIUM})")
    certutil = S.require_executable("certutil", "certutil (Debian package libnss3-tools)")
    S.require_module("playwright", "playwright (pip)")
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run([certutil, "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run([certutil, "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "wsframe-test-ca",
                    "-i", str(certs[1])], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CONFIG_HOME")}
    env["HOME"] = str(home)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, env=env,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def run_page(browser, page_url: str, ws_url: str) -> dict:
    page = browser.new_page()
    try:
        page.goto(page_url)
        return page.evaluate("(url) => runEcho(url)", ws_url)
    finally:
        page.close()


def check(report: dict, compression: bool = True) -> None:
    assert report["errors"] == [], report
    assert report["opened"], report
    if compression:
        assert report["extensions"].startswith("permessage-deflate"), report
    else:
        assert report["extensions"] == "", report
    assert report["bigLength"] == 1 << 20, report
    assert report["echoes"] == {"ascii": True, "nonascii": True, "big": True, "binary": True}, report
    code, _reason, clean = report["close"]
    assert code == 4010 and clean, report


def test_chromium_ws(browser, page_url):
    with S.EchoProcess() as echo, S.FrameTap(echo.port) as tap:
        check(run_page(browser, page_url, f"ws://localhost:{tap.port}/"))
        assert tap.errors == []
        frames = tap.frames
    # The wire, client to server: text, text, the big text, binary, close. Each
    # message starts with a TEXT/BINARY frame; continuation frames (opcode 0) follow.
    messages: list[list] = []
    for _conn, op, rsv1, fin, size in frames:
        if op in (1, 2):
            messages.append([(op, rsv1, fin, size)])
        elif op == 0:
            messages[-1].append((op, rsv1, fin, size))
    assert len(messages) == 4, frames
    big = messages[2]
    assert big[0][0] == 1 and big[0][1], f"the 1 MiB text was not compressed: {big[:3]}"
    assert not any(rsv1 for _op, rsv1, _fin, _size in big[1:]), big  # RSV1 on the first frame only
    assert len(big) > 1, f"the 1 MiB text was not fragmented: {big}"
    assert big[-1][2] and not any(fin for _op, _rsv1, fin, _size in big[:-1]), big
    wire = sum(size for *_rest, size in big)
    assert wire < (1 << 20), f"compressed size {wire} B"
    print(f"Chromium sent the 1 MiB text as {len(big)} frames, {wire} B compressed")


def test_chromium_ws_no_compression(browser, page_url):
    with S.EchoProcess("--no-compression") as echo:
        check(run_page(browser, page_url, echo.url), compression=False)


def test_chromium_wss(browser, page_url, certs):
    _, _, cert, key = certs
    with S.EchoProcess("--certfile", str(cert), "--keyfile", str(key)) as echo:
        check(run_page(browser, page_url, f"wss://localhost:{echo.port}/"))
