//! Keyspace notifications against the real redis-server: on strata and on Redis 7.0, a
//! subscriber PSUBSCRIBEs `__key*__:*`, another connection runs the same script of writing
//! commands covering every command family (strings, bitmaps, generic keyspace commands,
//! hashes, lists, sets, sorted sets, streams, HyperLogLogs, blocking commands served by a
//! later push, MULTI/EXEC, lazy and active expiry, several databases), and the two
//! sequences of notification messages must be equal, message for message. Also
//! `notify-keyspace-events` parsing and formatting through CONFIG SET/GET.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Oracle, RawClient, TestServer, V};

/// The script. `@SLEEP ms` pauses; `@BG cmd…` sends a (blocking) command on a second
/// connection without reading its reply, then waits until it is parked; `@BGREAD` reads
/// that reply.
const SCRIPT: &[&str] = &[
    // strings
    "SET s1 v",
    "SET s1 v2 NX",
    "SET s1 v3 XX GET",
    "SETNX s2 a",
    "SETNX s2 b",
    "SETEX s3 100 v",
    "PSETEX s4 100000 v",
    "SET s5 v EX 100",
    "SET s5 w KEEPTTL",
    "MSET m1 a m2 b",
    // LCS looks both keys up before it checks their types: a keymiss for the second
    "RPUSH lcsl a",
    "LCS lcsl lcsmiss",
    "MSETNX m3 a m4 b",
    "MSETNX m3 a m5 b",
    "APPEND s1 xyz",
    "APPEND newapp abc",
    "SETRANGE s1 1 ZZ",
    "SETRANGE sr1 3 ab",
    "INCR n1",
    "INCRBY n1 5",
    "DECR n1",
    "DECRBY n1 2",
    "INCRBYFLOAT f1 1.5",
    "GETSET s1 new",
    "GETDEL s2",
    "GETDEL nokey",
    "GETEX s3 PERSIST",
    "GETEX s1 EX 100",
    "GETEX s1",
    "GETEX s4 PXAT 1",
    "SET s6 v EX 100",
    "SET s6 v",
    // bitmaps
    "SETBIT b1 7 1",
    "SETBIT b1 7 1",
    "BITFIELD b2 SET u8 0 255 GET u8 0",
    "BITFIELD b2 GET u8 0",
    "BITFIELD b2 INCRBY u8 0 1 OVERFLOW FAIL INCRBY u8 0 300",
    "BITOP OR b3 b1 b2",
    "BITOP AND b3 nokey1 nokey2",
    "BITOP AND b4 nokey1 nokey2",
    // generic
    "DEL m1 m2 nokey",
    "UNLINK m3",
    "EXPIRE m4 100",
    "PEXPIRE m4 100000",
    "EXPIREAT m4 9999999999",
    "PEXPIREAT m4 9999999999000",
    "EXPIRE m4 100 NX",
    "PERSIST m4",
    "PERSIST m4",
    "EXPIRE m4 -1",
    "EXPIRE nokey 10",
    // OBJECT looks keys up without a keymiss event (LOOKUP_NONOTIFY); TYPE and EXISTS
    // send one
    "OBJECT ENCODING nokey",
    "OBJECT IDLETIME nokey",
    "OBJECT REFCOUNT nokey",
    "OBJECT FREQ nokey",
    "TYPE nokey",
    "EXISTS nokey",
    "SET r1 v",
    "RENAME r1 r2",
    "RENAME r2 r2",
    "RENAMENX r2 s1",
    "RENAMENX r2 r3",
    "SET r9 v",
    "RENAME r9 r3",
    "COPY r3 r4",
    "COPY r3 r4",
    "COPY r3 r4 REPLACE",
    "COPY r3 r5 DB 1",
    "MOVE r4 1",
    "MOVE r3 1",
    "SET px1 v PX 1",
    "@SLEEP 20",
    "GET px1",
    "SET px2 v PX 1",
    "@SLEEP 20",
    "LPUSH px2 a",
    "SET px3 v PX 1",
    "@SLEEP 20",
    "EXISTS px3",
    "SELECT 1",
    "SET db1key v",
    "DEL r5",
    "SELECT 0",
    "TOUCH s1",
    // hashes
    "HSET h1 a 1 b 2",
    "HSET h1 a 1",
    "HSETNX h1 a 1",
    "HSETNX h1 c 3",
    "HMSET h1 d 4",
    "HINCRBY h1 n 2",
    "HINCRBYFLOAT h1 f 1.5",
    "HDEL h1 zz",
    "HDEL h1 a b",
    "HSET h2 a 1",
    "HDEL h2 a",
    "HSETNX h3 a 1",
    // lists
    "LPUSH l1 a b c",
    "RPUSH l1 d",
    "LPUSHX nol a",
    "LPUSHX l1 z",
    "RPUSHX l1 y",
    "LPOP l1",
    "RPOP l1 2",
    "LPOP nol",
    "LINSERT l1 BEFORE b X",
    "LINSERT l1 BEFORE nothere X",
    "LSET l1 0 Q",
    "LREM l1 0 X",
    "LREM l1 0 nothere",
    "LTRIM l1 0 -1",
    "LTRIM l1 0 0",
    "LTRIM l1 1 0",
    "RPUSH l2 a b c d",
    "RPOPLPUSH l2 l3",
    "LMOVE l2 l3 LEFT RIGHT",
    "LMOVE l3 l3 LEFT RIGHT",
    "LMPOP 2 nol l2 LEFT COUNT 5",
    "BLPOP l3 0",
    "BRPOPLPUSH l3 l4 0",
    "BLMOVE l4 l5 LEFT LEFT 0",
    "BLMPOP 0 1 l5 RIGHT",
    "@BG BLPOP wl 0",
    "LPUSH wl x",
    "@BGREAD",
    "@BG BLMOVE wl2 l6 LEFT LEFT 0",
    "RPUSH wl2 a",
    "@BGREAD",
    "@BG BZPOPMIN wz 0",
    "ZADD wz 1 a 2 b",
    "@BGREAD",
    // sets
    "SADD st1 a b c",
    "SADD st1 a",
    "SREM st1 a zz",
    "SREM st1 zz",
    "SPOP st1",
    "SADD st2 a b c d",
    "SPOP st2 2",
    "SPOP st2 5",
    "SPOP st2",
    "SADD st3 x y",
    "SADD st4 y z",
    "SMOVE st3 st4 x",
    "SMOVE st3 st4 y",
    "SMOVE st4 st4 y",
    "SINTERSTORE si st4 st4",
    "SINTERSTORE si nokey st4",
    "SUNIONSTORE su st4 nokey",
    "SDIFFSTORE sd st4 st4",
    "SDIFFSTORE su st4 st4",
    // sorted sets
    "ZADD z1 1 a 2 b 3 c",
    "ZADD z1 1 a",
    "ZADD z1 INCR 5 a",
    "ZADD z1 NX INCR 5 a",
    "ZADD z1 GT CH 9 b",
    "ZINCRBY z1 1 b",
    "ZREM z1 zz",
    "ZREM z1 a",
    "ZADD z2 1 a 2 b 3 c 4 d 5 e",
    "ZREMRANGEBYSCORE z2 1 1",
    "ZREMRANGEBYSCORE z2 100 200",
    "ZREMRANGEBYRANK z2 0 0",
    "ZREMRANGEBYLEX z2 [c [c",
    "ZPOPMIN z2",
    "ZPOPMAX z2",
    "ZPOPMIN z2",
    "ZADD z3 1 a 2 b",
    "ZMPOP 1 z3 MIN",
    "BZPOPMAX z3 0",
    "ZADD z4 1 a 2 b",
    "BZMPOP 0 1 z4 MAX COUNT 5",
    "ZRANGESTORE zr z1 0 -1",
    "ZRANGESTORE zr z1 5 4",
    "ZRANGESTORE zr z1 0 -1",
    "ZUNIONSTORE zu 2 z1 zr",
    "ZINTERSTORE zi 2 z1 zr",
    "ZDIFFSTORE zd 2 z1 zr",
    "ZINTERSTORE zi 2 z1 nokey",
    "ZREMRANGEBYRANK zu 0 -1",
    // streams
    "XADD x1 1-1 f v",
    "XADD x1 MAXLEN 1 2-1 f v",
    "XADD x1 NOMKSTREAM 3-1 f v",
    "XADD nox NOMKSTREAM 1-1 f v",
    "XTRIM x1 MAXLEN 0",
    "XTRIM x1 MAXLEN 0",
    "XADD x1 4-1 f v",
    "XDEL x1 4-1",
    "XDEL x1 9-9",
    "XGROUP CREATE x1 g1 0",
    "XGROUP CREATE x2 g1 $ MKSTREAM",
    "XGROUP CREATECONSUMER x1 g1 c1",
    "XGROUP CREATECONSUMER x1 g1 c1",
    "XADD x1 5-1 f v",
    "XADD x1 6-1 f v",
    "XREADGROUP GROUP g1 c2 COUNT 1 STREAMS x1 >",
    "XREADGROUP GROUP g1 c2 COUNT 1 STREAMS x1 0",
    "XCLAIM x1 g1 c3 0 5-1",
    "XCLAIM x1 g1 c3 0 5-1 JUSTID",
    "XAUTOCLAIM x1 g1 c4 0 0-0",
    "XAUTOCLAIM x1 g1 c4 0 0-0 JUSTID",
    "XACK x1 g1 5-1",
    "XGROUP DELCONSUMER x1 g1 c2",
    "XGROUP SETID x1 g1 0",
    "XSETID x1 10-1",
    "XGROUP DESTROY x1 g1",
    "XGROUP DESTROY x1 g1",
    // HyperLogLog
    "PFADD hl a b c",
    "PFADD hl a",
    "PFADD hl2",
    "PFADD hl2",
    "PFMERGE hl3 hl hl2",
    "PFCOUNT hl",
    "PFCOUNT hl hl2",
    // transactions
    "MULTI",
    "SET t1 a",
    "INCR t2",
    "DEL t1",
    "EXEC",
    // whole-database commands
    "SWAPDB 0 1",
    "SWAPDB 0 1",
    "SELECT 1",
    "FLUSHDB",
    "SELECT 0",
    // active expiry
    "SET ae v PX 10",
    "@SLEEP 600",
];

fn args(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Run the script on `addr` with `flags`; returns (command replies, messages received).
fn run(addr: SocketAddr, flags: &str) -> (Vec<V>, Vec<V>) {
    let mut admin = RawClient::connect(addr);
    assert_eq!(admin.cmd(&["FLUSHALL"]), V::Simple("OK".into()));
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]),
        V::Simple("OK".into())
    );
    let mut sub = RawClient::connect(addr);
    sub.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    sub.cmd(&["SUBSCRIBE", "sentinel"]);
    let mut c = RawClient::connect(addr);
    let mut bg = RawClient::connect(addr);
    let mut replies = Vec::new();
    for line in SCRIPT {
        let a = args(line);
        if std::env::var("NOTIFY_TRACE").is_ok() {
            eprintln!("{addr} {line}");
        }
        match a[0] {
            "@SLEEP" => std::thread::sleep(Duration::from_millis(a[1].parse().expect("ms"))),
            "@BG" => {
                let v: Vec<&[u8]> = a[1..].iter().map(|s| s.as_bytes()).collect();
                bg.send(&v);
                // Wait until it is parked.
                for _ in 0..500 {
                    let info = admin.cmd(&["INFO", "clients"]).text();
                    if info.contains("blocked_clients:1") {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            "@BGREAD" => replies.push(bg.read().normalized()),
            _ => {
                let r = c.cmd(&a);
                // Stream IDs with `*` and random pops differ; keep replies comparable.
                let keep = !line.starts_with("SPOP") && !line.starts_with("XAUTOCLAIM");
                replies.push(if keep { r.normalized() } else { V::Nil });
            }
        }
    }
    admin.cmd(&["PUBLISH", "sentinel", "end"]);
    let mut msgs = Vec::new();
    loop {
        let m = sub.read();
        if let V::Arr(items) = &m {
            if items.len() == 3 && items[1] == V::Bulk(b"sentinel".to_vec()) {
                break;
            }
        }
        msgs.push(m);
    }
    admin.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    (replies, msgs)
}

/// Messages whose text depends on randomness (SPOP picks a member; the key is stable).
fn show(msgs: &[V]) -> Vec<String> {
    msgs.iter()
        .map(|m| match m {
            V::Arr(items) => items.iter().map(V::text).collect::<Vec<_>>().join(" "),
            other => format!("{other:?}"),
        })
        .collect()
}

fn compare(flags: &str) {
    let Some(redis) = Oracle::start() else {
        return;
    };
    let s = TestServer::start(&[]);
    let (want_r, want_m) = run(redis.addr, flags);
    let (got_r, got_m) = run(s.addr, flags);
    for (i, line) in SCRIPT.iter().filter(|l| !l.starts_with("@S")).enumerate() {
        if let (Some(w), Some(g)) = (want_r.get(i), got_r.get(i)) {
            assert_eq!(g, w, "reply to `{line}` (flags {flags})");
        }
    }
    let (w, g) = (show(&want_m), show(&got_m));
    if w != g {
        let n = w.len().max(g.len());
        let mut out = String::new();
        for i in 0..n {
            let a = w.get(i).map_or("-", String::as_str);
            let b = g.get(i).map_or("-", String::as_str);
            let mark = if a == b { "  " } else { "!!" };
            out.push_str(&format!("{mark} {i:3} redis: {a:60} strata: {b}\n"));
        }
        panic!("notification messages differ (flags {flags}):\n{out}");
    }
    assert!(!w.is_empty());
}

#[test]
fn every_family_notifies_like_redis_kea() {
    compare("KEA");
}

#[test]
fn new_and_keymiss_events_like_redis() {
    compare("Knm");
}

#[test]
fn notify_keyspace_events_config_like_redis() {
    let Some(redis) = Oracle::start() else {
        return;
    };
    let s = TestServer::start(&[]);
    let mut r = redis.raw();
    let mut c = s.raw();
    for v in [
        "KEA",
        "",
        "K",
        "E",
        "KA",
        "Eg",
        "A",
        "KEg$lshzxetdmn",
        "KEn",
        "An",
        "g$lshzxetdm",
        "x",
        "KEAAAA",
        "Kx",
        "KEd",
        "Kq",
        "kea",
        "KE ",
        "KEm",
    ] {
        let set = ["CONFIG", "SET", "notify-keyspace-events", v];
        assert_eq!(c.cmd(&set), r.cmd(&set), "CONFIG SET {v:?}");
        let get = ["CONFIG", "GET", "notify-keyspace-events"];
        assert_eq!(c.cmd(&get), r.cmd(&get), "CONFIG GET after {v:?}");
    }
}

/// The events a command sends its own client's subscriptions (RESP3) reach that client
/// where Redis writes them into its output buffer: before the reply of SET, DEL, GET …,
/// after that of LPUSH, HSET, ZADD, GETSET … (Redis adds those replies first), between
/// MGET's elements and after ZPOPMIN's array header, and inside EXEC's array around each
/// command's reply.
#[test]
fn own_events_reach_the_client_in_redis_order() {
    let Some(redis) = Oracle::start() else {
        return;
    };
    let s = TestServer::start(&[]);
    let script: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["MULTI"],
        &["SET", "k", "v2"],
        &["DEL", "k"],
        &["GET", "nokey"],
        &["EXEC"],
        &["EVAL", "redis.call('set', 'k2', '1') return 1", "0"],
        &["SUBSCRIBE", "c"],
        &["PUBLISH", "c", "m"],
        &["BLPOP", "nolist", "0.05"],
        &["LPUSH", "l", "a", "b"],
        &["RPOPLPUSH", "l", "l2"],
        &["LPOP", "l"],
        &["HSET", "h", "f", "v"],
        &["HINCRBY", "h", "n", "1"],
        &["ZADD", "z", "1", "m"],
        &["GETSET", "gs", "v"],
        &["SET", "gs", "w", "GET"],
        &["GETDEL", "gs"],
        &["SET", "e", "v"],
        &["EXPIRE", "e", "100"],
        &["GETEX", "e", "PERSIST"],
        &["MGET", "e", "nokey1", "h", "nokey2"],
        &["SADD", "s1", "a"],
        &["SUNIONSTORE", "s2", "s1"],
        &["SDIFFSTORE", "s2", "s1", "s1"],
        &["SINTERSTORE", "s3", "s1", "nokey"],
        &["XADD", "x", "1-1", "f", "v"],
        &["XADD", "x", "MAXLEN", "1", "2-1", "f", "v"],
        &["XGROUP", "CREATE", "x", "g", "$"],
        &["ZUNIONSTORE", "z2", "1", "z"],
        &["ZRANGESTORE", "z3", "z", "0", "-1"],
        &["LSET", "l2", "0", "y"],
        &["ZADD", "zp", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["ZPOPMIN", "zp"],
        &["ZPOPMAX", "zp", "2"],
        &["ZMPOP", "1", "zp", "MIN", "COUNT", "5"],
        &["MULTI"],
        &["LPUSH", "l3", "x"],
        &["MGET", "l3", "nokey"],
        &["EXEC"],
    ];
    let run = |addr: SocketAddr| {
        let mut c = RawClient::connect(addr);
        c.cmd(&["HELLO", "3"]);
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEAmn"]);
        c.cmd(&["PSUBSCRIBE", "__keyevent*"]);
        let mut seen = Vec::new();
        let mut queuing = false;
        for cmd in script {
            let v: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
            c.send(&v);
            if cmd[0] == "MULTI" || queuing {
                // (Inside MULTI a PING would be queued: one reply each, no events yet.)
                queuing = cmd[0] != "EXEC";
                if queuing {
                    seen.push((cmd.join(" "), c.read()));
                    continue;
                }
            }
            c.send(&[b"PING"]);
            loop {
                let r = c.read();
                if r == V::Simple("PONG".into()) {
                    break;
                }
                if std::env::var("OWN_TRACE").is_ok() {
                    eprintln!("{addr} {cmd:?} {r:?}");
                }
                seen.push((cmd.join(" "), r));
            }
        }
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
        seen
    };
    let want = run(redis.addr);
    let got = run(s.addr);
    assert!(want.iter().any(|(_, r)| matches!(r, V::Push(_))));
    assert_eq!(got, want);
}
