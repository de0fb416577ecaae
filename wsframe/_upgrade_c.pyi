"""Type stubs of wsframe._upgrade_c: wsframe/_upgrade.py compiled by Cython,
with the same API (the annotated source is the reference)."""

from ._upgrade import DEFAULT_MAX_FRAGMENTS as DEFAULT_MAX_FRAGMENTS
from ._upgrade import ClientConnection as ClientConnection
from ._upgrade import ServerConnection as ServerConnection
from ._upgrade import State as State

__all__ = ["DEFAULT_MAX_FRAGMENTS", "ClientConnection", "ServerConnection", "State"]
