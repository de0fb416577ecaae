"""Headless Chromium (Debian's /usr/bin/chromium driven by Playwright, no
`playwright install`) against `wsframe echo`: a page served from localhost
opens ws:// and wss:// (a trustme CA trusted through an NSS database in a
temporary HOME, made with certutil), sends ASCII and non-ASCII text, a 1 MiB
text message (Chromium fragments it), binary, and closes with code 4010.
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


def check(report: dict) -> None:
    assert report["errors"] == [], report
    assert report["opened"], report
    assert report["echoes"] == {"ascii": True, "nonascii": True, "big": True, "binary": True}, report
    code, _reason, clean = report["close"]
    assert code == 4010 and clean, report


def test_chromium_ws(browser, page_url):
    with S.EchoProcess() as echo:
        check(run_page(browser, page_url, echo.url))


def test_chromium_wss(browser, page_url, certs):
    _, _, cert, key = certs
    with S.EchoProcess("--certfile", str(cert), "--keyfile", str(key)) as echo:
        check(run_page(browser, page_url, f"wss://localhost:{echo.port}/"))
