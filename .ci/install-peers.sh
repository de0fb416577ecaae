#!/usr/bin/env bash
# Installs what wsframe's conformance and peer tests need (idempotent, quiet):
#   apt: chromium (headless browser peer), libnss3-tools (certutil: trust a test CA in Chromium)
#   pip: kosoku (Autobahn cases), playwright (drives /usr/bin/chromium; never `playwright install`),
#        trustme (test certificates), websockets, aiohttp, websocket-client (Python peers), pytest
#   npm: ws and websocket into tests/peers/node_modules (git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v certutil >/dev/null 2>&1 || need_apt+=(libnss3-tools)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c "import kosoku, playwright, trustme, websockets, aiohttp, websocket, pytest" 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
        kosoku playwright trustme websockets aiohttp websocket-client pytest
fi

if [ ! -f tests/peers/node_modules/ws/package.json ] || [ ! -f tests/peers/node_modules/websocket/package.json ]; then
    (cd tests/peers && npm install --no-audit --no-fund --silent --loglevel=error >/dev/null)
fi
echo "install-peers: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), node $(node --version), peers ready"
