//! Client memory: the live `client-output-buffer-limit` and `maxmemory-clients` settings
//! (shared with the connections, which check them without the engine lock), each
//! connection's output meter (bytes queued and not yet written, the soft-limit clock, its
//! query buffer as last read), a client's memory as CLIENT LIST `tot-mem` and client
//! eviction count it (Redis's `getClientMemoryUsage`), and client eviction itself
//! (Redis 7.0's `evictClients`: the biggest evictable clients go first until the total is
//! under the limit).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crate::config::Config;

use super::client::{queue_mem, Client, ClientTable};

/// One class's `client-output-buffer-limit` (0 = no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObufLimit {
    /// Past this many bytes the client is closed at once.
    pub hard: u64,
    /// Past this many bytes for longer than `soft_ms` the client is closed.
    pub soft: u64,
    /// How long the soft limit may be exceeded, in ms.
    pub soft_ms: i64,
}

/// The live limits: CONFIG SET updates them, connections and publishers read them.
#[derive(Debug, Default)]
pub struct Limits {
    /// normal hard, soft, soft seconds, then pubsub's, then replica's.
    obuf: [AtomicU64; 9],
    /// `maxmemory-clients` resolved to bytes (a percentage of `maxmemory`); 0 = off.
    pub maxmemory_clients: AtomicU64,
}

/// Clients using less than this are never evicted (Redis: the smallest memory bucket).
pub const EVICT_MIN: usize = 32 * 1024;

impl Limits {
    /// Take the settings from `config`.
    pub fn configure(&self, config: &Config) {
        let v = config.get("client-output-buffer-limit").unwrap_or_default();
        let words: Vec<&str> = v.split_whitespace().collect();
        for g in words.chunks_exact(4) {
            let base = match g[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "pubsub" => 3,
                "replica" | "slave" => 6,
                _ => continue,
            };
            for k in 0..3 {
                let n = crate::config::parse_memory(g[k + 1]).unwrap_or(0);
                self.obuf[base + k].store(n, Ordering::Relaxed);
            }
        }
        // A replica's hard limit is never under `repl-backlog-size` (Redis ignores such a
        // setting): a replica that continues from the backlog may be sent all of it, and
        // cutting it off then would only have it continue again, forever.
        let backlog = super::repl::backlog_size(config) as u64;
        let hard = self.obuf[6].load(Ordering::Relaxed);
        if hard > 0 && hard < backlog {
            self.obuf[6].store(backlog, Ordering::Relaxed);
        }
        let mmc = config.get("maxmemory-clients").unwrap_or_default();
        let bytes = match mmc.strip_suffix('%') {
            Some(p) => p.parse::<u64>().unwrap_or(0) * config.maxmemory / 100,
            None => crate::config::parse_memory(&mmc).unwrap_or(0),
        };
        self.maxmemory_clients.store(bytes, Ordering::Relaxed);
    }

    /// The limit of the normal class, or of the pubsub class (a subscribed client's).
    pub fn class(&self, pubsub: bool) -> ObufLimit {
        self.class_at(if pubsub { 3 } else { 0 })
    }

    /// The limit of the replica class.
    pub fn replica_class(&self) -> ObufLimit {
        self.class_at(6)
    }

    /// The limit whose three settings start at `obuf[base]`.
    fn class_at(&self, base: usize) -> ObufLimit {
        let g = |k: usize| self.obuf[base + k].load(Ordering::Relaxed);
        ObufLimit {
            hard: g(0),
            soft: g(1),
            soft_ms: i64::try_from(g(2).saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }

    /// Whether client eviction is on.
    pub fn evicting(&self) -> bool {
        self.maxmemory_clients.load(Ordering::Relaxed) > 0
    }
}

/// A connection's output and input as seen from outside it.
#[derive(Debug, Default)]
pub struct OutMeter {
    /// Output bytes (replies, pushed messages) queued and not yet written (CLIENT LIST
    /// `omem`; what the output buffer limits apply to).
    pub pending: AtomicUsize,
    /// Replies encoded and waiting for the connection's turn to write them, past the
    /// reply buffer every client is counted with (a store, not an atomic add: only the
    /// connection sets it, once before and once after the wait).
    held: AtomicUsize,
    /// Room the connection's queued output allocates beyond its bytes (its blocks' free
    /// and written parts, their list): counted with them, as Redis counts its reply
    /// blocks by their size. A store: only the connection sets it.
    slack: AtomicUsize,
    /// A full resync's payload queued and not written yet: not output buffer (no limit
    /// applies to it, as Redis sends its RDB file outside it), but memory the replication
    /// buffers count, so a full resync does not make the master evict keys.
    payload: AtomicUsize,
    /// Since when `pending` has been over the soft limit (Unix ms; 0 = it is not).
    soft_since_ms: AtomicI64,
    /// The client is subscribed: the pubsub class's limits apply.
    pub pubsub: AtomicBool,
    /// The connection receives the replication stream: the replica class's limits apply.
    pub replica: AtomicBool,
    /// Bytes its connection wrote (INFO `total_net_output_bytes` sums them; written by
    /// the connection alone, so counting is a store, not an atomic add).
    sent: AtomicU64,
    /// Its query buffer as the connection last saw it: bytes, spare room.
    pub qbuf_len: AtomicUsize,
    /// (See `qbuf_len`.)
    pub qbuf_free: AtomicUsize,
}

impl OutMeter {
    /// Redis's `checkClientOutputBufferLimits` with `used` bytes pending: over the hard
    /// limit, or over the soft one for longer than its time (the first time over it
    /// starts the clock; going under stops it).
    pub fn over_limit(&self, limits: &Limits, used: usize, now_ms: impl FnOnce() -> i64) -> bool {
        let l = if self.replica.load(Ordering::Relaxed) {
            limits.class_at(6)
        } else {
            limits.class(self.pubsub.load(Ordering::Relaxed))
        };
        let used = used as u64;
        if l.hard > 0 && used >= l.hard {
            return true;
        }
        if l.soft > 0 && used >= l.soft {
            let now = now_ms();
            let since = self.soft_since_ms.load(Ordering::Relaxed);
            if since == 0 {
                self.soft_since_ms.store(now, Ordering::Relaxed);
                return false;
            }
            return now - since > l.soft_ms;
        }
        if self.soft_since_ms.load(Ordering::Relaxed) != 0 {
            self.soft_since_ms.store(0, Ordering::Relaxed);
        }
        false
    }

    /// Bytes pending, held replies and the room of queued output included.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
            + self.held.load(Ordering::Acquire)
            + self.slack.load(Ordering::Relaxed)
    }

    /// The connection's queued output allocates `n` bytes beyond what it holds.
    pub fn slack(&self, n: usize) {
        self.slack.store(n, Ordering::Relaxed);
    }

    /// The connection wrote (or is about to write) `n` bytes. Only the connection counts.
    pub fn count_sent(&self, n: usize) {
        let total = self.sent.load(Ordering::Relaxed) + n as u64;
        self.sent.store(total, Ordering::Relaxed);
    }

    /// Bytes its connection wrote.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// `n` bytes of replies wait for the connection's turn (0: no more).
    pub fn hold(&self, n: usize) {
        self.held.store(n, Ordering::Release);
    }

    /// `n` more bytes are pending.
    pub fn add(&self, n: usize) -> usize {
        self.pending.fetch_add(n, Ordering::AcqRel) + n
    }

    /// `n` queued bytes were written (a payload queued goes first: it was queued before
    /// the stream that follows it).
    pub fn sub(&self, n: usize) {
        let mut of_payload = 0;
        let _ = self
            .payload
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                of_payload = p.min(n);
                Some(p - of_payload)
            });
        let rest = n - of_payload;
        if rest > 0 {
            let _ = self
                .pending
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                    Some(p.saturating_sub(rest))
                });
        }
    }

    /// `n` bytes about to be queued are a full resync's payload, not output buffer:
    /// counted as payload first (`payload_queued` once they are queued), so that the
    /// connection writing them meanwhile takes them from the payload, where they are.
    pub fn payload_coming(&self, n: usize) {
        self.payload.fetch_add(n, Ordering::AcqRel);
    }

    /// The `n` payload bytes announced by `payload_coming` are queued (which counted them
    /// as output too): not output buffer.
    pub fn payload_queued(&self, n: usize) {
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                Some(p.saturating_sub(n))
            });
    }

    /// Payload bytes queued and not written yet.
    pub fn payload(&self) -> usize {
        self.payload.load(Ordering::Acquire)
    }
}

/// After a client was closed with output it never sent: hand what this thread freed of
/// it back to the allocator now, so `used_memory` shows it gone (as Redis's freeClient).
pub fn give_back_freed() {
    crate::alloc::flush_thread_cache();
}

/// Bytes Redis counts for one WATCHed key (list node + watchedKey).
const WATCHED_KEY_MEM: usize = 56;
/// For one channel subscription (dict entry and bucket).
const CHANNEL_MEM: usize = 32;
/// For one pattern subscription (list node).
const PATTERN_MEM: usize = 24;
/// For one tracking prefix (Redis's underestimate per rax node).
const PREFIX_MEM: usize = 48;
/// The client structure itself (about Redis 7.0's `sizeof(client)`).
pub const CLIENT_STRUCT_MEM: usize = 800;

impl Client {
    /// The query buffer (bytes, spare room): the batch's view while the client runs a
    /// command, else the connection's latest.
    pub fn qbuf_now(&self, running: bool) -> (usize, usize) {
        match (&self.out, running) {
            (Some(m), false) => (
                m.qbuf_len.load(Ordering::Relaxed),
                m.qbuf_free.load(Ordering::Relaxed),
            ),
            _ => (self.qbuf.len, self.qbuf.free),
        }
    }

    /// Output bytes pending (CLIENT LIST `omem`).
    pub fn omem(&self) -> usize {
        self.out.as_ref().map_or(0, |m| m.pending())
    }

    /// The memory client eviction counts for this client (CLIENT LIST `tot-mem`): its
    /// buffers, the running command's arguments, the transaction queue, WATCHed keys,
    /// subscriptions, tracking prefixes and the client structure.
    pub fn mem_usage(&self, argv_mem: usize, running: bool) -> usize {
        let (ql, qf) = self.qbuf_now(running);
        let multi = match (&self.multi, self.exec_queue) {
            (Some(q), _) => queue_mem(q),
            (None, Some((_, mem))) => mem,
            (None, None) => 0,
        };
        let watched = (self.watched.len() + self.watched_stale.len() + self.watched_absent.len())
            * WATCHED_KEY_MEM
            + self.watched.iter().map(|(_, k)| k.len()).sum::<usize>();
        let subs = (self.channels.len() + self.shard_channels.len()) * CHANNEL_MEM
            + self.patterns.len() * PATTERN_MEM;
        let prefixes = self
            .tracking
            .as_ref()
            .map_or(0, |t| t.prefixes.len() * PREFIX_MEM);
        ql + qf
            + argv_mem
            + multi
            + self.reply_buf.size
            + self.omem()
            + watched
            + subs
            + prefixes
            + CLIENT_STRUCT_MEM
    }
}

impl ClientTable {
    /// Client eviction (Redis 7.0's `evictClients`): while the clients' memory is over
    /// `maxmemory-clients`, disconnect the biggest client that may be evicted (not
    /// NO-EVICT, using at least [`EVICT_MIN`]). Each client counts as of its last command
    /// (a running one's arguments are not counted). Returns how many were evicted.
    pub fn evict_clients(&mut self) -> u64 {
        let limit = usize::try_from(self.limits.maxmemory_clients.load(Ordering::Relaxed))
            .unwrap_or(usize::MAX);
        if limit == 0 {
            return 0;
        }
        let mut sizes: Vec<(usize, u64, bool)> = self
            .map
            .values()
            // (Nor the master link or a replica, as in Redis: only normal and pub/sub
            // clients are evicted.)
            .filter(|c| {
                c.id != 0
                    && !c.evicted
                    && !c.master_link
                    && !c
                        .out
                        .as_ref()
                        .is_some_and(|m| m.replica.load(Ordering::Relaxed))
            })
            .map(|c| (c.mem_usage(0, false), c.id, c.no_evict))
            .collect();
        let mut total: usize = sizes.iter().map(|s| s.0).sum();
        if total <= limit {
            return 0;
        }
        sizes.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut evicted = 0;
        for (mem, id, no_evict) in sizes {
            if total <= limit || mem < EVICT_MIN {
                break;
            }
            if no_evict {
                continue;
            }
            if let Some(c) = self.map.get_mut(&id) {
                tracing::info!(client = id, mem, "evicting client (maxmemory-clients)");
                c.evicted = true;
                if let Some(kill) = &c.kill {
                    kill();
                }
                total -= mem;
                evicted += 1;
            }
        }
        self.evicted_clients += evicted;
        evicted
    }

    /// Memory still held by evicted clients whose connections have not closed yet.
    pub fn closing_mem(&self) -> usize {
        self.map
            .values()
            .filter(|c| c.evicted)
            .map(|c| c.mem_usage(0, false))
            .sum()
    }

    /// Bytes written to the connected clients (their connections count them; a
    /// connection adds its count to the engine's when it closes, under the state lock).
    pub fn sent_to_connected(&self) -> u64 {
        self.map
            .values()
            .filter_map(|c| c.out.as_ref())
            .map(|m| m.sent())
            .sum()
    }

    /// Every connected client's output meter check (Redis's cron pass of the output
    /// buffer limits, which closes a client whose soft limit ran out with no traffic).
    pub fn check_output_limits(&self, now_ms: i64) {
        for c in self.map.values() {
            if let (Some(m), Some(kill)) = (&c.out, &c.kill) {
                let pending = m.pending();
                if pending > 0 && m.over_limit(&self.limits, pending, || now_ms) {
                    tracing::warn!(
                        client = c.id,
                        "closing client over its client-output-buffer-limit"
                    );
                    kill();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replica's hard output limit under `repl-backlog-size` counts as that size (as
    /// Redis ignores such a limit); no limit (0) and a bigger one stay as set.
    #[test]
    fn a_replica_hard_limit_is_at_least_the_backlog() {
        let limits = Limits::default();
        let mut c = Config::default();
        let mut set = |limit: &str, backlog: &str| {
            c.set("client-output-buffer-limit", limit, true).unwrap();
            c.set("repl-backlog-size", backlog, true).unwrap();
            limits.configure(&c);
            limits.replica_class()
        };
        let l = set("replica 64kb 32kb 60", "1mb");
        assert_eq!((l.hard, l.soft), (1 << 20, 32 * 1024));
        assert_eq!(set("replica 0 0 0", "1mb").hard, 0);
        assert_eq!(set("replica 4mb 0 0", "1mb").hard, 4 << 20);
        assert_eq!(set("replica 64kb 0 0", "100mb").hard, 100 << 20);
        // Other classes are as set.
        assert_eq!(limits.class(false).hard, 0);
    }
}
