//! HyperLogLog commands (PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST): argument handling,
//! Redis 7.0's error order and texts, and journaling. The representation, hashing and
//! estimator live in `db::hll`; an HLL is an ordinary string value holding Redis's bytes.
//!
//! Journaling: PFADD, PFMERGE and PFDEBUG are deterministic given the state, so their argv
//! is their effect, except for the point where a sparse HLL outgrows
//! `hll-sparse-max-bytes` (a setting the log does not carry): a command that promoted a key
//! to dense is followed in the journal by `PFDEBUG TODENSE key` (as Redis propagates it),
//! and replay never promotes for size on its own. Single-key PFCOUNT writes the recomputed cardinality into the cached
//! field of the string when the cache was invalid; like Redis (which propagates PFCOUNT
//! itself), it is journaled verbatim then, since replaying it against the same state
//! writes the same bytes. The one non-replayable case is PFADD on a corrupt sparse HLL that
//! changed some registers before failing (Redis keeps those changes and replies an
//! error): that effect is journaled as `SET key <bytes> KEEPTTL`.

use bytes::Bytes;

use super::exec::{is, lossy, Caller, Exec};
use super::string::as_str_mut;
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::db::hll::{self, ERR_CORRUPT, ERR_NOT_HLL};
use crate::db::{Entry, Value};
use crate::resp::Reply;

/// Register the HyperLogLog commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::HyperLogLog;
    t.push(
        cmd("pfadd", -2, F::WRITE | F::DENYOOM | F::FAST, pfadd)
            .keys(1, 1, 1)
            .group(g)
            .journal(Journal::Custom)
            .doc(
                "Adds the specified elements to the specified HyperLogLog.",
                "2.8.9",
            ),
    );
    t.push(
        cmd("pfcount", -2, F::READONLY | F::MAY_REPLICATE, pfcount)
            .keys(1, -1, 1)
            .group(g)
            .journal(Journal::Verbatim)
            .doc(
                "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
                "2.8.9",
            ),
    );
    t.push(
        cmd("pfmerge", -2, F::WRITE | F::DENYOOM, pfmerge)
            .keys(1, -1, 1)
            .group(g)
            .journal(Journal::Custom)
            .doc("Merge N different HyperLogLogs into a single one.", "2.8.9"),
    );
    t.push(
        cmd("pfdebug", 3, F::WRITE | F::DENYOOM | F::ADMIN, pfdebug)
            .keys(2, 2, 1)
            .group(g)
            .doc(
                "Internal commands for debugging HyperLogLog values",
                "2.8.9",
            ),
    );
    t.push(cmd("pfselftest", 1, F::ADMIN, pfselftest).group(g).doc(
        "An internal command for testing HyperLogLog values",
        "2.8.9",
    ));
}

fn not_hll() -> CmdError {
    CmdError::Raw(ERR_NOT_HLL.into())
}

fn corrupt() -> CmdError {
    CmdError::Raw(ERR_CORRUPT.into())
}

/// The HLL string of an entry for modification: WRONGTYPE for other types, Redis's
/// "not a valid HyperLogLog" for other strings. Marks the string raw, as Redis's
/// `dbUnshareStringValue` does.
fn hll_mut(e: &mut Entry) -> Result<&mut Vec<u8>, CmdError> {
    if !hll::is_hll(as_str_mut(e)?) {
        return Err(not_hll());
    }
    e.raw = true;
    as_str_mut(e)
}

/// The HLL string of an entry for reading (same checks as [`hll_mut`], no marking).
#[allow(unreachable_patterns)]
fn hll_ref(e: &Entry) -> Result<&[u8], CmdError> {
    match &e.value {
        Value::Str(s) if hll::is_hll(s) => Ok(s),
        Value::Str(_) => Err(not_hll()),
        _ => Err(CmdError::WrongType),
    }
}

/// The sparse size limit: `hll-sparse-max-bytes`, unlimited during replay, where a
/// promotion made by the original command arrives as an explicit `PFDEBUG TODENSE` (so
/// the replayed bytes do not depend on the configuration at restart).
fn sparse_limit(x: &Exec<'_>) -> u64 {
    if x.caller == Caller::Replay {
        u64::MAX
    } else {
        x.st.config.hll_sparse_max_bytes
    }
}

/// Journal `PFDEBUG TODENSE key` after a command that promoted `key` to dense.
fn journal_promotion(x: &mut Exec<'_>, key: &Bytes) {
    x.journal(vec![
        Bytes::from_static(b"PFDEBUG"),
        Bytes::from_static(b"TODENSE"),
        key.clone(),
    ]);
}

/// PFADD key [element ...]
fn pfadd(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &a[1];
    let max = sparse_limit(x);
    let now = x.now_ms;
    let mut updated = 0u64;
    let mut partial: Option<Vec<u8>> = None;
    let promoted;
    match x.lookup_write(key) {
        Some(e) => {
            let s = hll_mut(e)?;
            let was_sparse = !hll::is_dense(s);
            let mut failed = false;
            for ele in &a[2..] {
                match hll::add(s, ele, max) {
                    Ok(true) => updated += 1,
                    Ok(false) => {}
                    Err(hll::Corrupt) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                if updated > 0 {
                    partial = Some(s.clone());
                } else {
                    return Err(corrupt());
                }
            } else if updated > 0 {
                hll::invalidate_cache(s);
            }
            promoted = was_sparse && hll::is_dense(s);
        }
        None => {
            let mut s = hll::new_sparse();
            for ele in &a[2..] {
                // A fresh sketch is well formed: adding to it cannot fail.
                if hll::add(&mut s, ele, max).map_err(|_| corrupt())? {
                    updated += 1;
                }
            }
            updated += 1;
            promoted = hll::is_dense(&s);
            hll::invalidate_cache(&mut s);
            let mut e = Entry::new(Value::Str(s.into()), now);
            e.raw = true;
            x.insert_key(key, e);
        }
    }
    if let Some(bytes) = partial {
        x.touch_dirty(updated);
        x.journal(vec![
            Bytes::from_static(b"SET"),
            key.clone(),
            Bytes::from(bytes),
            Bytes::from_static(b"KEEPTTL"),
        ]);
        return Err(corrupt());
    }
    if updated > 0 {
        x.touch_dirty(updated);
        x.notify('$', "pfadd", key);
        x.journal(a.to_vec());
        if promoted {
            journal_promotion(x, key);
        }
    }
    Ok(Reply::Int(i64::from(updated > 0)))
}

/// PFCOUNT key [key ...]
fn pfcount(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        for key in &a[1..] {
            let Some(e) = x.lookup_read(key) else {
                continue;
            };
            let s = hll_ref(e)?;
            hll::merge_into(&mut max, s).map_err(|_| corrupt())?;
        }
        return Ok(Reply::Int(card_reply(hll::count_raw(&max))));
    }
    // A read (keyspace hits and misses, as Redis's lookupKeyRead) that may update the
    // cached cardinality.
    let Some(e) = x.lookup_read_mut(&a[1]) else {
        return Ok(Reply::Int(0));
    };
    let s = hll_mut(e)?;
    if let Some(card) = hll::cached(s) {
        return Ok(Reply::Int(card_reply(card)));
    }
    let card = hll::count(s).map_err(|_| corrupt())?;
    hll::set_cached(s, card);
    x.touch_dirty(1);
    Ok(Reply::Int(card_reply(card)))
}

/// Redis replies the 64-bit cache as a signed long long.
fn card_reply(card: u64) -> i64 {
    card as i64
}

/// PFMERGE destkey [sourcekey ...]
fn pfmerge(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    for key in &a[1..] {
        let Some(e) = x.lookup_read(key) else {
            continue;
        };
        let s = hll_ref(e)?;
        use_dense |= hll::is_dense(s);
        hll::merge_into(&mut max, s).map_err(|_| corrupt())?;
    }
    let limit = sparse_limit(x);
    let now = x.now_ms;
    let dest = &a[1];
    if x.lookup_write(dest).is_none() {
        let mut e = Entry::new(Value::Str(hll::new_sparse().into()), now);
        e.raw = true;
        x.insert_key(dest, e);
    }
    let e = x.lookup_write(dest).ok_or_else(corrupt)?;
    let s = hll_mut(e)?;
    let was_sparse = !hll::is_dense(s);
    if use_dense {
        hll::to_dense(s).map_err(|_| corrupt())?;
    }
    for (i, &v) in max.iter().enumerate() {
        if v != 0 {
            // The destination was validated while merging: setting cannot fail.
            hll::set_register(s, i, v, limit).map_err(|_| corrupt())?;
        }
    }
    hll::invalidate_cache(s);
    let promoted = was_sparse && hll::is_dense(s);
    x.touch_dirty(1);
    x.notify('$', "pfadd", dest);
    x.journal(a.to_vec());
    if promoted {
        journal_promotion(x, dest);
    }
    Ok(Reply::ok())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
fn pfdebug(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let sub = &a[1];
    let Some(e) = x.lookup_write(&a[2]) else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    let s = hll_mut(e)?;
    if is(sub, "getreg") {
        let converted = hll::to_dense(s).map_err(|_| corrupt())?;
        let regs = hll::registers(s);
        if converted {
            x.touch_dirty(1);
        }
        Ok(Reply::Array(
            regs.into_iter().map(|r| Reply::Int(i64::from(r))).collect(),
        ))
    } else if is(sub, "decode") {
        if hll::is_dense(s) {
            return Err(CmdError::err("HLL encoding is not sparse"));
        }
        Ok(Reply::bulk(hll::decode_sparse(s).as_bytes()))
    } else if is(sub, "encoding") {
        let name = if hll::is_dense(s) { "dense" } else { "sparse" };
        Ok(Reply::Simple(name.into()))
    } else if is(sub, "todense") {
        let converted = hll::to_dense(s).map_err(|_| corrupt())?;
        if converted {
            x.touch_dirty(1);
        }
        Ok(Reply::Int(i64::from(converted)))
    } else {
        Err(CmdError::err(format!(
            "Unknown PFDEBUG subcommand '{}'",
            lossy(sub)
        )))
    }
}

/// PFSELFTEST
fn pfselftest(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    match hll::self_test() {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => Err(CmdError::Raw(e)),
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::string::testkit::*;
    use crate::db::hll;
    use crate::resp::Reply;

    // Every expected value below was captured from redis-server 7.0.15.

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// PFADD `e0..e{n-1}` to `key` in batches of 1000, as the capture script did.
    fn fill(t: &mut Kit, key: &str, n: usize) {
        let els: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
        for chunk in els.chunks(1000) {
            let mut args: Vec<&[u8]> = vec![b"pfadd", key.as_bytes()];
            args.extend(chunk.iter().map(|s| s.as_bytes()));
            t.call(&args);
        }
    }

    #[test]
    fn golden_bytes_and_counts() {
        let mut t = Kit::new();
        t.is("pfadd h a b c", int(1));
        let want = hex("48594c4c01000000000000000000008060f38050b1844bfb80425a");
        assert_eq!(t.raw_get(b"h").unwrap(), want);
        t.is("pfcount h", int(3));
        let mut want_cached = want.clone();
        want_cached[8] = 3;
        want_cached[15] = 0;
        assert_eq!(t.raw_get(b"h").unwrap(), want_cached);
        t.is("pfadd h d", int(1));
        t.is(
            "pfdebug decode h",
            bulk("Z:7292 v:1,1 Z:1143 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"),
        );
        // (n, PFCOUNT, length, crc32 of the string before PFCOUNT)
        let cases: [(usize, i64, usize, u32); 7] = [
            (1, 1, 21, 0x9424155a),
            (10, 10, 48, 0x6c5f7651),
            (100, 100, 285, 0x431dc335),
            (1000, 1008, 1906, 0x977b9321),
            (5000, 4968, 12304, 0x156a9cf7),
            (20000, 19901, 12304, 0x1f754926),
            (100000, 100853, 12304, 0x6f2fa982),
        ];
        for (n, card, len, crc) in cases {
            let key = format!("g{n}");
            fill(&mut t, &key, n);
            let b = t.raw_get(key.as_bytes()).unwrap();
            assert_eq!(b.len(), len, "{n}");
            assert_eq!(crc32fast::hash(&b), crc, "{n}");
            t.is(&format!("pfcount {key}"), int(card));
        }
        assert_eq!(
            t.raw_get(b"g10").unwrap(),
            hex("48594c4c01000000\
                 0a00000000000000\
                 452580472e844fc9804412844a5184430d844103844eb984408880406a8441b1")
        );
        t.is("pfcount g100 g1000 g20000", int(19901));
        t.is("pfmerge m g100 g5000", ok());
        let m = t.raw_get(b"m").unwrap();
        assert_eq!(crc32fast::hash(&m), 0x156a9cf7);
        t.is("pfcount m", int(4968));
        t.is("pfmerge m2 g10 g100", ok());
        assert_eq!(t.raw_get(b"m2").unwrap().len(), 285);
        t.is("pfcount m2", int(100));
        t.check_replay();
    }

    #[test]
    fn errors_and_edge_cases() {
        let mut t = Kit::new();
        let not_hll = err("WRONGTYPE Key is not a valid HyperLogLog string value.");
        let corrupt = err("INVALIDOBJ Corrupted HLL object detected");
        t.is("set s 123", ok());
        t.is("pfadd s a", not_hll.clone());
        t.is("pfcount s", not_hll.clone());
        t.is("pfmerge d s", not_hll.clone());
        assert_eq!(t.encoding(b"s"), "int");
        t.is("rpush l a", int(1));
        t.is(
            "pfcount x l",
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        );
        t.is(
            "pfdebug getreg nokey",
            err("ERR The specified key does not exist"),
        );
        t.is("pfcount nokey", int(0));
        t.is("pfadd e", int(1));
        t.is("pfadd e", int(0));
        t.is("pfdebug encoding e", Reply::Simple("sparse".into()));
        t.is("pfdebug foo e", err("ERR Unknown PFDEBUG subcommand 'foo'"));
        t.is("pfdebug todense e", int(1));
        t.is("pfdebug todense e", int(0));
        t.is("pfdebug decode e", err("ERR HLL encoding is not sparse"));
        assert_eq!(t.raw_get(b"e").unwrap().len(), hll::DENSE_SIZE);
        // A sparse body covering one register too many.
        let mut bad = hll::new_sparse();
        bad.push(0x80);
        hll::invalidate_cache(&mut bad);
        t.call(&[b"set", b"bad", &bad]);
        t.is("pfcount bad", corrupt.clone());
        t.is("pfcount bad e", corrupt.clone());
        t.is("pfmerge bad", corrupt.clone());
        t.is("pfdebug getreg bad", corrupt);
        t.is("pfselftest", ok());
        t.check_replay();
    }

    #[test]
    fn journal_and_replay() {
        let mut t = Kit::new();
        t.logs("pfadd h a", int(1), &["pfadd h a"]);
        t.logs("pfadd h a", int(0), &[]);
        t.logs("pfcount h", int(1), &["pfcount h"]);
        t.logs("pfcount h", int(1), &[]);
        t.logs("pfcount h nokey", int(1), &[]);
        t.q("config set hll-sparse-max-bytes 40");
        let mut args: Vec<Vec<u8>> = vec![b"pfadd".to_vec(), b"h".to_vec()];
        args.extend((0..30).map(|i| format!("x{i}").into_bytes()));
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        t.call(&refs);
        assert_eq!(t.last.len(), 2);
        assert_eq!(t.last[1], "PFDEBUG TODENSE h");
        t.logs("pfmerge d h", ok(), &["pfmerge d h", "PFDEBUG TODENSE d"]);
        t.q("config set hll-sparse-max-bytes 3000");
        t.check_replay();
    }
}
