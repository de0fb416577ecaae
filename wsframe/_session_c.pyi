"""Type stubs of wsframe._session_c: wsframe/_session.py compiled by Cython,
with the same API (the annotated source is the reference)."""

from ._session import DEFAULT_MAX_FRAGMENTS as DEFAULT_MAX_FRAGMENTS
from ._session import Session as Session

__all__ = ["DEFAULT_MAX_FRAGMENTS", "Session"]
