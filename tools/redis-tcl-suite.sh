#!/usr/bin/env bash
# Redis's own Tcl test suite against strata, in the suite's external mode (how Redis's CI
# tests a server it did not start): one fresh release strata per unit, `--tags -slow`
# unless TAGS is set. Prints one line per unit (ok / err / exception / timeout counts) and
# the totals; logs go to $WORK/logs. Nothing of the suite is kept in this repository: the
# script fetches Redis 7.0.15's source package from Debian (the same version as Debian's
# redis-server) into $WORK once.
#
# Usage: tools/redis-tcl-suite.sh [UNIT ...]   (default: every unit with tests in external mode)
# Env:   WORK (default /tmp/strata-tcl), TAGS (default "-slow"; " " runs slow tests too),
#        STRATA_BIN (skip the build), PORT (default 21112), BASEPORT (default 30000).
# Needs: tclsh (Debian tcl), and deb-src entries for bookworm so that `apt-get source` works;
# without them the script prints what to add.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${WORK:-/tmp/strata-tcl}"
PORT="${PORT:-21112}"
BASEPORT="${BASEPORT:-30000}"
UNITS=("$@")
if [ ${#UNITS[@]} -eq 0 ]; then
    # Every unit that has tests outside the `external:skip` tag.
    UNITS=(unit/bitfield unit/bitops unit/dump unit/expire unit/functions unit/geo
        unit/hyperloglog unit/info-command unit/introspection-2 unit/introspection
        unit/keyspace unit/latency-monitor unit/lazyfree unit/multi unit/other unit/pause
        unit/protocol unit/pubsub unit/quit unit/replybufsize unit/scan unit/scripting
        unit/slowlog unit/sort unit/tracking unit/type/hash unit/type/incr unit/type/list-3
        unit/type/list unit/type/set unit/type/stream-cgroups unit/type/stream
        unit/type/string unit/type/zset unit/violations)
fi
command -v tclsh >/dev/null || { echo "tclsh not found (apt-get install tcl)" >&2; exit 2; }
mkdir -p "$WORK"
SUITE="$WORK/redis-7.0.15/tests"
if [ ! -d "$SUITE" ]; then
    if ! (cd "$WORK" && apt-get source --download-only redis >/dev/null 2>&1); then
        cat >&2 <<'EOF'
apt-get source failed: add deb-src entries, e.g. /etc/apt/sources.list.d/debsrc.sources:
  Types: deb-src
  URIs: http://deb.debian.org/debian
  Suites: bookworm bookworm-updates
  Components: main
  Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
then `apt-get update` and run this again.
EOF
        exit 2
    fi
    tar -C "$WORK" -xzf "$WORK"/redis_7.0.15.orig.tar.gz
fi
if [ -z "${STRATA_BIN:-}" ]; then
    cargo build --release --quiet
    STRATA_BIN="${CARGO_TARGET_DIR:-target}/release/strata"
fi
# A copy: a rebuild meanwhile must not change the server under test.
cp "$STRATA_BIN" "$WORK/strata"
mkdir -p "$WORK/logs"
PID=""
stop() { if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; }
trap stop EXIT
total_ok=0; total_err=0; total_exc=0
for u in "${UNITS[@]}"; do
    stop
    rm -rf "$WORK/data"
    "$WORK/strata" server --port "$PORT" --dir "$WORK/data" --appendfsync everysec \
        > "$WORK/logs/strata.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    log="$WORK/logs/$(echo "$u" | tr / _).log"
    rc=0
    (cd "$WORK/redis-7.0.15" && timeout "${UNIT_TIMEOUT:-900}" tclsh tests/test_helper.tcl \
        --host 127.0.0.1 --port "$PORT" --single "$u" --timeout 60 --baseport "$BASEPORT" \
        --tags "${TAGS:--slow}") > "$log" 2>&1 || rc=$?
    ok=$(grep -ac '\[.*ok.*\]:' "$log" || true)
    err=$(grep -ac '^\[.*err.*\]:' "$log" || true)
    exc=$(grep -ac 'exception' "$log" || true)
    to=$(grep -ac '^\[.*TIMEOUT' "$log" || true)
    echo "$u rc=$rc ok=$ok err=$err exc=$exc timeout=$to"
    total_ok=$((total_ok + ok)); total_err=$((total_err + err)); total_exc=$((total_exc + exc))
done
echo "total ok=$total_ok err=$total_err exc=$total_exc (logs in $WORK/logs)"
