//! Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE,
//! PUBLISH, SPUBLISH, PUBSUB. The registry lives in the engine state; delivery goes
//! through each subscriber's `push` closure into its connection's queue (the connection
//! writes it and enforces `client-output-buffer-limit pubsub`: a subscriber over the
//! limit is disconnected instead of growing memory). Confirmations and messages are
//! `Reply::Push`: RESP3 push frames, RESP2 arrays. Nothing here is journaled.

use bytes::Bytes;

use super::exec::{Exec, State};
use super::{cmd, container, CmdError, CommandSpec, Flags, Group};
use crate::glob::glob_match;
use crate::resp::Reply;

/// Register the pub/sub commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::PubSub;
    let sub = F::PUBSUB | F::NOSCRIPT | F::LOADING | F::STALE;
    t.push(
        cmd("subscribe", -2, sub, subscribe)
            .group(g)
            .doc("Listens for messages published to channels.", "2.0.0"),
    );
    t.push(
        cmd("unsubscribe", -1, sub, unsubscribe)
            .group(g)
            .doc("Stops listening to messages posted to channels.", "2.0.0"),
    );
    t.push(cmd("psubscribe", -2, sub, psubscribe).group(g).doc(
        "Listens for messages published to channels that match one or more patterns.",
        "2.0.0",
    ));
    t.push(cmd("punsubscribe", -1, sub, punsubscribe).group(g).doc(
        "Stops listening to messages published to channels that match one or more patterns.",
        "2.0.0",
    ));
    t.push(
        cmd("ssubscribe", -2, sub, ssubscribe)
            .keys(1, -1, 1)
            .group(g)
            .doc("Listens for messages published to shard channels.", "7.0.0"),
    );
    t.push(
        cmd("sunsubscribe", -1, sub, sunsubscribe)
            .keys(1, -1, 1)
            .group(g)
            .doc(
                "Stops listening to messages posted to shard channels.",
                "7.0.0",
            ),
    );
    t.push(
        cmd(
            "publish",
            3,
            F::PUBSUB | F::LOADING | F::STALE | F::FAST,
            publish,
        )
        .group(g)
        .doc("Posts a message to a channel.", "2.0.0"),
    );
    t.push(
        cmd(
            "spublish",
            3,
            F::PUBSUB | F::LOADING | F::STALE | F::FAST,
            spublish,
        )
        .keys(1, 1, 1)
        .group(g)
        .doc("Post a message to a shard channel", "7.0.0"),
    );
    let ps = F::PUBSUB | F::LOADING | F::STALE;
    let mut c = container(
        "pubsub",
        -2,
        F::empty(),
        vec![
            cmd("channels", -2, ps, pubsub_channels)
                .group(g)
                .doc("Returns the active channels.", "2.8.0"),
            cmd("numsub", -2, ps, pubsub_numsub)
                .group(g)
                .doc("Returns a count of subscribers to channels.", "2.8.0"),
            cmd("numpat", 2, ps, pubsub_numpat)
                .group(g)
                .doc("Returns a count of unique pattern subscriptions.", "2.8.0"),
            cmd("shardchannels", -2, ps, pubsub_shardchannels)
                .group(g)
                .doc("Returns the active shard channels.", "7.0.0"),
            cmd("shardnumsub", -2, ps, pubsub_shardnumsub).group(g).doc(
                "Returns the count of subscribers of shard channels.",
                "7.0.0",
            ),
            cmd("help", 2, F::LOADING | F::STALE, pubsub_help)
                .acl(&["slow"])
                .doc(
                    "Returns helpful text about the different subcommands.",
                    "6.2.0",
                ),
        ],
    )
    .group(g)
    .doc("A container for Pub/Sub commands.", "2.8.0");
    c.group = g;
    t.push(c);
}

fn push(kind: &str, a: Reply, n: Reply) -> Reply {
    Reply::Push(vec![Reply::bulk(kind.as_bytes()), a, n])
}

fn count(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

fn list_of<'a>(x: &'a mut Exec<'_>, k: Kind) -> &'a mut Vec<Bytes> {
    let c = x.client();
    match k {
        Kind::Channel => &mut c.channels,
        Kind::Pattern => &mut c.patterns,
        Kind::Shard => &mut c.shard_channels,
    }
}

fn reply_count(x: &mut Exec<'_>, k: Kind) -> usize {
    let c = x.client();
    match k {
        Kind::Shard => c.shard_channels.len(),
        _ => c.subscription_count(),
    }
}

fn registry_add(st: &mut State, k: Kind, name: &Bytes, id: u64) {
    match k {
        Kind::Channel => st.pubsub.channels.entry(name.clone()).or_default().push(id),
        Kind::Shard => st
            .pubsub
            .shard_channels
            .entry(name.clone())
            .or_default()
            .push(id),
        Kind::Pattern => match st.pubsub.patterns.iter_mut().find(|(p, _)| p == name) {
            Some((_, ids)) => ids.push(id),
            None => st.pubsub.patterns.push((name.clone(), vec![id])),
        },
    }
}

fn registry_remove(st: &mut State, k: Kind, name: &[u8], id: u64) {
    match k {
        Kind::Channel | Kind::Shard => {
            let map = if k == Kind::Channel {
                &mut st.pubsub.channels
            } else {
                &mut st.pubsub.shard_channels
            };
            if let Some(ids) = map.get_mut(name) {
                ids.retain(|&c| c != id);
                if ids.is_empty() {
                    map.remove(name);
                }
            }
        }
        Kind::Pattern => {
            for (_, ids) in st.pubsub.patterns.iter_mut().filter(|(p, _)| p == name) {
                ids.retain(|&c| c != id);
            }
            st.pubsub.patterns.retain(|(_, ids)| !ids.is_empty());
        }
    }
}

fn sub_generic(x: &mut Exec<'_>, a: &[Bytes], k: Kind, word: &str) -> Result<Reply, CmdError> {
    let id = x.client_id;
    let mut out = Vec::new();
    for name in &a[1..] {
        if !list_of(x, k).contains(name) {
            list_of(x, k).push(name.clone());
            registry_add(x.st, k, name, id);
        }
        let n = reply_count(x, k);
        out.push(push(word, Reply::bulk(name), count(n)));
    }
    Ok(Reply::Many(out))
}

fn unsub_generic(x: &mut Exec<'_>, a: &[Bytes], k: Kind, word: &str) -> Result<Reply, CmdError> {
    let id = x.client_id;
    let names: Vec<Bytes> = if a.len() > 1 {
        a[1..].to_vec()
    } else {
        list_of(x, k).clone()
    };
    if names.is_empty() {
        let n = reply_count(x, k);
        return Ok(Reply::Many(vec![push(word, Reply::Null, count(n))]));
    }
    let mut out = Vec::new();
    for name in names {
        let list = list_of(x, k);
        if let Some(pos) = list.iter().position(|c| *c == name) {
            list.remove(pos);
            registry_remove(x.st, k, &name, id);
        }
        let n = reply_count(x, k);
        out.push(push(word, Reply::bulk(&name), count(n)));
    }
    Ok(Reply::Many(out))
}

/// Remove every subscription of `id` (disconnect, RESET).
pub fn unsubscribe_all(st: &mut State, id: u64) {
    let Some(c) = st.clients.map.get_mut(&id) else {
        return;
    };
    let chans = std::mem::take(&mut c.channels);
    let pats = std::mem::take(&mut c.patterns);
    let shards = std::mem::take(&mut c.shard_channels);
    for ch in chans {
        registry_remove(st, Kind::Channel, &ch, id);
    }
    for p in pats {
        registry_remove(st, Kind::Pattern, &p, id);
    }
    for s in shards {
        registry_remove(st, Kind::Shard, &s, id);
    }
}

fn subscribe(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    sub_generic(x, a, Kind::Channel, "subscribe")
}
fn unsubscribe(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    unsub_generic(x, a, Kind::Channel, "unsubscribe")
}
fn psubscribe(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    sub_generic(x, a, Kind::Pattern, "psubscribe")
}
fn punsubscribe(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    unsub_generic(x, a, Kind::Pattern, "punsubscribe")
}
fn ssubscribe(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    sub_generic(x, a, Kind::Shard, "ssubscribe")
}
fn sunsubscribe(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    unsub_generic(x, a, Kind::Shard, "sunsubscribe")
}

/// One message (`message`, `pmessage` or `smessage` and its strings), encoded straight
/// from the strings at most once per protocol version however many receive it.
struct Encoded<'a> {
    parts: &'a [&'a [u8]],
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl<'a> Encoded<'a> {
    fn new(parts: &'a [&'a [u8]]) -> Self {
        Encoded {
            parts,
            resp2: None,
            resp3: None,
        }
    }

    /// The message as a reply (the publisher's own copy, sent before its PUBLISH reply).
    fn reply(&self) -> Reply {
        Reply::Push(self.parts.iter().map(|p| Reply::bulk(p)).collect())
    }

    /// The message's bytes for a client speaking `resp`.
    fn bytes(&mut self, resp: u8) -> &[u8] {
        let (slot, proto) = if resp >= 3 {
            (&mut self.resp3, 3)
        } else {
            (&mut self.resp2, 2)
        };
        let parts = self.parts;
        slot.get_or_insert_with(|| {
            let mut out = Vec::with_capacity(crate::resp::encode::push_of_bulks_len(parts));
            crate::resp::encode::push_of_bulks(parts, proto, &mut out);
            out
        })
    }
}

/// Deliver `msg` to client `id`; a client whose queue refuses it is disconnected.
fn deliver(st: &mut State, id: u64, msg: &mut Encoded) -> bool {
    let Some(c) = st.clients.map.get(&id) else {
        return false;
    };
    match &c.push {
        Some(p) if p(msg.bytes(c.resp)) => true,
        _ => {
            if let Some(k) = &c.kill {
                tracing::warn!(
                    client = id,
                    "disconnecting a subscriber over client-output-buffer-limit pubsub"
                );
                k();
            }
            false
        }
    }
}

fn with_own(own: Vec<Reply>, n: usize) -> Reply {
    if own.is_empty() {
        count(n)
    } else {
        let mut v = own;
        v.push(count(n));
        Reply::Many(v)
    }
}

/// Deliver `msg` on `channel` to its subscribers, then to every matching pattern's
/// subscribers; `keep(id, message)` may claim a message instead of queueing it (PUBLISH
/// keeps the publisher's own). Returns how many receivers got it.
fn fan_out(
    st: &mut State,
    ch: &[u8],
    msg: &[u8],
    mut keep: impl FnMut(u64, &Encoded<'_>) -> bool,
) -> usize {
    let mut n = 0;
    let subs = st.pubsub.channels.get(ch).cloned().unwrap_or_default();
    if !subs.is_empty() {
        let parts: [&[u8]; 3] = [b"message", ch, msg];
        let mut m = Encoded::new(&parts);
        for id in subs {
            if keep(id, &m) || deliver(st, id, &mut m) {
                n += 1;
            }
        }
    }
    let pats: Vec<(Bytes, Vec<u64>)> = st
        .pubsub
        .patterns
        .iter()
        .filter(|(p, _)| glob_match(p, ch, false))
        .cloned()
        .collect();
    for (p, ids) in pats {
        let parts: [&[u8]; 4] = [b"pmessage", &p, ch, msg];
        let mut m = Encoded::new(&parts);
        for id in ids {
            if keep(id, &m) || deliver(st, id, &mut m) {
                n += 1;
            }
        }
    }
    n
}

/// Publish `message` on `channel` to channel and pattern subscribers (keyspace
/// notifications): to client `me` (whose command runs) in its reply stream ahead of the
/// reply (`PubSub::own`), to every other receiver through its push queue.
pub fn notify_to(st: &mut State, channel: &[u8], message: &[u8], me: Option<u64>) {
    if st.pubsub.channels.is_empty() && st.pubsub.patterns.is_empty() {
        return;
    }
    let mut own = Vec::new();
    fan_out(st, channel, message, |id, m| {
        if Some(id) == me {
            own.push((id, m.reply()));
            true
        } else {
            false
        }
    });
    st.pubsub.own.extend(own);
}

/// A client command ended with `reply`: the keyspace notifications its own subscriptions
/// got while it ran go first, but those sent after the point the command marked
/// (`Exec::reply_before_events`) go after it. A command that parked its client (BLPOP …)
/// sends no reply now: they go out at once, through the client's push queue.
pub fn own_first(st: &mut State, id: u64, reply: Reply, parked: bool) -> Reply {
    let reply_at = st.pubsub.reply_at.take();
    if st.pubsub.own.is_empty() {
        return reply;
    }
    let mut all = Vec::new();
    let mut after = Vec::new();
    for (i, (dest, msg)) in std::mem::take(&mut st.pubsub.own).into_iter().enumerate() {
        if dest == id && !parked {
            if reply_at.is_some_and(|at| i >= at) {
                after.push(msg);
            } else {
                all.push(msg);
            }
        } else {
            super::tracking::push_to(st, dest, &msg);
        }
    }
    if all.is_empty() && after.is_empty() {
        return reply;
    }
    match reply {
        Reply::Many(v) => all.extend(v),
        r => all.push(r),
    }
    all.extend(after);
    Reply::Many(all)
}

fn publish(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (ch, msg) = (&a[1], &a[2]);
    if x.st.replicas.streaming() {
        // Replicas get PUBLISH (their subscribers hear it too); the log does not keep it.
        let at = x.journal.len();
        let db = u16::try_from(x.db).unwrap_or(0);
        x.repl.extra.push((at, (db, a.to_vec())));
    }
    let me = x.client_id;
    let mut own = Vec::new();
    let n = fan_out(x.st, ch, msg, |id, m| {
        if id == me {
            own.push(m.reply());
            true
        } else {
            false
        }
    });
    Ok(with_own(own, n))
}

fn spublish(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (ch, msg) = (&a[1], &a[2]);
    let mut n = 0;
    let mut own = Vec::new();
    let subs =
        x.st.pubsub
            .shard_channels
            .get(ch)
            .cloned()
            .unwrap_or_default();
    let parts: [&[u8]; 3] = [b"smessage", ch, msg];
    let mut m = Encoded::new(&parts);
    for id in subs {
        // The publisher's own copy goes before its reply (Redis writes it into the same
        // output buffer first).
        if id == x.client_id {
            own.push(m.reply());
            n += 1;
        } else if deliver(x.st, id, &mut m) {
            n += 1;
        }
    }
    Ok(with_own(own, n))
}

fn names_matching<'a>(it: impl Iterator<Item = &'a Bytes>, pattern: Option<&Bytes>) -> Reply {
    let mut v: Vec<&Bytes> = it
        .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
        .collect();
    v.sort();
    Reply::Array(v.into_iter().map(|c| Reply::bulk(c)).collect())
}

fn pubsub_channels(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 3 {
        return Err(CmdError::bad_subcommand(&a[1], "PUBSUB"));
    }
    Ok(names_matching(x.st.pubsub.channels.keys(), a.get(2)))
}

fn pubsub_shardchannels(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if a.len() > 3 {
        return Err(CmdError::bad_subcommand(&a[1], "PUBSUB"));
    }
    Ok(names_matching(x.st.pubsub.shard_channels.keys(), a.get(2)))
}

/// Channel, count, channel, count…: a flat array in RESP3 too (Redis 7.0 replies an
/// array, not a map; clients such as redis-py parse it as pairs).
fn numsub(map: &super::exec::ChannelMap, a: &[Bytes]) -> Reply {
    Reply::Array(
        a[2..]
            .iter()
            .flat_map(|c| [Reply::bulk(c), count(map.get(c).map_or(0, Vec::len))])
            .collect(),
    )
}

fn pubsub_numsub(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(numsub(&x.st.pubsub.channels, a))
}

fn pubsub_shardnumsub(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(numsub(&x.st.pubsub.shard_channels, a))
}

fn pubsub_numpat(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(count(x.st.pubsub.patterns.len()))
}

fn pubsub_help(_x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        lines.iter().map(|l| Reply::Simple((*l).into())).collect(),
    ))
}
