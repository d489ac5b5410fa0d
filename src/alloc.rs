//! The global allocator (jemalloc) and its statistics. `INFO memory` reports
//! `used_memory` as the bytes the allocator has handed out, as Redis does, not an
//! estimate; `used_memory_rss` is what the OS says.

/// jemalloc for every binary that links strata: lower per-allocation overhead than the
/// system allocator for many small values, and real allocation statistics.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Allocator statistics, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemStats {
    /// Bytes allocated by the application (Redis `used_memory`).
    pub allocated: u64,
    /// Bytes in active pages (allocated + fragmentation inside pages).
    pub active: u64,
    /// Bytes resident in physical memory mapped by the allocator.
    pub resident: u64,
}

/// Refresh and read the allocator's statistics (zeros if they are unavailable).
pub fn stats() -> MemStats {
    if tikv_jemalloc_ctl::epoch::advance().is_err() {
        return MemStats::default();
    }
    let get = |r: tikv_jemalloc_ctl::Result<usize>| r.map_or(0, |v| v as u64);
    MemStats {
        allocated: get(tikv_jemalloc_ctl::stats::allocated::read()).saturating_sub(thread_caches()),
        active: get(tikv_jemalloc_ctl::stats::active::read()),
        resident: get(tikv_jemalloc_ctl::stats::resident::read()),
    }
}

/// Turn jemalloc's background threads on or off (Redis's `jemalloc-bg-thread`, on by
/// default). With them on, returning freed pages to the OS (purging, `madvise`) is done by
/// jemalloc's own threads; with them off it happens inside whichever allocation or free
/// call crosses a decay deadline, and after a big free (a table resized, a large value or
/// a replay buffer dropped) that call can be a command on the engine's critical path
/// paying 100+ ms of `madvise` and TLB shootdowns (measured on this VM with a 4M-key
/// keyspace). A failure (a jemalloc built without them) is logged once per call.
pub fn set_background_thread(on: bool) {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(on) {
        tracing::warn!("jemalloc background threads could not be set to {on}: {e}");
    }
}

/// Refresh the statistics and read only `allocated` (the eviction gauge's refresh; about a
/// microsecond or two, so callers cache it). None if the statistics are unavailable.
pub fn allocated() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read()
        .ok()
        .map(|v| (v as u64).saturating_sub(thread_caches()))
}

/// Bytes of freed small objects the threads' caches hold (jemalloc's
/// `stats.arenas.<all>.tcache_bytes`, as of the last epoch). jemalloc counts them as
/// allocated; they are not the application's, and Redis's `used_memory` (its own count of
/// what it holds) never includes them. Left in, they made `used_memory` jump by tens of
/// KB as a thread's cache filled a batch or kept what a flush or eviction freed, enough to
/// answer -OOM with no key left to evict under a tight `maxmemory`.
fn thread_caches() -> u64 {
    use tikv_jemalloc_ctl::{Access, AsName};
    Access::<usize>::read(b"stats.arenas.4096.tcache_bytes\0".name()).map_or(0, |v| v as u64)
}

/// Return what the calling thread's cache holds of freed memory to the allocator (turning
/// the cache off and on flushes it), so `used_memory` shows those bytes freed at once.
/// For rare, big frees (a client closed with its replies); costs a few microseconds.
pub fn flush_thread_cache() {
    use tikv_jemalloc_ctl::{Access, AsName};
    let key = b"thread.tcache.enabled\0".name();
    if Access::<bool>::read(key) == Ok(true) {
        let _ = key.write(false);
        let _ = key.write(true);
    }
}

/// The calling thread's lifetime allocation counters (jemalloc `thread.allocatedp` and
/// `thread.deallocatedp`): reading them is a plain load, so the bytes one operation frees
/// can be measured exactly (eviction measures each deletion this way, as Redis does with
/// `zmalloc_used_memory` around `dbSyncDelete`). Not `Send`: use on the creating thread.
pub struct ThreadMeter {
    alloc: tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
    dealloc: tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
}

impl ThreadMeter {
    /// The meter of the calling thread (None if jemalloc statistics are unavailable).
    pub fn new() -> Option<ThreadMeter> {
        Some(ThreadMeter {
            alloc: tikv_jemalloc_ctl::thread::allocatedp::read().ok()?,
            dealloc: tikv_jemalloc_ctl::thread::deallocatedp::read().ok()?,
        })
    }

    /// Bytes allocated minus bytes freed by this thread so far (differences are meaningful).
    pub fn net(&self) -> i64 {
        let a = self.alloc.get();
        let d = self.dealloc.get();
        (a as i64).wrapping_sub(d as i64)
    }
}

thread_local! {
    static METER: Option<(u64, ThreadMeter)> = ThreadMeter::new().map(|m| {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        (NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed), m)
    });
}

/// The calling thread's `(tag, net bytes)`: a tag unique to the thread, and its bytes
/// allocated minus freed so far (`ThreadMeter::net`), from a meter cached per thread, so
/// this is a couple of loads. None if jemalloc statistics are unavailable.
pub fn thread_net() -> Option<(u64, i64)> {
    METER.with(|m| m.as_ref().map(|(tag, m)| (*tag, m.net())))
}

/// jemalloc's own report (`malloc_stats_print`), for MEMORY MALLOC-STATS.
pub fn malloc_stats_text() -> String {
    let mut buf = Vec::new();
    match tikv_jemalloc_ctl::stats_print::stats_print(
        &mut buf,
        tikv_jemalloc_ctl::stats_print::Options::default(),
    ) {
        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => "Stats not supported for the current allocator".to_string(),
    }
}

#[cfg(test)]
mod tests {
    /// The jemalloc strata links supports background threads, and the setting reaches it
    /// (a build without them would leave purging on the request path silently).
    /// `allocated` leaves out what the threads' caches hold: the cache statistic is
    /// readable (a jemalloc without it would silently count the caches again).
    #[test]
    fn allocated_leaves_out_the_thread_caches() {
        use tikv_jemalloc_ctl::{Access, AsName};
        // Fill this thread's cache: many small objects freed at once stay in it.
        let v: Vec<Box<[u8; 48]>> = (0..64).map(|_| Box::new([1u8; 48])).collect();
        drop(v);
        tikv_jemalloc_ctl::epoch::advance().unwrap();
        let cached = Access::<usize>::read(b"stats.arenas.4096.tcache_bytes\0".name());
        assert!(cached.is_ok_and(|c| c > 0), "{cached:?}");
        // (Same epoch: the statistics do not move until the next advance.)
        assert_eq!(super::thread_caches(), cached.unwrap() as u64);
    }

    #[test]
    fn background_threads_follow_the_setting() {
        super::set_background_thread(false);
        assert_eq!(tikv_jemalloc_ctl::background_thread::read(), Ok(false));
        super::set_background_thread(true);
        assert_eq!(tikv_jemalloc_ctl::background_thread::read(), Ok(true));
    }
}
