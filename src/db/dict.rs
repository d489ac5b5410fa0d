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

/// Where a key was found: which table, which bucket, how far down its chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    is_next: bool,
    bucket: usize,
    depth: usize,
}

/// A bucket array: chains of boxed nodes.
type Table<V> = Vec<Option<Box<Node<V>>>>;
/// A bucket array borrowed as a slice.
type Slots<V> = [Option<Box<Node<V>>>];

/// A hash table keyed by byte strings with a resize-safe SCAN cursor and incremental
/// rehashing (as Redis's dict): a resize allocates the new bucket array and then moves one
/// bucket per write (plus `rehash_some` from the server's cron), so no single command pays
/// for moving the whole table.
pub struct Dict<V> {
    /// The table (while rehashing: the old one, emptied from the front).
    buckets: Table<V>,
    /// A resize in progress (boxed: a `Dict` stays as small as before rehashing existed,
    /// which matters inside every hash and set value).
    rehash: Option<Box<Rehash<V>>>,
    len: usize,
    /// Bytes a growth may add without passing `maxmemory` (None: no limit). Set by the
    /// keyspace's owner before writes; see `set_growth_room`.
    growth_room: Option<usize>,
}

/// A resize in progress.
struct Rehash<V> {
    /// The table being filled.
    next: Table<V>,
    /// Buckets of the old table below this index have been moved.
    idx: usize,
}

/// Seed of the keyed hash (fixed: SCAN cursors stay meaningful across restarts).
const SEED: u64 = 0x5712_a7a5_eed0_1234;

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

const MIN_BUCKETS: usize = 4;
/// Empty buckets a rehash step may pass over per bucket it means to move.
const EMPTY_VISITS: usize = 10;

/// The SCAN cursor after `cursor` for a table of `mask + 1` buckets: increment the
/// reversed cursor over the unmasked bits.
fn next_cursor(cursor: u64, mask: u64) -> u64 {
    let v = (cursor | !mask).reverse_bits().wrapping_add(1);
    v.reverse_bits()
}

/// One bucket array's statistics as Redis's `dictGetStatsHt` prints them.
fn table_stats<V>(id: usize, name: &str, slots: &Slots<V>) -> String {
    use std::fmt::Write;
    const VECTLEN: usize = 50;
    let mut out = format!("Hash table {id} stats ({name}):\n");
    let lens: Vec<usize> = slots.iter().map(chain_len).collect();
    let used: usize = lens.iter().sum();
    if used == 0 {
        out.push_str("No stats available for empty dictionaries\n");
        return out;
    }
    let mut vect = [0usize; VECTLEN];
    let (mut nonempty, mut max, mut total) = (0usize, 0usize, 0usize);
    for &n in &lens {
        vect[n.min(VECTLEN - 1)] += 1;
        if n > 0 {
            nonempty += 1;
            max = max.max(n);
            total += n;
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "statistics")]
    let (avg, computed, size) = (
        total as f64 / nonempty as f64,
        used as f64 / nonempty as f64,
        slots.len() as f64,
    );
    let _ = write!(
        out,
        " table size: {}\n number of elements: {used}\n different slots: {nonempty}\n max chain length: {max}\n avg chain length (counted): {avg:.2}\n avg chain length (computed): {computed:.2}\n Chain length distribution:\n",
        slots.len()
    );
    for (len, &n) in vect.iter().enumerate() {
        if n > 0 {
            #[expect(clippy::cast_precision_loss, reason = "statistics")]
            let pct = n as f64 / size * 100.0;
            let _ = writeln!(out, "   {len}: {n} ({pct:.2}%)");
        }
    }
    out
}

fn chain_len<V>(b: &Option<Box<Node<V>>>) -> usize {
    let mut n = 0;
    let mut cur = b.as_deref();
    while let Some(node) = cur {
        n += 1;
        cur = node.next.as_deref();
    }
    n
}

/// A copy with the same entries, rebuilt (the same hash seed, so a SCAN cursor over the
/// original means over the copy what it would after a resize).
impl<V: Clone> Clone for Dict<V> {
    fn clone(&self) -> Self {
        let mut n = Dict::new();
        n.growth_room = self.growth_room;
        for (k, v) in self.iter() {
            n.insert(k, v.clone());
        }
        n
    }
}

impl<V> Dict<V> {
    /// An empty table (no allocation until the first insert).
    pub fn new() -> Self {
        Dict {
            buckets: Vec::new(),
            rehash: None,
            len: 0,
            growth_room: None,
        }
    }

    /// How many bytes a growth of the bucket array may add (None: unlimited). While a
    /// doubling would need more and the table is below Redis's safe load factor of 1.618
    /// elements per bucket, it does not grow: chains get a little longer instead of
    /// `maxmemory` evicting keys to pay for buckets (Redis 7's `dictExpandAllowed`).
    pub fn set_growth_room(&mut self, room: Option<usize>) {
        self.growth_room = room;
    }

    /// True if growing to `new_size` buckets is allowed now (see `set_growth_room`).
    fn may_grow(&self, new_size: usize) -> bool {
        match self.growth_room {
            None => true,
            Some(room) => {
                let more = new_size.saturating_mul(std::mem::size_of::<Option<Box<Node<V>>>>());
                more <= room || self.len.saturating_mul(1000) >= self.bucket_count() * 1618
            }
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

    /// Number of buckets of the table in force (the new one while rehashing).
    pub fn bucket_count(&self) -> usize {
        match &self.rehash {
            Some(r) => r.next.len(),
            None => self.buckets.len(),
        }
    }

    /// True while a resize is moving buckets to the new table.
    pub fn is_rehashing(&self) -> bool {
        self.rehash.is_some()
    }

    /// The table being filled (empty when no resize runs).
    /// DEBUG HTSTATS's text for this table, in Redis 7.0's format (`dictGetStats`): the
    /// main bucket array and, during a resize, the one being filled ("rehashing target").
    pub fn stats_text(&self) -> String {
        let mut out = table_stats(0, "main hash table", &self.buckets);
        if self.rehash.is_some() {
            out.push_str(&table_stats(1, "rehashing target", self.next_tab()));
        }
        out
    }

    fn next_tab(&self) -> &Slots<V> {
        self.rehash.as_ref().map_or(&[], |r| &r.next[..])
    }

    fn next_tab_mut(&mut self) -> &mut Slots<V> {
        match self.rehash.as_mut() {
            Some(r) => &mut r.next[..],
            None => &mut [],
        }
    }

    /// Old-table buckets below this index have moved (0 when no resize runs).
    fn rehash_idx(&self) -> usize {
        self.rehash.as_ref().map_or(0, |r| r.idx)
    }

    fn hash(&self, key: &[u8]) -> u64 {
        foldhash::quality::FixedState::with_seed(SEED).hash_one(key)
    }

    /// The bucket of `hash` in a table of `size` buckets.
    fn slot(hash: u64, size: usize) -> usize {
        #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
        let h = hash as usize;
        h & (size - 1)
    }

    /// The longest bucket chain (a hash-quality check for benches and tests).
    pub fn longest_chain(&self) -> usize {
        self.buckets
            .iter()
            .chain(self.next_tab().iter())
            .map(chain_len)
            .max()
            .unwrap_or(0)
    }

    /// Where `key` lives, if present.
    fn find(&self, key: &[u8]) -> Option<Pos> {
        if self.len == 0 {
            return None;
        }
        let h = self.hash(key);
        let tables: [(bool, &Slots<V>); 2] = [(false, &self.buckets[..]), (true, self.next_tab())];
        let moved = self.rehash_idx();
        for (is_next, t) in tables {
            if t.is_empty() {
                continue;
            }
            let i = Self::slot(h, t.len());
            if !is_next && i < moved {
                continue;
            }
            let mut cur = t[i].as_deref();
            let mut depth = 0;
            while let Some(n) = cur {
                if n.key.as_bytes() == key {
                    return Some(Pos {
                        is_next,
                        bucket: i,
                        depth,
                    });
                }
                cur = n.next.as_deref();
                depth += 1;
            }
        }
        None
    }

    /// Where `key` lives, if present: valid for [`Dict::at`] / [`Dict::at_mut`] until the
    /// table next changes. (A read that must update the entry it found then compares the
    /// key once, not once to test and once more to fetch.)
    pub fn position(&self, key: &[u8]) -> Option<Pos> {
        self.find(key)
    }

    /// The value at `pos` (from [`Dict::position`], the table unchanged since).
    pub fn at(&self, pos: Pos) -> Option<&V> {
        let t = if pos.is_next {
            self.next_tab()
        } else {
            &self.buckets[..]
        };
        let mut cur = t.get(pos.bucket)?.as_deref();
        for _ in 0..pos.depth {
            cur = cur?.next.as_deref();
        }
        cur.map(|n| &n.value)
    }

    /// The value at `pos`, for modification (see [`Dict::at`]).
    pub fn at_mut(&mut self, pos: Pos) -> Option<&mut V> {
        let t = if pos.is_next {
            self.next_tab_mut()
        } else {
            &mut self.buckets[..]
        };
        let mut cur = t.get_mut(pos.bucket)?.as_deref_mut();
        for _ in 0..pos.depth {
            cur = cur?.next.as_deref_mut();
        }
        cur.map(|n| &mut n.value)
    }

    /// Bring the table slots, chain heads and values of `keys` into the CPU cache before a
    /// pipelined batch runs, so their cache misses overlap instead of each lookup waiting
    /// for its own (a GET at `-P 16` otherwise spends most of its time stalled on the
    /// bucket, the node and the value, one after the other). Pure reads: every load is
    /// independent of the previous key's, so the processor runs them in parallel; `touch`
    /// reads the first byte a value points to. Changes nothing and is never required.
    pub fn warm<'k>(&self, keys: impl Iterator<Item = &'k [u8]>, touch: impl Fn(&V) -> u8) {
        const MAX: usize = 64;
        if self.len == 0 || self.is_rehashing() {
            return;
        }
        let t = &self.buckets[..];
        let mut slots = [0usize; MAX];
        let mut n = 0;
        for k in keys.take(MAX) {
            slots[n] = Self::slot(self.hash(k), t.len());
            n += 1;
        }
        // Stage 1: the bucket slots (tight loop of independent loads).
        let mut heads: [Option<&Node<V>>; MAX] = [None; MAX];
        for (h, &i) in heads.iter_mut().zip(&slots[..n]) {
            *h = t[i].as_deref();
        }
        // Stage 2: the chain heads; stage 3: what their values point to.
        let mut acc = 0usize;
        for node in heads[..n].iter().flatten() {
            let k = node.key.as_bytes();
            // Both ends: a node can straddle two cache lines.
            let ends = k.first().copied().unwrap_or(0) ^ k.last().copied().unwrap_or(0);
            acc = acc.wrapping_add(usize::from(ends));
        }
        for node in heads[..n].iter().flatten() {
            acc = acc.wrapping_add(usize::from(touch(&node.value)));
        }
        std::hint::black_box(acc);
    }

    /// Look up a key.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let pos = self.find(key)?;
        self.at(pos)
    }

    /// Look up a key for modification.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let pos = self.find(key)?;
        self.at_mut(pos)
    }

    /// True if the key is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Insert or replace; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        self.rehash_some(1);
        if let Some(v) = self.get_mut(key) {
            return Some(std::mem::replace(v, value));
        }
        self.insert_new(key, value);
        None
    }

    /// Insert a key known to be absent.
    fn insert_new(&mut self, key: &[u8], value: V) {
        if self.len >= self.bucket_count() {
            let size = (self.len + 1).next_power_of_two().max(MIN_BUCKETS);
            if self.may_grow(size) {
                if self.is_rehashing() {
                    // Grown past the table being filled: finish the move first (rare:
                    // writes move a bucket each, so a doubling normally completes first).
                    self.rehash_some(usize::MAX);
                }
                self.start_resize(size);
            }
        }
        let h = self.hash(key);
        let t = if self.is_rehashing() {
            self.next_tab_mut()
        } else {
            &mut self.buckets[..]
        };
        let i = Self::slot(h, t.len());
        let next = t[i].take();
        t[i] = Some(Box::new(Node {
            key: Key::new(key),
            value,
            next,
        }));
        self.len += 1;
    }

    /// Get the value for `key`, inserting `make()` first if absent.
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &mut V {
        self.rehash_some(1);
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
        self.rehash_some(1);
        let Pos {
            is_next, bucket: i, ..
        } = self.find(key)?;
        let t = if is_next {
            self.next_tab_mut()
        } else {
            &mut self.buckets[..]
        };
        let mut link = &mut t[i];
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
        let b = self.bucket_count();
        if !self.is_rehashing() && b > MIN_BUCKETS && self.len * 8 < b {
            self.start_resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    /// Allocate the new table and start moving buckets into it (an empty table is resized
    /// at once). The array comes zeroed from the allocator (an empty bucket is a null
    /// pointer): a large one is fresh pages the kernel faults in as the rehash reaches
    /// them, instead of being written whole inside the command that triggered the resize
    /// (64 MiB for an 8M-bucket keyspace: ~25 ms in one SET).
    fn start_resize(&mut self, new_size: usize) {
        let t: Table<V> = bytemuck::zeroed_vec(new_size);
        if self.len == 0 || self.buckets.is_empty() {
            self.clear_tables();
            self.buckets = t;
            return;
        }
        self.rehash = Some(Box::new(Rehash { next: t, idx: 0 }));
    }

    /// Move up to `n` non-empty buckets of the old table to the new one (visiting at most
    /// `EMPTY_VISITS` empty buckets per bucket to move); finishes the resize when the old
    /// table is empty. Returns true if a resize is still in progress.
    pub fn rehash_some(&mut self, n: usize) -> bool {
        let Some(mut r) = self.rehash.take() else {
            return false;
        };
        let mut moves = n;
        let mut empty_budget = n.saturating_mul(EMPTY_VISITS);
        while moves > 0 && r.idx < self.buckets.len() {
            let mut head = self.buckets[r.idx].take();
            if head.is_none() {
                r.idx += 1;
                empty_budget = empty_budget.saturating_sub(1);
                if empty_budget == 0 {
                    break;
                }
                continue;
            }
            let size = r.next.len();
            while let Some(mut node) = head {
                head = node.next.take();
                let i = Self::slot(self.hash(node.key.as_bytes()), size);
                node.next = r.next[i].take();
                r.next[i] = Some(node);
            }
            r.idx += 1;
            moves -= 1;
        }
        if r.idx >= self.buckets.len() {
            self.buckets = std::mem::take(&mut r.next);
            // Deletes during a shrink may call for a smaller table still.
            self.maybe_shrink();
            return self.is_rehashing();
        }
        self.rehash = Some(r);
        true
    }

    fn clear_tables(&mut self) {
        // Unlink chains iteratively so long chains cannot overflow the stack on drop.
        let mut next = self.rehash.take().map(|r| r.next).unwrap_or_default();
        for b in self.buckets.iter_mut().chain(next.iter_mut()) {
            let mut head = b.take();
            while let Some(mut n) = head {
                head = n.next.take();
            }
        }
        self.buckets = Vec::new();
    }

    /// Remove everything and free the buckets.
    pub fn clear(&mut self) {
        self.clear_tables();
        self.len = 0;
    }

    /// Visit one step of a SCAN starting at `cursor`: calls `f` for every element of the
    /// bucket(s) the cursor names and returns the next cursor (0 when the scan is complete).
    /// While rehashing, the cursor's bucket of the smaller table and every bucket of the
    /// larger table it expands to are visited (Redis's dictScan), so the guarantee holds.
    pub fn scan_step(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        let visit = |b: &Option<Box<Node<V>>>, f: &mut dyn FnMut(&[u8], &V)| {
            let mut cur = b.as_deref();
            while let Some(n) = cur {
                f(n.key.as_bytes(), &n.value);
                cur = n.next.as_deref();
            }
        };
        self.scan_plan(cursor, |small, i| {
            let t = if small == self.small_is_next() {
                self.next_tab()
            } else {
                &self.buckets[..]
            };
            visit(&t[i], &mut f);
        })
    }

    /// `scan_step` with mutable access to the values (the snapshot job marks what it took).
    pub fn scan_step_mut(&mut self, cursor: u64, mut f: impl FnMut(&[u8], &mut V)) -> u64 {
        if !self.is_rehashing() {
            // One bucket: no plan to collect (this runs once per bucket of a snapshot walk).
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
            return next_cursor(cursor, mask);
        }
        let small_is_next = self.small_is_next();
        let mut visits = Vec::new();
        let next = self.scan_plan(cursor, |small, i| visits.push((small == small_is_next, i)));
        for (in_next, i) in visits {
            let t = if in_next {
                self.next_tab_mut()
            } else {
                &mut self.buckets[..]
            };
            let mut cur = t[i].as_deref_mut();
            while let Some(n) = cur {
                f(n.key.as_bytes(), &mut n.value);
                cur = n.next.as_deref_mut();
            }
        }
        next
    }

    /// Up to `n` (1 to 64) consecutive `scan_step_mut` steps from `cursor`, their buckets,
    /// chain heads and what `touch` reads from each head's value loaded first, all at once
    /// (as `warm` does), so their cache misses overlap instead of each element waiting for
    /// its own (the snapshot walk: the SCAN order visits buckets far apart). Returns the
    /// cursor after the last step (0 when the scan is complete) and the steps taken. While
    /// rehashing it takes one plain step.
    pub fn scan_steps_mut(
        &mut self,
        cursor: u64,
        n: usize,
        touch: impl Fn(&V) -> u8,
        mut f: impl FnMut(&[u8], &mut V),
    ) -> (u64, usize) {
        const MAX: usize = 64;
        if self.is_rehashing() || self.buckets.is_empty() {
            return (self.scan_step_mut(cursor, f), 1);
        }
        let mask = (self.buckets.len() - 1) as u64;
        let mut slots = [0usize; MAX];
        let mut steps = 0;
        let mut c = cursor;
        while steps < n.clamp(1, MAX) {
            #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
            let i = (c & mask) as usize;
            slots[steps] = i;
            steps += 1;
            c = next_cursor(c, mask);
            if c == 0 {
                break;
            }
        }
        {
            // Stage 1: the bucket slots; stage 2: the chain heads (and their successors'
            // addresses); stage 3: what the heads' values point to and the second nodes.
            let t = &self.buckets[..];
            let mut heads: [Option<&Node<V>>; MAX] = [None; MAX];
            for (h, &i) in heads.iter_mut().zip(&slots[..steps]) {
                *h = t[i].as_deref();
            }
            let mut acc = 0usize;
            for node in heads[..steps].iter().flatten() {
                let k = node.key.as_bytes();
                let ends = k.first().copied().unwrap_or(0) ^ k.last().copied().unwrap_or(0);
                acc = acc.wrapping_add(usize::from(ends));
            }
            for node in heads[..steps].iter().flatten() {
                acc = acc.wrapping_add(usize::from(touch(&node.value)));
                if let Some(second) = node.next.as_deref() {
                    acc = acc.wrapping_add(usize::from(
                        second.key.as_bytes().first().copied().unwrap_or(0),
                    ));
                }
            }
            std::hint::black_box(acc);
        }
        for &i in &slots[..steps] {
            let mut cur = self.buckets[i].as_deref_mut();
            while let Some(node) = cur {
                f(node.key.as_bytes(), &mut node.value);
                cur = node.next.as_deref_mut();
            }
        }
        (c, steps)
    }

    /// While rehashing, whether `next` is the smaller of the two tables (a shrink).
    fn small_is_next(&self) -> bool {
        self.next_tab().len() < self.buckets.len()
    }

    /// The buckets one SCAN step visits, as (in the smaller table?, index), and the next
    /// cursor.
    fn scan_plan(&self, cursor: u64, mut visit: impl FnMut(bool, usize)) -> u64 {
        if !self.is_rehashing() {
            if self.buckets.is_empty() {
                return 0;
            }
            let mask = (self.buckets.len() - 1) as u64;
            #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
            visit(false, (cursor & mask) as usize);
            return next_cursor(cursor, mask);
        }
        let (small, large) = if self.small_is_next() {
            (self.next_tab().len(), self.buckets.len())
        } else {
            (self.buckets.len(), self.next_tab().len())
        };
        let m0 = (small - 1) as u64;
        let m1 = (large - 1) as u64;
        let mut v = cursor;
        #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
        visit(true, (v & m0) as usize);
        loop {
            #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
            visit(false, (v & m1) as usize);
            v = next_cursor(v, m1);
            if v & (m0 ^ m1) == 0 {
                break;
            }
        }
        v
    }

    /// A random element, chosen with the caller's random numbers, as Redis's
    /// `dictGetFairRandomKey`: gather the elements of up to 15 consecutive non-empty
    /// slots from a random bucket on (at most 150 buckets) and pick one of them
    /// uniformly, so an element in a long chain is not less likely than one alone in its
    /// bucket (RANDOMKEY, SRANDMEMBER, SPOP, HRANDFIELD); falls back to
    /// [`Dict::random_bucket_entry`] when the walk found nothing.
    pub fn random_entry(&self, mut rnd: impl FnMut() -> u64) -> Option<(&[u8], &V)> {
        const SAMPLE: usize = 15;
        if self.len == 0 {
            return None;
        }
        // The live slots: the old table's buckets not yet moved, then the new table's.
        let moved = self.rehash_idx();
        let live_old = self.buckets.len() - moved;
        let total = live_old + self.next_tab().len();
        #[expect(clippy::cast_possible_truncation, reason = "below the bucket total")]
        let mut pos = (rnd() % total as u64) as usize;
        let mut picked: Vec<(&[u8], &V)> = Vec::with_capacity(SAMPLE);
        let mut steps = 0;
        while picked.len() < SAMPLE && steps < SAMPLE * 10 && steps < total {
            let b = if pos < live_old {
                self.buckets[moved + pos].as_deref()
            } else {
                self.next_tab()[pos - live_old].as_deref()
            };
            let mut c = b;
            while let Some(x) = c {
                picked.push((x.key.as_bytes(), &x.value));
                c = x.next.as_deref();
            }
            pos = (pos + 1) % total;
            steps += 1;
        }
        if picked.is_empty() {
            return self.random_bucket_entry(rnd);
        }
        #[expect(clippy::cast_possible_truncation, reason = "below the sample size")]
        let i = (rnd() % picked.len() as u64) as usize;
        Some(picked[i])
    }

    /// A uniformly random bucket's element, chosen with the caller's random numbers
    /// (Redis's `dictGetRandomKey`: elements in long chains are picked less often).
    /// Empty buckets are skipped by retrying (the table keeps a fill of at least 1/8).
    pub fn random_bucket_entry(&self, mut rnd: impl FnMut() -> u64) -> Option<(&[u8], &V)> {
        if self.len == 0 {
            return None;
        }
        let total = (self.buckets.len() + self.next_tab().len()) as u64;
        let moved = self.rehash_idx();
        loop {
            #[expect(clippy::cast_possible_truncation, reason = "below the bucket total")]
            let pick = (rnd() % total) as usize;
            let b = if pick < self.buckets.len() {
                if pick < moved {
                    continue;
                }
                self.buckets[pick].as_deref()
            } else {
                self.next_tab()[pick - self.buckets.len()].as_deref()
            };
            let Some(head) = b else { continue };
            let chain = {
                let mut n = 0u64;
                let mut c = Some(head);
                while let Some(x) = c {
                    n += 1;
                    c = x.next.as_deref();
                }
                n
            };
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
        self.buckets
            .iter()
            .chain(self.next_tab().iter())
            .flat_map(|b| {
                let mut cur = b.as_deref();
                std::iter::from_fn(move || {
                    let n = cur?;
                    cur = n.next.as_deref();
                    Some((n.key.as_bytes(), &n.value))
                })
            })
    }

    /// Visit every value, mutably (order unspecified).
    pub fn for_each_value_mut(&mut self, mut f: impl FnMut(&mut V)) {
        let mut visit = |slots: &mut Slots<V>| {
            for b in slots.iter_mut() {
                let mut cur = b.as_deref_mut();
                while let Some(n) = cur {
                    f(&mut n.value);
                    cur = n.next.as_deref_mut();
                }
            }
        };
        visit(&mut self.buckets[..]);
        visit(self.next_tab_mut());
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

    /// `position` + `at`/`at_mut` find what `get` finds, down chains and in either table
    /// while a resize moves buckets; an absent key has no position.
    #[test]
    fn positions_reach_the_same_values_as_get() {
        let mut d = Dict::new();
        for i in 0..2000usize {
            d.insert(format!("k{i}").as_bytes(), i);
            if i % 97 == 0 {
                for j in (0..=i).step_by(13) {
                    let k = format!("k{j}");
                    let pos = d.position(k.as_bytes()).expect("present");
                    assert_eq!(d.at(pos), Some(&j));
                    assert_eq!(d.get(k.as_bytes()), Some(&j));
                }
            }
        }
        assert!(d.position(b"absent").is_none());
        let pos = d.position(b"k1234").expect("present");
        *d.at_mut(pos).expect("value") += 1;
        assert_eq!(d.get(b"k1234"), Some(&1235));
        assert!(d.longest_chain() > 1, "no chain was walked");
    }

    #[test]
    fn warming_reads_only() {
        let mut d = Dict::new();
        let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("key:{i}").into_bytes()).collect();
        // Empty table, then full, present and absent keys, more keys than one pass takes,
        // an empty key and a long one.
        d.warm(keys.iter().map(Vec::as_slice), |_: &usize| 0);
        for (i, k) in keys.iter().enumerate() {
            d.insert(k, i);
        }
        d.insert(&[b'l'; 200], 7);
        // (While a resize is moving buckets warming does nothing; finish it.)
        d.rehash_some(usize::MAX);
        let probe: Vec<&[u8]> = keys
            .iter()
            .map(Vec::as_slice)
            .chain([&b"absent"[..], b"", &[b'l'; 200][..]])
            .collect();
        let mut touched = 0;
        let count = std::cell::Cell::new(0);
        d.warm(probe.iter().copied(), |v| {
            count.set(count.get() + 1);
            u8::try_from(*v % 256).unwrap_or(0)
        });
        touched += count.get();
        assert!(
            touched > 0 && touched <= 64,
            "one pass warms at most 64 keys: {touched}"
        );
        assert_eq!(d.len(), 101);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(d.get(k), Some(&i));
        }
        assert_eq!(d.get(&[b'l'; 200]), Some(&7));
    }

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
        // A keyspace node fills jemalloc's 64-byte class exactly (one byte more and it
        // would take 80): the expiry time lives in `Db::expires`, not in the entry.
        assert_eq!(std::mem::size_of::<Node<crate::db::Entry>>(), 64);
    }

    #[test]
    fn growth_waits_for_room_up_to_the_safe_load_factor() {
        let mut d: Dict<u32> = Dict::new();
        for i in 0..1024u32 {
            d.insert(&i.to_le_bytes(), i);
        }
        while d.is_rehashing() {
            d.rehash_some(usize::MAX);
        }
        assert_eq!(d.bucket_count(), 1024);
        // No room for a 2048-bucket table: it stays at 1024 until 1.618 per bucket.
        d.set_growth_room(Some(100));
        for i in 1024..1657u32 {
            d.insert(&i.to_le_bytes(), i);
            assert_eq!(d.bucket_count(), 1024, "grew at {i}");
        }
        d.insert(&1657u32.to_le_bytes(), 1657);
        assert_eq!(d.bucket_count(), 2048, "forced growth past 1.618");
        // Enough room (or no limit): grows as soon as it is full.
        d.set_growth_room(Some(2048 * 2 * std::mem::size_of::<usize>()));
        for i in 1658..2048u32 {
            d.insert(&i.to_le_bytes(), i);
        }
        assert_eq!(d.bucket_count(), 2048);
        d.insert(&2048u32.to_le_bytes(), 2048);
        assert_eq!(d.bucket_count(), 4096);
        for i in 0..=2048u32 {
            assert_eq!(d.get(&i.to_le_bytes()), Some(&i));
        }
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
        while d.rehash_some(64) {}
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

    /// Incremental rehashing against a model: random inserts, overwrites and removes keep
    /// exactly the model's contents at every point (tables grow and shrink many times),
    /// and SCAN started at any moment returns every key present throughout, while resizes
    /// move buckets between its steps.
    #[test]
    fn incremental_rehash_matches_a_model_and_keeps_the_scan_guarantee() {
        let mut d: Dict<u32> = Dict::new();
        let mut model = std::collections::HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut saw_rehash = 0;
        for round in 0..40u32 {
            // Grow or shrink phases.
            let grow = round % 4 != 3;
            for _ in 0..(if grow { 700 } else { 2000 }) {
                let k = (rnd() % 5000) as u32;
                if grow && rnd() % 3 != 0 {
                    assert_eq!(d.insert(&k.to_le_bytes(), round), model.insert(k, round));
                } else {
                    assert_eq!(d.remove(&k.to_le_bytes()), model.remove(&k));
                }
                saw_rehash += usize::from(d.is_rehashing());
            }
            assert_eq!(d.len(), model.len());
            for (k, v) in &model {
                assert_eq!(d.get(&k.to_le_bytes()), Some(v));
            }
            assert_eq!(d.iter().count(), model.len());
            // A scan with churn between its steps.
            let stable: Vec<u32> = model.keys().copied().filter(|k| k % 2 == 0).collect();
            let mut seen = HashSet::new();
            let mut c = 0;
            loop {
                c = d.scan_step(c, |k, _| {
                    seen.insert(k.to_vec());
                });
                for _ in 0..3 {
                    let k = (rnd() % 5000) as u32 | 1; // odd keys only: the even ones stay
                    if rnd() % 2 == 0 {
                        d.insert(&k.to_le_bytes(), 0);
                        model.insert(k, 0);
                    } else {
                        d.remove(&k.to_le_bytes());
                        model.remove(&k);
                    }
                }
                if c == 0 {
                    break;
                }
            }
            for k in stable {
                assert!(
                    seen.contains(&k.to_le_bytes()[..]),
                    "round {round}: scan missed {k}"
                );
            }
        }
        assert!(
            saw_rehash > 100,
            "rehashing was in progress {saw_rehash} times"
        );
    }

    /// Every element is about equally likely, whatever its chain length: Redis's tests
    /// draw 1000 of 10 set members / hash fields and want a chi-square below 40 (df 9).
    #[test]
    fn random_entry_is_fair() {
        for seed in 1..=20u64 {
            let mut d = Dict::new();
            for i in 0..10u32 {
                d.insert(format!("{i}").as_bytes(), i);
            }
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut rnd = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut counts = [0u32; 10];
            for _ in 0..1000 {
                let (_, v) = d.random_entry(&mut rnd).unwrap();
                counts[*v as usize] += 1;
            }
            let chi: f64 = counts
                .iter()
                .map(|&c| (f64::from(c) - 100.0).powi(2) / 100.0)
                .sum();
            assert!(chi < 40.0, "seed {seed}: chi-square {chi}: {counts:?}");
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

    /// Batched steps visit what single steps visit, in the same order, with the same cursors.
    #[test]
    fn scan_steps_mut_matches_single_steps() {
        for n in [0usize, 1, 3, 50, 1000, 5000] {
            let mut d = Dict::new();
            for i in 0..n {
                d.insert(format!("k{i}").as_bytes(), i);
            }
            let mut single = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = d.scan_step_mut(cursor, |k, _| single.push(k.to_vec()));
                if cursor == 0 {
                    break;
                }
            }
            for batch in [1usize, 7, 32, 64, 100] {
                let mut batched = Vec::new();
                let mut cursor = 0;
                loop {
                    let (next, steps) = d.scan_steps_mut(
                        cursor,
                        batch,
                        |v| *v as u8,
                        |k, v| {
                            batched.push(k.to_vec());
                            *v += 0;
                        },
                    );
                    assert!(steps >= 1 && steps <= batch.clamp(1, 64));
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
                assert_eq!(batched, single, "n {n} batch {batch}");
            }
            assert_eq!(single.len(), n);
        }
    }
}
