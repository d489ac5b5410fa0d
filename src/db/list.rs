//! The list type: a Redis list, an ordered sequence of binary-safe elements with O(1)
//! push and pop at both ends. Redis 7.0 stores every list as a quicklist and OBJECT
//! ENCODING always reports `quicklist`, so there is one representation and no conversion:
//! a deque of nodes, each a packed run of elements (length header, bytes, back-length
//! trailer: 2 bytes of framing per element under 127 bytes, as a listpack string entry),
//! nodes capped by `list-max-listpack-size` as Redis caps its listpacks. Owns the
//! element-level semantics the list commands share (index normalisation, ranges, LREM,
//! LTRIM, LPOS scans); the command layer (`cmd/list.rs`) uses only this file's API.
//! Equality and `Debug` look at the elements only, never at the node layout (a replayed
//! list may be split differently). No RESP, no keyspace access.

use std::collections::VecDeque;

use super::shared::Shared;

/// Which end of a list an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (index 0): LPUSH, LPOP, LEFT.
    Left,
    /// The tail (index len-1): RPUSH, RPOP, RIGHT.
    Right,
}

/// Most free room a node's regrow leaves in front of its elements (it is zero-filled).
const FRONT_ROOM_MAX: usize = 4096;

/// Per-node size cap Redis uses under `list-max-listpack-size` > 0 (SIZE_SAFETY_LIMIT).
const SAFETY_BYTES: usize = 8192;

/// Bytes `v` takes once encoded: LEB128 length header, the bytes, a back-length trailer.
fn encoded_len(n: usize) -> usize {
    let total = leb_len(n) + n;
    total + leb_len(total)
}

/// Bytes of a LEB128 encoding of `n` (7 bits per byte).
fn leb_len(mut n: usize) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

/// The allocation jemalloc (the global allocator) makes for a request of `n` bytes: its
/// size classes are 8, then multiples of 16 up to 128, then four per doubling. A buffer
/// grown to its class uses bytes that were allocated anyway, and needs no reallocation
/// until the class is full (a listpack reallocs on every insert; that cost showed in
/// LPUSH/RPUSH profiles).
fn alloc_class(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return (n + 15) & !15;
    }
    // 2^k < n <= 2^(k+1): classes every 2^(k-2).
    let k = usize::BITS - 1 - (n - 1).leading_zeros();
    let spacing = 1usize << (k - 2);
    n.checked_next_multiple_of(spacing).unwrap_or(n)
}

/// Make room for `extra` more bytes at the end of `buf`, growing to a size class.
fn reserve_class(buf: &mut Vec<u8>, extra: usize) {
    let need = buf.len() + extra;
    if buf.capacity() < need {
        buf.reserve_exact(alloc_class(need) - buf.len());
    }
}

/// Write the encoding of `v` into `out`, which is exactly `encoded_len(v.len())` long.
fn encode_at(out: &mut [u8], v: &[u8]) {
    let mut n = v.len();
    let header = leb_len(n);
    let mut p = 0;
    while n >= 0x80 {
        out[p] = 0x80 | (n & 0x7f) as u8;
        n >>= 7;
        p += 1;
    }
    out[p] = n as u8;
    p += 1;
    out[p..p + v.len()].copy_from_slice(v);
    p += v.len();
    // Back-length of header + data, readable right to left: the rightmost byte holds the
    // low 7 bits, a set high bit means more bytes follow to the left.
    let total = header + v.len();
    let k = leb_len(total);
    for i in (0..k).rev() {
        let group = ((total >> (7 * i)) & 0x7f) as u8;
        out[p] = if i == k - 1 { group } else { group | 0x80 };
        p += 1;
    }
}

/// Append the encoding of `v` to `out` (growing it to a size class when full).
fn encode_into(out: &mut Vec<u8>, v: &[u8]) {
    let k = encoded_len(v.len());
    reserve_class(out, k);
    let at = out.len();
    out.resize(at + k, 0);
    encode_at(&mut out[at..], v);
}

/// One quicklist node: a packed run of encoded elements in `buf[start..]`. `buf[..start]`
/// is free room left by pops from the front or by growth for pushes at the front, so an
/// LPUSH writes into it instead of moving the whole node (a listpack memmoves its bytes
/// on every insert at the head). The room never exceeds what the allocator's size class
/// or the shrink rule (`Node::shrink`) already allows at the end of a buffer.
#[derive(Clone, Default)]
struct Node {
    buf: Vec<u8>,
    start: u32,
    count: u32,
}

/// Iterator over a node's elements, both ways.
struct NodeIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (s, e, next) = Node::entry_at(self.buf, self.front);
        self.front = next;
        Some(&self.buf[s..e])
    }
}

impl DoubleEndedIterator for NodeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let start = Node::entry_before(self.buf, self.back);
        let (s, e, _) = Node::entry_at(self.buf, start);
        self.back = start;
        Some(&self.buf[s..e])
    }
}

impl Node {
    /// Element starting at `off`: (data start, data end, next entry offset).
    fn entry_at(buf: &[u8], off: usize) -> (usize, usize, usize) {
        let first = buf[off];
        if first < 0x80 {
            // Elements under 128 bytes (nearly all): a one-byte header, and a one-byte
            // back-length unless header + data reach 128.
            let n = usize::from(first);
            let back = if n < 127 { 1 } else { 2 };
            return (off + 1, off + 1 + n, off + 1 + n + back);
        }
        let mut n = 0usize;
        let mut shift = 0;
        let mut p = off;
        loop {
            let b = buf[p];
            p += 1;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let total = p - off + n;
        (p, p + n, off + total + leb_len(total))
    }

    /// Offset of the element that ends at `end`.
    fn entry_before(buf: &[u8], end: usize) -> usize {
        let mut total = 0usize;
        let mut shift = 0;
        let mut p = end;
        loop {
            p -= 1;
            let b = buf[p];
            total |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        p - total
    }

    /// The encoded elements (offsets below are relative to this).
    fn data(&self) -> &[u8] {
        &self.buf[self.start as usize..]
    }

    /// Bytes the encoded elements take.
    fn bytes(&self) -> usize {
        self.buf.len() - self.start as usize
    }

    /// Elements now start at `buf[s]`, the bytes before it are free room.
    fn set_start(&mut self, s: usize) {
        match u32::try_from(s) {
            Ok(v) => self.start = v,
            Err(_) => {
                self.buf.drain(..s);
                self.start = 0;
            }
        }
    }

    /// Drop the free room at the front (before an edit that works on `buf` directly).
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start as usize);
            self.start = 0;
        }
    }

    fn iter(&self) -> NodeIter<'_> {
        let buf = self.data();
        NodeIter {
            buf,
            front: 0,
            back: buf.len(),
        }
    }

    fn len(&self) -> usize {
        self.count as usize
    }

    /// Byte offset of element `i` in `data()` (`i == count` → its end).
    fn offset(&self, i: usize) -> usize {
        let n = self.len();
        let buf = self.data();
        if i >= n {
            return buf.len();
        }
        if i <= n / 2 {
            let mut off = 0;
            for _ in 0..i {
                off = Self::entry_at(buf, off).2;
            }
            off
        } else {
            let mut off = buf.len();
            for _ in i..n {
                off = Self::entry_before(buf, off);
            }
            off
        }
    }

    fn get(&self, i: usize) -> &[u8] {
        let buf = self.data();
        let (s, e, _) = Self::entry_at(buf, self.offset(i));
        &buf[s..e]
    }

    /// Add `v` before the first element: into the free room at the front, or, when that is
    /// too small, into a new buffer of the next size class with the spare bytes in front.
    fn push_front(&mut self, v: &[u8]) {
        let k = encoded_len(v.len());
        let mut s = self.start as usize;
        if s < k {
            let len = self.bytes();
            // The size class's spare bytes go in front, up to a page: a node of one big
            // element gets no zero-filled room it would never use.
            let spare = (alloc_class(len + k) - len - k).min(FRONT_ROOM_MAX);
            let total = len + k + spare;
            let gap = k + spare;
            let mut nb = Vec::with_capacity(total);
            nb.resize(gap, 0);
            nb.extend_from_slice(&self.buf[s..]);
            self.buf = nb;
            s = gap;
        }
        encode_at(&mut self.buf[s - k..s], v);
        self.set_start(s - k);
        self.count += 1;
    }

    /// Add `v` after the last element.
    fn push_back(&mut self, v: &[u8]) {
        let k = encoded_len(v.len());
        if self.start > 0 && self.buf.capacity() - self.buf.len() < k {
            // Growing anyway: give the front room back rather than carry it along.
            self.compact();
        }
        encode_into(&mut self.buf, v);
        self.count += 1;
    }

    /// Open `k` bytes at `off` in `buf` (no front room), for an encoding written there.
    fn open_gap(&mut self, off: usize, k: usize) {
        reserve_class(&mut self.buf, k);
        let old = self.buf.len();
        self.buf.resize(old + k, 0);
        self.buf.copy_within(off..old, off + k);
    }

    fn insert(&mut self, i: usize, v: &[u8]) {
        if i == 0 {
            return self.push_front(v);
        }
        self.compact();
        let off = self.offset(i);
        let k = encoded_len(v.len());
        self.open_gap(off, k);
        encode_at(&mut self.buf[off..off + k], v);
        self.count += 1;
    }

    fn replace(&mut self, i: usize, v: &[u8]) {
        self.compact();
        let off = self.offset(i);
        let (_, _, next) = Self::entry_at(&self.buf, off);
        let k = encoded_len(v.len());
        let old = next - off;
        if k > old {
            self.open_gap(next, k - old);
        } else if k < old {
            self.buf.copy_within(next.., off + k);
            self.buf.truncate(self.buf.len() - (old - k));
        }
        encode_at(&mut self.buf[off..off + k], v);
        self.shrink();
    }

    /// Give back capacity once the buffer shrank well below it (Redis reallocs listpacks
    /// on every delete; this keeps the slack, front room included, bounded at amortised
    /// O(1)).
    fn shrink(&mut self) {
        if self.buf.capacity() > self.bytes() * 2 + 64 {
            self.compact();
            self.buf.shrink_to_fit();
        }
    }

    /// Remove the first element, handing its bytes to `f`.
    fn pop_front_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if self.count == 0 {
            return None;
        }
        let buf = self.data();
        let (s, e, next) = Self::entry_at(buf, 0);
        let r = f(&buf[s..e]);
        self.count -= 1;
        self.set_start(self.start as usize + next);
        self.shrink();
        Some(r)
    }

    /// Remove the last element, handing its bytes to `f`.
    fn pop_back_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if self.count == 0 {
            return None;
        }
        let buf = self.data();
        let at = Self::entry_before(buf, buf.len());
        let (s, e, _) = Self::entry_at(buf, at);
        let r = f(&buf[s..e]);
        self.buf.truncate(self.start as usize + at);
        self.count -= 1;
        self.shrink();
        Some(r)
    }

    /// Split off elements `i..` into a new node.
    fn split_off(&mut self, i: usize) -> Node {
        self.compact();
        let off = self.offset(i);
        let tail = Node {
            buf: self.buf.split_off(off),
            start: 0,
            count: self.count - i as u32,
        };
        self.count = i as u32;
        self.buf.shrink_to_fit();
        tail
    }

    /// Drop the first `k` elements.
    fn drop_front(&mut self, k: usize) {
        let off = self.offset(k);
        self.set_start(self.start as usize + off);
        self.count -= k as u32;
        self.shrink();
    }

    /// Keep only the first `k` elements.
    fn keep_front(&mut self, k: usize) {
        let off = self.offset(k);
        self.buf.truncate(self.start as usize + off);
        self.count = k as u32;
        self.shrink();
    }

    /// True if `extra` more encoded bytes fit under the fill policy.
    fn fits(&self, extra: usize, fill: i64) -> bool {
        let size = self.bytes() + extra;
        if fill > 0 {
            (self.count as i64) < fill && size <= SAFETY_BYTES
        } else if fill == 0 {
            self.count == 0
        } else {
            size <= limit_bytes(fill)
        }
    }

    /// True if the node is over its fill policy (and could be split).
    fn over(&self, fill: i64) -> bool {
        if self.count <= 1 {
            return false;
        }
        if fill > 0 {
            (self.count as i64) > fill || self.bytes() > SAFETY_BYTES
        } else if fill == 0 {
            true
        } else {
            self.bytes() > limit_bytes(fill)
        }
    }
}

/// Node byte cap for a negative `list-max-listpack-size`: -1 4 KB … -5 64 KB.
fn limit_bytes(fill: i64) -> usize {
    let level = fill.unsigned_abs().clamp(1, 5) as u32;
    4096usize << (level - 1)
}

/// A Redis list: a quicklist, i.e. a deque of nodes, each a packed run of elements
/// (length-prefixed bytes with a back-length so both ends pop in O(1)), capped by
/// `list-max-listpack-size` as in Redis. Per element this costs 2 bytes of framing for
/// elements under 127 bytes, as a listpack string entry does.
///
/// Nodes are `Shared`: a clone of a list (a running snapshot's) costs a reference per
/// node, and a write copies only the node it changes while the snapshot holds it.
#[derive(Clone, Default)]
pub struct List {
    nodes: VecDeque<Shared<Node>>,
    len: usize,
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Lists compare by their elements, whatever their node layout.
impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl List {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoding OBJECT ENCODING reports (Redis 7.0: always `quicklist`).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Add `v` at `end`; `fill` is `list-max-listpack-size`.
    pub fn push(&mut self, end: End, v: &[u8], fill: i64) {
        let extra = encoded_len(v.len());
        let node = match end {
            End::Left => self.nodes.front_mut(),
            End::Right => self.nodes.back_mut(),
        };
        match node {
            Some(n) if n.fits(extra, fill) => match end {
                End::Left => n.push_front(v),
                End::Right => n.push_back(v),
            },
            _ => {
                let mut n = Node::default();
                match end {
                    End::Left => {
                        n.push_front(v);
                        self.nodes.push_front(Shared::new(n));
                    }
                    End::Right => {
                        n.push_back(v);
                        self.nodes.push_back(Shared::new(n));
                    }
                }
            }
        }
        self.len += 1;
    }

    /// Remove and return the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Box<[u8]>> {
        self.pop_with(end, |v| Box::from(v))
    }

    /// Remove the element at `end`, handing its bytes to `f` (no copy of its own).
    pub fn pop_with<R>(&mut self, end: End, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let r = match end {
            End::Left => {
                let n = self.nodes.front_mut()?;
                let r = n.pop_front_with(f);
                if n.count == 0 {
                    self.nodes.pop_front();
                }
                r
            }
            End::Right => {
                let n = self.nodes.back_mut()?;
                let r = n.pop_back_with(f);
                if n.count == 0 {
                    self.nodes.pop_back();
                }
                r
            }
        }?;
        self.len -= 1;
        Some(r)
    }

    /// (node, index in node) of element `i < len`, walking from the nearer end.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut i = i;
            for (k, n) in self.nodes.iter().enumerate() {
                if i < n.len() {
                    return (k, i);
                }
                i -= n.len();
            }
        } else {
            let mut back = self.len - i; // 1-based from the tail
            for (k, n) in self.nodes.iter().enumerate().rev() {
                if back <= n.len() {
                    return (k, n.len() - back);
                }
                back -= n.len();
            }
        }
        (self.nodes.len(), 0)
    }

    /// The element at position `i` (0 = head).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (k, j) = self.locate(i);
        Some(self.nodes[k].get(j))
    }

    /// Replace the element at `i`; false if out of range.
    pub fn set(&mut self, i: usize, v: &[u8], fill: i64) -> bool {
        if i >= self.len {
            return false;
        }
        let (k, j) = self.locate(i);
        self.nodes[k].replace(j, v);
        self.split_if_over(k, fill);
        true
    }

    /// Insert `v` so that it ends up at position `i` (`i <= len`).
    pub fn insert(&mut self, i: usize, v: &[u8], fill: i64) {
        if i == 0 {
            return self.push(End::Left, v, fill);
        }
        if i >= self.len {
            return self.push(End::Right, v, fill);
        }
        let (k, j) = self.locate(i);
        let extra = encoded_len(v.len());
        // At a node boundary, append to the previous node if it has room.
        if j == 0 && self.nodes[k - 1].fits(extra, fill) {
            self.nodes[k - 1].push_back(v);
        } else {
            self.nodes[k].insert(j, v);
            self.split_if_over(k, fill);
        }
        self.len += 1;
    }

    fn split_if_over(&mut self, k: usize, fill: i64) {
        if self.nodes[k].over(fill) {
            let half = self.nodes[k].len() / 2;
            let tail = self.nodes[k].split_off(half);
            self.nodes.insert(k + 1, Shared::new(tail));
        }
    }

    /// Position of the first element equal to `v`, from the head.
    pub fn position(&self, v: &[u8]) -> Option<usize> {
        self.iter().position(|e| e == v)
    }

    /// Every element, head first (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(|n| n.iter())
    }

    /// The elements at positions `start..=stop` (already normalised and in range).
    pub fn range(&self, start: usize, stop: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let take = if start >= self.len || start > stop {
            0
        } else {
            stop.min(self.len - 1) + 1 - start
        };
        let (k, j) = if take == 0 {
            (self.nodes.len(), 0)
        } else {
            self.locate(start)
        };
        self.nodes
            .range(k..)
            .flat_map(|n| n.iter())
            .skip(j)
            .take(take)
    }

    /// Remove elements equal to `v` (LREM): `count > 0` up to `count` from the head,
    /// `count < 0` up to `-count` from the tail, `0` all. Returns how many went.
    pub fn remove(&mut self, count: i64, v: &[u8]) -> usize {
        let mut left = if count == 0 {
            usize::MAX
        } else {
            usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
        };
        let order: Vec<usize> = if count >= 0 {
            (0..self.nodes.len()).collect()
        } else {
            (0..self.nodes.len()).rev().collect()
        };
        let mut removed = 0;
        for k in order {
            if left == 0 {
                break;
            }
            let node = &mut self.nodes[k];
            let hits = node.iter().filter(|e| *e == v).count();
            if hits == 0 {
                continue;
            }
            let drop = hits.min(left);
            // Which matches go: the first `drop` from the head, or the last from the tail.
            let skip = if count >= 0 { 0 } else { hits - drop };
            let mut buf = Vec::with_capacity(node.bytes());
            let mut seen = 0;
            let mut kept = 0u32;
            for e in node.iter() {
                if e == v {
                    seen += 1;
                    if seen > skip && seen <= skip + drop {
                        continue;
                    }
                }
                encode_into(&mut buf, e);
                kept += 1;
            }
            buf.shrink_to_fit();
            // A new node rather than a change of this one (which a snapshot may hold).
            *node = Shared::new(Node {
                buf,
                start: 0,
                count: kept,
            });
            left -= drop;
            removed += drop;
        }
        self.nodes.retain(|n| n.count > 0);
        self.len -= removed;
        removed
    }

    /// Keep only positions `start..=stop` (LTRIM with Redis's index rules, negative
    /// indexes from the tail). Returns how many elements were removed.
    pub fn trim(&mut self, start: i64, stop: i64) -> usize {
        let len = self.len;
        let (mut ltrim, mut rtrim) = match range(start, stop, len) {
            None => (len, 0),
            Some((s, e)) => (s, len - e - 1),
        };
        let removed = ltrim + rtrim;
        while ltrim > 0 {
            let Some(n) = self.nodes.front_mut() else {
                break;
            };
            if n.len() <= ltrim {
                ltrim -= n.len();
                self.nodes.pop_front();
            } else {
                n.drop_front(ltrim);
                ltrim = 0;
            }
        }
        while rtrim > 0 {
            let Some(n) = self.nodes.back_mut() else {
                break;
            };
            if n.len() <= rtrim {
                rtrim -= n.len();
                self.nodes.pop_back();
            } else {
                let keep = n.len() - rtrim;
                n.keep_front(keep);
                rtrim = 0;
            }
        }
        self.len -= removed;
        removed
    }

    /// LPOS: positions of elements equal to `v`. `rank` counts matches (negative: from
    /// the tail; never 0), `count` caps the result (0 = every match), `maxlen` caps how
    /// many elements are compared (0 = all).
    pub fn positions(&self, v: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        let len = self.len;
        // Redis negates the rank; i64::MIN stays negative and then matches at once, as 1.
        let skip = match rank.checked_abs() {
            Some(r) => usize::try_from(r.max(1) - 1).unwrap_or(usize::MAX),
            None => 0,
        };
        let limit = if maxlen == 0 { len } else { maxlen.min(len) };
        let want = if count == 0 { usize::MAX } else { count };
        let mut out = Vec::new();
        let mut matches = 0usize;
        let mut scan = |idx: usize, e: &[u8]| -> bool {
            if e == v {
                matches += 1;
                if matches > skip {
                    out.push(idx);
                    if out.len() >= want {
                        return false;
                    }
                }
            }
            true
        };
        if rank > 0 {
            for (i, e) in self.iter().enumerate().take(limit) {
                if !scan(i, e) {
                    break;
                }
            }
        } else {
            for (k, e) in self.iter().rev().enumerate().take(limit) {
                if !scan(len - 1 - k, e) {
                    break;
                }
            }
        }
        out
    }
}

/// Normalise a Redis inclusive index range over a list of `len` elements (negative
/// indexes count from the tail, out-of-range ends are clamped). `None` = empty range.
pub fn range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let llen = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = if start < 0 { llen + start } else { start };
    let mut stop = if stop < 0 { llen + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= llen {
        return None;
    }
    if stop >= llen {
        stop = llen - 1;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(stop).ok()?))
}

/// Normalise one Redis index (negative from the tail). `None` = out of range.
pub fn index(i: i64, len: usize) -> Option<usize> {
    let llen = i64::try_from(len).unwrap_or(i64::MAX);
    let i = if i < 0 { llen.checked_add(i)? } else { i };
    if (0..llen).contains(&i) {
        usize::try_from(i).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        let mut l = List::new();
        for i in items {
            l.push(End::Right, i.as_bytes(), -2);
        }
        l
    }

    fn items(l: &List) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn push_pop_get_set_insert() {
        let mut l = List::new();
        l.push(End::Left, b"b", -2);
        l.push(End::Left, b"a", -2);
        l.push(End::Right, b"c", -2);
        assert_eq!(items(&l), ["a", "b", "c"]);
        assert_eq!(l.get(1), Some(&b"b"[..]));
        assert!(l.set(1, b"B", -2));
        assert!(!l.set(3, b"x", -2));
        l.insert(3, b"d", -2);
        l.insert(0, b"0", -2);
        assert_eq!(items(&l), ["0", "a", "B", "c", "d"]);
        assert_eq!(l.position(b"c"), Some(3));
        assert_eq!(l.pop(End::Right).as_deref(), Some(&b"d"[..]));
        assert_eq!(l.pop(End::Left).as_deref(), Some(&b"0"[..]));
        assert_eq!(l.len(), 3);
        assert_eq!(l.encoding(), "quicklist");
    }

    #[test]
    fn ranges_and_indexes() {
        assert_eq!(range(0, -1, 3), Some((0, 2)));
        assert_eq!(range(-100, 100, 3), Some((0, 2)));
        assert_eq!(range(2, 1, 3), None);
        assert_eq!(range(3, 5, 3), None);
        assert_eq!(range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(range(i64::MAX, i64::MIN, 3), None);
        assert_eq!(range(0, -1, 0), None);
        assert_eq!(index(-1, 3), Some(2));
        assert_eq!(index(-4, 3), None);
        assert_eq!(index(3, 3), None);
        assert_eq!(index(i64::MIN, 3), None);
        let l = list(&["a", "b", "c", "d"]);
        let r: Vec<&[u8]> = l.range(1, 2).collect();
        assert_eq!(r, [&b"b"[..], &b"c"[..]]);
    }

    #[test]
    fn remove_counts() {
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove(1, b"a"), 1);
        assert_eq!(items(&l), ["b", "a", "c", "a"]);
        assert_eq!(l.remove(-1, b"a"), 1);
        assert_eq!(items(&l), ["b", "a", "c"]);
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove(0, b"a"), 3);
        assert_eq!(items(&l), ["b", "c"]);
        let mut l = list(&["a", "a"]);
        assert_eq!(l.remove(i64::MIN, b"a"), 2);
        assert!(l.is_empty());
    }

    #[test]
    fn trim_rules() {
        let mut l = list(&["a", "b", "c", "d", "e"]);
        assert_eq!(l.trim(1, -2), 2);
        assert_eq!(items(&l), ["b", "c", "d"]);
        assert_eq!(l.trim(0, 100), 0);
        assert_eq!(l.trim(5, 10), 3);
        assert!(l.is_empty());
    }

    #[test]
    fn lpos_scans() {
        let l = list(&["a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(l.positions(b"c", 1, 1, 0), [2]);
        assert_eq!(l.positions(b"c", 2, 1, 0), [6]);
        assert_eq!(l.positions(b"c", -1, 1, 0), [7]);
        assert_eq!(l.positions(b"c", -1, 0, 0), [7, 6, 2]);
        assert_eq!(l.positions(b"c", 1, 2, 0), [2, 6]);
        assert_eq!(l.positions(b"c", 1, 0, 3), [2]);
        assert_eq!(l.positions(b"c", -1, 0, 2), [7, 6]);
        assert_eq!(l.positions(b"c", i64::MIN, 1, 0), [7]);
        assert!(l.positions(b"z", 1, 0, 0).is_empty());
    }

    /// Every operation against a VecDeque model, under several fill policies (tiny
    /// nodes exercise splits, boundaries and node removal), with long elements too.
    #[test]
    fn matches_a_deque_model() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        for fill in [-2i64, -1, 0, 1, 2, 3, 5] {
            let mut l = List::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            // A clone held while the list changes (as a snapshot holds one), with what it
            // held then: every change copies the nodes it touches, never the clone's.
            let mut held: Option<(List, Vec<Vec<u8>>)> = None;
            for step in 0..4000 {
                if step % 150 == 0 {
                    if let Some((c, want)) = held.take() {
                        let got: Vec<Vec<u8>> = c.iter().map(<[u8]>::to_vec).collect();
                        assert!(got == want, "fill {fill}: a held clone changed");
                    }
                    held = Some((l.clone(), m.iter().cloned().collect()));
                }
                let v: Vec<u8> = match rnd(10) {
                    0 => vec![b'x'; 200 + rnd(20000) as usize],
                    _ => format!("v{}", rnd(6)).into_bytes(),
                };
                let len = m.len() as u64;
                match rnd(11) {
                    0 | 1 => {
                        l.push(End::Left, &v, fill);
                        m.push_front(v);
                    }
                    2 | 3 => {
                        l.push(End::Right, &v, fill);
                        m.push_back(v);
                    }
                    4 => assert_eq!(l.pop(End::Left).map(Vec::from), m.pop_front()),
                    5 => assert_eq!(l.pop(End::Right).map(Vec::from), m.pop_back()),
                    6 => {
                        let i = rnd(len + 1) as usize;
                        l.insert(i, &v, fill);
                        m.insert(i, v);
                    }
                    7 if len > 0 => {
                        let i = rnd(len) as usize;
                        assert!(l.set(i, &v, fill));
                        m[i] = v;
                    }
                    8 => {
                        let c = rnd(5) as i64 - 2;
                        let target = format!("v{}", rnd(6)).into_bytes();
                        let got = l.remove(c, &target);
                        let mut want = 0;
                        let limit = if c == 0 {
                            usize::MAX
                        } else {
                            c.unsigned_abs() as usize
                        };
                        if c >= 0 {
                            let mut i = 0;
                            while i < m.len() && want < limit {
                                if m[i] == target {
                                    m.remove(i);
                                    want += 1;
                                } else {
                                    i += 1;
                                }
                            }
                        } else {
                            let mut i = m.len();
                            while i > 0 && want < limit {
                                i -= 1;
                                if m[i] == target {
                                    m.remove(i);
                                    want += 1;
                                }
                            }
                        }
                        assert_eq!(got, want);
                    }
                    9 if step % 50 == 0 => {
                        let a = rnd(len + 4) as i64 - 2;
                        let b = rnd(len + 4) as i64 - 2;
                        let got = l.trim(a, b);
                        let before = m.len();
                        match range(a, b, m.len()) {
                            None => m.clear(),
                            Some((s, e)) => {
                                m.truncate(e + 1);
                                m.drain(..s);
                            }
                        }
                        assert_eq!(got, before - m.len());
                    }
                    _ => {
                        if len > 0 {
                            let i = rnd(len) as usize;
                            assert_eq!(l.get(i), Some(&m[i][..]));
                            let j = i + rnd(len - i as u64) as usize;
                            let got: Vec<&[u8]> = l.range(i, j).collect();
                            let want: Vec<&[u8]> = m.range(i..=j).map(|v| &v[..]).collect();
                            assert_eq!(got, want);
                        }
                    }
                }
                assert_eq!(l.len(), m.len());
                if step % 97 == 0 {
                    let fwd: Vec<&[u8]> = l.iter().collect();
                    let want: Vec<&[u8]> = m.iter().map(|v| &v[..]).collect();
                    assert_eq!(fwd, want);
                    let back: Vec<&[u8]> = l.iter().rev().collect();
                    let want: Vec<&[u8]> = m.iter().rev().map(|v| &v[..]).collect();
                    assert_eq!(back, want);
                    assert_eq!(l.nodes.iter().map(|n| n.len()).sum::<usize>(), l.len());
                    assert!(l.nodes.iter().all(|n| n.count > 0));
                    // Slack, front room included, stays within the size class or the
                    // shrink rule's bound.
                    assert!(l.nodes.iter().all(
                        |n| n.buf.capacity() <= alloc_class(n.bytes()).max(n.bytes() * 2 + 64)
                    ));
                }
            }
        }
    }

    #[test]
    fn size_classes() {
        let want = [
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (33, 48),
            (128, 128),
            (129, 160),
            (257, 320),
            (4096, 4096),
            (4097, 5120),
            (8193, 10240),
        ];
        for (n, c) in want {
            assert_eq!(alloc_class(n), c, "{n}");
        }
    }

    /// Pushes at the front fill the room before the elements: few reallocations, and the
    /// elements come out in order from both ends.
    #[test]
    fn front_room() {
        let mut n = Node::default();
        let mut moves = 0;
        let mut last = std::ptr::null();
        for i in 0..1000u32 {
            n.push_front(format!("e{i}").as_bytes());
            if n.buf.as_ptr() != last {
                moves += 1;
                last = n.buf.as_ptr();
            }
        }
        assert!(moves < 40, "{moves} reallocations");
        assert_eq!(n.get(0), b"e999");
        assert_eq!(n.get(999), b"e0");
        assert_eq!(n.pop_back_with(<[u8]>::to_vec), Some(b"e0".to_vec()));
        assert_eq!(n.pop_front_with(<[u8]>::to_vec), Some(b"e999".to_vec()));
        n.insert(1, b"x");
        n.replace(0, b"a much longer element than before");
        assert_eq!(n.get(0), b"a much longer element than before");
        assert_eq!(n.get(1), b"x");
        assert_eq!(n.get(2), b"e997");
        assert_eq!(n.len(), 999);
        // A big element's node gets at most FRONT_ROOM_MAX of zero-filled room.
        let mut big = Node::default();
        big.push_front(&vec![1u8; 300_000]);
        assert!(big.start as usize <= FRONT_ROOM_MAX);
        assert_eq!(big.get(0).len(), 300_000);
    }

    #[test]
    fn encoding_round_trips_lengths() {
        for n in [
            0usize, 1, 125, 126, 127, 128, 129, 16381, 16382, 16383, 16384, 70000,
        ] {
            let v = vec![7u8; n];
            let mut buf = Vec::new();
            encode_into(&mut buf, b"a");
            encode_into(&mut buf, &v);
            encode_into(&mut buf, b"b");
            assert_eq!(buf.len(), encoded_len(1) * 2 + encoded_len(n));
            let node = Node {
                buf,
                start: 0,
                count: 3,
            };
            let fwd: Vec<&[u8]> = node.iter().collect();
            assert_eq!(fwd, [&b"a"[..], &v[..], &b"b"[..]]);
            let back: Vec<&[u8]> = node.iter().rev().collect();
            assert_eq!(back, [&b"b"[..], &v[..], &b"a"[..]]);
        }
        // Small elements cost two bytes of framing, as a listpack string entry.
        assert_eq!(encoded_len(10), 12);
    }
}
