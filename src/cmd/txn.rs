//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH. Queueing happens in the one
//! dispatch path (`dispatch::call` queues every command but these while the client is in
//! MULTI, and a command rejected before queueing dooms the transaction). EXEC runs the
//! queue inside one execution unit, so its effects are one log record: a crash keeps all
//! of it or none. WATCH is broken by any journaled change of the key (the engine flags
//! watchers from each unit's effects), FLUSHDB/FLUSHALL/SWAPDB, or the key expiring.

use bytes::Bytes;

use super::exec::Exec;
use super::{cmd, dispatch, CmdError, CommandSpec, Flags, Group};
use crate::resp::Reply;

/// Register the transaction commands.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let base = F::NOSCRIPT | F::LOADING | F::STALE;
    let g = Group::Transactions;
    t.push(
        cmd("multi", 1, base | F::FAST | F::ALLOW_BUSY, multi)
            .group(g)
            .doc("Starts a transaction.", "1.2.0"),
    );
    t.push(
        cmd("exec", 1, base | F::SKIP_SLOWLOG, exec)
            .group(g)
            .doc("Executes all commands in a transaction.", "1.2.0"),
    );
    t.push(
        cmd("discard", 1, base | F::FAST | F::ALLOW_BUSY, discard)
            .group(g)
            .doc("Discards a transaction.", "2.0.0"),
    );
    t.push(
        cmd("watch", -2, base | F::FAST | F::ALLOW_BUSY, watch)
            .keys(1, -1, 1)
            .group(g)
            .doc(
                "Monitors changes to keys to determine the execution of a transaction.",
                "2.2.0",
            ),
    );
    t.push(
        cmd("unwatch", 1, base | F::FAST | F::ALLOW_BUSY, unwatch)
            .group(g)
            .doc("Forgets about watched keys of a transaction.", "2.2.0"),
    );
}

fn multi(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let c = x.client();
    if c.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    c.multi = Some(Vec::new());
    c.multi_aborted = false;
    Ok(Reply::ok())
}

fn discard(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let id = x.client_id;
    let c = x.client();
    if c.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    c.multi_aborted = false;
    x.st.unwatch_all(id);
    Ok(Reply::ok())
}

/// True if a watched key exists but is logically expired now (Redis fails EXEC then),
/// unless it was already expired when WATCHed.
fn watched_key_expired(x: &mut Exec<'_>) -> bool {
    let now = x.now_ms;
    let keys = x.client().watched.clone();
    let stale = x.client().watched_stale.clone();
    keys.iter()
        .filter(|s| !stale.contains(s))
        .any(|(db, k)| x.st.ks.dbs.get(*db).is_some_and(|d| d.is_expired(k, now)))
}

fn exec(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let id = x.client_id;
    let Some(queue) = x.client().multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    let aborted = std::mem::take(&mut x.client().multi_aborted);
    if aborted {
        x.st.unwatch_all(id);
        return Err(CmdError::Raw(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    let broken = x.client().watch_dirty || watched_key_expired(x);
    x.st.unwatch_all(id);
    if broken {
        return Ok(Reply::NullArray);
    }
    x.in_exec = true;
    x.client().exec_queue = Some((queue.len(), super::client::queue_mem(&queue)));
    // (Notifications a command sends this client's own subscriptions go just before that
    // command's reply, inside the array, as Redis writes them.)
    let replies = queue
        .iter()
        .map(|argv| {
            let r = dispatch::call(x, argv);
            super::pubsub::own_first(x.st, id, r, false)
        })
        .collect();
    x.client().exec_queue = None;
    x.in_exec = false;
    Ok(Reply::Array(replies))
}

fn watch(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    if x.client().multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let id = x.client_id;
    let db = x.db;
    for k in &a[1..] {
        let slot = (db, k.clone());
        if x.client().watched.contains(&slot) {
            continue;
        }
        let now = x.now_ms;
        let stale = x.st.ks.dbs[db].is_expired(k, now);
        if stale {
            x.client().watched_stale.push(slot.clone());
        } else if x.st.ks.dbs[db].get(k).is_none() {
            x.client().watched_absent.push(slot.clone());
        }
        x.client().watched.push(slot.clone());
        x.st.watched_keys.entry(slot).or_default().push(id);
    }
    Ok(Reply::ok())
}

fn unwatch(x: &mut Exec<'_>, _a: &[Bytes]) -> Result<Reply, CmdError> {
    let id = x.client_id;
    x.st.unwatch_all(id);
    Ok(Reply::ok())
}
