//! The MANIFEST: the small text file that names the live segments, its parser/formatter and
//! its atomic replace protocol. Implements format/manifest.md (§Grammar, §Validation,
//! §Replace protocol). Knows nothing about segment contents.

use std::path::Path;
use std::sync::Arc;

use super::error::{Corruption, StorageError};
use super::io::Vfs;
use super::segment::{parse_segment_name, segment_file_name};
use super::snapshot::{parse_snapshot_name, snapshot_file_name};

/// File name of the manifest.
pub const MANIFEST_NAME: &str = "MANIFEST";
/// File name the replace protocol writes first.
pub const MANIFEST_TMP_NAME: &str = "MANIFEST.tmp";
/// Highest manifest format version this build reads; it writes 1 without a snapshot and 2
/// with one (format/manifest.md §Versioning).
pub const MANIFEST_VERSION: u16 = 2;

const HEADER_PREFIX: &str = "strata-manifest ";

/// The decoded manifest: the snapshot the log continues from, if any, and the live
/// segments in LSN order (by first LSN).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// LSN of the live snapshot (`snap-<lsn>.zst`): the state after that record.
    pub snapshot: Option<u64>,
    /// First LSN of every live segment, strictly increasing; the last one is active.
    pub segments: Vec<u64>,
}

fn bad(file: &Path, offset: usize, what: &'static str) -> StorageError {
    StorageError::corrupt(file, offset as u64, Corruption::Manifest(what))
}

impl Manifest {
    /// The manifest text (format/manifest.md §Grammar).
    pub fn encode(&self) -> Vec<u8> {
        let version = if self.snapshot.is_some() { 2 } else { 1 };
        let mut s = format!("{HEADER_PREFIX}{version}\n");
        if let Some(lsn) = self.snapshot {
            s.push_str(&snapshot_line(lsn));
        }
        for lsn in &self.segments {
            s.push_str("segment ");
            s.push_str(&segment_file_name(*lsn));
            s.push('\n');
        }
        let crc = crc32fast::hash(s.as_bytes());
        s.push_str(&format!("crc32 {crc:08x}\n"));
        s.into_bytes()
    }

    /// Parses and validates manifest bytes read from `file`, in the order of
    /// format/manifest.md §Validation.
    pub fn decode(bytes: &[u8], file: &Path) -> Result<Manifest, StorageError> {
        if bytes.last() != Some(&b'\n') {
            return Err(bad(file, bytes.len(), "missing final newline"));
        }
        // Lines with their start offsets, without the '\n'.
        let mut lines = Vec::new();
        let mut start = 0;
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                lines.push((start, &bytes[start..i]));
                start = i + 1;
            }
        }
        let (_, first) = lines[0];
        let version = first
            .strip_prefix(HEADER_PREFIX.as_bytes())
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| bad(file, 0, "bad header line"))?;
        if version == 0 || version > MANIFEST_VERSION {
            return Err(StorageError::Version {
                file: file.to_path_buf(),
                found: version,
                supported: MANIFEST_VERSION,
            });
        }
        let (crc_at, crc_line) = lines[lines.len() - 1];
        if lines.len() < 2 {
            return Err(bad(file, crc_at, "missing crc32 line"));
        }
        let stored = crc_line
            .strip_prefix(b"crc32 ")
            .filter(|h| {
                h.len() == 8
                    && h.iter()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            })
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad(file, crc_at, "missing crc32 line"))?;
        if crc32fast::hash(&bytes[..crc_at]) != stored {
            return Err(bad(file, crc_at, "checksum mismatch"));
        }
        let mut segments: Vec<u64> = Vec::new();
        let mut snapshot = None;
        for (i, &(at, line)) in lines[1..lines.len() - 1].iter().enumerate() {
            if version >= 2 && i == 0 && line.starts_with(b"snapshot ") {
                let lsn = std::str::from_utf8(line)
                    .ok()
                    .and_then(parse_snapshot_line)
                    .ok_or_else(|| bad(file, at, "bad snapshot line"))?;
                snapshot = Some(lsn);
                continue;
            }
            let lsn = line
                .strip_prefix(b"segment ")
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(parse_segment_name);
            let Some(lsn) = lsn else {
                return Err(bad(file, at, "unknown line"));
            };
            if segments.last().is_some_and(|prev| *prev >= lsn) {
                return Err(bad(file, at, "segments out of order"));
            }
            if segments.is_empty() && snapshot.is_some_and(|s| lsn > s + 1) {
                return Err(bad(
                    file,
                    at,
                    "first segment starts after the snapshot's LSN + 1",
                ));
            }
            segments.push(lsn);
        }
        if version >= 2 && snapshot.is_none() {
            return Err(bad(
                file,
                manifest_header_len(version),
                "version 2 without a snapshot line",
            ));
        }
        if segments.is_empty() {
            return Err(bad(file, crc_at, "no segments"));
        }
        Ok(Manifest { snapshot, segments })
    }

    /// Byte offset of segment line `i` in this manifest's canonical text (error reports).
    pub fn segment_line_offset(&self, i: usize) -> u64 {
        let version = if self.snapshot.is_some() { 2 } else { 1 };
        let snap = self.snapshot.map_or(0, |l| snapshot_line(l).len());
        (manifest_header_len(version) + snap + 33 * i) as u64
    }

    /// Byte offset of the snapshot line (error reports).
    pub fn snapshot_line_offset(&self) -> u64 {
        manifest_header_len(2) as u64
    }
}

fn manifest_header_len(version: u16) -> usize {
    HEADER_PREFIX.len() + version.to_string().len() + 1
}

/// `snapshot snap-<lsn as 16 hex>.zst lsn <decimal>\n`.
fn snapshot_line(lsn: u64) -> String {
    format!("snapshot {} lsn {lsn}\n", snapshot_file_name(lsn))
}

fn parse_snapshot_line(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("snapshot ")?;
    let (name, dec) = rest.split_once(" lsn ")?;
    let lsn = parse_snapshot_name(name)?;
    (dec.bytes().all(|b| b.is_ascii_digit()) && dec == lsn.to_string()).then_some(lsn)
}

/// Reads `dir/MANIFEST`; `Ok(None)` if it does not exist.
pub fn read_manifest(vfs: &dyn Vfs, dir: &Path) -> Result<Option<Manifest>, StorageError> {
    let path = dir.join(MANIFEST_NAME);
    match vfs.read_all(&path) {
        Ok(bytes) => Manifest::decode(&bytes, &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(&path, e)),
    }
}

/// Replaces `dir/MANIFEST` atomically and durably (format/manifest.md §Replace protocol).
pub fn publish(vfs: &Arc<dyn Vfs>, dir: &Path, manifest: &Manifest) -> Result<(), StorageError> {
    let tmp = dir.join(MANIFEST_TMP_NAME);
    let path = dir.join(MANIFEST_NAME);
    // Step 1: a stale MANIFEST.tmp is garbage from an attempt that failed before its rename.
    match vfs.remove(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StorageError::io(&tmp, e)),
    }
    // Step 2: write the new text.
    let mut f = vfs
        .create_new(&tmp)
        .map_err(|e| StorageError::io(&tmp, e))?;
    f.write_all(&manifest.encode())
        .map_err(|e| StorageError::io(&tmp, e))?;
    // DURABILITY: step 3, the new manifest's bytes are on disk before its name can be MANIFEST.
    f.sync_data().map_err(|e| StorageError::io(&tmp, e))?;
    drop(f);
    // DURABILITY: step 4, atomic replace: a crash leaves the old or the new manifest, whole.
    vfs.rename(&tmp, &path)
        .map_err(|e| StorageError::io(&path, e))?;
    // DURABILITY: step 5, the rename itself is durable; only now may anything rely on it.
    vfs.sync_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::io::SimFs;
    use std::path::PathBuf;

    fn m(v: &[u64]) -> Manifest {
        Manifest {
            snapshot: None,
            segments: v.to_vec(),
        }
    }

    #[test]
    fn version_2_names_a_snapshot() {
        let x = Manifest {
            snapshot: Some(1000),
            segments: vec![990, 1001],
        };
        let b = x.encode();
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(text.starts_with(
            "strata-manifest 2\nsnapshot snap-00000000000003e8.zst lsn 1000\nsegment seg-00000000000003de.log\n"
        ), "{text}");
        assert_eq!(decode(&b).unwrap(), x);
        assert_eq!(
            x.segment_line_offset(1) as usize,
            text.find("segment seg-00000000000003e9").unwrap()
        );
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x01;
            assert!(decode(&c).is_err(), "byte {i}");
        }
        // A first segment that starts after snapshot + 1 leaves a gap.
        let gap = Manifest {
            snapshot: Some(10),
            segments: vec![12],
        };
        assert!(decode(&gap.encode()).is_err());
        // A v1 manifest may not name a snapshot.
        let v1 = with_crc("strata-manifest 1\nsnapshot snap-000000000000000a.zst lsn 10\nsegment seg-000000000000000b.log\n");
        assert_eq!(
            decode(&v1).unwrap_err().corruption(),
            Some(Corruption::Manifest("unknown line"))
        );
    }

    fn decode(b: &[u8]) -> Result<Manifest, StorageError> {
        Manifest::decode(b, Path::new("/d/MANIFEST"))
    }

    fn with_crc(body: &str) -> Vec<u8> {
        let crc = crc32fast::hash(body.as_bytes());
        format!("{body}crc32 {crc:08x}\n").into_bytes()
    }

    #[test]
    fn round_trip_and_text() {
        let x = m(&[1, 0x4d3]);
        let b = x.encode();
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(text.starts_with(
            "strata-manifest 1\nsegment seg-0000000000000001.log\nsegment seg-00000000000004d3.log\ncrc32 "
        ));
        assert_eq!(decode(&b).unwrap(), x);
    }

    #[test]
    fn bad_crc_and_every_flipped_byte() {
        let b = m(&[1, 2]).encode();
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x01;
            assert!(decode(&c).is_err(), "byte {i}");
        }
        let mut c = b.clone();
        c[25] ^= 0x01; // inside the first segment line
        let crc_at = b.len() - 15;
        let e = decode(&c).unwrap_err();
        assert_eq!(
            e.corruption(),
            Some(Corruption::Manifest("checksum mismatch"))
        );
        assert!(matches!(e, StorageError::Corrupt { offset, .. } if offset == crc_at as u64));
    }

    #[test]
    fn grammar_errors() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"strata-manifest 1\nsegment seg-0000000000000001.log".to_vec(), "missing final newline"),
            (with_crc("strata-manifst 1\n"), "bad header line"),
            (b"strata-manifest 1\n".to_vec(), "missing crc32 line"),
            (b"strata-manifest 1\ncrc32 zz\n".to_vec(), "missing crc32 line"),
            (with_crc("strata-manifest 1\n"), "no segments"),
            (with_crc("strata-manifest 1\nsegment seg-1.log\n"), "unknown line"),
            (
                with_crc("strata-manifest 1\nsnapshot snap-0000000000000001.zst lsn 1\nsegment seg-0000000000000002.log\n"),
                "unknown line",
            ),
            (
                with_crc("strata-manifest 1\nsegment seg-0000000000000002.log\nsegment seg-0000000000000001.log\n"),
                "segments out of order",
            ),
        ];
        for (bytes, what) in cases {
            let e = decode(&bytes).unwrap_err();
            assert_eq!(e.corruption(), Some(Corruption::Manifest(what)), "{what}");
            assert!(e.to_string().contains("strata fsck"));
        }
        let e = decode(&with_crc(
            "strata-manifest 3\nsegment seg-0000000000000001.log\n",
        ))
        .unwrap_err();
        assert!(matches!(
            e,
            StorageError::Version {
                found: 3,
                supported: 2,
                ..
            }
        ));
        let e = decode(&with_crc(
            "strata-manifest 2\nsegment seg-0000000000000001.log\n",
        ))
        .unwrap_err();
        assert_eq!(
            e.corruption(),
            Some(Corruption::Manifest("version 2 without a snapshot line"))
        );
    }

    #[test]
    fn publish_is_atomic_and_durable() {
        let fs = SimFs::new();
        let dir = PathBuf::from("/d");
        fs.create_dir_all(&dir).unwrap();
        let vfs: Arc<dyn Vfs> = Arc::new(fs.clone());
        assert_eq!(read_manifest(&*vfs, &dir).unwrap(), None);
        publish(&vfs, &dir, &m(&[1])).unwrap();
        let img = fs.crash_image();
        assert_eq!(read_manifest(&img, &dir).unwrap(), Some(m(&[1])));
        // A failure at each sync leaves the old manifest in the crash image and no MANIFEST.tmp
        // that could be mistaken for anything (it is deleted at open).
        for n in 0..2 {
            fs.fail_sync_after(n);
            assert!(publish(&vfs, &dir, &m(&[1, 2])).is_err());
            let img = fs.crash_image();
            assert_eq!(read_manifest(&img, &dir).unwrap(), Some(m(&[1])), "n={n}");
        }
        publish(&vfs, &dir, &m(&[1, 2])).unwrap();
        assert_eq!(
            read_manifest(&fs.crash_image(), &dir).unwrap(),
            Some(m(&[1, 2]))
        );
        assert_eq!(fs.files(&dir), vec!["MANIFEST"]);
    }
}
