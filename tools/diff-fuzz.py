#!/usr/bin/env python3
"""Differential fuzzing: the same random commands (from redis-server's own COMMAND LIST,
with random arguments: numbers at their limits, keywords, a few key names) sent to strata
and to redis-server side by side, replies compared (errors by their first word, the
replies of unordered set commands sorted). Commands whose replies depend on time,
randomness or the server itself are left out.

Usage: tools/diff-fuzz.py STRATA_PORT REDIS_PORT [--seed N] [--commands N] [--max-args N]
                          [--resp3] [--notify] [--txn] [--full-errors] [--encodings]
--resp3 speaks RESP3 (HELLO 3) to both, so reply shapes (maps, sets, doubles, booleans,
nulls) are compared too. Both servers are FLUSHALLed first. Prints mismatches per command with one example each;
exit status 1 if any.
"""
import argparse
import collections
import random
import socket
import subprocess
import sys

SKIP = set("""
shutdown debug monitor subscribe psubscribe ssubscribe unsubscribe punsubscribe
sunsubscribe sync psync replconf quit reset client script function flushall flushdb save
bgsave bgrewriteaof replicaof slaveof failover wait waitaof blpop brpop blmove brpoplpush
bzpopmin bzpopmax blmpop bzmpop xread xreadgroup eval evalsha eval_ro evalsha_ro fcall
fcall_ro config acl module hello auth migrate cluster readonly readwrite asking multi exec
discard watch lolwut pfdebug pfselftest restore-asking randomkey spop srandmember
zrandmember hrandfield time info memory object latency slowlog command lastsave dbsize
keys scan sscan hscan zscan dump restore xadd xautoclaim xclaim xinfo xpending xsetid
xgroup role ttl pttl
""".split())
# Replies that are sets: compared sorted.
UNORDERED = {b"smembers", b"sunion", b"sdiff", b"sinter", b"hkeys", b"hvals", b"hgetall"}
WORDS = [
    b"0", b"1", b"-1", b"2", b"3", b"10", b"-10", b"100", b"9223372036854775807",
    b"-9223372036854775808", b"18446744073709551616", b"1.5", b"-inf", b"+inf", b"nan",
    b"(1", b"[a", b"-", b"+", b"*", b"", b"k", b"k2", b"h", b"l", b"s", b"z", b"x", b"f",
    b"v", b"a", b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"GET", b"WITHSCORES",
    b"LIMIT", b"COUNT", b"BYSCORE", b"BYLEX", b"REV", b"LEFT", b"RIGHT", b"BEFORE",
    b"AFTER", b"AND", b"OR", b"XOR", b"NOT", b"BIT", b"BYTE", b"OVERFLOW", b"WRAP", b"SAT",
    b"FAIL", b"u8", b"i64", b"#1", b"SET", b"INCRBY", b"WITHVALUES", b"IDX", b"LEN",
    b"REPLACE", b"AGGREGATE", b"WEIGHTS", b"SUM", b"MIN", b"MAX", b"RANK", b"MAXLEN",
    b"KEEPTTL", b"EX", b"PX", b"ALPHA", b"DESC", b"STORE", b"km", b"13.36", b"38.11",
]


def enc(argv):
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


class Conn:
    # Errors compared whole (`--full-errors`) rather than by their first word.
    full_errors = False

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def send(self, argv):
        self.s.sendall(enc(argv))

    def read(self):
        line = self.f.readline()
        kind, body = line[:1], line[1:-2]
        if kind == b"-":
            return (b"-", body if self.full_errors else body.split(b" ")[0])
        if kind == b"$":
            n = int(body)
            return None if n < 0 else (b"$", self.f.read(n + 2)[:-2])
        if kind in (b"*", b">"):
            n = int(body)
            # A null array (*-1) is not a null bulk string ($-1): clients see the same
            # nil, but the bytes differ.
            return (b"*", b"-1") if n < 0 else [self.read() for _ in range(n)]
        # RESP3
        if kind == b"%":
            pairs = [(self.read(), self.read()) for _ in range(int(body))]
            return ("map", sorted(map(repr, pairs)))
        if kind == b"~":
            return ("set", sorted(repr(self.read()) for _ in range(int(body))))
        if kind in (b"=", b"!"):
            data = self.f.read(int(body) + 2)[:-2]
            if kind == b"!" and not self.full_errors:
                data = data.split(b" ")[0]
            return (kind, data)
        if kind == b"|":
            for _ in range(int(body)):
                self.read(), self.read()
            return self.read()
        if kind == b"_":
            return None
        return (kind, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("strata_port", type=int)
    ap.add_argument("redis_port", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--commands", type=int, default=20000)
    ap.add_argument("--max-args", type=int, default=6)
    ap.add_argument("--resp3", action="store_true")
    ap.add_argument("--notify", action="store_true",
                    help="compare the keyspace notifications each command sends too")
    ap.add_argument("--own-notify", action="store_true",
                    help="RESP3: the command connection itself subscribes to every "
                         "keyspace event, and the order of events and reply is compared")
    ap.add_argument("--txn", action="store_true",
                    help="also run transactions: WATCH, a write from a second "
                         "connection, MULTI, random commands, EXEC or DISCARD")
    ap.add_argument("--full-errors", action="store_true",
                    help="compare error replies whole, not by their first word")
    ap.add_argument("--encodings", action="store_true",
                    help="after each command, compare OBJECT ENCODING of every argument "
                         "naming a key")
    o = ap.parse_args()
    Conn.full_errors = o.full_errors
    rnd = random.Random(o.seed)
    out = subprocess.run(["redis-cli", "-p", str(o.redis_port), "command", "list"],
                         capture_output=True, text=True, check=True).stdout
    names = [n.encode() for n in out.split() if n not in SKIP]
    a, b = Conn(o.strata_port), Conn(o.redis_port)
    if o.own_notify:
        o.resp3 = True
    for c in (a, b):
        if o.resp3:
            c.send([b"HELLO", b"3"])
            c.read()
        c.send([b"FLUSHALL"])
        c.read()
    subs = []
    if o.notify:
        # Every class, key misses and new keys included; no active expiry, so only the
        # commands themselves (and lazy expiry) send events.
        for c, port in ((a, o.strata_port), (b, o.redis_port)):
            for cmd in ([b"CONFIG", b"SET", b"notify-keyspace-events", b"KEAmn"],
                        [b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]):
                c.send(cmd)
                c.read()
            sub = Conn(port)
            sub.send([b"PSUBSCRIBE", b"__key*__:*"])
            sub.read()
            subs.append(sub)
    mism = collections.Counter()
    example = {}
    # (Connection pairs: 0 runs the commands, 1 is the other client of --txn.)
    pairs = [(a, b)]
    if o.txn:
        pairs.append((Conn(o.strata_port), Conn(o.redis_port)))

    def random_command():
        name = rnd.choice(names)
        return [name] + [rnd.choice(WORDS) for _ in range(rnd.randint(0, o.max_args))]

    def steps():
        if not (o.txn and rnd.random() < 0.15):
            return [(0, random_command())]
        out = []
        watched = [rnd.choice(WORDS[20:32]) for _ in range(rnd.randint(0, 2))]
        if watched:
            out.append((0, [b"WATCH"] + watched))
            if rnd.random() < 0.5:
                out.append((1, [b"SET", rnd.choice(watched), b"x"]))
        out.append((0, [b"MULTI"]))
        out.extend((0, random_command()) for _ in range(rnd.randint(0, 4)))
        out.append((0, [rnd.choice([b"EXEC"] * 9 + [b"DISCARD"])]))
        return out

    plan = []
    while len(plan) < o.commands:
        plan.extend(steps())
    if o.own_notify:
        for c in (a, b):
            for cmd in ([b"CONFIG", b"SET", b"notify-keyspace-events", b"KEAmn"],
                        [b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"], [b"PSUBSCRIBE", b"__key*__:*"]):
                c.send(cmd)
                c.read()

    queuing = set()

    def reply_of(c, name):
        # Inside MULTI a fencing PING would be queued: one reply each until EXEC/DISCARD.
        if name == b"multi" or c in queuing:
            if name in (b"exec", b"discard"):
                queuing.discard(c)
            else:
                queuing.add(c)
                return c.read()
        if not o.own_notify:
            return c.read()
        # Everything up to the fence: the reply and the events, in the order they came.
        c.send([b"PING", b"fence-5b1e"])
        got = []
        while True:
            r = c.read()
            if r == (b"$", b"fence-5b1e"):
                return got
            got.append(r)

    for who, argv in plan:
        name = argv[0].lower()
        ca, cb = pairs[who]
        ca.send(argv)
        cb.send(argv)
        ra, rb = reply_of(ca, name), reply_of(cb, name)
        if name in UNORDERED and isinstance(ra, list) and isinstance(rb, list):
            ra, rb = sorted(map(repr, ra)), sorted(map(repr, rb))
        if subs:
            # The events a command sent reach its subscriber before the reply to a PING
            # sent after the command's own reply.
            events = []
            for sub in subs:
                sub.send([b"PING"])
                got = []
                while True:
                    m = sub.read()
                    if isinstance(m, list) and m and m[0] == (b"$", b"pong"):
                        break
                    got.append(m)
                events.append(got)
            ra, rb = (ra, events[0]), (rb, events[1])
        if o.encodings and not queuing and name != b"multi":
            for k in sorted(set(argv[1:])):
                enc_a, enc_b = ([c.send([b"OBJECT", b"ENCODING", k]), c.read()][1]
                                for c in (ca, cb))
                if enc_a != enc_b:
                    ra, rb = (ra, k, enc_a), (rb, k, enc_b)
                    break
        if ra != rb:
            mism[name] += 1
            example.setdefault(name, (b" ".join(argv), ra, rb))
    proto = "RESP3" if o.resp3 else "RESP2"
    print(f"{o.commands} commands, seed {o.seed}, {proto}: {sum(mism.values())} mismatches")
    for name, n in mism.most_common():
        cmd, ra, rb = example[name]
        print(f"{name.decode()} x{n}: {cmd[:120]!r}\n  strata: {str(ra)[:200]}\n  redis:  {str(rb)[:200]}")
    return 1 if mism else 0


if __name__ == "__main__":
    sys.exit(main())
