"""The scale-out interface: a :class:`Backplane` joins the topics of several server processes.

A process's :class:`wsframe.pubsub.PubSub` delivers a publication to its own
subscribers at once and hands it to its backplane, which carries it to the
other processes; there each backplane calls ``PubSub.deliver`` in that
server's loop thread. A backplane is told when a topic gains its first local
subscriber and loses its last (``topic_added`` / ``topic_removed``), so a
process only receives the topics it needs.

Implementations: :mod:`wsframe.backplane.redis` (Redis pub/sub; the optional
extra ``wsframe[redis]``). This module has no dependency.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Optional, Tuple, Union

__all__ = ["Backplane", "BackplaneError", "encode_envelope", "decode_envelope", "MAGIC"]

Message = Union[str, bytes, bytearray, memoryview]

MAGIC = b"wsf1"
_NODE_LEN = 8
_HEAD = len(MAGIC) + _NODE_LEN + 1  # magic, node id, kind


class BackplaneError(Exception):
    """The backplane cannot take a publication now (its outbox is full) or cannot start."""


def encode_envelope(node: bytes, message: Message) -> bytes:
    """One publication on the wire: magic, the sending node's id, ``t`` or ``b``, the payload."""
    if isinstance(message, str):
        return MAGIC + node + b"t" + message.encode("utf-8")
    return MAGIC + node + b"b" + bytes(message)


def decode_envelope(data: bytes, max_size: Optional[int]) -> Tuple[bytes, Message]:
    """(node id, message) of an envelope; ValueError for anything malformed or over ``max_size`` bytes."""
    if len(data) < _HEAD or data[:4] != MAGIC:
        raise ValueError("not a wsframe envelope")
    if max_size is not None and len(data) - _HEAD > max_size:
        raise ValueError("message over max_message_size")
    node = data[4:4 + _NODE_LEN]
    kind = data[_HEAD - 1]
    if kind == 0x74:  # t
        return node, data[_HEAD:].decode("utf-8")  # UnicodeDecodeError is a ValueError
    if kind == 0x62:  # b
        return node, data[_HEAD:]
    raise ValueError("unknown message kind")


class Backplane(abc.ABC):
    """What :class:`wsframe.pubsub.PubSub` needs from a scale-out transport.

    ``topic_added``, ``topic_removed`` and ``publish`` are called in the
    server's loop thread and must not block. ``publish`` raises
    :class:`BackplaneError` when the publication cannot be accepted (then
    nobody got it, local subscribers included: the caller may retry).
    """

    pubsub: Any = None

    def attach(self, pubsub: Any, call_soon_threadsafe: Callable[[Callable[[], Any]], Any]) -> None:
        """Join ``pubsub``; ``call_soon_threadsafe(fn)`` must run ``fn`` in its server's loop thread."""
        self.pubsub = pubsub
        self._call_soon = call_soon_threadsafe
        pubsub.backplane = self
        for topic in pubsub.topics:
            self.topic_added(topic)

    def attach_server(self, server: Any) -> None:
        """:meth:`attach` to a :class:`wsframe.server.Server` or a :class:`wsframe.asyncio.Server`."""
        call = getattr(server, "call_soon_threadsafe", None)
        if call is None:
            call = server._loop.call_soon_threadsafe  # the asyncio server's loop
        self.attach(server.pubsub, call)

    def _deliver_remote(self, topic: str, message: Message) -> None:
        """Hand a publication from another process to the local subscribers (any thread)."""
        pubsub = self.pubsub
        self._call_soon(lambda: pubsub.deliver(topic, message))

    @abc.abstractmethod
    def topic_added(self, topic: str) -> None:
        """The first local subscriber of ``topic`` arrived: start receiving it."""

    @abc.abstractmethod
    def topic_removed(self, topic: str) -> None:
        """The last local subscriber of ``topic`` left: stop receiving it."""

    @abc.abstractmethod
    def publish(self, topic: str, message: Message) -> None:
        """Carry ``message`` to the other processes (not back to this one)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop (after trying to send what is pending)."""
