#!/usr/bin/env python3
"""Differential fuzzing of Pub/Sub: three clients on strata and three on redis-server run the
same random operations (SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE and their UN- forms over a small
pool of channels and patterns, PUBLISH / SPUBLISH, PUBSUB CHANNELS / NUMSUB / NUMPAT /
SHARDCHANNELS / SHARDNUMSUB, PING, a command not allowed while subscribed, HELLO 2/3
switches, RESET). After every operation each client is fenced with a PING, and everything it
received up to the PONG (replies, messages, confirmations) is compared with its twin's.
Replies are read with diff-fuzz.py's reader (errors by their first word).

Usage: tools/pubsub-fuzz.py STRATA_PORT REDIS_PORT [--seed N] [--ops N]
Exit status 1 if any mismatch; prints the first few with the operations before them.
"""
import argparse
import importlib.util
import pathlib
import random
import re
import sys

_spec = importlib.util.spec_from_file_location(
    "diff_fuzz", pathlib.Path(__file__).with_name("diff-fuzz.py"))
_diff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_diff)
Conn = _diff.Conn

CHANNELS = [b"a", b"b", b"news.1", b"news.2", b"x?y", b"[", b""]
PATTERNS = [b"*", b"news.*", b"n?ws.1", b"[ab]", b"x\\?y", b"a*", b"[", b"\\"]
MESSAGES = [b"hi", b"", b"x" * 100]


def is_fence(r):
    if r == (b"+", b"PONG"):
        return True
    return r == [(b"$", b"pong"), (b"$", b"")]


def normalized(argv, out):
    """`out`, what one client received for `argv`, comparable across servers: HELLO's
    client id masked, and orders that follow a hash table's (which Redis seeds at random)
    made sets: the confirmations of an UNSUBSCRIBE-family command without arguments, the
    messages a PUBLISH sends one client (one per matching pattern), the channels PUBSUB
    lists."""
    name = argv[0].upper()
    if name.endswith(b"UNSUBSCRIBE") and len(argv) == 1:
        names = sorted(repr(r[1]) for r in out if isinstance(r, list) and len(r) == 3)
        counts = [r[2] for r in out if isinstance(r, list) and len(r) == 3]
        rest = [r for r in out if not (isinstance(r, list) and len(r) == 3)]
        out = [names, counts, rest]
    elif name in (b"PUBLISH", b"SPUBLISH"):
        out = sorted(map(repr, out))
    elif name == b"PUBSUB" and argv[1] in (b"CHANNELS", b"SHARDCHANNELS"):
        out = [sorted(map(repr, r)) if isinstance(r, list) else r for r in out]
    return re.sub(r"(b'id'\), \(b':', b')\d+", r"\1ID", repr(out))


def op(rnd):
    """One random operation: (client index, argv)."""
    who = rnd.randrange(3)
    k = rnd.random()
    if k < 0.18:
        name = rnd.choice([b"SUBSCRIBE", b"SSUBSCRIBE"])
        return who, [name] + rnd.sample(CHANNELS, rnd.randint(1, 3))
    if k < 0.28:
        return who, [b"PSUBSCRIBE"] + rnd.sample(PATTERNS, rnd.randint(1, 3))
    if k < 0.40:
        name = rnd.choice([b"UNSUBSCRIBE", b"SUNSUBSCRIBE"])
        return who, [name] + rnd.sample(CHANNELS, rnd.randint(0, 2))
    if k < 0.46:
        return who, [b"PUNSUBSCRIBE"] + rnd.sample(PATTERNS, rnd.randint(0, 2))
    if k < 0.70:
        name = rnd.choice([b"PUBLISH", b"PUBLISH", b"SPUBLISH"])
        return who, [name, rnd.choice(CHANNELS), rnd.choice(MESSAGES)]
    if k < 0.80:
        sub = rnd.choice([[b"CHANNELS"], [b"CHANNELS", rnd.choice(PATTERNS)], [b"NUMPAT"],
                          [b"NUMSUB"] + rnd.sample(CHANNELS, 2), [b"SHARDCHANNELS"],
                          [b"SHARDNUMSUB"] + rnd.sample(CHANNELS, 2)])
        return who, [b"PUBSUB"] + sub
    if k < 0.86:
        # (Not a bare PING: its reply is the fence's.)
        return who, rnd.choice([[b"PING", b"msg"], [b"GET", b"a"], [b"ECHO", b"e"]])
    if k < 0.94:
        return who, [b"HELLO", rnd.choice([b"2", b"3"])]
    return who, [b"RESET"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("strata", type=int)
    ap.add_argument("redis", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops", type=int, default=5000)
    o = ap.parse_args()
    rnd = random.Random(o.seed)
    sides = [[Conn(o.strata) for _ in range(3)], [Conn(o.redis) for _ in range(3)]]
    history = []
    bad = 0
    for n in range(o.ops):
        who, argv = op(rnd)
        history.append((who, argv))
        got = []
        for side in sides:
            side[who].send(argv)
            seen = []
            for c in side:
                c.send([b"PING"])
                out = []
                while True:
                    r = c.read()
                    if is_fence(r):
                        break
                    out.append(r)
                seen.append(normalized(argv, out))
            got.append(seen)
        if got[0] != got[1]:
            bad += 1
            if bad <= 5:
                print("op %d: client %d %r" % (n, who, b" ".join(argv)))
                for i in range(3):
                    if got[0][i] != got[1][i]:
                        print("  client %d strata: %s\n  client %d redis:  %s" % (
                            i, str(got[0][i])[:300], i, str(got[1][i])[:300]))
                print("  before: %s" % [(w, b" ".join(a)) for w, a in history[-6:-1]])
    print("%d ops, seed %d: %d mismatches" % (o.ops, o.seed, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
