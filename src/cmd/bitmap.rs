//! Bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO): argument
//! order and errors as Redis 7.0, key lookups, the `proto-max-bulk-len` bound on bit
//! offsets, and which calls count as changes. The bit semantics live in `db::bits`.
//! Every write here is deterministic given the keyspace, so all are journaled verbatim
//! (and only when something changed); modified values become `raw`, as Redis reports.

use bytes::Bytes;

use super::exec::Exec;
use super::string::{as_str, as_str_mut, int_reply, max_len};
use super::{cmd, CmdError, CommandSpec, Flags, Group};
use crate::db::bits::{self, BitfieldOp};
use crate::db::strnum::{parse_i64, DomainError, ERR_BIT_OFFSET};
use crate::db::{Entry, Value};
use crate::resp::Reply;

/// Register the bitmap commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Bitmap;
    let one = |s: CommandSpec| s.keys(1, 1, 1).group(g);
    t.push(one(cmd("setbit", 4, F::WRITE | F::DENYOOM, setbit)).doc(
        "Sets or clears the bit at offset in the string value stored at key",
        "2.2.0",
    ));
    t.push(one(cmd("getbit", 3, F::READONLY | F::FAST, getbit)).doc(
        "Returns the bit value at offset in the string value stored at key",
        "2.2.0",
    ));
    t.push(
        one(cmd("bitcount", -2, F::READONLY, bitcount)).doc("Count set bits in a string", "2.6.0"),
    );
    t.push(
        one(cmd("bitpos", -3, F::READONLY, bitpos))
            .doc("Find first bit set or clear in a string", "2.8.7"),
    );
    t.push(
        cmd("bitop", -4, F::WRITE | F::DENYOOM, bitop)
            .keys(2, -1, 1)
            .group(g)
            .doc("Perform bitwise operations between strings", "2.6.0"),
    );
    t.push(
        one(cmd("bitfield", -2, F::WRITE | F::DENYOOM, bitfield)).doc(
            "Perform arbitrary bitfield integer operations on strings",
            "3.2.0",
        ),
    );
    t.push(one(cmd("bitfield_ro", -2, F::READONLY | F::FAST, bitfield_ro)).doc(
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        "6.0.0",
    ));
}

fn offset_error() -> CmdError {
    DomainError::OutOfRange(ERR_BIT_OFFSET).into()
}

/// Redis `getBitOffsetFromArgument` without the `#` form, bounded by the configured
/// `proto-max-bulk-len` (offset / 8 must be below it).
fn bit_offset(x: &Exec<'_>, arg: &[u8]) -> Result<u64, CmdError> {
    let max = max_len(x);
    parse_i64(arg)
        .and_then(|v| u64::try_from(v).ok())
        .filter(|o| (o >> 3) < max)
        .ok_or_else(offset_error)
}

/// The arguments from `from` on, as slices.
fn rest(a: &[Bytes], from: usize) -> Vec<&[u8]> {
    a[from..].iter().map(|b| &b[..]).collect()
}

/// A new `raw` string entry.
fn raw_entry(x: &Exec<'_>, v: Vec<u8>) -> Entry {
    let mut e = Entry::new(Value::Str(v.into()), x.now_ms);
    e.raw = true;
    e
}

/// SETBIT: counts as a change only if the key was created, grew, or the bit flipped.
fn setbit(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let off = bit_offset(x, &a[2])?;
    let on = bits::parse_bit_value(&a[3])?;
    let key = &a[1];
    let (old, modified) = match x.lookup_write(key) {
        Some(e) => {
            let r = bits::setbit(as_str_mut(e)?, off, on);
            e.raw = true;
            r
        }
        None => {
            let mut v = Vec::new();
            let (old, _) = bits::setbit(&mut v, off, on);
            let e = raw_entry(x, v);
            x.insert_key(key, e);
            (old, true)
        }
    };
    if modified {
        x.touch_dirty(1);
        x.notify('$', "setbit", key);
    }
    Ok(Reply::Int(i64::from(old)))
}

fn getbit(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let off = bit_offset(x, &a[2])?;
    match x.lookup_read(&a[1]) {
        None => Ok(Reply::Int(0)),
        Some(e) => Ok(Reply::Int(i64::from(bits::getbit(as_str(e)?, off)))),
    }
}

/// BITCOUNT: a missing key is 0 before any argument is looked at (as Redis).
fn bitcount(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let args = rest(a, 2);
    let n = match x.lookup_read(&a[1]) {
        None => bits::bitcount_cmd(None, &args)?,
        Some(e) => bits::bitcount_cmd(Some(as_str(e)?), &args)?,
    };
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// BITPOS: the bit argument is checked before the key is looked up.
fn bitpos(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let args = rest(a, 2);
    let missing = bits::bitpos_cmd(None, &args)?;
    let n = match x.lookup_read(&a[1]) {
        None => missing,
        Some(e) => bits::bitpos_cmd(Some(as_str(e)?), &args)?,
    };
    Ok(Reply::Int(n))
}

/// BITOP: stores the result (no TTL, `raw`) or deletes the destination if every source
/// is empty or missing.
fn bitop(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let op = bits::parse_bitop(&a[1])?;
    bits::bitop_check_sources(op, a.len() - 3)?;
    for k in &a[3..] {
        if let Some(e) = x.lookup_read(k) {
            as_str(e)?;
        }
    }
    let db = &x.st.ks.dbs[x.db];
    let srcs: Vec<&[u8]> = a[3..]
        .iter()
        .map(|k| {
            db.get(k)
                .and_then(|e| as_str(e).ok())
                .map_or(&[][..], |s| &s[..])
        })
        .collect();
    let out = bits::bitop(op, &srcs);
    let dest = &a[2];
    let len = out.len();
    if out.is_empty() {
        if x.db().remove(dest).is_some() {
            x.touch_dirty(1);
            x.notify('g', "del", dest);
        }
    } else {
        let e = raw_entry(x, out);
        x.insert_key(dest, e);
        x.touch_dirty(1);
        x.notify('$', "set", dest);
    }
    Ok(int_reply(len))
}

/// Run one GET on a 9-byte window of `v` (zero beyond the end), without copying `v`.
fn read_field(v: &[u8], op: &BitfieldOp) -> Option<i64> {
    let start = usize::try_from(op.offset >> 3)
        .unwrap_or(usize::MAX)
        .min(v.len());
    let end = start.saturating_add(9).min(v.len());
    let mut window = v[start..end].to_vec();
    let local = BitfieldOp {
        offset: op.offset & 7,
        ..*op
    };
    bits::bitfield_apply(&mut window, &[local])
        .replies
        .first()
        .copied()
        .flatten()
}

fn field_replies(replies: impl IntoIterator<Item = Option<i64>>) -> Reply {
    Reply::Array(
        replies
            .into_iter()
            .map(|r| r.map_or(Reply::Null, Reply::Int))
            .collect(),
    )
}

/// BITFIELD / BITFIELD_RO. With any SET/INCRBY the key is created or zero-extended (even
/// if every write fails under OVERFLOW FAIL); a write counts as a change when it changed
/// its field or the string was created or grown, as Redis counts; GET-only calls read
/// without modifying.
fn bitfield_generic(x: &mut Exec<'_>, a: &[Bytes], readonly: bool) -> Result<Reply, CmdError> {
    let ops = bits::bitfield_parse(&rest(a, 2), readonly)?;
    let max = max_len(x);
    if ops.iter().any(|o| (o.offset >> 3) >= max) {
        return Err(offset_error());
    }
    let key = &a[1];
    if bits::bitfield_write_len(&ops).is_none() {
        return Ok(match x.lookup_read(key) {
            None => field_replies(ops.iter().map(|o| read_field(&[], o))),
            Some(e) => {
                let v = as_str(e)?;
                field_replies(ops.iter().map(|o| read_field(v, o)))
            }
        });
    }
    // Redis counts a write as a change when it changed the field's value, or when the
    // call created or grew the string (then every write that was not refused counts).
    // A created or grown string is journaled even if every write was refused.
    let (out, changes, resized) = match x.lookup_write(key) {
        Some(e) => {
            let v = as_str_mut(e)?;
            let before = v.len();
            let out = bits::bitfield_apply(v, &ops);
            let grew = v.len() != before;
            e.raw = true;
            let changes = if grew { out.writes } else { out.changes };
            (out, changes, grew)
        }
        None => {
            let mut v = Vec::new();
            let out = bits::bitfield_apply(&mut v, &ops);
            let e = raw_entry(x, v);
            x.insert_key(key, e);
            let changes = out.writes;
            (out, changes, true)
        }
    };
    if changes > 0 || resized {
        x.touch_dirty(u64::try_from(changes).unwrap_or(1).max(1));
    }
    if changes > 0 {
        x.notify('$', "setbit", key);
    }
    Ok(field_replies(out.replies))
}

fn bitfield(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    bitfield_generic(x, a, false)
}

fn bitfield_ro(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    bitfield_generic(x, a, true)
}

#[cfg(test)]
mod tests {
    use crate::cmd::string::testkit::*;
    use crate::resp::Reply;

    // Every expected reply below was checked against redis-server 7.0.15.
    const OFFSET: &str = "ERR bit offset is not an integer or out of range";
    const SYNTAX: &str = "ERR syntax error";
    const NOT_INT: &str = "ERR value is not an integer or out of range";
    const BF_TYPE: &str =
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

    #[test]
    fn setbit_getbit() {
        let mut t = Kit::new();
        t.is("setbit b -1 1", err(OFFSET));
        t.is("setbit b abc 1", err(OFFSET));
        t.is("setbit b 4294967296 1", err(OFFSET));
        for v in ["2", "-1", "abc"] {
            t.is(
                &format!("setbit b 1 {v}"),
                err("ERR bit is not an integer or out of range"),
            );
        }
        t.is("getbit b 4294967296", err(OFFSET));
        t.is("getbit nokey abc", err(OFFSET));
        t.is("getbit nokey 1", int(0));
        t.logs("setbit b 7 1", int(0), &["setbit b 7 1"]);
        assert_eq!(t.encoding(b"b"), "raw");
        assert_eq!(t.raw_get(b"b"), Some(vec![1]));
        t.logs("setbit b 7 1", int(1), &[]);
        t.logs("setbit b 8 0", int(0), &["setbit b 8 0"]);
        assert_eq!(t.raw_get(b"b"), Some(vec![1, 0]));
        t.is("getbit b 7", int(1));
        t.is("getbit b 100", int(0));
        t.logs("setbit z 3 0", int(0), &["setbit z 3 0"]);
        assert_eq!(t.raw_get(b"z"), Some(vec![0]));
        t.is("set s a ex 100", ok());
        t.is("setbit s 6 1", int(0));
        t.is("get s", bulk("c"));
        assert_eq!(t.expire_at(b"s"), T0 + 100_000);
        // The offset bound follows proto-max-bulk-len.
        t.st.config.proto_max_bulk_len = 1_048_576;
        t.is("setbit bb 8388607 1", int(0));
        t.is("setbit bb 8388608 1", err(OFFSET));
        t.is("getbit bb 8388608", err(OFFSET));
        t.check_replay();
    }

    #[test]
    fn bitcount_and_bitpos() {
        let mut t = Kit::new();
        t.is("bitcount nokey a b", int(0));
        t.is("bitcount nokey 1", int(0));
        t.is("setbit b 7 1", int(0));
        t.is("bitcount b 1", err(SYNTAX));
        t.is("bitcount b a b", err(NOT_INT));
        t.is("bitcount b 0 -1 foo", err(SYNTAX));
        t.is("bitcount b 0 -1 bit", int(1));
        t.is("bitcount b 0 -1 BYTE", int(1));
        t.is("bitcount b -1 -2", int(0));
        t.is("bitcount b 0 1 2 3", err(SYNTAX));
        t.is("set foo foobar", ok());
        t.is("bitcount foo", int(26));
        t.is("bitcount foo 1 1", int(6));
        t.is("bitcount foo 5 30 bit", int(17));
        t.is(
            "bitpos nokey 2",
            err("ERR The bit argument must be 1 or 0."),
        );
        t.is("bitpos nokey 1 abc", int(-1));
        t.is("bitpos nokey 0", int(0));
        t.is("bitpos b 2", err("ERR The bit argument must be 1 or 0."));
        t.is("bitpos b 1 abc", err(NOT_INT));
        t.is("bitpos b 1 0 -1 foo", err(SYNTAX));
        t.is("bitpos b 0 0 -1 bit", int(0));
        t.is("bitpos b 0 0", int(0));
        t.is("bitpos b 1 1 0", int(-1));
        t.is("bitpos b 1 0 1 2 3", err(SYNTAX));
        t.call(&[b"set", b"ff", b"\xff"]);
        t.is("bitpos ff 0", int(8));
        t.is("bitpos ff 0 0", int(8));
        t.is("bitpos ff 0 0 -1", int(-1));
        t.is("bitpos foo 1 7 15 bit", int(9));
        assert!(t.last.is_empty());
    }

    #[test]
    fn bitop_variants() {
        let mut t = Kit::new();
        t.is("bitop foo d a", err(SYNTAX));
        t.is(
            "bitop not d a b",
            err("ERR BITOP NOT must be called with a single source key."),
        );
        t.logs("bitop not d nokey", int(0), &[]);
        t.is("set d x", ok());
        t.logs("bitop and d n1 n2", int(0), &["bitop and d n1 n2"]);
        t.is("exists d", int(0));
        t.is("mset a abc b b", ok());
        t.is("bitop and d a b", int(3));
        assert_eq!(t.raw_get(b"d"), Some(b"`\0\0".to_vec()));
        t.is("bitop or d a b", int(3));
        t.is("get d", bulk("cbc"));
        t.is("bitop xor d a b", int(3));
        assert_eq!(t.raw_get(b"d"), Some(b"\x03bc".to_vec()));
        t.logs("bitop not d a", int(3), &["bitop not d a"]);
        assert_eq!(t.raw_get(b"d"), Some(vec![!b'a', !b'b', !b'c']));
        assert_eq!(t.encoding(b"d"), "raw");
        t.is("expire d 100", int(1));
        t.is("bitop or d a", int(3));
        assert_eq!(t.expire_at(b"d"), -1);
        t.check_replay();
    }

    #[test]
    fn bitfield_counts_changes_as_redis() {
        // Redis's bitops.tcl "SETBIT/BITFIELD only increase dirty when the value changed".
        let mut t = Kit::new();
        let d0 = t.st.dirty;
        t.logs(
            "bitfield bf set i5 0 0",
            arr(vec![int(0)]),
            &["bitfield bf set i5 0 0"],
        );
        assert_eq!(t.st.dirty, d0 + 1, "a created key counts");
        t.logs("bitfield bf set i5 0 0", arr(vec![int(0)]), &[]);
        assert_eq!(t.st.dirty, d0 + 1, "no change, no dirty, nothing journaled");
        t.is(
            "bitfield bf set i5 0 1 set i5 0 1 set i5 0 0",
            arr(vec![int(0), int(1), int(1)]),
        );
        assert_eq!(t.st.dirty, d0 + 3, "two of three writes changed the value");
        t.is(
            "bitfield bf set u8 8 0 set u8 0 0",
            arr(vec![int(0), int(0)]),
        );
        assert_eq!(t.st.dirty, d0 + 5, "a grown string counts every write");
        t.is(
            "bitfield bf overflow fail incrby u2 100 9",
            arr(vec![nil()]),
        );
        assert_eq!(
            t.st.dirty,
            d0 + 6,
            "a grown string is journaled even if no write happened"
        );
        t.check_replay();
    }

    #[test]
    fn bitfield_ops_errors_and_journal() {
        let mut t = Kit::new();
        let line = "bitfield bf get i8 0 set u4 4 15 incrby i5 100 1 overflow sat incrby i5 100 100 overflow fail incrby u2 102 5";
        t.logs(
            line,
            arr(vec![int(0), int(0), int(1), int(15), nil()]),
            &[line],
        );
        for ty in ["x8", "u64", "i65", "i0"] {
            t.is(&format!("bitfield bf get {ty} 0"), err(BF_TYPE));
        }
        t.is("bitfield bf get u8 -1", err(OFFSET));
        t.is("bitfield bf get u8 abc", err(OFFSET));
        t.is("bitfield bf get u8 #-1", err(OFFSET));
        t.is("bitfield bf get u8 4294967296", err(OFFSET));
        t.is("bitfield bf get u8 #536870912", err(OFFSET));
        t.is("bitfield bf get u8 #536870911", arr(vec![int(0)]));
        t.is("bitfield bf get u8 #1", arr(vec![int(0)]));
        t.logs(
            "bitfield bf set u8 #1 300",
            arr(vec![int(0)]),
            &["bitfield bf set u8 #1 300"],
        );
        t.is("bitfield bf get u8 #1", arr(vec![int(44)]));
        t.is(
            "bitfield bf overflow foo",
            err("ERR Invalid OVERFLOW type specified"),
        );
        t.is("bitfield bf foo", err(SYNTAX));
        t.is("bitfield bf get u8", err(SYNTAX));
        t.is("bitfield bf set u8 0 abc", err(NOT_INT));
        t.is("bitfield bf set u8 0", err(SYNTAX));
        t.is(
            "bitfield_ro bf get u8 0 set u8 0 1",
            err("ERR BITFIELD_RO only supports the GET subcommand"),
        );
        t.logs("bitfield_ro bf get u8 0", arr(vec![int(15)]), &[]);
        t.is("bitfield bf get i64 0", arr(vec![int(1093248809544187904)]));
        t.logs("bitfield bf overflow wrap", arr(vec![]), &[]);
        t.logs("bitfield nokey2", arr(vec![]), &[]);
        t.logs("bitfield nokey3 get u8 0", arr(vec![int(0)]), &[]);
        t.is("exists nokey3", int(0));
        // A failing write still creates the (zeroed) key, as Redis does.
        t.logs(
            "bitfield nokey4 overflow fail set u2 0 7",
            arr(vec![nil()]),
            &["bitfield nokey4 overflow fail set u2 0 7"],
        );
        assert_eq!(t.raw_get(b"nokey4"), Some(vec![0]));
        // ... but on an existing key that needs no growth nothing changes.
        t.logs(
            "bitfield nokey4 overflow fail set u2 0 7",
            arr(vec![nil()]),
            &[],
        );
        t.is("set s a", ok());
        t.is("bitfield s get u8 0", arr(vec![int(97)]));
        t.is(
            "bitfield_ro s get u8 0 get u4 100",
            arr(vec![int(97), int(0)]),
        );
        t.is("setbit s 6 1", int(0));
        t.is(
            "bitfield_ro s get i64 0",
            arr(vec![int(7133701809754865664)]),
        );
        t.is("set nn 5", ok());
        t.is("bitfield nn get u8 0", arr(vec![int(53)]));
        t.check_replay();
    }

    #[test]
    fn command_table_entries() {
        for name in [
            "setbit",
            "getbit",
            "bitcount",
            "bitpos",
            "bitop",
            "bitfield",
            "bitfield_ro",
        ] {
            let c = crate::cmd::COMMANDS.get(name.as_bytes()).expect(name);
            assert_eq!(c.group.name(), "bitmap", "{name}");
        }
        let c = crate::cmd::COMMANDS.get(b"bitop").expect("registered");
        assert_eq!(
            (c.arity, c.keys.first, c.keys.last, c.keys.step),
            (-4, 2, -1, 1)
        );
        let _ = Reply::Null;
    }
}
