//! `strata fsck --dir D [--repair] [--json]`: verify a data directory offline — the
//! manifest, every segment header, every record CRC, LSN continuity, every batch payload,
//! and orphan files — and print file, offset, LSN and what is wrong (a preallocated zero
//! tail of the last segment is free space, reported as a note). Exit codes: 0 clean,
//! 1 torn tail found (or cut with `--repair`, the cut bytes kept in a side file), 2 damage
//! a human must look at. It never deletes data: `--repair` only cuts a torn tail, through
//! the same code path the server uses at startup (format/log.md, torn-tail rule).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::persist::batch::decode_batch;
use crate::persist::io::{RealFs, Vfs};
use crate::persist::{Log, LogOptions, StorageError};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Byte offset in the file (0 if not applicable).
    pub offset: u64,
    /// The LSN concerned (0 if not applicable).
    pub lsn: u64,
    /// What is wrong.
    pub what: String,
    /// True if only a torn tail (exit 1), false for damage (exit 2).
    pub torn_tail: bool,
}

/// The result of a check.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Live segments checked.
    pub segments: Vec<PathBuf>,
    /// The snapshot the log continues from, if any, and the keys it holds.
    pub snapshot: Option<(PathBuf, u64)>,
    /// Valid records found.
    pub records: u64,
    /// Last valid LSN.
    pub last_lsn: u64,
    /// Preallocated zero bytes after the last record of the last segment (free space, not
    /// damage: format/log.md §Preallocation).
    pub preallocated: u64,
    /// Findings.
    pub problems: Vec<Problem>,
    /// Notes that need no action (e.g. header-only orphans a restart removes).
    pub notes: Vec<String>,
    /// True if `--repair` cut a torn tail.
    pub repaired: bool,
}

impl Report {
    /// 0 clean, 1 torn tail (found or repaired), 2 damage.
    pub fn exit_code(&self) -> i32 {
        if self.problems.iter().any(|p| !p.torn_tail) {
            2
        } else if self.problems.is_empty() {
            0
        } else {
            1
        }
    }

    /// Human-readable text.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for p in &self.problems {
            s.push_str(&format!(
                "{}: offset {}: lsn {}: {}{}\n",
                p.file.display(),
                p.offset,
                p.lsn,
                p.what,
                if p.torn_tail && self.repaired {
                    " (cut; bytes kept in a side file)"
                } else {
                    ""
                }
            ));
        }
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        let verdict = match self.exit_code() {
            0 => "clean",
            1 if self.repaired => "torn tail repaired",
            1 => "torn tail found (run with --repair to cut it)",
            _ => "DAMAGED: a human must look at this directory",
        };
        if let Some((p, keys)) = &self.snapshot {
            s.push_str(&format!("snapshot {} ({keys} keys)\n", p.display()));
        }
        s.push_str(&format!(
            "{} segment(s), {} record(s), last LSN {}: {verdict}\n",
            self.segments.len(),
            self.records,
            self.last_lsn
        ));
        s
    }

    /// JSON text (hand-written; no serde dependency).
    pub fn json(&self) -> String {
        fn esc(s: &str) -> String {
            let mut o = String::new();
            for c in s.chars() {
                match c {
                    '"' => o.push_str("\\\""),
                    '\\' => o.push_str("\\\\"),
                    c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
                    c => o.push(c),
                }
            }
            o
        }
        let status = match self.exit_code() {
            0 => "clean",
            1 => "torn_tail",
            _ => "damaged",
        };
        let problems: Vec<String> = self
            .problems
            .iter()
            .map(|p| {
                format!(
                    "{{\"file\":\"{}\",\"offset\":{},\"lsn\":{},\"what\":\"{}\",\"torn_tail\":{}}}",
                    esc(&p.file.display().to_string()),
                    p.offset,
                    p.lsn,
                    esc(&p.what),
                    p.torn_tail
                )
            })
            .collect();
        let segs: Vec<String> = self
            .segments
            .iter()
            .map(|p| format!("\"{}\"", esc(&p.display().to_string())))
            .collect();
        format!(
            "{{\"status\":\"{status}\",\"exit_code\":{},\"repaired\":{},\"segments\":[{}],\"records\":{},\"last_lsn\":{},\"preallocated\":{},\"problems\":[{}]}}",
            self.exit_code(),
            self.repaired,
            segs.join(","),
            self.records,
            self.last_lsn,
            self.preallocated,
            problems.join(",")
        )
    }
}

/// Check `dir` (and cut a torn tail if `repair`).
pub fn check(dir: &Path, repair: bool) -> Report {
    check_with(Arc::new(RealFs), dir, repair)
}

/// `check` over any `Vfs` (tests use `SimFs`).
pub fn check_with(vfs: Arc<dyn Vfs>, dir: &Path, repair: bool) -> Report {
    let mut report = Report::default();
    let rec = match Log::read_dir(&*vfs, dir) {
        Ok(r) => r,
        Err(e) => {
            report.problems.push(problem_from(&e, dir));
            return report;
        }
    };
    report.segments = rec.segments.clone();
    report.records = rec.records.len() as u64;
    report.last_lsn = rec.last_lsn;
    report.preallocated = rec.preallocated;
    if let (true, Some(last)) = (rec.preallocated > 0, rec.segments.last()) {
        report.notes.push(format!(
            "{}: {} preallocated zero byte(s) after the last record (free space the next appends overwrite)",
            last.display(),
            rec.preallocated
        ));
    }
    if let Some((lsn, path)) = &rec.snapshot {
        match check_snapshot(&*vfs, path, *lsn) {
            Ok(keys) => report.snapshot = Some((path.clone(), keys)),
            Err(e) => {
                let mut p = problem_from(&e, dir);
                p.lsn = *lsn;
                report.problems.push(p);
            }
        }
    }
    for l in &rec.leftovers {
        report.notes.push(format!(
            "{} is a file a snapshot made obsolete (a crash during cleanup); the server removes it at start",
            l.display()
        ));
    }
    for r in &rec.records {
        if let Err(c) = decode_batch(&r.payload) {
            report.problems.push(Problem {
                file: dir.to_path_buf(),
                offset: 0,
                lsn: r.lsn,
                what: format!("record payload is not a valid batch: {c:?}"),
                torn_tail: false,
            });
        }
    }
    for o in &rec.orphans {
        let len = vfs.read_all(o).map(|b| b.len()).unwrap_or(0);
        if len <= 32 {
            report.notes.push(format!(
                "{} is a header-only segment not in the manifest (a crash during rotation); the server removes it at start",
                o.display()
            ));
        } else {
            report.problems.push(Problem {
                file: o.clone(),
                offset: 0,
                lsn: 0,
                what: format!("segment with {len} bytes is not listed in the MANIFEST"),
                torn_tail: false,
            });
        }
    }
    if let Some(t) = &rec.torn_tail {
        report.problems.push(Problem {
            file: t.segment.clone(),
            offset: t.offset,
            lsn: rec.last_lsn + 1,
            what: format!(
                "torn tail: {} byte(s) that are not a whole record ({})",
                t.bytes, t.found
            ),
            torn_tail: true,
        });
        if repair && report.exit_code() == 1 {
            // DURABILITY: the same cut the server performs at startup: the cut bytes are
            // written to a side file and fsynced before the segment is truncated.
            let mut opts = LogOptions::new(dir);
            opts.fsync = crate::persist::FsyncPolicy::Always;
            match Log::open(vfs.clone(), opts) {
                Ok((log, _)) => {
                    log.shutdown();
                    report.repaired = true;
                }
                Err(e) => report.problems.push(problem_from(&e, dir)),
            }
        }
    }
    report
}

/// Read the snapshot, check every block, and decode every item (as startup would).
fn check_snapshot(vfs: &dyn Vfs, path: &Path, lsn: u64) -> Result<u64, StorageError> {
    let config = crate::config::Config::default();
    let loaded = crate::persist::snapshot::load_snapshot_file(
        vfs,
        path,
        Some(lsn),
        usize::try_from(config.databases).unwrap_or(16),
        &crate::server::engine::build_limits(&config),
        0,
    )?;
    Ok(loaded.ks.total_keys() as u64)
}

fn problem_from(e: &StorageError, dir: &Path) -> Problem {
    match e {
        StorageError::Corrupt { file, offset, what } => Problem {
            file: file.clone(),
            offset: *offset,
            lsn: 0,
            what: what.to_string(),
            torn_tail: false,
        },
        StorageError::Version { file, .. } => Problem {
            file: file.clone(),
            offset: 0,
            lsn: 0,
            what: e.to_string(),
            torn_tail: false,
        },
        other => Problem {
            file: dir.to_path_buf(),
            offset: 0,
            lsn: 0,
            what: other.to_string(),
            torn_tail: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::io::SimFs;
    use crate::persist::FsyncPolicy;

    #[test]
    fn a_preallocated_zero_tail_is_a_note_not_a_problem() {
        let fs = SimFs::new();
        let dir = Path::new("/data");
        let mut opts = LogOptions::new(dir);
        opts.fsync = FsyncPolicy::Always;
        let (log, _) = Log::open(Arc::new(fs.clone()), opts).unwrap();
        let cmds = vec![(
            0u16,
            vec![
                bytes::Bytes::from_static(b"SET"),
                bytes::Bytes::from_static(b"k"),
                bytes::Bytes::from_static(b"v"),
            ],
        )];
        for i in 0..5i64 {
            let lsn = log
                .append_with(i, |out| crate::persist::batch::encode_batch(&cmds, out))
                .unwrap();
            log.wait_durable_blocking(lsn).unwrap();
        }
        // A power loss while running: the segment ends in preallocated zeros.
        let img = fs.crash_image();
        drop(log);
        let r = check_with(Arc::new(img), dir, false);
        assert_eq!(r.exit_code(), 0, "{}", r.text());
        assert_eq!(r.records, 5);
        assert!(r.preallocated > 0);
        assert!(
            r.text().contains("preallocated zero byte(s)"),
            "{}",
            r.text()
        );
        assert!(r.text().ends_with(": clean\n"), "{}", r.text());
        assert!(r
            .json()
            .contains(&format!("\"preallocated\":{}", r.preallocated)));
        // After a clean shutdown there are none.
        let r = check_with(Arc::new(fs), dir, false);
        assert_eq!((r.exit_code(), r.preallocated), (0, 0));
        assert!(r.notes.is_empty());
    }
}
