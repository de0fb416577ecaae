"""pytest plumbing for the bench_*.py files.

Each bench function carries ``@pytest.mark.case(NAME)`` and takes the
``bench`` fixture; every (param, implementation) of that case in
benchmarks/cases.py becomes one parametrized run, grouped per case and
param so pytest-benchmark's table compares the implementations side by side.
A missing peer is skipped with its reason; an implementation whose output is
wrong fails in its check, before anything is timed.

``--bench-config smoke`` runs the tiny inputs (seconds) instead of the issue's
sizes.
"""

from __future__ import annotations

import pytest

from benchmarks import cases
from benchmarks.peers import Unavailable


try:
    import pytest_benchmark  # noqa: F401
except ImportError:  # the bench files need its `benchmark` fixture
    collect_ignore_glob = ["bench_*.py"]

    def pytest_report_header(config):
        return "wsframe benchmarks: pytest-benchmark is not installed (pip install '.[bench]'): nothing to run"


def pytest_addoption(parser):
    parser.addoption(
        "--bench-config", default="full", choices=sorted(cases.CONFIGS),
        help="input sizes for the wsframe benchmarks (default: full, the sizes of issue 2)",
    )


def pytest_configure(config):
    # Same allocator conditions as `python -m benchmarks` (see runner.tame_malloc).
    from benchmarks.runner import tame_malloc

    tame_malloc()


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("case")
    if marker is None or "bench" not in metafunc.fixturenames:
        return
    case = marker.args[0]
    cfg = cases.CONFIGS[metafunc.config.getoption("--bench-config")]
    matrix = cases.matrix(case, cfg)
    metafunc.parametrize(
        "bench_spec", [(case, p, impl, cfg) for p, impl in matrix],
        ids=[f"{p.label}-{impl}" for p, impl in matrix],
    )


@pytest.fixture
def bench(bench_spec, benchmark):
    """A checked Bench plus a runner that times it with pytest-benchmark."""
    case, param, impl, cfg = bench_spec
    try:
        b = cases.make(case, param, impl, cfg)
    except Unavailable as exc:
        pytest.skip(f"{impl}: {exc}")
    with b.active():  # e.g. the SIMD level of the row
        b.check()  # raises AssertionError: a wrong implementation is never timed
    benchmark.group = f"{case}[{param.label}]"
    benchmark.extra_info.update(impl=impl, work=b.work, unit=b.unit)
    if b.unit == "B":
        benchmark.extra_info["bytes"] = b.work

    def time_it():
        with b.active():
            if b.fresh:
                # The state (a parser, a connection) is consumed by one run: a
                # new one per round, made outside the timed region.
                return benchmark.pedantic(b.run, setup=lambda: ((b.setup(),), {}), rounds=7, warmup_rounds=1)
            return benchmark(b.call)

    return time_it
