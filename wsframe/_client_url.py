"""The one parser of ws:// and wss:// URLs, shared by the blocking and the asyncio clients."""

from __future__ import annotations

from typing import Tuple
from urllib.parse import urlsplit

__all__ = ["parse_url"]


def parse_url(url: str) -> Tuple[bool, str, int, str, str]:
    """``(secure, host, port, path with query, Host header)`` of a ws:// or wss:// URL; ValueError otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    secure = scheme == "wss"
    port = parts.port or (443 if secure else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host_header = f"[{host}]" if ":" in host else host
    if port != (443 if secure else 80):
        host_header += f":{port}"
    return secure, host, port, path, host_header
