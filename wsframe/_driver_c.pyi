"""Type stubs of wsframe._driver_c: wsframe/_driver.py compiled by Cython,
with the same API (the annotated source is the reference)."""

from ._driver import Driver as Driver

__all__ = ["Driver"]
