//! Golden bytes of on-disk format v1 (format/log.md §Worked example, format/manifest.md
//! §Worked example): encoding the documented content reproduces tests/fixtures/v1/* byte
//! for byte, the fixtures decode to that content, and the hex dumps in format/*.md are the
//! fixtures' bytes, so neither the code nor the spec can drift.
//!
//! To regenerate after a deliberate format change (a new version gets a new folder; v1
//! fixtures are frozen): `STRATA_REGEN_FIXTURES=1 cargo test --test format_golden -- --ignored`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use strata::persist::batch::{decode_batch, encode_batch};
use strata::persist::io::{RealFs, SimFs};
use strata::persist::manifest::Manifest;
use strata::persist::record::{encode_record, KIND_BATCH};
use strata::persist::segment::SegmentHeader;
use strata::persist::{FsyncPolicy, Log, LogOptions};

const SEGMENT: &str = "seg-0000000000000001.log";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_dir() -> PathBuf {
    root().join("tests/fixtures/v1")
}

fn argv(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect()
}

/// One execution unit: (db, argv) commands.
type Unit = Vec<(u16, Vec<Bytes>)>;

/// The documented content: two execution units in db 0, as (lsn, ts_ms, unit).
fn units() -> Vec<(u64, i64, Unit)> {
    vec![
        (1, 1_700_000_000_000, vec![(0, argv(&["SET", "k", "v"]))]),
        (2, 1_700_000_000_001, vec![(0, argv(&["DEL", "k"]))]),
    ]
}

fn encode_segment() -> Vec<u8> {
    let mut out = SegmentHeader { first_lsn: 1 }.encode().to_vec();
    for (lsn, ts, cmds) in units() {
        let mut payload = Vec::new();
        encode_batch(&cmds, &mut payload);
        encode_record(&mut out, lsn, ts, KIND_BATCH, &payload);
    }
    out
}

fn encode_manifest() -> Vec<u8> {
    Manifest {
        snapshot: None,
        segments: vec![1],
    }
    .encode()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn encoding_reproduces_the_v1_fixtures() {
    assert_eq!(encode_segment(), read(&fixture_dir().join(SEGMENT)));
    assert_eq!(encode_manifest(), read(&fixture_dir().join("MANIFEST")));
}

#[test]
fn v1_fixture_decodes_read_only() {
    let rec = Log::read_dir(&RealFs, &fixture_dir()).unwrap();
    assert!(rec.torn_tail.is_none());
    assert!(rec.orphans.is_empty());
    assert_eq!(rec.records.len(), 2);
    for (r, (lsn, ts, cmds)) in rec.records.iter().zip(units()) {
        assert_eq!(r.lsn, lsn);
        assert_eq!(r.ts_ms, ts);
        assert_eq!(decode_batch(&r.payload).unwrap(), cmds);
    }
}

#[test]
fn v1_fixture_opens_and_continues() {
    // Open a copy (open takes the lock and may write), through the simulated file system.
    let fs = SimFs::new();
    let dir = PathBuf::from("/data");
    for name in [SEGMENT, "MANIFEST"] {
        fs.put_file(&dir.join(name), &read(&fixture_dir().join(name)));
    }
    let opts = LogOptions {
        dir: dir.clone(),
        fsync: FsyncPolicy::Always,
        segment_size: 1 << 20,
    };
    let (log, rec) = Log::open(Arc::new(fs.clone()), opts).unwrap();
    assert!(!rec.fresh);
    assert!(rec.truncated_tail.is_none());
    assert_eq!(rec.last_lsn, 2);
    let mut payload = Vec::new();
    encode_batch(&[(0, argv(&["SET", "k", "w"]))], &mut payload);
    let lsn = log.append(1_700_000_000_002, &payload).unwrap();
    assert_eq!(lsn, 3);
    log.wait_durable_blocking(lsn).unwrap();
    drop(log);
    let seg = fs.file(&dir.join(SEGMENT)).unwrap();
    assert!(seg.starts_with(&read(&fixture_dir().join(SEGMENT))));
}

/// Bytes of the hex dump that follows `<!-- golden: NAME -->` in `doc`: lines
/// `OFFSET: XX XX ...  # comment` inside the next fenced block; offsets are checked.
fn doc_hex(doc: &str, name: &str) -> Vec<u8> {
    let marker = format!("<!-- golden: {name} -->");
    let at = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("marker {marker} missing"));
    let rest = &doc[at + marker.len()..];
    let open = rest.find("```").expect("fence") + 3;
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    let close = body.find("```").expect("closing fence");
    let mut out = Vec::new();
    for line in body[..close].lines() {
        let data = line.split('#').next().unwrap_or("").trim();
        if data.is_empty() {
            continue;
        }
        let (off, hex) = data.split_once(':').expect("offset");
        let off =
            usize::from_str_radix(off.trim().trim_start_matches("0x"), 16).expect("hex offset");
        assert_eq!(off, out.len(), "offset in line `{line}`");
        for tok in hex.split_whitespace() {
            out.push(
                u8::from_str_radix(tok, 16)
                    .unwrap_or_else(|_| panic!("bad byte `{tok}` in `{line}`")),
            );
        }
    }
    out
}

/// The text of the fenced block that follows `<!-- golden: NAME -->`.
fn doc_text(doc: &str, name: &str) -> String {
    let marker = format!("<!-- golden: {name} -->");
    let at = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("marker {marker} missing"));
    let rest = &doc[at + marker.len()..];
    let open = rest.find("```").expect("fence") + 3;
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    let close = body.find("```").expect("closing fence");
    body[..close].to_string()
}

#[test]
fn format_docs_show_the_fixture_bytes() {
    let log_md = String::from_utf8(read(&root().join("format/log.md"))).unwrap();
    assert_eq!(
        doc_hex(&log_md, "tests/fixtures/v1/seg-0000000000000001.log"),
        read(&fixture_dir().join(SEGMENT))
    );
    let manifest_md = String::from_utf8(read(&root().join("format/manifest.md"))).unwrap();
    assert_eq!(
        doc_text(&manifest_md, "tests/fixtures/v1/MANIFEST").into_bytes(),
        read(&fixture_dir().join("MANIFEST"))
    );
}

#[test]
fn crc_is_crc32_iso_hdlc() {
    // format/README.md §Conventions: the check value of the CRC in use.
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

/// Writes the fixtures (run once per format version, then freeze) and prints the hex dump
/// for the spec.
#[test]
#[ignore = "regenerates fixtures; run only for a new format version"]
fn regenerate_fixtures() {
    if std::env::var_os("STRATA_REGEN_FIXTURES").is_none() {
        return;
    }
    std::fs::create_dir_all(fixture_dir()).unwrap();
    std::fs::write(fixture_dir().join(SEGMENT), encode_segment()).unwrap();
    std::fs::write(fixture_dir().join("MANIFEST"), encode_manifest()).unwrap();
    for (i, chunk) in encode_segment().chunks(8).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        println!("{:04x}: {}", i * 8, hex.join(" "));
    }
}
