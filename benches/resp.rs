//! RESP codec micro-benchmark (`cargo bench --bench resp`): decode pipelined SET requests
//! and encode bulk/array replies. Plain timing loops (no criterion) so the bench builds
//! with the crate's own dependencies; end-to-end numbers come from tools/bench-e2e.sh.

use std::time::Instant;

use bytes::BytesMut;
use strata::resp::{decode, encode, Limits, Reply};

fn main() {
    let one = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000012345\r\n$3\r\nxxx\r\n";
    let mut input = Vec::new();
    for _ in 0..16 {
        input.extend_from_slice(one);
    }
    let limits = Limits::default();
    let rounds = 200_000;
    let t0 = Instant::now();
    let mut n = 0u64;
    for _ in 0..rounds {
        let mut b = BytesMut::from(&input[..]);
        while let Ok(Some(argv)) = decode(&mut b, &limits) {
            n += argv.len() as u64;
        }
    }
    let dt = t0.elapsed();
    let reqs = rounds as f64 * 16.0;
    println!(
        "decode: {:.1} M requests/s ({:.0} ns/request, {n} args)",
        reqs / dt.as_secs_f64() / 1e6,
        dt.as_nanos() as f64 / reqs
    );

    let reply = Reply::Array(
        (0..100)
            .map(|i| Reply::bulk(format!("value-{i}").as_bytes()))
            .collect(),
    );
    let mut out = Vec::with_capacity(4096);
    let t0 = Instant::now();
    for _ in 0..100_000 {
        out.clear();
        encode(&reply, 2, &mut out);
    }
    let dt = t0.elapsed();
    println!(
        "encode: {:.0} ns per 100-element array reply ({} bytes)",
        dt.as_nanos() as f64 / 100_000.0,
        out.len()
    );
}
