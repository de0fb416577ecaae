#!/usr/bin/env bash
# The quick tests (a list of files, below; no peers) on every other
# supported CPython: for each version, a fresh venv, wsframe installed editable
# with its C extension required (-Werror), then the tests from the repository
# root. 3.10, 3.12 and 3.13 come from pyenv (this machine image ships them
# beside the default 3.11); 3.14 and 3.15, which neither Debian bookworm nor
# pyenv here has, run in a Debian sid chroot (.ci/chroot-sid.sh, cached). A
# missing interpreter is an error, not a download.
# WSFRAME_PYVERSIONS="3.10 3.15" picks the versions; WSFRAME_PYVERSION_TIMEOUT
# bounds each version's tests (seconds, default 900).
# Ends with one pytest-style summary line over all versions.
# (Internal: --one VERSION PYTHON runs one version and prints its pytest line.)
set -uo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
versions=${WSFRAME_PYVERSIONS:-"3.10 3.12 3.13 3.14 3.15"}
limit=${WSFRAME_PYVERSION_TIMEOUT:-900}
test_deps=("pytest>=7" "hypothesis>=6" "trustme" "websockets>=14.0" "aiohttp>=3.11" "websocket-client")
# The tests that do not need peers, browsers or other projects' servers; WSFRAME_PYVERSION_TESTS overrides.
read -r -a tests <<<"${WSFRAME_PYVERSION_TESTS:-tests/test_codec_frames.py tests/test_codec_utf8.py \
tests/test_codec_mask.py tests/test_codec_stream.py tests/test_codec_messages.py tests/test_codec_close.py \
tests/test_connection.py tests/test_handshake.py tests/test_permessage_deflate.py tests/test_client.py \
tests/test_client_threads.py tests/test_server.py tests/test_cli.py tests/test_asyncio.py}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

find_python() {  # newest pyenv install of version $1, or python$1 on PATH
    local root found
    root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    found=$(ls -d "$root"/versions/"$1".*/bin/python 2>/dev/null | sort -V | tail -n 1)
    [ -n "$found" ] || found=$(command -v "python$1" || true)
    echo "$found"
}

one() {  # one VERSION PYTHON: install and test; prints "RESULT <pytest line>" last
    local v=$1 py=$2 venv piplog log status
    "$py" -VV
    venv="$work/py$v"
    piplog="$work/pip-$v.log"
    # uvloop only where a wheel exists (building libuv from source takes minutes): its tests skip without it
    if ! { "$py" -m venv "$venv" && "$venv/bin/python" -m pip install -q "${test_deps[@]}" \
        && { "$venv/bin/python" -m pip install -q --only-binary :all: uvloop || echo "(no uvloop wheel for $v)"; } \
        && WSFRAME_REQUIRE_SPEEDUPS=1 WSFRAME_CFLAGS="-Werror" "$venv/bin/python" -m pip install -q -e .; } \
        >"$piplog" 2>&1; then
        grep -v "WARNING: Location" "$piplog" | tail -n 40
        echo "RESULT install failed"; return 1
    fi
    grep "no uvloop wheel" "$piplog" || true
    (cd /tmp && "$venv/bin/python" -c "import wsframe, wsframe._speedups as s, wsframe.connection as k; assert wsframe.speedups_enabled and k.compiled; print('wsframe', wsframe.__version__, 'C extension, SIMD', s.simd_level())") \
        || { echo "RESULT no C extension"; return 1; }
    log="$work/pytest-$v.log"
    WSFRAME_REQUIRE_SPEEDUPS=1 timeout "$limit" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        -m "not autobahn and not peers and not soak and not fuzz" "${tests[@]}" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    echo "RESULT $(grep -E "^=*.*[0-9]+ (passed|failed)" "$log" | tail -n 1)"
    return "$status"
}

if [ "${1:-}" = "--one" ]; then
    one "$2" "$3"
    exit $?
fi

chroot_versions="3.14 3.15"  # from Debian sid, in .ci/chroot-sid.sh
passed=0 failed=0 skipped=0 bad=()
for v in $versions; do
    echo; echo "=== CPython $v"
    out="$work/out-$v.log"
    if [[ " $chroot_versions " == *" $v "* ]] && ! command -v "python$v" >/dev/null; then
        bash .ci/chroot-sid.sh run bash .ci/suite-pyversions.sh --one "$v" "python$v" 2>&1 | tee "$out"
    else
        py=$(find_python "$v")
        if [ -z "$py" ]; then
            echo "CPython $v: no interpreter (pyenv or python$v on PATH)"; bad+=("$v: no interpreter"); continue
        fi
        one "$v" "$py" 2>&1 | tee "$out"
    fi
    status=${PIPESTATUS[0]}
    line=$(grep "^RESULT " "$out" | tail -n 1 | sed 's/^RESULT //')
    n() { echo "$line" | grep -oE "[0-9]+ $1" | grep -oE "[0-9]+" || echo 0; }
    passed=$((passed + $(n passed))); failed=$((failed + $(n failed) + $(n error))); skipped=$((skipped + $(n skipped)))
    echo "CPython $v: ${line:-no result}"
    [ "$status" -eq 0 ] || bad+=("$v: exit $status${line:+ ($line)}")
done

echo
for b in "${bad[@]}"; do echo "FAILED CPython $b"; done
echo "pyversions ($versions): $passed passed, $failed failed, $skipped skipped"
[ ${#bad[@]} -eq 0 ]
