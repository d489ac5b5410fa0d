//! DUMP and RESTORE: a key's value in Redis's DUMP payload format (RDB value encoding, the
//! RDB version as u16 LE, CRC-64 as u64 LE; see `rdb::value`), with Redis 7.0's option
//! parsing, checks and error texts (`cluster.c`). Journaling: RESTORE logs itself as
//! given, a relative TTL rewritten to absolute with ABSTTL appended (Redis's
//! propagation), so replay never reads the clock; a TTL already in the past deletes the
//! key (journaled as `DEL`) or does nothing.

use bytes::Bytes;

use super::exec::{arg_i64, is, Caller, Exec};
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::argv;
use crate::config::Config;
use crate::db::evict;
use crate::db::Entry;
use crate::rdb::value::{dump as dump_value, restore as restore_value, PayloadError};
use crate::rdb::Limits;
use crate::resp::Reply;

/// Register DUMP and RESTORE.
pub fn register(t: &mut Vec<CommandSpec>) {
    use Flags as F;
    let g = Group::Generic;
    t.push(
        cmd("dump", 2, F::READONLY, dump)
            .keys(1, 1, 1)
            .group(g)
            .doc(
                "Return a serialized version of the value stored at the specified key.",
                "2.6.0",
            ),
    );
    t.push(
        cmd("restore", -4, F::WRITE | F::DENYOOM, restore)
            .keys(1, 1, 1)
            .group(g)
            .journal(Journal::Custom)
            .acl(&["keyspace", "dangerous"])
            .doc(
                "Create a key using the provided serialized value, previously obtained using DUMP.",
                "2.6.0",
            ),
    );
}

/// The encoding thresholds in force, for building restored values.
pub fn limits(x: &Exec<'_>) -> Limits {
    limits_from(&x.st.config)
}

/// The encoding thresholds a config sets.
pub fn limits_from(c: &Config) -> Limits {
    Limits {
        hash_entries: c.hash_max_listpack_entries,
        hash_value: c.hash_max_listpack_value,
        zset_entries: c.zset_max_listpack_entries,
        zset_value: c.zset_max_listpack_value,
        set_intset: c.set_max_intset_entries,
        list_fill: c.list_max_listpack_size,
    }
}

fn dump(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    match x.lookup_read(&a[1]) {
        None => Ok(Reply::Null),
        Some(e) => Ok(Reply::Bulk(Bytes::from(dump_value(&e.value)))),
    }
}

fn restore(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < a.len() {
        let more = a.len() - j - 1;
        if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "absttl") {
            absttl = true;
        } else if is(&a[j], "idletime") && more >= 1 && freq.is_none() {
            let v = arg_i64(&a[j + 1])?;
            if v < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if is(&a[j], "freq") && more >= 1 && idle.is_none() {
            let v = arg_i64(&a[j + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let key = &a[1];
    if !replace && x.lookup_write(key).is_some() {
        return Err(CmdError::Raw(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = arg_i64(&a[2])?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let lim = limits(x);
    let value = match restore_value(&a[3], &lim) {
        Ok(v) => v,
        Err(PayloadError::VersionOrChecksum) => {
            return Err(CmdError::err("DUMP payload version or checksum are wrong"))
        }
        Err(PayloadError::BadData(_)) => return Err(CmdError::err("Bad data format")),
    };
    let deleted = replace && x.db().remove(key).is_some();
    let when = if ttl != 0 && !absttl {
        ttl.saturating_add(x.now_ms)
    } else {
        ttl
    };
    // Replay applies logged effects only: it never drops a key for its TTL.
    if ttl != 0 && when <= x.now_ms && x.caller != Caller::Replay {
        if deleted {
            x.touch_dirty(1);
            x.notify('g', "del", key);
            x.journal(argv!["DEL", key]);
        }
        return Ok(Reply::ok());
    }
    let mut e = Entry::new(value, x.now_ms);
    if ttl != 0 {
        e.expire_at = when;
    }
    // Redis's objectSetLRUOrLFU: FREQ sets the LFU counter under an LFU policy, IDLETIME
    // back-dates the LRU clock otherwise; the other option is ignored.
    if x.st.config.maxmemory_policy.is_lfu() {
        if let Some(f) = freq {
            let f = u32::try_from(f).unwrap_or(0);
            e.access_s = (evict::lfu_minutes(x.now_ms) << 8) | f;
        }
    } else if let Some(idle) = idle {
        let clock = i64::from(evict::lru_clock(x.now_ms));
        let mut abs = clock - idle;
        if abs < 0 {
            abs += i64::from(evict::LRU_CLOCK_MAX);
        }
        e.access_s = u32::try_from(abs.max(0)).unwrap_or(0);
    }
    x.insert_key(key, e);
    x.touch_dirty(1);
    x.notify('g', "restore", key);
    // As Redis propagates it: the command as given, a relative TTL rewritten to the
    // absolute time with ABSTTL appended (replay never reads the clock).
    let mut j = a.to_vec();
    if ttl != 0 && !absttl {
        j[2] = Bytes::from(when.to_string());
        j.push(Bytes::from_static(b"ABSTTL"));
    }
    x.journal(j);
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use crate::db::Value;
    use crate::rdb::value::dump;

    #[test]
    fn payload_shape() {
        let p = dump(&Value::Str(b"hello".to_vec()));
        assert_eq!(&p[..7], b"\x00\x05hello");
        assert_eq!(&p[7..9], &10u16.to_le_bytes());
    }
}
