//! Blocking commands with several real clients: a parked BLPOP is served by the push that
//! makes its key ready (inside that push's execution unit and log record), in FIFO order;
//! timeouts reply nil; a client killed while blocked leaves no trace; BLMOVE chains wake
//! the next waiter; and served pops survive a restart exactly.

mod common;

use std::time::{Duration, Instant};

use common::{RawClient, TestServer, V};

fn bulk(s: &str) -> V {
    V::Bulk(s.as_bytes().to_vec())
}

fn arr(items: &[&str]) -> V {
    V::Arr(items.iter().map(|s| bulk(s)).collect())
}

#[test]
fn blpop_is_served_by_a_later_push() {
    let s = TestServer::start(&[]);
    let mut waiter = s.raw();
    let mut pusher = s.raw();
    waiter.send(&[b"BLPOP", b"q", b"0"]);
    pusher.wait_blocked(1);
    assert_eq!(pusher.cmd(&["LPUSH", "q", "job1"]), V::Int(1));
    assert_eq!(waiter.read(), arr(&["q", "job1"]));
    assert_eq!(pusher.cmd(&["LLEN", "q"]), V::Int(0));
    assert_eq!(pusher.cmd(&["EXISTS", "q"]), V::Int(0));
}

/// A waiter that disconnects stops waiting at once, as Redis frees a blocked client on
/// EOF: the next push stays in the list (strata used to hand it to the connection that was
/// gone, and the element was lost). Commands a waiter pipelines behind its BLPOP run once
/// it is served.
#[test]
fn a_waiter_that_disconnects_gets_nothing_and_loses_nothing() {
    let s = TestServer::start(&[]);
    let mut p = s.raw();
    let mut gone = s.raw();
    gone.send(&[b"BLPOP", b"q", b"0"]);
    p.wait_blocked(1);
    drop(gone);
    p.wait_blocked(0);
    assert_eq!(p.cmd(&["LPUSH", "q", "job"]), V::Int(1));
    assert_eq!(p.cmd(&["LLEN", "q"]), V::Int(1));
    let mut w = s.raw();
    w.send(&[b"BLPOP", b"q2", b"0"]);
    p.wait_blocked(1);
    w.send(&[b"PING"]);
    assert_eq!(p.cmd(&["RPUSH", "q2", "x"]), V::Int(1));
    assert_eq!(w.read(), arr(&["q2", "x"]));
    assert_eq!(w.read(), V::Simple("PONG".into()));
}

/// Input a waiter sends while parked counts against `client-query-buffer-limit`: past
/// it the client is closed and no longer waits, as Redis closes it.
#[test]
fn a_waiter_past_the_query_buffer_limit_is_closed() {
    let s = TestServer::start(&[("client-query-buffer-limit", "1mb")]);
    let mut p = s.raw();
    let mut w = s.raw();
    w.send(&[b"BLPOP", b"q", b"0"]);
    p.wait_blocked(1);
    // An incomplete request bigger than the limit.
    w.send_raw(b"*2\r\n$3\r\nGET\r\n$3000000\r\n");
    let _ = w.try_send_raw(&vec![b'v'; 1_500_000]);
    p.wait_blocked(0);
    assert_eq!(p.cmd(&["LPUSH", "q", "x"]), V::Int(1));
    assert_eq!(p.cmd(&["LLEN", "q"]), V::Int(1));
}

#[test]
fn waiters_are_served_in_fifo_order() {
    let s = TestServer::start(&[]);
    let mut ws: Vec<RawClient> = (0..3).map(|_| s.raw()).collect();
    let mut p = s.raw();
    for (i, w) in ws.iter_mut().enumerate() {
        w.send(&[b"BRPOP", b"q", b"other", b"0"]);
        p.wait_blocked(i + 1);
    }
    assert_eq!(p.cmd(&["RPUSH", "q", "a", "b", "c", "d"]), V::Int(4));
    // BRPOP pops from the tail: the first waiter gets the last element.
    assert_eq!(ws[0].read(), arr(&["q", "d"]));
    assert_eq!(ws[1].read(), arr(&["q", "c"]));
    assert_eq!(ws[2].read(), arr(&["q", "b"]));
    assert_eq!(p.cmd(&["LRANGE", "q", "0", "-1"]), arr(&["a"]));
}

#[test]
fn timeouts_reply_nil_and_errors_are_redis_texts() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    let t0 = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "none", "0.2"]), V::Nil);
    let dt = t0.elapsed();
    assert!(
        dt >= Duration::from_millis(180) && dt < Duration::from_secs(3),
        "{dt:?}"
    );
    assert_eq!(
        c.cmd(&["BLMOVE", "none", "d", "LEFT", "RIGHT", "0.05"]),
        V::Nil
    );
    assert_eq!(
        c.cmd(&["BLPOP", "k", "abc"]),
        V::Err("ERR timeout is not a float or out of range".into())
    );
    assert_eq!(
        c.cmd(&["BLPOP", "k", "-1"]),
        V::Err("ERR timeout is negative".into())
    );
    c.cmd(&["SET", "s", "x"]);
    assert_eq!(
        c.cmd(&["BLPOP", "s", "1"]),
        V::Err("WRONGTYPE Operation against a key holding the wrong kind of value".into())
    );
    // The connection is usable after a timeout.
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
}

#[test]
fn a_client_killed_while_blocked_leaves_no_trace() {
    let s = TestServer::start(&[]);
    let mut victim = s.raw();
    let mut admin = s.raw();
    assert!(matches!(victim.cmd(&["CLIENT", "ID"]), V::Int(_)));
    let V::Int(id) = victim.cmd(&["CLIENT", "ID"]) else {
        panic!("id")
    };
    victim.send(&[b"BLPOP", b"q", b"0"]);
    admin.wait_blocked(1);
    assert_eq!(
        admin.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        V::Int(1)
    );
    admin.wait_blocked(0);
    assert_eq!(victim.try_read(), None, "killed client got a reply");
    assert_eq!(admin.cmd(&["RPUSH", "q", "x"]), V::Int(1));
    assert_eq!(admin.cmd(&["LLEN", "q"]), V::Int(1));
}

#[test]
fn blmove_chain_and_served_pops_survive_restart() {
    let s = TestServer::start(&[]);
    let mut mover = s.raw();
    let mut tail = s.raw();
    let mut p = s.raw();
    mover.send(&[b"BLMOVE", b"src", b"dst", b"LEFT", b"RIGHT", b"0"]);
    p.wait_blocked(1);
    tail.send(&[b"BLPOP", b"dst", b"0"]);
    p.wait_blocked(2);
    assert_eq!(p.cmd(&["RPUSH", "src", "x", "y"]), V::Int(2));
    assert_eq!(mover.read(), bulk("x"));
    assert_eq!(tail.read(), arr(&["dst", "x"]));
    assert_eq!(p.cmd(&["LRANGE", "src", "0", "-1"]), arr(&["y"]));
    assert_eq!(p.cmd(&["EXISTS", "dst"]), V::Int(0));
    drop((mover, tail, p));
    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["LRANGE", "src", "0", "-1"]), arr(&["y"]));
    assert_eq!(c.cmd(&["EXISTS", "dst"]), V::Int(0));
}

#[test]
fn a_parked_client_runs_nothing_more_until_served() {
    let s = TestServer::start(&[]);
    let mut waiter = s.raw();
    let mut p = s.raw();
    // BLPOP and PING pipelined: PING must wait until BLPOP is served, as in Redis.
    waiter.send_raw(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n");
    p.wait_blocked(1);
    assert_eq!(p.cmd(&["RPUSH", "q", "v"]), V::Int(1));
    assert_eq!(waiter.read(), arr(&["q", "v"]));
    assert_eq!(waiter.read(), V::Simple("PONG".into()));
}

/// A transaction that pushes to the key, deletes it and sets it to a string leaves the
/// waiter parked (not answered WRONGTYPE); a later push serves it (list.tcl "BLPOP, LPUSH
/// + DEL + SET should not awake blocked client"; BZPOPMIN likewise).
#[test]
fn a_key_of_another_type_does_not_wake_a_waiter() {
    let s = TestServer::start(&[]);
    let mut w = s.raw();
    let mut p = s.raw();
    for (pop, push, item) in [
        ("BLPOP", vec!["LPUSH", "k", "b"], vec!["k", "b"]),
        ("BZPOPMIN", vec!["ZADD", "k", "1", "b"], vec!["k", "b", "1"]),
    ] {
        w.send(&[pop.as_bytes(), b"k", b"0"]);
        p.wait_blocked(1);
        p.cmd(&["MULTI"]);
        p.cmd(&[push[0], "k", push[2], push.get(3).copied().unwrap_or("a")]);
        p.cmd(&["DEL", "k"]);
        p.cmd(&["SET", "k", "foo"]);
        assert!(matches!(p.cmd(&["EXEC"]), V::Arr(_)));
        p.wait_blocked(1);
        p.cmd(&["DEL", "k"]);
        let args: Vec<&str> = push.clone();
        p.cmd(&args);
        assert_eq!(w.read(), arr(&item));
    }
    // Outside a wake-up, a key of another type is still WRONGTYPE.
    p.cmd(&["SET", "s", "x"]);
    assert!(matches!(p.cmd(&["BLPOP", "s", "0"]), V::Err(e) if e.starts_with("WRONGTYPE")));
}

/// A parked client shows `flags=b` in CLIENT LIST, as Redis (list.tcl checks it).
#[test]
fn client_list_flags_a_blocked_client() {
    let s = TestServer::start(&[]);
    let mut w = s.raw();
    let mut p = s.raw();
    let id = w.client_id();
    w.send(&[b"BLPOP", b"q", b"0"]);
    p.wait_blocked(1);
    let line = p.cmd(&["CLIENT", "LIST", "ID", &id.to_string()]).text();
    assert!(line.contains(" flags=b "), "{line}");
    p.cmd(&["LPUSH", "q", "x"]);
    assert_eq!(w.read(), arr(&["q", "x"]));
    let line = p.cmd(&["CLIENT", "LIST", "ID", &id.to_string()]).text();
    assert!(line.contains(" flags=N "), "{line}");
}

/// A key that expires while the unit that filled it runs (EXEC ... DEBUG SLEEP) wakes
/// nobody: parked clients are served at the unit's end time (list.tcl "MULTI + LPUSH +
/// EXPIRE + DEBUG SLEEP on blocked client, key already expired").
#[test]
fn a_key_expired_by_the_end_of_the_unit_wakes_nobody() {
    let s = TestServer::start(&[]);
    let mut w = s.raw();
    let mut p = s.raw();
    p.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let id = w.client_id();
    w.send(&[b"BRPOP", b"k", b"0"]);
    p.wait_blocked(1);
    p.cmd(&["MULTI"]);
    p.cmd(&["RPUSH", "k", "hello"]);
    p.cmd(&["PEXPIRE", "k", "100"]);
    p.cmd(&["DEBUG", "SLEEP", "0.2"]);
    assert!(matches!(p.cmd(&["EXEC"]), V::Arr(_)));
    let line = p.cmd(&["CLIENT", "LIST", "ID", &id.to_string()]).text();
    assert!(line.contains(" flags=b "), "{line}");
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id.to_string()]), V::Int(1));
    assert_eq!(w.read(), V::Nil);
    p.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
}

/// SWAPDB serves a client parked on a key the swap brings in (list.tcl "SWAPDB awakes
/// blocked client").
#[test]
fn swapdb_serves_a_waiter() {
    let s = TestServer::start(&[]);
    let mut w = s.raw();
    let mut p = s.raw();
    p.cmd(&["SELECT", "1"]);
    p.cmd(&["RPUSH", "k", "hello"]);
    w.cmd(&["SELECT", "9"]);
    w.send(&[b"BRPOP", b"k", b"5"]);
    p.wait_blocked(1);
    assert_eq!(p.cmd(&["SWAPDB", "1", "9"]), V::Simple("OK".into()));
    assert_eq!(w.read(), arr(&["k", "hello"]));
}

/// MOVE and COPY … DB make the key ready in the database they write to, as Redis's dbAdd
/// signals it: a waiter there is served at once (it used to wait out its timeout, and the
/// element stayed behind).
#[test]
fn move_and_copy_into_another_db_serve_its_waiter() {
    let s = TestServer::start(&[]);
    let mut w = s.raw();
    let mut p = s.raw();
    w.cmd(&["SELECT", "3"]);
    p.cmd(&["RPUSH", "l", "moved"]);
    w.send(&[b"BLPOP", b"l", b"5"]);
    p.wait_blocked(1);
    assert_eq!(p.cmd(&["MOVE", "l", "3"]), V::Int(1));
    assert_eq!(w.read(), arr(&["l", "moved"]));
    p.cmd(&["RPUSH", "l", "copied"]);
    w.send(&[b"BLPOP", b"l", b"5"]);
    p.wait_blocked(1);
    assert_eq!(p.cmd(&["COPY", "l", "l", "DB", "3"]), V::Int(1));
    assert_eq!(w.read(), arr(&["l", "copied"]));
    // The source is untouched; the copy was popped by the waiter.
    assert_eq!(p.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["copied"]));
    w.cmd(&["SELECT", "3"]);
    assert_eq!(w.cmd(&["EXISTS", "l"]), V::Int(0));
}

/// GEORADIUS … STORE / STOREDIST write their destination, named after an option: a
/// BZPOPMIN waiting on it is served (it used to time out, the stored set left behind).
#[test]
fn georadius_store_serves_a_waiter_on_its_destination() {
    let s = TestServer::start(&[]);
    let mut w = s.raw();
    let mut p = s.raw();
    p.cmd(&["GEOADD", "src", "0", "0", "m"]);
    for (store, member_score) in [
        ("STORE", "3377699720527872"),
        ("STOREDIST", "0.00032995892652879"),
    ] {
        w.send(&[b"BZPOPMIN", b"dst", b"5"]);
        p.wait_blocked(1);
        let n = p.cmd(&["GEORADIUS", "src", "0", "0", "1", "km", store, "dst"]);
        assert_eq!(n, V::Int(1), "{store}");
        match w.read() {
            V::Arr(a) => {
                assert_eq!(a[..2], [bulk("dst"), bulk("m")], "{store}");
                let V::Bulk(score) = &a[2] else {
                    panic!("{store}: score {:?}", a[2])
                };
                assert!(
                    String::from_utf8_lossy(score).starts_with(member_score),
                    "{store}"
                );
            }
            other => panic!("{store}: {other:?}"),
        }
    }
}
