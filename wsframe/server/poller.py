"""Readiness polling: ``select.epoll`` on Linux, the same interface over :mod:`selectors` elsewhere.

The server speaks epoll's language everywhere: file descriptors in, ``(fd,
event bits)`` out, no per-event objects and no key lookups.
"""

from __future__ import annotations

import os
import select
import selectors
from typing import Any, List, Optional, Tuple

__all__ = ["EV_READ", "EV_WRITE", "EV_BOTH", "EV_FAIL", "EV_READABLE", "EV_WRITABLE", "make_poller",
           "SelectorPoller"]

# Interest and readiness bits: epoll's values (the selectors fallback maps them).
EV_READ = 0x001  # EPOLLIN
EV_WRITE = 0x004  # EPOLLOUT
EV_BOTH = EV_READ | EV_WRITE
EV_FAIL = 0x008 | 0x010  # EPOLLERR | EPOLLHUP: always reported; the next recv/send sees the error
EV_READABLE = EV_READ | EV_FAIL
EV_WRITABLE = EV_WRITE | EV_FAIL


class SelectorPoller:
    """``select.epoll``'s interface (file descriptors, epoll event bits) on top
    of :mod:`selectors`, for platforms without epoll."""

    __slots__ = ("_sel",)

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    @staticmethod
    def _selector_events(events: int) -> int:
        return ((selectors.EVENT_READ if events & EV_READ else 0)
                | (selectors.EVENT_WRITE if events & EV_WRITE else 0))

    def register(self, fd: int, events: int) -> None:
        self._sel.register(fd, self._selector_events(events))

    def modify(self, fd: int, events: int) -> None:
        self._sel.modify(fd, self._selector_events(events))

    def unregister(self, fd: int) -> None:
        self._sel.unregister(fd)

    def poll(self, timeout: Optional[float] = None, maxevents: int = -1) -> List[Tuple[int, int]]:
        if timeout is not None and timeout < 0:
            timeout = None
        return [(key.fd, (EV_READ if m & selectors.EVENT_READ else 0)
                 | (EV_WRITE if m & selectors.EVENT_WRITE else 0))
                for key, m in self._sel.select(timeout)]

    def close(self) -> None:
        self._sel.close()


def make_poller() -> Any:
    """epoll on Linux; the selectors fallback elsewhere (macOS, Windows), or
    everywhere when ``WSFRAME_NO_EPOLL=1`` (how CI tests the fallback on Linux)."""
    forced = os.environ.get("WSFRAME_NO_EPOLL", "").strip().lower() not in ("", "0", "false", "no")
    if hasattr(select, "epoll") and not forced:
        return select.epoll()
    return SelectorPoller()
