//! The Lua 5.1 VM scripts run in (mlua, vendored): the sandbox Redis 7.0 builds (no
//! `io`/`os`/`debug`/`dofile`/`loadfile`/`print`; globals and library tables read-only;
//! reading a missing global is an error), the `redis` library (`call`, `pcall`,
//! `error_reply`, `status_reply`, `sha1hex`, `log`, `setresp`, `set_repl`, …), the Lua ↔
//! `Reply` conversions in both protocol versions, and the error texts of Redis 7.0
//! (`… script: <sha>, on @user_script:<line>.`). It never sees commands: `redis.call`
//! goes through the `Host` the caller passes in.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mlua::{ChunkMode, Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, Variadic};

use super::convert::{arg_bytes, lua_to_reply, map_crlf, normalize_error, reply_to_lua};
use super::libs::{self, fmt_g, Rand48};
use super::{debugger, Host};
use crate::resp::Reply;

/// Internal Lua code run once when the VM is created (with full privileges). It builds
/// the read-only environment user scripts run in and the Lua half of the `redis` library.
const BOOTSTRAP: &str = r#"
local lib, hooks, redis, rust = ...
local error, type, tostring, tonumber, select, setmetatable, rawset, setfenv, loadstring =
      error, type, tostring, tonumber, select, setmetatable, rawset, setfenv, loadstring
local concat = table.concat
local protected = setmetatable({}, {__mode = "k"})
local function readonly_error() error("Attempt to modify a readonly table", 2) end
local function ro(t)
  local p = setmetatable({}, {__index = t, __newindex = readonly_error, __metatable = false})
  protected[p] = true
  return p
end
local function raise(msg) error({err = "ERR " .. msg}) end

redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return {err = "ERR wrong number or type of arguments"}
  end
  return {err = rust.normalize_error(e)}
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return {err = "ERR wrong number or type of arguments"}
  end
  return {ok = s}
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3

-- The user environment: library tables behind read-only proxies, globals read-only,
-- and reading a missing global is an error (Redis 7.0's protected globals).
local env = {}
local g = {}
for _, name in ipairs({"assert", "collectgarbage", "error", "gcinfo", "getmetatable",
    "ipairs", "next", "pairs", "rawequal", "rawget", "select", "setmetatable",
    "tonumber", "tostring", "type", "unpack", "xpcall", "_VERSION"}) do
  g[name] = _G[name]
end
for _, name in ipairs({"string", "table", "math", "coroutine", "bit", "cjson", "cmsgpack", "struct"}) do
  g[name] = ro(lib[name])
end
g.redis = ro(redis)
g._G = env
g.rawset = rust.rawset
-- Redis 7.0 makes the globals table and its metatable read-only tables: changing either
-- is "Attempt to modify a readonly table".
g.setmetatable = function(t, mt)
  if protected[t] then error("Attempt to modify a readonly table", 0) end
  return setmetatable(t, mt)
end
local function pcall_result(ok, ...)
  if ok then return true, ... end
  local e = ...
  if hooks.pending ~= nil and type(e) == 'userdata' then
    e = hooks.pending
    hooks.pending = nil
  end
  if type(e) == 'table' then
    local m = rawget(e, 'err')
    if type(m) == 'string' or type(m) == 'number' then e = m end
  end
  return false, e
end
g.pcall = function(...) return pcall_result(pcall(...)) end
g.xpcall = function(f, h)
  return xpcall(f, function(e)
    if hooks.pending ~= nil and type(e) == 'userdata' then
      e = hooks.pending
      hooks.pending = nil
    end
    return h(e)
  end)
end
local function sandboxed_load(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then
    return nil, "attempt to load a binary chunk"
  end
  local f, e = loadstring(s, name)
  if f then setfenv(f, env) end
  return f, e
end
g.loadstring = sandboxed_load
g.load = function(f, name)
  if type(f) == 'string' then return sandboxed_load(f, name) end
  local parts = {}
  while true do
    local piece = f()
    if piece == nil or piece == "" then break end
    parts[#parts + 1] = piece
  end
  return sandboxed_load(concat(parts), name)
end
setmetatable(g, {__index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})
local env_mt = {__index = g, __newindex = readonly_error}
env_mt.__metatable = ro(env_mt)
setmetatable(env, env_mt)
protected[env] = true
protected[g] = true
hooks.resp = 2
hooks.protected = protected

-- What a function library sees while FUNCTION LOAD runs its body (Redis's library API):
-- `redis` with register_function, log, the LOG_ levels and the version, nothing else; any
-- other global or redis field is an error. The env metatable's __index points here
-- during the load only, so the library's callbacks later see the normal globals.
local function missing(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local load_inner = setmetatable({}, {__index = missing, __metatable = false})
for _, k in ipairs({"log", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING",
    "REDIS_VERSION", "REDIS_VERSION_NUM"}) do
  rawset(load_inner, k, redis[k])
end
rawset(load_inner, "register_function", rust.register_function)
local load_redis = setmetatable({}, {__index = load_inner, __newindex = readonly_error, __metatable = false})
protected[load_redis] = true
local load_api = setmetatable({redis = load_redis}, {__index = missing, __metatable = false})

local xpcall = xpcall
-- The runners keep the first result alone, as Redis's lua_pcall(…, 1, …): a script that
-- returns thousands of values must not make Rust hold a reference to each (nor leave
-- xpcall no stack room for its status). The script is called as `pick(f)()`: a call's
-- result has no name, so the debugger sees the top level, as when C calls the script.
local function pick(f) return f end
return env, g, function(f, h) return xpcall(function() return (pick(f)()) end, h) end,
  env_mt, load_api,
  function(f, h, k, a) return xpcall(function() return (pick(f)(k, a)) end, h) end
"#;

/// Name of the chunk user scripts are compiled as (errors read `user_script:<line>:`).
const CHUNK: &str = "@user_script";

/// The message an aborted script reports (SCRIPT KILL).
const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// Name of the chunk function libraries are compiled as (`user_function:<line>:`).
const FUNCTION_CHUNK: &str = "@user_function";

/// Registry name of the running script's `Host::serve_waiting`, called from the hook.
const DESK: &str = "strata.desk";

/// Instructions between two runs of the kill / timeout hook.
const HOOK_EVERY: u32 = 100_000;

/// The instruction hook: SCRIPT KILL / FUNCTION KILL and FUNCTION LOAD's deadline. Once
/// a kill is requested the hook fires on every instruction and raises each time, as
/// Redis switches its hook to every line: a script that catches the error with pcall
/// gets it again at its next instruction outside the pcall, so it cannot go on.
/// `armed` is set while the hook runs on every instruction (the VM resets it before its
/// next run).
fn install_hook(
    lua: &Lua,
    deadline: Arc<std::sync::Mutex<Option<Instant>>>,
    armed: Arc<std::sync::atomic::AtomicBool>,
    every: u32,
) {
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(every),
        move |lua, debug| {
            if super::KILL_REQUESTED.load(Ordering::Acquire) {
                if !armed.swap(true, Ordering::AcqRel) {
                    install_hook(lua, deadline.clone(), armed.clone(), 1);
                } else if debug
                    .source()
                    .source
                    .is_some_and(|s| s.starts_with("=strata"))
                {
                    // strata's own runner (after the script's error): let it finish.
                    return Ok(mlua::VmState::Continue);
                }
                return Err(rt(KILLED));
            }
            let late = deadline
                .lock()
                .map(|d| d.is_some_and(|d| Instant::now() > d))
                .unwrap_or(false);
            if late {
                return Err(rt("FUNCTION LOAD timeout"));
            }
            // Other clients' commands that may run while a script is busy, taken here too
            // (not only at `redis.call`), so a script that loops without calling Redis still
            // serves them, as Redis serves its events from the same hook.
            if let Ok(Some(desk)) = lua.named_registry_value::<Option<Function>>(DESK) {
                let _ = desk.call::<()>(());
            }
            Ok(mlua::VmState::Continue)
        },
    );
}

/// One Lua VM with the Redis sandbox and the compiled scripts.
pub struct Vm {
    lua: Lua,
    hooks: Table,
    env: Table,
    globals: Table,
    runner: Function,
    handler: Function,
    /// The compiled scripts, by SHA-1: a Lua table, not a Rust map of `Function`s, as each
    /// `Function` held in Rust takes a slot of mlua's reference stack (about 8000 in all),
    /// and a script cache can hold far more scripts than that.
    fns: Table,
    /// The registered library functions' callbacks, by the id `keep_callback` gave (a Lua
    /// table for the same reason as `fns`).
    callbacks: Table,
    next_callback: i64,
    redis: Table,
    /// The user environment's metatable (its `__index` is swapped during FUNCTION LOAD).
    env_mt: Table,
    /// The globals a library body sees while it loads.
    load_api: Table,
    /// Calls `f(keys, args)` under the message handler (functions).
    fn_runner: Function,
    /// FUNCTION LOAD's deadline, checked by the instruction hook.
    load_deadline: Arc<std::sync::Mutex<Option<Instant>>>,
    /// Set while a kill has the hook running on every instruction.
    kill_armed: Arc<std::sync::atomic::AtomicBool>,
}

/// A function a library registered while loading (`redis.register_function`).
pub struct Registered {
    /// Its name, as given.
    pub name: String,
    /// Its description, if given.
    pub description: Option<Bytes>,
    /// Its flags (`FLAG_*` bits).
    pub flags: u32,
    /// The callback's id (`Vm::keep_callback`; `Vm::drop_callback` if it is not kept).
    pub callback: i64,
}

/// The script flags Redis 7.0 knows, in the order FUNCTION LIST reports them.
pub const FLAG_NAMES: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];
/// `no-writes` as a bit of `Registered::flags` (bit i = `FLAG_NAMES[i]`).
pub const FLAG_NO_WRITES: u32 = 1;
/// `allow-oom` as a bit of `Registered::flags`.
pub const FLAG_ALLOW_OOM: u32 = 2;
/// `allow-stale` as a bit of `Registered::flags`.
pub const FLAG_ALLOW_STALE: u32 = 4;

/// Redis's rule for library and function names: `[A-Za-z0-9_]+`.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// The innermost message of an mlua error (for the debugger's `eval`).
pub(super) fn error_text(e: &mlua::Error) -> String {
    error_message(e)
}

/// The innermost message of an mlua error (a Rust callback's own text).
fn error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::RuntimeError(s) => s
            .split_once("\nstack traceback:")
            .map_or(s.as_str(), |(m, _)| m)
            .to_string(),
        mlua::Error::MemoryError(s) => s.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl Vm {
    /// Bytes the Lua VM holds (INFO `used_memory_lua`, `used_memory_vm_*`).
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Create the VM with the sandbox and libraries installed.
    pub fn new() -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let g = lua.globals();
        for name in [
            "dofile", "loadfile", "print", "require", "module", "newproxy",
        ] {
            g.raw_set(name, Value::Nil)?;
        }
        let lib = lua.create_table()?;
        for name in ["string", "table", "math", "coroutine"] {
            lib.raw_set(name, g.raw_get::<Value>(name)?)?;
        }
        let math: Table = g.raw_get("math")?;
        let seed = i32::try_from(std::process::id() % 65_536).unwrap_or(0);
        libs::install_random(&lua, &math, Arc::new(Rand48::new(seed)))?;
        lib.raw_set("bit", libs::bit_table(&lua)?)?;
        lib.raw_set("cjson", libs::cjson_table(&lua)?)?;
        lib.raw_set("cmsgpack", super::packlibs::cmsgpack_table(&lua)?)?;
        lib.raw_set("struct", super::packlibs::struct_table(&lua)?)?;
        let hooks = lua.create_table()?;
        let redis = lua.create_table()?;
        redis.raw_set("REDIS_VERSION", crate::REDIS_VERSION)?;
        redis.raw_set("REDIS_VERSION_NUM", 0x07_00_0f)?;
        let rust = lua.create_table()?;
        rust.raw_set(
            "normalize_error",
            lua.create_function(|_, s: mlua::String| {
                let s = String::from_utf8_lossy(super::convert::c_str(&s.as_bytes())).into_owned();
                let dashed = if s.starts_with('-') {
                    s
                } else {
                    format!("-{s}")
                };
                Ok(normalize_error(&dashed))
            })?,
        )?;
        install_raising(&lua, &redis, &rust, &hooks)?;
        rust.raw_set("register_function", register_function(&lua, &hooks)?)?;
        #[allow(clippy::type_complexity)]
        let (env, globals, runner, env_mt, load_api, fn_runner): (
            Table,
            Table,
            Function,
            Table,
            Table,
            Function,
        ) = lua.load(BOOTSTRAP).set_name("=strata").call((
            lib,
            hooks.clone(),
            redis.clone(),
            rust,
        ))?;
        lua.set_named_registry_value("strata.hooks", hooks.clone())?;
        let handler = lua.create_function(error_handler)?;
        let load_deadline: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let kill_armed: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        install_hook(&lua, load_deadline.clone(), kill_armed.clone(), HOOK_EVERY);
        let fns = lua.create_table()?;
        let callbacks = lua.create_table()?;
        Ok(Vm {
            callbacks,
            next_callback: 0,
            lua,
            hooks,
            env,
            globals,
            runner,
            handler,
            fns,
            redis,
            env_mt,
            load_api,
            fn_runner,
            load_deadline,
            kill_armed,
        })
    }

    /// Run a library body (the code after its `#!lua` line) in the load sandbox and return
    /// the functions it registered. `timeout`: FUNCTION LOAD's limit (None on replay).
    /// The error is the reply text (`ERR Error compiling function: …`, `ERR Error
    /// registering functions: …`).
    pub fn load_library(
        &mut self,
        code: &[u8],
        timeout: Option<std::time::Duration>,
    ) -> Result<Vec<Registered>, String> {
        #[cfg(test)]
        super::test_lock::assert_held();
        let f = self
            .lua
            .load(code)
            .set_name(FUNCTION_CHUNK)
            .set_mode(ChunkMode::Text)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", error_message(&e)))?;
        let list = self.lua.create_table().map_err(|e| format!("ERR {e}"))?;
        let set = |t: &Table, k: &str, v: Value| t.raw_set(k, v).map_err(|e| format!("ERR {e}"));
        set(&self.hooks, "loading", Value::Table(list.clone()))?;
        let names = self.lua.create_table().map_err(|e| format!("ERR {e}"))?;
        set(&self.hooks, "loading_names", Value::Table(names))?;
        set(&self.hooks, "pending", Value::Nil)?;
        set(&self.env_mt, "__index", Value::Table(self.load_api.clone()))?;
        if let Ok(mut d) = self.load_deadline.lock() {
            *d = timeout.map(|t| Instant::now() + t);
        }
        let r = f.call::<()>(());
        if let Ok(mut d) = self.load_deadline.lock() {
            *d = None;
        }
        set(&self.env_mt, "__index", Value::Table(self.globals.clone()))?;
        set(&self.hooks, "loading", Value::Nil)?;
        set(&self.hooks, "loading_names", Value::Nil)?;
        if let Err(e) = r {
            let pending = self
                .hooks
                .raw_get::<Option<Table>>("pending")
                .ok()
                .flatten();
            set(&self.hooks, "pending", Value::Nil)?;
            let msg = match pending
                .and_then(|t| t.raw_get::<Option<mlua::String>>("err").ok().flatten())
            {
                Some(m) => m.to_string_lossy(),
                None => format!("ERR {}", error_message(&e)),
            };
            return Err(format!("ERR Error registering functions: {msg}"));
        }
        let mut out = Vec::new();
        for t in list.sequence_values::<Table>() {
            let t = t.map_err(|e| format!("ERR {e}"))?;
            let get = |k: &str| t.raw_get::<Value>(k).map_err(|e| format!("ERR {e}"));
            let name = match get("name")? {
                Value::String(s) => s.to_string_lossy(),
                _ => continue,
            };
            let description = match get("desc")? {
                Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
                _ => None,
            };
            let flags = match get("flags")? {
                Value::Integer(n) => u32::try_from(n).unwrap_or(0),
                _ => 0,
            };
            let Value::Function(f) = get("cb")? else {
                continue;
            };
            // Kept in the VM at once: thousands of functions must not each hold a handle.
            let callback = self.keep_callback(f)?;
            out.push(Registered {
                name,
                description,
                flags,
                callback,
            });
        }
        Ok(out)
    }

    /// Run a library function: `f(keys, args)` (functions get no KEYS/ARGV globals);
    /// `redis.call` goes to `host`. Errors name the function (`script: <name>, on
    /// @user_function:<line>.`).
    pub fn call_function(
        &mut self,
        callback: i64,
        name: &str,
        keys: &[Bytes],
        args: &[Bytes],
        host: &mut dyn Host,
    ) -> Reply {
        let Ok(Some(f)) = self.callbacks.raw_get::<Option<Function>>(callback) else {
            return Reply::Error("ERR Function not found".into());
        };
        match self.run_inner(f, Target::Function(name), keys, args, host, None) {
            Ok(r) => r,
            Err(e) => Reply::Error(format!(
                "ERR Error running script {name}, {}",
                error_message(&e).replace(['\r', '\n'], " ")
            )),
        }
    }

    /// Keep a registered function's callback in the VM; the id calls it
    /// (`call_function`) and forgets it (`drop_callback`).
    pub fn keep_callback(&mut self, f: Function) -> Result<i64, String> {
        self.next_callback += 1;
        self.callbacks
            .raw_set(self.next_callback, f)
            .map_err(|e| format!("ERR {e}"))?;
        Ok(self.next_callback)
    }

    /// Forget a callback `keep_callback` kept (its library was deleted or replaced).
    pub fn drop_callback(&mut self, id: i64) {
        let _ = self.callbacks.raw_set(id, Value::Nil);
    }

    /// Compile `body` as script `sha` (no-op if already compiled). The error is Redis's
    /// `Error compiling script` reply text.
    pub fn compile(&mut self, sha: &str, body: &[u8]) -> Result<(), String> {
        if matches!(self.fns.raw_get::<Value>(sha), Ok(Value::Function(_))) {
            return Ok(());
        }
        let f = self
            .lua
            .load(body)
            .set_name(CHUNK)
            .set_mode(ChunkMode::Text)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    error_message(&e).replace(['\r', '\n'], " ")
                )
            })?;
        self.fns
            .raw_set(sha, f)
            .map_err(|e| format!("ERR Error compiling script (new function): {e}"))
    }

    /// Forget every compiled script and collect garbage (SCRIPT FLUSH).
    pub fn flush(&mut self) {
        if let Ok(t) = self.lua.create_table() {
            self.fns = t;
        }
        let _ = self.lua.gc_collect();
    }

    /// Run the compiled script `sha` with `KEYS`/`ARGV`; `redis.call` goes to `host`.
    pub fn run(&mut self, sha: &str, keys: &[Bytes], args: &[Bytes], host: &mut dyn Host) -> Reply {
        self.run_script(sha, keys, args, host, None)
    }

    /// [`Vm::run`] under the Lua debugger: the line hook stops the script as `session`
    /// says (stepping, breakpoints, `redis.breakpoint()`), `redis.call`s are logged while
    /// stepping and `redis.debug()` logs. The kill / timeout hook is off meanwhile (the
    /// session has its own timeout stop) and comes back afterwards.
    pub fn run_debug(
        &mut self,
        sha: &str,
        keys: &[Bytes],
        args: &[Bytes],
        host: &mut dyn Host,
        session: &debugger::Shared,
    ) -> Reply {
        let ctx = debugger::LuaCtx {
            env: self.env.clone(),
            globals: self.globals.clone(),
            redis: self.redis.clone(),
            hooks: self.hooks.clone(),
        };
        let s = session.clone();
        self.lua.set_hook(
            HookTriggers::new()
                .every_line()
                .every_nth_instruction(HOOK_EVERY),
            move |lua, debug| {
                let line = i64::from(debug.curr_line());
                let in_script = debug
                    .source()
                    .short_src
                    .is_some_and(|src| src.contains("user_script"));
                let count = matches!(debug.event(), mlua::DebugEvent::Count);
                match debugger::on_hook(&s, lua, &ctx, line, in_script, count) {
                    Ok(()) => Ok(mlua::VmState::Continue),
                    Err(msg) => raise(&ctx.hooks, lua, &format!("ERR {msg}")),
                }
            },
        );
        let saved: Vec<(&str, Value)> = ["debug", "breakpoint"]
            .into_iter()
            .map(|k| (k, self.redis.raw_get::<Value>(k).unwrap_or(Value::Nil)))
            .collect();
        let s = session.clone();
        let debug = self.lua.create_function(move |_, a: Variadic<Value>| {
            debugger::Session::lock(&s).log_debug(&a);
            Ok(())
        });
        let s = session.clone();
        let breakpoint = self.lua.create_function(move |_, ()| {
            debugger::Session::lock(&s).breakpoint();
            Ok(true)
        });
        if let (Ok(d), Ok(b)) = (debug, breakpoint) {
            let _ = self.redis.raw_set("debug", d);
            let _ = self.redis.raw_set("breakpoint", b);
        }
        let r = self.run_script(sha, keys, args, host, Some(session));
        for (k, v) in saved {
            let _ = self.redis.raw_set(k, v);
        }
        self.kill_armed.store(false, Ordering::Release);
        install_hook(
            &self.lua,
            self.load_deadline.clone(),
            self.kill_armed.clone(),
            HOOK_EVERY,
        );
        r
    }

    fn run_script(
        &mut self,
        sha: &str,
        keys: &[Bytes],
        args: &[Bytes],
        host: &mut dyn Host,
        ldb: Option<&debugger::Shared>,
    ) -> Reply {
        let Ok(Some(f)) = self.fns.raw_get::<Option<Function>>(sha) else {
            return Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into());
        };
        match self.run_inner(f, Target::Script(sha), keys, args, host, ldb) {
            Ok(r) => r,
            Err(e) => Reply::Error(format!(
                "ERR Error running script (call to f_{sha}): @user_script: {}",
                error_message(&e).replace(['\r', '\n'], " ")
            )),
        }
    }

    fn run_inner(
        &mut self,
        f: Function,
        target: Target<'_>,
        keys: &[Bytes],
        args: &[Bytes],
        host: &mut dyn Host,
        ldb: Option<&debugger::Shared>,
    ) -> mlua::Result<Reply> {
        #[cfg(test)]
        super::test_lock::assert_held();
        if ldb.is_none() && self.kill_armed.swap(false, Ordering::AcqRel) {
            // The previous script was killed: back to the sparse hook.
            install_hook(
                &self.lua,
                self.load_deadline.clone(),
                self.kill_armed.clone(),
                HOOK_EVERY,
            );
        }
        let lua = &self.lua;
        let list = |items: &[Bytes]| -> mlua::Result<Table> {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(it)?)?;
            }
            Ok(t)
        };
        let (keys_t, args_t) = (list(keys)?, list(args)?);
        if let Target::Script(_) = target {
            self.globals.raw_set("KEYS", keys_t.clone())?;
            self.globals.raw_set("ARGV", args_t.clone())?;
        }
        self.hooks.raw_set("resp", 2)?;
        let hooks = self.hooks.clone();
        let host_cell = std::cell::RefCell::new(host);
        self.hooks.raw_set("pending", Value::Nil)?;
        let redis = self.redis.clone();
        let do_call = |lua: &Lua, a: Variadic<Value>, raising: bool| -> mlua::Result<Value> {
            let resp = if hooks.raw_get::<i64>("resp").unwrap_or(2) == 3 {
                3
            } else {
                2
            };
            // While a debugger steps, calls, their replies and errors are logged.
            let logging = ldb
                .map(debugger::Session::lock)
                .filter(|s| s.logging())
                .is_some();
            let log = |f: &dyn Fn(&mut debugger::Session)| {
                if let Some(s) = ldb.filter(|_| logging) {
                    f(&mut debugger::Session::lock(s));
                }
            };
            let fail = |msg: &str| -> mlua::Result<Value> {
                log(&|s| s.log_error(msg.strip_prefix("ERR ").unwrap_or(msg)));
                if raising {
                    return raise(&hooks, lua, msg);
                }
                let t = lua.create_table()?;
                t.raw_set("err", msg)?;
                Ok(Value::Table(t))
            };
            if a.is_empty() {
                return fail("ERR Please specify at least one argument for this redis lib call");
            }
            let mut argv = Vec::with_capacity(a.len());
            for v in a.iter() {
                match arg_bytes(v) {
                    Some(b) => argv.push(b),
                    None => {
                        return fail(
                            "ERR Lua redis lib command arguments must be strings or integers",
                        )
                    }
                }
            }
            log(&|s| s.log_command(&argv));
            let (reply, rejected) = {
                let mut host = host_cell
                    .try_borrow_mut()
                    .map_err(|_| mlua::Error::RecursiveMutCallback)?;
                let reply = host.call(&argv, resp);
                (reply, host.rejected())
            };
            match &reply {
                // Refused before it ran: Redis logs the refusal alone.
                Reply::Error(e) if rejected => {
                    log(&|s| s.log_error(e.strip_prefix("ERR ").unwrap_or(e)));
                }
                Reply::Error(e) => log(&|s| {
                    s.log_error(&format!("-{e}"));
                    s.log_reply(&reply, resp);
                }),
                _ => log(&|s| s.log_reply(&reply, resp)),
            }
            if let (Reply::Error(e), true) = (&reply, raising) {
                return raise(&hooks, lua, &normalize_error(e));
            }
            reply_to_lua(lua, &reply, resp)
        };
        let out = lua.scope(|scope| {
            let call = scope.create_function(|lua, a: Variadic<Value>| do_call(lua, a, true))?;
            let pcall = scope.create_function(|lua, a: Variadic<Value>| do_call(lua, a, false))?;
            // redis.acl_check_cmd: a Rust function, so its errors point at the script's line.
            let acl_check =
                scope.create_function(|lua, a: Variadic<Value>| {
                    if a.is_empty() {
                        return raise(
                            &hooks,
                            lua,
                            "ERR Please specify at least one argument for this redis lib call",
                        );
                    }
                    let mut argv = Vec::with_capacity(a.len());
                    for v in a.iter() {
                        match arg_bytes(v) {
                            Some(b) => argv.push(b),
                            None => return raise(
                                &hooks,
                                lua,
                                "ERR Lua redis lib command arguments must be strings or integers",
                            ),
                        }
                    }
                    let verdict = host_cell
                        .try_borrow_mut()
                        .map_err(|_| mlua::Error::RecursiveMutCallback)?
                        .acl_check(&argv);
                    match verdict {
                        Some(ok) => Ok(Value::Boolean(ok)),
                        None => raise(
                            &hooks,
                            lua,
                            "ERR Invalid command passed to redis.acl_check_cmd()",
                        ),
                    }
                })?;
            let desk = scope.create_function(|_, ()| {
                if let Ok(mut host) = host_cell.try_borrow_mut() {
                    host.serve_waiting();
                }
                Ok(())
            })?;
            redis.raw_set("call", call)?;
            redis.raw_set("pcall", pcall)?;
            redis.raw_set("acl_check_cmd", acl_check)?;
            lua.set_named_registry_value(DESK, desk)?;
            let r = match target {
                Target::Script(_) => self
                    .runner
                    .call::<mlua::MultiValue>((f, self.handler.clone())),
                Target::Function(_) => self.fn_runner.call::<mlua::MultiValue>((
                    f,
                    self.handler.clone(),
                    keys_t,
                    args_t,
                )),
            };
            redis.raw_set("call", Value::Nil)?;
            redis.raw_set("pcall", Value::Nil)?;
            redis.raw_set("acl_check_cmd", Value::Nil)?;
            lua.unset_named_registry_value(DESK)?;
            r
        })?;
        let resp: u8 = if self.hooks.raw_get::<i64>("resp").unwrap_or(2) == 3 {
            3
        } else {
            2
        };
        let mut it = out.into_iter();
        let ok = matches!(it.next(), Some(Value::Boolean(true)));
        let value = it.next().unwrap_or(Value::Nil);
        if ok {
            return Ok(lua_to_reply(&value, resp, 0));
        }
        let label = match target {
            Target::Script(sha) | Target::Function(sha) => sha,
        };
        Ok(script_error(&value, label))
    }
}

/// What `run_inner` runs: an EVAL script (by SHA-1) or a library function (by name).
#[derive(Clone, Copy)]
enum Target<'s> {
    Script(&'s str),
    Function(&'s str),
}

/// `redis.register_function` (positional `(name, callback)` or named `{function_name=,
/// callback=, flags=, description=}`), with Redis 7.0's checks and error texts. Only
/// callable while FUNCTION LOAD runs a library body: it appends to `hooks.loading`.
fn register_function(lua: &Lua, hooks: &Table) -> mlua::Result<Function> {
    let h = hooks.clone();
    lua.create_function(move |lua, a: Variadic<Value>| {
        let fail = |msg: &str| -> mlua::Result<()> { raise(&h, lua, &format!("ERR {msg}")) };
        let Some(list) = h.raw_get::<Option<Table>>("loading")? else {
            return fail("redis.register_function can only be called on FUNCTION LOAD command");
        };
        if a.is_empty() || a.len() > 2 {
            return fail("wrong number of arguments to redis.register_function");
        }
        let as_string = |v: &Value| -> Option<String> {
            match v {
                Value::String(s) => Some(s.to_string_lossy()),
                Value::Integer(n) => Some(fmt_g(*n as f64, 14)),
                Value::Number(n) => Some(fmt_g(*n, 14)),
                _ => None,
            }
        };
        let mut name = None;
        let mut desc = None;
        let mut cb = None;
        let mut flags = 0u32;
        if a.len() == 1 {
            let Value::Table(t) = &a[0] else {
                return fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
            };
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let Some(key) = as_string(&k) else {
                    return fail("named argument key given to redis.register_function is not a string");
                };
                if key.eq_ignore_ascii_case("function_name") {
                    let Some(n) = as_string(&v) else {
                        return fail("function_name argument given to redis.register_function must be a string");
                    };
                    name = Some(n);
                } else if key.eq_ignore_ascii_case("description") {
                    match &v {
                        Value::String(s) => desc = Some(lua.create_string(s.as_bytes())?),
                        Value::Integer(_) | Value::Number(_) => {
                            desc = as_string(&v).map(|s| lua.create_string(s)).transpose()?
                        }
                        _ => {
                            return fail("description argument given to redis.register_function must be a string")
                        }
                    }
                } else if key.eq_ignore_ascii_case("callback") {
                    let Value::Function(f) = v else {
                        return fail("callback argument given to redis.register_function must be a function");
                    };
                    cb = Some(f);
                } else if key.eq_ignore_ascii_case("flags") {
                    let Value::Table(ft) = v else {
                        return fail("flags argument to redis.register_function must be a table representing function flags");
                    };
                    let mut i = 1;
                    loop {
                        let fv: Value = ft.get(i)?;
                        if fv.is_nil() {
                            break;
                        }
                        let known = as_string(&fv).and_then(|s| {
                            FLAG_NAMES.iter().position(|f| f.eq_ignore_ascii_case(&s))
                        });
                        let Some(bit) = known else {
                            return fail("unknown flag given");
                        };
                        flags |= 1 << bit;
                        i += 1;
                    }
                } else {
                    return fail("unknown argument given to redis.register_function");
                }
            }
            if name.is_none() {
                return fail("redis.register_function must get a function name argument");
            }
            if cb.is_none() {
                return fail("redis.register_function must get a callback argument");
            }
        } else {
            let Some(n) = as_string(&a[0]) else {
                return fail("first argument to redis.register_function must be a string");
            };
            let Value::Function(f) = &a[1] else {
                return fail("second argument to redis.register_function must be a function");
            };
            name = Some(n);
            cb = Some(f.clone());
        }
        let name = name.unwrap_or_default();
        if !valid_name(name.as_bytes()) {
            return fail("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
        }
        // (The names registered so far, as a set: a library of thousands of functions
        // loads in linear time.)
        if let Some(names) = h.raw_get::<Option<Table>>("loading_names")? {
            if names.raw_get::<bool>(name.as_str())? {
                return fail("Function already exists in the library");
            }
            names.raw_set(name.as_str(), true)?;
        }
        let e = lua.create_table()?;
        e.raw_set("name", name)?;
        e.raw_set("desc", desc)?;
        e.raw_set("flags", flags)?;
        e.raw_set("cb", cb)?;
        list.raw_push(e)?;
        Ok(())
    })
}

/// The error of a library function written in Rust (see `libs::lib_function`), raised as
/// a C library function raises it with `luaL_error`: a string, `<chunk>:<line>: ` of the
/// calling line first when a Lua function called it, nothing when a C function did
/// (`pcall(cjson.decode, s)`, whose "bad argument" messages then name the function `?`).
/// mlua raises a Rust error as a userdata, so the string is parked in `hooks.pending`,
/// where the sandbox's `pcall`/`xpcall` and the message handler pick it up.
pub(super) fn lib_error(lua: &Lua, e: &mlua::Error) -> mlua::Error {
    let mut msg = error_message(e);
    let mut text = msg.clone();
    // Level 0 is the running Rust function; level 1 called it.
    if let Some(d) = lua.inspect_stack(1) {
        let src = d.source();
        if src.what == "C" {
            if let Some((n, after)) = msg
                .strip_prefix("bad argument #")
                .and_then(|rest| rest.split_once(" to '"))
            {
                if let Some((_, tail)) = after.split_once('\'') {
                    msg = format!("bad argument #{n} to '?'{tail}");
                    text = msg.clone();
                }
            }
        } else if d.curr_line() > 0 {
            let short = src.short_src.as_deref().unwrap_or("?");
            text = format!("{short}:{}: {msg}", d.curr_line());
        }
    }
    if let Ok(h) = lua.named_registry_value::<Table>("strata.hooks") {
        let _ = h.raw_set("pending", text);
    }
    rt(msg)
}

/// Raise `{err = msg}` from a Rust function: the table is parked in `hooks.pending`, where
/// the message handler and the sandbox's `pcall` pick it up (mlua raises Rust errors as
/// userdata, and Redis scripts expect the table).
fn raise<T>(hooks: &Table, lua: &Lua, msg: &str) -> mlua::Result<T> {
    let t = lua.create_table()?;
    t.raw_set("err", msg)?;
    hooks.raw_set("pending", t)?;
    Err(rt(msg))
}

/// The `redis` functions that raise errors, as Rust (C) functions: a Lua wrapper called
/// as `return redis.x(...)` would be a tail call and lose the script's line number.
fn install_raising(lua: &Lua, redis: &Table, rust: &Table, hooks: &Table) -> mlua::Result<()> {
    let h = hooks.clone();
    redis.raw_set(
        "sha1hex",
        lua.create_function(move |lua, a: Variadic<Value>| {
            if a.len() != 1 {
                return raise(&h, lua, "ERR wrong number of arguments");
            }
            let bytes = match &a[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(n) => fmt_g(*n as f64, 14).into_bytes(),
                Value::Number(n) => fmt_g(*n, 14).into_bytes(),
                _ => Vec::new(),
            };
            Ok(super::sha1::sha1_hex(&bytes))
        })?,
    )?;
    let h = hooks.clone();
    redis.raw_set(
        "log",
        lua.create_function(move |lua, a: Variadic<Value>| {
            if a.len() < 2 {
                return raise(&h, lua, "ERR redis.log() requires two arguments or more.");
            }
            let Some(level) = lua.coerce_number(a[0].clone())? else {
                return raise(&h, lua, "ERR First argument must be a number (log level).");
            };
            if !(0.0..=3.0).contains(&level) {
                return raise(&h, lua, "ERR Invalid debug level.");
            }
            let parts: Vec<String> = a[1..]
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.to_string_lossy()),
                    Value::Integer(n) => Some(fmt_g(*n as f64, 14)),
                    Value::Number(n) => Some(fmt_g(*n, 14)),
                    _ => None,
                })
                .collect();
            let msg = parts.join(" ");
            match level as i64 {
                0 => tracing::debug!(target: "script", "{msg}"),
                1 | 2 => tracing::info!(target: "script", "{msg}"),
                _ => tracing::warn!(target: "script", "{msg}"),
            }
            Ok(())
        })?,
    )?;
    let h = hooks.clone();
    redis.raw_set(
        "setresp",
        lua.create_function(move |lua, a: Variadic<Value>| {
            if a.len() != 1 {
                return raise(&h, lua, "ERR redis.setresp() requires one argument.");
            }
            let v = lua.coerce_number(a[0].clone())?.unwrap_or(0.0);
            if v != 2.0 && v != 3.0 {
                return raise(&h, lua, "ERR RESP version must be 2 or 3.");
            }
            h.raw_set("resp", v as i64)?;
            Ok(())
        })?,
    )?;
    let h = hooks.clone();
    redis.raw_set(
        "set_repl",
        lua.create_function(move |lua, a: Variadic<Value>| {
            if a.len() != 1 {
                return raise(&h, lua, "ERR redis.set_repl() requires two arguments.");
            }
            let v = lua.coerce_number(a[0].clone())?.unwrap_or(0.0) as i64;
            if v & !3 != 0 {
                return raise(
                    &h,
                    lua,
                    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            // Accepted and ignored: the log always holds a script's effects.
            Ok(())
        })?,
    )?;
    let h = hooks.clone();
    rust.raw_set(
        "rawset",
        lua.create_function(move |lua, (t, k, v): (Table, Value, Value)| {
            let protected: Table = h.raw_get("protected")?;
            if protected.raw_get::<bool>(t.clone()).unwrap_or(false) {
                return raise(&h, lua, "ERR Attempt to modify a readonly table");
            }
            t.raw_set(k, v)?;
            Ok(t)
        })?,
    )?;
    Ok(())
}

/// The reply for a script that raised `err` (already shaped by `error_handler`).
fn script_error(err: &Value, sha: &str) -> Reply {
    let Value::Table(t) = err else {
        let text = match err {
            Value::String(s) => s.to_string_lossy(),
            _ => "unknown error".into(),
        };
        return Reply::Error(format!(
            "ERR Error running script (call to f_{sha}): @user_script: {}",
            text.replace(['\r', '\n'], " ")
        ));
    };
    let msg = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => map_crlf(&s.as_bytes()),
        _ => {
            return Reply::Error(format!(
                "ERR Error running script (call to f_{sha}): @user_script: unknown error"
            ))
        }
    };
    let source = t.raw_get::<Option<mlua::String>>("source").ok().flatten();
    let line = t.raw_get::<Option<i64>>("line").ok().flatten();
    match (source, line) {
        (Some(src), Some(line)) => Reply::Error(format!(
            "{msg} script: {sha}, on {}:{line}.",
            src.to_string_lossy()
        )),
        _ => Reply::Error(format!("{msg} script: {sha}")),
    }
}

/// The message handler scripts run under (Redis's `__redis__err__handler`): turn any
/// error into a `{err=…}` table and note where in the user script it happened.
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Value> {
    let mut at: Option<(String, i64)> = None;
    for level in 1..200 {
        let Some(d) = lua.inspect_stack(level) else {
            break;
        };
        let src = d.source();
        if src.what == "C" {
            continue;
        }
        if let Some(s) = src.source.as_deref() {
            if s != "=strata" {
                at = Some((s.to_string(), i64::from(d.curr_line())));
                break;
            }
        }
    }
    let pending = lua
        .named_registry_value::<Option<Table>>("strata.hooks")
        .ok()
        .flatten()
        .map_or(Value::Nil, |h| {
            let p = h.raw_get::<Value>("pending").unwrap_or(Value::Nil);
            let _ = h.raw_set("pending", Value::Nil);
            p
        });
    let t = match (err, pending) {
        (Value::Error(_), Value::Table(p)) => p,
        (Value::Table(t), _) => t,
        (Value::Error(_), Value::String(s)) => {
            // A library function's error, its position already in (`lib_error`).
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {}", s.to_string_lossy()))?;
            t
        }
        (other, _) => {
            let msg = match &other {
                Value::String(s) => s.to_string_lossy(),
                Value::Error(e) => {
                    let m = error_message(e);
                    match &at {
                        Some(_) if m == KILLED => m,
                        Some((src, line)) => {
                            let short = src.strip_prefix('@').unwrap_or(src);
                            format!("{short}:{line}: {m}")
                        }
                        None => m,
                    }
                }
                Value::Nil => "nil".into(),
                Value::Boolean(b) => b.to_string(),
                Value::Integer(n) => fmt_g(*n as f64, 14),
                Value::Number(n) => fmt_g(*n, 14),
                _ => "userdata".into(),
            };
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {msg}"))?;
            t
        }
    };
    if let Some((src, line)) = at {
        t.raw_set("source", src)?;
        t.raw_set("line", line)?;
    }
    Ok(Value::Table(t))
}
