//! HyperLogLog values, byte-compatible with Redis 7.0: an HLL is a plain string holding
//! Redis's exact representation, so GET/SET/DUMP of an HLL key move the same bytes as
//! Redis. This module owns that representation and everything computed from it (no RESP):
//!
//! - the 16-byte header: `"HYLL"`, encoding byte (0 = dense, 1 = sparse), 3 unused bytes,
//!   and an 8-byte little-endian cached cardinality whose most significant bit (bit 7 of
//!   the last byte) marks the cache invalid;
//! - dense: 16384 registers of 6 bits packed LSB-first (12288 bytes);
//! - sparse: a run-length sequence of `ZERO` (`00xxxxxx`, 1..64 zero registers),
//!   `XZERO` (`01xxxxxx yyyyyyyy`, 1..16384 zero registers) and `VAL` (`1vvvvvxx`, value
//!   1..32 repeated 1..4 times) opcodes; it becomes dense when a value above 32 arrives or
//!   when the string would grow past `hll-sparse-max-bytes`;
//! - hashing (MurmurHash64A, seed `0xadc83b19`), register index/run length (P = 14,
//!   Q = 50), the in-place sparse update with Redis's split and merge rules, merging, and
//!   the cardinality estimator Redis has used since 5.0 (Ertl, "New cardinality
//!   estimation algorithms for HyperLogLog sketches", the `tau`/`sigma` functions).
//!
//! Every operation here reproduces Redis's output bytes, including its behaviour on
//! valid-looking but corrupt sparse strings (reported as [`Corrupt`]).

/// Precision: registers are addressed by the low 14 bits of the hash.
pub const P: u32 = 14;
/// Bits of the hash left for the run length.
pub const Q: u32 = 64 - P;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Header size in bytes.
pub const HDR: usize = 16;
/// Size of a dense HLL string: header plus 16384 six-bit registers.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
/// Encoding byte of a dense HLL.
pub const DENSE: u8 = 0;
/// Encoding byte of a sparse HLL.
pub const SPARSE: u8 = 1;
/// The seed Redis hashes elements with.
pub const SEED: u64 = 0xadc8_3b19;

const REG_MASK: u8 = 63;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The error Redis reports for a value that is not an HLL at all.
pub const ERR_NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// The error Redis reports for a corrupt HLL.
pub const ERR_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// A string that passed [`is_hll`] but whose sparse body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Redis `isHLLObjectOrReply`: at least a header, the magic, a known encoding, and the
/// exact size when dense. (The sparse body is checked only when it is walked.)
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

/// True for the dense encoding (the string must be a valid HLL).
pub fn is_dense(s: &[u8]) -> bool {
    s[4] == DENSE
}

/// A new empty HLL as PFADD/PFMERGE create it: sparse, one XZERO covering every register,
/// cached cardinality 0 (valid).
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR + 2);
    s.extend_from_slice(b"HYLL");
    s.push(SPARSE);
    s.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_xzero(&mut s, n);
        left -= n;
    }
    s
}

/// The cached cardinality, if the cache is valid.
pub fn cached(s: &[u8]) -> Option<u64> {
    if s[15] & 0x80 != 0 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[8..16]);
    Some(u64::from_le_bytes(b))
}

/// Store `card` as the (valid) cached cardinality.
pub fn set_cached(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Mark the cached cardinality invalid (only the flag bit changes, as in Redis).
pub fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// MurmurHash64A (Austin Appleby), reading 8-byte blocks little-endian as Redis does on
/// every platform.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let len = data.len() as u64;
    let mut h = seed ^ len.wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let mut k = u64::from_le_bytes(b);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Redis `hllPatLen`: the register an element lands in and the value it proposes there
/// (1 + the number of trailing zero bits of the remaining 50 hash bits, at most 51).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    // rest != 0, so trailing_zeros <= Q.
    let count = rest.trailing_zeros() as u8 + 1;
    (index, count)
}

/// Byte `i` of `s`, 0 past the end (Redis reads the sds terminator there).
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// Register `i` of a dense register area.
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let (byte, fb) = (bit / 8, bit % 8);
    let b0 = u16::from(at(regs, byte));
    let b1 = u16::from(at(regs, byte + 1));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REG_MASK)) as u8
}

/// Set register `i` of a dense register area to `val` (0..=63).
pub fn dense_set(regs: &mut [u8], i: usize, val: u8) {
    let bit = i * 6;
    let (byte, fb) = (bit / 8, bit % 8);
    let v = u16::from(val & REG_MASK) << fb;
    let m = u16::from(REG_MASK) << fb;
    regs[byte] = (regs[byte] & !(m as u8)) | (v as u8);
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = (*b & !((m >> 8) as u8)) | ((v >> 8) as u8);
    }
}

/// Redis `hllDenseSet`: raise register `i` to `count`; true if it changed.
fn dense_raise(s: &mut [u8], i: usize, count: u8) -> bool {
    let regs = &mut s[HDR..];
    if count > dense_get(regs, i) {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

/// One decoded sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A run of zero registers; `wide` for the two-byte XZERO form.
    Zero { len: usize, wide: bool },
    /// A run of `len` registers holding `val`.
    Val { val: u8, len: usize },
}

impl Op {
    fn at(s: &[u8], p: usize) -> Op {
        let b = s[p];
        if b & 0xc0 == 0 {
            Op::Zero {
                len: usize::from(b & 0x3f) + 1,
                wide: false,
            }
        } else if b & 0xc0 == 0x40 {
            Op::Zero {
                len: ((usize::from(b & 0x3f) << 8) | usize::from(at(s, p + 1))) + 1,
                wide: true,
            }
        } else {
            Op::Val {
                val: ((b >> 2) & 0x1f) + 1,
                len: usize::from(b & 3) + 1,
            }
        }
    }
    fn size(self) -> usize {
        match self {
            Op::Zero { wide: true, .. } => 2,
            _ => 1,
        }
    }
    fn len(self) -> usize {
        match self {
            Op::Zero { len, .. } | Op::Val { len, .. } => len,
        }
    }
}

fn push_xzero(out: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    out.push(0x40 | ((l >> 8) & 0x3f) as u8);
    out.push((l & 0xff) as u8);
}

/// A ZERO opcode for up to 64 registers, XZERO beyond.
fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        push_xzero(out, len);
    } else {
        out.push((len - 1) as u8);
    }
}

fn val_byte(val: u8, len: usize) -> u8 {
    0x80 | ((val - 1) << 2) | (len - 1) as u8
}

/// Walk a sparse body, calling `f(first_register, op)`. Errors when a run goes past the
/// last register or the runs do not cover exactly 16384 registers (the rule of Redis 7.0
/// with the CVE-2025-32023 fix, as the reference redis-server 7.0.15 build applies it).
fn walk_sparse(s: &[u8], mut f: impl FnMut(usize, Op)) -> Result<(), Corrupt> {
    let mut p = HDR;
    let mut idx = 0usize;
    while p < s.len() {
        let op = Op::at(s, p);
        if idx + op.len() > REGISTERS {
            return Err(Corrupt);
        }
        f(idx, op);
        idx += op.len();
        p += op.size();
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Redis `hllSparseToDense`: convert in place (keeping magic and cache bytes). Returns
/// true if it converted, false if already dense.
pub fn to_dense(s: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if is_dense(s) {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    walk_sparse(s, |first, op| {
        if let Op::Val { val, len } = op {
            for i in first..first + len {
                dense_set(&mut dense[HDR..], i, val);
            }
        }
    })?;
    *s = dense;
    Ok(true)
}

/// Redis `hllSparseSet`: raise register `index` to `count` in a sparse HLL, splitting the
/// opcode that covers it and merging equal neighbours, or promoting to dense when `count`
/// exceeds 32 or the string would grow past `max_bytes`. Returns true if it changed.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_bytes: u64) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut found = None;
    while p < s.len() {
        let op = Op::at(s, p);
        if index < first + op.len() {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.size();
        first += op.len();
    }
    let Some(op) = found else {
        return Err(Corrupt);
    };
    let has_next = p + op.size() < s.len();
    let last = first + op.len() - 1;

    // Step 2: the cheap cases, then the general split.
    match op {
        Op::Val { val, .. } if val >= count => return Ok(false),
        Op::Val { len: 1, .. }
        | Op::Zero {
            len: 1,
            wide: false,
        } => {
            s[p] = val_byte(count, 1);
        }
        _ => {
            let mut seq = Vec::with_capacity(5);
            match op {
                Op::Zero { .. } => {
                    if index != first {
                        push_zeros(&mut seq, index - first);
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        push_zeros(&mut seq, last - index);
                    }
                }
                Op::Val { val, .. } => {
                    if index != first {
                        seq.push(val_byte(val, index - first));
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        seq.push(val_byte(val, last - index));
                    }
                }
            }
            // Step 3: substitute the sequence for the old opcode.
            let old = op.size();
            let new_len = s.len() + seq.len() - old;
            if seq.len() > old && new_len as u64 > max_bytes {
                return promote(s, index, count);
            }
            if has_next || seq.len() == old {
                s.splice(p..p + old, seq);
            } else {
                // The opcode is the last one (possibly a truncated XZERO): Redis writes
                // the sequence at `p` and sets the length to old length + delta.
                s.resize(s.len().max(p + seq.len()), 0);
                s[p..p + seq.len()].copy_from_slice(&seq);
                s.truncate(new_len);
            }
        }
    }

    // Step 4: merge adjacent VAL opcodes with equal values, scanning up to 5 opcodes
    // from the one before the change.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        match Op::at(s, p) {
            Op::Zero { wide, .. } => {
                p += if wide { 2 } else { 1 };
                continue;
            }
            Op::Val { val, len } => {
                if p + 1 < s.len() {
                    if let Op::Val { val: v2, len: len2 } = Op::at(s, p + 1) {
                        if val == v2 && len + len2 <= VAL_MAX_LEN {
                            s[p + 1] = val_byte(val, len + len2);
                            s.remove(p);
                            continue;
                        }
                    }
                }
                p += 1;
            }
        }
    }
    invalidate_cache(s);
    Ok(true)
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    Ok(dense_raise(s, index, count))
}

/// Redis `hllAdd`: add one element; true if a register changed. (PFADD invalidates the
/// cache afterwards; the sparse path also does it itself.)
pub fn add(s: &mut Vec<u8>, ele: &[u8], max_bytes: u64) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    set_register(s, index, count, max_bytes)
}

/// Raise register `index` to `count` in either encoding (Redis `hllDenseSet` /
/// `hllSparseSet`); true if it changed.
pub fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: u64,
) -> Result<bool, Corrupt> {
    if is_dense(s) {
        Ok(dense_raise(s, index, count))
    } else {
        sparse_set(s, index, count, max_bytes)
    }
}

/// Redis `hllMerge`: `max[i] = max(max[i], register i)`.
pub fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    if is_dense(s) {
        let regs = &s[HDR..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            let v = dense_get(regs, i);
            if v > *m {
                *m = v;
            }
        }
        Ok(())
    } else {
        walk_sparse(s, |first, op| {
            if let Op::Val { val, len } = op {
                for m in &mut max[first..first + len] {
                    if val > *m {
                        *m = val;
                    }
                }
            }
        })
    }
}

/// Estimate the cardinality of an HLL string (the cache is ignored).
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if is_dense(s) {
        let regs = &s[HDR..];
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(regs, i))] += 1;
        }
    } else {
        walk_sparse(s, |_, op| match op {
            Op::Zero { len, .. } => histo[0] += len as u32,
            Op::Val { val, len } => histo[usize::from(val)] += len as u32,
        })?;
    }
    Ok(estimate(&histo))
}

/// Estimate the cardinality of a plain register array (one byte per register), as
/// multi-key PFCOUNT does.
pub fn count_raw(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[usize::from(r & REG_MASK)] += 1;
    }
    estimate(&histo)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// Redis's estimator (Ertl's improved raw estimator) over a register-value histogram.
pub fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histo[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    // llroundl: half away from zero; an all-zero sketch gives 0 (z is infinite).
    (ALPHA_INF * m * m / z).round() as u64
}

/// All 16384 registers of a dense HLL.
pub fn registers(s: &[u8]) -> Vec<u8> {
    let regs = &s[HDR..];
    (0..REGISTERS).map(|i| dense_get(regs, i)).collect()
}

/// PFDEBUG DECODE: the sparse opcodes as `z:N`, `Z:N`, `v:VAL,N`, space separated.
pub fn decode_sparse(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR;
    while p < s.len() {
        let op = Op::at(s, p);
        out.push(match op {
            Op::Zero { len, wide: false } => format!("z:{len}"),
            Op::Zero { len, wide: true } => format!("Z:{len}"),
            Op::Val { val, len } => format!("v:{val},{len}"),
        });
        p += op.size();
    }
    out.join(" ")
}

/// PFSELFTEST: check dense register packing and that sparse and dense updates agree and
/// stay within the expected error. Returns Redis's failure text on a mismatch.
pub fn self_test() -> Result<(), String> {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Register packing.
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut want = vec![0u8; REGISTERS];
    for _ in 0..4 {
        for (i, w) in want.iter_mut().enumerate() {
            *w = (next() & u64::from(REG_MASK)) as u8;
            dense_set(&mut regs, i, *w);
        }
        for (i, w) in want.iter().enumerate() {
            if dense_get(&regs, i) != *w {
                return Err(format!("TESTFAILED Register error at index {i}"));
            }
        }
    }
    // Sparse vs dense, and the approximation error.
    let mut sparse = new_sparse();
    let mut dense = new_sparse();
    to_dense(&mut dense).map_err(|_| "TESTFAILED dense conversion".to_string())?;
    let rel = 1.04 / (REGISTERS as f64).sqrt();
    let mut n = 0u64;
    for checkpoint in [10u64, 100, 1000, 10_000, 50_000] {
        while n < checkpoint {
            let ele = next().to_le_bytes();
            n += 1;
            let a = add(&mut sparse, &ele, 3000).map_err(|_| "TESTFAILED sparse add")?;
            let b = add(&mut dense, &ele, 3000).map_err(|_| "TESTFAILED dense add")?;
            if a != b && is_dense(&sparse) {
                return Err(format!("TESTFAILED sparse/dense disagree after {n} adds"));
            }
        }
        let mut reg_s = vec![0u8; REGISTERS];
        merge_into(&mut reg_s, &sparse).map_err(|_| "TESTFAILED corrupt sparse")?;
        if reg_s != registers(&dense) {
            return Err(format!("TESTFAILED registers differ after {n} adds"));
        }
        let est = count(&dense).map_err(|_| "TESTFAILED count")?;
        let err = (est as f64 - n as f64).abs() / n as f64;
        let max = if n < 1000 { rel * 6.0 } else { rel * 5.0 };
        if n >= 100 && err > max {
            return Err(format!(
                "TESTFAILED too big error. card:{n} abserr:{err} relerr:{}",
                err
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn empty_and_header() {
        let s = new_sparse();
        assert_eq!(s, hex("48594c4c 01000000 00000000 00000000 7fff"));
        assert!(is_hll(&s));
        assert_eq!(cached(&s), Some(0));
        assert_eq!(count(&s), Ok(0));
        let mut d = s.clone();
        assert_eq!(to_dense(&mut d), Ok(true));
        assert_eq!(d.len(), DENSE_SIZE);
        assert!(is_hll(&d));
        assert!(!is_hll(b"HYLL\x02xxxxxxxxxxx"));
        assert!(!is_hll(b"HYLL\x00xxxxxxxxxxx"));
        assert!(!is_hll(b"HYLL\x01xxxxxxxxx"));
    }

    #[test]
    fn dense_packing_round_trips() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "{i}");
        }
    }

    #[test]
    fn self_test_passes() {
        assert_eq!(self_test(), Ok(()));
    }
}
