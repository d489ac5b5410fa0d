//! Redis's integer text (`string2ll`): the one strict reading of a decimal `i64` that
//! commands, arguments and configuration directives share.

/// Parse a signed 64-bit integer exactly as Redis's `string2ll`: optional `-`, then
/// decimal digits; no `+`, no spaces, no leading zeros (only `"0"` itself), `"-0"`
/// rejected, at most 20 bytes, must fit in `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        0i64.checked_sub_unsigned(v)
    } else {
        i64::try_from(v).ok()
    }
}
