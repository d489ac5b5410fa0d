//! Connection commands: PING, ECHO, QUIT, RESET, SELECT, HELLO, AUTH and the CLIENT
//! subcommands. They act on the calling client's entry in the client table (protocol,
//! name, selected database, authentication, flags) and never on the keyspace, so none
//! of them is journaled. Errors and reply shapes follow Redis 7.0 (CLIENT SETINFO and
//! NO-TOUCH follow 7.2).

use bytes::Bytes;

use super::client::{Client, LineFacts};
use super::exec::{arg_i64, is, lossy, Exec};
use super::server::help_reply;
use super::{cmd, container, CmdError, CommandSpec, Flags, Group};
use crate::resp::Reply;

/// Register the connection commands.
#[rustfmt::skip]
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let c = |name, arity, flags, handler, summary, since| {
        cmd(name, arity, flags, handler).group(Group::Connection).doc(summary, since)
    };
    // Allowed before AUTH, while loading, on a stale replica; never from scripts.
    let pre_auth = F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY;
    let any = F::LOADING | F::STALE | F::FAST;
    let sub = F::NOSCRIPT | F::LOADING | F::STALE;
    let admin = F::ADMIN | sub;
    t.push(c("ping", -1, F::FAST, ping, "Ping the server", "1.0.0"));
    t.push(c("echo", 2, any, echo, "Echo the given string", "1.0.0"));
    t.push(c("quit", -1, pre_auth, quit, "Close the connection", "1.0.0"));
    t.push(c("reset", 1, pre_auth, reset, "Reset the connection", "6.2.0"));
    t.push(c("select", 2, any, select, "Change the selected database for the current connection", "1.0.0"));
    t.push(c("hello", -1, pre_auth, hello, "Handshake with Redis", "6.0.0"));
    t.push(c("auth", -2, pre_auth, auth, "Authenticate to the server", "1.0.0"));
    let subs = vec![
        c("id", 2, sub, client_id, "Returns the client ID for the current connection", "5.0.0"),
        c("setname", 3, sub, client_setname, "Set the current connection name", "2.6.9"),
        c("getname", 2, sub, client_getname, "Get the current connection name", "2.6.9"),
        c("list", -2, admin, client_list, "Get the list of client connections", "2.4.0"),
        c("info", 2, sub, client_info, "Returns information about the current client connection.", "6.2.0"),
        c("kill", -3, admin, client_kill, "Kill the connection of a client", "2.4.0"),
        c("setinfo", 4, sub, client_setinfo, "Sets information specific to the client or connection.", "7.2.0"),
        c("no-evict", 3, admin, client_no_evict, "Set client eviction mode for the current connection", "7.0.0"),
        c("no-touch", 3, sub, client_no_touch, "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", "7.2.0"),
        c("reply", 3, sub, client_reply, "Instruct the server whether to reply to commands", "3.2.0"),
        c("tracking", -3, sub, super::tracking::client_tracking, "Enable or disable server assisted client side caching support", "6.0.0"),
        c("caching", 3, sub, super::tracking::client_caching, "Instruct the server about tracking or not keys in the next request", "6.0.0"),
        c("getredir", 2, sub, super::tracking::client_getredir, "Get tracking notifications redirection client ID if any", "6.0.0"),
        c("trackinginfo", 2, sub, super::tracking::client_trackinginfo, "Return information about server assisted client side caching for the current connection", "6.2.0"),
        c("pause", -3, admin, client_pause, "Stop processing commands from clients for some time", "3.0.0"),
        c("unpause", 2, admin, client_unpause, "Resume processing of clients that were paused", "6.2.0"),
        c("unblock", -3, admin, client_unblock, "Unblock a client blocked in a blocking command from a different connection", "5.0.0"),
        c("help", 2, F::LOADING | F::STALE, client_help, "Show helpful text about the different subcommands", "5.0.0"),
    ];
    t.push(container("client", -2, F::empty(), subs).group(Group::Connection).doc("A container for client connection commands", "2.4.0"));
}

fn ping(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() <= 2 && x.client().in_subscribed_mode() {
        // RESP2 subscribed mode answers PING as a pub/sub frame.
        let msg = a.get(1).map_or(Reply::bulk(b""), |m| Reply::bulk(m));
        return Ok(Reply::Array(vec![Reply::bulk(b"pong"), msg]));
    }
    match a.len() {
        1 => Ok(Reply::Simple("PONG".into())),
        2 => Ok(Reply::bulk(&a[1])),
        _ => Err(CmdError::Arity("ping".into())),
    }
}

fn echo(_x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::bulk(&a[1]))
}

fn quit(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    x.client().close_after_reply = true;
    Ok(Reply::ok())
}

/// RESET: back to a fresh connection's state (Redis `clearClientConnectionState`): db 0,
/// RESP2, no name, no NO-EVICT/NO-TOUCH, and back to the default user (authenticated only
/// when it needs no password).
fn reset(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    x.db = 0;
    let id = x.client_id;
    x.st.unwatch_all(id);
    super::pubsub::unsubscribe_all(x.st, id);
    // Also: tracking off, out of MONITOR mode, replies on (Redis's RESET).
    x.st.tracking.drop_client(id);
    x.st.monitors.retain(|&m| m != id);
    let c = x.client();
    c.tracking = None;
    c.monitor = false;
    c.reply_off = false;
    c.reply_skip = 0;
    c.multi = None;
    c.multi_aborted = false;
    c.db = 0;
    c.resp = 2;
    c.name = None;
    c.no_evict = false;
    c.no_touch = false;
    super::acl::reset_client(x);
    Ok(Reply::Simple("RESET".into()))
}

fn select(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let id = arg_i64(&a[1])?;
    if i32::try_from(id).is_err() {
        // (Redis reads the index as an int: `getIntFromObjectOrReply`.)
        return Err(CmdError::err(
            "value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    let db = usize::try_from(id)
        .ok()
        .filter(|&d| d < x.st.ks.dbs.len())
        .ok_or_else(|| CmdError::err("DB index is out of range"))?;
    x.db = db;
    x.client().db = db;
    Ok(Reply::ok())
}

fn wrongpass() -> CmdError {
    CmdError::Raw("WRONGPASS invalid username-password pair or user is disabled.".into())
}

fn auth(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let (user, pass): (&[u8], &[u8]) = if a.len() == 2 {
        if x.st.acl.default_nopass() {
            return Err(CmdError::err(
                "AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?",
            ));
        }
        (b"default", &a[1])
    } else {
        (&a[1], &a[2])
    };
    if !super::acl::authenticate(x, &a[0], user, pass) {
        return Err(wrongpass());
    }
    Ok(Reply::ok())
}

/// Redis's rule for names and SETINFO values: printable ASCII without spaces.
fn valid_attr(b: &[u8]) -> bool {
    b.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn set_name(x: &mut Exec<'_>, name: &Bytes) -> Result<(), CmdError> {
    if !valid_attr(name) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    x.client().name = if name.is_empty() {
        None
    } else {
        Some(name.clone())
    };
    Ok(())
}

fn hello(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let mut ver = None;
    let mut i = 1;
    if a.len() >= 2 {
        let v = crate::db::strnum::parse_i64(&a[1])
            .ok_or_else(|| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::Raw("NOPROTO unsupported protocol version".into()));
        }
        ver = Some(u8::try_from(v).unwrap_or(2));
        i = 2;
    }
    let mut creds = None;
    let mut name = None;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if is(&a[i], "auth") && more >= 2 {
            creds = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 3;
        } else if is(&a[i], "setname") && more >= 1 {
            name = Some(a[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                lossy(&a[i])
            )));
        }
    }
    if let Some((user, pass)) = creds {
        if !super::acl::authenticate(x, &a[0], &user, &pass) {
            return Err(wrongpass());
        }
    }
    if !x.client().authenticated && x.st.acl.auth_required {
        return Err(CmdError::Raw(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
             the RESP protocol version at the same time"
                .into(),
        ));
    }
    if let Some(n) = name {
        set_name(x, &n)?;
    }
    let c = x.client();
    if let Some(v) = ver {
        c.resp = v;
    }
    let kv = |k: &str, v: Reply| (Reply::bulk(k.as_bytes()), v);
    Ok(Reply::Map(vec![
        kv("server", Reply::bulk(b"redis")),
        kv("version", Reply::bulk(crate::REDIS_VERSION.as_bytes())),
        kv("proto", Reply::Int(i64::from(c.resp))),
        kv("id", Reply::Int(i64::try_from(c.id).unwrap_or(i64::MAX))),
        kv("mode", Reply::bulk(b"standalone")),
        kv("role", Reply::bulk(b"master")),
        kv("modules", Reply::Array(Vec::new())),
    ]))
}

fn client_id(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(i64::try_from(x.client().id).unwrap_or(i64::MAX)))
}

fn client_setname(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    set_name(x, &a[2])?;
    Ok(Reply::ok())
}

fn client_getname(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(x.client().name.as_deref().map_or(Reply::Null, Reply::bulk))
}

/// Redis's client types (CLIENT LIST/KILL TYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Normal,
    Master,
    Replica,
    Pubsub,
}

/// The type CLIENT LIST/KILL TYPE names.
fn client_type(name: &[u8]) -> Result<Kind, CmdError> {
    if is(name, "normal") {
        Ok(Kind::Normal)
    } else if is(name, "master") {
        Ok(Kind::Master)
    } else if is(name, "replica") || is(name, "slave") {
        Ok(Kind::Replica)
    } else if is(name, "pubsub") {
        Ok(Kind::Pubsub)
    } else {
        Err(CmdError::err(format!(
            "Unknown client type '{}'",
            lossy(name)
        )))
    }
}

/// A client's type, as Redis's getClientType: the master link, a replica (a connection
/// fed the replication stream), a subscriber, or normal.
fn kind_of(c: &Client) -> Kind {
    if c.master_link {
        Kind::Master
    } else if c
        .out
        .as_ref()
        .is_some_and(|m| m.replica.load(std::sync::atomic::Ordering::Relaxed))
    {
        Kind::Replica
    } else if c.subscription_count() + c.shard_channels.len() > 0 {
        Kind::Pubsub
    } else {
        Kind::Normal
    }
}

/// The calling client's CLIENT INFO line, as the ACL log keeps it for a denial (with the
/// running command's `argv-mem`, as Redis's `catClientInfoString` of that client).
pub fn own_info_line(x: &Exec<'_>) -> String {
    let map = &x.st.clients.map;
    // The internal client (key 0) stands for a caller that is not registered.
    map.get(&x.client_id)
        .or_else(|| map.get(&0))
        .map(|c| c.info_line_with(x.now_ms, line_facts(x, c)))
        .unwrap_or_default()
}

/// What CLIENT LIST shows of `c` beyond the client itself (see [`LineFacts`]).
fn line_facts(x: &Exec<'_>, c: &Client) -> LineFacts {
    LineFacts {
        blocked: x.st.blocked.clients.contains_key(&c.id),
        argv_mem: if c.id == x.client_id { x.argv_mem } else { 0 },
        running: c.id == x.client_id,
        replica: super::repl::is_replica(x.st, c.id),
        redirect_broken: c
            .tracking
            .as_ref()
            .is_some_and(|t| t.redirect != 0 && !x.st.clients.map.contains_key(&t.redirect)),
    }
}

fn client_list(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let now = x.now_ms;
    let mut out = String::new();
    let line = |out: &mut String, c: &Client| {
        out.push_str(&c.info_line_with(now, line_facts(x, c)));
        out.push('\n');
    };
    if a.len() == 4 && is(&a[2], "type") {
        let kind = client_type(&a[3])?;
        for c in x.st.clients.connected() {
            if kind_of(c) == kind {
                line(&mut out, c);
            }
        }
    } else if a.len() > 3 && is(&a[2], "id") {
        for id in &a[3..] {
            let id = crate::db::strnum::parse_i64(id)
                .ok_or_else(|| CmdError::err("Invalid client ID"))?;
            let found = u64::try_from(id)
                .ok()
                .filter(|&id| id != 0)
                .and_then(|id| x.st.clients.map.get(&id));
            if let Some(c) = found {
                line(&mut out, c);
            }
        }
    } else if a.len() != 2 {
        return Err(CmdError::Syntax);
    } else {
        for c in x.st.clients.connected() {
            line(&mut out, c);
        }
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out.into_bytes())))
}

fn client_info(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let now = x.now_ms;
    let id = x.client_id;
    let mut line = match x.st.clients.map.get(&id) {
        Some(c) => c.info_line_with(now, line_facts(x, c)),
        None => x.client().info_line(now),
    };
    line.push('\n');
    Ok(Reply::Verbatim("txt", Bytes::from(line.into_bytes())))
}

/// CLIENT KILL filters; every given filter must match.
#[derive(Default)]
struct KillFilter {
    addr: Option<String>,
    laddr: Option<String>,
    id: Option<u64>,
    kind: Option<Kind>,
    user: Option<Bytes>,
    skipme: bool,
}

impl KillFilter {
    fn matches(&self, c: &Client, me: u64) -> bool {
        self.addr.as_ref().is_none_or(|a| *a == c.addr)
            && self.laddr.as_ref().is_none_or(|a| *a == c.laddr)
            && self.id.is_none_or(|id| id == c.id)
            && self.user.as_ref().is_none_or(|u| *u == c.user)
            && self.kind.is_none_or(|k| k == kind_of(c))
            && !(self.skipme && c.id == me)
    }
}

fn parse_kill_filter(x: &Exec<'_>, a: &[Bytes]) -> Result<KillFilter, CmdError> {
    if a.len() == 3 {
        // Old form: CLIENT KILL <addr>; you may kill yourself.
        return Ok(KillFilter {
            addr: Some(lossy(&a[2])),
            ..KillFilter::default()
        });
    }
    if !a[2..].chunks_exact(2).remainder().is_empty() {
        return Err(CmdError::Syntax);
    }
    let mut f = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    for pair in a[2..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "id") {
            let id = crate::db::strnum::parse_i64(val)
                .filter(|&v| v >= 1)
                .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?;
            f.id = Some(u64::try_from(id).unwrap_or(u64::MAX));
        } else if is(opt, "type") {
            f.kind = Some(client_type(val)?);
        } else if is(opt, "addr") {
            f.addr = Some(lossy(val));
        } else if is(opt, "laddr") {
            f.laddr = Some(lossy(val));
        } else if is(opt, "user") {
            if x.st.acl.user(val).is_none() {
                return Err(CmdError::err(format!("No such user '{}'", lossy(val))));
            }
            f.user = Some(val.clone());
        } else if is(opt, "skipme") {
            f.skipme = if is(val, "yes") {
                true
            } else if is(val, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(f)
}

fn client_kill(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let f = parse_kill_filter(x, a)?;
    let me = x.client_id;
    let mut killed = 0i64;
    let mut kill_me = false;
    for c in x.st.clients.connected() {
        if !f.matches(c, me) {
            continue;
        }
        killed += 1;
        if c.id == me {
            kill_me = true;
        } else if let Some(kill) = &c.kill {
            // The connection task notices, stops and removes its table entry itself.
            kill();
        }
    }
    if kill_me {
        x.client().close_after_reply = true;
    }
    if a.len() == 3 {
        return if killed == 0 {
            Err(CmdError::err("No such client"))
        } else {
            Ok(Reply::ok())
        };
    }
    Ok(Reply::Int(killed))
}

fn client_setinfo(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (attr, val) = (&a[2], &a[3]);
    let lib_name = if is(attr, "lib-name") {
        true
    } else if is(attr, "lib-ver") {
        false
    } else {
        return Err(CmdError::err(format!(
            "Unrecognized option '{}'",
            lossy(attr)
        )));
    };
    if !valid_attr(val) {
        return Err(CmdError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            lossy(attr)
        )));
    }
    let c = x.client();
    if lib_name {
        c.lib_name = lossy(val);
    } else {
        c.lib_ver = lossy(val);
    }
    Ok(Reply::ok())
}

fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

fn client_no_evict(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    x.client().no_evict = on_off(&a[2])?;
    Ok(Reply::ok())
}

fn client_no_touch(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    x.client().no_touch = on_off(&a[2])?;
    Ok(Reply::ok())
}

/// CLIENT REPLY ON|OFF|SKIP: OFF silences every later reply until ON; SKIP silences its
/// own and the next command's (dispatch applies it, see `Client::reply_muted`).
fn client_reply(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let c = x.client();
    if is(&a[2], "on") {
        c.reply_off = false;
        c.reply_skip = 0;
    } else if is(&a[2], "off") {
        c.reply_off = true;
    } else if is(&a[2], "skip") {
        // This command's reply and the next one's.
        c.reply_skip = 2;
    } else {
        return Err(CmdError::Syntax);
    }
    if c.reply_off || c.reply_skip > 0 {
        x.st.clients.replies_muted = true;
    }
    Ok(Reply::ok())
}

/// CLIENT PAUSE timeout [WRITE|ALL]: hold every client's commands (ALL, the default) or
/// its writes (WRITE) for `timeout` ms. A longer pause already in force is kept; ALL over
/// WRITE wins, as Redis.
fn client_pause(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let ms =
        arg_i64(&a[2]).map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let all = match a.get(3) {
        _ if a.len() > 4 => return Err(CmdError::bad_subcommand(b"pause", "CLIENT")),
        None => true,
        Some(m) if is(m, "all") => true,
        Some(m) if is(m, "write") => false,
        Some(_) => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let until = x.now_ms.saturating_add(ms);
    x.st.pause = Some(match x.st.pause {
        Some((u, a)) if u > x.now_ms => (u.max(until), a || all),
        _ => (until, all),
    });
    Ok(Reply::ok())
}

/// CLIENT UNPAUSE: end a pause now.
fn client_unpause(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    x.st.pause = None;
    Ok(Reply::ok())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: end a blocking command of another client as if it
/// timed out, or with an -UNBLOCKED error. 1 if that client was blocked, else 0.
fn client_unblock(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let id = arg_i64(&a[2])?;
    let error = match a.get(3) {
        None => false,
        Some(r) if a.len() == 4 && is(r, "timeout") => false,
        Some(r) if a.len() == 4 && is(r, "error") => true,
        Some(_) => {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let Some(mut b) = u64::try_from(id)
        .ok()
        .and_then(|id| x.st.blocked.remove(id))
    else {
        return Ok(Reply::Int(0));
    };
    let text = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
    let reply = if error {
        Reply::Error(text.into())
    } else {
        b.timeout_reply.clone()
    };
    super::dispatch::count_unblocked(x.st, &b.argv, error.then_some(text));
    if let Some(wake) = b.wake.take() {
        wake(reply, 0);
    }
    Ok(Reply::Int(1))
}

fn client_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    // Redis 7.0.15's text, word for word (it lists neither the ID filters nor 7.2's
    // SETINFO / NO-TOUCH, which strata also implements).
    Ok(help_reply(
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::super::server::testkit::*;
    use super::*;

    fn hello_map(proto: i64, id: i64) -> Reply {
        Reply::Map(vec![
            (bulk("server"), bulk("redis")),
            (bulk("version"), bulk("7.0.15")),
            (bulk("proto"), Reply::Int(proto)),
            (bulk("id"), Reply::Int(id)),
            (bulk("mode"), bulk("standalone")),
            (bulk("role"), bulk("master")),
            (bulk("modules"), Reply::Array(vec![])),
        ])
    }

    #[test]
    fn ping_echo_quit_select() {
        let mut t = Tk::new();
        t.script(
            "PING => +PONG
            PING hi => $hi
            PING a b => -ERR wrong number of arguments for 'ping' command
            ECHO hi => $hi
            ECHO a b => -ERR wrong number of arguments for 'echo' command
            SELECT 16 => -ERR DB index is out of range
            SELECT -1 => -ERR DB index is out of range
            SELECT x => -ERR value is not an integer or out of range
            SELECT 1.5 => -ERR value is not an integer or out of range
            SELECT 4294967296 => -ERR value is out of range, value must between -2147483648 and 2147483647
            SELECT 15 => +OK
            SET k v => +OK",
        );
        assert_eq!(t.client(1).db, 15);
        assert!(t.st.ks.dbs[15].get(b"k").is_some());
        assert!(!t.client(1).close_after_reply);
        t.script("QUIT x => +OK");
        assert!(t.client(1).close_after_reply);
    }

    #[test]
    fn hello_handshake() {
        let mut t = Tk::new();
        assert_eq!(t.run("HELLO 3"), hello_map(3, 1));
        assert_eq!(t.client(1).resp, 3);
        assert_eq!(t.run("HELLO"), hello_map(3, 1));
        t.script(r"
            HELLO 4 => -NOPROTO unsupported protocol version
            HELLO x => -ERR Protocol version is not an integer or out of range
            HELLO 3 foo => -ERR Syntax error in HELLO option 'foo'
            HELLO 3 AUTH a => -ERR Syntax error in HELLO option 'AUTH'
            HELLO 3 SETNAME => -ERR Syntax error in HELLO option 'SETNAME'
            HELLO 3 SETNAME a\sb => -ERR Client names cannot contain spaces, newlines or special characters.
            HELLO 3 AUTH bob x => -WRONGPASS invalid username-password pair or user is disabled.");
        // No password configured: the default user takes any password.
        assert_eq!(t.run("HELLO 2 AUTH default x SETNAME me"), hello_map(2, 1));
        assert_eq!(t.client(1).name.as_deref(), Some(&b"me"[..]));
    }

    #[test]
    fn auth_flows() {
        let mut t = Tk::new();
        t.script(r"
            AUTH x => -ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?
            AUTH default x => +OK
            AUTH bob x => -WRONGPASS invalid username-password pair or user is disabled.
            AUTH a b c => -ERR syntax error");
        t.st.config.requirepass = "secret".into();
        t.st.acl.configure(&t.st.config);
        t.add_client(2, false);
        // NOAUTH comes from dispatch for every command without NO_AUTH.
        t.script_as(2, r"
            PING => -NOAUTH Authentication required.
            CLIENT ID => -NOAUTH Authentication required.
            HELLO 3 => -NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time
            HELLO 4 => -NOPROTO unsupported protocol version
            AUTH nope => -WRONGPASS invalid username-password pair or user is disabled.
            HELLO 3 AUTH default nope => -WRONGPASS invalid username-password pair or user is disabled.
            AUTH secret => +OK
            PING => +PONG
            AUTH nope => -WRONGPASS invalid username-password pair or user is disabled.
            PING => +PONG
            SELECT 3 => +OK
            CLIENT SETNAME n => +OK
            CLIENT NO-EVICT on => +OK
            RESET => +RESET
            PING => -NOAUTH Authentication required.");
        let c = t.client(2);
        let after_reset = (c.db, c.resp, c.name.is_none(), c.no_evict, c.authenticated);
        assert_eq!(after_reset, (0, 2, true, false, false));
        let hello = t.runv(
            2,
            &[
                b"HELLO", b"3", b"AUTH", b"default", b"secret", b"SETNAME", b"x",
            ],
        );
        assert_eq!(hello, hello_map(3, 2));
        t.script_as(2, "CLIENT GETNAME => $x\nAUTH default secret => +OK");
    }

    #[test]
    fn client_names_and_list() {
        let mut t = Tk::new();
        t.script(r"
            CLIENT GETNAME => _
            CLIENT SETNAME ~!ok => +OK
            CLIENT GETNAME => $~!ok
            CLIENT SETNAME a\sb => -ERR Client names cannot contain spaces, newlines or special characters.
            CLIENT SETNAME \x7f => -ERR Client names cannot contain spaces, newlines or special characters.
            CLIENT SETNAME => -ERR wrong number of arguments for 'client|setname' command
            CLIENT ID => :1
            CLIENT LIST TYPE foo => -ERR Unknown client type 'foo'
            CLIENT LIST ID x => -ERR Invalid client ID
            CLIENT LIST ID => -ERR syntax error
            CLIENT LIST foo => -ERR syntax error
            CLIENT => -ERR wrong number of arguments for 'client' command");
        t.add_client(2, true);
        // (Redis 7.0.15's fields; argv-mem is the bytes of the arguments of the command
        // running, client 1's; tot-mem adds the buffers and about 800 bytes for the client.)
        let line = |id: u64, name: &str, cmd: &str, argv: usize| {
            format!(
                "id={id} addr=127.0.0.1:{} laddr=127.0.0.1:6379 fd=8 name={name} age=0 idle=0 \
                 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem={argv} \
                 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem={} events=r \
                 cmd={cmd} user=default redir=-1 resp=2\n",
                5000 + id,
                16384 + 800 + argv
            )
        };
        let text = |s: String| Reply::Verbatim("txt", Bytes::from(s));
        let both = |argv| {
            let a = line(1, "~!ok", "client|list", argv);
            text(format!("{a}{}", line(2, "", "NULL", 0)))
        };
        assert_eq!(t.run("CLIENT LIST"), both(10));
        assert_eq!(t.run("CLIENT LIST TYPE normal"), both(20));
        assert_eq!(t.run("CLIENT LIST TYPE pubsub"), text(String::new()));
        assert_eq!(t.run("CLIENT LIST ID 2 99"), text(line(2, "", "NULL", 0)));
        assert_eq!(
            t.run("CLIENT INFO"),
            text(line(1, "~!ok", "client|info", 10))
        );
        t.script("CLIENT SETNAME \\e => +OK\nCLIENT GETNAME => _");
    }

    #[test]
    fn client_flags_and_setinfo() {
        let mut t = Tk::new();
        t.script(r"
            CLIENT NO-EVICT maybe => -ERR syntax error
            CLIENT NO-EVICT ON => +OK
            CLIENT NO-TOUCH on => +OK
            CLIENT SETINFO LIB-NAME redis-rs => +OK
            CLIENT SETINFO lib-ver 0.27.0 => +OK
            CLIENT SETINFO foo x => -ERR Unrecognized option 'foo'
            CLIENT SETINFO lib-name a\sb => -ERR lib-name cannot contain spaces, newlines or special characters.");
        let c = t.client(1);
        assert!(c.info_line(1_000_000).contains(" flags=eT "));
        assert_eq!(
            (c.lib_name.as_str(), c.lib_ver.as_str()),
            ("redis-rs", "0.27.0")
        );
        t.script("CLIENT NO-TOUCH off => +OK");
        assert!(!t.client(1).no_touch);
        let Reply::Array(h) = t.run("CLIENT HELP") else {
            panic!()
        };
        let head = "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:";
        assert_eq!(h[0], simple(head));
        assert_eq!(h.last(), Some(&simple("    Prints this help.")));
    }

    #[test]
    fn client_kill_forms() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let mut t = Tk::new();
        let kills = Arc::new(AtomicUsize::new(0));
        for id in [2, 3] {
            t.add_client(id, true);
            let k = kills.clone();
            let c = t.st.clients.map.get_mut(&id).unwrap();
            c.kill = Some(Arc::new(move || {
                k.fetch_add(1, Ordering::SeqCst);
            }));
        }
        t.script(
            "CLIENT KILL 1.2.3.4:5 => -ERR No such client
            CLIENT KILL ID x => -ERR client-id should be greater than 0
            CLIENT KILL ID 0 => -ERR client-id should be greater than 0
            CLIENT KILL TYPE foo => -ERR Unknown client type 'foo'
            CLIENT KILL USER bob => -ERR No such user 'bob'
            CLIENT KILL USER default SKIPME maybe => -ERR syntax error
            CLIENT KILL FOO 1 => -ERR syntax error
            CLIENT KILL ID 1 x => -ERR syntax error
            CLIENT KILL ID 9999 => :0
            CLIENT KILL TYPE pubsub => :0
            CLIENT KILL MAXAGE 5 => -ERR syntax error",
        );
        assert_eq!(kills.load(Ordering::SeqCst), 0);
        t.script("CLIENT KILL 127.0.0.1:5002 => +OK");
        assert_eq!(kills.load(Ordering::SeqCst), 1);
        t.script("CLIENT KILL ADDR 127.0.0.1:5003 LADDR 127.0.0.1:6379 => :1");
        assert_eq!(kills.load(Ordering::SeqCst), 2);
        // The new form skips the caller by default.
        t.script("CLIENT KILL TYPE normal => :2");
        assert!(!t.client(1).close_after_reply);
        t.script("CLIENT KILL ID 1 SKIPME no => :1");
        assert!(t.client(1).close_after_reply);
    }
}
