"""One :class:`Limits` object: every size limit and timeout of every I/O layer, with one set of defaults.

Each entry point (:class:`wsframe.server.Server`, :func:`wsframe.client.connect`,
:func:`wsframe.asyncio.serve` / :func:`wsframe.asyncio.connect`, the uvicorn
protocol) takes ``limits=Limits(...)``; the keyword arguments those entry points
always took (``max_message_size=``, ``close_timeout=``...) still work and
override the matching field. The transport rules that use these values are in
:mod:`wsframe._driver`.

The fragment cap: by default (``max_fragments="auto"``) a message may have as
many frames as a message of ``max_message_size`` bytes cut into
:data:`SMALL_FRAGMENT`-byte fragments (at least :data:`MIN_FRAGMENTS`). A flood of
empty or tiny continuation frames is then stopped after about as many frames as a
legitimate maximal message in small fragments would have: the work per message
stays proportional to the size limit. Autobahn 9.3.x/9.4.x (4 MiB messages in
fragments down to 64 bytes: 65,536 frames) pass once ``max_message_size`` is
4 MiB or more.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Optional, Union

__all__ = ["Limits", "DEFAULT_LIMITS", "MIN_FRAGMENTS", "SMALL_FRAGMENT", "UNSET", "resolve", "from_arguments"]

#: The fewest frames per message the derived fragment cap allows.
MIN_FRAGMENTS = 4096
#: The fragment size the derived cap is computed for: the smallest fragments
#: Autobahn sends in its 9.3/9.4 cases, and small enough that real senders
#: (browsers, proxies re-chunking at 1-16 KiB) never come near the cap.
SMALL_FRAGMENT = 64
#: The derived cap when there is no message size limit (a 64 MiB message in 64-byte fragments).
UNBOUNDED_FRAGMENTS = 1 << 20


class _Unset:
    """The default of an entry point's keyword argument: take the value from ``limits``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: Marks a keyword argument the caller did not pass (see :func:`resolve`).
UNSET: Any = _Unset()


@dataclass(frozen=True)
class Limits:
    """Limits and timeouts of a connection (sizes in bytes, times in seconds; None: no limit).

    ``max_message_size``
        largest incoming message (decompressed size); past it: close 1009.
    ``max_fragments``
        most frames of one incoming message; past it: close 1009. ``"auto"``
        (the default) derives it from ``max_message_size`` (see the module
        docstring); an int sets it; None removes the cap.
    ``max_header_size``
        largest HTTP head of the opening handshake.
    ``open_timeout``
        TCP + TLS + HTTP opening handshake (the servers' ``handshake_timeout``).
    ``close_timeout``
        the closing handshake, once a close frame was sent or received.
    ``message_timeout``
        one incoming message, from its first byte to its last; past it: close 1008.
    ``ping_interval``, ``ping_timeout``
        keepalive: a ping after ``ping_interval`` without input; no input within
        ``ping_timeout`` after it: close 1011.
    ``idle_timeout``
        nothing received for this long: close 1001.
    ``write_timeout``
        queued output made no progress for this long: drop the connection.
    ``failure_grace``
        how long a peer error may wait behind messages the application has not
        answered yet (at most ``close_timeout``); then the connection fails anyway.
    ``drain_time``, ``drain_bytes``
        after our close, how long (at most ``close_timeout``) and how many bytes
        of input we discard waiting for the peer's EOF before closing anyway.
    ``high_water``, ``low_water``
        backpressure marks of unsent output.
    ``coalesce_bytes``
        replies to queued messages are written together up to this many bytes.
    ``compression``
        permessage-deflate offered (clients) or accepted (servers): on by default,
        as browsers and the ``websockets`` library expect.
    """

    max_message_size: Optional[int] = 1 << 20
    max_fragments: Union[int, None, str] = "auto"
    max_header_size: int = 16384
    open_timeout: Optional[float] = 10.0
    close_timeout: Optional[float] = 10.0
    message_timeout: Optional[float] = 60.0
    ping_interval: Optional[float] = None
    ping_timeout: Optional[float] = 20.0
    idle_timeout: Optional[float] = None
    write_timeout: Optional[float] = 60.0
    failure_grace: float = 5.0
    drain_time: float = 2.0
    drain_bytes: int = 1 << 20
    high_water: int = 1 << 20
    low_water: int = 1 << 18
    coalesce_bytes: int = 1 << 16
    compression: bool = True

    def __post_init__(self) -> None:
        if self.max_message_size is not None and self.max_message_size < 0:
            raise ValueError("max_message_size must be >= 0 or None")
        mf = self.max_fragments
        if mf is not None and mf != "auto":
            if not isinstance(mf, int) or isinstance(mf, bool):
                raise TypeError(f"max_fragments must be an int, 'auto' or None, not {mf!r}")
            if mf < 1:
                raise ValueError("max_fragments must be >= 1, 'auto' or None")
        if self.low_water < 0 or self.low_water > self.high_water:
            raise ValueError("need 0 <= low_water <= high_water")
        for name in ("open_timeout", "close_timeout", "message_timeout", "ping_interval", "ping_timeout",
                     "idle_timeout", "write_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None")
        if self.failure_grace < 0 or self.drain_time < 0 or self.drain_bytes < 0 or self.coalesce_bytes < 0:
            raise ValueError("failure_grace, drain_time, drain_bytes and coalesce_bytes must be >= 0")

    @property
    def fragment_cap(self) -> Optional[int]:
        """The effective ``max_fragments`` handed to the connection (None: no cap)."""
        mf = self.max_fragments
        if mf != "auto":
            return mf  # type: ignore[return-value]
        size = self.max_message_size
        if size is None:
            return UNBOUNDED_FRAGMENTS
        return max(MIN_FRAGMENTS, size // SMALL_FRAGMENT)

    def connection_kwargs(self) -> "dict[str, Any]":
        """The keyword arguments of :class:`~wsframe.connection.ServerConnection` /
        ``ClientConnection`` these limits set."""
        return {"max_message_size": self.max_message_size, "max_fragments": self.fragment_cap,
                "max_header_size": self.max_header_size}

    def replace(self, **changes: Any) -> "Limits":
        """A copy with some fields changed; keyword arguments whose value is UNSET are ignored."""
        changes = {k: v for k, v in changes.items() if v is not UNSET}
        return replace(self, **changes) if changes else self


#: The defaults, shared by every layer.
DEFAULT_LIMITS = Limits()

_FIELDS = frozenset(f.name for f in fields(Limits))


def resolve(limits: Optional[Limits], **overrides: Any) -> Limits:
    """``limits`` (or the defaults) with the keyword arguments a caller passed
    (those not UNSET) applied on top. ``handshake_timeout`` is an alias of
    ``open_timeout``. Unknown names raise TypeError."""
    base = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(base, Limits):
        raise TypeError(f"limits must be a wsframe.limits.Limits, not {type(base).__name__}")
    if "handshake_timeout" in overrides:
        value = overrides.pop("handshake_timeout")
        if value is not UNSET:
            overrides["open_timeout"] = value
    unknown = set(overrides) - _FIELDS
    if unknown:
        raise TypeError(f"unknown limit(s): {', '.join(sorted(unknown))}")
    return base.replace(**overrides)


def from_arguments(limits: Optional[Limits], arguments: Mapping[str, Any]) -> Limits:
    """:func:`resolve` with the limit fields found in ``arguments`` (an entry point's keyword
    arguments, e.g. its ``locals()``); other names, and ``compression`` (each entry point reads
    it itself: it may also name an algorithm), are ignored."""
    picked = {k: v for k, v in arguments.items()
              if (k in _FIELDS or k == "handshake_timeout") and k != "compression" and v is not UNSET}
    return resolve(limits, **picked)
