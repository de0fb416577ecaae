"""Echo server written the way a user writes one: an Application subclass whose
on_message sends the message back, served by wsframe.server (no built-in echo)."""

from _common import parse_args

from wsframe.server import Application, serve


class Echo(Application):
    def on_message(self, ws, data):
        ws.send(data)


if __name__ == "__main__":
    host, port = parse_args("wsframe_app.py")
    serve(Echo(), host, port, max_message_size=16 * 1024 * 1024)
