"""Run kosoku's command line with one more py2 -> py3 shim for the 12.x/13.x cases.

Usage: ``python tests/peers/kosoku_py3.py ARGS...`` (same arguments as ``kosoku``).

Why: the vendored Autobahn 12.x/13.x cases (``kosoku/cases/case12_x_x.py``)
hash every echoed message with ``hashlib.sha1().update(msg)``. Under Python 2
``msg`` was always a byte string; kosoku's native driver (0.1.0) passes a
message that arrived *compressed* as ``bytes``, but one that arrived
*uncompressed* as ``str`` (text: the decoded text; binary: its latin-1, i.e.
byte-per-code-point, form), so the case crashes with ``TypeError: Strings must
be encoded before hashing`` and is reported as ERROR. RFC 7692 lets an
endpoint send any message uncompressed (RSV1 clear) after negotiating
permessage-deflate, and wsframe does so below its compression threshold (32
bytes by default): every 16-byte case (12.1.1 ... 12.5.1, 13.1.1 ... 13.7.1)
hit the crash (measured: with ``threshold=0`` on the server they pass unshimmed).

The shim only gives ``onMessage`` what Python 2 gave it, the message's bytes:
text encoded as UTF-8 (the case decodes it again itself), binary as latin-1
(the exact inverse of the driver's mapping). Verdict logic is untouched.
kosoku applies the same kind of runtime shim to ``binascii.b2a_hex``
(``kosoku/_caseindex.py``).
"""

from __future__ import annotations

import sys


def _patch() -> None:
    from kosoku._caseindex import initialize_shims

    initialize_shims()  # puts the vendored cases on sys.path
    import case12_x_x  # type: ignore[import-not-found]

    for cls in (*case12_x_x.Case12_X_X, *case12_x_x.Case13_X_X):
        original = cls.onMessage

        def onMessage(self, msg, binary, _original=original):
            if isinstance(msg, str):
                msg = msg.encode("latin-1" if binary else "utf-8")
            return _original(self, msg, binary)

        cls.onMessage = onMessage


def main() -> None:
    _patch()
    from kosoku._cli import main as kosoku_main

    sys.argv[0] = "kosoku"
    kosoku_main()


if __name__ == "__main__":
    main()
