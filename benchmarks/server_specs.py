"""What the server benchmarks run: the modes, the rows and the servers.

Each server is a :class:`ServerSpec`: a name (the report's row), a check that
returns its version or raises :class:`Unavailable` (package missing, no node,
no compiler), and its command line for a port. The scripts are in
``benchmarks/servers/``; the C programs in ``benchmarks/loadgen/`` are built
here with ``cc`` when missing or older than their sources.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOADGEN_DIR = HERE / "loadgen"
SERVERS_DIR = HERE / "servers"
NODE_PEER_DIRS = (SERVERS_DIR / "node_modules", ROOT / "tests" / "peers" / "node_modules")

# Server names (the report's rows and the targets' operands).
WSFRAME = "wsframe (user Application)"  # benchmarks/servers/wsframe_app.py: what users write
WSFRAME_BUILTIN = "wsframe echo (built-in)"  # the CLI's `wsframe echo` (selectors)
ASYNCIO = "wsframe.asyncio coroutine API (asyncio)"  # `wsframe echo --loop asyncio`: async for / await ws.send
# On uvloop, both APIs as a user writes them (servers/wsframe_asyncio_app.py, servers/wsframe_asyncio_coro.py).
ASYNCIO_APP_UVLOOP = "wsframe.asyncio callback API (uvloop)"  # serve(app=Application())
ASYNCIO_UVLOOP = "wsframe.asyncio coroutine API (uvloop)"  # serve(handler): async for / await ws.send
PICOWS = "picows"
UVICORN_WSFRAME = "uvicorn + wsframe"
UVICORN_SANSIO = "uvicorn + websockets-sansio"
UVICORN_WSPROTO = "uvicorn + wsproto"
UVICORN_BUILTINS = (UVICORN_SANSIO, UVICORN_WSPROTO)
HYPERCORN = "hypercorn (wsproto)"
HYPERCORN_ACCEL = "hypercorn + wsframe accelerator"
NODE_WS = "ws (node)"
FLOOR = "bare selectors (floor)"
CEILING = "C epoll (ceiling)"


class Unavailable(Exception):
    """This server cannot run here (package missing, no compiler, no node...)."""


# --------------------------------------------------------------------------- modes and rows


@dataclass(frozen=True)
class Mode:
    name: str
    repeats: int
    echo_seconds: float  # measured phase of one echo row
    echo_messages: int  # and its message bound
    warmup_seconds: float
    handshake_seconds: float
    handshake_count: int
    idle_conns: int
    idle_repeats: int
    timeout: float  # generator's connect / drain / close timeout


MODES = {
    "smoke": Mode("smoke", 1, 0.15, 300, 0.0, 0.15, 40, 40, 1, 5.0),
    "quick": Mode("quick", 6, 0.3, 400_000, 0.1, 0.3, 20_000, 2000, 1, 10.0),
    "full": Mode("full", 7, 1.5, 5_000_000, 0.3, 1.0, 200_000, 2000, 3, 10.0),
}


@dataclass(frozen=True)
class Row:
    kind: str  # "echo", "handshake", "memory"
    conns: int = 0
    window: int = 0
    size: int = 0

    @property
    def key(self) -> str:
        if self.kind == "echo":
            return f"echo c{self.conns} w{self.window} {self.size}B"
        return self.kind

    @property
    def label(self) -> str:
        if self.kind == "echo":
            style = "ping-pong" if self.window == 1 else f"pipelined w{self.window}"
            size = f"{self.size} B" if self.size < 1024 else f"{self.size // 1024} KiB"
            conns = f"{self.conns} conn" if self.conns == 1 else f"{self.conns} conns"
            return f"{conns}, {style}, {size}"
        if self.kind == "handshake":
            return "handshakes/s (8 concurrent)"
        return "bytes per idle connection"

    @property
    def short(self) -> str:
        """A column heading: '1c pp 16B', '64c w16 4K', 'handshakes/s', 'idle bytes'."""
        if self.kind == "echo":
            style = "pp" if self.window == 1 else f"w{self.window}"
            size = f"{self.size}B" if self.size < 1024 else f"{self.size // 1024}K"
            return f"{self.conns}c {style} {size}"
        return "handshakes/s" if self.kind == "handshake" else "idle bytes"

    @property
    def pipelined(self) -> bool:
        return self.kind == "echo" and self.window > 1


ECHO_ROWS = [Row("echo", c, w, s) for c in (1, 64) for w in (1, 16) for s in (16, 4096)]
HANDSHAKE_ROW = Row("handshake", 8)
MEMORY_ROW = Row("memory")
ALL_ROWS = ECHO_ROWS + [HANDSHAKE_ROW, MEMORY_ROW]


# --------------------------------------------------------------------------- servers


@dataclass
class ServerSpec:
    name: str
    check: Callable[[], str]  # returns a version string or raises Unavailable
    argv: Callable[[int], List[str]]  # port -> command line
    cwd: Path = SERVERS_DIR
    reference: bool = False
    note: str = ""  # what the server runs, for the report


def _py_version(module: str, dist: Optional[str] = None) -> str:
    if importlib.util.find_spec(module) is None:
        raise Unavailable(f"{dist or module} is not installed (pip install '.[bench]')")
    try:
        return importlib.metadata.version(dist or module)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _check_wsframe(extra: str = "") -> str:
    """Version and codec of the wsframe that ``python -m wsframe`` runs from the repository root."""
    code = "; ".join(filter(None, ["import wsframe, wsframe.codec as c", extra,
                                   "print(wsframe.__version__, 'C' if c.speedups_enabled else 'pure-Python')"]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise Unavailable(f"wsframe is not importable: {proc.stderr.strip()[-300:]}")
    version, codec = proc.stdout.split()
    return f"{version} ({codec} codec)"


def _node_ws_dir(install: bool) -> Path:
    if shutil.which("node") is None:
        raise Unavailable("node is not installed")
    for d in NODE_PEER_DIRS:
        if (d / "ws" / "package.json").is_file():
            return d
    if install and shutil.which("npm"):
        try:
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--loglevel=error"],
                           cwd=SERVERS_DIR, check=True, timeout=180, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        except (subprocess.SubprocessError, OSError) as exc:
            raise Unavailable(f"npm install ws failed: {exc}") from None
        if (SERVERS_DIR / "node_modules" / "ws" / "package.json").is_file():
            return SERVERS_DIR / "node_modules"
    raise Unavailable("npm ws is not installed (cd benchmarks/servers && npm install)")


def build(name: str) -> Path:
    """Builds benchmarks/loadgen/NAME from NAME.c with cc when missing or stale."""
    src = LOADGEN_DIR / f"{name}.c"
    out = LOADGEN_DIR / name
    deps = [src, LOADGEN_DIR / "wsutil.h"]
    if out.exists() and all(out.stat().st_mtime >= d.stat().st_mtime for d in deps):
        return out
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise Unavailable("no C compiler (cc) to build the load generator")
    tmp = out.with_name(f".{name}.{os.getpid()}.tmp")
    proc = subprocess.run([cc, "-O2", "-std=gnu11", "-Wall", "-o", str(tmp), str(src)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise Unavailable(f"building {name} failed:\n{proc.stderr[-2000:]}")
    os.replace(tmp, out)
    return out


def server_specs(install: bool = False) -> List[ServerSpec]:
    """Every server, in the report's order (wsframe's first, the references last)."""
    py = sys.executable
    node_dir: Dict[str, Path] = {}

    def check_node() -> str:
        d = _node_ws_dir(install)
        node_dir["d"] = d
        version = json.loads((d / "ws" / "package.json").read_text()).get("version", "?")
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        return f"{version}, node {node}"

    def check_refecho() -> str:
        build("refecho")
        return "benchmarks/loadgen/refecho.c"

    def check_uvloop_wsframe() -> str:
        return f"{_check_wsframe()}, uvloop {_py_version('uvloop')}"

    def check_uvloop_app() -> str:  # serve(app=...) is in wsframe.asyncio.app_protocol
        return f"{_check_wsframe('import wsframe.asyncio.app_protocol')}, uvloop {_py_version('uvloop')}"

    def check_uvicorn(ws: str) -> Callable[[], str]:
        def check() -> str:
            v = f"uvicorn {_py_version('uvicorn')}, uvloop {_py_version('uvloop')}"
            if ws == "wsframe":
                return f"{v}, wsframe {_check_wsframe('import wsframe.uvicorn')}"
            if ws == "wsproto":
                return f"{v}, wsproto {_py_version('wsproto')}"
            return f"{v}, websockets {_py_version('websockets')}"

        return check

    def check_hypercorn(accelerate: bool) -> Callable[[], str]:
        def check() -> str:
            v = f"hypercorn {_py_version('hypercorn')}, wsproto {_py_version('wsproto')}"
            if accelerate:
                v += f", wsframe {_check_wsframe('import wsframe.integrations.wsproto')}"
            return v

        return check

    def script(name: str, *extra: str) -> Callable[[int], List[str]]:
        return lambda port: [py, str(SERVERS_DIR / name), str(port), "127.0.0.1", *extra]

    def cli(*extra: str) -> Callable[[int], List[str]]:
        return lambda port: [py, "-m", "wsframe", "echo", "--host", "127.0.0.1", "--port", str(port), *extra]

    return [
        ServerSpec(WSFRAME, _check_wsframe, script("wsframe_app.py"),
                   note="selectors server, `Application.on_message` calling `ws.send(data)` (servers/wsframe_app.py)"),
        ServerSpec(WSFRAME_BUILTIN, _check_wsframe, cli("--no-compression"), cwd=ROOT,
                   note="`wsframe echo` (selectors server, built-in echo application)"),
        ServerSpec(ASYNCIO_APP_UVLOOP, check_uvloop_app, script("wsframe_asyncio_app.py"),
                   note="uvloop, `wsframe.asyncio.serve(app=Echo())`: a user `Application` whose `on_message` "
                        "calls `ws.send(data)` (servers/wsframe_asyncio_app.py)"),
        ServerSpec(ASYNCIO_UVLOOP, check_uvloop_wsframe, script("wsframe_asyncio_coro.py"),
                   note="uvloop, `wsframe.asyncio.serve(handler)`: a user handler `async for m in ws: await "
                        "ws.send(m)` (servers/wsframe_asyncio_coro.py)"),
        ServerSpec(ASYNCIO, _check_wsframe, cli("--no-compression", "--loop", "asyncio"), cwd=ROOT,
                   note="`wsframe echo --loop asyncio` (default asyncio loop): handler "
                        "`async for m in ws: await ws.send(m)`"),
        ServerSpec(PICOWS, lambda: f"{_py_version('picows')}, uvloop {_py_version('uvloop')}",
                   script("picows_echo.py"), note="picows on uvloop, frame-level echo"),
        ServerSpec(UVICORN_WSFRAME, check_uvicorn("wsframe"), script("uvicorn_echo.py", "--ws", "wsframe"),
                   note="uvicorn, uvloop, `--ws wsframe.uvicorn:WSFrameProtocol`, plain ASGI echo"),
        ServerSpec(UVICORN_SANSIO, check_uvicorn("websockets-sansio"),
                   script("uvicorn_echo.py", "--ws", "websockets-sansio"),
                   note="uvicorn, uvloop, `--ws websockets-sansio`, the same app"),
        ServerSpec(UVICORN_WSPROTO, check_uvicorn("wsproto"), script("uvicorn_echo.py", "--ws", "wsproto"),
                   note="uvicorn, uvloop, `--ws wsproto`, the same app"),
        ServerSpec(HYPERCORN, check_hypercorn(False), script("hypercorn_echo.py"),
                   note="hypercorn (asyncio), the same ASGI app, plain wsproto"),
        ServerSpec(HYPERCORN_ACCEL, check_hypercorn(True), script("hypercorn_echo.py", "--accelerate"),
                   note="the same with `wsframe.integrations.wsproto.install()`"),
        ServerSpec("websockets", lambda: _py_version("websockets"), script("websockets_echo.py"),
                   note="websockets asyncio `serve`"),
        ServerSpec("aiohttp", lambda: _py_version("aiohttp"), script("aiohttp_echo.py"),
                   note="aiohttp `WebSocketResponse`"),
        ServerSpec("wsproto", lambda: _py_version("wsproto"), script("wsproto_echo.py"),
                   note="wsproto on a selectors loop"),
        ServerSpec(NODE_WS, check_node, lambda port: ["node", str(SERVERS_DIR / "ws_echo.js"), str(port), "127.0.0.1"],
                   note="npm `ws` `WebSocketServer`"),
        ServerSpec(FLOOR, lambda: "benchmarks/servers/bare_echo.py", script("bare_echo.py"), reference=True,
                   note="reference: bare selectors loop, cheapest framing"),
        ServerSpec(CEILING, check_refecho, lambda port: [str(LOADGEN_DIR / "refecho"), str(port), "127.0.0.1"],
                   reference=True, note="reference: one-thread C epoll echo, minimal framing (loadgen/refecho.c)"),
    ]
