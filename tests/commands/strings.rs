//! String and bitmap commands through redis-rs: GET/SET and every SET option, the SET
//! variants, GETEX/GETDEL/GETSET, MGET/MSET/MSETNX, APPEND/STRLEN/GETRANGE/SUBSTR/
//! SETRANGE, the counters, INCRBYFLOAT, LCS, and the bit commands, each with its error
//! replies as Redis 7.0.15 words them.

use redis::{Commands, ErrorKind, Value};

use crate::support::*;

#[test]
fn get_and_set_basic() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(r.get::<_, Option<String>>("k").unwrap(), None);
    let () = r.set("k", "v").unwrap();
    assert_eq!(r.get::<_, String>("k").unwrap(), "v");
    // Binary-safe values and keys, including the empty string.
    let bin: Vec<u8> = (0..=255u8).collect();
    let () = r.set(&bin[..], &bin[..]).unwrap();
    assert_eq!(r.get::<_, Vec<u8>>(&bin[..]).unwrap(), bin);
    ok(&mut r, &["SET", "", ""]);
    assert_eq!(
        q::<Option<String>>(&mut r, &["GET", ""]),
        Some(String::new())
    );
    // Overwrite drops the old value.
    ok(&mut r, &["SET", "k", "v2"]);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "v2");
    assert_eq!(e(&mut r, &["GET"]), arity("get"));
    assert_eq!(e(&mut r, &["GET", "a", "b"]), arity("get"));
    assert_eq!(e(&mut r, &["SET", "k"]), arity("set"));
    // A generic error is an ERR / ResponseError for redis-rs.
    let err = ee(&mut r, &["SET", "k", "v", "FOO"]);
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    assert_eq!(err_text(&err), SYNTAX);
}

#[test]
fn set_expire_options() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "ex", "v", "EX", "100"]);
    between(q(&mut r, &["TTL", "ex"]), 90, 100);
    ok(&mut r, &["SET", "px", "v", "PX", "100000"]);
    between(q(&mut r, &["PTTL", "px"]), 90_000, 100_000);
    let at = now_s() + 100;
    ok(&mut r, &["SET", "exat", "v", "EXAT", &at.to_string()]);
    between(q(&mut r, &["TTL", "exat"]), 90, 101);
    assert_eq!(q::<i64>(&mut r, &["EXPIRETIME", "exat"]), at);
    let atms = now_ms() + 100_000;
    ok(&mut r, &["SET", "pxat", "v", "PXAT", &atms.to_string()]);
    assert_eq!(q::<i64>(&mut r, &["PEXPIRETIME", "pxat"]), atms);
    // Lowercase options work too.
    ok(&mut r, &["set", "lc", "v", "ex", "50"]);
    between(q(&mut r, &["TTL", "lc"]), 40, 50);
    // A plain SET clears the TTL.
    ok(&mut r, &["SET", "ex", "v2"]);
    assert_eq!(q::<i64>(&mut r, &["TTL", "ex"]), -1);
    // An EXAT in the past stores nothing visible.
    ok(&mut r, &["SET", "past", "v", "PXAT", "1"]);
    assert_eq!(q::<Option<String>>(&mut r, &["GET", "past"]), None);

    let inv = "ERR invalid expire time in 'set' command";
    assert_eq!(e(&mut r, &["SET", "k", "v", "EX", "0"]), inv);
    assert_eq!(e(&mut r, &["SET", "k", "v", "EX", "-1"]), inv);
    assert_eq!(e(&mut r, &["SET", "k", "v", "PX", "0"]), inv);
    assert_eq!(e(&mut r, &["SET", "k", "v", "EXAT", "0"]), inv);
    assert_eq!(
        e(&mut r, &["SET", "k", "v", "EX", "9223372036854775807"]),
        inv
    );
    assert_eq!(
        e(&mut r, &["SET", "k", "v", "PX", "9223372036854775807"]),
        inv
    );
    assert_eq!(e(&mut r, &["SET", "k", "v", "EX", "abc"]), NOT_INT);
    assert_eq!(e(&mut r, &["SET", "k", "v", "EX"]), SYNTAX);
    assert_eq!(
        e(&mut r, &["SET", "k", "v", "EX", "10", "PX", "100"]),
        SYNTAX
    );
    assert_eq!(e(&mut r, &["SET", "k", "v", "KEEPTTL", "EX", "10"]), SYNTAX);
    // Nothing was written by the failures.
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "k"]), 0);
    // Repeating the same option is accepted; the last value wins.
    ok(&mut r, &["SET", "k", "v", "EX", "10", "EX", "100"]);
    between(q(&mut r, &["TTL", "k"]), 90, 100);
}

#[test]
fn set_nx_xx_keepttl_get() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(v(&mut r, &["SET", "k", "v", "XX"]), Value::Nil);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "k"]), 0);
    ok(&mut r, &["SET", "k", "v", "NX"]);
    assert_eq!(v(&mut r, &["SET", "k", "w", "NX"]), Value::Nil);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "v");
    ok(&mut r, &["SET", "k", "w", "XX"]);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "w");
    assert_eq!(e(&mut r, &["SET", "k", "v", "NX", "XX"]), SYNTAX);

    // KEEPTTL keeps the TTL, a plain overwrite drops it.
    ok(&mut r, &["SET", "t", "1", "EX", "100"]);
    ok(&mut r, &["SET", "t", "2", "KEEPTTL"]);
    between(q(&mut r, &["TTL", "t"]), 90, 100);
    assert_eq!(q::<String>(&mut r, &["GET", "t"]), "2");
    ok(&mut r, &["SET", "t", "3", "XX", "KEEPTTL"]);
    between(q(&mut r, &["TTL", "t"]), 90, 100);

    // GET returns the old value (nil when there was none) and still sets.
    assert_eq!(q::<Option<String>>(&mut r, &["SET", "g", "1", "GET"]), None);
    assert_eq!(
        q::<Option<String>>(&mut r, &["SET", "g", "2", "GET"]),
        Some("1".into())
    );
    assert_eq!(q::<String>(&mut r, &["GET", "g"]), "2");
    // GET with NX (allowed since 7.0): old value returned, nothing set.
    assert_eq!(
        q::<Option<String>>(&mut r, &["SET", "g", "3", "NX", "GET"]),
        Some("2".into())
    );
    assert_eq!(q::<String>(&mut r, &["GET", "g"]), "2");
    assert_eq!(
        q::<Option<String>>(&mut r, &["SET", "g2", "x", "NX", "GET"]),
        None
    );
    assert_eq!(q::<String>(&mut r, &["GET", "g2"]), "x");
    // GET with XX on a missing key: nil, nothing set.
    assert_eq!(
        q::<Option<String>>(&mut r, &["SET", "g3", "x", "XX", "GET"]),
        None
    );
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "g3"]), 0);
    // GET with EX sets the TTL.
    assert_eq!(
        q::<Option<String>>(&mut r, &["SET", "g", "4", "GET", "EX", "100"]),
        Some("2".into())
    );
    between(q(&mut r, &["TTL", "g"]), 90, 100);
}

#[test]
fn setnx_setex_psetex() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(q::<i64>(&mut r, &["SETNX", "k", "a"]), 1);
    assert_eq!(q::<i64>(&mut r, &["SETNX", "k", "b"]), 0);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "a");
    assert_eq!(e(&mut r, &["SETNX", "k"]), arity("setnx"));

    ok(&mut r, &["SETEX", "e", "100", "v"]);
    between(q(&mut r, &["TTL", "e"]), 90, 100);
    assert_eq!(q::<String>(&mut r, &["GET", "e"]), "v");
    assert_eq!(
        e(&mut r, &["SETEX", "e", "0", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        e(&mut r, &["SETEX", "e", "-5", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(e(&mut r, &["SETEX", "e", "abc", "v"]), NOT_INT);
    assert_eq!(e(&mut r, &["SETEX", "e", "10"]), arity("setex"));

    ok(&mut r, &["PSETEX", "p", "100000", "v"]);
    between(q(&mut r, &["PTTL", "p"]), 90_000, 100_000);
    assert_eq!(
        e(&mut r, &["PSETEX", "p", "-5", "v"]),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(e(&mut r, &["PSETEX", "p", "1.5", "v"]), NOT_INT);
    // The failed calls left the keys as they were.
    between(q(&mut r, &["TTL", "e"]), 90, 100);
}

#[test]
fn getex_getdel_getset() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(q::<Option<String>>(&mut r, &["GETEX", "nokey"]), None);
    assert_eq!(
        q::<Option<String>>(&mut r, &["GETEX", "nokey", "EX", "10"]),
        None
    );
    ok(&mut r, &["SET", "k", "v"]);
    assert_eq!(q::<String>(&mut r, &["GETEX", "k"]), "v");
    assert_eq!(q::<i64>(&mut r, &["TTL", "k"]), -1);
    assert_eq!(q::<String>(&mut r, &["GETEX", "k", "EX", "100"]), "v");
    between(q(&mut r, &["TTL", "k"]), 90, 100);
    assert_eq!(q::<String>(&mut r, &["GETEX", "k", "PX", "200000"]), "v");
    between(q(&mut r, &["TTL", "k"]), 190, 200);
    let at = now_s() + 300;
    assert_eq!(
        q::<String>(&mut r, &["GETEX", "k", "EXAT", &at.to_string()]),
        "v"
    );
    assert_eq!(q::<i64>(&mut r, &["EXPIRETIME", "k"]), at);
    let atms = now_ms() + 400_000;
    assert_eq!(
        q::<String>(&mut r, &["GETEX", "k", "PXAT", &atms.to_string()]),
        "v"
    );
    assert_eq!(q::<i64>(&mut r, &["PEXPIRETIME", "k"]), atms);
    assert_eq!(q::<String>(&mut r, &["GETEX", "k", "PERSIST"]), "v");
    assert_eq!(q::<i64>(&mut r, &["TTL", "k"]), -1);
    // A past absolute time deletes the key (the value is still returned).
    assert_eq!(q::<String>(&mut r, &["GETEX", "k", "PXAT", "1"]), "v");
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "k"]), 0);

    ok(&mut r, &["SET", "k", "v"]);
    let inv = "ERR invalid expire time in 'getex' command";
    assert_eq!(e(&mut r, &["GETEX", "k", "EX", "0"]), inv);
    assert_eq!(e(&mut r, &["GETEX", "k", "PX", "-1"]), inv);
    assert_eq!(e(&mut r, &["GETEX", "k", "EX", "x"]), NOT_INT);
    assert_eq!(e(&mut r, &["GETEX", "k", "EX", "10", "PX", "10"]), SYNTAX);
    assert_eq!(e(&mut r, &["GETEX", "k", "PERSIST", "EX", "10"]), SYNTAX);
    assert_eq!(e(&mut r, &["GETEX", "k", "FOO"]), SYNTAX);
    assert_eq!(e(&mut r, &["GETEX"]), arity("getex"));

    assert_eq!(
        q::<Option<String>>(&mut r, &["GETDEL", "k"]),
        Some("v".into())
    );
    assert_eq!(q::<Option<String>>(&mut r, &["GETDEL", "k"]), None);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "k"]), 0);
    assert_eq!(e(&mut r, &["GETDEL", "a", "b"]), arity("getdel"));

    assert_eq!(q::<Option<String>>(&mut r, &["GETSET", "gs", "1"]), None);
    assert_eq!(q::<i64>(&mut r, &["EXPIRE", "gs", "100"]), 1);
    assert_eq!(
        q::<Option<String>>(&mut r, &["GETSET", "gs", "2"]),
        Some("1".into())
    );
    assert_eq!(q::<String>(&mut r, &["GET", "gs"]), "2");
    // GETSET drops the TTL.
    assert_eq!(q::<i64>(&mut r, &["TTL", "gs"]), -1);
    assert_eq!(e(&mut r, &["GETSET", "gs"]), arity("getset"));
}

#[test]
fn mget_mset_msetnx() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["MSET", "a", "1", "b", "2", "a", "3"]);
    let got: Vec<Option<String>> = q(&mut r, &["MGET", "a", "b", "c"]);
    assert_eq!(got, vec![Some("3".into()), Some("2".into()), None]);
    let got: Vec<Option<String>> = r.mget(&["b", "nope"]).unwrap();
    assert_eq!(got, vec![Some("2".into()), None]);
    assert_eq!(e(&mut r, &["MSET", "a"]), arity("mset"));
    assert_eq!(e(&mut r, &["MSET", "a", "1", "b"]), arity("mset"));
    assert_eq!(e(&mut r, &["MGET"]), arity("mget"));

    assert_eq!(q::<i64>(&mut r, &["MSETNX", "x", "1", "y", "2"]), 1);
    assert_eq!(q::<i64>(&mut r, &["MSETNX", "y", "9", "z", "9"]), 0);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "z"]), 0);
    assert_eq!(q::<String>(&mut r, &["GET", "y"]), "2");
    assert_eq!(e(&mut r, &["MSETNX", "a", "1", "b"]), arity("msetnx"));
    // MSET clears TTLs of overwritten keys.
    ok(&mut r, &["SET", "t", "v", "EX", "100"]);
    ok(&mut r, &["MSET", "t", "w"]);
    assert_eq!(q::<i64>(&mut r, &["TTL", "t"]), -1);
}

#[test]
fn append_strlen_getrange_substr() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(q::<i64>(&mut r, &["APPEND", "k", "Hello"]), 5);
    assert_eq!(q::<i64>(&mut r, &["APPEND", "k", " World"]), 11);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "Hello World");
    assert_eq!(q::<i64>(&mut r, &["STRLEN", "k"]), 11);
    assert_eq!(q::<i64>(&mut r, &["STRLEN", "nokey"]), 0);
    // APPEND to an integer-encoded value.
    ok(&mut r, &["SET", "n", "12"]);
    assert_eq!(q::<i64>(&mut r, &["APPEND", "n", "34"]), 4);
    assert_eq!(q::<i64>(&mut r, &["INCR", "n"]), 1235);
    assert_eq!(e(&mut r, &["APPEND", "k"]), arity("append"));
    assert_eq!(e(&mut r, &["STRLEN"]), arity("strlen"));

    ok(&mut r, &["SET", "s", "This is a string"]);
    for (cmd, a, b, want) in [
        ("GETRANGE", "0", "3", "This"),
        ("GETRANGE", "-3", "-1", "ing"),
        ("GETRANGE", "0", "-1", "This is a string"),
        ("GETRANGE", "10", "100", "string"),
        ("GETRANGE", "5", "3", ""),
        ("GETRANGE", "-100", "2", "Thi"),
        ("GETRANGE", "100", "200", ""),
        ("SUBSTR", "0", "3", "This"),
        ("SUBSTR", "-3", "-1", "ing"),
    ] {
        assert_eq!(
            q::<String>(&mut r, &[cmd, "s", a, b]),
            want,
            "{cmd} {a} {b}"
        );
    }
    assert_eq!(q::<String>(&mut r, &["GETRANGE", "nokey", "0", "-1"]), "");
    assert_eq!(e(&mut r, &["GETRANGE", "s", "a", "b"]), NOT_INT);
    assert_eq!(e(&mut r, &["SUBSTR", "s", "0", "x"]), NOT_INT);
    assert_eq!(e(&mut r, &["GETRANGE", "s", "0"]), arity("getrange"));
    assert_eq!(e(&mut r, &["SUBSTR", "s", "0"]), arity("substr"));
}

#[test]
fn setrange() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "k", "Hello World"]);
    assert_eq!(q::<i64>(&mut r, &["SETRANGE", "k", "6", "Redis"]), 11);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "Hello Redis");
    // Padding with zero bytes on a missing key.
    assert_eq!(q::<i64>(&mut r, &["SETRANGE", "p", "3", "ab"]), 5);
    assert_eq!(q::<Vec<u8>>(&mut r, &["GET", "p"]), b"\0\0\0ab".to_vec());
    // An empty value on a missing key creates nothing.
    assert_eq!(q::<i64>(&mut r, &["SETRANGE", "none", "10", ""]), 0);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "none"]), 0);
    assert_eq!(q::<i64>(&mut r, &["SETRANGE", "k", "0", ""]), 11);
    assert_eq!(
        e(&mut r, &["SETRANGE", "k", "-1", "x"]),
        "ERR offset is out of range"
    );
    assert_eq!(e(&mut r, &["SETRANGE", "k", "x", "x"]), NOT_INT);
    assert_eq!(
        e(&mut r, &["SETRANGE", "k", "536870912", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(e(&mut r, &["SETRANGE", "k", "1"]), arity("setrange"));
}

#[test]
fn incr_decr_family() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(q::<i64>(&mut r, &["INCR", "n"]), 1);
    assert_eq!(q::<i64>(&mut r, &["INCRBY", "n", "10"]), 11);
    assert_eq!(q::<i64>(&mut r, &["DECR", "n"]), 10);
    assert_eq!(q::<i64>(&mut r, &["DECRBY", "n", "20"]), -10);
    assert_eq!(q::<i64>(&mut r, &["INCRBY", "n", "-5"]), -15);
    assert_eq!(q::<i64>(&mut r, &["DECR", "fresh"]), -1);
    assert_eq!(r.incr::<_, _, i64>("viaapi", 7).unwrap(), 7);
    assert_eq!(q::<String>(&mut r, &["GET", "n"]), "-15");
    // INCR keeps the TTL.
    ok(&mut r, &["SET", "t", "5", "EX", "100"]);
    assert_eq!(q::<i64>(&mut r, &["INCR", "t"]), 6);
    between(q(&mut r, &["TTL", "t"]), 90, 100);

    ok(&mut r, &["SET", "s", "abc"]);
    assert_eq!(e(&mut r, &["INCR", "s"]), NOT_INT);
    ok(&mut r, &["SET", "s", " 1"]);
    assert_eq!(e(&mut r, &["INCR", "s"]), NOT_INT);
    ok(&mut r, &["SET", "s", "1.5"]);
    assert_eq!(e(&mut r, &["DECR", "s"]), NOT_INT);
    assert_eq!(e(&mut r, &["INCRBY", "n", "x"]), NOT_INT);
    assert_eq!(e(&mut r, &["INCRBY", "n", "99999999999999999999"]), NOT_INT);
    ok(&mut r, &["SET", "max", "9223372036854775807"]);
    assert_eq!(
        e(&mut r, &["INCR", "max"]),
        "ERR increment or decrement would overflow"
    );
    ok(&mut r, &["SET", "min", "-9223372036854775808"]);
    assert_eq!(
        e(&mut r, &["DECR", "min"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        e(&mut r, &["INCRBY", "min", "-1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        e(&mut r, &["DECRBY", "x", "-9223372036854775808"]),
        "ERR decrement would overflow"
    );
    assert_eq!(q::<String>(&mut r, &["GET", "max"]), "9223372036854775807");
    assert_eq!(e(&mut r, &["INCR"]), arity("incr"));
    assert_eq!(e(&mut r, &["INCRBY", "n"]), arity("incrby"));
    assert_eq!(e(&mut r, &["DECR", "a", "b"]), arity("decr"));
    assert_eq!(e(&mut r, &["DECRBY", "n"]), arity("decrby"));
}

#[test]
fn incrbyfloat() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "f", "10.50"]);
    assert_eq!(q::<String>(&mut r, &["INCRBYFLOAT", "f", "0.1"]), "10.6");
    assert_eq!(q::<String>(&mut r, &["INCRBYFLOAT", "f", "-5"]), "5.6");
    assert_eq!(q::<String>(&mut r, &["GET", "f"]), "5.6");
    ok(&mut r, &["SET", "g", "5.0e3"]);
    assert_eq!(q::<String>(&mut r, &["INCRBYFLOAT", "g", "2.0e2"]), "5200");
    assert_eq!(q::<String>(&mut r, &["INCRBYFLOAT", "new", "3"]), "3");
    assert_eq!(q::<String>(&mut r, &["INCRBYFLOAT", "new", "-3"]), "0");
    assert_eq!(r.incr::<_, _, f64>("api", 1.5f64).unwrap(), 1.5);
    // Keeps the TTL.
    ok(&mut r, &["SET", "t", "1", "EX", "100"]);
    assert_eq!(q::<String>(&mut r, &["INCRBYFLOAT", "t", "0.5"]), "1.5");
    between(q(&mut r, &["TTL", "t"]), 90, 100);

    assert_eq!(
        e(&mut r, &["INCRBYFLOAT", "f", "inf"]),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(
        e(&mut r, &["INCRBYFLOAT", "f", "abc"]),
        "ERR value is not a valid float"
    );
    ok(&mut r, &["SET", "s", "abc"]);
    assert_eq!(
        e(&mut r, &["INCRBYFLOAT", "s", "1"]),
        "ERR value is not a valid float"
    );
    assert_eq!(e(&mut r, &["INCRBYFLOAT", "f"]), arity("incrbyfloat"));
    assert_eq!(q::<String>(&mut r, &["GET", "f"]), "5.6");
}

/// Redis adds in long double (x86-64): DBL_MAX + DBL_MAX is still finite there.
#[test]
fn incrbyfloat_long_double_range() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "f", "1.7976931348623157e308"]);
    let got: String = q(&mut r, &["INCRBYFLOAT", "f", "1.7976931348623157e308"]);
    assert!(got.starts_with("35953862697246313999184209354820886809677289388865835697"));
    assert_eq!(got.len(), 309);
}

#[test]
fn lcs() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
    assert_eq!(q::<String>(&mut r, &["LCS", "key1", "key2"]), "mytext");
    assert_eq!(q::<i64>(&mut r, &["LCS", "key1", "key2", "LEN"]), 6);
    assert_eq!(q::<String>(&mut r, &["LCS", "key1", "nokey"]), "");
    let idx = v(
        &mut r,
        &[
            "LCS",
            "key1",
            "key2",
            "IDX",
            "MINMATCHLEN",
            "4",
            "WITHMATCHLEN",
        ],
    );
    let want = Value::Array(vec![
        Value::BulkString(b"matches".to_vec()),
        Value::Array(vec![Value::Array(vec![
            Value::Array(vec![Value::Int(4), Value::Int(7)]),
            Value::Array(vec![Value::Int(5), Value::Int(8)]),
            Value::Int(4),
        ])]),
        Value::BulkString(b"len".to_vec()),
        Value::Int(6),
    ]);
    assert_eq!(idx, want);
    let idx = v(&mut r, &["LCS", "key1", "key2", "IDX"]);
    let want = Value::Array(vec![
        Value::BulkString(b"matches".to_vec()),
        Value::Array(vec![
            Value::Array(vec![
                Value::Array(vec![Value::Int(4), Value::Int(7)]),
                Value::Array(vec![Value::Int(5), Value::Int(8)]),
            ]),
            Value::Array(vec![
                Value::Array(vec![Value::Int(2), Value::Int(3)]),
                Value::Array(vec![Value::Int(0), Value::Int(1)]),
            ]),
        ]),
        Value::BulkString(b"len".to_vec()),
        Value::Int(6),
    ]);
    assert_eq!(idx, want);
    assert_eq!(
        e(&mut r, &["LCS", "key1", "key2", "LEN", "IDX"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    assert_eq!(e(&mut r, &["LCS", "key1", "key2", "FOO"]), SYNTAX);
    assert_eq!(
        e(&mut r, &["LCS", "key1", "key2", "MINMATCHLEN", "x"]),
        NOT_INT
    );
    assert_eq!(e(&mut r, &["LCS", "key1"]), arity("lcs"));
}

#[test]
fn setbit_getbit() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(q::<i64>(&mut r, &["SETBIT", "b", "7", "1"]), 0);
    assert_eq!(q::<i64>(&mut r, &["SETBIT", "b", "7", "1"]), 1);
    assert_eq!(q::<i64>(&mut r, &["GETBIT", "b", "7"]), 1);
    assert_eq!(q::<i64>(&mut r, &["GETBIT", "b", "6"]), 0);
    assert_eq!(q::<i64>(&mut r, &["GETBIT", "b", "1000"]), 0);
    assert_eq!(q::<i64>(&mut r, &["GETBIT", "nokey", "0"]), 0);
    assert_eq!(q::<Vec<u8>>(&mut r, &["GET", "b"]), vec![1u8]);
    assert_eq!(q::<i64>(&mut r, &["SETBIT", "b", "23", "1"]), 0);
    assert_eq!(q::<i64>(&mut r, &["STRLEN", "b"]), 3);
    assert_eq!(q::<i64>(&mut r, &["SETBIT", "b", "7", "0"]), 1);
    assert!(!q::<bool>(&mut r, &["GETBIT", "b", "7"]));
    assert_eq!(
        e(&mut r, &["SETBIT", "b", "7", "2"]),
        "ERR bit is not an integer or out of range"
    );
    let off = "ERR bit offset is not an integer or out of range";
    assert_eq!(e(&mut r, &["SETBIT", "b", "-1", "1"]), off);
    assert_eq!(e(&mut r, &["SETBIT", "b", "4294967296", "1"]), off);
    assert_eq!(e(&mut r, &["GETBIT", "b", "x"]), off);
    assert_eq!(e(&mut r, &["GETBIT", "b"]), arity("getbit"));
    assert_eq!(e(&mut r, &["SETBIT", "b", "1"]), arity("setbit"));
}

#[test]
fn bitcount_bitpos() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "foo", "foobar"]);
    assert_eq!(q::<i64>(&mut r, &["BITCOUNT", "foo"]), 26);
    assert_eq!(q::<i64>(&mut r, &["BITCOUNT", "foo", "0", "0"]), 4);
    assert_eq!(q::<i64>(&mut r, &["BITCOUNT", "foo", "1", "1"]), 6);
    assert_eq!(q::<i64>(&mut r, &["BITCOUNT", "foo", "1", "1", "BIT"]), 1);
    assert_eq!(q::<i64>(&mut r, &["BITCOUNT", "foo", "5", "30", "BIT"]), 17);
    assert_eq!(
        q::<i64>(&mut r, &["BITCOUNT", "foo", "-2", "-1", "BYTE"]),
        7
    );
    assert_eq!(q::<i64>(&mut r, &["BITCOUNT", "nokey"]), 0);
    assert_eq!(e(&mut r, &["BITCOUNT", "foo", "0"]), SYNTAX);
    assert_eq!(e(&mut r, &["BITCOUNT", "foo", "0", "1", "FOO"]), SYNTAX);
    assert_eq!(e(&mut r, &["BITCOUNT", "foo", "a", "1"]), NOT_INT);
    assert_eq!(e(&mut r, &["BITCOUNT"]), arity("bitcount"));

    let set = |r: &mut redis::Connection, k: &str, bytes: &[u8]| {
        let () = r.set(k, bytes).unwrap();
    };
    set(&mut r, "a", b"\xff\xf0\x00");
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "a", "0"]), 12);
    set(&mut r, "m", b"\x00\xff\xf0");
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "m", "1", "0"]), 8);
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "m", "1", "2"]), 16);
    assert_eq!(
        q::<i64>(&mut r, &["BITPOS", "m", "1", "2", "-1", "BYTE"]),
        16
    );
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "m", "1", "7", "15", "BIT"]), 8);
    set(&mut r, "z", b"\x00\x00\x00");
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "z", "1"]), -1);
    assert_eq!(
        q::<i64>(&mut r, &["BITPOS", "z", "1", "7", "-3", "BIT"]),
        -1
    );
    set(&mut r, "f", b"\xff\xff\xff");
    // All ones, no end given: the first zero is past the string.
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "f", "0"]), 24);
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "f", "0", "0", "-1"]), -1);
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "nokey", "0"]), 0);
    assert_eq!(q::<i64>(&mut r, &["BITPOS", "nokey", "1"]), -1);
    assert_eq!(
        e(&mut r, &["BITPOS", "a", "2"]),
        "ERR The bit argument must be 1 or 0."
    );
    assert_eq!(e(&mut r, &["BITPOS", "a", "1", "0", "-1", "FOO"]), SYNTAX);
    assert_eq!(e(&mut r, &["BITPOS", "a", "1", "x"]), NOT_INT);
    assert_eq!(e(&mut r, &["BITPOS", "a"]), arity("bitpos"));
}

#[test]
fn bitop() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["MSET", "k1", "foobar", "k2", "abcdef"]);
    assert_eq!(q::<i64>(&mut r, &["BITOP", "AND", "d", "k1", "k2"]), 6);
    assert_eq!(q::<String>(&mut r, &["GET", "d"]), "`bc`ab");
    assert_eq!(q::<i64>(&mut r, &["BITOP", "OR", "d", "k1", "k2"]), 6);
    assert_eq!(q::<String>(&mut r, &["GET", "d"]), "goofev");
    assert_eq!(q::<i64>(&mut r, &["BITOP", "XOR", "d", "k1", "k2"]), 6);
    assert_eq!(
        q::<Vec<u8>>(&mut r, &["GET", "d"]),
        vec![7, 13, 12, 6, 4, 20]
    );
    let () = r.set("one", b"\x0f\xf0".as_slice()).unwrap();
    assert_eq!(q::<i64>(&mut r, &["BITOP", "NOT", "d", "one"]), 2);
    assert_eq!(q::<Vec<u8>>(&mut r, &["GET", "d"]), vec![0xf0, 0x0f]);
    // Shorter inputs are zero-padded.
    ok(&mut r, &["SET", "short", "\u{7f}"]);
    assert_eq!(q::<i64>(&mut r, &["BITOP", "OR", "d", "short", "one"]), 2);
    assert_eq!(q::<Vec<u8>>(&mut r, &["GET", "d"]), vec![0x7f, 0xf0]);
    // Missing sources only: the destination is deleted, 0 returned.
    assert_eq!(q::<i64>(&mut r, &["BITOP", "AND", "d", "no1", "no2"]), 0);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "d"]), 0);
    assert_eq!(
        e(&mut r, &["BITOP", "NOT", "d", "k1", "k2"]),
        "ERR BITOP NOT must be called with a single source key."
    );
    assert_eq!(e(&mut r, &["BITOP", "FOO", "d", "k1"]), SYNTAX);
    assert_eq!(e(&mut r, &["BITOP", "AND", "d"]), arity("bitop"));
}

#[test]
fn bitfield_and_bitfield_ro() {
    let s = Srv::new();
    let mut r = s.redis();
    let got: Vec<i64> = q(
        &mut r,
        &[
            "BITFIELD", "bf", "INCRBY", "i5", "100", "1", "GET", "u4", "0",
        ],
    );
    assert_eq!(got, vec![1, 0]);
    let got: Vec<i64> = q(
        &mut r,
        &[
            "BITFIELD", "bf", "SET", "u8", "#1", "255", "GET", "u8", "8", "GET", "i8", "8",
        ],
    );
    assert_eq!(got, vec![0, 255, -1]);
    // Overflow control: WRAP (default), SAT, FAIL (nil).
    let got = v(
        &mut r,
        &[
            "BITFIELD", "o", "SET", "u2", "0", "3", "INCRBY", "u2", "0", "1", "OVERFLOW", "SAT",
            "INCRBY", "u2", "0", "5", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "1",
        ],
    );
    assert_eq!(
        got,
        Value::Array(vec![
            Value::Int(0),
            Value::Int(0),
            Value::Int(3),
            Value::Nil
        ])
    );
    let got: Vec<i64> = q(
        &mut r,
        &[
            "BITFIELD", "o", "OVERFLOW", "SAT", "INCRBY", "i8", "8", "-200",
        ],
    );
    assert_eq!(got, vec![-128]);
    let got: Vec<i64> = q(
        &mut r,
        &[
            "BITFIELD", "i64", "SET", "i64", "0", "-1", "GET", "i64", "0",
        ],
    );
    assert_eq!(got, vec![0, -1]);
    assert_eq!(v(&mut r, &["BITFIELD", "bf"]), Value::Array(vec![]));

    let got: Vec<i64> = q(
        &mut r,
        &["BITFIELD_RO", "bf", "GET", "u8", "8", "GET", "u4", "0"],
    );
    assert_eq!(got, vec![255, 0]);
    let got: Vec<i64> = q(&mut r, &["BITFIELD_RO", "nokey", "GET", "u8", "0"]);
    assert_eq!(got, vec![0]);

    let ty = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    assert_eq!(e(&mut r, &["BITFIELD", "bf", "GET", "u64", "0"]), ty);
    assert_eq!(e(&mut r, &["BITFIELD", "bf", "GET", "x8", "0"]), ty);
    assert_eq!(
        e(&mut r, &["BITFIELD", "bf", "GET", "i8", "-1"]),
        "ERR bit offset is not an integer or out of range"
    );
    assert_eq!(
        e(&mut r, &["BITFIELD", "bf", "SET", "i8", "0", "x"]),
        NOT_INT
    );
    assert_eq!(
        e(&mut r, &["BITFIELD", "bf", "OVERFLOW", "FOO"]),
        "ERR Invalid OVERFLOW type specified"
    );
    assert_eq!(e(&mut r, &["BITFIELD", "bf", "FOO"]), SYNTAX);
    assert_eq!(e(&mut r, &["BITFIELD", "bf", "GET", "u8"]), SYNTAX);
    assert_eq!(
        e(&mut r, &["BITFIELD_RO", "bf", "SET", "u8", "0", "1"]),
        "ERR BITFIELD_RO only supports the GET subcommand"
    );
    assert_eq!(
        e(&mut r, &["BITFIELD_RO", "bf", "INCRBY", "u8", "0", "1"]),
        "ERR BITFIELD_RO only supports the GET subcommand"
    );
    assert_eq!(e(&mut r, &["BITFIELD"]), arity("bitfield"));
    assert_eq!(e(&mut r, &["BITFIELD_RO"]), arity("bitfield_ro"));
    // Nothing changed by the failing calls.
    let got: Vec<i64> = q(&mut r, &["BITFIELD_RO", "bf", "GET", "u8", "8"]);
    assert_eq!(got, vec![255]);
}

/// String commands on a key of another type (a list made with LPUSH).
#[test]
fn wrongtype_errors() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(q::<i64>(&mut r, &["LPUSH", "l", "a"]), 1);
    ok(&mut r, &["SET", "s", "foobar"]);
    let err = ee(&mut r, &["GET", "l"]);
    assert_eq!(err.kind(), redis::ErrorKind::ExtensionError);
    assert_eq!(err.code(), Some("WRONGTYPE"));
    let wt = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(err_text(&err), wt);
    for args in [
        &["APPEND", "l", "x"][..],
        &["STRLEN", "l"],
        &["GETRANGE", "l", "0", "-1"],
        &["SUBSTR", "l", "0", "-1"],
        &["SETRANGE", "l", "0", "x"],
        &["INCR", "l"],
        &["INCRBY", "l", "2"],
        &["DECR", "l"],
        &["DECRBY", "l", "2"],
        &["INCRBYFLOAT", "l", "1.5"],
        &["GETSET", "l", "x"],
        &["GETDEL", "l"],
        &["GETEX", "l", "EX", "10"],
        &["SET", "l", "x", "GET"],
        &["SETBIT", "l", "0", "1"],
        &["GETBIT", "l", "0"],
        &["BITCOUNT", "l"],
        &["BITPOS", "l", "1"],
        &["BITFIELD", "l", "GET", "u8", "0"],
        &["BITFIELD_RO", "l", "GET", "u8", "0"],
        &["BITOP", "AND", "d", "s", "l"],
    ] {
        assert_eq!(e(&mut r, args), wt, "{args:?}");
    }
    assert_eq!(
        e(&mut r, &["LCS", "s", "l"]),
        "ERR The specified keys must contain string values"
    );
    // MGET answers nil for a non-string; SETNX/MSETNX see the key as existing.
    let got: Vec<Option<String>> = q(&mut r, &["MGET", "s", "l"]);
    assert_eq!(got, vec![Some("foobar".into()), None]);
    assert_eq!(q::<i64>(&mut r, &["SETNX", "l", "x"]), 0);
    assert_eq!(q::<i64>(&mut r, &["MSETNX", "l", "x", "n", "1"]), 0);
    assert_eq!(q::<String>(&mut r, &["TYPE", "l"]), "list");
    let (_, keys): (String, Vec<String>) =
        q(&mut r, &["SCAN", "0", "COUNT", "100", "TYPE", "list"]);
    assert_eq!(keys, ["l"]);
    // A plain SET replaces the list.
    ok(&mut r, &["SET", "l", "x"]);
    assert_eq!(q::<String>(&mut r, &["GET", "l"]), "x");
}
