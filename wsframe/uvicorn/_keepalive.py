"""Keepalive pings for the uvicorn protocol (``ws_ping_interval`` / ``ws_ping_timeout``).

A mixin: every ``ping_interval`` seconds (less the last round trip) a ping
with a random 4-byte payload goes out; the matching pong cancels the
deadline and schedules the next ping; no pong within ``ping_timeout``
closes the connection with 1011 "keepalive ping timeout". Stale or
unsolicited pongs are ignored. Two timer handles at most per connection, no
task. The host class provides ``loop``, ``transport`` and ``_conn``.
"""

from __future__ import annotations

import random
import struct
from typing import Any, Optional

from .._driver import CODE_KEEPALIVE, REASON_KEEPALIVE
from ..connection import State

__all__ = ["Keepalive"]

_OPEN = State.OPEN


class Keepalive:
    """Ping/pong keepalive driven by loop timers (see the module docstring)."""

    __slots__ = (
        "ping_interval",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "pending_ping_payload",
        "ping_sent_at",
        "last_ping_rtt",
    )

    loop: Any
    transport: Any
    _conn: Any

    def init_keepalive(self, interval: Optional[float], timeout: Optional[float]) -> None:
        self.ping_interval = interval
        self.ping_timeout = timeout
        self.ping_timer: Any = None
        self.pong_timer: Any = None
        self.pending_ping_payload: Optional[bytes] = None
        self.ping_sent_at = 0.0
        self.last_ping_rtt = 0.0

    def start_keepalive(self) -> None:
        if self.ping_interval is not None and self.ping_interval > 0:
            self._schedule_ping()

    def stop_keepalive(self) -> None:
        if self.ping_timer is not None:
            self.ping_timer.cancel()
            self.ping_timer = None
        if self.pong_timer is not None:
            self.pong_timer.cancel()
            self.pong_timer = None
        self.pending_ping_payload = None

    def _schedule_ping(self) -> None:
        delay = max(0.0, self.ping_interval - self.last_ping_rtt)  # type: ignore[operator]
        self.ping_timer = self.loop.call_later(delay, self._send_keepalive_ping)

    def _send_keepalive_ping(self) -> None:
        self.ping_timer = None
        conn = self._conn
        if conn.state is not _OPEN or self.transport.is_closing():
            return
        self.pending_ping_payload = payload = struct.pack("!I", random.getrandbits(32))
        self.ping_sent_at = self.loop.time()
        conn.send_ping(payload)
        self.transport.write(conn.data_to_send())
        if self.ping_timeout is not None:
            self.pong_timer = self.loop.call_later(self.ping_timeout, self._keepalive_timeout)
        else:
            self._schedule_ping()

    def on_pong(self, payload: bytes) -> None:
        """A pong arrived: if it answers our ping, note the round trip and plan the next ping."""
        if self.pending_ping_payload is None or bytes(payload) != self.pending_ping_payload:
            return
        self.last_ping_rtt = self.loop.time() - self.ping_sent_at
        self.pending_ping_payload = None
        if self.pong_timer is not None:
            self.pong_timer.cancel()
            self.pong_timer = None
            self._schedule_ping()

    def _keepalive_timeout(self) -> None:
        self.pong_timer = None
        self.pending_ping_payload = None
        conn = self._conn
        if conn.state is not _OPEN or self.transport.is_closing():
            return
        conn.close(CODE_KEEPALIVE, REASON_KEEPALIVE)
        self.keepalive_failed()

    def keepalive_failed(self) -> None:  # pragma: no cover - overridden
        """The peer did not answer in time; the close frame is queued on the connection."""
        raise NotImplementedError
