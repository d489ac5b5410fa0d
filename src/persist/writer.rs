//! The log-writer thread: group commit, segment rotation and the fsync policies. It takes
//! the whole append buffer at once (double buffering), writes it with as few `write` calls
//! as rotation allows, fdatasyncs per policy, then publishes the durable LSN. Under `always`
//! it keeps the active segment zero-filled ahead of its end so that a commit's fdatasync
//! writes data blocks only, and trims the zeros at rotation and shutdown. Implements
//! format/log.md §Durability sequence (steps 1–5, rotation), §Fsync policies and
//! §Preallocation.
//!
//! Must not: retry a failed write or fsync (it latches and exits), append a record to a
//! segment before a manifest listing that segment is durable, or split a record across
//! segments.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::error::StorageError;
use super::log::{FsyncPolicy, Shared};
use super::manifest::publish;
use super::segment::{SegmentWriter, SEGMENT_HEADER_LEN};

/// Everysec: the fdatasync interval.
const EVERYSEC: Duration = Duration::from_secs(1);
/// Upper bound of the group-commit gather delay.
const MAX_GATHER: Duration = Duration::from_micros(800);
/// An append buffer grown past this is released after use instead of being kept (Redis
/// frees its AOF buffer after each write once it passed 4 KB): a big record (a SADD of
/// 100k members) must not leave megabytes allocated for good (lazyfree.tcl "UNLINK can
/// reclaim memory"); group-commit batches of small commands stay well below it.
const KEEP_BUFFER_BYTES: usize = 256 * 1024;
/// Preallocation: zeros are written this far past the last record...
const PREALLOC_CHUNK: u64 = 1024 * 1024;
/// ... whenever fewer than this many zero bytes are left ahead of it.
const PREALLOC_LOW_WATER: u64 = PREALLOC_CHUNK / 2;
/// Page size the preallocated end is rounded up to.
const PAGE: u64 = 4096;
/// While the runtime writes the records (`Log::flush_inline`), the writer thread still
/// wakes this often to take anything left pending and to run the everysec fdatasync.
const INLINE_POLL: Duration = Duration::from_millis(10);

/// What a [`Writer::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing was pending.
    Idle,
    /// The pending records were written (and synced per policy) and published.
    Done,
    /// Work only the writer thread does is due (inline steps only).
    HandOff,
    /// The log is closed and everything is written and synced.
    Closed,
}

/// Whether preallocation is on: `STRATA_LOG_PREALLOC=0` turns it off (for A/B benchmarks).
pub(crate) fn prealloc_enabled() -> bool {
    std::env::var_os("STRATA_LOG_PREALLOC").is_none_or(|v| v != "0")
}

/// Preallocation (format/log.md §9 E, P1–P2): when fewer than `PREALLOC_LOW_WATER` zero
/// bytes remain after the last record of `active`, write zeros up to `PREALLOC_CHUNK` past
/// it (page-aligned, never past `segment_size`) and fdatasync them, so the commits that
/// overwrite them later sync data blocks only (no size or block allocation to write).
pub(crate) fn preallocate_ahead(
    active: &mut SegmentWriter,
    segment_size: u64,
) -> Result<(), StorageError> {
    let len = active.len();
    if active.allocated() >= len + PREALLOC_LOW_WATER {
        return Ok(());
    }
    let target = (len + PREALLOC_CHUNK)
        .div_ceil(PAGE)
        .saturating_mul(PAGE)
        .min(segment_size);
    if active.preallocate(target)? {
        // DURABILITY: not needed for any record (zeros after the last record are a clean
        // end, synced or not); it moves the block allocation and size change out of the
        // commits that follow.
        active.sync()?;
    }
    Ok(())
}

/// The writer thread's own state.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    active: SegmentWriter,
    /// The spare half of the double buffer.
    spare_buf: Vec<u8>,
    spare_ends: Vec<usize>,
    /// Last LSN written to the OS.
    written: u64,
    /// Last LSN covered by a completed fdatasync.
    fsynced: u64,
    last_fsync_at: Instant,
    /// Records the last fdatasync covered and how long it took (drives the gather delay).
    last_sync_records: u64,
    last_sync_latency: Duration,
    last_sync_end: Instant,
    /// A snapshot asked for a new segment to start at this LSN (0 = none).
    rotate_before: u64,
    /// The last rotation request taken from `Pending` and not yet reported done.
    rotate_taken: u64,
    /// Keep the active segment zero-filled ahead of its end (format/log.md §Preallocation).
    prealloc: bool,
}

/// Latches the log if the writer thread unwinds, so no waiter hangs on a dead writer.
struct PanicLatch(Arc<Shared>);

impl Drop for PanicLatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison(&StorageError::io(
                &self.0.dir,
                std::io::Error::other("log writer thread panicked"),
            ));
        }
    }
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, active: SegmentWriter, last_lsn: u64) -> Self {
        let now = Instant::now();
        Writer {
            shared,
            active,
            spare_buf: Vec::new(),
            spare_ends: Vec::new(),
            written: last_lsn,
            fsynced: last_lsn,
            last_fsync_at: now,
            last_sync_records: 0,
            last_sync_latency: Duration::ZERO,
            last_sync_end: now,
            rotate_before: 0,
            rotate_taken: 0,
            prealloc: prealloc_enabled(),
        }
    }

    /// The thread body: runs until shutdown or the first I/O failure. `core` is this
    /// writer, shared with the connections' runtime, which may take a step itself
    /// (`Log::flush_inline`).
    pub(crate) fn run(core: Arc<Mutex<Writer>>) {
        let shared = Arc::clone(&core.lock().shared);
        let _latch = PanicLatch(Arc::clone(&shared));
        // `last_lsn` at the previous inline-mode poll.
        let mut seen_lsn = 0;
        loop {
            let (last_sync_records, last_sync_latency, last_sync_end, written, fsynced, fsync_at) = {
                let w = core.lock();
                (
                    w.last_sync_records,
                    w.last_sync_latency,
                    w.last_sync_end,
                    w.written,
                    w.fsynced,
                    w.last_fsync_at,
                )
            };
            let mut st = shared.pending.lock();
            if st.poisoned {
                return;
            }
            let policy = shared.policy();
            if shared.inline_for(policy) {
                // The runtime writes the records (`Log::flush_inline`); this thread does what
                // it hands over (rotation, preallocation, a step it could not take), the
                // everysec fdatasync, sync requests and shutdown, and takes anything left
                // pending for a poll interval, so no record waits on a runtime that is busy.
                if !st.closed && st.rotate_before == 0 && !st.handoff {
                    // Idle (no append for a whole poll interval, nothing pending, and under
                    // everysec nothing appended that is not fdatasynced yet; `append` bumps
                    // `last_lsn` under this lock): sleep until the next append wakes this
                    // thread (`writer_sleeping`), instead of polling an idle server.
                    let last = shared.last_lsn.load(Ordering::Acquire);
                    let quiet = last == std::mem::replace(&mut seen_lsn, last);
                    let fsynced_now = shared.fsynced_lsn.load(Ordering::Acquire);
                    let unsynced = last > fsynced_now;
                    // A sync request (WAITAOF, a snapshot) whose notify came while this
                    // thread was in its previous step is still owed: poll, don't sleep.
                    let sync_owed = st.sync_requested > fsynced_now;
                    if quiet
                        && st.ends.is_empty()
                        && !sync_owed
                        && !(policy == FsyncPolicy::Everysec && unsynced)
                    {
                        st.writer_sleeping = true;
                        shared.writer_cv.wait(&mut st);
                        st.writer_sleeping = false;
                    } else {
                        shared
                            .writer_cv
                            .wait_until(&mut st, Instant::now() + INLINE_POLL);
                    }
                }
                st.handoff = false;
                drop(st);
                match core.lock().step(false) {
                    Ok(Step::Closed) => return,
                    Ok(_) => continue,
                    Err(()) => return,
                }
            }
            // Group-commit gather plan, fixed right after the previous fdatasync: if it covered
            // several records, the clients it released are about to send their next commands;
            // wait a little for them so the next fdatasync covers them and the records that
            // queued meanwhile, instead of starting one for the latter alone (which would split
            // the clients into two alternating halves). See format/log.md §9 A, "Group-commit
            // gather".
            let gather = (policy == FsyncPolicy::Always && last_sync_records > 1).then(|| {
                // Twice the last fdatasync, capped: measured best at -c 50 -P 1 here (0.5× and
                // 200 µs gave ~6% fewer SETs/s; 4× and longer caps no more).
                let delay = (last_sync_latency * 2).min(MAX_GATHER);
                let target = st.ends.len().saturating_add(last_sync_records as usize);
                (last_sync_end + delay, target)
            });
            // Wait for work: records, an fsync request, the everysec timer, or shutdown.
            loop {
                if st.poisoned {
                    return;
                }
                if !st.ends.is_empty() || st.closed || st.rotate_before != 0 || st.handoff {
                    break;
                }
                let unsynced = written > fsynced;
                if unsynced && st.sync_requested > fsynced {
                    break;
                }
                if shared.inline_for(shared.policy()) {
                    break;
                }
                st.wake_at = 1;
                if unsynced && shared.policy() == FsyncPolicy::Everysec {
                    let deadline = fsync_at + EVERYSEC;
                    if Instant::now() >= deadline {
                        break;
                    }
                    shared.writer_cv.wait_until(&mut st, deadline);
                } else {
                    shared.writer_cv.wait(&mut st);
                }
            }
            if let Some((deadline, target)) = gather {
                while st.ends.len() < target && !st.closed && !st.poisoned {
                    st.wake_at = target;
                    if shared.writer_cv.wait_until(&mut st, deadline).timed_out() {
                        break;
                    }
                }
            }
            st.wake_at = usize::MAX;
            st.handoff = false;
            drop(st);
            match core.lock().step(false) {
                Ok(Step::Closed) | Err(()) => return,
                Ok(_) => {}
            }
        }
    }

    /// One group-commit step: take the whole append buffer, write it, fdatasync per policy,
    /// publish. `inline` (the connections' runtime, `Log::flush_inline`) only writes, under
    /// `everysec` and `no`: it leaves `always`, rotation, sync requests, the everysec
    /// fdatasync and shutdown to the writer thread (`Step::HandOff`). A failure latches the
    /// log (`Err`).
    pub(crate) fn step(&mut self, inline: bool) -> Result<Step, ()> {
        let shared = Arc::clone(&self.shared);
        let mut st = shared.pending.lock();
        if st.poisoned {
            return Err(());
        }
        // Read the policy under the buffer lock: every record in this batch was appended
        // after any `set_fsync` that happened before its append, so it gets that policy.
        let policy = shared.policy();
        if inline {
            if st.ends.is_empty() {
                return Ok(Step::Idle);
            }
            let fits = self.active.len() + st.buf.len() as u64 <= shared.segment_size;
            if policy == FsyncPolicy::Always
                || st.closed
                || st.rotate_before != 0
                || self.rotate_before != 0
                || !fits
                || st.sync_requested > self.fsynced
            {
                return Ok(Step::HandOff);
            }
        }
        let closing = st.closed && st.ends.is_empty();
        let sync_requested = st.sync_requested;
        std::mem::swap(&mut st.buf, &mut self.spare_buf);
        std::mem::swap(&mut st.ends, &mut self.spare_ends);
        shared
            .counters
            .append_buf
            .store(st.buf.capacity() as u64, Ordering::Relaxed);
        let first_lsn = st.buf_first_lsn;
        st.buf_first_lsn = st.next_lsn;
        let rotate_before = std::mem::take(&mut st.rotate_before);
        drop(st);
        if rotate_before != 0 {
            self.rotate_before = rotate_before;
            self.rotate_taken = rotate_before;
        }
        let mut result = self.process(first_lsn, policy, sync_requested, closing, inline);
        if result.is_ok() {
            result = self.rotate_if_asked();
        }
        if result.is_ok() && self.rotate_before == 0 && self.rotate_taken != 0 {
            // The asked-for segment exists (or the active one was empty): tell the
            // snapshot waiting to install.
            let taken = std::mem::take(&mut self.rotate_taken);
            let _ = shared.rotate_pending.compare_exchange(
                taken,
                0,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        if self.spare_buf.capacity() > KEEP_BUFFER_BYTES {
            self.spare_buf = Vec::new();
        }
        self.spare_buf.clear();
        shared
            .counters
            .spare_buf
            .store(self.spare_buf.capacity() as u64, Ordering::Relaxed);
        self.spare_ends.clear();
        if let Err(e) = result {
            shared.poison(&e);
            return Err(());
        }
        if closing {
            return Ok(Step::Closed);
        }
        Ok(Step::Done)
    }

    /// Writes the taken batch (rotating at record boundaries), fdatasyncs per policy and
    /// publishes progress.
    fn process(
        &mut self,
        first_lsn: u64,
        policy: FsyncPolicy,
        sync_requested: u64,
        closing: bool,
        inline: bool,
    ) -> Result<(), StorageError> {
        let buf = std::mem::take(&mut self.spare_buf);
        let ends = std::mem::take(&mut self.spare_ends);
        let r = self.write_batch(first_lsn, &buf, &ends);
        self.spare_buf = buf;
        self.spare_ends = ends;
        r?;
        let unsynced = self.written > self.fsynced;
        let sync = unsynced
            && (policy == FsyncPolicy::Always
                || closing
                || sync_requested > self.fsynced
                || (policy == FsyncPolicy::Everysec
                    && !inline
                    && self.last_fsync_at.elapsed() >= EVERYSEC));
        if sync {
            // DURABILITY: under `always` this precedes the publish below, so no reply is
            // released before its record is on disk; otherwise it is the everysec timer, a
            // WAITAOF request or shutdown.
            self.sync_active()?;
        }
        let durable = if policy == FsyncPolicy::Always {
            self.fsynced
        } else {
            self.written
        };
        if durable > self.shared.durable_lsn.load(Ordering::Acquire)
            || self.fsynced > self.shared.fsynced_lsn.load(Ordering::Acquire)
        {
            self.shared.publish(durable, self.fsynced);
        }
        if closing {
            // A clean shutdown leaves no preallocated zeros behind (P4).
            self.active.trim()?;
        } else if policy == FsyncPolicy::Always && self.prealloc {
            self.extend_ahead()?;
        }
        Ok(())
    }

    /// [`preallocate_ahead`] for the active segment. Runs after the publish: the replies it
    /// released do not wait for it.
    fn extend_ahead(&mut self) -> Result<(), StorageError> {
        preallocate_ahead(&mut self.active, self.shared.segment_size)
    }

    /// Appends the records of `buf` (record `i` ends at `ends[i]`, LSN `first_lsn + i`),
    /// rotating before a record that would take a non-empty segment past `segment_size`.
    fn write_batch(
        &mut self,
        first_lsn: u64,
        buf: &[u8],
        ends: &[usize],
    ) -> Result<(), StorageError> {
        let Some(&total) = ends.last() else {
            return Ok(());
        };
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        let segment_size = self.shared.segment_size;
        let mut chunk_start = 0usize;
        let mut rec_start = 0usize;
        for (i, &end) in ends.iter().enumerate() {
            let in_segment = self.active.len() + (rec_start - chunk_start) as u64;
            let rec_len = (end - rec_start) as u64;
            let lsn = first_lsn + i as u64;
            let asked = lsn == self.rotate_before;
            if asked {
                self.rotate_before = 0;
            }
            if in_segment > SEGMENT_HEADER_LEN as u64
                && (in_segment + rec_len > segment_size || asked)
            {
                if rec_start > chunk_start {
                    self.active.append(&buf[chunk_start..rec_start])?;
                    counters
                        .current_size
                        .fetch_add((rec_start - chunk_start) as u64, Ordering::Relaxed);
                }
                self.written = first_lsn + i as u64 - 1;
                self.rotate(first_lsn + i as u64)?;
                chunk_start = rec_start;
            }
            rec_start = end;
        }
        self.active.append(&buf[chunk_start..total])?;
        counters
            .current_size
            .fetch_add((total - chunk_start) as u64, Ordering::Relaxed);
        self.written = first_lsn + ends.len() as u64 - 1;
        counters
            .records_written
            .fetch_add(ends.len() as u64, Ordering::Relaxed);
        counters
            .bytes_written
            .fetch_add(total as u64, Ordering::Relaxed);
        counters.write_batches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A snapshot asked for a new segment at `rotate_before` and every record before it is
    /// written: rotate now rather than at the next record, so that once the snapshot is
    /// installed every older segment is covered and can be retired.
    fn rotate_if_asked(&mut self) -> Result<(), StorageError> {
        if self.rotate_before == 0 || self.written + 1 != self.rotate_before {
            return Ok(());
        }
        let next = std::mem::take(&mut self.rotate_before);
        if self.active.len() > SEGMENT_HEADER_LEN as u64 {
            self.rotate(next)?;
        }
        Ok(())
    }

    /// fdatasync the active segment and account for it.
    fn sync_active(&mut self) -> Result<(), StorageError> {
        let start = Instant::now();
        // DURABILITY: group commit; this one fdatasync covers every record written so far.
        self.active.sync()?;
        let end = Instant::now();
        let covered = self.written - self.fsynced;
        self.fsynced = self.written;
        self.last_fsync_at = end;
        self.last_sync_end = end;
        self.last_sync_latency = end - start;
        self.last_sync_records = covered;
        let c = &self.shared.counters;
        c.fsyncs.fetch_add(1, Ordering::Relaxed);
        c.records_fsynced.fetch_add(covered, Ordering::Relaxed);
        c.last_fsync_us.store(
            u64::try_from(self.last_sync_latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Rotation (format/log.md §Durability sequence, steps 1–4): make the old segment fully
    /// durable, create the new one durably, publish a manifest listing it. Only then may
    /// records be appended to it (step 5, by the caller).
    fn rotate(&mut self, next_lsn: u64) -> Result<(), StorageError> {
        let started = Instant::now();
        // DURABILITY: step 1, whatever the policy: a segment that is not last may never have a
        // torn tail, so the old segment is complete on disk before a later one holds records.
        if self.written > self.fsynced {
            self.sync_active()?;
        }
        // DURABILITY: step R1b: cut the old segment's preallocated zeros, durably, before a
        // manifest can list a later segment: only the last segment may end in zeros.
        self.active.trim()?;
        let policy = self.shared.policy();
        let durable = if policy == FsyncPolicy::Always {
            self.fsynced
        } else {
            self.written
        };
        self.shared.publish(durable, self.fsynced);
        // Steps 2–3 (inside SegmentWriter::create): tmp, header, fsync, rename, dir fsync.
        let new = SegmentWriter::create(&self.shared.vfs, &self.shared.dir, next_lsn)?;
        // Step 4: the manifest listing the new segment is durable before any record reaches it.
        {
            let mut m = self.shared.manifest.lock();
            let mut next = m.clone();
            next.segments.push(next_lsn);
            publish(&self.shared.vfs, &self.shared.dir, &next)?;
            *m = next;
        }
        self.active = new;
        let c = &self.shared.counters;
        c.segments.fetch_add(1, Ordering::Relaxed);
        c.current_size
            .fetch_add(SEGMENT_HEADER_LEN as u64, Ordering::Relaxed);
        tracing::debug!(
            segment = %self.active.path().display(),
            us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "log segment rotated"
        );
        Ok(())
    }
}
