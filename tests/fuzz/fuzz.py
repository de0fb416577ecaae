"""Coverage-guided fuzzing of one target with atheris (libFuzzer).

    python tests/fuzz/fuzz.py TARGET [--no-python-coverage] [libFuzzer options] [CORPUS_DIR...]

TARGET is one of targets.TARGETS. Every input runs through the C codec and
the pure-Python twin (see twin.py); a difference, a Finding or any exception
other than wsframe's own errors stops the run with a crash file. Run it under
the sanitizer build (see .ci/suite-fuzz.sh), with atheris' ASan+libFuzzer
runtime preloaded, so that the C extension's edges count as coverage and its
memory errors abort the run.

``--no-python-coverage`` skips atheris' instrumentation of the Python code:
coverage then comes from the C extension alone (to check that its
-fsanitize=fuzzer-no-link edges reach libFuzzer).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import atheris  # noqa: E402


def main() -> None:
    argv = [a for a in sys.argv[1:] if a != "--no-python-coverage"]
    python_coverage = len(argv) == len(sys.argv) - 1
    if not argv or argv[0].startswith("-"):
        sys.exit(__doc__)
    name = argv.pop(0)
    if python_coverage:
        with atheris.instrument_imports(include=["wsframe", "wsframe_twin", "targets_codec", "targets_conn"]):
            import twin
            from targets import TARGETS

            main_pkg, twin_pkg = twin.load_main(), twin.load_twin()
    else:
        import twin
        from targets import TARGETS

        main_pkg, twin_pkg = twin.load_main(), twin.load_twin()
    if name not in TARGETS:
        sys.exit(f"unknown target {name!r}; targets: {', '.join(TARGETS)}")
    if not main_pkg.codec.speedups_enabled and os.environ.get("WSFRAME_FUZZ_ALLOW_PURE") != "1":
        sys.exit("wsframe's C extension is not built: nothing to compare the twin with")
    tree = os.environ.get("WSFRAME_FUZZ_TREE")
    if tree and not os.path.abspath(main_pkg.codec.__file__).startswith(os.path.abspath(tree) + os.sep):
        sys.exit(f"wsframe was imported from {main_pkg.codec.__file__}, not from the sanitizer build in {tree}")
    target = TARGETS[name]
    print(f"fuzz target {name}: C codec {main_pkg.codec.FrameParser.__module__} vs "
          f"twin {twin_pkg.codec.FrameParser.__module__}; python coverage {'on' if python_coverage else 'off'}",
          file=sys.stderr, flush=True)

    def one_input(data: bytes) -> None:
        target(main_pkg, twin_pkg, data)

    atheris.Setup([sys.argv[0]] + argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
