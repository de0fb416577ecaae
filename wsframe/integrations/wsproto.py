"""One-line speed-up for wsproto (hypercorn, Quart, trio-websocket,
httpx-ws, simple-websocket, ``uvicorn --ws wsproto``)::

    import wsframe.integrations.wsproto
    wsframe.integrations.wsproto.install()

moves wsproto's frame-level work onto wsframe's C codec: frame header
parsing, unmasking and splitting of complete frames (one C call per read,
with or without permessage-deflate), masking (``XorMaskerSimple``), frame
building with masking on send (a whole message sent on a connection without
extensions is one C call from ``Connection.send``), and the construction of
message events. Everything users see stays wsproto's: the same event classes
with the same fields (``frame_finished`` / ``message_finished`` and the
streaming of partial frames included), the same ``ParseFailed`` messages and
close codes, the same states, the same extension objects (permessage-deflate
compresses and decompresses in wsproto's own ``PerMessageDeflate``, called
exactly as wsproto calls it).

``install()`` accepts the wsproto releases of ``TESTED_VERSIONS`` (1.2.x and
1.3.x, whose own test suites pass with it) and refuses others
(:class:`~wsframe.integrations.UnsupportedVersion`, nothing patched; with
``WSFRAME_INTEGRATIONS_ANY_VERSION=1`` in the environment it warns and patches).
Without wsproto it raises ``LibraryNotInstalled``, an ImportError. It is
harmless when called twice, and ``uninstall()`` puts every original back.
Nothing is patched, and wsproto is not imported, until ``install()``.
``stats()`` counts the calls into wsframe (batches parsed, masks applied,
frames built, ``events()`` calls) since the last ``install()``.
"""

from __future__ import annotations

import importlib
from typing import Dict

from ._patch import Counters, LibraryNotInstalled, Patcher, UnsupportedVersion, check_version, import_library

__all__ = ["TESTED_VERSIONS", "LibraryNotInstalled", "UnsupportedVersion", "install", "installed", "stats",
           "uninstall"]

#: wsproto releases whose own test suite passes with the accelerator installed
#: (.ci/suite-integrations.sh runs it on the newest patch release of each).
TESTED_VERSIONS = ("1.2.*", "1.3.*")

_patcher = Patcher()
_counters = Counters("parse", "mask", "build", "events")


def _installed_version() -> str:
    wsproto = import_library("wsproto", "wsproto")
    version = getattr(wsproto, "__version__", None)
    if version is None:  # pragma: no cover - every tested release has it
        from importlib.metadata import version as dist_version

        version = dist_version("wsproto")
    return str(version)


def install() -> None:
    """Patch wsproto (once). Raises UnsupportedVersion for an untested wsproto,
    LibraryNotInstalled when there is none."""
    if _patcher.active:
        return
    check_version("wsproto", _installed_version(), TESTED_VERSIONS)
    fp = importlib.import_module("wsproto.frame_protocol")
    conn_mod = importlib.import_module("wsproto.connection")
    events_mod = importlib.import_module("wsproto.events")

    from ._wsproto_events import make_events
    from ._wsproto_recv import make_received_frames
    from ._wsproto_send import make_connection_send, make_masker_process, make_serialize_frame

    replacements = [
        (fp.XorMaskerSimple, "process", make_masker_process(_counters)),
        (fp.FrameProtocol, "_serialize_frame", make_serialize_frame(fp, _counters)),
        (fp.FrameProtocol, "received_frames",
         make_received_frames(fp, fp.FrameProtocol.received_frames, _counters)),
        (conn_mod.Connection, "events", make_events(conn_mod, events_mod, fp, _counters)),
        (conn_mod.Connection, "send", make_connection_send(conn_mod, events_mod, _counters)),
    ]
    _counters.reset()
    _patcher.set_all(replacements)


def uninstall() -> None:
    """Restore wsproto's original functions (harmless when not installed)."""
    _patcher.restore()


def installed() -> bool:
    """True while the accelerator is installed."""
    return _patcher.active


def stats() -> Dict[str, int]:
    """Calls into wsframe since install(): ``parse`` (batches of frames parsed
    in C), ``mask`` (payload pieces masked or unmasked in C), ``build`` (frames
    built in C), ``events`` (calls of the accelerated ``Connection.events``)."""
    return _counters.snapshot()
