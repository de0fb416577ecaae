"""A Redis pub/sub backplane on redis-py's asyncio client (``pip install 'wsframe[redis]'``).

::

    from wsframe.backplane.redis import RedisBackplane

    bp = RedisBackplane("redis://127.0.0.1:6379/0")
    bp.attach_server(server)   # a wsframe.server.Server or wsframe.asyncio Server
    ...
    bp.close()

Each topic is the Redis channel ``prefix + topic``. A process subscribes to a
channel only while it has a local subscriber of that topic (as Centrifugo
does), so no process receives and filters traffic it does not need.

The backplane runs in its own thread with its own asyncio loop, so it serves
the selectors server and the asyncio server alike; remote publications enter
the server's loop through its ``call_soon_threadsafe``.

Failures:

* Redis unreachable or slow at start-up: :meth:`RedisBackplane.attach`
  raises :class:`~wsframe.backplane.BackplaneError` with one line
  (``cannot reach Redis at redis://...: ...``) after ``connect_timeout``.
* Redis goes away (restart, network): the backplane reconnects with a
  back-off (``reconnect_delay`` doubling up to ``max_reconnect_delay``) and
  resubscribes every topic that has local subscribers.
* Publications while Redis is away are kept, in order, in a bounded outbox
  (``max_pending`` messages, ``max_pending_bytes`` bytes) and sent after the
  reconnect (after ``flush_delay``, 1.5 s, so that the other processes have
  time to resubscribe: keep it above ``max_reconnect_delay``, 1 s). When the outbox is full, ``publish`` raises
  :class:`~wsframe.backplane.BackplaneError` and nobody gets the message:
  the publisher can act on it. Never lost silently.
* Redis pub/sub is at-most-once: a process that is disconnected from Redis
  misses what other processes published meanwhile (their outboxes only help
  while *they* are disconnected). Counted in :attr:`RedisBackplane.reconnects`.
* Bad data on a channel (not an envelope, bad UTF-8 in a text message, over
  ``max_message_size``) is dropped and counted in :attr:`RedisBackplane.rejected`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from typing import Any, Deque, Optional, Set, Tuple

try:
    import redis.asyncio as _redis
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
    from redis.retry import Retry
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("wsframe.backplane.redis needs redis-py: pip install 'wsframe[redis]'") from None

from . import Backplane, BackplaneError, Message, decode_envelope, encode_envelope

__all__ = ["RedisBackplane"]

logger = logging.getLogger("wsframe.backplane")

_NET_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class RedisBackplane(Backplane):
    """Topics shared by every process attached to the same Redis (see the module docstring)."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "wsframe:",
                 connect_timeout: float = 5.0, max_pending: int = 10_000, max_pending_bytes: int = 16 << 20,
                 max_message_size: Optional[int] = 1 << 20, flush_delay: float = 1.5,
                 reconnect_delay: float = 0.05, max_reconnect_delay: float = 1.0, batch: int = 256) -> None:
        self.url = url
        self.prefix = prefix
        self.connect_timeout = connect_timeout
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.max_message_size = max_message_size
        self.flush_delay = flush_delay
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.batch = batch
        self.node = os.urandom(8)  # our envelopes come back to us: skipped (delivered locally already)
        self.rejected = 0  # malformed or oversize messages received
        self.reconnects = 0  # connections to Redis after the first
        self.sent = 0
        self.received = 0
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._outbox: Deque[Tuple[bytes, bytes]] = deque()
        self._outbox_bytes = 0
        self._topics: Set[str] = set()  # wanted: topics with local subscribers (backplane thread)
        self._loop = asyncio.new_event_loop()
        self._thread: Optional[threading.Thread] = None
        self._wake: Optional[asyncio.Event] = None
        self._ps: Any = None
        self._closing = False

    # -- life --------------------------------------------------------------------------------

    def attach(self, pubsub: Any, call_soon_threadsafe: Any) -> None:
        """Connect to Redis (raises BackplaneError after ``connect_timeout``), then join ``pubsub``."""
        self._start()
        super().attach(pubsub, call_soon_threadsafe)

    def _start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop.run_forever, name="wsframe-redis", daemon=True)
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._first_connect(), self._loop)
        try:
            fut.result(self.connect_timeout + 1)
        except Exception as exc:
            self.close()
            reason = str(exc) or type(exc).__name__
            raise BackplaneError(f"cannot reach Redis at {self.url}: {reason.splitlines()[0]}") from None

    async def _first_connect(self) -> None:
        self._wake = asyncio.Event()
        client = self._client()
        try:
            await asyncio.wait_for(client.ping(), self.connect_timeout)
        finally:
            await client.aclose()
        self._loop.create_task(self._supervise())

    def _client(self) -> Any:
        return _redis.Redis.from_url(self.url, socket_connect_timeout=self.connect_timeout,
                                     retry=Retry(NoBackoff(), 0), health_check_interval=0)

    def close(self, flush_timeout: float = 2.0) -> None:
        """Send what the outbox holds (while connected, at most ``flush_timeout``
        seconds), then stop the backplane thread; what is left is dropped."""
        if self._closing:
            return
        if self._thread is not None and self._outbox and self.connected.is_set():
            async def drain() -> None:
                while self._outbox and self.connected.is_set():
                    await asyncio.sleep(0.005)
            try:
                asyncio.run_coroutine_threadsafe(asyncio.wait_for(drain(), flush_timeout), self._loop).result(
                    flush_timeout + 1)
            except Exception:
                pass
        self._closing = True
        if self.pubsub is not None and self.pubsub.backplane is self:
            self.pubsub.backplane = None
        if self._thread is not None:
            async def stop() -> None:
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            try:
                asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
            except Exception:  # pragma: no cover - the loop is gone already
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._thread = None

    @property
    def pending(self) -> int:
        """Publications waiting in the outbox."""
        return len(self._outbox)

    # -- Backplane ---------------------------------------------------------------------------

    def topic_added(self, topic: str) -> None:
        self._loop.call_soon_threadsafe(self._change, topic, True)

    def topic_removed(self, topic: str) -> None:
        self._loop.call_soon_threadsafe(self._change, topic, False)

    def publish(self, topic: str, message: Message) -> None:
        env = encode_envelope(self.node, message)
        with self._lock:
            if self._closing:
                raise BackplaneError("the backplane is closed")
            if len(self._outbox) >= self.max_pending or self._outbox_bytes + len(env) > self.max_pending_bytes:
                raise BackplaneError("backplane outbox full (Redis unreachable?): message not published")
            was_empty = not self._outbox
            self._outbox.append(((self.prefix + topic).encode("utf-8"), env))
            self._outbox_bytes += len(env)
        if was_empty:
            self._loop.call_soon_threadsafe(self._kick)

    # -- the backplane thread ----------------------------------------------------------------

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _change(self, topic: str, add: bool) -> None:
        if add:
            self._topics.add(topic)
        else:
            self._topics.discard(topic)
        ps = self._ps
        if ps is not None:
            channel = self.prefix + topic
            self._loop.create_task(self._subscribe_op(ps, channel, add))

    async def _subscribe_op(self, ps: Any, channel: str, add: bool) -> None:
        try:
            await (ps.subscribe(channel) if add else ps.unsubscribe(channel))
        except _NET_ERRORS:
            pass  # the reader sees the failure too and reconnects; resubscribing covers this topic

    async def _supervise(self) -> None:
        delay = self.reconnect_delay
        first = True
        while not self._closing:
            client = self._client()
            ps = client.pubsub(ignore_subscribe_messages=True)
            tasks = []
            try:
                await asyncio.wait_for(client.ping(), self.connect_timeout)
                # A control channel keeps the subscriber connection up with no topic.
                await ps.subscribe(self.prefix + "\0", *[self.prefix + t for t in self._topics])
                self._ps = ps
                self.connected.set()
                if not first:
                    self.reconnects += 1
                    logger.warning("reconnected to Redis at %s (%d topics resubscribed)", self.url, len(self._topics))
                    if self._outbox:
                        await asyncio.sleep(self.flush_delay)  # let the other processes resubscribe first
                first = False
                delay = self.reconnect_delay
                tasks = [asyncio.ensure_future(self._read(ps)), asyncio.ensure_future(self._send(client))]
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for t in done:
                    t.result()
            except asyncio.CancelledError:
                raise
            except _NET_ERRORS as exc:
                if self.connected.is_set():
                    logger.warning("lost Redis at %s (%s): reconnecting", self.url, str(exc).splitlines()[0]
                                   if str(exc) else type(exc).__name__)
            finally:
                self._ps = None
                self.connected.clear()
                for t in tasks:
                    t.cancel()
                for closer in (ps.aclose, client.aclose):
                    try:
                        await closer()
                    except Exception:
                        pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _read(self, ps: Any) -> None:
        plen = len(self.prefix.encode("utf-8"))
        limit = self.max_message_size
        while True:
            msg = await ps.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None or msg.get("type") != "message":
                continue
            try:
                node, message = decode_envelope(msg["data"], limit)
                topic = msg["channel"][plen:].decode("utf-8")
            except (ValueError, TypeError, AttributeError):
                self.rejected += 1
                if self.rejected == 1 or self.rejected % 1000 == 0:
                    logger.warning("rejected %d malformed or oversize backplane message(s)", self.rejected)
                continue
            if node == self.node:
                continue
            self.received += 1
            self._deliver_remote(topic, message)

    async def _send(self, client: Any) -> None:
        outbox = self._outbox
        wake = self._wake
        assert wake is not None
        while True:
            if not outbox:
                wake.clear()
                await wake.wait()
                continue
            items = [outbox[i] for i in range(min(len(outbox), self.batch))]
            if len(items) == 1:
                await client.publish(*items[0])
            else:
                pipe = client.pipeline(transaction=False)
                for channel, env in items:
                    pipe.publish(channel, env)
                await pipe.execute()
            # Sent: only now leave the outbox (a failure above keeps them for the reconnect).
            with self._lock:
                for _ in items:
                    _, env = outbox.popleft()
                    self._outbox_bytes -= len(env)
            self.sent += len(items)
