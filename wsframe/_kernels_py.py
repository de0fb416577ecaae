"""The pure-Python kernels the frame parser (wsframe/_parser.py) and the
session (wsframe/_session.py) call when they are not compiled; compiled, they
call their C versions in _speedups.pyx (declared in _speedups.pxd). Same
arguments, same results."""

from ._codec_py import _byte_view, _xor, _xor_at, as_bytes  # noqa: F401 - as_bytes: the parser's input conversion

__all__ = ["decode_text", "new_buffer", "unmask_slice"]

#: A new empty output buffer (compiled: an inline C function).
new_buffer = bytearray


def unmask_slice(src, start, n, key, kpos, phase):
    """src[start:start + n] XORed with the 4-byte key at key[kpos:], starting
    at position ``phase`` (0-3) of the mask cycle."""
    k = key[kpos : kpos + 4]
    if phase:
        k = k[phase:] + k[:phase]
    return _xor_at(src, start, n, k)


def decode_text(src, start, n, masked):
    """src[start:start + n], unmasked with the key in the 4 bytes before it
    when ``masked``, decoded as str; None when it is not valid UTF-8."""
    data = _xor_at(src, start, n, src[start - 4 : start]) if masked else src[start : start + n]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
