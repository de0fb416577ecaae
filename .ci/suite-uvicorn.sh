#!/usr/bin/env bash
# wsframe.uvicorn:WSFrameProtocol under the test suites of uvicorn and httpx-ws,
# from their pinned PyPI sdists:
#   uvicorn tests/protocols/test_websocket.py: a conftest dropped into the
#     unpacked sdist (tests/protocols/conftest.py) points the ws_protocol_cls
#     fixture at wsframe's class; every HTTP implementation uvicorn tests
#     (httptools, h11, zttp) runs each test. The two tests that assert
#     isinstance(protocol, (uvicorn's classes)) are deselected there and run
#     from a copy of the file whose only change is that isinstance (now
#     against the fixture's class), together with the one test hard-wired to
#     WebSocketsSansIOProtocol, switched to wsframe's class.
#   httpx-ws tests/: the websocket_implementation fixture of its conftest
#     (the ws= of its uvicorn server) is redefined as wsframe's class.
# A pytest plugin (.ci/integrations/wsframe_uvicorn_probe.py) counts WSFrameProtocol connections and fails
# a run in which wsframe's protocol did not serve, or in which a test used
# another WebSocket implementation. The test dependencies go into a
# throw-away venv that sees the installed wsframe (--system-site-packages).
# Bounded: every run has a time limit. Exit status: non-zero on any failure.
set -euo pipefail
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

UVICORN=0.54.0
HTTPX_WS=0.9.0
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}

work=$(mktemp -d /tmp/wsframe-uvicorn.XXXXXX)
trap 'rm -rf "$work"' EXIT

python -c "import wsframe.connection" || { echo "wsframe is not installed (pip install .)"; exit 1; }

echo "=== venv with the suites' test dependencies (pinned)"
python -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q \
    "uvicorn[standard]==$UVICORN" "httpx-ws==$HTTPX_WS" "wsproto==1.3.2" "websockets==17.4" \
    "httptools==0.9.0" "uvloop==0.23.0" "zttp==0.0.35" "httpx2==2.16.2" "httpx==0.28.1" "httpcore==1.0.9" \
    "anyio==4.16.0" "trio==0.35.0" "starlette==1.10.0" "pytest==9.0.3" || exit 1

echo "=== sdists"
"$py" -m pip download -q --no-deps --no-binary :all: -d "$work/sdist" \
    "uvicorn==$UVICORN" "httpx-ws==$HTTPX_WS" || exit 1
for f in "$work"/sdist/*.tar.gz; do tar -xzf "$f" -C "$work"; done
uv="$work/uvicorn-$UVICORN"
hw="$work/httpx_ws-$HTTPX_WS"

# The probe plugin: counts connections served by WSFrameProtocol, checks that
# every test using the fixture FIXTURE ran with wsframe's class.
mkdir -p "$work/plugins"
cp "$(dirname "$0")/integrations/wsframe_uvicorn_probe.py" "$work/plugins/"

# uvicorn: the fixture override.
cat >"$uv/tests/protocols/conftest.py" <<'EOF'
import pytest

from uvicorn.importer import import_from_string


@pytest.fixture(params=[pytest.param("wsframe.uvicorn:WSFrameProtocol", id="wsframe")])
def ws_protocol_cls(request):
    return import_from_string(request.param)
EOF
# uvicorn: the copy for the class-identity tests and the sansio-only test.
"$py" - "$uv/tests/protocols" <<'EOF' || exit 1
import pathlib, sys
d = pathlib.Path(sys.argv[1])
src = (d / "test_websocket.py").read_text()
swaps = [
    ("assert isinstance(protocol, (_WSProtocol, WebSocketsSansIOProtocol))",
     "assert isinstance(protocol, ws_protocol_cls)", 2),
    ("ws=WebSocketsSansIOProtocol,", 'ws="wsframe.uvicorn:WSFrameProtocol",', 1),
]
for old, new, n in swaps:
    if src.count(old) != n:
        sys.exit(f"uvicorn's test file changed: {old!r} found {src.count(old)} times, expected {n}")
    src = src.replace(old, new)
(d / "test_websocket_wsframe_identity.py").write_text(src)
EOF

# httpx-ws: the fixture redefined at the end of its conftest.
cat >>"$hw/tests/conftest.py" <<'EOF'


# wsframe: the uvicorn server of every test runs wsframe's protocol.
@pytest.fixture(params=["wsframe.uvicorn:WSFrameProtocol"], ids=["wsframe"])
def websocket_implementation(request):
    return request.param
EOF

export PYTHONPATH="$work/plugins${PYTHONPATH:+:$PYTHONPATH}"
failed=()
summary=()
passed_total=0
failed_total=0

# run NAME DIR FIXTURE ARGS...: one bounded pytest run with the probe plugin.
run() {
    local name=$1 dir=$2 fixture=$3; shift 3
    echo
    echo "=== $name"
    local log="$work/$name.log"
    local rc=0
    (cd "$dir" && WSFRAME_FIXTURE="$fixture" timeout -k 10 "$SUITE_TIMEOUT" "$py" -m pytest \
        -p wsframe_uvicorn_probe -p no:cacheprovider -o addopts="" -rfE -q "$@") >"$log" 2>&1 || rc=$?
    tail -n 15 "$log"
    local last served p f
    last=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|no tests ran' "$log" | tail -n 1 || true)
    served=$(grep -E '^wsframe.uvicorn: ' "$log" | tail -n 1 || true)
    p=$(echo "$last" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true); p=${p:-0}
    f=$(echo "$last" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}' || true)
    passed_total=$((passed_total + p)); failed_total=$((failed_total + f))
    summary+=("$name: ${last:-no summary} | ${served:-no probe output} | exit $rc")
    if [ "$rc" -ne 0 ] || [ "$p" -eq 0 ]; then failed+=("$name"); fi
}

identity="test_server_keepalive_ping_pong or test_server_keepalive_disabled"
identity="$identity or test_send_binary_data_to_server_bigger_than_default_on_websockets"
run uvicorn "$uv" ws_protocol_cls tests/protocols/test_websocket.py \
    --deselect tests/protocols/test_websocket.py::test_server_keepalive_ping_pong \
    --deselect tests/protocols/test_websocket.py::test_server_keepalive_disabled \
    --deselect tests/protocols/test_websocket.py::test_send_binary_data_to_server_bigger_than_default_on_websockets
run uvicorn-identity "$uv" ws_protocol_cls tests/protocols/test_websocket_wsframe_identity.py -k "$identity"
run httpx-ws "$hw" websocket_implementation tests

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    failed_total=$((failed_total > 0 ? failed_total : 1))
fi
echo "suite-uvicorn: $passed_total passed, $failed_total failed"
[ "${#failed[@]}" -eq 0 ]
