//! Random commands from the whole command table with random arguments (numbers at their
//! limits, keywords, key names of every type, binary junk), pipelined against a real
//! server: it must answer every one (an error is an answer), stay up, and a restart must
//! rebuild exactly the same data from the log and snapshots (DEBUG DIGEST before and
//! after). Seeded, so a failure reproduces; `FUZZ_COMMANDS=n` and `FUZZ_SEED=s` run more
//! or other commands.

mod common;

use common::{TestServer, V};
use rand::{Rng, SeedableRng};

/// Commands left out: they block, change the connection's mode, stop or reconfigure the
/// server, or wipe what is being checked.
const SKIP: &[&str] = &[
    "shutdown",
    "debug",
    "monitor",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "sync",
    "psync",
    "replconf",
    "quit",
    "reset",
    "client",
    "script",
    "function",
    "flushall",
    "flushdb",
    "save",
    "bgsave",
    "bgrewriteaof",
    "replicaof",
    "slaveof",
    "failover",
    "wait",
    "waitaof",
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "bzpopmin",
    "bzpopmax",
    "blmpop",
    "bzmpop",
    "xread",
    "xreadgroup",
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
    "config",
    "acl",
    "module",
    "hello",
    "auth",
    "migrate",
    "cluster",
    "readonly",
    "readwrite",
    "asking",
    "multi",
    "exec",
    "discard",
    "watch",
    "lolwut",
    "pfdebug",
    "pfselftest",
    "restore-asking",
];

const WORDS: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"2",
    b"3",
    b"10",
    b"-10",
    b"100",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"1.5",
    b"-inf",
    b"+inf",
    b"nan",
    b"(1",
    b"[a",
    b"-",
    b"+",
    b"*",
    b"$",
    b"",
    b"k",
    b"k2",
    b"h",
    b"l",
    b"s",
    b"z",
    b"x",
    b"st",
    b"f",
    b"v",
    b"\x00\xff",
    b"NX",
    b"XX",
    b"GT",
    b"LT",
    b"CH",
    b"INCR",
    b"EX",
    b"PX",
    b"EXAT",
    b"PXAT",
    b"KEEPTTL",
    b"GET",
    b"WITHSCORES",
    b"LIMIT",
    b"COUNT",
    b"MATCH",
    b"TYPE",
    b"BYSCORE",
    b"BYLEX",
    b"REV",
    b"LEFT",
    b"RIGHT",
    b"BEFORE",
    b"AFTER",
    b"MAXLEN",
    b"MINID",
    b"~",
    b"=",
    b"NOMKSTREAM",
    b"IDLE",
    b"TIME",
    b"RETRYCOUNT",
    b"FORCE",
    b"JUSTID",
    b"STREAMS",
    b">",
    b"0-0",
    b"1-1",
    b"AND",
    b"OR",
    b"XOR",
    b"NOT",
    b"BIT",
    b"BYTE",
    b"OVERFLOW",
    b"WRAP",
    b"SAT",
    b"FAIL",
    b"u8",
    b"i64",
    b"#1",
    b"SET",
    b"INCRBY",
    b"WITHVALUES",
    b"WITHCOORD",
    b"WITHDIST",
    b"FROMMEMBER",
    b"FROMLONLAT",
    b"BYRADIUS",
    b"BYBOX",
    b"km",
    b"ASC",
    b"DESC",
    b"STORE",
    b"ANY",
    b"13.36",
    b"38.11",
    b"IDX",
    b"LEN",
    b"REPLACE",
    b"DB",
    b"AGGREGATE",
    b"WEIGHTS",
    b"SUM",
    b"MIN",
    b"MAX",
    b"RANK",
    b"MKSTREAM",
    b"g",
    b"c",
    b"ABSTTL",
    b"FREQ",
];

fn names(c: &mut common::RawClient) -> Vec<Vec<u8>> {
    match c.cmd(&["COMMAND", "LIST"]) {
        V::Arr(items) => items
            .into_iter()
            .filter_map(|v| match v {
                V::Bulk(b) => Some(b),
                _ => None,
            })
            .filter(|n| !SKIP.contains(&String::from_utf8_lossy(n).as_ref()))
            .collect(),
        other => panic!("COMMAND LIST: {other:?}"),
    }
}

fn digest(c: &mut common::RawClient) -> V {
    c.cmd(&["DEBUG", "DIGEST"])
}

#[test]
fn random_commands_are_answered_and_replay_to_the_same_data() {
    run(2, 40_000);
}

/// The same over RESP3 (maps, sets, doubles, booleans, verbatim strings, pushes).
#[test]
fn random_commands_over_resp3() {
    run(3, 20_000);
}

fn run(proto: u8, default_n: usize) {
    let n: usize = std::env::var("FUZZ_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_n);
    // Small segments and snapshots every 64 KiB of log: rotations, snapshot installs and a
    // snapshot + tail restart are part of the run.
    let directives = [
        ("appendfsync", "everysec"),
        ("segment-size", "65536"),
        ("auto-aof-rewrite-min-size", "65536"),
        ("auto-aof-rewrite-percentage", "50"),
    ];
    let s = TestServer::start(&directives);
    let mut c = s.raw();
    let names = names(&mut c);
    if proto == 3 {
        assert!(matches!(c.cmd(&["HELLO", "3"]), V::Map(_)));
    }
    assert!(names.len() > 150, "{} commands", names.len());
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x0f0f_1234 + u64::from(proto));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for seed in [
        &["RPUSH", "l", "a", "b", "c"][..],
        &["HSET", "h", "f", "v"],
        &["SADD", "s", "a", "1"],
        &["ZADD", "z", "1", "a", "2", "b"],
        &["XADD", "st", "1-1", "f", "v"],
        &["SET", "k", "10"],
    ] {
        c.cmd(seed);
    }
    let mut sent = 0;
    while sent < n {
        let batch = 20.min(n - sent);
        let mut last = String::new();
        for _ in 0..batch {
            let name = &names[rng.gen_range(0..names.len())];
            let mut argv: Vec<&[u8]> = vec![name];
            for _ in 0..rng.gen_range(0..=10) {
                argv.push(WORDS[rng.gen_range(0..WORDS.len())]);
            }
            last = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            c.send(&argv);
        }
        for _ in 0..batch {
            assert!(
                c.try_read().is_some(),
                "no reply (batch ending with {last:?})"
            );
        }
        sent += batch;
    }
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
    let before = digest(&mut c);
    drop(c);
    let s = s.restart(&directives);
    let mut c = s.raw();
    assert_eq!(digest(&mut c), before, "the data rebuilt from disk differs");
}
