"""Echo server on picows with uvloop (frame-level API: each frame is echoed as it arrives)."""

from _common import parse_args

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame):
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type != WSMsgType.PING and frame.msg_type != WSMsgType.PONG:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)


async def main(host, port):
    server = await ws_create_server(lambda _request: Echo(), host, port)
    await server.serve_forever()


if __name__ == "__main__":
    host, port = parse_args("picows_echo.py")
    uvloop.run(main(host, port))
