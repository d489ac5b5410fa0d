//! CLIENT REPLY (ON, OFF, SKIP) and CLIENT UNBLOCK (TIMEOUT, ERROR) with real connections:
//! silenced replies are never sent, the replies after ON are, and a client parked in BLPOP
//! or WAIT is released by another connection with the timeout reply or -UNBLOCKED.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, V};

#[test]
fn client_reply_off_skip_on() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["CLIENT", "REPLY", "maybe"]),
        V::Err("ERR syntax error".into())
    );
    // SKIP: neither its own reply nor the next command's; the one after is sent.
    c.send(&[b"CLIENT", b"REPLY", b"SKIP"]);
    c.send(&[b"SET", b"k", b"1"]);
    assert_eq!(c.cmd(&["GET", "k"]), V::Bulk(b"1".to_vec()));
    // OFF: nothing (errors included) until ON, which answers +OK; effects still happen.
    c.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    c.send(&[b"INCR", b"k"]);
    c.send(&[b"NOSUCHCOMMAND"]);
    c.send(&[b"ECHO", b"silent"]);
    assert_eq!(c.cmd(&["CLIENT", "REPLY", "ON"]), V::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "k"]), V::Bulk(b"2".to_vec()));
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
    // RESET turns replies back on (and tracking and MONITOR off).
    c.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    c.send(&[b"CLIENT", b"TRACKING", b"ON"]); // silenced
    assert_eq!(c.cmd(&["RESET"]), V::Simple("RESET".into()));
    assert_eq!(c.cmd(&["CLIENT", "GETREDIR"]), V::Int(-1));
}

#[test]
fn client_unblock_timeout_and_error() {
    let s = TestServer::start(&[]);
    let mut admin = s.raw();
    let mut b = s.raw();
    let id = b.client_id().to_string();
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), V::Int(0));
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "LATER"]),
        V::Err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into())
    );
    b.send(&[b"BLPOP", b"q", b"0"]);
    admin.wait_blocked(1);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]), V::Int(1));
    assert_eq!(b.read(), V::Nil);
    b.send(&[b"BLPOP", b"q", b"0"]);
    admin.wait_blocked(1);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), V::Int(1));
    assert_eq!(
        b.read(),
        V::Err("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    // The unblocked client is not served later by a push.
    admin.cmd(&["RPUSH", "q", "x"]);
    assert_eq!(admin.cmd(&["LLEN", "q"]), V::Int(1));
    // WAIT with replicas asked for blocks until its timeout, or until unblocked: 0 either way.
    let t0 = Instant::now();
    assert_eq!(b.cmd(&["WAIT", "1", "100"]), V::Int(0));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(100),
        "answered after {took:?}"
    );
    b.send(&[b"WAIT", b"1", b"0"]);
    admin.wait_blocked(1);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), V::Int(1));
    assert_eq!(b.read(), V::Int(0));
    assert_eq!(b.cmd(&["WAIT", "0", "0"]), V::Int(0));
}

#[test]
fn monitor_sees_every_command_as_redis_formats_it() {
    let s = TestServer::start(&[]);
    let mut m = s.raw();
    let mut c = s.raw();
    assert_eq!(m.cmd(&["MONITOR"]), V::Simple("OK".into()));
    assert!(c.cmd(&["CLIENT", "LIST"]).text().contains("flags=O"));
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["SET", "k", "a \"b\"\n\\\u{1}"]);
    c.cmd(&["CONFIG", "GET", "port"]); // admin commands are not shown
    c.cmd(&["EVAL", "return redis.call('GET', KEYS[1])", "1", "k"]);
    let lines: Vec<String> = (0..4)
        .map(|_| match m.read() {
            V::Simple(l) => l,
            other => panic!("{other:?}"),
        })
        .collect();
    let body = |l: &str| {
        let (ts, rest) = l.split_once(' ').expect("timestamp");
        let (secs, micros) = ts.split_once('.').expect("secs.micros");
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{ts}");
        rest.to_string()
    };
    // SELECT shows the database it selected (it is shown after it ran, as in Redis).
    assert!(body(&lines[0]).starts_with("[3 127.0.0.1:"), "{lines:?}");
    assert!(lines[0].ends_with("] \"SELECT\" \"3\""), "{lines:?}");
    assert!(
        lines[1].ends_with(r#""SET" "k" "a \"b\"\n\\\x01""#),
        "{lines:?}"
    );
    // A script shows before the commands it runs, which show as `lua`.
    assert!(lines[2].contains("\"EVAL\""), "{lines:?}");
    assert_eq!(body(&lines[3]), "[3 lua] \"GET\" \"k\"");
    // A monitor that disconnects is forgotten; the others keep working.
    drop(m);
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
}

#[test]
fn client_pause_holds_writes_or_everything_until_it_ends() {
    let s = TestServer::start(&[]);
    let mut admin = s.raw();
    let mut c = s.raw();
    c.cmd(&["SET", "k", "1"]);
    // WRITE: reads go on, a write waits for UNPAUSE (or the timeout).
    // A key that comes due during the pause (still alive when it starts: on a slow
    // machine the PAUSE may come after the TTL, so that setup is tried again).
    let mut tries = 0;
    loop {
        admin.cmd(&["SET", "short", "x", "PX", "150"]);
        assert_eq!(
            admin.cmd(&["CLIENT", "PAUSE", "5000", "WRITE"]),
            V::Simple("OK".into())
        );
        if matches!(admin.cmd(&["PTTL", "short"]), V::Int(n) if n > 0) {
            break;
        }
        assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), V::Simple("OK".into()));
        tries += 1;
        assert!(tries < 10, "short expired before the pause every time");
    }
    assert_eq!(c.cmd(&["GET", "k"]), V::Bulk(b"1".to_vec()));
    let t0 = Instant::now();
    c.send(&[b"INCR", b"k"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        admin.cmd(&["GET", "k"]),
        V::Bulk(b"1".to_vec()),
        "the write waited"
    );
    // Nor does the background cycle expire keys meanwhile (DBSIZE counts the due one).
    assert_eq!(admin.cmd(&["DBSIZE"]), V::Int(2));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), V::Simple("OK".into()));
    assert_eq!(c.read(), V::Int(2));
    assert!(t0.elapsed() >= Duration::from_millis(200));
    // ALL: even reads wait, here until the timeout ends it (timed from before the PAUSE:
    // a slow machine may take long to deliver its reply).
    let t0 = Instant::now();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "300"]),
        V::Simple("OK".into())
    );
    assert_eq!(c.cmd(&["GET", "k"]), V::Bulk(b"2".to_vec()));
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "10", "SOMETIMES"]),
        V::Err("ERR CLIENT PAUSE mode must be WRITE or ALL".into())
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "-1"]),
        V::Err("ERR timeout is negative".into())
    );
}

fn bulk(s: &str) -> V {
    V::Bulk(s.as_bytes().to_vec())
}

fn invalidate(keys: &[&str]) -> V {
    V::Push(vec![
        bulk("invalidate"),
        V::Arr(keys.iter().map(|k| bulk(k)).collect()),
    ])
}

/// Checked byte for byte against redis-server 7.0.15 with the same sequence.
#[test]
fn client_tracking_invalidates_what_a_client_read() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    assert_eq!(a.cmd(&["CLIENT", "GETREDIR"]), V::Int(-1));
    assert_eq!(
        a.cmd(&["CLIENT", "TRACKING", "ON", "PREFIX", "x"]),
        V::Err("ERR PREFIX option requires BCAST mode to be enabled".into())
    );
    a.cmd(&["HELLO", "3"]);
    assert_eq!(a.cmd(&["CLIENT", "TRACKING", "ON"]), V::Simple("OK".into()));
    assert_eq!(a.cmd(&["CLIENT", "GETREDIR"]), V::Int(0));
    assert_eq!(a.cmd(&["GET", "tk"]), V::Nil);
    let info = b.cmd(&["INFO"]).text();
    assert!(info.contains("tracking_clients:1\r\n"), "{info}");
    assert!(info.contains("tracking_total_keys:1\r\n"), "{info}");
    b.cmd(&["SET", "tk", "1"]);
    assert_eq!(a.read(), invalidate(&["tk"]));
    // Invalidated keys are forgotten until read again: a second write sends nothing, so the
    // next thing `a` reads is the reply to its own command.
    b.cmd(&["SET", "tk", "2"]);
    assert_eq!(a.cmd(&["GET", "tk"]), bulk("2"));
    // Its own write invalidates too (no NOLOOP); FLUSHALL invalidates everything (null).
    assert_eq!(a.cmd(&["SET", "tk", "3"]), V::Simple("OK".into()));
    assert_eq!(a.read(), invalidate(&["tk"]));
    assert_eq!(a.cmd(&["FLUSHALL"]), V::Simple("OK".into()));
    assert_eq!(a.read(), V::Push(vec![bulk("invalidate"), V::Nil]));
    // BCAST with a prefix and NOLOOP.
    a.cmd(&["CLIENT", "TRACKING", "OFF"]);
    a.cmd(&[
        "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p:", "NOLOOP",
    ]);
    b.cmd(&["SET", "p:1", "x"]);
    b.cmd(&["SET", "q:1", "x"]);
    assert_eq!(a.read(), invalidate(&["p:1"]));
    a.cmd(&["SET", "p:2", "mine"]);
    assert!(a.cmd(&["CLIENT", "LIST"]).text().contains("flags=tB"));
    // OPTIN: only keys read right after CLIENT CACHING YES.
    a.cmd(&["CLIENT", "TRACKING", "OFF"]);
    a.cmd(&["CLIENT", "TRACKING", "ON", "OPTIN"]);
    a.cmd(&["GET", "o1"]);
    b.cmd(&["SET", "o1", "x"]);
    assert_eq!(a.cmd(&["CLIENT", "CACHING", "YES"]), V::Simple("OK".into()));
    assert_eq!(a.cmd(&["GET", "o1"]), bulk("x"));
    b.cmd(&["SET", "o1", "y"]);
    assert_eq!(a.read(), invalidate(&["o1"]));
    // RESP2: REDIRECT to a connection subscribed to __redis__:invalidate; expiry counts.
    let mut r = s.raw();
    let rid = r.client_id().to_string();
    r.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", "99999"]),
        V::Err("ERR The client ID you want redirect to does not exist".into())
    );
    c.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &rid]);
    c.cmd(&["GET", "rk"]);
    b.cmd(&["SET", "rk", "1", "PX", "1"]);
    let msg = |k: &str| {
        V::Arr(vec![
            bulk("message"),
            bulk("__redis__:invalidate"),
            V::Arr(vec![bulk(k)]),
        ])
    };
    assert_eq!(r.read(), msg("rk"));
    std::thread::sleep(Duration::from_millis(20));
    // The read that finds it expired deletes it first, then tracks it again (no message).
    assert_eq!(c.cmd(&["GET", "rk"]), V::Nil, "expired");
    b.cmd(&["SET", "rk", "2"]);
    assert_eq!(r.read(), msg("rk"));
    assert_eq!(
        r.cmd(&["PING"]),
        V::Arr(vec![bulk("pong"), bulk("")]),
        "exactly one message"
    );
    // A RESP3 client whose redirect target left hears that instead of each invalidation
    // (checked against redis-server 7.0.15).
    let mut t = s.raw();
    t.cmd(&["HELLO", "3"]);
    let mut gone = s.raw();
    let gid = gone.client_id().to_string();
    t.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &gid]);
    t.cmd(&["GET", "g1"]);
    t.cmd(&["GET", "g2"]);
    drop(gone);
    std::thread::sleep(Duration::from_millis(100));
    b.cmd(&["SET", "g1", "x"]);
    b.cmd(&["SET", "g2", "x"]);
    let gid_n: i64 = gid.parse().expect("id");
    for _ in 0..2 {
        assert_eq!(
            t.read(),
            V::Push(vec![bulk("tracking-redir-broken"), V::Int(gid_n)])
        );
    }
    assert_eq!(t.cmd(&["PING"]), V::Simple("PONG".into()));
}

/// CLIENT LIST shows clients in id order, as Redis, however the server keeps its client
/// table; a closed connection leaves it.
#[test]
fn client_list_is_in_connection_order() {
    let s = TestServer::start(&[]);
    let mut conns: Vec<_> = (0..12).map(|_| s.raw()).collect();
    let mut by_conn: Vec<i64> = conns.iter_mut().map(|c| c.client_id()).collect();
    let gone_id = by_conn.remove(5);
    let mut ids = by_conn.clone();
    ids.push(gone_id);
    ids.sort_unstable();
    let listed = |c: &mut common::RawClient| -> Vec<i64> {
        c.cmd(&["CLIENT", "LIST"])
            .text()
            .lines()
            .map(|l| {
                l.split(' ')
                    .find_map(|f| f.strip_prefix("id="))
                    .and_then(|v| v.parse().ok())
                    .expect("an id field")
            })
            .collect()
    };
    assert_eq!(listed(&mut conns[0]), ids);
    drop(conns.remove(5));
    ids.retain(|&id| id != gone_id);
    let t0 = Instant::now();
    while listed(&mut conns[0]) != ids {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "closed client still listed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Clients held by CLIENT PAUSE count in INFO `blocked_clients`, as in Redis (pause.tcl
/// waits for that count before unpausing).
#[test]
fn paused_clients_count_as_blocked() {
    let s = common::TestServer::start(&[]);
    let mut admin = s.raw();
    let mut w = s.raw();
    let mut r = s.raw();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]),
        common::V::Simple("OK".into())
    );
    assert_eq!(r.cmd(&["GET", "k"]), common::V::Nil);
    w.send(&[b"SET", b"k", b"v"]);
    admin.wait_blocked(1);
    assert_eq!(
        admin.cmd(&["CLIENT", "UNPAUSE"]),
        common::V::Simple("OK".into())
    );
    assert_eq!(w.read(), common::V::Simple("OK".into()));
    admin.wait_blocked(0);
}

/// BCAST: the keys a batch of commands changed reach each client in one message per
/// matching prefix (sorted), as Redis sends them once per event-loop turn; NOLOOP leaves
/// out the client's own changes. Same messages as redis-server 7.0.15 for this sequence.
#[test]
fn bcast_invalidations_come_in_one_message_per_prefix() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    a.cmd(&["HELLO", "3"]);
    let ok = V::Simple("OK".into());
    assert_eq!(a.cmd(&["CLIENT", "TRACKING", "ON", "BCAST"]), ok);
    assert_eq!(b.cmd(&["MSET", "c{t}", "3", "a{t}", "1", "b{t}", "2"]), ok);
    assert_eq!(a.read(), invalidate(&["a{t}", "b{t}", "c{t}"]));
    a.cmd(&["CLIENT", "TRACKING", "OFF"]);
    let on = [
        "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:", "PREFIX", "b:",
    ];
    assert_eq!(a.cmd(&on), ok);
    let mset = [
        "MSET", "a:1", "1", "b:1", "1", "a:2", "2", "b:2", "2", "c:1", "1",
    ];
    assert_eq!(b.cmd(&mset), ok);
    assert_eq!(a.read(), invalidate(&["a:1", "a:2"]));
    assert_eq!(a.read(), invalidate(&["b:1", "b:2"]));
    a.cmd(&["CLIENT", "TRACKING", "OFF"]);
    let on = ["CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP"];
    assert_eq!(a.cmd(&on), ok);
    // Its own writes: nothing; the next thing it reads is its own reply.
    assert_eq!(a.cmd(&["MSET", "x", "1", "y", "2"]), ok);
    assert_eq!(a.cmd(&["PING"]), V::Simple("PONG".into()));
    assert_eq!(b.cmd(&["MSET", "x", "1", "z", "2"]), ok);
    assert_eq!(a.read(), invalidate(&["x", "z"]));
    // A transaction's keys together.
    b.cmd(&["MULTI"]);
    b.cmd(&["SET", "m2", "1"]);
    b.cmd(&["SET", "m1", "1"]);
    b.cmd(&["EXEC"]);
    assert_eq!(a.read(), invalidate(&["m1", "m2"]));
    assert_eq!(b.cmd(&["FLUSHALL"]), ok);
    assert_eq!(a.read(), V::Push(vec![bulk("invalidate"), V::Nil]));
}

/// Scripts and functions that declare `no-writes` are not held by CLIENT PAUSE WRITE
/// (pause.tcl "Test RO scripts are not blocked by pause RO"); other EVALs are.
#[test]
fn pause_write_lets_no_writes_scripts_run() {
    let s = common::TestServer::start(&[]);
    let mut admin = s.raw();
    let mut rr = s.raw();
    let lib = "#!lua name=f1\nredis.register_function{function_name='f1', callback=function() return 'hello' end, flags={'no-writes'}}";
    admin.cmd(&["FUNCTION", "LOAD", "REPLACE", lib]);
    let sha = admin.cmd(&["SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 2"]);
    admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    assert_eq!(
        rr.cmd(&["EVAL", "#!lua flags=no-writes\nreturn 'unique script'", "0"]),
        common::V::Bulk(b"unique script".to_vec())
    );
    assert_eq!(rr.cmd(&["EVALSHA", &sha.text(), "0"]), common::V::Int(2));
    assert_eq!(
        rr.cmd(&["FCALL", "f1", "0"]),
        common::V::Bulk(b"hello".to_vec())
    );
    // Syntax errors are answered at once (pause.tcl "Test clients with syntax errors
    // will get responses immediately").
    assert_eq!(
        rr.cmd(&["SET", "FOO"]),
        common::V::Err("ERR wrong number of arguments for 'set' command".into())
    );
    rr.send(&[b"EVAL", b"return 1", b"0"]);
    admin.wait_blocked(1);
    admin.cmd(&["CLIENT", "UNPAUSE"]);
    assert_eq!(rr.read(), common::V::Int(1));
}

/// Tracking through scripts, as redis-server 7.0.15: a script (EVAL, EVAL_RO, FCALL) that
/// runs a read-only command tracks the keys it declared, not the keys the command read; one
/// that only writes tracks nothing. A client that read keys in default mode and then
/// switched to BCAST hears them only through BCAST.
#[test]
fn tracking_remembers_a_reading_scripts_declared_keys() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    let mut w = s.raw();
    r.cmd(&["HELLO", "3"]);
    let ok = V::Simple("OK".into());
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "ON"]), ok);
    r.cmd(&[
        "EVAL",
        "redis.call('set', 'key3', 'bar')",
        "2",
        "key1",
        "key2",
    ]);
    assert_eq!(w.cmd(&["MSET", "key2", "1", "key1", "1", "key3", "1"]), ok);
    assert_eq!(r.cmd(&["PING"]), V::Simple("PONG".into()));
    r.cmd(&["EVAL", "redis.call('get', 'key3')", "2", "key1", "key2"]);
    assert_eq!(w.cmd(&["MSET", "key2", "2", "key1", "2", "key3", "2"]), ok);
    assert_eq!(r.read(), invalidate(&["key2"]));
    assert_eq!(r.read(), invalidate(&["key1"]));
    assert_eq!(r.cmd(&["PING"]), V::Simple("PONG".into()));
    r.cmd(&["EVAL_RO", "redis.call('get', 'key1')", "1", "key5"]);
    assert_eq!(w.cmd(&["MSET", "key1", "3", "key5", "3"]), ok);
    assert_eq!(r.read(), invalidate(&["key5"]));
    // Read in default mode, then BCAST: one BCAST message, no default-mode one.
    assert_eq!(r.cmd(&["MGET", "a", "b"]), V::Arr(vec![V::Nil, V::Nil]));
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "OFF"]), ok);
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "ON", "BCAST"]), ok);
    assert_eq!(w.cmd(&["MSET", "a", "1", "b", "2"]), ok);
    assert_eq!(r.read(), invalidate(&["a", "b"]));
    assert_eq!(r.cmd(&["PING"]), V::Simple("PONG".into()));
}

/// BCAST prefixes may not overlap (one a prefix of another), among those given and those
/// already set; TRACKINGINFO lists them sorted. Same replies as redis-server 7.0.15.
#[test]
fn bcast_prefixes_must_not_overlap() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    fn on<'a>(p: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["CLIENT", "TRACKING", "ON", "BCAST"];
        for x in p {
            v.extend(["PREFIX", x]);
        }
        v
    }
    let err = |a: &str, how: &str, b: &str| {
        V::Err(format!(
            "ERR Prefix '{a}' overlaps with {how} prefix '{b}'. Prefixes for a single client must not overlap."
        ))
    };
    assert_eq!(
        c.cmd(&on(&["FOOBAR", "FOO"])),
        err("FOOBAR", "another provided", "FOO")
    );
    assert_eq!(
        c.cmd(&on(&["FOO", "FOOBAR"])),
        err("FOO", "another provided", "FOOBAR")
    );
    assert_eq!(c.cmd(&on(&["FOO", "BAR"])), V::Simple("OK".into()));
    assert_eq!(c.cmd(&on(&["FO"])), err("FO", "an existing", "FOO"));
    assert_eq!(c.cmd(&on(&["BARB"])), err("BARB", "an existing", "BAR"));
    assert_eq!(c.cmd(&on(&["FOO"])), err("FOO", "an existing", "FOO"));
    assert_eq!(c.cmd(&on(&["BAZ"])), V::Simple("OK".into()));
    let info = c.cmd(&["CLIENT", "TRACKINGINFO"]);
    let V::Arr(fields) = info else {
        panic!("{info:?}")
    };
    assert_eq!(
        fields.last(),
        Some(&V::Arr(vec![bulk("BAR"), bulk("BAZ"), bulk("FOO")]))
    );
}

/// Secrets never show in MONITOR or SLOWLOG: AUTH's arguments, HELLO's AUTH user and
/// password, MIGRATE's AUTH / AUTH2 credentials read `(redacted)`, as redis-server 7.0.15
/// shows them (same lines for this sequence).
#[test]
fn monitor_and_slowlog_redact_credentials() {
    let s = TestServer::start(&[("slowlog-log-slower-than", "0")]);
    let mut m = s.raw();
    let mut c = s.raw();
    assert_eq!(m.cmd(&["MONITOR"]), V::Simple("OK".into()));
    let sent: [&[&str]; 5] = [
        &["AUTH", "secret"],
        &["AUTH", "user", "secret"],
        &["HELLO", "2", "SETNAME", "n", "AUTH", "default", "pw"],
        &["MIGRATE", "127.0.0.1", "1", "k", "0", "100", "AUTH", "pw"],
        &[
            "MIGRATE",
            "127.0.0.1",
            "1",
            "",
            "0",
            "100",
            "AUTH2",
            "u",
            "pw",
            "KEYS",
            "a",
        ],
    ];
    for cmd in sent {
        c.cmd(cmd);
    }
    let want = [
        r#""AUTH" "(redacted)""#,
        r#""AUTH" "(redacted)" "(redacted)""#,
        r#""HELLO" "2" "SETNAME" "n" "AUTH" "(redacted)" "(redacted)""#,
        r#""MIGRATE" "127.0.0.1" "1" "k" "0" "100" "AUTH" "(redacted)""#,
        r#""MIGRATE" "127.0.0.1" "1" "" "0" "100" "AUTH2" "(redacted)" "(redacted)" "KEYS" "a""#,
    ];
    for w in want {
        match m.read() {
            V::Simple(l) => assert!(l.ends_with(&format!("] {w}")), "{l}"),
            other => panic!("{other:?}"),
        }
    }
    c.cmd(&["AUTH", "zz"]);
    let got = c.cmd(&["SLOWLOG", "GET", "1"]);
    let V::Arr(entries) = got else {
        panic!("{got:?}")
    };
    let V::Arr(entry) = &entries[0] else {
        panic!("{entries:?}")
    };
    assert_eq!(entry[3], V::Arr(vec![bulk("AUTH"), bulk("(redacted)")]));
}

/// Run `scenario` against redis-server (started with `oracle_args`) and against strata:
/// (strata's result, redis-server's), or None when redis-server is not installed.
fn on_both<T>(
    oracle_args: &[&str],
    scenario: impl Fn(std::net::SocketAddr) -> T,
) -> Option<(T, T)> {
    let oracle = common::Oracle::start_with(oracle_args)?;
    let s = TestServer::start(&[]);
    let want = scenario(oracle.addr);
    Some((scenario(s.addr), want))
}

/// Send `args` then PING on `c`, and read everything up to the PING's reply: the replies
/// and pushes the command produced, in the order the connection received them.
fn transcript(c: &mut common::RawClient, args: &[&str]) -> Vec<V> {
    transcript_of(c, &[args])
}

/// [`transcript`] of several commands sent together (MULTI … EXEC).
fn transcript_of(c: &mut common::RawClient, cmds: &[&[&str]]) -> Vec<V> {
    for args in cmds {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        c.send(&a);
    }
    c.send(&[b"PING"]);
    let mut out = Vec::new();
    loop {
        let v = c.read();
        let pong = V::Arr(vec![bulk("pong"), bulk("")]);
        if v == V::Simple("PONG".into()) || v == pong {
            return out;
        }
        out.push(v);
    }
}

/// The frames each step of a tracking scenario produced on a server at `addr`: where the
/// invalidations of a client's own commands fall relative to its replies (after a reply,
/// never inside EXEC's or MGET's; keys evicted to admit a command before its reply), what a
/// RESP3 or RESP2 redirect target gets, and the tracking table after a flush and under
/// `tracking-table-max-keys`.
fn tracking_order_scenario(addr: std::net::SocketAddr) -> Vec<Vec<V>> {
    let mut r = common::RawClient::connect(addr);
    let mut w = common::RawClient::connect(addr);
    let mut steps = Vec::new();
    let s = &mut steps;
    fn step(steps: &mut Vec<Vec<V>>, c: &mut common::RawClient, args: &[&str]) {
        steps.push(transcript(c, args));
    }
    r.cmd(&["HELLO", "3"]);
    step(s, &mut r, &["CLIENT", "TRACKING", "ON"]);
    step(s, &mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    // A key read and changed inside one EXEC: no invalidation for the EXEC.
    s.push(transcript_of(
        &mut r,
        &[
            &["MULTI"],
            &["MSET", "x", "1", "y", "2"],
            &["PEXPIRE", "y", "50"],
            &["GET", "y"],
            &["EXEC"],
        ],
    ));
    std::thread::sleep(Duration::from_millis(80));
    // The lazy expiry of a key MGET reads: after the whole reply.
    step(s, &mut r, &["MGET", "x", "y"]);
    step(s, &mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    // A tracked key changed inside EXEC: after EXEC's reply.
    step(s, &mut r, &["MSET", "a", "1", "b", "2"]);
    step(s, &mut r, &["GET", "a"]);
    s.push(transcript_of(
        &mut r,
        &[&["MULTI"], &["INCR", "a"], &["GET", "b"], &["EXEC"]],
    ));
    s.push(transcript_of(
        &mut r,
        &[&["MULTI"], &["FLUSHDB"], &["EXEC"]],
    ));
    // The table shrinks to tracking-table-max-keys before the next command runs.
    step(s, &mut r, &["MGET", "k1", "k2", "k3"]);
    step(
        s,
        &mut w,
        &["CONFIG", "SET", "tracking-table-max-keys", "1"],
    );
    // (Which keys go is arbitrary: compared without their names.)
    let anon = |v: V| match v {
        V::Push(p) if p.len() == 2 => V::Push(vec![p[0].clone(), V::Simple("?".into())]),
        v => v,
    };
    let shrunk = transcript(&mut r, &["ECHO", "next"]);
    s.push(shrunk.into_iter().map(anon).collect());
    step(
        s,
        &mut w,
        &["CONFIG", "SET", "tracking-table-max-keys", "1000000"],
    );
    // A RESP3 redirect target gets `invalidate` pushes; a RESP2 one only when subscribed.
    let mut t = common::RawClient::connect(addr);
    let tid = t.client_id().to_string();
    t.cmd(&["HELLO", "3"]);
    step(s, &mut r, &["CLIENT", "TRACKING", "OFF"]);
    step(s, &mut r, &["CLIENT", "TRACKING", "ON", "REDIRECT", &tid]);
    step(s, &mut r, &["GET", "key1"]);
    step(s, &mut w, &["SET", "key1", "2"]);
    step(s, &mut t, &["ECHO", "t"]);
    let mut u = common::RawClient::connect(addr);
    let uid = u.client_id().to_string();
    step(s, &mut r, &["CLIENT", "TRACKING", "ON", "REDIRECT", &uid]);
    step(s, &mut r, &["GET", "key1"]);
    step(s, &mut w, &["SET", "key1", "3"]);
    step(s, &mut u, &["ECHO", "u"]);
    // A flush forgets every remembered key, even with no client tracking.
    step(s, &mut r, &["CLIENT", "TRACKING", "OFF"]);
    step(s, &mut w, &["FLUSHALL"]);
    let info = w.cmd(&["INFO", "stats"]).text();
    let line = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .map(|l| V::Simple(l.to_string()))
            .unwrap_or(V::Nil)
    };
    s.push(vec![
        line("tracking_total_keys"),
        line("tracking_total_items"),
    ]);
    // BCAST without prefixes holds the empty prefix.
    step(s, &mut r, &["CLIENT", "TRACKING", "ON", "BCAST"]);
    step(s, &mut r, &["CLIENT", "TRACKINGINFO"]);
    let info = w.cmd(&["INFO", "stats"]).text();
    let prefixes = info
        .lines()
        .find(|l| l.starts_with("tracking_total_prefixes"))
        .map(|l| V::Simple(l.to_string()));
    s.push(vec![prefixes.unwrap_or(V::Nil)]);
    steps
}

/// Differential: the tracking scenario gives redis-server 7.0.15's frames, step by step.
#[test]
fn tracking_invalidations_follow_the_reply_as_redis() {
    let debug = ["--enable-debug-command", "yes"];
    let Some((got, want)) = on_both(&debug, tracking_order_scenario) else {
        return;
    };
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "step {i}");
    }
    assert_eq!(got.len(), want.len());
    // (The steps the fix is about, spelled out.)
    let mget = &got[3];
    assert_eq!(mget.len(), 2, "{mget:?}");
    assert_eq!(mget[1], invalidate(&["y"]));
}

/// A CLIENT LIST / CLIENT INFO line as (field, value) pairs.
fn client_fields(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Differential: CLIENT LIST and CLIENT INFO have redis-server 7.0.15's fields in its
/// order, and the same values where they are deterministic (`qbuf` counts the running
/// command's 26 bytes, `argv-mem` its arguments, `redir=-1` without tracking, 0 with
/// it); inside EXEC the transaction still shows (flag x, `multi`, `multi-mem`, cmd=exec).
#[test]
fn client_list_fields_as_redis() {
    let fields = |addr: std::net::SocketAddr| {
        let mut c = common::RawClient::connect(addr);
        let list = c.cmd(&["CLIENT", "LIST"]).text();
        let info = c.cmd(&["CLIENT", "INFO"]).text();
        c.cmd(&["CLIENT", "TRACKING", "ON"]);
        c.cmd(&["MULTI"]);
        c.cmd(&["SET", "k", "v"]);
        let queued = c.cmd(&["CLIENT", "INFO"]);
        assert_eq!(queued, V::Simple("QUEUED".into()));
        let exec = c.cmd(&["EXEC"]);
        let V::Arr(replies) = exec else {
            panic!("{exec:?}")
        };
        let in_multi = replies[1].text();
        (
            client_fields(&list),
            client_fields(&info),
            client_fields(&in_multi),
        )
    };
    let Some((got, want)) = on_both(&[], fields) else {
        return;
    };
    let names = |f: &[(String, String)]| f.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    for (g, w) in [(&got.0, &want.0), (&got.1, &want.1), (&got.2, &want.2)] {
        assert_eq!(names(g), names(w));
        for (k, v) in w {
            // (Not rbs/rbp: both follow a timer; not obl, the replies still unsent.)
            let same = [
                "flags",
                "db",
                "sub",
                "psub",
                "ssub",
                "multi",
                "qbuf",
                "argv-mem",
                "multi-mem",
                "oll",
                "omem",
                "events",
                "cmd",
                "user",
                "redir",
                "resp",
            ];
            if same.contains(&k.as_str()) {
                let mine = g.iter().find(|(n, _)| n == k).map(|(_, v)| v);
                assert_eq!(mine, Some(v), "{k}: {g:?}");
            }
        }
    }
}

/// CONFIG SET port / bind move the listener as Redis does: the old address stops
/// accepting, the new one serves, connections already open stay; an address that cannot
/// be bound fails with Redis's text and changes nothing.
#[test]
fn config_set_port_and_bind_rebind_the_listener() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    let ok = V::Simple("OK".into());
    assert_eq!(c.cmd(&["CONFIG", "SET", "bind", "127.0.0.1"]), ok);
    let port = common::free_port();
    assert_eq!(c.cmd(&["CONFIG", "SET", "port", &port.to_string()]), ok);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "port"]),
        V::Arr(vec![bulk("port"), bulk(&port.to_string())])
    );
    let new_addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    assert_eq!(
        common::RawClient::connect(new_addr).cmd(&["PING"]),
        V::Simple("PONG".into())
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        std::net::TcpStream::connect(s.addr).is_err(),
        "the old port still accepts"
    );
    // A port in use: refused, still on the same port.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_port = busy.local_addr().expect("addr").port().to_string();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "1000000", "port", &busy_port]),
        V::Err(
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
                .into()
        )
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        V::Arr(vec![bulk("maxmemory"), bulk("0")])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "bind", "127.0.0.1 192.0.2.1"]),
        V::Err(
            "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses."
                .into()
        )
    );
    assert_eq!(
        common::RawClient::connect(new_addr).cmd(&["PING"]),
        V::Simple("PONG".into())
    );
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
}

/// The reply buffer CLIENT LIST reports follows Redis's cron: an idle client's shrinks to
/// 1 KiB once its peak resets (DEBUG REPLYBUFFER PEAK-RESET-TIME), a busy one's doubles
/// back up to 16 KiB (Redis's replybufsize.tcl).
#[test]
fn reply_buffer_size_follows_the_peak() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    let ok = V::Simple("OK".into());
    assert_eq!(c.cmd(&["DEBUG", "REPLYBUFFER", "RESIZING", "0"]), ok);
    let mut t = s.raw();
    t.cmd(&["CLIENT", "SETNAME", "tc"]);
    let rbs = |c: &mut common::RawClient| -> usize {
        let list = c.cmd(&["CLIENT", "LIST"]).text();
        let line = list.lines().find(|l| l.contains("name=tc ")).expect("tc");
        let f = client_fields(line);
        f.iter()
            .find(|(k, _)| k == "rbs")
            .expect("rbs")
            .1
            .parse()
            .expect("n")
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rbs(&mut c), 16384, "RESIZING 0");
    assert_eq!(c.cmd(&["DEBUG", "REPLYBUFFER", "RESIZING", "1"]), ok);
    assert_eq!(
        c.cmd(&["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "100"]),
        ok
    );
    let wait = |c: &mut common::RawClient, t: &mut common::RawClient, busy: bool, want: usize| {
        let t0 = Instant::now();
        loop {
            if busy {
                t.cmd(&["GET", "big"]);
            }
            if rbs(c) == want {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(3), "rbs never {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait(&mut c, &mut t, false, 1024);
    c.cmd(&["SET", "big", &"x".repeat(32768)]);
    assert_eq!(
        c.cmd(&["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "never"]),
        ok
    );
    wait(&mut c, &mut t, true, 16384);
    assert_eq!(
        c.cmd(&["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "reset"]),
        ok
    );
    assert_eq!(
        c.cmd(&["DEBUG", "REPLYBUFFER", "foo", "1"]).text(),
        "ERR syntax error"
    );
}

/// Differential: while CLIENT PAUSE (WRITE or ALL) lasts no key expires, lazily or in the
/// background: an expired key reads as missing but stays (DBSIZE, expired_keys) until the
/// pause ends, as redis-server 7.0.15 (pause.tcl "both active and passive expires are
/// skipped during client pause").
#[test]
fn expiry_waits_for_client_pause_to_end() {
    let run = |addr: std::net::SocketAddr| {
        let mut c = common::RawClient::connect(addr);
        let mut out = Vec::new();
        let expired = |c: &mut common::RawClient| {
            let info = c.cmd(&["INFO", "stats"]).text();
            let line = info.lines().find(|l| l.starts_with("expired_keys:"));
            line.map(str::to_string).unwrap_or_default()
        };
        let before = expired(&mut c);
        out.extend(transcript_of(
            &mut c,
            &[
                &["MULTI"],
                &["SET", "pa", "1", "PX", "10"],
                &["SET", "pb", "2", "PX", "10"],
                &["CLIENT", "PAUSE", "5000", "WRITE"],
                &["EXEC"],
            ],
        ));
        std::thread::sleep(Duration::from_millis(300));
        for cmd in [
            &["GET", "pa"][..],
            &["EXISTS", "pa", "pb"],
            &["TTL", "pb"],
            &["TYPE", "pb"],
            &["DBSIZE"],
        ] {
            out.push(c.cmd(cmd));
        }
        out.push(V::Int(i64::from(expired(&mut c) == before)));
        out.push(c.cmd(&["CLIENT", "UNPAUSE"]));
        out.push(c.cmd(&["GET", "pa"]));
        out.push(c.cmd(&["GET", "pb"]));
        out.push(c.cmd(&["DBSIZE"]));
        out.push(V::Int(i64::from(expired(&mut c) == before)));
        out
    };
    let Some((got, want)) = on_both(&[], run) else {
        return;
    };
    assert_eq!(got, want);
    // (Spelled out: DBSIZE 2 while paused, expired_keys unchanged; then both go.)
    assert_eq!(got[got.len() - 7], V::Int(2));
    assert_eq!(got[got.len() - 6], V::Int(1));
    assert_eq!(got[got.len() - 2], V::Int(0));
}

/// A connection idle for 2 s gives its buffers back, as Redis frees an idle client's query
/// buffer (querybuf.tcl): CLIENT LIST shows qbuf=0 qbuf-free=0 for it, and it serves the
/// next request as before. A busy one shows a 16 KiB buffer (qbuf + qbuf-free).
#[test]
fn idle_connections_give_their_buffers_back() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    let mut idle = s.raw();
    assert_eq!(
        idle.cmd(&["CLIENT", "SETNAME", "idle"]),
        V::Simple("OK".into())
    );
    let qbuf = |c: &mut common::RawClient| -> (usize, usize) {
        let list = c.cmd(&["CLIENT", "LIST"]).text();
        let line = list
            .lines()
            .find(|l| l.contains(" name=idle "))
            .expect("idle");
        let f = client_fields(line);
        let get = |k: &str| -> usize {
            f.iter()
                .find(|(n, _)| n == k)
                .expect(k)
                .1
                .parse()
                .expect("n")
        };
        (get("qbuf"), get("qbuf-free"))
    };
    let (len, free) = qbuf(&mut c);
    assert!(len == 0 && (16384..32768).contains(&free), "{len} {free}");
    let t0 = Instant::now();
    while qbuf(&mut c) != (0, 0) {
        assert!(t0.elapsed() < Duration::from_secs(5), "never given back");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(t0.elapsed() >= Duration::from_millis(1500));
    assert_eq!(idle.cmd(&["PING"]), V::Simple("PONG".into()));
    let big = "x".repeat(100_000);
    assert_eq!(idle.cmd(&["SET", "k", &big]), V::Simple("OK".into()));
    assert_eq!(idle.cmd(&["STRLEN", "k"]), V::Int(100_000));
}
