//! `Dict`: the chained hash table behind every keyspace (and later every hash and set).
//! It exists, instead of `std::collections::HashMap`, for one guarantee: SCAN with a
//! stateless unsigned 64-bit cursor that returns every element present for the whole
//! iteration at least once, even while the table grows or shrinks between calls. That
//! needs Redis's design: power-of-two bucket arrays where an element lives in bucket
//! `hash & mask`, and a cursor that counts with its bits reversed, so the buckets already
//! visited stay visited across a resize. Resizing is done at once (not incrementally).

use std::hash::BuildHasher;

/// Keys up to this many bytes live inside the node (no separate allocation).
const INLINE_KEY: usize = 22;

/// A stored key: short keys inline in the node, long ones on the heap. Saves one
/// allocation per element for the common case (most Redis keys, fields and members are
/// short), which is what keeps memory per element at or below Redis's.
enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl Key {
    fn new(k: &[u8]) -> Key {
        if k.len() <= INLINE_KEY {
            let mut bytes = [0u8; INLINE_KEY];
            bytes[..k.len()].copy_from_slice(k);
            #[expect(clippy::cast_possible_truncation, reason = "len <= INLINE_KEY")]
            Key::Inline {
                len: k.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(k.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Heap(b) => b,
        }
    }

    fn into_boxed(self) -> Box<[u8]> {
        match self {
            Key::Inline { .. } => self.as_bytes().into(),
            Key::Heap(b) => b,
        }
    }
}

/// A node in a bucket's chain.
struct Node<V> {
    key: Key,
    value: V,
    next: Option<Box<Node<V>>>,
}

/// A hash table keyed by byte strings with a resize-safe SCAN cursor.
pub struct Dict<V> {
    buckets: Vec<Option<Box<Node<V>>>>,
    len: usize,
    hasher: foldhash::quality::FixedState,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

const MIN_BUCKETS: usize = 4;

/// The SCAN cursor after `cursor` for a table of `mask + 1` buckets: increment the
/// reversed cursor over the unmasked bits.
fn next_cursor(cursor: u64, mask: u64) -> u64 {
    let v = (cursor | !mask).reverse_bits().wrapping_add(1);
    v.reverse_bits()
}

impl<V> Dict<V> {
    /// An empty table (no allocation until the first insert).
    pub fn new() -> Self {
        Dict {
            buckets: Vec::new(),
            len: 0,
            hasher: foldhash::quality::FixedState::with_seed(0x5712_a7a5_eed0_1234),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buckets (for memory estimates and tests).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn index(&self, key: &[u8]) -> usize {
        #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
        let h = self.hash(key) as usize;
        h & (self.buckets.len() - 1)
    }

    /// The longest bucket chain (a hash-quality check for benches and tests).
    pub fn longest_chain(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| {
                let mut n = 0;
                let mut cur = b.as_deref();
                while let Some(node) = cur {
                    n += 1;
                    cur = node.next.as_deref();
                }
                n
            })
            .max()
            .unwrap_or(0)
    }

    /// Look up a key.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        if self.len == 0 {
            return None;
        }
        let mut cur = self.buckets[self.index(key)].as_deref();
        while let Some(n) = cur {
            if n.key.as_bytes() == key {
                return Some(&n.value);
            }
            cur = n.next.as_deref();
        }
        None
    }

    /// Look up a key for modification.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        let i = self.index(key);
        let mut cur = self.buckets[i].as_deref_mut();
        while let Some(n) = cur {
            if n.key.as_bytes() == key {
                return Some(&mut n.value);
            }
            cur = n.next.as_deref_mut();
        }
        None
    }

    /// True if the key is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Insert or replace; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(v) = self.get_mut(key) {
            return Some(std::mem::replace(v, value));
        }
        self.insert_new(key, value);
        None
    }

    /// Insert a key known to be absent.
    fn insert_new(&mut self, key: &[u8], value: V) {
        if self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(MIN_BUCKETS));
        }
        let i = self.index(key);
        let next = self.buckets[i].take();
        self.buckets[i] = Some(Box::new(Node {
            key: Key::new(key),
            value,
            next,
        }));
        self.len += 1;
    }

    /// Get the value for `key`, inserting `make()` first if absent.
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &mut V {
        if !self.contains_key(key) {
            self.insert_new(key, make());
        }
        match self.get_mut(key) {
            Some(v) => v,
            None => unreachable!("just inserted"),
        }
    }

    /// Remove a key; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Remove a key; returns the stored key and value.
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Box<[u8]>, V)> {
        if self.len == 0 {
            return None;
        }
        let i = self.index(key);
        let mut link = &mut self.buckets[i];
        loop {
            match link {
                None => return None,
                Some(n) if n.key.as_bytes() == key => {
                    let mut node = link.take()?;
                    *link = node.next.take();
                    self.len -= 1;
                    self.maybe_shrink();
                    return Some((node.key.into_boxed(), node.value));
                }
                Some(n) => link = &mut n.next,
            }
        }
    }

    fn maybe_shrink(&mut self) {
        let b = self.buckets.len();
        if b > MIN_BUCKETS && self.len * 8 < b {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    fn resize(&mut self, new_size: usize) {
        let old = std::mem::take(&mut self.buckets);
        self.buckets.resize_with(new_size, || None);
        let mask = new_size - 1;
        for mut head in old {
            while let Some(mut n) = head {
                head = n.next.take();
                #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
                let i = (self.hash(n.key.as_bytes()) as usize) & mask;
                n.next = self.buckets[i].take();
                self.buckets[i] = Some(n);
            }
        }
    }

    /// Remove everything and free the buckets.
    pub fn clear(&mut self) {
        // Unlink chains iteratively so long chains cannot overflow the stack on drop.
        for b in &mut self.buckets {
            let mut head = b.take();
            while let Some(mut n) = head {
                head = n.next.take();
            }
        }
        self.buckets = Vec::new();
        self.len = 0;
    }

    /// Visit one step of a SCAN starting at `cursor`: calls `f` for every element of the
    /// bucket(s) the cursor names and returns the next cursor (0 when the scan is complete).
    pub fn scan_step(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
        let mut cur = self.buckets[(cursor & mask) as usize].as_deref();
        while let Some(n) = cur {
            f(n.key.as_bytes(), &n.value);
            cur = n.next.as_deref();
        }
        next_cursor(cursor, mask)
    }

    /// `scan_step` with mutable access to the values (the snapshot job marks what it took).
    pub fn scan_step_mut(&mut self, cursor: u64, mut f: impl FnMut(&[u8], &mut V)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
        let mut cur = self.buckets[(cursor & mask) as usize].as_deref_mut();
        while let Some(n) = cur {
            f(n.key.as_bytes(), &mut n.value);
            cur = n.next.as_deref_mut();
        }
        next_cursor(cursor, mask)
    }

    /// A uniformly random bucket's element, chosen with the caller's random numbers.
    /// Empty buckets are skipped by retrying (the table keeps a fill of at least 1/8).
    pub fn random_entry(&self, mut rnd: impl FnMut() -> u64) -> Option<(&[u8], &V)> {
        if self.len == 0 {
            return None;
        }
        let mask = (self.buckets.len() - 1) as u64;
        loop {
            #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
            let b = self.buckets[(rnd() & mask) as usize].as_deref();
            let Some(head) = b else { continue };
            let mut chain = 0u64;
            let mut c = Some(head);
            while let Some(n) = c {
                chain += 1;
                c = n.next.as_deref();
            }
            let mut pick = rnd() % chain;
            let mut c = head;
            while pick > 0 {
                pick -= 1;
                c = match c.next.as_deref() {
                    Some(n) => n,
                    None => break,
                };
            }
            return Some((c.key.as_bytes(), &c.value));
        }
    }

    /// Iterate over all elements (order unspecified).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.buckets.iter().flat_map(|b| {
            let mut cur = b.as_deref();
            std::iter::from_fn(move || {
                let n = cur?;
                cur = n.next.as_deref();
                Some((n.key.as_bytes(), &n.value))
            })
        })
    }

    /// All keys (for KEYS and tests).
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.iter().map(|(k, _)| k)
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn short_and_long_keys() {
        let mut d = Dict::new();
        let long = vec![b'x'; 100];
        let edge = vec![b'y'; INLINE_KEY];
        let over = vec![b'z'; INLINE_KEY + 1];
        for k in [&b""[..], b"a", &edge, &over, &long] {
            d.insert(k, k.len());
        }
        for k in [&b""[..], b"a", &edge, &over, &long] {
            assert_eq!(d.get(k), Some(&k.len()));
        }
        assert_eq!(
            d.remove_entry(&edge).map(|(k, v)| (k.to_vec(), v)),
            Some((edge.clone(), INLINE_KEY))
        );
        assert_eq!(
            d.remove_entry(&long).map(|(k, v)| (k.len(), v)),
            Some((100, 100))
        );
        assert_eq!(d.len(), 3);
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }

    #[test]
    fn insert_get_remove() {
        let mut d = Dict::new();
        for i in 0..1000u32 {
            assert!(d.insert(&i.to_le_bytes(), i).is_none());
        }
        assert_eq!(d.len(), 1000);
        for i in 0..1000u32 {
            assert_eq!(d.get(&i.to_le_bytes()), Some(&i));
        }
        assert_eq!(d.insert(&5u32.to_le_bytes(), 50), Some(5));
        for i in 0..990u32 {
            assert!(d.remove(&i.to_le_bytes()).is_some());
        }
        assert_eq!(d.len(), 10);
        assert!(d.bucket_count() <= 16, "shrunk to {}", d.bucket_count());
        assert_eq!(d.get(&995u32.to_le_bytes()), Some(&995));
    }

    fn full_scan(d: &Dict<u32>) -> HashSet<Vec<u8>> {
        let mut seen = HashSet::new();
        let mut c = 0;
        loop {
            c = d.scan_step(c, |k, _| {
                seen.insert(k.to_vec());
            });
            if c == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn scan_sees_everything() {
        let mut d = Dict::new();
        for i in 0..777u32 {
            d.insert(&i.to_le_bytes(), i);
        }
        assert_eq!(full_scan(&d).len(), 777);
    }

    #[test]
    fn scan_survives_growth_and_shrink() {
        // Keys 0..500 stay for the whole scan; others come and go between steps.
        let mut d = Dict::new();
        for i in 0..500u32 {
            d.insert(&i.to_le_bytes(), i);
        }
        let mut seen = HashSet::new();
        let mut c = 0;
        let mut step = 0u32;
        loop {
            c = d.scan_step(c, |k, _| {
                seen.insert(k.to_vec());
            });
            step += 1;
            if step.is_multiple_of(3) {
                for j in 0..400u32 {
                    d.insert(&(100_000 + step * 1000 + j).to_le_bytes(), 0);
                }
            } else if step % 3 == 1 {
                let extra: Vec<Vec<u8>> = d
                    .keys()
                    .filter(|k| u32::from_le_bytes([k[0], k[1], k[2], k[3]]) >= 500)
                    .map(<[u8]>::to_vec)
                    .collect();
                for k in extra {
                    d.remove(&k);
                }
            }
            if c == 0 {
                break;
            }
        }
        for i in 0..500u32 {
            assert!(seen.contains(&i.to_le_bytes()[..]), "missed {i}");
        }
    }

    #[test]
    fn random_entry_finds_elements() {
        let mut d = Dict::new();
        assert!(d.random_entry(|| 7).is_none());
        d.insert(b"a", 1);
        let mut x = 1u64;
        let (k, v) = d
            .random_entry(|| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                x
            })
            .unwrap();
        assert_eq!((k, *v), (&b"a"[..], 1));
    }
}
