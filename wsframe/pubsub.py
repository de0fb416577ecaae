"""Topics and broadcast over server connections: each message framed once, an output budget per subscriber.

Layer-neutral: the core knows connections only through the small
:class:`Subscriber` interface, which the selectors server's ``ServerWebSocket``,
the asyncio server's ``ServerWebSocket`` (and any other layer) provide::

    server.pubsub                 # a PubSub, made on first use with the defaults
    ws.subscribe("room:1")        # exact topic strings, no patterns
    server.publish("room:1", "hello")   # str -> text frame, bytes-like -> binary
    ws.publish("room:1", "hi")    # the same, except to ws itself
    server.broadcast(conns, b"\\x01")    # an explicit set of connections

Built once. Server frames are unmasked, so an uncompressed message is the same
bytes for every subscriber: :meth:`PubSub.publish` builds that frame once and
hands the same ``bytes`` object to every subscriber. Subscribers that
negotiated permessage-deflate with ``server_no_context_takeover`` share one
compressed frame per compression setting; subscribers with context takeover
have their own compressor state, so the message is compressed once per such
subscriber (that is what context takeover means).

Semantics: see docs/pubsub.md. In short: per subscriber, messages arrive in
the order they were published (per topic and across topics on one server); a
connection that published receives its own message when it subscribed, except
through ``ws.publish``; a connection whose closing handshake has started
receives nothing more; past its output budget a subscriber's message is
dropped (counted, optional callback) or the subscriber is closed (1013), per
``on_overflow``.
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Protocol, Tuple, Union

from .codec import build_frame

__all__ = [
    "PubSub",
    "Subscriber",
    "TopicLimitError",
    "broadcast",
    "TransportCork",
    "CLOSED",
    "OVER_BUDGET",
    "DEFAULT_MAX_BUFFERED",
    "DEFAULT_MAX_TOPICS",
    "DEFAULT_MAX_TOPIC_LENGTH",
]

Message = Union[str, bytes, bytearray, memoryview]

DEFAULT_MAX_BUFFERED = 1 << 20  # bytes queued for one subscriber and not yet written
DEFAULT_MAX_TOPICS = 1024  # topics one connection may hold
DEFAULT_MAX_TOPIC_LENGTH = 1024  # characters of a topic name

# What Subscriber.pubsub_write / pubsub_send return besides 0 (queued).
CLOSED = -1  # the connection is not open (closing or closed): nothing queued
OVER_BUDGET = -2  # queueing would exceed the budget: nothing queued

_OP_TEXT = 1
_OP_BINARY = 2
_PER_CONNECTION = "per-connection"  # mode of a subscriber whose frames cannot be shared


class Subscriber(Protocol):
    """What a connection provides to the pub/sub core (each server layer implements it).

    Every method is called in the connection's event-loop thread.
    """

    def pubsub_write(self, frame: bytes, budget: int) -> int:
        """Queue a prebuilt server frame (the same object for every subscriber;
        never modified). Anything this connection sent earlier goes out first.
        Return 0 when queued, :data:`CLOSED` when the connection is not open,
        :data:`OVER_BUDGET` (and queue nothing) when the bytes queued and not
        yet written plus ``len(frame)`` would exceed ``budget``. The layer
        writes queued frames at its next loop iteration, with one write per
        connection for everything queued meanwhile."""

    def pubsub_send(self, message: Message, budget: int) -> int:
        """Send ``message`` through this connection's own encoder (used when
        its extensions keep state across messages); same results as
        :meth:`pubsub_write`."""

    def pubsub_extensions(self) -> List[Any]:
        """The extensions negotiated by this connection (fixed once open)."""

    def pubsub_close(self, code: int, reason: str) -> None:
        """Start the closing handshake (the overflow policy ``"close"``)."""


class TopicLimitError(ValueError):
    """A connection tried to hold more topics than ``max_topics``, or a topic name is too long."""


class _Sub:
    """The core's record of one subscribed connection."""

    __slots__ = ("sub", "write", "send", "mode", "topics", "dropped")

    def __init__(self, sub: Any, mode: Any) -> None:
        self.sub = sub
        self.write = sub.pubsub_write
        self.send = sub.pubsub_send
        self.mode = mode  # None: plain; a deflate key: shared compressed frame; _PER_CONNECTION
        self.topics: Dict[str, None] = {}
        self.dropped = 0


def _mode_of(sub: Any) -> Any:
    """How frames for ``sub`` are made: shared plain, shared deflate (key), or per connection."""
    exts = sub.pubsub_extensions()
    if not exts:
        return None
    if len(exts) == 1:
        ext = exts[0]
        if getattr(ext, "name", None) == "permessage-deflate" and getattr(ext, "local_no_context_takeover", False):
            # Without context takeover each message is a complete deflate stream:
            # one compression serves everyone with the same settings.
            return (ext.local_max_window_bits, ext.compress_level, ext.mem_level, ext.threshold)
    return _PER_CONNECTION


def _deflate_frame(key: Tuple[int, int, int, int], op: int, payload: bytes, plain: bytes) -> bytes:
    bits, level, mem_level, threshold = key
    if len(payload) < threshold:
        return plain
    enc = zlib.compressobj(level, zlib.DEFLATED, -9 if bits < 9 else -bits, mem_level)
    data = enc.compress(payload) + enc.flush(zlib.Z_SYNC_FLUSH)
    return build_frame(op, data[:-4], rsv1=True)  # RFC 7692 7.2.1: strip 00 00 ff ff


class PubSub:
    """Topics of one server (one process); optionally joined to other processes by a backplane.

    ``max_buffered``
        the output budget of each subscriber: bytes queued for it and not
        yet written. A message that would exceed it is not queued; then
        ``on_overflow`` applies.
    ``on_overflow``
        ``"close"`` (default): close that subscriber with ``close_code``
        (1013 "try again later" by default; 1008 is the other sensible
        choice) so that its client knows it missed messages;
        ``"drop"``: skip the message for that subscriber only, count it
        (:attr:`dropped`, and per connection :meth:`dropped_for`) and call
        ``on_drop(subscriber, topic, message)`` when given.
    ``max_topics``
        topics one connection may hold; one more raises :class:`TopicLimitError`.
    ``max_topic_length``
        longest topic name, in characters.
    """

    def __init__(self, *, max_buffered: int = DEFAULT_MAX_BUFFERED, on_overflow: str = "close",
                 close_code: int = 1013, on_drop: Optional[Callable[[Any, Optional[str], Message], Any]] = None,
                 max_topics: int = DEFAULT_MAX_TOPICS, max_topic_length: int = DEFAULT_MAX_TOPIC_LENGTH) -> None:
        if on_overflow not in ("close", "drop"):
            raise ValueError("on_overflow must be 'close' or 'drop'")
        if close_code not in (1008, 1013) and not 3000 <= close_code <= 4999:
            raise ValueError("close_code must be 1008, 1013 or an application code 3000-4999")
        if max_buffered < 0 or max_topics < 0 or max_topic_length < 1:
            raise ValueError("max_buffered and max_topics must be >= 0, max_topic_length >= 1")
        self.max_buffered = max_buffered
        self.on_overflow = on_overflow
        self.close_code = close_code
        self.on_drop = on_drop
        self.max_topics = max_topics
        self.max_topic_length = max_topic_length
        self.dropped = 0  # messages dropped for over-budget subscribers (policy "drop")
        self.closed_over_budget = 0  # subscribers closed for their budget (policy "close")
        self.backplane: Any = None  # set by Backplane.attach: told when a topic gains/loses its last subscriber
        self._topics: Dict[str, Dict[Any, _Sub]] = {}
        self._subs: Dict[Any, _Sub] = {}
        # Per topic, made on the first publish after a membership change: the
        # write methods of its plain subscribers (the hot loop) and the others.
        self._split: Dict[str, Tuple[List[Any], List[_Sub]]] = {}
        # Bursts (see flush_runs): set by a layer that calls flush_runs at the end of
        # its loop pass and before anything else it writes to a connection.
        self.batch: Optional[Callable[[], Any]] = None
        # With batch set: also the first publish of a pass waits for flush_runs (asyncio layers,
        # whose writes go straight to the socket: one write per subscriber for the whole pass).
        self.defer = False
        self._last: Any = None  # the split of the last publish this pass, while batching
        self._runs: List[List[Any]] = []  # [plain writes, topic, frames, messages]: not written yet

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, sub: Subscriber, topic: str) -> bool:
        """Add ``sub`` to ``topic``; False when it already was. Raises
        :class:`TopicLimitError` past ``max_topics`` or ``max_topic_length``."""
        if not isinstance(topic, str):
            raise TypeError(f"a topic is a str, not {type(topic).__name__}")
        rec = self._subs.get(sub)
        if rec is not None and topic in rec.topics:
            return False
        if len(topic) > self.max_topic_length or not topic:
            raise TopicLimitError(f"a topic name must have 1 to {self.max_topic_length} characters")
        if rec is None:
            rec = self._subs[sub] = _Sub(sub, _mode_of(sub))
        if len(rec.topics) >= self.max_topics:
            raise TopicLimitError(f"a connection may hold at most {self.max_topics} topics")
        rec.topics[topic] = None
        members = self._topics.get(topic)
        if members is None:
            members = self._topics[topic] = {}
            if self.backplane is not None:
                self.backplane.topic_added(topic)
        members[sub] = rec
        self._split.pop(topic, None)
        return True

    def unsubscribe(self, sub: Subscriber, topic: str) -> bool:
        """Remove ``sub`` from ``topic``; False when it was not subscribed."""
        rec = self._subs.get(sub)
        if rec is None or topic not in rec.topics:
            return False
        del rec.topics[topic]
        self._leave(sub, topic)
        if not rec.topics:
            del self._subs[sub]
        return True

    def discard(self, sub: Subscriber) -> None:
        """Forget ``sub`` entirely (its layer calls this when the connection closes)."""
        rec = self._subs.pop(sub, None)
        if rec is not None:
            for topic in rec.topics:
                self._leave(sub, topic)
            rec.topics.clear()

    def _leave(self, sub: Any, topic: str) -> None:
        members = self._topics[topic]
        del members[sub]
        self._split.pop(topic, None)
        if not members:
            del self._topics[topic]
            if self.backplane is not None:
                self.backplane.topic_removed(topic)

    def topics_of(self, sub: Subscriber) -> List[str]:
        """The topics ``sub`` holds, in subscription order."""
        rec = self._subs.get(sub)
        return list(rec.topics) if rec is not None else []

    def subscriber_count(self, topic: str) -> int:
        """How many local connections hold ``topic``."""
        members = self._topics.get(topic)
        return len(members) if members is not None else 0

    @property
    def topics(self) -> List[str]:
        """Every topic with at least one local subscriber."""
        return list(self._topics)

    def dropped_for(self, sub: Subscriber) -> int:
        """Messages dropped for ``sub`` (policy ``"drop"``) while it held a topic."""
        rec = self._subs.get(sub)
        return rec.dropped if rec is not None else 0

    # -- publishing ------------------------------------------------------------------------

    def publish(self, topic: str, message: Message, *, exclude: Any = None) -> int:
        """Queue ``message`` for every local subscriber of ``topic`` (except
        ``exclude``) and hand it to the backplane, if any, for the other
        processes. Returns how many local subscribers it was queued for."""
        bp = self.backplane
        if bp is not None:
            bp.publish(topic, message)  # may raise (its outbox is full): nothing was delivered then
        return self.deliver(topic, message, exclude)

    def deliver(self, topic: str, message: Message, exclude: Any = None) -> int:
        """Queue ``message`` for the local subscribers of ``topic`` only (what a backplane calls)."""
        members = self._topics.get(topic)
        if not members:
            return 0
        if exclude is None:
            split = self._split.get(topic)
            if split is None:
                plain = [rec.write for rec in members.values() if rec.mode is None]
                split = self._split[topic] = (plain, [rec for rec in members.values() if rec.mode is not None])
            if self.batch is not None:
                if split is self._last and split[0]:
                    return self._add_to_run(split, topic, message)
                if self._runs and not self.defer:
                    self.flush_runs()  # publish order across topics (deferred: runs keep it)
                if self._last is None:
                    self.batch()  # flush_runs at the end of this pass (ends the burst)
                self._last = split
                if self.defer and split[0]:
                    return self._add_to_run(split, topic, message)
            return self._fan_out_split(split, topic, message)
        if self._runs:
            self.flush_runs()
        self._last = None
        recs = list(members.values())
        if exclude is not None:
            rec = members.get(exclude)
            if rec is not None:
                recs.remove(rec)
        return self._fan_out(recs, topic, message)

    def broadcast(self, subs: Iterable[Subscriber], message: Message) -> int:
        """Queue ``message`` for each of ``subs`` (subscribed or not), framed
        once as for :meth:`publish`; the same budget and overflow policy.
        Returns how many it was queued for."""
        if self._runs:
            self.flush_runs()
        self._last = None
        recs = []
        known = self._subs
        for s in subs:
            rec = known.get(s)
            recs.append(rec if rec is not None else _Sub(s, _mode_of(s)))
        return self._fan_out(recs, None, message)

    def _fan_out_split(self, split: Tuple[List[Any], List[_Sub]], topic: str, message: Message) -> int:
        writes, others = split
        if isinstance(message, str):
            frame = build_frame(_OP_TEXT, message.encode("utf-8"))
        else:
            frame = build_frame(_OP_BINARY, message if message.__class__ is bytes else bytes(message))
        budget = self.max_buffered
        failed = None
        for w in writes:  # the same frame object for each; 0 means queued
            r = w(frame, budget)
            if r:
                if failed is None:
                    failed = []
                failed.append((w, r))
        n = len(writes)
        if failed is not None:
            n -= len(failed)
            members = self._topics.get(topic, {})
            by_write = {rec.write: rec for rec in members.values()}
            for w, r in failed:
                rec = by_write.get(w)
                if rec is not None and r == OVER_BUDGET:
                    self._over_budget(rec, topic, message)
        if others:
            n += self._fan_out(others, topic, message, frame)
        return n

    def _add_to_run(self, split: Tuple[List[Any], List[_Sub]], topic: str, message: Message) -> int:
        """A publish to the same subscribers as the previous one of this pass: its frame joins
        a run, written to each plain subscriber once, joined, by :meth:`flush_runs`."""
        if isinstance(message, str):
            frame = build_frame(_OP_TEXT, message.encode("utf-8"))
        else:
            frame = build_frame(_OP_BINARY, message if message.__class__ is bytes else bytes(message))
        runs = self._runs
        if runs and runs[-1][0] is split[0]:
            run = runs[-1]
            run[2].append(frame)
            run[3].append(message)
        else:
            runs.append([split[0], topic, [frame], [message]])
        n = len(split[0])
        if split[1]:
            n += self._fan_out(split[1], topic, message, frame)
        return n

    def flush_runs(self) -> None:
        """Write the pending runs of published frames (in publish order) and end the burst:
        one write of the joined frames per plain subscriber and run. A subscriber for which
        that would exceed the budget gets the frames one by one, as without batching."""
        self._last = None
        runs = self._runs
        if not runs:
            return
        pending = runs[:]
        runs.clear()  # (the list object stays: layers hold it to check for pending runs)
        budget = self.max_buffered
        for writes, topic, frames, messages in pending:
            joined = frames[0] if len(frames) == 1 else b"".join(frames)
            failed = None
            for w in writes:
                if w(joined, budget) == OVER_BUDGET:
                    if failed is None:
                        failed = []
                    failed.append(w)
            if failed is not None:
                by_write = {rec.write: rec for rec in self._subs.values()}
                for w in failed:
                    rec = by_write.get(w)
                    for f, m in zip(frames, messages):
                        r = w(f, budget)
                        if r == OVER_BUDGET and rec is not None:
                            self._over_budget(rec, topic, m)
                        elif r == CLOSED:
                            break

    def _fan_out(self, recs: List[_Sub], topic: Optional[str], message: Message, frame: Optional[bytes] = None) -> int:
        if isinstance(message, str):
            op = _OP_TEXT
            payload = message.encode("utf-8")
        else:
            op = _OP_BINARY
            payload = message if message.__class__ is bytes else bytes(message)
        if frame is None:
            frame = build_frame(op, payload)  # the one frame every plain subscriber gets
        budget = self.max_buffered
        shared: Optional[Dict[Any, bytes]] = None
        n = 0
        for rec in recs:
            mode = rec.mode
            if mode is None:
                r = rec.write(frame, budget)
            elif mode is _PER_CONNECTION:
                r = rec.send(message, budget)
            else:
                if shared is None:
                    shared = {}
                f = shared.get(mode)
                if f is None:
                    f = shared[mode] = _deflate_frame(mode, op, payload, frame)
                r = rec.write(f, budget)
            if r == 0:
                n += 1
            elif r == OVER_BUDGET:
                self._over_budget(rec, topic, message)
        return n

    def _over_budget(self, rec: _Sub, topic: Optional[str], message: Message) -> None:
        if self.on_overflow == "drop":
            self.dropped += 1
            rec.dropped += 1
            if self.on_drop is not None:
                self.on_drop(rec.sub, topic, message)
        else:
            self.closed_over_budget += 1
            rec.sub.pubsub_close(self.close_code, "subscriber too slow")


def broadcast(connections: Iterable[Subscriber], message: Message, *, max_buffered: int = DEFAULT_MAX_BUFFERED,
              on_overflow: str = "drop") -> int:
    """Send ``message`` to each of ``connections`` (any layer's server
    connections), framed once; connections over ``max_buffered`` bytes of
    unsent output skip it (``on_overflow="drop"``) or are closed with 1013
    (``"close"``). Returns how many it was queued for. Call it in the
    connections' event-loop thread."""
    return PubSub(max_buffered=max_buffered, on_overflow=on_overflow).broadcast(connections, message)


class TransportCork:
    """Stands in for an asyncio transport until the loop's next pass: every
    write meanwhile (published frames and the connection's own replies, in
    their order) is collected and written with one ``transport.write``.

    For asyncio-based layers (the asyncio server, uvicorn): ``cork(owner)``
    replaces ``owner.transport`` and returns the cork; ``uncork()`` puts the
    real transport back and writes. Closing or half-closing writes first.
    """

    __slots__ = ("transport", "owner", "parts", "size")

    def __init__(self, owner: Any) -> None:
        self.transport = owner.transport
        self.owner = owner
        self.parts: List[Any] = []
        self.size = 0
        owner.transport = self

    def write(self, data: Any) -> None:
        self.parts.append(data)  # a frame shared by all, or a buffer the connection handed over
        self.size += len(data)

    def writelines(self, datas: Iterable[Any]) -> None:
        for d in datas:
            self.write(d)

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + self.size

    def uncork(self) -> None:
        """Restore the transport and write what was collected, in one call."""
        t = self.transport
        if self.owner.transport is self:
            self.owner.transport = t
        parts, self.parts, self.size = self.parts, [], 0
        if parts and not t.is_closing():
            t.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def write_eof(self) -> None:
        self.uncork()
        self.transport.write_eof()

    def close(self) -> None:
        self.uncork()
        self.transport.close()

    def abort(self) -> None:
        self.parts, self.size = [], 0
        self.uncork()
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)
