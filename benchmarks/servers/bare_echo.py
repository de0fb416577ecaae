"""The floor of interpreter overhead: a bare selectors WebSocket echo in Python.

The cheapest framing that still speaks the protocol to a well-behaved client:
upgrade handshake, then frames with 7- or 16-bit lengths (messages < 64 KiB,
each in one frame; nothing is validated, fragments are echoed frame by frame),
unmasking by big-integer XOR, every reply of one read joined into one send.
Not a real server: it is what the benchmarks compare wsframe's overhead with.
"""

import base64
import hashlib
import selectors
import socket

from _common import parse_args

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Conn:
    __slots__ = ("sock", "buf", "out", "open", "closing", "writing")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.out = b""
        self.open = False
        self.closing = False
        self.writing = False


def handshake(c, buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return buf
    key = b""
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    c.out += (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    c.open = True
    return buf[end + 4:]


def frames(c, buf):
    out = []
    i = 0
    n = len(buf)
    while n - i >= 6:
        b0 = buf[i]
        ln = buf[i + 1] & 127
        if ln < 126:
            h = i + 2
        elif ln == 126:
            ln = (buf[i + 2] << 8) | buf[i + 3]
            h = i + 4
        else:
            raise ValueError("64-bit lengths are not supported here")
        end = h + 4 + ln
        if end > n:
            break
        mask = buf[h:h + 4]
        payload = (int.from_bytes(buf[h + 4:end], "little")
                   ^ int.from_bytes(mask * ((ln >> 2) + 1), "little") & ((1 << (ln << 3)) - 1)
                   ).to_bytes(ln, "little")
        if ln < 126:
            out.append(bytes((b0, ln)))
        else:
            out.append(bytes((b0, 126, ln >> 8, ln & 255)))
        out.append(payload)
        i = end
        if b0 & 15 == 8:
            c.closing = True
            break
    if out:
        c.out += b"".join(out)
    return buf[i:] if i else buf


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
            if not mask & READ:
                continue
            try:
                data = c.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                drop(c)
                continue
            buf = c.buf + data if c.buf else data
            try:
                if not c.open:
                    buf = handshake(c, buf)
                if c.open:
                    buf = frames(c, buf)
            except ValueError:
                drop(c)
                continue
            c.buf = buf
            if c.out:
                flush(c)


if __name__ == "__main__":
    main(*parse_args("bare_echo.py"))
