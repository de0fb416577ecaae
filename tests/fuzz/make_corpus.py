"""Write the seed corpus: real traffic of wsframe's own client and server.

    python tests/fuzz/make_corpus.py [--force]

One directory per target under tests/fuzz/corpus/. Each file is a fuzz
input (inputs.py: options byte, chunking byte, body). Client frames are
masked with random keys, so a new run gives other bytes: files are written
only where missing unless --force. Files named repro-* are reproducers of
findings and are never touched.
"""

from __future__ import annotations

import os
import sys
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from inputs import pack  # noqa: E402
from targets_conn import ACCEPT, KEY, request  # noqa: E402

from wsframe.codec import build_frame  # noqa: E402
from wsframe.connection import ClientConnection, ServerConnection  # noqa: E402
from wsframe.permessage_deflate import ClientPerMessageDeflate, PerMessageDeflate, ServerPerMessageDeflate  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")
TEXT = "héllo wörld ✓ 🚀 " * 3


def _pair(deflate: bool) -> Tuple[ClientConnection, ServerConnection]:
    client = ClientConnection("localhost", "/chat", extensions=[ClientPerMessageDeflate()] if deflate else [])
    server = ServerConnection(extensions=[ServerPerMessageDeflate()] if deflate else [])
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert client.state.name == server.state.name == "OPEN"
    assert bool(client.extensions) == deflate
    return client, server


def _traffic(conn, messages) -> bytes:
    """Frames one side sends for ``messages``: (kind, payload, fin) triples."""
    for kind, payload, fin in messages:
        if kind == "text":
            conn.send_text(payload, fin=fin)
        elif kind == "binary":
            conn.send_binary(payload, fin=fin)
        elif kind == "ping":
            conn.send_ping(payload)
        elif kind == "close":
            conn.close(1000, payload)
    return bytes(conn.data_to_send())


SCRIPTS: Dict[str, List[tuple]] = {
    "text": [("text", "hello", True), ("text", TEXT, True)],
    "binary": [("binary", bytes(range(256)) * 2, True), ("binary", b"", True)],
    "large": [("binary", os.urandom(70000), True)],
    "fragmented": [("text", "frag", False), ("ping", b"in the middle", True), ("text", "ment ✓", True)],
    "ping-close": [("ping", b"p", True), ("text", "bye", True), ("close", "done", True)],
    "text-large": [("text", (TEXT + "plain ascii run " * 20) * 12, True), ("text", "x" * 3000 + "é", True)],
    "mixed": [("text", "a" * 200, True), ("binary", b"\x00" * 1000, False), ("binary", b"\x01", True),
              ("ping", b"", True), ("text", "z", True)],
}


def frames_and_connection() -> Dict[str, Dict[str, bytes]]:
    out: Dict[str, Dict[str, bytes]] = {"frames": {}, "connection": {}}
    for deflate in (False, True):
        for name, script in SCRIPTS.items():
            client, server = _pair(deflate)
            sent = _traffic(client, script)
            answer = _traffic(server, script)
            tag = f"{name}{'-deflate' if deflate else ''}"
            # frames: options bit 0 = server role; bit 3 allows RSV1; bit 4 = messages off (extensions)
            ext_bits = 0x18 if deflate else 0
            out["frames"][f"client-to-server-{tag}"] = pack(1 | ext_bits, 0, sent[:8192])
            out["frames"][f"server-to-client-{tag}-chunked"] = pack(ext_bits, 7, answer[:8192])
            out["connection"][f"{tag}"] = pack(1 if deflate else 0, 0 if name == "text" else 13, sent[:8192])
            if name in ("binary", "mixed"):  # options bit 5: read from a reused buffer
                out["connection"][f"{tag}-reused-buffer"] = pack((1 if deflate else 0) | 32, 31, sent[:8192])
    return out


def utf8() -> Dict[str, bytes]:
    samples = {
        "ascii": b"hello world",
        "multibyte": TEXT.encode(),
        "boundaries": "\u007f\u0080\u07ff\u0800\ud7ff\ue000\uffff\U00010000\U0010ffff".encode("utf-8", "surrogatepass"),
        "surrogate": b"ab\xed\xa0\x80cd",
        "overlong": b"\xc0\xaf\xe0\x80\xaf",
        "too-high": b"\xf4\x90\x80\x80",
        "truncated": "✓".encode()[:2],
        "stray-continuation": b"ok\x80",
        "long-mixed": (TEXT + "ascii " * 40).encode() * 8,
        "long-ascii-bad-tail": b"a" * 3000 + b"\xed\xbf\xbf",
        "long-split-4byte": ("x" * 63 + "\U0001f680") .encode() * 40,
    }
    return {name: pack(i % 2, 0 if i % 3 else 3, body) for i, (name, body) in enumerate(samples.items())}


def handshake() -> Dict[str, bytes]:
    client = ClientConnection("localhost:9001", "/chat", origin="https://example.com", subprotocols=["chat"],
                              extensions=[ClientPerMessageDeflate()])
    req = bytes(client.data_to_send())
    server = ServerConnection(subprotocols=["chat"], extensions=[ServerPerMessageDeflate()])
    server.receive_data(request(True))
    ok = bytes(server.data_to_send())
    assert ACCEPT.encode() in ok, ok
    reject = ServerConnection(allowed_origins=["https://other.example"])
    reject.receive_data(req)
    return {
        "request-full": pack(1, 0, req),
        "request-chunked": pack(1, 5, req),
        "request-plain": pack(3, 0, request(False)),
        "response-101-deflate": pack(0, 0, ok + build_frame(1, "hi")),
        "response-101-plain": pack(0, 2, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + ACCEPT.encode() +
                                    b"\r\nSec-WebSocket-Protocol: chat\r\n\r\n"),
        "response-403": pack(0, 0, bytes(reject.data_to_send())),
        "request-key": pack(1, 0, request(False).replace(KEY.encode(), b"short")),
        "request-small-limits": pack(1 | 4, 9, req),
        "response-small-limits": pack(4, 0, ok),
    }


def deflate() -> Dict[str, bytes]:
    out = {}
    for bits, nct in ((15, False), (9, True), (12, False)):
        enc = PerMessageDeflate(local_max_window_bits=bits, local_no_context_takeover=nct, threshold=0)
        body = b""
        for opcode, payload, fin in ((1, TEXT.encode(), True), (2, bytes(300), False), (0, b"tail" * 50, True),
                                     (1, TEXT.encode(), True)):
            data, rsv = enc.encode(opcode, payload, fin)
            flags = (0x80 if fin else 0) | (0x40 if rsv else 0) | opcode
            body += bytes((flags, len(data) >> 8, len(data) & 0xFF)) + data
        out[f"messages-{bits}-{'nct' if nct else 'ctx'}"] = pack(bits - 8, 0, body)
    plain = b"".join(bytes((0x80 | op, 0, len(p))) + p for op, p in ((1, b"plain text"), (2, b"\x00\x01")))
    out["uncompressed"] = pack(7, 0, plain)
    data, _ = PerMessageDeflate(threshold=0).encode(1, TEXT.encode(), False)
    out["rsv1-on-continuation"] = pack(7 | (1 << 3), 0, bytes((0x41, 0, len(data))) + data + b"\xc0\x00\x00")
    bomb = PerMessageDeflate(threshold=0)
    data, _ = bomb.encode(2, bytes(200000), True)
    out["bomb-limited"] = pack(7 | (2 << 3), 0, bytes((0xC2, len(data) >> 8, len(data) & 0xFF)) + data)
    return out


def main() -> None:
    force = "--force" in sys.argv[1:]
    groups = frames_and_connection()
    groups.update(utf8=utf8(), handshake=handshake(), deflate=deflate())
    written = 0
    for target, files in groups.items():
        directory = os.path.join(CORPUS, target)
        os.makedirs(directory, exist_ok=True)
        for name, data in files.items():
            path = os.path.join(directory, name)
            if force or not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(data)
                written += 1
    print(f"{written} corpus files written under {CORPUS}")


if __name__ == "__main__":
    main()
