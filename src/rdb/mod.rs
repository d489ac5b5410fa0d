//! Redis's RDB format, both ways, over byte buffers only (no I/O): one value in RDB value
//! encoding (`value`: DUMP/RESTORE payloads and file bodies), whole files (`file`: magic,
//! AUX fields, SELECTDB/RESIZEDB, expiries, functions, EOF and the CRC-64 trailer), and the
//! compact blobs inside them (`listpack`, `ziplist`, `intset`), `lzf` and `crc64`. Decoding
//! accepts every type and encoding redis-server 7.0 writes or loads (module types are
//! refused with a clear error); every bad input is an `RdbError`, never a panic. Encoding
//! writes RDB version 10 with the encodings Redis 7.0 itself would choose where practical.
//! Imports only `crate::db`.

pub mod crc64;
pub mod file;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod value;
pub mod ziplist;

/// The RDB version we write (Redis 7.0).
pub const RDB_VERSION: u16 = 10;
/// The newest RDB version we read (Redis 7.2 writes 11; its extra types are handled).
pub const RDB_VERSION_MAX_READ: u16 = 11;

/// Why RDB data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// The data ends before what it announces.
    #[error("unexpected end of RDB data")]
    Truncated,
    /// Malformed data.
    #[error("bad RDB data: {0}")]
    Bad(String),
    /// A value type we cannot load.
    #[error("RDB value type {0} is a Redis module type; module data cannot be loaded")]
    Module(u8),
    /// A collection with no elements (Redis skips such keys when loading a file).
    #[error("empty collection")]
    Empty,
    /// The checksum does not match.
    #[error("RDB checksum mismatch")]
    Checksum,
    /// A version we do not read.
    #[error("unsupported RDB version {0}")]
    Version(u32),
}

/// Value type bytes (Redis's `RDB_TYPE_*`).
pub mod types {
    /// String.
    pub const STRING: u8 = 0;
    /// List of strings (RDB < 7).
    pub const LIST: u8 = 1;
    /// Set of strings.
    pub const SET: u8 = 2;
    /// Sorted set with string scores (RDB < 8).
    pub const ZSET: u8 = 3;
    /// Hash of strings.
    pub const HASH: u8 = 4;
    /// Sorted set with binary double scores.
    pub const ZSET_2: u8 = 5;
    /// Module value (pre-release format).
    pub const MODULE_PRE_GA: u8 = 6;
    /// Module value.
    pub const MODULE_2: u8 = 7;
    /// Hash as a zipmap.
    pub const HASH_ZIPMAP: u8 = 9;
    /// List as one ziplist.
    pub const LIST_ZIPLIST: u8 = 10;
    /// Set as an intset.
    pub const SET_INTSET: u8 = 11;
    /// Sorted set as a ziplist.
    pub const ZSET_ZIPLIST: u8 = 12;
    /// Hash as a ziplist.
    pub const HASH_ZIPLIST: u8 = 13;
    /// List as a quicklist of ziplists.
    pub const LIST_QUICKLIST: u8 = 14;
    /// Stream (RDB < 10).
    pub const STREAM_LISTPACKS: u8 = 15;
    /// Hash as a listpack.
    pub const HASH_LISTPACK: u8 = 16;
    /// Sorted set as a listpack.
    pub const ZSET_LISTPACK: u8 = 17;
    /// List as a quicklist of listpack or plain nodes.
    pub const LIST_QUICKLIST_2: u8 = 18;
    /// Stream with first/max-deleted IDs, entries added and group entries read (7.0).
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// Set as a listpack (7.2).
    pub const SET_LISTPACK: u8 = 20;
    /// Stream with consumer active time (7.2).
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// File opcodes (Redis's `RDB_OPCODE_*`).
pub mod opcodes {
    /// A function library (7.0 GA).
    pub const FUNCTION2: u8 = 245;
    /// A function (7.0 release candidates).
    pub const FUNCTION_PRE_GA: u8 = 246;
    /// Module auxiliary data.
    pub const MODULE_AUX: u8 = 247;
    /// LRU idle time of the next key.
    pub const IDLE: u8 = 248;
    /// LFU frequency of the next key.
    pub const FREQ: u8 = 249;
    /// An AUX field.
    pub const AUX: u8 = 250;
    /// Hash table size hints.
    pub const RESIZEDB: u8 = 251;
    /// Expiry of the next key, ms.
    pub const EXPIRETIME_MS: u8 = 252;
    /// Expiry of the next key, seconds.
    pub const EXPIRETIME: u8 = 253;
    /// Database selector.
    pub const SELECTDB: u8 = 254;
    /// End of file.
    pub const EOF: u8 = 255;
}

/// The encoding thresholds the loaded values are built with (the server's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `hash-max-listpack-entries`.
    pub hash_entries: u64,
    /// `hash-max-listpack-value`.
    pub hash_value: u64,
    /// `zset-max-listpack-entries`.
    pub zset_entries: u64,
    /// `zset-max-listpack-value`.
    pub zset_value: u64,
    /// `set-max-intset-entries`.
    pub set_intset: u64,
    /// `list-max-listpack-size`.
    pub list_fill: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_entries: 128,
            hash_value: 64,
            zset_entries: 128,
            zset_value: 64,
            set_intset: 512,
            list_fill: -2,
        }
    }
}

/// A cursor over RDB bytes; every read checks the bounds.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A decoded length: a plain length or one of the special string encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        if n > self.remaining() {
            return Err(RdbError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }

    /// A little-endian u64.
    pub fn u64_le(&mut self) -> Result<u64, RdbError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    /// A little-endian u32.
    pub fn u32_le(&mut self) -> Result<u32, RdbError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    pub fn u64_be(&mut self) -> Result<u64, RdbError> {
        Ok(be(self.take(8)?))
    }

    fn raw_len(&mut self) -> Result<Len, RdbError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain((u64::from(b & 0x3f) << 8) | u64::from(self.u8()?)),
            2 => match b {
                0x80 => Len::Plain(be(self.take(4)?)),
                0x81 => Len::Plain(self.u64_be()?),
                _ => return Err(RdbError::Bad(format!("unknown length encoding {b:#x}"))),
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    /// A length (Redis's `rdbLoadLen`).
    pub fn length(&mut self) -> Result<u64, RdbError> {
        match self.raw_len()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(RdbError::Bad(
                "encoded string where a length was expected".into(),
            )),
        }
    }

    /// A length used as a count or size: must fit in memory terms of what is left, as each
    /// counted element takes at least `min_each` bytes.
    pub fn count(&mut self, min_each: usize) -> Result<usize, RdbError> {
        let n = self.length()?;
        let n = usize::try_from(n).map_err(|_| RdbError::Bad("length too large".into()))?;
        if n.saturating_mul(min_each) > self.remaining() {
            return Err(RdbError::Truncated);
        }
        Ok(n)
    }

    /// A string (raw, integer-encoded or LZF-compressed).
    pub fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.raw_len()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Truncated)?;
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(0) => Ok((self.u8()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => {
                let b = self.take(2)?;
                Ok(i16::from_le_bytes([b[0], b[1]]).to_string().into_bytes())
            }
            Len::Encoded(2) => {
                let b = self.take(4)?;
                Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    .to_string()
                    .into_bytes())
            }
            Len::Encoded(3) => {
                let clen = usize::try_from(self.length()?).map_err(|_| RdbError::Truncated)?;
                let ulen = usize::try_from(self.length()?).map_err(|_| RdbError::Truncated)?;
                let z = self.take(clen)?;
                lzf::decompress(z, ulen).map_err(|e| RdbError::Bad(format!("LZF string: {e:?}")))
            }
            Len::Encoded(e) => Err(RdbError::Bad(format!("unknown string encoding {e}"))),
        }
    }

    /// A binary double (8 bytes LE).
    pub fn binary_double(&mut self) -> Result<f64, RdbError> {
        Ok(f64::from_bits(self.u64_le()?))
    }

    /// A string-encoded double (old ZSET): length byte, 253 NaN, 254 +inf, 255 -inf.
    pub fn string_double(&mut self) -> Result<f64, RdbError> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let s = self.take(usize::from(n))?;
                parse_double(s).ok_or_else(|| RdbError::Bad("bad double".into()))
            }
        }
    }
}

/// Parse a double as Redis's `strtod` accepts it in RDB data (incl. `inf`, `-inf`).
pub fn parse_double(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => None,
        _ => t.parse().ok(),
    }
}

/// A big-endian unsigned integer of up to 8 bytes (RDB lengths and stream IDs).
pub fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x))
}

/// Append the low `n` bytes of `v` big-endian.
pub fn put_be(out: &mut Vec<u8>, v: u64, n: usize) {
    for i in (0..n).rev() {
        #[expect(clippy::cast_possible_truncation, reason = "one byte")]
        out.push((v >> (8 * i)) as u8);
    }
}

/// Append a length in RDB length encoding.
pub fn put_len(out: &mut Vec<u8>, n: u64) {
    #[expect(clippy::cast_possible_truncation, reason = "ranges checked")]
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push((n & 0xff) as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        put_be(out, n, 4);
    } else {
        out.push(0x81);
        put_be(out, n, 8);
    }
}

/// Append a string as Redis's `rdbSaveRawString` does: integer encoding for short
/// canonical integers that fit 32 bits, LZF for strings over 20 bytes when that pays,
/// raw otherwise.
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = listpack::canonical_int(s) {
            if let Ok(b) = i8::try_from(v) {
                out.push(0xc0);
                out.extend_from_slice(&b.to_le_bytes());
                return;
            } else if let Ok(h) = i16::try_from(v) {
                out.push(0xc1);
                out.extend_from_slice(&h.to_le_bytes());
                return;
            } else if let Ok(w) = i32::try_from(v) {
                out.push(0xc2);
                out.extend_from_slice(&w.to_le_bytes());
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Some(z) = lzf::compress(s, s.len() - 4) {
            out.push(0xc3);
            put_len(out, z.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&z);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_strings_round_trip() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
        ] {
            let mut b = Vec::new();
            put_len(&mut b, n);
            assert_eq!(Reader::new(&b).length().unwrap(), n);
        }
        let long = b"abcabcabcabcabcabcabcabcabcabcabcabc".repeat(4);
        let cases: [&[u8]; 9] = [
            b"",
            b"0",
            b"-128",
            b"127",
            b"32767",
            b"-2147483648",
            b"2147483648",
            b"007",
            &long,
        ];
        for s in cases {
            let mut b = Vec::new();
            put_string(&mut b, s);
            let mut r = Reader::new(&b);
            assert_eq!(r.string().unwrap(), s);
            assert_eq!(r.remaining(), 0);
        }
        let mut b = Vec::new();
        put_string(&mut b, &long);
        assert_eq!(b[0], 0xc3, "long repetitive strings are compressed");
    }
}
