#!/usr/bin/env bash
# Branch coverage of wsframe's core (codec, parser, connection/session, handshake, permessage-deflate,
# extensions, and the driver and limits modules where they exist), measured on the pure-Python build
# (WSFRAME_NO_EXTENSIONS=1: compiled modules are not traced) over the core tests and the contract
# suite. Prints the report; fails below 95 % (COVERAGE_FAIL_UNDER overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python -m pip install -q "coverage==7.18.0" 2>&1 | { grep -v "^WARNING" || true; }

core=(wsframe/codec.py wsframe/_codec_py.py wsframe/_kernels_py.py wsframe/_parser.py wsframe/_framing_rules.py
      wsframe/connection.py wsframe/handshake.py wsframe/permessage_deflate.py wsframe/extensions.py)
optional=(wsframe/_connection.py wsframe/_session.py wsframe/_upgrade.py wsframe/_handshake_http.py
          wsframe/_driver.py wsframe/limits.py)
for f in "${optional[@]}"; do [ -f "$f" ] && core+=("$f"); done
include=$(IFS=,; echo "${core[*]}")

# The differential tests compare the C build with the Python one: nothing to measure here.
tests=(tests/contract)
for f in tests/test_codec_*.py tests/test_connection*.py tests/test_handshake*.py tests/test_permessage_deflate*.py \
         tests/test_cov_*.py tests/test_driver*.py tests/test_limits*.py tests/test_session*.py tests/test_upgrade*.py; do
    case $f in *differential*) continue ;; esac
    [ -f "$f" ] && tests+=("$f")
done

data=$(mktemp -d /tmp/wsframe-coverage.XXXXXX)
trap 'rm -rf "$data"' EXIT
export WSFRAME_NO_EXTENSIONS=1 COVERAGE_FILE="$data/.coverage"
python -c "import wsframe.connection as k; assert not k.compiled, 'the compiled connection was imported'"
set +e
python -m coverage run --branch --include="$include" -m pytest -q -p no:randomly -p no:cacheprovider \
    "${tests[@]}" >"$data/pytest.log" 2>&1
rc=$?
set -e
grep -E "^(FAILED|ERROR) " "$data/pytest.log" || true
tail -n 1 "$data/pytest.log"
python -m coverage report --show-missing --skip-covered --precision=1
total=$(python -m coverage report --format=total --precision=1)
gate=${COVERAGE_FAIL_UNDER:-95}
if [ "$rc" -ne 0 ]; then
    echo "the tests failed (exit $rc): branch coverage of the core $total %: 0 passed, 1 failed"
    exit 1
elif python -c "import sys; sys.exit(0 if float('$total') >= float('$gate') else 1)"; then
    echo "branch coverage of the core: $total % (gate $gate %): 1 passed, 0 failed"
else
    echo "branch coverage of the core: $total % is below the gate of $gate %: 0 passed, 1 failed"
    exit 1
fi
