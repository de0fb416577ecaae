"""The plain ASGI WebSocket echo app served by uvicorn_echo.py and hypercorn_echo.py.

No framework: every ``websocket.receive`` is sent back as it came (text as
text, bytes as bytes), so the servers' WebSocket layers are what differs.
"""


async def app(scope, receive, send):
    """ASGI 3: lifespan answered, HTTP 404, WebSocket echo."""
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
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":  # websocket.disconnect
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
