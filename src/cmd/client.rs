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

/// A connection's query buffer, as CLIENT LIST shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryBuf {
    /// Bytes buffered; while a batch runs, its own commands' bytes too (Redis trims its
    /// query buffer only once the commands it holds ran: 26 for a lone CLIENT LIST).
    pub len: usize,
    /// Spare capacity.
    pub free: usize,
    /// Bytes left once the batch ran (the start of a command not yet complete).
    pub rest: usize,
}

/// Bytes Redis's reply buffer starts with and grows to at most (`PROTO_REPLY_CHUNK_BYTES`).
pub const REPLY_CHUNK: usize = 16 * 1024;
/// The least Redis shrinks it to (`PROTO_REPLY_MIN_BYTES`).
pub const REPLY_MIN: usize = 1024;

/// The reply buffer Redis would give this connection (CLIENT LIST `rbs`, `rbp`): its
/// size follows the replies' peak as Redis's `clientsCronResizeOutputBuffer` does (see
/// [`ReplyBuf::cron`]).
#[derive(Debug)]
pub struct ReplyBuf {
    /// Current size.
    pub size: usize,
    /// Most bytes the connection wrote in one go since the last peak reset (the
    /// connection task records it without the engine lock).
    pub peak: Arc<std::sync::atomic::AtomicUsize>,
    /// When the peak was last reset (Unix ms).
    pub reset_ms: i64,
}

impl ReplyBuf {
    fn new() -> ReplyBuf {
        ReplyBuf {
            size: REPLY_CHUNK,
            peak: Arc::new(std::sync::atomic::AtomicUsize::new(REPLY_CHUNK)),
            // Redis 7.0 starts a client's reset clock in seconds and compares it with
            // milliseconds: the first cron pass resets the peak. So here.
            reset_ms: i64::MIN / 2,
        }
    }

    /// The peak as Redis counts it: within the buffer (a bigger reply overflows to a list).
    pub fn peak(&self) -> usize {
        self.peak
            .load(std::sync::atomic::Ordering::Relaxed)
            .min(self.size)
    }

    /// One pass of the client cron: halve the buffer (down to 1 KiB, just above the
    /// peak) when the peak used under half of it, double it (up to 16 KiB) when the peak
    /// filled it; every `reset_after_ms` (negative: never) the peak starts over.
    pub fn cron(&mut self, now_ms: i64, resizing: bool, reset_after_ms: i64) {
        if !resizing {
            return;
        }
        let peak = self.peak();
        let mut size = self.size;
        if self.size / 2 >= REPLY_MIN && peak < self.size / 2 {
            size = REPLY_MIN.max(peak + 1);
        } else if self.size * 2 < REPLY_CHUNK * 2 && peak == self.size {
            size = REPLY_CHUNK.min(self.size * 2);
        }
        if reset_after_ms >= 0 && now_ms - self.reset_ms >= reset_after_ms {
            self.peak.store(0, std::sync::atomic::Ordering::Relaxed);
            self.reset_ms = now_ms;
        }
        self.size = size;
    }
}

/// CLIENT LIST `multi-mem` of a transaction queue: Redis's `mstate.argv_len_sums`, the
/// argument bytes plus a pointer per argument.
pub fn queue_mem(queue: &[Vec<Bytes>]) -> usize {
    queue
        .iter()
        .map(|argv| argv.iter().map(Bytes::len).sum::<usize>() + 8 * argv.len())
        .sum()
}

/// What CLIENT LIST needs beyond the client itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct LineFacts {
    /// Parked by a blocking command.
    pub blocked: bool,
    /// Bytes of the arguments of the command it is running (only the caller runs one).
    pub argv_mem: usize,
    /// Its tracking redirect target is gone (flag `R`).
    pub redirect_broken: bool,
    /// It is the client running the command (its query buffer is the batch's).
    pub running: bool,
    /// It is a replica of this server, attached or waiting for its payload (flag `S`).
    pub replica: bool,
}

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
    /// The query buffer (reported in CLIENT LIST).
    pub qbuf: QueryBuf,
    /// The reply buffer Redis would have (reported in CLIENT LIST).
    pub reply_buf: ReplyBuf,
    /// Set by the client cron once the client has been idle for 2 s: its connection gives
    /// its buffers back when it next wakes (Redis frees an idle client's query buffer).
    pub release_buffers: Arc<std::sync::atomic::AtomicBool>,
    /// Disconnects the client.
    pub kill: Option<KillFn>,
    /// Commands queued since MULTI (`None` outside a transaction).
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// While EXEC runs the queue: (commands, their `multi-mem`); CLIENT LIST still shows
    /// the transaction then, as Redis ends it only after.
    pub exec_queue: Option<(usize, usize)>,
    /// A queued command was rejected: EXEC will answer EXECABORT.
    pub multi_aborted: bool,
    /// Keys this client WATCHes, as (db, key).
    pub watched: Vec<(usize, Bytes)>,
    /// Watched keys that were already logically expired (stale) when WATCHed: deleting
    /// them is no change and their expiry does not fail EXEC (Redis 7.0's `expired` flag).
    pub watched_stale: Vec<(usize, Bytes)>,
    /// Watched keys that did not exist when WATCHed. Until something touches them they
    /// still do not, so a DEL or UNLINK naming one (with other keys it did delete) is no
    /// change to it, as in Redis, which signals only the keys a DEL removed (the log keeps
    /// the DEL as given, which is what replicas get).
    pub watched_absent: Vec<(usize, Bytes)>,
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
    /// The connection's output and input as seen from outside it: bytes queued and not
    /// yet written (CLIENT LIST `omem`, what the output buffer limits apply to), the
    /// query buffer as last read.
    pub out: Option<Arc<super::climem::OutMeter>>,
    /// Disconnected by client eviction (no longer listed; its task ends soon).
    pub evicted: bool,
    /// CLIENT REPLY OFF: no replies until CLIENT REPLY ON.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: replies still to silence (its own and the next command's).
    pub reply_skip: u8,
    /// Its last batch is held by CLIENT PAUSE (counted in INFO `blocked_clients`).
    pub paused: bool,
    /// When this client's pending command started waiting for a snapshot's loan
    /// (`dispatch::waits_for_loan`; 0 = not waiting).
    pub loan_wait_since_ms: i64,
    /// A replica's listening port and announced ip (REPLCONF), for INFO and ROLE.
    pub replica_port: u16,
    pub replica_ip: Option<String>,
    /// REPLCONF rdb-filter-only functions: the payload SYNC sends holds the function
    /// libraries only (`redis-cli --functions-rdb`).
    pub rdb_functions_only: bool,
    /// A replica's last acknowledged stream offset (REPLCONF ACK) and when (Unix ms).
    pub replica_ack: u64,
    pub replica_ack_ms: i64,
    /// This connection is the link to our master (REPLICAOF host port): what it sends is
    /// the replication stream, run unrestricted and unanswered (`repl::link`).
    pub master_link: bool,
    /// On the master link: the master's stream offset this server has processed (INFO
    /// `master_repl_offset`, REPLCONF ACK), and the bytes of the full sync's commands
    /// still to run, which are not the master's stream and count for no offset.
    pub repl_offset: u64,
    pub repl_skip: u64,
    /// On the master link: the stream's bytes of the command that ran, or of a MULTI not
    /// yet executed, which count (and are relayed) once its EXEC (or DISCARD) has run
    /// (Redis moves a replica's offset only outside a transaction, so a partial resync
    /// never starts inside one).
    pub repl_pending: Vec<u8>,
    /// Sent MONITOR: receives every command the server runs.
    pub monitor: bool,
    /// CLIENT TRACKING settings (None = off).
    pub tracking: Option<super::tracking::Mode>,
    /// SCRIPT DEBUG YES|SYNC|NO: whether its next EVAL starts a Lua debugging session.
    pub ldb: crate::script::debugger::Mode,
    /// The connection's side of the debugging session its next EVAL starts (put here by
    /// the connection just before it runs that EVAL).
    pub ldb_link: Option<crate::script::debugger::Link>,
    /// The command running is not the first of its pipelined batch: replies to earlier
    /// ones are still unsent (SCRIPT DEBUG refuses to run then, as Redis).
    pub replies_pending: bool,
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

    /// Make the table's view of the query buffer the one seen from outside.
    pub fn publish_qbuf(&self) {
        if let Some(m) = &self.out {
            m.qbuf_len
                .store(self.qbuf.len, std::sync::atomic::Ordering::Relaxed);
            m.qbuf_free
                .store(self.qbuf.free, std::sync::atomic::Ordering::Relaxed);
        }
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
            qbuf: QueryBuf::default(),
            reply_buf: ReplyBuf::new(),
            release_buffers: Arc::default(),
            kill: None,
            multi: None,
            exec_queue: None,
            multi_aborted: false,
            watched: Vec::new(),
            watched_stale: Vec::new(),
            watched_absent: Vec::new(),
            watch_dirty: false,
            channels: Vec::new(),
            patterns: Vec::new(),
            shard_channels: Vec::new(),
            push: None,
            out: None,
            evicted: false,
            reply_off: false,
            reply_skip: 0,
            master_link: false,
            repl_offset: 0,
            repl_skip: 0,
            repl_pending: Vec::new(),
            monitor: false,
            paused: false,
            loan_wait_since_ms: 0,
            replica_port: 0,
            replica_ip: None,
            rdb_functions_only: false,
            replica_ack: 0,
            replica_ack_ms: 0,
            tracking: None,
            ldb: crate::script::debugger::Mode::Off,
            ldb_link: None,
            replies_pending: false,
        }
    }

    /// The CLIENT LIST / CLIENT INFO line for this client.
    pub fn info_line(&self, now_ms: i64) -> String {
        self.info_line_with(now_ms, LineFacts::default())
    }

    /// [`Client::info_line`] with what the table knows: whether it is parked by a
    /// blocking command, the running command's argument bytes, a broken redirect. The
    /// fields of redis-server 7.0.15, flags in its order (O or S, M P x b t R B d e T), then
    /// Redis 7.2's lib-name / lib-ver for a client that set them.
    pub fn info_line_with(&self, now_ms: i64, facts: LineFacts) -> String {
        let age = (now_ms - self.created_ms).max(0) / 1000;
        let idle = (now_ms - self.last_cmd_ms).max(0) / 1000;
        let mut flags = String::new();
        if self.monitor {
            flags.push('O');
        } else if facts.replica {
            flags.push('S');
        }
        if self.master_link {
            flags.push('M');
        }
        if self.subscription_count() + self.shard_channels.len() > 0 {
            flags.push('P');
        }
        if self.multi.is_some() || self.exec_queue.is_some() {
            flags.push('x');
        }
        if facts.blocked || self.paused {
            flags.push('b');
        }
        if let Some(t) = &self.tracking {
            flags.push('t');
            if facts.redirect_broken {
                flags.push('R');
            }
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
        let (multi, multi_mem) = match (&self.multi, self.exec_queue) {
            (Some(q), _) => (i64::try_from(q.len()).unwrap_or(i64::MAX), queue_mem(q)),
            (None, Some((n, mem))) => (i64::try_from(n).unwrap_or(i64::MAX), mem),
            (None, None) => (-1, 0),
        };
        let rbs = self.reply_buf.size;
        let (qlen, qfree) = self.qbuf_now(facts.running);
        let omem = self.omem();
        let tot_mem = self.mem_usage(facts.argv_mem, facts.running);
        let redir = self
            .tracking
            .as_ref()
            .map_or(-1, |t| i64::try_from(t.redirect).unwrap_or(i64::MAX));
        let mut line = format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={}",
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
            multi,
            qlen,
            qfree,
            facts.argv_mem,
            multi_mem,
            rbs,
            self.reply_buf.peak(),
            omem,
            tot_mem,
            self.last_cmd,
            String::from_utf8_lossy(&self.user),
            redir,
            self.resp,
        );
        if !self.lib_name.is_empty() || !self.lib_ver.is_empty() {
            // CLIENT SETINFO is Redis 7.2's (redis-rs sends it); its fields show once used.
            line.push_str(&format!(
                " lib-name={} lib-ver={}",
                self.lib_name, self.lib_ver
            ));
        }
        line
    }
}

/// Every connected client by id, plus the internal client (id 0) used by replay and
/// background jobs.
/// DEBUG REPLYBUFFER settings and the client cron's clock.
#[derive(Clone, Copy, Debug)]
pub struct ReplyBufConf {
    /// Reply buffers are resized (DEBUG REPLYBUFFER RESIZING 0|1).
    pub resizing: bool,
    /// Peaks start over this often, in ms; negative = never (PEAK-RESET-TIME).
    pub peak_reset_ms: i64,
    /// When the client cron last ran (Unix ms).
    pub last_cron_ms: i64,
}

/// A client idle this long gives its buffers back (Redis: 2 s for the query buffer).
const IDLE_RELEASE_MS: i64 = 2000;

/// Redis's `REPLY_BUFFER_DEFAULT_PEAK_RESET_TIME`.
pub const PEAK_RESET_MS: i64 = 5000;

impl Default for ReplyBufConf {
    fn default() -> Self {
        ReplyBufConf {
            resizing: true,
            peak_reset_ms: PEAK_RESET_MS,
            last_cron_ms: 0,
        }
    }
}

pub struct ClientTable {
    /// Clients by id (hashed: looked up several times per command; `connected` lists them
    /// in id order, as CLIENT LIST shows them).
    pub map: HashMap<u64, Client, foldhash::fast::FixedState>,
    next_id: u64,
    /// Some client has used CLIENT REPLY OFF or SKIP (sticky): until then dispatch skips
    /// the per-command mute check.
    pub replies_muted: bool,
    /// How reply buffers are resized (see [`ClientTable::cron`]).
    pub reply_conf: ReplyBufConf,
    /// Output buffer limits and `maxmemory-clients`, shared with the connections.
    pub limits: Arc<super::climem::Limits>,
    /// Clients disconnected by client eviction (INFO `evicted_clients`).
    pub evicted_clients: u64,
}

impl Default for ClientTable {
    fn default() -> Self {
        let mut map = HashMap::default();
        map.insert(0, Client::new(0, String::new(), String::new(), 0, true));
        ClientTable {
            map,
            next_id: 1,
            replies_muted: false,
            reply_conf: ReplyBufConf::default(),
            limits: Arc::default(),
            evicted_clients: 0,
        }
    }
}

impl ClientTable {
    /// Redis's client cron, run by the background cycle: every `1000/hz` ms each client's
    /// reply buffer is resized to its recent peak (`clientsCronResizeOutputBuffer`).
    pub fn cron(&mut self, now_ms: i64, hz: u64) {
        let period = i64::try_from(1000 / hz.max(1)).unwrap_or(100);
        if now_ms - self.reply_conf.last_cron_ms < period {
            return;
        }
        self.reply_conf.last_cron_ms = now_ms;
        // Output buffer soft limits run out with no traffic too; client memory changes
        // outside commands (output queued by others, input still arriving).
        self.check_output_limits(now_ms);
        self.evict_clients();
        let conf = self.reply_conf;
        for c in self.map.values_mut().filter(|c| c.id != 0) {
            c.reply_buf.cron(now_ms, conf.resizing, conf.peak_reset_ms);
            // Idle for 2 s with an empty query buffer allocated: the connection frees it
            // (woken by an empty push), as Redis's clientsCronResizeQueryBuffer.
            if now_ms - c.last_cmd_ms >= IDLE_RELEASE_MS
                && c.qbuf.len == 0
                && c.qbuf.free > 0
                && !c.release_buffers.load(std::sync::atomic::Ordering::Acquire)
            {
                if let Some(push) = &c.push {
                    c.release_buffers
                        .store(true, std::sync::atomic::Ordering::Release);
                    c.qbuf = QueryBuf::default();
                    c.publish_qbuf();
                    push(&[]);
                }
            }
        }
    }

    /// Allocate the next client id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Connected clients in id (connection) order, the internal client and evicted
    /// clients (already being closed) excluded.
    pub fn connected(&self) -> impl Iterator<Item = &Client> {
        let mut v: Vec<&Client> = self
            .map
            .values()
            .filter(|c| c.id != 0 && !c.evicted)
            .collect();
        v.sort_unstable_by_key(|c| c.id);
        v.into_iter()
    }
}
