#!/usr/bin/env bash
# Pub/sub and the Redis backplane: installs redis-server (Debian package, via
# apt-get when missing) and redis-py (pinned), then runs the pub/sub tests with
# WSFRAME_REQUIRE_PEERS=1 (a missing peer fails instead of skipping): topics on
# the selectors server, asyncio and uvicorn; the stalled-subscriber test (1,000
# healthy subscribers, RSS bounded); the Redis backplane against a real
# redis-server the tests start on 127.0.0.1 (restart, outage, bad data, three
# processes); the chat example as written. Ends with pytest's summary line.
set -euo pipefail
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
REDIS_PY=6.4.0

cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    $SUDO apt-get install -y -q redis-server >/dev/null 2>&1 \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q redis-server >/dev/null; }
fi
# The packaged service is not needed: the tests start their own redis-server.
python -c "import redis, sys; sys.exit(redis.__version__ != '$REDIS_PY')" 2>/dev/null \
    || python -m pip install -q "redis==$REDIS_PY"

export WSFRAME_REQUIRE_PEERS=1
timeout "${SUITE_TIMEOUT:-600}" python -m pytest -q -p no:cacheprovider \
    tests/test_pubsub_core.py tests/test_pubsub_server.py tests/test_pubsub_asyncio.py \
    tests/test_pubsub_uvicorn.py tests/test_pubsub_slow.py tests/test_pubsub_example.py tests/test_pubsub_burst.py \
    tests/test_backplane_redis.py
