//! Lua ↔ `Reply` conversions with Redis 7.0's rules: script results to replies
//! (`luaReplyToRedisReply`: numbers truncated, `false` → null, tables as arrays up to the
//! first nil, `{ok=}`/`{err=}`/`{double=}`/`{map=}`/`{set=}` tagged tables), command replies
//! to Lua values in RESP2 or RESP3 (`redis.setresp`), and `redis.call` argument encoding.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use super::libs::fmt_g;
use crate::resp::Reply;

/// How an error reply becomes a Lua error table (`luaPushErrorBuff`): the text keeps its
/// code when it has one (`-CODE msg` / `CODE msg`), otherwise gets `ERR`.
pub fn normalize_error(text: &str) -> String {
    let t = text.strip_prefix('-').unwrap_or(text);
    match t.split_once(' ') {
        Some((code, msg)) => format!("{code} {}", msg.trim_matches(|c| c == '\r' || c == '\n')),
        None => format!("ERR {}", t.trim_matches(|c| c == '\r' || c == '\n')),
    }
}

/// A Lua number as Redis's `(long long)` cast does on x86-64 (out of range → i64::MIN).
pub fn lua_number_to_i64(n: f64) -> i64 {
    // 2^63, exactly representable.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_finite() && (-LIMIT..LIMIT).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// `t[k]`, read as `v`, with its exact value when it is a number mlua read as the integer
/// 0: mlua turns a Lua 5.1 number within 2^-52 of an integer into that integer, which
/// for 0 loses 1e-17 and -0 (a double read alone from the stack stays exact).
pub(crate) fn exact(t: &Table, k: impl mlua::IntoLua, v: Value) -> Value {
    if let Value::Integer(0) = v {
        if let Ok(f) = t.raw_get::<f64>(k) {
            return Value::Number(f);
        }
    }
    v
}

/// `s` up to its first NUL byte, as C reads it.
pub(crate) fn c_str(s: &[u8]) -> &[u8] {
    s.iter().position(|&c| c == 0).map_or(s, |n| &s[..n])
}

pub(crate) fn map_crlf(s: &[u8]) -> String {
    String::from_utf8_lossy(s).replace(['\r', '\n'], " ")
}

/// Convert a script's return value to a reply (`luaReplyToRedisReply`); `resp` is the
/// protocol the script chose with `redis.setresp` (it decides how booleans reply).
pub fn lua_to_reply(v: &Value, resp: u8, depth: usize) -> Reply {
    if depth > 1000 {
        return Reply::Error("ERR reached lua stack limit".into());
    }
    match v {
        Value::Boolean(b) => {
            if resp == 3 {
                Reply::Bool(*b)
            } else if *b {
                Reply::Int(1)
            } else {
                Reply::Null
            }
        }
        Value::Integer(n) => Reply::Int(*n),
        Value::Number(n) => Reply::Int(lua_number_to_i64(*n)),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => table_to_reply(t, resp, depth),
        _ => Reply::Null,
    }
}

fn table_to_reply(t: &Table, resp: u8, depth: usize) -> Reply {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    // (Redis reads both as C strings: a NUL byte ends them.)
    if let Value::String(e) = field("err") {
        return Reply::Error(map_crlf(c_str(&e.as_bytes())));
    }
    if let Value::String(s) = field("ok") {
        return Reply::Simple(map_crlf(c_str(&s.as_bytes())));
    }
    match exact(t, "double", field("double")) {
        Value::Number(d) => return Reply::Double(d),
        Value::Integer(d) => return Reply::Double(d as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        // A RESP3 big number (a bulk string to a RESP2 client, as the encoder sends it).
        return Reply::BigNumber(map_crlf(&s.as_bytes()));
    }
    if let Value::Table(v) = field("verbatim_string") {
        let fmt = v.raw_get::<Value>("format").unwrap_or(Value::Nil);
        let text = v.raw_get::<Value>("string").unwrap_or(Value::Nil);
        if let (Value::String(f), Value::String(s)) = (fmt, text) {
            let f: &'static str = match &*f.as_bytes() {
                b"mkd" => "mkd",
                _ => "txt",
            };
            return Reply::Verbatim(f, Bytes::copy_from_slice(&s.as_bytes()));
        }
    }
    if let Value::Table(m) = field("map") {
        let mut out = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            out.push((
                lua_to_reply(&k, resp, depth + 1),
                lua_to_reply(&v, resp, depth + 1),
            ));
        }
        return Reply::Map(out);
    }
    if let Value::Table(s) = field("set") {
        let out = s
            .pairs::<Value, Value>()
            .flatten()
            .map(|(k, _)| lua_to_reply(&k, resp, depth + 1))
            .collect();
        return Reply::Set(out);
    }
    let mut out = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => out.push(lua_to_reply(&v, resp, depth + 1)),
        }
    }
    Reply::Array(out)
}

/// Convert a command's reply to the Lua value `redis.call` returns, per the script's
/// protocol (`redis.setresp`): RESP2 nulls are `false`, RESP3 nulls `nil`, and RESP3
/// maps, sets, doubles and verbatim strings are tagged tables.
pub fn reply_to_lua(lua: &Lua, r: &Reply, resp: u8) -> mlua::Result<Value> {
    let table_of = |items: &[Reply]| -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, it) in items.iter().enumerate() {
            t.raw_set(i + 1, reply_to_lua(lua, it, resp)?)?;
        }
        Ok(Value::Table(t))
    };
    let tagged = |tag: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(tag, v)?;
        Ok(Value::Table(t))
    };
    Ok(match r {
        Reply::Simple(s) => tagged("ok", Value::String(lua.create_string(s)?))?,
        Reply::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(normalize_error(e))?)?;
            // As Redis marks an error a command replied: counted once, by that command.
            t.raw_set("ignore_error_stats_update", true)?;
            Value::Table(t)
        }
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Null | Reply::NullArray => {
            if resp == 3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => table_of(items)?,
        Reply::Bulks(b) => {
            let t = lua.create_table_with_capacity(b.len(), 0)?;
            for (i, e) in b.iter().enumerate() {
                let v = match e {
                    Some(e) => Value::String(lua.create_string(e)?),
                    None if resp == 3 => Value::Nil,
                    None => Value::Boolean(false),
                };
                t.raw_set(i + 1, v)?;
            }
            Value::Table(t)
        }
        Reply::Set(items) => {
            if resp == 3 {
                let s = lua.create_table()?;
                for it in items {
                    s.raw_set(reply_to_lua(lua, it, resp)?, true)?;
                }
                tagged("set", Value::Table(s))?
            } else {
                table_of(items)?
            }
        }
        Reply::Map(pairs) => {
            if resp == 3 {
                let m = lua.create_table()?;
                for (k, v) in pairs {
                    m.raw_set(reply_to_lua(lua, k, resp)?, reply_to_lua(lua, v, resp)?)?;
                }
                tagged("map", Value::Table(m))?
            } else {
                let flat: Vec<Reply> = pairs
                    .iter()
                    .flat_map(|(k, v)| [k.clone(), v.clone()])
                    .collect();
                table_of(&flat)?
            }
        }
        Reply::Double(d) => {
            if resp == 3 {
                tagged("double", Value::Number(*d))?
            } else {
                Value::String(lua.create_string(crate::resp::encode::format_double(*d))?)
            }
        }
        Reply::DoubleText(s) => {
            if resp == 3 {
                tagged("double", Value::Number(s.parse().unwrap_or(0.0)))?
            } else {
                Value::String(lua.create_string(s)?)
            }
        }
        Reply::Bool(b) => {
            if resp == 3 {
                Value::Boolean(*b)
            } else {
                Value::Number(if *b { 1.0 } else { 0.0 })
            }
        }
        Reply::Verbatim(fmt, s) => {
            if resp == 3 {
                let v = lua.create_table()?;
                v.raw_set("format", *fmt)?;
                v.raw_set("string", lua.create_string(s)?)?;
                tagged("verbatim_string", Value::Table(v))?
            } else {
                Value::String(lua.create_string(s)?)
            }
        }
        Reply::BigNumber(digits) => {
            if resp == 3 {
                tagged("big_number", Value::String(lua.create_string(digits)?))?
            } else {
                Value::String(lua.create_string(digits)?)
            }
        }
        Reply::Attribute(_, reply) => reply_to_lua(lua, reply, resp)?,
        #[allow(unreachable_patterns)]
        _ => Value::Boolean(false),
    })
}

/// A `redis.call` argument as bytes: strings as they are, numbers as `%.17g`.
pub(crate) fn arg_bytes(v: &Value) -> Option<Bytes> {
    match v {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        // (An Integer is a Lua number mlua found integral: it prints as the double it is.)
        Value::Integer(n) => Some(Bytes::from(fmt_g(*n as f64, 17))),
        Value::Number(n) => Some(Bytes::from(fmt_g(*n, 17))),
        _ => None,
    }
}
