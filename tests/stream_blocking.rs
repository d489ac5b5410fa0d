//! Blocking stream reads with several real clients: XREAD BLOCK with `$` is served by a
//! later XADD (and only by entries added after it blocked), XREADGROUP BLOCK `>` is served
//! by XADD with the delivery recorded in the PEL, timeouts reply nil, and the served
//! deliveries survive a restart.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, V};

fn bulk(s: &str) -> V {
    V::Bulk(s.as_bytes().to_vec())
}

fn entry(id: &str, kv: &[&str]) -> V {
    V::Arr(vec![bulk(id), V::Arr(kv.iter().map(|s| bulk(s)).collect())])
}

#[test]
fn xread_block_dollar_is_served_by_a_later_xadd() {
    let s = TestServer::start(&[]);
    let mut reader = s.raw();
    let mut writer = s.raw();
    assert_eq!(writer.cmd(&["XADD", "s", "1-0", "old", "x"]), bulk("1-0"));
    reader.send(&[
        b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"other", b"$", b"$",
    ]);
    writer.wait_blocked(1);
    // A write to an unrelated key does not serve it.
    assert_eq!(
        writer.cmd(&["XADD", "unrelated", "1-0", "a", "b"]),
        bulk("1-0")
    );
    assert_eq!(writer.cmd(&["XADD", "s", "2-0", "new", "y"]), bulk("2-0"));
    assert_eq!(
        reader.read(),
        V::Arr(vec![V::Arr(vec![
            bulk("s"),
            V::Arr(vec![entry("2-0", &["new", "y"])])
        ])])
    );
    // A stream created after blocking on a missing key serves from its first entry.
    reader.send(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"fresh", b"$"]);
    writer.wait_blocked(1);
    assert_eq!(writer.cmd(&["XADD", "fresh", "7-0", "k", "v"]), bulk("7-0"));
    assert_eq!(
        reader.read(),
        V::Arr(vec![V::Arr(vec![
            bulk("fresh"),
            V::Arr(vec![entry("7-0", &["k", "v"])])
        ])])
    );
}

#[test]
fn xread_block_times_out_with_nil() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    let t0 = Instant::now();
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "150", "STREAMS", "s", "$"]),
        V::Nil
    );
    assert!(t0.elapsed() >= Duration::from_millis(130));
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "-1", "STREAMS", "s", "$"]),
        V::Err("ERR timeout is negative".into())
    );
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
}

#[test]
fn xreadgroup_block_is_served_by_xadd_and_survives_restart() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    let mut w = s.raw();
    assert_eq!(
        w.cmd(&["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"]),
        V::Simple("OK".into())
    );
    a.send(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"alice",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"q",
        b">",
    ]);
    w.wait_blocked(1);
    b.send(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"bob",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"q",
        b">",
    ]);
    w.wait_blocked(2);
    assert_eq!(w.cmd(&["XADD", "q", "1-0", "job", "1"]), bulk("1-0"));
    // The oldest waiter gets the entry; the other stays parked.
    assert_eq!(
        a.read(),
        V::Arr(vec![V::Arr(vec![
            bulk("q"),
            V::Arr(vec![entry("1-0", &["job", "1"])])
        ])])
    );
    w.wait_blocked(1);
    assert_eq!(w.cmd(&["XADD", "q", "2-0", "job", "2"]), bulk("2-0"));
    assert_eq!(
        b.read(),
        V::Arr(vec![V::Arr(vec![
            bulk("q"),
            V::Arr(vec![entry("2-0", &["job", "2"])])
        ])])
    );
    let summary = w.cmd(&["XPENDING", "q", "g"]);
    assert_eq!(
        summary,
        V::Arr(vec![
            V::Int(2),
            bulk("1-0"),
            bulk("2-0"),
            V::Arr(vec![
                V::Arr(vec![bulk("alice"), bulk("1")]),
                V::Arr(vec![bulk("bob"), bulk("1")])
            ])
        ])
    );
    let full = w.cmd(&["XINFO", "STREAM", "q", "FULL"]);
    drop((a, b, w));
    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["XPENDING", "q", "g"]), summary);
    assert_eq!(c.cmd(&["XINFO", "STREAM", "q", "FULL"]), full);
}

/// A consumer served by a unit that runs for a while (EXEC … DEBUG SLEEP) gets the
/// delivery and seen times its record replays with: the unit's time, not when it ended.
#[test]
fn xreadgroup_served_by_a_long_unit_replays_the_same_times() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut w = s.raw();
    assert_eq!(
        w.cmd(&["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"]),
        V::Simple("OK".into())
    );
    a.send(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"alice",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"q",
        b">",
    ]);
    w.wait_blocked(1);
    w.cmd(&["MULTI"]);
    w.cmd(&["XADD", "q", "1-0", "job", "1"]);
    w.cmd(&["DEBUG", "SLEEP", "0.05"]);
    assert!(matches!(w.cmd(&["EXEC"]), V::Arr(_)));
    assert_eq!(
        a.read(),
        V::Arr(vec![V::Arr(vec![
            bulk("q"),
            V::Arr(vec![entry("1-0", &["job", "1"])])
        ])])
    );
    let full = w.cmd(&["XINFO", "STREAM", "q", "FULL"]);
    drop((a, w));
    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["XINFO", "STREAM", "q", "FULL"]), full);
}

/// A consumer parked in XREADGROUP whose stream is deleted, replaced by another type or
/// flushed gets Redis's UNBLOCKED error; a plain XREAD reader stays parked when the key
/// becomes another type (stream-cgroups.tcl / stream.tcl "Blocking XREADGROUP: key
/// deleted", "... flushed DB", "XREAD: XADD + DEL + LPUSH should not awake client").
#[test]
fn parked_group_readers_learn_their_stream_is_gone() {
    let s = TestServer::start(&[]);
    let mut r = s.raw();
    let mut rd = s.raw();
    let unblocked = V::Err("UNBLOCKED the stream key no longer exists".into());
    let setup = |r: &mut common::RawClient| {
        r.cmd(&["DEL", "mystream"]);
        r.cmd(&["XADD", "mystream", "666", "f", "v"]);
        r.cmd(&["XGROUP", "CREATE", "mystream", "mygroup", "$"]);
    };
    let park = |rd: &mut common::RawClient, r: &mut common::RawClient| {
        rd.send(&[
            b"XREADGROUP",
            b"GROUP",
            b"mygroup",
            b"Alice",
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"mystream",
            b">",
        ]);
        r.wait_blocked(1);
    };
    setup(&mut r);
    park(&mut rd, &mut r);
    r.cmd(&["DEL", "mystream"]);
    assert_eq!(rd.read(), unblocked);
    setup(&mut r);
    park(&mut rd, &mut r);
    r.cmd(&["SET", "mystream", "val1"]);
    assert_eq!(rd.read(), unblocked);
    setup(&mut r);
    park(&mut rd, &mut r);
    r.cmd(&["MULTI"]);
    r.cmd(&["DEL", "mystream"]);
    r.cmd(&["SADD", "mystream", "e1"]);
    r.cmd(&["EXEC"]);
    assert_eq!(rd.read(), unblocked);
    setup(&mut r);
    park(&mut rd, &mut r);
    r.cmd(&["FLUSHALL"]);
    assert_eq!(rd.read(), unblocked);
    // Plain XREAD: stays parked through DEL + LPUSH, served by the next XADD.
    r.cmd(&["DEL", "s"]);
    r.cmd(&["XADD", "s", "1-0", "f", "v"]);
    rd.send(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    r.wait_blocked(1);
    r.cmd(&["MULTI"]);
    r.cmd(&["XADD", "s", "2-0", "f", "v"]);
    r.cmd(&["DEL", "s"]);
    r.cmd(&["LPUSH", "s", "x"]);
    r.cmd(&["EXEC"]);
    r.wait_blocked(1);
    r.cmd(&["DEL", "s"]);
    r.cmd(&["XADD", "s", "3-0", "k", "v"]);
    assert_eq!(
        rd.read(),
        V::Arr(vec![V::Arr(vec![
            bulk("s"),
            V::Arr(vec![entry("3-0", &["k", "v"])])
        ])])
    );
}
