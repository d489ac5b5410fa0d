//! Test support shared by the integration tests: an in-process strata server on a free
//! port with its own runtime and temp dir (restartable on the same dir), a raw RESP client
//! that parses replies into comparable values, and the `redis-server` oracle for
//! differential tests (missing `redis-server` fails under CI=true, skips otherwise).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::config::Config;
use strata::persist::io::{RealFs, Vfs};
use strata::server::{self, Engine};

/// A strata server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    pub dir: PathBuf,
    rt: Option<tokio::runtime::Runtime>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Start on a fresh temp dir with `directives` (`name`, `value`) applied.
    pub fn start(directives: &[(&str, &str)]) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut s = Self::start_in(&dir, directives, Arc::new(RealFs));
        s._tmp = Some(tmp);
        s
    }

    /// Start on `dir` with a given VFS.
    pub fn start_in(dir: &Path, directives: &[(&str, &str)], vfs: Arc<dyn Vfs>) -> TestServer {
        Self::try_start_in(dir, directives, vfs).expect("server starts")
    }

    /// Start, returning the startup error instead of panicking.
    pub fn try_start_in(
        dir: &Path,
        directives: &[(&str, &str)],
        vfs: Arc<dyn Vfs>,
    ) -> Result<TestServer, String> {
        Self::launch(dir, directives, vfs, true)
    }

    /// Start on `dir` and return as soon as the server listens, while it may still be
    /// loading the dataset (clients get -LOADING until it is done).
    pub fn start_loading_in(dir: &Path, directives: &[(&str, &str)]) -> TestServer {
        Self::launch(dir, directives, Arc::new(RealFs), false).expect("server starts")
    }

    fn launch(
        dir: &Path,
        directives: &[(&str, &str)],
        vfs: Arc<dyn Vfs>,
        wait_loaded: bool,
    ) -> Result<TestServer, String> {
        let mut config = Config {
            port: 0,
            // (Loopback: the tests connect to the first address listened on.)
            bind: vec!["127.0.0.1".into()],
            dir: dir.to_path_buf(),
            ..Config::default()
        };
        // The tests use DEBUG (Redis's default refuses it).
        config
            .set("enable-debug-command", "yes", false)
            .expect("valid directive");
        for (k, v) in directives {
            config.set(k, v, false).expect("valid directive");
        }
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2).enable_all();
        server::arrival_order(&mut builder);
        let rt = builder.build().expect("runtime");
        let running = if wait_loaded {
            rt.block_on(server::start(config, vfs, None))
                .map_err(|e| e.to_string())?
        } else {
            // (The recovery goes on without its handle.)
            rt.block_on(server::start_serving(config, vfs, None))
                .map_err(|e| e.to_string())?
                .0
        };
        Ok(TestServer {
            addr: running.addrs[0],
            engine: running.engine,
            dir: dir.to_path_buf(),
            rt: Some(rt),
            _tmp: None,
        })
    }

    /// Stop cleanly, keep the temp dir, and start again on the same dir. (A task of the
    /// old runtime that outlived its 2 s shutdown on a loaded machine may still hold the
    /// directory's lock for a moment: the start is retried while the lock is held, up to
    /// 20 s, rather than failing on the first try.)
    pub fn restart(mut self, directives: &[(&str, &str)]) -> TestServer {
        let tmp = self._tmp.take();
        let dir = self.dir.clone();
        drop(self);
        let t0 = std::time::Instant::now();
        let mut s = loop {
            match Self::try_start_in(&dir, directives, Arc::new(RealFs)) {
                Ok(s) => break s,
                Err(e) if e.contains("locked") && t0.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("server starts: {e:?}"),
            }
        };
        s._tmp = tmp;
        s
    }

    /// Take ownership of the temp dir (so it outlives this server).
    pub fn take_tmp(&mut self) -> Option<tempfile::TempDir> {
        self._tmp.take()
    }

    /// A redis-rs connection.
    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr))
            .expect("client")
            .get_connection()
            .expect("connect")
    }

    /// A raw RESP client.
    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.engine.request_stop();
        self.engine.close();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        // A snapshot thread still ending holds the engine, and with it the whole
        // keyspace: wait for it (up to 10 s), so that the next test in this process does
        // not measure this server's memory as its own.
        let t0 = std::time::Instant::now();
        while Arc::strong_count(&self.engine) > 1 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A parsed reply, comparable across servers.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Simple(String),
    Err(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    /// RESP2 `*-1`, only from a [`RawClient::strict_nulls`] client (others read it as
    /// [`V::Nil`], like `$-1`).
    NilArr,
    Arr(Vec<V>),
    Map(Vec<(V, V)>),
    Set(Vec<V>),
    Double(String),
    Bool(bool),
    Verbatim(String),
    Push(Vec<V>),
    Big(String),
}

impl V {
    /// Text of a bulk or simple string.
    pub fn text(&self) -> String {
        match self {
            V::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            V::Simple(s) | V::Err(s) | V::Verbatim(s) | V::Double(s) => s.clone(),
            other => format!("{other:?}"),
        }
    }
    /// For differential comparison: errors compare by their first word only.
    pub fn normalized(&self) -> V {
        match self {
            V::Err(e) => V::Err(e.split_whitespace().next().unwrap_or("").to_string()),
            V::Arr(a) => V::Arr(a.iter().map(V::normalized).collect()),
            V::Set(a) => V::Set(a.iter().map(V::normalized).collect()),
            V::Push(a) => V::Push(a.iter().map(V::normalized).collect()),
            V::Map(m) => V::Map(
                m.iter()
                    .map(|(k, v)| (k.normalized(), v.normalized()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// A minimal blocking RESP2/RESP3 client that sends arbitrary bytes.
pub struct RawClient {
    r: BufReader<TcpStream>,
    w: TcpStream,
    /// Read RESP2 `*-1` as [`V::NilArr`] instead of [`V::Nil`].
    strict_nulls: bool,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        s.set_nodelay(true).ok();
        RawClient {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
            strict_nulls: false,
        }
    }

    /// Tell a null array (`*-1`) from a null bulk string (`$-1`): differential tests
    /// compare the two servers' RESP2 null kinds.
    pub fn strict_nulls(mut self) -> RawClient {
        self.strict_nulls = true;
        self
    }

    /// Send raw bytes.
    pub fn send_raw(&mut self, b: &[u8]) {
        self.w.write_all(b).expect("write");
    }

    /// Send raw bytes the server may stop reading (it closes the connection meanwhile).
    pub fn try_send_raw(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.w.write_all(b)
    }

    /// Encode and send one command.
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.send_raw(&out);
    }

    /// Send a command given as strings and read its reply.
    pub fn cmd(&mut self, args: &[&str]) -> V {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send(&a);
        self.read()
    }

    /// Send `n` commands made by `make(i)`, pipelined in batches of 256 built one at a time
    /// (a test's own allocations count in this process's `used_memory`), and pass every
    /// reply to `check`.
    pub fn pipeline(
        &mut self,
        n: usize,
        make: impl Fn(usize) -> Vec<String>,
        mut check: impl FnMut(V),
    ) {
        let mut i = 0;
        while i < n {
            let end = (i + 256).min(n);
            for j in i..end {
                let cmd = make(j);
                let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
                self.send(&a);
            }
            for _ in i..end {
                check(self.read());
            }
            i = end;
        }
    }

    /// Wait until the server reports `n` blocked clients (INFO clients).
    pub fn wait_blocked(&mut self, n: usize) {
        let t0 = Instant::now();
        loop {
            let info = self.cmd(&["INFO", "clients"]).text();
            if info.contains(&format!("blocked_clients:{n}\r")) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "never saw {n} blocked clients:\n{info}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// This connection's CLIENT ID.
    pub fn client_id(&mut self) -> i64 {
        match self.cmd(&["CLIENT", "ID"]) {
            V::Int(n) => n,
            other => panic!("CLIENT ID: {other:?}"),
        }
    }

    /// Read one reply.
    pub fn read(&mut self) -> V {
        self.try_read().expect("reply")
    }

    /// Read one reply; None on EOF.
    pub fn try_read(&mut self) -> Option<V> {
        let mut line = Vec::new();
        let n = self.r.read_until(b'\n', &mut line).ok()?;
        if n == 0 {
            return None;
        }
        if line.len() < 3 {
            panic!("bad reply line {:?}", String::from_utf8_lossy(&line));
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        Some(match line[0] {
            b'+' => V::Simple(body),
            b'-' => V::Err(body),
            b':' => V::Int(body.parse().expect("int")),
            b'$' => {
                let n: i64 = body.parse().expect("len");
                if n < 0 {
                    V::Nil
                } else {
                    V::Bulk(self.read_exact(n as usize))
                }
            }
            b'=' => {
                let n: usize = body.parse().expect("len");
                V::Verbatim(String::from_utf8_lossy(&self.read_exact(n)).into_owned())
            }
            b'*' | b'~' | b'>' => {
                let n: i64 = body.parse().expect("len");
                if n < 0 && self.strict_nulls {
                    V::NilArr
                } else if n < 0 {
                    V::Nil
                } else {
                    let items: Vec<V> = (0..n).map(|_| self.read()).collect();
                    match line[0] {
                        b'*' => V::Arr(items),
                        b'~' => V::Set(items),
                        _ => V::Push(items),
                    }
                }
            }
            b'%' => {
                let n: usize = body.parse().expect("len");
                V::Map((0..n).map(|_| (self.read(), self.read())).collect())
            }
            b'_' => V::Nil,
            b',' => V::Double(body),
            b'#' => V::Bool(body == "t"),
            b'(' => V::Big(body),
            other => panic!("unknown reply type {}", other as char),
        })
    }

    fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0; n + 2];
        self.r.read_exact(&mut b).expect("bulk");
        b.truncate(n);
        b
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    // Below Linux's ephemeral range (32768-60999): a port the kernel hands out for port 0
    // can be taken by another process's outgoing connection before the server binds it.
    // Each process walks 20000-31999 from its own offset; the bind checks it is free now.
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20000;
    const SPAN: u32 = 12000;
    let start = std::process::id().wrapping_mul(2654435761) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOW + (start + n) % SPAN).expect("below 32000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The `strata` binary as a child process on a free port, data in its own temp dir, with
/// `args` (directives) after `--port`/`--dir`/`--loglevel warning`; killed and reaped when
/// dropped, a failed assertion included (a server left spinning in a Lua loop would eat a
/// core).
pub struct ChildServer {
    /// Where it listens (127.0.0.1).
    pub port: u16,
    child: Child,
    tmp: Option<tempfile::TempDir>,
}

impl ChildServer {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn start(args: &[&str]) -> ChildServer {
        Self::start_in(tempfile::tempdir().expect("tmp"), args)
    }

    /// Start another server on this one's data directory (once this one has exited).
    pub fn restart(mut self, args: &[&str]) -> ChildServer {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let tmp = self.tmp.take().expect("the data directory");
        Self::start_in(tmp, args)
    }

    /// Start another server on this one's data directory and port (once this one has
    /// exited; killed if it has not): its replicas find it where it was.
    pub fn restart_same_port(mut self, args: &[&str]) -> ChildServer {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let tmp = self.tmp.take().expect("the data directory");
        Self::start_at(tmp, self.port, args)
    }

    /// Wait up to `within` for the process to exit; its status, or None if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return Some(st);
            }
            if t0.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn start_in(tmp: tempfile::TempDir, args: &[&str]) -> ChildServer {
        Self::start_at(tmp, free_port(), args)
    }

    fn start_at(tmp: tempfile::TempDir, port: u16, args: &[&str]) -> ChildServer {
        let child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["server", "--port", &port.to_string(), "--dir"])
            .arg(tmp.path().join("data"))
            .args(["--loglevel", "warning", "--enable-debug-command", "yes"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn strata");
        ChildServer {
            port,
            child,
            tmp: Some(tmp),
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP connection to 127.0.0.1:`port`, retried until the server listens (20 s), with a
/// 20 s read timeout.
pub fn tcp(port: u16) -> TcpStream {
    let t0 = Instant::now();
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The real redis-server, for differential tests.
pub struct Oracle {
    child: Child,
    pub addr: SocketAddr,
    _tmp: tempfile::TempDir,
}

/// True if a server at `addr` answers an inline PING with +PONG (errors are just false:
/// a server still starting may reset the connection).
fn pong(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Oracle {
    /// Start redis-server on a free port. Returns None (skip) when it is not installed,
    /// unless CI=true, where a missing redis-server fails the test.
    pub fn start() -> Option<Oracle> {
        Oracle::start_with(&[])
    }

    /// [`Oracle::start`] with more `redis-server` arguments (`--enable-debug-command yes`).
    pub fn start_with(extra: &[&str]) -> Option<Oracle> {
        let found = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok();
        if !found {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("redis-server is required for differential tests (CI=true)");
            }
            eprintln!("SKIPPED: redis-server not installed (differential test)");
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(tmp.path())
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            let mut child = child;
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                // Our redis-server exited (another process took the port first): next port.
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if pong(addr) {
                    return Some(Oracle {
                        child,
                        addr,
                        _tmp: tmp,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.addr)
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `field:value` line of an INFO text.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|s| s.trim().to_string())
}

/// Poll `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if f() {
            return true;
        }
        if t0.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
