//! Active expiry at scale, end to end through a socket: many keys due at once are all
//! reclaimed by the background cycle with nobody reading them, in every database, while
//! other clients keep being served; the expiry DELs are journaled so a restart holds
//! exactly the surviving keyspace; `expired` events fire per key; DEBUG SET-ACTIVE-EXPIRE 0
//! stops the cycle; and the `active-expire-effort` knobs scale as Redis's do.
//!
//! The time bounds are loose on purpose (debug build, loaded 2-core machine): they catch a
//! cycle that never finishes or holds the lock for a whole pass, not a slow one.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{RawClient, TestServer, V};
use strata::server::engine::{ExpireCycle, ExpireKnobs};

fn info_field(c: &mut RawClient, section: &str, field: &str) -> u64 {
    info_text(c, section, field).parse().expect("number")
}

fn info_text(c: &mut RawClient, section: &str, field: &str) -> String {
    let text = c.cmd(&["INFO", section]).text();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

fn ok(c: &mut RawClient, args: &[&str]) {
    assert_eq!(c.cmd(args), V::Simple("OK".into()), "{args:?}");
}

/// Send `n` commands made by `make(i)`, pipelined; every reply must be +OK.
fn pipeline_ok(c: &mut RawClient, n: usize, make: impl Fn(usize) -> Vec<String>) {
    c.pipeline(n, make, |r| assert_eq!(r, V::Simple("OK".into())));
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms fit")
}

fn keys_of(c: &mut RawClient, db: usize) -> BTreeSet<String> {
    ok(c, &["SELECT", &db.to_string()]);
    match c.cmd(&["KEYS", "*"]) {
        V::Arr(a) => a.iter().map(V::text).collect(),
        other => panic!("KEYS: {other:?}"),
    }
}

fn total_keys(s: &TestServer) -> usize {
    s.engine.with_state(|st| st.ks.total_keys())
}

/// Wait (at most `limit`) until the server holds `want` keys, pinging meanwhile; returns
/// the slowest PING.
fn wait_keys(s: &TestServer, c: &mut RawClient, want: usize, limit: Duration) -> Duration {
    let t0 = Instant::now();
    let mut worst = Duration::ZERO;
    while total_keys(s) != want {
        let p = Instant::now();
        assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
        worst = worst.max(p.elapsed());
        assert!(
            t0.elapsed() < limit,
            "{} keys left after {limit:?} (want {want})",
            total_keys(s)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "reached {want} keys in {:?}, slowest PING {worst:?}",
        t0.elapsed()
    );
    worst
}

#[test]
fn keys_due_at_once_are_reclaimed_in_every_db_and_replay_matches() {
    // Default hz 10 and effort 1: the slow cycle alone would take many periods; the fast
    // cycles do most of the work.
    let s = TestServer::start(&[("appendfsync", "everysec")]);
    let mut c = s.raw();
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    const DBS: [usize; 3] = [0, 7, 15];
    const PER_DB: usize = 40_000;
    let at = (now_ms() + 300).to_string();
    let mut survivors = Vec::new();
    for db in DBS {
        ok(&mut c, &["SELECT", &db.to_string()]);
        pipeline_ok(&mut c, PER_DB, |i| {
            vec![
                "SET".into(),
                format!("due:{db}:{i}"),
                "v".repeat(20),
                "PXAT".into(),
                at.clone(),
            ]
        });
        // Survivors: no TTL, and a TTL far away.
        pipeline_ok(&mut c, 200, |i| {
            let mut cmd = vec!["SET".into(), format!("keep:{db}:{i}"), "x".into()];
            if i % 2 == 1 {
                cmd.extend(["EX".into(), "3600".into()]);
            }
            cmd
        });
        survivors.push(
            (0..200)
                .map(|i| format!("keep:{db}:{i}"))
                .collect::<BTreeSet<_>>(),
        );
    }
    let total = DBS.len() * (PER_DB + 200);
    assert_eq!(total_keys(&s), total);
    std::thread::sleep(Duration::from_millis(400));
    // Due, but the cycle is off: nothing is reclaimed.
    assert_eq!(total_keys(&s), total);
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 0);
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let mut pinger = s.raw();
    let worst = wait_keys(&s, &mut pinger, DBS.len() * 200, Duration::from_secs(90));
    // One slice holds the lock for about 1 ms; a debug build on a loaded machine needs
    // slack, but a whole pass over 120k keys under the lock would take far longer.
    assert!(
        worst < Duration::from_millis(500),
        "a PING waited {worst:?}"
    );
    assert_eq!(
        info_field(&mut c, "stats", "expired_keys"),
        (DBS.len() * PER_DB) as u64
    );
    for (db, want) in DBS.iter().zip(&survivors) {
        assert_eq!(&keys_of(&mut c, *db), want, "db {db}");
    }
    // Redis's INFO stats for the cycle: 120k keys do not fit in one 25 ms slow cycle.
    assert!(info_field(&mut c, "stats", "expired_time_cap_reached_count") > 0);
    assert!(info_field(&mut c, "stats", "expire_cycle_cpu_milliseconds") > 0);
    ok(&mut c, &["CONFIG", "RESETSTAT"]);
    assert_eq!(
        info_field(&mut c, "stats", "expired_time_cap_reached_count"),
        0
    );
    assert_eq!(info_text(&mut c, "stats", "expired_stale_perc"), "0.00");
    drop(c);
    drop(pinger);
    // The DELs were journaled: the reopened directory holds the survivors only, and
    // nothing is left for the new server's cycle to expire.
    let s = s.restart(&[("appendfsync", "everysec")]);
    let mut c = s.raw();
    for (db, want) in DBS.iter().zip(&survivors) {
        assert_eq!(&keys_of(&mut c, *db), want, "db {db} after restart");
    }
    assert_eq!(total_keys(&s), DBS.len() * 200);
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 0);
}

#[test]
fn set_active_expire_0_stops_the_cycle() {
    let s = TestServer::start(&[("appendfsync", "everysec"), ("hz", "100")]);
    let mut c = s.raw();
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    pipeline_ok(&mut c, 5_000, |i| {
        vec![
            "SET".into(),
            format!("k:{i}"),
            "v".into(),
            "PX".into(),
            "20".into(),
        ]
    });
    // Many slow periods (10 ms at hz 100) and fast-cycle slots go by.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(total_keys(&s), 5_000);
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 0);
    // Switched on again mid-way: it resumes.
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    wait_keys(&s, &mut c, 0, Duration::from_secs(60));
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 5_000);
    // And off again: a new batch stays.
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    pipeline_ok(&mut c, 1_000, |i| {
        vec![
            "SET".into(),
            format!("j:{i}"),
            "v".into(),
            "PX".into(),
            "20".into(),
        ]
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(total_keys(&s), 1_000);
}

#[test]
fn active_expiry_fires_expired_events_per_key() {
    let s = TestServer::start(&[
        ("appendfsync", "everysec"),
        ("notify-keyspace-events", "Ex"),
    ]);
    let mut sub = s.raw();
    match sub.cmd(&["PSUBSCRIBE", "__keyevent@*__:expired"]) {
        V::Arr(_) | V::Push(_) => {}
        other => panic!("PSUBSCRIBE: {other:?}"),
    }
    let mut c = s.raw();
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut c, &["SELECT", "2"]);
    const N: usize = 3_000;
    let at = (now_ms() + 100).to_string();
    pipeline_ok(&mut c, N, |i| {
        vec![
            "SET".into(),
            format!("ev:{i}"),
            "v".into(),
            "PXAT".into(),
            at.clone(),
        ]
    });
    std::thread::sleep(Duration::from_millis(200));
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let mut seen = BTreeSet::new();
    while seen.len() < N {
        match sub.read() {
            V::Arr(m) | V::Push(m) => {
                assert_eq!(m[0].text(), "pmessage");
                assert_eq!(m[2].text(), "__keyevent@2__:expired");
                assert!(seen.insert(m[3].text()), "twice: {}", m[3].text());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, (0..N).map(|i| format!("ev:{i}")).collect());
    assert_eq!(total_keys(&s), 0);
}

#[test]
fn effort_scales_the_knobs_as_redis() {
    let k = ExpireKnobs::new(1);
    assert_eq!(k.keys_per_loop, 20);
    assert_eq!(k.fast_duration, Duration::from_micros(1000));
    assert_eq!(k.slow_time_perc, 25);
    assert_eq!(k.acceptable_stale, 10);
    let k = ExpireKnobs::new(10);
    assert_eq!(k.keys_per_loop, 65);
    assert_eq!(k.fast_duration, Duration::from_micros(3250));
    assert_eq!(k.slow_time_perc, 43);
    assert_eq!(k.acceptable_stale, 1);
    // Out of range values are clamped as the cycle reads them.
    assert_eq!(ExpireKnobs::new(0).keys_per_loop, 20);
    assert_eq!(ExpireKnobs::new(99).keys_per_loop, 65);
}

#[test]
fn a_cycle_that_never_ran_is_not_time_limited() {
    let knobs = ExpireKnobs::new(1);
    let mut c = ExpireCycle::default();
    assert!(!c.wants_fast(&knobs));
    // A cycle that never got to run (lock busy) does not count as timed out.
    c.start();
    c.finish(true);
    assert!(!c.timelimit_exit);
    assert!(!c.wants_fast(&knobs));
    assert_eq!(c.time_cap_reached, 0);
}

#[test]
fn a_watched_key_reclaimed_by_the_cycle_aborts_exec() {
    // As Redis 7.0: the active cycle's deletion touches the key's watchers.
    let s = TestServer::start(&[("appendfsync", "everysec"), ("hz", "100")]);
    let mut c = s.raw();
    ok(&mut c, &["SET", "w", "v", "PX", "100"]);
    ok(&mut c, &["WATCH", "w"]);
    let t0 = Instant::now();
    while total_keys(&s) != 0 {
        assert!(t0.elapsed() < Duration::from_secs(30), "not reclaimed");
        std::thread::sleep(Duration::from_millis(10));
    }
    ok(&mut c, &["MULTI"]);
    assert_eq!(c.cmd(&["GET", "x"]), V::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), V::Nil);
}
