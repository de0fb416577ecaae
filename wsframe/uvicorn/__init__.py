"""wsframe as uvicorn's WebSocket implementation: ``uvicorn --ws wsframe.uvicorn:WSFrameProtocol app:app``.

Any ASGI application (FastAPI, Starlette, ...) served by uvicorn then has its
WebSocket connections framed, validated and compressed by wsframe. Needs
uvicorn (>= 0.54, which takes an import string for ``--ws``); see
:mod:`wsframe.uvicorn.protocol` for the contract.
"""

from .protocol import WSFrameProtocol

__all__ = ["WSFrameProtocol"]
