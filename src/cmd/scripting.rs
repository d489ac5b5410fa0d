//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD / EXISTS /
//! FLUSH / KILL / HELP. A script runs inside the caller's execution unit: `redis.call`
//! goes through `dispatch::call` on the same `Exec`, so every write a script makes lands
//! in the unit's journal as its own effect (one log record; replay never runs Lua).
//! This file builds that callback (with Redis's checks for commands called from scripts:
//! NOSCRIPT, writes in read-only scripts) and hands it to `script::`, which owns the VM.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::{cmd, container, dispatch, CmdError, CommandSpec, Flags, Group, Journal, COMMANDS};
use crate::resp::Reply;
use crate::script::{debugger, Host, Scripts};

/// Register the scripting commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Scripting;
    let base = F::NOSCRIPT | F::STALE | F::SKIP_MONITOR | F::NO_MANDATORY_KEYS | F::MOVABLE_KEYS;
    t.push(
        cmd("eval", -3, base | F::MAY_REPLICATE, eval)
            .group(g)
            .journal(Journal::Custom)
            .doc("Execute a Lua script server side", "2.6.0"),
    );
    t.push(
        cmd("evalsha", -3, base | F::MAY_REPLICATE, evalsha)
            .group(g)
            .journal(Journal::Custom)
            .doc("Execute a Lua script server side", "2.6.0"),
    );
    t.push(
        cmd("eval_ro", -3, base | F::READONLY, eval_ro)
            .group(g)
            .doc("Execute a read-only Lua script server side", "7.0.0"),
    );
    t.push(
        cmd("evalsha_ro", -3, base | F::READONLY, evalsha_ro)
            .group(g)
            .doc("Execute a read-only Lua script server side", "7.0.0"),
    );
    let subs = vec![
        cmd("debug", 3, F::NOSCRIPT, script_debug)
            .group(g)
            .doc("Set the debug mode for executed scripts.", "3.2.0"),
        cmd("exists", -3, F::NOSCRIPT, script_exists)
            .group(g)
            .doc("Check existence of scripts in the script cache.", "2.6.0"),
        cmd("flush", -2, F::NOSCRIPT, script_flush)
            .group(g)
            .doc("Remove all the scripts from the script cache.", "2.6.0"),
        cmd("help", 2, F::LOADING | F::STALE, script_help)
            .group(g)
            .doc("Show helpful text about the different subcommands", "5.0.0"),
        cmd("kill", 2, F::NOSCRIPT | F::ALLOW_BUSY, script_kill)
            .group(g)
            .doc("Kill the script currently in execution.", "2.6.0"),
        cmd("load", 3, F::NOSCRIPT | F::STALE, script_load)
            .group(g)
            .doc(
                "Load the specified Lua script into the script cache.",
                "2.6.0",
            ),
    ];
    t.push(
        container("script", -2, F::empty(), subs)
            .group(g)
            .doc("A container for Lua scripts management commands", "2.6.0"),
    );
}

const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// `numkeys` of an EVAL-like command, checked against the argument count.
fn numkeys(a: &[Bytes]) -> Result<usize, CmdError> {
    let n = arg_i64(&a[2])?;
    if n < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n > a.len() - 3 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok(n)
}

/// The `redis.call` side of a running script: Redis's script checks, then the one
/// dispatch path on the caller's `Exec`.
struct ScriptHost<'x, 'a> {
    x: &'x mut Exec<'a>,
    readonly: bool,
    /// Memory was over `maxmemory` when the script started (and it did not declare
    /// `allow-oom`): commands that may grow memory are refused until it wrote something.
    oom_at_start: bool,
    /// `Exec::dirty` when the script started.
    dirty_at_start: u64,
    /// The last call was refused before its command ran.
    rejected: bool,
}

impl Host for ScriptHost<'_, '_> {
    fn call(&mut self, argv: &[Bytes], resp: u8) -> Reply {
        self.serve_waiting();
        self.rejected = true;
        self.checked_call(argv, resp)
    }

    fn acl_check(&mut self, argv: &[Bytes]) -> Option<bool> {
        super::acl::may_run(self.x, argv)
    }

    fn rejected(&self) -> bool {
        self.rejected
    }

    fn serve_waiting(&mut self) {
        // Commands other clients may run while this script is busy (`allow-busy`).
        super::busy::serve(self.x);
    }
}

impl ScriptHost<'_, '_> {
    /// Redis's checks for a command called from a script, then the command itself (which
    /// clears `rejected`).
    fn checked_call(&mut self, argv: &[Bytes], resp: u8) -> Reply {
        let err = |s: &str| Reply::Error(s.to_string());
        // `rename-command`: scripts call commands by their new names too (Redis looks them
        // up in the same table); what runs below is the command under its own name.
        let own_argv;
        let argv = if self.x.st.renames.is_empty() {
            argv
        } else {
            match self.x.st.renames.own_argv(argv) {
                Some(own) => {
                    own_argv = own.into_owned();
                    &own_argv[..]
                }
                None => return err("ERR Unknown Redis command called from script"),
            }
        };
        let spec = match COMMANDS.lookup(argv) {
            Ok(s) => s,
            Err(CmdError::Arity(_)) => {
                return err("ERR Wrong number of args calling Redis command from script")
            }
            Err(_) => return err("ERR Unknown Redis command called from script"),
        };
        if spec.handler.is_none() || !spec.arity_ok(argv.len()) {
            return err("ERR Wrong number of args calling Redis command from script");
        }
        // Refusals here count as the command's rejected calls, as Redis counts them.
        let reject = |x: &mut Exec<'_>, text: &str| {
            dispatch::error_reply(x, CmdError::Raw(text.into()), Some(spec.id))
        };
        if spec.flags.contains(Flags::NOSCRIPT) && !self.x.st.script_deny_disabled {
            return reject(self.x, "ERR This Redis command is not allowed from script");
        }
        if let Err(e) = super::acl::admit_script(self.x, spec, argv) {
            return dispatch::error_reply(self.x, CmdError::Raw(e), Some(spec.id));
        }
        // Redis's scriptVerifyWriteCommandAllow: no writes from a read-only script (nor
        // `may-replicate` commands: PUBLISH, PFCOUNT …), on a read-only replica, or on a
        // master short of `min-replicas-to-write` good replicas (none ever is here).
        if self.readonly
            && (spec.flags.intersects(Flags::WRITE | Flags::MAY_REPLICATE)
                || spec.full_name == "publish"
                || spec.full_name == "spublish")
        {
            return reject(
                self.x,
                "ERR Write commands are not allowed from read-only scripts.",
            );
        }
        if spec.flags.contains(Flags::WRITE) && self.x.caller == super::Caller::Client {
            let st = &self.x.st;
            if st.replicas.master.is_some()
                && st.config.get("replica-read-only").as_deref() != Some("no")
            {
                return reject(
                    self.x,
                    "READONLY You can't write against a read only replica.",
                );
            }
            if super::repl::lacks_good_replicas(st, self.x.now_ms) {
                return reject(self.x, NOREPLICAS);
            }
        }
        // Redis's scriptVerifyOOM: a script that has not written yet is stopped at its
        // first command that may grow memory.
        if self.oom_at_start
            && self.x.dirty == self.dirty_at_start
            && spec.flags.contains(Flags::DENYOOM)
        {
            return reject(self.x, super::memory::OOM_ERROR);
        }
        // SCRIPT DEBUG YES: the keys are copied first, the effects dropped after.
        let discard = self.x.ldb_undo.is_some();
        if discard {
            if let Some(why) = undo::refusal(spec, argv) {
                return reject(self.x, &why);
            }
            if let Some(mut u) = self.x.ldb_undo.take() {
                u.save(self.x, spec, argv);
                self.x.ldb_undo = Some(u);
            }
        }
        let journal_at = self.x.journal.len();
        let repl = if discard {
            std::mem::take(&mut self.x.repl)
        } else {
            Default::default()
        };
        let before = self.x.dirty;
        let outer = self.x.script_resp.replace(resp);
        self.rejected = false;
        let r = dispatch::call(self.x, argv);
        self.x.script_resp = outer;
        if discard {
            self.x.journal.truncate(journal_at);
            self.x.tracked = self.x.tracked.min(journal_at);
            self.x.repl = repl;
        }
        if self.x.dirty > before {
            crate::script::SCRIPT_WROTE.store(true, Ordering::Release);
        }
        r
    }
}

/// A `#!lua flags=…` first line (Redis 7 shebang): whether `no-writes` is declared, and the
/// body to compile (the shebang line blanked so line numbers stay right).
fn shebang(body: &[u8]) -> Result<(bool, Option<Vec<u8>>), CmdError> {
    shebang_flags(body).map(|(no_writes, _, code)| (no_writes, code))
}

/// `shebang` plus whether `allow-oom` is declared: (no-writes, allow-oom, code).
fn shebang_flags(body: &[u8]) -> Result<(bool, bool, Option<Vec<u8>>), CmdError> {
    if !body.starts_with(b"#!") {
        return Ok((false, false, None));
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err(CmdError::err("Invalid script shebang"));
    };
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(CmdError::err(format!(
            "Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut no_writes = false;
    let mut allow_oom = false;
    for p in parts {
        let Some(flags) = p.strip_prefix("flags=") else {
            return Err(CmdError::err(format!("Unknown lua shebang option: {p}")));
        };
        for f in flags.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => no_writes = true,
                "allow-oom" => allow_oom = true,
                "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(CmdError::err(format!(
                        "Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    Ok((no_writes, allow_oom, Some(body[end..].to_vec())))
}

/// Whether `argv` runs a script or function that declared `no-writes` (EVAL's shebang,
/// the cached body of EVALSHA, FCALL's function flags): such a call is no write for
/// CLIENT PAUSE WRITE, as Redis's `evalGetCommandFlags` / `fcallGetCommandFlags`.
pub fn declares_no_writes(st: &super::State, argv: &[Bytes]) -> bool {
    let (Some(c), Some(arg)) = (argv.first(), argv.get(1)) else {
        return false;
    };
    let body_no_writes = |body: &[u8]| {
        Some(has_shebang(body) && shebang_flags(body).is_ok_and(|(no_writes, _, _)| no_writes))
    };
    script_flag(st, c, arg, body_no_writes, |f| f.no_writes()).unwrap_or(false)
}

/// A flag of the script or function an EVAL / EVALSHA / FCALL (or its `_RO` form) names:
/// `body` read from the script's text (EVAL's argument, EVALSHA's cached body), `function`
/// from the function. None for another command, an unknown SHA or function.
fn script_flag(
    st: &super::State,
    c: &[u8],
    arg: &[u8],
    body: impl Fn(&[u8]) -> Option<bool>,
    function: impl Fn(&crate::script::function::FunctionInfo) -> bool,
) -> Option<bool> {
    if is(c, "eval") || is(c, "eval_ro") {
        body(arg)
    } else if is(c, "evalsha") || is(c, "evalsha_ro") {
        let sha = String::from_utf8_lossy(arg).to_ascii_lowercase();
        st.scripts.body(&sha).and_then(|b| body(&b))
    } else if is(c, "fcall") || is(c, "fcall_ro") {
        st.functions.get(arg).map(function)
    } else {
        None
    }
}

/// Whether a script or function may run on a stale replica: for one that declares flags
/// (EVAL's shebang, the cached body of EVALSHA, FCALL's function) whether it declared
/// `allow-stale` (Redis's `scriptFlagsToCmdFlags`); a script in compatibility mode (no
/// shebang) never may (`scriptPrepareForRun` answers MASTERDOWN); None for an unknown
/// one, which keeps the command's own flags.
pub fn declares_allow_stale(st: &super::State, argv: &[Bytes]) -> Option<bool> {
    let (Some(c), Some(arg)) = (argv.first(), argv.get(1)) else {
        return None;
    };
    let body_flag = |body: &[u8]| Some(shebang_declares(body, "allow-stale").unwrap_or(false));
    script_flag(st, c, arg, body_flag, |f| f.allow_stale())
}

/// Whether a script or function counts as a write for the replication checks (Redis's
/// `scriptFlagsToCmdFlags`): one that declares flags (a shebang, a function) without
/// `no-writes`; a script in compatibility mode (no shebang) does not, nor an unknown one.
pub fn declares_writes(st: &super::State, argv: &[Bytes]) -> bool {
    let (Some(c), Some(arg)) = (argv.first(), argv.get(1)) else {
        return false;
    };
    let body_flag = |body: &[u8]| Some(shebang_declares(body, "no-writes").is_some_and(|nw| !nw));
    script_flag(st, c, arg, body_flag, |f| !f.no_writes()).unwrap_or(false)
}

/// Whether a script body's shebang line declares `flag` in its `flags=` (None: the body
/// has no shebang).
fn shebang_declares(body: &[u8], flag: &str) -> Option<bool> {
    if !has_shebang(body) {
        return None;
    }
    let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    Some(
        line.split(' ')
            .filter_map(|p| p.strip_prefix("flags="))
            .any(|f| f.split(',').any(|f| f == flag)),
    )
}

/// Cache `body` (compiling it) and return its SHA-1 and whether it declared no-writes.
fn load(scripts: &mut Scripts, body: &[u8]) -> Result<String, CmdError> {
    let (_, stripped) = shebang(body)?;
    match stripped {
        None => scripts.load(body).map_err(CmdError::Raw),
        Some(code) => {
            // Cached under the SHA-1 of the full body, compiled without the shebang line.
            let sha = crate::script::sha1_hex(body);
            scripts.load_as(&sha, body, &code).map_err(CmdError::Raw)?;
            Ok(sha)
        }
    }
}

/// Run a cached script inside this execution unit (under the debugger with `ldb`).
fn run(
    x: &mut Exec<'_>,
    sha: &str,
    a: &[Bytes],
    readonly: bool,
    ldb: Option<&debugger::Shared>,
) -> Result<Reply, CmdError> {
    let n = numkeys(a)?;
    let Some(body) = x.st.scripts.body(sha) else {
        return Err(CmdError::Raw(
            "NOSCRIPT No matching script. Please use EVAL.".into(),
        ));
    };
    let (no_writes, allow_oom, _) = shebang_flags(&body)?;
    let keys = &a[3..3 + n];
    let args = &a[3 + n..];
    if !no_writes && has_shebang(&body) {
        // A script with a shebang declares its flags: without no-writes it is a writer.
        check_may_write(x, readonly, allow_oom)?;
    }
    // The VM lives in the state the script's commands also reach: take it out while it runs.
    let mut scripts = std::mem::take(&mut x.st.scripts);
    let reply = run_in_unit(x, readonly || no_writes, allow_oom, |host| match ldb {
        Some(session) => scripts.run_debug(sha, keys, args, host, session),
        None => scripts.run(sha, keys, args, host),
    });
    x.st.scripts = scripts;
    Ok(reply)
}

fn has_shebang(body: &[u8]) -> bool {
    body.starts_with(b"#!")
}

/// Redis's checks before running a script or function that may write (no `no-writes`
/// flag): refused over `maxmemory` unless `allow-oom`, while the log cannot persist, and
/// by a read-only command (`*_RO`).
pub(super) fn check_may_write(
    x: &mut Exec<'_>,
    readonly: bool,
    allow_oom: bool,
) -> Result<(), CmdError> {
    if x.caller == super::Caller::Client {
        if !allow_oom
            && x.st.config.maxmemory > 0
            && super::memory::perform_evictions(x) == super::memory::Evict::Fail
        {
            return Err(CmdError::Raw(super::memory::OOM_ERROR.into()));
        }
        if let Some(why) = x.env.log_failure() {
            return Err(CmdError::Misconf(why));
        }
        if x.st.replicas.master.is_some()
            && x.st.config.get("replica-read-only").as_deref() != Some("no")
        {
            return Err(CmdError::Raw(
                "READONLY Can not run script with write flag on readonly replica".into(),
            ));
        }
        if super::repl::lacks_good_replicas(x.st, x.now_ms) {
            return Err(CmdError::Raw(NOREPLICAS.into()));
        }
    }
    if readonly {
        return Err(CmdError::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(())
}

/// Run a script body (`body` gets the `redis.call` host) inside this execution unit:
/// commands it calls go through `dispatch::call` on this `Exec`, so their effects land in
/// this unit's journal. `readonly` refuses write commands. The caller's database and
/// last command are restored afterwards (SELECT inside a script stays inside, Redis 7).
pub(super) fn run_in_unit(
    x: &mut Exec<'_>,
    readonly: bool,
    allow_oom: bool,
    body: impl FnOnce(&mut dyn Host) -> Reply,
) -> Reply {
    let oom_at_start = !allow_oom
        && x.caller == super::Caller::Client
        && x.st.config.maxmemory > 0
        && super::memory::perform_evictions(x) == super::memory::Evict::Fail;
    let saved_db = x.db;
    let client_db = x.client().db;
    let last_cmd = x.client().last_cmd;
    let was_in_script = x.in_script;
    x.in_script = true;
    x.st.script_errors.clear();
    let reply = {
        let dirty_at_start = x.dirty;
        let mut host = ScriptHost {
            x: &mut *x,
            readonly,
            oom_at_start,
            dirty_at_start,
            rejected: false,
        };
        body(&mut host)
    };
    x.in_script = was_in_script;
    x.db = saved_db;
    let c = x.client();
    c.db = client_db;
    c.last_cmd = last_cmd;
    reply
}

fn eval_generic(x: &mut Exec<'_>, a: &[Bytes], readonly: bool) -> Result<Reply, CmdError> {
    if let Some(link) = debug_link(x) {
        return eval_debug(x, a, readonly, link);
    }
    numkeys(a)?;
    let sha = load(&mut x.st.scripts, &a[1])?;
    run(x, &sha, a, readonly, None)
}

/// The debugging session this EVAL starts: the client sent SCRIPT DEBUG YES|SYNC and its
/// connection handed over its side of the session (it does for an EVAL it runs alone,
/// not one inside MULTI/EXEC, which runs without the debugger).
fn debug_link(x: &mut Exec<'_>) -> Option<debugger::Link> {
    if x.caller != super::Caller::Client || x.in_script || x.in_exec {
        return None;
    }
    let c = x.client();
    if c.ldb == debugger::Mode::Off {
        return None;
    }
    c.ldb_link.take()
}

/// EVAL (or EVAL_RO) in a debugging session, as Redis's `evalGenericCommandWithDebugging`:
/// the session starts before anything is checked, ends with `<endsession>` whatever
/// happened (a bad key count, a compile error, an abort …), then the final reply goes
/// out and the connection closes. SYNC keeps the script's changes; YES (Redis's forked
/// session) discards them: its writes are undone in memory and never journaled
/// (`discard_writes`).
fn eval_debug(
    x: &mut Exec<'_>,
    a: &[Bytes],
    readonly: bool,
    link: debugger::Link,
) -> Result<Reply, CmdError> {
    let mode = x.client().ldb;
    let busy_ms = busy_reply_threshold(x);
    let session = debugger::Session::new(link, &a[1], busy_ms);
    tracing::warn!(
        "Redis {} debugging eval session started",
        if mode == debugger::Mode::Sync {
            "synchronous"
        } else {
            "asynchronous (writes discarded)"
        }
    );
    if mode == debugger::Mode::Async {
        x.ldb_undo = Some(Box::default());
    }
    let reply = (|| {
        numkeys(a)?;
        let sha = load(&mut x.st.scripts, &a[1])?;
        run(x, &sha, a, readonly, Some(&session))
    })();
    if let Some(u) = x.ldb_undo.take() {
        u.restore(x);
    }
    debugger::Session::end(&session);
    tracing::warn!("Redis debugging eval session ended");
    let c = x.client();
    c.close_after_reply = true;
    c.ldb = debugger::Mode::Off;
    reply
}

/// `busy-reply-threshold` in ms (the debugger stops a script that runs this long).
fn busy_reply_threshold(x: &Exec<'_>) -> u64 {
    x.st.config
        .get("busy-reply-threshold")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

fn evalsha_generic(x: &mut Exec<'_>, a: &[Bytes], readonly: bool) -> Result<Reply, CmdError> {
    let noscript = || CmdError::Raw("NOSCRIPT No matching script. Please use EVAL.".into());
    // Redis answers a SHA1 of the wrong length before it reads numkeys.
    if a[1].len() != 40 {
        return Err(noscript());
    }
    if x.caller == super::Caller::Client && x.client().ldb != debugger::Mode::Off {
        return Err(CmdError::err(
            "Please use EVAL instead of EVALSHA for debugging",
        ));
    }
    numkeys(a)?;
    let sha = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    if sha.len() != 40 || !x.st.scripts.exists(sha.as_bytes()) {
        return Err(noscript());
    }
    run(x, &sha, a, readonly, None)
}

fn eval(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    eval_generic(x, a, false)
}

fn eval_ro(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    eval_generic(x, a, true)
}

fn evalsha(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    evalsha_generic(x, a, false)
}

fn evalsha_ro(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    evalsha_generic(x, a, true)
}

fn script_load(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let sha = load(&mut x.st.scripts, &a[2])?;
    Ok(Reply::bulk_string(sha))
}

fn script_exists(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|s| Reply::Int(i64::from(x.st.scripts.exists(s))))
            .collect(),
    ))
}

fn script_flush(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 3 || (a.len() == 3 && !is(&a[2], "sync") && !is(&a[2], "async")) {
        return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    x.st.scripts.flush();
    Ok(Reply::ok())
}

fn script_kill(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    // Under the engine lock no script is running (a running script holds the lock); a
    // connection that wants to kill one calls `script::request_kill` without the lock.
    match crate::script::request_kill() {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => Err(CmdError::Raw(e.text().into())),
    }
}

/// SCRIPT DEBUG YES|SYNC|NO: the client's next EVAL starts a Lua debugging session
/// (`script::debugger`). Refused behind replies not yet sent (later in a pipeline, inside
/// EXEC), as Redis refuses it.
fn script_debug(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if x.in_exec || x.client().replies_pending {
        return Err(CmdError::err(
            "SCRIPT DEBUG must be called outside a pipeline",
        ));
    }
    let mode = if is(&a[2], "no") {
        debugger::Mode::Off
    } else if is(&a[2], "yes") {
        debugger::Mode::Async
    } else if is(&a[2], "sync") {
        debugger::Mode::Sync
    } else {
        return Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO"));
    };
    x.client().ldb = mode;
    Ok(Reply::ok())
}

fn script_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let lines = [
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        lines.iter().map(|l| Reply::Simple((*l).into())).collect(),
    ))
}

pub(super) mod undo;

#[cfg(test)]
mod tests;
