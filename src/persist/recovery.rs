//! Recovery: turning a data directory into validated records, for `Log::open` (which then
//! repairs what is provably safe to repair and starts the writer) and `Log::read_dir`
//! (read-only). Implements format/README.md §Recovery procedure, format/log.md §Torn tail
//! rule and §Orphan segments, and format/manifest.md §Validation (the cross-file checks:
//! listed segments exist, LSNs are contiguous).
//!
//! Must not: modify anything before the whole directory has validated, or cut anything but
//! a torn tail of the last segment (and only after saving the cut bytes durably).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::error::{Corruption, StorageError};
use super::io::Vfs;
use super::log::{
    Counters, Log, LogOptions, Pending, Progress, Recovered, RecoveredRecord, Shared, TornTail,
};
use super::manifest::{publish, read_manifest, Manifest, MANIFEST_NAME};
use super::segment::{
    parse_segment_name, scan_segment, segment_file_name, SegmentHeader, SegmentWriter, TornAt,
    SEGMENT_HEADER_LEN,
};
use super::writer::{prealloc_enabled, preallocate_ahead, Writer};

/// What a validated directory holds.
struct DirScan {
    manifest: Option<Manifest>,
    records: Vec<RecoveredRecord>,
    /// (first LSN, path, valid length) of every listed segment.
    segments: Vec<(u64, PathBuf, u64)>,
    /// The last segment's torn tail and its bytes (trailing zeros excluded).
    torn: Option<(PathBuf, TornAt, Vec<u8>)>,
    /// Preallocated zero bytes after the last record of the last segment.
    preallocated: u64,
    /// Segment files the manifest does not list (retired ones excluded).
    orphans: Vec<PathBuf>,
    /// Segments older than the first listed one when a snapshot covers them: left by a
    /// compaction that crashed before deleting them.
    retired: Vec<PathBuf>,
    /// The snapshot the manifest names: (LSN, path).
    snapshot: Option<(u64, PathBuf)>,
    /// Snapshot files the manifest does not name (older or never installed).
    stale_snapshots: Vec<PathBuf>,
    tmp_files: Vec<PathBuf>,
    last_lsn: u64,
}

/// Validates `dir`. `strict` (open): every orphan is read and must be header-only.
fn scan_dir(vfs: &dyn Vfs, dir: &Path, strict: bool) -> Result<DirScan, StorageError> {
    let names = vfs.list_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    let tmp_files = names
        .iter()
        .filter(|n| n.ends_with(".tmp"))
        .map(|n| dir.join(n))
        .collect();
    let mut present: BTreeMap<u64, PathBuf> = names
        .iter()
        .filter_map(|n| Some((parse_segment_name(n)?, dir.join(n))))
        .collect();
    let manifest = read_manifest(vfs, dir)?;
    let manifest_path = dir.join(MANIFEST_NAME);
    let listed = manifest
        .as_ref()
        .map(|m| m.segments.clone())
        .unwrap_or_default();
    // Listed segments are read by name, not looked up in the listing above: while the log is
    // open (`read_dir`), a rotation may add a segment between the listing and the manifest read.
    let snap_lsn = manifest.as_ref().and_then(|m| m.snapshot);
    let first_listed = listed.first().copied().unwrap_or(1);
    let mut snapshot = None;
    let mut stale_snapshots = Vec::new();
    for n in &names {
        if let Some(l) = crate::persist::snapshot::parse_snapshot_name(n) {
            if Some(l) == snap_lsn {
                snapshot = Some((l, dir.join(n)));
            } else {
                stale_snapshots.push(dir.join(n));
            }
        }
    }
    if let (Some(l), None) = (snap_lsn, &snapshot) {
        let m = manifest
            .as_ref()
            .expect("a snapshot LSN comes from a manifest");
        tracing::error!(lsn = l, "the MANIFEST names a snapshot that does not exist");
        return Err(StorageError::corrupt(
            &manifest_path,
            m.snapshot_line_offset(),
            Corruption::Manifest("names a missing snapshot"),
        ));
    }
    let line_offset = |i: usize| {
        manifest
            .as_ref()
            .map_or(0, |m: &Manifest| m.segment_line_offset(i))
    };
    let live: Vec<(usize, u64, PathBuf)> = listed
        .iter()
        .enumerate()
        .map(|(i, lsn)| {
            present.remove(lsn);
            (i, *lsn, dir.join(segment_file_name(*lsn)))
        })
        .collect();
    let mut retired = Vec::new();
    let mut orphans = Vec::new();
    for (l, path) in present {
        if snap_lsn.is_some() && l < first_listed {
            retired.push(path);
        } else {
            orphans.push(path);
        }
    }
    if strict {
        for path in &orphans {
            check_orphan_is_empty(vfs, path)?;
        }
    }
    // Without a snapshot the log must start at LSN 1 (with one, the manifest checked that
    // the first segment starts at or before the snapshot's LSN + 1).
    if let (Some(&(_, first, _)), None) = (live.first(), snap_lsn) {
        if first != 1 {
            return Err(StorageError::corrupt(
                &manifest_path,
                line_offset(0),
                Corruption::LsnGap {
                    expected: 1,
                    found: first,
                },
            ));
        }
    }
    let mut records = Vec::new();
    let mut segments = Vec::with_capacity(live.len());
    let mut torn = None;
    let mut preallocated = 0;
    let mut expected = first_listed;
    let skip_through = snap_lsn.unwrap_or(0);
    let count = live.len();
    for (i, lsn, path) in live {
        let bytes = match vfs.read_all(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::corrupt(
                    &manifest_path,
                    line_offset(i),
                    Corruption::Manifest("lists a missing segment"),
                ))
            }
            Err(e) => return Err(StorageError::io(&path, e)),
        };
        let scan = scan_segment(&bytes, &path, lsn, expected, i + 1 == count, |r| {
            if r.lsn <= skip_through {
                return;
            }
            records.push(RecoveredRecord {
                lsn: r.lsn,
                ts_ms: r.ts_ms,
                payload: r.payload.to_vec(),
            })
        })?;
        expected = scan.next_lsn;
        if let Some(t) = scan.torn {
            let from = scan.good_end as usize;
            let cut = bytes[from..from + t.len as usize].to_vec();
            torn = Some((path.clone(), t, cut));
        }
        preallocated = scan.zero_tail;
        segments.push((lsn, path, scan.good_end));
    }
    Ok(DirScan {
        manifest,
        records,
        segments,
        torn,
        preallocated,
        orphans,
        retired,
        snapshot,
        stale_snapshots,
        tmp_files,
        last_lsn: expected - 1,
    })
}

/// An orphan segment may be deleted only if it is a complete header and nothing else
/// (a rotation that crashed before its manifest was durable). Anything else is refused.
fn check_orphan_is_empty(vfs: &dyn Vfs, path: &Path) -> Result<(), StorageError> {
    let bytes = vfs.read_all(path).map_err(|e| StorageError::io(path, e))?;
    let header = SegmentHeader::decode(&bytes, path)?;
    let name_lsn = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_segment_name);
    if name_lsn != Some(header.first_lsn) {
        return Err(StorageError::corrupt(
            path,
            16,
            Corruption::LsnGap {
                expected: name_lsn.unwrap_or(0),
                found: header.first_lsn,
            },
        ));
    }
    if bytes.len() > SEGMENT_HEADER_LEN {
        return Err(StorageError::corrupt(
            path,
            SEGMENT_HEADER_LEN as u64,
            Corruption::OrphanSegment,
        ));
    }
    Ok(())
}

/// `Log::read_dir`.
pub(crate) fn read_dir(vfs: &dyn Vfs, dir: &Path) -> Result<Recovered, StorageError> {
    let scan = scan_dir(vfs, dir, false)?;
    Ok(Recovered {
        fresh: scan.manifest.is_none(),
        last_lsn: scan.last_lsn,
        segments: scan.segments.iter().map(|s| s.1.clone()).collect(),
        torn_tail: scan.torn.map(|(segment, t, _)| TornTail {
            segment,
            offset: t.offset,
            bytes: t.len,
            found: t.found,
            side_file: None,
        }),
        truncated_tail: None,
        removed: Vec::new(),
        orphans: scan.orphans,
        preallocated: scan.preallocated,
        records: scan.records,
        snapshot: scan.snapshot,
        leftovers: scan
            .retired
            .into_iter()
            .chain(scan.stale_snapshots)
            .collect(),
    })
}

fn remove_file(vfs: &dyn Vfs, path: &Path) -> Result<(), StorageError> {
    match vfs.remove(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

/// Saves the cut bytes next to the segment as `<segment>.torn-<unix_ms>`, durably.
fn write_side_file(
    vfs: &dyn Vfs,
    dir: &Path,
    segment: &Path,
    bytes: &[u8],
) -> Result<PathBuf, StorageError> {
    let name = segment
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("segment")
        .to_string();
    let ms = crate::clock::now_ms();
    let mut attempt = 0u32;
    loop {
        let path = if attempt == 0 {
            dir.join(format!("{name}.torn-{ms}"))
        } else {
            dir.join(format!("{name}.torn-{ms}-{attempt}"))
        };
        let mut f = match vfs.create_new(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
                continue;
            }
            Err(e) => return Err(StorageError::io(&path, e)),
        };
        f.write_all(bytes).map_err(|e| StorageError::io(&path, e))?;
        // DURABILITY: the copy of the cut bytes is on disk before the segment is truncated.
        f.sync_data().map_err(|e| StorageError::io(&path, e))?;
        // DURABILITY: ... and so is its directory entry.
        vfs.sync_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        return Ok(path);
    }
}

/// `Log::open`.
pub(crate) fn open(vfs: Arc<dyn Vfs>, opts: LogOptions) -> Result<(Log, Recovered), StorageError> {
    open_with(vfs, opts, None)
}

/// The writer of a fresh directory's base snapshot: called with the path of `snap-0`, it
/// leaves a durable, verified snapshot file of LSN 0 there (`snapshot::write_keyspace`).
pub type BaseWriter<'a> = &'a dyn Fn(&Path) -> Result<(), StorageError>;

/// [`open`], and for a fresh directory a base snapshot: once the directory is locked,
/// `base` writes `snap-0`, which the first MANIFEST then names, so the directory never
/// shows a log without it, and nobody else (a second restore, a server) can open the
/// directory meanwhile. A directory that already has a MANIFEST is refused.
pub(crate) fn open_with(
    vfs: Arc<dyn Vfs>,
    opts: LogOptions,
    base: Option<BaseWriter<'_>>,
) -> Result<(Log, Recovered), StorageError> {
    let dir = opts.dir.clone();
    vfs.create_dir_all(&dir)
        .map_err(|e| StorageError::io(&dir, e))?;
    let lock = vfs.lock_dir(&dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            StorageError::Locked
        } else {
            StorageError::io(dir.join("LOCK"), e)
        }
    })?;
    // Validate everything before changing anything.
    let scan = scan_dir(&*vfs, &dir, true)?;

    let mut removed = Vec::new();
    for path in scan
        .tmp_files
        .iter()
        .chain(&scan.orphans)
        .chain(&scan.retired)
        .chain(&scan.stale_snapshots)
    {
        remove_file(&*vfs, path)?;
        if scan.orphans.contains(path) {
            tracing::warn!(
                file = %path.display(),
                "deleted a header-only segment not listed in the MANIFEST (interrupted rotation)"
            );
        } else if !scan.tmp_files.contains(path) {
            tracing::info!(
                file = %path.display(),
                "deleted a file a snapshot made obsolete (interrupted cleanup)"
            );
        }
        removed.push(path.clone());
    }
    if !removed.is_empty() {
        // DURABILITY: the deletions are durable before the directory is used.
        vfs.sync_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
    }

    let mut truncated_tail = None;
    let mut torn_tail = None;
    let mut segments = scan.segments;
    if let Some((segment, t, cut)) = scan.torn {
        let side = write_side_file(&*vfs, &dir, &segment, &cut)?;
        // DURABILITY: cut the torn tail (durable truncate) only after its copy is durable.
        vfs.truncate(&segment, t.offset)
            .map_err(|e| StorageError::io(&segment, e))?;
        tracing::warn!(
            segment = %segment.display(),
            offset = t.offset,
            bytes_cut = t.len,
            zero_bytes_cut = t.zero_tail,
            found = %t.found,
            side_file = %side.display(),
            "truncated a torn tail at the end of the last log segment"
        );
        truncated_tail = Some((segment.clone(), t.offset, t.len, side.clone()));
        torn_tail = Some(TornTail {
            segment,
            offset: t.offset,
            bytes: t.len,
            found: t.found,
            side_file: Some(side),
        });
    }

    let fresh = scan.manifest.is_none();
    let base_snapshot = if let Some(base) = base {
        if !fresh {
            return Err(StorageError::io(
                dir.join(MANIFEST_NAME),
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the directory already holds a log",
                ),
            ));
        }
        let snap = dir.join(super::snapshot::snapshot_file_name(0));
        // DURABILITY: the writer leaves the file durable under its name (fdatasync, rename,
        // directory fsync) before a MANIFEST names it.
        base(&snap)?;
        Some((0, snap))
    } else {
        None
    };
    let mut active = if fresh {
        // Fresh directory: the first segment, then the first manifest (format/manifest.md
        // §Replace protocol); the same order as a rotation.
        let seg = SegmentWriter::create(&vfs, &dir, 1)?;
        publish(
            &vfs,
            &dir,
            &Manifest {
                snapshot: base_snapshot.as_ref().map(|s| s.0),
                segments: vec![1],
            },
        )?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            // DURABILITY: make the data directory's own entry durable (it may be new).
            vfs.sync_dir(parent)
                .map_err(|e| StorageError::io(parent, e))?;
        }
        segments.push((1, dir.join(segment_file_name(1)), SEGMENT_HEADER_LEN as u64));
        seg
    } else {
        let (lsn, path, len) = segments.last().cloned().ok_or_else(|| {
            StorageError::corrupt(
                dir.join(MANIFEST_NAME),
                0,
                Corruption::Manifest("no segments"),
            )
        })?;
        let mut seg = SegmentWriter::open(&vfs, path, lsn, len)?;
        // DURABILITY: the records just read back may have come from the page cache alone
        // (a killed process's unsynced tail): make them durable before they are reported
        // as fsynced, counted as covered by a rotation, or built on.
        seg.sync()?;
        seg
    };
    if opts.fsync == super::log::FsyncPolicy::Always && prealloc_enabled() {
        // P1–P2 at open (format/log.md §9 E): the first commits already overwrite zeros.
        preallocate_ahead(&mut active, opts.segment_size)?;
    }

    let last_lsn = scan.last_lsn;
    let current_size: u64 = segments.iter().map(|s| s.2).sum();
    let (progress, _) = watch::channel(Progress {
        durable: last_lsn,
        fsynced: last_lsn,
        failed: false,
        closed: false,
    });
    let counters = Counters::default();
    counters
        .current_size
        .store(current_size, std::sync::atomic::Ordering::Relaxed);
    counters
        .segments
        .store(segments.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let shared = Arc::new(Shared {
        vfs: Arc::clone(&vfs),
        dir: dir.clone(),
        segment_size: opts.segment_size,
        pending: Mutex::new(Pending {
            buf: Vec::new(),
            ends: Vec::new(),
            buf_first_lsn: last_lsn + 1,
            next_lsn: last_lsn + 1,
            wake_at: 1,
            sync_requested: 0,
            closed: false,
            poisoned: false,
            rotate_before: 0,
            handoff: false,
            writer_sleeping: false,
        }),
        writer_cv: Condvar::new(),
        last_lsn: AtomicU64::new(last_lsn),
        durable_lsn: AtomicU64::new(last_lsn),
        fsynced_lsn: AtomicU64::new(last_lsn),
        fsync: AtomicU8::new(opts.fsync.to_u8()),
        poisoned: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        poison_text: Mutex::new(None),
        progress,
        waiters: Mutex::new(Vec::new()),
        blocking_mx: Mutex::new(()),
        blocking_cv: Condvar::new(),
        counters,
        manifest: Mutex::new(Manifest::default()),
        completer: AtomicBool::new(false),
        rotate_pending: AtomicU64::new(0),
        complete_notify: tokio::sync::Notify::new(),
    });
    *shared.manifest.lock() = Manifest {
        snapshot: base_snapshot
            .as_ref()
            .or(scan.snapshot.as_ref())
            .map(|s| s.0),
        segments: segments.iter().map(|s| s.0).collect(),
    };
    let core = Arc::new(Mutex::new(Writer::new(
        Arc::clone(&shared),
        active,
        last_lsn,
    )));
    let thread_core = Arc::clone(&core);
    let handle = std::thread::Builder::new()
        .name("strata-log-writer".to_string())
        .spawn(move || Writer::run(thread_core))
        .map_err(|e| StorageError::io(&dir, e))?;
    let log = Log {
        shared,
        core,
        writer: Mutex::new(Some(handle)),
        lock: Mutex::new(Some(lock)),
    };
    let recovered = Recovered {
        preallocated: scan.preallocated,
        records: scan.records,
        truncated_tail,
        torn_tail,
        segments: segments.into_iter().map(|s| s.1).collect(),
        removed,
        orphans: Vec::new(),
        last_lsn,
        fresh,
        snapshot: base_snapshot.or(scan.snapshot),
        leftovers: Vec::new(),
    };
    Ok((log, recovered))
}

#[cfg(test)]
#[path = "prealloc_tests.rs"]
mod prealloc_tests;
