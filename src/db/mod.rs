//! The in-memory keyspace: numbered databases of `Entry`s in a `Dict`, plus the set of
//! keys with an expiry (for the active expire cycle). Lookups here never expire keys on
//! their own: the command layer decides (and journals the `DEL`), because replay must
//! never expire anything. No RESP, no I/O.

pub mod bits;
pub mod dict;
pub mod evict;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod lazyfree;
pub mod lcs;
pub mod list;
pub mod lpsize;
pub mod pqsort;
pub mod set;
pub mod shared;
pub mod strbuf;
pub mod stream;
pub mod strnum;
pub mod value;
pub mod zset;

pub use dict::Dict;

use std::sync::Arc;
pub use value::{Entry, Value};

/// One numbered database.
#[derive(Default)]
pub struct Db {
    /// Every key. Read it freely; change it only through `Db`'s methods, which keep the
    /// expiry set and a running snapshot's capture in step.
    pub dict: Dict<Entry>,
    /// The keys that have an expiry, with its absolute time in Unix ms: read through
    /// `expire_of`, walked by the active expire cycle.
    pub expires: Dict<i64>,
    /// Cursor of the active expire cycle over `expires`.
    pub expire_cursor: u64,
    /// Snapshot epoch bit: while no snapshot runs every entry's `snap` equals it; a snapshot
    /// flips it, so an entry the snapshot has not taken yet is one whose bit differs.
    pub epoch: bool,
    /// The running snapshot's progress over this database, if one runs.
    pub capture: Option<Box<Capture>>,
}

/// A large value a running snapshot's walk lent to the thread writing the file, with its
/// expiry then: that thread takes it out to encode it; a write that comes first takes it
/// back and encodes it itself (`Capture::encode`), so the write changes the value in place
/// instead of copying the whole of it (the lent entry shares its contents, `db::shared`).
pub type Lent = Arc<parking_lot::Mutex<Option<(Entry, i64)>>>;

/// How a capture encodes an entry as a snapshot item (database index, key, entry, expiry):
/// given by the snapshot job, since this layer knows no file format.
pub type EncodeFn = fn(&mut Vec<u8>, usize, &[u8], &Entry, i64);

/// Collections with at least this many elements are lent to a snapshot rather than encoded
/// or copied under the engine lock (lists: copied, which costs a reference per node).
pub const LARGE_ELEMENTS: usize = 1024;

/// Strings of at least this many bytes are lent to a snapshot (their bytes shared, not
/// copied: `strbuf::StrBuf`) rather than encoded under the engine lock.
pub const LARGE_STRING: usize = 64 * 1024;

/// How a running snapshot takes an entry it has not written yet.
pub enum Take {
    /// Encode it now (small values) or copy it (`Capture::taken`).
    Small,
    /// A large list: its copy shares its nodes (a write copies the node it changes).
    List,
    /// A large string, hash, set, sorted set or stream: lent (`Lent`), or encoded by the
    /// write that changes it first.
    Lend,
}

impl Take {
    /// How a snapshot takes `v`.
    pub fn of(v: &Value) -> Take {
        match v {
            Value::List(l) if l.len() >= LARGE_ELEMENTS => Take::List,
            Value::Str(s) if s.len() >= LARGE_STRING => Take::Lend,
            Value::Hash(_) | Value::Set(_) | Value::ZSet(_) | Value::Stream(_)
                if v.element_count() >= LARGE_ELEMENTS =>
            {
                Take::Lend
            }
            _ => Take::Small,
        }
    }
}

/// A running snapshot's state for one database: where its scan is, and the entries it must
/// still write that writes took away from under it (copied once, as they were at the
/// snapshot's LSN). Travels with the `Db` (SWAPDB moves it along).
#[derive(Default)]
pub struct Capture {
    /// The snapshot job this belongs to.
    pub job: u64,
    /// Index of this database when the snapshot started (what the snapshot records).
    pub db_index: usize,
    /// Scan cursor over `dict` (or over `detached`).
    pub cursor: u64,
    /// The scan has visited every bucket.
    pub done: bool,
    /// The table a FLUSHDB/FLUSHALL replaced while the scan ran: the scan finishes on it.
    pub detached: Option<Dict<Entry>>,
    /// The expiry times of `detached`'s keys (its `expires` table, taken with it).
    pub detached_expires: Dict<i64>,
    /// Entries copied (or taken) before a write changed or removed them: key, entry, its
    /// expiry then (-1 = none), and the bytes the copy cost (counted in `taken_bytes`).
    pub taken: Vec<(Box<[u8]>, Entry, i64, usize)>,
    /// About how many bytes `taken` holds (`Entry::approx_bytes`): snapshot memory, which
    /// the `maxmemory` check does not count (as Redis does not count a fork's copies).
    pub taken_bytes: usize,
    /// Bytes of `taken`'s own buffer (its growth, measured when it grew): counted apart
    /// from the copies because it is freed only once the list is drained, not copy by copy.
    pub list_bytes: usize,
    /// Large values lent to the thread writing the file, by key.
    pub lent: std::collections::HashMap<Box<[u8]>, Lent>,
    /// Items writes encoded (large values they were about to change), and how many: the
    /// walk moves them to the file.
    pub encoded: Vec<u8>,
    pub encoded_items: u64,
    /// How to encode them (None: copy instead; tests without a job).
    pub encode: Option<EncodeFn>,
    /// Large values lent because a write was about to change them before the walk reached
    /// them (`Db::loan_wait`): the walk hands them to the file thread with the rest.
    pub late: Vec<(Box<[u8]>, Lent)>,
}

/// What a write about to change a key must wait for (`Db::loan_wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoanWait {
    /// Nothing: the write may run.
    None,
    /// The value is lent and the file thread has not taken it yet.
    Queued,
    /// The file thread is encoding it now.
    Encoding,
}

impl Db {
    /// Bytes a running snapshot holds in copies of this database's entries (0 when none).
    pub fn snapshot_copies_bytes(&self) -> usize {
        self.capture
            .as_ref()
            .map_or(0, |c| c.taken_bytes + c.list_bytes + c.encoded.capacity())
    }

    /// Number of keys (expired-but-not-yet-removed keys included, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True if the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// The entry for `key`, expired or not.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.dict.get(key)
    }

    /// Whether a write about to change `key`'s value in place should wait for a running
    /// snapshot first, instead of taking the value back and encoding it under the engine
    /// lock (a pause as long as the encoding: 35-175 ms for a million elements). A large
    /// value the walk has not reached is lent now, so the file thread encodes it (it
    /// shares its contents: no copy); the write runs once the loan is settled, on a value
    /// nobody shares any more.
    pub fn loan_wait(&mut self, key: &[u8]) -> LoanWait {
        let Some(c) = self.capture.as_deref_mut() else {
            return LoanWait::None;
        };
        if c.detached.is_some() || c.encode.is_none() {
            return LoanWait::None;
        }
        if let Some(l) = c.lent.get(key) {
            let state = match l.try_lock() {
                None => LoanWait::Encoding,
                Some(v) if v.is_some() => LoanWait::Queued,
                Some(_) => LoanWait::None,
            };
            if state == LoanWait::Queued && !c.late.iter().any(|(_, x)| Arc::ptr_eq(x, l)) {
                // Lent by the walk and still queued for the file thread: ask the walk to
                // encode it now (whoever takes it first writes it; the other skips it).
                c.late.push((key.into(), l.clone()));
            }
            return state;
        }
        if c.done {
            return LoanWait::None;
        }
        let Some(e) = self.dict.get_mut(key) else {
            return LoanWait::None;
        };
        if e.snap == self.epoch || !matches!(Take::of(&e.value), Take::Lend) {
            return LoanWait::None;
        }
        e.snap = self.epoch;
        let at = expiry_in(&self.expires, key, e);
        let l: Lent = Arc::new(parking_lot::Mutex::new(Some((e.snapshot_copy(), at))));
        c.lent.insert(key.into(), l.clone());
        c.late.push((key.into(), l));
        LoanWait::Queued
    }

    /// Give a running snapshot its copy of `key`'s entry before it changes (once).
    fn capture(&mut self, key: &[u8]) {
        self.capture_as(key, true);
    }

    /// `capture` before `key`'s entry is changed in place or moved elsewhere (`changing`),
    /// or only removed and dropped: then a large value stays lent (the file thread encodes
    /// it, nobody changes it) and one not yet walked is handed over by reference, where a
    /// change would have encoded it under the lock (DEL, expiry and eviction of a large
    /// value cost no encoding).
    fn capture_as(&mut self, key: &[u8], changing: bool) {
        let Some(c) = self.capture.as_deref_mut() else {
            return;
        };
        if c.detached.is_some() {
            // The live table holds only entries created after the snapshot's LSN.
            return;
        }
        if !c.lent.is_empty() {
            if let Some(lent) = c.lent.remove(key) {
                // Lent and not yet taken by the file thread: written here when changing, so
                // the write that follows finds the value no longer shared and changes it in
                // place. A value replaced or removed whole stays with the file thread alone
                // (the live entry no longer shares it: a later write to the key waits for
                // nothing).
                if changing {
                    let back = lent.lock().take();
                    if let (Some((e, at)), Some(encode)) = (back, c.encode) {
                        encode(&mut c.encoded, c.db_index, key, &e, at);
                        c.encoded_items += 1;
                    }
                }
            }
        }
        if let Some(e) = self.dict.get_mut(key) {
            if e.snap != self.epoch {
                e.snap = self.epoch;
                let at = expiry_in(&self.expires, key, e);
                let lend = changing && matches!(Take::of(&e.value), Take::Lend);
                if let (true, Some(encode)) = (lend, c.encode) {
                    // A copy would share the contents, and the write that follows would
                    // copy them whole: encoding costs less than that copy.
                    encode(&mut c.encoded, c.db_index, key, e, at);
                    c.encoded_items += 1;
                    return;
                }
                // The copy's exact cost (key, value) from the allocator's per-thread
                // counters: an estimate short by tens of bytes per copy made eviction beside
                // a snapshot count copies as dataset and evict more.
                let before = crate::alloc::thread_net();
                let approx = key.len() + e.approx_bytes();
                let copy: Box<[u8]> = key.into();
                let entry = e.snapshot_copy();
                let copied = crate::alloc::thread_net();
                let cost = match (before, copied) {
                    (Some((t0, b)), Some((t1, a))) if t0 == t1 => {
                        usize::try_from(a - b).unwrap_or(approx)
                    }
                    _ => approx,
                };
                // The list's growth is its own: a copy drained early must not take the
                // buffer's bytes out of the count while the buffer lives on (eviction then
                // took the buffer for dataset and evicted keys for it).
                let cap = c.taken.capacity();
                c.taken.push((copy, entry, at, cost));
                if c.taken.capacity() != cap {
                    let item = std::mem::size_of::<(Box<[u8]>, Entry, i64, usize)>();
                    let grown = match (copied, crate::alloc::thread_net()) {
                        (Some((t0, b)), Some((t1, a))) if t0 == t1 => {
                            usize::try_from(a - b).unwrap_or(0)
                        }
                        _ => (c.taken.capacity() - cap) * item,
                    };
                    c.list_bytes += grown;
                }
                c.taken_bytes += cost;
            }
        }
    }

    /// The entry for `key` for modification, expired or not. Its expiry is changed only
    /// through `set_expire`, which keeps the `expires` table in step.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.capture(key);
        self.dict.get_mut(key)
    }

    /// Update bookkeeping that no snapshot records (the access time) without a capture;
    /// the entry then, to read.
    pub fn touch(&mut self, key: &[u8], f: impl FnOnce(&mut Entry)) -> Option<&Entry> {
        let e = self.dict.get_mut(key)?;
        f(e);
        Some(e)
    }

    /// `touch` and then the entry for modification (as `get_mut`), in one lookup when no
    /// snapshot runs (the write path). A running snapshot captures the entry first.
    pub fn touch_get_mut(&mut self, key: &[u8], f: impl FnOnce(&mut Entry)) -> Option<&mut Entry> {
        self.capture(key);
        let e = self.dict.get_mut(key)?;
        f(e);
        Some(e)
    }

    /// `touch` and then the entry found at `pos` (`dict.position`, the table unchanged
    /// since): the read path, one key comparison in all.
    pub fn touch_at(&mut self, pos: dict::Pos, f: impl FnOnce(&mut Entry)) -> Option<&Entry> {
        let e = self.dict.at_mut(pos)?;
        f(e);
        Some(e)
    }

    /// The absolute expiry (Unix ms) of `key`, whose entry is `e`; -1 = none.
    pub fn expire_of(&self, key: &[u8], e: &Entry) -> i64 {
        expiry_in(&self.expires, key, e)
    }

    /// The absolute expiry (Unix ms) of `key`; -1 = none or no such key.
    pub fn expire_at(&self, key: &[u8]) -> i64 {
        self.dict.get(key).map_or(-1, |e| self.expire_of(key, e))
    }

    /// True if `key` (entry `e`) has an expiry before `now_ms` (Redis: expired when
    /// now > when).
    pub fn entry_expired(&self, key: &[u8], e: &Entry, now_ms: i64) -> bool {
        e.ttl && self.expires.get(key).is_some_and(|&at| at < now_ms)
    }

    /// True if `key` exists and has an expiry before `now_ms`.
    pub fn is_expired(&self, key: &[u8], now_ms: i64) -> bool {
        self.dict
            .get(key)
            .is_some_and(|e| self.entry_expired(key, e, now_ms))
    }

    /// Insert or replace a whole entry without expiry (a replaced key's expiry is gone).
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        self.insert_expiring(key, entry, -1)
    }

    /// Insert or replace a whole entry with the absolute expiry `at_ms` (-1 = none),
    /// keeping the `expires` table in step.
    pub fn insert_expiring(&mut self, key: &[u8], mut entry: Entry, at_ms: i64) -> Option<Entry> {
        // The old entry is replaced whole, not changed: a large one stays lent.
        self.capture_as(key, false);
        entry.snap = self.epoch;
        entry.ttl = at_ms >= 0;
        let old = self.dict.insert(key, entry);
        if at_ms >= 0 {
            self.expires.insert(key, at_ms);
        } else if old.as_ref().is_some_and(|e| e.ttl) {
            self.expires.remove(key);
        }
        old
    }

    /// Remove a key (to drop its entry).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.capture_as(key, false);
        self.take_out(key).map(|(e, _)| e)
    }

    /// Remove a key, returning its entry and its expiry (-1 = none): what moving a key
    /// elsewhere (RENAME, MOVE) carries along.
    pub fn remove_expiring(&mut self, key: &[u8]) -> Option<(Entry, i64)> {
        self.capture(key);
        self.take_out(key)
    }

    /// Take `key`'s entry and expiry out of the tables (captured already).
    fn take_out(&mut self, key: &[u8]) -> Option<(Entry, i64)> {
        let mut old = self.dict.remove(key)?;
        let at = if old.ttl {
            self.expires.remove(key).unwrap_or(-1)
        } else {
            -1
        };
        old.ttl = false;
        Some((old, at))
    }

    /// Set or clear (`-1`) the expiry of an existing key. Returns false if absent.
    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) -> bool {
        self.capture(key);
        let Some(e) = self.dict.get_mut(key) else {
            return false;
        };
        let had = e.ttl;
        e.ttl = at_ms >= 0;
        if at_ms >= 0 {
            self.expires.insert(key, at_ms);
        } else if had {
            self.expires.remove(key);
        }
        true
    }

    /// Number of keys with an expiry.
    pub fn volatile_len(&self) -> usize {
        self.expires.len()
    }

    /// Remove every key. A running snapshot that has not finished scanning keeps the old
    /// table and finishes on it; otherwise the old tables are returned (None when the
    /// snapshot kept them), for the caller to drop now or hand to lazyfree.
    pub fn clear(&mut self) -> Option<Flushed> {
        let old = std::mem::take(&mut self.dict);
        let old_expires = std::mem::take(&mut self.expires);
        self.expire_cursor = 0;
        if let Some(c) = self.capture.as_deref_mut() {
            if !c.done && c.detached.is_none() {
                c.detached = Some(old);
                c.detached_expires = old_expires;
                return None;
            }
        }
        Some(Flushed {
            dict: old,
            expires: old_expires,
        })
    }
}

/// The tables a flush took out of a database.
pub struct Flushed {
    /// The keys and their entries.
    pub dict: Dict<Entry>,
    /// Their expiry times.
    pub expires: Dict<i64>,
}

/// The absolute expiry (Unix ms) of `key`, whose entry is `e`, from an `expires` table
/// (a database's, or the one a flush detached with its keys); -1 = none. Only an entry
/// flagged `ttl` costs the lookup.
pub fn expiry_in(expires: &Dict<i64>, key: &[u8], e: &Entry) -> i64 {
    if e.ttl {
        expires.get(key).copied().unwrap_or(-1)
    } else {
        -1
    }
}

/// All databases.
pub struct Keyspace {
    /// Databases by index (SELECT).
    pub dbs: Vec<Db>,
}

impl Keyspace {
    /// Bytes a running snapshot holds in copies of entries, over every database: memory
    /// `maxmemory` does not count (INFO `mem_not_counted_for_evict`).
    pub fn snapshot_copies_bytes(&self) -> u64 {
        self.dbs
            .iter()
            .map(|d| d.snapshot_copies_bytes() as u64)
            .sum()
    }

    /// `n` empty databases.
    pub fn new(n: usize) -> Keyspace {
        Keyspace {
            dbs: (0..n).map(|_| Db::default()).collect(),
        }
    }

    /// Total keys over all databases.
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a running snapshot's copies are said to hold (`snapshot_copies_bytes`, which
    /// maxmemory does not count) follows what they really hold as the walk drains them one
    /// by one: the copy list's own buffer stays counted until the list is freed. (Before,
    /// the list's growth was charged to the copy whose push grew it, and draining that copy
    /// early took megabytes out of the count while the buffer lived on: eviction beside a
    /// snapshot then evicted keys for it.)
    #[test]
    fn snapshot_copy_accounting_follows_the_allocator_while_draining() {
        let Some(_) = crate::alloc::thread_net() else {
            return; // no allocator statistics in this build
        };
        let mut db = Db::default();
        let n = 20_000;
        for i in 0..n {
            let v = Value::Str(vec![b'v'; 40 + i % 50].into());
            db.insert(format!("key:{i}").as_bytes(), Entry::new(v, 0));
        }
        db.epoch = !db.epoch;
        db.capture = Some(Box::new(Capture::default()));
        for i in 0..n {
            db.capture(format!("key:{i}").as_bytes());
        }
        let net = || crate::alloc::thread_net().map_or(0, |(_, b)| b);
        // Unaccounted bytes = what this thread holds beyond what the count says.
        let base = net() - i64::try_from(db.snapshot_copies_bytes()).unwrap();
        let c = db.capture.as_deref_mut().unwrap();
        assert!(c.list_bytes > 0 && c.taken_bytes > 0);
        let mut worst = 0i64;
        while let Some((_k, _e, _at, cost)) = c.taken.pop() {
            c.taken_bytes -= cost;
            drop((_k, _e));
            let held = i64::try_from(c.taken_bytes + c.list_bytes).unwrap();
            worst = worst.max((net() - held - base).abs());
        }
        // A few KB of slack for the allocator's own bookkeeping; the list's buffer alone
        // is over a megabyte here.
        assert!(
            worst < 64 * 1024,
            "count drifted from the allocator by {worst} bytes"
        );
    }
}
