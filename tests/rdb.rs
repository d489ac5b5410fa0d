//! RDB interchange with a real redis-server 7.0, every type and encoding: (a) redis SAVE →
//! `strata restore` → strata serves the same keyspace; (b) strata → `strata dump --format
//! rdb` → redis-server loads the file (with `sanitize-dump-payload yes`, so every listpack,
//! intset and stream is deep-checked); (c) DUMP/RESTORE across the two servers, both ways;
//! (d) `strata dump --format resp | redis-cli --pipe`. Keys are compared type-aware (full
//! contents; XINFO STREAM FULL for streams) and PTTL within a tolerance. Needs
//! redis-server (skips without it, fails under CI=true, as the differential tests). Also
//! RESTORE under DEBUG SET-SKIP-CHECKSUM-VALIDATION (strata alone).

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, Oracle, RawClient, TestServer, V};
use strata::persist::io::RealFs;

/// A redis-server started with extra arguments (a data file to load, sanitizing).
struct Redis {
    child: Child,
    addr: SocketAddr,
}

impl Redis {
    fn start(dir: &Path, dbfilename: &str) -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--sanitize-dump-payload", "yes"])
            .arg("--dir")
            .arg(dir)
            .args(["--dbfilename", dbfilename])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let t0 = Instant::now();
        let mut r = Redis { child, addr };
        loop {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "redis-server did not start (or refused the file {dbfilename})"
            );
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!("redis-server exited ({status}): it refused {dbfilename}");
            }
            if TcpStream::connect(addr).is_ok() {
                let mut c = r.raw();
                match c.cmd(&["PING"]) {
                    V::Simple(s) if s == "PONG" => return r,
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn raw(&self) -> RawClient {
        RawClient::connect(self.addr)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Commands creating every type and encoding, expiries, several databases.
fn population() -> Vec<Vec<Vec<u8>>> {
    let mut c: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut cmd = |args: &[&[u8]]| c.push(args.iter().map(|a| a.to_vec()).collect());
    // Strings: raw, int-encoded (8/16/32 bit), beyond 32 bits, LZF, incompressible, empty.
    cmd(&[b"SET", b"s", b"hello"]);
    for (k, v) in [
        ("i8", "-7"),
        ("i16", "1000"),
        ("i32", "-70000"),
        ("i64", "99999999999"),
    ] {
        cmd(&[b"SET", k.as_bytes(), v.as_bytes()]);
    }
    let lzf = "abcdefgh".repeat(40);
    cmd(&[b"SET", b"lzf", lzf.as_bytes()]);
    let noise: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    cmd(&[b"SET", b"noise", &noise]);
    cmd(&[b"SET", b"empty", b""]);
    cmd(&[b"SET", b"bin\x00key\xff", b"v\x00\x01"]);
    cmd(&[b"SET", b"007", b"007"]);
    // Hashes: listpack, hashtable by count, hashtable by value size.
    cmd(&[b"HSET", b"h_small", b"a", b"1", b"b", b"two", b"c", b"-3"]);
    let mut big = vec![b("HSET"), b("h_big")];
    for i in 0..700 {
        big.push(format!("field:{i}").into_bytes());
        big.push(format!("{}", i * 37).into_bytes());
    }
    let big_refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    cmd(&big_refs);
    let long = "x".repeat(100);
    cmd(&[b"HSET", b"h_long", b"f", long.as_bytes(), b"g", b"1"]);
    // Lists: small, many nodes, a big element, integers.
    cmd(&[
        b"RPUSH",
        b"l_small",
        b"a",
        b"1",
        b"-300",
        b"70000",
        b"99999999999",
    ]);
    let mut big = vec![b("RPUSH"), b("l_big")];
    for i in 0..3000 {
        big.push(format!("item-{i}-{}", "y".repeat(i % 50)).into_bytes());
    }
    let big_refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    cmd(&big_refs);
    let huge = "z".repeat(20_000);
    cmd(&[b"RPUSH", b"l_huge", b"head", huge.as_bytes(), b"tail"]);
    // Sets: intset (16/32/64-bit), intset past the limit, strings.
    cmd(&[b"SADD", b"set_i16", b"1", b"2", b"-3"]);
    cmd(&[b"SADD", b"set_i32", b"1", b"70000", b"-70000"]);
    cmd(&[b"SADD", b"set_i64", b"1", b"99999999999", b"-5"]);
    let mut big = vec![b("SADD"), b("set_ints_big")];
    for i in 0..600 {
        big.push(format!("{}", i * 3).into_bytes());
    }
    let big_refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    cmd(&big_refs);
    cmd(&[b"SADD", b"set_str", b"apple", b"banana", b"1", b"cherry"]);
    // Sorted sets: listpack, skiplist by count, skiplist by member size, odd scores.
    cmd(&[
        b"ZADD", b"z_small", b"1", b"a", b"2.5", b"b", b"-3", b"c", b"inf", b"top", b"-inf",
        b"bottom",
    ]);
    let mut big = vec![b("ZADD"), b("z_big")];
    for i in 0..400 {
        big.push(format!("{}", f64::from(i) * 0.37 - 20.0).into_bytes());
        big.push(format!("member-{i}").into_bytes());
    }
    let big_refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    cmd(&big_refs);
    cmd(&[
        b"ZADD",
        b"z_long",
        b"1",
        long.as_bytes(),
        b"1e300",
        b"huge",
        b"0.1",
        b"tenth",
    ]);
    // Streams: several nodes, varying fields, deletions, groups, PEL, consumers.
    for i in 1..=260u32 {
        let id = format!("{}-{}", 1_000 + i / 3, i % 3);
        if i % 4 == 0 {
            cmd(&[
                b"XADD",
                b"st",
                id.as_bytes(),
                b"other",
                format!("{i}").as_bytes(),
            ]);
        } else {
            cmd(&[
                b"XADD",
                b"st",
                id.as_bytes(),
                b"a",
                b"1",
                b"b",
                format!("v{i}").as_bytes(),
            ]);
        }
    }
    cmd(&[b"XDEL", b"st", b"1001-0", b"1010-2", b"1050-1"]);
    cmd(&[b"XGROUP", b"CREATE", b"st", b"g1", b"0"]);
    cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"alice",
        b"COUNT",
        b"10",
        b"STREAMS",
        b"st",
        b">",
    ]);
    cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"bob",
        b"COUNT",
        b"5",
        b"STREAMS",
        b"st",
        b">",
    ]);
    cmd(&[b"XACK", b"st", b"g1", b"1001-1", b"1002-0"]);
    cmd(&[b"XCLAIM", b"st", b"g1", b"bob", b"0", b"1001-2"]);
    cmd(&[b"XGROUP", b"CREATE", b"st", b"g2", b"$"]);
    cmd(&[b"XGROUP", b"CREATECONSUMER", b"st", b"g2", b"carol"]);
    cmd(&[b"XADD", b"st_empty", b"5-1", b"f", b"v"]);
    cmd(&[b"XDEL", b"st_empty", b"5-1"]);
    cmd(&[b"XADD", b"st_trim", b"MAXLEN", b"3", b"*", b"f", b"1"]);
    for _ in 0..5 {
        cmd(&[b"XADD", b"st_trim", b"MAXLEN", b"3", b"*", b"f", b"2"]);
    }
    // Expiries.
    cmd(&[b"SET", b"ttl_s", b"v", b"PX", b"500000"]);
    cmd(&[b"HSET", b"ttl_h", b"f", b"v"]);
    cmd(&[b"PEXPIRE", b"ttl_h", b"900000"]);
    cmd(&[b"RPUSH", b"ttl_l", b"x"]);
    cmd(&[b"PEXPIREAT", b"ttl_l", b"4102444800000"]);
    // Other databases.
    cmd(&[b"SELECT", b"1"]);
    cmd(&[b"SET", b"in1", b"one"]);
    cmd(&[b"ZADD", b"z1", b"1", b"x"]);
    cmd(&[b"SELECT", b"5"]);
    cmd(&[b"SADD", b"in5", b"a", b"b"]);
    cmd(&[b"SET", b"in5ttl", b"v", b"EX", b"1000"]);
    cmd(&[b"SELECT", b"0"]);
    c
}

fn populate(c: &mut RawClient) {
    for args in population() {
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        c.send(&a);
        let r = c.read();
        assert!(
            !matches!(r, V::Err(_)),
            "{:?}: {r:?}",
            String::from_utf8_lossy(&args[0])
        );
    }
}

/// One key's observable state: type, contents, PTTL.
#[derive(Debug, Clone, PartialEq)]
struct KeyState {
    kind: String,
    contents: V,
    pttl: i64,
}

fn sorted(v: V) -> V {
    match v {
        V::Arr(mut a) | V::Set(mut a) => {
            a.sort_by_key(|x| format!("{x:?}"));
            V::Arr(a)
        }
        other => other,
    }
}

fn pairs_sorted(v: V) -> V {
    match v {
        V::Arr(a) => {
            let mut p: Vec<(V, V)> = a
                .chunks(2)
                .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or(V::Nil)))
                .collect();
            p.sort_by_key(|(k, _)| format!("{k:?}"));
            V::Map(p)
        }
        other => other,
    }
}

/// XINFO STREAM FULL without the radix-tree shape (node layout may differ legitimately).
fn stream_full(v: V) -> V {
    match v {
        V::Arr(a) => {
            let mut out = Vec::new();
            for c in a.chunks(2) {
                let name = c[0].text();
                if name.starts_with("radix-tree") {
                    continue;
                }
                out.push(c[0].clone());
                out.push(c.get(1).cloned().unwrap_or(V::Nil));
            }
            V::Arr(out)
        }
        other => other,
    }
}

fn raw_cmd(c: &mut RawClient, args: &[&[u8]]) -> V {
    c.send(args);
    c.read()
}

fn snapshot(c: &mut RawClient) -> BTreeMap<(usize, Vec<u8>), KeyState> {
    let mut out = BTreeMap::new();
    for db in 0..16usize {
        assert_eq!(c.cmd(&["SELECT", &db.to_string()]), V::Simple("OK".into()));
        let V::Arr(keys) = c.cmd(&["KEYS", "*"]) else {
            panic!("KEYS")
        };
        for k in keys {
            let V::Bulk(key) = k else { panic!("key") };
            let kind = raw_cmd(c, &[b"TYPE", &key]).text();
            let contents = match kind.as_str() {
                "string" => raw_cmd(c, &[b"GET", &key]),
                "hash" => pairs_sorted(raw_cmd(c, &[b"HGETALL", &key])),
                "list" => raw_cmd(c, &[b"LRANGE", &key, b"0", b"-1"]),
                "set" => sorted(raw_cmd(c, &[b"SMEMBERS", &key])),
                "zset" => raw_cmd(c, &[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"]),
                "stream" => stream_full(raw_cmd(c, &[b"XINFO", b"STREAM", &key, b"FULL"])),
                other => panic!("unexpected type {other}"),
            };
            let V::Int(pttl) = raw_cmd(c, &[b"PTTL", &key]) else {
                panic!("PTTL")
            };
            out.insert(
                (db, key),
                KeyState {
                    kind,
                    contents,
                    pttl,
                },
            );
        }
    }
    assert_eq!(c.cmd(&["SELECT", "0"]), V::Simple("OK".into()));
    out
}

fn compare(
    what: &str,
    want: &BTreeMap<(usize, Vec<u8>), KeyState>,
    got: &BTreeMap<(usize, Vec<u8>), KeyState>,
) {
    // Every key of `population` (34, over databases 0, 1 and 5) is compared.
    assert_eq!(want.len(), 34, "{what}: the source keyspace is incomplete");
    fn has(v: &V, what: &[u8]) -> bool {
        match v {
            V::Bulk(b) => b == what,
            V::Arr(a) => a.iter().any(|x| has(x, what)),
            V::Map(m) => m.iter().any(|(k, x)| has(k, what) || has(x, what)),
            _ => false,
        }
    }
    assert!(
        want.values()
            .any(|k| k.kind == "stream" && has(&k.contents, b"alice")),
        "{what}: no stream with consumer alice in the source"
    );
    let mut bad = Vec::new();
    for (k, w) in want {
        let name = format!("db{} {:?}", k.0, String::from_utf8_lossy(&k.1));
        match got.get(k) {
            None => bad.push(format!("{name}: missing")),
            Some(g) => {
                if g.kind != w.kind || g.contents != w.contents {
                    bad.push(format!(
                        "{name}: {:?}\n  want {:?}\n  got  {:?}",
                        w.kind, w.contents, g.contents
                    ));
                }
                let ok = if w.pttl < 0 {
                    g.pttl == w.pttl
                } else {
                    (g.pttl - w.pttl).abs() < 10_000
                };
                if !ok {
                    bad.push(format!("{name}: PTTL want {} got {}", w.pttl, g.pttl));
                }
            }
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            bad.push(format!(
                "db{} {:?}: unexpected",
                k.0,
                String::from_utf8_lossy(&k.1)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} difference(s):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

fn strata_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

fn run_ok(mut c: Command) {
    let out = c.output().expect("run strata");
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_strata(dir: &Path) -> TestServer {
    TestServer::start_in(dir, &[], Arc::new(RealFs))
}

/// redis-server populated (`populate`), what it holds, and the `dump.rdb` its SAVE wrote.
fn populated_rdb(oracle: &Oracle) -> (BTreeMap<(usize, Vec<u8>), KeyState>, std::path::PathBuf) {
    let mut rc = oracle.raw();
    populate(&mut rc);
    let want = snapshot(&mut rc);
    assert_eq!(rc.cmd(&["SAVE"]), V::Simple("OK".into()));
    let V::Arr(dir) = rc.cmd(&["CONFIG", "GET", "dir"]) else {
        panic!("dir")
    };
    (want, Path::new(&dir[1].text()).join("dump.rdb"))
}

#[test]
fn redis_rdb_file_restores_into_strata() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let (want, rdb) = populated_rdb(&oracle);
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let mut c = strata_bin();
    c.args(["restore", "--dir"])
        .arg(&data)
        .arg("--input")
        .arg(&rdb);
    run_ok(c);
    // A second restore into the now non-empty directory is refused without --force.
    let out = strata_bin()
        .args(["restore", "--dir"])
        .arg(&data)
        .arg("--input")
        .arg(&rdb)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    let s = start_strata(&data);
    let got = snapshot(&mut s.raw());
    compare("redis SAVE -> strata restore", &want, &got);
    // --force replaces the contents.
    let mut sc = s.raw();
    sc.cmd(&["SET", "extra", "1"]);
    drop(sc);
    drop(s);
    let mut c = strata_bin();
    c.args(["restore", "--force", "--dir"])
        .arg(&data)
        .arg("--input")
        .arg(&rdb);
    run_ok(c);
    let s = start_strata(&data);
    let got = snapshot(&mut s.raw());
    compare("strata restore --force", &want, &got);
}

/// `strata server` as a child process on `dir` (a free port; output discarded).
fn spawn_server(dir: &Path) -> (Child, u16) {
    let port = free_port();
    let child = strata_bin()
        .args(["server", "--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(["--loglevel", "warning"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn strata");
    (child, port)
}

/// A client of the server on `port` once it listens and has loaded (no more -LOADING).
fn loaded_client(port: u16) -> RawClient {
    drop(common::tcp(port));
    let mut c = RawClient::connect(([127, 0, 0, 1], port).into());
    while matches!(c.cmd(&["DBSIZE"]), V::Err(_)) {
        std::thread::sleep(Duration::from_millis(10)); // -LOADING
    }
    c
}

/// A Redis data directory served as it is: strata started on a directory holding only
/// Redis's `dump.rdb` (the `dbfilename`) imports it first, as Redis loads it at start;
/// later starts serve strata's own files (writes made since stay, the RDB file is not
/// read again). A truncated RDB file stops the start and leaves the directory as it was.
#[test]
fn a_redis_data_directory_is_served_as_it_is() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let (want, rdb) = populated_rdb(&oracle);
    let rdb = std::fs::read(rdb).expect("dump.rdb");
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("redis-dir");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("dump.rdb"), &rdb).unwrap();
    let (mut child, port) = spawn_server(&data);
    let mut c = loaded_client(port);
    compare("redis dir -> strata server", &want, &snapshot(&mut c));
    assert_eq!(c.cmd(&["SET", "since", "1"]), V::Simple("OK".into()));
    c.send_raw(b"SHUTDOWN\r\n");
    assert!(child.wait().unwrap().success());
    let (mut child, port) = spawn_server(&data);
    let mut c = loaded_client(port);
    assert_eq!(c.cmd(&["GET", "since"]), V::Bulk(b"1".to_vec()));
    assert_eq!(c.cmd(&["DEL", "since"]), V::Int(1));
    compare("restarted", &want, &snapshot(&mut c));
    let _ = child.kill();
    let _ = child.wait();

    let bad = tmp.path().join("truncated");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("dump.rdb"), &rdb[..rdb.len() / 2]).unwrap();
    let (mut child, _) = spawn_server(&bad);
    let status = child.wait().unwrap();
    assert!(!status.success(), "started on a truncated RDB file");
    let left: Vec<String> = std::fs::read_dir(&bad)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "LOCK")
        .collect();
    assert_eq!(left, vec!["dump.rdb".to_string()]);
}

/// `strata restore --force` into a directory that holds only a snapshot (a first restore,
/// or a compacted log): the new keys replace the old ones, none of the old stay.
#[test]
fn restore_force_replaces_a_directory_holding_only_a_snapshot() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let (_, rdb) = populated_rdb(&oracle);
    let tmp = tempfile::tempdir().expect("tmp");
    let first = tmp.path().join("first.rdb");
    std::fs::copy(&rdb, &first).expect("copy");
    let mut rc = oracle.raw();
    rc.cmd(&["FLUSHALL"]);
    rc.cmd(&["SET", "only", "this"]);
    assert_eq!(rc.cmd(&["SAVE"]), V::Simple("OK".into()));
    let data = tmp.path().join("data");
    for (input, force) in [(&first, false), (&rdb, true)] {
        let mut c = strata_bin();
        c.arg("restore");
        if force {
            c.arg("--force");
        }
        c.arg("--dir").arg(&data).arg("--input").arg(input);
        run_ok(c);
    }
    let s = start_strata(&data);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "only"]), V::Bulk(b"this".to_vec()));
    for db in ["0", "1", "5"] {
        assert_eq!(c.cmd(&["SELECT", db]), V::Simple("OK".into()));
        let n = if db == "0" { 1 } else { 0 };
        assert_eq!(
            c.cmd(&["DBSIZE"]),
            V::Int(n),
            "db {db} after restore --force"
        );
    }
}

/// A server killed while it imports a Redis `dump.rdb` at start, at several moments: the
/// next start finds either no log (and imports again) or the whole import, never a log
/// without the keys.
#[test]
fn a_killed_import_at_start_is_done_again_whole() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let mut rc = oracle.raw();
    let script = "for i = 1, 200000 do redis.call('SET', 'key:' .. i, i) end";
    assert_eq!(rc.cmd(&["EVAL", script, "0"]), V::Nil);
    assert_eq!(rc.cmd(&["SAVE"]), V::Simple("OK".into()));
    let V::Arr(dir) = rc.cmd(&["CONFIG", "GET", "dir"]) else {
        panic!("dir")
    };
    let rdb = Path::new(&dir[1].text()).join("dump.rdb");
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("redis-dir");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(&rdb, data.join("dump.rdb")).unwrap();
    for ms in [100, 300, 600, 1000, 1500, 2500] {
        let (mut child, _) = spawn_server(&data);
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (mut child, port) = spawn_server(&data);
    let mut c = loaded_client(port);
    assert_eq!(c.cmd(&["DBSIZE"]), V::Int(200_000));
    assert_eq!(c.cmd(&["GET", "key:123456"]), V::Bulk(b"123456".to_vec()));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn strata_rdb_dump_loads_into_redis() {
    if Oracle::start().is_none() {
        return;
    }
    let mut s = TestServer::start(&[]);
    let tmp = s.take_tmp().expect("tmp");
    let data = s.dir.clone();
    let mut c = s.raw();
    populate(&mut c);
    // Part of the keyspace comes from a snapshot, the rest from the log tail after it.
    assert_eq!(c.cmd(&["SAVE"]), V::Simple("OK".into()));
    c.cmd(&["DEL", "s"]);
    c.cmd(&["SET", "after_save", "1"]);
    c.cmd(&["HSET", "h_small", "d", "4"]);
    let want = snapshot(&mut c);
    drop(c);
    drop(s);
    assert!(
        std::fs::read_dir(&data).expect("data dir").any(|e| e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with("snap-")),
        "SAVE wrote a snapshot"
    );
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let mut cmd = strata_bin();
    cmd.args(["dump", "--dir"])
        .arg(&data)
        .arg("--output")
        .arg(out.join("strata.rdb"));
    run_ok(cmd);
    let r = Redis::start(&out, "strata.rdb");
    let got = snapshot(&mut r.raw());
    compare("strata dump -> redis-server load", &want, &got);
}

#[test]
fn dump_restore_across_servers() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let mut rc = oracle.raw();
    populate(&mut rc);
    let want = snapshot(&mut rc);
    // Redis DUMP -> strata RESTORE.
    let s = TestServer::start(&[]);
    let mut sc = s.raw();
    for (db, key) in want.keys() {
        rc.cmd(&["SELECT", &db.to_string()]);
        sc.cmd(&["SELECT", &db.to_string()]);
        let V::Bulk(p) = raw_cmd(&mut rc, &[b"DUMP", key]) else {
            panic!("DUMP")
        };
        let V::Int(pttl) = raw_cmd(&mut rc, &[b"PTTL", key]) else {
            panic!("PTTL")
        };
        let ttl = pttl.max(0).to_string();
        let r = raw_cmd(&mut sc, &[b"RESTORE", key, ttl.as_bytes(), &p]);
        assert_eq!(
            r,
            V::Simple("OK".into()),
            "RESTORE {:?}",
            String::from_utf8_lossy(key)
        );
    }
    sc.cmd(&["SELECT", "0"]);
    let got = snapshot(&mut sc);
    compare("redis DUMP -> strata RESTORE", &want, &got);
    // Strata DUMP -> a sanitizing redis RESTORE.
    let tmp = tempfile::tempdir().expect("tmp");
    let r = Redis::start(tmp.path(), "none.rdb");
    let mut rr = r.raw();
    for (db, key) in want.keys() {
        rr.cmd(&["SELECT", &db.to_string()]);
        sc.cmd(&["SELECT", &db.to_string()]);
        let V::Bulk(p) = raw_cmd(&mut sc, &[b"DUMP", key]) else {
            panic!("DUMP")
        };
        let V::Int(pttl) = raw_cmd(&mut sc, &[b"PTTL", key]) else {
            panic!("PTTL")
        };
        let ttl = pttl.max(0).to_string();
        let res = raw_cmd(&mut rr, &[b"RESTORE", key, ttl.as_bytes(), &p]);
        assert_eq!(
            res,
            V::Simple("OK".into()),
            "redis RESTORE {:?}",
            String::from_utf8_lossy(key)
        );
    }
    rr.cmd(&["SELECT", "0"]);
    let got = snapshot(&mut rr);
    compare("strata DUMP -> redis RESTORE", &want, &got);
    // And the journaled RESTOREs replay to the same keyspace.
    drop(sc);
    let s = s.restart(&[]);
    let got = snapshot(&mut s.raw());
    compare("strata RESTORE replayed", &want, &got);
}

#[test]
fn resp_dump_pipes_into_redis() {
    if Oracle::start().is_none() {
        return;
    }
    let mut s = TestServer::start(&[]);
    let tmp = s.take_tmp().expect("tmp");
    let data = s.dir.clone();
    let mut c = s.raw();
    populate(&mut c);
    let want = snapshot(&mut c);
    drop(c);
    drop(s);
    let resp = tmp.path().join("dump.resp");
    let mut cmd = strata_bin();
    cmd.args(["dump", "--format", "resp", "--dir"])
        .arg(&data)
        .arg("--output")
        .arg(&resp);
    run_ok(cmd);
    let r = Redis::start(tmp.path(), "none.rdb");
    let out = Command::new("redis-cli")
        .args(["-p", &r.addr.port().to_string(), "--pipe"])
        .stdin(std::fs::File::open(&resp).expect("open"))
        .output()
        .expect("redis-cli --pipe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("errors: 0"),
        "redis-cli --pipe: {text}"
    );
    let got = snapshot(&mut r.raw());
    compare("strata dump --format resp | redis-cli --pipe", &want, &got);
    // The same stream restores into a fresh strata directory.
    let data2 = tmp.path().join("data2");
    let mut cmd = strata_bin();
    cmd.args(["restore", "--dir"])
        .arg(&data2)
        .arg("--input")
        .arg(&resp);
    run_ok(cmd);
    let s2 = start_strata(&data2);
    let got = snapshot(&mut s2.raw());
    compare("strata restore of a RESP stream", &want, &got);
}

#[test]
fn restore_effects_survive_restart() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SET", "gone", "x"]);
    c.cmd(&["HSET", "h", "f", "v"]);
    let V::Bulk(ph) = c.cmd(&["DUMP", "h"]) else {
        panic!("DUMP")
    };
    let V::Bulk(pa) = c.cmd(&["DUMP", "a"]) else {
        panic!("DUMP")
    };
    let ok = V::Simple("OK".into());
    // Relative TTL (journaled absolute), no TTL, and a past TTL that deletes (journaled DEL).
    assert_eq!(raw_cmd(&mut c, &[b"RESTORE", b"h2", b"100000", &ph]), ok);
    assert_eq!(raw_cmd(&mut c, &[b"RESTORE", b"a2", b"0", &pa]), ok);
    assert_eq!(
        raw_cmd(
            &mut c,
            &[b"RESTORE", b"gone", b"1", &pa, b"ABSTTL", b"REPLACE"]
        ),
        ok
    );
    assert_eq!(c.cmd(&["EXISTS", "gone"]), V::Int(0));
    let V::Int(pttl) = c.cmd(&["PTTL", "h2"]) else {
        panic!("PTTL")
    };
    drop(c);
    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["HGET", "h2", "f"]), V::Bulk(b"v".to_vec()));
    assert_eq!(c.cmd(&["GET", "a2"]), V::Bulk(b"1".to_vec()));
    assert_eq!(c.cmd(&["EXISTS", "gone"]), V::Int(0));
    let V::Int(after) = c.cmd(&["PTTL", "h2"]) else {
        panic!("PTTL")
    };
    assert!(
        after <= pttl && after > pttl - 10_000,
        "{pttl} then {after}"
    );
}

#[test]
fn function_libraries_travel_with_the_data() {
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let lib =
        "#!lua name=rdblib\nredis.register_function('rdbf', function(keys, args) return 42 end)";
    let mut rc = oracle.raw();
    assert_eq!(
        rc.cmd(&["FUNCTION", "LOAD", lib]),
        V::Bulk(b"rdblib".to_vec())
    );
    rc.cmd(&["SET", "k", "v"]);
    assert_eq!(rc.cmd(&["SAVE"]), V::Simple("OK".into()));
    let V::Arr(dir) = rc.cmd(&["CONFIG", "GET", "dir"]) else {
        panic!("dir")
    };
    let rdb = Path::new(&dir[1].text()).join("dump.rdb");
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let mut c = strata_bin();
    c.args(["restore", "--dir"])
        .arg(&data)
        .arg("--input")
        .arg(&rdb);
    run_ok(c);
    let s = start_strata(&data);
    assert_eq!(s.raw().cmd(&["FCALL", "rdbf", "0"]), V::Int(42));
    assert_eq!(s.raw().cmd(&["GET", "k"]), V::Bulk(b"v".to_vec()));
    drop(s);
    // Back out as an RDB file and as a RESP stream: redis-server gets the library too.
    for format in ["rdb", "resp"] {
        let out = tmp.path().join(format!("out.{format}"));
        let mut c = strata_bin();
        c.args(["dump", "--format", format, "--dir"])
            .arg(&data)
            .arg("--output")
            .arg(&out);
        run_ok(c);
        let r = if format == "rdb" {
            Redis::start(tmp.path(), "out.rdb")
        } else {
            let r = Redis::start(tmp.path(), "none.rdb");
            let piped = Command::new("redis-cli")
                .args(["-p", &r.addr.port().to_string(), "--pipe"])
                .stdin(std::fs::File::open(&out).expect("open"))
                .output()
                .expect("redis-cli --pipe");
            assert!(String::from_utf8_lossy(&piped.stdout).contains("errors: 0"));
            r
        };
        assert_eq!(r.raw().cmd(&["FCALL", "rdbf", "0"]), V::Int(42), "{format}");
        assert_eq!(
            r.raw().cmd(&["GET", "k"]),
            V::Bulk(b"v".to_vec()),
            "{format}"
        );
    }
}

/// DEBUG SET-SKIP-CHECKSUM-VALIDATION 1 (Redis's test hook) lets RESTORE take a payload
/// whose checksum is wrong (the version is still checked); the RESTORE is journaled with a
/// fresh checksum, so a restart (whose replay checks) restores it. Off again, the payload
/// is refused as before.
#[test]
fn restore_without_checksum_validation() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    c.cmd(&["RPUSH", "src", "a", "b", "1"]);
    let V::Bulk(mut p) = c.cmd(&["DUMP", "src"]) else {
        panic!("DUMP");
    };
    let n = p.len();
    p[n - 1] ^= 0x55; // the checksum's last byte
    let wrong = V::Err("ERR DUMP payload version or checksum are wrong".into());
    assert_eq!(raw_cmd(&mut c, &[b"RESTORE", b"k", b"0", &p]), wrong);
    assert_eq!(
        c.cmd(&["DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1"]),
        V::Simple("OK".into())
    );
    assert_eq!(
        raw_cmd(&mut c, &[b"RESTORE", b"k", b"0", &p]),
        V::Simple("OK".into())
    );
    let mut newer = p.clone();
    newer[n - 10] = 11; // RDB version 11
    assert_eq!(raw_cmd(&mut c, &[b"RESTORE", b"k2", b"0", &newer]), wrong);
    c.cmd(&["DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "0"]);
    assert_eq!(raw_cmd(&mut c, &[b"RESTORE", b"k3", b"0", &p]), wrong);
    drop(c);
    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["LRANGE", "k", "0", "-1"]),
        V::Arr(vec![
            V::Bulk(b"a".to_vec()),
            V::Bulk(b"b".to_vec()),
            V::Bulk(b"1".to_vec())
        ])
    );
}
