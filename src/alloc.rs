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
        allocated: get(tikv_jemalloc_ctl::stats::allocated::read()),
        active: get(tikv_jemalloc_ctl::stats::active::read()),
        resident: get(tikv_jemalloc_ctl::stats::resident::read()),
    }
}
