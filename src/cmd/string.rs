//! String commands (GET SET SETNX SETEX PSETEX GETEX GETDEL GETSET MGET MSET MSETNX
//! APPEND STRLEN GETRANGE SUBSTR SETRANGE INCR INCRBY DECR DECRBY INCRBYFLOAT LCS):
//! argument parsing, Redis 7.0 error precedence, reply shapes, TTL and encoding rules,
//! and the canonical journal form of every command whose argv is not its effect (SET
//! with a relative TTL → `SET k v PXAT t`, GETEX → `PEXPIREAT`/`PERSIST`/`DEL`, GETDEL →
//! `DEL`, GETSET → `SET`, INCRBYFLOAT → `SET k result KEEPTTL`). Number semantics live
//! in `db::strnum`, LCS in `db::lcs`; the bitmap commands are in `cmd::bitmap`. Also owns
//! the string-access helpers other handlers share (`as_str`, `check_len`, `store_string`).

use bytes::Bytes;

use super::exec::{arg_i64, is, Caller, Exec};
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::argv;
use crate::db::strnum::{self, DomainError, ERR_DECR_OVERFLOW, ERR_STRING_TOO_LONG};
use crate::db::{bits, lcs};
use crate::db::{Entry, Value};
use crate::resp::Reply;

/// Register the string commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::String;
    let ro = F::READONLY;
    let w = F::WRITE;
    let wd = F::WRITE | F::DENYOOM;
    let c = Journal::Custom;
    let one = |s: CommandSpec| s.keys(1, 1, 1).group(g);
    t.push(one(cmd("get", 2, ro | F::FAST, get)).doc("Get the value of a key", "1.0.0"));
    t.push(
        one(cmd("set", -3, wd, set))
            .journal(c)
            .doc("Set the string value of a key", "1.0.0"),
    );
    t.push(one(cmd("setnx", 3, wd | F::FAST, setnx)).journal(c).doc(
        "Set the value of a key, only if the key does not exist",
        "1.0.0",
    ));
    t.push(
        one(cmd("setex", 4, wd, setex))
            .journal(c)
            .doc("Set the value and expiration of a key", "2.0.0"),
    );
    t.push(one(cmd("psetex", 4, wd, psetex)).journal(c).doc(
        "Set the value and expiration in milliseconds of a key",
        "2.6.0",
    ));
    t.push(one(cmd("getex", -2, w | F::FAST, getex)).journal(c).doc(
        "Get the value of a key and optionally set its expiration",
        "6.2.0",
    ));
    t.push(
        one(cmd("getdel", 2, w | F::FAST, getdel))
            .journal(c)
            .doc("Get the value of a key and delete the key", "6.2.0"),
    );
    t.push(one(cmd("getset", 3, wd | F::FAST, getset)).journal(c).doc(
        "Set the string value of a key and return its old value",
        "1.0.0",
    ));
    t.push(
        cmd("mget", -2, ro | F::FAST, mget)
            .keys(1, -1, 1)
            .group(g)
            .doc("Get the values of all the given keys", "1.0.0"),
    );
    t.push(
        cmd("mset", -3, wd, mset)
            .keys(1, -1, 2)
            .group(g)
            .doc("Set multiple keys to multiple values", "1.0.1"),
    );
    t.push(cmd("msetnx", -3, wd, msetnx).keys(1, -1, 2).group(g).doc(
        "Set multiple keys to multiple values, only if none of the keys exist",
        "1.0.1",
    ));
    t.push(one(cmd("append", 3, wd | F::FAST, append)).doc("Append a value to a key", "2.0.0"));
    t.push(
        one(cmd("strlen", 2, ro | F::FAST, strlen))
            .doc("Get the length of the value stored in a key", "2.2.0"),
    );
    t.push(
        one(cmd("getrange", 4, ro, getrange))
            .doc("Get a substring of the string stored at a key", "2.4.0"),
    );
    t.push(
        one(cmd("substr", 4, ro, getrange))
            .doc("Get a substring of the string stored at a key", "1.0.0"),
    );
    t.push(one(cmd("setrange", 4, wd, setrange)).doc(
        "Overwrite part of a string at key starting at the specified offset",
        "2.2.0",
    ));
    t.push(
        one(cmd("incr", 2, wd | F::FAST, incr))
            .doc("Increment the integer value of a key by one", "1.0.0"),
    );
    t.push(one(cmd("incrby", 3, wd | F::FAST, incrby)).doc(
        "Increment the integer value of a key by the given amount",
        "1.0.0",
    ));
    t.push(
        one(cmd("decr", 2, wd | F::FAST, decr))
            .doc("Decrement the integer value of a key by one", "1.0.0"),
    );
    t.push(one(cmd("decrby", 3, wd | F::FAST, decrby)).doc(
        "Decrement the integer value of a key by the given number",
        "1.0.0",
    ));
    t.push(
        one(cmd("incrbyfloat", 3, wd | F::FAST, incrbyfloat))
            .journal(c)
            .doc(
                "Increment the float value of a key by the given amount",
                "2.6.0",
            ),
    );
    t.push(
        cmd("lcs", -3, ro, lcs_cmd)
            .keys(1, 2, 1)
            .group(g)
            .doc("Find longest common substring", "7.0.0"),
    );
}

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// The string an entry holds, or WRONGTYPE.
#[allow(unreachable_patterns)]
pub fn as_str(e: &Entry) -> Result<&Vec<u8>, CmdError> {
    match &e.value {
        Value::Str(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// The string an entry holds, for modification in place, or WRONGTYPE.
#[allow(unreachable_patterns)]
pub fn as_str_mut(e: &mut Entry) -> Result<&mut Vec<u8>, CmdError> {
    match &mut e.value {
        Value::Str(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// The longest string a command may build: `proto-max-bulk-len`, unlimited during replay
/// (which applies what was already accepted).
pub fn max_len(x: &Exec<'_>) -> u64 {
    if x.caller == Caller::Replay {
        u64::MAX
    } else {
        x.st.config.proto_max_bulk_len
    }
}

/// Redis `checkStringLength`: refuse a string of `total` bytes (None = overflowed) past
/// `max` (from [`max_len`]).
pub fn check_len(max: u64, total: Option<u64>) -> Result<(), CmdError> {
    match total {
        Some(n) if n <= max => Ok(()),
        _ => Err(DomainError::OutOfRange(ERR_STRING_TOO_LONG).into()),
    }
}

/// Store a string value, replacing whatever the key held; `expire_at` -1 = none. Fires
/// `new` for a created key; the caller notifies its own event.
pub fn store_string(x: &mut Exec<'_>, key: &[u8], val: Vec<u8>, expire_at: i64) {
    let e = Entry::new(Value::Str(val.into()), x.now_ms);
    let db = x.db;
    x.insert_key_in(db, key, e, expire_at);
    x.touch_dirty(1);
}

/// An integer reply from a length.
pub fn int_reply(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// GET's reply for `key` (read lookup: hit/miss stats, lazy expiry), WRONGTYPE if not a
/// string.
fn get_reply(x: &mut Exec<'_>, key: &[u8]) -> Result<Reply, CmdError> {
    match x.lookup_read(key) {
        None => Ok(Reply::Null),
        Some(e) => Ok(Reply::bulk(as_str(e)?)),
    }
}

// ---------------------------------------------------------------------------------------
// SET family and GETEX
// ---------------------------------------------------------------------------------------

/// Which expiry option was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ttl {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl Ttl {
    fn from_word(w: &[u8]) -> Option<Ttl> {
        [
            ("ex", Ttl::Ex),
            ("px", Ttl::Px),
            ("exat", Ttl::ExAt),
            ("pxat", Ttl::PxAt),
        ]
        .into_iter()
        .find(|(n, _)| is(w, n))
        .map(|(_, t)| t)
    }
}

/// The options of SET (NX XX GET KEEPTTL + expiry) and GETEX (PERSIST + expiry).
#[derive(Default)]
struct SetOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    ttl: Option<(Ttl, &'a [u8])>,
}

/// Redis `parseExtendedStringArgumentsOrReply`: every conflict is a syntax error; the
/// same expiry option may repeat (the last wins), different ones may not.
fn parse_set_opts(a: &[Bytes], from: usize, set: bool) -> Result<SetOpts<'_>, CmdError> {
    let mut o = SetOpts::default();
    let mut i = from;
    while i < a.len() {
        let w = &a[i][..];
        let next = a.get(i + 1);
        if set && is(w, "nx") && !o.xx {
            o.nx = true;
        } else if set && is(w, "xx") && !o.nx {
            o.xx = true;
        } else if set && is(w, "get") {
            o.get = true;
        } else if set && is(w, "keepttl") && o.ttl.is_none() {
            o.keepttl = true;
        } else if !set && is(w, "persist") && o.ttl.is_none() {
            o.persist = true;
        } else if let (Some(t), Some(n)) = (Ttl::from_word(w), next) {
            if o.keepttl || o.persist || o.ttl.is_some_and(|(t0, _)| t0 != t) {
                return Err(CmdError::Syntax);
            }
            o.ttl = Some((t, &n[..]));
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// Redis `getExpireMillisecondsOrReply`: the absolute expiry in ms for an expiry option.
fn expire_at_ms(x: &Exec<'_>, ttl: Ttl, arg: &[u8], name: &str) -> Result<i64, CmdError> {
    let v = arg_i64(arg)?;
    let bad = || CmdError::err(format!("invalid expire time in '{name}' command"));
    let seconds = matches!(ttl, Ttl::Ex | Ttl::ExAt);
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(bad());
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if matches!(ttl, Ttl::Ex | Ttl::Px) {
        ms = ms.checked_add(x.now_ms).ok_or_else(bad)?;
    }
    if ms <= 0 {
        return Err(bad());
    }
    Ok(ms)
}

/// Redis `setGenericCommand`, after option parsing. Journals `SET k v [PXAT t|KEEPTTL]`.
fn set_generic(
    x: &mut Exec<'_>,
    key: &[u8],
    val: &[u8],
    o: &SetOpts<'_>,
    at: Option<i64>,
    ok: Reply,
    abort: Reply,
) -> Result<Reply, CmdError> {
    let old = if o.get {
        Some(get_reply(x, key)?)
    } else {
        None
    };
    let found = x.lookup_replace(key);
    let old_ttl = x.db().expire_at(key);
    if (o.nx && found) || (o.xx && !found) {
        return Ok(old.unwrap_or(abort));
    }
    let keep = o.keepttl && at.is_none();
    if o.get {
        // (SET … GET replies with the old value before it stores the new one.)
        x.reply_before_events();
    }
    store_string(
        x,
        key,
        val.to_vec(),
        at.unwrap_or(if keep { old_ttl } else { -1 }),
    );
    x.notify('$', "set", key);
    if at.is_some() {
        x.notify('g', "expire", key);
    }
    let mut logged = argv!["SET", key, val];
    if let Some(at) = at {
        logged.extend(argv!["PXAT", at.to_string()]);
    } else if keep {
        logged.push(Bytes::from_static(b"KEEPTTL"));
    }
    x.journal(logged);
    Ok(old.unwrap_or(ok))
}

fn get(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    get_reply(x, &a[1])
}

fn set(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let o = parse_set_opts(a, 3, true)?;
    let at = match o.ttl {
        Some((t, v)) => Some(expire_at_ms(x, t, v, "set")?),
        None => None,
    };
    set_generic(x, &a[1], &a[2], &o, at, Reply::ok(), Reply::Null)
}

fn setnx(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let o = SetOpts {
        nx: true,
        ..SetOpts::default()
    };
    set_generic(x, &a[1], &a[2], &o, None, Reply::Int(1), Reply::Int(0))
}

fn setex_generic(x: &mut Exec<'_>, a: &[Bytes], ttl: Ttl, name: &str) -> Result<Reply, CmdError> {
    let at = expire_at_ms(x, ttl, &a[2], name)?;
    set_generic(
        x,
        &a[1],
        &a[3],
        &SetOpts::default(),
        Some(at),
        Reply::ok(),
        Reply::Null,
    )
}

fn setex(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setex_generic(x, a, Ttl::Ex, "setex")
}

fn psetex(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    setex_generic(x, a, Ttl::Px, "psetex")
}

/// GETEX: journaled as `PEXPIREAT k t`, `PERSIST k`, or `DEL k` when an absolute time
/// is already past (Redis deletes the key then).
fn getex(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let o = parse_set_opts(a, 2, false)?;
    let key = &a[1];
    let (reply, has_ttl) = match x.lookup_read(key) {
        None => return Ok(Reply::Null),
        Some(e) => (Reply::bulk(as_str(e)?), e.ttl),
    };
    if let Some((t, v)) = o.ttl {
        let at = expire_at_ms(x, t, v, "getex")?;
        // (GETEX replies before it changes the key.)
        x.reply_before_events();
        if matches!(t, Ttl::ExAt | Ttl::PxAt) && at <= x.now_ms {
            x.db().remove(key);
            x.touch_dirty(1);
            x.notify('g', "del", key);
            x.journal(argv!["DEL", key]);
        } else {
            x.db().set_expire(key, at);
            x.touch_dirty(1);
            x.notify('g', "expire", key);
            x.journal(argv!["PEXPIREAT", key, at.to_string()]);
        }
    } else if o.persist && has_ttl {
        x.reply_before_events();
        x.db().set_expire(key, -1);
        x.touch_dirty(1);
        x.notify('g', "persist", key);
        x.journal(argv!["PERSIST", key]);
    }
    Ok(reply)
}

/// GETDEL: journaled as `DEL k`.
fn getdel(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &a[1];
    let reply = get_reply(x, key)?;
    if reply != Reply::Null {
        x.db().remove(key);
        x.touch_dirty(1);
        x.reply_before_events();
        x.notify('g', "del", key);
        x.journal(argv!["DEL", key]);
    }
    Ok(reply)
}

/// GETSET: clears the TTL; journaled as `SET k v`.
fn getset(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let reply = get_reply(x, &a[1])?;
    x.reply_before_events();
    store_string(x, &a[1], a[2].to_vec(), -1);
    x.notify('$', "set", &a[1]);
    x.journal(argv!["SET", a[1], a[2]]);
    Ok(reply)
}

// ---------------------------------------------------------------------------------------
// Multi-key
// ---------------------------------------------------------------------------------------

fn mget(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // One buffer for every value (no allocation per element).
    let mut out = crate::resp::reply::Bulks::with_capacity(a.len() - 1, 16);
    // Keyspace events a lookup sends this client's own subscriptions (keymiss, expired),
    // by element: Redis writes each just before that element, inside the array.
    let mut events: Vec<(usize, Vec<Reply>)> = Vec::new();
    for (i, k) in a[1..].iter().enumerate() {
        let mark = x.st.pubsub.own.len();
        match x.lookup_read(k).map(|e| as_str(e)) {
            Some(Ok(s)) => out.push(s),
            _ => out.push_nil(),
        }
        let own = x.own_events_since(mark);
        if !own.is_empty() {
            events.push((i, own));
        }
    }
    if events.is_empty() {
        return Ok(Reply::Bulks(out));
    }
    let mut events = events.into_iter().peekable();
    let items = out
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let item = v.map_or(Reply::Null, Reply::bulk);
            match events.next_if(|(at, _)| *at == i) {
                Some((_, mut own)) => {
                    own.push(item);
                    Reply::Many(own)
                }
                None => item,
            }
        })
        .collect();
    Ok(Reply::Array(items))
}

fn mset_generic(x: &mut Exec<'_>, a: &[Bytes], nx: bool) -> Result<Reply, CmdError> {
    let pairs = a[1..].chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(CmdError::Arity(if nx { "msetnx" } else { "mset" }.into()));
    }
    if nx {
        for k in a[1..].iter().step_by(2) {
            if x.exists(k) {
                return Ok(Reply::Int(0));
            }
        }
    }
    for kv in pairs {
        store_string(x, &kv[0], kv[1].to_vec(), -1);
        x.notify('$', "set", &kv[0]);
    }
    Ok(if nx { Reply::Int(1) } else { Reply::ok() })
}

fn mset(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    mset_generic(x, a, false)
}

fn msetnx(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    mset_generic(x, a, true)
}

// ---------------------------------------------------------------------------------------
// In-place edits and ranges
// ---------------------------------------------------------------------------------------

/// APPEND: keeps the TTL; an appended-to string becomes `raw`, a created one does not.
fn append(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (key, add) = (&a[1], &a[2]);
    let max = max_len(x);
    let len = match x.lookup_write(key) {
        Some(e) => {
            let s = as_str_mut(e)?;
            let total = s.len() + add.len();
            check_len(max, u64::try_from(total).ok())?;
            s.extend_from_slice(add);
            e.raw = true;
            total
        }
        None => {
            let e = Entry::new(Value::Str(add.to_vec().into()), x.now_ms);
            x.insert_key(key, e);
            add.len()
        }
    };
    x.touch_dirty(1);
    x.notify('$', "append", key);
    Ok(int_reply(len))
}

fn strlen(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    match x.lookup_read(&a[1]) {
        None => Ok(Reply::Int(0)),
        Some(e) => Ok(int_reply(as_str(e)?.len())),
    }
}

fn getrange(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let start = arg_i64(&a[2])?;
    let end = arg_i64(&a[3])?;
    let empty = Reply::Bulk(Bytes::new());
    match x.lookup_read(&a[1]) {
        None => Ok(empty),
        Some(e) => {
            let r = bits::getrange(as_str(e)?, start, end);
            Ok(if r.is_empty() { empty } else { Reply::bulk(r) })
        }
    }
}

/// SETRANGE: zero-pads as needed, keeps the TTL, leaves the string `raw`.
fn setrange(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (key, val) = (&a[1], &a[3]);
    let off = bits::parse_setrange_offset(&a[2])?;
    let max = max_len(x);
    // The offset as an index, once the new length is known to be allowed.
    let start = |max: u64| -> Result<usize, CmdError> {
        check_len(
            max,
            u64::try_from(val.len())
                .ok()
                .and_then(|l| l.checked_add(off)),
        )?;
        usize::try_from(off).map_err(|_| DomainError::OutOfRange(ERR_STRING_TOO_LONG).into())
    };
    let len = match x.lookup_write(key) {
        Some(e) => {
            let s = as_str_mut(e)?;
            if val.is_empty() {
                return Ok(int_reply(s.len()));
            }
            let n = bits::setrange(s, start(max)?, val);
            e.raw = true;
            n
        }
        None => {
            if val.is_empty() {
                return Ok(Reply::Int(0));
            }
            let mut s = Vec::new();
            let n = bits::setrange(&mut s, start(max)?, val);
            let mut e = Entry::new(Value::Str(s.into()), x.now_ms);
            e.raw = true;
            x.insert_key(key, e);
            n
        }
    };
    x.touch_dirty(1);
    x.notify('$', "setrange", key);
    Ok(int_reply(len))
}

// ---------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------

/// Store a counter result: replaces the value in place (keeping the TTL, clearing `raw`)
/// or creates the key.
fn store_counter(x: &mut Exec<'_>, key: &[u8], text: Vec<u8>) {
    match x.db().get_mut(key) {
        Some(e) => {
            e.value = Value::Str(text.into());
            e.raw = false;
            e.not_int = false;
        }
        None => {
            let e = Entry::new(Value::Str(text.into()), x.now_ms);
            x.insert_key(key, e);
        }
    }
    x.touch_dirty(1);
}

/// INCR/INCRBY/DECR/DECRBY after argument parsing: `delta` already negated for DECR.
fn incr_generic(x: &mut Exec<'_>, key: &[u8], delta: i64) -> Result<Reply, CmdError> {
    let n = match x.lookup_write(key) {
        Some(e) => strnum::incr_by(Some(as_str(e)?), delta)?,
        None => strnum::incr_by(None, delta)?,
    };
    store_counter(x, key, n.to_string().into_bytes());
    x.notify('$', "incrby", key);
    Ok(Reply::Int(n))
}

fn incr(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    incr_generic(x, &a[1], 1)
}

fn decr(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    incr_generic(x, &a[1], -1)
}

fn incrby(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let d = arg_i64(&a[2])?;
    incr_generic(x, &a[1], d)
}

fn decrby(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let d = arg_i64(&a[2])?;
    let d = d
        .checked_neg()
        .ok_or(DomainError::OutOfRange(ERR_DECR_OVERFLOW))?;
    incr_generic(x, &a[1], d)
}

/// INCRBYFLOAT: exact Redis long-double arithmetic; journaled as `SET k result KEEPTTL`.
fn incrbyfloat(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &a[1];
    let (_, text) = match x.lookup_write(key) {
        Some(e) => strnum::incr_by_float_raw(Some(as_str(e)?), &a[2])?,
        None => strnum::incr_by_float_raw(None, &a[2])?,
    };
    store_counter(x, key, text.clone().into_bytes());
    if let Some(e) = x.db().get_mut(key) {
        e.not_int = true;
    }
    x.notify('$', "incrbyfloat", key);
    x.journal(argv!["SET", key, text, "KEEPTTL"]);
    Ok(Reply::bulk_string(text))
}

// ---------------------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------------------

/// LCS: missing keys are empty strings; a non-string key is not WRONGTYPE but Redis's
/// own message, checked before the options.
fn lcs_cmd(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // Both keys are looked up before either's type is checked (so both count a keyspace
    // miss, and send `keymiss`, even when the other holds a list), as Redis does.
    let mut vals = [Vec::new(), Vec::new()];
    let mut wrong_type = false;
    for (i, v) in vals.iter_mut().enumerate() {
        if let Some(e) = x.lookup_read(&a[i + 1]) {
            match as_str(e) {
                Ok(s) => *v = s.clone(),
                Err(_) => wrong_type = true,
            }
        }
    }
    if wrong_type {
        return Err(CmdError::err(
            "The specified keys must contain string values",
        ));
    }
    let args: Vec<&[u8]> = a[3..].iter().map(|b| &b[..]).collect();
    let o = lcs::parse_lcs_options(&args)?;
    let [va, vb] = &vals;
    let cells = (va.len() as u128 + 1) * (vb.len() as u128 + 1) * 4;
    if cells > u128::from(max_len(x)) {
        return Err(DomainError::OutOfRange(lcs::ERR_LCS_TOO_BIG).into());
    }
    let r = lcs::lcs(va, vb)?;
    if o.len {
        return Ok(int_reply(r.len));
    }
    if !o.idx {
        return Ok(Reply::bulk(&r.lcs));
    }
    let pair = |(s, e): (usize, usize)| Reply::Array(vec![int_reply(s), int_reply(e)]);
    let matches = r
        .matches_min_len(o.min_match_len)
        .map(|m| {
            let mut v = vec![pair(m.a), pair(m.b)];
            if o.with_match_len {
                v.push(int_reply(m.len));
            }
            Reply::Array(v)
        })
        .collect();
    Ok(Reply::Map(vec![
        (Reply::bulk(b"matches"), Reply::Array(matches)),
        (Reply::bulk(b"len"), int_reply(r.len)),
    ]))
}

// ---------------------------------------------------------------------------------------
// Test support shared with `cmd::bitmap`'s tests
// ---------------------------------------------------------------------------------------

/// An in-memory server for handler tests: commands run through `dispatch::call` as the
/// internal client (id 0, authenticated), every unit's journal is kept, and
/// [`Kit::check_replay`] replays that journal into a fresh state and compares keyspaces.
#[cfg(test)]
pub(crate) mod testkit {
    use bytes::Bytes;

    use crate::cmd::{dispatch, Caller, Exec, State};
    use crate::config::Config;
    use crate::resp::Reply;

    /// An `Env` without services (the one replay uses).
    pub use crate::cmd::exec::NoEnv as TestEnv;

    /// The clock at the start of every test (2023-11-14, Unix ms).
    pub const T0: i64 = 1_700_000_000_000;

    /// One logged execution unit: (ts_ms, [(db, argv)]).
    pub type Unit = (i64, Vec<(u16, Vec<Bytes>)>);

    /// The test server.
    pub struct Kit {
        /// Engine state.
        pub st: State,
        /// The clock for the next command.
        pub now: i64,
        /// Every non-empty journal, in order.
        pub log: Vec<Unit>,
        /// The journal of the last command, each entry's argv joined by spaces.
        pub last: Vec<String>,
    }

    impl Kit {
        /// A fresh server at [`T0`].
        pub fn new() -> Kit {
            Kit {
                st: State::new(Config::for_tests(), T0),
                now: T0,
                log: Vec::new(),
                last: Vec::new(),
            }
        }

        /// Run one command given as raw arguments.
        pub fn call(&mut self, args: &[&[u8]]) -> Reply {
            let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            let mut x = Exec::new(&mut self.st, &TestEnv, 0, self.now, Caller::Client);
            let r = dispatch::call(&mut x, &argv);
            let j = std::mem::take(&mut x.journal);
            self.last = j
                .iter()
                .map(|(_, argv)| {
                    argv.iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            if !j.is_empty() {
                self.log.push((self.now, j));
            }
            // Bulks and the array it spells are the same reply on the wire (resp::reply tests).
            r.expand_bulks()
        }

        /// Run one command given as a space-separated line.
        pub fn q(&mut self, line: &str) -> Reply {
            let parts: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
            self.call(&parts)
        }

        /// Run `line` and assert its reply.
        #[track_caller]
        pub fn is(&mut self, line: &str, want: Reply) {
            let got = self.q(line);
            assert_eq!(got, want, "{line}");
        }

        /// Run `line` and assert its reply and its journal (empty = nothing logged).
        #[track_caller]
        pub fn logs(&mut self, line: &str, want: Reply, journal: &[&str]) {
            self.is(line, want);
            assert_eq!(self.last, journal, "journal of {line}");
        }

        /// Replay the whole journal into a fresh state and assert both keyspaces hold the
        /// same keys, values and expiries.
        #[track_caller]
        pub fn check_replay(&self) {
            let mut st = State::new(Config::default(), 0);
            for (ts, unit) in &self.log {
                let mut x = Exec::new(&mut st, &TestEnv, 0, *ts, Caller::Replay);
                if let Err(e) = dispatch::replay(&mut x, unit) {
                    panic!("replay failed: {e}");
                }
            }
            assert_eq!(dump(&st), dump(&self.st), "replayed keyspace differs");
        }

        /// The string stored at `key` in db 0 (None if absent).
        pub fn raw_get(&self, key: &[u8]) -> Option<Vec<u8>> {
            self.st.ks.dbs[0].get(key).map(|e| match &e.value {
                crate::db::Value::Str(s) => s.to_vec(),
                #[allow(unreachable_patterns)]
                _ => panic!("not a string"),
            })
        }

        /// The expiry of `key` in db 0 (-2 if absent).
        pub fn expire_at(&self, key: &[u8]) -> i64 {
            let d = &self.st.ks.dbs[0];
            d.get(key).map_or(-2, |e| d.expire_of(key, e))
        }

        /// OBJECT ENCODING of `key` in db 0.
        pub fn encoding(&self, key: &[u8]) -> &'static str {
            self.st.ks.dbs[0].get(key).map_or("none", |e| e.encoding())
        }
    }

    /// (db, key, value, expiry). Encodings are left out: like Redis after an AOF reload,
    /// a replayed value may report `embstr` where the live one reported `raw`.
    type Dump = Vec<(usize, Vec<u8>, String, i64)>;

    fn dump(st: &State) -> Dump {
        let mut out = Vec::new();
        for (i, db) in st.ks.dbs.iter().enumerate() {
            for (k, e) in db.dict.iter() {
                out.push((i, k.to_vec(), format!("{:?}", e.value), db.expire_of(k, e)));
            }
        }
        out.sort();
        out
    }

    /// `+OK`
    pub fn ok() -> Reply {
        Reply::ok()
    }
    /// A bulk string.
    pub fn bulk(s: &str) -> Reply {
        Reply::bulk(s.as_bytes())
    }
    /// An integer.
    pub fn int(n: i64) -> Reply {
        Reply::Int(n)
    }
    /// A null bulk string.
    pub fn nil() -> Reply {
        Reply::Null
    }
    /// An error with its full text.
    pub fn err(s: &str) -> Reply {
        Reply::Error(s.to_string())
    }
    /// An array.
    pub fn arr(v: Vec<Reply>) -> Reply {
        Reply::Array(v)
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use crate::resp::Reply;

    const SYNTAX: &str = "ERR syntax error";
    const NOT_INT: &str = "ERR value is not an integer or out of range";

    // Every expected reply below was checked against redis-server 7.0.15.

    #[test]
    fn set_option_conflicts_and_errors() {
        let mut t = Kit::new();
        t.is("set k v ex 10 px 100", err(SYNTAX));
        t.is("set k v nx xx", err(SYNTAX));
        t.is("set k v ex abc nx xx", err(SYNTAX));
        t.is("set k v ex abc", err(NOT_INT));
        t.is(
            "set k v ex 0",
            err("ERR invalid expire time in 'set' command"),
        );
        t.is(
            "set k v px -1",
            err("ERR invalid expire time in 'set' command"),
        );
        t.is(
            "set k v ex 9223372036854775",
            err("ERR invalid expire time in 'set' command"),
        );
        t.is(
            "set k v px 9223372036854775000",
            err("ERR invalid expire time in 'set' command"),
        );
        t.is("set k v keepttl ex 1", err(SYNTAX));
        t.is("set k v ex 1 keepttl", err(SYNTAX));
        t.is("set k v ex", err(SYNTAX));
        t.is("set k v persist", err(SYNTAX));
        t.is("set k v foo", err(SYNTAX));
        t.is(
            "set k",
            err("ERR wrong number of arguments for 'set' command"),
        );
        assert!(t.log.is_empty());
        t.is("set k v ex 10 ex 20", ok());
        assert_eq!(t.expire_at(b"k"), T0 + 20_000);
        t.is("set k v pxat 9223372036854775807", ok());
        assert_eq!(t.expire_at(b"k"), i64::MAX);
        t.is("set k v Get gEt", bulk("v"));
        t.check_replay();
    }

    #[test]
    fn set_journals_canonical_forms() {
        let mut t = Kit::new();
        t.logs("set k v ex 10", ok(), &["SET k v PXAT 1700000010000"]);
        t.logs("set k v2 keepttl", ok(), &["SET k v2 KEEPTTL"]);
        assert_eq!(t.expire_at(b"k"), T0 + 10_000);
        t.logs(
            "set k v3 px 1500 get",
            bulk("v2"),
            &["SET k v3 PXAT 1700000001500"],
        );
        t.logs(
            "set k v4 exat 1800000000",
            ok(),
            &["SET k v4 PXAT 1800000000000"],
        );
        t.logs(
            "set k v5 pxat 1800000000123 xx",
            ok(),
            &["SET k v5 PXAT 1800000000123"],
        );
        t.logs("set k v6 get", bulk("v5"), &["SET k v6"]);
        assert_eq!(t.expire_at(b"k"), -1);
        t.logs("set k v7 nx", nil(), &[]);
        t.logs("set k v7 nx get", bulk("v6"), &[]);
        t.logs("set k2 v xx get", nil(), &[]);
        t.logs("set k2 v xx", nil(), &[]);
        t.logs("set k2 v nx get", nil(), &["SET k2 v"]);
        t.logs("set k3 v keepttl", ok(), &["SET k3 v KEEPTTL"]);
        assert_eq!(t.expire_at(b"k3"), -1);
        t.check_replay();
    }

    #[test]
    fn set_with_past_absolute_time_stores_an_expired_key() {
        // Redis 7.0 keeps the key (DBSIZE 1) until it is touched.
        let mut t = Kit::new();
        t.logs("set k v exat 1", ok(), &["SET k v PXAT 1000"]);
        assert_eq!(t.st.ks.dbs[0].len(), 1);
        t.check_replay();
        t.logs("get k", nil(), &["DEL k"]);
        assert_eq!(t.st.ks.dbs[0].len(), 0);
        t.check_replay();
    }

    #[test]
    fn lazy_expiry_is_journaled_as_del() {
        let mut t = Kit::new();
        t.is("set k v px 100", ok());
        t.now += 50;
        t.logs("get k", bulk("v"), &[]);
        t.now += 50;
        // Redis expires a key once now > expiry, not at the exact millisecond.
        t.logs("get k", bulk("v"), &[]);
        t.now += 1;
        t.logs("get k", nil(), &["DEL k"]);
        t.is("set k v px 100", ok());
        t.now += 200;
        t.logs("append k x", int(1), &["DEL k", "append k x"]);
        assert_eq!(t.expire_at(b"k"), -1);
        t.check_replay();
    }

    #[test]
    fn setnx_setex_psetex() {
        let mut t = Kit::new();
        t.logs("setnx k v", int(1), &["SET k v"]);
        t.logs("setnx k w", int(0), &[]);
        t.is(
            "setex k 0 v",
            err("ERR invalid expire time in 'setex' command"),
        );
        t.is(
            "psetex k -5 v",
            err("ERR invalid expire time in 'psetex' command"),
        );
        t.is("setex k abc v", err(NOT_INT));
        t.is(
            "setex k 10",
            err("ERR wrong number of arguments for 'setex' command"),
        );
        t.logs("setex k 10 v2", ok(), &["SET k v2 PXAT 1700000010000"]);
        t.logs("psetex k 2500 v3", ok(), &["SET k v3 PXAT 1700000002500"]);
        t.is("get k", bulk("v3"));
        t.check_replay();
    }

    #[test]
    fn getex_variants_and_journal() {
        let mut t = Kit::new();
        t.is("getex k ex 0", nil());
        t.is("getex nokey ex abc", nil());
        t.is("set k v", ok());
        t.is(
            "getex k ex 0",
            err("ERR invalid expire time in 'getex' command"),
        );
        t.is("getex k ex abc", err(NOT_INT));
        t.is("getex k persist ex 10", err(SYNTAX));
        t.is("getex k ex 10 persist", err(SYNTAX));
        t.is("getex k nx", err(SYNTAX));
        t.is("getex k keepttl", err(SYNTAX));
        t.is("getex k get", err(SYNTAX));
        t.logs("getex k", bulk("v"), &[]);
        t.logs("getex k persist", bulk("v"), &[]);
        t.logs("getex k ex 10", bulk("v"), &["PEXPIREAT k 1700000010000"]);
        t.logs(
            "getex k px 100 px 2000",
            bulk("v"),
            &["PEXPIREAT k 1700000002000"],
        );
        assert_eq!(t.expire_at(b"k"), T0 + 2000);
        t.logs(
            "getex k exat 1800000000",
            bulk("v"),
            &["PEXPIREAT k 1800000000000"],
        );
        t.logs("getex k persist", bulk("v"), &["PERSIST k"]);
        assert_eq!(t.expire_at(b"k"), -1);
        t.logs(
            "getex k pxat 1000000000000000",
            bulk("v"),
            &["PEXPIREAT k 1000000000000000"],
        );
        t.check_replay();
        t.logs("getex k exat 1", bulk("v"), &["DEL k"]);
        assert_eq!(t.st.ks.dbs[0].len(), 0);
        t.is("set k v", ok());
        t.logs("getex k pxat 1700000000000", bulk("v"), &["DEL k"]);
        t.check_replay();
    }

    #[test]
    fn getdel_and_getset() {
        let mut t = Kit::new();
        t.logs("getdel nokey", nil(), &[]);
        t.is("set k v ex 100", ok());
        t.logs("getdel k", bulk("v"), &["DEL k"]);
        t.is("exists k", int(0));
        t.logs("getset k v", nil(), &["SET k v"]);
        t.is("pexpire k 100000", int(1));
        t.logs("getset k 1", bulk("v"), &["SET k 1"]);
        assert_eq!(t.expire_at(b"k"), -1);
        assert_eq!(t.encoding(b"k"), "int");
        t.check_replay();
    }

    #[test]
    fn mget_mset_msetnx() {
        let mut t = Kit::new();
        t.is(
            "mset a",
            err("ERR wrong number of arguments for 'mset' command"),
        );
        t.is(
            "mset a 1 b",
            err("ERR wrong number of arguments for 'mset' command"),
        );
        t.is(
            "msetnx a 1 b",
            err("ERR wrong number of arguments for 'msetnx' command"),
        );
        t.is("set a 1 ex 100", ok());
        t.logs("mset a 2 b 3 a 4", ok(), &["mset a 2 b 3 a 4"]);
        assert_eq!(t.expire_at(b"a"), -1);
        t.is("mget a b nokey", arr(vec![bulk("4"), bulk("3"), nil()]));
        t.logs("msetnx x 1 y 2", int(1), &["msetnx x 1 y 2"]);
        t.logs("msetnx x 1 z 2", int(0), &[]);
        t.is("exists z", int(0));
        t.check_replay();
    }

    #[test]
    fn append_and_strlen() {
        let mut t = Kit::new();
        t.is("strlen nokey", int(0));
        t.logs(
            "append new",
            err("ERR wrong number of arguments for 'append' command"),
            &[],
        );
        t.call(&[b"append", b"new", b""]);
        assert_eq!(t.raw_get(b"new"), Some(vec![]));
        assert_eq!(t.encoding(b"new"), "embstr");
        t.is("append num 123", int(3));
        assert_eq!(t.encoding(b"num"), "int");
        t.is("incr num", int(124));
        t.is("set x abc ex 100", ok());
        t.logs("append x def", int(6), &["append x def"]);
        assert_eq!(t.expire_at(b"x"), T0 + 100_000);
        assert_eq!(t.encoding(b"x"), "raw");
        t.is("strlen x", int(6));
        t.is("get x", bulk("abcdef"));
        t.st.config.proto_max_bulk_len = 8;
        t.is(
            "append x 123",
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
        );
        t.is("append x 12", int(8));
        t.check_replay();
    }

    #[test]
    fn getrange_and_substr() {
        let mut t = Kit::new();
        t.call(&[b"set", b"s", b"Hello World"]);
        t.is("getrange s 0 -1", bulk("Hello World"));
        t.is("getrange s -3 -5", bulk(""));
        t.is("getrange s 5 2", bulk(""));
        t.is("getrange s -100 100", bulk("Hello World"));
        t.is("getrange s -5 -1", bulk("World"));
        t.is("getrange s 100 200", bulk(""));
        t.is("getrange s abc 1", err(NOT_INT));
        t.is("getrange nokey 0 abc", err(NOT_INT));
        t.is("getrange nokey 0 1", bulk(""));
        t.is("substr s 0 4", bulk("Hello"));
        t.is("set i 12345", ok());
        t.is("getrange i 1 2", bulk("23"));
        t.check_replay();
    }

    #[test]
    fn setrange_semantics() {
        let mut t = Kit::new();
        t.is("setrange s -1 x", err("ERR offset is out of range"));
        t.is("setrange s abc x", err(NOT_INT));
        t.call(&[b"setrange", b"nk", b"0", b""]);
        t.is("exists nk", int(0));
        t.logs("setrange nk 3 ab", int(5), &["setrange nk 3 ab"]);
        assert_eq!(t.raw_get(b"nk"), Some(b"\0\0\0ab".to_vec()));
        assert_eq!(t.encoding(b"nk"), "raw");
        t.call(&[b"set", b"s", b"Hello World"]);
        t.is("expire s 100", int(1));
        assert_eq!(t.call(&[b"setrange", b"s", b"0", b""]), int(11));
        assert!(t.last.is_empty());
        t.logs("setrange s 6 Redis", int(11), &["setrange s 6 Redis"]);
        t.is("get s", bulk("Hello Redis"));
        t.is("setrange s 13 !", int(14));
        assert_eq!(t.raw_get(b"s"), Some(b"Hello Redis\0\0!".to_vec()));
        assert_eq!(t.expire_at(b"s"), T0 + 100_000);
        t.st.config.proto_max_bulk_len = 20;
        t.is("setrange s 19 x", int(20));
        let too_long = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
        t.is("setrange s 20 x", err(too_long));
        t.is("setrange big 19 xy", err(too_long));
        t.is("setrange s 9223372036854775807 x", err(too_long));
        t.check_replay();
    }

    #[test]
    fn incr_family() {
        let mut t = Kit::new();
        for bad in [" 1", "01", "+1", "1.5", "abc"] {
            t.call(&[b"set", b"n", bad.as_bytes()]);
            t.is("incr n", err(NOT_INT));
        }
        t.is("set n 9223372036854775807", ok());
        t.is("incr n", err("ERR increment or decrement would overflow"));
        t.is(
            "decrby n -9223372036854775808",
            err("ERR decrement would overflow"),
        );
        t.is("set n -9223372036854775808", ok());
        t.is("decr n", err("ERR increment or decrement would overflow"));
        t.is("incrby n abc", err(NOT_INT));
        t.is("incrby nn 1.0", err(NOT_INT));
        t.is("set n 10 ex 100", ok());
        t.logs("incr n", int(11), &["incr n"]);
        t.logs("incrby n 5", int(16), &["incrby n 5"]);
        t.logs("decr n", int(15), &["decr n"]);
        t.logs("decrby n 20", int(-5), &["decrby n 20"]);
        assert_eq!(t.expire_at(b"n"), T0 + 100_000);
        assert_eq!(t.encoding(b"n"), "int");
        t.is("decr fresh", int(-1));
        t.is("incrby fresh2 -9223372036854775808", int(i64::MIN));
        t.is("append n 0", int(3));
        assert_eq!(t.encoding(b"n"), "raw");
        t.is("incr n", int(-49));
        assert_eq!(t.encoding(b"n"), "int");
        t.check_replay();
    }

    #[test]
    fn incrbyfloat_values_and_journal() {
        let mut t = Kit::new();
        t.is("set f 1.5 ex 100", ok());
        t.is("incr f", err(NOT_INT));
        t.logs("incrbyfloat f 0.1", bulk("1.6"), &["SET f 1.6 KEEPTTL"]);
        assert_eq!(t.expire_at(b"f"), T0 + 100_000);
        t.logs(
            "incrbyfloat f abc",
            err("ERR value is not a valid float"),
            &[],
        );
        t.is(
            "incrbyfloat f inf",
            err("ERR increment would produce NaN or Infinity"),
        );
        t.is("incrbyfloat g 5.0e3", bulk("5000"));
        t.is("incrbyfloat g -5000", bulk("0"));
        t.is("set h 10.5", ok());
        t.is("incrbyfloat h 0x10", bulk("26.5"));
        t.is("incrbyfloat h 3.0e3", bulk("3026.5"));
        t.logs(
            "incrbyfloat h 1.1234567890123456789",
            bulk("3027.62345678901234569"),
            &["SET h 3027.62345678901234569 KEEPTTL"],
        );
        t.call(&[b"set", b"sp", b"1.0 "]);
        t.is("incrbyfloat sp 1", err("ERR value is not a valid float"));
        let Reply::Bulk(b) = t.q("incrbyfloat big 1e400") else {
            panic!("bulk expected")
        };
        assert!(b.starts_with(b"1000000000000000000028188068394758651458645343362905203862591"));
        t.check_replay();
    }

    #[test]
    fn lcs_replies() {
        let mut t = Kit::new();
        t.is("mset key1 ohmytext key2 mynewtext", ok());
        t.is("lcs key1 key2", bulk("mytext"));
        t.is("lcs key1 key2 len", int(6));
        let m = |a: (i64, i64), b: (i64, i64), len: Option<i64>| {
            let mut v = vec![arr(vec![int(a.0), int(a.1)]), arr(vec![int(b.0), int(b.1)])];
            v.extend(len.map(int));
            arr(v)
        };
        let idx = |matches: Vec<Reply>, len: i64| {
            Reply::Map(vec![
                (bulk("matches"), arr(matches)),
                (bulk("len"), int(len)),
            ])
        };
        t.is(
            "lcs key1 key2 idx",
            idx(vec![m((4, 7), (5, 8), None), m((2, 3), (0, 1), None)], 6),
        );
        t.is(
            "lcs key1 key2 idx minmatchlen 4 withmatchlen",
            idx(vec![m((4, 7), (5, 8), Some(4))], 6),
        );
        t.is(
            "lcs key1 key2 minmatchlen -5 IDX",
            idx(vec![m((4, 7), (5, 8), None), m((2, 3), (0, 1), None)], 6),
        );
        t.is("lcs key1 key2 minmatchlen 3", bulk("mytext"));
        t.is("lcs key1 key2 len withmatchlen minmatchlen 3", int(6));
        let both = "ERR If you want both the length and indexes, please just use IDX.";
        t.is("lcs key1 key2 idx len", err(both));
        t.is("lcs key1 key2 foo", err(SYNTAX));
        t.is("lcs key1 key2 idx len foo", err(SYNTAX));
        t.is("lcs key1 key2 minmatchlen", err(SYNTAX));
        t.is("lcs key1 key2 minmatchlen abc", err(NOT_INT));
        t.is("lcs n1 n2", bulk(""));
        t.is("lcs n1 n2 idx", idx(vec![], 0));
        // proto-max-bulk-len bounds the (len+1)^2 * 4 table Redis would allocate.
        t.st.config.proto_max_bulk_len = 1_048_576;
        let a = "a".repeat(600);
        t.call(&[b"set", b"la", a.as_bytes()]);
        t.call(&[b"set", b"lb", a.as_bytes()]);
        t.call(&[b"set", b"lc", b"aaaaaaaaaaaaa"]);
        t.is(
            "lcs la lb len",
            err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"),
        );
        t.is("lcs la lc len", int(13));
        let lcs_logged = t
            .log
            .iter()
            .flat_map(|(_, u)| u)
            .any(|(_, argv)| argv[0].eq_ignore_ascii_case(b"lcs"));
        assert!(!lcs_logged);
    }

    #[test]
    fn command_table_entries() {
        let c = crate::cmd::COMMANDS.get(b"lcs").expect("registered");
        assert_eq!(
            (c.arity, c.keys.first, c.keys.last, c.keys.step),
            (-3, 1, 2, 1)
        );
        let c = crate::cmd::COMMANDS.get(b"mset").expect("registered");
        assert_eq!(
            (c.arity, c.keys.first, c.keys.last, c.keys.step),
            (-3, 1, -1, 2)
        );
        for name in [
            "get",
            "set",
            "setnx",
            "setex",
            "psetex",
            "getex",
            "getdel",
            "getset",
            "mget",
            "mset",
            "msetnx",
            "append",
            "strlen",
            "getrange",
            "substr",
            "setrange",
            "incr",
            "incrby",
            "decr",
            "decrby",
            "incrbyfloat",
            "lcs",
        ] {
            let c = crate::cmd::COMMANDS.get(name.as_bytes()).expect(name);
            assert_eq!(c.group.name(), "string", "{name}");
            assert!(!c.summary.is_empty(), "{name}");
        }
    }

    #[test]
    fn journal_carries_the_selected_db() {
        let mut t = Kit::new();
        t.is("select 1", ok());
        t.logs("set k v ex 10", ok(), &["SET k v PXAT 1700000010000"]);
        t.logs("incrbyfloat f 2.5", bulk("2.5"), &["SET f 2.5 KEEPTTL"]);
        t.logs("getex k persist", bulk("v"), &["PERSIST k"]);
        t.logs("setbit b 1 1", int(0), &["setbit b 1 1"]);
        assert!(t.log.iter().all(|(_, u)| u.iter().all(|(db, _)| *db == 1)));
        assert!(t.st.ks.dbs[0].is_empty());
        assert_eq!(t.st.ks.dbs[1].len(), 3);
        t.check_replay();
    }
}
