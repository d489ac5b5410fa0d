//! Server-assisted client-side caching (CLIENT TRACKING, CACHING, GETREDIR,
//! TRACKINGINFO): which clients may hold which keys, and the `invalidate` messages sent
//! when those keys change. As Redis 7.0: keys are tracked by name (any database); the
//! default mode remembers the keys of read-only commands a client ran (OPTIN: only after
//! CLIENT CACHING YES; OPTOUT: unless CLIENT CACHING NO), BCAST sends every change under
//! the client's prefixes; NOLOOP skips a client's own changes; REDIRECT sends the
//! messages to another connection (on the `__redis__:invalidate` channel), else RESP3
//! clients get a `>2 invalidate [keys]` push. FLUSHDB/FLUSHALL invalidate everything
//! (a null key list).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::exec::{arg_i64, is, Exec};
use super::{CmdError, CommandSpec, Flags, State};
use crate::resp::Reply;

/// The channel RESP2 clients subscribe to for redirected invalidations.
const CHANNEL: &[u8] = b"__redis__:invalidate";

/// One client's CLIENT TRACKING settings.
#[derive(Debug, Clone, Default)]
pub struct Mode {
    /// Where messages go (0 = the client itself).
    pub redirect: u64,
    /// BCAST: every change under `prefixes` (all keys when none).
    pub bcast: bool,
    /// OPTIN: remember keys only after CLIENT CACHING YES.
    pub optin: bool,
    /// OPTOUT: remember keys unless CLIENT CACHING NO.
    pub optout: bool,
    /// NOLOOP: no messages for the client's own changes.
    pub noloop: bool,
    /// BCAST prefixes.
    pub prefixes: Vec<Bytes>,
    /// CLIENT CACHING for the next command (OPTIN: YES, OPTOUT: NO).
    pub caching: Option<bool>,
}

/// Keys clients may have cached, and the clients in BCAST mode.
#[derive(Debug, Default)]
pub struct Tracking {
    /// Key → clients that read it while tracking (default mode).
    keys: HashMap<Bytes, HashSet<u64>>,
    /// Clients with tracking on.
    clients: HashSet<u64>,
    /// Clients in BCAST mode.
    bcast: HashSet<u64>,
    /// Keys changed since the last [`flush_bcast`], each with the client that last changed
    /// it (0 = the server): BCAST clients hear them in one message per prefix, once the
    /// commands of a batch have run (Redis sends them from `beforeSleep`).
    pending: HashMap<Bytes, u64>,
    /// The running script has called a read-only command (see [`remember_script`]).
    pub script_read: bool,
    /// Invalidations for the client whose command is running, see [`Own`].
    own: Option<Own>,
    /// `tracking-table-max-keys` (0 = no limit), see [`limit_keys`].
    max_keys: usize,
    /// Calls of [`limit_keys`] in a row that left the table over its limit.
    over_limit_runs: usize,
}

/// Invalidations addressed to the connection whose command is running (Redis's
/// `tracking_pending_keys`): they travel in that command's reply stream, never between
/// the parts of a reply (MGET's, EXEC's). Those made before the command starts executing
/// (keys evicted to admit it) go ahead of its reply, the rest after it.
#[derive(Debug, Default)]
struct Own {
    id: u64,
    executing: bool,
    before: Vec<Reply>,
    after: Vec<Reply>,
}

/// The commands that run a script: their declared keys are what tracking remembers.
pub const SCRIPT_COMMANDS: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// The prefixes of a BCAST client: the empty one (every key) when it named none, as
/// Redis registers it; none for a client in default mode.
pub fn bcast_prefixes(m: &Mode) -> Vec<Bytes> {
    if m.bcast && m.prefixes.is_empty() {
        vec![Bytes::new()]
    } else {
        m.prefixes.clone()
    }
}

impl Tracking {
    /// INFO `tracking_total_prefixes`: the distinct prefixes of the BCAST clients.
    pub fn total_prefixes(clients: &super::client::ClientTable) -> usize {
        let mut all = HashSet::new();
        for m in clients.map.values().filter_map(|c| c.tracking.as_ref()) {
            all.extend(bcast_prefixes(m));
        }
        all.len()
    }

    /// Re-read `tracking-table-max-keys` (at startup and after CONFIG SET).
    pub fn configure(&mut self, config: &crate::config::Config) {
        self.max_keys = config
            .get("tracking-table-max-keys")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
    }

    /// True when no client tracks anything (the fast path of every command).
    pub fn is_idle(&self) -> bool {
        self.clients.is_empty()
    }

    /// True when a command's effects matter to tracking: a client tracks, or keys read
    /// by clients that stopped tracking are still remembered (a flush forgets them).
    pub fn is_active(&self) -> bool {
        !self.clients.is_empty() || !self.keys.is_empty()
    }

    /// INFO: (clients tracking, keys tracked, (key, client) pairs).
    pub fn counts(&self) -> (usize, usize, usize) {
        let items = self.keys.values().map(HashSet::len).sum();
        (self.clients.len(), self.keys.len(), items)
    }

    /// Forget a client (tracking off or disconnected).
    pub fn drop_client(&mut self, id: u64) {
        self.clients.remove(&id);
        self.bcast.remove(&id);
    }
}

/// A client command starts (not one run by EXEC, a script or a blocking command): its
/// connection's own invalidations are held for its reply stream until [`end_command`].
pub fn begin_command(st: &mut State, id: u64) {
    st.tracking.own = (!st.tracking.is_idle()).then(|| Own {
        id,
        ..Own::default()
    });
}

/// The command passed its admission checks and runs: invalidations for its connection
/// from now on follow its reply.
pub fn command_executing(st: &mut State) {
    if let Some(own) = st.tracking.own.as_mut() {
        own.executing = true;
    }
}

/// The command ended with `reply`: the reply stream its connection gets, with the held
/// invalidations around it. A command that parks its client (BLPOP …) sends no reply
/// now: its invalidations go out at once, as pushes.
pub fn end_command(st: &mut State, reply: Reply, parked: bool) -> Reply {
    let Some(own) = st.tracking.own.take() else {
        return reply;
    };
    if own.before.is_empty() && own.after.is_empty() {
        return reply;
    }
    if parked {
        for msg in own.before.into_iter().chain(own.after) {
            push_to(st, own.id, &msg);
        }
        return reply;
    }
    let mut all = own.before;
    match reply {
        Reply::Many(v) => all.extend(v),
        r => all.push(r),
    }
    all.extend(own.after);
    Reply::Many(all)
}

/// Deliver `msg` to client `dest`: in the reply stream of the running command when it is
/// that client's, else through its push channel.
fn deliver(st: &mut State, dest: u64, msg: Reply) {
    if let Some(own) = st.tracking.own.as_mut().filter(|o| o.id == dest) {
        if own.executing {
            own.after.push(msg);
        } else {
            own.before.push(msg);
        }
        return;
    }
    push_to(st, dest, &msg);
}

/// Send `msg` to client `dest` through its push channel, encoded for its protocol.
pub(super) fn push_to(st: &State, dest: u64, msg: &Reply) {
    if let Some(c) = st.clients.map.get(&dest) {
        if let Some(push) = &c.push {
            let mut out = Vec::new();
            crate::resp::encode(msg, c.resp, &mut out);
            push(&out);
        }
    }
}

/// The (db, key) pairs the effects in `journal` wrote, per the command table's key specs
/// (blocked clients waiting on them may be ready): see `effect_keys`.
pub fn journal_keys(journal: &[super::exec::JournalEntry]) -> Vec<(usize, Bytes)> {
    let mut out = Vec::new();
    for (db, argv) in journal {
        effect_keys(usize::from(*db), argv, false, &mut out);
    }
    out
}

/// The (db, key) pairs of `journal` that Redis 7.0 signals as modified (its
/// `signalModifiedKey`): WATCH breaks and tracking clients are told for these.
/// `journal_keys` less the stream consumer-group bookkeeping (XACK, XCLAIM, XAUTOCLAIM,
/// XGROUP, XSETID), which Redis does not signal.
pub fn modified_keys(journal: &[super::exec::JournalEntry]) -> Vec<(usize, Bytes)> {
    let mut out = Vec::new();
    for (db, argv) in journal {
        effect_keys(usize::from(*db), argv, true, &mut out);
    }
    out
}

/// The keys one effect, run in `db`, writes (`signalled`: only those Redis signals): its
/// keys as COMMAND GETKEYSANDFLAGS finds them, less those only read (the `RO` ones: a
/// store command's sources, COPY's source, GEORADIUS's source before STORE). MOVE and
/// COPY … DB write in the database they name.
fn effect_keys(db: usize, argv: &[Bytes], signalled: bool, out: &mut Vec<(usize, Bytes)>) {
    use super::cmdmeta::{self, KeyFlags};
    let Some(name) = argv.first() else {
        return;
    };
    let named = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    let unsignalled = ["xack", "xclaim", "xautoclaim", "xgroup", "xsetid"];
    if signalled && unsignalled.iter().any(|n| named(n)) {
        return;
    }
    let db_arg = |a: &Bytes| std::str::from_utf8(a).ok()?.parse::<usize>().ok();
    // MOVE: the key leaves `db` for the named one; COPY … DB: its destination is there.
    let (moved_to, written_in) = if named("move") {
        (argv.get(2).and_then(db_arg), db)
    } else if named("copy") {
        let to = argv
            .get(3..)
            .unwrap_or_default()
            .windows(2)
            .find(|w| w[0].eq_ignore_ascii_case(b"db"))
            .and_then(|w| db_arg(&w[1]));
        (None, to.unwrap_or(db))
    } else {
        (None, db)
    };
    let Ok(spec) = super::COMMANDS.lookup(argv) else {
        return;
    };
    let Some(meta) = spec.meta else {
        // (No key specs: the command table's key range.)
        for i in spec.key_positions(argv.len()) {
            out.extend(argv.get(i).map(|k| (db, k.clone())));
        }
        return;
    };
    for k in cmdmeta::keys_of(&spec.full_name, meta, argv) {
        if k.flags.contains(KeyFlags::RO) {
            continue;
        }
        let Some(key) = argv.get(k.pos) else {
            continue;
        };
        out.push((written_in, key.clone()));
        out.extend(moved_to.map(|to| (to, key.clone())));
    }
}

/// Invalidate what the effects in `journal` changed (`by`: the client whose command made
/// them, 0 = the server): their keys, and everything on FLUSHDB/FLUSHALL.
pub fn invalidate_journal(st: &mut State, journal: &[super::exec::JournalEntry], by: u64) {
    if st.tracking.is_idle() && st.tracking.keys.is_empty() {
        return;
    }
    let flushes = journal.iter().any(|(_, argv)| {
        argv.first().is_some_and(|n| {
            n.eq_ignore_ascii_case(b"flushall") || n.eq_ignore_ascii_case(b"flushdb")
        })
    });
    if flushes {
        invalidate_all(st);
    }
    if st.tracking.is_idle() {
        return;
    }
    for (_, key) in modified_keys(journal) {
        invalidate(st, &key, by);
    }
}

/// Whether the keys `client_id`'s command read are to be remembered: it tracks in default
/// mode, and under OPTIN/OPTOUT its CLIENT CACHING choice (used up here) says so.
fn remembers(st: &mut State, client_id: u64) -> bool {
    let Some(m) = st
        .clients
        .map
        .get_mut(&client_id)
        .and_then(|c| c.tracking.as_mut())
    else {
        return false;
    };
    let caching = m.caching.take();
    !(m.bcast || (m.optin && caching != Some(true)) || (m.optout && caching == Some(false)))
}

/// After a command ran: remember the keys a tracking client read (default mode).
pub fn remember(st: &mut State, client_id: u64, spec: &CommandSpec, argv: &[Bytes]) {
    if st.tracking.is_idle() || !spec.flags.contains(Flags::READONLY) {
        return;
    }
    if !remembers(st, client_id) {
        return;
    }
    let keys = spec.key_positions(argv.len());
    track(st, client_id, keys.iter().filter_map(|&i| argv.get(i)));
}

/// Remember that `client_id` may cache `keys`.
fn track<'a>(st: &mut State, client_id: u64, keys: impl Iterator<Item = &'a Bytes>) {
    for k in keys {
        if let Some(ids) = st.tracking.keys.get_mut(k) {
            ids.insert(client_id);
        } else {
            // A copy: a slice of the argument would keep its whole read buffer alive.
            let ids = HashSet::from([client_id]);
            st.tracking.keys.insert(Bytes::copy_from_slice(k), ids);
        }
    }
}

/// Keep the table within `tracking-table-max-keys`: past it, arbitrary keys are
/// invalidated (their clients told) and forgotten, so keys read by clients that since
/// left cannot grow it without bound. As Redis's `trackingLimitUsedSlots`, run before
/// every command and by the background cycle (so a lowered limit applies on an idle
/// server too), each run drops up to 100 keys more than the previous one did while the
/// table stays over the limit.
pub fn limit_keys(st: &mut State) {
    let max = st.tracking.max_keys;
    if st.tracking.is_idle() || max == 0 || st.tracking.keys.len() <= max {
        st.tracking.over_limit_runs = 0;
        return;
    }
    let mut effort = 100 * (st.tracking.over_limit_runs + 1);
    while effort > 0 {
        effort -= 1;
        let Some(k) = st.tracking.keys.keys().next().cloned() else {
            break;
        };
        invalidate(st, &k, 0);
        if st.tracking.keys.len() <= max {
            st.tracking.over_limit_runs = 0;
            return;
        }
    }
    st.tracking.over_limit_runs += 1;
}

/// After EVAL / FCALL and their `_RO` forms: if the script ran a read-only command, the
/// keys it declared (`numkeys` keys after the script or function name) are remembered for
/// a tracking client, as redis-server 7.0 does (not the keys the commands inside read).
pub fn remember_script(st: &mut State, client_id: u64, argv: &[Bytes]) {
    if !std::mem::take(&mut st.tracking.script_read) || !remembers(st, client_id) {
        return;
    }
    let n = argv
        .get(2)
        .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
        .unwrap_or(0);
    track(st, client_id, argv.iter().skip(3).take(n));
}

/// `key` changed (by `by`, 0 = the server itself): tell every client that may cache it.
pub fn invalidate(st: &mut State, key: &[u8], by: u64) {
    if st.tracking.is_idle() {
        return;
    }
    // Clients that read the key while tracking in default mode; one that has since turned
    // tracking off, or on again in BCAST mode, is skipped, as Redis skips it.
    let clients = &st.clients.map;
    let targets: Vec<u64> = st
        .tracking
        .keys
        .remove(key)
        .map(|s| {
            s.into_iter()
                .filter(|id| {
                    clients
                        .get(id)
                        .and_then(|c| c.tracking.as_ref())
                        .is_some_and(|m| !m.bcast)
                })
                .collect()
        })
        .unwrap_or_default();
    if !st.tracking.bcast.is_empty() {
        st.tracking.pending.insert(Bytes::copy_from_slice(key), by);
    }
    for id in targets {
        send(st, id, by, Reply::Array(vec![Reply::bulk(key)]));
    }
}

/// Tell the BCAST clients about the keys changed since the last call: one message per
/// client and matching prefix, listing that prefix's keys (sorted; under NOLOOP without
/// the ones the client itself changed last). Run after each batch of commands and each
/// background step, as Redis's `trackingBroadcastInvalidationMessages` before it sleeps.
pub fn flush_bcast(st: &mut State) {
    if st.tracking.pending.is_empty() {
        return;
    }
    let pending = std::mem::take(&mut st.tracking.pending);
    let mut changed: Vec<(&Bytes, u64)> = pending.iter().map(|(k, &by)| (k, by)).collect();
    changed.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut ids: Vec<u64> = st.tracking.bcast.iter().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let Some(mode) = st.clients.map.get(&id).and_then(|c| c.tracking.clone()) else {
            continue;
        };
        let prefixes: Vec<&[u8]> = if mode.prefixes.is_empty() {
            vec![&b""[..]]
        } else {
            mode.prefixes.iter().map(|p| &p[..]).collect()
        };
        for prefix in prefixes {
            let keys: Vec<Reply> = changed
                .iter()
                .filter(|(k, by)| k.starts_with(prefix) && !(mode.noloop && *by == id))
                .map(|(k, _)| Reply::Bulk((*k).clone()))
                .collect();
            if !keys.is_empty() {
                send(st, id, 0, Reply::Array(keys));
            }
        }
    }
}

/// FLUSHDB / FLUSHALL: every tracking client drops everything (a null key list), and the
/// table forgets every key, whether anyone tracks now or not (as Redis reclaims it).
pub fn invalidate_all(st: &mut State) {
    st.tracking.keys.clear();
    st.tracking.pending.clear();
    if st.tracking.is_idle() {
        return;
    }
    let ids: Vec<u64> = st.tracking.clients.iter().copied().collect();
    for id in ids {
        send(st, id, 0, Reply::Null);
    }
}

/// Send one invalidation (`keys`: an array of keys, or Null = everything) to client `id`
/// or its redirect, as Redis's `sendTrackingMessage`: a RESP3 receiver gets an
/// `invalidate` push (redirected or not), a RESP2 redirect target a message on
/// `__redis__:invalidate` if it is in Pub/Sub mode; anyone else nothing.
fn send(st: &mut State, id: u64, by: u64, keys: Reply) {
    let Some(mode) = st.clients.map.get(&id).and_then(|c| c.tracking.as_ref()) else {
        return;
    };
    if mode.noloop && id == by {
        return;
    }
    let redirect = mode.redirect;
    let target = if redirect != 0 { redirect } else { id };
    let Some(c) = st.clients.map.get(&target) else {
        // The redirect target disconnected: a RESP3 client hears it instead of each
        // invalidation (`tracking-redir-broken <id>`), as redis-server 7.0 does.
        if st.clients.map.get(&id).is_some_and(|me| me.resp >= 3) {
            let msg = Reply::Push(vec![
                Reply::bulk(b"tracking-redir-broken"),
                Reply::Int(i64::try_from(redirect).unwrap_or(i64::MAX)),
            ]);
            deliver(st, id, msg);
        }
        return;
    };
    let msg = if c.resp >= 3 {
        Reply::Push(vec![Reply::bulk(b"invalidate"), keys])
    } else if redirect != 0 && c.in_subscribed_mode() {
        Reply::Push(vec![Reply::bulk(b"message"), Reply::bulk(CHANNEL), keys])
    } else {
        // RESP2 has no way to push to a connection that is not subscribed.
        return;
    };
    deliver(st, target, msg);
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn client_tracking(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let on = if is(&a[2], "on") {
        true
    } else if is(&a[2], "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let mut m = Mode::default();
    let mut i = 3;
    while i < a.len() {
        let opt = &a[i];
        if is(opt, "redirect") && i + 1 < a.len() {
            if m.redirect != 0 {
                return Err(CmdError::err(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = u64::try_from(arg_i64(&a[i + 1])?).unwrap_or(0);
            if id == 0 || !x.st.clients.map.contains_key(&id) {
                return Err(CmdError::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
            m.redirect = id;
            i += 2;
        } else if is(opt, "prefix") && i + 1 < a.len() {
            m.prefixes.push(a[i + 1].clone());
            i += 2;
        } else if is(opt, "bcast") {
            m.bcast = true;
            i += 1;
        } else if is(opt, "optin") {
            m.optin = true;
            i += 1;
        } else if is(opt, "optout") {
            m.optout = true;
            i += 1;
        } else if is(opt, "noloop") {
            m.noloop = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let id = x.client_id;
    if !on {
        x.client().tracking = None;
        x.st.tracking.drop_client(id);
        return Ok(Reply::ok());
    }
    if !m.bcast && !m.prefixes.is_empty() {
        return Err(CmdError::err(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if m.optin && m.optout {
        return Err(CmdError::err(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if m.bcast && (m.optin || m.optout) {
        return Err(CmdError::err(
            "OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if let Some(old) = x.client().tracking.as_ref() {
        if (old.optin && m.optout) || (old.optout && m.optin) {
            return Err(CmdError::err(
                "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
        if old.bcast != m.bcast {
            return Err(CmdError::err(
                "You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
    }
    // Redis's checkPrefixCollisionsOrReply: no prefix may be a prefix of another, among
    // those already set (when BCAST is on with prefixes) or those given.
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let existing: Vec<Bytes> = x
        .client()
        .tracking
        .as_ref()
        .filter(|old| old.bcast)
        .map(|old| old.prefixes.clone())
        .unwrap_or_default();
    for (i, p) in m.prefixes.iter().enumerate() {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if let Some(e) = existing.iter().find(|e| overlap(p, e)) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(e)
            )));
        }
        if let Some(q) = m.prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(q)
            )));
        }
    }
    if let Some(old) = x.client().tracking.as_ref() {
        // Turning it on again adds prefixes (as Redis).
        let mut merged = old.prefixes.clone();
        for p in m.prefixes.drain(..) {
            if !merged.contains(&p) {
                merged.push(p);
            }
        }
        m.prefixes = merged;
    }
    x.st.tracking.clients.insert(id);
    if m.bcast {
        x.st.tracking.bcast.insert(id);
    }
    x.client().tracking = Some(m);
    Ok(Reply::ok())
}

/// CLIENT CACHING YES|NO: the next command's keys are (not) remembered.
pub fn client_caching(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(m) = x.client().tracking.as_mut() else {
        return Err(CmdError::err(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if is(&a[2], "yes") {
        if !m.optin {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        m.caching = Some(true);
    } else if is(&a[2], "no") {
        if !m.optout {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        m.caching = Some(false);
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(Reply::ok())
}

/// CLIENT GETREDIR: -1 without tracking, 0 without a redirect, else the redirect id.
pub fn client_getredir(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(match &x.client().tracking {
        None => -1,
        Some(m) => i64::try_from(m.redirect).unwrap_or(i64::MAX),
    }))
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes.
pub fn client_trackinginfo(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let t = x.client().tracking.clone();
    let mut flags = Vec::new();
    let (redirect, prefixes) = match &t {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(m) => {
            flags.push("on");
            for (on, name) in [
                (m.bcast, "bcast"),
                (m.optin, "optin"),
                (m.optout, "optout"),
                (m.caching == Some(true), "caching-yes"),
                (m.caching == Some(false), "caching-no"),
                (m.noloop, "noloop"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            let redirect = i64::try_from(m.redirect).unwrap_or(i64::MAX);
            (redirect, {
                // Sorted, as Redis lists its prefix tree.
                let mut p = bcast_prefixes(m);
                p.sort();
                p.into_iter().map(Reply::Bulk).collect()
            })
        }
    };
    if t.as_ref().is_some_and(|m| m.redirect != 0)
        && !x
            .st
            .clients
            .map
            .contains_key(&t.as_ref().map_or(0, |m| m.redirect))
    {
        flags.push("broken_redirect");
    }
    let field = |s: &str| Reply::bulk(s.as_bytes());
    Ok(Reply::Map(vec![
        (
            field("flags"),
            Reply::Set(flags.into_iter().map(field).collect()),
        ),
        (field("redirect"), Reply::Int(redirect)),
        (field("prefixes"), Reply::Array(prefixes)),
    ]))
}
