"""Frames: parsing 100,000 masked 16-byte frames fed in 64 KiB chunks (vs
picows, aiohttp's reader, websockets' protocol) and building 10,000 16-byte
frames, server and client side (vs picows, websockets, aiohttp)."""

import pytest


@pytest.mark.case("parse")
def bench_parse(bench):
    bench()


@pytest.mark.case("build")
def bench_build(bench):
    bench()
