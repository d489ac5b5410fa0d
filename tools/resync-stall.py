#!/usr/bin/env python3
"""How long a strata master stops serving while a replica takes a full resync.

Starts `STRATA server` (or, for comparison, a redis-server binary with its defaults) on
PORT with a fresh data directory, fills it with KEYS keys of
100 bytes (DEBUG POPULATE), starts a redis-server replica of it on PORT+1, and sends PINGs
to the master from one connection (back to back, or NAP seconds apart) until the
replica's link is up. Prints the sync time and the worst PING latency seen meanwhile.
Logs: /tmp/resync-stall-PORT.log (master), data in /tmp/resync-stall-PORT*.

Usage: tools/resync-stall.py STRATA|/usr/bin/redis-server PORT KEYS [NAP]
"""
import os
import shutil
import socket
import subprocess
import sys
import time

binary, port, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
nap = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
base = f"/tmp/resync-stall-{port}"
for d in (base, base + "-replica"):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
if "redis-server" in os.path.basename(binary):
    # For comparison: redis-server with its defaults (diskless sync after a 5 s delay).
    args = [binary, "--port", str(port), "--dir", base]
else:
    args = [binary, "server", "--port", str(port), "--dir", base]
master = subprocess.Popen(args, stdout=open(base + ".log", "w"), stderr=subprocess.STDOUT)
replica = None
try:
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            time.sleep(0.05)
    subprocess.run(["redis-cli", "-p", str(port), "DEBUG", "POPULATE", str(keys), "key", "100"],
                   check=True, stdout=subprocess.DEVNULL)

    def ping():
        t = time.perf_counter()
        s.sendall(b"PING\r\n")
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += s.recv(100)
        return time.perf_counter() - t

    replica = subprocess.Popen(["redis-server", "--port", str(port + 1), "--dir", base + "-replica",
                                "--save", "", "--replicaof", "127.0.0.1", str(port)],
                               stdout=subprocess.DEVNULL)
    t0 = time.time()
    worst, n = 0.0, 0
    while time.time() - t0 < 120:
        worst = max(worst, ping())
        n += 1
        if nap:
            time.sleep(nap)
        if n % (2 if nap else 200) == 0:
            out = subprocess.run(["redis-cli", "-p", str(port + 1), "INFO", "replication"],
                                 capture_output=True, text=True).stdout
            if "master_link_status:up" in out:
                break
    print(f"{os.path.basename(binary)} keys={keys} nap={nap}: sync done in {time.time() - t0:.2f} s, "
          f"{n} PINGs, worst PING latency {worst * 1000:.1f} ms")
finally:
    if replica:
        replica.kill()
    master.kill()
