"""The transport rules every I/O layer follows, sans-I/O: deadlines, the peer-error grace period,
holding a peer error until the application has answered, the drain after our close, reply
coalescing, and the fixed close reasons.

A :class:`Driver` sits beside one sans-I/O connection. The I/O layer (the
selectors server, the blocking client, :mod:`wsframe.asyncio`, the uvicorn
protocol) tells it what happened - input arrived (``drv.active = True``, no
clock read on the read path), a message was handed to the application, the
application waits for more, output is stuck or moving, our side is closing or
draining - and calls :meth:`Driver.check` with the time, periodically. The
driver queues what the rules need on the connection (a keepalive ping, a close
frame, a pending failure applied) and returns what the layer must do with the
transport: nothing, flush, drop it, or flush and drop it. No socket, no event
loop, no clock in here; the values come from one :class:`wsframe.limits.Limits`.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from .enums import CloseCode
from .limits import DEFAULT_LIMITS, Limits
from .connection import State

__all__ = [
    "Driver", "tick_interval", "drain_time", "failure_grace",
    "KEEP", "FLUSH", "ABORT", "FAIL", "PING",
    "KEEPALIVE_PAYLOAD", "REASON_KEEPALIVE", "REASON_IDLE", "REASON_MESSAGE", "REASON_INTERNAL",
    "REASON_SHUTDOWN", "REASON_GOING_AWAY",
]

# What Driver.check asks of the layer.
KEEP = 0  # nothing to do
FLUSH = 1  # the driver queued something on the connection (ping, close frame, failure): take events, write
ABORT = 2  # drop the transport now (a deadline of the transport itself passed)
FAIL = 3  # a close frame is queued: write it, then drop the transport without waiting for the peer
PING = 4  # send a keepalive ping now (KEEPALIVE_PAYLOAD, or a payload of the layer's to measure latency)

# The close frames the transport rules send: one code and one reason each.
KEEPALIVE_PAYLOAD = b"wsframe keepalive"
REASON_KEEPALIVE = "keepalive ping timeout"  # 1011
REASON_IDLE = "idle timeout"  # 1001
REASON_MESSAGE = "message not completed in time"  # 1008
REASON_INTERNAL = "internal error"  # 1011: the application raised
REASON_SHUTDOWN = "server shutting down"  # 1001
REASON_GOING_AWAY = "going away"  # 1001: a client closing because its program stops

CODE_KEEPALIVE = int(CloseCode.INTERNAL_ERROR)
CODE_IDLE = int(CloseCode.GOING_AWAY)
CODE_MESSAGE = int(CloseCode.POLICY_VIOLATION)
CODE_INTERNAL = int(CloseCode.INTERNAL_ERROR)

TICK_MAX = 1.0  # the deadlines are checked at least once a second ...
TICK_MIN = 0.01  # ... at most 100 times a second, and 4 times per shortest limit

_CONNECTING = State.CONNECTING
_OPEN = State.OPEN


def tick_interval(limits: Limits) -> float:
    """How often :meth:`Driver.check` should run: a quarter of the shortest limit, within [0.01, 1] s."""
    times: Iterable[Optional[float]] = (limits.open_timeout, limits.close_timeout, limits.message_timeout,
                                        limits.ping_interval, limits.ping_timeout, limits.idle_timeout,
                                        limits.write_timeout)
    return max(min([TICK_MAX] + [t / 4 for t in times if t]), TICK_MIN)


def failure_grace(limits: Limits) -> float:
    """How long a held peer error waits for the application: ``failure_grace``, at most ``close_timeout``."""
    ct = limits.close_timeout
    return limits.failure_grace if ct is None else min(ct, limits.failure_grace)


def drain_time(limits: Limits) -> float:
    """How long we discard input after our half-close: ``drain_time``, at most ``close_timeout``."""
    ct = limits.close_timeout
    return limits.drain_time if ct is None else min(ct, limits.drain_time)


class Driver:
    """The transport rules for one connection (see the module docstring).

    Plain attributes the layer writes on its hot path: ``active`` (input
    arrived since the last check), ``got_message`` (a message was handed to
    the application since the last check), ``stalled_since`` (output has been
    waiting without progress since then; 0.0: none waits), ``reading_paused``
    (we stopped reading: a message in progress is then not the peer's fault).
    """

    __slots__ = ("conn", "limits", "coalesce_bytes", "created_at", "last_recv", "active", "got_message",
                 "ping_sent_at", "closing_since", "drain_since", "drained", "msg_since", "stalled_since",
                 "failure_since", "reading_paused")

    def __init__(self, conn: Any, limits: Limits = DEFAULT_LIMITS, now: float = 0.0) -> None:
        self.conn = conn
        self.limits = limits
        self.coalesce_bytes = limits.coalesce_bytes
        self.created_at = now
        self.last_recv = now
        self.active = False
        self.got_message = False
        self.ping_sent_at = 0.0
        self.closing_since = 0.0
        self.drain_since = 0.0
        self.drained = 0
        self.msg_since = 0.0
        self.stalled_since = 0.0
        self.failure_since = 0.0
        self.reading_paused = False

    # -- what happened --------------------------------------------------------------------

    def closing(self, now: float) -> None:
        """A close frame was sent or received: the closing handshake is bounded from ``now``."""
        if not self.closing_since:
            self.closing_since = now

    def draining(self, now: float) -> None:
        """Our sending side is shut down after the close: input is discarded until the peer's EOF."""
        self.drain_since = now
        self.drained = 0
        self.closing(now)

    def discard(self, n: int) -> bool:
        """``n`` bytes of input discarded while draining; True once past the budget (close now: a
        peer still streaming a huge message gets the reset rather than us reading all of it)."""
        self.drained += n
        return self.drained > self.limits.drain_bytes

    def delivered(self) -> None:
        """A message was queued for an application that reads at its own pace: a peer error
        found from now on waits until the application has answered (``answered``)."""
        self.conn.hold_failures = True

    def answered(self) -> bool:
        """The application has taken every message (it waits for more, or a synchronous callback
        returned): apply a held peer error now. True when one was applied (take the
        connection's events and write its output)."""
        conn = self.conn
        conn.hold_failures = False
        self.failure_since = 0.0
        return conn.apply_pending_failure()

    def may_coalesce(self, unsent: int) -> bool:
        """Replies to queued messages wait to go out together while fewer than the cap are unsent."""
        return unsent < self.coalesce_bytes

    # -- the clock -------------------------------------------------------------------------

    def check(self, now: float) -> int:
        """Apply every deadline at time ``now``; returns KEEP, FLUSH, ABORT, FAIL or PING (module constants).

        The opening handshake, the drain, stalled output and the closing
        handshake drop the transport (ABORT). A held peer error is applied
        after the grace period (FLUSH). The message time limit (1008) and idle
        time (1001) queue a close frame (FLUSH; the closing handshake is then
        bounded by ``close_timeout``); a keepalive ping is due after
        ``ping_interval`` without input (PING: the layer sends it), and no input within
        ``ping_timeout`` after it queues 1011 and drops (FAIL).
        """
        if self.active:
            self.active = False
            self.last_recv = now
            self.ping_sent_at = 0.0
        conn = self.conn
        state = conn.state
        lim = self.limits
        if state is _CONNECTING:
            t = lim.open_timeout
            return ABORT if t is not None and now - self.created_at > t else KEEP
        if self.drain_since:
            return ABORT if now - self.drain_since > drain_time(lim) else KEEP
        t = lim.write_timeout
        if t is not None and self.stalled_since and now - self.stalled_since > t:
            return ABORT
        if conn.failure_pending:
            if not self.failure_since:
                self.failure_since = now
            elif now - self.failure_since >= failure_grace(lim):
                self.answered()  # the application did not come back for the messages
                self.closing(now)
                return FLUSH
            return KEEP
        if state is not _OPEN:
            self.closing(now)
            t = lim.close_timeout
            return ABORT if t is not None and now - self.closing_since > t else KEEP
        t = lim.message_timeout
        if t is not None:
            if self.got_message or self.reading_paused or not conn.message_in_progress:
                self.got_message = False
                self.msg_since = 0.0
            elif not self.msg_since:
                self.msg_since = now  # at or after the message's first byte
            elif now - self.msg_since > t:
                return self._close(now, CODE_MESSAGE, REASON_MESSAGE)
        t = lim.ping_interval
        if t is not None:
            if self.ping_sent_at:
                timeout = lim.ping_timeout
                if timeout is not None and now - self.ping_sent_at > timeout:
                    self._close(now, CODE_KEEPALIVE, REASON_KEEPALIVE)
                    return FAIL
            elif now - self.last_recv > t:
                self.ping_sent_at = now
                return PING
        t = lim.idle_timeout
        if t is not None and now - self.last_recv > t:
            return self._close(now, CODE_IDLE, REASON_IDLE)
        return KEEP

    def tick(self, now: float, layer: Any) -> None:
        """:meth:`check`, then what it asks of the layer: ``layer.deadline_flush()`` (take the
        connection's events, write its output), ``deadline_ping()`` (send a keepalive ping and
        write it), ``deadline_abort()`` (drop the transport) or ``deadline_fail()`` (write the
        queued close frame, then drop the transport)."""
        action = self.check(now)
        if action == KEEP:
            return
        if action == FLUSH:
            layer.deadline_flush()
        elif action == PING:
            layer.deadline_ping()
        elif action == ABORT:
            layer.deadline_abort()
        else:
            layer.deadline_fail()

    def _close(self, now: float, code: int, reason: str) -> int:
        if self.conn.state is _OPEN:
            self.conn.close(code, reason)
        self.closing(now)
        return FLUSH
