//! Server-administration commands a Redis client or tool expects even from a server
//! without cluster or modules: SLOWLOG (with its log), LATENCY, ROLE, WAIT, REPLICAOF
//! (the link itself is `server::replica`), LOLWUT, MODULE, MONITOR, and the refusals
//! Redis itself gives on a standalone server (READONLY, READWRITE, ASKING, CLUSTER,
//! FAILOVER). Replies and errors are Redis 7.0's.

use std::collections::VecDeque;

use bytes::Bytes;

use super::exec::{arg_i64, is, BlockRequest, Exec};
use super::registry::COMMANDS;
use super::server::help_reply;
use super::{cmd, container, CmdError, CommandSpec, Flags, Group};
use crate::config::Config;
use crate::resp::Reply;

/// Register this file's commands.
#[rustfmt::skip]
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let srv = |name, arity, flags, handler, summary, since| {
        cmd(name, arity, flags, handler).group(Group::Server).doc(summary, since)
    };
    // Flags and ACL categories as Redis 7.0's COMMAND INFO gives them.
    let help = F::LOADING | F::STALE;
    let slow_admin = F::ADMIN | F::LOADING | F::STALE;
    let admin = F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE;
    let slowlog = vec![
        srv("get", -2, slow_admin, slowlog_get, "Get the slow log's entries", "2.2.12"),
        srv("len", 2, slow_admin, slowlog_len, "Get the slow log's length", "2.2.12"),
        srv("reset", 2, slow_admin, slowlog_reset, "Clear all entries from the slow log", "2.2.12"),
        srv("help", 2, help, slowlog_help, "Show helpful text about the different subcommands", "6.2.0"),
    ];
    t.push(container("slowlog", -2, F::empty(), slowlog).group(Group::Server).doc("A container for slow log commands", "2.2.12"));
    let latency = vec![
        srv("latest", 2, admin, latency_latest, "Return the latest latency samples for all events.", "2.8.13"),
        srv("history", 3, admin, latency_history, "Returns timestamp-latency samples for an event.", "2.8.13"),
        srv("reset", -2, admin, latency_reset, "Reset latency data for one or more events.", "2.8.13"),
        srv("doctor", 2, admin, latency_doctor, "Return a human readable latency analysis report.", "2.8.13"),
        srv("graph", 3, admin, latency_graph, "Return a latency graph for the event.", "2.8.13"),
        srv("histogram", -2, admin, latency_histogram, "Return the cumulative distribution of latencies of a subset of commands or all.", "7.0.0"),
        srv("help", 2, help, latency_help, "Show helpful text about the different subcommands.", "2.8.13"),
    ];
    t.push(container("latency", -2, F::empty(), latency).group(Group::Server).doc("A container for latency diagnostics commands", "2.8.13"));
    t.push(srv("monitor", 1, admin, monitor, "Listen for all requests received by the server in real time", "1.0.0"));
    t.push(srv("role", 1, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST, role, "Returns the replication role", "2.8.12").acl(&["admin", "dangerous"]));
    t.push(cmd("wait", 3, F::NOSCRIPT, wait).group(Group::Generic).acl(&["connection"]).doc("Wait for the synchronous replication of all the write commands sent in the context of the current connection", "3.0.0"));
    t.push(srv("lolwut", -1, F::READONLY | F::FAST, lolwut, "Display some computer art and the Redis version", "5.0.0").acl(&["read"]));
    let unload = F::ADMIN | F::NOSCRIPT | F::NO_ASYNC_LOADING;
    let module = vec![
        srv("list", 2, F::ADMIN | F::NOSCRIPT, module_list, "List all modules loaded by the server", "4.0.0"),
        srv("load", -3, unload, module_load, "Load a module", "4.0.0"),
        srv("loadex", -3, unload, module_load, "Load a module with extended parameters", "7.0.0"),
        srv("unload", 3, unload, module_load, "Unload a module", "4.0.0"),
        srv("help", 2, help, module_help, "Show helpful text about the different subcommands", "5.0.0"),
    ];
    t.push(container("module", -2, F::empty(), module).group(Group::Server).doc("A container for module commands", "4.0.0"));
    let cluster_off = |name, flags, summary, since| {
        cmd(name, 1, flags, no_cluster).group(Group::Cluster).acl(&["connection"]).doc(summary, since)
    };
    t.push(cluster_off("readonly", F::FAST | F::LOADING | F::STALE, "Enables read queries for a connection to a Redis Cluster replica node", "3.0.0"));
    t.push(cluster_off("readwrite", F::FAST | F::LOADING | F::STALE, "Disables read queries for a connection to a Redis Cluster replica node", "3.0.0"));
    t.push(cluster_off("asking", F::FAST, "Sent by cluster clients after an -ASK redirect", "3.0.0"));
    // CLUSTER: every subcommand answers that cluster support is disabled (a standalone
    // Redis's reply), with Redis's flags, so ACL categories and script rules match.
    let cl = |name, arity, flags, summary, since| {
        cmd(name, arity, flags, no_cluster).group(Group::Cluster).doc(summary, since)
    };
    let cluster = vec![
        cl("addslots", -3, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Assign new hash slots to receiving node", "3.0.0"),
        cl("addslotsrange", -4, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Assign new hash slots to receiving node", "7.0.0"),
        cl("bumpepoch", 2, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Advance the cluster config epoch", "3.0.0"),
        cl("count-failure-reports", 3, F::ADMIN | F::STALE, "Return the number of failure reports active for a given node", "3.0.0"),
        cl("countkeysinslot", 3, F::STALE, "Return the number of local keys in the specified hash slot", "3.0.0"),
        cl("delslots", -3, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Set hash slots as unbound in receiving node", "3.0.0"),
        cl("delslotsrange", -4, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Set hash slots as unbound in receiving node", "7.0.0"),
        cl("failover", -2, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Forces a replica to perform a manual failover of its master.", "3.0.0"),
        cl("flushslots", 2, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Delete a node's own slots information", "3.0.0"),
        cl("forget", 3, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Remove a node from the nodes table", "3.0.0"),
        cl("getkeysinslot", 4, F::STALE, "Return local key names in the specified hash slot", "3.0.0"),
        cl("help", 2, F::LOADING | F::STALE, "Show helpful text about the different subcommands", "5.0.0"),
        cl("info", 2, F::STALE, "Provides info about Redis Cluster node state", "3.0.0"),
        cl("keyslot", 3, F::STALE, "Returns the hash slot of the specified key", "3.0.0"),
        cl("links", 2, F::STALE, "Returns a list of all TCP links to and from peer nodes in cluster", "7.0.0"),
        cl("meet", -4, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Force a node cluster to handshake with another node", "3.0.0"),
        cl("myid", 2, F::STALE, "Return the node id", "3.0.0"),
        cl("nodes", 2, F::STALE, "Get Cluster config for the node", "3.0.0"),
        cl("replicas", 3, F::ADMIN | F::STALE, "List replica nodes of the specified master node", "5.0.0"),
        cl("replicate", 3, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Reconfigure a node as a replica of the specified master node", "3.0.0"),
        cl("reset", -2, F::ADMIN | F::NOSCRIPT | F::STALE, "Reset a Redis Cluster node", "3.0.0"),
        cl("saveconfig", 2, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Forces the node to save cluster state on disk", "3.0.0"),
        cl("set-config-epoch", 3, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Set the configuration epoch in a new node", "3.0.0"),
        cl("setslot", -4, F::ADMIN | F::STALE | F::NO_ASYNC_LOADING, "Bind a hash slot to a specific node", "3.0.0"),
        cl("shards", 2, F::STALE, "Get array of cluster slots to node mappings", "7.0.0"),
        cl("slaves", 3, F::ADMIN | F::STALE, "List replica nodes of the specified master node", "3.0.0"),
        cl("slots", 2, F::STALE, "Get array of Cluster slot to node mappings", "3.0.0"),
    ];
    t.push(container("cluster", -2, F::empty(), cluster).group(Group::Cluster).doc("A container for cluster commands", "3.0.0"));
    let repl = F::ADMIN | F::NOSCRIPT | F::STALE | F::NO_ASYNC_LOADING;
    t.push(srv("replicaof", 3, repl, replicaof, "Make the server a replica of another instance, or promote it as master.", "5.0.0"));
    t.push(srv("slaveof", 3, repl, replicaof, "Make the server a replica of another instance, or promote it as master.", "1.0.0"));
    t.push(srv("failover", -1, F::ADMIN | F::NOSCRIPT | F::STALE, super::failover::failover, "Start a coordinated failover between this server and one of its replicas.", "6.2.0"));
}

// ---------------------------------------------------------------------------------------
// SLOWLOG

/// Arguments kept per entry, and bytes kept per argument (Redis's limits).
const SLOWLOG_MAX_ARGC: usize = 32;
const SLOWLOG_MAX_ARGLEN: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
struct SlowEntry {
    id: u64,
    time_s: i64,
    usec: u64,
    argv: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

/// The slow log: commands that took at least `slowlog-log-slower-than` microseconds,
/// newest first, at most `slowlog-max-len` of them.
#[derive(Debug)]
pub struct SlowLog {
    entries: VecDeque<SlowEntry>,
    next_id: u64,
    /// Microseconds; negative = disabled.
    threshold_us: i64,
    max_len: usize,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: VecDeque::new(),
            next_id: 0,
            threshold_us: 10_000,
            max_len: 128,
        }
    }
}

impl SlowLog {
    /// A log with the thresholds of `config`.
    pub fn new(config: &Config) -> Self {
        let mut s = SlowLog::default();
        s.configure(config);
        s
    }

    /// Re-read `slowlog-log-slower-than` and `slowlog-max-len` (after CONFIG SET).
    pub fn configure(&mut self, config: &Config) {
        let num = |name: &str| config.get(name).and_then(|v| v.trim().parse::<i64>().ok());
        if let Some(t) = num("slowlog-log-slower-than") {
            self.threshold_us = t;
        }
        if let Some(n) = num("slowlog-max-len") {
            self.max_len = usize::try_from(n).unwrap_or(0);
        }
        self.entries.truncate(self.max_len);
    }

    /// True when a command that took `usec` belongs in the log.
    pub fn wants(&self, usec: u64) -> bool {
        self.threshold_us >= 0 && i128::from(usec) >= i128::from(self.threshold_us)
    }

    /// Record a command (arguments trimmed as Redis trims them).
    pub fn add(&mut self, argv: &[Bytes], usec: u64, now_ms: i64, addr: &str, name: &[u8]) {
        let secretless = redacted(argv);
        let argv = secretless.as_deref().unwrap_or(argv);
        let mut kept: Vec<Bytes> = Vec::with_capacity(argv.len().min(SLOWLOG_MAX_ARGC));
        for (i, a) in argv.iter().enumerate() {
            if i == SLOWLOG_MAX_ARGC - 1 && argv.len() > SLOWLOG_MAX_ARGC {
                let more = argv.len() - SLOWLOG_MAX_ARGC + 1;
                kept.push(Bytes::from(format!("... ({more} more arguments)")));
                break;
            }
            if a.len() > SLOWLOG_MAX_ARGLEN {
                let mut s = a[..SLOWLOG_MAX_ARGLEN].to_vec();
                let more = a.len() - SLOWLOG_MAX_ARGLEN;
                s.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                kept.push(Bytes::from(s));
            } else {
                // A copy: a slice of the argument would keep its whole read buffer alive.
                kept.push(Bytes::copy_from_slice(a));
            }
        }
        self.entries.push_front(SlowEntry {
            id: self.next_id,
            time_s: now_ms.div_euclid(1000),
            usec,
            argv: kept,
            addr: addr.to_string(),
            name: Bytes::copy_from_slice(name),
        });
        self.next_id += 1;
        self.entries.truncate(self.max_len);
    }
}

fn slowlog_get(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let count_err = || CmdError::err("count should be greater than or equal to -1");
    let count = match a.len() {
        2 => 10,
        3 => {
            let n = arg_i64(&a[2]).map_err(|_| count_err())?;
            if n < -1 {
                return Err(count_err());
            }
            if n == -1 {
                usize::MAX
            } else {
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        }
        _ => return Err(CmdError::bad_subcommand(&a[1], "SLOWLOG")),
    };
    let out =
        x.st.slowlog
            .entries
            .iter()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(i64::try_from(e.id).unwrap_or(i64::MAX)),
                    Reply::Int(e.time_s),
                    Reply::Int(i64::try_from(e.usec).unwrap_or(i64::MAX)),
                    Reply::Array(e.argv.iter().map(|b| Reply::Bulk(b.clone())).collect()),
                    Reply::Bulk(Bytes::from(e.addr.clone())),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect();
    Ok(Reply::Array(out))
}

fn slowlog_len(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        i64::try_from(x.st.slowlog.entries.len()).unwrap_or(i64::MAX),
    ))
}

fn slowlog_reset(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    x.st.slowlog.entries.clear();
    Ok(Reply::ok())
}

fn slowlog_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------
// MONITOR

/// MONITOR: from now on this connection receives a line for every command any client runs.
fn monitor(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let id = x.client_id;
    x.client().monitor = true;
    if !x.st.monitors.contains(&id) {
        x.st.monitors.push(id);
    }
    Ok(Reply::ok())
}

/// `argv` with its secrets replaced by `(redacted)`, as Redis shows it in MONITOR and
/// SLOWLOG (`redactClientCommandArgument`): every AUTH argument, the user name and password
/// after HELLO's AUTH option, the password after MIGRATE's AUTH and both after AUTH2,
/// every ACL SETUSER argument after the command, and the values CONFIG SET gives the
/// sensitive `requirepass` / `masterauth`. `None` when nothing is secret.
pub fn redacted(argv: &[Bytes]) -> Option<Vec<Bytes>> {
    let name = argv.first()?;
    let hidden = || Bytes::from_static(b"(redacted)");
    let mut out = argv.to_vec();
    let mut changed = false;
    let sub = |s: &str| {
        argv.get(1)
            .is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()))
    };
    if name.eq_ignore_ascii_case(b"acl") && sub("setuser") {
        for a in out.iter_mut().skip(2) {
            *a = hidden();
            changed = true;
        }
    } else if name.eq_ignore_ascii_case(b"config") && sub("set") {
        for pair in out[2..].chunks_mut(2) {
            let sensitive = pair[0].eq_ignore_ascii_case(b"requirepass")
                || pair[0].eq_ignore_ascii_case(b"masterauth");
            if let (true, Some(v)) = (sensitive, pair.get_mut(1)) {
                *v = hidden();
                changed = true;
            }
        }
    } else if name.eq_ignore_ascii_case(b"auth") {
        for a in out.iter_mut().skip(1) {
            *a = hidden();
            changed = true;
        }
    } else if name.eq_ignore_ascii_case(b"hello") || name.eq_ignore_ascii_case(b"migrate") {
        let migrate = name.eq_ignore_ascii_case(b"migrate");
        let mut j = if migrate { 6 } else { 2 };
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            let opt = &argv[j];
            let n = if opt.eq_ignore_ascii_case(b"auth") && (migrate || more >= 2) {
                if migrate {
                    1
                } else {
                    2
                }
            } else if migrate && opt.eq_ignore_ascii_case(b"auth2") && more >= 2 {
                2
            } else if migrate && opt.eq_ignore_ascii_case(b"keys") {
                break;
            } else if !migrate && opt.eq_ignore_ascii_case(b"setname") {
                j += 2;
                continue;
            } else {
                j += 1;
                continue;
            };
            for a in out.iter_mut().skip(j + 1).take(n) {
                *a = hidden();
                changed = true;
            }
            j += n + 1;
        }
    }
    changed.then_some(out)
}

/// Send `argv`, just run in database `db` by `who` (`ip:port`, or `lua` for a script's
/// redis.call), to every monitor as Redis formats it:
/// `+<secs>.<micros> [<db> <who>] "arg" ...`.
pub fn feed_monitors(st: &mut crate::cmd::State, db: usize, who: &str, argv: &[Bytes]) {
    let secretless = redacted(argv);
    let argv = secretless.as_deref().unwrap_or(argv);
    let us = crate::clock::now_us();
    let mut line = format!(
        "+{}.{:06} [{db} {who}]",
        us.div_euclid(1_000_000),
        us.rem_euclid(1_000_000)
    )
    .into_bytes();
    for a in argv {
        line.extend_from_slice(b" \"");
        for &c in a.iter() {
            match c {
                b'\\' => line.extend_from_slice(b"\\\\"),
                b'"' => line.extend_from_slice(b"\\\""),
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b'\t' => line.extend_from_slice(b"\\t"),
                7 => line.extend_from_slice(b"\\a"),
                8 => line.extend_from_slice(b"\\b"),
                0x20..=0x7e => line.push(c),
                _ => line.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
            }
        }
        line.push(b'"');
    }
    line.extend_from_slice(b"\r\n");
    let clients = &st.clients.map;
    st.monitors
        .retain(|id| match clients.get(id).and_then(|c| c.push.as_ref()) {
            Some(push) => push(&line),
            None => false,
        });
}

// ---------------------------------------------------------------------------------------
// LATENCY: events that took at least `latency-monitor-threshold` ms (Redis's latency.c)

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
const LATENCY_SAMPLES: usize = 160;

/// One event's samples: (Unix second, ms), one per second at most (the worst of that
/// second), oldest first, and the worst ever.
#[derive(Debug, Default)]
struct LatencySeries {
    samples: std::collections::VecDeque<(i64, u64)>,
    max: u64,
}

/// The latency monitor: `command` / `fast-command` (a command's run time) and
/// `expire-cycle` (an active expiry slice) samples at or over the threshold.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    /// `latency-monitor-threshold` in ms (0 = off).
    pub threshold_ms: u64,
    /// `latency-tracking`: per-command latency histograms are recorded.
    pub tracking: bool,
    /// `latency-tracking-info-percentiles`: what INFO latencystats reports.
    pub percentiles: Vec<f64>,
    events: Vec<(&'static str, LatencySeries)>,
}

impl LatencyMonitor {
    /// Re-read `latency-monitor-threshold` (at startup and after CONFIG SET).
    pub fn configure(&mut self, config: &crate::config::Config) {
        self.threshold_ms = config
            .get("latency-monitor-threshold")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.tracking = config.get("latency-tracking").as_deref() != Some("no");
        self.percentiles = config
            .get("latency-tracking-info-percentiles")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
    }

    /// Record that `event` took `ms` at Unix second `now_s`, if that reaches the threshold
    /// (Redis's `latencyAddSampleIfNeeded`).
    pub fn sample(&mut self, event: &'static str, ms: u64, now_s: i64) {
        if self.threshold_ms == 0 || ms < self.threshold_ms {
            return;
        }
        let i = match self.events.iter().position(|(e, _)| *e == event) {
            Some(i) => i,
            None => {
                self.events.push((event, LatencySeries::default()));
                self.events.len() - 1
            }
        };
        let ts = &mut self.events[i].1;
        ts.max = ts.max.max(ms);
        if let Some(last) = ts.samples.back_mut().filter(|(t, _)| *t == now_s) {
            last.1 = last.1.max(ms);
            return;
        }
        if ts.samples.len() == LATENCY_SAMPLES {
            ts.samples.pop_front();
        }
        ts.samples.push_back((now_s, ms));
    }

    fn series(&self, event: &[u8]) -> Option<&LatencySeries> {
        self.events
            .iter()
            .find(|(e, _)| e.as_bytes() == event)
            .map(|(_, s)| s)
    }
}

fn latency_latest(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let int = |n: u64| Reply::Int(i64::try_from(n).unwrap_or(i64::MAX));
    Ok(Reply::Array(
        x.st.latency
            .events
            .iter()
            .map(|(event, ts)| {
                let (t, ms) = ts.samples.back().copied().unwrap_or((0, 0));
                Reply::Array(vec![
                    Reply::bulk(event.as_bytes()),
                    Reply::Int(t),
                    int(ms),
                    int(ts.max),
                ])
            })
            .collect(),
    ))
}

fn latency_history(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let samples = x.st.latency.series(&a[2]).map_or(Vec::new(), |ts| {
        ts.samples
            .iter()
            .map(|&(t, ms)| {
                Reply::Array(vec![
                    Reply::Int(t),
                    Reply::Int(i64::try_from(ms).unwrap_or(i64::MAX)),
                ])
            })
            .collect()
    });
    Ok(Reply::Array(samples))
}

/// LATENCY RESET [event ...]: forget those events (all without names); how many there were.
fn latency_reset(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let events = &mut x.st.latency.events;
    let before = events.len();
    if a.len() == 2 {
        events.clear();
    } else {
        events.retain(|(e, _)| !a[2..].iter().any(|n| n[..] == *e.as_bytes()));
    }
    Ok(Reply::Int(
        i64::try_from(before - events.len()).unwrap_or(0),
    ))
}

/// LATENCY GRAPH event: the samples as text, newest last (Redis draws an ASCII sparkline).
fn latency_graph(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(ts) =
        x.st.latency
            .series(&a[2])
            .filter(|ts| !ts.samples.is_empty())
    else {
        return Err(CmdError::err(format!(
            "No samples available for event '{}'",
            String::from_utf8_lossy(&a[2])
        )));
    };
    let high = ts.samples.iter().map(|s| s.1).max().unwrap_or(0);
    let low = ts.samples.iter().map(|s| s.1).min().unwrap_or(0);
    let mut out = format!(
        "{} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
        String::from_utf8_lossy(&a[2]),
        ts.max,
        "-".repeat(80)
    );
    for (t, ms) in &ts.samples {
        out.push_str(&format!("{t} {ms}\n"));
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out)))
}

/// LATENCY HISTOGRAM [command ...]: per command that ran, its calls and the cumulative
/// count of calls that took up to 1, 2, 4, … µs (powers of two; Redis's own buckets are
/// its HDR histogram's, within 3% of these), up to the bucket that holds the slowest.
fn latency_histogram(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let wanted: Vec<String> = a[2..]
        .iter()
        .map(|n| String::from_utf8_lossy(n).to_lowercase())
        .collect();
    let mut out = Vec::new();
    for (spec, parent) in COMMANDS.all_with_parent() {
        // A container named reports its subcommands, as Redis.
        let named = |n: &str| wanted.iter().any(|w| w == n);
        if !wanted.is_empty()
            && !named(&spec.full_name)
            && !parent.is_some_and(|p| named(&p.full_name))
        {
            continue;
        }
        let Some(s) = x.st.stats.cmd.get(spec.id) else {
            continue;
        };
        if s.calls == 0 {
            continue;
        }
        let last = s.latency.iter().rposition(|&n| n > 0).unwrap_or(0);
        let first = s.latency.iter().position(|&n| n > 0).unwrap_or(0);
        let mut cumulative = 0u64;
        let mut hist = Vec::new();
        for (k, &n) in s.latency.iter().enumerate().take(last + 1) {
            cumulative += u64::from(n);
            if k >= first {
                hist.push((
                    Reply::Int(1i64 << k),
                    Reply::Int(i64::try_from(cumulative).unwrap_or(i64::MAX)),
                ));
            }
        }
        out.push((
            Reply::bulk_string(spec.full_name.clone()),
            Reply::Map(vec![
                (
                    Reply::bulk(b"calls"),
                    Reply::Int(i64::try_from(s.calls).unwrap_or(i64::MAX)),
                ),
                (Reply::bulk(b"histogram_usec"), Reply::Map(hist)),
            ]),
        ));
    }
    Ok(Reply::Map(out))
}

/// LATENCY DOCTOR: Redis's report, reduced to its per-event summary.
fn latency_doctor(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let lm = &x.st.latency;
    let text = if lm.threshold_ms == 0 && lm.events.is_empty() {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string()
    } else if lm.events.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep better.\n".to_string()
    } else {
        let mut out = String::from(
            "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
        );
        for (i, (event, ts)) in lm.events.iter().enumerate() {
            let n = ts.samples.len().max(1) as u64;
            let avg = ts.samples.iter().map(|s| s.1).sum::<u64>() / n;
            let mad = ts.samples.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / n;
            let span = match (ts.samples.front(), ts.samples.back()) {
                (Some(a), Some(b)) => (b.0 - a.0) as f64 / n as f64,
                _ => 0.0,
            };
            out.push_str(&format!(
                "{}. {event}: {} latency spikes (average {avg}ms, mean deviation {mad}ms, period {span:.2} sec). Worst all time event {}ms.\n",
                i + 1,
                ts.samples.len(),
                ts.max
            ));
        }
        out
    };
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

fn latency_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(help_reply(
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------
// Replication, cluster and modules: a standalone master without any

fn role(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    if let Some((host, port)) = &x.st.replicas.master {
        let r = &x.st.replicas;
        let offset = match r.master_client.and_then(|id| x.st.clients.map.get(&id)) {
            Some(c) => i64::try_from(c.repl_offset).unwrap_or(i64::MAX),
            None => -1,
        };
        return Ok(Reply::Array(vec![
            Reply::bulk(b"slave"),
            Reply::bulk(host.as_bytes()),
            Reply::Int(i64::from(*port)),
            Reply::bulk(r.link.role_word().as_bytes()),
            Reply::Int(offset),
        ]));
    }
    let replicas = super::repl::attached(x.st)
        .into_iter()
        .map(|r| {
            Reply::Array(vec![
                Reply::bulk(r.ip.as_bytes()),
                Reply::bulk(r.port.to_string().as_bytes()),
                Reply::bulk(r.ack.to_string().as_bytes()),
            ])
        })
        .collect();
    let offset = i64::try_from(x.st.replicas.offset).unwrap_or(i64::MAX);
    Ok(Reply::Array(vec![
        Reply::bulk(b"master"),
        Reply::Int(offset),
        Reply::Array(replicas),
    ]))
}

/// WAIT numreplicas timeout: how many attached replicas have acknowledged (REPLCONF ACK)
/// the whole stream sent before this command — at once when that is enough (or the
/// command cannot block: MULTI, scripts), else once enough have (`repl::serve_waits`) or
/// when the timeout passes (0 = forever), with the count then. Without replicas: 0.
fn wait(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if x.st.replicas.master.is_some() {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let want = arg_i64(&a[1])?;
    let timeout =
        arg_i64(&a[2]).map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let target = x.st.replicas.offset;
    let acked = super::repl::acked_at_least(x.st, target);
    if want <= i64::try_from(acked).unwrap_or(i64::MAX) || !x.may_block() {
        return Ok(Reply::Int(i64::try_from(acked).unwrap_or(i64::MAX)));
    }
    // Ask the replicas for their offsets now rather than at their next second.
    super::repl::request_acks(x.st);
    x.block = Some(BlockRequest {
        keys: Vec::new(),
        deadline_ms: if timeout == 0 {
            0
        } else {
            x.now_ms.saturating_add(timeout)
        },
        timeout_reply: Reply::Int(i64::try_from(acked).unwrap_or(i64::MAX)),
        // Parked with the offset to reach (a 4th argument only this parked form has).
        argv: Some(vec![
            a[0].clone(),
            a[1].clone(),
            a[2].clone(),
            Bytes::from(target.to_string()),
        ]),
    });
    Ok(Reply::Int(0))
}

fn no_cluster(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Err(CmdError::err("This instance has cluster support disabled"))
}

/// REPLICAOF NO ONE: back to master, keeping the dataset. REPLICAOF host port: become a
/// replica of that server: the link task (`server::replica`) connects, resyncs (in part
/// when it can) and runs the master's stream; meanwhile ROLE and INFO show the link's
/// state and client writes get -READONLY (see `repl::refusal`).
fn replicaof(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if x.st.replicas.failover.is_some() {
        return Err(CmdError::err("REPLICAOF not allowed while failing over."));
    }
    if is(&a[1], "no") && is(&a[2], "one") {
        if x.st.replicas.master.is_some() {
            super::repl::unset_master(x);
            tracing::info!(
                "MASTER MODE enabled (user request from 'addr={}')",
                x.client().addr
            );
        }
        return Ok(Reply::ok());
    }
    let port = arg_i64(&a[2])
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| CmdError::err("Invalid master port"))?;
    let host = String::from_utf8_lossy(&a[1]).into_owned();
    if x.st.replicas.master.as_ref() == Some(&(host.clone(), port)) {
        return Ok(Reply::Simple(
            "OK Already connected to specified master".into(),
        ));
    }
    super::repl::set_master(x, host, port);
    Ok(Reply::ok())
}

fn module_list(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(Vec::new()))
}

fn module_load(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Err(CmdError::err(
        "MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
    ))
}

fn module_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(help_reply(
        "MODULE",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    ))
}

fn lolwut(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Verbatim(
        "txt",
        Bytes::from(format!(
            "strata {} (Redis ver. {})\n",
            crate::STRATA_VERSION,
            crate::REDIS_VERSION
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::server::testkit::words;
    use super::*;

    #[test]
    fn secrets_are_redacted_as_redis_does() {
        let shown = |line: &str| {
            redacted(&words(line)).map(|v| {
                v.iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        };
        assert_eq!(
            shown("acl setuser bob on >pw").as_deref(),
            Some("acl setuser (redacted) (redacted) (redacted)")
        );
        assert_eq!(
            shown("CONFIG SET hz 10 requirepass pw masterauth x").as_deref(),
            Some("CONFIG SET hz 10 requirepass (redacted) masterauth (redacted)")
        );
        assert_eq!(shown("config set hz 10"), None);
        assert_eq!(shown("acl getuser bob"), None);
        assert_eq!(
            shown("AUTH bob pw").as_deref(),
            Some("AUTH (redacted) (redacted)")
        );
    }

    #[test]
    fn slowlog_trims_like_redis_and_keeps_the_newest() {
        let mut s = SlowLog {
            max_len: 2,
            threshold_us: 0,
            ..SlowLog::default()
        };
        let many: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        s.add(&many, 5, 1_700_000_000_123, "1.2.3.4:5", b"");
        let e = &s.entries[0];
        assert_eq!(e.argv.len(), 32);
        assert_eq!(&e.argv[31][..], b"... (9 more arguments)");
        assert_eq!(e.time_s, 1_700_000_000);
        s.add(&[Bytes::from(vec![b'x'; 130])], 7, 0, "", b"n");
        assert_eq!(
            &s.entries[0].argv[0][..],
            [&[b'x'; 128][..], b"... (2 more bytes)"]
                .concat()
                .as_slice()
        );
        s.add(&[Bytes::from_static(b"third")], 9, 0, "", b"");
        assert_eq!(s.entries.len(), 2);
        assert_eq!(s.entries[0].id, 2);
        assert_eq!(s.entries[1].id, 1);
        assert!(s.wants(0));
        s.threshold_us = -1;
        assert!(!s.wants(u64::MAX));
    }
}
