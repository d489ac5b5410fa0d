//! Generic key commands and the database commands: DEL UNLINK EXISTS TYPE KEYS SCAN
//! RANDOMKEY RENAME RENAMENX COPY MOVE TOUCH OBJECT, the expiry family (EXPIRE PEXPIRE
//! EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST), and SWAPDB DBSIZE FLUSHDB
//! FLUSHALL (SELECT lives in `server`). Handlers follow Redis 7.0's `db.c`/`expire.c`
//! rules and texts. Journaling: the EXPIRE family logs its effect itself, as a canonical
//! `PEXPIREAT key <abs ms>` or, when the time is already past, `DEL key`; every other
//! write here is deterministic given the state and is logged verbatim by the dispatcher.
//! Lazy expiry goes through `Exec`, which journals its own `DEL`s, so replay never needs
//! the clock. Values are copied or moved whole; only OBJECT looks inside one (to tell a
//! shared integer), and type-specific semantics stay in `db/`.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::exec::{arg_i64, is, lossy, Caller, Exec};
use super::{cmd, container, CmdError, CommandSpec, Flags, Group, Handler, Journal};
use crate::argv;
use crate::db::value::secs;
use crate::db::{Entry, Value};
use crate::glob::glob_match;
use crate::resp::Reply;

/// Register the generic key commands and the database commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Generic;
    let (w, r, f) = (F::WRITE, F::READONLY, F::FAST);
    t.push(
        cmd("del", -2, w, del)
            .keys(1, -1, 1)
            .group(g)
            .doc("Delete a key", "1.0.0"),
    );
    t.push(
        cmd("unlink", -2, w | f, del)
            .keys(1, -1, 1)
            .group(g)
            .doc("Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", "4.0.0"),
    );
    t.push(
        cmd("exists", -2, r | f, exists)
            .keys(1, -1, 1)
            .group(g)
            .doc("Determine if a key exists", "1.0.0"),
    );
    t.push(
        cmd("type", 2, r | f, type_)
            .keys(1, 1, 1)
            .group(g)
            .doc("Determine the type stored at key", "1.0.0"),
    );
    t.push(
        cmd("keys", 2, r, keys)
            .group(g)
            .acl(&["keyspace", "dangerous"])
            .doc("Find all keys matching the given pattern", "1.0.0"),
    );
    t.push(
        cmd("scan", -2, r, scan)
            .group(g)
            .doc("Incrementally iterate the keys space", "2.8.0"),
    );
    t.push(
        cmd("randomkey", 1, r, randomkey)
            .group(g)
            .doc("Return a random key from the keyspace", "1.0.0"),
    );
    t.push(
        cmd("rename", 3, w, rename)
            .keys(1, 2, 1)
            .group(g)
            .doc("Rename a key", "1.0.0"),
    );
    t.push(
        cmd("renamenx", 3, w | f, renamenx)
            .keys(1, 2, 1)
            .group(g)
            .doc("Rename a key, only if the new key does not exist", "1.0.0"),
    );
    t.push(
        cmd("copy", -3, w | F::DENYOOM, copy)
            .keys(1, 2, 1)
            .group(g)
            .doc("Copy a key", "6.2.0"),
    );
    t.push(
        cmd("move", 3, w | f, move_)
            .keys(1, 1, 1)
            .group(g)
            .doc("Move a key to another database", "1.0.0"),
    );
    t.push(cmd("touch", -2, r | f, touch).keys(1, -1, 1).group(g).doc(
        "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        "3.2.1",
    ));
    let object_subs = vec![
        cmd("encoding", 3, r, object_encoding)
            .keys(2, 2, 1)
            .group(g)
            .doc("Inspect the internal encoding of a Redis object", "2.2.3"),
        cmd("freq", 3, r, object_freq).keys(2, 2, 1).group(g).doc(
            "Get the logarithmic access frequency counter of a Redis object",
            "4.0.0",
        ),
        cmd("idletime", 3, r, object_idletime)
            .keys(2, 2, 1)
            .group(g)
            .doc(
                "Get the time since a Redis object was last accessed",
                "2.2.3",
            ),
        cmd("refcount", 3, r, object_refcount)
            .keys(2, 2, 1)
            .group(g)
            .doc(
                "Get the number of references to the value of the key",
                "2.2.3",
            ),
        cmd("help", 2, F::LOADING | F::STALE, object_help)
            .group(g)
            .doc("Show helpful text about the different subcommands", "6.2.0"),
    ];
    t.push(
        container("object", -2, F::empty(), object_subs)
            .group(g)
            .doc("A container for object introspection commands", "2.2.3"),
    );
    let expire_doc: [(&'static str, &'static str, Handler, &'static str); 4] = [
        (
            "expire",
            "Set a key's time to live in seconds",
            expire,
            "1.0.0",
        ),
        (
            "pexpire",
            "Set a key's time to live in milliseconds",
            pexpire,
            "2.6.0",
        ),
        (
            "expireat",
            "Set the expiration for a key as a UNIX timestamp",
            expireat,
            "1.2.0",
        ),
        (
            "pexpireat",
            "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
            pexpireat,
            "2.6.0",
        ),
    ];
    for (name, summary, h, since) in expire_doc {
        t.push(
            cmd(name, -3, w | f, h)
                .keys(1, 1, 1)
                .group(g)
                .journal(Journal::Custom)
                .doc(summary, since),
        );
    }
    t.push(
        cmd("ttl", 2, r | f, ttl)
            .keys(1, 1, 1)
            .group(g)
            .doc("Get the time to live for a key in seconds", "1.0.0"),
    );
    t.push(
        cmd("pttl", 2, r | f, pttl)
            .keys(1, 1, 1)
            .group(g)
            .doc("Get the time to live for a key in milliseconds", "2.6.0"),
    );
    t.push(
        cmd("expiretime", 2, r | f, expiretime)
            .keys(1, 1, 1)
            .group(g)
            .doc("Get the expiration Unix timestamp for a key", "7.0.0"),
    );
    t.push(
        cmd("pexpiretime", 2, r | f, pexpiretime)
            .keys(1, 1, 1)
            .group(g)
            .doc(
                "Get the expiration Unix timestamp for a key in milliseconds",
                "7.0.0",
            ),
    );
    t.push(
        cmd("persist", 2, w | f, persist)
            .keys(1, 1, 1)
            .group(g)
            .doc("Remove the expiration from a key", "2.2.0"),
    );
    let s = Group::Server;
    t.push(
        cmd("swapdb", 3, w | f, swapdb)
            .group(s)
            .acl(&["keyspace", "dangerous"])
            .doc("Swaps two Redis databases", "4.0.0"),
    );
    t.push(
        cmd("dbsize", 1, r | f, dbsize)
            .group(s)
            .acl(&["keyspace"])
            .doc(
                "Return the number of keys in the selected database",
                "1.0.0",
            ),
    );
    t.push(
        cmd("flushdb", -1, w, flushdb)
            .group(s)
            .acl(&["keyspace", "dangerous"])
            .doc("Remove all keys from the current database", "1.0.0"),
    );
    t.push(
        cmd("flushall", -1, w, flushall)
            .group(s)
            .acl(&["keyspace", "dangerous"])
            .doc("Remove all keys from all databases", "1.0.0"),
    );
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// An integer reply from a count.
fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `ERR source and destination objects are the same`.
fn same_object() -> CmdError {
    CmdError::err("source and destination objects are the same")
}

/// A DB-index argument, as Redis's `getIntFromObjectOrReply` + `selectDb` check it.
fn db_index(x: &Exec<'_>, b: &[u8]) -> Result<usize, CmdError> {
    let v = arg_i64(b)?;
    if v < i64::from(i32::MIN) || v > i64::from(i32::MAX) {
        return Err(CmdError::err(
            "value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    usize::try_from(v)
        .ok()
        .filter(|&i| i < x.st.ks.dbs.len())
        .ok_or_else(|| CmdError::err("DB index is out of range"))
}

/// Redis's `lookupKeyReadWithFlags(LOOKUP_NOTOUCH)`: expire if due, count a keyspace hit
/// or miss (a miss sends `keymiss`), leave the access time alone.
fn read_notouch<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Option<&'x Entry> {
    lookup_notouch(x, key, true)
}

/// Redis's `objectCommandLookup` (OBJECT's subcommands): as `read_notouch`, but a miss
/// sends no `keymiss` event (`LOOKUP_NONOTIFY`); it is still counted.
fn object_lookup<'x>(x: &'x mut Exec<'_>, key: &[u8]) -> Option<&'x Entry> {
    lookup_notouch(x, key, false)
}

fn lookup_notouch<'x>(x: &'x mut Exec<'_>, key: &[u8], notify: bool) -> Option<&'x Entry> {
    let db = x.db;
    if x.expire_if_needed_in(db, key) || x.st.ks.dbs[db].get(key).is_none() {
        x.st.stats.keyspace_misses += 1;
        if notify {
            x.notify('m', "keymiss", key);
        }
        return None;
    }
    x.st.stats.keyspace_hits += 1;
    x.st.ks.dbs[db].get(key)
}

/// The SCAN cursor as C's `strtoul(s, &end, 10)` reads it, with Redis's checks: no leading
/// space, nothing after the digits, no overflow. Like `strtoul`, a leading `-` negates
/// modulo 2^64 and an empty string is 0; the argument ends at a NUL byte (a C string).
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let bad = || CmdError::err("invalid cursor");
    let b = arg.iter().position(|&c| c == 0).map_or(arg, |n| &arg[..n]);
    if b.first()
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        return Err(bad());
    }
    if b.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// One 64-bit random number (splitmix64 over a shared counter): RANDOMKEY needs no
/// reproducibility, only a fair spread.
fn rand64(salt: u64) -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15)
        ^ salt;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------
// DEL UNLINK EXISTS TYPE TOUCH DBSIZE
// ---------------------------------------------------------------------------------------

fn del(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let db = x.db;
    // UNLINK, or DEL under lazyfree-lazy-user-del, as Redis.
    let unlink = is(&a[0], "unlink") || x.st.config.lazyfree_lazy_user_del;
    let mut n = 0;
    for k in &a[1..] {
        x.expire_if_needed_in(db, k);
        if let Some(e) = x.db().remove(k) {
            if unlink {
                // Big values are freed off the engine lock, as Redis's lazyfree.
                x.st.lazyfree.free(e);
            }
            x.notify('g', "del", k);
            n += 1;
        }
    }
    x.touch_dirty(n);
    Ok(int(n))
}

fn exists(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut n = 0;
    for k in &a[1..] {
        if read_notouch(x, k).is_some() {
            n += 1;
        }
    }
    Ok(int(n))
}

fn type_(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let name = read_notouch(x, &a[1]).map_or("none", |e| e.value.type_name());
    Ok(Reply::Simple(name.into()))
}

fn touch(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // TOUCH records the access even for a CLIENT NO-TOUCH client, as in Redis.
    let no_touch = x.no_touch();
    let mut n = 0;
    for k in &a[1..] {
        if x.lookup_read(k).is_some() {
            if no_touch {
                let db = x.db;
                x.touch_key_in(db, k);
            }
            n += 1;
        }
    }
    Ok(int(n))
}

fn dbsize(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(int(x.db().len() as u64))
}

// ---------------------------------------------------------------------------------------
// KEYS SCAN RANDOMKEY
// ---------------------------------------------------------------------------------------

fn keys(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let pat = &a[1][..];
    let all = pat == b"*";
    let now = x.now_ms;
    // Like Redis, KEYS hides expired keys but does not delete them.
    let db = x.db();
    let out = db
        .dict
        .iter()
        .filter(|(k, e)| (all || glob_match(pat, k, false)) && !db.entry_expired(k, e, now))
        .map(|(k, _)| Reply::bulk(k))
        .collect();
    Ok(Reply::Array(out))
}

/// The options of SCAN and the type scans (HSCAN, SSCAN, ZSCAN).
pub struct ScanOptions<'a> {
    /// COUNT (default 10): a hint for the work done per call.
    pub count: usize,
    /// MATCH pattern; `None` also for `*`, which matches everything.
    pub pattern: Option<&'a [u8]>,
    /// TYPE filter (SCAN only).
    pub typename: Option<&'a [u8]>,
}

/// Parse `[MATCH pattern] [COUNT count] [TYPE type]` from `a[from..]` with Redis's errors
/// (COUNT < 1 and unknown or incomplete options are syntax errors; TYPE only if `with_type`).
pub fn parse_scan_options(
    a: &[Bytes],
    from: usize,
    with_type: bool,
) -> Result<ScanOptions<'_>, CmdError> {
    let mut o = ScanOptions {
        count: 10,
        pattern: None,
        typename: None,
    };
    let mut i = from;
    while i < a.len() {
        let more = i + 1 < a.len();
        if is(&a[i], "count") && more {
            let n = arg_i64(&a[i + 1])?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&a[i], "match") && more {
            o.pattern = Some(&a[i + 1][..]).filter(|p| *p != b"*");
        } else if with_type && is(&a[i], "type") && more {
            o.typename = Some(&a[i + 1][..]);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(o)
}

fn scan(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut cursor = parse_cursor(&a[1])?;
    let ScanOptions {
        count,
        pattern,
        typename,
    } = parse_scan_options(a, 2, true)?;
    // COUNT is a hint for the work done: step over buckets until at least COUNT keys were
    // examined, the scan completes, or 10×COUNT buckets were visited (a sparse table).
    let want = count;
    let mut budget = want.saturating_mul(10);
    let mut found: Vec<Bytes> = Vec::new();
    let dict = &x.st.ks.dbs[x.db].dict;
    loop {
        cursor = dict.scan_step(cursor, |k, _| found.push(Bytes::copy_from_slice(k)));
        if cursor == 0 || budget == 0 || found.len() >= want {
            break;
        }
        budget -= 1;
    }
    let db = x.db;
    let mut out = Vec::with_capacity(found.len());
    for k in found {
        if pattern.is_some_and(|p| !glob_match(p, &k, false)) {
            continue;
        }
        if let Some(t) = typename {
            let name = read_notouch(x, &k).map_or("none", |e| e.value.type_name());
            if !name.as_bytes().eq_ignore_ascii_case(t) {
                continue;
            }
        }
        if x.expire_if_needed_in(db, &k) {
            continue;
        }
        out.push(Reply::Bulk(k));
    }
    Ok(Reply::Array(vec![
        Reply::bulk_string(cursor.to_string()),
        Reply::Array(out),
    ]))
}

fn randomkey(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let db = x.db;
    let salt = u64::try_from(x.now_ms).unwrap_or(0);
    // Expired picks are deleted (and journaled) and another key is drawn, so the loop
    // ends: each round either returns or shrinks the database. Where expiry is not
    // allowed (replay) an expired pick is retried a bounded number of times and then
    // returned, as Redis does on a replica.
    let mut tries = 100;
    loop {
        let now = x.now_ms;
        let d = &x.st.ks.dbs[db];
        let pick = d
            .dict
            .random_entry(|| rand64(salt))
            .map(|(k, e)| (Bytes::copy_from_slice(k), d.entry_expired(k, e, now)));
        let Some((key, expired)) = pick else {
            return Ok(Reply::Null);
        };
        if expired {
            // (While expiry is paused the key stays: retried a bounded number of times
            // too, where redis-server 7.0 would loop for ever.)
            if x.expire_if_needed_in(db, &key) && !x.expiry_paused() {
                continue;
            }
            tries -= 1;
            if tries > 0 {
                continue;
            }
        }
        return Ok(Reply::Bulk(key));
    }
}

// ---------------------------------------------------------------------------------------
// RENAME RENAMENX COPY MOVE SWAPDB FLUSHDB FLUSHALL
// ---------------------------------------------------------------------------------------

fn rename(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    rename_generic(x, a, false)
}

fn renamenx(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    rename_generic(x, a, true)
}

fn rename_generic(x: &mut Exec<'_>, a: &[Bytes], nx: bool) -> Result<Reply, CmdError> {
    let (src, dst) = (&a[1], &a[2]);
    if x.lookup_write(src).is_none() {
        return Err(CmdError::err("no such key"));
    }
    let done = |changed: bool| {
        if nx {
            Reply::Int(i64::from(changed))
        } else {
            Reply::ok()
        }
    };
    if src == dst {
        return Ok(done(false));
    }
    if x.lookup_write(dst).is_some() && nx {
        return Ok(Reply::Int(0));
    }
    // The entry moves whole: value, TTL and access time go with it.
    let Some((e, at)) = x.db().remove_expiring(src) else {
        return Err(CmdError::err("no such key"));
    };
    // Redis deletes the destination and adds the key anew: `new` fires either way.
    x.db().insert_expiring(dst, e, at);
    x.notify('n', "new", dst);
    x.touch_dirty(1);
    x.notify('g', "rename_from", src);
    x.notify('g', "rename_to", dst);
    Ok(done(true))
}

fn copy(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut dst_db = x.db;
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "db") && j + 1 < a.len() {
            dst_db = db_index(x, &a[j + 1])?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let (src, dst) = (&a[1], &a[2]);
    if dst_db == x.db && src == dst {
        return Err(same_object());
    }
    let Some(e) = x.lookup_read(src).cloned() else {
        return Ok(Reply::Int(0));
    };
    let at = x.db().expire_at(src);
    if x.lookup_write_in(dst_db, dst).is_some() && !replace {
        return Ok(Reply::Int(0));
    }
    // A fresh object with the source's value and TTL (Redis duplicates the value).
    let mut e = e;
    e.access_s = secs(x.now_ms);
    x.st.ks.dbs[dst_db].insert_expiring(dst, e, at);
    x.notify_in(dst_db, 'n', "new", dst);
    x.touch_dirty(1);
    x.notify_in(dst_db, 'g', "copy_to", dst);
    Ok(Reply::Int(1))
}

fn move_(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let dst_db = db_index(x, &a[2])?;
    if dst_db == x.db {
        return Err(same_object());
    }
    let key = &a[1];
    if x.lookup_write(key).is_none() || x.lookup_write_in(dst_db, key).is_some() {
        return Ok(Reply::Int(0));
    }
    let Some((e, at)) = x.db().remove_expiring(key) else {
        return Ok(Reply::Int(0));
    };
    x.insert_key_in(dst_db, key, e, at);
    x.touch_dirty(1);
    x.notify('g', "move_from", key);
    x.notify_in(dst_db, 'g', "move_to", key);
    Ok(Reply::Int(1))
}

fn swapdb(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // (Indexes are read as ints: one past i32 is as invalid as one that is not a number.)
    let int = |b: &[u8]| arg_i64(b).ok().filter(|v| i32::try_from(*v).is_ok());
    let id1 = int(&a[1]).ok_or_else(|| CmdError::err("invalid first DB index"))?;
    let id2 = int(&a[2]).ok_or_else(|| CmdError::err("invalid second DB index"))?;
    let n = x.st.ks.dbs.len();
    let index = |v: i64| usize::try_from(v).ok().filter(|&i| i < n);
    let (Some(i1), Some(i2)) = (index(id1), index(id2)) else {
        return Err(CmdError::err("DB index is out of range"));
    };
    // Whole databases swap (keys, TTLs and the expire cursor); clients stay on their index.
    // A watched key that exists on either side changes meaning: its WATCH breaks.
    x.st.touch_watched_existing(i1, Some(i2));
    x.st.touch_watched_existing(i2, Some(i1));
    x.st.ks.dbs.swap(i1, i2);
    super::stream::unblock_group_readers(x.st, i1);
    super::stream::unblock_group_readers(x.st, i2);
    x.touch_dirty(1);
    Ok(Reply::ok())
}

/// FLUSHDB/FLUSHALL take one optional `ASYNC` or `SYNC`; without it,
/// `lazyfree-lazy-user-flush` decides. True: free the old keys in the background.
fn flush_async(x: &Exec<'_>, a: &[Bytes]) -> Result<bool, CmdError> {
    match a {
        [_] => Ok(x.st.config.get("lazyfree-lazy-user-flush").as_deref() == Some("yes")),
        [_, o] if is(o, "sync") => Ok(false),
        [_, o] if is(o, "async") => Ok(true),
        _ => Err(CmdError::Syntax),
    }
}

/// Empty database `db`: its old keys are freed here, or (`lazy`) on the lazyfree thread,
/// counted as Redis counts them (one object per key). Returns how many keys it held.
fn flush_one(x: &mut Exec<'_>, db: usize, lazy: bool) -> u64 {
    let d = &mut x.st.ks.dbs[db];
    let n = d.len() as u64;
    if let Some(old) = d.clear() {
        if lazy && n > 0 {
            x.st.lazyfree.free_objects(Box::new(old), n);
        }
    }
    n
}

fn flushdb(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let lazy = flush_async(x, a)?;
    let db = x.db;
    x.st.touch_watched_existing(db, None);
    let n = flush_one(x, db, lazy);
    super::stream::unblock_group_readers(x.st, db);
    x.touch_dirty(n);
    if n == 0 {
        // Redis propagates a FLUSHDB of an empty database too (forceCommandPropagation).
        x.journal(a.to_vec());
    }
    Ok(Reply::ok())
}

fn flushall(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let lazy = flush_async(x, a)?;
    let mut n = 0;
    for db in 0..x.st.ks.dbs.len() {
        x.st.touch_watched_existing(db, None);
    }
    for db in 0..x.st.ks.dbs.len() {
        n += flush_one(x, db, lazy);
    }
    for db in 0..x.st.ks.dbs.len() {
        super::stream::unblock_group_readers(x.st, db);
    }
    x.touch_dirty(n);
    if n == 0 {
        // Redis propagates a FLUSHALL of an empty dataset too (forceCommandPropagation).
        x.journal(a.to_vec());
    }
    let save_points = x.st.config.get("save").is_some_and(|v| !v.is_empty());
    let alone = x.depth <= 1 && !x.in_exec && !x.in_script;
    if save_points && alone && x.caller != super::exec::Caller::Replay {
        // With save points, Redis saves the emptied dataset at once (the changes since
        // the last save are then none). Not inside EXEC or a script: the snapshot would
        // hold half of a unit the log has not recorded yet (a crash then would keep half
        // of it). Not while a snapshot runs: it finishes on the flushed tables, and a
        // later one saves this.
        if x.env
            .snapshot(x.st, super::exec::SnapshotRequest::Save)
            .is_ok()
        {
            x.st.dirty = 0;
        }
    }
    Ok(Reply::ok())
}

// ---------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------

/// Redis's `OBJ_SHARED_REFCOUNT`: what OBJECT REFCOUNT says for a shared integer.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn policy(x: &Exec<'_>) -> String {
    x.st.config.get("maxmemory-policy").unwrap_or_default()
}

fn object_encoding(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(object_lookup(x, &a[2]).map_or(Reply::Null, |e| Reply::bulk(e.encoding().as_bytes())))
}

fn object_refcount(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // Redis shares the integers 0..9999 unless maxmemory is set with an LRU/LFU policy.
    let maxmemory =
        x.st.config
            .get("maxmemory")
            .and_then(|m| m.parse::<u64>().ok())
            .unwrap_or(0);
    let p = policy(x);
    let sharing = maxmemory == 0 || !(p.contains("lru") || p.contains("lfu"));
    let Some(e) = object_lookup(x, &a[2]) else {
        return Ok(Reply::Null);
    };
    Ok(Reply::Int(if sharing && is_shared_integer(e) {
        SHARED_REFCOUNT
    } else {
        1
    }))
}

/// True for a string Redis would store as one of its shared integers 0..9999.
#[allow(
    irrefutable_let_patterns,
    reason = "Value gains variants as types are added"
)]
fn is_shared_integer(e: &Entry) -> bool {
    if let Value::Str(s) = &e.value {
        e.encoding() == "int"
            && crate::db::strnum::parse_i64(s).is_some_and(|v| (0..10_000).contains(&v))
    } else {
        false
    }
}

fn object_idletime(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    use crate::db::evict;
    let lfu = x.st.config.maxmemory_policy.is_lfu();
    let now = x.now_ms;
    let Some(e) = object_lookup(x, &a[2]) else {
        return Ok(Reply::Null);
    };
    if lfu {
        return Err(CmdError::err("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let idle = evict::idle_ms(evict::lru_field(e.access_s, false), now) / 1000;
    Ok(Reply::Int(i64::try_from(idle).unwrap_or(i64::MAX)))
}

fn object_freq(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    use crate::db::evict;
    let lfu = x.st.config.maxmemory_policy.is_lfu();
    let decay = x.st.config.lfu_decay_time;
    let now = x.now_ms;
    let Some(e) = object_lookup(x, &a[2]) else {
        return Ok(Reply::Null);
    };
    if !lfu {
        return Err(CmdError::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let lru = evict::lru_field(e.access_s, true);
    Ok(Reply::Int(i64::from(evict::lfu_decr_and_return(
        lru, now, decay,
    ))))
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

fn object_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        OBJECT_HELP
            .iter()
            .map(|l| Reply::Simple((*l).into()))
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------
// EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST
// ---------------------------------------------------------------------------------------

fn expire(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    expire_generic(x, a, true, true, "expire")
}

fn pexpire(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    expire_generic(x, a, true, false, "pexpire")
}

fn expireat(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    expire_generic(x, a, false, true, "expireat")
}

fn pexpireat(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    expire_generic(x, a, false, false, "pexpireat")
}

/// Redis's `expireGenericCommand`: options first, then the time (relative to now when
/// `relative`, in seconds when `seconds`), then the key. A time not in the future deletes
/// the key (journaled as `DEL`); otherwise the TTL is set and journaled as
/// `PEXPIREAT key <abs ms>` without options, which were already decided.
fn expire_generic(
    x: &mut Exec<'_>,
    a: &[Bytes],
    relative: bool,
    seconds: bool,
    name: &str,
) -> Result<Reply, CmdError> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if is(o, "gt") {
            gt = true;
        } else if is(o, "lt") {
            lt = true;
        } else {
            return Err(CmdError::err(format!("Unsupported option {}", lossy(o))));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let bad = || CmdError::err(format!("invalid expire time in '{name}' command"));
    let mut when = arg_i64(&a[2])?;
    if seconds {
        when = when.checked_mul(1000).ok_or_else(bad)?;
    }
    if relative {
        when = when.checked_add(x.now_ms).ok_or_else(bad)?;
    }
    let key = &a[1];
    if x.lookup_write(key).is_none() {
        return Ok(Reply::Int(0));
    }
    let current = x.db().expire_at(key);
    let has_ttl = current >= 0;
    let refused = (nx && has_ttl)
        || (xx && !has_ttl)
        || (gt && (!has_ttl || when <= current))
        || (lt && has_ttl && when >= current);
    if refused {
        return Ok(Reply::Int(0));
    }
    // Replay applies logged effects only: it never deletes on its own (Redis: loading).
    // (Nor does a replica: its master decides when a key is gone, Redis's
    // checkAlreadyExpired.)
    if when <= x.now_ms && x.caller != Caller::Replay && x.st.replicas.master.is_none() {
        x.db().remove(key);
        x.touch_dirty(1);
        x.notify('g', "del", key);
        x.journal(argv!["DEL", key]);
        return Ok(Reply::Int(1));
    }
    x.db().set_expire(key, when.max(0));
    x.touch_dirty(1);
    // (A TTL set: Redis replies, then notifies; a past one deletes, notifies, replies.)
    x.reply_before_events();
    x.notify('g', "expire", key);
    x.journal(argv!["PEXPIREAT", key, when.to_string()]);
    Ok(Reply::Int(1))
}

fn ttl(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    ttl_generic(x, a, false, false)
}

fn pttl(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    ttl_generic(x, a, true, false)
}

fn expiretime(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    ttl_generic(x, a, false, true)
}

fn pexpiretime(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    ttl_generic(x, a, true, true)
}

/// -2 without the key, -1 without a TTL, else the remaining (or absolute, `abs`) time in
/// ms or in seconds rounded to the nearest (Redis: `(ttl+500)/1000`).
fn ttl_generic(x: &mut Exec<'_>, a: &[Bytes], ms: bool, abs: bool) -> Result<Reply, CmdError> {
    let now = x.now_ms;
    if read_notouch(x, &a[1]).is_none() {
        return Ok(Reply::Int(-2));
    }
    let at = x.db().expire_at(&a[1]);
    if at < 0 {
        return Ok(Reply::Int(-1));
    }
    let t = if abs { at } else { at.saturating_sub(now) }.max(0);
    let t = if ms {
        t
    } else {
        i64::try_from((i128::from(t) + 500) / 1000).unwrap_or(i64::MAX)
    };
    Ok(Reply::Int(t))
}

fn persist(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &a[1];
    let has_ttl = x.lookup_write(key).is_some_and(|e| e.ttl);
    if !has_ttl {
        return Ok(Reply::Int(0));
    }
    x.db().set_expire(key, -1);
    x.touch_dirty(1);
    x.notify('g', "persist", key);
    Ok(Reply::Int(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{dispatch, State};
    use crate::config::Config;
    use std::collections::{BTreeMap, HashSet};

    use crate::cmd::exec::NoEnv;

    type Unit = (i64, Vec<(u16, Vec<Bytes>)>);

    const T0: i64 = 1_700_000_000_000;

    /// An in-memory server: state, a settable clock, the selected db and the log.
    struct Srv {
        st: State,
        now: i64,
        db: usize,
        log: Vec<Unit>,
    }

    impl Srv {
        fn new() -> Srv {
            Srv {
                st: State::new(Config::for_tests(), T0),
                now: T0,
                db: 0,
                log: Vec::new(),
            }
        }

        fn run(&mut self, args: &[&str]) -> Reply {
            let argv: Vec<Bytes> = args
                .iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect();
            let mut x = Exec::new(&mut self.st, &NoEnv, 0, self.now, Caller::Client);
            x.db = self.db;
            let r = dispatch::call(&mut x, &argv);
            let j = std::mem::take(&mut x.journal);
            if !j.is_empty() {
                self.log.push((self.now, j));
            }
            r
        }

        /// Run and return the unit journaled by this command (empty if none).
        fn run_j(&mut self, args: &[&str]) -> (Reply, Vec<(u16, Vec<Bytes>)>) {
            let before = self.log.len();
            let r = self.run(args);
            let j = if self.log.len() > before {
                self.log[before].1.clone()
            } else {
                Vec::new()
            };
            (r, j)
        }

        fn replayed(&self) -> State {
            let mut st = State::new(Config::default(), 0);
            for (ts, cmds) in &self.log {
                let mut x = Exec::new(&mut st, &NoEnv, 0, *ts, Caller::Replay);
                dispatch::replay(&mut x, cmds).unwrap();
            }
            st
        }

        fn keys_of(&self, db: usize) -> Vec<String> {
            let mut v: Vec<String> = self.st.ks.dbs[db].dict.keys().map(lossy).collect();
            v.sort();
            v
        }
    }

    /// Every db's (key → value, expiry), for comparing states.
    fn snapshot(st: &State) -> Vec<BTreeMap<Vec<u8>, (Value, i64)>> {
        st.ks
            .dbs
            .iter()
            .map(|d| {
                d.dict
                    .iter()
                    .map(|(k, e)| (k.to_vec(), (e.value.clone(), d.expire_of(k, e))))
                    .collect()
            })
            .collect()
    }

    /// The expires set must hold exactly the keys with a TTL.
    fn check_expires_set(st: &State) {
        for d in &st.ks.dbs {
            let with_ttl: HashSet<Vec<u8>> = d
                .dict
                .iter()
                .filter(|(_, e)| e.ttl)
                .map(|(k, _)| k.to_vec())
                .collect();
            let set: HashSet<Vec<u8>> = d.expires.keys().map(<[u8]>::to_vec).collect();
            assert_eq!(with_ttl, set);
        }
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }
    fn err(s: &str) -> Reply {
        Reply::Error(s.to_string())
    }
    fn ok() -> Reply {
        Reply::ok()
    }
    fn simple(s: &str) -> Reply {
        Reply::Simple(s.to_string())
    }
    fn i(n: i64) -> Reply {
        Reply::Int(n)
    }
    fn av(args: &[&str]) -> Vec<Bytes> {
        args.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }
    fn sorted_bulks(r: &Reply) -> Vec<String> {
        let Reply::Array(items) = r else {
            panic!("not an array: {r:?}")
        };
        let mut v: Vec<String> = items
            .iter()
            .map(|x| match x {
                Reply::Bulk(b) => lossy(b),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        v.sort();
        v
    }
    /// Split a SCAN reply into (cursor, keys).
    fn scan_reply(r: &Reply) -> (u64, Vec<String>) {
        let Reply::Array(parts) = r else {
            panic!("not an array: {r:?}")
        };
        let Reply::Bulk(c) = &parts[0] else {
            panic!("cursor not bulk: {r:?}")
        };
        (lossy(c).parse().unwrap(), sorted_bulks(&parts[1]))
    }

    #[test]
    fn del_unlink_exists() {
        let mut s = Srv::new();
        assert_eq!(s.run(&["set", "a", "1"]), ok());
        assert_eq!(s.run(&["set", "b", "1"]), ok());
        assert_eq!(s.run(&["exists", "a", "a", "c"]), i(2));
        assert_eq!(s.run(&["del", "a", "b", "a", "c"]), i(2));
        assert_eq!(s.run(&["exists", "a", "b"]), i(0));
        assert_eq!(s.run(&["set", "a", "1"]), ok());
        assert_eq!(s.run(&["unlink", "a", "a"]), i(1));
        assert_eq!(
            s.run(&["del"]),
            err("ERR wrong number of arguments for 'del' command")
        );
        assert_eq!(
            s.run(&["unlink"]),
            err("ERR wrong number of arguments for 'unlink' command")
        );
        assert_eq!(
            s.run(&["exists"]),
            err("ERR wrong number of arguments for 'exists' command")
        );
        // A DEL that removed nothing is not journaled.
        let (r, j) = s.run_j(&["del", "zz"]);
        assert_eq!((r, j.len()), (i(0), 0));
        let (r, j) = s.run_j(&["set", "q", "1"]);
        assert_eq!((r, j.len()), (ok(), 1));
        let (_, j) = s.run_j(&["del", "q", "zz"]);
        assert_eq!(j, vec![(0, av(&["del", "q", "zz"]))]);
    }

    #[test]
    fn type_dbsize_touch() {
        let mut s = Srv::new();
        assert_eq!(s.run(&["type", "a"]), simple("none"));
        assert_eq!(s.run(&["dbsize"]), i(0));
        s.run(&["set", "a", "1"]);
        s.run(&["set", "b", "1"]);
        assert_eq!(s.run(&["type", "a"]), simple("string"));
        assert_eq!(s.run(&["dbsize"]), i(2));
        assert_eq!(s.run(&["touch", "a", "b", "c"]), i(2));
        assert_eq!(
            s.run(&["type"]),
            err("ERR wrong number of arguments for 'type' command")
        );
        assert_eq!(
            s.run(&["dbsize", "x"]),
            err("ERR wrong number of arguments for 'dbsize' command")
        );
        // DBSIZE counts keys that are expired but not yet removed, as Redis does.
        s.run(&["pexpire", "a", "10"]);
        s.now += 20;
        assert_eq!(s.run(&["dbsize"]), i(2));
        assert_eq!(s.run(&["type", "a"]), simple("none"));
        assert_eq!(s.run(&["dbsize"]), i(1));
    }

    #[test]
    fn keyspace_hit_miss_stats() {
        // The same sequence against redis-server 7.0.15 gives these counters.
        let mut s = Srv::new();
        s.run(&["set", "a", "1"]);
        let hm = |s: &Srv| (s.st.stats.keyspace_hits, s.st.stats.keyspace_misses);
        s.run(&["exists", "a", "b"]);
        assert_eq!(hm(&s), (1, 1));
        s.run(&["type", "a"]);
        assert_eq!(hm(&s), (2, 1));
        s.run(&["ttl", "b"]);
        assert_eq!(hm(&s), (2, 2));
        s.run(&["object", "encoding", "a"]);
        assert_eq!(hm(&s), (3, 2));
        s.run(&["scan", "0", "type", "string"]);
        assert_eq!(hm(&s), (4, 2));
        s.run(&["randomkey"]);
        s.run(&["keys", "*"]);
        assert_eq!(hm(&s), (4, 2));
        s.run(&["copy", "a", "c"]);
        assert_eq!(hm(&s), (5, 2));
        s.run(&["touch", "a", "zz"]);
        assert_eq!(hm(&s), (6, 3));
        s.run(&["move", "a", "1"]);
        s.run(&["rename", "a", "q"]);
        s.run(&["expire", "c", "10"]);
        s.run(&["dbsize"]);
        assert_eq!(hm(&s), (6, 3));
    }

    #[test]
    fn keys_glob_and_expired() {
        let mut s = Srv::new();
        for k in ["hello", "hallo", "hxllo", "heeello", "x"] {
            s.run(&["set", k, "1"]);
        }
        assert_eq!(
            sorted_bulks(&s.run(&["keys", "h?llo"])),
            ["hallo", "hello", "hxllo"]
        );
        assert_eq!(
            sorted_bulks(&s.run(&["keys", "h*llo"])),
            ["hallo", "heeello", "hello", "hxllo"]
        );
        assert_eq!(
            sorted_bulks(&s.run(&["keys", "h[ae]llo"])),
            ["hallo", "hello"]
        );
        assert_eq!(sorted_bulks(&s.run(&["keys", "*"])).len(), 5);
        assert_eq!(sorted_bulks(&s.run(&["keys", "nomatch*"])).len(), 0);
        // Expired keys are hidden but not deleted (nor journaled).
        s.run(&["pexpire", "x", "5"]);
        s.now += 10;
        let (r, j) = s.run_j(&["keys", "*"]);
        assert_eq!(sorted_bulks(&r).len(), 4);
        assert!(j.is_empty());
        assert_eq!(s.st.ks.dbs[0].len(), 5);
        assert_eq!(
            s.run(&["keys"]),
            err("ERR wrong number of arguments for 'keys' command")
        );
    }

    #[test]
    fn scan_cursor_and_option_errors() {
        let mut s = Srv::new();
        for k in ["a", "b", "c"] {
            s.run(&["set", k, "1"]);
        }
        let ic = err("ERR invalid cursor");
        for bad in [
            " 0",
            "0 ",
            "18446744073709551616",
            "0x1",
            "1.5",
            "+",
            "-",
            "abc",
            "\t1",
        ] {
            assert_eq!(s.run(&["scan", bad]), ic, "cursor {bad:?}");
        }
        // strtoul semantics: empty is 0, a sign is accepted, negatives wrap.
        for good in [
            "",
            "0",
            "+0",
            "-0",
            "18446744073709551615",
            "-18446744073709551615",
            "-1",
        ] {
            assert!(!s.run(&["scan", good]).is_error(), "cursor {good:?}");
        }
        assert_eq!(parse_cursor(b"-1").unwrap(), u64::MAX);
        assert_eq!(parse_cursor(b"-18446744073709551615").unwrap(), 1);
        assert_eq!(parse_cursor(b"7\0junk").unwrap(), 7);
        let (c, k) = scan_reply(&s.run(&["scan", ""]));
        assert_eq!((c, k), (0, vec!["a".to_string(), "b".into(), "c".into()]));
        let syn = err("ERR syntax error");
        assert_eq!(s.run(&["scan", "0", "count", "0"]), syn);
        assert_eq!(s.run(&["scan", "0", "count", "-1"]), syn);
        assert_eq!(
            s.run(&["scan", "0", "count", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(s.run(&["scan", "0", "match"]), syn);
        assert_eq!(s.run(&["scan", "0", "type"]), syn);
        assert_eq!(s.run(&["scan", "0", "foo", "bar"]), syn);
        assert_eq!(
            s.run(&["scan"]),
            err("ERR wrong number of arguments for 'scan' command")
        );
        assert_eq!(
            scan_reply(&s.run(&["scan", "0", "count", "1", "count", "100"]))
                .1
                .len(),
            3
        );
        assert_eq!(
            scan_reply(&s.run(&["scan", "0", "count", "9223372036854775807"]))
                .1
                .len(),
            3
        );
        assert_eq!(
            scan_reply(&s.run(&["scan", "0", "type", "STRING"])).1.len(),
            3
        );
        assert_eq!(
            scan_reply(&s.run(&["scan", "0", "type", "list"])).1.len(),
            0
        );
        assert_eq!(
            scan_reply(&s.run(&["scan", "0", "match", "[ab]"])).1,
            ["a", "b"]
        );
        // Reply shape: the cursor is a bulk string.
        assert_eq!(
            Srv::new().run(&["scan", "0"]),
            Reply::Array(vec![bulk("0"), Reply::Array(vec![])])
        );
    }

    /// Iterate SCAN to the end, calling `between` after every call.
    fn full_scan(
        s: &mut Srv,
        extra: &[&str],
        mut between: impl FnMut(&mut Srv, usize),
    ) -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let mut cursor = 0u64;
        let mut calls = 0;
        loop {
            let c = cursor.to_string();
            let mut args = vec!["scan", c.as_str()];
            args.extend_from_slice(extra);
            let (next, keys) = scan_reply(&s.run(&args));
            seen.extend(keys);
            calls += 1;
            between(s, calls);
            cursor = next;
            if cursor == 0 {
                return (seen, calls);
            }
            assert!(calls < 100_000, "scan does not terminate");
        }
    }

    #[test]
    fn scan_returns_everything_once_when_quiet() {
        let mut s = Srv::new();
        for n in 0..1000 {
            s.run(&["set", &format!("k{n}"), "v"]);
        }
        let (seen, calls) = full_scan(&mut s, &[], |_, _| {});
        let set: HashSet<&String> = seen.iter().collect();
        assert_eq!(set.len(), 1000);
        assert_eq!(seen.len(), 1000, "no duplicates without a resize");
        assert!(calls >= 50, "COUNT 10 takes many calls ({calls})");
        // COUNT is a hint for the work done per call: at least COUNT keys examined.
        let (c, keys) = scan_reply(&s.run(&["scan", "0", "count", "100"]));
        assert!(c == 0 || keys.len() >= 100, "{} keys", keys.len());
        let (_, calls) = full_scan(&mut s, &["count", "300"], |_, _| {});
        assert!(calls <= 5, "{calls} calls");
        let (seen, _) = full_scan(&mut s, &["match", "k1*"], |_, _| {});
        assert_eq!(seen.len(), 111);
    }

    #[test]
    fn scan_complete_while_keyspace_grows_and_shrinks() {
        let mut s = Srv::new();
        for n in 0..500 {
            s.run(&["set", &format!("stable:{n}"), "v"]);
        }
        let mut churn = 0;
        let mut sizes = vec![s.st.ks.dbs[0].dict.bucket_count()];
        let (seen, _) = full_scan(&mut s, &["count", "20"], |s, call| {
            if call % 6 == 0 {
                // Grow: several table doublings.
                for _ in 0..2000 {
                    churn += 1;
                    s.run(&["set", &format!("tmp:{churn}"), "v"]);
                }
            } else if call % 6 == 3 {
                // Shrink: delete every temporary key.
                let tmp: Vec<String> = s
                    .keys_of(0)
                    .into_iter()
                    .filter(|k| k.starts_with("tmp:"))
                    .collect();
                for k in tmp {
                    s.run(&["del", &k]);
                }
            }
            sizes.push(s.st.ks.dbs[0].dict.bucket_count());
        });
        assert!(
            sizes.windows(2).any(|w| w[1] > w[0]),
            "never grew: {sizes:?}"
        );
        assert!(
            sizes.windows(2).any(|w| w[1] < w[0]),
            "never shrank: {sizes:?}"
        );
        let seen: HashSet<String> = seen.into_iter().collect();
        for n in 0..500 {
            assert!(seen.contains(&format!("stable:{n}")), "missed stable:{n}");
        }
    }

    #[test]
    fn scan_expires_lazily_and_journals_del() {
        let mut s = Srv::new();
        s.run(&["set", "live", "1"]);
        s.run(&["set", "dead", "1"]);
        s.run(&["pexpire", "dead", "100"]);
        s.now += 101;
        let (r, j) = s.run_j(&["scan", "0"]);
        assert_eq!(scan_reply(&r), (0, vec!["live".to_string()]));
        assert_eq!(j, vec![(0, av(&["DEL", "dead"]))]);
        assert_eq!(s.st.ks.dbs[0].len(), 1);
        assert_eq!(s.st.stats.expired_keys, 1);
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
    }

    #[test]
    fn randomkey_cases() {
        let mut s = Srv::new();
        assert_eq!(s.run(&["randomkey"]), Reply::Null);
        s.run(&["set", "only", "1"]);
        for _ in 0..10 {
            assert_eq!(s.run(&["randomkey"]), bulk("only"));
        }
        for n in 0..50 {
            s.run(&["set", &format!("k{n}"), "v"]);
        }
        let mut got = HashSet::new();
        for _ in 0..500 {
            let Reply::Bulk(k) = s.run(&["randomkey"]) else {
                panic!()
            };
            got.insert(k);
        }
        assert!(got.len() > 30, "poor spread: {}", got.len());
        // Every key expired: each pick is deleted (journaled) and the answer is null.
        s.run(&["flushall"]);
        for n in 0..20 {
            s.run(&["set", &format!("e{n}"), "v", "px", "10"]);
        }
        s.now += 11;
        let (r, j) = s.run_j(&["randomkey"]);
        assert_eq!(r, Reply::Null);
        assert_eq!(j.len(), 20);
        assert!(j.iter().all(|(_, a)| a[0] == "DEL"));
        assert_eq!(s.st.ks.dbs[0].len(), 0);
        // Mixed: the one live key is found.
        for n in 0..20 {
            s.run(&["set", &format!("e{n}"), "v", "px", "10"]);
        }
        s.run(&["set", "live", "v"]);
        s.now += 11;
        assert_eq!(s.run(&["randomkey"]), bulk("live"));
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
        assert_eq!(
            s.run(&["randomkey", "x"]),
            err("ERR wrong number of arguments for 'randomkey' command")
        );
    }

    #[test]
    fn randomkey_under_replay_gives_up_on_expired() {
        let mut st = State::new(Config::default(), 0);
        let e = Entry::new(Value::Str(b"v".to_vec().into()), 0);
        st.ks.dbs[0].insert_expiring(b"old", e, 5);
        let mut x = Exec::new(&mut st, &NoEnv, 0, 1000, Caller::Replay);
        assert_eq!(randomkey(&mut x, &av(&["randomkey"])).unwrap(), bulk("old"));
    }

    #[test]
    fn rename_and_renamenx() {
        let mut s = Srv::new();
        let nokey = err("ERR no such key");
        assert_eq!(s.run(&["rename", "nokey", "b"]), nokey);
        assert_eq!(s.run(&["rename", "nokey", "nokey"]), nokey);
        assert_eq!(s.run(&["renamenx", "nokey", "nokey"]), nokey);
        s.run(&["set", "a", "1"]);
        let (r, j) = s.run_j(&["rename", "a", "a"]);
        assert_eq!((r, j.len()), (ok(), 0));
        assert_eq!(s.run(&["renamenx", "a", "a"]), i(0));
        // The TTL moves with the key.
        s.run(&["expire", "a", "100"]);
        assert_eq!(s.run(&["rename", "a", "b"]), ok());
        assert_eq!(s.run(&["exists", "a"]), i(0));
        assert_eq!(s.run(&["ttl", "b"]), i(100));
        // Overwrite: the destination's TTL is replaced by the source's (none).
        s.run(&["set", "c", "3"]);
        assert_eq!(s.run(&["rename", "c", "b"]), ok());
        assert_eq!(s.run(&["ttl", "b"]), i(-1));
        assert_eq!(s.run(&["get", "b"]), bulk("3"));
        s.run(&["set", "d", "4"]);
        assert_eq!(s.run(&["renamenx", "d", "b"]), i(0));
        assert_eq!(s.run(&["renamenx", "d", "e"]), i(1));
        assert_eq!(s.keys_of(0), ["b", "e"]);
        assert_eq!(
            s.run(&["rename", "a"]),
            err("ERR wrong number of arguments for 'rename' command")
        );
        // An expired source is gone (journaled DEL) and the rename fails.
        s.run(&["pexpire", "e", "1"]);
        s.now += 2;
        let (r, j) = s.run_j(&["rename", "e", "f"]);
        assert_eq!(r, nokey);
        assert_eq!(j, vec![(0, av(&["DEL", "e"]))]);
        check_expires_set(&s.st);
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
    }

    #[test]
    fn copy_cases() {
        let mut s = Srv::new();
        s.run(&["set", "a", "1"]);
        assert_eq!(
            s.run(&["copy", "a", "b", "db", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            s.run(&["copy", "a", "b", "db", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            s.run(&["copy", "a", "b", "db", "-1"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            s.run(&["copy", "a", "b", "db", "99999999999"]),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
        let same = err("ERR source and destination objects are the same");
        assert_eq!(s.run(&["copy", "a", "a"]), same);
        assert_eq!(s.run(&["copy", "a", "a", "db", "0"]), same);
        assert_eq!(s.run(&["copy", "a", "b", "db"]), err("ERR syntax error"));
        assert_eq!(s.run(&["copy", "a", "b", "foo"]), err("ERR syntax error"));
        assert_eq!(
            s.run(&["copy", "a"]),
            err("ERR wrong number of arguments for 'copy' command")
        );
        assert_eq!(s.run(&["copy", "nokey", "b"]), i(0));
        assert_eq!(s.run(&["copy", "a", "a", "db", "1"]), i(1));
        s.run(&["pexpire", "a", "5000"]);
        assert_eq!(s.run(&["copy", "a", "b"]), i(1));
        assert_eq!(s.run(&["pttl", "b"]), i(5000));
        s.run(&["set", "c", "other"]);
        assert_eq!(s.run(&["copy", "c", "b"]), i(0));
        assert_eq!(s.run(&["copy", "c", "b", "REPLACE"]), i(1));
        assert_eq!(s.run(&["get", "b"]), bulk("other"));
        assert_eq!(s.run(&["pttl", "b"]), i(-1));
        assert_eq!(s.run(&["copy", "a", "b", "replace", "db", "2"]), i(1));
        s.db = 2;
        assert_eq!(s.run(&["pttl", "b"]), i(5000));
        s.db = 0;
        check_expires_set(&s.st);
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
    }

    #[test]
    fn move_cases() {
        let mut s = Srv::new();
        s.run(&["set", "a", "1"]);
        assert_eq!(
            s.run(&["move", "a", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            s.run(&["move", "a", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            s.run(&["move", "a", "-1"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            s.run(&["move", "a", "0"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(
            s.run(&["move", "a", "99999999999"]),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
        assert_eq!(
            s.run(&["move", "a", "99999999999999999999"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(s.run(&["move", "nokey", "1"]), i(0));
        s.run(&["expire", "a", "50"]);
        assert_eq!(s.run(&["move", "a", "1"]), i(1));
        assert_eq!(s.run(&["exists", "a"]), i(0));
        s.db = 1;
        assert_eq!(s.run(&["ttl", "a"]), i(50));
        s.run(&["set", "b", "in1"]);
        s.db = 0;
        s.run(&["set", "b", "in0"]);
        assert_eq!(s.run(&["move", "b", "1"]), i(0));
        // An expired key in the target database does not block the move.
        s.db = 1;
        s.run(&["pexpire", "b", "1"]);
        s.db = 0;
        s.now += 2;
        let (r, j) = s.run_j(&["move", "b", "1"]);
        assert_eq!(r, i(1));
        assert_eq!(
            j,
            vec![(1, av(&["DEL", "b"])), (0, av(&["move", "b", "1"]))]
        );
        check_expires_set(&s.st);
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
    }

    #[test]
    fn swapdb_cases() {
        let mut s = Srv::new();
        assert_eq!(
            s.run(&["swapdb", "x", "1"]),
            err("ERR invalid first DB index")
        );
        assert_eq!(
            s.run(&["swapdb", "1", "x"]),
            err("ERR invalid second DB index")
        );
        assert_eq!(
            s.run(&["swapdb", "99999999999999999999", "0"]),
            err("ERR invalid first DB index")
        );
        assert_eq!(
            s.run(&["swapdb", "0", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            s.run(&["swapdb", "-1", "0"]),
            err("ERR DB index is out of range")
        );
        // (Past i32: as invalid as a non-number, as redis-server 7.0 answers.)
        assert_eq!(
            s.run(&["swapdb", "99999999999", "0"]),
            err("ERR invalid first DB index")
        );
        assert_eq!(s.run(&["swapdb", "0", "0"]), ok());
        s.run(&["set", "a", "1"]);
        s.run(&["expire", "a", "100"]);
        assert_eq!(s.run(&["swapdb", "0", "1"]), ok());
        assert_eq!(s.run(&["exists", "a"]), i(0));
        s.db = 1;
        assert_eq!(s.run(&["ttl", "a"]), i(100));
        check_expires_set(&s.st);
        assert_eq!(s.st.ks.dbs[1].volatile_len(), 1);
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
    }

    #[test]
    fn flushdb_flushall() {
        let mut s = Srv::new();
        let syn = err("ERR syntax error");
        assert_eq!(s.run(&["flushdb", "foo"]), syn);
        assert_eq!(s.run(&["flushdb", "async", "extra"]), syn);
        assert_eq!(s.run(&["flushall", "foo"]), syn);
        // Nothing to flush: still journaled (and streamed), as Redis propagates it.
        let (r, j) = s.run_j(&["flushall"]);
        assert_eq!((r, j.len()), (ok(), 1));
        s.run(&["set", "a", "1", "ex", "100"]);
        s.db = 1;
        s.run(&["set", "b", "1"]);
        assert_eq!(s.run(&["flushdb", "ASYNC"]), ok());
        assert_eq!(s.st.ks.dbs[1].len(), 0);
        assert_eq!(s.st.ks.dbs[0].len(), 1);
        s.run(&["set", "b", "1"]);
        let (r, j) = s.run_j(&["flushall", "sync"]);
        assert_eq!(r, ok());
        assert_eq!(j, vec![(1, av(&["flushall", "sync"]))]);
        assert_eq!(s.st.ks.total_keys(), 0);
        check_expires_set(&s.st);
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
    }

    #[test]
    fn object_subcommands() {
        let mut s = Srv::new();
        s.run(&["set", "a", "1"]);
        s.run(&["set", "b", "10000"]);
        s.run(&["set", "c", "-1"]);
        s.run(&["set", "e", "hello"]);
        s.run(&["set", "r", &"x".repeat(45)]);
        assert_eq!(s.run(&["object", "encoding", "a"]), bulk("int"));
        assert_eq!(s.run(&["object", "encoding", "e"]), bulk("embstr"));
        assert_eq!(s.run(&["object", "encoding", "r"]), bulk("raw"));
        assert_eq!(s.run(&["object", "encoding", "nokey"]), Reply::Null);
        assert_eq!(s.run(&["object", "refcount", "a"]), i(2_147_483_647));
        assert_eq!(s.run(&["object", "refcount", "b"]), i(1));
        assert_eq!(s.run(&["object", "refcount", "c"]), i(1));
        assert_eq!(s.run(&["object", "refcount", "e"]), i(1));
        assert_eq!(s.run(&["object", "refcount", "nokey"]), Reply::Null);
        let no_lfu = err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        assert_eq!(s.run(&["object", "freq", "a"]), no_lfu);
        assert_eq!(s.run(&["object", "freq", "nokey"]), Reply::Null);
        // IDLETIME counts from the last access; OBJECT itself does not touch.
        assert_eq!(s.run(&["object", "idletime", "e"]), i(0));
        s.now += 7_000;
        assert_eq!(s.run(&["object", "idletime", "e"]), i(7));
        assert_eq!(s.run(&["object", "idletime", "e"]), i(7));
        s.run(&["ttl", "e"]);
        s.run(&["type", "e"]);
        s.run(&["exists", "e"]);
        assert_eq!(s.run(&["object", "idletime", "e"]), i(7));
        assert_eq!(s.run(&["get", "e"]), bulk("hello"));
        assert_eq!(s.run(&["object", "idletime", "e"]), i(0));
        s.now += 3_000;
        assert_eq!(s.run(&["touch", "e"]), i(1));
        assert_eq!(s.run(&["object", "idletime", "e"]), i(0));
        assert_eq!(s.run(&["object", "idletime", "nokey"]), Reply::Null);
        s.st.config
            .set("maxmemory-policy", "allkeys-lfu", true)
            .unwrap();
        // A key created under LFU starts at LFU_INIT_VAL; one last touched under LRU has
        // its LRU clock reinterpreted as LFU data, as in Redis (some counter 0..255).
        s.run(&["set", "fresh", "1"]);
        assert_eq!(s.run(&["object", "freq", "fresh"]), i(5));
        assert!(matches!(
            s.run(&["object", "freq", "e"]),
            Reply::Int(0..=255)
        ));
        assert_eq!(
            s.run(&["object", "idletime", "e"]),
            err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        );
        assert_eq!(s.run(&["object", "idletime", "nokey"]), Reply::Null);
        s.st.config
            .set("maxmemory-policy", "noeviction", true)
            .unwrap();
        let Reply::Array(help) = s.run(&["object", "help"]) else {
            panic!()
        };
        assert_eq!(help.len(), 15);
        assert_eq!(
            help[0],
            simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert_eq!(help[14], simple("    Prints this help."));
        assert_eq!(
            s.run(&["object", "foo"]),
            err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
        );
        assert_eq!(
            s.run(&["object"]),
            err("ERR wrong number of arguments for 'object' command")
        );
        assert_eq!(
            s.run(&["object", "encoding"]),
            err("ERR wrong number of arguments for 'object|encoding' command")
        );
        assert_eq!(
            s.run(&["object", "encoding", "a", "b"]),
            err("ERR wrong number of arguments for 'object|encoding' command")
        );
        assert_eq!(
            s.run(&["object", "help", "x"]),
            err("ERR wrong number of arguments for 'object|help' command")
        );
    }

    #[test]
    fn expire_option_errors_in_redis_order() {
        let mut s = Srv::new();
        s.run(&["set", "a", "1"]);
        let nxx = err("ERR NX and XX, GT or LT options at the same time are not compatible");
        assert_eq!(s.run(&["expire", "a", "10", "nx", "xx"]), nxx);
        assert_eq!(s.run(&["expire", "a", "10", "nx", "gt"]), nxx);
        assert_eq!(s.run(&["expire", "a", "10", "lt", "nx"]), nxx);
        assert_eq!(
            s.run(&["expire", "a", "10", "gt", "lt"]),
            err("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            s.run(&["expire", "a", "10", "foo"]),
            err("ERR Unsupported option foo")
        );
        // Options are checked before the number.
        assert_eq!(
            s.run(&["expire", "a", "x", "foo"]),
            err("ERR Unsupported option foo")
        );
        assert_eq!(
            s.run(&["expire", "a", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            s.run(&["expire", "a"]),
            err("ERR wrong number of arguments for 'expire' command")
        );
        for (c, v) in [
            ("expire", "9223372036854775807"),
            ("pexpire", "9223372036854775807"),
            ("expireat", "9223372036854775807"),
            ("expire", "-9223372036854775808"),
            ("expireat", "9223372036854776"),
            ("expire", "9223372036854775"),
        ] {
            assert_eq!(
                s.run(&[c, "a", v]),
                err(&format!("ERR invalid expire time in '{c}' command"))
            );
        }
        assert_eq!(s.run(&["expireat", "a", "9223372036854775"]), i(1));
        assert_eq!(s.run(&["pexpireat", "a", "9223372036854775807"]), i(1));
        assert_eq!(s.run(&["expiretime", "a"]), i(9_223_372_036_854_776));
        assert_eq!(s.run(&["pexpiretime", "a"]), i(i64::MAX));
        // A huge negative relative time is in the past: the key goes.
        assert_eq!(s.run(&["pexpire", "a", "-9223372036854775807"]), i(1));
        assert_eq!(s.run(&["exists", "a"]), i(0));
        assert_eq!(s.run(&["expire", "nokey", "10"]), i(0));
        check_expires_set(&s.st);
    }

    #[test]
    fn expire_nx_xx_gt_lt() {
        // The sequence and answers of redis-server 7.0.15, except where its clock moved
        // between commands (its `expire a 100 gt` right after `expire a 100 nx` is 1).
        let mut s = Srv::new();
        s.run(&["set", "a", "1"]);
        let seq: &[(&[&str], i64)] = &[
            (&["expire", "a", "100", "xx"], 0),
            (&["expire", "a", "100", "nx"], 1),
            (&["expire", "a", "100", "gt"], 0),
            (&["expire", "a", "101", "gt"], 1),
            (&["expire", "a", "101", "lt"], 0),
            (&["expire", "a", "50", "lt"], 1),
            (&["expire", "a", "60", "gt"], 1),
            (&["expire", "a", "10", "nx"], 0),
            (&["persist", "a"], 1),
            (&["persist", "a"], 0),
            (&["persist", "zz"], 0),
            (&["expire", "a", "10", "GT"], 0),
            (&["expire", "a", "10", "LT"], 1),
            (&["expire", "a", "10", "NX"], 0),
            (&["expire", "a", "5", "GT"], 0),
            (&["expire", "a", "5", "LT", "XX"], 1),
            (&["expire", "a", "7", "xx", "gt"], 1),
        ];
        for (args, want) in seq {
            assert_eq!(s.run(args), i(*want), "{args:?}");
        }
        assert_eq!(s.run(&["ttl", "a"]), i(7));
        check_expires_set(&s.st);
    }

    #[test]
    fn expire_journals_canonical_effects() {
        let mut s = Srv::new();
        s.run(&["set", "a", "1"]);
        let at = |ms: i64| (T0 + ms).to_string();
        let (r, j) = s.run_j(&["expire", "a", "100"]);
        assert_eq!(r, i(1));
        assert_eq!(j, vec![(0, av(&["PEXPIREAT", "a", &at(100_000)]))]);
        let (_, j) = s.run_j(&["pexpire", "a", "1500", "gt"]);
        assert_eq!(j.len(), 0, "refused by GT: nothing logged");
        let (_, j) = s.run_j(&["pexpire", "a", "1500", "lt"]);
        assert_eq!(j, vec![(0, av(&["PEXPIREAT", "a", &at(1500)]))]);
        let secs_at = (T0 / 1000 + 50).to_string();
        let (_, j) = s.run_j(&["expireat", "a", &secs_at]);
        assert_eq!(
            j,
            vec![(
                0,
                av(&["PEXPIREAT", "a", &((T0 / 1000 + 50) * 1000).to_string()])
            )]
        );
        let (_, j) = s.run_j(&["pexpireat", "a", &at(77)]);
        assert_eq!(j, vec![(0, av(&["PEXPIREAT", "a", &at(77)]))]);
        // In the past (or now): the key is deleted and a DEL is logged.
        let (r, j) = s.run_j(&["pexpireat", "a", &at(0)]);
        assert_eq!(r, i(1));
        assert_eq!(j, vec![(0, av(&["DEL", "a"]))]);
        s.run(&["set", "b", "1"]);
        let (r, j) = s.run_j(&["expire", "b", "-1"]);
        assert_eq!((r, j), (i(1), vec![(0, av(&["DEL", "b"]))]));
        s.run(&["set", "c", "1"]);
        let (_, j) = s.run_j(&["expire", "c", "0"]);
        assert_eq!(j, vec![(0, av(&["DEL", "c"]))]);
        // PERSIST logs itself verbatim.
        s.run(&["set", "d", "1", "px", "100"]);
        let (_, j) = s.run_j(&["persist", "d"]);
        assert_eq!(j, vec![(0, av(&["persist", "d"]))]);
        check_expires_set(&s.st);
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
    }

    #[test]
    fn ttl_family_with_a_moving_clock() {
        let mut s = Srv::new();
        for c in ["ttl", "pttl", "expiretime", "pexpiretime"] {
            assert_eq!(s.run(&[c, "a"]), i(-2));
        }
        s.run(&["set", "a", "1"]);
        for c in ["ttl", "pttl", "expiretime", "pexpiretime"] {
            assert_eq!(s.run(&[c, "a"]), i(-1));
        }
        s.run(&["pexpire", "a", "1499"]);
        assert_eq!(s.run(&["ttl", "a"]), i(1));
        s.run(&["pexpire", "a", "1500"]);
        assert_eq!(s.run(&["ttl", "a"]), i(2));
        assert_eq!(s.run(&["pttl", "a"]), i(1500));
        assert_eq!(s.run(&["pexpiretime", "a"]), i(T0 + 1500));
        assert_eq!(s.run(&["expiretime", "a"]), i((T0 + 1500 + 500) / 1000));
        s.now += 1000;
        assert_eq!(s.run(&["pttl", "a"]), i(500));
        assert_eq!(s.run(&["ttl", "a"]), i(1));
        s.now += 499;
        assert_eq!(s.run(&["pttl", "a"]), i(1));
        assert_eq!(s.run(&["ttl", "a"]), i(0));
        assert_eq!(s.run(&["pexpiretime", "a"]), i(T0 + 1500));
        s.now += 2;
        let (r, j) = s.run_j(&["pttl", "a"]);
        assert_eq!(r, i(-2));
        assert_eq!(j, vec![(0, av(&["DEL", "a"]))]);
        assert_eq!(s.st.stats.expired_keys, 1);
        assert_eq!(
            s.run(&["ttl"]),
            err("ERR wrong number of arguments for 'ttl' command")
        );
        assert_eq!(snapshot(&s.replayed()), snapshot(&s.st));
    }

    #[test]
    fn replay_reproduces_the_keyspace() {
        let mut s = Srv::new();
        let script: &[(usize, &[&str])] = &[
            (0, &["set", "a", "1"]),
            (0, &["set", "b", "2"]),
            (0, &["set", "c", "3"]),
            (0, &["expire", "a", "100"]),
            (0, &["pexpire", "b", "10"]),
            (0, &["copy", "a", "a2", "db", "3"]),
            (0, &["copy", "a", "a3"]),
            (0, &["rename", "c", "c2"]),
            (0, &["move", "c2", "5"]),
            (2, &["set", "t", "x", "px", "50"]),
            (2, &["move", "t", "0"]),
            (0, &["swapdb", "0", "3"]),
            (1, &["set", "z", "9"]),
            (1, &["renamenx", "z", "zz"]),
            (1, &["expireat", "zz", "1"]),
            (1, &["set", "p", "1", "ex", "10"]),
            (1, &["persist", "p"]),
            (1, &["unlink", "nothing", "p"]),
            (1, &["set", "p", "2"]),
            (1, &["pexpireat", "p", "99999999999999"]),
            (1, &["set", "q", "1"]),
            (1, &["copy", "p", "q", "replace", "db", "1"]),
            (4, &["set", "gone", "1"]),
            (4, &["flushdb"]),
        ];
        for (db, cmd) in script {
            s.db = *db;
            assert!(
                !matches!(s.run(cmd), Reply::Error(_) | Reply::Int(0)),
                "{cmd:?}"
            );
            s.now += 7;
        }
        s.db = 0;
        s.now += 1_000;
        // Lazy expiry of the keys due by now, from several commands.
        for db in 0..16 {
            s.db = db;
            s.run(&["scan", "0", "count", "1000"]);
        }
        s.db = 5;
        s.run(&["flushdb"]);
        check_expires_set(&s.st);
        let replayed = s.replayed();
        check_expires_set(&replayed);
        assert_eq!(snapshot(&replayed), snapshot(&s.st));
        assert!(s.st.ks.total_keys() > 3);
    }
}
