#!/usr/bin/env bash
# Side-by-side end-to-end benchmark: strata vs redis-server, same fsync policy, one run.
# Builds release, starts both servers on free ports with fresh data dirs, runs
# redis-benchmark -c 50 for SET, GET, INCR at -P 1 and -P 16 under appendfsync always and
# everysec, and prints a markdown table with requests/s and the strata/redis ratio.
#
# Usage: tools/bench-e2e.sh [-n REQUESTS] [-t TESTS] [-c CLIENTS] [--policies "always everysec"]
#                            [--pipes "1 16"] [--pipe-scale K]
#                            [--cmd "ZRANGEBYSCORE bench:z 0 100"]... [--prep "cmd"]...
# Pipelined tests (-P > 1) of SET/GET/INCR run K x REQUESTS (default K = 5): at -P 16 they
# are ~10x faster, and a run of a few hundred milliseconds measured noise more than servers
# (benches/RESULTS.md, session 6).
# --cmd adds a custom command benchmark (redis-benchmark's trailing command form); --prep
# runs a command on both servers first (e.g. to fill a sorted set for ZRANGEBYSCORE).
set -euo pipefail
cd "$(dirname "$0")/.."

N=200000
TESTS="set,get,incr"
CLIENTS=50
POLICIES="always everysec"
PIPES="1 16"
PIPE_SCALE=5
CMDS=()
PREPS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cmd) CMDS+=("$2"); shift 2 ;;
        --prep) PREPS+=("$2"); shift 2 ;;
        -n) N="$2"; shift 2 ;;
        -t) TESTS="$2"; shift 2 ;;
        -c) CLIENTS="$2"; shift 2 ;;
        --policies) POLICIES="$2"; shift 2 ;;
        --pipes) PIPES="$2"; shift 2 ;;
        --pipe-scale) PIPE_SCALE="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

for bin in redis-server redis-benchmark redis-cli; do
    command -v "$bin" >/dev/null || { echo "$bin not found (apt-get install redis-server redis-tools)" >&2; exit 2; }
done

cargo build --release --quiet
STRATA="${CARGO_TARGET_DIR:-target}/release/strata"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }

# rps PORT TEST PIPE -> requests per second
rps() {
    local n=$N
    [ "$3" -gt 1 ] && n=$((N * PIPE_SCALE))
    redis-benchmark -p "$1" -c "$CLIENTS" -n "$n" -t "$2" -P "$3" -r 100000 --csv -q 2>/dev/null \
        | awk -F'","' 'NR>1 || !/rps/ {gsub(/"/,"",$2); print $2; exit}'
}

echo "# strata vs redis-server ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r))"
echo "# redis: $(redis-server --version | awk '{print $3}'), requests per test: $N (pipelined: $((N * PIPE_SCALE))), clients: $CLIENTS"
echo
echo "| fsync | test | -P | strata rps | redis rps | strata/redis |"
echo "|---|---|---|---|---|---|"
for pol in $POLICIES; do
    sp=$(free_port); rp=$(free_port)
    mkdir -p "$WORK/s-$pol" "$WORK/r-$pol"
    "$STRATA" server --port "$sp" --dir "$WORK/s-$pol" --appendfsync "$pol" --save "" --loglevel warning &
    PIDS+=($!)
    redis-server --port "$rp" --dir "$WORK/r-$pol" --appendonly yes --appendfsync "$pol" --save '' --daemonize no --loglevel warning >/dev/null &
    PIDS+=($!)
    wait_port "$sp"; wait_port "$rp"
    for prep in "${PREPS[@]:-}"; do
        [ -z "$prep" ] && continue
        # shellcheck disable=SC2086
        redis-cli -p "$sp" $prep >/dev/null; redis-cli -p "$rp" $prep >/dev/null
    done
    for c in "${CMDS[@]:-}"; do
        [ -z "$c" ] && continue
        for p in $PIPES; do
            # shellcheck disable=SC2086
            s=$(redis-benchmark -p "$sp" -c "$CLIENTS" -n "$N" -P "$p" --csv -q $c 2>/dev/null | awk -F'","' 'NR>1 || !/rps/ {gsub(/"/,"",$2); print $2; exit}')
            # shellcheck disable=SC2086
            r=$(redis-benchmark -p "$rp" -c "$CLIENTS" -n "$N" -P "$p" --csv -q $c 2>/dev/null | awk -F'","' 'NR>1 || !/rps/ {gsub(/"/,"",$2); print $2; exit}')
            ratio=$(awk -v a="$s" -v b="$r" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
            echo "| $pol | $c | $p | $s | $r | $ratio |"
        done
    done
    for t in ${TESTS//,/ }; do
        [ -z "$t" ] && continue
        for p in $PIPES; do
            s=$(rps "$sp" "$t" "$p"); r=$(rps "$rp" "$t" "$p")
            ratio=$(awk -v a="$s" -v b="$r" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
            echo "| $pol | $t | $p | $s | $r | $ratio |"
        done
    done
    redis-cli -p "$sp" shutdown nosave >/dev/null 2>&1 || true
    redis-cli -p "$rp" shutdown nosave >/dev/null 2>&1 || true
    sleep 0.5
done
