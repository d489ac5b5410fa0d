//! Generic key commands through redis-rs: DEL/UNLINK/EXISTS/TYPE/KEYS/SCAN (options and
//! a full iteration racing inserts and deletes), RANDOMKEY, RENAME/RENAMENX, COPY, TOUCH,
//! OBJECT, the EXPIRE family with NX/XX/GT/LT, TTL/PTTL/EXPIRETIME/PEXPIRETIME/PERSIST,
//! and lazy and active expiry as INFO reports them.

use std::collections::HashSet;
use std::time::Duration;

use redis::{Commands, Value};

use crate::support::*;

#[test]
fn del_unlink_exists_type() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "a"]), 1);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "a", "b", "nokey", "a"]), 3);
    assert!(r.exists::<_, bool>("b").unwrap());
    assert_eq!(q::<i64>(&mut r, &["DEL", "a", "nokey", "a"]), 1);
    assert_eq!(q::<i64>(&mut r, &["DEL", "a"]), 0);
    assert_eq!(q::<i64>(&mut r, &["UNLINK", "b", "c"]), 2);
    assert_eq!(q::<i64>(&mut r, &["UNLINK", "b"]), 0);
    assert_eq!(r.del::<_, i64>("d").unwrap(), 1);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "a", "b", "c", "d"]), 0);
    ok(&mut r, &["SET", "s", "v"]);
    assert_eq!(q::<String>(&mut r, &["TYPE", "s"]), "string");
    assert_eq!(q::<String>(&mut r, &["TYPE", "nokey"]), "none");
    // TYPE replies with a simple string.
    assert_eq!(
        v(&mut r, &["TYPE", "s"]),
        Value::SimpleString("string".into())
    );
    for cmd in ["DEL", "UNLINK", "EXISTS"] {
        assert_eq!(e(&mut r, &[cmd]), arity(&cmd.to_lowercase()));
    }
    assert_eq!(e(&mut r, &["TYPE"]), arity("type"));
    assert_eq!(e(&mut r, &["TYPE", "a", "b"]), arity("type"));
}

#[test]
fn keys_patterns() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(
        &mut r,
        &[
            "MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1",
            "h*llo", "1", "other", "1",
        ],
    );
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let k = |r: &mut redis::Connection, p: &str| sorted(q::<Vec<String>>(r, &["KEYS", p]));
    assert_eq!(k(&mut r, "h?llo"), ["h*llo", "hallo", "hello", "hxllo"]);
    assert_eq!(
        k(&mut r, "h*llo"),
        ["h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(k(&mut r, "h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(k(&mut r, "h[^e]llo"), ["h*llo", "hallo", "hxllo"]);
    assert_eq!(k(&mut r, "h[a-b]llo"), ["hallo"]);
    assert_eq!(k(&mut r, "h\\*llo"), ["h*llo"]);
    assert_eq!(k(&mut r, "*").len(), 7);
    assert_eq!(k(&mut r, "nomatch*"), Vec::<String>::new());
    assert_eq!(e(&mut r, &["KEYS"]), arity("keys"));
    assert_eq!(e(&mut r, &["KEYS", "a", "b"]), arity("keys"));
}

#[test]
fn scan_options_and_errors() {
    let s = Srv::new();
    let mut r = s.redis();
    for i in 0..100 {
        ok(&mut r, &["SET", &format!("key:{i}"), "v"]);
    }
    ok(&mut r, &["SET", "other", "v"]);
    // Full iteration by hand with MATCH and COUNT.
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut rounds = 0;
    loop {
        let (next, keys): (String, Vec<String>) =
            q(&mut r, &["SCAN", &cursor, "MATCH", "key:*", "COUNT", "7"]);
        seen.extend(keys);
        rounds += 1;
        if next == "0" {
            break;
        }
        cursor = next;
        assert!(rounds < 1000);
    }
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|k| k.starts_with("key:")));
    assert!(rounds > 1, "COUNT 7 should take several rounds");
    // A large COUNT returns everything at once on a small keyspace.
    let (next, keys): (String, Vec<String>) = q(&mut r, &["SCAN", "0", "COUNT", "1000"]);
    assert_eq!(next, "0");
    assert_eq!(keys.len(), 101);
    // TYPE filter.
    let (_, keys): (String, Vec<String>) =
        q(&mut r, &["SCAN", "0", "COUNT", "1000", "TYPE", "string"]);
    assert_eq!(keys.len(), 101);
    let (_, keys): (String, Vec<String>) =
        q(&mut r, &["SCAN", "0", "COUNT", "1000", "TYPE", "list"]);
    assert!(keys.is_empty());
    let (_, keys): (String, Vec<String>) = q(
        &mut r,
        &[
            "SCAN", "0", "COUNT", "1000", "MATCH", "oth*", "TYPE", "STRING",
        ],
    );
    assert_eq!(keys, vec!["other".to_string()]);
    // The redis-rs iterator with MATCH.
    let it: redis::Iter<String> = r.scan_match("key:1*").unwrap();
    let got: HashSet<String> = it.collect();
    assert_eq!(got.len(), 11);

    assert_eq!(e(&mut r, &["SCAN", "x"]), "ERR invalid cursor");
    assert_eq!(e(&mut r, &["SCAN", "1x"]), "ERR invalid cursor");
    assert_eq!(e(&mut r, &["SCAN", "1.5"]), "ERR invalid cursor");
    assert_eq!(e(&mut r, &["SCAN", "0", "COUNT", "0"]), SYNTAX);
    assert_eq!(e(&mut r, &["SCAN", "0", "COUNT", "x"]), NOT_INT);
    assert_eq!(e(&mut r, &["SCAN", "0", "TYPE"]), SYNTAX);
    assert_eq!(e(&mut r, &["SCAN", "0", "FOO", "bar"]), SYNTAX);
    assert_eq!(e(&mut r, &["SCAN"]), arity("scan"));
    // Any unsigned 64-bit cursor is accepted.
    let (next, _): (String, Vec<String>) = q(&mut r, &["SCAN", "18446744073709551615"]);
    assert!(next.parse::<u64>().is_ok());
}

/// SCAN's guarantee: every key present for the whole iteration is returned at least
/// once, while another connection inserts keys (the table grows) and then deletes them
/// again (the table may shrink). The writer's work is bounded, so the scan ends.
#[test]
fn scan_iterator_under_concurrent_changes() {
    const INSERTS: usize = 6000;
    let s = Srv::new();
    let mut r = s.redis();
    let mut w = s.redis();
    let stable: HashSet<String> = (0..500).map(|i| format!("stable:{i}")).collect();
    let mut p = redis::pipe();
    for k in &stable {
        p.cmd("SET").arg(k).arg("v").ignore();
    }
    for i in 0..500 {
        p.cmd("SET").arg(format!("doomed:{i}")).arg("v").ignore();
    }
    let () = p.query(&mut r).unwrap();

    let mut seen = HashSet::new();
    let (mut inserted, mut deleted, mut doomed) = (0, 0, 0);
    {
        let it: redis::Iter<String> = r.scan().unwrap();
        for (n, k) in it.enumerate() {
            seen.insert(k);
            if n % 20 != 0 {
                continue;
            }
            let mut p = redis::pipe();
            if inserted < INSERTS {
                for _ in 0..300 {
                    p.cmd("SET")
                        .arg(format!("tmp:{inserted}"))
                        .arg("v")
                        .ignore();
                    inserted += 1;
                }
                for _ in 0..25 {
                    p.cmd("DEL").arg(format!("doomed:{doomed}")).ignore();
                    doomed += 1;
                }
            } else {
                for _ in 0..600.min(INSERTS - deleted) {
                    p.cmd("DEL").arg(format!("tmp:{deleted}")).ignore();
                    deleted += 1;
                }
            }
            let () = p.query(&mut w).unwrap();
        }
    }
    // At least the 500 stable keys were returned, so 25 writer rounds ran during the scan.
    assert_eq!(inserted, INSERTS, "the writer ran during the scan");
    let missing: Vec<&String> = stable.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "{} stable keys never returned, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn randomkey() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(v(&mut r, &["RANDOMKEY"]), Value::Nil);
    ok(&mut r, &["MSET", "a", "1", "b", "2", "c", "3"]);
    let mut got = HashSet::new();
    for _ in 0..200 {
        got.insert(q::<String>(&mut r, &["RANDOMKEY"]));
    }
    assert!(got.iter().all(|k| ["a", "b", "c"].contains(&k.as_str())));
    assert!(got.len() >= 2, "RANDOMKEY always returned {got:?}");
    assert_eq!(e(&mut r, &["RANDOMKEY", "x"]), arity("randomkey"));
}

#[test]
fn rename_renamenx() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "a", "1", "EX", "100"]);
    ok(&mut r, &["RENAME", "a", "b"]);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "a"]), 0);
    assert_eq!(q::<String>(&mut r, &["GET", "b"]), "1");
    // The TTL moves with the value.
    between(q(&mut r, &["TTL", "b"]), 90, 100);
    // Overwrite: the destination's TTL is replaced by the source's (none).
    ok(&mut r, &["SET", "c", "3"]);
    ok(&mut r, &["RENAME", "c", "b"]);
    assert_eq!(q::<String>(&mut r, &["GET", "b"]), "3");
    assert_eq!(q::<i64>(&mut r, &["TTL", "b"]), -1);
    // Same name: OK when it exists.
    ok(&mut r, &["RENAME", "b", "b"]);
    assert_eq!(e(&mut r, &["RENAME", "nokey", "x"]), "ERR no such key");
    assert_eq!(e(&mut r, &["RENAME", "a"]), arity("rename"));

    ok(&mut r, &["SET", "x", "1"]);
    assert_eq!(q::<i64>(&mut r, &["RENAMENX", "x", "b"]), 0);
    assert_eq!(q::<String>(&mut r, &["GET", "x"]), "1");
    assert_eq!(q::<i64>(&mut r, &["RENAMENX", "x", "y"]), 1);
    assert_eq!(q::<String>(&mut r, &["GET", "y"]), "1");
    assert_eq!(q::<i64>(&mut r, &["RENAMENX", "y", "y"]), 0);
    assert_eq!(e(&mut r, &["RENAMENX", "nokey", "x"]), "ERR no such key");
    assert_eq!(e(&mut r, &["RENAMENX", "a", "b", "c"]), arity("renamenx"));
}

#[test]
fn copy_with_db_and_replace() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "src", "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut r, &["COPY", "src", "dst"]), 1);
    assert_eq!(q::<String>(&mut r, &["GET", "dst"]), "v");
    between(q(&mut r, &["TTL", "dst"]), 90, 100);
    ok(&mut r, &["SET", "src", "w"]);
    assert_eq!(q::<i64>(&mut r, &["COPY", "src", "dst"]), 0);
    assert_eq!(q::<String>(&mut r, &["GET", "dst"]), "v");
    assert_eq!(q::<i64>(&mut r, &["COPY", "src", "dst", "REPLACE"]), 1);
    assert_eq!(q::<String>(&mut r, &["GET", "dst"]), "w");
    assert_eq!(q::<i64>(&mut r, &["TTL", "dst"]), -1);
    assert_eq!(q::<i64>(&mut r, &["COPY", "nokey", "dst"]), 0);
    // Into another database.
    assert_eq!(q::<i64>(&mut r, &["COPY", "src", "src", "DB", "1"]), 1);
    assert_eq!(q::<i64>(&mut r, &["COPY", "src", "src", "DB", "1"]), 0);
    assert_eq!(
        q::<i64>(&mut r, &["COPY", "src", "src", "db", "1", "replace"]),
        1
    );
    ok(&mut r, &["SELECT", "1"]);
    assert_eq!(q::<String>(&mut r, &["GET", "src"]), "w");
    ok(&mut r, &["SELECT", "0"]);
    // The copy is independent of the source.
    assert_eq!(q::<i64>(&mut r, &["APPEND", "src", "x"]), 2);
    assert_eq!(q::<String>(&mut r, &["GET", "dst"]), "w");

    assert_eq!(
        e(&mut r, &["COPY", "src", "src"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        e(&mut r, &["COPY", "src", "x", "DB", "99"]),
        "ERR DB index is out of range"
    );
    assert_eq!(e(&mut r, &["COPY", "src", "x", "DB", "x"]), NOT_INT);
    assert_eq!(e(&mut r, &["COPY", "src", "x", "FOO"]), SYNTAX);
    assert_eq!(e(&mut r, &["COPY", "src", "x", "DB"]), SYNTAX);
    assert_eq!(e(&mut r, &["COPY", "src"]), arity("copy"));
}

#[test]
fn touch_and_object() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(
        &mut r,
        &["MSET", "a", "1", "b", "hello", "long", &"x".repeat(100)],
    );
    assert_eq!(q::<i64>(&mut r, &["TOUCH", "a", "a", "b", "nokey"]), 3);
    assert_eq!(q::<i64>(&mut r, &["TOUCH", "nokey"]), 0);
    assert_eq!(e(&mut r, &["TOUCH"]), arity("touch"));

    assert_eq!(q::<String>(&mut r, &["OBJECT", "ENCODING", "a"]), "int");
    assert_eq!(q::<String>(&mut r, &["OBJECT", "ENCODING", "b"]), "embstr");
    assert_eq!(q::<String>(&mut r, &["OBJECT", "ENCODING", "long"]), "raw");
    assert_eq!(q::<i64>(&mut r, &["APPEND", "b", "!"]), 6);
    assert_eq!(q::<String>(&mut r, &["object", "encoding", "b"]), "raw");
    assert_eq!(v(&mut r, &["OBJECT", "ENCODING", "nokey"]), Value::Nil);
    ok(&mut r, &["SET", "n", "12345678901"]);
    assert_eq!(q::<String>(&mut r, &["OBJECT", "ENCODING", "n"]), "int");
    ok(&mut r, &["SET", "e", "x".repeat(44).as_str()]);
    assert_eq!(q::<String>(&mut r, &["OBJECT", "ENCODING", "e"]), "embstr");
    ok(&mut r, &["SET", "e", "x".repeat(45).as_str()]);
    assert_eq!(q::<String>(&mut r, &["OBJECT", "ENCODING", "e"]), "raw");

    between(q(&mut r, &["OBJECT", "IDLETIME", "a"]), 0, 2);
    assert_eq!(v(&mut r, &["OBJECT", "IDLETIME", "nokey"]), Value::Nil);
    assert_eq!(q::<i64>(&mut r, &["OBJECT", "REFCOUNT", "b"]), 1);
    // Small integers are shared objects in Redis.
    assert_eq!(q::<i64>(&mut r, &["OBJECT", "REFCOUNT", "a"]), 2147483647);
    assert_eq!(v(&mut r, &["OBJECT", "REFCOUNT", "nokey"]), Value::Nil);
    assert_eq!(
        e(&mut r, &["OBJECT", "FREQ", "a"]),
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
    ok(
        &mut r,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
    );
    ok(&mut r, &["SET", "f", "v"]);
    // A new key starts at LFU_INIT_VAL (5).
    assert_eq!(q::<i64>(&mut r, &["OBJECT", "FREQ", "f"]), 5);
    assert_eq!(v(&mut r, &["OBJECT", "FREQ", "nokey"]), Value::Nil);
    assert_eq!(
        e(&mut r, &["OBJECT", "IDLETIME", "f"]),
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
    ok(&mut r, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);

    assert_eq!(
        e(&mut r, &["OBJECT", "FOO", "a"]),
        "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    );
    assert_eq!(e(&mut r, &["OBJECT"]), arity("object"));
    assert_eq!(e(&mut r, &["OBJECT", "ENCODING"]), arity("object|encoding"));
    let help: Vec<String> = q(&mut r, &["OBJECT", "HELP"]);
    assert!(help[0].starts_with("OBJECT <subcommand>"), "{help:?}");
}

/// With an LFU policy the first access of a new key always bumps its counter
/// (p = 1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1) = 1).
#[test]
#[ignore = "KNOWN BUG: no LFU counters are kept; OBJECT FREQ stays 5 after a GET (Redis: 6)"]
fn object_freq_counts_accesses() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(
        &mut r,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
    );
    ok(&mut r, &["SET", "f", "v"]);
    assert_eq!(q::<i64>(&mut r, &["OBJECT", "FREQ", "f"]), 5);
    assert_eq!(q::<String>(&mut r, &["GET", "f"]), "v");
    assert_eq!(q::<i64>(&mut r, &["OBJECT", "FREQ", "f"]), 6);
}

/// OBJECT IDLETIME grows while a key is not accessed; GET and TOUCH reset it, OBJECT
/// itself does not, nor does a read by a client in CLIENT NO-TOUCH mode (Redis 7.2).
#[test]
fn idletime_touch_and_no_touch() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["MSET", "a", "1", "b", "1", "c", "1", "d", "1"]);
    std::thread::sleep(Duration::from_millis(2600));
    let idle = |r: &mut redis::Connection, k: &str| q::<i64>(r, &["OBJECT", "IDLETIME", k]);
    between(idle(&mut r, "a"), 2, 4);
    between(idle(&mut r, "a"), 2, 4);
    assert_eq!(q::<i64>(&mut r, &["TOUCH", "b"]), 1);
    between(idle(&mut r, "b"), 0, 1);
    assert_eq!(q::<String>(&mut r, &["GET", "c"]), "1");
    between(idle(&mut r, "c"), 0, 1);
    if !s.is_redis() {
        ok(&mut r, &["CLIENT", "NO-TOUCH", "on"]);
        let info: String = q(&mut r, &["CLIENT", "INFO"]);
        assert!(info.contains(" flags=T "), "{info}");
        assert_eq!(q::<String>(&mut r, &["GET", "d"]), "1");
        between(idle(&mut r, "d"), 2, 4);
        ok(&mut r, &["CLIENT", "NO-TOUCH", "off"]);
        assert_eq!(q::<String>(&mut r, &["GET", "d"]), "1");
        between(idle(&mut r, "d"), 0, 1);
    }
}

#[test]
fn expire_family_and_options() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "k", "v"]);
    assert_eq!(q::<i64>(&mut r, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut r, &["PTTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut r, &["EXPIRETIME", "k"]), -1);
    assert_eq!(q::<i64>(&mut r, &["PEXPIRETIME", "k"]), -1);
    for c in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(q::<i64>(&mut r, &[c, "nokey"]), -2, "{c}");
    }
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "nokey", "100"]), 0);

    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "100"]), 1);
    between(q(&mut r, &["TTL", "k"]), 90, 100);
    between(q(&mut r, &["PTTL", "k"]), 90_000, 100_000);
    assert_eq!(q::<i64>(&mut r, &["PEXPIRE", "k", "200000"]), 1);
    between(q(&mut r, &["TTL", "k"]), 190, 200);
    let at = now_s() + 300;
    assert_eq!(q::<i64>(&mut r, &["EXPIREAT", "k", &at.to_string()]), 1);
    assert_eq!(q::<i64>(&mut r, &["EXPIRETIME", "k"]), at);
    assert_eq!(q::<i64>(&mut r, &["PEXPIRETIME", "k"]), at * 1000);
    let atms = now_ms() + 400_000;
    assert_eq!(q::<i64>(&mut r, &["PEXPIREAT", "k", &atms.to_string()]), 1);
    assert_eq!(q::<i64>(&mut r, &["PEXPIRETIME", "k"]), atms);
    assert_eq!(q::<i64>(&mut r, &["EXPIRETIME", "k"]), (atms + 500) / 1000);
    assert_eq!(r.expire::<_, i64>("k", 500).unwrap(), 1);
    between(r.ttl::<_, i64>("k").unwrap(), 490, 500);

    // PERSIST.
    assert_eq!(q::<i64>(&mut r, &["PERSIST", "k"]), 1);
    assert_eq!(q::<i64>(&mut r, &["PERSIST", "k"]), 0);
    assert_eq!(q::<i64>(&mut r, &["PERSIST", "nokey"]), 0);
    assert_eq!(q::<i64>(&mut r, &["TTL", "k"]), -1);

    // NX / XX / GT / LT. A key without TTL counts as an infinite TTL.
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "100", "LT"]), 1);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "200", "XX"]), 1);
    between(q(&mut r, &["TTL", "k"]), 190, 200);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "300", "GT"]), 1);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "400", "LT"]), 0);
    assert_eq!(q::<i64>(&mut r, &["PEXPIRE", "k", "250000", "lt"]), 1);
    between(q(&mut r, &["TTL", "k"]), 240, 250);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "300", "XX", "GT"]), 1);
    assert_eq!(q::<i64>(&mut r, &["PERSIST", "k"]), 1);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "k", "100", "NX"]), 1);
    let at = now_s() + 1000;
    assert_eq!(
        q::<i64>(&mut r, &["EXPIREAT", "k", &at.to_string(), "GT"]),
        1
    );
    assert_eq!(
        q::<i64>(
            &mut r,
            &["PEXPIREAT", "k", &(at * 1000 - 5000).to_string(), "GT"]
        ),
        0
    );
    assert_eq!(
        q::<i64>(
            &mut r,
            &["PEXPIREAT", "k", &(at * 1000 - 5000).to_string(), "LT"]
        ),
        1
    );

    // A TTL in the past deletes the key.
    ok(&mut r, &["SET", "gone", "v"]);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "gone", "-1"]), 1);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "gone"]), 0);
    ok(&mut r, &["SET", "gone", "v"]);
    assert_eq!(q::<i64>(&mut r, &["PEXPIREAT", "gone", "1"]), 1);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "gone"]), 0);
    ok(&mut r, &["SET", "gone", "v"]);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "gone", "0"]), 1);
    assert_eq!(q::<Option<String>>(&mut r, &["GET", "gone"]), None);

    assert_eq!(
        e(&mut r, &["EXPIRE", "k", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        e(&mut r, &["EXPIRE", "k", "10", "NX", "GT"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        e(&mut r, &["PEXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        e(&mut r, &["EXPIRE", "k", "10", "FOO"]),
        "ERR Unsupported option FOO"
    );
    assert_eq!(e(&mut r, &["EXPIRE", "k", "x"]), NOT_INT);
    assert_eq!(
        e(&mut r, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        e(&mut r, &["PEXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'pexpire' command"
    );
    assert_eq!(
        e(&mut r, &["EXPIREAT", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expireat' command"
    );
    assert_eq!(e(&mut r, &["EXPIRE", "k"]), arity("expire"));
    assert_eq!(e(&mut r, &["PEXPIREAT", "k"]), arity("pexpireat"));
    assert_eq!(e(&mut r, &["TTL"]), arity("ttl"));
    assert_eq!(e(&mut r, &["PTTL", "a", "b"]), arity("pttl"));
    assert_eq!(e(&mut r, &["EXPIRETIME"]), arity("expiretime"));
    assert_eq!(e(&mut r, &["PEXPIRETIME"]), arity("pexpiretime"));
    assert_eq!(e(&mut r, &["PERSIST"]), arity("persist"));
    // The key still has its last TTL after all the failures.
    assert!(q::<i64>(&mut r, &["TTL", "k"]) > 900);
}

fn expired_keys(r: &mut redis::Connection) -> i64 {
    let info: String = q(r, &["INFO", "stats"]);
    info_field(&info, "expired_keys")
        .expect("expired_keys")
        .parse()
        .expect("int")
}

#[test]
fn lazy_expiry() {
    let s = Srv::new();
    let mut r = s.redis();
    let before = expired_keys(&mut r);
    // Active expiry off: only the access below can remove the key.
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut r, &["SET", "keep", "v"]);
    // Set and read in one transaction: a read sent after would find it expired already
    // on a machine slow enough to take 50 ms between the two.
    let (got,): (Option<String>,) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k")
        .arg("v")
        .arg("PX")
        .arg(50)
        .ignore()
        .cmd("GET")
        .arg("k")
        .query(&mut r)
        .unwrap();
    assert_eq!(got, Some("v".into()));
    std::thread::sleep(Duration::from_millis(120));
    // DBSIZE does not look at TTLs: the expired key is still stored.
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 2);
    assert_eq!(expired_keys(&mut r), before);
    assert_eq!(q::<Option<String>>(&mut r, &["GET", "k"]), None);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "k"]), 0);
    assert_eq!(q::<i64>(&mut r, &["TTL", "k"]), -2);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 1);
    assert_eq!(expired_keys(&mut r), before + 1);
    // An expired key is gone for SET NX, INCR and friends too.
    ok(&mut r, &["SET", "n", "41", "PX", "30"]);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(q::<i64>(&mut r, &["INCR", "n"]), 1);
    ok(&mut r, &["SET", "nx", "old", "PX", "30"]);
    std::thread::sleep(Duration::from_millis(80));
    ok(&mut r, &["SET", "nx", "new", "NX"]);
    assert_eq!(q::<String>(&mut r, &["GET", "nx"]), "new");
}

#[test]
fn active_expiry() {
    let s = Srv::new();
    let mut r = s.redis();
    let before = expired_keys(&mut r);
    let mut p = redis::pipe();
    for i in 0..60 {
        p.cmd("SET")
            .arg(format!("v:{i}"))
            .arg("x")
            .arg("PX")
            .arg(100)
            .ignore();
    }
    for i in 0..5 {
        p.cmd("SET").arg(format!("p:{i}")).arg("x").ignore();
    }
    let () = p.query(&mut r).unwrap();
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 65);
    // Nothing touches the volatile keys: only the active cycle can remove them.
    let mut last = 65;
    let done = wait_until(Duration::from_secs(5), || {
        last = q::<i64>(&mut r, &["DBSIZE"]);
        last == 5
    });
    assert!(done, "active expiry left DBSIZE at {last}");
    assert_eq!(expired_keys(&mut r), before + 60);
    let info: String = q(&mut r, &["INFO", "keyspace"]);
    assert_eq!(
        info_field(&info, "db0").as_deref(),
        Some("keys=5,expires=0,avg_ttl=0")
    );
}
