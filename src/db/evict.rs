//! The per-key access metadata behind eviction and OBJECT IDLETIME/FREQ, and the
//! mechanics of choosing what to evict, as Redis 7.0's `evict.c` does.
//!
//! `Entry::access_s` holds Redis's 24-bit `lru` field: under an LRU policy the LRU clock
//! (Unix seconds modulo 2^24) of the last access; under an LFU policy 16 bits of Unix
//! minutes of the last decrement and an 8-bit logarithmic counter. Switching the policy
//! reinterprets the bits, as in Redis. A value above 2^24 is a *fresh* stamp: the full
//! Unix seconds `Entry::new` stores at creation, read as a new object created then
//! (LRU clock of that second, or that minute with the counter at `LFU_INIT_VAL`), so
//! creation does not need to know the policy.
//!
//! The eviction pool (16 best candidates, refilled by sampling `maxmemory-samples` keys
//! per database, best = highest score: idle time, 255 - frequency, or nearest expiry) and
//! the random pick live here; the command layer decides when to evict, deletes, journals
//! and counts. Nothing here reads the clock or the configuration: callers pass both.

use super::{Db, Entry};

/// Bits of the `lru` field (`LRU_BITS`).
pub const LRU_BITS: u32 = 24;
/// Largest LRU clock value (`LRU_CLOCK_MAX`).
pub const LRU_CLOCK_MAX: u32 = (1 << LRU_BITS) - 1;
/// A new key's LFU counter (`LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u8 = 5;
/// Size of the eviction pool (`EVPOOL_SIZE`).
pub const EVPOOL_SIZE: usize = 16;

/// How access metadata is kept: the parts of the configuration that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessMode {
    /// An LFU policy is selected (else the field is an LRU clock).
    pub lfu: bool,
    /// `lfu-log-factor`.
    pub log_factor: u64,
    /// `lfu-decay-time` in minutes (0 = never decay).
    pub decay_time: u64,
}

/// Redis's `LRU_CLOCK()` at `now_ms`: Unix seconds modulo 2^24.
pub fn lru_clock(now_ms: i64) -> u32 {
    #[expect(clippy::cast_possible_truncation, reason = "masked to 24 bits")]
    let c = (now_ms.max(0) / 1000) as u32;
    c & LRU_CLOCK_MAX
}

/// Redis's `LFUGetTimeInMinutes()` at `now_ms`: Unix minutes modulo 2^16.
pub fn lfu_minutes(now_ms: i64) -> u32 {
    #[expect(clippy::cast_possible_truncation, reason = "masked to 16 bits")]
    let m = (now_ms.max(0) / 60_000) as u32;
    m & 0xffff
}

/// The stored 24-bit field of an entry, a fresh stamp read as a new object (see above).
pub fn lru_field(access_s: u32, lfu: bool) -> u32 {
    if access_s <= LRU_CLOCK_MAX {
        access_s
    } else if lfu {
        (((access_s / 60) & 0xffff) << 8) | u32::from(LFU_INIT_VAL)
    } else {
        access_s & LRU_CLOCK_MAX
    }
}

/// Settle every fresh stamp in `db` to the field the policy in force until now (`lfu`)
/// gave it. Called when `maxmemory-policy` switches between LRU and LFU kinds: Redis's
/// field then holds what the old policy stored (the LRU clock of a key created under an
/// LRU policy is read as an LFU field), and so must strata's, whose fresh stamps would
/// otherwise be read as new under the new policy (OBJECT FREQ of a key set before the
/// switch and read once after: 6 here, 1 in Redis, as its clock bits decay to 0).
pub fn settle_fresh(db: &mut Db, lfu: bool) {
    db.dict.for_each_value_mut(|e| {
        if e.access_s > LRU_CLOCK_MAX {
            e.access_s = lru_field(e.access_s, lfu);
        }
    });
}

/// Redis's `estimateObjectIdleTime`: milliseconds since the last access of an LRU field,
/// allowing for one wrap of the 24-bit clock.
pub fn idle_ms(lru: u32, now_ms: i64) -> u64 {
    let clock = lru_clock(now_ms);
    let secs = if clock >= lru {
        clock - lru
    } else {
        clock + (LRU_CLOCK_MAX - lru)
    };
    u64::from(secs) * 1000
}

/// Redis's `LFUTimeElapsed`: minutes since `ldt`, allowing for one wrap.
fn lfu_elapsed(ldt: u32, now_ms: i64) -> u32 {
    let now = lfu_minutes(now_ms);
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// Redis's `LFUDecrAndReturn`: the counter of an LFU field after decay (not stored).
pub fn lfu_decr_and_return(lru: u32, now_ms: i64, decay_time: u64) -> u8 {
    let ldt = lru >> 8;
    let counter = u8::try_from(lru & 0xff).unwrap_or(u8::MAX);
    let periods = u64::from(lfu_elapsed(ldt, now_ms))
        .checked_div(decay_time)
        .unwrap_or(0);
    if periods == 0 {
        counter
    } else if periods > u64::from(counter) {
        0
    } else {
        counter - u8::try_from(periods).unwrap_or(counter)
    }
}

/// Redis's `LFULogIncr`: grow the counter with probability 1/((c - LFU_INIT_VAL) *
/// log_factor + 1); `r` is a uniform random number in [0, 1].
pub fn lfu_log_incr(counter: u8, log_factor: u64, r: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    #[expect(clippy::cast_precision_loss, reason = "a small factor")]
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// The field after an access (Redis `lookupKey`): the LRU clock now, or under LFU the
/// decayed counter incremented logarithmically and stamped with the current minute.
/// `rnd` supplies the random number LFU needs.
pub fn touched(access_s: u32, now_ms: i64, mode: AccessMode, rnd: impl FnOnce() -> f64) -> u32 {
    if !mode.lfu {
        return lru_clock(now_ms);
    }
    let lru = lru_field(access_s, true);
    let c = lfu_decr_and_return(lru, now_ms, mode.decay_time);
    let c = lfu_log_incr(c, mode.log_factor, rnd());
    (lfu_minutes(now_ms) << 8) | u32::from(c)
}

/// Which keys an eviction policy scores, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// Least recently used first (idle time).
    Lru,
    /// Least frequently used first (255 - counter).
    Lfu,
    /// Nearest expiry first.
    Ttl,
}

/// One candidate in the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Score: higher = better to evict.
    pub idle: u64,
    /// The key.
    pub key: Vec<u8>,
    /// Its database.
    pub db: usize,
}

/// Redis's eviction pool: up to 16 candidates sorted by ascending score, kept between
/// eviction runs.
#[derive(Debug, Default)]
pub struct Pool {
    slots: Vec<Option<Candidate>>,
}

impl Pool {
    fn ensure(&mut self) {
        if self.slots.len() != EVPOOL_SIZE {
            self.slots = vec![None; EVPOOL_SIZE];
        }
    }

    /// Candidates held, worst to best (for tests).
    pub fn candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.slots.iter().flatten()
    }

    /// Forget every candidate.
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Redis's insertion: keep the 16 highest scores, sorted ascending.
    fn insert(&mut self, c: Candidate) {
        self.ensure();
        let n = EVPOOL_SIZE;
        let mut k = 0;
        while k < n && self.slots[k].as_ref().is_some_and(|e| e.idle < c.idle) {
            k += 1;
        }
        if k == 0 && self.slots[n - 1].is_some() {
            // Worse than everything in a full pool.
            return;
        }
        if k < n && self.slots[k].is_none() {
            // An empty slot: take it.
        } else if self.slots[n - 1].is_none() {
            // Free space on the right: shift k.. right (the None at the end wraps to k).
            self.slots[k..].rotate_right(1);
        } else {
            // Full: drop the lowest score, shifting 0..k left.
            k -= 1;
            self.slots[..=k].rotate_left(1);
        }
        self.slots[k] = Some(c);
    }

    /// Sample up to `samples` keys of database `dbi` (from every key, or from the keys with
    /// a TTL) and offer them to the pool (`evictionPoolPopulate`).
    pub fn populate(
        &mut self,
        dbi: usize,
        db: &Db,
        allkeys: bool,
        score: Score,
        p: SampleParams,
        rnd: &mut impl FnMut() -> u64,
    ) {
        let mut found: Vec<Candidate> = Vec::with_capacity(p.samples);
        let rate = |k: &[u8], e: &Entry| Candidate {
            idle: entry_score(e, db.expire_of(k, e), score, p),
            key: k.to_vec(),
            db: dbi,
        };
        if allkeys {
            some_keys(&db.dict, p.samples, rnd, |k, e| found.push(rate(k, e)));
        } else {
            some_keys(&db.expires, p.samples, rnd, |k, _| {
                if let Some(e) = db.dict.get(k) {
                    found.push(rate(k, e));
                }
            });
        }
        for c in found {
            self.insert(c);
        }
    }

    /// Take the best candidate that still exists (`performEvictions`' backward walk);
    /// ghosts (keys deleted since they were sampled) are dropped on the way.
    pub fn pop_best(&mut self, dbs: &[Db], allkeys: bool) -> Option<(usize, Vec<u8>)> {
        self.ensure();
        for k in (0..EVPOOL_SIZE).rev() {
            let Some(c) = self.slots[k].take() else {
                continue;
            };
            let exists = dbs.get(c.db).is_some_and(|d| {
                if allkeys {
                    d.dict.contains_key(&c.key)
                } else {
                    d.expires.contains_key(&c.key)
                }
            });
            if exists {
                return Some((c.db, c.key));
            }
        }
        None
    }
}

/// What scoring needs besides the entry.
#[derive(Debug, Clone, Copy)]
pub struct SampleParams {
    /// `maxmemory-samples`.
    pub samples: usize,
    /// The time of the run.
    pub now_ms: i64,
    /// `lfu-decay-time`.
    pub decay_time: u64,
}

/// The pool score of an entry whose absolute expiry is `expire_at` (-1 = none): higher =
/// evict first.
pub fn entry_score(e: &Entry, expire_at: i64, score: Score, p: SampleParams) -> u64 {
    match score {
        Score::Lru => idle_ms(lru_field(e.access_s, false), p.now_ms),
        Score::Lfu => {
            255 - u64::from(lfu_decr_and_return(
                lru_field(e.access_s, true),
                p.now_ms,
                p.decay_time,
            ))
        }
        Score::Ttl => u64::MAX - u64::try_from(expire_at.max(0)).unwrap_or(0),
    }
}

/// Redis's `dictGetSomeKeys`: up to `count` elements from consecutive buckets starting at
/// a random one, visiting at most `count * 10` buckets.
pub fn some_keys<V>(
    d: &super::Dict<V>,
    count: usize,
    rnd: &mut impl FnMut() -> u64,
    mut f: impl FnMut(&[u8], &V),
) {
    if d.is_empty() || count == 0 {
        return;
    }
    let count = count.min(d.len());
    let mut got = 0;
    let mut cursor = rnd();
    let mut steps = count * 10;
    while got < count && steps > 0 {
        steps -= 1;
        cursor = d.scan_step(cursor, |k, v| {
            if got < count {
                f(k, v);
                got += 1;
            }
        });
    }
}

/// A small deterministic generator (xorshift64*) for sampling and LFU increments.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Default for Rng {
    fn default() -> Self {
        Rng(0x9e37_79b9_7f4a_7c15)
    }
}

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "53 random bits")]
        let v = (self.next_u64() >> 11) as f64;
        v / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn fresh_stamps_read_as_new_objects() {
        let e = Entry::new(Value::Str(b"v".to_vec().into()), T0);
        assert!(e.access_s > LRU_CLOCK_MAX);
        assert_eq!(lru_field(e.access_s, false), lru_clock(T0));
        let lfu = lru_field(e.access_s, true);
        assert_eq!(lfu & 0xff, 5);
        assert_eq!(lfu >> 8, lfu_minutes(T0));
        assert_eq!(idle_ms(lru_field(e.access_s, false), T0 + 7_500), 7_000);
    }

    /// A switch between LRU and LFU policies: keys created before it keep the field the
    /// old policy gave them (their LRU clock is then read as LFU bits, as in Redis);
    /// settled fields stay as they are.
    #[test]
    fn a_policy_switch_settles_fresh_stamps_under_the_old_policy() {
        let mut db = Db::default();
        for k in [&b"a"[..], b"b"] {
            db.insert(k, Entry::new(Value::Str(b"v".to_vec().into()), T0));
        }
        let mut settled = Entry::new(Value::Str(b"v".to_vec().into()), T0);
        settled.access_s = 1234;
        db.insert(b"c", settled);
        settle_fresh(&mut db, false);
        for k in [&b"a"[..], b"b"] {
            assert_eq!(db.get(k).unwrap().access_s, lru_clock(T0));
        }
        assert_eq!(db.get(b"c").unwrap().access_s, 1234);
        let mut db = Db::default();
        db.insert(b"a", Entry::new(Value::Str(b"v".to_vec().into()), T0));
        settle_fresh(&mut db, true);
        let f = db.get(b"a").unwrap().access_s;
        assert_eq!((f >> 8, f & 0xff), (lfu_minutes(T0), 5));
    }

    #[test]
    fn lru_clock_wraps() {
        let lru = LRU_CLOCK_MAX - 2;
        // 3 seconds later the clock wrapped to 0.
        let now = (i64::from(LRU_CLOCK_MAX) + 1) * 1000;
        assert_eq!(idle_ms(lru, now), 2_000);
    }

    #[test]
    fn lfu_counter_decays_and_grows_logarithmically() {
        let mode = AccessMode {
            lfu: true,
            log_factor: 10,
            decay_time: 1,
        };
        let fresh = secs_stamp(T0);
        // r = 0 always increments.
        let f = touched(fresh, T0, mode, || 0.0);
        assert_eq!(lfu_decr_and_return(f, T0, 1), 6);
        // r = 0.5: p = 1/(1*10+1) < 0.5, no increment at counter 6.
        let g = touched(f, T0, mode, || 0.5);
        assert_eq!(lfu_decr_and_return(g, T0, 1), 6);
        // Three minutes idle: 6 - 3.
        assert_eq!(lfu_decr_and_return(g, T0 + 180_000, 1), 3);
        assert_eq!(lfu_decr_and_return(g, T0 + 180_000, 0), 6);
        assert_eq!(lfu_decr_and_return(g, T0 + 60 * 60_000, 1), 0);
        assert_eq!(lfu_log_incr(255, 10, 0.0), 255);
        assert_eq!(lfu_log_incr(3, 10, 0.99), 4);
        // LRU mode: the clock.
        let m = AccessMode { lfu: false, ..mode };
        assert_eq!(touched(f, T0 + 5_000, m, || 0.0), lru_clock(T0 + 5_000));
    }

    fn secs_stamp(now: i64) -> u32 {
        crate::db::value::secs(now)
    }

    #[test]
    fn pool_keeps_the_best_sorted() {
        let mut p = Pool::default();
        for (i, idle) in [5u64, 1, 9, 3, 7].iter().enumerate() {
            p.insert(Candidate {
                idle: *idle,
                key: vec![u8::try_from(i).unwrap()],
                db: 0,
            });
        }
        let v: Vec<u64> = p.candidates().map(|c| c.idle).collect();
        assert_eq!(v, [1, 3, 5, 7, 9]);
        for idle in 10..30 {
            p.insert(Candidate {
                idle,
                key: vec![],
                db: 0,
            });
        }
        let v: Vec<u64> = p.candidates().map(|c| c.idle).collect();
        assert_eq!(v, (14..30).collect::<Vec<_>>());
        // Lower than everything in a full pool: ignored.
        p.insert(Candidate {
            idle: 0,
            key: vec![],
            db: 0,
        });
        assert_eq!(p.candidates().next().map(|c| c.idle), Some(14));
    }

    #[test]
    fn populate_and_pop_skip_ghosts() {
        let mut db = Db::default();
        for i in 0..100u32 {
            let mut e = Entry::new(Value::Str(vec![1].into()), T0);
            e.access_s = lru_clock(T0 - i64::from(i) * 1000);
            db.insert(format!("k{i}").as_bytes(), e);
        }
        let mut rng = Rng::default();
        let mut rnd = || rng.next_u64();
        let mut pool = Pool::default();
        let p = SampleParams {
            samples: 100,
            now_ms: T0,
            decay_time: 1,
        };
        pool.populate(0, &db, true, Score::Lru, p, &mut rnd);
        let dbs = vec![db];
        // The oldest key (k99) is the best candidate.
        assert_eq!(pool.pop_best(&dbs, true), Some((0, b"k99".to_vec())));
        let mut dbs = dbs;
        dbs[0].remove(b"k98");
        assert_eq!(pool.pop_best(&dbs, true), Some((0, b"k97".to_vec())));
        // Volatile: no key has a TTL, nothing sampled.
        let mut pool = Pool::default();
        pool.populate(0, &dbs[0], false, Score::Lru, p, &mut rnd);
        assert_eq!(pool.pop_best(&dbs, false), None);
    }

    #[test]
    fn some_keys_returns_distinct_elements() {
        let mut db = Db::default();
        for i in 0..1000u32 {
            db.insert(&i.to_le_bytes(), Entry::new(Value::Str(vec![].into()), T0));
        }
        let mut rng = Rng::default();
        let mut seen = std::collections::HashSet::new();
        some_keys(&db.dict, 16, &mut || rng.next_u64(), |k, _| {
            seen.insert(k.to_vec());
        });
        assert_eq!(seen.len(), 16);
    }
}
