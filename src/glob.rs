//! Redis glob-style pattern matching (`stringmatchlen` of Redis 7.0), used by KEYS,
//! SCAN/HSCAN/SSCAN/ZSCAN MATCH, PSUBSCRIBE, CONFIG GET and `include` patterns. Byte-exact with Redis,
//! quirks included: `*` matches nothing against an empty subject (`"*"` vs `""` is no
//! match: KEYS/SCAN special-case the lone `*` before calling this), an unterminated
//! `[` class runs to the end of the pattern, `[a-]`-style ranges take `]` as their end,
//! range bounds compare as signed C `char`s (bytes >= 0x80 are negative), escapes
//! inside a class are always case-sensitive, and `nocase` folds ASCII only.
//!
//! Redis matches recursively and, since CVE-2022-36021, gives up (no match) once a
//! match would need more than 1000 nested `*` groups. This matcher is iterative with a
//! single backtrack point (a greedy `*` never needs to revisit an earlier `*`), so it
//! uses O(1) memory and at most O(pattern * subject) steps for any pattern, e.g.
//! `*a*a*a*a*a*a*a*a*a*a*b` against a long run of `a`s; it reproduces the 1000-group
//! limit exactly ([`MAX_STAR_NESTING`]). Pure: std only.

/// Redis's limit on nested `*` groups: a match that has to go through `*` group number
/// 1001 (counting runs of consecutive `*` as one, and not counting a final `*`) fails.
pub const MAX_STAR_NESTING: usize = 1000;

/// C `tolower` in the C locale: ASCII only.
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Range bounds and the subject byte are compared as signed `char` (x86-64 Redis).
fn as_c_char(c: u8) -> i32 {
    i32::from(c as i8)
}

/// Match one `[...]` class starting at `pattern[p] == b'['` against `c`. Returns whether
/// it matched and the index just after the class (`pattern.len()` if unterminated).
fn match_class(pattern: &[u8], p: usize, c: u8, nocase: bool) -> (bool, usize) {
    let n = pattern.len();
    let mut q = p + 1;
    let negate = pattern.get(q) == Some(&b'^');
    if negate {
        q += 1;
    }
    let mut matched = false;
    loop {
        if q < n && pattern[q] == b'\\' && n - q >= 2 {
            q += 1;
            if pattern[q] == c {
                matched = true;
            }
        } else if q < n && pattern[q] == b']' {
            break;
        } else if q >= n {
            // Unterminated: Redis steps back onto the last pattern byte and stops.
            q -= 1;
            break;
        } else if n - q >= 3 && pattern[q + 1] == b'-' {
            let mut start = as_c_char(pattern[q]);
            let mut end = as_c_char(pattern[q + 2]);
            let mut ch = as_c_char(c);
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            if nocase {
                start = c_tolower(start);
                end = c_tolower(end);
                ch = c_tolower(ch);
            }
            q += 2;
            if ch >= start && ch <= end {
                matched = true;
            }
        } else if fold(pattern[q], nocase) == fold(c, nocase) {
            matched = true;
        }
        q += 1;
    }
    (matched != negate, q + 1)
}

/// `tolower` on a (possibly negative) C `char` value: ASCII letters only.
fn c_tolower(v: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&v) {
        v + 32
    } else {
        v
    }
}

/// Match one non-`*` token at `pattern[p]` against byte `c`. Every token consumes
/// exactly one subject byte. Returns whether it matched and the next pattern index.
fn match_token(pattern: &[u8], p: usize, c: u8, nocase: bool) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'[' => match_class(pattern, p, c, nocase),
        b'\\' if pattern.len() - p >= 2 => (fold(pattern[p + 1], nocase) == fold(c, nocase), p + 2),
        lit => (fold(lit, nocase) == fold(c, nocase), p + 1),
    }
}

/// True if `s` matches the glob `pattern` with Redis 7.0 `stringmatchlen` semantics:
/// `*` any run (including empty, but see the module doc for an empty `s`), `?` any one
/// byte, `[abc]`, `[^abc]`, `[a-z]` (reversed ranges allowed), `\x` a literal `x`;
/// `nocase` compares ASCII case-insensitively (CONFIG GET uses it).
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    if s.is_empty() {
        return pattern.is_empty();
    }
    let plen = pattern.len();
    let mut p = 0;
    let mut i = 0;
    // (pattern index after the latest `*` group, subject index it was tried from,
    // ordinal of that group).
    let mut backtrack: Option<(usize, usize, usize)> = None;
    while i < s.len() {
        if p < plen && pattern[p] == b'*' {
            while p < plen && pattern[p] == b'*' {
                p += 1;
            }
            if p == plen {
                return true;
            }
            let ordinal = backtrack.map_or(0, |b| b.2) + 1;
            if ordinal > MAX_STAR_NESTING {
                return false;
            }
            backtrack = Some((p, i, ordinal));
            continue;
        }
        if p < plen {
            let (ok, next) = match_token(pattern, p, s[i], nocase);
            if ok {
                p = next;
                i += 1;
                continue;
            }
        }
        match backtrack.as_mut() {
            Some((bp, bi, _)) => {
                *bi += 1;
                p = *bp;
                i = *bi;
            }
            None => return false,
        }
    }
    while p < plen && pattern[p] == b'*' {
        p += 1;
    }
    p == plen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn basics() {
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hello"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range");
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(!m("a*b*c", "aXbY"));
        assert!(m("**a**", "xay"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
        assert!(m("a*", "a"));
        assert!(m("*a", "a"));
        assert!(m("user:*:name", "user:1000:name"));
    }

    #[test]
    fn redis_quirks() {
        // Observed on redis-server 7.0.15 (SADD s <member>; SSCAN s 0 MATCH <pattern>).
        // A star never matches an empty subject.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(!m("?", ""));
        // Unterminated classes run to the end of the pattern.
        assert!(m("[abc", "a"));
        assert!(m("[abc", "c"));
        assert!(!m("[abc", "d"));
        assert!(!m("[", "["));
        assert!(!m("[", "a"));
        assert!(
            m("[^", "x"),
            "unterminated negated empty class matches anything"
        );
        // `]` right after `[` closes an empty class (never matches).
        assert!(!m("[]", "]"));
        assert!(!m("[]]", "]]"));
        assert!(!m("[]]", "]"));
        // `[a-]`: range from 'a' down to ']' (swapped), unterminated.
        assert!(m("[a-]", "^"));
        assert!(m("[a-]", "a"));
        assert!(!m("[a-]", "b"));
        assert!(!m("[a-]", "-"));
        // Escapes inside a class.
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[a\\", "\\"), "trailing backslash in a class is literal");
        // A trailing backslash is a literal backslash.
        assert!(m("a\\", "a\\"));
        // A class consumes exactly one byte.
        assert!(m("[ab][cd]", "ac"));
        assert!(!m("[ab][cd]", "a"));
    }

    #[test]
    fn signed_char_ranges() {
        // Bytes >= 0x80 are negative as C chars: [a-\xff] is the range -1..=97.
        let p = b"[a-\xff]";
        assert!(glob_match(p, b"\xff", false));
        assert!(glob_match(p, b"a", false));
        assert!(glob_match(p, b"0", false));
        assert!(!glob_match(p, b"b", false));
        assert!(!glob_match(p, b"\x80", false));
        assert!(glob_match(b"[\x80-\xfe]", b"\x90", false));
        assert!(glob_match(b"\xe9t\xe9", b"\xe9t\xe9", false));
    }

    #[test]
    fn nocase() {
        assert!(glob_match(b"HeLLo*", b"hello world", true));
        assert!(!glob_match(b"HeLLo*", b"hello world", false));
        assert!(glob_match(b"[A-Z]", b"q", true));
        assert!(glob_match(b"[abc]", b"B", true));
        // Escaped bytes inside a class stay case-sensitive.
        assert!(!glob_match(b"[\\A]", b"a", true));
        assert!(glob_match(b"\\A", b"a", true));
        // [A-z] lowercases the bounds to a..z, so '_' (between Z and a) drops out.
        assert!(glob_match(b"[A-z]", b"_", false));
        assert!(!glob_match(b"[A-z]", b"_", true));
        // Non-ASCII bytes do not fold.
        assert!(!glob_match(b"\xc9", b"\xe9", true));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let s = vec![b'a'; 20_000];
        let p = b"*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!glob_match(p, &s, false));
        let mut p2 = Vec::new();
        for _ in 0..200 {
            p2.extend_from_slice(b"*a");
        }
        p2.push(b'b');
        assert!(!glob_match(&p2, &s, false));
        let mut s2 = s.clone();
        s2.push(b'b');
        assert!(glob_match(&p2, &s2, false));
    }

    #[test]
    fn star_nesting_limit() {
        // 1000 star groups then a literal: allowed; 1001: Redis gives up.
        let mk = |groups: usize, tail: &[u8]| {
            let mut p = Vec::new();
            for _ in 0..groups {
                p.extend_from_slice(b"*a");
            }
            p.extend_from_slice(tail);
            p
        };
        let s = vec![b'a'; 1100];
        assert!(glob_match(&mk(1000, b""), &s, false));
        assert!(!glob_match(&mk(1001, b""), &s, false));
        // A final star does not count.
        assert!(glob_match(&mk(1000, b"*"), &s, false));
        // Runs of stars count once.
        let mut p = Vec::new();
        for _ in 0..1000 {
            p.extend_from_slice(b"***a");
        }
        assert!(glob_match(&p, &s, false));
        // The limit only bites when the 1001st group is reached with subject left.
        let s = vec![b'a'; 1000];
        assert!(glob_match(&mk(1000, b"*"), &s, false));
        assert!(!glob_match(&mk(1001, b"*"), &s, false));
    }
}
