"""The selectors server's event loop: poll, then each ready socket's transport reads, dispatches and writes.

:func:`run` is :meth:`wsframe.server.Server.serve_forever`'s loop, apart from
the server's class so that it compiles: ``_pump_c.pxd`` types the transport
as the compiled one (wsframe.server._transport_c), whose per-event methods are
then C calls, and the loop itself runs as C. The same source, uncompiled, is
the loop of the pure-Python build.
"""

from __future__ import annotations

import time
from typing import Any

from ._sockio_py import epoll_fd, poll_ready  # compiled: poll_ready is the C one (cimported by _pump_c.pxd)
from .poller import EV_READABLE, EV_WRITABLE
from .transport import PHASE_DEAD, PHASE_TLS

__all__ = ["run"]


def run(server: Any) -> None:
    """Poll and serve until the server's graceful stop is over (see ``Server.stop``)."""
    poller = server.poller
    epfd = epoll_fd(poller)
    monotonic = time.monotonic
    conns = server._conns
    acceptor = server._acceptor
    calls = server._calls
    listen_fd = server.socket.fileno()
    wakeup_fd = server._rsock.fileno()
    sweep_every = server._sweep_every
    next_sweep = monotonic() + sweep_every
    while True:
        if server._stop_requested:
            if not server._stopping:
                server._begin_stop()
            if not conns or monotonic() >= server._stop_deadline:
                return
        dirty = server.dirty
        if server.ready or dirty or calls:
            timeout = 0.0
        else:
            wake = next_sweep
            if acceptor.paused and acceptor.resume_at < wake:
                wake = acceptor.resume_at
            timeout = wake - monotonic()
            if timeout < 0.0:  # (not max(): a builtin call per wake-up)
                timeout = 0.0
        ready = poll_ready(poller, epfd, timeout)
        now = monotonic()
        server.now = now
        for fd, ev in ready:
            t = conns.get(fd)
            if t is None:
                if fd == listen_fd:
                    if acceptor.listening:
                        acceptor.accept()
                elif fd == wakeup_fd:
                    server._drain_wakeup()
                continue
            if ev & EV_WRITABLE and t.out is not None:
                t.flush()
            if ev & EV_READABLE or t.phase == PHASE_TLS:
                t.on_readable()
        if calls:
            server._run_calls()
        if server.ready:
            again = server.ready
            server.ready = set()
            for t in again:
                if t.phase != PHASE_DEAD:
                    t.on_readable()
        dirty = server.dirty
        if dirty:
            server.dirty = []
            for t in dirty:
                t.dirty = False
                if t.phase != PHASE_DEAD:
                    t.after_io()
        if acceptor.paused and now >= acceptor.resume_at:
            acceptor.resume()
        if now >= next_sweep:
            for t in list(conns.values()):
                t.sweep(now)
            next_sweep = now + sweep_every
