#!/usr/bin/env bash
# Redis's own Tcl test suite against strata. Prints one line per unit (ok / err /
# exception / timeout counts) and the totals; logs go to $WORK/logs (external mode) or
# $WORK/logs-normal-$SERVER (normal mode). Nothing of the suite is kept in this repository:
# the script fetches Redis 7.0.15's source package from Debian (the same version as
# Debian's redis-server) into $WORK once.
#
# MODE=external (default): the suite's external mode (how Redis's CI tests a server it did
# not start): one fresh release strata per unit, `--tags -slow` unless TAGS is set. Tests
# that start their own server with special config are skipped by the suite in this mode.
#
# MODE=normal: the suite's normal mode, where it starts every server itself, from its
# tests/assets/default.conf plus each test's overrides (so `start_server {overrides ...}`
# tests run too). The script copies the suite to $WORK/normal-$SERVER and puts at its
# src/redis-server a two-line wrapper that execs `strata server "$@"` (strata takes the
# redis.conf the suite writes, logs the `PID:` and `Ready to accept connections` lines
# the suite waits for, and serves its unixsocket); src/redis-cli and src/redis-benchmark
# are the system's. SERVER=redis runs the same copy with /usr/bin/redis-server instead,
# for comparison. Tags default to "-slow -needs:repl -repl" (the replication units run on
# their own, named, with TAGS=-slow);
# units default to every unit but the replication, cluster and TLS ones. --durable: a unit
# goes on after a failed test's exception.
#
# Normal mode, 2026-11-26, tags "-slow -needs:repl -repl", 66 units: see the README's
# compatibility section for the counts (strata and redis-server 7.0.15) and what fails.
#
# Usage: tools/redis-tcl-suite.sh [UNIT ...]
# Env:   MODE (external | normal), WORK (default /tmp/strata-tcl), TAGS, STRATA_BIN (skip
#        the build), PORT (default 21112, external), BASEPORT (default 30000 external,
#        24000 normal: below Linux's ephemeral range, 32768-60999, where an outgoing
#        connection of another process can hold a port the suite picked), PORTCOUNT
#        (normal, default 2000), SERVER (normal: strata | redis).
# Needs: tclsh (Debian tcl), and deb-src entries for bookworm so that `apt-get source` works;
# without them the script prints what to add.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${WORK:-/tmp/strata-tcl}"
MODE="${MODE:-external}"
PORT="${PORT:-21112}"
UNITS=("$@")
if [ ${#UNITS[@]} -eq 0 ] && [ "$MODE" = normal ]; then
    # Every unit of Redis's test_helper.tcl list but replication, cluster and TLS ones.
    UNITS=(unit/printver unit/dump unit/auth unit/protocol unit/keyspace unit/scan unit/info
        unit/info-command unit/type/string unit/type/incr unit/type/list unit/type/list-2
        unit/type/list-3 unit/type/set unit/type/zset unit/type/hash unit/type/stream
        unit/type/stream-cgroups unit/sort unit/expire unit/other unit/multi unit/quit
        unit/aofrw unit/acl unit/acl-v2 unit/latency-monitor integration/shutdown
        integration/aof integration/aof-multi-part integration/rdb integration/corrupt-dump
        integration/corrupt-dump-fuzzer integration/convert-zipmap-hash-on-load
        integration/convert-ziplist-hash-on-load integration/convert-ziplist-zset-on-load
        integration/logging integration/redis-cli integration/redis-benchmark
        integration/dismiss-mem unit/pubsub unit/pubsubshard unit/slowlog unit/scripting
        unit/functions unit/maxmemory unit/introspection unit/introspection-2 unit/limits
        unit/obuf-limits unit/bitops unit/bitfield unit/geo unit/memefficiency
        unit/hyperloglog unit/lazyfree unit/pause unit/querybuf unit/pendingquerybuf
        unit/tracking unit/oom-score-adj unit/shutdown unit/networking unit/client-eviction
        unit/violations unit/replybufsize)
fi
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
if [ -z "${STRATA_BIN:-}" ] && [ "${SERVER:-strata}" = strata ]; then
    cargo build --release --quiet
    STRATA_BIN="${CARGO_TARGET_DIR:-target}/release/strata"
fi
total_ok=0; total_err=0; total_exc=0
count() { # unit log rc: print the unit's line, add to the totals
    local ok err exc to
    ok=$(grep -ac '\[.*ok.*\]:' "$2" || true)
    err=$(grep -ac '^\[.*err.*\]:' "$2" || true)
    exc=$(grep -ac 'exception' "$2" || true)
    to=$(grep -ac '^\[.*TIMEOUT' "$2" || true)
    echo "$1 rc=$3 ok=$ok err=$err exc=$exc timeout=$to"
    total_ok=$((total_ok + ok)); total_err=$((total_err + err)); total_exc=$((total_exc + exc))
}
if [ "$MODE" = normal ]; then
    SERVER="${SERVER:-strata}"
    COPY="$WORK/normal-$SERVER/redis-7.0.15"
    LOGS="$WORK/logs-normal-$SERVER"
    rm -rf "$COPY" && mkdir -p "$COPY" "$LOGS"
    cp -r "$WORK/redis-7.0.15/." "$COPY/"
    rm -rf "$COPY/tests/tmp"
    if [ "$SERVER" = redis ]; then
        ln -sf /usr/bin/redis-server "$COPY/src/redis-server"
    else
        # A copy: a rebuild meanwhile must not change the server under test.
        cp --remove-destination "$STRATA_BIN" "$WORK/normal-$SERVER/strata"
        printf '#!/bin/sh\nexec "%s" server "$@"\n' "$WORK/normal-$SERVER/strata" \
            > "$COPY/src/redis-server"
        chmod +x "$COPY/src/redis-server"
    fi
    for t in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
        if command -v "$t" >/dev/null; then ln -sf "$(command -v "$t")" "$COPY/src/$t"; fi
    done
    for u in "${UNITS[@]}"; do
        log="$LOGS/$(echo "$u" | tr / _).log"
        rc=0
        (cd "$COPY" && timeout "${UNIT_TIMEOUT:-900}" tclsh tests/test_helper.tcl --single "$u" \
            --clients 1 --timeout 60 --baseport "${BASEPORT:-24000}" \
            --portcount "${PORTCOUNT:-2000}" --durable \
            --tags "${TAGS:--slow -needs:repl -repl}") > "$log" 2>&1 || rc=$?
        count "$u" "$log" "$rc"
        # A test that failed with an exception can leave its server running: stop the
        # processes of this script's own copy of the binary (none other).
        if [ "$SERVER" = strata ]; then
            for d in /proc/[0-9]*; do
                if [ "$(readlink "$d/exe" 2>/dev/null)" = "$WORK/normal-$SERVER/strata" ]; then
                    kill -9 "${d#/proc/}" 2>/dev/null || true
                fi
            done
        fi
    done
    echo "total ok=$total_ok err=$total_err exc=$total_exc (logs in $LOGS)"
    exit 0
fi
BASEPORT="${BASEPORT:-30000}"
# A copy: a rebuild meanwhile must not change the server under test.
cp "$STRATA_BIN" "$WORK/strata"
mkdir -p "$WORK/logs"
PID=""
stop() { if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; }
trap stop EXIT
for u in "${UNITS[@]}"; do
    stop
    rm -rf "$WORK/data"
    "$WORK/strata" server --port "$PORT" --dir "$WORK/data" --appendfsync everysec \
        --enable-debug-command yes > "$WORK/logs/strata.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    log="$WORK/logs/$(echo "$u" | tr / _).log"
    rc=0
    (cd "$WORK/redis-7.0.15" && timeout "${UNIT_TIMEOUT:-900}" tclsh tests/test_helper.tcl \
        --host 127.0.0.1 --port "$PORT" --single "$u" --timeout 60 --baseport "$BASEPORT" \
        --tags "${TAGS:--slow}") > "$log" 2>&1 || rc=$?
    count "$u" "$log" "$rc"
done
echo "total ok=$total_ok err=$total_err exc=$total_exc (logs in $WORK/logs)"
