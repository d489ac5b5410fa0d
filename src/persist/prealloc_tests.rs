//! Tests of log segment preallocation (format/log.md §9 E, §6 zero tail, §7): reopening with
//! a zero tail, trimming at rotation and shutdown, torn and garbage tails inside
//! preallocated space, a zero tail in a non-last segment, power loss at every sync and a
//! failed write at every step, and the logical size INFO reports. All through `SimFs`.

use std::path::PathBuf;

use crate::persist::error::StorageError;
use crate::persist::io::SimFs;
use crate::persist::log::tests::{dir, open, opts};
use crate::persist::log::{FsyncPolicy, Log, LogOptions, Recovered, DEFAULT_SEGMENT_SIZE};
use crate::persist::record::{encode_record, KIND_BATCH};
use crate::persist::segment::{scan_segment, segment_file_name, SEGMENT_HEADER_LEN};

fn always() -> LogOptions {
    opts(FsyncPolicy::Always, DEFAULT_SEGMENT_SIZE)
}

fn payload(i: u64) -> Vec<u8> {
    format!("payload-{i}-{}", "x".repeat((i % 7) as usize * 10)).into_bytes()
}

fn seg_path(lsn: u64) -> PathBuf {
    dir().join(segment_file_name(lsn))
}

/// Appends records `from..=to`, each waited for (one fdatasync each under `always`).
fn append_range(log: &Log, from: u64, to: u64) {
    for i in from..=to {
        let lsn = log.append(1000 + i as i64, &payload(i)).unwrap();
        assert_eq!(lsn, i);
        log.wait_durable_blocking(lsn).unwrap();
    }
}

fn assert_records(rec: &Recovered, n: u64) {
    let lsns: Vec<u64> = rec.records.iter().map(|r| r.lsn).collect();
    assert_eq!(lsns, (1..=n).collect::<Vec<_>>());
    for r in &rec.records {
        assert_eq!(r.payload, payload(r.lsn), "lsn {}", r.lsn);
        assert_eq!(r.ts_ms, 1000 + r.lsn as i64);
    }
}

/// Logical bytes of records `1..=n` in one segment.
fn logical_len(n: u64) -> u64 {
    SEGMENT_HEADER_LEN as u64 + (1..=n).map(|i| 32 + payload(i).len() as u64).sum::<u64>()
}

/// A one-segment log with `n` records, left open (so its file keeps its zero tail) and the
/// crash image taken now.
fn preallocated_log(n: u64) -> (SimFs, Log, SimFs) {
    let fs = SimFs::new();
    let (log, _) = open(&fs, always()).unwrap();
    append_range(&log, 1, n);
    let img = fs.crash_image();
    (fs, log, img)
}

#[test]
fn always_preallocates_and_info_size_stays_logical() {
    let (fs, log, img) = preallocated_log(20);
    let file = fs.file(&seg_path(1)).unwrap();
    assert!(
        file.len() as u64 >= logical_len(20) + 512 * 1024,
        "{}",
        file.len()
    );
    assert_eq!(file.len() % 4096, 0);
    assert!(file[logical_len(20) as usize..].iter().all(|&b| b == 0));
    // The zeros are durable (P2), and INFO's aof_current_size counts records only.
    assert_eq!(img.file(&seg_path(1)).unwrap().len(), file.len());
    assert_eq!(log.stats().current_size, logical_len(20));
    // Clean shutdown trims them (P4).
    drop(log);
    assert_eq!(fs.file(&seg_path(1)).unwrap().len() as u64, logical_len(20));
    let (log, rec) = open(&fs, always()).unwrap();
    assert_eq!(rec.preallocated, 0);
    assert_eq!(log.stats().current_size, logical_len(20));
}

#[test]
fn everysec_and_no_do_not_preallocate() {
    for policy in [FsyncPolicy::Everysec, FsyncPolicy::No] {
        let fs = SimFs::new();
        let (log, _) = open(&fs, opts(policy, DEFAULT_SEGMENT_SIZE)).unwrap();
        append_range(&log, 1, 10);
        assert_eq!(
            fs.file(&seg_path(1)).unwrap().len() as u64,
            logical_len(10),
            "{policy:?}"
        );
    }
}

#[test]
fn reopen_with_a_zero_tail_continues_at_the_last_record() {
    let (_fs, _log, img) = preallocated_log(20);
    let file_len = img.file(&seg_path(1)).unwrap().len() as u64;
    let (log, rec) = open(&img, always()).unwrap();
    assert_records(&rec, 20);
    assert!(rec.truncated_tail.is_none());
    assert!(rec.torn_tail.is_none());
    assert_eq!(rec.preallocated, file_len - logical_len(20));
    assert_eq!(
        img.files(&dir()),
        vec!["MANIFEST", "seg-0000000000000001.log"]
    );
    assert_eq!(log.stats().current_size, logical_len(20));
    // The next record overwrites the zeros right after record 20; the file does not grow.
    append_range(&log, 21, 30);
    let bytes = img.file(&seg_path(1)).unwrap();
    assert_eq!(bytes.len() as u64, file_len);
    let s = scan_segment(&bytes, &seg_path(1), 1, 1, true, |_| {}).unwrap();
    assert_eq!(s.records, 30);
    assert_eq!(s.good_end, logical_len(30));
    assert_eq!(log.stats().current_size, logical_len(30));
    // A crash now, and a reopen: all 30.
    let img2 = img.crash_image();
    let img3 = img.crash_image();
    drop(log);
    let (_log, rec) = open(&img2, always()).unwrap();
    assert_records(&rec, 30);
    assert!(rec.truncated_tail.is_none());
    // read_dir (fsck's reader) agrees.
    let rec = Log::read_dir(&img3, &dir()).unwrap();
    assert_records(&rec, 30);
    assert!(rec.torn_tail.is_none());
    assert!(rec.preallocated > 0);
}

#[test]
fn rotation_trims_the_old_segment_and_only_the_last_one_has_zeros() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, 8192)).unwrap();
    append_range(&log, 1, 400);
    let img = fs.crash_image();
    let rec = Log::read_dir(&img, &dir()).unwrap();
    assert!(rec.segments.len() >= 3, "{:?}", rec.segments);
    assert_records(&rec, 400);
    let mut total = 0;
    let mut expected = 1;
    for (i, p) in rec.segments.iter().enumerate() {
        let bytes = img.file(p).unwrap();
        let last = i + 1 == rec.segments.len();
        let lsn = expected;
        let s = scan_segment(&bytes, p, lsn, expected, last, |_| {}).unwrap();
        expected = s.next_lsn;
        total += s.good_end;
        if !last {
            assert_eq!(bytes.len() as u64, s.good_end, "{}", p.display());
        }
        assert!(bytes.len() <= 8192 || s.records == 1);
    }
    // Preallocation never goes past the segment size.
    assert_eq!(log.stats().current_size, total);
    let (_log, rec) = open(&img, opts(FsyncPolicy::Always, 8192)).unwrap();
    assert_records(&rec, 400);
}

#[test]
fn zero_tail_in_a_non_last_segment_refuses_startup() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, opts(FsyncPolicy::Always, 2048)).unwrap();
    append_range(&log, 1, 60);
    drop(log);
    let rec = Log::read_dir(&fs, &dir()).unwrap();
    assert!(rec.segments.len() >= 2);
    let first = rec.segments[0].clone();
    let mut bytes = fs.file(&first).unwrap();
    let at = bytes.len() as u64;
    bytes.resize(bytes.len() + 4096, 0);
    fs.put_file(&first, &bytes);
    let e = open(&fs, opts(FsyncPolicy::Always, 2048)).unwrap_err();
    match &e {
        StorageError::Corrupt { file, offset, .. } => {
            assert_eq!(file, &first);
            assert_eq!(*offset, at);
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains("strata fsck"), "{text}");
    assert!(text.contains(&format!("offset {at}")), "{text}");
}

/// Writes `tail` at the end of the records of the last segment of `img` (over its zeros).
fn plant_after_records(img: &SimFs, n: u64, tail: &[u8], extra_zeros: usize) -> Vec<u8> {
    let mut bytes = img.file(&seg_path(1)).unwrap();
    let at = logical_len(n) as usize;
    let end = (at + tail.len()).max(bytes.len()) + extra_zeros;
    bytes.resize(end, 0);
    bytes[at..at + tail.len()].copy_from_slice(tail);
    img.put_file(&seg_path(1), &bytes);
    bytes
}

#[test]
fn torn_record_followed_by_zeros_is_cut_with_a_side_file() {
    let (_fs, _log, img) = preallocated_log(20);
    let mut next = Vec::new();
    encode_record(&mut next, 21, 1021, KIND_BATCH, &payload(21));
    for keep in [1, 4, 27, 28, 40, next.len() - 1] {
        let img = img.crash_image();
        let bytes = plant_after_records(&img, 20, &next[..keep], 0);
        let at = logical_len(20);
        let (log, rec) = open(&img, always()).unwrap();
        assert_records(&rec, 20);
        assert_eq!(rec.preallocated, 0);
        let (seg, off, n, side) = rec.truncated_tail.clone().unwrap();
        assert_eq!((seg, off), (seg_path(1), at));
        // The side file keeps the torn bytes through the end of their page; the zeros after
        // that are preallocated space and are cut without a copy.
        let page_end = (at as usize + keep).div_ceil(4096) * 4096;
        assert_eq!(n, (page_end - at as usize) as u64, "keep {keep}");
        assert_eq!(img.file(&side).unwrap(), &bytes[at as usize..page_end]);
        // Cut at the end of record 20; the open then preallocated again (P1 at open).
        let file = img.file(&seg_path(1)).unwrap();
        assert_eq!(&file[..at as usize], &bytes[..at as usize], "keep {keep}");
        assert!(file[at as usize..].iter().all(|&b| b == 0), "keep {keep}");
        append_range(&log, 21, 22);
        drop(log);
        let (_l, rec) = open(&img, always()).unwrap();
        assert_records(&rec, 22);
        assert!(rec.truncated_tail.is_none());
    }
}

#[test]
fn zeros_then_garbage_is_a_torn_tail_and_zeros_then_a_record_refuses() {
    let (_fs, _log, img) = preallocated_log(20);
    let at = logical_len(20) as usize;
    // Garbage 100 bytes before the end of the file, zeros before it.
    let img1 = img.crash_image();
    let mut bytes = img1.file(&seg_path(1)).unwrap();
    let g = bytes.len() - 100;
    bytes[g..g + 7].copy_from_slice(b"garbage");
    img1.put_file(&seg_path(1), &bytes);
    let (_log1, rec) = open(&img1, always()).unwrap();
    assert_records(&rec, 20);
    let (_, off, n, side) = rec.truncated_tail.clone().unwrap();
    assert_eq!(off, at as u64);
    assert_eq!(n, (bytes.len() - at) as u64);
    assert_eq!(img1.file(&side).unwrap(), &bytes[at..]);
    let file = img1.file(&seg_path(1)).unwrap();
    assert_eq!(&file[..at], &bytes[..at]);
    assert!(file[at..].iter().all(|&b| b == 0));
    // A valid record 21 after some zeros (its page persisted, the one before not): the
    // reader cannot tell it was never acknowledged, so it refuses (format/log.md §7).
    let img2 = img.crash_image();
    let mut rec21 = vec![0u8; 4096];
    encode_record(&mut rec21, 21, 1021, KIND_BATCH, &payload(21));
    plant_after_records(&img2, 20, &rec21, 0);
    let e = open(&img2, always()).unwrap_err();
    assert!(
        matches!(&e, StorageError::Corrupt { offset, .. } if *offset == at as u64),
        "{e}"
    );
}

/// Power loss right after every sync of a run that preallocates, fills and rotates several
/// segments: every record acknowledged by then is recovered, in order, and the log goes on.
#[test]
fn power_loss_at_every_sync_keeps_every_acknowledged_record() {
    const N: u64 = 120;
    let seg = 3000;
    let run = |fs: &SimFs| -> Vec<(u64, u64)> {
        let (log, _) = open(fs, opts(FsyncPolicy::Always, seg)).unwrap();
        let mut acked = Vec::new();
        for i in 1..=N {
            let lsn = log.append(1000 + i as i64, &payload(i)).unwrap();
            log.wait_durable_blocking(lsn).unwrap();
            acked.push((lsn, fs.syncs()));
        }
        drop(log);
        acked
    };
    let total = {
        let fs = SimFs::new();
        run(&fs);
        fs.syncs()
    };
    assert!(total > N + 10, "{total}");
    for n in 1..=total {
        let fs = SimFs::new();
        fs.image_after_sync(n);
        let acked = run(&fs);
        let img = fs
            .kept_image()
            .unwrap_or_else(|| panic!("no image at sync {n}"));
        let must = acked.iter().filter(|(_, s)| *s <= n).count() as u64;
        let (log, rec) =
            open(&img, opts(FsyncPolicy::Always, seg)).unwrap_or_else(|e| panic!("sync {n}: {e}"));
        let got = rec.records.len() as u64;
        assert!(got >= must, "sync {n}: {got} < {must}");
        assert_records(&rec, got);
        assert!(rec.torn_tail.is_none(), "sync {n}: {:?}", rec.torn_tail);
        // The log continues from there.
        let lsn = log
            .append(1000 + got as i64 + 1, &payload(got + 1))
            .unwrap();
        log.wait_durable_blocking(lsn).unwrap();
        drop(log);
        let (_log, rec) = open(&img, opts(FsyncPolicy::Always, seg)).unwrap();
        assert_records(&rec, got + 1);
    }
}

/// A write that fails at every step (record writes, zero fills, rotation): the log latches,
/// and both the crash image and the live directory recover every acknowledged record.
#[test]
fn failed_write_at_every_step_keeps_every_acknowledged_record() {
    for n in 0..40 {
        let fs = SimFs::new();
        let (log, _) = open(&fs, opts(FsyncPolicy::Always, 3000)).unwrap();
        fs.fail_write_after(n);
        let mut acked = 0;
        for i in 1..=80u64 {
            let Ok(lsn) = log.append(1000 + i as i64, &payload(i)) else {
                break;
            };
            if log.wait_durable_blocking(lsn).is_err() {
                break;
            }
            acked = lsn;
        }
        drop(log);
        for (what, img) in [("crash", fs.crash_image()), ("live", fs.clone())] {
            let (_log, rec) = open(&img, opts(FsyncPolicy::Always, 3000))
                .unwrap_or_else(|e| panic!("n={n} {what}: {e}"));
            let got = rec.records.len() as u64;
            assert!(got >= acked, "n={n} {what}: {got} < {acked}");
            assert_records(&rec, got);
        }
    }
}

#[test]
fn failed_sync_of_the_zero_fill_latches() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, always()).unwrap();
    // Open zero-filled 1 MiB ahead; a 600 KiB record leaves less than 512 KiB of zeros, so
    // its commit (sync 1) is followed by a zero fill (sync 2), which fails.
    let big = vec![7u8; 600 * 1024];
    fs.fail_sync_after(1);
    let lsn = log.append(1001, &big).unwrap();
    log.wait_durable_blocking(lsn).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while log.is_poisoned().is_none() {
        assert!(std::time::Instant::now() < deadline, "never latched");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(matches!(
        log.append(1002, b"x"),
        Err(StorageError::Poisoned)
    ));
    drop(log);
    let (_log, rec) = open(&fs.crash_image(), always()).unwrap();
    assert_eq!(rec.records.len(), 1);
    assert_eq!(rec.records[0].payload, big);
}

/// A zero fill that cannot be written (a full disk) is not a log failure: no record is in
/// it. The log goes on, records extend the file, and what shutdown or a crash leaves is
/// every acknowledged record and no zero tail.
#[test]
fn failed_write_of_the_zero_fill_does_not_latch() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, always()).unwrap();
    // The 600 KiB record is one write (it succeeds); the zero fill after its commit is the
    // next write, which fails.
    let big = vec![7u8; 600 * 1024];
    fs.fail_write_after(1);
    let lsn = log.append(1001, &big).unwrap();
    log.wait_durable_blocking(lsn).unwrap();
    // Past the old preallocated end (1 MiB): the file grows record by record.
    let small = vec![9u8; 100 * 1024];
    for i in 0..6 {
        let lsn = log.append(1002 + i, &small).unwrap();
        log.wait_durable_blocking(lsn).unwrap();
    }
    assert!(log.is_poisoned().is_none());
    let img = fs.crash_image();
    drop(log);
    let logical = SEGMENT_HEADER_LEN as u64 + 32 * 7 + 600 * 1024 + 6 * 100 * 1024;
    assert_eq!(fs.file(&seg_path(1)).unwrap().len() as u64, logical);
    for fs in [img, fs] {
        let (_log, rec) = open(&fs, always()).unwrap();
        assert_eq!(rec.records.len(), 7);
        assert_eq!(rec.records[0].payload, big);
        assert!(rec.records[1..].iter().all(|r| r.payload == small));
    }
}

/// A record write that fails part way (a full disk writes a prefix) leaves the segment
/// ending at its last whole record: a restart finds no torn tail to copy aside (on a full
/// disk there would be no room for the side file).
#[test]
fn failed_record_write_is_cut_back_to_the_last_whole_record() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::Everysec] {
        let fs = SimFs::new();
        let (log, _) = open(&fs, opts(policy, DEFAULT_SEGMENT_SIZE)).unwrap();
        append_range(&log, 1, 5);
        fs.fail_write_after(0);
        let lsn = log.append(1006, &payload(6)).unwrap();
        assert!(log.wait_durable_blocking(lsn).is_err(), "{policy:?}");
        assert!(log.is_poisoned().is_some());
        assert_eq!(
            fs.file(&seg_path(1)).unwrap().len() as u64,
            logical_len(5),
            "{policy:?}"
        );
        drop(log);
        let (_log, rec) = open(&fs, opts(policy, DEFAULT_SEGMENT_SIZE)).unwrap();
        assert_records(&rec, 5);
        assert!(rec.torn_tail.is_none() && rec.truncated_tail.is_none());
        assert_eq!(
            fs.files(&dir()),
            vec!["MANIFEST", "seg-0000000000000001.log"]
        );
    }
}

/// Reopening a directory on a full disk: the zero fill at open fails, the server still
/// starts and serves what the log holds.
#[test]
fn open_survives_a_zero_fill_that_cannot_be_written() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, always()).unwrap();
    append_range(&log, 1, 5);
    drop(log);
    fs.fail_write_after(0);
    let (log, rec) = open(&fs, always()).unwrap();
    assert_records(&rec, 5);
    assert!(log.is_poisoned().is_none());
    append_range(&log, 6, 8);
    drop(log);
    let (_log, rec) = open(&fs, always()).unwrap();
    assert_records(&rec, 8);
}

#[test]
fn open_preallocates_under_always_only() {
    let fs = SimFs::new();
    let (log, _) = open(&fs, always()).unwrap();
    // Durable right after open: the first commit already overwrites zeros.
    let img = fs.crash_image();
    assert_eq!(img.file(&seg_path(1)).unwrap().len(), 1024 * 1024 + 4096);
    drop(log);
    assert_eq!(fs.file(&seg_path(1)).unwrap().len(), SEGMENT_HEADER_LEN);
    let (_log, rec) = open(&img, always()).unwrap();
    assert_eq!(
        rec.preallocated,
        1024 * 1024 + 4096 - SEGMENT_HEADER_LEN as u64
    );
    let fs = SimFs::new();
    let (_log, _) = open(&fs, opts(FsyncPolicy::Everysec, DEFAULT_SEGMENT_SIZE)).unwrap();
    assert_eq!(fs.file(&seg_path(1)).unwrap().len(), SEGMENT_HEADER_LEN);
}
