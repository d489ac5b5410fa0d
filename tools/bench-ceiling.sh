#!/usr/bin/env bash
# The -P 1 ceiling of this machine: redis-benchmark -c 50 -P 1 SET and GET against strata and
# redis-server (both appendfsync always), with the CPU the benchmark client itself uses
# (/usr/bin/time) and the server's CPU per request (/proc/PID/stat). When the client uses a
# whole core at GET, which waits for no fsync on either server, no server can be measured
# above that rate here (benches/RESULTS.md, data types, session 9).
#
# Usage: tools/bench-ceiling.sh [-n REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=300000
if [ "${1:-}" = "-n" ]; then N="$2"; fi
for bin in redis-server redis-benchmark python3; do
    command -v "$bin" >/dev/null || { echo "$bin not found" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found (Debian package time)" >&2; exit 2; }
cargo build --release --quiet --bin strata
STRATA="${CARGO_TARGET_DIR:-target}/release/strata"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sp=$(free_port); rp=$(free_port)
mkdir -p "$WORK/s" "$WORK/r"
"$STRATA" server --port "$sp" --dir "$WORK/s" --appendfsync always --save "" --loglevel warning &
SP=$!; PIDS+=($SP)
redis-server --port "$rp" --dir "$WORK/r" --appendonly yes --appendfsync always --save '' \
    --loglevel warning >/dev/null &
RP=$!; PIDS+=($RP)
for p in "$sp" "$rp"; do
    for _ in $(seq 100); do redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
done
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "| server | test | rps | redis-benchmark CPU s / wall s | server CPU per request (µs) |"
echo "|---|---|---|---|---|"
for t in set get; do
    for side in strata redis; do
        if [ "$side" = strata ]; then port=$sp; pid=$SP; else port=$rp; pid=$RP; fi
        t0=$(ticks "$pid")
        out=$( { /usr/bin/time -f "TIME %U %S %e" redis-benchmark -p "$port" -c 50 -P 1 -n "$N" \
            -t "$t" -r 100000 -q; } 2>&1 | tr '\r' '\n')
        t1=$(ticks "$pid")
        rps=$(echo "$out" | grep -i "requests per second" | tail -1 | sed 's/.*: \([0-9.]*\) requests.*/\1/')
        read -r _ u s e <<<"$(echo "$out" | grep '^TIME')"
        cpu=$(python3 -c "print(f'{$u+$s:.2f} / {$e:.2f}')")
        per=$(python3 -c "print(f'{($t1-$t0)/$hz/$N*1e6:.1f}')")
        echo "| $side | $t | $rps | $cpu | $per |"
    done
done
