//! THE command pipeline, the same for clients, replay and background jobs:
//! lookup → arity → admission (auth, MISCONF) → handler → journal → stats.
//! The checks follow Redis's `processCommand` order. `replay` applies one logged unit.

use std::time::Instant;

use bytes::Bytes;

use super::error::CmdError;
use super::exec::{Caller, Exec};
use super::registry::COMMANDS;
use super::{CommandSpec, Flags, Journal};
use crate::resp::Reply;

fn admit(x: &mut Exec<'_>, spec: &CommandSpec, argv: &[Bytes]) -> Result<(), CmdError> {
    if x.caller != Caller::Client {
        return Ok(());
    }
    // Redis's protected commands: DEBUG and MODULE LOAD / LOADEX / UNLOAD run only as
    // `enable-debug-command` / `enable-module-command` allow (checked before
    // authentication, as Redis does).
    let protected = match spec.full_name.as_str() {
        "debug" => Some(("DEBUG", "enable-debug-command")),
        "module|load" | "module|loadex" | "module|unload" => {
            Some(("MODULE", "enable-module-command"))
        }
        _ => None,
    };
    if let Some((name, option)) = protected {
        if !protected_action_allowed(x, option) {
            return Err(CmdError::err(format!(
                "{name} command not allowed. If the {option} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
            )));
        }
    }
    let c = x.client();
    let (authenticated, acl_free, master_link) = (c.authenticated, c.acl_free, c.master_link);
    if !authenticated && !spec.flags.contains(Flags::NO_AUTH) && x.st.acl.auth_required {
        return Err(CmdError::NoAuth);
    }
    // ACL: one flag for a user allowed everything; scripts check in redis.call.
    if !acl_free && !x.in_script {
        super::acl::admit(x, spec, argv)?;
    }
    let subscribed = x.client().in_subscribed_mode();
    // maxmemory: evict, or refuse commands that may grow memory (Redis checks it after
    // authentication, before MISCONF; never for commands run by EXEC or a script).
    // (Nor for the master's stream: a replica never refuses what its master did; nor at
    // all on a replica with `replica-ignore-maxmemory yes`, which evicts nothing.)
    let replica_ignores = x.st.replicas.master.is_some()
        && x.st.config.get("replica-ignore-maxmemory").as_deref() != Some("no");
    if x.st.config.maxmemory > 0 && !x.in_exec && !x.in_script && !master_link && !replica_ignores {
        let before = x.journal.len();
        let admitted = super::memory::admit(x, spec);
        if before == 0 {
            x.evicted_effects = x.journal.len();
        }
        admitted?;
    }
    if subscribed && !SUBSCRIBED_MODE_ALLOWED.contains(&spec.full_name.as_str()) {
        return Err(CmdError::err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.full_name
        )));
    }
    if spec.flags.contains(Flags::WRITE) {
        if let Some(why) = x.env.log_failure() {
            return Err(CmdError::Misconf(why));
        }
    }
    if !x.in_exec && !x.in_script {
        if let Some(e) = super::repl::refusal(x, spec, argv) {
            return Err(e);
        }
        if x.env.loading() && refused_while_loading(x, spec, argv) {
            return Err(CmdError::Raw(super::error::LOADING.into()));
        }
        // A replica's connection may not read or write keys (Redis: so that it cannot
        // use its exemption from CLIENT PAUSE).
        if x.st.replicas.any()
            && spec
                .flags
                .intersects(Flags::WRITE | Flags::READONLY | Flags::MAY_REPLICATE)
            && super::repl::is_replica(x.st, x.client_id)
        {
            return Err(CmdError::err("Replica can't interact with the keyspace"));
        }
    }
    // A script let run on a stale replica (allow-stale) may call only `stale` commands
    // (Redis's scriptVerifyAllowStale).
    if x.in_script
        && !spec.flags.contains(Flags::STALE)
        && x.st.replicas.master.is_some()
        && x.st.config.get("replica-serve-stale-data").as_deref() == Some("no")
    {
        return Err(CmdError::err(
            "Can not execute the command on a stale replica",
        ));
    }
    Ok(())
}

/// While the dataset loads, Redis runs only commands flagged `loading` (and an EXEC only
/// if every command it queued is). strata also refuses the DEBUG subcommands that change
/// the dataset (POPULATE, RELOAD, LOADAOF): what loads replaces the keyspace, and nothing
/// may reach the log before it has.
fn refused_while_loading(x: &mut Exec<'_>, spec: &CommandSpec, argv: &[Bytes]) -> bool {
    if !spec.flags.contains(Flags::LOADING) {
        return true;
    }
    match spec.full_name.as_str() {
        "exec" => x.client().multi.as_ref().is_some_and(|q| {
            q.iter().any(|a| {
                COMMANDS
                    .lookup(a)
                    .is_ok_and(|s| !s.flags.contains(Flags::LOADING))
            })
        }),
        "debug" => argv.get(1).is_some_and(|sub| {
            ["populate", "reload", "loadaof"]
                .iter()
                .any(|w| sub.eq_ignore_ascii_case(w.as_bytes()))
        }),
        _ => false,
    }
}

/// Execute one command and return its reply. Never panics on user input.
/// CLIENT PAUSE: until when `argv`, sent by `client_id`, must wait (None = it may run
/// now). ALL holds every command; WRITE the writes and those that may write (EVAL,
/// FCALL, PFCOUNT, PUBLISH …, and an EXEC whose queue holds one), as Redis.
pub fn paused_until(
    st: &mut super::State,
    client_id: u64,
    argv: &[Bytes],
    now_ms: i64,
) -> Option<i64> {
    // (A FAILOVER holds writes until it ends: Redis's pause for it, under any CLIENT
    // PAUSE, which may hold more and end sooner.)
    let failover = st.replicas.failover.is_some().then_some((i64::MAX, false));
    let client_pause = match st.pause {
        Some((until, _)) if now_ms >= until => {
            st.pause = None;
            None
        }
        p => p,
    };
    let (until, all) = match (client_pause, failover) {
        (Some((until, true)), _) => (until, true),
        (p, f) => f.or(p)?,
    };
    // Unknown commands and wrong arities are answered at once, as Redis rejects them
    // before it considers the pause.
    if !COMMANDS.lookup(argv).is_ok_and(|s| s.arity_ok(argv.len())) {
        return None;
    }
    if all {
        return Some(until);
    }
    let st_ro: &super::State = st;
    let writes = |a: &[Bytes]| {
        COMMANDS.lookup(a).is_ok_and(|s| {
            may_write(st_ro, s, a) || s.full_name == "publish" || s.full_name == "spublish"
        })
    };
    let spec_is_exec = argv
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"exec"));
    let hold = if spec_is_exec {
        st.clients
            .map
            .get(&client_id)
            .and_then(|c| c.multi.as_ref())
            .is_some_and(|q| q.iter().any(|a| writes(a)))
    } else {
        let queuing = st
            .clients
            .map
            .get(&client_id)
            .is_some_and(|c| c.multi.is_some())
            && !argv.first().is_some_and(|n| {
                ["discard", "multi", "watch", "unwatch"]
                    .iter()
                    .any(|w| n.eq_ignore_ascii_case(w.as_bytes()))
            });
        !queuing && writes(argv)
    };
    hold.then_some(until)
}

/// Whether `a` (looked up as `spec`) may write: a write command, or one that may
/// replicate effects (EVAL, FCALL …) unless its script declares no writes.
fn may_write(st: &super::State, spec: &CommandSpec, a: &[Bytes]) -> bool {
    spec.flags.intersects(Flags::WRITE | Flags::MAY_REPLICATE)
        && !super::scripting::declares_no_writes(st, a)
}

/// How long a write waits for a snapshot's loan it found queued (not yet being encoded)
/// before it takes the value back and encodes it under the lock after all (a file thread
/// held up by a slow disk must not hold writers up for as long).
const LOAN_WAIT_MAX_MS: i64 = 1000;

/// Whether `argv`, about to run for `client_id`, must first wait for a running snapshot
/// to finish encoding a large value it changes (`Db::loan_wait`): the connection retries
/// it shortly, serving nobody else's time meanwhile, instead of the command encoding the
/// value under the engine lock. Covers the keys a write command, an EXEC's queued writes
/// or a script's declared keys change, in the client's database; anything else (a key a
/// script did not declare, another database) is taken back under the lock as before.
pub fn waits_for_loan(st: &mut super::State, client_id: u64, argv: &[Bytes], now_ms: i64) -> bool {
    let Some(client) = st.clients.map.get(&client_id) else {
        return false;
    };
    let db = client.db;
    if st.ks.dbs.get(db).is_none_or(|d| d.capture.is_none()) {
        return false;
    }
    let is_exec = argv
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"exec"));
    let mut keys: Vec<Bytes> = Vec::new();
    {
        let st_ro: &super::State = st;
        let mut changed_keys = |a: &[Bytes]| {
            let Ok(spec) = COMMANDS.lookup(a) else {
                return;
            };
            if !spec.arity_ok(a.len()) || !may_write(st_ro, spec, a) {
                return;
            }
            let meta = spec.meta.unwrap_or(&super::cmdmeta::M);
            use super::cmdmeta::KeyFlags as K;
            for k in super::cmdmeta::keys_of(&spec.full_name, meta, a) {
                let f = k.flags;
                // Removed (DEL) or overwritten (SET) values stay lent; moved ones (RM with
                // ACCESS: GETDEL …) and changed ones are taken back.
                let changes = if f.contains(K::RM) {
                    f.contains(K::ACCESS)
                } else {
                    !f.contains(K::OW) && f.intersects(K::RW | K::UPDATE | K::INSERT | K::DELETE)
                };
                if changes {
                    if let Some(key) = a.get(k.pos) {
                        keys.push(key.clone());
                    }
                }
            }
        };
        match &client.multi {
            Some(queue) if is_exec => queue.iter().for_each(|a| changed_keys(a)),
            Some(_) => {} // queued, not run
            None => changed_keys(argv),
        }
    }
    let mut wait = crate::db::LoanWait::None;
    let d = &mut st.ks.dbs[db];
    for k in &keys {
        match d.loan_wait(k) {
            crate::db::LoanWait::None => {}
            w => {
                wait = w;
                if w == crate::db::LoanWait::Encoding {
                    break;
                }
            }
        }
    }
    let Some(c) = st.clients.map.get_mut(&client_id) else {
        return false;
    };
    if wait == crate::db::LoanWait::None {
        c.loan_wait_since_ms = 0;
        return false;
    }
    if c.loan_wait_since_ms == 0 {
        c.loan_wait_since_ms = now_ms;
    }
    // (A loan being encoded is always waited for: the encoding ends.)
    if wait == crate::db::LoanWait::Queued && now_ms - c.loan_wait_since_ms >= LOAN_WAIT_MAX_MS {
        c.loan_wait_since_ms = 0;
        return false;
    }
    true
}

/// Whether `option` (`enable-debug-command`, `enable-module-command`,
/// `enable-protected-configs`) lets the calling client do what it guards: `yes`, or
/// `local` from a loopback address or a Unix socket (Redis's `allowProtectedAction`).
pub fn protected_action_allowed(x: &mut Exec<'_>, option: &str) -> bool {
    match x.st.config.get(option).as_deref() {
        Some("yes") => true,
        Some("local") => {
            let addr = &x.client().addr;
            // A Unix socket client's address is its path, not an IP address and port.
            addr.parse::<std::net::SocketAddr>()
                .map_or(true, |a| a.ip().is_loopback())
        }
        _ => false,
    }
}

pub fn call(x: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    // A client's own command (not one EXEC, a script or a blocking command runs): the
    // CLIENT TRACKING invalidations for its connection travel with its reply.
    let top = x.depth == 0 && x.caller == Caller::Client;
    if top {
        super::tracking::begin_command(x.st, x.client_id);
        x.argv_mem = argv.iter().map(Bytes::len).sum();
    }
    x.depth += 1;
    let mut reply = call_unmuted(x, argv);
    x.depth -= 1;
    // CLIENT REPLY OFF/SKIP silence a connection's own replies (not those inside EXEC or a
    // script, which belong to the EXEC or script reply).
    // Pub/Sub confirmations (SUBSCRIBE …, push replies in RESP3, arrays in RESP2) are
    // sent anyway, as Redis's CLIENT_PUSHING does.
    if x.st.clients.replies_muted
        && x.caller == Caller::Client
        && !x.in_exec
        && !x.in_script
        && x.client().reply_muted()
        && !is_push(&reply)
    {
        reply = Reply::Many(Vec::new());
    }
    if top {
        let parked = x.block.is_some();
        reply = super::pubsub::own_first(x.st, x.client_id, reply, parked);
        reply = super::tracking::end_command(x.st, reply, parked);
        if x.st.replicas.any()
            && !matches!(&reply, Reply::Many(v) if v.is_empty())
            && super::repl::is_replica(x.st, x.client_id)
        {
            // The replication link carries no replies: a replica that asked for one is
            // disconnected instead (Redis 7.0's _addReplyToBufferOrList).
            let name = COMMANDS.lookup(argv).map_or_else(
                |_| String::from_utf8_lossy(&argv[0]).to_lowercase(),
                |s| s.full_name.clone(),
            );
            super::repl::replied_to_replica(x, &reply, &name);
            reply = Reply::Many(Vec::new());
        }
    }
    reply
}

/// A push reply, or several (SUBSCRIBE a b: one confirmation per channel).
fn is_push(r: &Reply) -> bool {
    match r {
        Reply::Push(_) => true,
        Reply::Many(v) => !v.is_empty() && v.iter().all(|r| matches!(r, Reply::Push(_))),
        _ => false,
    }
}

fn call_unmuted(x: &mut Exec<'_>, argv: &[Bytes]) -> Reply {
    let journaled = x.journal.len();
    let queuing = x.caller == Caller::Client && !x.in_exec && x.client().multi.is_some();
    if x.renamed_away {
        // (`rename-command`: the engine resolved the name; this one is gone.)
        x.renamed_away = false;
        return reject(x, CmdError::unknown(argv), None, queuing);
    }
    let spec = match COMMANDS.lookup(argv) {
        Ok(s) => s,
        Err(e) => return reject(x, e, None, queuing),
    };
    if !spec.arity_ok(argv.len()) {
        return reject(
            x,
            CmdError::Arity(spec.full_name.clone()),
            Some(spec.id),
            queuing,
        );
    }
    let admitted = admit(x, spec, argv);
    if x.caller == Caller::Client && x.st.tracking.is_active() {
        // Keys evicted to make room for this command are invalidated before it runs (so
        // ahead of its reply), as Redis evicts before it calls the command; so are keys
        // dropped to keep the tracking table within its limit.
        if x.depth == 1 {
            super::tracking::limit_keys(x.st);
        }
        let new = x
            .journal
            .get(journaled.max(x.tracked)..)
            .unwrap_or_default();
        super::tracking::invalidate_journal(x.st, new, x.client_id);
        x.tracked = x.journal.len();
        if x.depth == 1 {
            super::tracking::command_executing(x.st);
        }
    }
    if let Err(e) = admitted {
        return reject(x, e, Some(spec.id), queuing);
    }
    if queuing && !TXN_CONTROL.contains(&spec.full_name.as_str()) {
        if spec.flags.contains(Flags::NO_MULTI) {
            return reject(
                x,
                CmdError::err("Command not allowed inside a transaction"),
                Some(spec.id),
                true,
            );
        }
        if let Some(q) = x.client().multi.as_mut() {
            q.push(argv.to_vec());
        }
        return Reply::Simple("QUEUED".into());
    }
    let Some(handler) = spec.handler else {
        return error_reply(x, CmdError::Arity(spec.full_name.clone()), Some(spec.id));
    };
    if x.caller == Caller::Client && x.depth == 1 {
        // (CLIENT LIST `cmd`: the client's own command, not those EXEC or a script runs.)
        let name = COMMANDS.name_of(spec.id);
        let now = x.now_ms;
        let c = x.client();
        c.last_cmd = name;
        c.last_cmd_ms = now;
    }
    let dirty = x.dirty;
    // Scripts (EVAL, FCALL: skip-monitor) show before the commands they run, as in Redis;
    // every other command after it ran (so SELECT shows its new database).
    if spec.flags.contains(Flags::SKIP_MONITOR) && !spec.flags.contains(Flags::ADMIN) && !x.rerun {
        feed_monitors(x, argv);
    }
    // In a pipelined batch the previous command's end is this one's start (one clock
    // reading per command instead of two): the engine leaves a mark at the batch's start
    // and clears it at its end; a command that found one leaves its own end behind
    // (commands nested in EXEC or a script find none and time themselves).
    let mark = x.st.clock_mark.take();
    let t0 = mark.unwrap_or_else(Instant::now);
    // (Timed per command for INFO commandstats, as Redis does.)
    let reply = match handler(x, argv) {
        Ok(r) => r,
        Err(e) => Reply::Error(e.to_string()),
    };
    if spec.journal == Journal::Verbatim && x.dirty > dirty {
        x.journal(argv.to_vec());
    }
    let t1 = Instant::now();
    let nanos = u64::try_from(t1.duration_since(t0).as_nanos()).unwrap_or(u64::MAX);
    if x.caller == Caller::Client && x.st.tracking.is_active() {
        // What this command changed is invalidated before what it read is remembered (a
        // read of a key it also expired stays tracked), as Redis.
        // (Effects already invalidated by the commands EXEC or a script ran are not again.)
        let id = x.client_id;
        let new = x
            .journal
            .get(journaled.max(x.tracked)..)
            .unwrap_or_default();
        super::tracking::invalidate_journal(x.st, new, id);
        x.tracked = x.journal.len();
        if x.in_script {
            // A script that runs a read-only command tracks its declared keys (below).
            if spec.flags.contains(Flags::READONLY) {
                x.st.tracking.script_read = true;
            }
        } else if super::tracking::SCRIPT_COMMANDS.contains(&spec.full_name.as_str()) {
            super::tracking::remember_script(x.st, id, argv);
        } else {
            super::tracking::remember(x.st, id, spec, argv);
        }
    }
    if !spec.flags.intersects(Flags::ADMIN | Flags::SKIP_MONITOR) && !x.uncounted && !x.rerun {
        feed_monitors(x, argv);
    }
    // A command that parked its client counts once it is served, times out or is
    // unblocked (as Redis counts a blocked command once); the commands a blocking command
    // runs for itself never do.
    if x.uncounted || (x.depth == 1 && x.block.is_some()) {
        if mark.is_some() {
            x.st.clock_mark = Some(t1);
        }
        return reply;
    }
    let usec = nanos / 1000;
    if x.st.latency.threshold_ms > 0 {
        let event = if spec.flags.contains(Flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        x.st.latency
            .sample(event, nanos / 1_000_000, crate::clock::now_ms() / 1000);
    }
    let st = &mut x.st.stats;
    st.total_commands += 1;
    if st.cmd.len() < COMMANDS.stat_slots {
        st.cmd.resize(COMMANDS.stat_slots, Default::default());
    }
    let s = &mut st.cmd[spec.id];
    s.calls += 1;
    s.usec += usec;
    if x.st.latency.tracking {
        s.record_latency(nanos);
    }
    if let Reply::Error(text) = &reply {
        s.failed_calls += 1;
        script_error_stats(x.in_script, &mut x.st.script_errors, st, spec, text);
    }
    if x.caller == Caller::Client
        && x.st.slowlog.wants(usec)
        && !spec.flags.contains(Flags::SKIP_SLOWLOG)
    {
        let now = x.now_ms;
        let c = x.client();
        let (addr, name) = (c.addr.clone(), c.name.clone().unwrap_or_default());
        x.st.slowlog.add(argv, usec, now, &addr, &name);
    }
    if mark.is_some() {
        x.st.clock_mark = Some(t1);
    }
    reply
}

/// A parked client's command ended without being served (timeout, CLIENT UNBLOCK): it
/// counts now, as Redis's `updateStatsOnUnblock` (with `error`, a failed call answered
/// by that error).
pub fn count_unblocked(st: &mut super::State, argv: &[Bytes], error: Option<&str>) {
    let Ok(spec) = COMMANDS.lookup(argv) else {
        return;
    };
    let stats = &mut st.stats;
    stats.total_commands += 1;
    if stats.cmd.len() < COMMANDS.stat_slots {
        stats.cmd.resize(COMMANDS.stat_slots, Default::default());
    }
    let s = &mut stats.cmd[spec.id];
    s.calls += 1;
    if st.latency.tracking {
        s.record_latency(0);
    }
    if let Some(text) = error {
        s.failed_calls += 1;
        count_error(stats, text);
    }
}

/// Show `argv` to the clients in MONITOR mode (none: nothing to do).
fn feed_monitors(x: &mut Exec<'_>, argv: &[Bytes]) {
    if x.st.monitors.is_empty() || x.caller != Caller::Client {
        return;
    }
    let who = if x.in_script {
        "lua".to_string()
    } else {
        x.client().addr.clone()
    };
    let db = x.db;
    super::admin::feed_monitors(x.st, db, &who, argv);
}

/// What a RESP2 client in subscribed mode may run.
const SUBSCRIBED_MODE_ALLOWED: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
    "ping",
    "quit",
    "reset",
];

/// Commands that run immediately even inside MULTI (Redis `processCommand`).
const TXN_CONTROL: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// An error before execution; inside MULTI it also dooms the transaction (EXECABORT).
fn reject(x: &mut Exec<'_>, e: CmdError, id: Option<usize>, queuing: bool) -> Reply {
    let is_exec = id.is_some_and(|i| COMMANDS.name_of(i) == "exec");
    if is_exec && x.caller == Caller::Client {
        // Redis `execCommandAbort`: a rejected EXEC discards the transaction and says why.
        let client_id = x.client_id;
        let c = x.client();
        c.multi = None;
        c.multi_aborted = false;
        x.st.unwatch_all(client_id);
        let text = e.to_string();
        let why = text.strip_prefix("ERR ").unwrap_or(&text).to_string();
        return error_reply(
            x,
            CmdError::Raw(format!("EXECABORT Transaction discarded because of: {why}")),
            id,
        );
    }
    if queuing {
        x.client().multi_aborted = true;
    }
    error_reply(x, e, id)
}

fn count_error(st: &mut super::exec::Stats, text: &str) {
    let code = text.split_whitespace().next().unwrap_or("ERR").to_string();
    *st.errors.entry(code).or_insert(0) += 1;
}

/// Count a command refused before it ran (INFO commandstats `rejected_calls`, errorstats)
/// and make its error reply.
pub fn error_reply(x: &mut Exec<'_>, e: CmdError, id: Option<usize>) -> Reply {
    let text = e.to_string();
    let st = &mut x.st.stats;
    if let Some(id) = id {
        if st.cmd.len() < COMMANDS.stat_slots {
            st.cmd.resize(COMMANDS.stat_slots, Default::default());
        }
        st.cmd[id].rejected_calls += 1;
    }
    count_error(st, &text);
    if x.in_script {
        note_script_error(&mut x.st.script_errors, &text);
    }
    Reply::Error(text)
}

/// Remember an error counted inside the running script (the last few: what its reply
/// may carry).
fn note_script_error(seen: &mut Vec<String>, text: &str) {
    if seen.len() >= 64 {
        seen.remove(0);
    }
    seen.push(text.to_string());
}

/// Count an error reply in errorstats, as Redis counts errors met inside a script: once,
/// where they happen. A script's own error reply that carries an error already counted
/// inside it (raised by redis.call, or a redis.pcall error returned) is not counted again.
fn script_error_stats(
    in_script: bool,
    seen: &mut Vec<String>,
    st: &mut super::exec::Stats,
    spec: &CommandSpec,
    text: &str,
) {
    if in_script {
        count_error(st, text);
        note_script_error(seen, text);
        return;
    }
    let counted = !seen.is_empty()
        && super::tracking::SCRIPT_COMMANDS.contains(&spec.full_name.as_str())
        && seen.iter().any(|e| text.starts_with(e.as_str()));
    if !counted {
        count_error(st, text);
    }
}

/// Apply one logged execution unit (Caller::Replay: no checks, no journaling, no expiry).
/// Returns the first error reply, which on a consistent log never happens.
pub fn replay(x: &mut Exec<'_>, cmds: &[(u16, Vec<Bytes>)]) -> Result<(), String> {
    for (db, argv) in cmds {
        let db = usize::from(*db);
        if db >= x.st.ks.dbs.len() {
            return Err(format!(
                "record names database {db}, but only {} exist",
                x.st.ks.dbs.len()
            ));
        }
        x.db = db;
        let reply = call(x, argv);
        if let Reply::Error(e) = reply {
            let name =
                String::from_utf8_lossy(argv.first().map_or(&b""[..], |b| &b[..])).into_owned();
            return Err(format!("replaying {name}: {e}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::server::testkit::*;

    /// Which commands wait for a snapshot's loan of a large value (`waits_for_loan`): those
    /// that change it in place or move it (a write, a script's declared key, an EXEC's
    /// queued write), not those that only read it, delete it or overwrite it, nor a
    /// command being queued inside MULTI; and a queued loan is waited for at most
    /// `LOAN_WAIT_MAX_MS`.
    #[test]
    fn writes_that_change_a_lent_value_wait_for_it() {
        let mut t = Tk::new();
        let members: Vec<String> = (0..crate::db::LARGE_ELEMENTS)
            .map(|i| format!("m{i}"))
            .collect();
        t.run(&format!("SADD big {}", members.join(" ")));
        t.run("SADD other a");
        // A snapshot that has not walked anything yet (what `Job::begin` leaves).
        fn encode(_: &mut Vec<u8>, _: usize, _: &[u8], _: &crate::db::Entry, _: i64) {}
        let d = &mut t.st.ks.dbs[0];
        d.epoch = !d.epoch;
        d.capture = Some(Box::new(crate::db::Capture {
            encode: Some(encode),
            ..Default::default()
        }));
        let now = 1_000_000;
        let waits = |t: &mut Tk, line: &str| super::waits_for_loan(&mut t.st, 1, &words(line), now);
        for line in [
            "SCARD big",
            "SMEMBERS big",
            "SUNIONSTORE dst other big",
            "DEL big",
            "SET big x",
            "SADD other b",
            "EVAL return(1) 0",
        ] {
            assert!(!waits(&mut t, line), "{line}");
        }
        assert!(t.st.ks.dbs[0].capture.as_ref().unwrap().lent.is_empty());
        for line in [
            "SADD big new",
            "SREM big m1",
            "RENAME big moved",
            "EVAL return(1) 1 big",
        ] {
            assert!(waits(&mut t, line), "{line}");
        }
        let c = t.st.ks.dbs[0].capture.as_ref().unwrap();
        assert_eq!((c.lent.len(), c.late.len()), (1, 1), "lent once");
        t.run("MULTI");
        assert!(!waits(&mut t, "SADD big x"), "queued, not run");
        t.run("SADD big x");
        assert!(waits(&mut t, "EXEC"));
        t.run("DISCARD");
        // A loan still queued after LOAN_WAIT_MAX_MS: the write goes ahead.
        let late = now + super::LOAN_WAIT_MAX_MS;
        assert!(!super::waits_for_loan(
            &mut t.st,
            1,
            &words("SADD big y"),
            late
        ));
    }
}
