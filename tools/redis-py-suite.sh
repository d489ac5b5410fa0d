#!/usr/bin/env bash
# redis-py 5.0.8's own test suite, sync and asyncio, against strata (or, with
# TARGET=redis, against redis-server 7.0 for the baseline), over RESP2 and RESP3. One
# fresh server per protocol; prints pytest's closing line per part, and keeps each part's
# output in $WORK/logs. Nothing of the suite is kept in this repository: the script fetches
# redis-py's source package (it carries tests/) from PyPI into $WORK once. redis-server
# runs with DEBUG enabled, as strata's default `enable-debug-command local` has it for a
# client on the machine (the suite simulates LOADING/READONLY/OOM errors with DEBUG ERROR).
# The tests that need a cluster, sentinel, TLS or Redis modules fail against redis-server
# 7.0 too; compare the two runs' failure lists (grep FAILED in the logs), not the counts
# alone.
#
# Usage: tools/redis-py-suite.sh
# Env:   WORK (default /tmp/strata-redis-py), PORT (default 21113), PROTOCOLS ("2 3"),
#        TARGET (strata | redis), STRATA_BIN (skip the build), PARTS ("sync asyncio").
# Needs: python3 with pytest, pytest-asyncio (0.23) and pytest-timeout
#        (pip install pytest 'pytest-asyncio<0.24' pytest-timeout).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${WORK:-/tmp/strata-redis-py}"
PORT="${PORT:-21113}"
PROTOCOLS="${PROTOCOLS:-2 3}"
TARGET="${TARGET:-strata}"
PARTS="${PARTS:-sync asyncio}"
VERSION=5.0.8
python3 -c "import pytest, pytest_asyncio, pytest_timeout" 2>/dev/null || {
    echo "needs pytest, pytest-asyncio and pytest-timeout:" >&2
    echo "  pip install pytest 'pytest-asyncio<0.24' pytest-timeout" >&2
    exit 2
}
mkdir -p "$WORK/logs"
SRC="$WORK/redis-$VERSION"
if [ ! -d "$SRC/tests" ]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: "redis==$VERSION" -d "$WORK"
    tar xzf "$WORK/redis-$VERSION.tar.gz" -C "$WORK"
fi
if [ "$TARGET" = strata ] && [ -z "${STRATA_BIN:-}" ]; then
    nice -n 10 cargo build --release --quiet
    STRATA_BIN="${CARGO_TARGET_DIR:-target}/release/strata"
fi
STRATA_BIN="$(realpath "${STRATA_BIN:-/nonexistent}" 2>/dev/null || true)"

SYNC=(tests/test_commands.py tests/test_pipeline.py tests/test_pubsub.py
    tests/test_scripting.py tests/test_function.py tests/test_lock.py tests/test_hash.py
    tests/test_encoding.py tests/test_connection.py tests/test_monitor.py
    tests/test_helpers.py tests/test_credentials.py tests/test_connection_pool.py)
ASYNC=()
for f in commands connect connection connection_pool credentials cwe_404 encoding hash lock \
    monitor pipeline pubsub retry scripting; do
    ASYNC+=("tests/test_asyncio/test_$f.py")
done

PID=""
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=""; }
trap stop EXIT
start() {
    local dir="$WORK/data-$PORT"
    rm -rf "$dir" && mkdir -p "$dir"
    if [ "$TARGET" = redis ]; then
        redis-server --port "$PORT" --save "" --appendonly yes --appendfsync always \
            --enable-debug-command yes --dir "$dir" >"$WORK/logs/server.log" 2>&1 &
    else
        "$STRATA_BIN" server --port "$PORT" --dir "$dir" >"$WORK/logs/server.log" 2>&1 &
    fi
    PID=$!
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" \
            2>/dev/null && return 0
        sleep 0.1
    done
    echo "server did not start (see $WORK/logs/server.log)" >&2
    exit 1
}

for proto in $PROTOCOLS; do
    for part in $PARTS; do
        start
        if [ "$part" = sync ]; then files=("${SYNC[@]}"); else files=("${ASYNC[@]}"); fi
        log="$WORK/logs/$TARGET-resp$proto-$part.log"
        (cd "$SRC" && nice -n 10 python3 -m pytest -q -p no:cacheprovider --timeout 60 \
            -o asyncio_mode=auto --protocol="$proto" \
            --redis-url="redis://127.0.0.1:$PORT" "${files[@]}" >"$log" 2>&1) || true
        echo "$TARGET RESP$proto $part: $(tail -n 1 "$log")"
        stop
    done
done
