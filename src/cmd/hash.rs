//! Hash commands (HSET HSETNX HMSET HGET HMGET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS
//! HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN): argument parsing, Redis 7.0 error
//! precedence, RESP2/RESP3 reply shapes, and journaling. Every write is deterministic
//! and logged verbatim, except HINCRBYFLOAT, logged as `HSET k f <result>`; HRANDFIELD and
//! HSCAN only read. The value semantics (encodings, conversion, scan, sampling) live in
//! `db::hash`; the integer and long-double arithmetic in `db::strnum`.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::keys::parse_cursor;
use super::keys::{parse_scan_options, ScanOptions};
use super::string::int_reply;
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::argv;
use crate::db::hash::{Hash, Limits};
use crate::db::strnum;
use crate::db::{Entry, Value};
use crate::glob::glob_match;
use crate::resp::Reply;

/// Register the hash commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let ro = F::READONLY;
    let rf = F::READONLY | F::FAST;
    let wdf = F::WRITE | F::DENYOOM | F::FAST;
    let one = |s: CommandSpec| s.keys(1, 1, 1).group(Group::Hash);
    t.push(one(cmd("hset", -4, wdf, hset)).doc("Set the string value of a hash field", "2.0.0"));
    t.push(one(cmd("hsetnx", 4, wdf, hsetnx)).doc(
        "Set the value of a hash field, only if the field does not exist",
        "2.0.0",
    ));
    t.push(one(cmd("hget", 3, rf, hget)).doc("Get the value of a hash field", "2.0.0"));
    t.push(
        one(cmd("hmget", -3, rf, hmget))
            .doc("Get the values of all the given hash fields", "2.0.0"),
    );
    t.push(
        one(cmd("hmset", -4, wdf, hmset))
            .doc("Set multiple hash fields to multiple values", "2.0.0"),
    );
    t.push(
        one(cmd("hdel", -3, F::WRITE | F::FAST, hdel))
            .doc("Delete one or more hash fields", "2.0.0"),
    );
    t.push(one(cmd("hlen", 2, rf, hlen)).doc("Get the number of fields in a hash", "2.0.0"));
    t.push(
        one(cmd("hstrlen", 3, rf, hstrlen))
            .doc("Get the length of the value of a hash field", "3.2.0"),
    );
    t.push(one(cmd("hexists", 3, rf, hexists)).doc("Determine if a hash field exists", "2.0.0"));
    t.push(one(cmd("hkeys", 2, ro, hkeys)).doc("Get all the fields in a hash", "2.0.0"));
    t.push(one(cmd("hvals", 2, ro, hvals)).doc("Get all the values in a hash", "2.0.0"));
    t.push(
        one(cmd("hgetall", 2, ro, hgetall)).doc("Get all the fields and values in a hash", "2.0.0"),
    );
    t.push(one(cmd("hincrby", 4, wdf, hincrby)).doc(
        "Increment the integer value of a hash field by the given number",
        "2.0.0",
    ));
    t.push(
        one(cmd("hincrbyfloat", 4, wdf, hincrbyfloat))
            .journal(Journal::Custom)
            .doc(
                "Increment the float value of a hash field by the given amount",
                "2.6.0",
            ),
    );
    t.push(
        one(cmd("hrandfield", -2, ro, hrandfield))
            .doc("Get one or multiple random fields from a hash", "6.2.0"),
    );
    t.push(one(cmd("hscan", -3, ro, hscan)).doc(
        "Incrementally iterate hash fields and associated values",
        "2.8.0",
    ));
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The hash an entry holds, or WRONGTYPE.
fn as_hash(e: &Entry) -> Result<&Hash, CmdError> {
    match &e.value {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

/// The configured listpack thresholds.
fn limits(x: &Exec<'_>) -> Limits {
    Limits {
        max_entries: x.st.config.hash_max_listpack_entries,
        max_value: x.st.config.hash_max_listpack_value,
    }
}

/// The hash at `key` for reading (hit/miss stats, lazy expiry); None if absent.
fn read<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Result<Option<&'x Hash>, CmdError> {
    match x.lookup_read(key) {
        None => Ok(None),
        Some(e) => as_hash(e).map(Some),
    }
}

/// Check `key` for a write: WRONGTYPE if it holds another type; true if it exists.
fn check_write(x: &mut Exec<'_>, key: &[u8]) -> Result<bool, CmdError> {
    match x.lookup_write(key) {
        None => Ok(false),
        Some(e) => as_hash(e).map(|_| true),
    }
}

/// The hash at `key` for modification, created empty if absent. Callers checked the type
/// with [`check_write`] and always add a field (an empty hash is never left behind).
fn hash_mut<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> &'x mut Hash {
    let now = x.now_ms;
    if x.db().get(key).is_none() {
        x.insert_key(key, Entry::new(Value::Hash(Hash::default()), now));
    }
    match x.db().get_mut(key).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => h,
        _ => unreachable!("type checked by check_write, created above"),
    }
}

/// One 64-bit random number (splitmix64 over a shared counter): HRANDFIELD needs a fair
/// spread, not reproducibility (its choices are reads, never journaled).
fn rand64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x2545_f491_4f6c_dd1d);
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------

/// HSET and HMSET: arity is checked here (pairs), then every pair is set in order.
fn hset_generic(x: &mut Exec<'_>, a: &[Bytes], name: &str) -> Result<usize, CmdError> {
    if !a.len().is_multiple_of(2) {
        return Err(CmdError::Arity(name.into()));
    }
    check_write(x, &a[1])?;
    let lim = limits(x);
    let h = hash_mut(x, &a[1]);
    let mut created = 0;
    for pair in a[2..].chunks_exact(2) {
        if h.set(&pair[0], &pair[1], lim) {
            created += 1;
        }
    }
    x.touch_dirty(((a.len() - 2) / 2) as u64);
    x.reply_before_events();
    x.notify('h', "hset", &a[1]);
    Ok(created)
}

fn hset(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    hset_generic(x, a, "hset").map(int_reply)
}

fn hmset(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    hset_generic(x, a, "hmset").map(|_| Reply::ok())
}

fn hsetnx(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let exists = check_write(x, &a[1])?;
    if exists && read_field_exists(x, &a[1], &a[2]) {
        return Ok(Reply::Int(0));
    }
    let lim = limits(x);
    hash_mut(x, &a[1]).set(&a[2], &a[3], lim);
    x.touch_dirty(1);
    x.reply_before_events();
    x.notify('h', "hset", &a[1]);
    Ok(Reply::Int(1))
}

/// True if the (type-checked) hash at `key` has `field`; no stats.
fn read_field_exists(x: &mut Exec<'_>, key: &[u8], field: &[u8]) -> bool {
    x.db()
        .get(key)
        .and_then(|e| as_hash(e).ok())
        .is_some_and(|h| h.contains(field))
}

/// HDEL: deletes the key with its last field.
fn hdel(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if !check_write(x, &a[1])? {
        return Ok(Reply::Int(0));
    }
    let h = hash_mut(x, &a[1]);
    let mut n = 0;
    for f in &a[2..] {
        if h.remove(f) {
            n += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    let removed = h.is_empty();
    if removed {
        x.db().remove(&a[1]);
    }
    x.touch_dirty(n);
    if n > 0 {
        x.notify('h', "hdel", &a[1]);
        if removed {
            x.notify('g', "del", &a[1]);
        }
    }
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// HINCRBY: the increment is parsed before the key's type is checked, as in Redis.
fn hincrby(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let incr = arg_i64(&a[3])?;
    let (key, field) = (&a[1], &a[2]);
    let cur = if check_write(x, key)? {
        x.db()
            .get(key)
            .and_then(|e| as_hash(e).ok())
            .and_then(|h| h.get(field))
            .map(<[u8]>::to_vec)
    } else {
        None
    };
    let v = strnum::hincr_by(cur.as_deref(), incr)?;
    let lim = limits(x);
    hash_mut(x, key).set(field, v.to_string().as_bytes(), lim);
    x.touch_dirty(1);
    x.reply_before_events();
    x.notify('h', "hincrby", key);
    Ok(Reply::Int(v))
}

/// HINCRBYFLOAT: exact long-double arithmetic; journaled as `HSET k f <result>`.
fn hincrbyfloat(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    strnum::check_hincrbyfloat_delta(&a[3])?;
    let (key, field) = (&a[1], &a[2]);
    let cur = if check_write(x, key)? {
        x.db()
            .get(key)
            .and_then(|e| as_hash(e).ok())
            .and_then(|h| h.get(field))
            .map(<[u8]>::to_vec)
    } else {
        None
    };
    let (_, text) = strnum::hincr_by_float_raw(cur.as_deref(), &a[3])?;
    let lim = limits(x);
    hash_mut(x, key).set(field, text.as_bytes(), lim);
    x.touch_dirty(1);
    x.reply_before_events();
    x.notify('h', "hincrbyfloat", key);
    x.journal(argv!["HSET", key, field, text]);
    Ok(Reply::bulk_string(text))
}

// ---------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------

fn hget(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(match read(x, &a[1])?.and_then(|h| h.get(&a[2])) {
        Some(v) => Reply::bulk(v),
        None => Reply::Null,
    })
}

fn hmget(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let h = read(x, &a[1])?;
    let out = a[2..]
        .iter()
        .map(|f| h.and_then(|h| h.get(f)).map_or(Reply::Null, Reply::bulk))
        .collect();
    Ok(Reply::Array(out))
}

fn hlen(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(int_reply(read(x, &a[1])?.map_or(0, Hash::len)))
}

fn hstrlen(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let n = read(x, &a[1])?
        .and_then(|h| h.get(&a[2]))
        .map_or(0, <[u8]>::len);
    Ok(int_reply(n))
}

fn hexists(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let found = read(x, &a[1])?.is_some_and(|h| h.contains(&a[2]));
    Ok(Reply::Int(i64::from(found)))
}

fn hkeys(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let out = read(x, &a[1])?.map_or_else(Vec::new, |h| {
        h.iter().map(|(f, _)| Reply::bulk(f)).collect()
    });
    Ok(Reply::Array(out))
}

fn hvals(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let out = read(x, &a[1])?.map_or_else(Vec::new, |h| {
        h.iter().map(|(_, v)| Reply::bulk(v)).collect()
    });
    Ok(Reply::Array(out))
}

/// HGETALL: a map (RESP3), a flat array of fields and values (RESP2).
fn hgetall(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let out = read(x, &a[1])?.map_or_else(Vec::new, |h| {
        h.iter()
            .map(|(f, v)| (Reply::bulk(f), Reply::bulk(v)))
            .collect()
    });
    Ok(Reply::Map(out))
}

/// HRANDFIELD key [count [WITHVALUES]]: the count is parsed (and range-checked) before
/// the key is looked up, as in Redis 7.0. A negative count may repeat fields; a positive
/// one at least the hash's size returns the whole hash in its order. With WITHVALUES,
/// RESP3 replies an array of [field, value] pairs, RESP2 a flat array.
fn hrandfield(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() == 2 {
        let Some(h) = read(x, &a[1])? else {
            return Ok(Reply::Null);
        };
        return Ok(h
            .random_pair(rand64)
            .map_or(Reply::Null, |(f, _)| Reply::bulk(f)));
    }
    let l = arg_i64(&a[2])?;
    if l == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if a.len() > 4 || (a.len() == 4 && !is(&a[3], "withvalues")) {
        return Err(CmdError::Syntax);
    }
    let withvalues = a.len() == 4;
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::err("value is out of range"));
    }
    let cap = x.reply_elements_cap();
    let resp3 = x.reply_resp3();
    let Some(h) = read(x, &a[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let mut count = usize::try_from(l.unsigned_abs()).unwrap_or(usize::MAX);
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    if l < 0 {
        count = count.min(cap);
    }
    let pairs = if l < 0 {
        h.random_pairs(count, rand64)
    } else if count >= h.len() {
        h.iter().collect()
    } else {
        h.random_distinct(count, rand64)
    };
    let mut out = Vec::with_capacity(pairs.len() * if withvalues { 2 } else { 1 });
    for (f, v) in pairs {
        if !withvalues {
            out.push(Reply::bulk(f));
        } else if resp3 {
            out.push(Reply::Array(vec![Reply::bulk(f), Reply::bulk(v)]));
        } else {
            out.push(Reply::bulk(f));
            out.push(Reply::bulk(v));
        }
    }
    Ok(Reply::Array(out))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]: the cursor is parsed first, then the
/// key (a missing key replies an empty scan without looking at the options), then the
/// options, as in Redis 7.0 (no NOVALUES: that is 7.4).
fn hscan(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let cursor = parse_cursor(&a[2])?;
    let empty = || Reply::Array(vec![Reply::bulk(b"0"), Reply::Array(Vec::new())]);
    if read(x, &a[1])?.is_none() {
        return Ok(empty());
    }
    let ScanOptions { count, pattern, .. } = parse_scan_options(a, 3, false)?;
    let Some(h) = x.db().get(&a[1]).and_then(|e| as_hash(e).ok()) else {
        return Ok(empty());
    };
    let mut out = Vec::new();
    let want = count;
    let next = h.scan(cursor, want, |f, v| {
        if pattern.is_none_or(|p| glob_match(p, f, false)) {
            out.push(Reply::bulk(f));
            out.push(Reply::bulk(v));
        }
    });
    Ok(Reply::Array(vec![
        Reply::bulk_string(next.to_string()),
        Reply::Array(out),
    ]))
}

#[cfg(test)]
mod tests {
    use super::super::string::testkit::*;
    use crate::resp::Reply;

    fn map(pairs: &[(&str, &str)]) -> Reply {
        Reply::Map(pairs.iter().map(|(f, v)| (bulk(f), bulk(v))).collect())
    }

    const WT: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    #[test]
    fn set_get_and_order() {
        let mut k = Kit::new();
        k.logs("HSET h z 1 a 2 m 3", int(3), &["HSET h z 1 a 2 m 3"]);
        k.logs("HSET h a 9 n 4", int(1), &["HSET h a 9 n 4"]);
        k.is(
            "HGETALL h",
            map(&[("z", "1"), ("a", "9"), ("m", "3"), ("n", "4")]),
        );
        k.is(
            "HKEYS h",
            arr(vec![bulk("z"), bulk("a"), bulk("m"), bulk("n")]),
        );
        k.is(
            "HVALS h",
            arr(vec![bulk("1"), bulk("9"), bulk("3"), bulk("4")]),
        );
        k.is("HGET h a", bulk("9"));
        k.is("HGET h nope", nil());
        k.is("HGET nokey a", nil());
        k.is("HMGET h a nope z", arr(vec![bulk("9"), nil(), bulk("1")]));
        k.is("HMGET nokey a b", arr(vec![nil(), nil()]));
        k.is("HLEN h", int(4));
        k.is("HLEN nokey", int(0));
        k.is("HSTRLEN h a", int(1));
        k.is("HSTRLEN h nope", int(0));
        k.is("HEXISTS h a", int(1));
        k.is("HEXISTS h nope", int(0));
        k.is("HGETALL nokey", Reply::Map(vec![]));
        k.is("HKEYS nokey", arr(vec![]));
        k.logs("HMSET h x 1", ok(), &["HMSET h x 1"]);
        k.is(
            "HSET h a",
            err("ERR wrong number of arguments for 'hset' command"),
        );
        k.is(
            "HMSET h a 1 b",
            err("ERR wrong number of arguments for 'hmset' command"),
        );
        k.logs("HSETNX h a 5", int(0), &[]);
        k.logs("HSETNX h b 5", int(1), &["HSETNX h b 5"]);
        k.logs("HSETNX new b 5", int(1), &["HSETNX new b 5"]);
        k.check_replay();
    }

    #[test]
    fn hdel_deletes_the_key_with_its_last_field() {
        let mut k = Kit::new();
        k.q("HSET h a 1 b 2");
        k.logs("HDEL h nope", int(0), &[]);
        k.logs("HDEL h a a nope", int(1), &["HDEL h a a nope"]);
        k.logs("HDEL h b c", int(1), &["HDEL h b c"]);
        k.is("EXISTS h", int(0));
        k.logs("HDEL h b", int(0), &[]);
        k.check_replay();
    }

    #[test]
    fn wrongtype() {
        let mut k = Kit::new();
        k.q("SET s v");
        for c in [
            "HSET s a 1",
            "HMSET s a 1",
            "HSETNX s a 1",
            "HGET s a",
            "HMGET s a",
            "HDEL s a",
            "HLEN s",
            "HSTRLEN s a",
            "HEXISTS s a",
            "HKEYS s",
            "HVALS s",
            "HGETALL s",
            "HINCRBY s a 1",
            "HINCRBYFLOAT s a 1",
            "HRANDFIELD s",
            "HRANDFIELD s 1",
            "HSCAN s 0",
        ] {
            k.is(c, err(WT));
        }
        k.is(
            "HINCRBY s a x",
            err("ERR value is not an integer or out of range"),
        );
        k.is("HINCRBYFLOAT s a x", err("ERR value is not a valid float"));
        k.is(
            "HRANDFIELD s x",
            err("ERR value is not an integer or out of range"),
        );
        k.is("HSCAN s x", err("ERR invalid cursor"));
        k.q("HSET h a 1");
        k.is("GET h", err(WT));
        assert!(k.log.iter().all(|(_, u)| u.len() == 1));
    }

    #[test]
    fn hincrby_and_hincrbyfloat() {
        let mut k = Kit::new();
        k.logs("HINCRBY h n 5", int(5), &["HINCRBY h n 5"]);
        k.logs("HINCRBY h n -7", int(-2), &["HINCRBY h n -7"]);
        k.q("HSET h s abc big 9223372036854775807 f 1.5");
        k.is("HINCRBY h s 1", err("ERR hash value is not an integer"));
        k.is("HINCRBY h f 1", err("ERR hash value is not an integer"));
        k.is(
            "HINCRBY h big 1",
            err("ERR increment or decrement would overflow"),
        );
        k.is(
            "HINCRBY h n 1.5",
            err("ERR value is not an integer or out of range"),
        );
        k.logs("HINCRBYFLOAT h f 0.1", bulk("1.6"), &["HSET h f 1.6"]);
        k.logs("HINCRBYFLOAT h g 3", bulk("3"), &["HSET h g 3"]);
        k.logs("HINCRBYFLOAT h n 2.5", bulk("0.5"), &["HSET h n 0.5"]);
        k.logs("HINCRBYFLOAT new f 1e2", bulk("100"), &["HSET new f 100"]);
        k.is("HINCRBYFLOAT h s 1", err("ERR hash value is not a float"));
        k.is("HINCRBYFLOAT h f inf", err("ERR value is NaN or Infinity"));
        k.is("HINCRBYFLOAT h f x", err("ERR value is not a valid float"));
        k.q("HSET h huge 1e4932");
        k.is(
            "HINCRBYFLOAT h huge 1e4932",
            err("ERR increment would produce NaN or Infinity"),
        );
        k.is(
            "HINCRBYFLOAT nokey f inf",
            err("ERR value is NaN or Infinity"),
        );
        k.is("EXISTS nokey", int(0));
        k.check_replay();
    }

    #[test]
    fn encodings_convert_by_count_and_length() {
        let mut k = Kit::new();
        k.q("HSET h a 1");
        assert_eq!(k.encoding(b"h"), "listpack");
        let long = "x".repeat(65);
        k.q(&format!("HSET h a {long}"));
        assert_eq!(k.encoding(b"h"), "hashtable");
        k.q(&format!("HSET f {} 1", "y".repeat(64)));
        assert_eq!(k.encoding(b"f"), "listpack");
        k.q(&format!("HINCRBY f {} 1", "y".repeat(65)));
        assert_eq!(k.encoding(b"f"), "hashtable");
        k.q("CONFIG SET hash-max-listpack-entries 2");
        k.q("HSET c a 1 b 2");
        assert_eq!(k.encoding(b"c"), "listpack");
        k.q("HSET c d 3");
        assert_eq!(k.encoding(b"c"), "hashtable");
        k.q("HDEL c a b");
        assert_eq!(k.encoding(b"c"), "hashtable");
        k.q("HSET n a 1");
        k.logs(&format!("HSETNX n a {long}"), int(0), &[]);
        assert_eq!(k.encoding(b"n"), "listpack");
        k.check_replay();
    }

    fn scan_all(k: &mut Kit, key: &str, count: usize) -> Vec<String> {
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        loop {
            let Reply::Array(r) = k.q(&format!("HSCAN {key} {cursor} COUNT {count}")) else {
                panic!("not an array");
            };
            let (Reply::Bulk(c), Reply::Array(items)) = (&r[0], &r[1]) else {
                panic!("bad shape");
            };
            for pair in items.chunks(2) {
                if let (Reply::Bulk(f), Reply::Bulk(_)) = (&pair[0], &pair[1]) {
                    seen.push(String::from_utf8_lossy(f).into_owned());
                }
            }
            cursor = String::from_utf8_lossy(c).into_owned();
            if cursor == "0" {
                seen.sort();
                return seen;
            }
        }
    }

    #[test]
    fn hscan() {
        let mut k = Kit::new();
        k.is("HSCAN nokey 0 COUNT 0", arr(vec![bulk("0"), arr(vec![])]));
        k.is("HSCAN nokey x", err("ERR invalid cursor"));
        k.q("HSET h a 1 b 2 ab 3");
        k.is(
            "HSCAN h 123",
            arr(vec![
                bulk("0"),
                arr(vec![
                    bulk("a"),
                    bulk("1"),
                    bulk("b"),
                    bulk("2"),
                    bulk("ab"),
                    bulk("3"),
                ]),
            ]),
        );
        k.is(
            "HSCAN h 0 MATCH a* COUNT 1",
            arr(vec![
                bulk("0"),
                arr(vec![bulk("a"), bulk("1"), bulk("ab"), bulk("3")]),
            ]),
        );
        k.is("HSCAN h 0 COUNT 0", err("ERR syntax error"));
        k.is("HSCAN h 0 NOVALUES", err("ERR syntax error"));
        k.is("HSCAN h 0 TYPE string", err("ERR syntax error"));
        k.is(
            "HSCAN h 0 COUNT x",
            err("ERR value is not an integer or out of range"),
        );
        let mut line = "HSET big".to_string();
        for i in 0..600 {
            line.push_str(&format!(" f{i} {i}"));
        }
        k.q(&line);
        assert_eq!(k.encoding(b"big"), "hashtable");
        let all = scan_all(&mut k, "big", 7);
        assert_eq!(all.len(), 600);
        assert_eq!(scan_all(&mut k, "big", 1000).len(), 600);
    }

    #[test]
    fn hrandfield() {
        let mut k = Kit::new();
        k.is("HRANDFIELD nokey", nil());
        k.is("HRANDFIELD nokey 5", arr(vec![]));
        k.is("HRANDFIELD nokey 5 WITHVALUES", arr(vec![]));
        k.is("HRANDFIELD nokey 1 foo", err("ERR syntax error"));
        k.is("HRANDFIELD nokey 1 WITHVALUES x", err("ERR syntax error"));
        k.is(
            "HRANDFIELD nokey -9223372036854775808",
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
        );
        k.is(
            "HRANDFIELD nokey 9223372036854775807 WITHVALUES",
            err("ERR value is out of range"),
        );
        k.q("HSET h a 1 b 2 c 3");
        k.is("HRANDFIELD h 0", arr(vec![]));
        k.is("HRANDFIELD h 3", arr(vec![bulk("a"), bulk("b"), bulk("c")]));
        k.is(
            "HRANDFIELD h 10 WITHVALUES",
            arr(vec![
                bulk("a"),
                bulk("1"),
                bulk("b"),
                bulk("2"),
                bulk("c"),
                bulk("3"),
            ]),
        );
        for _ in 0..20 {
            let Reply::Array(r) = k.q("HRANDFIELD h -5 WITHVALUES") else {
                panic!()
            };
            assert_eq!(r.len(), 10);
            let Reply::Array(r) = k.q("HRANDFIELD h 2") else {
                panic!()
            };
            assert_eq!(r.len(), 2);
            assert_ne!(r[0], r[1]);
            let Reply::Bulk(f) = k.q("HRANDFIELD h") else {
                panic!()
            };
            assert!([&b"a"[..], b"b", b"c"].contains(&&f[..]));
        }
        k.st.clients.map.get_mut(&0).unwrap().resp = 3;
        let Reply::Array(r) = k.q("HRANDFIELD h -4 WITHVALUES") else {
            panic!()
        };
        assert_eq!(r.len(), 4);
        assert!(matches!(&r[0], Reply::Array(p) if p.len() == 2));
        assert!(k.log.len() == 1, "reads are never journaled");
    }

    #[test]
    fn ttl_survives_writes_and_expired_keys_are_absent() {
        let mut k = Kit::new();
        k.q("HSET h a 1");
        k.q("PEXPIRE h 100");
        k.q("HSET h b 2");
        assert_eq!(k.expire_at(b"h"), T0 + 100);
        k.now += 200;
        k.is("HLEN h", int(0));
        k.logs("HSET h c 3", int(1), &["HSET h c 3"]);
        k.is("HGETALL h", arr_map(&[("c", "3")]));
        k.check_replay();
    }

    fn arr_map(pairs: &[(&str, &str)]) -> Reply {
        map(pairs)
    }
}
