#!/usr/bin/env bash
# Eviction and expiry, strata vs redis-server 7.0 in one run, both with appendonly yes +
# appendfsync always, maxmemory 100mb and allkeys-lru:
#  1. SET at -c 50 -P 16 with random keys over a keyspace about 10x larger than fits
#     (-r), values of 100 bytes: throughput while evicting, evicted_keys, used_memory;
#  2. GET at -c 50 -P 16 over the same keyspace: throughput and hit rate
#     (keyspace_hits / (hits + misses) from INFO after CONFIG RESETSTAT);
#  3. expiry reclaim: maxmemory off, active expiry paused (DEBUG SET-ACTIVE-EXPIRE 0), 1M
#     keys loaded with redis-cli --pipe as `SET k v PXAT t` (all due the same
#     millisecond); once all are due, active expiry is switched back on and nobody reads
#     them: time until DBSIZE is 0, the slowest PING meanwhile (replies wait for the
#     fsync of the expiry DELs on both), used_memory before and after.
# Each phase waits until the other server runs no background save or rewrite.
# Prints a markdown table with strata/redis ratios.
#
# Usage: tools/bench-evict.sh [-n SET_REQUESTS] [-e] [-k EXPIRE_KEYS]
#   -e  expiry reclaim only (skips the SET/GET part)
#   STRATA_BIN=path skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=4000000
KEYSPACE=6000000
EXPIRE_KEYS=1000000
ONLY_EXPIRY=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N="$2"; shift 2 ;;
        -k) EXPIRE_KEYS="$2"; shift 2 ;;
        -e) ONLY_EXPIRY=1; shift ;;
        *) echo "usage: $0 [-n SET_REQUESTS] [-e] [-k EXPIRE_KEYS]" >&2; exit 2 ;;
    esac
done
if [ -z "${STRATA_BIN:-}" ]; then
    cargo build --release --quiet
fi
STRATA="${STRATA_BIN:-${CARGO_TARGET_DIR:-target}/release/strata}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; exit 1; }
rps() { awk -F'","' 'NR>1 || !/rps/ {gsub(/"/,"",$2); print $2; exit}'; }
field() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1==f {print $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "-"; else printf "%.2f", a/b }'; }
mb() { awk -v a="$1" 'BEGIN{printf "%.1f", a/1048576}'; }

sp=$(free_port); rp=$(free_port)
"$STRATA" server --port "$sp" --dir "$WORK/s" --appendfsync always --save "" --loglevel warning \
    --maxmemory 100mb --maxmemory-policy allkeys-lru --enable-debug-command local & PIDS+=($!)
redis-server --port "$rp" --dir "$WORK" --appendonly yes --appendfsync always --save '' \
    --loglevel warning --maxmemory 100mb --maxmemory-policy allkeys-lru \
    --enable-debug-command local >/dev/null & PIDS+=($!)
wait_port "$sp"; wait_port "$rp"

# A phase starts once the other server runs no background save or rewrite (one started by
# its SET phase would take a core from this one's); a server's own job runs on, as it would.
quiet() {
    for _ in $(seq 600); do
        redis-cli -p "$1" info persistence | grep -q -E '^(aof_rewrite|rdb_bgsave)_in_progress:1' \
            || return 0
        sleep 0.1
    done
}

declare -A R
for side in s r; do
    [ "$ONLY_EXPIRY" = 1 ] && break
    port=$sp; other=$rp; [ $side = r ] && port=$rp && other=$sp
    quiet "$other"
    R[${side}_set]=$(redis-benchmark -p "$port" -c 50 -P 16 -n "$N" -r "$KEYSPACE" -d 100 -t set --csv -q 2>/dev/null | rps)
    R[${side}_evicted]=$(field "$port" stats evicted_keys)
    R[${side}_used_set]=$(field "$port" memory used_memory)
    R[${side}_keys]=$(redis-cli -p "$port" dbsize)
    redis-cli -p "$port" config resetstat >/dev/null
    quiet "$other"
    R[${side}_get]=$(redis-benchmark -p "$port" -c 50 -P 16 -n "$N" -r "$KEYSPACE" -t get --csv -q 2>/dev/null | rps)
    hits=$(field "$port" stats keyspace_hits); misses=$(field "$port" stats keyspace_misses)
    R[${side}_hit]=$(awk -v h="$hits" -v m="$misses" 'BEGIN{printf "%.1f", 100*h/(h+m)}')
    R[${side}_used_get]=$(field "$port" memory used_memory)
done

# Expiry reclaim: one server at a time, so they do not compete for the 2 cores.
reclaim() {
    local port=$1
    redis-cli -p "$port" config set maxmemory 0 >/dev/null
    redis-cli -p "$port" flushall >/dev/null
    python3 - "$port" "$EXPIRE_KEYS" "$WORK/expire.txt" <<'PY'
import socket, subprocess, sys, time
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
buf = b""
def cmd(c):
    global buf
    s.sendall(c)
    while b"\r\n" not in buf:
        buf += s.recv(65536)
    line, buf = buf.split(b"\r\n", 1)
    if line.startswith(b"$"):
        ln = int(line[1:])
        while len(buf) < ln + 2:
            buf += s.recv(65536)
        body, buf = buf[:ln], buf[ln + 2:]
        return body
    return line
def used():
    for l in cmd(b"INFO memory\r\n").decode().split("\r\n"):
        if l.startswith("used_memory:"):
            return int(l.split(":")[1])
assert cmd(b"DEBUG SET-ACTIVE-EXPIRE 0\r\n") == b"+OK"
at = int(time.time() * 1000) + 1000
with open(path, "w") as f:
    for i in range(n):
        k, v = "exp:%d" % i, "v" * 20
        f.write("*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$4\r\nPXAT\r\n$%d\r\n%d\r\n" % (len(k), k, len(v), v, len(str(at)), at))
with open(path, "rb") as f:
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, stdout=subprocess.DEVNULL, check=True)
while time.time() * 1000 < at + 10:
    time.sleep(0.01)
assert cmd(b"DBSIZE\r\n") == b":%d" % n
before = used()
cmd(b"DEBUG SET-ACTIVE-EXPIRE 1\r\n")
start = time.perf_counter()
worst = 0.0
while True:
    t = time.perf_counter()
    cmd(b"PING\r\n")
    worst = max(worst, time.perf_counter() - t)
    if cmd(b"DBSIZE\r\n") == b":0":
        break
    time.sleep(0.002)
took = (time.perf_counter() - start) * 1000
print("%.0f %.2f %d %d" % (took, worst * 1000, before, used()))
PY
}
quiet "$rp"
read -r s_rec s_ping s_before s_after < <(reclaim "$sp")
quiet "$sp"
read -r r_rec r_ping r_before r_after < <(reclaim "$rp")

if [ "$ONLY_EXPIRY" = 1 ]; then
    echo "# expiry reclaim ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores), appendfsync always, $EXPIRE_KEYS keys due at the same ms"
    echo
    echo "| measure | strata | redis | strata/redis |"
    echo "|---|---|---|---|"
    echo "| $EXPIRE_KEYS due keys: reclaim time (ms) | $s_rec | $r_rec | $(ratio "$s_rec" "$r_rec") |"
    echo "| slowest PING during reclaim (ms) | $s_ping | $r_ping | $(ratio "$s_ping" "$r_ping") |"
    echo "| used_memory before / after expiry (MB) | $(mb "$s_before") / $(mb "$s_after") | $(mb "$r_before") / $(mb "$r_after") | - |"
    exit 0
fi
echo "# eviction and expiry ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores), appendfsync always, maxmemory 100mb allkeys-lru"
echo
echo "SET/GET: -c 50 -P 16, $N requests each, -r $KEYSPACE, 100-byte values. Expiry: $EXPIRE_KEYS keys due at the same ms."
echo
echo "| measure | strata | redis | strata/redis |"
echo "|---|---|---|---|"
echo "| SET rps while evicting | ${R[s_set]} | ${R[r_set]} | $(ratio "${R[s_set]}" "${R[r_set]}") |"
echo "| evicted_keys after SET | ${R[s_evicted]} | ${R[r_evicted]} | $(ratio "${R[s_evicted]}" "${R[r_evicted]}") |"
echo "| keys resident after SET | ${R[s_keys]} | ${R[r_keys]} | $(ratio "${R[s_keys]}" "${R[r_keys]}") |"
echo "| used_memory after SET (MB) | $(mb "${R[s_used_set]}") | $(mb "${R[r_used_set]}") | $(ratio "${R[s_used_set]}" "${R[r_used_set]}") |"
echo "| GET rps | ${R[s_get]} | ${R[r_get]} | $(ratio "${R[s_get]}" "${R[r_get]}") |"
echo "| GET hit rate (%) | ${R[s_hit]} | ${R[r_hit]} | $(ratio "${R[s_hit]}" "${R[r_hit]}") |"
echo "| used_memory after GET (MB) | $(mb "${R[s_used_get]}") | $(mb "${R[r_used_get]}") | $(ratio "${R[s_used_get]}" "${R[r_used_get]}") |"
echo "| $EXPIRE_KEYS due keys: reclaim time (ms) | $s_rec | $r_rec | $(ratio "$s_rec" "$r_rec") |"
echo "| slowest PING during reclaim (ms) | $s_ping | $r_ping | $(ratio "$s_ping" "$r_ping") |"
echo "| used_memory before / after expiry (MB) | $(mb "$s_before") / $(mb "$s_after") | $(mb "$r_before") / $(mb "$r_after") | - |"
