//! `Engine`: the engine lock (`State` behind a parking_lot mutex, never held across
//! `.await`) and the log. `execute` runs a command under the lock, appends its journal as
//! one record (so log order == apply order) and returns the LSN the reply must wait for:
//! under `appendfsync always` every record applied before the command ran, reads included.
//! Also startup recovery (snapshot load and replay, run while the server already serves:
//! `open_serving` then `recover`, with the engine `loading` meanwhile), the failure
//! latch's keyspace rebuild, the active expire cycle, and the `Env` services commands
//! reach (INFO persistence, DEBUG RELOAD, SHUTDOWN).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::clock;
use crate::cmd::exec::{Blocked, JournalEntry, LoggedUnit, WakeFn};
use crate::cmd::exec::{NoEnv, SnapshotRequest};
use crate::cmd::{dispatch, Caller, Env, Exec, State};
use crate::config::{Appendfsync, Config};
use crate::persist::batch::{decode_batch, encode_batch};
use crate::persist::io::Vfs;
use crate::persist::{FsyncPolicy, Log, LogOptions, RecoveredRecord, StorageError};
use crate::resp::Reply;

/// What a connection needs back from one command.
pub struct Outcome {
    /// The reply (sent only once `lsn` is durable).
    pub reply: Reply,
    /// The LSN that must be durable before the reply is written (0 = none).
    pub lsn: u64,
    /// Set when the command parked the client (BLPOP …): the connection waits for it
    /// instead of sending `reply`. (Boxed: an `Outcome` is moved once per command.)
    pub blocked: Option<Box<BlockWait>>,
}

/// A parked client's wait: served by a later unit through `rx`, or timed out.
pub struct BlockWait {
    /// Receives (reply, LSN of the record holding the effect).
    pub rx: tokio::sync::oneshot::Receiver<(Reply, u64)>,
    /// Absolute deadline, Unix ms (0 = forever). The reply on timeout is the parked
    /// entry's (`Engine::unblock`).
    pub deadline_ms: i64,
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
    /// CLIENT PAUSE holds the next command until this Unix ms (0 = not held).
    pub paused_until_ms: i64,
    /// The client is in MULTI (commands are queued).
    pub in_multi: bool,
    /// SCRIPT DEBUG YES|SYNC is on: commands run one at a time, and an EVAL runs as a
    /// debugging session (`Engine::execute_debug`).
    pub ldb: bool,
    /// The connection is this replica's link to its master.
    pub master_link: bool,
}

/// Replies a batch may produce before the rest of it waits for them to be sent.
const BATCH_REPLY_MAX: usize = 256 * 1024;

/// About how many bytes `r` encodes to: what a batch's replies hold until they are sent.
fn reply_weight(r: &Reply) -> usize {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => b.len() + 8,
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Many(v) => {
            v.iter().map(reply_weight).sum::<usize>() + 8
        }
        Reply::Map(v) | Reply::Attribute(v, _) => v
            .iter()
            .map(|(k, v)| reply_weight(k) + reply_weight(v))
            .sum::<usize>(),
        Reply::Bulks(b) => b.weight(),
        Reply::Simple(t) | Reply::Error(t) | Reply::DoubleText(t) | Reply::BigNumber(t) => {
            t.len() + 3
        }
        _ => 8,
    }
}

/// The engine shared by every connection.
pub struct Engine {
    /// `rename-command`'s names (the state's), readable while a script holds the engine.
    pub renames: Arc<crate::cmd::registry::Renames>,
    pub(super) state: Mutex<State>,
    /// The log.
    pub log: Arc<Log>,
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    /// Set once SHUTDOWN (or a fatal log failure) asks the server to stop.
    pub stopping: AtomicBool,
    /// Bytes written to clients since startup (INFO `total_net_output_bytes`; the
    /// connections write outside the engine lock, so it is not part of the state).
    pub net_output_bytes: std::sync::atomic::AtomicU64,
    /// Wakes the accept loop and background jobs on shutdown.
    pub stop_notify: tokio::sync::Notify,
    /// The connections', rung on shutdown.
    pub doorbells: super::doorbell::Doorbells,
    started: Instant,
    /// The bound port (INFO server).
    pub port: std::sync::atomic::AtomicU16,
    rebuilt_after_latch: AtomicBool,
    rebuilt_lsn: std::sync::atomic::AtomicU64,
    /// Config file path, if any (INFO server `config_file`).
    pub config_file: Option<PathBuf>,
    /// This engine's own handle, for the snapshot thread.
    me: std::sync::Weak<Engine>,
    /// Snapshot jobs: the running one and what the last ones did.
    snap: super::snapshot::Status,
    /// Held while a snapshot is installed and while DEBUG RELOAD reads the directory.
    installing: Mutex<()>,
    /// `busy-reply-threshold` (ms), mirrored for connections that cannot take the lock.
    busy_ms: std::sync::atomic::AtomicU64,
    /// The TCP listeners (CONFIG SET bind / port replaces them), once serving.
    pub listeners: std::sync::OnceLock<Arc<super::Listeners>>,
    /// Startup recovery is still running (`Engine::recover`): INFO shows `loading:1` and
    /// commands without Redis's `loading` flag are answered -LOADING (`dispatch`). Cleared
    /// under the state lock, once the recovered keyspace is in place.
    loading: AtomicBool,
    /// The recovery's progress (INFO persistence `loading_*`).
    load: LoadProgress,
    /// `key-load-delay`, mirrored for the recovery thread (CONFIG SET changes it mid-load).
    key_load_delay: AtomicI64,
    /// `rdb-key-save-delay`, mirrored for the snapshot walk (CONFIG SET changes it mid-save).
    key_save_delay: AtomicI64,
    /// Bumped by every REPLICAOF: a link task whose number is no longer this one stops.
    pub link_epoch: std::sync::atomic::AtomicU64,
    /// The bytes of full resync payloads the resync threads hold (`server::resync`).
    pub resync_bytes: AtomicU64,
    /// A background snapshot's buffers (not counted for maxmemory).
    snap_mem: super::snapshot::PipelineMem,
}

/// Startup recovery's progress, for INFO persistence: when it started (Unix s), the bytes
/// it reads (the snapshot file and the log records after it) and those done so far.
#[derive(Default)]
struct LoadProgress {
    start_s: AtomicI64,
    total: AtomicU64,
    loaded: AtomicU64,
    /// The last load's keys (INFO `rdb_last_load_keys_loaded`).
    keys_loaded: AtomicU64,
    /// Keys the last load found expired and dropped (INFO `rdb_last_load_keys_expired`).
    keys_expired: AtomicU64,
}

/// What startup recovery has left to do once the engine serves (`Engine::open_serving`):
/// load the snapshot the log continues from and replay the records after it.
pub struct Recovery {
    config: Config,
    snapshot: Option<(u64, PathBuf)>,
    records: Vec<RecoveredRecord>,
    /// When opening began, and how long reading the log took (for the recovery's log line).
    t0: Instant,
    t_read: Duration,
}

/// `key-load-delay` as the recovery thread applies it, per key loaded (a snapshot's keys,
/// a replayed record's commands): n > 0 sleeps n µs per key, n < 0 sleeps 1 µs every -n
/// keys (Redis sleeps 1 µs with a 1-in-n chance per key). The time owed is slept once it
/// reaches 1 ms, in slices of at most 10 ms, so the rate holds on average without a system
/// call per key; CONFIG SET takes effect at the next slice, and a stopping server stops
/// sleeping.
struct Pace<'a> {
    delay: &'a AtomicI64,
    stopping: &'a AtomicBool,
    owed_ns: u64,
}

impl Pace<'_> {
    fn keys(&mut self, n: u64) {
        let d = self.delay.load(Ordering::Relaxed);
        let ns = if d >= 0 {
            n.saturating_mul(d.unsigned_abs()).saturating_mul(1000)
        } else {
            n.saturating_mul(1000) / d.unsigned_abs()
        };
        self.owed_ns = self.owed_ns.saturating_add(ns);
        while self.owed_ns >= 1_000_000 {
            if self.stopping.load(Ordering::Acquire) || self.delay.load(Ordering::Relaxed) == 0 {
                self.owed_ns = 0;
                return;
            }
            let slice = self.owed_ns.min(10_000_000);
            std::thread::sleep(Duration::from_nanos(slice));
            self.owed_ns -= slice;
        }
    }
}

/// Commands a recovery replays between progress reports (and `key-load-delay` sleeps).
const REPLAY_STEP: usize = 256;

/// `key-load-delay` from `c`.
fn key_load_delay(c: &Config) -> i64 {
    int_setting(c, "key-load-delay")
}

/// An integer directive of `c` (0 when unset or not a number).
fn int_setting(c: &Config, name: &str) -> i64 {
    c.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
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
    /// The `aclfile` could not be loaded.
    #[error("Aborting startup because of ACL errors: {0}")]
    Acl(String),
    /// The server was asked to stop (SHUTDOWN, a signal) before recovery finished.
    #[error("recovery interrupted: the server is stopping")]
    Interrupted,
}

fn policy(a: Appendfsync) -> FsyncPolicy {
    match a {
        Appendfsync::Always => FsyncPolicy::Always,
        Appendfsync::Everysec => FsyncPolicy::Everysec,
        Appendfsync::No => FsyncPolicy::No,
    }
}

use crate::cmd::tracking::{journal_keys, modified_keys};

/// Break the WATCH of every client watching a key these effects changed (FLUSHDB,
/// FLUSHALL and SWAPDB flag their watchers themselves, before the data is gone).
/// (A client command's CLIENT TRACKING invalidations are sent by dispatch, command by
/// command; the background cycle's, `by_server`, here.)
fn touch_watchers(st: &mut State, journal: &[JournalEntry], by_server: bool) {
    if by_server {
        crate::cmd::tracking::invalidate_journal(st, journal, 0);
        crate::cmd::tracking::flush_bcast(st);
    }
    if st.watched_keys.is_empty() {
        return;
    }
    // Entry by entry, in order: an earlier effect in the unit (a SET of the key) has
    // flagged its watchers before a later DEL names it.
    for entry in journal {
        let by_del = entry
            .1
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"del") || n.eq_ignore_ascii_case(b"unlink"));
        for (db, key) in modified_keys(std::slice::from_ref(entry)) {
            st.touch_watched_as(db, &key, by_del);
        }
    }
}

/// `busy-reply-threshold` (alias `lua-time-limit`) in ms.
fn busy_ms(c: &Config) -> u64 {
    c.get("busy-reply-threshold")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

/// Buckets the background cycle moves per database and tick while a table is resized.
const REHASH_BUCKETS_PER_TICK: usize = 1000;

/// Redis's active expire knobs, scaled by `active-expire-effort` (1..=10) as Redis does:
/// each step above 1 samples 25% more keys per loop, lets a fast cycle run 25% longer,
/// gives the slow cycle 2% more of each period and tolerates 1% fewer stale keys.
#[derive(Clone, Copy, Debug)]
pub struct ExpireKnobs {
    /// Keys sampled per database per loop (20 at effort 1).
    pub keys_per_loop: usize,
    /// Longest fast cycle (1000 us at effort 1); fast cycles take at most half the time.
    pub fast_duration: Duration,
    /// Share of each `1000/hz` ms period the slow cycle may use, in percent (25 at effort 1).
    pub slow_time_perc: u32,
    /// A database's loop repeats while more than this percentage of its sample was stale.
    pub acceptable_stale: usize,
}

impl ExpireKnobs {
    /// The knobs for `active-expire-effort` `effort` (clamped to 1..=10).
    pub fn new(effort: u64) -> ExpireKnobs {
        let e = u32::try_from(effort.clamp(1, 10) - 1).unwrap_or(0);
        ExpireKnobs {
            keys_per_loop: 20 + 5 * e as usize,
            fast_duration: Duration::from_micros(1000 + 250 * u64::from(e)),
            slow_time_perc: 25 + 2 * e,
            acceptable_stale: 10 - e as usize,
        }
    }
}

/// The active expire cycle's state between slices and cycles (kept by the server's expire
/// task; Redis keeps the same in `activeExpireCycle`'s statics).
#[derive(Debug, Default)]
pub struct ExpireCycle {
    /// The database the cycle is in (Redis's `current_db`, taken modulo the count).
    db: usize,
    /// Databases this cycle still has to visit.
    dbs_left: usize,
    /// `start` was called: the next slice begins a cycle.
    begin: bool,
    /// A cycle is under way (it may span several slices).
    running: bool,
    /// Keys sampled and expired by the cycle so far.
    sampled: u64,
    expired: u64,
    /// Time the cycle's slices held the lock so far.
    worked: Duration,
    /// The last cycle ended at its time limit (Redis's `timelimit_exit`).
    pub timelimit_exit: bool,
    /// Running estimate of the stale share of keys with a TTL, in percent (Redis's
    /// `stat_expired_stale_perc`, 5% weight per cycle).
    pub stale_perc: f64,
    /// Cycles that ended at their time limit (Redis's `expired_time_cap_reached_count`).
    pub time_cap_reached: u64,
    /// The values last copied into INFO stats (see `publish`).
    published_perc: f64,
    published_caps: u64,
}

impl ExpireCycle {
    /// Begin a cycle with the next slice.
    pub fn start(&mut self) {
        self.begin = true;
        self.worked = Duration::ZERO;
    }

    /// Time the current cycle's slices held the lock so far.
    pub fn worked(&self) -> Duration {
        self.worked
    }

    /// True while a started cycle has databases left to visit.
    pub fn is_running(&self) -> bool {
        self.begin || self.running
    }

    /// End the cycle: `timed_out` if it ran out of time (the next cycle then visits every
    /// database, starting after the one it was in, and a fast cycle may follow).
    pub fn finish(&mut self, timed_out: bool) {
        if self.running && timed_out {
            self.db = self.db.wrapping_add(1);
            self.time_cap_reached += 1;
        }
        self.timelimit_exit = self.running && timed_out;
        self.begin = false;
        self.running = false;
        #[expect(clippy::cast_precision_loss, reason = "a ratio estimate")]
        let current = if self.sampled > 0 {
            self.expired as f64 * 100.0 / self.sampled as f64
        } else {
            0.0
        };
        self.stale_perc = current * 0.05 + self.stale_perc * 0.95;
        self.sampled = 0;
        self.expired = 0;
    }

    /// Copy the estimate and counters into INFO stats. A stale share that differs from the
    /// one last copied was zeroed by CONFIG RESETSTAT: the estimate restarts from it.
    fn publish(&mut self, stats: &mut crate::cmd::exec::Stats) {
        if stats.expired_stale_perc.to_bits() != self.published_perc.to_bits() {
            self.stale_perc = stats.expired_stale_perc;
        }
        stats.expired_stale_perc = self.stale_perc;
        self.published_perc = self.stale_perc;
        stats.expired_time_cap_reached_count += self.time_cap_reached - self.published_caps;
        self.published_caps = self.time_cap_reached;
    }

    /// Whether a fast cycle is wanted (Redis: the last cycle hit its time limit, or the
    /// estimated stale share is above the acceptable one).
    pub fn wants_fast(&self, knobs: &ExpireKnobs) -> bool {
        #[expect(clippy::cast_precision_loss, reason = "a small percentage")]
        let acceptable = knobs.acceptable_stale as f64;
        self.timelimit_exit || self.stale_perc > acceptable
    }
}

/// Redis's active rehashing: move some buckets of tables that are being resized, so a
/// resize finishes even when no writes arrive (each write moves one bucket): up to
/// `REHASH_BUCKETS_PER_TICK` per table, in chunks, until `limit` after `start` (moving a
/// bucket rehashes its keys, and a shrinking table of a million keys takes a while).
fn active_rehash(st: &mut State, start: Instant, limit: Duration) {
    const CHUNK: usize = 100;
    for d in &mut st.ks.dbs {
        let mut left = REHASH_BUCKETS_PER_TICK;
        while left > 0 && start.elapsed() < limit {
            let keys = d.dict.rehash_some(CHUNK);
            let ttls = d.expires.rehash_some(CHUNK);
            if !keys && !ttls {
                break;
            }
            left = left.saturating_sub(CHUNK);
        }
    }
}

/// What one slice of the active expire cycle did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireSlice {
    /// Nothing ran: active expiry is off, the log failed, or the lock was busy.
    Skipped,
    /// The cycle (and any background eviction) is complete.
    Done,
    /// The slice ran out of time with work left in the cycle or an eviction run.
    More,
}

/// Why a background snapshot did not start.
enum Busy {
    Running,
    Failed(String),
}

/// The thresholds snapshot values are rebuilt with (the configured listpack/intset sizes).
pub fn build_limits(c: &Config) -> crate::persist::snapshot_codec::BuildLimits {
    crate::persist::snapshot_codec::BuildLimits {
        hash: crate::db::hash::Limits {
            max_entries: c.hash_max_listpack_entries,
            max_value: c.hash_max_listpack_value,
        },
        zset: crate::db::zset::Limits {
            entries: c.zset_max_listpack_entries,
            value: c.zset_max_listpack_value,
        },
        set_max_intset: c.set_max_intset_entries,
        list_fill: c.list_max_listpack_size,
    }
}

/// Read, verify and decode the snapshot at `path` (of `lsn`) with `config`'s thresholds.
fn load_snapshot(
    vfs: &dyn Vfs,
    path: &std::path::Path,
    lsn: u64,
    config: &Config,
) -> Result<crate::persist::snapshot::LoadedSnapshot, StorageError> {
    crate::persist::snapshot::load_snapshot_file(
        vfs,
        path,
        Some(lsn),
        usize::try_from(config.databases).unwrap_or(16),
        &build_limits(config),
        clock::now_ms(),
    )
}

/// Register the function libraries a snapshot holds.
fn load_libraries(st: &mut State, libs: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
    for (name, code) in libs {
        st.functions
            .load(code, false, None)
            .map_err(|e| format!("function library {}: {e}", String::from_utf8_lossy(name)))?;
    }
    Ok(())
}

/// The recovery's log line: what was recovered and how long each phase took (`t_read`,
/// `t_snapshot` and `t_ready` measured from the start of opening).
fn log_recovered(
    config: &Config,
    snapshot_lsn: u64,
    records: usize,
    keys: usize,
    t_read: Duration,
    t_snapshot: Duration,
    t_ready: Duration,
) {
    tracing::info!(
        snapshot_lsn,
        records,
        keys,
        read_log_ms = t_read.as_millis() as u64,
        load_snapshot_ms = (t_snapshot - t_read).as_millis() as u64,
        replay_ms = (t_ready - t_snapshot).as_millis() as u64,
        ready_ms = t_ready.as_millis() as u64,
        "recovered data directory {}",
        config.dir.display()
    );
}

/// Apply recovered units to a fresh state.
pub fn replay_units(
    st: &mut State,
    units: &[(u64, i64, Vec<JournalEntry>)],
) -> Result<(), (u64, String)> {
    // Replayed writes are not changes since the last save (Redis starts with dirty 0).
    let dirty = st.dirty;
    for (lsn, ts, cmds) in units {
        let mut x = Exec::new(st, &NoEnv, 0, *ts, Caller::Replay);
        dispatch::replay(&mut x, cmds).map_err(|e| (*lsn, e))?;
    }
    st.dirty = dirty;
    Ok(())
}

impl Engine {
    /// Count `n` bytes written to a client (INFO `total_net_output_bytes`).
    pub fn sent(&self, n: usize) {
        self.net_output_bytes
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Open the data directory, recover, and return the engine (recovery on the calling
    /// thread, before anyone is served: `strata dump`).
    pub fn open(
        config: Config,
        vfs: Arc<dyn Vfs>,
        config_file: Option<PathBuf>,
    ) -> Result<Arc<Engine>, OpenError> {
        let (engine, recovery) = Engine::open_serving(config, vfs, config_file)?;
        if let Some(r) = recovery {
            engine.recover(r)?;
        }
        Ok(engine)
    }

    /// Open the log (lock the directory, read and validate every segment, cut a torn tail)
    /// and return an engine ready to serve. When the directory holds data, the engine is
    /// `loading` (its keyspace empty, every command without Redis's `loading` flag refused
    /// with -LOADING) until the returned [`Recovery`] has run through
    /// [`Engine::recover`]; an empty directory needs none.
    pub fn open_serving(
        config: Config,
        vfs: Arc<dyn Vfs>,
        config_file: Option<PathBuf>,
    ) -> Result<(Arc<Engine>, Option<Recovery>), OpenError> {
        let t0 = Instant::now();
        let opts = LogOptions {
            dir: config.dir.clone(),
            fsync: policy(config.appendfsync),
            segment_size: config.segment_size,
        };
        let (log, recovered) = Log::open(vfs.clone(), opts)?;
        let t_read = t0.elapsed();
        let mut st = State::new(config.clone(), clock::now_ms());
        crate::cmd::acl::load_at_startup(&mut st).map_err(OpenError::Acl)?;
        let snap_status = super::snapshot::SnapStatus {
            last_duration_s: -1,
            ..Default::default()
        };
        let pending = recovered.snapshot.is_some() || !recovered.records.is_empty();
        let load = LoadProgress::default();
        if pending {
            // (A snapshot that cannot be measured fails its load, which reports it.)
            let snapshot_bytes = recovered
                .snapshot
                .as_ref()
                .map_or(0, |(_, p)| vfs.file_len(p).unwrap_or(0));
            let records: u64 = recovered
                .records
                .iter()
                .map(|r| r.payload.len() as u64)
                .sum();
            load.total
                .store(snapshot_bytes + records, Ordering::Relaxed);
            load.start_s
                .store(clock::now_ms() / 1000, Ordering::Relaxed);
        } else {
            log_recovered(&config, 0, 0, 0, t_read, t_read, t0.elapsed());
        }
        let recovery = pending.then(|| Recovery {
            config: config.clone(),
            snapshot: recovered.snapshot,
            records: recovered.records,
            t0,
            t_read,
        });
        let renames = st.renames.clone();
        let engine = Arc::new_cyclic(|me| Engine {
            renames,
            state: Mutex::new(st),
            log: Arc::new(log),
            vfs,
            dir: config.dir.clone(),
            stopping: AtomicBool::new(false),
            net_output_bytes: std::sync::atomic::AtomicU64::new(0),
            stop_notify: tokio::sync::Notify::new(),
            doorbells: Default::default(),
            started: Instant::now(),
            port: std::sync::atomic::AtomicU16::new(config.port),
            rebuilt_after_latch: AtomicBool::new(false),
            rebuilt_lsn: std::sync::atomic::AtomicU64::new(0),
            config_file,
            me: me.clone(),
            snap: Arc::new(Mutex::new(snap_status)),
            installing: Mutex::new(()),
            busy_ms: std::sync::atomic::AtomicU64::new(busy_ms(&config)),
            listeners: std::sync::OnceLock::new(),
            loading: AtomicBool::new(pending),
            load,
            key_load_delay: AtomicI64::new(key_load_delay(&config)),
            key_save_delay: AtomicI64::new(int_setting(&config, "rdb-key-save-delay")),
            link_epoch: std::sync::atomic::AtomicU64::new(0),
            resync_bytes: AtomicU64::new(0),
            snap_mem: super::snapshot::PipelineMem::default(),
        });
        Ok((engine, recovery))
    }

    /// Whether startup recovery is still running.
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    /// Run startup recovery on the calling thread (the server runs it on a thread of its
    /// own while it serves): load the snapshot and replay the log into a keyspace of its
    /// own, applying `key-load-delay` and reporting progress, then, under the state lock,
    /// put the keyspace and function libraries in place and end `loading`. Nothing is
    /// written. Fails as startup always did (a damaged snapshot, a record that does not
    /// replay), or with `Interrupted` once the server is stopping; `loading` then stays set.
    pub fn recover(&self, r: Recovery) -> Result<(), OpenError> {
        let Recovery {
            config,
            snapshot,
            records,
            t0,
            t_read,
        } = r;
        let dir = || config.dir.display().to_string();
        let stopped = || {
            if self.stopping.load(Ordering::Acquire) {
                Err(OpenError::Interrupted)
            } else {
                Ok(())
            }
        };
        let mut pace = Pace {
            delay: &self.key_load_delay,
            stopping: &self.stopping,
            owed_ns: 0,
        };
        let mut st = State::new(config.clone(), clock::now_ms());
        let mut snap_info = None;
        if let Some((lsn, path)) = &snapshot {
            let mut keys_seen = 0;
            let loaded = crate::persist::snapshot::load_snapshot_file_observed(
                &*self.vfs,
                path,
                Some(*lsn),
                usize::try_from(config.databases).unwrap_or(16),
                &build_limits(&config),
                clock::now_ms(),
                &mut |at, keys| {
                    self.load.loaded.store(at, Ordering::Relaxed);
                    pace.keys(keys.saturating_sub(keys_seen) as u64);
                    keys_seen = keys;
                },
            )?;
            let info = loaded.info;
            self.load.loaded.store(info.file_bytes, Ordering::Relaxed);
            st.ks = loaded.ks;
            load_libraries(&mut st, &loaded.libraries).map_err(|why| OpenError::Replay {
                lsn: *lsn,
                why,
                dir: dir(),
            })?;
            st.lastsave = info.created_ms / 1000;
            snap_info = Some((*lsn, info));
        }
        stopped()?;
        let t_snapshot = t0.elapsed();
        let mut units = Vec::with_capacity(records.len());
        for r in &records {
            let cmds = decode_batch(&r.payload).map_err(|c| OpenError::Replay {
                lsn: r.lsn,
                why: format!("undecodable batch: {c:?}"),
                dir: dir(),
            })?;
            units.push((r.lsn, r.ts_ms, cmds, r.payload.len() as u64));
        }
        drop(records);
        for (lsn, ts, cmds, bytes) in &units {
            stopped()?;
            let mut x = Exec::new(&mut st, &NoEnv, 0, *ts, Caller::Replay);
            // A record may hold many commands (DEBUG POPULATE's, an EXEC's): progress and
            // the delay advance every `REPLAY_STEP` of them.
            let (mut done, mut counted) = (0, 0);
            for step in cmds.chunks(REPLAY_STEP) {
                if done > 0 {
                    stopped()?;
                }
                dispatch::replay(&mut x, step).map_err(|why| OpenError::Replay {
                    lsn: *lsn,
                    why,
                    dir: dir(),
                })?;
                done += step.len();
                let share = *bytes * done as u64 / cmds.len() as u64;
                self.load
                    .loaded
                    .fetch_add(share - counted, Ordering::Relaxed);
                counted = share;
                pace.keys(step.len() as u64);
            }
            self.load
                .loaded
                .fetch_add(*bytes - counted, Ordering::Relaxed);
        }
        stopped()?;
        log_recovered(
            &config,
            snapshot.as_ref().map_or(0, |s| s.0),
            units.len(),
            st.ks.total_keys(),
            t_read,
            t_snapshot,
            t0.elapsed(),
        );
        drop(units);
        // Into the engine's state: what recovery builds is the keyspace and the function
        // libraries (as DEBUG RELOAD rebuilds); the rest of `st` (its statistics, its
        // config copy) stays behind.
        let mut live = self.state.lock();
        std::mem::swap(&mut live.ks, &mut st.ks);
        std::mem::swap(&mut live.functions, &mut st.functions);
        if let Some((lsn, info)) = snap_info {
            live.lastsave = st.lastsave;
            let mut s = self.snap.lock();
            s.lsn = Some(lsn);
            s.file_bytes = info.file_bytes;
            s.raw_bytes = info.raw_bytes;
            s.items = info.items;
        }
        let now = clock::now_ms();
        if let Some(info) =
            crate::persist::repl_info::take(&*self.vfs, &self.dir, self.log.last_lsn())
        {
            crate::cmd::repl::restore_position(&mut live, info.replid, info.offset, info.db, now);
        }
        let expired = crate::cmd::repl::drop_expired_at_start(&mut live, now);
        self.load.keys_expired.store(expired, Ordering::Relaxed);
        self.load
            .keys_loaded
            .store(live.ks.total_keys() as u64, Ordering::Relaxed);
        self.loading.store(false, Ordering::Release);
        drop(live);
        // (The interim keyspace is freed off the lock.)
        drop(st);
        Ok(())
    }

    /// Run `f` with the state locked (tests, connection bookkeeping).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock())
    }

    /// Run `f` if the state lock is free right now; else hand `f` back.
    pub fn try_with_state_once<R, F: FnOnce(&mut State) -> R>(&self, f: F) -> Result<R, F> {
        match self.state.try_lock() {
            Some(mut g) => Ok(f(&mut g)),
            None => Err(f),
        }
    }

    /// The state's identity (its address), by which a script's busy desk serves only the
    /// requests of its own engine's connections (`cmd::busy`).
    pub fn state_key(&self) -> usize {
        self.state.data_ptr() as usize
    }

    /// `busy-reply-threshold` in ms, readable while a script holds the state.
    pub fn busy_threshold_ms(&self) -> u64 {
        self.busy_ms.load(Ordering::Relaxed)
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
        qbuf: crate::cmd::client::QueryBuf,
    ) -> ConnView {
        let st = self.state.lock();
        self.execute_many_in(st, client_id, batch, out, bytes_in, qbuf)
    }

    /// Run one command (an EVAL of a client in SCRIPT DEBUG mode) with `link`, the
    /// connection's side of the debugging session, handed to the client for it. The
    /// session runs under the engine lock, like any script: the calling thread blocks in
    /// it until the script ends, while the connection pumps `link` from another thread.
    pub fn execute_debug(
        &self,
        client_id: u64,
        argv: &[Bytes],
        link: crate::script::debugger::Link,
        out: &mut Vec<Outcome>,
        bytes_in: u64,
        qbuf: crate::cmd::client::QueryBuf,
    ) -> ConnView {
        let mut st = self.state.lock();
        if let Some(c) = st.clients.map.get_mut(&client_id) {
            c.ldb_link = Some(link);
        }
        let view = self.execute_many_in(
            st,
            client_id,
            std::slice::from_ref(&argv.to_vec()),
            out,
            bytes_in,
            qbuf,
        );
        // Not taken (the EVAL was refused before it ran, or queued by MULTI): drop it.
        if let Some(c) = self.state.lock().clients.map.get_mut(&client_id) {
            c.ldb_link = None;
        }
        view
    }

    /// [`Engine::execute_many`] if the engine is free now; `None` (nothing run) if someone
    /// holds it. A connection thread must not wait for the lock: a script holding it
    /// would stop the thread and every connection it serves, SCRIPT KILL included.
    pub fn try_execute_many(
        &self,
        client_id: u64,
        batch: &[Vec<Bytes>],
        out: &mut Vec<Outcome>,
        bytes_in: u64,
        qbuf: crate::cmd::client::QueryBuf,
    ) -> Option<ConnView> {
        let st = self.state.try_lock()?;
        Some(self.execute_many_in(st, client_id, batch, out, bytes_in, qbuf))
    }

    fn execute_many_in(
        &self,
        mut st: parking_lot::MutexGuard<'_, State>,
        client_id: u64,
        batch: &[Vec<Bytes>],
        out: &mut Vec<Outcome>,
        bytes_in: u64,
        qbuf: crate::cmd::client::QueryBuf,
    ) -> ConnView {
        st.stats.net_input_bytes += bytes_in;
        if let Some(c) = st.clients.map.get_mut(&client_id) {
            c.qbuf = qbuf;
        }
        // One clock reading per batch: every command of a pipelined batch runs at the same
        // logical time (Redis likewise caches the time per event-loop iteration).
        let now = clock::now_ms();
        if batch.len() > 1 || batch.first().is_some_and(|a| a.len() > 3) {
            Self::warm_keys(&st, client_id, batch);
        }
        let mut paused_until_ms = 0;
        let mut loan_wait = false;
        if batch.len() > 1 {
            st.clock_mark = Some(Instant::now());
        }
        let mut reply_bytes = 0;
        // The master link (REPLICAOF): its stream runs unanswered and moves the offset.
        // (Only a server with a master link, live or ending, looks: a master pays no
        // lookup for it.)
        let master = st.replicas.master_links > 0
            && st
                .clients
                .map
                .get(&client_id)
                .is_some_and(|c| c.master_link);
        for (i, argv) in batch.iter().enumerate() {
            if master && st.replicas.master_client != Some(client_id) {
                // A link REPLICAOF replaced or ended: nothing more of its stream runs.
                break;
            }
            if reply_bytes > BATCH_REPLY_MAX {
                // Big replies: the rest of the batch runs once these are encoded and sent,
                // so a pipeline of them does not hold them all in memory at once.
                break;
            }
            // `rename-command`: the command the client means, by its own name, for every
            // step below (the pause, the loan, parking, EXEC's queue); a name taken away
            // is an unknown command, answered at once as Redis does.
            // (The full resync's own commands on the master link use the commands' own
            // names: they are not the master's, and a replica loads its payload whatever
            // it renamed.)
            let sent = argv;
            let synthetic = master
                && st
                    .clients
                    .map
                    .get(&client_id)
                    .is_some_and(|c| c.repl_skip > 0);
            let own = if synthetic {
                Some(std::borrow::Cow::Borrowed(&argv[..]))
            } else {
                st.renames.own_argv(argv)
            };
            let gone = own.is_none();
            let argv = own.as_deref().unwrap_or(argv);
            if gone {
                let mut o = self.execute_locked(&mut st, client_id, argv, now, true);
                if master {
                    Self::master_command_ran(&mut st, client_id, sent, &mut o);
                }
                out.push(o);
                continue;
            }
            if let Some(until) = dispatch::paused_until(&mut st, client_id, argv, now) {
                // CLIENT PAUSE: this and the rest of the batch wait (the connection retries).
                paused_until_ms = until;
                break;
            }
            if dispatch::waits_for_loan(&mut st, client_id, argv, now) {
                // A snapshot is encoding a large value this changes: retry in a moment.
                loan_wait = true;
                break;
            }
            if let Some(c) = st.clients.map.get_mut(&client_id) {
                c.replies_pending = i > 0;
            }
            let mut o = self.execute_locked(&mut st, client_id, argv, now, false);
            if master {
                // (The offset moves by the bytes the master sent, whatever the name.)
                Self::master_command_ran(&mut st, client_id, sent, &mut o);
            }
            reply_bytes += reply_weight(&o.reply);
            // A parked client (BLPOP …) runs nothing more until it is served, as in Redis.
            let parked = o.blocked.is_some();
            out.push(o);
            // SCRIPT DEBUG YES|SYNC: the connection takes the rest one command at a time.
            if parked
                || st.clients.map.get(&client_id).is_none_or(|c| {
                    c.close_after_reply || c.ldb != crate::script::debugger::Mode::Off
                })
            {
                break;
            }
        }
        st.clock_mark = None;
        crate::cmd::tracking::flush_bcast(&mut st);
        // A client held by CLIENT PAUSE counts as blocked (INFO blocked_clients), as in Redis.
        if let Some(c) = st.clients.map.get_mut(&client_id) {
            c.paused = paused_until_ms > 0;
            // The batch's bytes leave the buffer; their room stays (Redis's sdsrange).
            c.qbuf.free += c.qbuf.len - c.qbuf.rest;
            c.qbuf.len = c.qbuf.rest;
            c.publish_qbuf();
            if let Some(m) = &c.out {
                // A subscribed client's output limits are the pubsub class's.
                let subscribed = c.subscription_count() + c.shard_channels.len() > 0;
                m.pubsub.store(subscribed, Ordering::Relaxed);
            }
        }
        if st.clients.limits.evicting() {
            // Client eviction after each batch (Redis: after each command and before
            // sleeping): the batch may have grown this client's queue, watches or
            // subscriptions.
            st.clients.evict_clients();
        }
        let mut view = Self::view(&st, client_id);
        view.paused_until_ms = if loan_wait { now + 1 } else { paused_until_ms };
        view
    }

    /// After a command of the master's stream ran: its bytes move the replica's offset
    /// (the full sync's own commands move none), and its reply goes nowhere, as a
    /// replica answers its master nothing (REPLCONF GETACK answers by itself). An error
    /// is logged: the replica's dataset may now differ from its master's.
    fn master_command_ran(st: &mut State, client_id: u64, argv: &[Bytes], o: &mut Outcome) {
        let reply = std::mem::replace(&mut o.reply, Reply::Many(Vec::new()));
        if matches!(&reply, Reply::Error(e) if e.starts_with("MISCONF")) {
            // The log refuses writes: what the master sent is not applied, so the link
            // ends here rather than acknowledge it (it comes back once the log does).
            tracing::warn!("The log refuses writes: disconnecting from the master");
            crate::cmd::repl::end_master_link(st, clock::now_ms());
            return;
        }
        if let Some(c) = st.clients.map.get_mut(&client_id) {
            let n = crate::cmd::repl::stream_len(argv);
            let skipped = n.min(c.repl_skip);
            c.repl_skip -= skipped;
            if skipped < n {
                // The master's bytes (as it sent them: a RESP array of bulk strings).
                let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
                crate::cmd::repl::push_command(&mut c.repl_pending, &args);
            }
            if c.multi.is_none() && !c.repl_pending.is_empty() {
                // Processed (a transaction once its EXEC ran): the offset moves, and the
                // bytes go on to this replica's own replicas.
                let done = std::mem::take(&mut c.repl_pending);
                c.repl_offset += done.len() as u64;
                crate::cmd::repl::relay(st, &done);
            } else if skipped > 0 && c.repl_skip == 0 {
                // The full resync's commands have all run: the master's stream follows.
                let offset = c.repl_offset;
                crate::cmd::repl::full_resync_done(st, offset);
                let now = clock::now_ms();
                st.replicas.set_link(crate::cmd::repl::Link::Up, now);
                // (The master hears at once that the payload is in place.)
                crate::cmd::repl::send_ack(st, now);
            }
        }
        if let Reply::Error(e) = reply {
            st.replicas.unexpected_error_replies += 1;
            let name = argv
                .first()
                .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase());
            tracing::warn!(
                "== CRITICAL == This replica is sending an error to its master: '{e}' after processing the command '{}'",
                name.unwrap_or_default()
            );
        }
    }

    /// The background cycle's effects (expiry and eviction DELs): WATCHes broken,
    /// replicas fed, the log appended (a failed append latches the log by itself).
    fn log_background(&self, st: &mut State, now: i64, journal: &[crate::cmd::exec::JournalEntry]) {
        if journal.is_empty() {
            return;
        }
        touch_watchers(st, journal, true);
        crate::cmd::repl::feed(st, journal, crate::cmd::repl::Unit::Background);
        let _ = self.append(now, journal);
    }

    /// Before a pipelined batch runs: bring the keyspace entries its commands name first
    /// into the cache together (see `Dict::warm`), in the client's selected database.
    fn warm_keys(st: &State, client_id: u64, batch: &[Vec<Bytes>]) {
        let db = st.clients.map.get(&client_id).map_or(0, |c| c.db);
        let Some(d) = st.ks.dbs.get(db) else {
            return;
        };
        // Argument 1 is the first key of nearly every keyed command; guessing wrong (CLIENT
        // LIST …) costs one useless hash and load, cheaper than a command-table lookup.
        // Longer commands (MGET, MSET, DEL of many keys …) warm every key they name.
        let mut keys: Vec<&[u8]> = Vec::with_capacity(batch.len().min(64));
        // (A pipeline mostly repeats one command: the previous lookup is reused for the
        // same name, as sent.)
        let mut last: Option<(&[u8], &crate::cmd::CommandSpec)> = None;
        for argv in batch {
            if argv.len() > 3 {
                let spec = match last {
                    Some((name, spec)) if *name == *argv[0] && spec.subcommands.is_empty() => {
                        Ok(spec)
                    }
                    _ => crate::cmd::COMMANDS.lookup(argv),
                };
                if let Ok(spec) = spec {
                    last = Some((&argv[0], spec));
                    keys.extend(
                        spec.key_positions(argv.len())
                            .iter()
                            .filter_map(|&i| argv.get(i))
                            .map(|k| &k[..]),
                    );
                }
            } else if argv.len() > 1 {
                keys.push(&argv[1]);
            }
        }
        d.dict.warm(keys.into_iter(), |e| match &e.value {
            crate::db::value::Value::Str(s) => s.first().copied().unwrap_or(0),
            _ => 0,
        });
        // Then the sorted-set members ZSCORE/ZRANK look up, and the set members SISMEMBER/
        // SADD/SREM do (helper TYPES).
        crate::cmd::zset::warm_members(d, batch);
        crate::cmd::set::warm_members(d, batch);
    }

    /// The connection-relevant settings for `client_id` from a locked state.
    pub fn view(st: &State, client_id: u64) -> ConnView {
        let c = st.clients.map.get(&client_id);
        ConnView {
            resp: c.map_or(2, |c| c.resp),
            close: c.is_none_or(|c| c.close_after_reply),
            authenticated: c.is_some_and(|c| c.authenticated) || !st.acl.auth_required,
            max_bulk_len: st.config.proto_max_bulk_len,
            // (The master link is never timed out as an idle client.)
            timeout_s: if c.is_some_and(|c| c.master_link) {
                0
            } else {
                st.config.timeout
            },
            query_buffer_limit: st.config.client_query_buffer_limit,
            paused_until_ms: 0,
            in_multi: c.is_some_and(|c| c.multi.is_some()),
            ldb: c.is_some_and(|c| c.ldb != crate::script::debugger::Mode::Off),
            master_link: c.is_some_and(|c| c.master_link),
        }
    }

    fn execute_locked(
        &self,
        st: &mut State,
        client_id: u64,
        argv: &[Bytes],
        now: i64,
        renamed_away: bool,
    ) -> Outcome {
        if self.log.is_poisoned().is_some() && !self.rebuilt_after_latch.load(Ordering::Acquire) {
            self.rebuild_after_latch(st, false);
        }
        let mut x = Exec::new(st, self, client_id, now, Caller::Client);
        x.renamed_away = renamed_away;
        let mut reply = dispatch::call(&mut x, argv);
        let block = x.block.take();
        let db = x.db;
        let mut journal = std::mem::take(&mut x.journal);
        let own_form = std::mem::take(&mut x.repl);
        let evicted = x.evicted_effects;
        drop(x);
        let own_effects = journal.len();
        if !journal.is_empty()
            && st.replicas.master.is_some()
            && st.replicas.master_client != Some(client_id)
        {
            // A client's write on a writable replica: its TTLs are this replica's to expire.
            crate::cmd::repl::track_local_ttls(st, &journal);
        }
        // Clients parked on keys this unit wrote are served inside this unit: their effects
        // go into the same record, in FIFO order (Redis's semantics for BLPOP and friends).
        let mut wakes = Vec::new();
        let mut served_form = crate::cmd::repl::ReplicaForm::default();
        if !st.blocked.clients.is_empty() && !journal.is_empty() {
            // A key that expired by the time the unit ends (EXEC … DEBUG SLEEP) wakes
            // nobody, as Redis serves them after the command; the served commands run at
            // the unit's time, the one its record carries, so replay stamps what they
            // stamp (XREADGROUP's delivery and seen times) the same.
            let at = clock::now_ms().max(now);
            self.serve_blocked(st, now, at, &mut journal, &mut wakes, &mut served_form);
        }
        let mut lsn_of_unit = 0;
        // Whether the log has the unit (trivially, when it wrote nothing).
        let mut logged = journal.is_empty();
        if !journal.is_empty() && self.is_loading() {
            // Nothing is written while loading: dispatch refuses every command that could
            // write. One that did anyway changed only the interim keyspace recovery
            // replaces; its effects never reach the log.
            tracing::error!("a command wrote while loading; its effects are not logged");
            reply = Reply::Error(crate::cmd::error::LOADING.into());
        } else if !journal.is_empty() {
            touch_watchers(st, &journal, false);
            match self.append(now, &journal) {
                Ok(lsn) => {
                    lsn_of_unit = lsn;
                    logged = true;
                }
                Err(e) => {
                    // The unit's changes are in memory but not in the log. A record over the
                    // size limit latches the log as a failed write would (nothing is
                    // acknowledged past this point); either way memory is rebuilt from the
                    // log, so no reader sees, and no later record builds on, what was not
                    // logged.
                    // (Once rebuilt after a latch, a refused append can only be a lazy
                    // expiry's DEL: a key already gone logically, no rebuild needed.)
                    let too_large = matches!(e, StorageError::RecordTooLarge { .. });
                    if too_large {
                        self.log.latch(&e);
                    }
                    if self.log.is_poisoned().is_some()
                        && (too_large || !self.rebuilt_after_latch.load(Ordering::Acquire))
                    {
                        self.rebuild_after_latch(st, true);
                    }
                    // Clients this unit served (a BLPOP's pop) wait for an LSN never
                    // reached: the latch fails their wait with an error, not a reply for a
                    // change that was not logged.
                    lsn_of_unit = u64::MAX;
                    reply = Reply::Error(format!("MISCONF Errors writing to the AOF file: {e}"))
                }
            }
        }
        // Replicas get the unit once the log has it (a unit the log refused, which memory
        // was rebuilt without, never reaches them).
        if logged && st.replicas.streaming() && (!journal.is_empty() || !own_form.is_empty()) {
            let arbitrary_keys = argv
                .first()
                .is_some_and(|c| crate::cmd::repl::touches_arbitrary_keys(c));
            if own_form.is_empty() && served_form.is_empty() {
                let unit = crate::cmd::repl::Unit::Command {
                    own: own_effects,
                    evicted,
                    arbitrary_keys,
                };
                crate::cmd::repl::feed(st, &journal, unit);
            } else {
                // (Replicas get PUBLISH, and XREADGROUP as the XCLAIMs it made.)
                let (mine, served) = journal.split_at(own_effects);
                let mut feed = own_form.apply(mine);
                let own = feed.len();
                feed.extend(served_form.apply(served));
                let unit = crate::cmd::repl::Unit::Command {
                    own,
                    evicted,
                    arbitrary_keys,
                };
                crate::cmd::repl::feed(st, &feed, unit);
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
                    timeout_reply: b.timeout_reply,
                },
            );
            Box::new(BlockWait {
                rx,
                deadline_ms: b.deadline_ms,
            })
        });
        Outcome {
            reply,
            lsn: required,
            blocked,
        }
    }

    /// Serve parked clients whose keys this unit may have made ready: re-run each one's
    /// command as that client at `now` (the unit's time), oldest first per key; a command
    /// that would block again leaves its client (and every later one on that key) parked.
    /// A key that has expired by `at` (the unit's end) is deleted first, so it wakes
    /// nobody. Effects (that DEL included) join `journal`.
    fn serve_blocked(
        &self,
        st: &mut State,
        now: i64,
        at: i64,
        journal: &mut Vec<JournalEntry>,
        wakes: &mut Vec<(WakeFn, Reply)>,
        form: &mut crate::cmd::repl::ReplicaForm,
    ) {
        let base = journal.len();
        let mut queue: std::collections::VecDeque<(usize, Bytes)> = journal_keys(journal).into();
        // SWAPDB names no keys: every key waited on in either database may be ready now.
        for (_, argv) in journal.iter() {
            if argv.len() == 3 && argv[0].eq_ignore_ascii_case(b"swapdb") {
                let dbs: Vec<usize> = argv[1..]
                    .iter()
                    .filter_map(|a| std::str::from_utf8(a).ok()?.parse().ok())
                    .collect();
                queue.extend(
                    st.blocked
                        .by_key
                        .keys()
                        .filter(|(d, _)| dbs.contains(d))
                        .cloned(),
                );
            }
        }
        let mut rounds = 0;
        while let Some((db, key)) = queue.pop_front() {
            rounds += 1;
            if rounds > 100_000 {
                break;
            }
            let waiting = st.blocked.waiting_on(db, &key);
            if at > now {
                if let Some(&first) = waiting.first() {
                    let mut e = Exec::new(st, self, first, at, Caller::Client);
                    let expired = e.expire_if_needed_in(db, &key);
                    let effects = std::mem::take(&mut e.journal);
                    drop(e);
                    journal.extend(effects);
                    if expired {
                        continue;
                    }
                }
            }
            for cid in waiting {
                let Some(argv) = st.blocked.clients.get(&cid).map(|b| b.argv.clone()) else {
                    continue;
                };
                let mut y = Exec::new(st, self, cid, now, Caller::Client);
                y.db = db;
                y.rerun = true;
                let r = dispatch::call(&mut y, &argv);
                let again = y.block.take().is_some();
                let effects = std::mem::take(&mut y.journal);
                form.append(std::mem::take(&mut y.repl), journal.len() - base);
                drop(y);
                if again {
                    // A key it found expired was deleted: that DEL is an effect even though
                    // the client waits on.
                    journal.extend(effects);
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

    /// A parked client's wait ended without being served (timeout, disconnect): unpark it
    /// and return its timeout reply as it stands now (WAIT's counts the replicas that
    /// acknowledged meanwhile). None if it was already served (its reply is in its channel).
    /// (Without blocking a runtime thread while a script holds the state.)
    pub async fn unblock(&self, client_id: u64) -> Option<Reply> {
        self.with_state_async(|st| {
            let b = st.blocked.remove(client_id)?;
            dispatch::count_unblocked(st, &b.argv, None);
            Some(b.timeout_reply)
        })
        .await
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
    /// `unlogged`: memory also holds a unit whose record was refused, so the rebuild is due
    /// even when every logged record is durable.
    fn rebuild_after_latch(&self, st: &mut State, unlogged: bool) {
        let durable = self.log.durable_lsn();
        self.rebuilt_lsn.store(durable, Ordering::Release);
        self.rebuilt_after_latch.store(true, Ordering::Release);
        if durable == self.log.last_lsn() && !unlogged {
            return;
        }
        tracing::error!(durable, "log latched with non-durable records applied; rebuilding the keyspace from the durable prefix");
        match Log::read_dir(&*self.vfs, &self.dir) {
            Ok(rec) => {
                let mut fresh = crate::db::Keyspace::new(st.ks.dbs.len());
                if let Some((lsn, path)) = &rec.snapshot {
                    match load_snapshot(&*self.vfs, path, *lsn, &st.config) {
                        Ok(loaded) => fresh = loaded.ks,
                        Err(_) => {
                            return self.fatal(
                                "cannot load the snapshot while rebuilding after a log failure",
                            )
                        }
                    }
                }
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

    /// The final snapshot before exiting on `signal` (SIGTERM or SIGINT): what SHUTDOWN
    /// takes (`cmd::server::final_snapshot`), with the flags `shutdown-on-sigterm` /
    /// `shutdown-on-sigint` give (`save`, `nosave`).
    pub fn final_snapshot(&self, signal: &str) -> Result<(), String> {
        let mut st = self.state.lock();
        let directive = if signal == "SIGINT" {
            "shutdown-on-sigint"
        } else {
            "shutdown-on-sigterm"
        };
        let flags = st.config.get(directive).unwrap_or_default();
        let has = |f: &str| flags.split_whitespace().any(|w| w.eq_ignore_ascii_case(f));
        let (save, nosave) = (has("save"), has("nosave"));
        crate::cmd::server::final_snapshot(&mut st, self, save, nosave)
    }

    /// Ask everything to stop.
    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop_notify.notify_waiters();
        self.doorbells.ring_all(super::doorbell::STOP);
    }

    /// One slice of the active expire cycle (Redis's `activeExpireCycle`, cut into slices
    /// of at most `budget` under the lock so no client waits longer than one slice). A
    /// cycle started with [`ExpireCycle::start`] visits up to 16 databases (every one after
    /// a cycle that hit its time limit) from where the last cycle stopped; in each it
    /// samples keys with a TTL by a SCAN cursor over `expires`, deletes the expired ones
    /// and repeats while more than the acceptable share of the sample was stale. The DELs
    /// of a slice go to the log in one record, one multi-key `DEL` per database. Also
    /// moves some buckets of tables being resized and continues a background eviction.
    pub fn active_expire_step(&self, cyc: &mut ExpireCycle, budget: Duration) -> ExpireSlice {
        // Never wait for the lock here: a long script may hold it (the cycle just skips a turn).
        // Nor run while loading: there is nothing to expire or evict yet.
        if self.is_loading() {
            return ExpireSlice::Skipped;
        }
        let Some(mut st) = self.state.try_lock() else {
            return ExpireSlice::Skipped;
        };
        // (Also Redis's cron work: a lowered tracking-table-max-keys applies when idle;
        // reply buffers follow their clients' peaks.)
        if !st.cron_paused {
            if !st.tracking.is_idle() {
                crate::cmd::tracking::limit_keys(&mut st);
                crate::cmd::tracking::flush_bcast(&mut st);
            }
            let hz = st.config.hz;
            st.clients.cron(clock::now_ms(), hz);
            crate::cmd::repl::cron(&mut st, clock::now_ms());
            if st.replicas.failover.is_some() {
                let mut x = Exec::new(&mut st, self, 0, clock::now_ms(), Caller::Internal);
                crate::cmd::failover::cron(&mut x);
            }
        }
        let paused = st.writes_paused(clock::now_ms());
        if st.replicas.master.is_some()
            && !st.replicas.local_ttl.is_empty()
            && st.active_expire
            && !paused
            && self.log.is_poisoned().is_none()
        {
            // Keys clients of this writable replica gave a TTL expire here.
            let now = clock::now_ms();
            let mut x = Exec::new(&mut st, self, 0, now, Caller::Internal);
            crate::cmd::repl::expire_local_keys(&mut x);
            let journal = std::mem::take(&mut x.journal);
            drop(x);
            self.log_background(&mut st, now, &journal);
        }
        // (A replica expires and evicts nothing else on its own: its master's DELs do, as
        // with Redis's `replica-ignore-maxmemory yes`.)
        if self.log.is_poisoned().is_some()
            || !st.active_expire
            || st.replicas.master.is_some()
            || paused
            || self.stopping.load(Ordering::Acquire)
        {
            // (CLIENT PAUSE: no background expiry or eviction while it lasts, as Redis.)
            return ExpireSlice::Skipped;
        }
        let start = Instant::now();
        let now = clock::now_ms();
        let knobs = ExpireKnobs::new(st.config.active_expire_effort);
        cyc.publish(&mut st.stats);
        active_rehash(&mut st, start, budget / 4);
        let dbnum = st.ks.dbs.len();
        if cyc.begin {
            cyc.begin = false;
            cyc.running = true;
            // Redis checks 16 databases per cycle, all of them after a cycle that ran out
            // of time (so one busy database cannot starve the others for long).
            cyc.dbs_left = if cyc.timelimit_exit {
                dbnum
            } else {
                dbnum.min(16)
            };
            cyc.sampled = 0;
            cyc.expired = 0;
            cyc.timelimit_exit = false;
        }
        let mut x = Exec::new(&mut st, self, 0, now, Caller::Internal);
        let mut timeup = false;
        while cyc.running && cyc.dbs_left > 0 && dbnum > 0 {
            let db = cyc.db % dbnum;
            // The expired keys of this database, back to back: they become the DEL's argv.
            let mut gone: Vec<u8> = Vec::new();
            let mut gone_ends: Vec<usize> = Vec::new();
            loop {
                let d = &mut x.st.ks.dbs[db];
                if d.expires.is_empty() {
                    break;
                }
                let want = d.expires.len().min(knobs.keys_per_loop);
                let mut cursor = d.expire_cursor;
                // Sample by SCAN over `expires`, looking each key up in the same pass (the
                // lookups do not depend on each other, so their cache misses overlap); the
                // due ones go straight into the DEL's buffer and are removed after.
                let batch = gone_ends.len();
                let mut n = 0;
                // At most 20 buckets per key wanted (a table left sparse by deletions).
                let mut buckets = 0;
                let (dict, expires) = (&d.dict, &d.expires);
                while n < want && buckets < want * 20 {
                    cursor = expires.scan_step(cursor, |k, &at| {
                        n += 1;
                        if at < now && dict.contains_key(k) {
                            gone.extend_from_slice(k);
                            gone_ends.push(gone.len());
                        }
                    });
                    buckets += 1;
                    if cursor == 0 {
                        break;
                    }
                }
                d.expire_cursor = cursor;
                let mut from = batch.checked_sub(1).map_or(0, |i| gone_ends[i]);
                for &end in &gone_ends[batch..] {
                    let removed = d.remove(&gone[from..end]);
                    debug_assert!(removed.is_some(), "a batch samples each key once");
                    from = end;
                }
                let expired = gone_ends.len() - batch;
                cyc.sampled += n as u64;
                cyc.expired += expired as u64;
                // Redis's test, integer division included: go on while more than the
                // acceptable percentage of the sample was stale.
                if n == 0 || expired * 100 / n <= knobs.acceptable_stale {
                    break;
                }
                if start.elapsed() >= budget {
                    timeup = true;
                    break;
                }
            }
            if !gone_ends.is_empty() {
                x.st.stats.expired_keys += gone_ends.len() as u64;
                let all = Bytes::from(gone);
                let mut argv = Vec::with_capacity(gone_ends.len() + 1);
                argv.push(Bytes::from_static(b"DEL"));
                let mut from = 0;
                for &end in &gone_ends {
                    let k = all.slice(from..end);
                    from = end;
                    x.notify_in(db, 'x', "expired", &k);
                    argv.push(k);
                }
                x.journal_db(db, argv);
            }
            if timeup {
                break;
            }
            cyc.db = cyc.db.wrapping_add(1);
            cyc.dbs_left -= 1;
        }
        if cyc.running && (cyc.dbs_left == 0 || dbnum == 0) {
            cyc.finish(false);
        }
        // An eviction run that stopped at its time budget continues here (Redis's timer).
        let evicting = crate::cmd::memory::background_evict(&mut x);
        let journal = std::mem::take(&mut x.journal);
        drop(x);
        self.log_background(&mut st, now, &journal);
        let worked = start.elapsed();
        let ms = u64::try_from(worked.as_millis()).unwrap_or(u64::MAX);
        st.latency.sample("expire-cycle", ms, now / 1000);
        cyc.worked += worked;
        cyc.publish(&mut st.stats);
        st.stats.expire_cycle_time_used_us += u64::try_from(worked.as_micros()).unwrap_or(u64::MAX);
        // Hand the lock straight to a waiting thread (the snapshot job's).
        parking_lot::MutexGuard::unlock_fair(st);
        if cyc.running || evicting {
            ExpireSlice::More
        } else {
            ExpireSlice::Done
        }
    }

    /// The function libraries to put in a snapshot: (name, code).
    fn libraries(st: &State) -> Vec<(Vec<u8>, Vec<u8>)> {
        st.functions
            .libraries()
            .into_iter()
            .map(|(n, c)| (n.into_bytes(), c.to_vec()))
            .collect()
    }

    /// SAVE: run a whole snapshot now, holding the state.
    fn save_now(&self, st: &mut State) -> Result<(), String> {
        if self.is_loading() {
            // (The keyspace is not there yet: a snapshot of it would lose the data.)
            return Err(crate::cmd::error::LOADING.into());
        }
        let started = Instant::now();
        let mut job = {
            let mut status = self.snap.lock();
            if status.running.is_some() {
                return Err("Background save already in progress".into());
            }
            status.jobs += 1;
            let libs = Self::libraries(st);
            let id = status.jobs;
            super::snapshot::Job::begin(st, &self.log, &*self.vfs, &self.dir, id, &libs).map_err(
                |e| {
                    status.note_failure(e.to_string());
                    e.to_string()
                },
            )?
        };
        let result = job
            .step(st, None, true)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                let _installs = self.installing.lock();
                job.finish(&self.log, &*self.vfs).map_err(|e| e.to_string())
            });
        let mut status = self.snap.lock();
        self.conclude_job(&mut job, st, &mut status, started, result)
            .map(|_| ())
    }

    /// BGSAVE / BGREWRITEAOF / the automatic trigger: start the online snapshot job.
    fn start_background(&self, st: &mut State, rewrite: bool) -> Result<(), Busy> {
        self.start_background_on(st, tokio::runtime::Handle::try_current().ok(), rewrite)
    }

    /// Start the online snapshot job. With a runtime, the walk runs there as a task and a
    /// thread writes the file (`walk`, `write_file`); without one (some tests), one thread
    /// does both (`run_job`).
    ///
    /// Why the walk runs on the runtime: a slice holds the engine lock, and a thread of its
    /// own can be preempted while holding it (on a busy machine the scheduler leaves a
    /// runnable thread waiting for milliseconds), which stalls every connection for that
    /// long: measured, that was what made the p99 three times its steady value while a
    /// snapshot ran (benches/RESULTS.md, issue 4). A slice run by the connections' own
    /// worker only ever delays them by the slice.
    /// `rewrite`: the job is a BGREWRITEAOF's (`SnapStatus::rewrite`).
    fn start_background_on(
        &self,
        st: &mut State,
        rt: Option<tokio::runtime::Handle>,
        rewrite: bool,
    ) -> Result<(), Busy> {
        if self.is_loading() {
            return Err(Busy::Failed(crate::cmd::error::LOADING.into()));
        }
        let mut status = self.snap.lock();
        if status.running.is_some() {
            return Err(Busy::Running);
        }
        let Some(me) = self.me.upgrade() else {
            return Err(Busy::Failed("the server is stopping".into()));
        };
        status.jobs += 1;
        let id = status.jobs;
        let begun = Instant::now();
        let libs = Self::libraries(st);
        let mut job =
            match super::snapshot::Job::begin(st, &self.log, &*self.vfs, &self.dir, id, &libs) {
                Ok(job) => job,
                Err(e) => {
                    // (INFO persistence shows a snapshot that could not even start, as a
                    // failed one: rdb_last_bgsave_status:err.)
                    status.note_failure(e.to_string());
                    return Err(Busy::Failed(e.to_string()));
                }
            };
        status.running = Some((id, job.lsn(), Instant::now()));
        status.rewrite = rewrite;
        status.background_starts += 1;
        status.last_start_us = u64::try_from(begun.elapsed().as_micros()).unwrap_or(u64::MAX);
        drop(status);
        let thread = std::thread::Builder::new().name("strata-snapshot".into());
        let spawned = match rt {
            Some(rt) => {
                let (tx, rx) = tokio::sync::mpsc::channel(8);
                let (spare_tx, spare_rx) = std::sync::mpsc::channel();
                let writer = job.take_writer();
                self.snap_mem
                    .set_file(writer.as_ref().map_or(0, |w| w.buffers()));
                let slot: super::snapshot::Slot = Arc::new(Mutex::new(Some(job)));
                let failed = Arc::new(AtomicBool::new(false));
                let cancel = Arc::new(AtomicBool::new(false));
                self.snap.lock().cancel = Some(cancel.clone());
                let (slot2, failed2, me2, rt2) =
                    (slot.clone(), failed.clone(), me.clone(), rt.clone());
                let spawned = thread.spawn(move || {
                    super::snapshot::lower_thread_priority();
                    me2.write_file(slot2, writer, rx, spare_tx, &failed2, rt2);
                });
                if spawned.is_ok() {
                    rt.spawn(me.walk(slot, tx, spare_rx, (failed, cancel)));
                }
                spawned
            }
            None => thread.spawn(move || me.run_job(job)),
        };
        if let Err(e) = spawned {
            self.snap_mem.clear();
            let mut status = self.snap.lock();
            status.running = None;
            status.rewrite = false;
            return Err(Busy::Failed(format!(
                "cannot start the snapshot thread: {e}"
            )));
        }
        // Replicas waiting for a full resync take this job's file as their payload (still
        // under the lock the job began under: the point its file captures).
        crate::cmd::repl::snapshot_started(st, id, crate::clock::now_ms());
        Ok(())
    }

    /// A background snapshot's walk, on the runtime: slices under the engine lock paced by
    /// `Job::slice`, their items sent to the thread writing the file in chunks of
    /// `SHIP_BYTES`. Never blocks a worker waiting for the lock (a script may hold it) or for
    /// the file (the channel is bounded: it waits).
    async fn walk(
        self: Arc<Self>,
        slot: super::snapshot::Slot,
        tx: tokio::sync::mpsc::Sender<super::snapshot::ToFile>,
        spare: std::sync::mpsc::Receiver<Vec<u8>>,
        (failed, cancel): (Arc<AtomicBool>, Arc<AtomicBool>),
    ) {
        use super::snapshot::ToFile;
        let (mut slices, mut locked, mut longest) = (0u64, Duration::ZERO, Duration::ZERO);
        let t_walk = Instant::now();
        let end = loop {
            let t0 = Instant::now();
            let stepped = match self.state.try_lock() {
                Some(mut st) => {
                    let mut job = slot.lock();
                    let Some(job) = job.as_mut() else { return };
                    Some(job.slice(&mut st).map(|s| {
                        let ship = s.done
                            || job.has_whole()
                            || job.pending_bytes() >= super::snapshot::SHIP_BYTES;
                        let spare = || {
                            let b = spare.try_recv().unwrap_or_default();
                            self.snap_mem.returned(b.capacity());
                            b
                        };
                        let shipped = ship.then(|| job.take_items(spare()));
                        // (Counted on its way before it leaves the pending count: no
                        // eviction check meanwhile sees it nowhere.)
                        if let Some((bytes, _, _)) = &shipped {
                            self.snap_mem.shipped(bytes.capacity());
                        }
                        self.snap_mem.set_pending(job.pending_capacity());
                        (s, shipped, job.take_urgent())
                    }))
                }
                None => None,
            };
            let Some(stepped) = stepped else {
                // A script (or SAVE) holds the lock: never block a worker waiting for it.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            let held = t0.elapsed();
            slices += 1;
            locked += held;
            longest = longest.max(held);
            tracing::trace!(held_us = held.as_micros() as u64, "snapshot slice");
            let (step, shipped, urgent) = match stepped {
                Ok(s) => s,
                Err(e) => break Err(e),
            };
            if let Some((bytes, items, whole)) = shipped {
                if tx.send(ToFile::Items(bytes, items, whole)).await.is_err() {
                    return; // the file thread is gone; it took the job back
                }
                self.key_save_delay(items, &cancel).await;
            }
            if !urgent.is_empty() {
                // Writes wait for these: encode them here, off the lock, on a blocking
                // thread of normal priority, rather than behind the file thread's queue.
                let Ok((bytes, items)) =
                    tokio::task::spawn_blocking(move || super::snapshot::encode_urgent(urgent))
                        .await
                else {
                    break Err(StorageError::Closed.into());
                };
                if items > 0 {
                    self.snap_mem.shipped(bytes.capacity());
                    if tx
                        .send(ToFile::Items(bytes, items, Vec::new()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            if cancel.load(Ordering::Acquire) {
                // Stopped meanwhile (CONFIG SET appendonly no): not installed.
                break Err(super::snapshot::JobError::Stopped);
            }
            if step.done {
                tracing::debug!(
                    slices,
                    locked_us = locked.as_micros() as u64,
                    longest_us = longest.as_micros() as u64,
                    walk_ms = t_walk.elapsed().as_millis() as u64,
                    "snapshot walk done"
                );
                break Ok(());
            }
            if self.stopping.load(Ordering::Acquire) || failed.load(Ordering::Acquire) {
                break Err(StorageError::Closed.into());
            }
            match step.rest {
                Some(rest) => tokio::time::sleep(rest).await,
                None => tokio::task::yield_now().await,
            }
        };
        let _ = tx.send(ToFile::End(end)).await;
    }

    /// CONFIG SET appendonly no: stop a running BGREWRITEAOF's snapshot job (its walk and
    /// file thread give up; the job ends failed), as Redis kills its AOF rewrite child. The
    /// log stays on: it is the store.
    fn abort_rewrite(&self) {
        let status = self.snap.lock();
        if let (Some(cancel), Some(_), true) = (&status.cancel, status.running, status.rewrite) {
            // (Redis's words first: harnesses wait for them. strata forks no child.)
            tracing::warn!("Killing running AOF rewrite child: the snapshot job of BGREWRITEAOF");
            cancel.store(true, Ordering::Release);
        }
    }

    /// `rdb-key-save-delay` (µs per key: Redis's knob for testing a save that runs long):
    /// the walk rests that long per key it shipped, re-reading the setting every 5 ms
    /// (CONFIG SET rdb-key-save-delay 0 ends the rest) and not past a shutdown.
    async fn key_save_delay(&self, items: u64, cancel: &AtomicBool) {
        const STEP: Duration = Duration::from_millis(5);
        let mut slept = Duration::ZERO;
        loop {
            let us = self.key_save_delay.load(Ordering::Relaxed);
            let total = Duration::from_micros(u64::try_from(us).unwrap_or(0).saturating_mul(items));
            if slept >= total
                || self.stopping.load(Ordering::Acquire)
                || cancel.load(Ordering::Acquire)
            {
                return;
            }
            let nap = (total - slept).min(STEP);
            tokio::time::sleep(nap).await;
            slept += nap;
        }
    }

    /// A background snapshot's file thread: write what the walk sends, then (the walk handed
    /// the job back by ending) finish, verify and install the file and conclude the job.
    fn write_file(
        &self,
        slot: super::snapshot::Slot,
        mut writer: Option<crate::persist::snapshot::SnapshotWriter>,
        mut rx: tokio::sync::mpsc::Receiver<super::snapshot::ToFile>,
        spare: std::sync::mpsc::Sender<Vec<u8>>,
        failed: &AtomicBool,
        rt: tokio::runtime::Handle,
    ) {
        let started = Instant::now();
        // The log rotates at the snapshot's LSN first (its new segment, the MANIFEST naming
        // it: journal commits on the group-commit path). Written before, this file's dirty
        // blocks would ride in those commits (ext4 `data=ordered`) and stall every writer
        // for as long as they take to reach the disk: measured 36 ms for one MANIFEST
        // fdatasync under load (benches/RESULTS.md, issue 4).
        if let Some(lsn) = slot.lock().as_ref().map(super::snapshot::Job::lsn) {
            self.log.wait_rotation(lsn + 1);
        }
        let walked = super::snapshot::write_items_until_end(
            &mut writer,
            &mut rx,
            &spare,
            failed,
            &self.snap_mem,
        );
        drop(rx);
        let Some(mut job) = slot.lock().take() else {
            self.snap_mem.clear();
            return;
        };
        // Verifying the file reads its blocks back: about as much again as the writer's.
        if let Some(w) = &writer {
            self.snap_mem.set_file(2 * w.buffers());
        }
        job.put_writer(writer);
        let result = walked.and_then(|()| {
            let _installs = self.installing.lock();
            Ok(job.finish(&self.log, &*self.vfs)?)
        });
        self.end_job(job, started, result, Some(rt));
    }

    /// The snapshot thread without a runtime: slices under the lock, writes outside it, then
    /// finishes.
    fn run_job(&self, mut job: super::snapshot::Job) {
        let started = Instant::now();
        // (The log rotates before the file's first write, as in `write_file`.)
        self.log.wait_rotation(job.lsn() + 1);
        let result = (|| -> Result<_, super::snapshot::JobError> {
            loop {
                let t0 = Instant::now();
                let step = {
                    let mut st = self.state.lock();
                    let t1 = Instant::now();
                    let step = job.step(&mut st, Some(super::snapshot::SLICE), true)?;
                    tracing::trace!(held_us = t1.elapsed().as_micros() as u64, "snapshot slice");
                    step
                };
                job.flush()?;
                if step.done {
                    break;
                }
                if self.stopping.load(Ordering::Acquire) {
                    return Err(StorageError::Closed.into());
                }
                std::thread::sleep(t0.elapsed() * super::snapshot::REST_FACTOR);
            }
            let _installs = self.installing.lock();
            Ok(job.finish(&self.log, &*self.vfs)?)
        })();
        self.end_job(job, started, result, None);
    }

    /// `Job::conclude`, and for a failed job its files gone (`remove_failed_snapshot`).
    /// Called under the engine lock, so no new job (same LSN) can have started.
    fn conclude_job(
        &self,
        job: &mut super::snapshot::Job,
        st: &mut State,
        status: &mut super::snapshot::SnapStatus,
        started: Instant,
        result: Result<(crate::persist::snapshot::SnapshotInfo, u64, u64), String>,
    ) -> Result<(crate::persist::snapshot::SnapshotInfo, u64), String> {
        let concluded = job.conclude(st, status, started, result);
        match &concluded {
            // (Logged while it ran: part of the base of the next automatic one.)
            Ok(_) => status.log_at_install = self.log.stats().current_size,
            Err(_) => self.remove_failed_snapshot(job.lsn()),
        }
        concluded
    }

    /// A failed job's files: its `.tmp` and, unless the MANIFEST names it (the install
    /// published it and a later step failed), its final file. Redis likewise removes its
    /// temp file at once: on a full disk a dead half-written snapshot would hold the space
    /// a restart needs.
    fn remove_failed_snapshot(&self, lsn: u64) {
        let fin = self
            .dir
            .join(crate::persist::snapshot::snapshot_file_name(lsn));
        let mut gone = vec![crate::persist::snapshot::tmp_path(&fin)];
        if self.log.snapshot_lsn() != Some(lsn) {
            gone.push(fin);
        }
        for p in gone {
            match self.vfs.remove(&p) {
                Ok(()) => tracing::info!(file = %p.display(), "removed the failed snapshot's file"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %p.display(), error = %e, "cannot remove the failed snapshot's file")
                }
            }
        }
    }

    /// Conclude a background job under the engine lock and start the next one if a
    /// BGREWRITEAOF was scheduled meanwhile.
    fn end_job(
        &self,
        mut job: super::snapshot::Job,
        started: Instant,
        result: Result<
            (crate::persist::snapshot::SnapshotInfo, u64, u64),
            super::snapshot::JobError,
        >,
        rt: Option<tokio::runtime::Handle>,
    ) {
        let mut st = self.state.lock();
        let mut status = self.snap.lock();
        status.cancel = None;
        self.snap_mem.clear();
        let result = result.map_err(|e| e.to_string());
        let concluded = self.conclude_job(&mut job, &mut st, &mut status, started, result);
        if let Ok((info, segs)) = &concluded {
            tracing::info!(
                lsn = info.lsn,
                items = info.items,
                bytes = info.file_bytes,
                segments_retired = segs,
                ms = started.elapsed().as_millis() as u64,
                "snapshot installed"
            );
        }
        let next = status.take_scheduled();
        drop(status);
        self.resync_from(
            &mut st,
            job.id(),
            concluded.as_ref().ok().map(|(i, _)| i.lsn),
        );
        let stopping = self.stopping.load(Ordering::Acquire);
        if let Some(rewrite) = next.filter(|_| !stopping) {
            // A scheduled BGREWRITEAOF runs as one (another is refused as in progress).
            let _ = self.start_background_on(&mut st, rt.clone(), rewrite);
        }
        if crate::cmd::repl::waiting_for_job(&st) {
            // Replicas came while a job of another kind ran: the next one is theirs.
            let why = if stopping {
                Some("the server is stopping".to_string())
            } else {
                // (A scheduled job just started takes them: Running.)
                match self.start_background_on(&mut st, rt, false) {
                    Ok(()) | Err(Busy::Running) => None,
                    Err(Busy::Failed(e)) => Some(e),
                }
            };
            if let Some(why) = why {
                crate::cmd::repl::abandon(&mut st, None, &why);
            }
        }
    }

    /// Snapshot job `job` ended, with its file installed at `lsn` (None: it failed): the
    /// replicas that waited for it get their payload made from the file, on a thread of
    /// its own (`resync::send_payload`), or are disconnected.
    fn resync_from(&self, st: &mut State, job: u64, lsn: Option<u64>) {
        let Some(point) = crate::cmd::repl::snapshot_ended(st, job, lsn.is_some()) else {
            return;
        };
        let (Some(lsn), Some(me)) = (lsn, self.me.upgrade()) else {
            return;
        };
        let limits = build_limits(&st.config);
        // (The log's next two segments stay free of the spooled payload.)
        let keep_free = st.config.segment_size.saturating_mul(2);
        let source =
            super::resync::Source::open(&self.vfs, &self.dir, (lsn, job), st.ks.dbs.len(), limits)
                .map(|s| s.keep_free(keep_free));
        let spawned = source.and_then(|source| {
            std::thread::Builder::new()
                .name("strata-resync".into())
                .spawn(move || super::resync::send_payload(me, job, point, source))
                .map_err(|e| format!("cannot start the resync thread: {e}"))
        });
        if let Err(e) = spawned {
            crate::cmd::repl::abandon(st, Some(job), &e);
        }
    }

    /// Close MIGRATE's cached connections unused for 10 s (Redis's cron does it too).
    /// Called by the server's periodic task; never waits for the lock.
    pub fn close_idle_migrate_sockets(&self) {
        if let Some(mut st) = self.state.try_lock() {
            if !st.migrate_sockets.is_empty() {
                st.migrate_sockets.close_idle(crate::clock::now_ms());
            }
        }
    }

    /// Start a snapshot when the log since the last one is at least
    /// `auto-aof-rewrite-min-size` and `auto-aof-rewrite-percentage` % of the last snapshot
    /// (0 % disables). Called by the server's periodic task; never waits for the lock.
    pub fn maybe_auto_snapshot(&self) {
        let Some(mut st) = self.state.try_lock() else {
            return;
        };
        if self.log.is_poisoned().is_some()
            || self.stopping.load(Ordering::Acquire)
            || self.is_loading()
        {
            return;
        }
        let pct: u64 = st
            .config
            .get("auto-aof-rewrite-percentage")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        let min: u64 = st
            .config
            .get("auto-aof-rewrite-min-size")
            .and_then(|v| v.parse().ok())
            .unwrap_or(64 << 20);
        let (running, base, log_at_install, retry_ok) = {
            let mut s = self.snap.lock();
            if let Some(rewrite) = s.running.is_none().then(|| s.take_scheduled()).flatten() {
                // Scheduled inside EXEC (or left over): start it now, as Redis's serverCron
                // starts a scheduled BGSAVE or AOF rewrite once no child runs.
                drop(s);
                let _ = self.start_background(&mut st, rewrite);
                return;
            }
            // After a failed snapshot, save points try again only 5 s later (Redis's
            // CONFIG_BGSAVE_RETRY_DELAY).
            let retry_ok = s.last_error.is_none()
                || s.failed_at
                    .is_none_or(|t| t.elapsed() > Duration::from_secs(5));
            (
                s.running.is_some() || s.auto_backoff(),
                // (The snapshot's uncompressed size: Redis compares the AOF with its base,
                // an RDB file whose strings are at most LZF-compressed; the zstd file is
                // several times smaller, and against it the log was compacted several
                // times as often as Redis rewrites, a job running nearly all the time
                // under a heavy write load.)
                s.raw_bytes,
                s.log_at_install,
                retry_ok,
            )
        };
        if !running && retry_ok {
            // Save points (`save <seconds> <changes> ...`), as Redis's serverCron checks them.
            // (At startup the data counts as saved, as in Redis.)
            let since = clock::now_ms() / 1000 - st.lastsave.max(st.start_ms / 1000);
            let points = crate::config::save_points(&st.config.get("save").unwrap_or_default());
            let due = points
                .unwrap_or_default()
                .into_iter()
                .find(|&(secs, changes)| {
                    st.dirty >= changes && since > i64::try_from(secs).unwrap_or(i64::MAX)
                });
            if let Some((secs, changes)) = due {
                tracing::info!("{changes} changes in {secs} seconds. Saving...");
                let _ = self.start_background(&mut st, false);
                return;
            }
        }
        if pct == 0 {
            return;
        }
        // Redis's rule: the whole (snapshot + log) grown by `pct` % since the last job
        // ended, what was logged while it ran included in where it ended; so a job that
        // took a while under a heavy write load is not followed by another at once.
        let log_bytes = self.log.stats().current_size;
        let now = base.saturating_add(log_bytes).saturating_mul(100);
        let then = base.saturating_add(log_at_install);
        if !running && log_bytes >= min && now >= then.saturating_mul(100 + pct) {
            tracing::info!(log_bytes, base, "starting an automatic snapshot");
            let _ = self.start_background(&mut st, false);
        }
    }

    /// INFO persistence's `loading_*` fields while loading, as Redis computes them: the
    /// share of bytes done, and the time left at the rate so far (1 s in the first second).
    fn loading_info(&self) -> Vec<(String, String)> {
        let start = self.load.start_s.load(Ordering::Relaxed);
        let total = self.load.total.load(Ordering::Relaxed);
        let loaded = self.load.loaded.load(Ordering::Relaxed).min(total);
        #[expect(clippy::cast_precision_loss, reason = "a percentage")]
        let perc = if total > 0 {
            loaded as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let remaining = if total > 0 { total - loaded } else { 1 };
        let elapsed = u64::try_from(clock::now_ms() / 1000 - start).unwrap_or(0);
        let eta = if elapsed == 0 {
            1
        } else {
            elapsed.saturating_mul(remaining) / (loaded + 1)
        };
        let kv = |k: &str, v: String| (k.to_string(), v);
        vec![
            kv("loading_start_time", start.to_string()),
            kv("loading_total_bytes", total.to_string()),
            kv("loading_rdb_used_mem", "0".into()),
            kv("loading_loaded_bytes", loaded.to_string()),
            kv("loading_loaded_perc", format!("{perc:.2}")),
            kv("loading_eta_seconds", eta.to_string()),
        ]
    }

    /// The state, once free; `None` while a script holds it, or after `limit`.
    fn lock_unless_scripted(&self, limit: Duration) -> Option<parking_lot::MutexGuard<'_, State>> {
        let until = Instant::now() + limit;
        loop {
            if let Some(g) = self.state.try_lock_for(Duration::from_millis(20)) {
                return Some(g);
            }
            if crate::script::SCRIPT_RUNNING.load(Ordering::Acquire) > 0 || Instant::now() >= until
            {
                return None;
            }
        }
    }

    /// Close the log (every record durable) and note where the replication stream stood
    /// (`persist::repl_info`), for a partial resync after the restart.
    pub fn close(&self) {
        // Another thread (the cron, a connection, a replica's ACK) may hold the state for a
        // moment: wait for it, or the note is lost and every replica resyncs in full. A
        // script still running holds it for good (SHUTDOWN NOSAVE in its middle): no note
        // then, and no waiting for it.
        let st = self.lock_unless_scripted(Duration::from_secs(5));
        self.log.shutdown();
        let Some(st) = st else {
            return;
        };
        if self.is_loading() || self.log.is_poisoned().is_some() {
            return;
        }
        let r = &st.replicas;
        let link = r.master_client.and_then(|id| st.clients.map.get(&id));
        if link.is_some_and(|c| c.repl_skip > 0) || r.resync_replid.is_some() {
            // Mid full resync: the dataset is no history's.
            return;
        }
        let db = match (link, &r.cached_master) {
            (Some(c), _) => c.db,
            (None, Some(cached)) => cached.2,
            (None, None) => 0,
        };
        let info = crate::persist::repl_info::ReplInfo {
            lsn: self.log.last_lsn(),
            replid: r.replid.clone(),
            offset: st.replicas.offset,
            db,
        };
        if let Err(e) = crate::persist::repl_info::write(&*self.vfs, &self.dir, &info) {
            tracing::warn!("Could not note the replication offset for the next start: {e}");
        }
    }
}

impl Env for Engine {
    fn net_output_bytes(&self) -> u64 {
        self.net_output_bytes.load(Ordering::Relaxed)
    }

    fn persistence_info(&self) -> Vec<(String, String)> {
        let s = self.log.stats();
        let snap = self.snap.lock().clone();
        let running = snap.running;
        let current = running.map_or(-1, |r| r.2.elapsed().as_secs() as i64);
        let status_text = if snap.last_error.is_some() {
            "err"
        } else {
            "ok"
        };
        let failed = self.log.is_poisoned();
        let kv = |k: &str, v: String| (k.to_string(), v);
        let loading = self.is_loading();
        let mut fields = vec![
            kv("loading", u8::from(loading).to_string()),
            kv("async_loading", "0".into()),
            kv("current_cow_peak", "0".into()),
            kv("current_cow_size", "0".into()),
            kv("current_cow_size_age", "0".into()),
            kv("current_fork_perc", "0.00".into()),
            kv("current_save_keys_processed", "0".into()),
            kv("current_save_keys_total", "0".into()),
            kv("rdb_changes_since_last_save", "0".into()),
            kv(
                "rdb_bgsave_in_progress",
                u8::from(running.is_some()).to_string(),
            ),
            kv("rdb_last_save_time", (clock::now_ms() / 1000).to_string()),
            kv("rdb_last_bgsave_status", status_text.into()),
            kv("rdb_last_bgsave_time_sec", snap.last_duration_s.to_string()),
            kv("rdb_current_bgsave_time_sec", current.to_string()),
            kv("rdb_saves", snap.installed.to_string()),
            kv("rdb_last_cow_size", "0".into()),
            kv(
                "rdb_last_load_keys_expired",
                self.load.keys_expired.load(Ordering::Relaxed).to_string(),
            ),
            kv(
                "rdb_last_load_keys_loaded",
                self.load.keys_loaded.load(Ordering::Relaxed).to_string(),
            ),
            kv("aof_enabled", "1".into()),
            kv(
                "aof_rewrite_in_progress",
                u8::from(running.is_some()).to_string(),
            ),
            kv(
                "aof_rewrite_scheduled",
                u8::from(snap.scheduled).to_string(),
            ),
            kv(
                "aof_last_rewrite_time_sec",
                snap.last_duration_s.to_string(),
            ),
            kv("aof_current_rewrite_time_sec", current.to_string()),
            kv("aof_last_bgrewrite_status", status_text.into()),
            kv("aof_rewrites", snap.installed.to_string()),
            kv(
                "aof_rewrites_consecutive_failures",
                snap.consecutive_failures.to_string(),
            ),
            kv(
                "aof_last_write_status",
                if failed.is_some() { "err" } else { "ok" }.into(),
            ),
            kv("aof_last_cow_size", "0".into()),
            kv("module_fork_in_progress", "0".into()),
            kv("module_fork_last_cow_size", "0".into()),
            kv("aof_current_size", s.current_size.to_string()),
            kv("aof_base_size", snap.file_bytes.to_string()),
            kv("aof_pending_rewrite", "0".into()),
            kv("aof_buffer_length", "0".into()),
            kv("aof_pending_bio_fsync", "0".into()),
            kv("aof_delayed_fsync", "0".into()),
        ];
        if loading {
            fields.extend(self.loading_info());
        }
        fields.extend([
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
            kv(
                "strata_snapshot_lsn",
                snap.lsn.map_or("-1".into(), |l| l.to_string()),
            ),
            kv("strata_snapshot_bytes", snap.file_bytes.to_string()),
            kv("strata_snapshot_items", snap.items.to_string()),
            kv("strata_snapshots_installed", snap.installed.to_string()),
            kv("strata_segments_retired", snap.segments_retired.to_string()),
            kv("strata_bytes_reclaimed", snap.bytes_reclaimed.to_string()),
            kv(
                "strata_snapshot_copied_entries",
                snap.last_copied.to_string(),
            ),
            kv(
                "strata_snapshot_last_error",
                snap.last_error.clone().unwrap_or_default(),
            ),
        ]);
        fields
    }

    fn loading(&self) -> bool {
        self.is_loading()
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

    fn log_buffered(&self) -> u64 {
        self.log.buffered_bytes()
    }

    fn resync_buffered(&self) -> u64 {
        self.resync_bytes.load(Ordering::Relaxed)
    }

    fn snapshot_buffered(&self) -> u64 {
        self.snap_mem.bytes()
    }

    fn read_back(&self) -> Result<Vec<LoggedUnit>, String> {
        Ok(self.reload_source(&Config::default())?.1)
    }

    fn reload_source(
        &self,
        config: &Config,
    ) -> Result<
        (
            Option<(crate::db::Keyspace, Vec<(Vec<u8>, Vec<u8>)>)>,
            Vec<LoggedUnit>,
        ),
        String,
    > {
        self.log
            .wait_durable_blocking(self.log.last_lsn())
            .map_err(|e| e.to_string())?;
        // Hold the manifest steady: no snapshot install between reading it and the files.
        let _installs = self.installing.lock();
        let rec = Log::read_dir(&*self.vfs, &self.dir).map_err(|e| e.to_string())?;
        let base = match &rec.snapshot {
            Some((lsn, path)) => {
                let loaded =
                    load_snapshot(&*self.vfs, path, *lsn, config).map_err(|e| e.to_string())?;
                Some((loaded.ks, loaded.libraries))
            }
            None => None,
        };
        let units = rec
            .records
            .iter()
            .map(|r| {
                decode_batch(&r.payload)
                    .map(|c| (r.ts_ms, c))
                    .map_err(|c| format!("record {} undecodable: {c:?}", r.lsn))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((base, units))
    }

    fn snapshot(&self, st: &mut State, req: SnapshotRequest) -> Result<&'static str, String> {
        match req {
            SnapshotRequest::Save => self.save_now(st).map(|()| "OK"),
            // Redis's answers (bgsaveCommand, bgrewriteaofCommand): a job of the same kind
            // running refuses it as in progress; another kind running, or EXEC (Redis never
            // forks there), schedules it (a BGSAVE only with SCHEDULE or inside EXEC,
            // otherwise "Another child process is active"); else it starts. (Jobs start
            // and end under the engine lock this runs under: what is seen here holds.)
            SnapshotRequest::Background { schedule, in_exec } => {
                let mut status = self.snap.lock();
                let running = status.running.is_some();
                if running && !status.rewrite {
                    return Err("Background save already in progress".into());
                }
                if running || in_exec {
                    if !(schedule || in_exec) {
                        return Err(
                            "Another child process is active (AOF?): can't BGSAVE right now. \
                             Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
                                .into(),
                        );
                    }
                    status.schedule(false);
                    return Ok("Background saving scheduled");
                }
                drop(status);
                match self.start_background(st, false) {
                    Ok(()) => Ok("Background saving started"),
                    Err(Busy::Running) => Err("Background save already in progress".into()),
                    Err(Busy::Failed(e)) => Err(e),
                }
            }
            SnapshotRequest::ForReplicas => {
                let status = self.snap.lock();
                if status.consecutive_failures > 0 {
                    // (A full disk, say: the payload is built in place instead.)
                    let why = status.last_error.clone().unwrap_or_default();
                    return Err(format!("the last snapshot failed: {why}"));
                }
                drop(status);
                // (One running: the replicas wait for it to end, `end_job` starts theirs.)
                match self.start_background(st, false) {
                    Ok(()) | Err(Busy::Running) => Ok("Background saving started"),
                    Err(Busy::Failed(e)) => Err(e),
                }
            }
            SnapshotRequest::Rewrite { in_exec } => {
                let mut status = self.snap.lock();
                let running = status.running.is_some();
                if running && status.rewrite {
                    return Err("Background append only file rewriting already in progress".into());
                }
                if running || in_exec {
                    status.schedule(true);
                    return Ok("Background append only file rewriting scheduled");
                }
                drop(status);
                match self.start_background(st, true) {
                    Ok(()) => Ok("Background append only file rewriting started"),
                    Err(Busy::Running) => {
                        Err("Background append only file rewriting already in progress".into())
                    }
                    Err(Busy::Failed(e)) => Err(e),
                }
            }
        }
    }

    fn snapshot_running(&self) -> bool {
        self.snap.lock().running.is_some()
    }

    fn snapshot_starts(&self) -> (u64, u64) {
        let s = self.snap.lock();
        (s.background_starts, s.last_start_us)
    }

    fn shutdown(&self) {
        self.request_stop();
    }

    fn listen(&self, bind: &[String], port: u16) -> Result<u16, String> {
        match self.listeners.get() {
            Some(l) => l.replace(bind, port),
            None => Ok(port),
        }
    }

    fn fit_clients(&self, maxclients: u64) -> u64 {
        super::fdlimit::fit(maxclients)
    }

    fn replicate(&self, master: Option<(String, u16)>) {
        let epoch = self.link_epoch.fetch_add(1, Ordering::AcqRel) + 1;
        let (Some((host, port)), Some(me), Some(l)) =
            (master, self.me.upgrade(), self.listeners.get())
        else {
            return;
        };
        l.runtime.spawn(super::replica::run(me, host, port, epoch));
    }

    fn config_changed(&self, name: &str, config: &Config) {
        self.busy_ms.store(busy_ms(config), Ordering::Relaxed);
        self.key_load_delay
            .store(key_load_delay(config), Ordering::Relaxed);
        self.key_save_delay
            .store(int_setting(config, "rdb-key-save-delay"), Ordering::Relaxed);
        if name == "appendfsync" {
            self.log.set_fsync(policy(config.appendfsync));
        }
        if name == "oom-score-adj" || name == "oom-score-adj-values" {
            super::oom::apply(config);
        }
        if name == "jemalloc-bg-thread" {
            crate::alloc::set_background_thread(config.get(name).as_deref() == Some("yes"));
        }
        if name == "appendonly" && config.get(name).as_deref() == Some("no") {
            self.abort_rewrite();
        }
    }
}
