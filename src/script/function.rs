//! Redis 7.0 functions: the library registry (FUNCTION LOAD / DELETE / FLUSH / LIST /
//! DUMP / RESTORE) and running a registered function (FCALL / FCALL_RO). Libraries load
//! into their own Lua VM, separate from EVAL's, as in Redis. Function names are one
//! namespace across libraries, compared without case (FCALL `F1` finds `f1`); library
//! names are case-sensitive. The registry is plain data plus compiled callbacks (kept in the
//! VM, by id): what the log and snapshots keep is each library's code (`libraries`), and
//! loading that code again (`load`) rebuilds everything.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::lua::{self, valid_name, FLAG_ALLOW_OOM, FLAG_ALLOW_STALE, FLAG_NO_WRITES};
use super::Host;
use crate::resp::Reply;

/// How long FUNCTION LOAD may run a library body (Redis's `LOAD_TIMEOUT_MS`).
pub const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// One registered function.
pub struct FunctionInfo {
    /// Its name as registered.
    pub name: String,
    /// Its description (`description=` in the named form).
    pub description: Option<Bytes>,
    /// Its flags (bit i = `lua::FLAG_NAMES[i]`).
    pub flags: u32,
    /// Its callback's id in the VM (`lua::Vm::keep_callback`).
    callback: i64,
}

impl FunctionInfo {
    /// True if the function declared `no-writes`.
    pub fn no_writes(&self) -> bool {
        self.flags & FLAG_NO_WRITES != 0
    }

    /// True if the function declared `allow-oom`.
    pub fn allow_oom(&self) -> bool {
        self.flags & FLAG_ALLOW_OOM != 0
    }

    /// True if the function declared `allow-stale`.
    pub fn allow_stale(&self) -> bool {
        self.flags & FLAG_ALLOW_STALE != 0
    }
}

/// One library: its name, its full code (shebang included) and its functions.
pub struct Library {
    /// The library name (`#!lua name=<name>`).
    pub name: String,
    /// The code as loaded.
    pub code: Bytes,
    /// Its functions by name (case-sensitive within the library).
    pub functions: BTreeMap<String, FunctionInfo>,
}

/// The registry: libraries by name, and the function index across them.
#[derive(Default)]
pub struct Functions {
    libs: BTreeMap<String, Library>,
    /// Lowercased function name → library name.
    index: HashMap<String, String>,
    vm: Option<lua::Vm>,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions")
            .field("libraries", &self.libs.len())
            .finish_non_exhaustive()
    }
}

/// The parsed `#!<engine> name=<lib>` first line of a library.
struct Metadata {
    engine: String,
    name: String,
    /// The code after the shebang line, starting at its `\n` (line numbers stay right).
    body: Bytes,
}

fn metadata(code: &Bytes) -> Result<Metadata, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = match crate::resp::decode::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name: Option<String> = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    Ok(Metadata {
        engine,
        name,
        body: code.slice(end..),
    })
}

impl Functions {
    fn vm(&mut self) -> Result<&mut lua::Vm, String> {
        if self.vm.is_none() {
            let vm = lua::Vm::new().map_err(|e| format!("ERR cannot start Lua: {e}"))?;
            self.vm = Some(vm);
        }
        self.vm
            .as_mut()
            .ok_or_else(|| "ERR cannot start Lua".into())
    }

    /// FUNCTION LOAD: compile `code` (a `#!lua name=<lib>` library), run its body so it
    /// registers its functions, and add it (replacing a library of the same name only if
    /// `replace`). Returns the library name, or the error reply text. `timeout`: how long
    /// the body may run (None: unlimited, for replay).
    pub fn load(
        &mut self,
        code: &[u8],
        replace: bool,
        timeout: Option<Duration>,
    ) -> Result<String, String> {
        let code = Bytes::copy_from_slice(code);
        let md = metadata(&code)?;
        if !valid_name(md.name.as_bytes()) {
            return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
        }
        if !md.engine.eq_ignore_ascii_case("lua") {
            return Err(format!("ERR Engine '{}' not found", md.engine));
        }
        if self.libs.contains_key(&md.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", md.name));
        }
        let registered = self.vm()?.load_library(&md.body, timeout)?;
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        let taken = registered.iter().find(|r| {
            self.index
                .get(&r.name.to_ascii_lowercase())
                .is_some_and(|owner| *owner != md.name)
        });
        if let Some(r) = taken {
            let err = format!("ERR Function {} already exists", r.name);
            let vm = self.vm()?;
            for r in &registered {
                vm.drop_callback(r.callback);
            }
            return Err(err);
        }
        self.unlink(&md.name);
        let mut functions = BTreeMap::new();
        for r in registered {
            let callback = r.callback;
            let info = FunctionInfo {
                name: r.name.clone(),
                description: r.description,
                flags: r.flags,
                callback,
            };
            functions.insert(r.name, info);
        }
        self.link(Library {
            name: md.name.clone(),
            code,
            functions,
        });
        super::bump_functions_generation();
        Ok(md.name)
    }

    fn link(&mut self, lib: Library) {
        for f in lib.functions.keys() {
            self.index.insert(f.to_ascii_lowercase(), lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.remove(name)?;
        for (f, info) in &lib.functions {
            self.index.remove(&f.to_ascii_lowercase());
            if let Some(vm) = self.vm.as_mut() {
                vm.drop_callback(info.callback);
            }
        }
        Some(lib)
    }

    /// FUNCTION DELETE: remove library `name`; false if there is none.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        super::bump_functions_generation();
        std::str::from_utf8(name).is_ok_and(|n| self.unlink(n).is_some())
    }

    /// FUNCTION FLUSH: forget every library; the VM is recreated on next use.
    pub fn flush(&mut self) {
        super::bump_functions_generation();
        self.libs.clear();
        self.index.clear();
        self.vm = None;
    }

    /// Every library, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libs.values()
    }

    /// `(name, code)` of every library: what a snapshot stores. Loading each code again
    /// with `load` rebuilds the registry.
    pub fn libraries(&self) -> Vec<(String, Bytes)> {
        self.libs
            .values()
            .map(|l| (l.name.clone(), l.code.clone()))
            .collect()
    }

    /// The number of libraries.
    pub fn len(&self) -> usize {
        self.libs.len()
    }

    /// True if no library is loaded.
    pub fn is_empty(&self) -> bool {
        self.libs.is_empty()
    }

    /// Bytes the functions' VM holds, 0 before its first use (INFO
    /// `used_memory_vm_functions`).
    pub fn vm_memory(&self) -> usize {
        self.vm.as_ref().map_or(0, lua::Vm::used_memory)
    }

    /// Bytes of the libraries' code (INFO `used_memory_functions`).
    pub fn code_bytes(&self) -> usize {
        self.libs.values().map(|l| l.code.len()).sum()
    }

    /// The number of functions across libraries.
    pub fn function_count(&self) -> usize {
        self.index.len()
    }

    /// The function called `name` (any case).
    pub fn get(&self, name: &[u8]) -> Option<&FunctionInfo> {
        let key = String::from_utf8_lossy(name).to_ascii_lowercase();
        let lib = self.libs.get(self.index.get(&key)?)?;
        lib.functions
            .values()
            .find(|f| f.name.eq_ignore_ascii_case(&key))
    }

    /// FUNCTION RESTORE's join: add `libs` (codes), failing without change on a library
    /// name collision unless `replace`, or on a function name collision. Returns the
    /// error text on failure.
    pub fn restore(&mut self, codes: &[Bytes], policy: RestorePolicy) -> Result<(), String> {
        // Build the incoming libraries in a scratch registry first (their own VM).
        let mut incoming = Functions::default();
        for c in codes {
            incoming.load(c, false, None)?;
        }
        if policy == RestorePolicy::Flush {
            *self = incoming;
            return Ok(());
        }
        let mut next = Functions::default();
        for (_, code) in self.libraries() {
            let name = metadata(&code).map(|m| m.name).unwrap_or_default();
            if incoming.libs.contains_key(&name) {
                if policy == RestorePolicy::Append {
                    return Err(format!("ERR Library {name} already exists"));
                }
                continue;
            }
            next.load(&code, false, None)?;
        }
        for lib in incoming.libs.values() {
            for f in lib.functions.keys() {
                if next.index.contains_key(&f.to_ascii_lowercase()) {
                    return Err(format!("ERR Function {f} already exists"));
                }
            }
        }
        for (_, code) in incoming.libraries() {
            next.load(&code, false, None)?;
        }
        *self = next;
        Ok(())
    }

    /// Run function `name` with `keys`/`args` (`command`: the FCALL argv, for FUNCTION
    /// STATS); `redis.call` goes to `host`. While it runs, FUNCTION KILL (through
    /// `request_kill_from`) may abort it.
    pub fn call(
        &mut self,
        name: &[u8],
        command: &[Bytes],
        keys: &[Bytes],
        args: &[Bytes],
        host: &mut dyn Host,
    ) -> Reply {
        let Some(f) = self.get(name) else {
            return Reply::Error("ERR Function not found".into());
        };
        let (callback, fname) = (f.callback, f.name.clone());
        let (libraries, functions) = (self.len(), self.function_count());
        let vm = match self.vm() {
            Ok(vm) => vm,
            Err(e) => return Reply::Error(e),
        };
        if let Ok(mut r) = RUNNING.lock() {
            *r = Some(Running {
                name: fname.clone(),
                command: command.to_vec(),
                started: Instant::now(),
                libraries,
                functions,
            });
        }
        super::SCRIPT_WROTE.store(false, Ordering::Release);
        super::RUNNING_FUNCTION.store(true, Ordering::Release);
        super::enter();
        let r = super::contained(|| vm.call_function(callback, &fname, keys, args, host));
        super::leave();
        super::RUNNING_FUNCTION.store(false, Ordering::Release);
        if let Ok(mut r) = RUNNING.lock() {
            *r = None;
        }
        r
    }
}

/// The function running now, for FUNCTION STATS asked while it runs.
struct Running {
    name: String,
    command: Vec<Bytes>,
    started: Instant,
    libraries: usize,
    functions: usize,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// FUNCTION STATS's reply: the running function (None when idle) and the LUA engine's
/// library and function counts.
pub fn stats_reply(
    running: Option<(&str, &[Bytes], u64)>,
    libraries: usize,
    functions: usize,
) -> Reply {
    let s = |t: &str| Reply::bulk(t.as_bytes());
    let count = |n: usize| Reply::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let running = match running {
        None => Reply::Null,
        Some((name, argv, ms)) => Reply::Map(vec![
            (s("name"), s(name)),
            (
                s("command"),
                Reply::Array(argv.iter().cloned().map(Reply::Bulk).collect()),
            ),
            (
                s("duration_ms"),
                Reply::Int(i64::try_from(ms).unwrap_or(i64::MAX)),
            ),
        ]),
    };
    Reply::Map(vec![
        (s("running_script"), running),
        (
            s("engines"),
            Reply::Map(vec![(
                s("LUA"),
                Reply::Map(vec![
                    (s("libraries_count"), count(libraries)),
                    (s("functions_count"), count(functions)),
                ]),
            )]),
        ),
    ])
}

/// FUNCTION STATS asked while a script or function holds the engine (answered without
/// the engine lock): the running function, or -BUSY if an EVAL script is running.
pub fn stats_while_busy() -> Reply {
    if !super::RUNNING_FUNCTION.load(Ordering::Acquire) {
        return Reply::Error(super::busy_error().into());
    }
    let Ok(r) = RUNNING.lock() else {
        return Reply::Error(super::busy_error().into());
    };
    match r.as_ref() {
        Some(run) => {
            let ms = u64::try_from(run.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            stats_reply(
                Some((&run.name, &run.command, ms)),
                run.libraries,
                run.functions,
            )
        }
        None => stats_reply(None, 0, 0),
    }
}

/// FUNCTION RESTORE's policy for libraries that already exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Delete every existing library first.
    Flush,
    /// Add; a name collision fails the whole restore (the default).
    Append,
    /// Add; a library of the same name is replaced.
    Replace,
}
