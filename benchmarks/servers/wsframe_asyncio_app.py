"""Echo server written the way a user writes one for the callback API on uvloop:
an Application subclass served by ``wsframe.asyncio.serve(app=...)``."""

from _common import parse_args

import uvloop

from wsframe.asyncio import serve
from wsframe.server import Application


class Echo(Application):
    def on_message(self, ws, data):
        ws.send(data)


async def main(host, port):
    async with serve(app=Echo(), host=host, port=port, compression=None,
                     max_message_size=16 * 1024 * 1024) as server:
        await server.serve_forever()


if __name__ == "__main__":
    host, port = parse_args("wsframe_asyncio_app.py")
    uvloop.run(main(host, port))
