"""A fast load client for the soak tests: wsframe's sans-I/O ClientConnection
driven over non-blocking sockets with one selector, many connections per
thread (no thread per connection).

``Peer`` is one connection with its plan (the messages it sends) and the
echoes it expects, in order; ``drive(peers, deadline)`` runs a group of peers
until each has finished its plan (or the deadline passes). Every message
received is compared with the one sent; pongs with their pings.
"""

from __future__ import annotations

import collections
import errno
import selectors
import socket
import time
from typing import Callable, Deque, Iterator, List, Optional, Tuple, Union

from wsframe.connection import ClientConnection
from wsframe.permessage_deflate import ClientPerMessageDeflate

# A step of a plan: ("text"|"binary", payload, fragment sizes or None), ("ping", payload, None)
Step = Tuple[str, Union[str, bytes], Optional[Tuple[int, ...]]]


class SoakError(AssertionError):
    """A message lost, corrupted or out of order; an unexpected close."""


class Peer:
    """One client connection and its bookkeeping."""

    def __init__(self, address: Tuple[str, int], plan: Iterator[Step], *, deflate: bool, window: int = 4,
                 hold: bool = False) -> None:
        self.address = address
        self.conn = ClientConnection(f"{address[0]}:{address[1]}", "/soak",
                                     extensions=[ClientPerMessageDeflate()] if deflate else [],
                                     max_message_size=None)
        self.deflate = deflate
        self.plan = plan
        self.window = window
        self.hold = hold  # stay open after the plan, until release()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.out = bytearray()
        self.expected: Deque[Union[str, bytes]] = collections.deque()
        self.pings: Deque[bytes] = collections.deque()
        self.open = False
        self.plan_done = False
        self.closing = False
        self.closed_code: Optional[int] = None
        self.started = False  # connect() issued
        self.finished = False  # the TCP connection ended
        self.sent = 0
        self.echoed = 0
        self.pongs = 0
        self.bytes_echoed = 0

    # -- plan --------------------------------------------------------------

    def _fill(self) -> None:
        conn = self.conn
        while not self.plan_done and len(self.expected) < self.window:
            step = next(self.plan, None)
            if step is None:
                self.plan_done = True
                break
            kind, payload, pieces = step
            if kind == "ping":
                assert isinstance(payload, bytes)
                conn.send_ping(payload)
                self.pings.append(payload)
                continue
            send = conn.send_text if kind == "text" else conn.send_binary
            if pieces:
                start = 0
                for size in pieces:
                    send(payload[start : start + size], fin=False)
                    start += size
                send(payload[start:], fin=True)
            else:
                send(payload)
            self.expected.append(payload)
            self.sent += 1
        if self.plan_done and not self.expected and not self.pings and not self.hold and not self.closing:
            self.close()

    def close(self) -> None:
        if not self.closing and self.conn.state.name == "OPEN":
            self.closing = True
            self.conn.close(1000, "soak done")
            self.out += self.conn.data_to_send()

    def resume(self, plan: Iterator[Step], hold: bool) -> None:
        """Start another plan on the open connection (the next drive() runs it)."""
        self.plan = plan
        self.plan_done = False
        self.hold = hold
        self._fill()
        self.out += self.conn.data_to_send()

    def release(self) -> None:
        """Close once the plan is done (the next drive() runs the closing handshake)."""
        self.hold = False
        if self.plan_done and not self.expected and not self.pings:
            self.close()

    @property
    def idle(self) -> bool:
        """Open, plan done, every echo received (a held connection waiting for release())."""
        return self.open and self.plan_done and not self.expected and not self.pings

    # -- I/O ---------------------------------------------------------------

    def received(self, data: bytes) -> None:
        conn = self.conn
        if data:
            conn.receive_data(data)
        else:
            conn.receive_eof()
            self.finished = True
        for event in conn.events():
            name = type(event).__name__
            if name in ("TextMessage", "BinaryMessage"):
                if not self.expected:
                    raise SoakError(f"unexpected message of {len(event.data)} bytes")
                want = self.expected.popleft()
                if event.data != want:
                    raise SoakError(f"echo differs: got {len(event.data)} bytes, sent {len(want)}")
                self.echoed += 1
                self.bytes_echoed += len(want)
            elif name == "Pong":
                if not self.pings or self.pings.popleft() != event.payload:
                    raise SoakError(f"unexpected pong {event.payload!r}")
                self.pongs += 1
            elif name == "Connected":
                self.open = True
                if self.deflate and not conn.extensions:
                    raise SoakError("permessage-deflate was not negotiated")
            elif name == "Closed":
                self.closed_code = event.code
                if not (self.closing and event.code == 1000):
                    raise SoakError(f"connection closed: {event.code} {event.reason!r} {event.error!r}")
            elif name == "Rejected":
                raise SoakError(f"handshake rejected: {event.status} {event.reason}")
        if self.open and conn.state.name == "OPEN":
            self._fill()
        self.out += conn.data_to_send()


def _want(peer: Peer) -> int:
    return selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.out else 0)


def drive(peers: List[Peer], deadline: float, *, connect_batch: int = 256,
          until: Optional[Callable[[List[Peer]], bool]] = None) -> None:
    """Run ``peers`` until every TCP connection ended (or ``until(peers)`` is
    true); raise SoakError past ``deadline`` (time.monotonic())."""
    sel = selectors.DefaultSelector()
    # Peers not connected yet: at most connect_batch handshakes at once.
    waiting = collections.deque(p for p in peers if not p.started)
    connecting = 0
    done = 0
    for peer in peers:
        if peer.finished:
            done += 1
        elif peer.started:
            sel.register(peer.sock, _want(peer), peer)
            connecting += 0 if peer.open else 1

    try:
        while done < len(peers):
            if until is not None and until(peers):
                return
            while waiting and connecting < connect_batch:
                peer = waiting.popleft()
                peer.out += peer.conn.data_to_send()
                err = peer.sock.connect_ex(peer.address)
                if err not in (0, errno.EINPROGRESS):
                    raise SoakError(f"connect: {errno.errorcode.get(err, err)}")
                peer.started = True
                sel.register(peer.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, peer)
                connecting += 1
            if time.monotonic() > deadline:
                stuck = [p for p in peers if not p.finished][:3]
                raise SoakError(f"deadline passed with {len(peers) - done} connections unfinished; e.g. "
                                + "; ".join(f"open={p.open} sent={p.sent} echoed={p.echoed} "
                                            f"pending={len(p.expected)} out={len(p.out)}" for p in stuck))
            for key, mask in sel.select(timeout=0.5):
                peer = key.data
                was_open = peer.open
                if mask & selectors.EVENT_READ:
                    try:
                        data = peer.sock.recv(262144)
                    except (BlockingIOError, InterruptedError):
                        data = None
                    except ConnectionResetError as exc:
                        raise SoakError(f"connection reset ({peer.echoed} echoed)") from exc
                    if data is not None:
                        peer.received(data)
                if peer.out and not peer.finished:
                    try:
                        n = peer.sock.send(peer.out)
                        del peer.out[:n]
                    except (BlockingIOError, InterruptedError):
                        pass
                if peer.open and not was_open:
                    connecting -= 1
                if peer.finished:
                    sel.unregister(peer.sock)
                    peer.sock.close()
                    done += 1
                    if not was_open and not peer.open:
                        raise SoakError("the server closed a connection during the handshake")
                else:
                    sel.modify(peer.sock, _want(peer), peer)
    finally:
        sel.close()


def close_all(peers: List[Peer]) -> None:
    for peer in peers:
        if not peer.finished:
            peer.sock.close()
