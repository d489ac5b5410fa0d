//! `SimFs`: an in-memory [`Vfs`] that models what survives a power loss, for tests
//! (unit and integration). For every file it keeps the bytes written (what reads see) and
//! the bytes made durable by `sync_data`; for every directory it keeps the live entries and
//! the entries made durable by `sync_dir`. [`SimFs::crash_image`] keeps only the durable
//! state. Fault injection fails one chosen write or sync. This models the media assumptions
//! of format/README.md §Media assumptions, conservatively: unsynced data and unsynced
//! directory entries are always lost.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{DirLock, Vfs, VfsFile};

/// An in-memory file system with a durable/volatile split and fault injection.
///
/// Cloning is cheap and shares the same state (it is an `Arc` inside), so a test keeps one
/// clone to inspect or crash while the `Log` owns another as `Arc<dyn Vfs>`.
///
/// Fault injection is one-shot, like a transient `EIO` whose error the kernel reports once
/// and then forgets: after `fail_write_after(n)`, `n` more writes succeed, the next one
/// writes only the first half of its buffer and returns an error, and later writes succeed
/// again. `fail_sync_after(n)` does the same for syncs (`sync_data`, `sync_dir` and the
/// durable `truncate` all count); a failed sync makes nothing durable. A log that retried and
/// carried on would therefore be caught by the tests.
#[derive(Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<SimState>>,
}

#[derive(Default)]
struct SimState {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    /// Live directory entries: full path -> inode.
    names: BTreeMap<PathBuf, u64>,
    /// Directory entries as of each directory's last `sync_dir`.
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
    write_fault: Option<u64>,
    /// One write that succeeds but stores its buffer with a byte flipped.
    corrupt_fault: Option<u64>,
    sync_fault: Option<u64>,
    writes: u64,
    syncs: u64,
    /// Keep the crash image taken right after this many syncs (see `image_after_sync`).
    image_at: Option<u64>,
    image: Option<Box<SimState>>,
    /// What `free_space` reports (None: unknown, `u64::MAX`).
    free: Option<u64>,
}

#[derive(Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

/// Counts down a one-shot fault; true when this call must fail.
fn take_fault(slot: &mut Option<u64>) -> bool {
    match slot {
        Some(0) => {
            *slot = None;
            true
        }
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

impl SimState {
    /// What a power loss now would leave (see `SimFs::crash_image`).
    fn crash_state(&self) -> SimState {
        let mut img = SimState {
            next_ino: self.next_ino,
            names: self.durable_names.clone(),
            durable_names: self.durable_names.clone(),
            dirs: self.dirs.clone(),
            ..SimState::default()
        };
        for ino in self.durable_names.values() {
            let durable = self
                .inodes
                .get(ino)
                .map(|i| i.durable.clone())
                .unwrap_or_default();
            img.inodes.insert(
                *ino,
                Inode {
                    data: durable.clone(),
                    durable,
                },
            );
        }
        img
    }

    /// After a successful sync: keep the crash image if this is the chosen one.
    fn synced(&mut self) {
        if self.image_at == Some(self.syncs) {
            self.image = Some(Box::new(self.crash_state()));
        }
    }

    fn sync_fault(&mut self) -> io::Result<()> {
        self.syncs += 1;
        if take_fault(&mut self.sync_fault) {
            return Err(io::Error::other("SimFs: injected sync failure"));
        }
        Ok(())
    }

    fn ino(&self, path: &Path) -> io::Result<u64> {
        self.names.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn inode(&mut self, ino: u64) -> &mut Inode {
        self.inodes.entry(ino).or_default()
    }

    fn check_parent(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(p) if self.dirs.contains(p) => Ok(()),
            _ => Err(not_found(path)),
        }
    }

    fn new_inode(&mut self, data: Vec<u8>, durable: Vec<u8>) -> u64 {
        self.next_ino += 1;
        let ino = self.next_ino;
        self.inodes.insert(ino, Inode { data, durable });
        ino
    }
}

impl SimFs {
    /// An empty file system (no directories).
    pub fn new() -> Self {
        Self::default()
    }

    /// Report `free` bytes of free space (None: unknown). Writes do not consume it.
    pub fn set_free_space(&self, free: Option<u64>) {
        self.state.lock().free = free;
    }

    /// After `n` more successful writes, the next write fails (one shot; see the type docs).
    pub fn fail_write_after(&self, n: u64) {
        self.state.lock().write_fault = Some(n);
    }

    /// After `n` more writes, the next one reports success but stores its buffer with its
    /// middle byte flipped: silent corruption (bad memory, firmware), which only reading
    /// back and checking catches. One shot.
    pub fn corrupt_write_after(&self, n: u64) {
        self.state.lock().corrupt_fault = Some(n);
    }

    /// After `n` more successful syncs, the next sync fails (one shot; see the type docs).
    pub fn fail_sync_after(&self, n: u64) {
        self.state.lock().sync_fault = Some(n);
    }

    /// The state a power loss right now would leave: only durable directory entries, each
    /// file cut to its durable bytes, no locks, no pending faults. Independent of `self`.
    pub fn crash_image(&self) -> SimFs {
        let img = self.state.lock().crash_state();
        SimFs {
            state: Arc::new(Mutex::new(img)),
        }
    }

    /// Keep the crash image as it is right after sync number `n` (counting every sync
    /// since creation, as `syncs()` does). Only syncs change what a crash leaves, so
    /// taking this for every `n` covers a crash at every step of a sequence.
    pub fn image_after_sync(&self, n: u64) {
        let mut st = self.state.lock();
        st.image_at = Some(n);
        st.image = None;
    }

    /// The image `image_after_sync` kept, once that sync happened.
    pub fn kept_image(&self) -> Option<SimFs> {
        let img = self.state.lock().image.take()?;
        Some(SimFs {
            state: Arc::new(Mutex::new(*img)),
        })
    }

    /// The bytes a read of `path` would see now, if the file exists.
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state.lock();
        let ino = st.names.get(path)?;
        Some(
            st.inodes
                .get(ino)
                .map(|i| i.data.clone())
                .unwrap_or_default(),
        )
    }

    /// Creates or replaces `path` with `bytes`, durably (data and directory entry), creating
    /// its directory if needed. For tests that plant or damage files.
    pub fn put_file(&self, path: &Path, bytes: &[u8]) {
        let mut st = self.state.lock();
        if let Some(parent) = path.parent() {
            for a in parent.ancestors() {
                st.dirs.insert(a.to_path_buf());
            }
        }
        let ino = st.new_inode(bytes.to_vec(), bytes.to_vec());
        st.names.insert(path.to_path_buf(), ino);
        st.durable_names.insert(path.to_path_buf(), ino);
    }

    /// Sorted names of the files in `dir` now (empty if the directory does not exist).
    pub fn files(&self, dir: &Path) -> Vec<String> {
        let mut v = self.list_dir(dir).unwrap_or_default();
        v.sort();
        v
    }

    /// Number of write calls so far (successful or not).
    pub fn writes(&self) -> u64 {
        self.state.lock().writes
    }

    /// Number of sync calls so far (`sync_data`, `sync_dir`, `truncate`).
    pub fn syncs(&self) -> u64 {
        self.state.lock().syncs
    }
}

impl std::fmt::Debug for SimFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("SimFs")
            .field("files", &st.names.keys().collect::<Vec<_>>())
            .finish()
    }
}

struct SimFile {
    state: Arc<Mutex<SimState>>,
    ino: u64,
    /// Opened for appending (`create_new`, `open_append`): `write_at` is refused, as
    /// `RealFs` refuses it.
    append: bool,
}

impl VfsFile for SimFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut st = self.state.lock();
        st.writes += 1;
        let fail = take_fault(&mut st.write_fault);
        let corrupt = !fail && take_fault(&mut st.corrupt_fault);
        let n = if fail { buf.len() / 2 } else { buf.len() };
        let data = &mut st.inode(self.ino).data;
        let at = data.len();
        data.extend_from_slice(&buf[..n]);
        if corrupt && n > 0 {
            data[at + n / 2] ^= 0x10;
        }
        if fail {
            return Err(io::Error::other("SimFs: injected write failure"));
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.append {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "write_at on a file opened for appending",
            ));
        }
        let mut st = self.state.lock();
        st.writes += 1;
        let fail = take_fault(&mut st.write_fault);
        let n = if fail { buf.len() / 2 } else { buf.len() };
        let at = usize::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
        let data = &mut st.inode(self.ino).data;
        if data.len() < at + n {
            data.resize(at + n, 0);
        }
        data[at..at + n].copy_from_slice(&buf[..n]);
        if fail {
            return Err(io::Error::other("SimFs: injected write failure"));
        }
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut st = self.state.lock();
        st.sync_fault()?;
        let inode = st.inode(self.ino);
        if inode.data.starts_with(&inode.durable) {
            let from = inode.durable.len();
            let tail = inode.data[from..].to_vec();
            inode.durable.extend_from_slice(&tail);
        } else {
            inode.durable = inode.data.clone();
        }
        st.synced();
        Ok(())
    }
}

/// Keeps a `SimFs` directory locked until dropped.
struct SimLock {
    state: Arc<Mutex<SimState>>,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.dir);
    }
}

impl Vfs for SimFs {
    fn free_space(&self, _dir: &Path) -> io::Result<u64> {
        Ok(self.state.lock().free.unwrap_or(u64::MAX))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        for a in dir.ancestors() {
            st.dirs.insert(a.to_path_buf());
        }
        Ok(())
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let mut st = self.state.lock();
        st.check_parent(path)?;
        if st.names.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists", path.display()),
            ));
        }
        let ino = st.new_inode(Vec::new(), Vec::new());
        st.names.insert(path.to_path_buf(), ino);
        Ok(Box::new(SimFile {
            state: Arc::clone(&self.state),
            ino,
            append: true,
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let st = self.state.lock();
        let ino = st.ino(path)?;
        Ok(Box::new(SimFile {
            state: Arc::clone(&self.state),
            ino,
            append: true,
        }))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let st = self.state.lock();
        let ino = st.ino(path)?;
        Ok(Box::new(SimFile {
            state: Arc::clone(&self.state),
            ino,
            append: false,
        }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.file(path).ok_or_else(|| not_found(path))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.state.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.check_parent(to)?;
        let ino = st.names.remove(from).ok_or_else(|| not_found(from))?;
        st.names.insert(to.to_path_buf(), ino);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.names.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.state.lock();
        let ino = st.ino(path)?;
        st.sync_fault()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let inode = st.inode(ino);
        inode.data.truncate(len);
        inode.durable.truncate(len);
        st.synced();
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        st.sync_fault()?;
        let st = &mut *st;
        st.durable_names.retain(|p, _| p.parent() != Some(dir));
        for (p, ino) in &st.names {
            if p.parent() == Some(dir) {
                st.durable_names.insert(p.clone(), *ino);
            }
        }
        st.synced();
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let mut st = self.state.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        if !st.locks.insert(dir.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "data directory is locked",
            ));
        }
        Ok(DirLock::new(SimLock {
            state: Arc::clone(&self.state),
            dir: dir.to_path_buf(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn unsynced_data_and_entries_are_lost_in_crash_image() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        let mut f = fs.create_new(&p("/d/a")).unwrap();
        f.write_all(b"abc").unwrap();
        f.sync_data().unwrap();
        f.write_all(b"def").unwrap();
        // Entry not yet durable: a crash loses the whole file.
        assert!(fs.crash_image().file(&p("/d/a")).is_none());
        fs.sync_dir(&p("/d")).unwrap();
        let img = fs.crash_image();
        assert_eq!(img.file(&p("/d/a")).unwrap(), b"abc");
        assert_eq!(fs.file(&p("/d/a")).unwrap(), b"abcdef");
        // Rename not durable until sync_dir.
        fs.rename(&p("/d/a"), &p("/d/b")).unwrap();
        assert_eq!(fs.crash_image().files(&p("/d")), vec!["a"]);
        fs.sync_dir(&p("/d")).unwrap();
        assert_eq!(fs.crash_image().files(&p("/d")), vec!["b"]);
        fs.remove(&p("/d/b")).unwrap();
        assert_eq!(fs.crash_image().files(&p("/d")), vec!["b"]);
        fs.sync_dir(&p("/d")).unwrap();
        assert!(fs.crash_image().files(&p("/d")).is_empty());
    }

    #[test]
    fn faults_are_one_shot_and_failed_sync_makes_nothing_durable() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        let mut f = fs.create_new(&p("/d/a")).unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        fs.fail_write_after(1);
        f.write_all(b"1234").unwrap();
        assert!(f.write_all(b"5678").is_err());
        f.write_all(b"9").unwrap();
        assert_eq!(fs.file(&p("/d/a")).unwrap(), b"1234569");
        fs.fail_sync_after(0);
        assert!(f.sync_data().is_err());
        assert!(fs.crash_image().file(&p("/d/a")).unwrap().is_empty());
        f.sync_data().unwrap();
        assert_eq!(fs.crash_image().file(&p("/d/a")).unwrap(), b"1234569");
    }

    #[test]
    fn overwrites_are_lost_in_a_crash_until_synced() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        let mut f = fs.create_new(&p("/d/a")).unwrap();
        f.write_all(&[0u8; 8]).unwrap();
        f.sync_data().unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        assert!(f.write_at(0, b"x").is_err());
        let mut w = fs.open_write(&p("/d/a")).unwrap();
        w.write_at(2, b"ab").unwrap();
        w.write_at(10, b"z").unwrap();
        assert_eq!(fs.file(&p("/d/a")).unwrap(), b"\0\0ab\0\0\0\0\0\0z");
        assert_eq!(fs.crash_image().file(&p("/d/a")).unwrap(), [0u8; 8]);
        w.sync_data().unwrap();
        assert_eq!(
            fs.crash_image().file(&p("/d/a")).unwrap(),
            b"\0\0ab\0\0\0\0\0\0z"
        );
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        let l = fs.lock_dir(&p("/d")).unwrap();
        assert_eq!(
            fs.lock_dir(&p("/d")).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        drop(l);
        fs.lock_dir(&p("/d")).unwrap();
    }
}
