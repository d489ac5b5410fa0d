//! strata as a replica (REPLICAOF host port, or `replicaof` in its configuration): of a
//! real redis-server 7.0 and of another strata. The full resync brings the master's whole
//! dataset, the stream keeps the replica equal, offsets and WAIT agree with the master,
//! clients cannot write, and what the replica applied survives a kill -9.

mod common;

use std::time::Duration;

use common::{info_field, wait_until, ChildServer, Oracle, RawClient, TestServer, V};

/// What both servers must agree on.
fn dataset(c: &mut RawClient) -> Vec<V> {
    let mut smembers = c.cmd(&["SMEMBERS", "set"]);
    if let V::Arr(a) = &mut smembers {
        a.sort_by_key(|x| format!("{x:?}"));
    }
    let mut out = vec![
        c.cmd(&["DBSIZE"]),
        c.cmd(&["GET", "s"]),
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        c.cmd(&["HGETALL", "h"]),
        smembers,
        c.cmd(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        c.cmd(&["XRANGE", "x", "-", "+"]),
        c.cmd(&["EXPIRETIME", "t"]),
        c.cmd(&["GET", "counter"]),
        c.cmd(&["MGET", "tx1", "tx2", "lua1", "lua2"]),
        c.cmd(&["FCALL_RO", "rlib_get", "1", "s"]),
    ];
    c.cmd(&["SELECT", "3"]);
    out.push(c.cmd(&["GET", "other"]));
    c.cmd(&["SELECT", "0"]);
    out
}

fn populate(c: &mut RawClient) {
    let script: &[&[&str]] = &[
        &["SET", "s", "v"],
        &["SET", "t", "v", "EX", "1000"],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["SADD", "set", "x", "y", "7"],
        &["ZADD", "z", "1", "a", "2.5", "b"],
        &["XADD", "x", "1-1", "f", "v"],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=rlib\nredis.register_function{function_name='rlib_get', callback=function(k) return redis.call('get', k[1]) end, flags={'no-writes'}}",
        ],
        &["SELECT", "3"],
        &["SET", "other", "db3"],
        &["SELECT", "0"],
    ];
    for cmd in script {
        let r = c.cmd(cmd);
        assert!(!matches!(r, V::Err(_)), "{cmd:?}: {r:?}");
    }
}

/// The master served one full resync and then one partial one.
fn assert_one_full_one_partial(mc: &mut RawClient) {
    let stats = mc.cmd(&["INFO", "stats"]).text();
    for (field, want) in [("sync_full", "1"), ("sync_partial_ok", "1")] {
        assert_eq!(info_field(&stats, field).as_deref(), Some(want), "{stats}");
    }
}

/// A client of the child server on `port`, once it listens.
fn client(port: u16) -> RawClient {
    drop(common::tcp(port));
    RawClient::connect(([127, 0, 0, 1], port).into())
}

/// A field of INFO replication ("" when absent).
fn repl_field(c: &mut RawClient, f: &str) -> String {
    info_field(&c.cmd(&["INFO", "replication"]).text(), f).unwrap_or_default()
}

/// A field of INFO stats ("" when absent).
fn stats_field(c: &mut RawClient, f: &str) -> String {
    info_field(&c.cmd(&["INFO", "stats"]).text(), f).unwrap_or_default()
}

/// A strata child server started as a replica of 127.0.0.1:`port`, and a client of it,
/// once its link is up.
fn start_replica_of(port: &str) -> (ChildServer, RawClient) {
    let replica = ChildServer::start(&["--replicaof", "127.0.0.1", port]);
    let mut rc = client(replica.port);
    assert!(
        wait_until(Duration::from_secs(20), || link_up(&mut rc)),
        "the link never came up"
    );
    (replica, rc)
}

fn link_up(c: &mut RawClient) -> bool {
    let info = c.cmd(&["INFO", "replication"]).text();
    info.contains("master_link_status:up")
}

/// Changes made on the master after the sync: plain writes, a transaction, a script.
fn write_more(c: &mut RawClient) {
    c.cmd(&["INCR", "counter"]);
    c.cmd(&["RPUSH", "l", "d"]);
    c.cmd(&["DEL", "s"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "tx1", "a"]);
    c.cmd(&["SET", "tx2", "b"]);
    assert!(matches!(c.cmd(&["EXEC"]), V::Arr(_)));
    c.cmd(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'x'); redis.call('set', KEYS[2], 'y')",
        "2",
        "lua1",
        "lua2",
    ]);
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["APPEND", "other", "+"]);
    c.cmd(&["SELECT", "0"]);
}

/// A strata replica of redis-server: the payload, the stream, WAIT, offsets, READONLY,
/// then a kill -9 of the replica: restarted, it still holds everything it applied.
#[test]
fn strata_replicates_a_redis_master() {
    let Some(master) = Oracle::start_with(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let mut mc = master.raw();
    populate(&mut mc);
    let replica = ChildServer::start(&[]);
    let mut rc = client(replica.port);
    let port = master.addr.port().to_string();
    assert_eq!(
        rc.cmd(&["REPLICAOF", "127.0.0.1", &port]),
        V::Simple("OK".into())
    );
    assert!(
        wait_until(Duration::from_secs(20), || link_up(&mut rc)),
        "the link never came up: {}",
        rc.cmd(&["INFO", "replication"]).text()
    );
    // The link shows up only once the payload is in place.
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
    let V::Arr(role) = rc.cmd(&["ROLE"]) else {
        panic!("ROLE")
    };
    assert_eq!(role[0], V::Bulk(b"slave".to_vec()));
    assert_eq!(role[3], V::Bulk(b"connected".to_vec()));
    write_more(&mut mc);
    // WAIT: the replica acknowledges (REPLCONF GETACK) everything streamed before it.
    assert_eq!(mc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
    // Offsets: the replica applied exactly the master's stream, and says so.
    let mut seen = Vec::new();
    let met = wait_until(Duration::from_secs(10), || {
        let m = mc.cmd(&["INFO", "replication"]).text();
        let r = rc.cmd(&["INFO", "replication"]).text();
        let acked = info_field(&m, "slave0")
            .and_then(|v| {
                v.split(',')
                    .find_map(|p| p.strip_prefix("offset=").map(String::from))
            })
            .unwrap_or_default();
        seen = vec![
            info_field(&m, "master_repl_offset").unwrap_or_default(),
            info_field(&r, "master_repl_offset").unwrap_or_default(),
            info_field(&r, "slave_repl_offset").unwrap_or_default(),
            acked,
        ];
        seen.iter().all(|o| *o == seen[0]) && seen[0] != "0"
    });
    assert!(met, "offsets (master, replica, applied, acked): {seen:?}");
    let m = mc.cmd(&["INFO", "replication"]).text();
    let r = rc.cmd(&["INFO", "replication"]).text();
    assert_eq!(
        info_field(&m, "master_replid"),
        info_field(&r, "master_replid")
    );
    // A replica leaves expiry to its master: a key past its time reads as missing but
    // stays until the master's DEL (here the master's active expiry is off).
    mc.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    mc.cmd(&["SET", "short", "v", "PX", "10"]);
    assert_eq!(mc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    std::thread::sleep(Duration::from_millis(50));
    let size = rc.cmd(&["DBSIZE"]);
    assert_eq!(rc.cmd(&["EXISTS", "short"]), V::Int(0));
    assert_eq!(rc.cmd(&["GET", "short"]), V::Nil);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        rc.cmd(&["DBSIZE"]),
        size,
        "the replica deleted the key itself"
    );
    // The master's lazy expiry sends the DEL.
    assert_eq!(mc.cmd(&["GET", "short"]), V::Nil);
    mc.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    assert_eq!(mc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
    assert_eq!(rc.cmd(&["DBSIZE"]), mc.cmd(&["DBSIZE"]));
    // The link is the master client (CLIENT LIST TYPE master, flags=M); killed, it
    // reconnects and resyncs.
    let listed = rc.cmd(&["CLIENT", "LIST", "TYPE", "master"]).text();
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains(" flags=M "), "{listed}");
    assert_eq!(
        rc.cmd(&["CLIENT", "LIST", "TYPE", "normal"])
            .text()
            .lines()
            .count(),
        1
    );
    assert_eq!(rc.cmd(&["CLIENT", "KILL", "TYPE", "master"]), V::Int(1));
    mc.cmd(&["SET", "after_kill", "1"]);
    assert!(
        wait_until(Duration::from_secs(20), || rc.cmd(&["GET", "after_kill"])
            == V::Bulk(b"1".to_vec())),
        "no resync after the link was killed"
    );
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
    // ... and it went on from where it stopped (PSYNC → +CONTINUE), no full resync.
    assert_one_full_one_partial(&mut mc);
    // Clients of a read-only replica cannot write.
    assert_eq!(
        rc.cmd(&["SET", "mine", "1"]),
        V::Err("READONLY You can't write against a read only replica.".into())
    );
    // What it applied is durable: killed and restarted (a master now: REPLICAOF is not
    // kept across restarts, as in Redis), it holds the same dataset.
    let want = dataset(&mut mc);
    drop(rc);
    let replica = replica.restart(&[]);
    let mut rc = client(replica.port);
    assert!(wait_until(Duration::from_secs(20), || {
        !matches!(rc.cmd(&["PING"]), V::Err(_))
    }));
    assert_eq!(dataset(&mut rc), want);
}

/// A strata replica of strata, made one by its configuration (`--replicaof`), with
/// FLUSHALL and RESTORE renamed away (its full resync does not depend on their names);
/// REPLICAOF NO ONE ends the link, keeps the dataset and makes it writable.
#[test]
fn strata_replicates_strata_and_is_promoted() {
    let master = TestServer::start(&[]);
    let mut mc = master.raw();
    populate(&mut mc);
    let port = master.addr.port().to_string();
    let replica = ChildServer::start(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--rename-command",
        "FLUSHALL",
        "",
        "--rename-command",
        "RESTORE",
        "my-restore",
    ]);
    let mut rc = client(replica.port);
    assert!(
        wait_until(Duration::from_secs(20), || link_up(&mut rc)),
        "the link never came up: {}",
        rc.cmd(&["INFO", "replication"]).text()
    );
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
    write_more(&mut mc);
    assert_eq!(mc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
    // min-replicas-to-write counts the replicas that acknowledged within the lag (the
    // replica acknowledges every second): one is enough, two are not.
    mc.cmd(&["CONFIG", "SET", "min-replicas-max-lag", "5"]);
    mc.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert_eq!(mc.cmd(&["SET", "guarded", "1"]), V::Simple("OK".into()));
    mc.cmd(&["CONFIG", "SET", "min-replicas-to-write", "2"]);
    assert_eq!(
        mc.cmd(&["SET", "guarded", "2"]),
        V::Err("NOREPLICAS Not enough good replicas to write.".into())
    );
    mc.cmd(&["CONFIG", "SET", "min-replicas-to-write", "0"]);
    assert_eq!(mc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    // A lost link goes on where it stopped (the master's backlog, PSYNC → +CONTINUE),
    // in the database the stream had selected.
    mc.cmd(&["SELECT", "3"]);
    mc.cmd(&["SET", "in3", "a"]);
    assert_eq!(mc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    assert_eq!(rc.cmd(&["CLIENT", "KILL", "TYPE", "master"]), V::Int(1));
    mc.cmd(&["SET", "in3", "b"]);
    mc.cmd(&["SELECT", "0"]);
    assert!(
        wait_until(Duration::from_secs(20), || link_up(&mut rc)),
        "no reconnection"
    );
    assert_eq!(mc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    assert_one_full_one_partial(&mut mc);
    rc.cmd(&["SELECT", "3"]);
    assert_eq!(rc.cmd(&["GET", "in3"]), V::Bulk(b"b".to_vec()));
    rc.cmd(&["SELECT", "0"]);
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
    // A writable replica expires the keys its own clients gave a TTL (not the master's).
    rc.cmd(&["CONFIG", "SET", "replica-read-only", "no"]);
    let V::Int(before) = rc.cmd(&["DBSIZE"]) else {
        panic!("DBSIZE")
    };
    assert_eq!(
        rc.cmd(&["SET", "local", "v", "PX", "100"]),
        V::Simple("OK".into())
    );
    assert!(
        wait_until(Duration::from_secs(5), || rc.cmd(&["DBSIZE"])
            == V::Int(before)),
        "the replica kept its own expired key"
    );
    rc.cmd(&["CONFIG", "SET", "replica-read-only", "yes"]);
    assert_eq!(rc.cmd(&["REPLICAOF", "NO", "ONE"]), V::Simple("OK".into()));
    let V::Arr(role) = rc.cmd(&["ROLE"]) else {
        panic!("ROLE")
    };
    assert_eq!(role[0], V::Bulk(b"master".to_vec()));
    assert_eq!(rc.cmd(&["SET", "mine", "1"]), V::Simple("OK".into()));
    // The master's later writes no longer reach it.
    mc.cmd(&["SET", "late", "1"]);
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mc.cmd(&["INFO", "replication"]).text(), "connected_slaves").as_deref()
            == Some("0")
    }));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rc.cmd(&["GET", "late"]), V::Nil);
    // Without replicas for repl-backlog-ttl seconds, the master frees its backlog.
    let backlog = |c: &mut RawClient| {
        info_field(
            &c.cmd(&["INFO", "replication"]).text(),
            "repl_backlog_active",
        )
    };
    assert_eq!(backlog(&mut mc).as_deref(), Some("1"));
    mc.cmd(&["CONFIG", "SET", "repl-backlog-ttl", "1"]);
    assert!(wait_until(Duration::from_secs(10), || backlog(&mut mc)
        .as_deref()
        == Some("0")));
    assert_eq!(rc.cmd(&["GET", "tx1"]), V::Bulk(b"a".to_vec()));
}

/// A replica that stops reading makes its master hold the stream for it; that memory
/// (INFO `mem_clients_slaves`, in `mem_not_counted_for_evict`) is not the dataset's:
/// the master neither evicts keys nor refuses writes for it, as in Redis.
#[test]
fn a_stalled_replicas_buffer_does_not_make_its_master_evict() {
    let master = TestServer::start(&[
        ("maxmemory-policy", "allkeys-random"),
        (
            "client-output-buffer-limit",
            "replica 100000000 100000000 300",
        ),
    ]);
    let mut mc = master.raw();
    let big = "x".repeat(100_000);
    for j in 0..100 {
        mc.cmd(&["SET", &format!("key:{j}"), &big]);
    }
    let port = master.addr.port().to_string();
    let (replica, _rc) = start_replica_of(&port);
    let info = |c: &mut RawClient, f: &str| -> u64 {
        info_field(&c.cmd(&["INFO", "memory"]).text(), f)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let used = info(&mut mc, "used_memory") - info(&mut mc, "mem_not_counted_for_evict");
    mc.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        &(used + 2 * 1024 * 1024).to_string(),
    ]);
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &replica.pid().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    // 10 MB of stream that does not grow the dataset.
    let payload = "A".repeat(50_000);
    for _ in 0..200 {
        let r = mc.cmd(&["SETRANGE", "key:0", "0", &payload]);
        assert!(matches!(r, V::Int(_)), "{r:?}");
    }
    let held = info(&mut mc, "mem_clients_slaves");
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &replica.pid().to_string()])
        .status();
    assert!(held > 2 * 1024 * 1024, "replica buffer {held}");
    assert_eq!(mc.cmd(&["DBSIZE"]), V::Int(100));
    let stats = mc.cmd(&["INFO", "stats"]).text();
    assert_eq!(
        info_field(&stats, "evicted_keys").as_deref(),
        Some("0"),
        "{stats}"
    );
}

/// What a stalled replica's stream holds in its master is counted as it is allocated:
/// the master's `used_memory` grows by INFO `mem_clients_slaves` and little more (Redis's
/// "slave buffer are counted correctly"). The stream queued behind the socket went in
/// pieces of every size, each allocated to its own size class: 300k small commands took
/// ~1.5 MB more than counted (now ~0.36 MB, the same with 1M: not per command), which
/// `used_memory` showed as the dataset's (Redis's test, 1M commands: 9 MB, for 0.5 MB
/// allowed). The replica shows in CLIENT LIST with flag `S`.
#[test]
fn a_stalled_replicas_buffer_is_counted_as_allocated() {
    let master = ChildServer::start(&[]);
    let mut mc = client(master.port);
    mc.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "replica 100000000 100000000 300",
    ]);
    mc.cmd(&["SETRANGE", "key:0", "100000", "asdf"]);
    let mport = master.port.to_string();
    let (replica, mut rc) = start_replica_of(&mport);
    assert!(wait_until(Duration::from_secs(20), || link_up(&mut rc)));
    let list = mc.cmd(&["CLIENT", "LIST"]).text();
    assert!(
        list.lines()
            .any(|l| l.contains(" flags=S ") && l.contains(" cmd=replconf ")),
        "{list}"
    );
    let info = |c: &mut RawClient| -> (i64, i64) {
        let t = c.cmd(&["INFO", "memory"]).text();
        let f = |n: &str| -> i64 { info_field(&t, n).and_then(|v| v.parse().ok()).unwrap() };
        (
            f("used_memory") - f("mem_not_counted_for_evict") - f("mem_clients_normal"),
            f("mem_clients_slaves"),
        )
    };
    let (before, _) = info(&mut mc);
    let stop = |sig: &str| {
        let done = std::process::Command::new("kill")
            .args([sig, &replica.pid().to_string()])
            .status()
            .expect("kill");
        assert!(done.success());
    };
    stop("-STOP");
    let n = 300_000;
    mc.pipeline(
        n,
        |_| {
            vec![
                "SETRANGE".into(),
                "key:0".into(),
                "0".into(),
                "AAAAAAAAAA".into(),
            ]
        },
        |r| assert_eq!(r, V::Int(100_004)),
    );
    let (after, held) = info(&mut mc);
    stop("-CONT");
    assert!(held > 8 * 1024 * 1024, "replica buffer {held}");
    let grew = after - before;
    assert!(
        grew.abs() < 1024 * 1024,
        "used_memory beyond the counted buffers grew by {grew} bytes ({held} held)"
    );
}

/// On a read-only replica, EXEC of a transaction that queued a script declaring flags
/// without no-writes is aborted as a write, with Redis's text.
#[test]
fn exec_of_a_write_flagged_script_aborts_on_a_replica() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    assert_eq!(a.cmd(&["MULTI"]), V::Simple("OK".into()));
    assert_eq!(
        a.cmd(&["EVAL", "#!lua\nreturn 1", "0"]),
        V::Simple("QUEUED".into())
    );
    // A master nobody listens on: the link stays down, the role is a replica's.
    assert_eq!(
        b.cmd(&["REPLICAOF", "127.0.0.1", "1"]),
        V::Simple("OK".into())
    );
    assert_eq!(
        a.cmd(&["EXEC"]),
        V::Err(
            "EXECABORT Transaction discarded because of: READONLY You can't write against a read only replica."
                .into()
        )
    );
    // A script that declares no-writes still runs.
    assert_eq!(
        a.cmd(&["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]),
        V::Int(1)
    );
    assert_eq!(b.cmd(&["REPLICAOF", "NO", "ONE"]), V::Simple("OK".into()));
}

/// A replica that goes away is no longer attached at once, with no write needed to find
/// it gone: `connected_slaves` drops, and the backlog's time-to-live starts then.
#[test]
fn a_departed_replica_starts_the_backlog_ttl_without_a_write() {
    let master = TestServer::start(&[("repl-backlog-ttl", "1")]);
    let mut mc = master.raw();
    let port = master.addr.port().to_string();
    let (replica, rc) = start_replica_of(&port);
    drop(rc);
    drop(replica);
    let field = |c: &mut RawClient, f: &str| info_field(&c.cmd(&["INFO", "replication"]).text(), f);
    assert!(
        wait_until(Duration::from_secs(5), || {
            field(&mut mc, "connected_slaves").as_deref() == Some("0")
                && field(&mut mc, "repl_backlog_active").as_deref() == Some("0")
        }),
        "{:?}",
        mc.cmd(&["INFO", "replication"]).text()
    );
}

/// A chain (master → replica → replica) shares one history: the middle replica relays
/// its master's stream as it came, so all three show the same replication id and offset,
/// and the last one can move to the top master with a partial resync. Then FAILOVER TO
/// the middle one hands the master's role over without a full resync anywhere: the old
/// master follows the new one, the data stays equal, and the new master takes writes.
#[test]
fn a_chain_shares_one_history_and_failover_hands_over() {
    let master = TestServer::start(&[]);
    let mut mc = master.raw();
    populate(&mut mc);
    let mport = master.addr.port().to_string();
    let (r1, mut c1) = start_replica_of(&mport);
    let p1 = r1.port.to_string();
    let (_r2, mut c2) = start_replica_of(&p1);
    write_more(&mut mc);
    let field = repl_field;
    let mut seen = Vec::new();
    let same = wait_until(Duration::from_secs(10), || {
        seen = [&mut mc, &mut c1, &mut c2]
            .into_iter()
            .map(|c| (field(c, "master_replid"), field(c, "master_repl_offset")))
            .collect();
        seen.iter().all(|s| *s == seen[0])
    });
    assert!(
        same,
        "(replid, offset) of master, replica, its replica: {seen:?}"
    );
    assert_eq!(dataset(&mut c2), dataset(&mut mc));
    // The end of the chain moves to the top: it continues, no full resync.
    assert_eq!(
        c2.cmd(&["REPLICAOF", "127.0.0.1", &mport]),
        V::Simple("OK".into())
    );
    assert!(wait_until(Duration::from_secs(20), || {
        link_up(&mut c2) && field(&mut mc, "connected_slaves") == "2"
    }));
    let stats = stats_field;
    assert_eq!(stats(&mut mc, "sync_full"), "1");
    assert_eq!(stats(&mut mc, "sync_partial_ok"), "1");
    // FAILOVER: errors first, as Redis's.
    assert_eq!(
        c1.cmd(&["FAILOVER"]),
        V::Err("ERR FAILOVER is not valid when server is a replica.".into())
    );
    assert_eq!(
        mc.cmd(&["FAILOVER", "TO", "127.0.0.1", "1"]),
        V::Err("ERR FAILOVER target HOST and PORT is not a replica.".into())
    );
    assert_eq!(
        mc.cmd(&["FAILOVER", "ABORT"]),
        V::Err("ERR No failover in progress.".into())
    );
    // (The middle replica served the end of the chain its first, full, resync.)
    let full_before = stats(&mut c1, "sync_full");
    assert_eq!(stats(&mut c1, "sync_partial_ok"), "0");
    let r = mc.cmd(&["FAILOVER", "TO", "127.0.0.1", &p1]);
    assert_eq!(
        r,
        V::Simple("OK".into()),
        "{}",
        mc.cmd(&["INFO", "replication"]).text()
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            field(&mut mc, "master_failover_state") == "no-failover"
        }),
        "{}",
        mc.cmd(&["INFO", "replication"]).text()
    );
    let role = |c: &mut RawClient| match c.cmd(&["ROLE"]) {
        V::Arr(r) => r[0].clone(),
        other => other,
    };
    assert_eq!(role(&mut mc), V::Bulk(b"slave".to_vec()));
    assert_eq!(role(&mut c1), V::Bulk(b"master".to_vec()));
    assert_eq!(field(&mut mc, "master_port"), p1);
    assert!(wait_until(Duration::from_secs(20), || link_up(&mut mc)));
    assert_eq!(
        mc.cmd(&["SET", "after", "1"]),
        V::Err("READONLY You can't write against a read only replica.".into())
    );
    assert_eq!(c1.cmd(&["SET", "after", "1"]), V::Simple("OK".into()));
    // The old master (and its replica, the end of the chain) follow the new one.
    assert!(wait_until(Duration::from_secs(20), || {
        c2.cmd(&["GET", "after"]) == V::Bulk(b"1".to_vec())
            && mc.cmd(&["GET", "after"]) == V::Bulk(b"1".to_vec())
    }));
    assert_eq!(dataset(&mut mc), dataset(&mut c1));
    assert_eq!(dataset(&mut c2), dataset(&mut c1));
    let digest = |c: &mut RawClient| c.cmd(&["DEBUG", "DIGEST"]);
    assert_eq!(digest(&mut mc), digest(&mut c1));
    assert_eq!(digest(&mut c2), digest(&mut c1));
    // Nobody needed a full resync: the new master continued its old master's history.
    assert_eq!(stats(&mut c1, "sync_full"), full_before);
    assert_eq!(stats(&mut c1, "sync_partial_ok"), "1");
}

/// SHUTDOWN `master` (the connection closes without a reply), wait for it to exit and
/// start it again on its port and data directory.
fn stop_cleanly_and_restart(
    mut master: ChildServer,
    mut mc: RawClient,
) -> (ChildServer, RawClient) {
    mc.send(&[b"SHUTDOWN"]);
    assert_eq!(mc.try_read(), None);
    drop(mc);
    assert!(master.wait_exit(Duration::from_secs(20)).is_some());
    let master = master.restart_same_port(&[]);
    let mc = client(master.port);
    (master, mc)
}

/// A master stopped cleanly notes where its stream stood (`repl-info`): restarted, it
/// keeps that history as its second id with an empty backlog from there, and its replica
/// continues with a partial resync. After a crash (kill -9) there is no such note, so
/// nobody may continue: the replica takes a full resync.
#[test]
fn a_master_restarted_cleanly_lets_its_replica_continue() {
    let master = ChildServer::start(&[]);
    let mut mc = client(master.port);
    populate(&mut mc);
    let mport = master.port.to_string();
    let (_replica, mut rc) = start_replica_of(&mport);
    write_more(&mut mc);
    let field = repl_field;
    let stats = stats_field;
    assert!(wait_until(Duration::from_secs(10), || {
        field(&mut mc, "master_repl_offset") == field(&mut rc, "master_repl_offset")
    }));
    let (replid, offset) = (
        field(&mut mc, "master_replid"),
        field(&mut mc, "master_repl_offset"),
    );
    assert_ne!(offset, "0");
    let (master, mut mc) = stop_cleanly_and_restart(master, mc);
    assert!(wait_until(Duration::from_secs(20), || {
        link_up(&mut rc) && stats(&mut mc, "sync_partial_ok") == "1"
    }));
    assert_ne!(field(&mut mc, "master_replid"), replid);
    assert_eq!(field(&mut mc, "master_replid2"), replid);
    assert_eq!(field(&mut mc, "master_repl_offset"), offset);
    let next: u64 = offset.parse::<u64>().unwrap() + 1;
    assert_eq!(field(&mut mc, "second_repl_offset"), next.to_string());
    assert_eq!(stats(&mut mc, "sync_full"), "0");
    mc.cmd(&["SET", "after_restart", "1"]);
    assert_eq!(mc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
    assert_eq!(rc.cmd(&["GET", "after_restart"]), V::Bulk(b"1".to_vec()));
    // A crash leaves no note: the history is new, and the replica resyncs in full.
    let replid = field(&mut mc, "master_replid");
    drop(mc);
    let master = master.restart_same_port(&[]);
    let mut mc = client(master.port);
    assert!(wait_until(Duration::from_secs(20), || {
        link_up(&mut rc) && stats(&mut mc, "sync_full") == "1"
    }));
    assert_ne!(field(&mut mc, "master_replid"), replid);
    assert_eq!(
        field(&mut mc, "master_replid2"),
        "0000000000000000000000000000000000000000"
    );
    assert_eq!(stats(&mut mc, "sync_partial_ok"), "0");
    assert_eq!(dataset(&mut rc), dataset(&mut mc));
}

/// A master restarted drops the keys whose time ran out while it was down (INFO
/// `rdb_last_load_keys_expired`), as Redis's master skips them as it loads, and sends their
/// DELs down the history it continues: the replica's partial resync gets them, the
/// offset counts them, and both hold the same dataset.
#[test]
fn a_restarted_master_drops_keys_expired_meanwhile_and_tells_its_replica() {
    let master = ChildServer::start(&[]);
    let mut mc = client(master.port);
    mc.cmd(&["SET", "stays", "1"]);
    let mport = master.port.to_string();
    let (_replica, mut rc) = start_replica_of(&mport);
    assert_eq!(
        mc.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        V::Simple("OK".into())
    );
    for j in 0..64 {
        mc.cmd(&["SELECT", &(j % 4).to_string()]);
        mc.cmd(&["SET", &format!("k{j}"), "v", "PX", "50"]);
    }
    mc.cmd(&["SELECT", "0"]);
    let field = repl_field;
    assert!(wait_until(Duration::from_secs(10), || {
        field(&mut mc, "master_repl_offset") == field(&mut rc, "master_repl_offset")
    }));
    let offset: u64 = field(&mut mc, "master_repl_offset").parse().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (_master, mut mc) = stop_cleanly_and_restart(master, mc);
    let persistence = |c: &mut RawClient, f: &str| -> String {
        info_field(&c.cmd(&["INFO", "persistence"]).text(), f).unwrap_or_default()
    };
    assert_eq!(persistence(&mut mc, "rdb_last_load_keys_expired"), "64");
    assert_eq!(persistence(&mut mc, "rdb_last_load_keys_loaded"), "1");
    let histlen: u64 = field(&mut mc, "repl_backlog_histlen").parse().unwrap();
    assert!(histlen > 64 * 10, "{histlen}");
    assert_eq!(
        field(&mut mc, "master_repl_offset"),
        (offset + histlen).to_string()
    );
    assert!(wait_until(Duration::from_secs(20), || {
        link_up(&mut rc) && stats_field(&mut mc, "sync_partial_ok") == "1"
    }));
    assert!(wait_until(Duration::from_secs(10), || {
        field(&mut rc, "master_repl_offset") == field(&mut mc, "master_repl_offset")
    }));
    for db in 0..4 {
        let db = db.to_string();
        for c in [&mut mc, &mut rc] {
            c.cmd(&["SELECT", &db]);
        }
        let want = if db == "0" { 1 } else { 0 };
        assert_eq!(mc.cmd(&["DBSIZE"]), V::Int(want), "master db {db}");
        assert_eq!(rc.cmd(&["DBSIZE"]), V::Int(want), "replica db {db}");
    }
    assert_eq!(mc.cmd(&["DEBUG", "DIGEST"]), rc.cmd(&["DEBUG", "DIGEST"]));
}

/// The note a clean stop leaves is written even when another thread holds the state at
/// that moment (a cron tick, a replica's ACK, a client's command): the stop waits for it.
/// Before, it tried the lock once and, finding it taken, left no note, and the replicas
/// of a master restarted cleanly resynced in full.
#[test]
fn a_clean_stop_notes_the_stream_even_while_the_state_is_busy() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "k", "v"]), V::Simple("OK".into()));
    let replid = repl_field(&mut c, "master_replid");
    let note = s.dir.join("repl-info");
    assert!(!note.exists());
    let engine = s.engine.clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        engine.with_state(|_| {
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(400));
        })
    });
    held_rx.recv().unwrap();
    s.engine.request_stop();
    s.engine.close();
    holder.join().unwrap();
    let text = std::fs::read_to_string(&note).expect("the clean stop wrote repl-info");
    assert!(text.contains(&format!("replid {replid}")), "{text}");
}

/// A master that becomes a replica answers its blocked clients (here a BLPOP) with Redis's
/// -UNBLOCKED error and closes their connections: serving them later would be a write of
/// its own, which its new master never made.
#[test]
fn a_master_turning_replica_unblocks_and_disconnects_its_blocked_clients() {
    let s = TestServer::start(&[]);
    let mut blocked = s.raw();
    let mut admin = s.raw();
    blocked.send(&[b"BLPOP", b"queue", b"0"]);
    admin.wait_blocked(1);
    // A master nobody listens on: the link stays down.
    assert_eq!(
        admin.cmd(&["REPLICAOF", "127.0.0.1", "1"]),
        V::Simple("OK".into())
    );
    assert_eq!(
        blocked.read(),
        V::Err(
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
                .into()
        )
    );
    // Closed: only the admin connection is left.
    assert!(
        wait_until(Duration::from_secs(10), || admin
            .cmd(&["CLIENT", "LIST"])
            .text()
            .lines()
            .count()
            == 1),
        "the blocked client's connection stays open"
    );
    assert_eq!(blocked.try_read(), None);
    assert_eq!(
        admin.cmd(&["REPLICAOF", "NO", "ONE"]),
        V::Simple("OK".into())
    );
}

/// A field of INFO persistence ("" when absent).
fn persistence_field(c: &mut RawClient, f: &str) -> String {
    info_field(&c.cmd(&["INFO", "persistence"]).text(), f).unwrap_or_default()
}

/// `n` more keys, `bulk:0` … (pipelined).
fn add_bulk(c: &mut RawClient, n: usize) {
    for i in 0..n {
        let (k, v) = (format!("bulk:{i}"), i.to_string());
        c.send(&[b"SET", k.as_bytes(), v.as_bytes()]);
    }
    for _ in 0..n {
        assert_eq!(c.read(), V::Simple("OK".into()));
    }
}

/// The master and each replica hold the same dataset (and DEBUG DIGEST), once every
/// replica has acknowledged the whole stream.
fn assert_replicas_equal(mc: &mut RawClient, replicas: &mut [&mut RawClient]) {
    let n = replicas.len() as i64;
    assert_eq!(mc.cmd(&["WAIT", &n.to_string(), "20000"]), V::Int(n));
    let digest = mc.cmd(&["DEBUG", "DIGEST"]);
    let data = dataset(mc);
    let bulk = mc.cmd(&["MGET", "bulk:0", "bulk:7", "bulk:2999"]);
    for rc in replicas.iter_mut() {
        assert_eq!(dataset(rc), data);
        assert_eq!(rc.cmd(&["MGET", "bulk:0", "bulk:7", "bulk:2999"]), bulk);
        assert_eq!(rc.cmd(&["DEBUG", "DIGEST"]), digest);
    }
}

/// A full resync is made from a background snapshot, as Redis makes it from a BGSAVE:
/// while the snapshot runs (slowed here by `rdb-key-save-delay`) the master serves, the
/// replica waits (INFO `state=wait_bgsave`), a second replica arriving meanwhile shares
/// the same snapshot, and the writes made during it (to keys the snapshot holds, too)
/// reach both replicas after the payload, in order. (Before, the payload was built under
/// the engine lock: no client was served until it was done, and no replica ever waited.)
#[test]
fn a_full_resync_comes_from_a_background_snapshot_while_the_master_serves() {
    let master = ChildServer::start(&[]);
    let mut mc = client(master.port);
    populate(&mut mc);
    add_bulk(&mut mc, 3000);
    // 1 ms per key: the snapshot takes about 3 s.
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    let mport = master.port.to_string();
    let r1 = ChildServer::start(&["--replicaof", "127.0.0.1", &mport]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            repl_field(&mut mc, "slave0").contains("state=wait_bgsave")
        }),
        "the replica never waited for a snapshot"
    );
    assert_eq!(persistence_field(&mut mc, "rdb_bgsave_in_progress"), "1");
    // The second replica joins with the stream held so far (a SELECT and a write in
    // another database among it).
    mc.cmd(&["SELECT", "5"]);
    mc.cmd(&["SET", "between", "joins"]);
    mc.cmd(&["SELECT", "0"]);
    let r2 = ChildServer::start(&["--replicaof", "127.0.0.1", &mport]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            repl_field(&mut mc, "slave1").contains("state=wait_bgsave")
        }),
        "the second replica never waited"
    );
    // Both wait for the one snapshot, which still runs; the master serves meanwhile.
    assert_eq!(persistence_field(&mut mc, "rdb_bgsave_in_progress"), "1");
    write_more(&mut mc);
    for i in 0..50 {
        mc.cmd(&["SET", &format!("bulk:{i}"), "changed"]);
    }
    mc.cmd(&["DEL", "bulk:2999"]);
    assert_eq!(mc.cmd(&["GET", "bulk:7"]), V::Bulk(b"changed".to_vec()));
    assert_eq!(persistence_field(&mut mc, "rdb_bgsave_in_progress"), "1");
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let (mut c1, mut c2) = (client(r1.port), client(r2.port));
    assert!(wait_until(Duration::from_secs(20), || {
        link_up(&mut c1) && link_up(&mut c2)
    }));
    mc.cmd(&["INCR", "counter"]);
    assert_replicas_equal(&mut mc, &mut [&mut c1, &mut c2]);
    for c in [&mut c1, &mut c2] {
        c.cmd(&["SELECT", "5"]);
        assert_eq!(c.cmd(&["GET", "between"]), V::Bulk(b"joins".to_vec()));
    }
    assert_eq!(stats_field(&mut mc, "sync_full"), "2");
    assert_eq!(stats_field(&mut mc, "total_forks"), "1");
    let info = mc.cmd(&["INFO", "replication"]).text();
    assert!(info.contains("connected_slaves:2"), "{info}");
    assert!(
        info.contains("slave0:") && info.contains("state=online"),
        "{info}"
    );
}

/// A replica that comes while a BGSAVE of nobody's runs waits for it to end, and the
/// snapshot started then is its payload (Redis: "Waiting for next BGSAVE for SYNC").
#[test]
fn a_replica_arriving_during_a_bgsave_waits_for_the_next_snapshot() {
    let master = ChildServer::start(&[]);
    let mut mc = client(master.port);
    populate(&mut mc);
    add_bulk(&mut mc, 3000);
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "500"]);
    assert_eq!(
        mc.cmd(&["BGSAVE"]),
        V::Simple("Background saving started".into())
    );
    let mport = master.port.to_string();
    let r1 = ChildServer::start(&["--replicaof", "127.0.0.1", &mport]);
    assert!(wait_until(Duration::from_secs(20), || {
        repl_field(&mut mc, "slave0").contains("state=wait_bgsave")
    }));
    mc.cmd(&["SET", "bulk:7", "during the first"]);
    assert_eq!(stats_field(&mut mc, "total_forks"), "1");
    // The BGSAVE ends; the next snapshot, the replica's, starts at once.
    assert!(wait_until(Duration::from_secs(20), || {
        stats_field(&mut mc, "total_forks") == "2"
    }));
    mc.cmd(&["SET", "bulk:0", "during the second"]);
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let mut c1 = client(r1.port);
    assert!(wait_until(Duration::from_secs(20), || link_up(&mut c1)));
    assert_replicas_equal(&mut mc, &mut [&mut c1]);
    assert_eq!(
        c1.cmd(&["GET", "bulk:0"]),
        V::Bulk(b"during the second".to_vec())
    );
}

/// What a replica waiting for its payload hears, byte by byte: PSYNC's `+FULLRESYNC <id>
/// <offset>` as soon as its snapshot starts (SYNC gets none), then a newline a second
/// while the snapshot runs, then `$<len>` and the RDB payload.
#[test]
fn a_waiting_replica_hears_newlines_until_its_payload() {
    use std::io::{Read, Write};
    let master = ChildServer::start(&[]);
    let mut mc = client(master.port);
    add_bulk(&mut mc, 5000);
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    let raw = |cmd: &[u8]| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", master.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(cmd).unwrap();
        s
    };
    let mut psync = raw(b"PSYNC ? -1\r\n");
    let mut sync = raw(b"SYNC\r\n");
    // What arrives within `d`.
    let read_for = |s: &mut std::net::TcpStream, d: Duration| {
        let end = std::time::Instant::now() + d;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            s.set_read_timeout(Some(left)).unwrap();
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        got
    };
    let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(80)]).to_string();
    let first = read_for(&mut psync, Duration::from_millis(1500));
    let text = show(&first);
    let line = text.split("\r\n").next().unwrap();
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[0], "+FULLRESYNC", "{text:?}");
    assert_eq!(words[1].len(), 40, "{text:?}");
    assert_eq!(words[1], repl_field(&mut mc, "master_replid"));
    // Then newlines only (the snapshot takes about 5 s), a second apart.
    let rest = &first[line.len() + 2..];
    assert!(
        !rest.is_empty() && rest.iter().all(|&b| b == b'\n'),
        "{text:?}"
    );
    let waited = read_for(&mut sync, Duration::from_millis(1200));
    assert!(
        !waited.is_empty() && waited.iter().all(|&b| b == b'\n'),
        "SYNC: {}",
        show(&waited)
    );
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    for s in [&mut psync, &mut sync] {
        let got = read_for(s, Duration::from_millis(3000));
        let start = got.iter().position(|&b| b != b'\n').unwrap();
        let got = &got[start..];
        assert_eq!(got[0], b'$', "{}", show(got));
        let end = got.iter().position(|&b| b == b'\r').unwrap();
        let len: usize = std::str::from_utf8(&got[1..end]).unwrap().parse().unwrap();
        let payload = &got[end + 2..];
        assert!(payload.len() >= len, "{} of {len} bytes", payload.len());
        assert!(payload.starts_with(b"REDIS0010"));
    }
}

/// Replicas waiting for the same snapshot share one copy of the stream held for them, in
/// the backlog, which outgrows `repl-backlog-size` for them (as Redis 7's replicas and
/// backlog share one replication buffer): a second waiting replica adds nothing to INFO
/// `mem_total_replication_buffers`, one leaving takes nothing away, another replica may
/// continue from anywhere in it (PSYNC → +CONTINUE), and it shrinks back to its size when
/// the last waiting replica goes. (Each waiting replica used to hold its own copy, and the
/// backlog a third, of 16 KiB here.)
#[test]
fn replicas_waiting_for_one_snapshot_share_the_held_stream() {
    use std::io::{Read, Write};
    let master = ChildServer::start(&[]);
    let mut mc = client(master.port);
    add_bulk(&mut mc, 100);
    mc.cmd(&["CONFIG", "SET", "repl-backlog-size", "16384"]);
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]);
    let connect = |psync: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", master.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(psync.as_bytes()).unwrap();
        s
    };
    let a = connect("PSYNC ? -1\r\n");
    let b = connect("PSYNC ? -1\r\n");
    let info = |c: &mut RawClient, section: &str, f: &str| -> u64 {
        info_field(&c.cmd(&["INFO", section]).text(), f)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(wait_until(Duration::from_secs(10), || {
        let repl = mc.cmd(&["INFO", "replication"]).text();
        repl.matches("state=wait_bgsave").count() == 2
    }));
    let from = info(&mut mc, "replication", "master_repl_offset");
    let value = "x".repeat(1024);
    for i in 0..1024 {
        mc.cmd(&["SET", &format!("big:{i}"), &value]);
    }
    let stream = info(&mut mc, "replication", "master_repl_offset") - from;
    assert!(stream > 1024 * 1024, "{stream}");
    // The backlog holds the stream since the snapshot started, once.
    assert!(info(&mut mc, "replication", "repl_backlog_histlen") >= stream);
    let shared = info(&mut mc, "memory", "mem_total_replication_buffers");
    assert!(
        shared >= stream && shared < stream + stream / 10,
        "{shared} held for {stream} bytes of stream"
    );
    // A replica may continue from anywhere in it.
    let replid = repl_field(&mut mc, "master_replid");
    let mut c = connect(&format!("PSYNC {replid} {}\r\n", from + 1));
    let mut got = [0u8; 64];
    let n = c.read(&mut got).unwrap();
    let line = String::from_utf8_lossy(&got[..n]).to_string();
    assert!(line.starts_with("+CONTINUE"), "{line:?}");
    drop(c);
    drop(a);
    assert!(wait_until(Duration::from_secs(10), || {
        info(&mut mc, "replication", "connected_slaves") == 1
    }));
    assert_eq!(
        info(&mut mc, "memory", "mem_total_replication_buffers"),
        shared
    );
    drop(b);
    assert!(wait_until(Duration::from_secs(10), || {
        info(&mut mc, "replication", "connected_slaves") == 0
    }));
    let left = info(&mut mc, "memory", "mem_total_replication_buffers");
    assert!(left <= 16384, "{left} of {shared}");
    assert_eq!(info(&mut mc, "replication", "repl_backlog_histlen"), 16384);
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
}

/// A full resync's payload goes to a replica at the replica's pace, a few MB queued at
/// most, not whole (16 MB here: it used to be queued all at once, and a dataset of any
/// size was held again in memory for every replica resyncing). What is queued is
/// replication memory, not the dataset's: the master evicts nothing for it (it used to
/// count as the dataset's, and a master at its maxmemory evicted keys whenever a replica
/// resynced).
#[test]
fn a_full_resync_payload_is_sent_at_the_replicas_pace_and_makes_no_master_evict() {
    use std::io::Write;
    let master = ChildServer::start(&[]);
    let mut mc = client(master.port);
    // 16 MB that does not compress (the payload's strings are LZF-compressed).
    let value = |i: usize| -> String {
        let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (0..16 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect()
    };
    mc.pipeline(
        1024,
        |i| vec!["SET".into(), format!("big:{i}"), value(i)],
        |r| assert_eq!(r, V::Simple("OK".into())),
    );
    let info = |c: &mut RawClient, section: &str, f: &str| -> u64 {
        info_field(&c.cmd(&["INFO", section]).text(), f)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let used = |c: &mut RawClient| {
        info(c, "memory", "used_memory") - info(c, "memory", "mem_not_counted_for_evict")
    };
    let base = used(&mut mc);
    // A replica that asks for a full resync and reads nothing.
    let mut replica = std::net::TcpStream::connect(("127.0.0.1", master.port)).unwrap();
    replica.write_all(b"PSYNC ? -1\r\n").unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        info(&mut mc, "memory", "mem_clients_slaves") > 3 * 1024 * 1024
    }));
    mc.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    mc.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        &(base + 2 * 1024 * 1024).to_string(),
    ]);
    // The sending waits for the replica: what is queued stays a few MB of the 16.
    std::thread::sleep(Duration::from_millis(500));
    let queued = info(&mut mc, "memory", "mem_clients_slaves");
    assert!(
        (3 * 1024 * 1024..6 * 1024 * 1024).contains(&queued),
        "{queued} bytes queued"
    );
    assert!(!mc
        .cmd(&["INFO", "replication"])
        .text()
        .contains("state=online"));
    for i in 0..100 {
        assert_eq!(
            mc.cmd(&["SET", &format!("small:{i}"), "x"]),
            V::Simple("OK".into())
        );
    }
    assert_eq!(info(&mut mc, "stats", "evicted_keys"), 0);
    assert_eq!(mc.cmd(&["DBSIZE"]), V::Int(1124));
    // Read now: the whole payload comes (an RDB file of the length announced), and the
    // replica is attached.
    replica
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut r = std::io::BufReader::new(replica);
    let rdb = read_payload(&mut r);
    assert!(rdb.len() > 15 * 1024 * 1024, "{}", rdb.len());
    assert!(wait_until(Duration::from_secs(20), || {
        mc.cmd(&["INFO", "replication"])
            .text()
            .contains("state=online")
    }));
    drop(r);
}

/// A replica that moves to a second master, whose snapshot for it never finishes (the
/// master dies while it runs), comes back to its first master with a partial resync:
/// its history and dataset were still the first master's, and it kept that master's
/// position until a payload arrived whole (Redis discards its cached master only then).
#[test]
fn a_replica_whose_new_master_dies_mid_sync_continues_with_the_old_one() {
    let m1 = ChildServer::start(&[]);
    let mut c1 = client(m1.port);
    populate(&mut c1);
    let (_r, mut rc) = start_replica_of(&m1.port.to_string());
    let m2 = ChildServer::start(&[]);
    let mut c2 = client(m2.port);
    add_bulk(&mut c2, 100);
    // 100 keys at 1 s each: this snapshot never ends.
    c2.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]);
    rc.cmd(&["REPLICAOF", "127.0.0.1", &m2.port.to_string()]);
    assert!(wait_until(Duration::from_secs(20), || {
        repl_field(&mut c2, "slave0").contains("state=wait_bgsave")
    }));
    drop(c2);
    drop(m2);
    rc.cmd(&["REPLICAOF", "127.0.0.1", &m1.port.to_string()]);
    assert!(wait_until(Duration::from_secs(20), || link_up(&mut rc)));
    assert_one_full_one_partial(&mut c1);
    write_more(&mut c1);
    assert_eq!(c1.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    assert_eq!(dataset(&mut rc), dataset(&mut c1));
}

/// A full resync's payload is spooled to the data directory's disk, but never into the
/// room the log needs for its next two segments: with less free, the replica is refused
/// (disconnected, no file left behind) and the master goes on taking writes; with room
/// again, the next attempt gets its payload.
#[test]
fn a_full_resync_leaves_the_log_its_room_on_the_disk() {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use strata::persist::io::{SimFs, Vfs};
    let fs = Arc::new(SimFs::new());
    let dir = std::path::PathBuf::from("/sim/data");
    let s = TestServer::start_in(
        &dir,
        &[("segment-size", "1048576")],
        fs.clone() as Arc<dyn Vfs>,
    );
    let mut c = s.raw();
    for i in 0..100 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    // 1.5 MB free: under the two 1 MB segments kept for the log.
    fs.set_free_space(Some(1_500_000));
    let ask = || {
        let mut r = std::net::TcpStream::connect(s.addr).unwrap();
        r.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        r.write_all(b"PSYNC ? -1\r\n").unwrap();
        std::io::BufReader::new(r)
    };
    // Read until the master closes the connection (or a payload comes).
    let mut refused = ask();
    let mut got = Vec::new();
    let mut piece = [0u8; 4096];
    loop {
        match refused.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&piece[..n]),
            Err(e) => panic!("{e} after {:?}", String::from_utf8_lossy(&got)),
        }
        assert!(!got.contains(&b'$'), "a payload came");
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("+FULLRESYNC"), "{got}");
    assert!(
        fs.files(&dir).iter().all(|n| !n.starts_with("resync-")),
        "{:?}",
        fs.files(&dir)
    );
    assert_eq!(c.cmd(&["SET", "after", "v"]), V::Simple("OK".into()));
    fs.set_free_space(None);
    let mut r = ask();
    read_payload(&mut r);
    assert!(wait_until(Duration::from_secs(20), || {
        c.cmd(&["INFO", "replication"])
            .text()
            .contains("state=online")
    }));
}

/// A full resync's payload, read from a raw replica's connection: the RDB file after the
/// `$<len>` line (and the lines the master sends before it).
fn read_payload(r: &mut impl std::io::BufRead) -> Vec<u8> {
    let mut line = String::new();
    while !line.starts_with('$') {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    let len: usize = line[1..].trim().parse().unwrap();
    let mut rdb = vec![0u8; len];
    r.read_exact(&mut rdb).unwrap();
    assert!(rdb.starts_with(b"REDIS"));
    rdb
}

/// A master announcing a payload no memory can hold (100 TB) is refused at once with an
/// error, and the replica tries again (it used to wait on the connection for the bytes
/// until `repl-timeout`), serving its clients meanwhile. The master here is a fake that
/// answers the handshake and announces that length.
#[test]
fn an_absurd_payload_length_is_refused_at_once() {
    use std::io::{BufRead, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let psyncs = Arc::new(AtomicUsize::new(0));
    let counted = psyncs.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut w) = conn else { return };
            let counted = counted.clone();
            std::thread::spawn(move || {
                let mut r = std::io::BufReader::new(w.try_clone().unwrap());
                let mut line = String::new();
                // Commands as multibulk: `*n`, then `$len` and the argument, n times.
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let n: usize = line.trim()[1..].parse().unwrap_or(0);
                    let mut args = Vec::new();
                    for _ in 0..n {
                        line.clear();
                        r.read_line(&mut line).unwrap();
                        line.clear();
                        r.read_line(&mut line).unwrap();
                        args.push(line.trim().to_ascii_uppercase());
                    }
                    line.clear();
                    let reply = match args.first().map(String::as_str) {
                        Some("PING") => "+PONG\r\n".to_string(),
                        Some("PSYNC") => {
                            counted.fetch_add(1, Ordering::SeqCst);
                            format!("+FULLRESYNC {} 0\r\n$100000000000000\r\n", "a".repeat(40))
                        }
                        _ => "+OK\r\n".to_string(),
                    };
                    if w.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let replica = ChildServer::start(&["--replicaof", "127.0.0.1", &port.to_string()]);
    let mut rc = client(replica.port);
    assert!(
        wait_until(Duration::from_secs(10), || psyncs.load(Ordering::SeqCst)
            >= 2),
        "{} PSYNC in 10 s: the replica waited on the first",
        psyncs.load(Ordering::SeqCst)
    );
    assert_eq!(rc.cmd(&["PING"]), V::Simple("PONG".into()));
    assert!(rc
        .cmd(&["INFO", "replication"])
        .text()
        .contains("master_link_status:down"));
}
