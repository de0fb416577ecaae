"""Real browsers against `wsframe echo`: Chromium (Blink), Firefox (Gecko) and WebKit.

Each browser loads ``tests/peers/browser.html`` from a loopback HTTP server and,
over ws:// and wss://, sends ASCII and non-ASCII text, a 1 MiB text message and
binary, checks every echo, and closes with code 4010; the test asserts that
permessage-deflate was negotiated (``ws.extensions``), every echo was intact and
the page saw the close code 4010 in a clean close. Against a server with a
64 KiB message limit the page must see the server's close code, 1009. Over
ws:// a relay parses the client's frames: the 1 MiB message must go out
compressed (RSV1).

* Chromium: Debian's chromium (its binary, /usr/lib/chromium/chromium) driven by
  Playwright (no ``playwright install``); the test CA is trusted through an NSS
  database in a temporary HOME.
* Firefox: Debian's ``firefox-esr --headless``, no WebDriver: the page runs
  the checks for the ``ws=`` URLs in its query and POSTs its report back.
* WebKit: WebKitGTK's ``MiniBrowser`` on a private Xvfb, likewise.
  How Firefox and WebKit trust the CA: see ``tests/peers/_engines.py``
  (certutil into a fresh profile; a mount namespace whose system CA bundle is
  the test CA). Both must refuse a certificate from another CA.

No traffic off loopback: each browser's proxy is a loopback HTTP server of the
test (``_browser_host.PageHost``) that refuses and records every request for a
non-loopback host, so nothing leaves the machine, and the tests assert that
Firefox and WebKit tried nothing at all. Firefox's fresh profile gets
``tests/peers/firefox-user.js`` (telemetry, updates, studies, remote settings,
push, safe browsing, captive portal, DoH, DNS prefetch, speculative connections
off) and ``MOZ_DISABLE_NONLOCAL_CONNECTIONS=1``. Chromium runs from its binary
(not Debian's wrapper, which adds Google API keys) with Playwright's
``--disable-background-networking`` family of flags; it still tries
update.googleapis.com and accounts.google.com, which the trap refuses, and
anything else fails the test.

Every wait is bounded. A missing browser or tool skips with the reason, or
fails when WSFRAME_REQUIRE_PEERS=1. ``-m peers``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import _browser_host as H  # noqa: E402
import _engines as E  # noqa: E402
import _support as S  # noqa: E402

pytestmark = pytest.mark.peers

# The binary, not Debian's /usr/bin/chromium wrapper: the wrapper exports Google API keys
# and --enable-remote-extensions (/etc/chromium.d), which make Chromium call Google.
CHROMIUM = os.environ.get("WSFRAME_CHROMIUM") or next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)),
    "/usr/bin/chromium")
# Chromium 156 still tries these two, whatever the flags (an on-demand component fetch,
# and Google accounts' ListAccounts); the proxy trap refuses them, so nothing leaves.
CHROMIUM_KNOWN_ATTEMPTS = ("update.googleapis.com", "accounts.google.com")
REPORT_TIMEOUT = 120.0  # s, for a browser to start and run the page (three servers)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return S.make_certs(tmp_path_factory.mktemp("certs"))


def _target_host(stray: str) -> str:
    """The host of a trapped request: "CONNECT host:443" or "GET http://host/path ..."."""
    target = stray.split()[1]
    if "://" in target:
        return urllib.parse.urlsplit(target).hostname or target
    return target.rsplit(":", 1)[0]


def check_server_close(report: dict) -> None:
    """Against a 64 KiB limit: two echoes, then the server's close 1009 (message too big)."""
    assert report["opened"], report
    assert report["echoes"] == {"ascii": True, "nonascii": True}, report
    # The code is what counts; wasClean varies: the server fails the connection while the
    # browser is still sending the big message (Firefox reports wasClean false then).
    assert report["close"][0] == 1009, report


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


def big_message_frames(frames: list) -> list:
    """From a FrameTap's frames (client to server): the frames of the third message, the 1 MiB text."""
    messages: list[list] = []
    for _conn, op, rsv1, fin, size in frames:
        if op in (1, 2):
            messages.append([(op, rsv1, fin, size)])
        elif op == 0:
            messages[-1].append((op, rsv1, fin, size))
    assert len(messages) == 4, frames  # text, text, the big text, binary (then close)
    big = messages[2]
    assert big[0][0] == 1 and big[0][1], f"the 1 MiB text was not compressed: {big[:3]}"
    assert not any(rsv1 for _op, rsv1, _fin, _size in big[1:]), big  # RSV1 on the first frame only
    assert big[-1][2] and not any(fin for _op, _rsv1, fin, _size in big[:-1]), big
    assert sum(size for *_rest, size in big) < (1 << 20)
    return big


# --- Chromium, through Playwright -------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium(tmp_path_factory, certs):
    """(browser, host): Chromium with a temporary HOME whose NSS database trusts the test CA,
    its proxy the trap of its own PageHost; after the last test, nothing but the known
    attempts may have reached the trap."""
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
    with H.PageHost() as host, sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, env=env, timeout=60_000,
                              proxy={"server": f"http://127.0.0.1:{host.port}",
                                     "bypass": "localhost,127.0.0.1"},
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b, host
        finally:
            b.close()
        stray = [s for s in host.stray if _target_host(s) not in CHROMIUM_KNOWN_ATTEMPTS]
        assert stray == [], f"Chromium tried to reach a non-loopback host: {stray}"


def run_chromium(chromium, ws_url: str) -> dict:
    browser, host = chromium
    page = browser.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(host.page_url([]))
        return page.evaluate("(url) => runEcho(url)", ws_url)
    finally:
        page.close()


def test_chromium_ws(chromium):
    with S.EchoProcess() as echo, S.FrameTap(echo.port) as tap:
        check(run_chromium(chromium, f"ws://localhost:{tap.port}/"))
        assert tap.errors == []
        frames = tap.frames
    big = big_message_frames(frames)
    assert len(big) > 1, f"Chromium did not fragment the 1 MiB text: {big}"
    print(f"Chromium sent the 1 MiB text as {len(big)} frames, {sum(f[3] for f in big)} B compressed")


def test_chromium_ws_no_compression(chromium):
    with S.EchoProcess("--no-compression") as echo:
        check(run_chromium(chromium, echo.url), compression=False)


def test_chromium_sees_server_close_code(chromium):
    with S.EchoProcess("--max-message-size", "64K") as echo:
        check_server_close(run_chromium(chromium, echo.url))


def test_chromium_wss(chromium, certs):
    _, _, cert, key = certs
    with S.EchoProcess("--certfile", str(cert), "--keyfile", str(key)) as echo:
        check(run_chromium(chromium, f"wss://localhost:{echo.port}/"))


# --- Firefox and WebKit: one browser run per engine, three servers --------------------------

@pytest.fixture(scope="module")
def echo_servers(certs, tmp_path_factory):
    """ws://, wss:// (test CA), wss:// with a certificate from a CA no browser trusts, and
    ws:// with a 64 KiB message limit (the 1 MiB message makes the server close with 1009)."""
    _, _, cert, key = certs
    _, _, other_cert, other_key = S.make_certs(tmp_path_factory.mktemp("other-ca"))
    with S.EchoProcess() as ws, \
            S.EchoProcess("--certfile", str(cert), "--keyfile", str(key)) as wss, \
            S.EchoProcess("--certfile", str(other_cert), "--keyfile", str(other_key)) as bad, \
            S.EchoProcess("--max-message-size", "64K") as limited:
        yield ws, wss, bad, limited


def _launch(engine: str, home: Path, ca_pem: Path, host: H.PageHost, url: str, stack) -> H.BrowserProcess:
    if engine == "firefox":
        if E.FIREFOX is None or not os.path.exists(E.FIREFOX):
            S.missing(f"Firefox {E.FIREFOX or ''} (Debian package firefox-esr)")
        S.require_executable("certutil", "certutil (Debian package libnss3-tools)")
        argv, env = E.firefox_command(home, ca_pem, host.port, url)
    else:
        if E.MINIBROWSER is None or not os.path.exists(E.MINIBROWSER):
            S.missing(f"WebKitGTK MiniBrowser {E.MINIBROWSER or ''} (Debian package libwebkit2gtk-4.1-0)")
        S.require_executable("Xvfb", "Xvfb (Debian package xvfb)")
        prefix = E.unshare_prefix()
        if prefix is None:
            S.missing("a private mount namespace (`unshare --mount`, util-linux) for WebKit's CA bundle")
        xvfb, display = H.start_xvfb(home / "xvfb.log")
        stack.callback(xvfb.stop)
        argv, env = E.webkit_command(home, ca_pem, host.port, url, display, prefix)
    return stack.enter_context(H.BrowserProcess(argv, env, home / "browser.log"))


@pytest.fixture(scope="module", params=["firefox", "webkit"])
def engine_run(request, certs, echo_servers, tmp_path_factory):
    """Start the browser on the page with the three URLs; return (engine, reports by name, frames)."""
    engine = request.param
    ws, wss, bad, limited = echo_servers
    with contextlib.ExitStack() as stack:
        tap = stack.enter_context(S.FrameTap(ws.port))
        urls = {"ws": f"ws://localhost:{tap.port}/", "wss": f"wss://localhost:{wss.port}/",
                "untrusted": f"wss://localhost:{bad.port}/", "limited": f"ws://localhost:{limited.port}/"}
        home = tmp_path_factory.mktemp(engine)
        host = stack.enter_context(H.PageHost())
        proc = _launch(engine, home, certs[1], host, host.page_url(list(urls.values())), stack)
        out = host.wait_report(REPORT_TIMEOUT, proc)
        proc.stop()  # before looking at the trap: shutdown traffic counts too
        assert out is not None, f"{engine}: no report within {REPORT_TIMEOUT:.0f} s\n{proc.tail()}"
        assert out.get("errors") == [], out
        assert host.stray == [], f"{engine} tried to reach a non-loopback host: {host.stray}"
        assert tap.errors == []
        print(f"{engine}: {out.get('userAgent')}")
        yield engine, {name: out["reports"][u] for name, u in urls.items()}, list(tap.frames)


def test_engine_ws(engine_run):
    engine, reports, frames = engine_run
    check(reports["ws"])
    big = big_message_frames(frames)
    print(f"{engine} sent the 1 MiB text as {len(big)} frame(s), {sum(f[3] for f in big)} B compressed; "
          f"extensions {reports['ws']['extensions']!r}")


def test_engine_wss(engine_run):
    _engine, reports, _frames = engine_run
    check(reports["wss"])


def test_engine_refuses_untrusted_certificate(engine_run):
    """The CA is trusted, not TLS errors ignored: a certificate from another CA fails."""
    _engine, reports, _frames = engine_run
    report = reports["untrusted"]
    assert not report["opened"], report
    # 1015: TLS handshake failure (Firefox says so); 1006: abnormal closure (WebKit).
    assert report["close"] is not None and report["close"][0] in (1006, 1015), report
    assert not report["close"][2], report  # not clean


def test_engine_sees_server_close_code(engine_run):
    _engine, reports, _frames = engine_run
    check_server_close(reports["limited"])
