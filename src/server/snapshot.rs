//! The online snapshot job: a consistent image of the keyspace at one LSN, taken while the
//! server keeps serving, with no fork and no long pause (format/snapshot.md §Online
//! snapshot). Starting flips every database's epoch bit and registers a `Capture` (O(number
//! of databases) under the engine lock); the job then walks each table with the SCAN cursor
//! in slices of about 100 µs under the lock, writing every entry whose bit is still
//! the old one, while `db::Db` hands it a copy of any such entry a command is about to
//! change or remove. Compression and writing happen outside the lock. When the file is
//! durable and verified and the log is fsynced through its LSN, the log installs it.
//!
//! In the server the walk runs as a task on the connections' runtime (the engine's `walk`)
//! and hands each slice's items (`ToFile`) to a thread that writes the file
//! (`write_items_until_end`) and then finishes the job: a walk on a thread of its own was
//! preempted now and then while it held the lock, stalling every connection for
//! milliseconds (benches/RESULTS.md, issue 4).
//!
//! Owns `SnapStatus` (INFO persistence, LASTSAVE) and the job's steps; the engine owns the
//! lock and starts it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cmd::State;
use crate::db::{Capture, Entry, Lent, Take, Value};
use crate::persist::io::Vfs;
use crate::persist::snapshot::{SnapshotInfo, SnapshotWriter};
use crate::persist::snapshot_codec::{encode_entry, encode_entry_spilling, encode_library};
use crate::persist::{Log, StorageError};

/// How long the walk holds the engine lock per slice. Every connection waits for a slice,
/// so it is short: in the quietest runs the p99 of a SET load while snapshots ran was
/// 1.40–1.81× its steady value with 100 µs, 1.62–2.03× with 250 µs (benches/RESULTS.md,
/// issue 4). Since the walk loads 32 buckets at once a key costs a quarter of what it did
/// (~150 ns under the lock), so 50 µs slices at the same rest factor still walk a million
/// keys in about 4 s under load (100 µs slices without that took 8–12 s).
pub const SLICE: Duration = Duration::from_micros(50);
/// The walk rests this many times as long as each slice took (on the runtime at least a
/// timer tick, 1 ms), so that it takes at most a sixth of a core from the connections.
pub const REST_FACTOR: u32 = 5;
/// A walk on the runtime hands its encoded items to the thread writing the file once this
/// many bytes are pending (or at the end): one hand-off, and one wake-up of that thread,
/// per 64 KiB rather than per slice.
pub const SHIP_BYTES: usize = 64 * 1024;

/// No command for this long: the server is idle and the walk is not paced (`Job::slice`).
pub const IDLE_AFTER: Duration = Duration::from_millis(10);

/// A budgeted slice also ends once the walk has encoded this many bytes (the copies it
/// drains come on top): with large values the batched walk otherwise encodes faster than
/// the file thread compresses in a debug build, and the encoded bytes waiting for it count
/// as used memory (tests/eviction.rs `eviction_during_a_snapshot_keeps_the_dataset`
/// over-evicted). Small values hit the time budget first (50 µs ≈ 300 keys ≈ 13 KB).
pub const SLICE_BYTES: usize = 32 * 1024;

/// SCAN steps (buckets) the walk loads at once (`Dict::scan_steps_mut`): their cache
/// misses overlap, so a key costs a fraction of the ~250 ns one bucket at a time took.
const WARM_STEPS: usize = 32;
/// SCAN steps between two looks at the clock.
const CHECK_STEPS: usize = 32;

/// The thread writing the file encodes a copied `Whole` value (a list) through a buffer of
/// about this size: such a value never sits encoded in memory at once.
pub const WHOLE_SPILL: usize = 256 * 1024;

/// A large value (`db::Take`) the walk took by reference rather than encoding it under the
/// engine lock (one list of 3M elements paused every client for 23 ms, a set of 1M members
/// for 206 ms: benches/RESULTS.md, issue 4), to be encoded by the thread writing the file.
pub struct Whole {
    db: usize,
    key: Box<[u8]>,
    value: WholeValue,
}

/// How a `Whole` holds its value.
enum WholeValue {
    /// A list's copy (it shares the nodes; a write copies the node it changes), with its
    /// expiry.
    Copy(Entry, i64),
    /// A hash, set or sorted set lent (`db::Lent`): a write that comes first takes it back.
    Lent(Lent),
}

/// Encode `values` and write them to `w` (pieces of about `WHOLE_SPILL` bytes; the
/// last piece of each value counts it as one item) through the buffer `buf`.
pub fn encode_whole(
    values: Vec<Whole>,
    buf: &mut Vec<u8>,
    w: &mut SnapshotWriter,
) -> Result<(), StorageError> {
    let mut error = None;
    for v in values {
        buf.clear();
        let (entry, expire_at) = match v.value {
            WholeValue::Copy(e, at) => (e, at),
            WholeValue::Lent(lent) => {
                // Encoded whole while the loan is held, and given up before it is
                // released: a write that wants the value back meanwhile waits (at most
                // this encoding, which it would otherwise do itself) and then finds it
                // no longer shared, instead of copying all of it.
                let mut loan = lent.lock();
                let Some((e, at)) = loan.take() else {
                    continue; // a write took it back and encoded it
                };
                encode_entry(buf, v.db, &v.key, &e, at);
                drop(e);
                drop(loan);
                w.write_items(buf, 1)?;
                if buf.capacity() > 4 * WHOLE_SPILL {
                    *buf = Vec::new();
                }
                continue;
            }
        };
        let mut spill = |out: &mut Vec<u8>| {
            if error.is_none() {
                error = w.write_items(out, 0).err();
            }
            out.clear();
        };
        encode_entry_spilling(
            buf,
            v.db,
            &v.key,
            &entry,
            expire_at,
            WHOLE_SPILL,
            &mut spill,
        );
        if let Some(e) = error {
            return Err(e);
        }
        w.write_items(buf, 1)?;
    }
    buf.clear();
    Ok(())
}

/// What the walk reads first from an entry's value (its first and last byte), to load it
/// with the other entries of a batch before any is encoded.
fn warm_entry(e: &Entry) -> u8 {
    match &e.value {
        Value::Str(s) => s.first().copied().unwrap_or(0) ^ s.last().copied().unwrap_or(0),
        _ => 0,
    }
}

/// What the snapshot machinery has done, for INFO persistence and LASTSAVE.
#[derive(Debug, Clone, Default)]
pub struct SnapStatus {
    /// The running job: (id, LSN, start).
    pub running: Option<(u64, u64, Instant)>,
    /// Ids handed out so far.
    pub jobs: u64,
    /// The last job's outcome (`rdb_last_bgsave_status`).
    pub last_error: Option<String>,
    /// Duration of the last completed job, seconds (-1: none yet).
    pub last_duration_s: i64,
    /// Snapshots installed since start.
    pub installed: u64,
    /// LSN of the installed snapshot.
    pub lsn: Option<u64>,
    /// Size of the installed snapshot file.
    pub file_bytes: u64,
    /// What its items take uncompressed (the log's records are not compressed: the base
    /// `auto-aof-rewrite-percentage` compares the log with).
    pub raw_bytes: u64,
    /// The log kept when it was installed (written while the job ran): with `raw_bytes`,
    /// the size the automatic trigger measures growth from, as Redis's
    /// `aof_rewrite_base_size`. 0 after startup (a long tail is compacted soon).
    pub log_at_install: u64,
    /// Keys (and libraries) in the installed snapshot.
    pub items: u64,
    /// Bytes of segments and old snapshots deleted by installs since start.
    pub bytes_reclaimed: u64,
    /// Segments deleted by installs since start.
    pub segments_retired: u64,
    /// A BGREWRITEAOF (or BGSAVE SCHEDULE) arrived while a job ran, or either inside EXEC:
    /// start another when it ends (or at the next cron tick if none runs).
    pub scheduled: bool,
    /// What was scheduled is a BGREWRITEAOF (it runs as one: `rewrite`).
    pub scheduled_rewrite: bool,
    /// The running job was started by BGREWRITEAOF (Redis's CHILD_TYPE_AOF): another
    /// BGREWRITEAOF is refused rather than scheduled, a BGSAVE told to use SCHEDULE.
    pub rewrite: bool,
    /// Stops the running background job when set (its walk and file thread give up, the
    /// job ends failed): CONFIG SET appendonly no during a BGREWRITEAOF.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Largest number of entries a write copied for a running snapshot in one job.
    pub last_copied: u64,
    /// Jobs that failed in a row (INFO `aof_rewrites_consecutive_failures`), and when the
    /// last one did: automatic snapshots back off after three, as Redis's AOF rewrites.
    pub consecutive_failures: u64,
    pub failed_at: Option<Instant>,
    /// Background jobs started (INFO `total_forks`) and how long the last start held the
    /// engine lock, µs (`latest_fork_usec`).
    pub background_starts: u64,
    pub last_start_us: u64,
}

impl SnapStatus {
    /// Queue a job for when none runs (`rewrite`: a BGREWRITEAOF's, which then runs as one).
    pub fn schedule(&mut self, rewrite: bool) {
        self.scheduled = true;
        self.scheduled_rewrite |= rewrite;
    }

    /// The queued job, if any (Some(rewrite)), taken off the queue.
    pub fn take_scheduled(&mut self) -> Option<bool> {
        let rewrite = std::mem::take(&mut self.scheduled_rewrite);
        std::mem::take(&mut self.scheduled).then_some(rewrite)
    }

    /// A job failed (or could not start).
    pub fn note_failure(&mut self, error: String) {
        self.last_error = Some(error);
        self.consecutive_failures += 1;
        self.failed_at = Some(Instant::now());
    }

    /// Whether automatic snapshots wait now: after three failures in a row, 1 minute, then
    /// twice as long after each further failure, at most an hour (Redis's
    /// `aofRewriteLimited`). A BGSAVE or BGREWRITEAOF asked for is never held back.
    pub fn auto_backoff(&self) -> bool {
        const THRESHOLD: u64 = 3;
        let Some(at) = self.failed_at else {
            return false;
        };
        if self.consecutive_failures < THRESHOLD {
            return false;
        }
        let doublings = u32::try_from(self.consecutive_failures - THRESHOLD).unwrap_or(u32::MAX);
        let minutes = 1u64.checked_shl(doublings).unwrap_or(u64::MAX).min(60);
        at.elapsed() < std::time::Duration::from_secs(minutes * 60)
    }
}

/// Why a job stopped early.
#[derive(Debug)]
pub enum JobError {
    /// The keyspace was replaced under the job (DEBUG RELOAD, the latch rebuild).
    Replaced,
    /// Writing, syncing, verifying or installing failed.
    Storage(StorageError),
    /// Stopped on purpose (CONFIG SET appendonly no during a BGREWRITEAOF): not a failure.
    Stopped,
}

/// What a job stopped on purpose reports (`JobError::Stopped`).
pub const STOPPED: &str = "stopped by CONFIG SET appendonly no";

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Replaced => f.write_str("the keyspace was reloaded during the snapshot"),
            JobError::Storage(e) => write!(f, "{e}"),
            JobError::Stopped => f.write_str(STOPPED),
        }
    }
}

impl From<StorageError> for JobError {
    fn from(e: StorageError) -> Self {
        JobError::Storage(e)
    }
}

/// One running snapshot.
pub struct Job {
    id: u64,
    lsn: u64,
    writer: Option<SnapshotWriter>,
    /// Encoded items not yet handed to the writer, and how many.
    pending: Vec<u8>,
    pending_items: u64,
    /// Large values taken whole, not yet handed to the writer.
    whole: Vec<Whole>,
    /// Loans a waiting write asked for (`Capture::late`): the walk encodes them itself,
    /// outside the lock and at normal priority (`take_urgent`, `encode_urgent`), instead of
    /// queueing them behind everything the low-priority file thread has still to write.
    urgent: Vec<(usize, Box<[u8]>, Lent)>,
    /// `st.dirty` when the job started (what LASTSAVE's dirty counter keeps after it).
    dirty_at_start: u64,
    started_ms: i64,
    copied: u64,
    /// SCAN steps loaded at once (`WARM_STEPS`; `set_warm_steps` for measurements).
    warm_steps: usize,
    /// The commands counter (`Stats::total_commands`) at the last `slice`, and since when
    /// it has not moved.
    commands_seen: u64,
    quiet_since: Instant,
}

/// One slice of work's outcome.
pub struct Step {
    /// Every database has been walked and every copy written to `pending`.
    pub done: bool,
}

/// One paced slice of a background walk (`Job::slice`).
pub struct Slice {
    /// Every database has been walked and every copy written to `pending`.
    pub done: bool,
    /// How long to rest before the next slice; `None`: only let every other runnable task
    /// go first.
    pub rest: Option<Duration>,
}

impl Job {
    /// Start a snapshot of everything applied so far. Call under the engine lock: the LSN
    /// read here is the last one applied to `st`.
    pub fn begin(
        st: &mut State,
        log: &Log,
        vfs: &dyn Vfs,
        dir: &std::path::Path,
        id: u64,
        libraries: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Job, StorageError> {
        let lsn = log.last_lsn();
        let now = crate::clock::now_ms();
        let writer = SnapshotWriter::create(vfs, dir, lsn, now)?;
        for (i, db) in st.ks.dbs.iter_mut().enumerate() {
            db.epoch = !db.epoch;
            db.capture = Some(Box::new(Capture {
                job: id,
                db_index: i,
                encode: Some(encode_entry),
                ..Capture::default()
            }));
        }
        // The next record starts a new segment: the ones before hold only covered records.
        log.request_rotation_before(lsn + 1);
        let mut pending = Vec::new();
        for (name, code) in libraries {
            encode_library(&mut pending, name, code);
        }
        Ok(Job {
            id,
            lsn,
            writer: Some(writer),
            pending_items: libraries.len() as u64,
            pending,
            whole: Vec::new(),
            urgent: Vec::new(),
            dirty_at_start: st.dirty,
            started_ms: now,
            copied: 0,
            warm_steps: WARM_STEPS,
            commands_seen: st.stats.total_commands,
            quiet_since: Instant::now(),
        })
    }

    /// Load `n` SCAN steps at once instead of `WARM_STEPS` (1: one bucket at a time), for
    /// measurements (`examples/snaptrace --walk`).
    pub fn set_warm_steps(&mut self, n: usize) {
        self.warm_steps = n.clamp(1, 64);
    }

    /// The job's number (`SnapStatus::jobs` when it began).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The LSN this snapshot is of.
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// One slice of a background walk under the engine lock (`SLICE`), and how long to rest
    /// after it.
    ///
    /// The server is taken as idle when no command has run for `IDLE_AFTER`: then the next
    /// slice only waits for the runnable tasks to go first, so a snapshot of an idle server
    /// is not paced (~0.4 s per million keys instead of seconds); the first command ends
    /// that. (Idle since the previous slice is not enough: under a load of clients that all
    /// wait for a group commit there is no command for a while after every batch, and
    /// slices run back to back there doubled the p99 — benches/RESULTS.md, issue 4.)
    pub fn slice(&mut self, st: &mut State) -> Result<Slice, JobError> {
        let t = Instant::now();
        let commands = st.stats.total_commands;
        if commands != self.commands_seen {
            self.commands_seen = commands;
            self.quiet_since = t;
        }
        let idle = t.duration_since(self.quiet_since) >= IDLE_AFTER;
        let step = self.step(st, Some(SLICE), true)?;
        Ok(Slice {
            done: step.done,
            rest: (!idle).then(|| t.elapsed() * REST_FACTOR),
        })
    }

    /// Walk for about `budget` (None: to the end) under the engine lock, encoding into the
    /// pending buffer. `encode == false` only restores the epoch bits (an abandoned job).
    pub fn step(
        &mut self,
        st: &mut State,
        budget: Option<Duration>,
        encode: bool,
    ) -> Result<Step, JobError> {
        let start = Instant::now();
        let mut all_done = true;
        let mut visited = 0usize;
        let mut walked_bytes = 0usize;
        for db in &mut st.ks.dbs {
            let epoch = db.epoch;
            let Some(c) = db.capture.as_deref_mut() else {
                return Err(JobError::Replaced);
            };
            if c.job != self.id {
                return Err(JobError::Replaced);
            }
            let index = c.db_index;
            // The copies writes took, within the slice's byte budget like the walk: they
            // stay copies (snapshot memory, not counted by maxmemory) until encoded, so
            // encoding all at once would turn megabytes of them into counted buffers at
            // once, and eviction would chase those by evicting (and copying) still more
            // keys (a collapse to an empty keyspace, seen under maxmemory).
            // The items writes encoded themselves (large values they were about to change).
            // Loans writes are waiting for (lent on the spot, or lent by the walk and
            // still queued for the file thread).
            for (key, l) in c.late.drain(..) {
                if encode {
                    self.urgent.push((index, key, l));
                }
            }
            if !c.encoded.is_empty() {
                if encode {
                    self.pending.extend_from_slice(&c.encoded);
                    self.pending_items += c.encoded_items;
                    walked_bytes += c.encoded.len();
                }
                c.encoded = Vec::new();
                c.encoded_items = 0;
            }
            while let Some((k, e, at, cost)) = c.taken.pop() {
                c.taken_bytes = c.taken_bytes.saturating_sub(cost);
                self.copied += 1;
                // (A large value copied here was removed, not changed: its copy shares the
                // contents nobody changes any more.)
                if encode && !matches!(Take::of(&e.value), Take::Small) {
                    self.whole.push(Whole {
                        db: index,
                        key: k,
                        value: WholeValue::Copy(e, at),
                    });
                } else if encode {
                    let before = self.pending.len();
                    encode_entry(&mut self.pending, index, &k, &e, at);
                    self.pending_items += 1;
                    walked_bytes += self.pending.len() - before;
                }
                if budget.is_some() && walked_bytes >= SLICE_BYTES {
                    break;
                }
            }
            if c.taken.is_empty() {
                // Free the list's capacity: its growth was part of the copies' cost.
                c.taken = Vec::new();
                c.taken_bytes = 0;
                c.list_bytes = 0;
            } else {
                all_done = false;
                break;
            }
            if c.done {
                continue;
            }
            let pending = &mut self.pending;
            let items = &mut self.pending_items;
            let whole = &mut self.whole;
            let lent = &mut c.lent;
            let walked = &mut walked_bytes;
            loop {
                let (table, expires) = match c.detached.as_mut() {
                    Some(d) => (d, &c.detached_expires),
                    None => (&mut db.dict, &db.expires),
                };
                let (next, steps) =
                    table.scan_steps_mut(c.cursor, self.warm_steps, warm_entry, |k, e| {
                        if e.snap != epoch {
                            e.snap = epoch;
                            let take = if encode {
                                Take::of(&e.value)
                            } else {
                                Take::Small
                            };
                            if let Take::List | Take::Lend = take {
                                let at = crate::db::expiry_in(expires, k, e);
                                let copy = (e.snapshot_copy(), at);
                                let value = if let Take::Lend = take {
                                    let l: Lent = Arc::new(parking_lot::Mutex::new(Some(copy)));
                                    lent.insert(k.into(), l.clone());
                                    WholeValue::Lent(l)
                                } else {
                                    WholeValue::Copy(copy.0, copy.1)
                                };
                                whole.push(Whole {
                                    db: index,
                                    key: k.into(),
                                    value,
                                });
                            } else if encode {
                                let at = pending.len();
                                let exp = crate::db::expiry_in(expires, k, e);
                                encode_entry(pending, index, k, e, exp);
                                *walked += pending.len() - at;
                                *items += 1;
                            }
                        }
                    });
                c.cursor = next;
                if c.cursor == 0 {
                    c.done = true;
                    // A flushed database's old tables: freeing millions of keys here
                    // would hold the lock for as long.
                    if let Some(old) = c.detached.take() {
                        let expires = std::mem::take(&mut c.detached_expires);
                        crate::db::lazyfree::drop_in_background(Box::new((old, expires)));
                    }
                    break;
                }
                visited += steps;
                if visited >= CHECK_STEPS {
                    visited = 0;
                    if budget.is_some_and(|b| *walked >= SLICE_BYTES || start.elapsed() >= b) {
                        all_done = false;
                        break;
                    }
                }
            }
            if !all_done {
                break;
            }
        }
        if all_done && encode {
            // A value lent and not yet taken by the file thread may still be taken back by
            // a write, which encodes it into `encoded` for the walk to move: the walk ends
            // only once every loan is settled (with the captures gone, a write would copy
            // the whole value instead).
            for db in &mut st.ks.dbs {
                if let Some(c) = db.capture.as_deref_mut() {
                    // (A loan the file thread holds is being encoded: not settled yet, and
                    // not waited for here, under the engine lock.)
                    c.lent
                        .retain(|_, l| l.try_lock().is_none_or(|v| v.is_some()));
                    if !c.lent.is_empty() {
                        all_done = false;
                    }
                }
            }
        }
        if all_done {
            self.release(st);
        }
        Ok(Step { done: all_done })
    }

    /// Remove this job's captures (the walk is over, or the job ended).
    fn release(&self, st: &mut State) {
        for db in &mut st.ks.dbs {
            if db.capture.as_ref().is_some_and(|c| c.job == self.id) {
                db.capture = None;
            }
        }
    }

    /// Bytes encoded and not yet taken (`take_items`).
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    /// The room of the buffer the walk encodes into (`PipelineMem`).
    pub fn pending_capacity(&self) -> usize {
        self.pending.capacity()
    }

    /// The loans waiting writes asked for since the last call (`encode_urgent` them).
    pub fn take_urgent(&mut self) -> Vec<(usize, Box<[u8]>, Lent)> {
        std::mem::take(&mut self.urgent)
    }

    /// True when the last steps took large values whole (`take_items` hands them over).
    pub fn has_whole(&self) -> bool {
        !self.whole.is_empty()
    }

    /// Take what the last steps encoded (bytes, items) and the values they took whole,
    /// leaving `spare` (cleared) to encode into next: a background walk hands them to the
    /// thread writing the file, which encodes the values and hands the buffer back.
    pub fn take_items(&mut self, mut spare: Vec<u8>) -> (Vec<u8>, u64, Vec<Whole>) {
        spare.clear();
        let items = std::mem::take(&mut self.pending_items);
        let whole = std::mem::take(&mut self.whole);
        (std::mem::replace(&mut self.pending, spare), items, whole)
    }

    /// Take the file writer out (the thread writing the file owns it while the walk runs
    /// elsewhere); `put_writer` gives it back before `finish`.
    pub fn take_writer(&mut self) -> Option<SnapshotWriter> {
        self.writer.take()
    }

    /// Give back the writer `take_writer` took.
    pub fn put_writer(&mut self, writer: Option<SnapshotWriter>) {
        self.writer = writer;
    }

    /// Hand what the last steps encoded, and the values they took whole, to the file
    /// (outside the engine lock).
    pub fn flush(&mut self) -> Result<(), StorageError> {
        let whole = std::mem::take(&mut self.whole);
        if let Some(w) = self.writer.as_mut() {
            w.write_items(&self.pending, self.pending_items)?;
            let mut buf = Vec::new();
            encode_whole(whole, &mut buf, w)?;
        }
        self.pending.clear();
        self.pending_items = 0;
        Ok(())
    }

    /// Finish the file (verified by reading it back before it takes its final name), wait
    /// until the log is fsynced through the LSN, and install it (steps S2–S8). Returns the
    /// file's facts and what the install reclaimed (segments, bytes).
    pub fn finish(
        &mut self,
        log: &Log,
        vfs: &dyn Vfs,
    ) -> Result<(SnapshotInfo, u64, u64), StorageError> {
        self.flush()?;
        let writer = self.writer.take().expect("finish is called once");
        let (info, _path) = writer.finish(vfs)?;
        tracing::debug!(lsn = self.lsn, "snapshot file verified and durable");
        // DURABILITY: a snapshot of LSN n may replace records only once they are all on disk:
        // otherwise a crash could leave a snapshot ahead of a torn log.
        log.wait_fsynced_blocking(self.lsn)?;
        log.wait_rotation(self.lsn + 1);
        tracing::debug!(
            lsn = self.lsn,
            "snapshot: log fsynced and rotated past the LSN"
        );
        let (segs, reclaimed) = log.install_snapshot(self.lsn)?;
        tracing::debug!(lsn = self.lsn, segs, "snapshot installed in the manifest");
        Ok((info, segs, reclaimed))
    }

    /// Give up: restore every database's epoch bits so the next snapshot starts clean.
    /// Call under the engine lock; does nothing if the keyspace was replaced meanwhile.
    pub fn abandon(&mut self, st: &mut State) {
        self.pending.clear();
        self.pending_items = 0;
        self.whole.clear();
        self.writer = None;
        let _ = self.step(st, None, false);
        self.release(st);
    }

    /// Record how the job ended, under the engine lock: on success LASTSAVE, the dirty
    /// counter and the status; on failure the epoch bits are restored (`abandon`) and the
    /// error kept for INFO. Returns the outcome for the caller to report.
    pub fn conclude(
        &mut self,
        st: &mut State,
        status: &mut SnapStatus,
        started: Instant,
        result: Result<(SnapshotInfo, u64, u64), String>,
    ) -> Result<(SnapshotInfo, u64), String> {
        status.running = None;
        status.rewrite = false;
        status.last_duration_s = i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
        match result {
            Ok((info, segs, reclaimed)) => {
                // (SAVE's one step may have ended with loans the file's flush settled.)
                self.release(st);
                st.lastsave = self.started_ms / 1000;
                st.dirty = st.dirty.saturating_sub(self.dirty_at_start);
                status.installed += 1;
                status.lsn = Some(info.lsn);
                status.file_bytes = info.file_bytes;
                status.raw_bytes = info.raw_bytes;
                status.items = info.items;
                status.bytes_reclaimed += reclaimed;
                status.segments_retired += segs;
                status.last_error = None;
                status.consecutive_failures = 0;
                status.failed_at = None;
                status.last_copied = self.copied;
                Ok((info, segs))
            }
            Err(e) if e == STOPPED => {
                // (As Redis's rewrite child killed with SIGUSR1: no failure recorded.)
                self.abandon(st);
                tracing::warn!("snapshot {e}");
                Err(e)
            }
            Err(e) => {
                self.abandon(st);
                tracing::error!("snapshot failed: {e}");
                status.note_failure(e.clone());
                Err(e)
            }
        }
    }
}

/// Encode the loans in `urgent` (those still lent: a loan the file thread or a write
/// settled meanwhile is skipped), holding each loan while encoding it, as the file thread
/// does. Returns the items' bytes and how many. Runs off the engine lock.
pub fn encode_urgent(urgent: Vec<(usize, Box<[u8]>, Lent)>) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let mut items = 0;
    for (db, key, lent) in urgent {
        let mut loan = lent.lock();
        if let Some((e, at)) = loan.take() {
            encode_entry(&mut out, db, &key, &e, at);
            drop(e);
            items += 1;
        }
    }
    (out, items)
}

/// Lower the calling thread's scheduling priority (nice about 9): a snapshot's file thread
/// compresses every block and, at the end, reads the whole file back to verify it. On a
/// small machine those CPU bursts compete with the connections' worker for a core; at a
/// lower priority the worker, when it wakes, runs first (the snapshot still gets every
/// cycle nobody else wants). Best effort: where the OS refuses, the thread runs as before.
pub fn lower_thread_priority() {
    use thread_priority::{set_current_thread_priority, ThreadPriority, ThreadPriorityValue};
    let low = ThreadPriorityValue::try_from(25u8).map(ThreadPriority::Crossplatform);
    if let Err(e) = low
        .map_err(|e| e.to_string())
        .and_then(|p| set_current_thread_priority(p).map_err(|e| format!("{e:?}")))
    {
        tracing::debug!(error = %e, "cannot lower the snapshot thread's priority");
    }
}

/// Shared handle type of the status.
pub type Status = Arc<parking_lot::Mutex<SnapStatus>>;

/// What a background snapshot holds outside the dataset while it runs, in bytes: the
/// buffer the walk encodes into, the buffers on their way to the file thread (and back to
/// the walk as spares), and the file thread's own (the writer's raw and compressed blocks,
/// a whole value's spill buffer, and reading the file back to verify it). `maxmemory` does
/// not count it, as a Redis fork child's memory is not in its parent's `used_memory`:
/// counted, a master at its limit evicted about 2 MB of keys per snapshot (the idle
/// server's `used_memory` rose 2.2 MB while one ran). Capacities, kept by the walk and the
/// file thread as they go; zero when no snapshot runs.
#[derive(Debug, Default)]
pub struct PipelineMem {
    /// The walk's buffer being filled (set after every slice).
    pending: AtomicU64,
    /// Buffers handed to the file thread, until the walk takes them back as spares.
    flight: AtomicI64,
    /// The file thread's buffers (set after every item it writes).
    file: AtomicU64,
}

impl PipelineMem {
    /// The total.
    pub fn bytes(&self) -> u64 {
        let flight = u64::try_from(self.flight.load(Relaxed)).unwrap_or(0);
        self.pending.load(Relaxed) + flight + self.file.load(Relaxed)
    }

    /// The walk's buffer now holds `cap` bytes.
    pub fn set_pending(&self, cap: usize) {
        self.pending.store(cap as u64, Relaxed);
    }

    /// A buffer of `cap` bytes went to the file thread.
    pub fn shipped(&self, cap: usize) {
        self.flight.fetch_add(cap as i64, Relaxed);
    }

    /// A buffer of `cap` bytes came back to the walk (or was dropped on the way).
    pub fn returned(&self, cap: usize) {
        self.flight.fetch_sub(cap as i64, Relaxed);
    }

    /// The file thread's buffers now hold `bytes`.
    pub fn set_file(&self, bytes: usize) {
        self.file.store(bytes as u64, Relaxed);
    }

    /// The job ended: its buffers are gone.
    pub fn clear(&self) {
        self.pending.store(0, Relaxed);
        self.flight.store(0, Relaxed);
        self.file.store(0, Relaxed);
    }
}

/// What a background walk sends the thread that writes the file.
pub enum ToFile {
    /// The items slices encoded (bytes, how many) and the values they took whole.
    Items(Vec<u8>, u64, Vec<Whole>),
    /// The walk ended: `Ok` once every database has been walked.
    End(Result<(), JobError>),
}

/// A background job while its walk runs on the server's runtime: the walk steps it, and
/// the thread writing the file takes it back when the walk ends (or was dropped with the
/// runtime), to finish or abandon it.
pub type Slot = Arc<parking_lot::Mutex<Option<Job>>>;

/// The file side of a background snapshot: write the items the walk sends until it ends,
/// returning each buffer through `spare`. A write error sets `failed` (the walk stops at
/// its next slice) and is returned once the walk has ended, so the job is always handed
/// back before anyone concludes it.
pub fn write_items_until_end(
    writer: &mut Option<SnapshotWriter>,
    rx: &mut tokio::sync::mpsc::Receiver<ToFile>,
    spare: &std::sync::mpsc::Sender<Vec<u8>>,
    failed: &std::sync::atomic::AtomicBool,
    mem: &PipelineMem,
) -> Result<(), JobError> {
    let mut error = None;
    let mut buf = Vec::new();
    let walked = loop {
        match rx.blocking_recv() {
            Some(ToFile::Items(bytes, items, whole)) => {
                if error.is_some() {
                    mem.returned(bytes.capacity());
                    continue;
                }
                if let Some(w) = writer.as_mut() {
                    let written = w
                        .write_items(&bytes, items)
                        .and_then(|()| encode_whole(whole, &mut buf, w));
                    if let Err(e) = written {
                        failed.store(true, std::sync::atomic::Ordering::Release);
                        error = Some(e);
                    }
                    mem.set_file(w.buffers() + buf.capacity());
                }
                // The walk may have ended and dropped its receiver: nothing to hand back to.
                if let Err(std::sync::mpsc::SendError(gone)) = spare.send(bytes) {
                    mem.returned(gone.capacity());
                }
            }
            Some(ToFile::End(r)) => break r,
            // The walk was dropped with the runtime (the server is stopping).
            None => break Err(JobError::Storage(StorageError::Closed)),
        }
    };
    match error {
        Some(e) => Err(e.into()),
        None => walked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::exec::NoEnv;
    use crate::cmd::{dispatch, Caller, Exec};
    use crate::config::Config;
    use crate::db::{Keyspace, Value};
    use crate::persist::io::SimFs;
    use crate::persist::snapshot::{read_snapshot, snapshot_file_name};
    use crate::persist::snapshot_codec::{decode_into, BuildLimits};
    use crate::persist::LogOptions;
    use bytes::Bytes;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    const T0: i64 = 1_700_000_000_000;

    fn run(st: &mut State, db: u16, line: &str) {
        let argv: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let mut x = Exec::new(st, &NoEnv, 0, T0, Caller::Replay);
        dispatch::replay(&mut x, &[(db, argv)]).unwrap_or_else(|e| panic!("{line}: {e}"));
    }

    /// Per key: the value (streams by their canonical encoding, since the modelled listpack
    /// nodes of a reloaded stream need not match), expiry and string flags.
    type Dump = BTreeMap<(usize, Vec<u8>), (Option<Value>, Vec<u8>, i64, bool, bool)>;

    fn dump(ks: &Keyspace) -> Dump {
        let mut m = BTreeMap::new();
        for (i, db) in ks.dbs.iter().enumerate() {
            for (k, e) in db.dict.iter() {
                let (v, enc) = match &e.value {
                    Value::Stream(_) => {
                        let mut out = Vec::new();
                        encode_entry(&mut out, i, k, e, db.expire_of(k, e));
                        (None, out)
                    }
                    v => (Some(v.clone()), Vec::new()),
                };
                m.insert(
                    (i, k.to_vec()),
                    (v, enc, db.expire_of(k, e), e.raw, e.not_int),
                );
            }
        }
        m
    }

    fn diff(a: &Dump, b: &Dump) -> String {
        let mut out = Vec::new();
        for (k, v) in a {
            match b.get(k) {
                None => out.push(format!("missing {k:?}")),
                Some(w) if w != v => out.push(format!("differs {k:?}: {v:?} vs {w:?}")),
                _ => {}
            }
        }
        for k in b.keys() {
            if !a.contains_key(k) {
                out.push(format!("extra {k:?}"));
            }
        }
        out.truncate(8);
        out.join("\n")
    }

    /// The keyspace the snapshot file `dir` holds (the first one, id 0), as `dump` shows it.
    fn written(vfs: &dyn Vfs, dir: &std::path::Path, st: &State) -> Dump {
        let data = read_snapshot(vfs, &dir.join(snapshot_file_name(0)), Some(0)).unwrap();
        let mut ks = Keyspace::new(16);
        decode_into(&data.stream, &mut ks, &limits(&st.config), T0).unwrap();
        dump(&ks)
    }

    /// A log on a simulated disk and a state holding one large set `big` of `members`
    /// members and 3000 small strings: what the large-value tests snapshot.
    fn big_set_state(members: usize) -> (Arc<dyn Vfs>, PathBuf, Log, State) {
        let vfs: Arc<dyn Vfs> = Arc::new(SimFs::new());
        let dir = PathBuf::from("/data");
        let (log, _) = Log::open(vfs.clone(), LogOptions::new(&dir)).unwrap();
        let mut st = State::new(Config::default(), T0);
        for i in 0..members {
            run(&mut st, 0, &format!("SADD big m{i}"));
        }
        for i in 0..3000 {
            run(&mut st, 0, &format!("SET small{i} x"));
        }
        (vfs, dir, log, st)
    }

    /// Run `job`'s walk to its end (the file taking what is lent after each slice), finish
    /// it, and check the file holds `before`, item for item (`what` names the case).
    fn finish_walk(
        mut job: Job,
        st: &mut State,
        log: &Log,
        vfs: &dyn Vfs,
        dir: &std::path::Path,
        before: &Dump,
        what: &str,
    ) {
        while !job.step(st, Some(Duration::ZERO), true).unwrap().done {
            job.flush().unwrap();
        }
        let (info, _, _) = job.finish(log, vfs).unwrap();
        assert_eq!(info.items, before.len() as u64, "{what}");
        let got = written(vfs, dir, st);
        assert!(got == *before, "{what}: {}", diff(before, &got));
    }

    fn limits(c: &Config) -> BuildLimits {
        crate::server::engine::build_limits(c)
    }

    fn populate(st: &mut State) {
        for i in 0..3000 {
            run(st, 0, &format!("SET k{i} v{i}"));
        }
        for i in 0..400 {
            run(st, 1, &format!("SET k{i} one{i}"));
            run(st, 2, &format!("HSET h{} f{i} {i}", i % 7));
        }
        for i in 0..300 {
            run(st, 0, &format!("RPUSH l{} {i}", i % 5));
            run(st, 0, &format!("SADD s{} {i}", i % 3));
            run(st, 0, &format!("SADD t{} m{i}", i % 3));
            run(st, 0, &format!("ZADD z{} {i}.5 m{i}", i % 4));
            run(st, 0, &format!("HSET bighash f{i} {i}"));
        }
        // Values the walk takes whole (`db::LARGE_ELEMENTS`): lists, and lent hashes, sets
        // and sorted sets, some with an expiry.
        for i in 0..2 * crate::db::LARGE_ELEMENTS {
            run(st, 0, &format!("RPUSH biglist e{i}"));
            run(st, 1, &format!("LPUSH biglist2 e{i}"));
            run(st, 0, &format!("SADD bigset m{i}"));
            run(st, 1, &format!("ZADD bigzset {i} m{i}"));
            run(st, 2, &format!("HSET bighash2 f{i} v{i}"));
            run(st, 2, &format!("XADD bigstream {}-0 f v{i}", i + 1));
        }
        // Large strings (`db::LARGE_STRING`): lent with their bytes shared.
        let big = "s".repeat(crate::db::LARGE_STRING + 100);
        run(st, 0, &format!("SET bigstr {big}"));
        run(st, 1, &format!("SET bigstr2 {big}"));
        run(st, 1, "EXPIRE bigstr2 7000");
        run(st, 1, "EXPIRE biglist2 5000");
        run(st, 1, "EXPIRE bigzset 6000");
        for i in 0..200 {
            run(st, 0, &format!("EXPIRE k{} {}", i * 7, 1000 + i));
        }
        run(st, 0, "XADD x 1-1 a 1 b 2");
        run(st, 0, "XADD x 1-2 a 3");
        run(st, 0, "XADD x 5-0 c 4");
        run(st, 0, "XGROUP CREATE x g 0");
        run(st, 0, "XREADGROUP GROUP g alice COUNT 2 STREAMS x >");
        run(st, 0, "XDEL x 1-2");
        run(st, 0, "APPEND k5 tail");
        run(st, 0, "INCRBYFLOAT fl 1.5");
    }

    /// The heart of the online snapshot: whatever commands run between its slices (writes,
    /// deletes, renames, moves, SWAPDB, FLUSHDB, FLUSHALL), the file holds exactly the
    /// keyspace as it was when the snapshot started, and afterwards every entry's epoch
    /// bit is back in step with its database.
    #[test]
    fn the_file_is_the_keyspace_at_the_start_whatever_runs_meanwhile() {
        for seed in 1..=6u64 {
            let vfs: Arc<dyn Vfs> = Arc::new(SimFs::new());
            let dir = PathBuf::from("/data");
            let (log, _) = Log::open(vfs.clone(), LogOptions::new(&dir)).unwrap();
            let mut st = State::new(Config::default(), T0);
            populate(&mut st);
            let before = dump(&st.ks);
            let mut job = Job::begin(&mut st, &log, &*vfs, &dir, 1, &[]).unwrap();
            let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut next = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let mut steps = 0;
            let mut took_whole = false;
            loop {
                let step = job.step(&mut st, Some(Duration::ZERO), true).unwrap();
                steps += 1;
                if seed % 3 == 0 {
                    // The file thread takes what was lent before the writes come: they
                    // copy the values they change.
                    took_whole |= job.has_whole();
                    job.flush().unwrap();
                }
                if step.done {
                    break;
                }
                for _ in 0..6 {
                    let k = next(3200);
                    let db = next(3) as u16;
                    let line = match next(14) {
                        0 => format!("SET k{k} new{k}"),
                        1 => format!("DEL k{k}"),
                        2 => format!("APPEND k{k} more"),
                        3 => format!("HSET h{} f{k} changed", k % 7),
                        4 => format!("RPUSH l{} x", k % 5),
                        5 => format!("EXPIRE k{k} 50"),
                        6 => format!("PERSIST k{k}"),
                        7 => format!("RENAME k{k} k{}", next(3200)),
                        8 => format!("MOVE k{k} {}", next(3)),
                        9 => format!("SET fresh{k} x"),
                        10 => format!("ZADD z{} 99 m{k}", k % 4),
                        11 => format!("SREM s{} {k}", k % 3),
                        12 if next(2) == 0 => match next(19) {
                            // The large values, taken whole, lent or copied, changed
                            // before and after the walk reaches them.
                            0 => format!("RPUSH biglist{} x{k}", ["", "2"][next(2) as usize]),
                            1 => format!("LPOP biglist{} 3", ["", "2"][next(2) as usize]),
                            2 => format!("LSET biglist {} s{k}", next(2000)),
                            3 => format!("LINSERT biglist2 BEFORE e{} i{k}", next(2000)),
                            4 => format!("LTRIM biglist 1 -{}", 1 + next(3)),
                            5 => format!("SADD bigset n{k}"),
                            6 => format!("SREM bigset m{}", next(2048)),
                            7 => format!("ZADD bigzset {k} m{}", next(2048)),
                            8 => format!("ZREM bigzset m{}", next(2048)),
                            9 => format!("HSET bighash2 f{} w{k}", next(2048)),
                            10 => format!("HDEL bighash2 f{}", next(2048)),
                            11 => "XADD bigstream * k v".to_string(),
                            12 => format!("XDEL bigstream {}-0", 1 + next(2048)),
                            13 => "XTRIM bigstream MAXLEN 2040".to_string(),
                            14 => format!("APPEND bigstr{} a{k}", ["", "2"][next(2) as usize]),
                            15 => format!(
                                "SETRANGE bigstr{} {} r{k}",
                                ["", "2"][next(2) as usize],
                                next(9000)
                            ),
                            16 => format!("SETBIT bigstr {} 1", next(80_000)),
                            17 => format!("SET bigstr2 over{k}"),
                            _ => format!("GETDEL bigstr{}", ["", "2"][next(2) as usize]),
                        },
                        12 if seed % 2 == 0 && next(20) == 0 => "SWAPDB 0 1".to_string(),
                        13 if next(40) == 0 => "FLUSHDB".to_string(),
                        _ => format!("XADD x * k {k}"),
                    };
                    // Errors (wrong type, missing key for RENAME) leave the keyspace alone.
                    let argv: Vec<Bytes> = line
                        .split(' ')
                        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                        .collect();
                    let mut x = Exec::new(&mut st, &NoEnv, 0, T0, Caller::Replay);
                    x.db = usize::from(db);
                    let _ = dispatch::call(&mut x, &argv);
                }
                // The values taken whole are encoded after the writes that followed
                // the step (as the file thread may encode them).
                took_whole |= job.has_whole();
                job.flush().unwrap();
                if seed == 3 && steps == 20 {
                    run(&mut st, 0, "FLUSHALL");
                }
            }
            assert!(steps > 10, "the walk took {steps} slices");
            assert!(took_whole, "seed {seed}: no list was taken whole");
            let (info, _, _) = job.finish(&log, &*vfs).unwrap();
            assert_eq!(info.items, before.len() as u64);
            let got = written(&*vfs, &dir, &st);
            assert!(got == before, "seed {seed}: {}", diff(&before, &got));
            for db in &st.ks.dbs {
                assert!(db.capture.is_none());
                assert!(db.dict.iter().all(|(_, e)| e.snap == db.epoch));
            }
        }
    }

    /// A large set lent to the file thread is written once, as it was at the start,
    /// whether a write takes it back first (and encodes it under the lock), the file
    /// thread takes it first (and the write then changes it in place), or it is deleted
    /// (nobody encodes it under the lock: the file thread does, lent or copied).
    #[test]
    fn a_lent_value_is_written_once_whoever_takes_it_first() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Then {
            WriterFirst,
            FileFirst,
            Deleted,
            DeletedBeforeTheWalk,
        }
        use Then::*;
        for then in [WriterFirst, FileFirst, Deleted, DeletedBeforeTheWalk] {
            let (vfs, dir, log, mut st) = big_set_state(3 * crate::db::LARGE_ELEMENTS);
            let before = dump(&st.ks);
            let mut job = Job::begin(&mut st, &log, &*vfs, &dir, 1, &[]).unwrap();
            if then == DeletedBeforeTheWalk {
                run(&mut st, 0, "DEL big");
                let c = st.ks.dbs[0].capture.as_ref().unwrap();
                assert_eq!(
                    (c.encoded_items, c.taken.len()),
                    (0, 1),
                    "copied, not encoded"
                );
            } else {
                while !job.has_whole() {
                    assert!(!job.step(&mut st, Some(Duration::ZERO), true).unwrap().done);
                }
                assert!(st.ks.dbs[0].capture.is_some(), "the walk is not over");
                assert_eq!(st.ks.dbs[0].capture.as_ref().unwrap().lent.len(), 1);
                if then == FileFirst {
                    job.flush().unwrap();
                }
                if then == Deleted {
                    run(&mut st, 0, "DEL big");
                } else {
                    run(&mut st, 0, "SADD big new");
                    run(&mut st, 0, "SREM big m0");
                }
                let encoded = st.ks.dbs[0].capture.as_ref().unwrap().encoded_items;
                assert_eq!(encoded, u64::from(then == WriterFirst), "{then:?}");
            }
            // (The file takes what is lent at `flush`; the walk ends after that.)
            finish_walk(
                job,
                &mut st,
                &log,
                &*vfs,
                &dir,
                &before,
                &format!("{then:?}"),
            );
            let live = st.ks.dbs[0].get(b"big").map(|e| e.value.element_count());
            let want = match then {
                Deleted | DeletedBeforeTheWalk => None,
                _ => Some(3 * crate::db::LARGE_ELEMENTS),
            };
            assert_eq!(live, want, "{then:?}");
        }
    }

    /// A write about to change a large value the walk has not reached lends it
    /// (`Db::loan_wait`) and waits while the loan is queued or being encoded; once the file
    /// thread has written it, the write runs in place: nothing is encoded under the lock,
    /// and the file still has the value as it was at the start.
    #[test]
    fn a_write_waits_for_the_file_thread_instead_of_encoding() {
        use crate::db::LoanWait;
        let (vfs, dir, log, mut st) = big_set_state(2 * crate::db::LARGE_ELEMENTS);
        let before = dump(&st.ks);
        let mut job = Job::begin(&mut st, &log, &*vfs, &dir, 1, &[]).unwrap();
        let db = &mut st.ks.dbs[0];
        assert_eq!(db.loan_wait(b"small7"), LoanWait::None);
        assert_eq!(db.loan_wait(b"nosuch"), LoanWait::None);
        assert_eq!(db.loan_wait(b"big"), LoanWait::Queued);
        assert_eq!(db.loan_wait(b"big"), LoanWait::Queued, "lent once");
        let c = db.capture.as_ref().unwrap();
        assert_eq!((c.lent.len(), c.late.len()), (1, 1));
        let lent = c.lent.get(&b"big"[..]).unwrap().clone();
        job.step(&mut st, Some(Duration::ZERO), true).unwrap();
        let urgent = job.take_urgent();
        assert_eq!(urgent.len(), 1, "the walk takes the late loan to encode it");
        {
            let _encoding = lent.lock();
            assert_eq!(st.ks.dbs[0].loan_wait(b"big"), LoanWait::Encoding);
        }
        // (What the walk does off the lock, then sends to the file thread.)
        let (bytes, items) = encode_urgent(urgent);
        assert_eq!(items, 1);
        job.pending.extend_from_slice(&bytes);
        job.pending_items += items;
        assert_eq!(st.ks.dbs[0].loan_wait(b"big"), LoanWait::None);
        run(&mut st, 0, "SADD big new");
        run(&mut st, 0, "SREM big m0");
        let c = st.ks.dbs[0].capture.as_ref().unwrap();
        assert_eq!(
            (c.encoded_items, c.taken.len()),
            (0, 0),
            "no copy, no encoding"
        );
        finish_walk(job, &mut st, &log, &*vfs, &dir, &before, "");
        let live = st.ks.dbs[0].get(b"big").map(|e| e.value.element_count());
        assert_eq!(live, Some(2 * crate::db::LARGE_ELEMENTS));
    }

    /// A large string is lent with its bytes shared, not copied: the walk takes it in
    /// microseconds, the file thread encodes it, and a write after that changes the live
    /// bytes in place. Overwriting a lent one encodes nothing under the lock either.
    #[test]
    fn a_large_string_is_lent_without_copying_its_bytes() {
        for overwrite in [false, true] {
            let (vfs, dir, log, mut st) = big_set_state(0);
            let big = "b".repeat(crate::db::LARGE_STRING);
            run(&mut st, 0, &format!("SET big {big}"));
            let bytes = |st: &State| match &st.ks.dbs[0].get(b"big").unwrap().value {
                crate::db::Value::Str(s) => (s.as_ptr() as usize, s.is_shared()),
                _ => unreachable!(),
            };
            let (at, shared) = bytes(&st);
            assert!(!shared);
            let before = dump(&st.ks);
            let mut job = Job::begin(&mut st, &log, &*vfs, &dir, 1, &[]).unwrap();
            while !job.has_whole() {
                assert!(!job.step(&mut st, Some(Duration::ZERO), true).unwrap().done);
            }
            assert_eq!(bytes(&st), (at, true), "lent by reference");
            let c = st.ks.dbs[0].capture.as_ref().unwrap();
            assert_eq!((c.lent.len(), c.taken_bytes), (1, 0));
            if overwrite {
                run(&mut st, 0, "SET big small");
                run(&mut st, 0, "APPEND big er");
                let c = st.ks.dbs[0].capture.as_ref().unwrap();
                assert_eq!(c.encoded_items, 0, "nothing encoded under the lock");
            } else {
                job.flush().unwrap(); // the file thread encodes it and lets it go
                run(&mut st, 0, "SETRANGE big 0 changed");
                assert_eq!(bytes(&st), (at, false), "changed in place, not copied");
            }
            finish_walk(job, &mut st, &log, &*vfs, &dir, &before, "");
            let live = st.ks.dbs[0].get(b"big").unwrap().value.element_count();
            assert_eq!(live, if overwrite { 7 } else { big.len() });
        }
    }

    /// A paced slice rests unless no command ran for `IDLE_AFTER` (an idle server).
    #[test]
    fn slices_rest_unless_the_server_is_idle() {
        let vfs: Arc<dyn Vfs> = Arc::new(SimFs::new());
        let dir = PathBuf::from("/data");
        let (log, _) = Log::open(vfs.clone(), LogOptions::new(&dir)).unwrap();
        let mut st = State::new(Config::default(), T0);
        populate(&mut st);
        let mut job = Job::begin(&mut st, &log, &*vfs, &dir, 1, &[]).unwrap();
        assert!(job.slice(&mut st).unwrap().rest.is_some());
        // No command for IDLE_AFTER: unpaced.
        job.quiet_since = Instant::now() - IDLE_AFTER;
        assert!(job.slice(&mut st).unwrap().rest.is_none());
        // A command: paced again.
        st.stats.total_commands += 1;
        assert!(job.slice(&mut st).unwrap().rest.is_some());
        job.abandon(&mut st);
    }

    /// An abandoned job leaves no entry out of step, so the next snapshot is complete.
    #[test]
    fn an_abandoned_job_restores_the_epoch_bits() {
        let vfs: Arc<dyn Vfs> = Arc::new(SimFs::new());
        let dir = PathBuf::from("/data");
        let (log, _) = Log::open(vfs.clone(), LogOptions::new(&dir)).unwrap();
        let mut st = State::new(Config::default(), T0);
        populate(&mut st);
        let mut job = Job::begin(&mut st, &log, &*vfs, &dir, 1, &[]).unwrap();
        job.step(&mut st, Some(Duration::ZERO), true).unwrap();
        run(&mut st, 0, "SET k1 changed");
        job.abandon(&mut st);
        for db in &st.ks.dbs {
            assert!(db.capture.is_none());
            assert!(db.dict.iter().all(|(_, e)| e.snap == db.epoch));
        }
        let before = dump(&st.ks);
        let mut job = Job::begin(&mut st, &log, &*vfs, &dir, 2, &[]).unwrap();
        // The walk ends once the file has taken what was lent (`flush`).
        assert!(!job.step(&mut st, None, true).unwrap().done);
        job.flush().unwrap();
        assert!(job.step(&mut st, None, true).unwrap().done);
        job.finish(&log, &*vfs).unwrap();
        let got = written(&*vfs, &dir, &st);
        assert!(got == before, "{}", diff(&before, &got));
    }

    /// Automatic snapshots back off after three failures in a row, as Redis's AOF
    /// rewrites (1 minute, doubling, at most an hour); a success ends it.
    #[test]
    fn auto_snapshots_back_off_after_three_failures() {
        let mut s = SnapStatus::default();
        assert!(!s.auto_backoff());
        s.note_failure("a".into());
        s.note_failure("b".into());
        assert!(!s.auto_backoff());
        s.note_failure("c".into());
        assert!(s.auto_backoff());
        assert_eq!(s.consecutive_failures, 3);
        // An hour at most: long past the last failure, no wait.
        s.consecutive_failures = 60;
        s.failed_at = Instant::now().checked_sub(std::time::Duration::from_secs(3601));
        if s.failed_at.is_some() {
            assert!(!s.auto_backoff());
        }
        s.failed_at = Instant::now().checked_sub(std::time::Duration::from_secs(3599));
        if s.failed_at.is_some() {
            assert!(s.auto_backoff());
        }
    }
}
