//! Stream commands (XADD XLEN XRANGE XREVRANGE XDEL XTRIM XREAD XREADGROUP XACK XPENDING
//! XCLAIM XAUTOCLAIM XSETID XGROUP XINFO): argument parsing in Redis 7.0's order, its
//! error texts, RESP2/RESP3 reply shapes, blocking reads, and journaling. The value
//! semantics live in `db::stream`.
//!
//! Journaling: XADD is logged with its concrete ID (`*` and `ms-*` resolved) and, when it
//! trimmed, an exact `XTRIM key MAXLEN <length after>` (approximate trimming becomes its
//! exact effect, so replay depends neither on the clock nor on node sizes); XTRIM with `~`
//! likewise. Every other write is logged verbatim: consumer-group commands (XREADGROUP,
//! XCLAIM, XAUTOCLAIM, XGROUP, XACK) read time only through `Exec::now_ms`, which replay
//! sets to the record's timestamp, so the PEL delivery times, counts and consumer
//! seen-times they produce are reproduced exactly. XREAD/XREADGROUP BLOCK park through
//! `Exec::block`; XREAD parks its argv with `$` replaced by the concrete last ID.

use bytes::Bytes;

use super::exec::{arg_i64, is, BlockRequest, Exec};
use super::{cmd, container, CmdError, CommandSpec, Flags, Group, Journal};
use crate::argv;
use crate::db::shared::Shared;
use crate::db::stream::{CGroup, Fields, Stream, StreamId, Trim};
use crate::db::{Entry, Value};
use crate::resp::Reply;

/// Register the stream commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Stream;
    let one = |s: CommandSpec| s.keys(1, 1, 1).group(g);
    t.push(
        one(cmd("xadd", -5, F::WRITE | F::DENYOOM | F::FAST, xadd))
            .journal(Journal::Custom)
            .doc("Appends a new entry to a stream", "5.0.0"),
    );
    t.push(
        one(cmd("xlen", 2, F::READONLY | F::FAST, xlen))
            .doc("Return the number of entries in a stream", "5.0.0"),
    );
    t.push(one(cmd("xrange", -4, F::READONLY, xrange)).doc(
        "Return a range of elements in a stream, with IDs matching the specified IDs interval",
        "5.0.0",
    ));
    t.push(one(cmd("xrevrange", -4, F::READONLY, xrevrange)).doc("Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "5.0.0"));
    t.push(one(cmd("xdel", -3, F::WRITE | F::FAST, xdel)).doc("Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "5.0.0"));
    t.push(
        one(cmd("xtrim", -4, F::WRITE, xtrim))
            .journal(Journal::Custom)
            .doc(
                "Trims the stream to (approximately if '~' is passed) a certain size",
                "5.0.0",
            ),
    );
    t.push(
        cmd("xread", -4, F::READONLY | F::BLOCKING | F::MOVABLE_KEYS, xread)
            .group(g)
            .doc("Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "5.0.0"),
    );
    t.push(
        cmd("xreadgroup", -7, F::WRITE | F::BLOCKING | F::MOVABLE_KEYS, xreadgroup)
            .group(g)
            .doc("Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "5.0.0"),
    );
    t.push(one(cmd("xack", -4, F::WRITE | F::FAST, xack)).doc("Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "5.0.0"));
    t.push(one(cmd("xpending", -3, F::READONLY, xpending)).doc("Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "5.0.0"));
    t.push(one(cmd("xclaim", -6, F::WRITE | F::FAST, xclaim)).doc("Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "5.0.0"));
    t.push(one(cmd("xautoclaim", -6, F::WRITE | F::FAST, xautoclaim)).doc("Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "6.2.0"));
    t.push(
        one(cmd("xsetid", -3, F::WRITE | F::DENYOOM | F::FAST, xsetid))
            .doc("An internal command for replicating stream values", "5.0.0"),
    );
    let k2 = |s: CommandSpec| s.keys(2, 2, 1).group(g);
    let xgroup_subs = vec![
        k2(cmd("create", -5, F::WRITE | F::DENYOOM, xgroup_create))
            .doc("Create a consumer group.", "5.0.0"),
        k2(cmd("setid", -5, F::WRITE, xgroup_setid)).doc(
            "Set a consumer group to an arbitrary last delivered ID value.",
            "5.0.0",
        ),
        k2(cmd("destroy", 4, F::WRITE, xgroup_destroy)).doc("Destroy a consumer group.", "5.0.0"),
        k2(cmd(
            "createconsumer",
            5,
            F::WRITE | F::DENYOOM,
            xgroup_createconsumer,
        ))
        .doc("Create a consumer in a consumer group.", "6.2.0"),
        k2(cmd("delconsumer", 5, F::WRITE, xgroup_delconsumer))
            .doc("Delete a consumer from a consumer group.", "5.0.0"),
        cmd("help", 2, F::LOADING | F::STALE, xgroup_help)
            .group(g)
            .doc("Show helpful text about the different subcommands", "5.0.0"),
    ];
    t.push(
        container("xgroup", -2, F::empty(), xgroup_subs)
            .group(g)
            .doc("A container for consumer groups commands", "5.0.0"),
    );
    let xinfo_subs = vec![
        k2(cmd("consumers", 4, F::READONLY, xinfo_consumers))
            .doc("List the consumers in a consumer group", "5.0.0"),
        k2(cmd("groups", 3, F::READONLY, xinfo_groups))
            .doc("List the consumer groups of a stream", "5.0.0"),
        k2(cmd("stream", -3, F::READONLY, xinfo_stream))
            .doc("Get information about a stream", "5.0.0"),
        cmd("help", 2, F::LOADING | F::STALE, xinfo_help)
            .group(g)
            .doc("Show helpful text about the different subcommands", "5.0.0"),
    ];
    t.push(
        container("xinfo", -2, F::empty(), xinfo_subs)
            .group(g)
            .doc("A container for stream introspection commands", "5.0.0"),
    );
}

const INVALID_ID: &str = "Invalid stream ID specified as stream command argument";

fn invalid_id() -> CmdError {
    CmdError::err(INVALID_ID)
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    let b = b.strip_prefix(b"+").unwrap_or(b);
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Redis's `streamGenericParseIDOrReply`. Returns the ID and whether the sequence was
/// given (false for `ms-*`, only accepted when `allow_star_seq`).
fn parse_id_full(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_star_seq: bool,
) -> Result<(StreamId, bool), CmdError> {
    if b.len() > 127 {
        return Err(invalid_id());
    }
    if b == b"-" || b == b"+" {
        if strict {
            return Err(invalid_id());
        }
        return Ok((
            if b == b"-" {
                StreamId::MIN
            } else {
                StreamId::MAX
            },
            true,
        ));
    }
    let (ms_part, seq_part) = match b.iter().position(|&c| c == b'-') {
        Some(p) => (&b[..p], Some(&b[p + 1..])),
        None => (b, None),
    };
    let ms = parse_u64(ms_part).ok_or_else(invalid_id)?;
    match seq_part {
        None => Ok((StreamId::new(ms, missing_seq), true)),
        Some(b"*") if allow_star_seq => Ok((StreamId::new(ms, 0), false)),
        Some(s) => Ok((
            StreamId::new(ms, parse_u64(s).ok_or_else(invalid_id)?),
            true,
        )),
    }
}

/// A strict ID (`-` and `+` refused), missing sequence = 0.
fn strict_id(b: &[u8]) -> Result<StreamId, CmdError> {
    parse_id_full(b, 0, true, false).map(|r| r.0)
}

/// A range bound: `(` = exclusive (strict ID after it), else `-`/`+`/ID.
fn interval_id(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if b.len() > 1 && b[0] == b'(' {
        Ok((parse_id_full(&b[1..], missing_seq, true, false)?.0, true))
    } else {
        Ok((parse_id_full(b, missing_seq, false, false)?.0, false))
    }
}

/// Range start (exclusive bumps up).
fn range_start(b: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = interval_id(b, 0)?;
    if ex {
        id.incr()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval"))
    } else {
        Ok(id)
    }
}

/// Range end (exclusive bumps down).
fn range_end(b: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = interval_id(b, u64::MAX)?;
    if ex {
        id.decr()
            .ok_or_else(|| CmdError::err("invalid end ID for the interval"))
    } else {
        Ok(id)
    }
}

fn id_reply(id: StreamId) -> Reply {
    Reply::bulk_string(id.to_string())
}

fn id_arg(id: StreamId) -> Bytes {
    Bytes::from(id.to_string())
}

fn entry_reply(id: StreamId, f: &Fields) -> Reply {
    Reply::Array(vec![
        id_reply(id),
        Reply::Array(f.iter().map(|b| Reply::bulk(b)).collect()),
    ])
}

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Raw(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn nogroup_for_key(group: &[u8], key: &[u8]) -> CmdError {
    CmdError::Raw(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// The stream at `key` for writing (None if absent; WRONGTYPE for other types).
fn stream_w<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Result<Option<&'x mut Stream>, CmdError> {
    match x.lookup_write(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The stream at `key` for reading.
fn stream_r<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Result<Option<&'x Stream>, CmdError> {
    match x.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The stream at `key`, looked up as a read that changes consumer-group state.
fn stream_rw<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Result<Option<&'x mut Stream>, CmdError> {
    match x.lookup_read_mut(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------- XADD / XTRIM

struct AddTrim {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomk: bool,
    /// None = `*`; Some((id, seq_given)).
    id: Option<(StreamId, bool)>,
    /// Index of the ID argument (XADD).
    next: usize,
}

/// The work an approximate trim without LIMIT may do: 100 nodes' worth of entries
/// (10000 without an entry limit), at most a million, as Redis.
fn approx_limit(x: &Exec<'_>) -> u64 {
    match x.st.stream_nodes.entries.saturating_mul(100) {
        0 => 10_000,
        n => n.min(1_000_000),
    }
}

/// Redis's `streamParseAddOrTrimArgsOrReply` (an approximate trim without LIMIT gets
/// `u64::MAX` here, for the caller to replace by [`approx_limit`]).
fn parse_add_trim(a: &[Bytes], xadd: bool) -> Result<AddTrim, CmdError> {
    let mut r = AddTrim {
        trim: None,
        approx: false,
        limit: 0,
        nomk: false,
        id: None,
        next: a.len(),
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = &a[i];
        if xadd && &opt[..] == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if r.trim.is_some() {
                return Err(CmdError::err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            r.approx = false;
            let next = &a[i + 1][..];
            if more >= 2 && next == b"~" {
                r.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if is(opt, "maxlen") {
                let n = arg_i64(&a[i + 1])?;
                if n < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                r.trim = Some(Trim::MaxLen(n.unsigned_abs()));
            } else {
                r.trim = Some(Trim::MinId(strict_id(&a[i + 1])?));
            }
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            let n = arg_i64(&a[i + 1])?;
            if n < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            r.limit = n.unsigned_abs();
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            r.nomk = true;
        } else if xadd {
            r.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    r.next = i;
    if r.limit > 0 && r.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && r.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !r.approx {
            return Err(CmdError::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if r.approx {
        // Set by the caller: at most 100 nodes' worth (`approx_limit`).
        r.limit = u64::MAX;
    } else {
        r.limit = 0;
    }
    Ok(r)
}

fn xadd(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut p = parse_add_trim(a, true)?;
    if p.limit == u64::MAX {
        p.limit = approx_limit(x);
    }
    let nodes = x.st.stream_nodes;
    let field_pos = p.next + 1;
    if a.len() < field_pos + 2 || (a.len() - field_pos) % 2 == 1 {
        return Err(CmdError::Arity("xadd".into()));
    }
    if let Some((id, true)) = p.id {
        if id.is_zero() {
            return Err(CmdError::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let key = &a[1];
    let now = x.now_ms;
    let exists = stream_w(x, key)?.is_some();
    if !exists {
        if p.nomk {
            return Ok(Reply::Null);
        }
        x.insert_key(key, Entry::new(Value::Stream(Shared::default()), now));
    }
    let Some(s) = stream_w(x, key)? else {
        unreachable!("the stream was just created")
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match p.id {
        None => s.next_id(now, None),
        Some((id, false)) => s.next_id(now, Some(id.ms)),
        Some((id, true)) => (id > s.last_id).then_some(id),
    };
    let Some(id) = id else {
        return Err(CmdError::err(
            "The ID specified in XADD is equal or smaller than the target stream top item",
        ));
    };
    let fields: Fields = a[field_pos..]
        .iter()
        .map(|b| Box::<[u8]>::from(&b[..]))
        .collect();
    s.append_in_nodes(id, fields, nodes);
    let removed = match p.trim {
        Some(t) => s.trim(t, p.approx, p.limit),
        None => 0,
    };
    let len = s.len();
    let mut j = argv!["XADD", key, id.to_string()];
    j.extend(a[field_pos..].iter().cloned());
    x.journal(j);
    x.reply_before_events();
    x.notify('t', "xadd", key);
    if removed > 0 {
        x.notify('t', "xtrim", key);
        x.journal(argv!["XTRIM", key, "MAXLEN", len.to_string()]);
    }
    x.touch_dirty(1 + removed);
    Ok(id_reply(id))
}

fn xtrim(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut p = parse_add_trim(a, false)?;
    if p.limit == u64::MAX {
        p.limit = approx_limit(x);
    }
    if p.next < a.len() {
        return Err(CmdError::Syntax);
    }
    let Some(s) = stream_w(x, &a[1])? else {
        return Ok(Reply::Int(0));
    };
    let Some(t) = p.trim else {
        return Ok(Reply::Int(0));
    };
    let removed = s.trim(t, p.approx, p.limit);
    let len = s.len();
    if removed > 0 {
        x.journal(argv!["XTRIM", a[1], "MAXLEN", len.to_string()]);
        x.touch_dirty(removed);
        x.notify('t', "xtrim", &a[1]);
    }
    Ok(Reply::Int(i64_of(removed)))
}

// ---------------------------------------------------------------- XLEN XRANGE XDEL

fn xlen(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        stream_r(x, &a[1])?.map_or(0, |s| i64::try_from(s.len()).unwrap_or(i64::MAX)),
    ))
}

fn range_generic(x: &mut Exec<'_>, a: &[Bytes], rev: bool) -> Result<Reply, CmdError> {
    let (sa, ea) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let start = range_start(sa)?;
    let end = range_end(ea)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < a.len() {
        if is(&a[j], "count") && j + 1 < a.len() {
            count = arg_i64(&a[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(s) = stream_r(x, &a[1])? else {
        return Ok(Reply::Array(vec![]));
    };
    if count == 0 {
        return Ok(Reply::NullArray);
    }
    let n = if count < 0 {
        usize::MAX
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    };
    let out: Vec<Reply> = if rev {
        s.range(start, end)
            .rev()
            .take(n)
            .map(|(id, f)| entry_reply(*id, f))
            .collect()
    } else {
        s.range(start, end)
            .take(n)
            .map(|(id, f)| entry_reply(*id, f))
            .collect()
    };
    Ok(Reply::Array(out))
}

fn xrange(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    range_generic(x, a, false)
}

fn xrevrange(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    range_generic(x, a, true)
}

fn xdel(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if stream_w(x, &a[1])?.is_none() {
        return Ok(Reply::Int(0));
    }
    let ids = a[2..]
        .iter()
        .map(|b| strict_id(b))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = stream_w(x, &a[1])? else {
        return Ok(Reply::Int(0));
    };
    let n = s.delete(&ids);
    x.touch_dirty(n as u64);
    if n > 0 {
        x.notify('t', "xdel", &a[1]);
    }
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

// ---------------------------------------------------------------- XREAD / XREADGROUP

fn block_ms(x: &Exec<'_>, b: &[u8]) -> Result<i64, CmdError> {
    let ms = crate::db::strnum::parse_i64(b)
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok(if ms == 0 {
        0
    } else {
        x.now_ms.saturating_add(ms)
    })
}

/// What the caller asked for on one stream.
#[derive(Clone, Copy)]
enum Want {
    /// Entries after this ID.
    After(StreamId),
    /// `>`: new entries for the group.
    New,
}

fn xread_generic(x: &mut Exec<'_>, a: &[Bytes], group_cmd: bool) -> Result<Reply, CmdError> {
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut nstreams = 0;
    let mut noack = false;
    let mut group: Option<(Bytes, Bytes)> = None;
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - i - 1;
        let o = &a[i];
        if is(o, "block") && more > 0 {
            if x.in_script {
                return Err(CmdError::err(format!(
                    "{} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&a[0])
                )));
            }
            i += 1;
            timeout = Some(block_ms(x, &a[i])?);
        } else if is(o, "count") && more > 0 {
            i += 1;
            count = arg_i64(&a[i])?.max(0);
        } else if is(o, "streams") && more > 0 {
            streams_arg = i + 1;
            let n = a.len() - streams_arg;
            if !n.is_multiple_of(2) {
                return Err(CmdError::err("Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            nstreams = n / 2;
            break;
        } else if is(o, "group") && more >= 2 {
            if !group_cmd {
                return Err(CmdError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 2;
        } else if is(o, "noack") {
            if !group_cmd {
                return Err(CmdError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(CmdError::Syntax);
    }
    if group_cmd && group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    let keys = &a[streams_arg..streams_arg + nstreams];
    // Served again after parking: a key that is no longer a stream ends a group read with
    // Redis's UNBLOCKED error (NOGROUP if only the group is gone) and leaves a plain XREAD
    // parked.
    if x.st.blocked.clients.contains_key(&x.client_id) {
        for key in keys {
            let kind = match x.lookup_read(key).map(|e| &e.value) {
                None => None,
                Some(Value::Stream(s)) => Some(
                    group
                        .as_ref()
                        .is_none_or(|(g, _)| s.groups.contains_key(&g[..])),
                ),
                Some(_) => Some(false),
            };
            match (&group, kind) {
                (Some(_), None) | (Some(_), Some(false))
                    if !matches!(x.lookup_read(key).map(|e| &e.value), Some(Value::Stream(_))) =>
                {
                    return Err(CmdError::Raw(
                        "UNBLOCKED the stream key no longer exists".into(),
                    ));
                }
                (Some(_), Some(false)) => {
                    return Err(CmdError::Raw(
                        "NOGROUP the consumer group this client was blocked on no longer exists"
                            .into(),
                    ));
                }
                (None, Some(false)) => {
                    if let Some(deadline_ms) = timeout {
                        if x.may_block() {
                            x.block = Some(BlockRequest {
                                keys: keys.to_vec(),
                                deadline_ms,
                                timeout_reply: Reply::NullArray,
                                argv: Some(a.to_vec()),
                            });
                        }
                    }
                    return Ok(Reply::NullArray);
                }
                _ => {}
            }
        }
    }
    let mut wants = Vec::with_capacity(nstreams);
    for (k, key) in keys.iter().enumerate() {
        let idarg = &a[streams_arg + nstreams + k];
        let s = stream_r(x, key)?;
        let last = s.as_ref().map(|s| s.last_id);
        if let Some((g, _)) = &group {
            if !s.is_some_and(|s| s.groups.contains_key(&g[..])) {
                return Err(CmdError::Raw(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(g)
                )));
            }
        }
        if &idarg[..] == b"$" {
            if group_cmd {
                return Err(CmdError::err("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            wants.push(Want::After(last.unwrap_or(StreamId::MIN)));
        } else if &idarg[..] == b">" {
            if !group_cmd {
                return Err(CmdError::err("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            wants.push(Want::New);
        } else {
            wants.push(Want::After(strict_id(idarg)?));
        }
    }
    let resp3 = x.reply_resp3();
    let now = x.now_ms;
    let n = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    };
    let mut out: Vec<(Reply, Reply)> = Vec::new();
    let mut dirty = 0;
    // What replicas get instead of this XREADGROUP (Redis's propagation): an XCLAIM per
    // entry delivered, or with NOACK the consumer's creation and the group's new last ID.
    let to_replicas = group.is_some() && x.st.replicas.streaming();
    let mut instead: Vec<Vec<Bytes>> = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let Some(s) = stream_rw(x, key)? else {
            continue;
        };
        let has_consumer = |s: &Stream| {
            group.as_ref().is_some_and(|(g, c)| {
                s.groups
                    .get(&g[..])
                    .is_some_and(|grp| grp.consumers.contains_key(&c[..]))
            })
        };
        let had_consumer = has_consumer(s);
        let served = match (&group, wants[k]) {
            (None, Want::After(gt)) => {
                if !s.is_empty() && s.last_valid_id() > gt {
                    let start = gt.incr().unwrap_or(StreamId::MAX);
                    Some(Reply::Array(
                        s.range(start, StreamId::MAX)
                            .take(n)
                            .map(|(id, f)| entry_reply(*id, f))
                            .collect(),
                    ))
                } else {
                    None
                }
            }
            (None, Want::New) => None,
            (Some((g, c)), Want::After(gt)) => {
                dirty += 1;
                Some(read_history(s, g, c, gt, n, now))
            }
            (Some((g, c)), Want::New) => {
                let last = s.groups.get(&g[..]).map_or(StreamId::MAX, |g| g.last_id);
                if !s.is_empty() && s.last_valid_id() > last {
                    dirty += 1;
                    let (reply, ids) = read_new(s, g, c, last, n, noack, now);
                    if to_replicas {
                        let grp = s.groups.get(&g[..]);
                        if noack && !had_consumer {
                            instead.push(argv!["XGROUP", "CREATECONSUMER", key, g, c]);
                        }
                        if !noack {
                            for id in &ids {
                                let id = id.to_string();
                                instead.push(argv![
                                    "XCLAIM",
                                    key,
                                    g,
                                    c,
                                    "0",
                                    id,
                                    "TIME",
                                    now.to_string(),
                                    "RETRYCOUNT",
                                    "1",
                                    "FORCE",
                                    "JUSTID",
                                    "LASTID",
                                    id
                                ]);
                            }
                        } else if let Some(grp) = grp {
                            instead.push(argv![
                                "XGROUP",
                                "SETID",
                                key,
                                g,
                                grp.last_id.to_string(),
                                "ENTRIESREAD",
                                grp.entries_read.to_string()
                            ]);
                        }
                    }
                    Some(reply)
                } else {
                    None
                }
            }
        };
        if to_replicas && noack && !had_consumer && matches!(wants[k], Want::After(_)) {
            if let Some((g, c)) = &group {
                if has_consumer(s) {
                    instead.push(argv!["XGROUP", "CREATECONSUMER", key, g, c]);
                }
            }
        }
        // Serving creates the consumer (Redis 7.0: only when served synchronously).
        if group.is_some() && !had_consumer && has_consumer(s) {
            x.notify('t', "xgroup-createconsumer", key);
        }
        if let Some(r) = served {
            out.push((Reply::bulk(key), r));
        }
    }
    if dirty > 0 {
        x.touch_dirty(dirty);
        if to_replicas {
            // The log keeps this XREADGROUP itself (dispatch journals it next, at this
            // position); replicas get `instead`.
            let at = x.journal.len();
            let db = u16::try_from(x.db).unwrap_or(0);
            x.repl.skip.push(at);
            x.repl
                .extra
                .extend(instead.into_iter().map(|argv| (at, (db, argv))));
        }
    }
    if !out.is_empty() {
        return Ok(if resp3 {
            Reply::Map(out)
        } else {
            Reply::Array(
                out.into_iter()
                    .map(|(k, v)| Reply::Array(vec![k, v]))
                    .collect(),
            )
        });
    }
    if let Some(deadline_ms) = timeout {
        if x.may_block() {
            // Park with `$` resolved so that a later re-run means "after what existed now".
            let mut parked = a.to_vec();
            for (k, w) in wants.iter().enumerate() {
                let pos = streams_arg + nstreams + k;
                if &a[pos][..] == b"$" {
                    if let Want::After(id) = w {
                        parked[pos] = id_arg(*id);
                    }
                }
            }
            x.block = Some(BlockRequest {
                keys: keys.to_vec(),
                deadline_ms,
                timeout_reply: Reply::NullArray,
                argv: Some(parked),
            });
        }
    }
    Ok(Reply::NullArray)
}

/// After FLUSHDB / FLUSHALL / SWAPDB changed database `db` wholesale: clients parked in
/// XREADGROUP on a key of `db` that is no longer a stream are answered Redis's UNBLOCKED
/// error (its `scanDatabaseForDeletedStreams`); plain XREAD readers stay parked.
pub fn unblock_group_readers(st: &mut crate::cmd::State, db: usize) {
    let gone: Vec<u64> = st
        .blocked
        .clients
        .iter()
        .filter(|(_, b)| {
            b.db == db
                && b.argv
                    .first()
                    .is_some_and(|c| c.eq_ignore_ascii_case(b"xreadgroup"))
                && b.keys.iter().any(|k| {
                    !matches!(
                        st.ks.dbs.get(db).and_then(|d| d.get(k)).map(|e| &e.value),
                        Some(Value::Stream(_))
                    )
                })
        })
        .map(|(&id, _)| id)
        .collect();
    for id in gone {
        if let Some(mut b) = st.blocked.remove(id) {
            if let Some(w) = b.wake.take() {
                w(
                    Reply::Error("UNBLOCKED the stream key no longer exists".into()),
                    0,
                );
            }
        }
    }
}

/// XREADGROUP with an explicit ID: the consumer's own pending entries after `gt`.
fn read_history(s: &mut Stream, g: &[u8], c: &[u8], gt: StreamId, n: usize, now: i64) -> Reply {
    let Some(start) = gt.incr() else {
        return Reply::Array(vec![]);
    };
    let Some(grp) = s.groups.get_mut(g) else {
        return Reply::Array(vec![]);
    };
    let (cons, _) = grp.consumer(c, now);
    cons.seen_time = now;
    let ids: Vec<StreamId> = cons.pel.range(start..).take(n).copied().collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match s.get(id) {
            Some(f) => {
                out.push(entry_reply(id, f));
                if let Some(nack) = s.groups.get_mut(g).and_then(|g| g.pel.get_mut(&id)) {
                    nack.delivery_time = now;
                    nack.delivery_count += 1;
                }
            }
            None => out.push(Reply::Array(vec![id_reply(id), Reply::NullArray])),
        }
    }
    Reply::Array(out)
}

/// XREADGROUP `>`: entries after the group's last delivered ID.
fn read_new(
    s: &mut Stream,
    g: &[u8],
    c: &[u8],
    last: StreamId,
    n: usize,
    noack: bool,
    now: i64,
) -> (Reply, Vec<StreamId>) {
    if let Some(grp) = s.groups.get_mut(g) {
        grp.consumer(c, now).0.seen_time = now;
    }
    let start = last.incr().unwrap_or(StreamId::MAX);
    let picked: Vec<(StreamId, Reply)> = s
        .range(start, StreamId::MAX)
        .take(n)
        .map(|(id, f)| (*id, entry_reply(*id, f)))
        .collect();
    let mut out = Vec::with_capacity(picked.len());
    let mut ids = Vec::with_capacity(picked.len());
    for (id, r) in picked {
        s.advance_group(g, id);
        if !noack {
            if let Some(grp) = s.groups.get_mut(g) {
                grp.assign(id, c, now, 1);
            }
        }
        out.push(r);
        ids.push(id);
    }
    (Reply::Array(out), ids)
}

fn xread(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    xread_generic(x, a, false)
}

fn xreadgroup(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    xread_generic(x, a, true)
}

// ---------------------------------------------------------------- XGROUP

fn require_key_err() -> CmdError {
    CmdError::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
}

/// XGROUP's shared preamble for subcommands other than CREATE: the stream must exist,
/// and (unless `destroy`) the group too.
fn xgroup_pre<'x>(
    x: &'x mut Exec<'_>,
    a: &[Bytes],
    need_group: bool,
) -> Result<&'x mut Stream, CmdError> {
    let Some(s) = stream_w(x, &a[2])? else {
        return Err(require_key_err());
    };
    if need_group && !s.groups.contains_key(&a[3][..]) {
        return Err(nogroup_for_key(&a[3], &a[2]));
    }
    Ok(s)
}

fn parse_entries_read(b: &[u8]) -> Result<i64, CmdError> {
    let n = arg_i64(b)?;
    if n < 0 && n != -1 {
        return Err(CmdError::err(
            "value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

fn xgroup_create(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut mkstream = false;
    let mut entries_read = -1;
    let mut i = 5;
    while i < a.len() {
        if is(&a[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if is(&a[i], "entriesread") && i + 1 < a.len() {
            entries_read = parse_entries_read(&a[i + 1])?;
            i += 2;
        } else {
            return Err(CmdError::bad_subcommand(&a[1], "XGROUP"));
        }
    }
    let exists = stream_w(x, &a[2])?.is_some();
    if !exists && !mkstream {
        return Err(require_key_err());
    }
    if a.len() > 8 {
        return Err(CmdError::bad_subcommand(&a[1], "XGROUP"));
    }
    let id = if &a[4][..] == b"$" {
        stream_w(x, &a[2])?.map_or(StreamId::MIN, |s| s.last_id)
    } else {
        strict_id(&a[4])?
    };
    if !exists {
        let now = x.now_ms;
        x.insert_key(&a[2], Entry::new(Value::Stream(Shared::default()), now));
    }
    let Some(s) = stream_w(x, &a[2])? else {
        unreachable!("the stream exists")
    };
    if s.groups.contains_key(&a[3][..]) {
        return Err(CmdError::Raw(
            "BUSYGROUP Consumer Group name already exists".into(),
        ));
    }
    s.groups
        .insert(Box::from(&a[3][..]), CGroup::new(id, entries_read));
    x.touch_dirty(1);
    if !exists {
        // A new stream is a change Redis signals (XGROUP itself is not: `modified_keys`).
        x.signal_modified(&a[2]);
    }
    x.reply_before_events();
    x.notify('t', "xgroup-create", &a[2]);
    Ok(Reply::ok())
}

fn xgroup_setid(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // The options are read before the key is looked up, as CREATE's are.
    let mut entries_read = -1;
    let mut i = 5;
    while i < a.len() {
        if !is(&a[i], "entriesread") || i + 1 == a.len() {
            return Err(CmdError::bad_subcommand(&a[1], "XGROUP"));
        }
        entries_read = parse_entries_read(&a[i + 1])?;
        i += 2;
    }
    let s = xgroup_pre(x, a, true)?;
    if a.len() != 5 && a.len() != 7 {
        return Err(CmdError::bad_subcommand(&a[1], "XGROUP"));
    }
    let id = if &a[4][..] == b"$" {
        s.last_id
    } else {
        parse_id_full(&a[4], 0, false, false)?.0
    };
    if let Some(g) = s.groups.get_mut(&a[3][..]) {
        g.last_id = id;
        g.entries_read = entries_read;
    }
    x.touch_dirty(1);
    x.notify('t', "xgroup-setid", &a[2]);
    Ok(Reply::ok())
}

fn xgroup_destroy(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let s = xgroup_pre(x, a, false)?;
    if s.groups.remove(&a[3][..]).is_some() {
        x.touch_dirty(1);
        x.notify('t', "xgroup-destroy", &a[2]);
        Ok(Reply::Int(1))
    } else {
        Ok(Reply::Int(0))
    }
}

fn xgroup_createconsumer(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let now = x.now_ms;
    let s = xgroup_pre(x, a, true)?;
    let created = s
        .groups
        .get_mut(&a[3][..])
        .is_some_and(|g| g.consumer(&a[4], now).1);
    if created {
        x.touch_dirty(1);
        x.notify('t', "xgroup-createconsumer", &a[2]);
    }
    Ok(Reply::Int(i64::from(created)))
}

fn xgroup_delconsumer(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let s = xgroup_pre(x, a, true)?;
    let mut pending = 0;
    if let Some(g) = s.groups.get_mut(&a[3][..]) {
        if let Some(c) = g.consumers.remove(&a[4][..]) {
            pending = c.pel.len();
            for id in c.pel {
                g.pel.remove(&id);
            }
        }
    }
    x.touch_dirty(1);
    x.notify('t', "xgroup-delconsumer", &a[2]);
    Ok(Reply::Int(i64::try_from(pending).unwrap_or(i64::MAX)))
}

fn xgroup_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(super::server::help_reply(
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    ))
}

// ---------------------------------------------------------------- XACK XPENDING

fn xack(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let has_group = match stream_r(x, &a[1])? {
        Some(s) => s.groups.contains_key(&a[2][..]),
        None => false,
    };
    if !has_group {
        return Ok(Reply::Int(0));
    }
    let ids = a[3..]
        .iter()
        .map(|b| strict_id(b))
        .collect::<Result<Vec<_>, _>>()?;
    let mut n = 0;
    // Looked up (and counted as a keyspace hit) once, above, as in Redis.
    if let Some(g) = stream_w(x, &a[1])?.and_then(|s| s.groups.get_mut(&a[2][..])) {
        for id in ids {
            if g.ack(id) {
                n += 1;
            }
        }
    }
    x.touch_dirty(n);
    Ok(Reply::Int(i64_of(n)))
}

fn xpending(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let justinfo = a.len() == 3;
    if a.len() != 3 && (a.len() < 6 || a.len() > 9) {
        return Err(CmdError::Syntax);
    }
    let mut minidle = 0;
    let mut count = 0;
    let mut start = StreamId::MIN;
    let mut end = StreamId::MAX;
    let mut consumer: Option<Bytes> = None;
    if a.len() >= 6 {
        let mut si = 3;
        if is(&a[3], "idle") {
            minidle = arg_i64(&a[4])?;
            if a.len() < 8 {
                return Err(CmdError::Syntax);
            }
            si += 2;
        }
        count = arg_i64(&a[si + 2])?.max(0);
        start = range_start(&a[si])?;
        end = range_end(&a[si + 1])?;
        if si + 3 < a.len() {
            consumer = Some(a[si + 3].clone());
        }
    }
    let now = x.now_ms;
    let g = stream_r(x, &a[1])?.and_then(|s| s.groups.get(&a[2][..]));
    let Some(g) = g else {
        return Err(nogroup(&a[1], &a[2]));
    };
    if justinfo {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Null,
                Reply::Null,
                Reply::NullArray,
            ]));
        }
        let first = g.pel.keys().next().copied().unwrap_or_default();
        let last = g.pel.keys().next_back().copied().unwrap_or_default();
        let cons: Vec<Reply> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::bulk(name),
                    Reply::bulk_string(c.pel.len().to_string()),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(i64::try_from(g.pel.len()).unwrap_or(i64::MAX)),
            id_reply(first),
            id_reply(last),
            Reply::Array(cons),
        ]));
    }
    let ids: Vec<StreamId> = match &consumer {
        Some(c) => match g.consumers.get(&c[..]) {
            None => return Ok(Reply::Array(vec![])),
            Some(c) => {
                if start > end {
                    vec![]
                } else {
                    c.pel.range(start..=end).copied().collect()
                }
            }
        },
        None => {
            if start > end {
                vec![]
            } else {
                g.pel.range(start..=end).map(|(k, _)| *k).collect()
            }
        }
    };
    let mut out = Vec::new();
    for id in ids {
        if count <= 0 {
            break;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - nack.delivery_time < minidle {
            continue;
        }
        count -= 1;
        out.push(Reply::Array(vec![
            id_reply(id),
            Reply::bulk(&nack.consumer),
            Reply::Int((now - nack.delivery_time).max(0)),
            Reply::Int(i64_of(nack.delivery_count)),
        ]));
    }
    Ok(Reply::Array(out))
}

// ---------------------------------------------------------------- XCLAIM XAUTOCLAIM

fn opt_i64(b: &[u8], msg: &str) -> Result<i64, CmdError> {
    crate::db::strnum::parse_i64(b).ok_or_else(|| CmdError::err(msg))
}

fn xclaim(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let exists = match stream_r(x, &a[1])? {
        Some(s) => s.groups.contains_key(&a[2][..]),
        None => false,
    };
    if !exists {
        return Err(nogroup(&a[1], &a[2]));
    }
    let minidle = opt_i64(&a[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match strict_id(&a[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = x.now_ms;
    let mut force = false;
    let mut justid = false;
    let mut retry: i64 = -1;
    let mut dtime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let o = &a[j];
        if is(o, "force") {
            force = true;
        } else if is(o, "justid") {
            justid = true;
        } else if is(o, "idle") && more > 0 {
            j += 1;
            dtime = now - opt_i64(&a[j], "Invalid IDLE option argument for XCLAIM")?;
        } else if is(o, "time") && more > 0 {
            j += 1;
            dtime = opt_i64(&a[j], "Invalid TIME option argument for XCLAIM")?;
        } else if is(o, "retrycount") && more > 0 {
            j += 1;
            retry = opt_i64(&a[j], "Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if is(o, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(&a[j])?;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(o)
            )));
        }
        j += 1;
    }
    if dtime != -1 {
        if dtime < 0 || dtime > now {
            dtime = now;
        }
    } else {
        dtime = now;
    }
    let Some(s) = stream_w(x, &a[1])? else {
        return Err(nogroup(&a[1], &a[2]));
    };
    let name = &a[3][..];
    let mut dirty = 0;
    let mut created = false;
    let mut out = Vec::new();
    if let Some(g) = s.groups.get_mut(&a[2][..]) {
        if last_id > g.last_id {
            g.last_id = last_id;
            dirty += 1;
        }
    }
    for id in ids {
        let exists = s.get(id).is_some();
        let Some(g) = s.groups.get_mut(&a[2][..]) else {
            break;
        };
        if !exists {
            if g.ack(id) {
                dirty += 1;
            }
            continue;
        }
        let (owner, count, fresh) = match g.pel.get(&id) {
            Some(n) => (Some(n.consumer.clone()), n.delivery_count, false),
            None if force => (None, 1, true),
            None => continue,
        };
        if !fresh && minidle > 0 {
            if let Some(n) = g.pel.get(&id) {
                if now - n.delivery_time < minidle {
                    continue;
                }
            }
        }
        let (cons, fresh_consumer) = g.consumer(name, now);
        cons.seen_time = now;
        created |= fresh_consumer;
        let count = if retry >= 0 {
            retry.unsigned_abs()
        } else if !justid {
            count + 1
        } else {
            count
        };
        if owner.as_deref() != Some(name) {
            if let Some(o) = owner {
                if let Some(c) = g.consumers.get_mut(&o) {
                    c.pel.remove(&id);
                }
            }
        }
        g.assign(id, name, dtime, count);
        dirty += 1;
        if justid {
            out.push(id_reply(id));
        } else {
            match s.get(id) {
                Some(f) => out.push(entry_reply(id, f)),
                None => out.push(Reply::NullArray),
            }
        }
    }
    x.touch_dirty(dirty);
    if created {
        x.notify('t', "xgroup-createconsumer", &a[1]);
    }
    Ok(Reply::Array(out))
}

fn xautoclaim(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let minidle = opt_i64(&a[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = range_start(&a[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if is(&a[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            count = crate::db::strnum::parse_i64(&a[j + 1])
                .filter(|&c| (1..=max).contains(&c))
                .ok_or_else(|| CmdError::err("COUNT must be > 0"))?;
            j += 1;
        } else if is(&a[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let exists = match stream_r(x, &a[1])? {
        Some(s) => s.groups.contains_key(&a[2][..]),
        None => false,
    };
    if !exists {
        return Err(nogroup(&a[1], &a[2]));
    }
    let now = x.now_ms;
    let Some(s) = stream_w(x, &a[1])? else {
        return Err(nogroup(&a[1], &a[2]));
    };
    let name = &a[3][..];
    let mut attempts = count.saturating_mul(10);
    let mut dirty = 0;
    let mut created = false;
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut cursor = start;
    let mut next: Option<StreamId> = None;
    loop {
        if attempts == 0 || count == 0 {
            // The cursor is the next PEL entry not examined.
            next = s
                .groups
                .get(&a[2][..])
                .and_then(|g| g.pel.range(cursor..).next().map(|(k, _)| *k));
            break;
        }
        attempts -= 1;
        let Some(g) = s.groups.get_mut(&a[2][..]) else {
            break;
        };
        let Some((&id, nack)) = g.pel.range(cursor..).next() else {
            break;
        };
        cursor = id.incr().unwrap_or(StreamId::MAX);
        let at_end = id == StreamId::MAX;
        let idle_ok = minidle == 0 || now - nack.delivery_time >= minidle;
        let (owner, dcount) = (nack.consumer.clone(), nack.delivery_count);
        let exists = s.get(id).is_some();
        let Some(g) = s.groups.get_mut(&a[2][..]) else {
            break;
        };
        if !exists {
            g.ack(id);
            deleted.push(id);
            dirty += 1;
            count -= 1;
        } else if idle_ok {
            let (cons, fresh_consumer) = g.consumer(name, now);
            cons.seen_time = now;
            created |= fresh_consumer;
            if &*owner != name {
                if let Some(c) = g.consumers.get_mut(&owner) {
                    c.pel.remove(&id);
                }
            }
            g.assign(id, name, now, if justid { dcount } else { dcount + 1 });
            if justid {
                out.push(id_reply(id));
            } else {
                match s.get(id) {
                    Some(f) => out.push(entry_reply(id, f)),
                    None => out.push(Reply::Null),
                }
            }
            count -= 1;
            dirty += 1;
        }
        if at_end {
            break;
        }
    }
    x.touch_dirty(dirty);
    if created {
        x.notify('t', "xgroup-createconsumer", &a[1]);
    }
    Ok(Reply::Array(vec![
        id_reply(next.unwrap_or(StreamId::MIN)),
        Reply::Array(out),
        Reply::Array(deleted.into_iter().map(id_reply).collect()),
    ]))
}

// ---------------------------------------------------------------- XSETID

fn xsetid(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let id = strict_id(&a[2])?;
    let mut entries_added: i64 = -1;
    let mut max_del = StreamId::MIN;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if is(&a[i], "entriesadded") && more > 0 {
            entries_added = arg_i64(&a[i + 1])?;
            if entries_added < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
            i += 2;
        } else if is(&a[i], "maxdeletedid") && more > 0 {
            max_del = strict_id(&a[i + 1])?;
            if id < max_del {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(s) = stream_w(x, &a[1])? else {
        return Err(CmdError::err("no such key"));
    };
    if !s.is_empty() {
        if id < s.last_valid_id() {
            return Err(CmdError::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && i64::try_from(s.len()).unwrap_or(i64::MAX) > entries_added {
            return Err(CmdError::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    if id < s.max_deleted_id {
        return Err(CmdError::err(
            "The ID specified in XSETID is smaller than current max_deleted_entry_id",
        ));
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added.unsigned_abs();
    }
    if !max_del.is_zero() {
        s.max_deleted_id = max_del;
    }
    x.touch_dirty(1);
    x.notify('t', "xsetid", &a[1]);
    Ok(Reply::ok())
}

// ---------------------------------------------------------------- XINFO

fn b(s: &str) -> Reply {
    Reply::bulk(s.as_bytes())
}

fn entries_read_reply(g: &CGroup) -> Reply {
    if g.entries_read == -1 {
        Reply::Null
    } else {
        Reply::Int(g.entries_read)
    }
}

fn lag_reply(s: &Stream, g: &CGroup) -> Reply {
    s.lag(g).map_or(Reply::Null, Reply::Int)
}

fn len_reply(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn xinfo_consumers(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let now = x.now_ms;
    let Some(s) = stream_r(x, &a[2])? else {
        return Err(CmdError::err("no such key"));
    };
    let Some(g) = s.groups.get(&a[3][..]) else {
        return Err(nogroup_for_key(&a[3], &a[2]));
    };
    Ok(Reply::Array(
        g.consumers
            .iter()
            .map(|(name, c)| {
                Reply::Map(vec![
                    (b("name"), Reply::bulk(name)),
                    (b("pending"), len_reply(c.pel.len())),
                    (b("idle"), Reply::Int((now - c.seen_time).max(0))),
                ])
            })
            .collect(),
    ))
}

fn xinfo_groups(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(s) = stream_r(x, &a[2])? else {
        return Err(CmdError::err("no such key"));
    };
    Ok(Reply::Array(
        s.groups
            .iter()
            .map(|(name, g)| {
                Reply::Map(vec![
                    (b("name"), Reply::bulk(name)),
                    (b("consumers"), len_reply(g.consumers.len())),
                    (b("pending"), len_reply(g.pel.len())),
                    (b("last-delivered-id"), id_reply(g.last_id)),
                    (b("entries-read"), entries_read_reply(g)),
                    (b("lag"), lag_reply(s, g)),
                ])
            })
            .collect(),
    ))
}

fn xinfo_stream(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // The key first (no such key, WRONGTYPE), then the options, as Redis reads them.
    let Some(s) = stream_r(x, &a[2])? else {
        return Err(CmdError::err("no such key"));
    };
    let opts = &a[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return Err(CmdError::bad_subcommand(&a[1], "XINFO"));
        }
        full = true;
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return Err(CmdError::bad_subcommand(&a[1], "XINFO"));
            }
            count = arg_i64(&opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let nodes = s.node_count();
    let mut m = vec![
        (b("length"), len_reply(s.len())),
        (b("radix-tree-keys"), len_reply(nodes)),
        (b("radix-tree-nodes"), len_reply(nodes + 1)),
        (b("last-generated-id"), id_reply(s.last_id)),
        (b("max-deleted-entry-id"), id_reply(s.max_deleted_id)),
        (b("entries-added"), Reply::Int(i64_of(s.entries_added))),
        (b("recorded-first-entry-id"), id_reply(s.first_id)),
    ];
    if !full {
        m.push((b("groups"), len_reply(s.groups.len())));
        m.push((
            b("first-entry"),
            s.first().map_or(Reply::Null, |(id, f)| entry_reply(*id, f)),
        ));
        m.push((
            b("last-entry"),
            s.last().map_or(Reply::Null, |(id, f)| entry_reply(*id, f)),
        ));
        return Ok(Reply::Map(m));
    }
    let n = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    };
    m.push((
        b("entries"),
        Reply::Array(
            s.range(StreamId::MIN, StreamId::MAX)
                .take(n)
                .map(|(id, f)| entry_reply(*id, f))
                .collect(),
        ),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(n)
                .map(|(id, nk)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::bulk(&nk.consumer),
                        Reply::Int(nk.delivery_time),
                        Reply::Int(i64_of(nk.delivery_count)),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cn, c)| {
                    let pend = c
                        .pel
                        .iter()
                        .take(n)
                        .filter_map(|id| {
                            g.pel.get(id).map(|nk| {
                                Reply::Array(vec![
                                    id_reply(*id),
                                    Reply::Int(nk.delivery_time),
                                    Reply::Int(i64_of(nk.delivery_count)),
                                ])
                            })
                        })
                        .collect();
                    Reply::Map(vec![
                        (b("name"), Reply::bulk(cn)),
                        (b("seen-time"), Reply::Int(c.seen_time)),
                        (b("pel-count"), len_reply(c.pel.len())),
                        (b("pending"), Reply::Array(pend)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (b("name"), Reply::bulk(name)),
                (b("last-delivered-id"), id_reply(g.last_id)),
                (b("entries-read"), entries_read_reply(g)),
                (b("lag"), lag_reply(s, g)),
                (b("pel-count"), len_reply(g.pel.len())),
                (b("pending"), Reply::Array(pending)),
                (b("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((b("groups"), Reply::Array(groups)));
    Ok(Reply::Map(m))
}

fn xinfo_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(super::server::help_reply(
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::super::string::testkit::*;
    use crate::resp::Reply;

    fn entry(id: &str, kv: &[&str]) -> Reply {
        arr(vec![bulk(id), arr(kv.iter().map(|s| bulk(s)).collect())])
    }

    #[test]
    fn add_range_del_and_replay() {
        let mut k = Kit::new();
        k.logs("XADD s 1-1 a 1", bulk("1-1"), &["XADD s 1-1 a 1"]);
        let t = T0.to_string();
        k.logs(
            "XADD s * b 2",
            bulk(&format!("{t}-0")),
            &[&format!("XADD s {t}-0 b 2")],
        );
        k.logs(
            "XADD s * c 3",
            bulk(&format!("{t}-1")),
            &[&format!("XADD s {t}-1 c 3")],
        );
        k.logs(
            &format!("XADD s {t}-* d 4"),
            bulk(&format!("{t}-2")),
            &[&format!("XADD s {t}-2 d 4")],
        );
        k.logs("XADD nope NOMKSTREAM * a 1", nil(), &[]);
        k.is("XLEN s", int(4));
        k.is(
            "XRANGE s - + COUNT 2",
            arr(vec![
                entry("1-1", &["a", "1"]),
                entry(&format!("{t}-0"), &["b", "2"]),
            ]),
        );
        k.is(
            "XREVRANGE s + (1-1 COUNT 1",
            arr(vec![entry(&format!("{t}-2"), &["d", "4"])]),
        );
        k.logs("XDEL s 1-1 9-9", int(1), &["XDEL s 1-1 9-9"]);
        k.logs("XDEL s 9-9", int(0), &[]);
        k.is("TYPE s", Reply::Simple("stream".into()));
        assert_eq!(k.encoding(b"s"), "stream");
        k.is(
            "XADD s 1-0 x y",
            err("ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        );
        k.check_replay();
    }

    #[test]
    fn approximate_trimming_is_journaled_as_its_exact_effect() {
        let mut k = Kit::new();
        for i in 1..=250 {
            k.q(&format!("XADD s {i}-0 f v"));
        }
        k.logs(
            "XADD s MAXLEN ~ 10 * f v",
            bulk(&format!("{T0}-0")),
            &[&format!("XADD s {T0}-0 f v"), "XTRIM s MAXLEN 51"],
        );
        k.is("XLEN s", int(51));
        k.logs("XTRIM s MAXLEN ~ 10", int(0), &[]);
        k.logs("XTRIM s MINID ~ 300", int(0), &[]);
        k.logs("XTRIM s MAXLEN 10", int(41), &["XTRIM s MAXLEN 10"]);
        k.logs(
            "XADD s MAXLEN 2 LIMIT 5 * f v",
            err("ERR syntax error, LIMIT cannot be used without the special ~ option"),
            &[],
        );
        k.check_replay();
    }

    #[test]
    fn groups_pel_and_claims_replay_exactly() {
        let mut k = Kit::new();
        k.q("XADD q 1-0 a 1");
        k.q("XADD q 2-0 b 2");
        k.q("XADD q 3-0 c 3");
        k.logs("XGROUP CREATE q g 0", ok(), &["XGROUP CREATE q g 0"]);
        k.now += 10;
        k.is(
            "XREADGROUP GROUP g alice COUNT 2 STREAMS q >",
            arr(vec![arr(vec![
                bulk("q"),
                arr(vec![entry("1-0", &["a", "1"]), entry("2-0", &["b", "2"])]),
            ])]),
        );
        assert_eq!(k.last, ["XREADGROUP GROUP g alice COUNT 2 STREAMS q >"]);
        k.now += 100;
        k.is(
            "XPENDING q g - + 10",
            arr(vec![
                arr(vec![bulk("1-0"), bulk("alice"), int(100), int(1)]),
                arr(vec![bulk("2-0"), bulk("alice"), int(100), int(1)]),
            ]),
        );
        k.is(
            "XPENDING q g",
            arr(vec![
                int(2),
                bulk("1-0"),
                bulk("2-0"),
                arr(vec![arr(vec![bulk("alice"), bulk("2")])]),
            ]),
        );
        k.is("XCLAIM q g bob 50 1-0 JUSTID", arr(vec![bulk("1-0")]));
        k.is("XCLAIM q g bob 500 2-0 JUSTID", arr(vec![]));
        k.now += 7;
        k.is(
            "XAUTOCLAIM q g carol 5 0 COUNT 1",
            arr(vec![
                bulk("2-0"),
                arr(vec![entry("1-0", &["a", "1"])]),
                arr(vec![]),
            ]),
        );
        k.is(
            "XPENDING q g - + 10 carol",
            arr(vec![arr(vec![bulk("1-0"), bulk("carol"), int(0), int(2)])]),
        );
        k.is("XACK q g 2-0 9-0", int(1));
        k.is(
            "XREADGROUP GROUP g dave NOACK STREAMS q >",
            arr(vec![arr(vec![
                bulk("q"),
                arr(vec![entry("3-0", &["c", "3"])]),
            ])]),
        );
        k.is("XGROUP CREATECONSUMER q g erin", int(1));
        k.is("XGROUP DELCONSUMER q g carol", int(1));
        k.is("XSETID q 9-0 ENTRIESADDED 9 MAXDELETEDID 4-0", ok());
        k.check_replay();
    }

    #[test]
    fn xread_block_parks_with_dollar_resolved() {
        use crate::cmd::{dispatch, Caller, Exec};
        use bytes::Bytes;
        let mut k = Kit::new();
        k.q("XADD s 5-0 a 1");
        let argv: Vec<Bytes> = ["XREAD", "BLOCK", "0", "STREAMS", "s", "none", "$", "$"]
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let mut x = Exec::new(&mut k.st, &TestEnv, 0, T0, Caller::Client);
        assert_eq!(dispatch::call(&mut x, &argv), Reply::NullArray);
        let b = x.block.take().expect("parked");
        assert_eq!(b.deadline_ms, 0);
        let parked: Vec<&[u8]> = b
            .argv
            .as_ref()
            .expect("rewritten")
            .iter()
            .map(|a| &a[..])
            .collect();
        assert_eq!(
            parked,
            [
                &b"XREAD"[..],
                b"BLOCK",
                b"0",
                b"STREAMS",
                b"s",
                b"none",
                b"5-0",
                b"0-0"
            ]
        );
        // Replay never parks.
        let mut x = Exec::new(&mut k.st, &TestEnv, 0, T0, Caller::Replay);
        assert_eq!(dispatch::call(&mut x, &argv), Reply::NullArray);
        assert!(x.block.is_none());
    }
}
