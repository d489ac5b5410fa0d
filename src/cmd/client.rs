//! Per-connection client state (selected db, protocol, name, auth, flags) and the table
//! of connected clients that CLIENT LIST/KILL and INFO clients read. The table lives in
//! the engine state, under the engine lock, so commands see every client consistently.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

/// Called to disconnect a client from outside its connection task (CLIENT KILL).
pub type KillFn = Arc<dyn Fn() + Send + Sync>;

/// Queues a pub/sub message, encoded for the client's protocol, for the client's
/// connection; false when the client is over its output buffer limit (the caller then
/// disconnects it).
pub type PushFn = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// One connected client.
pub struct Client {
    /// Unique, increasing id.
    pub id: u64,
    /// Peer address `ip:port`.
    pub addr: String,
    /// Local address `ip:port`.
    pub laddr: String,
    /// CLIENT SETNAME.
    pub name: Option<Bytes>,
    /// Selected database.
    pub db: usize,
    /// Protocol version (2 or 3).
    pub resp: u8,
    /// Passed AUTH (or no password is configured).
    pub authenticated: bool,
    /// The ACL user it runs as (`default` until AUTH).
    pub user: Bytes,
    /// Its user is allowed everything: dispatch skips the ACL check (kept up to date by
    /// ACL SETUSER / DELUSER and AUTH).
    pub acl_free: bool,
    /// Connection time, Unix ms.
    pub created_ms: i64,
    /// Last command time, Unix ms.
    pub last_cmd_ms: i64,
    /// Last command name (`cmd=` in CLIENT LIST).
    pub last_cmd: &'static str,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: String,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: String,
    /// CLIENT NO-EVICT.
    pub no_evict: bool,
    /// CLIENT NO-TOUCH.
    pub no_touch: bool,
    /// Close the connection after writing pending replies (QUIT, CLIENT KILL of self).
    pub close_after_reply: bool,
    /// Bytes in the query buffer (reported in CLIENT LIST).
    pub qbuf: usize,
    /// Disconnects the client.
    pub kill: Option<KillFn>,
    /// Commands queued since MULTI (`None` outside a transaction).
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A queued command was rejected: EXEC will answer EXECABORT.
    pub multi_aborted: bool,
    /// Keys this client WATCHes, as (db, key).
    pub watched: Vec<(usize, Bytes)>,
    /// Watched keys that were already logically expired (stale) when WATCHed: deleting
    /// them is no change and their expiry does not fail EXEC (Redis 7.0's `expired` flag).
    pub watched_stale: Vec<(usize, Bytes)>,
    /// A watched key was touched: EXEC will fail with a null reply.
    pub watch_dirty: bool,
    /// Subscribed channels, in subscription order.
    pub channels: Vec<Bytes>,
    /// Subscribed patterns, in subscription order.
    pub patterns: Vec<Bytes>,
    /// Subscribed shard channels, in subscription order.
    pub shard_channels: Vec<Bytes>,
    /// Delivers pub/sub messages to the connection.
    pub push: Option<PushFn>,
    /// CLIENT REPLY OFF: no replies until CLIENT REPLY ON.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: replies still to silence (its own and the next command's).
    pub reply_skip: u8,
    /// Its last batch is held by CLIENT PAUSE (counted in INFO `blocked_clients`).
    pub paused: bool,
    /// Sent MONITOR: receives every command the server runs.
    pub monitor: bool,
    /// CLIENT TRACKING settings (None = off).
    pub tracking: Option<super::tracking::Mode>,
}

impl Client {
    /// Whether the reply now being sent is silenced by CLIENT REPLY (counts a SKIP down).
    pub fn reply_muted(&mut self) -> bool {
        if self.reply_skip > 0 {
            self.reply_skip -= 1;
            return true;
        }
        self.reply_off
    }

    /// Channels + patterns (the count SUBSCRIBE/PSUBSCRIBE replies carry).
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// True in RESP2 subscribed mode (only pub/sub commands, PING, QUIT, RESET allowed).
    pub fn in_subscribed_mode(&self) -> bool {
        self.resp < 3 && (self.subscription_count() + self.shard_channels.len()) > 0
    }
}

impl Client {
    /// A new client.
    pub fn new(id: u64, addr: String, laddr: String, now_ms: i64, authenticated: bool) -> Client {
        Client {
            id,
            addr,
            laddr,
            name: None,
            db: 0,
            resp: 2,
            authenticated,
            user: Bytes::from_static(b"default"),
            acl_free: true,
            created_ms: now_ms,
            last_cmd_ms: now_ms,
            last_cmd: "NULL",
            lib_name: String::new(),
            lib_ver: String::new(),
            no_evict: false,
            no_touch: false,
            close_after_reply: false,
            qbuf: 0,
            kill: None,
            multi: None,
            multi_aborted: false,
            watched: Vec::new(),
            watched_stale: Vec::new(),
            watch_dirty: false,
            channels: Vec::new(),
            patterns: Vec::new(),
            shard_channels: Vec::new(),
            push: None,
            reply_off: false,
            reply_skip: 0,
            monitor: false,
            paused: false,
            tracking: None,
        }
    }

    /// The CLIENT LIST / CLIENT INFO line for this client.
    pub fn info_line(&self, now_ms: i64) -> String {
        self.info_line_blocked(now_ms, false)
    }

    /// [`Client::info_line`] for a client that is (`blocked`) parked by a blocking
    /// command; flags in Redis's order (O P x b t B d e T).
    pub fn info_line_blocked(&self, now_ms: i64, blocked: bool) -> String {
        let age = (now_ms - self.created_ms).max(0) / 1000;
        let idle = (now_ms - self.last_cmd_ms).max(0) / 1000;
        let mut flags = String::new();
        if self.monitor {
            flags.push('O');
        }
        if self.subscription_count() + self.shard_channels.len() > 0 {
            flags.push('P');
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if blocked || self.paused {
            flags.push('b');
        }
        if let Some(t) = &self.tracking {
            flags.push('t');
            if t.bcast {
                flags.push('B');
            }
        }
        if self.watch_dirty {
            flags.push('d');
        }
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.name.as_deref().map(String::from_utf8_lossy).unwrap_or_default(),
            age,
            idle,
            flags,
            self.db,
            self.channels.len(),
            self.patterns.len(),
            self.shard_channels.len(),
            self.multi.as_ref().map_or(-1, |q| i64::try_from(q.len()).unwrap_or(i64::MAX)),
            self.qbuf,
            self.last_cmd,
            String::from_utf8_lossy(&self.user),
            self.resp,
            self.lib_name,
            self.lib_ver
        )
    }
}

/// Every connected client by id, plus the internal client (id 0) used by replay and
/// background jobs.
pub struct ClientTable {
    /// Clients by id (hashed: looked up several times per command; `connected` lists them
    /// in id order, as CLIENT LIST shows them).
    pub map: HashMap<u64, Client, foldhash::fast::FixedState>,
    next_id: u64,
    /// Some client has used CLIENT REPLY OFF or SKIP (sticky): until then dispatch skips
    /// the per-command mute check.
    pub replies_muted: bool,
}

impl Default for ClientTable {
    fn default() -> Self {
        let mut map = HashMap::default();
        map.insert(0, Client::new(0, String::new(), String::new(), 0, true));
        ClientTable {
            map,
            next_id: 1,
            replies_muted: false,
        }
    }
}

impl ClientTable {
    /// Allocate the next client id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Connected clients in id (connection) order, the internal client excluded.
    pub fn connected(&self) -> impl Iterator<Item = &Client> {
        let mut v: Vec<&Client> = self.map.values().filter(|c| c.id != 0).collect();
        v.sort_unstable_by_key(|c| c.id);
        v.into_iter()
    }
}
