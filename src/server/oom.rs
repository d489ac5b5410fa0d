//! `oom-score-adj` as Redis 7.0 applies it (setOOMScoreAdj): while it is `yes`/`relative`
//! the process's /proc/self/oom_score_adj is the value it had when strata first took
//! control plus the first of `oom-score-adj-values` (the master class; strata is never a
//! replica and forks no child), with `absolute` that value alone, clamped to
//! [-1000, 1000]; set back to `no`, the original value is restored. Linux only; a failure
//! is logged.

use parking_lot::Mutex;

use crate::config::Config;

const PATH: &str = "/proc/self/oom_score_adj";

/// The score before strata changed it (Some while strata controls it).
static BASE: Mutex<Option<i64>> = Mutex::new(None);

/// Apply `config`'s `oom-score-adj` and `oom-score-adj-values` to this process.
pub fn apply(config: &Config) {
    let mode = config.get("oom-score-adj").unwrap_or_default();
    let value = config
        .get("oom-score-adj-values")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let mut base = BASE.lock();
    let target = if mode == "no" {
        match base.take() {
            Some(b) => b,
            None => return,
        }
    } else {
        let b = match *base {
            Some(b) => b,
            None => match read() {
                Some(b) => *base.insert(b),
                None => {
                    tracing::warn!("Unable to read oom_score_adj");
                    return;
                }
            },
        };
        let v = if mode == "absolute" { value } else { value + b };
        v.clamp(-1000, 1000)
    };
    if let Err(e) = std::fs::write(PATH, format!("{target}\n")) {
        tracing::warn!("Unable to write oom_score_adj: {e}");
    }
}

fn read() -> Option<i64> {
    std::fs::read_to_string(PATH).ok()?.trim().parse().ok()
}
