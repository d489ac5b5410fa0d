//! Storage errors: what the `persist` subsystem reports to its callers (the engine, the
//! offline tools). Owns [`StorageError`] and [`Corruption`]; nothing else in `persist`
//! invents error types. Every corruption carries the file and the byte offset where the
//! reader stopped, and its `Display` tells the operator to run `strata fsck`
//! (format/README.md §Recovery procedure). Each `Corruption` variant is named by the
//! validation tables of format/log.md and format/manifest.md.

use std::path::{Path, PathBuf};

/// An error from the storage layer. `Display` is one line meant for the operator's log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An operating-system I/O call failed on `path`.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the failing call was about.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file in the data directory fails validation; startup is refused.
    #[error(
        "{} is corrupt at offset {offset}: {what}; run `strata fsck --dir {}`",
        file.display(),
        fsck_dir(file)
    )]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset in `file` where the damaged structure starts.
        offset: u64,
        /// What is wrong, as a typed value tests and `fsck` can match on.
        what: Corruption,
    },
    /// A file was written by a newer (or unknown) format version.
    #[error("{} has format version {found}; this build reads up to {supported}", file.display())]
    Version {
        /// The file whose version is not readable.
        file: PathBuf,
        /// The version found in the file.
        found: u16,
        /// The highest version this build reads.
        supported: u16,
    },
    /// Another process (or another `Log` in this process) holds the data directory lock.
    #[error("data directory is locked by another process")]
    Locked,
    /// An earlier write or fsync failed; the log latched and refuses writes until restart.
    #[error("an earlier write or fsync failed; writes are refused until restart")]
    Poisoned,
    /// `append` was given a payload larger than a record may hold (format/log.md §Record).
    #[error("record payload of {len} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// Payload length that was refused.
        len: u64,
        /// The limit (`record::MAX_PAYLOAD_LEN`).
        max: u64,
    },
    /// The log was shut down; no more appends are accepted.
    #[error("the log is shut down")]
    Closed,
}

/// The directory to name in the `strata fsck` hint: the parent of the damaged file.
fn fsck_dir(file: &Path) -> String {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_string(),
    }
}

impl StorageError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds a `Corrupt` error.
    pub fn corrupt(file: impl Into<PathBuf>, offset: u64, what: Corruption) -> Self {
        StorageError::Corrupt {
            file: file.into(),
            offset,
            what,
        }
    }

    /// The corruption kind, if this is a `Corrupt` error (handy in tests and fsck).
    pub fn corruption(&self) -> Option<Corruption> {
        match self {
            StorageError::Corrupt { what, .. } => Some(*what),
            _ => None,
        }
    }
}

/// What exactly is wrong with a damaged structure. Stable: tests and `fsck` match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// A segment header does not start with the strata magic (format/log.md §Segment header).
    #[error("bad magic number")]
    BadMagic,
    /// A segment or record header fails its CRC.
    #[error("header checksum mismatch")]
    HeaderCrc,
    /// A record's trailing CRC (header + payload) does not match.
    #[error("record checksum mismatch")]
    PayloadCrc,
    /// The structure is cut short where a short file is not allowed (not the last segment's tail,
    /// or a segment header).
    #[error("file ends in the middle of a structure")]
    TornTail,
    /// An LSN is not the one continuity requires.
    #[error("LSN gap: expected {expected}, found {found}")]
    LsnGap {
        /// The LSN continuity requires.
        expected: u64,
        /// The LSN on disk.
        found: u64,
    },
    /// A record kind this version does not know.
    #[error("unknown record kind {0}")]
    UnknownRecordKind(u8),
    /// A snapshot value type tag this version does not know (format/snapshot.md, later).
    #[error("unknown type tag {0}")]
    UnknownTypeTag(u8),
    /// A length field out of its valid range (or running past the enclosing structure).
    #[error("invalid length {0}")]
    BadLength(u64),
    /// Bytes left over after a structure that must end exactly there.
    #[error("unexpected trailing bytes")]
    TrailingBytes,
    /// The manifest is malformed; the text says how.
    #[error("bad manifest: {0}")]
    Manifest(&'static str),
    /// A reserved field or flag bit is nonzero; the text names the field.
    #[error("reserved field `{0}` is nonzero")]
    Reserved(&'static str),
    /// A segment file that the manifest does not list holds records.
    #[error("segment is not listed in the MANIFEST but holds records")]
    OrphanSegment,
    /// A batch payload is malformed; the text says how (format/log.md §Batch payload).
    #[error("bad batch payload: {0}")]
    Batch(&'static str),
    /// A snapshot file's block, footer or item is invalid (format/snapshot.md §Validation).
    #[error("bad snapshot: {0}")]
    Snapshot(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_display_names_file_offset_and_fsck() {
        let e = StorageError::corrupt("/data/seg-0000000000000001.log", 60, Corruption::PayloadCrc);
        let s = e.to_string();
        assert!(s.contains("/data/seg-0000000000000001.log"), "{s}");
        assert!(s.contains("offset 60"), "{s}");
        assert!(s.contains("strata fsck --dir /data"), "{s}");
        assert_eq!(e.corruption(), Some(Corruption::PayloadCrc));
    }
}
