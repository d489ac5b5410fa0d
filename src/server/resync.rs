//! A replica's full resync payload made from a background snapshot, as Redis makes it
//! from a BGSAVE's RDB file: `cmd::repl` keeps the replicas waiting and holds the stream
//! from the snapshot's start for them; when the engine's snapshot job that captured the
//! keyspace for them has installed its file, `send_payload` reads that file key by key
//! (`persist::snapshot::for_each_key`, memory bounded by one block), writes it as an RDB
//! file with the replication fields of the point it captured, queues it on the replicas'
//! connections and attaches them. All of it runs on a thread of its own, off the engine
//! lock but for the two short moments that find and then attach the replicas.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
}

impl Source {
    /// Open the snapshot file of `lsn` in `dir`.
    pub fn open(
        vfs: &dyn Vfs,
        dir: &std::path::Path,
        lsn: u64,
        databases: usize,
        limits: crate::persist::snapshot_codec::BuildLimits,
    ) -> Result<Source, String> {
        let path = dir.join(crate::persist::snapshot::snapshot_file_name(lsn));
        let (len, file) = crate::persist::snapshot::open_sized(vfs, &path)
            .map_err(|e| format!("cannot open the snapshot for the replicas: {e}"))?;
        Ok(Source {
            path,
            lsn,
            len,
            file,
            databases,
            limits,
        })
    }

    /// The RDB payload: the snapshot's keys (those not expired when it captured them)
    /// and function libraries, with `point`'s replication fields. `memory` follows what it
    /// takes as it grows (replication memory, not the dataset's).
    pub fn payload(mut self, point: &SyncPoint, memory: &PayloadMemory) -> Result<Vec<u8>, String> {
        let mut rdb = crate::cmd::dump::RdbStream::new(point.now_ms, point.aux.clone());
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
                    memory.set(rdb.allocated());
                }
            },
        )
        .map_err(|e| format!("cannot read the snapshot for the replicas: {e}"))?;
        for (_, code) in &libraries {
            rdb.function(code);
        }
        let payload = rdb.finish();
        memory.set(payload.capacity());
        Ok(payload)
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

/// Make the payload of snapshot job `job` from `source` and send it to the replicas
/// waiting for it; on a failure they are disconnected (and come back for another try).
pub fn send_payload(engine: Arc<Engine>, job: u64, point: SyncPoint, source: Source) {
    let started = std::time::Instant::now();
    let memory = PayloadMemory::new(&engine.resync_bytes);
    let made = source.payload(&point, &memory);
    let payload = match made {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("{e}");
            let mut st = engine.state.lock();
            crate::cmd::repl::abandon(&mut st, Some(job), &e);
            return;
        }
    };
    tracing::info!(
        bytes = payload.len(),
        ms = started.elapsed().as_millis() as u64,
        "full resync payload made from the snapshot"
    );
    let targets = crate::cmd::repl::payload_targets(&mut engine.state.lock(), job);
    let header = format!("${}\r\n", payload.len());
    let mut failed = Vec::new();
    for (id, push, meter) in &targets {
        let sent =
            push(header.as_bytes()) && crate::cmd::repl::push_unmetered(push, meter, &payload);
        if !sent {
            failed.push(*id);
        }
    }
    drop(payload);
    drop(memory);
    let mut st = engine.state.lock();
    crate::cmd::repl::attach_waiting(&mut st, job, &failed);
}
