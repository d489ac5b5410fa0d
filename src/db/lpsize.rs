//! The sizes of Redis's listpack elements (its `lpEncodeBacklen`, integer and string
//! encodings, `lpStringToInt64`): what a listpack of given elements takes, for the stream
//! node model (`db::stream`) and the RDB listpack codec (`rdb::listpack`). No I/O.

/// Bytes the back-length of an element of `len` bytes takes.
pub fn backlen(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Parse `s` as Redis's `lpStringToInt64`/`string2ll` does: canonical decimal only.
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

/// Bytes an integer element takes (encoding, value and back-length).
pub fn int_size(v: i64) -> usize {
    let body = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    body + backlen(body)
}

/// Bytes a string element takes (one that reads as a canonical integer is stored as it).
pub fn str_size(s: &[u8]) -> usize {
    if let Some(v) = canonical_int(s) {
        return int_size(v);
    }
    let body = s.len()
        + match s.len() {
            0..=63 => 1,
            64..=4095 => 2,
            _ => 5,
        };
    body + backlen(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_redis_encodes_them() {
        assert_eq!(str_size(b"12345"), 4);
        assert_eq!(str_size(b"007"), 5);
        assert_eq!(str_size(b"-0"), 4);
        assert_eq!(int_size(-5000), 4);
        assert_eq!(int_size(i64::MAX), 10);
        assert_eq!(str_size(&[b'x'; 1000]), 1004);
    }
}
