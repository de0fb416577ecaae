"""The ``wsframe`` command line: argument checking, start-up and one-line errors.

``wsframe echo``
    an echo server (ws://, or wss:// with ``--certfile``/``--keyfile``) on the
    selectors server, or on the asyncio one with ``--loop asyncio|uvloop``; it
    logs which codec is active and its URL at start, and stops gracefully on
    SIGINT/SIGTERM (exit status 0).
``wsframe client URL``
    a small interactive client: each line of standard input is sent (as text,
    or binary with ``--binary``/``--hex``), every message received is printed;
    it exits when the server closes, printing the close code and reason.

Every user error is one line on stderr naming the cause and the option, file,
host or port; no traceback unless ``-v`` is given. Exit status: 2 for a usage
error (a bad option value, a missing or unusable file, a host that is not an
address of this machine), 1 for a run-time error (port in use, connection
refused), 0 otherwise.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import ipaddress
import logging
import math
import os
import re
import socket
import ssl
import sys
import traceback
from typing import Any, NoReturn, Optional, Sequence

from ._cli_client import cmd_client
from ._cli_common import RUNTIME, USAGE, CLIError, check_bind, explain_bind, setup_logging, tls_context

__all__ = ["main", "build_parser", "CLIError"]

logger = logging.getLogger("wsframe.cli")

_DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024  # the largest Autobahn 9.x message
_DEFAULT_MAX_FRAGMENTS = 65536  # the most frames of an Autobahn 9.x message (4 MiB in 64-byte frames)
_MAX_SIZE = 1 << 62


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage block is left to ``--help``)."""

    def error(self, message: str) -> NoReturn:
        message = " ".join(message.split())
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- option value types (each error names the problem; argparse adds the option) --


def _port(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0..65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range: a port is 0..65535 (0 = any free port)")
    return value


def _whole(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _at_least_one(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: must be 1 or more")
    return value


def _count(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: must be 0 (no limit) or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds (must be > 0)")
    return value


def _size(text: str) -> int:
    """A size: plain bytes or with a K/M/G suffix (powers of 1024); 0 = unlimited."""
    t = text.strip().upper()
    t = t[:-1] if t.endswith("B") else t
    t = t[:-1] if t.endswith("I") else t
    mult = 1
    if t and t[-1] in "KMG":
        mult = 1024 ** ("KMG".index(t[-1]) + 1)
        t = t[:-1]
    try:
        number = float(t)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or number * mult > _MAX_SIZE:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (bytes, or a number with a K/M/G suffix such as 16M; 0 = no limit)")
    return int(number * mult)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}\.?$){_LABEL}(?:\.{_LABEL})*\.?$")


def _host(text: str) -> str:
    """An IP address or a syntactically valid host name (resolved when binding)."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", bare) or ":" in bare or not _HOSTNAME.match(bare):
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or host name")
    return bare


# -- the parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``wsframe`` command."""
    from . import __version__

    parser = _Parser(prog="wsframe", description="wsframe: WebSocket (RFC 6455) tools",
                     epilog="Exit status: 0 success, 1 run-time error (port in use, connection refused),"
                            " 2 usage error. Errors are one line; -v adds the traceback.")
    parser.add_argument("--version", action="version", version=f"wsframe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    echo = sub.add_parser("echo", help="run an echo server",
                          description="Serve WebSocket clients, echoing every message.")
    echo.add_argument("--host", type=_host, default="127.0.0.1",
                      help="address to listen on (default: %(default)s)")
    echo.add_argument("--port", type=_port, default=9001,
                      help="port 0..65535, 0 for any free one (default: %(default)s)")
    echo.add_argument("--certfile", help="PEM certificate chain: serve wss://")
    echo.add_argument("--keyfile", help="PEM private key, unencrypted (default: in --certfile)")
    echo.add_argument("--max-message-size", type=_size, default=_DEFAULT_MAX_MESSAGE, metavar="BYTES",
                      help="largest message accepted, 0 = no limit (K/M/G suffixes; default: 16M)")
    echo.add_argument("--max-fragments", type=_count, default=_DEFAULT_MAX_FRAGMENTS, metavar="N",
                      help="most frames of one message, 0 = no limit (default: %(default)s; the library's"
                           " is 4096)")
    echo.add_argument("--max-connections", type=_at_least_one, default=10000, metavar="N",
                      help="past it new connections get HTTP 503 (default: %(default)s)")
    echo.add_argument("--workers", type=_at_least_one, default=1, metavar="N",
                      help="processes sharing the port with SO_REUSEPORT (default: 1; --loop selectors only)")
    echo.add_argument("--ping-interval", type=_seconds, default=None, metavar="SECONDS",
                      help="send keepalive pings after this long without input (default: off)")
    echo.add_argument("--ping-timeout", type=_seconds, default=20.0, metavar="SECONDS",
                      help="fail the connection when no input follows a keepalive ping (default: 20)")
    echo.add_argument("--idle-timeout", type=_seconds, default=None, metavar="SECONDS",
                      help="close connections idle this long (default: off)")
    echo.add_argument("--message-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                      help="close (1008) a connection whose message takes longer than this to arrive"
                           " (default: %(default)g)")
    echo.add_argument("--stop-timeout", type=_seconds, default=None, metavar="SECONDS",
                      help="on SIGINT/SIGTERM, wait this long for the closing handshakes, then drop what is"
                           " left (default: 10; --loop selectors only)")
    echo.add_argument("--no-compression", dest="compression", action="store_false",
                      help="do not negotiate permessage-deflate (on by default)")
    echo.add_argument("--loop", choices=("selectors", "asyncio", "uvloop"), default="selectors",
                      help="server implementation: the selectors server (default), the asyncio server,"
                           " or the asyncio server on uvloop (needs uvloop installed)")
    echo.add_argument("-v", "--verbose", action="count", default=0,
                      help="log connections at debug level; show tracebacks of errors")
    echo.set_defaults(func=_cmd_echo)

    client = sub.add_parser(
        "client", help="interactive client: stdin lines are sent, messages printed",
        description="Send each line of standard input as a message and print every message received"
                    " ('< text', or '< binary N bytes: HEX'). Exits when the server closes (printing the"
                    " close code and reason; status 0 for 1000/1001, 1 otherwise) or, at the end of input,"
                    " once the server has been quiet for --linger seconds (then closes with 1000)."
                    " With --hex, a line that is not hex digits is not sent and makes the exit status 1.")
    client.add_argument("url", help="ws:// or wss:// URL")
    mode = client.add_mutually_exclusive_group()
    mode.add_argument("--binary", action="store_true",
                      help="send each line as a binary message (its UTF-8 bytes) instead of text")
    mode.add_argument("--hex", action="store_true",
                      help="each line is hex digits (spaces allowed), sent as a binary message;"
                           " binary messages received are printed in full hex")
    client.add_argument("--cafile", help="CA certificates (PEM) to trust for wss://")
    client.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    client.add_argument("--subprotocol", action="append", default=[], help="offer a subprotocol (repeatable)")
    client.add_argument("--max-message-size", type=_size, default=_DEFAULT_MAX_MESSAGE, metavar="BYTES",
                        help="largest message accepted, 0 = no limit (K/M/G suffixes; default: 16M)")
    client.add_argument("--linger", type=_seconds, default=0.5, metavar="SECONDS",
                        help="at the end of standard input, keep printing messages until none has come for"
                             " this long, then close with 1000 (default: 0.5; raise it for a server that answers"
                             " slowly, e.g. `echo hi | wsframe client URL --linger 5`)")
    client.add_argument("-v", "--verbose", action="count", default=0, help="show tracebacks of errors")
    client.set_defaults(func=cmd_client)
    return parser


# -- echo --------------------------------------------------------------------------------------


def codec_description() -> str:
    """Which codec is active: the C extension and its SIMD level, or pure Python and why."""
    from . import codec

    if codec.speedups_enabled:
        level = getattr(codec.implementation, "simd_level", lambda: "unknown")()
        return f"C extension (SIMD: {level})"
    if not codec._want_extensions():
        return "pure Python (the environment asks for it: WSFRAME_NO_SPEEDUPS or WSFRAME_NO_EXTENSIONS is set)"
    return "pure Python: " + rebuild_hint(os.path.dirname(os.path.dirname(os.path.abspath(codec.__file__))))


def rebuild_hint(where: str) -> str:
    """Why the C extension is missing and how to get it, for wsframe imported from ``where``:
    a source tree (a checkout, editable or on PYTHONPATH) is rebuilt in place; an
    installed copy (site-packages) is reinstalled, which needs a wheel or a compiler."""
    if os.path.isfile(os.path.join(where, "setup.py")) and os.path.isfile(os.path.join(where, "pyproject.toml")):
        return (f"the C extension is not built in the source tree {where}"
                f" (build it there: `pip install -e \".[dev]\"`, then"
                " `python setup.py -q build_ext --inplace` after each change to the C or Cython sources)")
    return (f"the wsframe installed in {where} has no C extension (no wheel fitted this platform and no"
            " C compiler was found when pip built it); reinstall it with a C compiler on PATH")


def _cmd_echo(args: argparse.Namespace) -> int:
    if args.keyfile and not args.certfile:
        raise CLIError("--keyfile needs --certfile", USAGE)
    if args.workers > 1 and args.loop != "selectors":
        raise CLIError(f"--workers {args.workers} needs --loop selectors (the asyncio server runs one process)",
                       USAGE)
    if args.workers > 1 and not (hasattr(os, "fork") and hasattr(socket, "SO_REUSEPORT")):
        raise CLIError(f"--workers {args.workers} needs fork() and SO_REUSEPORT, which {sys.platform} does not have:"
                       " run one process per port instead", USAGE)
    if args.stop_timeout is not None and args.loop != "selectors":
        raise CLIError("--stop-timeout needs --loop selectors (the asyncio echo waits 10 s)", USAGE)
    run_echo = None
    if args.loop != "selectors":
        run_echo = _asyncio_runner(args.loop)
    ssl_context = tls_context(args.certfile, args.keyfile) if args.certfile else None
    check_bind(args.host, args.port)
    setup_logging(args.verbose)
    from . import __version__

    logger.info("wsframe %s echo server (%s loop), codec: %s", __version__, args.loop, codec_description())
    limits: dict[str, Any] = dict(
        max_message_size=args.max_message_size or None,
        max_connections=args.max_connections,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        idle_timeout=args.idle_timeout,
        message_timeout=args.message_timeout,
    )
    try:
        if run_echo is not None:
            return int(run_echo(args.host, args.port, ssl_context=ssl_context, compression=args.compression,
                                use_uvloop=args.loop == "uvloop",
                                connection_options={"max_fragments": args.max_fragments or None}, **limits) or 0)
        return _run_selectors(args, ssl_context, limits)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL) or \
                isinstance(exc, socket.gaierror):
            raise explain_bind(exc, args.host, args.port) from exc
        raise


def _run_selectors(args: argparse.Namespace, ssl_context: Optional[ssl.SSLContext],
                   limits: dict) -> int:
    from .server import EchoApplication, Server, run_workers
    from .server.loop import DEFAULT_STOP_TIMEOUT

    extensions = []
    if args.compression:
        from .permessage_deflate import ServerPerMessageDeflate

        extensions.append(ServerPerMessageDeflate())
    options = dict(limits, ssl_context=ssl_context, extensions=extensions,
                   max_fragments=args.max_fragments or None)
    stop_timeout = DEFAULT_STOP_TIMEOUT if args.stop_timeout is None else args.stop_timeout
    if args.workers > 1:
        return run_workers(EchoApplication, args.workers, args.host, args.port, stop_timeout=stop_timeout,
                           **options)
    server = Server(EchoApplication(), args.host, args.port, **options)
    server.install_signal_handlers(timeout=stop_timeout)
    server.serve_forever()
    return 0


def _asyncio_runner(loop: str) -> Any:
    """``wsframe.asyncio.echo.run_echo``, imported only for ``--loop asyncio|uvloop``."""
    try:
        found = importlib.util.find_spec("wsframe.asyncio.echo") is not None
    except ImportError:
        found = False
    if not found:
        raise CLIError(f"--loop {loop}: the asyncio server (wsframe.asyncio.echo) is not in this wsframe",
                       RUNTIME)
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise CLIError("--loop uvloop: uvloop is not installed (pip install uvloop)", USAGE) from None
    from .asyncio.echo import run_echo

    return run_echo


# -- entry point ---------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``wsframe`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"wsframe {args.command}"
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except CLIError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        return exc.status
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen failure: still one line
        if args.verbose:
            traceback.print_exc()
        print(f"{prog}: {type(exc).__name__}: {exc} (run with -v for the traceback)", file=sys.stderr, flush=True)
        return RUNTIME
