#!/usr/bin/env bash
# Side-by-side benchmark of the issue-5 patterns: strata vs redis-server in one run, both
# with appendonly/appendfsync always, fresh data dirs, free ports, -c 50 clients:
#   - PUBLISH with 1 and with 50 subscribers (examples/loadgen.rs: every message is
#     checked to reach every subscriber),
#   - EVALSHA of a sliding-window rate limiter (ZREMRANGEBYSCORE/ZCARD/ZADD/PEXPIRE in Lua)
#     over 1000 users (redis-benchmark),
#   - MULTI + 5 INCR + EXEC written in one go, as client libraries send a transaction
#     (examples/loadgen.rs).
# Builds release once and prints a markdown table of requests (publishes, script calls,
# transactions) per second and the strata/redis ratio. With -r ROUNDS every pattern runs
# ROUNDS times, strata and redis alternating, and the table shows the medians and the
# range of the per-round ratios (on a 2-core machine one round swings by ±10%).
#
# Usage: tools/bench-patterns.sh [-n REQUESTS] [-c CLIENTS] [-r ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

N=100000
CLIENTS=50
ROUNDS=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N="$2"; shift 2 ;;
        -c) CLIENTS="$2"; shift 2 ;;
        -r) ROUNDS="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

for bin in redis-server redis-benchmark redis-cli python3; do
    command -v "$bin" >/dev/null || { echo "$bin not found" >&2; exit 2; }
done

cargo build --release --quiet --bin strata --example loadgen
TARGET="${CARGO_TARGET_DIR:-target}/release"
STRATA="$TARGET/strata"
LOADGEN="$TARGET/examples/loadgen"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }

sp=$(free_port); rp=$(free_port)
mkdir -p "$WORK/s" "$WORK/r"
"$STRATA" server --port "$sp" --dir "$WORK/s" --appendfsync always --save "" --loglevel warning &
PIDS+=($!)
redis-server --port "$rp" --dir "$WORK/r" --appendonly yes --appendfsync always --save '' \
    --daemonize no --loglevel warning >/dev/null &
PIDS+=($!)
wait_port "$sp"; wait_port "$rp"

# The sliding-window limiter: drop entries older than the window, count, admit if under
# the limit (ZADD + PEXPIRE). The clock is the server's (TIME), so the script is the same
# on both servers.
LIMITER='local key = KEYS[1]
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", key, "-inf", now - window)
if redis.call("ZCARD", key) < limit then
  redis.call("ZADD", key, now, ARGV[3])
  redis.call("PEXPIRE", key, window)
  return 1
end
return 0'
ssha=$(redis-cli -p "$sp" SCRIPT LOAD "$LIMITER")
rsha=$(redis-cli -p "$rp" SCRIPT LOAD "$LIMITER")
[ "$ssha" = "$rsha" ] || { echo "SCRIPT LOAD differs: $ssha vs $rsha" >&2; exit 1; }

bench_cmd() { # PORT ARGS... -> rps
    local port=$1; shift
    redis-benchmark -p "$port" -c "$CLIENTS" -n "$N" -r 1000 --csv -q "$@" 2>/dev/null \
        | awk -F'","' 'NR>1 || !/rps/ {gsub(/"/,"",$2); print $2; exit}'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {m=int((NR+1)/2); if (NR%2) print v[m]; else print (v[m]+v[m+1])/2}'; }

row() { # NAME "STRATA..." "REDIS..." (one value per round)
    local s r ratios
    s=$(echo "$2" | median); r=$(echo "$3" | median)
    ratios=$(paste -d' ' <(echo "$2" | tr ' ' '\n' | grep -v '^$') <(echo "$3" | tr ' ' '\n' | grep -v '^$') \
        | awk '$2 > 0 {printf "%.3f ", $1 / $2}')
    if [ "$ROUNDS" -gt 1 ]; then
        printf '| %s | %.0f | %.0f | %.2f | %s–%s |\n' "$1" "$s" "$r" "$(echo "$ratios" | median)" \
            "$(echo "$ratios" | tr ' ' '\n' | grep -v '^$' | sort -g | head -1)" \
            "$(echo "$ratios" | tr ' ' '\n' | grep -v '^$' | sort -g | tail -1)"
    else
        printf '| %s | %.0f | %.0f | %s |\n' "$1" "$s" "$r" "$(echo "$ratios" | awk '{printf "%.2f", $1}')"
    fi
}

echo "# strata vs redis-server ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r))"
echo "# redis: $(redis-server --version | awk '{print $3}'), appendfsync always on both, clients: $CLIENTS, requests per test: $N, rounds: $ROUNDS"
echo
if [ "$ROUNDS" -gt 1 ]; then
    echo "| pattern | strata rps (median) | redis rps (median) | strata/redis (median of rounds) | range |"
    echo "|---|---|---|---|---|"
else
    echo "| pattern | strata rps | redis rps | strata/redis |"
    echo "|---|---|---|---|"
fi
for subs in 1 50; do
    s=""; r=""
    for _ in $(seq "$ROUNDS"); do
        s+="$("$LOADGEN" publish --port "$sp" --clients "$CLIENTS" --requests "$N" --subscribers "$subs") "
        r+="$("$LOADGEN" publish --port "$rp" --clients "$CLIENTS" --requests "$N" --subscribers "$subs") "
    done
    row "PUBLISH, $subs subscriber(s)" "$s" "$r"
done
s=""; r=""
for _ in $(seq "$ROUNDS"); do
    s+="$(bench_cmd "$sp" EVALSHA "$ssha" 1 rl:user:__rand_int__ 1000 100 __rand_int__) "
    r+="$(bench_cmd "$rp" EVALSHA "$rsha" 1 rl:user:__rand_int__ 1000 100 __rand_int__) "
done
row "EVALSHA sliding-window limiter (1000 users)" "$s" "$r"
s=""; r=""
for _ in $(seq "$ROUNDS"); do
    s+="$("$LOADGEN" multi --port "$sp" --clients "$CLIENTS" --requests "$N" --incrs 5) "
    r+="$("$LOADGEN" multi --port "$rp" --clients "$CLIENTS" --requests "$N" --incrs 5) "
done
row "MULTI + 5 INCR + EXEC" "$s" "$r"

redis-cli -p "$sp" shutdown nosave >/dev/null 2>&1 || true
redis-cli -p "$rp" shutdown nosave >/dev/null 2>&1 || true
sleep 0.5
