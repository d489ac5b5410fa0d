//! Serving while the dataset loads, as Redis does: the server listens before its startup
//! recovery (snapshot load and log replay, slowed here by `key-load-delay`), answers
//! -LOADING to every command without Redis's `loading` flag (GET, SET, PING, an EXEC of
//! them, DEBUG POPULATE), runs those with it (INFO with `loading:1` and the `loading_*`
//! progress fields, CONFIG GET/SET but for Redis's deny-loading directives), writes
//! nothing meanwhile, and once loaded serves exactly the data it had. The `strata` binary:
//! SIGTERM and SHUTDOWN during loading exit at once leaving the directory untouched, and a
//! damaged snapshot found while serving still ends the process with the startup error.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{info_field, wait_until, TestServer};

/// `dir` holding a snapshot of `keys` keys (DEBUG POPULATE) and, after it, log records:
/// a hash, a key with a TTL, a function library and more strings. Returns the server's
/// DEBUG DIGEST and last LSN when it stopped.
fn build(dir: &Path, keys: u32) -> (String, String) {
    let s = TestServer::start_in(dir, &[], std::sync::Arc::new(strata::persist::io::RealFs));
    let mut c = s.redis();
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(keys)
        .arg("key")
        .arg(100)
        .query(&mut c)
        .expect("populate");
    let _: () = redis::cmd("SAVE").query(&mut c).expect("save");
    let _: () = redis::cmd("HSET")
        .arg(&["h", "f1", "v1", "f2", "v2"])
        .query(&mut c)
        .expect("hset");
    let _: () = redis::cmd("SET")
        .arg(&["ttl", "x", "EX", "1000"])
        .query(&mut c)
        .expect("set ex");
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("#!lua name=lib\nredis.register_function('f', function() return 1 end)")
        .query(&mut c)
        .expect("function load");
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("after:{i}"))
            .arg(i)
            .query(&mut c)
            .expect("set");
    }
    let digest: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("digest");
    let lsn = persistence(&mut c, "strata_last_lsn");
    (digest, lsn)
}

fn info(c: &mut redis::Connection) -> String {
    redis::cmd("INFO")
        .arg("persistence")
        .query(c)
        .expect("INFO runs while loading")
}

fn persistence(c: &mut redis::Connection, field: &str) -> String {
    info_field(&info(c), field).unwrap_or_else(|| panic!("no {field}"))
}

/// The error code a command got (None: it succeeded).
fn code(r: redis::RedisResult<redis::Value>) -> Option<String> {
    r.err().map(|e| e.code().unwrap_or("?").to_string())
}

fn run(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

#[test]
fn loading_answers_loading_then_serves_everything() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    let (digest, lsn) = build(&dir, 20_000);

    // 20000 snapshot keys at 200 µs each: four seconds of loading, unless sped up.
    let s = TestServer::start_loading_in(
        &dir,
        &[
            ("key-load-delay", "200"),
            ("enable-protected-configs", "yes"),
        ],
    );
    let mut c = s.redis();
    let first = info(&mut c);
    assert_eq!(
        info_field(&first, "loading").as_deref(),
        Some("1"),
        "{first}"
    );
    let total: u64 = info_field(&first, "loading_total_bytes")
        .and_then(|v| v.parse().ok())
        .expect("loading_total_bytes");
    let loaded: u64 = info_field(&first, "loading_loaded_bytes")
        .and_then(|v| v.parse().ok())
        .expect("loading_loaded_bytes");
    assert!(total > 0 && loaded < total, "{first}");
    let start: i64 = info_field(&first, "loading_start_time")
        .and_then(|v| v.parse().ok())
        .expect("loading_start_time");
    assert!(start > 1_600_000_000, "{first}");
    for f in ["loading_loaded_perc", "loading_eta_seconds"] {
        assert!(info_field(&first, f).is_some(), "no {f}: {first}");
    }

    // Commands without the `loading` flag, PING among them as in Redis.
    for args in [
        &["GET", "key:1"][..],
        &["SET", "k", "v"],
        &["PING"],
        &["DBSIZE"],
        &["DEBUG", "POPULATE", "10"],
        &["CONFIG", "SET", "appendonly", "yes"],
        &["CONFIG", "SET", "dir", "/tmp"],
    ] {
        assert_eq!(
            code(run(&mut c, args)).as_deref(),
            Some("LOADING"),
            "{args:?}"
        );
    }
    // Those with it.
    assert!(code(run(&mut c, &["CONFIG", "SET", "loglevel", "debug"])).is_none());
    let level: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("loglevel")
        .query(&mut c)
        .expect("config get");
    assert_eq!(level, ["loglevel", "debug"]);
    assert!(code(run(&mut c, &["ECHO", "hi"])).is_none());
    assert!(code(run(&mut c, &["CLIENT", "SETNAME", "x"])).is_none());
    // A transaction queuing a refused command is doomed.
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["MULTI"]), common::V::Simple("OK".into()));
    assert!(raw.cmd(&["GET", "key:1"]).text().starts_with("LOADING"));
    assert!(raw.cmd(&["EXEC"]).text().starts_with("EXECABORT"));
    // Progress moves (the snapshot is read block by block).
    assert!(
        wait_until(Duration::from_secs(10), || {
            info_field(&info(&mut c), "loading_loaded_bytes")
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|now| now > loaded)
        }),
        "loading_loaded_bytes never moved"
    );
    assert_eq!(persistence(&mut c, "loading"), "1");
    // Nothing was written meanwhile.
    assert_eq!(persistence(&mut c, "strata_last_lsn"), lsn);

    // CONFIG SET key-load-delay applies to the running load.
    assert!(code(run(&mut c, &["CONFIG", "SET", "key-load-delay", "0"])).is_none());
    assert!(
        wait_until(Duration::from_secs(20), || persistence(&mut c, "loading")
            == "0"),
        "loading never ended"
    );
    let now = info(&mut c);
    assert!(info_field(&now, "loading_total_bytes").is_none(), "{now}");
    assert_eq!(info_field(&now, "strata_last_lsn").as_deref(), Some(&*lsn));
    let d: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("digest");
    assert_eq!(d, digest);
    let n: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, 20_000 + 302);
    let one: i64 = redis::cmd("FCALL")
        .arg("f")
        .arg(0)
        .query(&mut c)
        .expect("the library was recovered");
    assert_eq!(one, 1);
    let pong: String = redis::cmd("PING").query(&mut c).expect("ping");
    assert_eq!(pong, "PONG");
    // And writes work again (logged after the recovered records).
    let _: () = redis::cmd("SET")
        .arg(&["k", "v"])
        .query(&mut c)
        .expect("set");
    drop(c);
    drop(s);
    let s = TestServer::start_in(&dir, &[], std::sync::Arc::new(strata::persist::io::RealFs));
    let got: String = redis::cmd("GET")
        .arg("k")
        .query(&mut s.redis())
        .expect("get");
    assert_eq!(got, "v");
}

/// Every file of `dir` (but the LOCK) with its bytes.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "LOCK"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect();
    v.sort();
    v
}

fn spawn(dir: &Path, port: u16, delay: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["server", "--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(["--loglevel", "warning", "--key-load-delay", delay])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata")
}

/// A connection to a server that is loading (INFO says so).
fn loading_client(port: u16) -> redis::Connection {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect");
    assert_eq!(persistence(&mut c, "loading"), "1");
    c
}

/// Wait for `child` to exit within `limit`; its exit code and standard error.
fn exits_within(mut child: Child, limit: Duration) -> (i32, String) {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return (st.code().unwrap_or(-1), err);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_and_shutdown_during_loading_exit_at_once_writing_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    build(&dir, 5_000);
    let before = contents(&dir);

    // 5000 keys at 10 ms each: loading would take the best part of a minute.
    let port = common::free_port();
    let child = spawn(&dir, port, "10000");
    let mut c = loading_client_when_up(port);
    assert_eq!(persistence(&mut c, "loading"), "1");
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (code, err) = exits_within(child, Duration::from_secs(3));
    assert_eq!(code, 0, "{err}");
    assert!(
        contents(&dir) == before,
        "SIGTERM during loading changed the directory"
    );

    let port = common::free_port();
    let child = spawn(&dir, port, "10000");
    let mut c = loading_client_when_up(port);
    let _ = run(&mut c, &["SHUTDOWN", "NOSAVE"]);
    let (code, err) = exits_within(child, Duration::from_secs(3));
    assert_eq!(code, 0, "{err}");
    assert!(
        contents(&dir) == before,
        "SHUTDOWN during loading changed the directory"
    );
}

/// [`loading_client`] once the server listens.
fn loading_client_when_up(port: u16) -> redis::Connection {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    loading_client(port)
}

/// A snapshot damaged in its middle is found while the server already serves: the process
/// still ends with the startup error naming the file and offset, and exit code 1.
#[test]
fn damaged_snapshot_found_while_serving_still_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    build(&dir, 5_000);
    let snap = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(".zst"))
        .expect("a snapshot");
    let mut bytes = std::fs::read(&snap).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snap, &bytes).expect("write");

    // Slow enough that the server is seen loading before it reaches the damage.
    let port = common::free_port();
    let child = spawn(&dir, port, "200");
    let mut c = loading_client_when_up(port);
    assert_eq!(
        code(run(&mut c, &["GET", "key:1"])).as_deref(),
        Some("LOADING")
    );
    let (code, err) = exits_within(child, Duration::from_secs(30));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is corrupt at offset"), "{err}");
    assert!(err.contains("strata fsck"), "{err}");
}
