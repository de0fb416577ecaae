"""One-line speed-up for websockets (its asyncio, sync and Trio
implementations, both roles) and for ``uvicorn --ws websockets-sansio``
(uvicorn's default since 0.50)::

    import wsframe.integrations.websockets
    wsframe.integrations.websockets.install()

moves websockets' frame-level work onto wsframe's C codec: frame parsing
(header, lengths, masking bit, opcode and control-frame rules, unmasking),
done for every complete frame of a read in one C call by a replacement
``Protocol.parse`` that yields only when it needs more data, and frame
building with masking (``Frame.serialize``, one C call). Everything users
see stays websockets': the same ``Frame`` objects (field values and payload
types), the same events in the same order, the same exceptions with the
same messages and the same close codes (errors are raised by websockets'
own code), ``max_size`` checked with the same limits at the same frame,
fragments delivered as they are, permessage-deflate in websockets' own
extension objects, and the same bytes sent (the mask still comes from
``secrets.token_bytes``).

``install()`` refuses a websockets version it was not tested with
(:class:`~wsframe.integrations.UnsupportedVersion`, nothing patched), is
harmless when called twice, and ``uninstall()`` puts every original back
(connections opened before keep the parser they started with).
Nothing is patched, and websockets is not imported, until ``install()``.
``stats()`` counts the calls into wsframe since the last ``install()``.
The legacy implementation (``websockets.legacy``, deprecated) keeps its own
frame parser; its frames are built by the accelerated ``Frame.serialize``.
"""

from __future__ import annotations

import importlib
from typing import Dict

from ._patch import Counters, Patcher, UnsupportedVersion, check_version

__all__ = ["TESTED_VERSIONS", "UnsupportedVersion", "install", "installed", "stats", "uninstall"]

#: websockets releases tested with the accelerator (differential tests, Autobahn, their own suites).
TESTED_VERSIONS = ("15.0.1", "16.1.1", "17.4")

_patcher = Patcher()
_counters = Counters("parse", "frames", "slow", "build")


def _import_websockets():  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module("websockets")
    except ImportError as exc:
        raise ImportError(
            "wsframe.integrations.websockets needs the websockets package: pip install websockets"
        ) from exc


def _installed_version() -> str:
    ws = _import_websockets()
    version = getattr(ws, "__version__", None)
    if version is None:  # pragma: no cover - every tested release has it
        from importlib.metadata import version as dist_version

        version = dist_version("websockets")
    return str(version)


def install() -> None:
    """Patch websockets (once). Raises UnsupportedVersion for an untested
    websockets, ImportError when websockets is not installed."""
    if _patcher.active:
        return
    version = _installed_version()
    check_version("websockets", version, TESTED_VERSIONS)
    ws = _import_websockets()
    importlib.import_module("websockets.frames")
    protocol_mod = importlib.import_module("websockets.protocol")
    importlib.import_module("websockets.exceptions")

    from ._websockets_recv import make_parse
    from ._websockets_send import make_serialize

    v15 = version.startswith("15.")
    frame_cls = ws.frames.Frame
    replacements = [
        (protocol_mod.Protocol, "parse", make_parse(ws, _counters, v15)),
        (frame_cls, "serialize", make_serialize(frame_cls.serialize, _counters)),
    ]
    _counters.reset()
    _patcher.set_all(replacements)


def uninstall() -> None:
    """Restore websockets' original functions (harmless when not installed)."""
    _patcher.restore()


def installed() -> bool:
    """True while the accelerator is installed."""
    return _patcher.active


def stats() -> Dict[str, int]:
    """Calls into wsframe since install(): ``parse`` (reads whose complete
    frames were parsed in one C call), ``frames`` (frames parsed that way),
    ``slow`` (frames left to websockets' own parser: not complete yet, or
    refused), ``build`` (frames built in C)."""
    return _counters.snapshot()
