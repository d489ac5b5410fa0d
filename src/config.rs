//! Configuration: every directive strata accepts (redis.conf names), their defaults, the
//! parser for a redis.conf-style file and `--name value` arguments, and CONFIG GET/SET.
//! Imports nothing else from the crate; the server applies changes that need action.

use std::path::PathBuf;

/// `appendfsync`: when the log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appendfsync {
    /// Before any reply (the default; no acknowledged write is ever lost).
    Always,
    /// Once per second (up to about a second of acknowledged writes may be lost).
    Everysec,
    /// Never by us; the OS decides.
    No,
}

impl Appendfsync {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Self::Always),
            "everysec" => Some(Self::Everysec),
            "no" => Some(Self::No),
            _ => None,
        }
    }
    /// The directive's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Everysec => "everysec",
            Self::No => "no",
        }
    }
}

/// `maxmemory-policy`: what to evict when used memory is over `maxmemory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxmemoryPolicy {
    /// Evict the least recently used keys that have a TTL.
    VolatileLru,
    /// Evict the least frequently used keys that have a TTL.
    VolatileLfu,
    /// Evict random keys that have a TTL.
    VolatileRandom,
    /// Evict the keys with the nearest expiry.
    VolatileTtl,
    /// Evict the least recently used keys.
    AllkeysLru,
    /// Evict the least frequently used keys.
    AllkeysLfu,
    /// Evict random keys.
    AllkeysRandom,
    /// Evict nothing: refuse commands that may grow memory (`-OOM`).
    NoEviction,
}

impl MaxmemoryPolicy {
    /// Every spelling, in Redis's order (its CONFIG SET error lists them so).
    pub const NAMES: &'static [&'static str] = &[
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "noeviction",
    ];
    const ALL: [MaxmemoryPolicy; 8] = [
        Self::VolatileLru,
        Self::VolatileLfu,
        Self::VolatileRandom,
        Self::VolatileTtl,
        Self::AllkeysLru,
        Self::AllkeysLfu,
        Self::AllkeysRandom,
        Self::NoEviction,
    ];

    fn parse(s: &str) -> Option<Self> {
        let l = s.to_ascii_lowercase();
        let i = Self::NAMES.iter().position(|n| *n == l)?;
        Some(Self::ALL[i])
    }

    /// The directive's spelling.
    pub fn name(self) -> &'static str {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(7);
        Self::NAMES[i]
    }

    /// True for the LFU policies (keys carry a frequency counter instead of an LRU clock).
    pub fn is_lfu(self) -> bool {
        matches!(self, Self::VolatileLfu | Self::AllkeysLfu)
    }

    /// True for the LRU policies.
    pub fn is_lru(self) -> bool {
        matches!(self, Self::VolatileLru | Self::AllkeysLru)
    }

    /// True for the `allkeys-*` policies (every key is a candidate, not only keys with a TTL).
    pub fn is_allkeys(self) -> bool {
        matches!(
            self,
            Self::AllkeysLru | Self::AllkeysLfu | Self::AllkeysRandom
        )
    }
}

/// Every setting. Fields are the directives strata acts on; `extra` holds the
/// Redis directives accepted for compatibility that have no effect yet.
#[derive(Debug, Clone)]
pub struct Config {
    /// `bind`: listen addresses.
    pub bind: Vec<String>,
    /// `port`: TCP port (0 = pick a free one).
    pub port: u16,
    /// `dir`: the data directory.
    pub dir: PathBuf,
    /// `appendfsync`.
    pub appendfsync: Appendfsync,
    /// `requirepass` (empty = none).
    pub requirepass: String,
    /// `maxclients`.
    pub maxclients: u64,
    /// `databases`.
    pub databases: u64,
    /// `timeout`: idle seconds before a client is closed (0 = never).
    pub timeout: u64,
    /// `loglevel`: debug, verbose, notice, warning, nothing.
    pub loglevel: String,
    /// `proto-max-bulk-len`.
    pub proto_max_bulk_len: u64,
    /// `client-query-buffer-limit`.
    pub client_query_buffer_limit: u64,
    /// `segment-size`: log segment rotation size in bytes.
    pub segment_size: u64,
    /// `hz`: background task frequency (active expiry).
    pub hz: u64,
    /// `active-expire-effort` (1..10).
    pub active_expire_effort: u64,
    /// `hash-max-listpack-entries` (alias `hash-max-ziplist-entries`).
    pub hash_max_listpack_entries: u64,
    /// `hash-max-listpack-value` (alias `hash-max-ziplist-value`).
    pub hash_max_listpack_value: u64,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: u64,
    /// `hll-sparse-max-bytes`: a sparse HyperLogLog past this size becomes dense.
    pub hll_sparse_max_bytes: u64,
    /// `zset-max-listpack-entries` (alias `zset-max-ziplist-entries`).
    pub zset_max_listpack_entries: u64,
    /// `zset-max-listpack-value` (alias `zset-max-ziplist-value`).
    pub zset_max_listpack_value: u64,
    /// `list-max-listpack-size` (alias `list-max-ziplist-size`).
    pub list_max_listpack_size: i64,
    /// `notify-keyspace-events`: the enabled notification classes, as `notify::*` bits.
    pub notify_keyspace_events: u32,
    /// `maxmemory`: evict (or refuse writes) above this many bytes; 0 = no limit.
    pub maxmemory: u64,
    /// `maxmemory-policy`: what to evict when over `maxmemory`.
    pub maxmemory_policy: MaxmemoryPolicy,
    /// `maxmemory-samples`: keys sampled per database per eviction-pool refill.
    pub maxmemory_samples: u64,
    /// `maxmemory-eviction-tenacity` (0..100): how long one eviction run may take.
    pub maxmemory_eviction_tenacity: u64,
    /// `lfu-log-factor`: how slowly the LFU counter grows.
    pub lfu_log_factor: u64,
    /// `lfu-decay-time`: minutes per LFU counter decrement (0 = never decay).
    pub lfu_decay_time: u64,
    /// `lazyfree-lazy-user-del`: DEL frees big values in the background, as UNLINK.
    pub lazyfree_lazy_user_del: bool,
    /// Accepted-for-compatibility directives and their current values, in table order.
    pub extra: Vec<(&'static str, String)>,
    /// `user <name> <rule> ...` lines (redis.conf ACL users, created at startup; not a
    /// CONFIG GET/SET parameter, as in Redis).
    pub users: Vec<String>,
    /// A `save` line was loaded (the next one adds its points instead of replacing).
    pub save_given: bool,
    /// `rename-command <command> <new name>` lines, in order, in effect for the server's
    /// life (not a CONFIG GET/SET parameter; CONFIG REWRITE keeps the lines as they are, as
    /// Redis). The command table checks and applies them (`cmd::registry::Renames`).
    pub rename_commands: Vec<RenameCommand>,
}

/// One `rename-command FROM TO` line (`TO` empty: the command is removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameCommand {
    /// The command's current name.
    pub from: String,
    /// Its new name.
    pub to: String,
    /// The config file's line (None: the command line).
    pub line: Option<usize>,
    /// The line as given (a file's text, or Redis's rendering of the options).
    pub text: String,
}

#[derive(Clone, Copy)]
enum Kind {
    Int(u64, u64),
    /// A signed integer within an inclusive range.
    SignedInt(i64, i64),
    Memory,
    /// A memory value within an inclusive range.
    MemRange(u64, u64),
    Str,
    Enum(&'static [&'static str]),
    Bool,
    /// A memory value, or a percentage (`N%`, at most 100).
    MemOrPercent,
    /// Percentiles (numbers from 0 to 100), space-separated.
    Percentiles,
}

struct Directive {
    name: &'static str,
    kind: Kind,
    mutable: bool,
    help: &'static str,
}

const fn d(name: &'static str, kind: Kind, mutable: bool, help: &'static str) -> Directive {
    Directive {
        name,
        kind,
        mutable,
        help,
    }
}

/// Every directive, in the order CONFIG GET * and --help list them.
const DIRECTIVES: &[Directive] = &[
    d(
        "bind",
        Kind::Str,
        true,
        "addresses to listen on (default \"* -::*\": every IPv4 and IPv6 address)",
    ),
    d(
        "port",
        Kind::Int(0, 65535),
        true,
        "TCP port (default 6379; 0 picks a free port)",
    ),
    d(
        "dir",
        Kind::Str,
        false,
        "data directory (default ./strata-data)",
    ),
    d(
        "appendfsync",
        Kind::Enum(&["everysec", "always", "no"]),
        true,
        "always (default) | everysec | no",
    ),
    d(
        "requirepass",
        Kind::Str,
        true,
        "password clients must AUTH with (default none)",
    ),
    d(
        "maxclients",
        Kind::Int(1, u32::MAX as u64),
        true,
        "maximum connected clients (default 10000)",
    ),
    d(
        "databases",
        Kind::Int(1, 1_000_000),
        false,
        "number of databases (default 16)",
    ),
    d(
        "timeout",
        Kind::Int(0, i32::MAX as u64),
        true,
        "close idle clients after N seconds (0 = never)",
    ),
    d(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        true,
        "debug | verbose | notice (default) | warning",
    ),
    d(
        "proto-max-bulk-len",
        Kind::MemRange(1024 * 1024, i64::MAX as u64),
        true,
        "largest bulk string accepted (default 512mb)",
    ),
    d(
        "client-query-buffer-limit",
        Kind::MemRange(1024 * 1024, i64::MAX as u64),
        true,
        "largest query buffer per client (default 1gb)",
    ),
    d(
        "segment-size",
        Kind::Memory,
        true,
        "log segment rotation size (default 64mb)",
    ),
    d(
        "hz",
        Kind::Int(0, i32::MAX as u64),
        true,
        "background task frequency, clamped to 1..500 (default 10)",
    ),
    d(
        "active-expire-effort",
        Kind::Int(1, 10),
        true,
        "active expiry effort 1..10 (default 1)",
    ),
    d(
        "hash-max-listpack-entries",
        Kind::Int(0, i64::MAX as u64),
        true,
        "hashes up to this many fields stay compact",
    ),
    d(
        "hash-max-listpack-value",
        Kind::MemRange(0, i64::MAX as u64),
        true,
        "hashes with values up to this size stay compact",
    ),
    d(
        "set-max-intset-entries",
        Kind::Int(0, i64::MAX as u64),
        true,
        "integer sets up to this size stay compact",
    ),
    d(
        "hll-sparse-max-bytes",
        Kind::MemRange(0, i64::MAX as u64),
        true,
        "sparse HyperLogLogs up to this many bytes stay sparse",
    ),
    d(
        "zset-max-listpack-entries",
        Kind::Int(0, i64::MAX as u64),
        true,
        "sorted sets up to this many members stay compact",
    ),
    d(
        "zset-max-listpack-value",
        Kind::MemRange(0, i64::MAX as u64),
        true,
        "sorted sets with members up to this size stay compact",
    ),
    d(
        "list-max-listpack-size",
        Kind::SignedInt(i32::MIN as i64, i32::MAX as i64),
        true,
        "list node size (Redis's meaning; negative = bytes class)",
    ),
    d(
        "client-output-buffer-limit",
        Kind::Str,
        true,
        "per-class output limits; the pubsub hard limit cuts off slow subscribers",
    ),
    d(
        "save",
        Kind::Str,
        true,
        "save points `<seconds> <changes> ...`: a snapshot when that many writes happened in that many seconds since the last one (\"\" = none)",
    ),
    // Accepted for compatibility with clients and tools that read them; no effect yet.
    d(
        "appendonly",
        Kind::Bool,
        true,
        "compatibility (always yes: the log is the store)",
    ),
    d("appendfilename", Kind::Str, false, "compatibility"),
    d("appenddirname", Kind::Str, false, "compatibility"),
    d("dbfilename", Kind::Str, true, "compatibility"),
    d(
        "maxmemory",
        Kind::Memory,
        true,
        "memory limit in bytes, units allowed (100mb, 1gb); 0 = none (default)",
    ),
    d(
        "maxmemory-policy",
        Kind::Enum(MaxmemoryPolicy::NAMES),
        true,
        "eviction policy over maxmemory (default noeviction)",
    ),
    d(
        "maxmemory-samples",
        Kind::Int(1, i32::MAX as u64),
        true,
        "keys sampled per eviction step (default 5)",
    ),
    d(
        "maxmemory-eviction-tenacity",
        Kind::Int(0, 100),
        true,
        "eviction time budget per command 0..100 (default 10 = 500us)",
    ),
    d(
        "lfu-log-factor",
        Kind::Int(0, i32::MAX as u64),
        true,
        "LFU counter logarithm factor (default 10)",
    ),
    d(
        "lfu-decay-time",
        Kind::Int(0, i32::MAX as u64),
        true,
        "minutes per LFU counter decay step (default 1)",
    ),
    d(
        "lazyfree-lazy-user-del",
        Kind::Bool,
        true,
        "DEL frees big values in the background, as UNLINK (default no)",
    ),
    d("daemonize", Kind::Bool, false, "fork into the background at start (default no)"),
    d(
        "protected-mode",
        Kind::Bool,
        true,
        "refuse clients from other hosts while the default user has no password (default yes)",
    ),
    d(
        "tcp-keepalive",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "tcp-backlog",
        Kind::Int(0, i32::MAX as u64),
        false,
        "compatibility",
    ),
    d(
        "logfile",
        Kind::Str,
        false,
        "where the log goes: empty = standard output, else a file (appended to)",
    ),
    d(
        "auto-aof-rewrite-percentage",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "auto-aof-rewrite-min-size",
        Kind::MemRange(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "notify-keyspace-events",
        Kind::Str,
        true,
        "keyspace notification classes (K E g $ l s h z x e t m d n A; default none)",
    ),
    d("slowlog-log-slower-than", Kind::SignedInt(-1, i64::MAX), true, "compatibility"),
    d(
        "slowlog-max-len",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "lua-time-limit",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "busy-reply-threshold",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "latency-tracking",
        Kind::Bool,
        true,
        "record per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM)",
    ),
    d(
        "latency-tracking-info-percentiles",
        Kind::Percentiles,
        true,
        "percentiles INFO latencystats reports (default 50 99 99.9)",
    ),
    // Replication, streams, lists, tracking, latency: accepted (Redis's test suite and
    // tools set them), no effect.
    d(
        "repl-ping-replica-period",
        Kind::Int(1, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "repl-timeout",
        Kind::Int(1, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "repl-backlog-size",
        Kind::MemRange(1, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "min-replicas-to-write",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "min-replicas-max-lag",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "replica-serve-stale-data",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d("replica-read-only", Kind::Bool, true, "compatibility"),
    d(
        "stream-node-max-entries",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "stream-node-max-bytes",
        Kind::MemRange(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "list-compress-depth",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "latency-monitor-threshold",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "tracking-table-max-keys",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "acllog-max-len",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "maxmemory-clients",
        Kind::MemOrPercent,
        true,
        "compatibility",
    ),
    d("aof-use-rdb-preamble", Kind::Bool, true, "compatibility"),
    d("masterauth", Kind::Str, true, "compatibility"),
    d("masteruser", Kind::Str, true, "compatibility"),
    d(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        true,
        "channels a new ACL user may use: resetchannels (default, none) | allchannels",
    ),
    d(
        "aclfile",
        Kind::Str,
        false,
        "ACL users file (ACL LOAD / ACL SAVE; loaded at startup; relative to dir)",
    ),
    d(
        "io-threads",
        Kind::Int(1, 128),
        false,
        "connection worker threads (default 1)",
    ),
    d(
        "replicaof",
        Kind::Str,
        false,
        "replicate from <host> <port> from the start (as the REPLICAOF command)",
    ),
    // Hidden (as in Redis: CONFIG GET names them only explicitly, never by pattern).
    d(
        "key-load-delay",
        Kind::SignedInt(i32::MIN as i64, i32::MAX as i64),
        true,
        "compatibility",
    ),
    d(
        "rdb-key-save-delay",
        Kind::SignedInt(i32::MIN as i64, i32::MAX as i64),
        true,
        "compatibility",
    ),
    d(
        "loading-process-events-interval-bytes",
        Kind::Int(1024, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d("use-exit-on-panic", Kind::Bool, true, "compatibility"),
    d(
        "watchdog-period",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
];

/// The rest of Redis 7.0's directives (everything its CONFIG GET * lists), so a redis.conf
/// and clients that set them work unchanged. They have no effect in strata; those that would
/// ask for something strata does not do (TLS, cluster mode, a Unix socket) accept only their
/// off value and refuse any other with a clear error (`Config::set`). Defaults are Redis's.
const REDIS_ONLY: &[Directive] = &[
    d("lazyfree-lazy-eviction", Kind::Bool, true, "compatibility"),
    d("lazyfree-lazy-expire", Kind::Bool, true, "compatibility"),
    d(
        "lazyfree-lazy-server-del",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "lazyfree-lazy-user-flush",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "active-defrag-cycle-max",
        Kind::Int(1, 99),
        true,
        "compatibility",
    ),
    d(
        "active-defrag-cycle-min",
        Kind::Int(1, 99),
        true,
        "compatibility",
    ),
    d(
        "active-defrag-ignore-bytes",
        Kind::MemRange(1, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "active-defrag-max-scan-fields",
        Kind::Int(1, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "active-defrag-threshold-lower",
        Kind::Int(0, 1000),
        true,
        "compatibility",
    ),
    d(
        "active-defrag-threshold-upper",
        Kind::Int(0, 1000),
        true,
        "compatibility",
    ),
    d("activedefrag", Kind::Bool, true, "compatibility"),
    d("activerehashing", Kind::Bool, true, "compatibility"),
    d("always-show-logo", Kind::Bool, false, "compatibility"),
    d("aof-disable-auto-gc", Kind::Bool, true, "compatibility"),
    d("aof-load-truncated", Kind::Bool, true, "compatibility"),
    d(
        "aof-rewrite-incremental-fsync",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d("aof-timestamp-enabled", Kind::Bool, true, "compatibility"),
    d("aof_rewrite_cpulist", Kind::Str, false, "compatibility"),
    d("bgsave_cpulist", Kind::Str, false, "compatibility"),
    d("bind-source-addr", Kind::Str, true, "compatibility"),
    d("bio_cpulist", Kind::Str, false, "compatibility"),
    d(
        "cluster-allow-pubsubshard-when-down",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "cluster-allow-reads-when-down",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "cluster-allow-replica-migration",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "cluster-announce-bus-port",
        Kind::Int(0, 65535),
        true,
        "compatibility",
    ),
    d(
        "cluster-announce-hostname",
        Kind::Str,
        true,
        "compatibility",
    ),
    d("cluster-announce-ip", Kind::Str, true, "compatibility"),
    d(
        "cluster-announce-port",
        Kind::Int(0, 65535),
        true,
        "compatibility",
    ),
    d(
        "cluster-announce-tls-port",
        Kind::Int(0, 65535),
        true,
        "compatibility",
    ),
    d("cluster-config-file", Kind::Str, false, "compatibility"),
    d(
        "cluster-enabled",
        Kind::Bool,
        false,
        "cluster mode is not supported: only no",
    ),
    d(
        "cluster-link-sendbuf-limit",
        Kind::Memory,
        true,
        "compatibility",
    ),
    d(
        "cluster-migration-barrier",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "cluster-node-timeout",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "cluster-port",
        Kind::Int(0, 65535),
        false,
        "compatibility",
    ),
    d(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        true,
        "compatibility",
    ),
    d(
        "cluster-replica-no-failover",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "cluster-replica-validity-factor",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "cluster-require-full-coverage",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d("crash-log-enabled", Kind::Bool, true, "compatibility"),
    d("crash-memcheck-enabled", Kind::Bool, true, "compatibility"),
    d("disable-thp", Kind::Bool, false, "compatibility"),
    d("dynamic-hz", Kind::Bool, true, "compatibility"),
    d(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        false,
        "compatibility",
    ),
    d(
        "enable-module-command",
        Kind::Enum(&["no", "yes", "local"]),
        false,
        "compatibility",
    ),
    d(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        false,
        "compatibility",
    ),
    d("ignore-warnings", Kind::Str, true, "compatibility"),
    d("io-threads-do-reads", Kind::Bool, false, "compatibility"),
    d(
        "jemalloc-bg-thread",
        Kind::Bool,
        true,
        "jemalloc background threads purge freed pages (off the request path)",
    ),
    d(
        "no-appendfsync-on-rewrite",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        true,
        "Linux OOM score: yes/relative adds the first oom-score-adj-values to the start value, absolute sets it",
    ),
    d(
        "oom-score-adj-values",
        Kind::Str,
        true,
        "three OOM score adjustments (master, replica, child; strata uses the first)",
    ),
    d("pidfile", Kind::Str, false, "file holding the pid while the server runs"),
    d("proc-title-template", Kind::Str, true, "compatibility"),
    d(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        true,
        "compatibility",
    ),
    d("rdb-del-sync-files", Kind::Bool, true, "compatibility"),
    d(
        "rdb-save-incremental-fsync",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d("rdbchecksum", Kind::Bool, false, "compatibility"),
    d("rdbcompression", Kind::Bool, true, "compatibility"),
    d(
        "repl-backlog-ttl",
        Kind::Int(0, i64::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "repl-disable-tcp-nodelay",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        true,
        "compatibility",
    ),
    d("repl-diskless-sync", Kind::Bool, true, "compatibility"),
    d(
        "repl-diskless-sync-delay",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "repl-diskless-sync-max-replicas",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d("replica-announce-ip", Kind::Str, true, "compatibility"),
    d(
        "replica-announce-port",
        Kind::Int(0, 65535),
        true,
        "compatibility",
    ),
    d("replica-announced", Kind::Bool, true, "compatibility"),
    d(
        "replica-ignore-disk-write-errors",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "replica-ignore-maxmemory",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d("replica-lazy-flush", Kind::Bool, true, "compatibility"),
    d(
        "replica-priority",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        true,
        "compatibility",
    ),
    d("server_cpulist", Kind::Str, false, "compatibility"),
    d("set-proc-title", Kind::Bool, false, "compatibility"),
    d("shutdown-on-sigint", Kind::Str, true, "compatibility"),
    d("shutdown-on-sigterm", Kind::Str, true, "compatibility"),
    d(
        "shutdown-timeout",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "socket-mark-id",
        Kind::Int(0, i64::MAX as u64),
        false,
        "compatibility",
    ),
    d(
        "stop-writes-on-bgsave-error",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        false,
        "systemd (or auto with NOTIFY_SOCKET): tell a Type=notify unit when ready and stopping",
    ),
    d("syslog-enabled", Kind::Bool, false, "compatibility"),
    d(
        "syslog-facility",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        false,
        "compatibility",
    ),
    d("syslog-ident", Kind::Str, false, "compatibility"),
    d(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        true,
        "compatibility",
    ),
    d("tls-ca-cert-dir", Kind::Str, true, "compatibility"),
    d("tls-ca-cert-file", Kind::Str, true, "compatibility"),
    d("tls-cert-file", Kind::Str, true, "compatibility"),
    d("tls-ciphers", Kind::Str, true, "compatibility"),
    d("tls-ciphersuites", Kind::Str, true, "compatibility"),
    d("tls-client-cert-file", Kind::Str, true, "compatibility"),
    d("tls-client-key-file", Kind::Str, true, "compatibility"),
    d("tls-client-key-file-pass", Kind::Str, true, "compatibility"),
    d("tls-cluster", Kind::Bool, true, "compatibility"),
    d("tls-dh-params-file", Kind::Str, true, "compatibility"),
    d("tls-key-file", Kind::Str, true, "compatibility"),
    d("tls-key-file-pass", Kind::Str, true, "compatibility"),
    d(
        "tls-port",
        Kind::Int(0, 65535),
        true,
        "TLS is not supported: only 0",
    ),
    d(
        "tls-prefer-server-ciphers",
        Kind::Bool,
        true,
        "compatibility",
    ),
    d("tls-protocols", Kind::Str, true, "compatibility"),
    d("tls-replication", Kind::Bool, true, "compatibility"),
    d(
        "tls-session-cache-size",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d(
        "tls-session-cache-timeout",
        Kind::Int(0, i32::MAX as u64),
        true,
        "compatibility",
    ),
    d("tls-session-caching", Kind::Bool, true, "compatibility"),
    d(
        "unixsocket",
        Kind::Str,
        false,
        "a Unix socket path to listen on too (empty = none)",
    ),
    d(
        "unixsocketperm",
        Kind::Str,
        false,
        "the Unix socket's file mode, octal (0 = the umask's)",
    ),
];

/// `REDIS_ONLY`'s defaults, as redis-server 7.0.15 reports them.
fn redis_only_defaults() -> Vec<(&'static str, String)> {
    [
        ("lazyfree-lazy-eviction", "no"),
        ("lazyfree-lazy-expire", "no"),
        ("lazyfree-lazy-server-del", "no"),
        ("lazyfree-lazy-user-flush", "no"),
        ("active-defrag-cycle-max", "25"),
        ("active-defrag-cycle-min", "1"),
        ("active-defrag-ignore-bytes", "104857600"),
        ("active-defrag-max-scan-fields", "1000"),
        ("active-defrag-threshold-lower", "10"),
        ("active-defrag-threshold-upper", "100"),
        ("activedefrag", "no"),
        ("activerehashing", "yes"),
        ("always-show-logo", "no"),
        ("aof-disable-auto-gc", "no"),
        ("aof-load-truncated", "yes"),
        ("aof-rewrite-incremental-fsync", "yes"),
        ("aof-timestamp-enabled", "no"),
        ("aof_rewrite_cpulist", ""),
        ("bgsave_cpulist", ""),
        ("bind-source-addr", ""),
        ("bio_cpulist", ""),
        ("cluster-allow-pubsubshard-when-down", "yes"),
        ("cluster-allow-reads-when-down", "no"),
        ("cluster-allow-replica-migration", "yes"),
        ("cluster-announce-bus-port", "0"),
        ("cluster-announce-hostname", ""),
        ("cluster-announce-ip", ""),
        ("cluster-announce-port", "0"),
        ("cluster-announce-tls-port", "0"),
        ("cluster-config-file", "nodes.conf"),
        ("cluster-enabled", "no"),
        ("cluster-link-sendbuf-limit", "0"),
        ("cluster-migration-barrier", "1"),
        ("cluster-node-timeout", "15000"),
        ("cluster-port", "0"),
        ("cluster-preferred-endpoint-type", "ip"),
        ("cluster-replica-no-failover", "no"),
        ("cluster-replica-validity-factor", "10"),
        ("cluster-require-full-coverage", "yes"),
        ("crash-log-enabled", "yes"),
        ("crash-memcheck-enabled", "yes"),
        ("disable-thp", "yes"),
        ("dynamic-hz", "yes"),
        // Redis 7.0's default is `no`; strata's DEBUG RELOAD is its recovery on demand
        // (and DEBUG SLEEP a test aid), so they work from the machine itself by default and
        // stay refused to remote clients.
        ("enable-debug-command", "local"),
        ("enable-module-command", "no"),
        ("enable-protected-configs", "no"),
        ("ignore-warnings", ""),
        ("io-threads-do-reads", "no"),
        ("jemalloc-bg-thread", "yes"),
        ("no-appendfsync-on-rewrite", "no"),
        ("oom-score-adj", "no"),
        ("oom-score-adj-values", "0 200 800"),
        ("pidfile", ""),
        ("proc-title-template", "{title} {listen-addr} {server-mode}"),
        ("propagation-error-behavior", "ignore"),
        ("rdb-del-sync-files", "no"),
        ("rdb-save-incremental-fsync", "yes"),
        ("rdbchecksum", "yes"),
        ("rdbcompression", "yes"),
        ("repl-backlog-ttl", "3600"),
        ("repl-disable-tcp-nodelay", "no"),
        ("repl-diskless-load", "disabled"),
        ("repl-diskless-sync", "yes"),
        ("repl-diskless-sync-delay", "5"),
        ("repl-diskless-sync-max-replicas", "0"),
        ("replica-announce-ip", ""),
        ("replica-announce-port", "0"),
        ("replica-announced", "yes"),
        ("replica-ignore-disk-write-errors", "no"),
        ("replica-ignore-maxmemory", "yes"),
        ("replica-lazy-flush", "no"),
        ("replica-priority", "100"),
        ("sanitize-dump-payload", "no"),
        ("server_cpulist", ""),
        ("set-proc-title", "yes"),
        ("shutdown-on-sigint", "default"),
        ("shutdown-on-sigterm", "default"),
        ("shutdown-timeout", "10"),
        ("socket-mark-id", "0"),
        ("stop-writes-on-bgsave-error", "yes"),
        ("supervised", "no"),
        ("syslog-enabled", "no"),
        ("syslog-facility", "local0"),
        ("syslog-ident", "redis"),
        ("tls-auth-clients", "yes"),
        ("tls-ca-cert-dir", ""),
        ("tls-ca-cert-file", ""),
        ("tls-cert-file", ""),
        ("tls-ciphers", ""),
        ("tls-ciphersuites", ""),
        ("tls-client-cert-file", ""),
        ("tls-client-key-file", ""),
        ("tls-client-key-file-pass", ""),
        ("tls-cluster", "no"),
        ("tls-dh-params-file", ""),
        ("tls-key-file", ""),
        ("tls-key-file-pass", ""),
        ("tls-port", "0"),
        ("tls-prefer-server-ciphers", "no"),
        ("tls-protocols", ""),
        ("tls-replication", "no"),
        ("tls-session-cache-size", "20480"),
        ("tls-session-cache-timeout", "300"),
        ("tls-session-caching", "yes"),
        ("unixsocket", ""),
        ("unixsocketperm", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// Directives CONFIG GET shows only when asked for by name (Redis's `HIDDEN_CONFIG`).
const HIDDEN: &[&str] = &[
    "key-load-delay",
    "rdb-key-save-delay",
    "loading-process-events-interval-bytes",
    "use-exit-on-panic",
    "watchdog-period",
];

/// Old names Redis still accepts, and the directive each names.
const ALIASES: &[(&str, &str)] = &[
    ("lua-time-limit", "busy-reply-threshold"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slave-read-only", "replica-read-only"),
    ("slaveof", "replicaof"),
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
    (
        "cluster-slave-validity-factor",
        "cluster-replica-validity-factor",
    ),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-priority", "replica-priority"),
];

/// Redis's save points when no `save` line is given: after an hour if anything changed,
/// 5 minutes if 100 keys did, 1 minute if 10000 did.
pub const DEFAULT_SAVE: &str = "3600 1 300 100 60 10000";

/// The save points of a `save` value (pairs of seconds and changes), normalized to single
/// spaces; None unless it is pairs of non-negative integers (Redis: "Invalid save
/// parameters").
pub fn save_points(value: &str) -> Option<Vec<(u64, u64)>> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return None;
    }
    words
        .chunks(2)
        .map(|p| {
            // Redis: at least 1 second, at least 0 changes.
            let secs = p[0].parse::<u64>().ok().filter(|&s| s >= 1)?;
            Some((secs, p[1].parse::<u64>().ok()?))
        })
        .collect()
}

fn default_extra() -> Vec<(&'static str, String)> {
    [
        ("save", DEFAULT_SAVE),
        ("appendonly", "yes"),
        ("appendfilename", "appendonly.aof"),
        ("appenddirname", "appendonlydir"),
        ("dbfilename", "dump.rdb"),
        ("daemonize", "no"),
        ("protected-mode", "yes"),
        ("tcp-keepalive", "300"),
        ("tcp-backlog", "511"),
        ("logfile", ""),
        ("auto-aof-rewrite-percentage", "100"),
        ("auto-aof-rewrite-min-size", "67108864"),
        ("slowlog-log-slower-than", "10000"),
        ("slowlog-max-len", "128"),
        ("lua-time-limit", "5000"),
        ("busy-reply-threshold", "5000"),
        ("latency-tracking", "yes"),
        ("latency-tracking-info-percentiles", "50 99 99.9"),
        ("repl-ping-replica-period", "10"),
        ("repl-timeout", "60"),
        ("repl-backlog-size", "1048576"),
        ("min-replicas-to-write", "0"),
        ("min-replicas-max-lag", "10"),
        ("replica-serve-stale-data", "yes"),
        ("replica-read-only", "yes"),
        ("stream-node-max-entries", "100"),
        ("stream-node-max-bytes", "4096"),
        ("list-compress-depth", "0"),
        ("latency-monitor-threshold", "0"),
        ("tracking-table-max-keys", "1000000"),
        ("acllog-max-len", "128"),
        ("maxmemory-clients", "0"),
        ("aof-use-rdb-preamble", "yes"),
        ("masterauth", ""),
        ("masteruser", ""),
        ("aclfile", ""),
        ("acl-pubsub-default", "resetchannels"),
        ("io-threads", "1"),
        ("replicaof", ""),
        ("key-load-delay", "0"),
        ("rdb-key-save-delay", "0"),
        ("loading-process-events-interval-bytes", "2097152"),
        ("use-exit-on-panic", "no"),
        ("watchdog-period", "0"),
        (
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .chain(redis_only_defaults())
    .collect()
}

impl Config {
    /// The defaults with DEBUG allowed (the unit tests' command kits use it).
    #[cfg(test)]
    pub fn for_tests() -> Config {
        let mut c = Config::default();
        c.set("enable-debug-command", "yes", false)
            .expect("valid directive");
        c
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // Redis's: every IPv4 and (if the host has it) IPv6 address; protected mode
            // serves only local clients until the default user has a password.
            bind: vec!["*".into(), "-::*".into()],
            port: 6379,
            dir: PathBuf::from("./strata-data"),
            appendfsync: Appendfsync::Always,
            requirepass: String::new(),
            maxclients: 10000,
            databases: 16,
            timeout: 0,
            loglevel: "notice".into(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            segment_size: 64 * 1024 * 1024,
            hz: 10,
            active_expire_effort: 1,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            hll_sparse_max_bytes: 3000,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            notify_keyspace_events: 0,
            maxmemory: 0,
            maxmemory_policy: MaxmemoryPolicy::NoEviction,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            lazyfree_lazy_user_del: false,
            extra: default_extra(),
            users: Vec::new(),
            save_given: false,
            rename_commands: Vec::new(),
        }
    }
}

/// `shutdown-on-sigint` / `shutdown-on-sigterm`: flags among save, nosave, now, force
/// (or `default`, none), listed back in that order as Redis does; None if empty or
/// unknown.
fn shutdown_flags(value: &str) -> Option<String> {
    const FLAGS: [&str; 4] = ["save", "nosave", "now", "force"];
    let words: Vec<String> = value
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    if words.is_empty() {
        return None;
    }
    let mut on = [false; 4];
    for w in &words {
        match FLAGS.iter().position(|f| f == w) {
            Some(i) => on[i] = true,
            None if w == "default" => {}
            None => return None,
        }
    }
    let out: Vec<&str> = FLAGS
        .iter()
        .zip(on)
        .filter(|(_, b)| *b)
        .map(|(f, _)| *f)
        .collect();
    Some(if out.is_empty() {
        "default".to_string()
    } else {
        out.join(" ")
    })
}

/// `client-output-buffer-limit` as Redis 7.0 takes it: groups of `<class> <hard> <soft>
/// <soft_seconds>` (class normal, replica/slave or pubsub; memory values with units)
/// applied over `current`; the result lists all three classes in bytes, as CONFIG GET
/// shows them. Errors are Redis's texts.
pub fn output_buffer_limits(current: &str, value: &str) -> Result<String, &'static str> {
    const CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
    let mut limits = [[0u64; 3]; 3];
    let cur: Vec<&str> = current.split_whitespace().collect();
    for g in cur.chunks_exact(4) {
        if let Some(i) = CLASSES.iter().position(|c| g[0].eq_ignore_ascii_case(c)) {
            for k in 0..3 {
                limits[i][k] = parse_memory(g[k + 1]).unwrap_or(0);
            }
        }
    }
    let args: Vec<&str> = value.split_whitespace().collect();
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.");
    }
    for g in args.chunks_exact(4) {
        let class = g[0].to_ascii_lowercase();
        let i = match class.as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => return Err("Invalid client class specified in buffer limit configuration."),
        };
        let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(g[1]).ok_or(bad)?;
        let soft = parse_memory(g[2]).ok_or(bad)?;
        let secs = g[3]
            .parse::<i64>()
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or(bad)?;
        limits[i] = [hard, soft, secs];
    }
    Ok(CLASSES
        .iter()
        .zip(limits)
        .map(|(c, [h, s, t])| format!("{c} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// Parse a memory amount with Redis's units: `b`, `k`/`kb`, `m`/`mb`, `g`/`gb` (case-insensitive;
/// `k` = 1000, `kb` = 1024). A bare number is bytes; no digits at all is 0, as in Redis.
pub fn parse_memory(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    let split = l.find(|c: char| !c.is_ascii_digit()).unwrap_or(l.len());
    let (num, unit) = l.split_at(split);
    // Redis's `memtoull` reads no digits as 0 (`""` and a bare unit are 0 bytes).
    let n: u64 = if num.is_empty() { 0 } else { num.parse().ok()? };
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn parse_bool(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Some("yes"),
        "no" => Some("no"),
        _ => None,
    }
}

/// Why a directive could not be applied (CONFIG SET and startup both report it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No such directive.
    Unknown(String),
    /// The directive cannot be changed at runtime.
    Immutable(String),
    /// The value is not valid for the directive: (name, reason).
    BadValue(String, String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Unknown(n) => write!(f, "unknown directive '{n}'"),
            ConfigError::Immutable(n) => write!(f, "'{n}' can't be changed at runtime"),
            ConfigError::BadValue(n, why) => write!(f, "bad value for '{n}': {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The reason alone, in Redis's words, as its FATAL CONFIG FILE ERROR report prints it
    /// under the offending line.
    pub fn reason(&self) -> String {
        match self {
            ConfigError::Unknown(_) => "Bad directive or wrong number of arguments".into(),
            ConfigError::Immutable(n) => format!("'{n}' can't be changed at runtime"),
            ConfigError::BadValue(_, why) => why.clone(),
        }
    }
}

/// A config file line or command-line option that could not be applied: the line as
/// Redis shows it (`name "arg" ...`), its number (None for the command line) and why.
#[derive(Debug)]
pub struct LoadError {
    /// 1-based line number in the file; None for a command-line option.
    pub line: Option<usize>,
    /// The offending line, Redis's way (`port "6379" "6380"`).
    pub text: String,
    /// Why, in Redis's words where it has them.
    pub reason: String,
}

impl LoadError {
    /// Redis's report for a bad configuration (`*** FATAL CONFIG FILE ERROR ***`, the
    /// line after `>>>`, then the reason).
    pub fn report(&self, source: &str) -> String {
        let at = match self.line {
            Some(n) => format!("Reading the configuration file {source}, at line {n}"),
            None => "Reading the command line arguments".to_string(),
        };
        format!(
            "\n*** FATAL CONFIG FILE ERROR (strata {}) ***\n{at}\n>>> '{}'\n{}",
            crate::STRATA_VERSION,
            self.text,
            self.reason
        )
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "line {n}: '{}': {}", self.text, self.reason),
            None => write!(f, "'{}': {}", self.text, self.reason),
        }
    }
}

/// `name` then each argument quoted as Redis's `sdscatrepr` quotes it.
pub fn repr_line(name: &str, args: &[String]) -> String {
    let mut out = name.to_string();
    for a in args {
        out.push_str(" \"");
        for b in a.bytes() {
            match b {
                b'\\' => out.push_str("\\\\"),
                b'"' => out.push_str("\\\""),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x07 => out.push_str("\\a"),
                0x08 => out.push_str("\\b"),
                0x20..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\x{b:02x}")),
            }
        }
        out.push('"');
    }
    out
}

/// Directives that take any number of arguments (Redis's MULTI_ARG_CONFIG ones, and
/// `user`); every other one takes exactly one (`replicaof` two).
const MULTI_ARG: &[&str] = &[
    "save",
    "bind",
    "client-output-buffer-limit",
    "oom-score-adj-values",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "latency-tracking-info-percentiles",
    "user",
];

fn find(name: &str) -> Option<&'static Directive> {
    let name = name.to_ascii_lowercase();
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name.as_str(), |(_, canonical)| canonical);
    DIRECTIVES.iter().chain(REDIS_ONLY).find(|d| d.name == name)
}

impl Config {
    /// Every directive name, in table order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        DIRECTIVES.iter().chain(REDIS_ONLY).map(|d| d.name)
    }

    /// The directive `word` names, aliases resolved (`hash-max-ziplist-entries` is
    /// `hash-max-listpack-entries`), any case; None if it names none.
    pub fn canonical(word: &str) -> Option<&'static str> {
        find(word).map(|d| d.name)
    }

    /// The names a CONFIG GET pattern matches, as Redis: every directive but the hidden
    /// ones, and the old aliases too.
    pub fn listed_names() -> impl Iterator<Item = &'static str> {
        Config::names().filter(|n| !HIDDEN.contains(n)).chain(
            ALIASES
                .iter()
                .map(|(alias, _)| *alias)
                .filter(|a| !Config::names().any(|n| n == *a)),
        )
    }

    /// `(name, help)` for `--help`.
    pub fn help() -> impl Iterator<Item = (&'static str, &'static str)> {
        DIRECTIVES.iter().map(|d| (d.name, d.help))
    }

    /// The current value of a directive as CONFIG GET shows it.
    pub fn get(&self, name: &str) -> Option<String> {
        let d = find(name)?;
        Some(match d.name {
            "bind" => self.bind.join(" "),
            "port" => self.port.to_string(),
            "dir" => std::fs::canonicalize(&self.dir)
                .unwrap_or_else(|_| self.dir.clone())
                .display()
                .to_string(),
            "appendfsync" => self.appendfsync.name().into(),
            "requirepass" => self.requirepass.clone(),
            "maxclients" => self.maxclients.to_string(),
            "databases" => self.databases.to_string(),
            "timeout" => self.timeout.to_string(),
            "loglevel" => self.loglevel.clone(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "segment-size" => self.segment_size.to_string(),
            "hz" => self.hz.to_string(),
            "active-expire-effort" => self.active_expire_effort.to_string(),
            "hash-max-listpack-entries" => self.hash_max_listpack_entries.to_string(),
            "hash-max-listpack-value" => self.hash_max_listpack_value.to_string(),
            "set-max-intset-entries" => self.set_max_intset_entries.to_string(),
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes.to_string(),
            "zset-max-listpack-entries" => self.zset_max_listpack_entries.to_string(),
            "zset-max-listpack-value" => self.zset_max_listpack_value.to_string(),
            "list-max-listpack-size" => self.list_max_listpack_size.to_string(),
            "notify-keyspace-events" => notify::format(self.notify_keyspace_events),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => self.maxmemory_policy.name().into(),
            "maxmemory-samples" => self.maxmemory_samples.to_string(),
            "maxmemory-eviction-tenacity" => self.maxmemory_eviction_tenacity.to_string(),
            "lfu-log-factor" => self.lfu_log_factor.to_string(),
            "lfu-decay-time" => self.lfu_decay_time.to_string(),
            "lazyfree-lazy-user-del" => yes_no(self.lazyfree_lazy_user_del).into(),
            other => self
                .extra
                .iter()
                .find(|(k, _)| *k == other)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        })
    }

    /// Set a directive. `runtime` = CONFIG SET (immutable directives refused).
    pub fn set(&mut self, name: &str, value: &str, runtime: bool) -> Result<(), ConfigError> {
        if name.eq_ignore_ascii_case("user") && !runtime {
            self.users.push(value.to_string());
            return Ok(());
        }
        let d = find(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        if runtime && d.name == "dir" {
            return Err(ConfigError::BadValue(
                d.name.to_string(),
                "can't set protected config".into(),
            ));
        }
        if runtime && !d.mutable {
            return Err(ConfigError::Immutable(d.name.to_string()));
        }
        let bad = |why: &str| ConfigError::BadValue(d.name.to_string(), why.to_string());
        // Validate by kind first.
        let normalized: String = match d.kind {
            Kind::Int(lo, hi) => {
                // Redis's `string2ll`: no `+`, no leading zeros, no "-0".
                let n = crate::int::parse_i64(value.as_bytes())
                    .ok_or_else(|| bad("argument couldn't be parsed into an integer"))?;
                let n = u64::try_from(n).map_err(|_| {
                    bad(&format!("argument must be between {lo} and {hi} inclusive"))
                })?;
                if n < lo || n > hi {
                    return Err(bad(&format!(
                        "argument must be between {lo} and {hi} inclusive"
                    )));
                }
                n.to_string()
            }
            Kind::SignedInt(lo, hi) => {
                let n = crate::int::parse_i64(value.as_bytes())
                    .ok_or_else(|| bad("argument couldn't be parsed into an integer"))?;
                if n < lo || n > hi {
                    return Err(bad(&format!(
                        "argument must be between {lo} and {hi} inclusive"
                    )));
                }
                n.to_string()
            }
            Kind::Memory => parse_memory(value)
                .ok_or_else(|| bad("argument must be a memory value"))?
                .to_string(),
            Kind::MemRange(lo, hi) => {
                let n =
                    parse_memory(value).ok_or_else(|| bad("argument must be a memory value"))?;
                if n < lo || n > hi {
                    return Err(bad(&format!(
                        "argument must be between {lo} and {hi} inclusive"
                    )));
                }
                n.to_string()
            }
            Kind::Bool => parse_bool(value)
                .ok_or_else(|| bad("argument must be 'yes' or 'no'"))?
                .to_string(),
            Kind::Percentiles => {
                let mut out = Vec::new();
                for w in value.split_whitespace() {
                    let p: f64 =
                        w.parse()
                            .ok()
                            .filter(|p: &f64| p.is_finite())
                            .ok_or_else(|| {
                                bad("Invalid latency-tracking-info-percentiles parameters")
                            })?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err(bad(
                            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
                        ));
                    }
                    out.push(p.to_string());
                }
                out.join(" ")
            }
            Kind::MemOrPercent => match parse_memory(value) {
                Some(n) => n.to_string(),
                None => {
                    let pct = value
                        .strip_suffix('%')
                        .filter(|p| !p.is_empty())
                        .and_then(|p| p.parse::<i64>().ok())
                        .filter(|&p| p >= 0)
                        .ok_or_else(|| bad("argument must be a memory or percent value"))?;
                    if pct > 100 {
                        return Err(bad("percentage argument must be less or equal to 100"));
                    }
                    format!("{pct}%")
                }
            },
            Kind::Enum(opts) => {
                let l = value.to_ascii_lowercase();
                if !opts.contains(&l.as_str()) {
                    return Err(bad("argument(s) must be one of the following: "
                        .to_string()
                        .as_str())
                    .with_opts(opts));
                }
                l
            }
            Kind::Str if d.name == "oom-score-adj-values" => {
                let v: Vec<&str> = value.split_whitespace().collect();
                if v.len() != 3 {
                    return Err(bad("wrong number of arguments"));
                }
                let mut out = Vec::new();
                for w in v {
                    let n = w
                        .parse::<i64>()
                        .ok()
                        .filter(|n| (-2000..=2000).contains(n))
                        .ok_or_else(|| {
                            bad("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
                        })?;
                    out.push(n.to_string());
                }
                out.join(" ")
            }
            Kind::Str if d.name.starts_with("shutdown-on-sig") => shutdown_flags(value)
                .ok_or_else(|| {
                    bad("argument(s) must be one of the following: default, save, nosave, now, force")
                })?,
            Kind::Str if d.name == "save" => save_points(value)
                .ok_or_else(|| bad("Invalid save parameters"))?
                .iter()
                .map(|(secs, changes)| format!("{secs} {changes}"))
                .collect::<Vec<_>>()
                .join(" "),
            Kind::Str if d.name == "cluster-announce-hostname" => {
                if value.len() >= 256 {
                    return Err(bad("Hostnames must be less than 256 characters"));
                }
                if !value
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
                {
                    return Err(bad(
                        "Hostnames may only contain alphanumeric characters, hyphens or dots",
                    ));
                }
                value.to_string()
            }
            Kind::Str if d.name == "client-output-buffer-limit" => {
                let current = self.get(d.name).unwrap_or_default();
                output_buffer_limits(&current, value).map_err(bad)?
            }
            Kind::Str => value.to_string(),
        };
        let num = || normalized.parse::<u64>().unwrap_or(0);
        match d.name {
            "bind" => self.bind = normalized.split_whitespace().map(str::to_string).collect(),
            "port" => self.port = u16::try_from(num()).map_err(|_| bad("port out of range"))?,
            "dir" => self.dir = PathBuf::from(normalized),
            "appendfsync" => {
                self.appendfsync =
                    Appendfsync::parse(&normalized).ok_or_else(|| bad("bad policy"))?
            }
            "requirepass" => self.requirepass = normalized,
            "maxclients" => self.maxclients = num(),
            "databases" => self.databases = num(),
            "timeout" => self.timeout = num(),
            "loglevel" => self.loglevel = normalized,
            "proto-max-bulk-len" => self.proto_max_bulk_len = num(),
            "client-query-buffer-limit" => self.client_query_buffer_limit = num(),
            "segment-size" => {
                if num() < 4096 {
                    return Err(bad("segment-size must be at least 4096 bytes"));
                }
                self.segment_size = num()
            }
            "hz" => self.hz = num().clamp(1, 500),
            "active-expire-effort" => self.active_expire_effort = num(),
            "hash-max-listpack-entries" => self.hash_max_listpack_entries = num(),
            "hash-max-listpack-value" => self.hash_max_listpack_value = num(),
            "set-max-intset-entries" => self.set_max_intset_entries = num(),
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes = num(),
            "zset-max-listpack-entries" => self.zset_max_listpack_entries = num(),
            "zset-max-listpack-value" => self.zset_max_listpack_value = num(),
            "list-max-listpack-size" => {
                self.list_max_listpack_size = normalized.parse().unwrap_or(-2)
            }
            "notify-keyspace-events" => {
                self.notify_keyspace_events = notify::parse(&normalized)
                    .ok_or_else(|| bad("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."))?
            }
            "maxmemory" => self.maxmemory = num(),
            "maxmemory-policy" => {
                self.maxmemory_policy =
                    MaxmemoryPolicy::parse(&normalized).ok_or_else(|| bad("bad policy"))?
            }
            "maxmemory-samples" => self.maxmemory_samples = num(),
            "maxmemory-eviction-tenacity" => self.maxmemory_eviction_tenacity = num(),
            "lfu-log-factor" => self.lfu_log_factor = num(),
            "lfu-decay-time" => self.lfu_decay_time = num(),
            "lazyfree-lazy-user-del" => self.lazyfree_lazy_user_del = normalized == "yes",
            "tls-port" if normalized != "0" => {
                return Err(bad("TLS is not supported (put a TLS proxy in front)"))
            }
            "cluster-enabled" if normalized == "yes" => {
                return Err(bad("cluster mode is not supported"))
            }
            // As a Redis without TLS set up answers (strata serves no TLS).
            "tls-cluster" | "tls-replication" if normalized == "yes" && runtime => {
                return Err(bad("Unable to update TLS configuration. Check server logs."))
            }
            // strata has no active defragmentation: refused as by a Redis built without
            // it (Debian's), so clients and tests that try it see it is not there.
            // (At run time only: a redis.conf with it still loads, as before.)
            "activedefrag" if normalized == "yes" && runtime => {
                return Err(bad("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"))
            }
            // Redis keeps a backlog of at least 16 KiB.
            "repl-backlog-size" if runtime && num() < 16 * 1024 => {
                self.store_extra(d.name, "16384")
            }
            // Redis's watchdog never fires more often than two server ticks.
            "watchdog-period" if runtime && num() > 0 && num() < self.watchdog_floor() => {
                let floor = self.watchdog_floor().to_string();
                self.store_extra(d.name, &floor)
            }
            other => self.store_extra(other, &normalized),
        }
        Ok(())
    }

    /// Keep the value of a directive strata only reports (CONFIG GET, CONFIG REWRITE).
    fn store_extra(&mut self, name: &str, value: &str) {
        if let Some(slot) = self.extra.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value.to_string();
        }
    }

    /// The shortest `watchdog-period` Redis keeps: two ticks of `hz`, in milliseconds.
    fn watchdog_floor(&self) -> u64 {
        (1000 / self.hz.max(1)) * 2
    }

    /// Apply one config-file line or command-line option, `name` and its arguments, as
    /// Redis's loader does: a directive of one argument given another number is "wrong
    /// number of arguments"; `replicaof` checks its port first.
    pub fn set_args(&mut self, name: &str, args: &[String]) -> Result<(), ConfigError> {
        let lname = name.to_ascii_lowercase();
        let wrong = || ConfigError::BadValue(name.to_string(), "wrong number of arguments".into());
        if lname == "replicaof" || lname == "slaveof" {
            if args.len() != 2 {
                return Err(ConfigError::Unknown(name.to_string()));
            }
            if args[1].parse::<u16>().is_err() {
                return Err(ConfigError::BadValue(
                    name.to_string(),
                    "Invalid master port".into(),
                ));
            }
            return self.set(name, &args.join(" "), false);
        }
        if lname == "rename-command" {
            let [from, to] = args else {
                return Err(ConfigError::Unknown(name.to_string()));
            };
            self.rename_commands.push(RenameCommand {
                from: from.clone(),
                to: to.clone(),
                line: None,
                text: repr_line(name, args),
            });
            return Ok(());
        }
        if find(&lname).is_none() && lname != "user" {
            return Err(ConfigError::Unknown(name.to_string()));
        }
        let multi = MULTI_ARG.contains(&lname.as_str());
        if !multi && args.len() != 1 {
            return Err(wrong());
        }
        if lname == "save" {
            // Redis's loading: the first `save` line replaces the built-in points, later
            // ones add to it, and `save ""` clears all.
            let given = args.join(" ");
            let value = match self.get("save") {
                Some(now) if self.save_given && !given.trim().is_empty() => {
                    format!("{now} {given}")
                }
                _ => given,
            };
            self.save_given = true;
            return self.set(name, &value, false);
        }
        self.set(name, &args.join(" "), false)
    }

    /// Apply a redis.conf-style text: one `name value…` per line, `#` comments,
    /// quoted values allowed, `include` lines (see [`Config::include`]).
    pub fn apply_file_text(&mut self, text: &str) -> Result<(), LoadError> {
        self.apply_text_at(text, 0)
    }

    fn apply_text_at(&mut self, text: &str, depth: usize) -> Result<(), LoadError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let args = crate_split(line).ok_or_else(|| LoadError {
                line: Some(i + 1),
                text: line.to_string(),
                reason: "Unbalanced quotes in configuration line".into(),
            })?;
            let Some((name, rest)) = args.split_first() else {
                continue;
            };
            if name.eq_ignore_ascii_case("include") {
                self.include(rest, depth).map_err(|reason| LoadError {
                    line: Some(i + 1),
                    text: line.to_string(),
                    reason,
                })?;
                continue;
            }
            self.set_args(name, rest).map_err(|e| LoadError {
                line: Some(i + 1),
                text: line.to_string(),
                reason: e.reason(),
            })?;
            if name.eq_ignore_ascii_case("rename-command") {
                if let Some(r) = self.rename_commands.last_mut() {
                    r.line = Some(i + 1);
                    r.text = line.to_string();
                }
            }
        }
        Ok(())
    }
}

/// Included files nested deeper than this are refused (a file that includes itself).
const MAX_INCLUDE_DEPTH: usize = 16;

impl Config {
    /// `include PATH`, as Redis 7.0: the file's directives apply at that point, in order
    /// (later lines override earlier ones, the including file's included); a file that
    /// cannot be read is a fatal error. A path whose file name holds `*`, `?` or `[` is a
    /// glob pattern: every matching file, in name order (none: nothing), as Redis expands
    /// it with glob(3) (whose wildcards strata takes in the last path component only).
    /// `args`: the line's arguments (one path); `depth`: how many includes lead here (0
    /// for the command line's `--include`).
    pub fn include(&mut self, args: &[String], depth: usize) -> Result<(), String> {
        let [path] = args else {
            return Err("Bad directive or wrong number of arguments".into());
        };
        let path = path.as_str();
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(format!(
                "include nested more than {MAX_INCLUDE_DEPTH} deep at '{path}'"
            ));
        }
        let (dir, file) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        let wild = |s: &str| s.contains(['*', '?', '[']);
        let files = if wild(file) {
            if wild(dir) {
                return Err(format!(
                    "include '{path}': glob patterns are supported in the file name only"
                ));
            }
            let listed = std::fs::read_dir(if dir.is_empty() { "." } else { dir });
            let mut names: Vec<String> = listed
                .map(|it| {
                    it.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        // (glob(3): a leading dot is matched by a leading dot only.)
                        .filter(|n| !n.starts_with('.') || file.starts_with('.'))
                        .filter(|n| crate::glob::glob_match(file.as_bytes(), n.as_bytes(), false))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names.into_iter().map(|n| format!("{dir}{n}")).collect()
        } else {
            vec![path.to_string()]
        };
        for f in files {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| format!("Fatal error, can't open config file '{f}': {e}"))?;
            self.apply_text_at(&text, depth + 1)
                .map_err(|e| format!("in included file '{f}', {e}"))?;
        }
        Ok(())
    }
}

/// Keyspace notification classes (`notify-keyspace-events`), Redis's `NOTIFY_*` bits.
pub mod notify {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME…).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: expired events.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: evicted events.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key misses.
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module key types.
    pub const MODULE: u32 = 1 << 12;
    /// `n`: new keys.
    pub const NEW: u32 = 1 << 13;
    /// `A`: alias for `g$lshzxetd`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// The bit of one class character (`g`, `$`, `l`, …, `n`, `K`, `E`); 0 if unknown.
    pub fn class_bit(c: char) -> u32 {
        match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => 0,
        }
    }

    /// Parse a class string as Redis does (case-sensitive; any other character = None).
    pub fn parse(s: &str) -> Option<u32> {
        s.chars().try_fold(0, |acc, c| match class_bit(c) {
            0 => None,
            b => Some(acc | b),
        })
    }

    /// The canonical string Redis prints for `flags` (`A` hides `n`, as Redis 7.0 does).
    pub fn format(flags: u32) -> String {
        let mut s = String::new();
        if flags & ALL == ALL {
            s.push('A');
        } else {
            for c in "g$lshzxetdn".chars() {
                if flags & class_bit(c) != 0 {
                    s.push(c);
                }
            }
        }
        for c in "KEm".chars() {
            if flags & class_bit(c) != 0 {
                s.push(c);
            }
        }
        s
    }
}

trait WithOpts {
    fn with_opts(self, opts: &[&str]) -> Self;
}

impl WithOpts for ConfigError {
    fn with_opts(self, opts: &[&str]) -> Self {
        match self {
            ConfigError::BadValue(n, why) => {
                ConfigError::BadValue(n, format!("{why}{}", opts.join(", ")))
            }
            other => other,
        }
    }
}

/// Split a config line into words, honouring double and single quotes.
pub(crate) fn crate_split(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                has = true;
            }
            None if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            None => cur.push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A redis.conf written for Redis 7.0 (these lines are Redis's own test default.conf)
    /// loads; asking for TLS, cluster mode or a Unix socket is refused by name.
    #[test]
    fn a_redis_conf_loads() {
        let text = "always-show-logo yes\nnotify-keyspace-events KEA\ndaemonize no\n\
                    pidfile /var/run/redis.pid\nport 6379\ntimeout 0\nbind 127.0.0.1\n\
                    loglevel verbose\nlogfile ''\ndatabases 16\n\
                    latency-monitor-threshold 1\nrepl-diskless-sync-delay 0\nsave 900 1\n\
                    rdbcompression yes\ndbfilename dump.rdb\ndir ./\n\
                    slave-serve-stale-data yes\nappendonly no\nappendfsync everysec\n\
                    no-appendfsync-on-rewrite no\nactiverehashing yes\n\
                    enable-protected-configs yes\nenable-debug-command yes\n\
                    enable-module-command yes\npropagation-error-behavior panic\n\
                    tls-port 0\ncluster-enabled no\n";
        let mut c = Config::default();
        c.apply_file_text(text).unwrap();
        assert_eq!(c.get("rdbcompression").as_deref(), Some("yes"));
        assert_eq!(
            c.get("propagation-error-behavior").as_deref(),
            Some("panic")
        );
        assert_eq!(c.appendfsync, Appendfsync::Everysec);
        for bad in [
            "tls-port 6380\n",
            "cluster-enabled yes\n",
            "propagation-error-behavior sometimes\n",
            "activerehashing maybe\n",
        ] {
            assert!(Config::default().apply_file_text(bad).is_err(), "{bad}");
        }
        let mut c = Config::default();
        c.apply_file_text("unixsocket /tmp/r.sock\nunixsocketperm 700\n")
            .expect("unixsocket");
        assert_eq!(c.get("unixsocket").as_deref(), Some("/tmp/r.sock"));
    }

    /// CONFIG SET client-output-buffer-limit as Redis 7.0: groups of four applied over
    /// the current limits, all three classes listed back in bytes; Redis's error texts.
    #[test]
    fn output_buffer_limits_parse() {
        let mut c = Config::default();
        c.set(
            "client-output-buffer-limit",
            "normal 1mb 2mb 60 replica 3mb 4mb 70 pubsub 5mb 6mb 80",
            true,
        )
        .expect("set");
        assert_eq!(
            c.get("client-output-buffer-limit").as_deref(),
            Some("normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 5242880 6291456 80")
        );
        c.set("client-output-buffer-limit", "pubsub 100000 0 0", true)
            .expect("set");
        assert_eq!(
            c.get("client-output-buffer-limit").as_deref(),
            Some("normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 100000 0 0")
        );
        for (v, err) in [
            ("wrong number", "Wrong number of arguments"),
            ("invalid_class 10mb 10mb 60", "Invalid client class"),
            ("master 10mb 10mb 60", "Invalid client class"),
            (
                "normal 10mbs 10mb 60",
                "Error in hard, soft or soft_seconds",
            ),
            (
                "replica 10mb 10mbs 60",
                "Error in hard, soft or soft_seconds",
            ),
            (
                "pubsub 10mb 10mb 60s",
                "Error in hard, soft or soft_seconds",
            ),
        ] {
            let e = c
                .set("client-output-buffer-limit", v, true)
                .expect_err(v)
                .to_string();
            assert!(e.contains(err), "{v}: {e}");
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100mb"), Some(100 * 1024 * 1024));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(parse_memory("1tb"), None);
    }

    #[test]
    fn set_and_get() {
        let mut c = Config::default();
        c.set("appendfsync", "everysec", true).unwrap();
        assert_eq!(c.get("APPENDFSYNC").unwrap(), "everysec");
        assert!(matches!(
            c.set("nope", "1", true),
            Err(ConfigError::Unknown(_))
        ));
        assert!(matches!(
            c.set("databases", "1", true),
            Err(ConfigError::Immutable(_))
        ));
        assert!(matches!(
            c.set("maxclients", "x", true),
            Err(ConfigError::BadValue(..))
        ));
        c.set("lua-time-limit", "100", true).unwrap();
        assert_eq!(c.get("busy-reply-threshold").unwrap(), "100");
    }

    #[test]
    fn notify_keyspace_events_round_trip() {
        let mut c = Config::default();
        assert_eq!(c.get("notify-keyspace-events").unwrap(), "");
        for (set, get) in [
            ("KEA", "AKE"),
            ("Eg", "gE"),
            ("KEn", "nKE"),
            ("An", "A"),
            ("g$lshzxetdm", "Am"),
            ("Kx", "xK"),
            ("KEd", "dKE"),
            ("", ""),
        ] {
            c.set("notify-keyspace-events", set, true).unwrap();
            assert_eq!(c.get("notify-keyspace-events").unwrap(), get, "{set}");
        }
        c.set("notify-keyspace-events", "An", true).unwrap();
        assert_ne!(c.notify_keyspace_events & notify::NEW, 0);
        let e = c.set("notify-keyspace-events", "Kq", true).unwrap_err();
        assert_eq!(
            e,
            ConfigError::BadValue(
                "notify-keyspace-events".into(),
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()
            )
        );
        assert_eq!(c.get("notify-keyspace-events").unwrap(), "A");
    }

    #[test]
    fn file_text() {
        let mut c = Config::default();
        c.apply_file_text("# comment\nport 7000\nrequirepass \"a b\"\nsave \"\"\n")
            .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.requirepass, "a b");
        assert!(c.apply_file_text("bogus 1\n").is_err());
    }

    /// `save` loads as Redis's does: Redis's points unless a line gives some; the first
    /// line replaces them, later lines (file, then command line) add theirs, `save ""`
    /// clears all; CONFIG SET replaces; anything but pairs of integers is refused.
    #[test]
    fn save_points_load_as_redis_loads_them() {
        let save = |c: &Config| c.get("save").unwrap();
        let mut c = Config::default();
        assert_eq!(save(&c), "3600 1 300 100 60 10000");
        c.apply_file_text("save 900 1\n").unwrap();
        assert_eq!(save(&c), "900 1");
        c.set_args("save", &["100".into(), "100".into()]).unwrap();
        assert_eq!(save(&c), "900 1 100 100");
        c.set_args("save", &["".into()]).unwrap();
        assert_eq!(save(&c), "");
        c.apply_file_text("save 60   5\n").unwrap();
        assert_eq!(save(&c), "60 5");
        c.set("save", "10 1 20 2", true).unwrap();
        assert_eq!(save(&c), "10 1 20 2");
        for bad in ["10", "a 1", "10 -1", "1 2 3", "0 0", "0 5"] {
            let e = c.set("save", bad, true).unwrap_err();
            assert!(
                e.reason().contains("Invalid save parameters"),
                "{bad}: {e:?}"
            );
        }
        assert_eq!(save(&c), "10 1 20 2", "a refused value changes nothing");
        assert_eq!(save_points("10 1 20 2"), Some(vec![(10, 1), (20, 2)]));
    }

    /// `include` as Redis 7.0: the included directives apply where the line stands (later
    /// lines override them), a glob pattern takes its matches in name order (dot files
    /// only for a dot pattern; no match, nothing), and a file that cannot be read, a
    /// wrong argument count or a file including itself is an error.
    #[test]
    fn include_applies_files_in_place_and_globs_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join("conf.d")).unwrap();
        std::fs::write(d.join("conf.d/20-b.conf"), "hz 40\n").unwrap();
        std::fs::write(d.join("conf.d/10-a.conf"), "hz 50\nmaxmemory 5mb\n").unwrap();
        std::fs::write(d.join("conf.d/.hidden.conf"), "hz 60\n").unwrap();
        std::fs::write(d.join("conf.d/notes.txt"), "hz 70\n").unwrap();
        std::fs::write(d.join("one.conf"), "maxmemory 10mb\nhz 20\n").unwrap();
        let dir = d.display();

        let mut c = Config::default();
        c.apply_file_text(&format!("include {dir}/one.conf\nhz 30\n"))
            .unwrap();
        assert_eq!(c.get("hz").as_deref(), Some("30"), "a later line overrides");
        assert_eq!(c.get("maxmemory").as_deref(), Some("10485760"));

        let mut c = Config::default();
        c.apply_file_text(&format!("hz 30\ninclude {dir}/conf.d/*.conf\n"))
            .unwrap();
        assert_eq!(c.get("hz").as_deref(), Some("40"), "10-a, then 20-b");
        assert_eq!(c.get("maxmemory").as_deref(), Some("5242880"));
        let mut c = Config::default();
        c.apply_file_text(&format!("include {dir}/conf.d/.*.conf\n"))
            .unwrap();
        assert_eq!(c.get("hz").as_deref(), Some("60"));
        let mut c = Config::default();
        c.apply_file_text(&format!("include {dir}/conf.d/*.none\n"))
            .unwrap();
        assert_eq!(c.get("hz").as_deref(), Some("10"), "no match: nothing");

        let e = Config::default()
            .apply_file_text(&format!("port 7000\ninclude {dir}/missing.conf\n"))
            .unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.reason.contains("can't open config file"), "{e}");
        let e = Config::default()
            .apply_file_text("include a b\n")
            .unwrap_err();
        assert!(e.reason.contains("wrong number of arguments"), "{e}");
        std::fs::write(d.join("self.conf"), format!("include {dir}/self.conf\n")).unwrap();
        let e = Config::default()
            .apply_file_text(&format!("include {dir}/self.conf\n"))
            .unwrap_err();
        assert!(e.reason.contains("nested more than"), "{e}");
        std::fs::write(d.join("bad.conf"), "hz 20\nno-such-directive 1\n").unwrap();
        let e = Config::default()
            .apply_file_text(&format!("include {dir}/bad.conf\n"))
            .unwrap_err();
        assert!(
            e.reason.contains("bad.conf") && e.reason.contains("line 2"),
            "{e}"
        );
    }
}
