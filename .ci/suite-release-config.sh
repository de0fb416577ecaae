#!/usr/bin/env bash
# The release configuration, checked where GitHub's runners cannot be had:
# cibuildwheel (pinned) lists exactly the intended wheel identifiers for Linux,
# macOS and Windows (cp310-cp315, cp314t, cp315t; nothing older); the workflow
# files validate against the GitHub workflow schema (check-jsonschema) and pass
# zizmor's offline audit. The tools go into a throw-away venv.
# Ends with one 'N passed, N failed' line.
set -uo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv" && "$work/venv/bin/python" -m pip install -q \
    "cibuildwheel==4.3.5" "check-jsonschema==0.37.1" "zizmor==1.33.1" 2>&1 | { grep -v "^WARNING: Location" || true; }
bin="$work/venv/bin"
passed=0 failed=0
check() {  # check NAME COMMAND...
    local name=$1; shift
    if "$@"; then echo "ok: $name"; passed=$((passed + 1)); else echo "FAILED: $name"; failed=$((failed + 1)); fi
}
versions="cp310 cp311 cp312 cp313 cp314 cp314t cp315 cp315t"
expect() {  # the identifiers a platform must list, sorted
    local arch
    for v in $versions; do for arch in "$@"; do echo "$v-$arch"; done; done | sort
}
ids() { "$bin/cibuildwheel" --print-build-identifiers --platform "$1" 2>/dev/null | sort; }
check "linux identifiers" diff <(ids linux) <(expect manylinux_x86_64 manylinux_aarch64 musllinux_x86_64 musllinux_aarch64)
check "macos identifiers" diff <(ids macos) <(expect macosx_x86_64 macosx_arm64)
check "windows identifiers" diff <(ids windows) <(expect win_amd64 win_arm64)
check "workflow schema" "$bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
check "zizmor --offline" "$bin/zizmor" --offline .github/workflows/
echo "release-config: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
