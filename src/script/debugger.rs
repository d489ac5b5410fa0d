//! The Lua debugger (LDB) of Redis 7.0, behind `SCRIPT DEBUG YES|SYNC` and the next EVAL:
//! one debugging session's state (source lines, breakpoints, stepping, the log lines not
//! yet sent), the debugger's own command parser (Redis's: multibulk only, at most 1024
//! arguments of 1..1024 bytes), its commands (help, step/next, continue, list, whole,
//! print, break, trace, eval, redis, maxlen, abort), the line hook logic that stops the
//! script, and Redis's text forms of Lua values and command replies in the log.
//! A session talks to its client only through a [`Link`] (bytes in, bytes out) that the
//! connection layer pumps while the script runs; `lua.rs` installs the hook and feeds
//! `redis.call`/`redis.debug`/`redis.breakpoint` events here. Nothing here knows the
//! command table or the keyspace.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use mlua::{Lua, Table, Value};

use super::libs::fmt_g;
use crate::resp::Reply;

/// Most breakpoints a session keeps (Redis's `LDB_BREAKPOINTS_MAX`).
const MAX_BREAKPOINTS: usize = 64;
/// Default length past which logged replies and values are trimmed.
const MAX_LEN_DEFAULT: usize = 256;
/// Unparsed input past this ends the session with an error (Redis's 1 MiB).
const MAX_INPUT: usize = 1 << 20;
/// Nesting depth at which a value dump stops (Redis's `LUA_MINSTACK/2`).
const MAX_DEPTH: usize = 10;

/// A client's `SCRIPT DEBUG` setting: what its next EVAL does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// `NO`: scripts run normally.
    #[default]
    Off,
    /// `YES`: a session whose dataset changes are discarded when it ends.
    Async,
    /// `SYNC`: a session whose dataset changes are kept.
    Sync,
}

/// Writes bytes to the debugging client.
pub type Output = Box<dyn FnMut(&[u8]) + Send>;

/// The debugging client's connection as a session sees it.
pub struct Link {
    /// What the client sends, as read; disconnected once the client has gone.
    pub input: Receiver<Vec<u8>>,
    /// Writes bytes to the client (in order, before the EVAL's final reply).
    pub output: Output,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Link")
    }
}

/// A debugging session shared by the line hook and the `redis` functions.
pub type Shared = Arc<Mutex<Session>>;

/// One debugging session (one EVAL).
pub struct Session {
    link: Link,
    /// Input read and not yet parsed.
    cbuf: Vec<u8>,
    /// The client has gone: the script runs on without stopping.
    gone: bool,
    /// The script's source, line by line.
    src: Vec<Vec<u8>>,
    /// Log lines not yet sent.
    logs: Vec<Vec<u8>>,
    /// Breakpoint lines.
    bp: Vec<i64>,
    /// Stop at the next line (and log `redis.call`s meanwhile).
    step: bool,
    /// `redis.breakpoint()` was called: stop at the next line.
    luabp: bool,
    /// The line being run.
    current: i64,
    /// Trim logged replies and values past this many bytes (0: never).
    maxlen: usize,
    /// The trimming hint was given (or the user set `maxlen`).
    hint_sent: bool,
    /// `busy-reply-threshold` (ms): running this long without a stop stops the script.
    busy_ms: u64,
    /// When the script last resumed.
    since: Instant,
}

/// Where a stop's conversation with the client ended.
enum Flow {
    /// Run on (step or continue).
    Resume,
    /// The client disconnected.
    Gone,
}

/// What the command parser found in the input.
#[derive(Debug, PartialEq)]
enum Parsed {
    /// Not a whole command yet.
    More,
    /// A command and the bytes it took.
    Command(Vec<Vec<u8>>, usize),
    /// Not Redis's multibulk form.
    Error,
}

/// The Lua tables a stop needs.
pub struct LuaCtx {
    /// The user scripts' environment (`e[val]` runs in it).
    pub env: Table,
    /// The globals behind it (KEYS, ARGV).
    pub globals: Table,
    /// The raw `redis` table (`r[edis]` calls its `call`).
    pub redis: Table,
    /// The VM's hook table (where raised errors are parked).
    pub hooks: Table,
}

impl Session {
    /// A session for a script whose source is `body` (EVAL's argument).
    pub fn new(link: Link, body: &[u8], busy_ms: u64) -> Shared {
        let mut end = body.len();
        while end > 0 && matches!(body[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        let src = if end == 0 {
            Vec::new()
        } else {
            body[..end]
                .split(|&c| c == b'\n')
                .map(<[u8]>::to_vec)
                .collect()
        };
        Arc::new(Mutex::new(Session {
            link,
            cbuf: Vec::new(),
            gone: false,
            src,
            logs: Vec::new(),
            bp: Vec::new(),
            step: true,
            luabp: false,
            current: 0,
            maxlen: MAX_LEN_DEFAULT,
            hint_sent: false,
            busy_ms,
            since: Instant::now(),
        }))
    }

    /// Lock a shared session (a panic elsewhere leaves it usable).
    pub fn lock(s: &Shared) -> MutexGuard<'_, Session> {
        s.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session ends: what is left of the log and `<endsession>` go out.
    pub fn end(s: &Shared) {
        let mut s = Session::lock(s);
        s.log("<endsession>");
        s.send_logs();
    }

    /// Redis's `ldbIsEnabled`: `redis.call` is logged (stepping).
    pub fn logging(&self) -> bool {
        self.step
    }

    fn log(&mut self, line: impl Into<Vec<u8>>) {
        self.logs.push(line.into());
    }

    /// Log with the `maxlen` trim (and its one-time hint).
    fn log_trimmed(&mut self, mut line: Vec<u8>) {
        let trimmed = self.maxlen > 0 && line.len() > self.maxlen;
        if trimmed {
            line.truncate(self.maxlen);
            line.extend_from_slice(b" ...");
        }
        self.log(line);
        if trimmed && !self.hint_sent {
            self.hint_sent = true;
            self.log("<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.");
        }
    }

    /// Send the pending log lines as one array of status replies (CR and LF as spaces).
    fn send_logs(&mut self) {
        let mut out = format!("*{}\r\n", self.logs.len()).into_bytes();
        for mut l in self.logs.drain(..) {
            for c in &mut l {
                if *c == b'\r' || *c == b'\n' {
                    *c = b' ';
                }
            }
            out.push(b'+');
            out.extend_from_slice(&l);
            out.extend_from_slice(b"\r\n");
        }
        if !self.gone {
            (self.link.output)(&out);
        }
    }

    /// `<redis> cmd args…` before a `redis.call` runs (at most 10 arguments shown).
    pub fn log_command(&mut self, argv: &[bytes::Bytes]) {
        let mut l = b"<redis>".to_vec();
        for (j, a) in argv.iter().enumerate() {
            if j == 10 {
                // (Redis's count, one short.)
                l.extend_from_slice(format!(" ... ({} more)", argv.len() - j - 1).as_bytes());
                break;
            }
            l.push(b' ');
            l.extend_from_slice(a);
        }
        self.log(l);
    }

    /// `<error> …` for an error a `redis` function raised or returned.
    pub fn log_error(&mut self, msg: &str) {
        self.log(format!("<error> {msg}"));
    }

    /// `<reply> …`: a command's reply as the script's protocol carries it, in Redis's
    /// human form.
    pub fn log_reply(&mut self, reply: &Reply, resp: u8) {
        let mut wire = Vec::new();
        crate::resp::encode(reply, resp, &mut wire);
        let mut l = b"<reply> ".to_vec();
        human_reply(&wire, &mut 0, &mut l);
        self.log_trimmed(l);
    }

    /// `redis.debug(…)`: `<debug> line N: v1, v2`.
    pub fn log_debug(&mut self, values: &[Value]) {
        let mut l = format!("<debug> line {}: ", self.current).into_bytes();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                l.extend_from_slice(b", ");
            }
            value_repr(v, 0, &mut l);
        }
        self.log(l);
    }

    /// `redis.breakpoint()`: stop at the next line.
    pub fn breakpoint(&mut self) {
        self.luabp = true;
    }

    fn source_line(&self, n: i64) -> &[u8] {
        usize::try_from(n - 1)
            .ok()
            .and_then(|i| self.src.get(i))
            .map_or(b"<out of range source code line>".as_slice(), Vec::as_slice)
    }

    fn log_source_line(&mut self, n: i64) {
        let prefix = match (self.current == n, self.bp.contains(&n)) {
            (true, true) => "->#",
            (true, false) => "-> ",
            (false, true) => "  #",
            (false, false) => "   ",
        };
        let mut l = format!("{prefix}{n:<3} ").into_bytes();
        l.extend_from_slice(self.source_line(n));
        self.log(l);
    }

    fn list(&mut self, around: i64, context: i64) {
        for j in 1..=self.src.len() as i64 {
            if around != 0 && (around - j).abs() > context {
                continue;
            }
            self.log_source_line(j);
        }
    }

    fn breakpoints(&mut self, argv: &[Vec<u8>]) {
        if argv.len() == 1 {
            if self.bp.is_empty() {
                self.log("No breakpoints set. Use 'b <line>' to add one.");
            } else {
                self.log(format!("{} breakpoints set:", self.bp.len()));
                for n in self.bp.clone() {
                    self.log_source_line(n);
                }
            }
            return;
        }
        for arg in &argv[1..] {
            let Some(line) = strict_int(arg) else {
                let mut l = b"Invalid argument:'".to_vec();
                l.extend_from_slice(arg);
                l.push(b'\'');
                self.log(l);
                continue;
            };
            if line == 0 {
                self.bp.clear();
                self.log("All breakpoints removed.");
            } else if line > 0 {
                if self.bp.len() == MAX_BREAKPOINTS {
                    self.log("Too many breakpoints set.");
                } else if line <= self.src.len() as i64 && !self.bp.contains(&line) {
                    self.bp.push(line);
                    self.list(line, 1);
                } else {
                    self.log("Wrong line number.");
                }
            } else if let Some(i) = self.bp.iter().position(|&b| b == -line) {
                self.bp.remove(i);
                self.log("Breakpoint removed.");
            } else {
                self.log("No breakpoint in the specified line.");
            }
        }
    }

    fn set_maxlen(&mut self, argv: &[Vec<u8>]) {
        if argv.len() == 2 {
            let mut n = atoi(&argv[1]);
            self.hint_sent = true;
            if n != 0 && n <= 60 {
                n = 60;
            }
            self.maxlen = usize::try_from(n).unwrap_or(0);
        }
        if self.maxlen > 0 {
            self.log(format!(
                "<value> replies are truncated at {} bytes.",
                self.maxlen
            ));
        } else {
            self.log("<value> replies are unlimited.");
        }
    }

    fn help(&mut self) {
        for l in HELP {
            self.log(*l);
        }
    }

    /// The next command from the client: Ok(None) once it has gone; Err to raise.
    fn next_command(&mut self) -> Result<Option<Vec<Vec<u8>>>, &'static str> {
        loop {
            match parse_command(&self.cbuf) {
                Parsed::Command(argv, used) => {
                    self.cbuf.drain(..used);
                    return Ok(Some(argv));
                }
                Parsed::Error => {
                    self.cbuf.clear();
                    return Err("protocol error");
                }
                Parsed::More => {}
            }
            if self.gone {
                return Ok(None);
            }
            match self.link.input.recv() {
                Ok(bytes) => {
                    self.cbuf.extend_from_slice(&bytes);
                    if self.cbuf.len() > MAX_INPUT {
                        self.cbuf.clear();
                        return Err("max client buffer reached");
                    }
                }
                Err(_) => {
                    // Disconnected: the script runs to its end without stopping.
                    self.gone = true;
                    self.step = false;
                    self.bp.clear();
                    self.cbuf.clear();
                    return Ok(None);
                }
            }
        }
    }
}

/// The debugger's `help` text (Redis's).
const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

/// What `print` answers: strata's Lua binding offers no safe way to read a running
/// function's local variables (Lua's `debug` API), so only KEYS and ARGV can be shown.
const NO_LOCALS: &str = "<error> strata's debugger cannot show local variables (print KEYS or ARGV, or log values with redis.debug()).";

/// The line hook (every line, and every 100k instructions for the timeout): stop when
/// stepping, at a breakpoint, after `redis.breakpoint()`, or when the script ran past
/// `busy-reply-threshold` since its last stop; then serve the client's commands until
/// one resumes the script. An Err is raised in the script (abort, protocol error).
pub fn on_hook(
    s: &Shared,
    lua: &Lua,
    ctx: &LuaCtx,
    line: i64,
    in_script: bool,
    count_event: bool,
) -> Result<(), String> {
    let (timeout, reason) = {
        let mut g = Session::lock(s);
        g.current = line;
        if !in_script {
            return Ok(());
        }
        let bp = g.bp.contains(&line) || g.luabp;
        let mut timeout = false;
        if count_event && !g.step && !bp {
            let limit = if g.busy_ms > 0 { g.busy_ms } else { 5000 };
            if g.since.elapsed().as_millis() >= u128::from(limit) {
                timeout = true;
                g.step = true;
            } else {
                return Ok(());
            }
        }
        if !g.step && !bp {
            return Ok(());
        }
        let reason = if bp {
            if g.luabp {
                "redis.breakpoint() called"
            } else {
                "break point"
            }
        } else if timeout {
            "timeout reached, infinite loop?"
        } else {
            "step over"
        };
        g.step = false;
        g.luabp = false;
        (timeout, reason)
    };
    {
        let mut g = Session::lock(s);
        g.log(format!("* Stopped at {line}, stop reason = {reason}"));
        g.log_source_line(line);
        g.send_logs();
    }
    let flow = repl(s, lua, ctx)?;
    if matches!(flow, Flow::Gone) && timeout {
        return Err("timeout during Lua debugging with client closing connection".into());
    }
    Session::lock(s).since = Instant::now();
    Ok(())
}

/// Serve the client's debugger commands until one resumes the script.
fn repl(s: &Shared, lua: &Lua, ctx: &LuaCtx) -> Result<Flow, String> {
    loop {
        let argv = match Session::lock(s).next_command() {
            Ok(Some(argv)) => argv,
            Ok(None) => return Ok(Flow::Gone),
            Err(e) => return Err(e.into()),
        };
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        let is = |short: &str, long: &str| name == short || name == long;
        if is("s", "step") || is("n", "next") {
            Session::lock(s).step = true;
            return Ok(Flow::Resume);
        } else if is("c", "continue") {
            return Ok(Flow::Resume);
        } else if is("a", "abort") {
            return Err("script aborted for user request".into());
        } else if is("h", "help") {
            Session::lock(s).help();
        } else if is("t", "trace") {
            trace(s, lua);
        } else if is("m", "maxlen") {
            Session::lock(s).set_maxlen(&argv);
        } else if is("b", "break") {
            Session::lock(s).breakpoints(&argv);
        } else if is("e", "eval") {
            eval(s, lua, ctx, &argv);
        } else if argv.len() > 1 && is("r", "redis") {
            redis(s, lua, ctx, &argv);
        } else if is("p", "print") {
            print(s, ctx, &argv);
        } else if is("l", "list") {
            let mut g = Session::lock(s);
            let mut around = g.current;
            if let Some(n) = argv.get(1).map(|a| atoi(a)).filter(|&n| n > 0) {
                around = n;
            }
            let context = argv.get(2).map_or(5, |a| atoi(a));
            g.list(around, context);
        } else if is("w", "whole") {
            Session::lock(s).list(1, 1_000_000);
        } else {
            Session::lock(s)
                .log("<error> Unknown Redis Lua debugger command or wrong number of arguments.");
        }
        Session::lock(s).send_logs();
    }
}

/// `print [var]`: KEYS and ARGV (the only variables strata can read, see `NO_LOCALS`).
fn print(s: &Shared, ctx: &LuaCtx, argv: &[Vec<u8>]) {
    let name = argv.get(1).filter(|_| argv.len() == 2);
    match name.map(Vec::as_slice) {
        Some(n @ (b"KEYS" | b"ARGV")) => {
            let v = ctx
                .globals
                .raw_get::<Value>(String::from_utf8_lossy(n).as_ref())
                .unwrap_or(Value::Nil);
            let mut l = b"<value> ".to_vec();
            value_repr(&v, 0, &mut l);
            Session::lock(s).log_trimmed(l);
        }
        _ => Session::lock(s).log(NO_LOCALS),
    }
}

/// `trace`: each frame of the script, innermost first.
fn trace(s: &Shared, lua: &Lua) {
    let mut lines = Vec::new();
    let mut level = 0;
    while let Some(d) = lua.inspect_stack(level) {
        let src = d.source();
        if src
            .short_src
            .as_deref()
            .is_some_and(|x| x.contains("user_script"))
        {
            let name = d.names().name.map(|n| n.to_string());
            let name = name.as_deref().unwrap_or("top level");
            let head = if level == 0 { "In" } else { "From" };
            lines.push((format!("{head} {name}:"), i64::from(d.curr_line())));
        }
        level += 1;
    }
    let mut g = Session::lock(s);
    if level == 0 {
        g.log("<error> Can't retrieve Lua stack.");
    }
    for (head, line) in lines {
        g.log(head);
        g.log_source_line(line);
    }
}

/// `eval <code>`: run code (as an expression first) in a fresh call frame.
fn eval(s: &Shared, lua: &Lua, ctx: &LuaCtx, argv: &[Vec<u8>]) {
    let code = argv[1..].join(&b' ');
    let mut expr = b"return ".to_vec();
    expr.extend_from_slice(&code);
    let load = |c: &[u8]| {
        lua.load(c)
            .set_name("@ldb_eval")
            .set_mode(mlua::ChunkMode::Text)
            .set_environment(ctx.env.clone())
            .into_function()
    };
    let f = match load(&expr).or_else(|_| load(&code)) {
        Ok(f) => f,
        Err(e) => {
            Session::lock(s).log_error(&super::lua::error_text(&e));
            return;
        }
    };
    let r = f.call::<Value>(());
    let pending = ctx.hooks.raw_get::<Value>("pending").unwrap_or(Value::Nil);
    let _ = ctx.hooks.raw_set("pending", Value::Nil);
    let mut g = Session::lock(s);
    match r {
        Ok(v) => {
            let mut l = b"<retval> ".to_vec();
            value_repr(&v, 0, &mut l);
            g.log_trimmed(l);
        }
        Err(e) => {
            let msg = match pending {
                Value::Table(t) => t
                    .raw_get::<Option<String>>("err")
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                _ => super::lua::error_text(&e),
            };
            g.log_error(&msg);
        }
    }
}

/// `redis <cmd> …`: run the command through `redis.call`, logging it and its reply.
fn redis(s: &Shared, lua: &Lua, ctx: &LuaCtx, argv: &[Vec<u8>]) {
    let call = match ctx.redis.raw_get::<Value>("call") {
        Ok(Value::Function(f)) => f,
        _ => return,
    };
    let args: Vec<Value> = argv[1..]
        .iter()
        .filter_map(|a| lua.create_string(a).ok().map(Value::String))
        .collect();
    Session::lock(s).step = true;
    let _ = call.call::<Value>(mlua::MultiValue::from_iter(args));
    Session::lock(s).step = false;
    let _ = ctx.hooks.raw_set("pending", Value::Nil);
}

/// Redis's `ldbReplParseCommand`: a multibulk request, anywhere after a `*`.
fn parse_command(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::More;
    }
    let Some(star) = buf.iter().position(|&c| c == b'*') else {
        return Parsed::Error;
    };
    let crlf = |from: usize| {
        buf[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    };
    let Some(eol) = crlf(star + 1) else {
        return Parsed::More;
    };
    let argc = atoi(&buf[star + 1..eol]);
    if !(1..=1024).contains(&argc) {
        return Parsed::Error;
    }
    let mut p = eol + 2;
    let mut argv = Vec::new();
    while (argv.len() as i64) < argc {
        if p >= buf.len() {
            return Parsed::More;
        }
        if buf[p] != b'$' {
            return Parsed::Error;
        }
        let Some(eol) = crlf(p + 1) else {
            return Parsed::More;
        };
        let len = atoi(&buf[p + 1..eol]);
        if !(1..=1024).contains(&len) {
            return Parsed::Error;
        }
        let start = eol + 2;
        let end = start + len as usize;
        if end + 2 > buf.len() {
            return Parsed::More;
        }
        argv.push(buf[start..end].to_vec());
        if &buf[end..end + 2] != b"\r\n" {
            return Parsed::Error;
        }
        p = end + 2;
    }
    Parsed::Command(argv, p)
}

/// C's `atoi`: optional spaces and sign, then digits; 0 when there are none.
fn atoi(s: &[u8]) -> i64 {
    let mut it = s.iter().skip_while(|c| c.is_ascii_whitespace()).peekable();
    let neg = match it.peek() {
        Some(b'-') => {
            it.next();
            true
        }
        Some(b'+') => {
            it.next();
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    for c in it.take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Redis's `string2l`: the whole argument is a canonical integer.
fn strict_int(s: &[u8]) -> Option<i64> {
    let t = std::str::from_utf8(s).ok()?;
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty()
        || !digits.bytes().all(|c| c.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    t.parse().ok()
}

/// Redis's `sdscatrepr`: a quoted string with C escapes.
fn repr(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if (0x20..0x7f).contains(&c) => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Redis's `ldbCatStackValue`: a Lua value as the debugger shows it.
fn value_repr(v: &Value, level: usize, out: &mut Vec<u8>) {
    if level == MAX_DEPTH {
        out.extend_from_slice(b"<max recursion level reached! Nested table?>");
        return;
    }
    match v {
        Value::String(s) => repr(&s.as_bytes(), out),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(fmt_g(*n as f64, 6).as_bytes()),
        Value::Number(n) => out.extend_from_slice(fmt_g(*n, 6).as_bytes()),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Table(t) => {
            let mut expected = 1.0;
            let mut is_array = true;
            let (mut as_array, mut as_map) = (Vec::new(), Vec::new());
            for pair in t.clone().pairs::<Value, Value>() {
                let Ok((k, val)) = pair else { break };
                let index = match k {
                    Value::Integer(n) => Some(n as f64),
                    Value::Number(n) => Some(n),
                    _ => None,
                };
                if is_array && index != Some(expected) {
                    is_array = false;
                }
                value_repr(&val, level + 1, &mut as_array);
                as_array.extend_from_slice(b"; ");
                as_map.push(b'[');
                value_repr(&k, level + 1, &mut as_map);
                as_map.extend_from_slice(b"]=");
                value_repr(&val, level + 1, &mut as_map);
                as_map.extend_from_slice(b"; ");
                expected += 1.0;
            }
            let body = if is_array { as_array } else { as_map };
            out.push(b'{');
            out.extend_from_slice(&body[..body.len().saturating_sub(2)]);
            out.push(b'}');
        }
        other => {
            let kind = match other {
                Value::Function(_) => "function",
                Value::Thread(_) => "thread",
                Value::LightUserData(_) => "light-userdata",
                _ => "userdata",
            };
            out.extend_from_slice(format!("\"{kind}@{:p}\"", other.to_pointer()).as_bytes());
        }
    }
}

/// Redis's `ldbRedisProtocolToHuman`: one reply of `wire` from `*at` on, appended to
/// `out` in the debugger's human form.
fn human_reply(wire: &[u8], at: &mut usize, out: &mut Vec<u8>) {
    let Some(&kind) = wire.get(*at) else { return };
    let Some(eol) = wire[*at..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| *at + i)
    else {
        *at = wire.len();
        return;
    };
    let head = &wire[*at + 1..eol];
    let n = atoi(head);
    let start = *at;
    *at = eol + 2;
    let count = usize::try_from(n).unwrap_or(0);
    match kind {
        b':' => out.extend_from_slice(head),
        b'$' if n < 0 => out.extend_from_slice(b"NULL"),
        b'$' | b'=' => {
            let end = (*at + count).min(wire.len());
            repr(&wire[*at..end], out);
            *at = (end + 2).min(wire.len());
        }
        b'+' | b'-' => repr(&wire[start..eol], out),
        b'*' if n < 0 => out.extend_from_slice(b"NULL"),
        b'*' | b'~' | b'>' => {
            out.extend_from_slice(if kind == b'~' { b"~(" } else { b"[" });
            for j in 0..count {
                human_reply(wire, at, out);
                if j + 1 != count {
                    out.push(b',');
                }
            }
            out.push(if kind == b'~' { b')' } else { b']' });
        }
        b'%' | b'|' => {
            out.push(b'{');
            for j in 0..count {
                human_reply(wire, at, out);
                out.extend_from_slice(b" => ");
                human_reply(wire, at, out);
                if j + 1 != count {
                    out.push(b',');
                }
            }
            out.push(b'}');
        }
        b'_' => out.extend_from_slice(b"(null)"),
        b'#' => out.extend_from_slice(if head.first() == Some(&b't') {
            b"#true"
        } else {
            b"#false"
        }),
        b',' => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(head);
        }
        _ => out.extend_from_slice(head),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_follows_redis() {
        assert_eq!(parse_command(b""), Parsed::More);
        assert_eq!(parse_command(b"ping\r\n"), Parsed::Error);
        assert_eq!(parse_command(b"*1\r\n$4\r\nste"), Parsed::More);
        assert_eq!(
            parse_command(b"*2\r\n$1\r\nr\r\n$0\r\n\r\n"),
            Parsed::Error,
            "empty arguments are refused"
        );
        assert_eq!(parse_command(b"*0\r\n"), Parsed::Error);
        assert_eq!(
            parse_command(b"*1\r\n$1\r\ns\r\n*1\r\n$1\r\nc\r\n"),
            Parsed::Command(vec![b"s".to_vec()], 11)
        );
        assert_eq!(
            parse_command(b"*1\r\n$5\r\na\0b\0c\r\n"),
            Parsed::Command(vec![b"a\0b\0c".to_vec()], 15)
        );
        assert_eq!(parse_command(b"*1\r\n$2\r\nabc\r\n"), Parsed::Error);
    }

    #[test]
    fn replies_in_human_form() {
        let h = |r: Reply, resp: u8| {
            let mut wire = Vec::new();
            crate::resp::encode(&r, resp, &mut wire);
            let mut out = Vec::new();
            human_reply(&wire, &mut 0, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(h(Reply::ok(), 2), "\"+OK\"");
        assert_eq!(h(Reply::Int(7), 2), "7");
        assert_eq!(h(Reply::Null, 2), "NULL");
        assert_eq!(h(Reply::Null, 3), "(null)");
        assert_eq!(h(Reply::Error("ERR x".into()), 2), "\"-ERR x\"");
        assert_eq!(
            h(
                Reply::Array(vec![Reply::bulk_string("a\n".to_string()), Reply::Int(1)]),
                2
            ),
            "[\"a\\n\",1]"
        );
        assert_eq!(
            h(Reply::Map(vec![(Reply::Int(1), Reply::Bool(true))]), 3),
            "{1 => #true}"
        );
        assert_eq!(h(Reply::Double(1.5), 3), "(double) 1.5");
    }

    #[test]
    fn integers_and_reprs() {
        assert_eq!(atoi(b" 12x"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(strict_int(b"-4"), Some(-4));
        assert_eq!(strict_int(b"04"), None);
        assert_eq!(strict_int(b"+4"), None);
        let mut out = Vec::new();
        repr(b"a\"\\\x01\t", &mut out);
        assert_eq!(out, b"\"a\\\"\\\\\\x01\\t\"");
    }
}
