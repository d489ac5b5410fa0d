//! Log micro-benchmark (`cargo bench --bench log_append`): records/s through `Log::append`
//! and `wait_durable` on a real temp directory, per fsync policy, with 1 and 32 concurrent
//! appenders (group commit batches the latter). Plain timing loops, no criterion.

use std::sync::Arc;
use std::time::Instant;

use strata::persist::io::RealFs;
use strata::persist::{FsyncPolicy, Log, LogOptions};

fn run(policy: FsyncPolicy, threads: usize, per_thread: usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut opts = LogOptions::new(tmp.path().join("data"));
    opts.fsync = policy;
    let (log, _) = Log::open(Arc::new(RealFs), opts).expect("open");
    let log = Arc::new(log);
    let payload = vec![b'x'; 100];
    let t0 = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let log = log.clone();
            let payload = payload.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    let lsn = log.append(0, &payload).expect("append");
                    log.wait_durable_blocking(lsn).expect("durable");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let dt = t0.elapsed();
    let s = log.stats();
    println!(
        "{:<9} {:>2} appenders: {:>9.0} records/s, {:.1} records per fsync",
        policy.as_str(),
        threads,
        (threads * per_thread) as f64 / dt.as_secs_f64(),
        s.mean_records_per_fsync
    );
    log.shutdown();
}

fn main() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::Everysec, FsyncPolicy::No] {
        run(policy, 1, 2000);
        run(policy, 32, 500);
    }
}
