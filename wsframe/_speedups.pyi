"""Type stubs of the C kernels extension (same API as wsframe._codec_py).

The frame parser and its event types are wsframe._parser_c, compiled from
wsframe/_parser.py: see wsframe/_parser.pyi."""

from typing import Optional, Union

BytesLike = Union[bytes, bytearray, memoryview]

def simd_level() -> str: ...
def set_simd_level(name: Optional[str]) -> str: ...
def apply_mask(data: BytesLike, mask: BytesLike) -> bytes: ...
def mask_inplace(buffer: Union[bytearray, memoryview], mask: BytesLike, offset: int = 0) -> None: ...
def validate_utf8(data: BytesLike) -> bool: ...

class Utf8Validator:
    def __init__(self) -> None: ...
    def reset(self) -> None: ...
    @property
    def valid(self) -> bool: ...
    @property
    def error_offset(self) -> Optional[int]: ...
    @property
    def at_boundary(self) -> bool:
        """True when the text so far is valid and ends on a code-point
        boundary; False from the first invalid byte on (as in the twin)."""
    @property
    def bytes_seen(self) -> int: ...
    def feed(self, data: BytesLike) -> bool: ...
    def finish(self) -> bool: ...

def build_frame(
    opcode: int,
    payload: Union[BytesLike, str] = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    client: bool = False,
    mask: Optional[BytesLike] = None,
) -> bytes: ...
def write_frame(
    out: bytearray,
    opcode: int,
    payload: Union[BytesLike, str] = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    client: bool = False,
    mask: Optional[BytesLike] = None,
) -> None: ...
def write_data(out: bytearray, opcode: int, payload: Union[BytesLike, str], client: bool) -> None: ...
def as_bytes(data: BytesLike) -> bytes: ...
