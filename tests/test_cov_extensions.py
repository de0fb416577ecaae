"""The extension base classes (wsframe.extensions) as a subclass sees them: a pass-through
Extension and factories that must be overridden."""

from __future__ import annotations

import pytest

from wsframe.extensions import ClientExtensionFactory, Extension, ServerExtensionFactory


def test_the_base_extension_passes_data_through():
    class Named(Extension):
        name = "x-named"

    ext = Named()
    assert ext.decode(1, b"payload", 0, True, None) == b"payload"
    assert ext.encode(2, b"data", True) == (b"data", 0)
    assert ext.close() is None
    assert repr(ext) == "<Named x-named>"


def test_the_factories_must_be_overridden():
    with pytest.raises(NotImplementedError):
        ServerExtensionFactory().accept_offer([], [])
    with pytest.raises(NotImplementedError):
        ClientExtensionFactory().offers()
    with pytest.raises(NotImplementedError):
        ClientExtensionFactory().accept_response([], [])
