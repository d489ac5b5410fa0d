//! The `strata` binary's offline commands, run as a real process: `fsck` on a clean
//! directory (exit 0), a torn tail (exit 1; `--repair` cuts it and keeps the bytes),
//! and damage in a non-last segment (exit 2, naming file and offset); `server --help`
//! lists the directives; a bad directive is a startup error; `server` logs as Redis does
//! (standard output or `logfile`, the `PID:` and `Ready to accept connections` lines);
//! `oom-score-adj` sets the process's OOM score.

mod common;

use std::process::Command;

fn strata(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// A `strata server CONF` process, killed when dropped (a failing test leaves none behind).
struct Server(std::process::Child);

impl Server {
    fn start(conf: &std::path::Path) -> Server {
        Server(
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .arg("server")
                .arg(conf)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn strata"),
        )
    }
}

/// A server from a config file of `lines` (plus its port, dir and `loglevel warning`) in a
/// fresh temp dir, and a connection to it once it has loaded; the config file's path.
fn server_with_conf(
    lines: &str,
) -> (
    Server,
    redis::Connection,
    u16,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let port = common::free_port();
    let tmp = tempfile::tempdir().expect("tmp");
    let conf = tmp.path().join("strata.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\ndir {}\nloglevel warning\n{lines}",
            tmp.path().join("data").display()
        ),
    )
    .expect("write conf");
    let server = Server::start(&conf);
    let c = ready(port);
    (server, c, port, conf, tmp)
}

/// A connection to the server on `port` once it listens and has loaded (-LOADING before).
fn ready(port: u16) -> redis::Connection {
    drop(common::tcp(port));
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect");
    for _ in 0..1000 {
        if redis::cmd("PING").query::<String>(&mut c).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    c
}

/// CONFIG GET of one directive: its value.
fn config_get(c: &mut redis::Connection, name: &str) -> String {
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query(c)
        .expect("config get");
    assert_eq!(v.len(), 2, "{name}: {v:?}");
    v[1].clone()
}

/// CONFIG SET of one directive.
fn config_set(c: &mut redis::Connection, name: &str, value: &str) -> redis::RedisResult<()> {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(c)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn fsck_exit_codes_and_repair() {
    let mut s = common::TestServer::start(&[("segment-size", "4096")]);
    let tmp = s.take_tmp().expect("tmp");
    let big = "v".repeat(300);
    for i in 0..40 {
        s.raw().cmd(&["SET", &format!("k{i}"), &big]);
    }
    let dir = s.dir.clone();
    drop(s);
    let d = dir.to_str().expect("utf8");
    let (code, out) = strata(&["fsck", "--dir", d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("clean"), "{out}");

    // Torn tail in the last segment: exit 1, repair cuts it, then clean.
    let segs = segments(&dir);
    assert!(segs.len() >= 3);
    let last = segs.last().expect("last");
    let len = std::fs::metadata(last).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .expect("open")
        .set_len(len - 5)
        .expect("truncate");
    let (code, out) = strata(&["fsck", "--dir", d, "--json"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"status\":\"torn_tail\""), "{out}");
    let (code, out) = strata(&["fsck", "--dir", d, "--repair"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("repaired"), "{out}");
    let (code, out) = strata(&["fsck", "--dir", d]);
    assert_eq!(code, 0, "{out}");
    let side = std::fs::read_dir(&dir)
        .expect("dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().contains(".torn-"))
        })
        .count();
    assert_eq!(side, 1);

    // A flipped payload byte in the first segment: exit 2 with file and offset.
    let first = &segs[0];
    let mut bytes = std::fs::read(first).expect("read");
    bytes[100] ^= 0xff;
    std::fs::write(first, &bytes).expect("write");
    let (code, out) = strata(&["fsck", "--dir", d]);
    assert_eq!(code, 2, "{out}");
    let name = first
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(out.contains(&name) && out.contains("offset"), "{out}");
    drop(tmp);
}

#[test]
fn server_help_and_bad_directives() {
    let (code, out) = strata(&["server", "--help"]);
    assert_eq!(code, 0);
    for d in [
        "appendfsync",
        "requirepass",
        "proto-max-bulk-len",
        "segment-size",
        "client-query-buffer-limit",
    ] {
        assert!(out.contains(d), "--help lacks {d}");
    }
    let (code, out) = strata(&["server", "--no-such-directive", "1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no-such-directive"), "{out}");
    let (code, out) = strata(&["server", "--appendfsync", "sometimes"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("appendfsync"), "{out}");
    // `redis-server --version` / `-v`: one line, Redis's version after `v=`.
    for flag in ["--version", "-v"] {
        let (code, out) = strata(&["server", flag]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(" v=7.0.15 "), "{out}");
    }
}

/// `strata server -` reads configuration from standard input, as `redis-server -`
/// does (after the file, before the options).
#[test]
fn server_reads_configuration_from_standard_input() {
    use std::io::Write;
    let tmp = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    let mut child = Server(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["server", "-", "--hz", "33"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndir {}\nhz 20\nmaxmemory 1mb\n",
        tmp.path().display()
    );
    let mut stdin = child.0.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).expect("write");
    drop(stdin);
    let mut c = ready(port);
    assert_eq!(config_get(&mut c, "maxmemory"), "1048576");
    assert_eq!(
        config_get(&mut c, "hz"),
        "33",
        "the options come after standard input"
    );
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert!(child.0.wait().expect("wait").success());
}

/// `strata compact` refuses while a server holds the directory, then snapshots it offline
/// and retires the covered segments; the server serves the same keys from snapshot + log;
/// `fsck` checks the snapshot (clean, then exit 2 naming it when a byte inside changes).
#[test]
fn compact_offline_and_fsck_of_a_snapshot() {
    let mut s = common::TestServer::start(&[("segment-size", "4096")]);
    let tmp = s.take_tmp().expect("tmp");
    let big = "v".repeat(300);
    for i in 0..60 {
        s.raw().cmd(&["SET", &format!("k{i}"), &big]);
    }
    s.raw().cmd(&["RPUSH", "list", "a", "b", "c"]);
    let dir = s.dir.clone();
    let d = dir.to_str().expect("utf8").to_string();
    let (code, out) = strata(&["compact", "--dir", &d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("locked"), "{out}");
    drop(s);
    let before = segments(&dir).len();
    let (code, out) = strata(&["compact", "--dir", &d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("61 key(s)"), "{out}");
    assert!(segments(&dir).len() < before, "{out}");
    let (code, out) = strata(&["fsck", "--dir", &d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("snapshot") && out.contains("61 keys"), "{out}");
    let s =
        common::TestServer::start_in(&dir, &[], std::sync::Arc::new(strata::persist::io::RealFs));
    let mut c = s.raw();
    assert_eq!(c.cmd(&["DBSIZE"]), common::V::Int(61));
    assert_eq!(
        c.cmd(&["GET", "k59"]),
        common::V::Bulk(big.clone().into_bytes())
    );
    drop(c);
    drop(s);
    let snap = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("snap-"))
        })
        .expect("snapshot file");
    let mut bytes = std::fs::read(&snap).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&snap, &bytes).expect("write");
    let (code, out) = strata(&["fsck", "--dir", &d]);
    assert_eq!(code, 2, "{out}");
    let name = snap
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(out.contains(&name), "{out}");
    drop(tmp);
}

/// Starts `strata server <config file>` as Redis's test suite starts a server (its
/// default.conf: `always-show-logo yes`, `logfile ''`, `loglevel verbose`) with `port`
/// and the `extra` lines, standard output piped.
fn spawn_with_conf(port: u16, extra: &str) -> (std::process::Child, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tmp");
    let conf = tmp.path().join("test.conf");
    std::fs::write(
        &conf,
        format!(
            "always-show-logo yes\nport {port}\nbind 127.0.0.1\nloglevel verbose\n\
             logfile ''\ndir {}\n{extra}",
            tmp.path().join("data").display()
        ),
    )
    .expect("write conf");
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("server")
        .arg(&conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn strata");
    (child, tmp)
}

/// Redis logs to standard output when `logfile` is empty, and a server it starts is found
/// by the logo's `PID: <pid>` and then `Ready to accept connections` (Redis's test suite
/// waits for both); a named `logfile` gets the log instead; a port in use is reported as
/// Redis does ("Failed listening on port N", which the suite looks for to retry).
#[test]
fn server_logs_pid_and_ready_like_redis() {
    use std::io::BufRead;
    let port = common::free_port();
    let sdir = tempfile::tempdir().expect("tmp");
    let sock = sdir.path().join("socket");
    let (mut child, _tmp) = spawn_with_conf(
        port,
        &format!("unixsocket {}\nunixsocketperm 700\n", sock.display()),
    );
    let pid = child.id();
    let mut out = String::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("line");
        out.push_str(&line);
        out.push('\n');
        if line.contains("Ready to accept connections") {
            break;
        }
    }
    assert!(out.contains(&format!(" PID: {pid}")), "{out}");
    assert!(out.contains("Ready to accept connections"), "{out}");
    // `unixsocket` (Redis's test suite gives every server one): served too, mode 700,
    // and CLIENT LIST shows `<path>:0` as Redis does.
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let mut u = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    u.write_all(b"PING\r\nCLIENT INFO\r\n").expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("laddr=") {
        let n = u.read(&mut buf).expect("read");
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("+PONG\r\n"), "{got}");
    assert!(
        got.contains(&format!("addr={}:0 ", sock.display())),
        "{got}"
    );

    // The port is taken now.
    let (second, _tmp2) = spawn_with_conf(port, "");
    let o = second.wait_with_output().expect("wait");
    assert!(!o.status.success());
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains(&format!("Failed listening on port {port} (tcp)")),
        "{text}"
    );
    let _ = child.kill();
    let _ = child.wait();

    let tmp = tempfile::tempdir().expect("tmp");
    let log = tmp.path().join("strata.log");
    let (mut child, _tmp3) =
        spawn_with_conf(common::free_port(), &format!("logfile {}\n", log.display()));
    let t0 = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Ready to accept connections") || t0.elapsed().as_secs() > 20 {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let pid = child.id();
    let _ = child.kill();
    let o = child.wait_with_output().expect("wait");
    assert!(text.contains(&format!(" PID: {pid}")), "{text}");
    assert!(text.contains("Ready to accept connections"), "{text}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// `daemonize yes` as Redis: the command returns at once with status 0 while the server
/// runs on in the background, in a session of its own, its pid in `pidfile`; the file is
/// removed when the server exits (SHUTDOWN). A server in the foreground writes a named
/// `pidfile` too.
#[test]
#[cfg(target_os = "linux")]
fn daemonize_forks_and_keeps_a_pid_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    let pidfile = tmp.path().join("strata.pid");
    let data = tmp.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["server", "--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", &data.to_string_lossy(), "--daemonize", "yes"])
        .args(["--pidfile", &pidfile.to_string_lossy()])
        .output()
        .expect("run strata");
    assert!(out.status.success(), "{out:?}");
    let mut c = ready(port);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut c)
        .expect("info");
    assert!(info.contains(&format!("process_id:{pid}\r\n")), "{info}");
    // A session of its own (field 6 of /proc/PID/stat, after the command's parenthesis).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rsplit_once(") ").expect("stat fields").1;
    let session: i32 = after
        .split(' ')
        .nth(3)
        .expect("session")
        .parse()
        .expect("sid");
    assert_eq!(session, pid, "a session of its own: {stat}");
    assert_eq!(config_get(&mut c, "daemonize"), "yes");
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    let t0 = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && t0.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!pidfile.exists(), "the pid file is removed at exit");

    // In the foreground, with a pid file: the child's own pid.
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["server", "--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", &data.to_string_lossy()])
        .args(["--pidfile", &pidfile.to_string_lossy()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut c = ready(port);
    let written = std::fs::read_to_string(&pidfile).expect("pid file");
    assert_eq!(written.trim(), child.id().to_string());
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert!(child.wait().expect("wait").success());
    assert!(!pidfile.exists());
}

/// The server works in its data directory, as Redis does: with a relative `dir`, a
/// relative `logfile` and `pidfile` land inside it, CONFIG GET dir is absolute, and
/// CONFIG REWRITE still writes the configuration file named relative to where the server
/// was started.
#[test]
fn relative_paths_are_inside_the_data_directory() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    std::fs::write(
        tmp.path().join("strata.conf"),
        format!("port {port}\nbind 127.0.0.1\ndir data\nlogfile s.log\npidfile s.pid\n"),
    )
    .expect("conf");
    let _child = Server(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["server", "strata.conf"])
            .current_dir(tmp.path())
            .spawn()
            .expect("spawn"),
    );
    let mut c = ready(port);
    let data = std::fs::canonicalize(tmp.path().join("data")).expect("data dir");
    assert_eq!(config_get(&mut c, "dir"), data.display().to_string());
    assert!(
        data.join("s.log").exists(),
        "the log file is in the data directory"
    );
    assert!(
        data.join("s.pid").exists(),
        "the pid file is in the data directory"
    );
    config_set(&mut c, "hz", "42").expect("config set");
    let _: () = redis::cmd("CONFIG")
        .arg("REWRITE")
        .query(&mut c)
        .expect("config rewrite");
    let conf = std::fs::read_to_string(tmp.path().join("strata.conf")).expect("conf");
    assert!(conf.contains("hz 42"), "{conf}");
    assert!(!data.join("strata.conf").exists());
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
}

/// `supervised systemd`, as Redis: a `Type=notify` unit is told on `NOTIFY_SOCKET` when the
/// server is ready (a status line, then `READY=1`) and when it begins to stop.
#[test]
fn supervised_systemd_notifies_ready_and_stopping() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    let port = common::free_port();
    let _child = Server(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["server", "--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &tmp.path().join("data").to_string_lossy()])
            .args(["--supervised", "systemd"])
            .env("NOTIFY_SOCKET", &path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let next = || {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "STATUS=Ready to accept connections\n");
    assert_eq!(next(), "READY=1\n");
    let mut c = ready(port);
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert_eq!(next(), "STOPPING=1\n");
}

/// Called by the name `redis-server` (a symbolic link), the binary is `strata server`:
/// `redis-server --version`, `redis-server --port N …` work as with Redis.
#[test]
fn called_redis_server_it_is_the_server() {
    let tmp = tempfile::tempdir().expect("tmp");
    let link = tmp.path().join("redis-server");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_strata"), &link).expect("symlink");
    let out = Command::new(&link).arg("--version").output().expect("run");
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" v=7.0.15 "),
        "{out:?}"
    );
    let port = common::free_port();
    let _child = Server(
        Command::new(&link)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &tmp.path().join("data").to_string_lossy()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let mut c = ready(port);
    let pong: String = redis::cmd("PING").query(&mut c).expect("ping");
    assert_eq!(pong, "PONG");
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
}

/// The log file is opened for each line, as Redis opens it: after a rotation by renaming
/// (Debian's logrotate rule for redis-server) the next line starts a new file.
#[test]
fn a_log_file_rotated_by_renaming_is_started_again() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = tmp.path().join("strata.log");
    let port = common::free_port();
    let _child = Server(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["server", "--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &tmp.path().join("data").to_string_lossy()])
            .args(["--logfile", &log.to_string_lossy()])
            .args(["--enable-debug-command", "yes"])
            .spawn()
            .expect("spawn"),
    );
    let mut c = ready(port);
    let _: () = redis::cmd("DEBUG")
        .arg("LOG")
        .arg("before-rotation")
        .query(&mut c)
        .expect("debug log");
    let rotated = tmp.path().join("strata.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    let _: () = redis::cmd("DEBUG")
        .arg("LOG")
        .arg("after-rotation")
        .query(&mut c)
        .expect("debug log");
    let new = std::fs::read_to_string(&log).expect("a new log file");
    let old = std::fs::read_to_string(&rotated).expect("the rotated file");
    assert!(
        new.contains("after-rotation") && !new.contains("before-rotation"),
        "{new}"
    );
    assert!(
        old.contains("before-rotation") && !old.contains("after-rotation"),
        "{old}"
    );
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
}

/// SIGHUP is ignored, as by Redis: the server answers after it (the default action of the
/// signal ends a process).
#[test]
#[cfg(target_os = "linux")]
fn sighup_leaves_the_server_running() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    let mut child = Server(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["server", "--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &tmp.path().to_string_lossy()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let mut c = ready(port);
    let hup = Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "the server exited"
    );
    let pong: String = redis::cmd("PING").query(&mut c).expect("ping after SIGHUP");
    assert_eq!(pong, "PONG");
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert!(child.0.wait().expect("wait").success());
}

/// `maxclients` and the open-files limit, as Redis 7.0: a soft limit below maxclients + 32
/// is raised (soft and hard together) when the hard limit allows it; a hard limit that
/// does not lowers maxclients to what fits, and CONFIG SET maxclients past that is refused
/// with Redis's words.
#[test]
#[cfg(target_os = "linux")]
fn maxclients_follows_the_open_files_limit() {
    let bin = env!("CARGO_BIN_EXE_strata");
    let start = |ulimit: &str, extra: &str| {
        let tmp = tempfile::tempdir().expect("tmp");
        let port = common::free_port();
        let script = format!(
            "ulimit {ulimit} && exec \"$0\" server --port {port} --bind 127.0.0.1 --dir {} {extra}",
            tmp.path().display()
        );
        let child = Command::new("sh")
            .args(["-c", &script, bin])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // (Killed when dropped, a failed assertion included.)
        (Server(child), ready(port), tmp)
    };
    let get = |c: &mut redis::Connection| config_get(c, "maxclients");
    let nofile = |pid: u32| -> String {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .expect("open files line")
            .to_string();
        line.split_whitespace()
            .skip(3)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };

    // A hard limit of 256: 224 clients fit.
    let (child, mut c, _t) = start("-n 256", "");
    assert_eq!(get(&mut c), "224");
    let e = config_set(&mut c, "maxclients", "1000").unwrap_err();
    assert!(
        e.to_string().contains(
            "The operating system is not able to handle the specified number of clients, try with 224"
        ),
        "{e}"
    );
    assert_eq!(get(&mut c), "224");
    config_set(&mut c, "maxclients", "100").expect("lowering is fine");
    assert_eq!(get(&mut c), "100");
    drop(child);

    // A soft limit of 256 under a higher hard one: raised to 300 + 32.
    let hard = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .expect("ulimit");
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
    if hard == "unlimited" || hard.parse::<u64>().is_ok_and(|h| h >= 332) {
        let (child, mut c, _t) = start("-Sn 256", "--maxclients 300");
        assert_eq!(get(&mut c), "300");
        assert_eq!(nofile(child.0.id()), "332 332");
    }
}

/// The TCP ports process `pid` listens on (its socket inodes in /proc/net/tcp{,6}).
#[cfg(target_os = "linux")]
fn tcp_listening(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Fields: local address (hex ip:port), state (0A = LISTEN), inode.
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let port = f[1].rsplit(':').next().expect("port");
                ports.push(u16::from_str_radix(port, 16).expect("hex port"));
            }
        }
    }
    ports
}

/// Redis's `port 0` with a `unixsocket`: no TCP listener at all (CONFIG GET port and INFO
/// say 0), the server is reached by its socket; CONFIG SET port N listens on N, and
/// CONFIG SET port 0 closes it again. (Without a `unixsocket` strata takes port 0 as any
/// free port, where Redis would refuse to start.)
#[test]
#[cfg(target_os = "linux")]
fn port_zero_with_a_unix_socket_listens_on_no_tcp_port() {
    use std::io::BufRead;
    let sdir = tempfile::tempdir().expect("tmp");
    let sock = sdir.path().join("socket");
    let (mut child, _tmp) = spawn_with_conf(0, &format!("unixsocket {}\n", sock.display()));
    let pid = child.id();
    for line in std::io::BufReader::new(child.stdout.take().expect("stdout")).lines() {
        if line.expect("line").contains("Ready to accept connections") {
            break;
        }
    }
    let client = redis::Client::open(format!("redis+unix://{}", sock.display())).expect("url");
    let mut c = client.get_connection().expect("connect");
    assert_eq!(tcp_listening(pid), Vec::<u16>::new());
    assert_eq!(config_get(&mut c, "port"), "0");
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut c)
        .expect("info");
    assert!(info.contains("tcp_port:0\r\n"), "{info}");

    let free = common::free_port();
    config_set(&mut c, "port", &free.to_string()).expect("config set port");
    assert_eq!(tcp_listening(pid), vec![free]);
    config_set(&mut c, "port", "0").expect("config set port 0");
    // (An accept loop ends once told; give it a moment.)
    let t0 = std::time::Instant::now();
    while !tcp_listening(pid).is_empty() && t0.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(tcp_listening(pid), Vec::<u16>::new());
    let pong: String = redis::cmd("PING").query(&mut c).expect("ping");
    assert_eq!(pong, "PONG");
    let _ = child.kill();
    let _ = child.wait();
}

/// `oom-score-adj` as Redis 7.0 applies it to the process (its unit/oom-score-adj): yes /
/// relative adds the first oom-score-adj-values to the score the process had, absolute
/// sets it, back to no restores the original; values outside [-2000, 2000] are refused.
#[test]
#[cfg(target_os = "linux")]
fn oom_score_adj_sets_the_process_score() {
    let s = common::ChildServer::start(&[]);
    let path = format!("/proc/{}/oom_score_adj", s.pid());
    let score = || -> i64 {
        std::fs::read_to_string(&path)
            .expect("read")
            .trim()
            .parse()
            .expect("number")
    };
    drop(common::tcp(s.port)); // started
    let mut c = common::RawClient::connect(format!("127.0.0.1:{}", s.port).parse().expect("addr"));
    let base = score();
    let ok = common::V::Simple("OK".into());
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "oom-score-adj-values",
            "9 9 9",
            "oom-score-adj",
            "yes"
        ]),
        ok
    );
    assert_eq!(score(), base + 9);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "oom-score-adj-values", "15 20 30"]),
        ok
    );
    assert_eq!(score(), base + 15);
    assert_eq!(c.cmd(&["CONFIG", "SET", "oom-score-adj", "absolute"]), ok);
    assert_eq!(score(), 15);
    assert_eq!(c.cmd(&["CONFIG", "SET", "oom-score-adj", "no"]), ok);
    assert_eq!(score(), base);
    // Disabled, the values do not touch the process.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "oom-score-adj-values", "1 2 3"]),
        ok
    );
    assert_eq!(score(), base);
    for v in ["-2001 -2001 -2001", "2001 2001 2001"] {
        let r = c.cmd(&["CONFIG", "SET", "oom-score-adj-values", v]);
        assert!(
            matches!(&r, common::V::Err(e) if e.contains("must be between -2000 and 2000")),
            "{r:?}"
        );
    }
}

/// `rename-command` in redis.conf (and on the command line), as hardened deployments use
/// it: the old name is unknown to clients, MULTI (EXECABORT) and scripts; the new one runs
/// the command, which keeps its own name in COMMAND INFO (by the new name), INFO
/// commandstats and the log; `""` removes a command; CONFIG REWRITE keeps the lines, so a
/// restart has the same names; a bad line stops the start with Redis's reason. (Replies
/// checked against redis-server 7.0.15 with the same lines.)
#[test]
fn rename_command_like_redis() {
    use redis::Value as V;
    let (code, out) = strata(&["server", "--rename-command", "nosuch", "x"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("No such command in rename-command"), "{out}");
    let (code, out) = strata(&["server", "--rename-command", "get", "set"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Target command name already exists"), "{out}");

    let (server, mut c, port, conf, _tmp) =
        server_with_conf("rename-command flushdb badger\nrename-command flushall \"\"\n");
    let unknown = |c: &mut redis::Connection, name: &str| {
        let e = redis::cmd(name).query::<V>(c).expect_err(name);
        assert!(
            e.to_string().contains(&format!("unknown command '{name}'")),
            "{name}: {e}"
        );
    };
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut c)
        .expect("set");
    unknown(&mut c, "flushdb");
    unknown(&mut c, "FLUSHALL");
    let _: () = redis::cmd("BADGER").query(&mut c).expect("badger");
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, 0);

    // MULTI: queued by its new name, runs; the old name dooms the transaction.
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut c)
        .expect("set");
    let r: V = redis::pipe()
        .atomic()
        .cmd("BADGER")
        .cmd("GET")
        .arg("k")
        .query(&mut c)
        .expect("exec");
    assert_eq!(r, V::Array(vec![V::Okay, V::Nil]));
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut c)
        .expect("set");
    let _: () = redis::cmd("MULTI").query(&mut c).expect("multi");
    unknown(&mut c, "FLUSHDB");
    let e = redis::cmd("EXEC")
        .query::<V>(&mut c)
        .expect_err("EXECABORT");
    assert!(e.to_string().contains("Transaction discarded"), "{e}");
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, 1);

    // Scripts call it by its new name too.
    let eval =
        |c: &mut redis::Connection, body: &str| redis::cmd("EVAL").arg(body).arg(0).query::<V>(c);
    assert_eq!(
        eval(&mut c, "return redis.call('badger')").expect("eval"),
        V::Okay
    );
    let e = eval(&mut c, "return redis.call('flushdb')").expect_err("old name");
    assert!(
        e.to_string()
            .contains("Unknown Redis command called from script"),
        "{e}"
    );

    // COMMAND INFO knows it by the new name, under its own; its stats keep its own name.
    let info: V = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("badger")
        .arg("flushdb")
        .query(&mut c)
        .expect("command info");
    let V::Array(entries) = info else {
        panic!("{info:?}")
    };
    assert_eq!(entries.len(), 2);
    let V::Array(first) = &entries[0] else {
        panic!("{entries:?}")
    };
    assert_eq!(first[0], V::BulkString(b"flushdb".to_vec()));
    assert_eq!(entries[1], V::Nil);
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .expect("info");
    assert!(stats.contains("cmdstat_flushdb:calls=3,"), "{stats}");

    // CONFIG REWRITE keeps the lines: the restarted server has the same names.
    let _: () = redis::cmd("CONFIG")
        .arg("REWRITE")
        .query(&mut c)
        .expect("rewrite");
    let text = std::fs::read_to_string(&conf).expect("conf");
    assert!(text.contains("rename-command flushdb badger"), "{text}");
    drop((c, server));
    let _server = Server::start(&conf);
    let mut c = ready(port);
    unknown(&mut c, "flushdb");
    unknown(&mut c, "flushall");
    let _: () = redis::cmd("BADGER")
        .query(&mut c)
        .expect("badger after restart");
}

/// `rename-command` reaches every path a client's command takes: a blocking command that
/// runs a renamed command for itself (BLPOP's pop, with LPOP removed and RPOP renamed to
/// LPOP) still pops from the left; parked commands called by new names are served (BLPOP
/// re-runs under its own name, XREAD too); CLIENT PAUSE WRITE holds a renamed write; and
/// while a script is busy, a removed SHUTDOWN is an unknown command, not a way out.
#[test]
fn rename_command_reaches_blocking_pause_and_busy_paths() {
    use redis::Value as V;
    use std::time::{Duration, Instant};
    let (_server, mut c, port, _conf, _tmp) = server_with_conf(
        "busy-reply-threshold 100\nrename-command lpop \"\"\nrename-command rpop lpop\n\
         rename-command blpop bpop\nrename-command xread xr\n\
         rename-command flushdb badger\nrename-command shutdown \"\"\n",
    );
    let connect = move || {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .expect("client")
            .get_connection()
            .expect("connect")
    };
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .expect("rpush");
    let got: Vec<String> = redis::cmd("BPOP")
        .arg("l")
        .arg(0)
        .query(&mut c)
        .expect("bpop");
    assert_eq!(got, ["l", "a"], "BLPOP pops from the left");
    let got: String = redis::cmd("LPOP")
        .arg("l")
        .query(&mut c)
        .expect("renamed rpop");
    assert_eq!(got, "b");

    // Parked by their new names, served once the data comes.
    let parked = std::thread::spawn(move || {
        let mut p = connect();
        let l: V = redis::cmd("BPOP")
            .arg("l2")
            .arg(10)
            .query(&mut p)
            .expect("bpop");
        let x: V = redis::cmd("XR")
            .arg("BLOCK")
            .arg(10000)
            .arg("STREAMS")
            .arg("s")
            .arg("$")
            .query(&mut p)
            .expect("xr");
        (l, x)
    });
    let wait_blocked = |c: &mut redis::Connection| {
        for _ in 0..500 {
            let info: String = redis::cmd("INFO").arg("clients").query(c).expect("info");
            if info.contains("blocked_clients:1\r\n") {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the client did not park");
    };
    wait_blocked(&mut c);
    let _: () = redis::cmd("RPUSH")
        .arg("l2")
        .arg("x")
        .query(&mut c)
        .expect("rpush");
    wait_blocked(&mut c);
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .expect("xadd");
    let (l, x) = parked.join().expect("parked client");
    assert_eq!(
        l,
        V::Array(vec![
            V::BulkString(b"l2".to_vec()),
            V::BulkString(b"x".to_vec())
        ])
    );
    assert!(matches!(x, V::Array(ref v) if v.len() == 1), "{x:?}");

    // CLIENT PAUSE WRITE holds a write called by its new name.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(300)
        .arg("WRITE")
        .query(&mut c)
        .expect("pause");
    let t0 = Instant::now();
    let _: () = redis::cmd("BADGER").query(&mut c).expect("badger");
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );

    // A busy script: the removed SHUTDOWN is unknown; SCRIPT KILL ends the script.
    let busy = std::thread::spawn(move || {
        let mut b = connect();
        redis::cmd("EVAL")
            .arg("local i = 0 while true do i = i + 1 end")
            .arg(0)
            .query::<V>(&mut b)
    });
    let mut d = connect();
    let t0 = Instant::now();
    loop {
        match redis::cmd("PING").query::<String>(&mut d) {
            Err(e) if e.to_string().contains("BUSY") => break,
            _ if t0.elapsed() > Duration::from_secs(10) => panic!("the script never got busy"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let e = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query::<V>(&mut d)
        .expect_err("removed");
    assert!(e.to_string().contains("unknown command 'SHUTDOWN'"), "{e}");
    let _: () = redis::cmd("SCRIPT")
        .arg("KILL")
        .query(&mut d)
        .expect("script kill");
    assert!(busy.join().expect("busy thread").is_err());
    let pong: String = redis::cmd("PING").query(&mut d).expect("alive");
    assert_eq!(pong, "PONG");
}
