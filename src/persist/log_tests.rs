//! Unit tests of `Log`: open/append/recover, torn tails, corruption, rotation, the failure
//! latch, crash images and locking. All through `SimFs` (one RealFs smoke test).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::persist::batch::{decode_batch, encode_batch};
use crate::persist::io::{RealFs, SimFs, Vfs};
use crate::persist::manifest::{Manifest, MANIFEST_NAME};
use crate::persist::record::RECORD_OVERHEAD;
use crate::persist::segment::{segment_file_name, SEGMENT_HEADER_LEN};

/// How long a wait may take before a test calls it hung: generous, as these tests run
/// alongside the whole suite on a loaded machine, and a hang never ends anyway.
const HUNG: std::time::Duration = std::time::Duration::from_secs(30);

/// The data directory every SimFs test uses.
pub(crate) fn dir() -> PathBuf {
    PathBuf::from("/data")
}

/// Log options for `dir()`.
pub(crate) fn opts(policy: FsyncPolicy, segment_size: u64) -> LogOptions {
    LogOptions {
        dir: dir(),
        fsync: policy,
        segment_size,
    }
}

/// Open the log on a SimFs.
pub(crate) fn open(fs: &SimFs, o: LogOptions) -> Result<(Log, Recovered), StorageError> {
    Log::open(Arc::new(fs.clone()), o)
}

fn payload(i: u64) -> Vec<u8> {
    format!("payload-{i}").into_bytes()
}

/// Appends records `1..=n` (payload `payload(i)`, ts `1000 + i`) and waits for them.
fn append_n(log: &Log, n: u64) {
    let mut last = 0;
    for i in 1..=n {
        last = log.append(1000 + i as i64, &payload(i)).unwrap();
        assert_eq!(last, i);
    }
    log.wait_durable_blocking(last).unwrap();
}

fn assert_records(rec: &Recovered, n: u64) {
    let lsns: Vec<u64> = rec.records.iter().map(|r| r.lsn).collect();
    assert_eq!(lsns, (1..=n).collect::<Vec<_>>());
    for r in &rec.records {
        assert_eq!(r.payload, payload(r.lsn));
        assert_eq!(r.ts_ms, 1000 + r.lsn as i64);
    }
    assert_eq!(rec.last_lsn, n);
}

fn seg_path(lsn: u64) -> PathBuf {
    dir().join(segment_file_name(lsn))
}

#[test]
fn log_is_send_sync_and_wait_future_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Log>();
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    let fut = log.wait_durable(0);
    send(&fut);
}

#[test]
fn fresh_open_append_reopen() {
    let fs = SimFs::new();
    let (log, rec) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert!(rec.fresh);
    assert!(rec.records.is_empty());
    assert_eq!(
        fs.files(&dir()),
        vec!["MANIFEST", "seg-0000000000000001.log"]
    );
    append_n(&log, 10);
    assert_eq!(log.last_lsn(), 10);
    assert_eq!(log.durable_lsn(), 10);
    assert_eq!(log.fsynced_lsn(), 10);
    let st = log.stats();
    assert_eq!(st.records_written, 10);
    assert_eq!(st.segments, 1);
    assert!(st.fsyncs >= 1);
    assert!(st.last_write_ok);
    assert_eq!(st.fsync_policy, FsyncPolicy::Always);
    let expected_size: u64 = SEGMENT_HEADER_LEN as u64
        + (1..=10u64)
            .map(|i| (RECORD_OVERHEAD + payload(i).len()) as u64)
            .sum::<u64>();
    assert_eq!(st.current_size, expected_size);
    drop(log);
    let (log, rec) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert!(!rec.fresh);
    assert_records(&rec, 10);
    assert_eq!(log.append(1011, &payload(11)).unwrap(), 11);
    log.shutdown();
    let (_log, rec) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert_records(&rec, 11);
}

#[test]
fn batch_payload_through_append_with() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    let cmds = vec![(
        0u16,
        vec![
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k"),
            Bytes::from_static(b"v"),
        ],
    )];
    let lsn = log.append_with(5, |out| encode_batch(&cmds, out)).unwrap();
    log.wait_durable_blocking(lsn).unwrap();
    drop(log);
    let (_log, rec) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert_eq!(decode_batch(&rec.records[0].payload).unwrap(), cmds);
}

#[test]
fn second_open_is_locked_until_the_first_is_dropped() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    let e = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap_err();
    assert!(matches!(e, StorageError::Locked), "{e}");
    drop(log);
    open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
}

#[test]
fn realfs_smoke_and_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let o = LogOptions::new(&d);
    let (log, rec) = Log::open(Arc::new(RealFs), o.clone()).unwrap();
    assert!(rec.fresh);
    append_n(&log, 5);
    assert!(matches!(
        Log::open(Arc::new(RealFs), o.clone()),
        Err(StorageError::Locked)
    ));
    drop(log);
    let (_log, rec) = Log::open(Arc::new(RealFs), o).unwrap();
    assert_records(&rec, 5);
}

#[test]
fn rotation_produces_segments_and_recovers_all_with_contiguous_lsns() {
    let fs = SimFs::new();
    // Each record is 32 + 9..11 bytes: about 3 records per 160-byte segment.
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, 160)).unwrap();
    append_n(&log, 40);
    let segs = log.stats().segments;
    assert!(segs >= 10, "segments: {segs}");
    drop(log);
    let (log, rec) = open(&fs, opts(FsyncPolicy::Always, 160)).unwrap();
    assert_records(&rec, 40);
    assert_eq!(rec.segments.len() as u64, segs);
    // Segment names follow the LSN of their first record.
    let manifest = Manifest::decode(
        &fs.file(&dir().join(MANIFEST_NAME)).unwrap(),
        Path::new("m"),
    )
    .unwrap();
    assert_eq!(manifest.segments.len() as u64, segs);
    assert_eq!(manifest.segments[0], 1);
    for w in manifest.segments.windows(2) {
        assert!(w[0] < w[1]);
    }
    // Each segment's size respects the limit (every segment holds >1 record here).
    for s in &manifest.segments {
        let len = fs.file(&seg_path(*s)).unwrap().len();
        assert!(len <= 160, "segment {s} has {len} bytes");
    }
    // Writing continues after reopen, including more rotations.
    for i in 41..=60 {
        log.append(1000 + i as i64, &payload(i)).unwrap();
    }
    log.wait_durable_blocking(60).unwrap();
    drop(log);
    let (_log, rec) = open(&fs, opts(FsyncPolicy::Always, 160)).unwrap();
    assert_records(&rec, 60);
}

#[test]
fn oversized_record_gets_its_own_segment() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, 64)).unwrap();
    log.append(1, &[7u8; 500]).unwrap();
    log.append(2, &[8u8; 500]).unwrap();
    log.wait_durable_blocking(2).unwrap();
    assert_eq!(log.stats().segments, 2);
    drop(log);
    let (_log, rec) = open(&fs, opts(FsyncPolicy::Always, 64)).unwrap();
    assert_eq!(rec.records.len(), 2);
    assert_eq!(rec.records[1].payload, vec![8u8; 500]);
}

/// Builds a closed log with `n` records in one segment and returns the segment bytes and the
/// offset of the last record.
fn one_segment_log(n: u64) -> (SimFs, Vec<u8>, usize) {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    append_n(&log, n);
    drop(log);
    let bytes = fs.file(&seg_path(1)).unwrap();
    let last_len = RECORD_OVERHEAD + payload(n).len();
    (fs, bytes.clone(), bytes.len() - last_len)
}

/// The segment holds exactly `kept`, then only the zeros an `always` open preallocates
/// (format/log.md §9 E).
fn assert_cut_at(file: &[u8], kept: &[u8]) {
    assert_eq!(&file[..kept.len()], kept);
    assert!(file[kept.len()..].iter().all(|&b| b == 0));
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record() {
    let (fs, full, last_start) = one_segment_log(3);
    for cut in last_start..full.len() {
        let img = fs.crash_image();
        img.put_file(&seg_path(1), &full[..cut]);
        let (log, rec) = open(&img, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
        assert_records(&rec, 2);
        if cut == last_start {
            assert!(rec.truncated_tail.is_none(), "cut {cut}");
            continue;
        }
        let (seg, off, n, side) = rec.truncated_tail.clone().unwrap();
        assert_eq!(seg, seg_path(1));
        assert_eq!(off, last_start as u64);
        assert_eq!(n, (cut - last_start) as u64);
        assert_eq!(
            img.file(&side).unwrap(),
            &full[last_start..cut],
            "cut {cut}"
        );
        assert!(side
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("seg-0000000000000001.log.torn-"));
        assert_cut_at(&img.file(&seg_path(1)).unwrap(), &full[..last_start]);
        // The next append reuses LSN 3 and lands right after record 2.
        assert_eq!(log.append(1003, &payload(3)).unwrap(), 3);
        log.wait_durable_blocking(3).unwrap();
        drop(log);
        let (_log, rec) = open(&img, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
        assert_records(&rec, 3);
        assert!(rec.truncated_tail.is_none());
    }
}

#[test]
fn torn_tail_survives_a_crash_during_repair() {
    let (fs, full, last_start) = one_segment_log(3);
    let img = fs.crash_image();
    img.put_file(&seg_path(1), &full[..full.len() - 3]);
    // The truncate (third sync: side-file data, dir, truncate) fails: nothing is lost.
    img.fail_sync_after(2);
    assert!(open(&img, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).is_err());
    let img2 = img.crash_image();
    let (_log, rec) = open(&img2, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert_records(&rec, 2);
    assert_cut_at(&img2.file(&seg_path(1)).unwrap(), &full[..last_start]);
    // Two side files: one from each attempt, both with the cut bytes.
    let sides: Vec<_> = img2
        .files(&dir())
        .into_iter()
        .filter(|n| n.contains(".torn-"))
        .collect();
    assert!(!sides.is_empty());
}

#[test]
fn read_dir_reports_a_torn_tail_without_cutting() {
    let (fs, full, last_start) = one_segment_log(3);
    fs.put_file(&seg_path(1), &full[..full.len() - 1]);
    let rec = Log::read_dir(&fs, &dir()).unwrap();
    assert_records(&rec, 2);
    assert!(rec.truncated_tail.is_none());
    let t = rec.torn_tail.unwrap();
    assert_eq!(
        (t.offset, t.bytes),
        (last_start as u64, (full.len() - 1 - last_start) as u64)
    );
    assert_eq!(t.side_file, None);
    assert_eq!(fs.file(&seg_path(1)).unwrap().len(), full.len() - 1);
}

#[test]
fn read_dir_while_open_sees_durable_records() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, 200)).unwrap();
    append_n(&log, 20);
    let rec = Log::read_dir(&fs, &dir()).unwrap();
    assert_records(&rec, 20);
    assert!(rec.torn_tail.is_none());
}

/// A closed log with several segments (about 3 records each).
fn multi_segment_log() -> SimFs {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, 160)).unwrap();
    append_n(&log, 12);
    drop(log);
    fs
}

#[test]
fn flipped_byte_in_each_field_of_a_non_last_segment_record_is_refused() {
    let fs = multi_segment_log();
    let seg = seg_path(1);
    let good = fs.file(&seg).unwrap();
    // Record 2 of segment 1.
    let rec_start = SEGMENT_HEADER_LEN + RECORD_OVERHEAD + payload(1).len();
    let rec_len = RECORD_OVERHEAD + payload(2).len();
    let fields: [(&str, usize, Corruption); 9] = [
        ("len", 0, Corruption::HeaderCrc),
        ("lsn", 4, Corruption::HeaderCrc),
        ("ts_ms", 12, Corruption::HeaderCrc),
        ("kind", 20, Corruption::HeaderCrc),
        ("flags", 21, Corruption::HeaderCrc),
        ("reserved", 22, Corruption::HeaderCrc),
        ("header_crc", 24, Corruption::HeaderCrc),
        ("payload", 28, Corruption::PayloadCrc),
        ("crc", rec_len - 4, Corruption::PayloadCrc),
    ];
    for (name, at, want) in fields {
        let img = fs.crash_image();
        let mut b = good.clone();
        b[rec_start + at] ^= 0x10;
        img.put_file(&seg, &b);
        let e = open(&img, opts(FsyncPolicy::Always, 160)).unwrap_err();
        match &e {
            StorageError::Corrupt { file, offset, what } => {
                assert_eq!(file, &seg, "{name}");
                assert_eq!(*offset, rec_start as u64, "{name}");
                assert_eq!(*what, want, "{name}");
            }
            other => panic!("{name}: {other}"),
        }
        let text = e.to_string();
        assert!(text.contains("strata fsck"), "{text}");
        assert!(text.contains("seg-0000000000000001.log"), "{text}");
        // Nothing was modified by the refused open.
        assert_eq!(img.file(&seg).unwrap(), b);
    }
}

#[test]
fn non_last_segment_header_damage_and_truncation_are_refused() {
    let fs = multi_segment_log();
    let seg = seg_path(1);
    let good = fs.file(&seg).unwrap();
    for (at, want) in [
        (0usize, Corruption::BadMagic),
        (9, Corruption::HeaderCrc),
        (16, Corruption::HeaderCrc),
        (26, Corruption::HeaderCrc),
    ] {
        let img = fs.crash_image();
        let mut b = good.clone();
        b[at] ^= 0x01;
        img.put_file(&seg, &b);
        let e = open(&img, opts(FsyncPolicy::Always, 160)).unwrap_err();
        assert_eq!(e.corruption(), Some(want), "byte {at}");
    }
    let img = fs.crash_image();
    img.put_file(&seg, &good[..good.len() - 1]);
    let e = open(&img, opts(FsyncPolicy::Always, 160)).unwrap_err();
    assert_eq!(e.corruption(), Some(Corruption::TornTail));
    // The same damage in the LAST segment is a torn tail.
    let manifest = Manifest::decode(
        &fs.file(&dir().join(MANIFEST_NAME)).unwrap(),
        Path::new("m"),
    )
    .unwrap();
    let last = seg_path(*manifest.segments.last().unwrap());
    let img = fs.crash_image();
    let lb = img.file(&last).unwrap();
    img.put_file(&last, &lb[..lb.len() - 1]);
    let (_log, rec) = open(&img, opts(FsyncPolicy::Always, 160)).unwrap();
    assert_records(&rec, 11);
}

#[test]
fn lsn_gap_between_segments_is_refused() {
    let fs = multi_segment_log();
    let manifest = Manifest::decode(
        &fs.file(&dir().join(MANIFEST_NAME)).unwrap(),
        Path::new("m"),
    )
    .unwrap();
    // Drop the second segment from the manifest and the directory.
    let mut m = manifest.clone();
    let removed = m.segments.remove(1);
    fs.remove(&seg_path(removed)).unwrap();
    fs.put_file(&dir().join(MANIFEST_NAME), &m.encode());
    let e = open(&fs, opts(FsyncPolicy::Always, 160)).unwrap_err();
    assert_eq!(
        e.corruption(),
        Some(Corruption::LsnGap {
            expected: removed,
            found: m.segments[1]
        })
    );
    assert!(
        matches!(&e, StorageError::Corrupt { file, offset: 16, .. } if *file == seg_path(m.segments[1]))
    );
}

#[test]
fn manifest_naming_a_missing_segment_is_refused() {
    let fs = multi_segment_log();
    fs.remove(&seg_path(1)).unwrap();
    let e = open(&fs, opts(FsyncPolicy::Always, 160)).unwrap_err();
    assert_eq!(
        e.corruption(),
        Some(Corruption::Manifest("lists a missing segment"))
    );
    assert!(
        matches!(&e, StorageError::Corrupt { file, offset: 18, .. } if *file == dir().join(MANIFEST_NAME))
    );
}

#[test]
fn bad_manifest_crc_is_refused() {
    let fs = multi_segment_log();
    let mut m = fs.file(&dir().join(MANIFEST_NAME)).unwrap();
    m[20] ^= 0x01;
    fs.put_file(&dir().join(MANIFEST_NAME), &m);
    let e = open(&fs, opts(FsyncPolicy::Always, 160)).unwrap_err();
    assert!(
        matches!(e.corruption(), Some(Corruption::Manifest(_))),
        "{e}"
    );
}

#[test]
fn orphans_and_tmp_files() {
    let (fs, _, _) = one_segment_log(3);
    // A header-only orphan (rotation crashed before its manifest) and stray tmp files.
    let orphan = seg_path(4);
    fs.put_file(
        &orphan,
        &crate::persist::segment::SegmentHeader { first_lsn: 4 }.encode(),
    );
    fs.put_file(&dir().join("MANIFEST.tmp"), b"junk");
    fs.put_file(&dir().join("seg-0000000000000009.log.tmp"), b"junk");
    let rec = Log::read_dir(&fs, &dir()).unwrap();
    assert_eq!(rec.orphans, vec![orphan.clone()]);
    let (log, rec) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert_records(&rec, 3);
    assert_eq!(rec.removed.len(), 3);
    assert_eq!(
        fs.crash_image().files(&dir()),
        vec!["MANIFEST", "seg-0000000000000001.log"]
    );
    drop(log);
    // An orphan holding records is refused.
    let mut b = crate::persist::segment::SegmentHeader { first_lsn: 4 }
        .encode()
        .to_vec();
    crate::persist::record::encode_record(&mut b, 4, 0, 1, b"x");
    fs.put_file(&orphan, &b);
    let e = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap_err();
    assert_eq!(e.corruption(), Some(Corruption::OrphanSegment));
    assert!(matches!(&e, StorageError::Corrupt { file, offset: 32, .. } if *file == orphan));
}

#[test]
fn missing_manifest_with_header_only_segment_is_a_fresh_dir() {
    let fs = SimFs::new();
    fs.put_file(
        &seg_path(1),
        &crate::persist::segment::SegmentHeader { first_lsn: 1 }.encode(),
    );
    let (_log, rec) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert!(rec.fresh);
    assert_eq!(rec.removed, vec![seg_path(1)]);
}

#[test]
fn missing_manifest_with_records_is_refused() {
    let (fs, _, _) = one_segment_log(2);
    fs.remove(&dir().join(MANIFEST_NAME)).unwrap();
    let e = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap_err();
    assert_eq!(e.corruption(), Some(Corruption::OrphanSegment));
}

fn assert_poisoned_and_refusing(log: &Log, fs: &SimFs) {
    assert!(log.is_poisoned().is_some());
    let st = log.stats();
    assert!(!st.last_write_ok);
    assert!(st.poisoned.is_some());
    assert!(matches!(log.append(1, b"x"), Err(StorageError::Poisoned)));
    // The fault was one-shot; the log must not have carried on regardless.
    let writes = fs.writes();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(fs.writes(), writes);
}

#[test]
fn failed_write_latches() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    append_n(&log, 3);
    fs.fail_write_after(0);
    let lsn = log.append(1004, &payload(4)).unwrap();
    assert!(matches!(
        log.wait_durable_blocking(lsn),
        Err(StorageError::Poisoned)
    ));
    assert_eq!(log.durable_lsn(), 3);
    assert_poisoned_and_refusing(&log, &fs);
    // Earlier LSNs are still reported durable.
    log.wait_durable_blocking(3).unwrap();
    drop(log);
    // Restart: the half-written record is a torn tail.
    let (_log, rec) = open(
        &fs.crash_image(),
        opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE),
    )
    .unwrap();
    assert_records(&rec, 3);
}

#[test]
fn failed_fsync_latches_and_async_waiters_error() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)).unwrap();
    let log = Arc::new(log);
    append_n(&log, 2);
    fs.fail_sync_after(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..8u64 {
            let log = Arc::clone(&log);
            // The writer may latch before the later appends: those are refused at once.
            match log.append(2000 + i as i64, b"x") {
                Ok(lsn) => handles.push(tokio::spawn(async move { log.wait_durable(lsn).await })),
                Err(e) => assert!(matches!(e, StorageError::Poisoned), "{e}"),
            }
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    assert!(!results.is_empty());
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(StorageError::Poisoned))));
    assert_eq!(log.durable_lsn(), 2);
    assert_poisoned_and_refusing(&log, &fs);
    // A later waiter errors at once too.
    assert!(matches!(
        rt.block_on(log.wait_durable(log.last_lsn())),
        Err(StorageError::Poisoned)
    ));
}

#[test]
fn acknowledged_appends_survive_a_crash_under_always() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, 300)).unwrap();
    let log = Arc::new(log);
    let acked = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for t in 0..4u64 {
        let log = Arc::clone(&log);
        let acked = Arc::clone(&acked);
        threads.push(std::thread::spawn(move || {
            for i in 0..50u64 {
                let p = format!("t{t}-{i}").into_bytes();
                let lsn = log.append(0, &p).unwrap();
                log.wait_durable_blocking(lsn).unwrap();
                acked.lock().push((lsn, p));
            }
        }));
    }
    // Crash in the middle of the run.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let acked_before = acked.lock().clone();
    let img = fs.crash_image();
    for th in threads {
        th.join().unwrap();
    }
    let (_log, rec) = open(&img, opts(FsyncPolicy::Always, 300)).unwrap();
    for (lsn, p) in &acked_before {
        let r = &rec.records[*lsn as usize - 1];
        assert_eq!(r.lsn, *lsn);
        assert_eq!(&r.payload, p);
    }
    // And after everything finished, a crash keeps all 200.
    let (_log2, rec) = open(&fs.crash_image(), opts(FsyncPolicy::Always, 300)).unwrap();
    assert_eq!(rec.records.len(), 200);
    assert!(log.stats().mean_records_per_fsync >= 1.0);
}

#[test]
fn failure_at_every_step_during_rotation_leaves_a_recoverable_dir() {
    // Rotation does: old segment fsync, new segment header write + fsync, dir fsync, manifest
    // write + fsync, dir fsync. Fail each write and each sync in turn (with records around
    // them) and check the crash image recovers every acknowledged record, and the live
    // directory too once the log is gone.
    for (n, fail_write) in (0..12).flat_map(|n| [(n, false), (n, true)]) {
        let fs = SimFs::new();
        let (log, _) = open(&fs, opts(FsyncPolicy::Always, 150)).unwrap();
        append_n(&log, 3);
        if fail_write {
            fs.fail_write_after(n);
        } else {
            fs.fail_sync_after(n);
        }
        let mut acked = 3;
        for i in 4..=20u64 {
            let Ok(lsn) = log.append(1000 + i as i64, &payload(i)) else {
                break;
            };
            if log.wait_durable_blocking(lsn).is_err() {
                break;
            }
            acked = lsn;
        }
        drop(log);
        let img = fs.crash_image();
        let (reopened, rec) =
            open(&img, opts(FsyncPolicy::Always, 150)).unwrap_or_else(|e| panic!("n={n}: {e}"));
        assert!(rec.last_lsn >= acked, "n={n}");
        assert_records(&rec, rec.last_lsn);
        drop(reopened);
        let (_log, rec) =
            open(&fs, opts(FsyncPolicy::Always, 150)).unwrap_or_else(|e| panic!("n={n}: {e}"));
        assert!(rec.last_lsn >= acked, "n={n}");
        assert_records(&rec, rec.last_lsn);
    }
}

#[test]
fn everysec_publishes_after_write_and_fsyncs_within_a_second() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Everysec, DEFAULT_SEGMENT_SIZE)).unwrap();
    let syncs = fs.syncs();
    for i in 1..=5u64 {
        log.append(0, &payload(i)).unwrap();
    }
    log.wait_durable_blocking(5).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while log.fsynced_lsn() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "everysec never fsynced"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(fs.syncs() > syncs);
}

#[test]
fn no_policy_never_fsyncs_but_wait_fsynced_forces_one() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::No, DEFAULT_SEGMENT_SIZE)).unwrap();
    let syncs = fs.syncs();
    append_n(&log, 3);
    assert_eq!(log.durable_lsn(), 3);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(fs.syncs(), syncs);
    assert_eq!(log.fsynced_lsn(), 0);
    // Not durable in a crash image yet.
    assert!(Log::read_dir(&fs.crash_image(), &dir())
        .unwrap()
        .records
        .is_empty());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(log.wait_fsynced(3)).unwrap();
    assert_eq!(
        Log::read_dir(&fs.crash_image(), &dir())
            .unwrap()
            .records
            .len(),
        3
    );
    // Switching to Always: the next record waits for an fdatasync.
    log.set_fsync(FsyncPolicy::Always);
    log.append(0, &payload(4)).unwrap();
    log.wait_durable_blocking(4).unwrap();
    assert_eq!(log.fsynced_lsn(), 4);
    assert_eq!(log.stats().fsync_policy, FsyncPolicy::Always);
}

#[test]
fn shutdown_flushes_and_closes() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::No, DEFAULT_SEGMENT_SIZE)).unwrap();
    for i in 1..=4u64 {
        log.append(1000 + i as i64, &payload(i)).unwrap();
    }
    log.shutdown();
    log.shutdown();
    assert!(matches!(log.append(0, b"x"), Err(StorageError::Closed)));
    log.wait_durable_blocking(4).unwrap();
    assert!(matches!(
        log.wait_durable_blocking(5),
        Err(StorageError::Closed)
    ));
    // Everything is durable, even under `no`, and the lock is released.
    let (_log, rec) = open(
        &fs.crash_image(),
        opts(FsyncPolicy::No, DEFAULT_SEGMENT_SIZE),
    )
    .unwrap();
    assert_records(&rec, 4);
    drop(open(&fs, opts(FsyncPolicy::No, DEFAULT_SEGMENT_SIZE)).unwrap());
}

#[test]
fn fsync_policy_spellings() {
    for p in [FsyncPolicy::Always, FsyncPolicy::Everysec, FsyncPolicy::No] {
        assert_eq!(FsyncPolicy::parse(p.as_str()), Some(p));
    }
    assert_eq!(FsyncPolicy::parse("EVERYSEC"), Some(FsyncPolicy::Everysec));
    assert_eq!(FsyncPolicy::parse("sometimes"), None);
}

#[test]
fn many_async_waiters_wake() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, 4096)).unwrap();
    let log = Arc::new(log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut handles = Vec::new();
        for c in 0..32u64 {
            let log = Arc::clone(&log);
            handles.push(tokio::spawn(async move {
                for i in 0..20u64 {
                    let lsn = log.append(0, format!("{c}-{i}").as_bytes()).unwrap();
                    log.wait_durable(lsn).await.unwrap();
                    assert!(log.durable_lsn() >= lsn);
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(log.durable_lsn(), 640);
    drop(rt);
    let log = Arc::try_unwrap(log).unwrap();
    drop(log);
    let (_log, rec) = open(&fs.crash_image(), opts(FsyncPolicy::Always, 4096)).unwrap();
    assert_eq!(rec.records.len(), 640);
}

// ---- Inline writing (the runtime's log task writes under everysec/no, format/log.md §9 A) ----

/// A 2-worker runtime running the log task (`run_completions`), so that appends under
/// `everysec`/`no` are written by the runtime.
fn inline_runtime(log: &Arc<Log>) -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.spawn(Arc::clone(log).run_completions());
    rt
}

/// Under `no`, a sync request (WAITAOF-style `wait_fsynced`, what a snapshot install does)
/// made at any point of the writer thread's poll/sleep cycle is served.
#[test]
fn inline_no_policy_sync_requests_are_served_whenever_they_come() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::No, DEFAULT_SEGMENT_SIZE)).unwrap();
    let log = Arc::new(log);
    let rt = inline_runtime(&log);
    rt.block_on(async {
        for round in 0..30u64 {
            let lsn = log
                .append(1001 + round as i64, &payload(round + 1))
                .unwrap();
            tokio::time::timeout(HUNG, log.wait_durable(lsn))
                .await
                .expect("record never written")
                .unwrap();
            // Before, during and after the writer thread's poll interval and deep sleep.
            tokio::time::sleep(std::time::Duration::from_micros(700 * (round % 40))).await;
            tokio::time::timeout(HUNG, log.wait_fsynced(lsn))
                .await
                .expect("sync request never served")
                .unwrap();
        }
    });
    drop(rt);
    let log = Arc::try_unwrap(log).unwrap();
    drop(log);
    let (_log, rec) = open(&fs.crash_image(), opts(FsyncPolicy::No, 4096)).unwrap();
    assert_records(&rec, 30);
}

/// Under `everysec` with inline writing, the fdatasync comes within ~1-2 s of the last
/// write after the load stops (the writer thread must not sleep on unsynced records).
#[test]
fn inline_everysec_fsyncs_after_the_load_stops() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Everysec, DEFAULT_SEGMENT_SIZE)).unwrap();
    let log = Arc::new(log);
    let rt = inline_runtime(&log);
    rt.block_on(async {
        // Let the writer go idle (deep sleep) first.
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        let mut last = 0;
        for i in 1..=50u64 {
            last = log.append(1000 + i as i64, &payload(i)).unwrap();
            log.wait_durable(last).await.unwrap();
        }
        let t0 = std::time::Instant::now();
        while log.fsynced_lsn() < last {
            assert!(
                t0.elapsed() < std::time::Duration::from_millis(2500),
                "everysec fdatasync never came after the load stopped"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    drop(rt);
    let log = Arc::try_unwrap(log).unwrap();
    drop(log);
    let (_log, rec) = open(&fs.crash_image(), opts(FsyncPolicy::Everysec, 4096)).unwrap();
    assert_records(&rec, 50);
}

/// Many tasks append and wait while the policy flips between `always`, `everysec` and `no`
/// and small segments force rotations (hand-offs): no wait hangs, every acknowledged record
/// is on disk once the log shuts down, in LSN order, each task's records in its own order.
#[test]
fn inline_concurrent_appends_across_policy_changes_and_rotations() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Everysec, 2048)).unwrap();
    let log = Arc::new(log);
    let rt = inline_runtime(&log);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked: Vec<Vec<(u64, Vec<u8>)>> = rt.block_on(async {
        let toggler = {
            let (log, done) = (Arc::clone(&log), Arc::clone(&done));
            tokio::spawn(async move {
                let ps = [FsyncPolicy::No, FsyncPolicy::Always, FsyncPolicy::Everysec];
                let mut i = 0usize;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    log.set_fsync(ps[i % 3]);
                    i += 1;
                    tokio::time::sleep(std::time::Duration::from_micros(
                        300 + (i % 7) as u64 * 500,
                    ))
                    .await;
                }
            })
        };
        let mut handles = Vec::new();
        for c in 0..8u64 {
            let log = Arc::clone(&log);
            handles.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..150u64 {
                    let p = format!("{c}-{i}").into_bytes();
                    let lsn = log.append(0, &p).unwrap();
                    tokio::time::timeout(HUNG, log.wait_durable(lsn))
                        .await
                        .unwrap_or_else(|_| panic!("wait_durable({lsn}) hung"))
                        .unwrap();
                    mine.push((lsn, p));
                    if i % 37 == 0 {
                        tokio::time::timeout(HUNG, log.wait_fsynced(lsn))
                            .await
                            .unwrap_or_else(|_| panic!("wait_fsynced({lsn}) hung"))
                            .unwrap();
                    }
                    if i % 10 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.push(h.await.unwrap());
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        toggler.await.unwrap();
        all
    });
    drop(rt);
    let log = Arc::try_unwrap(log).unwrap();
    log.shutdown();
    drop(log);
    let (_log, rec) = open(&fs.crash_image(), opts(FsyncPolicy::Everysec, 2048)).unwrap();
    assert_eq!(rec.records.len(), 8 * 150);
    let by_lsn: std::collections::HashMap<u64, &[u8]> = rec
        .records
        .iter()
        .map(|r| (r.lsn, r.payload.as_ref()))
        .collect();
    for mine in &acked {
        let mut prev = 0;
        for (lsn, p) in mine {
            assert!(*lsn > prev);
            prev = *lsn;
            assert_eq!(by_lsn.get(lsn).copied(), Some(p.as_slice()), "lsn {lsn}");
        }
    }
}

/// The log task dropped (its runtime shut down): the writer thread takes over, appends made
/// afterwards are still written and waits still resolve.
#[test]
fn inline_log_task_dropped_the_writer_thread_takes_over() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Everysec, DEFAULT_SEGMENT_SIZE)).unwrap();
    let log = Arc::new(log);
    let rt = inline_runtime(&log);
    rt.block_on(async {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        for i in 1..=5u64 {
            let lsn = log.append(1000 + i as i64, &payload(i)).unwrap();
            log.wait_durable(lsn).await.unwrap();
        }
        // Leave one pending for the runtime that is about to go away.
        log.append(1006, &payload(6)).unwrap();
    });
    drop(rt);
    let (tx, rx) = std::sync::mpsc::channel();
    let l2 = Arc::clone(&log);
    let appender = std::thread::spawn(move || {
        l2.append(1007, &payload(7)).unwrap();
        let _ = tx.send(l2.wait_durable_blocking(7));
    });
    rx.recv_timeout(HUNG)
        .expect("record appended after the log task was dropped never written")
        .unwrap();
    // The thread still holds its clone of the log until it ends (the send comes first).
    appender.join().unwrap();
    let log = Arc::try_unwrap(log).unwrap();
    drop(log);
    let (_log, rec) = open(&fs.crash_image(), opts(FsyncPolicy::Everysec, 4096)).unwrap();
    assert_records(&rec, 7);
}

/// A write failure while the runtime writes (inline, `everysec`) latches the log like one
/// on the writer thread: the waiting task gets `Poisoned`, earlier records stay durable,
/// appends are refused, nothing more is written, and shutdown does not hang.
#[test]
fn inline_failed_write_latches() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Everysec, DEFAULT_SEGMENT_SIZE)).unwrap();
    let log = Arc::new(log);
    let rt = inline_runtime(&log);
    rt.block_on(async {
        for i in 1..=3u64 {
            let lsn = log.append(1000 + i as i64, &payload(i)).unwrap();
            log.wait_durable(lsn).await.unwrap();
        }
        fs.fail_write_after(0);
        let lsn = log.append(1004, &payload(4)).unwrap();
        let r = tokio::time::timeout(HUNG, log.wait_durable(lsn))
            .await
            .expect("waiter hung on a failed write");
        assert!(matches!(r, Err(StorageError::Poisoned)), "{r:?}");
        assert_eq!(log.durable_lsn(), 3);
        log.wait_durable(3).await.unwrap();
    });
    assert_poisoned_and_refusing(&log, &fs);
    drop(rt);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        log.shutdown();
        let _ = tx.send(());
    });
    rx.recv_timeout(HUNG).expect("shutdown hung after a latch");
    let (_log, rec) = open(
        &fs.crash_image(),
        opts(FsyncPolicy::Everysec, DEFAULT_SEGMENT_SIZE),
    )
    .unwrap();
    // Records 1-3 were written but maybe never fdatasynced: a crash image keeps a prefix.
    assert!(rec.last_lsn <= 3);
    assert_records(&rec, rec.last_lsn);
}

/// A snapshot install whose MANIFEST rename happened but whose directory fsync failed:
/// the MANIFEST names the snapshot (perhaps not durably), so the log latches, as for any
/// failed fsync, and follows the directory, keeping the snapshot's file, which a restart
/// then finds.
#[test]
fn snapshot_install_failing_after_the_manifest_rename_latches_and_keeps_the_file() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Everysec, DEFAULT_SEGMENT_SIZE)).unwrap();
    let snap = dir().join(crate::persist::snapshot::snapshot_file_name(0));
    let ks = crate::db::Keyspace::new(16);
    crate::persist::snapshot::write_keyspace(&fs, &snap, 0, &ks, &[], |_| {}).unwrap();
    // The publish: the new MANIFEST's fdatasync succeeds, the directory's fsync fails.
    fs.fail_sync_after(1);
    assert!(log.install_snapshot(0).is_err());
    assert!(log.is_poisoned().is_some(), "the log latched");
    assert_eq!(log.snapshot_lsn(), Some(0), "the log follows the MANIFEST");
    assert!(fs.file_len(&snap).is_ok(), "the snapshot's file is kept");
    log.shutdown();
    let (_, rec) = open(&fs, opts(FsyncPolicy::Everysec, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert_eq!(rec.snapshot.map(|s| s.0), Some(0));
}

/// A fresh directory's base snapshot (restore, the import of `dump.rdb` at start) is
/// written only under the directory's lock: while another process holds it (a second
/// restore, a server) the writer is not even called, so two imports never write into one
/// directory at once. Once free, the snapshot written is the one the first MANIFEST names,
/// durably.
#[test]
fn a_base_snapshot_is_written_only_under_the_directory_lock() {
    let fs = SimFs::new();
    fs.create_dir_all(&dir()).unwrap();
    let calls = std::sync::atomic::AtomicU32::new(0);
    let mut ks = crate::db::Keyspace::new(16);
    ks.dbs[0].insert(
        b"k",
        crate::db::Entry::new(crate::db::Value::Str(b"v".to_vec().into()), 0),
    );
    let write = |path: &Path| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        crate::persist::snapshot::write_keyspace(&fs, path, 0, &ks, &[], |_| {}).map(|_| ())
    };
    let held = fs.lock_dir(&dir()).unwrap();
    let opts = || opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE);
    let err = Log::open_with_base(Arc::new(fs.clone()), opts(), &write).unwrap_err();
    assert!(matches!(err, StorageError::Locked), "{err}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(
        fs.files(&dir()).iter().all(|f| f == "LOCK"),
        "{:?}",
        fs.files(&dir())
    );
    drop(held);
    let (log, _) = Log::open_with_base(Arc::new(fs.clone()), opts(), &write).unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    log.shutdown();
    // A directory with a log is refused, again before the writer runs.
    assert!(Log::open_with_base(Arc::new(fs.clone()), opts(), &write).is_err());
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (_, rec) = open(&fs.crash_image(), opts()).unwrap();
    assert_eq!(rec.snapshot.map(|s| s.0), Some(0));
}
