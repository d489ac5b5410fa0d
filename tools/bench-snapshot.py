#!/usr/bin/env python3
"""Snapshots side by side with redis-server, in one run (issue 4's benchmarks).

1. Time from start to serving with N small keys (default 1M and 5M):
   strata log-only, strata snapshot + log tail, redis-server AOF-only (no RDB preamble),
   redis-server RDB. "Serving" = the first PING answered PONG (redis answers -LOADING
   while it loads), measured from the process start.
2. Under a `redis-benchmark -c 50` SET load over a preloaded keyspace: throughput and
   p50/p99/max latency in steady state and while a snapshot runs (strata BGSAVE, redis
   BGREWRITEAOF, re-triggered whenever the previous one ends), and the peak extra memory
   during the run (strata: INFO used_memory growth over its steady-state peak; redis: the
   fork's copy-on-write peak, current_cow_peak / aof_last_cow_size, plus used_memory growth).

Both servers use appendfsync always. Builds strata in release first (cargo build --release).
Usage: tools/bench-snapshot.py [--keys 1000000,5000000] [--load-keys 1000000] [-n 300000]
       [--servers strata,redis] [--repeat 1] [--strata-bin PATH] [--strata-env K=V ...]
       [--strata-stderr FILE]
(--repeat R: R steady/during pairs on the same server, each printed.)
"""
import argparse, os, re, shutil, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
STRATA = os.path.join(TARGET, "release", "strata")
STRATA_ENV = {}
STRATA_STDERR = None


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def cli(port, *args, timeout=600):
    r = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=timeout)
    return r.stdout.strip()


class Conn:
    """One persistent RESP connection (the load-time poller: spawning redis-cli twice every
    20 ms costs a 2-core machine enough CPU to show in the latencies it measures)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a.encode() if isinstance(a, str) else a
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        self.s.sendall(b"".join(out))
        line = self.f.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            return b"" if n < 0 else self.f.read(n + 2)[:-2]
        return line.rstrip(b"\r\n")

    def info(self, section):
        out = {}
        for line in self.call("info", section).decode().splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k] = v.strip()
        return out

    def close(self):
        self.s.close()


def info(port, section):
    out = {}
    for line in cli(port, "info", section).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def start(kind, port, d, extra=()):
    if kind == "strata":
        args = [STRATA, "server", "--port", str(port), "--dir", d, "--appendfsync", "always",
                "--loglevel", "warning", "--auto-aof-rewrite-percentage", "0", "--save", "",
                *extra]
    else:
        args = ["redis-server", "--port", str(port), "--dir", d, "--appendfsync", "always",
                "--save", "", "--daemonize", "no", "--loglevel", "warning", *extra]
    t0 = time.monotonic()
    env = dict(os.environ, **STRATA_ENV) if kind == "strata" else None
    err = open(STRATA_STDERR, "a") if kind == "strata" and STRATA_STDERR else subprocess.DEVNULL
    # strata logs to stdout (logfile "", as Redis); its errors go to stderr.
    p = subprocess.Popen(args, stdout=err, stderr=err, env=env)
    while True:
        try:
            if cli(port, "ping", timeout=5) == "PONG":
                return p, time.monotonic() - t0
        except subprocess.TimeoutExpired:
            pass
        if p.poll() is not None:
            raise RuntimeError(f"{kind} exited with {p.returncode}")
        time.sleep(0.005)


def stop(port, p):
    cli(port, "shutdown", "nosave")
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()


def load(port, n, tag="key"):
    """N SETs of small values through redis-cli --pipe."""
    def gen():
        chunk = []
        for i in range(n):
            k = f"{tag}:{i:012d}"; v = f"value-{i}"
            chunk.append(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(v)}\r\n{v}\r\n")
            if len(chunk) == 10000:
                yield "".join(chunk).encode(); chunk = []
        if chunk:
            yield "".join(chunk).encode()
    p = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for b in gen():
        p.stdin.write(b)
    p.stdin.close(); p.wait()


def wait_idle(port, kind):
    key = "rdb_bgsave_in_progress" if kind == "strata" else "aof_rewrite_in_progress"
    while True:
        i = info(port, "persistence")
        if i.get(key) == "0" and i.get("aof_rewrite_scheduled", "0") == "0":
            return
        time.sleep(0.05)


def startup(n):
    rows = []
    for kind in ("strata", "redis"):
        d = tempfile.mkdtemp(prefix=f"bench-snap-{kind}-")
        port = free_port()
        extra = ("--aof-use-rdb-preamble", "no", "--appendonly", "yes") if kind == "redis" else ()
        p, _ = start(kind, port, d, extra)
        load(port, n)
        assert int(info(port, "keyspace").get("db0", "keys=0").split(",")[0].split("=")[1]) == n
        stop(port, p)
        # Log only (strata) / AOF only (redis).
        p, t = start(kind, port, d, extra)
        rows.append((n, f"{kind} {'log only' if kind == 'strata' else 'AOF only'}", t, du(d)))
        if kind == "strata":
            cli(port, "save", timeout=3600)
            load(port, 1000, tag="tail")
            stop(port, p)
            p, t = start(kind, port, d)
            rows.append((n, "strata snapshot + tail", t, du(d)))
            stop(port, p)
        else:
            cli(port, "save", timeout=3600)  # writes dump.rdb
            stop(port, p)
            for f in os.listdir(d):
                if f.startswith("appendonly"):
                    path = os.path.join(d, f)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            p, t = start(kind, port, d, ("--appendonly", "no"))
            rows.append((n, "redis RDB", t, du(d)))
            stop(port, p)
        shutil.rmtree(d, ignore_errors=True)
    return rows


def du(d):
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


LAT = re.compile(r"^\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")


def bench(port, n, keys):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(n), "-r", str(keys),
                          "-t", "set", "-d", "16"], capture_output=True, text=True).stdout
    rps = float(re.search(r"([\d.]+) requests per second", out).group(1))
    lines = out.splitlines()
    for i, l in enumerate(lines):
        if "latency summary" in l:
            m = LAT.match(lines[i + 2])
            avg, mn, p50, p95, p99, mx = map(float, m.groups())
            return rps, p50, p99, mx
    raise RuntimeError(out)


def under_snapshot(keys, n, servers=("strata", "redis"), repeat=1):
    rows = []
    for kind in servers:
        d = tempfile.mkdtemp(prefix=f"bench-snapload-{kind}-")
        port = free_port()
        extra = ("--appendonly", "yes", "--aof-use-rdb-preamble", "yes") if kind == "redis" else ()
        p, _ = start(kind, port, d, extra)
        load(port, keys)
        if kind == "strata":
            cli(port, "save", timeout=3600)
        else:
            cli(port, "bgrewriteaof"); wait_idle(port, kind)
        for _ in range(repeat):
            rows.append(steady_and_during(kind, port, n, keys))
        stop(port, p)
        shutil.rmtree(d, ignore_errors=True)
    return rows


def steady_and_during(kind, port, n, keys):
    """One steady measurement, then one while snapshots run back to back."""
    steady = bench(port, n, keys)
    base_mem = int(info(port, "memory")["used_memory"])
    stop_flag = threading.Event()
    peak = [base_mem]
    snaps = [0]

    def drive():
        cmd = "bgsave" if kind == "strata" else "bgrewriteaof"
        c = Conn(port)
        while not stop_flag.is_set():
            i = c.info("persistence")
            running = i.get("rdb_bgsave_in_progress") == "1" or i.get("aof_rewrite_in_progress") == "1"
            if not running:
                c.call(cmd); snaps[0] += 1
            m = int(c.info("memory")["used_memory"])
            peak[0] = max(peak[0], m)
            time.sleep(0.02)
        c.close()

    t = threading.Thread(target=drive); t.start()
    during = bench(port, n, keys)
    stop_flag.set(); t.join()
    wait_idle(port, kind)
    pi = info(port, "persistence")
    cow = max(int(pi.get("current_cow_peak", 0)), int(pi.get("aof_last_cow_size", 0)))
    extra_mem = peak[0] - base_mem + (cow if kind == "redis" else 0)
    return (kind, steady, during, extra_mem, base_mem, snaps[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", default="1000000,5000000")
    ap.add_argument("--load-keys", type=int, default=1000000)
    ap.add_argument("-n", type=int, default=300000)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--servers", default="strata,redis", help="which servers run under load")
    ap.add_argument("--repeat", type=int, default=1, help="steady/during pairs per server start")
    ap.add_argument("--strata-bin", help="the strata binary (default: target/release/strata)")
    ap.add_argument("--strata-env", action="append", default=[], help="K=V for strata's environment")
    ap.add_argument("--strata-stderr", help="append strata's log here (with --strata-env STRATA_LOG=...)")
    a = ap.parse_args()
    global STRATA, STRATA_STDERR
    STRATA_STDERR = a.strata_stderr
    if a.strata_bin:
        STRATA = a.strata_bin
        a.skip_build = True
    for kv in a.strata_env:
        k, v = kv.split("=", 1)
        STRATA_ENV[k] = v
    if not a.skip_build:
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%MZ', time.gmtime())}, appendfsync always on both, "
          f"redis-server {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]}")
    print("\n## Time from start to serving\n")
    print("| keys | server | seconds | data dir bytes |")
    print("|---|---|---|---|")
    res = {}
    for n in [int(x) for x in a.keys.split(",") if x]:
        for row in startup(n):
            res[(n, row[1])] = row[2]
            print(f"| {row[0]} | {row[1]} | {row[2]:.2f} | {row[3]} |", flush=True)
        s = res[(n, "strata snapshot + tail")]
        print(f"| {n} | ratio redis AOF-only / strata snapshot | {res[(n, 'redis AOF only')] / s:.2f}× | |")
        print(f"| {n} | ratio redis RDB / strata snapshot | {res[(n, 'redis RDB')] / s:.2f}× | |", flush=True)
    print(f"\n## SET -c 50 over {a.load_keys} keys, steady vs while snapshots run (-n {a.n})\n")
    print("| server | state | rps | p50 ms | p99 ms | max ms | snapshots started | extra memory |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, steady, during, extra_mem, base, snaps in under_snapshot(
            a.load_keys, a.n, a.servers.split(","), a.repeat):
        print(f"| {kind} | steady | {steady[0]:.0f} | {steady[1]} | {steady[2]} | {steady[3]} | | |")
        print(f"| {kind} | snapshot running | {during[0]:.0f} | {during[1]} | {during[2]} | {during[3]} | {snaps} | "
              f"{extra_mem} B ({100.0 * extra_mem / base:.1f}% of {base} B) |")
        print(f"| {kind} | p99 during / steady | {during[2] / max(steady[2], 0.001):.2f}× | | | | | |", flush=True)


if __name__ == "__main__":
    main()
