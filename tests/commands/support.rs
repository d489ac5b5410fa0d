//! Support for the client-level command tests: `Srv`, a server under test that is
//! strata (an in-process `TestServer`) or, with `COMMANDS_AGAINST_REDIS=1`, a real
//! `redis-server` started on a free port with the same directives, so every expected
//! value in this suite can be re-checked against Redis 7.0.15; plus query helpers that
//! turn redis-rs results into the values and `CODE message` error texts asserted on.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::{Connection, FromRedisValue, RedisError, Value};

use crate::common::{free_port, RawClient, TestServer};
pub use crate::common::{info_field, wait_until};

/// True when the suite runs against a real `redis-server` (the oracle), not strata.
pub fn against_redis() -> bool {
    std::env::var("COMMANDS_AGAINST_REDIS").is_ok_and(|v| v == "1")
}

/// A real redis-server child process (oracle mode only).
struct RedisProc {
    child: Child,
    _tmp: tempfile::TempDir,
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server under test.
pub struct Srv {
    /// Where it listens.
    pub addr: SocketAddr,
    _strata: Option<TestServer>,
    redis: Option<RedisProc>,
}

impl Srv {
    /// A server with default configuration.
    pub fn new() -> Srv {
        Srv::start(&[])
    }

    /// A server with `directives` applied.
    pub fn start(directives: &[(&str, &str)]) -> Srv {
        if !against_redis() {
            let s = TestServer::start(directives);
            return Srv {
                addr: s.addr,
                _strata: Some(s),
                redis: None,
            };
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ])
            .arg("--dir")
            .arg(tmp.path());
        for (k, v) in directives {
            // A `user` line is several arguments (the name, then each rule).
            let words: Vec<&str> = if *k == "user" {
                v.split(' ').collect()
            } else {
                vec![v]
            };
            cmd.arg(format!("--{k}")).args(words);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let p = RedisProc { child, _tmp: tmp };
        let t0 = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(5), "redis-server start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Srv {
            addr,
            _strata: None,
            redis: Some(p),
        }
    }

    /// True for the real redis-server.
    pub fn is_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// A redis-rs client for `redis://addr/{suffix}` (suffix like `?protocol=resp3`).
    pub fn client(&self, suffix: &str) -> redis::Client {
        redis::Client::open(format!("redis://{}/{suffix}", self.addr)).expect("client")
    }

    /// A redis-rs client with a password in the URL.
    pub fn client_pw(&self, pw: &str, suffix: &str) -> redis::Client {
        redis::Client::open(format!("redis://:{pw}@{}/{suffix}", self.addr)).expect("client")
    }

    /// A fresh RESP2 redis-rs connection.
    pub fn redis(&self) -> Connection {
        connect(&self.client("")).expect("connect")
    }

    /// A fresh RESP3 redis-rs connection (`?protocol=resp3`: redis-rs sends HELLO 3).
    pub fn redis3(&self) -> Connection {
        connect(&self.client("?protocol=resp3")).expect("connect")
    }

    /// A raw RESP client.
    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.addr)
    }
}

/// How long a redis-rs call may wait for the server before the test fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect with redis-rs, failing (instead of hanging) when the server does not answer
/// the connection setup (redis-rs pipelines CLIENT SETINFO, AUTH/HELLO, SELECT and sets
/// no read timeout while waiting). The connection gets a read timeout too.
pub fn connect(client: &redis::Client) -> redis::RedisResult<Connection> {
    let client = client.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(client.get_connection_with_timeout(CLIENT_TIMEOUT));
    });
    let con = rx.recv_timeout(CLIENT_TIMEOUT).unwrap_or_else(|_| {
        panic!("redis-rs connection setup got no reply within {CLIENT_TIMEOUT:?}")
    })?;
    con.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    Ok(con)
}

/// Build a command from string arguments.
pub fn c(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd
}

/// Run a command and convert its reply; panics (with the error) on failure.
pub fn q<T: FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    match c(args).query::<T>(con) {
        Ok(v) => v,
        Err(e) => panic!("{args:?} failed: {e}"),
    }
}

/// Run a command and return the raw redis-rs value.
pub fn v(con: &mut Connection, args: &[&str]) -> Value {
    q(con, args)
}

/// Run a command that must reply +OK.
pub fn ok(con: &mut Connection, args: &[&str]) {
    assert_eq!(v(con, args), Value::Okay, "{args:?}");
}

/// Run a command that must fail; the error as `CODE message` (as the server sent it).
pub fn e(con: &mut Connection, args: &[&str]) -> String {
    err_text(&ee(con, args))
}

/// Run a command that must fail; the redis-rs error.
pub fn ee(con: &mut Connection, args: &[&str]) -> RedisError {
    match c(args).query::<Value>(con) {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => e,
    }
}

/// `CODE message` of a server error as redis-rs surfaces it (code() + detail()).
pub fn err_text(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(d)) => format!("{code} {d}"),
        (Some(code), None) => code.to_string(),
        _ => panic!("not a server error: {e:?}"),
    }
}

/// `ERR wrong number of arguments for '<cmd>' command`.
pub fn arity(cmd: &str) -> String {
    format!("ERR wrong number of arguments for '{cmd}' command")
}

/// The standard integer-parse error.
pub const NOT_INT: &str = "ERR value is not an integer or out of range";
/// The standard syntax error.
pub const SYNTAX: &str = "ERR syntax error";

/// Current UNIX time in seconds.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Current UNIX time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Assert `lo <= x <= hi`.
#[track_caller]
pub fn between(x: i64, lo: i64, hi: i64) {
    assert!(lo <= x && x <= hi, "{x} not in [{lo}, {hi}]");
}
