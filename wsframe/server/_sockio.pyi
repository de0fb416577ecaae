"""Type stubs of wsframe.server._sockio: the C twins of wsframe/server/_sockio_py.py's functions."""

from ._sockio_py import poll_ready as poll_ready
from ._sockio_py import sock_recv as sock_recv
from ._sockio_py import sock_send as sock_send

__all__ = ["sock_recv", "sock_send", "poll_ready"]
