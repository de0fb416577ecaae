#!/usr/bin/env bash
# The C core and its C tests (tests/c/test_core.c) cross-compiled with Zig
# (PyPI's ziglang) for the platforms the wheels cover, with -Werror:
# Windows x86-64 and arm64, macOS x86-64 and arm64, Linux aarch64 (glibc and
# musl) and x86-64 musl. The ones this machine can run are run: x86-64 musl
# natively, Windows x86-64 under Wine (every x86 level), Linux aarch64 under
# qemu-user (NEON). The MSVC-only code (cpuid/xgetbv intrinsics, atomics) is
# compiled as MSVC sees it: Clang in MSVC mode with __clang__/__GNUC__ unset.
# Zig and Wine are installed when missing (ziglang in a venv cached under
# $WSFRAME_TOOLS; apt: wine64, qemu-user). Ends with 'N passed, N failed'.
set -uo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
tools=${WSFRAME_TOOLS:-/var/cache/wsframe-tools}/zig
# Zig's compiled libcs (minutes on first use) are kept with the other CI tools.
export ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-${WSFRAME_TOOLS:-/var/cache/wsframe-tools}/zig-cache}
if [ ! -x "$tools/bin/python" ] || ! "$tools/bin/python" -m ziglang version >/dev/null 2>&1; then
    rm -rf "$tools"
    python3 -m venv "$tools" && "$tools/bin/python" -m pip install -q ziglang 2>&1 | { grep -v "^WARNING: Location" || true; }
fi
apt_missing=()
command -v wine >/dev/null || command -v wine64 >/dev/null || [ -x /usr/lib/wine/wine64 ] || apt_missing+=(wine64)
command -v qemu-aarch64 >/dev/null || apt_missing+=(qemu-user)
if [ ${#apt_missing[@]} -gt 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
wine=$(command -v wine64 || command -v wine || ls /usr/lib/wine/wine64 2>/dev/null || true)
zig=("$tools/bin/python" -m ziglang)
echo "zig $("${zig[@]}" version)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
src=(tests/c/test_core.c csrc/wsf_cpu.c csrc/wsf_mask.c csrc/wsf_utf8.c csrc/wsf_avx2.c csrc/wsf_avx512.c
     csrc/wsf_frame.c)
flags=(-O2 -std=c99 -Wall -Wextra -Werror -Icsrc)
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

run_levels() {  # run_levels NAME LEVELS COMMAND...: the C tests at each SIMD level
    local name=$1 levels=$2 level log
    shift 2
    for level in $levels; do
        log="$out/$name-$level.log"
        if WSFRAME_SIMD=$level timeout 300 "$@" >"$log" 2>&1 && grep -q " 0 failed" "$log"; then
            ok "$name: C tests at $level ($(grep -m1 'CPU level' "$log" | sed 's/.*CPU level //'))"
        else
            bad "$name: C tests at $level"; tail -n 20 "$log"
        fi
    done
}

for target in x86_64-windows-gnu aarch64-windows-gnu x86_64-macos aarch64-macos aarch64-linux-gnu.2.17 \
    aarch64-linux-musl x86_64-linux-musl; do
    exe="$out/test_core-$target"
    case $target in *windows*) exe="$exe.exe" ;; esac
    if "${zig[@]}" cc -target "$target" "${flags[@]}" -o "$exe" "${src[@]}" >"$out/$target.log" 2>&1; then
        ok "$target: compiles (-Werror)"
    else
        bad "$target: compiles"; tail -n 20 "$out/$target.log"; continue
    fi
    case $target in
        x86_64-linux-musl) run_levels "$target" "scalar sse2 avx2 avx512" "$exe" ;;
        aarch64-linux-musl) run_levels "$target" "scalar neon" qemu-aarch64 "$exe" ;;
        x86_64-windows-gnu)
            # Wine needs a writable prefix; its first start (about 10 s) creates it.
            export WINEPREFIX=${WINEPREFIX:-$out/wine} WINEDEBUG=-all
            run_levels "$target under Wine" "scalar sse2 avx2 avx512" "$wine" "$exe" ;;
    esac
done

# MSVC's branches (the compiler of the Windows wheels: __cpuidex/_xgetbv, the
# Interlocked/__iso_volatile atomics, _BitScanForward): Clang with MSVC's
# intrinsics (-fms-extensions) and WSF_MSVC_INTRINSICS, which selects those
# branches; -mxsave because Clang, unlike MSVC, asks for it before _xgetbv.
for target in x86_64-windows-gnu aarch64-windows-gnu; do
    extra=()
    [ "$target" = x86_64-windows-gnu ] && extra=(-mxsave)
    log="$out/msvc-$target.log"
    if (for f in csrc/wsf_cpu.c csrc/wsf_mask.c csrc/wsf_utf8.c csrc/wsf_avx2.c csrc/wsf_avx512.c; do
            "${zig[@]}" cc -target "$target" -fms-extensions "${extra[@]}" -DWSF_MSVC_INTRINSICS -c "${flags[@]}" \
                -o "$out/msvc.obj" "$f" || exit 1
        done) >"$log" 2>&1; then
        ok "$target: the MSVC code paths compile"
    else
        bad "$target: the MSVC code paths compile"; tail -n 20 "$log"
    fi
done
echo "cross-c: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
