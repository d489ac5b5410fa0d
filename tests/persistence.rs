//! Persistence through the real server: restart round trips (and DEBUG RELOAD) reproduce
//! the keyspace exactly, TTLs included; a torn last record is cut at every byte offset and
//! exactly the earlier writes survive; damage in a non-last segment refuses startup naming
//! the file and `strata fsck`; the LOCK stops a second server; failing writes/fsyncs
//! (through the `Vfs`) latch the log into MISCONF while reads go on; and a simulated power
//! loss keeps every acknowledged write.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{TestServer, V};
use strata::persist::io::{SimFs, Vfs};

/// Every key of every db with type, value and absolute expiry, as seen over the wire.
fn snapshot(s: &TestServer) -> Vec<(usize, String, String, V)> {
    let mut c = s.raw();
    let mut out = Vec::new();
    for db in 0..16 {
        c.cmd(&["SELECT", &db.to_string()]);
        let V::Arr(keys) = c.cmd(&["KEYS", "*"]) else {
            panic!("KEYS")
        };
        for k in keys {
            let k = k.text();
            let exp = c.cmd(&["PEXPIRETIME", &k]);
            let val = c.cmd(&["GET", &k]);
            out.push((db, k, format!("{exp:?}"), val));
        }
    }
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

fn workload(s: &TestServer) {
    let mut c = s.raw();
    for cmd in [
        "SET s1 hello",
        "SET s2 world EX 1000",
        "SET s3 x PX 5000000",
        "SET s4 y EXAT 4102444800",
        "INCR n1",
        "INCRBY n1 41",
        "DECRBY n2 5",
        "INCRBYFLOAT f 1.5",
        "INCRBYFLOAT f 0.1",
        "APPEND s1 _more",
        "SETRANGE r 5 abc",
        "SETBIT b 100 1",
        "BITFIELD bf SET u8 0 200 INCRBY u8 0 100",
        "MSET m1 a m2 b m3 c",
        "MSETNX m1 z m9 z",
        "SETNX m4 d",
        "SETEX se 1000 v",
        "PSETEX pse 1000000 v",
        "GETSET m2 bb",
        "GETDEL m3",
        "GETEX s1 EX 5000",
        "EXPIRE m1 10000",
        "PEXPIRE m2 10000000 NX",
        "EXPIREAT m4 4102444800",
        "PERSIST s2",
        "RENAME m1 m1r",
        "COPY m1r m1c",
        "SELECT 3",
        "SET d3 three",
        "SELECT 0",
        "MOVE m2 5",
        "BITOP OR bo b b",
        "SET gone x",
        "DEL gone",
        "SET gone2 x PX 1",
        "SWAPDB 3 4",
        "SELECT 7",
        "SET d7 seven",
        "FLUSHDB",
        "SELECT 0",
        "SET k v KEEPTTL",
    ] {
        let args: Vec<&str> = cmd.split(' ').collect();
        let r = c.cmd(&args);
        assert!(!matches!(r, V::Err(_)), "{cmd}: {r:?}");
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
}

#[test]
fn restart_reproduces_keyspace() {
    let s = TestServer::start(&[]);
    workload(&s);
    let before = snapshot(&s);
    assert!(before.len() > 15, "workload produced {} keys", before.len());
    let s = s.restart(&[]);
    assert_eq!(snapshot(&s), before);
    // And again, after more writes on the recovered state.
    s.raw().cmd(&["SET", "after", "restart"]);
    let before = snapshot(&s);
    let s = s.restart(&[]);
    assert_eq!(snapshot(&s), before);
}

#[test]
fn debug_digest_survives_restart_snapshot_and_reload() {
    let s = TestServer::start(&[]);
    workload(&s);
    // The key whose time ran out is dropped at the next start (as a Redis master drops
    // such keys as it loads); touch it so it is gone from the digest already.
    assert_eq!(s.raw().cmd(&["EXISTS", "gone2"]), V::Int(0));
    let digest = |s: &TestServer| s.raw().cmd(&["DEBUG", "DIGEST"]);
    let before = digest(&s);
    assert_ne!(before, V::Bulk(vec![b'0'; 40]));
    let s = s.restart(&[]);
    assert_eq!(digest(&s), before, "after replaying the log");
    assert_eq!(s.raw().cmd(&["SAVE"]), V::Simple("OK".into()));
    let s = s.restart(&[]);
    assert_eq!(digest(&s), before, "after loading the snapshot");
    assert_eq!(s.raw().cmd(&["DEBUG", "RELOAD"]), V::Simple("OK".into()));
    assert_eq!(digest(&s), before, "after DEBUG RELOAD");
    s.raw().cmd(&["FLUSHALL"]);
    assert_eq!(digest(&s), V::Bulk(vec![b'0'; 40]));
}

#[test]
fn debug_reload_reproduces_keyspace() {
    let s = TestServer::start(&[]);
    workload(&s);
    let before = snapshot(&s);
    assert_eq!(s.raw().cmd(&["DEBUG", "RELOAD"]), V::Simple("OK".into()));
    assert_eq!(snapshot(&s), before);
}

#[test]
fn expired_keys_are_journaled_as_del() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    c.cmd(&["SET", "short", "x", "PX", "30"]);
    c.cmd(&["SET", "keep", "y"]);
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(c.cmd(&["GET", "short"]), V::Nil);
    let s = s.restart(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["DBSIZE"]), V::Int(1));
    let info = c.cmd(&["INFO", "stats"]).text();
    assert!(info.contains("expired_keys:"), "{info}");
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n.starts_with("seg-") && n.ends_with(".log")
        })
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("dir") {
        let e = e.expect("entry");
        if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn torn_last_record_at_every_offset() {
    let mut s = TestServer::start(&[]);
    let tmp = s.take_tmp().expect("tmp");
    for i in 0..5 {
        s.raw().cmd(&["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    let dir = s.dir.clone();
    let seg = segments(&dir).pop().expect("segment");
    // The end of the records: INFO's logical size (one segment). The file itself runs ahead
    // with preallocated zeros while the server runs (format/log.md §9 E).
    let info = s.raw().cmd(&["INFO", "persistence"]).text();
    let before: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("aof_current_size:"))
        .expect("aof_current_size")
        .trim()
        .parse()
        .expect("number");
    s.raw().cmd(&["SET", "last", "value-of-the-last-record"]);
    drop(s);
    let full = std::fs::read(&seg).expect("read");
    assert!(full.len() as u64 > before);
    for cut in before..full.len() as u64 {
        let work = tmp.path().join(format!("cut-{cut}"));
        copy_dir(&dir, &work);
        let wseg = work.join(seg.file_name().expect("name"));
        std::fs::write(&wseg, &full[..cut as usize]).expect("write");
        let s = TestServer::start_in(&work, &[], Arc::new(strata::persist::io::RealFs));
        let mut c = s.raw();
        assert_eq!(c.cmd(&["DBSIZE"]), V::Int(5), "cut at {cut}");
        assert_eq!(c.cmd(&["GET", "k4"]), V::Bulk(b"v4".to_vec()));
        assert_eq!(c.cmd(&["GET", "last"]), V::Nil, "cut at {cut}");
        // Recovery continues the log: new writes survive another restart.
        c.cmd(&["SET", "new", "1"]);
        drop(c);
        let s = s.restart(&[]);
        assert_eq!(
            s.raw().cmd(&["GET", "new"]),
            V::Bulk(b"1".to_vec()),
            "cut at {cut}"
        );
        if cut > before {
            let side = std::fs::read_dir(&work)
                .expect("dir")
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().contains(".torn-"))
                })
                .count();
            assert_eq!(side, 1, "cut bytes kept in a side file (cut at {cut})");
        }
    }
}

#[test]
fn damage_in_a_non_last_segment_refuses_startup() {
    let mut s = TestServer::start(&[("segment-size", "4096")]);
    let tmp = s.take_tmp().expect("tmp");
    let big = "x".repeat(500);
    for i in 0..40 {
        s.raw().cmd(&["SET", &format!("k{i}"), &big]);
    }
    let dir = s.dir.clone();
    drop(s);
    let segs = segments(&dir);
    assert!(segs.len() >= 3, "rotation produced {} segments", segs.len());
    let first = std::fs::read(&segs[0]).expect("read");
    // Flip one byte in each field of the first record (header at 32, record fields after).
    for off in [32usize, 36, 44, 52, 53, 56, 60, 70, first.len() - 1] {
        let work = tmp.path().join(format!("flip-{off}"));
        copy_dir(&dir, &work);
        let mut bytes = first.clone();
        bytes[off] ^= 0x55;
        std::fs::write(work.join(segs[0].file_name().expect("name")), &bytes).expect("write");
        let err = match TestServer::try_start_in(&work, &[], Arc::new(strata::persist::io::RealFs))
        {
            Ok(_) => panic!("started with a flipped byte at {off}"),
            Err(e) => e,
        };
        let name = segs[0]
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            err.contains(&name) && err.contains("strata fsck"),
            "offset {off}: {err}"
        );
    }
}

#[test]
fn lock_stops_a_second_server() {
    let s = TestServer::start(&[]);
    let err = match TestServer::try_start_in(&s.dir, &[], Arc::new(strata::persist::io::RealFs)) {
        Ok(_) => panic!("second server started on a locked dir"),
        Err(e) => e,
    };
    assert!(err.contains("locked"), "{err}");
}

fn sim_dir() -> std::path::PathBuf {
    std::path::PathBuf::from("/sim/data")
}

#[test]
fn failed_fsync_latches_misconf_reads_go_on() {
    for policy in ["always", "everysec"] {
        let fs = Arc::new(SimFs::new());
        let s = TestServer::start_in(
            &sim_dir(),
            &[("appendfsync", policy)],
            fs.clone() as Arc<dyn Vfs>,
        );
        let mut c = s.raw();
        assert_eq!(c.cmd(&["SET", "a", "1"]), V::Simple("OK".into()));
        if policy == "everysec" {
            fs.fail_write_after(0);
        } else {
            fs.fail_sync_after(0);
        }
        let r = c.cmd(&["SET", "b", "2"]);
        assert!(
            matches!(&r, V::Err(e) if e.starts_with("MISCONF")),
            "{policy}: {r:?}"
        );
        let r = c.cmd(&["SET", "c", "3"]);
        assert!(
            matches!(&r, V::Err(e) if e.starts_with("MISCONF")),
            "{policy}: {r:?}"
        );
        // Reads go on, and never show the write that did not become durable.
        assert_eq!(c.cmd(&["GET", "a"]), V::Bulk(b"1".to_vec()), "{policy}");
        assert_eq!(c.cmd(&["GET", "b"]), V::Nil, "{policy}");
        let info = c.cmd(&["INFO", "persistence"]).text();
        assert!(
            info.contains("aof_last_write_status:err"),
            "{policy}: {info}"
        );
    }
}

#[test]
fn power_loss_keeps_every_acknowledged_write() {
    let fs = Arc::new(SimFs::new());
    let s = TestServer::start_in(
        &sim_dir(),
        &[("segment-size", "8192")],
        fs.clone() as Arc<dyn Vfs>,
    );
    let mut handles = Vec::new();
    for w in 0..4 {
        let addr = s.addr;
        handles.push(std::thread::spawn(move || {
            let mut c = common::RawClient::connect(addr);
            let mut acked = Vec::new();
            for i in 0..200 {
                let k = format!("w{w}:{i}");
                if c.cmd(&["SET", &k, &i.to_string()]) == V::Simple("OK".into()) {
                    acked.push(k);
                }
            }
            acked
        }));
    }
    let acked: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    // Power loss now: only fsynced bytes and directory entries survive.
    let image = Arc::new(fs.crash_image());
    drop(s);
    let s = TestServer::start_in(&sim_dir(), &[], image as Arc<dyn Vfs>);
    let mut c = s.raw();
    for k in &acked {
        assert_ne!(c.cmd(&["GET", k]), V::Nil, "acknowledged {k} lost");
    }
    assert_eq!(acked.len(), 800);
}

/// Under `everysec` the records are written by the connections' runtime, not the writer
/// thread; the writer thread must still fdatasync them within about a second, whether the
/// server is busy or idle afterwards.
#[test]
fn everysec_fsyncs_within_a_second_or_two() {
    let s = TestServer::start(&[("appendfsync", "everysec")]);
    let mut c = s.raw();
    let field = |c: &mut common::RawClient, name: &str| -> u64 {
        let info = c.cmd(&["INFO", "persistence"]).text();
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("{name} missing: {info}"))
            .trim()
            .parse()
            .expect("a number")
    };
    for round in 0..2 {
        let before = field(&mut c, "strata_fsyncs");
        for i in 0..100 {
            assert_eq!(
                c.cmd(&["SET", &format!("k{round}:{i}"), "v"]),
                V::Simple("OK".into())
            );
        }
        let last = field(&mut c, "strata_last_lsn");
        assert_eq!(
            field(&mut c, "strata_durable_lsn"),
            last,
            "written once acknowledged"
        );
        let t0 = std::time::Instant::now();
        while field(&mut c, "strata_fsyncs") == before {
            assert!(
                t0.elapsed() < std::time::Duration::from_millis(2500),
                "round {round}: no fdatasync 2.5 s after the writes"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// INFO persistence field `name` of `c`.
fn persistence_field(c: &mut common::RawClient, name: &str) -> String {
    let info = c.cmd(&["INFO", "persistence"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .to_string()
}

/// `len` letters that vary with `i` and along the string (compress poorly: many blocks).
fn scrambled(i: usize, len: usize) -> String {
    (0..len)
        .map(|j| char::from(b'a' + ((i * 7 + j * 13) % 26) as u8))
        .collect()
}

/// Waits until no snapshot runs.
fn wait_bgsave_done(c: &mut common::RawClient) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while persistence_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(std::time::Instant::now() < deadline, "snapshot never ended");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A snapshot whose file cannot be written (a full disk) fails without leaving its file
/// behind (it would hold the space a restart needs), shows in INFO, counts consecutive
/// failures, and leaves the log serving; the next snapshot that works resets the count.
#[test]
fn failed_snapshot_leaves_no_file_and_is_counted() {
    let mut covered_mid_job = false;
    for n in [0u64, 1, 2, 4, 8, 16, 32] {
        let fs = Arc::new(SimFs::new());
        let s = TestServer::start_in(&sim_dir(), &[], fs.clone() as Arc<dyn Vfs>);
        let mut c = s.raw();
        // Incompressible values: the snapshot writes many blocks.
        assert_eq!(
            c.cmd(&["DEBUG", "POPULATE", "3000", "k", "1000"]),
            V::Simple("OK".into())
        );
        for i in 0..3000 {
            c.cmd(&["APPEND", &format!("k:{i}"), &scrambled(i, 64)]);
        }
        fs.fail_write_after(n);
        let started = c.cmd(&["BGSAVE"]);
        wait_bgsave_done(&mut c);
        if persistence_field(&mut c, "aof_last_write_status") != "ok" {
            // The failure hit the log's own rotation, not the snapshot: a different test.
            continue;
        }
        if persistence_field(&mut c, "rdb_last_bgsave_status") == "ok" {
            // The snapshot made fewer than n + 1 writes.
            assert!(
                n > 0,
                "the first write failed and the snapshot still succeeded"
            );
            continue;
        }
        assert_eq!(
            persistence_field(&mut c, "rdb_last_bgsave_status"),
            "err",
            "n={n}: {started:?}"
        );
        assert_eq!(
            persistence_field(&mut c, "aof_rewrites_consecutive_failures"),
            "1",
            "n={n}"
        );
        covered_mid_job |= matches!(started, V::Simple(_));
        let files = fs.files(&sim_dir());
        assert!(
            files.iter().all(|f| !f.starts_with("snap-")),
            "n={n}: {files:?}"
        );
        // The log serves on; a snapshot that works resets the count.
        assert_eq!(c.cmd(&["SET", "after", "1"]), V::Simple("OK".into()));
        c.cmd(&["BGSAVE"]);
        wait_bgsave_done(&mut c);
        assert_eq!(persistence_field(&mut c, "rdb_last_bgsave_status"), "ok");
        assert_eq!(
            persistence_field(&mut c, "aof_rewrites_consecutive_failures"),
            "0"
        );
        let files = fs.files(&sim_dir());
        assert_eq!(
            files.iter().filter(|f| f.starts_with("snap-")).count(),
            1,
            "{files:?}"
        );
    }
    assert!(covered_mid_job, "no failure fell inside a running snapshot");
}

/// The same for SAVE, which runs the snapshot in the foreground.
#[test]
fn failed_save_leaves_no_file() {
    let mut failed = 0;
    for n in [0u64, 2, 8] {
        let fs = Arc::new(SimFs::new());
        let s = TestServer::start_in(&sim_dir(), &[], fs.clone() as Arc<dyn Vfs>);
        let mut c = s.raw();
        for i in 0..2000 {
            c.cmd(&["SET", &format!("k:{i}"), &scrambled(i, 200)]);
        }
        fs.fail_write_after(n);
        let r = c.cmd(&["SAVE"]);
        if persistence_field(&mut c, "aof_last_write_status") != "ok" {
            continue;
        }
        if r == V::Simple("OK".into()) {
            continue;
        }
        assert!(matches!(&r, V::Err(_)), "n={n}: {r:?}");
        failed += 1;
        assert_eq!(persistence_field(&mut c, "rdb_last_bgsave_status"), "err");
        let files = fs.files(&sim_dir());
        assert!(
            files.iter().all(|f| !f.starts_with("snap-")),
            "n={n}: {files:?}"
        );
        assert_eq!(c.cmd(&["SAVE"]), V::Simple("OK".into()));
    }
    assert!(failed >= 2, "{failed}");
}
