"""The server's clock: one periodic sweep enforces every time limit
(opening handshake, closing handshake, stalled writes, keepalive, idle time,
per-message time), instead of a timer per connection."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable, Optional

from ..connection import State
from ..enums import CloseCode
from .app import PHASE_DEAD, PHASE_DRAIN, PHASE_OPEN, format_address

if TYPE_CHECKING:  # pragma: no cover
    from .loop import Server

__all__ = ["sweep", "sweep_interval"]

logger = logging.getLogger("wsframe.server")

SWEEP_MAX = 1.0  # the sweep runs at least once a second ...
SWEEP_MIN = 0.01  # ... at most 100 times a second, and 4 times per shortest limit
DRAIN_MAX = 2.0  # seconds to wait for the peer's EOF after our side is shut down
KEEPALIVE_PAYLOAD = b"wsframe keepalive"

_OPEN = State.OPEN
_GOING_AWAY = int(CloseCode.GOING_AWAY)
_POLICY_VIOLATION = int(CloseCode.POLICY_VIOLATION)
_INTERNAL_ERROR = int(CloseCode.INTERNAL_ERROR)


def sweep_interval(limits: Iterable[Optional[float]]) -> float:
    """How often to sweep: a quarter of the shortest limit, within [SWEEP_MIN, SWEEP_MAX]."""
    quarters = [t / 4 for t in limits if t]
    return max(min([SWEEP_MAX] + quarters), SWEEP_MIN)


def sweep(server: "Server", now: float) -> None:
    """Apply every time limit to every connection of ``server`` at time ``now``.

    A limit found exceeded either closes the connection with a close frame
    (keepalive 1011, idle 1001, message time 1008: then ``close_timeout``
    bounds the closing handshake) or drops the socket (handshake, closing
    handshake and write timeouts). Limits set to None are off.
    """
    hs = server.handshake_timeout
    ct = server.close_timeout
    pi = server.ping_interval
    pt = server.ping_timeout
    it = server.idle_timeout
    wt = server.write_timeout
    mt = server.message_timeout
    for c in list(server._conns.values()):
        phase = c.phase
        if phase == PHASE_DEAD:
            continue
        if phase < PHASE_OPEN:
            if hs is not None and now - c.accepted_at > hs:
                logger.debug("opening handshake timeout: %s", format_address(c.remote_address))
                server._kill(c)
            continue
        if phase == PHASE_DRAIN:
            if now - c.closing_since > min(ct or DRAIN_MAX, DRAIN_MAX):
                server._kill(c)
            continue
        if wt is not None and c.out is not None and now - c.last_send_progress > wt:
            logger.debug("write timeout: %s", format_address(c.remote_address))
            server._kill(c)
            continue
        if c.closing_since:
            if ct is not None and now - c.closing_since > ct:
                logger.debug("closing handshake timeout: %s", format_address(c.remote_address))
                server._kill(c)
            continue
        conn = c.conn
        if conn.state is not _OPEN:
            continue
        if mt is not None:
            if c.paused or not conn.message_in_progress:
                c.message_watch = 0.0  # nothing arriving (or we stopped reading: not the peer's fault)
            elif not c.message_watch or c.last_message >= c.message_watch:
                c.message_watch = now  # a message (another one) is arriving: start watching it
            elif now - c.message_watch > mt:
                # message_watch is at or after the message's first byte: its age is at least this.
                logger.debug("message timeout: %s", format_address(c.remote_address))
                c.close(_POLICY_VIOLATION, "message not completed in time")
                server._after_io(c)
                continue
        if pi is not None:
            if c.ping_sent_at:
                if pt is not None and now - c.ping_sent_at > pt:
                    logger.debug("keepalive timeout: %s", format_address(c.remote_address))
                    conn.close(_INTERNAL_ERROR, "keepalive ping timeout")
                    c.close_code = _INTERNAL_ERROR
                    server._after_io(c)
                    server._kill(c)
                    continue
            elif now - c.last_recv > pi:
                c.ping_sent_at = now
                conn.send_ping(KEEPALIVE_PAYLOAD)
                server._after_io(c)
                continue
        if it is not None and now - c.last_recv > it:
            logger.debug("idle timeout: %s", format_address(c.remote_address))
            c.close(_GOING_AWAY, "idle timeout")
            server._after_io(c)
