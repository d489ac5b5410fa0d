//! The replication stream as a replica (or a tool posing as one, like Redis's test
//! suite's `attach_to_replication_stream`) sees it: SYNC and PSYNC answer a full resync
//! with an RDB payload: the keyspace as a background snapshot captured it, the replica
//! waiting meanwhile with the stream since then held for it (`wait_for_payload`, and
//! `server::resync`, which makes the payload from the snapshot's file), as Redis's
//! disk-based sync sends a BGSAVE's file; or, when no snapshot can be had, built in place
//! under the engine lock (`dump::write_rdb_of`). From then on the connection receives every execution unit's journaled effects as RESP
//! commands, the way Redis 7.0 feeds its replicas: a SELECT whenever the database
//! changes (and first after every new attach), a unit of several effects wrapped in
//! MULTI/EXEC unless the command touches arbitrary keys (KEYS, SCAN, RANDOMKEY), effects
//! of clients served after a blocking wait and of the background expire cycle one by one
//! (a multi-key expiry DEL split per key). REPLCONF is accepted. The journal is what
//! strata persists, so the stream shows exactly the effects the log records.
//!
//! The replica's side lives here too, where it is state and commands: the link's state
//! (`Link`), the full resync's payload as commands (`full_sync_commands`), the offset a
//! command of the stream moves (`stream_len`), REPLCONF ACK, the writable replica's own
//! TTL keys, the replication ids (Redis's PSYNC2: a replica relays its master's stream
//! to its own replicas instead of feeding its own, `relay`, and keeps the master's id;
//! a promotion starts a new id and keeps the old one as the second, `set_master`,
//! `unset_master`); the connection itself is `server::replica`'s.

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec, JournalEntry, State};
use super::{cmd, CmdError, CommandSpec, Flags, Group};
use crate::resp::Reply;

/// Register this file's commands.
#[rustfmt::skip]
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let repl = F::ADMIN | F::NOSCRIPT | F::NO_ASYNC_LOADING | F::NO_MULTI;
    t.push(cmd("sync", 1, repl, sync).group(Group::Server).acl(&["admin", "dangerous"]).doc("Internal command used for replication", "1.0.0"));
    t.push(cmd("psync", -3, repl, psync).group(Group::Server).acl(&["admin", "dangerous"]).doc("Internal command used for replication", "2.8.0"));
    t.push(cmd("replconf", -1, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE | F::ALLOW_BUSY, replconf).group(Group::Server).acl(&["admin", "dangerous"]).doc("An internal command for configuring the replication stream", "3.0.0"));
}

/// The connections receiving the replication stream.
#[derive(Default)]
pub struct Replicas {
    /// Client ids, in attach order.
    pub ids: Vec<u64>,
    /// The database the stream last selected (None: the next effect is preceded by a
    /// SELECT, as after a new replica attaches).
    pub seldb: Option<usize>,
    /// When the stream last carried the replication cron's PING (Unix ms).
    pub last_ping_ms: i64,
    /// Bytes of stream so far (INFO `master_repl_offset`): a replica attached at
    /// offset O (PSYNC's `+FULLRESYNC <replid> O`) that acknowledges O+N has applied
    /// the stream's next N bytes. On a replica, its master's offset it has processed (it
    /// relays what it processes, so its own replicas count the same bytes).
    pub offset: u64,
    /// REPLICAOF host port in force: (host, port). The server's link task connects,
    /// takes a full resync and then runs the master's stream on a connection of its own
    /// (the master client); read-only for clients when `replica-read-only` is yes, until
    /// REPLICAOF NO ONE.
    pub master: Option<(String, u16)>,
    /// Where the link to the master is (ROLE, INFO `master_link_status`).
    pub link: Link,
    /// The master client's id while the link is up.
    pub master_client: Option<u64>,
    /// Connections flagged as master links still registered (the live one, and one
    /// REPLICAOF ended that has not closed yet).
    pub master_links: usize,
    /// This server's replication id (INFO `master_replid`): of the history its stream
    /// belongs to. A master's own (new at start and at each promotion); a replica takes
    /// its master's at a resync, since it relays that stream byte for byte (Redis's
    /// PSYNC2: a chain of replicas shares one id and one offset).
    pub replid: String,
    /// The id of the history before the last promotion or change of master (INFO
    /// `master_replid2`), valid up to `second_replid_offset` (-1: none): a replica of the
    /// old history may still continue from us up to there.
    pub replid2: String,
    pub second_replid_offset: i64,
    /// During a full resync: the master's id, ours once its commands have run.
    pub resync_replid: Option<String>,
    /// A FAILOVER in progress (`super::failover`).
    pub failover: Option<super::failover::Failover>,
    /// When the link last went down (Unix ms; 0: never up).
    pub link_down_since_ms: i64,
    /// When the master link last sent its periodic REPLCONF ACK (Unix ms).
    pub last_ack_ms: i64,
    /// The replication backlog (Redis's): the stream's last `repl-backlog-size` bytes,
    /// kept once a replica has attached, so a replica that reconnects gets what it missed
    /// (`PSYNC <replid> <offset>` → `+CONTINUE`) instead of a full resync.
    pub backlog: Option<Backlog>,
    /// Since when no replica is attached (Unix ms; 0: one is): the backlog is freed after
    /// `repl-backlog-ttl` seconds of this.
    pub alone_since_ms: i64,
    /// INFO stats `sync_full`, `sync_partial_ok`, `sync_partial_err`.
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// A replica's master it lost: (replid, offset processed, database selected), for a
    /// partial resync on reconnection.
    pub cached_master: Option<(String, u64, usize)>,
    /// Keys a client of this writable replica gave a TTL ((db, key)): the replica expires
    /// these itself (Redis's `slaveKeysWithExpire`), the master's keys it never does.
    pub local_ttl: std::collections::HashSet<(usize, Vec<u8>)>,
    /// `min-replicas-to-write` (cached: checked on every client command).
    pub min_replicas_to_write: u64,
    /// `min-replicas-max-lag` (seconds): a replica that acknowledged within it is good.
    pub min_replicas_max_lag: u64,
    /// Replicas waiting for their full resync's payload, made from a background snapshot
    /// (`wait_for_payload`); they join `ids` once it has gone out.
    pub waiting: Vec<Waiting>,
    /// Where the stream held for the replicas waiting for each snapshot job starts (the
    /// backlog keeps it): every replica waiting for a job shares it, as Redis 7's replicas
    /// share one replication buffer, and it goes when the last of them does.
    pub held: Vec<Held>,
    /// Where the running snapshot job that replicas wait for started in the stream.
    pub sync_point: Option<SyncPoint>,
    /// When the waiting replicas were last sent a newline (Unix ms).
    pub last_newline_ms: i64,
    /// Errors sent to a replica, or by a replica to its master (INFO
    /// `unexpected_error_replies`).
    pub unexpected_error_replies: u64,
}

/// A replica waiting for its full resync's payload: Redis's `wait_bgsave` states. Without
/// a job it waits for one to start (one was running, not for replicas); with one, the
/// payload is that job's snapshot file, and the stream since the job started is held for
/// it (`Replicas::held`) until the payload has gone out.
pub struct Waiting {
    /// Its client id.
    pub id: u64,
    /// It asked with PSYNC: its `+FULLRESYNC <id> <offset>` goes out when its job starts.
    pub psync: bool,
    /// The snapshot job whose file becomes its payload.
    pub job: Option<u64>,
    /// Its payload is being queued on its connection (no keepalive newline now).
    pub sending: bool,
}

/// The replicas waiting for snapshot job `job`'s payload need the stream from offset
/// `from` (where the job started): the backlog keeps it for them, past its size if need
/// be (as Redis 7's backlog grows while replicas still need its blocks), so it is held
/// once whatever the number of replicas, and a replica that reconnects meanwhile may
/// continue from it.
pub struct Held {
    pub job: u64,
    pub from: u64,
    /// Since when the stream held has been over the replica class's soft limit (Unix
    /// ms; 0: it is not).
    soft_since_ms: i64,
}

/// Where a snapshot job that replicas wait for started: its payload's replication fields
/// (the stream's database, id and offset then) and the time the keyspace was captured at
/// (keys already expired then are left out, as the payload built in place leaves them).
#[derive(Clone, Debug)]
pub struct SyncPoint {
    pub job: u64,
    pub aux: super::dump::ReplAux,
    pub now_ms: i64,
}

/// INFO's `master_replid2` when there is none.
const NO_REPLID: &str = "0000000000000000000000000000000000000000";

/// A fresh random replication id: 40 hex digits.
pub fn new_replid() -> String {
    let mut buf = [0u8; 20];
    super::acl::getrandom_fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `repl-backlog-size` in bytes (Redis keeps at least 16 KiB).
pub fn backlog_size(config: &crate::config::Config) -> usize {
    config
        .get("repl-backlog-size")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1 << 20)
        .max(16 * 1024)
}

/// The stream's last bytes (see [`Replicas::backlog`]).
#[derive(Default)]
pub struct Backlog {
    /// The bytes, oldest first.
    pub buf: std::collections::VecDeque<u8>,
    /// How many it keeps (`repl-backlog-size`).
    pub size: usize,
}

impl Backlog {
    /// An empty backlog of `repl-backlog-size`.
    fn empty(config: &crate::config::Config) -> Backlog {
        Backlog {
            buf: std::collections::VecDeque::new(),
            size: backlog_size(config),
        }
    }

    /// Keep only the last `size` bytes, or the last `keep` when more are still needed;
    /// room left over from a bigger backlog is given back.
    fn trim(&mut self, keep: usize) {
        let keep = keep.max(self.size);
        let over = self.buf.len().saturating_sub(keep);
        self.buf.drain(..over);
        if self.buf.capacity() > 2 * keep && self.buf.capacity() > 64 * 1024 {
            self.buf.shrink_to(keep);
        }
    }
}

impl Replicas {
    /// Record where the link to the master is; going down notes when.
    pub fn set_link(&mut self, link: Link, now_ms: i64) {
        if link == Link::Down && self.link != Link::Down {
            self.link_down_since_ms = now_ms;
        }
        self.link = link;
    }

    /// The master link is gone: no master client, the link down.
    pub fn lose_link(&mut self, now_ms: i64) {
        self.master_client = None;
        self.set_link(Link::Down, now_ms);
    }

    /// A replica is attached or waits for its payload.
    pub fn any(&self) -> bool {
        !self.ids.is_empty() || !self.waiting.is_empty()
    }

    /// The stream is produced: a replica is attached, or the backlog keeps it for one that
    /// may come back.
    pub fn streaming(&self) -> bool {
        !self.ids.is_empty() || self.backlog.is_some()
    }

    /// Client `id` no longer waits for a payload; a held stream no one waits for is freed.
    pub fn forget_waiting(&mut self, id: u64) {
        self.waiting.retain(|w| w.id != id);
        self.prune_held();
    }

    /// Free the held streams of jobs no replica waits for any more.
    fn prune_held(&mut self) {
        let waiting = &self.waiting;
        self.held
            .retain(|h| waiting.iter().any(|w| w.job == Some(h.job)));
        self.trim_backlog();
    }

    /// Trim the backlog to its size, or to the oldest stream still held.
    fn trim_backlog(&mut self) {
        let offset = self.offset;
        let keep = self
            .held
            .iter()
            .map(|h| offset.saturating_sub(h.from))
            .max()
            .unwrap_or(0);
        if let Some(b) = &mut self.backlog {
            b.trim(usize::try_from(keep).unwrap_or(usize::MAX));
        }
    }

    /// For a server configured with `config`.
    pub fn new(config: &crate::config::Config) -> Replicas {
        let mut r = Replicas {
            replid: new_replid(),
            replid2: NO_REPLID.into(),
            second_replid_offset: -1,
            ..Replicas::default()
        };
        r.configure(config);
        r
    }

    /// Start a new history (Redis's shiftReplicationId, at a promotion): the current id
    /// stays valid as the second one up to the next byte, so replicas of it can continue.
    pub fn shift_replid(&mut self) {
        self.shift_replid_to(new_replid());
    }

    /// [`Replicas::shift_replid`] to a given new id (a master's that was promoted).
    pub fn shift_replid_to(&mut self, replid: String) {
        self.replid2 = std::mem::replace(&mut self.replid, replid);
        self.second_replid_offset = i64::try_from(self.offset + 1).unwrap_or(i64::MAX);
        tracing::warn!(
            "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
            self.replid2,
            self.second_replid_offset,
            self.replid
        );
    }

    /// Take `replid` (a new master's) as this server's id, no second id (a full resync).
    pub fn adopt_replid(&mut self, replid: String, offset: u64) {
        self.replid = replid;
        self.replid2 = NO_REPLID.into();
        self.second_replid_offset = -1;
        self.offset = offset;
    }

    /// Re-read the settings it caches (after CONFIG SET).
    pub fn configure(&mut self, config: &crate::config::Config) {
        self.min_replicas_to_write = config
            .get("min-replicas-to-write")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.min_replicas_max_lag = config
            .get("min-replicas-max-lag")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        if let Some(b) = &mut self.backlog {
            // CONFIG SET repl-backlog-size resizes it (its oldest bytes go first).
            b.size = backlog_size(config);
        }
        self.trim_backlog();
    }
}

/// Disconnect the master link, if one is up: the link is down from now on (its
/// connection keeps its flag, so what it still had buffered is dropped, not run as a
/// client's commands, `Engine::execute_many_in`).
pub fn end_master_link(st: &mut State, now_ms: i64) {
    if let Some(id) = st.replicas.master_client {
        if let Some(kill) = st.clients.map.get(&id).and_then(|c| c.kill.as_ref()) {
            kill();
        }
    }
    st.replicas.lose_link(now_ms);
}

/// Disconnect every attached replica (Redis's disconnectSlaves): after this server's
/// history changed, they reconnect and continue from where they are, or resync.
pub fn disconnect_replicas(st: &mut State) {
    let waiting = std::mem::take(&mut st.replicas.waiting);
    st.replicas.held.clear();
    st.replicas.trim_backlog();
    let ids = std::mem::take(&mut st.replicas.ids);
    for id in ids.into_iter().chain(waiting.into_iter().map(|w| w.id)) {
        if let Some(kill) = st.clients.map.get(&id).and_then(|c| c.kill.as_ref()) {
            kill();
        }
    }
}

/// Become a replica of `host`:`port` (REPLICAOF host port, and a FAILOVER that hands
/// over): the link task connects and asks to continue from where this server is, as its
/// own replica would (a master offers its own id and offset: the new master may have been
/// its replica; a replica that changes masters offers its current master's). Attached
/// replicas stay: they get the stream once it flows again (or are disconnected when the
/// history changes).
pub fn set_master(x: &mut Exec<'_>, host: String, port: u16) {
    let now = x.now_ms;
    let r = &x.st.replicas;
    let cached = if r.master.is_none() {
        tracing::info!("Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.");
        Some((r.replid.clone(), r.offset, 0))
    } else {
        match r.master_client.and_then(|id| x.st.clients.map.get(&id)) {
            Some(c) if c.repl_skip == 0 => Some((r.replid.clone(), c.repl_offset, c.db)),
            Some(_) => None,
            None => r.cached_master.clone(),
        }
    };
    end_master_link(x.st, now);
    if x.st.replicas.master.is_none() {
        unblock_all(x.st);
    }
    let r = &mut x.st.replicas;
    r.master = Some((host.clone(), port));
    r.cached_master = cached;
    r.local_ttl.clear();
    // (CONFIG REWRITE writes it, so a restart replicates again, as Redis's.)
    let _ =
        x.st.config
            .set("replicaof", &format!("{host} {port}"), false);
    x.env.replicate(Some((host, port)));
}

/// The error a master turning replica answers its blocked clients with; their
/// connections close after it (`server::conn`), as Redis's CLIENT_CLOSE_AFTER_REPLY.
pub const FORCE_UNBLOCK: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

/// A master turning replica answers its blocked clients (BLPOP …, WAIT) with Redis's
/// -UNBLOCKED error (disconnectAllBlockedClients), and they are disconnected: a pop
/// served later would be a write of its own, which its new master never made.
fn unblock_all(st: &mut State) {
    let text = FORCE_UNBLOCK;
    let ids: Vec<u64> = st.blocked.clients.keys().copied().collect();
    for id in ids {
        if let Some(mut b) = st.blocked.remove(id) {
            super::dispatch::count_unblocked(st, &b.argv, Some(text));
            if let Some(wake) = b.wake.take() {
                wake(Reply::Error(text.into()), 0);
            }
        }
    }
}

/// Stop replicating and be a master (REPLICAOF NO ONE, a FAILOVER request to this
/// replica, an aborted FAILOVER): the dataset stays; a new history starts, the current
/// one valid as the second id up to here, so the replicas (disconnected to learn the new
/// id) continue with a partial resync. Nothing happens on a master.
pub fn unset_master(x: &mut Exec<'_>) {
    if x.st.replicas.master.is_none() {
        return;
    }
    let now = x.now_ms;
    end_master_link(x.st, now);
    let r = &mut x.st.replicas;
    r.master = None;
    r.cached_master = None;
    // (A master expires every key: no list of its own ones is needed.)
    r.local_ttl.clear();
    r.shift_replid();
    disconnect_replicas(x.st);
    let r = &mut x.st.replicas;
    // The new history's stream starts with a SELECT.
    r.seldb = None;
    r.alone_since_ms = now;
    r.link_down_since_ms = 0;
    let _ = x.st.config.set("replicaof", "", false);
    x.env.replicate(None);
}

/// The link to the master is established, the stream to come continuing `replid`'s
/// history from `offset`: after a full resync (`full`) this server takes that history
/// whole (its replicas, of the old one, are disconnected to resync, and the backlog starts
/// empty); after a partial one, a master that answered under a new id (it was promoted)
/// makes that id ours and the old one our second, and our replicas reconnect to learn it.
pub fn link_established(st: &mut State, replid: &str, offset: u64, full: bool) {
    let r = &mut st.replicas;
    if r.offset != offset {
        // (Not expected: the continued offset is the one this server had.) The backlog
        // would not match it.
        r.offset = offset;
        r.backlog = None;
    }
    let mut changed = full;
    if full {
        // Until the resync's commands have run (`full_resync_done`) the dataset is no
        // history's: a fresh id, so nobody continues from it meanwhile.
        r.adopt_replid(new_replid(), offset);
        r.resync_replid = Some(replid.to_string());
        r.backlog = None;
    } else if r.replid != replid {
        tracing::warn!("Master replication ID changed to {replid}");
        r.shift_replid_to(replid.to_string());
        changed = true;
    }
    // A replica keeps a backlog too: promoted, its replicas continue from it.
    r.backlog.get_or_insert_with(|| Backlog::empty(&st.config));
    r.cached_master = None;
    if changed {
        disconnect_replicas(st);
    }
}

/// At start, where the stream stood when this server last stopped cleanly (nothing was
/// logged since): a replica takes it as its master's to continue from (Redis's
/// replicationCacheMasterUsingMyself); a master keeps that history as its second id, with
/// an empty backlog from there, so its replicas continue.
pub fn restore_position(st: &mut State, replid: String, offset: u64, db: usize, now_ms: i64) {
    let r = &mut st.replicas;
    if r.master.is_some() {
        r.replid = replid.clone();
        r.offset = offset;
        r.cached_master = Some((replid, offset, db));
        return;
    }
    // (Our id is already a new one: that history becomes the second.)
    let mine = std::mem::replace(&mut r.replid, replid);
    r.offset = offset;
    r.shift_replid_to(mine);
    r.alone_since_ms = now_ms;
    r.seldb = None;
    r.backlog = Some(Backlog::empty(&st.config));
}

/// At start, on a master: drop the keys whose time ran out while the server was down, as
/// Redis's master skips them as it loads its RDB (INFO `rdb_last_load_keys_expired`, the
/// count returned). When the stream's history was restored (`restore_position`), their
/// DELs (UNLINKs with `lazyfree-lazy-expire`) go down it, so replicas continuing it drop
/// them too and the offset counts them; a backlog they overflow sends the replicas to a
/// full resync. (Not logged: the next start finds them expired again.)
pub fn drop_expired_at_start(st: &mut State, now_ms: i64) -> u64 {
    if st.replicas.master.is_some() {
        return 0;
    }
    let verb: &[u8] = if st.config.get("lazyfree-lazy-expire").as_deref() == Some("yes") {
        b"UNLINK"
    } else {
        b"DEL"
    };
    let mut dels: Vec<JournalEntry> = Vec::new();
    for (i, db) in st.ks.dbs.iter_mut().enumerate() {
        let due: Vec<Vec<u8>> = db
            .expires
            .iter()
            .filter(|(_, at)| **at < now_ms)
            .map(|(k, _)| k.to_vec())
            .collect();
        for k in due {
            db.remove(&k);
            let db = u16::try_from(i).unwrap_or(u16::MAX);
            dels.push((db, vec![Bytes::from_static(verb), Bytes::from(k)]));
        }
    }
    let n = dels.len() as u64;
    feed(st, &dels, Unit::Background);
    n
}

/// The full resync's commands have all run: the dataset is the master's at the offset
/// it announced, and this server's history is the master's.
pub fn full_resync_done(st: &mut State, offset: u64) {
    if let Some(replid) = st.replicas.resync_replid.take() {
        st.replicas.adopt_replid(replid, offset);
    }
}

/// On a replica, after a client's (not the master's) unit: remember the keys its effects
/// left with a TTL, which this replica then expires itself (`expire_local_keys`).
pub fn track_local_ttls(st: &mut State, journal: &[JournalEntry]) {
    for (db, argv) in journal {
        let Ok(spec) = super::COMMANDS.lookup(argv) else {
            continue;
        };
        let d = usize::from(*db);
        for &i in spec.key_positions(argv.len()).iter() {
            if let Some(k) = argv.get(i) {
                if st.ks.dbs.get(d).is_some_and(|x| x.expire_at(k) >= 0) {
                    st.replicas.local_ttl.insert((d, k.to_vec()));
                }
            }
        }
    }
}

/// A replica's own expiry: delete the keys of `local_ttl` that are due (journaling a DEL
/// for each, as the active cycle does) and forget those no longer expiring.
pub fn expire_local_keys(x: &mut Exec<'_>) {
    let now = x.now_ms;
    // The keys that are due or no longer expire (the rest stay listed, uncopied).
    let dbs = &x.st.ks.dbs;
    let done: Vec<(usize, Vec<u8>, bool)> =
        x.st.replicas
            .local_ttl
            .iter()
            .filter_map(|(db, key)| {
                let at = dbs.get(*db).map_or(-1, |d| d.expire_at(key));
                (at < now).then(|| (*db, key.clone(), at >= 0))
            })
            .collect();
    for (db, key, due) in done {
        let entry = (db, key);
        x.st.replicas.local_ttl.remove(&entry);
        let (db, key) = entry;
        if due {
            x.st.ks.dbs[db].remove(&key);
            x.st.stats.expired_keys += 1;
            x.notify_in(db, 'x', "expired", &key);
            x.journal_db(db, vec![Bytes::from_static(b"DEL"), Bytes::from(key)]);
        }
    }
}

/// Redis's checkGoodReplicasStatus, negated: a master with `min-replicas-to-write` (and a
/// nonzero `min-replicas-max-lag`) that has fewer replicas acknowledging within the lag
/// refuses writes (-NOREPLICAS).
pub fn lacks_good_replicas(st: &State, now_ms: i64) -> bool {
    let r = &st.replicas;
    if r.master.is_some() || r.min_replicas_to_write == 0 || r.min_replicas_max_lag == 0 {
        return false;
    }
    let max_lag = i64::try_from(r.min_replicas_max_lag).unwrap_or(i64::MAX);
    let good = r
        .ids
        .iter()
        .filter_map(|id| st.clients.map.get(id))
        .filter(|c| c.replica_ack_ms > 0 && now_ms / 1000 - c.replica_ack_ms / 1000 <= max_lag)
        .count();
    (good as u64) < r.min_replicas_to_write
}

/// Redis's replication admission checks for a client command (not inside EXEC or a
/// script): on a replica whose link is down (REPLICAOF host port) with
/// `replica-serve-stale-data no`, commands not flagged `stale` get -MASTERDOWN; on a
/// master with `min-replicas-to-write` > 0 (no replica ever acknowledges here), writes get
/// -NOREPLICAS; on a replica with `replica-read-only yes`, writes get -READONLY. EXEC is
/// judged by the commands it queued, and refused as `-EXECABORT Transaction discarded
/// because of: …`, leaving MULTI; a script or function that declares flags by its
/// `allow-stale` flag.
pub fn refusal(x: &mut Exec<'_>, spec: &super::CommandSpec, argv: &[Bytes]) -> Option<CmdError> {
    use super::Flags;
    let st = &*x.st;
    let replica = st.replicas.master.is_some();
    let min_replicas = st.replicas.min_replicas_to_write;
    if !replica && min_replicas == 0 {
        return None;
    }
    if replica && st.replicas.master_client == Some(x.client_id) {
        // The master's own stream.
        return None;
    }
    let is_exec = spec.full_name == "exec";
    // Each command judged (EXEC: those it queued): its flags, and whether it writes (a
    // script or function that declares flags without no-writes counts as a write).
    let judge = |st: &State, flags: Flags, a: &[Bytes]| {
        let writes = flags.contains(Flags::WRITE) || super::scripting::declares_writes(st, a);
        (flags, writes)
    };
    let queued: Vec<(Flags, bool)> = if is_exec {
        let st = &*x.st;
        st.clients
            .map
            .get(&x.client_id)
            .and_then(|c| c.multi.as_ref())
            .map(|q| {
                q.iter()
                    .filter_map(|a| {
                        let spec = super::COMMANDS.lookup(a).ok()?;
                        Some(judge(st, spec.flags, a))
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![judge(x.st, spec.flags, argv)]
    };
    let st = &*x.st;
    let writes = queued.iter().any(|&(_, w)| w);
    // A script or function that declares its flags is stale-safe only with allow-stale.
    let script_stale = if is_exec {
        None
    } else {
        super::scripting::declares_allow_stale(st, argv)
    };
    let deny_stale = if is_exec {
        queued.iter().any(|(f, _)| !f.contains(Flags::STALE))
    } else if let Some(allowed) = script_stale {
        !allowed
    } else {
        !spec.flags.contains(Flags::STALE)
    };
    let text = if replica
        && st.replicas.link != Link::Up
        && deny_stale
        && st.config.get("replica-serve-stale-data").as_deref() == Some("no")
    {
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
    } else if !replica && min_replicas > 0 && writes && lacks_good_replicas(st, x.now_ms) {
        "NOREPLICAS Not enough good replicas to write."
    } else if replica && writes && st.config.get("replica-read-only").as_deref() != Some("no") {
        "READONLY You can't write against a read only replica."
    } else {
        return None;
    };
    // (A refused EXEC is discarded and prefixed EXECABORT by `dispatch::reject`.)
    Some(CmdError::Raw(text.into()))
}

/// The state of a replica's link to its master (Redis's `repl_state`, as ROLE names it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Link {
    /// Not connected (or a master: no link).
    #[default]
    Down,
    /// Connecting.
    Connecting,
    /// Connected, handshaking (up to PSYNC's reply).
    Handshake,
    /// Receiving and loading the full resync's payload.
    Sync,
    /// Running the master's stream.
    Up,
}

impl Link {
    /// ROLE's word for it.
    pub fn role_word(self) -> &'static str {
        match self {
            Link::Down => "connect",
            Link::Connecting => "connecting",
            Link::Handshake => "handshake",
            Link::Sync => "sync",
            Link::Up => "connected",
        }
    }
}

/// The bytes `argv` takes on the replication stream (a RESP array of bulk strings, as
/// every master sends its stream): what one command moves a replica's offset by.
pub fn stream_len(argv: &[Bytes]) -> u64 {
    fn digits(n: usize) -> u64 {
        u64::from(n.checked_ilog10().unwrap_or(0)) + 1
    }
    let mut n = 3 + digits(argv.len());
    for a in argv {
        n += 1 + digits(a.len()) + 2 + a.len() as u64 + 2;
    }
    n
}

/// Send the master our offset (`REPLCONF ACK <offset>`) on its link, if the link is up.
pub fn send_ack(st: &mut State, now_ms: i64) {
    let Some(id) = st.replicas.master_client else {
        return;
    };
    let Some(c) = st.clients.map.get(&id) else {
        return;
    };
    if c.repl_skip > 0 {
        // The full resync is not loaded yet: nothing of the stream is applied (Redis's
        // replica has no master client to acknowledge with until then).
        return;
    }
    let mut out = Vec::new();
    let off = c.repl_offset.to_string();
    push_command(&mut out, &[b"REPLCONF", b"ACK", off.as_bytes()]);
    if let Some(push) = &c.push {
        let _ = push(&out);
    }
    st.replicas.last_ack_ms = now_ms;
}

/// The largest full resync applied as one transaction (one log record, whose limit is
/// 512 MiB).
const FULL_SYNC_ONE_RECORD_MAX: usize = 256 << 20;

/// A full resync's payload (an RDB file) as the commands that make this server's dataset
/// that file's: FLUSHALL, FUNCTION FLUSH, a FUNCTION LOAD per library, then per key a
/// RESTORE … ABSTTL REPLACE (a SELECT before each change of database), in one MULTI/EXEC
/// unless very large, and the database the stream continues in. Run on the master link like the stream that follows them, they are
/// journaled and logged as any write, so the resync is durable the way every other change
/// is.
pub fn full_sync_commands(
    rdb: &[u8],
    lim: &crate::rdb::Limits,
    databases: usize,
) -> Result<(Vec<u8>, usize), String> {
    let mut body = Vec::new();
    let mut db = usize::MAX;
    let mut bad_db = None;
    let info = crate::rdb::file::read(rdb, lim, |k| {
        if k.db >= databases {
            bad_db = Some(k.db);
            return;
        }
        if k.db != db {
            db = k.db;
            push_command(&mut body, &[b"SELECT", db.to_string().as_bytes()]);
        }
        let payload = crate::rdb::value::dump(&k.value);
        let ttl = k.expire_ms.max(0).to_string();
        push_command(
            &mut body,
            &[
                b"RESTORE",
                &k.key,
                ttl.as_bytes(),
                &payload,
                b"ABSTTL",
                b"REPLACE",
            ],
        );
    })
    .map_err(|e| format!("the master's RDB payload: {e}"))?;
    if let Some(d) = bad_db {
        return Err(format!(
            "the master's RDB payload uses database {d} (only {databases} exist)"
        ));
    }
    // One transaction, so one log record: a crash part way leaves the dataset before or
    // after the resync, never half of it. Past a size where one record would be too
    // large, the commands run one by one (a crash then leaves part of the new dataset).
    let whole = body.len() < FULL_SYNC_ONE_RECORD_MAX;
    let mut out = Vec::new();
    if whole {
        push_command(&mut out, &[b"MULTI"]);
    }
    push_command(&mut out, &[b"FLUSHALL"]);
    push_command(&mut out, &[b"FUNCTION", b"FLUSH"]);
    for code in &info.functions {
        push_command(&mut out, &[b"FUNCTION", b"LOAD", b"REPLACE", code]);
    }
    out.extend_from_slice(&body);
    // The stream continues in the database the master's stream has selected (its
    // `repl-stream-db`; 0 without one) until its next SELECT.
    let stream_db = info
        .aux
        .iter()
        .find(|(k, _)| k == b"repl-stream-db")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
        .filter(|d| *d < databases)
        .unwrap_or(0);
    push_command(&mut out, &[b"SELECT", stream_db.to_string().as_bytes()]);
    if whole {
        push_command(&mut out, &[b"EXEC"]);
    }
    Ok((out, stream_db))
}

/// How the effects of one execution unit are framed on the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A client command: its first `own` effects are one unit (wrapped in MULTI/EXEC
    /// when more than one, unless `arbitrary_keys`); the rest are effects of clients
    /// served after a blocking wait, one by one.
    Command {
        /// Effects of the command itself (counting `evicted`).
        own: usize,
        /// The first of them are DELs of keys evicted before the command ran: sent one by
        /// one ahead of it, never in its MULTI (Redis propagates evictions on their own).
        evicted: usize,
        /// The command touches arbitrary keys (KEYS, SCAN, RANDOMKEY): its lazy-expiry
        /// DELs are not wrapped, as in Redis.
        arbitrary_keys: bool,
    },
    /// The background cycle (active expiry, eviction): each key's DEL on its own.
    Background,
}

/// Turn the calling connection into a replica: queue the payload on its connection and
/// subscribe it to the stream. Nothing else is replied.
fn attach(x: &mut Exec<'_>, preamble: Option<String>) -> Result<Reply, CmdError> {
    attach_with(x, preamble, None)
}

/// [`attach`]; `resume`: a partial resync, the backlog's bytes the replica lacks sent
/// after the preamble instead of a payload (the stream goes on as it was: no SELECT).
fn attach_with(
    x: &mut Exec<'_>,
    preamble: Option<String>,
    resume: Option<Vec<u8>>,
) -> Result<Reply, CmdError> {
    let id = x.client_id;
    let partial = resume.is_some();
    let preamble_is_psync = preamble.is_some();
    let mut out = preamble.unwrap_or_default().into_bytes();
    let mut payload_len = 0;
    if let Some(missed) = resume {
        out.extend_from_slice(&missed);
    } else {
        let keys = !x.client().rdb_functions_only;
        if keys && wait_for_payload(x, preamble_is_psync)? {
            return Ok(Reply::Many(Vec::new()));
        }
        // The dataset now, built in place (under the engine lock: a pause as long as
        // writing it) when no background snapshot can be had; every later change reaches
        // the replica through the stream.
        let mut rdb = Vec::new();
        // (A replica's stream is its master's, in the database that one selected; a
        // master's starts with a SELECT.)
        let r = &x.st.replicas;
        let db = r
            .master_client
            .and_then(|id| x.st.clients.map.get(&id))
            .map_or(0, |c| c.db);
        let aux = super::dump::ReplAux {
            db,
            replid: r.replid.clone(),
            offset: r.offset,
        };
        super::dump::write_rdb_of(x.st, x.now_ms, &mut rdb, || {}, keys, Some(aux))
            .map_err(|e| CmdError::err(format!("cannot write the RDB payload: {e}")))?;
        out.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
        out.extend_from_slice(&rdb);
        payload_len = rdb.len();
        x.st.replicas.sync_full += 1;
    }
    let Some(push) = attach_prepare(x) else {
        return Err(CmdError::err(
            "the connection cannot receive the replication stream",
        ));
    };
    // The stream that follows is held to the replica class's output limits (Redis's
    // `client-output-buffer-limit replica 256mb 64mb 60`: a replica that stops reading is
    // cut off). The payload itself is not output buffer (`push_unmetered`).
    let meter = x.client().out.clone();
    let (head, payload) = out.split_at(out.len() - payload_len);
    if !(push(head) && push_unmetered(&push, &meter, payload)) {
        return Err(CmdError::err(
            "the connection cannot receive the replication stream",
        ));
    }
    x.st.replicas.ids.push(id);
    if x.st.replicas.ids.len() == 1 {
        x.st.replicas.last_ping_ms = x.now_ms;
    }
    if !partial {
        // A new replica's stream starts with a SELECT (Redis resets its stream database).
        x.st.replicas.seldb = None;
    }
    Ok(Reply::Many(Vec::new()))
}

/// What every attach needs: the backlog (kept from the first replica on, as Redis's),
/// the connection marked a replica's (its output limits are the replica class's), and
/// the connection's push.
fn attach_prepare(x: &mut Exec<'_>) -> Option<super::client::PushFn> {
    let config = &x.st.config;
    x.st.replicas
        .backlog
        .get_or_insert_with(|| Backlog::empty(config));
    if let Some(m) = &x.client().out {
        m.replica.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    x.client().push.clone()
}

/// A full resync from a background snapshot, as Redis's from a BGSAVE: the replica waits
/// (`Replicas::waiting`) for a snapshot job's file, which becomes its payload, and the
/// stream from that job's start is held for it meanwhile. It joins a job started for other
/// replicas that is still running (their held stream is its too), or asks for a new one;
/// when a job of another kind runs it waits for that one to end (`snapshot_ended` then
/// starts the next). False: no background snapshot can be had (none without a server, or
/// the last one failed, say on a full disk): the payload is built in place.
fn wait_for_payload(x: &mut Exec<'_>, psync: bool) -> Result<bool, CmdError> {
    let id = x.client_id;
    let Some(push) = x.client().push.clone() else {
        return Ok(false);
    };
    // (The running job's stream is held already: the replica shares it.)
    let joined =
        x.st.replicas
            .sync_point
            .clone()
            .filter(|p| x.st.replicas.held.iter().any(|h| h.job == p.job));
    x.st.replicas.waiting.push(Waiting {
        id,
        psync,
        job: None,
        sending: false,
    });
    if let Some(point) = joined {
        let w = x.st.replicas.waiting.last_mut().expect("just pushed");
        w.job = Some(point.job);
        if psync {
            let replid = &point.aux.replid;
            push(format!("+FULLRESYNC {replid} {}\r\n", point.aux.offset).as_bytes());
        }
    } else if let Err(e) = x
        .env
        .snapshot(x.st, super::exec::SnapshotRequest::ForReplicas)
    {
        x.st.replicas.waiting.retain(|w| w.id != id);
        tracing::info!("Full resync built in place: no background snapshot ({e})");
        return Ok(false);
    }
    attach_prepare(x);
    x.st.replicas.sync_full += 1;
    if x.st.replicas.ids.is_empty() && x.st.replicas.waiting.len() == 1 {
        // The first replica: the stream's PINGs count their period from here.
        x.st.replicas.last_ping_ms = x.now_ms;
    }
    let job = x.st.replicas.waiting.last().and_then(|w| w.job);
    let who = x.client().addr.clone();
    match job {
        Some(job) => tracing::info!(
            "Starting BGSAVE for SYNC with target: disk (replica {who}, snapshot job {job})"
        ),
        None => tracing::info!(
            "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC (replica {who})"
        ),
    }
    Ok(true)
}

/// A background snapshot job started (under the engine lock, at the point its file
/// captures): the replicas waiting for one take it, their stream held from here.
pub fn snapshot_started(st: &mut State, job: u64, now_ms: i64) {
    if !st.replicas.waiting.iter().any(|w| w.job.is_none()) {
        return;
    }
    let r = &mut st.replicas;
    let db = if r.master.is_some() {
        // A replica's stream is its master's, in the database that one selected (with
        // the link down, the database it was in: Redis's rdbPopulateSaveInfo).
        r.master_client
            .and_then(|m| st.clients.map.get(&m))
            .map(|c| c.db)
            .or(r.cached_master.as_ref().map(|c| c.2))
            .unwrap_or(0)
    } else {
        // A master's held stream starts with a SELECT (Redis resets its stream database
        // for a new full resync).
        r.seldb = None;
        0
    };
    let aux = super::dump::ReplAux {
        db,
        replid: r.replid.clone(),
        offset: r.offset,
    };
    r.held.push(Held {
        job,
        from: r.offset,
        soft_since_ms: 0,
    });
    for w in r.waiting.iter_mut().filter(|w| w.job.is_none()) {
        w.job = Some(job);
        if w.psync {
            if let Some(push) = st.clients.map.get(&w.id).and_then(|c| c.push.as_ref()) {
                push(format!("+FULLRESYNC {} {}\r\n", aux.replid, aux.offset).as_bytes());
            }
        }
    }
    r.sync_point = Some(SyncPoint { job, aux, now_ms });
}

/// A background snapshot job ended (under the engine lock). When replicas waited for it
/// and it succeeded: where their payload starts (the job's `SyncPoint`), for the server
/// to make the payload from the file and `deliver` it. When it failed they are
/// disconnected (Redis: "BGSAVE for replication failed"); they reconnect and try again.
pub fn snapshot_ended(st: &mut State, job: u64, ok: bool) -> Option<SyncPoint> {
    let point = st.replicas.sync_point.take_if(|p| p.job == job)?;
    if !ok {
        abandon(st, Some(job), "the snapshot for it failed");
        return None;
    }
    st.replicas
        .waiting
        .iter()
        .any(|w| w.job == Some(job))
        .then_some(point)
}

/// Replicas wait for a snapshot job to start.
pub fn waiting_for_job(st: &State) -> bool {
    st.replicas.waiting.iter().any(|w| w.job.is_none())
}

/// The payload of `job`'s waiting replicas is ready: who they are (client id, push,
/// output meter), each marked as being sent it. The server queues it on their
/// connections without the engine lock (`push_unmetered`), then `attach_waiting`.
pub fn payload_targets(st: &mut State, job: u64) -> Vec<(u64, super::client::PushFn, Meter)> {
    let clients = &st.clients.map;
    st.replicas
        .waiting
        .iter_mut()
        .filter(|w| w.job == Some(job))
        .filter_map(|w| {
            let c = clients.get(&w.id)?;
            w.sending = true;
            Some((w.id, c.push.clone()?, c.out.clone()))
        })
        .collect()
}

/// A connection's output meter.
pub type Meter = Option<std::sync::Arc<super::climem::OutMeter>>;

/// Queue `bytes` on a replica's connection without counting them as output buffer (a
/// payload is not output buffer in Redis: it is sent from the RDB file), in pieces, so
/// that no piece takes it past the replica class's limits; false when the connection
/// refuses them. (Counted as the replication buffers' memory until written.)
pub fn push_unmetered(push: &super::client::PushFn, meter: &Meter, bytes: &[u8]) -> bool {
    bytes.chunks(1 << 20).all(|piece| {
        if let Some(m) = meter {
            m.payload_coming(piece.len());
        }
        let ok = push(piece);
        if let Some(m) = meter {
            m.payload_queued(piece.len());
        }
        ok
    })
}

/// `job`'s payload has been queued whole on the connections of the replicas `done`, and
/// could not be on `failed`'s: queue the stream held since the job started on the first,
/// which are attached replicas from here on, and disconnect the others. The job's other
/// replicas still wait (the stream stays held for them).
pub fn attach_waiting(st: &mut State, job: u64, done: &[u64], failed: &[u64]) {
    let (now, rest): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut st.replicas.waiting)
        .into_iter()
        .partition(|w| {
            w.job == Some(job) && w.sending && (done.contains(&w.id) || failed.contains(&w.id))
        });
    st.replicas.waiting = rest;
    let r = &mut st.replicas;
    // (`prune_held` below lets it go once no replica waits for it.)
    let from = r.held.iter().find(|h| h.job == job).map(|h| h.from);
    // The stream since the job started, from the backlog (None: it no longer holds it all,
    // which the trimming does not allow).
    let held: Option<(&[u8], &[u8])> = from.and_then(|from| {
        let b = r.backlog.as_ref()?;
        let n = usize::try_from(r.offset.checked_sub(from)?).ok()?;
        let skip = b.buf.len().checked_sub(n)?;
        let (x, y) = b.buf.as_slices();
        Some(if skip >= x.len() {
            (&y[skip - x.len()..], &[][..])
        } else {
            (&x[skip..], y)
        })
    });
    let mut attached = Vec::new();
    for w in now {
        let Some(c) = st.clients.map.get(&w.id) else {
            continue;
        };
        let sent = !failed.contains(&w.id)
            && held.is_some_and(|(x, y)| {
                c.push.as_ref().is_some_and(|push| {
                    x.chunks(1 << 20)
                        .chain(y.chunks(1 << 20))
                        .all(|piece| push(piece))
                })
            });
        if !sent {
            tracing::warn!(
                client = w.id,
                "cannot send the full resync's payload to the replica"
            );
            if let Some(k) = &c.kill {
                k();
            }
            continue;
        }
        tracing::info!("Synchronization with replica {} succeeded", c.addr);
        attached.push(w.id);
    }
    for id in attached {
        r.ids.push(id);
        if r.ids.len() == 1 {
            r.last_ping_ms = crate::clock::now_ms();
        }
    }
    r.prune_held();
}

/// The replicas waiting for `job` (None: for a job to start) cannot get their payload:
/// disconnect them (`why` is logged).
pub fn abandon(st: &mut State, job: Option<u64>, why: &str) {
    let clients = &st.clients.map;
    st.replicas.waiting.retain(|w| {
        if w.job != job {
            return true;
        }
        tracing::warn!(
            client = w.id,
            "disconnecting a replica waiting for its full resync: {why}"
        );
        if let Some(k) = clients.get(&w.id).and_then(|c| c.kill.as_ref()) {
            k();
        }
        false
    });
    st.replicas.prune_held();
}

/// Client `id` receives the replication stream, or waits for its payload.
pub fn is_replica(st: &State, id: u64) -> bool {
    let r = &st.replicas;
    r.ids.contains(&id) || r.waiting.iter().any(|w| w.id == id)
}

/// A replica's command produced a reply: log it and disconnect the replica, as Redis
/// does ("Replica generated a reply to command …").
pub fn replied_to_replica(x: &mut Exec<'_>, reply: &Reply, command: &str) {
    let now = x.now_ms;
    if matches!(reply, Reply::Error(_)) {
        x.st.replicas.unexpected_error_replies += 1;
    }
    let c = x.client();
    if let Reply::Error(e) = reply {
        tracing::warn!(
            "== CRITICAL == This master is sending an error to its replica: '{e}' after processing the command '{command}'"
        );
    }
    tracing::warn!(
        "Replica generated a reply to command '{command}', disconnecting it: {}",
        c.info_line(now)
    );
    if let Some(k) = &c.kill {
        k();
    }
}

/// SYNC: full resync (`$<len>` RDB payload), then the stream.
fn sync(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    // (The caller is a replica already: Redis ignores a second SYNC or PSYNC.)
    if is_replica(x.st, x.client_id) {
        return Ok(Reply::Many(Vec::new()));
    }
    sync_refusal(x)?;
    attach(x, None)
}

/// PSYNC replicationid offset: a partial resync (`+CONTINUE <replid>` and the bytes
/// missed) when the backlog allows it, else a full one (`+FULLRESYNC <replid> <offset>`).
fn psync(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    // (The caller is a replica already: Redis ignores a second SYNC or PSYNC.)
    if is_replica(x.st, x.client_id) {
        return Ok(Reply::Many(Vec::new()));
    }
    if a.len() > 3 && is(&a[3], "failover") {
        // A master handing over to us (its FAILOVER): we become the master, and the
        // request then continues the stream it was feeding us, under our new id.
        tracing::warn!(
            "Failover request received for replid {}.",
            String::from_utf8_lossy(&a[1])
        );
        if x.st.replicas.master.is_none() {
            return Err(CmdError::err("PSYNC FAILOVER can't be sent to a master."));
        }
        if a[1] != x.st.replicas.replid.as_bytes() {
            return Err(CmdError::err("PSYNC FAILOVER replid must match my replid."));
        }
        unset_master(x);
        let who = x.client().addr.clone();
        tracing::info!("MASTER MODE enabled (failover request from 'addr={who}')");
    }
    sync_refusal(x)?;
    if let Err(e) = arg_i64(&a[2]) {
        let who = x.client().addr.clone();
        tracing::warn!("Replica {who} asks for synchronization but with a wrong offset");
        return Err(e);
    }
    let replid = x.st.replicas.replid.clone();
    let offset = x.st.replicas.offset;
    if a[1] != b"?"[..] {
        // A partial resync when the replica's history is ours (our id, or our previous
        // one up to where it was valid) and the backlog still holds every byte from the
        // one it asks for (Redis's masterTryPartialResynchronization).
        let want = std::str::from_utf8(&a[2])
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        let r = &x.st.replicas;
        let ours = |want: u64| {
            a[1] == r.replid.as_bytes()
                || (a[1] == r.replid2.as_bytes()
                    && i64::try_from(want).is_ok_and(|w| w <= r.second_replid_offset))
        };
        let resume = match (&r.backlog, want) {
            (Some(b), Some(want)) if ours(want) => {
                let first = offset + 1 - b.buf.len() as u64;
                (first..=offset + 1).contains(&want).then(|| {
                    let from = usize::try_from(want - first).unwrap_or(usize::MAX);
                    b.buf.range(from..).copied().collect::<Vec<u8>>()
                })
            }
            _ => None,
        };
        if let Some(missed) = resume {
            x.st.replicas.sync_partial_ok += 1;
            return attach_with(x, Some(format!("+CONTINUE {replid}\r\n")), Some(missed));
        }
        x.st.replicas.sync_partial_err += 1;
    }
    attach(x, Some(format!("+FULLRESYNC {replid} {offset}\r\n")))
}

/// Why this server cannot feed a replica now (Redis's syncCommand checks): during its
/// own FAILOVER, or as a replica whose link to its master is not up (it would have no
/// stream to relay).
fn sync_refusal(x: &mut Exec<'_>) -> Result<(), CmdError> {
    if x.st.replicas.failover.is_some() {
        return Err(CmdError::Raw(
            "NOMASTERLINK Can't SYNC while failing over".into(),
        ));
    }
    if x.st.replicas.master.is_some() && x.st.replicas.link != Link::Up {
        return Err(CmdError::Raw(
            "NOMASTERLINK Can't SYNC while not connected with my master".into(),
        ));
    }
    Ok(())
}

/// REPLCONF <option> <value> ...: the options a replica sends are accepted (and ignored:
/// strata streams the same way to every replica); ACK and GETACK answer nothing, as in
/// Redis. Errors as Redis 7.0's.
fn replconf(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    for pair in a[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "listening-port") {
            let port = arg_i64(val)?;
            x.client().replica_port = u16::try_from(port).unwrap_or(0);
        } else if is(opt, "ip-address") {
            if val.len() >= 256 {
                return Err(CmdError::err(format!(
                    "REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                )));
            }
            x.client().replica_ip = Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "capa") {
        } else if is(opt, "ack") {
            // A replica's progress (no reply, as Redis): INFO shows it as its offset, and
            // clients in WAIT may now have enough replicas.
            if let Ok(off) = u64::try_from(arg_i64(val)?) {
                let now = x.now_ms;
                let c = x.client();
                c.replica_ack = off;
                c.replica_ack_ms = now;
                serve_waits(x.st);
            }
            return Ok(Reply::Many(Vec::new()));
        } else if is(opt, "getack") {
            // On the master link: answer with our offset (the one reply a replica sends
            // its master), before this command counts.
            if x.client().master_link {
                let now = x.now_ms;
                send_ack(x.st, now);
            }
            return Ok(Reply::Many(Vec::new()));
        } else if is(opt, "rdb-only") {
            let v = arg_i64(val)?;
            if !(0..=1).contains(&v) {
                return Err(CmdError::err(
                    "value is out of range, value must between 0 and 1",
                ));
            }
        } else if is(opt, "rdb-filter-only") {
            let words = String::from_utf8_lossy(val).into_owned();
            let mut functions = false;
            for w in words.split_whitespace() {
                if !w.eq_ignore_ascii_case("functions") {
                    return Err(CmdError::err(format!(
                        "Unsupported rdb-filter-only option: {w}"
                    )));
                }
                functions = true;
            }
            x.client().rdb_functions_only = functions;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    Ok(Reply::ok())
}

pub fn push_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Append one effect, preceded by a SELECT if the stream is in another database.
fn push_effect(out: &mut Vec<u8>, seldb: &mut Option<usize>, db: usize, argv: &[&[u8]]) {
    if *seldb != Some(db) {
        let n = db.to_string();
        push_command(out, &[b"SELECT", n.as_bytes()]);
        *seldb = Some(db);
    }
    push_command(out, argv);
}

/// How replicas get a unit's effects where that differs from the log: commands only they
/// get (`extra`, each with its journal position: PUBLISH, XREADGROUP's XCLAIMs) and logged
/// entries they do not get (`skip`: XREADGROUP, which the log keeps as itself for an
/// exact replay, while Redis propagates what it did instead).
#[derive(Debug, Default)]
pub struct ReplicaForm {
    /// (position in the journal, command) to insert.
    pub extra: Vec<(usize, JournalEntry)>,
    /// Positions in the journal to leave out.
    pub skip: Vec<usize>,
}

impl ReplicaForm {
    /// Nothing differs from the log.
    pub fn is_empty(&self) -> bool {
        self.extra.is_empty() && self.skip.is_empty()
    }

    /// Take `other`'s, for a journal appended at position `offset` of this one's.
    pub fn append(&mut self, other: ReplicaForm, offset: usize) {
        self.extra
            .extend(other.extra.into_iter().map(|(at, e)| (at + offset, e)));
        self.skip
            .extend(other.skip.into_iter().map(|at| at + offset));
    }

    /// `journal` as replicas get it.
    pub fn apply(&self, journal: &[JournalEntry]) -> Vec<JournalEntry> {
        let mut out = Vec::with_capacity(journal.len() + self.extra.len());
        let mut next = self.extra.iter().peekable();
        for (i, e) in journal.iter().enumerate() {
            while let Some((_, x)) = next.next_if(|(at, _)| *at <= i) {
                out.push(x.clone());
            }
            if !self.skip.contains(&i) {
                out.push(e.clone());
            }
        }
        out.extend(next.map(|(_, x)| x.clone()));
        out
    }
}

/// Send the effects of one execution unit (`journal`, as the log records it) to every
/// replica. Replicas whose connection is gone or over its output limit are dropped.
pub fn feed(st: &mut State, journal: &[JournalEntry], unit: Unit) {
    // (A replica relays its master's stream instead, `relay`: its own clients' writes
    // and expiries reach no replica, as in Redis.)
    if !st.replicas.streaming() || journal.is_empty() || st.replicas.master.is_some() {
        return;
    }
    let mut out = Vec::new();
    let mut seldb = st.replicas.seldb;
    let one = |out: &mut Vec<u8>, seldb: &mut Option<usize>, (db, argv): &JournalEntry| {
        let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
        push_effect(out, seldb, *db as usize, &args);
    };
    match unit {
        Unit::Command {
            own,
            evicted,
            arbitrary_keys,
        } => {
            let own = own.min(journal.len());
            let (mine, served) = journal.split_at(own);
            let (evictions, mine) = mine.split_at(evicted.min(mine.len()));
            for e in evictions {
                one(&mut out, &mut seldb, e);
            }
            let wrap = mine.len() > 1 && !arbitrary_keys;
            if wrap {
                push_effect(&mut out, &mut seldb, mine[0].0 as usize, &[b"MULTI"]);
            }
            for e in mine {
                one(&mut out, &mut seldb, e);
            }
            if wrap {
                push_command(&mut out, &[b"EXEC"]);
            }
            for e in served {
                one(&mut out, &mut seldb, e);
            }
        }
        Unit::Background => {
            for (db, argv) in journal {
                let is_del = argv.first().is_some_and(|c| c.eq_ignore_ascii_case(b"del"));
                if is_del && argv.len() > 2 {
                    for k in &argv[1..] {
                        push_effect(&mut out, &mut seldb, *db as usize, &[b"DEL", k]);
                    }
                } else {
                    one(&mut out, &mut seldb, &(*db, argv.clone()));
                }
            }
        }
    }
    st.replicas.seldb = seldb;
    send(st, &out);
}

/// An integer setting, or `default` when unset or not a number.
pub(crate) fn config_i64(config: &crate::config::Config, name: &str, default: i64) -> i64 {
    config
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Replication cron (Redis's `replicationCron`): every `repl-ping-replica-period` seconds
/// a PING goes down the stream, so a replica that sees no writes still hears from its
/// master before its `repl-timeout` and keeps the link.
pub fn cron(st: &mut State, now_ms: i64) {
    // A replica reports its offset every second (Redis's replicationCron), or its master
    // takes it for gone after `repl-timeout`.
    if st.replicas.master_client.is_some() && now_ms - st.replicas.last_ack_ms >= 1000 {
        send_ack(st, now_ms);
    }
    // A master silent for `repl-timeout` (it pings every `repl-ping-replica-period`) is
    // taken for gone: the link is dropped and made again.
    if let Some(c) = st
        .replicas
        .master_client
        .and_then(|id| st.clients.map.get(&id))
    {
        let timeout_s = config_i64(&st.config, "repl-timeout", 60).max(1);
        if now_ms - c.last_cmd_ms > timeout_s * 1000 {
            tracing::warn!("MASTER timeout: no data nor PING received...");
            if let Some(kill) = &c.kill {
                kill();
            }
        }
    }
    if !st.replicas.waiting.is_empty() && now_ms - st.replicas.last_newline_ms >= 1000 {
        // Replicas waiting for their payload get a newline a second, so that they know
        // this server is alive (Redis's replicationCron does the same).
        st.replicas.last_newline_ms = now_ms;
        for w in st.replicas.waiting.iter().filter(|w| !w.sending) {
            if let Some(push) = st.clients.map.get(&w.id).and_then(|c| c.push.as_ref()) {
                push(b"\n");
            }
        }
    }
    if !st.replicas.any() {
        // No replica for `repl-backlog-ttl` seconds (0: never): the backlog goes, and
        // with it any partial resync (a replica that comes back resyncs in full). A
        // replica keeps it, for its replicas once it is promoted.
        let r = &mut st.replicas;
        if r.backlog.is_some() && r.master.is_none() {
            let ttl_s = config_i64(&st.config, "repl-backlog-ttl", 3600);
            if r.alone_since_ms == 0 {
                r.alone_since_ms = now_ms;
            } else if ttl_s > 0 && now_ms - r.alone_since_ms > ttl_s * 1000 {
                tracing::info!("Replication backlog freed after {ttl_s} seconds without replicas");
                r.backlog = None;
            }
        }
        return;
    }
    st.replicas.alone_since_ms = 0;
    if st.replicas.master.is_some() || st.replicas.failover.is_some() {
        // A replica relays its master's PINGs; a master handing over keeps its offset
        // still for the replica to catch up with.
        return;
    }
    let period_s = config_i64(&st.config, "repl-ping-replica-period", 10).max(1);
    if now_ms - st.replicas.last_ping_ms < period_s * 1000 {
        return;
    }
    st.replicas.last_ping_ms = now_ms;
    let mut out = Vec::new();
    push_command(&mut out, &[b"PING"]);
    send(st, &out);
}

/// On a replica: what it processed of its master's stream, `out` (whole commands, as the
/// master sent them), goes on to its own replicas and backlog, so they share its master's
/// history and offsets.
pub fn relay(st: &mut State, out: &[u8]) {
    if st.replicas.master.is_some() {
        send(st, out);
    }
}

/// Queue `out` on every replica's connection. A replica whose connection is gone is
/// dropped; one over its output limit is disconnected too (as Redis frees it; a replica
/// then reconnects and resyncs), never left connected without the stream.
fn send(st: &mut State, out: &[u8]) {
    st.replicas.offset += out.len() as u64;
    if let Some(b) = &mut st.replicas.backlog {
        b.buf.extend(out);
    }
    if st.replicas.held.is_empty() {
        st.replicas.trim_backlog();
    } else {
        hold(st);
    }
    let clients = &st.clients.map;
    st.replicas.ids.retain(|id| {
        let Some(c) = clients.get(id) else {
            return false;
        };
        if c.push.as_ref().is_some_and(|push| push(out)) {
            return true;
        }
        tracing::warn!(
            client = id,
            "disconnecting a replica over client-output-buffer-limit replica"
        );
        if let Some(k) = &c.kill {
            k();
        }
        false
    });
}

/// The stream held for the replicas waiting for a payload whose job has started (the
/// backlog keeps it): when it reaches the replica class's hard limit, or stays over its
/// soft limit longer than allowed, its replicas are disconnected, as Redis frees replicas
/// whose output buffer does so while their BGSAVE runs. Replicas whose connection is
/// gone are dropped, and streams no one waits for.
fn hold(st: &mut State) {
    let now = crate::clock::now_ms();
    let limit = st.clients.limits.replica_class();
    let clients = &st.clients.map;
    let r = &mut st.replicas;
    r.waiting.retain(|w| clients.contains_key(&w.id));
    let offset = r.offset;
    let mut over_jobs = Vec::new();
    for h in &mut r.held {
        let used = offset.saturating_sub(h.from);
        let mut over = limit.hard > 0 && used >= limit.hard;
        if limit.soft > 0 && used >= limit.soft {
            if h.soft_since_ms == 0 {
                h.soft_since_ms = now;
            } else if now - h.soft_since_ms > limit.soft_ms {
                over = true;
            }
        } else {
            h.soft_since_ms = 0;
        }
        if over {
            over_jobs.push(h.job);
        }
    }
    for job in over_jobs {
        let why = "its held stream is over client-output-buffer-limit replica";
        abandon(st, Some(job), why);
    }
    st.replicas.prune_held();
}

/// How many attached replicas have acknowledged at least `offset`.
pub fn acked_at_least(st: &State, offset: u64) -> usize {
    st.replicas
        .ids
        .iter()
        .filter_map(|id| st.clients.map.get(id))
        .filter(|c| c.replica_ack >= offset)
        .count()
}

/// `REPLCONF GETACK *` down the stream: each replica answers with its offset at once.
pub fn request_acks(st: &mut State) {
    if st.replicas.ids.is_empty() || st.replicas.master.is_some() {
        return;
    }
    let mut out = Vec::new();
    push_command(&mut out, &[b"REPLCONF", b"GETACK", b"*"]);
    send(st, &out);
}

/// After a replica's acknowledgement: answer every client parked in WAIT that now has
/// enough replicas, and bring the others' timeout reply (the count so far) up to date.
pub fn serve_waits(st: &mut State) {
    let waiting: Vec<(u64, i64, u64)> = st
        .blocked
        .clients
        .iter()
        .filter(|(_, b)| b.argv.len() == 4 && b.argv[0].eq_ignore_ascii_case(b"wait"))
        .filter_map(|(id, b)| {
            let want = std::str::from_utf8(&b.argv[1]).ok()?.parse().ok()?;
            let target = std::str::from_utf8(&b.argv[3]).ok()?.parse().ok()?;
            Some((*id, want, target))
        })
        .collect();
    for (id, want, target) in waiting {
        let n = i64::try_from(acked_at_least(st, target)).unwrap_or(i64::MAX);
        if n >= want {
            if let Some(mut b) = st.blocked.remove(id) {
                if let Some(wake) = b.wake.take() {
                    wake(Reply::Int(n), 0);
                }
            }
        } else if let Some(b) = st.blocked.clients.get_mut(&id) {
            b.timeout_reply = Reply::Int(n);
        }
    }
}

/// One attached replica as INFO and ROLE show it.
pub struct Attached {
    /// The ip it announced (REPLCONF ip-address), else its connection's.
    pub ip: String,
    /// The port it announced (REPLCONF listening-port), else 0.
    pub port: u16,
    /// The offset it last acknowledged (REPLCONF ACK), and when (Unix ms; 0 = never).
    pub ack: u64,
    pub ack_ms: i64,
}

/// The attached replicas, in attach order.
pub fn attached(st: &State) -> Vec<Attached> {
    described(st, &st.replicas.ids)
}

/// The replicas waiting for their full resync's payload, with their INFO state:
/// `wait_bgsave` while the snapshot runs, `send_bulk` while the payload is queued.
pub fn waiting(st: &State) -> Vec<(Attached, &'static str)> {
    let mut out = Vec::new();
    for w in &st.replicas.waiting {
        if let Some(a) = described(st, &[w.id]).pop() {
            out.push((
                a,
                if w.sending {
                    "send_bulk"
                } else {
                    "wait_bgsave"
                },
            ));
        }
    }
    out
}

/// The replicas with client ids `ids`, as INFO and ROLE describe them.
fn described(st: &State, ids: &[u64]) -> Vec<Attached> {
    ids.iter()
        .filter_map(|id| st.clients.map.get(id))
        .map(|c| {
            let ip = c.replica_ip.clone().unwrap_or_else(|| {
                c.addr
                    .rsplit_once(':')
                    .map_or(c.addr.clone(), |(ip, _)| ip.to_string())
            });
            Attached {
                ip,
                port: c.replica_port,
                ack: c.replica_ack,
                ack_ms: c.replica_ack_ms,
            }
        })
        .collect()
}

/// Whether a command (by name) touches arbitrary keys, so its unit is not wrapped.
pub fn touches_arbitrary_keys(name: &[u8]) -> bool {
    ["keys", "scan", "randomkey"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_are_framed_as_redis_feeds_replicas() {
        let mut out = Vec::new();
        let mut seldb = None;
        push_effect(&mut out, &mut seldb, 9, &[b"SET", b"k", b"v"]);
        push_effect(&mut out, &mut seldb, 9, &[b"DEL", b"k"]);
        assert_eq!(
            out,
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n9\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
        );
    }
}
