//! The replication stream (SYNC, then every unit's effects) compared with redis-server
//! 7.0's: the same commands run on both, and the commands each streams to a connection
//! that sent SYNC must be equal (command names lowercased, absolute times masked), as
//! Redis's own test suite checks with `attach_to_replication_stream`; and (strata alone)
//! that evictions are streamed unwrapped.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{info_field, wait_until, Oracle, RawClient, TestServer, V};

/// A connection that sent SYNC and reads the stream.
struct Stream {
    r: BufReader<TcpStream>,
}

impl Stream {
    fn attach(addr: SocketAddr) -> Stream {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s.write_all(b"SYNC\r\n").expect("write");
        let mut r = BufReader::new(s);
        // Newlines may come first (Redis pings while it prepares the payload).
        let line = loop {
            let mut l = String::new();
            r.read_line(&mut l).expect("payload length");
            if !l.trim().is_empty() {
                break l;
            }
        };
        assert!(line.starts_with('$'), "{line:?}");
        let n: usize = line[1..].trim().parse().expect("length");
        let mut rdb = vec![0; n];
        r.read_exact(&mut rdb).expect("payload");
        assert!(rdb.starts_with(b"REDIS"), "not an RDB payload");
        Stream { r }
    }

    /// The next command on the stream: name lowercased, numbers of 13 digits (absolute
    /// ms times) masked.
    fn next(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).expect("command");
        let n: usize = l
            .trim()
            .strip_prefix('*')
            .unwrap_or_else(|| panic!("not a command: {l:?}"))
            .parse()
            .expect("count");
        let mut args = Vec::new();
        for j in 0..n {
            let mut h = String::new();
            self.r.read_line(&mut h).expect("bulk header");
            let len: usize = h.trim()[1..].parse().expect("bulk length");
            let mut b = vec![0; len + 2];
            self.r.read_exact(&mut b).expect("bulk");
            b.truncate(len);
            let mut a = String::from_utf8_lossy(&b).into_owned();
            if j == 0 {
                a = a.to_ascii_lowercase();
            }
            if a.len() == 13 && a.bytes().all(|c| c.is_ascii_digit()) {
                a = "<ms>".into();
            }
            args.push(a);
        }
        args.join(" ")
    }

    /// Every command up to (not including) `set __end__ 1`.
    fn until_end(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let c = self.next();
            if c == "set __end__ 1" {
                return out;
            }
            out.push(c);
        }
    }
}

fn run(c: &mut RawClient, script: &[&[&str]]) {
    for argv in script {
        let r = c.cmd(argv);
        if let V::Err(e) = &r {
            // EXEC's queued errors and the like are part of some scenarios; a failing
            // setup command is not.
            assert!(!e.starts_with("ERR unknown command"), "{argv:?}: {e}");
        }
    }
}

/// The stream `script` produces on a server at `addr` (`c` connected to it).
fn stream_of(addr: SocketAddr, c: &mut RawClient, script: &[&[&str]]) -> Vec<String> {
    c.cmd(&["FLUSHALL"]);
    c.cmd(&["SELECT", "9"]);
    let mut s = Stream::attach(addr);
    run(c, script);
    c.cmd(&["SET", "__end__", "1"]);
    s.until_end()
}

fn compare(name: &str, script: &[&[&str]]) {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let strata = TestServer::start(&[]);
    let mut oc = oracle.raw();
    oc.cmd(&["CONFIG", "SET", "repl-ping-replica-period", "3600"]);
    let mut sc = strata.raw();
    assert_eq!(
        sc.cmd(&["CONFIG", "SET", "repl-ping-replica-period", "3600"]),
        V::Simple("OK".into())
    );
    let want = stream_of(oracle.addr, &mut oc, script);
    let got = stream_of(strata.addr, &mut sc, script);
    assert_eq!(got, want, "{name}: strata's stream vs redis-server's");
}

#[test]
fn plain_writes_and_effects() {
    compare(
        "plain",
        &[
            &["SET", "foo", "bar"],
            &["GETDEL", "foo"],
            &["SET", "foo", "bar"],
            &["GETEX", "foo"],
            &["SET", "foo1", "bar", "EX", "100"],
            &["SET", "foo2", "bar"],
            &["EXPIRE", "foo2", "100"],
            &["PERSIST", "foo2"],
            &["DEL", "foo", "nosuchkey"],
            &["DEL", "nosuchkey"],
            &["INCR", "n"],
            &["LPUSH", "l", "a", "b", "c"],
            &["RPOP", "l"],
            &["LPOP", "l", "2"],
            &["SELECT", "1"],
            &["SET", "x", "1"],
            &["SELECT", "9"],
            &["SET", "y", "1"],
        ],
    );
}

#[test]
fn transactions_and_scripts() {
    compare(
        "multi",
        &[
            &["MULTI"],
            &["SET", "foo", "bar"],
            &["EXEC"],
            &["MULTI"],
            &["SET", "a", "1"],
            &["GET", "a"],
            &["SET", "b", "2"],
            &["EXEC"],
            &["MULTI"],
            &["EXEC"],
            &["MULTI"],
            &["GET", "a"],
            &["EXEC"],
            &["MULTI"],
            &["DEL", "nosuchkey"],
            &["EXEC"],
            &["MULTI"],
            &["SELECT", "1"],
            &["SET", "c", "3"],
            &["SELECT", "2"],
            &["SET", "d", "4"],
            &["EXEC"],
            &["EVAL", "redis.call('set', KEYS[1], 'bar')", "1", "e"],
            &[
                "EVAL",
                "redis.call('set', KEYS[1], 'x') redis.call('incr', KEYS[2])",
                "2",
                "f",
                "g",
            ],
            &["MULTI"],
            &["SCRIPT", "LOAD", "return 1"],
            &["SET", "h", "1"],
            &["EXEC"],
        ],
    );
}

#[test]
fn flushall_and_swapdb() {
    compare(
        "flush",
        &[
            &["SELECT", "1"],
            &["RPUSH", "k", "hello"],
            &["PEXPIRE", "k", "100000"],
            &["SWAPDB", "1", "9"],
            &["SELECT", "9"],
            &["DEL", "k"],
            // An empty dataset's FLUSHALL is streamed too.
            &["FLUSHALL"],
            &["SET", "w", "1"],
            &["FLUSHALL"],
            &["FLUSHDB"],
            &["SET", "z", "1"],
        ],
    );
}

#[test]
fn restore_is_streamed_with_an_absolute_ttl() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let strata = TestServer::start(&[]);
    let mut got = Vec::new();
    for addr in [oracle.addr, strata.addr] {
        let mut c = RawClient::connect(addr);
        c.cmd(&["CONFIG", "SET", "repl-ping-replica-period", "3600"]);
        c.cmd(&["SET", "foo5", "bar"]);
        let V::Bulk(payload) = c.cmd(&["DUMP", "foo5"]) else {
            panic!("DUMP");
        };
        let mut s = Stream::attach(addr);
        let abs = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis()
            + 100_000)
            .to_string();
        c.send(&[b"RESTORE", b"foo6", b"100000", &payload]);
        assert_eq!(c.read(), V::Simple("OK".into()));
        c.send(&[b"restore", b"foo7", abs.as_bytes(), &payload, b"absttl"]);
        assert_eq!(c.read(), V::Simple("OK".into()));
        c.send(&[b"RESTORE", b"foo8", b"0", &payload, b"REPLACE"]);
        assert_eq!(c.read(), V::Simple("OK".into()));
        c.cmd(&["SET", "__end__", "1"]);
        // Payloads masked (binary).
        let cmds: Vec<String> = s
            .until_end()
            .into_iter()
            .map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                let mut w: Vec<String> = w.iter().map(|s| s.to_string()).collect();
                if w.len() > 3 && w[0] == "restore" {
                    w[3] = "<payload>".into();
                }
                w.join(" ")
            })
            .collect();
        got.push(cmds);
    }
    assert_eq!(got[1], got[0], "strata's stream vs redis-server's");
}

/// PUBLISH reaches replicas (so their subscribers hear it) but not the log: alone, inside
/// a transaction (wrapped in MULTI/EXEC with its writes only when there are several),
/// and from a script.
#[test]
fn publish_is_streamed_to_replicas() {
    compare(
        "publish",
        &[
            &["PUBLISH", "ch", "alone"],
            &["MULTI"],
            &["PUBLISH", "bla", "bla"],
            &["EXEC"],
            &["MULTI"],
            &["SET", "k", "1"],
            &["PUBLISH", "ch", "between"],
            &["INCR", "k"],
            &["EXEC"],
            &["EVAL", "redis.call('publish', 'ch', 'lua') return 1", "0"],
        ],
    );
}

/// XREADGROUP reaches replicas as Redis propagates it: an XCLAIM … FORCE JUSTID LASTID per
/// entry delivered (inside MULTI/EXEC when there are several), with NOACK the consumer's
/// creation and XGROUP SETID; a read of the consumer's history sends nothing. (The log
/// keeps the XREADGROUP itself, for an exact replay.)
#[test]
fn xreadgroup_is_streamed_as_its_xclaims() {
    let xrg = |c: &'static str, count: &'static str, id: &'static str| -> Vec<&'static str> {
        vec![
            "XREADGROUP",
            "GROUP",
            "g",
            c,
            "COUNT",
            count,
            "STREAMS",
            "s",
            id,
        ]
    };
    let r1 = xrg("c1", "2", ">");
    let r2 = xrg("c1", "10", ">");
    let hist = xrg("c1", "10", "0");
    let noack = vec![
        "XREADGROUP",
        "GROUP",
        "g",
        "c2",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ];
    compare(
        "xreadgroup",
        &[
            &["XADD", "s", "1-1", "f", "1"],
            &["XADD", "s", "2-1", "f", "2"],
            &["XADD", "s", "3-1", "f", "3"],
            &["XGROUP", "CREATE", "s", "g", "0"],
            &["MULTI"],
            &r1,
            &r2,
            &["EXEC"],
            &hist,
            &["XADD", "s", "4-1", "f", "4"],
            &["XADD", "s", "5-1", "f", "5"],
            &noack,
            &["XADD", "s", "6-1", "f", "6"],
            &xrg("c3", "1", ">"),
        ],
    );
}

/// Keys evicted by the admission check before a command are streamed as one DEL each,
/// ahead of the command and never inside a MULTI (Redis's performEvictions propagates
/// without a transaction; its unit/maxmemory "propagation with eviction" expects that).
/// Strata alone: which key goes first is the eviction pool's choice.
#[test]
fn evictions_are_streamed_unwrapped() {
    let strata = TestServer::start(&[]);
    let mut c = strata.raw();
    c.cmd(&["SELECT", "9"]);
    let mut s = Stream::attach(strata.addr);
    for k in ["asdf1", "asdf2", "asdf3"] {
        c.cmd(&["SET", k, "1"]);
    }
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    // One write: the GET's admission check evicts, with no background cycle in between.
    let mut out = Vec::new();
    for argv in [&["CONFIG", "SET", "maxmemory", "1"][..], &["GET", "nokey"]] {
        out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
        for a in argv {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    c.send_raw(&out);
    assert_eq!(c.read(), V::Simple("OK".into()));
    assert_eq!(c.read(), V::Nil);
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(c.cmd(&["DBSIZE"]), V::Int(0));
    c.cmd(&["SET", "__end__", "1"]);
    let got = s.until_end();
    assert_eq!(
        got[..4],
        ["select 9", "set asdf1 1", "set asdf2 1", "set asdf3 1"]
    );
    let mut dels = got[4..].to_vec();
    dels.sort();
    assert_eq!(dels, ["del asdf1", "del asdf2", "del asdf3"], "{got:?}");
}

/// A real redis-server 7.0 replica of strata (REPLICAOF): the full resync's payload holds
/// the whole dataset (every type, TTLs, several databases), and the stream keeps the
/// replica equal afterwards; the replication cron's PING keeps an idle link up.
#[test]
fn a_redis_replica_loads_the_dataset_and_follows_the_stream() {
    let strata = TestServer::start(&[("repl-ping-replica-period", "1")]);
    let mut sc = strata.raw();
    let script: &[&[&str]] = &[
        &["SET", "s", "v"],
        &["SET", "t", "v", "EX", "1000"],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["SADD", "set", "x", "y"],
        &["ZADD", "z", "1", "a", "2.5", "b"],
        &["XADD", "x", "1-1", "f", "v"],
        &["SELECT", "3"],
        &["SET", "other", "db3"],
        &["SELECT", "0"],
    ];
    run(&mut sc, script);
    let port = strata.addr.port().to_string();
    let Some(replica) = Oracle::start_with(&["--replicaof", "127.0.0.1", &port]) else {
        return;
    };
    let mut rc = replica.raw();
    let synced = |rc: &mut RawClient| {
        let info = rc.cmd(&["INFO", "replication"]).text();
        info.contains("master_link_status:up") && info.contains("master_sync_in_progress:0")
    };
    assert!(
        wait_until(Duration::from_secs(20), || synced(&mut rc)),
        "the replica never synced"
    );
    // The master lists its replica, with the port it announced (REPLCONF listening-port).
    let rport = replica.addr.port();
    let info = sc.cmd(&["INFO", "replication"]).text();
    assert!(info.contains("connected_slaves:1"), "{info}");
    assert!(
        info.contains(&format!("slave0:ip=127.0.0.1,port={rport},state=online")),
        "{info}"
    );
    let V::Arr(role) = sc.cmd(&["ROLE"]) else {
        panic!("ROLE")
    };
    let V::Arr(listed) = &role[2] else {
        panic!("ROLE replicas: {role:?}")
    };
    assert_eq!(listed.len(), 1, "{role:?}");
    let V::Arr(r0) = &listed[0] else {
        panic!("{role:?}")
    };
    assert_eq!(
        r0[..2],
        [
            V::Bulk(b"127.0.0.1".to_vec()),
            V::Bulk(rport.to_string().into_bytes())
        ]
    );
    // What the payload brought.
    let dump = |c: &mut RawClient| -> Vec<V> {
        vec![
            c.cmd(&["DBSIZE"]),
            c.cmd(&["GET", "s"]),
            c.cmd(&["LRANGE", "l", "0", "-1"]),
            c.cmd(&["HGETALL", "h"]),
            c.cmd(&["SMEMBERS", "set"]),
            c.cmd(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
            c.cmd(&["XRANGE", "x", "-", "+"]),
            c.cmd(&["TYPE", "t"]),
            c.cmd(&["EXPIRETIME", "t"]),
            c.cmd(&["GET", "counter"]),
        ]
    };
    let sorted = |mut v: Vec<V>| {
        if let V::Arr(a) = &mut v[4] {
            a.sort_by_key(|x| format!("{x:?}"));
        }
        v
    };
    assert_eq!(sorted(dump(&mut rc)), sorted(dump(&mut sc)));
    rc.cmd(&["SELECT", "3"]);
    assert_eq!(rc.cmd(&["GET", "other"]), V::Bulk(b"db3".to_vec()));
    rc.cmd(&["SELECT", "0"]);
    // Then the stream: changes made after the sync reach the replica, after a quiet spell
    // longer than the ping period.
    std::thread::sleep(Duration::from_millis(2500));
    let info = rc.cmd(&["INFO", "replication"]).text();
    let last_io: i64 = info
        .lines()
        .find_map(|l| l.strip_prefix("master_last_io_seconds_ago:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1);
    assert!(
        (0..=1).contains(&last_io),
        "no PING reached the idle replica: {info}"
    );
    sc.cmd(&["INCR", "counter"]);
    sc.cmd(&["RPUSH", "l", "d"]);
    sc.cmd(&["DEL", "s"]);
    // (All three, not only the first: the last may arrive a moment after it.)
    assert!(
        wait_until(Duration::from_secs(10), || rc.cmd(&["GET", "counter"])
            == V::Bulk(b"1".to_vec())
            && rc.cmd(&["GET", "s"]) == V::Nil),
        "the stream did not follow"
    );
    assert_eq!(sorted(dump(&mut rc)), sorted(dump(&mut sc)));
    let info = rc.cmd(&["INFO", "replication"]).text();
    assert!(info.contains("master_link_status:up"), "{info}");
    // WAIT counts the replicas that acknowledged everything streamed before it: the one
    // replica (REPLCONF GETACK makes it answer at once); asked for two, the timeout passes
    // and the answer is still the one that did.
    sc.cmd(&["SET", "w", "1"]);
    assert_eq!(sc.cmd(&["WAIT", "1", "10000"]), V::Int(1));
    sc.cmd(&["SET", "w", "2"]);
    assert_eq!(sc.cmd(&["WAIT", "2", "300"]), V::Int(1));
    // Offsets: the replica has applied exactly the bytes strata streamed, and says so
    // (REPLCONF ACK, every second), which strata's INFO shows.
    let mut seen = (String::new(), String::new(), String::new());
    let met = wait_until(Duration::from_secs(10), || {
        let m = sc.cmd(&["INFO", "replication"]).text();
        let r = rc.cmd(&["INFO", "replication"]).text();
        let master = info_field(&m, "master_repl_offset").unwrap_or_default();
        let applied = info_field(&r, "slave_repl_offset").unwrap_or_default();
        let acked = info_field(&m, "slave0")
            .and_then(|v| {
                v.split(',')
                    .find_map(|p| p.strip_prefix("offset=").map(String::from))
            })
            .unwrap_or_default();
        let ok = master == applied && master == acked && master != "0";
        seen = (master, applied, acked);
        ok
    });
    assert!(
        met,
        "offsets never met: (master, replica applied, acked) {seen:?}"
    );
    // The replica's link killed, it asks strata to go on from its offset: strata's
    // backlog has the bytes, so it is a partial resync (+CONTINUE), not a full one.
    assert_eq!(rc.cmd(&["CLIENT", "KILL", "TYPE", "master"]), V::Int(1));
    sc.cmd(&["SET", "after_kill", "1"]);
    assert!(
        wait_until(Duration::from_secs(20), || rc.cmd(&["GET", "after_kill"])
            == V::Bulk(b"1".to_vec())),
        "the replica did not come back"
    );
    let stats = sc.cmd(&["INFO", "stats"]).text();
    assert_eq!(
        info_field(&stats, "sync_full").as_deref(),
        Some("1"),
        "{stats}"
    );
    assert_eq!(
        info_field(&stats, "sync_partial_ok").as_deref(),
        Some("1"),
        "{stats}"
    );
    assert_eq!(sorted(dump(&mut rc)), sorted(dump(&mut sc)));
}

/// A connection that sent SYNC and stops reading is held to the replica class of
/// `client-output-buffer-limit`: past its hard limit it is disconnected (and no longer
/// listed), while the payload itself does not count.
#[test]
fn a_replica_that_stops_reading_is_cut_off_at_its_limit() {
    let strata = TestServer::start(&[("client-output-buffer-limit", "replica 1mb 0 0")]);
    let mut sc = strata.raw();
    // A payload bigger than the limit: it must not count.
    let big = "v".repeat(2_000_000);
    sc.cmd(&["SET", "big", &big]);
    let mut s = TcpStream::connect(strata.addr).expect("connect");
    s.write_all(b"SYNC\r\n").expect("write");
    let attached = |sc: &mut RawClient| {
        info_field(&sc.cmd(&["INFO", "replication"]).text(), "connected_slaves")
    };
    assert!(
        wait_until(Duration::from_secs(10), || attached(&mut sc).as_deref()
            == Some("1")),
        "SYNC did not attach"
    );
    // A small change streams without tripping the limit: the 2 MB payload is not counted.
    sc.cmd(&["SET", "small", "x"]);
    assert!(sc
        .cmd(&["INFO", "replication"])
        .text()
        .contains("connected_slaves:1"));
    // The stream grows past 1 MB (kernel buffers take some) while the replica reads nothing.
    let value = "x".repeat(100_000);
    let mut cut = false;
    for i in 0..400 {
        sc.cmd(&["SET", &format!("k{i}"), &value]);
        if sc
            .cmd(&["INFO", "replication"])
            .text()
            .contains("connected_slaves:0")
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "the replica was never cut off");
    // Its connection is closed: reading drains what was sent, then meets the end.
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the replica's connection stayed open: {e}"),
        }
    }
}

/// The RDB payload SYNC sends to a connection that asked for `REPLCONF rdb-only 1` and
/// `REPLCONF rdb-filter-only functions` (`redis-cli --functions-rdb`): the function
/// libraries without the keys, as Redis 7.0 sends it; without the filter, both.
#[test]
fn rdb_filter_only_functions_sends_the_libraries_alone() {
    let strata = TestServer::start(&[]);
    let mut sc = strata.raw();
    sc.cmd(&["SET", "somekey", "somevalue"]);
    sc.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=filterlib\nredis.register_function('filterfn', function() return 1 end)",
    ]);
    let payload = |filter: bool| {
        let mut s = TcpStream::connect(strata.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut req = String::from("REPLCONF rdb-only 1\r\n");
        if filter {
            req.push_str("REPLCONF rdb-filter-only functions\r\n");
        }
        req.push_str("SYNC\r\n");
        s.write_all(req.as_bytes()).expect("write");
        let mut r = BufReader::new(s);
        let line = loop {
            let mut l = String::new();
            r.read_line(&mut l).expect("reply");
            if l.starts_with('$') {
                break l;
            }
            assert!(l == "+OK\r\n" || l.trim().is_empty(), "{l:?}");
        };
        let n: usize = line[1..].trim().parse().expect("length");
        let mut rdb = vec![0; n];
        r.read_exact(&mut rdb).expect("payload");
        rdb
    };
    let has = |rdb: &[u8], what: &[u8]| rdb.windows(what.len()).any(|w| w == what);
    // (The library's code may be LZF-compressed; its record starts with the FUNCTION2
    // opcode, 0xF5, after the 9-byte header and the AUX fields.)
    let all = payload(false);
    assert!(has(&all, b"somekey") && all.contains(&0xF5));
    let functions = payload(true);
    assert!(functions.starts_with(b"REDIS"));
    assert!(functions.contains(&0xF5), "the library is sent");
    assert!(!has(&functions, b"somekey"), "no key is sent");
    assert!(functions.len() < all.len());
}

/// The replication link carries no replies: a replica whose command has one (PING, or a
/// GET refused because a replica may not touch keys) gets none and is disconnected, on
/// both servers; and PSYNC with an offset that is not an integer is refused with the
/// same error by both.
#[test]
fn a_replica_asking_for_a_reply_is_disconnected() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let strata = TestServer::start(&[]);
    for (name, addr, mut c) in [
        ("redis-server", oracle.addr, oracle.raw()),
        ("strata", strata.addr, strata.raw()),
    ] {
        c.cmd(&["CONFIG", "SET", "repl-ping-replica-period", "3600"]);
        c.cmd(&["CONFIG", "RESETSTAT"]);
        c.cmd(&["SET", "k", "v"]);
        // PING has a reply; GET is refused ("Replica can't interact with the keyspace"),
        // an error reply: both disconnect the replica, which reads neither.
        for (cmd, not_sent) in [(&b"PING\r\n"[..], "PONG"), (b"GET k\r\n", "keyspace")] {
            let mut s = Stream::attach(addr);
            s.r.get_mut().write_all(cmd).expect("write");
            let mut rest = Vec::new();
            // The connection closes (a read error would be a reset: closed too).
            let _ = s.r.read_to_end(&mut rest);
            let rest = String::from_utf8_lossy(&rest).to_string();
            assert!(!rest.contains(not_sent), "{name}: {rest:?}");
            assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()), "{name}");
            let info = c.cmd(&["INFO", "replication"]).text();
            assert_eq!(
                info_field(&info, "connected_slaves").as_deref(),
                Some("0"),
                "{name}"
            );
        }
        let stats = c.cmd(&["INFO", "stats"]).text();
        assert_eq!(
            info_field(&stats, "unexpected_error_replies").as_deref(),
            Some("1"),
            "{name}"
        );
    }
    let want = oracle.raw().cmd(&["PSYNC", "replicationid", "offset_str"]);
    assert!(matches!(want, V::Err(_)), "{want:?}");
    assert_eq!(
        strata.raw().cmd(&["PSYNC", "replicationid", "offset_str"]),
        want
    );
}
