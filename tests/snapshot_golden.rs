//! Golden bytes of on-disk format v2 (format/snapshot.md §Worked example, format/manifest.md
//! §Version 2): encoding the documented keyspace reproduces tests/fixtures/v2/* byte for
//! byte, the fixtures decode to that keyspace, and the hex dumps in format/snapshot.md (the
//! header, the item stream inside the zstd block, the footer) are the fixture's bytes. The
//! v1 fixtures stay readable (tests/format_golden.rs).
//!
//! The compressed block is zstd level 1 as the `zstd` crate pinned in Cargo.lock writes it;
//! the spec does not depend on those bytes, only on their decompression. To regenerate
//! after a deliberate change: `STRATA_REGEN_FIXTURES=1 cargo test --test snapshot_golden
//! -- --ignored`.

use std::path::{Path, PathBuf};

use strata::db::list::End;
use strata::db::stream::{CGroup, Consumer, Nack, Stream, StreamId};
use strata::db::{Entry, Keyspace, Value};
use strata::persist::io::{SimFs, Vfs};
use strata::persist::manifest::Manifest;
use strata::persist::snapshot::{decode_snapshot, SnapshotWriter, FOOTER_LEN, HEADER_LEN};
use strata::persist::snapshot_codec::{decode_into, encode_entry, encode_library};

const SNAP: &str = "snap-0000000000000002.zst";
const CREATED_MS: i64 = 1_700_000_000_000;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2")
}

/// The documented keyspace, in item order: (db, key, entry, expiry or -1).
fn entries() -> Vec<(usize, &'static str, Entry, i64)> {
    let mut s = Entry::new(Value::Str(b"hi".to_vec().into()), CREATED_MS);
    s.ttl = true;
    let mut l = strata::db::list::List::new();
    l.push(End::Right, b"a", -2);
    l.push(End::Right, b"b", -2);
    let mut z = strata::db::zset::ZSet::new();
    z.insert_new(
        b"m",
        1.5,
        strata::db::zset::Limits {
            entries: 128,
            value: 64,
        },
    );
    let mut x = Stream::new();
    let id = StreamId::new(1, 1);
    x.append(id, vec![b"f".to_vec().into(), b"v".to_vec().into()].into());
    x.last_id = id;
    x.first_id = id;
    x.entries_added = 1;
    let mut g = CGroup::new(id, 1);
    g.pel.insert(
        id,
        Nack {
            consumer: b"c".to_vec().into(),
            delivery_time: CREATED_MS,
            delivery_count: 1,
        },
    );
    g.consumers.insert(
        b"c".to_vec().into(),
        Consumer {
            seen_time: CREATED_MS,
            pel: [id].into_iter().collect(),
        },
    );
    x.groups.insert(b"g".to_vec().into(), g);
    vec![
        (0, "s", s, 1_700_000_100_000),
        (1, "l", Entry::new(Value::List(Box::new(l)), CREATED_MS), -1),
        (0, "z", Entry::new(Value::ZSet(Box::new(z)), CREATED_MS), -1),
        (
            0,
            "x",
            Entry::new(
                Value::Stream(strata::db::shared::Shared::new(x)),
                CREATED_MS,
            ),
            -1,
        ),
    ]
}

const LIB: &[u8] = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)";

/// The item stream without the end tag.
fn items() -> Vec<u8> {
    let mut out = Vec::new();
    encode_library(&mut out, b"lib", LIB);
    for (db, k, e, at) in entries() {
        encode_entry(&mut out, db, k.as_bytes(), &e, at);
    }
    out
}

fn encode_snapshot() -> Vec<u8> {
    let fs = SimFs::new();
    let dir = Path::new("/d");
    fs.create_dir_all(dir).unwrap();
    let mut w = SnapshotWriter::create(&fs, dir, 2, CREATED_MS).unwrap();
    w.write_items(&items(), 5).unwrap();
    let (_, path) = w.finish(&fs).unwrap();
    fs.file(&path).unwrap()
}

fn encode_manifest() -> Vec<u8> {
    Manifest {
        snapshot: Some(2),
        segments: vec![3],
    }
    .encode()
}

#[test]
fn encoding_reproduces_the_v2_fixtures() {
    assert_eq!(
        encode_snapshot(),
        std::fs::read(fixture_dir().join(SNAP)).unwrap()
    );
    assert_eq!(
        encode_manifest(),
        std::fs::read(fixture_dir().join("MANIFEST")).unwrap()
    );
}

#[test]
fn v2_fixture_decodes_to_the_documented_keyspace() {
    let bytes = std::fs::read(fixture_dir().join(SNAP)).unwrap();
    let data = decode_snapshot(&bytes, Path::new(SNAP), Some(2), true).unwrap();
    assert_eq!(data.info.lsn, 2);
    assert_eq!(data.info.created_ms, CREATED_MS);
    assert_eq!(data.info.items, 5);
    assert_eq!(data.info.blocks, 1);
    let mut want = items();
    want.push(0xFF);
    assert_eq!(data.stream, want);
    let mut ks = Keyspace::new(16);
    let limits = strata::server::engine::build_limits(&strata::config::Config::default());
    let d = decode_into(&data.stream, &mut ks, &limits, CREATED_MS).unwrap();
    assert_eq!(d.keys, 4);
    assert_eq!(d.libraries, vec![(b"lib".to_vec(), LIB.to_vec())]);
    for (db, k, e, at) in entries() {
        let got = ks.dbs[db].get(k.as_bytes()).unwrap();
        let got_at = ks.dbs[db].expire_of(k.as_bytes(), got);
        assert_eq!(got_at, at, "{k}");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        encode_entry(&mut a, db, k.as_bytes(), got, got_at);
        encode_entry(&mut b, db, k.as_bytes(), &e, at);
        assert_eq!(a, b, "{k}");
    }
    let m = Manifest::decode(
        &std::fs::read(fixture_dir().join("MANIFEST")).unwrap(),
        Path::new("MANIFEST"),
    )
    .unwrap();
    assert_eq!(m.snapshot, Some(2));
}

/// Bytes of the hex dump that follows `<!-- golden: NAME -->` in `doc`.
fn doc_hex(doc: &str, name: &str) -> Vec<u8> {
    let marker = format!("<!-- golden: {name} -->");
    let at = doc.find(&marker).unwrap_or_else(|| panic!("no {marker}"));
    let block = &doc[at..];
    let start = block.find("```").unwrap();
    let body = &block[start + 3..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let end = body.find("```").unwrap();
    let mut out = Vec::new();
    for line in body[..end].lines() {
        let hex = line.split('|').next().unwrap_or("");
        let hex = hex.split_once(':').map_or(hex, |(_, h)| h);
        for tok in hex.split_whitespace() {
            out.push(u8::from_str_radix(tok, 16).unwrap_or_else(|_| panic!("{name}: {tok}")));
        }
    }
    out
}

#[test]
fn snapshot_md_hex_dumps_are_the_fixture() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("format/snapshot.md"),
    )
    .unwrap();
    let bytes = std::fs::read(fixture_dir().join(SNAP)).unwrap();
    assert_eq!(doc_hex(&doc, "v2 snapshot header"), &bytes[..HEADER_LEN]);
    assert_eq!(
        doc_hex(&doc, "v2 snapshot footer"),
        &bytes[bytes.len() - FOOTER_LEN..]
    );
    let data = decode_snapshot(&bytes, Path::new(SNAP), Some(2), true).unwrap();
    assert_eq!(doc_hex(&doc, "v2 item stream"), data.stream);
    let manifest = std::fs::read_to_string(fixture_dir().join("MANIFEST")).unwrap();
    let mdoc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("format/manifest.md"),
    )
    .unwrap();
    assert!(
        mdoc.contains(&manifest),
        "manifest.md shows the v2 MANIFEST fixture"
    );
}

#[test]
#[ignore = "writes the fixtures; run deliberately"]
fn regenerate_v2_fixtures() {
    if std::env::var("STRATA_REGEN_FIXTURES").is_err() {
        return;
    }
    std::fs::create_dir_all(fixture_dir()).unwrap();
    std::fs::write(fixture_dir().join(SNAP), encode_snapshot()).unwrap();
    std::fs::write(fixture_dir().join("MANIFEST"), encode_manifest()).unwrap();
}
