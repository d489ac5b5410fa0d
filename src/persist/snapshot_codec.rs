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
    encode_entry_spilling(out, db, key, e, expire_at, usize::MAX, &mut |_| {});
}

/// `encode_entry` for a value that may be large: between two elements, whenever `out`
/// holds at least `spill_at` bytes, `spill` is handed it to write out and empty, so a
/// value of any size is encoded through a buffer of about that size (a snapshot's file
/// thread encodes the large values the walk hands it this way). The bytes `spill` receives
/// are consecutive pieces of the one item.
pub fn encode_entry_spilling(
    out: &mut Vec<u8>,
    db: usize,
    key: &[u8],
    e: &Entry,
    expire_at: i64,
    spill_at: usize,
    spill: &mut dyn FnMut(&mut Vec<u8>),
) {
    let mut check = |out: &mut Vec<u8>| {
        if out.len() >= spill_at {
            spill(out);
        }
    };
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
                check(out);
            }
        }
        Value::List(l) => {
            varint(out, l.len() as u64);
            for v in l.iter() {
                bytes(out, v);
                check(out);
            }
        }
        Value::Set(s) => {
            varint(out, s.len() as u64);
            for m in s.iter() {
                match m {
                    crate::db::set::Member::Int(_) => bytes(out, &m.to_vec()),
                    crate::db::set::Member::Str(b) => bytes(out, b),
                }
                check(out);
            }
        }
        Value::ZSet(z) => {
            varint(out, z.len() as u64);
            z.for_each(|m, s| {
                bytes(out, m);
                out.extend_from_slice(&s.to_le_bytes());
                check(out);
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
    /// The last error came from running out of bytes (or from a length or count larger
    /// than what is left): with more of the stream to come, not an error yet.
    short: bool,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Cur<'a> {
        Cur {
            b,
            at: 0,
            short: false,
        }
    }

    fn short(&mut self, what: &'static str) -> DecodeError {
        self.short = true;
        self.err(what)
    }

    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError {
            pos: self.at as u64,
            what,
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        let Some(&v) = self.b.get(self.at) else {
            return Err(self.short("item truncated"));
        };
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
            return Err(self.short("count larger than the rest of the stream"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        if n > (self.b.len() - self.at) as u64 {
            return Err(self.short("length past the end of the stream"));
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
            return Err(self.short("item truncated"));
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
    let mut d = StreamDecoder::default();
    d.feed(stream, ks, lim, now_ms)?;
    d.finish(ks, lim, now_ms)
}

/// Decodes an item stream handed over in pieces (a snapshot's blocks as they are read), so
/// loading holds one block and the item being decoded rather than the whole stream. Items
/// may span pieces: an item cut short is retried once about twice as many bytes are
/// buffered (linear time even for one huge value). Reports exactly what `decode_into`
/// reports for the whole stream, at the same stream offsets.
#[derive(Default)]
pub struct StreamDecoder {
    /// Stream bytes not decoded yet (the start of an item).
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Do not try again before `buf` holds this many bytes.
    retry_at: usize,
    /// The end tag was decoded.
    ended: bool,
    out: Decoded,
}

impl StreamDecoder {
    /// Take the next piece of the stream and decode every item it completes.
    pub fn feed(
        &mut self,
        piece: &[u8],
        ks: &mut dyn KeySink,
        lim: &BuildLimits,
        now_ms: i64,
    ) -> Result<(), DecodeError> {
        if self.ended {
            if piece.is_empty() {
                return Ok(());
            }
            return Err(DecodeError {
                pos: self.base,
                what: "bytes after the end tag",
            });
        }
        self.buf.extend_from_slice(piece);
        if self.buf.len() < self.retry_at {
            return Ok(());
        }
        self.run(ks, lim, now_ms, false)
    }

    /// The stream is complete: decode what is left, which must end with the end tag (a
    /// last run either reaches it or fails: running out of bytes is then an error).
    pub fn finish(
        mut self,
        ks: &mut dyn KeySink,
        lim: &BuildLimits,
        now_ms: i64,
    ) -> Result<Decoded, DecodeError> {
        if !self.ended {
            self.run(ks, lim, now_ms, true)?;
        }
        Ok(self.out)
    }

    /// Decode the buffered items; with `last`, running out of bytes is an error.
    fn run(
        &mut self,
        ks: &mut dyn KeySink,
        lim: &BuildLimits,
        now_ms: i64,
        last: bool,
    ) -> Result<(), DecodeError> {
        let base = self.base;
        let at_base = |mut e: DecodeError| {
            e.pos += base;
            e
        };
        let mut c = Cur::new(&self.buf);
        while c.at < c.b.len() || last {
            let start = c.at;
            c.short = false;
            match decode_item(&mut c, ks, lim, now_ms, &mut self.out) {
                Ok(true) => {
                    if c.at != c.b.len() {
                        return Err(at_base(c.err("bytes after the end tag")));
                    }
                    self.ended = true;
                    break;
                }
                Ok(false) => {}
                Err(_) if c.short && !last => {
                    c.at = start;
                    break;
                }
                Err(e) => return Err(at_base(e)),
            }
        }
        let done = c.at;
        self.buf.drain(..done);
        self.base += done as u64;
        self.retry_at = self.buf.len().saturating_mul(2);
        Ok(())
    }
}

/// Where decoded keys go: a keyspace (loading), or a function handed each key in turn
/// (a replica's payload made from a snapshot: `snapshot::for_each_key`).
pub trait KeySink {
    /// How many databases there are.
    fn databases(&self) -> usize;
    /// Take key `key` of database `db` with expiry `at` (-1: none); false when the key is
    /// there already (the stream is corrupt).
    fn put(&mut self, db: usize, key: &[u8], e: Entry, at: i64) -> bool;
}

impl KeySink for Keyspace {
    fn databases(&self) -> usize {
        self.dbs.len()
    }

    fn put(&mut self, db: usize, key: &[u8], e: Entry, at: i64) -> bool {
        if self.dbs[db].get(key).is_some() {
            return false;
        }
        self.dbs[db].insert_expiring(key, e, at);
        true
    }
}

/// Decode one item at `c` into `ks` / `out`; true for the end tag. Nothing is inserted
/// unless the whole item decoded.
fn decode_item(
    c: &mut Cur<'_>,
    ks: &mut dyn KeySink,
    lim: &BuildLimits,
    now_ms: i64,
    out: &mut Decoded,
) -> Result<bool, DecodeError> {
    let start = c.at;
    let tag = c.u8()?;
    match tag {
        TAG_END => return Ok(true),
        TAG_LIBRARY => {
            let name = c.bytes()?.to_vec();
            let code = c.bytes()?.to_vec();
            out.libraries.push((name, code));
        }
        TAG_STRING..=TAG_STREAM => {
            let db = c.varint()?;
            let db = usize::try_from(db)
                .ok()
                .filter(|&d| d < ks.databases())
                .ok_or_else(|| c.err("database index out of range"))?;
            let key = c.bytes()?;
            let exp = c.varint()?;
            let flags = c.u8()?;
            if flags & !(FLAG_RAW | FLAG_NOT_INT) != 0 {
                return Err(c.err("unknown entry flags"));
            }
            let value = decode_value(c, tag, lim)?;
            let mut e = Entry::new(value, now_ms);
            let at = if exp == 0 {
                -1
            } else {
                i64::try_from(exp - 1).map_err(|_| c.err("expiry out of range"))?
            };
            e.raw = flags & FLAG_RAW != 0;
            e.not_int = flags & FLAG_NOT_INT != 0;
            if !ks.put(db, key, e, at) {
                c.at = start;
                return Err(c.err("key appears twice"));
            }
            out.keys += 1;
        }
        _ => {
            c.at = start;
            return Err(c.err("unknown item tag"));
        }
    }
    Ok(false)
}

fn decode_value(c: &mut Cur<'_>, tag: u8, lim: &BuildLimits) -> Result<Value, DecodeError> {
    Ok(match tag {
        TAG_STRING => Value::Str(c.bytes()?.into()),
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
        TAG_STREAM => Value::Stream(crate::db::shared::Shared::new(decode_stream(c)?)),
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
            let mut c = Cur::new(&out);
            assert_eq!(c.varint().unwrap(), v);
            assert_eq!(c.at, out.len());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -12345] {
            let mut out = Vec::new();
            zigzag(&mut out, v);
            let mut c = Cur::new(&out);
            assert_eq!(c.zigzag().unwrap(), v);
        }
    }

    /// Feeding a stream in pieces of any size decodes exactly what one whole feed does, and
    /// a damaged stream fails with the same error at the same offset.
    #[test]
    fn pieces_decode_as_the_whole_stream() {
        let mut out = Vec::new();
        encode_library(&mut out, b"lib", b"code");
        for i in 0..200u32 {
            let len = [0usize, 1, 30, 700, 5000][i as usize % 5];
            let v: Vec<u8> = (0..len).map(|j| (j as u32 * 31 + i) as u8).collect();
            let e = Entry::new(Value::Str(v.into()), 0);
            let at = if i % 4 == 0 { 1_800_000_000_000 } else { -1 };
            encode_entry(
                &mut out,
                (i % 3) as usize,
                format!("key{i}").as_bytes(),
                &e,
                at,
            );
        }
        // One value far larger than any piece: decoded after many retries.
        let big = Entry::new(Value::Str(vec![7u8; 100_000].into()), 0);
        encode_entry(&mut out, 0, b"big", &big, -1);
        out.push(TAG_END);
        let whole = |b: &[u8]| {
            let mut ks = Keyspace::new(16);
            decode_into(b, &mut ks, &limits(), 0).map(|d| (d.keys, d.libraries, dump(&ks)))
        };
        let pieces = |b: &[u8], n: usize| {
            let mut ks = Keyspace::new(16);
            let mut d = StreamDecoder::default();
            for p in b.chunks(n) {
                d.feed(p, &mut ks, &limits(), 0)?;
            }
            d.finish(&mut ks, &limits(), 0)
                .map(|d| (d.keys, d.libraries, dump(&ks)))
        };
        let want = whole(&out).unwrap();
        assert_eq!(want.0, 201);
        for n in [1, 2, 7, 97, 4096, 65536, out.len()] {
            assert_eq!(pieces(&out, n).unwrap(), want, "pieces of {n}");
        }
        let mut at = 0;
        while at < out.len() {
            let mut bad = out.clone();
            bad[at] ^= 0x5a;
            for n in [3, 1000] {
                let (a, b) = (whole(&bad), pieces(&bad, n));
                match (&a, &b) {
                    (Ok(x), Ok(y)) => assert_eq!(x, y, "flip at {at}, pieces of {n}"),
                    (Err(x), Err(y)) => {
                        assert_eq!((x.pos, x.what), (y.pos, y.what), "flip at {at}")
                    }
                    _ => panic!("flip at {at}, pieces of {n}: {a:?} vs {b:?}"),
                }
            }
            at += if at < 2000 { 29 } else { 7919 };
        }
        for cut in [0, 1, 5, out.len() / 2, out.len() - 1] {
            let (a, b) = (
                whole(&out[..cut]).unwrap_err(),
                pieces(&out[..cut], 50).unwrap_err(),
            );
            assert_eq!((a.pos, a.what), (b.pos, b.what), "cut at {cut}");
        }
        let mut more = out.clone();
        more.push(0);
        let e = pieces(&more, out.len()).unwrap_err();
        assert_eq!(
            (e.pos, e.what),
            (out.len() as u64, "bytes after the end tag")
        );
    }

    /// Every key of every database with its value and expiry, for comparing keyspaces.
    fn dump(ks: &Keyspace) -> Vec<(usize, Vec<u8>, String, i64)> {
        let mut v = Vec::new();
        for (i, d) in ks.dbs.iter().enumerate() {
            for (k, e) in d.dict.iter() {
                v.push((i, k.to_vec(), format!("{:?}", e.value), d.expire_of(k, e)));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn truncated_streams_are_errors_not_panics() {
        let mut ks = Keyspace::new(16);
        let mut e = Entry::new(Value::Str(b"hello".to_vec().into()), 0);
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
