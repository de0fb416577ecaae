#!/usr/bin/env bash
# Soak and load tests against `python -m wsframe echo`:
#   tests/test_soak.py              100 connections x 10,000 messages (< 6 min)
#   tests/test_many_connections.py  10,000 concurrent connections (< 3 min)
# Bounded by a timeout; WSFRAME_REQUIRE_PEERS=1 (set here) turns a file
# descriptor limit that cannot be raised into a failure instead of a skip.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
LIMIT="${SOAK_TIMEOUT:-600}"
export WSFRAME_REQUIRE_PEERS="${WSFRAME_REQUIRE_PEERS:-1}"
start=$(date +%s)
cd "$ROOT"

# The load client and the server must run the C codec: a pure-Python run would measure something else.
"$PY" -c 'import sys, wsframe.codec as c; sys.exit(0 if c.speedups_enabled else "wsframe C extension not built")'

log="$(mktemp /tmp/wsframe-soak.XXXXXX.log)"
set +e
timeout -k 15 "$LIMIT" "$PY" -m pytest -p no:cacheprovider -m soak -s -q -rs --durations=0 \
    tests/test_soak.py tests/test_many_connections.py 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))
result=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed|error)' "$log" | tail -1 | tr -d '=' | xargs)
rm -f "$log"
if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "the soak suite passed its ${LIMIT}s timeout"
    echo "suite-soak: FAILED (${result:-exit $rc}) in ${elapsed}s"
    exit 1
fi
echo "suite-soak: OK (${result}) in ${elapsed}s"
