"""Echo server: wsproto's sans-I/O connection on selectors.

One thread, non-blocking sockets; everything wsproto produces for one read goes
out in one send (a fair use of a sans-I/O library). wsproto hands over partial
messages as data arrives; they are collected and each whole message is echoed
as one frame.
"""

import selectors
import socket

from _common import parse_args

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request, TextMessage

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class Conn:
    __slots__ = ("sock", "ws", "out", "closing", "writing", "parts")

    def __init__(self, sock):
        self.sock = sock
        self.ws = WSConnection(ConnectionType.SERVER)
        self.out = b""
        self.closing = False
        self.writing = False
        self.parts = None


def main(host, port):
    sel = selectors.DefaultSelector()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, port))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel.register(lsock, READ, None)

    def drop(c):
        sel.unregister(c.sock)
        c.sock.close()

    def flush(c):
        try:
            n = c.sock.send(c.out)
        except BlockingIOError:
            n = 0
        except OSError:
            drop(c)
            return
        c.out = c.out[n:] if n else c.out
        if c.out:
            if not c.writing:
                c.writing = True
                sel.modify(c.sock, READ | WRITE, c)
        elif c.closing:
            drop(c)
        elif c.writing:
            c.writing = False
            sel.modify(c.sock, READ, c)

    def on_read(c):
        try:
            data = c.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        ws = c.ws
        if not data:
            drop(c)
            return
        ws.receive_data(data)
        out = []
        for ev in ws.events():
            if isinstance(ev, (BytesMessage, TextMessage)):
                if not ev.message_finished:
                    if c.parts is None:
                        c.parts = []
                    c.parts.append(ev.data)
                    continue
                data = ev.data
                if c.parts is not None:
                    c.parts.append(data)
                    data = ("" if isinstance(ev, TextMessage) else b"").join(c.parts)
                    c.parts = None
                out.append(ws.send(type(ev)(data=data)))
            elif isinstance(ev, Request):
                out.append(ws.send(AcceptConnection()))
            elif isinstance(ev, Ping):
                out.append(ws.send(ev.response()))
            elif isinstance(ev, CloseConnection):
                out.append(ws.send(ev.response()))
                c.closing = True
        if out:
            c.out += b"".join(out)
            flush(c)

    while True:
        for key, mask in sel.select():
            c = key.data
            if c is None:
                try:
                    s, _ = lsock.accept()
                except BlockingIOError:
                    continue
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(s, READ, Conn(s))
                continue
            if mask & WRITE:
                flush(c)
                if c.sock.fileno() < 0:
                    continue
            if mask & READ:
                on_read(c)


if __name__ == "__main__":
    main(*parse_args("wsproto_echo.py"))
