//! `cjson.decode` as lua-cjson 2.1 (the version Redis embeds) decodes: a tokenizer over
//! the text as a C string (a NUL byte ends it), numbers read by C's `strtod` (so `0x10`,
//! `inf`, `nan` and `+1` are numbers while `decode_invalid_numbers` is on, its default),
//! and lua-cjson's error texts, token names (`T_END`, `T_ARR_END`, …) and 1-based
//! positions included. Owns no state; `libs.rs` installs it as `cjson.decode`.

use mlua::{Lua, Value};

/// A token of lua-cjson's tokenizer.
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A bad token: lua-cjson reports its text where a token name would go.
    Error(&'static str),
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str(_) => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(what) => what,
        }
    }
}

/// Decode `s` into a Lua value. `max_depth`: `decode_max_depth`; `invalid_numbers`:
/// `decode_invalid_numbers`. The error is the message lua-cjson raises.
pub fn decode(
    lua: &Lua,
    s: &[u8],
    max_depth: usize,
    invalid_numbers: bool,
) -> Result<Value, String> {
    if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
        return Err("JSON parser does not support UTF-16 or UTF-32".into());
    }
    let mut p = Parser {
        s,
        i: 0,
        depth: 0,
        max_depth,
        invalid_numbers,
        lua,
    };
    let (t, at) = p.next();
    let v = p.value(t, at)?;
    match p.next() {
        (Tok::End, _) => Ok(v),
        (t, at) => Err(expected("the end", &t, at)),
    }
}

fn expected(what: &str, found: &Tok, at: usize) -> String {
    format!(
        "Expected {what} but found {} at character {}",
        found.name(),
        at + 1
    )
}

struct Parser<'a, 'l> {
    s: &'a [u8],
    i: usize,
    depth: usize,
    max_depth: usize,
    invalid_numbers: bool,
    lua: &'l Lua,
}

impl Parser<'_, '_> {
    /// The byte at `i`, 0 past the end (the C string's terminator).
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    /// The next token and where it starts (where the error is, for a bad one).
    fn next(&mut self) -> (Tok, usize) {
        while matches!(self.at(self.i), b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
        let start = self.i;
        let c = self.at(start);
        let single = match c {
            0 => return (Tok::End, start),
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(t) = single {
            self.i += 1;
            return (t, start);
        }
        let rest = &self.s[start..];
        match c {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => {
                if !self.invalid_numbers && invalid_number(rest) {
                    return (Tok::Error("invalid number"), start);
                }
                self.number()
            }
            _ if rest.starts_with(b"true") => {
                self.i += 4;
                (Tok::Bool(true), start)
            }
            _ if rest.starts_with(b"false") => {
                self.i += 5;
                (Tok::Bool(false), start)
            }
            _ if rest.starts_with(b"null") => {
                self.i += 4;
                (Tok::Null, start)
            }
            // Only the characters that may start one of the above, or a number strict
            // JSON does not allow, get this far in lua-cjson; any other is simply invalid.
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+'
                if self.invalid_numbers && invalid_number(rest) =>
            {
                self.number()
            }
            _ => (Tok::Error("invalid token"), start),
        }
    }

    fn number(&mut self) -> (Tok, usize) {
        let start = self.i;
        match strtod(&self.s[start..]) {
            Some((n, len)) => {
                self.i += len;
                (Tok::Num(n), start)
            }
            None => (Tok::Error("invalid number"), start),
        }
    }

    /// A string token (at its opening quote). Errors are reported where they are found.
    fn string(&mut self) -> (Tok, usize) {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.at(self.i) {
                b'"' => break,
                0 => return (Tok::Error("unexpected end of string"), self.i),
                b'\\' => {
                    let c = match self.at(self.i + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => match self.unicode_escape() {
                            Some((cp, len)) => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(utf8(cp, &mut buf));
                                self.i += len;
                                continue;
                            }
                            None => return (Tok::Error("invalid unicode escape code"), self.i),
                        },
                        _ => return (Tok::Error("invalid escape code"), self.i),
                    };
                    out.push(c);
                    self.i += 2;
                }
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        self.i += 1;
        (Tok::Str(out), start)
    }

    /// `\uXXXX` at `i` (a UTF-16 surrogate pair as two escapes): the code point and the
    /// escape's length.
    fn unicode_escape(&self) -> Option<(u32, usize)> {
        let hex4 = |at: usize| -> Option<u32> {
            (0..4).try_fold(0u32, |v, k| {
                char::from(self.at(at + k)).to_digit(16).map(|d| v * 16 + d)
            })
        };
        let cp = hex4(self.i + 2)?;
        if cp & 0xF800 != 0xD800 {
            return Some((cp, 6));
        }
        // A surrogate: it must be a high one, followed by an escaped low one.
        if cp & 0x400 != 0 || self.at(self.i + 6) != b'\\' || self.at(self.i + 7) != b'u' {
            return None;
        }
        let low = hex4(self.i + 8)?;
        if low & 0xFC00 != 0xDC00 {
            return None;
        }
        Some(((((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000, 12))
    }

    fn descend(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.i
            ));
        }
        Ok(())
    }

    fn value(&mut self, t: Tok, at: usize) -> Result<Value, String> {
        let lua_err = |e: mlua::Error| e.to_string();
        Ok(match t {
            Tok::Str(s) => Value::String(self.lua.create_string(&s).map_err(lua_err)?),
            Tok::Num(n) => Value::Number(n),
            Tok::Bool(b) => Value::Boolean(b),
            Tok::Null => super::libs::json_null(),
            Tok::ObjBegin => {
                self.descend()?;
                let table = self.lua.create_table().map_err(lua_err)?;
                let (mut t, mut at) = self.next();
                if !matches!(t, Tok::ObjEnd) {
                    loop {
                        let Tok::Str(k) = t else {
                            return Err(expected("object key string", &t, at));
                        };
                        let (colon, c_at) = self.next();
                        if !matches!(colon, Tok::Colon) {
                            return Err(expected("colon", &colon, c_at));
                        }
                        let (vt, v_at) = self.next();
                        let v = self.value(vt, v_at)?;
                        let k = self.lua.create_string(&k).map_err(lua_err)?;
                        table.raw_set(k, v).map_err(lua_err)?;
                        let (sep, s_at) = self.next();
                        match sep {
                            Tok::ObjEnd => break,
                            Tok::Comma => (t, at) = self.next(),
                            other => return Err(expected("comma or object end", &other, s_at)),
                        }
                    }
                }
                self.depth -= 1;
                Value::Table(table)
            }
            Tok::ArrBegin => {
                self.descend()?;
                let table = self.lua.create_table().map_err(lua_err)?;
                let (mut t, mut at) = self.next();
                if !matches!(t, Tok::ArrEnd) {
                    for n in 1.. {
                        let v = self.value(t, at)?;
                        table.raw_set(n, v).map_err(lua_err)?;
                        let (sep, s_at) = self.next();
                        match sep {
                            Tok::ArrEnd => break,
                            Tok::Comma => (t, at) = self.next(),
                            other => return Err(expected("comma or array end", &other, s_at)),
                        }
                    }
                }
                self.depth -= 1;
                Value::Table(table)
            }
            other => return Err(expected("value", &other, at)),
        })
    }
}

/// lua-cjson's `json_is_invalid_number`: text `strtod` takes as a number but strict JSON
/// does not (a leading `+`, hex, a leading zero, `inf`, `nan`).
fn invalid_number(s: &[u8]) -> bool {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    if at(0) == b'+' {
        return true;
    }
    let i = usize::from(at(0) == b'-');
    if at(i) == b'0' {
        let c = at(i + 1);
        return c | 0x20 == b'x' || c.is_ascii_digit();
    }
    if at(i) <= b'9' {
        return false;
    }
    let word = |w: &[u8]| {
        s.get(i..i + w.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(w))
    };
    word(b"inf") || word(b"nan")
}

/// C's `strtod` (C locale) on the start of `s`: the number and how many bytes it took, or
/// `None` when no number starts there. Decimal and hexadecimal forms, `inf`/`infinity`
/// and `nan`/`nan(chars)` in any case, with an optional sign.
pub fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let neg = at(0) == b'-';
    let i = usize::from(matches!(at(0), b'+' | b'-'));
    let signed = |v: f64| if neg { -v } else { v };
    let word = |w: &[u8]| {
        s.get(i..i + w.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(w))
    };
    if word(b"infinity") {
        return Some((signed(f64::INFINITY), i + 8));
    }
    if word(b"inf") {
        return Some((signed(f64::INFINITY), i + 3));
    }
    if word(b"nan") {
        let mut end = i + 3;
        if at(end) == b'(' {
            let close = (end + 1..=s.len())
                .find(|&k| !(at(k).is_ascii_alphanumeric() || at(k) == b'_'))
                .unwrap_or(s.len());
            if at(close) == b')' {
                end = close + 1;
            }
        }
        return Some((signed(f64::NAN), end));
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        if let Some((v, len)) = hex_float(&s[i + 2..]) {
            return Some((signed(v), i + 2 + len));
        }
        // "0x" without hex digits: the "0" alone.
        return Some((signed(0.0), i + 1));
    }
    let digits = |from: usize| (from..).take_while(|&k| at(k).is_ascii_digit()).count();
    let int = digits(i);
    let mut end = i + int;
    let mut frac = 0;
    if at(end) == b'.' {
        frac = digits(end + 1);
        end += 1 + frac;
    }
    if int + frac == 0 {
        return None;
    }
    if at(end) | 0x20 == b'e' {
        let sign = usize::from(matches!(at(end + 1), b'+' | b'-'));
        let exp = digits(end + 1 + sign);
        if exp > 0 {
            end += 1 + sign + exp;
        }
    }
    let text = std::str::from_utf8(&s[..end]).ok()?;
    // Rust reads "1." and ".5" as C does; a mantissa ending in '.' before an exponent
    // ("1.e5") it does not, so the '.' goes.
    let v = text
        .parse::<f64>()
        .or_else(|_| {
            text.replacen(".e", "e", 1)
                .replacen(".E", "E", 1)
                .parse::<f64>()
        })
        .ok()?;
    Some((v, end))
}

/// The hexadecimal float after `0x`: digits, an optional fraction, an optional binary
/// exponent (`p`). `None` without any hex digit.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut any = false;
    let mut sticky = false;
    let mut i = 0;
    let mut seen_dot = false;
    loop {
        let c = at(i);
        if c == b'.' && !seen_dot {
            seen_dot = true;
            i += 1;
            continue;
        }
        let Some(d) = char::from(c).to_digit(16) else {
            break;
        };
        any = true;
        if mant < 1 << 56 {
            mant = mant * 16 + u64::from(d);
            if seen_dot {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_dot {
                exp += 4;
            }
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if at(i) | 0x20 == b'p' {
        let sign = usize::from(matches!(at(i + 1), b'+' | b'-'));
        let n = (i + 1 + sign..)
            .take_while(|&k| at(k).is_ascii_digit())
            .count();
        if n > 0 {
            let digits = std::str::from_utf8(&s[i + 1 + sign..i + 1 + sign + n]).ok()?;
            let e: i64 = digits.parse().unwrap_or(i64::MAX / 2).min(100_000);
            exp += if at(i + 1) == b'-' { -e } else { e };
            i += 1 + sign + n;
        }
    }
    // The mantissa keeps 57+ bits; a lost nonzero digit rounds it away from a tie.
    let m = (mant << 1 | u64::from(sticky)) as f64;
    let exp = exp.clamp(-3000, 3000) - 1;
    // In two steps, so neither factor overflows or underflows on its own.
    let half = exp / 2;
    let v = m * 2f64.powi(half as i32) * 2f64.powi((exp - half) as i32);
    Some((v, i))
}

/// `cp` as UTF-8 (lua-cjson writes any code point up to 0x1FFFFF, surrogates included).
fn utf8(cp: u32, buf: &mut [u8; 4]) -> &[u8] {
    // Truncations to u8 are intended: each byte keeps its low bits.
    if cp < 0x80 {
        buf[0] = cp as u8;
        &buf[..1]
    } else if cp < 0x800 {
        buf[0] = 0xC0 | (cp >> 6) as u8;
        buf[1] = 0x80 | (cp & 0x3F) as u8;
        &buf[..2]
    } else if cp < 0x10000 {
        buf[0] = 0xE0 | (cp >> 12) as u8;
        buf[1] = 0x80 | ((cp >> 6) & 0x3F) as u8;
        buf[2] = 0x80 | (cp & 0x3F) as u8;
        &buf[..3]
    } else {
        buf[0] = 0xF0 | (cp >> 18) as u8;
        buf[1] = 0x80 | ((cp >> 12) & 0x3F) as u8;
        buf[2] = 0x80 | ((cp >> 6) & 0x3F) as u8;
        buf[3] = 0x80 | (cp & 0x3F) as u8;
        &buf[..4]
    }
}

#[cfg(test)]
mod tests {
    use super::strtod;

    #[test]
    fn strtod_reads_what_c_reads() {
        let r = |s: &str| strtod(s.as_bytes()).map(|(v, n)| (v.to_string(), n));
        assert_eq!(r("12abc"), Some(("12".into(), 2)));
        assert_eq!(r("-1.5e3,"), Some(("-1500".into(), 6)));
        assert_eq!(r("1e"), Some(("1".into(), 1)));
        assert_eq!(r("1."), Some(("1".into(), 2)));
        assert_eq!(r("1.e2"), Some(("100".into(), 4)));
        assert_eq!(r(".5"), Some(("0.5".into(), 2)));
        assert_eq!(r("+7"), Some(("7".into(), 2)));
        assert_eq!(r("0x10"), Some(("16".into(), 4)));
        assert_eq!(r("0x1.8p1"), Some(("3".into(), 7)));
        assert_eq!(r("0x"), Some(("0".into(), 1)));
        assert_eq!(r("-Infinity"), Some(("-inf".into(), 9)));
        assert_eq!(r("inFx"), Some(("inf".into(), 3)));
        assert_eq!(r("nan(12)x"), Some(("NaN".into(), 7)));
        assert_eq!(r("nan(1"), Some(("NaN".into(), 3)));
        assert_eq!(r("-"), None);
        assert_eq!(r("."), None);
        assert_eq!(r("e5"), None);
        assert!(strtod(b"-nan").is_some_and(|(v, _)| v.is_nan() && v.is_sign_negative()));
    }
}
