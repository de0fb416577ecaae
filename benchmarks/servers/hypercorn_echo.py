"""Echo server: a plain ASGI WebSocket echo app served by hypercorn (asyncio,
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

ACCELERATE = "--accelerate" in sys.argv
if ACCELERATE:
    sys.argv.remove("--accelerate")


async def app(scope, receive, send):
    """ASGI: echo every WebSocket message as it came (text or bytes)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    message = await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            if text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
        else:  # websocket.disconnect
            return


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
