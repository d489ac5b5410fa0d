//! Listpacks, the compact blob Redis 7.0 uses for small hashes, sorted sets, list nodes
//! and stream nodes: a 6-byte header (total bytes u32 LE, element count u16 LE, 65535 =
//! unknown), the entries, and an end byte 0xFF. Each entry is an encoding byte (7-bit
//! uint, 6/12/32-bit string length, 13/16/24/32/64-bit signed int), its data, and a
//! "back length" of 1–5 bytes. The decoder checks every bound; the encoder writes integers
//! in their smallest integer encoding (as Redis's `lpAppend` does for strings that are
//! canonical integers) so redis-server loads the blob unchanged.

use super::RdbError;
use crate::db::lpsize::backlen as backlen_size;
pub use crate::db::lpsize::canonical_int;

/// One listpack element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// A string element.
    Str(&'a [u8]),
    /// An integer element.
    Int(i64),
}

impl Item<'_> {
    /// The element as bytes (an integer in decimal).
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Item::Str(s) => s.to_vec(),
            Item::Int(n) => n.to_string().into_bytes(),
        }
    }

    /// The element as an integer, if it is one (or a string holding one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Item::Int(n) => Some(*n),
            Item::Str(s) => std::str::from_utf8(s).ok()?.parse().ok(),
        }
    }
}

fn bad(what: &str) -> RdbError {
    RdbError::Bad(format!("listpack: {what}"))
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    #[expect(
        clippy::cast_possible_wrap,
        reason = "two's complement reinterpretation"
    )]
    let r = ((v << shift) as i64) >> shift;
    r
}

/// Decode every element of a listpack blob.
pub fn decode(blob: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    if blob.len() < 7 {
        return Err(bad("shorter than its header"));
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if total != blob.len() {
        return Err(bad("total bytes do not match the blob"));
    }
    let count = u16::from_le_bytes([blob[4], blob[5]]);
    let mut items = Vec::new();
    let mut p = 6;
    loop {
        let b = *blob.get(p).ok_or_else(|| bad("missing end byte"))?;
        if b == 0xff {
            if p + 1 != blob.len() {
                return Err(bad("bytes after the end byte"));
            }
            break;
        }
        let (item, hdr, data) = entry(blob, p)?;
        let l = hdr + data;
        let (back, n) = backlen_bytes(l);
        // (Redis's deep integrity check: a back length that does not match its entry
        // would send a backwards walk elsewhere.)
        if blob.get(p + l..p + l + n) != Some(&back[..n]) {
            return Err(bad("entry back length does not match the entry"));
        }
        p += l + n;
        items.push(item);
    }
    if count != u16::MAX && usize::from(count) != items.len() {
        return Err(bad("element count does not match"));
    }
    Ok(items)
}

/// The back length of an entry of `l` bytes as written after it (and how many bytes): 7
/// bits per byte, most significant first; every byte but the first written (the most
/// significant) has the continuation bit set.
fn backlen_bytes(l: usize) -> ([u8; 5], usize) {
    let n = backlen_size(l);
    let mut out = [0u8; 5];
    for (k, i) in (0..n).rev().enumerate() {
        #[expect(clippy::cast_possible_truncation, reason = "7 bits")]
        let mut b = ((l >> (7 * i)) & 0x7f) as u8;
        if i != n - 1 {
            b |= 0x80;
        }
        out[k] = b;
    }
    (out, n)
}

/// The entry at `p`: (item, encoding header size, data size).
fn entry(blob: &[u8], p: usize) -> Result<(Item<'_>, usize, usize), RdbError> {
    let at = |i: usize| {
        blob.get(p + i)
            .copied()
            .ok_or_else(|| bad("truncated entry"))
    };
    let b = at(0)?;
    let int = |n: usize| -> Result<u64, RdbError> {
        let mut v = 0u64;
        for i in 0..n {
            v |= u64::from(at(1 + i)?) << (8 * i);
        }
        Ok(v)
    };
    let string = |hdr: usize, len: usize| -> Result<(Item<'_>, usize, usize), RdbError> {
        let s = blob
            .get(p + hdr..p + hdr + len)
            .ok_or_else(|| bad("string past the end"))?;
        Ok((Item::Str(s), hdr, len))
    };
    if b & 0x80 == 0 {
        Ok((Item::Int(i64::from(b & 0x7f)), 1, 0))
    } else if b & 0xc0 == 0x80 {
        string(1, usize::from(b & 0x3f))
    } else if b & 0xe0 == 0xc0 {
        let v = (u64::from(b & 0x1f) << 8) | u64::from(at(1)?);
        Ok((Item::Int(sign_extend(v, 13)), 2, 0))
    } else if b & 0xf0 == 0xe0 {
        string(2, (usize::from(b & 0x0f) << 8) | usize::from(at(1)?))
    } else {
        match b {
            0xf0 => {
                let len = usize::try_from(int(4)?).map_err(|_| bad("length"))?;
                string(5, len)
            }
            0xf1 => Ok((Item::Int(sign_extend(int(2)?, 16)), 1, 2)),
            0xf2 => Ok((Item::Int(sign_extend(int(3)?, 24)), 1, 3)),
            0xf3 => Ok((Item::Int(sign_extend(int(4)?, 32)), 1, 4)),
            #[expect(clippy::cast_possible_wrap, reason = "two's complement")]
            0xf4 => Ok((Item::Int(int(8)? as i64), 1, 8)),
            _ => Err(bad("unknown entry encoding")),
        }
    }
}

/// Builds a listpack.
#[derive(Debug, Default)]
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Builder {
    /// An empty listpack.
    pub fn new() -> Builder {
        Builder {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// Elements so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no element was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes so far (without the end byte).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Append a string (an integer-looking one is stored as an integer, as Redis does).
    pub fn push(&mut self, s: &[u8]) {
        match canonical_int(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    /// Append a string element as a string.
    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        #[expect(
            clippy::cast_possible_truncation,
            reason = "widths checked by the match"
        )]
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xe0 | (len >> 8) as u8);
            self.buf.push((len & 0xff) as u8);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.finish_entry(start);
    }

    /// Append an integer in its smallest encoding.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "ranges checked"
        )]
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            self.buf.push(0xc0 | (u >> 8) as u8);
            self.buf.push((u & 0xff) as u8);
        } else if i16::try_from(v).is_ok() {
            self.buf.push(0xf1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xf2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if i32::try_from(v).is_ok() {
            self.buf.push(0xf3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xf4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.finish_entry(start);
    }

    fn finish_entry(&mut self, start: usize) {
        let (b, n) = backlen_bytes(self.buf.len() - start);
        self.buf.extend_from_slice(&b[..n]);
        self.count += 1;
    }

    /// The finished blob.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xff);
        let total = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_encoding() {
        let ints = [
            0i64,
            1,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::from(i32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ];
        let strs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a".to_vec(),
            vec![b'x'; 63],
            vec![b'x'; 64],
            vec![b'y'; 4095],
            vec![b'z'; 4096],
            vec![b'w'; 70_000],
            b"007".to_vec(),
            b"-0".to_vec(),
        ];
        let mut b = Builder::new();
        for v in ints {
            b.push_int(v);
        }
        for s in &strs {
            b.push(s);
        }
        let blob = b.finish();
        let items = decode(&blob).unwrap();
        assert_eq!(items.len(), ints.len() + strs.len());
        for (i, v) in ints.iter().enumerate() {
            assert_eq!(items[i], Item::Int(*v));
        }
        for (i, s) in strs.iter().enumerate() {
            assert_eq!(items[ints.len() + i], Item::Str(s));
        }
    }

    #[test]
    fn redis_listpack_bytes() {
        // The listpack Redis writes for `HSET h a 1`, laid out by hand.
        let blob = [0x0f, 0, 0, 0, 0x02, 0, 0x81, b'a', 0x02, 0x01, 0x01, 0xff];
        let mut fixed = blob.to_vec();
        fixed[0] = u8::try_from(fixed.len()).unwrap();
        let items = decode(&fixed).unwrap();
        assert_eq!(items, vec![Item::Str(b"a"), Item::Int(1)]);
    }

    #[test]
    fn damage_is_an_error() {
        let mut b = Builder::new();
        b.push(b"hello");
        b.push_int(123_456);
        let blob = b.finish();
        for cut in 0..blob.len() {
            assert!(decode(&blob[..cut]).is_err());
        }
        for i in 0..blob.len() {
            let mut d = blob.clone();
            d[i] ^= 0xff;
            let _ = decode(&d); // never panics
        }
        // A wrong back length (here the first entry's: header, 6 bytes, back length 6).
        let mut d = blob.clone();
        assert_eq!(d[6 + 6], 6);
        d[6 + 6] = 0xf7;
        assert!(decode(&d).is_err());
        // Back lengths of every size class are written as Redis writes them.
        for (l, want) in [
            (5, &[5u8][..]),
            (200, &[1, 0x80 | 72][..]),
            (20_000, &[1, 0x80 | 28, 0x80 | 32][..]),
        ] {
            let (b, n) = backlen_bytes(l);
            assert_eq!(&b[..n], want, "{l}");
        }
    }
}
