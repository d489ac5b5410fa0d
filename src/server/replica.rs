//! The replica's side of replication: the link task REPLICAOF host port starts. It
//! connects to the master and handshakes as a Redis replica does (PING, AUTH with
//! `masteruser`/`masterauth`, REPLCONF listening-port and capa, `PSYNC ? -1`, or after a
//! lost link `PSYNC <replid> <offset+1>`, which a master that still has the bytes answers
//! `+CONTINUE`: the stream then goes on over the same dataset), reads the
//! full resync's RDB payload, and then serves the connection as the master client
//! (`conn::serve_stream` with a [`MasterLink`]): what that client runs is first the
//! payload turned into commands (`repl::full_sync_commands`: FLUSHALL, the libraries,
//! a RESTORE per key) and then the master's stream, each unit journaled and logged like
//! any client's, so a replica's dataset is as durable as a master's; what it processed
//! of the stream goes on, as it came, to its own replicas (`repl::relay`). When the link
//! drops the task reconnects every second (continuing when the master still can),
//! until REPLICAOF names another master or NO ONE, or the server stops. A master handing
//! its role over (FAILOVER) adds FAILOVER to its PSYNC and learns the answer here.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::conn::{serve_stream, MasterLink};
use super::engine::Engine;
use crate::cmd::exec::{Caller, Exec};
use crate::cmd::repl::Link;

/// Redis's words for a master that stopped answering during the handshake, and during
/// the transfer (its test suite looks for them in the log).
const TIMEOUT_CONNECTING: &str = "Timeout connecting to the MASTER...";
const TIMEOUT_RECEIVING: &str = "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.";

/// Replicate from `host`:`port` for as long as REPLICAOF number `epoch` is in force.
pub async fn run(engine: Arc<Engine>, host: String, port: u16, epoch: u64) {
    let current = |e: &Engine| in_force(e, epoch) && !e.stopping.load(Ordering::Acquire);
    while current(&engine) {
        match sync_once(&engine, &host, port, epoch).await {
            Ok(()) => tracing::warn!("Connection with master lost ({host}:{port})"),
            Err(e) => tracing::warn!("Replication with master {host}:{port} failed: {e}"),
        }
        set_link(&engine, epoch, Link::Down).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether REPLICAOF number `epoch` is still the one in force (a later REPLICAOF or
/// FAILOVER is not this link's to act on).
fn in_force(engine: &Engine, epoch: u64) -> bool {
    engine.link_epoch.load(Ordering::Acquire) == epoch
}

/// Record the link's state, if REPLICAOF `epoch` is still the one in force.
async fn set_link(engine: &Engine, epoch: u64, link: Link) {
    let e = engine;
    engine
        .with_state_async(|st| {
            if !in_force(e, epoch) || st.replicas.master_client.is_some() {
                return;
            }
            st.replicas.set_link(link, crate::clock::now_ms());
        })
        .await;
}

/// The target of this server's FAILOVER answered its PSYNC (`cmd::failover::answered`):
/// whether the failover went through (this link goes on).
async fn failover_answered(engine: &Arc<Engine>, epoch: u64, accepted: bool, why: &str) -> bool {
    let e = engine.clone();
    engine
        .with_state_async(|st| {
            if !in_force(&e, epoch) {
                return false;
            }
            let now = crate::clock::now_ms();
            let mut x = Exec::new(st, &*e, 0, now, Caller::Internal);
            crate::cmd::failover::answered(&mut x, accepted, why)
        })
        .await
}

/// One connection to the master: handshake, full resync, then its stream until it ends.
async fn sync_once(engine: &Arc<Engine>, host: &str, port: u16, epoch: u64) -> Result<(), String> {
    // The dataset recovered at start is in place first (the master's stream would be
    // refused with -LOADING meanwhile), as Redis loads its own before it connects.
    while crate::cmd::exec::Env::loading(&**engine) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(why) = crate::cmd::exec::Env::log_failure(&**engine) {
        // Nothing the master sends could be applied.
        return Err(format!("the log refuses writes ({why})"));
    }
    set_link(engine, epoch, Link::Connecting).await;
    let (user, pass, my_port, timeout_s, source) = engine
        .with_state_async(|st| {
            let get = |k: &str| st.config.get(k).unwrap_or_default();
            let timeout = get("repl-timeout").parse::<u64>().unwrap_or(60).max(1);
            let source = get("bind-source-addr");
            (
                get("masteruser"),
                get("masterauth"),
                st.config.port,
                timeout,
                source,
            )
        })
        .await;
    tracing::info!("Connecting to MASTER {host}:{port}");
    let limit = Duration::from_secs(timeout_s);
    let sock = tokio::time::timeout(limit, connect(host, port, &source))
        .await
        .map_err(|_| TIMEOUT_CONNECTING.to_string())?
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    let _ = sock.set_nodelay(true);
    if let (Ok(peer), Ok(local)) = (sock.peer_addr(), sock.local_addr()) {
        // Our own address: replicating from ourselves would feed our stream back to us
        // without end.
        if peer.port() == my_port && (peer.ip() == local.ip() || peer.ip().is_loopback()) {
            return Err("the master's address is this server's own".into());
        }
    }
    let addr = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let laddr = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    set_link(engine, epoch, Link::Handshake).await;
    let mut io = BufReader::new(sock);
    // Each request's reply, within `repl-timeout`; the newlines a master sends while it
    // prepares a resync (to show it is alive) restart the wait.
    let mut ask = async |argv: &[&[u8]]| -> Result<String, String> {
        let mut out = Vec::new();
        crate::cmd::repl::push_command(&mut out, argv);
        io.get_mut()
            .write_all(&out)
            .await
            .map_err(|e| format!("writing to the master: {e}"))?;
        loop {
            let line = tokio::time::timeout(limit, read_line(&mut io))
                .await
                .map_err(|_| TIMEOUT_CONNECTING.to_string())??;
            if !line.is_empty() {
                return Ok(line);
            }
        }
    };
    tracing::info!("MASTER <-> REPLICA sync started");
    let pong = ask(&[b"PING"]).await?;
    let auth_wanted = !pass.is_empty();
    let auth_error = ["-NOAUTH", "-NOPERM", "-ERR operation not permitted"]
        .iter()
        .any(|p| pong.starts_with(p));
    if pong.starts_with('-') && !(auth_wanted && auth_error) {
        return Err(format!("error reply to PING from master: '{pong}'"));
    }
    if auth_wanted {
        let reply = if user.is_empty() {
            ask(&[b"AUTH", pass.as_bytes()]).await?
        } else {
            ask(&[b"AUTH", user.as_bytes(), pass.as_bytes()]).await?
        };
        if reply.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    }
    let port_arg = my_port.to_string();
    let reply = ask(&[b"REPLCONF", b"listening-port", port_arg.as_bytes()]).await?;
    if reply.starts_with('-') {
        tracing::info!(
            "(Non critical) Master does not understand REPLCONF listening-port: {reply}"
        );
    }
    let reply = ask(&[b"REPLCONF", b"capa", b"psync2"]).await?;
    if reply.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF capa: {reply}");
    }
    // After a lost link (or as a master turned replica): ask to go on from the byte
    // after the last one processed. A master handing over (FAILOVER) says so, and the
    // target becomes the master that answers.
    let e = engine.clone();
    let (cached, failing_over) = engine
        .with_state_async(|st| {
            if !in_force(&e, epoch) {
                return Err("REPLICAOF changed during the handshake".to_string());
            }
            let r = &st.replicas;
            let handing_over = r.failover.as_ref().is_some_and(|f| f.in_progress);
            Ok((r.cached_master.clone(), handing_over))
        })
        .await?;
    let (id, next) = match &cached {
        Some((id, off, _)) => {
            tracing::info!(
                "Trying a partial resynchronization (request {id}:{}).",
                off + 1
            );
            (id.clone(), (off + 1).to_string())
        }
        None => {
            tracing::info!("Partial resynchronization not possible (no cached master)");
            ("?".to_string(), "-1".to_string())
        }
    };
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", id.as_bytes(), next.as_bytes()];
    if failing_over {
        psync.push(b"FAILOVER");
    }
    let reply = match ask(&psync).await {
        Ok(r) => r,
        Err(e) => {
            if failing_over {
                failover_answered(engine, epoch, false, "Write error to failover target").await;
            }
            return Err(e);
        }
    };
    if failing_over {
        let accepted = reply.starts_with("+CONTINUE") || reply.starts_with("+FULLRESYNC");
        let why = "Failover target rejected psync request";
        if !failover_answered(engine, epoch, accepted, why).await {
            return Err(format!("the failover target refused PSYNC: {reply}"));
        }
    }
    if let (Some(rest), Some((id, off, db))) = (reply.strip_prefix("+CONTINUE"), cached) {
        // A partial resync: the dataset stays, the stream goes on (maybe under a new id).
        let replid = rest.split_whitespace().next().map_or(id, String::from);
        tracing::info!("Successful partial resynchronization with master ({replid}:{off})");
        tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        set_link(engine, epoch, Link::Sync).await;
        let link = MasterLink {
            offset: off,
            skip: 0,
            epoch,
            db,
            replid,
        };
        serve_link(engine, io, Vec::new(), (addr, laddr), link).await;
        return Ok(());
    }
    let Some(rest) = reply.strip_prefix("+FULLRESYNC ") else {
        return Err(format!("unexpected reply to PSYNC from master: {reply}"));
    };
    let mut words = rest.split_whitespace();
    let replid = words.next().unwrap_or_default().to_string();
    let offset: u64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("bad +FULLRESYNC from master: {reply}"))?;
    tracing::info!("Full resync from master: {replid}:{offset}");
    set_link(engine, epoch, Link::Sync).await;
    // The payload: `$<len>`, after newlines the master sends while it prepares it.
    let header = loop {
        let line = tokio::time::timeout(limit, read_line(&mut io))
            .await
            .map_err(|_| TIMEOUT_RECEIVING.to_string())??;
        if !line.is_empty() {
            break line;
        }
    };
    let len: usize = header
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("bad bulk header of the master's payload: '{header}'"))?;
    tracing::info!("MASTER <-> REPLICA sync: receiving {len} bytes from master");
    // Room for the announced length at once (pages are only touched as the bytes come),
    // not grown by doubling, which copied it over and over and held up to twice the
    // payload at the end. A length no allocation can hold is an error, not an abort.
    let mut rdb = Vec::new();
    rdb.try_reserve_exact(len)
        .map_err(|e| format!("cannot make room for the master's payload of {len} bytes: {e}"))?;
    let mut chunk = vec![0u8; 64 << 10];
    let current = || in_force(engine, epoch);
    while rdb.len() < len {
        if !current() {
            return Err("REPLICAOF changed during the transfer".into());
        }
        let want = chunk.len().min(len - rdb.len());
        let n = tokio::time::timeout(limit, io.read(&mut chunk[..want]))
            .await
            .map_err(|_| TIMEOUT_RECEIVING.to_string())?
            .map_err(|e| format!("reading the master's payload: {e}"))?;
        if n == 0 {
            break;
        }
        rdb.extend_from_slice(&chunk[..n]);
    }
    if rdb.len() != len {
        return Err("the master closed the connection during the payload".into());
    }
    if !current() {
        return Err("REPLICAOF changed during the transfer".into());
    }
    // Nothing to continue from once the payload replaces the dataset: a later attempt
    // is a full one too. (Until now a failed transfer left the dataset and its history
    // as they were, so a partial resync with the previous master stays possible, as
    // Redis discards its cached master only before it loads the transferred RDB.)
    engine
        .with_state_async(|st| {
            if in_force(engine, epoch) {
                st.replicas.cached_master = None;
            }
        })
        .await;
    // (Decoded outside the engine lock: it needs only the limits and database count.)
    let (limits, databases) = engine
        .with_state_async(|st| {
            let lim = crate::cmd::dump::limits_from(&st.config);
            (lim, st.ks.dbs.len())
        })
        .await;
    let (commands, db) = crate::cmd::repl::full_sync_commands(&rdb, &limits, databases)?;
    drop(rdb);
    tracing::info!("MASTER <-> REPLICA sync: loading the payload");
    let link = MasterLink {
        offset,
        skip: commands.len() as u64,
        epoch,
        db,
        replid,
    };
    serve_link(engine, io, commands, (addr, laddr), link).await;
    Ok(())
}

/// Connect to the master, from `bind-source-addr` when it is set.
async fn connect(host: &str, port: u16, source: &str) -> std::io::Result<TcpStream> {
    if source.is_empty() {
        return TcpStream::connect((host, port)).await;
    }
    let from: std::net::IpAddr = source
        .parse()
        .map_err(|_| std::io::Error::other(format!("bad bind-source-addr '{source}'")))?;
    let mut last = std::io::Error::other("no address for the master");
    for to in tokio::net::lookup_host((host, port)).await? {
        if to.is_ipv4() != from.is_ipv4() {
            continue;
        }
        let s = if from.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        s.bind(std::net::SocketAddr::new(from, 0))?;
        match s.connect(to).await {
            Ok(c) => return Ok(c),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Serve the master's connection as the master client: `first` (the full resync's
/// commands, if any), then what was read past the handshake, then the socket.
async fn serve_link(
    engine: &Arc<Engine>,
    io: BufReader<TcpStream>,
    mut first: Vec<u8>,
    (addr, laddr): (String, String),
    link: MasterLink,
) {
    first.extend_from_slice(io.buffer());
    let stream = Prefixed {
        prefix: first,
        at: 0,
        inner: io.into_inner(),
    };
    serve_stream(engine.clone(), stream, addr, laddr, Some(link)).await;
}

/// One CRLF-terminated line (without it); a lone `\n` is an empty line.
async fn read_line(io: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = Vec::new();
    let n = io
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("reading from the master: {e}"))?;
    if n == 0 {
        return Err("the master closed the connection".into());
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// The master's connection with bytes to read before its own: the full sync's commands
/// and what was already read past the payload.
struct Prefixed {
    prefix: Vec<u8>,
    at: usize,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = &mut *self;
        if me.at < me.prefix.len() {
            let n = buf.remaining().min(me.prefix.len() - me.at);
            buf.put_slice(&me.prefix[me.at..me.at + n]);
            me.at += n;
            if me.at == me.prefix.len() {
                me.prefix = Vec::new();
                me.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
