//! Sorted-set commands (ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK ZCOUNT
//! ZLEXCOUNT ZRANGE ZRANGESTORE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX
//! ZREVRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX ZPOPMIN ZPOPMAX ZMPOP
//! ZUNION ZUNIONSTORE ZINTER ZINTERSTORE ZINTERCARD ZDIFF ZDIFFSTORE ZRANDMEMBER ZSCAN):
//! argument parsing in Redis 7.0's order and wording, score and lex range specs, reply
//! shapes for RESP2 (flat, scores as `%.17g` bulk strings) and RESP3 (pairs, doubles),
//! and journaling. Float results are journaled as effects (ZINCRBY and ZADD INCR →
//! `ZADD k <resulting score> m`); everything else is deterministic given the keyspace and
//! is journaled verbatim, including the *STORE commands: replay runs this same code on the
//! same source values (inputs are combined in a stable order: by cardinality, then
//! argument order), so the float sums are bit-identical. Set semantics live in `db::zset`;
//! blocking variants (BZPOPMIN BZPOPMAX BZMPOP) are not here.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::keys::{parse_scan_options, ScanOptions};
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::db::set::Set;
use crate::db::strnum::{format_double, parse_double};
use crate::db::zset::{cmp_pair, Limits, ZSet};
use crate::db::{Entry, Value};
use crate::glob::glob_match;
use crate::resp::reply::Bulks;
use crate::resp::Reply;

/// Register the sorted-set commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::SortedSet;
    let ro = F::READONLY;
    let w = F::WRITE;
    let wd = F::WRITE | F::DENYOOM;
    let c = Journal::Custom;
    // Keys that follow a numkeys argument are not in the key spec (Redis: `movablekeys`).
    let one = |s: CommandSpec| s.keys(1, 1, 1).group(g);
    t.push(one(cmd("zadd", -4, wd | F::FAST, zadd)).journal(c).doc(
        "Add one or more members to a sorted set, or update its score if it already exists",
        "1.2.0",
    ));
    t.push(
        one(cmd("zincrby", 4, wd | F::FAST, zincrby))
            .journal(c)
            .doc("Increment the score of a member in a sorted set", "1.2.0"),
    );
    t.push(
        one(cmd("zrem", -3, w | F::FAST, zrem))
            .doc("Remove one or more members from a sorted set", "1.2.0"),
    );
    t.push(
        one(cmd("zcard", 2, ro | F::FAST, zcard))
            .doc("Get the number of members in a sorted set", "1.2.0"),
    );
    t.push(one(cmd("zscore", 3, ro | F::FAST, zscore)).doc(
        "Get the score associated with the given member in a sorted set",
        "1.2.0",
    ));
    t.push(one(cmd("zmscore", -3, ro | F::FAST, zmscore)).doc(
        "Get the score associated with the given members in a sorted set",
        "6.2.0",
    ));
    t.push(
        one(cmd("zrank", 3, ro | F::FAST, zrank))
            .doc("Determine the index of a member in a sorted set", "2.0.0"),
    );
    t.push(one(cmd("zrevrank", 3, ro | F::FAST, zrevrank)).doc(
        "Determine the index of a member in a sorted set, with scores ordered from high to low",
        "2.0.0",
    ));
    t.push(one(cmd("zcount", 4, ro | F::FAST, zcount)).doc(
        "Count the members in a sorted set with scores within the given values",
        "2.0.0",
    ));
    t.push(one(cmd("zlexcount", 4, ro | F::FAST, zlexcount)).doc(
        "Count the number of members in a sorted set between a given lexicographical range",
        "2.8.9",
    ));
    t.push(
        one(cmd("zrange", -4, ro, zrange))
            .doc("Return a range of members in a sorted set", "1.2.0"),
    );
    t.push(
        cmd("zrangestore", -5, wd, zrangestore)
            .keys(1, 2, 1)
            .group(g)
            .doc(
                "Store a range of members from sorted set into another key",
                "6.2.0",
            ),
    );
    t.push(one(cmd("zrevrange", -4, ro, zrevrange)).doc(
        "Return a range of members in a sorted set, by index, with scores ordered from high to low",
        "1.2.0",
    ));
    t.push(one(cmd("zrangebyscore", -4, ro, zrangebyscore)).doc(
        "Return a range of members in a sorted set, by score",
        "1.0.5",
    ));
    t.push(one(cmd("zrevrangebyscore", -4, ro, zrevrangebyscore)).doc(
        "Return a range of members in a sorted set, by score, with scores ordered from high to low",
        "2.2.0",
    ));
    t.push(one(cmd("zrangebylex", -4, ro, zrangebylex)).doc(
        "Return a range of members in a sorted set, by lexicographical range",
        "2.8.9",
    ));
    t.push(one(cmd("zrevrangebylex", -4, ro, zrevrangebylex)).doc(
        "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
        "2.8.9",
    ));
    t.push(one(cmd("zremrangebyrank", 4, w, zremrangebyrank)).doc(
        "Remove all members in a sorted set within the given indexes",
        "2.0.0",
    ));
    t.push(one(cmd("zremrangebyscore", 4, w, zremrangebyscore)).doc(
        "Remove all members in a sorted set within the given scores",
        "1.2.0",
    ));
    t.push(one(cmd("zremrangebylex", 4, w, zremrangebylex)).doc(
        "Remove all members in a sorted set between the given lexicographical range",
        "2.8.9",
    ));
    t.push(one(cmd("zpopmin", -2, w | F::FAST, zpopmin)).doc(
        "Remove and return members with the lowest scores in a sorted set",
        "5.0.0",
    ));
    t.push(one(cmd("zpopmax", -2, w | F::FAST, zpopmax)).doc(
        "Remove and return members with the highest scores in a sorted set",
        "5.0.0",
    ));
    t.push(
        cmd("zmpop", -4, w | F::MOVABLE_KEYS, zmpop)
            .journal(c)
            .group(g)
            .doc(
                "Remove and return members with scores in a sorted set",
                "7.0.0",
            ),
    );
    t.push(
        cmd("zunion", -3, ro | F::MOVABLE_KEYS, zunion)
            .group(g)
            .doc("Add multiple sorted sets", "6.2.0"),
    );
    t.push(
        cmd("zunionstore", -4, wd | F::MOVABLE_KEYS, zunionstore)
            .keys(1, 1, 1)
            .group(g)
            .doc(
                "Add multiple sorted sets and store the resulting sorted set in a new key",
                "2.0.0",
            ),
    );
    t.push(
        cmd("zinter", -3, ro | F::MOVABLE_KEYS, zinter)
            .group(g)
            .doc("Intersect multiple sorted sets", "6.2.0"),
    );
    t.push(
        cmd("zinterstore", -4, wd | F::MOVABLE_KEYS, zinterstore)
            .keys(1, 1, 1)
            .group(g)
            .doc(
                "Intersect multiple sorted sets and store the resulting sorted set in a new key",
                "2.0.0",
            ),
    );
    t.push(
        cmd("zintercard", -3, ro | F::MOVABLE_KEYS, zintercard)
            .group(g)
            .doc(
                "Intersect multiple sorted sets and return the cardinality of the result",
                "7.0.0",
            ),
    );
    t.push(
        cmd("zdiff", -3, ro | F::MOVABLE_KEYS, zdiff)
            .group(g)
            .doc("Subtract multiple sorted sets", "6.2.0"),
    );
    t.push(
        cmd("zdiffstore", -4, wd | F::MOVABLE_KEYS, zdiffstore)
            .keys(1, 1, 1)
            .group(g)
            .doc(
                "Subtract multiple sorted sets and store the resulting sorted set in a new key",
                "6.2.0",
            ),
    );
    t.push(one(cmd("zrandmember", -2, ro, zrandmember)).doc(
        "Get one or multiple random elements from a sorted set",
        "6.2.0",
    ));
    t.push(one(cmd("zscan", -3, ro, zscan)).doc(
        "Incrementally iterate sorted sets elements and associated scores",
        "2.8.0",
    ));
}

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

const ERR_NAN: &str = "ERR resulting score is not a number (NaN)";
const ERR_RANGE_FLOAT: &str = "ERR min or max is not a float";
const ERR_RANGE_LEX: &str = "ERR min or max not valid string range item";

fn raw(s: &str) -> CmdError {
    CmdError::Raw(s.to_string())
}

/// The listpack thresholds in force.
fn limits(x: &Exec<'_>) -> Limits {
    Limits {
        entries: x.st.config.zset_max_listpack_entries,
        value: x.st.config.zset_max_listpack_value,
    }
}

/// True when the caller speaks RESP3 (scores then come as pairs of [member, double]).
fn resp3(x: &mut Exec<'_>) -> bool {
    x.reply_resp3()
}

/// The sorted set an entry holds, or WRONGTYPE.
fn as_zset(e: &Entry) -> Result<&ZSet, CmdError> {
    match &e.value {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::WrongType),
    }
}

/// The sorted set an entry holds, for modification, or WRONGTYPE.
fn as_zset_mut(e: &mut Entry) -> Result<&mut ZSet, CmdError> {
    match &mut e.value {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::WrongType),
    }
}

/// Read lookup (stats, lazy expiry) with a type check.
fn read<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Result<Option<&'x ZSet>, CmdError> {
    match x.lookup_read(key) {
        None => Ok(None),
        Some(e) => as_zset(e).map(Some),
    }
}

/// Write lookup with a type check.
fn write<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Result<Option<&'x mut ZSet>, CmdError> {
    match x.lookup_write(key) {
        None => Ok(None),
        Some(e) => as_zset_mut(e).map(Some),
    }
}

/// Delete `key` if its sorted set became empty (an empty collection is never stored).
fn drop_if_empty(x: &mut Exec<'_>, key: &[u8]) {
    let empty = x
        .db()
        .get(key)
        .is_some_and(|e| matches!(&e.value, Value::ZSet(z) if z.is_empty()));
    if empty {
        x.db().remove(key);
        x.notify('g', "del", key);
    }
}

/// Store `z` at `key` (replacing any value and TTL) and notify `event`, or delete `key`
/// when `z` is empty (notifying `del`). Returns true if the keyspace changed.
fn store(x: &mut Exec<'_>, key: &[u8], z: ZSet, event: &str) -> bool {
    // (Redis replies before it notifies the store's event or the destination's deletion.)
    if z.is_empty() {
        x.reply_before_events();
        let removed = x.db().remove(key).is_some();
        if removed {
            x.notify('g', "del", key);
        }
        removed
    } else {
        let e = Entry::new(Value::ZSet(Box::new(z)), x.now_ms);
        x.insert_key(key, e);
        x.reply_before_events();
        x.notify('z', event, key);
        true
    }
}

/// Before a pipelined batch runs (after the keyspace entries were warmed): bring the
/// member-index buckets, then the nodes, that the batch's ZSCORE / ZRANK / ZREVRANK
/// commands on skiplist-encoded sets will look at into the cache, each step a loop of
/// independent loads, so their cache misses overlap instead of each command waiting for
/// its own two (a ZRANK on a 1M-member set spent a quarter of its time there); then the
/// tree paths of the rank lookups, interleaved (`ZSet::warm_paths`). Pure reads; changes
/// nothing and is never required.
pub fn warm_members(d: &crate::db::Db, batch: &[Vec<Bytes>]) {
    const MAX: usize = 64;
    // (Most batches have none of these: skip before setting up the arrays.)
    if !batch
        .iter()
        .any(|a| a.len() == 3 && matches!(a[0].first(), Some(b'z' | b'Z')))
    {
        return;
    }
    let mut sets: [Option<&ZSet>; MAX] = [None; MAX];
    let mut members: [&[u8]; MAX] = [&[]; MAX];
    let mut ranks: [(&ZSet, &[u8]); MAX] = [(&EMPTY, &[]); MAX];
    let mut n = 0;
    let mut r = 0;
    for argv in batch {
        if n == MAX {
            break;
        }
        // Cheap filter first: three arguments and a name starting with z.
        if argv.len() != 3 || !matches!(argv[0].first(), Some(b'z' | b'Z')) {
            continue;
        }
        let name = &argv[0];
        if !(is(name, "zscore") || is(name, "zrank") || is(name, "zrevrank")) {
            continue;
        }
        if let Some(Value::ZSet(z)) = d.get(&argv[1]).map(|e| &e.value) {
            if z.is_big() {
                sets[n] = Some(z);
                members[n] = &argv[2];
                n += 1;
                if !is(name, "zscore") {
                    ranks[r] = (z, &argv[2]);
                    r += 1;
                }
            }
        }
    }
    if n == 0 {
        return;
    }
    let mut heads = [u32::MAX; MAX];
    for ((h, z), m) in heads.iter_mut().zip(&sets[..n]).zip(&members[..n]) {
        *h = z.map_or(u32::MAX, |z| z.warm_bucket(m));
    }
    let mut acc = 0u8;
    for (z, &h) in sets[..n].iter().zip(&heads[..n]) {
        acc ^= z.map_or(0, |z| z.warm_node(h));
    }
    std::hint::black_box(acc);
    // ZRANK/ZREVRANK then descend the tree: their paths, interleaved.
    if r > 1 {
        std::hint::black_box(ZSet::warm_paths(&ranks[..r]));
    }
}

/// A placeholder for unused slots of `warm_members`' arrays.
static EMPTY: ZSet = ZSet::new();

/// A score argument (ZADD, ZINCRBY): `ERR value is not a valid float`.
fn score_arg(b: &[u8]) -> Result<f64, CmdError> {
    if let Some(v) = small_int_score(b) {
        return Ok(v);
    }
    parse_double(b).ok_or(CmdError::NotFloat)
}

/// A score spelled as an optional `-` and 1 to 15 decimal digits (what clients mostly
/// send): that integer, exact in an `f64` and so what `strtod` returns (`-0` is -0.0),
/// without the general parser. `None` for anything else.
fn small_int_score(b: &[u8]) -> Option<f64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut n = 0u64;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "at most 15 digits: below 2^53, exact"
    )]
    let v = n as f64;
    Some(if neg { -v } else { v })
}

fn int(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A list of (member, score) as Redis replies with it: members only, or with scores flat
/// (RESP2) or as [member, score] pairs (RESP3).
fn pairs_reply(items: &[(Box<[u8]>, f64)], withscores: bool, resp3: bool) -> Reply {
    scored_reply(items.len(), withscores, resp3, |f| {
        for (m, s) in items {
            f(m, *s);
        }
    })
}

/// Members and, with WITHSCORES, their scores, from `each` (which calls its argument once
/// per element): without scores one shared buffer of bulk strings; with scores a flat
/// member, score, … array, or [member, score] pairs when `nested` (RESP3's ZRANGE shape).
/// Scores stay `Reply::Double` so the encoder gives each protocol its own form.
fn scored_reply(
    n: usize,
    withscores: bool,
    nested: bool,
    each: impl FnOnce(&mut dyn FnMut(&[u8], f64)),
) -> Reply {
    let mut members = Bulks::with_capacity(n, 16);
    if !withscores {
        each(&mut |m, _| members.push(m));
        return Reply::Bulks(members);
    }
    let mut scores = Vec::with_capacity(n);
    each(&mut |m, s| {
        members.push(m);
        scores.push(s);
    });
    let mut out = Vec::with_capacity(if nested { n } else { 2 * n });
    for (m, s) in members.into_replies().zip(scores) {
        if nested {
            out.push(Reply::Array(vec![m, Reply::Double(s)]));
        } else {
            out.push(m);
            out.push(Reply::Double(s));
        }
    }
    Reply::Array(out)
}

/// Build a set of known content in the encoding Redis gives a computed result.
fn build(items: Vec<(Box<[u8]>, f64)>, lim: Limits) -> ZSet {
    let maxlen = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(items.len(), maxlen, lim);
    for (m, s) in items {
        z.insert_new(&m, s, lim);
    }
    z
}

/// One 64-bit random number (ZRANDMEMBER needs no reproducibility, only a fair spread).
fn rand64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x6a09_e667_f3bc_c908);
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, AtomicOrdering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn below(n: usize) -> usize {
    usize::try_from(rand64() % (n.max(1) as u64)).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Range specs
// ---------------------------------------------------------------------------------------

fn c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A number as `strtod` reads a whole C string (ZRANGEBYSCORE bounds): leading spaces are
/// skipped, the empty string is 0, overflow gives ±inf and underflow ±0; NaN and
/// trailing garbage are refused.
fn strtod_whole(arg: &[u8]) -> Option<f64> {
    let b = arg.iter().position(|&c| c == 0).map_or(arg, |n| &arg[..n]);
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b.iter().position(|&c| !c_space(c))?;
    let s = &b[start..];
    if let Some(v) = parse_double(s) {
        return Some(v);
    }
    out_of_range_decimal(s)
}

/// For a syntactically valid decimal literal that `parse_double` refused as out of range:
/// ±inf if it overflows, ±0 if it underflows. None for anything else.
fn out_of_range_decimal(s: &[u8]) -> Option<f64> {
    let (neg, mut rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut int_digits = 0i64;
    let mut lead_frac_zeros = 0i64;
    let mut seen_nonzero = false;
    let mut any = false;
    while let Some(&c) = rest.first().filter(|c| c.is_ascii_digit()) {
        any = true;
        if c != b'0' || seen_nonzero {
            seen_nonzero = true;
            int_digits += 1;
        }
        rest = &rest[1..];
    }
    if rest.first() == Some(&b'.') {
        rest = &rest[1..];
        while let Some(&c) = rest.first().filter(|c| c.is_ascii_digit()) {
            any = true;
            if c == b'0' && !seen_nonzero {
                lead_frac_zeros += 1;
            } else {
                seen_nonzero = true;
            }
            rest = &rest[1..];
        }
    }
    if !any || !seen_nonzero {
        return None;
    }
    let mut exp = 0i64;
    if let Some(b'e' | b'E') = rest.first() {
        rest = &rest[1..];
        let eneg = match rest.first() {
            Some(b'-') => {
                rest = &rest[1..];
                true
            }
            Some(b'+') => {
                rest = &rest[1..];
                false
            }
            _ => false,
        };
        if rest.is_empty() {
            return None;
        }
        while let Some(&c) = rest.first().filter(|c| c.is_ascii_digit()) {
            exp = (exp * 10 + i64::from(c - b'0')).min(1_000_000_000);
            rest = &rest[1..];
        }
        if eneg {
            exp = -exp;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let magnitude = if int_digits > 0 {
        exp + int_digits
    } else {
        exp - lead_frac_zeros
    };
    let v = if magnitude > 0 { f64::INFINITY } else { 0.0 };
    Some(if neg { -v } else { v })
}

/// A score range: `min`/`max` with exclusivity (`(`), as Redis's `zslParseRange`.
#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

fn parse_score_bound(b: &[u8]) -> Option<(f64, bool)> {
    let (ex, num) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    let v = strtod_whole(num)?;
    (!v.is_nan()).then_some((v, ex))
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        let (min, minex) = parse_score_bound(min).ok_or_else(|| raw(ERR_RANGE_FLOAT))?;
        let (max, maxex) = parse_score_bound(max).ok_or_else(|| raw(ERR_RANGE_FLOAT))?;
        Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    /// Ascending ranks `lo..hi` of the elements in range.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let lo = z.count_before(|s, _| {
            if self.minex {
                s <= self.min
            } else {
                s < self.min
            }
        });
        let hi = z.count_before(|s, _| {
            if self.maxex {
                s < self.max
            } else {
                s <= self.max
            }
        });
        (lo, hi.max(lo))
    }
}

/// One end of a lex range: `-`, `+`, `[x` (inclusive) or `(x` (exclusive).
#[derive(Clone, Debug)]
enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    fn parse(b: &[u8]) -> Option<LexBound> {
        match b.first()? {
            b'+' if b.len() == 1 => Some(LexBound::PosInf),
            b'-' if b.len() == 1 => Some(LexBound::NegInf),
            b'(' => Some(LexBound::Excl(b[1..].to_vec())),
            b'[' => Some(LexBound::Incl(b[1..].to_vec())),
            _ => None,
        }
    }
}

/// A lex range as Redis's `zslParseLexRange`.
#[derive(Clone, Debug)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
        let min = LexBound::parse(min).ok_or_else(|| raw(ERR_RANGE_LEX))?;
        let max = LexBound::parse(max).ok_or_else(|| raw(ERR_RANGE_LEX))?;
        Ok(LexRange { min, max })
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(v) => m >= v.as_slice(),
            LexBound::Excl(v) => m > v.as_slice(),
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(v) => m <= v.as_slice(),
            LexBound::Excl(v) => m < v.as_slice(),
        }
    }

    /// Ascending ranks `lo..hi` of the elements in range (members of equal score).
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let lo = z.count_before(|_, m| !self.gte_min(m));
        let hi = z.count_before(|_, m| self.lte_max(m));
        (lo, hi.max(lo))
    }
}

/// Redis's rank-range normalisation: inclusive `start..=end` with negative indexes from
/// the end; None when empty.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((
        usize::try_from(start).unwrap_or(0),
        usize::try_from(end).unwrap_or(0),
    ))
}

// ---------------------------------------------------------------------------------------
// ZADD ZINCRBY ZREM
// ---------------------------------------------------------------------------------------

fn zadd(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if is(o, "ch") {
            ch = true;
        } else if is(o, "incr") {
            incr = true;
        } else if is(o, "gt") {
            gt = true;
        } else if is(o, "lt") {
            lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &a[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if nx && xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if ((gt || lt) && nx) || (gt && lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && rest.len() > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    // Up to four pairs (nearly every call) parse into an array, not a new `Vec`.
    let mut small: [(f64, &[u8]); 4] = [(0.0, &[]); 4];
    let mut many = Vec::new();
    let pairs: &[(f64, &[u8])] = if rest.len() <= 2 * small.len() {
        for (slot, p) in small.iter_mut().zip(rest.chunks(2)) {
            *slot = (score_arg(&p[0])?, &p[1][..]);
        }
        &small[..rest.len() / 2]
    } else {
        many.reserve_exact(rest.len() / 2);
        for p in rest.chunks(2) {
            many.push((score_arg(&p[0])?, &p[1][..]));
        }
        &many
    };
    let flags = AddFlags {
        nx,
        xx,
        gt,
        lt,
        incr,
    };
    add_generic(x, &a[1], pairs, flags, ch, a)
}

fn zincrby(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // Redis parses ZINCRBY with ZADD's flags: an increment that is a flag word leaves one
    // argument for a score-member pair.
    const FLAGS: [&[u8]; 6] = [b"nx", b"xx", b"ch", b"incr", b"gt", b"lt"];
    if FLAGS.iter().any(|f| a[2].eq_ignore_ascii_case(f)) {
        return Err(CmdError::Syntax);
    }
    let delta = score_arg(&a[2])?;
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add_generic(x, &a[1], &[(delta, &a[3][..])], flags, false, a)
}

#[derive(Clone, Copy, Debug, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// What one `zsetAdd` did.
enum AddOut {
    Added(f64),
    Updated(f64),
    /// Present and unchanged (score equal): still "processed".
    Same(f64),
    Nop,
    Nan,
}

/// Redis's `zsetAdd` for one element.
fn add_one(z: &mut ZSet, member: &[u8], mut score: f64, f: AddFlags, lim: Limits) -> AddOut {
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return AddOut::Nop;
            }
            if f.incr {
                score += cur;
                if score.is_nan() {
                    return AddOut::Nan;
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return AddOut::Nop;
            }
            if score != cur {
                z.update(member, score);
                AddOut::Updated(score)
            } else {
                AddOut::Same(score)
            }
        }
        None if f.xx => AddOut::Nop,
        None => {
            z.insert_new(member, score, lim);
            AddOut::Added(score)
        }
    }
}

/// What ZADD did to the elements of one call.
struct AddAll {
    added: u64,
    updated: u64,
    processed: u64,
    /// The score of the last element processed (ZADD INCR's reply).
    last: f64,
    /// Stopped at an element whose new score would be NaN.
    nan: bool,
}

/// `add_one` for each pair, in order, stopping at a NaN.
fn add_all(z: &mut ZSet, pairs: &[(f64, &[u8])], f: AddFlags, lim: Limits) -> AddAll {
    let mut r = AddAll {
        added: 0,
        updated: 0,
        processed: 0,
        last: 0.0,
        nan: false,
    };
    for &(score, member) in pairs {
        match add_one(z, member, score, f, lim) {
            AddOut::Added(s) => {
                r.added += 1;
                r.processed += 1;
                r.last = s;
            }
            AddOut::Updated(s) => {
                r.updated += 1;
                r.processed += 1;
                r.last = s;
            }
            AddOut::Same(s) => {
                r.processed += 1;
                r.last = s;
            }
            AddOut::Nop => {}
            AddOut::Nan => {
                r.nan = true;
                break;
            }
        }
    }
    r
}

fn add_generic(
    x: &mut Exec<'_>,
    key: &Bytes,
    pairs: &[(f64, &[u8])],
    f: AddFlags,
    ch: bool,
    argv: &[Bytes],
) -> Result<Reply, CmdError> {
    let lim = limits(x);
    // One keyspace lookup when the key exists; a new set is filled, then stored (Redis
    // stores it first, but a new set cannot stay empty: its first element is new).
    let (r, emptied) = match write(x, key)? {
        Some(z) => {
            let r = add_all(z, pairs, f, lim);
            (r, z.is_empty())
        }
        None => {
            if f.xx {
                return Ok(if f.incr { Reply::Null } else { Reply::Int(0) });
            }
            let first_len = pairs.first().map_or(0, |p| p.1.len()) as u64;
            let mut z = if lim.entries == 0 || lim.value < first_len {
                ZSet::new_big()
            } else {
                ZSet::new()
            };
            let r = add_all(&mut z, pairs, f, lim);
            let empty = z.is_empty();
            if !empty {
                x.insert_key(key, Entry::new(Value::ZSet(Box::new(z)), x.now_ms));
            }
            (r, false)
        }
    };
    let AddAll {
        added,
        updated,
        processed,
        last,
        nan,
    } = r;
    if added + updated > 0 {
        x.reply_before_events();
        x.notify('z', if f.incr { "zincr" } else { "zadd" }, key);
    }
    if emptied {
        x.db().remove(key);
        x.notify('g', "del", key);
    }
    if added + updated > 0 {
        x.touch_dirty(added + updated);
        if f.incr {
            let s = format_double(last);
            x.journal(vec![
                Bytes::from_static(b"ZADD"),
                key.clone(),
                Bytes::from(s.into_bytes()),
                Bytes::copy_from_slice(pairs[0].1),
            ]);
        } else {
            x.journal(argv.to_vec());
        }
    }
    if nan {
        return Err(raw(ERR_NAN));
    }
    Ok(if f.incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Null
        }
    } else {
        int(usize::try_from(if ch { added + updated } else { added }).unwrap_or(usize::MAX))
    })
}

fn zrem(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &a[1];
    let Some(z) = write(x, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut n = 0;
    for m in &a[2..] {
        if z.remove(m).is_some() {
            n += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    if n > 0 {
        x.notify('z', "zrem", key);
    }
    drop_if_empty(x, key);
    x.touch_dirty(n as u64);
    Ok(int(n))
}

// ---------------------------------------------------------------------------------------
// ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK ZCOUNT ZLEXCOUNT
// ---------------------------------------------------------------------------------------

fn zcard(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(int(read(x, &a[1])?.map_or(0, ZSet::len)))
}

fn zscore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(read(x, &a[1])?
        .and_then(|z| z.score(&a[2]))
        .map_or(Reply::Null, Reply::Double))
}

fn zmscore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let z = read(x, &a[1])?;
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|m| {
                z.and_then(|z| z.score(m))
                    .map_or(Reply::Null, Reply::Double)
            })
            .collect(),
    ))
}

fn rank_generic(x: &mut Exec<'_>, a: &[Bytes], rev: bool) -> Result<Reply, CmdError> {
    let Some(z) = read(x, &a[1])? else {
        return Ok(Reply::Null);
    };
    Ok(match z.rank(&a[2]) {
        Some(r) => int(if rev { z.len() - 1 - r } else { r }),
        None => Reply::Null,
    })
}

fn zrank(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    rank_generic(x, a, false)
}

fn zrevrank(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    rank_generic(x, a, true)
}

fn zcount(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let r = ScoreRange::parse(&a[2], &a[3])?;
    let Some(z) = read(x, &a[1])? else {
        return Ok(Reply::Int(0));
    };
    let (lo, hi) = r.ranks(z);
    Ok(int(hi - lo))
}

fn zlexcount(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let r = LexRange::parse(&a[2], &a[3])?;
    let Some(z) = read(x, &a[1])? else {
        return Ok(Reply::Int(0));
    };
    let (lo, hi) = r.ranks(z);
    Ok(int(hi - lo))
}

// ---------------------------------------------------------------------------------------
// ZRANGE family
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Auto,
    Fwd,
    Rev,
}

/// Redis's `zrangeGenericCommand`: `first` is the index of the source key; `store` is the
/// destination for ZRANGESTORE.
fn zrange_generic(
    x: &mut Exec<'_>,
    a: &[Bytes],
    first: usize,
    store_to: Option<&Bytes>,
    mut rt: RangeType,
    mut dir: Dir,
) -> Result<Reply, CmdError> {
    let key = &a[first];
    let (mut minidx, mut maxidx) = (first + 1, first + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = first + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        let o = &a[j];
        if store_to.is_none() && is(o, "withscores") {
            withscores = true;
        } else if is(o, "limit") && left >= 2 {
            offset = arg_i64(&a[j + 1])?;
            limit = arg_i64(&a[j + 2])?;
            j += 2;
        } else if dir == Dir::Auto && is(o, "rev") {
            dir = Dir::Rev;
        } else if rt == RangeType::Auto && is(o, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && is(o, "byscore") {
            rt = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if dir == Dir::Auto {
        dir = Dir::Fwd;
    }
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rt == RangeType::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let rev = dir == Dir::Rev;
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    enum Spec {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let spec = match rt {
        RangeType::Score => Spec::Score(ScoreRange::parse(&a[minidx], &a[maxidx])?),
        RangeType::Lex => Spec::Lex(LexRange::parse(&a[minidx], &a[maxidx])?),
        _ => Spec::Rank(arg_i64(&a[minidx])?, arg_i64(&a[maxidx])?),
    };
    let r3 = resp3(x);
    // The ascending ranks lo..hi to return, walked in the requested direction.
    let ranks = |z: &ZSet| match spec {
        Spec::Rank(start, end) => rank_range(start, end, z.len()).map(|(s, e)| {
            if rev {
                let n = z.len();
                (n - 1 - e, n - s)
            } else {
                (s, e + 1)
            }
        }),
        Spec::Score(r) => limited(r.ranks(z), rev, offset, limit),
        Spec::Lex(r) => limited(r.ranks(z), rev, offset, limit),
    };
    let Some(dst) = store_to else {
        // Straight from the set into the reply (no per-element copies in between).
        let Some(z) = read(x, key)? else {
            return Ok(Reply::Array(Vec::new()));
        };
        let Some((lo, hi)) = ranks(z) else {
            return Ok(Reply::Array(Vec::new()));
        };
        return Ok(range_reply(z, lo, hi, rev, withscores, r3));
    };
    let items = match read(x, key)? {
        None => Vec::new(),
        Some(z) => ranks(z).map_or_else(Vec::new, |(lo, hi)| z.range_vec(lo, hi, rev)),
    };
    let n = items.len();
    let lim = limits(x);
    if store(x, dst, build(items, lim), "zrangestore") {
        x.touch_dirty(1);
    }
    Ok(int(n))
}

/// The ascending ranks left of `lo..hi` after LIMIT (applied in the requested direction).
fn limited((lo, hi): (usize, usize), rev: bool, offset: i64, limit: i64) -> Option<(usize, usize)> {
    let n = hi - lo;
    let off = usize::try_from(offset).ok()?;
    if off >= n {
        return None;
    }
    let cnt = usize::try_from(limit).map_or(n - off, |l| l.min(n - off));
    Some(if rev {
        (hi - off - cnt, hi - off)
    } else {
        (lo + off, lo + off + cnt)
    })
}

/// The reply for ranks `lo..hi` of `z`, straight from the set (no per-element copies).
fn range_reply(z: &ZSet, lo: usize, hi: usize, rev: bool, withscores: bool, resp3: bool) -> Reply {
    scored_reply(hi - lo, withscores, resp3, |f| z.range(lo, hi, rev, f))
}

fn zrange(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(x, a, 1, None, RangeType::Auto, Dir::Auto)
}

fn zrangestore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(x, a, 2, Some(&a[1]), RangeType::Auto, Dir::Auto)
}

fn zrevrange(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(x, a, 1, None, RangeType::Rank, Dir::Rev)
}

fn zrangebyscore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(x, a, 1, None, RangeType::Score, Dir::Fwd)
}

fn zrevrangebyscore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(x, a, 1, None, RangeType::Score, Dir::Rev)
}

fn zrangebylex(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(x, a, 1, None, RangeType::Lex, Dir::Fwd)
}

fn zrevrangebylex(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(x, a, 1, None, RangeType::Lex, Dir::Rev)
}

// ---------------------------------------------------------------------------------------
// ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX
// ---------------------------------------------------------------------------------------

fn zremrange_generic(x: &mut Exec<'_>, a: &[Bytes], rt: RangeType) -> Result<Reply, CmdError> {
    enum Spec {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let spec = match rt {
        RangeType::Score => Spec::Score(ScoreRange::parse(&a[2], &a[3])?),
        RangeType::Lex => Spec::Lex(LexRange::parse(&a[2], &a[3])?),
        _ => Spec::Rank(arg_i64(&a[2])?, arg_i64(&a[3])?),
    };
    let key = &a[1];
    let Some(z) = write(x, key)? else {
        return Ok(Reply::Int(0));
    };
    let (lo, hi) = match spec {
        Spec::Rank(s, e) => match rank_range(s, e, z.len()) {
            None => return Ok(Reply::Int(0)),
            Some((s, e)) => (s, e + 1),
        },
        Spec::Score(r) => r.ranks(z),
        Spec::Lex(r) => r.ranks(z),
    };
    let n = z.remove_range(lo, hi).len();
    if n > 0 {
        let event = match rt {
            RangeType::Score => "zremrangebyscore",
            RangeType::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        x.notify('z', event, key);
    }
    drop_if_empty(x, key);
    x.touch_dirty(n as u64);
    Ok(int(n))
}

fn zremrangebyrank(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zremrange_generic(x, a, RangeType::Rank)
}

fn zremrangebyscore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zremrange_generic(x, a, RangeType::Score)
}

fn zremrangebylex(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zremrange_generic(x, a, RangeType::Lex)
}

// ---------------------------------------------------------------------------------------
// ZPOPMIN ZPOPMAX ZMPOP
// ---------------------------------------------------------------------------------------

/// Redis's `genericZpopCommand`: pop up to `count` (None = one, flat reply) from the first
/// non-empty key of `keys`. `mpop` = the ZMPOP shape ([key, [[m, s], …]], null when
/// nothing).
fn zpop_generic(
    x: &mut Exec<'_>,
    keys: &[Bytes],
    max: bool,
    count: Option<i64>,
    mpop: bool,
) -> Result<Reply, CmdError> {
    let r3 = resp3(x);
    let mut found = None;
    for k in keys {
        if write(x, k)?.is_some() {
            found = Some(k);
            break;
        }
    }
    let Some(key) = found else {
        return Ok(if mpop {
            Reply::NullArray
        } else {
            Reply::Array(Vec::new())
        });
    };
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let want = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let popped = {
        let z = match write(x, key)? {
            Some(z) => z,
            None => unreachable!("found above"),
        };
        let n = z.len();
        let take = want.min(n);
        let mut v = if max {
            z.remove_range(n - take, n)
        } else {
            z.remove_range(0, take)
        };
        if max {
            v.reverse();
        }
        v
    };
    let mark = x.st.pubsub.own.len();
    x.notify('z', if max { "zpopmax" } else { "zpopmin" }, key);
    // Redis writes the event for this client's own subscriptions after the header of the
    // array of popped elements, and a `del` after the reply.
    let own = x.own_events_since(mark);
    x.reply_before_events();
    drop_if_empty(x, key);
    x.touch_dirty(popped.len() as u64);
    if mpop && !popped.is_empty() {
        // ZMPOP is journaled (and replicated) as Redis propagates it: ZPOPMIN|ZPOPMAX key
        // <popped>.
        let name: &'static [u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        x.journal(vec![
            Bytes::from_static(name),
            key.clone(),
            Bytes::from(popped.len().to_string()),
        ]);
    }
    let items = with_events_first(
        pairs_reply(&popped, true, mpop || r3 && count.is_some()),
        own,
    );
    if mpop {
        return Ok(Reply::Array(vec![Reply::bulk(key), items]));
    }
    Ok(items)
}

/// `reply`, an array, with `events` written just before its first element (after its
/// header), as Redis writes a command's own keyspace events in the middle of its reply.
fn with_events_first(mut reply: Reply, events: Vec<Reply>) -> Reply {
    if events.is_empty() {
        return reply;
    }
    let mut v = events;
    match &mut reply {
        Reply::Array(items) if !items.is_empty() => {
            v.push(std::mem::replace(&mut items[0], Reply::Null));
            items[0] = Reply::Many(v);
            reply
        }
        _ => {
            v.push(reply);
            Reply::Many(v)
        }
    }
}

fn zpop_cmd(x: &mut Exec<'_>, a: &[Bytes], max: bool) -> Result<Reply, CmdError> {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match a.get(2) {
        None => None,
        Some(c) => match crate::db::strnum::parse_i64(c) {
            Some(n) if n >= 0 => Some(n),
            _ => return Err(CmdError::err("value is out of range, must be positive")),
        },
    };
    zpop_generic(x, &a[1..2], max, count, false)
}

fn zpopmin(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zpop_cmd(x, a, false)
}

fn zpopmax(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    zpop_cmd(x, a, true)
}

/// A positive count argument with Redis's `getRangeLongFromObjectOrReply(1, LONG_MAX, msg)`.
fn positive(b: &[u8], msg: &str) -> Result<i64, CmdError> {
    match crate::db::strnum::parse_i64(b) {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(CmdError::err(msg)),
    }
}

fn zmpop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let numkeys = positive(&a[1], "numkeys should be greater than 0")?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(2))
        .filter(|&w| w < a.len())
        .ok_or(CmdError::Syntax)?;
    let max = if is(&a[where_idx], "min") {
        false
    } else if is(&a[where_idx], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && is(&a[j], "count") && j + 1 < a.len() {
            count = Some(positive(&a[j + 1], "count should be greater than 0")?);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    zpop_generic(x, &a[2..where_idx], max, Some(count.unwrap_or(1)), true)
}

// ---------------------------------------------------------------------------------------
// ZUNION ZINTER ZDIFF (+STORE) ZINTERCARD
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aggr {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, how: Aggr) {
    match how {
        Aggr::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggr::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggr::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input of a set operation: a sorted set, a plain set (every score 1), or nothing.
enum Src<'a> {
    None,
    Z(&'a ZSet),
    S(&'a Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::None => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::None => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn items(&self) -> Vec<(Box<[u8]>, f64)> {
        match self {
            Src::None => Vec::new(),
            Src::Z(z) => z.to_vec(),
            Src::S(s) => s
                .iter()
                .map(|m| (m.to_vec().into_boxed_slice(), 1.0))
                .collect(),
        }
    }
}

/// Redis's `zunionInterDiffGenericCommand`.
fn setop_generic(
    x: &mut Exec<'_>,
    a: &[Bytes],
    dst: Option<&Bytes>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> Result<Reply, CmdError> {
    let setnum = arg_i64(&a[numkeys_idx])?;
    if setnum < 1 {
        let name = String::from_utf8_lossy(&a[0]).to_lowercase();
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    let avail = a.len() - numkeys_idx - 1;
    let setnum = match usize::try_from(setnum) {
        Ok(n) if n <= avail => n,
        _ => return Err(CmdError::Syntax),
    };
    let keys = &a[numkeys_idx + 1..numkeys_idx + 1 + setnum];
    for k in keys {
        if let Some(e) = x.lookup_read(k) {
            if !matches!(e.value, Value::ZSet(_) | Value::Set(_)) {
                return Err(CmdError::WrongType);
            }
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut how = Aggr::Sum;
    let mut withscores = false;
    let mut limit = 0i64;
    let mut j = numkeys_idx + 1 + setnum;
    while j < a.len() {
        let remaining = a.len() - j;
        let o = &a[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && is(o, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                *w = parse_double(&a[j])
                    .ok_or_else(|| CmdError::err("weight value is not a float"))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(o, "aggregate") {
            let v = &a[j + 1];
            how = if is(v, "sum") {
                Aggr::Sum
            } else if is(v, "min") {
                Aggr::Min
            } else if is(v, "max") {
                Aggr::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(o, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(o, "limit") {
            limit = match crate::db::strnum::parse_i64(&a[j + 1]) {
                Some(n) if n >= 0 => n,
                _ => return Err(CmdError::err("LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let r3 = resp3(x);
    let lim = limits(x);
    let result: Vec<(Box<[u8]>, f64)>;
    let mut card = 0usize;
    {
        let db = &x.st.ks.dbs[x.db];
        let mut srcs: Vec<(Src<'_>, f64)> = keys
            .iter()
            .zip(&weights)
            .map(|(k, &w)| {
                let s = match db.get(k).map(|e| &e.value) {
                    Some(Value::ZSet(z)) => Src::Z(z),
                    Some(Value::Set(s)) => Src::S(s),
                    _ => Src::None,
                };
                (s, w)
            })
            .collect();
        if op != SetOp::Diff {
            // Stable: equal cardinalities keep argument order (replay depends on it).
            srcs.sort_by_key(|(s, _)| s.len());
        }
        let mut out: Vec<(Box<[u8]>, f64)> = Vec::new();
        match op {
            SetOp::Inter => {
                if srcs[0].0.len() > 0 {
                    'outer: for (m, s0) in srcs[0].0.items() {
                        let mut score = srcs[0].1 * s0;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        for (src, w) in &srcs[1..] {
                            match src.find(&m) {
                                Some(v) => aggregate(&mut score, v * w, how),
                                None => continue 'outer,
                            }
                        }
                        if card_only {
                            card += 1;
                            if limit > 0 && card as u64 >= limit as u64 {
                                break;
                            }
                        } else {
                            out.push((m, score));
                        }
                    }
                }
            }
            SetOp::Union => {
                let mut acc: std::collections::HashMap<Box<[u8]>, f64> =
                    std::collections::HashMap::new();
                for (src, w) in &srcs {
                    for (m, s) in src.items() {
                        let mut score = w * s;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        match acc.get_mut(&m) {
                            Some(t) => aggregate(t, score, how),
                            None => {
                                acc.insert(m, score);
                            }
                        }
                    }
                }
                out = acc.into_iter().collect();
            }
            SetOp::Diff => {
                for (m, s) in srcs[0].0.items() {
                    if srcs[1..].iter().all(|(src, _)| src.find(&m).is_none()) {
                        out.push((m, s));
                    }
                }
            }
        }
        out.sort_by(|(m1, s1), (m2, s2)| cmp_pair(*s1, m1, *s2, m2));
        result = out;
    }
    if card_only {
        return Ok(int(card));
    }
    match dst {
        None => Ok(pairs_reply(&result, withscores, r3)),
        Some(d) => {
            let n = result.len();
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            if store(x, d, build(result, lim), event) {
                x.touch_dirty(1);
            }
            Ok(int(n))
        }
    }
}

fn zunion(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setop_generic(x, a, None, 1, SetOp::Union, false)
}

fn zunionstore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setop_generic(x, a, Some(&a[1]), 2, SetOp::Union, false)
}

fn zinter(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setop_generic(x, a, None, 1, SetOp::Inter, false)
}

fn zinterstore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setop_generic(x, a, Some(&a[1]), 2, SetOp::Inter, false)
}

fn zintercard(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setop_generic(x, a, None, 1, SetOp::Inter, true)
}

fn zdiff(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setop_generic(x, a, None, 1, SetOp::Diff, false)
}

fn zdiffstore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setop_generic(x, a, Some(&a[1]), 2, SetOp::Diff, false)
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER ZSCAN
// ---------------------------------------------------------------------------------------

fn zrandmember(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let r3 = resp3(x);
    if a.len() == 2 {
        let Some(z) = read(x, &a[1])? else {
            return Ok(Reply::Null);
        };
        return Ok(z
            .at(below(z.len()))
            .map_or(Reply::Null, |(m, _)| Reply::bulk(&m)));
    }
    let l = arg_i64(&a[2])?;
    if l == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if a.len() > 4 || (a.len() == 4 && !is(&a[3], "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = a.len() == 4;
    if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::err("value is out of range"));
    }
    let cap = x.reply_elements_cap();
    let Some(z) = read(x, &a[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let size = z.len();
    let mut count = usize::try_from(l.unsigned_abs()).unwrap_or(usize::MAX);
    if l < 0 {
        count = count.min(cap);
    }
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let items: Vec<(Box<[u8]>, f64)> = if l < 0 || count == 1 {
        (0..count).filter_map(|_| z.at(below(size))).collect()
    } else if count >= size {
        // Redis 7.0 replies with the whole set, highest rank first.
        z.range_vec(0, size, true)
    } else {
        // Floyd's sampling of `count` distinct ranks.
        let mut chosen = std::collections::HashSet::with_capacity(count);
        let mut order = Vec::with_capacity(count);
        for jj in size - count..size {
            let t = below(jj + 1);
            let pick = if chosen.insert(t) {
                t
            } else {
                chosen.insert(jj);
                jj
            };
            order.push(pick);
        }
        order.into_iter().filter_map(|r| z.at(r)).collect()
    };
    Ok(pairs_reply(&items, withscores, r3))
}

fn zscan(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut cursor = super::keys::parse_cursor(&a[2])?;
    let empty = || Reply::Array(vec![Reply::bulk(b"0"), Reply::Array(Vec::new())]);
    if read(x, &a[1])?.is_none() {
        return Ok(empty());
    }
    let ScanOptions { count, pattern, .. } = parse_scan_options(a, 3, false)?;
    // Already looked up (stats, expiry) above: read the value without counting twice.
    let Some(Value::ZSet(z)) = x.st.ks.dbs[x.db].get(&a[1]).map(|e| &e.value) else {
        return Ok(empty());
    };
    let want = count;
    let mut budget = want.saturating_mul(10);
    let mut found: Vec<(Box<[u8]>, f64)> = Vec::new();
    loop {
        cursor = z.scan_step(cursor, |m, s| found.push((m.into(), s)));
        // Redis counts members and scores both against COUNT.
        if cursor == 0 || budget == 0 || found.len() * 2 >= want {
            break;
        }
        budget -= 1;
    }
    let mut out = Vec::with_capacity(found.len() * 2);
    for (m, s) in found {
        if pattern.is_some_and(|p| !glob_match(p, &m, false)) {
            continue;
        }
        out.push(Reply::bulk(&m));
        out.push(Reply::bulk_string(format_double(s)));
    }
    Ok(Reply::Array(vec![
        Reply::bulk_string(cursor.to_string()),
        Reply::Array(out),
    ]))
}

#[cfg(test)]
mod tests {
    use crate::cmd::string::testkit::*;
    use crate::resp::Reply;

    // Replies below were checked against redis-server 7.0.15 (see tests/scripts/zset.redis).

    fn dbl(v: f64) -> Reply {
        Reply::Double(v)
    }

    /// The integer fast path gives exactly what the general parser gives (sign of zero
    /// included) and declines everything else.
    #[test]
    fn small_integer_scores_parse_as_strtod() {
        use super::small_int_score;
        use crate::db::strnum::parse_double;
        for t in [
            "0",
            "-0",
            "7",
            "-7",
            "007",
            "123456789012345",
            "-999999999999999",
        ] {
            let fast = small_int_score(t.as_bytes()).expect(t);
            let slow = parse_double(t.as_bytes()).expect(t);
            assert_eq!(fast.to_bits(), slow.to_bits(), "{t}");
        }
        for t in [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "1.5",
            "1e3",
            "0x10",
            "inf",
            "nan",
            "--1",
            "1234567890123456",
        ] {
            assert_eq!(small_int_score(t.as_bytes()), None, "{t}");
        }
    }

    /// ZMPOP is journaled (and replicated) as Redis propagates it: ZPOPMIN/ZPOPMAX with
    /// the number of members actually popped.
    #[test]
    fn zmpop_is_journaled_as_a_counted_zpop() {
        let mut t = Kit::new();
        t.logs("zadd z 1 a 2 b 3 c", int(3), &["zadd z 1 a 2 b 3 c"]);
        t.logs(
            "zmpop 2 nokey z max",
            arr(vec![bulk("z"), arr(vec![arr(vec![bulk("c"), dbl(3.0)])])]),
            &["ZPOPMAX z 1"],
        );
        t.logs(
            "zmpop 1 z min count 9",
            arr(vec![
                bulk("z"),
                arr(vec![
                    arr(vec![bulk("a"), dbl(1.0)]),
                    arr(vec![bulk("b"), dbl(2.0)]),
                ]),
            ]),
            &["ZPOPMIN z 2"],
        );
        t.logs("zmpop 1 z min", Reply::NullArray, &[]);
    }

    #[test]
    fn float_results_are_journaled_as_zadd_of_the_result() {
        let mut t = Kit::new();
        t.logs(
            "zadd z incr 0.1 m",
            dbl(0.1),
            &["ZADD z 0.10000000000000001 m"],
        );
        t.logs(
            "zincrby z 0.2 m",
            dbl(0.1 + 0.2),
            &["ZADD z 0.30000000000000004 m"],
        );
        t.logs("zadd z 1 a 2 b", int(2), &["zadd z 1 a 2 b"]);
        t.logs("zadd z nx 5 a", int(0), &[]);
        t.logs("zadd z incr 0 m", dbl(0.1 + 0.2), &[]);
        t.logs("zadd z gt incr -1 m", Reply::Null, &[]);
        t.logs("zadd z incr inf a", dbl(f64::INFINITY), &["ZADD z inf a"]);
        t.logs(
            "zadd z incr -inf a",
            err("ERR resulting score is not a number (NaN)"),
            &[],
        );
        t.logs(
            "zadd z xx ch 3 b 9 nope",
            int(1),
            &["zadd z xx ch 3 b 9 nope"],
        );
        t.logs("zadd nokey xx 1 a", int(0), &[]);
        assert!(t.st.ks.dbs[0].get(b"nokey").is_none());
        t.check_replay();
    }

    #[test]
    fn writes_replay_to_the_same_keyspace() {
        let mut t = Kit::new();
        t.q("config set zset-max-listpack-entries 4");
        t.q("zadd a 0.1 x 0.2 y 0.3 z 1.5 w 2 v 3 u");
        t.q("zadd b 0.7 x 1.1 y 9 q");
        t.q("sadd s x q r");
        assert_eq!(t.encoding(b"a"), "skiplist");
        for line in [
            "zunionstore u 3 a b s weights 1.1 2.2 3.3",
            "zinterstore i 2 a b aggregate max",
            "zdiffstore d 2 a b",
            "zrangestore r a (0.1 2 byscore",
            "zrem a z nope",
            "zpopmin a",
            "zpopmax b 2",
            "zmpop 2 nokey a max count 2",
            "zremrangebyscore u (1 5",
            "zremrangebyrank d 0 0",
            "zadd l 0 a 0 b 0 c",
            "zremrangebylex l [b +",
            "zincrby u 0.3 x",
            "zunionstore s2 1 s",
            "zinterstore nothing 2 a nokey",
        ] {
            assert!(!t.q(line).is_error(), "{line}");
        }
        assert!(t.st.ks.dbs[0].get(b"nothing").is_none());
        t.check_replay();
    }

    #[test]
    fn empty_results_delete_keys() {
        let mut t = Kit::new();
        t.q("zadd z 1 a 2 b");
        t.logs("zrem z a b", int(2), &["zrem z a b"]);
        assert!(t.st.ks.dbs[0].get(b"z").is_none());
        t.q("zadd z 1 a");
        t.q("zpopmin z 5");
        assert!(t.st.ks.dbs[0].get(b"z").is_none());
        t.q("zadd z 1 a");
        t.q("zrangestore z nokey 0 -1");
        assert!(t.st.ks.dbs[0].get(b"z").is_none());
        t.check_replay();
    }

    #[test]
    fn expired_key_is_deleted_and_journaled() {
        let mut t = Kit::new();
        t.q("zadd z 1 a");
        t.q("pexpire z 10");
        t.now += 100;
        t.logs("zcard z", int(0), &["DEL z"]);
        t.q("zadd y 1 a");
        t.q("pexpire y 10");
        t.now += 100;
        t.logs("zadd y xx 1 a", int(0), &["DEL y"]);
        t.check_replay();
    }

    #[test]
    fn resp3_shapes() {
        let mut t = Kit::new();
        t.q("zadd z 1 a 2 b 3 c");
        t.st.clients.map.get_mut(&0).expect("internal client").resp = 3;
        let pair = |m: &str, s: f64| arr(vec![bulk(m), dbl(s)]);
        t.is("zrange z 0 0 withscores", arr(vec![pair("a", 1.0)]));
        t.is("zpopmin z", arr(vec![bulk("a"), dbl(1.0)]));
        t.is("zpopmin z 1", arr(vec![pair("b", 2.0)]));
        t.is(
            "zmpop 1 z max",
            arr(vec![bulk("z"), arr(vec![pair("c", 3.0)])]),
        );
        t.is("zmpop 1 z max", Reply::NullArray);
    }

    /// ZSCAN over a skiplist returns every member present for the whole scan, even while
    /// the set grows and shrinks between calls.
    #[test]
    fn zscan_guarantee_under_resizes() {
        let mut t = Kit::new();
        for i in 0..50 {
            t.q(&format!("zadd z {i} m{i}"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut round = 0;
        loop {
            let Reply::Array(parts) = t.q(&format!("zscan z {cursor} count 3")) else {
                panic!("shape");
            };
            let (Reply::Bulk(c), Reply::Array(items)) = (&parts[0], &parts[1]) else {
                panic!("shape");
            };
            for pair in items.chunks(2) {
                if let Reply::Bulk(m) = &pair[0] {
                    seen.insert(String::from_utf8_lossy(m).into_owned());
                }
            }
            cursor = String::from_utf8_lossy(c).into_owned();
            round += 1;
            // Grow then shrink the table (members t* come and go; m* stay).
            if round % 2 == 0 {
                for j in 0..400 {
                    t.q(&format!("zadd z 0 t{round}_{j}"));
                }
            } else if round > 1 {
                let gone: Vec<String> = (0..400).map(|j| format!("t{}_{j}", round - 1)).collect();
                t.q(&format!("zrem z {}", gone.join(" ")));
            }
            if cursor == "0" {
                break;
            }
        }
        for i in 0..50 {
            assert!(seen.contains(&format!("m{i}")), "m{i} missed");
        }
    }
}
