"""The fuzz targets by name (the corpus directories are named the same)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable, Dict

import targets_codec
import targets_conn

Target = Callable[[SimpleNamespace, SimpleNamespace, bytes], None]

TARGETS: Dict[str, Target] = {
    "frames": targets_codec.frames,
    "utf8": targets_codec.utf8,
    "handshake": targets_conn.handshake,
    "deflate": targets_conn.deflate,
    "connection": targets_conn.connection,
}
