//! Ziplists (RDB version < 10: LIST_ZIPLIST, ZSET_ZIPLIST, HASH_ZIPLIST and the nodes of
//! LIST_QUICKLIST) and zipmaps (HASH_ZIPMAP, RDB version < 4), decode only. A ziplist is a
//! 10-byte header (total bytes u32 LE, tail offset u32 LE, count u16 LE), entries of
//! (previous length: 1 byte, or 0xFE + u32 LE; encoding; data), and the end byte 0xFF.
//! Every bound is checked, and the previous-length fields and tail offset as Redis's
//! integrity check does.

use super::listpack::Item;
use super::RdbError;

fn bad(what: &str) -> RdbError {
    RdbError::Bad(format!("ziplist: {what}"))
}

/// Decode every element of a ziplist blob.
pub fn decode(blob: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    if blob.len() < 11 {
        return Err(bad("shorter than its header"));
    }
    let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if total != blob.len() {
        return Err(bad("total bytes do not match the blob"));
    }
    let count = u16::from_le_bytes([blob[8], blob[9]]);
    let at = |i: usize| blob.get(i).copied().ok_or_else(|| bad("truncated entry"));
    let le = |i: usize, n: usize| -> Result<u64, RdbError> {
        let mut v = 0u64;
        for k in 0..n {
            v |= u64::from(at(i + k)?) << (8 * k);
        }
        Ok(v)
    };
    let mut items = Vec::new();
    let mut p = 10;
    // As Redis's ziplistValidateIntegrity: each entry's previous-length field is the
    // previous entry's size (0 for the first), and the tail offset is the last entry's.
    let (mut prev_size, mut last) = (0usize, 10usize);
    loop {
        let b = at(p)?;
        if b == 0xff {
            if p + 1 != blob.len() {
                return Err(bad("bytes after the end byte"));
            }
            break;
        }
        let start = p;
        let prevlen = if b < 0xfe {
            usize::from(b)
        } else {
            usize::try_from(le(p + 1, 4)?).map_err(|_| bad("length"))?
        };
        if prevlen != prev_size {
            return Err(bad("previous entry length does not match"));
        }
        p += if b < 0xfe { 1 } else { 5 };
        let e = at(p)?;
        let (item, size) = match e >> 6 {
            0 => {
                let len = usize::from(e & 0x3f);
                (str_at(blob, p + 1, len)?, 1 + len)
            }
            1 => {
                let len = (usize::from(e & 0x3f) << 8) | usize::from(at(p + 1)?);
                (str_at(blob, p + 2, len)?, 2 + len)
            }
            2 => {
                let b = blob
                    .get(p + 1..p + 5)
                    .ok_or_else(|| bad("truncated entry"))?;
                let len = usize::try_from(super::be(b)).map_err(|_| bad("length"))?;
                (str_at(blob, p + 5, len)?, 5 + len)
            }
            _ =>
            {
                #[expect(clippy::cast_possible_wrap, reason = "two's complement")]
                match e {
                    0xc0 => (Item::Int(i64::from(le(p + 1, 2)? as u16 as i16)), 3),
                    0xd0 => (Item::Int(i64::from(le(p + 1, 4)? as u32 as i32)), 5),
                    0xe0 => (Item::Int(le(p + 1, 8)? as i64), 9),
                    0xf0 => (Item::Int(((le(p + 1, 3)? << 40) as i64) >> 40), 4),
                    0xfe => (Item::Int(i64::from(at(p + 1)? as i8)), 2),
                    0xf1..=0xfd => (Item::Int(i64::from(e & 0x0f) - 1), 1),
                    _ => return Err(bad("unknown entry encoding")),
                }
            }
        };
        p += size;
        items.push(item);
        prev_size = p - start;
        last = start;
    }
    let tail = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if tail != last {
        return Err(bad("tail offset is not the last entry's"));
    }
    if count != u16::MAX && usize::from(count) != items.len() {
        return Err(bad("element count does not match"));
    }
    Ok(items)
}

fn str_at(blob: &[u8], p: usize, len: usize) -> Result<Item<'_>, RdbError> {
    blob.get(p..p.checked_add(len).ok_or_else(|| bad("length"))?)
        .map(Item::Str)
        .ok_or_else(|| bad("string past the end"))
}

/// (field, value) pairs borrowed from a blob.
pub type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Decode a zipmap (field, value) sequence.
pub fn decode_zipmap(blob: &[u8]) -> Result<Pairs<'_>, RdbError> {
    let bad = |w: &str| RdbError::Bad(format!("zipmap: {w}"));
    let mut p = 1; // skip zmlen
    let mut out = Vec::new();
    let len_at = |p: &mut usize| -> Result<Option<usize>, RdbError> {
        let b = *blob.get(*p).ok_or_else(|| bad("truncated"))?;
        match b {
            0xff => Ok(None),
            254 => {
                let s = blob.get(*p + 1..*p + 5).ok_or_else(|| bad("truncated"))?;
                *p += 5;
                Ok(Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize))
            }
            253 => Err(bad("bad length")),
            n => {
                *p += 1;
                Ok(Some(usize::from(n)))
            }
        }
    };
    while let Some(flen) = len_at(&mut p)? {
        let f = blob.get(p..p + flen).ok_or_else(|| bad("truncated"))?;
        p += flen;
        let vlen = len_at(&mut p)?.ok_or_else(|| bad("field without value"))?;
        let free = usize::from(*blob.get(p).ok_or_else(|| bad("truncated"))?);
        p += 1;
        let v = blob.get(p..p + vlen).ok_or_else(|| bad("truncated"))?;
        p += vlen + free;
        out.push((f, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ziplist(entries: &[&[u8]]) -> Vec<u8> {
        // Hand-built: every entry as Redis writes it for these values.
        let mut b = vec![0u8; 10];
        let mut prev = 0usize;
        let mut tail = 10u32;
        for e in entries {
            tail = u32::try_from(b.len()).unwrap();
            b.push(u8::try_from(prev).unwrap());
            b.extend_from_slice(e);
            prev = 1 + e.len();
        }
        b.push(0xff);
        let total = u32::try_from(b.len()).unwrap();
        b[0..4].copy_from_slice(&total.to_le_bytes());
        b[4..8].copy_from_slice(&tail.to_le_bytes());
        b[8..10].copy_from_slice(&u16::try_from(entries.len()).unwrap().to_le_bytes());
        b
    }

    /// Redis's integrity check refuses a ziplist whose previous-length field or tail
    /// offset is wrong; so does this decoder (RESTORE answers "Bad data format").
    #[test]
    fn prevlen_and_tail_are_checked() {
        let good = ziplist(&[&[0x01, b'a'], &[0x02, b'b', b'c'], &[0xf2]]);
        assert_eq!(decode(&good).unwrap().len(), 3);
        let mut wrong_prev = good.clone();
        wrong_prev[13] = 4; // the second entry's previous length (is 3)
        assert!(decode(&wrong_prev).is_err());
        let mut first_prev = good.clone();
        first_prev[10] = 1; // the first entry's must be 0
        assert!(decode(&first_prev).is_err());
        let mut wrong_tail = good.clone();
        wrong_tail[4] = 13; // the second entry, not the last
        assert!(decode(&wrong_tail).is_err());
        // An empty ziplist's tail is its header's end.
        assert!(decode(&ziplist(&[])).unwrap().is_empty());
    }

    #[test]
    fn every_encoding() {
        let z = ziplist(&[
            &[0x03, b'a', b'b', b'c'],
            &[0xf1],       // 0
            &[0xfd],       // 12
            &[0xfe, 0x80], // -128
            &[0xc0, 0x00, 0x80],
            &[0xd0, 0xff, 0xff, 0xff, 0x7f],
            &[0xf0, 0xff, 0xff, 0xff],
            &[0xe0, 0, 0, 0, 0, 0, 0, 0, 0x80],
        ]);
        let items = decode(&z).unwrap();
        assert_eq!(
            items,
            vec![
                Item::Str(b"abc"),
                Item::Int(0),
                Item::Int(12),
                Item::Int(-128),
                Item::Int(-32768),
                Item::Int(i64::from(i32::MAX)),
                Item::Int(-1),
                Item::Int(i64::MIN),
            ]
        );
        for cut in 0..z.len() {
            assert!(decode(&z[..cut]).is_err());
        }
    }

    #[test]
    fn zipmap() {
        let z = [
            2, 1, b'a', 2, 0, b'x', b'y', 1, b'b', 1, 1, b'z', b'_', 0xff,
        ];
        assert_eq!(
            decode_zipmap(&z).unwrap(),
            vec![(&b"a"[..], &b"xy"[..]), (&b"b"[..], &b"z"[..])]
        );
        assert!(decode_zipmap(&z[..5]).is_err());
    }
}
