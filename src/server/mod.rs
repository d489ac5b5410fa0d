//! The network server: bind, accept with a connection limit, one task per connection,
//! background jobs (active expiry), and graceful shutdown that leaves the log durable.

pub mod conn;
pub mod engine;
pub mod snapshot;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

pub use engine::{Engine, OpenError};

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
    /// Could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Open the data directory, bind, and spawn the accept loops and background jobs on the
/// current tokio runtime.
pub async fn start(
    config: Config,
    vfs: Arc<dyn Vfs>,
    config_file: Option<PathBuf>,
) -> Result<Running, StartError> {
    let engine = Engine::open(config.clone(), vfs, config_file)?;
    let mut addrs = Vec::new();
    let mut listeners = Vec::new();
    for host in &config.bind {
        let host = host.trim_start_matches('-');
        let addr = if host.contains(':') {
            format!("[{host}]:{}", config.port)
        } else {
            format!("{host}:{}", config.port)
        };
        let l = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: addr.clone(),
                source,
            })?;
        addrs.push(
            l.local_addr()
                .map_err(|source| StartError::Bind { addr, source })?,
        );
        listeners.push(l);
    }
    if let Some(a) = addrs.first() {
        engine.port.store(a.port(), Ordering::Relaxed);
        // `port 0` picks a free port: report the real one in CONFIG GET too.
        let port = a.port();
        engine.with_state(|st| st.config.port = port);
    }
    let live = Arc::new(AtomicUsize::new(0));
    for l in listeners {
        tokio::spawn(accept_loop(engine.clone(), l, live.clone()));
    }
    tokio::spawn(expire_loop(engine.clone()));
    tokio::spawn(engine.log.clone().run_completions());
    Ok(Running { engine, addrs })
}

async fn accept_loop(engine: Arc<Engine>, l: TcpListener, live: Arc<AtomicUsize>) {
    let mut last_max = engine.with_state_async(|st| st.config.maxclients).await;
    loop {
        let accepted = tokio::select! {
            a = l.accept() => a,
            _ = engine.stop_notify.notified() => return,
        };
        if engine.stopping.load(Ordering::Acquire) {
            return;
        }
        let Ok((mut sock, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Never wait for the engine here: a running script holds it, and new clients must
        // still be accepted (to get -BUSY or send SCRIPT KILL). The last value read serves.
        let max = engine
            .try_with_state_once(|st| st.config.maxclients)
            .unwrap_or(last_max);
        last_max = max;
        if live.load(Ordering::Acquire) as u64 >= max {
            engine
                .with_state_async(|st| st.stats.rejected_connections += 1)
                .await;
            tokio::spawn(async move {
                let _ = sock
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            });
            continue;
        }
        live.fetch_add(1, Ordering::AcqRel);
        let e = engine.clone();
        let live2 = live.clone();
        tokio::spawn(async move {
            conn::serve(e, sock).await;
            live2.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

async fn expire_loop(engine: Arc<Engine>) {
    loop {
        let (hz, effort) = engine
            .with_state_async(|st| {
                (
                    st.config.hz.clamp(1, 500),
                    st.config.active_expire_effort.clamp(1, 10),
                )
            })
            .await;
        let period = Duration::from_millis(1000 / hz);
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = engine.stop_notify.notified() => return,
        }
        if engine.stopping.load(Ordering::Acquire) {
            return;
        }
        engine.maybe_auto_snapshot();
        // Budget: Redis's slow cycle share of each period, 25% + 2% per effort step above 1
        // (active-expire-effort), in slices of at most 1 ms under the lock.
        let budget = period * u32::try_from(25 + 2 * (effort - 1)).unwrap_or(25) / 100;
        let t0 = std::time::Instant::now();
        while t0.elapsed() < budget {
            if !engine.active_expire_step(Duration::from_millis(1)) {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Run the server until SHUTDOWN or a signal (the `strata server` entry point).
pub fn run_blocking(config: Config, config_file: Option<PathBuf>) -> anyhow::Result<()> {
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = start(config, Arc::new(RealFs), config_file).await?;
        for a in &running.addrs {
            tracing::info!(
                "strata {} ready to accept connections on {a}",
                crate::STRATA_VERSION
            );
        }
        let engine = running.engine.clone();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT received, shutting down"); }
            _ = sigterm() => { tracing::info!("SIGTERM received, shutting down"); }
            _ = wait_stop(&engine) => { tracing::info!("shutdown requested"); }
        }
        engine.request_stop();
        engine.close();
        tracing::info!("log is durable; bye");
        Ok::<(), anyhow::Error>(())
    })
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

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}
