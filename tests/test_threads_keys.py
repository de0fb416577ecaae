"""The masking-key pools (C: wsframe._speedups, twin: wsframe._codec_py) under
threads: many threads building client frames at once never take the same
key twice and never run the pool's counter past its buffer. Meaningful on a
free-threaded build (where the pools' locks are what keeps them right) and
passing under the GIL; bounded in count and time."""

from __future__ import annotations

import sys
import threading
from collections import Counter

import pytest

THREADS = 8
PER_THREAD = 3000  # 24,000 keys: ~23 refills of the C pool, ~94 of the twin's


def _keys(impl, build):
    """Every thread builds PER_THREAD masked frames at once; returns all their keys."""
    keys = [[] for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    errors = []

    def work(i):
        try:
            start.wait(timeout=30)
            out = keys[i]
            for _ in range(PER_THREAD):
                out.append(build())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert not errors, errors
    return [k for ks in keys for k in ks]


@pytest.fixture(autouse=True)
def _switch_often():
    """Under the GIL, switch threads as often as possible so that they interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


@pytest.mark.parametrize("how", ["build_frame", "frame_data", "write_data"])
def test_no_key_is_taken_twice(impl, how):
    if how == "build_frame":
        def build():
            return impl.build_frame(2, b"", client=True)[2:6]
    elif how == "frame_data":
        def build():
            return impl.frame_data(2, b"", True)[2:6]
    else:
        def build():
            out = bytearray()
            impl.write_data(out, 2, b"", True)
            return bytes(out[2:6])

    keys = _keys(impl, build)
    assert len(keys) == THREADS * PER_THREAD and all(len(k) == 4 for k in keys)
    # 24,000 random 4-byte keys: about 0.07 pairs collide by chance; a key taken
    # twice from the pool (a race) would repeat the pool's keys by the hundred.
    repeats = sum(n - 1 for n in Counter(keys).values() if n > 1)
    assert repeats <= 2, f"{repeats} repeated keys"
    left, size = impl._pool_state()
    assert 0 <= left <= size  # the counter stayed inside the buffer


def test_keys_stay_in_bounds_across_refills(impl):
    """One thread, exactly through several refills: every key is a fresh 4 bytes."""
    _, size = impl._pool_state()
    keys = [impl.build_frame(2, b"", client=True)[2:6] for _ in range(3 * size + 1)]
    assert len(set(keys)) >= len(keys) - 2
    left, _ = impl._pool_state()
    assert 0 <= left < size
