"""Echo server written the way a user writes one for the coroutine API on uvloop:
``async for message in ws: await ws.send(message)`` served by ``wsframe.asyncio.serve``."""

from _common import parse_args

import uvloop

from wsframe.asyncio import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(host, port):
    async with serve(echo, host, port, compression=None, max_message_size=16 * 1024 * 1024) as server:
        await server.serve_forever()


if __name__ == "__main__":
    host, port = parse_args("wsframe_asyncio_coro.py")
    uvloop.run(main(host, port))
