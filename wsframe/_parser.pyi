"""Type stubs of the frame parser: wsframe/_parser.py, which is also compiled
to wsframe._parser_c (same API). See the docstrings in _parser.py."""

from typing import ClassVar, List, Optional, Tuple, Union

BytesLike = Union[bytes, bytearray, memoryview]

__all__ = ["BinaryMessage", "Event", "Frame", "FrameParser", "TextMessage"]

class Event:
    _fields: ClassVar[Tuple[str, ...]]
    def __eq__(self, other: object) -> bool: ...

class TextMessage(Event):
    @property
    def data(self) -> str: ...
    def __init__(self, data: str) -> None: ...

class BinaryMessage(Event):
    @property
    def data(self) -> bytes: ...
    def __init__(self, data: bytes) -> None: ...

class Frame:
    opcode: int
    payload: bytes
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    def __init__(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, rsv2: bool = False, rsv3: bool = False
    ) -> None: ...
    def astuple(self) -> Tuple[int, bytes, bool, bool, bool, bool]: ...
    def __eq__(self, other: object) -> bool: ...

class FrameParser:
    def __init__(
        self,
        server: bool,
        max_frame_size: Optional[int] = 1048576,
        allowed_rsv: int = 0,
        stream: bool = False,
        messages: bool = False,
    ) -> None: ...
    @property
    def server(self) -> bool: ...
    @property
    def stream(self) -> bool: ...
    @property
    def messages(self) -> bool: ...
    @messages.setter
    def messages(self, value: bool) -> None: ...
    @property
    def max_frame_size(self) -> Optional[int]: ...
    @max_frame_size.setter
    def max_frame_size(self, value: Optional[int]) -> None: ...
    @property
    def allowed_rsv(self) -> int: ...
    @allowed_rsv.setter
    def allowed_rsv(self, value: int) -> None: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: BytesLike) -> List[Union[Frame, TextMessage, BinaryMessage]]: ...
