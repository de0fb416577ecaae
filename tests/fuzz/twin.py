"""The two implementations compared by every fuzz target, and how to compare them.

``MAIN`` is the imported ``wsframe`` (its codec is the C extension when it
is built). ``TWIN`` is the same package loaded a second time, under the name
``wsframe_twin`` with ``WSFRAME_NO_EXTENSIONS=1`` set while it imports, so
its ``codec`` is the pure-Python twin (``wsframe.codec`` picks it at import
time). Only public names are used on either side (``codec.FrameParser``,
``codec.Utf8Validator``, ``connection.ServerConnection``, ...).

``outcome(fn, *args)`` runs a call and turns its result or its
``WebSocketError`` into plain, comparable data; any other exception is a
bug (bad input must never crash) and propagates. ``same(a, b, what)``
raises :class:`Difference` when the two sides disagree.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import SimpleNamespace
from typing import Any, Callable

TWIN_NAME = "wsframe_twin"
_SUBMODULES = ("codec", "connection", "handshake", "permessage_deflate", "exceptions", "events")


class Difference(AssertionError):
    """The C codec and the pure-Python twin disagree (or an oracle disagrees with both)."""


class Finding(AssertionError):
    """A bug found without a difference: an internal error caught by the connection, a broken invariant."""


def _namespace(package: str) -> SimpleNamespace:
    return SimpleNamespace(**{name: importlib.import_module(f"{package}.{name}") for name in _SUBMODULES})


def load_twin() -> SimpleNamespace:
    """The pure-Python wsframe, loaded beside the normal one (once per process)."""
    if TWIN_NAME not in sys.modules:
        import wsframe

        pkg_dir = os.path.dirname(os.path.abspath(wsframe.__file__))
        old = os.environ.get("WSFRAME_NO_EXTENSIONS")
        os.environ["WSFRAME_NO_EXTENSIONS"] = "1"
        try:
            spec = importlib.util.spec_from_file_location(
                TWIN_NAME, os.path.join(pkg_dir, "__init__.py"), submodule_search_locations=[pkg_dir]
            )
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[TWIN_NAME] = module
            spec.loader.exec_module(module)
            _namespace(TWIN_NAME)  # import the submodules while the variable is set
        finally:
            if old is None:
                del os.environ["WSFRAME_NO_EXTENSIONS"]
            else:
                os.environ["WSFRAME_NO_EXTENSIONS"] = old
    twin = _namespace(TWIN_NAME)
    if twin.codec.speedups_enabled or twin.connection.compiled:
        raise RuntimeError("the twin wsframe imported the C extension despite WSFRAME_NO_EXTENSIONS=1")
    return twin


def load_main() -> SimpleNamespace:
    return _namespace("wsframe")


def norm(value: Any) -> Any:
    """Plain data for an event, frame, exception or container, equal across the two packages."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, BaseException):
        return (
            "exc",
            type(value).__name__,
            str(value),
            getattr(value, "code", None),
            getattr(value, "status", None),
            norm(getattr(value, "frames", None)),
        )
    if hasattr(value, "astuple"):  # codec.Frame
        return ("Frame",) + tuple(norm(v) for v in value.astuple())
    fields = getattr(value, "_fields", None)
    if fields is not None:  # events
        return (type(value).__name__,) + tuple(norm(getattr(value, f)) for f in fields)
    if hasattr(value, "headers") and hasattr(value, "path"):  # handshake.Request
        return ("Request", value.method, value.path, list(value.headers.items()))
    if hasattr(value, "headers") and hasattr(value, "status"):  # handshake.Response
        return ("Response", value.status, value.reason, list(value.headers.items()), bytes(value.body))
    if hasattr(value, "rsv_bits"):  # a negotiated extension
        return (type(value).__name__, repr(value))
    return ("?", type(value).__name__, repr(value))


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """("ok", result) or ("error", exception) as plain data; non-wsframe exceptions propagate."""
    try:
        return ("ok", norm(fn(*args)))
    except Exception as exc:
        if not any(cls.__name__ == "WebSocketError" for cls in type(exc).__mro__):
            raise
        return ("error", norm(exc))


def same(a: Any, b: Any, what: str) -> None:
    if a != b:
        raise Difference(f"{what}: C codec gave {_short(a)}, pure-Python twin gave {_short(b)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 2000 else text[:2000] + f"...({len(text)} chars)"
