//! A latency-over-time trace of a SET load while snapshots run (issue 4's "p99 while a
//! snapshot runs"): `--clients` connections each send `SET key:<12 digits> <16 bytes>` over
//! `--keys` random keys, one request in flight, and record every request's send time and
//! latency; a control connection polls `INFO persistence` every `--poll-ms` and, from
//! `--snap-after` seconds on, sends BGSAVE whenever none runs (with `--period P`: only in
//! every other P seconds, so steady and snapshot stretches alternate), recording when each
//! snapshot started and ended. Everything goes to `--out` as text lines:
//!
//! ```text
//! t0 <unix µs of the start>
//! r <send µs since start> <latency µs>
//! e <µs since start> <event>          (bgsave, started, ended)
//! ```
//!
//! and a summary (requests per second, p50/p99/max by send time: steady = after the first
//! second and while no snapshot ran, during = sent while one ran) is printed.
//!
//! Usage: snaptrace --port P [--clients 50] [--keys 1000000] [--seconds 20]
//!        [--snap-after 5] [--period 0] [--poll-ms 10] [--out trace.txt]
//!
//! `snaptrace --walk N [--rounds 3] [--slice-us 100] [--warm STEPS]` measures instead, without a server
//! and so without load, what the server's snapshot walk costs under the engine lock: it
//! fills a keyspace with N keys as the load above writes them (then overwrites half of
//! them, scattering the values as a SET load does), and runs the walk (`Job::step`) in
//! slices of `--slice-us`, printing per round the slices, keys per slice, ns per key and
//! the slice lengths' p50/p99/max.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Command-line options.
struct Opts {
    port: u16,
    clients: u64,
    keys: u64,
    seconds: f64,
    snap_after: f64,
    poll_ms: u64,
    period: f64,
    out: String,
    walk: u64,
    rounds: u64,
    slice_us: u64,
    warm: u64,
}

fn parse() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mut o = Opts {
        port: 6379,
        clients: 50,
        keys: 1_000_000,
        seconds: 20.0,
        snap_after: 5.0,
        poll_ms: 10,
        period: 0.0,
        out: "trace.txt".into(),
        walk: 0,
        rounds: 3,
        slice_us: 100,
        warm: 0,
    };
    while let Some(flag) = args.next() {
        let v = args.next().ok_or(format!("{flag} needs a value"))?;
        let n = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        let f = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--port" => o.port = u16::try_from(n(&v)?).map_err(|e| e.to_string())?,
            "--clients" => o.clients = n(&v)?.max(1),
            "--keys" => o.keys = n(&v)?.max(1),
            "--seconds" => o.seconds = f(&v)?,
            "--snap-after" => o.snap_after = f(&v)?,
            "--poll-ms" => o.poll_ms = n(&v)?.max(1),
            "--period" => o.period = f(&v)?,
            "--out" => o.out = v,
            "--walk" => o.walk = n(&v)?,
            "--rounds" => o.rounds = n(&v)?.max(1),
            "--slice-us" => o.slice_us = n(&v)?,
            "--warm" => o.warm = n(&v)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Encode one command as a RESP array of bulk strings.
fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A connection reading simple, error and bulk-string replies (all this tool sends gets).
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            s,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// The length of the complete reply at the start of the buffer, if there is one.
    fn complete(&self) -> Option<usize> {
        let b = &self.buf;
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        match b.first()? {
            b'$' => {
                let n: i64 = std::str::from_utf8(&b[1..line_end]).ok()?.parse().ok()?;
                if n < 0 {
                    return Some(line_end + 2);
                }
                let end = line_end + 2 + usize::try_from(n).ok()? + 2;
                (end <= b.len()).then_some(end)
            }
            _ => Some(line_end + 2),
        }
    }

    /// Send `cmd` and read its reply.
    async fn call(&mut self, cmd: &[u8]) -> std::io::Result<Vec<u8>> {
        self.s.write_all(cmd).await?;
        loop {
            if let Some(end) = self.complete() {
                let reply: Vec<u8> = self.buf.drain(..end).collect();
                if reply.first() == Some(&b'-') {
                    eprintln!(
                        "error reply: {}",
                        String::from_utf8_lossy(&reply).trim_end()
                    );
                }
                return Ok(reply);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.s.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One request: send time and latency, µs.
type Sample = (u32, u32);

async fn worker(
    port: u16,
    seed: u64,
    keys: u64,
    t0: Instant,
    until: Duration,
) -> std::io::Result<Vec<Sample>> {
    let mut c = Conn::open(port).await?;
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(1 << 16);
    let mut cmd = Vec::with_capacity(64);
    loop {
        let sent = t0.elapsed();
        if sent >= until {
            return Ok(out);
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = format!("key:{:012}", rng % keys);
        cmd.clear();
        encode(&mut cmd, &[b"SET", key.as_bytes(), b"xxxxxxxxxxxxxxxx"]);
        c.call(&cmd).await?;
        let lat = t0.elapsed() - sent;
        out.push((sent.as_micros() as u32, lat.as_micros() as u32));
    }
}

async fn control(
    o: Arc<Opts>,
    t0: Instant,
    until: Duration,
) -> std::io::Result<Vec<(u32, String)>> {
    let mut c = Conn::open(o.port).await?;
    let mut info = Vec::new();
    encode(&mut info, &[b"INFO", b"persistence"]);
    let mut bgsave = Vec::new();
    encode(&mut bgsave, &[b"BGSAVE"]);
    let mut events = Vec::new();
    let mut was = false;
    let at = |t0: Instant| t0.elapsed().as_micros() as u32;
    while t0.elapsed() < until {
        let reply = c.call(&info).await?;
        let running = String::from_utf8_lossy(&reply).contains("rdb_bgsave_in_progress:1");
        if running != was {
            events.push((
                at(t0),
                if running { "started" } else { "ended" }.to_string(),
            ));
            was = running;
        }
        let t = t0.elapsed().as_secs_f64() - o.snap_after;
        let on = t >= 0.0 && (o.period <= 0.0 || ((t / o.period) as u64).is_multiple_of(2));
        if !running && on {
            events.push((at(t0), "bgsave".to_string()));
            c.call(&bgsave).await?;
        }
        tokio::time::sleep(Duration::from_millis(o.poll_ms)).await;
    }
    Ok(events)
}

fn pct(v: &mut [u32], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    f64::from(v[i]) / 1000.0
}

async fn run(o: Arc<Opts>) -> std::io::Result<()> {
    let wall0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let t0 = Instant::now();
    let until = Duration::from_secs_f64(o.seconds);
    let ctl = tokio::spawn(control(o.clone(), t0, until));
    let mut ws = Vec::new();
    for i in 0..o.clients {
        ws.push(tokio::spawn(worker(o.port, i + 1, o.keys, t0, until)));
    }
    let mut samples = Vec::new();
    for w in ws {
        samples.extend(w.await.map_err(std::io::Error::other)??);
    }
    let events = ctl.await.map_err(std::io::Error::other)??;
    samples.sort_unstable();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&o.out)?);
    writeln!(f, "t0 {wall0}")?;
    for (t, e) in &events {
        writeln!(f, "e {t} {e}")?;
    }
    for (s, l) in &samples {
        writeln!(f, "r {s} {l}")?;
    }
    f.flush()?;
    // Steady: before the first start; during: between a start and its end.
    let mut spans = Vec::new();
    let mut open = None;
    for (t, e) in &events {
        match e.as_str() {
            "started" => open = Some(*t),
            "ended" => {
                if let Some(s) = open.take() {
                    spans.push((s, *t));
                }
            }
            _ => {}
        }
    }
    let warm = 1_000_000; // skip the first second
    let mut steady: Vec<u32> = Vec::new();
    let mut during: Vec<u32> = Vec::new();
    let (mut n_steady, mut n_during) = (0u64, 0u64);
    for (s, l) in &samples {
        if *s < warm {
            continue;
        }
        if spans.iter().any(|(a, b)| s >= a && s <= b) {
            during.push(*l);
            n_during += 1;
        } else if open.is_none_or(|o| *s < o) {
            steady.push(*l);
            n_steady += 1;
        }
    }
    let span_s = |v: &[(u32, u32)]| v.iter().map(|(a, b)| f64::from(b - a) / 1e6).sum::<f64>();
    let end = open.unwrap_or(until.as_micros() as u32);
    let steady_s = f64::from(end.saturating_sub(warm)) / 1e6 - span_s(&spans);
    for (name, v, n, secs) in [
        ("steady", &mut steady, n_steady, steady_s),
        ("during", &mut during, n_during, span_s(&spans)),
    ] {
        let p50 = pct(v, 0.5);
        let p99 = pct(v, 0.99);
        let max = pct(v, 1.0);
        println!(
            "{name}: {n} requests in {secs:.2} s = {:.0} rps, p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms",
            n as f64 / secs.max(1e-9)
        );
    }
    println!("snapshots completed: {}", spans.len());
    Ok(())
}

/// `--walk`: the snapshot walk's cost under the lock, in process, with no load.
fn walk_bench(o: &Opts) -> Result<(), String> {
    use strata::cmd::State;
    use strata::config::Config;
    use strata::db::{Entry, Value};
    use strata::persist::io::{RealFs, Vfs};
    use strata::persist::{Log, LogOptions};
    use strata::server::snapshot::Job;

    let dir = std::env::temp_dir().join(format!("snaptrace-walk-{}", std::process::id()));
    let vfs: Arc<dyn Vfs> = Arc::new(RealFs);
    let (log, _) = Log::open(vfs.clone(), LogOptions::new(&dir)).map_err(|e| e.to_string())?;
    let now = strata::clock::now_ms();
    let mut st = State::new(Config::default(), now);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let t = Instant::now();
    for round in 0..2 {
        for i in 0..o.walk {
            // The second pass overwrites about half the keys, as a SET load would.
            if round == 1 && next() % 2 == 0 {
                continue;
            }
            let k = format!("key:{:012}", if round == 0 { i } else { next() % o.walk });
            let v = Value::Str(b"xxxxxxxxxxxxxxxx".to_vec().into());
            st.ks.dbs[0].insert(k.as_bytes(), Entry::new(v, now));
        }
    }
    println!(
        "{} keys loaded in {:.2} s",
        st.ks.dbs[0].len(),
        t.elapsed().as_secs_f64()
    );
    let slice = Duration::from_micros(o.slice_us);
    for round in 0..o.rounds {
        let mut job =
            Job::begin(&mut st, &log, &*vfs, &dir, round + 1, &[]).map_err(|e| e.to_string())?;
        if o.warm > 0 {
            job.set_warm_steps(o.warm as usize);
        }
        let mut spare = Vec::new();
        let mut held: Vec<u32> = Vec::new();
        let (mut keys, mut total) = (0u64, Duration::ZERO);
        loop {
            let t = Instant::now();
            let step = job
                .step(&mut st, Some(slice), true)
                .map_err(|e| e.to_string())?;
            let d = t.elapsed();
            total += d;
            held.push(d.as_nanos() as u32);
            let (bytes, items, whole) = job.take_items(std::mem::take(&mut spare));
            keys += items + whole.len() as u64;
            spare = bytes;
            if step.done {
                break;
            }
        }
        let n = held.len();
        println!(
            "walk {}: {n} slices, {:.0} keys/slice, {:.0} ns/key, {:.1} ms held; slice p50 {:.1} us, p99 {:.1} us, max {:.1} us",
            round + 1,
            keys as f64 / n as f64,
            total.as_nanos() as f64 / keys.max(1) as f64,
            total.as_secs_f64() * 1e3,
            pct(&mut held, 0.5),
            pct(&mut held, 0.99),
            pct(&mut held, 1.0),
        );
        job.abandon(&mut st);
    }
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() {
    let o = match parse() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("snaptrace: {e}");
            std::process::exit(2);
        }
    };
    if o.walk > 0 {
        if let Err(e) = walk_bench(&o) {
            eprintln!("snaptrace: {e}");
            std::process::exit(1);
        }
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snaptrace: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(o)) {
        eprintln!("snaptrace: {e}");
        std::process::exit(1);
    }
}
