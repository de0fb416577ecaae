"""The ``wsframe`` command line.

``wsframe echo``
    an echo server (ws://, or wss:// with ``--certfile``/``--keyfile``); it logs
    its URL at start and stops gracefully on SIGINT/SIGTERM (exit status 0).
``wsframe client URL``
    a small interactive client: each line of standard input is sent as a text
    message, every message received is printed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from typing import Optional, Sequence

__all__ = ["main", "build_parser"]

_DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024  # the largest Autobahn 9.x message


def _size(text: str) -> int:
    """Parse a size: plain bytes or with a K/M/G suffix (powers of 1024); 0 = unlimited."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    if t and t[-1] in "KMG":
        mult = 1024 ** ("KMG".index(t[-1]) + 1)
        t = t[:-1]
    value = int(float(t) * mult)
    if value < 0:
        raise argparse.ArgumentTypeError("size must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``wsframe`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="wsframe", description="wsframe: WebSocket (RFC 6455) tools")
    parser.add_argument("--version", action="version", version=f"wsframe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    echo = sub.add_parser("echo", help="run an echo server",
                          description="Serve WebSocket clients, echoing every message.")
    echo.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    echo.add_argument("--port", type=int, default=9001, help="port, 0 for any free one (default: %(default)s)")
    echo.add_argument("--certfile", help="PEM certificate chain: serve wss://")
    echo.add_argument("--keyfile", help="PEM private key (default: in --certfile)")
    echo.add_argument("--max-message-size", type=_size, default=_DEFAULT_MAX_MESSAGE, metavar="BYTES",
                      help="largest message accepted, 0 = no limit (K/M/G suffixes; default: 16M)")
    echo.add_argument("--max-connections", type=int, default=10000, help="default: %(default)s")
    echo.add_argument("--workers", type=int, default=1, metavar="N",
                      help="processes sharing the port with SO_REUSEPORT (default: 1)")
    echo.add_argument("--ping-interval", type=float, default=None, metavar="SECONDS",
                      help="send keepalive pings after this long without input (default: off)")
    echo.add_argument("--ping-timeout", type=float, default=20.0, metavar="SECONDS",
                      help="fail the connection when no input follows a keepalive ping (default: 20)")
    echo.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                      help="close connections idle this long (default: off)")
    echo.add_argument("--no-compression", dest="compression", action="store_false",
                      help="do not negotiate permessage-deflate (on by default when available)")
    echo.add_argument("-v", "--verbose", action="count", default=0,
                      help="log connections at debug level")
    echo.set_defaults(func=_cmd_echo)

    client = sub.add_parser("client", help="interactive client: stdin lines are sent, messages printed")
    client.add_argument("url", help="ws:// or wss:// URL")
    client.add_argument("--cafile", help="CA certificates (PEM) to trust for wss://")
    client.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    client.add_argument("--subprotocol", action="append", default=[], help="offer a subprotocol (repeatable)")
    client.add_argument("-v", "--verbose", action="count", default=0)
    client.set_defaults(func=_cmd_client)
    return parser


def _setup_logging(verbose: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _cmd_echo(args: argparse.Namespace) -> int:
    from .server import EchoApplication, Server, make_ssl_context, run_workers

    _setup_logging(args.verbose)
    ssl_context = None
    if args.certfile:
        ssl_context = make_ssl_context(args.certfile, args.keyfile)
    elif args.keyfile:
        print("wsframe echo: --keyfile needs --certfile", file=sys.stderr)
        return 2
    extensions = []
    if args.compression:
        try:
            from .permessage_deflate import ServerPerMessageDeflate
        except ImportError:  # pragma: no cover - compression not available in this build
            pass
        else:
            extensions.append(ServerPerMessageDeflate())
    options = dict(
        ssl_context=ssl_context,
        extensions=extensions,
        max_message_size=args.max_message_size or None,
        max_connections=args.max_connections,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        idle_timeout=args.idle_timeout,
    )
    if args.workers > 1:
        return run_workers(EchoApplication, args.workers, args.host, args.port, **options)
    server = Server(EchoApplication(), args.host, args.port, **options)
    server.install_signal_handlers()
    server.serve_forever()
    return 0


def _cmd_client(args: argparse.Namespace) -> int:
    import ssl

    from .client import ConnectionClosed, connect

    if args.verbose:
        _setup_logging(args.verbose)
    ctx = None
    if args.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        ws = connect(args.url, ssl_context=ctx, cafile=args.cafile, subprotocols=args.subprotocol,
                     max_message_size=None)
    except (OSError, Exception) as exc:  # noqa: BLE001 - report any failure to the user
        print(f"wsframe client: cannot connect to {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"connected to {args.url}" + (f" ({ws.subprotocol})" if ws.subprotocol else ""),
          file=sys.stderr)
    done = threading.Event()
    status = {"code": 0}
    last = [time.monotonic()]

    def reader() -> None:
        try:
            for msg in ws:
                last[0] = time.monotonic()
                if isinstance(msg, bytes):
                    print(f"< (binary, {len(msg)} bytes) {msg[:64].hex()}", flush=True)
                else:
                    print(f"< {msg}", flush=True)
        except ConnectionClosed as exc:
            status["code"] = 1
            print(f"connection closed: {exc.code} {exc.reason}", file=sys.stderr)
        else:
            print(f"connection closed: {ws.close_code} {ws.close_reason or ''}".rstrip(), file=sys.stderr)
        finally:
            done.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        for line in sys.stdin:
            if done.is_set():
                break
            try:
                ws.send(line.rstrip("\r\n"))
            except ConnectionClosed:
                break
        else:
            # end of input: give replies in flight a moment (until 0.5 s of quiet, 5 s at most)
            last[0] = time.monotonic()
            end = last[0] + 5
            while not done.is_set() and time.monotonic() < end and time.monotonic() - last[0] < 0.5:
                done.wait(0.05)
    except KeyboardInterrupt:
        pass
    ws.close()
    done.wait(ws.close_timeout or 10)
    return status["code"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``wsframe`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
