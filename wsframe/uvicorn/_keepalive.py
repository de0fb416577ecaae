"""The uvicorn protocol's clock: one timer per event loop runs the transport rules' deadlines
(:meth:`wsframe._driver.Driver.check`: keepalive ping, message time, idle time, stalled output,
the closing handshake, the drain) for every open connection on that loop, instead of timers per
connection (the asyncio server's sweep, for uvicorn, which has no server object of ours)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Dict, Optional, Set

__all__ = ["Sweep", "sweep_for"]

_SWEEPS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dict[float, Sweep]]" = weakref.WeakKeyDictionary()


class Sweep:
    """Calls ``tick(now)`` of every registered connection every ``interval`` seconds (only while
    there is one)."""

    __slots__ = ("loop", "interval", "conns", "handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.conns: Set[Any] = set()
        self.handle: Optional[asyncio.TimerHandle] = None

    def add(self, conn: Any) -> None:
        self.conns.add(conn)
        if self.handle is None:
            self.handle = self.loop.call_later(self.interval, self._run)

    def discard(self, conn: Any) -> None:
        self.conns.discard(conn)

    def _run(self) -> None:
        self.handle = None
        now = self.loop.time()
        for conn in list(self.conns):
            conn.tick(now)
        if self.conns:
            self.handle = self.loop.call_later(self.interval, self._run)


def sweep_for(loop: asyncio.AbstractEventLoop, interval: float) -> Sweep:
    """The sweep of ``loop`` running every ``interval`` seconds (made on first use)."""
    per_loop = _SWEEPS.setdefault(loop, {})
    sweep = per_loop.get(interval)
    if sweep is None:
        sweep = per_loop[interval] = Sweep(loop, interval)
    return sweep
