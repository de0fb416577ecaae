"""The ``wsframe`` command line, run as a user runs it: ``python -m wsframe`` in a subprocess.

Every user error must be exactly one line on stderr naming the cause and the
option, file, host or port, with exit status 2 (usage) or 1 (run time), and
no traceback unless ``-v``.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest

from test_server_helpers import WSFRAME_ROOT, Parser, S, child_env

from wsframe.codec import build_frame
from wsframe.enums import Opcode

TIMEOUT = 30


def run_cli(*args: str, cwd: Optional[Path] = None, env: Optional[dict] = None, stdin: str = "",
            timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``python -m wsframe args``, importing the wsframe this test process imports."""
    full_env = dict(child_env(), **(env or {}))
    return subprocess.run([sys.executable, "-m", "wsframe", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or WSFRAME_ROOT, env=full_env)


def assert_one_line_error(result: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == status, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


class Echo:
    """``python -m wsframe echo --port 0 ...`` with its stderr read line by line in a thread."""

    def __init__(self, *args: str, env: Optional[dict] = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "wsframe", "echo", "--port", "0", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=dict(child_env(), **(env or {})),
                                     cwd=WSFRAME_ROOT)
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self.wait_for(r"listening on (wss?://\S+)").group(1)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str) -> "re.Match[str]":
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {TIMEOUT}s: {self.seen}") from None
            if line is None:
                raise AssertionError(f"echo exited ({self.proc.wait()}) before {pattern!r}: {self.seen}")
            self.seen.append(line)
            m = re.search(pattern, line)
            if m:
                return m

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "Echo":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import trustme  # in the [test] extra: a missing one fails

    d = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    other = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    other.private_key_pem.write_to_path(str(d / "other-key.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(d / "both.pem"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    (d / "garbage.pem").write_text("not a PEM file\n")
    return d


# -- usage errors: exit 2, one line naming the option and the value -------------------------------


@pytest.mark.parametrize("args, needles", [
    (["--port", "99999"], ["--port", "99999", "0..65535"]),
    (["--port", "-1"], ["--port", "-1"]),
    (["--port", "http"], ["--port", "'http'"]),
    (["--workers", "0"], ["--workers", "0"]),
    (["--max-connections", "-5"], ["--max-connections", "-5"]),
    (["--ping-interval", "0"], ["--ping-interval", "0"]),
    (["--ping-timeout", "-1"], ["--ping-timeout", "-1"]),
    (["--idle-timeout", "nan"], ["--idle-timeout", "nan"]),
    (["--max-message-size", "abc"], ["--max-message-size", "'abc'", "not a size"]),
    (["--max-message-size=-1K"], ["--max-message-size", "-1K"]),
    (["--host", "999.1.1.1"], ["--host", "999.1.1.1"]),
    (["--host", "bad host!"], ["--host", "bad host!"]),
    (["--loop", "trio"], ["--loop", "trio"]),
    (["--keyfile", "key.pem"], ["--keyfile", "--certfile"]),
    (["--workers", "2", "--loop", "asyncio"], ["--workers", "--loop selectors"]),
    (["--message-timeout", "0"], ["--message-timeout", "0"]),
    (["--max-fragments", "-1"], ["--max-fragments", "-1"]),
    (["--max-fragments", "many"], ["--max-fragments", "'many'"]),
    (["--stop-timeout", "-3"], ["--stop-timeout", "-3"]),
    (["--stop-timeout", "3", "--loop", "asyncio"], ["--stop-timeout", "--loop selectors"]),
])
def test_echo_usage_errors(args: List[str], needles: List[str]) -> None:
    assert_one_line_error(run_cli("echo", *args), 2, "wsframe echo", *needles)


def test_no_command_is_one_line() -> None:
    assert_one_line_error(run_cli(), 2, "COMMAND")


def test_missing_certfile_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    assert_one_line_error(run_cli("echo", "--certfile", str(missing)), 2, f"--certfile {missing}", "no such file")


def test_missing_keyfile_is_named(certs: Path) -> None:
    missing = certs / "missing-key.pem"
    line = assert_one_line_error(run_cli("echo", "--certfile", str(certs / "cert.pem"), "--keyfile", str(missing)),
                                 2, f"--keyfile {missing}", "no such file")
    assert "PEM lib" not in line


def test_certificate_without_key(certs: Path) -> None:
    line = assert_one_line_error(run_cli("echo", "--certfile", str(certs / "cert.pem")), 2,
                                 str(certs / "cert.pem"), "no private key", "--keyfile")
    assert "PEM lib" not in line


def test_mismatched_key(certs: Path) -> None:
    line = assert_one_line_error(
        run_cli("echo", "--certfile", str(certs / "cert.pem"), "--keyfile", str(certs / "other-key.pem")),
        2, str(certs / "other-key.pem"), "does not match", str(certs / "cert.pem"))
    assert "PEM lib" not in line


def test_not_a_certificate(certs: Path) -> None:
    assert_one_line_error(run_cli("echo", "--certfile", str(certs / "garbage.pem")), 2,
                          str(certs / "garbage.pem"), "no PEM certificate")


def test_encrypted_key_is_refused_without_prompting(certs: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"))
    path = certs / "encrypted-key.pem"
    path.write_bytes(key)
    assert_one_line_error(run_cli("echo", "--certfile", str(certs / "cert.pem"), "--keyfile", str(path)),
                          2, str(path), "encrypted")


def test_host_not_on_this_machine() -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: bind() fails, nothing is sent.
    assert_one_line_error(run_cli("echo", "--host", "192.0.2.1", "--port", "0"), 2,
                          "--host 192.0.2.1", "not an address of this machine")


# -- run-time errors: exit 1 ----------------------------------------------------------------


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("extra", [[], ["--workers", "2"]])
def test_port_in_use(busy_port: int, extra: List[str]) -> None:
    assert_one_line_error(run_cli("echo", "--port", str(busy_port), *extra), 1,
                          f"port {busy_port}", "127.0.0.1", "already in use")


def test_verbose_shows_the_traceback(busy_port: int) -> None:
    result = run_cli("echo", "--port", str(busy_port), "-v")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "already in use" in result.stderr.splitlines()[-1]


# -- start-up: the codec line, graceful stop -------------------------------------------------


def test_startup_names_the_codec_and_stops_on_sigint() -> None:
    probe = subprocess.run([sys.executable, "-c", "import wsframe.codec as c;"
                            "print(c.implementation.simd_level() if c.speedups_enabled else 'pure')"],
                           capture_output=True, text=True, timeout=TIMEOUT, check=True)
    level = probe.stdout.strip()
    with Echo() as echo:
        seen = "".join(echo.seen)
        if level == "pure":
            assert "codec: pure Python" in seen
        else:
            assert f"codec: C extension (SIMD: {level})" in seen
        assert echo.stop(signal.SIGINT) == 0


def test_stop_waits_stop_timeout_for_a_client_that_never_closes() -> None:
    """SIGTERM: close 1001 to everyone; a client that never answers holds the process for
    --stop-timeout seconds, then it is dropped and the process exits 0. Without the option the
    wait is 10 s, the server's default (the value the README gives)."""
    from wsframe.server.loop import DEFAULT_STOP_TIMEOUT

    from wsframe.cli import build_parser

    assert DEFAULT_STOP_TIMEOUT == 10.0 and build_parser().parse_args(["echo"]).stop_timeout is None
    with Echo("--stop-timeout", "1.5") as echo:
        sock, rest = S.raw_ws(int(echo.url.rsplit(":", 1)[1].strip("/")))
        with sock:
            t0 = time.monotonic()
            echo.proc.send_signal(signal.SIGTERM)
            assert Parser(sock, rest).close_frame(5)[0] == 1001  # and this client never answers
            assert echo.proc.wait(TIMEOUT) == 0
            elapsed = time.monotonic() - t0
        assert 1.5 <= elapsed < 4.0, elapsed
        echo.wait_for(r"stop: dropping 1 connection\(s\) still open")


def test_message_timeout_option_closes_a_slow_message_1008() -> None:
    with Echo("--message-timeout", "0.5") as echo:
        sock, rest = S.raw_ws(int(echo.url.rsplit(":", 1)[1].strip("/")))
        with sock:
            frame = build_frame(Opcode.TEXT, b"never finished", client=True)
            sock.sendall(frame[:-1])  # the last byte never comes
            t0 = time.monotonic()
            assert Parser(sock, rest).close_frame(5)[0] == 1008
            assert time.monotonic() - t0 < 3.0
        assert echo.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("loop", ["selectors", "asyncio"])
def test_max_fragments_option(loop: str) -> None:
    """--max-fragments N: a message of N frames is echoed, N + 1 fails with 1009. The default,
    65536, is the most frames of an Autobahn 9.x message (the test_autobahn server suite runs the
    echo with its defaults), as --max-message-size's 16M is its largest message."""
    from wsframe.cli import build_parser

    assert build_parser().parse_args(["echo"]).max_fragments == 65536
    with Echo("--max-fragments", "5", "--loop", loop) as echo:
        sock, rest = S.raw_ws(int(echo.url.rsplit(":", 1)[1].strip("/")))
        with sock:
            p = Parser(sock, rest)
            for n in (5, 6):
                sock.sendall(b"".join(build_frame(Opcode.TEXT if i == 0 else Opcode.CONTINUATION, b"m",
                                                  fin=i == n - 1, client=True) for i in range(n)))
            assert p.next().payload == b"m" * 5
            assert p.close_frame()[0] == 1009
        assert echo.stop(signal.SIGTERM) == 0


def test_startup_says_pure_python_when_asked() -> None:
    with Echo(env={"WSFRAME_NO_EXTENSIONS": "1"}) as echo:
        assert "codec: pure Python (the environment asks for it:" in "".join(echo.seen)
        assert echo.stop(signal.SIGTERM) == 0


def test_rebuild_hint_in_a_source_tree(tmp_path: Path) -> None:
    from wsframe.cli import rebuild_hint

    (tmp_path / "setup.py").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    hint = rebuild_hint(str(tmp_path))
    assert f"not built in the source tree {tmp_path}" in hint
    assert 'pip install -e ".[dev]"' in hint and "build_ext --inplace" in hint


def test_rebuild_hint_for_an_installed_copy_gives_no_source_tree_advice(tmp_path: Path) -> None:
    from wsframe.cli import rebuild_hint

    site = tmp_path / "site-packages"
    site.mkdir()
    (tmp_path / "setup.py").write_text("")  # a setup.py above site-packages does not make it a source tree
    hint = rebuild_hint(str(site))
    assert f"the wsframe installed in {site} has no C extension" in hint
    assert "reinstall it with a C compiler on PATH" in hint
    assert "-e" not in hint.split() and "build_ext" not in hint and "\n" not in hint


def test_wss_with_cert_and_key_in_one_file(certs: Path) -> None:
    with Echo("--certfile", str(certs / "both.pem")) as echo:
        assert echo.url.startswith("wss://")
        result = run_cli("client", echo.url, "--cafile", str(certs / "ca.pem"), stdin="secure\n")
        assert result.returncode == 0, result.stderr
        assert "< secure" in result.stdout.splitlines()
        assert echo.stop() == 0


# -- the client ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_url():
    with Echo() as echo:
        yield echo.url
        echo.stop()


def test_client_text_and_binary(echo_url: str) -> None:
    text = run_cli("client", echo_url, stdin="hello\nwörld\n")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == ["< hello", "< wörld"]
    binary = run_cli("client", "--binary", echo_url, stdin="abc\n")
    assert binary.returncode == 0, binary.stderr
    assert binary.stdout.splitlines() == ["< binary 3 bytes: 616263"]
    hexed = run_cli("client", "--hex", echo_url, stdin="00ff 10\n0a\n")
    assert hexed.returncode == 0, hexed.stderr
    assert hexed.stdout.splitlines() == ["< binary 3 bytes: 00ff10", "< binary 1 bytes: 0a"]


def test_client_hex_with_bad_input_is_not_sent_and_exits_1(echo_url: str) -> None:
    hexed = run_cli("client", "--hex", echo_url, stdin="00ff 10\nxyz\n0a\n")
    assert hexed.returncode == 1, hexed.stderr
    assert hexed.stdout.splitlines() == ["< binary 3 bytes: 00ff10", "< binary 1 bytes: 0a"]  # the rest is sent
    errors = [line for line in hexed.stderr.splitlines() if "hex" in line]
    assert errors == ["line 2 not sent: b'xyz' is not hex digits (exit status will be 1)"]


def test_client_exits_when_the_server_closes_while_it_waits_on_input() -> None:
    with Echo() as echo:
        client = subprocess.Popen([sys.executable, "-m", "wsframe", "client", echo.url],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            assert client.stdin is not None and client.stdout is not None
            client.stdin.write("ping\n")
            client.stdin.flush()
            assert client.stdout.readline() == "< ping\n"  # connected and echoing; stdin stays open
            assert echo.stop(signal.SIGTERM) == 0  # the server closes every connection with 1001
            out, err = client.communicate(timeout=TIMEOUT)  # does not close stdin first: it is still open
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        assert client.returncode == 0, err
        assert "connection closed by the server: 1001" in err


def test_client_reports_an_error_close_code() -> None:
    from wsframe.server import Application, Server

    class Refuse(Application):
        def on_message(self, ws, data):  # type: ignore[no-untyped-def]
            ws.close(4000, "go away")

    server = Server(Refuse(), "127.0.0.1", 0)
    server.start()
    try:
        result = run_cli("client", server.url, stdin="hi\n")
    finally:
        server.shutdown(timeout=2.0)
    assert result.returncode == 1, result.stderr
    assert "connection closed by the server: 4000 go away" in result.stderr


def test_client_max_message_size() -> None:
    """The interactive client refuses messages over --max-message-size (1009), 16M by default."""
    from wsframe.server import Application, Server

    class Big(Application):
        def on_message(self, ws, data):  # type: ignore[no-untyped-def]
            ws.send(b"x" * int(data))

    server = Server(Big(), "127.0.0.1", 0, compression=False)  # uncompressed: the frame-size error below
    server.start()
    try:
        small = run_cli("client", server.url, "--max-message-size", "1K", stdin="1024\n1025\n")
        default = run_cli("client", server.url, stdin=f"{16 << 20}\n{(16 << 20) + 1}\n")
    finally:
        server.shutdown(timeout=2.0)
    for result, limit in ((small, 1024), (default, 16 << 20)):
        assert result.returncode == 1, result.stderr
        assert result.stdout.splitlines()[0].startswith(f"< binary {limit} bytes: 7878")
        assert len(result.stdout.splitlines()) == 1
        assert f"connection failed: 1009 frame payload of {limit + 1} bytes exceeds the limit of {limit} bytes" \
            in result.stderr, result.stderr


def test_client_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        result = run_cli("client", f"ws://127.0.0.1:{port}/")
    assert_one_line_error(result, 1, f"ws://127.0.0.1:{port}/", "connection refused")


@pytest.mark.parametrize("url, needle", [("http://127.0.0.1/", "not a ws:// or wss://"),
                                         ("ws://127.0.0.1:99999/", "Port out of range")])
def test_client_bad_url(url: str, needle: str) -> None:
    assert_one_line_error(run_cli("client", url), 2, url, needle)


def test_client_missing_cafile(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    assert_one_line_error(run_cli("client", "wss://127.0.0.1:1/", "--cafile", str(missing)), 2,
                          f"--cafile {missing}", "no such file")


# -- --loop asyncio / uvloop -------------------------------------------------------------------


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_echo_on_the_asyncio_server(loop: str) -> None:
    if loop == "uvloop":
        import uvloop  # noqa: F401  (in the [test] extra: a missing one fails)
    with Echo("--loop", loop) as echo:
        result = run_cli("client", echo.url, stdin="over asyncio\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["< over asyncio"]
        assert echo.stop(signal.SIGINT) == 0


def test_uvloop_missing_is_one_line() -> None:
    hide_uvloop = (
        "import sys\n"
        "sys.modules['uvloop'] = None  # import uvloop now raises ImportError\n"
        "from wsframe.cli import main\n"
        "sys.exit(main(['echo', '--port', '0', '--loop', 'uvloop']))\n"
    )
    result = subprocess.run([sys.executable, "-c", hide_uvloop], capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert_one_line_error(result, 2, "--loop uvloop", "uvloop is not installed")
