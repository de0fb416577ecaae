"""Echo server: the plain ASGI WebSocket echo app (asgi_echo.py) served by hypercorn (asyncio,
one worker, no access log), with wsframe's wsproto accelerator when
``--accelerate`` is given.

    python benchmarks/servers/hypercorn_echo.py PORT [HOST] [--accelerate]

hypercorn runs WebSockets on wsproto; ``--accelerate`` calls
``wsframe.integrations.wsproto.install()`` before serving, which is the
only difference between the two runs. Compression is off unless the client
offers it (the load generator does not).
"""

import asyncio
import sys

from _common import parse_args
from asgi_echo import app

ACCELERATE = "--accelerate" in sys.argv
if ACCELERATE:
    sys.argv.remove("--accelerate")


def main() -> None:
    host, port = parse_args("hypercorn_echo.py")
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    if ACCELERATE:
        from wsframe.integrations import wsproto as accelerator

        accelerator.install()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.websocket_max_message_size = 1 << 24
    config.keep_alive_timeout = 600
    print(f"hypercorn echo on ws://{host}:{port}/ (wsframe accelerator: {'on' if ACCELERATE else 'off'})", flush=True)
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
