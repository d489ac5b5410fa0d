//! The one I/O boundary of `persist`: the [`Vfs`] trait, its production implementation
//! [`RealFs`] (std::fs, `fdatasync`, directory fsync, `flock`), and the in-memory
//! [`SimFs`] used by tests for crash images and fault injection. Every byte `persist`
//! reads or writes goes through a `Vfs`; nothing else in the subsystem touches `std::fs`.
//! The media assumptions these calls rely on are stated in format/README.md §Media
//! assumptions; the durability steps built from them are in format/log.md §Durability
//! sequence and format/manifest.md §Replace protocol.

mod sim;

pub use sim::SimFs;

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// An open file: appended to (side files, `MANIFEST.tmp`, a new segment's header) or, when
/// opened by [`Vfs::open_write`], written at chosen offsets (the active log segment, which
/// overwrites its preallocated zeros: format/log.md §Preallocation).
pub trait VfsFile: Send + 'static {
    /// Appends all of `buf` at the end of the file. On error an unknown prefix of `buf` may
    /// have been written (a torn write).
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Writes all of `buf` at byte `offset` (`pwrite`), overwriting what is there and
    /// extending the file if it is shorter (a gap before `offset` reads as zeros). Only for
    /// files opened by [`Vfs::open_write`]; a file opened for appending returns `Unsupported`
    /// (on Linux `O_APPEND` makes `pwrite` ignore the offset). On error an unknown prefix of
    /// `buf` may have been written.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let _ = (offset, buf);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "write_at on a file not opened by open_write",
        ))
    }
    /// Makes every byte written so far durable (`fdatasync`). On error nothing may be assumed
    /// about the bytes written since the last successful call, and a later successful call does
    /// not make them durable either (the kernel may have dropped the dirty pages).
    fn sync_data(&mut self) -> io::Result<()>;
}

/// Holds a data directory's advisory lock; dropping it releases the lock.
pub struct DirLock {
    _guard: Box<dyn Send + Sync>,
}

impl DirLock {
    /// Wraps whatever object keeps the lock held while it lives.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        DirLock {
            _guard: Box::new(guard),
        }
    }
}

impl std::fmt::Debug for DirLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirLock")
    }
}

/// The narrow file-system interface `persist` needs. Paths are full paths (directory joined
/// with a file name). Directory entry changes (`create_new`, `rename`, `remove`) are durable
/// only after `sync_dir` on their directory.
pub trait Vfs: Send + Sync + 'static {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates a new empty file for appending; fails with `AlreadyExists` if it exists.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// Opens an existing file for positional writes ([`VfsFile::write_at`]); its
    /// `write_all` still appends at the end.
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let _ = path;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "open_write is not implemented by this Vfs",
        ))
    }
    /// Reads a whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Opens a file to read it from its start piece by piece, in bounded memory (the
    /// default reads it whole first: fine for an in-memory Vfs).
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn io::Read + Send>> {
        Ok(Box::new(io::Cursor::new(self.read_all(path)?)))
    }
    /// Names (not paths) of the regular files in `dir`, in no particular order.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Atomically replaces `to` with `from` (POSIX `rename`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Shrinks a file to `len` bytes and makes the new length durable before returning.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive advisory lock of `dir` (file `LOCK`); fails with `WouldBlock` if
    /// it is held, by this process or another.
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock>;
    /// A file's length in bytes.
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.read_all(path).map(|b| b.len() as u64)
    }
    /// Bytes an unprivileged writer may still write on the file system holding `dir` (what
    /// `df` shows available); `u64::MAX` when unknown (the default).
    fn free_space(&self, dir: &Path) -> io::Result<u64> {
        let _ = dir;
        Ok(u64::MAX)
    }
}

/// The directory holding `path` (`.` for a bare file name): where a rename of `path` is
/// made durable.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The real file system through `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

struct RealFile {
    file: File,
    /// Opened with `O_APPEND` (`create_new`, `open_append`): no positional writes.
    append: bool,
}

impl VfsFile for RealFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if !self.append {
            self.file.seek(SeekFrom::End(0))?;
        }
        self.file.write_all(buf)
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.append {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "write_at on a file opened for appending",
            ));
        }
        self.file.write_all_at(buf, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        // DURABILITY: fdatasync; flushes the data, and the size when it grew, which is all an
        // append or an overwrite of preallocated zeros needs.
        self.file.sync_data()
    }
}

impl Vfs for RealFs {
    fn free_space(&self, dir: &Path) -> io::Result<u64> {
        let s = nix::sys::statvfs::statvfs(dir).map_err(io::Error::from)?;
        Ok((s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        // Each directory this creates is made durable in its parent: a data directory whose
        // own entry a power loss could take away would take every acknowledged write with it.
        let mut missing = Vec::new();
        let mut at = dir;
        while !at.as_os_str().is_empty() && !at.is_dir() {
            missing.push(at);
            match at.parent() {
                Some(p) => at = p,
                None => break,
            }
        }
        for d in missing.into_iter().rev() {
            match std::fs::create_dir(d) {
                Ok(()) => {}
                // (Created meanwhile by someone else: it exists, as wanted.)
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
                Err(e) => return Err(e),
            }
            // DURABILITY: the new directory's entry in its parent.
            self.sync_dir(parent_dir(d))?;
        }
        Ok(())
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(RealFile {
            file: f,
            append: true,
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let f = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(RealFile {
            file: f,
            append: true,
        }))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let f = OpenOptions::new().write(true).open(path)?;
        Ok(Box::new(RealFile {
            file: f,
            append: false,
        }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn io::Read + Send>> {
        Ok(Box::new(std::fs::File::open(path)?))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            // Names that are not UTF-8 are never ours; skip them.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        // DURABILITY: atomic replace; the caller fsyncs the directory afterwards.
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        std::fs::metadata(path).map(|m| m.len())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        // DURABILITY: truncate, then fsync (not fdatasync: the size is metadata we need on disk).
        f.set_len(len)?;
        f.sync_all()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // DURABILITY: fsync on the directory makes creations, renames and removals in it durable.
        File::open(dir)?.sync_all()
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("LOCK"))?;
        // std's try_lock is flock(LOCK_EX | LOCK_NB) on Linux: a per-open-file lock, so a second
        // open of the same directory in this process is refused too. (No `unsafe` libc call.)
        match f.try_lock() {
            Ok(()) => Ok(DirLock::new(f)),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "data directory is locked",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realfs_basic_ops_and_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = RealFs;
        let a = tmp.path().join("a");
        let mut f = fs.create_new(&a).unwrap();
        f.write_all(b"hello").unwrap();
        f.sync_data().unwrap();
        assert!(fs.create_new(&a).is_err());
        let mut f = fs.open_append(&a).unwrap();
        f.write_all(b" world").unwrap();
        assert_eq!(fs.read_all(&a).unwrap(), b"hello world");
        fs.truncate(&a, 5).unwrap();
        assert_eq!(fs.read_all(&a).unwrap(), b"hello");
        assert_eq!(
            f.write_at(0, b"x").unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
        let mut w = fs.open_write(&a).unwrap();
        w.write_at(7, b"ab").unwrap();
        assert_eq!(fs.read_all(&a).unwrap(), b"hello\0\0ab");
        w.write_at(1, b"E").unwrap();
        w.write_all(b"!").unwrap();
        w.sync_data().unwrap();
        assert_eq!(fs.read_all(&a).unwrap(), b"hEllo\0\0ab!");
        fs.truncate(&a, 5).unwrap();
        let b = tmp.path().join("b");
        fs.rename(&a, &b).unwrap();
        fs.sync_dir(tmp.path()).unwrap();
        assert_eq!(fs.list_dir(tmp.path()).unwrap(), vec!["b".to_string()]);
        fs.remove(&b).unwrap();

        let l1 = fs.lock_dir(tmp.path()).unwrap();
        let e = fs.lock_dir(tmp.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(l1);
        let _l2 = fs.lock_dir(tmp.path()).unwrap();
    }

    #[test]
    fn realfs_create_dir_all_nested_existing_and_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = RealFs;
        let deep = tmp.path().join("x/y/z");
        fs.create_dir_all(&deep).unwrap();
        assert!(deep.is_dir());
        // Existing: nothing to do.
        fs.create_dir_all(&deep).unwrap();
        fs.create_dir_all(tmp.path()).unwrap();
        // A file in the way is an error, not a silent success.
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(fs.create_dir_all(&file.join("sub")).is_err());
        assert!(fs.create_dir_all(&file).is_err());
    }
}
