#!/usr/bin/env python3
"""Generate src/cmd/meta.rs: Redis 7.0's command metadata for every command strata registers.

The metadata (key specifications, command tips, documentation: summary, since, group,
complexity, doc flags, deprecation, history and the argument tree) describes Redis's
interface; strata reports it through COMMAND INFO / COMMAND DOCS / COMMAND GETKEYS.
This script reads it from a running redis-server 7.0 (COMMAND INFO and COMMAND DOCS over
RESP3) for exactly the command names a strata server lists (COMMAND LIST), and writes it
in strata's own Rust data format (types in src/cmd/cmdmeta.rs).

Usage (from the repository root, after `cargo build`):
    tools/gen-command-meta.py [--redis-server redis-server] [--strata target/debug/strata]
                              [--out src/cmd/meta.rs]
It starts both servers on free ports in temporary directories and stops them at the end.
Commands Redis 7.0 does not know are listed on stderr; their metadata is hand-written in
src/cmd/cmdmeta.rs (EXTRA).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


class Conn:
    """A minimal RESP2/RESP3 client keeping every reply's type."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.f = self.sock.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = chr(line[0]), line[1:]
        if t == "+":
            return ("simple", rest.decode())
        if t == "-":
            return ("error", rest.decode())
        if t == ":":
            return ("int", int(rest))
        if t == "$":
            n = int(rest)
            if n < 0:
                return ("nil", None)
            return ("bulk", self.f.read(n + 2)[:-2].decode())
        if t == "_":
            return ("nil", None)
        if t in "*~>":
            n = int(rest)
            if n < 0:
                return ("nil", None)
            return ({"*": "array", "~": "set", ">": "push"}[t], [self.read() for _ in range(n)])
        if t == "%":
            return ("map", [(self.read(), self.read()) for _ in range(int(rest))])
        raise ValueError("unexpected reply %r" % line)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc):
    for _ in range(100):
        if proc.poll() is not None:
            sys.exit("server on port %d exited early" % port)
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("server on port %d did not start" % port)


def as_map(v):
    assert v[0] == "map", v
    return {k[1]: x for k, x in v[1]}


def lit(s):
    """A Rust string literal."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        else:
            out.append("\\u{%x}" % ord(ch))
    return '"' + "".join(out) + '"'


KEY_FLAGS = ["RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key",
             "incomplete", "variable_flags"]
KEY_FLAG_CONST = {f: "K::" + f.upper() for f in KEY_FLAGS}
ARG_TYPES = {"string": "String", "integer": "Integer", "double": "Double", "key": "Key",
             "pattern": "Pattern", "unix-time": "UnixTime", "pure-token": "PureToken",
             "oneof": "Oneof", "block": "Block"}
ARG_FLAGS = {"optional": "OPT", "multiple": "MULTI", "multiple_token": "MULTI_TOKEN"}


def key_flags(names):
    for n in names:
        if n not in KEY_FLAG_CONST:
            sys.exit("unknown key spec flag %r" % n)
    consts = [KEY_FLAG_CONST[n] for n in KEY_FLAGS if n in names]
    if not consts:
        return "K::empty()"
    return consts[0] + "".join(".union(%s)" % c for c in consts[1:])


def key_spec(v, ind):
    m = as_map(v)
    flags = [f[1] for f in m["flags"][1]]
    bs, fk = as_map(m["begin_search"]), as_map(m["find_keys"])
    bspec, fspec = as_map(bs["spec"]), as_map(fk["spec"])
    if bs["type"][1] == "index":
        begin = "Begin::Index(%d)" % bspec["index"][1]
    elif bs["type"][1] == "keyword":
        begin = "Begin::Keyword(%s, %d)" % (lit(bspec["keyword"][1]), bspec["startfrom"][1])
    elif bs["type"][1] == "unknown":
        begin = "Begin::Unknown"
    else:
        sys.exit("unknown begin_search %r" % bs)
    if fk["type"][1] == "range":
        find = "Find::Range { lastkey: %d, keystep: %d, limit: %d }" % (
            fspec["lastkey"][1], fspec["keystep"][1], fspec["limit"][1])
    elif fk["type"][1] == "keynum":
        find = "Find::Keynum { keynumidx: %d, firstkey: %d, keystep: %d }" % (
            fspec["keynumidx"][1], fspec["firstkey"][1], fspec["keystep"][1])
    elif fk["type"][1] == "unknown":
        find = "Find::Unknown"
    else:
        sys.exit("unknown find_keys %r" % fk)
    known = {"notes", "flags", "begin_search", "find_keys"}
    if set(m) - known:
        sys.exit("unknown key spec fields %r" % (set(m) - known))
    notes = lit(m["notes"][1]) if "notes" in m else '""'
    p = " " * ind
    return (f"{p}KeySpecMeta {{\n{p}    notes: {notes},\n{p}    flags: {key_flags(flags)},\n"
            f"{p}    begin: {begin},\n{p}    find: {find},\n{p}}},\n")


ARG_FIELDS = ["name", "type", "key_spec_index", "token", "summary", "since", "deprecated_since",
              "flags", "arguments"]


def arg(v, ind):
    m = as_map(v)
    keys = [k[1] for k, _ in v[1]]
    if [k for k in ARG_FIELDS if k in keys] != keys:
        sys.exit("argument fields %r not in the expected order" % keys)
    p = " " * ind
    out = f"{p}Arg {{\n{p}    name: {lit(m['name'][1])},\n{p}    kind: T::{ARG_TYPES[m['type'][1]]},\n"
    if "key_spec_index" in m:
        out += f"{p}    key_spec: {m['key_spec_index'][1]},\n"
    for f in ("token", "summary", "since", "deprecated_since"):
        if f in m:
            out += f"{p}    {f}: {lit(m[f][1])},\n"
    if "flags" in m:
        fl = [ARG_FLAGS[x[1]] for x in m["flags"][1]]
        out += f"{p}    flags: {' | '.join(fl) if fl else '0'},\n"
    if "arguments" in m:
        out += f"{p}    args: &[\n" + "".join(arg(a, ind + 8) for a in m["arguments"][1]) + f"{p}    ],\n"
    return out + f"{p}    ..A\n{p}}},\n"


DOC_FIELDS = ["summary", "since", "group", "complexity", "doc_flags", "deprecated_since",
              "replaced_by", "history", "arguments", "subcommands"]


def entry(name, info, doc):
    keys = [k[1] for k, _ in doc[1]]
    if [k for k in DOC_FIELDS if k in keys] != keys:
        sys.exit("%s: doc fields %r not in the expected order" % (name, keys))
    d = as_map(doc)
    out = f"    CommandMeta {{\n        name: {lit(name)},\n"
    for f in ("summary", "since", "group", "complexity", "deprecated_since", "replaced_by"):
        if f in d:
            out += f"        {f}: {lit(d[f][1])},\n"
    if "doc_flags" in d:
        out += "        doc_flags: &[%s],\n" % ", ".join(lit(x[1]) for x in d["doc_flags"][1])
    if "history" in d:
        out += "        history: &[\n"
        for h in d["history"][1]:
            out += f"            ({lit(h[1][0][1])}, {lit(h[1][1][1])}),\n"
        out += "        ],\n"
    tips = [t[1] for t in info[1][7][1]]
    if tips:
        out += "        tips: &[%s],\n" % ", ".join(lit(t) for t in tips)
    specs = info[1][8][1]
    if specs:
        out += "        key_specs: &[\n" + "".join(key_spec(s, 12) for s in specs) + "        ],\n"
    if "arguments" in d:
        out += "        args: &[\n" + "".join(arg(a, 12) for a in d["arguments"][1]) + "        ],\n"
    return out + "        ..M\n    },\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--strata", default="target/debug/strata")
    ap.add_argument("--out", default="src/cmd/meta.rs")
    o = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gen-command-meta-")
    rport, sport = free_port(), free_port()
    procs = []
    try:
        r = subprocess.Popen([o.redis_server, "--port", str(rport), "--save", "", "--appendonly",
                              "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        procs.append(r)
        os.mkdir(os.path.join(tmp, "strata"))
        s = subprocess.Popen([o.strata, "server", "--port", str(sport), "--dir",
                              os.path.join(tmp, "strata")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(s)
        wait_port(rport, r)
        wait_port(sport, s)
        redis, strata = Conn(rport), Conn(sport)
        version = as_map(redis.cmd("HELLO", "3"))["version"][1]
        if not version.startswith("7.0."):
            sys.exit("redis-server %s is not 7.0" % version)
        names = sorted(x[1] for x in strata.cmd("COMMAND", "LIST")[1])
        body = []
        for name in names:
            info = redis.cmd("COMMAND", "INFO", name)[1][0]
            docs = redis.cmd("COMMAND", "DOCS", name)[1]
            if info[0] == "nil" or not docs:
                print("not in redis %s (hand-written metadata): %s" % (version, name),
                      file=sys.stderr)
                continue
            body.append(entry(name, info, docs[0][1]))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    text = (
        "//! GENERATED by tools/gen-command-meta.py from redis-server %s's COMMAND INFO and\n"
        "//! COMMAND DOCS, for the commands strata registers: key specifications, tips and\n"
        "//! documentation (summary, since, group, complexity, flags, history, arguments). Do not\n"
        "//! edit; rerun the generator after adding a command. Types: `cmdmeta`.\n\n"
        "use super::cmdmeta::{\n"
        "    Arg, ArgType as T, Begin, CommandMeta, Find, KeyFlags as K, KeySpecMeta, A, M, MULTI,\n"
        "    MULTI_TOKEN, OPT,\n"
        "};\n\n"
        "/// Metadata of every command and subcommand strata registers that Redis %s has,\n"
        "/// sorted by full name (`config|get`).\n"
        "pub static META: &[CommandMeta] = &[\n%s];\n" % (version, version, "".join(body)))
    with open(o.out, "w") as f:
        f.write(text)
    # Keep the file as `rustfmt` leaves it (long literals are never wrapped).
    if shutil.which("rustfmt"):
        subprocess.run(["rustfmt", "--edition", "2021", o.out], check=True)
    print("wrote %s: %d commands" % (o.out, len(body)), file=sys.stderr)


if __name__ == "__main__":
    main()
