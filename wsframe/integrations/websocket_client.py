"""One-line speed-up for websocket-client::

    import wsframe.integrations.websocket_client
    wsframe.integrations.websocket_client.install()

websocket-client looks up its masking function (``websocket._abnf._mask``)
and its UTF-8 validator (``websocket._utils._validate_utf8``) at call time;
``install()`` points both at wsframe's C codec. Results are the same as
websocket-client's own pure-Python fallbacks, including their quirk that a
text ending inside a code point counts as valid (the DFA only rejects a byte
that cannot continue valid UTF-8): wsframe's ``Utf8Validator.feed`` has the
same rule. A mask that is not 4 bytes long keeps websocket-client's function.
When wsaccel is installed, websocket-client uses its routines instead of
the pure-Python ones; ``install()`` replaces whichever are in place, and
``uninstall()`` puts those back.

``install()`` accepts the websocket-client releases of ``TESTED_VERSIONS``
(1.8.x and 1.9.x, whose shipped tests pass with it) and refuses others
(:class:`~wsframe.integrations.UnsupportedVersion`, nothing patched; with
``WSFRAME_INTEGRATIONS_ANY_VERSION=1`` in the environment it warns and patches).
Without websocket-client it raises ``LibraryNotInstalled``, an ImportError.
It is harmless when called twice; ``uninstall()`` restores the originals.
Nothing is patched, and websocket-client is not imported, until ``install()``.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict

from .. import codec
from ._patch import Counters, LibraryNotInstalled, Patcher, UnsupportedVersion, check_version, import_library

__all__ = ["TESTED_VERSIONS", "LibraryNotInstalled", "UnsupportedVersion", "install", "installed", "stats",
           "uninstall"]

#: websocket-client releases whose shipped tests pass with the accelerator installed
#: (.ci/suite-integrations.sh runs them on the newest patch release of each).
TESTED_VERSIONS = ("1.8.*", "1.9.*")

_patcher = Patcher()
_counters = Counters("mask", "utf8")


def _make_mask(original: Any) -> Any:
    apply_mask = codec.apply_mask
    values = _counters.values

    def _mask(mask_value: Any, data_value: Any) -> bytes:
        if len(mask_value) != 4:
            return original(mask_value, data_value)  # type: ignore[no-any-return]
        values["mask"] += 1
        return apply_mask(data_value, mask_value)

    return _mask


def _make_validate(original: Any) -> Any:
    Utf8Validator = codec.Utf8Validator
    values = _counters.values

    def _validate_utf8(utfbytes: Any) -> bool:
        if isinstance(utfbytes, str):  # 1.9 encodes a str before this call, 1.8 does not: its own rule applies
            return original(utfbytes)  # type: ignore[no-any-return]
        values["utf8"] += 1
        return Utf8Validator().feed(utfbytes)

    return _validate_utf8


def install() -> None:
    """Patch websocket-client (once). Raises UnsupportedVersion for an untested
    version, LibraryNotInstalled when there is none."""
    if _patcher.active:
        return
    websocket = import_library("websocket-client", "websocket")
    check_version("websocket-client", str(getattr(websocket, "__version__", "unknown")), TESTED_VERSIONS)
    abnf = importlib.import_module("websocket._abnf")
    utils = importlib.import_module("websocket._utils")
    _counters.reset()
    _patcher.set(abnf, "_mask", _make_mask(abnf._mask))
    _patcher.set(utils, "_validate_utf8", _make_validate(utils._validate_utf8))


def uninstall() -> None:
    """Restore websocket-client's original functions (harmless when not installed)."""
    _patcher.restore()


def installed() -> bool:
    """True while the accelerator is installed."""
    return _patcher.active


def stats() -> Dict[str, int]:
    """Calls into wsframe since install(): ``mask`` and ``utf8``."""
    return _counters.snapshot()
