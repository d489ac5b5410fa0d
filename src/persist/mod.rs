//! `persist`: the durable, segmented, checksummed log of strata, its manifest and recovery.
//! The normative description of every byte lives in `format/` (format/README.md is the
//! entry point); this module implements it. Layout: `io` (the one I/O trait, real and
//! simulated file systems), `record` (record framing), `batch` (the Batch payload),
//! `segment` (segment header, reader, writer), `manifest` (the MANIFEST), `log` (the public
//! `Log` handle), `writer` (the group-commit thread), `recovery` (open and read-only reads), `snapshot` and `snapshot_codec` (snapshot files), `repl_info` (where the replication
//! stream stood at a clean stop),
//! `error` (`StorageError`, `Corruption`).
//!
//! Must not: import `cmd`, `resp` or `server`, or do I/O anywhere but through `io::Vfs`.

pub mod batch;
pub mod error;
pub mod io;
pub mod log;
pub mod manifest;
pub mod record;
mod recovery;
pub mod repl_info;
pub mod segment;
pub mod snapshot;
pub mod snapshot_codec;
mod writer;

pub use error::{Corruption, StorageError};
pub use log::{FsyncPolicy, Log, LogOptions, LogStats, Recovered, RecoveredRecord};
