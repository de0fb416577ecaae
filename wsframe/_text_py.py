"""The pure-Python twin's text validator for the session: it validates UTF-8
exactly as :class:`wsframe._codec_py.Utf8Validator` does (the same fail-fast
offsets) and keeps the text it decoded on the way, so that a text message
that arrives in pieces is decoded once, not once to validate and once more to
build the message. The compiled build has no use for it (its validator does
not decode)."""

from __future__ import annotations

from codecs import utf_8_decode
from typing import List

from . import codec
from ._codec_py import Utf8Validator, _scan

# Pieces kept before they are joined into one: bounds the list (and its
# per-object overhead) when a peer sends a message in many tiny pieces.
_JOIN_AT = 256


class KeepingUtf8Validator(Utf8Validator):
    """``feed`` validates and keeps the decoded text; ``take`` hands over the
    text of the complete code points fed so far (an incomplete one stays)."""

    __slots__ = ("_parts", "_tail")

    def reset(self) -> None:
        Utf8Validator.reset(self)
        self._parts: List[str] = []
        self._tail = b""  # the bytes of a code point left open by the last piece (at most 3)

    def feed(self, data) -> bool:
        if self._error >= 0:
            return False
        tail = self._tail
        chunk = tail + bytes(data) if tail else data
        try:
            text, consumed = utf_8_decode(chunk, "strict", False)
        except UnicodeDecodeError as exc:
            # As the base class: exc.start is where the bad sequence starts; find its bad byte.
            bad = _scan(chunk, exc.start, 0, 0x80, 0xBF)[3]
            self._error = self._count - len(tail) + bad
            return False
        # The decoder leaves an incomplete tail without judging it: judge it here.
        need, lo, hi, bad = _scan(chunk, consumed, 0, 0x80, 0xBF)
        if bad >= 0:
            self._error = self._count - len(tail) + bad
            return False
        parts = self._parts
        if text:
            parts.append(text)
            if len(parts) >= _JOIN_AT:
                parts[:] = ["".join(parts)]
        self._tail = bytes(chunk[consumed:]) if consumed < len(chunk) else b""
        self._need, self._lo, self._hi = need, lo, hi
        self._count += len(data)
        return True

    def take(self) -> str:
        """The text of the complete code points fed since the last take."""
        parts = self._parts
        text = parts[0] if len(parts) == 1 else "".join(parts)
        parts.clear()
        return text


# The session's choice: the C validator only validates (SIMD) and the session
# decodes a text message once at its end; the twin's decodes anyway, so it keeps it.
KEEPS_TEXT = not codec.speedups_enabled
TextValidator: "type[KeepingUtf8Validator]" = (
    KeepingUtf8Validator if KEEPS_TEXT else codec.Utf8Validator  # type: ignore[assignment]
)
