//! Segment files: the 32-byte segment header, file naming, the reader that validates a
//! whole segment (header, every record, LSN continuity, the torn-tail rule, a preallocated
//! zero tail) and the writer that creates a segment durably, appends to it, keeps it
//! zero-filled ahead of its end and trims it back. Implements format/log.md §Segment
//! header, §File naming, §Validation, §Torn tail rule, §Preallocation, and steps 2–3 of
//! §Durability sequence. Knows nothing about the manifest or the writer thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{Corruption, StorageError};
use super::io::{Vfs, VfsFile};
use super::record::{decode_record, RecordRef, RECORD_OVERHEAD};

/// The segment magic: 0x89 'S' 'T' 'R' CR LF ^Z LF.
pub const SEGMENT_MAGIC: [u8; 8] = [0x89, b'S', b'T', b'R', 0x0D, 0x0A, 0x1A, 0x0A];
/// Size of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// The segment format version this build writes and the highest it reads.
pub const SEGMENT_VERSION: u16 = 1;
/// Byte offset of `first_lsn` in the header (reported with LSN errors).
const FIRST_LSN_OFFSET: u64 = 16;
/// Page granularity of what a torn tail's side file keeps before trailing zeros.
const TAIL_PAGE: usize = 4096;

/// The segment header (format/log.md §Segment header). Only `first_lsn` varies in v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// LSN of the first record this segment holds (or will hold).
    pub first_lsn: u64,
}

impl SegmentHeader {
    /// The 32 header bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut h = [0u8; SEGMENT_HEADER_LEN];
        h[0..8].copy_from_slice(&SEGMENT_MAGIC);
        h[8..10].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        // 10..12 flags = 0, 12..16 reserved = 0
        h[16..24].copy_from_slice(&self.first_lsn.to_le_bytes());
        let crc = crc32fast::hash(&h[0..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        // 28..32 pad = 0
        h
    }

    /// Decodes and validates a header from the start of `buf` (the contents of `file`).
    /// Order: length, magic, header CRC, version, flags, reserved, pad.
    pub fn decode(buf: &[u8], file: &Path) -> Result<Self, StorageError> {
        let bad = |offset: u64, what| StorageError::corrupt(file, offset, what);
        if buf.len() < SEGMENT_HEADER_LEN {
            return Err(bad(0, Corruption::TornTail));
        }
        if buf[0..8] != SEGMENT_MAGIC {
            return Err(bad(0, Corruption::BadMagic));
        }
        let stored = u32::from_le_bytes([buf[24], buf[25], buf[26], buf[27]]);
        if crc32fast::hash(&buf[0..24]) != stored {
            return Err(bad(0, Corruption::HeaderCrc));
        }
        let version = u16::from_le_bytes([buf[8], buf[9]]);
        if version != SEGMENT_VERSION {
            return Err(StorageError::Version {
                file: file.to_path_buf(),
                found: version,
                supported: SEGMENT_VERSION,
            });
        }
        if buf[10..12] != [0, 0] {
            return Err(bad(10, Corruption::Reserved("segment flags")));
        }
        if buf[12..16] != [0, 0, 0, 0] {
            return Err(bad(12, Corruption::Reserved("segment reserved")));
        }
        if buf[28..32] != [0, 0, 0, 0] {
            return Err(bad(28, Corruption::Reserved("segment pad")));
        }
        let mut lsn = [0u8; 8];
        lsn.copy_from_slice(&buf[16..24]);
        Ok(SegmentHeader {
            first_lsn: u64::from_le_bytes(lsn),
        })
    }
}

/// `seg-<first_lsn as 16 lowercase hex digits>.log`.
pub fn segment_file_name(first_lsn: u64) -> String {
    format!("seg-{first_lsn:016x}.log")
}

/// The first LSN named by a segment file name, if `name` is exactly a segment name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    parse_lsn_name(name, "seg-", ".log")
}

/// The LSN in `<prefix><16 lowercase hex><suffix>` (segment and snapshot names).
pub(crate) fn parse_lsn_name(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let hex = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Where a torn tail starts in the last segment and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornAt {
    /// Offset of the first byte after the last good record.
    pub offset: u64,
    /// Number of bytes from `offset` to the end of the file, or, if the file ends in zeros,
    /// through the end of the 4 KiB page (counted from the start of the file) that holds
    /// its last non-zero byte: the bytes a side file keeps (at least 1).
    pub len: u64,
    /// The zero bytes after those, to the end of the file (preallocated space the torn
    /// write did not reach): cut, not kept.
    pub zero_tail: u64,
    /// What the reader found at `offset` (`TornTail` for a short record).
    pub found: Corruption,
}

/// Result of validating a whole segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentScan {
    /// The header's first LSN.
    pub first_lsn: u64,
    /// LSN the next record after this segment must carry.
    pub next_lsn: u64,
    /// Number of valid records.
    pub records: u64,
    /// End offset of the last valid record (the header length if there is none).
    pub good_end: u64,
    /// Present when the segment ends in a torn tail (only possible with `is_last`).
    pub torn: Option<TornAt>,
    /// Bytes from `good_end` to the end of the file when they are all zero: preallocated
    /// space, not damage (only possible with `is_last`; 0 otherwise and with a torn tail).
    pub zero_tail: u64,
}

/// Validates the segment `bytes` (contents of `file`, whose name says `name_lsn`) and calls
/// `each` for every valid record in order. `expected_first_lsn` is what continuity requires.
///
/// Zero tail (format/log.md §Preallocation): in the last segment, bytes that are all zero
/// from the end of the last valid record to the end of the file are preallocated space and
/// end the log cleanly (`zero_tail`). An all-zero record header never validates (its header
/// CRC would have to be 0, and the CRC of 24 zero bytes is 0xA3C1CA20). Not accepted in
/// other segments: rotation trims a segment before a later one is listed.
///
/// Torn tail rule (format/log.md §Torn tail rule): a record that fails only because it is
/// short or fails a CRC is a torn tail if `is_last` and no complete valid record with an LSN
/// at or after the expected one starts anywhere after it. The search starts right after the
/// damaged record's declared extent if its header is intact (so bytes inside its payload are
/// never mistaken for a record), else one byte after its start. Everything else is corruption.
pub fn scan_segment(
    bytes: &[u8],
    file: &Path,
    name_lsn: u64,
    expected_first_lsn: u64,
    is_last: bool,
    mut each: impl FnMut(RecordRef<'_>),
) -> Result<SegmentScan, StorageError> {
    let header = SegmentHeader::decode(bytes, file)?;
    if header.first_lsn != name_lsn {
        return Err(StorageError::corrupt(
            file,
            FIRST_LSN_OFFSET,
            Corruption::LsnGap {
                expected: name_lsn,
                found: header.first_lsn,
            },
        ));
    }
    if header.first_lsn != expected_first_lsn {
        return Err(StorageError::corrupt(
            file,
            FIRST_LSN_OFFSET,
            Corruption::LsnGap {
                expected: expected_first_lsn,
                found: header.first_lsn,
            },
        ));
    }
    let mut pos = SEGMENT_HEADER_LEN;
    let mut next = header.first_lsn;
    let mut records = 0u64;
    let mut torn = None;
    let mut zero_tail = 0u64;
    while pos < bytes.len() {
        match decode_record(&bytes[pos..]) {
            Ok(r) => {
                if r.lsn != next {
                    return Err(StorageError::corrupt(
                        file,
                        pos as u64,
                        Corruption::LsnGap {
                            expected: next,
                            found: r.lsn,
                        },
                    ));
                }
                pos += r.encoded_len();
                next += 1;
                records += 1;
                each(r);
            }
            Err(e) => {
                // End of the last non-zero byte: no record can start at or after it (a
                // record's header holds its LSN, ≥ 1).
                let data_end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                if is_last && data_end <= pos {
                    zero_tail = (bytes.len() - pos) as u64;
                    break;
                }
                let search_from = pos + intact_extent(&bytes[pos..]).unwrap_or(1);
                if is_last
                    && e.maybe_torn()
                    && !valid_record_after(bytes, search_from, data_end, next)
                {
                    // Keep whole pages: a torn write persists pages, and zeros inside one
                    // may be record bytes.
                    let keep_end = data_end.div_ceil(TAIL_PAGE).saturating_mul(TAIL_PAGE);
                    let keep_end = keep_end.min(bytes.len());
                    torn = Some(TornAt {
                        offset: pos as u64,
                        len: (keep_end - pos) as u64,
                        zero_tail: (bytes.len() - keep_end) as u64,
                        found: e.corruption(),
                    });
                    break;
                }
                return Err(StorageError::corrupt(file, pos as u64, e.corruption()));
            }
        }
    }
    Ok(SegmentScan {
        first_lsn: header.first_lsn,
        next_lsn: next,
        records,
        good_end: pos as u64,
        torn,
        zero_tail,
    })
}

/// If the record header at the start of `buf` is intact (header CRC matches), the number of
/// bytes the record claims (header + payload + CRC).
fn intact_extent(buf: &[u8]) -> Option<usize> {
    if buf.len() < 28 {
        return None;
    }
    let stored = u32::from_le_bytes([buf[24], buf[25], buf[26], buf[27]]);
    if crc32fast::hash(&buf[..24]) != stored {
        return None;
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    Some(RECORD_OVERHEAD + len)
}

/// Whether a complete, valid record with `lsn >= min_lsn` starts at any offset in
/// `from..data_end`, where `data_end` is the end of the last non-zero byte: a record may end
/// in zero bytes (its CRC may hold some) but cannot start in the zero tail after `data_end`
/// (its header holds its LSN, ≥ 1), so a long preallocated tail is not searched.
fn valid_record_after(bytes: &[u8], from: usize, data_end: usize, min_lsn: u64) -> bool {
    let Some(last_start) = bytes.len().checked_sub(RECORD_OVERHEAD) else {
        return false;
    };
    let until = last_start.min(data_end.saturating_sub(1));
    (from..=until).any(|p| matches!(decode_record(&bytes[p..]), Ok(r) if r.lsn >= min_lsn))
}

/// Appends to one segment file. Tracks the logical length (the end of the last record
/// written) apart from the file's length, which preallocation keeps ahead of it with zeros
/// (format/log.md §Preallocation); knows nothing of rotation or preallocation policy.
pub struct SegmentWriter {
    vfs: Arc<dyn Vfs>,
    file: Box<dyn VfsFile>,
    path: PathBuf,
    first_lsn: u64,
    /// End of the last record written: where the next record goes.
    len: u64,
    /// The file's length as this writer made it (≥ `len`); bytes `len..alloc_end` are zeros.
    alloc_end: u64,
    /// A write of preallocated zeros failed: this segment preallocates no more.
    prealloc_failed: bool,
}

impl SegmentWriter {
    /// Creates segment `first_lsn` in `dir` durably (format/log.md §Durability sequence,
    /// steps 2–3): write `seg-X.log.tmp` with the header, fsync it, rename it to
    /// `seg-X.log`, fsync the directory. After this returns, the segment survives a crash.
    pub fn create(vfs: &Arc<dyn Vfs>, dir: &Path, first_lsn: u64) -> Result<Self, StorageError> {
        let name = segment_file_name(first_lsn);
        let path = dir.join(&name);
        let tmp = dir.join(format!("{name}.tmp"));
        // A stale tmp (from a failed earlier attempt in this process) is garbage.
        match vfs.remove(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(&tmp, e)),
        }
        let mut file = vfs
            .create_new(&tmp)
            .map_err(|e| StorageError::io(&tmp, e))?;
        let header = SegmentHeader { first_lsn }.encode();
        file.write_all(&header)
            .map_err(|e| StorageError::io(&tmp, e))?;
        // DURABILITY: the header is on disk before the name `seg-X.log` can exist.
        file.sync_data().map_err(|e| StorageError::io(&tmp, e))?;
        drop(file);
        // DURABILITY: atomic rename; a crash leaves either the .tmp (deleted at open) or the
        // complete header-only segment (an orphan until a manifest lists it).
        vfs.rename(&tmp, &path)
            .map_err(|e| StorageError::io(&path, e))?;
        // DURABILITY: the new directory entry is durable before any manifest names it.
        vfs.sync_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        let file = vfs
            .open_write(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        Ok(SegmentWriter {
            vfs: Arc::clone(vfs),
            file,
            path,
            first_lsn,
            len: SEGMENT_HEADER_LEN as u64,
            alloc_end: SEGMENT_HEADER_LEN as u64,
            prealloc_failed: false,
        })
    }

    /// Opens an existing, already validated segment whose records end at `len` for
    /// appending there. Anything after `len` must be zeros (a preallocated tail the scan
    /// accepted): the next records overwrite it.
    pub fn open(
        vfs: &Arc<dyn Vfs>,
        path: PathBuf,
        first_lsn: u64,
        len: u64,
    ) -> Result<Self, StorageError> {
        let file_len = vfs
            .file_len(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        let file = vfs
            .open_write(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        Ok(SegmentWriter {
            vfs: Arc::clone(vfs),
            file,
            path,
            first_lsn,
            len,
            alloc_end: file_len.max(len),
            prealloc_failed: false,
        })
    }

    /// Writes `bytes` (whole records) at the logical end, over preallocated zeros or past
    /// the end of the file. On error the log must latch: an unknown prefix may have been
    /// written.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        if let Err(e) = self.file.write_at(self.len, bytes) {
            // Cut whatever part of the batch reached the file (a full disk writes a prefix):
            // the segment then ends at its last whole record, so a restart finds no torn
            // tail it would have to copy aside on a disk with no room left. Best effort:
            // the log latches either way, and recovery handles a tail left behind.
            if self.vfs.truncate(&self.path, self.len).is_ok() {
                self.alloc_end = self.len;
            }
            return Err(StorageError::io(&self.path, e));
        }
        self.len += bytes.len() as u64;
        self.alloc_end = self.alloc_end.max(self.len);
        Ok(())
    }

    /// Extends the file with zeros up to `target` bytes if it is shorter. Returns whether it
    /// wrote them all; the caller decides when to sync (format/log.md §Preallocation).
    ///
    /// A failed write of zeros (a full disk, most often) is not a log failure: no record is
    /// in them, and zeros after the last record are a clean end whether they reached the
    /// file or not. The segment then stops preallocating (records extend the file as
    /// without preallocation, and their own write decides) and this returns `Ok(false)`.
    /// Only finding the file's length afterwards failing is an error (the log must latch).
    pub fn preallocate(&mut self, target: u64) -> Result<bool, StorageError> {
        if target <= self.alloc_end || self.prealloc_failed {
            return Ok(false);
        }
        // From one static block of zeros: no allocation (a transient MiB would show in
        // used_memory and make `maxmemory` refuse and accept writes by turns).
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        while self.alloc_end < target {
            let n = usize::try_from(target - self.alloc_end)
                .unwrap_or(usize::MAX)
                .min(ZEROS.len());
            if let Err(e) = self.file.write_at(self.alloc_end, &ZEROS[..n]) {
                tracing::warn!(
                    segment = %self.path.display(),
                    error = %e,
                    "cannot preallocate log space; records extend the segment as they come"
                );
                self.prealloc_failed = true;
                // Part of the chunk may have been written: know the file's real end, so that
                // `trim` still cuts every zero.
                let file_len = self
                    .vfs
                    .file_len(&self.path)
                    .map_err(|e| StorageError::io(&self.path, e))?;
                self.alloc_end = file_len.max(self.len);
                return Ok(false);
            }
            self.alloc_end += n as u64;
        }
        Ok(true)
    }

    /// Cuts the preallocated zeros after the last record and makes the new length durable
    /// (truncate + fsync). Used before a later segment is listed and at a clean shutdown.
    pub fn trim(&mut self) -> Result<(), StorageError> {
        if self.alloc_end <= self.len {
            return Ok(());
        }
        // DURABILITY: Vfs::truncate fsyncs the new length before returning.
        self.vfs
            .truncate(&self.path, self.len)
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.alloc_end = self.len;
        Ok(())
    }

    /// fdatasync the segment. On error the log must latch (never retry and carry on).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        // DURABILITY: every record appended so far is durable once this returns Ok.
        self.file
            .sync_data()
            .map_err(|e| StorageError::io(&self.path, e))
    }

    /// Logical length: the end of the last record written (preallocated zeros excluded).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The file's length, preallocated zeros included.
    pub fn allocated(&self) -> u64 {
        self.alloc_end
    }

    /// Whether the segment holds no record yet (header only).
    pub fn is_empty(&self) -> bool {
        self.len <= SEGMENT_HEADER_LEN as u64
    }

    /// The segment's first LSN.
    pub fn first_lsn(&self) -> u64 {
        self.first_lsn
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::record::{encode_record, KIND_BATCH};

    fn seg(first: u64, n: u64) -> Vec<u8> {
        let mut v = SegmentHeader { first_lsn: first }.encode().to_vec();
        for lsn in first..first + n {
            encode_record(&mut v, lsn, 1000 + lsn as i64, KIND_BATCH, &[lsn as u8; 5]);
        }
        v
    }

    fn scan(bytes: &[u8], last: bool) -> Result<SegmentScan, StorageError> {
        scan_segment(bytes, Path::new("/d/seg"), 1, 1, last, |_| {})
    }

    #[test]
    fn header_round_trip_and_layout() {
        let h = SegmentHeader { first_lsn: 0x1234 };
        let b = h.encode();
        assert_eq!(&b[0..8], b"\x89STR\r\n\x1a\n");
        assert_eq!(&b[8..10], &[1, 0]);
        assert_eq!(&b[16..24], &0x1234u64.to_le_bytes());
        assert_eq!(SegmentHeader::decode(&b, Path::new("x")).unwrap(), h);
    }

    #[test]
    fn header_corruption_variants() {
        let good = SegmentHeader { first_lsn: 1 }.encode();
        let p = Path::new("x");
        for i in 0..32 {
            let mut b = good;
            b[i] ^= 0x01;
            let e = SegmentHeader::decode(&b, p).unwrap_err();
            let want = match i {
                0..=7 => Corruption::BadMagic,
                8..=27 => Corruption::HeaderCrc,
                _ => Corruption::Reserved("segment pad"),
            };
            assert_eq!(e.corruption(), Some(want), "byte {i}");
        }
        // An intact header with version 2.
        let mut b = good;
        b[8] = 2;
        let crc = crc32fast::hash(&b[0..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            SegmentHeader::decode(&b, p),
            Err(StorageError::Version {
                found: 2,
                supported: 1,
                ..
            })
        ));
        for (at, what) in [(10, "segment flags"), (12, "segment reserved")] {
            let mut b = good;
            b[at] = 1;
            let crc = crc32fast::hash(&b[0..24]);
            b[24..28].copy_from_slice(&crc.to_le_bytes());
            let e = SegmentHeader::decode(&b, p).unwrap_err();
            assert_eq!(e.corruption(), Some(Corruption::Reserved(what)));
        }
        let e = SegmentHeader::decode(&good[..31], p).unwrap_err();
        assert_eq!(e.corruption(), Some(Corruption::TornTail));
    }

    #[test]
    fn names() {
        assert_eq!(segment_file_name(1), "seg-0000000000000001.log");
        assert_eq!(parse_segment_name("seg-00000000000004d3.log"), Some(0x4d3));
        assert_eq!(parse_segment_name("seg-00000000000004D3.log"), None);
        assert_eq!(parse_segment_name("seg-4d3.log"), None);
        assert_eq!(parse_segment_name("seg-00000000000004d3.log.tmp"), None);
        assert_eq!(parse_segment_name("seg-00000000000004d3.log.torn-1"), None);
    }

    #[test]
    fn scan_valid_segment() {
        let b = seg(1, 3);
        let mut lsns = Vec::new();
        let s = scan_segment(&b, Path::new("x"), 1, 1, false, |r| lsns.push(r.lsn)).unwrap();
        assert_eq!(lsns, vec![1, 2, 3]);
        assert_eq!(s.next_lsn, 4);
        assert_eq!(s.records, 3);
        assert_eq!(s.good_end, b.len() as u64);
        assert_eq!(s.torn, None);
    }

    #[test]
    fn header_lsn_must_match_name_and_continuity() {
        let b = seg(5, 1);
        let e = scan_segment(&b, Path::new("x"), 4, 5, false, |_| {}).unwrap_err();
        assert_eq!(
            e.corruption(),
            Some(Corruption::LsnGap {
                expected: 4,
                found: 5
            })
        );
        let e = scan_segment(&b, Path::new("x"), 5, 3, false, |_| {}).unwrap_err();
        assert_eq!(
            e.corruption(),
            Some(Corruption::LsnGap {
                expected: 3,
                found: 5
            })
        );
    }

    #[test]
    fn torn_tail_only_in_last_segment() {
        let full = seg(1, 3);
        let two = seg(1, 2).len();
        for cut in two + 1..full.len() {
            let s = scan(&full[..cut], true).unwrap();
            assert_eq!(s.records, 2);
            assert_eq!(
                s.torn.map(|t| (t.offset, t.len)),
                Some((two as u64, (cut - two) as u64))
            );
            let e = scan(&full[..cut], false).unwrap_err();
            assert_eq!(e.corruption(), Some(Corruption::TornTail), "cut {cut}");
            assert!(matches!(e, StorageError::Corrupt { offset, .. } if offset == two as u64));
        }
    }

    #[test]
    fn garbage_followed_by_a_valid_record_is_corruption() {
        let full = seg(1, 3);
        let one = seg(1, 1).len();
        // Damage record 2's header: record 3 is intact after it.
        let mut b = full.clone();
        b[one + 5] ^= 0xff;
        let e = scan(&b, true).unwrap_err();
        assert_eq!(e.corruption(), Some(Corruption::HeaderCrc));
        // Damage record 2's payload: same.
        let mut b = full.clone();
        b[one + 29] ^= 0xff;
        let e = scan(&b, true).unwrap_err();
        assert_eq!(e.corruption(), Some(Corruption::PayloadCrc));
        // Damage record 3 (the last): torn tail.
        let two = seg(1, 2).len();
        let mut b = full;
        b[two + 29] ^= 0xff;
        let s = scan(&b, true).unwrap();
        assert_eq!(s.records, 2);
        assert_eq!(s.torn.map(|t| t.found), Some(Corruption::PayloadCrc));
    }

    #[test]
    fn record_embedded_in_a_torn_payload_is_not_mistaken_for_data() {
        // Record 2's payload is itself a valid encoding of record 3; record 2's CRC is torn.
        let mut b = seg(1, 1);
        let mut inner = Vec::new();
        encode_record(&mut inner, 3, 0, KIND_BATCH, b"evil");
        let start = b.len();
        encode_record(&mut b, 2, 0, KIND_BATCH, &inner);
        let last = b.len() - 1;
        b[last] ^= 1;
        let s = scan(&b, true).unwrap();
        assert_eq!(s.records, 1);
        assert_eq!(s.torn.map(|t| t.offset), Some(start as u64));
    }

    #[test]
    fn intact_header_with_impossible_contents_is_never_torn() {
        let mut b = seg(1, 1);
        let at = b.len();
        encode_record(&mut b, 2, 0, KIND_BATCH, b"x");
        b[at + 20] = 7;
        let crc = crc32fast::hash(&b[at..at + 24]);
        b[at + 24..at + 28].copy_from_slice(&crc.to_le_bytes());
        let e = scan(&b, true).unwrap_err();
        assert_eq!(e.corruption(), Some(Corruption::UnknownRecordKind(7)));
    }

    #[test]
    fn lsn_gap_inside_segment() {
        let mut b = seg(1, 1);
        let at = b.len();
        encode_record(&mut b, 3, 0, KIND_BATCH, b"x");
        let e = scan(&b, true).unwrap_err();
        assert_eq!(
            e.corruption(),
            Some(Corruption::LsnGap {
                expected: 2,
                found: 3
            })
        );
        assert!(matches!(e, StorageError::Corrupt { offset, .. } if offset == at as u64));
    }

    #[test]
    fn zero_filled_tail_is_preallocated_space() {
        let mut b = seg(1, 2);
        let at = b.len();
        b.extend_from_slice(&[0u8; 5000]);
        let mut n = 0;
        let s = scan_segment(&b, Path::new("x"), 1, 1, true, |_| n += 1).unwrap();
        assert_eq!((s.records, n), (2, 2));
        assert_eq!(s.torn, None);
        assert_eq!(s.good_end, at as u64);
        assert_eq!(s.zero_tail, 5000);
        assert_eq!(s.next_lsn, 3);
        // Fewer zeros than a record header: the same.
        let mut b = seg(1, 2);
        b.extend_from_slice(&[0u8; 3]);
        let s = scan(&b, true).unwrap();
        assert_eq!((s.records, s.zero_tail, s.torn), (2, 3, None));
        // A header-only segment followed by zeros.
        let mut b = seg(1, 0);
        b.extend_from_slice(&[0u8; 100]);
        let s = scan(&b, true).unwrap();
        assert_eq!((s.records, s.good_end, s.zero_tail), (0, 32, 100));
        // No zero tail: 0.
        assert_eq!(scan(&seg(1, 2), true).unwrap().zero_tail, 0);
    }

    #[test]
    fn zero_tail_in_a_non_last_segment_is_corruption() {
        let mut b = seg(1, 2);
        let at = b.len();
        b.extend_from_slice(&[0u8; 64]);
        let e = scan(&b, false).unwrap_err();
        assert_eq!(e.corruption(), Some(Corruption::HeaderCrc));
        assert!(matches!(e, StorageError::Corrupt { offset, .. } if offset == at as u64));
        b.truncate(at + 5);
        let e = scan(&b, false).unwrap_err();
        assert_eq!(e.corruption(), Some(Corruption::TornTail));
    }

    #[test]
    fn all_zero_record_never_decodes() {
        assert_eq!(crc32fast::hash(&[0u8; 24]), 0xA3C1_CA20);
        for n in [28, 32, 64, 4096] {
            assert!(decode_record(&vec![0u8; n]).is_err(), "{n}");
        }
    }

    #[test]
    fn torn_record_followed_by_zeros_is_a_torn_tail() {
        let two = seg(1, 2);
        let mut full = two.clone();
        encode_record(&mut full, 3, 0, KIND_BATCH, &[7u8; 100]);
        // Every prefix of record 3, then zeros (the unwritten rest of a preallocated extent).
        for cut in two.len() + 1..full.len() {
            let mut b = full[..cut].to_vec();
            b.resize(3 * TAIL_PAGE + 10, 0);
            let s = scan(&b, true).unwrap();
            assert_eq!(s.records, 2, "cut {cut}");
            assert_eq!(s.zero_tail, 0);
            let t = s.torn.unwrap();
            assert_eq!(t.offset, two.len() as u64);
            // Kept through the end of the first page (the record is in it), zeros cut.
            assert_eq!(t.len, (TAIL_PAGE - two.len()) as u64, "cut {cut}");
            assert_eq!(t.offset + t.len + t.zero_tail, b.len() as u64);
        }
        // Record 3's payload with a page of zeros in its middle (a lost page): torn.
        let mut b = two.clone();
        encode_record(&mut b, 3, 0, KIND_BATCH, &[7u8; 3 * TAIL_PAGE]);
        let hole = two.len() + 100;
        b[hole..hole + TAIL_PAGE].fill(0);
        b.resize(b.len() + 2 * TAIL_PAGE, 0);
        let t = scan(&b, true).unwrap().torn.unwrap();
        assert_eq!(t.found, Corruption::PayloadCrc);
        assert_eq!(t.offset, two.len() as u64);
    }

    #[test]
    fn zeros_then_garbage_is_a_torn_tail_and_zeros_then_a_record_is_corruption() {
        let two = seg(1, 2);
        let mut b = two.clone();
        b.resize(two.len() + 500, 0);
        b.extend_from_slice(b"garbage");
        b.resize(b.len() + 100, 0);
        let s = scan(&b, true).unwrap();
        assert_eq!(s.records, 2);
        let t = s.torn.unwrap();
        assert_eq!(t.found, Corruption::HeaderCrc);
        assert_eq!((t.offset, t.len, t.zero_tail), (two.len() as u64, 607, 0));
        // A valid record 3 after the zeros (a later page persisted, an earlier one not):
        // never silently dropped.
        let mut b = two.clone();
        b.resize(two.len() + 500, 0);
        encode_record(&mut b, 3, 0, KIND_BATCH, b"late");
        b.resize(b.len() + 100, 0);
        let e = scan(&b, true).unwrap_err();
        assert_eq!(e.corruption(), Some(Corruption::HeaderCrc));
    }

    #[test]
    fn writer_overwrites_preallocated_zeros_and_trims() {
        use crate::persist::io::SimFs;
        let fs = SimFs::new();
        let vfs: Arc<dyn Vfs> = Arc::new(fs.clone());
        let dir = Path::new("/d");
        vfs.create_dir_all(dir).unwrap();
        let mut w = SegmentWriter::create(&vfs, dir, 1).unwrap();
        let path = w.path().to_path_buf();
        let mut rec = Vec::new();
        encode_record(&mut rec, 1, 0, KIND_BATCH, b"one");
        w.append(&rec).unwrap();
        assert!(w.preallocate(8192).unwrap());
        assert!(!w.preallocate(100).unwrap());
        assert_eq!((w.len(), w.allocated()), (32 + rec.len() as u64, 8192));
        let mut rec2 = Vec::new();
        encode_record(&mut rec2, 2, 0, KIND_BATCH, b"two");
        w.append(&rec2).unwrap();
        w.sync().unwrap();
        let bytes = fs.file(&path).unwrap();
        assert_eq!(bytes.len(), 8192);
        let s = scan_segment(&bytes, &path, 1, 1, true, |_| {}).unwrap();
        assert_eq!(s.records, 2);
        assert_eq!(s.good_end, w.len());
        assert_eq!(s.zero_tail, 8192 - w.len());
        // Reopen continues at the logical end, not at the file's end.
        drop(w);
        let mut w = SegmentWriter::open(&vfs, path.clone(), 1, s.good_end).unwrap();
        assert_eq!(w.allocated(), 8192);
        let mut rec3 = Vec::new();
        encode_record(&mut rec3, 3, 0, KIND_BATCH, b"three");
        w.append(&rec3).unwrap();
        w.sync().unwrap();
        w.trim().unwrap();
        let bytes = fs.crash_image().file(&path).unwrap();
        assert_eq!(bytes.len() as u64, w.len());
        let s = scan_segment(&bytes, &path, 1, 1, false, |_| {}).unwrap();
        assert_eq!((s.records, s.zero_tail), (3, 0));
    }
}
