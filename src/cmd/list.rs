//! List commands, the non-blocking ones (LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LRANGE
//! LINDEX LSET LINSERT LLEN LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP): argument parsing in
//! Redis 7.0's order (which decides which error wins), reply shapes (RESP2/RESP3 nulls),
//! and keyspace effects (a list that becomes empty deletes its key). Every command here is
//! deterministic given the keyspace, so all are journaled verbatim (`touch_dirty` when
//! something changed). The blocking forms live in `cmd/blocking.rs` and call these
//! through dispatch. Element semantics live in `db/list.rs`.

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::db::list::{self, End, List};
use crate::db::{Entry, Value};
use crate::resp::reply::Bulks;
use crate::resp::Reply;

/// Register the list commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::List;
    let ro = F::READONLY;
    let w = F::WRITE;
    let wd = F::WRITE | F::DENYOOM;
    let one = |s: CommandSpec| s.keys(1, 1, 1).group(g);
    t.push(
        one(cmd("lpush", -3, wd | F::FAST, lpush))
            .doc("Prepend one or multiple elements to a list", "1.0.0"),
    );
    t.push(
        one(cmd("rpush", -3, wd | F::FAST, rpush))
            .doc("Append one or multiple elements to a list", "1.0.0"),
    );
    t.push(one(cmd("lpushx", -3, wd | F::FAST, lpushx)).doc(
        "Prepend an element to a list, only if the list exists",
        "2.2.0",
    ));
    t.push(one(cmd("rpushx", -3, wd | F::FAST, rpushx)).doc(
        "Append an element to a list, only if the list exists",
        "2.2.0",
    ));
    t.push(
        one(cmd("lpop", -2, w | F::FAST, lpop))
            .doc("Remove and get the first elements in a list", "1.0.0"),
    );
    t.push(
        one(cmd("rpop", -2, w | F::FAST, rpop))
            .doc("Remove and get the last elements in a list", "1.0.0"),
    );
    t.push(one(cmd("lrange", 4, ro, lrange)).doc("Get a range of elements from a list", "1.0.0"));
    t.push(
        one(cmd("lindex", 3, ro, lindex)).doc("Get an element from a list by its index", "1.0.0"),
    );
    t.push(one(cmd("lset", 4, wd, lset)).doc(
        "Set the value of an element in a list by its index",
        "1.0.0",
    ));
    t.push(one(cmd("linsert", 5, wd, linsert)).doc(
        "Insert an element before or after another element in a list",
        "2.2.0",
    ));
    t.push(one(cmd("llen", 2, ro | F::FAST, llen)).doc("Get the length of a list", "1.0.0"));
    t.push(one(cmd("lrem", 4, w, lrem)).doc("Remove elements from a list", "1.0.0"));
    t.push(one(cmd("ltrim", 4, w, ltrim)).doc("Trim a list to the specified range", "1.0.0"));
    t.push(
        one(cmd("lpos", -3, ro, lpos))
            .doc("Return the index of matching elements on a list", "6.0.6"),
    );
    t.push(cmd("lmove", 5, wd, lmove).keys(1, 2, 1).group(g).doc(
        "Pop an element from a list, push it to another list and return it",
        "6.2.0",
    ));
    t.push(
        cmd("rpoplpush", 3, wd, rpoplpush)
            .keys(1, 2, 1)
            .group(g)
            .doc(
                "Remove the last element in a list, prepend it to another list and return it",
                "1.2.0",
            ),
    );
    // Movable keys (numkeys): Redis reports first/last/step 0 0 0.
    t.push(
        cmd("lmpop", -4, w | Flags::MOVABLE_KEYS, lmpop)
            .journal(Journal::Custom)
            .group(g)
            .doc("Pop elements from a list", "7.0.0"),
    );
}

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// The list an entry holds, or WRONGTYPE.
pub fn as_list(e: &Entry) -> Result<&List, CmdError> {
    match &e.value {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// The list an entry holds, for modification, or WRONGTYPE.
pub fn as_list_mut(e: &mut Entry) -> Result<&mut List, CmdError> {
    match &mut e.value {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

fn int(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn bulks<'a>(it: impl Iterator<Item = &'a [u8]>) -> Reply {
    Reply::Array(it.map(Reply::bulk).collect())
}

/// Redis `getListPositionFromObjectOrReply`: LEFT or RIGHT, else a syntax error.
fn side(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Left)
    } else if is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Redis `getPositiveLongFromObjectOrReply` with its default message.
fn positive(arg: &[u8]) -> Result<usize, CmdError> {
    const MSG: &str = "value is out of range, must be positive";
    match arg_i64(arg) {
        Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(CmdError::err(MSG)),
    }
}

/// Remove `key` if the list it holds became empty (firing `del`).
fn drop_if_empty(x: &mut Exec<'_>, key: &[u8]) {
    let empty = matches!(x.db().get(key).map(|e| &e.value), Some(Value::List(l)) if l.is_empty());
    if empty {
        x.db().remove(key);
        x.notify('g', "del", key);
    }
}

/// The keyspace event of a pop from `end`.
fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

/// The keyspace event of a push onto `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// Pop up to `n` elements from `end` of the list at `key` (already known to exist and be
/// a list), deleting the key when it empties.
fn pop_n(x: &mut Exec<'_>, key: &[u8], end: End, n: usize) -> Result<Vec<Box<[u8]>>, CmdError> {
    let mut out = Vec::new();
    if let Some(e) = x.lookup_write(key) {
        let l = as_list_mut(e)?;
        while out.len() < n {
            match l.pop(end) {
                Some(v) => out.push(v),
                None => break,
            }
        }
    }
    if !out.is_empty() {
        x.reply_before_events();
        x.notify('l', pop_event(end), key);
        drop_if_empty(x, key);
        x.touch_dirty(out.len() as u64);
    }
    Ok(out)
}

/// LPOP/RPOP without a count: one element from `end` of the list at `key` as a bulk
/// reply (null if the key is missing): one keyspace lookup, the element copied once,
/// straight into the reply.
fn pop_one(x: &mut Exec<'_>, key: &[u8], end: End) -> Result<Reply, CmdError> {
    let (v, emptied) = match x.lookup_write(key) {
        Some(e) => {
            let l = as_list_mut(e)?;
            (l.pop_with(end, Reply::bulk), l.is_empty())
        }
        None => (None, false),
    };
    let Some(v) = v else {
        return Ok(Reply::Null);
    };
    x.reply_before_events();
    x.notify('l', pop_event(end), key);
    if emptied {
        x.db().remove(key);
        x.notify('g', "del", key);
    }
    x.touch_dirty(1);
    Ok(v)
}

// ---------------------------------------------------------------------------------------
// Push
// ---------------------------------------------------------------------------------------

fn push(x: &mut Exec<'_>, a: &[Bytes], end: End, only_existing: bool) -> Result<Reply, CmdError> {
    let key = &a[1];
    let vals = &a[2..];
    let fill = x.st.config.list_max_listpack_size;
    let len = match x.lookup_write(key) {
        Some(e) => {
            let l = as_list_mut(e)?;
            for v in vals {
                l.push(end, v, fill);
            }
            l.len()
        }
        None if only_existing => return Ok(Reply::Int(0)),
        None => {
            let mut l = List::new();
            for v in vals {
                l.push(end, v, fill);
            }
            let n = l.len();
            let e = Entry::new(Value::List(Box::new(l)), x.now_ms);
            x.insert_key(key, e);
            n
        }
    };
    x.touch_dirty(vals.len() as u64);
    x.reply_before_events();
    x.notify('l', push_event(end), key);
    Ok(int(len))
}

fn lpush(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    push(x, a, End::Left, false)
}

fn rpush(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    push(x, a, End::Right, false)
}

fn lpushx(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    push(x, a, End::Left, true)
}

fn rpushx(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    push(x, a, End::Right, true)
}

// ---------------------------------------------------------------------------------------
// Pop
// ---------------------------------------------------------------------------------------

/// LPOP/RPOP key [count]: a bulk without count, an array with it; a missing key is a
/// null bulk / null array; `count 0` on an existing list is an empty array.
fn pop(x: &mut Exec<'_>, a: &[Bytes], end: End) -> Result<Reply, CmdError> {
    if a.len() > 3 {
        return Err(CmdError::Arity(
            if end == End::Left { "lpop" } else { "rpop" }.into(),
        ));
    }
    let Some(n) = a.get(2).map(|c| positive(c)).transpose()? else {
        return pop_one(x, &a[1], end);
    };
    match x.lookup_write(&a[1]) {
        None => return Ok(Reply::NullArray),
        Some(e) => {
            as_list(e)?;
        }
    }
    let v = pop_n(x, &a[1], end, n)?;
    Ok(bulks(v.iter().map(|b| &b[..])))
}

fn lpop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    pop(x, a, End::Left)
}

fn rpop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    pop(x, a, End::Right)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops from the first non-empty
/// list; replies `[key, [elements]]`, or a null array when every list is missing.
fn lmpop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let numkeys = match arg_i64(&a[1]) {
        Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let where_idx = match numkeys.checked_add(2) {
        Some(i) if i < a.len() => i,
        _ => return Err(CmdError::Syntax),
    };
    let end = side(&a[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && is(&a[j], "count") && j + 1 < a.len() {
            j += 1;
            match arg_i64(&a[j]) {
                Ok(n) if n >= 1 => count = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(CmdError::err("count should be greater than 0")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let count = count.unwrap_or(1);
    for key in &a[2..where_idx] {
        match x.lookup_write(key) {
            None => continue,
            Some(e) => {
                as_list(e)?;
            }
        }
        let v = pop_n(x, key, end, count)?;
        if !v.is_empty() {
            // Journaled (and replicated) as Redis propagates it: [LR]POP key <popped>.
            let name: &'static [u8] = if end == End::Left { b"LPOP" } else { b"RPOP" };
            x.journal(vec![
                Bytes::from_static(name),
                key.clone(),
                Bytes::from(v.len().to_string()),
            ]);
        }
        return Ok(Reply::Array(vec![
            Reply::bulk(key),
            bulks(v.iter().map(|b| &b[..])),
        ]));
    }
    Ok(Reply::NullArray)
}

// ---------------------------------------------------------------------------------------
// Move
// ---------------------------------------------------------------------------------------

/// LMOVE/RPOPLPUSH: pop from `src`'s `from` end, push onto `dst`'s `to` end. `dst` is
/// type-checked before anything moves; `src == dst` rotates in place (the key keeps its
/// TTL even with one element, as in Redis).
fn move_one(
    x: &mut Exec<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Reply, CmdError> {
    match x.lookup_write(src) {
        None => return Ok(Reply::Null),
        Some(e) => {
            as_list(e)?;
        }
    }
    if let Some(e) = x.lookup_write(dst) {
        as_list(e)?;
    }
    let fill = x.st.config.list_max_listpack_size;
    let v = if src == dst {
        let Some(e) = x.lookup_write(src) else {
            return Ok(Reply::Null);
        };
        let l = as_list_mut(e)?;
        let Some(v) = l.pop(from) else {
            return Ok(Reply::Null);
        };
        l.push(to, &v, fill);
        v
    } else {
        // Redis's order: push onto `dst` (created if needed), then the pop event, then
        // `src` is deleted if it emptied.
        let Some(e) = x.lookup_write(src) else {
            return Ok(Reply::Null);
        };
        let Some(v) = as_list_mut(e)?.pop(from) else {
            return Ok(Reply::Null);
        };
        match x.lookup_write(dst) {
            Some(e) => as_list_mut(e)?.push(to, &v, fill),
            None => {
                let mut l = List::new();
                l.push(to, &v, fill);
                let e = Entry::new(Value::List(Box::new(l)), x.now_ms);
                x.insert_key(dst, e);
            }
        }
        v
    };
    x.notify('l', push_event(to), dst);
    x.reply_before_events();
    x.notify('l', pop_event(from), src);
    drop_if_empty(x, src);
    x.touch_dirty(1);
    Ok(Reply::bulk(&v))
}

fn lmove(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let from = side(&a[3])?;
    let to = side(&a[4])?;
    move_one(x, &a[1], &a[2], from, to)
}

fn rpoplpush(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    move_one(x, &a[1], &a[2], End::Right, End::Left)
}

// ---------------------------------------------------------------------------------------
// Read
// ---------------------------------------------------------------------------------------

fn llen(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    match x.lookup_read(&a[1]) {
        None => Ok(Reply::Int(0)),
        Some(e) => Ok(int(as_list(e)?.len())),
    }
}

fn lrange(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let start = arg_i64(&a[2])?;
    let stop = arg_i64(&a[3])?;
    let Some(e) = x.lookup_read(&a[1]) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let l = as_list(e)?;
    Ok(match list::range(start, stop, l.len()) {
        None => Reply::Array(Vec::new()),
        Some((s, t)) => {
            let mut b = Bulks::with_capacity(t.saturating_sub(s) + 1, 16);
            for e in l.range(s, t) {
                b.push(e);
            }
            Reply::Bulks(b)
        }
    })
}

/// LINDEX: the key is looked up before the index is parsed (a missing key is nil even
/// for a malformed index).
fn lindex(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(e) = x.lookup_read(&a[1]) else {
        return Ok(Reply::Null);
    };
    let l = as_list(e)?;
    let i = arg_i64(&a[2])?;
    Ok(list::index(i, l.len())
        .and_then(|i| l.get(i))
        .map_or(Reply::Null, Reply::bulk))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
fn lpos(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut rank = 1i64;
    let mut count: Option<usize> = None;
    let mut maxlen = 0usize;
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if is(&a[j], "rank") && more {
            j += 1;
            rank = arg_i64(&a[j])?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(&a[j], "count") && more {
            j += 1;
            count = Some(non_negative(&a[j], "COUNT can't be negative")?);
        } else if is(&a[j], "maxlen") && more {
            j += 1;
            maxlen = non_negative(&a[j], "MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let Some(e) = x.lookup_read(&a[1]) else {
        return Ok(if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Null
        });
    };
    let l = as_list(e)?;
    let found = l.positions(&a[2], rank, count.unwrap_or(1), maxlen);
    Ok(match count {
        Some(_) => Reply::Array(found.into_iter().map(int).collect()),
        None => found.first().map_or(Reply::Null, |&i| int(i)),
    })
}

/// Redis `getPositiveLongFromObjectOrReply` with a custom message (used for both a
/// malformed and a negative value).
fn non_negative(arg: &[u8], msg: &str) -> Result<usize, CmdError> {
    match arg_i64(arg) {
        Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(CmdError::err(msg)),
    }
}

// ---------------------------------------------------------------------------------------
// Modify in place
// ---------------------------------------------------------------------------------------

fn lset(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let fill = x.st.config.list_max_listpack_size;
    let Some(e) = x.lookup_write(&a[1]) else {
        return Err(CmdError::err("no such key"));
    };
    let l = as_list_mut(e)?;
    let i = arg_i64(&a[2])?;
    let ok = list::index(i, l.len()).is_some_and(|i| l.set(i, &a[3], fill));
    if !ok {
        return Err(CmdError::err("index out of range"));
    }
    x.touch_dirty(1);
    x.reply_before_events();
    x.notify('l', "lset", &a[1]);
    Ok(Reply::ok())
}

fn linsert(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let after = if is(&a[2], "after") {
        true
    } else if is(&a[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let fill = x.st.config.list_max_listpack_size;
    let Some(e) = x.lookup_write(&a[1]) else {
        return Ok(Reply::Int(0));
    };
    let l = as_list_mut(e)?;
    let Some(pos) = l.position(&a[3]) else {
        return Ok(Reply::Int(-1));
    };
    l.insert(if after { pos + 1 } else { pos }, &a[4], fill);
    let n = l.len();
    x.touch_dirty(1);
    x.notify('l', "linsert", &a[1]);
    Ok(int(n))
}

fn lrem(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let count = arg_i64(&a[2])?;
    let Some(e) = x.lookup_write(&a[1]) else {
        return Ok(Reply::Int(0));
    };
    let removed = as_list_mut(e)?.remove(count, &a[3]);
    if removed > 0 {
        x.notify('l', "lrem", &a[1]);
        drop_if_empty(x, &a[1]);
        x.touch_dirty(removed as u64);
    }
    Ok(int(removed))
}

fn ltrim(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let start = arg_i64(&a[2])?;
    let stop = arg_i64(&a[3])?;
    let Some(e) = x.lookup_write(&a[1]) else {
        return Ok(Reply::ok());
    };
    let removed = as_list_mut(e)?.trim(start, stop);
    // Redis notifies `ltrim` even when nothing was trimmed.
    x.notify('l', "ltrim", &a[1]);
    if removed > 0 {
        drop_if_empty(x, &a[1]);
        x.touch_dirty(removed as u64);
    } else {
        // Nothing to journal, but Redis signals the key modified all the same.
        x.signal_modified(&a[1]);
    }
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use crate::cmd::string::testkit::*;
    use crate::resp::Reply;

    // Every expected reply below was checked against redis-server 7.0.15.

    fn bulks(items: &[&str]) -> Reply {
        arr(items.iter().map(|s| bulk(s)).collect())
    }

    const WRONG: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    #[test]
    fn push_pop_and_journal() {
        let mut t = Kit::new();
        t.logs("rpush l a b c", int(3), &["rpush l a b c"]);
        t.logs("lpush l z", int(4), &["lpush l z"]);
        t.logs("lpushx missing a", int(0), &[]);
        t.logs("rpushx l d", int(5), &["rpushx l d"]);
        t.is("lrange l 0 -1", bulks(&["z", "a", "b", "c", "d"]));
        t.logs("lpop l", bulk("z"), &["lpop l"]);
        t.logs("rpop l 2", bulks(&["d", "c"]), &["rpop l 2"]);
        t.logs("lpop l 0", arr(vec![]), &[]);
        t.logs("lpop missing 2", Reply::NullArray, &[]);
        t.logs("lpop missing", nil(), &[]);
        t.is(
            "lpop l -1",
            err("ERR value is out of range, must be positive"),
        );
        t.is(
            "lpop l 1 2",
            err("ERR wrong number of arguments for 'lpop' command"),
        );
        t.logs("lpop l 10", bulks(&["a", "b"]), &["lpop l 10"]);
        assert_eq!(t.encoding(b"l"), "none");
        t.is("set s x", ok());
        t.is("lpush s a", err(WRONG));
        t.is("lpop s 0", err(WRONG));
        t.is("rpush q x", int(1));
        assert_eq!(t.encoding(b"q"), "quicklist");
        t.check_replay();
    }

    #[test]
    fn index_set_insert_rem_trim() {
        let mut t = Kit::new();
        t.is("rpush l a b c a d a", int(6));
        t.is("lindex l -1", bulk("a"));
        t.is("lindex l 6", nil());
        t.is("lindex missing x", nil());
        t.is(
            "lindex l x",
            err("ERR value is not an integer or out of range"),
        );
        t.is("lset missing x a", err("ERR no such key"));
        t.is("lset l 6 a", err("ERR index out of range"));
        t.logs("lset l -2 D", ok(), &["lset l -2 D"]);
        t.is("linsert l middle a b", err("ERR syntax error"));
        t.is("linsert missing before a b", int(0));
        t.logs("linsert l before zz b", int(-1), &[]);
        t.is("linsert l after a a1", int(7));
        t.is("linsert l before a a0", int(8));
        t.is(
            "lrange l 0 -1",
            bulks(&["a0", "a", "a1", "b", "c", "a", "D", "a"]),
        );
        t.is("lrem l -1 a", int(1));
        t.is("lrem l 0 a", int(2));
        t.logs("lrem l 0 zz", int(0), &[]);
        t.is("lrange l 0 -1", bulks(&["a0", "a1", "b", "c", "D"]));
        t.logs("ltrim l 0 100", ok(), &[]);
        t.logs("ltrim l 1 -2", ok(), &["ltrim l 1 -2"]);
        t.is("lrange l 0 -1", bulks(&["a1", "b", "c"]));
        t.is(
            "ltrim missing x 1",
            err("ERR value is not an integer or out of range"),
        );
        t.is("ltrim l 5 1", ok());
        assert_eq!(t.encoding(b"l"), "none");
        t.is("llen l", int(0));
        t.check_replay();
    }

    #[test]
    fn lpos_options() {
        let mut t = Kit::new();
        t.is("rpush l a b c 1 2 3 c c", int(8));
        t.is("lpos l c", int(2));
        t.is("lpos l c rank 2", int(6));
        t.is("lpos l c rank -1", int(7));
        t.is("lpos l c count 0", arr(vec![int(2), int(6), int(7)]));
        t.is("lpos l c rank -1 count 2", arr(vec![int(7), int(6)]));
        t.is("lpos l c count 0 maxlen 3", arr(vec![int(2)]));
        t.is("lpos l z", nil());
        t.is("lpos l z count 0", arr(vec![]));
        t.is("lpos missing a", nil());
        t.is("lpos missing a count 1", arr(vec![]));
        t.is("lpos l c rank -9223372036854775808", int(7));
        t.is(
            "lpos l c rank 0",
            err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
        );
        t.is("lpos l c count abc", err("ERR COUNT can't be negative"));
        t.is("lpos l c maxlen -1", err("ERR MAXLEN can't be negative"));
        t.is("lpos l c count", err("ERR syntax error"));
    }

    #[test]
    fn lmove_rpoplpush_lmpop() {
        let mut t = Kit::new();
        t.is("rpush l a b c", int(3));
        t.is("lmove missing d middle left", err("ERR syntax error"));
        t.is("lmove missing d left left", nil());
        t.is("set s x", ok());
        t.is("lmove l s left left", err(WRONG));
        t.is("lmove l l left right", bulk("a"));
        t.is("lrange l 0 -1", bulks(&["b", "c", "a"]));
        t.is("rpoplpush l d", bulk("a"));
        t.is("lrange d 0 -1", bulks(&["a"]));
        t.is("pexpire d 100000", int(1));
        t.logs("rpoplpush d d", bulk("a"), &["rpoplpush d d"]);
        assert_eq!(t.expire_at(b"d"), T0 + 100_000);
        t.is("lmove d l right left", bulk("a"));
        assert_eq!(t.encoding(b"d"), "none");
        t.is(
            "lmpop 0 l left",
            err("ERR numkeys should be greater than 0"),
        );
        t.is("lmpop 2 l left", err("ERR syntax error"));
        t.is("lmpop 9223372036854775807 l left", err("ERR syntax error"));
        t.is(
            "lmpop 1 l left count 0",
            err("ERR count should be greater than 0"),
        );
        t.is("lmpop 1 l left count 1 count 1", err("ERR syntax error"));
        t.is("lmpop 1 missing left", Reply::NullArray);
        t.is("lmpop 2 s l left", err(WRONG));
        // Journaled as Redis propagates it: the pop with the number actually popped.
        t.logs(
            "lmpop 2 missing l right count 2",
            arr(vec![bulk("l"), bulks(&["c", "b"])]),
            &["RPOP l 2"],
        );
        t.is(
            "lmpop 2 l s left count 9",
            arr(vec![bulk("l"), bulks(&["a"])]),
        );
        assert_eq!(t.encoding(b"l"), "none");
        t.check_replay();
    }

    #[test]
    fn expired_key_is_deleted_and_journaled_before_the_push() {
        let mut t = Kit::new();
        t.is("rpush l a", int(1));
        t.is("pexpire l 10", int(1));
        t.now += 20;
        t.logs("rpush l b", int(1), &["DEL l", "rpush l b"]);
        t.check_replay();
    }

    #[test]
    fn small_nodes_replay_to_the_same_elements() {
        let mut t = Kit::new();
        t.is("config set list-max-listpack-size 1", ok());
        t.is("rpush l a b c d e f", int(6));
        t.is("linsert l before d d0", int(7));
        t.is("lset l 2 C", ok());
        t.is("lrem l 1 a", int(1));
        t.is("ltrim l 0 -2", ok());
        t.is("lrange l 0 -1", bulks(&["b", "C", "d0", "d", "e"]));
        t.is("config set list-max-listpack-size -2", ok());
        t.is("rpush l g", int(6));
        t.check_replay();
    }
}
