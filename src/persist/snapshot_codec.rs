//! The items of a snapshot's stream (format/snapshot.md §Items): one key with its TTL, flags
//! and value per item, with a stable type tag per data type, plus function libraries and
//! the end tag. Encodes from `db::Entry` and decodes into a `db::Keyspace`, rebuilding each
//! value through its type's own API so encodings follow the configured thresholds exactly
//! as a freshly written value's would.

use crate::db::list::End;
use crate::db::stream::{CGroup, Consumer, Nack, Stream, StreamId};
use crate::db::{hash, zset, Entry, Keyspace, Value};

/// Item tags (stable: never renumbered).
pub const TAG_STRING: u8 = 1;
/// A hash.
pub const TAG_HASH: u8 = 2;
/// A list.
pub const TAG_LIST: u8 = 3;
/// A set.
pub const TAG_SET: u8 = 4;
/// A sorted set.
pub const TAG_ZSET: u8 = 5;
/// A stream.
pub const TAG_STREAM: u8 = 6;
/// A function library (name, code).
pub const TAG_LIBRARY: u8 = 0x10;
/// End of the item stream.
pub const TAG_END: u8 = 0xFF;

const FLAG_RAW: u8 = 1;
const FLAG_NOT_INT: u8 = 2;

/// The thresholds values are rebuilt with (the server's current configuration).
#[derive(Debug, Clone, Copy)]
pub struct BuildLimits {
    /// hash-max-listpack-entries / -value.
    pub hash: hash::Limits,
    /// zset-max-listpack-entries / -value.
    pub zset: zset::Limits,
    /// set-max-intset-entries.
    pub set_max_intset: u64,
    /// list-max-listpack-size.
    pub list_fill: i64,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(out: &mut Vec<u8>, v: i64) {
    varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn id(out: &mut Vec<u8>, i: StreamId) {
    varint(out, i.ms);
    varint(out, i.seq);
}

/// Append one key's item.
/// `expire_at` is the key's absolute expiry in Unix ms, -1 for none.
pub fn encode_entry(out: &mut Vec<u8>, db: usize, key: &[u8], e: &Entry, expire_at: i64) {
    let tag = match &e.value {
        Value::Str(_) => TAG_STRING,
        Value::Hash(_) => TAG_HASH,
        Value::List(_) => TAG_LIST,
        Value::Set(_) => TAG_SET,
        Value::ZSet(_) => TAG_ZSET,
        Value::Stream(_) => TAG_STREAM,
    };
    out.push(tag);
    varint(out, db as u64);
    bytes(out, key);
    varint(
        out,
        if expire_at < 0 {
            0
        } else {
            expire_at as u64 + 1
        },
    );
    let mut flags = 0;
    if e.raw {
        flags |= FLAG_RAW;
    }
    if e.not_int {
        flags |= FLAG_NOT_INT;
    }
    out.push(flags);
    match &e.value {
        Value::Str(s) => bytes(out, s),
        Value::Hash(h) => {
            varint(out, h.len() as u64);
            for (f, v) in h.iter() {
                bytes(out, f);
                bytes(out, v);
            }
        }
        Value::List(l) => {
            varint(out, l.len() as u64);
            for v in l.iter() {
                bytes(out, v);
            }
        }
        Value::Set(s) => {
            varint(out, s.len() as u64);
            for m in s.iter() {
                bytes(out, &m.to_vec());
            }
        }
        Value::ZSet(z) => {
            varint(out, z.len() as u64);
            z.for_each(|m, s| {
                bytes(out, m);
                out.extend_from_slice(&s.to_le_bytes());
            });
        }
        Value::Stream(s) => encode_stream(out, s),
    }
}

fn encode_stream(out: &mut Vec<u8>, s: &Stream) {
    id(out, s.last_id);
    id(out, s.first_id);
    id(out, s.max_deleted_id);
    varint(out, s.entries_added);
    varint(out, s.len() as u64);
    for (i, fields) in s.range(StreamId::new(0, 0), StreamId::new(u64::MAX, u64::MAX)) {
        id(out, *i);
        varint(out, fields.len() as u64);
        for f in fields.iter() {
            bytes(out, f);
        }
    }
    varint(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        bytes(out, name);
        id(out, g.last_id);
        zigzag(out, g.entries_read);
        varint(out, g.pel.len() as u64);
        for (i, n) in &g.pel {
            id(out, *i);
            zigzag(out, n.delivery_time);
            varint(out, n.delivery_count);
            bytes(out, &n.consumer);
        }
        varint(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            bytes(out, cname);
            zigzag(out, c.seen_time);
            varint(out, c.pel.len() as u64);
            for i in &c.pel {
                id(out, *i);
            }
        }
    }
}

/// Append a function library item.
pub fn encode_library(out: &mut Vec<u8>, name: &[u8], code: &[u8]) {
    out.push(TAG_LIBRARY);
    bytes(out, name);
    bytes(out, code);
}

/// A decoding failure at a position of the item stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset in the item stream.
    pub pos: u64,
    /// What is wrong.
    pub what: &'static str,
}

struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError {
            pos: self.at as u64,
            what,
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        let v = *self
            .b
            .get(self.at)
            .ok_or_else(|| self.err("item truncated"))?;
        self.at += 1;
        Ok(v)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    return Err(self.err("varint overflows 64 bits"));
                }
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A count of elements each at least `min_size` bytes: bounded by what is left.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        let left = (self.b.len() - self.at) as u64;
        if n.saturating_mul(min_size.max(1) as u64) > left {
            return Err(self.err("count larger than the rest of the stream"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        if n > (self.b.len() - self.at) as u64 {
            return Err(self.err("length past the end of the stream"));
        }
        let s = &self.b[self.at..self.at + n as usize];
        self.at += n as usize;
        Ok(s)
    }

    fn id(&mut self) -> Result<StreamId, DecodeError> {
        Ok(StreamId::new(self.varint()?, self.varint()?))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        if self.b.len() - self.at < 8 {
            return Err(self.err("item truncated"));
        }
        let v = f64::from_le_bytes(self.b[self.at..self.at + 8].try_into().expect("8 bytes"));
        self.at += 8;
        Ok(v)
    }
}

/// What an item stream held besides keys.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Keys loaded.
    pub keys: u64,
    /// Function libraries, in stream order: (name, code).
    pub libraries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Decode a whole item stream into `ks` (which should be empty). Every key must be new and
/// every database index in range; the stream must end with the end tag and nothing after.
pub fn decode_into(
    stream: &[u8],
    ks: &mut Keyspace,
    lim: &BuildLimits,
    now_ms: i64,
) -> Result<Decoded, DecodeError> {
    let mut c = Cur { b: stream, at: 0 };
    let mut out = Decoded::default();
    loop {
        let start = c.at;
        let tag = c.u8()?;
        match tag {
            TAG_END => {
                if c.at != stream.len() {
                    return Err(c.err("bytes after the end tag"));
                }
                return Ok(out);
            }
            TAG_LIBRARY => {
                let name = c.bytes()?.to_vec();
                let code = c.bytes()?.to_vec();
                out.libraries.push((name, code));
            }
            TAG_STRING..=TAG_STREAM => {
                let db = c.varint()?;
                let db = usize::try_from(db)
                    .ok()
                    .filter(|&d| d < ks.dbs.len())
                    .ok_or_else(|| c.err("database index out of range"))?;
                let key = c.bytes()?;
                let exp = c.varint()?;
                let flags = c.u8()?;
                if flags & !(FLAG_RAW | FLAG_NOT_INT) != 0 {
                    return Err(c.err("unknown entry flags"));
                }
                let value = decode_value(&mut c, tag, lim)?;
                let mut e = Entry::new(value, now_ms);
                let at = if exp == 0 {
                    -1
                } else {
                    i64::try_from(exp - 1).map_err(|_| c.err("expiry out of range"))?
                };
                e.raw = flags & FLAG_RAW != 0;
                e.not_int = flags & FLAG_NOT_INT != 0;
                if ks.dbs[db].get(key).is_some() {
                    c.at = start;
                    return Err(c.err("key appears twice"));
                }
                ks.dbs[db].insert_expiring(key, e, at);
                out.keys += 1;
            }
            _ => {
                c.at = start;
                return Err(c.err("unknown item tag"));
            }
        }
    }
}

fn decode_value(c: &mut Cur<'_>, tag: u8, lim: &BuildLimits) -> Result<Value, DecodeError> {
    Ok(match tag {
        TAG_STRING => Value::Str(c.bytes()?.to_vec()),
        TAG_HASH => {
            let n = c.count(2)?;
            let mut h = hash::Hash::new();
            for _ in 0..n {
                let f = c.bytes()?;
                let v = c.bytes()?;
                if !h.set(f, v, lim.hash) {
                    return Err(c.err("hash field appears twice"));
                }
            }
            nonempty(c, n)?;
            Value::Hash(h)
        }
        TAG_LIST => {
            let n = c.count(1)?;
            let mut l = crate::db::list::List::new();
            for _ in 0..n {
                l.push(End::Right, c.bytes()?, lim.list_fill);
            }
            nonempty(c, n)?;
            Value::List(Box::new(l))
        }
        TAG_SET => {
            let n = c.count(1)?;
            let mut s: Option<crate::db::set::Set> = None;
            for _ in 0..n {
                let m = c.bytes()?;
                let set = s.get_or_insert_with(|| crate::db::set::Set::for_first(m));
                if !set.insert(m, lim.set_max_intset) {
                    return Err(c.err("set member appears twice"));
                }
            }
            Value::Set(Box::new(s.ok_or_else(|| c.err("empty collection"))?))
        }
        TAG_ZSET => {
            let n = c.count(9)?;
            let mut members = Vec::with_capacity(n);
            let mut longest = 0;
            for _ in 0..n {
                let m = c.bytes()?;
                let s = c.f64()?;
                if s.is_nan() {
                    return Err(c.err("NaN score"));
                }
                longest = longest.max(m.len());
                members.push((m, s));
            }
            nonempty(c, n)?;
            let mut z = zset::ZSet::with_hint(n, longest, lim.zset);
            for (m, s) in members {
                if z.score(m).is_some() {
                    return Err(c.err("sorted set member appears twice"));
                }
                z.insert_new(m, s, lim.zset);
            }
            Value::ZSet(Box::new(z))
        }
        TAG_STREAM => Value::Stream(Box::new(decode_stream(c)?)),
        _ => return Err(c.err("unknown item tag")),
    })
}

fn nonempty(c: &Cur<'_>, n: usize) -> Result<(), DecodeError> {
    if n == 0 {
        Err(c.err("empty collection"))
    } else {
        Ok(())
    }
}

fn decode_stream(c: &mut Cur<'_>) -> Result<Stream, DecodeError> {
    let last_id = c.id()?;
    let first_id = c.id()?;
    let max_deleted_id = c.id()?;
    let entries_added = c.varint()?;
    let n = c.count(3)?;
    let mut s = Stream::new();
    let mut prev: Option<StreamId> = None;
    for _ in 0..n {
        let i = c.id()?;
        if prev.is_some_and(|p| p >= i) || i > last_id {
            return Err(c.err("stream IDs out of order"));
        }
        prev = Some(i);
        let nf = c.count(1)?;
        if nf == 0 || nf % 2 != 0 {
            return Err(c.err("stream entry needs field-value pairs"));
        }
        let mut fields = Vec::with_capacity(nf);
        for _ in 0..nf {
            fields.push(Box::<[u8]>::from(c.bytes()?));
        }
        s.append(i, fields.into_boxed_slice());
    }
    s.last_id = last_id;
    s.first_id = first_id;
    s.max_deleted_id = max_deleted_id;
    s.entries_added = entries_added;
    let ng = c.count(5)?;
    for _ in 0..ng {
        let name: Box<[u8]> = c.bytes()?.into();
        let mut g = CGroup::new(c.id()?, c.zigzag()?);
        let np = c.count(4)?;
        for _ in 0..np {
            let i = c.id()?;
            let delivery_time = c.zigzag()?;
            let delivery_count = c.varint()?;
            let consumer: Box<[u8]> = c.bytes()?.into();
            g.pel.insert(
                i,
                Nack {
                    consumer,
                    delivery_time,
                    delivery_count,
                },
            );
        }
        let nc = c.count(2)?;
        for _ in 0..nc {
            let cname: Box<[u8]> = c.bytes()?.into();
            let seen_time = c.zigzag()?;
            let mut cons = Consumer {
                seen_time,
                pel: std::collections::BTreeSet::new(),
            };
            let n = c.count(2)?;
            for _ in 0..n {
                let i = c.id()?;
                match g.pel.get(&i) {
                    Some(nack) if nack.consumer == cname => {}
                    _ => return Err(c.err("consumer PEL entry not in the group PEL")),
                }
                cons.pel.insert(i);
            }
            g.consumers.insert(cname, cons);
        }
        if g.pel
            .values()
            .any(|n| !g.consumers.contains_key(&n.consumer))
        {
            return Err(c.err("group PEL names an unknown consumer"));
        }
        if s.groups.insert(name, g).is_some() {
            return Err(c.err("consumer group appears twice"));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> BuildLimits {
        BuildLimits {
            hash: hash::Limits {
                max_entries: 128,
                max_value: 64,
            },
            zset: zset::Limits {
                entries: 128,
                value: 64,
            },
            set_max_intset: 512,
            list_fill: -2,
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX / 3, u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, v);
            let mut c = Cur { b: &out, at: 0 };
            assert_eq!(c.varint().unwrap(), v);
            assert_eq!(c.at, out.len());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -12345] {
            let mut out = Vec::new();
            zigzag(&mut out, v);
            let mut c = Cur { b: &out, at: 0 };
            assert_eq!(c.zigzag().unwrap(), v);
        }
    }

    #[test]
    fn truncated_streams_are_errors_not_panics() {
        let mut ks = Keyspace::new(16);
        let mut e = Entry::new(Value::Str(b"hello".to_vec()), 0);
        e.ttl = true;
        let mut out = Vec::new();
        encode_entry(&mut out, 3, b"k", &e, 1234);
        encode_library(&mut out, b"lib", b"code");
        out.push(TAG_END);
        let d = decode_into(&out, &mut ks, &limits(), 0).unwrap();
        assert_eq!(d.keys, 1);
        assert_eq!(d.libraries, vec![(b"lib".to_vec(), b"code".to_vec())]);
        assert_eq!(ks.dbs[3].get(b"k").unwrap(), &e);
        assert_eq!(ks.dbs[3].expire_at(b"k"), 1234);
        for cut in 0..out.len() {
            let mut ks = Keyspace::new(16);
            assert!(
                decode_into(&out[..cut], &mut ks, &limits(), 0).is_err(),
                "cut {cut}"
            );
        }
        for i in 0..out.len() {
            for bit in 0..8 {
                let mut b = out.clone();
                b[i] ^= 1 << bit;
                let mut ks = Keyspace::new(16);
                let _ = decode_into(&b, &mut ks, &limits(), 0);
            }
        }
    }
}
