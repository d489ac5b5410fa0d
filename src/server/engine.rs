//! `Engine`: the engine lock (`State` behind a parking_lot mutex, never held across
//! `.await`) and the log. `execute` runs a command under the lock, appends its journal as
//! one record (so log order == apply order) and returns the LSN the reply must wait for:
//! under `appendfsync always` every record applied before the command ran, reads included.
//! Also startup recovery (replay), the failure latch's keyspace rebuild, the active expire
//! cycle, and the `Env` services commands reach (INFO persistence, DEBUG RELOAD, SHUTDOWN).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::clock;
use crate::cmd::exec::{Blocked, JournalEntry, LoggedUnit, WakeFn};
use crate::cmd::{dispatch, Caller, Env, Exec, State};
use crate::config::{Appendfsync, Config};
use crate::persist::batch::{decode_batch, encode_batch};
use crate::persist::io::Vfs;
use crate::persist::{FsyncPolicy, Log, LogOptions, StorageError};
use crate::resp::Reply;

/// What a connection needs back from one command.
pub struct Outcome {
    /// The reply (sent only once `lsn` is durable).
    pub reply: Reply,
    /// The LSN that must be durable before the reply is written (0 = none).
    pub lsn: u64,
    /// Set when the command parked the client (BLPOP …): the connection waits for it
    /// instead of sending `reply`.
    pub blocked: Option<BlockWait>,
}

/// A parked client's wait: served by a later unit through `rx`, or timed out.
pub struct BlockWait {
    /// Receives (reply, LSN of the record holding the effect).
    pub rx: tokio::sync::oneshot::Receiver<(Reply, u64)>,
    /// Absolute deadline, Unix ms (0 = forever).
    pub deadline_ms: i64,
    /// The reply on timeout.
    pub timeout_reply: Reply,
}

/// What a connection needs to know about its client after executing commands.
#[derive(Clone, Copy, Debug)]
pub struct ConnView {
    /// Protocol version for encoding replies.
    pub resp: u8,
    /// Close after writing the replies (QUIT, CLIENT KILL, killed).
    pub close: bool,
    /// Authenticated (decoder limits).
    pub authenticated: bool,
    /// `proto-max-bulk-len`.
    pub max_bulk_len: u64,
    /// `timeout` in seconds (0 = none).
    pub timeout_s: u64,
    /// `client-query-buffer-limit`.
    pub query_buffer_limit: u64,
    /// `busy-reply-threshold` in milliseconds.
    pub busy_threshold_ms: u64,
}

/// The engine shared by every connection.
pub struct Engine {
    state: Mutex<State>,
    /// The log.
    pub log: Arc<Log>,
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    /// Set once SHUTDOWN (or a fatal log failure) asks the server to stop.
    pub stopping: AtomicBool,
    /// Wakes the accept loop and connections on shutdown.
    pub stop_notify: tokio::sync::Notify,
    started: Instant,
    /// The bound port (INFO server).
    pub port: std::sync::atomic::AtomicU16,
    rebuilt_after_latch: AtomicBool,
    rebuilt_lsn: std::sync::atomic::AtomicU64,
    /// Config file path, if any (INFO server `config_file`).
    pub config_file: Option<PathBuf>,
}

/// Startup failure.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The log could not be opened or recovered.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A record could not be applied.
    #[error("replay failed at LSN {lsn}: {why}; run `strata fsck --dir {dir}`")]
    Replay {
        /// The record.
        lsn: u64,
        /// What went wrong.
        why: String,
        /// The data directory.
        dir: String,
    },
}

fn policy(a: Appendfsync) -> FsyncPolicy {
    match a {
        Appendfsync::Always => FsyncPolicy::Always,
        Appendfsync::Everysec => FsyncPolicy::Everysec,
        Appendfsync::No => FsyncPolicy::No,
    }
}

/// The (db, key) pairs the effects in `journal` wrote, per the command table's key specs.
fn journal_keys(journal: &[JournalEntry]) -> Vec<(usize, Bytes)> {
    let mut out = Vec::new();
    for (db, argv) in journal {
        if let Ok(spec) = crate::cmd::COMMANDS.lookup(argv) {
            for i in spec.key_positions(argv.len()) {
                if let Some(k) = argv.get(i) {
                    out.push((usize::from(*db), k.clone()));
                }
            }
        }
    }
    out
}

/// Break the WATCH of every client watching a key these effects changed (FLUSHDB,
/// FLUSHALL and SWAPDB flag their watchers themselves, before the data is gone).
fn touch_watchers(st: &mut State, journal: &[JournalEntry]) {
    if st.watched_keys.is_empty() {
        return;
    }
    for (db, key) in journal_keys(journal) {
        st.touch_watched(db, &key);
    }
}

/// A no-op environment for replay (replayed commands never reach server services).
struct ReplayEnv;

impl Env for ReplayEnv {
    fn persistence_info(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn server_info(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn log_failure(&self) -> Option<String> {
        None
    }
    fn read_back(&self) -> Result<Vec<LoggedUnit>, String> {
        Err("not available during replay".into())
    }
    fn shutdown(&self) {}
    fn config_changed(&self, _: &str, _: &Config) {}
}

/// Apply recovered units to a fresh state.
pub fn replay_units(
    st: &mut State,
    units: &[(u64, i64, Vec<JournalEntry>)],
) -> Result<(), (u64, String)> {
    for (lsn, ts, cmds) in units {
        let mut x = Exec::new(st, &ReplayEnv, 0, *ts, Caller::Replay);
        dispatch::replay(&mut x, cmds).map_err(|e| (*lsn, e))?;
    }
    Ok(())
}

impl Engine {
    /// Open the data directory, recover, and return the engine.
    pub fn open(
        config: Config,
        vfs: Arc<dyn Vfs>,
        config_file: Option<PathBuf>,
    ) -> Result<Arc<Engine>, OpenError> {
        let t0 = Instant::now();
        let opts = LogOptions {
            dir: config.dir.clone(),
            fsync: policy(config.appendfsync),
            segment_size: config.segment_size,
        };
        let (log, recovered) = Log::open(vfs.clone(), opts)?;
        let t_read = t0.elapsed();
        let mut st = State::new(config.clone(), clock::now_ms());
        let mut units = Vec::with_capacity(recovered.records.len());
        for r in &recovered.records {
            let cmds = decode_batch(&r.payload).map_err(|c| OpenError::Replay {
                lsn: r.lsn,
                why: format!("undecodable batch: {c:?}"),
                dir: config.dir.display().to_string(),
            })?;
            units.push((r.lsn, r.ts_ms, cmds));
        }
        replay_units(&mut st, &units).map_err(|(lsn, why)| OpenError::Replay {
            lsn,
            why,
            dir: config.dir.display().to_string(),
        })?;
        tracing::info!(
            records = units.len(),
            keys = st.ks.total_keys(),
            read_ms = t_read.as_millis() as u64,
            total_ms = t0.elapsed().as_millis() as u64,
            "recovered data directory {}",
            config.dir.display()
        );
        Ok(Arc::new(Engine {
            state: Mutex::new(st),
            log: Arc::new(log),
            vfs,
            dir: config.dir.clone(),
            stopping: AtomicBool::new(false),
            stop_notify: tokio::sync::Notify::new(),
            started: Instant::now(),
            port: std::sync::atomic::AtomicU16::new(config.port),
            rebuilt_after_latch: AtomicBool::new(false),
            rebuilt_lsn: std::sync::atomic::AtomicU64::new(0),
            config_file,
        }))
    }

    /// Run `f` with the state locked (tests, connection bookkeeping).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock())
    }

    /// Like `with_state`, but never blocks a runtime thread while a long script holds the
    /// lock: it retries asynchronously (connection setup and teardown use it, so new
    /// clients can still connect and send SCRIPT KILL).
    pub async fn with_state_async<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        loop {
            if let Some(mut g) = self.state.try_lock() {
                return f(&mut g);
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Execute several pipelined commands under one lock acquisition; stops early if a
    /// command asks to close the connection. `bytes_in` is added to the input counters.
    /// Returns what the connection needs to know afterwards.
    pub fn execute_many(
        &self,
        client_id: u64,
        batch: &[Vec<Bytes>],
        out: &mut Vec<Outcome>,
        bytes_in: u64,
        qbuf: usize,
    ) -> ConnView {
        let mut st = self.state.lock();
        st.stats.net_input_bytes += bytes_in;
        if let Some(c) = st.clients.map.get_mut(&client_id) {
            c.qbuf = qbuf;
        }
        // One clock reading per batch: every command of a pipelined batch runs at the same
        // logical time (Redis likewise caches the time per event-loop iteration).
        let now = clock::now_ms();
        for argv in batch {
            let o = self.execute_locked(&mut st, client_id, argv, now);
            // A parked client (BLPOP …) runs nothing more until it is served, as in Redis.
            let parked = o.blocked.is_some();
            out.push(o);
            if parked
                || st
                    .clients
                    .map
                    .get(&client_id)
                    .is_none_or(|c| c.close_after_reply)
            {
                break;
            }
        }
        Self::view(&st, client_id)
    }

    /// The connection-relevant settings for `client_id` from a locked state.
    pub fn view(st: &State, client_id: u64) -> ConnView {
        let c = st.clients.map.get(&client_id);
        ConnView {
            resp: c.map_or(2, |c| c.resp),
            close: c.is_none_or(|c| c.close_after_reply),
            authenticated: c.is_some_and(|c| c.authenticated),
            max_bulk_len: st.config.proto_max_bulk_len,
            timeout_s: st.config.timeout,
            query_buffer_limit: st.config.client_query_buffer_limit,
            busy_threshold_ms: st
                .config
                .get("busy-reply-threshold")
                .and_then(|v| v.parse().ok())
                .unwrap_or(5000),
        }
    }

    fn execute_locked(&self, st: &mut State, client_id: u64, argv: &[Bytes], now: i64) -> Outcome {
        if self.log.is_poisoned().is_some() && !self.rebuilt_after_latch.load(Ordering::Acquire) {
            self.rebuild_after_latch(st);
        }
        let mut x = Exec::new(st, self, client_id, now, Caller::Client);
        let mut reply = dispatch::call(&mut x, argv);
        let block = x.block.take();
        let db = x.db;
        let mut journal = std::mem::take(&mut x.journal);
        drop(x);
        // Clients parked on keys this unit wrote are served inside this unit: their effects
        // go into the same record, in FIFO order (Redis's semantics for BLPOP and friends).
        let mut wakes = Vec::new();
        if !st.blocked.clients.is_empty() && !journal.is_empty() {
            self.serve_blocked(st, now, &mut journal, &mut wakes);
        }
        let mut lsn_of_unit = 0;
        if !journal.is_empty() {
            touch_watchers(st, &journal);
            match self.append(now, &journal) {
                Ok(lsn) => lsn_of_unit = lsn,
                Err(e) => {
                    reply = Reply::Error(format!("MISCONF Errors writing to the AOF file: {e}"))
                }
            }
        }
        let required = self.required_lsn();
        for (wake, r) in wakes {
            wake(r, lsn_of_unit.max(required));
        }
        let blocked = block.map(|b| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            st.blocked.add(
                client_id,
                Blocked {
                    db,
                    keys: b.keys,
                    argv: b.argv.unwrap_or_else(|| argv.to_vec()),
                    wake: Some(Box::new(move |r, l| {
                        let _ = tx.send((r, l));
                    })),
                },
            );
            BlockWait {
                rx,
                deadline_ms: b.deadline_ms,
                timeout_reply: b.timeout_reply,
            }
        });
        Outcome {
            reply,
            lsn: required,
            blocked,
        }
    }

    /// Serve parked clients whose keys this unit may have made ready: re-run each one's
    /// command as that client, oldest first per key; a command that would block again
    /// leaves its client (and every later one on that key) parked. Effects join `journal`.
    fn serve_blocked(
        &self,
        st: &mut State,
        now: i64,
        journal: &mut Vec<JournalEntry>,
        wakes: &mut Vec<(WakeFn, Reply)>,
    ) {
        let mut queue: std::collections::VecDeque<(usize, Bytes)> = journal_keys(journal).into();
        let mut rounds = 0;
        while let Some((db, key)) = queue.pop_front() {
            rounds += 1;
            if rounds > 100_000 {
                break;
            }
            for cid in st.blocked.waiting_on(db, &key) {
                let Some(argv) = st.blocked.clients.get(&cid).map(|b| b.argv.clone()) else {
                    continue;
                };
                let mut y = Exec::new(st, self, cid, now, Caller::Client);
                y.db = db;
                let r = dispatch::call(&mut y, &argv);
                let again = y.block.take().is_some();
                let effects = std::mem::take(&mut y.journal);
                drop(y);
                if again {
                    break;
                }
                queue.extend(journal_keys(&effects));
                journal.extend(effects);
                if let Some(mut b) = st.blocked.remove(cid) {
                    if let Some(w) = b.wake.take() {
                        wakes.push((w, r));
                    }
                }
            }
        }
    }

    /// A parked client's wait ended without being served (timeout, disconnect): unpark it.
    /// Returns false if it was already served (its reply is in its channel).
    pub fn unblock(&self, client_id: u64) -> bool {
        self.state.lock().blocked.remove(client_id).is_some()
    }

    /// The LSN a reply must wait for: everything applied to the state this command saw.
    /// Once the keyspace was rebuilt after a latch it holds exactly the durable prefix, so
    /// that prefix is all a reply can depend on. (Decided by the rebuild flag, which only
    /// changes under the state lock, never by the poison flag, which the writer thread may
    /// set at any moment.)
    fn required_lsn(&self) -> u64 {
        if self.rebuilt_after_latch.load(Ordering::Acquire) {
            self.rebuilt_lsn.load(Ordering::Acquire)
        } else {
            self.log.last_lsn()
        }
    }

    fn append(&self, now: i64, journal: &[JournalEntry]) -> Result<u64, StorageError> {
        self.log.append_with(now, |out| encode_batch(journal, out))
    }

    /// After the log latched, records past the durable LSN were applied in memory but may
    /// never reach the disk. Rebuild the keyspace from the durable prefix so readers never
    /// observe state a power loss could take back; if that is impossible, stop the server.
    fn rebuild_after_latch(&self, st: &mut State) {
        let durable = self.log.durable_lsn();
        self.rebuilt_lsn.store(durable, Ordering::Release);
        self.rebuilt_after_latch.store(true, Ordering::Release);
        if durable == self.log.last_lsn() {
            return;
        }
        tracing::error!(durable, "log latched with non-durable records applied; rebuilding the keyspace from the durable prefix");
        match Log::read_dir(&*self.vfs, &self.dir) {
            Ok(rec) => {
                let mut fresh = crate::db::Keyspace::new(st.ks.dbs.len());
                std::mem::swap(&mut st.ks, &mut fresh);
                let mut units = Vec::new();
                for r in rec.records.iter().filter(|r| r.lsn <= durable) {
                    match decode_batch(&r.payload) {
                        Ok(c) => units.push((r.lsn, r.ts_ms, c)),
                        Err(_) => {
                            return self
                                .fatal("undecodable record while rebuilding after a log failure")
                        }
                    }
                }
                if replay_units(st, &units).is_err() {
                    self.fatal("replay failed while rebuilding after a log failure");
                }
            }
            Err(e) => self.fatal(&format!("cannot re-read the log after a failure: {e}")),
        }
    }

    fn fatal(&self, why: &str) {
        tracing::error!("{why}; stopping");
        self.request_stop();
    }

    /// Ask everything to stop.
    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop_notify.notify_waiters();
    }

    /// One step of the active expire cycle: sample keys with a TTL, delete the expired
    /// ones (journaled as DEL in one record). Returns true if more work seems pending.
    pub fn active_expire_step(&self, budget: Duration) -> bool {
        // Never wait for the lock here: a long script may hold it (the cycle just skips a turn).
        let Some(mut st) = self.state.try_lock() else {
            return false;
        };
        if self.log.is_poisoned().is_some() || !st.active_expire {
            return false;
        }
        let start = Instant::now();
        let now = clock::now_ms();
        let effort = st.config.active_expire_effort.clamp(1, 10);
        let per_loop = usize::try_from(20 + 5 * (effort - 1)).unwrap_or(20);
        let mut x = Exec::new(&mut st, self, 0, now, Caller::Internal);
        let mut more = false;
        for db in 0..x.st.ks.dbs.len() {
            loop {
                let d = &mut x.st.ks.dbs[db];
                if d.expires.is_empty() {
                    break;
                }
                let mut sampled = Vec::new();
                let mut cursor = d.expire_cursor;
                while sampled.len() < per_loop {
                    cursor = d.expires.scan_step(cursor, |k, _| sampled.push(k.to_vec()));
                    if cursor == 0 {
                        break;
                    }
                }
                d.expire_cursor = cursor;
                let n = sampled.len();
                let mut expired = 0;
                for k in sampled {
                    if x.expire_if_needed_in(db, &k) {
                        expired += 1;
                    }
                }
                // Keep going in this db while more than 10% of the sample was expired.
                if n == 0 || expired * 10 <= n || start.elapsed() >= budget {
                    more |= start.elapsed() >= budget && expired * 10 > n;
                    break;
                }
            }
            if start.elapsed() >= budget {
                more = true;
                break;
            }
        }
        let journal = std::mem::take(&mut x.journal);
        drop(x);
        if !journal.is_empty() {
            touch_watchers(&mut st, &journal);
            let _ = self.append(now, &journal);
        }
        more
    }

    /// Everything durable; stop the log.
    pub fn close(&self) {
        self.log.shutdown();
    }
}

impl Env for Engine {
    fn persistence_info(&self) -> Vec<(String, String)> {
        let s = self.log.stats();
        let failed = self.log.is_poisoned();
        let kv = |k: &str, v: String| (k.to_string(), v);
        vec![
            kv("loading", "0".into()),
            kv("async_loading", "0".into()),
            kv("current_cow_peak", "0".into()),
            kv("current_cow_size", "0".into()),
            kv("current_cow_size_age", "0".into()),
            kv("current_fork_perc", "0.00".into()),
            kv("current_save_keys_processed", "0".into()),
            kv("current_save_keys_total", "0".into()),
            kv("rdb_changes_since_last_save", "0".into()),
            kv("rdb_bgsave_in_progress", "0".into()),
            kv("rdb_last_save_time", (clock::now_ms() / 1000).to_string()),
            kv("rdb_last_bgsave_status", "ok".into()),
            kv("aof_enabled", "1".into()),
            kv("aof_rewrite_in_progress", "0".into()),
            kv("aof_rewrite_scheduled", "0".into()),
            kv("aof_last_rewrite_time_sec", "-1".into()),
            kv("aof_current_rewrite_time_sec", "-1".into()),
            kv("aof_last_bgrewrite_status", "ok".into()),
            kv("aof_rewrites", "0".into()),
            kv(
                "aof_last_write_status",
                if failed.is_some() { "err" } else { "ok" }.into(),
            ),
            kv("aof_last_cow_size", "0".into()),
            kv("aof_current_size", s.current_size.to_string()),
            kv("aof_base_size", "0".into()),
            kv("aof_pending_rewrite", "0".into()),
            kv("aof_buffer_length", "0".into()),
            kv("aof_pending_bio_fsync", "0".into()),
            kv("aof_delayed_fsync", "0".into()),
            kv(
                "strata_fsync_policy",
                format!("{:?}", s.fsync_policy).to_lowercase(),
            ),
            kv("strata_last_lsn", self.log.last_lsn().to_string()),
            kv("strata_durable_lsn", s.durable_lsn.to_string()),
            kv("strata_segments", s.segments.to_string()),
            kv("strata_fsyncs", s.fsyncs.to_string()),
            kv("strata_records_written", s.records_written.to_string()),
            kv(
                "strata_records_per_fsync",
                format!("{:.2}", s.mean_records_per_fsync),
            ),
            kv("strata_last_fsync_us", s.last_fsync_latency_us.to_string()),
            kv("strata_log_error", failed.unwrap_or_default()),
        ]
    }

    fn server_info(&self) -> Vec<(String, String)> {
        let up = self.started.elapsed().as_secs();
        let kv = |k: &str, v: String| (k.to_string(), v);
        vec![
            kv("process_id", std::process::id().to_string()),
            kv("tcp_port", self.port.load(Ordering::Relaxed).to_string()),
            kv("uptime_in_seconds", up.to_string()),
            kv("uptime_in_days", (up / 86400).to_string()),
            kv(
                "executable",
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            kv(
                "config_file",
                self.config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
        ]
    }

    fn log_failure(&self) -> Option<String> {
        self.log.is_poisoned()
    }

    fn read_back(&self) -> Result<Vec<LoggedUnit>, String> {
        self.log
            .wait_durable_blocking(self.log.last_lsn())
            .map_err(|e| e.to_string())?;
        let rec = Log::read_dir(&*self.vfs, &self.dir).map_err(|e| e.to_string())?;
        rec.records
            .iter()
            .map(|r| {
                decode_batch(&r.payload)
                    .map(|c| (r.ts_ms, c))
                    .map_err(|c| format!("record {} undecodable: {c:?}", r.lsn))
            })
            .collect()
    }

    fn shutdown(&self) {
        self.request_stop();
    }

    fn config_changed(&self, name: &str, config: &Config) {
        if name == "appendfsync" {
            self.log.set_fsync(policy(config.appendfsync));
        }
    }
}
