#!/usr/bin/env python3
"""Differential probe of CONFIG SET: every directive both servers list in `CONFIG GET *`
(but those that would cut the probe off or change where the server lives) is set to each
of a fixed list of values: numbers at the edges of 32- and 64-bit integers, memory units,
percentages, booleans, enum words, malformed numbers (`+5`, `007`, `-0`, ` 1`, `1.5`) and
junk. The reply (errors compared whole) and the value `CONFIG GET` reads back must be the
same on both; each directive is put back after each value. With `--random N`, N random
directive/value pairs instead.

Usage: tools/config-fuzz.py STRATA_PORT REDIS_PORT [--random N] [--seed N]
Exit status 1 if any difference.
"""
import argparse
import importlib.util
import pathlib
import random

_spec = importlib.util.spec_from_file_location(
    "diff_fuzz", pathlib.Path(__file__).with_name("diff-fuzz.py"))
_diff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_diff)
Conn = _diff.Conn

# Directives that would end the probe's connection, move the server, or that strata
# documents as different (its log is always on, TLS and cluster are not served).
SKIP = set(b"""
port bind unixsocket unixsocketperm requirepass masterauth masteruser replicaof slaveof dir
logfile pidfile daemonize supervised aclfile maxclients maxmemory-clients
client-query-buffer-limit proto-max-bulk-len enable-debug-command enable-module-command
enable-protected-configs appendonly appendfsync dbfilename appenddirname appendfilename
io-threads io-threads-do-reads bind-source-addr timeout client-output-buffer-limit
oom-score-adj oom-score-adj-values protected-mode maxmemory busy-reply-threshold
lua-time-limit syslog-enabled syslog-ident syslog-facility always-show-logo set-proc-title
proc-title-template loglevel cluster-enabled cluster-config-file tls-port
""".split())
VALUES = [
    b"0", b"1", b"-1", b"2", b"5", b"100", b"1000", b"65535", b"65536", b"2147483647",
    b"2147483648", b"-2147483648", b"-2147483649", b"9223372036854775807",
    b"9223372036854775808", b"-9223372036854775808", b"1k", b"1K", b"1kb", b"1mb", b"1gb",
    b"1b", b"5%", b"100%", b"101%", b"yes", b"no", b"YES", b"maybe", b"", b"abc", b"+5",
    b"007", b"-0", b" 1", b"1.5", b"0x10", b"1kb5", b"allkeys-lru", b"noeviction", b"KEA",
    b"everysec", b"notice", b"0 0", b"3600 1", b"1 -1", b"x y", b"a.b-c", b"a b",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("strata_port", type=int)
    ap.add_argument("redis_port", type=int)
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    o = ap.parse_args()
    Conn.full_errors = True
    a, b = Conn(o.strata_port), Conn(o.redis_port)

    def both(argv):
        for c in (a, b):
            c.send(argv)
        return a.read(), b.read()

    def pairs(r):
        return {r[i][1]: r[i + 1][1] for i in range(0, len(r), 2)}

    ra, rb = both([b"CONFIG", b"GET", b"*"])
    orig_a, orig_b = pairs(ra), pairs(rb)
    names = sorted(k for k in orig_b if k in orig_a and k not in SKIP)
    if o.random:
        rnd = random.Random(o.seed)
        plan = [(rnd.choice(names), rnd.choice(VALUES)) for _ in range(o.random)]
    else:
        plan = [(n, v) for n in names for v in VALUES]
    bad = []
    for name, value in plan:
        ra, rb = both([b"CONFIG", b"SET", name, value])
        ga, gb = both([b"CONFIG", b"GET", name])
        if ra != rb or ga != gb:
            bad.append((name, value, ra, rb, ga, gb))
        a.send([b"CONFIG", b"SET", name, orig_a[name]])
        a.read()
        b.send([b"CONFIG", b"SET", name, orig_b[name]])
        b.read()
    print(f"{len(plan)} CONFIG SETs over {len(names)} directives: {len(bad)} differences")
    for name, value, ra, rb, ga, gb in bad[:200]:
        print(f"{name.decode()} {value!r}\n  strata: {ra} -> {ga}\n  redis:  {rb} -> {gb}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
