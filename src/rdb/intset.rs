//! Intsets (SET_INTSET): a u32 LE element width (2, 4 or 8 bytes), a u32 LE count, then
//! the sorted integers little endian. Decode checks the sizes and the order; encode writes
//! the narrowest width that holds every member, as Redis's intset does.

use super::RdbError;

/// Decode an intset blob into its integers.
pub fn decode(blob: &[u8]) -> Result<Vec<i64>, RdbError> {
    let bad = |w: &str| RdbError::Bad(format!("intset: {w}"));
    if blob.len() < 8 {
        return Err(bad("shorter than its header"));
    }
    let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let count = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(bad("bad element width"));
    }
    if count.checked_mul(width) != Some(blob.len() - 8) {
        return Err(bad("size does not match the count"));
    }
    let mut out = Vec::with_capacity(count);
    for c in blob[8..].chunks_exact(width) {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        };
        if out.last().is_some_and(|&l| l >= v) {
            return Err(bad("members not strictly ascending"));
        }
        out.push(v);
    }
    Ok(out)
}

/// Encode sorted, distinct integers as an intset blob.
pub fn encode(sorted: &[i64]) -> Vec<u8> {
    let width: usize = if sorted.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if sorted.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    #[expect(clippy::cast_possible_truncation, reason = "width is 2, 4 or 8")]
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(
        &u32::try_from(sorted.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for &v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_widths() {
        for set in [
            vec![-3, 1, 2],
            vec![-70_000, 5],
            vec![i64::MIN, 0, i64::MAX],
            vec![],
        ] {
            let b = encode(&set);
            assert_eq!(decode(&b).unwrap(), set);
        }
        assert_eq!(encode(&[1, 2])[0], 2);
        assert_eq!(encode(&[1, 1 << 20])[0], 4);
        assert!(decode(&encode(&[1, 2])[..10]).is_err());
        assert!(decode(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 0]).is_err()); // not sorted
    }
}
