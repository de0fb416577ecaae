"""``python -m wsframe``: the command line (see :mod:`wsframe.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
