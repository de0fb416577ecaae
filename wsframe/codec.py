"""The codec's public functions: the one place where the compiled speedups or
their pure-Python twin are chosen.

The speedups (``wsframe._speedups``: the C kernels, and ``wsframe._parser_c``:
the frame parser compiled from ``wsframe/_parser.py``) are used when they were
built, unless ``WSFRAME_NO_SPEEDUPS`` is set to a true value in the
environment at import time; then, or when they were not built, the pure-Python
kernels (``wsframe._codec_py``) and the uncompiled parser (``wsframe._parser``,
the same source) are used. ``WSFRAME_REQUIRE_SPEEDUPS=1`` makes a missing
build an ImportError instead (an explicit ``WSFRAME_NO_SPEEDUPS`` still wins).
``WSFRAME_NO_EXTENSIONS`` is the deprecated old name of ``WSFRAME_NO_SPEEDUPS``
and still works. ``speedups_enabled`` tells which one is active and
:func:`describe` says it in one line.
"""

from __future__ import annotations

import os
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Optional, Tuple, Union

from .enums import CloseCode, is_valid_close_code
from .exceptions import InvalidUtf8, ProtocolError

__all__ = [
    "BinaryMessage",
    "Event",
    "TextMessage",
    "Frame",
    "FrameParser",
    "Utf8Validator",
    "apply_mask",
    "build_close_payload",
    "build_frame",
    "describe",
    "frame_data",
    "implementation",
    "mask_inplace",
    "parse_close_payload",
    "speedups_enabled",
    "validate_utf8",
    "write_data",
    "write_frame",
]


#: The runtime switch that turns the speedups off, then its deprecated old name.
_NO_SPEEDUPS = ("WSFRAME_NO_SPEEDUPS", "WSFRAME_NO_EXTENSIONS")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _speedups_switched_off() -> Optional[str]:
    """The environment variable that turns the speedups off, if one is set."""
    return next((name for name in _NO_SPEEDUPS if _flag(name)), None)


def _want_speedups() -> bool:
    return _speedups_switched_off() is None


_want_extensions = _want_speedups  # the old name (wsframe/cli.py)

implementation: ModuleType  # the kernels: _speedups or _codec_py
parser_module: ModuleType  # the frame parser: _parser_c (compiled) or _parser (the same source, uncompiled)
_missing: Optional[str] = None  # why the wanted speedups are not there
if _want_speedups():
    try:
        from . import _parser_c as parser_module
        from . import _speedups as implementation
    except ImportError as exc:  # not built: no compiler, or switched off at build time
        if _flag("WSFRAME_REQUIRE_SPEEDUPS"):
            raise ImportError(f"WSFRAME_REQUIRE_SPEEDUPS is set but wsframe's speedups are not built ({exc})") from exc
        _missing = str(exc)
        from . import _codec_py as implementation
        from . import _parser as parser_module
else:
    from . import _codec_py as implementation
    from . import _parser as parser_module

speedups_enabled: bool = implementation.__name__.endswith("_speedups")

if TYPE_CHECKING:
    # Type checkers see the pure-Python twin's annotated kernels and the
    # parser's stubs (wsframe/_parser.pyi); the C extension has the same API.
    from ._codec_py import (Utf8Validator, apply_mask, build_frame, frame_data, mask_inplace, validate_utf8,
                            write_data, write_frame)
    from ._parser import BinaryMessage, Event, Frame, FrameParser, TextMessage
else:
    Event = parser_module.Event
    TextMessage = parser_module.TextMessage
    BinaryMessage = parser_module.BinaryMessage
    Frame = parser_module.Frame
    FrameParser = parser_module.FrameParser
    Utf8Validator = implementation.Utf8Validator
    apply_mask = implementation.apply_mask
    mask_inplace = implementation.mask_inplace
    validate_utf8 = implementation.validate_utf8
    build_frame = implementation.build_frame
    write_frame = implementation.write_frame
    write_data = implementation.write_data
    frame_data = implementation.frame_data

BytesLike = Union[bytes, bytearray, memoryview]


def describe() -> str:
    """Which codec is active, in one line for logs and the CLI: ``C speedups,
    SIMD avx2``, or ``pure Python`` and why (switched off, or not built for the
    wsframe imported from where)."""
    if speedups_enabled:
        level = getattr(implementation, "simd_level", lambda: "unknown")()
        return f"C speedups, SIMD {level}"
    switch = _speedups_switched_off()
    if switch is not None:
        return f"pure Python ({switch} is set)"
    where = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return (f"pure Python (the speedups are not built for the wsframe imported from {where}:"
            " `pip install -e .` or `python setup.py build_ext --inplace` there builds them)")


def _load_implementation(compiled: bool) -> SimpleNamespace:
    """One implementation as a namespace of its kernels' names and its
    parser's: compiled (``_speedups`` + ``_parser_c``; ImportError when not
    built) or the pure-Python twin (``_codec_py`` + ``_parser``). For tests and
    benchmarks that run both side by side; other code uses this module's names."""
    import importlib

    kernels = importlib.import_module("wsframe._speedups" if compiled else "wsframe._codec_py")
    parser = importlib.import_module("wsframe._parser_c" if compiled else "wsframe._parser")
    ns = SimpleNamespace(**{k: v for k, v in vars(kernels).items() if not k.startswith("__")})
    for name in ("Event", "TextMessage", "BinaryMessage", "Frame", "FrameParser"):
        setattr(ns, name, getattr(parser, name))
    ns.__name__ = kernels.__name__
    return ns


def parse_close_payload(payload: BytesLike) -> Tuple[int, str]:
    """Split a received close frame's payload into (code, reason).

    An empty payload gives (1005, "") (no status received). A 1-byte payload
    or a code that may not be sent on the wire raises ProtocolError (1002);
    a reason that is not valid UTF-8 raises InvalidUtf8 (1007).
    """
    n = len(payload)
    if n == 0:
        return CloseCode.NO_STATUS_RCVD, ""
    if n == 1:
        raise ProtocolError("close frame payload of 1 byte")
    code = (payload[0] << 8) | payload[1]
    if not is_valid_close_code(code):
        raise ProtocolError(f"invalid close code {code}")
    raw = bytes(payload[2:])
    if not validate_utf8(raw):
        raise InvalidUtf8("close reason is not valid UTF-8")
    return code, raw.decode("utf-8")


def build_close_payload(code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bytes:
    """Build a close frame payload. Code 1005 means "no status": empty payload."""
    if code == CloseCode.NO_STATUS_RCVD:
        if reason:
            raise ValueError("a reason needs a close code")
        return b""
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    raw = reason.encode("utf-8")
    if len(raw) > 123:
        raise ValueError(f"close reason of {len(raw)} bytes exceeds 123")
    return bytes(((code >> 8) & 0xFF, code & 0xFF)) + raw
