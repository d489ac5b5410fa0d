//! Running as a Redis daemon does: `daemonize yes` forks into the background (the parent
//! exits at once with status 0, the child leaves the terminal's session and points its
//! standard streams at /dev/null; it keeps the working directory), and `pidfile` names a
//! file holding the server's pid while it runs (written at start, removed at exit; a
//! daemon without one gets Redis's default path), and the server works in its data
//! directory as Redis does (relative `logfile`, `pidfile`, `unixsocket` and `aclfile` paths
//! are inside it). Called by the binary before anything starts a thread.

use std::io;
use std::path::{Path, PathBuf};

/// Where a daemonized server without a `pidfile` writes its pid (Redis's default).
pub const DEFAULT_PIDFILE: &str = "/var/run/redis.pid";

/// Fork into the background (daemon(3): fork, the parent exits 0, setsid, standard
/// streams to /dev/null). Returns in the child only. Must run before any thread is
/// started: only the calling thread survives a fork.
pub fn daemonize() -> io::Result<()> {
    nix::unistd::daemon(true, false).map_err(io::Error::from)
}

/// Make `dir` the working directory (created if missing, as strata creates a new data
/// directory); returns its absolute path, which the configuration then names (Redis
/// `chdir`s to `dir` while it reads its configuration, and reports it absolute).
pub fn enter_dir(dir: &Path) -> io::Result<PathBuf> {
    // (Each directory created is made durable in its parent, as the log's own directory is.)
    crate::persist::io::Vfs::create_dir_all(&crate::persist::io::RealFs, dir)?;
    let abs = std::fs::canonicalize(dir)?;
    std::env::set_current_dir(&abs)?;
    Ok(abs)
}

/// The pid file of a running server (none when `path` is empty).
pub struct PidFile {
    path: Option<PathBuf>,
}

impl PidFile {
    /// Write this process's pid to `path` (`pidfile`; for a daemon without one,
    /// [`DEFAULT_PIDFILE`]). A file that cannot be written is logged and the server runs
    /// on, as Redis does.
    pub fn create(path: &str, daemonized: bool) -> PidFile {
        let path = match (path.is_empty(), daemonized) {
            (false, _) => path,
            (true, true) => DEFAULT_PIDFILE,
            (true, false) => return PidFile { path: None },
        };
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            tracing::warn!("Failed to write PID file {path}: {e}");
        }
        PidFile {
            path: Some(PathBuf::from(path)),
        }
    }

    /// Remove the file at exit.
    pub fn remove(self) {
        if let Some(p) = self.path {
            tracing::info!("Removing the pid file.");
            let _ = std::fs::remove_file(p);
        }
    }
}
