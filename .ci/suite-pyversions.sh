#!/usr/bin/env bash
# The quick tests (a list of files, below; no peers) on every other
# supported CPython: for each version, a fresh venv, wsframe installed editable
# with its C extension required (-Werror), then the tests from the repository
# root. The interpreters come from pyenv, which this machine image ships with
# 3.9, 3.10, 3.12 and 3.13 beside the default 3.11 (Debian bookworm packages
# only 3.11 and PyPI has no CPython builds, so a missing one is an error here,
# not a download). WSFRAME_PYVERSIONS="3.9 3.13" picks the versions;
# WSFRAME_PYVERSION_TIMEOUT bounds each version's tests (seconds, default 900).
# Ends with one pytest-style summary line over all versions.
set -uo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
versions=${WSFRAME_PYVERSIONS:-"3.9 3.10 3.12 3.13"}
limit=${WSFRAME_PYVERSION_TIMEOUT:-900}
test_deps=("pytest>=7" "hypothesis>=6" "trustme" "websockets>=14.0" "aiohttp>=3.11" "websocket-client" "uvloop")
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

passed=0 failed=0 skipped=0 bad=()
for v in $versions; do
    echo; echo "=== CPython $v"
    py=$(find_python "$v")
    if [ -z "$py" ]; then
        echo "CPython $v: no interpreter (pyenv or python$v on PATH)"; bad+=("$v: no interpreter"); continue
    fi
    "$py" -VV
    venv="$work/py$v"
    piplog="$work/pip-$v.log"
    if ! { "$py" -m venv "$venv" && "$venv/bin/python" -m pip install -q "${test_deps[@]}" \
        && WSFRAME_REQUIRE_EXTENSIONS=1 WSFRAME_CFLAGS="-Werror" "$venv/bin/python" -m pip install -q -e .; } \
        >"$piplog" 2>&1; then
        grep -v "WARNING: Location" "$piplog" | tail -n 40
        bad+=("$v: install failed"); continue
    fi
    (cd /tmp && "$venv/bin/python" -c "import wsframe, wsframe._speedups as s, wsframe.connection as k; assert wsframe.speedups_enabled and k.compiled; print('wsframe', wsframe.__version__, 'C extension, SIMD', s.simd_level())") \
        || { bad+=("$v: no C extension"); continue; }
    log="$work/pytest-$v.log"
    WSFRAME_REQUIRE_SPEEDUPS=1 timeout "$limit" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        -m "not autobahn and not peers and not soak and not fuzz" "${tests[@]}" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    line=$(grep -E "^=*.*[0-9]+ (passed|failed)" "$log" | tail -n 1)
    n() { echo "$line" | grep -oE "[0-9]+ $1" | grep -oE "[0-9]+" || echo 0; }
    passed=$((passed + $(n passed))); failed=$((failed + $(n failed) + $(n error))); skipped=$((skipped + $(n skipped)))
    [ "$status" -eq 0 ] || bad+=("$v: pytest exit $status${line:+ ($line)}")
done

echo
for b in "${bad[@]}"; do echo "FAILED CPython $b"; done
echo "pyversions ($versions): $passed passed, $failed failed, $skipped skipped"
[ ${#bad[@]} -eq 0 ]
