"""Shared by the ``wsframe`` commands: the one-line user error, logging set-up,
and checks that turn unusable files, TLS material and listen addresses into
one line naming the option and the cause."""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
import ssl
import sys
from typing import Optional

__all__ = ["CLIError", "USAGE", "RUNTIME", "setup_logging", "check_file", "tls_context", "explain_bind",
           "check_bind"]

USAGE, RUNTIME = 2, 1


class CLIError(Exception):
    """A user error: printed as one line; ``status`` is 2 (usage) or 1 (run time)."""

    def __init__(self, message: str, status: int = RUNTIME) -> None:
        super().__init__(message)
        self.status = status


def setup_logging(verbose: int) -> None:
    """Log to stderr with time and pid; debug level (every connection) with ``-v``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read(1 << 20).decode("latin-1")


def check_file(option: str, path: str) -> None:
    """A CLIError (usage) unless ``path`` is a readable file."""
    if not os.path.exists(path):
        raise CLIError(f"{option} {path}: no such file", USAGE)
    if os.path.isdir(path):
        raise CLIError(f"{option} {path}: is a directory, not a PEM file", USAGE)
    try:
        _read_text(path)
    except OSError as exc:
        raise CLIError(f"{option} {path}: cannot read it ({exc.strerror})", USAGE) from exc


class _EncryptedKey(Exception):
    pass


def tls_context(certfile: str, keyfile: Optional[str]) -> ssl.SSLContext:
    """The server TLS context, or a CLIError saying what is wrong with the files."""
    check_file("--certfile", certfile)
    if keyfile is not None:
        check_file("--keyfile", keyfile)
    key_source = ("--keyfile", keyfile) if keyfile else ("--certfile", certfile)

    def no_password() -> str:
        raise _EncryptedKey()

    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_cert_chain(certfile, keyfile, password=no_password)
    except _EncryptedKey:
        raise CLIError(f"{key_source[0]} {key_source[1]}: the private key is encrypted"
                       " (give an unencrypted key)", USAGE) from None
    except ssl.SSLError as exc:
        raise CLIError(_explain_tls(exc, certfile, keyfile), USAGE) from exc
    from .server import make_ssl_context

    return make_ssl_context(certfile, keyfile)


def _explain_tls(exc: ssl.SSLError, certfile: str, keyfile: Optional[str]) -> str:
    cert_text = _read_text(certfile)
    key_text = _read_text(keyfile) if keyfile else cert_text
    if "-----BEGIN CERTIFICATE-----" not in cert_text:
        return f"--certfile {certfile}: no PEM certificate in it"
    if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
        where = f"--keyfile {keyfile}" if keyfile else f"the key in --certfile {certfile}"
        return f"{where} does not match the certificate in --certfile {certfile}"
    if not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", key_text):
        if keyfile:
            return f"--keyfile {keyfile}: no PEM private key in it"
        return f"--certfile {certfile} has a certificate but no private key: give the key with --keyfile"
    reason = exc.reason or exc.strerror or str(exc)
    return f"--certfile {certfile}" + (f" / --keyfile {keyfile}" if keyfile else "") + \
        f": cannot load the certificate and key ({reason})"


def explain_bind(exc: OSError, host: str, port: int) -> CLIError:
    """One line for a failure to listen on host:port."""
    if isinstance(exc, socket.gaierror):
        return CLIError(f"--host {host}: cannot resolve it ({exc.strerror})", USAGE)
    if exc.errno == errno.EADDRINUSE:
        return CLIError(f"port {port} on {host} is already in use (--port; 0 picks a free port)")
    if exc.errno == errno.EACCES:
        return CLIError(f"no permission to listen on {host} port {port} (ports below 1024 need privileges)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return CLIError(f"--host {host} is not an address of this machine", USAGE)
    return CLIError(f"cannot listen on {host} port {port}: {exc.strerror or exc}")


def check_bind(host: str, port: int) -> None:
    """Fail early, in one line, when host:port cannot be listened on (checked
    before anything is logged; the server binds for real right after)."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise explain_bind(exc, host, port) from exc
    error: Optional[OSError] = None
    for family, type_, proto, _, addr in infos:
        with socket.socket(family, type_, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(addr)
                return
            except OSError as exc:
                error = exc
    if error is not None:
        raise explain_bind(error, host, port) from error
