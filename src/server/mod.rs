//! The network server: bind, accept with a connection limit, one task per connection,
//! background jobs (active expiry), and graceful shutdown that leaves the log durable.
//! As Redis, it listens before it loads the dataset: startup recovery runs on a thread of
//! its own while clients are served (-LOADING for what needs the data).

pub mod conn;
pub mod doorbell;
pub mod engine;
pub mod fdlimit;
pub mod oom;
pub mod replica;
pub mod resync;
pub mod snapshot;
pub mod supervisor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener};

pub use engine::{Engine, OpenError, Recovery};

use crate::config::Config;
use crate::persist::io::{RealFs, Vfs};

/// A running server.
pub struct Running {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Bound addresses.
    pub addrs: Vec<SocketAddr>,
}

/// Startup errors.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Recovery failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Could not bind. The message starts as Redis's does ("Failed listening on port N
    /// (tcp), aborting."), which test harnesses look for to retry on another port.
    #[error(
        "Failed listening on port {} (tcp), aborting: cannot listen on {addr}: {source}",
        port_of(addr)
    )]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Could not listen on the `unixsocket` path (Redis's words first).
    #[error("Failed opening Unix socket: {path}: {source}")]
    Unix {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The port part of a `host:port` listen address (for the bind error message).
fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or(addr)
}

/// The TCP listeners of a running server. CONFIG SET bind / port changes them as Redis's
/// `changeBindAddr` / `changeListenPort` do, all or nothing: the addresses kept keep their
/// listening sockets, the new ones are bound first, and only if every one succeeds do the
/// accept loops of the dropped ones stop (their sockets close); connections already
/// accepted stay.
pub struct Listeners {
    engine: std::sync::Weak<Engine>,
    live: Arc<AtomicUsize>,
    runtime: tokio::runtime::Handle,
    /// The address each accept loop listens on, and the signal that ends it.
    serving: parking_lot::Mutex<Vec<(String, Arc<tokio::sync::Notify>)>>,
    /// A `unixsocket` is served: `port 0` then means no TCP listener, as in Redis (see
    /// [`tcp_port_wanted`]).
    unix: bool,
}

/// Whether `port` asks for TCP listeners. Redis's `port 0` listens on no TCP port (a server
/// reached by its `unixsocket` only; Redis refuses to start with neither). Without a
/// `unixsocket`, strata takes `port 0` as "any free port" instead (reported by CONFIG GET
/// port and INFO), which is how a test or a tool starts a server on a port of its own.
fn tcp_port_wanted(port: u16, unix: bool) -> bool {
    port != 0 || !unix
}

/// The socket address of one `bind` entry (Redis's syntax: `*` = every IPv4 address,
/// `::*` = every IPv6 one; a leading `-` marks it optional), and whether it is optional.
fn listen_addr(host: &str, port: u16) -> (String, bool) {
    let optional = host.starts_with('-');
    let host = match host.trim_start_matches('-') {
        "*" => "0.0.0.0",
        "::*" => "::",
        h => h,
    };
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    (addr, optional)
}

/// Bind `addrs` (an optional one that cannot be bound is skipped).
fn bind_all(
    addrs: &[(String, bool)],
) -> Result<Vec<(String, std::net::TcpListener)>, (String, std::io::Error)> {
    let mut out: Vec<(String, std::net::TcpListener)> = Vec::new();
    for (addr, optional) in addrs {
        // `port 0` (a free port): every address gets the one the first was given.
        let picked = out.first().and_then(|(_, l)| l.local_addr().ok());
        let addr = match (addr.strip_suffix(":0"), picked) {
            (Some(host), Some(p)) => format!("{host}:{}", p.port()),
            _ => addr.clone(),
        };
        let addr = &addr;
        let bound = tcp_listener(addr).and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        });
        match bound {
            Ok(l) => out.push((addr.clone(), l)),
            Err(_) if *optional => {}
            Err(e) => return Err((addr.clone(), e)),
        }
    }
    Ok(out)
}

/// A TCP listener on `addr`, with Redis's default backlog (`tcp-backlog 511`). An IPv6 one
/// takes IPv6 only (as Redis sets `IPV6_V6ONLY`), so `* -::*` listens on both families: a
/// dual-stack `[::]` would collide with `0.0.0.0`.
fn tcp_listener(addr: &str) -> std::io::Result<std::net::TcpListener> {
    // (A host name: each address it resolves to in turn, as std's bind tries them.)
    let mut last = std::io::Error::other("no address");
    for sa in std::net::ToSocketAddrs::to_socket_addrs(addr)? {
        match tcp_listener_at(sa) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn tcp_listener_at(sa: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(sa),
        socket2::Type::STREAM,
        None,
    )?;
    if sa.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&sa.into())?;
    s.listen(511)?;
    Ok(s.into())
}

/// Redis's reply to a client refused by protected mode, before it closes the connection.
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode (`protected-mode yes`, the default) refuses a client from another host
/// while the default user has no password; loopback and Unix socket clients are served.
fn protected_mode(st: &crate::cmd::State) -> bool {
    st.acl.default_nopass() && st.config.get("protected-mode").as_deref() == Some("yes")
}

/// A listening socket: TCP, or the `unixsocket` path (kept for the log and CLIENT LIST).
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, String),
}

/// An accepted connection.
enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream, String),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| Accepted::Tcp(s)),
            Listener::Unix(l, path) => l
                .accept()
                .await
                .map(|(s, _)| Accepted::Unix(s, path.clone())),
        }
    }
}

impl Accepted {
    /// A TCP client from another host (not loopback; a Unix socket client is local).
    fn is_remote(&self) -> bool {
        match self {
            Accepted::Tcp(s) => s.peer_addr().is_ok_and(|a| match a.ip() {
                std::net::IpAddr::V4(ip) => !ip.is_loopback(),
                std::net::IpAddr::V6(ip) => {
                    !ip.is_loopback() && !ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                }
            }),
            Accepted::Unix(..) => false,
        }
    }

    async fn refuse(mut self, msg: &[u8]) {
        let _ = match &mut self {
            Accepted::Tcp(s) => s.write_all(msg).await,
            Accepted::Unix(s, _) => s.write_all(msg).await,
        };
    }

    /// `tcp-keepalive` (seconds; 0 = off) on a TCP client, as Redis sets it: probes after
    /// that much idle time, then every third of it, 3 unanswered ones close the connection
    /// (a peer that vanished without a FIN does not hold a client slot forever).
    fn keep_alive(&self, secs: u64) {
        let Accepted::Tcp(s) = self else {
            return;
        };
        if secs == 0 {
            return;
        }
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(secs))
            .with_interval(Duration::from_secs((secs / 3).max(1)))
            .with_retries(3);
        if let Err(e) = socket2::SockRef::from(s).set_tcp_keepalive(&ka) {
            tracing::debug!("tcp-keepalive not set: {e}");
        }
    }

    async fn serve(self, engine: Arc<Engine>) {
        match self {
            Accepted::Tcp(s) => conn::serve(engine, s).await,
            Accepted::Unix(s, path) => {
                let addr = format!("{path}:0");
                conn::serve_stream(engine, s, addr.clone(), addr, None).await
            }
        }
    }
}

/// Listen on the `unixsocket` path as Redis does: a stale file there is removed first, and
/// `unixsocketperm` (octal, 0 = leave the umask's) sets the file's mode.
fn bind_unix(path: &str, perm: &str) -> std::io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    let mode = u32::from_str_radix(perm, 8).unwrap_or(0);
    if mode != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(l)
}

impl Listeners {
    /// Serve `listener` (bound to `addr`) with a new accept loop.
    fn serve(&self, addr: String, listener: TcpListener) {
        let Some(engine) = self.engine.upgrade() else {
            return;
        };
        let stop = Arc::new(tokio::sync::Notify::new());
        self.serving.lock().push((addr, stop.clone()));
        self.runtime.spawn(accept_loop(
            engine,
            Listener::Tcp(listener),
            self.live.clone(),
            stop,
        ));
    }

    /// Serve the `unixsocket` listener (CONFIG SET bind / port leave it alone).
    fn serve_unix(&self, path: String, listener: UnixListener) {
        let Some(engine) = self.engine.upgrade() else {
            return;
        };
        let stop = Arc::new(tokio::sync::Notify::new());
        self.runtime.spawn(accept_loop(
            engine,
            Listener::Unix(listener, path),
            self.live.clone(),
            stop,
        ));
    }

    /// Listen on `bind` × `port` instead of the current addresses. Returns the port bound
    /// (`port 0` picks a free one, or with a `unixsocket` closes every TCP listener, as
    /// Redis's CONFIG SET port 0); on failure nothing changes.
    pub fn replace(&self, bind: &[String], port: u16) -> Result<u16, String> {
        let wanted: Vec<(String, bool)> = if tcp_port_wanted(port, self.unix) {
            bind.iter().map(|h| listen_addr(h, port)).collect()
        } else {
            Vec::new()
        };
        let fresh: Vec<(String, bool)> = {
            let serving = self.serving.lock();
            wanted
                .iter()
                .filter(|(a, _)| port == 0 || !serving.iter().any(|(s, _)| s == a))
                .cloned()
                .collect()
        };
        let bound = bind_all(&fresh).map_err(|(addr, e)| {
            tracing::warn!("cannot listen on {addr}: {e}");
            e.to_string()
        })?;
        let _guard = self.runtime.enter();
        let mut listeners = Vec::new();
        for (addr, l) in bound {
            listeners.push((addr, TcpListener::from_std(l).map_err(|e| e.to_string())?));
        }
        let port = listeners
            .first()
            .and_then(|(_, l)| l.local_addr().ok())
            .map_or(port, |a| a.port());
        let fresh_addrs: Vec<String> = listeners.iter().map(|(a, _)| a.clone()).collect();
        self.serving.lock().retain(|(addr, stop)| {
            let keep = wanted.iter().any(|(a, _)| a == addr) && !fresh_addrs.contains(addr);
            if !keep {
                stop.notify_one();
            }
            keep
        });
        for (addr, l) in listeners {
            self.serve(addr, l);
        }
        if let Some(engine) = self.engine.upgrade() {
            engine.port.store(port, Ordering::Relaxed);
        }
        Ok(port)
    }
}

/// Startup recovery running on its own thread while the server serves.
pub struct Loading {
    done: tokio::sync::oneshot::Receiver<Result<(), OpenError>>,
}

impl Loading {
    /// Wait until the dataset is loaded (Ok) or recovery failed (its error, as startup
    /// reported it before the server listened first).
    pub async fn finished(self) -> Result<(), OpenError> {
        self.done.await.unwrap_or(Err(OpenError::Interrupted))
    }
}

/// Open the data directory, bind, spawn the accept loops and background jobs on the
/// current tokio runtime, and return once the dataset is loaded (clients connecting
/// meanwhile are answered -LOADING). A failed recovery stops the server and is returned.
pub async fn start(
    config: Config,
    vfs: Arc<dyn Vfs>,
    config_file: Option<PathBuf>,
) -> Result<Running, StartError> {
    let (running, loading) = start_serving(config, vfs, config_file).await?;
    if let Some(l) = loading {
        if let Err(e) = l.finished().await {
            running.engine.request_stop();
            running.engine.close();
            return Err(e.into());
        }
    }
    Ok(running)
}

/// [`start`] without waiting for the dataset: returns as soon as the server listens, with
/// the running recovery (None when the directory held nothing to load).
pub async fn start_serving(
    config: Config,
    vfs: Arc<dyn Vfs>,
    config_file: Option<PathBuf>,
) -> Result<(Running, Option<Loading>), StartError> {
    let (engine, recovery) = Engine::open_serving(config.clone(), vfs, config_file)?;
    let mut addrs = Vec::new();
    let mut listeners = Vec::new();
    let unix = config.get("unixsocket").unwrap_or_default();
    let wanted: Vec<(String, bool)> = if tcp_port_wanted(config.port, !unix.is_empty()) {
        config
            .bind
            .iter()
            .map(|h| listen_addr(h, config.port))
            .collect()
    } else {
        Vec::new()
    };
    let bound = bind_all(&wanted).map_err(|(addr, source)| StartError::Bind { addr, source })?;
    for (addr, l) in bound {
        let l = TcpListener::from_std(l).map_err(|source| StartError::Bind {
            addr: addr.clone(),
            source,
        })?;
        addrs.push(l.local_addr().map_err(|source| StartError::Bind {
            addr: addr.clone(),
            source,
        })?);
        listeners.push((addr, l));
    }
    if let Some(a) = addrs.first() {
        engine.port.store(a.port(), Ordering::Relaxed);
        // `port 0` picks a free port: report the real one in CONFIG GET too.
        let port = a.port();
        engine.with_state(|st| st.config.port = port);
    }
    let set = Arc::new(Listeners {
        engine: Arc::downgrade(&engine),
        live: Arc::new(AtomicUsize::new(0)),
        runtime: tokio::runtime::Handle::current(),
        serving: parking_lot::Mutex::new(Vec::new()),
        unix: !unix.is_empty(),
    });
    let _ = engine.listeners.set(set.clone());
    for (addr, l) in listeners {
        set.serve(addr, l);
    }
    if !unix.is_empty() {
        let perm = config.get("unixsocketperm").unwrap_or_default();
        let l = bind_unix(&unix, &perm).map_err(|source| StartError::Unix {
            path: unix.clone(),
            source,
        })?;
        tracing::info!("The server is now ready to accept connections at {unix}");
        set.serve_unix(unix, l);
    }
    // `replicaof <host> <port>` in the configuration: a replica from the start.
    let replicaof = config.get("replicaof").unwrap_or_default();
    if let [host, port] = replicaof.split_whitespace().collect::<Vec<_>>()[..] {
        if let Ok(port) = port.parse::<u16>() {
            let master = (host.to_string(), port);
            engine.with_state(|st| st.replicas.master = Some(master.clone()));
            crate::cmd::exec::Env::replicate(&*engine, Some(master));
        }
    }
    tokio::spawn(expire_loop(engine.clone()));
    tokio::spawn(engine.log.clone().run_completions());
    let loading = match recovery {
        Some(r) => Some(spawn_recovery(&engine, r)?),
        None => None,
    };
    Ok((Running { engine, addrs }, loading))
}

/// Run `r` on a thread of its own (a plain thread: the runtime never waits for it, so a
/// server told to stop exits at once, whatever recovery is doing).
fn spawn_recovery(engine: &Arc<Engine>, r: Recovery) -> Result<Loading, StartError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let e = engine.clone();
    std::thread::Builder::new()
        .name("strata-loading".into())
        .spawn(move || {
            let _ = tx.send(e.recover(r));
        })
        .map_err(|e| {
            StartError::Open(OpenError::Storage(crate::persist::StorageError::io(
                engine.log.dir(),
                e,
            )))
        })?;
    Ok(Loading { done: rx })
}

async fn accept_loop(
    engine: Arc<Engine>,
    l: Listener,
    live: Arc<AtomicUsize>,
    stop: Arc<tokio::sync::Notify>,
) {
    fn settings(st: &mut crate::cmd::State) -> (u64, bool, u64) {
        let keepalive = st.config.get("tcp-keepalive").and_then(|v| v.parse().ok());
        (
            st.config.maxclients,
            protected_mode(st),
            keepalive.unwrap_or(0),
        )
    }
    let mut last = engine.with_state_async(settings).await;
    loop {
        let accepted = tokio::select! {
            a = l.accept() => a,
            _ = engine.stop_notify.notified() => return,
            // CONFIG SET bind / port dropped this address.
            _ = stop.notified() => return,
        };
        if engine.stopping.load(Ordering::Acquire) {
            return;
        }
        let Ok(sock) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Never wait for the engine here: a running script holds it, and new clients must
        // still be accepted (to get -BUSY or send SCRIPT KILL). The last value read serves.
        let (max, protected, keepalive) = engine.try_with_state_once(settings).unwrap_or(last);
        last = (max, protected, keepalive);
        let refusal: Option<&'static [u8]> = if live.load(Ordering::Acquire) as u64 >= max {
            Some(b"-ERR max number of clients reached\r\n")
        } else if protected && sock.is_remote() {
            Some(PROTECTED_MODE_DENIED)
        } else {
            None
        };
        if let Some(msg) = refusal {
            // (Counted off this loop: a script may hold the engine, and the loop must go on
            // accepting meanwhile.)
            let e = engine.clone();
            tokio::spawn(async move {
                e.with_state_async(|st| st.stats.rejected_connections += 1)
                    .await;
                sock.refuse(msg).await;
            });
            continue;
        }
        sock.keep_alive(keepalive);
        live.fetch_add(1, Ordering::AcqRel);
        let e = engine.clone();
        let live2 = live.clone();
        tokio::spawn(async move {
            sock.serve(e).await;
            live2.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// Longest hold of the engine lock by one slice of the active expire cycle.
const EXPIRE_SLICE: Duration = Duration::from_millis(1);

/// The server's background timer (Redis's serverCron) with the active expire cycle on
/// Redis's schedule. A slow cycle runs `1000/hz` ms after the last one ended and works up
/// to 25% (+2% per `active-expire-effort` step) of that period. Between slow cycles, while
/// the last cycle hit its time limit or the estimated stale share is too high, fast cycles
/// of at most 1 ms (+25% per step) run, taking at most half of the time: Redis starts one
/// at most every twice that length, before its event loop sleeps; tokio's timer has 1 ms
/// steps, so here fast cycles earn half of the time that passes, slow cycles included, and
/// spend it (at most one fast cycle's length is banked, so one can follow a slow cycle at
/// once, as in Redis). Every cycle works in slices of at most `EXPIRE_SLICE` under the
/// lock and yields to the connections in between.
async fn expire_loop(engine: Arc<Engine>) {
    use tokio::time::Instant;
    let mut cycle = engine::ExpireCycle::default();
    let mut next_slow: Option<Instant> = None;
    let mut fast_budget = Duration::ZERO;
    let mut earned_at = Instant::now();
    loop {
        let (hz, effort) = engine
            .with_state_async(|st| (st.config.hz, st.config.active_expire_effort))
            .await;
        let period = Duration::from_millis(1000 / hz.clamp(1, 500));
        let knobs = engine::ExpireKnobs::new(effort);
        let slow_at = *next_slow.get_or_insert_with(|| Instant::now() + period);
        let mut earn = |budget: &mut Duration| {
            let now = Instant::now();
            *budget = (*budget + (now - earned_at) / 2).min(knobs.fast_duration);
            earned_at = now;
            now
        };
        earn(&mut fast_budget);
        // A fast cycle starts once it has earned half its length.
        let fast = cycle.wants_fast(&knobs);
        let wake = if fast {
            let missing = (knobs.fast_duration / 2).saturating_sub(fast_budget);
            (Instant::now() + missing * 2).min(slow_at)
        } else {
            slow_at
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = engine.stop_notify.notified() => return,
        }
        if engine.stopping.load(Ordering::Acquire) {
            return;
        }
        let now = earn(&mut fast_budget);
        if now >= slow_at {
            engine.maybe_auto_snapshot();
            engine.close_idle_migrate_sockets();
            let limit = period * knobs.slow_time_perc / 100;
            expire_cycle(&engine, &mut cycle, limit, period).await;
            next_slow = Some(Instant::now() + period);
        } else if fast && fast_budget >= knobs.fast_duration / 2 {
            let limit = fast_budget;
            let worked = expire_cycle(&engine, &mut cycle, limit, knobs.fast_duration * 2).await;
            fast_budget = fast_budget.saturating_sub(worked);
        }
    }
}

/// Run one expire cycle: at most `limit` of work under the lock, in slices, and at most
/// `wall` in all (the connections run between slices). Returns the time worked.
async fn expire_cycle(
    engine: &Engine,
    cycle: &mut engine::ExpireCycle,
    limit: Duration,
    wall: Duration,
) -> Duration {
    let t0 = std::time::Instant::now();
    cycle.start();
    loop {
        let left = limit.saturating_sub(cycle.worked());
        match engine.active_expire_step(cycle, EXPIRE_SLICE.min(left)) {
            engine::ExpireSlice::Skipped => {
                cycle.finish(false);
                break;
            }
            engine::ExpireSlice::Done => break,
            engine::ExpireSlice::More => {}
        }
        if cycle.worked() >= limit || t0.elapsed() >= wall {
            if cycle.is_running() {
                cycle.finish(true);
            }
            break;
        }
        tokio::task::yield_now().await;
    }
    cycle.worked()
}

/// Connections that became readable together run in that order, as Redis serves them in
/// its event loop's order (clients and test suites send on one connection, then on
/// another, and expect that order): tokio otherwise runs the last task woken first (its
/// LIFO slot), which reversed such pairs most of the time. Needs `--cfg tokio_unstable`
/// (set in `.cargo/config.toml`).
pub fn arrival_order(builder: &mut tokio::runtime::Builder) {
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    #[cfg(not(tokio_unstable))]
    let _ = builder;
}

/// The checks of a loaded configuration that need the command table (the config module
/// does not know the commands): every `rename-command` line names a command by its current
/// name and a new name not in use, as Redis checks them while loading its config file.
pub fn check_config(config: &Config) -> Result<(), crate::config::LoadError> {
    crate::cmd::registry::Renames::build(&config.rename_commands)
        .map(|_| ())
        .map_err(|(l, why)| crate::config::LoadError {
            line: l.line,
            text: l.text.clone(),
            reason: why.into(),
        })
}

/// Run the server until SHUTDOWN or a signal (the `strata server` entry point).
pub fn run_blocking(mut config: Config, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    // Room for `maxclients` connections (Redis raises the open-files limit at start too).
    let fits = fdlimit::fit(config.maxclients);
    if fits == 0 {
        anyhow::bail!(
            "Your current 'ulimit -n' is not enough for the server to start. Please increase your open file limit to at least {}. Exiting.",
            config.maxclients + fdlimit::RESERVED_FDS
        );
    }
    config.maxclients = fits;
    // `io-threads` (Redis's name) sets the connection worker threads. The engine is one
    // lock, so more workers only spread socket I/O; 1 is fastest on small machines.
    let workers = config
        .get("io-threads")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    // A multi-thread runtime even with one worker: a script runs under `block_in_place`,
    // which hands the other connections to a fresh thread, so they get -BUSY and can send
    // SCRIPT KILL while it runs (a current-thread runtime measured no faster here).
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers).enable_all();
    // Poll for I/O when the run queue empties, as Redis's event loop does after serving
    // every ready client, not also every 61 task polls (tokio's default): with 50 clients
    // a pass is ~100 polls, and a mid-pass poll split it, so replies and a subscriber's
    // messages went out in twice as many smaller writes. A task out of coop budget waits
    // for the next I/O poll anyway, so one connection still cannot starve the others.
    builder.event_interval(512);
    arrival_order(&mut builder);
    let rt = builder.build()?;
    let served = rt.block_on(async move {
        log_startup();
        watch_sigabrt();
        oom::apply(&config);
        crate::alloc::set_background_thread(
            config.get("jemalloc-bg-thread").as_deref() == Some("yes"),
        );
        let unix = config.get("unixsocket").unwrap_or_default();
        let (running, loading) =
            start_serving(config.clone(), Arc::new(RealFs), config_file).await?;
        log_listening(&config, running.engine.port.load(Ordering::Relaxed));
        let engine = running.engine.clone();
        let mut signals = Signals::listen();
        let supervisor = supervisor::Supervisor::from_config(&config);
        let mut why = None;
        if let Some(l) = loading {
            tokio::select! {
                done = l.finished() => {
                    if let Err(e) = done {
                        // Refuse to start, as before listening first: the same error.
                        engine.request_stop();
                        engine.close();
                        if !unix.is_empty() {
                            let _ = std::fs::remove_file(&unix);
                        }
                        return Err(StartError::Open(e).into());
                    }
                }
                w = signals.next() => {
                    // Nothing was written: the data directory is as it was found.
                    tracing::warn!("Received shutdown signal ({w}) during loading, shutting down");
                    why = Some(w);
                }
                _ = wait_stop(&engine) => {
                    tracing::info!("shutdown requested during loading, shutting down");
                    why = Some("SHUTDOWN");
                }
            }
        }
        if why.is_none() {
            let addrs: Vec<String> = running.addrs.iter().map(|a| a.to_string()).collect();
            // Redis 7.0's words, once the dataset is loaded (harnesses such as Redis's
            // test suite wait for them).
            tracing::info!(
                "Ready to accept connections (strata {} on {})",
                crate::STRATA_VERSION,
                addrs.join(", ")
            );
            supervisor.ready();
            let stop = wait_for_shutdown(&engine, &mut signals).await;
            supervisor.stopping();
            match stop {
                Stop::Requested => tracing::info!("shutdown requested, shutting down"),
                Stop::Insisted => {
                    // Redis exits at once, without its final save; so does strata (the
                    // log is closed below, as always: every acknowledged write stays).
                    tracing::warn!("You insist... exiting now.");
                }
                Stop::Signal(sig) => {
                    tracing::warn!("{sig} received, shutting down");
                    // A signal takes the final snapshot SHUTDOWN takes (save points, or the
                    // shutdown-on-sig* flags). Unlike Redis, a failed one does not keep the
                    // server running: the log holds every acknowledged write, the snapshot
                    // only spares the next start a replay.
                    if let Err(e) = engine.final_snapshot(sig) {
                        tracing::warn!(
                            "Error trying to save the DB, exiting anyway (the log is complete): {e}"
                        );
                    }
                }
            }
        }
        engine.request_stop();
        engine.close();
        if !unix.is_empty() {
            let _ = std::fs::remove_file(&unix);
        }
        tracing::info!("strata is now ready to exit, bye bye... (the log is durable)");
        Ok::<(), anyhow::Error>(())
    });
    if crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) > 0 {
        // SHUTDOWN NOSAVE while a script is busy: the script's thread never returns to the
        // runtime, whose shutdown would wait for it. Leave it, as Redis exits in the middle
        // of the script: its writes were never logged (a script's effects are one record,
        // appended when it ends), and the log is closed.
        rt.shutdown_background();
    }
    served
}

/// The first line of the log, before anything is opened: the version and pid.
fn log_startup() {
    tracing::info!(
        "strata version={} (Redis 7.0 compatible), bits={}, pid={}, just started",
        crate::STRATA_VERSION,
        usize::BITS,
        std::process::id()
    );
}

/// Once the server listens, before the dataset is loaded (as Redis logs its logo): the
/// mode and port, and with `always-show-logo yes` the facts Redis's ASCII-art logo
/// carries (`Port:`, `PID: n`), without the art. Redis's test suite finds a server it
/// started by that `PID:` line, and connects right after it.
fn log_listening(config: &Config, port: u16) {
    let pid = std::process::id();
    if config.get("always-show-logo").as_deref() == Some("yes") {
        tracing::info!(
            "strata {} {} bit, Running in standalone mode, Port: {}, PID: {pid}",
            crate::STRATA_VERSION,
            usize::BITS,
            port
        );
    } else {
        tracing::info!("Running mode=standalone, port={port}.");
    }
}

async fn wait_stop(engine: &Engine) {
    loop {
        let n = engine.stop_notify.notified();
        if engine.stopping.load(Ordering::Acquire) {
            return;
        }
        n.await;
    }
}

/// SIGABRT (sent by an operator or a supervisor to a hung process): the crash report, then
/// the abort the signal asked for, as Redis's crash handler does. Watched on a thread of its
/// own with its own runtime, so a server whose workers are stuck still reports and dies.
fn watch_sigabrt() {
    let spawned = std::thread::Builder::new()
        .name("strata-sigabrt".into())
        .spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let kind = tokio::signal::unix::SignalKind::from_raw(libc::SIGABRT);
                if let Ok(mut s) = tokio::signal::unix::signal(kind) {
                    if s.recv().await.is_some() {
                        crate::cmd::server::crash_report_and_abort(libc::SIGABRT);
                    }
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!("no crash report on SIGABRT: cannot start its thread: {e}");
    }
}

/// SIGINT and SIGTERM, listened to from startup on (a listener made later would miss
/// one received before it).
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        // SIGHUP is ignored, as Redis ignores it (a hang-up of the terminal a server was
        // started from does not stop it; its default action would end the process).
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            tokio::spawn(async move { while hup.recv().await.is_some() {} });
        }
        Signals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// The next one received: "SIGINT" or "SIGTERM".
    async fn next(&mut self) -> &'static str {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            let received = match s {
                Some(s) => s.recv().await.is_some(),
                None => false,
            };
            if !received {
                std::future::pending::<()>().await;
            }
        }
        tokio::select! {
            _ = recv(&mut self.int) => "SIGINT",
            _ = recv(&mut self.term) => "SIGTERM",
        }
    }
}

/// Why the server stops.
enum Stop {
    /// SHUTDOWN (or a fatal log failure).
    Requested,
    /// A signal, once the cron took it up.
    Signal(&'static str),
    /// A SIGINT while a signal's shutdown waited.
    Insisted,
}

/// Wait for SHUTDOWN or a signal. As Redis's signal handler only sets `shutdown_asap` for
/// its cron, a signal schedules the shutdown: it begins at the next cron turn (within
/// 10 ms), not while DEBUG PAUSE-CRON holds the cron, and SHUTDOWN ABORT cancels it
/// meanwhile; a second SIGINT while it waits insists (exit now, no final snapshot).
async fn wait_for_shutdown(engine: &Engine, signals: &mut Signals) -> Stop {
    // Whether a signal's shutdown is pending (the state's `shutdown_asap` says which).
    let mut waiting = false;
    loop {
        let tick = async move {
            if waiting {
                tokio::time::sleep(Duration::from_millis(10)).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let received = tokio::select! {
            s = signals.next() => Some(s),
            _ = wait_stop(engine) => return Stop::Requested,
            _ = tick => None,
        };
        if let Some(sig) = received {
            let before = loop {
                if let Ok(b) = engine.try_with_state_once(|st| st.shutdown_asap.replace(sig)) {
                    break b;
                }
                // The engine is held (a busy script): a SIGINT meanwhile insists, as
                // Redis's handler exits on a second SIGINT whatever the server is doing.
                tokio::select! {
                    again = signals.next() => {
                        if again == "SIGINT" {
                            return Stop::Insisted;
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                }
            };
            // (Redis: a SIGINT while any signal's shutdown is pending.)
            if sig == "SIGINT" && before.is_some() {
                return Stop::Insisted;
            }
            tracing::warn!("Received {sig} scheduling shutdown...");
            waiting = true;
            continue;
        }
        let (asap, paused) = engine
            .with_state_async(|st| (st.shutdown_asap, st.cron_paused))
            .await;
        match asap {
            None => waiting = false, // SHUTDOWN ABORT
            Some(sig) if !paused => return Stop::Signal(sig),
            Some(_) => {}
        }
    }
}
