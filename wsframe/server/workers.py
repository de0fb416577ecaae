"""Pre-fork workers: N server processes sharing one port (``SO_REUSEPORT``),
and the parent process that supervises them (replaces a worker that dies,
stops on a crash loop, passes SIGINT/SIGTERM on for a graceful stop)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional

from .app import Application
from .loop import DEFAULT_STOP_TIMEOUT, Server

__all__ = ["run_workers", "describe_exit", "DEFAULT_MAX_RESTARTS", "RESTART_WINDOW"]

logger = logging.getLogger("wsframe.server")

DEFAULT_MAX_RESTARTS = 5  # more restarts than this within RESTART_WINDOW: a crash loop
RESTART_WINDOW = 60.0  # seconds
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def describe_exit(status: int) -> str:
    """A wait status in words: ``exit status 3`` or ``killed by signal SIGKILL``."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"killed by signal {name}"
    return f"exit status {code}"


def run_workers(make_app: Callable[[], Application], workers: int, host: str = "127.0.0.1",
                port: int = 9001, *, stop_timeout: float = DEFAULT_STOP_TIMEOUT,
                max_restarts: int = DEFAULT_MAX_RESTARTS, restart_window: float = RESTART_WINDOW,
                **options: Any) -> int:
    """Run ``workers`` server processes sharing one port with ``SO_REUSEPORT``;
    returns the exit status for the program (0 or 1).

    Each worker calls ``make_app()`` and serves it with :class:`Server`
    (``options`` are its keyword arguments). The calling process supervises:

    * a worker that dies (any exit while the service is not stopping) is logged
      with its pid and exit status or signal, and replaced by a new one;
    * more than ``max_restarts`` replacements within ``restart_window`` seconds
      is a crash loop: one error line is logged, every worker is stopped, and
      the result is 1;
    * SIGINT/SIGTERM to the calling process are passed on to every worker,
      which stops gracefully (close 1001, at most ``stop_timeout`` seconds);
      the result is then 0 when every worker exited with status 0;
    * on Linux, a worker whose supervisor dies (even of SIGKILL) gets SIGTERM
      from the kernel and stops gracefully: no orphan keeps the port.

    Port 0 picks one free port for all workers.
    """
    if workers < 1:
        raise ValueError("workers must be 1 or more")
    if not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError(f"several workers need fork() and SO_REUSEPORT, which {sys.platform} does not have:"
                           " run one process per port (workers=1) instead")
    # Reserve the port: bound with SO_REUSEPORT but not listening, so the
    # kernel gives it no connections, while workers bind the same port.
    reserve = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind((host, port))
    port = reserve.getsockname()[1]
    pids: Dict[int, int] = {}  # pid -> worker number
    stopping: List[bool] = []  # non-empty once SIGINT/SIGTERM arrived (or a crash loop was found)

    def stop_all(signum: Optional[int] = None, frame: Any = None) -> None:
        if signum is not None and not stopping:
            logger.info("%s: stopping %d worker(s)", signal.Signals(signum).name, len(pids))
        stopping.append(True)
        for p in list(pids):
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def spawn(number: int) -> int:
        # SIGINT/SIGTERM are blocked while forking: a worker must not die of a
        # signal that arrives before it has its own handlers (it then stops as
        # soon as it can, still exiting 0), nor run the supervisor's handler.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            supervisor = os.getpid()
            pid = os.fork()
            if pid == 0:
                _worker(number, make_app, host, port, stop_timeout, options, reserve, old_mask, supervisor)
            pids[pid] = number
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return pid

    old_handlers = {s: signal.signal(s, stop_all) for s in _STOP_SIGNALS}
    restarts: Deque[float] = deque()
    status = 0
    try:
        for i in range(workers):
            spawn(i)
        logger.info("started %d workers on port %d: %s", workers, port, " ".join(map(str, pids)))
        while pids:
            try:
                pid, st = os.wait()
            except ChildProcessError:  # pragma: no cover - someone else reaped them
                break
            number = pids.pop(pid, None)
            if number is None:
                continue
            if stopping:
                if os.waitstatus_to_exitcode(st) != 0:
                    status = 1
                continue
            logger.error("worker %d (pid %d) died: %s; starting a new one", number, pid, describe_exit(st))
            now = time.monotonic()
            restarts.append(now)
            while restarts and now - restarts[0] > restart_window:
                restarts.popleft()
            if len(restarts) > max_restarts:
                logger.error("workers are crash-looping (%d restarts within %.0f s, limit %d): stopping the"
                             " service", len(restarts), restart_window, max_restarts)
                status = 1
                stop_all()
                continue
            logger.info("worker %d restarted: pid %d", number, spawn(number))
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
        reserve.close()
    return status


def _stop_with_parent(supervisor: int) -> None:
    """Linux: have the kernel send this worker SIGTERM when the supervisor dies (even of
    SIGKILL), so no orphaned worker keeps the port. Elsewhere: nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != supervisor:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(number: int, make_app: Callable[[], Application], host: str, port: int, stop_timeout: float,
            options: Dict[str, Any], reserve: socket.socket, old_mask: Any, supervisor: int) -> None:
    """The body of a forked worker: serve until told to stop; never returns."""
    code = 0
    try:
        reserve.close()
        early: list = []
        for sig in _STOP_SIGNALS:
            signal.signal(sig, lambda signum, frame: early.append(signum))
        _stop_with_parent(supervisor)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        server = Server(make_app(), host, port, reuse_port=True, **options)
        server.install_signal_handlers(timeout=stop_timeout)
        if early:
            server.stop(stop_timeout)
        server.serve_forever()
    except BaseException:
        logger.exception("worker %d failed", number)
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)
