//! `strata compact --dir D`: offline compaction. Opens the directory exactly as a server
//! start does (taking its LOCK, so it refuses while a server runs on it), takes a snapshot
//! of the recovered keyspace, installs it and retires the log segments it covers: the same
//! job and durability sequence as SAVE (format/snapshot.md §Durability sequence).

use std::path::Path;

use crate::cmd::exec::SnapshotRequest;
use crate::cmd::Env;
use crate::config::Config;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Keys in the new snapshot.
    pub keys: u64,
    /// LSN of the new snapshot.
    pub lsn: u64,
    /// Size of the new snapshot file in bytes.
    pub snapshot_bytes: u64,
    /// Bytes of segments and older snapshots deleted.
    pub reclaimed_bytes: u64,
}

/// Compact `dir`.
pub fn compact(dir: &Path) -> Result<Summary, String> {
    let engine = super::dump::open_engine(dir, Config::default().databases)?;
    let pb = super::dump::progress(1, "compacting");
    let result = engine.with_state(|st| {
        engine.snapshot(st, SnapshotRequest::Save)?;
        Ok::<_, String>(st.ks.total_keys() as u64)
    });
    pb.finish_and_clear();
    let info = engine.persistence_info();
    engine.close();
    let keys = result?;
    let field = |name: &str| -> u64 {
        info.iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Summary {
        keys,
        lsn: field("strata_snapshot_lsn"),
        snapshot_bytes: field("strata_snapshot_bytes"),
        reclaimed_bytes: field("strata_bytes_reclaimed"),
    })
}
