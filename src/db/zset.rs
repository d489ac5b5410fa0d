//! The zset type: a Redis sorted set, ordered by (score, member bytes). Two encodings, as
//! Redis 7.0 reports them: `listpack` (a compact sorted `Vec` of (member, score), linear
//! lookups, used while small) and `skiplist` (a member → score `Dict`, which keeps ZSCAN's
//! SCAN guarantee, plus an order-statistic index: an arena treap with subtree sizes, so
//! rank, rank-range and score/lex-range bounds are O(log n) without `unsafe`). Every
//! query here is expressed in ranks: a score or lex bound becomes a rank through
//! [`ZSet::count_before`], and ranges are read or removed by rank. Conversion is one way
//! (listpack → skiplist) as in Redis; the caller passes the thresholds ([`Limits`]).
//! Scores are never NaN (the command layer refuses NaN results). Pure: no RESP, no I/O.
//!
//! Memory: a treap node keeps members of up to 22 bytes inline (no allocation of their
//! own), and the member → node index is chained through the nodes themselves (a `u32`
//! link per node + a `u32` bucket array), so a member's bytes are stored once: 64 bytes
//! (one cache line) per node + 4 per bucket, where a `Dict` entry (48) + a separate node (40) + the
//! member's allocation used to cost 96 or more. The index keeps `Dict`'s SCAN guarantee
//! (power-of-two buckets, reverse-binary cursor) and is resized as `Dict` is: a new table,
//! then one bucket moved per write (ZSCAN visits both tables meanwhile). The node arena
//! grows by chunks, never moving the nodes it has.

use std::cmp::Ordering;

use std::hash::BuildHasher;

use super::shared::Shared;

/// The listpack thresholds in force (`zset-max-listpack-entries` / `-value`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most elements a listpack may hold.
    pub entries: u64,
    /// Longest member a listpack may hold.
    pub value: u64,
}

/// A score as a listpack holds it: Redis stores the text of the score there, and `-0`
/// reads back as the integer 0 (a skiplist keeps the double, sign included).
fn listpack_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// Compare two (score, member) pairs in sorted-set order.
pub fn cmp_pair(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    match s1.partial_cmp(&s2) {
        Some(Ordering::Equal) | None => m1.cmp(m2),
        Some(o) => o,
    }
}

const NIL: u32 = u32::MAX;

/// Members up to this many bytes are stored inside the treap node.
const INLINE: usize = 22;

/// A member as the treap holds it: inline when short, else on the heap. 24 bytes, like
/// the `Box<[u8]>` (16) + allocation (at least 8) it replaces for short members.
#[derive(Clone)]
enum Member {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Default for Member {
    fn default() -> Self {
        Member::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl Member {
    fn new(m: &[u8]) -> Member {
        match u8::try_from(m.len()) {
            Ok(len) if m.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..m.len()].copy_from_slice(m);
                Member::Inline { len, bytes }
            }
            _ => Member::Heap(m.into()),
        }
    }

    /// From an owned member, keeping its allocation if it is too long to inline.
    fn from_box(m: Box<[u8]>) -> Member {
        if m.len() <= INLINE {
            Member::new(&m)
        } else {
            Member::Heap(m)
        }
    }
}

impl std::ops::Deref for Member {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            // `min`: no bounds-check panic path, so the compiler can defer this until the
            // bytes are needed (most comparisons are decided by the score).
            Member::Inline { len, bytes } => &bytes[..usize::from(*len).min(INLINE)],
            Member::Heap(b) => b,
        }
    }
}

/// One treap node in the arena: 64 bytes aligned to 64, so a node is one cache line and
/// a rank descent reads one line per level (56-byte nodes straddled lines, and reading the
/// left child's size cost a second node per level).
#[derive(Clone)]
#[repr(align(64))]
struct Node {
    member: Member,
    score: f64,
    left: u32,
    right: u32,
    size: u32,
    /// Size of the left subtree (`size` of `left`, kept here so a descent that counts
    /// ranks never reads the left child).
    lsize: u32,
    prio: u32,
    /// Next node in the same index bucket.
    next: u32,
    /// The member's index hash (kept: re-indexing then never rehashes a member, and a
    /// lookup compares bytes only on a hash match).
    hash: u32,
}

/// Nodes per arena chunk after the first.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The treap's nodes, addressed by `u32` index, in chunks of `CHUNK` nodes (see the tests'
/// size check for a node): the first chunk grows as a `Vec` does (a small sorted set
/// holds no more than it needs), the others are allocated full size once. So growing never
/// moves the nodes already there: one `Vec` of a million nodes doubled by copying 64 MiB
/// inside one ZADD (33 ms measured at 2^20 members).
#[derive(Clone, Default)]
struct Arena {
    chunks: Vec<Vec<Node>>,
    len: usize,
}

impl Arena {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, n: Node) {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            let cap = if self.chunks.is_empty() { 0 } else { CHUNK };
            self.chunks.push(Vec::with_capacity(cap));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push(n);
            self.len += 1;
        }
    }

    fn pop(&mut self) -> Option<Node> {
        let c = self.chunks.last_mut()?;
        let n = c.pop()?;
        self.len -= 1;
        if c.is_empty() && self.chunks.len() > 1 {
            self.chunks.pop();
        }
        Some(n)
    }

    fn get(&self, i: usize) -> Option<&Node> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK - 1))
    }
}

impl std::ops::Index<u32> for Arena {
    type Output = Node;
    fn index(&self, i: u32) -> &Node {
        let i = idx(i);
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl std::ops::IndexMut<u32> for Arena {
    fn index_mut(&mut self, i: u32) -> &mut Node {
        let i = idx(i);
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

/// An order-statistic treap over (score, member), nodes in an [`Arena`], links as
/// indices, plus the member → node hash index chained through the nodes (`heads[bucket]`
/// then `Node::next`). Removal moves the last node into the freed slot so the arena stays
/// dense.
#[derive(Clone)]
struct Tree {
    nodes: Arena,
    root: u32,
    seed: u64,
    /// First node of each index bucket (NIL if none); a power of two long, or empty.
    /// While `resize` runs: the old table, emptied from the front.
    heads: Vec<u32>,
    /// An index resize in progress (as `Dict`'s rehash: one bucket moved per write).
    resize: Option<Box<IndexResize>>,
}

/// An index resize in progress.
#[derive(Clone)]
struct IndexResize {
    /// The table being filled.
    next: Vec<u32>,
    /// Buckets of `heads` below this have been moved.
    idx: usize,
}

/// Empty buckets a resize step may pass over per bucket it means to move.
const EMPTY_VISITS: usize = 10;

/// Seed of the member index's keyed hash (fixed: ZSCAN cursors stay meaningful).
const INDEX_SEED: u64 = 0x2f5a_0c3d_7e19_b845;

/// Fewest index buckets once there are any.
const MIN_BUCKETS: usize = 4;

/// A member's index hash (keyed, fixed seed).
fn hash32(member: &[u8]) -> u32 {
    let h = foldhash::quality::FixedState::with_seed(INDEX_SEED).hash_one(member);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the index has at most 2^32 buckets"
    )]
    let h = h as u32;
    h
}

/// The SCAN cursor after `cursor` for `mask + 1` buckets (as `Dict`'s).
fn next_cursor(cursor: u64, mask: u64) -> u64 {
    let v = (cursor | !mask).reverse_bits().wrapping_add(1);
    v.reverse_bits()
}

fn idx(i: u32) -> usize {
    i as usize
}

impl Tree {
    fn new() -> Tree {
        Tree {
            nodes: Arena::default(),
            root: NIL,
            seed: 0x2545_f491_4f6c_dd1d,
            heads: Vec::new(),
            resize: None,
        }
    }

    /// Number of elements.
    fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The index bucket of a member with hash `h` in `heads` (the index must have
    /// buckets).
    fn bucket(&self, h: u32) -> usize {
        idx(h) & (self.heads.len() - 1)
    }

    /// Where a member with hash `h` is chained: (in the resize's new table?, bucket).
    fn locate(&self, h: u32) -> (bool, usize) {
        let b = self.bucket(h);
        match &self.resize {
            Some(r) if b < r.idx => (true, idx(h) & (r.next.len() - 1)),
            _ => (false, b),
        }
    }

    fn head(&self, (in_next, b): (bool, usize)) -> u32 {
        match &self.resize {
            Some(r) if in_next => r.next[b],
            _ => self.heads[b],
        }
    }

    fn head_mut(&mut self, (in_next, b): (bool, usize)) -> &mut u32 {
        match &mut self.resize {
            Some(r) if in_next => &mut r.next[b],
            _ => &mut self.heads[b],
        }
    }

    /// Start resizing the index to `size` buckets (a power of two): at once when it is
    /// empty, else bucket by bucket (`resize_step`), finishing a resize still running.
    fn start_resize(&mut self, size: usize) {
        self.resize_step(usize::MAX);
        if self.heads.is_empty() {
            self.reindex(size);
            return;
        }
        self.resize = Some(Box::new(IndexResize {
            next: vec![NIL; size],
            idx: 0,
        }));
    }

    /// Move up to `n` non-empty buckets of the old table to the new one (passing at most
    /// `EMPTY_VISITS` empty ones per bucket to move); the new table takes over once the old
    /// one is empty.
    fn resize_step(&mut self, n: usize) {
        let Some(mut r) = self.resize.take() else {
            return;
        };
        let mask = r.next.len() - 1;
        let mut moves = n;
        let mut empty_budget = n.saturating_mul(EMPTY_VISITS);
        while moves > 0 && r.idx < self.heads.len() {
            let mut t = std::mem::replace(&mut self.heads[r.idx], NIL);
            r.idx += 1;
            if t == NIL {
                empty_budget = empty_budget.saturating_sub(1);
                if empty_budget == 0 {
                    break;
                }
                continue;
            }
            while t != NIL {
                let after = self.nodes[t].next;
                let b = idx(self.nodes[t].hash) & mask;
                self.nodes[t].next = r.next[b];
                r.next[b] = t;
                t = after;
            }
            moves -= 1;
        }
        if r.idx >= self.heads.len() {
            self.heads = std::mem::take(&mut r.next);
            // Removals during a shrink may call for a smaller table still.
            self.shrink_index();
        } else {
            self.resize = Some(r);
        }
    }

    /// The node holding `member`.
    fn find(&self, member: &[u8]) -> Option<u32> {
        if self.heads.is_empty() {
            return None;
        }
        let h = hash32(member);
        let mut t = self.head(self.locate(h));
        while t != NIL {
            let n = &self.nodes[t];
            if n.hash == h && *n.member == *member {
                return Some(t);
            }
            t = n.next;
        }
        None
    }

    /// Rebuild the index with `size` buckets (a power of two, at most 2^32) at once.
    fn reindex(&mut self, size: usize) {
        self.resize = None;
        self.heads = vec![NIL; size];
        for i in 0..self.nodes.len() {
            let i = u32::try_from(i).unwrap_or(NIL);
            let b = self.bucket(self.nodes[i].hash);
            self.nodes[i].next = self.heads[b];
            self.heads[b] = i;
        }
    }

    /// The link (bucket head or a node's `next`) that names node `i`: replace it with `to`.
    fn relink(&mut self, i: u32, to: u32) {
        let at = self.locate(self.nodes[i].hash);
        if self.head(at) == i {
            *self.head_mut(at) = to;
            return;
        }
        let mut t = self.head(at);
        while t != NIL {
            let next = self.nodes[t].next;
            if next == i {
                self.nodes[t].next = to;
                return;
            }
            t = next;
        }
    }

    fn size(&self, t: u32) -> usize {
        if t == NIL {
            0
        } else {
            idx(self.nodes[t].size)
        }
    }

    fn fix(&mut self, t: u32) {
        let n = &self.nodes[t];
        let l = self.size(n.left);
        let s = 1 + l + self.size(n.right);
        let n = &mut self.nodes[t];
        n.size = u32::try_from(s).unwrap_or(u32::MAX);
        n.lsize = u32::try_from(l).unwrap_or(u32::MAX);
    }

    fn next_prio(&mut self) -> u32 {
        // xorshift64*: priorities only need to look random.
        let mut x = self.seed;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.seed = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    fn cmp_node(&self, t: u32, score: f64, member: &[u8]) -> Ordering {
        let n = &self.nodes[t];
        match score.partial_cmp(&n.score) {
            Some(Ordering::Equal) | None => member.cmp(&n.member),
            Some(o) => o,
        }
    }

    /// Split `t` into (< key, > key); the key itself is absent.
    fn split(&mut self, t: u32, score: f64, member: &[u8]) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.cmp_node(t, score, member) == Ordering::Less {
            let (a, b) = self.split(self.nodes[t].left, score, member);
            self.nodes[t].left = b;
            self.fix(t);
            (a, t)
        } else {
            let (a, b) = self.split(self.nodes[t].right, score, member);
            self.nodes[t].right = a;
            self.fix(t);
            (t, b)
        }
    }

    /// Merge two treaps where every key of `a` is below every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a].prio > self.nodes[b].prio {
            let r = self.merge(self.nodes[a].right, b);
            self.nodes[a].right = r;
            self.fix(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b].left);
            self.nodes[b].left = l;
            self.fix(b);
            b
        }
    }

    fn insert_at(&mut self, t: u32, new: u32) -> u32 {
        if t == NIL {
            return new;
        }
        let (score, prio) = (self.nodes[new].score, self.nodes[new].prio);
        if prio > self.nodes[t].prio {
            let member = std::mem::take(&mut self.nodes[new].member);
            let (a, b) = self.split(t, score, &member);
            let n = &mut self.nodes[new];
            n.member = member;
            n.left = a;
            n.right = b;
            self.fix(new);
            return new;
        }
        let less = {
            let n = &self.nodes[new];
            self.cmp_node(t, n.score, &n.member) == Ordering::Less
        };
        if less {
            let l = self.insert_at(self.nodes[t].left, new);
            self.nodes[t].left = l;
        } else {
            let r = self.insert_at(self.nodes[t].right, new);
            self.nodes[t].right = r;
        }
        self.fix(t);
        t
    }

    /// Insert a pair known to be absent.
    fn insert(&mut self, member: Member, score: f64) {
        let prio = self.next_prio();
        let hash = hash32(&member);
        let i = u32::try_from(self.nodes.len()).expect("sorted sets hold fewer than 2^32 elements");
        self.nodes.push(Node {
            member,
            score,
            left: NIL,
            right: NIL,
            size: 1,
            lsize: 0,
            prio,
            next: NIL,
            hash,
        });
        self.root = self.insert_at(self.root, i);
        // Grown at 1.5 elements per bucket.
        if self.heads.is_empty() {
            self.reindex(MIN_BUCKETS);
            return;
        }
        self.resize_step(1);
        if self.resize.is_none() && self.nodes.len() > self.heads.len() / 2 * 3 {
            self.start_resize(self.heads.len() * 2);
        }
        let at = self.locate(hash);
        self.nodes[i].next = self.head(at);
        *self.head_mut(at) = i;
    }

    /// Unlink the node with this key from subtree `t`; returns (new root, unlinked index).
    fn unlink(&mut self, t: u32, score: f64, member: &[u8]) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        match self.cmp_node(t, score, member) {
            Ordering::Equal => {
                let (l, r) = (self.nodes[t].left, self.nodes[t].right);
                (self.merge(l, r), t)
            }
            Ordering::Less => {
                let (l, gone) = self.unlink(self.nodes[t].left, score, member);
                self.nodes[t].left = l;
                self.fix(t);
                (t, gone)
            }
            Ordering::Greater => {
                let (r, gone) = self.unlink(self.nodes[t].right, score, member);
                self.nodes[t].right = r;
                self.fix(t);
                (t, gone)
            }
        }
    }

    /// Remove the pair; returns the stored member. The last arena node moves into the hole.
    fn remove(&mut self, score: f64, member: &[u8]) -> Option<Member> {
        self.resize_step(1);
        let (root, gone) = self.unlink(self.root, score, member);
        self.root = root;
        if gone == NIL {
            return None;
        }
        let after = self.nodes[gone].next;
        self.relink(gone, after);
        let last = u32::try_from(self.nodes.len() - 1).unwrap_or(NIL);
        if gone != last {
            self.relink(last, gone);
            // Re-point the link that names `last` to `gone`, then move the node.
            if self.root == last {
                self.root = gone;
            } else {
                let mut t = self.root;
                let (t, left) = loop {
                    let n = &self.nodes[t];
                    let l = &self.nodes[last];
                    let left = cmp_pair(l.score, &l.member, n.score, &n.member) == Ordering::Less;
                    let child = if left { n.left } else { n.right };
                    if child == last {
                        break (t, left);
                    }
                    t = child;
                };
                let n = &mut self.nodes[t];
                if left {
                    n.left = gone;
                } else {
                    n.right = gone;
                }
            }
            let moved = self.nodes.pop()?;
            let out = std::mem::replace(&mut self.nodes[gone], moved).member;
            self.shrink_index();
            return Some(out);
        }
        let out = self.nodes.pop().map(|n| n.member);
        self.shrink_index();
        out
    }

    /// Halve the index (or more) once under a tenth full, as Redis's dict shrinks.
    fn shrink_index(&mut self) {
        let len = self.nodes.len();
        if self.resize.is_none() && self.heads.len() > MIN_BUCKETS && len * 10 < self.heads.len() {
            self.start_resize(len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    /// One ZSCAN step: the elements of the bucket `cursor` names, and the next cursor.
    fn scan_step(&self, cursor: u64, f: &mut impl FnMut(&[u8], f64)) -> u64 {
        if self.heads.is_empty() {
            return 0;
        }
        let mut visit = |mut t: u32| {
            while t != NIL {
                let n = &self.nodes[t];
                f(&n.member, n.score);
                t = n.next;
            }
        };
        let Some(r) = &self.resize else {
            let mask = (self.heads.len() - 1) as u64;
            #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
            visit(self.heads[(cursor & mask) as usize]);
            return next_cursor(cursor, mask);
        };
        // While resizing: the cursor's bucket of the smaller table and every bucket of the
        // larger one it expands to (as `Dict::scan_step`, Redis's dictScan).
        let (small, large) = if r.next.len() < self.heads.len() {
            (&r.next[..], &self.heads[..])
        } else {
            (&self.heads[..], &r.next[..])
        };
        let m0 = (small.len() - 1) as u64;
        let m1 = (large.len() - 1) as u64;
        #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
        visit(small[(cursor & m0) as usize]);
        let mut v = cursor;
        loop {
            #[expect(clippy::cast_possible_truncation, reason = "masked to the table size")]
            visit(large[(v & m1) as usize]);
            v = next_cursor(v, m1);
            if v & (m0 ^ m1) == 0 {
                break;
            }
        }
        v
    }

    /// Number of elements for which `before` holds (`before` must be true on a prefix).
    fn count_before(&self, before: &impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut t = self.root;
        let mut acc = 0;
        while t != NIL {
            let n = &self.nodes[t];
            if before(n.score, &n.member) {
                acc += idx(n.lsize) + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        acc
    }

    /// Visit ranks `lo..hi` in order: down to rank `lo` once, stacking the nodes still to
    /// visit after their left side, then an in-order walk from there (no recursion: a
    /// range reply visits each node with a push and a pop).
    fn walk<'a>(&'a self, lo: usize, hi: usize, f: &mut impl FnMut(&'a [u8], f64)) {
        // (node, its rank)
        let mut stack: Vec<(u32, usize)> = Vec::with_capacity(64);
        let (mut t, mut base) = (self.root, 0);
        while t != NIL {
            let n = &self.nodes[t];
            let me = base + idx(n.lsize);
            if lo <= me {
                stack.push((t, me));
                t = n.left;
            } else {
                base = me + 1;
                t = n.right;
            }
        }
        while let Some((t, me)) = stack.pop() {
            if me >= hi {
                break;
            }
            let n = &self.nodes[t];
            f(&n.member, n.score);
            let (mut c, base) = (n.right, me + 1);
            while c != NIL {
                let m = &self.nodes[c];
                stack.push((c, base + idx(m.lsize)));
                c = m.left;
            }
        }
    }
}

/// The skiplist encoding: the treap with its member index.
#[derive(Clone)]
struct Big {
    tree: Tree,
}

enum Enc {
    Small(Vec<(Box<[u8]>, f64)>),
    /// Shared with a running snapshot's copy of the set until one of them changes.
    Big(Shared<Big>),
}

/// A Redis sorted set.
pub struct ZSet {
    enc: Enc,
}

impl Default for ZSet {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for ZSet {
    fn clone(&self) -> Self {
        match &self.enc {
            Enc::Small(v) => ZSet {
                enc: Enc::Small(v.clone()),
            },
            Enc::Big(b) => ZSet {
                enc: Enc::Big(b.clone()),
            },
        }
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.to_vec() == other.to_vec()
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Contents only, never the encoding: a replayed set may be encoded differently.
        f.debug_list()
            .entries(
                self.to_vec()
                    .iter()
                    .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), *s)),
            )
            .finish()
    }
}

impl ZSet {
    /// An empty listpack-encoded sorted set.
    pub const fn new() -> Self {
        ZSet {
            enc: Enc::Small(Vec::new()),
        }
    }

    /// An empty skiplist-encoded sorted set.
    pub fn new_big() -> Self {
        ZSet {
            enc: Enc::Big(Shared::new(Big { tree: Tree::new() })),
        }
    }

    /// An empty set in the encoding Redis 7.0 picks for `len` elements whose longest member
    /// is `max_member` bytes (ZRANGESTORE, ZUNIONSTORE…, where the size is known).
    pub fn with_hint(len: usize, max_member: usize, lim: Limits) -> Self {
        if len as u64 > lim.entries || max_member as u64 > lim.value {
            Self::new_big()
        } else {
            Self::new()
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.enc {
            Enc::Small(v) => v.len(),
            Enc::Big(b) => b.tree.len(),
        }
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.enc {
            Enc::Small(_) => "listpack",
            Enc::Big(_) => "skiplist",
        }
    }

    /// Convert to the skiplist encoding (no-op if already there).
    pub fn convert_to_big(&mut self) {
        if let Enc::Small(v) = &mut self.enc {
            let v = std::mem::take(v);
            let mut tree = Tree::new();
            for (m, s) in v {
                tree.insert(Member::from_box(m), s);
            }
            self.enc = Enc::Big(Shared::new(Big { tree }));
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.enc {
            Enc::Small(v) => v.iter().find(|(m, _)| &**m == member).map(|(_, s)| *s),
            Enc::Big(b) => b.tree.find(member).map(|i| b.tree.nodes[i].score),
        }
    }

    /// Insert a member known to be absent, converting first if the thresholds say so
    /// (Redis checks before inserting into a listpack).
    pub fn insert_new(&mut self, member: &[u8], score: f64, lim: Limits) {
        if let Enc::Small(v) = &self.enc {
            if v.len() as u64 + 1 > lim.entries || member.len() as u64 > lim.value {
                self.convert_to_big();
            }
        }
        match &mut self.enc {
            Enc::Small(v) => {
                let score = listpack_score(score);
                let at = v.partition_point(|(m, s)| cmp_pair(*s, m, score, member).is_lt());
                v.insert(at, (member.into(), score));
            }
            Enc::Big(b) => b.tree.insert(Member::new(member), score),
        }
    }

    /// Change the score of a present member (no conversion, as Redis).
    pub fn update(&mut self, member: &[u8], score: f64) {
        match &mut self.enc {
            Enc::Small(v) => {
                if let Some(i) = v.iter().position(|(m, _)| &**m == member) {
                    let score = listpack_score(score);
                    let (m, _) = v.remove(i);
                    let at = v.partition_point(|(m2, s)| cmp_pair(*s, m2, score, member).is_lt());
                    v.insert(at, (m, score));
                }
            }
            Enc::Big(b) => {
                if let Some(i) = b.tree.find(member) {
                    let prev = b.tree.nodes[i].score;
                    if let Some(m) = b.tree.remove(prev, member) {
                        b.tree.insert(m, score);
                    }
                }
            }
        }
    }

    /// Set `member`'s score, inserting it if absent. Returns the previous score.
    pub fn set(&mut self, member: &[u8], score: f64, lim: Limits) -> Option<f64> {
        match self.score(member) {
            Some(old) => {
                if old != score {
                    self.update(member, score);
                }
                Some(old)
            }
            None => {
                self.insert_new(member, score, lim);
                None
            }
        }
    }

    /// Remove `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.enc {
            Enc::Small(v) => {
                let i = v.iter().position(|(m, _)| &**m == member)?;
                Some(v.remove(i).1)
            }
            Enc::Big(b) => {
                let s = b.tree.nodes[b.tree.find(member)?].score;
                b.tree.remove(s, member);
                Some(s)
            }
        }
    }

    /// Cache warming, first step (see `cmd::zset::warm_members`): load `member`'s index
    /// bucket and return what it names (`u32::MAX` when there is nothing to load next).
    pub fn warm_bucket(&self, member: &[u8]) -> u32 {
        match &self.enc {
            Enc::Big(b) if !b.tree.heads.is_empty() => b.tree.head(b.tree.locate(hash32(member))),
            _ => NIL,
        }
    }

    /// Cache warming, second step: load the node `warm_bucket` named (its hash and first
    /// member byte, which a lookup compares first).
    pub fn warm_node(&self, t: u32) -> u8 {
        match &self.enc {
            Enc::Big(b) if t != NIL => b.tree.nodes.get(idx(t)).map_or(0, |n| {
                #[expect(clippy::cast_possible_truncation, reason = "a byte of it is enough")]
                let h = n.hash as u8;
                h ^ n.member.first().copied().unwrap_or(0)
            }),
            _ => 0,
        }
    }

    /// Cache warming for rank lookups (ZRANK/ZREVRANK in a pipelined batch, see
    /// `cmd::zset::warm_members`): follow the root-to-node path of each present member,
    /// every path one level per round, so the cache misses of different paths overlap
    /// (one path alone is a chain of dependent misses, most of a rank's time on a big set).
    /// At most 64 queries; pure reads. Returns a value to keep the loads alive.
    pub fn warm_paths(queries: &[(&ZSet, &[u8])]) -> u64 {
        const MAX: usize = 64;
        let mut trees: [Option<&Tree>; MAX] = [None; MAX];
        let mut goal = [NIL; MAX];
        let mut at = [NIL; MAX];
        let n = queries.len().min(MAX);
        for (i, (z, m)) in queries[..n].iter().enumerate() {
            if let Enc::Big(b) = &z.enc {
                if let Some(t) = b.tree.find(m) {
                    trees[i] = Some(&b.tree);
                    goal[i] = t;
                    at[i] = b.tree.root;
                }
            }
        }
        let mut acc = 0u64;
        loop {
            let mut active = false;
            for i in 0..n {
                let Some(tree) = trees[i] else { continue };
                if at[i] == NIL || at[i] == goal[i] {
                    continue;
                }
                active = true;
                let node = &tree.nodes[at[i]];
                let g = &tree.nodes[goal[i]];
                let left = cmp_pair(g.score, &g.member, node.score, &node.member).is_lt();
                at[i] = if left { node.left } else { node.right };
                acc = acc.wrapping_add(u64::from(node.size));
            }
            if !active {
                return acc;
            }
        }
    }

    /// 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.enc {
            Enc::Small(v) => v.iter().position(|(m, _)| &**m == member),
            Enc::Big(b) => {
                let s = b.tree.nodes[b.tree.find(member)?].score;
                Some(
                    b.tree
                        .count_before(&|s2, m2| cmp_pair(s2, m2, s, member).is_lt()),
                )
            }
        }
    }

    /// Number of leading elements (in order) for which `before(score, member)` holds;
    /// `before` must hold on a prefix of the order (a range's lower or upper bound).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.enc {
            Enc::Small(v) => v.partition_point(|(m, s)| before(*s, m)),
            Enc::Big(b) => b.tree.count_before(&before),
        }
    }

    /// Visit ranks `lo..hi` (clamped) ascending, or descending when `rev`.
    pub fn range(&self, lo: usize, hi: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let hi = hi.min(self.len());
        if lo >= hi {
            return;
        }
        match &self.enc {
            Enc::Small(v) => {
                let part = &v[lo..hi];
                if rev {
                    part.iter().rev().for_each(|(m, s)| f(m, *s));
                } else {
                    part.iter().for_each(|(m, s)| f(m, *s));
                }
            }
            Enc::Big(b) => {
                if rev {
                    let mut tmp: Vec<(&[u8], f64)> = Vec::with_capacity(hi - lo);
                    b.tree.walk(lo, hi, &mut |m, s| tmp.push((m, s)));
                    for (m, s) in tmp.into_iter().rev() {
                        f(m, s);
                    }
                } else {
                    b.tree.walk(lo, hi, &mut |m, s| f(m, s));
                }
            }
        }
    }

    /// Ranks `lo..hi` (clamped) as owned pairs, ascending or descending.
    pub fn range_vec(&self, lo: usize, hi: usize, rev: bool) -> Vec<(Box<[u8]>, f64)> {
        let mut out = Vec::new();
        self.range(lo, hi, rev, |m, s| out.push((m.into(), s)));
        out
    }

    /// Every element in order.
    pub fn to_vec(&self) -> Vec<(Box<[u8]>, f64)> {
        self.range_vec(0, self.len(), false)
    }

    /// Visit every element in order.
    pub fn for_each(&self, f: impl FnMut(&[u8], f64)) {
        self.range(0, self.len(), false, f);
    }

    /// Remove ranks `lo..hi` (clamped); returns the removed pairs in ascending order.
    pub fn remove_range(&mut self, lo: usize, hi: usize) -> Vec<(Box<[u8]>, f64)> {
        let hi = hi.min(self.len());
        if lo >= hi {
            return Vec::new();
        }
        match &mut self.enc {
            Enc::Small(v) => v.drain(lo..hi).collect(),
            Enc::Big(_) => {
                let gone = self.range_vec(lo, hi, false);
                if let Enc::Big(b) = &mut self.enc {
                    for (m, s) in &gone {
                        b.tree.remove(*s, m);
                    }
                }
                gone
            }
        }
    }

    /// The element at ascending rank `i`.
    pub fn at(&self, i: usize) -> Option<(Box<[u8]>, f64)> {
        self.range_vec(i, i + 1, false).pop()
    }

    /// One ZSCAN step: calls `f` for the elements the cursor names, returns the next cursor.
    /// A listpack is returned whole with cursor 0, as Redis does.
    pub fn scan_step(&self, cursor: u64, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.enc {
            Enc::Small(v) => {
                v.iter().for_each(|(m, s)| f(m, *s));
                0
            }
            Enc::Big(b) => b.tree.scan_step(cursor, &mut f),
        }
    }

    /// True for the skiplist encoding (ZSCAN then honours the cursor).
    pub fn is_big(&self) -> bool {
        matches!(self.enc, Enc::Big(_))
    }

    /// Longest member length (for the encoding of a stored result).
    pub fn max_member_len(&self) -> usize {
        let mut n = 0;
        self.for_each(|m, _| n = n.max(m.len()));
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        entries: 4,
        value: 8,
    };

    fn members(z: &ZSet) -> Vec<String> {
        z.to_vec()
            .iter()
            .map(|(m, s)| format!("{}={s}", String::from_utf8_lossy(m)))
            .collect()
    }

    #[test]
    fn small_converts_by_count_and_length() {
        let mut z = ZSet::new();
        for (i, m) in ["d", "c", "b", "a"].iter().enumerate() {
            z.set(m.as_bytes(), i as f64, LIM);
        }
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(members(&z), ["d=0", "c=1", "b=2", "a=3"]);
        z.set(b"e", 1.0, LIM);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(members(&z), ["d=0", "c=1", "e=1", "b=2", "a=3"]);
        let mut y = ZSet::new();
        y.set(b"123456789", 0.0, LIM);
        assert_eq!(y.encoding(), "skiplist");
    }

    /// Across arena chunk boundaries (`CHUNK` nodes each after the first): every member
    /// keeps its score and rank while the set grows past several chunks and shrinks back
    /// (removals move the last node into the freed slot, emptying chunks from the end).
    #[test]
    fn chunked_arena_keeps_every_member() {
        let mut z = ZSet::new_big();
        let n = 3 * CHUNK + 7;
        let member = |i: usize| format!("member:{i}");
        for i in 0..n {
            z.set(member(i).as_bytes(), (i % 1000) as f64, LIM);
        }
        let check = |z: &ZSet, live: &dyn Fn(usize) -> bool| {
            let want: Vec<(Box<[u8]>, f64)> = {
                let mut v: Vec<(Box<[u8]>, f64)> = (0..n)
                    .filter(|&i| live(i))
                    .map(|i| (member(i).into_bytes().into(), (i % 1000) as f64))
                    .collect();
                v.sort_by(|a, b| cmp_pair(a.1, &a.0, b.1, &b.0));
                v
            };
            assert_eq!(z.to_vec(), want);
            for (rank, (m, score)) in want.iter().enumerate() {
                assert_eq!((z.rank(m), z.score(m)), (Some(rank), Some(*score)));
            }
        };
        check(&z, &|_| true);
        check_index(&z);
        for i in (0..n).filter(|i| i % 3 != 0) {
            assert_eq!(z.remove(member(i).as_bytes()), Some((i % 1000) as f64));
        }
        check(&z, &|i| i % 3 == 0);
        check_index(&z);
        assert_eq!(z.len(), n.div_ceil(3));
    }

    #[test]
    fn nodes_stay_small() {
        // Inline member (24) + score + links, sizes, priority, index link and hash: one
        // cache line.
        assert_eq!(std::mem::size_of::<Member>(), 24);
        assert_eq!(std::mem::size_of::<Node>(), 64);
        assert_eq!(std::mem::align_of::<Node>(), 64);
        assert_eq!(&*Member::new(&[7; INLINE]), &[7; INLINE]);
        assert!(matches!(Member::new(&[7; INLINE + 1]), Member::Heap(_)));
        assert!(matches!(
            Member::from_box(b"ab"[..].into()),
            Member::Inline { .. }
        ));
    }

    /// Every node reachable from exactly one bucket, and found by its member; subtree
    /// sizes consistent.
    fn check_index(z: &ZSet) {
        let Enc::Big(b) = &z.enc else { return };
        let t = &b.tree;
        let mut seen = 0;
        let tables = [
            (false, &t.heads),
            (
                true,
                &t.resize.as_ref().map_or(Vec::new(), |r| r.next.clone()),
            ),
        ];
        for (in_next, heads) in tables {
            for (bucket, &h) in heads.iter().enumerate() {
                let mut i = h;
                while i != NIL {
                    assert_eq!(t.nodes[i].hash, hash32(&t.nodes[i].member));
                    assert_eq!(t.locate(t.nodes[i].hash), (in_next, bucket));
                    seen += 1;
                    i = t.nodes[i].next;
                }
            }
        }
        assert_eq!(seen, t.len());
        for i in 0..t.len() {
            let i = u32::try_from(i).unwrap();
            assert_eq!(t.find(&t.nodes[i].member), Some(i));
            let n = &t.nodes[i];
            assert_eq!(idx(n.lsize), t.size(n.left));
            assert_eq!(idx(n.size), 1 + t.size(n.left) + t.size(n.right));
        }
        let buckets = t
            .resize
            .as_ref()
            .map_or(t.heads.len(), |r| r.next.len().max(t.heads.len()));
        assert!(buckets / 2 * 3 >= t.len());
    }

    #[test]
    fn scan_returns_everything_across_growth_and_shrinking() {
        let mut z = ZSet::new_big();
        for i in 0..100 {
            z.set(format!("m{i}").as_bytes(), f64::from(i), LIM);
        }
        check_index(&z);
        // Scan while the set grows 40x, then while it shrinks back (the index shrinks
        // mid-scan): everything present for the whole scan is returned.
        for grow in [true, false] {
            let mut seen = std::collections::HashSet::new();
            let mut c = 0;
            let mut step = 0;
            loop {
                c = z.scan_step(c, |m, _| {
                    seen.insert(m.to_vec());
                });
                step += 1;
                if grow && z.len() < 4000 {
                    for j in 0..50 {
                        let k = 1000 + step * 50 + j;
                        z.set(format!("n{k}").as_bytes(), 0.5, LIM);
                    }
                }
                if !grow {
                    let rm: Vec<_> = z.range_vec(0, z.len(), false);
                    for (m, _) in rm.iter().filter(|(m, _)| m[0] == b'n').take(200) {
                        z.remove(m);
                    }
                }
                if c == 0 {
                    break;
                }
            }
            for i in 0..100 {
                assert!(seen.contains(format!("m{i}").as_bytes()), "m{i} missed");
            }
            check_index(&z);
        }
        assert_eq!(z.len(), 100);
        let Enc::Big(b) = &z.enc else { panic!() };
        // Shrunk mid-scan from 4096 buckets (at 409 elements, under a tenth full); the
        // table in force is the resize's target while it moves buckets.
        let in_force = |t: &Tree| t.resize.as_ref().map_or(t.heads.len(), |r| r.next.len());
        assert_eq!(in_force(&b.tree), 512);
        for i in 50..100 {
            assert!(z.remove(format!("m{i}").as_bytes()).is_some());
        }
        check_index(&z);
        // (The shrink to 512 is still moving buckets, one per write: let it finish.)
        if let Enc::Big(b) = &mut z.enc {
            b.tree.resize_step(usize::MAX);
        }
        check_index(&z);
        let Enc::Big(b) = &z.enc else { panic!() };
        // Under a tenth full: shrunk to the next power of two of 50.
        assert_eq!(in_force(&b.tree), 64);
    }

    /// The treap against a sorted Vec model under random operations.
    #[test]
    fn big_matches_model() {
        let mut z = ZSet::new_big();
        let mut model: Vec<(Box<[u8]>, f64)> = Vec::new();
        let mut seed = 12345u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..4000 {
            let r = rnd() % 300;
            // Every fifth member is too long to inline in a treap node.
            let m = if r % 5 == 0 {
                format!("m{r}-a-member-longer-than-the-inline-limit")
            } else {
                format!("m{r}")
            }
            .into_bytes();
            let s = (rnd() % 50) as f64;
            if rnd() % 3 == 0 {
                let a = z.remove(&m);
                let b = model
                    .iter()
                    .position(|(x, _)| **x == *m)
                    .map(|i| model.remove(i).1);
                assert_eq!(a, b);
            } else {
                z.set(&m, s, LIM);
                model.retain(|(x, _)| **x != *m);
                let at = model.partition_point(|(x, y)| cmp_pair(*y, x, s, &m).is_lt());
                model.insert(at, (m.clone().into(), s));
            }
            if step % 97 == 0 {
                check_index(&z);
                assert_eq!(z.to_vec(), model);
                for (m, s) in &model {
                    assert_eq!(z.score(m), Some(*s));
                }
                for (i, (m, _)) in model.iter().enumerate() {
                    assert_eq!(z.rank(m), Some(i));
                }
                let lo = z.count_before(|s, _| s < 10.0);
                assert_eq!(lo, model.iter().filter(|(_, s)| *s < 10.0).count());
                let r = z.range_vec(3, 9, true);
                let mut want: Vec<_> = model.iter().skip(3).take(6).cloned().collect();
                want.reverse();
                assert_eq!(r, want);
            }
        }
        let gone = z.remove_range(2, 40);
        let want: Vec<_> = model.drain(2..40).collect();
        assert_eq!(gone, want);
        assert_eq!(z.to_vec(), model);
        assert_eq!(z.clone(), z);
    }

    /// Warming walks end for present, absent and small-set queries and change nothing.
    #[test]
    fn warming_reads_only() {
        let mut a = ZSet::new_big();
        let mut b = ZSet::new_big();
        for i in 0..5000 {
            a.set(format!("m{i}").as_bytes(), f64::from(i % 7), LIM);
            b.set(format!("n{i}").as_bytes(), f64::from(i), LIM);
        }
        let small = ZSet::new();
        let (a0, b0) = (a.to_vec(), b.to_vec());
        let q: Vec<(&ZSet, &[u8])> = vec![
            (&a, b"m17"),
            (&b, b"n4999"),
            (&a, b"absent"),
            (&small, b"m1"),
            (&b, b"n0"),
        ];
        let _ = ZSet::warm_paths(&q);
        for (z, m) in &q {
            let _ = z.warm_node(z.warm_bucket(m));
        }
        assert_eq!((a.to_vec(), b.to_vec()), (a0, b0));
    }

    /// Timing of rank lookups on a 1M-member set (run by hand, release:
    /// `cargo test --release --lib db::zset::tests::rank_timing -- --ignored --nocapture`).
    #[test]
    #[ignore = "timing, by hand"]
    fn rank_timing() {
        let n = 1_000_000u32;
        let mut z = ZSet::new_big();
        for j in 0..n {
            z.set(format!("member:{j:012}").as_bytes(), f64::from(j), LIM);
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let keys: Vec<Vec<u8>> = (0..200_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("member:{:012}", seed % u64::from(n)).into_bytes()
            })
            .collect();
        for round in 0..3 {
            let t = std::time::Instant::now();
            let mut acc = 0usize;
            for k in &keys {
                acc += z.rank(k).unwrap_or(0);
            }
            let hit = t.elapsed().as_nanos() / keys.len() as u128;
            let t = std::time::Instant::now();
            for k in &keys {
                acc += usize::from(z.score(&k[1..]).is_some());
            }
            let miss = t.elapsed().as_nanos() / keys.len() as u128;
            println!("round {round}: rank hit {hit} ns, lookup miss {miss} ns ({acc})");
        }
    }
}
