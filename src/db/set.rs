//! The set type: a Redis set and its two Redis 7.0 encodings. `intset` is a sorted array
//! of integers whose element width (16, 32 or 64 bits) grows with the widest member, as
//! Redis's intset does; it is used while every member is a `string2ll` integer and the
//! count stays within `set-max-intset-entries`. `hashtable` is a [`Dict`] of members (so
//! SSCAN keeps SCAN's guarantee). Conversion is one-way, intset → hashtable, as in Redis.
//! Also owns the set algebra (intersection, union, difference) and the random picks of
//! SPOP/SRANDMEMBER, with the random numbers supplied by the caller. The command layer
//! (cmd/set.rs) must not depend on the internals beyond this file's API.

use std::collections::HashSet;

use super::dict::Dict;
use super::shared::Shared;
use super::strnum::parse_i64;

/// Apply `$e` to the vector inside an [`IntSet`] whatever its width.
macro_rules! each_width {
    ($s:expr, $v:ident => $e:expr) => {
        match $s {
            IntSet::W16($v) => $e,
            IntSet::W32($v) => $e,
            IntSet::W64($v) => $e,
        }
    };
}

/// A sorted array of distinct integers stored at the narrowest width holding them all.
#[derive(Clone)]
enum IntSet {
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

impl IntSet {
    fn len(&self) -> usize {
        each_width!(self, v => v.len())
    }

    fn get(&self, i: usize) -> i64 {
        match self {
            IntSet::W16(v) => i64::from(v[i]),
            IntSet::W32(v) => i64::from(v[i]),
            IntSet::W64(v) => v[i],
        }
    }

    /// Binary search: `Ok(index)` if present, `Err(insertion point)` otherwise.
    fn find(&self, x: i64) -> Result<usize, usize> {
        match self {
            IntSet::W16(v) => match i16::try_from(x) {
                Ok(y) => v.binary_search(&y),
                Err(_) => Err(if x < 0 { 0 } else { v.len() }),
            },
            IntSet::W32(v) => match i32::try_from(x) {
                Ok(y) => v.binary_search(&y),
                Err(_) => Err(if x < 0 { 0 } else { v.len() }),
            },
            IntSet::W64(v) => v.binary_search(&x),
        }
    }

    /// Widen the storage so `x` fits (never narrows, as Redis).
    fn fit(&mut self, x: i64) {
        let need = if i16::try_from(x).is_ok() {
            16
        } else if i32::try_from(x).is_ok() {
            32
        } else {
            64
        };
        let have = match self {
            IntSet::W16(_) => 16,
            IntSet::W32(_) => 32,
            IntSet::W64(_) => 64,
        };
        if need <= have {
            return;
        }
        *self = if need == 32 {
            match self {
                IntSet::W16(v) => IntSet::W32(v.iter().map(|&n| i32::from(n)).collect()),
                _ => unreachable!("only a 16-bit set widens to 32 bits"),
            }
        } else {
            IntSet::W64((0..self.len()).map(|i| self.get(i)).collect())
        };
    }

    /// Insert `x`; false if already present. Grows by exactly one slot, as Redis's
    /// intset reallocates, so no capacity is wasted.
    fn insert(&mut self, x: i64) -> bool {
        let Err(pos) = self.find(x) else {
            return false;
        };
        self.fit(x);
        match self {
            IntSet::W16(v) => {
                v.reserve_exact(1);
                v.insert(pos, i16::try_from(x).unwrap_or_default());
            }
            IntSet::W32(v) => {
                v.reserve_exact(1);
                v.insert(pos, i32::try_from(x).unwrap_or_default());
            }
            IntSet::W64(v) => {
                v.reserve_exact(1);
                v.insert(pos, x);
            }
        }
        true
    }

    fn remove(&mut self, x: i64) -> bool {
        let Ok(pos) = self.find(x) else {
            return false;
        };
        each_width!(self, v => {
            v.remove(pos);
            v.shrink_to_fit();
        });
        true
    }

    /// Keep only the elements whose index `keep` approves.
    fn retain_indices(&mut self, keep: &[bool]) {
        each_width!(self, v => {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep[i - 1]
            });
            v.shrink_to_fit();
        });
    }
}

/// The two encodings.
enum Repr {
    Ints(IntSet),
    /// Shared with a running snapshot's copy of the set until one of them changes.
    Table(Shared<Dict<()>>),
}

/// A Redis set.
pub struct Set {
    repr: Repr,
}

/// One member as the set holds it: an intset integer or a hashtable member's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    /// An integer of an intset.
    Int(i64),
    /// A member of a hashtable.
    Str(&'a [u8]),
}

impl Member<'_> {
    /// The member's bytes (an integer in its decimal form).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Member::Int(n) => n.to_string().into_bytes(),
            Member::Str(s) => s.to_vec(),
        }
    }
}

impl Default for Set {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for Set {
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Ints(i) => Repr::Ints(i.clone()),
            // (Shared with the copy: copied when one of them changes.)
            Repr::Table(d) => Repr::Table(d.clone()),
        };
        Set { repr }
    }
}

/// Equal when they hold the same members, whatever their encodings.
impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains_member(m))
    }
}

/// The members in byte order (deterministic whatever the encoding and table layout).
impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m: Vec<Vec<u8>> = self.iter().map(Member::to_vec).collect();
        m.sort();
        f.debug_set()
            .entries(m.iter().map(|b| String::from_utf8_lossy(b)))
            .finish()
    }
}

impl Set {
    /// An empty set in the intset encoding (Redis's `createIntsetObject`).
    pub fn new() -> Self {
        Set {
            repr: Repr::Ints(IntSet::W16(Vec::new())),
        }
    }

    /// An empty set in the encoding Redis picks for a set whose first member is `first`
    /// (`setTypeCreate`): intset for an integer, hashtable otherwise.
    pub fn for_first(first: &[u8]) -> Self {
        if parse_i64(first).is_some() {
            Set::new()
        } else {
            Set {
                repr: Repr::Table(Shared::new(Dict::new())),
            }
        }
    }

    /// Cache warming before a pipelined batch (see `cmd::set::warm_members`): bring the
    /// hashtable slots and entries of `members` into the cache together (`Dict::warm`).
    /// An intset needs none. Pure reads.
    pub fn warm<'k>(&self, members: impl Iterator<Item = &'k [u8]>) {
        if let Repr::Table(d) = &self.repr {
            d.warm(members, |()| 0);
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(i) => i.len(),
            Repr::Table(d) => d.len(),
        }
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    /// DEBUG HTSTATS-KEY's text when the set is a hash table.
    pub fn table_stats(&self) -> Option<String> {
        match &self.repr {
            Repr::Ints(_) => None,
            Repr::Table(t) => Some(t.stats_text()),
        }
    }

    /// True if `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(i) => parse_i64(m).is_some_and(|n| i.find(n).is_ok()),
            Repr::Table(d) => d.contains_key(m),
        }
    }

    /// True if `m` (taken from another set) is a member.
    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (&self.repr, m) {
            (Repr::Ints(i), Member::Int(n)) => i.find(n).is_ok(),
            (Repr::Table(d), Member::Int(n)) => d.contains_key(fmt_i64(n, &mut [0; 20])),
            (_, Member::Str(s)) => self.contains(s),
        }
    }

    /// Convert to the hashtable encoding (one-way).
    fn convert_to_table(&mut self) {
        if let Repr::Ints(i) = &self.repr {
            let mut d = Dict::new();
            for k in 0..i.len() {
                d.insert(fmt_i64(i.get(k), &mut [0; 20]), ());
            }
            self.repr = Repr::Table(Shared::new(d));
        }
    }

    /// Add `m`; false if already a member. An intset converts to a hashtable when `m` is
    /// not an integer or the count passes `max_intset` (`set-max-intset-entries`).
    pub fn insert(&mut self, m: &[u8], max_intset: u64) -> bool {
        if let Repr::Ints(i) = &mut self.repr {
            match parse_i64(m) {
                Some(n) => {
                    if !i.insert(n) {
                        return false;
                    }
                    if u64::try_from(i.len()).unwrap_or(u64::MAX) > max_intset {
                        self.convert_to_table();
                    }
                    return true;
                }
                None => self.convert_to_table(),
            }
        }
        match &mut self.repr {
            Repr::Table(d) => d.insert(m, ()).is_none(),
            Repr::Ints(_) => unreachable!("converted above"),
        }
    }

    /// Remove `m`; false if it was not a member. Never converts back to an intset.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(i) => parse_i64(m).is_some_and(|n| i.remove(n)),
            Repr::Table(d) => d.remove(m).is_some(),
        }
    }

    /// Every member: ascending for an intset, table order for a hashtable.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match &self.repr {
            Repr::Ints(i) => Box::new((0..i.len()).map(|k| Member::Int(i.get(k)))),
            Repr::Table(d) => Box::new(d.keys().map(Member::Str)),
        }
    }

    /// One SSCAN step from `cursor`, calling `f` for every member visited; returns the
    /// next cursor (0 = done). An intset returns everything at once with cursor 0, as
    /// Redis does for small encodings; a hashtable visits buckets until `count` members
    /// were seen, the scan completes, or 10×`count` buckets were visited.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Member<'_>)) -> u64 {
        match &self.repr {
            Repr::Ints(i) => {
                for k in 0..i.len() {
                    f(Member::Int(i.get(k)));
                }
                0
            }
            Repr::Table(d) => {
                let mut cursor = cursor;
                let mut seen = 0usize;
                let mut budget = count.saturating_mul(10);
                loop {
                    cursor = d.scan_step(cursor, |k, ()| {
                        seen += 1;
                        f(Member::Str(k));
                    });
                    if cursor == 0 || budget == 0 || seen >= count {
                        return cursor;
                    }
                    budget -= 1;
                }
            }
        }
    }

    /// One uniformly chosen member (None when empty).
    pub fn random(&self, rnd: &mut impl FnMut() -> u64) -> Option<Member<'_>> {
        match &self.repr {
            Repr::Ints(i) => {
                let n = i.len();
                (n > 0).then(|| Member::Int(i.get(pick(rnd, n))))
            }
            Repr::Table(d) => d.random_entry(&mut *rnd).map(|(k, ())| Member::Str(k)),
        }
    }

    /// `count` distinct random members (all of them, in set order, when `count >= len`).
    pub fn random_distinct(&self, count: usize, rnd: &mut impl FnMut() -> u64) -> Vec<Vec<u8>> {
        let n = self.len();
        if count >= n {
            return self.iter().map(Member::to_vec).collect();
        }
        match &self.repr {
            Repr::Ints(i) => partial_shuffle(n, count, rnd)
                .into_iter()
                .map(|k| i.get(k).to_string().into_bytes())
                .collect(),
            Repr::Table(d) => {
                if count.saturating_mul(3) > n {
                    // Most of the set: shuffle a list of all members.
                    let all: Vec<&[u8]> = d.keys().collect();
                    partial_shuffle(n, count, rnd)
                        .into_iter()
                        .map(|k| all[k].to_vec())
                        .collect()
                } else {
                    // Few members: draw until `count` distinct ones were seen.
                    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(count);
                    let mut out = Vec::with_capacity(count);
                    while out.len() < count {
                        let Some((k, ())) = d.random_entry(&mut *rnd) else {
                            break;
                        };
                        if seen.insert(k) {
                            out.push(k.to_vec());
                        }
                    }
                    out
                }
            }
        }
    }

    /// Remove and return `count` distinct random members (every member, in set order,
    /// when `count >= len`; the caller then deletes the key). A hashtable left with few
    /// members (at most a fifth of those popped) is rebuilt from them as Redis's SPOP
    /// does: a new set in the encoding its first kept member picks (`for_first`), so a
    /// set of integers goes back to an intset (`max_intset`: `set-max-intset-entries`).
    pub fn pop_random(
        &mut self,
        count: usize,
        max_intset: u64,
        rnd: &mut impl FnMut() -> u64,
    ) -> Vec<Vec<u8>> {
        let n = self.len();
        if count >= n {
            let all = self.iter().map(Member::to_vec).collect();
            *self = Set::new();
            return all;
        }
        match &mut self.repr {
            Repr::Ints(i) => {
                let picks = partial_shuffle(n, count, rnd);
                let mut keep = vec![true; n];
                let out = picks
                    .into_iter()
                    .map(|k| {
                        keep[k] = false;
                        i.get(k).to_string().into_bytes()
                    })
                    .collect();
                i.retain_indices(&keep);
                out
            }
            Repr::Table(d) if (n - count).saturating_mul(5) <= count => {
                // Redis's SPOP "case 3": draw the members that stay into a new set and
                // return what is left of the old one.
                let mut kept: Option<Set> = None;
                for _ in 0..n - count {
                    let Some((k, ())) = d.random_entry(&mut *rnd) else {
                        break;
                    };
                    let k = k.to_vec();
                    d.remove(&k);
                    kept.get_or_insert_with(|| Set::for_first(&k))
                        .insert(&k, max_intset);
                }
                let out = d.keys().map(<[u8]>::to_vec).collect();
                *self = kept.unwrap_or_default();
                out
            }
            Repr::Table(d) => {
                let mut out = Vec::with_capacity(count);
                while out.len() < count {
                    let Some((k, ())) = d.random_entry(&mut *rnd) else {
                        break;
                    };
                    let k = k.to_vec();
                    d.remove(&k);
                    out.push(k);
                }
                out
            }
        }
    }
}

/// `n` in decimal, written into `buf` without allocating.
fn fmt_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut u = n.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + u8::try_from(u % 10).unwrap_or(0);
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// A random index below `n` (> 0).
fn pick(rnd: &mut impl FnMut() -> u64, n: usize) -> usize {
    let n64 = u64::try_from(n).unwrap_or(u64::MAX);
    usize::try_from(rnd() % n64).unwrap_or(0)
}

/// `count` distinct random indices below `n` (`count < n`), in random order: a partial
/// Fisher–Yates shuffle.
fn partial_shuffle(n: usize, count: usize, rnd: &mut impl FnMut() -> u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    for k in 0..count {
        let j = k + pick(rnd, n - k);
        idx.swap(k, j);
    }
    idx.truncate(count);
    idx
}

/// The intersection of `sets` (all non-empty; at least one) in the order of the smallest
/// set, stopping after `limit` members (0 = no limit), as Redis's SINTER iterates.
pub fn inter<'a>(sets: &[&'a Set], limit: usize) -> Vec<Member<'a>> {
    let mut order: Vec<&Set> = sets.to_vec();
    order.sort_by_key(|s| s.len());
    let Some((first, rest)) = order.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in first.iter() {
        if rest.iter().all(|s| s.contains_member(m)) {
            out.push(m);
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// Build a set from members, as Redis builds a result set: starting as an intset and
/// converting like SADD would.
pub fn collect<'a>(members: impl IntoIterator<Item = Member<'a>>, max_intset: u64) -> Set {
    let mut out = Set::new();
    for m in members {
        match m {
            Member::Int(n) => out.insert(fmt_i64(n, &mut [0; 20]), max_intset),
            Member::Str(s) => out.insert(s, max_intset),
        };
    }
    out
}

/// The union of `sets` (None = a missing key, an empty set).
pub fn union(sets: &[Option<&Set>], max_intset: u64) -> Set {
    collect(sets.iter().flatten().flat_map(|s| s.iter()), max_intset)
}

/// The members of the first set that are in none of the others (None = missing key).
pub fn diff(sets: &[Option<&Set>], max_intset: u64) -> Set {
    let Some((Some(first), rest)) = sets.split_first() else {
        return Set::new();
    };
    collect(
        first
            .iter()
            .filter(|&m| !rest.iter().flatten().any(|s| s.contains_member(m))),
        max_intset,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: &Set) -> Vec<String> {
        s.iter()
            .map(|m| String::from_utf8(m.to_vec()).unwrap())
            .collect()
    }

    fn lcg() -> impl FnMut() -> u64 {
        let mut x = 42u64;
        move || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 11
        }
    }

    /// Warming reads only, in either encoding.
    #[test]
    fn warming_reads_only() {
        let mut ints = Set::default();
        let mut table = Set::default();
        for i in 0..300 {
            ints.insert(i.to_string().as_bytes(), 512);
            table.insert(format!("m{i}").as_bytes(), 512);
        }
        let (a, b) = (members(&ints), members(&table));
        let probe: [&[u8]; 3] = [b"7", b"m7", b"absent"];
        ints.warm(probe.iter().copied());
        table.warm(probe.iter().copied());
        assert_eq!((members(&ints), members(&table)), (a, b));
        assert_eq!(table.encoding(), "hashtable");
    }

    #[test]
    fn formats_integers() {
        for n in [0, 7, -7, 10, i64::MAX, i64::MIN, -1_000_000] {
            assert_eq!(fmt_i64(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }

    #[test]
    fn intset_widths_and_order() {
        let mut s = Set::for_first(b"5");
        assert_eq!(s.encoding(), "intset");
        for m in ["5", "-3", "100", "5"] {
            s.insert(m.as_bytes(), 512);
        }
        assert_eq!(members(&s), ["-3", "5", "100"]);
        assert!(matches!(s.repr, Repr::Ints(IntSet::W16(_))));
        s.insert(b"70000", 512);
        assert!(matches!(s.repr, Repr::Ints(IntSet::W32(_))));
        s.insert(b"-9223372036854775808", 512);
        assert!(matches!(s.repr, Repr::Ints(IntSet::W64(_))));
        assert_eq!(
            members(&s),
            ["-9223372036854775808", "-3", "5", "100", "70000"]
        );
        assert!(s.contains(b"70000"));
        assert!(!s.contains(b"070000"));
        assert!(!s.contains(b"x"));
        assert!(s.remove(b"5"));
        assert!(!s.remove(b"5"));
        assert!(!s.remove(b"abc"));
        assert_eq!(s.len(), 4);
        // 16-bit set: out-of-range lookups miss without panicking.
        let mut t = Set::new();
        t.insert(b"1", 512);
        assert!(!t.contains(b"9223372036854775807"));
        assert!(!t.contains(b"-40000"));
        assert!(!t.remove(b"40000"));
    }

    #[test]
    fn conversions_are_one_way() {
        let mut s = Set::new();
        s.insert(b"1", 2);
        s.insert(b"2", 2);
        assert_eq!(s.encoding(), "intset");
        s.insert(b"3", 2);
        assert_eq!(s.encoding(), "hashtable");
        s.remove(b"3");
        assert_eq!(s.encoding(), "hashtable");
        let mut t = Set::new();
        t.insert(b"1", 512);
        t.insert(b"01", 512);
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.contains(b"1") && t.contains(b"01"));
        assert_eq!(Set::for_first(b"a").encoding(), "hashtable");
        // Same members, different encodings: equal, same Debug.
        let mut u = Set::new();
        u.insert(b"1", 512);
        u.insert(b"2", 512);
        assert_eq!(s, u);
        assert_eq!(format!("{s:?}"), format!("{u:?}"));
        assert_eq!(s.clone(), s);
    }

    #[test]
    fn algebra() {
        let a = collect(
            ["1", "2", "3", "x"]
                .iter()
                .map(|m| Member::Str(m.as_bytes())),
            512,
        );
        let b = collect([Member::Int(3), Member::Int(2), Member::Int(9)], 512);
        assert_eq!(b.encoding(), "intset");
        let i = inter(&[&a, &b], 0);
        assert_eq!(i, [Member::Int(2), Member::Int(3)]);
        assert_eq!(inter(&[&a, &b], 1).len(), 1);
        let u = union(&[Some(&a), None, Some(&b)], 512);
        assert_eq!(u.len(), 5);
        let d = diff(&[Some(&a), Some(&b)], 512);
        assert_eq!(members(&d).len(), 2);
        assert!(d.contains(b"x") && d.contains(b"1"));
        assert!(diff(&[None, Some(&a)], 512).is_empty());
    }

    #[test]
    fn random_picks() {
        let mut rnd = lcg();
        for enc in ["1", "a"] {
            let mut s = Set::for_first(enc.as_bytes());
            for k in 0..100 {
                s.insert(k.to_string().as_bytes(), 512);
            }
            for count in [0, 1, 10, 40, 99, 100, 150] {
                let r = s.random_distinct(count, &mut rnd);
                let uniq: HashSet<_> = r.iter().collect();
                assert_eq!(r.len(), count.min(100));
                assert_eq!(uniq.len(), r.len());
                assert!(r.iter().all(|m| s.contains(m)));
            }
            assert!(s.random(&mut rnd).is_some());
            let popped = s.pop_random(30, 512, &mut rnd);
            assert_eq!(popped.len(), 30);
            assert_eq!(s.len(), 70);
            assert!(popped.iter().all(|m| !s.contains(m)));
            let popped = s.pop_random(80, 512, &mut rnd);
            assert_eq!(popped.len(), 70);
            assert!(s.is_empty());
            assert!(s.random(&mut rnd).is_none());
        }
    }

    #[test]
    fn scan_small_and_big() {
        let mut s = Set::new();
        for k in 0..5 {
            s.insert(k.to_string().as_bytes(), 512);
        }
        let mut n = 0;
        assert_eq!(s.scan(77, 1, |_| n += 1), 0);
        assert_eq!(n, 5);
        let mut t = Set::for_first(b"a");
        for k in 0..1000 {
            t.insert(format!("m{k}").as_bytes(), 512);
        }
        let mut seen = HashSet::new();
        let mut c = 0;
        loop {
            c = t.scan(c, 10, |m| {
                seen.insert(m.to_vec());
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
    }
}
