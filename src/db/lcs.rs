//! LCS (longest common subsequence of two strings), byte-exact with Redis 7.0: the
//! same dynamic programme and the same tie-breaking walk back, so the subsequence,
//! the IDX match list (ranges in both strings, emitted from the end of the strings
//! backwards) and MINMATCHLEN/WITHMATCHLEN filtering equal Redis's. Also the option
//! parser with Redis's errors. Memory: Redis allocates a `(len(a)+1) * (len(b)+1)`
//! table of `u32` and refuses when that exceeds proto-max-bulk-len (512 MiB); strata
//! applies the same bound ([`LCS_MAX_TABLE_BYTES`], same error) but only keeps one bit
//! per cell (the walk-back direction) plus two lines of lengths along the shorter
//! string, about 1/32 of Redis's memory (at most 16 MiB); time is O(len(a) * len(b)),
//! ~0.4 s for the largest allowed inputs in a release build. Pure: std only.

use super::strnum::DomainError;

/// Redis's limit on the transient table: `(alen+1) * (blen+1) * 4` bytes must not
/// exceed proto-max-bulk-len.
pub const LCS_MAX_TABLE_BYTES: u64 = 512 * 1024 * 1024;

/// Error text when the table would exceed [`LCS_MAX_TABLE_BYTES`].
pub const ERR_LCS_TOO_BIG: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
/// Error text when the (smaller) working memory cannot be allocated.
pub const ERR_LCS_ALLOC: &str =
    "ERR Insufficient memory, failed allocating transient memory for LCS";
/// Error text (instead of WRONGTYPE) when either key holds a non-string; Redis checks
/// this before parsing the options. Use as `DomainError::Other(..)`.
pub const ERR_LCS_NOT_STRING: &str = "ERR The specified keys must contain string values";
/// Error text for `IDX` together with `LEN`.
pub const ERR_LCS_IDX_AND_LEN: &str =
    "ERR If you want both the length and indexes, please just use IDX.";

/// One IDX match: a run of consecutive bytes common to both strings, as inclusive
/// ranges `[start, end]` in `a` and in `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcsMatch {
    /// Range in the first string.
    pub a: (usize, usize),
    /// Range in the second string.
    pub b: (usize, usize),
    /// Length of the run (`a.1 - a.0 + 1`), the WITHMATCHLEN value.
    pub len: usize,
}

/// The result of [`lcs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcsResult {
    /// The common subsequence Redis returns (plain `LCS k1 k2`).
    pub lcs: Vec<u8>,
    /// Its length (`LEN`, and the `len` field of `IDX`).
    pub len: usize,
    /// Every match in Redis's reply order (from the ends of the strings backwards),
    /// unfiltered; see [`LcsResult::matches_min_len`].
    pub matches: Vec<LcsMatch>,
}

impl LcsResult {
    /// The matches Redis lists for `MINMATCHLEN min` (0 = all).
    pub fn matches_min_len(&self, min: u64) -> impl Iterator<Item = &LcsMatch> {
        self.matches
            .iter()
            .filter(move |m| min == 0 || m.len as u64 >= min)
    }
}

/// Parsed LCS options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LcsOptions {
    /// `IDX`: reply the match list and length.
    pub idx: bool,
    /// `LEN`: reply only the length.
    pub len: bool,
    /// `WITHMATCHLEN`: add each match's length (only shown with IDX).
    pub with_match_len: bool,
    /// `MINMATCHLEN n` (negative given as 0).
    pub min_match_len: u64,
}

/// Parse the options after the two keys, as Redis (after its type check, which fails
/// with [`ERR_LCS_NOT_STRING`] rather than WRONGTYPE): keywords
/// any case, later ones override; `MINMATCHLEN` without a value or an unknown word =>
/// `Syntax`; a non-integer MINMATCHLEN => `NotInteger`; then IDX with LEN =>
/// `Other(ERR_LCS_IDX_AND_LEN)`.
pub fn parse_lcs_options(args: &[&[u8]]) -> Result<LcsOptions, DomainError> {
    let mut o = LcsOptions::default();
    let mut j = 0;
    while j < args.len() {
        let a = args[j];
        let more = j + 1 < args.len();
        if a.eq_ignore_ascii_case(b"idx") {
            o.idx = true;
        } else if a.eq_ignore_ascii_case(b"len") {
            o.len = true;
        } else if a.eq_ignore_ascii_case(b"withmatchlen") {
            o.with_match_len = true;
        } else if a.eq_ignore_ascii_case(b"minmatchlen") && more {
            let v = super::strnum::parse_i64(args[j + 1]).ok_or(DomainError::NotInteger)?;
            o.min_match_len = u64::try_from(v).unwrap_or(0);
            j += 1;
        } else {
            return Err(DomainError::Syntax);
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err(DomainError::Other(ERR_LCS_IDX_AND_LEN.to_string()));
    }
    Ok(o)
}

/// Redis's refusal rule: `(alen+1) * (blen+1) * 4 > 512 MiB`.
fn table_too_big(alen: usize, blen: usize) -> bool {
    (alen as u128 + 1) * (blen as u128 + 1) * 4 > u128::from(LCS_MAX_TABLE_BYTES)
}

/// Direction bits of the walk back: bit set means "LCS(i-1, j) > LCS(i, j-1)".
struct DirBits {
    words: Vec<u64>,
    cols: usize,
}

impl DirBits {
    fn idx(&self, i: usize, j: usize) -> usize {
        (i - 1) * self.cols + (j - 1)
    }
    fn set(&mut self, i: usize, j: usize) {
        let k = self.idx(i, j);
        if let Some(w) = self.words.get_mut(k / 64) {
            *w |= 1u64 << (k % 64);
        }
    }
    fn get(&self, i: usize, j: usize) -> bool {
        let k = self.idx(i, j);
        self.words
            .get(k / 64)
            .is_some_and(|w| (w >> (k % 64)) & 1 == 1)
    }
}

/// Compute Redis's LCS of `a` and `b` (missing keys are empty strings). Errors:
/// `OutOfRange(ERR_LCS_TOO_BIG)` when Redis's table would exceed 512 MiB, and
/// `Other(ERR_LCS_ALLOC)` if strata's working memory cannot be allocated.
pub fn lcs(a: &[u8], b: &[u8]) -> Result<LcsResult, DomainError> {
    let (alen, blen) = (a.len(), b.len());
    if table_too_big(alen, blen) {
        return Err(DomainError::OutOfRange(ERR_LCS_TOO_BIG));
    }
    let alloc_err = || DomainError::Other(ERR_LCS_ALLOC.to_string());
    let cells = alen * blen;
    let mut words = Vec::new();
    words
        .try_reserve_exact(cells.div_ceil(64))
        .map_err(|_| alloc_err())?;
    words.resize(cells.div_ceil(64), 0);
    let mut dir = DirBits { words, cols: blen };
    // Two rolling lines of LCS lengths along the shorter string: rows of the table
    // (indexed by j) when `b` is shorter, columns (indexed by i) otherwise. Either
    // order fills every cell from the same three neighbours.
    let line = alen.min(blen) + 1;
    let mut prev: Vec<u32> = Vec::new();
    let mut cur: Vec<u32> = Vec::new();
    prev.try_reserve_exact(line).map_err(|_| alloc_err())?;
    cur.try_reserve_exact(line).map_err(|_| alloc_err())?;
    prev.resize(line, 0);
    cur.resize(line, 0);
    if blen <= alen {
        for i in 1..=alen {
            cur[0] = 0;
            for j in 1..=blen {
                cur[j] = if a[i - 1] == b[j - 1] {
                    prev[j - 1] + 1
                } else if prev[j] > cur[j - 1] {
                    // LCS(i-1, j) > LCS(i, j-1)
                    dir.set(i, j);
                    prev[j]
                } else {
                    cur[j - 1]
                };
            }
            std::mem::swap(&mut prev, &mut cur);
        }
    } else {
        for j in 1..=blen {
            cur[0] = 0;
            for i in 1..=alen {
                cur[i] = if a[i - 1] == b[j - 1] {
                    prev[i - 1] + 1
                } else if cur[i - 1] > prev[i] {
                    // LCS(i-1, j) > LCS(i, j-1)
                    dir.set(i, j);
                    cur[i - 1]
                } else {
                    prev[i]
                };
            }
            std::mem::swap(&mut prev, &mut cur);
        }
    }
    // After the last swap `prev` holds the last line (line 0 if the loop never ran).
    let total = prev[line - 1] as usize;

    let mut rev = Vec::with_capacity(total);
    let mut matches = Vec::new();
    // Current run: (a_start, a_end, b_start, b_end).
    let mut run: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            rev.push(a[i - 1]);
            match run.as_mut() {
                None => run = Some((i - 1, i - 1, j - 1, j - 1)),
                Some(r) if r.0 == i && r.2 == j => {
                    r.0 -= 1;
                    r.2 -= 1;
                }
                // Not contiguous (cannot happen: a gap always emits first); Redis
                // emits the open run and drops this byte from the ranges.
                Some(_) => emit = true,
            }
            if run.is_some_and(|r| r.0 == 0 || r.2 == 0) {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if dir.get(i, j) {
                i -= 1;
            } else {
                j -= 1;
            }
            if run.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some((as_, ae, bs, be)) = run.take() {
                matches.push(LcsMatch {
                    a: (as_, ae),
                    b: (bs, be),
                    len: ae - as_ + 1,
                });
            }
        }
    }
    rev.reverse();
    Ok(LcsResult {
        lcs: rev,
        len: total,
        matches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(a: (usize, usize), b: (usize, usize)) -> LcsMatch {
        LcsMatch {
            a,
            b,
            len: a.1 - a.0 + 1,
        }
    }

    #[test]
    fn redis_example() {
        // redis-server 7.0.15: SET key1 ohmytext; SET key2 mynewtext.
        let r = lcs(b"ohmytext", b"mynewtext").unwrap();
        assert_eq!(r.lcs, b"mytext");
        assert_eq!(r.len, 6);
        // LCS key1 key2 IDX => matches [[4 7] [5 8]] [[2 3] [0 1]], len 6.
        assert_eq!(r.matches, vec![m((4, 7), (5, 8)), m((2, 3), (0, 1))]);
        // IDX MINMATCHLEN 4 WITHMATCHLEN => [[4 7] [5 8] 4].
        let f: Vec<_> = r.matches_min_len(4).collect();
        assert_eq!(f, vec![&m((4, 7), (5, 8))]);
        assert_eq!(f[0].len, 4);
        // MINMATCHLEN -5 => all.
        let o = parse_lcs_options(&[b"minmatchlen", b"-5", b"idx", b"withmatchlen"]).unwrap();
        assert_eq!(o.min_match_len, 0);
        assert_eq!(r.matches_min_len(o.min_match_len).count(), 2);
    }

    #[test]
    fn empty_and_missing() {
        // LCS nokey key2 IDX => matches [], len 0; LCS nokey key2 => "".
        let r = lcs(b"", b"mynewtext").unwrap();
        assert_eq!(r.lcs, b"");
        assert_eq!(r.len, 0);
        assert!(r.matches.is_empty());
        let r = lcs(b"abc", b"").unwrap();
        assert_eq!(r.len, 0);
        let r = lcs(b"", b"").unwrap();
        assert_eq!(r.len, 0);
    }

    #[test]
    fn identical_and_disjoint() {
        let r = lcs(b"hello", b"hello").unwrap();
        assert_eq!(r.lcs, b"hello");
        assert_eq!(r.matches, vec![m((0, 4), (0, 4))]);
        let r = lcs(b"abc", b"xyz").unwrap();
        assert_eq!(r.len, 0);
        assert!(r.matches.is_empty());
    }

    #[test]
    fn options() {
        let p = |a: &[&str]| {
            let a: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
            parse_lcs_options(&a)
        };
        assert_eq!(
            p(&["idx", "len"]),
            Err(DomainError::Other(ERR_LCS_IDX_AND_LEN.into()))
        );
        assert_eq!(
            p(&["LEN", "IDX"]),
            Err(DomainError::Other(ERR_LCS_IDX_AND_LEN.into()))
        );
        assert_eq!(p(&["minmatchlen"]), Err(DomainError::Syntax));
        assert_eq!(p(&["minmatchlen", "a"]), Err(DomainError::NotInteger));
        assert_eq!(p(&["foo"]), Err(DomainError::Syntax));
        assert_eq!(
            p(&["IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
            Ok(LcsOptions {
                idx: true,
                len: false,
                with_match_len: true,
                min_match_len: 4
            })
        );
        assert_eq!(p(&[]), Ok(LcsOptions::default()));
    }

    #[test]
    fn size_guard() {
        // redis: two 12000-byte strings => the proto-max-bulk-len error.
        let big = vec![b'a'; 12000];
        assert_eq!(
            lcs(&big, &big),
            Err(DomainError::OutOfRange(ERR_LCS_TOO_BIG))
        );
        // (alen+1)*(blen+1)*4 == 512 MiB exactly is allowed; one more cell is not.
        assert!(!table_too_big(0, 134_217_727));
        assert!(table_too_big(1, 134_217_727));
        assert!(!table_too_big(8191, 16383));
        assert!(table_too_big(11585, 11585));
        assert!(!table_too_big(11584, 11584));
        // The largest allowed shapes run in bounded memory.
        let long = vec![b'a'; 1_000_000];
        let r = lcs(b"xay", &long).unwrap();
        assert_eq!(r.lcs, b"a");
        assert_eq!(r.matches, vec![m((1, 1), (0, 0))]);
    }
}
