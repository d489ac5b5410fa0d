//! Snapshot files: the keyspace as of one LSN, written as checksummed zstd blocks of a
//! stream of items (format/snapshot.md). Owns the file layout (header, blocks, footer), the
//! streaming writer (`.tmp` → fdatasync → verify → rename → directory fsync), the reader and the
//! verifier used by recovery, `strata fsck` and the snapshot job. The per-item encoding of
//! keys and values lives in `snapshot_codec`.
//!
//! Must not: write a snapshot in place, or return anything from a file whose checksums do
//! not all match.

use std::path::{Path, PathBuf};

use super::error::{Corruption, StorageError};
use super::io::{Vfs, VfsFile};
use super::record::{u32_at, u64_at};

/// Magic number at offset 0.
pub const MAGIC: &[u8; 8] = b"STRATASN";
/// Format version this build writes and the highest it reads.
pub const VERSION: u16 = 1;
/// Header length.
pub const HEADER_LEN: usize = 32;
/// Footer length.
pub const FOOTER_LEN: usize = 32;
/// Block header length (raw length, compressed length, CRC).
pub const BLOCK_HEADER_LEN: usize = 12;
/// Raw bytes gathered before a block is compressed and written. Small enough that the
/// writer's buffers (this, and one compressed block, both reused) stay well under a
/// megabyte while a snapshot runs beside a server near its `maxmemory`.
pub const BLOCK_TARGET: usize = 256 << 10;
/// Largest raw (decompressed) block a reader accepts.
pub const MAX_BLOCK_RAW: u32 = 64 << 20;
/// The writer fdatasyncs the file every this many blocks (about 2 MiB of item stream).
const SYNC_EVERY_BLOCKS: u64 = 8;
/// zstd level: fast; snapshots are written while serving.
const ZSTD_LEVEL: i32 = 1;

/// The snapshot file name for `lsn`: `snap-<lsn as 16 lowercase hex>.zst`.
pub fn snapshot_file_name(lsn: u64) -> String {
    format!("snap-{lsn:016x}.zst")
}

/// Parses a canonical snapshot file name back to its LSN.
pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    super::segment::parse_lsn_name(name, "snap-", ".zst")
}

/// What a snapshot's header and footer say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The keyspace is the state after applying every record up to this LSN.
    pub lsn: u64,
    /// When the snapshot was started, Unix ms.
    pub created_ms: i64,
    /// Items written (keys and libraries).
    pub items: u64,
    /// Blocks written.
    pub blocks: u64,
    /// Total raw (uncompressed) bytes of the item stream.
    pub raw_bytes: u64,
    /// File size in bytes.
    pub file_bytes: u64,
}

fn encode_header(lsn: u64, created_ms: i64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    // 10..12: flags, zero in version 1.
    h[12..20].copy_from_slice(&lsn.to_le_bytes());
    h[20..28].copy_from_slice(&created_ms.to_le_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

fn encode_footer(items: u64, blocks: u64, raw: u64) -> [u8; FOOTER_LEN] {
    let mut f = [0u8; FOOTER_LEN];
    // 0..4: zero raw length marks the footer.
    f[4..12].copy_from_slice(&items.to_le_bytes());
    f[12..20].copy_from_slice(&blocks.to_le_bytes());
    f[20..28].copy_from_slice(&raw.to_le_bytes());
    let crc = crc32fast::hash(&f[..28]);
    f[28..32].copy_from_slice(&crc.to_le_bytes());
    f
}

/// Where a snapshot (or dump) bound for `path` is written until it is complete: `<path>.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Streams items into `snap-<lsn>.zst.tmp`; `finish` makes the file durable under its
/// final name. Dropping an unfinished writer leaves a `.tmp` file that recovery deletes.
pub struct SnapshotWriter {
    file: Box<dyn VfsFile>,
    tmp: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    lsn: u64,
    created_ms: i64,
    raw: Vec<u8>,
    items: u64,
    blocks: u64,
    raw_total: u64,
    file_bytes: u64,
    compressor: zstd::bulk::Compressor<'static>,
    /// The compressed block, reused.
    comp: Vec<u8>,
}

impl SnapshotWriter {
    /// Start the snapshot of LSN `lsn` in `dir` (step S1 of format/snapshot.md).
    pub fn create(
        vfs: &dyn Vfs,
        dir: &Path,
        lsn: u64,
        created_ms: i64,
    ) -> Result<SnapshotWriter, StorageError> {
        Self::create_at(vfs, &dir.join(snapshot_file_name(lsn)), lsn, created_ms)
    }

    /// Like `create`, for any final path (`strata dump --format snapshot`): the file is
    /// written as `<path>.tmp` and renamed to `path` by `finish`.
    pub fn create_at(
        vfs: &dyn Vfs,
        path: &Path,
        lsn: u64,
        created_ms: i64,
    ) -> Result<SnapshotWriter, StorageError> {
        let dir = super::io::parent_dir(path).to_path_buf();
        let tmp = tmp_path(path);
        let path = path.to_path_buf();
        match vfs.remove(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(&tmp, e)),
        }
        let mut file = vfs
            .create_new(&tmp)
            .map_err(|e| StorageError::io(&tmp, e))?;
        if let Err(e) = file.write_all(&encode_header(lsn, created_ms)) {
            // (A full disk: leave nothing behind.)
            drop(file);
            let _ = vfs.remove(&tmp);
            return Err(StorageError::io(&tmp, e));
        }
        let compressor =
            zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(|e| StorageError::io(&tmp, e))?;
        Ok(SnapshotWriter {
            file,
            tmp,
            path,
            dir,
            lsn,
            created_ms,
            raw: Vec::with_capacity(BLOCK_TARGET + BLOCK_TARGET / 4),
            items: 0,
            blocks: 0,
            raw_total: 0,
            file_bytes: HEADER_LEN as u64,
            compressor,
            comp: Vec::with_capacity(zstd::zstd_safe::compress_bound(
                BLOCK_TARGET + BLOCK_TARGET / 4,
            )),
        })
    }

    /// The LSN this snapshot is of.
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// The bytes its block buffers hold (raw and compressed, both reused).
    pub fn buffers(&self) -> usize {
        self.raw.capacity() + self.comp.capacity()
    }

    /// Append encoded items (`snapshot_codec::encode_*`), `items` of them; writes a block
    /// each time a megabyte has gathered.
    pub fn write_items(&mut self, encoded: &[u8], items: u64) -> Result<(), StorageError> {
        self.items += items;
        let mut rest = encoded;
        while !rest.is_empty() {
            let room = BLOCK_TARGET.saturating_sub(self.raw.len()).max(1);
            let n = room.min(rest.len());
            self.raw.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.raw.len() >= BLOCK_TARGET {
                self.write_block()?;
            }
        }
        Ok(())
    }

    fn write_block(&mut self) -> Result<(), StorageError> {
        if self.raw.is_empty() {
            return Ok(());
        }
        self.comp.clear();
        self.compressor
            .compress_to_buffer(&self.raw[..], &mut self.comp)
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        let raw_len = u32::try_from(self.raw.len()).expect("blocks are at most BLOCK_TARGET");
        let comp_len = u32::try_from(self.comp.len()).expect("zstd bound of a small block");
        let mut head = [0u8; BLOCK_HEADER_LEN];
        head[..4].copy_from_slice(&raw_len.to_le_bytes());
        head[4..8].copy_from_slice(&comp_len.to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&head[..8]);
        h.update(&self.comp);
        head[8..].copy_from_slice(&h.finalize().to_le_bytes());
        self.file
            .write_all(&head)
            .and_then(|()| self.file.write_all(&self.comp))
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        self.file_bytes += (BLOCK_HEADER_LEN + self.comp.len()) as u64;
        self.raw_total += self.raw.len() as u64;
        self.blocks += 1;
        if self.blocks.is_multiple_of(SYNC_EVERY_BLOCKS) {
            // Write back as we go: one large flush at the end would stall the log's own
            // fdatasyncs (same disk) for as long as it takes.
            self.file
                .sync_data()
                .map_err(|e| StorageError::io(&self.tmp, e))?;
        }
        self.raw.clear();
        Ok(())
    }

    /// Write the end item, the last block and the footer; fdatasync; read the `.tmp` file
    /// back and verify it; rename to the final name; fsync the directory (steps S2–S5).
    /// The snapshot is durable and verified when this returns.
    ///
    /// DURABILITY: verification comes before the rename, because the final name may
    /// already be the live snapshot (a second snapshot at an LSN already snapshotted, or
    /// `strata dump` over an existing file): a file that fails its checks must never
    /// replace one that passed them.
    pub fn finish(mut self, vfs: &dyn Vfs) -> Result<(SnapshotInfo, PathBuf), StorageError> {
        self.raw.push(super::snapshot_codec::TAG_END);
        self.write_block()?;
        let footer = encode_footer(self.items, self.blocks, self.raw_total);
        self.file
            .write_all(&footer)
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        self.file_bytes += FOOTER_LEN as u64;
        self.file
            .sync_data()
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        verify_snapshot(vfs, &self.tmp, Some(self.lsn))?;
        vfs.rename(&self.tmp, &self.path)
            .map_err(|e| StorageError::io(&self.path, e))?;
        vfs.sync_dir(&self.dir)
            .map_err(|e| StorageError::io(&self.dir, e))?;
        Ok((
            SnapshotInfo {
                lsn: self.lsn,
                created_ms: self.created_ms,
                items: self.items,
                blocks: self.blocks,
                raw_bytes: self.raw_total,
                file_bytes: self.file_bytes,
            },
            self.path.clone(),
        ))
    }
}

/// A validated snapshot file: header and footer checked, every block's checksum checked
/// and every block decompressed to its stated length. `stream` is the item stream.
pub struct SnapshotData {
    /// Header and footer facts.
    pub info: SnapshotInfo,
    /// The concatenated raw blocks (the item stream, ending with the end tag).
    pub stream: Vec<u8>,
    /// File offset of each block, with its offset in `stream` (to locate item errors).
    pub block_offsets: Vec<(u64, u64)>,
}

impl SnapshotData {
    /// The file offset of the block holding stream byte `pos` (for error reports).
    pub fn file_offset_of(&self, pos: u64) -> u64 {
        block_holding(&self.block_offsets, pos)
    }
}

/// The file offset of the block holding stream byte `pos`, from (file offset, stream
/// offset) per block.
fn block_holding(block_offsets: &[(u64, u64)], pos: u64) -> u64 {
    let i = block_offsets.partition_point(|&(_, s)| s <= pos);
    if i == 0 {
        HEADER_LEN as u64
    } else {
        block_offsets[i - 1].0
    }
}

/// Read and validate a whole snapshot file (format/snapshot.md §Validation rules 1–9).
/// `expect_lsn`: the LSN the manifest names, checked against the header.
pub fn read_snapshot(
    vfs: &dyn Vfs,
    path: &Path,
    expect_lsn: Option<u64>,
) -> Result<SnapshotData, StorageError> {
    let bytes = vfs.read_all(path).map_err(|e| StorageError::io(path, e))?;
    decode_snapshot(&bytes, path, expect_lsn, true)
}

/// `read_snapshot` over bytes already read. With `keep == false` every block is still
/// checked and decompressed, but the stream is not kept (verification only).
pub fn decode_snapshot(
    bytes: &[u8],
    path: &Path,
    expect_lsn: Option<u64>,
    keep: bool,
) -> Result<SnapshotData, StorageError> {
    let mut stream = Vec::new();
    let mut block_offsets = Vec::new();
    let mut raw_at = 0u64;
    let mut src = bytes;
    let info = walk_blocks(&mut src, bytes.len() as u64, path, expect_lsn, |at, raw| {
        block_offsets.push((at, raw_at));
        raw_at += raw.len() as u64;
        if keep {
            stream.extend_from_slice(raw);
        }
        Ok(())
    })?;
    Ok(SnapshotData {
        info,
        stream,
        block_offsets,
    })
}

/// Verify a snapshot file on disk block by block: every check of `read_snapshot`, in
/// memory bounded by one block (the snapshot job verifies what it wrote while the server
/// serves: reading the whole file at once would cost as much memory as the file).
pub fn verify_snapshot(
    vfs: &dyn Vfs,
    path: &Path,
    expect_lsn: Option<u64>,
) -> Result<SnapshotInfo, StorageError> {
    let (len, mut src) = open_sized(vfs, path)?;
    walk_blocks(&mut src, len, path, expect_lsn, |_, _| Ok(()))
}

/// A file's length and a reader from its start (the block-by-block readers' input).
pub fn open_sized(
    vfs: &dyn Vfs,
    path: &Path,
) -> Result<(u64, Box<dyn std::io::Read + Send>), StorageError> {
    let len = vfs.file_len(path).map_err(|e| StorageError::io(path, e))?;
    let src = vfs.open_read(path).map_err(|e| StorageError::io(path, e))?;
    Ok((len, src))
}

/// Read exactly `buf.len()` bytes at file offset `at` of a file of `len` bytes: a file that
/// ends first is a torn tail at `at`.
fn read_at(
    src: &mut dyn std::io::Read,
    buf: &mut [u8],
    at: u64,
    len: u64,
    path: &Path,
) -> Result<(), StorageError> {
    if len.saturating_sub(at) < buf.len() as u64 {
        return Err(StorageError::corrupt(path, at, Corruption::TornTail));
    }
    src.read_exact(buf).map_err(|e| StorageError::io(path, e))
}

/// Validate a snapshot read from `src` (`len` bytes long) from its start to its end
/// (format/snapshot.md §Validation rules 1–9), handing each block's decompressed bytes and
/// file offset to `on_block`. Holds one compressed and one decompressed block at a time.
fn walk_blocks(
    src: &mut dyn std::io::Read,
    len: u64,
    path: &Path,
    expect_lsn: Option<u64>,
    mut on_block: impl FnMut(u64, &[u8]) -> Result<(), StorageError>,
) -> Result<SnapshotInfo, StorageError> {
    let bad = |off: u64, what: Corruption| StorageError::corrupt(path, off, what);
    let mut header = [0u8; HEADER_LEN];
    if len < HEADER_LEN as u64 {
        return Err(bad(len, Corruption::TornTail));
    }
    read_at(src, &mut header, 0, len, path)?;
    if &header[0..8] != MAGIC {
        return Err(bad(0, Corruption::BadMagic));
    }
    if crc32fast::hash(&header[..28]) != u32_at(&header, 28) {
        return Err(bad(0, Corruption::HeaderCrc));
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version == 0 || version > VERSION {
        return Err(StorageError::Version {
            file: path.to_path_buf(),
            found: version,
            supported: VERSION,
        });
    }
    if header[10] != 0 || header[11] != 0 {
        return Err(bad(10, Corruption::Reserved("flags")));
    }
    let lsn = u64_at(&header, 12);
    let created_ms = i64::from_le_bytes(header[20..28].try_into().expect("8 bytes"));
    if let Some(want) = expect_lsn {
        if want != lsn {
            return Err(bad(
                12,
                Corruption::Snapshot("LSN differs from the one the MANIFEST names"),
            ));
        }
    }
    let mut at = HEADER_LEN as u64;
    let mut blocks = 0u64;
    let mut raw_total = 0u64;
    let mut last_byte = None;
    let mut dec = zstd::bulk::Decompressor::new().map_err(|e| StorageError::io(path, e))?;
    let mut head = [0u8; BLOCK_HEADER_LEN];
    let mut comp = Vec::new();
    let mut raw = Vec::new();
    loop {
        read_at(src, &mut head[..4], at, len, path)?;
        let raw_len = u32_at(&head, 0);
        if raw_len == 0 {
            break;
        }
        if len - at < BLOCK_HEADER_LEN as u64 {
            return Err(bad(at, Corruption::TornTail));
        }
        read_at(src, &mut head[4..], at + 4, len, path)?;
        let comp_len = u32_at(&head, 4) as usize;
        if raw_len > MAX_BLOCK_RAW {
            return Err(bad(at, Corruption::BadLength(u64::from(raw_len))));
        }
        if comp_len == 0 || len - at - (BLOCK_HEADER_LEN as u64) < comp_len as u64 {
            return Err(bad(at, Corruption::BadLength(comp_len as u64)));
        }
        comp.resize(comp_len, 0);
        read_at(src, &mut comp, at + BLOCK_HEADER_LEN as u64, len, path)?;
        let mut h = crc32fast::Hasher::new();
        h.update(&head[..8]);
        h.update(&comp);
        if h.finalize() != u32_at(&head, 8) {
            return Err(bad(at, Corruption::PayloadCrc));
        }
        raw.clear();
        raw.reserve(raw_len as usize);
        let n = dec
            .decompress_to_buffer(&comp[..], &mut raw)
            .map_err(|_| bad(at, Corruption::Snapshot("block does not decompress")))?;
        if n != raw_len as usize || raw.len() != n {
            return Err(bad(
                at,
                Corruption::Snapshot("block decompresses to the wrong length"),
            ));
        }
        on_block(at, &raw)?;
        blocks += 1;
        raw_total += raw.len() as u64;
        last_byte = raw.last().copied();
        at += (BLOCK_HEADER_LEN + comp_len) as u64;
    }
    // The zero marker was read as the footer's first 4 bytes.
    let left = len - at;
    if left != FOOTER_LEN as u64 {
        return Err(bad(
            at,
            if left < FOOTER_LEN as u64 {
                Corruption::TornTail
            } else {
                Corruption::TrailingBytes
            },
        ));
    }
    let mut f = [0u8; FOOTER_LEN];
    f[..4].copy_from_slice(&head[..4]);
    read_at(src, &mut f[4..], at + 4, len, path)?;
    if crc32fast::hash(&f[..28]) != u32_at(&f, 28) {
        return Err(bad(at, Corruption::Snapshot("footer checksum mismatch")));
    }
    let items = u64_at(&f, 4);
    let footer_blocks = u64_at(&f, 12);
    let raw_bytes = u64_at(&f, 20);
    if footer_blocks != blocks || raw_bytes != raw_total {
        return Err(bad(
            at,
            Corruption::Snapshot("footer counts differ from the blocks"),
        ));
    }
    if last_byte != Some(super::snapshot_codec::TAG_END) {
        return Err(bad(
            at,
            Corruption::Snapshot("item stream does not end with the end tag"),
        ));
    }
    Ok(SnapshotInfo {
        lsn,
        created_ms,
        items,
        blocks,
        raw_bytes,
        file_bytes: len,
    })
}

/// Write a whole keyspace (and function libraries, as (name, code)) as a durable snapshot
/// file at `path` stamped with `lsn`: the offline tools' writer (`strata dump --format
/// snapshot`, `strata restore`). `progress` is called with the keys written so far.
pub fn write_keyspace(
    vfs: &dyn Vfs,
    path: &Path,
    lsn: u64,
    ks: &crate::db::Keyspace,
    libraries: &[(Vec<u8>, Vec<u8>)],
    mut progress: impl FnMut(u64),
) -> Result<SnapshotInfo, StorageError> {
    use super::snapshot_codec::{encode_entry, encode_library};
    let mut w = SnapshotWriter::create_at(vfs, path, lsn, crate::clock::now_ms())?;
    let mut buf = Vec::new();
    let mut n = 0u64;
    for (name, code) in libraries {
        encode_library(&mut buf, name, code);
        n += 1;
    }
    let mut keys = 0u64;
    for (i, db) in ks.dbs.iter().enumerate() {
        for (k, e) in db.dict.iter() {
            encode_entry(&mut buf, i, k, e, db.expire_of(k, e));
            n += 1;
            keys += 1;
            if buf.len() >= BLOCK_TARGET {
                w.write_items(&buf, n)?;
                buf.clear();
                n = 0;
                progress(keys);
            }
        }
    }
    w.write_items(&buf, n)?;
    progress(keys);
    Ok(w.finish(vfs)?.0)
}

/// A snapshot decoded into a keyspace.
pub struct LoadedSnapshot {
    /// The keys, in `databases` databases.
    pub ks: crate::db::Keyspace,
    /// Function libraries: (name, code).
    pub libraries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Header and footer facts.
    pub info: SnapshotInfo,
}

/// Validate a snapshot's bytes (rules 1–10 of format/snapshot.md §Validation) and decode
/// them into a keyspace of `databases` databases; an item error names the block holding
/// it. For bytes already in memory (`strata restore`); files go through `load_snapshot_file`.
pub fn load_keyspace(
    bytes: &[u8],
    path: &Path,
    expect_lsn: Option<u64>,
    databases: usize,
    limits: &super::snapshot_codec::BuildLimits,
    now_ms: i64,
) -> Result<LoadedSnapshot, StorageError> {
    let mut src = bytes;
    load_from(
        &mut src,
        bytes.len() as u64,
        path,
        expect_lsn,
        databases,
        limits,
        now_ms,
        &mut |_, _| {},
    )
}

/// `load_keyspace` of the file at `path`, read block by block: loading holds one block and
/// the item being decoded, not the file and its whole item stream (which for a large
/// dataset would double the memory a restart needs). The loader behind recovery, DEBUG
/// RELOAD and fsck.
pub fn load_snapshot_file(
    vfs: &dyn Vfs,
    path: &Path,
    expect_lsn: Option<u64>,
    databases: usize,
    limits: &super::snapshot_codec::BuildLimits,
    now_ms: i64,
) -> Result<LoadedSnapshot, StorageError> {
    load_snapshot_file_observed(
        vfs,
        path,
        expect_lsn,
        databases,
        limits,
        now_ms,
        &mut |_, _| {},
    )
}

/// `load_snapshot_file`, calling `observe(offset, keys)` after each block is decoded: the
/// file offset that block started at and the keys loaded so far (startup recovery reports
/// its progress and applies `key-load-delay` with it).
pub fn load_snapshot_file_observed(
    vfs: &dyn Vfs,
    path: &Path,
    expect_lsn: Option<u64>,
    databases: usize,
    limits: &super::snapshot_codec::BuildLimits,
    now_ms: i64,
    observe: &mut dyn FnMut(u64, usize),
) -> Result<LoadedSnapshot, StorageError> {
    let (len, mut src) = open_sized(vfs, path)?;
    load_from(
        &mut src, len, path, expect_lsn, databases, limits, now_ms, observe,
    )
}

/// What `for_each_key` hands each key to: (database, key, entry, expiry ms or -1).
pub type EachKey<'a> = dyn FnMut(usize, &[u8], crate::db::Entry, i64) + 'a;

/// Function libraries as (name, code).
pub type Libraries = Vec<(Vec<u8>, Vec<u8>)>;

/// Read the snapshot `src` (`len` bytes, the file at `path`) key by key, block by block:
/// `each(db, key, entry, expire ms or -1)` is handed every key as it is decoded, and the
/// function libraries are returned as (name, code). The file's checks are made as
/// `load_snapshot_file` makes them (but for keys that appear twice, which no keyspace
/// here could tell), and only the block and the key being decoded are held: a replica's
/// full resync payload is made from a snapshot file this way, in memory bounded by a
/// block rather than by the dataset.
#[allow(clippy::too_many_arguments)]
pub fn for_each_key(
    src: &mut dyn std::io::Read,
    len: u64,
    path: &Path,
    expect_lsn: Option<u64>,
    databases: usize,
    limits: &super::snapshot_codec::BuildLimits,
    now_ms: i64,
    each: &mut EachKey<'_>,
) -> Result<(Libraries, SnapshotInfo), StorageError> {
    /// The keys, handed on as they come.
    struct Each<'a, 'b> {
        databases: usize,
        each: &'a mut EachKey<'b>,
    }
    impl super::snapshot_codec::KeySink for Each<'_, '_> {
        fn databases(&self) -> usize {
            self.databases
        }
        fn put(&mut self, db: usize, key: &[u8], e: crate::db::Entry, at: i64) -> bool {
            (self.each)(db, key, e, at);
            true
        }
    }
    let mut sink = Each { databases, each };
    let (decoded, info) = decode_blocks(
        src,
        len,
        path,
        expect_lsn,
        &mut sink,
        limits,
        now_ms,
        |_, _| {},
    )?;
    Ok((decoded.libraries, info))
}

/// Validate a snapshot read from `src` (`len` bytes), block by block, decoding its keys
/// into `sink`; `after(at, sink)` runs after each block (`at`: the file offset it started
/// at).
#[allow(clippy::too_many_arguments)]
fn decode_blocks<S: super::snapshot_codec::KeySink>(
    src: &mut dyn std::io::Read,
    len: u64,
    path: &Path,
    expect_lsn: Option<u64>,
    sink: &mut S,
    limits: &super::snapshot_codec::BuildLimits,
    now_ms: i64,
    mut after: impl FnMut(u64, &S),
) -> Result<(super::snapshot_codec::Decoded, SnapshotInfo), StorageError> {
    let mut decoder = super::snapshot_codec::StreamDecoder::default();
    let mut block_offsets = Vec::new();
    let mut raw_at = 0u64;
    let item_error = |offsets: &[(u64, u64)], e: super::snapshot_codec::DecodeError| {
        StorageError::corrupt(
            path,
            block_holding(offsets, e.pos),
            Corruption::Snapshot(e.what),
        )
    };
    let info = walk_blocks(src, len, path, expect_lsn, |at, raw| {
        block_offsets.push((at, raw_at));
        raw_at += raw.len() as u64;
        decoder
            .feed(raw, sink, limits, now_ms)
            .map_err(|e| item_error(&block_offsets, e))?;
        after(at, sink);
        Ok(())
    })?;
    let decoded = decoder
        .finish(sink, limits, now_ms)
        .map_err(|e| item_error(&block_offsets, e))?;
    Ok((decoded, info))
}

/// Validate and decode a snapshot read from `src` (`len` bytes), block by block.
#[allow(clippy::too_many_arguments)]
fn load_from(
    src: &mut dyn std::io::Read,
    len: u64,
    path: &Path,
    expect_lsn: Option<u64>,
    databases: usize,
    limits: &super::snapshot_codec::BuildLimits,
    now_ms: i64,
    observe: &mut dyn FnMut(u64, usize),
) -> Result<LoadedSnapshot, StorageError> {
    let mut ks = crate::db::Keyspace::new(databases);
    let (decoded, info) = decode_blocks(
        src,
        len,
        path,
        expect_lsn,
        &mut ks,
        limits,
        now_ms,
        |at, ks| observe(at, ks.total_keys()),
    )?;
    Ok(LoadedSnapshot {
        ks,
        libraries: decoded.libraries,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Entry, Keyspace, Value};
    use crate::persist::io::RealFs;

    /// A real file of several blocks (incompressible values), its bytes and its path.
    fn multi_block_file(dir: &Path) -> (PathBuf, Vec<u8>) {
        let mut ks = Keyspace::new(16);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..400 {
            let v: Vec<u8> = (0..2000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()[0]
                })
                .collect();
            ks.dbs[0].insert_expiring(
                format!("k{i}").as_bytes(),
                Entry::new(Value::Str(v.into()), 0),
                if i % 3 == 0 {
                    1_800_000_000_000 + i
                } else {
                    -1
                },
            );
        }
        let path = dir.join(snapshot_file_name(7));
        let info = write_keyspace(&RealFs, &path, 7, &ks, &[], |_| {}).unwrap();
        assert!(info.blocks >= 3, "{} blocks", info.blocks);
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    /// The on-disk, block-by-block verifier reaches exactly the verdict (kind and offset)
    /// of the whole-file decoder for every flipped byte and every cut length it is shown.
    #[test]
    fn streaming_verify_matches_the_whole_file_decoder() {
        let dir = tempfile::tempdir().unwrap();
        let (path, good) = multi_block_file(dir.path());
        let info = verify_snapshot(&RealFs, &path, Some(7)).unwrap();
        assert_eq!(info.file_bytes, good.len() as u64);
        assert!(verify_snapshot(&RealFs, &path, Some(8)).is_err());
        let check = |bytes: &[u8], what: &str| {
            std::fs::write(&path, bytes).unwrap();
            let whole = decode_snapshot(bytes, &path, Some(7), false).map(|d| d.info);
            let streamed = verify_snapshot(&RealFs, &path, Some(7));
            match (whole, streamed) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
                (a, b) => panic!("{what}: whole {a:?}, streamed {b:?}"),
            }
        };
        let len = good.len();
        let mut offsets: Vec<usize> = (0..HEADER_LEN + 40).collect();
        offsets.extend((len - FOOTER_LEN - 8)..len);
        offsets.extend((HEADER_LEN..len).step_by(4099));
        for &at in &offsets {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            check(&bad, &format!("byte {at} flipped"));
            assert!(
                verify_snapshot(&RealFs, &path, Some(7)).is_err(),
                "byte {at} flipped"
            );
        }
        for cut in offsets.iter().copied().chain([0, 5, len - 1]) {
            check(&good[..cut], &format!("cut at {cut}"));
        }
        let mut longer = good.clone();
        longer.push(0);
        check(&longer, "a byte appended");
    }

    /// A second snapshot of the same LSN (SAVE twice with no write between) whose file is
    /// silently corrupted on its way to disk fails before it takes the live snapshot's name:
    /// the snapshot the MANIFEST names stays whole.
    #[test]
    fn a_corrupt_snapshot_never_replaces_the_live_one_of_its_lsn() {
        use crate::persist::io::SimFs;
        let fs = SimFs::new();
        let dir = PathBuf::from("/data");
        fs.create_dir_all(&dir).unwrap();
        let path = dir.join(snapshot_file_name(7));
        let mut ks = Keyspace::new(16);
        for i in 0..50 {
            ks.dbs[0].insert(
                format!("k{i}").as_bytes(),
                Entry::new(Value::Str(format!("v{i}").into_bytes().into()), 0),
            );
        }
        let first = write_keyspace(&fs, &path, 7, &ks, &[], |_| {}).unwrap();
        let live = fs.file(&path).unwrap();
        // The writes are: the header, one block, the footer; corrupt the block.
        fs.corrupt_write_after(1);
        let err = write_keyspace(&fs, &path, 7, &ks, &[], |_| {}).unwrap_err();
        assert!(err.to_string().contains("is corrupt"), "{err}");
        assert_eq!(
            fs.file(&path).unwrap(),
            live,
            "the live snapshot was replaced"
        );
        assert_eq!(verify_snapshot(&fs, &path, Some(7)).unwrap(), first);
    }
}
