#!/usr/bin/env python3
"""Memory per element, strata vs redis-server, in one run.

Starts a release strata and a redis-server (no persistence on the redis side, so only
in-memory structures count) on free ports, loads each dataset into both with
`redis-cli --pipe`, and prints INFO used_memory growth per element and the ratio.

Datasets (as issue 3 asks): 1M small hashes of 10 fields, one hash of 1M fields,
a 1M-member sorted set, a 1M-element list. Use --scale 0.1 for a quick run, --only to
pick datasets (hashes, bighash, zset, list). Bytes per element are printed to 0.01 and
the ratio to 0.001, so "≤ Redis" can be read off the table (1.00 hides up to 0.5%).
Each dataset runs on fresh servers warmed with 1% of it; "freed" = used_memory released
by FLUSHALL afterwards, a cross-check of the growth figure.
"""
import argparse, os, shutil, socket, subprocess, sys, tempfile, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout

def used(port):
    for line in cli(port, "info", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory")

def settled(port):
    """used_memory once two reads 0.3 s apart agree (connection and log buffers of the
    load released), at most ~3 s."""
    last = used(port)
    for _ in range(10):
        time.sleep(0.3)
        now = used(port)
        if now == last:
            break
        last = now
    return last

def wait(port):
    for _ in range(200):
        if cli(port, "ping").strip() == "PONG":
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")

def resp(*args):
    out = [f"*{len(args)}\r\n"]
    for a in args:
        a = str(a)
        out.append(f"${len(a.encode())}\r\n{a}\r\n")
    return "".join(out)

def datasets(scale):
    n = int(1_000_000 * scale)
    def small_hashes():
        for i in range(n):
            args = ["HSET", f"h:{i}"]
            for f in range(10):
                args += [f"f{f}", f"v{i % 1000}-{f}"]
            yield resp(*args)
    def big_hash():
        for i in range(0, n, 100):
            args = ["HSET", "bighash"]
            for j in range(i, min(i + 100, n)):
                args += [f"field:{j}", f"value:{j}"]
            yield resp(*args)
    def zset():
        for i in range(0, n, 100):
            args = ["ZADD", "bigzset"]
            for j in range(i, min(i + 100, n)):
                args += [str(j * 1.5), f"member:{j}"]
            yield resp(*args)
    def lst():
        for i in range(0, n, 100):
            yield resp("RPUSH", "biglist", *[f"element:{j}" for j in range(i, min(i + 100, n))])
    return [("hashes", "1M hashes x 10 fields", small_hashes, n * 10),
            ("bighash", "1 hash of 1M fields", big_hash, n),
            ("zset", "sorted set of 1M members", zset, n),
            ("list", "list of 1M elements", lst, n)]

def load(port, gen, path):
    with open(path, "w") as f:
        for chunk in gen():
            f.write(chunk)
    with open(path, "rb") as f:
        r = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, capture_output=True, text=True)
    if "errors: 0" not in r.stdout:
        raise RuntimeError(r.stdout + r.stderr)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", default="hashes,bighash,zset,list",
                    help="comma-separated datasets: hashes, bighash, zset, list")
    ap.add_argument("--strata", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "strata"))
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    procs = []

    def start():
        """A fresh strata and redis-server; returns their ports."""
        sp, rp = free_port(), free_port()
        shutil.rmtree(f"{work}/s", ignore_errors=True)
        procs.append(subprocess.Popen([a.strata, "server", "--port", str(sp), "--dir", f"{work}/s",
                                       "--appendfsync", "no", "--loglevel", "warning",
                                       # No automatic snapshot mid-measurement: its copies of
                                       # entries written meanwhile would count as data.
                                       "--auto-aof-rewrite-percentage", "0", "--save", ""]))
        procs.append(subprocess.Popen(["redis-server", "--port", str(rp), "--save", "", "--appendonly", "no",
                                       "--dir", work], stdout=subprocess.DEVNULL))
        wait(sp); wait(rp)
        return sp, rp

    def stop():
        while procs:
            p = procs.pop()
            p.terminate()
            p.wait()

    try:
        print("| dataset | elements | strata bytes/elem | redis bytes/elem | strata/redis "
              "| strata freed | redis freed |")
        print("|---|---|---|---|---|---|---|")
        only = set(a.only.split(","))
        warm = {d[0]: d[2] for d in datasets(a.scale / 100)}
        for key, name, gen, elems in datasets(a.scale):
            if key not in only:
                continue
            # Fresh servers per dataset: what an earlier dataset leaves behind after FLUSHALL
            # (allocator caches, table sizes) moved the next one's numbers by up to ~0.5 B.
            # Each is first warmed with 1% of the dataset, then FLUSHALL: a fresh strata
            # frees start-up buffers on its first writes, which would flatter it.
            sp, rp = start()
            row = []
            freed = []
            for port in (sp, rp):
                load(port, warm[key], f"{work}/cmds.txt")
                cli(port, "flushall")
                before = settled(port)
                load(port, gen, f"{work}/cmds.txt")
                after = settled(port)
                cli(port, "flushall")
                # The figure is growth between settled reads; what FLUSHALL then frees is
                # shown too (a cross-check: strata's differs by up to ~0.1 MB, buffers of
                # the log or the warm-up released meanwhile).
                freed.append((after - settled(port)) / elems)
                row.append((after - before) / elems)
            stop()
            print(f"| {name} | {elems} | {row[0]:.2f} | {row[1]:.2f} | {row[0] / row[1]:.3f} "
                  f"| {freed[0]:.2f} | {freed[1]:.2f} |")
            sys.stdout.flush()
    finally:
        stop()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
