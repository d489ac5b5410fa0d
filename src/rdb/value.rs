//! One value in RDB value encoding: a type byte and its body, as in DUMP payloads and in
//! the key records of an RDB file. `decode` reads every type and encoding redis-server 7.0
//! writes or loads (plus 7.2's SET_LISTPACK and STREAM_LISTPACKS_3) and builds the value
//! with the caller's encoding thresholds; `encode` writes what Redis 7.0 would write:
//! listpacks for compact hashes and sorted sets, an intset for integer sets, QUICKLIST_2
//! for lists, STREAM_LISTPACKS_2 for streams. `dump`/`restore` add and check DUMP's footer
//! (RDB version u16 LE + CRC-64 LE of everything before it).

use std::collections::BTreeSet;

use crate::db::hash::{self, Hash};
use crate::db::list::{End, List};
use crate::db::set::{Member, Set};
use crate::db::shared::Shared;
use crate::db::stream::{CGroup, Consumer, Fields, Nack, Stream, StreamId, NODE_MAX_ENTRIES};
use crate::db::zset::{self, ZSet};
use crate::db::Value;

use super::listpack::{self, Item};
use super::{crc64, intset, put_len, put_string, types as t, ziplist, Limits, RdbError, Reader};

fn bad(what: impl Into<String>) -> RdbError {
    RdbError::Bad(what.into())
}

/// Decode the body of a value of type `ty`.
pub fn decode(ty: u8, r: &mut Reader<'_>, lim: &Limits) -> Result<Value, RdbError> {
    let v = match ty {
        t::STRING => Value::Str(r.string()?.into()),
        t::LIST => {
            let n = r.count(1)?;
            let mut l = List::new();
            for _ in 0..n {
                l.push(End::Right, &r.string()?, lim.list_fill);
            }
            Value::List(Box::new(l))
        }
        t::SET => {
            let n = r.count(1)?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(r.string()?);
            }
            set_from(members.iter().map(Vec::as_slice), lim)?
        }
        t::ZSET | t::ZSET_2 => {
            let n = r.count(2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?;
                let s = if ty == t::ZSET {
                    r.string_double()?
                } else {
                    r.binary_double()?
                };
                pairs.push((m, s));
            }
            zset_from(pairs, lim)?
        }
        t::HASH => {
            let n = r.count(2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                pairs.push((f, v));
            }
            hash_from(pairs.iter().map(|(f, v)| (f.as_slice(), v.as_slice())), lim)?
        }
        t::MODULE_PRE_GA | t::MODULE_2 => return Err(RdbError::Module(ty)),
        t::HASH_ZIPMAP => {
            let blob = r.string()?;
            hash_from(ziplist::decode_zipmap(&blob)?.into_iter(), lim)?
        }
        t::LIST_ZIPLIST => {
            let blob = r.string()?;
            let mut l = List::new();
            for it in ziplist::decode(&blob)? {
                l.push(End::Right, &it.to_vec(), lim.list_fill);
            }
            Value::List(Box::new(l))
        }
        t::SET_INTSET => {
            let blob = r.string()?;
            let ints = intset::decode(&blob)?;
            let strs: Vec<Vec<u8>> = ints.iter().map(|v| v.to_string().into_bytes()).collect();
            set_from(strs.iter().map(Vec::as_slice), lim)?
        }
        t::SET_LISTPACK => {
            let blob = r.string()?;
            let items: Vec<Vec<u8>> = listpack::decode(&blob)?.iter().map(Item::to_vec).collect();
            set_from(items.iter().map(Vec::as_slice), lim)?
        }
        t::ZSET_ZIPLIST | t::ZSET_LISTPACK => {
            let blob = r.string()?;
            let items = if ty == t::ZSET_ZIPLIST {
                ziplist::decode(&blob)?
            } else {
                listpack::decode(&blob)?
            };
            if items.len() % 2 != 0 {
                return Err(bad("sorted set blob with an odd number of elements"));
            }
            let mut pairs = Vec::with_capacity(items.len() / 2);
            for p in items.chunks_exact(2) {
                let s = match &p[1] {
                    #[expect(clippy::cast_precision_loss, reason = "as Redis's zzlGetScore")]
                    Item::Int(n) => *n as f64,
                    Item::Str(s) => super::parse_double(s).ok_or_else(|| bad("bad score"))?,
                };
                pairs.push((p[0].to_vec(), s));
            }
            zset_from(pairs, lim)?
        }
        t::HASH_ZIPLIST | t::HASH_LISTPACK => {
            let blob = r.string()?;
            let items = if ty == t::HASH_ZIPLIST {
                ziplist::decode(&blob)?
            } else {
                listpack::decode(&blob)?
            };
            if items.len() % 2 != 0 {
                return Err(bad("hash blob with an odd number of elements"));
            }
            let owned: Vec<(Vec<u8>, Vec<u8>)> = items
                .chunks_exact(2)
                .map(|p| (p[0].to_vec(), p[1].to_vec()))
                .collect();
            hash_from(owned.iter().map(|(f, v)| (f.as_slice(), v.as_slice())), lim)?
        }
        t::LIST_QUICKLIST | t::LIST_QUICKLIST_2 => {
            let nodes = r.count(1)?;
            let mut l = List::new();
            for _ in 0..nodes {
                let container = if ty == t::LIST_QUICKLIST_2 {
                    r.length()?
                } else {
                    2
                };
                let blob = r.string()?;
                // Redis refuses an empty node (rdb.c: `encoded_len == 0`).
                if blob.is_empty() {
                    return Err(bad("empty quicklist node".to_string()));
                }
                match container {
                    1 => l.push(End::Right, &blob, lim.list_fill),
                    2 => {
                        let items = if ty == t::LIST_QUICKLIST {
                            ziplist::decode(&blob)?
                        } else {
                            listpack::decode(&blob)?
                        };
                        for it in items {
                            l.push(End::Right, &it.to_vec(), lim.list_fill);
                        }
                    }
                    c => return Err(bad(format!("unknown quicklist container {c}"))),
                }
            }
            Value::List(Box::new(l))
        }
        t::STREAM_LISTPACKS | t::STREAM_LISTPACKS_2 | t::STREAM_LISTPACKS_3 => {
            Value::Stream(Shared::new(decode_stream(ty, r)?))
        }
        other => return Err(bad(format!("unknown value type {other}"))),
    };
    if v.element_count() == 0 && !matches!(v, Value::Str(_) | Value::Stream(_)) {
        return Err(RdbError::Empty);
    }
    Ok(v)
}

fn set_from<'a>(members: impl Iterator<Item = &'a [u8]>, lim: &Limits) -> Result<Value, RdbError> {
    let mut s = Set::new();
    for m in members {
        if !s.insert(m, lim.set_intset) {
            return Err(bad("Duplicate set members detected"));
        }
    }
    Ok(Value::Set(Box::new(s)))
}

fn zset_from(pairs: Vec<(Vec<u8>, f64)>, lim: &Limits) -> Result<Value, RdbError> {
    let zl = zset::Limits {
        entries: lim.zset_entries,
        value: lim.zset_value,
    };
    let max = pairs.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(pairs.len(), max, zl);
    for (m, s) in pairs {
        if s.is_nan() {
            return Err(bad("NaN score"));
        }
        if z.score(&m).is_some() {
            return Err(bad("Duplicate zset fields detected"));
        }
        z.insert_new(&m, s, zl);
    }
    Ok(Value::ZSet(Box::new(z)))
}

fn hash_from<'a>(
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    lim: &Limits,
) -> Result<Value, RdbError> {
    let hl = hash::Limits {
        max_entries: lim.hash_entries,
        max_value: lim.hash_value,
    };
    let mut h = Hash::new();
    for (f, v) in pairs {
        if !h.set(f, v, hl) {
            return Err(bad("Duplicate hash fields detected"));
        }
    }
    Ok(Value::Hash(h))
}

fn id_from_be(b: &[u8]) -> Result<StreamId, RdbError> {
    if b.len() != 16 {
        return Err(bad("stream ID is not 16 bytes"));
    }
    Ok(StreamId::new(super::be(&b[..8]), super::be(&b[8..])))
}

fn id_be(id: StreamId) -> Vec<u8> {
    let mut b = Vec::with_capacity(16);
    super::put_be(&mut b, id.ms, 8);
    super::put_be(&mut b, id.seq, 8);
    b
}

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

fn decode_stream(ty: u8, r: &mut Reader<'_>) -> Result<Stream, RdbError> {
    let nodes = r.count(2)?;
    let mut entries: Vec<(StreamId, Fields, bool)> = Vec::new();
    for _ in 0..nodes {
        let master = id_from_be(&r.string()?)?;
        let blob = r.string()?;
        let items = listpack::decode(&blob)?;
        if items.is_empty() {
            return Err(bad("empty listpack inside stream"));
        }
        let mut it = items.iter();
        let mut int = |what: &str| -> Result<i64, RdbError> {
            it.next()
                .and_then(Item::as_i64)
                .ok_or_else(|| bad(format!("stream node: missing {what}")))
        };
        let count = int("count")?;
        let deleted = int("deleted count")?;
        // Every entry the node holds, live or deleted (Redis's deep integrity check).
        let in_node = count
            .checked_add(deleted)
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad("stream node: bad entry counts"))?;
        let nmaster = usize::try_from(int("master field count")?)
            .map_err(|_| bad("stream node: negative field count"))?;
        if nmaster > items.len() {
            return Err(bad("stream node: field count past the end"));
        }
        let rest = &items[3..];
        let master_fields: Vec<Vec<u8>> = rest[..nmaster].iter().map(Item::to_vec).collect();
        let mut p = nmaster;
        let get = |p: &mut usize| -> Result<&Item<'_>, RdbError> {
            let x = rest
                .get(*p)
                .ok_or_else(|| bad("stream node: truncated entry"))?;
            *p += 1;
            Ok(x)
        };
        let get_int = |p: &mut usize| -> Result<i64, RdbError> {
            get(p)?
                .as_i64()
                .ok_or_else(|| bad("stream node: integer expected"))
        };
        if get_int(&mut p)? != 0 {
            return Err(bad("stream node: master entry not terminated"));
        }
        for _ in 0..in_node {
            let flags = get_int(&mut p)?;
            #[expect(clippy::cast_sign_loss, reason = "wrapping ID arithmetic, as Redis")]
            let id = StreamId::new(
                master.ms.wrapping_add(get_int(&mut p)? as u64),
                master.seq.wrapping_add(get_int(&mut p)? as u64),
            );
            let mut fields: Vec<Box<[u8]>> = Vec::new();
            // lp-count: the entry's own elements (flags and the two ID parts, the values,
            // and unless it shares the master fields, their count and names).
            let elements = if flags & FLAG_SAMEFIELDS != 0 {
                for f in &master_fields {
                    fields.push(f.clone().into_boxed_slice());
                    fields.push(get(&mut p)?.to_vec().into_boxed_slice());
                }
                master_fields.len() + 3
            } else {
                let n = usize::try_from(get_int(&mut p)?)
                    .map_err(|_| bad("stream node: negative field count"))?;
                if n > rest.len() {
                    return Err(bad("stream node: field count past the end"));
                }
                for _ in 0..n * 2 {
                    fields.push(get(&mut p)?.to_vec().into_boxed_slice());
                }
                2 * n + 4
            };
            if usize::try_from(get_int(&mut p)?).ok() != Some(elements) {
                return Err(bad("stream node: entry's lp-count does not match it"));
            }
            if entries.last().is_some_and(|(last, _, _)| *last >= id) {
                return Err(bad("stream entries out of order"));
            }
            entries.push((id, fields.into_boxed_slice(), flags & FLAG_DELETED != 0));
        }
        if p != rest.len() {
            return Err(bad("stream node: more entries than its counts"));
        }
    }
    let mut s = Stream::new();
    let mut tombstones = Vec::new();
    for (id, f, deleted) in entries {
        s.append(id, f);
        if deleted {
            tombstones.push(id);
        }
    }
    s.delete(&tombstones);
    let length = r.length()?;
    if length != s.len() as u64 {
        return Err(bad("stream length does not match its entries"));
    }
    s.last_id = StreamId::new(r.length()?, r.length()?);
    if ty >= t::STREAM_LISTPACKS_2 {
        s.first_id = StreamId::new(r.length()?, r.length()?);
        s.max_deleted_id = StreamId::new(r.length()?, r.length()?);
        s.entries_added = r.length()?;
    } else {
        s.first_id = s.first().map_or(StreamId::MIN, |(id, _)| *id);
        s.max_deleted_id = StreamId::MIN;
        s.entries_added = length;
    }
    if s.last().is_some_and(|(id, _)| *id > s.last_id) {
        return Err(bad("stream last ID below its last entry"));
    }
    let ngroups = r.count(3)?;
    for _ in 0..ngroups {
        let name = r.string()?.into_boxed_slice();
        let last_id = StreamId::new(r.length()?, r.length()?);
        #[expect(
            clippy::cast_possible_wrap,
            reason = "Redis saves -1 as a 64-bit length"
        )]
        let entries_read = if ty >= t::STREAM_LISTPACKS_2 {
            r.length()? as i64
        } else {
            s.estimate_distance(last_id)
        };
        let mut g = CGroup::new(last_id, entries_read);
        let npel = r.count(17)?;
        for _ in 0..npel {
            let id = id_from_be(r.take(16)?)?;
            #[expect(clippy::cast_possible_wrap, reason = "ms timestamps")]
            let delivery_time = r.u64_le()? as i64;
            let delivery_count = r.length()?;
            let nack = Nack {
                consumer: Box::from(&b""[..]),
                delivery_time,
                delivery_count,
            };
            if g.pel.insert(id, nack).is_some() {
                return Err(bad(
                    "Duplicated global PEL entry loading stream consumer group",
                ));
            }
        }
        let nconsumers = r.count(10)?;
        for _ in 0..nconsumers {
            let cname = r.string()?.into_boxed_slice();
            #[expect(clippy::cast_possible_wrap, reason = "ms timestamps")]
            let seen_time = r.u64_le()? as i64;
            if ty >= t::STREAM_LISTPACKS_3 {
                let _active_time = r.u64_le()?;
            }
            let n = r.count(16)?;
            let mut pel = BTreeSet::new();
            for _ in 0..n {
                let id = id_from_be(r.take(16)?)?;
                let nack = g
                    .pel
                    .get_mut(&id)
                    .ok_or_else(|| bad("Consumer entry not found in group global PEL"))?;
                if !nack.consumer.is_empty() {
                    return Err(bad("PEL entry owned by two consumers"));
                }
                nack.consumer = cname.clone();
                pel.insert(id);
            }
            if g.consumers
                .insert(cname, Consumer { seen_time, pel })
                .is_some()
            {
                return Err(bad("Duplicate stream consumer detected."));
            }
        }
        if g.pel.values().any(|n| n.consumer.is_empty()) {
            return Err(bad("Stream CG PEL entry without consumer"));
        }
        if s.groups.contains_key(&name) {
            return Err(bad(format!(
                "Duplicated consumer group name {}",
                String::from_utf8_lossy(&name)
            )));
        }
        s.groups.insert(name, g);
    }
    Ok(s)
}

/// The type byte `encode` writes for `v`.
pub fn type_of(v: &Value) -> u8 {
    match v {
        Value::Str(_) => t::STRING,
        Value::List(_) => t::LIST_QUICKLIST_2,
        Value::Set(s) => {
            if s.encoding() == "intset" {
                t::SET_INTSET
            } else {
                t::SET
            }
        }
        Value::ZSet(z) => {
            if z.is_big() {
                t::ZSET_2
            } else {
                t::ZSET_LISTPACK
            }
        }
        Value::Hash(h) => {
            if h.is_compact() {
                t::HASH_LISTPACK
            } else {
                t::HASH
            }
        }
        Value::Stream(_) => t::STREAM_LISTPACKS_2,
    }
}

/// Largest listpack node a list gets (`list-max-listpack-size -2`: 8 KB).
const LIST_NODE_BYTES: usize = 8192;

/// Append `v` as a type byte and body.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    let ty = type_of(v);
    out.push(ty);
    match v {
        Value::Str(s) => put_string(out, s),
        Value::List(l) => {
            // Packed nodes of up to 8 KB; an element too big for a node goes alone in a
            // packed node too (Redis 7.0 uses plain nodes only past 1 GB).
            let mut nodes: Vec<Vec<u8>> = Vec::new();
            let mut b = listpack::Builder::new();
            for e in l.iter() {
                if !b.is_empty() && b.bytes() + e.len() + 11 > LIST_NODE_BYTES {
                    nodes.push(std::mem::take(&mut b).finish());
                    b = listpack::Builder::new();
                }
                b.push(e);
            }
            if !b.is_empty() {
                nodes.push(b.finish());
            }
            put_len(out, nodes.len() as u64);
            for n in nodes {
                put_len(out, 2);
                put_string(out, &n);
            }
        }
        Value::Set(s) => {
            if ty == t::SET_INTSET {
                let mut ints: Vec<i64> = s
                    .iter()
                    .filter_map(|m| match m {
                        Member::Int(n) => Some(n),
                        Member::Str(b) => listpack::canonical_int(b),
                    })
                    .collect();
                ints.sort_unstable();
                put_string(out, &intset::encode(&ints));
            } else {
                put_len(out, s.len() as u64);
                for m in s.iter() {
                    put_string(out, &m.to_vec());
                }
            }
        }
        Value::ZSet(z) => {
            if ty == t::ZSET_LISTPACK {
                let mut b = listpack::Builder::new();
                z.for_each(|m, s| {
                    b.push(m);
                    b.push(score_text(s).as_bytes());
                });
                put_string(out, &b.finish());
            } else {
                put_len(out, z.len() as u64);
                // Redis saves from the tail so loading inserts at the head cheaply.
                let all = z.to_vec();
                for (m, s) in all.iter().rev() {
                    put_string(out, m);
                    out.extend_from_slice(&s.to_bits().to_le_bytes());
                }
            }
        }
        Value::Hash(h) => {
            if ty == t::HASH_LISTPACK {
                let mut b = listpack::Builder::new();
                for (f, v) in h.iter() {
                    b.push(f);
                    b.push(v);
                }
                put_string(out, &b.finish());
            } else {
                put_len(out, h.len() as u64);
                for (f, v) in h.iter() {
                    put_string(out, f);
                    put_string(out, v);
                }
            }
        }
        Value::Stream(s) => encode_stream(s, out),
    }
}

/// A score as text that parses back to the same double (`d2string`-like).
fn score_text(s: f64) -> String {
    if s.is_infinite() {
        return if s > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if s == 0.0 && s.is_sign_negative() {
        return "-0".into();
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "checked integral and in range"
    )]
    if s.fract() == 0.0 && s.abs() < 1e17 {
        return format!("{}", s as i64);
    }
    format!("{s:?}")
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_len(out, id.ms);
    put_len(out, id.seq);
}

fn encode_stream(s: &Stream, out: &mut Vec<u8>) {
    let all: Vec<(&StreamId, &Fields)> = s.range(StreamId::MIN, StreamId::MAX).collect();
    let chunks: Vec<&[(&StreamId, &Fields)]> = all.chunks(NODE_MAX_ENTRIES as usize).collect();
    put_len(out, chunks.len() as u64);
    for chunk in chunks {
        let master = *chunk[0].0;
        let master_fields: Vec<&[u8]> = chunk[0].1.iter().step_by(2).map(|f| &f[..]).collect();
        let mut b = listpack::Builder::new();
        b.push_int(chunk.len() as i64);
        b.push_int(0);
        b.push_int(master_fields.len() as i64);
        for f in &master_fields {
            b.push(f);
        }
        b.push_int(0);
        for (id, fields) in chunk {
            let names: Vec<&[u8]> = fields.iter().step_by(2).map(|f| &f[..]).collect();
            let same = names == master_fields;
            #[expect(
                clippy::cast_possible_wrap,
                reason = "wrapping ID differences, as Redis"
            )]
            let (dms, dseq) = (
                id.ms.wrapping_sub(master.ms) as i64,
                id.seq.wrapping_sub(master.seq) as i64,
            );
            b.push_int(if same { FLAG_SAMEFIELDS } else { 0 });
            b.push_int(dms);
            b.push_int(dseq);
            let n = names.len() as i64;
            if same {
                for v in fields.iter().skip(1).step_by(2) {
                    b.push(v);
                }
                b.push_int(n + 3);
            } else {
                b.push_int(n);
                for f in fields.iter() {
                    b.push(f);
                }
                b.push_int(2 * n + 4);
            }
        }
        put_string(out, &id_be(master));
        put_string(out, &b.finish());
    }
    put_len(out, s.len() as u64);
    put_id(out, s.last_id);
    put_id(out, s.first_id);
    put_id(out, s.max_deleted_id);
    put_len(out, s.entries_added);
    put_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_string(out, name);
        put_id(out, g.last_id);
        #[expect(clippy::cast_sign_loss, reason = "Redis saves -1 as a 64-bit length")]
        put_len(out, g.entries_read as u64);
        put_len(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            out.extend_from_slice(&id_be(*id));
            out.extend_from_slice(&n.delivery_time.to_le_bytes());
            put_len(out, n.delivery_count);
        }
        put_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            put_string(out, cname);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            put_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id_be(*id));
            }
        }
    }
}

/// A DUMP payload: the value, the RDB version (u16 LE) and the CRC-64 (u64 LE).
pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(v, &mut out);
    out.extend_from_slice(&super::RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why RESTORE refused a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a newer RDB version, or a wrong checksum.
    VersionOrChecksum,
    /// The value does not decode.
    BadData(RdbError),
}

/// What Redis logs when it refuses a RESTORE payload of type `ty` whose packed encoding
/// (ziplist, listpack, intset, zipmap) fails its integrity check (rdb.c's wording), for
/// strata's decoder error `e`; None for other errors.
pub fn integrity_reason(ty: u8, e: &RdbError) -> Option<&'static str> {
    use super::types as t;
    // (An empty zipmap fails Redis's zipmap check; other empty values are skipped keys.)
    let checked = matches!(e, RdbError::Bad(_) | RdbError::Truncated)
        || (ty == t::HASH_ZIPMAP && matches!(e, RdbError::Empty));
    if !checked {
        return None;
    }
    Some(match ty {
        t::HASH_ZIPMAP => "Zipmap integrity check failed.",
        t::LIST_ZIPLIST => "List ziplist integrity check failed.",
        t::SET_INTSET => "Intset integrity check failed.",
        t::ZSET_ZIPLIST => "Zset ziplist integrity check failed.",
        t::HASH_ZIPLIST => "Hash ziplist integrity check failed.",
        t::LIST_QUICKLIST => "Ziplist integrity check failed.",
        t::HASH_LISTPACK => "Hash listpack integrity check failed.",
        t::ZSET_LISTPACK => "Zset listpack integrity check failed.",
        t::LIST_QUICKLIST_2 => "Listpack integrity check failed.",
        t::SET_LISTPACK => "Set listpack integrity check failed.",
        t::STREAM_LISTPACKS | t::STREAM_LISTPACKS_2 | t::STREAM_LISTPACKS_3 => {
            "Stream listpack integrity check failed."
        }
        _ => return None,
    })
}

/// Check a DUMP payload's footer as Redis's `verifyDumpPayload` does.
pub fn verify_payload(p: &[u8]) -> bool {
    if p.len() < 10 {
        return false;
    }
    let f = &p[p.len() - 10..];
    let ver = u16::from_le_bytes([f[0], f[1]]);
    // Redis 7.0 refuses payloads of a newer RDB version than its own (10).
    if ver > super::RDB_VERSION {
        return false;
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&f[2..]);
    crc64::crc64(&p[..p.len() - 8]) == u64::from_le_bytes(c)
}

/// Decode a DUMP payload.
pub fn restore(p: &[u8], lim: &Limits) -> Result<Value, PayloadError> {
    restore_checked(p, lim, true)
}

/// Decode a DUMP payload; without `check_crc` only its length and RDB version are checked
/// (Redis's DEBUG SET-SKIP-CHECKSUM-VALIDATION 1).
pub fn restore_checked(p: &[u8], lim: &Limits, check_crc: bool) -> Result<Value, PayloadError> {
    let ok = if check_crc {
        verify_payload(p)
    } else {
        p.len() >= 10 && u16::from_le_bytes([p[p.len() - 10], p[p.len() - 9]]) <= super::RDB_VERSION
    };
    if !ok {
        return Err(PayloadError::VersionOrChecksum);
    }
    let body = &p[..p.len() - 10];
    let mut r = Reader::new(body);
    let ty = r.u8().map_err(PayloadError::BadData)?;
    // Bytes after the value are ignored, as Redis's RESTORE ignores them.
    decode(ty, &mut r, lim).map_err(PayloadError::BadData)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits::default()
    }

    /// Equal contents (a stream's modelled node layout may differ after a round trip).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Stream(x), Value::Stream(y)) => {
                x.range(StreamId::MIN, StreamId::MAX)
                    .eq(y.range(StreamId::MIN, StreamId::MAX))
                    && x.last_id == y.last_id
                    && x.first_id == y.first_id
                    && x.max_deleted_id == y.max_deleted_id
                    && x.entries_added == y.entries_added
                    && x.groups == y.groups
            }
            _ => a == b,
        }
    }

    fn round_trip(v: &Value) -> Value {
        let p = dump(v);
        restore(&p, &lim()).expect("restores")
    }

    pub(crate) fn samples() -> Vec<Value> {
        let mut out = vec![
            Value::Str(b"hello".to_vec().into()),
            Value::Str(b"12345".to_vec().into()),
            Value::Str(b"-9223372036854775808".to_vec().into()),
            Value::Str(b"x".repeat(1000).into()),
            Value::Str(Vec::new().into()),
        ];
        let mut l = List::new();
        for i in 0..3000 {
            l.push(End::Right, format!("item-{i}").as_bytes(), -2);
        }
        l.push(End::Right, &vec![b'q'; 20_000], -2);
        out.push(Value::List(Box::new(l)));
        for n in [5usize, 600] {
            let mut s = Set::new();
            for i in 0..n {
                s.insert(format!("{}", i as i64 * 1_000_003 - 7).as_bytes(), 512);
            }
            out.push(Value::Set(Box::new(s)));
        }
        let mut s = Set::new();
        s.insert(b"a", 512);
        s.insert(b"1", 512);
        out.push(Value::Set(Box::new(s)));
        let zl = zset::Limits {
            entries: 128,
            value: 64,
        };
        for n in [3usize, 300] {
            let mut z = ZSet::with_hint(n, 10, zl);
            for i in 0..n {
                z.insert_new(format!("m{i}").as_bytes(), i as f64 * 0.1 - 3.0, zl);
            }
            z.insert_new(b"inf", f64::INFINITY, zl);
            z.insert_new(b"big", 1e300, zl);
            z.insert_new(b"int", 42.0, zl);
            z.insert_new(b"negzero", -0.0, zl);
            z.insert_new(b"tiny", 1e-300, zl);
            z.insert_new(b"frac", -1.0 / 3.0, zl);
            out.push(Value::ZSet(Box::new(z)));
        }
        let hl = hash::Limits {
            max_entries: 128,
            max_value: 64,
        };
        for n in [3usize, 300] {
            let mut h = Hash::new();
            for i in 0..n {
                h.set(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), hl);
            }
            out.push(Value::Hash(h));
        }
        let mut st = Stream::new();
        for i in 1..=250u64 {
            let f: Fields = if i % 3 == 0 {
                vec![
                    b"other".to_vec().into_boxed_slice(),
                    format!("{i}").into_bytes().into_boxed_slice(),
                ]
                .into_boxed_slice()
            } else {
                vec![
                    b"a".to_vec().into_boxed_slice(),
                    b"1".to_vec().into_boxed_slice(),
                    b"b".to_vec().into_boxed_slice(),
                    format!("v{i}").into_bytes().into_boxed_slice(),
                ]
                .into_boxed_slice()
            };
            st.append(StreamId::new(1000 + i / 2, i % 2), f);
        }
        st.delete(&[StreamId::new(1001, 0), StreamId::new(1050, 1)]);
        let mut g = CGroup::new(StreamId::new(1010, 0), 19);
        g.consumer(b"alice", 5000);
        g.consumer(b"bob", 6000);
        g.assign(StreamId::new(1002, 0), b"alice", 7000, 2);
        g.assign(StreamId::new(1003, 1), b"bob", 8000, 1);
        st.groups.insert(Box::from(&b"g1"[..]), g);
        st.groups
            .insert(Box::from(&b"g2"[..]), CGroup::new(StreamId::MIN, -1));
        out.push(Value::Stream(Shared::new(st)));
        out.push(Value::Stream(Shared::new(Stream::new())));
        out
    }

    #[test]
    fn every_sample_round_trips() {
        for v in samples() {
            let back = round_trip(&v);
            assert!(
                same(&back, &v),
                "{} differs after a round trip",
                v.type_name()
            );
        }
    }

    #[test]
    fn scores_keep_sign_and_precision() {
        for v in samples() {
            if let Value::ZSet(z) = &v {
                let Value::ZSet(back) = round_trip(&v) else {
                    panic!("zset expected")
                };
                for (m, s) in z.to_vec() {
                    let b = back.score(&m).expect("member kept");
                    assert_eq!(b.to_bits(), s.to_bits(), "{}", String::from_utf8_lossy(&m));
                }
            }
        }
    }

    #[test]
    fn redis_7_2_types_decode() {
        // SET_LISTPACK (20).
        let mut b = listpack::Builder::new();
        for m in [&b"a"[..], b"1", b"b"] {
            b.push(m);
        }
        let mut body = Vec::new();
        put_string(&mut body, &b.finish());
        let v = decode(t::SET_LISTPACK, &mut Reader::new(&body), &lim()).unwrap();
        let Value::Set(s) = v else { panic!("set") };
        assert!(s.contains(b"a") && s.contains(b"1") && s.contains(b"b") && s.len() == 3);
        // STREAM_LISTPACKS_3 (21): a consumer carries an active time after its seen time.
        let mut body = Vec::new();
        put_len(&mut body, 0); // nodes
        put_len(&mut body, 0); // length
        for n in [5, 0, 0, 0, 0, 0] {
            put_len(&mut body, n); // last id, first id, max deleted id
        }
        put_len(&mut body, 3); // entries added
        put_len(&mut body, 1); // groups
        put_string(&mut body, b"g");
        put_id(&mut body, StreamId::new(5, 0));
        put_len(&mut body, 3); // entries read
        put_len(&mut body, 0); // PEL
        put_len(&mut body, 1); // consumers
        put_string(&mut body, b"c");
        body.extend_from_slice(&123i64.to_le_bytes());
        body.extend_from_slice(&456i64.to_le_bytes());
        put_len(&mut body, 0);
        let v = decode(t::STREAM_LISTPACKS_3, &mut Reader::new(&body), &lim()).unwrap();
        let Value::Stream(x) = v else {
            panic!("stream")
        };
        let g = &x.groups[&b"g"[..]];
        assert_eq!(g.consumers[&b"c"[..]].seen_time, 123);
        assert_eq!(
            (x.last_id, x.entries_added, g.entries_read),
            (StreamId::new(5, 0), 3, 3)
        );
    }

    /// A stream node whose entry's lp-count disagrees with the entry (a payload from Redis's
    /// corrupt-dump fuzzer findings) is refused, as Redis's deep integrity check refuses it;
    /// so is the same payload with its node's entry count raised past its entries.
    #[test]
    fn a_stream_node_that_does_not_add_up_is_refused() {
        let hex = "0F01100000017 3DEDF7D9B00000000000000004042420000001800030100010201846974656D05857661                   6C7565060001020100010001010100015601020122010001010182 5F310305010201 2C0100010101                   0201050 1FF0381000001 73DEDF7DC700010 76D7967726F757081000001 73DEDF7D9B0001000001                   73DEDF7D9B0000000000000000F97DDFDE7301000001010541 6C696365EB7DDFDE730100000100                   0001 73DEDF7D9B00000000000000000900B2A8A75F1B6172D5";
        let hex: String = hex.chars().filter(char::is_ascii_hexdigit).collect();
        let p: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert!(matches!(
            restore_checked(&p, &lim(), false),
            Err(PayloadError::BadData(_))
        ));
        // One node of one entry (master entry: count, deleted, one field `f`, 0; the entry:
        // same fields, ID 1-0 as the master's, value `v`, lp-count 4): accepted as built;
        // refused with a wrong lp-count, or counts claiming more or fewer entries.
        let node = |count: i64, deleted: i64, lp_count: i64| {
            let mut b = listpack::Builder::new();
            for i in [count, deleted, 1] {
                b.push_int(i);
            }
            b.push(b"f");
            for i in [0, FLAG_SAMEFIELDS, 0, 0] {
                b.push_int(i);
            }
            b.push(b"v");
            b.push_int(lp_count);
            let mut body = Vec::new();
            put_len(&mut body, 1); // nodes
            put_string(&mut body, &id_be(StreamId::new(1, 0)));
            put_string(&mut body, &b.finish());
            for n in [1, 1, 0, 0] {
                put_len(&mut body, n); // length, last id, groups
            }
            decode(t::STREAM_LISTPACKS, &mut Reader::new(&body), &lim())
        };
        assert!(node(1, 0, 4).is_ok());
        assert!(node(1, 0, 5).is_err(), "lp-count");
        assert!(node(2, 0, 4).is_err(), "an entry missing");
        assert!(node(0, 0, 4).is_err(), "an entry more than counted");
    }

    #[test]
    fn chosen_encodings() {
        let s = samples();
        let types: Vec<u8> = s.iter().map(type_of).collect();
        assert_eq!(
            types,
            vec![0, 0, 0, 0, 0, 18, 11, 2, 2, 17, 5, 16, 4, 19, 19]
        );
    }

    #[test]
    fn redis_payloads_decode() {
        // DUMP output of redis-server 7.0.15 (captured with redis-cli --no-raw DUMP).
        // SET k hello
        let p = b"\x00\x05hello\n\x00cr\xdfve4 \n";
        assert_eq!(restore(p, &lim()), Ok(Value::Str(b"hello".to_vec().into())));
        // SET big <50 x a> (LZF)
        let p = b"\x00\xc3\t2\x01aa\xe0%\x00\x01aa\n\x00\t\xacH\xb9\xab\x15\xfb\xc9";
        assert_eq!(restore(p, &lim()), Ok(Value::Str(vec![b'a'; 50].into())));
        // HSET h a 1 b hello (HASH_LISTPACK)
        let p = b"\x10\x16\x16\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x85hello\x06\xff\n\x00\xe8\xc5\xfe\x99\xee\x07\x95]";
        let Ok(Value::Hash(h)) = restore(p, &lim()) else {
            panic!("hash expected")
        };
        assert_eq!(h.get(b"a"), Some(&b"1"[..]));
        assert_eq!(h.get(b"b"), Some(&b"hello"[..]));
        // RPUSH l a 1 300 (QUICKLIST_2, one packed node)
        let p = b"\x12\x01\x02\x0f\x0f\x00\x00\x00\x03\x00\x81a\x02\x01\x01\xc1,\x02\xff\n\x00\xc9\x19#\x95\xa7\xba\x06\x0f";
        let Ok(Value::List(l)) = restore(p, &lim()) else {
            panic!("list expected")
        };
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"1", b"300"]);
        // Our own encoding of the same values is byte-identical to Redis's.
        assert_eq!(
            dump(&Value::Str(b"hello".to_vec().into())),
            b"\x00\x05hello\n\x00cr\xdfve4 \n"
        );
    }

    /// The reason logged for a refused payload is Redis's wording for its type.
    #[test]
    fn integrity_reasons() {
        let bad = RdbError::Bad("ziplist: x".into());
        assert_eq!(
            integrity_reason(t::ZSET_ZIPLIST, &bad),
            Some("Zset ziplist integrity check failed.")
        );
        assert_eq!(
            integrity_reason(t::STREAM_LISTPACKS_2, &RdbError::Truncated),
            Some("Stream listpack integrity check failed.")
        );
        assert_eq!(
            integrity_reason(t::HASH_ZIPMAP, &RdbError::Empty),
            Some("Zipmap integrity check failed.")
        );
        assert_eq!(integrity_reason(t::SET_INTSET, &RdbError::Empty), None);
        assert_eq!(integrity_reason(t::STRING, &bad), None);
    }

    #[test]
    fn damaged_payloads_are_errors_never_panics() {
        for v in samples() {
            let p = dump(&v);
            for cut in 0..p.len().min(400) {
                assert!(restore(&p[..cut], &lim()).is_err());
            }
            // Flip bytes in the body and fix up the CRC so decoding itself is exercised.
            let body_len = p.len() - 10;
            let step = (body_len / 300).max(1);
            for i in (0..body_len).step_by(step) {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut d = p.clone();
                    d[i] ^= flip;
                    let n = d.len();
                    let crc = crc64::crc64(&d[..n - 8]);
                    d[n - 8..].copy_from_slice(&crc.to_le_bytes());
                    let _ = restore(&d, &lim());
                }
            }
            // Truncated bodies with a valid footer.
            for cut in (1..body_len).step_by(step) {
                let mut d = p[..cut].to_vec();
                d.extend_from_slice(&super::super::RDB_VERSION.to_le_bytes());
                let crc = crc64::crc64(&d);
                d.extend_from_slice(&crc.to_le_bytes());
                assert!(
                    restore(&d, &lim()).is_err(),
                    "{} cut at {cut}",
                    v.type_name()
                );
            }
        }
        let mut p = dump(&Value::Str(b"x".to_vec().into()));
        let n = p.len();
        p[n - 1] ^= 1;
        assert_eq!(restore(&p, &lim()), Err(PayloadError::VersionOrChecksum));
        // Huge announced lengths are refused before allocating.
        let mut d = vec![
            t::LIST,
            0x81,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
        ];
        d.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64::crc64(&d);
        d.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(restore(&d, &lim()), Err(PayloadError::BadData(_))));
        let mut d = vec![6u8, 0, 0];
        d.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64::crc64(&d);
        d.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            restore(&d, &lim()),
            Err(PayloadError::BadData(RdbError::Module(6)))
        );
    }
}
