"""The blocking client's output: bytes in the order the protocol produced them, one writer at a time.

Whoever produces bytes (a sending thread, ``close()``, the reader thread's
automatic pongs and close frames) appends them with :meth:`OutputQueue.push`
while holding the connection's lock, so the order on the wire is the order of
production (permessage-deflate's shared context needs it), and each push is
whole messages, so frames of two messages never interleave. Writing happens
outside the lock, by one thread at a time (the writer role): a sender becomes
the writer, or waits while another writer writes its bytes too. The reader
thread only ever writes what the kernel takes at once (:meth:`try_flush`),
so reading never waits on writing.

A writer that makes no progress for ``timeout`` seconds (the peer does not
read) or passes its ``deadline`` fails the output: :attr:`error` is set and
``on_error`` is called (with the lock held) to fail the connection.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Deque, Optional

from ._client_socket import SocketIO

__all__ = ["OutputQueue"]


class OutputQueue:
    """Ordered pending output of one connection and its writer role."""

    __slots__ = ("_io", "_lock", "_cond", "_chunks", "_queued", "_written", "_waiters", "_progress_at",
                 "writing", "error", "on_error", "on_idle")

    def __init__(self, io: SocketIO, lock: threading.Lock, on_error: Callable[[BaseException], None],
                 on_idle: Callable[[], None]) -> None:
        self._io = io
        self._lock = lock
        self._cond = threading.Condition(lock)
        self._chunks: Deque[memoryview] = deque()
        self._queued = 0  # bytes ever pushed
        self._written = 0  # bytes ever handed to the kernel
        self._waiters = 0
        self._progress_at = 0.0
        self.writing = False  # a thread holds the writer role
        self.error: Optional[BaseException] = None
        self.on_error = on_error  # called with the lock held when writing failed
        self.on_idle = on_idle  # called with the lock held when the writer role is released

    # -- with the lock held --------------------------------------------------------

    def push(self, data) -> int:
        """Queue ``data`` (lock held); returns the target to pass to :meth:`flush`."""
        if data and self.error is None:
            self._chunks.append(memoryview(data))
            self._queued += len(data)
        return self._queued

    @property
    def pending(self) -> bool:
        """True while pushed bytes are not all written (lock held)."""
        return self._written < self._queued and self.error is None

    def fail(self, exc: BaseException) -> None:
        """Give up on the output (lock held): waiters return, nothing more is written."""
        if self.error is None:
            self.error = exc
            self._chunks.clear()
            self._cond.notify_all()

    # -- without the lock ----------------------------------------------------------

    def flush(self, target: int, timeout: Optional[float], deadline: Optional[float] = None) -> bool:
        """Wait until every byte up to ``target`` is written; False if the output failed first.

        ``timeout``: the longest time without progress before giving up;
        ``deadline`` (monotonic): an absolute limit. Giving up fails the output.
        """
        with self._lock:
            while True:
                if self._written >= target:
                    return True
                if self.error is not None:
                    return False
                if not self.writing:
                    self.writing = True
                    self._progress_at = time.monotonic()
                    break
                wait = self._wait_time(timeout, deadline)
                if wait is not None and wait <= 0:
                    self._give_up(timeout, deadline)
                    return False
                self._waiters += 1
                try:
                    self._cond.wait(wait)
                finally:
                    self._waiters -= 1
        try:
            return self._write(target, timeout, deadline)
        except OSError as exc:
            with self._lock:
                self._failed(exc)
            return False

    def try_flush(self) -> None:
        """Write what the kernel takes now, unless another thread is writing (the reader's way)."""
        with self._lock:
            if self.writing or self.error is not None or not self._chunks:
                return
            self.writing = True
            self._progress_at = time.monotonic()
        try:
            self._write(None, None, None)
        except OSError as exc:
            with self._lock:
                self._failed(exc)

    # -- internals -------------------------------------------------------------------

    def _wait_time(self, timeout: Optional[float], deadline: Optional[float]) -> Optional[float]:
        now = time.monotonic()
        wait = None if timeout is None else self._progress_at + timeout - now
        if deadline is not None:
            wait = deadline - now if wait is None else min(wait, deadline - now)
        return wait

    def _give_up(self, timeout: Optional[float], deadline: Optional[float]) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            exc = TimeoutError("the data could not be written before the deadline")
        else:
            exc = TimeoutError(f"the peer accepted no data for {timeout:g} s (it is not reading)")
        self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if self.error is None:
            self.fail(exc)
            self.on_error(exc)

    def _write(self, target: Optional[int], timeout: Optional[float], deadline: Optional[float]) -> bool:
        """Write as the writer (role already taken). ``target`` None: only what goes out at once.

        Returns True when the bytes up to ``target`` are written.
        """
        io = self._io
        lock = self._lock
        chunk: Optional[memoryview] = None
        try:
            while True:
                with lock:
                    done = target is not None and self._written >= target
                    if self.error is not None:
                        return done  # the output failed after our bytes were written: they went out
                    if not self._chunks or (done and self._waiters):
                        return target is None or done  # nothing left, or hand over to a waiter
                    chunk = self._chunks.popleft()
                while chunk:
                    n = io.send(chunk)
                    if n:
                        chunk = chunk[n:]
                        self._progress_at = time.monotonic()
                        with lock:
                            self._written += n
                            if self._waiters:
                                self._cond.notify_all()
                        continue
                    if target is None:
                        return True  # the kernel is full: the rest waits for a writer or the next try
                    with lock:
                        if self.error is not None:
                            return self._written >= target
                        mine = self._written < target
                        wait = self._wait_time(timeout, deadline if mine else None)
                        if wait is not None and wait <= 0:
                            self._give_up(timeout, deadline if mine else None)
                            return not mine
                    io.wait(False, True, wait)
                chunk = None
        finally:
            with lock:
                if chunk and self.error is None:
                    self._chunks.appendleft(chunk)
                self.writing = False
                self._cond.notify_all()
                self.on_idle()
