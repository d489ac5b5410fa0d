//! A replica's full resync payload made from a background snapshot, as Redis makes it
//! from a BGSAVE's RDB file: `cmd::repl` keeps the replicas waiting and holds the stream
//! from the snapshot's start for them; when the engine's snapshot job that captured the
//! keyspace for them has installed its file, `send_payload` reads that file key by key
//! (`persist::snapshot::for_each_key`, memory bounded by one block) and spools it as an
//! RDB file with the replication fields of the point it captured (`resync-<job>.rdb.tmp`
//! in the data directory), then sends that file to each replica at the replica's pace (a
//! few MB queued at most on its connection) and attaches each as its payload is queued
//! whole. Memory stays bounded whatever the dataset's size, as Redis sends a replica its
//! RDB file from disk. All of it runs on a thread of its own, off the engine lock but for
//! short moments that find, check and attach the replicas.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cmd::repl::SyncPoint;
use crate::persist::io::Vfs;

use super::engine::Engine;

/// The snapshot file a waiting replica's payload is made from, opened while the job that
/// wrote it ends (under the engine lock), before a later job can retire it.
pub struct Source {
    pub path: PathBuf,
    pub lsn: u64,
    pub len: u64,
    pub file: Box<dyn std::io::Read + Send>,
    /// The database count and value thresholds the keyspace has.
    pub databases: usize,
    pub limits: crate::persist::snapshot_codec::BuildLimits,
    vfs: Arc<dyn Vfs>,
    /// Where the payload is spooled.
    spool: PathBuf,
    /// Free disk space the spooling leaves alone (`keep_free`).
    keep_free: u64,
}

/// Spooling looks at the disk's free space every this many bytes written.
const FREE_CHECK: u64 = 64 << 20;

/// An error when the disk holding `spool` has less than `keep_free` bytes free.
fn check_free(vfs: &dyn Vfs, spool: &std::path::Path, keep_free: u64) -> std::io::Result<()> {
    let free = vfs.free_space(crate::persist::io::parent_dir(spool))?;
    if free < keep_free {
        return Err(std::io::Error::other(format!(
            "{free} bytes free on the disk, under the {keep_free} kept for the log"
        )));
    }
    Ok(())
}

impl Source {
    /// Open the snapshot file of `lsn` in `dir`, for the replicas of snapshot job `job`.
    pub fn open(
        vfs: &Arc<dyn Vfs>,
        dir: &std::path::Path,
        (lsn, job): (u64, u64),
        databases: usize,
        limits: crate::persist::snapshot_codec::BuildLimits,
    ) -> Result<Source, String> {
        let path = dir.join(crate::persist::snapshot::snapshot_file_name(lsn));
        let (len, file) = crate::persist::snapshot::open_sized(&**vfs, &path)
            .map_err(|e| format!("cannot open the snapshot for the replicas: {e}"))?;
        Ok(Source {
            path,
            lsn,
            len,
            file,
            databases,
            limits,
            vfs: vfs.clone(),
            spool: dir.join(format!("resync-{job}.rdb.tmp")),
            keep_free: 0,
        })
    }

    /// Leave `bytes` of the disk free: spooling stops, and the replicas are disconnected,
    /// rather than take the room the log needs for its next segments (a log that cannot
    /// write refuses every write until a restart).
    pub fn keep_free(mut self, bytes: u64) -> Source {
        self.keep_free = bytes;
        self
    }

    /// Spool the RDB payload: the snapshot's keys (those not expired when it captured
    /// them) and function libraries, with `point`'s replication fields, written to a file
    /// as it is made. `memory` follows what it holds meanwhile (replication memory, not
    /// the dataset's: about 1 MiB).
    pub fn spool(mut self, point: &SyncPoint, memory: &PayloadMemory) -> Result<Spooled, String> {
        let _ = self.vfs.remove(&self.spool);
        check_free(&*self.vfs, &self.spool, self.keep_free).map_err(|e| {
            format!(
                "cannot spool the full resync payload to {}: {e}",
                self.spool.display()
            )
        })?;
        let mut out = self
            .vfs
            .create_new(&self.spool)
            .map_err(|e| format!("cannot create {}: {e}", self.spool.display()))?;
        let mut spooled = Spooled {
            vfs: self.vfs.clone(),
            path: self.spool.clone(),
            len: 0,
        };
        let mut rdb = crate::cmd::dump::RdbStream::new(point.now_ms, point.aux.clone());
        let mut failed = None;
        let mut checked = 0u64;
        let (vfs, spool, keep_free) = (self.vfs.clone(), self.spool.clone(), self.keep_free);
        let mut write = |bytes: &[u8], len: &mut u64| {
            if failed.is_none() {
                match out.write_all(bytes) {
                    Ok(()) => *len += bytes.len() as u64,
                    Err(e) => failed = Some(e),
                }
                if *len >= checked + FREE_CHECK {
                    checked = *len;
                    if let Err(e) = check_free(&*vfs, &spool, keep_free) {
                        failed = Some(e);
                    }
                }
            }
        };
        let (libraries, _) = crate::persist::snapshot::for_each_key(
            &mut self.file,
            self.len,
            &self.path,
            Some(self.lsn),
            self.databases,
            &self.limits,
            point.now_ms,
            &mut |db, key, e, expire| {
                if expire < 0 || expire > point.now_ms {
                    rdb.key(db, key, &e.value, expire);
                    if let Some(piece) = rdb.take_ready() {
                        write(&piece, &mut spooled.len);
                    }
                    memory.set(rdb.allocated());
                }
            },
        )
        .map_err(|e| format!("cannot read the snapshot for the replicas: {e}"))?;
        for (_, code) in &libraries {
            rdb.function(code);
        }
        write(&rdb.finish(), &mut spooled.len);
        if let Some(e) = failed {
            return Err(format!(
                "cannot write the full resync payload to {}: {e}",
                self.spool.display()
            ));
        }
        Ok(spooled)
    }
}

/// A full resync payload spooled to a file of the data directory (a `.tmp` file: a start
/// deletes one left behind), removed when this goes.
pub struct Spooled {
    vfs: Arc<dyn Vfs>,
    path: PathBuf,
    /// Its length.
    pub len: u64,
}

impl Spooled {
    /// A reader from its start.
    fn open(&self) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        self.vfs.open_read(&self.path)
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = self.vfs.remove(&self.path);
    }
}

/// The bytes one payload holds, counted in the engine's `resync_bytes` while it lives.
pub struct PayloadMemory<'a> {
    total: &'a AtomicU64,
    mine: std::cell::Cell<u64>,
}

impl<'a> PayloadMemory<'a> {
    fn new(total: &'a AtomicU64) -> PayloadMemory<'a> {
        PayloadMemory {
            total,
            mine: std::cell::Cell::new(0),
        }
    }

    /// It holds `n` bytes now.
    fn set(&self, n: usize) {
        let n = n as u64;
        let was = self.mine.replace(n);
        if n >= was {
            self.total.fetch_add(n - was, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(was - n, Ordering::Relaxed);
        }
    }
}

impl Drop for PayloadMemory<'_> {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// Payload bytes a replica's connection may hold queued and unwritten before more is
/// read from the spooled file for it.
const QUEUED: usize = 4 << 20;
/// The piece of the spooled file queued at a time.
const PIECE: usize = 256 << 10;
/// How often a sending that waits on its replicas checks that they are still there.
const CHECK: Duration = Duration::from_millis(100);

/// One replica's sending: where it is in the spooled file.
struct Target {
    id: u64,
    push: crate::cmd::client::PushFn,
    meter: crate::cmd::repl::Meter,
    from: Box<dyn std::io::Read + Send>,
    left: u64,
    /// Since when its connection has had `QUEUED` bytes unwritten.
    stalled: Option<Instant>,
}

/// What one look at a target did.
enum Step {
    Sent,
    Wait,
    Failed(String),
}

impl Target {
    /// Queue its next piece if its connection has room for it.
    fn step(&mut self, piece: &mut [u8]) -> Step {
        if self.meter.as_ref().is_some_and(|m| m.payload() >= QUEUED) {
            return Step::Wait;
        }
        let n = usize::try_from(self.left).map_or(piece.len(), |l| l.min(piece.len()));
        if let Err(e) = self.from.read_exact(&mut piece[..n]) {
            return Step::Failed(format!("cannot read the spooled payload: {e}"));
        }
        if !crate::cmd::repl::push_unmetered(&self.push, &self.meter, &piece[..n]) {
            return Step::Failed("its connection refused the payload".into());
        }
        self.left -= n as u64;
        Step::Sent
    }
}

/// Make the payload of snapshot job `job` from `source` and send it to the replicas
/// waiting for it, each at its own pace; a replica that cannot take it is disconnected
/// (and comes back for another try), one that reads none of it for `repl-timeout` too.
pub fn send_payload(engine: Arc<Engine>, job: u64, point: SyncPoint, source: Source) {
    let started = Instant::now();
    let memory = PayloadMemory::new(&engine.resync_bytes);
    let spooled = match source.spool(&point, &memory) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("{e}");
            let mut st = engine.state.lock();
            crate::cmd::repl::abandon(&mut st, Some(job), &e);
            return;
        }
    };
    tracing::info!(
        bytes = spooled.len,
        ms = started.elapsed().as_millis() as u64,
        "full resync payload made from the snapshot"
    );
    let (targets, timeout) = {
        let mut st = engine.state.lock();
        let timeout = crate::cmd::repl::config_i64(&st.config, "repl-timeout", 60).max(1);
        (
            crate::cmd::repl::payload_targets(&mut st, job),
            Duration::from_secs(timeout.unsigned_abs()),
        )
    };
    let header = format!("${}\r\n", spooled.len);
    let mut sending = Vec::new();
    let mut failed = Vec::new();
    for (id, push, meter) in targets {
        match spooled.open() {
            Ok(from) if push(header.as_bytes()) => sending.push(Target {
                id,
                push,
                meter,
                from,
                left: spooled.len,
                stalled: None,
            }),
            Ok(_) => failed.push(id),
            Err(e) => {
                tracing::warn!("cannot read the spooled payload: {e}");
                failed.push(id);
            }
        }
    }
    memory.set(PIECE);
    let mut piece = vec![0u8; PIECE];
    let mut done = Vec::new();
    let mut checked = Instant::now();
    loop {
        let mut moved = false;
        let mut i = 0;
        while i < sending.len() {
            let t = &mut sending[i];
            match t.step(&mut piece) {
                Step::Sent => {
                    moved = true;
                    t.stalled = None;
                    if t.left == 0 {
                        done.push(t.id);
                        sending.swap_remove(i);
                        continue;
                    }
                }
                Step::Wait => {
                    if t.stalled.get_or_insert_with(Instant::now).elapsed() > timeout {
                        tracing::warn!(
                            client = t.id,
                            "the replica read none of its payload for repl-timeout"
                        );
                        failed.push(t.id);
                        sending.swap_remove(i);
                        continue;
                    }
                }
                Step::Failed(why) => {
                    tracing::warn!(client = t.id, "{why}");
                    failed.push(t.id);
                    sending.swap_remove(i);
                    continue;
                }
            }
            i += 1;
        }
        if !done.is_empty() || !failed.is_empty() {
            let mut st = engine.state.lock();
            crate::cmd::repl::attach_waiting(&mut st, job, &done, &failed);
            done.clear();
            failed.clear();
        }
        if sending.is_empty() || engine.stopping.load(std::sync::atomic::Ordering::Acquire) {
            break;
        }
        if checked.elapsed() >= CHECK {
            // A replica that went (disconnected, or cut off for the stream held for it) is
            // no longer waiting: stop sending to it.
            let st = engine.state.lock();
            sending.retain(|t| st.replicas.waiting.iter().any(|w| w.id == t.id));
            checked = Instant::now();
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
