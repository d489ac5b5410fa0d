//! Keyspace micro-benchmark (`cargo bench --bench keyspace`): `Dict` inserts and lookups
//! with redis-benchmark-shaped keys, and the longest bucket chain (hash quality check).

use std::time::Instant;

use strata::db::Dict;

fn main() {
    let n = 100_000u32;
    let keys: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    let mut d = Dict::new();
    let t0 = Instant::now();
    for k in &keys {
        d.insert(k, 1u64);
    }
    println!(
        "insert: {:.0} ns/op",
        t0.elapsed().as_nanos() as f64 / f64::from(n)
    );
    let t0 = Instant::now();
    let mut hits = 0u64;
    for _ in 0..20 {
        for k in &keys {
            hits += d.get(k).copied().unwrap_or(0);
        }
    }
    println!(
        "get: {:.0} ns/op ({hits} hits), {} buckets, longest chain {}",
        t0.elapsed().as_nanos() as f64 / (20.0 * f64::from(n)),
        d.bucket_count(),
        d.longest_chain()
    );
}
