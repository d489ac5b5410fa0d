#!/usr/bin/env python3
"""Differential fuzzing of error paths, for what diff-fuzz.py leaves out: commands whose
replies depend on time, randomness or the server (TTL, XADD's IDs, SCAN cursors, SPOP,
OBJECT, CLIENT, CONFIG GET, INFO …) and every container command's subcommands. Random
arguments (keywords, numbers at their limits, a few keys of every type, set up the same on
both servers); the replies are compared only when at least one server answers an error,
and then whole: the same error text, or the same success. Blocking commands get a short
timeout; subcommands that kill, pause, flush or rewrite are left out.

Usage: tools/error-fuzz.py STRATA_PORT REDIS_PORT [--seed N] [--calls N]
Exit status 1 if any difference; prints one example per command.
"""
import argparse
import importlib.util
import pathlib
import random
import subprocess

_spec = importlib.util.spec_from_file_location(
    "diff_fuzz", pathlib.Path(__file__).with_name("diff-fuzz.py"))
_diff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_diff)
Conn = _diff.Conn

COMMANDS = """ttl pttl expiretime pexpiretime xadd xclaim xautoclaim xinfo xpending xsetid
xgroup restore dump object sscan hscan zscan scan spop srandmember zrandmember hrandfield
randomkey dbsize time lastsave role blpop brpop blmove brpoplpush bzpopmin bzpopmax blmpop
bzmpop xread xreadgroup memory latency slowlog command lolwut pfdebug pfselftest config
acl hello auth readonly readwrite asking watch unwatch discard exec client function script
eval evalsha eval_ro evalsha_ro fcall fcall_ro touch unlink copy move echo ping sort
sort_ro georadius georadius_ro geosearch geosearchstore bitfield bitfield_ro lpos lmpop
zmpop sintercard zintercard getex getdel setrange getrange substr""".split()
BLOCKING = {"blpop", "brpop", "blmove", "brpoplpush", "bzpopmin", "bzpopmax", "blmpop",
            "bzmpop"}
# Subcommands (and commands) that would change the server for the rest of the run.
UNSAFE = {
    ("client", b"kill"), ("client", b"pause"), ("client", b"unpause"),
    ("client", b"reply"), ("client", b"unblock"), ("client", b"no-evict"),
    ("client", b"tracking"), ("client", b"setname"), ("client", b"setinfo"),
    ("acl", b"setuser"), ("acl", b"deluser"), ("acl", b"load"), ("acl", b"save"),
    ("acl", b"log"), ("acl", b"genpass"), ("config", b"set"), ("config", b"resetstat"),
    ("config", b"rewrite"), ("function", b"kill"), ("function", b"flush"),
    ("function", b"restore"), ("function", b"load"), ("script", b"kill"),
    ("script", b"flush"), ("latency", b"reset"), ("slowlog", b"reset"),
    ("memory", b"purge"), ("memory", b"doctor"), ("memory", b"malloc-stats"),
    ("memory", b"stats"), ("object", b"freq"), ("object", b"idletime"),
}
WORDS = _diff.WORDS + [
    b"0-1", b"1-1", b"$", b">", b"g", b"c", b"STREAMS", b"JUSTID", b"IDLE", b"TIME",
    b"RETRYCOUNT", b"FORCE", b"LASTID", b"MATCH", b"TYPE", b"string", b"FULL", b"GROUPS",
    b"CONSUMERS", b"STREAM", b"ENCODING", b"FREQ", b"REFCOUNT", b"HELP", b"ABSTTL",
    b"ENTRIESREAD", b"MINID", b"NOMKSTREAM", b"NOACK", b"USAGE", b"SAMPLES", b"KEYS",
    b"FROMMEMBER", b"FROMLONLAT", b"BYRADIUS", b"BYBOX", b"ASC", b"WITHCOORD", b"WITHDIST",
    b"ANY", b"PERSIST", b"EXAT", b"PXAT", b"help", b"x", b"-5", b"0.01",
]
KEYS = [b"str", b"l", b"s", b"h", b"z", b"x", b"geo", b"nokey"]
SETUP = [
    [b"FLUSHALL"], [b"SET", b"str", b"12"], [b"RPUSH", b"l", b"a", b"b", b"c"],
    [b"SADD", b"s", b"a", b"b"], [b"HSET", b"h", b"f", b"v"],
    [b"ZADD", b"z", b"1", b"a", b"2", b"b"], [b"XADD", b"x", b"1-1", b"f", b"v"],
    [b"XGROUP", b"CREATE", b"x", b"g", b"0"],
    [b"GEOADD", b"geo", b"13.36", b"38.11", b"p"],
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("strata_port", type=int)
    ap.add_argument("redis_port", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--calls", type=int, default=10000)
    o = ap.parse_args()
    Conn.full_errors = True
    rnd = random.Random(o.seed)
    listed = subprocess.run(["redis-cli", "-p", str(o.redis_port), "command", "list"],
                            capture_output=True, text=True, check=True).stdout.split()
    subs = {}
    for name in listed:
        if "|" in name:
            c, s = name.split("|")
            if c != "cluster" and (c, s.encode()) not in UNSAFE:
                subs.setdefault(c, []).append(s.encode())
    a, b = Conn(o.strata_port), Conn(o.redis_port)

    def both(argv):
        for c in (a, b):
            c.send(argv)
        return a.read(), b.read()

    def is_err(r):
        return isinstance(r, tuple) and r[0] == b"-"

    bad = {}
    for i in range(o.calls):
        if i % 500 == 0:
            for argv in SETUP:
                both(argv)
        use_sub = rnd.random() < 0.4
        name = rnd.choice(sorted(subs) if use_sub else COMMANDS)
        argv = [name.encode()]
        if name in subs and (use_sub or rnd.random() < 0.5):
            sub = rnd.choice(subs[name])
            argv.append(sub.upper() if rnd.random() < 0.3 else sub)
        elif name in subs:
            argv.append(rnd.choice(WORDS))
        if (name, argv[1].lower() if len(argv) > 1 else b"") in UNSAFE:
            continue
        argv += [rnd.choice(KEYS) if rnd.random() < 0.3 else rnd.choice(WORDS)
                 for _ in range(rnd.randint(0, 6))]
        if name in BLOCKING:
            argv.append(b"0.01")
        if name in ("xread", "xreadgroup") and any(w.upper() == b"BLOCK" for w in argv):
            continue
        ra, rb = both(argv)
        if name in ("hello", "auth"):
            both([b"HELLO", b"2"])
        if name == "readonly":
            both([b"READWRITE"])
        if (is_err(ra) or is_err(rb)) and ra != rb:
            key = b" ".join(argv[:2]).decode(errors="replace") if name in subs else name
            bad.setdefault(key, [b" ".join(argv), ra, rb, 0])[3] += 1
    print(f"{o.calls} calls, seed {o.seed}: {len(bad)} commands with differing errors")
    for key, (cmd, ra, rb, n) in sorted(bad.items()):
        print(f"{key} x{n}: {cmd[:150]!r}\n  strata: {ra}\n  redis:  {rb}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
