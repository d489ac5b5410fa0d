//! The incremental request decoder: RESP multibulk (`*N\r\n$len\r\n…`) and inline
//! commands (telnet style, with Redis's quoting rules). A first pass checks that a whole
//! request is buffered without consuming anything; the second splits it off the buffer
//! and slices the arguments out of it without copying. Errors are Redis's protocol errors.

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtoError;

/// Largest inline request or count line Redis accepts without a newline (PROTO_INLINE_MAX_SIZE).
const INLINE_MAX: usize = 64 * 1024;

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest single argument.
    pub max_bulk_len: u64,
    /// Whether the client is authenticated (unauthenticated clients get tighter limits).
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// Decode one request from the front of `buf`. `Ok(None)`: not complete yet (nothing
/// consumed). `Ok(Some(argv))`: one request consumed; `argv` may be empty (a blank inline
/// line or `*0`), which callers skip.
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ProtoError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        decode_multibulk(buf, limits)
    } else {
        decode_inline(buf)
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let nl = memchr(b'\r', &buf[from..])? + from;
    if nl + 1 < buf.len() {
        Some(nl)
    } else {
        None
    }
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

/// Redis `string2ll` semantics for protocol lengths (strict decimal, optional '-').
fn parse_len(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

fn decode_multibulk(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ProtoError> {
    // Pass 1: validate and find the end without consuming.
    let Some(cr) = find_crlf(buf, 0) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtoError::TooBigMbulkCount);
        }
        return Ok(None);
    };
    let count = match parse_len(&buf[1..cr]) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Err(ProtoError::InvalidMultibulkLength),
    };
    if !limits.authenticated && count > 10 {
        return Err(ProtoError::UnauthenticatedMultibulk);
    }
    let mut pos = cr + 2;
    if count <= 0 {
        buf.advance(pos);
        return Ok(Some(Vec::new()));
    }
    let count = usize::try_from(count).map_err(|_| ProtoError::InvalidMultibulkLength)?;
    // Argument spans: on the stack for the usual few arguments (no allocation per request),
    // in a vector for more.
    let mut small = [(0usize, 0usize); SMALL_ARGC];
    let mut spans: Vec<(usize, usize)> = Vec::new();
    if count > SMALL_ARGC {
        spans.reserve(count.min(1024));
    }
    let mut slots = small.iter_mut();
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(ProtoError::ExpectedDollar(char::from(buf[pos])));
        }
        let Some(cr) = find_crlf(buf, pos) else {
            if buf.len() - pos > INLINE_MAX {
                return Err(ProtoError::TooBigBulkCount);
            }
            return Ok(None);
        };
        let len = match parse_len(&buf[pos + 1..cr]) {
            Some(n) if n >= 0 && n.unsigned_abs() <= limits.max_bulk_len => n.unsigned_abs(),
            _ => return Err(ProtoError::InvalidBulkLength),
        };
        if !limits.authenticated && len > 16384 {
            return Err(ProtoError::UnauthenticatedBulk);
        }
        let len = usize::try_from(len).map_err(|_| ProtoError::InvalidBulkLength)?;
        let start = cr + 2;
        let end = start + len;
        if end + 2 > buf.len() {
            // Reserve room for the rest of a large argument so reads land in one buffer.
            if len >= 32 * 1024 {
                buf.reserve(end + 2 - buf.len());
            }
            return Ok(None);
        }
        match slots.next() {
            Some(slot) if count <= SMALL_ARGC => *slot = (start, end),
            _ => spans.push((start, end)),
        }
        pos = end + 2;
    }
    let spans = if count > SMALL_ARGC {
        &spans[..]
    } else {
        &small[..count]
    };
    // Pass 2: split each argument off the buffer (one reference-count increment each; a
    // frame split off first and sliced cost two more atomic operations per request), and
    // drop the headers between them.
    let mut at = 0;
    let args = spans
        .iter()
        .map(|&(s, e)| {
            buf.advance(s - at);
            at = e;
            buf.split_to(e - s).freeze()
        })
        .collect();
    buf.advance(pos - at);
    Ok(Some(args))
}

/// Requests with up to this many arguments keep their argument spans on the stack.
const SMALL_ARGC: usize = 8;

fn decode_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtoError> {
    // Redis looks for the newline with `strchr`, which stops at a NUL byte: a NUL before the
    // newline means "no complete line yet" (until the inline limit is passed).
    let nul = memchr(0, buf).unwrap_or(buf.len());
    let Some(nl) = memchr(b'\n', &buf[..nul]) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtoError::TooBigInline);
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut end = nl;
    if end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    let args = split_args(&line[..end]).ok_or(ProtoError::UnbalancedQuotes)?;
    Ok(Some(args.into_iter().map(Bytes::from).collect()))
}

/// C's `isspace` (space, \t, \n, \v, \f, \r), which `sdssplitargs` uses between arguments
/// and after a closing quote.
fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Split an inline line into arguments with Redis's `sdssplitargs` rules: spaces separate,
/// `"…"` allows `\n \r \t \b \a \\ \" \xHH`, `'…'` allows `\'`; a closing quote must be
/// followed by a space or the end. `None` means unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // A C string ends at its first NUL (Redis splits a C string).
    let line = &line[..memchr(0, line).unwrap_or(line.len())];
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && c_isspace(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex_val(line[i + 2]).is_some()
                    && hex_val(line[i + 3]).is_some()
                {
                    let hi = hex_val(line[i + 2]).unwrap_or(0);
                    let lo = hex_val(line[i + 3]).unwrap_or(0);
                    cur.push(hi * 16 + lo);
                    i += 4;
                    continue;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !c_isspace(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                } else if c == b'\'' {
                    if i + 1 < n && !c_isspace(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(input: &[u8]) -> Result<Option<Vec<Bytes>>, ProtoError> {
        let mut b = BytesMut::from(input);
        decode(&mut b, &Limits::default())
    }

    fn strs(v: Vec<Bytes>) -> Vec<String> {
        v.into_iter()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    #[test]
    fn multibulk_whole_and_partial() {
        let full = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(strs(dec(full).unwrap().unwrap()), ["GET", "k"]);
        for cut in 0..full.len() {
            let mut b = BytesMut::from(&full[..cut]);
            assert_eq!(
                decode(&mut b, &Limits::default()).unwrap(),
                None,
                "cut {cut}"
            );
            assert_eq!(b.len(), cut, "nothing consumed on partial input");
        }
    }

    /// Random inputs built from RESP fragments: decoding never panics, a `None` consumes
    /// nothing, a request consumes exactly its bytes (decoding the same bytes fed one
    /// chunk at a time gives the same requests), and an error is an error either way.
    #[test]
    fn random_fragments_decode_the_same_whole_or_in_pieces() {
        use rand::{Rng, SeedableRng};
        const PIECES: &[&[u8]] = &[
            b"*",
            b"$",
            b"\r\n",
            b"\n",
            b"\r",
            b"0",
            b"1",
            b"2",
            b"3",
            b"-1",
            b"-",
            b"10",
            b"SET",
            b"k",
            b"\"",
            b"'",
            b" ",
            b"\\x41",
            b"abc",
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"*1\r\n$4\r\nPING\r\n",
            b"PING\r\n",
            b"\x00",
            b"\xff",
            b"99999999999999999999",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for round in 0..4000 {
            let mut input = Vec::new();
            for _ in 0..rng.gen_range(1..24) {
                input.extend_from_slice(PIECES[rng.gen_range(0..PIECES.len())]);
            }
            let limits = Limits {
                max_bulk_len: 1 << 20,
                authenticated: rng.gen_bool(0.8),
            };
            // Whole.
            let mut whole = BytesMut::from(&input[..]);
            let mut got_whole = Vec::new();
            let end_whole = loop {
                let before = whole.len();
                match decode(&mut whole, &limits) {
                    Ok(Some(argv)) => {
                        assert!(
                            whole.len() < before,
                            "round {round}: a request consumed nothing"
                        );
                        got_whole.push(argv);
                    }
                    Ok(None) => {
                        assert_eq!(whole.len(), before, "round {round}: None consumed bytes");
                        break None;
                    }
                    Err(e) => break Some(e),
                }
            };
            // The same bytes, one random chunk at a time.
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut end = None;
            let mut at = 0;
            'feed: while at < input.len() {
                let n = rng.gen_range(1..=input.len() - at);
                buf.extend_from_slice(&input[at..at + n]);
                at += n;
                loop {
                    let before = buf.len();
                    match decode(&mut buf, &limits) {
                        Ok(Some(argv)) => {
                            assert!(
                                buf.len() < before,
                                "round {round}: a request consumed nothing: {:?} of {:?}",
                                String::from_utf8_lossy(&buf),
                                String::from_utf8_lossy(&input)
                            );
                            got.push(argv);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            end = Some(e);
                            break 'feed;
                        }
                    }
                }
            }
            if end.is_none() {
                assert_eq!(
                    got,
                    got_whole,
                    "round {round}: {:?}",
                    String::from_utf8_lossy(&input)
                );
                assert!(
                    end_whole.is_none(),
                    "round {round}: {:?}",
                    String::from_utf8_lossy(&input)
                );
            } else {
                assert!(
                    end_whole.is_some(),
                    "round {round}: {:?}",
                    String::from_utf8_lossy(&input)
                );
                assert_eq!(got, got_whole[..got.len()], "round {round}");
            }
        }
    }

    /// A NUL byte in an inline request: Redis finds its newline with `strchr`, so a NUL
    /// before it means "no line yet" (redis-server 7.0 answers nothing, then the inline
    /// limit error); splitting stops at a NUL. Once looped forever pushing empty arguments.
    #[test]
    fn nul_bytes_in_inline_requests() {
        for input in [&b"ECHO abc\0def\r\n"[..], b"\0PING\r\n", b"ECHO 'a\0'\r\n"] {
            let mut b = BytesMut::from(input);
            assert_eq!(decode(&mut b, &Limits::default()).unwrap(), None);
            assert_eq!(b.len(), input.len());
        }
        let mut big = b"PING \0".to_vec();
        big.resize(INLINE_MAX + 10, b'x');
        big.extend_from_slice(b"\r\n");
        let mut b = BytesMut::from(&big[..]);
        assert!(matches!(
            decode(&mut b, &Limits::default()),
            Err(ProtoError::TooBigInline)
        ));
        let args = |l: &[u8]| {
            split_args(l).map(|v| {
                v.into_iter()
                    .map(|a| String::from_utf8(a).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            args(b"SET a b\0c d"),
            Some(vec!["SET".into(), "a".into(), "b".into()])
        );
        assert_eq!(args(b"\x0bSET\x0ba"), Some(vec!["SET\x0ba".into()]));
        assert_eq!(args(b"\"x\"\x0bSET"), Some(vec!["x".into(), "SET".into()]));
        assert_eq!(args(b"\"a\0\""), None);
    }

    #[test]
    fn argument_counts_around_the_stack_limit() {
        for argc in [
            1,
            SMALL_ARGC - 1,
            SMALL_ARGC,
            SMALL_ARGC + 1,
            3 * SMALL_ARGC,
        ] {
            let args: Vec<String> = (0..argc).map(|i| format!("arg{i}")).collect();
            let mut full = format!("*{argc}\r\n").into_bytes();
            for a in &args {
                full.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
            full.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
            let mut b = BytesMut::from(&full[..]);
            let got = decode(&mut b, &Limits::default()).unwrap().unwrap();
            assert_eq!(strs(got), args, "argc {argc}");
            assert_eq!(
                strs(decode(&mut b, &Limits::default()).unwrap().unwrap()),
                ["PING"]
            );
            let first = full.len() - 14;
            for cut in 0..first {
                let mut b = BytesMut::from(&full[..cut]);
                assert_eq!(decode(&mut b, &Limits::default()).unwrap(), None);
                assert_eq!(b.len(), cut, "argc {argc} cut {cut}");
            }
        }
    }

    #[test]
    fn pipelined_requests_decode_in_order() {
        let mut b = BytesMut::from(&b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*1\r\n$4\r\nPI"[..]);
        let l = Limits::default();
        assert_eq!(strs(decode(&mut b, &l).unwrap().unwrap()), ["PING"]);
        assert_eq!(strs(decode(&mut b, &l).unwrap().unwrap()), ["ECHO", "hi"]);
        assert_eq!(decode(&mut b, &l).unwrap(), None);
    }

    #[test]
    fn binary_safe_bulk() {
        let got = dec(b"*1\r\n$4\r\na\r\nb\r\n").unwrap().unwrap();
        assert_eq!(&got[0][..], b"a\r\nb");
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(dec(b"*x\r\n"), Err(ProtoError::InvalidMultibulkLength));
        assert_eq!(
            dec(b"*3000000000\r\n"),
            Err(ProtoError::InvalidMultibulkLength)
        );
        assert_eq!(dec(b"*1\r\n+foo\r\n"), Err(ProtoError::ExpectedDollar('+')));
        assert_eq!(dec(b"*1\r\n$-1\r\n"), Err(ProtoError::InvalidBulkLength));
        assert_eq!(dec(b"*1\r\n$x\r\n"), Err(ProtoError::InvalidBulkLength));
        let mut big = b"*1\r\n$".to_vec();
        big.extend_from_slice(b"600000000\r\n");
        assert_eq!(dec(&big), Err(ProtoError::InvalidBulkLength));
        assert_eq!(dec(b"set \"a b"), Ok(None));
        assert_eq!(dec(b"set \"a b\n"), Err(ProtoError::UnbalancedQuotes));
        assert_eq!(dec(b"set \"a\"b c\n"), Err(ProtoError::UnbalancedQuotes));
        assert_eq!(dec(&vec![b'a'; 70 * 1024]), Err(ProtoError::TooBigInline));
        let mut mb = b"*".to_vec();
        mb.extend(vec![b'1'; 70 * 1024]);
        assert_eq!(dec(&mb), Err(ProtoError::TooBigMbulkCount));
    }

    #[test]
    fn unauthenticated_limits() {
        let l = Limits {
            authenticated: false,
            ..Limits::default()
        };
        let mut b = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            decode(&mut b, &l),
            Err(ProtoError::UnauthenticatedMultibulk)
        );
        let mut b = BytesMut::from(&b"*1\r\n$20000\r\n"[..]);
        assert_eq!(decode(&mut b, &l), Err(ProtoError::UnauthenticatedBulk));
    }

    #[test]
    fn empty_requests_are_skippable() {
        assert_eq!(dec(b"*0\r\n").unwrap().unwrap().len(), 0);
        assert_eq!(dec(b"*-1\r\n").unwrap().unwrap().len(), 0);
        assert_eq!(dec(b"\r\n").unwrap().unwrap().len(), 0);
    }

    #[test]
    fn inline_quoting() {
        let got = strs(
            dec(b"set \"a\\x41\\n\" 'it\\'s' plain\r\n")
                .unwrap()
                .unwrap(),
        );
        assert_eq!(got, ["set", "aA\n", "it's", "plain"]);
        assert_eq!(strs(dec(b"  ping   \n").unwrap().unwrap()), ["ping"]);
        assert_eq!(strs(dec(b"echo \"\"\n").unwrap().unwrap()), ["echo", ""]);
    }
}
