#!/usr/bin/env bash
# Installs what wsframe's conformance and peer tests need (idempotent, quiet):
#   apt: chromium (headless browser peer), libnss3-tools (certutil: trust a test CA in Chromium
#        and Firefox), firefox-esr (headless Firefox peer), libwebkit2gtk-4.1-0 (WebKitGTK's
#        MiniBrowser: the WebKit peer), xvfb + xauth (a display for MiniBrowser), nginx (the
#        deployment-recipe test), redis-server (the pub/sub backplane tests start their own);
#        the last ones without recommends, to keep the install small
#   pip: kosoku (Autobahn cases), playwright (drives /usr/bin/chromium; never `playwright install`),
#        trustme (test certificates), websockets, aiohttp, websocket-client (Python peers), pytest,
#        redis (redis-py, the backplane's client)
#   npm: ws and websocket into tests/peers/node_modules (git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v certutil >/dev/null 2>&1 || need_apt+=(libnss3-tools)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
lean_apt=()
command -v firefox-esr >/dev/null 2>&1 || lean_apt+=(firefox-esr)
ls /usr/lib/*-linux-gnu/webkit2gtk-4.1/MiniBrowser >/dev/null 2>&1 || lean_apt+=(libwebkit2gtk-4.1-0)
command -v Xvfb >/dev/null 2>&1 || lean_apt+=(xvfb)
command -v xauth >/dev/null 2>&1 || lean_apt+=(xauth)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || lean_apt+=(nginx)
command -v redis-server >/dev/null 2>&1 || lean_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ] || [ ${#lean_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    if [ ${#need_apt[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
            "${need_apt[@]}" >/dev/null
    fi
    if [ ${#lean_apt[@]} -gt 0 ]; then
        # Installing nginx must not start the system service (port 80): the tests run
        # their own nginx. A policy-rc.d that says no, unless the machine has one.
        policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            policy=/usr/sbin/policy-rc.d
            printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
            $SUDO chmod +x "$policy"
        fi
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            "${lean_apt[@]}" >/dev/null 2>&1 || status=$?
        [ -n "$policy" ] && $SUDO rm -f "$policy"
        if [ "${status:-0}" -ne 0 ]; then
            echo "install-peers: apt-get install ${lean_apt[*]} failed ($status)" >&2
            exit "$status"
        fi
    fi
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c "import kosoku, playwright, trustme, websockets, aiohttp, websocket, pytest, redis" 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
        kosoku playwright trustme websockets aiohttp websocket-client pytest "redis==6.4.0"
fi

if [ ! -f tests/peers/node_modules/ws/package.json ] || [ ! -f tests/peers/node_modules/websocket/package.json ]; then
    (cd tests/peers && npm install --no-audit --no-fund --silent --loglevel=error >/dev/null)
fi
echo "install-peers: chromium $(chromium --version 2>/dev/null | awk '{print $2}'),"\
    "firefox $(firefox-esr --version 2>/dev/null | awk '{print $3}'),"\
    "webkitgtk $(dpkg-query -W -f='${Version}' libwebkit2gtk-4.1-0 2>/dev/null | cut -d- -f1),"\
    "nginx $(/usr/sbin/nginx -v 2>&1 | cut -d/ -f2), node $(node --version), peers ready"
