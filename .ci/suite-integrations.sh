#!/usr/bin/env bash
# The accelerators of wsframe.integrations under the test suites of the
# libraries they speed up, from pinned PyPI sdists:
#   wsproto (all its tests), trio-websocket, hypercorn's suite (its WebSocket tests included),
#   httpx-ws (wsproto accelerator) and websocket-client (its shipped tests,
#   with its local echo server) (websocket-client accelerator).
# Then the suites of wsproto and websocket-client again for each older release
# the accelerators accept (the last two minor releases of each; WSPROTO_OLDER and
# WEBSOCKET_CLIENT_OLDER: space-separated versions, empty to skip), each
# installed into the same venv over the newest one.
# Each suite runs once, with the accelerator installed by the pytest plugin
# .ci/integrations/wsframe_accel.py, which prints wsframe's call counters and
# fails the run when the accelerated path was not taken.
# A test that fails is run again alone (at most twice, accelerator still
# installed): a few of these suites' tests are timing-sensitive on a loaded
# machine (httpx-ws's keep-alive test fails here without wsframe too). The
# summary names every test that needed a rerun; one that fails every time
# fails the script.
# The test dependencies go into a throw-away venv that sees the installed
# wsframe (--system-site-packages). Bounded: every pytest run has a time limit
# (SUITE_TIMEOUT, default 600 s), each pip command 900 s (and PIP_DEFAULT_TIMEOUT per request).
# Ends with a one-line summary; exit status non-zero when any suite fails.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_DEFAULT_TIMEOUT=60
start=$SECONDS

WSPROTO=1.3.2
WEBSOCKET_CLIENT=1.9.2
TRIO_WEBSOCKET=0.12.2
HYPERCORN=0.18.0
HTTPX_WS=0.9.0
WSPROTO_OLDER=${WSPROTO_OLDER-1.2.0}
WEBSOCKET_CLIENT_OLDER=${WEBSOCKET_CLIENT_OLDER-1.8.0}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}
PROJECTS=("wsproto==$WSPROTO" "websocket-client==$WEBSOCKET_CLIENT" "trio-websocket==$TRIO_WEBSOCKET"
          "hypercorn==$HYPERCORN" "httpx-ws==$HTTPX_WS")

work=$(mktemp -d /tmp/wsframe-integrations.XXXXXX)
echo_pid=""
cleanup() {
    if [ -n "$echo_pid" ]; then kill "$echo_pid" 2>/dev/null || true; wait "$echo_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

python -c "import wsframe.integrations" || { echo "wsframe is not installed (pip install -e .)"; exit 1; }

quiet_pip() {  # pip without the index-location warnings of this machine's pip.conf; its output on failure
    local log="$work/pip.log" rc=0
    timeout -k 10 900 "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then grep -v '^WARNING: Location' "$log" | tail -n 30; fi
    return "$rc"
}

echo "=== venv with the suites' test dependencies (pinned)"
python -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"
quiet_pip "$py" -m pip install -q "${PROJECTS[@]}" \
    "pytest==9.0.3" "pytest-trio==0.8.0" "pytest-asyncio==1.5.0" "trio==0.35.0" "trustme==1.2.1" \
    "mock==5.2.0" "h2==4.3.0" "hypothesis==6.155.2" "httpx==0.28.1" "httpcore==1.0.9" "anyio==4.16.0" \
    "starlette==1.10.0" "uvicorn==0.54.0" "websockets==17.4" "h11==0.16.0"

echo "=== sdists (their build backends may come as wheels)"
quiet_pip "$py" -m pip download -q --no-deps \
    --no-binary wsproto,websocket-client,trio-websocket,hypercorn,httpx-ws -d "$work/sdist" "${PROJECTS[@]}"
for f in "$work"/sdist/*.tar.gz; do tar -xzf "$f" -C "$work"; done

export PYTHONPATH="$repo/.ci/integrations${PYTHONPATH:+:$PYTHONPATH}"
failed=()
summary=()
totals=()

# pytest_run DIR ACCEL NEED LOG ARGS...: one pytest run with the accelerator; its exit status.
pytest_run() {
    local dir=$1 accel=$2 need=$3 log=$4 rc=0; shift 4
    (cd "$dir" && WSFRAME_ACCEL="$accel" WSFRAME_ACCEL_NEED="$need" \
        timeout -k 10 "$SUITE_TIMEOUT" "$py" -m pytest -p wsframe_accel -p no:cacheprovider \
        -o addopts="" -q -rfE "$@") >"$log" 2>&1 || rc=$?
    return "$rc"
}

# run NAME DIR ACCEL NEED ARGS...: a whole suite, then its failed tests alone (twice at most).
run() {
    local name=$1 dir=$2 accel=$3 need=$4; shift 4
    echo
    echo "=== $name (accelerator: $accel)"
    local log="$work/$name.log" rc=0 t0=$SECONDS
    pytest_run "$dir" "$accel" "$need" "$log" "$@" || rc=$?
    local calls last
    calls=$(grep -E '^wsframe calls' "$log" | tail -n 1 || true)
    last=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|no tests ran|[0-9]+ errors?( |$)' "$log" | tail -n 1 || true)
    last=${last//=/}
    echo "${last# } (${calls:-no call counts}; exit $rc, $((SECONDS - t0)) s)"
    local note=""
    if [ "$rc" -ne 0 ]; then
        grep -E '^(FAILED|ERROR) ' "$log" || true
        sed -n '/^=* FAILURES =*$/,/^=* short test summary/p' "$log" | head -n 80
        mapfile -t ids < <(grep -E '^FAILED ' "$log" | sed -E 's/^FAILED //; s/ - .*$//')
        if [ "$rc" -eq 1 ] && [ "${#ids[@]}" -gt 0 ] && [ "${#ids[@]}" -le 5 ]; then
            local attempt
            for attempt in 1 2; do
                echo "--- rerun $attempt of the failed tests alone (accelerator installed): ${ids[*]}"
                rc=0
                pytest_run "$dir" "$accel" "-" "$log.rerun" "${@:1:$#-1}" "${ids[@]}" || rc=$?
                tail -n 3 "$log.rerun"
                if [ "$rc" -eq 0 ]; then note=" [rerun passed: ${ids[*]}]"; break; fi
            done
        fi
    fi
    summary+=("$name: ${last# }$note | ${calls:-no call counts} | exit $rc")
    totals+=("$name ${last%% in *}${note:+ (then passed alone)}")
    if [ "$rc" -ne 0 ]; then failed+=("$name"); fi
}

run wsproto "$work/wsproto-$WSPROTO" wsproto "wsproto:parse,wsproto:mask,wsproto:build,wsproto:events" tests
# (trio_mode: the setting of trio-websocket's repository, not shipped in its sdist)
run trio-websocket "$work/trio_websocket-$TRIO_WEBSOCKET" wsproto "wsproto:parse,wsproto:build,wsproto:events" \
    -o trio_mode=true tests
# hypercorn: its whole suite (the WebSocket tests are tests/protocol/test_ws_stream.py
# and the websocket cases of tests/{asyncio,trio}/test_sanity.py).
run hypercorn "$work/hypercorn-$HYPERCORN" wsproto "wsproto:parse,wsproto:build,wsproto:events" tests
run httpx-ws "$work/httpx_ws-$HTTPX_WS" wsproto "wsproto:parse,wsproto:build,wsproto:events" tests

# websocket-client: its shipped tests, with the echo server they ship for the
# tests that need one (on a free local port; restarted for each version).
start_echo_server() {
    if [ -n "$echo_pid" ]; then kill "$echo_pid" 2>/dev/null || true; wait "$echo_pid" 2>/dev/null || true; fi
    local port wc_tests
    port=$("$py" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()")
    wc_tests=$("$py" -c "import os, websocket.tests as t; print(os.path.dirname(t.__file__))")
    LOCAL_WS_SERVER_PORT=$port "$py" "$wc_tests/echo-server.py" >"$work/echo.log" 2>&1 &
    echo_pid=$!
    "$py" - "$port" <<'EOF' || { echo "websocket-client's echo server did not start"; cat "$work/echo.log"; exit 1; }
import socket, sys, time
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        socket.create_connection(("localhost", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
    export LOCAL_WS_SERVER_PORT=$port
}
start_echo_server
run websocket-client "$work" websocket_client "websocket_client:mask,websocket_client:utf8" --pyargs websocket.tests

# The older accepted releases: each installed over the newest, its own suite from its sdist.
installed_is() {  # installed_is MODULE VERSION: the venv imports that version (and no other copy)
    "$py" -c "import sys, $1; v = $1.__version__; print('$1', v, 'from', $1.__file__); sys.exit(v != '$2')"
}
for v in $WSPROTO_OLDER; do
    quiet_pip "$py" -m pip install -q --no-deps "wsproto==$v"
    installed_is wsproto "$v"
    quiet_pip "$py" -m pip download -q --no-deps --no-binary wsproto -d "$work/sdist-$v" "wsproto==$v"
    tar -xzf "$work/sdist-$v"/wsproto-*.tar.gz -C "$work"
    tests=tests; [ -d "$work/wsproto-$v/tests" ] || tests=test  # 1.2.x names its folder test/
    run "wsproto-$v" "$work/wsproto-$v" wsproto "wsproto:parse,wsproto:mask,wsproto:build,wsproto:events" "$tests"
done
for v in $WEBSOCKET_CLIENT_OLDER; do
    quiet_pip "$py" -m pip install -q --no-deps "websocket-client==$v"
    installed_is websocket "$v"
    start_echo_server
    run "websocket-client-$v" "$work" websocket_client "websocket_client:mask,websocket_client:utf8" \
        --pyargs websocket.tests
done

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
joined=$(printf '%s; ' "${totals[@]}")
if [ "${#failed[@]}" -ne 0 ]; then
    echo "suite-integrations: FAILED (${failed[*]}) in $((SECONDS - start)) s: ${joined%; }"
    exit 1
fi
echo "suite-integrations: all ${#summary[@]} suite runs passed with the accelerators in $((SECONDS - start)) s: ${joined%; }"
