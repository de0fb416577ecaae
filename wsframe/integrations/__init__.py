"""Drop-in accelerators for other WebSocket libraries.

Each submodule patches one library so that its frame-level work runs on
wsframe's C codec, without changing anything its users see:

- :mod:`wsframe.integrations.wsproto`: ``install()`` / ``uninstall()`` for
  wsproto (and so hypercorn, Quart, trio-websocket, httpx-ws, ...).
- :mod:`wsframe.integrations.websocket_client`: ``install()`` /
  ``uninstall()`` for websocket-client.
- :mod:`wsframe.integrations.websockets`: ``install()`` / ``uninstall()`` for
  websockets (its asyncio, sync and Trio implementations, and uvicorn's
  ``websockets-sansio``).

Importing this package (or a submodule) patches nothing and imports no
target library; only ``install()`` does. An installed version that the
integration was not tested with is refused with
:class:`UnsupportedVersion`, before anything is patched.
"""

from ._patch import LibraryNotInstalled, UnsupportedVersion

__all__ = ["LibraryNotInstalled", "UnsupportedVersion"]
