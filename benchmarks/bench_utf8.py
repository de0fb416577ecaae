"""UTF-8 validation: one call on 64 KiB (vs bytes.decode and wsaccel), and the
incremental validator over 16 fragments."""

import pytest


@pytest.mark.case("validate_utf8")
def bench_validate_utf8(bench):
    bench()


@pytest.mark.case("utf8_fragments")
def bench_utf8_fragments(bench):
    bench()
