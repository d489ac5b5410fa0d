//! Transactions with several clients: another client's write (or expiry) breaks WATCH;
//! a key pushed and popped inside one EXEC serves no blocked client, while a push alone
//! serves it after EXEC; and one EXEC is one log record, so after a kill -9 every
//! transaction is present entirely or not at all.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Oracle, RawClient, TestServer, V};

fn ok() -> V {
    V::Simple("OK".into())
}

#[test]
fn watch_is_broken_by_another_client() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    a.cmd(&["SET", "k", "1"]);
    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    assert_eq!(b.cmd(&["INCR", "k"]), V::Int(2));
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "k", "from-a"]), V::Simple("QUEUED".into()));
    assert_eq!(a.cmd(&["EXEC"]), V::Nil);
    assert_eq!(a.cmd(&["GET", "k"]), V::Bulk(b"2".to_vec()));
    // Not broken when the other client touches a different key.
    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    b.cmd(&["SET", "other", "x"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "k", "from-a"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Arr(vec![ok()]));
    // Broken by expiry of the watched key, alive when watched (one already expired by
    // then does not break it, see watched_stale_keys_do_not_fail_exec): on a slow machine
    // the WATCH may come after the TTL, so that setup is tried again.
    let mut tries = 0;
    loop {
        a.cmd(&["SET", "t", "v", "PX", "100"]);
        a.cmd(&["WATCH", "t"]);
        if matches!(a.cmd(&["PTTL", "t"]), V::Int(n) if n > 0) {
            break;
        }
        a.cmd(&["UNWATCH"]);
        tries += 1;
        assert!(tries < 10, "t expired before WATCH every time");
    }
    std::thread::sleep(Duration::from_millis(200));
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "x", "1"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Nil);
}

/// A DEL naming the watched key and another that exists deletes only the other: the watched
/// key did not change, so EXEC runs (redis-server 7.0.15 gives the same). A DEL that does
/// delete a watched key, or a SET before the DEL in one EXEC, still fails it.
#[test]
fn del_of_a_missing_watched_key_is_no_change() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    b.cmd(&["SET", "y", "1"]);
    assert_eq!(a.cmd(&["WATCH", "x"]), ok());
    assert_eq!(b.cmd(&["DEL", "x", "y"]), V::Int(1));
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "z", "1"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Arr(vec![ok()]));
    // Deleted for real: broken.
    b.cmd(&["SET", "y", "1"]);
    assert_eq!(a.cmd(&["WATCH", "x", "y"]), ok());
    assert_eq!(b.cmd(&["UNLINK", "x", "y"]), V::Int(1));
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "z", "2"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Nil, "y was deleted");
    // Created and deleted again in one transaction of another client: broken.
    assert_eq!(a.cmd(&["WATCH", "x"]), ok());
    b.cmd(&["MULTI"]);
    b.cmd(&["SET", "x", "1"]);
    b.cmd(&["SET", "y", "1"]);
    b.cmd(&["DEL", "x", "y"]);
    b.cmd(&["EXEC"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "z", "3"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Nil, "x was set, then deleted");
}

#[test]
fn push_and_pop_in_one_exec_serves_nobody() {
    let s = TestServer::start(&[]);
    let mut waiter = s.raw();
    let mut p = s.raw();
    waiter.send(&[b"BLPOP", b"q", b"0"]);
    let t0 = Instant::now();
    while !p
        .cmd(&["INFO", "clients"])
        .text()
        .contains("blocked_clients:1\r")
    {
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(5));
    }
    p.cmd(&["MULTI"]);
    p.cmd(&["LPUSH", "q", "a"]);
    p.cmd(&["LPOP", "q"]);
    assert_eq!(
        p.cmd(&["EXEC"]),
        V::Arr(vec![V::Int(1), V::Bulk(b"a".to_vec())])
    );
    assert!(p
        .cmd(&["INFO", "clients"])
        .text()
        .contains("blocked_clients:1\r"));
    p.cmd(&["MULTI"]);
    p.cmd(&["RPUSH", "q", "b", "c"]);
    p.cmd(&["LLEN", "q"]);
    assert_eq!(p.cmd(&["EXEC"]), V::Arr(vec![V::Int(2), V::Int(2)]));
    assert_eq!(
        waiter.read(),
        V::Arr(vec![V::Bulk(b"q".to_vec()), V::Bulk(b"b".to_vec())])
    );
    assert_eq!(
        p.cmd(&["LRANGE", "q", "0", "-1"]),
        V::Arr(vec![V::Bulk(b"c".to_vec())])
    );
}

#[test]
fn exec_is_all_or_nothing_across_kill9() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    for round in 0..4 {
        let port = common::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args([
                "server",
                "--port",
                &port.to_string(),
                "--loglevel",
                "warning",
                "--dir",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        // Until its data is loaded the server answers -LOADING (PING included).
        let t0 = Instant::now();
        let mut c = loop {
            if std::net::TcpStream::connect(addr).is_ok() {
                let mut c = common::RawClient::connect(addr);
                if c.cmd(&["PING"]) == V::Simple("PONG".into()) {
                    break c;
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(20));
        };
        // Every transaction written so far must be whole: keys a:N, b:N, c:N together.
        let V::Arr(keys) = c.cmd(&["KEYS", "*"]) else {
            panic!("keys")
        };
        let mut ids = std::collections::BTreeMap::<String, u32>::new();
        for k in keys {
            let k = k.text();
            let (_, id) = k.split_once(':').expect("prefix");
            *ids.entry(id.to_string()).or_default() += 1;
        }
        for (id, n) in &ids {
            assert_eq!(*n, 3, "transaction {id} is partial after kill -9");
        }
        if round == 3 {
            assert!(
                ids.len() > 10,
                "too few transactions to mean anything: {}",
                ids.len()
            );
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        // Write transactions on two connections, then kill at a random moment.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut hs = Vec::new();
        for w in 0..2 {
            let stop = stop.clone();
            hs.push(std::thread::spawn(move || {
                let mut c = common::RawClient::connect(addr);
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = format!("{round}-{w}-{n}");
                    c.send(&[b"MULTI"]);
                    for p in ["a", "b", "c"] {
                        c.send(&[b"SET", format!("{p}:{id}").as_bytes(), b"v"]);
                    }
                    c.send(&[b"EXEC"]);
                    for _ in 0..5 {
                        if c.try_read().is_none() {
                            return;
                        }
                    }
                    n += 1;
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(150 + 100 * round));
        child.kill().expect("kill");
        child.wait().expect("wait");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in hs {
            let _ = h.join();
        }
    }
}

/// Keys already expired (but still stored: active expiry off) when WATCHed: their lazy
/// deletion, FLUSHDB or SWAPDB is no change and EXEC runs, as in Redis 7.0 (multi.tcl
/// "WATCH stale keys should not fail EXEC" and the FLUSHDB / SWAPDB variants); a key
/// live when WATCHed that expires still fails EXEC.
#[test]
fn watched_stale_keys_do_not_fail_exec() {
    let s = common::TestServer::start(&[]);
    let mut c = s.raw();
    let pong = || common::V::Arr(vec![common::V::Simple("PONG".into())]);
    let stale = |c: &mut common::RawClient, db: &str| {
        c.cmd(&["SELECT", db]);
        c.cmd(&["SET", "x", "foo", "PX", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let exec = |c: &mut common::RawClient| {
        c.cmd(&["MULTI"]);
        c.cmd(&["PING"]);
        c.cmd(&["EXEC"])
    };
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    // Plain.
    stale(&mut c, "9");
    c.cmd(&["WATCH", "x"]);
    assert_eq!(exec(&mut c), pong());
    // Deleted by lazy expiry.
    stale(&mut c, "9");
    c.cmd(&["WATCH", "x"]);
    assert_eq!(c.cmd(&["EXISTS", "x"]), common::V::Int(0));
    assert_eq!(exec(&mut c), pong());
    // FLUSHDB.
    stale(&mut c, "9");
    c.cmd(&["WATCH", "x"]);
    c.cmd(&["FLUSHDB"]);
    assert_eq!(exec(&mut c), pong());
    // SWAPDB: stale key replaced with no key; no key replaced with a stale key; stale
    // replaced with stale.
    c.cmd(&["FLUSHALL"]);
    stale(&mut c, "1");
    c.cmd(&["WATCH", "x"]);
    c.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(exec(&mut c), pong());
    c.cmd(&["FLUSHALL"]);
    stale(&mut c, "0");
    c.cmd(&["SELECT", "1"]);
    c.cmd(&["WATCH", "x"]);
    c.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(exec(&mut c), pong());
    c.cmd(&["FLUSHALL"]);
    stale(&mut c, "0");
    stale(&mut c, "1");
    c.cmd(&["WATCH", "x"]);
    c.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(exec(&mut c), pong());
    // A stale watched key set again is a change.
    stale(&mut c, "9");
    c.cmd(&["WATCH", "x"]);
    let mut other = s.raw();
    other.cmd(&["SELECT", "9"]);
    other.cmd(&["SET", "x", "new"]);
    assert_eq!(exec(&mut c), common::V::Nil);
    // A live watched key that expires fails EXEC (alive when watched: on a slow machine
    // the WATCH may come after the TTL, so that setup is tried again).
    let mut tries = 0;
    loop {
        c.cmd(&["SET", "y", "foo", "PX", "100"]);
        c.cmd(&["WATCH", "y"]);
        if matches!(c.cmd(&["PTTL", "y"]), common::V::Int(n) if n > 0) {
            break;
        }
        c.cmd(&["UNWATCH"]);
        tries += 1;
        assert!(tries < 10, "y expired before WATCH every time");
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(exec(&mut c), common::V::Nil);
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
}

/// An SMOVE whose member the destination already holds changes only the source: a WATCH
/// of the destination holds (Redis's set.tcl "SMOVE only notify dstset when the addition
/// is successful"); one that adds to the destination breaks it.
#[test]
fn smove_touches_the_destination_only_when_it_adds() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    a.cmd(&["SADD", "src", "a", "b"]);
    a.cmd(&["SADD", "dst", "a"]);
    assert_eq!(a.cmd(&["WATCH", "dst"]), ok());
    a.cmd(&["MULTI"]);
    a.cmd(&["SADD", "dst", "c"]);
    assert_eq!(b.cmd(&["SMOVE", "src", "dst", "a"]), V::Int(1));
    assert_eq!(a.cmd(&["EXEC"]), V::Arr(vec![V::Int(1)]));
    assert_eq!(a.cmd(&["SCARD", "dst"]), V::Int(2));
    assert_eq!(a.cmd(&["WATCH", "dst"]), ok());
    a.cmd(&["MULTI"]);
    a.cmd(&["SADD", "dst", "d"]);
    assert_eq!(b.cmd(&["SMOVE", "src", "dst", "b"]), V::Int(1));
    assert_eq!(a.cmd(&["EXEC"]), V::Nil);
}

/// Which writes break a WATCH, case by case, decided by redis-server 7.0: each case is run
/// on both servers (setup in db 2, the watcher in db 2 or 3, the write by another client
/// in db 2) and the EXEC must abort on strata exactly when it aborts on redis-server.
/// Redis signals the key modified (its `signalModifiedKey`) for an LTRIM that trims
/// nothing and for the destination of MOVE and COPY … DB, not for the sources of the
/// store commands nor for stream consumer-group bookkeeping.
#[test]
fn the_writes_that_break_a_watch_are_redis_s() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let strata = TestServer::start(&[]);
    type Case = (
        &'static str,
        &'static [&'static str],
        &'static str,
        &'static str,
        u8,
    );
    let cases: &[Case] = &[
        (
            "ltrim trimming nothing",
            &["RPUSH l a b c"],
            "LTRIM l 0 -1",
            "l",
            2,
        ),
        ("ltrim trimming", &["RPUSH l a b c"], "LTRIM l 0 0", "l", 2),
        ("ltrim of no key", &[], "LTRIM l 0 -1", "l", 2),
        ("move: the source", &["SET k v"], "MOVE k 3", "k", 2),
        ("move: the destination", &["SET k v"], "MOVE k 3", "k", 3),
        ("copy: the source", &["SET k v"], "COPY k k2", "k", 2),
        ("copy: the destination", &["SET k v"], "COPY k k2", "k2", 2),
        (
            "copy db: the destination",
            &["SET k v"],
            "COPY k k2 DB 3",
            "k2",
            3,
        ),
        (
            "copy db: same name here",
            &["SET k v"],
            "COPY k k2 DB 3",
            "k2",
            2,
        ),
        (
            "sinterstore: a source",
            &["SADD a x", "SADD b x"],
            "SINTERSTORE d a b",
            "a",
            2,
        ),
        (
            "sinterstore: the destination",
            &["SADD a x"],
            "SINTERSTORE d a",
            "d",
            2,
        ),
        (
            "sunionstore: a source",
            &["SADD a x"],
            "SUNIONSTORE d a",
            "a",
            2,
        ),
        (
            "sdiffstore: a source",
            &["SADD a x"],
            "SDIFFSTORE d a",
            "a",
            2,
        ),
        (
            "zrangestore: the source",
            &["ZADD a 1 x"],
            "ZRANGESTORE d a 0 -1",
            "a",
            2,
        ),
        (
            "zunionstore: a source",
            &["ZADD a 1 x"],
            "ZUNIONSTORE d 1 a",
            "a",
            2,
        ),
        ("bitop: a source", &["SET a x"], "BITOP NOT d a", "a", 2),
        (
            "bitop: the destination",
            &["SET a x"],
            "BITOP NOT d a",
            "d",
            2,
        ),
        ("pfmerge: a source", &["PFADD a x"], "PFMERGE d a", "a", 2),
        (
            "geosearchstore: the source",
            &["GEOADD a 0 0 m"],
            "GEOSEARCHSTORE d a FROMLONLAT 0 0 BYRADIUS 1 km",
            "a",
            2,
        ),
        (
            "georadius store: the source",
            &["GEOADD a 0 0 m"],
            "GEORADIUS a 0 0 1 km STORE d",
            "a",
            2,
        ),
        (
            "georadius store: the destination",
            &["GEOADD a 0 0 m"],
            "GEORADIUS a 0 0 1 km STORE d",
            "d",
            2,
        ),
        (
            "lmove: the source",
            &["RPUSH a x"],
            "LMOVE a b LEFT LEFT",
            "a",
            2,
        ),
        ("xadd", &["XADD x 1-1 f v"], "XADD x 2-1 f v", "x", 2),
        ("xsetid", &["XADD x 1-1 f v"], "XSETID x 5-5", "x", 2),
        (
            "xgroup create",
            &["XADD x 1-1 f v"],
            "XGROUP CREATE x g 0",
            "x",
            2,
        ),
        (
            "xgroup create mkstream",
            &[],
            "XGROUP CREATE x g 0 MKSTREAM",
            "x",
            2,
        ),
        (
            "xgroup destroy",
            &["XADD x 1-1 f v", "XGROUP CREATE x g 0"],
            "XGROUP DESTROY x g",
            "x",
            2,
        ),
        (
            "xreadgroup",
            &["XADD x 1-1 f v", "XGROUP CREATE x g 0"],
            "XREADGROUP GROUP g c STREAMS x >",
            "x",
            2,
        ),
        (
            "xack",
            &[
                "XADD x 1-1 f v",
                "XGROUP CREATE x g 0",
                "XREADGROUP GROUP g c STREAMS x >",
            ],
            "XACK x g 1-1",
            "x",
            2,
        ),
        (
            "xclaim",
            &[
                "XADD x 1-1 f v",
                "XGROUP CREATE x g 0",
                "XREADGROUP GROUP g c STREAMS x >",
            ],
            "XCLAIM x g d 0 1-1",
            "x",
            2,
        ),
        (
            "xtrim",
            &["XADD x 1-1 f v", "XADD x 2-1 f v"],
            "XTRIM x MAXLEN 1",
            "x",
            2,
        ),
    ];
    let aborts = |a: &mut RawClient, b: &mut RawClient, w: &mut RawClient, case: &Case| {
        let (_, setup, write, key, db) = *case;
        a.cmd(&["FLUSHALL"]);
        for line in setup {
            a.cmd(&line.split(' ').collect::<Vec<_>>());
        }
        w.cmd(&["SELECT", &db.to_string()]);
        assert_eq!(w.cmd(&["WATCH", key]), ok());
        b.cmd(&write.split(' ').collect::<Vec<_>>());
        w.cmd(&["MULTI"]);
        w.cmd(&["PING"]);
        w.cmd(&["EXEC"]) == V::Nil
    };
    let clients = |raw: &dyn Fn() -> RawClient| {
        let (mut a, mut b, w) = (raw(), raw(), raw());
        a.cmd(&["SELECT", "2"]);
        b.cmd(&["SELECT", "2"]);
        (a, b, w)
    };
    let (mut sa, mut sb, mut sw) = clients(&|| strata.raw());
    let (mut ra, mut rb, mut rw) = clients(&|| oracle.raw());
    let mut wrong = Vec::new();
    for case in cases {
        let s = aborts(&mut sa, &mut sb, &mut sw, case);
        let r = aborts(&mut ra, &mut rb, &mut rw, case);
        if s != r {
            wrong.push(format!("{}: strata aborts {s}, redis-server {r}", case.0));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
