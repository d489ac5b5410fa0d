//! `Value`: what a key holds, and `Entry`: a value plus its expiry and access metadata.
//! Every Redis type is a variant here; its semantics live in the sibling files.

/// A Redis value. Type-specific semantics live in sibling files (`bits`, `strnum`,
/// `hash`, `list`, `set`, `zset`). Collections are behind a pointer so the enum stays small
/// (a hash is two words itself, so it is held unboxed).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A binary-safe string.
    Str(super::strbuf::StrBuf),
    /// A hash.
    Hash(super::hash::Hash),
    /// A list.
    List(Box<super::list::List>),
    /// A set.
    Set(Box<super::set::Set>),
    /// A sorted set.
    ZSet(Box<super::zset::ZSet>),
    /// A stream (shared with a running snapshot's copy until one of them changes).
    Stream(super::shared::Shared<super::stream::Stream>),
}

impl Value {
    /// Elements in a collection; the length for a string.
    pub fn element_count(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Hash(h) => h.len(),
            Value::List(l) => l.len(),
            Value::Set(v) => v.len(),
            Value::ZSet(z) => z.len(),
            Value::Stream(x) => x.len(),
        }
    }

    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }
}

/// A key's slot in the keyspace.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Redis's 24-bit `lru` field: the LRU clock of the last access, or under an LFU
    /// policy minutes + a logarithmic access counter; above 2^24, the Unix seconds of
    /// creation (a fresh stamp). Interpreted by `db::evict`.
    pub access_s: u32,
    /// True once the string was modified in place (APPEND, SETRANGE, SETBIT): OBJECT
    /// ENCODING then reports `raw` as Redis does.
    pub raw: bool,
    /// True for strings Redis stores as text even when they look integral (INCRBYFLOAT
    /// results): OBJECT ENCODING then reports `embstr`, never `int`.
    pub not_int: bool,
    /// Snapshot epoch bit: equal to its database's `Db::epoch` once the running snapshot
    /// has this entry (or when no snapshot runs). Maintained by `Db` only.
    pub snap: bool,
    /// The key has an expiry, kept in its database's `expires` table (as Redis keeps
    /// expiry times in a second dict): an entry stays 32 bytes, so a keyspace node is 64
    /// (jemalloc's 64-byte class, where an in-entry expiry made it 72 and so 80). Only
    /// keys with this set pay the second lookup. Maintained by `Db` only.
    pub ttl: bool,
}

// An entry stays 32 bytes, so a keyspace node is 64 (`Entry::ttl`).
const _: () = assert!(std::mem::size_of::<Entry>() == 32);

impl Entry {
    /// A rough size of the entry and what it owns, for memory that must be accounted
    /// without the allocator (a snapshot's copies): strings exactly, collections at an
    /// average 48 bytes per element.
    pub fn approx_bytes(&self) -> usize {
        let body = match &self.value {
            Value::Str(s) => s.capacity(),
            other => other.element_count().saturating_mul(48),
        };
        std::mem::size_of::<Entry>() + body
    }
}

/// Equality of what a key holds (the snapshot bit is bookkeeping, not content).
impl PartialEq for Entry {
    fn eq(&self, o: &Entry) -> bool {
        self.value == o.value
            && self.ttl == o.ttl
            && self.access_s == o.access_s
            && self.raw == o.raw
            && self.not_int == o.not_int
    }
}

impl Entry {
    /// A copy for a running snapshot: a large string's bytes (`db::LARGE_STRING`) are
    /// shared rather than copied (`StrBuf::share`), as a large collection's contents are
    /// (`db::shared`), so taking it costs microseconds under the engine lock.
    pub fn snapshot_copy(&mut self) -> Entry {
        match &mut self.value {
            Value::Str(s) if s.len() >= super::LARGE_STRING => Entry {
                value: Value::Str(s.share()),
                access_s: self.access_s,
                raw: self.raw,
                not_int: self.not_int,
                snap: self.snap,
                ttl: self.ttl,
            },
            _ => self.clone(),
        }
    }

    /// A fresh entry without expiry.
    pub fn new(value: Value, now_ms: i64) -> Entry {
        Entry {
            value,
            access_s: secs(now_ms),
            raw: false,
            not_int: false,
            snap: false,
            ttl: false,
        }
    }

    /// The encoding OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.value {
            Value::Str(s) => {
                if !self.raw
                    && !self.not_int
                    && s.len() <= 20
                    && super::strnum::parse_i64(s).is_some()
                {
                    "int"
                } else if !self.raw && s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(x) => x.encoding(),
        }
    }
}

/// Seconds since the epoch: the fresh stamp `Entry::new` stores in `access_s`.
pub fn secs(now_ms: i64) -> u32 {
    u32::try_from(now_ms.max(0) / 1000).unwrap_or(u32::MAX)
}
