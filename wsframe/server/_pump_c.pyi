"""Type stubs of wsframe.server._pump_c: wsframe/server/_pump.py compiled by Cython."""

from ._pump import run as run

__all__ = ["run"]
