#!/usr/bin/env bash
# Data-type benchmarks, strata vs redis-server under appendfsync always, one run:
# LPUSH, RPOP, SADD, HSET, ZADD, LRANGE_100 (redis-benchmark built-ins), XADD, then
# ZRANGEBYSCORE on a 10k-member sorted set and ZRANK on a 1M-member sorted set, at -c 50
# with -P 1 and -P 16. Prints a markdown table with the ratio.
#
# Usage: tools/bench-types.sh [-n REQUESTS]
# REQUESTS is per test at -P 1; the -P 16 tests send 10x as many (100k requests at
# ~1.5M/s last 70 ms, too short to tell a difference from scheduling noise).
set -euo pipefail
set -f  # custom commands contain `*` (XADD IDs): no globbing
cd "$(dirname "$0")/.."
N=100000
[ "${1:-}" = "-n" ] && N="$2"
cargo build --release --quiet
STRATA="${CARGO_TARGET_DIR:-target}/release/strata"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; exit 1; }
# rps of the first result line, or of the first whose test name contains $1 (-t lrange_100
# also reports the LPUSH that fills the list, first).
rps() { awk -F'","' -v pat="${1:-}" '(NR>1 || !/rps/) && (pat == "" || index(toupper($1), pat)) {gsub(/"/,"",$2); print $2; exit}'; }

sp=$(free_port); rp=$(free_port)
"$STRATA" server --port "$sp" --dir "$WORK/s" --appendfsync always --save "" --loglevel warning & PIDS+=($!)
redis-server --port "$rp" --dir "$WORK" --appendonly yes --appendfsync always --save '' --loglevel warning >/dev/null & PIDS+=($!)
wait_port "$sp"; wait_port "$rp"

# Fill: bench:z10k (10k members) and bench:z1m (1M members), through --pipe.
python3 - "$WORK/fill.txt" <<'PY'
import sys
def resp(*a):
    return "*%d\r\n" % len(a) + "".join("$%d\r\n%s\r\n" % (len(str(x)), x) for x in a)
with open(sys.argv[1], "w") as f:
    for i in range(0, 10000, 500):
        f.write(resp("ZADD", "bench:z10k", *sum(([j, "m%d" % j] for j in range(i, i + 500)), [])))
    for i in range(0, 1000000, 1000):
        f.write(resp("ZADD", "bench:z1m", *sum(([j, "member:%d" % j] for j in range(i, i + 1000)), [])))
PY
redis-cli -p "$sp" --pipe < "$WORK/fill.txt" >/dev/null
redis-cli -p "$rp" --pipe < "$WORK/fill.txt" >/dev/null
# Compact both logs now (strata: snapshot; redis: AOF rewrite) and wait for both to end,
# so the fill's automatic rewrite does not land, on either server, inside whichever
# throughput test happens to be running (the cost of a snapshot under load is measured by
# tools/bench-snapshot.py).
redis-cli -p "$sp" bgrewriteaof >/dev/null
redis-cli -p "$rp" bgrewriteaof >/dev/null
for port in "$sp" "$rp"; do
    for _ in $(seq 600); do
        redis-cli -p "$port" info persistence | grep -q -E '^(aof_rewrite|rdb_bgsave)_in_progress:1' || break
        sleep 0.1
    done
done

echo "# data types, appendfsync always ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores), $N requests at -P 1 and $((N * 10)) at -P 16, -c 50"
echo
echo "| test | -P | strata rps | redis rps | strata/redis |"
echo "|---|---|---|---|---|"
for p in 1 16; do
    n=$([ "$p" = 16 ] && echo $((N * 10)) || echo "$N")
    for t in lpush rpop sadd hset zadd lrange_100; do
        T=$(echo "$t" | tr a-z A-Z)
        s=$(redis-benchmark -p "$sp" -c 50 -n "$n" -P "$p" -t "$t" --csv -q 2>/dev/null | rps "$T")
        r=$(redis-benchmark -p "$rp" -c 50 -n "$n" -P "$p" -t "$t" --csv -q 2>/dev/null | rps "$T")
        echo "| $t | $p | $s | $r | $(awk -v a="$s" -v b="$r" 'BEGIN{printf "%.2f", a/b}') |"
    done
    for c in "XADD bench:x * field value" "ZRANGEBYSCORE bench:z10k 100 200" "ZRANK bench:z1m member:__rand_int__"; do
        # shellcheck disable=SC2086
        s=$(redis-benchmark -p "$sp" -c 50 -n "$n" -P "$p" -r 1000000 --csv -q $c 2>/dev/null | rps)
        # shellcheck disable=SC2086
        r=$(redis-benchmark -p "$rp" -c 50 -n "$n" -P "$p" -r 1000000 --csv -q $c 2>/dev/null | rps)
        echo "| ${c%% *} | $p | $s | $r | $(awk -v a="$s" -v b="$r" 'BEGIN{printf "%.2f", a/b}') |"
    done
done
