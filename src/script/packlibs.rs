//! The two binary-packing libraries Redis embeds next to Lua 5.1, written in Rust as mlua
//! functions with Redis's semantics and error texts: `cmsgpack` (lua-cmsgpack 0.4.0:
//! `pack`, `unpack`, `unpack_one`, `unpack_limit`; tables with keys 1..n are arrays,
//! others maps; integral numbers use the smallest integer encoding, others float32 when
//! exact, else float64; nesting past 16 levels packs as nil) and `struct` (Roberto's
//! struct.c 1.4 as patched by Redis: `pack`, `unpack`, `size`, format codes
//! `<>!xbBhHlLTiIcsfd` and space). Lua 5.1 numbers are doubles: every number these
//! return is a Lua number. Owns no script state; `lua.rs` installs them.

use mlua::{Lua, Table, Value, Variadic};

use super::convert::{exact, lua_number_to_i64};
use super::libs::{fmt_g, lib_function};

fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

fn bad_arg(i: usize, fname: &str, msg: &str) -> mlua::Error {
    rt(format!("bad argument #{i} to '{fname}' ({msg})"))
}

/// `luaL_checklstring`: a string, or a number converted as Lua prints it.
fn check_str(args: &[Value], i: usize, fname: &str) -> mlua::Result<Vec<u8>> {
    match args.get(i - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(fmt_g(*n as f64, 14).into_bytes()),
        Some(Value::Number(n)) => Ok(fmt_g(*n, 14).into_bytes()),
        other => Err(bad_arg(
            i,
            fname,
            &format!("string expected, got {}", type_name(other)),
        )),
    }
}

/// `luaL_checknumber`: a number, or a string Lua converts to one.
fn check_num(lua: &Lua, args: &[Value], i: usize, fname: &str) -> mlua::Result<f64> {
    let v = args.get(i - 1);
    let n = match v {
        Some(Value::Integer(n)) => Some(*n as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(_)) => lua.coerce_number(v.cloned().unwrap_or(Value::Nil))?,
        _ => None,
    };
    n.ok_or_else(|| bad_arg(i, fname, &format!("number expected, got {}", type_name(v))))
}

/// `luaL_optinteger`: absent or nil gives `default`; numbers truncate toward zero.
fn opt_int(lua: &Lua, args: &[Value], i: usize, fname: &str, default: i64) -> mlua::Result<i64> {
    match args.get(i - 1) {
        None | Some(Value::Nil) => Ok(default),
        _ => Ok(lua_number_to_i64(check_num(lua, args, i, fname)?)),
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// Append the low `n` bytes of `v`, most significant first (network order).
fn put_be(out: &mut Vec<u8>, v: u64, n: usize) {
    for i in (0..n).rev() {
        out.push((v >> (8 * i)) as u8);
    }
}

/// A big-endian unsigned integer of up to 8 bytes.
fn get_be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x))
}

// ---------------------------------------------------------------- cmsgpack

/// Tables nested deeper than this pack as nil (`LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;

fn mp_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            put_be(out, n as u64, 2);
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            put_be(out, n as u64, 4);
        } else {
            out.push(0xcf);
            put_be(out, n as u64, 8);
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        put_be(out, n as u64, 2);
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        put_be(out, n as u64, 4);
    } else {
        out.push(0xd3);
        put_be(out, n as u64, 8);
    }
}

fn mp_number(out: &mut Vec<u8>, n: f64) {
    // IS_INT64_EQUIVALENT: finite and survives the round trip through int64_t.
    if !n.is_infinite() && !n.is_nan() && (n as i64) as f64 == n && n < 9_223_372_036_854_775_808.0
    {
        mp_int(out, n as i64);
        return;
    }
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        put_be(out, u64::from(f.to_bits()), 4);
    } else {
        out.push(0xcb);
        put_be(out, n.to_bits(), 8);
    }
}

fn mp_len(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, w16: u8, w32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(w16);
        put_be(out, n as u64, 2);
    } else {
        out.push(w32);
        put_be(out, n as u64, 4);
    }
}

fn mp_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        put_be(out, n as u64, 2);
    } else {
        out.push(0xdb);
        put_be(out, n as u64, 4);
    }
    out.extend_from_slice(s);
}

/// lua-cmsgpack's `table_is_an_array`: every key a positive integer (32-bit) and the
/// largest equal to the count (so the keys are exactly 1..n).
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let Some(n) = as_number(&k) else {
            return Ok(false);
        };
        if n <= 0.0 || f64::from(n as i32) != n {
            return Ok(false);
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok(max == count)
}

fn mp_encode(v: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => mp_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => mp_number(out, *n as f64),
        Value::Number(n) => mp_number(out, *n),
        Value::Table(t) if level < MAX_NESTING => {
            if is_array(t)? {
                let len = t.raw_len();
                mp_len(out, len, 0x90, 15, 0xdc, 0xdd);
                for i in 1..=len {
                    mp_encode(&exact(t, i, t.raw_get::<Value>(i)?), level + 1, out)?;
                }
            } else {
                // Count, then encode pair by pair: holding every key and value at once
                // would take a Lua reference each and overflow Lua's C stack (8000
                // slots) for a big map.
                let mut n = 0;
                for pair in t.clone().pairs::<Value, Value>() {
                    pair?;
                    n += 1;
                }
                mp_len(out, n, 0x80, 15, 0xde, 0xdf);
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    mp_encode(&k, level + 1, out)?;
                    mp_encode(&exact(t, k, v), level + 1, out)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// Why decoding stopped (`MP_CUR_ERROR_EOF` / `MP_CUR_ERROR_BADFMT`).
enum MpError {
    Eof,
    BadFormat,
    Lua(mlua::Error),
}

impl From<mlua::Error> for MpError {
    fn from(e: mlua::Error) -> Self {
        MpError::Lua(e)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }

    fn need(&self, n: usize) -> Result<(), MpError> {
        if self.left() < n {
            Err(MpError::Eof)
        } else {
            Ok(())
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], MpError> {
        self.need(n)?;
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, MpError> {
        Ok(get_be(self.take(n)?))
    }

    fn decode(&mut self, lua: &Lua) -> Result<Value, MpError> {
        self.need(1)?;
        let t = self.b[self.pos];
        self.pos += 1;
        let num = |n: f64| Ok(Value::Number(n));
        match t {
            0xcc => num(self.be(1)? as f64),
            0xd0 => num(f64::from(self.be(1)? as u8 as i8)),
            0xcd => num(self.be(2)? as f64),
            0xd1 => num(f64::from(self.be(2)? as u16 as i16)),
            0xce => num(self.be(4)? as f64),
            0xd2 => num(f64::from(self.be(4)? as u32 as i32)),
            0xcf => num(self.be(8)? as f64),
            0xd3 => num(self.be(8)? as i64 as f64),
            0xc0 => Ok(Value::Nil),
            0xc3 => Ok(Value::Boolean(true)),
            0xc2 => Ok(Value::Boolean(false)),
            0xca => num(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => num(f64::from_bits(self.be(8)?)),
            0xd9..=0xdb => {
                let n = self.be(1 << (t - 0xd9))? as usize;
                let s = self.take(n)?;
                Ok(Value::String(lua.create_string(s)?))
            }
            0xdc | 0xdd => {
                let n = self.be(if t == 0xdc { 2 } else { 4 })? as usize;
                self.array(lua, n)
            }
            0xde | 0xdf => {
                let n = self.be(if t == 0xde { 2 } else { 4 })? as usize;
                self.map(lua, n)
            }
            _ if t & 0x80 == 0 => num(f64::from(t)),
            _ if t & 0xe0 == 0xe0 => num(f64::from(t as i8)),
            _ if t & 0xe0 == 0xa0 => {
                let s = self.take(usize::from(t & 0x1f))?;
                Ok(Value::String(lua.create_string(s)?))
            }
            _ if t & 0xf0 == 0x90 => self.array(lua, usize::from(t & 0x0f)),
            _ if t & 0xf0 == 0x80 => self.map(lua, usize::from(t & 0x0f)),
            _ => Err(MpError::BadFormat),
        }
    }

    fn array(&mut self, lua: &Lua, n: usize) -> Result<Value, MpError> {
        let t = lua.create_table()?;
        for i in 1..=n {
            let v = self.decode(lua)?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> Result<Value, MpError> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let k = self.decode(lua)?;
            let v = self.decode(lua)?;
            if k.is_nil() {
                return Err(MpError::Lua(rt("table index is nil")));
            }
            t.raw_set(k, v)?;
        }
        Ok(Value::Table(t))
    }
}

/// lua-cmsgpack's `mp_unpack_full`: decode up to `limit` values from `offset` (both 0:
/// everything, no offset returned); otherwise the next offset (-1 at the end) comes first.
fn unpack_full(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> mlua::Result<Variadic<Value>> {
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(rt(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            s.len()
        )));
    }
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    if offset > s.len() {
        return Err(rt(format!(
            "Start offset {offset} greater than input length {}.",
            s.len()
        )));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut c = Cursor { b: s, pos: offset };
    let mut out = Variadic::new();
    let mut cnt = 0;
    while c.left() > 0 && cnt < limit {
        match c.decode(lua) {
            Ok(v) => out.push(v),
            Err(MpError::Eof) => return Err(rt("Missing bytes in input.")),
            Err(MpError::BadFormat) => return Err(rt("Bad data format in input.")),
            Err(MpError::Lua(e)) => return Err(e),
        }
        cnt += 1;
    }
    if !decode_all {
        let next = if c.left() == 0 { -1 } else { c.pos as i64 };
        out.insert(0, Value::Number(next as f64));
    }
    Ok(out)
}

/// Build the `cmsgpack` table.
pub fn cmsgpack_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lib_function(lua, |lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(bad_arg(0, "pack", "MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for a in args.iter() {
                mp_encode(a, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lib_function(lua, |lua, args: Variadic<Value>| {
            let s = check_str(&args, 1, "unpack")?;
            unpack_full(lua, &s, 0, 0)
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lib_function(lua, |lua, args: Variadic<Value>| {
            let offset = opt_int(lua, &args, 2, "unpack_one", 0)?;
            let s = check_str(&args, 1, "unpack_one")?;
            unpack_full(lua, &s, 1, offset)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lib_function(lua, |lua, args: Variadic<Value>| {
            let limit = check_num(lua, &args, 2, "unpack_limit")? as i64;
            let offset = opt_int(lua, &args, 3, "unpack_limit", 0)?;
            let s = check_str(&args, 1, "unpack_limit")?;
            unpack_full(lua, &s, limit, offset)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

// ---------------------------------------------------------------- struct

/// Largest `i`/`I` size (`MAXINTSIZE`).
const MAX_INT_SIZE: usize = 32;
/// Default `!` alignment: the alignment of a double on x86-64 (`MAXALIGN`).
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    big: bool,
    align: usize,
}

/// A format string being read.
struct Fmt<'a> {
    f: &'a [u8],
    pos: usize,
}

impl Fmt<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.f.get(self.pos)?;
        self.pos += 1;
        Some(c)
    }

    /// struct.c's `getnum` with Redis's overflow check.
    fn num(&mut self, default: usize) -> mlua::Result<usize> {
        if !self.f.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(d) = self.f.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let d = i64::from(d - b'0');
            if a > i64::from(i32::MAX) / 10 || a * 10 > i64::from(i32::MAX) - d {
                return Err(rt("integral size overflow"));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(usize::try_from(a).unwrap_or(0))
    }

    /// `optsize`: the size of option `opt`, consuming its digits.
    fn size(&mut self, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(rt(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                sz
            }
            _ => 0,
        })
    }

    /// `controloptions`: space, endianness, alignment; anything else is an error.
    fn control(&mut self, opt: u8, h: &mut Header, fname: &str) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.big = true,
            b'<' => h.big = false,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if a == 0 || a & (a - 1) != 0 {
                    return Err(rt(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                return Err(bad_arg(
                    1,
                    fname,
                    &format!("invalid format option '{}'", char::from(opt)),
                ))
            }
        }
        Ok(())
    }
}

/// `gettoalign`: padding before an item of `size` at offset `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & (size - 1))) & (size - 1)
}

/// struct.c's `(Uinttype)(Inttype)n` for a negative `n`, `(Uinttype)n` otherwise, as
/// x86-64 converts: out of range (or NaN) gives the "integer indefinite" 2^63 pattern, and
/// 2^64 or more (the unsigned conversion's second half) 0.
fn c_to_u64(n: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || n < TWO63 {
        lua_number_to_i64(n) as u64
    } else {
        (lua_number_to_i64(n - TWO63) as u64) ^ (1 << 63)
    }
}

fn put_integer(out: &mut Vec<u8>, n: f64, big: bool, size: usize) {
    let mut value: u64 = c_to_u64(n);
    let mut buf = vec![0u8; size];
    if big {
        for b in buf.iter_mut().rev() {
            *b = value as u8;
            value = value.checked_shr(8).unwrap_or(0);
        }
    } else {
        for b in buf.iter_mut() {
            *b = value as u8;
            value = value.checked_shr(8).unwrap_or(0);
        }
    }
    out.extend_from_slice(&buf);
}

fn get_integer(b: &[u8], big: bool, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let shl = |l: u64, byte: u8| l.checked_shl(8).unwrap_or(0) | u64::from(byte);
    if big {
        for &x in b {
            l = shl(l, x);
        }
    } else {
        for &x in b.iter().rev() {
            l = shl(l, x);
        }
    }
    if !signed {
        return l as f64;
    }
    // As x86 computes `~0UL << (size*8 - 1)` (the shift count taken mod 64).
    let shift = (b.len() * 8).wrapping_sub(1) % 64;
    let mask = u64::MAX << shift;
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn struct_pack(lua: &Lua, args: &[Value]) -> mlua::Result<mlua::String> {
    let fmt = check_str(args, 1, "pack")?;
    // struct.c pushes a nil mark after the arguments: the first missing one reads as nil.
    let mut marked = args.to_vec();
    marked.push(Value::Nil);
    let args = &marked[..];
    let mut f = Fmt { f: &fmt, pos: 0 };
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(total, &h, opt, size);
        total += pad;
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_num(lua, args, arg, "pack")?;
                arg += 1;
                put_integer(&mut out, n, h.big, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = check_num(lua, args, arg, "pack")? as f32;
                arg += 1;
                if h.big {
                    put_be(&mut out, u64::from(v.to_bits()), 4);
                } else {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            b'd' => {
                let v = check_num(lua, args, arg, "pack")?;
                arg += 1;
                if h.big {
                    put_be(&mut out, v.to_bits(), 8);
                } else {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            b'c' | b's' => {
                let s = check_str(args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(bad_arg(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => f.control(opt, &mut h, "pack")?,
        }
        total += size;
    }
    lua.create_string(&out)
}

fn struct_unpack(lua: &Lua, args: &[Value]) -> mlua::Result<Variadic<Value>> {
    let fmt = check_str(args, 1, "unpack")?;
    let data = check_str(args, 2, "unpack")?;
    // struct.c keeps the offset as a size_t: only 0 is refused; a negative one wraps to a
    // huge offset, past any data.
    let start = opt_int(lua, args, 3, "unpack", 1)?;
    if start == 0 {
        return Err(bad_arg(3, "unpack", "offset must be 1 or greater"));
    }
    let ld = data.len();
    let mut pos = usize::try_from(start.wrapping_sub(1)).unwrap_or(usize::MAX);
    let mut f = Fmt { f: &fmt, pos: 0 };
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut out = Variadic::new();
    let short = || bad_arg(2, "unpack", "data string too short");
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos = pos.saturating_add(to_align(pos, &h, opt, size));
        if size > ld || pos > ld - size {
            return Err(short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let v = get_integer(&data[pos..pos + size], h.big, opt.is_ascii_lowercase());
                out.push(Value::Number(v));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let v = if h.big {
                    f32::from_bits(get_be(&b) as u32)
                } else {
                    f32::from_le_bytes(b)
                };
                out.push(Value::Number(f64::from(v)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let v = if h.big {
                    f64::from_bits(get_be(&b))
                } else {
                    f64::from_le_bytes(b)
                };
                out.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let prev = match out.last() {
                        Some(v @ (Value::Number(_) | Value::Integer(_) | Value::String(_))) => {
                            lua.coerce_number(v.clone())?
                        }
                        _ => None,
                    };
                    let Some(n) = prev else {
                        return Err(rt("format 'c0' needs a previous size"));
                    };
                    out.pop();
                    size = if n < 0.0 { usize::MAX } else { n as usize };
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&c| c == 0) else {
                    return Err(rt("unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => f.control(opt, &mut h, "unpack")?,
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(out)
}

fn struct_size(args: &[Value]) -> mlua::Result<f64> {
    let fmt = check_str(args, 1, "size")?;
    let mut f = Fmt { f: &fmt, pos: 0 };
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut pos = 0usize;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(bad_arg(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(bad_arg(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as f64)
}

/// Build the `struct` table.
pub fn struct_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lib_function(lua, |lua, args: Variadic<Value>| struct_pack(lua, &args))?,
    )?;
    t.raw_set(
        "unpack",
        lib_function(lua, |lua, args: Variadic<Value>| struct_unpack(lua, &args))?,
    )?;
    t.raw_set(
        "size",
        lib_function(lua, |_, args: Variadic<Value>| struct_size(&args))?,
    )?;
    Ok(t)
}
