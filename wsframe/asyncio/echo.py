"""The echo server of ``wsframe echo --loop asyncio|uvloop``: :func:`run_echo`."""

from __future__ import annotations

import asyncio
import signal
import ssl as _ssl
from typing import Any, Callable, Optional

from .connection import WebSocket
from .protocol import logger
from .server import serve

__all__ = ["echo", "run_echo"]

_STOP_TIMEOUT = 10.0


async def echo(ws: WebSocket) -> None:
    """Send every message back as it came (text as text, binary as binary)."""
    async for message in ws:
        await ws.send(message)


async def _main(host: str, port: int, ssl_context: Optional[_ssl.SSLContext], compression: bool,
                max_message_size: Optional[int], options: Any) -> int:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def on_signal(signum: int) -> None:
        if not stop.done():
            stop.set_result(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        server = await serve(echo, host, port, ssl=ssl_context, compression=compression,
                             max_message_size=max_message_size, **options)
        logger.info("wsframe asyncio server (%s) listening on %s", type(loop).__module__.split(".")[0],
                    server.url)
        await stop
        logger.info("stopping: closing %d connection(s) with 1001", len(server.connections))
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), _STOP_TIMEOUT)
        except asyncio.TimeoutError:
            logger.warning("some connections did not close within %s s", _STOP_TIMEOUT)
            for ws in server.connections:
                ws._abort()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def run_echo(host: str, port: int, *, ssl_context: Optional[_ssl.SSLContext] = None, compression: bool = True,
             use_uvloop: bool = False, max_message_size: Optional[int] = 1 << 20, **options: Any) -> int:
    """Serve the echo handler on ``host``:``port`` until SIGINT/SIGTERM, then close
    every client with 1001 (waiting at most 10 s) and return 0.

    ``use_uvloop`` runs on uvloop (ImportError if it is not installed);
    ``options`` are :func:`~wsframe.asyncio.serve` options (max_connections,
    ping_interval, idle_timeout...).
    """
    factory: Optional[Callable[[], asyncio.AbstractEventLoop]] = None
    if use_uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    coro = _main(host, port, ssl_context, compression, max_message_size, options)
    runner_cls = getattr(asyncio, "Runner", None)
    if runner_cls is not None:
        with runner_cls(loop_factory=factory) as runner:
            return int(runner.run(coro))
    loop = factory() if factory is not None else asyncio.new_event_loop()  # Python < 3.11
    try:
        return int(loop.run_until_complete(coro))
    finally:
        loop.close()
