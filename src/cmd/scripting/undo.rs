//! Discarding the writes of an asynchronous Lua debugging session (SCRIPT DEBUG YES).
//! Redis runs such a session in a forked child, so nothing it does reaches the server's
//! dataset. strata cannot fork: the session runs in the server (under the engine lock,
//! as a SYNC one), and this module makes its writes vanish instead. Before each command
//! the script calls, the entries of the keys it names are copied once (value and
//! expiry, or their absence); the command's journal effects are dropped as soon as it
//! returns, so nothing of the session is ever logged; when the session ends, every
//! copied key is put back as it was. Memory then holds exactly what the log holds.
//! Commands whose effects reach past the keys they name (FLUSHDB, FLUSHALL, SWAPDB,
//! MOVE, COPY … DB, keyless writes) are refused in such a session.

use std::collections::HashSet;

use bytes::Bytes;

use super::super::cmdmeta;
use super::super::exec::Exec;
use super::super::{CommandSpec, Flags};
use crate::db::value::Entry;

/// A key's entry and expiry (-1 = none) before the session; None if it was absent.
type Before = Option<(Entry, i64)>;

/// The keys an asynchronous debugging session changed, as they were before.
#[derive(Default)]
pub struct Undo {
    /// (db, key, how it was), first sight only.
    saved: Vec<(usize, Bytes, Before)>,
    seen: HashSet<(usize, Bytes)>,
}

impl std::fmt::Debug for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Undo")
            .field("keys", &self.saved.len())
            .finish()
    }
}

/// Why `spec` cannot run in an asynchronous session (its effects could not be undone).
pub fn refusal(spec: &CommandSpec, argv: &[Bytes]) -> Option<String> {
    if !spec.flags.contains(Flags::WRITE) {
        return None;
    }
    let name = spec.full_name.as_str();
    let cross_db = matches!(name, "flushdb" | "flushall" | "swapdb" | "move" | "migrate")
        || (name == "copy" && argv.iter().any(|a| a.eq_ignore_ascii_case(b"db")));
    let meta = spec.meta.unwrap_or(&cmdmeta::M);
    if cross_db || !cmdmeta::has_keys(name, meta) {
        return Some(format!(
            "ERR '{name}' cannot run in an asynchronous debugging session (SCRIPT DEBUG YES), whose changes strata discards key by key; use SCRIPT DEBUG SYNC"
        ));
    }
    None
}

impl Undo {
    /// Before `argv` runs in the session: copy the keys it names (in the script's
    /// current database) that are not copied yet.
    pub fn save(&mut self, x: &Exec<'_>, spec: &CommandSpec, argv: &[Bytes]) {
        let meta = spec.meta.unwrap_or(&cmdmeta::M);
        let db = x.db;
        let Some(d) = x.st.ks.dbs.get(db) else {
            return;
        };
        for k in cmdmeta::keys_of(&spec.full_name, meta, argv) {
            let Some(key) = argv.get(k.pos) else { continue };
            if !self.seen.insert((db, key.clone())) {
                continue;
            }
            let before = d.get(key).map(|e| (e.clone(), d.expire_of(key, e)));
            self.saved.push((db, key.clone(), before));
        }
    }

    /// The session ended: put every copied key back as it was.
    pub fn restore(self, x: &mut Exec<'_>) {
        for (db, key, before) in self.saved {
            let Some(d) = x.st.ks.dbs.get_mut(db) else {
                continue;
            };
            d.remove(&key);
            if let Some((entry, at)) = before {
                d.insert_expiring(&key, entry, at);
            }
        }
    }
}
