//! Log record framing: encode and decode one record, with both CRC checks. Implements
//! format/log.md §Record and the record rows of §Validation. Pure functions on byte slices:
//! no I/O, no LSN continuity (the segment reader checks that), no knowledge of what the
//! payload means (see `batch.rs`).

use super::error::Corruption;

/// Size of the fixed record header: len, lsn, ts_ms, kind, flags, reserved, header_crc.
pub const RECORD_HEADER_LEN: usize = 28;
/// Size of the trailing CRC.
pub const RECORD_TRAILER_LEN: usize = 4;
/// Bytes a record takes on top of its payload.
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + RECORD_TRAILER_LEN;
/// Largest payload a record may carry (512 MiB).
pub const MAX_PAYLOAD_LEN: u32 = 512 * 1024 * 1024;
/// Record kind 1: a batch payload (format/log.md §Batch payload). All others are reserved.
pub const KIND_BATCH: u8 = 1;

/// One decoded record, borrowing its payload from the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Log sequence number.
    pub lsn: u64,
    /// Wall clock of the execution unit, Unix milliseconds.
    pub ts_ms: i64,
    /// Record kind (always `KIND_BATCH` in format v1).
    pub kind: u8,
    /// The payload bytes.
    pub payload: &'a [u8],
}

impl RecordRef<'_> {
    /// Bytes the record occupies on disk.
    pub fn encoded_len(&self) -> usize {
        RECORD_OVERHEAD + self.payload.len()
    }
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The buffer ends before the record does (too short for a header, or for the length the
    /// valid header declares).
    Short,
    /// The bytes are not a valid record.
    Bad(Corruption),
}

impl RecordError {
    /// Whether this failure is what an interrupted append leaves behind (short data, or a
    /// CRC mismatch). Only such failures may be a torn tail; an intact header with impossible
    /// contents (unknown kind, reserved bits, huge length) is always corruption.
    pub fn maybe_torn(self) -> bool {
        matches!(
            self,
            RecordError::Short
                | RecordError::Bad(Corruption::HeaderCrc)
                | RecordError::Bad(Corruption::PayloadCrc)
        )
    }

    /// The `Corruption` to report when this failure is not accepted as a torn tail.
    pub fn corruption(self) -> Corruption {
        match self {
            RecordError::Short => Corruption::TornTail,
            RecordError::Bad(c) => c,
        }
    }
}

/// Appends one complete record to `out`.
///
/// The caller guarantees `payload.len() <= MAX_PAYLOAD_LEN` (checked in debug builds).
pub fn encode_record(out: &mut Vec<u8>, lsn: u64, ts_ms: i64, kind: u8, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_LEN as usize);
    let start = begin_record(out, lsn, ts_ms, kind);
    out.extend_from_slice(payload);
    // The length was checked by the caller; if not, the record is dropped again (never
    // written half-framed).
    if finish_record(out, start).is_err() {
        out.truncate(start);
    }
}

/// Starts a record whose payload the caller appends to `out` next: writes the header with
/// placeholder length and CRC and returns the record's start offset for [`finish_record`].
pub fn begin_record(out: &mut Vec<u8>, lsn: u64, ts_ms: i64, kind: u8) -> usize {
    let start = out.len();
    out.reserve(RECORD_OVERHEAD);
    out.extend_from_slice(&0u32.to_le_bytes()); // len, filled in by finish_record
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&ts_ms.to_le_bytes());
    out.push(kind);
    out.push(0); // flags
    out.extend_from_slice(&0u16.to_le_bytes()); // reserved
    out.extend_from_slice(&0u32.to_le_bytes()); // header_crc, filled in by finish_record
    start
}

/// Completes the record started at `start`: everything after its header is the payload.
/// Fills in `len` and `header_crc` and appends the trailing CRC. If the payload exceeds
/// `MAX_PAYLOAD_LEN`, `out` is left unchanged by this call and the payload length is returned
/// as the error (the caller truncates `out` back to `start`).
pub fn finish_record(out: &mut Vec<u8>, start: usize) -> Result<(), u64> {
    let payload_len = out.len() - start - RECORD_HEADER_LEN;
    let len = match u32::try_from(payload_len) {
        Ok(l) if l <= MAX_PAYLOAD_LEN => l,
        _ => return Err(payload_len as u64),
    };
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let header_crc = crc32fast::hash(&out[start..start + 24]);
    out[start + 24..start + 28].copy_from_slice(&header_crc.to_le_bytes());
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The little-endian `u32` at `at`.
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// The little-endian `u64` at `at`.
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decodes the record at the start of `buf`, checking in the order of format/log.md
/// §Validation: header present, header CRC, kind, flags, reserved, length bound, payload
/// present, record CRC. LSN continuity is the caller's check.
pub fn decode_record(buf: &[u8]) -> Result<RecordRef<'_>, RecordError> {
    if buf.len() < RECORD_HEADER_LEN {
        return Err(RecordError::Short);
    }
    if crc32fast::hash(&buf[..24]) != u32_at(buf, 24) {
        return Err(RecordError::Bad(Corruption::HeaderCrc));
    }
    let len = u32_at(buf, 0);
    let lsn = u64_at(buf, 4);
    let ts_ms = i64::from_le_bytes(u64_at(buf, 12).to_le_bytes());
    let kind = buf[20];
    if kind != KIND_BATCH {
        return Err(RecordError::Bad(Corruption::UnknownRecordKind(kind)));
    }
    if buf[21] != 0 {
        return Err(RecordError::Bad(Corruption::Reserved("record flags")));
    }
    if buf[22] != 0 || buf[23] != 0 {
        return Err(RecordError::Bad(Corruption::Reserved("record reserved")));
    }
    if len > MAX_PAYLOAD_LEN {
        return Err(RecordError::Bad(Corruption::BadLength(u64::from(len))));
    }
    let end = RECORD_HEADER_LEN + len as usize;
    if buf.len() < end + RECORD_TRAILER_LEN {
        return Err(RecordError::Short);
    }
    if crc32fast::hash(&buf[..end]) != u32_at(buf, end) {
        return Err(RecordError::Bad(Corruption::PayloadCrc));
    }
    Ok(RecordRef {
        lsn,
        ts_ms,
        kind,
        payload: &buf[RECORD_HEADER_LEN..end],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(lsn: u64, ts: i64, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_record(&mut v, lsn, ts, KIND_BATCH, payload);
        v
    }

    /// Rewrites header bytes 0..24 with `f` and recomputes both CRCs, so the header is
    /// "intact" but carries the given contents.
    fn forge(mut bytes: Vec<u8>, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
        f(&mut bytes[..24]);
        let hc = crc32fast::hash(&bytes[..24]);
        bytes[24..28].copy_from_slice(&hc.to_le_bytes());
        let end = bytes.len() - 4;
        let c = crc32fast::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(&c.to_le_bytes());
        bytes
    }

    #[test]
    fn round_trip() {
        for payload in [&b""[..], b"x", &[7u8; 1000][..]] {
            let b = rec(42, -5, payload);
            assert_eq!(b.len(), RECORD_OVERHEAD + payload.len());
            let r = decode_record(&b).unwrap();
            assert_eq!(r.lsn, 42);
            assert_eq!(r.ts_ms, -5);
            assert_eq!(r.kind, KIND_BATCH);
            assert_eq!(r.payload, payload);
            assert_eq!(r.encoded_len(), b.len());
        }
    }

    #[test]
    fn begin_finish_matches_encode() {
        let mut a = Vec::new();
        let s = begin_record(&mut a, 9, 10, KIND_BATCH);
        a.extend_from_slice(b"payload");
        finish_record(&mut a, s).unwrap();
        assert_eq!(a, rec(9, 10, b"payload"));
    }

    #[test]
    fn header_layout_is_little_endian() {
        let b = rec(0x0102_0304_0506_0708, 0x1112_1314_1516_1718, b"ab");
        assert_eq!(&b[0..4], &[2, 0, 0, 0]);
        assert_eq!(&b[4..12], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(
            &b[12..20],
            &[0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11]
        );
        assert_eq!(&b[20..24], &[1, 0, 0, 0]);
    }

    #[test]
    fn every_flipped_byte_is_detected_with_the_exact_variant() {
        let good = rec(3, 1_700_000_000_000, b"hello");
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x40;
            let want = if i < 28 {
                RecordError::Bad(Corruption::HeaderCrc)
            } else {
                RecordError::Bad(Corruption::PayloadCrc)
            };
            assert_eq!(decode_record(&b), Err(want), "byte {i}");
        }
    }

    #[test]
    fn intact_headers_with_bad_contents() {
        let good = rec(3, 0, b"hello");
        let b = forge(good.clone(), |h| h[20] = 2);
        assert_eq!(
            decode_record(&b),
            Err(RecordError::Bad(Corruption::UnknownRecordKind(2)))
        );
        let b = forge(good.clone(), |h| h[21] = 1);
        assert_eq!(
            decode_record(&b),
            Err(RecordError::Bad(Corruption::Reserved("record flags")))
        );
        let b = forge(good.clone(), |h| h[23] = 1);
        assert_eq!(
            decode_record(&b),
            Err(RecordError::Bad(Corruption::Reserved("record reserved")))
        );
        let big = MAX_PAYLOAD_LEN + 1;
        let b = forge(good.clone(), |h| {
            h[0..4].copy_from_slice(&big.to_le_bytes())
        });
        assert_eq!(
            decode_record(&b),
            Err(RecordError::Bad(Corruption::BadLength(u64::from(big))))
        );
        // A valid header whose length runs past the buffer is short, i.e. possibly torn.
        let b = forge(good, |h| h[0..4].copy_from_slice(&100u32.to_le_bytes()));
        assert_eq!(decode_record(&b), Err(RecordError::Short));
    }

    #[test]
    fn every_prefix_is_short() {
        let good = rec(3, 0, b"hello");
        for cut in 0..good.len() {
            let e = decode_record(&good[..cut]).unwrap_err();
            // A prefix shorter than the header is Short; a longer one has an intact header and
            // a length that runs past the end: also Short.
            assert_eq!(e, RecordError::Short, "cut {cut}");
            assert!(e.maybe_torn());
        }
    }

    #[test]
    fn all_zero_header_fails_header_crc() {
        let z = [0u8; 64];
        assert_eq!(
            decode_record(&z),
            Err(RecordError::Bad(Corruption::HeaderCrc))
        );
        assert_eq!(crc32fast::hash(&[0u8; 24]), 0xA3C1_CA20);
    }

    #[test]
    fn torn_classification() {
        assert!(RecordError::Bad(Corruption::HeaderCrc).maybe_torn());
        assert!(RecordError::Bad(Corruption::PayloadCrc).maybe_torn());
        assert!(!RecordError::Bad(Corruption::UnknownRecordKind(9)).maybe_torn());
        assert!(!RecordError::Bad(Corruption::BadLength(1)).maybe_torn());
        assert_eq!(RecordError::Short.corruption(), Corruption::TornTail);
    }
}
