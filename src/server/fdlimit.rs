//! The open-files limit `maxclients` needs, adjusted as Redis adjusts it: every client is a
//! file descriptor, and the server keeps 32 more for itself (log segments, snapshots,
//! listeners, the event loop). At start, and when CONFIG SET raises `maxclients`, the
//! process's `RLIMIT_NOFILE` is raised to `maxclients + 32` if it is lower (soft and hard
//! limit together, stepping down by 16 until the system allows it); what does not fit
//! lowers `maxclients` at start and refuses the CONFIG SET.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// File descriptors kept for the server's own use (Redis's `CONFIG_MIN_RESERVED_FDS`).
pub const RESERVED_FDS: u64 = 32;

/// Make room for `maxclients` clients; returns how many fit (`maxclients`, or fewer when
/// the limit could not be raised that far; 0 when not even the reserve fits).
pub fn fit(maxclients: u64) -> u64 {
    let want = maxclients.saturating_add(RESERVED_FDS);
    let Ok((soft, _hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        tracing::warn!("Unable to obtain the current NOFILE limit, assuming 1024 and setting the max clients configuration accordingly.");
        return 1024 - RESERVED_FDS;
    };
    if soft >= want {
        return maxclients;
    }
    let mut best = want;
    let mut refused = None;
    while best > soft {
        match setrlimit(Resource::RLIMIT_NOFILE, best, best) {
            Ok(()) => break,
            Err(e) => refused = Some(e),
        }
        if best < 16 {
            best = soft;
            break;
        }
        best -= 16;
    }
    let best = best.max(soft);
    if best >= want {
        tracing::info!(
            "Increased maximum number of open files to {want} (it was originally set to {soft})."
        );
        return maxclients;
    }
    let why = refused.map_or_else(String::new, |e| e.desc().to_string());
    tracing::warn!(
        "You requested maxclients of {maxclients} requiring at least {want} max file descriptors."
    );
    tracing::warn!("Server can't set maximum open files to {want} because of OS error: {why}.");
    let fits = best.saturating_sub(RESERVED_FDS);
    tracing::warn!(
        "Current maximum open files is {best}. maxclients has been reduced to {fits} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
    );
    fits
}
