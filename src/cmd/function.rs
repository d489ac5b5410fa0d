//! Function commands (Redis 7.0): FUNCTION LOAD / DELETE / FLUSH / LIST / STATS / KILL /
//! DUMP / RESTORE / HELP and FCALL / FCALL_RO. The registry and the Lua side live in
//! `script::function`; running a function reuses EVAL's machinery
//! (`scripting::run_in_unit`), so a function's writes land in the caller's execution
//! unit as their own effects (one log record; replay never runs Lua). FUNCTION LOAD,
//! DELETE, FLUSH and RESTORE are journaled verbatim: replay re-registers libraries.

use bytes::Bytes;

use super::exec::{is, lossy, Caller, Exec};
use super::scripting::{check_may_write, run_in_unit};
use super::{cmd, container, CmdError, CommandSpec, Flags, Group, Journal};
use crate::rdb::{self, opcodes};
use crate::resp::Reply;
use crate::script::function::{stats_reply, RestorePolicy, LOAD_TIMEOUT};
use crate::script::lua::FLAG_NAMES;

/// Register the function commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Scripting;
    let base = F::NOSCRIPT | F::STALE | F::SKIP_MONITOR | F::NO_MANDATORY_KEYS | F::MOVABLE_KEYS;
    t.push(
        cmd("fcall", -3, base | F::MAY_REPLICATE, fcall)
            .group(g)
            .journal(Journal::Custom)
            .doc("Invoke a function", "7.0.0"),
    );
    t.push(
        cmd("fcall_ro", -3, base | F::READONLY, fcall_ro)
            .group(g)
            .doc("Invoke a read-only function", "7.0.0"),
    );
    let subs = vec![
        cmd("delete", 3, F::WRITE | F::NOSCRIPT, function_delete)
            .group(g)
            .doc("Delete a function by name", "7.0.0"),
        cmd("dump", 2, F::NOSCRIPT, function_dump)
            .group(g)
            .doc("Dump all functions into a serialized binary payload", "7.0.0"),
        cmd("flush", -2, F::WRITE | F::NOSCRIPT, function_flush)
            .group(g)
            .doc("Deleting all functions", "7.0.0"),
        cmd("help", 2, F::LOADING | F::STALE, function_help)
            .group(g)
            .doc("Show helpful text about the different subcommands", "7.0.0"),
        cmd("kill", 2, F::NOSCRIPT | F::ALLOW_BUSY, function_kill)
            .group(g)
            .doc("Kill the function currently in execution.", "7.0.0"),
        cmd("list", -2, F::NOSCRIPT, function_list)
            .group(g)
            .doc("List information about all the functions", "7.0.0"),
        cmd("restore", -3, F::WRITE | F::DENYOOM | F::NOSCRIPT, function_restore)
            .group(g)
            .doc("Restore all the functions on the given payload", "7.0.0"),
        cmd("load", -3, F::WRITE | F::DENYOOM | F::NOSCRIPT, function_load)
            .group(g)
            .doc("Create a function with the given arguments (name, code, description)", "7.0.0"),
        cmd("stats", 2, F::NOSCRIPT | F::ALLOW_BUSY, function_stats)
            .group(g)
            .doc("Return information about the function currently running (name, description, duration)", "7.0.0"),
    ];
    t.push(
        container("function", -2, F::empty(), subs)
            .group(g)
            .doc("A container for function commands", "7.0.0"),
    );
}

/// FCALL's `numkeys`, with FCALL's own error texts.
fn numkeys(a: &[Bytes]) -> Result<usize, CmdError> {
    let n = crate::db::strnum::parse_i64(&a[2])
        .ok_or_else(|| CmdError::err("Bad number of keys provided"))?;
    if n > i64::try_from(a.len() - 3).unwrap_or(i64::MAX) {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

fn fcall_generic(x: &mut Exec<'_>, a: &[Bytes], readonly: bool) -> Result<Reply, CmdError> {
    let Some((no_writes, allow_oom)) =
        x.st.functions
            .get(&a[1])
            .map(|f| (f.no_writes(), f.allow_oom()))
    else {
        return Err(CmdError::err("Function not found"));
    };
    let n = numkeys(a)?;
    if !no_writes {
        check_may_write(x, readonly, allow_oom)?;
    }
    let keys = &a[3..3 + n];
    let args = &a[3 + n..];
    // The registry lives in the state the function's commands also reach: take it out.
    let mut functions = std::mem::take(&mut x.st.functions);
    let reply = run_in_unit(x, readonly || no_writes, allow_oom, |host| {
        functions.call(&a[1], a, keys, args, host)
    });
    x.st.functions = functions;
    Ok(reply)
}

fn fcall(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    fcall_generic(x, a, false)
}

fn fcall_ro(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    fcall_generic(x, a, true)
}

fn function_load(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut replace = false;
    let mut i = 2;
    while i < a.len() - 1 {
        if !is(&a[i], "replace") {
            return Err(CmdError::err(format!(
                "Unknown option given: {}",
                lossy(&a[i])
            )));
        }
        replace = true;
        i += 1;
    }
    // Replay loads without a time limit (as Redis does for its master and the AOF).
    let timeout = (x.caller != Caller::Replay).then_some(LOAD_TIMEOUT);
    let name =
        x.st.functions
            .load(&a[i], replace, timeout)
            .map_err(CmdError::Raw)?;
    x.touch_dirty(1);
    Ok(Reply::bulk_string(name))
}

fn function_delete(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if !x.st.functions.delete(&a[2]) {
        return Err(CmdError::err("Library not found"));
    }
    x.touch_dirty(1);
    Ok(Reply::ok())
}

fn syntax_error(a: &[Bytes]) -> CmdError {
    CmdError::bad_subcommand(&a[1], "FUNCTION")
}

fn function_flush(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 3 {
        return Err(syntax_error(a));
    }
    if a.len() == 3 && !is(&a[2], "sync") && !is(&a[2], "async") {
        return Err(CmdError::err(
            "FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    x.st.functions.flush();
    x.touch_dirty(1);
    Ok(Reply::ok())
}

fn function_list(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < a.len() {
        if !with_code && is(&a[i], "withcode") {
            with_code = true;
        } else if pattern.is_none() && is(&a[i], "libraryname") {
            if i + 1 >= a.len() {
                return Err(CmdError::err("library name argument was not given"));
            }
            i += 1;
            pattern = Some(&a[i]);
        } else {
            return Err(CmdError::err(format!("Unknown argument {}", lossy(&a[i]))));
        }
        i += 1;
    }
    let s = |t: &str| Reply::bulk(t.as_bytes());
    let mut out = Vec::new();
    for lib in x.st.functions.iter() {
        if let Some(p) = pattern {
            if !crate::glob::glob_match(p, lib.name.as_bytes(), true) {
                continue;
            }
        }
        let functions = lib
            .functions
            .values()
            .map(|f| {
                let flags = FLAG_NAMES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| f.flags & (1 << i) != 0)
                    .map(|(_, n)| Reply::Simple((*n).to_string()))
                    .collect();
                Reply::Map(vec![
                    (s("name"), s(&f.name)),
                    (
                        s("description"),
                        f.description.clone().map_or(Reply::Null, Reply::Bulk),
                    ),
                    (s("flags"), Reply::Set(flags)),
                ])
            })
            .collect();
        let mut m = vec![
            (s("library_name"), s(&lib.name)),
            (s("engine"), s("LUA")),
            (s("functions"), Reply::Array(functions)),
        ];
        if with_code {
            m.push((s("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(m));
    }
    Ok(Reply::Array(out))
}

fn function_stats(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    // Under the engine lock no function is running (a running one holds the lock; while
    // it runs, server/conn.rs answers FUNCTION STATS through `stats_while_busy`).
    let f = &x.st.functions;
    Ok(stats_reply(None, f.len(), f.function_count()))
}

fn function_kill(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    // A connection that wants to kill a running function calls `request_kill_from`
    // without the lock (server/conn.rs); here nothing can be running.
    match crate::script::request_kill_from(false) {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => Err(CmdError::Raw(e.text().into())),
    }
}

fn function_dump(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let codes: Vec<Bytes> =
        x.st.functions
            .libraries()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
    Ok(Reply::Bulk(Bytes::from(dump_payload(&codes))))
}

fn function_restore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 4 {
        return Err(syntax_error(a));
    }
    let policy = match a.get(3) {
        None => RestorePolicy::Append,
        Some(p) if is(p, "append") => RestorePolicy::Append,
        Some(p) if is(p, "replace") => RestorePolicy::Replace,
        Some(p) if is(p, "flush") => RestorePolicy::Flush,
        Some(_) => {
            return Err(CmdError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let codes = parse_payload(&a[2]).map_err(CmdError::Raw)?;
    x.st.functions
        .restore(&codes, policy)
        .map_err(CmdError::Raw)?;
    x.touch_dirty(1);
    Ok(Reply::ok())
}

/// FUNCTION DUMP's payload, as Redis writes it: per library the FUNCTION2 opcode and its
/// code as an RDB string (LZF-compressed when that pays), then the RDB version (2 bytes
/// LE) and the CRC-64 of everything before (8 bytes LE).
fn dump_payload(codes: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in codes {
        out.push(opcodes::FUNCTION2);
        rdb::put_string(&mut out, c);
    }
    out.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
    let crc = rdb::crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes in a FUNCTION DUMP payload (Redis's or ours), checked as Redis's
/// `verifyDumpPayload` and `functionRestoreCommand` do.
fn parse_payload(p: &[u8]) -> Result<Vec<Bytes>, String> {
    let bad = || "ERR DUMP payload version or checksum are wrong".to_string();
    if p.len() < 10 {
        return Err(bad());
    }
    let ver = u16::from_le_bytes([p[p.len() - 10], p[p.len() - 9]]);
    if ver > rdb::RDB_VERSION {
        return Err(bad());
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&p[p.len() - 8..]);
    if rdb::crc64::crc64(&p[..p.len() - 8]) != u64::from_le_bytes(crc) {
        return Err(bad());
    }
    let body = &p[..p.len() - 10];
    let mut r = rdb::Reader::new(body);
    let mut codes = Vec::new();
    while r.remaining() > 0 {
        match r.u8() {
            Ok(opcodes::FUNCTION2) => {}
            Ok(opcodes::FUNCTION_PRE_GA) => {
                return Err("ERR Pre-GA function format not supported".into())
            }
            Ok(_) => return Err("ERR given type is not a function".into()),
            Err(_) => return Err("ERR can not read data type".into()),
        }
        let code = r
            .string()
            .map_err(|_| "ERR failed loading the given functions payload".to_string())?;
        codes.push(Bytes::from(code));
    }
    Ok(codes)
}

fn function_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let lines = [
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        lines.iter().map(|l| Reply::Simple((*l).into())).collect(),
    ))
}

#[cfg(test)]
mod tests;
