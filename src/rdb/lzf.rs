//! LZF, the compression Redis applies to strings longer than 20 bytes in RDB files and
//! DUMP payloads (`rdbcompression yes`). The stream is a sequence of literal runs
//! (control byte `0..=31` = run of `ctrl + 1` bytes) and back references (top 3 bits =
//! length − 2, 7 meaning "add the next byte"; low 5 bits and the next byte = distance − 1).
//! Decompression checks every bound and never panics; compression is a plain greedy
//! hash-of-three-bytes matcher whose output any LZF decoder accepts.

const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3); // 264
const HLOG: u32 = 14;

/// Why a compressed blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzfError {
    /// The input ends inside a run or reference.
    Truncated,
    /// A back reference points before the start of the output.
    BadReference,
    /// The output would not be exactly the announced length.
    WrongLength,
}

/// Decompress `input` into exactly `out_len` bytes.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, LzfError> {
    // The largest expansion is a 3-byte reference producing 264 bytes.
    if out_len / MAX_REF > input.len() + 1 {
        return Err(LzfError::WrongLength);
    }
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run).ok_or(LzfError::Truncated)?;
            if out.len() + run > out_len {
                return Err(LzfError::WrongLength);
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
                ip += 1;
            }
            len += 2;
            let low = usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
            ip += 1;
            let dist = ((ctrl & 0x1f) << 8) + low + 1;
            if dist > out.len() {
                return Err(LzfError::BadReference);
            }
            if out.len() + len > out_len {
                return Err(LzfError::WrongLength);
            }
            let start = out.len() - dist;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() != out_len {
        return Err(LzfError::WrongLength);
    }
    Ok(out)
}

/// The hash of the three bytes at the start of `p`, in `hlog` bits.
fn hash3(p: &[u8], hlog: u32) -> usize {
    let v = (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]);
    (v.wrapping_mul(2_654_435_761) >> (32 - hlog)) as usize
}

fn flush_literals(out: &mut Vec<u8>, lit: &[u8]) {
    for chunk in lit.chunks(MAX_LIT) {
        #[expect(clippy::cast_possible_truncation, reason = "chunk len <= 32")]
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
}

/// Compress `input`; None unless the result is shorter than `max_out` bytes (Redis keeps
/// a string raw when compression does not pay).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    // A table about the input's size (at most 2^HLOG slots): filling a 2^14 one for every
    // short string made an RDB of a million 100-byte values spend seconds in memset.
    let hlog = usize::BITS - input.len().max(2).next_power_of_two().leading_zeros() - 1;
    let hlog = hlog.clamp(4, HLOG);
    let mut table = vec![usize::MAX; 1 << hlog];
    let mut lit_start = 0;
    let mut ip = 0;
    while ip + 2 < input.len() {
        let h = hash3(&input[ip..], hlog);
        let cand = table[h];
        table[h] = ip;
        if cand != usize::MAX && ip - cand <= MAX_OFF && input[cand..cand + 3] == input[ip..ip + 3]
        {
            let max = (input.len() - ip).min(MAX_REF);
            let mut len = 3;
            while len < max && input[cand + len] == input[ip + len] {
                len += 1;
            }
            flush_literals(&mut out, &input[lit_start..ip]);
            let off = ip - cand - 1;
            let l = len - 2;
            #[expect(clippy::cast_possible_truncation, reason = "fields masked to width")]
            if l < 7 {
                out.push(((l << 5) | (off >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (off >> 8)) as u8);
                out.push((l - 7) as u8);
            }
            #[expect(clippy::cast_possible_truncation, reason = "low byte")]
            out.push((off & 0xff) as u8);
            ip += len;
            lit_start = ip;
            if out.len() >= max_out {
                return None;
            }
        } else {
            ip += 1;
        }
    }
    flush_literals(&mut out, &input[lit_start..]);
    (out.len() < max_out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cases: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"hello hello hello hello hello world world world".repeat(50),
            (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
            vec![0u8; 100_000],
        ];
        for c in cases {
            let z = compress(&c, c.len()).expect("compressible");
            assert!(z.len() < c.len());
            assert_eq!(decompress(&z, c.len()).unwrap(), c);
        }
        assert!(compress(b"abcdefgh", 4).is_none());
    }

    #[test]
    fn bad_input_is_an_error() {
        let c = b"hello hello hello hello hello".repeat(10);
        let z = compress(&c, c.len()).unwrap();
        for cut in 0..z.len() {
            assert!(decompress(&z[..cut], c.len()).is_err());
        }
        assert_eq!(decompress(&[0x20, 0x05], 10), Err(LzfError::BadReference));
        assert!(decompress(&z, c.len() + 1).is_err());
        assert!(decompress(&z, usize::MAX).is_err());
    }

    #[test]
    fn overlapping_reference_with_extended_length() {
        // Literal "a", a reference of 7 + 40 + 2 = 49 bytes at distance 1, literal "a".
        let z = [0x00, b'a', 0xe0, 0x28, 0x00, 0x00, b'a'];
        let out = decompress(&z, 1 + 49 + 1).unwrap();
        assert_eq!(out, vec![b'a'; 51]);
    }
}
