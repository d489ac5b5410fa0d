//! `Log`: the durable, segmented, checksummed log as the rest of strata sees it. Owns LSN
//! assignment, the in-memory append buffer, durability waits (async and blocking), the
//! failure latch, fsync-policy changes and statistics. The writer thread (group commit,
//! rotation) lives in `writer.rs`, recovery (open/read) in `recovery.rs`. Implements the
//! log side of format/log.md (§Durability sequence, §Fsync policies) and the recovery
//! procedure of format/README.md.
//!
//! Must not: perform I/O in `append` (it runs under the engine lock), retry a failed
//! write or fsync, or report an LSN durable before the policy's condition holds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::error::{Corruption, StorageError};
use super::io::{DirLock, Vfs};
use super::record::{begin_record, finish_record, KIND_BATCH, MAX_PAYLOAD_LEN};

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

/// When records become durable (Redis `appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fdatasync before an LSN is reported durable (group commit). The default.
    Always,
    /// Reported durable once written to the OS; fdatasync at most once per second.
    Everysec,
    /// Reported durable once written to the OS; never fsync (except rotation and shutdown).
    No,
}

impl FsyncPolicy {
    /// The redis.conf spelling: `always`, `everysec`, `no`.
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Everysec => "everysec",
            FsyncPolicy::No => "no",
        }
    }

    /// Parses the redis.conf spelling (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::Everysec),
            "no" => Some(FsyncPolicy::No),
            _ => None,
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            FsyncPolicy::Always => 0,
            FsyncPolicy::Everysec => 1,
            FsyncPolicy::No => 2,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => FsyncPolicy::Always,
            1 => FsyncPolicy::Everysec,
            _ => FsyncPolicy::No,
        }
    }
}

/// How to open a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// The data directory.
    pub dir: PathBuf,
    /// Initial fsync policy (changeable with [`Log::set_fsync`]).
    pub fsync: FsyncPolicy,
    /// A segment is rotated when the next record would take it past this size (a segment
    /// always takes at least one record, however large).
    pub segment_size: u64,
}

impl LogOptions {
    /// Options for `dir` with the defaults: `Always`, 64 MiB segments.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogOptions {
            dir: dir.into(),
            fsync: FsyncPolicy::Always,
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// One record recovered from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredRecord {
    /// Its LSN.
    pub lsn: u64,
    /// Its timestamp (replay uses it as "now").
    pub ts_ms: i64,
    /// Its payload (a batch, see `batch::decode_batch`).
    pub payload: Vec<u8>,
}

/// A torn tail found at the end of the last segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The last segment.
    pub segment: PathBuf,
    /// Offset of the end of the last good record, where the damage starts.
    pub offset: u64,
    /// Number of bytes from `offset` to the end of the file.
    pub bytes: u64,
    /// What was found at `offset`.
    pub found: Corruption,
    /// Where the cut bytes were saved (`Log::open` only; `read_dir` cuts nothing).
    pub side_file: Option<PathBuf>,
}

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every valid record after the snapshot (if any), in LSN order, contiguous.
    pub records: Vec<RecoveredRecord>,
    /// Set by `Log::open` when a torn tail was cut: (segment, offset, bytes cut, side file).
    pub truncated_tail: Option<(PathBuf, u64, u64, PathBuf)>,
    /// A torn tail, whether cut (`open`) or only found (`read_dir`).
    pub torn_tail: Option<TornTail>,
    /// The live segments, in order.
    pub segments: Vec<PathBuf>,
    /// Files `open` deleted: `*.tmp` and header-only orphan segments.
    pub removed: Vec<PathBuf>,
    /// Segment files not listed in the manifest (reported by `read_dir`; `open` deletes the
    /// header-only ones and refuses the others).
    pub orphans: Vec<PathBuf>,
    /// LSN of the last record (0 if none).
    pub last_lsn: u64,
    /// Zero bytes after the last record of the last segment: preallocated space the next
    /// appends overwrite, not damage (format/log.md §Preallocation). `open` keeps them.
    pub preallocated: u64,
    /// Whether the directory held no log (a new log was created by `open`).
    pub fresh: bool,
    /// The snapshot the log continues from: (LSN, path). `records` then holds only the
    /// records after that LSN.
    pub snapshot: Option<(u64, PathBuf)>,
    /// Files a snapshot made obsolete that a crash left behind (`read_dir` reports them,
    /// `open` deletes them and lists them in `removed`).
    pub leftovers: Vec<PathBuf>,
}

/// Counters and state for INFO persistence.
#[derive(Clone, Debug, PartialEq)]
pub struct LogStats {
    /// Bytes in live segments (sum of their lengths).
    pub current_size: u64,
    /// Number of live segments.
    pub segments: u64,
    /// Last LSN assigned by `append`.
    pub last_lsn: u64,
    /// Last LSN reported durable under the policy in force (see [`Log::durable_lsn`]).
    pub durable_lsn: u64,
    /// Last LSN covered by a completed fdatasync.
    pub fsynced_lsn: u64,
    /// Completed segment fdatasyncs.
    pub fsyncs: u64,
    /// Records written to the OS.
    pub records_written: u64,
    /// Bytes of records written to the OS.
    pub bytes_written: u64,
    /// Write batches (swaps of the append buffer) processed by the writer.
    pub write_batches: u64,
    /// Records made durable per fdatasync, on average (group-commit efficiency).
    pub mean_records_per_fsync: f64,
    /// Duration of the last fdatasync, microseconds.
    pub last_fsync_latency_us: u64,
    /// False once a write or fsync failed (Redis `aof_last_write_status:err`).
    pub last_write_ok: bool,
    /// The latched error text, if any.
    pub poisoned: Option<String>,
    /// The fsync policy in force.
    pub fsync_policy: FsyncPolicy,
}

/// What the writer publishes to waiters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Progress {
    pub durable: u64,
    pub fsynced: u64,
    pub failed: bool,
    pub closed: bool,
}

/// The append buffer and the writer's wake-up protocol, under one mutex.
pub(crate) struct Pending {
    /// Encoded records not yet taken by the writer.
    pub buf: Vec<u8>,
    /// End offset in `buf` of each record (record boundaries, for rotation).
    pub ends: Vec<usize>,
    /// LSN of the first record in `buf`.
    pub buf_first_lsn: u64,
    /// Next LSN to assign.
    pub next_lsn: u64,
    /// `append` notifies the writer once `ends.len() >= wake_at` (`usize::MAX`: writer busy).
    pub wake_at: usize,
    /// Highest LSN a caller asked to have fsynced regardless of policy (WAITAOF, shutdown).
    pub sync_requested: u64,
    /// Shutdown requested: drain, fsync, exit.
    pub closed: bool,
    /// Start a new segment before writing this LSN (a snapshot asked, so that the
    /// segments before it are entirely covered by the snapshot). 0 = none.
    pub rotate_before: u64,
    /// The log latched: appends are refused.
    pub poisoned: bool,
    /// The runtime handed the pending records to the writer thread (`Log::flush_inline`).
    pub handoff: bool,
    /// The writer thread sleeps until woken (inline writing, idle): the next append wakes
    /// it, so its poll and the everysec fdatasync resume.
    pub writer_sleeping: bool,
}

/// Statistics counters the writer updates.
#[derive(Default)]
pub(crate) struct Counters {
    pub fsyncs: AtomicU64,
    pub records_fsynced: AtomicU64,
    pub last_fsync_us: AtomicU64,
    pub records_written: AtomicU64,
    pub bytes_written: AtomicU64,
    pub write_batches: AtomicU64,
    pub current_size: AtomicU64,
    pub segments: AtomicU64,
    /// Room of the append buffer (set under the pending lock by whoever changed it).
    pub append_buf: AtomicU64,
    /// Room of the writer's half of the double buffer (set by the writer).
    pub spare_buf: AtomicU64,
}

/// State shared by `Log` handles and the writer thread.
pub(crate) struct Shared {
    pub vfs: Arc<dyn Vfs>,
    pub dir: PathBuf,
    pub segment_size: u64,
    pub pending: Mutex<Pending>,
    pub writer_cv: Condvar,
    pub last_lsn: AtomicU64,
    pub durable_lsn: AtomicU64,
    pub fsynced_lsn: AtomicU64,
    pub fsync: AtomicU8,
    pub poisoned: AtomicBool,
    pub closed: AtomicBool,
    pub poison_text: Mutex<Option<String>>,
    pub progress: watch::Sender<Progress>,
    /// Async waiters, each woken once, only when its LSN is reached (or the log fails).
    /// A watch channel would wake every waiter on every publish; with 50 clients and
    /// thousands of fsyncs a second that is most of the CPU a connection thread has.
    pub waiters: Mutex<Vec<Waiter>>,
    pub blocking_mx: Mutex<()>,
    pub blocking_cv: Condvar,
    pub counters: Counters,
    /// The segment start a snapshot asked for and the writer has not made yet (0 = none).
    pub rotate_pending: AtomicU64,
    /// A completion task runs on the connections' runtime (`Log::run_completions`).
    pub completer: AtomicBool,
    /// Wakes the completion task.
    pub complete_notify: tokio::sync::Notify,
    /// What the MANIFEST says now (the writer's rotations and snapshot installs both
    /// change it under this lock, so they never publish over each other).
    pub manifest: Mutex<super::manifest::Manifest>,
}

/// One parked `wait_durable`/`wait_fsynced` call.
pub(crate) struct Waiter {
    pub lsn: u64,
    pub fsynced: bool,
    pub tx: tokio::sync::oneshot::Sender<Result<(), StorageError>>,
}

impl Shared {
    /// The current progress, read from the atomics.
    fn progress_now(&self) -> Progress {
        Progress {
            durable: self.durable_lsn.load(Ordering::SeqCst),
            fsynced: self.fsynced_lsn.load(Ordering::SeqCst),
            failed: self.poisoned.load(Ordering::SeqCst),
            closed: self.closed.load(Ordering::SeqCst),
        }
    }

    /// After the atomics changed: hand the wake-ups to the completion task on the
    /// connections' runtime if one runs (one cross-thread wake-up per publish instead of
    /// one per waiter), else wake the waiters from here.
    fn wake(&self) {
        if self.completer.load(Ordering::Acquire) {
            self.complete_notify.notify_one();
        } else {
            self.wake_waiters();
        }
    }

    /// Wake every parked waiter whose wait is decided (called after the atomics changed).
    fn wake_waiters(&self) {
        let p = self.progress_now();
        let mut w = self.waiters.lock();
        if w.is_empty() {
            return;
        }
        let mut i = 0;
        while i < w.len() {
            if let Some(out) = wait_outcome(&p, w[i].lsn, w[i].fsynced) {
                let done = w.swap_remove(i);
                let _ = done.tx.send(out);
            } else {
                i += 1;
            }
        }
    }

    pub fn policy(&self) -> FsyncPolicy {
        FsyncPolicy::from_u8(self.fsync.load(Ordering::Relaxed))
    }

    /// Whether the connections' runtime writes the records itself under `policy` (its
    /// log task runs, see `Log::run_completions`), so appends wake that task instead of
    /// the writer thread: under `everysec` and `no`, where a reply waits for a `write`
    /// only. Under `always` the writer thread keeps the fdatasync off the runtime: it
    /// overlaps with the next commands and gathers the clients it released (an inline
    /// fdatasync measured slower at `-c 50 -P 1`, see benches/RESULTS.md).
    /// `STRATA_LOG_INLINE=0` turns it off (for A/B benchmarks).
    pub fn inline_for(&self, policy: FsyncPolicy) -> bool {
        policy != FsyncPolicy::Always && self.completer.load(Ordering::Acquire) && inline_on()
    }

    /// Publishes progress to async and blocking waiters. `durable` never moves backwards.
    pub fn publish(&self, durable: u64, fsynced: u64) {
        let durable = self
            .durable_lsn
            .fetch_max(durable, Ordering::SeqCst)
            .max(durable);
        let fsynced = self
            .fsynced_lsn
            .fetch_max(fsynced, Ordering::SeqCst)
            .max(fsynced);
        self.progress.send_modify(|p| {
            p.durable = durable;
            p.fsynced = fsynced;
        });
        self.wake();
        self.notify_blocking();
    }

    fn notify_blocking(&self) {
        let _g = self.blocking_mx.lock();
        self.blocking_cv.notify_all();
    }

    /// Latches the log after a failed write or fsync: refuse appends, fail every waiter.
    pub fn poison(&self, err: &StorageError) {
        let text = err.to_string();
        tracing::error!(
            error = %text,
            "log write failed; the log is latched and refuses writes until restart"
        );
        {
            let mut t = self.poison_text.lock();
            if t.is_none() {
                *t = Some(text);
            }
        }
        {
            let mut st = self.pending.lock();
            st.poisoned = true;
            st.buf.clear();
            st.ends.clear();
        }
        self.poisoned.store(true, Ordering::SeqCst);
        self.progress.send_modify(|p| p.failed = true);
        self.wake();
        self.notify_blocking();
    }

    /// Marks the log closed for waiters (the writer has exited).
    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.progress.send_modify(|p| p.closed = true);
        self.wake();
        self.notify_blocking();
    }
}

/// `STRATA_LOG_INLINE` (read once): `0` keeps every write on the writer thread.
fn inline_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("STRATA_LOG_INLINE").is_none_or(|v| v != "0"))
}

/// The durable log. `Send + Sync`; share it as `Arc<Log>`.
pub struct Log {
    pub(crate) shared: Arc<Shared>,
    /// The writer's state: the writer thread steps it, and so may the runtime
    /// (`flush_inline`); whoever holds the lock writes, in LSN order.
    pub(crate) core: Arc<Mutex<super::writer::Writer>>,
    pub(crate) writer: Mutex<Option<JoinHandle<()>>>,
    pub(crate) lock: Mutex<Option<DirLock>>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.shared.dir)
            .field("last_lsn", &self.last_lsn())
            .field("durable_lsn", &self.durable_lsn())
            .finish()
    }
}

/// Whom an append wakes.
enum Wake {
    Writer,
    Runtime,
}

/// Outcome of a wait, from the progress seen.
fn wait_outcome(p: &Progress, lsn: u64, fsynced: bool) -> Option<Result<(), StorageError>> {
    let reached = if fsynced { p.fsynced } else { p.durable };
    if reached >= lsn {
        Some(Ok(()))
    } else if p.failed {
        Some(Err(StorageError::Poisoned))
    } else if p.closed {
        Some(Err(StorageError::Closed))
    } else {
        None
    }
}

impl Log {
    /// Opens (or creates) the log in `opts.dir`: lock the directory, delete `*.tmp`, read and
    /// validate the MANIFEST and every segment, cut a torn tail of the last segment (saving the
    /// cut bytes in a side file), delete header-only orphan segments, create the first segment
    /// of a fresh directory, and start the writer thread. Returns every recovered record.
    pub fn open(vfs: Arc<dyn Vfs>, opts: LogOptions) -> Result<(Log, Recovered), StorageError> {
        super::recovery::open(vfs, opts)
    }

    /// [`Log::open`] of a fresh directory whose first MANIFEST names a snapshot of LSN 0
    /// that `base` writes (as `snap-0`, durably) once the directory is locked: an import is
    /// then all there or not there, and no other process opens the directory while it is
    /// written. Refused if the directory has a MANIFEST.
    pub fn open_with_base(
        vfs: Arc<dyn Vfs>,
        opts: LogOptions,
        base: super::recovery::BaseWriter<'_>,
    ) -> Result<(Log, Recovered), StorageError> {
        super::recovery::open_with(vfs, opts, Some(base))
    }

    /// Latch the log as a failed write does (refuse appends, fail every waiter), for a
    /// change the caller applied but cannot log (a record over the size limit).
    pub fn latch(&self, err: &StorageError) {
        // A step the writer (or the runtime) is taking finishes first: its records are then
        // durable and counted as such, not acknowledged after the latch while a rebuild
        // from the durable prefix leaves them out.
        let _step = self.core.lock();
        self.shared.poison(err);
    }

    /// Read-only recovery read of `dir`: no lock, no deletion, no truncation, no writer.
    /// A torn tail of the last segment is reported in `torn_tail`, not cut; orphan segments
    /// are reported, not read. Safe while the log is open, for every LSN the caller has waited
    /// durable for.
    pub fn read_dir(vfs: &dyn Vfs, dir: &Path) -> Result<Recovered, StorageError> {
        super::recovery::read_dir(vfs, dir)
    }

    /// Assigns the next LSN to a Batch record with this payload and buffers it for the writer.
    /// No I/O. Call under the engine lock so LSN order is apply order.
    pub fn append(&self, ts_ms: i64, payload: &[u8]) -> Result<u64, StorageError> {
        if payload.len() > MAX_PAYLOAD_LEN as usize {
            return Err(StorageError::RecordTooLarge {
                len: payload.len() as u64,
                max: u64::from(MAX_PAYLOAD_LEN),
            });
        }
        self.append_with(ts_ms, |out| out.extend_from_slice(payload))
    }

    /// Like [`Log::append`], but `fill` appends the payload straight into the log buffer
    /// (e.g. `|out| encode_batch(cmds, out)`), saving a copy. `fill` must only append to the
    /// vector it is given. It runs under the log's buffer lock: keep it short.
    pub fn append_with(
        &self,
        ts_ms: i64,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> Result<u64, StorageError> {
        let shared = &*self.shared;
        let (lsn, notify) = {
            let mut st = shared.pending.lock();
            if st.poisoned {
                return Err(StorageError::Poisoned);
            }
            if st.closed {
                return Err(StorageError::Closed);
            }
            // Drop anything after the last complete record (left only if a `fill` panicked),
            // so a half-built record can never reach the disk.
            let committed = st.ends.last().copied().unwrap_or(0);
            st.buf.truncate(committed);
            let lsn = st.next_lsn;
            let start = begin_record(&mut st.buf, lsn, ts_ms, KIND_BATCH);
            fill(&mut st.buf);
            if let Err(len) = finish_record(&mut st.buf, start) {
                st.buf.truncate(start);
                return Err(StorageError::RecordTooLarge {
                    len,
                    max: u64::from(MAX_PAYLOAD_LEN),
                });
            }
            let end = st.buf.len();
            shared
                .counters
                .append_buf
                .store(st.buf.capacity() as u64, Ordering::Relaxed);
            st.ends.push(end);
            st.next_lsn += 1;
            shared.last_lsn.store(lsn, Ordering::Release);
            let notify = if shared.inline_for(shared.policy()) {
                if std::mem::take(&mut st.writer_sleeping) {
                    shared.writer_cv.notify_one();
                }
                // The first record of a batch wakes the runtime's log task, which writes
                // after the other ready connections had their turn (`run_completions`).
                (st.ends.len() == 1).then_some(Wake::Runtime)
            } else if st.ends.len() >= st.wake_at {
                st.wake_at = usize::MAX;
                Some(Wake::Writer)
            } else {
                None
            };
            (lsn, notify)
        };
        match notify {
            Some(Wake::Writer) => {
                shared.writer_cv.notify_one();
            }
            Some(Wake::Runtime) => shared.complete_notify.notify_one(),
            None => {}
        }
        Ok(lsn)
    }

    /// The log task: run it on the runtime whose tasks append and wait for durability
    /// (`wait_durable`/`wait_fsynced`). It does two things there, where a wake-up is a queue
    /// push rather than a syscall and no thread hand-off is needed (Redis's `beforeSleep`):
    /// it writes the records itself once the other ready tasks have had their turn
    /// (`flush_inline`, under `everysec` and `no`), and it wakes the waiters
    /// after the writer thread's publishes. Returns when the log closes.
    pub async fn run_completions(self: Arc<Self>) {
        /// Back to waking waiters from the writer if this task ends or is dropped, and the
        /// writer takes whatever this task would have written.
        struct Off<'a>(&'a Shared);
        impl Drop for Off<'_> {
            fn drop(&mut self) {
                self.0.completer.store(false, Ordering::Release);
                self.0.pending.lock().handoff = true;
                self.0.writer_cv.notify_one();
                self.0.wake_waiters();
            }
        }
        let shared = &*self.shared;
        shared.completer.store(true, Ordering::Release);
        let _off = Off(shared);
        {
            // The writer thread may be parked in its own wait: switch it to polling.
            let _st = shared.pending.lock();
            shared.writer_cv.notify_one();
        }
        loop {
            shared.wake_waiters();
            if shared.closed.load(Ordering::Acquire) {
                break;
            }
            shared.complete_notify.notified().await;
            if shared.inline_for(shared.policy()) && !shared.pending.lock().ends.is_empty() {
                // Let the connections that are ready run first (their reads included): their
                // records join this write, as Redis writes once per event-loop turn.
                tokio::task::yield_now().await;
                self.flush_inline();
            }
        }
    }

    /// Write the pending records on the calling thread (`everysec`/`no`), if the writer
    /// thread is not busy and nothing but a plain write is due; otherwise hand them to the
    /// writer thread. Progress is published either way.
    pub fn flush_inline(&self) {
        let step = match self.core.try_lock() {
            Some(mut w) => w.step(true),
            None => Ok(super::writer::Step::HandOff),
        };
        if step == Ok(super::writer::Step::HandOff) {
            self.shared.pending.lock().handoff = true;
            self.shared.writer_cv.notify_one();
        }
    }

    /// Ask the writer to start a new segment at `lsn` (the next LSN to be assigned, read
    /// under the engine lock when a snapshot starts), so the segments before it hold only
    /// records the snapshot covers and can be deleted once it is installed.
    pub fn request_rotation_before(&self, lsn: u64) {
        self.shared.rotate_pending.store(lsn, Ordering::Release);
        self.shared.pending.lock().rotate_before = lsn;
        self.shared.writer_cv.notify_one();
    }

    /// Wait (blocking, bounded) until the writer made the segment `request_rotation_before`
    /// asked for, so that installing a snapshot retires every segment before it.
    pub fn wait_rotation(&self, lsn: u64) {
        let t0 = std::time::Instant::now();
        while self.shared.rotate_pending.load(Ordering::Acquire) == lsn
            && self.is_poisoned().is_none()
            && !self.shared.closed.load(Ordering::Acquire)
            && t0.elapsed() < std::time::Duration::from_secs(10)
        {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// The snapshot the MANIFEST names now, if any.
    pub fn snapshot_lsn(&self) -> Option<u64> {
        self.shared.manifest.lock().snapshot
    }

    /// Install a durable, verified snapshot of `lsn` (format/snapshot.md §Durability
    /// sequence, steps S7–S8): publish a MANIFEST naming it and only the segments that may
    /// hold records after `lsn`, then delete the segments it covers and the previous
    /// snapshot. A crash between the publish and the deletions leaves files that `open`
    /// deletes. Returns (segments deleted, bytes reclaimed).
    pub fn install_snapshot(&self, lsn: u64) -> Result<(u64, u64), StorageError> {
        if self.is_poisoned().is_some() {
            return Err(StorageError::Poisoned);
        }
        let shared = &*self.shared;
        let (old_snapshot, retired) = {
            let mut m = shared.manifest.lock();
            if m.snapshot.is_some_and(|s| s >= lsn) {
                return Ok((0, 0));
            }
            let segs = &m.segments;
            // Segment i is covered when the next one starts at or before lsn + 1; the active
            // (last) segment always stays.
            let keep_from = (0..segs.len())
                .find(|&i| i + 1 == segs.len() || segs[i + 1] > lsn + 1)
                .unwrap_or(segs.len() - 1);
            let next = super::manifest::Manifest {
                snapshot: Some(lsn),
                segments: segs[keep_from..].to_vec(),
            };
            if let Err(e) = super::manifest::publish(&shared.vfs, &shared.dir, &next) {
                // Unless the old MANIFEST is plainly still there (nothing changed), the
                // failure came at or after the rename (the directory fsync), or cannot be
                // told: the MANIFEST may name the snapshot, perhaps not durably. Latch, as
                // for any failed fsync, and follow the directory, so the snapshot's file
                // is kept (its failed job must not delete what the MANIFEST names) and
                // nothing is deleted.
                let unchanged = super::manifest::read_manifest(&*shared.vfs, &shared.dir)
                    .is_ok_and(|on_disk| on_disk.as_ref() == Some(&*m));
                if !unchanged {
                    shared.poison(&e);
                    *m = next;
                }
                return Err(e);
            }
            let retired: Vec<u64> = segs[..keep_from].to_vec();
            let old = std::mem::replace(&mut *m, next).snapshot;
            (old, retired)
        };
        let mut paths: Vec<PathBuf> = retired
            .iter()
            .map(|l| shared.dir.join(super::segment::segment_file_name(*l)))
            .collect();
        let seg_count = paths.len();
        if let Some(old) = old_snapshot {
            paths.push(shared.dir.join(super::snapshot::snapshot_file_name(old)));
        }
        let (mut bytes, mut seg_bytes) = (0, 0);
        for (i, p) in paths.iter().enumerate() {
            let len = shared.vfs.file_len(p).unwrap_or(0);
            bytes += len;
            if i < seg_count {
                seg_bytes += len;
            }
            match shared.vfs.remove(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(p, e)),
            }
        }
        shared
            .vfs
            .sync_dir(&shared.dir)
            .map_err(|e| StorageError::io(&shared.dir, e))?;
        let c = &shared.counters;
        c.segments.fetch_sub(seg_count as u64, Ordering::Relaxed);
        c.current_size.fetch_sub(seg_bytes, Ordering::Relaxed);
        Ok((seg_count as u64, bytes))
    }

    /// Memory the log's buffers hold (both halves of the double buffer): what Redis calls
    /// the AOF buffer, which maxmemory does not count (`mem_not_counted_for_evict`), so
    /// the DELs of an eviction, buffered, do not call for more eviction.
    pub fn buffered_bytes(&self) -> u64 {
        let c = &self.shared.counters;
        c.append_buf.load(Ordering::Relaxed) + c.spare_buf.load(Ordering::Relaxed)
    }

    /// The last LSN assigned (0 if none).
    pub fn last_lsn(&self) -> u64 {
        self.shared.last_lsn.load(Ordering::Acquire)
    }

    /// The last LSN that is durable under the policy: fdatasync'ed under `Always`, written to
    /// the OS under `Everysec`/`No` (Redis replies after write(2) in those modes).
    pub fn durable_lsn(&self) -> u64 {
        self.shared.durable_lsn.load(Ordering::Acquire)
    }

    /// The last LSN covered by a completed fdatasync, whatever the policy.
    pub fn fsynced_lsn(&self) -> u64 {
        self.shared.fsynced_lsn.load(Ordering::Acquire)
    }

    /// Resolves once `durable_lsn() >= lsn`; `Err(Poisoned)` if the log latched first,
    /// `Err(Closed)` if it was shut down without reaching `lsn` (an LSN never assigned).
    pub async fn wait_durable(&self, lsn: u64) -> Result<(), StorageError> {
        self.wait(lsn, false).await
    }

    /// Resolves once `fsynced_lsn() >= lsn`, asking the writer for an fdatasync if the policy
    /// would not do one soon (WAITAOF under `everysec`/`no`).
    pub async fn wait_fsynced(&self, lsn: u64) -> Result<(), StorageError> {
        self.request_sync(lsn);
        self.wait(lsn, true).await
    }

    async fn wait(&self, lsn: u64, fsynced: bool) -> Result<(), StorageError> {
        let fast = if fsynced {
            self.fsynced_lsn()
        } else {
            self.durable_lsn()
        };
        if fast >= lsn {
            return Ok(());
        }
        // Check again under the waiter lock, then park: a publisher updates the atomics
        // before it takes this lock to wake waiters, so no publish is missed.
        let rx = {
            let mut w = self.shared.waiters.lock();
            if let Some(out) = wait_outcome(&self.shared.progress_now(), lsn, fsynced) {
                return out;
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            w.push(Waiter { lsn, fsynced, tx });
            rx
        };
        rx.await.unwrap_or(Err(StorageError::Closed))
    }

    fn request_sync(&self, lsn: u64) {
        let mut st = self.shared.pending.lock();
        if st.sync_requested < lsn {
            st.sync_requested = lsn;
        }
        st.wake_at = usize::MAX;
        drop(st);
        self.shared.writer_cv.notify_one();
    }

    /// Blocking [`Log::wait_durable`] for non-async callers (DEBUG RELOAD, shutdown). Do not
    /// call it on an async runtime thread.
    pub fn wait_durable_blocking(&self, lsn: u64) -> Result<(), StorageError> {
        self.wait_blocking(lsn, false)
    }

    /// Blocking [`Log::wait_fsynced`] (the snapshot job: a snapshot is installed only once
    /// every record it covers is fdatasync'ed, whatever the policy).
    pub fn wait_fsynced_blocking(&self, lsn: u64) -> Result<(), StorageError> {
        self.request_sync(lsn);
        self.wait_blocking(lsn, true)
    }

    fn wait_blocking(&self, lsn: u64, fsynced: bool) -> Result<(), StorageError> {
        let shared = &*self.shared;
        let mut g = shared.blocking_mx.lock();
        loop {
            // The writer stores the atomics before taking `blocking_mx` to notify, so checking
            // them under the mutex cannot miss a wake-up.
            let p = Progress {
                durable: self.durable_lsn(),
                fsynced: self.fsynced_lsn(),
                failed: shared.poisoned.load(Ordering::SeqCst),
                closed: shared.closed.load(Ordering::SeqCst),
            };
            if let Some(r) = wait_outcome(&p, lsn, fsynced) {
                return r;
            }
            shared.blocking_cv.wait(&mut g);
        }
    }

    /// The latched error text, if a write or fsync failed (for MISCONF and INFO).
    pub fn is_poisoned(&self) -> Option<String> {
        if !self.shared.poisoned.load(Ordering::SeqCst) {
            return None;
        }
        self.shared.poison_text.lock().clone()
    }

    /// Statistics for INFO persistence.
    pub fn stats(&self) -> LogStats {
        let c = &self.shared.counters;
        let fsyncs = c.fsyncs.load(Ordering::Relaxed);
        let fsynced_records = c.records_fsynced.load(Ordering::Relaxed);
        let poisoned = self.is_poisoned();
        LogStats {
            current_size: c.current_size.load(Ordering::Relaxed),
            segments: c.segments.load(Ordering::Relaxed),
            last_lsn: self.last_lsn(),
            durable_lsn: self.durable_lsn(),
            fsynced_lsn: self.fsynced_lsn(),
            fsyncs,
            records_written: c.records_written.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            write_batches: c.write_batches.load(Ordering::Relaxed),
            mean_records_per_fsync: if fsyncs == 0 {
                0.0
            } else {
                fsynced_records as f64 / fsyncs as f64
            },
            last_fsync_latency_us: c.last_fsync_us.load(Ordering::Relaxed),
            last_write_ok: poisoned.is_none(),
            poisoned,
            fsync_policy: self.shared.policy(),
        }
    }

    /// Changes the fsync policy (CONFIG SET appendfsync). Takes effect at the writer's next
    /// batch; switching to `Always` makes later waits cover an fdatasync.
    pub fn set_fsync(&self, p: FsyncPolicy) {
        self.shared.fsync.store(p.to_u8(), Ordering::Relaxed);
        // Wake the writer so an Everysec timer is re-evaluated.
        let mut st = self.shared.pending.lock();
        st.wake_at = usize::MAX;
        drop(st);
        self.shared.writer_cv.notify_one();
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Writes and fdatasyncs every appended record, stops the writer thread and releases the
    /// directory lock. Idempotent; also run on drop. Later appends return `Closed`.
    pub fn shutdown(&self) {
        {
            let mut st = self.shared.pending.lock();
            st.closed = true;
            st.wake_at = usize::MAX;
        }
        self.shared.writer_cv.notify_one();
        if let Some(handle) = self.writer.lock().take() {
            if handle.join().is_err() {
                tracing::error!("log writer thread panicked");
            }
        }
        self.shared.mark_closed();
        self.lock.lock().take();
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
pub(crate) mod tests;
