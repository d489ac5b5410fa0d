//! The `repl-info` file (format/README.md §repl-info): where the replication stream stood
//! when the server last stopped cleanly — its replication id, offset, the database its
//! master's stream had selected, and the log's last LSN then. Redis keeps these in its
//! RDB's aux fields so that a restarted server continues with a partial resync; strata
//! keeps them beside its log, and trusts them only when the log recovered at the next
//! start ends at that same LSN (nothing was written after them, so the dataset is exactly
//! the one the offset describes). Read once at start and removed.

use std::path::Path;

use super::io::Vfs;

/// The file's name in the data directory.
pub const FILE: &str = "repl-info";

/// Where the replication stream stood at a clean stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplInfo {
    /// The log's last LSN when it was written.
    pub lsn: u64,
    /// The replication id (40 hex digits).
    pub replid: String,
    /// The stream offset the dataset at `lsn` corresponds to.
    pub offset: u64,
    /// The database the master's stream had selected (a replica continues in it).
    pub db: usize,
}

impl ReplInfo {
    /// The file's bytes: `strata-repl-info 1`, one `name value` line per field, then
    /// `crc32 <8 hex>` of everything before it.
    pub fn encode(&self) -> Vec<u8> {
        let body = format!(
            "strata-repl-info 1\nlsn {}\nreplid {}\noffset {}\ndb {}\n",
            self.lsn, self.replid, self.offset, self.db
        );
        let crc = crc32fast::hash(body.as_bytes());
        format!("{body}crc32 {crc:08x}\n").into_bytes()
    }

    /// Parse and check a file's bytes (None: not one this version wrote whole).
    pub fn decode(bytes: &[u8]) -> Option<ReplInfo> {
        let text = std::str::from_utf8(bytes).ok()?;
        let crc_at = text.rfind("crc32 ")?;
        let hex = text[crc_at + 6..].strip_suffix('\n')?;
        let lower = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if hex.len() != 8 || !hex.bytes().all(lower) {
            return None;
        }
        let stored = u32::from_str_radix(hex, 16).ok()?;
        if crc32fast::hash(&bytes[..crc_at]) != stored {
            return None;
        }
        let mut lines = text[..crc_at].lines();
        if lines.next()? != "strata-repl-info 1" {
            return None;
        }
        let mut field = |name: &str| {
            let line = lines.next()?;
            line.strip_prefix(name)?.strip_prefix(' ').map(String::from)
        };
        let lsn = field("lsn")?.parse().ok()?;
        let replid = field("replid")?;
        let offset = field("offset")?.parse().ok()?;
        let db = field("db")?.parse().ok()?;
        let hex = replid.len() == 40 && replid.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then_some(ReplInfo {
            lsn,
            replid,
            offset,
            db,
        })
    }
}

/// Write `info` durably: to `repl-info.tmp`, fdatasync, rename over `repl-info`, fsync
/// the directory.
pub fn write(vfs: &dyn Vfs, dir: &Path, info: &ReplInfo) -> std::io::Result<()> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    let _ = vfs.remove(&tmp);
    let mut f = vfs.create_new(&tmp)?;
    f.write_all(&info.encode())?;
    f.sync_data()?;
    drop(f);
    vfs.rename(&tmp, &dir.join(FILE))?;
    vfs.sync_dir(dir)
}

/// Read and remove the file, if there is one: its contents when they are whole and
/// describe a log that ends at `last_lsn` (else None: a crash, or writes after it).
pub fn take(vfs: &dyn Vfs, dir: &Path, last_lsn: u64) -> Option<ReplInfo> {
    let path = dir.join(FILE);
    let bytes = vfs.read_all(&path).ok()?;
    // (Removed whatever it says: once the server runs, its stream moves on.)
    if vfs.remove(&path).is_ok() {
        let _ = vfs.sync_dir(dir);
    }
    match ReplInfo::decode(&bytes) {
        None => {
            tracing::warn!(
                "{}: not a whole replication note (damaged?), ignored: replicas resync in full",
                path.display()
            );
            None
        }
        Some(i) if i.lsn != last_lsn => {
            tracing::info!(
                "{}: the log moved on after it (LSN {} vs {last_lsn}), ignored: replicas resync in full",
                path.display(),
                i.lsn
            );
            None
        }
        Some(i) => {
            tracing::info!(
                "Replication position restored from {}: {}:{}",
                path.display(),
                i.replid,
                i.offset
            );
            Some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::io::SimFs;

    fn info() -> ReplInfo {
        ReplInfo {
            lsn: 42,
            replid: "0123456789abcdef0123456789abcdef01234567".into(),
            offset: 165804,
            db: 3,
        }
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let i = info();
        let bytes = i.encode();
        assert_eq!(ReplInfo::decode(&bytes), Some(i));
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            assert_eq!(ReplInfo::decode(&bad), None, "flipped byte {at}");
        }
        assert_eq!(ReplInfo::decode(&bytes[..bytes.len() - 3]), None);
    }

    #[test]
    fn is_taken_once_and_only_for_the_same_lsn() {
        let fs = SimFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        write(&fs, dir, &info()).unwrap();
        assert_eq!(take(&fs, dir, 42), Some(info()));
        assert_eq!(take(&fs, dir, 42), None, "removed once read");
        write(&fs, dir, &info()).unwrap();
        assert_eq!(take(&fs, dir, 43), None, "the log moved on after it");
        assert_eq!(take(&fs, dir, 42), None);
    }
}
