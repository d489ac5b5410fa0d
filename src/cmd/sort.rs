//! SORT and SORT_RO, as Redis 7.0's `sort.c`: option parsing (ASC/DESC, ALPHA, LIMIT,
//! BY with `nosort`/`*`/`->field` patterns, GET with `#`, STORE for SORT only), loading
//! a list, set or sorted set (a sorted set is converted to its skiplist encoding first,
//! as Redis does destructively), Redis's comparison rules (numeric scores as `strtod`
//! reads them with ties broken by the elements' bytes; ALPHA as `strcoll` in the C
//! locale, binary when storing), LIMIT clamping, and the `BY nosort` fast paths that keep
//! a list's or sorted set's own order and take the LIMIT range by index or rank.
//! Pattern keys are read with `Exec::lookup_read` (expired keys are missing).
//! SORT … STORE is journaled as its effect (`DEL dst`, then `RPUSH dst …`) so that
//! replay is exact whatever the source's iteration order, and so that the destination
//! key is seen by WATCH and by clients blocked on it.

use std::cmp::Ordering;

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::{cmd, CmdError, CommandSpec, Flags, Journal};
use crate::db::list::{End, List};
use crate::db::{Entry, Value};
use crate::resp::Reply;

/// Register SORT and SORT_RO.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let cats: &'static [&'static str] = &["set", "sortedset", "list", "dangerous"];
    t.push(
        cmd("sort", -2, F::WRITE | F::DENYOOM | F::MOVABLE_KEYS, sort)
            .keys(1, 1, 1)
            .acl(cats)
            .journal(Journal::Custom)
            .doc("Sort the elements in a list, set or sorted set", "1.0.0"),
    );
    t.push(
        cmd("sort_ro", -2, F::READONLY | F::MOVABLE_KEYS, sort_ro)
            .keys(1, 1, 1)
            .acl(cats)
            .doc(
                "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
                "7.0.0",
            ),
    );
}

/// Elements per RPUSH in the journaled effect of SORT … STORE.
const STORE_CHUNK: usize = 1024;

/// The text of the numeric conversion error.
const SCORE_ERR: &str = "ERR One or more scores can't be converted into double";

/// SORT's options, as parsed from the arguments.
struct Opts {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<Bytes>,
    by: Option<Bytes>,
    /// Set by any BY pattern without `*` (sticky, as in Redis).
    dontsort: bool,
    gets: Vec<Bytes>,
}

/// The bytes of `b` up to its first NUL, as C string functions see it.
fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/// `full_key_read`: the user may read every key (else BY with a pattern and GET are
/// refused, as Redis does since ACLs cannot check the keys they read).
fn parse(a: &[Bytes], readonly: bool, full_key_read: bool) -> Result<Opts, CmdError> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let w = &a[j];
        if is(w, "asc") {
            o.desc = false;
        } else if is(w, "desc") {
            o.desc = true;
        } else if is(w, "alpha") {
            o.alpha = true;
        } else if is(w, "limit") && left >= 2 {
            o.limit_start = arg_i64(&a[j + 1])?;
            o.limit_count = arg_i64(&a[j + 2])?;
            j += 2;
        } else if !readonly && is(w, "store") && left >= 1 {
            o.store = Some(a[j + 1].clone());
            j += 1;
        } else if is(w, "by") && left >= 1 {
            let p = a[j + 1].clone();
            if !cstr(&p).contains(&b'*') {
                o.dontsort = true;
            } else if !full_key_read {
                return Err(CmdError::err(
                    "BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.by = Some(p);
            j += 1;
        } else if is(w, "get") && left >= 1 {
            if !full_key_read {
                return Err(CmdError::err(
                    "GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(a[j + 1].clone());
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// What was sorted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` of
/// the pattern is replaced by the element and the key read (a string, or with
/// `->field` after the `*` a hash field). No `*`, a missing key or the wrong type: None.
fn lookup_pattern(x: &mut Exec<'_>, pat: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    let c = cstr(pat);
    if c == b"#" {
        return Some(elem.to_vec());
    }
    let star = c.iter().position(|&b| b == b'*')?;
    let after = &c[star + 1..];
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < c.len());
    let key_end = field.unwrap_or(pat.len());
    let mut key = Vec::with_capacity(pat.len() + elem.len());
    key.extend_from_slice(&pat[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pat[star + 1..key_end]);
    let e = x.lookup_read(&key)?;
    match (field, &e.value) {
        (Some(f), Value::Hash(h)) => h.get(&pat[f + 2..]).map(<[u8]>::to_vec),
        (None, Value::Str(s)) => Some(s.to_vec()),
        _ => None,
    }
}

/// True for the bytes C's `isspace` accepts in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A sort score as Redis reads it: `strtod` must consume the whole C string (so the empty
/// string is 0) with no `ERANGE` (overflow, and underflow to zero or to an inexact
/// subnormal) and no NaN. None is the conversion error.
fn score(v: &[u8]) -> Option<f64> {
    let c = cstr(v);
    if c.is_empty() {
        return Some(0.0);
    }
    let start = c.iter().position(|&b| !is_c_space(b))?;
    let t = &c[start..];
    let f = crate::db::strnum::parse_double(t)?;
    if f != 0.0 && f.abs() < f64::MIN_POSITIVE && !exact_hex_subnormal(t) {
        return None;
    }
    Some(f)
}

/// True if `t` (a valid `strtod` number whose value is subnormal) is a hexadecimal
/// literal whose lowest set bit is at or above 2^-1074, i.e. exactly representable (glibc
/// sets `ERANGE` for subnormal results only when they are inexact). A decimal subnormal
/// is taken as inexact (an exact one needs hundreds of digits).
fn exact_hex_subnormal(t: &[u8]) -> bool {
    let t = match t.first() {
        Some(b'+' | b'-') => &t[1..],
        _ => t,
    };
    if t.len() < 2 || t[0] != b'0' || !matches!(t[1], b'x' | b'X') {
        return false;
    }
    let body = &t[2..];
    let p_at = body.iter().position(|&b| matches!(b, b'p' | b'P'));
    let (mant, exp) = match p_at {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &b""[..]),
    };
    let p: i64 = std::str::from_utf8(exp)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let dot = mant.iter().position(|&b| b == b'.');
    let digits: Vec<u32> = mant
        .iter()
        .filter_map(|&b| (b as char).to_digit(16))
        .collect();
    let frac_len = dot.map_or(0, |d| mant.len() - d - 1);
    let Some(last_nz) = digits.iter().rposition(|&d| d != 0) else {
        return true;
    };
    let trailing_zero_digits = digits.len() - 1 - last_nz;
    let tz = 4 * trailing_zero_digits as i64 + i64::from(digits[last_nz].trailing_zeros());
    p.saturating_sub(4 * frac_len as i64).saturating_add(tz) >= -1074
}

/// Comparison of two strings as `strcoll` in the C locale: `strcmp` of the C strings.
fn coll(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    cstr(a).cmp(cstr(b))
}

/// One element being sorted, with what it sorts by.
struct Item {
    elem: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

fn sort(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    sort_generic(x, a, false)
}

fn sort_ro(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    sort_generic(x, a, true)
}

/// The loaded elements and the inclusive range of them to output (empty if end < start).
struct Loaded {
    kind: Kind,
    elems: Vec<Vec<u8>>,
    start: i64,
    end: i64,
}

/// Load the elements of the key to sort: all of them, or for `BY nosort` over a list or
/// sorted set only the LIMIT range in the requested direction.
fn load(x: &mut Exec<'_>, key: &[u8], o: &Opts) -> Result<Loaded, CmdError> {
    let (kind, len) = match x.lookup_read_mut(key) {
        None => (Kind::List, 0),
        Some(e) => match &mut e.value {
            Value::List(l) => (Kind::List, l.len()),
            Value::Set(s) => (Kind::Set, s.len()),
            Value::ZSet(z) => {
                // Redis converts a listpack sorted set for SORT, destructively.
                z.convert_to_big();
                (Kind::ZSet, z.len())
            }
            _ => return Err(CmdError::WrongType),
        },
    };
    let vlen = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = o.limit_start.max(0);
    let mut end = if o.limit_count < 0 {
        vlen - 1
    } else {
        start.wrapping_add(o.limit_count).wrapping_sub(1)
    };
    if start >= vlen {
        start = vlen - 1;
        end = vlen - 2;
    }
    if end >= vlen {
        end = vlen - 1;
    }
    let ranged = o.dontsort && kind != Kind::Set;
    let Some(e) = x.st.ks.dbs[x.db].get(key) else {
        return Ok(Loaded {
            kind,
            elems: Vec::new(),
            start,
            end,
        });
    };
    let mut out = Vec::new();
    if ranged {
        // Elements start..=end in list/rank order, from the far end when DESC.
        let n = usize::try_from(end - start + 1).unwrap_or(0);
        if n > 0 {
            let first = usize::try_from(start).unwrap_or(0);
            match &e.value {
                Value::List(l) => {
                    let it: Box<dyn Iterator<Item = &[u8]>> = if o.desc {
                        Box::new(l.iter().rev())
                    } else {
                        Box::new(l.iter())
                    };
                    out.extend(it.skip(first).take(n).map(<[u8]>::to_vec));
                }
                Value::ZSet(z) => {
                    let (lo, hi) = if o.desc {
                        (len - first - n, len - first)
                    } else {
                        (first, first + n)
                    };
                    z.range(lo, hi, o.desc, |m, _| out.push(m.to_vec()));
                }
                _ => {}
            }
        }
        return Ok(Loaded {
            kind,
            elems: out,
            start: 0,
            end: end - start,
        });
    }
    out.reserve(len);
    match &e.value {
        Value::List(l) => out.extend(l.iter().map(<[u8]>::to_vec)),
        Value::Set(s) => out.extend(s.iter().map(|m| m.to_vec())),
        Value::ZSet(z) => z.for_each(|m, _| out.push(m.to_vec())),
        _ => {}
    }
    Ok(Loaded {
        kind,
        elems: out,
        start,
        end,
    })
}

fn sort_generic(x: &mut Exec<'_>, a: &[Bytes], readonly: bool) -> Result<Reply, CmdError> {
    let full_key_read = super::acl::full_key_read(x, a);
    let mut o = parse(a, readonly, full_key_read)?;
    let Loaded {
        kind,
        elems,
        start,
        end,
    } = load(x, &a[1], &o)?;
    // An unsorted set has no order of its own: when storing, sort it (as Redis does for
    // STORE and scripts) so the result is deterministic.
    if o.dontsort && kind == Kind::Set && (o.store.is_some() || x.in_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();
    let mut conversion_error = false;
    if !o.dontsort {
        if kind == Kind::Set && o.alpha && o.by.is_some() {
            // Ties in ALPHA BY sorts keep (or, with LIMIT, permute) the input order: make
            // it independent of the hashtable's layout.
            items.sort_by(|p, q| p.elem.cmp(&q.elem));
        }
        for it in &mut items {
            let by = match &o.by {
                Some(p) => match lookup_pattern(x, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    if !o.alpha {
                        match score(&it.elem) {
                            Some(s) => it.score = s,
                            None => conversion_error = true,
                        }
                    }
                    continue;
                }
            };
            if o.alpha {
                it.cmp = Some(by);
            } else {
                match score(&by) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        let storing = o.store.is_some();
        let by_pattern = o.by.is_some();
        let alpha = o.alpha;
        let compare = |p: &Item, q: &Item| {
            let c = if !alpha {
                p.score
                    .partial_cmp(&q.score)
                    .filter(|c| c.is_ne())
                    .unwrap_or_else(|| p.elem.cmp(&q.elem))
            } else if by_pattern {
                match (&p.cmp, &q.cmp) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(u), Some(v)) if storing => u.cmp(v),
                    (Some(u), Some(v)) => coll(u, v),
                }
            } else if storing {
                p.elem.cmp(&q.elem)
            } else {
                coll(&p.elem, &q.elem)
            };
            if o.desc {
                c.reverse()
            } else {
                c
            }
        };
        let full = start == 0 && end == i64::try_from(items.len()).unwrap_or(i64::MAX) - 1;
        if by_pattern && !full {
            // Redis sorts only what the LIMIT range needs with its own quicksort; ties
            // (ALPHA BY) come out in that algorithm's order.
            crate::db::pqsort::pqsort(&mut items, start, end, &compare);
        } else {
            // glibc's qsort: a stable merge sort.
            items.sort_by(compare);
        }
    }
    if conversion_error {
        return Err(CmdError::Raw(SCORE_ERR.into()));
    }
    let range: &[Item] = if end >= start && start >= 0 {
        let s = usize::try_from(start).unwrap_or(0);
        let e = usize::try_from(end).unwrap_or(0);
        items.get(s..=e).unwrap_or(&[])
    } else {
        &[]
    };
    let Some(dst) = o.store.clone() else {
        let mut out = Vec::with_capacity(range.len() * o.gets.len().max(1));
        for it in range {
            if o.gets.is_empty() {
                out.push(Reply::bulk(&it.elem));
            }
            for g in &o.gets {
                out.push(match lookup_pattern(x, g, &it.elem) {
                    Some(v) => Reply::Bulk(Bytes::from(v)),
                    None => Reply::Null,
                });
            }
        }
        return Ok(Reply::Array(out));
    };
    let mut values: Vec<Vec<u8>> = Vec::with_capacity(range.len() * o.gets.len().max(1));
    for it in range {
        if o.gets.is_empty() {
            values.push(it.elem.clone());
        }
        for g in &o.gets {
            values.push(lookup_pattern(x, g, &it.elem).unwrap_or_default());
        }
    }
    let n = values.len();
    let db = x.db;
    x.expire_if_needed_in(db, &dst);
    let existed = x.db().remove(&dst).is_some();
    if existed {
        x.journal(vec![Bytes::from_static(b"DEL"), dst.clone()]);
    }
    if n > 0 {
        let fill = x.st.config.list_max_listpack_size;
        let mut l = List::new();
        for v in &values {
            l.push(End::Right, v, fill);
        }
        for chunk in values.chunks(STORE_CHUNK) {
            let mut j = Vec::with_capacity(chunk.len() + 2);
            j.push(Bytes::from_static(b"RPUSH"));
            j.push(dst.clone());
            j.extend(chunk.iter().map(|v| Bytes::copy_from_slice(v)));
            x.journal(j);
        }
        let e = Entry::new(Value::List(Box::new(l)), x.now_ms);
        x.insert_key(&dst, e);
        x.notify('l', "sortstore", &dst);
        x.touch_dirty(n as u64);
    } else if existed {
        x.notify('g', "del", &dst);
        x.touch_dirty(1);
    }
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::score;
    use crate::cmd::string::testkit::*;
    use crate::resp::Reply;

    fn bulks(items: &[&str]) -> Reply {
        arr(items.iter().map(|s| bulk(s)).collect())
    }

    // Every expected reply below was checked against redis-server 7.0.15.

    #[test]
    fn numeric_alpha_desc_limit() {
        let mut t = Kit::new();
        t.is("rpush l 3 1 2 10 -5 2.5", int(6));
        t.is("sort l", bulks(&["-5", "1", "2", "2.5", "3", "10"]));
        t.is("sort l desc", bulks(&["10", "3", "2.5", "2", "1", "-5"]));
        t.is("sort l alpha", bulks(&["-5", "1", "10", "2", "2.5", "3"]));
        t.is("sort l limit 1 2", bulks(&["1", "2"]));
        t.is("sort l limit 5 10", bulks(&["10"]));
        t.is("sort l limit 6 1", bulks(&[]));
        t.is("sort l limit -3 1", bulks(&["-5"]));
        t.is(
            "sort l limit 1 -1 desc",
            bulks(&["3", "2.5", "2", "1", "-5"]),
        );
        t.is("sort_ro l limit 0 0", bulks(&[]));
        t.is(
            "sort l by nosort",
            bulks(&["3", "1", "2", "10", "-5", "2.5"]),
        );
        t.is("sort l by nosort desc limit 1 2", bulks(&["-5", "10"]));
        t.is("rpush t 1.0 1 01", int(3));
        t.is("sort t", bulks(&["01", "1", "1.0"]));
        t.is("sort t desc", bulks(&["1.0", "1", "01"]));
        assert!(t
            .log
            .iter()
            .all(|(_, u)| u.iter().all(|(_, a)| a[0] != "SORT")));
        assert_eq!(t.log.len(), 2, "SORT without STORE is never logged");
    }

    #[test]
    fn errors() {
        let mut t = Kit::new();
        t.q("rpush bad 1 x");
        let conv = "ERR One or more scores can't be converted into double";
        t.is("sort bad", err(conv));
        t.is("sort bad store d", err(conv));
        t.is("sort bad alpha", bulks(&["1", "x"]));
        t.is("sort bad by nosort", bulks(&["1", "x"]));
        t.is("sort bad foo", err("ERR syntax error"));
        t.is("sort bad limit 1", err("ERR syntax error"));
        t.is(
            "sort bad limit x 1",
            err("ERR value is not an integer or out of range"),
        );
        t.is("sort_ro bad store d", err("ERR syntax error"));
        t.is("sort bad store", err("ERR syntax error"));
        t.q("set s v");
        t.is(
            "sort s",
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        );
        t.is("sort s foo", err("ERR syntax error"));
        t.is(
            "sort",
            err("ERR wrong number of arguments for 'sort' command"),
        );
        assert!(t.st.ks.dbs[0].get(b"d").is_none());
    }

    #[test]
    fn by_and_get_patterns() {
        let mut t = Kit::new();
        t.q("rpush ids 1 2 3");
        t.q("mset w_1 30 w_2 10 w_3 20");
        t.q("hset u_1 name ann age 3");
        t.q("hset u_2 name bob age 1");
        t.q("hset u_3 name cat age 2");
        t.is("sort ids by w_*", bulks(&["2", "3", "1"]));
        t.is("sort ids by u_*->age desc", bulks(&["1", "3", "2"]));
        t.is(
            "sort ids by w_* get # get u_*->name get nokey_* get nostar",
            arr(vec![
                bulk("2"),
                bulk("bob"),
                nil(),
                nil(),
                bulk("3"),
                bulk("cat"),
                nil(),
                nil(),
                bulk("1"),
                bulk("ann"),
                nil(),
                nil(),
            ]),
        );
        t.is("sort ids by u_*->name alpha desc", bulks(&["3", "2", "1"]));
        // BY values of the wrong type are missing: score 0, ties by element.
        t.is("sort ids by u_*", bulks(&["1", "2", "3"]));
        // A later BY with `*` keeps the nosort of an earlier one.
        t.is("sort ids by nosort by w_* desc", bulks(&["3", "2", "1"]));
    }

    #[test]
    fn expired_pattern_keys_are_missing() {
        let mut t = Kit::new();
        t.q("rpush ids 1 2");
        t.q("set w_1 5");
        t.q("set w_2 1 px 10");
        t.is("sort ids by w_*", bulks(&["2", "1"]));
        t.now += 20;
        t.logs("sort_ro ids by w_*", bulks(&["2", "1"]), &["DEL w_2"]);
        t.is("sort ids get w_*", arr(vec![bulk("5"), nil()]));
        t.check_replay();
    }

    #[test]
    fn store_journals_effects_and_replays() {
        let mut t = Kit::new();
        t.q("rpush l 3 1 2");
        t.q("set dst x ex 100");
        t.logs("sort l store dst", int(3), &["DEL dst", "RPUSH dst 1 2 3"]);
        assert_eq!(t.expire_at(b"dst"), -1);
        t.logs(
            "sort l desc store dst",
            int(3),
            &["DEL dst", "RPUSH dst 3 2 1"],
        );
        t.is("lrange dst 0 -1", bulks(&["3", "2", "1"]));
        t.q("mset w_1 a w_2 b");
        t.logs(
            "sort l get w_* get # store dst",
            int(6),
            &["DEL dst", "RPUSH dst a 1 b 2  3"],
        );
        t.is("lrange dst 0 -1", bulks(&["a", "1", "b", "2", "", "3"]));
        t.logs("sort nokey store dst", int(0), &["DEL dst"]);
        t.logs("sort nokey store dst", int(0), &[]);
        // A set sorted BY nosort is sorted when stored.
        t.q("sadd s c a b");
        t.logs(
            "sort s by nosort desc store sd",
            int(3),
            &["RPUSH sd c b a"],
        );
        t.q("sadd si 3 1 2");
        t.logs(
            "sort si by nosort store sd",
            int(3),
            &["DEL sd", "RPUSH sd 1 2 3"],
        );
        // Big results are logged in chunks.
        let many: Vec<String> = (0..2500).map(|i| i.to_string()).collect();
        t.q(&format!("rpush big {}", many.join(" ")));
        t.is("sort big desc store bd", int(2500));
        assert_eq!(t.last.len(), 3);
        t.is("sort l store l", int(3));
        t.check_replay();
    }

    #[test]
    fn alpha_by_ties_follow_redis_algorithms() {
        let mut t = Kit::new();
        t.q("rpush t 1 2 3 4 5 6 7 8 9 10 11 12");
        t.q("mset k_1 b k_2 a k_3 b k_4 a k_5 b k_6 a k_7 b k_8 a k_9 b k_10 a k_11 b k_12 a");
        // Without LIMIT: a stable sort.
        t.is(
            "sort t by k_* alpha",
            bulks(&[
                "2", "4", "6", "8", "10", "12", "1", "3", "5", "7", "9", "11",
            ]),
        );
        // With LIMIT: Redis's partial quicksort.
        t.is(
            "sort t by k_* alpha limit 2 5",
            bulks(&["2", "10", "6", "12", "7"]),
        );
        t.is(
            "sort t by nokey_* alpha limit 0 11",
            bulks(&["12", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]),
        );
    }

    #[test]
    fn zsets() {
        let mut t = Kit::new();
        t.q("zadd z 1 c 2 a 3 b");
        assert_eq!(t.encoding(b"z"), "listpack");
        t.is("sort z by nosort", bulks(&["c", "a", "b"]));
        assert_eq!(t.encoding(b"z"), "skiplist");
        t.is("sort z alpha", bulks(&["a", "b", "c"]));
        t.is("sort z by nosort desc", bulks(&["b", "a", "c"]));
        t.is("sort z by nosort limit 1 5", bulks(&["a", "b"]));
        t.is("sort z by nosort limit 1 1 desc", bulks(&["a"]));
        t.is("sort z by nosort limit 3 1", bulks(&[]));
        t.is("sort z by nosort limit 2 5 desc", bulks(&["c"]));
    }

    #[test]
    fn scores_as_strtod() {
        for (s, want) in [
            ("", Some(0.0)),
            (" 12", Some(12.0)),
            ("+5", Some(5.0)),
            ("0x10", Some(16.0)),
            ("0X1P2", Some(4.0)),
            ("inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1\0junk", Some(1.0)),
            ("0e-999", Some(0.0)),
            ("0x1p-1074", Some(f64::from_bits(1))),
            ("0x.8p-1021", Some(f64::MIN_POSITIVE)),
            ("12 ", None),
            ("   ", None),
            ("nan", None),
            ("0x", None),
            ("1e", None),
            ("1e400", None),
            ("1e-400", None),
            ("1e-310", None),
            ("0x1.8p-1074", None),
            ("x", None),
        ] {
            assert_eq!(score(s.as_bytes()), want, "{s:?}");
        }
    }
}
