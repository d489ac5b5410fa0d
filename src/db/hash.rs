//! The hash type: a Redis hash (field → value) in one of Redis 7.0's two encodings.
//! `listpack`: every field and value packed into one byte buffer (a length varint, then
//! the bytes), pairs in insertion order — linear lookups, as Redis's listpack, and a few
//! bytes per element. `hashtable`: a [`Dict`] of field → value with SCAN's resize-safe
//! cursor. A hash starts as a listpack and converts for good (never back, as Redis) once it
//! holds more than `hash-max-listpack-entries` fields or is given a field or value longer
//! than `hash-max-listpack-value` bytes. Pure: no RESP, no I/O; random choices come from
//! the caller's random numbers. The command layer (cmd/hash.rs) depends only on this API.
//!
//! Memory: a `Hash` is 16 bytes and lives unboxed in `Value` (which stays 24 bytes), so a
//! small hash costs its keyspace node plus one exact-size buffer, as Redis's robj +
//! listpack; the hashtable encoding is boxed (one extra allocation per big hash).

use std::collections::HashSet;
use std::fmt;

use super::shared::Shared;
use super::Dict;

/// The conversion thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most fields a listpack holds.
    pub max_entries: u64,
    /// Longest field or value a listpack holds, in bytes.
    pub max_value: u64,
}

/// A Redis hash (field → value).
pub struct Hash {
    repr: Repr,
}

enum Repr {
    /// `listpack`: see [`Pack`].
    Pack(Pack),
    /// `hashtable` (behind a pointer so a `Hash` stays two words), shared with a running
    /// snapshot's copy of the hash until one of them changes.
    Table(Shared<Dict<Box<[u8]>>>),
}

/// Fields and values packed in insertion order in one exact-size buffer: empty (no
/// allocation) when the hash is, otherwise a 2-byte little-endian pair count (saturated
/// at `u16::MAX`: then counted by walking, as Redis's listpack header) followed by the
/// pairs. A pair is a header, the field's bytes, the value's bytes. The header is one byte
/// `field_len << 4 | value_len` when the field is at most 14 bytes and the value at most
/// 15 (most small hashes: one byte of overhead per pair, where Redis's listpack spends
/// four), else `0xF0` followed by both lengths as LEB128.
#[derive(Clone, Default)]
struct Pack(Box<[u8]>);

/// Bytes of a non-empty [`Pack`]'s pair-count header.
const HDR: usize = 2;

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        #[expect(clippy::cast_possible_truncation, reason = "7 bits at a time")]
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut l = 1;
    while n >= 0x80 {
        n >>= 7;
        l += 1;
    }
    l
}

/// Read the LEB128 number at `pos`: (the number, the position after it).
fn varint_at(buf: &[u8], pos: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = pos;
    loop {
        let b = buf[i];
        i += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (n, i);
        }
        shift += 7;
    }
}

/// Longest field a one-byte pair header holds (high nibble 15 marks the long form).
const SHORT_FIELD: usize = 14;
/// Longest value a one-byte pair header holds.
const SHORT_VALUE: usize = 15;
/// The first byte of a long-form pair header.
const LONG: u8 = 0xF0;

/// Encoded length of a pair with a field of `f` bytes and a value of `v` bytes.
fn pair_len(f: usize, v: usize) -> usize {
    let head = if f <= SHORT_FIELD && v <= SHORT_VALUE {
        1
    } else {
        1 + varint_len(f) + varint_len(v)
    };
    head + f + v
}

/// Append the encoded pair.
fn put_pair(out: &mut Vec<u8>, field: &[u8], value: &[u8]) {
    let (f, v) = (field.len(), value.len());
    if f <= SHORT_FIELD && v <= SHORT_VALUE {
        #[expect(clippy::cast_possible_truncation, reason = "f <= 14, v <= 15")]
        out.push(((f << 4) | v) as u8);
    } else {
        out.push(LONG);
        put_varint(out, f);
        put_varint(out, v);
    }
    out.extend_from_slice(field);
    out.extend_from_slice(value);
}

/// Where a pair sits in the buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Slot {
    /// Start of the pair (its header).
    start: usize,
    /// Start of the field's bytes.
    field: usize,
    /// Start of the value's bytes (= end of the field's).
    value: usize,
    /// End of the value's bytes (= start of the next pair).
    end: usize,
}

/// The pair starting at `pos`.
fn pair_at(buf: &[u8], pos: usize) -> Slot {
    let h = buf[pos];
    let (f, v, field) = if h < LONG {
        (usize::from(h >> 4), usize::from(h & 0xf), pos + 1)
    } else {
        let (f, i) = varint_at(buf, pos + 1);
        let (v, i) = varint_at(buf, i);
        (f, v, i)
    };
    Slot {
        start: pos,
        field,
        value: field + f,
        end: field + f + v,
    }
}

impl Pack {
    /// The pairs, after the header.
    fn body(&self) -> &[u8] {
        self.0.get(HDR..).unwrap_or(&[])
    }

    /// Number of pairs.
    fn pairs(&self) -> usize {
        match self.0.get(..HDR) {
            None => 0,
            Some(h) => match u16::from_le_bytes([h[0], h[1]]) {
                u16::MAX => self.iter().count(),
                n => usize::from(n),
            },
        }
    }

    /// `buf` (header included) with its pair count set to `n`, as the new buffer.
    fn store(&mut self, mut buf: Vec<u8>, n: usize) {
        if n == 0 {
            self.0 = Box::default();
            return;
        }
        let h = u16::try_from(n).unwrap_or(u16::MAX).to_le_bytes();
        buf[..HDR].copy_from_slice(&h);
        self.0 = buf.into_boxed_slice();
    }

    fn iter(&self) -> PackIter<'_> {
        PackIter {
            buf: self.body(),
            pos: 0,
        }
    }

    /// The pair holding `field`, positions relative to [`Pack::body`].
    fn find(&self, field: &[u8]) -> Option<Slot> {
        let buf = self.body();
        let mut pos = 0;
        while pos < buf.len() {
            let s = pair_at(buf, pos);
            if &buf[s.field..s.value] == field {
                return Some(s);
            }
            pos = s.end;
        }
        None
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let s = self.find(field)?;
        Some(&self.body()[s.value..s.end])
    }

    /// Insert or replace; true if the field is new. The buffer is reallocated to its
    /// exact new size (no spare capacity is kept, as Redis's listpack).
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let len = pair_len(field.len(), value.len());
        let mut enc = Vec::with_capacity(len);
        put_pair(&mut enc, field, value);
        if let Some(s) = self.find(field) {
            let (at, end) = (HDR + s.start, HDR + s.end);
            if end - at == len {
                // Same encoded length: overwrite in place, no reallocation.
                self.0[at..end].copy_from_slice(&enc);
            } else {
                let n = self.pairs();
                let mut buf = std::mem::take(&mut self.0).into_vec();
                buf.splice(at..end, enc);
                self.store(buf, n);
            }
            return false;
        }
        let n = self.pairs();
        let mut buf = std::mem::take(&mut self.0).into_vec();
        if buf.is_empty() {
            buf.reserve_exact(HDR + len);
            buf.extend_from_slice(&[0; HDR]);
        } else {
            buf.reserve_exact(len);
        }
        buf.extend_from_slice(&enc);
        self.store(buf, n + 1);
        true
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some(s) = self.find(field) else {
            return false;
        };
        let n = self.pairs();
        let mut buf = std::mem::take(&mut self.0).into_vec();
        buf.drain(HDR + s.start..HDR + s.end);
        self.store(buf, n - 1);
        true
    }
}

/// Pairs of a [`Pack`] in order.
struct PackIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let s = pair_at(self.buf, self.pos);
        self.pos = s.end;
        Some((&self.buf[s.field..s.value], &self.buf[s.value..s.end]))
    }
}

/// Every (field, value) pair of a hash, in its encoding's order (insertion order for a
/// listpack).
pub struct Iter<'a>(IterRepr<'a>);

/// A hashtable's pairs.
type TableIter<'a> = Box<dyn Iterator<Item = (&'a [u8], &'a Box<[u8]>)> + 'a>;

enum IterRepr<'a> {
    Pack(PackIter<'a>),
    Table(TableIter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Pack(p) => p.next(),
            IterRepr::Table(t) => t.next().map(|(k, v)| (k, &v[..])),
        }
    }
}

impl Default for Hash {
    fn default() -> Self {
        Hash {
            repr: Repr::Pack(Pack::default()),
        }
    }
}

impl Hash {
    /// An empty hash (listpack-encoded).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.pairs(),
            Repr::Table(d) => d.len(),
        }
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports: `listpack` or `hashtable`.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// DEBUG HTSTATS-KEY's text when the hash is a hash table.
    pub fn table_stats(&self) -> Option<String> {
        match &self.repr {
            Repr::Pack(_) => None,
            Repr::Table(t) => Some(t.stats_text()),
        }
    }

    /// True while listpack-encoded (HSCAN then returns everything in one call).
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Pack(_))
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Pack(p) => p.get(field),
            Repr::Table(d) => d.get(field).map(|v| &v[..]),
        }
    }

    /// True if `field` is present.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Set `field` to `value`; true if the field is new. As Redis's `hashTypeSet`: a
    /// listpack converts to a hashtable first if the field or value is longer than
    /// `limits.max_value`, and after the insert if it holds more than `limits.max_entries`.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: Limits) -> bool {
        if let Repr::Pack(_) = self.repr {
            if field.len() as u64 > limits.max_value || value.len() as u64 > limits.max_value {
                self.convert();
            }
        }
        match &mut self.repr {
            Repr::Pack(p) => {
                let new = p.set(field, value);
                if p.pairs() as u64 > limits.max_entries {
                    self.convert();
                }
                new
            }
            Repr::Table(d) => {
                if let Some(v) = d.get_mut(field) {
                    *v = value.into();
                    false
                } else {
                    d.insert(field, value.into());
                    true
                }
            }
        }
    }

    /// Remove `field`; true if it was present. Never converts back to a listpack.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(p) => p.remove(field),
            Repr::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Convert to the hashtable encoding (no-op if already).
    pub fn convert(&mut self) {
        if let Repr::Pack(p) = &self.repr {
            let mut d = Dict::new();
            for (f, v) in p.iter() {
                d.insert(f, v.into());
            }
            self.repr = Repr::Table(Shared::new(d));
        }
    }

    /// Every (field, value) pair: insertion order for a listpack, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.repr {
            Repr::Pack(p) => IterRepr::Pack(p.iter()),
            Repr::Table(d) => IterRepr::Table(Box::new(d.iter())),
        })
    }

    /// One HSCAN call from `cursor` with the COUNT hint `count`, calling `f` for every pair
    /// visited; returns the next cursor (0 = done). A listpack is visited whole and returns
    /// 0, as Redis does; a hashtable steps buckets (resize-safe, see [`Dict::scan_step`])
    /// until `count` elements (fields and values both count, as in Redis) were collected,
    /// the scan ends, or `count × 10` buckets were visited.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Pack(p) => {
                for (k, v) in p.iter() {
                    f(k, v);
                }
                0
            }
            Repr::Table(d) => {
                let mut cursor = cursor;
                let mut budget = count.saturating_mul(10);
                let mut items = 0usize;
                loop {
                    cursor = d.scan_step(cursor, |k, v| {
                        items += 2;
                        f(k, v);
                    });
                    if cursor == 0 || budget == 0 || items >= count {
                        return cursor;
                    }
                    budget -= 1;
                }
            }
        }
    }

    /// One random pair (None if empty), chosen with the caller's random numbers.
    pub fn random_pair(&self, mut rnd: impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Pack(p) => {
                let pairs = p.pairs();
                if pairs == 0 {
                    return None;
                }
                let i = usize::try_from(rnd() % pairs as u64).unwrap_or(0);
                p.iter().nth(i)
            }
            Repr::Table(d) => d.random_entry(rnd).map(|(k, v)| (k, &v[..])),
        }
    }

    /// `count` random pairs, possibly repeated (HRANDFIELD with a negative count).
    pub fn random_pairs(&self, count: usize, mut rnd: impl FnMut() -> u64) -> Vec<(&[u8], &[u8])> {
        if self.is_empty() {
            return Vec::new();
        }
        match &self.repr {
            Repr::Pack(p) => {
                let all: Vec<(&[u8], &[u8])> = p.iter().collect();
                let n = all.len() as u64;
                (0..count)
                    .map(|_| all[usize::try_from(rnd() % n).unwrap_or(0)])
                    .collect()
            }
            Repr::Table(d) => (0..count)
                .filter_map(|_| d.random_entry(&mut rnd).map(|(k, v)| (k, &v[..])))
                .collect(),
        }
    }

    /// `count` distinct random pairs in random order (HRANDFIELD with a positive count
    /// smaller than the hash; a larger count is the whole hash, see [`Hash::iter`]).
    pub fn random_distinct(
        &self,
        count: usize,
        mut rnd: impl FnMut() -> u64,
    ) -> Vec<(&[u8], &[u8])> {
        let size = self.len();
        let count = count.min(size);
        if let Repr::Table(d) = &self.repr {
            if count.saturating_mul(3) <= size {
                // Few of many: draw until enough distinct fields (Redis's CASE 4).
                let mut seen = HashSet::with_capacity(count);
                let mut out = Vec::with_capacity(count);
                while out.len() < count {
                    let Some((k, v)) = d.random_entry(&mut rnd) else {
                        break;
                    };
                    if seen.insert(k) {
                        out.push((k, &v[..]));
                    }
                }
                return out;
            }
        }
        // A partial Fisher–Yates shuffle over all pairs.
        let mut all: Vec<(&[u8], &[u8])> = self.iter().collect();
        for i in 0..count {
            let span = (all.len() - i) as u64;
            let j = i + usize::try_from(rnd() % span).unwrap_or(0);
            all.swap(i, j);
        }
        all.truncate(count);
        all
    }

    /// Pairs sorted by field (the encoding-independent view for equality and `Debug`).
    fn sorted(&self) -> Vec<(&[u8], &[u8])> {
        let mut v: Vec<(&[u8], &[u8])> = self.iter().collect();
        v.sort_unstable();
        v
    }
}

impl Clone for Hash {
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Pack(p) => Repr::Pack(p.clone()),
            // (Shared with the copy: copied when one of them changes.)
            Repr::Table(d) => Repr::Table(d.clone()),
        };
        Hash { repr }
    }
}

/// Equal when both hold the same fields with the same values, whatever the encodings.
impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

/// Fields in byte order, encoding left out: a replayed hash prints as the original.
impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hash")?;
        f.debug_map()
            .entries(
                self.sorted()
                    .into_iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_entries: 4,
        max_value: 8,
    };

    fn rng() -> impl FnMut() -> u64 {
        let mut x = 0x1234_5678_9abc_def0u64;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn stays_small() {
        // Unboxed in `Value` without growing it (nor `Entry`, nor the keyspace node).
        assert_eq!(std::mem::size_of::<Hash>(), 16);
        assert_eq!(std::mem::size_of::<crate::db::value::Value>(), 24);
        assert_eq!(std::mem::size_of::<crate::db::value::Entry>(), 32);
    }

    #[test]
    fn pack_is_exact_and_counts_past_the_header_limit() {
        let big = Limits {
            max_entries: 100_000,
            max_value: 64,
        };
        let mut h = Hash::new();
        h.set(b"f", b"v", big);
        // Header + pair header + "f" + "v", nothing spare.
        let Repr::Pack(p) = &h.repr else {
            panic!("listpack")
        };
        assert_eq!(p.0.len(), HDR + 3);
        h.set(b"f", b"w", big);
        h.set(b"f", b"longer", big);
        assert_eq!(h.get(b"f"), Some(&b"longer"[..]));
        h.set(b"f", b"", big);
        assert_eq!(h.get(b"f"), Some(&b""[..]));
        assert!(h.remove(b"f"));
        let Repr::Pack(p) = &h.repr else {
            panic!("listpack")
        };
        assert!(p.0.is_empty());
        // Built directly: inserting one by one is quadratic.
        let n = usize::from(u16::MAX) - 2;
        let mut buf = vec![0; HDR];
        for i in 0..n {
            put_pair(&mut buf, format!("{i}").as_bytes(), b"");
        }
        let mut p = Pack::default();
        p.store(buf, n);
        h.repr = Repr::Pack(p);
        assert_eq!(h.len(), n);
        for i in 0..5 {
            assert!(h.set(format!("x{i}").as_bytes(), b"", big));
            assert_eq!(h.len(), n + 1 + i);
        }
        let n = n + 5;
        assert_eq!(&h.iter().nth(n - 1).unwrap().0, b"x4");
        for i in 0..5 {
            assert!(h.remove(format!("{i}").as_bytes()));
            assert_eq!(h.len(), n - 1 - i);
        }
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn varints_round_trip() {
        for n in [0usize, 1, 127, 128, 300, 16383, 16384, 1 << 30] {
            let mut b = Vec::new();
            put_varint(&mut b, n);
            assert_eq!(b.len(), varint_len(n));
            assert_eq!(varint_at(&b, 0), (n, b.len()));
        }
    }

    #[test]
    fn pairs_round_trip_in_both_header_forms() {
        let long = vec![b'x'; 300];
        for (f, v) in [
            (0, 0),
            (14, 15),
            (15, 0),
            (0, 16),
            (14, 16),
            (15, 15),
            (1, 300),
        ] {
            let (field, value) = (&long[..f], &long[..v]);
            let mut b = vec![9u8];
            put_pair(&mut b, field, value);
            assert_eq!(b.len(), 1 + pair_len(f, v));
            let s = pair_at(&b, 1);
            assert_eq!((&b[s.field..s.value], &b[s.value..s.end]), (field, value));
            assert_eq!(s.end, b.len());
            assert_eq!(b[1] == LONG, f > SHORT_FIELD || v > SHORT_VALUE);
        }
        // A value moving between the forms keeps its place in the order.
        let big = Limits {
            max_entries: 100,
            max_value: 400,
        };
        let mut h = Hash::new();
        h.set(b"a", b"1", big);
        h.set(b"b", b"2", big);
        h.set(b"c", b"3", big);
        for v in [&long[..16], &long[..300], &long[..3], &long[..15], b"9"] {
            assert!(!h.set(b"b", v, big));
            let got: Vec<_> = h.iter().collect();
            assert_eq!(got, vec![(&b"a"[..], &b"1"[..]), (b"b", v), (b"c", b"3")]);
        }
        assert!(h.set(&long[..40], &long[..200], big));
        assert_eq!(h.get(&long[..40]), Some(&long[..200]));
        assert!(h.remove(b"b"));
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(b"c"), Some(&b"3"[..]));
    }

    #[test]
    fn listpack_keeps_insertion_order() {
        let mut h = Hash::new();
        assert!(h.set(b"z", b"1", L));
        assert!(h.set(b"a", b"2", L));
        assert!(h.set(b"m", b"3", L));
        assert!(!h.set(b"a", b"22222", L));
        assert_eq!(h.encoding(), "listpack");
        let got: Vec<_> = h.iter().collect();
        assert_eq!(
            got,
            vec![(&b"z"[..], &b"1"[..]), (b"a", b"22222"), (b"m", b"3")]
        );
        assert!(h.remove(b"z"));
        assert!(!h.remove(b"z"));
        assert_eq!(h.len(), 2);
        assert_eq!(h.get(b"a"), Some(&b"22222"[..]));
        assert_eq!(h.get(b"m"), Some(&b"3"[..]));
        assert!(h.set(b"", b"", L));
        assert_eq!(h.get(b""), Some(&b""[..]));
        assert!(h.remove(b"a") && h.remove(b"m") && h.remove(b""));
        assert!(h.is_empty());
    }

    #[test]
    fn converts_by_count_and_by_length_and_never_back() {
        let mut h = Hash::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", L);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f4", b"v", L);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        for i in 0..5 {
            assert!(h.remove(format!("f{i}").as_bytes()));
        }
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::new();
        h.set(b"a", b"12345678", L);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"a", b"123456789", L);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"123456789"[..]));

        let mut h = Hash::new();
        h.set(b"123456789", b"", L);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn equality_and_debug_ignore_encoding() {
        let mut a = Hash::new();
        let mut b = Hash::new();
        a.set(b"x", b"1", L);
        a.set(b"y", b"2", L);
        b.set(b"y", b"2", L);
        b.set(b"x", b"1", L);
        b.convert();
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a.clone(), b.clone());
        b.set(b"x", b"3", L);
        assert_ne!(a, b);
    }

    #[test]
    fn scan_listpack_whole_and_table_complete() {
        let mut h = Hash::new();
        h.set(b"a", b"1", L);
        h.set(b"b", b"2", L);
        let mut n = 0;
        assert_eq!(h.scan(77, 1, |_, _| n += 1), 0);
        assert_eq!(n, 2);

        let big = Limits {
            max_entries: 0,
            max_value: 64,
        };
        let mut h = Hash::new();
        for i in 0..1000 {
            h.set(format!("f{i}").as_bytes(), b"v", big);
        }
        let mut seen = HashSet::new();
        let mut c = 0;
        loop {
            c = h.scan(c, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn random_choices() {
        for table in [false, true] {
            let mut h = Hash::new();
            for i in 0..20 {
                h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes(), L);
            }
            if !table {
                h = Hash::new();
                for i in 0..3 {
                    h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes(), L);
                }
            }
            assert_eq!(h.encoding(), if table { "hashtable" } else { "listpack" });
            let mut r = rng();
            let (f, v) = h.random_pair(&mut r).unwrap();
            assert_eq!(h.get(f), Some(v));
            let many = h.random_pairs(50, &mut r);
            assert_eq!(many.len(), 50);
            assert!(many.iter().all(|(f, v)| h.get(f) == Some(*v)));
            for want in [1, 2, h.len() - 1, h.len()] {
                let d = h.random_distinct(want, &mut r);
                assert_eq!(d.len(), want);
                let distinct: HashSet<_> = d.iter().map(|p| p.0).collect();
                assert_eq!(distinct.len(), want);
            }
        }
        assert!(Hash::new().random_pair(rng()).is_none());
        assert!(Hash::new().random_pairs(3, rng()).is_empty());
    }
}
