//! Connection and server commands through redis-rs: PING/ECHO/QUIT/RESET, SELECT/
//! SWAPDB/MOVE, HELLO (RESP2 and RESP3, AUTH and SETNAME), AUTH against `requirepass`,
//! the CLIENT subcommands (KILL disconnecting another connection), INFO sections,
//! CONFIG GET/SET/RESETSTAT, DBSIZE/FLUSHDB/FLUSHALL, TIME/LASTSAVE, SHUTDOWN NOSAVE,
//! DEBUG SLEEP/RELOAD and COMMAND.

use std::collections::HashMap;
use std::time::Duration;

use redis::{Commands, ErrorKind, Value};

use crate::common::V;
use crate::support::*;

/// The id of a connection (CLIENT ID).
fn client_id(r: &mut redis::Connection) -> i64 {
    q(r, &["CLIENT", "ID"])
}

/// Turn a RESP2 flat `[k, v, k, v …]` or a RESP3 map into (text key → value).
fn pairs(v: Value) -> HashMap<String, Value> {
    match v {
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| (redis::from_redis_value::<String>(&k).expect("key"), v))
            .collect(),
        Value::Array(a) => a
            .chunks(2)
            .map(|kv| {
                (
                    redis::from_redis_value::<String>(&kv[0]).expect("key"),
                    kv[1].clone(),
                )
            })
            .collect(),
        other => panic!("not a map: {other:?}"),
    }
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// A connection the server closed: the next command fails with an I/O-level error.
fn assert_dropped(r: &mut redis::Connection) {
    let res = redis::cmd("PING").query::<Value>(r);
    let err = res.expect_err("connection should be closed");
    assert!(
        err.is_io_error() || err.is_connection_dropped() || err.kind() == ErrorKind::IoError,
        "{err:?}"
    );
}

#[test]
fn ping_echo() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(v(&mut r, &["PING"]), Value::SimpleString("PONG".into()));
    assert_eq!(v(&mut r, &["PING", "hi there"]), bulk("hi there"));
    assert_eq!(q::<String>(&mut r, &["ECHO", "hello"]), "hello");
    assert_eq!(q::<Vec<u8>>(&mut r, &["ECHO", ""]), b"".to_vec());
    assert_eq!(e(&mut r, &["PING", "a", "b"]), arity("ping"));
    assert_eq!(e(&mut r, &["ECHO"]), arity("echo"));
    assert_eq!(e(&mut r, &["ECHO", "a", "b"]), arity("echo"));
    let pong: String = redis::cmd("PING").query(&mut r).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn quit_closes_the_connection() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["QUIT"]);
    assert_dropped(&mut r);
    // Raw: +OK then EOF.
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["QUIT"]), V::Simple("OK".into()));
    assert_eq!(raw.try_read(), None);
    // The server is fine.
    let mut r2 = s.redis();
    assert_eq!(q::<String>(&mut r2, &["PING"]), "PONG");
}

#[test]
fn reset_restores_connection_defaults() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "k0", "db0"]);
    ok(&mut r, &["SELECT", "1"]);
    ok(&mut r, &["CLIENT", "SETNAME", "named"]);
    assert_eq!(v(&mut r, &["RESET"]), Value::SimpleString("RESET".into()));
    assert_eq!(v(&mut r, &["CLIENT", "GETNAME"]), Value::Nil);
    assert_eq!(q::<String>(&mut r, &["GET", "k0"]), "db0");
    assert_eq!(e(&mut r, &["RESET", "x"]), arity("reset"));
    // RESET goes back to RESP2.
    let mut raw = s.raw();
    assert!(matches!(raw.cmd(&["HELLO", "3"]), V::Map(_)));
    assert_eq!(raw.cmd(&["RESET"]), V::Simple("RESET".into()));
    let info = raw.cmd(&["CLIENT", "INFO"]).text();
    assert!(info.contains(" resp=2"), "{info}");
}

#[test]
fn select_swapdb_move() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["SET", "k", "in0"]);
    ok(&mut r, &["SELECT", "1"]);
    assert_eq!(v(&mut r, &["GET", "k"]), Value::Nil);
    ok(&mut r, &["SET", "k", "in1"]);
    ok(&mut r, &["SELECT", "15"]);
    assert_eq!(e(&mut r, &["SELECT", "16"]), "ERR DB index is out of range");
    assert_eq!(e(&mut r, &["SELECT", "-1"]), "ERR DB index is out of range");
    assert_eq!(e(&mut r, &["SELECT", "x"]), NOT_INT);
    assert_eq!(e(&mut r, &["SELECT"]), arity("select"));
    ok(&mut r, &["SELECT", "0"]);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "in0");
    // A URL with a database number selects it at connect time.
    let mut r1 = connect(&s.client("1")).unwrap();
    assert_eq!(q::<String>(&mut r1, &["GET", "k"]), "in1");

    // SWAPDB is seen by every connection.
    ok(&mut r, &["SWAPDB", "0", "1"]);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "in1");
    assert_eq!(q::<String>(&mut r1, &["GET", "k"]), "in0");
    ok(&mut r, &["SWAPDB", "1", "1"]);
    assert_eq!(
        e(&mut r, &["SWAPDB", "0", "99"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        e(&mut r, &["SWAPDB", "a", "b"]),
        "ERR invalid first DB index"
    );
    assert_eq!(
        e(&mut r, &["SWAPDB", "0", "b"]),
        "ERR invalid second DB index"
    );
    assert_eq!(e(&mut r, &["SWAPDB", "0"]), arity("swapdb"));

    // MOVE.
    ok(&mut r, &["SET", "m", "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut r, &["MOVE", "m", "2"]), 1);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "m"]), 0);
    assert_eq!(q::<i64>(&mut r, &["MOVE", "m", "2"]), 0);
    ok(&mut r, &["SET", "m", "again"]);
    assert_eq!(
        q::<i64>(&mut r, &["MOVE", "m", "2"]),
        0,
        "destination exists"
    );
    assert_eq!(q::<String>(&mut r, &["GET", "m"]), "again");
    ok(&mut r, &["SELECT", "2"]);
    assert_eq!(q::<String>(&mut r, &["GET", "m"]), "v");
    between(q(&mut r, &["TTL", "m"]), 90, 100);
    assert_eq!(
        e(&mut r, &["MOVE", "m", "2"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        e(&mut r, &["MOVE", "m", "99"]),
        "ERR DB index is out of range"
    );
    assert_eq!(e(&mut r, &["MOVE", "m", "x"]), NOT_INT);
    assert_eq!(e(&mut r, &["MOVE", "m"]), arity("move"));
}

#[test]
fn hello_resp2_and_resp3() {
    let s = Srv::new();
    let mut r = s.redis();
    let id = client_id(&mut r);
    let h = pairs(v(&mut r, &["HELLO"]));
    assert_eq!(h["server"], bulk("redis"));
    assert_eq!(h["version"], bulk("7.0.15"));
    assert_eq!(h["proto"], Value::Int(2));
    assert_eq!(h["id"], Value::Int(id));
    assert_eq!(h["mode"], bulk("standalone"));
    assert_eq!(h["role"], bulk("master"));
    assert_eq!(h["modules"], Value::Array(vec![]));
    let h = pairs(v(&mut r, &["HELLO", "2", "SETNAME", "viahello"]));
    assert_eq!(h["proto"], Value::Int(2));
    assert_eq!(q::<String>(&mut r, &["CLIENT", "GETNAME"]), "viahello");

    let noproto = ee(&mut r, &["HELLO", "4"]);
    assert_eq!(noproto.kind(), ErrorKind::ExtensionError);
    assert_eq!(err_text(&noproto), "NOPROTO unsupported protocol version");
    assert_eq!(
        e(&mut r, &["HELLO", "x"]),
        "ERR Protocol version is not an integer or out of range"
    );
    assert_eq!(
        e(&mut r, &["HELLO", "2", "foo"]),
        "ERR Syntax error in HELLO option 'foo'"
    );
    assert_eq!(
        e(&mut r, &["HELLO", "2", "AUTH", "default"]),
        "ERR Syntax error in HELLO option 'AUTH'"
    );
    assert_eq!(
        e(&mut r, &["HELLO", "2", "SETNAME", "a b"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    // A failed HELLO changes nothing.
    assert_eq!(q::<String>(&mut r, &["CLIENT", "GETNAME"]), "viahello");

    // RESP3 through redis-rs (protocol=resp3 sends HELLO 3 at connect).
    let mut r3 = s.redis3();
    let hv = v(&mut r3, &["HELLO"]);
    assert!(matches!(hv, Value::Map(_)), "{hv:?}");
    let h = pairs(hv);
    assert_eq!(h["proto"], Value::Int(3));
    assert_eq!(h["version"], bulk("7.0.15"));
    let info: String = q(&mut r3, &["CLIENT", "INFO"]);
    assert!(info.contains(" resp=3"), "{info}");
    assert_eq!(v(&mut r3, &["GET", "missing"]), Value::Nil);
    ok(&mut r3, &["SET", "k", "v"]);
    assert_eq!(r3.get::<_, String>("k").unwrap(), "v");
    let cfg = v(&mut r3, &["CONFIG", "GET", "hz"]);
    assert_eq!(cfg, Value::Map(vec![(bulk("hz"), bulk("10"))]));
    // RESP3 replies of LCS IDX are maps.
    ok(&mut r3, &["MSET", "a", "ohmytext", "b", "mynewtext"]);
    let lcs = pairs(v(&mut r3, &["LCS", "a", "b", "IDX"]));
    assert_eq!(lcs["len"], Value::Int(6));
    // Raw: HELLO 3 answers with a RESP3 map; HELLO 2 switches back.
    let mut raw = s.raw();
    match raw.cmd(&["HELLO", "3"]) {
        V::Map(m) => assert!(m.contains(&(V::Bulk(b"proto".to_vec()), V::Int(3)))),
        other => panic!("{other:?}"),
    }
    assert!(matches!(raw.cmd(&["HELLO", "2"]), V::Arr(_)));
}

#[test]
fn auth_with_requirepass() {
    let s = Srv::start(&[("requirepass", "secret")]);
    // One command at a time on a raw connection (see the ignored redis-rs test below).
    let mut r = s.raw();
    let noauth = V::Err("NOAUTH Authentication required.".into());
    assert_eq!(r.cmd(&["GET", "k"]), noauth);
    assert_eq!(r.cmd(&["PING"]), noauth);
    assert_eq!(r.cmd(&["CLIENT", "ID"]), noauth);
    assert_eq!(
        r.cmd(&["HELLO", "3"]),
        V::Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into())
    );
    let wrong = V::Err("WRONGPASS invalid username-password pair or user is disabled.".into());
    assert_eq!(r.cmd(&["AUTH", "nope"]), wrong);
    assert_eq!(r.cmd(&["AUTH", "default", "nope"]), wrong);
    assert_eq!(r.cmd(&["AUTH", "bob", "secret"]), wrong);
    assert_eq!(r.cmd(&["AUTH", "a", "b", "c"]), V::Err(SYNTAX.into()));
    assert_eq!(r.cmd(&["HELLO", "2", "AUTH", "default", "nope"]), wrong);
    assert_eq!(r.cmd(&["GET", "k"]), noauth);
    assert_eq!(r.cmd(&["AUTH", "secret"]), V::Simple("OK".into()));
    assert_eq!(r.cmd(&["SET", "k", "v"]), V::Simple("OK".into()));
    assert_eq!(
        r.cmd(&["AUTH", "default", "secret"]),
        V::Simple("OK".into())
    );
    assert_eq!(r.cmd(&["GET", "k"]), V::Bulk(b"v".to_vec()));
    // A wrong AUTH after a good one does not log out.
    assert_eq!(r.cmd(&["AUTH", "nope"]), wrong);
    assert_eq!(r.cmd(&["GET", "k"]), V::Bulk(b"v".to_vec()));
    // RESET logs the connection out again.
    assert_eq!(r.cmd(&["RESET"]), V::Simple("RESET".into()));
    assert_eq!(r.cmd(&["GET", "k"]), noauth);
    // HELLO AUTH authenticates and switches protocol in one go.
    match r.cmd(&["HELLO", "3", "AUTH", "default", "secret"]) {
        V::Map(m) => assert!(m.contains(&(V::Bulk(b"proto".to_vec()), V::Int(3)))),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.cmd(&["GET", "k"]), V::Bulk(b"v".to_vec()));

    // Without requirepass, AUTH is an error.
    let open = Srv::new();
    let mut o = open.redis();
    assert_eq!(
        e(&mut o, &["AUTH", "x"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
    assert_eq!(e(&mut o, &["AUTH"]), arity("auth"));
}

/// redis-rs against a `requirepass` server: it pipelines its connection setup (AUTH or
/// HELLO 3 AUTH, then CLIENT SETINFO twice), so this needs every pipelined reply.
#[test]
fn auth_through_redis_rs() {
    let s = Srv::start(&[("requirepass", "secret")]);
    // No password: the setup's CLIENT SETINFO errors are ignored, commands get NOAUTH.
    let mut r = s.redis();
    let noauth = ee(&mut r, &["GET", "k"]);
    assert_eq!(noauth.kind(), ErrorKind::ExtensionError);
    assert_eq!(noauth.code(), Some("NOAUTH"));
    assert_eq!(err_text(&noauth), "NOAUTH Authentication required.");
    assert_eq!(
        e(&mut r, &["AUTH", "nope"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    ok(&mut r, &["AUTH", "secret"]);
    ok(&mut r, &["SET", "k", "v"]);
    // Passwords in the URL: redis-rs sends AUTH (RESP2) or HELLO 3 AUTH (RESP3).
    let mut good = connect(&s.client_pw("secret", "")).unwrap();
    assert_eq!(q::<String>(&mut good, &["GET", "k"]), "v");
    let mut good3 = connect(&s.client_pw("secret", "?protocol=resp3")).unwrap();
    assert_eq!(q::<String>(&mut good3, &["GET", "k"]), "v");
    let bad = connect(&s.client_pw("wrong", ""))
        .err()
        .expect("bad password refused");
    assert_eq!(bad.kind(), ErrorKind::AuthenticationFailed, "{bad:?}");
    assert!(connect(&s.client_pw("wrong", "?protocol=resp3")).is_err());
}

#[test]
fn client_id_names_list_info() {
    let s = Srv::new();
    let mut r = s.redis();
    let id = client_id(&mut r);
    assert!(id > 0);
    let mut other = s.redis();
    assert_ne!(client_id(&mut other), id);

    assert_eq!(v(&mut r, &["CLIENT", "GETNAME"]), Value::Nil);
    ok(&mut r, &["CLIENT", "SETNAME", "worker-1"]);
    assert_eq!(q::<String>(&mut r, &["CLIENT", "GETNAME"]), "worker-1");
    let bad = "ERR Client names cannot contain spaces, newlines or special characters.";
    assert_eq!(e(&mut r, &["CLIENT", "SETNAME", "a b"]), bad);
    assert_eq!(e(&mut r, &["CLIENT", "SETNAME", "a\nb"]), bad);
    assert_eq!(q::<String>(&mut r, &["CLIENT", "GETNAME"]), "worker-1");

    let list: String = q(&mut r, &["CLIENT", "LIST"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let mine = lines
        .iter()
        .find(|l| l.starts_with(&format!("id={id} ")))
        .expect("own line");
    assert!(mine.contains(" name=worker-1 "), "{mine}");
    assert!(mine.contains(" cmd=client|list "), "{mine}");
    let only: String = q(&mut r, &["CLIENT", "LIST", "ID", &id.to_string()]);
    assert_eq!(only.lines().count(), 1);
    let normal: String = q(&mut r, &["CLIENT", "LIST", "TYPE", "normal"]);
    assert_eq!(normal.lines().count(), 2);
    assert_eq!(
        e(&mut r, &["CLIENT", "LIST", "TYPE", "foo"]),
        "ERR Unknown client type 'foo'"
    );
    assert_eq!(
        e(&mut r, &["CLIENT", "LIST", "ID", "x"]),
        "ERR Invalid client ID"
    );

    ok(&mut r, &["SELECT", "3"]);
    let info: String = q(&mut r, &["CLIENT", "INFO"]);
    assert!(
        info.starts_with(&format!("id={id} addr=127.0.0.1:")),
        "{info}"
    );
    for f in [
        " name=worker-1 ",
        " db=3 ",
        " cmd=client|info ",
        " resp=2",
        " flags=N ",
    ] {
        assert!(info.contains(f), "{f} in {info}");
    }
    if !s.is_redis() {
        // CLIENT SETINFO (Redis 7.2, sent by redis-rs at connect) shows in the line.
        assert!(info.contains(" lib-name=redis-rs "), "{info}");
        assert!(info.contains(" lib-ver=0.27"), "{info}");
    }
    // Clearing the name.
    ok(&mut r, &["CLIENT", "SETNAME", ""]);
    assert_eq!(v(&mut r, &["CLIENT", "GETNAME"]), Value::Nil);

    assert_eq!(
        e(&mut r, &["CLIENT", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
    );
    assert_eq!(e(&mut r, &["CLIENT"]), arity("client"));
    assert_eq!(e(&mut r, &["CLIENT", "ID", "x"]), arity("client|id"));
    assert_eq!(e(&mut r, &["CLIENT", "SETNAME"]), arity("client|setname"));
    let help: Vec<String> = q(&mut r, &["CLIENT", "HELP"]);
    assert!(help[0].starts_with("CLIENT <subcommand>"), "{help:?}");
}

#[test]
fn client_kill_disconnects_other_connections() {
    let s = Srv::new();
    let mut r = s.redis();
    let mut victim = s.redis();
    let vid = client_id(&mut victim);
    assert_eq!(
        q::<i64>(&mut r, &["CLIENT", "KILL", "ID", &vid.to_string()]),
        1
    );
    assert_dropped(&mut victim);
    assert_eq!(
        q::<i64>(&mut r, &["CLIENT", "KILL", "ID", &vid.to_string()]),
        0
    );
    assert_eq!(q::<i64>(&mut r, &["CLIENT", "KILL", "ID", "999999"]), 0);

    // Old form: CLIENT KILL addr:port.
    let mut victim2 = s.redis();
    let info: String = q(&mut victim2, &["CLIENT", "INFO"]);
    let addr = info
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr")
        .to_string();
    ok(&mut r, &["CLIENT", "KILL", &addr]);
    assert_dropped(&mut victim2);
    assert_eq!(e(&mut r, &["CLIENT", "KILL", &addr]), "ERR No such client");
    assert_eq!(
        e(&mut r, &["CLIENT", "KILL", "1.2.3.4:5"]),
        "ERR No such client"
    );

    // Filters: ADDR, SKIPME.
    let mut victim3 = s.redis();
    let info: String = q(&mut victim3, &["CLIENT", "INFO"]);
    let addr3 = info
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_string();
    assert_eq!(
        q::<i64>(&mut r, &["CLIENT", "KILL", "ADDR", &addr3, "SKIPME", "yes"]),
        1
    );
    assert_dropped(&mut victim3);
    // SKIPME no on our own id kills ourselves after the reply.
    let my = client_id(&mut r).to_string();
    assert_eq!(
        q::<i64>(&mut r, &["CLIENT", "KILL", "ID", &my, "SKIPME", "yes"]),
        0
    );
    assert_eq!(
        q::<i64>(&mut r, &["CLIENT", "KILL", "ID", &my, "SKIPME", "no"]),
        1
    );
    assert_dropped(&mut r);

    let mut r = s.redis();
    assert_eq!(e(&mut r, &["CLIENT", "KILL", "FOO", "bar"]), SYNTAX);
    assert_eq!(e(&mut r, &["CLIENT", "KILL", "ID", "1", "x"]), SYNTAX);
    assert_eq!(
        e(&mut r, &["CLIENT", "KILL", "TYPE", "foo"]),
        "ERR Unknown client type 'foo'"
    );
    assert_eq!(e(&mut r, &["CLIENT", "KILL"]), arity("client|kill"));
    assert_eq!(q::<String>(&mut r, &["PING"]), "PONG");
    // Only r is left.
    let list: String = q(&mut r, &["CLIENT", "LIST"]);
    assert_eq!(list.lines().count(), 1, "{list}");
}

#[test]
fn client_setinfo_no_evict_no_touch() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["CLIENT", "NO-EVICT", "on"]);
    ok(&mut r, &["CLIENT", "NO-EVICT", "OFF"]);
    assert_eq!(e(&mut r, &["CLIENT", "NO-EVICT", "maybe"]), SYNTAX);
    assert_eq!(e(&mut r, &["CLIENT", "NO-EVICT"]), arity("client|no-evict"));
    if s.is_redis() {
        // SETINFO and NO-TOUCH are Redis 7.2; 7.0.15 does not know them.
        return;
    }
    ok(&mut r, &["CLIENT", "SETINFO", "LIB-NAME", "mylib"]);
    ok(&mut r, &["CLIENT", "SETINFO", "lib-ver", "1.2.3"]);
    let info: String = q(&mut r, &["CLIENT", "INFO"]);
    assert!(info.contains(" lib-name=mylib lib-ver=1.2.3"), "{info}");
    assert_eq!(
        e(&mut r, &["CLIENT", "SETINFO", "foo", "x"]),
        "ERR Unrecognized option 'foo'"
    );
    assert_eq!(
        e(&mut r, &["CLIENT", "SETINFO", "lib-name", "a b"]),
        "ERR lib-name cannot contain spaces, newlines or special characters."
    );
    assert_eq!(
        e(&mut r, &["CLIENT", "SETINFO", "lib-name"]),
        arity("client|setinfo")
    );

    // NO-TOUCH's effect on access times is in keys::idletime_touch_and_no_touch.
    ok(&mut r, &["CLIENT", "NO-TOUCH", "on"]);
    ok(&mut r, &["CLIENT", "NO-TOUCH", "OFF"]);
    assert_eq!(e(&mut r, &["CLIENT", "NO-TOUCH", "x"]), SYNTAX);
}

/// Parse `cmdstat_<name>:calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=..`.
fn cmdstat(info: &str, name: &str) -> Option<HashMap<String, String>> {
    let line = info_field(info, &format!("cmdstat_{name}"))?;
    Some(
        line.split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn info_sections() {
    let s = Srv::new();
    let mut r = s.redis();
    let all: String = q(&mut r, &["INFO"]);
    for sect in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# Keyspace",
    ] {
        assert!(all.lines().any(|l| l == sect), "{sect} in default INFO");
    }
    assert!(!all.contains("# Commandstats"));
    assert_eq!(info_field(&all, "redis_version").as_deref(), Some("7.0.15"));
    assert_eq!(info_field(&all, "loading").as_deref(), Some("0"));
    assert_eq!(info_field(&all, "role").as_deref(), Some("master"));
    assert_eq!(
        info_field(&all, "redis_mode").as_deref(),
        Some("standalone")
    );
    assert_eq!(
        info_field(&all, "tcp_port"),
        Some(s.addr.port().to_string())
    );
    // redis-rs's own INFO parser.
    let dict: redis::InfoDict = redis::cmd("INFO").query(&mut r).unwrap();
    assert_eq!(
        dict.get::<String>("redis_version").as_deref(),
        Some("7.0.15")
    );
    assert_eq!(dict.get::<i64>("loading"), Some(0));

    let server: String = q(&mut r, &["INFO", "server"]);
    assert!(server.starts_with("# Server\r\n"), "{server}");
    assert!(!server.contains("# Clients"));
    if !s.is_redis() {
        assert!(info_field(&server, "strata_version").is_some());
    }
    let p: String = q(&mut r, &["INFO", "persistence"]);
    assert_eq!(info_field(&p, "loading").as_deref(), Some("0"));
    let repl: String = q(&mut r, &["INFO", "Replication"]);
    assert_eq!(info_field(&repl, "role").as_deref(), Some("master"));
    let two: String = q(&mut r, &["INFO", "server", "clients"]);
    let heads: Vec<&str> = two.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(heads, ["# Server", "# Clients"]);
    assert_eq!(info_field(&two, "connected_clients").as_deref(), Some("1"));
    assert_eq!(q::<String>(&mut r, &["INFO", "nosuchsection"]), "");
    let everything: String = q(&mut r, &["INFO", "everything"]);
    assert!(everything.contains("# Commandstats"));
    let all2: String = q(&mut r, &["INFO", "all"]);
    assert!(all2.contains("# Commandstats"));

    // Keyspace.
    let ks: String = q(&mut r, &["INFO", "keyspace"]);
    assert_eq!(ks.trim_end(), "# Keyspace");
    ok(&mut r, &["MSET", "a", "1", "b", "2"]);
    ok(&mut r, &["SET", "t", "1", "EX", "1000"]);
    ok(&mut r, &["SELECT", "5"]);
    ok(&mut r, &["SET", "x", "1"]);
    let ks: String = q(&mut r, &["INFO", "keyspace"]);
    let db0 = info_field(&ks, "db0").expect("db0");
    assert!(db0.starts_with("keys=3,expires=1,avg_ttl="), "{db0}");
    assert_eq!(
        info_field(&ks, "db5").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
    assert_eq!(info_field(&ks, "db1"), None);

    // Commandstats after some calls, including a failed and a rejected one.
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    for _ in 0..3 {
        ok(&mut r, &["SET", "k", "v"]);
    }
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "v");
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "v");
    assert_eq!(e(&mut r, &["INCR", "k"]), NOT_INT);
    assert_eq!(e(&mut r, &["GET"]), arity("get"));
    let cs: String = q(&mut r, &["INFO", "commandstats"]);
    assert!(cs.starts_with("# Commandstats\r\n"), "{cs}");
    let set = cmdstat(&cs, "set").expect("cmdstat_set");
    assert_eq!(set["calls"], "3");
    assert_eq!(set["rejected_calls"], "0");
    assert_eq!(set["failed_calls"], "0");
    assert!(set.contains_key("usec") && set.contains_key("usec_per_call"));
    let get = cmdstat(&cs, "get").expect("cmdstat_get");
    assert_eq!(
        (get["calls"].as_str(), get["rejected_calls"].as_str()),
        ("2", "1")
    );
    let incr = cmdstat(&cs, "incr").expect("cmdstat_incr");
    assert_eq!(
        (incr["calls"].as_str(), incr["failed_calls"].as_str()),
        ("1", "1")
    );
    assert!(cmdstat(&cs, "lcs").is_none());
    // Errorstats counts by error code.
    let es: String = q(&mut r, &["INFO", "errorstats"]);
    assert_eq!(info_field(&es, "errorstat_ERR").as_deref(), Some("count=2"));

    // keyspace hits and misses.
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "v");
    assert_eq!(v(&mut r, &["GET", "nokey"]), Value::Nil);
    let st: String = q(&mut r, &["INFO", "stats"]);
    assert_eq!(info_field(&st, "keyspace_hits").as_deref(), Some("1"));
    assert_eq!(info_field(&st, "keyspace_misses").as_deref(), Some("1"));
}

#[test]
fn config_get_set_resetstat() {
    let s = Srv::new();
    let mut r = s.redis();
    let got = pairs(v(&mut r, &["CONFIG", "GET", "maxmemory*"]));
    assert_eq!(got["maxmemory"], bulk("0"));
    assert_eq!(got["maxmemory-policy"], bulk("noeviction"));
    assert!(got.keys().all(|k| k.starts_with("maxmemory")), "{got:?}");
    let got = pairs(v(&mut r, &["CONFIG", "GET", "hz", "port"]));
    assert_eq!(got.len(), 2);
    assert_eq!(got["hz"], bulk("10"));
    if s.is_redis() {
        assert_eq!(got["port"], bulk(&s.addr.port().to_string()));
    } else {
        // Started with port 0 (pick a free port), strata reports the directive: 0.
        assert!(got.contains_key("port"));
    }
    let got = pairs(v(&mut r, &["CONFIG", "GET", "h?"]));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["hz"]);
    assert_eq!(
        v(&mut r, &["CONFIG", "GET", "nosuch"]),
        Value::Array(vec![])
    );
    let all = pairs(v(&mut r, &["CONFIG", "GET", "*"]));
    assert!(
        all.contains_key("appendfsync")
            && all.contains_key("databases")
            && all.contains_key("requirepass")
    );
    assert_eq!(all["databases"], bulk("16"));

    ok(&mut r, &["CONFIG", "SET", "hz", "20"]);
    assert_eq!(pairs(v(&mut r, &["CONFIG", "GET", "hz"]))["hz"], bulk("20"));
    ok(&mut r, &["CONFIG", "SET", "hz", "15", "maxclients", "100"]);
    let got = pairs(v(&mut r, &["CONFIG", "GET", "hz", "maxclients"]));
    assert_eq!(
        (got["hz"].clone(), got["maxclients"].clone()),
        (bulk("15"), bulk("100"))
    );
    ok(
        &mut r,
        &["CONFIG", "SET", "MAXMEMORY-POLICY", "allkeys-lru"],
    );
    assert_eq!(
        pairs(v(&mut r, &["CONFIG", "GET", "maxmemory-policy"]))["maxmemory-policy"],
        bulk("allkeys-lru")
    );
    assert_eq!(
        e(&mut r, &["CONFIG", "SET", "nosuch", "1"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert_eq!(
        e(&mut r, &["CONFIG", "SET", "hz", "abc"]),
        "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
    );
    assert_eq!(
        e(&mut r, &["CONFIG", "SET", "hz", "10", "hz", "11"]),
        "ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
    );
    assert_eq!(
        e(&mut r, &["CONFIG", "SET", "databases", "4"]),
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    );
    // A failing multi-set applies nothing.
    assert!(ee(&mut r, &["CONFIG", "SET", "hz", "30", "maxclients", "x"]).code() == Some("ERR"));
    assert_eq!(pairs(v(&mut r, &["CONFIG", "GET", "hz"]))["hz"], bulk("15"));
    assert_eq!(e(&mut r, &["CONFIG", "SET", "hz"]), arity("config|set"));
    assert_eq!(e(&mut r, &["CONFIG", "GET"]), arity("config|get"));
    assert_eq!(
        e(&mut r, &["CONFIG", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try CONFIG HELP."
    );
    assert_eq!(e(&mut r, &["CONFIG"]), arity("config"));

    // RESETSTAT.
    for _ in 0..5 {
        assert_eq!(q::<String>(&mut r, &["PING"]), "PONG");
    }
    let cs: String = q(&mut r, &["INFO", "commandstats"]);
    assert!(cmdstat(&cs, "ping").is_some());
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    let cs: String = q(&mut r, &["INFO", "commandstats"]);
    assert!(cmdstat(&cs, "ping").is_none(), "{cs}");
    let st: String = q(&mut r, &["INFO", "stats"]);
    let total: i64 = info_field(&st, "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(total <= 2, "total_commands_processed={total}");
    assert_eq!(
        e(&mut r, &["CONFIG", "RESETSTAT", "x"]),
        arity("config|resetstat")
    );
}

#[test]
fn dbsize_flushdb_flushall() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 0);
    ok(&mut r, &["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 3);
    ok(&mut r, &["SELECT", "1"]);
    ok(&mut r, &["SET", "x", "1"]);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 1);
    ok(&mut r, &["FLUSHDB"]);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 0);
    ok(&mut r, &["SELECT", "0"]);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 3);
    ok(&mut r, &["FLUSHDB", "ASYNC"]);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 0);
    ok(&mut r, &["SET", "a", "1"]);
    ok(&mut r, &["FLUSHDB", "sync"]);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 0);
    for (flush, opt) in [
        ("FLUSHALL", None),
        ("FLUSHALL", Some("ASYNC")),
        ("FLUSHALL", Some("SYNC")),
    ] {
        ok(&mut r, &["SET", "a", "1"]);
        ok(&mut r, &["SELECT", "7"]);
        ok(&mut r, &["SET", "a", "1"]);
        match opt {
            Some(o) => ok(&mut r, &[flush, o]),
            None => ok(&mut r, &[flush]),
        }
        assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 0);
        ok(&mut r, &["SELECT", "0"]);
        assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 0);
    }
    assert_eq!(e(&mut r, &["FLUSHALL", "foo"]), SYNTAX);
    assert_eq!(e(&mut r, &["FLUSHDB", "a", "b"]), SYNTAX);
    assert_eq!(e(&mut r, &["DBSIZE", "x"]), arity("dbsize"));
    // redis-rs helpers.
    let () = r.set("k", 1).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(n, 1);
    let () = redis::cmd("FLUSHALL").query(&mut r).unwrap();
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 0);
}

#[test]
fn time_and_lastsave() {
    let s = Srv::new();
    let mut r = s.redis();
    let (secs, usecs): (String, String) = q(&mut r, &["TIME"]);
    let secs: i64 = secs.parse().unwrap();
    let usecs: i64 = usecs.parse().unwrap();
    between(secs, now_s() - 5, now_s() + 5);
    between(usecs, 0, 999_999);
    let (a, b): (i64, i64) = q(&mut r, &["TIME"]);
    assert!(a * 1_000_000 + b >= secs * 1_000_000 + usecs);
    let last: i64 = q(&mut r, &["LASTSAVE"]);
    between(last, 1_600_000_000, now_s() + 5);
    assert_eq!(e(&mut r, &["TIME", "x"]), arity("time"));
    assert_eq!(e(&mut r, &["LASTSAVE", "x"]), arity("lastsave"));
}

#[test]
fn shutdown_nosave_stops_the_server() {
    let s = Srv::new();
    let mut r = s.redis();
    assert_eq!(e(&mut r, &["SHUTDOWN", "foo"]), SYNTAX);
    assert_eq!(q::<String>(&mut r, &["PING"]), "PONG");
    // The connection is closed with no reply.
    let res = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<Value>(&mut r);
    assert!(res.is_err(), "{res:?}");
    let stopped = wait_until(Duration::from_secs(5), || {
        let c = s.client("");
        match c.get_connection_with_timeout(Duration::from_millis(500)) {
            Err(_) => true,
            Ok(mut con) => {
                con.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                redis::cmd("PING").query::<String>(&mut con).is_err()
            }
        }
    });
    assert!(stopped, "server still answers after SHUTDOWN NOSAVE");
}

#[test]
fn debug_sleep_and_reload() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["DEBUG", "SLEEP", "0"]);
    ok(&mut r, &["MSET", "a", "1", "b", "two"]);
    ok(&mut r, &["SET", "t", "v", "EX", "1000"]);
    assert_eq!(q::<String>(&mut r, &["INCRBYFLOAT", "f", "1.5"]), "1.5");
    ok(&mut r, &["SELECT", "2"]);
    ok(&mut r, &["SET", "in2", "x"]);
    ok(&mut r, &["SELECT", "0"]);
    ok(&mut r, &["DEBUG", "RELOAD"]);
    let got: Vec<Option<String>> = q(&mut r, &["MGET", "a", "b", "t", "f"]);
    assert_eq!(
        got,
        vec![
            Some("1".into()),
            Some("two".into()),
            Some("v".into()),
            Some("1.5".into())
        ]
    );
    between(q(&mut r, &["TTL", "t"]), 990, 1000);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 4);
    ok(&mut r, &["SELECT", "2"]);
    assert_eq!(q::<String>(&mut r, &["GET", "in2"]), "x");
    // The connection survives and writes go on.
    ok(&mut r, &["SET", "after", "1"]);
    ok(&mut r, &["DEBUG", "RELOAD"]);
    assert_eq!(q::<String>(&mut r, &["GET", "after"]), "1");
    assert_eq!(e(&mut r, &["DEBUG"]), arity("debug"));
}

#[test]
fn command_introspection() {
    let s = Srv::new();
    let mut r = s.redis();
    let count: i64 = q(&mut r, &["COMMAND", "COUNT"]);
    let list: Vec<String> = q(&mut r, &["COMMAND", "LIST"]);
    // LIST names subcommands too ("config|get"); COUNT and COMMAND only top-level ones.
    let top = list.iter().filter(|n| !n.contains('|')).count();
    assert_eq!(top as i64, count);
    assert!(list.iter().any(|n| n == "config|get") && list.iter().any(|n| n == "client|kill"));
    let all: Vec<Value> = q(&mut r, &["COMMAND"]);
    assert_eq!(all.len() as i64, count);
    for name in [
        "get",
        "set",
        "setnx",
        "setex",
        "psetex",
        "getex",
        "getdel",
        "getset",
        "mget",
        "mset",
        "msetnx",
        "append",
        "strlen",
        "getrange",
        "substr",
        "setrange",
        "incr",
        "incrby",
        "decr",
        "decrby",
        "incrbyfloat",
        "lcs",
        "setbit",
        "getbit",
        "bitcount",
        "bitpos",
        "bitop",
        "bitfield",
        "bitfield_ro",
        "del",
        "unlink",
        "exists",
        "type",
        "keys",
        "scan",
        "randomkey",
        "rename",
        "renamenx",
        "copy",
        "touch",
        "object",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "ttl",
        "pttl",
        "expiretime",
        "pexpiretime",
        "persist",
        "ping",
        "echo",
        "quit",
        "reset",
        "select",
        "swapdb",
        "move",
        "hello",
        "auth",
        "client",
        "info",
        "config",
        "dbsize",
        "flushdb",
        "flushall",
        "time",
        "lastsave",
        "shutdown",
        "debug",
        "command",
    ] {
        assert!(list.iter().any(|n| n == name), "COMMAND LIST lacks {name}");
    }
    let mut gets: Vec<String> = q(&mut r, &["COMMAND", "LIST", "FILTERBY", "PATTERN", "get*"]);
    gets.sort();
    assert_eq!(
        gets,
        ["get", "getbit", "getdel", "getex", "getrange", "getset"]
    );

    // COMMAND INFO: name, arity, flags, first key, last key, step, ACL categories, ...
    let info = v(&mut r, &["COMMAND", "INFO", "get", "nosuchcmd"]);
    let Value::Array(items) = info else {
        panic!("{info:?}")
    };
    assert_eq!(items.len(), 2);
    assert_eq!(items[1], Value::Nil);
    let Value::Array(get) = &items[0] else {
        panic!("{:?}", items[0])
    };
    assert_eq!(get[0], bulk("get"));
    assert_eq!(get[1], Value::Int(2));
    let flags: Vec<String> = redis::from_redis_value(&get[2]).unwrap();
    assert_eq!(flags, ["readonly", "fast"]);
    assert_eq!(&get[3..6], &[Value::Int(1), Value::Int(1), Value::Int(1)]);
    let cats: Vec<String> = redis::from_redis_value(&get[6]).unwrap();
    assert_eq!(cats, ["@read", "@string", "@fast"]);
    let mset = v(&mut r, &["COMMAND", "INFO", "MSET"]);
    let Value::Array(mut m) = mset else { panic!() };
    let Value::Array(m) = m.remove(0) else {
        panic!()
    };
    assert_eq!(&m[..2], &[bulk("mset"), Value::Int(-3)]);
    assert_eq!(&m[3..6], &[Value::Int(1), Value::Int(-1), Value::Int(2)]);

    // GETKEYS.
    assert_eq!(
        q::<Vec<String>>(&mut r, &["COMMAND", "GETKEYS", "SET", "a", "b"]),
        ["a"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut r, &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        ["a", "b"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut r, &["COMMAND", "GETKEYS", "COPY", "s", "d", "DB", "1"]),
        ["s", "d"]
    );
    assert_eq!(
        q::<Vec<String>>(
            &mut r,
            &["COMMAND", "GETKEYS", "BITOP", "AND", "d", "x", "y"]
        ),
        ["d", "x", "y"]
    );
    assert_eq!(
        e(&mut r, &["COMMAND", "GETKEYS", "PING", "x"]),
        "ERR The command has no key arguments"
    );
    assert_eq!(
        e(&mut r, &["COMMAND", "GETKEYS", "nosuch", "a"]),
        "ERR Invalid command specified"
    );
    assert_eq!(
        e(&mut r, &["COMMAND", "GETKEYS", "GET", "a", "b"]),
        "ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        e(&mut r, &["COMMAND", "GETKEYS", "GET"]),
        arity("command|getkeys")
    );

    // DOCS.
    let docs = pairs(v(&mut r, &["COMMAND", "DOCS", "get"]));
    let get = pairs(docs["get"].clone());
    assert_eq!(get["summary"], bulk("Get the value of a key"));
    assert_eq!(get["since"], bulk("1.0.0"));
    assert_eq!(get["group"], bulk("string"));
    let docs = pairs(v(&mut r, &["COMMAND", "DOCS", "expire", "nosuchcmd"]));
    assert_eq!(docs.len(), 1);
    assert_eq!(pairs(docs["expire"].clone())["group"], bulk("generic"));
    // RESP3: DOCS is a map of maps.
    let mut r3 = s.redis3();
    let d = v(&mut r3, &["COMMAND", "DOCS", "ping"]);
    let Value::Map(m) = d else { panic!("{d:?}") };
    assert!(matches!(&m[0].1, Value::Map(_)));

    assert_eq!(
        e(&mut r, &["COMMAND", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try COMMAND HELP."
    );
    assert_eq!(
        e(&mut r, &["COMMAND", "COUNT", "x"]),
        arity("command|count")
    );
}

/// UNLINK frees a value whose free effort passes 64 (a hash-table set of 1000 members, a
/// stream of many nodes) in the background and counts it in INFO `lazyfreed_objects`; a
/// small value, or DEL, is freed in place; CONFIG RESETSTAT zeroes the count (Redis's
/// lazyfree.tcl).
#[test]
fn unlink_frees_big_values_in_the_background() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    let members: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "big"];
    sadd.extend(members.iter().map(String::as_str));
    let _: i64 = q(&mut r, &sadd);
    let _: i64 = q(&mut r, &["SADD", "small", "a", "b"]);
    let _: i64 = q(&mut r, &sadd[..3]);
    assert_eq!(q::<i64>(&mut r, &["UNLINK", "big", "small", "nosuch"]), 2);
    let stat = |r: &mut redis::Connection, f: &str| -> i64 {
        let info: String = q(r, &["INFO", "memory"]);
        info_field(&info, f)
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    let done = wait_until(Duration::from_secs(5), || {
        let info: String = q(&mut r, &["INFO", "memory"]);
        info_field(&info, "lazyfree_pending_objects").as_deref() == Some("0")
    });
    assert!(done, "lazyfree never done");
    assert_eq!(stat(&mut r, "lazyfreed_objects"), 1);
    let _: i64 = q(&mut r, &sadd);
    assert_eq!(q::<i64>(&mut r, &["DEL", "big"]), 1);
    assert_eq!(stat(&mut r, "lazyfreed_objects"), 1);
    // lazyfree-lazy-user-del: DEL frees as UNLINK does.
    ok(&mut r, &["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]);
    let _: i64 = q(&mut r, &sadd);
    assert_eq!(q::<i64>(&mut r, &["DEL", "big"]), 1);
    let done = wait_until(Duration::from_secs(5), || {
        stat(&mut r, "lazyfreed_objects") == 2
    });
    assert!(
        done,
        "DEL under lazyfree-lazy-user-del did not free in the background"
    );
    ok(&mut r, &["CONFIG", "SET", "lazyfree-lazy-user-del", "no"]);
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    assert_eq!(stat(&mut r, "lazyfreed_objects"), 0);
}

/// FLUSHALL ASYNC and FLUSHDB ASYNC hand the old keys to the lazyfree thread, counted one
/// object per key in INFO `lazyfreed_objects` (Redis's emptyDbAsync); SYNC frees in place;
/// without an argument `lazyfree-lazy-user-flush` decides. The data is gone at once either
/// way.
#[test]
fn async_flushes_free_in_the_background() {
    let s = Srv::new();
    let mut r = s.redis();
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    let freed = |r: &mut redis::Connection| -> Option<i64> {
        let info: String = q(r, &["INFO", "memory"]);
        info_field(&info, "lazyfreed_objects").and_then(|v| v.parse().ok())
    };
    let fill = |r: &mut redis::Connection, db: &str, n: usize| {
        ok(r, &["SELECT", db]);
        let mut mset = vec!["MSET".to_string()];
        for i in 0..n {
            mset.push(format!("k{i}"));
            mset.push("v".into());
        }
        let args: Vec<&str> = mset.iter().map(String::as_str).collect();
        ok(r, &args);
        let _: i64 = q(r, &["EXPIRE", "k0", "100"]);
    };
    let settled = |r: &mut redis::Connection, want: i64| {
        wait_until(Duration::from_secs(5), || freed(r) == Some(want))
    };
    fill(&mut r, "1", 300);
    fill(&mut r, "0", 200);
    ok(&mut r, &["FLUSHALL", "ASYNC"]);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 0);
    assert!(settled(&mut r, 500), "FLUSHALL ASYNC: {:?}", freed(&mut r));
    fill(&mut r, "0", 100);
    ok(&mut r, &["FLUSHDB", "SYNC"]);
    ok(&mut r, &["FLUSHDB"]);
    assert_eq!(freed(&mut r), Some(500), "SYNC or plain FLUSHDB went lazy");
    fill(&mut r, "0", 100);
    ok(&mut r, &["FLUSHDB", "ASYNC"]);
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "k0", "k99"]), 0);
    assert!(settled(&mut r, 600), "FLUSHDB ASYNC: {:?}", freed(&mut r));
    ok(
        &mut r,
        &["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"],
    );
    fill(&mut r, "0", 50);
    ok(&mut r, &["FLUSHALL"]);
    assert!(settled(&mut r, 650), "lazy-user-flush: {:?}", freed(&mut r));
    assert_eq!(q::<i64>(&mut r, &["TTL", "k0"]), -2);
}

/// The latency monitor (Redis's latency.c): with `latency-monitor-threshold` set, a
/// command that ran at least that long is a `command` sample (LATEST: event, time, last,
/// max; HISTORY: time and latency), RESET forgets events and counts them; LATENCY
/// HISTOGRAM of a container reports its subcommands.
#[test]
fn latency_monitor_records_slow_commands() {
    let s = Srv::new();
    let mut r = s.redis();
    let slow = [
        "EVAL",
        "local i = 0 while i < 3000000 do i = i + 1 end",
        "0",
    ];
    assert_eq!(q::<i64>(&mut r, &["LATENCY", "RESET"]), 0);
    let _: Value = v(&mut r, &slow);
    assert_eq!(v(&mut r, &["LATENCY", "LATEST"]), Value::Array(vec![]));
    ok(&mut r, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    let _: Value = v(&mut r, &slow);
    let latest: Vec<(String, i64, i64, i64)> = q(&mut r, &["LATENCY", "LATEST"]);
    assert_eq!(latest.len(), 1, "{latest:?}");
    assert_eq!(latest[0].0, "command");
    assert!(latest[0].2 >= 1 && latest[0].3 >= latest[0].2, "{latest:?}");
    let history: Vec<(i64, i64)> = q(&mut r, &["LATENCY", "HISTORY", "command"]);
    assert_eq!(history, vec![(latest[0].1, latest[0].2)]);
    assert_eq!(q::<i64>(&mut r, &["LATENCY", "RESET", "nosuch"]), 0);
    assert_eq!(q::<i64>(&mut r, &["LATENCY", "RESET"]), 1);
    assert_eq!(v(&mut r, &["LATENCY", "LATEST"]), Value::Array(vec![]));
    ok(&mut r, &["CONFIG", "SET", "latency-monitor-threshold", "0"]);
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    let _: i64 = q(&mut r, &["CLIENT", "ID"]);
    let _: Value = v(&mut r, &["CLIENT", "GETNAME"]);
    let histo: HashMap<String, Value> = q(&mut r, &["LATENCY", "HISTOGRAM", "client"]);
    let mut names: Vec<&String> = histo.keys().collect();
    names.sort();
    assert_eq!(names, ["client|getname", "client|id"]);
}

/// INFO commandstats counts a blocking command once, as Redis: served at once (BRPOP, not
/// the RPOP it runs), after a timeout, or when unblocked with an error (XREADGROUP whose
/// group was destroyed: a failed call).
#[test]
fn blocking_commands_count_once_in_commandstats() {
    let s = Srv::new();
    let mut r = s.redis();
    let mut b = s.redis();
    let stat = |r: &mut redis::Connection, cmd: &str| -> String {
        let info: String = q(r, &["INFO", "commandstats"]);
        info_field(&info, &format!("cmdstat_{cmd}")).unwrap_or_default()
    };
    let calls = |line: &str| -> String {
        line.split(',')
            .filter(|f| f.starts_with("calls=") || f.starts_with("failed_calls="))
            .collect::<Vec<_>>()
            .join(",")
    };
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    let _: i64 = q(&mut r, &["LPUSH", "list", "foo"]);
    let _: Value = v(&mut r, &["BRPOP", "list", "0"]);
    assert_eq!(calls(&stat(&mut r, "brpop")), "calls=1,failed_calls=0");
    assert_eq!(stat(&mut r, "rpop"), "");
    let _: Value = v(&mut b, &["BLPOP", "empty", "0.05"]);
    assert_eq!(calls(&stat(&mut r, "blpop")), "calls=1,failed_calls=0");
    ok(&mut r, &["XGROUP", "CREATE", "st", "g", "$", "MKSTREAM"]);
    let addr = s.addr;
    let reader = std::thread::spawn(move || {
        let mut c = crate::common::RawClient::connect(addr);
        c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "BLOCK",
            "0",
            "STREAMS",
            "st",
            ">",
        ])
    });
    assert!(wait_until(Duration::from_secs(5), || {
        let info: String = q(&mut r, &["INFO", "clients"]);
        info_field(&info, "blocked_clients").as_deref() == Some("1")
    }));
    let _: i64 = q(&mut r, &["XGROUP", "DESTROY", "st", "g"]);
    let got = reader.join().expect("reader");
    assert!(got.text().starts_with("NOGROUP"), "{got:?}");
    assert_eq!(calls(&stat(&mut r, "xreadgroup")), "calls=1,failed_calls=1");
}

/// INFO latencystats (not in the default INFO): per command with a latency histogram,
/// its latency at each of `latency-tracking-info-percentiles`; nothing is recorded while
/// `latency-tracking` is off; CONFIG RESETSTAT clears it (Redis's info.tcl latencystats).
#[test]
fn info_latencystats_reports_the_configured_percentiles() {
    let s = Srv::new();
    let mut r = s.redis();
    let line = |r: &mut redis::Connection, cmd: &str| -> String {
        let info: String = q(r, &["INFO", "latencystats"]);
        info_field(&info, &format!("latency_percentiles_usec_{cmd}")).unwrap_or_default()
    };
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    ok(&mut r, &["CONFIG", "SET", "latency-tracking", "no"]);
    ok(&mut r, &["SET", "a", "b"]);
    assert_eq!(line(&mut r, "set"), "");
    ok(&mut r, &["CONFIG", "SET", "latency-tracking", "yes"]);
    ok(&mut r, &["SET", "a", "b"]);
    let set = line(&mut r, "set");
    let names: Vec<&str> = set.split(',').filter_map(|f| f.split('=').next()).collect();
    assert_eq!(names, ["p50", "p99", "p99.9"], "{set}");
    ok(
        &mut r,
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "0.0 100",
        ],
    );
    let _: i64 = q(&mut r, &["CLIENT", "ID"]);
    let id = line(&mut r, "client|id");
    assert!(id.starts_with("p0=") && id.contains(",p100="), "{id}");
    let info: String = q(&mut r, &["INFO"]);
    assert!(!info.contains("# Latencystats"));
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    assert_eq!(line(&mut r, "set"), "");
    ok(
        &mut r,
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "50 99 99.9",
        ],
    );
}
