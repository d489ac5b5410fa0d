//! DUMP and RESTORE: a key's value in Redis's DUMP payload format (RDB value encoding, the
//! RDB version as u16 LE, CRC-64 as u64 LE; see `rdb::value`), with Redis 7.0's option
//! parsing, checks and error texts (`cluster.c`). Journaling: RESTORE logs itself as
//! given, a relative TTL rewritten to absolute with ABSTTL appended (Redis's
//! propagation), so replay never reads the clock; a TTL already in the past deletes the
//! key (journaled as `DEL`) or does nothing. Also the whole keyspace as an RDB file
//! (`write_rdb`): SYNC/PSYNC's payload and `strata dump --format rdb`.

use bytes::Bytes;

use super::exec::{arg_i64, is, Caller, Exec};
use super::{cmd, CmdError, CommandSpec, Flags, Group, Journal};
use crate::argv;
use crate::config::Config;
use crate::db::evict;
use crate::db::Entry;
use crate::rdb::value::{
    dump as dump_value, integrity_reason, restore_checked, verify_payload, PayloadError,
};
use crate::rdb::Limits;
use crate::resp::Reply;

/// What `write_rdb` wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct RdbWritten {
    /// Keys written.
    pub keys: u64,
    /// Expired keys left out.
    pub expired: u64,
    /// Function libraries written.
    pub functions: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// The replication aux fields of a full resync's payload (Redis's rdbSaveInfo): the
/// database the stream that follows has selected, and the history and offset it continues.
#[derive(Clone, Debug)]
pub struct ReplAux {
    pub db: usize,
    pub replid: String,
    pub offset: u64,
}

/// An RDB file written key by key as the keys come, in any database order (a SELECTDB
/// whenever the database changes, with no size hints), handed out in pieces of about
/// 1 MiB as it goes: a replica's full resync payload made from a snapshot file
/// (`server::resync`, which spools it to a file).
pub struct RdbStream {
    w: crate::rdb::file::Writer,
    db: Option<usize>,
}

impl RdbStream {
    /// A file written at `now` with a full resync's replication fields.
    pub fn new(now: i64, repl: ReplAux) -> RdbStream {
        RdbStream {
            w: crate::rdb::file::Writer::new(&rdb_aux(now, Some(repl))),
            db: None,
        }
    }

    /// Key `key` of database `db`, expiring at `expire_ms` (-1: never).
    pub fn key(&mut self, db: usize, key: &[u8], v: &crate::db::Value, expire_ms: i64) {
        if self.db != Some(db) {
            // (Sizes unknown here: 0, a hint a loader may size its tables by.)
            self.w.select_db(db, 0, 0);
            self.db = Some(db);
        }
        self.w.key(key, v, expire_ms);
    }

    /// The bytes encoded so far, once there are 1 MiB of them (the next piece of the
    /// file, in order).
    pub fn take_ready(&mut self) -> Option<Vec<u8>> {
        (self.w.buffered() >= 1 << 20).then(|| self.w.take())
    }

    /// A function library (its code).
    pub fn function(&mut self, code: &[u8]) {
        self.w.function(code);
    }

    /// The bytes it holds.
    pub fn allocated(&self) -> usize {
        self.w.buffered()
    }

    /// The rest of the file (its checksum at the end).
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = self.w.take();
        out.extend_from_slice(&self.w.finish());
        out
    }
}

/// The AUX fields of an RDB file written at `now` (Redis's rdbSaveInfoAuxFields), with a
/// full resync's replication fields.
pub fn rdb_aux(now: i64, repl: Option<ReplAux>) -> Vec<(&'static str, String)> {
    let mut aux = vec![
        ("redis-ver", crate::REDIS_VERSION.to_string()),
        ("redis-bits", "64".to_string()),
        ("ctime", (now / 1000).to_string()),
        ("used-mem", "0".to_string()),
    ];
    if let Some(r) = repl {
        aux.push(("repl-stream-db", r.db.to_string()));
        aux.push(("repl-id", r.replid));
        aux.push(("repl-offset", r.offset.to_string()));
    }
    aux.push(("aof-base", "0".to_string()));
    aux
}

/// Write the keyspace of `st` (and its function libraries) as an RDB file to `out`, as
/// of `now` (expired keys left out); `tick` is called once per key visited.
pub fn write_rdb(
    st: &super::State,
    now: i64,
    out: &mut impl std::io::Write,
    tick: impl FnMut(),
) -> std::io::Result<RdbWritten> {
    write_rdb_of(st, now, out, tick, true, None)
}

/// [`write_rdb`], with the keys or without them (the function libraries only: a payload
/// for REPLCONF rdb-filter-only functions).
pub fn write_rdb_of(
    st: &super::State,
    now: i64,
    out: &mut impl std::io::Write,
    mut tick: impl FnMut(),
    keys: bool,
    repl: Option<ReplAux>,
) -> std::io::Result<RdbWritten> {
    let mut s = RdbWritten::default();
    let mut w = crate::rdb::file::Writer::new(&rdb_aux(now, repl));
    for lib in st.functions.iter() {
        w.function(&lib.code);
        s.functions += 1;
    }
    for (i, db) in st.ks.dbs.iter().enumerate() {
        if db.is_empty() || !keys {
            continue;
        }
        w.select_db(i, db.len() as u64, db.volatile_len() as u64);
        for (key, e) in db.dict.iter() {
            tick();
            if db.entry_expired(key, e, now) {
                s.expired += 1;
                continue;
            }
            w.key(key, &e.value, db.expire_of(key, e));
            s.keys += 1;
            if w.buffered() >= 1 << 20 {
                let b = w.take();
                s.bytes += b.len() as u64;
                out.write_all(&b)?;
            }
        }
    }
    let b = w.take();
    out.write_all(&b)?;
    let b2 = w.finish();
    out.write_all(&b2)?;
    s.bytes += (b.len() + b2.len()) as u64;
    out.flush()?;
    Ok(s)
}

/// Register DUMP, RESTORE (and RESTORE-ASKING, its cluster twin: outside a cluster the
/// same command) and MIGRATE.
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
    t.push(
        cmd(
            "restore-asking",
            -4,
            F::WRITE | F::DENYOOM | F::ASKING,
            restore,
        )
        .keys(1, 1, 1)
        .group(Group::Server)
        .journal(Journal::Custom)
        .acl(&["keyspace", "dangerous"])
        .doc(
            "An internal command for migrating keys in a cluster",
            "3.0.0",
        ),
    );
    t.push(
        cmd("migrate", -6, F::WRITE | F::MOVABLE_KEYS, migrate)
            .keys(3, 3, 1)
            .group(g)
            .journal(Journal::Custom)
            .acl(&["keyspace", "dangerous"])
            .doc(
                "Atomically transfer a key from a Redis instance to another one.",
                "2.6.0",
            ),
    );
}

/// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw]
/// [KEYS key ...]: send the keys to another server as RESTORE commands (DUMP payloads,
/// remaining TTLs) over a blocking connection with `timeout` ms for each step; the source
/// keys are deleted (journaled as one DEL) unless COPY. +NOKEY when none of the keys
/// exists. Error texts are Redis's. As in Redis 7.0 the connection is cached for the next
/// MIGRATE to the same target (`MigrateSockets`), and SELECT is sent only when the db
/// differs from the last one selected on it.
fn migrate(x: &mut Exec<'_>, a: &[Bytes]) -> Result<Reply, CmdError> {
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<(Option<Bytes>, Bytes)> = None;
    let mut first_key = 3;
    let mut num_keys = 1;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - j - 1;
        if is(&a[j], "copy") {
            copy = true;
        } else if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "auth") {
            if more == 0 {
                return Err(CmdError::Syntax);
            }
            j += 1;
            auth = Some((None, a[j].clone()));
        } else if is(&a[j], "auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            auth = Some((Some(a[j + 1].clone()), a[j + 2].clone()));
            j += 2;
        } else if is(&a[j], "keys") {
            if !a[3].is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            first_key = j + 1;
            num_keys = a.len() - j - 1;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let timeout = arg_i64(&a[5])?;
    let db = arg_i64(&a[4])?;
    let timeout = std::time::Duration::from_millis(if timeout <= 0 {
        1000
    } else {
        u64::try_from(timeout).unwrap_or(1000)
    });
    // The keys that exist, with their payloads and remaining TTLs.
    let now = x.now_ms;
    let mut items: Vec<(Bytes, Vec<u8>, i64)> = Vec::new();
    for k in &a[first_key..first_key + num_keys] {
        if let Some(e) = x.lookup_read(k) {
            let payload = dump_value(&e.value);
            let at = x.db().expire_at(k);
            let ttl = if at == -1 { 0 } else { (at - now).max(1) };
            items.push((k.clone(), payload, ttl));
        }
    }
    if items.is_empty() {
        return Ok(Reply::Simple("NOKEY".into()));
    }
    let key = format!(
        "{}:{}",
        String::from_utf8_lossy(&a[1]),
        String::from_utf8_lossy(&a[2])
    );
    let mut out = Vec::new();
    let push = |out: &mut Vec<u8>, args: &[&[u8]]| {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    };
    if let Some((user, pw)) = &auth {
        match user {
            Some(u) => push(&mut out, &[b"AUTH", u, pw]),
            None => push(&mut out, &[b"AUTH", pw]),
        }
    }
    let restores = out.len();
    for (k, payload, ttl) in &items {
        let t = ttl.to_string();
        if replace {
            push(
                &mut out,
                &[b"RESTORE", k, t.as_bytes(), payload, b"REPLACE"],
            );
        } else {
            push(&mut out, &[b"RESTORE", k, t.as_bytes(), payload]);
        }
    }
    let replies = items.len() + usize::from(auth.is_some());
    // A cached connection the target has closed meanwhile fails without a timeout: retried
    // once on a new connection, as Redis does.
    let mut sock = x.st.migrate_sockets.take(&key, now, timeout)?;
    let lines = loop {
        let select = sock.last_dbid != db;
        match sock.exchange(&out, restores, select.then_some(db), replies) {
            Ok(lines) => break lines,
            Err(e) if sock.cached && !e.timeout => {
                sock = x.st.migrate_sockets.connect(&key, now, timeout)?;
            }
            Err(e) => return Err(e.error),
        }
    };
    let target_err = |l: &str| {
        CmdError::Raw(format!(
            "ERR Target instance replied with error: {}",
            l.strip_prefix('-').unwrap_or(l)
        ))
    };
    let mut lines = lines.into_iter();
    if auth.is_some() {
        let l = lines.next().unwrap_or_default();
        if l.starts_with('-') {
            x.st.migrate_sockets.put(key, sock);
            return Err(target_err(&l));
        }
    }
    if sock.last_dbid != db {
        let l = lines.next().unwrap_or_default();
        if l.starts_with('-') {
            x.st.migrate_sockets.put(key, sock);
            return Err(target_err(&l));
        }
        sock.last_dbid = db;
    }
    x.st.migrate_sockets.put(key, sock);
    let mut first_error: Option<String> = None;
    let mut moved: Vec<Bytes> = Vec::new();
    for ((k, _, _), l) in items.iter().zip(lines) {
        if l.starts_with('-') {
            first_error.get_or_insert(l);
        } else if !copy {
            moved.push(k.clone());
        }
    }
    if !moved.is_empty() {
        let mut del = vec![Bytes::from_static(b"DEL")];
        for k in &moved {
            if x.db().remove(k).is_some() {
                x.notify('g', "del", k);
                del.push(k.clone());
            }
        }
        if del.len() > 1 {
            x.touch_dirty(u64::try_from(del.len() - 1).unwrap_or(1));
            x.journal(del);
        }
    }
    match first_error {
        Some(e) => Err(target_err(&e)),
        None => Ok(Reply::ok()),
    }
}

/// How long a cached MIGRATE connection may stay unused (Redis's
/// MIGRATE_SOCKET_CACHE_TTL), and how many are kept (MIGRATE_SOCKET_CACHE_ITEMS).
const MIGRATE_CACHE_TTL_MS: i64 = 10_000;
const MIGRATE_CACHE_ITEMS: usize = 64;

/// MIGRATE's connection cache (INFO's `migrate_cached_sockets`): at most 64, each closed
/// by the server's periodic task after 10 s unused.
#[derive(Default)]
pub struct MigrateSockets {
    map: std::collections::HashMap<String, MigrateSocket>,
}

/// One connection to a MIGRATE target.
pub struct MigrateSocket {
    conn: std::io::BufReader<std::net::TcpStream>,
    /// The db last selected on it (-1: none yet).
    last_dbid: i64,
    last_use_ms: i64,
    /// Taken from the cache (may have been closed by the target meanwhile).
    cached: bool,
}

/// A failed exchange with a MIGRATE target.
pub struct MigrateFail {
    error: CmdError,
    timeout: bool,
}

impl MigrateSockets {
    /// How many connections are cached.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Close the connections unused for longer than the cache's TTL.
    pub fn close_idle(&mut self, now_ms: i64) {
        self.map
            .retain(|_, s| now_ms - s.last_use_ms <= MIGRATE_CACHE_TTL_MS);
    }

    /// The cached connection to `key` (`host:port`), or a new one.
    fn take(
        &mut self,
        key: &str,
        now_ms: i64,
        timeout: std::time::Duration,
    ) -> Result<MigrateSocket, CmdError> {
        match self.map.remove(key) {
            Some(mut s) => {
                s.cached = true;
                s.last_use_ms = now_ms;
                Ok(s)
            }
            None => self.connect(key, now_ms, timeout),
        }
    }

    /// A new connection to `key`; a full cache first drops one of its connections.
    fn connect(
        &mut self,
        key: &str,
        now_ms: i64,
        timeout: std::time::Duration,
    ) -> Result<MigrateSocket, CmdError> {
        if self.map.len() >= MIGRATE_CACHE_ITEMS {
            if let Some(k) = self.map.keys().next().cloned() {
                self.map.remove(&k);
            }
        }
        let cannot = || CmdError::Raw("IOERR error or timeout connecting to the client".into());
        let addr = std::net::ToSocketAddrs::to_socket_addrs(key)
            .ok()
            .and_then(|mut i| i.next())
            .ok_or_else(cannot)?;
        // (Redis connects without waiting: a refused connection shows up as a failed write.)
        let sock = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                CmdError::Raw("IOERR error or timeout writing to target instance".into())
            } else {
                cannot()
            }
        })?;
        let _ = sock.set_read_timeout(Some(timeout));
        let _ = sock.set_write_timeout(Some(timeout));
        Ok(MigrateSocket {
            conn: std::io::BufReader::new(sock),
            last_dbid: -1,
            last_use_ms: now_ms,
            cached: false,
        })
    }

    /// Keep `sock` for the next MIGRATE to `key`.
    fn put(&mut self, key: String, sock: MigrateSocket) {
        self.map.insert(key, sock);
    }
}

impl MigrateSocket {
    /// Send `out` (with `SELECT db` inserted at `at` when `select` is set) and read
    /// `replies` reply lines (one more for the SELECT).
    fn exchange(
        &mut self,
        out: &[u8],
        at: usize,
        select: Option<i64>,
        replies: usize,
    ) -> Result<Vec<String>, MigrateFail> {
        let fail = |what: &str, e: &std::io::Error| MigrateFail {
            error: CmdError::Raw(format!("IOERR error or timeout {what} target instance")),
            timeout: matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        let mut buf = Vec::with_capacity(out.len() + 32);
        buf.extend_from_slice(&out[..at]);
        if let Some(db) = select {
            let d = db.to_string();
            buf.extend_from_slice(
                format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{d}\r\n", d.len()).as_bytes(),
            );
        }
        buf.extend_from_slice(&out[at..]);
        std::io::Write::write_all(self.conn.get_mut(), &buf).map_err(|e| fail("writing to", &e))?;
        let n = replies + usize::from(select.is_some());
        let mut lines = Vec::with_capacity(n);
        for _ in 0..n {
            let mut l = String::new();
            match std::io::BufRead::read_line(&mut self.conn, &mut l) {
                Ok(n) if n > 0 => lines.push(l.trim_end().to_string()),
                Ok(_) => {
                    let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                    return Err(fail("reading to", &eof));
                }
                Err(e) => return Err(fail("reading to", &e)),
            }
        }
        Ok(lines)
    }
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
    // Replay restores what was journaled (a payload with a checksum, see below).
    let check_crc = !x.st.skip_checksum_validation || x.caller == Caller::Replay;
    let value = match restore_checked(&a[3], &lim, check_crc) {
        Ok(v) => v,
        Err(PayloadError::VersionOrChecksum) => {
            return Err(CmdError::err("DUMP payload version or checksum are wrong"))
        }
        Err(PayloadError::BadData(e)) => {
            // Logged as Redis logs it (at verbose; its test suite looks for the reason).
            let ty = a[3].first().copied().unwrap_or(0);
            let reason = integrity_reason(ty, &e).map_or_else(|| e.to_string(), str::to_string);
            tracing::info!(
                "Internal error in RDB reading offset 0, RESTORE payload -> {reason} ({e})"
            );
            return Err(CmdError::err("Bad data format"));
        }
    };
    // A payload restored without its checksum checked is journaled with a fresh one, so
    // that replay (which checks) restores it.
    let fresh = (!check_crc && !verify_payload(&a[3])).then(|| dump_value(&value));
    let deleted = replace && x.db().remove(key).is_some();
    let when = if ttl != 0 && !absttl {
        ttl.saturating_add(x.now_ms)
    } else {
        ttl
    };
    // Replay applies logged effects only: it never drops a key for its TTL.
    // (Nor does a replica: its master decides when a key is gone.)
    if ttl != 0 && when <= x.now_ms && x.caller != Caller::Replay && x.st.replicas.master.is_none()
    {
        if deleted {
            x.touch_dirty(1);
            x.notify('g', "del", key);
            x.journal(argv!["DEL", key]);
        }
        return Ok(Reply::ok());
    }
    let mut e = Entry::new(value, x.now_ms);
    let at = if ttl != 0 { when } else { -1 };
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
    let db = x.db;
    x.insert_key_in(db, key, e, at);
    x.touch_dirty(1);
    x.notify('g', "restore", key);
    // As Redis propagates it: the command as given, a relative TTL rewritten to the
    // absolute time with ABSTTL appended (replay never reads the clock).
    let mut j = a.to_vec();
    j[0] = Bytes::from_static(b"RESTORE");
    if let Some(p) = fresh {
        j[3] = Bytes::from(p);
    }
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
        let p = dump(&Value::Str(b"hello".to_vec().into()));
        assert_eq!(&p[..7], b"\x00\x05hello");
        assert_eq!(&p[7..9], &10u16.to_le_bytes());
    }
}
