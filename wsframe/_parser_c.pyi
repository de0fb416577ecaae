"""Type stubs of wsframe._parser_c: wsframe/_parser.py compiled by Cython,
with the same API (see wsframe/_parser.pyi)."""

from ._parser import BinaryMessage as BinaryMessage
from ._parser import Event as Event
from ._parser import Frame as Frame
from ._parser import FrameParser as FrameParser
from ._parser import TextMessage as TextMessage

__all__ = ["BinaryMessage", "Event", "Frame", "FrameParser", "TextMessage"]
