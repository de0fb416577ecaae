"""TLS for the server: the server-side context, and one step of a non-blocking TLS handshake."""

from __future__ import annotations

import ssl
from typing import Optional

from .poller import EV_READ, EV_WRITE

__all__ = ["make_ssl_context", "tls_handshake_step", "WANT_IO", "TLS_DONE", "TLS_FAILED"]

WANT_IO = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
TLS_DONE = 0  # the handshake completed
TLS_FAILED = -1  # the handshake failed: drop the connection


def make_ssl_context(certfile: str, keyfile: Optional[str] = None) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later, ALPN ``http/1.1``) with the
    certificate chain and private key from PEM files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def tls_handshake_step(sock: ssl.SSLSocket) -> "tuple[int, Optional[BaseException]]":
    """Advance the handshake of a non-blocking TLS socket.

    Returns ``(TLS_DONE, None)``, ``(EV_READ or EV_WRITE, None)`` (what to wait
    for before the next step) or ``(TLS_FAILED, exception)``.
    """
    try:
        sock.do_handshake()
    except ssl.SSLWantReadError:
        return EV_READ, None
    except ssl.SSLWantWriteError:
        return EV_WRITE, None
    except (ssl.SSLError, OSError) as exc:
        return TLS_FAILED, exc
    return TLS_DONE, None
