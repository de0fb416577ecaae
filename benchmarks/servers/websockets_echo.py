"""Echo server on websockets' asyncio implementation, compression off."""

import asyncio

from _common import parse_args

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(host, port):
    async with serve(echo, host, port, compression=None, max_size=1 << 24):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(*parse_args("websockets_echo.py")))
