"""Type stubs of wsframe.server._wssend_c: wsframe/server/_wssend.py compiled by Cython."""

from ._wssend import ping as ping
from ._wssend import send as send

__all__ = ["send", "ping"]
