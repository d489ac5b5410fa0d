//! `Exec`: what a handler sees while it runs: the engine state (keyspace, clients, stats,
//! config), the calling client, the execution unit's clock reading, and the journal of
//! effects this unit will write as one log record. Also the `Env` trait through which
//! commands reach server services (persistence status, reload, shutdown) without
//! importing the server, and the argument-parsing helpers shared by handlers.

use bytes::Bytes;

use super::client::{Client, ClientTable};
use super::error::CmdError;
use crate::config::Config;
use crate::db::{Db, Entry, Keyspace};
use crate::resp::Reply;

/// Who is executing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A client command.
    Client,
    /// Log replay at startup or DEBUG RELOAD: no admission checks, no journaling, no expiry.
    Replay,
    /// A background job (active expiry).
    Internal,
}

/// Per-command statistics (INFO commandstats).
#[derive(Clone, Copy, Debug, Default)]
pub struct CmdStat {
    /// Calls.
    pub calls: u64,
    /// Total microseconds.
    pub usec: u64,
    /// Rejected before execution (arity, auth, MISCONF…).
    pub rejected_calls: u64,
    /// Returned an error.
    pub failed_calls: u64,
    /// LATENCY HISTOGRAM: calls by duration, bucket `k` = up to 2^k µs (longer ones in
    /// the last bucket).
    pub latency: [u32; LATENCY_BUCKETS],
}

/// Buckets of `CmdStat::latency` (up to 2^31 µs, about 36 minutes).
pub const LATENCY_BUCKETS: usize = 32;

impl CmdStat {
    /// Count one call of `nanos` nanoseconds in the latency histogram.
    pub fn record_latency(&mut self, nanos: u64) {
        // Bucket k holds durations in (2^(k-1), 2^k] µs, measured as 1024 ns "µs".
        let units = nanos.saturating_sub(1) >> 10;
        let k = (64 - units.leading_zeros()) as usize;
        let slot = &mut self.latency[k.min(LATENCY_BUCKETS - 1)];
        *slot = slot.saturating_add(1);
    }
}

/// Server-wide counters (INFO stats).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Commands processed.
    pub total_commands: u64,
    /// Connections accepted.
    pub total_connections: u64,
    /// Connections refused (maxclients).
    pub rejected_connections: u64,
    /// Keys expired.
    pub expired_keys: u64,
    /// The active expire cycle's estimate of the stale share of keys with a TTL, in
    /// percent (INFO `expired_stale_perc`).
    pub expired_stale_perc: f64,
    /// Active expire cycles that stopped at their time limit.
    pub expired_time_cap_reached_count: u64,
    /// Time the active expire cycle held the engine, in microseconds (INFO shows ms).
    pub expire_cycle_time_used_us: u64,
    /// Keys evicted under `maxmemory` (INFO stats `evicted_keys`).
    pub evicted_keys: u64,
    /// Successful key lookups.
    pub keyspace_hits: u64,
    /// Failed key lookups.
    pub keyspace_misses: u64,
    /// Error replies by code (INFO errorstats).
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Per-command stats indexed by command id.
    pub cmd: Vec<CmdStat>,
    /// Bytes read from clients.
    pub net_input_bytes: u64,
    /// [`Env::net_output_bytes`] at the last CONFIG RESETSTAT: INFO shows the bytes since.
    pub net_output_bytes: u64,
    /// Highest `used_memory` seen (INFO memory `used_memory_peak`).
    pub peak_memory: u64,
}

/// One logged command: the database it ran against and its canonical argv.
pub type JournalEntry = (u16, Vec<Bytes>);

/// One committed execution unit read back from the log: its timestamp and its commands.
pub type LoggedUnit = (i64, Vec<JournalEntry>);

/// Server services a command may need; implemented by the server.
pub trait Env {
    /// INFO persistence fields (`name`, `value`).
    fn persistence_info(&self) -> Vec<(String, String)>;
    /// Server facts for INFO server (`name`, `value`): pid, port, uptime, executable, config file.
    fn server_info(&self) -> Vec<(String, String)>;
    /// Bytes written to clients since startup (INFO `total_net_output_bytes`).
    fn net_output_bytes(&self) -> u64 {
        0
    }
    /// Memory the log's buffers hold (INFO `mem_aof_buffer`; not counted for maxmemory).
    fn log_buffered(&self) -> u64 {
        0
    }
    /// Memory full resync payloads being made and queued hold (not counted for maxmemory).
    fn resync_buffered(&self) -> u64 {
        0
    }
    /// Memory a background snapshot's buffers hold (not counted for maxmemory).
    fn snapshot_buffered(&self) -> u64 {
        0
    }
    /// `Some(reason)` when the log is latched after an I/O failure.
    fn log_failure(&self) -> Option<String>;
    /// Startup recovery is still loading the dataset: commands without Redis's `loading`
    /// flag are refused with -LOADING.
    fn loading(&self) -> bool {
        false
    }
    /// Wait until everything applied so far is durable, then read every committed unit after
    /// the snapshot (if any) back from disk: `(ts_ms, [(db, argv)])` in order. DEBUG RELOAD.
    fn read_back(&self) -> Result<Vec<LoggedUnit>, String>;
    /// Ask the server to stop (SHUTDOWN).
    fn shutdown(&self);
    /// Apply a changed config directive that needs action outside the state (appendfsync).
    fn config_changed(&self, name: &str, config: &Config);
    /// CONFIG SET bind / port: listen on `bind` × `port` instead (the old listeners close
    /// only once every new address is bound). Returns the port bound (0 picks one).
    fn listen(&self, _bind: &[String], port: u16) -> Result<u16, String> {
        Ok(port)
    }
    /// REPLICAOF: start replicating from `master` (host, port), after stopping the link
    /// to any previous one; None (REPLICAOF NO ONE) only stops it.
    fn replicate(&self, _master: Option<(String, u16)>) {}
    /// CONFIG SET maxclients: make room for that many connections (the open-files
    /// limit); returns how many fit.
    fn fit_clients(&self, maxclients: u64) -> u64 {
        maxclients
    }
    /// Take a snapshot (SAVE: now, holding the state; the others: in the background).
    /// Returns the status reply text, or the error text.
    fn snapshot(&self, _st: &mut State, _req: SnapshotRequest) -> Result<&'static str, String> {
        Err("snapshots are not available here".into())
    }
    /// Whether a background snapshot is running.
    fn snapshot_running(&self) -> bool {
        false
    }
    /// Background snapshots started since startup and how long the last start held the
    /// engine, in µs: what INFO reports as `total_forks` and `latest_fork_usec` (a
    /// snapshot is strata's fork: the point in time it copies from).
    fn snapshot_starts(&self) -> (u64, u64) {
        (0, 0)
    }
    /// What DEBUG RELOAD rebuilds from, read from disk in one go: the snapshot the log
    /// continues from (its keyspace, loaded with `config`'s thresholds, and its function
    /// libraries as (name, code)), if any, and the units after it.
    #[allow(clippy::type_complexity)]
    fn reload_source(
        &self,
        _config: &Config,
    ) -> Result<
        (
            Option<(crate::db::Keyspace, Vec<(Vec<u8>, Vec<u8>)>)>,
            Vec<LoggedUnit>,
        ),
        String,
    > {
        Ok((None, self.read_back()?))
    }
}

/// An environment with no server behind it: replay (replayed commands never reach server
/// services) and unit tests.
pub struct NoEnv;

impl Env for NoEnv {
    fn persistence_info(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn server_info(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn log_failure(&self) -> Option<String> {
        None
    }
    fn read_back(&self) -> Result<Vec<LoggedUnit>, String> {
        Err("not available without a server".into())
    }
    fn shutdown(&self) {}
    fn config_changed(&self, _: &str, _: &Config) {}
}

/// What SAVE, BGSAVE and BGREWRITEAOF ask of `Env::snapshot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotRequest {
    /// SAVE: snapshot now, blocking.
    Save,
    /// BGSAVE (`schedule`: BGSAVE SCHEDULE).
    Background {
        /// Queue it if one runs instead of failing.
        schedule: bool,
        /// Asked inside EXEC: queued for the server's cron, as Redis never forks there.
        in_exec: bool,
    },
    /// BGREWRITEAOF: the same job, queued if one runs (or inside EXEC).
    Rewrite {
        /// Asked inside EXEC.
        in_exec: bool,
    },
    /// A replica's full resync waits for a snapshot (`repl::wait_for_payload`): start one
    /// now, or say the running one will be followed by one. An error: none can be had,
    /// the payload is built in place.
    ForReplicas,
}

/// Delivers a blocked client's reply once a later execution unit served it: the reply
/// and the LSN of the record that holds the effect (the connection waits for it).
pub type WakeFn = Box<dyn FnOnce(Reply, u64) + Send>;

/// What a blocking command asks for when it cannot be served now (set in `Exec::block`).
#[derive(Debug, Clone)]
pub struct BlockRequest {
    /// The keys (in the client's selected db) whose readiness may serve it.
    pub keys: Vec<Bytes>,
    /// Absolute deadline in Unix ms; 0 = block forever.
    pub deadline_ms: i64,
    /// The reply on timeout (Redis: a null array for BLPOP, a null bulk for BLMOVE).
    pub timeout_reply: Reply,
    /// The command to park instead of the one received (XREAD BLOCK with `$` parks its
    /// argv with `$` resolved to the concrete last ID); None = the received argv.
    pub argv: Option<Vec<Bytes>>,
}

/// A parked client (BLPOP …) waiting for one of its keys.
pub struct Blocked {
    /// Database of the keys.
    pub db: usize,
    /// The keys.
    pub keys: Vec<Bytes>,
    /// The command, re-run as this client when a key may be ready.
    pub argv: Vec<Bytes>,
    /// Delivers the reply.
    pub wake: Option<WakeFn>,
    /// What it answers when its timeout passes (CLIENT UNBLOCK … TIMEOUT answers it too).
    pub timeout_reply: Reply,
}

/// Every blocked client and, per (db, key), the FIFO of clients waiting on it.
#[derive(Default)]
pub struct BlockedTable {
    /// Blocked clients by id.
    pub clients: std::collections::HashMap<u64, Blocked>,
    /// Waiters per key, oldest first.
    pub by_key: std::collections::HashMap<(usize, Bytes), std::collections::VecDeque<u64>>,
}

impl BlockedTable {
    /// Park `id`.
    pub fn add(&mut self, id: u64, b: Blocked) {
        for k in &b.keys {
            self.by_key
                .entry((b.db, k.clone()))
                .or_default()
                .push_back(id);
        }
        self.clients.insert(id, b);
    }

    /// Unpark `id` (served, timed out, killed). Returns its entry.
    pub fn remove(&mut self, id: u64) -> Option<Blocked> {
        let b = self.clients.remove(&id)?;
        for k in &b.keys {
            let slot = (b.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|&c| c != id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(b)
    }

    /// Clients waiting on (db, key), oldest first.
    pub fn waiting_on(&self, db: usize, key: &[u8]) -> Vec<u64> {
        self.by_key
            .get(&(db, Bytes::copy_from_slice(key)))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Everything behind the engine lock.
pub struct State {
    /// The keyspace.
    pub ks: Keyspace,
    /// Connected clients.
    pub clients: ClientTable,
    /// Counters.
    pub stats: Stats,
    /// Configuration.
    pub config: Config,
    /// The names `rename-command` gave commands (from `config`; shared with the
    /// connections, which resolve them while a script holds the engine).
    pub renames: std::sync::Arc<super::registry::Renames>,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub lastsave: i64,
    /// Server start, Unix ms.
    pub start_ms: i64,
    /// Writes since start (INFO persistence `rdb_changes_since_last_save`).
    pub dirty: u64,
    /// The active expire cycle runs (DEBUG SET-ACTIVE-EXPIRE 0 turns it off).
    pub active_expire: bool,
    /// LATENCY LATEST / HISTORY samples.
    pub latency: super::admin::LatencyMonitor,
    /// Big values UNLINK frees in the background (INFO lazyfree counters).
    pub lazyfree: crate::db::lazyfree::LazyFree,
    /// `stream-node-max-entries` / `stream-node-max-bytes`, read once per CONFIG SET.
    pub stream_nodes: crate::db::stream::NodeLimits,
    /// DEBUG PAUSE-CRON 1: the background cycle skips Redis's cron work (the tracking
    /// table limit); active expiry goes on, as Redis's fast cycle does.
    pub cron_paused: bool,
    /// The signal (SIGINT or SIGTERM) that asked for a shutdown the cron has not begun
    /// (Redis's `shutdown_asap`): SHUTDOWN ABORT cancels it.
    pub shutdown_asap: Option<&'static str>,
    /// Clients parked by blocking commands.
    pub blocked: BlockedTable,
    /// WATCHed keys: (db, key) → watching client ids.
    pub watched_keys: std::collections::HashMap<(usize, Bytes), Vec<u64>>,
    /// The Lua script cache and VM (EVAL, SCRIPT LOAD).
    pub scripts: crate::script::Scripts,
    /// The function libraries (FUNCTION LOAD, FCALL).
    pub functions: crate::script::function::Functions,
    /// Pub/Sub subscriptions.
    pub pubsub: PubSub,
    /// The `maxmemory` gauge, the eviction pool and its random numbers.
    pub mem: super::memory::MemState,
    /// SLOWLOG's entries and thresholds.
    pub slowlog: super::admin::SlowLog,
    /// Clients in MONITOR mode.
    pub monitors: Vec<u64>,
    /// Connections receiving the replication stream (SYNC / PSYNC).
    pub replicas: super::repl::Replicas,
    /// CLIENT TRACKING: keys clients may cache.
    pub tracking: super::tracking::Tracking,
    /// Per-command timing in a pipelined batch: the start of the next command (the
    /// batch's start, then each command's end; see dispatch). None outside a batch.
    pub clock_mark: Option<std::time::Instant>,
    /// CLIENT PAUSE in force: (until Unix ms, every command (ALL) or only writes (WRITE)).
    pub pause: Option<(i64, bool)>,
    /// ACL users and the ACL LOG.
    pub acl: super::acl::Acl,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS 1: scripts may call `noscript` commands.
    pub script_deny_disabled: bool,
    /// Error replies already counted in errorstats while the running script ran (cleared
    /// when a script starts): its own error reply does not count them twice.
    pub script_errors: Vec<String>,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION 1: RESTORE does not check payload checksums.
    pub skip_checksum_validation: bool,
    /// MIGRATE's cached connections to target servers, by `host:port`.
    pub migrate_sockets: super::dump::MigrateSockets,
}

/// A channel → subscriber ids map (foldhash, seeded per process: PUBLISH hashes the
/// channel name on every call).
pub type ChannelMap = std::collections::HashMap<Bytes, Vec<u64>, foldhash::fast::RandomState>;

/// Pub/Sub registry: who listens to what, in subscription order.
#[derive(Default)]
pub struct PubSub {
    /// Channel → subscriber ids.
    pub channels: ChannelMap,
    /// Pattern → subscriber ids (insertion-ordered for stable delivery).
    pub patterns: Vec<(Bytes, Vec<u64>)>,
    /// Shard channel → subscriber ids.
    pub shard_channels: ChannelMap,
    /// Keyspace notifications for the client whose command is running: they go into its
    /// reply stream ahead of the reply (`pubsub::own_first`), as Redis writes them into
    /// that client's output buffer while the command runs.
    pub own: Vec<(u64, crate::resp::Reply)>,
    /// Where the running command's reply goes among `own` (`Exec::reply_before_events`):
    /// Redis adds some commands' replies before their own events (LPUSH, HSET, ZADD …).
    pub reply_at: Option<usize>,
}

impl State {
    /// Whether clients' writes (and with them expiry) are held now: CLIENT PAUSE WRITE or
    /// ALL, or a FAILOVER handing this master's role over.
    pub fn writes_paused(&self, now_ms: i64) -> bool {
        self.replicas.failover.is_some() || self.pause.is_some_and(|(until, _)| now_ms < until)
    }

    /// Flag every client watching (db, key): its EXEC will fail. A key that was stale when
    /// a client WATCHed it and is now gone (or still stale) is no change for that client,
    /// as in Redis; once gone it is an ordinary watched key again.
    pub fn touch_watched(&mut self, db: usize, key: &[u8]) {
        self.touch_watched_as(db, key, false);
    }

    /// `touch_watched` for a key named by a DEL or UNLINK (`by_del`): a client that
    /// watched it while it did not exist, and has seen no change to it since, sees none
    /// now either if it still does not exist (the DEL removed other keys, not this one).
    pub fn touch_watched_as(&mut self, db: usize, key: &[u8], by_del: bool) {
        if self.watched_keys.is_empty() {
            return;
        }
        let slot = (db, Bytes::copy_from_slice(key));
        if let Some(ids) = self.watched_keys.get(&slot) {
            let now = crate::clock::now_ms();
            let d = self.ks.dbs.get(db);
            let gone = d.and_then(|d| d.get(key)).is_none();
            let stale = d.is_some_and(|d| d.is_expired(key, now));
            for id in ids.clone() {
                if let Some(c) = self.clients.map.get_mut(&id) {
                    if by_del && gone && c.watched_absent.contains(&slot) {
                        continue;
                    }
                    if let Some(i) = c.watched_stale.iter().position(|s| *s == slot) {
                        if gone {
                            c.watched_stale.swap_remove(i);
                            continue;
                        }
                        if stale {
                            continue;
                        }
                    }
                    c.watch_dirty = true;
                }
            }
        }
    }

    /// Before `db` is emptied or swapped with `other`: flag every client watching a key of
    /// `db` that exists in `db` (or in `other`), as Redis 7.0's FLUSHDB/FLUSHALL/SWAPDB do.
    /// Stale keys (logically expired, still stored) follow Redis 7.0's
    /// `touchAllWatchedKeysInDb`: a stale watched key that goes away or stays stale is no
    /// change, and a missing one replaced by a stale one becomes a stale watched key.
    pub fn touch_watched_existing(&mut self, db: usize, other: Option<usize>) {
        let now = crate::clock::now_ms();
        let ks = &self.ks;
        let exists = |d: usize, k: &[u8]| ks.dbs.get(d).is_some_and(|x| x.get(k).is_some());
        let expired = |d: usize, k: &[u8]| ks.dbs.get(d).is_some_and(|x| x.is_expired(k, now));
        let mut touched: Vec<(u64, (usize, Bytes), bool)> = Vec::new();
        for ((d, k), ids) in &self.watched_keys {
            if *d != db {
                continue;
            }
            let in_emptied = exists(db, k);
            let in_other = other.is_some_and(|o| exists(o, k));
            if !(in_emptied || in_other) {
                continue;
            }
            for &id in ids {
                touched.push((id, (*d, k.clone()), in_other));
            }
        }
        for (id, slot, in_other) in touched {
            let Some(c) = self.clients.map.get_mut(&id) else {
                continue;
            };
            let other_expired = other.is_some_and(|o| expired(o, &slot.1));
            let in_emptied = exists(db, &slot.1);
            if let Some(i) = c.watched_stale.iter().position(|s| *s == slot) {
                if !in_other {
                    c.watched_stale.swap_remove(i);
                    continue;
                }
                if other_expired {
                    continue;
                }
            } else if !in_emptied && other_expired {
                c.watched_stale.push(slot);
                continue;
            }
            c.watch_dirty = true;
        }
    }

    /// Forget every key `id` watches (EXEC, DISCARD, UNWATCH, RESET, disconnect).
    pub fn unwatch_all(&mut self, id: u64) {
        let keys = match self.clients.map.get_mut(&id) {
            Some(c) => {
                c.watch_dirty = false;
                c.watched_stale.clear();
                c.watched_absent.clear();
                std::mem::take(&mut c.watched)
            }
            None => return,
        };
        for k in keys {
            if let Some(ids) = self.watched_keys.get_mut(&k) {
                ids.retain(|&c| c != id);
                if ids.is_empty() {
                    self.watched_keys.remove(&k);
                }
            }
        }
    }
}

impl State {
    /// A fresh state for `config`.
    pub fn new(config: Config, now_ms: i64) -> State {
        let n = usize::try_from(config.databases).unwrap_or(16);
        let slowlog = super::admin::SlowLog::new(&config);
        let replicas = super::repl::Replicas::new(&config);
        let mut tracking = super::tracking::Tracking::default();
        tracking.configure(&config);
        let stream_nodes = stream_node_limits(&config);
        let mut latency = super::admin::LatencyMonitor::default();
        latency.configure(&config);
        let mut acl = super::acl::Acl::default();
        acl.configure(&config);
        let clients = ClientTable::default();
        clients.limits.configure(&config);
        // (`server::check_config` refused a bad line before the server started.)
        let renames =
            super::registry::Renames::build(&config.rename_commands).unwrap_or_else(|(l, why)| {
                tracing::error!(from = %l.from, to = %l.to, "rename-command not applied: {why}");
                super::registry::Renames::default()
            });
        State {
            renames: std::sync::Arc::new(renames),
            acl,
            script_deny_disabled: false,
            script_errors: Vec::new(),
            skip_checksum_validation: false,
            migrate_sockets: Default::default(),
            ks: Keyspace::new(n),
            clients,
            stats: Stats::default(),
            config,
            lastsave: now_ms / 1000,
            start_ms: now_ms,
            dirty: 0,
            active_expire: true,
            cron_paused: false,
            shutdown_asap: None,
            stream_nodes,
            lazyfree: crate::db::lazyfree::LazyFree::default(),
            latency,
            blocked: BlockedTable::default(),
            watched_keys: std::collections::HashMap::new(),
            scripts: crate::script::Scripts::default(),
            functions: crate::script::function::Functions::default(),
            pubsub: PubSub::default(),
            mem: super::memory::MemState::new(),
            slowlog,
            monitors: Vec::new(),
            replicas,
            pause: None,
            clock_mark: None,
            tracking,
        }
    }
}

/// `stream-node-max-entries` and `stream-node-max-bytes` from `config`.
pub fn stream_node_limits(config: &Config) -> crate::db::stream::NodeLimits {
    let num = |name: &str| config.get(name).and_then(|v| v.parse::<u64>().ok());
    let default = crate::db::stream::NodeLimits::default();
    crate::db::stream::NodeLimits {
        entries: num("stream-node-max-entries").unwrap_or(default.entries),
        bytes: num("stream-node-max-bytes").unwrap_or(default.bytes),
    }
}

/// A handler's view of one execution unit.
pub struct Exec<'a> {
    /// Engine state.
    pub st: &'a mut State,
    /// Server services.
    pub env: &'a dyn Env,
    /// The calling client's id (0 = internal).
    pub client_id: u64,
    /// The selected database index.
    pub db: usize,
    /// Wall-clock time of this execution unit (the record's timestamp on replay).
    pub now_ms: i64,
    /// Who is executing.
    pub caller: Caller,
    /// Effects to log as this unit's record: (db, argv).
    pub journal: Vec<JournalEntry>,
    /// Count of changes made by this unit.
    pub dirty: u64,
    /// Set by a blocking command that could not be served now (the engine parks the client).
    pub block: Option<BlockRequest>,
    /// True while EXEC runs its queued commands (nothing blocks, nothing is queued).
    pub in_exec: bool,
    /// The first effects in `journal` are DELs of keys the admission check evicted before
    /// the command ran: replicas get them one by one, not in the command's MULTI.
    pub evicted_effects: usize,
    /// True while a Lua script runs its `redis.call`s (nothing blocks).
    pub in_script: bool,
    /// How many `dispatch::call`s are running (EXEC, scripts and blocking commands call
    /// it again for the commands they run): 0 between commands.
    pub depth: u32,
    /// Where what replicas get differs from the journal (PUBLISH, XREADGROUP's XCLAIMs).
    /// Filled only while replicas are attached.
    pub repl: super::repl::ReplicaForm,
    /// The command running is a blocked client's, run again because its keys may be
    /// ready: MONITOR saw it when it first ran.
    pub rerun: bool,
    /// The client called this command by a name `rename-command` took away: it is an
    /// unknown command (the engine resolves renamed names before anything else sees them).
    pub renamed_away: bool,
    /// The command running is one a blocking command runs for itself (BRPOP's RPOP): it
    /// counts in no statistics (the blocking command does), as in Redis.
    pub uncounted: bool,
    /// Argument bytes of the client command running (not the ones EXEC or a script
    /// runs): CLIENT LIST `argv-mem`.
    pub argv_mem: usize,
    /// The protocol a script's `redis.call` runs under (`redis.setresp`, 2 by default):
    /// replies whose shape depends on the protocol follow it, not the caller's (None
    /// outside scripts). See [`Exec::reply_resp3`].
    pub script_resp: Option<u8>,
    /// Journal entries before this index have had their CLIENT TRACKING invalidations
    /// sent (by the innermost command that made them, so EXEC or EVAL does not repeat
    /// its commands' invalidations).
    pub tracked: usize,
    /// An asynchronous Lua debugging session (SCRIPT DEBUG YES) runs: the keys its
    /// commands change, to put back when it ends (its effects are never journaled).
    pub ldb_undo: Option<Box<super::scripting::undo::Undo>>,
    /// The client-table key [`Exec::client`] reads: `client_id`, or 0 (the internal
    /// client) when that client is not registered. Found once per unit (clients are added
    /// and removed only between units), so `client()` is one lookup.
    client_key: u64,
}

impl<'a> Exec<'a> {
    /// Start a unit for `client_id`.
    pub fn new(
        st: &'a mut State,
        env: &'a dyn Env,
        client_id: u64,
        now_ms: i64,
        caller: Caller,
    ) -> Exec<'a> {
        let (db, client_key) = st
            .clients
            .map
            .get(&client_id)
            .map_or((0, 0), |c| (c.db, client_id));
        Exec {
            st,
            env,
            client_id,
            db,
            now_ms,
            caller,
            journal: Vec::new(),
            dirty: 0,
            block: None,
            in_exec: false,
            evicted_effects: 0,
            in_script: false,
            depth: 0,
            repl: super::repl::ReplicaForm::default(),
            rerun: false,
            renamed_away: false,
            uncounted: false,
            argv_mem: 0,
            script_resp: None,
            tracked: 0,
            ldb_undo: None,
            client_key,
        }
    }

    /// Whether the running command shapes its reply for RESP3: the caller's protocol, or
    /// inside a script the one the script chose (Redis runs script commands on a client of
    /// that protocol).
    pub fn reply_resp3(&mut self) -> bool {
        match self.script_resp {
            Some(r) => r >= 3,
            None => self.client().resp >= 3,
        }
    }

    /// Most elements worth producing for a reply with repetitions (HRANDFIELD, SRANDMEMBER,
    /// ZRANDMEMBER with a negative count): every element takes at least 4 bytes, so a
    /// longer reply passes the caller's output buffer hard limit, which closes the client
    /// without sending it (Redis stops such a reply once the client is marked to close).
    /// `usize::MAX` when there is no limit or the reply goes to a script.
    pub fn reply_elements_cap(&mut self) -> usize {
        if self.caller != Caller::Client || self.in_script {
            return usize::MAX;
        }
        let c = self.client();
        let pubsub = c.subscription_count() + c.shard_channels.len() > 0;
        match self.st.clients.limits.class(pubsub).hard {
            0 => usize::MAX,
            hard => usize::try_from(hard / 4 + 1).unwrap_or(usize::MAX),
        }
    }

    /// The calling client.
    pub fn client(&mut self) -> &mut Client {
        match self.st.clients.map.get_mut(&self.client_key) {
            Some(c) => c,
            None => unreachable!("the internal client always exists"),
        }
    }

    /// The selected database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.st.ks.dbs[self.db]
    }

    /// True if a blocking command may park this caller: a client command, not replay,
    /// not a background job (MULTI and scripts, when they exist, also answer false).
    pub fn may_block(&self) -> bool {
        self.caller == Caller::Client && !self.in_exec && !self.in_script
    }

    /// Record an effect in this unit's journal (ignored during replay).
    pub fn journal(&mut self, argv: Vec<Bytes>) {
        if self.caller != Caller::Replay {
            self.journal
                .push((u16::try_from(self.db).unwrap_or(u16::MAX), argv));
        }
    }

    /// Record an effect against a specific database.
    pub fn journal_db(&mut self, db: usize, argv: Vec<Bytes>) {
        if self.caller != Caller::Replay {
            self.journal
                .push((u16::try_from(db).unwrap_or(u16::MAX), argv));
        }
    }

    /// Note one change (drives Verbatim journaling and `dirty` counters).
    pub fn touch_dirty(&mut self, n: u64) {
        self.dirty += n;
        self.st.dirty += n;
    }

    /// Redis's `signalModifiedKey` for a change that journals nothing it could be found
    /// by (an LTRIM that trimmed nothing, a stream XGROUP CREATE … MKSTREAM made): the
    /// key's WATCHes break and its tracking clients are told, as for a journaled write.
    pub fn signal_modified(&mut self, key: &[u8]) {
        if self.caller == Caller::Replay {
            return;
        }
        let db = self.db;
        self.st.touch_watched(db, key);
        super::tracking::invalidate(self.st, key, self.client_id);
    }

    /// Keyspace notification for `key` in the selected db: when `class` (`g`, `$`, `l`,
    /// `s`, `h`, `z`, `x`, `e`, `t`, `m`, `d`, `n`) is enabled by `notify-keyspace-events`,
    /// publish `event` on `__keyspace@<db>__:<key>` (K) and `key` on
    /// `__keyevent@<db>__:<event>` (E). Never during replay.
    pub fn notify(&mut self, class: char, event: &str, key: &[u8]) {
        let db = self.db;
        self.notify_in(db, class, event, key);
    }

    /// The command's reply goes here, before the events it sends from now on, to its own
    /// client's subscriptions (Redis adds the reply of LPUSH, HSET, ZADD, GETSET … before
    /// it notifies; see `pubsub::own_first`). Not inside a script: its replies go to it.
    pub fn reply_before_events(&mut self) {
        if self.caller == Caller::Client && !self.in_script {
            let at = self.st.pubsub.own.len();
            self.st.pubsub.reply_at.get_or_insert(at);
        }
    }

    /// The events for this client's own subscriptions sent since `pubsub.own` had `mark`
    /// entries, taken out (a command that places them inside its reply, as MGET).
    pub fn own_events_since(&mut self, mark: usize) -> Vec<crate::resp::Reply> {
        let me = self.client_id;
        let own = &mut self.st.pubsub.own;
        if own.len() <= mark || self.caller != Caller::Client || self.in_script {
            return Vec::new();
        }
        let (mine, others): (Vec<_>, Vec<_>) = own
            .split_off(mark)
            .into_iter()
            .partition(|(dest, _)| *dest == me);
        own.extend(others);
        mine.into_iter().map(|(_, r)| r).collect()
    }

    /// `notify` for a key in database `db` (MOVE, COPY … DB, expiry).
    pub fn notify_in(&mut self, db: usize, class: char, event: &str, key: &[u8]) {
        use crate::config::notify;
        let flags = self.st.config.notify_keyspace_events;
        if flags & notify::class_bit(class) == 0 || self.caller == Caller::Replay {
            return;
        }
        // (A client's own command: its subscriptions hear the events before its reply.)
        let me = (self.caller == Caller::Client).then_some(self.client_id);
        if flags & notify::KEYSPACE != 0 {
            let mut ch = format!("__keyspace@{db}__:").into_bytes();
            ch.extend_from_slice(key);
            super::pubsub::notify_to(self.st, &ch, event.as_bytes(), me);
        }
        if flags & notify::KEYEVENT != 0 {
            let ch = format!("__keyevent@{db}__:{event}");
            super::pubsub::notify_to(self.st, ch.as_bytes(), key, me);
        }
    }

    /// Insert `entry` at `key` in the selected db, firing `new` (class n) when the key did
    /// not exist. Returns the replaced entry.
    pub fn insert_key(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        let db = self.db;
        self.insert_key_in(db, key, entry, -1)
    }

    /// `insert_key` in database `db`, with the absolute expiry `at_ms` (-1 = none).
    pub fn insert_key_in(
        &mut self,
        db: usize,
        key: &[u8],
        entry: Entry,
        at_ms: i64,
    ) -> Option<Entry> {
        let mut entry = entry;
        // Under LFU an overwritten key keeps its counter (Redis `dbSetValue`).
        if self.st.config.maxmemory_policy.is_lfu()
            && entry.access_s > crate::db::evict::LRU_CLOCK_MAX
        {
            if let Some(old) = self.st.ks.dbs[db].get(key) {
                entry.access_s = crate::db::evict::lru_field(old.access_s, true);
            }
        }
        let old = self.st.ks.dbs[db].insert_expiring(key, entry, at_ms);
        if old.is_none() {
            self.notify_in(db, 'n', "new", key);
        }
        old
    }

    /// True while CLIENT PAUSE (WRITE or ALL) is in force: keys are not expired then,
    /// neither lazily nor by the background cycle, as Redis (an expired key reads as
    /// missing but stays until the pause ends).
    pub fn expiry_paused(&self) -> bool {
        self.st.writes_paused(self.now_ms)
    }

    /// If `key` in database `db` has expired, delete it and journal a DEL (never during
    /// replay: replay applies only logged effects). Returns true if it was expired: removed,
    /// or left in place while expiry is paused ([`Exec::expiry_paused`]), to be treated
    /// as missing.
    pub fn expire_if_needed_in(&mut self, db: usize, key: &[u8]) -> bool {
        self.expire_in(db, key, false)
    }

    /// [`Exec::expire_if_needed_in`]; `even_paused`: delete it while expiry is paused too
    /// (a write about to create the key: only the transaction that paused can run one).
    fn expire_in(&mut self, db: usize, key: &[u8], even_paused: bool) -> bool {
        // No key in this db has a TTL: nothing can expire (saves a lookup per command).
        if self.caller == Caller::Replay || self.st.ks.dbs[db].volatile_len() == 0 {
            return false;
        }
        let now = self.now_ms;
        let expired = self.st.ks.dbs[db].is_expired(key, now);
        if expired && !even_paused && self.expiry_paused() {
            return true;
        }
        if expired && self.st.replicas.master.is_some() {
            // A replica leaves expiring to its master, whose DEL comes on the stream: the
            // master's own commands still find the key; a client's read finds it missing
            // but leaves it in place; only a client's write about to create it (a
            // writable replica) deletes it first, as Redis's replicas.
            if self.st.replicas.master_client == Some(self.client_id) {
                return false;
            }
            if !even_paused {
                return true;
            }
        }
        if expired {
            self.st.ks.dbs[db].remove(key);
            self.st.stats.expired_keys += 1;
            self.notify_in(db, 'x', "expired", key);
            self.journal_db(
                db,
                vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)],
            );
        }
        expired
    }

    /// Look up a key for reading in the selected db: expires it if due, counts hits/misses,
    /// updates the access time.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&Entry> {
        let db = self.db;
        let pos = if self.expire_if_needed_in(db, key) {
            None
        } else {
            self.st.ks.dbs[db].dict.position(key)
        };
        let Some(pos) = pos else {
            self.st.stats.keyspace_misses += 1;
            self.notify_in(db, 'm', "keymiss", key);
            return None;
        };
        // One key comparison for the access stamp and the entry (the hot path of every read).
        let touch = !self.no_touch();
        let mode = super::memory::access_mode(&self.st.config);
        let now = self.now_ms;
        let st = &mut *self.st;
        st.stats.keyspace_hits += 1;
        let rng = &mut st.mem.rng;
        st.ks.dbs[db].touch_at(pos, |e| {
            if touch {
                e.access_s = crate::db::evict::touched(e.access_s, now, mode, || rng.next_f64());
            }
        })
    }

    /// True if the calling client asked for CLIENT NO-TOUCH.
    pub fn no_touch(&self) -> bool {
        self.caller == Caller::Client
            && self
                .st
                .clients
                .map
                .get(&self.client_id)
                .is_some_and(|c| c.no_touch)
    }

    /// Record an access to `key` in database `db`, as Redis's `lookupKey`: its LRU clock,
    /// or under an LFU policy its decayed and logarithmically incremented counter.
    pub fn touch_key_in(&mut self, db: usize, key: &[u8]) {
        let mode = super::memory::access_mode(&self.st.config);
        let now = self.now_ms;
        let st = &mut *self.st;
        let rng = &mut st.mem.rng;
        st.ks.dbs[db].touch(key, |e| {
            e.access_s = crate::db::evict::touched(e.access_s, now, mode, || rng.next_f64());
        });
    }

    /// `lookup_read` for a read command that changes the value anyway (XREADGROUP's
    /// pending lists, SORT's conversion): hit/miss stats as a read, access as a write.
    pub fn lookup_read_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.lookup_read(key)?;
        let db = self.db;
        self.st.ks.dbs[db].get_mut(key)
    }

    /// Look up a key for writing in the selected db (expires it if due, no hit/miss stats).
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let db = self.db;
        self.lookup_write_in(db, key)
    }

    /// Look up a key for writing in database `db`.
    pub fn lookup_write_in(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        self.write_lookup(db, key, |d, k, f| d.touch_get_mut(k, f))
    }

    /// `lookup_write` for a write that replaces the value whole (SET): touches the entry
    /// without handing a running snapshot a copy of it (the replacement does that, and
    /// leaves a large lent value with the file thread). True if the key exists.
    pub fn lookup_replace(&mut self, key: &[u8]) -> bool {
        let db = self.db;
        self.write_lookup(db, key, |d, k, f| d.touch(k, f))
            .is_some()
    }

    /// A write's lookup of `key` in database `db` through `how` (expired first, the access
    /// stamped unless NO-TOUCH): one lookup for the stamp and the entry, as on the read path.
    fn write_lookup<'s, R>(
        &'s mut self,
        db: usize,
        key: &[u8],
        how: impl FnOnce(&'s mut crate::db::Db, &[u8], &mut dyn FnMut(&mut Entry)) -> Option<R>,
    ) -> Option<R> {
        self.expire_in(db, key, true);
        let touch = !self.no_touch();
        let mode = super::memory::access_mode(&self.st.config);
        let now = self.now_ms;
        let st = &mut *self.st;
        let rng = &mut st.mem.rng;
        how(&mut st.ks.dbs[db], key, &mut |e| {
            if touch {
                e.access_s = crate::db::evict::touched(e.access_s, now, mode, || rng.next_f64());
            }
        })
    }

    /// True if the key exists (after expiry) in the selected db, without touching stats.
    pub fn exists(&mut self, key: &[u8]) -> bool {
        let db = self.db;
        !self.expire_if_needed_in(db, key) && self.st.ks.dbs[db].get(key).is_some()
    }
}

/// Parse an argument as a Redis integer (`ERR value is not an integer or out of range`).
pub fn arg_i64(b: &[u8]) -> Result<i64, CmdError> {
    crate::db::strnum::parse_i64(b).ok_or(CmdError::NotInteger)
}

/// Parse a float argument (`ERR value is not a valid float`).
pub fn arg_f64(b: &[u8]) -> Result<f64, CmdError> {
    crate::db::strnum::parse_f64(b).ok_or(CmdError::NotFloat)
}

/// ASCII-case-insensitive comparison of an argument with a keyword.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Lossy UTF-8 view of an argument for error messages.
pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Build an argv from byte-string-like parts.
#[macro_export]
macro_rules! argv {
    ($($x:expr),* $(,)?) => {
        vec![$(::bytes::Bytes::copy_from_slice(AsRef::<[u8]>::as_ref(&$x))),*]
    };
}
