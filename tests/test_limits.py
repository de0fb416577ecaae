"""wsframe.limits: one set of defaults, overrides, the derived fragment cap, and every entry point taking it."""

from __future__ import annotations

import inspect

import pytest

from wsframe.limits import DEFAULT_LIMITS, MIN_FRAGMENTS, SMALL_FRAGMENT, UNSET, Limits, resolve


def test_defaults_are_one_object():
    assert resolve(None) is DEFAULT_LIMITS
    assert DEFAULT_LIMITS.compression is True
    assert DEFAULT_LIMITS.max_message_size == 1 << 20


def test_overrides_apply_and_unset_is_ignored():
    lim = resolve(None, max_message_size=5, close_timeout=UNSET, handshake_timeout=3.0)
    assert lim.max_message_size == 5
    assert lim.close_timeout == DEFAULT_LIMITS.close_timeout
    assert lim.open_timeout == 3.0
    base = Limits(idle_timeout=7.0)
    assert resolve(base, ping_interval=1.0) == Limits(idle_timeout=7.0, ping_interval=1.0)


def test_unknown_override_is_a_type_error():
    with pytest.raises(TypeError, match="max_mesage_size"):
        resolve(None, max_mesage_size=1)
    with pytest.raises(TypeError):
        resolve({"max_message_size": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [dict(max_message_size=-1), dict(max_fragments=0), dict(low_water=10, high_water=5),
                                    dict(close_timeout=0), dict(drain_bytes=-1)])
def test_bad_values_raise(kwargs):
    with pytest.raises(ValueError):
        Limits(**kwargs)


def test_max_fragments_type_checked():
    with pytest.raises(TypeError):
        Limits(max_fragments=True)
    with pytest.raises(TypeError):
        Limits(max_fragments="many")


def test_fragment_cap_derived_from_message_size():
    assert Limits().fragment_cap == (1 << 20) // SMALL_FRAGMENT
    assert Limits(max_message_size=1000).fragment_cap == MIN_FRAGMENTS
    # Autobahn 9.3.1: a 4 MiB message in 64-byte fragments is 65,536 frames.
    assert Limits(max_message_size=4 << 20).fragment_cap >= 65536
    assert Limits(max_message_size=64 << 20).fragment_cap == (64 << 20) // 64
    assert Limits(max_message_size=None).fragment_cap == 1 << 20
    assert Limits(max_fragments=10).fragment_cap == 10
    assert Limits(max_fragments=None).fragment_cap is None


def test_connection_kwargs_feed_a_connection():
    from wsframe.connection import ServerConnection

    from wsframe.codec import build_frame
    from wsframe.connection import ClientConnection, State
    from wsframe.events import BinaryMessage

    client = ClientConnection("example.com", "/")
    conn = ServerConnection(**Limits(max_message_size=4 << 20).connection_kwargs())
    conn.receive_data(client.data_to_send())
    conn.events()
    # Autobahn 9.3.1's shape at a smaller scale: 65,536 fragments pass, one more fails.
    frames = [build_frame(2, b"", fin=False, client=True)]
    frames += [build_frame(0, b"", fin=False, client=True)] * 65534
    conn.receive_data(b"".join(frames) + build_frame(0, b"x", fin=True, client=True))
    assert [type(e) for e in conn.events()] == [BinaryMessage]
    conn.receive_data(b"".join(frames) + build_frame(0, b"", fin=False, client=True) * 2)  # 65,537 frames
    assert conn.state is State.CLOSED
@pytest.mark.parametrize("entry", ["wsframe.server:Server", "wsframe.client:connect",
                                   "wsframe.asyncio:serve", "wsframe.asyncio:connect"])
def test_every_entry_point_takes_limits(entry):
    import importlib

    module, name = entry.split(":")
    params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    assert "limits" in params
    # No entry point writes out its own default for a limit: they come from Limits.
    for field in ("max_message_size", "close_timeout", "max_fragments"):
        if field in params:
            assert params[field].default is UNSET, (entry, field)
