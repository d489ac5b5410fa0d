#!/usr/bin/env bash
# fakeredis-py's test suite, its real-server half (`pytest -m real`: ~3200 tests of Redis
# semantics written against a real server, over RESP2 and RESP3), run against
# redis-server 7.0 and then strata, each fresh on the same port; prints pytest's closing
# line for both and the tests that fail on strata only. Nothing of the suite is kept in
# this repository: the script fetches fakeredis's source package (it carries test/) from
# PyPI into $WORK once, with a virtualenv for its dependencies. The suite's port (6390,
# fixed in its conftest.py) is rewritten to $PORT. Tests of features newer than Redis 7.0
# are skipped by the suite itself from the version the server reports.
#
# Usage: tools/fakeredis-suite.sh
# Env:   WORK (default /tmp/strata-fakeredis), PORT (default 21114), STRATA_BIN (skip the
#        build), TARGETS ("redis strata").
# Needs: python3 with venv, network access to PyPI on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${WORK:-/tmp/strata-fakeredis}"
PORT="${PORT:-21114}"
TARGETS="${TARGETS:-redis strata}"
VERSION=2.41.0
mkdir -p "$WORK/logs"
SRC="$WORK/fakeredis-$VERSION"
PY="$WORK/venv/bin/python"
if [ ! -x "$PY" ]; then
    python3 -m venv "$WORK/venv"
fi
if [ ! -d "$SRC/test" ]; then
    "$PY" -m pip download --quiet --no-deps --no-binary :all: "fakeredis==$VERSION" -d "$WORK"
    tar xzf "$WORK/fakeredis-$VERSION.tar.gz" -C "$WORK"
    "$PY" -m pip install --quiet -e "$SRC[lua,valkey]" pytest hypothesis pytest-timeout \
        pytest-asyncio pytest-mock
fi
sed -i "s/return \"localhost\", [0-9]*$/return \"localhost\", $PORT/" "$SRC/test/conftest.py"
grep -q "return \"localhost\", $PORT" "$SRC/test/conftest.py" || {
    echo "could not set the suite's port in $SRC/test/conftest.py" >&2
    exit 1
}
if [[ " $TARGETS " == *" strata "* ]] && [ -z "${STRATA_BIN:-}" ]; then
    nice -n 10 cargo build --release --quiet
    STRATA_BIN="${CARGO_TARGET_DIR:-target}/release/strata"
fi
STRATA_BIN="$(realpath "${STRATA_BIN:-/nonexistent}" 2>/dev/null || true)"

PID=""
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=""; }
trap stop EXIT
start() {
    local dir="$WORK/data-$1"
    rm -rf "$dir" && mkdir -p "$dir"
    if [ "$1" = redis ]; then
        redis-server --port "$PORT" --save "" --appendonly yes --appendfsync always \
            --enable-debug-command yes --dir "$dir" >"$WORK/logs/server-$1.log" 2>&1 &
    else
        "$STRATA_BIN" server --port "$PORT" --dir "$dir" >"$WORK/logs/server-$1.log" 2>&1 &
    fi
    PID=$!
    for _ in $(seq 100); do
        "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" \
            2>/dev/null && return 0
        sleep 0.1
    done
    echo "server did not start (see $WORK/logs/server-$1.log)" >&2
    exit 1
}

for target in $TARGETS; do
    start "$target"
    log="$WORK/logs/$target.log"
    (cd "$SRC" && nice -n 10 "$PY" -m pytest -m real -q -p no:cacheprovider --timeout 60 \
        -rfE test >"$log" 2>&1) || true
    stop
    echo "$target: $(tail -1 "$log")"
    grep "^FAILED" "$log" | sed 's/ - .*//' | sort >"$WORK/logs/$target.failed" || true
done
if [ -f "$WORK/logs/redis.failed" ] && [ -f "$WORK/logs/strata.failed" ]; then
    echo "failing on strata only:"
    comm -13 "$WORK/logs/redis.failed" "$WORK/logs/strata.failed" | sed 's/^/  /'
fi
