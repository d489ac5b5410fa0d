//! Bit- and range-level semantics of string values, byte-exact with Redis 7.0:
//! SETBIT/GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD/BITFIELD_RO, GETRANGE/SETRANGE and
//! the proto-max-bulk-len size check. Bits are numbered MSB-first within each byte
//! (bit 0 is `0x80` of byte 0). Functions named `*_cmd` take the raw arguments after
//! the key and reproduce Redis's argument-checking order (which error wins, and which
//! replies short-circuit on a missing key); the others are the plain operations.
//! Pure: std only, no I/O, no RESP; errors are [`DomainError`]s.

use super::strnum::{
    parse_i64, DomainError, ERR_BITPOS_BIT, ERR_BIT_OFFSET, ERR_BIT_VALUE, ERR_OFFSET_OUT_OF_RANGE,
    ERR_STRING_TOO_LONG,
};

/// Redis's default `proto-max-bulk-len` (512 MiB): the largest string value, and the
/// bound on bit offsets (`offset / 8 < PROTO_MAX_BULK_LEN`, so offsets are < 2^32).
pub const PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// Error text: an unknown BITFIELD type.
pub const ERR_BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
/// Error text: an unknown BITFIELD OVERFLOW mode.
pub const ERR_BITFIELD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
/// Error text: a write subcommand in BITFIELD_RO.
pub const ERR_BITFIELD_RO: &str = "ERR BITFIELD_RO only supports the GET subcommand";
/// Error text: BITOP NOT with other than one source.
pub const ERR_BITOP_NOT: &str = "ERR BITOP NOT must be called with a single source key.";

// ---------------------------------------------------------------------------------------
// Sizes, SETRANGE, GETRANGE
// ---------------------------------------------------------------------------------------

/// Redis's `checkStringLength`: a string of `size` bytes growing by `append` bytes must
/// stay within [`PROTO_MAX_BULK_LEN`]; else `OutOfRange(ERR_STRING_TOO_LONG)`
/// (`ERR string exceeds maximum allowed size (proto-max-bulk-len)`). SETRANGE passes
/// (offset, value length), APPEND (current length, appended length).
pub fn check_string_length(size: u64, append: u64) -> Result<(), DomainError> {
    match size.checked_add(append) {
        Some(total) if total <= PROTO_MAX_BULK_LEN => Ok(()),
        _ => Err(DomainError::OutOfRange(ERR_STRING_TOO_LONG)),
    }
}

/// The SETRANGE offset: `NotInteger` if not a `string2ll` integer, negative =>
/// `OutOfRange(ERR_OFFSET_OUT_OF_RANGE)` (`ERR offset is out of range`). Redis checks
/// this before looking at the key. Then, as Redis: an empty value never modifies
/// anything (reply 0 for a missing key, which is not created, else the current length);
/// otherwise [`check_string_length`]`(offset, value.len())` and [`setrange`].
pub fn parse_setrange_offset(arg: &[u8]) -> Result<u64, DomainError> {
    let v = parse_i64(arg).ok_or(DomainError::NotInteger)?;
    u64::try_from(v).map_err(|_| DomainError::OutOfRange(ERR_OFFSET_OUT_OF_RANGE))
}

/// Overwrite `v` at `offset` with `data`, zero-padding first if `v` is shorter than
/// `offset`. An empty `data` changes nothing (not even padding). Callers check the size
/// with [`check_string_length`] first. Returns the new length.
pub fn setrange(v: &mut Vec<u8>, offset: usize, data: &[u8]) -> usize {
    if data.is_empty() {
        return v.len();
    }
    let end = offset + data.len();
    if v.len() < end {
        v.resize(end, 0);
    }
    v[offset..end].copy_from_slice(data);
    v.len()
}

/// GETRANGE's slice: negative indexes count from the end; if both are negative and
/// `start > end` the result is empty; then both are clamped to `>= 0`, `end` to the
/// last byte, and `start > end` (or an empty string) gives empty. So `-200 -100` on
/// `"hello"` is `"h"` (as Redis).
pub fn getrange(v: &[u8], start: i64, end: i64) -> &[u8] {
    let len = v.len() as i128;
    let (mut s, mut e) = (i128::from(start), i128::from(end));
    if s < 0 && e < 0 && s > e {
        return &[];
    }
    if s < 0 {
        s += len;
    }
    if e < 0 {
        e += len;
    }
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return &[];
    }
    match (usize::try_from(s), usize::try_from(e)) {
        (Ok(s), Ok(e)) => &v[s..=e],
        _ => &[],
    }
}

// ---------------------------------------------------------------------------------------
// SETBIT / GETBIT
// ---------------------------------------------------------------------------------------

/// Redis's `getBitOffsetFromArgument`: a `string2ll` integer, or with `hash_bits` set
/// (BITFIELD) also `#N` meaning `N * bits` (multiplied with two's-complement wrap, as
/// Redis's C does). Negative or `offset / 8 >= 512 MiB` =>
/// `OutOfRange(ERR_BIT_OFFSET)`.
fn parse_offset(arg: &[u8], hash_bits: Option<u32>) -> Result<u64, DomainError> {
    let err = DomainError::OutOfRange(ERR_BIT_OFFSET);
    let (bits, digits) = match (hash_bits, arg.split_first()) {
        (Some(bits), Some((b'#', rest))) => (Some(bits), rest),
        _ => (None, arg),
    };
    let mut off = parse_i64(digits).ok_or_else(|| err.clone())?;
    if let Some(bits) = bits {
        off = off.wrapping_mul(i64::from(bits));
    }
    match u64::try_from(off) {
        Ok(o) if (o >> 3) < PROTO_MAX_BULK_LEN => Ok(o),
        _ => Err(err),
    }
}

/// A SETBIT/GETBIT offset (no `#` form): `OutOfRange(ERR_BIT_OFFSET)` unless an integer
/// in `0..2^32`.
pub fn parse_bit_offset(arg: &[u8]) -> Result<u64, DomainError> {
    parse_offset(arg, None)
}

/// The SETBIT value: exactly `0` or `1` (as `string2ll`), else
/// `OutOfRange(ERR_BIT_VALUE)` (`ERR bit is not an integer or out of range`).
pub fn parse_bit_value(arg: &[u8]) -> Result<bool, DomainError> {
    match parse_i64(arg) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(DomainError::OutOfRange(ERR_BIT_VALUE)),
    }
}

fn byte_index(bit: u64) -> usize {
    usize::try_from(bit >> 3).unwrap_or(usize::MAX)
}

/// GETBIT: the bit at `offset` (0 beyond the end).
pub fn getbit(v: &[u8], offset: u64) -> bool {
    v.get(byte_index(offset))
        .is_some_and(|b| b & (0x80u8 >> (offset & 7)) != 0)
}

/// SETBIT on an existing (or freshly created empty) value: grows `v` with zero bytes to
/// cover `offset` (an offset from [`parse_bit_offset`]), sets the bit, and returns
/// `(old_bit, modified)`; `modified` (grown or bit changed) is when Redis signals the
/// key and counts a change. A missing key is created even when setting a 0.
pub fn setbit(v: &mut Vec<u8>, offset: u64, on: bool) -> (bool, bool) {
    let byte = byte_index(offset);
    let mut grew = false;
    if v.len() <= byte {
        v.resize(byte + 1, 0);
        grew = true;
    }
    let mask = 0x80u8 >> (offset & 7);
    let old = v[byte] & mask != 0;
    if on {
        v[byte] |= mask;
    } else {
        v[byte] &= !mask;
    }
    (old, grew || old != on)
}

// ---------------------------------------------------------------------------------------
// BITCOUNT / BITPOS
// ---------------------------------------------------------------------------------------

/// The unit of BITCOUNT/BITPOS ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitUnit {
    /// Indexes are bytes (the default).
    Byte,
    /// Indexes are bits.
    Bit,
}

/// `BYTE` or `BIT` (any case), else `Syntax`.
pub fn parse_bit_unit(arg: &[u8]) -> Result<BitUnit, DomainError> {
    if arg.eq_ignore_ascii_case(b"byte") {
        Ok(BitUnit::Byte)
    } else if arg.eq_ignore_ascii_case(b"bit") {
        Ok(BitUnit::Bit)
    } else {
        Err(DomainError::Syntax)
    }
}

fn popcount(v: &[u8]) -> u64 {
    let mut chunks = v.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_le_bytes(w).count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>()
}

/// Mask of MSB-first bit positions `from..=to` (0..=7) within a byte.
fn bit_mask(from: u64, to: u64) -> u8 {
    (0xffu8 >> from) & (0xffu8 << (7 - to))
}

/// Normalize a range as Redis (negative from the end, clamp, end to the last unit);
/// `None` if empty. `total` is the length in units.
fn normalize_range(start: i64, end: i64, total: i128) -> Option<(u64, u64)> {
    let (mut s, mut e) = (i128::from(start), i128::from(end));
    if s < 0 {
        s += total;
    }
    if e < 0 {
        e += total;
    }
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    if s > e {
        return None;
    }
    Some((u64::try_from(s).ok()?, u64::try_from(e).ok()?))
}

/// Count set bits in the absolute bit range `[from, to]` (within `v`).
fn count_bit_range(v: &[u8], from: u64, to: u64) -> u64 {
    let (fb, tb) = (byte_index(from), byte_index(to));
    if fb == tb {
        return u64::from((v[fb] & bit_mask(from & 7, to & 7)).count_ones());
    }
    u64::from((v[fb] & bit_mask(from & 7, 7)).count_ones())
        + popcount(&v[fb + 1..tb])
        + u64::from((v[tb] & bit_mask(0, to & 7)).count_ones())
}

/// BITCOUNT of an existing value: all bits, or those in `(start, end, unit)` with
/// Redis's index rules (negative from the end; both negative with `start > end` is 0;
/// clamped; empty range is 0).
pub fn bitcount(v: &[u8], range: Option<(i64, i64, BitUnit)>) -> u64 {
    let Some((start, end, unit)) = range else {
        return popcount(v);
    };
    if start < 0 && end < 0 && start > end {
        return 0;
    }
    let len = v.len() as i128;
    match unit {
        BitUnit::Byte => match normalize_range(start, end, len) {
            Some((s, e)) => popcount(&v[byte_index(s << 3)..=byte_index(e << 3)]),
            None => 0,
        },
        BitUnit::Bit => match normalize_range(start, end, len * 8) {
            Some((s, e)) => count_bit_range(v, s, e),
            None => 0,
        },
    }
}

/// BITCOUNT with its raw arguments after the key (`[start end [BYTE|BIT]]`) and the
/// value (`None` if the key is missing), in Redis's order: a missing key is 0 whatever
/// the arguments; 1 or more than 3 arguments => `Syntax`; `start`, `end` =>
/// `NotInteger`; both negative with `start > end` => 0 before the unit is looked at;
/// a bad unit => `Syntax`.
pub fn bitcount_cmd(v: Option<&[u8]>, args: &[&[u8]]) -> Result<u64, DomainError> {
    let Some(v) = v else {
        return Ok(0);
    };
    match args.len() {
        0 => Ok(popcount(v)),
        2 | 3 => {
            let start = parse_i64(args[0]).ok_or(DomainError::NotInteger)?;
            let end = parse_i64(args[1]).ok_or(DomainError::NotInteger)?;
            if start < 0 && end < 0 && start > end {
                return Ok(0);
            }
            let unit = match args.get(2) {
                Some(u) => parse_bit_unit(u)?,
                None => BitUnit::Byte,
            };
            Ok(bitcount(v, Some((start, end, unit))))
        }
        _ => Err(DomainError::Syntax),
    }
}

/// First bit equal to `bit` in the absolute bit range `[from, to]`.
fn find_bit(v: &[u8], bit: bool, from: u64, to: u64) -> Option<u64> {
    let (fb, tb) = (byte_index(from), byte_index(to));
    let probe = |idx: usize, mask: u8| -> Option<u64> {
        let x = if bit { v[idx] } else { !v[idx] } & mask;
        (x != 0).then(|| idx as u64 * 8 + u64::from(x.leading_zeros()))
    };
    if fb == tb {
        return probe(fb, bit_mask(from & 7, to & 7));
    }
    if let Some(p) = probe(fb, bit_mask(from & 7, 7)) {
        return Some(p);
    }
    let skip = if bit { 0u8 } else { 0xff };
    if let Some(off) = v[fb + 1..tb].iter().position(|&b| b != skip) {
        return probe(fb + 1 + off, 0xff);
    }
    probe(tb, bit_mask(0, to & 7))
}

/// BITPOS of an existing value (for a missing key Redis replies 0 when looking for a
/// clear bit and -1 for a set bit; [`bitpos_cmd`] does that). `start`/`end` as Redis
/// (negative from the end, clamped; `unit` applies only when `start` is given). An
/// empty range is -1. When no bit matches: -1 when looking for 1 or when `end` was
/// given; looking for 0 without `end` returns the first bit past the string (the value
/// is taken as right-padded with zeros), `len * 8`.
pub fn bitpos(v: &[u8], bit: bool, start: Option<i64>, end: Option<i64>, unit: BitUnit) -> i64 {
    let len = v.len() as i128;
    let range = match start {
        None => normalize_range(0, -1, len).map(|(s, e)| (s * 8, e * 8 + 7)),
        Some(s) => {
            let total = if unit == BitUnit::Bit { len * 8 } else { len };
            let e = end.unwrap_or(-1);
            match unit {
                BitUnit::Bit => normalize_range(s, e, total),
                BitUnit::Byte => normalize_range(s, e, total).map(|(s, e)| (s * 8, e * 8 + 7)),
            }
        }
    };
    let Some((from, to)) = range else {
        return -1;
    };
    match find_bit(v, bit, from, to) {
        Some(p) => i64::try_from(p).unwrap_or(-1),
        None if bit || end.is_some() => -1,
        None => i64::try_from((to / 8 + 1) * 8).unwrap_or(-1),
    }
}

/// BITPOS with its raw arguments after the key (`bit [start [end [BYTE|BIT]]]`) and
/// the value (`None` if missing), in Redis's order: `bit` => `NotInteger`, then not 0/1
/// => `OutOfRange(ERR_BITPOS_BIT)` (`ERR The bit argument must be 1 or 0.`); a missing
/// key then replies `bit ? -1 : 0` whatever the rest; more than 4 arguments =>
/// `Syntax`; `start` => `NotInteger`; the unit (4th) => `Syntax`, checked before `end`
/// => `NotInteger`.
pub fn bitpos_cmd(v: Option<&[u8]>, args: &[&[u8]]) -> Result<i64, DomainError> {
    let Some(first) = args.first() else {
        return Err(DomainError::Syntax);
    };
    let bit = match parse_i64(first).ok_or(DomainError::NotInteger)? {
        0 => false,
        1 => true,
        _ => return Err(DomainError::OutOfRange(ERR_BITPOS_BIT)),
    };
    let Some(v) = v else {
        return Ok(if bit { -1 } else { 0 });
    };
    match args.len() {
        1 => Ok(bitpos(v, bit, None, None, BitUnit::Byte)),
        2..=4 => {
            let start = parse_i64(args[1]).ok_or(DomainError::NotInteger)?;
            let unit = match args.get(3) {
                Some(u) => parse_bit_unit(u)?,
                None => BitUnit::Byte,
            };
            let end = match args.get(2) {
                Some(e) => Some(parse_i64(e).ok_or(DomainError::NotInteger)?),
                None => None,
            };
            Ok(bitpos(v, bit, Some(start), end, unit))
        }
        _ => Err(DomainError::Syntax),
    }
}

// ---------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------

/// A BITOP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    /// AND
    And,
    /// OR
    Or,
    /// XOR
    Xor,
    /// NOT (exactly one source)
    Not,
}

/// The operation name (any case), else `Syntax`.
pub fn parse_bitop(name: &[u8]) -> Result<BitOp, DomainError> {
    if name.eq_ignore_ascii_case(b"and") {
        Ok(BitOp::And)
    } else if name.eq_ignore_ascii_case(b"or") {
        Ok(BitOp::Or)
    } else if name.eq_ignore_ascii_case(b"xor") {
        Ok(BitOp::Xor)
    } else if name.eq_ignore_ascii_case(b"not") {
        Ok(BitOp::Not)
    } else {
        Err(DomainError::Syntax)
    }
}

/// After [`parse_bitop`] and before any key lookup (so before WRONGTYPE), as Redis:
/// NOT with other than one source => `Other(ERR_BITOP_NOT)`.
pub fn bitop_check_sources(op: BitOp, n_sources: usize) -> Result<(), DomainError> {
    if op == BitOp::Not && n_sources != 1 {
        return Err(DomainError::Other(ERR_BITOP_NOT.to_string()));
    }
    Ok(())
}

/// BITOP's result: as long as the longest source, shorter sources (and missing keys,
/// passed as empty) padded with zero bytes. An empty result means Redis deletes the
/// destination and replies 0; otherwise it stores it and replies its length.
pub fn bitop(op: BitOp, sources: &[&[u8]]) -> Vec<u8> {
    let maxlen = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let byte = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    (0..maxlen)
        .map(|i| {
            let mut it = sources.iter().map(|s| byte(s, i));
            let first = it.next().unwrap_or(0);
            match op {
                BitOp::Not => !first,
                BitOp::And => it.fold(first, |a, b| a & b),
                BitOp::Or => it.fold(first, |a, b| a | b),
                BitOp::Xor => it.fold(first, |a, b| a ^ b),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------------------

/// BITFIELD overflow behaviour for SET/INCRBY (default `Wrap`, changed by `OVERFLOW`
/// for the operations after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitfieldOverflow {
    /// Two's-complement wrap-around.
    Wrap,
    /// Saturate at the type's min/max.
    Sat,
    /// Do nothing and reply nil.
    Fail,
}

/// A field type: `i1..=i64` or `u1..=u63`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitfieldType {
    /// True for `i` (signed).
    pub signed: bool,
    /// Width in bits.
    pub bits: u32,
}

/// What one BITFIELD operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitfieldKind {
    /// Read the field.
    Get,
    /// Write the value; the reply is the old value.
    Set(i64),
    /// Add the increment; the reply is the new value.
    IncrBy(i64),
}

/// One parsed BITFIELD operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitfieldOp {
    /// The operation.
    pub kind: BitfieldKind,
    /// The field type.
    pub ty: BitfieldType,
    /// Absolute bit offset (the `#N` form already multiplied out).
    pub offset: u64,
    /// Overflow mode in force for this operation.
    pub overflow: BitfieldOverflow,
}

/// The result of [`bitfield_apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitfieldOutcome {
    /// One reply per operation: the integer, or `None` (nil) for a SET/INCRBY that
    /// overflowed under `OVERFLOW FAIL`.
    pub replies: Vec<Option<i64>>,
    /// Number of SET/INCRBY operations that changed their field's value.
    pub changes: usize,
    /// Number of SET/INCRBY operations that wrote (all but those failed under
    /// `OVERFLOW FAIL`), changing the value or not. On a key the call created or grew
    /// Redis counts every such write as a change.
    pub writes: usize,
}

fn parse_bitfield_type(arg: &[u8]) -> Result<BitfieldType, DomainError> {
    let err = || DomainError::Other(ERR_BITFIELD_TYPE.to_string());
    // Redis measures the width with strlen(): a NUL byte ends the argument.
    let arg = match arg.iter().position(|&c| c == 0) {
        Some(p) => &arg[..p],
        None => arg,
    };
    let (signed, rest) = match arg.split_first() {
        Some((b'i', rest)) => (true, rest),
        Some((b'u', rest)) => (false, rest),
        _ => return Err(err()),
    };
    let bits = parse_i64(rest).ok_or_else(err)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(err());
    }
    Ok(BitfieldType {
        signed,
        bits: u32::try_from(bits).map_err(|_| err())?,
    })
}

/// Parse BITFIELD / BITFIELD_RO arguments after the key: `GET type offset`,
/// `SET type offset value`, `INCRBY type offset increment`, `OVERFLOW WRAP|SAT|FAIL`
/// (keywords any case; types case-sensitive). Errors, first in argument order wins:
/// an unknown word or missing arguments => `Syntax`; a bad type =>
/// `Other(ERR_BITFIELD_TYPE)`; a bad offset (plain, or `#N` = N * width) =>
/// `OutOfRange(ERR_BIT_OFFSET)`; a bad value => `NotInteger`; a bad overflow mode =>
/// `Other(ERR_BITFIELD_OVERFLOW)`. Then, with `readonly` (BITFIELD_RO), any SET/INCRBY
/// => `Other(ERR_BITFIELD_RO)` (OVERFLOW is allowed).
pub fn bitfield_parse(args: &[&[u8]], readonly: bool) -> Result<Vec<BitfieldOp>, DomainError> {
    let mut ops = Vec::new();
    let mut overflow = BitfieldOverflow::Wrap;
    let mut j = 0;
    while j < args.len() {
        let sub = args[j];
        let remaining = args.len() - j - 1;
        let kind_word = if sub.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            0
        } else if sub.eq_ignore_ascii_case(b"set") && remaining >= 3 {
            1
        } else if sub.eq_ignore_ascii_case(b"incrby") && remaining >= 3 {
            2
        } else if sub.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            let mode = args[j + 1];
            overflow = if mode.eq_ignore_ascii_case(b"wrap") {
                BitfieldOverflow::Wrap
            } else if mode.eq_ignore_ascii_case(b"sat") {
                BitfieldOverflow::Sat
            } else if mode.eq_ignore_ascii_case(b"fail") {
                BitfieldOverflow::Fail
            } else {
                return Err(DomainError::Other(ERR_BITFIELD_OVERFLOW.to_string()));
            };
            j += 2;
            continue;
        } else {
            return Err(DomainError::Syntax);
        };
        let ty = parse_bitfield_type(args[j + 1])?;
        let offset = parse_offset(args[j + 2], Some(ty.bits))?;
        let kind = match kind_word {
            0 => BitfieldKind::Get,
            w => {
                let v = parse_i64(args[j + 3]).ok_or(DomainError::NotInteger)?;
                if w == 1 {
                    BitfieldKind::Set(v)
                } else {
                    BitfieldKind::IncrBy(v)
                }
            }
        };
        ops.push(BitfieldOp {
            kind,
            ty,
            offset,
            overflow,
        });
        j += if kind_word == 0 { 3 } else { 4 };
    }
    if readonly && ops.iter().any(|o| o.kind != BitfieldKind::Get) {
        return Err(DomainError::Other(ERR_BITFIELD_RO.to_string()));
    }
    Ok(ops)
}

/// If the operations write (any SET/INCRBY), the length the value must have before
/// they run: Redis then creates a missing key (zero-filled) or zero-extends the value
/// to this, even if every write fails under `OVERFLOW FAIL`. `None` for read-only
/// operation lists (a missing key stays missing and reads as zeros).
pub fn bitfield_write_len(ops: &[BitfieldOp]) -> Option<usize> {
    ops.iter()
        .filter(|o| o.kind != BitfieldKind::Get)
        .map(|o| byte_index(o.offset + u64::from(o.ty.bits) - 1) + 1)
        .max()
}

fn read_bits(v: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |acc, j| (acc << 1) | u64::from(getbit(v, offset + j)))
}

fn write_bits(v: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let bit = (value >> (u64::from(bits) - 1 - j)) & 1 == 1;
        let pos = offset + j;
        let mask = 0x80u8 >> (pos & 7);
        if let Some(b) = v.get_mut(byte_index(pos)) {
            if bit {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
    }
}

/// Read a field as its (sign-extended) value.
fn read_field(v: &[u8], offset: u64, ty: BitfieldType) -> i64 {
    let raw = read_bits(v, offset, ty.bits);
    if ty.signed && ty.bits < 64 && (raw >> (ty.bits - 1)) & 1 == 1 {
        (raw | (u64::MAX << ty.bits)) as i64
    } else {
        raw as i64
    }
}

/// The value to store for `target` (an exact mathematical value) in `ty`, or `None` on
/// overflow under FAIL. `force_up` makes any overflow count as upward (see
/// [`bitfield_apply`]).
fn fit_field(
    target: i128,
    ty: BitfieldType,
    overflow: BitfieldOverflow,
    force_up: bool,
) -> Option<i64> {
    let (min, max) = field_range(ty);
    if (min..=max).contains(&target) && !force_up {
        return i64::try_from(target).ok();
    }
    match overflow {
        BitfieldOverflow::Fail => None,
        BitfieldOverflow::Sat => {
            i64::try_from(if target > max || force_up { max } else { min }).ok()
        }
        BitfieldOverflow::Wrap => {
            let m = target.rem_euclid(1i128 << ty.bits);
            let v = if ty.signed && m > max {
                m - (1i128 << ty.bits)
            } else {
                m
            };
            i64::try_from(v).ok()
        }
    }
}

fn field_range(ty: BitfieldType) -> (i128, i128) {
    if ty.signed {
        (-(1i128 << (ty.bits - 1)), (1i128 << (ty.bits - 1)) - 1)
    } else {
        (0, (1i128 << ty.bits) - 1)
    }
}

/// Run parsed BITFIELD operations on the value (pass an empty vector for a missing
/// key). First extends `value` to [`bitfield_write_len`] if there are writes, then
/// runs each operation in order. GET replies the field; SET replies the old value and
/// INCRBY the new one, or `None` when they overflow under FAIL (nothing written).
/// Overflow as Redis: signed fields saturate/wrap at `-2^(w-1)..2^(w-1)-1`; unsigned at
/// `0..2^w-1`. Two Redis quirks are kept: a negative SET value for an unsigned field
/// counts as a huge unsigned number (`OVERFLOW SAT SET u8 0 -5` stores 255), and a
/// SET value `v <= max - 2^63` for a signed field narrower than 64 bits overflows
/// "upwards" because Redis computes `max - v` in wrapping 64-bit arithmetic
/// (`OVERFLOW SAT SET i8 0 -9223372036854775808` stores 127).
pub fn bitfield_apply(value: &mut Vec<u8>, ops: &[BitfieldOp]) -> BitfieldOutcome {
    if let Some(need) = bitfield_write_len(ops) {
        if value.len() < need {
            value.resize(need, 0);
        }
    }
    let mut replies = Vec::with_capacity(ops.len());
    let mut changes = 0;
    let mut writes = 0;
    for op in ops {
        let old = read_field(value, op.offset, op.ty);
        // Redis's `max - v` wraps for very negative SET values (see above).
        let force_up = match op.kind {
            BitfieldKind::Set(v) if op.ty.signed && op.ty.bits < 64 => {
                i128::from(v) <= field_range(op.ty).1 - (1i128 << 63)
            }
            _ => false,
        };
        let target: i128 = match op.kind {
            BitfieldKind::Get => {
                replies.push(Some(old));
                continue;
            }
            // Redis casts the SET value to uint64 for unsigned fields.
            BitfieldKind::Set(v) if !op.ty.signed => i128::from(v as u64),
            BitfieldKind::Set(v) => i128::from(v),
            BitfieldKind::IncrBy(d) => i128::from(old) + i128::from(d),
        };
        match fit_field(target, op.ty, op.overflow, force_up) {
            None => replies.push(None),
            Some(new) => {
                write_bits(value, op.offset, op.ty.bits, new as u64);
                writes += 1;
                if read_field(value, op.offset, op.ty) != old {
                    changes += 1;
                }
                replies.push(Some(match op.kind {
                    BitfieldKind::Set(_) => old,
                    _ => new,
                }));
            }
        }
    }
    BitfieldOutcome {
        replies,
        changes,
        writes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oor(t: &'static str) -> DomainError {
        DomainError::OutOfRange(t)
    }

    #[test]
    fn string_length_and_setrange() {
        // redis: SETRANGE k 536870911 x => 536870912; SETRANGE k 536870912 x => error.
        assert_eq!(check_string_length(536870911, 1), Ok(()));
        assert_eq!(
            check_string_length(536870912, 1),
            Err(oor(ERR_STRING_TOO_LONG))
        );
        assert_eq!(
            check_string_length(u64::MAX, 1),
            Err(oor(ERR_STRING_TOO_LONG))
        );
        assert_eq!(
            parse_setrange_offset(b"-1"),
            Err(oor(ERR_OFFSET_OUT_OF_RANGE))
        );
        assert_eq!(parse_setrange_offset(b"a"), Err(DomainError::NotInteger));
        assert_eq!(parse_setrange_offset(b"7"), Ok(7));
        let mut v = b"hello".to_vec();
        assert_eq!(setrange(&mut v, 7, b"xy"), 9);
        assert_eq!(v, b"hello\0\0xy");
        assert_eq!(setrange(&mut v, 1, b"EL"), 9);
        assert_eq!(v, b"hELlo\0\0xy");
        assert_eq!(setrange(&mut v, 100, b""), 9);
        let mut e = Vec::new();
        assert_eq!(setrange(&mut e, 2, b"a"), 3);
        assert_eq!(e, b"\0\0a");
    }

    #[test]
    fn getrange_matches_redis() {
        // All observed on redis-server 7.0.15 with k = "hello".
        let v = b"hello";
        assert_eq!(getrange(v, -200, -100), b"h");
        assert_eq!(getrange(v, -100, -200), b"");
        assert_eq!(getrange(v, 0, -1), b"hello");
        assert_eq!(getrange(v, 2, 1), b"");
        assert_eq!(getrange(v, 10, 20), b"");
        assert_eq!(getrange(v, -3, -1), b"llo");
        assert_eq!(getrange(v, 3, 100), b"lo");
        assert_eq!(getrange(v, 0, i64::MIN), b"h");
        assert_eq!(getrange(v, i64::MIN, i64::MAX), b"hello");
        assert_eq!(getrange(b"", 0, -1), b"");
        assert_eq!(getrange(b"", 0, 0), b"");
    }

    #[test]
    fn setbit_getbit() {
        // redis: SETBIT b 4294967295 1 => 0 (strlen 536870912); 4294967296 => error.
        assert_eq!(parse_bit_offset(b"4294967295"), Ok(4294967295));
        assert_eq!(parse_bit_offset(b"4294967296"), Err(oor(ERR_BIT_OFFSET)));
        assert_eq!(parse_bit_offset(b"-1"), Err(oor(ERR_BIT_OFFSET)));
        assert_eq!(parse_bit_offset(b"x"), Err(oor(ERR_BIT_OFFSET)));
        assert_eq!(parse_bit_offset(b"#1"), Err(oor(ERR_BIT_OFFSET)));
        assert_eq!(parse_bit_value(b"1"), Ok(true));
        assert_eq!(parse_bit_value(b"0"), Ok(false));
        assert_eq!(parse_bit_value(b"2"), Err(oor(ERR_BIT_VALUE)));
        assert_eq!(parse_bit_value(b"-1"), Err(oor(ERR_BIT_VALUE)));
        let mut v = Vec::new();
        assert_eq!(setbit(&mut v, 7, true), (false, true));
        assert_eq!(v, [1]);
        assert_eq!(setbit(&mut v, 7, true), (true, false));
        assert_eq!(setbit(&mut v, 0, false), (false, false));
        assert_eq!(setbit(&mut v, 17, false), (false, true));
        assert_eq!(v, [1, 0, 0]);
        assert!(getbit(&v, 7));
        assert!(!getbit(&v, 6));
        assert!(!getbit(&v, 1_000_000));
    }

    #[test]
    fn bitcount_matches_redis() {
        let v = b"foobar";
        let a = |args: &[&str]| {
            let args: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            bitcount_cmd(Some(v), &args)
        };
        // Observed on redis-server 7.0.15 with k = "foobar".
        assert_eq!(a(&[]), Ok(26));
        assert_eq!(a(&["0", "0"]), Ok(4));
        assert_eq!(a(&["1", "1"]), Ok(6));
        assert_eq!(a(&["1", "1", "BYTE"]), Ok(6));
        assert_eq!(a(&["5", "30", "BIT"]), Ok(17));
        assert_eq!(a(&["-1", "-2", "FOO"]), Ok(0));
        assert_eq!(a(&["1", "2", "FOO"]), Err(DomainError::Syntax));
        assert_eq!(a(&["1"]), Err(DomainError::Syntax));
        assert_eq!(a(&["1", "2", "3", "4"]), Err(DomainError::Syntax));
        assert_eq!(a(&["-200", "-100"]), Ok(4));
        assert_eq!(a(&["-100", "-200"]), Ok(0));
        assert_eq!(a(&["a", "b"]), Err(DomainError::NotInteger));
        assert_eq!(a(&["0", "-1", "bit"]), Ok(26));
        assert_eq!(a(&["-1", "-1", "bit"]), Ok(0));
        assert_eq!(a(&["1", "a"]), Err(DomainError::NotInteger));
        assert_eq!(bitcount_cmd(None, &[b"1"]), Ok(0));
        assert_eq!(bitcount_cmd(None, &[b"1", b"2", b"FOO"]), Ok(0));
        assert_eq!(bitcount(b"", Some((0, -1, BitUnit::Bit))), 0);
        assert_eq!(bitcount(b"\xff\xff\xff", Some((3, 19, BitUnit::Bit))), 17);
        assert_eq!(bitcount(b"\xff\xff\xff", Some((3, 4, BitUnit::Bit))), 2);
    }

    fn bp(v: Option<&[u8]>, args: &[&str]) -> Result<i64, DomainError> {
        let args: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        bitpos_cmd(v, &args)
    }

    #[test]
    fn bitpos_matches_redis() {
        // Observed on redis-server 7.0.15.
        assert_eq!(bp(None, &["0"]), Ok(0));
        assert_eq!(bp(None, &["1"]), Ok(-1));
        assert_eq!(bp(None, &["2"]), Err(oor(ERR_BITPOS_BIT)));
        assert_eq!(bp(None, &["0", "a"]), Ok(0));
        assert_eq!(bp(None, &["0", "1", "2", "3", "4"]), Ok(0));
        let k: &[u8] = b"\xff\xf0";
        let k = Some(k);
        assert_eq!(bp(k, &["0"]), Ok(12));
        assert_eq!(bp(k, &["1"]), Ok(0));
        assert_eq!(bp(k, &["0", "0"]), Ok(12));
        assert_eq!(bp(k, &["0", "3"]), Ok(-1));
        assert_eq!(bp(k, &["0", "0", "0"]), Ok(-1));
        assert_eq!(bp(k, &["0", "0", "-1"]), Ok(12));
        assert_eq!(bp(k, &["1", "2"]), Ok(-1));
        assert_eq!(bp(k, &["1", "2", "-1"]), Ok(-1));
        assert_eq!(bp(k, &["0", "7", "15", "bit"]), Ok(12));
        assert_eq!(bp(k, &["0", "7", "12", "bit"]), Ok(12));
        assert_eq!(bp(k, &["0", "0", "11", "bit"]), Ok(-1));
        assert_eq!(bp(k, &["0", "12", "bit"]), Err(DomainError::NotInteger));
        assert_eq!(bp(k, &["0", "0", "-1", "FOO"]), Err(DomainError::Syntax));
        assert_eq!(bp(k, &["0", "0", "1", "2", "3"]), Err(DomainError::Syntax));
        assert_eq!(bp(k, &["0", "a"]), Err(DomainError::NotInteger));
        assert_eq!(bp(k, &["0", "0", "a"]), Err(DomainError::NotInteger));
        assert_eq!(bp(k, &["0", "0", "a", "FOO"]), Err(DomainError::Syntax));
        assert_eq!(bp(k, &["5"]), Err(oor(ERR_BITPOS_BIT)));
        assert_eq!(bp(k, &["01"]), Err(DomainError::NotInteger));
        assert_eq!(bp(k, &["1", "-1", "-2"]), Ok(-1));
        assert_eq!(bp(k, &["0", "-100", "-200"]), Ok(-1));
        let ff: &[u8] = b"\xff\xff";
        let ff = Some(ff);
        assert_eq!(bp(ff, &["0"]), Ok(16));
        assert_eq!(bp(ff, &["0", "0"]), Ok(16));
        assert_eq!(bp(ff, &["0", "1"]), Ok(16));
        assert_eq!(bp(ff, &["0", "0", "-1"]), Ok(-1));
        assert_eq!(bp(ff, &["0", "3", "-1", "bit"]), Ok(-1));
        assert_eq!(bp(ff, &["0", "0", "3", "bit"]), Ok(-1));
        assert_eq!(bp(ff, &["0", "9"]), Ok(-1));
        assert_eq!(bp(ff, &["0", "5", "100", "bit"]), Ok(-1));
        let empty: &[u8] = b"";
        let empty = Some(empty);
        assert_eq!(bp(empty, &["0"]), Ok(-1));
        assert_eq!(bp(empty, &["1"]), Ok(-1));
        assert_eq!(bp(empty, &["0", "0"]), Ok(-1));
        assert_eq!(bp(empty, &["0", "0", "-1"]), Ok(-1));
        let z: &[u8] = b"\x00\x00";
        assert_eq!(bp(Some(z), &["0", "1", "1", "bit"]), Ok(1));
        assert_eq!(bp(Some(z), &["1", "0", "-1", "bit"]), Ok(-1));
        assert_eq!(bp(Some(b"\x00\x01"), &["1"]), Ok(15));
        assert_eq!(bp(Some(b"\x00\x00\x00\x01"), &["1", "0", "-1"]), Ok(31));
    }

    #[test]
    fn bitop_ops() {
        assert_eq!(parse_bitop(b"AnD"), Ok(BitOp::And));
        assert_eq!(parse_bitop(b"nand"), Err(DomainError::Syntax));
        assert_eq!(
            bitop_check_sources(BitOp::Not, 2),
            Err(DomainError::Other(
                "ERR BITOP NOT must be called with a single source key.".into()
            ))
        );
        assert_eq!(bitop_check_sources(BitOp::Not, 1), Ok(()));
        assert_eq!(bitop_check_sources(BitOp::And, 3), Ok(()));
        assert_eq!(bitop(BitOp::And, &[b"\xff\x0f", b"\x0f"]), b"\x0f\x00");
        assert_eq!(bitop(BitOp::Or, &[b"\xf0", b"\x0f\x01"]), b"\xff\x01");
        assert_eq!(bitop(BitOp::Xor, &[b"\xff", b"\x0f", b""]), b"\xf0");
        assert_eq!(bitop(BitOp::Not, &[b"\x0f\x00"]), b"\xf0\xff");
        assert_eq!(bitop(BitOp::And, &[b"", b""]), b"");
    }

    fn bf(v: &mut Vec<u8>, args: &[&str]) -> Result<Vec<Option<i64>>, DomainError> {
        let args: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let ops = bitfield_parse(&args, false)?;
        Ok(bitfield_apply(v, &ops).replies)
    }

    #[test]
    fn bitfield_matches_redis() {
        // Sequence observed on redis-server 7.0.15 (same key throughout).
        let mut v = Vec::new();
        let s = |x: &[i64]| Ok(x.iter().map(|&i| Some(i)).collect::<Vec<_>>());
        assert_eq!(
            bf(&mut v, &["overflow", "sat", "set", "u8", "0", "-5"]),
            s(&[0])
        );
        assert_eq!(bf(&mut v, &["get", "u8", "0"]), s(&[255]));
        assert_eq!(
            bf(
                &mut v,
                &["overflow", "wrap", "set", "u8", "0", "-5", "get", "u8", "0"]
            ),
            s(&[255, 251])
        );
        assert_eq!(
            bf(
                &mut v,
                &["overflow", "fail", "set", "u8", "0", "-5", "get", "u8", "0"]
            ),
            Ok(vec![None, Some(251)])
        );
        assert_eq!(
            bf(
                &mut v,
                &["overflow", "sat", "set", "i8", "0", "200", "get", "i8", "0"]
            ),
            s(&[-5, 127])
        );
        assert_eq!(
            bf(&mut v, &["set", "u8", "0", "256", "get", "u8", "0"]),
            s(&[127, 0])
        );
        assert_eq!(
            bf(
                &mut v,
                &["GET", "u8", "0", "OVERFLOW", "Sat", "incrby", "u8", "0", "1000"]
            ),
            s(&[0, 255])
        );
        assert_eq!(bf(&mut v, &["get", "i64", "0"]), s(&[-72057594037927936]));
        assert_eq!(bf(&mut v, &["get", "u8", "#1"]), s(&[0]));
        assert_eq!(bf(&mut v, &["get", "u8", "4294967295"]), s(&[0]));
        assert_eq!(bf(&mut v, &["get", "u8", "#536870911"]), s(&[0]));
        // Redis multiplies #N by the width with wrap-around: 4611686018427387905 * 8
        // wraps to 8.
        assert_eq!(bf(&mut v, &["get", "i8", "#4611686018427387905"]), s(&[0]));
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn bitfield_errors_match_redis() {
        let e = |args: &[&str], ro: bool| {
            let args: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            bitfield_parse(&args, ro).err()
        };
        let ty = Some(DomainError::Other(ERR_BITFIELD_TYPE.into()));
        let off = Some(oor(ERR_BIT_OFFSET));
        let syn = Some(DomainError::Syntax);
        for t in [
            "U8", "u64", "i65", "i0", "u0", "u", "", "x8", "u08", "u+8", "i-1",
        ] {
            assert_eq!(e(&["get", t, "0"], false), ty, "{t}");
        }
        assert_eq!(e(&["get", "i64", "0"], false), None);
        assert_eq!(e(&["get", "u63", "0"], false), None);
        for o in [
            "-1",
            "#-1",
            "#x",
            "# 1",
            "4294967296",
            "#536870912",
            "#",
            "01",
        ] {
            assert_eq!(e(&["get", "u8", o], false), off, "{o}");
        }
        assert_eq!(
            e(&["overflow", "foo", "get", "u8", "0"], false),
            Some(DomainError::Other(ERR_BITFIELD_OVERFLOW.into()))
        );
        assert_eq!(e(&["overflow"], false), syn);
        assert_eq!(e(&["get", "u8"], false), syn);
        assert_eq!(e(&["foo"], false), syn);
        assert_eq!(e(&["u8"], false), syn);
        assert_eq!(
            e(&["set", "u8", "0", "a"], false),
            Some(DomainError::NotInteger)
        );
        assert_eq!(e(&["set", "u8", "0"], false), syn);
        assert_eq!(
            e(&["incrby", "u8", "0", "9223372036854775808"], false),
            Some(DomainError::NotInteger)
        );
        let ro = Some(DomainError::Other(ERR_BITFIELD_RO.into()));
        assert_eq!(e(&["get", "u8", "0", "set", "u8", "0", "1"], true), ro);
        assert_eq!(e(&["get", "u8", "0", "overflow", "sat"], true), None);
        assert_eq!(e(&["set", "u8", "0", "1", "get", "u8"], true), syn);
        assert_eq!(e(&["incrby", "u8", "0", "1", "get", "x", "0"], true), ty);
        assert_eq!(e(&[], true), None);
        // First error in argument order wins.
        assert_eq!(e(&["get", "u8", "0", "get", "x", "0"], false), ty);
        assert_eq!(e(&["get", "x", "0", "get", "u8", "a"], false), ty);
        assert_eq!(e(&["get", "u8", "a", "get", "x", "0"], false), off);
        assert_eq!(
            e(&["set", "u8", "0", "1", "overflow", "bad"], false),
            Some(DomainError::Other(ERR_BITFIELD_OVERFLOW.into()))
        );
        assert_eq!(
            e(&["incrby", "u8", "#2", "a"], false),
            Some(DomainError::NotInteger)
        );
        // strlen() quirk: a NUL ends the type.
        assert_eq!(e(&["get", "u8\0zz", "0"], false), None);
    }

    #[test]
    fn bitfield_write_len_and_fail_creation() {
        // redis: BITFIELD k OVERFLOW FAIL INCRBY u2 0 10 => nil, but k exists, strlen 1.
        let ops = bitfield_parse(
            &[b"overflow", b"fail", b"incrby", b"u2", b"0", b"10"],
            false,
        )
        .unwrap();
        assert_eq!(bitfield_write_len(&ops), Some(1));
        let mut v = Vec::new();
        let out = bitfield_apply(&mut v, &ops);
        assert_eq!(out.replies, vec![None]);
        assert_eq!(out.changes, 0);
        assert_eq!(v, [0]);
        let ops = bitfield_parse(&[b"get", b"u8", b"100"], false).unwrap();
        assert_eq!(bitfield_write_len(&ops), None);
        let ops = bitfield_parse(&[b"set", b"u8", b"4294967295", b"1"], false).unwrap();
        assert_eq!(bitfield_write_len(&ops), Some(536870913));
    }

    #[test]
    fn bitfield_overflow_arithmetic() {
        let ty = |signed, bits| BitfieldType { signed, bits };
        use BitfieldOverflow::*;
        assert_eq!(fit_field(128, ty(true, 8), Wrap, false), Some(-128));
        assert_eq!(fit_field(-129, ty(true, 8), Wrap, false), Some(127));
        assert_eq!(fit_field(128, ty(true, 8), Sat, false), Some(127));
        assert_eq!(fit_field(-129, ty(true, 8), Sat, false), Some(-128));
        assert_eq!(fit_field(128, ty(true, 8), Fail, false), None);
        assert_eq!(fit_field(-1, ty(false, 8), Sat, false), Some(0));
        assert_eq!(fit_field(-1, ty(false, 8), Wrap, false), Some(255));
        assert_eq!(fit_field(256, ty(false, 8), Wrap, false), Some(0));
        assert_eq!(
            fit_field(i128::from(i64::MAX) + 1, ty(true, 64), Wrap, false),
            Some(i64::MIN)
        );
        assert_eq!(
            fit_field(i128::from(i64::MAX) + 1, ty(true, 64), Sat, false),
            Some(i64::MAX)
        );
        assert_eq!(fit_field(1i128 << 63, ty(false, 63), Wrap, false), Some(0));
        assert_eq!(fit_field(-1, ty(true, 1), Wrap, false), Some(-1));
        assert_eq!(fit_field(1, ty(true, 1), Wrap, false), Some(-1));
        assert_eq!(fit_field(1, ty(true, 1), Sat, false), Some(0));
        assert_eq!(
            fit_field(i128::from(i64::MIN), ty(true, 8), Sat, true),
            Some(127)
        );
        assert_eq!(
            fit_field(i128::from(i64::MIN), ty(true, 8), Wrap, true),
            Some(0)
        );
        // redis-server 7.0.15: OVERFLOW SAT SET i8 #1 -9223372036854775808 on a missing
        // key replies 0 and leaves "\x00\x7f"; i13 the same way saturates at 4095.
        let mut v = Vec::new();
        assert_eq!(
            bf(
                &mut v,
                &["OVERFLOW", "SAT", "SET", "i8", "#1", "-9223372036854775808"]
            ),
            Ok(vec![Some(0)])
        );
        assert_eq!(v, [0, 127]);
        assert_eq!(
            bf(
                &mut v,
                &["OVERFLOW", "SAT", "SET", "i8", "#1", "-9223372036854775681"]
            ),
            Ok(vec![Some(127)])
        );
        assert_eq!(v, [0, 127]);
        assert_eq!(
            bf(
                &mut v,
                &["OVERFLOW", "SAT", "SET", "i8", "#1", "-9223372036854775680"]
            ),
            Ok(vec![Some(127)])
        );
        assert_eq!(v, [0, 128]);
        let mut v = Vec::new();
        assert_eq!(
            bf(
                &mut v,
                &[
                    "incrby",
                    "i64",
                    "0",
                    "9223372036854775807",
                    "incrby",
                    "i64",
                    "0",
                    "1"
                ]
            ),
            Ok(vec![Some(i64::MAX), Some(i64::MIN)])
        );
        assert_eq!(
            bf(
                &mut v,
                &["set", "u63", "1", "-1", "get", "u63", "1", "get", "i64", "0"]
            ),
            Ok(vec![Some(0), Some(i64::MAX), Some(-1)])
        );
        assert_eq!(
            bf(
                &mut v,
                &["set", "i5", "3", "-3", "get", "u5", "3", "get", "i5", "3"]
            ),
            Ok(vec![Some(-1), Some(29), Some(-3)])
        );
    }
}
