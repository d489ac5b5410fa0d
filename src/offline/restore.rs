//! `strata restore --dir D --input F [--force]`: load an RDB file (recognised by its
//! `REDIS` magic) or a RESP command stream (starting with `*`: `SELECT`, `RESTORE`,
//! `FUNCTION LOAD`, as `strata dump --format resp` writes) into a data directory without a
//! server. Two steps kept apart: `load_input` builds a `Keyspace` (keys whose TTL is
//! already past are dropped), `write_log` writes it as the directory's snapshot, so
//! `strata server --dir D` loads it like any snapshot. Both ways are all or nothing: a new
//! directory's first MANIFEST names the snapshot; a non-empty directory (only with
//! `--force`) gets it as a snapshot of its last LSN, installed in one MANIFEST rename, so
//! the restored keyspace replaces the old contents whole (the directory lock makes this
//! fail while a server runs). Also the import of a Redis `dump.rdb` at server start.

use std::path::Path;
use std::sync::Arc;

use crate::db::{Entry, Keyspace};
use crate::persist::io::RealFs;
use crate::persist::{Log, LogOptions, StorageError};
use crate::rdb::value::restore as restore_value;
use crate::rdb::{file, Limits};

/// A keyspace read from an input file.
pub struct Loaded {
    /// The keys.
    pub ks: Keyspace,
    /// Function library code, for FUNCTION LOAD.
    pub functions: Vec<Vec<u8>>,
    /// Keys left out because their TTL had passed.
    pub expired: u64,
    /// Keys left out because they held an empty collection (as Redis skips them).
    pub empty_skipped: u64,
}

/// What was restored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Keys written.
    pub keys: u64,
    /// Keys left out because their TTL had passed.
    pub expired: u64,
    /// Function libraries written.
    pub functions: u64,
    /// Keys left out because they held an empty collection.
    pub empty_skipped: u64,
}

/// Restore `input` into `dir`, accepting database indexes below `databases`.
pub fn restore(dir: &Path, input: &Path, force: bool, databases: u64) -> Result<Summary, String> {
    check_target(dir, force)?;
    let buf = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let config = crate::config::Config::default();
    let databases = usize::try_from(databases)
        .unwrap_or(usize::MAX)
        .min(usize::from(u16::MAX));
    let lim = crate::cmd::dump::limits_from(&config);
    let loaded = load_input(&buf, &lim, databases, crate::clock::now_ms())?;
    write_log(dir, &loaded, force)
}

/// At server start, as Redis loads its `dbfilename` at start: a data directory without
/// strata's files (no MANIFEST) that holds a Redis RDB file named `dbfilename` gets it
/// imported first (its keyspace becomes the directory's base snapshot, so a Redis data
/// directory can be served as it is). A directory with strata's files keeps them and the
/// RDB file is left alone. An RDB file that cannot be read stops the start, as it stops
/// Redis's, and the directory is left without strata's files, as it was found: the first
/// MANIFEST appears only with the imported snapshot (see [`write_log`]).
pub fn import_at_start(
    config: &crate::config::Config,
    announce: impl FnOnce(&Path),
) -> Result<Option<Summary>, String> {
    let dir = &config.dir;
    let name = config.get("dbfilename").unwrap_or_default();
    if name.is_empty() || dir.join("MANIFEST").exists() {
        return Ok(None);
    }
    let path = dir.join(&name);
    let Ok(buf) = std::fs::read(&path) else {
        return Ok(None);
    };
    if !file::is_rdb(&buf) {
        return Ok(None);
    }
    announce(&path);
    let databases = usize::try_from(config.databases)
        .unwrap_or(usize::MAX)
        .min(usize::from(u16::MAX));
    let lim = crate::cmd::dump::limits_from(config);
    let fail = |e: String| format!("{}: {e}", path.display());
    let loaded = load_input(&buf, &lim, databases, crate::clock::now_ms()).map_err(fail)?;
    write_log(dir, &loaded, true).map(Some).map_err(fail)
}

fn check_target(dir: &Path, force: bool) -> Result<(), String> {
    let non_empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if non_empty && !force {
        return Err(format!(
            "{} is not empty; use --force to replace its contents (the restored keys replace every key it holds)",
            dir.display()
        ));
    }
    Ok(())
}

/// Decode an RDB file or RESP command stream into a keyspace of `databases` databases.
pub fn load_input(buf: &[u8], lim: &Limits, databases: usize, now: i64) -> Result<Loaded, String> {
    let mut loaded = Loaded {
        ks: Keyspace::new(databases),
        functions: Vec::new(),
        expired: 0,
        empty_skipped: 0,
    };
    if file::is_rdb(buf) {
        let pb = super::dump::progress(buf.len() as u64, "read");
        let mut err = None;
        let info = file::read(buf, lim, |k| {
            pb.set_position(k.offset as u64);
            if err.is_some() {
                return;
            }
            if k.db >= databases {
                err = Some(format!(
                    "the file uses database {} (only {databases} exist; pass --databases)",
                    k.db
                ));
                return;
            }
            add(&mut loaded, k.db, &k.key, k.value, k.expire_ms, now);
        })
        .map_err(|e| format!("RDB file: {e}"))?;
        pb.finish_and_clear();
        if let Some(e) = err {
            return Err(e);
        }
        loaded.functions = info.functions;
        for key in &info.skipped_empty {
            // (Redis's words, which its test suite looks for.)
            tracing::warn!(
                "rdbLoadObject skipping empty key: {}",
                String::from_utf8_lossy(key)
            );
        }
        loaded.empty_skipped = info.skipped_empty.len() as u64;
        Ok(loaded)
    } else if buf.starts_with(crate::persist::snapshot::MAGIC) {
        load_snapshot(buf, &mut loaded, now)?;
        Ok(loaded)
    } else if buf.first() == Some(&b'*') {
        load_resp(buf, lim, &mut loaded, now)?;
        Ok(loaded)
    } else if buf.is_empty() {
        Err("the input is empty".into())
    } else {
        Err("unknown input format: not an RDB file (REDIS magic), a strata snapshot (STRATASN) or a RESP stream (*)".into())
    }
}

/// A strata snapshot file (`strata dump --format snapshot`, or one from a data directory):
/// every block and item validated, keys whose TTL has passed left out.
fn load_snapshot(buf: &[u8], l: &mut Loaded, now: i64) -> Result<(), String> {
    let path = Path::new("input snapshot");
    let config = crate::config::Config {
        databases: l.ks.dbs.len() as u64,
        ..crate::config::Config::default()
    };
    let limits = crate::server::engine::build_limits(&config);
    let loaded =
        crate::persist::snapshot::load_keyspace(buf, path, None, l.ks.dbs.len(), &limits, now)
            .map_err(|e| match e {
                crate::persist::StorageError::Corrupt { offset, what, .. } => format!(
            "snapshot: {what} at offset {offset} (pass --databases if it uses more databases)"
        ),
                other => other.to_string(),
            })?;
    let mut ks = loaded.ks;
    for db in &mut ks.dbs {
        let gone: Vec<Vec<u8>> = db
            .dict
            .iter()
            .filter(|(k, e)| db.entry_expired(k, e, now))
            .map(|(k, _)| k.to_vec())
            .collect();
        l.expired += gone.len() as u64;
        for k in gone {
            db.remove(&k);
        }
    }
    l.ks = ks;
    l.functions = loaded.libraries.into_iter().map(|(_, code)| code).collect();
    Ok(())
}

fn add(l: &mut Loaded, db: usize, key: &[u8], value: crate::db::Value, expire_ms: i64, now: i64) {
    if expire_ms >= 0 && expire_ms <= now {
        l.expired += 1;
        return;
    }
    let e = Entry::new(value, now);
    l.ks.dbs[db].insert_expiring(key, e, expire_ms);
}

/// Parse one RESP array of bulk strings at `*pos`.
fn resp_array<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Vec<&'a [u8]>, String> {
    let line = |pos: &mut usize| -> Result<&'a [u8], String> {
        let rest = &buf[*pos..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| format!("offset {}: unterminated line", *pos))?;
        *pos += end + 2;
        Ok(&rest[..end])
    };
    let num = |s: &[u8], at: usize| -> Result<usize, String> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("offset {at}: bad length"))
    };
    let at = *pos;
    let head = line(pos)?;
    if head.first() != Some(&b'*') {
        return Err(format!("offset {at}: expected a RESP array"));
    }
    let n = num(&head[1..], at)?;
    let mut args = Vec::new();
    for _ in 0..n {
        let at = *pos;
        let h = line(pos)?;
        if h.first() != Some(&b'$') {
            return Err(format!("offset {at}: expected a bulk string"));
        }
        let len = num(&h[1..], at)?;
        let end = pos.checked_add(len).filter(|e| e + 2 <= buf.len());
        let Some(end) = end else {
            return Err(format!("offset {at}: bulk string past the end"));
        };
        if &buf[end..end + 2] != b"\r\n" {
            return Err(format!("offset {at}: bulk string not terminated"));
        }
        args.push(&buf[*pos..end]);
        *pos = end + 2;
    }
    Ok(args)
}

fn load_resp(buf: &[u8], lim: &Limits, l: &mut Loaded, now: i64) -> Result<(), String> {
    let eq = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
    let pb = super::dump::progress(buf.len() as u64, "read");
    let mut pos = 0;
    let mut db = 0usize;
    while pos < buf.len() {
        let at = pos;
        let args = resp_array(buf, &mut pos)?;
        pb.set_position(pos as u64);
        let bad = |w: &str| format!("offset {at}: {w}");
        match args.as_slice() {
            [c, n] if eq(c, "select") => {
                db = std::str::from_utf8(n)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .filter(|&d: &usize| d < l.ks.dbs.len())
                    .ok_or_else(|| bad("SELECT of a database that does not exist"))?;
            }
            [c, key, ttl, payload, opts @ ..] if eq(c, "restore") => {
                let ttl: i64 = std::str::from_utf8(ttl)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .filter(|&t: &i64| t >= 0)
                    .ok_or_else(|| bad("RESTORE with a bad TTL"))?;
                let mut abs = false;
                for o in opts {
                    if eq(o, "absttl") {
                        abs = true;
                    } else if !eq(o, "replace") {
                        return Err(bad("RESTORE option other than ABSTTL/REPLACE"));
                    }
                }
                let value = restore_value(payload, lim)
                    .map_err(|e| bad(&format!("RESTORE payload: {e:?}")))?;
                let expire = match (ttl, abs) {
                    (0, _) => -1,
                    (t, true) => t,
                    (t, false) => now.saturating_add(t),
                };
                add(l, db, key, value, expire, now);
            }
            [c, sub, rest @ ..] if eq(c, "function") && eq(sub, "load") && !rest.is_empty() => {
                if let Some(code) = rest.last() {
                    l.functions.push(code.to_vec());
                }
            }
            [c, ..] => {
                return Err(bad(&format!(
                "unsupported command {} (a restore stream holds SELECT, RESTORE and FUNCTION LOAD)",
                String::from_utf8_lossy(c)
            )))
            }
            [] => return Err(bad("empty command")),
        }
    }
    pb.finish_and_clear();
    Ok(())
}

/// Write `l` into `dir` as its snapshot, durably and all at once:
/// - a directory without a log gets it as the base snapshot its first MANIFEST names
///   (`Log::open_with_base`), so a crash leaves either no log (the next import starts
///   over) or the whole keyspace, never an empty log;
/// - a directory with a log (`force`) gets it as a snapshot of the last LSN, installed as
///   BGSAVE's are: the MANIFEST switches from the old contents to the new in one rename,
///   so a crash or a full disk part way leaves the old contents whole.
pub fn write_log(dir: &Path, l: &Loaded, force: bool) -> Result<Summary, String> {
    check_target(dir, force)?;
    // (Durably: every directory created is fsynced into its parent.)
    crate::persist::io::Vfs::create_dir_all(&RealFs, dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let libs: Vec<(Vec<u8>, Vec<u8>)> = l
        .functions
        .iter()
        .map(|code| (library_name(code), code.clone()))
        .collect();
    let write = |path: &Path, lsn: u64| -> Result<(), StorageError> {
        let pb = super::dump::progress(l.ks.total_keys() as u64, "write");
        crate::persist::snapshot::write_keyspace(&RealFs, path, lsn, &l.ks, &libs, |k| {
            pb.set_position(k)
        })?;
        pb.finish_and_clear();
        Ok(())
    };
    let summary = Summary {
        keys: l.ks.total_keys() as u64,
        expired: l.expired,
        functions: libs.len() as u64,
        empty_skipped: l.empty_skipped,
    };
    if !dir.join("MANIFEST").exists() {
        let base = |path: &Path| write(path, 0);
        let opened = Log::open_with_base(Arc::new(RealFs), LogOptions::new(dir), &base);
        let (log, _) = opened.map_err(|e| e.to_string())?;
        log.shutdown();
        return Ok(summary);
    }
    let (log, _) = Log::open(Arc::new(RealFs), LogOptions::new(dir)).map_err(|e| e.to_string())?;
    let installed = (|| {
        // Every record already there is in the page cache at least; the snapshot replaces
        // them all, so they must be durable before the MANIFEST says it covers them.
        let lsn = log.last_lsn();
        log.wait_durable_blocking(lsn).map_err(|e| e.to_string())?;
        let path = dir.join(crate::persist::snapshot::snapshot_file_name(lsn));
        // (When the log is a snapshot of `lsn` with nothing after it, this file replaces
        // that snapshot by its rename, which is as atomic.)
        write(&path, lsn).map_err(|e| e.to_string())?;
        log.install_snapshot(lsn).map_err(|e| e.to_string())?;
        Ok(())
    })();
    log.shutdown();
    installed.map(|()| summary)
}

/// The `name=` of a library's `#!lua name=<lib>` first line (informative in a snapshot).
fn library_name(code: &[u8]) -> Vec<u8> {
    let first = code.split(|&b| b == b'\n').next().unwrap_or_default();
    first
        .split(|&b| b == b' ')
        .find_map(|w| w.strip_prefix(b"name="))
        .unwrap_or_default()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::value::dump as dump_value;

    #[test]
    fn resp_stream_parses() {
        let mut buf = Vec::new();
        let p = dump_value(&crate::db::Value::Str(b"v".to_vec().into()));
        super::super::dump::resp_command(&mut buf, &[b"SELECT", b"2"]);
        super::super::dump::resp_command(&mut buf, &[b"RESTORE", b"k", b"0", &p, b"REPLACE"]);
        super::super::dump::resp_command(
            &mut buf,
            &[b"RESTORE", b"gone", b"1", &p, b"ABSTTL", b"REPLACE"],
        );
        let l = load_input(&buf, &Limits::default(), 16, 1000).unwrap();
        assert_eq!(l.ks.dbs[2].len(), 1);
        assert_eq!(l.expired, 1);
        assert!(load_input(&buf[..buf.len() - 3], &Limits::default(), 16, 1000).is_err());
        assert!(load_input(b"*1\r\n$4\r\nPING\r\n", &Limits::default(), 16, 1000).is_err());
        assert!(load_input(b"hello", &Limits::default(), 16, 1000).is_err());
    }
}
