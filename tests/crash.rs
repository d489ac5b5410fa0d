//! The real crash test: the `strata` binary runs as a child process under a write load
//! from several clients that record every acknowledged write; the child is killed with
//! SIGKILL at a random moment and restarted on the same directory, several rounds. Every
//! acknowledged write must be there after each restart (appendfsync always, and everysec:
//! a reply there waits for the record's `write`, so a killed process loses nothing the OS
//! has), and counters never exceed what was sent.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use redis::Commands;

fn spawn(dir: &Path, port: u16, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["server", "--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(["--loglevel", "warning", "--segment-size", "65536"])
        .args(extra)
        // (A fatal signal may leave a core file in the working directory: not the repo's.)
        .current_dir(dir.parent().unwrap_or(dir))
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn strata")
}

/// A connection once the server has loaded its data: it listens at once and answers
/// -LOADING (PING included, as Redis) until then.
fn wait_ready(port: u16) -> redis::Connection {
    let t0 = Instant::now();
    loop {
        if let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .and_then(|c| c.get_connection())
        {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return c;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "strata did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Default)]
struct Acks {
    /// key → last acknowledged value
    sets: HashMap<String, u64>,
    /// counter → (acknowledged increments, sent increments)
    incrs: HashMap<String, (u64, u64)>,
}

#[test]
fn kill9_loses_no_acknowledged_write() {
    kill9_rounds(&[], false);
}

/// Under `everysec` the connections' runtime writes the records itself (the writer thread
/// only fdatasyncs, rotates and takes over when the runtime hands off): a process kill still
/// loses no acknowledged write.
#[test]
fn kill9_under_everysec_loses_no_acknowledged_write() {
    kill9_rounds(&["--appendfsync", "everysec"], false);
}

/// The same under snapshots: the automatic trigger fires every 64 KiB of log and a client
/// asks for BGSAVE every few milliseconds, so kills land before, during and after snapshot
/// writes, installs and segment retirements.
#[test]
fn kill9_during_snapshots_loses_no_acknowledged_write() {
    let dir = kill9_rounds(
        &[
            "--auto-aof-rewrite-min-size",
            "65536",
            "--auto-aof-rewrite-percentage",
            "10",
        ],
        true,
    );
    let snaps = std::fs::read_dir(dir.path().join("data"))
        .expect("dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("snap-"))
        })
        .count();
    assert!(snaps >= 1, "no snapshot was ever installed");
}

/// Snapshots and rotations under `everysec`, where the connections' runtime writes the
/// records and hands rotations to the writer thread: still nothing acknowledged is lost.
#[test]
fn kill9_during_snapshots_under_everysec_loses_no_acknowledged_write() {
    kill9_rounds(
        &[
            "--appendfsync",
            "everysec",
            "--auto-aof-rewrite-min-size",
            "65536",
            "--auto-aof-rewrite-percentage",
            "10",
        ],
        true,
    );
}

fn kill9_rounds(extra: &[&str], bgsave: bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let acks = Arc::new(Mutex::new(Acks::default()));
    let mut rng = rand::thread_rng();
    let rounds = 6;
    for round in 0..rounds {
        let port = common::free_port();
        let mut child = spawn(&dir, port, extra);
        let mut check = wait_ready(port);
        // Verify everything acknowledged in earlier rounds survived.
        {
            let a = acks.lock().expect("acks");
            for (k, v) in &a.sets {
                let got: Option<u64> = check.get(k).expect("get");
                // A later, unacknowledged SET of a bigger value may have landed.
                assert!(
                    got.is_some_and(|g| g >= *v),
                    "round {round}: {k} acked {v}, found {got:?}"
                );
            }
            for (k, (acked, sent)) in &a.incrs {
                let got: u64 = check.get::<_, Option<u64>>(k).expect("get").unwrap_or(0);
                assert!(
                    got >= *acked && got <= *sent,
                    "round {round}: {k} acked {acked} sent {sent}, found {got}"
                );
            }
        }
        // Load: 4 writers, each on its own keys so values grow monotonically.
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for w in 0..4 {
            let stop = stop.clone();
            let acks = acks.clone();
            handles.push(std::thread::spawn(move || {
                let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .and_then(|c| c.get_connection())
                else {
                    return;
                };
                let mut seq = 0u64;
                let counter = format!("ctr:{w}");
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let key = format!("w{w}:k{}", seq % 500);
                    let val = round as u64 * 1_000_000 + seq;
                    let r: redis::RedisResult<()> = c.set(&key, val);
                    if r.is_err() {
                        return;
                    }
                    acks.lock().expect("acks").sets.insert(key, val);
                    acks.lock()
                        .expect("acks")
                        .incrs
                        .entry(counter.clone())
                        .or_default()
                        .1 += 1;
                    let r: redis::RedisResult<u64> = c.incr(&counter, 1);
                    if r.is_err() {
                        return;
                    }
                    acks.lock()
                        .expect("acks")
                        .incrs
                        .entry(counter.clone())
                        .or_default()
                        .0 += 1;
                }
            }));
        }
        if bgsave {
            let stop = stop.clone();
            handles.push(std::thread::spawn(move || {
                let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .and_then(|c| c.get_connection())
                else {
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    let r: redis::RedisResult<redis::Value> = redis::cmd("BGSAVE").query(&mut c);
                    if matches!(&r, Err(e) if e.is_io_error()) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(15));
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..900)));
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().expect("writer");
        }
    }
    // Final check after the last kill.
    let port = common::free_port();
    let mut child = spawn(&dir, port, extra);
    let mut check = wait_ready(port);
    let a = acks.lock().expect("acks");
    assert!(
        a.sets.len() > 100,
        "the load produced too few writes to mean anything"
    );
    for (k, v) in &a.sets {
        let got: Option<u64> = check.get(k).expect("get");
        assert!(
            got.is_some_and(|g| g >= *v),
            "final: {k} acked {v}, found {got:?}"
        );
    }
    for (k, (acked, sent)) in &a.incrs {
        let got: u64 = check.get::<_, Option<u64>>(k).expect("get").unwrap_or(0);
        assert!(
            got >= *acked && got <= *sent,
            "final: {k} acked {acked} sent {sent}, found {got}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(a);
    tmp
}

/// A fatal signal's crash report, as Redis's: SIGABRT (a supervisor's "dump and die") and
/// DEBUG SEGFAULT (Redis's way to test its crash handler) log "crashed by signal: N" with a
/// stack trace and end the process by SIGABRT; the restart has every acknowledged write.
#[test]
fn fatal_signals_log_a_crash_report_and_lose_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let log = tmp.path().join("strata.log");
    let port = common::free_port();
    let extra = [
        "--logfile",
        log.to_str().expect("utf8"),
        "--enable-debug-command",
        "yes",
    ];
    for (round, signal) in [(0, 11), (1, 6)] {
        let mut child = spawn(&dir, port, &extra);
        let mut c = wait_ready(port);
        let n: i64 = c.incr("n", 1).expect("incr");
        assert_eq!(n, round + 1, "the earlier round's write survived");
        if signal == 11 {
            assert!(redis::cmd("DEBUG")
                .arg("SEGFAULT")
                .query::<redis::Value>(&mut c)
                .is_err());
        } else {
            let killed = Command::new("kill")
                .args(["-ABRT", &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(killed.success());
        }
        let status = child.wait().expect("wait");
        assert_eq!(status.signal(), Some(6), "{status:?}");
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(
            text.contains(&format!("crashed by signal: {signal}, si_code: 0")),
            "{text}"
        );
        assert!(text.contains("------ STACK TRACE ------"), "{text}");
    }
    let mut child = spawn(&dir, port, &extra);
    let mut c = wait_ready(port);
    let n: i64 = c.get("n").expect("get");
    assert_eq!(n, 2);
    drop(c);
    child.kill().ok();
    child.wait().ok();
}
