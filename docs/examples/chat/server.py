"""A chat server: what one member of a room says reaches every member, on one process or several joined by Redis.

    python server.py                      # ws://127.0.0.1:9001/, the page on http://127.0.0.1:8000/
    python server.py --port 9002 --http-port 0 --redis redis://127.0.0.1:6379/0   # one of several

Open http://127.0.0.1:8000/?room=lobby&name=ada in two browser tabs.
"""

import argparse
import functools
import http.server
import os
import threading
from urllib.parse import parse_qs, urlsplit

from wsframe.server import Application, Server


class Chat(Application):
    def on_open(self, ws):
        query = parse_qs(urlsplit(ws.request.path).query)
        room = query.get("room", ["lobby"])[0][:64]
        name = query.get("name", ["anon"])[0][:32]
        ws.context = ("room:" + room, name)
        ws.subscribe("room:" + room)
        ws.server.publish("room:" + room, f"* {name} joined")

    def on_message(self, ws, data):
        topic, name = ws.context
        if isinstance(data, str):
            ws.server.publish(topic, f"{name}: {data[:1000]}")

    def on_close(self, ws, code, reason):
        if ws.context:
            topic, name = ws.context
            ws.server.publish(topic, f"* {name} left")


def serve_page(port):
    """The chat page (index.html next to this file) over plain HTTP, in a thread."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.path.dirname(__file__) or ".")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main():
    ap = argparse.ArgumentParser(description="wsframe chat example")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--http-port", type=int, default=8000, help="0: do not serve the page")
    ap.add_argument("--redis", help="join other processes through this Redis (pip install 'wsframe[redis]')")
    args = ap.parse_args()
    server = Server(Chat(), args.host, args.port)
    if args.redis:
        from wsframe.backplane.redis import RedisBackplane

        RedisBackplane(args.redis).attach_server(server)
    if args.http_port:
        httpd = serve_page(args.http_port)
        print(f"chat page on http://127.0.0.1:{httpd.server_address[1]}/", flush=True)
    print(f"chat server on {server.url}", flush=True)
    server.install_signal_handlers()
    server.serve_forever()


if __name__ == "__main__":
    main()
