//! Blocking list and sorted-set commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
//! BZPOPMIN, BZPOPMAX, BZMPOP. Each first tries its non-blocking form through the one
//! dispatch path (so the effect is journaled exactly as LPOP/LMOVE/ZPOPMIN would be);
//! when nothing can be served and the caller may block, it sets `Exec::block` and the
//! engine parks the client. A parked client is served by the execution unit that makes
//! one of its keys ready, inside that unit and its log record (server/engine.rs).

use bytes::Bytes;

use super::exec::{is, BlockRequest, Exec};
use super::{cmd, dispatch, CmdError, CommandSpec, Flags, Group, Journal};
use crate::argv;
use crate::db::Value;
use crate::resp::Reply;

/// Register the blocking commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let b = F::WRITE | F::NOSCRIPT | F::BLOCKING;
    let l = Group::List;
    let z = Group::SortedSet;
    let c = |name, arity, flags, h, g, summary, since| {
        cmd(name, arity, flags, h)
            .group(g)
            .journal(Journal::Custom)
            .doc(summary, since)
    };
    t.push(c("blpop", -3, b, blpop, l, "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.0.0").keys(1, -2, 1));
    t.push(c("brpop", -3, b, brpop, l, "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.0.0").keys(1, -2, 1));
    t.push(c("blmove", 6, b | F::DENYOOM, blmove, l, "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "6.2.0").keys(1, 2, 1));
    t.push(c("brpoplpush", 4, b | F::DENYOOM, brpoplpush, l, "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "2.2.0").keys(1, 2, 1));
    t.push(c("blmpop", -5, F::WRITE | F::BLOCKING | F::MOVABLE_KEYS, blmpop, l, "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "7.0.0"));
    t.push(c("bzpopmin", -3, b | F::FAST, bzpopmin, z, "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "5.0.0").keys(1, -2, 1));
    t.push(c("bzpopmax", -3, b | F::FAST, bzpopmax, z, "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "5.0.0").keys(1, -2, 1));
    t.push(c("bzmpop", -5, F::WRITE | F::BLOCKING | F::MOVABLE_KEYS, bzmpop, z, "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "7.0.0"));
}

/// Parse a blocking timeout (seconds, fractional allowed) into an absolute deadline in
/// Unix ms (0 = forever), with Redis's errors.
fn deadline(x: &Exec<'_>, arg: &[u8]) -> Result<i64, CmdError> {
    let s = std::str::from_utf8(arg)
        .map_err(|_| CmdError::err("timeout is not a float or out of range"))?;
    let secs: f64 = crate::db::strnum::parse_double(arg)
        .or_else(|| s.parse().ok())
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    if secs.is_nan() {
        return Err(CmdError::err("timeout is not a float or out of range"));
    }
    let ms = secs * 1000.0;
    if secs < 0.0 || !ms.is_finite() || ms > 9.0e15 {
        return Err(CmdError::err("timeout is negative"));
    }
    #[expect(clippy::cast_possible_truncation, reason = "range checked above")]
    let ms = ms.ceil() as i64;
    Ok(if ms == 0 { 0 } else { x.now_ms + ms })
}

/// What a key holds for a blocking pop: nothing, a collection of the wanted type, or
/// another type (WRONGTYPE). A parked client being served again is not woken by a key
/// of another type (LPUSH + DEL + SET in one transaction): it stays parked, as in Redis.
fn ready(x: &mut Exec<'_>, key: &[u8], want_list: bool) -> Result<bool, CmdError> {
    let parked = x.st.blocked.clients.contains_key(&x.client_id);
    match x.lookup_write(key).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::List(_)) if want_list => Ok(true),
        Some(Value::ZSet(_)) if !want_list => Ok(true),
        Some(_) if parked => Ok(false),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Run the non-blocking form through dispatch (journaling it as itself).
fn run(x: &mut Exec<'_>, argv: Vec<Bytes>) -> Result<Reply, CmdError> {
    // (The blocking command counts in the statistics, not its non-blocking form.)
    let was = std::mem::replace(&mut x.uncounted, true);
    let reply = dispatch::call(x, &argv);
    x.uncounted = was;
    match reply {
        Reply::Error(e) => Err(CmdError::Raw(e)),
        r => Ok(r),
    }
}

fn park(
    x: &mut Exec<'_>,
    keys: Vec<Bytes>,
    deadline_ms: i64,
    timeout_reply: Reply,
) -> Result<Reply, CmdError> {
    park_or(x, keys, deadline_ms, timeout_reply.clone(), timeout_reply)
}

/// [`park`] for the commands whose reply when they may not block (MULTI, scripts)
/// differs from their timeout reply: Redis answers BLMOVE and BRPOPLPUSH with a null
/// bulk string there, but with a null array when the wait times out.
fn park_or(
    x: &mut Exec<'_>,
    keys: Vec<Bytes>,
    deadline_ms: i64,
    timeout_reply: Reply,
    no_block_reply: Reply,
) -> Result<Reply, CmdError> {
    if !x.may_block() {
        return Ok(no_block_reply);
    }
    x.block = Some(BlockRequest {
        keys,
        deadline_ms,
        timeout_reply: timeout_reply.clone(),
        argv: None,
    });
    Ok(timeout_reply)
}

fn bpop(x: &mut Exec<'_>, a: &[Bytes], pop: &str) -> Result<Reply, CmdError> {
    let keys = &a[1..a.len() - 1];
    let dl = deadline(x, &a[a.len() - 1])?;
    for k in keys {
        if ready(x, k, true)? {
            let r = run(x, argv![pop, k])?;
            return Ok(Reply::Array(vec![Reply::bulk(k), r]));
        }
    }
    park(x, keys.to_vec(), dl, Reply::NullArray)
}

fn blpop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    bpop(x, a, "LPOP")
}

fn brpop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    bpop(x, a, "RPOP")
}

fn side(arg: &[u8]) -> Result<&'static str, CmdError> {
    if is(arg, "left") {
        Ok("LEFT")
    } else if is(arg, "right") {
        Ok("RIGHT")
    } else {
        Err(CmdError::Syntax)
    }
}

fn blmove(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let from = side(&a[3])?;
    let to = side(&a[4])?;
    let dl = deadline(x, &a[5])?;
    if ready(x, &a[1], true)? {
        return run(x, argv!["LMOVE", a[1], a[2], from, to]);
    }
    park_or(x, vec![a[1].clone()], dl, Reply::NullArray, Reply::Null)
}

fn brpoplpush(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let dl = deadline(x, &a[3])?;
    if ready(x, &a[1], true)? {
        return run(x, argv!["RPOPLPUSH", a[1], a[2]]);
    }
    park_or(x, vec![a[1].clone()], dl, Reply::NullArray, Reply::Null)
}

/// Shared by BLMPOP/BZMPOP: `timeout numkeys key… WHERE [COUNT n]` (the timeout is read
/// last, as Redis does).
fn bmpop(x: &mut Exec<'_>, a: &[Bytes], list: bool) -> Result<Reply, CmdError> {
    let numkeys = super::exec::arg_i64(&a[2])
        .map_err(|_| CmdError::err("numkeys should be greater than 0"))?;
    if numkeys <= 0 {
        return Err(CmdError::err("numkeys should be greater than 0"));
    }
    let n = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if a.len() < 3 + n + 1 {
        return Err(CmdError::Syntax);
    }
    let keys = &a[3..3 + n];
    let rest = &a[3 + n..];
    let wh = &rest[0];
    let ok_where = if list {
        is(wh, "left") || is(wh, "right")
    } else {
        is(wh, "min") || is(wh, "max")
    };
    if !ok_where {
        return Err(CmdError::Syntax);
    }
    let mut count: Option<Bytes> = None;
    let mut i = 1;
    while i < rest.len() {
        if is(&rest[i], "count") && i + 1 < rest.len() && count.is_none() {
            let c = super::exec::arg_i64(&rest[i + 1])
                .map_err(|_| CmdError::err("count should be greater than 0"))?;
            if c <= 0 {
                return Err(CmdError::err("count should be greater than 0"));
            }
            count = Some(rest[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let dl = deadline(x, &a[1])?;
    for k in keys {
        if ready(x, k, list)? {
            let mut argv = argv![if list { "LMPOP" } else { "ZMPOP" }, "1", k, wh];
            if let Some(c) = &count {
                argv.extend(argv!["COUNT", c]);
            }
            return run(x, argv);
        }
    }
    park(x, keys.to_vec(), dl, Reply::NullArray)
}

fn blmpop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    bmpop(x, a, true)
}

fn bzmpop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    bmpop(x, a, false)
}

fn bzpop(x: &mut Exec<'_>, a: &[Bytes], pop: &str) -> Result<Reply, CmdError> {
    let keys = &a[1..a.len() - 1];
    let dl = deadline(x, &a[a.len() - 1])?;
    for k in keys {
        if ready(x, k, false)? {
            let r = run(x, argv![pop, k])?;
            let mut out = vec![Reply::bulk(k)];
            match r {
                Reply::Array(items) => {
                    // ZPOPMIN k → [member, score] (RESP2) or [[member, score]] (RESP3 shape).
                    for it in items {
                        match it {
                            Reply::Array(pair) => out.extend(pair),
                            other => out.push(other),
                        }
                    }
                }
                other => out.push(other),
            }
            return Ok(Reply::Array(out));
        }
    }
    park(x, keys.to_vec(), dl, Reply::NullArray)
}

fn bzpopmin(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    bzpop(x, a, "ZPOPMIN")
}

fn bzpopmax(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    bzpop(x, a, "ZPOPMAX")
}
