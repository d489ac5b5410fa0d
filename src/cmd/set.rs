//! Set commands (SADD SREM SCARD SMEMBERS SISMEMBER SMISMEMBER SMOVE SPOP SRANDMEMBER
//! SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN): argument
//! parsing, Redis 7.0 error precedence and reply shapes (RESP3 sets where Redis sends
//! them), key deletion when a set empties, and journaling: every deterministic command
//! is logged verbatim; SPOP, whose choice is random, logs its effect (`SREM key popped…`,
//! or `DEL key` when it emptied the set). Set semantics and encodings live in `db::set`.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::argv;
use crate::db::set::{self as sets, Member, Set};
use crate::db::strnum::parse_i64;
use crate::db::{Entry, Value};
use crate::glob::glob_match;
use crate::resp::Reply;

/// Register the set commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Set;
    let (w, r, f, d) = (F::WRITE, F::READONLY, F::FAST, F::DENYOOM);
    let one = |s: CommandSpec| s.keys(1, 1, 1).group(g);
    let many = |s: CommandSpec| s.keys(1, -1, 1).group(g);
    t.push(one(cmd("sadd", -3, w | d | f, sadd)).doc("Add one or more members to a set", "1.0.0"));
    t.push(one(cmd("srem", -3, w | f, srem)).doc("Remove one or more members from a set", "1.0.0"));
    t.push(one(cmd("scard", 2, r | f, scard)).doc("Get the number of members in a set", "1.0.0"));
    t.push(one(cmd("smembers", 2, r, smembers)).doc("Get all the members in a set", "1.0.0"));
    t.push(
        one(cmd("sismember", 3, r | f, sismember))
            .doc("Determine if a given value is a member of a set", "1.0.0"),
    );
    t.push(one(cmd("smismember", -3, r | f, smismember)).doc(
        "Returns the membership associated with the given elements for a set",
        "6.2.0",
    ));
    t.push(
        cmd("smove", 4, w | f, smove)
            .keys(1, 2, 1)
            .journal(Journal::Custom)
            .group(g)
            .doc("Move a member from one set to another", "1.0.0"),
    );
    t.push(
        one(cmd("spop", -2, w | f, spop))
            .journal(Journal::Custom)
            .doc(
                "Remove and return one or multiple random members from a set",
                "1.0.0",
            ),
    );
    t.push(
        one(cmd("srandmember", -2, r, srandmember))
            .doc("Get one or multiple random members from a set", "1.0.0"),
    );
    t.push(many(cmd("sinter", -2, r, sinter)).doc("Intersect multiple sets", "1.0.0"));
    // Keys follow numkeys (Redis reports 0 0 0 and `movablekeys`).
    t.push(
        cmd("sintercard", -3, r | Flags::MOVABLE_KEYS, sintercard)
            .group(g)
            .doc(
                "Intersect multiple sets and return the cardinality of the result",
                "7.0.0",
            ),
    );
    t.push(many(cmd("sinterstore", -3, w | d, sinterstore)).doc(
        "Intersect multiple sets and store the resulting set in a key",
        "1.0.0",
    ));
    t.push(many(cmd("sunion", -2, r, sunion)).doc("Add multiple sets", "1.0.0"));
    t.push(many(cmd("sunionstore", -3, w | d, sunionstore)).doc(
        "Add multiple sets and store the resulting set in a key",
        "1.0.0",
    ));
    t.push(many(cmd("sdiff", -2, r, sdiff)).doc("Subtract multiple sets", "1.0.0"));
    t.push(many(cmd("sdiffstore", -3, w | d, sdiffstore)).doc(
        "Subtract multiple sets and store the resulting set in a key",
        "1.0.0",
    ));
    t.push(one(cmd("sscan", -3, r, sscan)).doc("Incrementally iterate Set elements", "2.8.0"));
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The set an entry holds, or WRONGTYPE.
fn set_ref(e: &Entry) -> Result<&Set, CmdError> {
    match &e.value {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// The set an entry holds, for modification, or WRONGTYPE.
fn set_mut(e: &mut Entry) -> Result<&mut Set, CmdError> {
    match &mut e.value {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Before a pipelined batch runs (after the keyspace entries were warmed): bring the
/// members that the batch's SISMEMBER / SADD / SREM of one member look up in hashtable
/// sets into the cache, each run of commands on the same set in one `Set::warm`, so their
/// cache misses overlap instead of each command waiting for its own. Pure reads; changes
/// nothing and is never required.
pub fn warm_members(d: &crate::db::Db, batch: &[Vec<Bytes>]) {
    const MAX: usize = 64;
    // (Most batches have none of these: skip before setting up the arrays.)
    if !batch
        .iter()
        .any(|a| a.len() == 3 && matches!(a[0].first(), Some(b's' | b'S')))
    {
        return;
    }
    let mut sets: [Option<&Set>; MAX] = [None; MAX];
    let mut members: [&[u8]; MAX] = [&[]; MAX];
    let mut n = 0;
    for argv in batch {
        if n == MAX {
            break;
        }
        // Cheap filter first: three arguments and a name starting with s.
        if argv.len() != 3 || !matches!(argv[0].first(), Some(b's' | b'S')) {
            continue;
        }
        let name = &argv[0];
        if !(is(name, "sismember") || is(name, "sadd") || is(name, "srem")) {
            continue;
        }
        if let Some(Value::Set(s)) = d.get(&argv[1]).map(|e| &e.value) {
            if s.encoding() == "hashtable" {
                sets[n] = Some(s);
                members[n] = &argv[2];
                n += 1;
            }
        }
    }
    let mut i = 0;
    while i < n {
        let Some(s) = sets[i] else { break };
        let mut j = i + 1;
        while j < n && sets[j].is_some_and(|t| std::ptr::eq(s, t)) {
            j += 1;
        }
        s.warm(members[i..j].iter().copied());
        i = j;
    }
}

fn max_intset(x: &Exec<'_>) -> u64 {
    x.st.config.set_max_intset_entries
}

fn int(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn member_reply(m: Member<'_>) -> Reply {
    match m {
        Member::Int(n) => Reply::bulk_string(n.to_string()),
        Member::Str(s) => Reply::bulk(s),
    }
}

fn all_members(s: &Set) -> Vec<Reply> {
    s.iter().map(member_reply).collect()
}

/// A fresh random stream for one command (splitmix64): SPOP/SRANDMEMBER need a fair
/// spread, not reproducibility (SPOP logs what it removed).
fn rng(salt: i64) -> impl FnMut() -> u64 {
    static SEED: AtomicU64 = AtomicU64::new(0x2545_f491_4f6c_dd1d);
    let mut s = SEED.fetch_add(0x6a09_e667_f3bc_c909, Ordering::Relaxed) ^ salt.unsigned_abs();
    move || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Look every key up (expiring due keys; `write` = no hit/miss stats) and check that each
/// present one holds a set; then hand out the sets (None = missing key).
fn load<'x>(
    x: &'x mut Exec<'_>,
    keys: &[Bytes],
    write: bool,
) -> Result<Vec<Option<&'x Set>>, CmdError> {
    for k in keys {
        let e = if write {
            x.lookup_write(k).map(|e| &*e)
        } else {
            x.lookup_read(k)
        };
        if let Some(e) = e {
            set_ref(e)?;
        }
    }
    let db = &x.st.ks.dbs[x.db];
    Ok(keys
        .iter()
        .map(|k| db.get(k).and_then(|e| set_ref(e).ok()))
        .collect())
}

/// Store a computed set at `dst` (replacing whatever it held, TTL included), or delete
/// `dst` when the result is empty. Notifies `event` (or `del`). Replies with the
/// result's size.
fn store(x: &mut Exec<'_>, dst: &[u8], s: Set, event: &str) -> Reply {
    let n = s.len();
    // (Redis replies before it notifies the store's event or the destination's deletion.)
    if n == 0 {
        x.reply_before_events();
        if x.db().remove(dst).is_some() {
            x.touch_dirty(1);
            x.notify('g', "del", dst);
        }
    } else {
        let e = Entry::new(Value::Set(Box::new(s)), x.now_ms);
        x.insert_key(dst, e);
        x.touch_dirty(1);
        x.reply_before_events();
        x.notify('s', event, dst);
    }
    int(n)
}

// ---------------------------------------------------------------------------------------
// SADD SREM SCARD SMEMBERS SISMEMBER SMISMEMBER SMOVE
// ---------------------------------------------------------------------------------------

fn sadd(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &a[1];
    let max = max_intset(x);
    let now = x.now_ms;
    let added = match x.lookup_write(key) {
        Some(e) => {
            let s = set_mut(e)?;
            a[2..].iter().filter(|m| s.insert(m, max)).count()
        }
        None => {
            let mut s = Set::for_first(&a[2]);
            let n = a[2..].iter().filter(|m| s.insert(m, max)).count();
            x.insert_key(key, Entry::new(Value::Set(Box::new(s)), now));
            n
        }
    };
    x.touch_dirty(added as u64);
    if added > 0 {
        x.notify('s', "sadd", key);
    }
    Ok(int(added))
}

fn srem(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &a[1];
    let Some(e) = x.lookup_write(key) else {
        return Ok(int(0));
    };
    let s = set_mut(e)?;
    let removed = a[2..].iter().filter(|m| s.remove(m)).count();
    let emptied = s.is_empty();
    if emptied {
        x.db().remove(key);
    }
    x.touch_dirty(removed as u64);
    if removed > 0 {
        x.notify('s', "srem", key);
        if emptied {
            x.notify('g', "del", key);
        }
    }
    Ok(int(removed))
}

fn scard(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    match x.lookup_read(&a[1]) {
        None => Ok(int(0)),
        Some(e) => Ok(int(set_ref(e)?.len())),
    }
}

fn smembers(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    match x.lookup_read(&a[1]) {
        None => Ok(Reply::Set(Vec::new())),
        Some(e) => Ok(Reply::Set(all_members(set_ref(e)?))),
    }
}

fn sismember(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    match x.lookup_read(&a[1]) {
        None => Ok(int(0)),
        Some(e) => Ok(int(usize::from(set_ref(e)?.contains(&a[2])))),
    }
}

fn smismember(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let s = match x.lookup_read(&a[1]) {
        None => None,
        Some(e) => Some(set_ref(e)?),
    };
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|m| int(usize::from(s.is_some_and(|s| s.contains(m)))))
            .collect(),
    ))
}

fn smove(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (src, dst, m) = (&a[1], &a[2], &a[3]);
    let is_set = |e: &mut Entry| matches!(e.value, Value::Set(_));
    let src_set = x.lookup_write(src).map(is_set);
    let dst_set = x.lookup_write(dst).map(is_set);
    match src_set {
        None => return Ok(int(0)),
        Some(false) => return Err(CmdError::WrongType),
        Some(true) => {}
    }
    if dst_set == Some(false) {
        return Err(CmdError::WrongType);
    }
    let max = max_intset(x);
    let now = x.now_ms;
    let db = x.db();
    let Some(se) = db.get_mut(src) else {
        return Ok(int(0));
    };
    let s = set_mut(se)?;
    if src == dst {
        return Ok(int(usize::from(s.contains(m))));
    }
    if !s.remove(m) {
        return Ok(int(0));
    }
    let emptied = s.is_empty();
    x.notify('s', "srem", src);
    if emptied {
        x.db().remove(src);
        x.notify('g', "del", src);
    }
    let added = match x.db().get_mut(dst) {
        Some(de) => set_mut(de)?.insert(m, max),
        None => {
            let mut d = Set::for_first(m);
            d.insert(m, max);
            x.insert_key(dst, Entry::new(Value::Set(Box::new(d)), now));
            true
        }
    };
    x.touch_dirty(1 + u64::from(added));
    if added {
        x.notify('s', "sadd", dst);
        x.journal(a.to_vec());
    } else {
        // The destination already had it: only the source changed (Redis signals only
        // the source then, so WATCH and tracking of the destination are not touched).
        x.journal(vec![Bytes::from_static(b"SREM"), src.clone(), m.clone()]);
    }
    Ok(int(1))
}

// ---------------------------------------------------------------------------------------
// SPOP SRANDMEMBER
// ---------------------------------------------------------------------------------------

fn spop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match a.get(2) {
        None => None,
        Some(c) => match parse_i64(c) {
            Some(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(CmdError::err("value is out of range, must be positive")),
        },
    };
    let key = &a[1];
    let mut rnd = rng(x.now_ms);
    let max = max_intset(x);
    let missing = match count {
        None => Reply::Null,
        Some(_) => Reply::Set(Vec::new()),
    };
    let Some(e) = x.lookup_write(key) else {
        return Ok(missing);
    };
    let s = set_mut(e)?;
    if count == Some(0) {
        return Ok(Reply::Set(Vec::new()));
    }
    let popped = s.pop_random(count.unwrap_or(1), max, &mut rnd);
    let emptied = s.is_empty();
    x.notify('s', "spop", key);
    if emptied {
        x.db().remove(key);
        x.notify('g', "del", key);
    }
    // Redis propagates SPOP with a count that takes the whole set as DEL, every other
    // pop as SREM of what it popped (a lone SPOP that empties the set too).
    if emptied && count.is_some() {
        x.journal(argv![b"DEL", key]);
    } else {
        let mut j = Vec::with_capacity(popped.len() + 2);
        j.push(Bytes::from_static(b"SREM"));
        j.push(key.clone());
        j.extend(popped.iter().map(|m| Bytes::copy_from_slice(m)));
        x.journal(j);
    }
    x.touch_dirty(popped.len() as u64);
    let mut replies = popped.into_iter().map(|m| Reply::Bulk(Bytes::from(m)));
    Ok(match count {
        None => replies.next().unwrap_or(Reply::Null),
        Some(_) => Reply::Set(replies.collect()),
    })
}

fn srandmember(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match a.get(2) {
        None => None,
        Some(c) => match arg_i64(c)? {
            i64::MIN => {
                return Err(CmdError::err(
                    "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ))
            }
            n => Some(n),
        },
    };
    let cap = x.reply_elements_cap();
    let mut rnd = rng(x.now_ms);
    let Some(e) = x.lookup_read(&a[1]) else {
        return Ok(match count {
            None => Reply::Null,
            Some(_) => Reply::Array(Vec::new()),
        });
    };
    let s = set_ref(e)?;
    let Some(count) = count else {
        return Ok(s.random(&mut rnd).map_or(Reply::Null, member_reply));
    };
    if count < 0 {
        // With repetitions.
        let n = usize::try_from(count.unsigned_abs())
            .unwrap_or(usize::MAX)
            .min(cap);
        let mut out = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            match s.random(&mut rnd) {
                Some(m) => out.push(member_reply(m)),
                None => break,
            }
        }
        return Ok(Reply::Array(out));
    }
    let n = usize::try_from(count).unwrap_or(usize::MAX);
    Ok(Reply::Array(
        s.random_distinct(n, &mut rnd)
            .into_iter()
            .map(|m| Reply::Bulk(Bytes::from(m)))
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------
// SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE
// ---------------------------------------------------------------------------------------

fn sinter(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let sets = load(x, &a[1..], false)?;
    let present: Option<Vec<&Set>> = sets.into_iter().collect();
    Ok(Reply::Set(match present {
        None => Vec::new(),
        Some(p) => sets::inter(&p, 0).into_iter().map(member_reply).collect(),
    }))
}

fn sintercard(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let numkeys = parse_i64(&a[1])
        .filter(|&n| n > 0)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > a.len() - 2 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < a.len() {
        if is(&a[i], "limit") && i + 1 < a.len() {
            let l = parse_i64(&a[i + 1])
                .filter(|&n| n >= 0)
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
            limit = usize::try_from(l).unwrap_or(usize::MAX);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let sets = load(x, &a[2..2 + numkeys], false)?;
    let present: Option<Vec<&Set>> = sets.into_iter().collect();
    Ok(int(present.map_or(0, |p| sets::inter(&p, limit).len())))
}

fn sinterstore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let max = max_intset(x);
    let sets = load(x, &a[2..], false)?;
    let present: Option<Vec<&Set>> = sets.into_iter().collect();
    let Some(p) = present else {
        // A missing source: Redis deletes the destination (notifying) before it replies.
        if x.db().remove(&a[1]).is_some() {
            x.touch_dirty(1);
            x.notify('g', "del", &a[1]);
        }
        return Ok(int(0));
    };
    let result = sets::collect(sets::inter(&p, 0), max);
    Ok(store(x, &a[1], result, "sinterstore"))
}

fn sunion(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let max = max_intset(x);
    let sets = load(x, &a[1..], false)?;
    Ok(Reply::Set(all_members(&sets::union(&sets, max))))
}

fn sunionstore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let max = max_intset(x);
    let sets = load(x, &a[2..], false)?;
    let result = sets::union(&sets, max);
    Ok(store(x, &a[1], result, "sunionstore"))
}

fn sdiff(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let max = max_intset(x);
    let sets = load(x, &a[1..], false)?;
    Ok(Reply::Set(all_members(&sets::diff(&sets, max))))
}

fn sdiffstore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let max = max_intset(x);
    let sets = load(x, &a[2..], false)?;
    let result = sets::diff(&sets, max);
    Ok(store(x, &a[1], result, "sdiffstore"))
}

// ---------------------------------------------------------------------------------------
// SSCAN
// ---------------------------------------------------------------------------------------

fn sscan(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let cursor = super::keys::parse_cursor(&a[2])?;
    let empty = || Reply::Array(vec![Reply::bulk(b"0"), Reply::Array(Vec::new())]);
    let Some(e) = x.lookup_read(&a[1]) else {
        return Ok(empty());
    };
    let s = set_ref(e)?;
    let super::keys::ScanOptions { count, pattern, .. } =
        super::keys::parse_scan_options(a, 3, false)?;
    let mut out = Vec::new();
    let next = s.scan(cursor, count, |m| {
        let keep = match (pattern, m) {
            (None, _) => true,
            (Some(p), Member::Str(b)) => glob_match(p, b, false),
            (Some(p), Member::Int(n)) => glob_match(p, n.to_string().as_bytes(), false),
        };
        if keep {
            out.push(member_reply(m));
        }
    });
    Ok(Reply::Array(vec![
        Reply::bulk_string(next.to_string()),
        Reply::Array(out),
    ]))
}

#[cfg(test)]
mod tests {
    use crate::cmd::string::testkit::*;
    use crate::resp::Reply;

    const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    fn set(items: &[&str]) -> Reply {
        Reply::Set(items.iter().map(|s| bulk(s)).collect())
    }

    /// The members of a set reply (or array), sorted.
    fn sorted(r: Reply) -> Vec<String> {
        let (Reply::Set(v) | Reply::Array(v)) = r else {
            panic!("not a collection: {r:?}");
        };
        let mut out: Vec<String> = v
            .into_iter()
            .map(|m| match m {
                Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        out.sort();
        out
    }

    // Every expected reply below was checked against redis-server 7.0.15.

    #[test]
    fn add_remove_card_members() {
        let mut t = Kit::new();
        t.logs("sadd s 3 1 2 1", int(3), &["sadd s 3 1 2 1"]);
        assert_eq!(t.encoding(b"s"), "intset");
        t.logs("sadd s 1 2", int(0), &[]);
        t.is("smembers s", set(&["1", "2", "3"]));
        t.is("scard s", int(3));
        t.is("scard nope", int(0));
        t.is("smembers nope", set(&[]));
        t.is("sismember s 2", int(1));
        t.is("sismember s 02", int(0));
        t.is("sismember nope 2", int(0));
        t.is("smismember s 1 x 3", arr(vec![int(1), int(0), int(1)]));
        t.is("smismember nope 1", arr(vec![int(0)]));
        t.logs("srem s 1 9", int(1), &["srem s 1 9"]);
        t.logs("srem s 9", int(0), &[]);
        t.logs("srem s 2 3", int(2), &["srem s 2 3"]);
        assert_eq!(t.encoding(b"s"), "none");
        t.is("srem nope a", int(0));
        t.q("set str v");
        for c in [
            "sadd str a",
            "srem str a",
            "scard str",
            "smembers str",
            "sismember str a",
            "smismember str a",
            "spop str",
            "spop str 2",
            "srandmember str",
            "srandmember str 0",
            "sscan str 0",
            "sinter s str",
            "sintercard 1 str",
            "sunion str",
            "sdiff nope str",
            "sinterstore d nope str",
        ] {
            t.is(c, err(WRONGTYPE));
        }
        t.is(
            "sadd s",
            err("ERR wrong number of arguments for 'sadd' command"),
        );
        t.check_replay();
    }

    #[test]
    fn encodings_convert_one_way() {
        let mut t = Kit::new();
        t.q("sadd s 1 2");
        t.q("sadd s x");
        assert_eq!(t.encoding(b"s"), "hashtable");
        t.q("srem s x");
        assert_eq!(t.encoding(b"s"), "hashtable");
        t.q("sadd h x 1");
        assert_eq!(t.encoding(b"h"), "hashtable");
        t.q("config set set-max-intset-entries 3");
        t.q("sadd c 1 2 3");
        assert_eq!(t.encoding(b"c"), "intset");
        t.q("sadd c 4");
        assert_eq!(t.encoding(b"c"), "hashtable");
        t.q("sadd n 1 2 3 4");
        assert_eq!(t.encoding(b"n"), "hashtable");
        t.is("sismember n 4", int(1));
        t.check_replay();
    }

    #[test]
    fn smove_cases() {
        let mut t = Kit::new();
        t.q("sadd a 1 2");
        t.q("set str v");
        t.is("smove nope str 1", int(0));
        t.is("smove a str 1", err(WRONGTYPE));
        t.is("smove str a 1", err(WRONGTYPE));
        t.is("smove a a 1", int(1));
        t.is("smove a a 9", int(0));
        t.is("smove a b 9", int(0));
        assert_eq!(t.log.len(), 2);
        t.logs("smove a b 1", int(1), &["smove a b 1"]);
        assert_eq!(t.encoding(b"b"), "intset");
        t.q("sadd c x 2");
        // c already has 2: only a changes, journaled as its effect.
        t.logs("smove a c 2", int(1), &["SREM a 2"]);
        assert_eq!(t.encoding(b"a"), "none");
        t.q("sadd d 5");
        t.is("smove c d x", int(1));
        assert_eq!(t.encoding(b"d"), "hashtable");
        t.check_replay();
    }

    #[test]
    fn spop_journals_effects() {
        let mut t = Kit::new();
        t.is(
            "spop s -1",
            err("ERR value is out of range, must be positive"),
        );
        t.is(
            "spop s x",
            err("ERR value is out of range, must be positive"),
        );
        t.is("spop s 1 2", err("ERR syntax error"));
        t.is("spop nope", nil());
        t.is("spop nope 3", set(&[]));
        t.q("sadd s 1 2 3 4 5 a b c d e");
        t.is("spop s 0", set(&[]));
        assert!(t.log.len() == 1);
        let Reply::Bulk(m) = t.q("spop s") else {
            panic!()
        };
        assert_eq!(t.last, [format!("SREM s {}", String::from_utf8_lossy(&m))]);
        let got = sorted(t.q("spop s 4"));
        assert_eq!(got.len(), 4);
        let mut logged: Vec<&str> = t.last[0].split(' ').collect();
        assert_eq!(logged[..2], ["SREM", "s"]);
        logged[2..].sort_unstable();
        assert_eq!(logged[2..], got);
        t.is("scard s", int(5));
        let rest = sorted(t.q("spop s 50"));
        assert_eq!(rest.len(), 5);
        assert_eq!(t.last, ["DEL s"]);
        assert_eq!(t.encoding(b"s"), "none");
        t.q("sadd one 7");
        t.is("spop one", bulk("7"));
        assert_eq!(t.last, ["SREM one 7"]);
        t.is("exists one", int(0));
        // Intset pops.
        t.q("sadd n 1 2 3 4 5 6 7 8 9 10");
        assert_eq!(sorted(t.q("spop n 9")).len(), 9);
        t.is("scard n", int(1));
        t.check_replay();
    }

    #[test]
    fn srandmember_counts() {
        let mut t = Kit::new();
        t.is(
            "srandmember s x",
            err("ERR value is not an integer or out of range"),
        );
        t.is(
            "srandmember s -9223372036854775808",
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
        );
        t.is("srandmember s 1 2", err("ERR syntax error"));
        t.is("srandmember nope", nil());
        t.is("srandmember nope 3", arr(vec![]));
        for first in ["1", "a"] {
            t.q("del s");
            t.q(&format!("sadd s {first}"));
            for k in 2..=20 {
                t.q(&format!("sadd s {k}"));
            }
            t.is("srandmember s 0", arr(vec![]));
            for n in [1usize, 5, 7, 19, 20, 25] {
                let r = sorted(t.q(&format!("srandmember s {n}")));
                let mut u = r.clone();
                u.dedup();
                assert_eq!((r.len(), u.len()), (n.min(20), n.min(20)));
            }
            assert_eq!(sorted(t.q("srandmember s -50")).len(), 50);
            assert!(matches!(t.q("srandmember s"), Reply::Bulk(_)));
        }
        t.is("scard s", int(20));
        assert!(t.last.is_empty());
    }

    #[test]
    fn algebra_and_store() {
        let mut t = Kit::new();
        t.q("sadd a 1 2 3 x");
        t.q("sadd b 2 3 4");
        t.q("sadd c 3 x");
        t.is("sinter a b", set(&["2", "3"]));
        t.is("sinter a b nope", set(&[]));
        assert_eq!(sorted(t.q("sinter a")), ["1", "2", "3", "x"]);
        t.is("sintercard 2 a b", int(2));
        t.is("sintercard 2 a b limit 1", int(1));
        t.is("sintercard 2 a b limit 0", int(2));
        t.is("sintercard 1 nope", int(0));
        t.is(
            "sintercard 0 a",
            err("ERR numkeys should be greater than 0"),
        );
        t.is(
            "sintercard x a",
            err("ERR numkeys should be greater than 0"),
        );
        t.is(
            "sintercard 3 a b",
            err("ERR Number of keys can't be greater than number of args"),
        );
        t.is("sintercard 1 a limit", err("ERR syntax error"));
        t.is(
            "sintercard 1 a limit -1",
            err("ERR LIMIT can't be negative"),
        );
        t.is("sintercard 1 a limit x", err("ERR LIMIT can't be negative"));
        t.is("sintercard 1 a foo 1", err("ERR syntax error"));
        assert_eq!(sorted(t.q("sunion a b nope")), ["1", "2", "3", "4", "x"]);
        t.is("sunion b nope", set(&["2", "3", "4"]));
        t.is("sdiff b a", set(&["4"]));
        assert_eq!(sorted(t.q("sdiff a b")), ["1", "x"]);
        t.is("sdiff nope a", set(&[]));
        t.is("sdiff a a", set(&[]));
        t.logs("sinterstore d a b", int(2), &["sinterstore d a b"]);
        assert_eq!(t.encoding(b"d"), "intset");
        t.logs("sinterstore d a c", int(2), &["sinterstore d a c"]);
        assert_eq!(t.encoding(b"d"), "hashtable");
        t.logs("sinterstore d a nope", int(0), &["sinterstore d a nope"]);
        t.logs("sinterstore d a nope", int(0), &[]);
        t.q("set str v");
        t.q("expire str 100");
        t.logs("sunionstore str b c", int(4), &["sunionstore str b c"]);
        assert_eq!(t.expire_at(b"str"), -1);
        t.logs("sdiffstore a a b", int(2), &["sdiffstore a a b"]);
        t.is("sdiffstore e nope a", int(0));
        t.q("set str2 v");
        t.is("sdiffstore str2 nope", int(0));
        assert_eq!(t.encoding(b"str2"), "none");
        t.check_replay();
    }

    #[test]
    fn sscan_cases() {
        let mut t = Kit::new();
        t.q("sadd s 1 2 3 10");
        t.is("sscan s x", err("ERR invalid cursor"));
        t.is("sscan nope 0 count 0", arr(vec![bulk("0"), arr(vec![])]));
        t.is("sscan s 0 count 0", err("ERR syntax error"));
        t.is("sscan s 0 type set", err("ERR syntax error"));
        t.is("sscan s 0 match", err("ERR syntax error"));
        t.is(
            "sscan s 0 count x",
            err("ERR value is not an integer or out of range"),
        );
        t.is(
            "sscan s 77 count 1",
            arr(vec![
                bulk("0"),
                arr(vec![bulk("1"), bulk("2"), bulk("3"), bulk("10")]),
            ]),
        );
        t.is(
            "sscan s 0 match 1*",
            arr(vec![bulk("0"), arr(vec![bulk("1"), bulk("10")])]),
        );
        for k in 0..300 {
            t.q(&format!("sadd h m{k}"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        loop {
            let Reply::Array(r) = t.q(&format!("sscan h {cursor} count 7")) else {
                panic!()
            };
            let Reply::Bulk(c) = &r[0] else { panic!() };
            cursor = String::from_utf8(c.to_vec()).unwrap();
            for m in sorted(r[1].clone()) {
                seen.insert(m);
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
    }

    #[test]
    fn expired_sources_are_deleted_and_replay_matches() {
        let mut t = Kit::new();
        t.q("sadd a 1 2");
        t.q("sadd b 2 3");
        t.q("pexpire b 10");
        t.now += 100;
        t.logs("sunionstore d a b", int(2), &["DEL b", "sunionstore d a b"]);
        t.check_replay();
    }
}
