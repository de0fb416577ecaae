#!/usr/bin/env bash
# wsframe.integrations.websockets (the websockets accelerator) against the
# pinned websockets and uvicorn:
#   1. the differential tests (tests/test_integration_websockets*.py) with the
#      pinned websockets;
#   2. Autobahn (kosoku) 1.x-10.x with and without the accelerator, for three
#      configurations: websockets' asyncio echo server, websockets' asyncio
#      client, and uvicorn --ws websockets-sansio; 12.x/13.x (permessage-
#      deflate) for the server and uvicorn configurations, cases 1-8 of each
#      group by default (CI time: see AUTOBAHN_DEFLATE, AUTOBAHN_DEFLATE_SUITE).
#      Every case must get the same verdict with as without (a case whose
#      verdict differs is run again alone both ways, twice: a few verdicts
#      depend on how TCP splits writes; it may not give a verdict that no run
#      without gave, below the best without); the call counters of the process
#      running websockets must
#      show the accelerated path ran;
#   3. uvicorn's tests/protocols/test_websocket.py, from its pinned sdist, with
#      ws_protocol_cls set to websockets-sansio, without and then with the
#      accelerator (installed by the pytest plugin .ci/integrations/
#      wsframe_accel.py, which fails the run when a counter stays 0): every
#      test that passes without must pass with.
# The dependencies go into a throw-away venv (--system-site-packages, pinned
# versions installed over what the machine has); wsframe is this checkout
# (PYTHONPATH). Bounded: each step has a time limit. Ends with one summary line
# 'suite-websockets: N passed, N failed'; exit status non-zero on any failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_DEFAULT_TIMEOUT=60
start=$SECONDS

WEBSOCKETS=17.4
UVICORN=0.54.0
STEP_TIMEOUT=${STEP_TIMEOUT:-900}
# Configurations that also run 12.x/13.x ("server client uvicorn": all; "": none). Measured on a
# loaded 2-core machine, per run: 1.x-10.x ~25 s (server), ~70 s (client), ~17 s (uvicorn);
# deflate-ci ~40 s (server, uvicorn); all 216 deflate cases 760-960 s (server).
AUTOBAHN_DEFLATE=${AUTOBAHN_DEFLATE-server uvicorn}
AUTOBAHN_DEFLATE_SUITE=${AUTOBAHN_DEFLATE_SUITE:-deflate-ci}

work=$(mktemp -d /tmp/wsframe-websockets.XXXXXX)
trap 'rm -rf "$work"' EXIT

quiet_pip() {  # pip without this machine's index-location warnings; its output on failure
    local log="$work/pip.log" rc=0
    timeout -k 10 900 "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then grep -v '^WARNING: Location' "$log" | tail -n 30; fi
    return "$rc"
}

echo "=== venv: websockets $WEBSOCKETS, uvicorn $UVICORN and their test dependencies (pinned)"
python -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"
quiet_pip "$py" -m pip install -q "websockets==$WEBSOCKETS" "uvicorn[standard]==$UVICORN" \
    "httptools==0.9.0" "uvloop==0.23.0" "zttp==0.0.35" "httpx2==2.16.2" "httpx==0.28.1" "httpcore==1.0.9" \
    "wsproto==1.3.2" "anyio==4.16.0" "trio==0.35.0" "starlette==1.10.0" "pytest==9.0.3" "hypothesis==6.155.2" \
    "kosoku==0.1.0"
quiet_pip "$py" -m pip download -q --no-deps --no-binary :all: -d "$work/sdist" "uvicorn==$UVICORN"
tar -xzf "$work/sdist/uvicorn-$UVICORN.tar.gz" -C "$work"
export PYTHONPATH="$repo:$repo/.ci/integrations"
"$py" -c "import websockets, wsframe.codec as c; assert websockets.__version__ == '$WEBSOCKETS'; assert c.speedups_enabled"

passed=0
failed=0
summary=()
ok() { passed=$((passed + 1)); summary+=("ok: $1"); }
bad() { failed=$((failed + 1)); summary+=("FAILED: $1"); }

echo
echo "=== 1. differential tests (websockets $WEBSOCKETS)"
t0=$SECONDS
rc=0
(cd "$repo" && timeout -k 10 "$STEP_TIMEOUT" "$py" -m pytest -q -p no:cacheprovider \
    tests/test_integration_websockets*.py) >"$work/diff.log" 2>&1 || rc=$?
tail -n 3 "$work/diff.log"
line=$(grep -E '[0-9]+ (passed|failed)' "$work/diff.log" | tail -n 1 || true)
if [ "$rc" -eq 0 ]; then ok "differential tests: ${line//=/} ($((SECONDS - t0)) s)"; else
    grep -E '^(FAILED|ERROR) ' "$work/diff.log" || true; bad "differential tests: ${line//=/}"; fi

echo
echo "=== 2. Autobahn, with and without the accelerator"
autobahn() {  # CONFIG SUITE: with and without, then the differing cases again (see the driver's check)
    local config=$1 suite=$2 t0=$SECONDS rc=0
    local limit=$STEP_TIMEOUT
    if [ "$suite" != basic ]; then limit=$((2 * STEP_TIMEOUT)); fi  # cases of 1,000 messages, twice
    timeout -k 10 "$limit" "$py" "$repo/.ci/integrations/websockets_autobahn.py" check "$config" "$suite" \
        "$work/ab" || rc=$?
    if [ "$rc" -eq 0 ]; then ok "Autobahn $config $suite: no case worse with the accelerator ($((SECONDS - t0)) s)"
    else bad "Autobahn $config $suite (exit $rc)"; fi
}
for config in server client uvicorn; do
    autobahn "$config" basic
done
for config in $AUTOBAHN_DEFLATE; do
    autobahn "$config" "$AUTOBAHN_DEFLATE_SUITE"
done

echo
echo "=== 3. uvicorn $UVICORN tests/protocols/test_websocket.py on websockets-sansio"
uv="$work/uvicorn-$UVICORN"
cat >"$uv/tests/protocols/conftest.py" <<'EOF'
import pytest

from uvicorn.importer import import_from_string


@pytest.fixture(params=[pytest.param(
    "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol", id="websockets-sansio")])
def ws_protocol_cls(request):
    return import_from_string(request.param)
EOF
uvicorn_run() {  # NAME ACCEL: one run; its PASSED test ids in $work/NAME.passed
    local name=$1 accel=$2 rc=0
    (cd "$uv" && WSFRAME_ACCEL="$accel" WSFRAME_ACCEL_NEED="websockets:parse,websockets:frames,websockets:build" \
        timeout -k 10 "$STEP_TIMEOUT" "$py" -m pytest -p wsframe_accel -p no:cacheprovider -o addopts="" -q -rA \
        tests/protocols/test_websocket.py) >"$work/$name.log" 2>&1 || rc=$?
    grep -E '^PASSED ' "$work/$name.log" | sed 's/^PASSED //' | sort >"$work/$name.passed" || true
    grep -E '^wsframe calls' "$work/$name.log" || true
    grep -E '^(=+ )?[0-9]+ (passed|failed)' "$work/$name.log" | tail -n 1 || true
    return "$rc"
}
t0=$SECONDS
rc_off=0
rc_on=0
uvicorn_run uvicorn-without "" || rc_off=$?
uvicorn_run uvicorn-with websockets || rc_on=$?
lost=$(comm -23 "$work/uvicorn-without.passed" "$work/uvicorn-with.passed")
n_without=$(wc -l <"$work/uvicorn-without.passed")
n_with=$(wc -l <"$work/uvicorn-with.passed")
if [ -n "$lost" ]; then echo "passed without the accelerator, not with it:"; echo "$lost"; fi
if [ -z "$lost" ] && [ "$n_with" -gt 0 ] && [ "$rc_on" -ne 3 ] && { [ "$rc_on" -eq 0 ] || [ "$rc_off" -ne 0 ]; }; then
    ok "uvicorn tests: $n_with passed with the accelerator, $n_without without ($((SECONDS - t0)) s)"
else
    grep -E '^(FAILED|ERROR) |accelerator check FAILED' "$work/uvicorn-with.log" || true
    bad "uvicorn tests: $n_with passed with, $n_without without (exit $rc_on / $rc_off)"
fi

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "suite-websockets: $passed passed, $failed failed in $((SECONDS - start)) s"
[ "$failed" -eq 0 ]
