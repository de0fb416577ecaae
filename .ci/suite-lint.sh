#!/usr/bin/env bash
# ruff over wsframe/, tests/ and benchmarks/ (pinned ruff; rules given here, no config file):
# pyflakes (F), pycodestyle's errors (E4 imports, E7 statements, E9 syntax), warnings (W) and bugbear
# (B). Ignored: B905 (zip() without strict=: most zips here pair equal-length sequences by
# construction), F811 in tests (pytest fixtures imported into a test module are redefined as
# arguments by design), B023 in benchmarks (the lambdas are called within the loop iteration that
# made them). Ends with "N passed, N failed" (one check).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python -m pip install -q "ruff==0.17.6" 2>&1 | { grep -v "^WARNING" || true; }
set +e
python -m ruff check --no-cache --line-length 120 --target-version py310 \
    --select E4,E7,E9,F,B,W --ignore B905 \
    --per-file-ignores "tests/*:F811" --per-file-ignores "benchmarks/*:B023" \
    --exclude "tests/peers/node_modules" \
    wsframe tests benchmarks
rc=$?
set -e
if [ "$rc" -eq 0 ]; then
    echo "ruff: 1 passed, 0 failed"
else
    echo "ruff: 0 passed, 1 failed"
    exit 1
fi
