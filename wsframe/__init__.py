"""wsframe: a fast, correct WebSocket implementation (RFC 6455) for Python.

The hot path (masking, UTF-8 validation, frame parsing and building) is C
reached through Cython, with a pure-Python twin used where the extension is
not available or ``WSFRAME_NO_EXTENSIONS=1`` is set.
"""

from __future__ import annotations

from .codec import (
    Frame,
    FrameParser,
    Utf8Validator,
    apply_mask,
    build_close_payload,
    build_frame,
    mask_inplace,
    parse_close_payload,
    speedups_enabled,
    validate_utf8,
)
from .enums import CloseCode, Opcode
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ConnectionStateError,
    HandshakeError,
    InvalidHandshake,
    InvalidStatus,
    InvalidUtf8,
    PayloadTooBig,
    ProtocolError,
    WebSocketError,
)

from ._version import __version__ as __version__  # noqa: E402


def _speedups_hint() -> str:
    """Why the C extension is missing and what to do, for the copy of wsframe
    that was imported: a source checkout is rebuilt in place, an installed copy
    is reinstalled (no ``pip install -e .`` advice for site-packages)."""
    import os

    package = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(package)
    if os.path.exists(os.path.join(root, "setup.py")) and os.path.isdir(os.path.join(root, "csrc")):
        return (f"the C extension is not built in the source tree {root}: build it there with"
                " `pip install -e \".[dev]\"`, or `python setup.py build_ext --inplace` in an environment"
                " with the dev extra")
    return (f"the wsframe installed in {root} has no C extension (it was built from source without a"
            " C compiler): install a C compiler and the Python headers and run"
            " `pip install --force-reinstall --no-cache-dir wsframe`, or use a platform with a wheel")


def _warn_if_pure_python() -> None:
    """An installed copy without its C extension says so once, on stderr (any
    log shows it, unlike a build warning pip hides); deliberately disabled
    (WSFRAME_NO_SPEEDUPS) or a source checkout (the CLI's hint) stays quiet."""
    import os
    import warnings

    from . import codec

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if speedups_enabled or not codec._want_extensions() or os.path.exists(os.path.join(package_root, "setup.py")):
        return
    warnings.warn(f"wsframe runs its pure-Python codec, several times slower: {_speedups_hint()}",
                  RuntimeWarning, stacklevel=2)


_warn_if_pure_python()

__all__ = [
    "CloseCode",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "ConnectionStateError",
    "Frame",
    "FrameParser",
    "HandshakeError",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidUtf8",
    "Opcode",
    "PayloadTooBig",
    "ProtocolError",
    "Utf8Validator",
    "WebSocketError",
    "apply_mask",
    "build_close_payload",
    "build_frame",
    "mask_inplace",
    "parse_close_payload",
    "speedups_enabled",
    "validate_utf8",
]

# -- sans-I/O connection layer (issue 3) ------------------------------------
from .connection import ClientConnection, ServerConnection, State  # noqa: E402
from .events import (  # noqa: E402
    BinaryMessage,
    CloseReceived,
    Closed,
    Connected,
    Event,
    Fragment,
    Ping,
    Pong,
    Rejected,
    Request,
    TextMessage,
)
from .extensions import ClientExtensionFactory, Extension, ServerExtensionFactory  # noqa: E402

__all__ += [
    "BinaryMessage",
    "ClientConnection",
    "ClientExtensionFactory",
    "CloseReceived",
    "Closed",
    "Connected",
    "Event",
    "Extension",
    "Fragment",
    "Ping",
    "Pong",
    "Rejected",
    "Request",
    "ServerConnection",
    "ServerExtensionFactory",
    "State",
    "TextMessage",
]
