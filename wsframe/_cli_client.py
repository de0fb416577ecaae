"""``wsframe client URL``: each line of standard input is sent, every message
received is printed; see :mod:`wsframe.cli`."""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import threading
import time
from typing import Any, List, Type

from ._cli_common import USAGE, CLIError, check_file, setup_logging

__all__ = ["cmd_client"]


def cmd_client(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from .client import connect
    from .exceptions import ConnectionClosed, ConnectionClosedOK, HandshakeError

    try:
        parts = urlsplit(args.url)
        scheme, host, _ = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError as exc:
        raise CLIError(f"{args.url}: not a valid URL ({exc})", USAGE) from None
    if scheme not in ("ws", "wss") or not host:
        raise CLIError(f"{args.url}: not a ws:// or wss:// URL with a host", USAGE)
    if args.cafile:
        check_file("--cafile", args.cafile)
    ctx = None
    if scheme == "wss" and (args.insecure or args.cafile):
        try:
            ctx = ssl.create_default_context(cafile=args.cafile)
        except ssl.SSLError as exc:
            raise CLIError(f"--cafile {args.cafile}: no usable PEM CA certificate in it ({exc.reason})",
                           USAGE) from None
        if args.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    if args.verbose:
        setup_logging(args.verbose)
    try:
        ws = connect(args.url, ssl_context=ctx, subprotocols=args.subprotocol,
                     max_message_size=args.max_message_size or None)
    except ssl.SSLCertVerificationError as exc:
        raise CLIError(f"cannot connect to {args.url}: the server's certificate is not trusted"
                       f" ({exc.verify_message}; see --cafile, --insecure)") from exc
    except socket.gaierror as exc:
        raise CLIError(f"cannot connect to {args.url}: cannot resolve {host} ({exc.strerror})") from exc
    except ConnectionRefusedError as exc:
        raise CLIError(f"cannot connect to {args.url}: connection refused") from exc
    except (TimeoutError, socket.timeout) as exc:
        raise CLIError(f"cannot connect to {args.url}: timed out") from exc
    except HandshakeError as exc:
        raise CLIError(f"{args.url}: WebSocket handshake failed: {exc}") from exc
    except OSError as exc:
        raise CLIError(f"cannot connect to {args.url}: {exc.strerror or exc}") from exc
    print(f"connected to {args.url}" + (f" ({ws.subprotocol})" if ws.subprotocol else ""),
          file=sys.stderr, flush=True)

    last = [time.monotonic()]
    we_closed = False
    eof = threading.Event()
    not_sent: List[int] = []  # line numbers of --hex lines that were not hex digits: exit status 1
    threading.Thread(target=_send_stdin, args=(ws, args, eof, ConnectionClosed, not_sent), daemon=True,
                     name="wsframe-client-stdin").start()
    try:
        while True:
            try:
                msg = ws.recv(timeout=0.1)
            except (TimeoutError, socket.timeout):
                if eof.is_set() and time.monotonic() - last[0] >= args.linger:
                    we_closed = True
                    ws.close(1000)
                continue
            last[0] = time.monotonic()
            _print_message(msg, args.hex)
    except ConnectionClosed as exc:
        if we_closed:
            what = "connection closed"
        elif exc.error is not None and exc.code != 1006:  # this client failed it (e.g. 1009, 1002)
            what = "connection failed"
        else:
            what = "connection closed by the server"
        print(f"{what}: {exc.code} {exc.reason}".rstrip(), file=sys.stderr, flush=True)
        return 0 if isinstance(exc, ConnectionClosedOK) and not not_sent else 1
    except KeyboardInterrupt:
        ws.close(1000)
        print("connection closed: 1000 (interrupted)", file=sys.stderr, flush=True)
        return 1 if not_sent else 0


def _print_message(msg: Any, full_hex: bool) -> None:
    if isinstance(msg, str):
        print(f"< {msg}", flush=True)
    else:
        data = bytes(msg)
        shown = data.hex() if full_hex or len(data) <= 64 else data[:64].hex() + "..."
        print(f"< binary {len(data)} bytes: {shown}", flush=True)


def _send_stdin(ws: Any, args: argparse.Namespace, eof: threading.Event, closed: Type[BaseException],
                not_sent: List[int]) -> None:
    """Send each line of standard input; set ``eof`` at its end. Reads the file
    descriptor directly, so the process can exit while this thread waits.
    With --hex, a line that is not hex digits is reported, not sent, and
    its number appended to ``not_sent``."""
    pending = b""
    number = 0
    try:
        while True:
            chunk = os.read(0, 65536)
            data = pending + chunk
            if chunk:
                *lines, pending = data.split(b"\n")
            else:
                lines = [data] if data else []
            for raw in lines:
                number += 1
                line = raw[:-1] if raw.endswith(b"\r") else raw
                if args.hex:
                    try:
                        payload = bytes.fromhex(line.decode("ascii", "replace"))
                    except ValueError:
                        not_sent.append(number)
                        print(f"line {number} not sent: {line[:40]!r} is not hex digits (exit status will be 1)",
                              file=sys.stderr, flush=True)
                        continue
                    ws.send(payload)
                elif args.binary:
                    ws.send(line)
                else:
                    ws.send(line.decode("utf-8", "replace"))
            if not chunk:
                break
    except closed:
        pass
    except OSError:
        pass
    finally:
        eof.set()
