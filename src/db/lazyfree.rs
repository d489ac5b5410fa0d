//! Freeing big values off the engine lock, as Redis's lazyfree: UNLINK hands a value whose
//! free effort (Redis's `lazyfreeGetFreeEffort`: elements of a hash table, nodes of a
//! stream …) passes 64 to one background thread, which drops it, and FLUSHALL/FLUSHDB
//! ASYNC hand it a whole database's tables; the counters feed INFO
//! `lazyfree_pending_objects` and `lazyfreed_objects`. No I/O.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use super::{Entry, Value};

/// Values with a free effort above this are freed in the background (Redis's
/// `LAZYFREE_THRESHOLD`).
pub const THRESHOLD: usize = 64;

/// One server's lazyfree counters.
#[derive(Debug, Default)]
pub struct LazyFree {
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    pending: AtomicU64,
    freed: AtomicU64,
}

/// What to drop, how many objects it counts for, and whose counters (None: uncounted).
type Job = (Box<dyn Send>, u64, Option<Arc<Counters>>);

/// The background thread's queue, started on first use.
fn queue() -> &'static Mutex<Sender<Job>> {
    static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("strata-lazyfree".into())
            .spawn(move || {
                for (value, objects, counters) in rx {
                    drop(value);
                    if let Some(c) = counters {
                        c.pending.fetch_sub(objects, Ordering::AcqRel);
                        c.freed.fetch_add(objects, Ordering::AcqRel);
                    }
                }
            });
        // Without the thread, jobs fail to send and values are freed in place.
        drop(spawned);
        Mutex::new(tx)
    })
}

/// Queue `job` for the background thread; false if it was freed here instead.
fn send(job: Job) -> bool {
    // A job that could not be queued is dropped (freed) right here.
    let sent = queue().lock().map(|tx| tx.send(job));
    matches!(sent, Ok(Ok(())))
}

/// Drop `what` on the background thread, outside any server's counters (memory a server
/// kept for its own use, such as the tables a flush detached for a running snapshot).
pub fn drop_in_background(what: Box<dyn Send>) {
    send((what, 0, None));
}

/// Redis's free effort of a value: 1 for compact encodings, else its allocations.
pub fn effort(v: &Value) -> usize {
    match v {
        Value::Str(_) => 1,
        Value::Hash(h) if h.encoding() == "hashtable" => h.len(),
        Value::Set(s) if s.encoding() == "hashtable" => s.len(),
        Value::ZSet(z) if z.encoding() == "skiplist" => z.len(),
        // Quicklist nodes of about 8 KiB.
        Value::List(l) => l.len() / 128 + 1,
        Value::Stream(s) => {
            let groups = s.groups.len();
            let pel = s.groups.values().next().map_or(0, |g| g.pel.len());
            s.node_count() + groups * (1 + pel)
        }
        _ => 1,
    }
}

impl LazyFree {
    /// Free `entry`: in the background when that is worth it, else now.
    pub fn free(&self, entry: Entry) {
        if effort(&entry.value) <= THRESHOLD {
            return;
        }
        self.free_objects(Box::new(entry), 1);
    }

    /// Free `objects` things held by `what` (a flushed database's tables: its key count)
    /// in the background, counted in INFO as Redis counts an asynchronous flush.
    pub fn free_objects(&self, what: Box<dyn Send>, objects: u64) {
        self.counters.pending.fetch_add(objects, Ordering::AcqRel);
        if !send((what, objects, Some(self.counters.clone()))) {
            self.counters.pending.fetch_sub(objects, Ordering::AcqRel);
        }
    }

    /// INFO `lazyfree_pending_objects`.
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Acquire)
    }

    /// INFO `lazyfreed_objects`.
    pub fn freed(&self) -> u64 {
        self.counters.freed.load(Ordering::Acquire)
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.counters.freed.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_values_are_freed_in_the_background() {
        let lf = LazyFree::default();
        let mut set = super::super::set::Set::default();
        for i in 0..1000u32 {
            set.insert(i.to_string().as_bytes(), 512);
        }
        assert!(effort(&Value::Set(Box::new(set.clone()))) > THRESHOLD);
        lf.free(Entry::new(Value::Str(b"small".to_vec().into()), 0));
        lf.free(Entry::new(Value::Set(Box::new(set)), 0));
        let t0 = std::time::Instant::now();
        while lf.freed() < 1 {
            assert!(t0.elapsed() < std::time::Duration::from_secs(5));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!((lf.freed(), lf.pending()), (1, 0));
        lf.reset_stats();
        assert_eq!(lf.freed(), 0);
    }
}
