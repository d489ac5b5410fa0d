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

/// What pass 1 found at the front of a multibulk request.
enum Scan {
    /// A whole request of `argc` arguments (0: `*0` or a negative count, skipped), ending
    /// before `end`.
    Complete { argc: usize, end: usize },
    /// Not all here yet; `reserve`: room to make for the rest of a large argument.
    Incomplete { reserve: usize },
}

/// Pass 1 over the multibulk request starting at `buf[at]` (a `*`): validate it and find
/// its end and its arguments' spans (pushed to `spans`, positions in `buf`) without
/// consuming anything.
fn scan_multibulk(
    buf: &[u8],
    at: usize,
    limits: &Limits,
    spans: &mut impl Extend<(usize, usize)>,
) -> Result<Scan, ProtoError> {
    let incomplete = Ok(Scan::Incomplete { reserve: 0 });
    let Some(cr) = find_crlf(buf, at) else {
        if buf.len() - at > INLINE_MAX {
            return Err(ProtoError::TooBigMbulkCount);
        }
        return incomplete;
    };
    let count = match parse_len(&buf[at + 1..cr]) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Err(ProtoError::InvalidMultibulkLength),
    };
    if !limits.authenticated && count > 10 {
        return Err(ProtoError::UnauthenticatedMultibulk);
    }
    let mut pos = cr + 2;
    if count <= 0 {
        return Ok(Scan::Complete { argc: 0, end: pos });
    }
    let count = usize::try_from(count).map_err(|_| ProtoError::InvalidMultibulkLength)?;
    for _ in 0..count {
        if pos >= buf.len() {
            return incomplete;
        }
        if buf[pos] != b'$' {
            return Err(ProtoError::ExpectedDollar(char::from(buf[pos])));
        }
        let Some(cr) = find_crlf(buf, pos) else {
            if buf.len() - pos > INLINE_MAX {
                return Err(ProtoError::TooBigBulkCount);
            }
            return incomplete;
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
            // Room for the rest of a large argument, so reads land in one buffer.
            let reserve = if len >= 32 * 1024 {
                end + 2 - buf.len()
            } else {
                0
            };
            return Ok(Scan::Incomplete { reserve });
        }
        spans.extend(std::iter::once((start, end)));
        pos = end + 2;
    }
    Ok(Scan::Complete {
        argc: count,
        end: pos,
    })
}

/// A fixed-size collection of argument spans, for requests with few arguments.
struct SmallSpans {
    spans: [(usize, usize); SMALL_ARGC],
    len: usize,
    /// Spans past the array's room (a request with more arguments).
    more: Vec<(usize, usize)>,
}

impl Extend<(usize, usize)> for SmallSpans {
    fn extend<I: IntoIterator<Item = (usize, usize)>>(&mut self, iter: I) {
        for span in iter {
            if self.len < SMALL_ARGC {
                self.spans[self.len] = span;
                self.len += 1;
            } else {
                if self.more.is_empty() {
                    self.more.extend_from_slice(&self.spans);
                }
                self.more.push(span);
            }
        }
    }
}

fn decode_multibulk(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ProtoError> {
    // Argument spans: on the stack for the usual few arguments (no allocation per request),
    // in a vector for more.
    let mut spans = SmallSpans {
        spans: [(0, 0); SMALL_ARGC],
        len: 0,
        more: Vec::new(),
    };
    let pos = match scan_multibulk(buf, 0, limits, &mut spans)? {
        Scan::Incomplete { reserve } => {
            if reserve > 0 {
                buf.reserve(reserve);
            }
            return Ok(None);
        }
        Scan::Complete { end, .. } => end,
    };
    let spans = if spans.more.is_empty() {
        &spans.spans[..spans.len]
    } else {
        &spans.more[..]
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

/// [`decode_all`]'s working space, kept by the caller between calls.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Every argument's span, request after request.
    spans: Vec<(usize, usize)>,
    /// Each request's number of arguments.
    argcs: Vec<usize>,
}

/// Decode every whole multibulk request at the front of `buf`, as [`decode`] called
/// until it returns `Ok(None)` would, appending the non-empty ones to `batch`. All of
/// them leave the buffer in one piece and their arguments are slices of it: one
/// reference-count increment per argument, as [`decode`]'s (plus one and a decrement per
/// call), and much less bookkeeping than splitting each argument off the buffer in turn.
///
/// `Ok(true)`: an inline request follows (for [`decode`]); `Ok(false)`: nothing whole
/// is left. An error leaves the bad request in `buf`, the ones before it decoded.
pub fn decode_all(
    buf: &mut BytesMut,
    limits: &Limits,
    batch: &mut Vec<Vec<Bytes>>,
    scratch: &mut Scratch,
) -> Result<bool, ProtoError> {
    let Scratch { spans, argcs } = scratch;
    spans.clear();
    argcs.clear();
    let mut end = 0;
    let mut outcome = Ok(false);
    let mut reserve = 0;
    while end < buf.len() {
        if buf[end] != b'*' {
            outcome = Ok(true);
            break;
        }
        match scan_multibulk(buf, end, limits, spans) {
            Ok(Scan::Complete { argc, end: e }) => {
                argcs.push(argc);
                end = e;
            }
            Ok(Scan::Incomplete { reserve: r }) => {
                reserve = r;
                break;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    if end > 0 && spans.iter().all(|&(s, e)| e - s <= COPY_ARG) {
        // Short arguments: each copied on its own (an allocation and a copy, no atomic
        // operation), rather than a shared slice of the read buffer, which costs an atomic
        // increment and decrement per argument.
        push_requests(batch, spans, argcs, |s, e| {
            Bytes::copy_from_slice(&buf[s..e])
        });
        buf.advance(end);
    } else if end > 0 {
        let frame = buf.split_to(end).freeze();
        push_requests(batch, spans, argcs, |s, e| frame.slice(s..e));
    }
    if reserve > 0 {
        // (What the rest of a large argument needs whatever came before it.)
        buf.reserve(reserve);
    }
    if spans.capacity() > 4096 || argcs.capacity() > 4096 {
        // (Thousands of arguments or requests do not leave their room behind.)
        *scratch = Scratch::default();
    }
    outcome
}

/// Push each scanned request (`argcs[i]` arguments, their spans in order in `spans`) to
/// `batch`, every argument made by `arg` from its span.
fn push_requests(
    batch: &mut Vec<Vec<Bytes>>,
    spans: &[(usize, usize)],
    argcs: &[usize],
    mut arg: impl FnMut(usize, usize) -> Bytes,
) {
    let mut each = spans.iter();
    for &argc in argcs {
        if argc > 0 {
            batch.push(each.by_ref().take(argc).map(|&(s, e)| arg(s, e)).collect());
        }
    }
}

/// Requests whose arguments are all at most this long get them copied.
const COPY_ARG: usize = 256;

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

    /// The connection's loop: every whole multibulk request with `decode_all`, an inline
    /// one with `decode`.
    fn decode_like_conn(
        buf: &mut BytesMut,
        limits: &Limits,
        out: &mut Vec<Vec<Bytes>>,
    ) -> Result<(), ProtoError> {
        let mut scratch = Scratch::default();
        loop {
            if !decode_all(buf, limits, out, &mut scratch)? {
                return Ok(());
            }
            match decode(buf, limits)? {
                Some(argv) if !argv.is_empty() => out.push(argv),
                Some(_) => {}
                None => return Ok(()),
            }
        }
    }

    /// `decode_all` (with `decode` for inline requests) gives what `decode` alone gives,
    /// leaves the same bytes behind and fails the same way, whole or fed in random chunks.
    #[test]
    fn decode_all_decodes_as_decode_does() {
        use rand::{Rng, SeedableRng};
        let long = format!("*2\r\n$4\r\nECHO\r\n$40000\r\n{}\r\n", "y".repeat(40000));
        let many = format!("*70{}", "\r\n$1\r\nx".repeat(70) + "\r\n");
        let pieces: Vec<&[u8]> = vec![
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"*1\r\n$4\r\nPING\r\n",
            b"*3\r\n$4\r\nZADD\r\n$0\r\n\r\n$2\r\nab\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"PING\r\n",
            b"\r\n",
            b"*1\r\n$x\r\n",
            b"*1\r\n",
            b"$3\r\n",
            b"*",
            long.as_bytes(),
            many.as_bytes(),
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(0xa11);
        for round in 0..3000 {
            let mut input = Vec::new();
            // Sometimes many requests (more than a `Scratch` keeps room for).
            let n = if round % 100 == 0 {
                5000
            } else if round % 10 == 0 {
                150
            } else {
                rng.gen_range(1..12)
            };
            for _ in 0..n {
                let p = if round % 10 == 0 {
                    rng.gen_range(0..3)
                } else {
                    rng.gen_range(0..pieces.len())
                };
                input.extend_from_slice(pieces[p]);
            }
            let limits = Limits {
                max_bulk_len: 1 << 20,
                authenticated: rng.gen_bool(0.8),
            };
            let mut want_buf = BytesMut::from(&input[..]);
            let mut want = Vec::new();
            let want_end = loop {
                match decode(&mut want_buf, &limits) {
                    Ok(Some(argv)) if !argv.is_empty() => want.push(argv),
                    Ok(Some(_)) => {}
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            let mut buf = BytesMut::from(&input[..]);
            let mut got = Vec::new();
            let end = decode_like_conn(&mut buf, &limits, &mut got);
            assert_eq!(end, want_end, "round {round}");
            assert_eq!(got, want, "round {round}");
            assert_eq!(buf, want_buf, "round {round}: bytes left");
            // In chunks.
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut at = 0;
            let mut end = Ok(());
            while at < input.len() && end.is_ok() {
                let n = rng.gen_range(1..=input.len() - at);
                buf.extend_from_slice(&input[at..at + n]);
                at += n;
                end = decode_like_conn(&mut buf, &limits, &mut got);
            }
            if end.is_ok() {
                assert_eq!(want_end, Ok(()), "round {round}");
                assert_eq!(got, want, "round {round}");
                assert_eq!(buf, want_buf, "round {round}: bytes left");
            } else {
                assert!(want_end.is_err(), "round {round}");
                assert_eq!(got, want[..got.len()], "round {round}");
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
