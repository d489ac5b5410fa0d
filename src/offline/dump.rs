//! `strata dump --dir D --output F [--format rdb|resp]`: export a data directory without a
//! running server. The keyspace is recovered by the server's own startup path
//! (`Engine::open`: the log, replayed through dispatch), so the export is exactly what
//! `strata server --dir D` would serve; keys already expired are left out. Two formats:
//! an RDB version-10 file redis-server 7.0 loads, or a RESP command stream
//! (`FUNCTION LOAD REPLACE`, `SELECT`, `RESTORE key <abs-ms|0> payload [ABSTTL] REPLACE`)
//! for `redis-cli --pipe`. The output is written to `F.tmp`, fsynced and renamed, so a
//! crash never leaves a half-written `F`. Opening the directory takes its lock (it fails
//! while a server runs on it) and, like a server start, cuts a torn log tail.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use crate::cmd::State;
use crate::config::Config;
use crate::persist::io::RealFs;
use crate::rdb::value::dump as dump_value;
use crate::server::engine::Engine;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An RDB file (version 10, as redis-server 7.0 writes).
    Rdb,
    /// A RESP command stream for `redis-cli --pipe`.
    Resp,
    /// A strata snapshot file (format/snapshot.md), which `strata restore` imports.
    Snapshot,
}

/// What was exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Keys written.
    pub keys: u64,
    /// Expired keys left out.
    pub expired: u64,
    /// Function libraries written.
    pub functions: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// A progress bar on a terminal, nothing otherwise.
pub(crate) fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

/// Open `dir` exactly as a server start does (taking its LOCK, so this fails while a
/// server holds it), with `databases` databases.
pub fn open_engine(dir: &Path, databases: u64) -> Result<Arc<Engine>, String> {
    if !dir.join("MANIFEST").is_file() {
        return Err(format!(
            "{} is not a strata data directory (no MANIFEST)",
            dir.display()
        ));
    }
    let config = Config {
        dir: dir.to_path_buf(),
        databases,
        ..Config::default()
    };
    Engine::open(config, Arc::new(RealFs), None).map_err(|e| {
        let s = e.to_string();
        if s.contains("but only") && s.contains("database") {
            format!("{s} (pass --databases as the server's `databases` directive)")
        } else {
            s
        }
    })
}

/// Recover the keyspace of `dir` as the server does at startup and run `f` on it.
pub fn with_keyspace<R>(
    dir: &Path,
    databases: u64,
    f: impl FnOnce(&State) -> R,
) -> Result<R, String> {
    let engine = open_engine(dir, databases)?;
    let r = engine.with_state(|st| f(st));
    engine.close();
    Ok(r)
}

/// Export `dir` (served with `databases` databases) to `output` in `format`.
pub fn dump(dir: &Path, output: &Path, format: Format, databases: u64) -> Result<Summary, String> {
    if format == Format::Snapshot {
        return dump_snapshot(dir, output, databases);
    }
    let mut name = output
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", output.display()))?
        .to_os_string();
    name.push(".tmp");
    let tmp = output.with_file_name(name);
    let result = write_tmp(dir, &tmp, format, databases).and_then(|s| {
        std::fs::rename(&tmp, output).map_err(|e| format!("{}: {e}", output.display()))?;
        // DURABILITY: the rename itself survives a crash once the directory is synced.
        let parent = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("{}: {e}", parent.display()))?;
        Ok(s)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `--format snapshot`: the keyspace and libraries as one snapshot file (written as
/// `<output>.tmp`, fsynced, renamed, directory fsynced, by the snapshot writer).
fn dump_snapshot(dir: &Path, output: &Path, databases: u64) -> Result<Summary, String> {
    with_keyspace(dir, databases, |st| {
        let libs: Vec<(Vec<u8>, Vec<u8>)> = st
            .functions
            .libraries()
            .into_iter()
            .map(|(n, c)| (n.into_bytes(), c.to_vec()))
            .collect();
        let total = st.ks.total_keys() as u64;
        let pb = progress(total, "write");
        let info =
            crate::persist::snapshot::write_keyspace(&RealFs, output, 0, &st.ks, &libs, |k| {
                pb.set_position(k)
            })
            .map_err(|e| e.to_string())?;
        pb.finish_and_clear();
        Ok(Summary {
            keys: total,
            // Kept, with their absolute expiry: they expire when loaded, as on the server.
            expired: 0,
            functions: libs.len() as u64,
            bytes: info.file_bytes,
        })
    })?
}

fn write_tmp(dir: &Path, tmp: &Path, format: Format, databases: u64) -> Result<Summary, String> {
    let file = File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut out = BufWriter::new(file);
    let now = crate::clock::now_ms();
    let summary = with_keyspace(dir, databases, |st| match format {
        Format::Rdb => write_rdb(st, now, &mut out),
        Format::Resp => write_resp(st, now, &mut out),
        Format::Snapshot => Err("snapshots are written by dump_snapshot".to_string()),
    })??;
    let file = out.into_inner().map_err(|e| e.to_string())?;
    // DURABILITY: the bytes reach the disk before the rename makes them the output.
    file.sync_all().map_err(|e| e.to_string())?;
    Ok(summary)
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

/// Write the keyspace of `st` as an RDB file (`cmd::dump::write_rdb`, with a progress bar).
pub fn write_rdb(st: &State, now: i64, out: &mut impl Write) -> Result<Summary, String> {
    let pb = progress(st.ks.total_keys() as u64, "dump");
    let w = crate::cmd::dump::write_rdb(st, now, out, || pb.inc(1)).map_err(io)?;
    pb.finish_and_clear();
    Ok(Summary {
        keys: w.keys,
        expired: w.expired,
        functions: w.functions,
        bytes: w.bytes,
    })
}

/// Append one command in RESP (an array of bulk strings).
pub fn resp_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Write the keyspace of `st` as a RESP command stream.
pub fn write_resp(st: &State, now: i64, out: &mut impl Write) -> Result<Summary, String> {
    let mut s = Summary::default();
    let mut buf = Vec::new();
    for lib in st.functions.iter() {
        resp_command(&mut buf, &[b"FUNCTION", b"LOAD", b"REPLACE", &lib.code]);
        s.functions += 1;
    }
    let pb = progress(st.ks.total_keys() as u64, "dump");
    for (i, db) in st.ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        resp_command(&mut buf, &[b"SELECT", i.to_string().as_bytes()]);
        for (key, e) in db.dict.iter() {
            pb.inc(1);
            if db.entry_expired(key, e, now) {
                s.expired += 1;
                continue;
            }
            let payload = dump_value(&e.value);
            let at = db.expire_of(key, e);
            if at >= 0 {
                let at = at.to_string();
                resp_command(
                    &mut buf,
                    &[
                        b"RESTORE",
                        key,
                        at.as_bytes(),
                        &payload,
                        b"ABSTTL",
                        b"REPLACE",
                    ],
                );
            } else {
                resp_command(&mut buf, &[b"RESTORE", key, b"0", &payload, b"REPLACE"]);
            }
            s.keys += 1;
            if buf.len() >= 1 << 20 {
                s.bytes += buf.len() as u64;
                out.write_all(&buf).map_err(io)?;
                buf.clear();
            }
        }
    }
    pb.finish_and_clear();
    s.bytes += buf.len() as u64;
    out.write_all(&buf).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(s)
}
