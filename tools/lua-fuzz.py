#!/usr/bin/env python3
"""Differential fuzzing of Lua scripting: random scripts (random Lua expressions over
numbers at their edges, strings, booleans, nil and tables; redis.call / redis.pcall of
common commands; the conversions between Lua and RESP2/RESP3; the cjson, cmsgpack, bit
and struct libraries; string, math and table functions; errors raised in all of these)
sent as EVAL to strata and to redis-server side by side, replies compared whole, error
texts included.

Usage: tools/lua-fuzz.py STRATA_PORT REDIS_PORT [--seed N] [--scripts N] [--resp3]
Both servers are FLUSHALLed first. Prints every mismatching script (up to --show) with
both replies; exit status 1 if any.
"""
import argparse
import re
import random
import socket
import sys

NUMS = ["0", "1", "-1", "3.5", "-2.25", "1e20", "2^53", "2^63", "-2^63", "1/0", "-1/0",
        "0/0", "0.1", "1e-5", "123456789012", "3.0", "-0.5", "7", "255", "65536", "1e308",
        "4294967296", "-129", "0.30000000000000004", "100.0"]
STRS = ["''", "'a'", "'hello'", "'1'", "'-5'", "'3.14'", "'  7'", "'inf'", "'nan'",
        "'\\0x'", "'OK'", "'ERR x'", "'1e3'", "'0x10'", "'k'", "'9223372036854775807'",
        "'{\"a\":[1,2,{\"b\":null}]}'", "'[1,2.5,\"x\",true,false]'", "'-0'", "'é'"]
KEYS = ["'k'", "'h'", "'l'", "'z'", "'s'", "KEYS[1]", "'n'"]
CALLS = [
    ("SET", ["K", "V"]), ("GET", ["K"]), ("INCR", ["K"]), ("INCRBYFLOAT", ["K", "N"]),
    ("HSET", ["K", "V", "V"]), ("HGETALL", ["K"]), ("LPUSH", ["K", "V"]),
    ("LRANGE", ["K", "0", "-1"]), ("ZADD", ["K", "N", "V"]),
    ("ZRANGE", ["K", "0", "-1", "'WITHSCORES'"]), ("ZSCORE", ["K", "V"]),
    ("SADD", ["K", "V"]), ("SMEMBERS", ["K"]), ("DEL", ["K"]), ("EXISTS", ["K"]),
    ("TYPE", ["K"]), ("APPEND", ["K", "V"]), ("STRLEN", ["K"]), ("PING", []),
    ("ECHO", ["V"]), ("HINCRBYFLOAT", ["K", "V", "N"]), ("NOSUCH", ["K"]),
    ("GET", []), ("EXPIRE", ["K", "N"]), ("TTL", ["K"]), ("XADD", ["K", "'1-1'", "V", "V"]),
    ("LPOP", ["K"]), ("MGET", ["K", "K"]), ("OBJECT", ["'ENCODING'", "K"]),
    ("HMGET", ["K", "V", "V"]), ("SISMEMBER", ["K", "V"]), ("GETRANGE", ["K", "N", "N"]),
    ("SETRANGE", ["K", "N", "V"]), ("ZINCRBY", ["K", "N", "V"]), ("DECRBY", ["K", "N"]),
    ("HELLO", []), ("SELECT", ["N"]), ("EVAL", ["'return 1'", "'0'"]),
]
FORMATS = ["'%d'", "'%5.2f'", "'%s'", "'%q'", "'%x'", "'%g'", "'%.14g'", "'%c'", "'%i'",
           "'%e'", "'%o'", "'%-5s|'", "'%%'", "'%10.3s'", "'%u'", "'%X'"]


class Gen:
    def __init__(self, rng):
        self.r = rng

    def pick(self, xs):
        return self.r.choice(xs)

    def num(self, d=0):
        if d < 2 and self.r.random() < 0.3:
            op = self.pick(["+", "-", "*", "/", "%", "^"])
            return "(%s %s %s)" % (self.num(d + 1), op, self.num(d + 1))
        return self.pick(NUMS)

    def string(self, d=0):
        if d < 2 and self.r.random() < 0.35:
            return self.pick([
                "(%s .. %s)" % (self.string(d + 1), self.atom(d + 1)),
                "string.rep(%s, %d)" % (self.string(d + 1), self.r.randint(0, 4)),
                "string.format(%s, %s)" % (self.pick(FORMATS), self.value(d + 1)),
                "tostring(%s)" % self.value(d + 1),
                "cjson.encode(%s)" % self.value(d + 1),
                "string.upper(%s)" % self.string(d + 1),
                "string.sub(%s, %s, %s)" % (self.string(d + 1), self.num(2), self.num(2)),
                "bit.tohex(%s)" % self.num(d + 1),
                "struct.pack(%s, %s)" % (self.pick(["'>i4'", "'<I2'", "'d'", "'b'", "'s'",
                                                     "'i8'", "'c3'", "'>h'", "'f'"]),
                                         self.atom(d + 1)),
                "cmsgpack.pack(%s)" % self.value(d + 1),
                "redis.sha1hex(%s)" % self.atom(d + 1),
                "table.concat(%s, ',')" % self.table(d + 1),
                "string.char(%s)" % self.num(d + 1),
                "string.byte(%s, 1, -1)" % self.string(d + 1),
                "(string.gsub(%s, '%%d', 'N'))" % self.string(d + 1),
            ])
        return self.pick(STRS)

    def atom(self, d=0):
        return self.pick([self.num, self.string, self.num, self.string,
                          lambda d: self.pick(["true", "false", "nil"])])(d)

    def table(self, d=0):
        if d >= 3:
            return "{}"
        kind = self.r.random()
        if kind < 0.5:
            return "{%s}" % ", ".join(self.value(d + 1) for _ in range(self.r.randint(0, 4)))
        if kind < 0.6:
            return "{ok=%s}" % self.atom(d + 1)
        if kind < 0.7:
            return "{err=%s}" % self.atom(d + 1)
        if kind < 0.78:
            return "{double=%s}" % self.atom(d + 1)
        if kind < 0.86:
            return "{map={a=%s, b=%s}}" % (self.value(d + 1), self.value(d + 1))
        if kind < 0.92:
            return "{set={[%s]=true}}" % self.atom(d + 1)
        if kind < 0.96:
            return "{big_number=%s}" % self.atom(d + 1)
        return "{[1]=%s, [3]=%s, x=%s}" % (self.value(d + 1), self.value(d + 1), self.value(d + 1))

    def arg(self, kind, d):
        if kind == "K":
            return self.pick(KEYS)
        if kind == "V":
            return self.pick([self.string, self.num, self.atom])(d + 1)
        if kind == "N":
            return self.num(d + 1)
        return kind

    def call(self, d=0):
        name, args = self.pick(CALLS)
        f = self.pick(["redis.call", "redis.pcall"])
        return "%s(%s)" % (f, ", ".join(["'%s'" % name] + [self.arg(a, d) for a in args]))

    def value(self, d=0):
        if d >= 3:
            return self.atom(d)
        return self.pick([
            self.atom, self.atom, self.table, self.call, self.string, self.num,
            lambda d: "tonumber(%s)" % self.string(d + 1),
            lambda d: "cjson.decode(%s)" % self.string(d + 1),
            lambda d: "cmsgpack.unpack(cmsgpack.pack(%s))" % self.value(d + 1),
            lambda d: "redis.status_reply(%s)" % self.atom(d + 1),
            lambda d: "redis.error_reply(%s)" % self.atom(d + 1),
            lambda d: "bit.band(%s, %s)" % (self.num(d + 1), self.num(d + 1)),
            lambda d: "bit.lshift(%s, %s)" % (self.num(d + 1), self.num(2)),
            lambda d: "math.floor(%s)" % self.num(d + 1),
            lambda d: "math.fmod(%s, %s)" % (self.num(d + 1), self.num(d + 1)),
            lambda d: "#%s" % self.string(d + 1),
            lambda d: "type(%s)" % self.value(d + 1),
            lambda d: "(struct.unpack(%s, struct.pack(%s, %s)))" % (
                ("'>i4'",) * 2 + (self.num(d + 1),)),
            lambda d: "select('#', %s, %s)" % (self.value(d + 1), self.value(d + 1)),
            lambda d: "(%s == %s)" % (self.atom(d + 1), self.atom(d + 1)),
            lambda d: "(%s < %s)" % (self.num(d + 1), self.num(d + 1)),
            lambda d: "(%s and %s or %s)" % (self.atom(d + 1), self.value(d + 1),
                                             self.value(d + 1)),
        ])(d)

    def script(self):
        x = self.r.random()
        if x < 0.15:
            return "redis.setresp(3) return %s" % self.value()
        if x < 0.3:
            return "local ok, e = pcall(function() return %s end) return {tostring(ok), " \
                   "type(e) == 'table' and (e.err or 'table') or tostring(e)}" % self.value()
        if x < 0.4:
            return "local t = %s return {type(t), cjson.encode({t})}" % self.value()
        if x < 0.5:
            return "%s return %s" % (self.call(), self.value())
        return "return %s" % self.value()


def enc(argv):
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.settimeout(10)
        self.f = self.s.makefile("rb")

    def cmd(self, *argv):
        self.s.sendall(enc([a if isinstance(a, bytes) else str(a).encode() for a in argv]))
        return self.read()

    def read(self):
        line = self.f.readline()
        kind, body = line[:1], line[1:-2]
        if kind in (b"$", b"=", b"!"):
            n = int(body)
            return None if n < 0 else (kind, self.f.read(n + 2)[:-2])
        if kind in (b"*", b">", b"~"):
            n = int(body)
            return (kind, None) if n < 0 else (kind, [self.read() for _ in range(n)])
        if kind == b"%":
            return (kind, [(self.read(), self.read()) for _ in range(int(body))])
        return (kind, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("strata", type=int)
    ap.add_argument("redis", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scripts", type=int, default=2000)
    ap.add_argument("--resp3", action="store_true")
    ap.add_argument("--show", type=int, default=30)
    a = ap.parse_args()
    g = Gen(random.Random(a.seed))
    conns = [Conn(a.strata), Conn(a.redis)]
    for c in conns:
        c.cmd("FLUSHALL")
        if a.resp3:
            c.cmd("HELLO", "3")
    bad = 0
    for i in range(a.scripts):
        src = g.script()
        replies = [c.cmd("EVAL", src, "1", "k") for c in conns]
        # (Lua's tostring of a table or function shows its address.)
        replies = [re.sub(rb"(table|function): 0x[0-9a-f]+", rb"\1: ADDR", repr(r).encode())
                   for r in replies]
        if replies[0] != replies[1]:
            bad += 1
            if bad <= a.show:
                print("#%d %s\n  strata: %r\n  redis:  %r" % (i, src, replies[0], replies[1]))
    print("%d scripts, %d mismatches (seed %d, %s)" % (a.scripts, bad, a.seed,
                                                      "RESP3" if a.resp3 else "RESP2"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
