"""Masking: in-place (vs aiohttp's Cython mask and a plain copy) and masked
copy (vs websockets.speedups, wsaccel, aiohttp copy+mask, a plain copy)."""

import pytest


@pytest.mark.case("mask_inplace")
def bench_mask_inplace(bench):
    bench()


@pytest.mark.case("apply_mask")
def bench_apply_mask(bench):
    bench()
