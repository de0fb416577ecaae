"""Replay the fuzz corpus (seeds and reproducers of findings) through every
target, without atheris: the C codec and the pure-Python twin must agree on
each input, and the targets' oracles must hold. Fast enough for every run;
the coverage-guided search itself is .ci/suite-fuzz.sh."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import targets_conn  # noqa: E402
import twin  # noqa: E402
from inputs import chunks, pack, split  # noqa: E402
from targets import TARGETS  # noqa: E402

CORPUS = Path(__file__).parent / "corpus"


def _inputs() -> List[Tuple[str, Path]]:
    return [(d.name, f) for d in sorted(CORPUS.iterdir()) if d.is_dir() for f in sorted(d.iterdir())]


@pytest.fixture(scope="module")
def packages():
    return twin.load_main(), twin.load_twin()


def test_every_target_has_a_corpus() -> None:
    names = {name for name, _ in _inputs()}
    assert names == set(TARGETS)
    for name in TARGETS:
        assert len([f for n, f in _inputs() if n == name]) >= 5, name


def test_twin_is_pure_python_and_main_is_what_codec_chose(packages) -> None:
    main, pure = packages
    assert pure.codec.speedups_enabled is False
    assert pure.codec.FrameParser is not main.codec.FrameParser
    import wsframe.codec

    assert main.codec is wsframe.codec


@pytest.mark.parametrize("target,path", _inputs(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_corpus_input(packages, target: str, path: Path) -> None:
    TARGETS[target](*packages, path.read_bytes())


def test_chunks_cover_the_body_exactly() -> None:
    body = bytes(range(256)) * 40
    for seed in (0, 1, 7, 200):
        pieces = list(chunks(body, seed))
        assert b"".join(pieces) == body
        assert (len(pieces) == 1) == (seed == 0)
    assert split(pack(5, 9, b"xyz")) == (5, 9, b"xyz")
    assert split(b"") == (0, 0, b"")


def test_a_difference_is_detected(packages, monkeypatch) -> None:
    """The comparison can fail: a twin whose parser drops the last frame of each feed is caught."""
    main, pure = packages
    real = pure.codec.FrameParser

    class Lossy:
        def __init__(self, *args, **kwargs):
            self._p = real(*args, **kwargs)

        def feed(self, data):
            return self._p.feed(data)[:-1]

        @property
        def buffered(self):
            return self._p.buffered

    monkeypatch.setattr(pure.codec, "FrameParser", Lossy)
    data = (CORPUS / "frames" / "client-to-server-text").read_bytes()
    with pytest.raises(twin.Difference):
        TARGETS["frames"](main, pure, data)


def test_an_internal_error_is_a_finding(packages, monkeypatch) -> None:
    """A connection that catches an exception of its own (closing with "internal error") is reported."""
    main, pure = packages

    def broken(*args, **kwargs):
        raise KeyError("bug")

    for pkg in packages:
        monkeypatch.setattr(pkg.connection._session, "parse_close_payload", broken)  # the session module, whose code runs
    frames = (CORPUS / "connection" / "ping-close").read_bytes()
    with pytest.raises(twin.Finding, match="internal error"):
        targets_conn.connection(main, pure, frames)
