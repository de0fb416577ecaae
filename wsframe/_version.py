"""The version of wsframe: the one place it is written (pyproject reads it, releases tag it)."""

__version__ = "0.1.0"
