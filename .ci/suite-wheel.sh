#!/usr/bin/env bash
# The wheel lane: .ci/build-wheel.sh with this machine's python3 (3.11: the
# sdist, a manylinux wheel built from it with Zig, auditwheel, twine,
# check-wheel-contents, the no-compiler fallback, the quick tests against the
# installed wheel), then with CPython 3.14 and 3.15 in the sid chroot
# (.ci/chroot-sid.sh). Zig's cache is shared between them (under
# $WSFRAME_TOOLS). WSFRAME_WHEEL_PYTHONS="3.11" picks the versions.
# Ends with one 'N passed, N failed' line over all versions.
set -uo pipefail
cd "$(dirname "$0")/.."
export WSFRAME_TOOLS=${WSFRAME_TOOLS:-/var/cache/wsframe-tools}
export ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-$WSFRAME_TOOLS/zig-cache}
mkdir -p "$ZIG_GLOBAL_CACHE_DIR"
host=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0 bad=()
for v in ${WSFRAME_WHEEL_PYTHONS:-$host 3.14 3.15}; do
    echo; echo "=== wheel for CPython $v"
    log="$work/$v.log"
    t0=$(date +%s)
    if [ "$v" = "$host" ]; then
        bash .ci/build-wheel.sh python3 2>&1 | tee "$log"
    else  # the fallback check (an sdist install without a compiler) runs once, on the host
        bash .ci/chroot-sid.sh run env WSFRAME_WHEEL_FALLBACK_CHECK=0 bash .ci/build-wheel.sh "python$v" 2>&1 | tee "$log"
    fi
    status=${PIPESTATUS[0]}
    line=$(grep -E "^=*.*[0-9]+ (passed|failed)" "$log" | tail -n 1)
    n() { echo "$line" | grep -oE "[0-9]+ $1" | grep -oE "[0-9]+" || echo 0; }
    passed=$((passed + $(n passed))); failed=$((failed + $(n failed) + $(n error)))
    echo "CPython $v wheel: exit $status after $(( $(date +%s) - t0 ))s: ${line:-no test result}"
    [ "$status" -eq 0 ] || bad+=("$v")
done
for b in "${bad[@]}"; do echo "FAILED: the CPython $b wheel"; done
[ ${#bad[@]} -eq 0 ] || failed=$((failed + ${#bad[@]}))
echo "wheels: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
