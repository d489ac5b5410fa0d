//! Commands: the one command table (`registry`), the one execution path (`dispatch`),
//! the execution context handlers see (`exec`), and one file of handlers per Redis
//! command group. Handlers parse arguments and shape replies; value semantics live in
//! `db/`. Handlers are synchronous and deterministic given (state, argv, now).

pub mod acl;
pub mod admin;
pub mod bitmap;
pub mod blocking;
pub mod busy;
pub mod client;
pub mod climem;
pub mod cmdmeta;
pub mod connection;
pub mod dispatch;
pub mod dump;
pub mod error;
pub mod exec;
pub mod failover;
pub mod function;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod info;
pub mod introspect;
pub mod keys;
pub mod list;
pub mod memory;
pub mod meta;
pub mod pubsub;
pub mod registry;
pub mod repl;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod tracking;
pub mod txn;
pub mod zset;

pub use client::{Client, ClientTable};
pub use error::CmdError;
pub use exec::{Caller, Env, Exec, State, Stats};
pub use registry::{Registry, COMMANDS};

use bytes::Bytes;

use crate::resp::Reply;

bitflags::bitflags! {
    /// Command flags, as Redis declares them; read by dispatch, COMMAND and stats.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Flags: u32 {
        /// May change the keyspace; refused while the log is latched (MISCONF).
        const WRITE         = 1 << 0;
        /// Reads keys only.
        const READONLY      = 1 << 1;
        /// May grow memory; refused over maxmemory.
        const DENYOOM       = 1 << 2;
        /// Administrative; implies NOSCRIPT.
        const ADMIN         = 1 << 3;
        /// Not callable from Lua.
        const NOSCRIPT      = 1 << 4;
        /// Allowed while loading.
        const LOADING       = 1 << 5;
        /// O(1) or O(log N).
        const FAST          = 1 << 6;
        /// Refused inside MULTI.
        const NO_MULTI      = 1 << 7;
        /// May park the client.
        const BLOCKING      = 1 << 8;
        /// Pub/Sub command.
        const PUBSUB        = 1 << 9;
        /// Allowed before AUTH.
        const NO_AUTH       = 1 << 10;
        /// Not WRITE itself but may journal (EVAL, EXEC).
        const MAY_REPLICATE = 1 << 11;
        /// Allowed on a stale replica (reported only).
        const STALE         = 1 << 12;
        /// Not counted in the client's command stats in some replies (reported only).
        const SENTINEL      = 1 << 13;
        /// Does not update key access times (reported only).
        const NO_MANDATORY_KEYS = 1 << 14;
        /// Allowed while a script or module command is busy (reported only).
        const ALLOW_BUSY    = 1 << 15;
        /// Refused while loading asynchronously (reported only).
        const NO_ASYNC_LOADING = 1 << 16;
        /// Key positions follow a `numkeys` argument (COMMAND reports `movablekeys`).
        const MOVABLE_KEYS  = 1 << 17;
        /// Not logged to the slow log (reported only).
        const SKIP_SLOWLOG  = 1 << 18;
        /// Not shown by MONITOR (reported only; EVAL and friends).
        const SKIP_MONITOR  = 1 << 19;
        /// Served for a client in a cluster's ASK redirect (reported only: RESTORE-ASKING).
        const ASKING        = 1 << 20;
    }
}

/// Command groups, as COMMAND DOCS reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Generic key commands.
    Generic,
    /// Strings.
    String,
    /// Bitmaps.
    Bitmap,
    /// Connection.
    Connection,
    /// Server.
    Server,
    /// Hashes.
    Hash,
    /// Lists.
    List,
    /// Sets.
    Set,
    /// Sorted sets.
    SortedSet,
    /// Streams.
    Stream,
    /// HyperLogLogs.
    HyperLogLog,
    /// Geospatial indexes.
    Geo,
    /// Transactions.
    Transactions,
    /// Pub/Sub.
    PubSub,
    /// Scripting (EVAL, SCRIPT).
    Scripting,
    /// Cluster (refused: strata is a standalone server).
    Cluster,
}

impl Group {
    /// The name COMMAND DOCS uses.
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Bitmap => "bitmap",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Hash => "hash",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Stream => "stream",
            Group::Transactions => "transactions",
            Group::PubSub => "pubsub",
            Group::HyperLogLog => "hyperloglog",
            Group::Geo => "geo",
            Group::Scripting => "scripting",
            Group::Cluster => "cluster",
        }
    }
}

/// Key positions: first, last (negative = from the end), step. `first == 0` = no keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// Index of the first key (0 = none).
    pub first: i32,
    /// Index of the last key; -1 = the last argument.
    pub last: i32,
    /// Distance between keys.
    pub step: i32,
}

impl KeySpec {
    /// No keys.
    pub const NONE: KeySpec = KeySpec {
        first: 0,
        last: 0,
        step: 0,
    };
}

/// How a command reaches the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Journal {
    /// Read-only: never logged.
    Never,
    /// Deterministic: logged as received when the handler changed anything.
    Verbatim,
    /// The handler logs canonical effects itself (SET EX → SET PXAT, INCRBYFLOAT → SET).
    Custom,
}

/// A command handler: arguments in, reply out.
pub type Handler = fn(&mut Exec<'_>, &[Bytes]) -> Result<Reply, CmdError>;

/// A command's single declaration, read by every part of the server.
pub struct CommandSpec {
    /// Lowercase name (for subcommands: the subcommand only, e.g. `get`).
    pub name: &'static str,
    /// Redis arity: N exact, -N at least N (counting the command name).
    pub arity: i32,
    /// Flags.
    pub flags: Flags,
    /// Group.
    pub group: Group,
    /// Key positions.
    pub keys: KeySpec,
    /// Journal policy.
    pub journal: Journal,
    /// Handler (the parent of subcommands has none).
    pub handler: Option<Handler>,
    /// Subcommands (CONFIG GET, CLIENT LIST, …).
    pub subcommands: Vec<CommandSpec>,
    /// One-line summary for COMMAND DOCS.
    pub summary: &'static str,
    /// Redis version that introduced it, for COMMAND DOCS.
    pub since: &'static str,
    /// Index into the stats table (set by the registry).
    pub id: usize,
    /// Full name for stats and errors (`config|get`), set by the registry.
    pub full_name: String,
    /// ACL categories (without `@`) declared explicitly, as in Redis's command JSON. When
    /// empty, COMMAND derives the category from the group (`string` → `@string`, `generic` →
    /// `@keyspace`, …); categories implied by flags (`@read`, `@write`, `@fast`/`@slow`,
    /// `@admin`+`@dangerous`, `@blocking`, `@pubsub`) are always added.
    pub acl: &'static [&'static str],
    /// Redis's key specs, tips and docs for this command (`cmdmeta`), attached by the
    /// registry by full name; `None` only for a command added without rerunning
    /// `tools/gen-command-meta.py` (the registry's `table_has_metadata` test fails then).
    pub meta: Option<&'static cmdmeta::CommandMeta>,
}

/// Declare a command: journal defaults to Verbatim for WRITE and Never otherwise.
pub fn cmd(name: &'static str, arity: i32, flags: Flags, handler: Handler) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        group: Group::Generic,
        keys: KeySpec::NONE,
        journal: if flags.contains(Flags::WRITE) {
            Journal::Verbatim
        } else {
            Journal::Never
        },
        handler: Some(handler),
        subcommands: Vec::new(),
        summary: "",
        since: "1.0.0",
        id: 0,
        full_name: String::new(),
        acl: &[],
        meta: None,
    }
}

/// Declare a container command whose work is done by subcommands.
pub fn container(
    name: &'static str,
    arity: i32,
    flags: Flags,
    subs: Vec<CommandSpec>,
) -> CommandSpec {
    CommandSpec {
        handler: None,
        subcommands: subs,
        ..cmd(name, arity, flags, |_, _| Ok(Reply::ok()))
    }
}

impl std::fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandSpec")
            .field("name", &self.full_name)
            .field("arity", &self.arity)
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

impl CommandSpec {
    /// Set key positions.
    pub fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.keys = KeySpec { first, last, step };
        self
    }
    /// Set the journal policy.
    pub fn journal(mut self, j: Journal) -> Self {
        self.journal = j;
        self
    }
    /// Set the group.
    pub fn group(mut self, g: Group) -> Self {
        self.group = g;
        self
    }
    /// Declare ACL categories explicitly (replaces the group-derived one), e.g. `&["dangerous"]`.
    pub fn acl(mut self, cats: &'static [&'static str]) -> Self {
        self.acl = cats;
        self
    }
    /// Set the COMMAND DOCS summary and version.
    pub fn doc(mut self, summary: &'static str, since: &'static str) -> Self {
        self.summary = summary;
        self.since = since;
        self
    }
    /// True if `argc` (including the name) satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = i64::try_from(argc).unwrap_or(i64::MAX);
        let a = i64::from(self.arity);
        if a >= 0 {
            argc == a
        } else {
            argc >= -a
        }
    }
    /// Positions of the key arguments in `argv` per the key spec.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        if self.keys.first <= 0 {
            return Vec::new();
        }
        let argc = i64::try_from(argc).unwrap_or(i64::MAX);
        let first = i64::from(self.keys.first);
        let last = if self.keys.last < 0 {
            argc + i64::from(self.keys.last)
        } else {
            i64::from(self.keys.last)
        };
        let step = i64::from(self.keys.step.max(1));
        let mut out = Vec::new();
        let mut i = first;
        while i <= last && i < argc {
            out.push(usize::try_from(i).unwrap_or(0));
            i += step;
        }
        out
    }
}
