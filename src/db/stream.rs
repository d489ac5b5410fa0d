//! Streams: entries ordered by ID in a B-tree (fields packed as one boxed slice of boxed
//! byte strings per entry), the stream metadata Redis 7.0 keeps (last ID, first ID, max
//! deleted ID, entries added), consumer groups with their PELs and consumers, and a light
//! model of Redis's listpack nodes (start ID, entries appended, live entries, encoded
//! bytes) so that approximate trimming (`MAXLEN ~`, `MINID ~`) removes exactly what Redis
//! removes under `stream-node-max-entries` / `stream-node-max-bytes`. No RESP, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use super::lpsize::{int_size as lp_int, str_size as lp_str};

/// Entries per node (Redis's `stream-node-max-entries` default).
pub const NODE_MAX_ENTRIES: u32 = 100;

/// When a node is full and the next entry starts a new one: Redis's
/// `stream-node-max-entries` (0 = no limit) and `stream-node-max-bytes` (0 = 1 GiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// Entries (live and deleted) per node.
    pub entries: u64,
    /// Encoded bytes per node.
    pub bytes: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            entries: u64::from(NODE_MAX_ENTRIES),
            bytes: 4096,
        }
    }
}

/// A hash of an entry's field names (the master entry's decide the same-fields encoding).
fn field_names_hash(fields: &Fields) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for name in fields.iter().step_by(2) {
        for &b in name.iter().chain(&[0xff]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A stream entry ID: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// A new ID.
    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or None past the largest.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None before `0-0`.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// True for `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An entry's field/value pairs, packed.
pub type Fields = Box<[Box<[u8]>]>;

/// A pending (delivered, not acknowledged) entry of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    /// Owner.
    pub consumer: Box<[u8]>,
    /// Last delivery, Unix ms.
    pub delivery_time: i64,
    /// Deliveries.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    /// Last time it was seen (read or claimed), Unix ms.
    pub seen_time: i64,
    /// The IDs it owns in the group PEL.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct CGroup {
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Logical read counter; -1 = unknown.
    pub entries_read: i64,
    /// Pending entries by ID.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name.
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl CGroup {
    /// A group starting after `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> CGroup {
        CGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer named `name`, created (seen now) if absent; true if created.
    pub fn consumer(&mut self, name: &[u8], now_ms: i64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self
            .consumers
            .entry(name.into())
            .or_insert_with(|| Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            });
        (c, created)
    }

    /// Remove `id` from the PEL (and its owner's). True if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Give pending `id` to `consumer` (creating the NACK if absent) with the given
    /// delivery time and count.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], time: i64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            if &*old.consumer != consumer {
                let o = old.consumer.clone();
                if let Some(c) = self.consumers.get_mut(&o) {
                    c.pel.remove(&id);
                }
            }
        }
        self.pel.insert(
            id,
            Nack {
                consumer: consumer.into(),
                delivery_time: time,
                delivery_count: count,
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// One modelled listpack node.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    /// Entries ever appended (live and deleted).
    appended: u32,
    /// Live entries.
    live: u32,
    /// ID of the last appended entry.
    last: StreamId,
    /// Encoded bytes of the master entry's fields and of every entry appended (the
    /// listpack's size but for its header and its live/deleted counters, see `lp_bytes`).
    bytes: usize,
    /// The master entry's field names (hashed) and their count.
    master_fields: (u64, usize),
}

impl Node {
    /// The node's listpack size, as Redis's `lpBytes`.
    fn lp_bytes(&self) -> usize {
        let deleted = self.appended - self.live;
        7 + lp_int(i64::from(self.live)) + lp_int(i64::from(deleted)) + self.bytes
    }

    /// A new node whose master entry is `fields`' names.
    fn new(id: StreamId, fields: &Fields) -> Node {
        let n = fields.len() / 2;
        let names: usize = fields.iter().step_by(2).map(|f| lp_str(f)).sum();
        Node {
            appended: 0,
            live: 0,
            last: id,
            bytes: lp_int(i64::try_from(n).unwrap_or(i64::MAX)) + names + lp_int(0),
            master_fields: (field_names_hash(fields), n),
        }
    }

    /// Add entry `id` (`master`: this node's first ID) to the node.
    fn push(&mut self, master: StreamId, id: StreamId, fields: &Fields) {
        let n = fields.len() / 2;
        let same = self.master_fields == (field_names_hash(fields), n);
        // Deltas are stored as signed 64-bit integers.
        let ms = id.ms.wrapping_sub(master.ms) as i64;
        let seq = id.seq.wrapping_sub(master.seq) as i64;
        let mut b = lp_int(if same { 2 } else { 0 }) + lp_int(ms) + lp_int(seq);
        let elements = if same {
            b += fields
                .iter()
                .skip(1)
                .step_by(2)
                .map(|v| lp_str(v))
                .sum::<usize>();
            3 + n
        } else {
            b += lp_int(i64::try_from(n).unwrap_or(i64::MAX));
            b += fields.iter().map(|f| lp_str(f)).sum::<usize>();
            4 + 2 * n
        };
        b += lp_int(i64::try_from(elements).unwrap_or(i64::MAX));
        self.bytes += b;
        self.appended += 1;
        self.live += 1;
        self.last = id;
    }
}

/// A trimming strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries below this ID.
    MinId(StreamId),
}

/// A stream.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Stream {
    entries: BTreeMap<StreamId, Fields>,
    nodes: BTreeMap<StreamId, Node>,
    /// Last generated ID.
    pub last_id: StreamId,
    /// First live entry ID (0-0 when empty).
    pub first_id: StreamId,
    /// Largest ID removed by XDEL.
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Box<[u8]>, CGroup>,
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without live entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// OBJECT ENCODING.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Modelled listpack nodes (XINFO `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The entry `id`.
    pub fn get(&self, id: StreamId) -> Option<&Fields> {
        self.entries.get(&id)
    }

    /// Entries in `[start, end]`, ascending.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl DoubleEndedIterator<Item = (&StreamId, &Fields)> {
        let r = if start <= end {
            Some(self.entries.range(start..=end))
        } else {
            None
        };
        r.into_iter().flatten()
    }

    /// First live entry.
    pub fn first(&self) -> Option<(&StreamId, &Fields)> {
        self.entries.iter().next()
    }

    /// Last live entry.
    pub fn last(&self) -> Option<(&StreamId, &Fields)> {
        self.entries.iter().next_back()
    }

    /// The ID `*` (or `ms-*` with `ms`) would generate now, or None if it cannot
    /// (exhausted, or not greater than the top item).
    pub fn next_id(&self, now_ms: i64, ms: Option<u64>) -> Option<StreamId> {
        let id = match ms {
            None => {
                let now = u64::try_from(now_ms).unwrap_or(0);
                if now > self.last_id.ms {
                    StreamId::new(now, 0)
                } else {
                    self.last_id.incr()?
                }
            }
            Some(ms) if ms == self.last_id.ms => {
                if self.last_id.seq == u64::MAX {
                    return None;
                }
                StreamId::new(ms, self.last_id.seq + 1)
            }
            Some(ms) => StreamId::new(ms, 0),
        };
        (id > self.last_id).then_some(id)
    }

    /// Append an entry; `id` must be greater than `last_id`. Nodes as by default.
    pub fn append(&mut self, id: StreamId, fields: Fields) {
        self.append_in_nodes(id, fields, NodeLimits::default());
    }

    /// Append an entry; `id` must be greater than `last_id`. It starts a new node when
    /// the last one is full under `limits`, as Redis's `streamAppendItem` decides.
    pub fn append_in_nodes(&mut self, id: StreamId, fields: Fields, limits: NodeLimits) {
        let max_bytes = match limits.bytes {
            0 => 1 << 30,
            b => b.min(1 << 30),
        };
        let new_bytes: usize = fields.iter().map(|f| f.len()).sum();
        let full = |n: &Node| {
            (n.lp_bytes() + new_bytes) as u64 >= max_bytes
                || (limits.entries > 0 && u64::from(n.appended) >= limits.entries)
        };
        match self.nodes.iter_mut().next_back() {
            Some((&master, n)) if !full(n) => n.push(master, id, &fields),
            _ => {
                let mut n = Node::new(id, &fields);
                n.push(id, id, &fields);
                self.nodes.insert(id, n);
            }
        }
        self.entries.insert(id, fields);
        if self.entries.len() == 1 {
            self.first_id = id;
        }
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Remove one entry (no metadata updates besides the node model). True if it existed.
    fn remove_entry(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        let start = self.nodes.range(..=id).next_back().map(|(k, _)| *k);
        if let Some(start) = start {
            if let Some(n) = self.nodes.get_mut(&start) {
                n.live = n.live.saturating_sub(1);
                if n.live == 0 {
                    self.nodes.remove(&start);
                }
            }
        }
        true
    }

    fn refresh_first(&mut self) {
        self.first_id = self.first().map_or(StreamId::MIN, |(id, _)| *id);
    }

    /// XDEL of `ids`: the number removed.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        let mut n = 0;
        for &id in ids {
            if self.remove_entry(id) {
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                n += 1;
            }
        }
        if n > 0 {
            self.refresh_first();
        }
        n
    }

    /// Trim as Redis's `streamTrim`: whole nodes first; with `approx` stop at the first node
    /// that cannot go whole; `limit` (approx only, 0 = none) caps the entries removed.
    /// Returns the number removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let Trim::MaxLen(m) = how {
                if self.len() as u64 <= m {
                    break;
                }
            }
            let Some((&start, node)) = self.nodes.iter().next() else {
                break;
            };
            let live = u64::from(node.live);
            let node_last = node.last;
            if limit > 0 && deleted + live > limit {
                break;
            }
            let whole = match how {
                Trim::MaxLen(m) => self.len() as u64 - live >= m,
                Trim::MinId(min) => node_last < min,
            };
            let ids: Vec<StreamId> = self
                .entries
                .range(start..)
                .take(usize::try_from(live).unwrap_or(usize::MAX))
                .map(|(k, _)| *k)
                .collect();
            if whole {
                for id in ids {
                    self.entries.remove(&id);
                }
                self.nodes.remove(&start);
                deleted += live;
                continue;
            }
            if approx {
                break;
            }
            for id in ids {
                let stop = match how {
                    Trim::MaxLen(m) => self.len() as u64 <= m,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                self.remove_entry(id);
                deleted += 1;
            }
            break;
        }
        if deleted > 0 {
            self.refresh_first();
        }
        deleted
    }

    /// Redis's `streamRangeHasTombstones(s, start, +)`.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.is_empty() || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: the logical read counter of
    /// `id`, or -1 if unknown.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        let added = i64::try_from(self.entries_added).unwrap_or(i64::MAX);
        if self.entries_added == 0 {
            return 0;
        }
        if self.is_empty() && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        } else if id > self.last_id {
            return -1;
        }
        let len = i64::try_from(self.len()).unwrap_or(i64::MAX);
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return added - len;
            } else if id == self.first_id {
                return added - len + 1;
            }
        }
        -1
    }

    /// The lag of group `g` (None when it cannot be computed).
    pub fn lag(&self, g: &CGroup) -> Option<i64> {
        let added = i64::try_from(self.entries_added).unwrap_or(i64::MAX);
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != -1 && !self.has_tombstones_from(g.last_id) {
            return Some(added - g.entries_read);
        }
        let er = self.estimate_distance(g.last_id);
        (er != -1).then_some(added - er)
    }

    /// Last live entry ID (0-0 when empty), as Redis's `streamLastValidID`.
    pub fn last_valid_id(&self) -> StreamId {
        self.last().map_or(StreamId::MIN, |(id, _)| *id)
    }

    /// Account one `>` delivery of `id` to group `g` (last ID and read counter).
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tomb = self.has_tombstones_from(id);
        let est = self.estimate_distance(id);
        let added = self.entries_added;
        if let Some(g) = self.groups.get_mut(group) {
            if id > g.last_id {
                if g.entries_read != -1 && !tomb {
                    g.entries_read += 1;
                } else if added > 0 {
                    g.entries_read = est;
                }
                g.last_id = id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> Fields {
        vec![Box::from(&b"f"[..]), Box::from(&b"v"[..])].into_boxed_slice()
    }

    #[test]
    fn ids_and_next() {
        let s = Stream::new();
        assert_eq!(s.next_id(5, None), Some(StreamId::new(5, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::new(1, 0).decr(), Some(StreamId::new(0, u64::MAX)));
        assert_eq!(StreamId::new(3, 4).to_string(), "3-4");
    }

    /// Nodes fill up as Redis's listpacks: `stream-node-max-bytes` of encoded entries
    /// (1000-byte values: 4 per 4096-byte node, 5 nodes for 20, as redis-server 7.0.15),
    /// or `stream-node-max-entries` entries, deleted ones included.
    #[test]
    fn nodes_fill_by_entries_and_encoded_bytes() {
        let big = || -> Fields { vec![b"f".to_vec().into(), vec![b'x'; 1000].into()].into() };
        let mut s = Stream::new();
        for i in 1..=20 {
            s.append(StreamId::new(i, 0), big());
        }
        assert_eq!(s.node_count(), 5);
        let ten = NodeLimits {
            entries: 10,
            bytes: 0,
        };
        let mut s = Stream::new();
        for i in 1..=100 {
            s.append_in_nodes(StreamId::new(i, 0), f(), ten);
        }
        assert_eq!(s.node_count(), 10);
        assert_eq!(s.trim(Trim::MaxLen(55), true, 30), 30);
        assert_eq!(s.len(), 70);
        assert_eq!(lp_str(b"12345"), 4);
        assert_eq!(lp_str(b"007"), 5);
        assert_eq!(lp_int(-5000), 4);
    }

    #[test]
    fn approx_trim_removes_whole_nodes_only() {
        let mut s = Stream::new();
        for i in 1..=250 {
            s.append(StreamId::new(i, 0), f());
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.trim(Trim::MaxLen(10), true, 0), 200);
        assert_eq!(s.len(), 50);
        assert_eq!(s.trim(Trim::MaxLen(10), false, 0), 40);
        assert_eq!(s.first_id, StreamId::new(241, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(245, 0)), false, 0), 4);
        assert_eq!(s.delete(&[StreamId::new(245, 0), StreamId::new(1, 0)]), 1);
        assert_eq!(s.max_deleted_id, StreamId::new(245, 0));
        assert_eq!(s.first_id, StreamId::new(246, 0));
    }
}
