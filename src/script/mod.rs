//! Lua scripting, Redis 7.0 semantics: the script cache (SHA-1 → body, compiled once in
//! one Lua VM), running a script with `KEYS`/`ARGV`, and the kill switch SCRIPT KILL
//! flips. `redis.call` reaches commands only through the `Host` callback the caller
//! (`cmd/scripting.rs`) passes in, so this module depends on `resp` alone and never sees
//! the command table, the keyspace or the log. A script's writes are the caller's
//! business: they land in the caller's execution unit, so replay never runs Lua.

pub mod convert;
pub mod debugger;
pub mod function;
pub mod jsondecode;
pub mod libs;
pub mod lua;
pub mod packlibs;
pub mod sha1;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;

use crate::resp::Reply;

pub use sha1::sha1_hex;

/// Scripts running now in this process (each holds its engine's lock).
pub static SCRIPT_RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Set once the running script changed the dataset (SCRIPT KILL is refused then).
pub static SCRIPT_WROTE: AtomicBool = AtomicBool::new(false);
/// Set by SCRIPT KILL; the running script's instruction hook aborts it and clears this.
pub static KILL_REQUESTED: AtomicBool = AtomicBool::new(false);
/// True while the running script is a function (FCALL), not an EVAL script.
pub static RUNNING_FUNCTION: AtomicBool = AtomicBool::new(false);
/// Bumped whenever the function libraries change (LOAD, DELETE, FLUSH, RESTORE): the
/// same FCALL name may now run different code, so what the connection layer remembers
/// about how long a function call takes must start over.
pub static FUNCTIONS_GENERATION: AtomicU64 = AtomicU64::new(0);

/// When the running script started, in ms of [`process_ms`] (0 before any script ran).
static STARTED_MS: AtomicU64 = AtomicU64::new(0);

/// Milliseconds since this process first asked (a monotonic clock for script timing).
fn process_ms() -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let ms = BASE
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// A script (EVAL or FCALL) starts running: counted in [`SCRIPT_RUNNING`], and its start
/// time kept (stored first, so whoever sees it running sees when it started).
pub(crate) fn enter() {
    if SCRIPT_RUNNING.load(Ordering::Acquire) == 0 {
        STARTED_MS.store(process_ms(), Ordering::Release);
    }
    SCRIPT_RUNNING.fetch_add(1, Ordering::AcqRel);
}

/// Run a script or function, a panic inside the VM (a bug, or a limit of the Lua binding)
/// failing it alone: its caller gets an error and the server goes on, rather than staying
/// -BUSY forever with the script's run never ended.
pub(crate) fn contained(run: impl FnOnce() -> Reply) -> Reply {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| {
        tracing::error!("a script failed with an internal error; its caller gets an error reply");
        Reply::Error("ERR Error running script: internal error".into())
    })
}

/// The script [`enter`] counted ended (a kill requested for it is spent).
pub(crate) fn leave() {
    if SCRIPT_RUNNING.fetch_sub(1, Ordering::AcqRel) == 1 {
        KILL_REQUESTED.store(false, Ordering::Release);
    }
}

/// How long the running script has run (zero when none runs): other clients get -BUSY
/// once this passes `busy-reply-threshold`, however long they have waited themselves, as
/// Redis measures its threshold from the script's start.
pub fn running_for() -> std::time::Duration {
    if SCRIPT_RUNNING.load(Ordering::Acquire) == 0 {
        return std::time::Duration::ZERO;
    }
    let started = STARTED_MS.load(Ordering::Acquire);
    std::time::Duration::from_millis(process_ms().saturating_sub(started))
}

/// The -BUSY reply for a command that arrives while a script or function runs too long.
pub fn busy_error() -> &'static str {
    if RUNNING_FUNCTION.load(Ordering::Acquire) {
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    } else {
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    }
}

/// What SCRIPT KILL answers when it cannot kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillRefused {
    /// No script is running.
    NotBusy,
    /// The script already wrote: killing it would break atomicity.
    Unkillable,
    /// SCRIPT KILL while a function runs, or FUNCTION KILL while an EVAL script runs.
    WrongKind,
}

impl KillRefused {
    /// The error reply text.
    pub fn text(self) -> &'static str {
        match self {
            KillRefused::NotBusy => "NOTBUSY No scripts in execution right now.",
            KillRefused::Unkillable => "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            KillRefused::WrongKind => busy_error(),
        }
    }
}

/// Ask the running script to stop (SCRIPT KILL). Callable without the engine lock, which
/// the running script holds: a connection can call this when it sees `SCRIPT KILL`.
pub fn request_kill() -> Result<(), KillRefused> {
    request_kill_from(true)
}

/// SCRIPT KILL (`is_eval`) or FUNCTION KILL: each kills only its own kind, as in Redis.
pub fn request_kill_from(is_eval: bool) -> Result<(), KillRefused> {
    if SCRIPT_RUNNING.load(Ordering::Acquire) == 0 {
        return Err(KillRefused::NotBusy);
    }
    if SCRIPT_WROTE.load(Ordering::Acquire) {
        return Err(KillRefused::Unkillable);
    }
    if RUNNING_FUNCTION.load(Ordering::Acquire) == is_eval {
        return Err(KillRefused::WrongKind);
    }
    KILL_REQUESTED.store(true, Ordering::Release);
    Ok(())
}

/// What a running script reaches the server through.
pub trait Host {
    /// Run one command for `redis.call`/`redis.pcall` and return its reply (errors are
    /// `Reply::Error`; the script layer decides whether to raise them). `resp` is the
    /// protocol the script chose with `redis.setresp` (2 by default): the command shapes
    /// its reply for it, as for Redis's script client.
    fn call(&mut self, argv: &[Bytes], resp: u8) -> Reply;
    /// `redis.acl_check_cmd`: whether the script's user may run `argv`; None when it
    /// names no command.
    fn acl_check(&mut self, argv: &[Bytes]) -> Option<bool>;
    /// Whether the last `call` was refused before the command ran (unknown command, not
    /// allowed from scripts, ACL …) rather than answered by it: the debugger logs the two
    /// differently, as Redis does.
    fn rejected(&self) -> bool {
        false
    }
    /// Between two of the script's steps (every `redis.call`, and every so many Lua
    /// instructions): serve what other clients may run while a script is busy.
    fn serve_waiting(&mut self) {}
}

/// The script cache and its VM (one per server, behind the engine lock).
#[derive(Default)]
pub struct Scripts {
    bodies: HashMap<String, Bytes>,
    vm: Option<lua::Vm>,
}

impl std::fmt::Debug for Scripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripts")
            .field("scripts", &self.bodies.len())
            .finish_non_exhaustive()
    }
}

impl Scripts {
    fn vm(&mut self) -> Result<&mut lua::Vm, String> {
        if self.vm.is_none() {
            let vm = lua::Vm::new().map_err(|e| format!("ERR cannot start Lua: {e}"))?;
            self.vm = Some(vm);
        }
        self.vm
            .as_mut()
            .ok_or_else(|| "ERR cannot start Lua".into())
    }

    /// Compile and cache `body`; returns its SHA-1 (SCRIPT LOAD, EVAL). The error is the
    /// full reply text (`ERR Error compiling script …`).
    pub fn load(&mut self, body: &[u8]) -> Result<String, String> {
        let sha = sha1_hex(body);
        self.load_as(&sha, body, body)?;
        Ok(sha)
    }

    /// Cache `body` under `sha`, compiling `code` (the body less a shebang line).
    pub fn load_as(&mut self, sha: &str, body: &[u8], code: &[u8]) -> Result<(), String> {
        if self.bodies.contains_key(sha) {
            return Ok(());
        }
        self.vm()?.compile(sha, code)?;
        self.bodies
            .insert(sha.to_string(), Bytes::copy_from_slice(body));
        Ok(())
    }

    /// The body of cached script `sha` (lowercase hex).
    pub fn body(&self, sha: &str) -> Option<Bytes> {
        self.bodies.get(sha).cloned()
    }

    /// True if a script with this SHA-1 (any case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        std::str::from_utf8(sha).is_ok_and(|s| self.bodies.contains_key(&s.to_ascii_lowercase()))
    }

    /// The number of cached scripts (INFO `number_of_cached_scripts`).
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// True if no script is cached.
    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    /// Bytes the EVAL VM holds, 0 before its first use (INFO `used_memory_vm_eval`).
    pub fn vm_memory(&self) -> usize {
        self.vm.as_ref().map_or(0, lua::Vm::used_memory)
    }

    /// Bytes of cached script bodies (INFO `used_memory_scripts`).
    pub fn body_bytes(&self) -> usize {
        self.bodies.values().map(|b| b.len()).sum()
    }

    /// Forget every script (SCRIPT FLUSH); the VM is recreated on next use.
    pub fn flush(&mut self) {
        self.bodies.clear();
        self.vm = None;
    }

    /// Run cached script `sha` (lowercase hex) with `keys`/`args`; `redis.call` goes to
    /// `host`. Returns the script's reply or its error reply. While it runs, SCRIPT KILL
    /// (through `request_kill`) may abort it.
    pub fn run(&mut self, sha: &str, keys: &[Bytes], args: &[Bytes], host: &mut dyn Host) -> Reply {
        let sha = sha.to_ascii_lowercase();
        if !self.bodies.contains_key(&sha) {
            return Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into());
        }
        let vm = match self.vm() {
            Ok(vm) => vm,
            Err(e) => return Reply::Error(e),
        };
        SCRIPT_WROTE.store(false, Ordering::Release);
        enter();
        let r = contained(|| vm.run(&sha, keys, args, host));
        leave();
        r
    }
}

impl Scripts {
    /// [`Scripts::run`] under the Lua debugger (`SCRIPT DEBUG YES|SYNC`). The run is not
    /// counted in [`SCRIPT_RUNNING`]: while a session holds the server, other clients wait
    /// for it (as Redis, blocked in the session, serves nobody) instead of getting -BUSY,
    /// and SCRIPT KILL cannot reach it.
    pub fn run_debug(
        &mut self,
        sha: &str,
        keys: &[Bytes],
        args: &[Bytes],
        host: &mut dyn Host,
        session: &debugger::Shared,
    ) -> Reply {
        let sha = sha.to_ascii_lowercase();
        if !self.bodies.contains_key(&sha) {
            return Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into());
        }
        match self.vm() {
            Ok(vm) => {
                SCRIPT_WROTE.store(false, Ordering::Release);
                contained(|| vm.run_debug(&sha, keys, args, host, session))
            }
            Err(e) => Reply::Error(e),
        }
    }
}

/// Note that the function libraries changed (see [`FUNCTIONS_GENERATION`]).
pub fn bump_functions_generation() {
    FUNCTIONS_GENERATION.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests;

/// Unit tests run Lua on many `State`s at once in one process, but the kill switch and
/// the running/wrote flags above are process-wide (one server per process): a test that
/// sends SCRIPT KILL would abort another test's script or library load, and another
/// test's script running makes SCRIPT KILL answer differently. Every unit test that runs
/// Lua holds [`test_lock::shared`]; a test that uses the kill switch holds
/// [`test_lock::exclusive`]. The VM checks (in test builds) that its thread holds one.
#[cfg(test)]
pub(crate) mod test_lock {
    use std::cell::Cell;
    use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    static LOCK: RwLock<()> = RwLock::new(());

    thread_local! {
        static HELD: Cell<usize> = const { Cell::new(0) };
    }

    /// Held for the test's lifetime; marks its thread as allowed to run Lua.
    pub(crate) struct Guard<G> {
        _g: G,
    }

    impl<G> Drop for Guard<G> {
        fn drop(&mut self) {
            HELD.with(|h| h.set(h.get() - 1));
        }
    }

    fn mark<G>(g: G) -> Guard<G> {
        HELD.with(|h| h.set(h.get() + 1));
        Guard { _g: g }
    }

    /// For a test that runs scripts or loads libraries (alongside other such tests).
    pub(crate) fn shared() -> Guard<RwLockReadGuard<'static, ()>> {
        mark(LOCK.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// For a test that uses the kill switch (SCRIPT KILL / FUNCTION KILL): no other Lua
    /// runs in this process meanwhile.
    pub(crate) fn exclusive() -> Guard<RwLockWriteGuard<'static, ()>> {
        mark(LOCK.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// Called by the VM before it runs Lua.
    pub(crate) fn assert_held() {
        assert!(
            HELD.with(Cell::get) > 0,
            "a unit test that runs Lua must hold script::test_lock::shared() (or exclusive())"
        );
    }
}
