"""Echo server on aiohttp (web.WebSocketResponse), compression off, no access log."""

from _common import parse_args

from aiohttp import WSMsgType, web


async def handler(request):
    ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 24)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws


if __name__ == "__main__":
    host, port = parse_args("aiohttp_echo.py")
    app = web.Application()
    app.router.add_get("/", handler)
    web.run_app(app, host=host, port=port, access_log=None, print=None)
