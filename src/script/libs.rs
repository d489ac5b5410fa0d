//! The libraries Redis embeds next to Lua 5.1 that mlua's vendored Lua does not ship,
//! written in Rust as mlua functions: `bit` (LuaBitOp), `cjson` (lua-cjson's encode and
//! decode with its default settings), and Redis's `math.random`/`math.randomseed`
//! (rand48, as `redisrand.c`). Also the C `%g` number formatting these need. Owns no
//! script state; `lua.rs` installs these into the sandbox.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mlua::{LightUserData, Lua, Table, Value, Variadic};

use super::convert::exact;

/// An mlua error carrying `msg` (shown to the script as the error text).
fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// A library function written in Rust: its errors are raised as a C library raises them
/// (`lua::lib_error`: a string with the calling line, which `pcall` returns).
pub(super) fn lib_function<R, F>(lua: &Lua, f: F) -> mlua::Result<mlua::Function>
where
    R: mlua::IntoLuaMulti,
    F: Fn(&Lua, Variadic<Value>) -> mlua::Result<R> + mlua::MaybeSend + 'static,
{
    lua.create_function(move |lua, args: Variadic<Value>| {
        f(lua, args).map_err(|e| super::lua::lib_error(lua, &e))
    })
}

/// Lua's type name of a value (for "bad argument" messages).
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        _ => "userdata",
    }
}

/// Argument `i` (1-based) of `fname` as a number, with Lua's string coercion.
fn num_arg(lua: &Lua, args: &[Value], i: usize, fname: &str) -> mlua::Result<f64> {
    let v = args.get(i - 1).cloned().unwrap_or(Value::Nil);
    let got = if args.len() < i {
        "no value"
    } else {
        type_name(&v)
    };
    match v {
        Value::Integer(n) => Ok(n as f64),
        Value::Number(n) => Ok(n),
        Value::String(_) => lua.coerce_number(v)?.ok_or_else(|| {
            rt(format!(
                "bad argument #{i} to '{fname}' (number expected, got string)"
            ))
        }),
        _ => Err(rt(format!(
            "bad argument #{i} to '{fname}' (number expected, got {got})"
        ))),
    }
}

/// LuaBitOp's normalisation of a number to a signed 32-bit integer (modular, rounded).
pub fn tobit(n: f64) -> i32 {
    // Adding 2^52 + 2^51 puts the rounded integer into the low mantissa bits.
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn bit_fn(
    lua: &Lua,
    name: &'static str,
    f: fn(&[i32]) -> i32,
    min_args: usize,
) -> mlua::Result<mlua::Function> {
    lib_function(lua, move |lua, args: Variadic<Value>| {
        let n = args.len().max(min_args);
        let mut v = Vec::with_capacity(n);
        for i in 1..=n {
            v.push(tobit(num_arg(lua, &args, i, name)?));
        }
        Ok(f64::from(f(&v)))
    })
}

/// Build the `bit` table.
pub fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", bit_fn(lua, "tobit", |v| v[0], 1)?)?;
    t.set("bnot", bit_fn(lua, "bnot", |v| !v[0], 1)?)?;
    t.set(
        "band",
        bit_fn(lua, "band", |v| v.iter().fold(-1, |a, b| a & b), 1)?,
    )?;
    t.set(
        "bor",
        bit_fn(lua, "bor", |v| v.iter().fold(0, |a, b| a | b), 1)?,
    )?;
    t.set(
        "bxor",
        bit_fn(lua, "bxor", |v| v.iter().fold(0, |a, b| a ^ b), 1)?,
    )?;
    t.set(
        "lshift",
        bit_fn(
            lua,
            "lshift",
            |v| ((v[0] as u32) << (v[1] & 31) as u32) as i32,
            2,
        )?,
    )?;
    t.set(
        "rshift",
        bit_fn(
            lua,
            "rshift",
            |v| ((v[0] as u32) >> (v[1] & 31) as u32) as i32,
            2,
        )?,
    )?;
    t.set(
        "arshift",
        bit_fn(lua, "arshift", |v| v[0] >> (v[1] & 31) as u32, 2)?,
    )?;
    t.set(
        "rol",
        bit_fn(
            lua,
            "rol",
            |v| (v[0] as u32).rotate_left((v[1] & 31) as u32) as i32,
            2,
        )?,
    )?;
    t.set(
        "ror",
        bit_fn(
            lua,
            "ror",
            |v| (v[0] as u32).rotate_right((v[1] & 31) as u32) as i32,
            2,
        )?,
    )?;
    t.set("bswap", bit_fn(lua, "bswap", |v| v[0].swap_bytes(), 1)?)?;
    t.set(
        "tohex",
        lib_function(lua, |lua, args: Variadic<Value>| {
            let mut b = tobit(num_arg(lua, &args, 1, "tohex")?) as u32;
            let mut n = if args.len() < 2 {
                8
            } else {
                tobit(num_arg(lua, &args, 2, "tohex")?)
            };
            let digits: &[u8; 16] = if n < 0 {
                n = n.saturating_neg();
                b"0123456789ABCDEF"
            } else {
                b"0123456789abcdef"
            };
            let n = usize::try_from(n.min(8)).unwrap_or(0);
            let mut buf = vec![b'0'; n];
            for slot in buf.iter_mut().rev() {
                *slot = digits[(b & 15) as usize];
                b >>= 4;
            }
            lua.create_string(&buf)
        })?,
    )?;
    Ok(t)
}

/// C's `printf("%.{prec}g", x)`.
pub fn fmt_g(x: f64, prec: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, x);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= i32::try_from(prec).unwrap_or(i32::MAX) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip(mant), sign, exp.abs())
    } else {
        let decimals = usize::try_from(i32::try_from(prec).unwrap_or(17) - 1 - exp).unwrap_or(0);
        strip(&format!("{x:.decimals$}"))
    }
}

/// Redis's rand48 (`redisrand.c`): the state behind `math.random`.
#[derive(Debug)]
pub struct Rand48(AtomicU64);

impl Rand48 {
    /// A generator seeded with `seed`.
    pub fn new(seed: i32) -> Rand48 {
        let r = Rand48(AtomicU64::new(0));
        r.seed(seed);
        r
    }
    /// `redisSrand48`.
    pub fn seed(&self, seed: i32) {
        self.0
            .store((u64::from(seed as u32) << 16) | 0x330E, Ordering::Relaxed);
    }
    /// `redisLrand48`: the next 31-bit value.
    pub fn next(&self) -> i32 {
        let x = self.0.load(Ordering::Relaxed);
        let x = (0x5_DEEC_E66D_u64.wrapping_mul(x).wrapping_add(0xB)) & ((1 << 48) - 1);
        self.0.store(x, Ordering::Relaxed);
        (x >> 17) as i32
    }
}

/// Install Redis's `math.random` and `math.randomseed` into `math`.
pub fn install_random(lua: &Lua, math: &Table, rng: Arc<Rand48>) -> mlua::Result<()> {
    let r = rng.clone();
    math.set(
        "random",
        lib_function(lua, move |lua, args: Variadic<Value>| {
            let max = f64::from(i32::MAX);
            let r = f64::from(r.next() % i32::MAX) / max;
            let int_arg =
                |i: usize| -> mlua::Result<f64> { Ok(num_arg(lua, &args, i, "random")?.trunc()) };
            match args.len() {
                0 => Ok(r),
                1 => {
                    let u = int_arg(1)?;
                    if u < 1.0 {
                        return Err(rt("bad argument #1 to 'random' (interval is empty)"));
                    }
                    Ok((r * u).floor() + 1.0)
                }
                2 => {
                    let l = int_arg(1)?;
                    let u = int_arg(2)?;
                    if l > u {
                        return Err(rt("bad argument #2 to 'random' (interval is empty)"));
                    }
                    Ok((r * (u - l + 1.0)).floor() + l)
                }
                _ => Err(rt("wrong number of arguments")),
            }
        })?,
    )?;
    math.set(
        "randomseed",
        lib_function(lua, move |lua, args: Variadic<Value>| {
            let s = num_arg(lua, &args, 1, "randomseed")?;
            rng.seed(s as i32);
            Ok(())
        })?,
    )?;
    Ok(())
}

/// cjson's `null` sentinel (a NULL light userdata, as lua-cjson uses).
pub fn json_null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn json_escape(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// lua-cjson's settings (`cjson.encode_max_depth()` and friends), shared by every Lua VM
/// of the process; scripts that change them restore them, as Redis's own tests do.
mod cfg {
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
    /// `encode_max_depth` (default 1000).
    pub static ENCODE_MAX_DEPTH: AtomicUsize = AtomicUsize::new(1000);
    /// `decode_max_depth` (default 1000).
    pub static DECODE_MAX_DEPTH: AtomicUsize = AtomicUsize::new(1000);
    /// `encode_invalid_numbers`: 0 off (error), 1 on (`nan`, `inf`), 2 `null`.
    pub static ENCODE_INVALID: AtomicU8 = AtomicU8::new(0);
    /// `decode_invalid_numbers` (default on: `strtod`'s hex, `inf`, `nan`, `+1` numbers).
    pub static DECODE_INVALID: AtomicBool = AtomicBool::new(true);
    /// `encode_keep_buffer` (accepted, reported; default on).
    pub static KEEP_BUFFER: AtomicBool = AtomicBool::new(true);
    /// `encode_number_precision` 1..=14 (default 14).
    pub static PRECISION: AtomicUsize = AtomicUsize::new(14);
}

fn load(a: &std::sync::atomic::AtomicUsize) -> usize {
    a.load(std::sync::atomic::Ordering::Relaxed)
}

fn json_number(n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        match cfg::ENCODE_INVALID.load(std::sync::atomic::Ordering::Relaxed) {
            0 => return Err(rt("Cannot serialise number: must not be NaN or Inf")),
            2 => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
    }
    out.extend_from_slice(fmt_g(n, load(&cfg::PRECISION)).as_bytes());
    Ok(())
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

fn json_encode(v: &Value, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(_) | Value::Number(_) => json_number(as_f64(v).unwrap_or(0.0), out)?,
        Value::String(s) => json_escape(&s.as_bytes(), out),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > load(&cfg::ENCODE_MAX_DEPTH) {
                return Err(rt(format!("Cannot serialise, excessive nesting ({depth})")));
            }
            // lua-cjson: an array iff every key is a positive integer; not too sparse.
            let mut max = 0usize;
            let mut items = 0usize;
            let mut is_array = true;
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, _) = pair?;
                items += 1;
                match as_f64(&k) {
                    Some(f) if f >= 1.0 && f.fract() == 0.0 && f < 1e15 => {
                        max = max.max(f as usize);
                    }
                    _ => {
                        is_array = false;
                        break;
                    }
                }
            }
            if is_array && max > 0 {
                if max > items * 2 && max > 10 {
                    return Err(rt("Cannot serialise table: excessively sparse array"));
                }
                out.push(b'[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(b',');
                    }
                    let v = exact(t, i, t.raw_get::<Value>(i)?);
                    json_encode(&v, depth, out)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, val) = pair?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => json_escape(&s.as_bytes(), out),
                        Value::Integer(_) | Value::Number(_) => {
                            // (Written as a number is, precision and NaN/Inf rules too.)
                            out.push(b'"');
                            json_number(as_f64(&k).unwrap_or(0.0), out)?;
                            out.push(b'"');
                        }
                        other => {
                            // (lua-cjson names the key's type.)
                            return Err(rt(format!(
                                "Cannot serialise {}: table key must be a number or string",
                                type_name(other)
                            )));
                        }
                    }
                    out.push(b':');
                    json_encode(&exact(t, k, val), depth, out)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return Err(rt(format!(
                "Cannot serialise {}: type not supported",
                type_name(other)
            )))
        }
    }
    Ok(())
}

/// Build the `cjson` table (`encode`, `decode`, `null`).
pub fn cjson_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lib_function(lua, |lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(rt("bad argument #1 to 'encode' (expected 1 argument)"));
            }
            let mut out = Vec::new();
            json_encode(&args[0], 0, &mut out)?;
            lua.create_string(&out)
        })?,
    )?;
    let int_opt = |name: &'static str, cell: &'static std::sync::atomic::AtomicUsize, max: i64| {
        lib_function(lua, move |_, args: Variadic<Value>| {
            if let Some(v) = args.first() {
                let n = match v {
                    Value::Integer(n) => Some(*n),
                    Value::Number(f) if f.fract() == 0.0 => Some(*f as i64),
                    _ => None,
                };
                match n {
                    Some(n) if (1..=max).contains(&n) => {
                        cell.store(n as usize, std::sync::atomic::Ordering::Relaxed)
                    }
                    _ => {
                        return Err(rt(format!(
                            "bad argument #1 to '{name}' (expected integer between 1 and {max})"
                        )))
                    }
                }
            }
            Ok(load(cell) as i64)
        })
    };
    t.set(
        "encode_max_depth",
        int_opt(
            "encode_max_depth",
            &cfg::ENCODE_MAX_DEPTH,
            i64::from(i32::MAX),
        )?,
    )?;
    t.set(
        "decode_max_depth",
        int_opt(
            "decode_max_depth",
            &cfg::DECODE_MAX_DEPTH,
            i64::from(i32::MAX),
        )?,
    )?;
    t.set(
        "encode_number_precision",
        int_opt("encode_number_precision", &cfg::PRECISION, 14)?,
    )?;
    let bool_opt = |name: &'static str, cell: &'static std::sync::atomic::AtomicBool| {
        lib_function(lua, move |_, args: Variadic<Value>| {
            match args.first() {
                None | Some(Value::Nil) => {}
                Some(Value::Boolean(b)) => cell.store(*b, std::sync::atomic::Ordering::Relaxed),
                Some(Value::String(s))
                    if s.as_bytes().as_ref() == b"on" || s.as_bytes().as_ref() == b"off" =>
                {
                    cell.store(
                        s.as_bytes().as_ref() == b"on",
                        std::sync::atomic::Ordering::Relaxed,
                    )
                }
                Some(other) => {
                    return Err(rt(format!(
                        "bad argument #1 to '{name}' (invalid option '{}')",
                        type_name(other)
                    )))
                }
            }
            Ok(cell.load(std::sync::atomic::Ordering::Relaxed))
        })
    };
    t.set(
        "encode_keep_buffer",
        bool_opt("encode_keep_buffer", &cfg::KEEP_BUFFER)?,
    )?;
    t.set(
        "decode_invalid_numbers",
        bool_opt("decode_invalid_numbers", &cfg::DECODE_INVALID)?,
    )?;
    t.set(
        "encode_invalid_numbers",
        lib_function(lua, |lua, args: Variadic<Value>| {
            let cell = &cfg::ENCODE_INVALID;
            let o = std::sync::atomic::Ordering::Relaxed;
            match args.first() {
                None | Some(Value::Nil) => {}
                Some(Value::Boolean(b)) => cell.store(u8::from(*b), o),
                Some(Value::String(s)) => match s.as_bytes().as_ref() {
                    b"off" => cell.store(0, o),
                    b"on" => cell.store(1, o),
                    b"null" => cell.store(2, o),
                    _ => {
                        return Err(rt(format!(
                            "bad argument #1 to 'encode_invalid_numbers' (invalid option '{}')",
                            String::from_utf8_lossy(&s.as_bytes())
                        )))
                    }
                },
                Some(other) => {
                    return Err(rt(format!(
                        "bad argument #1 to 'encode_invalid_numbers' (invalid option '{}')",
                        type_name(other)
                    )))
                }
            }
            Ok(match cell.load(o) {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    t.set(
        "encode_sparse_array",
        lib_function(lua, |_, _args: Variadic<Value>| Ok((false, 2, 10)))?,
    )?;
    t.set(
        "decode",
        lib_function(lua, |lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(rt("bad argument #1 to 'decode' (expected 1 argument)"));
            }
            let s = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(_) | Value::Number(_) => {
                    fmt_g(as_f64(&args[0]).unwrap_or(0.0), 14).into_bytes()
                }
                other => {
                    return Err(rt(format!(
                        "bad argument #1 to 'decode' (string expected, got {})",
                        type_name(other)
                    )))
                }
            };
            super::jsondecode::decode(
                lua,
                &s,
                load(&cfg::DECODE_MAX_DEPTH),
                cfg::DECODE_INVALID.load(Ordering::Relaxed),
            )
            .map_err(rt)
        })?,
    )?;
    t.set("null", json_null())?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_g_matches_c() {
        assert_eq!(fmt_g(3.0, 17), "3");
        assert_eq!(fmt_g(3.7, 17), "3.7000000000000002");
        assert_eq!(fmt_g(1e20, 17), "1e+20");
        assert_eq!(fmt_g(0.5, 14), "0.5");
        assert_eq!(fmt_g(0.0001, 14), "0.0001");
        assert_eq!(fmt_g(0.00001, 14), "1e-05");
        assert_eq!(fmt_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(fmt_g(-2.5, 14), "-2.5");
        assert_eq!(fmt_g(100.0, 14), "100");
    }

    #[test]
    fn tobit_wraps() {
        assert_eq!(tobit(1.0), 1);
        assert_eq!(tobit(4294967295.0), -1);
        assert_eq!(tobit(2147483648.0), i32::MIN);
        assert_eq!(tobit(-1.0), -1);
    }

    #[test]
    fn rand48_matches_redis() {
        let r = Rand48::new(0);
        let x = f64::from(r.next() % i32::MAX) / f64::from(i32::MAX);
        assert_eq!(fmt_g(x, 14), "0.17082803611217");
        let x = f64::from(r.next() % i32::MAX) / f64::from(i32::MAX);
        assert_eq!(fmt_g(x, 14), "0.74990198051087");
    }
}
