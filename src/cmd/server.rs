//! Server commands: CONFIG GET/SET/RESETSTAT/REWRITE, TIME, LASTSAVE, SAVE, BGSAVE,
//! BGREWRITEAOF, SHUTDOWN and the DEBUG subset (SLEEP, RELOAD). None changes the
//! keyspace through the journal: the log is the save, so SAVE only records the time
//! (the connection already waits for everything applied to be durable before replying),
//! and DEBUG RELOAD rebuilds the keyspace from what the log holds on disk. Also the
//! `help_reply` shape shared by every `… HELP`.

use std::path::Path;

use bytes::Bytes;

use super::dispatch;
use super::exec::{arg_i64, is, lossy, Caller, Env, Exec, SnapshotRequest, State};
use super::{cmd, container, CmdError, CommandSpec, Flags, Group};
use crate::config::{Config, ConfigError};
use crate::db::Keyspace;
use crate::glob::glob_match;
use crate::resp::Reply;

/// Register the server commands.
#[rustfmt::skip]
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let c = |name, arity, flags, handler, summary, since| {
        cmd(name, arity, flags, handler).group(Group::Server).doc(summary, since)
    };
    let admin = F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE;
    let any = F::LOADING | F::STALE;
    let config_subs = vec![
        c("get", -3, admin, config_get, "Get the values of configuration parameters", "2.0.0"),
        c("set", -4, admin, config_set, "Set configuration parameters to the given values", "2.0.0"),
        c("resetstat", 2, admin, config_resetstat, "Reset the stats returned by INFO", "2.0.0"),
        c("rewrite", 2, admin, config_rewrite, "Rewrite the configuration file with the in memory configuration", "2.8.0"),
        c("help", 2, any, config_help, "Show helpful text about the different subcommands", "5.0.0"),
    ];
    t.push(container("config", -2, F::empty(), config_subs).group(Group::Server).doc("A container for server configuration commands", "2.0.0"));
    t.push(c("time", 1, any | F::FAST, time, "Return the current server time", "2.6.0"));
    t.push(c("lastsave", 1, any | F::FAST, lastsave, "Get the UNIX time stamp of the last successful save to disk", "1.0.0").acl(&["admin", "dangerous"]));
    let save_flags = F::ADMIN | F::NOSCRIPT | F::NO_ASYNC_LOADING;
    t.push(c("save", 1, save_flags | F::NO_MULTI, save, "Synchronously save the dataset to disk", "1.0.0"));
    t.push(c("bgsave", -1, save_flags, bgsave, "Asynchronously save the dataset to disk", "1.0.0"));
    t.push(c("bgrewriteaof", 1, save_flags, bgrewriteaof, "Asynchronously rewrite the append-only file", "1.0.0"));
    t.push(c("shutdown", -1, admin | F::NO_MULTI | F::ALLOW_BUSY, shutdown, "Synchronously save the dataset to disk and then shut down the server", "1.0.0"));
    t.push(c("debug", -2, admin, debug, "A container for debugging commands", "1.0.0"));
}

/// The reply of every `… HELP`: a header, the given lines, and the HELP entry, each as a
/// simple string (Redis `addReplyHelp`).
pub fn help_reply(command: &str, lines: &[&str]) -> Reply {
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(Reply::Simple(format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )));
    out.extend(lines.iter().map(|l| Reply::Simple((*l).to_string())));
    out.push(Reply::Simple("HELP".into()));
    out.push(Reply::Simple("    Prints this help.".into()));
    Reply::Array(out)
}

fn config_get(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let cfg = &x.st.config;
    let mut found: Vec<(String, String)> = Vec::new();
    let seen =
        |found: &[(String, String)], n: &str| found.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    for pat in &a[2..] {
        if !pat.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
            // No glob characters: an exact (case-insensitive) lookup, reported as typed.
            let name = lossy(pat);
            if seen(&found, &name) {
                continue;
            }
            if let Some(v) = cfg.get(&name) {
                found.push((name, v));
            }
            continue;
        }
        for name in Config::listed_names() {
            if !seen(&found, name) && glob_match(pat, name.as_bytes(), true) {
                found.push((name.to_string(), cfg.get(name).unwrap_or_default()));
            }
        }
    }
    // REPLICAOF (the command) is what sets `replicaof`.
    for (name, v) in &mut found {
        if name.eq_ignore_ascii_case("replicaof") || name.eq_ignore_ascii_case("slaveof") {
            if let Some((host, port)) = &x.st.replicas.master {
                *v = format!("{host} {port}");
            }
        }
    }
    Ok(Reply::Map(
        found
            .into_iter()
            .map(|(k, v)| (Reply::bulk_string(k), Reply::bulk_string(v)))
            .collect(),
    ))
}

/// Directives CONFIG SET refuses with -LOADING while the dataset loads (Redis 7.0's
/// `DENY_LOADING_CONFIG` ones).
const DENY_LOADING: &[&str] = &["dir", "appendonly", "repl-diskless-load"];

/// True if `name` can be changed at runtime (probed on a scratch copy with its own value).
fn is_immutable(cfg: &Config, name: &str) -> bool {
    let mut probe = cfg.clone();
    let current = cfg.get(name).unwrap_or_default();
    matches!(
        probe.set(name, &current, true),
        Err(ConfigError::Immutable(_))
    )
}

/// CONFIG SET name value [name value …]: all or nothing, with Redis 7's error texts and
/// precedence (unknown name, then immutable/duplicate, then the first bad value).
fn config_set(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if !a[2..].chunks_exact(2).remainder().is_empty() {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(String, String)> = a[2..]
        .chunks(2)
        .map(|p| (lossy(&p[0]), lossy(&p[1])))
        .collect();
    let failed = |name: &str, why: &str| {
        CmdError::err(format!(
            "CONFIG SET failed (possibly related to argument '{name}') - {why}"
        ))
    };
    if let Some((name, _)) = pairs.iter().find(|(n, _)| x.st.config.get(n).is_none()) {
        return Err(CmdError::err(format!(
            "Unknown option or number of arguments for CONFIG SET - '{name}'"
        )));
    }
    for (i, (name, _)) in pairs.iter().enumerate() {
        if is_immutable(&x.st.config, name) {
            return Err(failed(name, "can't set immutable config"));
        }
        // Redis's protected configs (`dir` is refused always, below: the data directory
        // is fixed while the server runs).
        if (name.eq_ignore_ascii_case("dbfilename") || name.eq_ignore_ascii_case("dir"))
            && !super::dispatch::protected_action_allowed(x, "enable-protected-configs")
        {
            return Err(failed(name, "can't set protected config"));
        }
        // Redis's DENY_LOADING_CONFIG directives: refused while the dataset loads.
        if x.env.loading() && DENY_LOADING.iter().any(|d| name.eq_ignore_ascii_case(d)) {
            return Err(CmdError::Raw(super::error::LOADING.into()));
        }
        if pairs[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(failed(name, "duplicate parameter"));
        }
    }
    let aof_was_off = x.st.config.get("appendonly").as_deref() == Some("no");
    let mut next = x.st.config.clone();
    for (name, value) in &pairs {
        next.set(name, value, true).map_err(|e| match e {
            ConfigError::BadValue(_, why) => failed(name, &why),
            ConfigError::Immutable(_) => failed(name, "can't set immutable config"),
            ConfigError::Unknown(_) => CmdError::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            )),
        })?;
    }
    if next.maxclients > x.st.config.maxclients {
        let fits = x.env.fit_clients(next.maxclients);
        if fits < next.maxclients {
            return Err(failed(
                "maxclients",
                &format!("The operating system is not able to handle the specified number of clients, try with {fits}"),
            ));
        }
    }
    if next.bind != x.st.config.bind || next.port != x.st.config.port {
        // Applied last, as nothing else can fail after it (Redis rolls back otherwise).
        let name = pairs
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .find(|n| n == "bind" || n == "port")
            .unwrap_or_default();
        let port = x.env.listen(&next.bind, next.port).map_err(|_| {
            let why = if name == "port" {
                "Unable to listen on this port. Check server logs."
            } else {
                "Failed to bind to specified addresses."
            };
            failed(&name, why)
        })?;
        next.port = port;
    }
    let was_lfu = x.st.config.maxmemory_policy.is_lfu();
    x.st.config = next;
    if was_lfu != x.st.config.maxmemory_policy.is_lfu() {
        for db in &mut x.st.ks.dbs {
            crate::db::evict::settle_fresh(db, was_lfu);
        }
    }
    for (name, _) in &pairs {
        x.env
            .config_changed(&name.to_ascii_lowercase(), &x.st.config);
    }
    x.st.slowlog.configure(&x.st.config);
    x.st.replicas.configure(&x.st.config);
    x.st.tracking.configure(&x.st.config);
    x.st.acl.configure(&x.st.config);
    x.st.stream_nodes = super::exec::stream_node_limits(&x.st.config);
    x.st.latency.configure(&x.st.config);
    x.st.clients.limits.configure(&x.st.config);
    // A lowered maxmemory-clients (or maxmemory, for a percentage) evicts at once (the
    // caller counted as of its last command, as Redis's bucket of it is).
    x.st.clients.evict_clients();
    if aof_was_off && x.st.config.get("appendonly").as_deref() == Some("yes") {
        aof_turned_on(x);
    }
    Ok(Reply::ok())
}

/// `appendonly` set to yes: Redis starts a rewrite to write the new AOF's base (scheduled
/// when a fork is not possible now, with its log line). strata's log never stopped, so the
/// rewrite only compacts it; it is started (or scheduled) the same way.
fn aof_turned_on(x: &mut Exec<'_>) {
    let in_exec = x.in_exec;
    match x.env.snapshot(x.st, SnapshotRequest::Rewrite { in_exec }) {
        Ok(_) if in_exec => tracing::warn!(
            "AOF was enabled during a transaction. An AOF background was scheduled to start when possible."
        ),
        Ok(t) if t.ends_with("scheduled") => tracing::warn!(
            "AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible."
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("AOF was enabled, but its rewrite could not start: {e}"),
    }
}

fn config_resetstat(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let sent = x.env.net_output_bytes() + x.st.clients.sent_to_connected();
    let stats = &mut x.st.stats;
    let slots = stats.cmd.len();
    *stats = super::Stats::default();
    stats.cmd.resize(slots, Default::default());
    stats.net_output_bytes = sent;
    x.st.lazyfree.reset_stats();
    x.st.clients.evicted_clients = 0;
    let r = &mut x.st.replicas;
    (r.sync_full, r.sync_partial_ok, r.sync_partial_err) = (0, 0, 0);
    r.unexpected_error_replies = 0;
    Ok(Reply::ok())
}

/// A directive's value as a config-file word: quoted when empty or when it holds
/// whitespace (except the multi-word directives, written as several arguments).
fn config_word(name: &str, value: &str) -> String {
    let multi = matches!(name, "bind" | "save" | "replicaof");
    let plain = !value.is_empty()
        && !value.contains(['"', '\''])
        && (multi || !value.contains(char::is_whitespace));
    if plain {
        value.to_string()
    } else if value.contains('"') {
        format!("'{value}'")
    } else {
        format!("\"{value}\"")
    }
}

/// The rewritten text of a config file: each directive's first line gets the current
/// value, later duplicates are dropped, comments and blank lines stay, and directives
/// that differ from their default but are absent are appended (Redis `rewriteConfig`).
pub fn rewrite_config_text(old: &str, cfg: &Config) -> String {
    rewrite_config_text_with(old, cfg, false)
}

/// `rewrite_config_text`; with `force_all` (DEBUG CONFIG-REWRITE-FORCE-ALL) directives at
/// their default value are written too.
pub fn rewrite_config_text_with(old: &str, cfg: &Config, force_all: bool) -> String {
    let defaults = Config::default();
    let mut written: Vec<&'static str> = Vec::new();
    let mut out = String::new();
    for line in old.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        // (An alias's line is its directive's: the first line of either gets the value.)
        let name = Config::canonical(word);
        match name {
            Some(n) if !line.trim_start().starts_with('#') => {
                if written.contains(&n) {
                    continue;
                }
                written.push(n);
                let v = cfg.get(n).unwrap_or_default();
                out.push_str(&format!("{n} {}\n", config_word(n, &v)));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    let mut header = false;
    for n in Config::names() {
        let v = cfg.get(n).unwrap_or_default();
        if written.contains(&n) || (!force_all && defaults.get(n).unwrap_or_default() == v) {
            continue;
        }
        // Not a replica: Redis writes no replicaof line.
        if n == "replicaof" && v.is_empty() {
            continue;
        }
        if !header {
            out.push_str("# Generated by CONFIG REWRITE\n");
            header = true;
        }
        out.push_str(&format!("{n} {}\n", config_word(n, &v)));
    }
    out
}

/// Replace `path` atomically: write a temporary file beside it, fsync, rename.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    // DURABILITY: the new file must be on disk before it replaces the old one.
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // DURABILITY: ... and the rename survives a power loss once the directory is synced.
    sync_parent_dir(path)
}

/// fsync the directory holding `path` (after a rename into it).
pub fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)?.sync_all()
}

fn config_rewrite(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    rewrite_config_file(x, false)
}

/// CONFIG REWRITE, or with `force_all` DEBUG CONFIG-REWRITE-FORCE-ALL (every directive).
fn rewrite_config_file(x: &mut Exec<'_>, force_all: bool) -> Result<Reply, CmdError> {
    let file = x
        .env
        .server_info()
        .into_iter()
        .find(|(k, _)| k == "config_file")
        .map(|(_, v)| v)
        .unwrap_or_default();
    if file.is_empty() {
        return Err(CmdError::err("The server is running without a config file"));
    }
    let path = Path::new(&file);
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CmdError::err(format!("Rewriting config file: {e}"))),
    };
    let text = rewrite_config_text_with(&old, &x.st.config, force_all);
    replace_file(path, &text).map_err(|e| CmdError::err(format!("Rewriting config file: {e}")))?;
    Ok(Reply::ok())
}

fn config_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}

fn time(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let us = crate::clock::now_us();
    Ok(Reply::Array(vec![
        Reply::bulk_string((us / 1_000_000).to_string()),
        Reply::bulk_string((us % 1_000_000).to_string()),
    ]))
}

fn lastsave(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(x.st.lastsave))
}

/// SAVE: a snapshot taken now, holding the engine (as Redis's SAVE blocks the server).
fn save(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    x.env
        .snapshot(x.st, SnapshotRequest::Save)
        .map(|_| Reply::ok())
        .map_err(CmdError::err)
}

/// BGSAVE [SCHEDULE]: an online snapshot in the background.
fn bgsave(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 2 || (a.len() == 2 && !is(&a[1], "schedule")) {
        return Err(CmdError::Syntax);
    }
    x.env
        .snapshot(
            x.st,
            SnapshotRequest::Background {
                schedule: a.len() == 2,
                in_exec: x.in_exec,
            },
        )
        .map(|t| Reply::Simple(t.into()))
        .map_err(CmdError::err)
}

/// BGREWRITEAOF: the log is rewritten by taking a snapshot and retiring the segments it
/// covers (the same job as BGSAVE).
fn bgrewriteaof(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    x.env
        .snapshot(x.st, SnapshotRequest::Rewrite { in_exec: x.in_exec })
        .map(|t| Reply::Simple(t.into()))
        .map_err(CmdError::err)
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. As Redis, with save points configured
/// (or SAVE) and not NOSAVE, a final snapshot is taken first (`final_snapshot`); if that
/// fails the server keeps running and says so, unless FORCE. Every acknowledged write is
/// in the log either way: the snapshot only makes the next start replay nothing. On
/// success Redis sends no reply: the connection closes (the server drops this reply
/// because it is stopping).
fn shutdown(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (mut nosave, mut save, mut abort, mut other, mut force) =
        (false, false, false, false, false);
    for o in &a[1..] {
        if is(o, "nosave") {
            nosave = true;
        } else if is(o, "save") {
            save = true;
        } else if is(o, "now") {
            other = true;
        } else if is(o, "force") {
            (other, force) = (true, true);
        } else if is(o, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    if abort {
        // (A signal's shutdown waiting for the cron: strata has no other kind to abort,
        // as it never waits for replicas to catch up.)
        if x.st.shutdown_asap.take().is_none() {
            return Err(CmdError::err("No shutdown in progress."));
        }
        tracing::warn!("Shutdown manually aborted.");
        return Ok(Reply::ok());
    }
    tracing::warn!("User requested shutdown...");
    if let Err(e) = final_snapshot(x.st, x.env, save, nosave) {
        tracing::warn!("Error trying to save the DB, can't exit: {e}");
        if !force {
            tracing::warn!(
                "Errors trying to shut down the server. Check the logs for more information."
            );
            return Err(CmdError::err("Errors trying to SHUTDOWN. Check logs."));
        }
    }
    x.env.shutdown();
    x.client().close_after_reply = true;
    Ok(Reply::ok())
}

/// The snapshot Redis saves before exiting: with save points configured or `save`, not
/// with `nosave`, never while loading (nothing to save yet). A background snapshot running
/// then is left to the shutdown (strata cannot wait for it under the lock; the log holds
/// what it would have). SIGTERM and SIGINT take the same one.
/// The crash report for a fatal signal (SIGABRT, and DEBUG SEGFAULT's simulated SIGSEGV):
/// Redis's bug-report lines ("crashed by signal", which operators and Redis's test suite
/// look for), the reporting thread's stack trace, then abort. Every acknowledged write is
/// in the log already; a restart replays it.
pub fn crash_report_and_abort(signal: i32) -> ! {
    tracing::warn!("=== STRATA BUG REPORT START: Cut & paste starting from here ===");
    tracing::warn!(
        "strata {} crashed by signal: {signal}, si_code: 0",
        crate::STRATA_VERSION
    );
    tracing::warn!(
        "------ STACK TRACE ------\n{}",
        std::backtrace::Backtrace::force_capture()
    );
    tracing::warn!("=== STRATA BUG REPORT END. Make sure to include from START to END. ===");
    std::process::abort()
}

pub fn final_snapshot(
    st: &mut State,
    env: &dyn Env,
    save: bool,
    nosave: bool,
) -> Result<(), String> {
    let points =
        crate::config::save_points(&st.config.get("save").unwrap_or_default()).unwrap_or_default();
    if nosave || (!save && points.is_empty()) || env.loading() {
        return Ok(());
    }
    if env.snapshot_running() {
        tracing::warn!("A background snapshot is running: exiting without a final one (the log holds every write)");
        return Ok(());
    }
    tracing::warn!("Saving the final snapshot before exiting.");
    env.snapshot(st, SnapshotRequest::Save)?;
    tracing::warn!("DB saved on disk");
    Ok(())
}

/// strtod-style prefix parse: the longest leading float, 0 when there is none.
fn float_prefix(b: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_start();
    (1..=s.len())
        .rev()
        .filter(|&n| s.is_char_boundary(n))
        .find_map(|n| s[..n].parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

fn debug(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let sub = &a[1];
    if is(sub, "help") && a.len() == 2 {
        return Ok(help_reply(
            "DEBUG",
            &[
                "RELOAD [option ...]",
                "    Wait until the log is durable, then rebuild the dataset by replaying the log",
                "    read back from disk. Options MERGE, NOFLUSH and NOSAVE are accepted and ignored.",
                "LOADAOF",
                "    Same as RELOAD: the log is strata's AOF.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "QUICKLIST-PACKED-THRESHOLD <size>, REPLYBUFFER <option> <value>, PAUSE-CRON <0|1>,",
                "SET-DISABLE-DENY-SCRIPTS <0|1>",
                "    Accepted and ignored (Redis internals strata does not have).",
                "ERROR <string>",
                "    Return a Redis protocol error with <string> as message. Useful for clients",
                "    unit tests to simulate Redis errors.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "SEGFAULT",
                "    Crash the server as a fatal signal does: log the crash report and abort.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "CONFIG-REWRITE-FORCE-ALL",
                "    Like CONFIG REWRITE but writes all configuration options, including",
                "    keywords not listed in original configuration file or default values.",
                "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
                "    Enables or disables checksum checks for RESTORE's payload.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "HTSTATS <dbid>",
                "    Return hash table statistics of the specified Redis database.",
                "HTSTATS-KEY <key>",
                "    Like HTSTATS but for the hash table stored at <key>'s value.",
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type. <type> can be: string,",
                "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
                "    true, false.",
                "JMAP",
                "    Accepted and ignored (Redis: print a jemalloc heap map).",
                "CHANGE-REPL-ID",
                "    Accepted and ignored (no replication).",
            ],
        ));
    }
    if is(sub, "error") && a.len() == 3 {
        // The argument as the error's whole text (line breaks become spaces): clients test
        // their handling of LOADING, READONLY, OOM … errors with it.
        let text: String = String::from_utf8_lossy(&a[2])
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        return Ok(Reply::Error(text));
    }
    if is(sub, "log") && a.len() == 3 {
        tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&a[2]));
        return Ok(Reply::ok());
    }
    if is(sub, "segfault") && a.len() == 2 {
        // (Redis writes through a bad pointer; strata has no unsafe code to do that with, and
        // its reaction to a fatal signal is this report and an abort.)
        crash_report_and_abort(11);
    }
    if is(sub, "sleep") && a.len() == 3 {
        let secs = float_prefix(&a[2]);
        if secs > 0.0 {
            // Blocks the engine, as Redis's DEBUG SLEEP blocks its event loop.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(1e9)));
        }
        return Ok(Reply::ok());
    }
    if is(sub, "htstats") && a.len() >= 3 {
        let db = usize::try_from(arg_i64(&a[2])?)
            .ok()
            .filter(|&d| d < x.st.ks.dbs.len())
            .ok_or_else(|| CmdError::err("Out of range database"))?;
        let d = &x.st.ks.dbs[db];
        let text = format!(
            "[Dictionary HT]\n{}[Expires HT]\n{}",
            d.dict.stats_text(),
            d.expires.stats_text()
        );
        return Ok(Reply::Verbatim("txt", Bytes::from(text)));
    }
    if is(sub, "htstats-key") && a.len() >= 3 {
        let db = x.db;
        let Some(e) = x.st.ks.dbs[db].get(&a[2]) else {
            return Err(CmdError::err("no such key"));
        };
        let stats = match &e.value {
            crate::db::Value::Set(s) => s.table_stats(),
            crate::db::Value::Hash(h) => h.table_stats(),
            // Sorted sets are a treap here, not a dict beside a skiplist.
            _ => None,
        };
        return match stats {
            Some(text) => Ok(Reply::Verbatim("txt", Bytes::from(text))),
            None => Err(CmdError::err(
                "The value stored at the specified key is not represented using an hash table",
            )),
        };
    }
    if is(sub, "config-rewrite-force-all") && a.len() == 2 {
        return rewrite_config_file(x, true);
    }
    if is(sub, "set-skip-checksum-validation") && a.len() == 3 {
        x.st.skip_checksum_validation = arg_i64(&a[2])? != 0;
        return Ok(Reply::ok());
    }
    if is(sub, "replicate") && a.len() >= 3 {
        // Send a command down the replication stream without running it here (nor
        // logging it): Redis's tool to make a replica diverge on purpose.
        if x.st.replicas.streaming() {
            let at = x.journal.len();
            let db = u16::try_from(x.db).unwrap_or(0);
            x.repl.extra.push((at, (db, a[2..].to_vec())));
        }
        return Ok(Reply::ok());
    }
    if is(sub, "set-active-expire") && a.len() == 3 {
        x.st.active_expire = arg_i64(&a[2])? != 0;
        return Ok(Reply::ok());
    }
    if is(sub, "object") && a.len() == 3 {
        let db = x.db;
        let now = x.now_ms;
        let Some(e) = x.st.ks.dbs[db].get(&a[2]) else {
            return Err(CmdError::err("no such key"));
        };
        let serialized = match &e.value {
            crate::db::Value::Str(v) => v.len(),
            other => other.element_count(),
        };
        // Redis prints the raw 24-bit field and its idle time read as an LRU clock.
        let lru = crate::db::evict::lru_field(e.access_s, x.st.config.maxmemory_policy.is_lfu());
        let idle = crate::db::evict::idle_ms(lru, now) / 1000;
        return Ok(Reply::Simple(format!(
            "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{idle}",
            e.encoding(),
            serialized,
            lru
        )));
    }
    if is(sub, "digest") && a.len() == 2 {
        return Ok(Reply::bulk_string(digest_hex(&dataset_digest(x))));
    }
    if is(sub, "digest-value") && a.len() >= 2 {
        let db = x.db;
        let out = a[2..]
            .iter()
            .map(|k| {
                let d = x.st.ks.dbs[db]
                    .get(k)
                    .map_or([0u8; 20], |e| value_digest(&e.value));
                Reply::bulk_string(digest_hex(&d))
            })
            .collect();
        return Ok(Reply::Array(out));
    }
    if is(sub, "protocol") && a.len() == 3 {
        return debug_protocol(x, &a[2]);
    }
    if is(sub, "change-repl-id") && a.len() == 2 {
        tracing::warn!("Changing replication IDs after receiving DEBUG change-repl-id");
        let r = &mut x.st.replicas;
        r.adopt_replid(super::repl::new_replid(), r.offset);
        return Ok(Reply::ok());
    }
    if is(sub, "jmap") && a.len() == 2 {
        return Ok(Reply::ok());
    }
    // Knobs of Redis internals strata does not have: accepted so tools and test suites
    // that set them go on (QUICKLIST-PACKED-THRESHOLD, REPLYBUFFER, PAUSE-CRON).
    if is(sub, "quicklist-packed-threshold") && a.len() == 3 {
        // 0 restores the default; Redis refuses 4gb - 1mb and above.
        return match crate::config::parse_memory(&lossy(&a[2])) {
            Some(v) if v <= (1 << 32) - (1 << 20) => Ok(Reply::ok()),
            _ => Err(CmdError::err(
                "argument must be a memory value bigger than 1 and smaller than 4gb",
            )),
        };
    }
    if is(sub, "replybuffer") && a.len() == 4 {
        let conf = &mut x.st.clients.reply_conf;
        if is(&a[2], "peak-reset-time") {
            conf.peak_reset_ms = if is(&a[3], "never") {
                -1
            } else if is(&a[3], "reset") {
                super::client::PEAK_RESET_MS
            } else {
                arg_i64(&a[3])?
            };
        } else if is(&a[2], "resizing") {
            conf.resizing = crate::db::strnum::parse_i64(&a[3]).unwrap_or(0) != 0;
        } else {
            return Err(CmdError::Syntax);
        }
        return Ok(Reply::ok());
    }
    if is(sub, "pause-cron") && a.len() == 3 {
        x.st.cron_paused = arg_i64(&a[2])? != 0;
        return Ok(Reply::ok());
    }
    if is(sub, "set-disable-deny-scripts") && a.len() == 3 {
        // Scripts may then call `noscript` commands (Redis's test hook).
        x.st.script_deny_disabled = arg_i64(&a[2])? != 0;
        return Ok(Reply::ok());
    }
    if is(sub, "populate") && (3..=5).contains(&a.len()) {
        return debug_populate(x, a);
    }
    if is(sub, "loadaof") && a.len() == 2 {
        // Redis empties the dataset and loads its AOF back; strata's log is its AOF.
        return debug_reload(x);
    }
    if is(sub, "reload") {
        if a[2..]
            .iter()
            .any(|o| !["merge", "noflush", "nosave"].iter().any(|w| is(o, w)))
        {
            return Err(CmdError::err(
                "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
        let has = |w: &str| a[2..].iter().any(|o| is(o, w));
        // NOFLUSH loads the dataset over the one in memory; without MERGE what is already
        // there (function libraries, keys) makes the load fail, as Redis's does (it
        // refuses a library that exists, and stops on a duplicated key). The log holds
        // what memory holds, so loading it over memory WITH MERGE (replacing what exists)
        // comes to the plain reload; NOSAVE changes nothing here (the log is always saved).
        if has("noflush")
            && !has("merge")
            && (!x.st.functions.is_empty() || x.st.ks.total_keys() > 0)
        {
            return Err(CmdError::err(
                "Error trying to load the RDB dump, check server logs.",
            ));
        }
        return debug_reload(x);
    }
    Err(CmdError::bad_subcommand(sub, "DEBUG"))
}

/// DEBUG POPULATE <count> [prefix] [size]: create `prefix:<n>` (default `key:<n>`) for n
/// in 0..count with value `value:<n>` (with `size`, cut or zero-padded to that many
/// bytes), skipping keys that exist, as Redis; each creation is journaled as a SET.
fn debug_populate(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let count = arg_i64(&a[2])?;
    if count < 0 {
        return Err(CmdError::err("value is out of range, must be positive"));
    }
    let prefix = a.get(3).map_or(&b"key"[..], |p| &p[..]).to_vec();
    let size = match a.get(4) {
        Some(s) => {
            let v = arg_i64(s)?;
            if v < 0 {
                return Err(CmdError::err("value is out of range, must be positive"));
            }
            Some(usize::try_from(v).unwrap_or(usize::MAX))
        }
        None => None,
    };
    for j in 0..count {
        let mut key = prefix.clone();
        key.extend_from_slice(format!(":{j}").as_bytes());
        if x.exists(&key) {
            continue;
        }
        let mut val = format!("value:{j}").into_bytes();
        if let Some(n) = size {
            val.resize(n, 0);
        }
        let e = crate::db::Entry::new(crate::db::Value::Str(val.clone().into()), x.now_ms);
        x.insert_key(&key, e);
        x.journal(vec![
            Bytes::from_static(b"SET"),
            Bytes::from(key),
            Bytes::from(val),
        ]);
    }
    // (Redis does not count these as changes; they are journaled for durability.)
    Ok(Reply::ok())
}

/// DEBUG PROTOCOL <type>: a test reply of each RESP3 type (downgraded for RESP2 clients).
/// Attributes and big numbers have no `Reply` shape: `attrib` sends only the reply that
/// follows Redis's attribute, `bignum` the number as a bulk string.
fn debug_protocol(x: &mut Exec<'_>, name: &[u8]) -> Result<Reply, CmdError> {
    let resp3 = x.reply_resp3();
    let n = |v: i64| Reply::Int(v);
    Ok(match lossy(name).to_ascii_lowercase().as_str() {
        "string" => Reply::bulk(b"Hello World"),
        "integer" => n(12345),
        "double" => Reply::DoubleText("3.141".into()),
        "bignum" => Reply::BigNumber("1234567999999999999999999999999999999".into()),
        "null" => Reply::Null,
        "array" => Reply::Array((0..3).map(n).collect()),
        "set" => Reply::Set((0..3).map(n).collect()),
        "map" => Reply::Map((0..3).map(|j| (n(j), Reply::Bool(j == 1))).collect()),
        "attrib" => Reply::Attribute(
            vec![(
                Reply::bulk(b"key-popularity"),
                Reply::Array(vec![Reply::bulk(b"key:123"), Reply::Int(90)]),
            )],
            Box::new(Reply::bulk(b"Some real reply following the attribute")),
        ),
        "push" => {
            if !resp3 {
                return Err(CmdError::err("RESP2 is not supported by this command"));
            }
            Reply::Many(vec![
                Reply::Push(vec![Reply::bulk(b"server-cpu-usage"), n(42)]),
                Reply::bulk(b"Some real reply following the push reply"),
            ])
        }
        "true" => Reply::Bool(true),
        "false" => Reply::Bool(false),
        "verbatim" => Reply::Verbatim("txt", Bytes::from_static(b"This is a verbatim\nstring")),
        _ => {
            return Err(CmdError::err(
                "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    })
}

fn digest_hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn xor_into(acc: &mut [u8; 20], d: &[u8; 20]) {
    for (a, b) in acc.iter_mut().zip(d) {
        *a ^= b;
    }
}

/// A byte string with its length in front (so concatenations cannot collide).
fn framed(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// DEBUG DIGEST-VALUE: a SHA-1 of a value's content that does not depend on its encoding
/// or on the iteration order of unordered types (sets and hashes XOR their elements').
fn value_digest(v: &crate::db::Value) -> [u8; 20] {
    use crate::db::Value;
    use crate::script::sha1::sha1;
    let mut buf = Vec::new();
    match v {
        Value::Str(s) => {
            buf.push(b's');
            framed(&mut buf, s);
        }
        Value::List(l) => {
            buf.push(b'l');
            for e in l.iter() {
                framed(&mut buf, e);
            }
        }
        Value::Set(s) => {
            let mut acc = [0u8; 20];
            for m in s.iter() {
                xor_into(&mut acc, &sha1(&m.to_vec()));
            }
            buf.push(b'S');
            buf.extend_from_slice(&acc);
        }
        Value::Hash(h) => {
            let mut acc = [0u8; 20];
            for (f, val) in h.iter() {
                let mut pair = Vec::new();
                framed(&mut pair, f);
                framed(&mut pair, val);
                xor_into(&mut acc, &sha1(&pair));
            }
            buf.push(b'h');
            buf.extend_from_slice(&acc);
        }
        Value::ZSet(z) => {
            buf.push(b'z');
            z.range(0, z.len(), false, |m, s| {
                framed(&mut buf, m);
                framed(&mut buf, crate::resp::encode::format_double(s).as_bytes());
            });
        }
        Value::Stream(_) => {
            buf.push(b'x');
            buf.extend_from_slice(&crate::rdb::value::dump(v));
        }
    }
    sha1(&buf)
}

/// DEBUG DIGEST: XOR over every key of every database of SHA-1(db, key, value digest,
/// expiry); 40 zeros for an empty dataset, as Redis. Equal datasets give equal digests
/// whatever their history or encodings (what tests compare across a restart).
fn dataset_digest(x: &Exec<'_>) -> [u8; 20] {
    let mut acc = [0u8; 20];
    for (i, d) in x.st.ks.dbs.iter().enumerate() {
        for (k, e) in d.dict.iter() {
            let mut buf = Vec::new();
            framed(&mut buf, i.to_string().as_bytes());
            framed(&mut buf, k);
            buf.extend_from_slice(&value_digest(&e.value));
            let at = d.expire_of(k, e);
            if at >= 0 {
                framed(&mut buf, at.to_string().as_bytes());
            }
            xor_into(&mut acc, &crate::script::sha1::sha1(&buf));
        }
    }
    acc
}

/// DEBUG RELOAD: read every committed unit back from disk and replay it into a fresh
/// keyspace. On failure the previous keyspace stays. Stats are not touched by the replay.
fn debug_reload(x: &mut Exec<'_>) -> Result<Reply, CmdError> {
    let (base, units) = x
        .env
        .reload_source(&x.st.config)
        .map_err(|e| CmdError::err(format!("Error trying to load the log: {e}")))?;
    let n = x.st.ks.dbs.len();
    let (base, libraries) = base.unwrap_or_else(|| (Keyspace::new(n), Vec::new()));
    let old_ks = std::mem::replace(&mut x.st.ks, base);
    // The snapshot's libraries first; the log after it also holds FUNCTION LOAD/DELETE/FLUSH,
    // which the replay applies on top.
    let old_functions = std::mem::take(&mut x.st.functions);
    let old_stats = x.st.stats.clone();
    let old_dirty = x.st.dirty;
    let env = x.env;
    let mut result = Ok(());
    for (name, code) in &libraries {
        if let Err(e) = x.st.functions.load(code, false, None) {
            result = Err(format!(
                "function library {}: {e}",
                String::from_utf8_lossy(name)
            ));
            break;
        }
    }
    for (ts, cmds) in &units {
        if result.is_err() {
            break;
        }
        let mut rx = Exec::new(&mut *x.st, env, 0, *ts, Caller::Replay);
        result = dispatch::replay(&mut rx, cmds);
    }
    x.st.stats = old_stats;
    x.st.dirty = old_dirty;
    match result {
        Ok(()) => Ok(Reply::ok()),
        Err(e) => {
            x.st.ks = old_ks;
            x.st.functions = old_functions;
            Err(CmdError::err(format!("Error trying to load the log: {e}")))
        }
    }
}

/// Test support shared by the connection/server/info/introspect tests: an in-memory
/// state with authenticated client 1, a recording `Env`, and ways to run command lines
/// through dispatch.
#[cfg(test)]
pub(crate) mod testkit {
    use std::cell::{Cell, RefCell};

    use bytes::Bytes;

    use crate::cmd::client::Client;
    use crate::cmd::dispatch;
    use crate::cmd::exec::{Caller, Env, Exec, State};
    use crate::config::Config;
    use crate::resp::Reply;

    /// A unit as `Env::read_back` returns it.
    pub type Unit = (i64, Vec<(u16, Vec<Bytes>)>);

    /// A space-separated command line as arguments.
    pub fn words(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    /// An `Env` that records what commands asked of the server.
    #[derive(Default)]
    pub struct TestEnv {
        pub shutdowns: Cell<u32>,
        pub changed: RefCell<Vec<String>>,
        pub units: RefCell<Vec<Unit>>,
        pub config_file: RefCell<String>,
        /// SAVE fails with this text (a full disk, say).
        pub save_fails: RefCell<Option<String>>,
        pub saves: Cell<u32>,
    }

    impl Env for TestEnv {
        fn persistence_info(&self) -> Vec<(String, String)> {
            let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
            vec![kv("loading", "0"), kv("aof_enabled", "1")]
        }
        fn server_info(&self) -> Vec<(String, String)> {
            let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
            let file = self.config_file.borrow().clone();
            vec![
                kv("process_id", "42"),
                kv("tcp_port", "6379"),
                kv("config_file", &file),
            ]
        }
        fn log_failure(&self) -> Option<String> {
            None
        }
        fn read_back(&self) -> Result<Vec<Unit>, String> {
            Ok(self.units.borrow().clone())
        }
        fn shutdown(&self) {
            self.shutdowns.set(self.shutdowns.get() + 1);
        }
        fn config_changed(&self, name: &str, _config: &Config) {
            self.changed.borrow_mut().push(name.to_string());
        }
        /// A snapshot that succeeds at once at the test clock (the real job is tested in
        /// server::snapshot and tests/snapshot.rs).
        fn snapshot(
            &self,
            st: &mut State,
            req: crate::cmd::exec::SnapshotRequest,
        ) -> Result<&'static str, String> {
            use crate::cmd::exec::SnapshotRequest as R;
            Ok(match req {
                R::Save => {
                    if let Some(e) = self.save_fails.borrow().clone() {
                        return Err(e);
                    }
                    self.saves.set(self.saves.get() + 1);
                    st.lastsave = 1000;
                    "OK"
                }
                R::Background { .. } => "Background saving started",
                R::Rewrite { .. } => "Background append only file rewriting started",
                R::ForReplicas => return Err("no background snapshots here".into()),
            })
        }
    }

    /// The state and environment of one test, clock at 1_000_000 ms.
    pub struct Tk {
        pub st: State,
        pub env: TestEnv,
    }

    impl Tk {
        /// A fresh state with authenticated client 1.
        pub fn new() -> Tk {
            let mut t = Tk {
                st: State::new(Config::for_tests(), 1_000_000),
                env: TestEnv::default(),
            };
            t.add_client(1, true);
            t
        }

        /// Add client `id` connected from 127.0.0.1:(5000 + id).
        pub fn add_client(&mut self, id: u64, authenticated: bool) {
            let addr = format!("127.0.0.1:{}", 5000 + id);
            let c = Client::new(id, addr, "127.0.0.1:6379".into(), 1_000_000, authenticated);
            self.st.clients.map.insert(id, c);
        }

        /// The client `id`.
        pub fn client(&self, id: u64) -> &Client {
            &self.st.clients.map[&id]
        }

        /// Run `argv` for client `id`.
        pub fn runv(&mut self, id: u64, argv: &[&[u8]]) -> Reply {
            let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            let mut x = Exec::new(&mut self.st, &self.env, id, 1_000_000, Caller::Client);
            dispatch::call(&mut x, &argv)
        }

        /// Run a space-separated command line for client 1.
        pub fn run(&mut self, line: &str) -> Reply {
            let parts: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            self.runv(1, &parts)
        }

        /// `script_as` for client 1.
        pub fn script(&mut self, text: &str) {
            self.script_as(1, text);
        }

        /// Run `command => expected` lines for client `id`, asserting each reply.
        /// Arguments split on spaces; inside one, `\s` is a space and `\x7f` that byte;
        /// `\e` alone is an empty argument. Expected: `+simple`, `-error`, `$bulk`,
        /// `:int`, or `_` (null).
        pub fn script_as(&mut self, id: u64, text: &str) {
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let (cmd, want) = line.split_once(" => ").expect("`cmd => reply`");
                let args: Vec<Vec<u8>> = cmd
                    .split(' ')
                    .map(|a| match a {
                        "\\e" => Vec::new(),
                        a => a.replace("\\s", " ").replace("\\x7f", "\x7f").into_bytes(),
                    })
                    .collect();
                let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                let (kind, body) = want.split_at(1);
                let want = match kind {
                    "+" => simple(body),
                    "-" => Reply::Error(body.into()),
                    "$" => bulk(body),
                    ":" => Reply::Int(body.parse().expect("integer")),
                    _ => Reply::Null,
                };
                assert_eq!(self.runv(id, &argv), want, "{line}");
            }
        }
    }

    /// `+text`
    pub fn simple(s: &str) -> Reply {
        Reply::Simple(s.into())
    }

    /// `$text`
    pub fn bulk(s: &str) -> Reply {
        Reply::bulk(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;

    #[test]
    fn debug_digest_is_content_not_history() {
        let digest = |t: &mut Tk| match t.run("DEBUG DIGEST") {
            Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        let mut a = Tk::new();
        let mut b = Tk::new();
        assert_eq!(digest(&mut a), "0".repeat(40));
        for line in [
            "SADD s x y z 1 2",
            "HSET h f1 v1 f2 v2",
            "RPUSH l a b",
            "ZADD z 1 m 2 n",
            "SET k v",
        ] {
            a.run(line);
        }
        // Same content in another order and through other encodings' history.
        for line in [
            "SET k v",
            "ZADD z 2 n 1 m",
            "RPUSH l a b",
            "HSET h f2 v2 f1 v1",
            "SADD s 2 z y",
            "SADD s x 1 tmp",
            "SREM s tmp",
        ] {
            b.run(line);
        }
        assert_eq!(digest(&mut a), digest(&mut b));
        assert_ne!(digest(&mut a), "0".repeat(40));
        let dv = a.run("DEBUG DIGEST-VALUE s nosuch");
        assert_eq!(dv, b.run("DEBUG DIGEST-VALUE s nosuch"));
        b.run("RPUSH l c");
        assert_ne!(digest(&mut a), digest(&mut b));
        b.run("RPOP l");
        b.run("EXPIRE k 100");
        assert_ne!(
            digest(&mut a),
            digest(&mut b),
            "an expiry is part of the digest"
        );
        assert_eq!(a.run("DEBUG PROTOCOL integer"), Reply::Int(12345));
        assert!(a.run("DEBUG PROTOCOL nosuch").is_error());
    }

    #[test]
    fn config_get_patterns() {
        let mut t = Tk::new();
        let map =
            |kv: &[(&str, &str)]| Reply::Map(kv.iter().map(|(k, v)| (bulk(k), bulk(v))).collect());
        assert_eq!(t.run("CONFIG GET PORT port"), map(&[("PORT", "6379")]));
        let want = map(&[("appendfsync", "always"), ("hz", "10")]);
        assert_eq!(t.run("CONFIG GET appendfs* hz h? nosuch"), want);
        let want = map(&[("maxmemory-policy", "noeviction")]);
        assert_eq!(t.run("CONFIG GET Maxmemory-P*"), want);
        assert_eq!(t.run("CONFIG GET x*y"), map(&[]));
        let Reply::Map(all) = t.run("CONFIG GET * hz") else {
            panic!()
        };
        assert_eq!(all.len(), Config::listed_names().count());
        t.script(
            "CONFIG => -ERR wrong number of arguments for 'config' command
            CONFIG GET => -ERR wrong number of arguments for 'config|get' command
            CONFIG nope => -ERR unknown subcommand 'nope'. Try CONFIG HELP.",
        );
    }

    #[test]
    fn config_set_is_all_or_nothing() {
        let mut t = Tk::new();
        t.script(r"
            CONFIG SET hz 5 maxclients x => -ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer
            CONFIG SET hz 5 foo 1 => -ERR Unknown option or number of arguments for CONFIG SET - 'foo'
            CONFIG SET hz 5 HZ 6 => -ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter
            CONFIG SET hz 5 databases 3 => -ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config
            CONFIG SET hz 5 x => -ERR syntax error
            CONFIG SET hz => -ERR wrong number of arguments for 'config|set' command");
        assert_eq!(t.st.config.hz, 10);
        assert!(t.env.changed.borrow().is_empty());
        t.script("CONFIG SET hz 5 APPENDFSYNC everysec => +OK");
        assert_eq!(
            (t.st.config.hz, t.st.config.appendfsync.name()),
            (5, "everysec")
        );
        assert_eq!(*t.env.changed.borrow(), ["hz", "appendfsync"]);
    }

    /// DEBUG CONFIG-REWRITE-FORCE-ALL's text names every directive (but `replicaof`, not
    /// being a replica, as Redis), and a server started
    /// from it has the same configuration (Redis's "CONFIG REWRITE sanity").
    #[test]
    fn config_rewrite_force_all_round_trips() {
        let mut cfg = Config::default();
        cfg.apply_file_text("save 900 1\nnotify-keyspace-events KEA\nport 7001\n")
            .expect("conf");
        let text = super::rewrite_config_text_with("port 7001\n", &cfg, true);
        for n in Config::names().filter(|n| *n != "replicaof") {
            assert!(
                text.lines().any(|l| l.split_whitespace().next() == Some(n)),
                "{n} missing"
            );
        }
        let mut back = Config::default();
        back.apply_file_text(&text).expect("reload");
        for n in Config::names() {
            assert_eq!(back.get(n), cfg.get(n), "{n}");
        }
    }

    #[test]
    fn protected_commands_and_configs_follow_their_options() {
        let mut t = Tk::new();
        t.st.config = Config::default();
        // strata's default: DEBUG from this machine only (client 1 is on 127.0.0.1).
        t.script("DEBUG SET-ACTIVE-EXPIRE 1 => +OK");
        t.st.config
            .set("enable-debug-command", "no", false)
            .unwrap();
        let refused = "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
        t.script(&format!(
            "DEBUG HELP => -ERR {refused}
            CONFIG SET dbfilename x.rdb => -ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config
            CONFIG SET dir /tmp => -ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
        ));
        // `local`: client 1 connects from 127.0.0.1; a remote client is still refused.
        t.st.config
            .set("enable-debug-command", "local", false)
            .unwrap();
        t.st.config
            .set("enable-protected-configs", "local", false)
            .unwrap();
        t.script(
            "DEBUG SET-ACTIVE-EXPIRE 1 => +OK
            CONFIG SET dbfilename x.rdb => +OK",
        );
        t.st.clients.map.get_mut(&1).unwrap().addr = "10.1.2.3:5001".into();
        t.script(&format!(
            "DEBUG SET-ACTIVE-EXPIRE 1 => -ERR {refused}
            CONFIG SET dbfilename y.rdb => -ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config"
        ));
        t.st.config
            .set("enable-debug-command", "yes", false)
            .unwrap();
        t.script("DEBUG SET-ACTIVE-EXPIRE 1 => +OK");
    }

    /// CONFIG REWRITE, as Redis's: an alias's line is its directive's (the first line of
    /// either gets the value under the directive's name, later ones go), and lines that are
    /// no directive (`rename-command`, `user`) stay as they are.
    #[test]
    fn config_rewrite_merges_alias_lines_and_keeps_rename_command() {
        for old in [
            "hash-max-listpack-entries 20\nrename-command flushdb badger\nhash-max-ziplist-entries 21\n",
            "hash-max-ziplist-entries 20\nrename-command flushdb badger\nhash-max-listpack-entries 21\n",
        ] {
            let mut cfg = Config::default();
            cfg.apply_file_text(old).unwrap();
            assert_eq!(cfg.hash_max_listpack_entries, 21);
            cfg.set("hash-max-listpack-entries", "100", true).unwrap();
            let text = super::rewrite_config_text(old, &cfg);
            assert_eq!(
                text,
                "hash-max-listpack-entries 100\nrename-command flushdb badger\n"
            );
            let mut back = Config::default();
            back.apply_file_text(&text).unwrap();
            assert_eq!(back.hash_max_listpack_entries, 100);
        }
    }

    #[test]
    fn config_rewrite_and_resetstat() {
        let mut t = Tk::new();
        // Every directive at its default (the kit allows DEBUG).
        t.st.config = Config::default();
        t.script("CONFIG REWRITE => -ERR The server is running without a config file");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.conf");
        std::fs::write(&path, "# mine\nhz 20\nhz 30\nport 7000\n").unwrap();
        *t.env.config_file.borrow_mut() = path.display().to_string();
        t.st.config.apply_file_text("hz 20\nport 7000\n").unwrap();
        t.script(
            "CONFIG SET hz 7 requirepass a => +OK
            CONFIG REWRITE => +OK",
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let want = "# mine\nhz 7\nport 7000\n# Generated by CONFIG REWRITE\nrequirepass a\n";
        assert_eq!(text, want);
        let mut back = Config::default();
        back.apply_file_text(&text).unwrap();
        assert_eq!(
            (back.hz, back.port, back.requirepass.as_str()),
            (7, 7000, "a")
        );
        assert_eq!(config_word("requirepass", ""), "\"\"");
        assert_eq!(config_word("requirepass", "a b"), "\"a b\"");
        assert_eq!(config_word("bind", "127.0.0.1 ::1"), "127.0.0.1 ::1");
        assert!(t.st.stats.total_commands > 1);
        t.script("CONFIG RESETSTAT => +OK");
        // As in Redis, the RESETSTAT call itself is counted after the reset.
        assert_eq!(t.st.stats.total_commands, 1);
    }

    #[test]
    fn time_lastsave_save() {
        let mut t = Tk::new();
        let Reply::Array(now) = t.run("TIME") else {
            panic!()
        };
        assert_eq!(now.len(), 2);
        t.st.lastsave = 5;
        t.script(
            "LASTSAVE => :5
            SAVE => +OK
            LASTSAVE => :1000
            TIME x => -ERR wrong number of arguments for 'time' command
            BGSAVE SCHEDULE => +Background saving started
            BGSAVE foo => -ERR syntax error
            BGREWRITEAOF => +Background append only file rewriting started",
        );
    }

    #[test]
    fn shutdown_options() {
        let mut t = Tk::new();
        t.script(
            "SHUTDOWN ABORT => -ERR No shutdown in progress.
            SHUTDOWN NOSAVE SAVE => -ERR syntax error
            SHUTDOWN ABORT NOW => -ERR syntax error
            SHUTDOWN foo => -ERR syntax error",
        );
        assert_eq!(t.env.shutdowns.get(), 0);
        t.run("SHUTDOWN NOSAVE NOW");
        assert_eq!(t.env.shutdowns.get(), 1);
        assert!(t.client(1).close_after_reply);
        assert_eq!(t.env.saves.get(), 0, "NOSAVE");
    }

    /// With save points (Redis's default ones) SHUTDOWN saves first; a failed save keeps
    /// the server running with Redis's error, unless FORCE; without save points only SAVE
    /// saves.
    #[test]
    fn shutdown_saves_with_save_points_and_a_failed_save_refuses_it() {
        let mut t = Tk::new();
        t.st.config.set("save", "3600 1 300 100", false).unwrap();
        *t.env.save_fails.borrow_mut() = Some("No space left on device".into());
        t.script("SHUTDOWN => -ERR Errors trying to SHUTDOWN. Check logs.");
        assert_eq!(t.env.shutdowns.get(), 0);
        assert!(!t.client(1).close_after_reply);
        t.run("SHUTDOWN FORCE");
        assert_eq!(t.env.shutdowns.get(), 1, "FORCE exits anyway");
        let mut t = Tk::new();
        t.st.config.set("save", "3600 1", false).unwrap();
        t.run("SHUTDOWN");
        assert_eq!((t.env.saves.get(), t.env.shutdowns.get()), (1, 1));
        let mut t = Tk::new();
        t.st.config.set("save", "", false).unwrap();
        t.run("SHUTDOWN");
        assert_eq!((t.env.saves.get(), t.env.shutdowns.get()), (0, 1));
        let mut t = Tk::new();
        t.st.config.set("save", "", false).unwrap();
        t.run("SHUTDOWN SAVE");
        assert_eq!((t.env.saves.get(), t.env.shutdowns.get()), (1, 1));
    }

    #[test]
    fn debug_sleep_and_errors() {
        let mut t = Tk::new();
        t.script(r"
            DEBUG SLEEP 0.01 => +OK
            DEBUG SLEEP x => +OK
            DEBUG SLEEP => -ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.
            DEBUG nosuch => -ERR unknown subcommand or wrong number of arguments for 'nosuch'. Try DEBUG HELP.
            DEBUG jmap => +OK
            DEBUG ERROR LOADING\sfake\smessage => -LOADING fake message
            DEBUG ERROR => -ERR unknown subcommand or wrong number of arguments for 'ERROR'. Try DEBUG HELP.
            DEBUG LOG hello => +OK
            DEBUG RELOAD foo => -ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.
            DEBUG => -ERR wrong number of arguments for 'debug' command");
        assert_eq!((float_prefix(b"0.5abc"), float_prefix(b"-1")), (0.5, -1.0));
        let Reply::Array(h) = t.run("DEBUG HELP") else {
            panic!()
        };
        let head = "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:";
        assert_eq!(h[0], simple(head));
    }

    /// DEBUG HTSTATS / HTSTATS-KEY in Redis 7.0's format (the slot counts depend on the
    /// hash function, so the test checks the shape and the sizes).
    #[test]
    fn debug_htstats() {
        let mut t = Tk::new();
        let text = |r: Reply| match r {
            Reply::Verbatim(_, b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        let empty = "[Dictionary HT]\nHash table 0 stats (main hash table):\n\
                     No stats available for empty dictionaries\n[Expires HT]\n\
                     Hash table 0 stats (main hash table):\n\
                     No stats available for empty dictionaries\n";
        assert_eq!(text(t.run("DEBUG HTSTATS 0")), empty);
        t.script(
            "DEBUG HTSTATS 16 => -ERR Out of range database
             SADD ints 1 2 3 => :3
             DEBUG HTSTATS-KEY ints => -ERR The value stored at the specified key is not represented using an hash table
             DEBUG HTSTATS-KEY nosuch => -ERR no such key",
        );
        let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        t.run(&format!("SADD big {}", members.join(" ")));
        // (The table may be in the middle of an incremental resize: then a second table,
        // the rehashing target, holds the moved elements.)
        let s = text(t.run("DEBUG HTSTATS-KEY big"));
        assert!(
            s.starts_with("Hash table 0 stats (main hash table):\n table size: "),
            "{s}"
        );
        assert!(s.contains(" Chain length distribution:\n"), "{s}");
        let sum = |prefix: &str| -> usize {
            s.lines()
                .filter_map(|l| l.strip_prefix(prefix))
                .map(|v| v.parse::<usize>().unwrap())
                .sum()
        };
        assert_eq!(sum(" number of elements: "), 200, "{s}");
        // The distribution accounts for every element and every slot.
        let (mut elements, mut slots) = (0, 0);
        for l in s.lines().filter(|l| l.starts_with("   ")) {
            let (len, rest) = l.trim().split_once(": ").unwrap();
            let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
            elements += len.parse::<usize>().unwrap() * n;
            slots += n;
        }
        assert_eq!((elements, slots), (200, sum(" table size: ")), "{s}");
        let s = text(t.run("DEBUG HTSTATS 0"));
        assert!(s.contains("[Dictionary HT]\nHash table 0 stats (main hash table):\n table size: 4\n number of elements: 2\n"), "{s}");
    }

    #[test]
    fn debug_knobs_loadaof_and_populate() {
        let mut t = Tk::new();
        t.script(
            "DEBUG QUICKLIST-PACKED-THRESHOLD 1K => +OK
             DEBUG QUICKLIST-PACKED-THRESHOLD 0 => +OK
             DEBUG QUICKLIST-PACKED-THRESHOLD 4gb => -ERR argument must be a memory value bigger than 1 and smaller than 4gb
             DEBUG QUICKLIST-PACKED-THRESHOLD 1x => -ERR argument must be a memory value bigger than 1 and smaller than 4gb
             DEBUG REPLYBUFFER PEAK-RESET-TIME never => +OK
             DEBUG REPLYBUFFER resizing 0 => +OK
             DEBUG PAUSE-CRON 1 => +OK
             DEBUG SET-DISABLE-DENY-SCRIPTS 0 => +OK
             SET key:1 old => +OK
             DEBUG POPULATE 3 => +OK
             DEBUG POPULATE -1 => -ERR value is out of range, must be positive
             GET key:0 => $value:0
             GET key:1 => $old
             DEBUG POPULATE 2 p 3 => +OK
             GET p:1 => $val
             DBSIZE => :5
             DEBUG LOADAOF => +OK",
        );
    }

    /// DEBUG RELOAD NOFLUSH over data in memory fails without MERGE (Redis refuses the
    /// libraries that exist, functions.tcl "test debug reload different options"), works
    /// with it; over an empty dataset it is a plain reload.
    #[test]
    fn debug_reload_noflush_needs_merge_over_data() {
        let mut t = Tk::new();
        let unit = vec![(0, vec![Bytes::from_static(b"SET"), "k".into(), "1".into()])];
        t.env.units.borrow_mut().push((1_000, unit));
        t.script("DEBUG RELOAD NOFLUSH => +OK");
        t.script(
            "DEBUG RELOAD NOFLUSH => -ERR Error trying to load the RDB dump, check server logs.
            DEBUG RELOAD noflush MERGE => +OK
            DEBUG RELOAD NOSAVE => +OK
            GET k => $1",
        );
    }

    #[test]
    fn debug_reload_replays_the_log() {
        let mut t = Tk::new();
        let argv = |p: &[&str]| {
            p.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        let unit = vec![(0, argv(&["SET", "a", "1"])), (2, argv(&["SET", "b", "2"]))];
        t.env.units.borrow_mut().push((1_000, unit));
        t.script("SET stray x => +OK");
        let calls_before = t.st.stats.total_commands;
        t.script("DEBUG RELOAD => +OK");
        let dbs = &t.st.ks.dbs;
        assert!(dbs[0].get(b"stray").is_none());
        assert!(dbs[0].get(b"a").is_some() && dbs[2].get(b"b").is_some());
        assert_eq!(t.st.stats.total_commands, calls_before + 1);
        // A unit that fails to apply leaves the keyspace as it was.
        t.env
            .units
            .borrow_mut()
            .push((2_000, vec![(0, argv(&["NOSUCHCMD"]))]));
        let r = t.run("DEBUG RELOAD");
        let want = "ERR Error trying to load the log: replaying NOSUCHCMD";
        assert!(
            matches!(&r, Reply::Error(e) if e.starts_with(want)),
            "{r:?}"
        );
        assert!(t.st.ks.dbs[2].get(b"b").is_some());
    }
}
