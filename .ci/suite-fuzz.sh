#!/usr/bin/env bash
# Coverage-guided fuzzing (atheris/libFuzzer) of wsframe's C extension built
# with clang and ASan + UBSan + sanitizer coverage, in a temporary copy of the
# tree. Every input also runs through the pure-Python twin: a difference, a
# sanitizer report or a crash fails the suite. Bounded: FUZZ_SECONDS per
# target (default 35; 5 targets), total wall well under 6 minutes.
#
#   .ci/suite-fuzz.sh                      # CI
#   FUZZ_SECONDS=1800 .ci/suite-fuzz.sh    # a longer local run (30 min per target)
#   FUZZ_TARGETS="frames utf8" .ci/suite-fuzz.sh
#   FUZZ_CORPUS_DIR=~/wsframe-corpus ...   # keep the inputs found, to resume from them next time
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-35}"
# The whole suite's wall-clock budget (CI: 6 minutes, minus a margin): on a
# loaded machine the targets get less time each. An explicit FUZZ_SECONDS
# (a long local run) is not cut unless FUZZ_WALL is given too.
if [ -n "${FUZZ_SECONDS:-}" ]; then WALL="${FUZZ_WALL:-1000000}"; else WALL="${FUZZ_WALL:-330}"; fi
TARGETS="${FUZZ_TARGETS:-frames utf8 handshake deflate connection}"
ATHERIS_VERSION=2.3.0
SETUPTOOLS_VERSION=80.9.0   # the build needs setuptools >= 77 (pyproject's license expression)
CLANG_PACKAGE=clang-14      # Debian 12's clang
PY="${PYTHON:-python}"
start=$(date +%s)

if ! command -v clang-14 >/dev/null; then
    echo "installing $CLANG_PACKAGE"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$CLANG_PACKAGE" >/dev/null
fi
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore "atheris==$ATHERIS_VERSION"

WORK="$(mktemp -d /tmp/wsframe-fuzz.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$WORK/tools" "setuptools==$SETUPTOOLS_VERSION"

# The sanitizer build, in a copy of the tree: no prebuilt extension or generated C may leak in.
TREE="$WORK/tree"
mkdir -p "$TREE"
cp -r "$ROOT/csrc" "$ROOT/wsframe" "$ROOT/setup.py" "$ROOT/pyproject.toml" "$ROOT/README.md" "$TREE/"
find "$TREE" \( -name '*.so' -o -name '*.c' -path '*/wsframe/*' -o -name '__pycache__' \) -prune -exec rm -rf {} +
SANITIZE="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
(
    cd "$TREE"
    # setup.py adds WSFRAME_CFLAGS to the compile flags and their -fsanitize flags to the link flags.
    PYTHONPATH="$WORK/tools" CC=clang-14 LDSHARED="clang-14 -shared" WSFRAME_REQUIRE_EXTENSIONS=1 \
        WSFRAME_CFLAGS="$SANITIZE" "$PY" setup.py -q build_ext --inplace >"$WORK/build.log" 2>&1
) || { cat "$WORK/build.log"; echo "FAIL: the sanitizer build failed"; exit 1; }
for so in "$TREE"/wsframe/*.so; do
    nm -D "$so" >"$WORK/symbols"
    if ! grep -q __sanitizer_cov_8bit_counters_init "$WORK/symbols" || ! grep -q __asan_init "$WORK/symbols"; then
        echo "FAIL: $so is not instrumented (no sancov/asan symbols)"; exit 1
    fi
done
echo "sanitizer build: $(ls "$TREE"/wsframe/*.so | xargs -n1 basename | tr '\n' ' ')($(( $(date +%s) - start ))s so far)"

# atheris' documented way to fuzz a native extension: preload its ASan runtime
# with libFuzzer linked in, so the extension's coverage callbacks and ASan
# reports reach libFuzzer (UBSan's handlers are in the same runtime).
RUNTIME="$("$PY" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so"
[ -f "$RUNTIME" ] || { echo "FAIL: $RUNTIME missing"; exit 1; }

run_fuzzer() {  # run_fuzzer TARGET SECONDS LOG [fuzz.py options...]
    local target=$1 seconds=$2 log=$3
    shift 3
    local corpus="${FUZZ_CORPUS_DIR:-$WORK/corpus}/$target"  # where new inputs go (seeds are read only)
    mkdir -p "$corpus" "$WORK/artifacts/$target"
    ( cd "$TREE" && LD_PRELOAD="$RUNTIME" PYTHONPATH="$TREE" WSFRAME_FUZZ_TREE="$TREE" PYTHONMALLOC=malloc \
        ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=64:handle_abort=1" \
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
        timeout -k 10 $(( seconds + 60 )) "$PY" "$ROOT/tests/fuzz/fuzz.py" "$target" "$@" \
            -max_total_time="$seconds" -max_len=8192 -timeout=20 -rss_limit_mb=3072 \
            -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$target/" \
            "$corpus" "$ROOT/tests/fuzz/corpus/$target" >"$log" 2>&1 )
}

# The known pitfall: a runtime that swallows the extension's coverage leaves
# libFuzzer blind to C. Fuzz the frame parser on C coverage alone, from an
# empty corpus: the C edges must grow.
mkdir -p "$WORK/c-only"
( cd "$TREE" && LD_PRELOAD="$RUNTIME" PYTHONPATH="$TREE" WSFRAME_FUZZ_TREE="$TREE" PYTHONMALLOC=malloc \
    ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=64" \
    timeout -k 10 60 "$PY" "$ROOT/tests/fuzz/fuzz.py" frames --no-python-coverage -max_total_time=8 \
        -max_len=512 "$WORK/c-only" >"$WORK/c-only.log" 2>&1 ) || { tail -30 "$WORK/c-only.log"; echo "FAIL: C-only run"; exit 1; }
c_start=$(grep -m1 INITED "$WORK/c-only.log" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
c_end=$(grep -E '(DONE|pulse|NEW) +cov' "$WORK/c-only.log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
counters=$(grep -m1 'inline 8-bit counters' "$WORK/c-only.log" | sed -n 's/.*(\([0-9]*\) inline.*/\1/p')
echo "C coverage alone (frames, 8s, empty corpus): ${counters:-?} C edge counters loaded; cov ${c_start:-?} -> ${c_end:-?}"
if [ -z "$c_start" ] || [ -z "$c_end" ] || [ "$c_end" -lt $(( c_start + 50 )) ]; then
    echo "FAIL: the C extension's coverage does not reach libFuzzer"; exit 1
fi

failed=0
summary=""
KEEP="${FUZZ_ARTIFACTS:-/tmp/wsframe-fuzz-artifacts}"  # reproducers are copied here
remaining=$(wc -w <<<"$TARGETS")
for target in $TARGETS; do
    log="$WORK/$target.log"
    # this target's share of the time left, less ~15 s of start-up and seed replay
    share=$(( (WALL - ($(date +%s) - start)) / remaining - 15 ))
    seconds=$(( share < SECONDS_PER_TARGET ? share : SECONDS_PER_TARGET ))
    seconds=$(( seconds < 5 ? 5 : seconds ))
    remaining=$(( remaining - 1 ))
    set +e
    run_fuzzer "$target" "$seconds" "$log"
    rc=$?
    set -e
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    inited=$(grep -m1 'INITED' "$log" | grep -o 'cov: [0-9]* ft: [0-9]*' || true)
    final=$(grep -E '(DONE|pulse|NEW) +cov' "$log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*' || true)
    echo "$target: ${runs:-?} executions in ${seconds}s; coverage at start ${inited:-?} -> end ${final:-?}"
    summary="$summary $target=${runs:-0}"
    if [ $rc -ne 0 ] || [ -z "$runs" ]; then
        failed=1
        echo "FAIL: $target (exit $rc)"
        grep -v -E '^#[0-9]+|NEW_FUNC|^\s*$' "$log" | tail -60
        for crash in "$WORK"/artifacts/"$target"/*; do
            [ -f "$crash" ] || continue
            echo "reproducer $(basename "$crash") (hex): $(od -An -tx1 -v "$crash" | tr -d ' \n' | cut -c1-4000)"
            mkdir -p "$KEEP" && cp "$crash" "$KEEP/$target-$(basename "$crash")"
        done
    fi
done

elapsed=$(( $(date +%s) - start ))
if [ $failed -ne 0 ]; then
    echo "suite-fuzz: FAILED (executions:$summary) in ${elapsed}s"
    exit 1
fi
echo "suite-fuzz: OK, no crash, sanitizer report or C/Python difference (executions:$summary) in ${elapsed}s"
