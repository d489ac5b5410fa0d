//! Memory: the `maxmemory` gauge, eviction (Redis 7.0 `performEvictions`) and the MEMORY
//! command (USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP).
//!
//! **Measuring.** `used_memory` is jemalloc's `stats.allocated` (the whole process, as
//! Redis's `zmalloc_used_memory`). Refreshing it means advancing jemalloc's statistics
//! epoch, which merges every arena's counters: tens of microseconds (measured ~100 µs in
//! a debug build, see `gauge_cost`), far too slow for every command. So the value is
//! cached; between refreshes the executing thread's own jemalloc counters
//! (`thread.allocatedp`/`deallocatedp`, two loads, ~20 ns) add what commands allocated or
//! freed since. With the default `io-threads 1` the connections and the engine share that
//! thread, so the cached value plus that drift follows every command, reply and query
//! buffer exactly; what other threads allocate (the log writer, a snapshot's buffers) is
//! seen at the next refresh. A refresh happens every `REFRESH_MS` milliseconds (every
//! millisecond for a second after keys were evicted: the log writer frees their DEL
//! records, which the drift counted, on its own thread), every `REFRESH_EVERY` commands,
//! when the drift passes `DRIFT_MAX` bytes either way, when a command runs on another
//! thread than the last refresh (`io-threads` > 1, a script's `block_in_place`), and when
//! an evicted client's connection has freed what it held (`MemState::stale`). Refreshing
//! once a millisecond instead cost 3% of the server's time in a GET run at a million
//! requests a second.
//!
//! **Evicting.** Before every client command, when `maxmemory` is set and the gauge is
//! over it, keys are evicted by the configured policy until the bytes freed cover the
//! excess. Each deletion's freed bytes are measured exactly with the calling thread's
//! jemalloc counters (Redis measures `zmalloc_used_memory` around `dbSyncDelete`). Every
//! eviction is journaled as `DEL key` in the unit's record, before the command's own
//! effects, so replay reproduces the keyspace; it fires the `evicted` keyspace event,
//! breaks WATCHes and counts in `evicted_keys`. A run stops after
//! `maxmemory-eviction-tenacity`'s time budget (500 µs by default); the rest continues
//! before the next command and in the background cycle, which also starts evicting when
//! memory is over the limit with no command coming (after CONFIG SET maxmemory, say), as
//! Redis's eviction timer does. If nothing can be evicted
//! (`noeviction`, or no candidate keys), commands flagged DENYOOM, and any command queued
//! in MULTI, get `-OOM`. As in Redis, CLIENT NO-EVICT does not exempt a client from key
//! eviction (it protects against client eviction, which strata does not do).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::{cmd, container, CmdError, CommandSpec, Flags, Group};
use crate::config::{Config, MaxmemoryPolicy};
use crate::db::evict::{AccessMode, Pool, Rng, SampleParams, Score};
use crate::db::{Db, Entry, Value};
use crate::resp::Reply;

/// The gauge is refreshed at least every this many commands...
const REFRESH_EVERY: u32 = 16_384;
/// ... and at least every this many milliseconds...
const REFRESH_MS: i64 = 10;
/// ... and once this thread's allocations since the last refresh pass this many bytes
/// either way.
const DRIFT_MAX: i64 = 256 * 1024;

/// The `-OOM` error text.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Memory bookkeeping kept in the engine state.
#[derive(Debug)]
pub struct MemState {
    used: u64,
    refreshed_ms: i64,
    cmds: u32,
    /// The executing thread's (tag, net allocation) at the last refresh.
    base: Option<(u64, i64)>,
    /// `used_memory` when the state was created (INFO `used_memory_startup`).
    pub startup: u64,
    /// The eviction pool, kept between runs as in Redis.
    pub pool: Pool,
    next_db: usize,
    /// Random numbers for sampling and LFU increments.
    pub rng: Rng,
    /// True while an eviction run stopped at its time budget with memory still over.
    pub evicting: bool,
    /// The keyspace tables were last told a growth room (`Dict::set_growth_room`).
    growth_limited: bool,
    /// Set by a connection that freed memory the gauge may not have seen (an evicted
    /// client closing, maybe on another thread): the next check refreshes.
    pub stale: Arc<AtomicBool>,
    /// Until when the gauge refreshes every millisecond (a second after an eviction).
    evicted_until_ms: i64,
}

impl Default for MemState {
    fn default() -> Self {
        MemState::new()
    }
}

impl MemState {
    /// A new gauge; records the current allocation as the startup size.
    pub fn new() -> MemState {
        let startup = crate::alloc::allocated().unwrap_or(0);
        MemState {
            used: startup,
            refreshed_ms: i64::MIN,
            cmds: 0,
            growth_limited: false,
            base: None,
            startup,
            pool: Pool::default(),
            next_db: 0,
            rng: Rng::default(),
            evicting: false,
            stale: Arc::default(),
            evicted_until_ms: i64::MIN,
        }
    }

    /// Used memory for the eviction check (cached; see the module doc).
    pub fn used(&mut self, now_ms: i64) -> u64 {
        self.cmds += 1;
        // (Within a second of an eviction, every millisecond: what evicting journals and
        // notifies is freed by other threads, the log writer's records among them, which
        // the drift does not see go; left for 10 ms that over-count evicted more keys for
        // it, and their DEL records counted again.)
        let window = if now_ms < self.evicted_until_ms {
            1
        } else {
            REFRESH_MS
        };
        let due = !(0..window).contains(&now_ms.saturating_sub(self.refreshed_ms))
            || self.cmds >= REFRESH_EVERY
            || (self.stale.load(Ordering::Relaxed) && self.stale.swap(false, Ordering::Acquire));
        if !due {
            if let Some(drift) = self.drift() {
                if drift.abs() < DRIFT_MAX {
                    return Self::plus(self.used, drift);
                }
            }
        }
        self.refresh(now_ms);
        self.used
    }

    /// Re-read the allocator now.
    pub fn refresh(&mut self, now_ms: i64) {
        if let Some(v) = crate::alloc::allocated() {
            self.used = v;
        }
        self.base = crate::alloc::thread_net();
        self.refreshed_ms = now_ms;
        self.cmds = 0;
    }

    /// After an eviction run on this thread: fold what it freed into the cached value and
    /// restart the thread-local drift from here.
    fn evicted(&mut self) {
        self.used = self.estimate();
        self.base = crate::alloc::thread_net();
    }

    /// The cached value plus what this thread allocated (or freed) since the refresh.
    fn estimate(&self) -> u64 {
        Self::plus(self.used, self.drift().unwrap_or(0))
    }

    /// What this thread allocated minus what it freed since the refresh; None on another
    /// thread than the refresh's (or without jemalloc statistics).
    fn drift(&self) -> Option<i64> {
        match (crate::alloc::thread_net(), self.base) {
            (Some((a, now)), Some((b, then))) if a == b => Some(now - then),
            _ => None,
        }
    }

    fn plus(used: u64, drift: i64) -> u64 {
        let v = i64::try_from(used)
            .unwrap_or(i64::MAX)
            .saturating_add(drift);
        u64::try_from(v.max(0)).unwrap_or(0)
    }
}

/// How keys' access metadata is kept under `c`.
pub fn access_mode(c: &Config) -> AccessMode {
    AccessMode {
        lfu: c.maxmemory_policy.is_lfu(),
        log_factor: c.lfu_log_factor,
        decay_time: c.lfu_decay_time,
    }
}

/// Outcome of an eviction run (Redis `EVICT_OK` / `EVICT_RUNNING` / `EVICT_FAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evict {
    /// Under the limit (or no limit).
    Ok,
    /// Still over, but the run stopped at its time budget and will continue.
    Running,
    /// Over the limit and nothing (more) can be evicted.
    Fail,
}

/// Redis's `evictionTimeLimitUs`: the time budget of one run for a tenacity.
pub fn time_limit_us(tenacity: u64) -> u64 {
    if tenacity <= 10 {
        50 * tenacity
    } else if tenacity < 100 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a positive time in microseconds below 2^53"
        )]
        let t = (500.0 * 1.15f64.powf(tenacity as f64 - 10.0)) as u64;
        t
    } else {
        u64::MAX
    }
}

/// Evict until used memory is under `maxmemory` or the time budget is spent
/// (`performEvictions`). Effects are journaled in `x`'s unit.
pub fn perform_evictions(x: &mut Exec<'_>) -> Evict {
    let max = x.st.config.maxmemory;
    if max == 0 {
        if x.st.mem.growth_limited {
            set_growth_room(x, None);
        }
        return Evict::Ok;
    }
    // While clients are paused (CLIENT PAUSE WRITE or ALL, a FAILOVER) the dataset stays
    // as it is: no key expires and none is evicted, and nothing is refused for memory
    // meanwhile (Redis's isSafeToPerformEvictions).
    if x.st.writes_paused(x.now_ms) {
        return Evict::Ok;
    }
    let now = x.now_ms;
    let all = x.st.mem.used(now);
    // A running snapshot's copies of entries it has not written yet are not the dataset:
    // not counted, so evicting does not chase them (Redis does not count a fork's copies
    // either). Evicting an entry the snapshot still needs moves it there. Nor are its
    // buffers (its encoded items, the file's blocks: a fork's own memory). Nor are the
    // log's buffers, as Redis leaves out its AOF buffer: the DELs an eviction logs would
    // otherwise call for more eviction.
    let mut used = all.saturating_sub(snapshot_held(x) + not_counted_for_evict(x));
    if used > x.st.stats.peak_memory {
        x.st.stats.peak_memory = used;
    }
    if used > max && x.st.clients.limits.evicting() {
        // Over maxmemory with client eviction on: clients go first (Redis evicts clients
        // before keys), and what evicted clients hold until their connections close is
        // not the dataset's to make up for.
        x.st.clients.evict_clients();
        used = used.saturating_sub(x.st.clients.closing_mem() as u64);
    }
    set_growth_room(
        x,
        Some(usize::try_from(max.saturating_sub(used)).unwrap_or(usize::MAX)),
    );
    if used <= max {
        x.st.mem.evicting = false;
        return Evict::Ok;
    }
    let policy = x.st.config.maxmemory_policy;
    if policy == MaxmemoryPolicy::NoEviction {
        return Evict::Fail;
    }
    let to_free = i64::try_from(used - max).unwrap_or(i64::MAX);
    let limit =
        std::time::Duration::from_micros(time_limit_us(x.st.config.maxmemory_eviction_tenacity));
    let start = Instant::now();
    let net = || crate::alloc::thread_net().map_or(0, |(_, n)| n);
    let mut freed: i64 = 0;
    let mut keys: u64 = 0;
    let mut result = Evict::Ok;
    while freed < to_free {
        let Some((db, key)) = pick(x, policy) else {
            result = Evict::Fail;
            break;
        };
        let before = net();
        let held = x.st.ks.dbs[db].snapshot_copies_bytes();
        let removed = x.st.ks.dbs[db].remove(&key);
        drop(removed);
        let after = net();
        let moved = x.st.ks.dbs[db].snapshot_copies_bytes().saturating_sub(held);
        freed += before - after + i64::try_from(moved).unwrap_or(0);
        x.st.stats.evicted_keys += 1;
        x.st.touch_watched(db, &key);
        x.notify_in(db, 'e', "evicted", &key);
        x.journal_db(db, vec![Bytes::from_static(b"DEL"), Bytes::from(key)]);
        keys += 1;
        if keys.is_multiple_of(16) && start.elapsed() > limit {
            result = Evict::Running;
            break;
        }
    }
    x.st.mem.evicted();
    if keys > 0 {
        x.st.mem.evicted_until_ms = now.saturating_add(1000);
    }
    x.st.mem.evicting = result == Evict::Running;
    result
}

/// Memory `maxmemory` does not count besides what a snapshot holds (`snapshot_held`, not
/// in `used_memory` at all), INFO `mem_not_counted_for_evict`: the log's buffers and the
/// replication buffers (the backlog and what replicas have yet to read), as Redis leaves
/// out its AOF and replication buffers: a slow replica must not make the master evict keys.
pub fn not_counted_for_evict(x: &Exec<'_>) -> u64 {
    x.env.log_buffered() + x.env.resync_buffered() + replication_buffers(x.st).0
}

/// What a running background snapshot holds for itself: its copies of entries changed
/// before it wrote them, and its buffers (`server::snapshot::PipelineMem`). Redis's
/// fork child holds the like in its own process (INFO `current_cow_size`); not in
/// `used_memory`, and not counted for maxmemory.
pub fn snapshot_held(x: &Exec<'_>) -> u64 {
    x.st.ks.snapshot_copies_bytes() + x.env.snapshot_buffered()
}

/// The replication buffers: (backlog + replicas' pending output, the replicas' output
/// alone), INFO `mem_total_replication_buffers` and `mem_clients_slaves`. The stream held
/// for the replicas waiting for a payload is the backlog's (kept past its size for them).
pub fn replication_buffers(st: &super::State) -> (u64, u64) {
    let r = &st.replicas;
    let replicas: usize = r
        .ids
        .iter()
        .chain(r.waiting.iter().map(|w| &w.id))
        .filter_map(|id| st.clients.map.get(id))
        .map(|c| c.omem() + c.out.as_ref().map_or(0, |m| m.payload()))
        .sum::<usize>();
    let backlog = st.replicas.backlog.as_ref().map_or(0, |b| b.buf.len());
    ((replicas + backlog) as u64, replicas as u64)
}

/// Tell every keyspace table how many bytes its next growth may add before memory would
/// pass `maxmemory` (None: no limit), as Redis 7 asks before expanding a database's dicts.
fn set_growth_room(x: &mut Exec<'_>, room: Option<usize>) {
    for d in &mut x.st.ks.dbs {
        d.dict.set_growth_room(room);
        d.expires.set_growth_room(room);
    }
    x.st.mem.growth_limited = room.is_some();
}

/// The next key to evict under `policy` (`performEvictions`' selection), or None.
fn pick(x: &mut Exec<'_>, policy: MaxmemoryPolicy) -> Option<(usize, Vec<u8>)> {
    let st = &mut *x.st;
    let allkeys = policy.is_allkeys();
    let candidates = |d: &Db| if allkeys { d.len() } else { d.volatile_len() };
    let n = st.ks.dbs.len();
    if matches!(
        policy,
        MaxmemoryPolicy::AllkeysRandom | MaxmemoryPolicy::VolatileRandom
    ) {
        // One key per database in turn.
        for _ in 0..n {
            st.mem.next_db = (st.mem.next_db + 1) % n;
            let d = &st.ks.dbs[st.mem.next_db];
            if candidates(d) == 0 {
                continue;
            }
            let rng = &mut st.mem.rng;
            let k = if allkeys {
                d.dict
                    .random_entry(|| rng.next_u64())
                    .map(|(k, _)| k.to_vec())
            } else {
                d.expires
                    .random_entry(|| rng.next_u64())
                    .map(|(k, _)| k.to_vec())
            };
            return k.map(|k| (st.mem.next_db, k));
        }
        return None;
    }
    let score = if policy.is_lru() {
        Score::Lru
    } else if policy.is_lfu() {
        Score::Lfu
    } else {
        Score::Ttl
    };
    let p = SampleParams {
        samples: usize::try_from(st.config.maxmemory_samples).unwrap_or(5),
        now_ms: x.now_ms,
        decay_time: st.config.lfu_decay_time,
    };
    // Bounded: each round samples every database; a round that only finds ghosts repeats.
    for _ in 0..64 {
        let mut total = 0;
        let super::memory::MemState { pool, rng, .. } = &mut st.mem;
        let mut rnd = || rng.next_u64();
        for (i, d) in st.ks.dbs.iter().enumerate() {
            let c = candidates(d);
            if c > 0 {
                pool.populate(i, d, allkeys, score, p, &mut rnd);
                total += c;
            }
        }
        if total == 0 {
            return None;
        }
        if let Some(best) = pool.pop_best(&st.ks.dbs, allkeys) {
            return Some(best);
        }
    }
    None
}

/// The OOM admission check of `processCommand`: evict if needed, then refuse `spec` with
/// `-OOM` if still over the limit and the command may grow memory (DENYOOM, an EXEC
/// whose queue holds one, or anything queued inside MULTI).
pub fn admit(x: &mut Exec<'_>, spec: &CommandSpec) -> Result<(), CmdError> {
    // A parked client re-run because its key may be ready (BLPOP …) is being served, not
    // admitted: Redis checks memory only in processCommand, never when serving it.
    if !x.st.blocked.clients.is_empty() && x.st.blocked.clients.contains_key(&x.client_id) {
        return Ok(());
    }
    if perform_evictions(x) != Evict::Fail {
        return Ok(());
    }
    let name = spec.full_name.as_str();
    let c = x.client();
    let mut reject = spec.flags.contains(Flags::DENYOOM);
    if let Some(queue) = &c.multi {
        if name == "exec" {
            reject |= queue.iter().any(|argv| {
                super::COMMANDS
                    .lookup(argv)
                    .is_ok_and(|s| s.flags.contains(Flags::DENYOOM))
            });
        } else if !matches!(name, "discard" | "quit" | "reset") {
            reject = true;
        }
    }
    if reject {
        return Err(CmdError::Raw(OOM_ERROR.into()));
    }
    Ok(())
}

/// The background cycle's eviction (Redis's eviction timer): continues a run that stopped
/// at its time budget, and starts one when memory is over the limit with no command
/// coming (after CONFIG SET maxmemory, say). Returns true while more remains.
pub fn background_evict(x: &mut Exec<'_>) -> bool {
    if x.st.config.maxmemory == 0 {
        return false;
    }
    x.st.mem.refresh(x.now_ms);
    perform_evictions(x) == Evict::Running
}

// ---------------------------------------------------------------------------------------
// MEMORY
// ---------------------------------------------------------------------------------------

/// Register MEMORY and its subcommands.
pub fn register(t: &mut Vec<CommandSpec>) {
    let g = Group::Server;
    let subs = vec![
        cmd("doctor", 2, Flags::empty(), doctor)
            .group(g)
            .doc("Outputs memory problems report", "4.0.0"),
        cmd("malloc-stats", 2, Flags::empty(), malloc_stats)
            .group(g)
            .doc("Show allocator internal stats", "4.0.0"),
        cmd("stats", 2, Flags::empty(), stats)
            .group(g)
            .doc("Show memory usage details", "4.0.0"),
        cmd("usage", -3, Flags::READONLY, usage)
            .keys(2, 2, 1)
            .group(g)
            .acl(&["read"])
            .doc("Estimate the memory usage of a key", "4.0.0"),
        cmd("purge", 2, Flags::empty(), purge)
            .group(g)
            .doc("Ask the allocator to release memory", "4.0.0"),
        cmd("help", 2, Flags::LOADING | Flags::STALE, help)
            .group(g)
            .doc("Show helpful text about the different subcommands", "4.0.0"),
    ];
    t.push(
        container("memory", -2, Flags::empty(), subs)
            .group(g)
            .doc("A container for memory diagnostics commands", "4.0.0"),
    );
}

const HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

fn help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        HELP.iter().map(|l| Reply::Simple((*l).into())).collect(),
    ))
}

/// jemalloc's size class for a request of `n` bytes (what an allocation really takes):
/// 8, 16, then four classes per doubling.
pub fn alloc_size(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    if n <= 8 {
        return 8;
    }
    if n <= 16 {
        return 16;
    }
    // Classes between 2^k and 2^(k+1) are spaced 2^(k-2) apart.
    let k = usize::BITS - 1 - (n - 1).leading_zeros();
    let step = 1usize << (k.saturating_sub(2)).max(4);
    n.div_ceil(step) * step
}

/// Bytes of one keyspace slot besides the value: the chain node (inline key, entry, link),
/// a heap key if longer than the inline limit, and the bucket pointer.
fn slot_bytes(key_len: usize) -> usize {
    let node = alloc_size(24 + std::mem::size_of::<Entry>() + 8);
    let heap_key = if key_len > 22 { alloc_size(key_len) } else { 0 };
    node + heap_key + 8
}

/// Estimate of a value's heap bytes, sampling up to `samples` elements of a collection
/// (0 = all) and extrapolating, as Redis's `objectComputeSize`.
pub fn value_bytes(v: &Value, samples: usize) -> usize {
    let take = if samples == 0 { usize::MAX } else { samples };
    let extrapolate = |sum: usize, seen: usize, n: usize| (sum * n).checked_div(seen).unwrap_or(0);
    // Chained-table element: node (inline key + value + link), heap key, bucket.
    let table_elem = |key: usize, val: usize| {
        alloc_size(24 + val + 8) + if key > 22 { alloc_size(key) } else { 0 } + 8
    };
    match v {
        Value::Str(s) => alloc_size(s.capacity()),
        Value::Hash(h) => {
            let n = h.len();
            let table = h.encoding() == "hashtable";
            let (mut sum, mut seen) = (0, 0);
            for (f, val) in h.iter().take(take) {
                sum += if table {
                    table_elem(f.len(), 16) + alloc_size(val.len())
                } else if f.len() <= 14 && val.len() <= 15 {
                    // Listpack pair: a one-byte header (db::hash), then the bytes.
                    f.len() + val.len() + 1
                } else {
                    f.len() + val.len() + 5
                };
                seen += 1;
            }
            let body = extrapolate(sum, seen, n);
            if table {
                body
            } else {
                // Plus the 2-byte pair count; the buffer is sized exactly.
                alloc_size(body + 2)
            }
        }
        Value::List(l) => {
            let n = l.len();
            let (mut sum, mut seen) = (0, 0);
            for e in l.iter().take(take) {
                sum += e.len() + 2;
                seen += 1;
            }
            let body = extrapolate(sum, seen, n);
            // Nodes of up to 8 KB, each its own allocation plus its deque slot.
            alloc_size(body) + body.div_ceil(8192) * 32
        }
        Value::Set(s) => {
            let n = s.len();
            match s.encoding() {
                "intset" => alloc_size(n * 8),
                _ => {
                    let (mut sum, mut seen) = (0, 0);
                    for m in s.iter().take(take) {
                        let len = match m {
                            crate::db::set::Member::Int(i) => i.to_string().len(),
                            crate::db::set::Member::Str(b) => b.len(),
                        };
                        sum += table_elem(len, 0);
                        seen += 1;
                    }
                    extrapolate(sum, seen, n)
                }
            }
        }
        Value::ZSet(z) => {
            let n = z.len();
            let big = z.encoding() == "skiplist";
            let (mut sum, mut seen) = (0usize, 0usize);
            let hi = n.min(take).saturating_sub(1);
            if n > 0 {
                z.range(0, hi, false, |m, _| {
                    sum += if big {
                        // A 64-byte tree node (members up to 22 bytes inline, longer ones
                        // in their own allocation), its lookup-bucket share and the node
                        // array's growth slack (db::zset).
                        64 + 4 + 8 + if m.len() > 22 { alloc_size(m.len()) } else { 0 }
                    } else {
                        alloc_size(m.len()) + 24
                    };
                    seen += 1;
                });
            }
            extrapolate(sum, seen, n)
        }
        // Entries are packed per node; about an ID and a field/value pair each.
        Value::Stream(x) => x.len() * 64 + 256,
    }
}

fn usage(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut samples = 5usize;
    let mut j = 3;
    while j < a.len() {
        if is(&a[j], "samples") && j + 1 < a.len() {
            let n = arg_i64(&a[j + 1])?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
            samples = usize::try_from(n).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let db = x.db;
    if x.expire_if_needed_in(db, &a[2]) {
        return Ok(Reply::Null);
    }
    let Some(e) = x.st.ks.dbs[db].get(&a[2]) else {
        return Ok(Reply::Null);
    };
    let total = slot_bytes(a[2].len()) + value_bytes(&e.value, samples);
    Ok(Reply::Int(i64::try_from(total).unwrap_or(i64::MAX)))
}

fn purge(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    // jemalloc's purge mallctl needs unsafe code, which strata forbids; dirty pages are
    // returned by jemalloc's own decay instead. Redis replies OK the same way.
    Ok(Reply::ok())
}

fn malloc_stats(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Verbatim(
        "txt",
        Bytes::from(crate::alloc::malloc_stats_text().into_bytes()),
    ))
}

/// The figures MEMORY STATS, MEMORY DOCTOR and INFO memory share.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `used_memory`.
    pub used: u64,
    /// `used_memory_peak`.
    pub peak: u64,
    /// `used_memory_startup`.
    pub startup: u64,
    /// `used_memory_rss`.
    pub rss: u64,
    /// Allocator: allocated, active, resident.
    pub allocated: u64,
    /// Bytes in active pages.
    pub active: u64,
    /// Bytes resident.
    pub resident: u64,
    /// Per database with keys: (index, main table overhead, expires table overhead).
    pub dbs: Vec<(usize, u64, u64)>,
    /// `used_memory_overhead`.
    pub overhead: u64,
    /// Keys in all databases.
    pub keys: u64,
    /// Clients connected.
    pub clients: u64,
}

impl Report {
    /// `used_memory_dataset`.
    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead)
    }
    /// `used_memory_dataset_perc`.
    pub fn dataset_perc(&self) -> f64 {
        let net = self.used.saturating_sub(self.startup);
        if net == 0 {
            0.0
        } else {
            self.dataset() as f64 * 100.0 / net as f64
        }
    }
    /// `used_memory_peak_perc`.
    pub fn peak_perc(&self) -> f64 {
        if self.peak == 0 {
            0.0
        } else {
            self.used as f64 * 100.0 / self.peak as f64
        }
    }
    /// `mem_fragmentation_ratio`.
    pub fn frag(&self) -> f64 {
        if self.used == 0 {
            0.0
        } else {
            self.rss as f64 / self.used as f64
        }
    }
    /// Allocator fragmentation ratio (active / allocated).
    pub fn allocator_frag(&self) -> f64 {
        ratio(self.active, self.allocated)
    }
    /// Allocator RSS ratio (resident / active).
    pub fn allocator_rss(&self) -> f64 {
        ratio(self.resident, self.active)
    }
    /// RSS overhead ratio (rss / resident).
    pub fn rss_overhead(&self) -> f64 {
        ratio(self.rss, self.resident)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Resident set size from /proc/self/status, in bytes.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Gather the memory figures now (also updates the peak and the eviction gauge).
pub fn report(x: &mut Exec<'_>) -> Report {
    let s = crate::alloc::stats();
    let rss = rss_bytes();
    // Without what a running snapshot holds for itself (INFO `current_cow_size`), as
    // Redis's `used_memory` leaves out its fork's copy-on-write pages.
    let used = if s.allocated > 0 { s.allocated } else { rss };
    let used = used.saturating_sub(snapshot_held(x));
    let peak = x.st.stats.peak_memory.max(used);
    x.st.stats.peak_memory = peak;
    let node = (slot_bytes(0) - 8) as u64;
    let expire_node = alloc_size(24 + 8) as u64;
    let mut dbs = Vec::new();
    let mut keys = 0u64;
    let mut tables = 0u64;
    for (i, d) in x.st.ks.dbs.iter().enumerate() {
        if d.is_empty() {
            continue;
        }
        let main = d.dict.bucket_count() as u64 * 8 + d.len() as u64 * node;
        let exp = d.expires.bucket_count() as u64 * 8 + d.volatile_len() as u64 * expire_node;
        dbs.push((i, main, exp));
        keys += d.len() as u64;
        tables += main + exp;
    }
    let startup = x.st.mem.startup;
    let clients = x.st.clients.connected().count() as u64;
    Report {
        used,
        peak,
        startup,
        rss,
        allocated: s.allocated,
        active: s.active,
        resident: s.resident,
        dbs,
        overhead: (startup + tables).min(used),
        keys,
        clients,
    }
}

fn stats(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let r = report(x);
    let int = |v: u64| Reply::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let key = |k: &str| Reply::Bulk(Bytes::copy_from_slice(k.as_bytes()));
    let mut m: Vec<(Reply, Reply)> = vec![
        (key("peak.allocated"), int(r.peak)),
        (key("total.allocated"), int(r.used)),
        (key("startup.allocated"), int(r.startup)),
        (key("replication.backlog"), int(0)),
        (key("clients.slaves"), int(0)),
        (key("clients.normal"), int(0)),
        (key("cluster.links"), int(0)),
        (key("aof.buffer"), int(0)),
        (key("lua.caches"), int(0)),
        (key("functions.caches"), int(0)),
    ];
    for (i, main, exp) in &r.dbs {
        m.push((
            key(&format!("db.{i}")),
            Reply::Map(vec![
                (key("overhead.hashtable.main"), int(*main)),
                (key("overhead.hashtable.expires"), int(*exp)),
                (key("overhead.hashtable.slot-to-keys"), int(0)),
            ]),
        ));
    }
    let per_key = r
        .used
        .saturating_sub(r.startup)
        .checked_div(r.keys)
        .unwrap_or(0);
    let frag_bytes =
        |a: u64, b: u64| Reply::Int(i64::try_from(a).unwrap_or(0) - i64::try_from(b).unwrap_or(0));
    m.extend([
        (key("overhead.total"), int(r.overhead)),
        (key("keys.count"), int(r.keys)),
        (key("keys.bytes-per-key"), int(per_key)),
        (key("dataset.bytes"), int(r.dataset())),
        (key("dataset.percentage"), Reply::Double(r.dataset_perc())),
        (key("peak.percentage"), Reply::Double(r.peak_perc())),
        (key("allocator.allocated"), int(r.allocated)),
        (key("allocator.active"), int(r.active)),
        (key("allocator.resident"), int(r.resident)),
        (
            key("allocator-fragmentation.ratio"),
            Reply::Double(r.allocator_frag()),
        ),
        (
            key("allocator-fragmentation.bytes"),
            frag_bytes(r.active, r.allocated),
        ),
        (key("allocator-rss.ratio"), Reply::Double(r.allocator_rss())),
        (key("allocator-rss.bytes"), frag_bytes(r.resident, r.active)),
        (key("rss-overhead.ratio"), Reply::Double(r.rss_overhead())),
        (key("rss-overhead.bytes"), frag_bytes(r.rss, r.resident)),
        (key("fragmentation"), Reply::Double(r.frag())),
        (key("fragmentation.bytes"), frag_bytes(r.rss, r.used)),
    ]);
    Ok(Reply::Map(m))
}

/// Redis's `getMemoryDoctorReport`, same thresholds and texts.
fn doctor(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let r = report(x);
    let empty = r.used < 1024 * 1024 * 5;
    let over = |ratio: f64, a: u64, b: u64| ratio > 1.1 && a.saturating_sub(b) > 10 << 20;
    let big_peak = !empty && r.peak as f64 / r.used as f64 > 1.5;
    let high_frag = !empty && r.frag() > 1.4 && r.rss.saturating_sub(r.used) > 10 << 20;
    let high_alloc_frag = !empty && over(r.allocator_frag(), r.active, r.allocated);
    let high_alloc_rss = !empty && over(r.allocator_rss(), r.resident, r.active);
    let high_proc_rss = !empty && over(r.rss_overhead(), r.rss, r.resident);
    let many_scripts = !empty && x.st.scripts.len() > 1000;
    let issues = [
        big_peak,
        high_frag,
        high_alloc_frag,
        high_alloc_rss,
        high_proc_rss,
        many_scripts,
    ];
    let text = if empty {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else if !issues.contains(&true) {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
    } else {
        let mut s = String::from(
            "Sam, I detected a few issues in this Redis instance memory implants:\n\n",
        );
        let texts = [
            " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n",
            " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc-5.3.0\".\n\n",
            " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n",
            " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n",
            " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n",
            " * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.\n\n",
        ];
        for (on, t) in issues.iter().zip(texts) {
            if *on {
                s.push_str(t);
            }
        }
        s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
        s
    };
    Ok(Reply::Verbatim("txt", Bytes::from(text.into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        let classes: Vec<usize> = [
            1, 8, 9, 16, 17, 33, 48, 49, 64, 65, 80, 81, 100, 129, 200, 4097,
        ]
        .iter()
        .map(|&n| alloc_size(n))
        .collect();
        assert_eq!(
            classes,
            [8, 8, 16, 16, 32, 48, 48, 64, 64, 80, 80, 96, 112, 160, 224, 5120]
        );
    }

    #[test]
    fn tenacity_budgets() {
        assert_eq!(time_limit_us(0), 0);
        assert_eq!(time_limit_us(10), 500);
        assert_eq!(time_limit_us(11), 575);
        assert_eq!(time_limit_us(100), u64::MAX);
    }
}

#[cfg(test)]
mod gauge_cost {
    /// Prints what one allocator refresh costs (run with --nocapture); the gauge's cache
    /// exists because this is microseconds, not nanoseconds.
    #[test]
    fn refresh_cost() {
        let n = 2000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            assert!(crate::alloc::allocated().is_some());
        }
        let per = t.elapsed() / n;
        let m = crate::alloc::ThreadMeter::new().expect("meter");
        let t = std::time::Instant::now();
        let mut s = 0i64;
        for _ in 0..n {
            s = s.wrapping_add(m.net());
        }
        let meter = t.elapsed() / n;
        eprintln!("allocator refresh {per:?}, thread meter read {meter:?} ({s})");
    }
}

#[cfg(test)]
mod eviction_tests {
    use super::super::dispatch;
    use super::super::exec::{Caller, JournalEntry};
    use super::super::server::testkit::*;
    use super::*;

    const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

    fn run_j(t: &mut Tk, line: &str) -> (Reply, Vec<JournalEntry>) {
        let argv: Vec<Bytes> = line
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut x = Exec::new(&mut t.st, &t.env, 1, 1_000_000, Caller::Client);
        let r = dispatch::call(&mut x, &argv);
        (r, x.journal)
    }

    fn dels(j: &[JournalEntry]) -> Vec<String> {
        j.iter()
            .filter(|(_, a)| a[0] == "DEL")
            .map(|(db, a)| format!("{db}:{}", String::from_utf8_lossy(&a[1])))
            .collect()
    }

    /// Every key is over the limit: the policy decides the order in which all go.
    fn over_limit(t: &mut Tk, policy: &str) {
        t.st.config.set("maxmemory-policy", policy, true).unwrap();
        t.st.config.maxmemory = 1;
    }

    #[test]
    fn allkeys_lru_evicts_oldest_first_then_refuses_denyoom() {
        let mut t = Tk::new();
        for k in ["a", "b", "c"] {
            t.run(&format!("SET {k} v"));
        }
        // Access clocks: b oldest, then c, then a.
        for (k, age) in [("a", 1), ("b", 30), ("c", 10)] {
            t.st.ks.dbs[0].touch(k.as_bytes(), |e| {
                e.access_s = evict::lru_clock(1_000_000 - age * 1000)
            });
        }
        t.run("SELECT 2");
        t.run("SET z v");
        t.run("SELECT 0");
        over_limit(&mut t, "allkeys-lru");
        let (r, j) = run_j(&mut t, "GET a");
        assert_eq!(r, Reply::Null);
        let d = dels(&j);
        assert_eq!(d.len(), 4);
        assert_eq!(&d[..2], ["0:b", "0:c"]);
        assert_eq!(t.st.stats.evicted_keys, 4);
        assert_eq!(t.st.ks.total_keys(), 0);
        // Nothing left to evict: DENYOOM refused, the rest served.
        let (r, j) = run_j(&mut t, "SET n v");
        assert_eq!(r, Reply::Error(OOM.into()));
        assert!(j.is_empty());
        assert_eq!(t.run("DEL n"), Reply::Int(0));
        assert_eq!(t.run("PING"), simple("PONG"));
    }

    use crate::db::evict;

    #[test]
    fn volatile_ttl_evicts_soonest_expiry_first_and_spares_persistent_keys() {
        let mut t = Tk::new();
        t.run("SET keep v");
        t.run("SET late v PX 90000");
        t.run("SET soon v PX 10000");
        t.run("SET mid v PX 50000");
        over_limit(&mut t, "volatile-ttl");
        let (r, j) = run_j(&mut t, "SET x v");
        assert_eq!(r, Reply::Error(OOM.into()));
        assert_eq!(dels(&j), ["0:soon", "0:mid", "0:late"]);
        assert_eq!(t.run("GET keep"), bulk("v"));
    }

    #[test]
    fn lfu_evicts_least_frequent_first() {
        // A real clock: fresh stamps are Unix seconds above 2^24 (Tk's clock is 1000 s).
        let now = 1_700_000_000_000;
        let mut t = Tk::new();
        let run = |t: &mut Tk, line: &str| {
            let argv: Vec<Bytes> = line
                .split(' ')
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect();
            let mut x = Exec::new(&mut t.st, &t.env, 1, now, Caller::Client);
            let r = dispatch::call(&mut x, &argv);
            (r, x.journal)
        };
        t.st.config
            .set("maxmemory-policy", "allkeys-lfu", true)
            .unwrap();
        t.st.config.lfu_log_factor = 0;
        for k in ["a", "b", "c"] {
            run(&mut t, &format!("SET {k} v"));
        }
        for _ in 0..5 {
            run(&mut t, "GET a");
        }
        run(&mut t, "GET c");
        assert_eq!(run(&mut t, "OBJECT FREQ a").0, Reply::Int(10));
        assert_eq!(run(&mut t, "OBJECT FREQ b").0, Reply::Int(5));
        // An overwrite keeps the counter (Redis dbSetValue under LFU).
        run(&mut t, "SET a w");
        assert_eq!(run(&mut t, "OBJECT FREQ a").0, Reply::Int(11));
        over_limit(&mut t, "allkeys-lfu");
        let (_, j) = run(&mut t, "PING");
        assert_eq!(dels(&j), ["0:b", "0:c", "0:a"]);
    }

    #[test]
    fn noeviction_and_multi() {
        let mut t = Tk::new();
        t.run("SET a v");
        over_limit(&mut t, "noeviction");
        t.script(
            "SET b v => -OOM command not allowed when used memory > 'maxmemory'.
             GET a => $v
             MULTI => +OK
             GET a => -OOM command not allowed when used memory > 'maxmemory'.
             EXEC => -EXECABORT Transaction discarded because of previous errors.",
        );
        // Queued before the limit was crossed: EXEC itself is refused.
        t.st.config.maxmemory = 0;
        t.script("MULTI => +OK\nSET b v => +QUEUED\nGET a => +QUEUED");
        t.st.config.maxmemory = 1;
        t.script("EXEC => -EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.");
        // A read-only transaction runs.
        t.st.config.maxmemory = 0;
        t.script("MULTI => +OK\nGET a => +QUEUED");
        t.st.config.maxmemory = 1;
        assert_eq!(t.run("EXEC"), Reply::Array(vec![bulk("v")]));
        assert_eq!(t.run("DEL a"), Reply::Int(1));
        assert_eq!(t.st.stats.evicted_keys, 0);
    }

    #[test]
    fn client_no_evict_does_not_exempt_from_key_eviction() {
        let mut t = Tk::new();
        t.run("SET a v");
        t.run("CLIENT NO-EVICT on");
        over_limit(&mut t, "allkeys-random");
        let (r, j) = run_j(&mut t, "SET b v");
        assert_eq!(r, Reply::Error(OOM.into()));
        assert_eq!(dels(&j), ["0:a"]);
    }
}
