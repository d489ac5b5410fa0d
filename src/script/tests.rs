//! Unit tests of the script layer alone (no command table): conversions in both
//! directions and both protocols, the sandbox, the `redis` library and `bit`/`cjson`.

use bytes::Bytes;

use super::{Host, Scripts};
use crate::resp::Reply;

/// A host that answers `redis.call` from a fixed table and records the calls.
struct Canned {
    calls: Vec<Vec<String>>,
}

impl Host for Canned {
    fn call(&mut self, argv: &[Bytes], _resp: u8) -> Reply {
        let words: Vec<String> = argv
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        self.calls.push(words.clone());
        let b = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
        match words[0].as_str() {
            "map" => Reply::Map(vec![(b("f"), b("v"))]),
            "set" => Reply::Set(vec![b("m")]),
            "double" => Reply::Double(1.5),
            "bool" => Reply::Bool(true),
            "null" => Reply::Null,
            "nullarray" => Reply::NullArray,
            "status" => Reply::Simple("PONG".into()),
            "err" => Reply::Error("WRONGTYPE Operation against a key".into()),
            "bare" => Reply::Error("OOPS".into()),
            "int" => Reply::Int(7),
            "arr" => Reply::Array(vec![Reply::Int(1), b("two"), Reply::Null]),
            "verb" => Reply::Verbatim("txt", Bytes::from_static(b"hello")),
            _ => b("echo"),
        }
    }
    fn acl_check(&mut self, argv: &[Bytes]) -> Option<bool> {
        (argv[0] == b"get"[..]).then_some(true)
    }
}

fn eval(s: &mut Scripts, body: &str, keys: &[&str], args: &[&str]) -> Reply {
    let sha = match s.load(body.as_bytes()) {
        Ok(sha) => sha,
        Err(e) => return Reply::Error(e),
    };
    let to = |v: &[&str]| -> Vec<Bytes> {
        v.iter()
            .map(|x| Bytes::copy_from_slice(x.as_bytes()))
            .collect()
    };
    let mut host = Canned { calls: Vec::new() };
    s.run(&sha, &to(keys), &to(args), &mut host)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn lua_to_reply_rules() {
    let _lua = crate::script::test_lock::shared();
    let mut s = Scripts::default();
    assert_eq!(eval(&mut s, "return 3.99", &[], &[]), Reply::Int(3));
    assert_eq!(eval(&mut s, "return -3.99", &[], &[]), Reply::Int(-3));
    assert_eq!(eval(&mut s, "return 2^63", &[], &[]), Reply::Int(i64::MIN));
    assert_eq!(eval(&mut s, "return true", &[], &[]), Reply::Int(1));
    assert_eq!(eval(&mut s, "return false", &[], &[]), Reply::Null);
    assert_eq!(eval(&mut s, "return nil", &[], &[]), Reply::Null);
    assert_eq!(
        eval(&mut s, "return {1, 'a', nil, 3}", &[], &[]),
        Reply::Array(vec![Reply::Int(1), bulk("a")])
    );
    assert_eq!(
        eval(&mut s, "return {ok='fine'}", &[], &[]),
        Reply::Simple("fine".into())
    );
    assert_eq!(
        eval(&mut s, "return {err='My Error'}", &[], &[]),
        Reply::Error("My Error".into())
    );
    assert_eq!(
        eval(&mut s, "return {double=2.5}", &[], &[]),
        Reply::Double(2.5)
    );
    assert_eq!(
        eval(&mut s, "return {map={a=1}}", &[], &[]),
        Reply::Map(vec![(bulk("a"), Reply::Int(1))])
    );
    assert_eq!(
        eval(&mut s, "return {set={x=true}}", &[], &[]),
        Reply::Set(vec![bulk("x")])
    );
    assert_eq!(
        eval(&mut s, "redis.setresp(3); return false", &[], &[]),
        Reply::Bool(false)
    );
    assert_eq!(
        eval(&mut s, "return {KEYS[1], ARGV[2]}", &["k"], &["a", "b"]),
        Reply::Array(vec![bulk("k"), bulk("b")])
    );
}

#[test]
fn reply_to_lua_rules_resp2_and_resp3() {
    let _lua = crate::script::test_lock::shared();
    let mut s = Scripts::default();
    let r2 = |s: &mut Scripts, body: &str| eval(s, body, &[], &[]);
    assert_eq!(
        r2(&mut s, "local r = redis.call('map'); return {r[1], r[2]}"),
        Reply::Array(vec![bulk("f"), bulk("v")])
    );
    assert_eq!(r2(&mut s, "return redis.call('double')"), bulk("1.5"));
    assert_eq!(r2(&mut s, "return redis.call('bool')"), Reply::Int(1));
    assert_eq!(
        r2(&mut s, "return type(redis.call('null'))"),
        bulk("boolean")
    );
    assert_eq!(
        r2(&mut s, "return type(redis.call('nullarray'))"),
        bulk("boolean")
    );
    assert_eq!(r2(&mut s, "return redis.call('status').ok"), bulk("PONG"));
    assert_eq!(r2(&mut s, "return redis.call('verb')"), bulk("hello"));
    assert_eq!(
        r2(&mut s, "return redis.call('arr')"),
        Reply::Array(vec![Reply::Int(1), bulk("two"), Reply::Null])
    );
    let r3 = |s: &mut Scripts, body: &str| eval(s, &format!("redis.setresp(3); {body}"), &[], &[]);
    assert_eq!(r3(&mut s, "return redis.call('map').map.f"), bulk("v"));
    assert_eq!(
        r3(&mut s, "return tostring(redis.call('set').set.m)"),
        bulk("true")
    );
    assert_eq!(
        r3(&mut s, "return redis.call('double').double"),
        Reply::Int(1)
    );
    assert_eq!(
        r3(&mut s, "return redis.call('double')"),
        Reply::Double(1.5)
    );
    assert_eq!(r3(&mut s, "return type(redis.call('null'))"), bulk("nil"));
    assert_eq!(r3(&mut s, "return redis.call('bool')"), Reply::Bool(true));
    assert_eq!(
        r3(&mut s, "return redis.call('verb').verbatim_string.format"),
        bulk("txt")
    );
}

#[test]
fn errors_from_calls() {
    let _lua = crate::script::test_lock::shared();
    let mut s = Scripts::default();
    let Reply::Error(e) = eval(&mut s, "return redis.call('err')", &[], &[]) else {
        panic!()
    };
    assert!(
        e.starts_with("WRONGTYPE Operation against a key script: ")
            && e.ends_with(", on @user_script:1."),
        "{e}"
    );
    assert_eq!(
        eval(&mut s, "return redis.pcall('bare')", &[], &[]),
        Reply::Error("ERR OOPS".into())
    );
    assert_eq!(
        eval(
            &mut s,
            "local ok, e = pcall(redis.call, 'err'); return e",
            &[],
            &[]
        ),
        bulk("WRONGTYPE Operation against a key")
    );
    assert_eq!(
        eval(&mut s, "return redis.pcall({})", &[], &[]),
        Reply::Error("ERR Lua redis lib command arguments must be strings or integers".into())
    );
    let Reply::Error(e) = eval(&mut s, "\n\nerror('boom')", &[], &[]) else {
        panic!()
    };
    assert!(e.starts_with("ERR user_script:3: boom script: "), "{e}");
    assert!(e.ends_with("on @user_script:3."), "{e}");
    let Reply::Error(e) = eval(&mut s, "return +", &[], &[]) else {
        panic!()
    };
    assert_eq!(
        e,
        "ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'"
    );
}

#[test]
fn arguments_are_converted_like_redis() {
    let _lua = crate::script::test_lock::shared();
    let mut s = Scripts::default();
    let sha = s.load(b"return redis.call('x', 3, 3.7, 'a')").unwrap();
    let mut host = Canned { calls: Vec::new() };
    s.run(&sha, &[], &[], &mut host);
    assert_eq!(host.calls, vec![vec!["x", "3", "3.7000000000000002", "a"]]);
}

#[test]
fn sandbox() {
    let _lua = crate::script::test_lock::shared();
    let mut s = Scripts::default();
    for body in [
        "return os",
        "return io",
        "return debug",
        "return dofile",
        "return loadfile",
        "return print",
        "return require",
        "return setfenv",
        "return getfenv",
        "return newproxy",
    ] {
        let Reply::Error(e) = eval(&mut s, body, &[], &[]) else {
            panic!("{body} is reachable")
        };
        assert!(
            e.contains("Script attempted to access nonexistent global variable"),
            "{e}"
        );
    }
    for body in [
        "x = 1",
        "string.x = 1",
        "redis.call = nil",
        "rawset(_G, 'y', 1)",
        "_G.z = 1",
        "bit.band = 1",
    ] {
        let Reply::Error(e) = eval(&mut s, body, &[], &[]) else {
            panic!("{body} succeeded")
        };
        assert!(
            e.contains("Attempt to modify a readonly table"),
            "{body}: {e}"
        );
    }
    // loadstring'd code runs in the sandbox too.
    let Reply::Error(e) = eval(&mut s, "return loadstring('return os')()", &[], &[]) else {
        panic!()
    };
    assert!(e.contains("nonexistent global variable 'os'"), "{e}");
    assert_eq!(
        eval(&mut s, "local t = {}; t.a = 1; return t.a", &[], &[]),
        Reply::Int(1)
    );
    assert_eq!(
        eval(&mut s, "return redis.acl_check_cmd('get')", &[], &[]),
        Reply::Int(1)
    );
}

#[test]
fn libraries() {
    let _lua = crate::script::test_lock::shared();
    let mut s = Scripts::default();
    assert_eq!(
        eval(&mut s, "return {bit.band(12, 10), bit.bor(12, 10), bit.bxor(12, 10), bit.bnot(0), bit.lshift(1, 4), bit.arshift(-256, 4)}", &[], &[]),
        Reply::Array([8, 14, 6, -1, 16, -16].into_iter().map(Reply::Int).collect())
    );
    assert_eq!(
        eval(&mut s, "return bit.tohex(65535, -4)", &[], &[]),
        bulk("FFFF")
    );
    assert_eq!(
        eval(&mut s, "return cjson.encode({a = {1, 2, 'x'}})", &[], &[]),
        bulk("{\"a\":[1,2,\"x\"]}")
    );
    assert_eq!(
        eval(
            &mut s,
            "return cjson.decode('{\"a\":[1,{\"b\":\"c\"}]}').a[2].b",
            &[],
            &[]
        ),
        bulk("c")
    );
    assert_eq!(
        eval(
            &mut s,
            "math.randomseed(0); return tostring(math.random())",
            &[],
            &[]
        ),
        bulk("0.17082803611217")
    );
    assert_eq!(
        eval(&mut s, "return redis.sha1hex('abc')", &[], &[]),
        bulk("a9993e364706816aba3e25717850c26c9cd0d89d")
    );
}

#[test]
fn cache_and_flush() {
    let _lua = crate::script::test_lock::shared();
    let mut s = Scripts::default();
    let sha = s.load(b"return 1").unwrap();
    assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    assert!(s.exists(b"E0E1F9FABFC9D4800C877A703B823AC0578FF8DB"));
    assert_eq!(s.len(), 1);
    s.flush();
    assert!(!s.exists(sha.as_bytes()));
    let mut host = Canned { calls: Vec::new() };
    assert_eq!(
        s.run(&sha, &[], &[], &mut host),
        Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into())
    );
}
