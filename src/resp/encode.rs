//! The reply encoder: `Reply` → bytes for RESP2 or RESP3. RESP3-only shapes are
//! downgraded for RESP2 as Redis does (maps flatten, doubles become bulk strings,
//! booleans become integers). CR and LF in simple strings and errors become spaces.

use super::reply::Reply;

/// Format a double as Redis does in replies (`%.17g`, `inf`, `-inf`, `nan`, `-nan`).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        // (Only a script's `{double = 0/0}` gets here; x86's 0/0 is a negative NaN,
        // which C's printf shows as "-nan".)
        return if d.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 && d.is_sign_negative() {
        // (A skiplist-encoded sorted set keeps -0 as Redis prints it.)
        return "-0".into();
    }
    if d == d.trunc() && d.abs() < 1e17 {
        // Integral values print without exponent or fraction, as %.17g does.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "checked integral and < 1e17"
        )]
        return format!("{}", d as i64);
    }
    format_g17(d)
}

/// `%.17g`: 17 significant digits, shortest of fixed/exponent notation, trailing zeros cut.
fn format_g17(d: f64) -> String {
    let e = format!("{:.16e}", d);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(16 - exp).unwrap_or(0);
    trim_zeros(&format!("{:.*}", decimals, d)).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn put_line(out: &mut Vec<u8>, prefix: u8, text: &[u8]) {
    out.push(prefix);
    out.extend(
        text.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
    );
    out.extend_from_slice(b"\r\n");
}

fn put_len(out: &mut Vec<u8>, prefix: u8, n: usize) {
    out.push(prefix);
    put_u64(out, n as u64);
    out.extend_from_slice(b"\r\n");
}

/// Decimal digits of `n`, without an intermediate string.
fn put_u64(out: &mut Vec<u8>, mut n: u64) {
    // Most lengths and counts in replies have one or two digits.
    if n < 100 {
        #[expect(clippy::cast_possible_truncation, reason = "n < 100")]
        let n = n as u8;
        if n >= 10 {
            out.push(b'0' + n / 10);
        }
        out.push(b'0' + n % 10);
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // n % 10 < 10: the cast cannot truncate.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn put_bulk(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b'$', b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// The elements of `b` as bulk strings (`nil` for a nil one), appended to `out` after one
/// reservation, each short header in one piece: a range reply of many short members
/// (ZRANGE, LRANGE) costs each element three appends that never reallocate.
fn put_bulks(out: &mut Vec<u8>, b: &crate::resp::reply::Bulks, nil: &[u8]) {
    // At most 25 bytes besides the element: "$", 20 digits, CRLF, and the closing CRLF.
    out.reserve(b.bytes() + 25 * b.len());
    for e in b.iter() {
        let Some(e) = e else {
            out.extend_from_slice(nil);
            continue;
        };
        let n = e.len();
        if n < 10 {
            #[expect(clippy::cast_possible_truncation, reason = "n < 10")]
            out.extend_from_slice(&[b'$', b'0' + n as u8, b'\r', b'\n']);
        } else if n < 100 {
            #[expect(clippy::cast_possible_truncation, reason = "n < 100")]
            let n = n as u8;
            out.extend_from_slice(&[b'$', b'0' + n / 10, b'0' + n % 10, b'\r', b'\n']);
        } else {
            put_len(out, b'$', n);
        }
        out.extend_from_slice(e);
        out.extend_from_slice(b"\r\n");
    }
}

/// Append the encoding of a push of bulk strings (`Reply::Push` of `Reply::Bulk`s: a pub/sub
/// message) for protocol version `proto`, straight from the strings.
pub fn push_of_bulks(items: &[&[u8]], proto: u8, out: &mut Vec<u8>) {
    put_len(out, if proto >= 3 { b'>' } else { b'*' }, items.len());
    for b in items {
        put_bulk(out, b);
    }
}

/// Room for [`push_of_bulks`]'s encoding of `items` (at least its length: the headers take
/// at most 23 bytes each).
pub fn push_of_bulks_len(items: &[&[u8]]) -> usize {
    23 + items.iter().map(|b| b.len() + 25).sum::<usize>()
}

/// Append the encoding of `reply` for protocol version `proto` (2 or 3) to `out`.
pub fn encode(reply: &Reply, proto: u8, out: &mut Vec<u8>) {
    let resp3 = proto >= 3;
    match reply {
        Reply::Simple(s) => put_line(out, b'+', s.as_bytes()),
        Reply::Error(s) => put_line(out, b'-', s.as_bytes()),
        Reply::Int(n) => {
            out.push(b':');
            if *n < 0 {
                out.push(b'-');
            }
            put_u64(out, n.unsigned_abs());
            out.extend_from_slice(b"\r\n");
        }
        Reply::Bulk(b) => put_bulk(out, b),
        Reply::Null => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
        Reply::NullArray => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
        Reply::Array(items) => {
            put_len(out, b'*', items.len());
            for r in items {
                encode(r, proto, out);
            }
        }
        Reply::Bulks(b) => {
            put_len(out, b'*', b.len());
            put_bulks(out, b, if resp3 { b"_\r\n" } else { b"$-1\r\n" });
        }
        Reply::Many(items) => {
            for r in items {
                encode(r, proto, out);
            }
        }
        Reply::Push(items) => {
            put_len(out, if resp3 { b'>' } else { b'*' }, items.len());
            for r in items {
                encode(r, proto, out);
            }
        }
        Reply::Set(items) => {
            put_len(out, if resp3 { b'~' } else { b'*' }, items.len());
            for r in items {
                encode(r, proto, out);
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                put_len(out, b'%', pairs.len());
            } else {
                put_len(out, b'*', pairs.len() * 2);
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Double(d) => {
            let s = format_double(*d);
            if resp3 {
                put_line(out, b',', s.as_bytes());
            } else {
                put_bulk(out, s.as_bytes());
            }
        }
        Reply::DoubleText(s) => {
            if resp3 {
                put_line(out, b',', s.as_bytes());
            } else {
                put_bulk(out, s.as_bytes());
            }
        }
        Reply::Bool(b) => {
            if resp3 {
                out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
            } else {
                out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" });
            }
        }
        Reply::Verbatim(fmt, text) => {
            if resp3 {
                put_len(out, b'=', text.len() + 4);
                out.extend_from_slice(fmt.as_bytes());
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            } else {
                put_bulk(out, text);
            }
        }
        Reply::BigNumber(digits) => {
            if resp3 {
                put_line(out, b'(', digits.as_bytes());
            } else {
                put_bulk(out, digits.as_bytes());
            }
        }
        Reply::Attribute(attrs, reply) => {
            if resp3 {
                put_len(out, b'|', attrs.len());
                for (k, v) in attrs {
                    encode(k, proto, out);
                    encode(v, proto, out);
                }
            }
            encode(reply, proto, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(r: &Reply, p: u8) -> String {
        let mut v = Vec::new();
        encode(r, p, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn resp2_and_resp3_shapes() {
        let m = Reply::Map(vec![(Reply::bulk(b"a"), Reply::Int(1))]);
        assert_eq!(enc(&m, 2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, 3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Null, 2), "$-1\r\n");
        assert_eq!(enc(&Reply::NullArray, 2), "*-1\r\n");
        assert_eq!(enc(&Reply::Null, 3), "_\r\n");
        assert_eq!(enc(&Reply::Double(1.5), 2), "$3\r\n1.5\r\n");
        let big = Reply::BigNumber("1234567999999999999999999999999999999".into());
        assert_eq!(enc(&big, 3), "(1234567999999999999999999999999999999\r\n");
        assert_eq!(
            enc(&big, 2),
            "$37\r\n1234567999999999999999999999999999999\r\n"
        );
        let attr = Reply::Attribute(
            vec![(Reply::bulk(b"k"), Reply::Int(9))],
            Box::new(Reply::bulk(b"v")),
        );
        assert_eq!(enc(&attr, 3), "|1\r\n$1\r\nk\r\n:9\r\n$1\r\nv\r\n");
        assert_eq!(enc(&attr, 2), "$1\r\nv\r\n");
        assert_eq!(enc(&Reply::Double(1.5), 3), ",1.5\r\n");
        assert_eq!(enc(&Reply::Bool(true), 2), ":1\r\n");
        assert_eq!(enc(&Reply::Bool(false), 3), "#f\r\n");
        assert_eq!(enc(&Reply::Set(vec![Reply::Int(1)]), 3), "~1\r\n:1\r\n");
        assert_eq!(
            enc(&Reply::Verbatim("txt", Bytes::from_static(b"hi")), 3),
            "=6\r\ntxt:hi\r\n"
        );
        assert_eq!(enc(&Reply::Push(vec![]), 3), ">0\r\n");
    }

    /// `Bulks` encode exactly as the same elements as separate bulk strings, whatever the
    /// length class of each (one and two digits, longer) and with nils, in both protocols.
    #[test]
    fn bulks_encode_as_separate_bulk_strings() {
        let mut b = crate::resp::reply::Bulks::with_capacity(0, 0);
        for n in [0, 1, 9, 10, 42, 99, 100, 1000, 100_000] {
            b.push(&vec![b'x'; n]);
            if n == 10 {
                b.push_nil();
            }
        }
        b.push(b"a\r\nb");
        for p in [2, 3] {
            assert_eq!(
                enc(&Reply::Bulks(b.clone()), p),
                enc(&b.to_array(), p),
                "RESP{p}"
            );
        }
        assert_eq!(enc(&Reply::Bulks(Default::default()), 2), "*0\r\n");
    }

    #[test]
    fn push_of_bulks_is_a_push_reply() {
        let items: [&[u8]; 3] = [b"message", b"ch", &[b'x'; 300]];
        let reply = Reply::Push(items.iter().map(|b| Reply::bulk(b)).collect());
        for proto in [2, 3] {
            let mut direct = Vec::new();
            push_of_bulks(&items, proto, &mut direct);
            assert_eq!(direct, enc(&reply, proto).into_bytes());
            assert!(direct.len() <= push_of_bulks_len(&items));
        }
    }

    #[test]
    fn integers_in_every_width() {
        for n in [
            0i64,
            7,
            9,
            10,
            42,
            99,
            100,
            101,
            12345,
            i64::MAX,
            -1,
            -10,
            -99,
            -100,
            i64::MIN,
        ] {
            assert_eq!(enc(&Reply::Int(n), 2), format!(":{n}\r\n"));
        }
    }

    #[test]
    fn errors_lose_newlines() {
        assert_eq!(enc(&Reply::err("ERR a\r\nb"), 2), "-ERR a  b\r\n");
    }

    #[test]
    fn doubles_like_redis() {
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(-0.5), "-0.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(0.0), "0");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
    }
}
