"""Type stubs of the C codec extension (same API as wsframe._codec_py)."""

from typing import List, Optional, Tuple, Union

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
    def at_boundary(self) -> bool: ...
    @property
    def bytes_seen(self) -> int: ...
    def feed(self, data: BytesLike) -> bool: ...
    def finish(self) -> bool: ...

class Event:
    _fields: Tuple[str, ...]

class TextMessage(Event):
    data: str
    def __init__(self, data: str) -> None: ...

class BinaryMessage(Event):
    data: bytes
    def __init__(self, data: bytes) -> None: ...

class Frame:
    opcode: int
    payload: bytes
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    def __init__(
        self, opcode: int, payload: bytes, fin: bool = ..., rsv1: bool = ..., rsv2: bool = ..., rsv3: bool = ...
    ) -> None: ...
    def astuple(self) -> Tuple[int, bytes, bool, bool, bool, bool]: ...

class FrameParser:
    allowed_rsv: int
    max_frame_size: Optional[int]
    messages: bool
    def __init__(
        self,
        server: bool,
        max_frame_size: Optional[int] = ...,
        allowed_rsv: int = 0,
        stream: bool = False,
        messages: bool = False,
    ) -> None: ...
    @property
    def server(self) -> bool: ...
    @property
    def stream(self) -> bool: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: BytesLike) -> List[Union[Frame, Event]]: ...

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
