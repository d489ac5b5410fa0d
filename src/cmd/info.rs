//! INFO: the Redis 7.0 report, section by section, with Redis's field names so clients
//! and exporters parse it unchanged (`redis_version:7.0.15`, `loading:0`, `role:master`,
//! `db0:keys=…`, `cmdstat_…`, `errorstat_…`). Values are honest: counters come from the
//! engine state, persistence fields from the server (`Env::persistence_info`), memory
//! and CPU from `/proc` (allocator statistics come later). Fields strata cannot measure
//! yet report Redis's idle values (0). No section changes anything.

use std::fmt::Write as _;

use bytes::Bytes;

use super::exec::Exec;
use super::registry::COMMANDS;
use super::{cmd, CmdError, CommandSpec, Flags, Group};
use crate::resp::Reply;

/// Register INFO.
pub fn register(t: &mut Vec<CommandSpec>) {
    t.push(
        cmd("info", -1, Flags::LOADING | Flags::STALE, info)
            .group(Group::Server)
            .acl(&["dangerous"])
            .doc("Get information and statistics about the server", "1.0.0"),
    );
}

/// Every section in output order: (name, title, part of `default`).
const SECTIONS: &[(&str, &str, bool)] = &[
    ("server", "Server", true),
    ("clients", "Clients", true),
    ("memory", "Memory", true),
    ("persistence", "Persistence", true),
    ("stats", "Stats", true),
    ("replication", "Replication", true),
    ("cpu", "CPU", true),
    ("modules", "Modules", true),
    ("commandstats", "Commandstats", false),
    ("errorstats", "Errorstats", true),
    ("latencystats", "Latencystats", false),
    ("cluster", "Cluster", true),
    ("keyspace", "Keyspace", true),
];

fn info(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut wanted: Vec<&str> = Vec::new();
    let mut all = false;
    if a.len() == 1 {
        wanted.extend(SECTIONS.iter().filter(|s| s.2).map(|s| s.0));
    }
    for arg in &a[1..] {
        let arg = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match arg.as_str() {
            "all" | "everything" => all = true,
            "default" => wanted.extend(SECTIONS.iter().filter(|s| s.2).map(|s| s.0)),
            other => {
                if let Some(s) = SECTIONS.iter().find(|s| s.0 == other) {
                    wanted.push(s.0);
                }
            }
        }
    }
    let mut out = String::new();
    for (name, title, _) in SECTIONS {
        if !all && !wanted.contains(name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
        for (k, v) in section(x, name) {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out.into_bytes())))
}

type Fields = Vec<(String, String)>;

fn section(x: &mut Exec<'_>, name: &str) -> Fields {
    match name {
        "server" => server(x),
        "clients" => clients(x),
        "memory" => memory(x),
        "persistence" => persistence(x),
        "stats" => stats(x),
        "replication" => replication(x),
        "cpu" => cpu(),
        "commandstats" => commandstats(x),
        "errorstats" => {
            x.st.stats
                .errors
                .iter()
                .map(|(code, n)| (format!("errorstat_{code}"), format!("count={n}")))
                .collect()
        }
        "latencystats" => latencystats(x),
        "cluster" => vec![kv("cluster_enabled", 0)],
        "keyspace" => keyspace(x),
        _ => Vec::new(),
    }
}

fn kv(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// A 40-hex-digit id that is stable for the life of the process (run_id, replid).
fn process_hex_id(x: &Exec<'_>, salt: u64) -> String {
    let mut s = u64::from(std::process::id()) ^ (x.st.start_ms as u64).rotate_left(17) ^ salt;
    let mut out = String::with_capacity(40);
    while out.len() < 40 {
        // splitmix64
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let _ = write!(out, "{:016x}", z ^ (z >> 31));
    }
    out.truncate(40);
    out
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// INFO `redis_build_id`: a hex digest of this build's version (Redis digests its build
/// facts likewise), the same for every run of one build.
fn build_id() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in crate::STRATA_VERSION
        .bytes()
        .chain(crate::REDIS_VERSION.bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:x}")
}

fn server(x: &mut Exec<'_>) -> Fields {
    let env: Fields = x.env.server_info();
    let from_env = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let os = format!(
        "{} {} {}",
        read_proc("/proc/sys/kernel/ostype").trim(),
        read_proc("/proc/sys/kernel/osrelease").trim(),
        std::env::consts::ARCH
    );
    let now_us = crate::clock::now_us();
    let hz = x.st.config.hz;
    vec![
        kv("redis_version", crate::REDIS_VERSION),
        kv("strata_version", crate::STRATA_VERSION),
        kv("redis_git_sha1", "00000000"),
        kv("redis_git_dirty", 0),
        kv("redis_build_id", build_id()),
        kv("redis_mode", "standalone"),
        kv("os", os),
        kv("arch_bits", usize::BITS),
        kv("monotonic_clock", "POSIX clock_gettime"),
        kv("multiplexing_api", "epoll"),
        kv("atomicvar_api", "c11-builtin"),
        // Redis prints the GCC that built it, 0.0.0 for another compiler.
        kv("gcc_version", "0.0.0"),
        kv("process_id", from_env("process_id")),
        kv("process_supervised", "no"),
        kv("run_id", process_hex_id(x, 0)),
        kv("tcp_port", from_env("tcp_port")),
        kv("server_time_usec", now_us),
        kv("uptime_in_seconds", from_env("uptime_in_seconds")),
        kv("uptime_in_days", from_env("uptime_in_days")),
        kv("hz", hz),
        kv("configured_hz", hz),
        kv("lru_clock", (now_us / 1_000_000) & ((1 << 24) - 1)),
        kv("executable", from_env("executable")),
        kv("config_file", from_env("config_file")),
        kv("io_threads_active", 0),
    ]
}

fn clients(x: &mut Exec<'_>) -> Fields {
    let c = &x.st.clients;
    vec![
        kv("connected_clients", c.connected().count()),
        kv("cluster_connections", 0),
        kv("maxclients", x.st.config.maxclients),
        kv(
            "client_recent_max_input_buffer",
            c.connected().map(|c| c.qbuf.len).max().unwrap_or(0),
        ),
        kv("client_recent_max_output_buffer", 0),
        kv(
            "blocked_clients",
            x.st.blocked.clients.len() + x.st.clients.map.values().filter(|c| c.paused).count(),
        ),
        kv("tracking_clients", x.st.tracking.counts().0),
        kv("clients_in_timeout_table", x.st.blocked.clients.len()),
    ]
}

/// Redis `bytesToHuman`.
pub fn bytes_to_human(n: u64) -> String {
    let d = n as f64;
    const UNITS: [(f64, &str); 5] = [
        (1024.0, "K"),
        (1024.0 * 1024.0, "M"),
        (1024.0 * 1024.0 * 1024.0, "G"),
        (1024.0 * 1024.0 * 1024.0 * 1024.0, "T"),
        (1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, (size, unit)) in UNITS.iter().enumerate() {
        if i + 1 == UNITS.len() || d < size * 1024.0 {
            return format!("{:.2}{unit}", d / size);
        }
    }
    format!("{n}B")
}

/// A `kB` field of /proc/self/status, in bytes.
fn proc_status_kb(text: &str, field: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn memory(x: &mut Exec<'_>) -> Fields {
    let r = super::memory::report(x);
    let total = proc_status_kb(&read_proc("/proc/meminfo"), "MemTotal");
    let maxmemory = x.st.config.maxmemory;
    let policy = x.st.config.maxmemory_policy.name();
    let scripts = x.st.scripts.len();
    let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let vm_eval = as_u64(x.st.scripts.vm_memory());
    let vm_functions = as_u64(x.st.functions.vm_memory());
    let scripts_eval = as_u64(x.st.scripts.body_bytes());
    let functions = as_u64(x.st.functions.code_bytes());
    let diff = |a: u64, b: u64| i128::from(a) - i128::from(b);
    vec![
        kv("used_memory", r.used),
        kv("used_memory_human", bytes_to_human(r.used)),
        kv("used_memory_rss", r.rss),
        kv("used_memory_rss_human", bytes_to_human(r.rss)),
        kv("used_memory_peak", r.peak),
        kv("used_memory_peak_human", bytes_to_human(r.peak)),
        kv("used_memory_peak_perc", format!("{:.2}%", r.peak_perc())),
        kv("used_memory_overhead", r.overhead),
        kv("used_memory_startup", r.startup),
        kv("used_memory_dataset", r.dataset()),
        kv(
            "used_memory_dataset_perc",
            format!("{:.2}%", r.dataset_perc()),
        ),
        kv("allocator_allocated", r.allocated),
        kv("allocator_active", r.active),
        kv("allocator_resident", r.resident),
        kv("total_system_memory", total),
        kv("total_system_memory_human", bytes_to_human(total)),
        kv("used_memory_lua", vm_eval),
        kv("used_memory_vm_eval", vm_eval),
        kv("used_memory_lua_human", bytes_to_human(vm_eval)),
        kv("used_memory_scripts_eval", scripts_eval),
        kv("number_of_cached_scripts", scripts),
        kv("number_of_functions", x.st.functions.function_count()),
        kv("number_of_libraries", x.st.functions.len()),
        kv("used_memory_vm_functions", vm_functions),
        kv("used_memory_vm_total", vm_eval + vm_functions),
        kv(
            "used_memory_vm_total_human",
            bytes_to_human(vm_eval + vm_functions),
        ),
        kv("used_memory_functions", functions),
        kv("used_memory_scripts", scripts_eval + functions),
        kv(
            "used_memory_scripts_human",
            bytes_to_human(scripts_eval + functions),
        ),
        kv("maxmemory", maxmemory),
        kv("maxmemory_human", bytes_to_human(maxmemory)),
        kv("maxmemory_policy", policy),
        kv("allocator_frag_ratio", format!("{:.2}", r.allocator_frag())),
        kv("allocator_frag_bytes", diff(r.active, r.allocated)),
        kv("allocator_rss_ratio", format!("{:.2}", r.allocator_rss())),
        kv("allocator_rss_bytes", diff(r.resident, r.active)),
        kv("rss_overhead_ratio", format!("{:.2}", r.rss_overhead())),
        kv("rss_overhead_bytes", diff(r.rss, r.resident)),
        kv("mem_fragmentation_ratio", format!("{:.2}", r.frag())),
        kv("mem_fragmentation_bytes", diff(r.rss, r.used)),
        kv(
            "mem_not_counted_for_evict",
            super::memory::not_counted_for_evict(x),
        ),
        kv(
            "mem_replication_backlog",
            x.st.replicas.backlog.as_ref().map_or(0, |b| b.buf.len()),
        ),
        kv(
            "mem_total_replication_buffers",
            super::memory::replication_buffers(x.st).0,
        ),
        kv(
            "mem_clients_slaves",
            super::memory::replication_buffers(x.st).1,
        ),
        kv(
            "mem_clients_normal",
            x.st.clients
                .connected()
                .filter(|c| {
                    let r = &x.st.replicas;
                    !r.ids.contains(&c.id) && !r.waiting.iter().any(|w| w.id == c.id)
                })
                .map(|c| c.mem_usage(0, c.id == x.client_id))
                .sum::<usize>(),
        ),
        kv("mem_cluster_links", 0),
        kv("mem_aof_buffer", x.env.log_buffered()),
        kv("mem_allocator", "jemalloc-5.3.0"),
        kv("active_defrag_running", 0),
        kv("lazyfree_pending_objects", x.st.lazyfree.pending()),
        kv("lazyfreed_objects", x.st.lazyfree.freed()),
    ]
}

fn persistence(x: &mut Exec<'_>) -> Fields {
    let lastsave = x.st.lastsave;
    let dirty = x.st.dirty;
    // What a running snapshot holds for itself: the copies of entries changed before it
    // wrote them and its buffers (Redis reports its fork's copy-on-write pages here).
    let cow = super::memory::snapshot_held(x);
    x.env
        .persistence_info()
        .into_iter()
        .map(|(k, v)| {
            if k == "rdb_last_save_time" {
                (k, lastsave.to_string())
            } else if k == "rdb_changes_since_last_save" {
                (k, dirty.to_string())
            } else if k == "current_cow_size" {
                (k, cow.to_string())
            } else {
                (k, v)
            }
        })
        .collect()
}

fn stats(x: &mut Exec<'_>) -> Fields {
    let s = &x.st.stats;
    // (Background snapshots are strata's forks: the point in time they copy from.)
    let forks = x.env.snapshot_starts();
    // Replication, active defrag, client eviction and I/O threads: strata has none of
    // them, so their counters stay at Redis's idle values.
    vec![
        kv("total_connections_received", s.total_connections),
        kv("total_commands_processed", s.total_commands),
        kv("instantaneous_ops_per_sec", 0),
        kv("total_net_input_bytes", s.net_input_bytes),
        kv(
            "total_net_output_bytes",
            (x.env.net_output_bytes() + x.st.clients.sent_to_connected())
                .saturating_sub(s.net_output_bytes),
        ),
        kv("total_net_repl_input_bytes", 0),
        kv("total_net_repl_output_bytes", 0),
        kv("instantaneous_input_kbps", "0.00"),
        kv("instantaneous_output_kbps", "0.00"),
        kv("instantaneous_input_repl_kbps", "0.00"),
        kv("instantaneous_output_repl_kbps", "0.00"),
        kv("rejected_connections", s.rejected_connections),
        kv("sync_full", x.st.replicas.sync_full),
        kv("sync_partial_ok", x.st.replicas.sync_partial_ok),
        kv("sync_partial_err", x.st.replicas.sync_partial_err),
        kv("expired_keys", s.expired_keys),
        kv("expired_stale_perc", format!("{:.2}", s.expired_stale_perc)),
        kv(
            "expired_time_cap_reached_count",
            s.expired_time_cap_reached_count,
        ),
        kv(
            "expire_cycle_cpu_milliseconds",
            s.expire_cycle_time_used_us / 1000,
        ),
        kv("evicted_keys", s.evicted_keys),
        kv("evicted_clients", x.st.clients.evicted_clients),
        kv("total_eviction_exceeded_time", 0),
        kv("current_eviction_exceeded_time", 0),
        kv("keyspace_hits", s.keyspace_hits),
        kv("keyspace_misses", s.keyspace_misses),
        kv("pubsub_channels", x.st.pubsub.channels.len()),
        kv("pubsub_patterns", x.st.pubsub.patterns.len()),
        kv("pubsubshard_channels", x.st.pubsub.shard_channels.len()),
        kv("latest_fork_usec", forks.1),
        kv("total_forks", forks.0),
        kv("migrate_cached_sockets", x.st.migrate_sockets.len()),
        kv("slave_expires_tracked_keys", 0),
        kv("active_defrag_hits", 0),
        kv("active_defrag_misses", 0),
        kv("active_defrag_key_hits", 0),
        kv("active_defrag_key_misses", 0),
        kv("total_active_defrag_time", 0),
        kv("current_active_defrag_time", 0),
        kv("tracking_total_keys", x.st.tracking.counts().1),
        kv("tracking_total_items", x.st.tracking.counts().2),
        kv(
            "tracking_total_prefixes",
            super::tracking::Tracking::total_prefixes(&x.st.clients),
        ),
        kv(
            "unexpected_error_replies",
            x.st.replicas.unexpected_error_replies,
        ),
        kv("total_error_replies", s.errors.values().sum::<u64>()),
        kv("dump_payload_sanitizations", 0),
        kv("total_reads_processed", 0),
        kv("total_writes_processed", 0),
        kv("io_threaded_reads_processed", 0),
        kv("io_threaded_writes_processed", 0),
        kv("reply_buffer_shrinks", 0),
        kv("reply_buffer_expands", 0),
    ]
}

fn replication(x: &mut Exec<'_>) -> Fields {
    let r = &x.st.replicas;
    let mut head = match &r.master {
        Some((host, port)) => {
            use super::repl::Link;
            let now = x.now_ms;
            let link = r.master_client.and_then(|id| x.st.clients.map.get(&id));
            let up = r.link == Link::Up && link.is_some();
            let offset = link.map_or(0, |c| c.repl_offset);
            let mut f = vec![
                kv("role", "slave"),
                kv("master_host", host.clone()),
                kv("master_port", *port),
                kv("master_link_status", if up { "up" } else { "down" }),
                kv(
                    "master_last_io_seconds_ago",
                    link.map_or(-1, |c| (now - c.last_cmd_ms).max(0) / 1000),
                ),
                kv("master_sync_in_progress", i32::from(r.link == Link::Sync)),
                kv("slave_read_repl_offset", offset),
                kv("slave_repl_offset", offset),
            ];
            if !up {
                let since = if r.link_down_since_ms > 0 {
                    (now - r.link_down_since_ms).max(0) / 1000
                } else {
                    -1
                };
                f.push(kv("master_link_down_since_seconds", since));
            }
            f.extend([
                kv("slave_priority", 100),
                kv(
                    "slave_read_only",
                    i32::from(x.st.config.get("replica-read-only").as_deref() != Some("no")),
                ),
                kv("replica_announced", 1),
            ]);
            f
        }
        None => vec![kv("role", "master")],
    };
    head.extend(replication_rest(x));
    head
}

fn replication_rest(x: &mut Exec<'_>) -> Fields {
    let replicas = super::repl::attached(x.st);
    let waiting = super::repl::waiting(x.st);
    let mut f = vec![kv("connected_slaves", replicas.len() + waiting.len())];
    let now = x.now_ms;
    for (i, r) in replicas.iter().enumerate() {
        // lag: seconds since its last acknowledgement (as Redis).
        let lag = if r.ack_ms > 0 {
            (now - r.ack_ms).max(0) / 1000
        } else {
            0
        };
        f.push(kv(
            &format!("slave{i}"),
            format!(
                "ip={},port={},state=online,offset={},lag={lag}",
                r.ip, r.port, r.ack
            ),
        ));
    }
    for (i, (r, state)) in waiting.iter().enumerate() {
        f.push(kv(
            &format!("slave{}", replicas.len() + i),
            format!("ip={},port={},state={state},offset=0,lag=0", r.ip, r.port),
        ));
    }
    let backlog = x.st.replicas.backlog.as_ref();
    f.extend(vec![
        kv(
            "master_failover_state",
            super::failover::state_word(&x.st.replicas.failover),
        ),
        kv("master_replid", x.st.replicas.replid.clone()),
        kv("master_replid2", x.st.replicas.replid2.clone()),
        kv("master_repl_offset", x.st.replicas.offset),
        kv("second_repl_offset", x.st.replicas.second_replid_offset),
        kv("repl_backlog_active", i32::from(backlog.is_some())),
        kv("repl_backlog_size", backlog.map_or(1_048_576, |b| b.size)),
        kv(
            "repl_backlog_first_byte_offset",
            backlog.map_or(0, |b| x.st.replicas.offset + 1 - b.buf.len() as u64),
        ),
        kv("repl_backlog_histlen", backlog.map_or(0, |b| b.buf.len())),
    ]);
    f
}

/// CPU seconds from /proc/self/stat (utime, stime, cutime, cstime in USER_HZ = 100 ticks).
fn cpu() -> Fields {
    let stat = read_proc("/proc/self/stat");
    let after_comm = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = after_comm
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let secs = |i: usize| format!("{:.6}", fields.get(i).copied().unwrap_or(0) as f64 / 100.0);
    vec![
        kv("used_cpu_sys", secs(1)),
        kv("used_cpu_user", secs(0)),
        kv("used_cpu_sys_children", secs(3)),
        kv("used_cpu_user_children", secs(2)),
        // Redis's main thread runs every command; in strata any connection thread runs
        // them under the engine lock, so the process's own time stands for it.
        kv("used_cpu_sys_main_thread", secs(1)),
        kv("used_cpu_user_main_thread", secs(0)),
    ]
}

fn commandstats(x: &mut Exec<'_>) -> Fields {
    x.st.stats
        .cmd
        .iter()
        .enumerate()
        .filter(|(_, s)| s.calls > 0 || s.failed_calls > 0 || s.rejected_calls > 0)
        .map(|(id, s)| {
            let per_call = if s.calls > 0 { s.usec as f64 / s.calls as f64 } else { 0.0 };
            (
                format!("cmdstat_{}", COMMANDS.name_of(id)),
                format!(
                    "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                    s.calls, s.usec, s.rejected_calls, s.failed_calls
                ),
            )
        })
        .collect()
}

/// INFO latencystats: per command with a latency histogram, the latency at each of
/// `latency-tracking-info-percentiles`, in µs (here the upper bound of the histogram's
/// power-of-two bucket that holds it; Redis reads its HDR histogram).
fn latencystats(x: &mut Exec<'_>) -> Fields {
    let percentiles = &x.st.latency.percentiles;
    x.st.stats
        .cmd
        .iter()
        .enumerate()
        .filter_map(|(id, s)| {
            let total: u64 = s.latency.iter().map(|&n| u64::from(n)).sum();
            if total == 0 {
                return None;
            }
            let at = |p: f64| -> u64 {
                // The rank of the sample at percentile p (1-based, at least the first).
                let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
                let mut seen = 0u64;
                for (k, &n) in s.latency.iter().enumerate() {
                    seen += u64::from(n);
                    if seen >= rank {
                        return 1u64 << k;
                    }
                }
                1u64 << (s.latency.len() - 1)
            };
            let values: Vec<String> = percentiles
                .iter()
                .map(|&p| format!("p{p}={:.3}", at(p) as f64))
                .collect();
            Some((
                format!("latency_percentiles_usec_{}", COMMANDS.name_of(id)),
                values.join(","),
            ))
        })
        .collect()
}

fn keyspace(x: &mut Exec<'_>) -> Fields {
    x.st.ks
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| {
            (
                format!("db{i}"),
                format!("keys={},expires={},avg_ttl=0", d.len(), d.volatile_len()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::server::testkit::*;
    use super::*;

    fn text(r: Reply) -> String {
        match r {
            Reply::Verbatim("txt", b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("not verbatim: {other:?}"),
        }
    }

    fn titles(t: &str) -> Vec<&str> {
        t.lines().filter(|l| l.starts_with('#')).collect()
    }

    #[test]
    fn default_sections_and_fields() {
        let mut t = Tk::new();
        let info = text(t.run("INFO"));
        assert!(info.starts_with("# Server\r\nredis_version:7.0.15\r\nstrata_version:"));
        assert!(info.contains("\r\nredis_mode:standalone\r\n"));
        assert!(info.contains("\r\n\r\n# Persistence\r\nloading:0\r\naof_enabled:1\r\n"));
        assert!(info.contains("\r\nrole:master\r\n"));
        assert!(info.contains("\r\nconnected_clients:1\r\n"));
        assert!(info.contains("\r\nprocess_id:42\r\n"));
        assert!(info.ends_with("# Keyspace\r\n"));
        let default = [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Modules",
            "# Errorstats",
            "# Cluster",
            "# Keyspace",
        ];
        assert_eq!(titles(&info), default);
        assert_eq!(titles(&text(t.run("INFO default"))), default);
        assert!(titles(&text(t.run("INFO everything"))).contains(&"# Commandstats"));
    }

    #[test]
    fn chosen_sections_keyspace_and_stats() {
        let mut t = Tk::new();
        assert_eq!(text(t.run("INFO nosuch")), "");
        assert_eq!(text(t.run("INFO keyspace")), "# Keyspace\r\n");
        t.run("SET a 1");
        t.run("SET b 1 PX 100000");
        t.run("NOSUCH");
        let want = "# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n\
                    db0:keys=2,expires=1,avg_ttl=0\r\n";
        assert_eq!(text(t.run("INFO CLUSTER keyspace cluster")), want);
        let want = "# Errorstats\r\nerrorstat_ERR:count=1\r\n";
        assert_eq!(text(t.run("INFO errorstats")), want);
        let cs = text(t.run("INFO commandstats"));
        assert!(cs.contains("\r\ncmdstat_set:calls=2,usec="), "{cs}");
        assert!(cs.contains(",rejected_calls=0,failed_calls=0\r\n"));
        t.run("CONFIG GET x");
        let cs = text(t.run("INFO commandstats"));
        assert!(cs.contains("\r\ncmdstat_config|get:calls=1,"));
        let s = text(t.run("INFO stats"));
        assert!(s.contains("\r\ntotal_error_replies:1\r\n"), "{s}");
    }

    #[test]
    fn human_sizes_and_proc_values() {
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(941_088), "919.03K");
        assert_eq!(bytes_to_human(7_024_640), "6.70M");
        assert_eq!(bytes_to_human(25_276_502_016), "23.54G");
        let mut t = Tk::new();
        let m = text(t.run("INFO memory"));
        let used = m
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap();
        assert!(used.parse::<u64>().unwrap() > 0);
        assert!(text(t.run("INFO cpu")).contains("used_cpu_user:"));
    }
}
