"""The ``Sec-WebSocket-Extensions`` header grammar (RFC 6455 section 9.1):
parse offers and answers into ``[(name, [(param, value|None)])]`` and format
them back. Re-exported by :mod:`wsframe.handshake`.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Tuple

from .exceptions import InvalidHandshake
from .extensions import ExtensionParams

# A token (RFC 7230 3.2.6); the handshake checks subprotocol names with it too.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


_EXT_TOKEN = TOKEN.pattern[:-2]  # the same token, unanchored
_EXT_PARAM = re.compile(rf"\s*({_EXT_TOKEN})\s*(?:=\s*({_EXT_TOKEN}|\"[^\"\\]*\"))?\s*\Z")


def parse_extension_header(values: Iterable[str], status: int = 400) -> List[Tuple[str, ExtensionParams]]:
    """Parse ``Sec-WebSocket-Extensions`` values into [(name, [(param, value|None)])].

    Quoted-string values are unquoted and must then be tokens (RFC 6455 9.1).
    Raises InvalidHandshake(``status``) on malformed syntax.
    """
    out: List[Tuple[str, ExtensionParams]] = []
    for value in values:
        for item in value.split(","):
            if not item.strip(" \t"):
                continue
            parts = item.split(";")
            name = parts[0].strip(" \t")
            if not TOKEN.match(name):
                raise InvalidHandshake("malformed Sec-WebSocket-Extensions header", status)
            params: ExtensionParams = []
            for part in parts[1:]:
                m = _EXT_PARAM.match(part)
                if m is None:
                    raise InvalidHandshake("malformed Sec-WebSocket-Extensions header", status)
                pvalue = m.group(2)
                if pvalue is not None and pvalue.startswith('"'):
                    pvalue = pvalue[1:-1]
                    if not TOKEN.match(pvalue):
                        raise InvalidHandshake("malformed Sec-WebSocket-Extensions header", status)
                params.append((m.group(1), pvalue))
            out.append((name, params))
    return out


def build_extension_header(items: Iterable[Tuple[str, ExtensionParams]]) -> str:
    """Format [(name, params)] as a ``Sec-WebSocket-Extensions`` value."""
    out = []
    for name, params in items:
        if not TOKEN.match(name):
            raise ValueError(f"invalid extension name {name!r}")
        text = name
        for pname, pvalue in params:
            if not TOKEN.match(pname) or (pvalue is not None and not TOKEN.match(pvalue)):
                raise ValueError(f"invalid extension parameter {pname!r}={pvalue!r}")
            text += f"; {pname}" if pvalue is None else f"; {pname}={pvalue}"
        out.append(text)
    return ", ".join(out)
